/**
 * The traffic chart's geometry (pure): from the status history of cumulative byte counters to
 * SVG path data and axis ticks. The page draws exactly what trafficChart returns.
 *
 * Each pair of consecutive samples gives one interval with an average speed per direction
 * (upload = bytes sent, download = bytes received, as everywhere on the host). Intervals are drawn
 * as steps: a flat line over the interval at its average, which is what a sample once a minute can
 * honestly say. Fewer than two samples (a host that just started) is an empty chart.
 *
 * These functions also run in the browser: page.ts inlines their source text (CHART_FUNCTIONS),
 * so each uses only its arguments, built-ins and the other functions of CHART_FUNCTIONS.
 */
import type { TrafficSample } from '../status-file.js'

export interface ChartBox {
  width: number
  height: number
  /** Room around the plot for the axis labels. */
  left: number
  right: number
  top: number
  bottom: number
}

export interface TrafficInterval {
  from: number
  to: number
  uploadBps: number
  downloadBps: number
}

export interface RateScale {
  /** The top of the axis, bytes per second (a whole number of steps). */
  max: number
  step: number
  /** Labels for 0, step, 2·step … max. */
  labels: string[]
}

export interface TrafficChart {
  /** Fewer than two samples, or no time between them: nothing to draw but the frame. */
  empty: boolean
  /** SVG path data: the step lines, and the same closed down to the x axis for a fill. */
  upload: string
  download: string
  uploadArea: string
  downloadArea: string
  xTicks: Array<{ x: number; label: string }>
  yTicks: Array<{ y: number; label: string }>
  /** The plot area inside the box. */
  plot: { x: number; y: number; width: number; height: number }
  /** The highest interval average per direction, bytes per second. */
  peakUploadBps: number
  peakDownloadBps: number
}

/** Average speeds between consecutive samples; a counter that went down counts as 0. */
export function trafficIntervals(history: readonly TrafficSample[]): TrafficInterval[] {
  const out: TrafficInterval[] = []
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1]!
    const b = history[i]!
    const secs = (b.at - a.at) / 1000
    if (!(secs > 0)) continue
    out.push({
      from: a.at,
      to: b.at,
      uploadBps: Math.max(0, (b.bytesOut - a.bytesOut) / secs),
      downloadBps: Math.max(0, (b.bytesIn - a.bytesIn) / secs),
    })
  }
  return out
}

/**
 * A speed axis from 0 with 3 to 5 round steps in binary units (0 … 750 KiB/s), at least 1 KiB/s
 * high so an idle host's flat line sits on a readable axis.
 */
export function rateScale(maxBps: number): RateScale {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  const top = Math.max(Number.isFinite(maxBps) ? maxBps : 0, 1024)
  const i = Math.min(units.length - 1, Math.floor(Math.log2(top) / 10))
  const unit = 1024 ** i
  const raw = top / 4 / unit
  const pow = 10 ** Math.floor(Math.log10(raw))
  const m = raw / pow
  const step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * pow * unit
  const count = Math.max(1, Math.ceil(top / step - 1e-9))
  const labels: string[] = []
  for (let k = 0; k <= count; k++) labels.push(k === 0 ? '0' : `${Number(((k * step) / unit).toFixed(2))} ${units[i]}/s`)
  return { max: count * step, step, labels }
}

/** A round time step that puts at most `maxTicks` ticks on `spanMs`. */
export function timeStep(spanMs: number, maxTicks: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000)
  for (const s of steps) if (spanMs / s <= maxTicks) return s
  return steps[steps.length - 1]!
}

/** `HH:MM` (or `HH:MM:SS`) of `at` in the zone `tzOffsetMs` ahead of UTC. */
export function clockLabel(at: number, tzOffsetMs: number, seconds: boolean): string {
  return new Date(at + tzOffsetMs).toISOString().slice(11, seconds ? 19 : 16)
}

/** The chart for `history` in `box`; time labels in the zone `tzOffsetMs` ahead of UTC. */
export function trafficChart(history: readonly TrafficSample[], box: ChartBox, tzOffsetMs: number): TrafficChart {
  const plot = { x: box.left, y: box.top, width: Math.max(1, box.width - box.left - box.right), height: Math.max(1, box.height - box.top - box.bottom) }
  const intervals = trafficIntervals(history)
  const peakUploadBps = intervals.reduce((m, v) => Math.max(m, v.uploadBps), 0)
  const peakDownloadBps = intervals.reduce((m, v) => Math.max(m, v.downloadBps), 0)
  const scale = rateScale(Math.max(peakUploadBps, peakDownloadBps))
  const round = (v: number): number => Math.round(v * 10) / 10
  const base = plot.y + plot.height
  const yOf = (bps: number): number => round(base - (Math.min(bps, scale.max) / scale.max) * plot.height)
  const yTicks = scale.labels.map((label, k) => ({ y: yOf(k * scale.step), label }))
  if (intervals.length === 0) {
    return { empty: true, upload: '', download: '', uploadArea: '', downloadArea: '', xTicks: [], yTicks, plot, peakUploadBps, peakDownloadBps }
  }

  const from = intervals[0]!.from
  const to = intervals[intervals.length - 1]!.to
  const xOf = (at: number): number => round(plot.x + ((at - from) / (to - from)) * plot.width)
  const step = timeStep(to - from, Math.max(2, Math.floor(plot.width / 90)))
  const xTicks: TrafficChart['xTicks'] = []
  for (let at = Math.ceil((from + tzOffsetMs) / step) * step - tzOffsetMs; at <= to; at += step) {
    xTicks.push({ x: xOf(at), label: clockLabel(at, tzOffsetMs, step < 60_000) })
  }

  // Intervals come from consecutive samples, so each starts where the one before ended: one run.
  const line = (pick: (v: TrafficInterval) => number): string =>
    intervals.map((v, k) => `${k === 0 ? `M${xOf(v.from)} ${yOf(pick(v))}` : `V${yOf(pick(v))}`}H${xOf(v.to)}`).join('')
  const area = (d: string): string => `${d}V${round(base)}H${xOf(from)}Z`
  const upload = line((v) => v.uploadBps)
  const download = line((v) => v.downloadBps)
  return { empty: false, upload, download, uploadArea: area(upload), downloadArea: area(download), xTicks, yTicks, plot, peakUploadBps, peakDownloadBps }
}

/** What page.ts inlines into the browser, by name. */
export const CHART_FUNCTIONS = { trafficIntervals, rateScale, timeStep, clockLabel, trafficChart }

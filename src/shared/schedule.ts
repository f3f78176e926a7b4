/**
 * A host's online hours: comma-separated UTC ranges "HH:MM-HH:MM" (a range may wrap midnight,
 * "22:00-06:00"; "00:00-24:00" is all day). Both the host (it refuses transfers outside its hours)
 * and the bridge (placement, reads and repair skip it then) read the same string, so they agree.
 */
import { xerr } from './errors.js'

export interface Range {
  /** Minutes since 00:00 UTC, start inclusive, end exclusive; end may be 1440. */
  from: number
  to: number
}

const RANGE_RE = /^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/

export function parseSchedule(text: string): Range[] {
  const parts = text.split(',').map((p) => p.trim())
  if (parts.length === 0 || parts.length > 24) throw xerr('XC_USAGE', 'schedule: 1 to 24 ranges "HH:MM-HH:MM" (UTC), comma-separated')
  return parts.map((p) => {
    const m = RANGE_RE.exec(p)
    if (!m) throw xerr('XC_USAGE', `schedule: "${p}" is not HH:MM-HH:MM (UTC)`)
    const from = Number(m[1]) * 60 + Number(m[2])
    const to = Number(m[3]) * 60 + Number(m[4])
    if (from > 1440 || to > 1440 || from === to) throw xerr('XC_USAGE', `schedule: "${p}" is not a valid range`)
    return { from, to }
  })
}

/** Whether `at` (Unix ms) falls inside the schedule; no schedule means always. */
export function withinSchedule(schedule: string | null | undefined, at: number): boolean {
  if (!schedule) return true
  let ranges: Range[]
  try {
    ranges = parseSchedule(schedule)
  } catch {
    return true // a schedule that does not parse never takes a host offline
  }
  const d = new Date(at)
  const minute = d.getUTCHours() * 60 + d.getUTCMinutes()
  return ranges.some((r) => (r.from < r.to ? minute >= r.from && minute < r.to : minute >= r.from || minute < r.to))
}

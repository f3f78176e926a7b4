/**
 * The host's local web dashboard. Pure parts first (the address rule, the Host-header check, the
 * chart geometry, the bridge cache, the page's CSP and inlined code), then a real `xcore serve`
 * with traffic, its dashboard opened in headless Chromium: the figures on the page are the ones
 * `xcore status` prints, the chart draws both series, foreign Host headers get a 403, and a
 * screenshot is written to test-output/dashboard/. Finally the CLI: a non-loopback --dashboard is a usage
 * error, and --dashboard off serves none.
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, stat } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import { chromium, type Browser } from 'playwright-core'
import { allowedHosts, dashboardUrlOf, hostAllowed, parseDashboardAddress } from '../../src/host/dashboard/address.js'
import { bridgeCache, cachePlan } from '../../src/host/dashboard/bridge-cache.js'
import { CHART_FUNCTIONS, clockLabel, rateScale, timeStep, trafficChart, trafficIntervals, type ChartBox } from '../../src/host/dashboard/chart.js'
import { DASHBOARD_PAGE, inlineFunctions } from '../../src/host/dashboard/page.js'
import type { HostConfig } from '../../src/host/config.js'
import type { TrafficSample } from '../../src/host/status-file.js'
import { FIGURE_FUNCTIONS, statusFigures } from '../../src/host/status-text.js'
import type { BridgeAnswer, HostStatus } from '../../src/host/status.js'
import { startFakeBridge } from './helpers/fake-bridge.js'
import { getShard, initHostDir, putShard, runXcore, serveHost, sha256, waitFor } from './helpers/host-process.js'

const MiB = 1024 * 1024
const BOX: ChartBox = { width: 760, height: 260, left: 78, right: 16, top: 12, bottom: 28 }

t.test('the dashboard listens only on loopback', async (t) => {
  t.same(parseDashboardAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 })
  t.same(parseDashboardAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 })
  t.same(parseDashboardAddress('localhost:7000'), { host: '127.0.0.1', port: 7000 }, 'localhost binds one address')
  t.same(parseDashboardAddress('[::1]:0'), { host: '::1', port: 0 })
  t.equal(parseDashboardAddress('off'), null)
  t.equal(parseDashboardAddress('OFF'), null)
  for (const bad of ['0.0.0.0:0', '[::]:0', '192.168.1.20:8080', 'example.com:80', '10.0.0.1:1', 'localhost', '127.0.0.1:70000', '']) {
    t.throws(() => parseDashboardAddress(bad), { code: 'XC_USAGE' }, bad)
  }
  t.equal(dashboardUrlOf('127.0.0.1', 4321), 'http://127.0.0.1:4321')
  t.equal(dashboardUrlOf('::1', 4321), 'http://[::1]:4321')
})

t.test('only requests naming this dashboard are answered (DNS rebinding)', async (t) => {
  const v4 = allowedHosts('127.0.0.1', 4321)
  for (const ok of ['127.0.0.1:4321', 'localhost:4321', 'LOCALHOST:4321', ' localhost:4321 ']) t.ok(hostAllowed(ok, v4), ok)
  for (const bad of [undefined, '', '127.0.0.1', 'localhost', '127.0.0.1:4322', 'evil.example:4321', 'evil.example', '127.0.0.1.evil.example:4321', '[::1]:4321', 'localhost:4321.evil', '0.0.0.0:4321']) {
    t.notOk(hostAllowed(bad, v4), String(bad))
  }
  const v6 = allowedHosts('::1', 80)
  t.ok(hostAllowed('[::1]:80', v6))
  t.ok(hostAllowed('localhost:80', v6))
  t.notOk(hostAllowed('127.0.0.1:80', v6), 'not the address it listens on')
})

const sample = (sec: number, bytesIn: number, bytesOut: number): TrafficSample => ({ at: Date.UTC(2025, 0, 1, 12) + sec * 1000, bytesIn, bytesOut })

/** The x and y coordinates in path data made of M, H, V and Z commands. */
function coordinates(d: string): { xs: number[]; ys: number[] } {
  const xs: number[] = []
  const ys: number[] = []
  for (const [, cmd, args] of d.matchAll(/([MHVZ])([^MHVZ]*)/g)) {
    const n = args!.trim().split(/\s+/).filter(Boolean).map(Number)
    if (cmd === 'M') xs.push(n[0]!), ys.push(n[1]!)
    else if (cmd === 'H') xs.push(n[0]!)
    else if (cmd === 'V') ys.push(n[0]!)
  }
  return { xs, ys }
}

t.test('chart: speeds per interval, from cumulative counters', async (t) => {
  t.same(trafficIntervals([]), [])
  t.same(trafficIntervals([sample(0, 0, 0)]), [], 'one sample: no interval')
  t.same(trafficIntervals([sample(0, 0, 0), sample(2, 4000, 1000)]), [{ from: sample(0, 0, 0).at, to: sample(2, 0, 0).at, uploadBps: 500, downloadBps: 2000 }], 'upload = sent, download = received')
  t.same(trafficIntervals([sample(0, 10, 10), sample(0, 20, 20), sample(1, 0, 0)]).map((v) => [v.uploadBps, v.downloadBps]), [[0, 0]], 'no time: skipped; a reset is 0, not negative')
})

t.test('chart: round axis steps in binary units', async (t) => {
  t.same(rateScale(0).labels, ['0', '0.25 KiB/s', '0.5 KiB/s', '0.75 KiB/s', '1 KiB/s'], 'idle: a 1 KiB/s axis')
  t.same(rateScale(Number.NaN).max, 1024)
  const s = rateScale(102.4 * 1024)
  t.same(s.labels, ['0', '50 KiB/s', '100 KiB/s', '150 KiB/s'])
  t.equal(s.max, 150 * 1024)
  t.same(rateScale(1.1 * MiB).labels, ['0', '0.5 MiB/s', '1 MiB/s', '1.5 MiB/s'])
  t.same(rateScale(80 * MiB).labels, ['0', '20 MiB/s', '40 MiB/s', '60 MiB/s', '80 MiB/s'])
  for (const max of [1, 1000, 5000, 123_456, 9.9 * MiB, 3.2 * 1024 * MiB]) {
    const r = rateScale(max)
    t.ok(r.max >= max && r.labels.length >= 3 && r.labels.length <= 6, `${max}: ${r.labels.join(', ')}`)
  }
  t.equal(timeStep(10_000, 6), 2000)
  t.equal(timeStep(60 * 60_000, 8), 10 * 60_000)
  t.equal(timeStep(24 * 3600_000, 7), 6 * 3600_000)
  t.equal(clockLabel(Date.UTC(2025, 0, 1, 12, 34, 56), 0, false), '12:34')
  t.equal(clockLabel(Date.UTC(2025, 0, 1, 12, 34, 56), 5.5 * 3600_000, true), '18:04:56', 'in the viewer\'s zone')
})

t.test('chart: geometry for an empty, a fresh and a day-old history', async (t) => {
  for (const history of [[], [sample(0, 0, 0)]]) {
    const c = trafficChart(history, BOX, 0)
    t.equal(c.empty, true, `${history.length} sample(s): empty`)
    t.equal(c.upload, '')
    t.equal(c.download, '')
    t.same(c.xTicks, [])
    t.equal(c.yTicks.length, 5, 'the axis is still drawn')
  }

  const plotBottom = BOX.height - BOX.bottom
  const c = trafficChart([sample(0, 0, 0), sample(60, 6 * MiB, 3 * MiB)], BOX, 0)
  t.equal(c.empty, false)
  t.same(c.plot, { x: 78, y: 12, width: 666, height: 220 })
  const yDown = Math.round((plotBottom - (102.4 / 150) * 220) * 10) / 10
  const yUp = Math.round((plotBottom - (51.2 / 150) * 220) * 10) / 10
  t.equal(c.download, `M78 ${yDown}H744`, 'one interval: a flat line at its average')
  t.equal(c.upload, `M78 ${yUp}H744`)
  t.equal(c.uploadArea, `M78 ${yUp}H744V${plotBottom}H78Z`)
  t.equal(c.peakDownloadBps, 6 * MiB / 60)
  t.same(c.yTicks.map((y) => y.label), ['0', '50 KiB/s', '100 KiB/s', '150 KiB/s'])
  t.same(c.yTicks.map((y) => y.y), [232, 158.7, 85.3, 12])
  t.same(c.xTicks.map((x) => x.label), ['12:00:00', '12:00:10', '12:00:20', '12:00:30', '12:00:40', '12:00:50', '12:01:00'], 'seconds on a short span')
  t.same(c.xTicks.map((x) => x.x), [78, 189, 300, 411, 522, 633, 744])

  // A day of per-minute samples with a burst: bounded ticks, everything inside the plot.
  const day: TrafficSample[] = []
  let bytesIn = 0
  let bytesOut = 0
  for (let m = 0; m <= 1440; m++) {
    bytesIn += m % 100 === 0 ? 600 * MiB : 60 * 1024
    bytesOut += 30 * 1024
    day.push(sample(m * 60, bytesIn, bytesOut))
  }
  const d = trafficChart(day, BOX, 5.5 * 3600_000)
  t.ok(d.xTicks.length >= 2 && d.xTicks.length <= Math.floor(666 / 90), `${d.xTicks.length} time ticks`)
  t.ok(d.xTicks.every((x) => /^\d\d:(00|30)$/.test(x.label)), `ticks on the viewer's round hours: ${d.xTicks.map((x) => x.label).join(' ')}`)
  for (const path of [d.upload, d.download, d.uploadArea, d.downloadArea]) {
    const { xs, ys } = coordinates(path)
    t.ok(xs.length > 1000 && xs.every((x) => x >= 78 && x <= 744) && ys.every((y) => y >= 12 && y <= 232), 'inside the plot')
  }
  t.equal((d.download.match(/H/g) ?? []).length, 1440, 'one step per interval')
  t.same(d.yTicks.map((y) => y.label), ['0', '2.5 MiB/s', '5 MiB/s', '7.5 MiB/s', '10 MiB/s'], 'the scale fits the burst (600 MiB in a minute = 10 MiB/s)')
  t.equal(d.peakDownloadBps, 10 * MiB)
})

t.test('the bridge is asked at most once per few seconds, however many pages poll', async (t) => {
  t.equal(cachePlan(null, 1000, 5000, 60_000), 'wait')
  t.equal(cachePlan(1000, 1000, 5000, 60_000), 'use')
  t.equal(cachePlan(1000, 5999, 5000, 60_000), 'use')
  t.equal(cachePlan(1000, 6000, 5000, 60_000), 'use-and-refresh')
  t.equal(cachePlan(1000, 61_000, 5000, 60_000), 'wait', 'too old to show')
  t.equal(cachePlan(5000, 1000, 5000, 60_000), 'wait', 'clock went backwards')

  let now = 0
  const asked: string[] = []
  let release: (() => void) | null = null
  const answer = (n: number): BridgeAnswer => ({ self: null, error: { code: 'XC_UNAVAILABLE', message: `answer ${n}` } })
  const cached = bridgeCache({
    now: () => now,
    ask: async (config) => {
      asked.push(config.bridge)
      const n = asked.length
      await new Promise<void>((r) => (release = r))
      if (n === 4) throw new Error('boom')
      return answer(n)
    },
  })
  const config = (bridge: string) => ({ bridge }) as HostConfig
  const first = [cached(config('a')), cached(config('a')), cached(config('a'))]
  await new Promise((r) => setImmediate(r))
  t.equal(asked.length, 1, 'concurrent first polls share one query')
  release!()
  for (const p of first) t.same(await p, answer(1))

  now = 4000
  t.same(await cached(config('a')), answer(1), 'fresh: from the cache')
  t.equal(asked.length, 1)
  now = 7000
  t.same(await cached(config('a')), answer(1), 'stale: the old answer at once…')
  t.same(await cached(config('a')), answer(1))
  t.equal(asked.length, 2, '…and one refresh behind it')
  release!()
  await new Promise((r) => setImmediate(r))
  t.same(await cached(config('a')), answer(2))

  const other = cached(config('b'))
  await new Promise((r) => setImmediate(r))
  t.same(asked, ['a', 'a', 'b'], 'another bridge is asked, not answered from the old one')
  release!()
  t.same(await other, answer(3))

  now = 100_000
  const failing = cached(config('b'))
  await new Promise((r) => setImmediate(r))
  release!()
  t.match(await failing, { self: null, error: { code: 'XC_INTERNAL' } }, 'a throwing query is an error answer')
})

t.test('the page: self-contained, its CSP allows exactly its own script and style', async (t) => {
  const { html, csp, script, style } = DASHBOARD_PAGE
  t.ok(html.includes(`<script>${script}</script>`))
  t.ok(html.includes(`<style>${style}</style>`))
  const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`
  t.match(csp, `script-src ${hash(script)};`)
  t.match(csp, `style-src ${hash(style)};`)
  t.match(csp, /^default-src 'none';/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval|\*/)
  t.notMatch(html, /\b(src|href)="(?!data:)/, 'nothing loaded from anywhere')
  t.notMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no outside URL (but the SVG namespace)')

  // The inlined code is the tested code, and it runs with nothing but itself.
  const inlined = inlineFunctions(FIGURE_FUNCTIONS) + '\n' + inlineFunctions(CHART_FUNCTIONS)
  t.ok(script.includes(inlineFunctions(FIGURE_FUNCTIONS)) && script.includes(inlineFunctions(CHART_FUNCTIONS)))
  const sandbox = vm.runInNewContext(`${inlined}\n({ statusFigures, trafficChart })`, {}) as { statusFigures: typeof statusFigures; trafficChart: typeof trafficChart }
  const history = [sample(0, 0, 0), sample(60, 6 * MiB, 3 * MiB), sample(90, 7 * MiB, 3 * MiB)]
  const status = {
    hostId: 'h', url: 'https://127.0.0.1:1', dashboardUrl: 'http://127.0.0.1:2', bridgeUrl: 'http://b', region: 'default', capacity: 1e9, used: 3 * MiB, shards: 2, schedule: null,
    running: true, pid: 1, status: 'online', uptimeMs: 3_723_000, uploadBps: 1536, downloadBps: 0, bytesIn: 7 * MiB, bytesOut: 3 * MiB, history,
    bridge: { hostId: 'h', state: 'online', reputation: 0.5, approved: true, banned: false, shards: 2, storedBytes: 3 * MiB, auditsPassed: 1, auditsFailed: 0, earnings: { currency: 'USD', week: 0.001234, month: 0, year: 2, allTime: 1234.5, storageGBHours: 1, egressGB: 1 } },
    bridgeError: null,
  } satisfies HostStatus
  const f = statusFigures(status)
  t.same(JSON.parse(JSON.stringify(sandbox.statusFigures(status))), f)
  t.match(f, { uptime: '1h 2m', upload: '1.5 KiB/s', download: '0 B/s', used: '3.0 MiB', usedPercent: '0.3%', shards: '2', earnings: { week: '0.001234 USD', month: '0.00 USD', year: '2.00 USD', allTime: '1234.50 USD' } })
  t.same(JSON.parse(JSON.stringify(sandbox.trafficChart(history, BOX, 3600_000))), trafficChart(history, BOX, 3600_000))
})

interface Got {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** A plain HTTP request that can send any Host header (fetch cannot). */
function get(url: string, path: string, o: { method?: string; host?: string } = {}): Promise<Got> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: o.method ?? 'GET', headers: { host: o.host ?? u.host }, agent: false }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('the dashboard in a browser shows what `xcore status` prints', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const host = await serveHost(t, await initHostDir(t, bridge.url), ['--heartbeat', '200ms'], 2)
  const m = /^dashboard (http:\/\/127\.0\.0\.1:(\d+))$/.exec(host.lines[1]!)
  t.ok(m, `second line: ${host.lines[1]}`)
  const url = m![1]!
  const port = Number(m![2])
  t.not(port, 0, 'an ephemeral port by default')
  t.equal(await readFile(join(host.dir, 'dashboard-url'), 'utf8'), url, 'DATA/dashboard-url')

  // Traffic both ways, and a history with at least one interval for the chart.
  const bytes = randomBytes(MiB)
  t.equal((await putShard(bridge, host, bytes)).status, 201)
  t.equal((await getShard(bridge, host, sha256(bytes))).status, 200)
  const readStatus = async () => JSON.parse(await readFile(join(host.dir, 'status.json'), 'utf8'))
  await waitFor('status.json with the traffic', async () => {
    const s = await readStatus()
    return s.bytesOut >= bytes.length && s.history.length >= 2
  }, 8000)

  await t.test('HTTP: local-only, read-only, strict headers', async (t) => {
    const page = await get(url, '/')
    t.equal(page.status, 200)
    t.match(page.headers['content-type'], /^text\/html; charset=utf-8$/)
    t.equal(page.headers['content-security-policy'], DASHBOARD_PAGE.csp)
    t.equal(page.headers['x-content-type-options'], 'nosniff')
    t.equal(page.headers['cache-control'], 'no-store')
    t.equal(page.headers['x-frame-options'], 'DENY')
    t.notOk(Object.keys(page.headers).some((h) => h.startsWith('access-control-')), 'no CORS headers')

    const api = await get(url, '/api/status', { host: `localhost:${port}` })
    t.equal(api.status, 200, 'localhost:PORT is this dashboard too')
    t.match(api.headers['content-type'], /^application\/json/)
    t.equal(api.headers['cache-control'], 'no-store')

    for (const foreign of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, 'evil.example', `127.0.0.1.nip.io:${port}`]) {
      const r = await get(url, '/api/status', { host: foreign })
      t.equal(r.status, 403, `Host ${foreign}`)
      t.match(JSON.parse(r.body), { error: { code: 'XC_FORBIDDEN' } })
      t.equal(r.headers['cache-control'], 'no-store')
    }
    const forbiddenPage = await get(url, '/', { host: `attacker.example:${port}` })
    t.equal(forbiddenPage.status, 403, 'the page too')
    t.notMatch(forbiddenPage.body, /X Core/)

    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await get(url, '/api/status', { method })
      t.equal(r.status, 405, method)
      t.equal(r.headers.allow, 'GET, HEAD')
      t.match(JSON.parse(r.body), { error: { code: 'XC_METHOD_NOT_ALLOWED' } })
    }
    const missing = await get(url, '/api/nothing')
    t.equal(missing.status, 404)
    t.match(JSON.parse(missing.body), { error: { code: 'XC_ROUTE_NOT_FOUND' } })
    const head = await get(url, '/', { method: 'HEAD' })
    t.equal(head.status, 200)
    t.equal(head.body, '')

    const before = bridge.selfCalls.length
    const many = await Promise.all(Array.from({ length: 10 }, () => get(url, '/api/status')))
    t.ok(many.every((r) => r.status === 200))
    t.ok(bridge.selfCalls.length - before <= 1, `10 polls, ${bridge.selfCalls.length - before} bridge queries`)
  })

  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const problems: string[] = []
  const requests: string[] = []
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`)
  })
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('request', (req) => requests.push(req.url()))

  await page.goto(url)
  await page.waitForSelector('body[data-state="ready"]', { timeout: 10_000 })
  await page.waitForSelector('svg#chart path[data-series="upload"]', { state: 'attached', timeout: 10_000 })
  const shown = await page.$$eval('[data-field]', (nodes) => {
    const out: Record<string, string> = {}
    for (const n of nodes) out[n.getAttribute('data-field')!] ??= (n.textContent ?? '').trim()
    return out
  })
  const [json, text] = await Promise.all([runXcore(['status', '--data', host.dir, '--json']), runXcore(['status', '--data', host.dir])])
  t.equal(json.code, 0, json.stderr)
  t.equal(text.code, 0, text.stderr)
  const cli = JSON.parse(json.stdout) as HostStatus
  const want = statusFigures(cli)

  t.equal(cli.dashboardUrl, url, '`xcore status --json` names the dashboard')
  t.match(text.stdout, new RegExp(`^dashboard ${url.replace(/\./g, '\\.')}$`, 'm'), '`xcore status` too')
  t.ok(cli.history.length >= 2, 'the status carries the traffic history')

  // Exactly what the CLI prints: state, capacity, shards, earnings, totals.
  t.equal(shown.status, 'online')
  t.equal(shown.status, want.status)
  t.equal(shown.shards, '1')
  t.equal(shown.shards, want.shards)
  t.equal(shown.used, '1.0 MiB')
  t.equal(shown.used, want.used)
  t.equal(shown.capacity, want.capacity)
  t.equal(shown.usedPercent, want.usedPercent)
  t.match(text.stdout, new RegExp(`^used\\s+${shown.used} \\(${shown.usedPercent}\\)$`, 'm'))
  t.match(text.stdout, new RegExp(`^shards\\s+${shown.shards}$`, 'm'))
  t.match(text.stdout, new RegExp(`^status\\s+${shown.status}$`, 'm'))
  t.same(
    { week: shown['earnings-week'], month: shown['earnings-month'], year: shown['earnings-year'], allTime: shown['earnings-allTime'] },
    { week: '0.25 USD', month: '1.50 USD', year: '9.75 USD', allTime: '12.50 USD' },
  )
  t.same(want.earnings, { week: shown['earnings-week'], month: shown['earnings-month'], year: shown['earnings-year'], allTime: shown['earnings-allTime'] })
  t.match(text.stdout, `earnings  week ${shown['earnings-week']} · month ${shown['earnings-month']} · year ${shown['earnings-year']} · all time ${shown['earnings-allTime']}`)
  t.equal(shown.trust, want.trust)
  t.equal(shown.sent, `${want.sent} sent since start`)
  t.equal(shown.received, `${want.received} received since start`)
  t.equal(shown.hostId, cli.hostId)

  // Figures that move between two reads: the same format, and present.
  t.match(shown.uptime, /^(\d+d \d+h \d+m|\d+h \d+m|\d+m \d+s|\d+s)$/)
  t.match(want.uptime, /^(\d+m \d+s|\d+s)$/)
  for (const k of ['upload', 'download'] as const) {
    t.match(shown[k], /^\d+(\.\d)? (B|KiB|MiB|GiB|TiB)\/s$/, `${k} speed shown`)
    t.match(text.stdout, new RegExp(`^${k}\\s+\\d+(\\.\\d)? (B|KiB|MiB|GiB|TiB)/s`, 'm'))
  }

  // The chart: both series drawn, with axes.
  const chart = await page.$eval('svg#chart', (svg) => ({
    empty: svg.getAttribute('data-empty'),
    upload: svg.querySelector('path[data-series="upload"]')?.getAttribute('d') ?? '',
    download: svg.querySelector('path[data-series="download"]')?.getAttribute('d') ?? '',
    labels: [...svg.querySelectorAll('text')].map((n) => n.textContent ?? ''),
    width: svg.getBoundingClientRect().width,
  }))
  t.equal(chart.empty, 'false')
  t.match(chart.upload, /^M[\d.]+ [\d.]+H[\d.]+/, 'upload series')
  t.match(chart.download, /^M[\d.]+ [\d.]+H[\d.]+/, 'download series')
  t.ok(chart.labels.includes('0') && chart.labels.some((l) => /\/s$/.test(l)), `speed axis: ${chart.labels.join(' | ')}`)
  t.ok(chart.labels.some((l) => /^\d\d:\d\d(:\d\d)?$/.test(l)), 'time axis')
  t.ok(chart.width > 600, 'the chart spans the page')

  // The test's output folder, kept after the run (tap removes t.testdir() when a test ends):
  // test-output/dashboard/ in the checkout, or $XCLOUD_TEST_OUTPUT/dashboard.
  const outDir = join(process.env.XCLOUD_TEST_OUTPUT ?? fileURLToPath(new URL('../../../test-output/', import.meta.url)), 'dashboard')
  await mkdir(outDir, { recursive: true })
  const shot = join(outDir, 'dashboard.png')
  await page.screenshot({ path: shot, fullPage: true })
  const png = await readFile(shot)
  t.ok(png.length > 10_000, `screenshot ${shot} (${png.length} bytes)`)
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG')
  t.equal(png.readUInt32BE(16), 1280, 'PNG width')

  t.same(problems, [], 'no script errors, no CSP violations')
  t.ok(requests.every((r) => r.startsWith(url + '/')), `only this dashboard was requested: ${[...new Set(requests)].join(' ')}`)

  // A bridge that is away costs only the earnings; a fresh host has no chart yet. (The status is
  // rewritten on its way to the page: waiting out the real bridge cache would take seconds.)
  await page.route('**/api/status', async (route) => {
    const response = await route.fetch()
    const s = (await response.json()) as HostStatus
    await route.fulfill({ response, json: { ...s, bridge: null, bridgeError: { code: 'XC_TIMEOUT', message: 'timed out' }, history: s.history.slice(0, 1) } })
  })
  await page.reload()
  await page.waitForSelector('body[data-state="ready"]')
  t.equal(await page.textContent('#bridge-problem'), 'Earnings unavailable: bridge unreachable (XC_TIMEOUT). Local figures are current.')
  t.equal(await page.textContent('[data-field="earnings-week"]'), '—')
  t.equal(await page.textContent('[data-field="shards"]'), '1', 'local figures still shown')
  t.equal(await page.getAttribute('svg#chart', 'data-empty'), 'true', 'one sample: an empty chart')
  t.match(await page.textContent('svg#chart'), /Waiting for traffic samples/)
  t.equal(await page.locator('svg#chart path').count(), 0)
  await page.screenshot({ path: join(outDir, 'dashboard-bridge-away.png') })
  t.ok((await stat(shot)).size > 10_000, 'the first screenshot is still there')
  await page.unroute('**/api/status')

  // Closing the host closes the dashboard; the page says so.
  host.proc.kill('SIGTERM')
  t.equal(await host.exited, 0)
  await t.rejects(stat(join(host.dir, 'dashboard-url')), 'DATA/dashboard-url removed at a clean stop')
  await t.rejects(get(url, '/'), { code: 'ECONNREFUSED' }, 'nothing listens any more')
  await page.waitForSelector('body[data-state="error"]', { timeout: 8000 })
  t.match(await page.textContent('#problem'), /Cannot read this host's status/)
  await browser.close()
})

t.test('the CLI: a non-loopback dashboard is a usage error; off serves none', async (t) => {
  const bridge = await startFakeBridge()
  t.teardown(() => bridge.close())
  const inited = await initHostDir(t, bridge.url)
  for (const address of ['0.0.0.0:0', '192.168.1.20:8080', 'nonsense']) {
    const r = await runXcore(['serve', '--data', inited.dir, '--dashboard', address])
    t.equal(r.code, 2, `--dashboard ${address}: exit 2`)
    t.match(r.stderr, /^error XC_USAGE: /, r.stderr.trim())
    t.equal(r.stdout, '', 'nothing started')
  }
  t.match((await runXcore(['serve', '--help'])).stdout, /--dashboard <host:port\|off>/)

  // A dashboard port that is taken stops the host before it says it listens, and cleans up.
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => taken.close())
  const takenPort = (taken.address() as net.AddressInfo).port
  const busy = await runXcore(['serve', '--data', inited.dir, '--dashboard', `127.0.0.1:${takenPort}`])
  t.equal(busy.code, 1)
  t.match(busy.stderr, `error XC_LOCAL_IO: cannot serve the dashboard on 127.0.0.1:${takenPort}: address already in use`)
  t.equal(busy.stdout, '')
  for (const file of ['url', 'dashboard-url', 'status.json']) await t.rejects(stat(join(inited.dir, file)), `no DATA/${file} left behind`)

  const host = await serveHost(t, inited, ['--dashboard', 'off'], 2)
  t.equal(host.lines[1], 'dashboard off')
  await t.rejects(stat(join(host.dir, 'dashboard-url')), 'no DATA/dashboard-url')
  const j = await runXcore(['status', '--data', host.dir, '--json'])
  t.match(JSON.parse(j.stdout), { running: true, dashboardUrl: null })
  t.match((await runXcore(['status', '--data', host.dir])).stdout, /^dashboard off$/m)
  host.proc.kill('SIGTERM')
  t.equal(await host.exited, 0)
  t.match((await runXcore(['status', '--data', host.dir])).stdout, /^dashboard \(not running\)$/m)
})

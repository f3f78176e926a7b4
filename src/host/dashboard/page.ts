/**
 * The dashboard page: one self-contained HTML document (inline CSS and script, no fonts, images or
 * anything else fetched from anywhere), and the Content-Security-Policy that allows exactly that
 * inline script and style (by hash) plus requests to this origin.
 *
 * The script polls GET /api/status (the `xcore status --json` object) and renders it. The figures
 * are formatted by statusFigures, the function `xcore status` prints, and the chart by
 * trafficChart: their source is inlined here, so the page cannot drift from the CLI and the unit
 * tests test the code the browser runs.
 */
import { createHash } from 'node:crypto'
import { FIGURE_FUNCTIONS } from '../status-text.js'
import { CHART_FUNCTIONS } from './chart.js'

/** How often the page asks for the status; status.json itself changes every 2 s. */
export const POLL_MS = 3000

/** `const name = <source>;` for each function (declarations become named function expressions). */
export function inlineFunctions(fns: Record<string, (...args: never[]) => unknown>): string {
  return Object.entries(fns)
    .map(([name, fn]) => `const ${name} = ${fn.toString()};`)
    .join('\n')
}

const STYLE = `
:root { color-scheme: light dark; --bg: #f4f6f9; --card: #fff; --text: #17202c; --muted: #5d6b7e; --line: #e2e7ee;
  --grid: #e8ecf2; --up: #e0782c; --down: #2f6fde; --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --idle: #64748b; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f141b; --card: #18202b; --text: #e6ebf2; --muted: #97a3b4; --line: #283241; --grid: #243040;
    --up: #f59a4f; --down: #5c95f5; --ok: #4ade80; --warn: #fbbf24; --bad: #f87171; --idle: #94a3b8; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 8px 16px;
  padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--card); }
.brand { display: flex; align-items: baseline; gap: 12px; min-width: 0; }
h1 { font-size: 20px; margin: 0; letter-spacing: .2px; }
h2 { font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); margin: 0 0 12px; }
.muted { color: var(--muted); }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
.pill { display: inline-block; padding: 3px 10px; border-radius: 999px; font-weight: 600; color: #fff; background: var(--idle); }
body[data-status="online"] .pill { background: var(--ok); }
body[data-status="suspended"] .pill { background: var(--bad); }
body[data-status="exiting"] .pill, body[data-status="exited"] .pill { background: var(--warn); }
.status-line { display: flex; align-items: center; gap: 12px; }
.banner { margin: 16px 24px 0; padding: 10px 14px; border-radius: 8px; border: 1px solid var(--bad); color: var(--bad); background: var(--card); }
main { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; padding: 16px 24px; max-width: 1400px; }
@media (max-width: 960px) { main { grid-template-columns: minmax(0, 1fr); } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; min-width: 0; }
.wide { grid-column: 1 / -1; }
body[data-state="error"] main { opacity: .55; }
dl { margin: 0; display: grid; grid-template-columns: 1fr 1fr; gap: 14px 16px; }
dl > div { min-width: 0; }
dt { color: var(--muted); font-size: 12px; }
dd { margin: 2px 0 0; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
dd.sub { font-size: 12px; font-weight: 400; color: var(--muted); }
.note { margin: 12px 0 0; font-size: 12px; color: var(--muted); }
.note.problem { color: var(--bad); }
.bar { height: 8px; border-radius: 4px; background: var(--grid); overflow: hidden; margin-top: 8px; }
.bar > div { height: 100%; width: 0; background: var(--down); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: -4px 0 8px; font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 14px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 6px; }
.swatch.upload { background: repeating-linear-gradient(90deg, var(--up) 0 5px, transparent 5px 8px); }
.swatch.download { background: var(--down); }
svg { display: block; width: 100%; height: 260px; }
svg text { font-size: 11px; fill: var(--muted); font-variant-numeric: tabular-nums; }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
/* Dashed, so a download line under it still shows where the two are equal. */
svg .line.upload { stroke: var(--up); stroke-dasharray: 7 4; }
svg .line.download { stroke: var(--down); }
svg .area { stroke: none; opacity: .12; }
svg .area.upload { fill: var(--up); }
svg .area.download { fill: var(--down); }
svg .empty { font-size: 13px; }
footer { padding: 4px 24px 24px; font-size: 12px; color: var(--muted); }
footer span + span::before { content: " · "; }
`

/** The chart's frame; its width follows the element's (the page redraws on resize). */
const CHART_BOX = { width: 760, height: 260, left: 78, right: 16, top: 12, bottom: 28 }

const SCRIPT = `
'use strict';
${inlineFunctions(FIGURE_FUNCTIONS)}
${inlineFunctions(CHART_FUNCTIONS)}
const POLL_MS = ${POLL_MS};
const BOX = ${JSON.stringify(CHART_BOX)};
const SVG_NS = 'http://www.w3.org/2000/svg';

function setField(name, text) {
  for (const node of document.querySelectorAll('[data-field="' + name + '"]')) node.textContent = text;
}

function svgEl(name, attrs, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

let lastHistory = [];

function drawChart(history) {
  lastHistory = history;
  const svg = document.getElementById('chart');
  // Drawn at the element's own size, so labels keep their size and time ticks fit the width.
  const box = Object.assign({}, BOX, { width: Math.max(320, Math.round(svg.clientWidth || BOX.width)) });
  svg.setAttribute('viewBox', '0 0 ' + box.width + ' ' + box.height);
  const c = trafficChart(history, box, -new Date().getTimezoneOffset() * 60000);
  const p = c.plot;
  const nodes = [];
  for (const t of c.yTicks) {
    nodes.push(svgEl('line', { class: 'grid', x1: p.x, x2: p.x + p.width, y1: t.y, y2: t.y }));
    nodes.push(svgEl('text', { x: p.x - 8, y: t.y + 4, 'text-anchor': 'end' }, t.label));
  }
  for (const t of c.xTicks) {
    nodes.push(svgEl('line', { class: 'axis', x1: t.x, x2: t.x, y1: p.y + p.height, y2: p.y + p.height + 4 }));
    // Labels at the ends of the axis stay inside the frame.
    const anchor = t.x - p.x < 30 ? 'start' : p.x + p.width - t.x < 30 ? 'end' : 'middle';
    nodes.push(svgEl('text', { x: t.x, y: p.y + p.height + 18, 'text-anchor': anchor }, t.label));
  }
  nodes.push(svgEl('line', { class: 'axis', x1: p.x, x2: p.x + p.width, y1: p.y + p.height, y2: p.y + p.height }));
  nodes.push(svgEl('line', { class: 'axis', x1: p.x, x2: p.x, y1: p.y, y2: p.y + p.height }));
  if (c.empty) {
    nodes.push(svgEl('text', { class: 'empty', x: p.x + p.width / 2, y: p.y + p.height / 2, 'text-anchor': 'middle' },
      'Waiting for traffic samples: the chart starts a few seconds after the host does.'));
  } else {
    for (const series of ['download', 'upload']) {
      nodes.push(svgEl('path', { class: 'area ' + series, d: series === 'upload' ? c.uploadArea : c.downloadArea }));
    }
    for (const series of ['download', 'upload']) {
      const line = svgEl('path', { class: 'line ' + series, 'data-series': series, d: series === 'upload' ? c.upload : c.download });
      line.appendChild(svgEl('title', {}, series === 'upload' ? 'Upload (bytes sent)' : 'Download (bytes received)'));
      nodes.push(line);
    }
  }
  svg.replaceChildren(...nodes);
  svg.dataset.empty = String(c.empty);
  setField('peakUpload', c.empty ? '' : 'peak ' + formatRate(Math.round(c.peakUploadBps)));
  setField('peakDownload', c.empty ? '' : 'peak ' + formatRate(Math.round(c.peakDownloadBps)));
  const span = history.length > 1 ? history[history.length - 1].at - history[0].at : 0;
  setField('chartSpan', span > 0 ? 'last ' + formatDuration(span) + ' · per-minute averages' : '');
}

function render(s) {
  const f = statusFigures(s);
  document.body.dataset.status = s.status;
  document.title = 'X Core · ' + f.status;
  setField('status', f.status);
  setField('uptime', f.uptime === null ? '—' : f.uptime);
  setField('upload', f.upload);
  setField('download', f.download);
  setField('sent', f.sent + ' sent since start');
  setField('received', f.received + ' received since start');
  for (const k of ['week', 'month', 'year', 'allTime']) setField('earnings-' + k, f.earnings ? f.earnings[k] : '—');
  setField('trust', f.trust === null ? '—' : f.trust);
  const problem = document.getElementById('bridge-problem');
  problem.hidden = f.bridgeProblem === null;
  problem.textContent = f.bridgeProblem === null ? '' : 'Earnings unavailable: ' + f.bridgeProblem + '. Local figures are current.';
  setField('used', f.used);
  setField('capacity', f.capacity);
  setField('usedPercent', f.usedPercent === null ? '' : f.usedPercent);
  document.getElementById('used-percent').hidden = f.usedPercent === null;
  setField('shards', f.shards);
  // Any data at all shows as a sliver, not as an empty bar.
  const pct = s.capacity > 0 ? Math.min(100, (100 * s.used) / s.capacity) : 0;
  document.getElementById('used-bar').style.width = (s.used > 0 ? Math.max(pct, 0.75) : 0) + '%';
  setField('hostId', s.hostId);
  setField('bridgeUrl', s.bridgeUrl);
  setField('region', s.region);
  setField('hours', s.schedule ? s.schedule + ' UTC' : 'always online');
  drawChart(s.history);
}

let timer = null;
let busy = false;

async function refresh() {
  if (busy) return;
  busy = true;
  const banner = document.getElementById('problem');
  try {
    const res = await fetch('/api/status', { cache: 'no-store', signal: AbortSignal.timeout(15000) });
    const body = await res.json();
    if (!res.ok) throw new Error(body && body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + res.status);
    render(body);
    banner.hidden = true;
    document.body.dataset.state = 'ready';
    setField('updated', 'updated ' + clockLabel(Date.now(), -new Date().getTimezoneOffset() * 60000, true));
  } catch (err) {
    banner.hidden = false;
    banner.textContent = 'Cannot read this host\\'s status (' + (err && err.message ? err.message : String(err)) +
      '). Is xcore serve still running? Figures below may be out of date; retrying every ' + POLL_MS / 1000 + ' s.';
    document.body.dataset.state = 'error';
  } finally {
    busy = false;
  }
}

async function tick() {
  clearTimeout(timer);
  // A hidden tab does not poll; it catches up when shown again.
  if (!document.hidden) await refresh();
  // A tick that started while this one waited may have set a timer: keep one chain of polls.
  clearTimeout(timer);
  timer = setTimeout(tick, POLL_MS);
}

document.addEventListener('visibilitychange', () => { if (!document.hidden) void tick(); });
let resizing = 0;
window.addEventListener('resize', () => {
  cancelAnimationFrame(resizing);
  resizing = requestAnimationFrame(() => drawChart(lastHistory));
});
void tick();
`

const HTML_HEAD = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>X Core</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>`

const HTML_BODY = `
<body data-state="loading" data-status="">
<header>
  <div class="brand"><h1>X Core</h1><span class="muted">host dashboard</span></div>
  <div class="status-line"><span class="pill" data-field="status">…</span><span class="muted" data-field="updated">loading…</span></div>
</header>
<div id="problem" class="banner" role="alert" hidden></div>
<main>
  <section class="card" aria-labelledby="h-network">
    <h2 id="h-network">Network data</h2>
    <dl>
      <div><dt>Status</dt><dd data-field="status">—</dd></div>
      <div><dt>Uptime</dt><dd data-field="uptime">—</dd></div>
      <div><dt>Upload speed</dt><dd data-field="upload">—</dd><dd class="sub" data-field="sent"></dd></div>
      <div><dt>Download speed</dt><dd data-field="download">—</dd><dd class="sub" data-field="received"></dd></div>
    </dl>
  </section>
  <section class="card" aria-labelledby="h-earnings">
    <h2 id="h-earnings">Current earnings</h2>
    <dl>
      <div><dt>This week</dt><dd data-field="earnings-week">—</dd></div>
      <div><dt>This month</dt><dd data-field="earnings-month">—</dd></div>
      <div><dt>This year</dt><dd data-field="earnings-year">—</dd></div>
      <div><dt>All time</dt><dd data-field="earnings-allTime">—</dd></div>
    </dl>
    <p class="note problem" id="bridge-problem" hidden></p>
    <p class="note">Credited by the bridge for the current UTC week, month and year.<br>Trust: <span data-field="trust">—</span></p>
  </section>
  <section class="card" aria-labelledby="h-storage">
    <h2 id="h-storage">Storage</h2>
    <dl>
      <div><dt>Capacity used</dt><dd data-field="used">—</dd><dd class="sub">of <span data-field="capacity">—</span><span id="used-percent"> (<span data-field="usedPercent"></span>)</span></dd></div>
      <div><dt>Stored shards</dt><dd data-field="shards">—</dd></div>
    </dl>
    <div class="bar" aria-hidden="true"><div id="used-bar"></div></div>
    <p class="note">Online hours: <span data-field="hours">—</span></p>
  </section>
  <section class="card wide" aria-labelledby="h-traffic">
    <h2 id="h-traffic">Traffic over time</h2>
    <div class="legend">
      <span><span class="swatch upload"></span>Upload (sent) <span data-field="peakUpload"></span></span>
      <span><span class="swatch download"></span>Download (received) <span data-field="peakDownload"></span></span>
      <span data-field="chartSpan"></span>
    </div>
    <svg id="chart" viewBox="0 0 ${CHART_BOX.width} ${CHART_BOX.height}" role="img" aria-labelledby="h-traffic" data-empty="true"></svg>
  </section>
</main>
<footer><span>host <span class="mono" data-field="hostId">—</span></span><span>bridge <span class="mono" data-field="bridgeUrl">—</span></span><span>region <span data-field="region">—</span></span><span>local to this machine; refreshes every ${POLL_MS / 1000} s</span></footer>
<script>${SCRIPT}</script>
</body>
</html>
`

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

// Inlined function sources must not end the script element early.
if (/<\/script|<!--/i.test(SCRIPT)) throw new Error('dashboard script contains "</script" or "<!--"')

export const DASHBOARD_PAGE = {
  html: HTML_HEAD + HTML_BODY,
  script: SCRIPT,
  style: STYLE,
  /**
   * Nothing but this page's own inline script and style (by hash) and fetches to this origin: no
   * other script, style, frame, font, form target or plugin, and no framing by other pages.
   */
  csp: [
    "default-src 'none'",
    `script-src ${sha256(SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
}

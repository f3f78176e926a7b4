/**
 * Where the dashboard listens and whom it answers (pure).
 *
 * The dashboard is local-only: it binds a loopback address, and it answers only requests whose
 * Host header names that address (or `localhost`) with its port. The second rule defeats DNS
 * rebinding, where a web page on attacker.example re-points its name at 127.0.0.1 so the browser
 * sends the victim's requests to this port under the attacker's origin: those requests carry
 * `Host: attacker.example:PORT` and get a 403.
 */
import { xerr } from '../../shared/errors.js'
import { isLoopback, parseListen } from '../../shared/units.js'

export const DEFAULT_DASHBOARD = '127.0.0.1:0'

export interface DashboardAddress {
  /** A loopback IP literal to bind. */
  host: string
  /** 0 for an ephemeral port. */
  port: number
}

/** `--dashboard HOST:PORT|off`: a loopback address, or null for off; anything else is XC_USAGE. */
export function parseDashboardAddress(text: string): DashboardAddress | null {
  if (text.trim().toLowerCase() === 'off') return null
  const { host, port } = parseListen(text)
  if (!isLoopback(host.toLowerCase())) {
    throw xerr('XC_USAGE', `the dashboard is local-only: "${text}" is not a loopback address (use 127.0.0.1:PORT, [::1]:PORT, localhost:PORT, or off)`)
  }
  // Bind one address, not whatever `localhost` resolves to first: the URL must name what was bound.
  return { host: host.toLowerCase() === 'localhost' ? '127.0.0.1' : host, port }
}

/** `http://127.0.0.1:PORT` or `http://[::1]:PORT`. */
export function dashboardUrlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** The Host header values this dashboard answers to, lowercase. */
export function allowedHosts(host: string, port: number): ReadonlySet<string> {
  return new Set([`${host.includes(':') ? `[${host.toLowerCase()}]` : host}:${port}`, `localhost:${port}`])
}

/** Whether a request's Host header names this dashboard (a missing header does not). */
export function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  return header !== undefined && allowed.has(header.trim().toLowerCase())
}

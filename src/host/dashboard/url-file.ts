/**
 * DATA/dashboard-url: where the running host's web dashboard answers (`http://127.0.0.1:PORT`),
 * for scripts and `xcore status`. Written by temp file + rename once the dashboard listens,
 * removed when the host stops (like DATA/url); absent when the dashboard is off.
 */
import { randomBytes } from 'node:crypto'
import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const dashboardUrlFile = (dataDir: string): string => join(dataDir, 'dashboard-url')

export async function writeDashboardUrl(dataDir: string, url: string): Promise<void> {
  const file = dashboardUrlFile(dataDir)
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, url, { mode: 0o644 })
  await rename(tmp, file)
}

export async function removeDashboardUrl(dataDir: string): Promise<void> {
  await rm(dashboardUrlFile(dataDir), { force: true }).catch(() => {})
}

/** The URL, or null when the file is absent or does not hold one. */
export async function readDashboardUrl(dataDir: string): Promise<string | null> {
  try {
    const text = (await readFile(dashboardUrlFile(dataDir), 'utf8')).trim()
    return /^http:\/\/\S+$/.test(text) ? text : null
  } catch {
    return null
  }
}

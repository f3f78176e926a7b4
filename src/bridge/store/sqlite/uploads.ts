import type { UploadRecord, UploadStore } from '../../uploads/store.js'
import type { Db } from './db.js'

interface UploadRow {
  id: string
  user_id: string
  mirrors: number
  created_at: number
  expires_at: number
  regions: string | null
}

export function sqliteUploads(db: Db): UploadStore {
  const insertUpload = db.prepare('INSERT INTO uploads (id, user_id, mirrors, created_at, expires_at, regions) VALUES (@id, @userId, @mirrors, @createdAt, @expiresAt, @regions)')
  const getUpload = db.prepare<[string, string], UploadRow>('SELECT * FROM uploads WHERE id = ? AND user_id = ?')
  const insertTarget = db.prepare('INSERT OR IGNORE INTO upload_targets (upload_id, hash, host_id, size, placed_at) VALUES (?, ?, ?, ?, ?)')
  const targetsOf = db.prepare<[string, string], { hash: string; host_id: string; size: number }>(
    'SELECT hash, host_id, size FROM upload_targets WHERE upload_id = ? AND hash IN (SELECT value FROM json_each(?))')
  const insertReceipt = db.prepare('INSERT OR IGNORE INTO upload_receipts (upload_id, hash, host_id, size, at, sig) VALUES (?, ?, ?, ?, ?, ?)')
  const receiptHosts = db.prepare<[string, string], { hash: string; host_id: string }>(
    'SELECT hash, host_id FROM upload_receipts WHERE upload_id = ? AND hash IN (SELECT value FROM json_each(?))')
  // Placed at or after `since` and after the host's last heartbeat (which counts the rest in its
  // free space). One bound per host, so the (host_id, placed_at) index reads only those rows.
  const pending = db.prepare<[number], { host_id: string; bytes: number | null }>(`
    SELECT h.id AS host_id, (SELECT SUM(t.size) FROM upload_targets t
      WHERE t.host_id = h.id AND t.placed_at > MAX(h.last_seen, ? - 1)) AS bytes FROM hosts h`)

  return {
    insertUpload(u) {
      insertUpload.run({ ...u, regions: u.regions === null ? null : JSON.stringify(u.regions) })
    },
    getUpload(userId, id): UploadRecord | undefined {
      const r = getUpload.get(id, userId)
      return r && { id: r.id, userId: r.user_id, mirrors: r.mirrors, createdAt: r.created_at, expiresAt: r.expires_at,
        regions: r.regions === null ? null : (JSON.parse(r.regions) as string[]) }
    },
    insertTargets(uploadId, targets, now) {
      db.transaction(() => {
        for (const t of targets) insertTarget.run(uploadId, t.hash, t.hostId, t.size, now)
      })()
    },
    targetsOf: (uploadId, hashes) =>
      targetsOf.all(uploadId, JSON.stringify(hashes)).map((r) => ({ hash: r.hash, hostId: r.host_id, size: r.size })),
    insertReceipts: (uploadId, receipts) =>
      db.transaction(() => receipts.filter((r) => insertReceipt.run(uploadId, r.h, r.host, r.size, r.at, r.sig).changes > 0))(),
    receiptHosts(uploadId, hashes) {
      const out = new Map<string, string[]>()
      for (const r of receiptHosts.all(uploadId, JSON.stringify(hashes))) {
        const list = out.get(r.hash)
        if (list) list.push(r.host_id)
        else out.set(r.hash, [r.host_id])
      }
      return out
    },
    pendingBytes(since) {
      const out = new Map<string, number>()
      for (const r of pending.all(since)) if (r.bytes !== null) out.set(r.host_id, r.bytes)
      return out
    },
  }
}

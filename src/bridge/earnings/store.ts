/** The append-only ledger of what each host earned (database triggers refuse updates and deletes). */
export type LedgerKind = 'storage' | 'egress'

export interface LedgerEntry {
  hostId: string
  kind: LedgerKind
  periodStart: number
  periodEnd: number
  /** storage: byte-milliseconds; egress: bytes. Exact integers. */
  quantity: number
  /** Price per GB-hour (storage) or per GB (egress), GB = 10^9 bytes. */
  unitPrice: number
  amount: number
  at: number
}

export interface LedgerStore {
  appendLedger(entries: readonly LedgerEntry[]): void
  /** Mirrors on a host with their sizes and when they were stored. */
  hostMirrors(hostId: string): Array<{ size: number; storedAt: number }>
  setAccrual(hostId: string, fields: { accruedUntil?: number; egressSeen?: number; egressCreditUsed?: number }): void
  /** Sum of amounts at or after each `since`, plus all-time quantities. */
  ledgerTotals(hostId: string, since: readonly number[]): { amounts: number[]; allTime: number; storageByteMs: number; egressBytes: number }
  ledgerEntries(hostId?: string): LedgerEntry[]
}

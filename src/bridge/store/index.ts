/**
 * Storage seen from the domains. Each domain folder (auth, hosts, tree, shards, uploads) defines the
 * interface it needs from storage; `store/sqlite` implements all of them on one database. Calls are
 * synchronous: the embedded SQLite answers in microseconds, and a `transaction` runs its callback
 * atomically (all writes or none), which is how a tree change and its change-log entry, or a
 * version and its mirrors, are kept together.
 */
export interface Transactor {
  transaction<T>(fn: () => T): T
}

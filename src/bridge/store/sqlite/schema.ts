/**
 * The bridge's SQLite schema. `PRAGMA user_version` holds the schema version; each migration moves
 * it up by one inside a transaction, so a database is always at exactly one known version. Append
 * new migrations; never edit one that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: users, sessions, hosts, tree, change log, versions, shards, mirrors, uploads
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    auth_hash BLOB NOT NULL,
    auth_salt BLOB NOT NULL,
    kdf TEXT NOT NULL,
    wrapped_mk TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX sessions_expiry ON sessions(expires_at);

  CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    url TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    cert TEXT NOT NULL,
    capacity INTEGER NOT NULL,
    used INTEGER NOT NULL,
    region TEXT NOT NULL,
    max_upload_rate INTEGER,
    max_download_rate INTEGER,
    reported_shards INTEGER NOT NULL DEFAULT 0,
    bytes_in INTEGER NOT NULL DEFAULT 0,
    bytes_out INTEGER NOT NULL DEFAULT 0,
    uptime_ms INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER NOT NULL,
    successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX hosts_last_seen ON hosts(last_seen);
  CREATE TABLE host_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT,
    hash TEXT,
    reporter_id TEXT
  );
  CREATE INDEX host_events_host ON host_events(host_id, at);

  CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id TEXT REFERENCES nodes(id),
    name_hash TEXT NOT NULL,
    enc_name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('dir', 'file', 'symlink')),
    enc_meta TEXT,
    version_id TEXT,
    size INTEGER NOT NULL DEFAULT 0,
    revision INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    UNIQUE (parent_id, name_hash)
  );
  CREATE INDEX nodes_user ON nodes(user_id);
  CREATE UNIQUE INDEX nodes_root ON nodes(user_id) WHERE parent_id IS NULL;

  CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    node TEXT,
    at INTEGER NOT NULL
  );
  CREATE INDEX changes_user_seq ON changes(user_id, seq);

  CREATE TABLE versions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    wrapped_key TEXT NOT NULL,
    manifest TEXT NOT NULL,
    shard_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX versions_user ON versions(user_id);
  CREATE TABLE version_shards (
    version_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (version_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX version_shards_hash ON version_shards(hash);
  CREATE TABLE shards (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    target_mirrors INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE mirrors (
    hash TEXT NOT NULL,
    host_id TEXT NOT NULL,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (hash, host_id)
  ) WITHOUT ROWID;
  CREATE INDEX mirrors_host ON mirrors(host_id);

  CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    mirrors INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE upload_targets (
    upload_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    host_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    placed_at INTEGER NOT NULL,
    PRIMARY KEY (upload_id, hash, host_id)
  ) WITHOUT ROWID;
  CREATE INDEX upload_targets_placed ON upload_targets(placed_at);
  CREATE TABLE upload_receipts (
    upload_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    host_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    at INTEGER NOT NULL,
    sig TEXT NOT NULL,
    PRIMARY KEY (upload_id, hash, host_id)
  ) WITHOUT ROWID;
  `,
  // 2: host lifecycle, approval and regions, proof of availability, repair, GC, earnings
  `
  ALTER TABLE hosts ADD COLUMN schedule TEXT;
  ALTER TABLE hosts ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN banned INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN audits_passed INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN audits_failed INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN exit_started_at INTEGER;
  ALTER TABLE hosts ADD COLUMN exited_at INTEGER;
  ALTER TABLE hosts ADD COLUMN accrued_until INTEGER;
  ALTER TABLE hosts ADD COLUMN egress_seen INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE hosts ADD COLUMN egress_credit INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN regions TEXT;
  ALTER TABLE versions ADD COLUMN retired_at INTEGER;
  CREATE INDEX versions_retired ON versions(retired_at) WHERE retired_at IS NOT NULL;
  ALTER TABLE shards ADD COLUMN regions TEXT;
  ALTER TABLE uploads ADD COLUMN regions TEXT;
  CREATE INDEX uploads_expiry ON uploads(expires_at);

  CREATE TABLE challenges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL,
    salt TEXT NOT NULL,
    digest TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX challenges_hash ON challenges(hash);
  CREATE TABLE audits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    at INTEGER NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'inconclusive')),
    reason TEXT
  );
  CREATE INDEX audits_host ON audits(host_id, at);
  CREATE INDEX audits_at ON audits(at);
  CREATE TABLE deletions (
    hash TEXT NOT NULL,
    host_id TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    PRIMARY KEY (host_id, hash)
  ) WITHOUT ROWID;
  CREATE TABLE repairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
  );
  CREATE INDEX repairs_at ON repairs(at);
  CREATE TABLE ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('storage', 'egress')),
    period_start INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL,
    amount REAL NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX ledger_host ON ledger(host_id, at);

  -- A version stops being current when its node points elsewhere or goes away; GC drops it a
  -- grace period later (clients may still be reading it, or editing on top of it).
  CREATE TRIGGER versions_retire_on_replace AFTER UPDATE OF version_id ON nodes
    WHEN OLD.version_id IS NOT NULL AND OLD.version_id IS NOT NEW.version_id
    BEGIN UPDATE versions SET retired_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = OLD.version_id; END;
  CREATE TRIGGER versions_retire_on_delete AFTER DELETE ON nodes
    WHEN OLD.version_id IS NOT NULL
    BEGIN UPDATE versions SET retired_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = OLD.version_id; END;
  CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
  CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
  `,
  // 3: repair asks which hosts recently failed an audit of a shard, to keep the new copy off them;
  // GC asks whether a live upload still targets a (shard, host) before deleting it there.
  `
  CREATE INDEX audits_hash ON audits(hash, at);
  CREATE INDEX upload_targets_hash ON upload_targets(hash, host_id);
  `,
  // 4: every placement asks, per host, for the bytes placed there since its last heartbeat; by
  // host and time that reads a few seconds' rows per host, not every row of the last minute.
  `
  CREATE INDEX upload_targets_host ON upload_targets(host_id, placed_at);
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length

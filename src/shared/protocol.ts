/**
 * The wire protocol between client, bridge and hosts (version 1). Types only, plus limits.
 *
 * Words: a **shard** is one encrypted piece of a file version (at most 2 MiB of ciphertext), named
 * by the hex SHA-256 of its bytes. A **mirror** is one host holding one shard. **Placement** is the
 * bridge's choice of hosts for a shard. A **manifest** lists a version's shards (index, size, IV,
 * hash), is encrypted-at-rest opaque to the bridge and authenticated by an HMAC only the owner can
 * check. A **receipt** is a host's signature that it durably stored a shard.
 *
 * Bridge (HTTP(S), JSON bodies, session `Authorization: Bearer <session>`):
 *
 *   GET  /v1/info                                → BridgeInfo
 *   POST /v1/auth/register      RegisterRequest  → 201 { userId }
 *   GET  /v1/auth/params?email=E                 → { kdf: KdfParams }   (a stable decoy for unknown emails)
 *   POST /v1/auth/login         LoginRequest     → LoginResponse
 *   POST /v1/auth/logout                         → 204
 *   GET  /v1/account                             → AccountInfo
 *
 *   POST /v1/hosts/announce     AnnounceRequest  → AnnounceResponse    (host-signed, see tokens.ts)
 *   POST /v1/hosts/heartbeat    HeartbeatRequest → HeartbeatResponse   (host-signed)
 *   POST /v1/hosts/self         {}               → HostSelf            (host-signed: state, earnings)
 *   POST /v1/hosts/exit         {}               → HostSelf            (host-signed: start a graceful exit)
 *
 *   GET  /v1/tree/root                           → TreeNode
 *   GET  /v1/tree/nodes/:id                      → TreeNode
 *   GET  /v1/tree/nodes/:id/children             → { nodes: TreeNode[] }
 *   GET  /v1/tree/lookup?parentId=&nameHash=     → TreeNode | 404 XC_NOT_FOUND
 *   POST /v1/tree/nodes         CreateNodeRequest → 201 TreeNode
 *   POST /v1/tree/nodes/:id/move MoveRequest     → TreeNode
 *   PATCH /v1/tree/nodes/:id    UpdateNodeRequest → TreeNode
 *   DELETE /v1/tree/nodes/:id?expectedRevision=N → 204
 *   GET  /v1/tree/changes?since=N&limit=M        → ChangesResponse
 *
 *   POST /v1/uploads            { mirrors? }     → { uploadId, expiresAt, mirrors }
 *   POST /v1/uploads/:id/shards PlaceRequest     → PlaceResponse
 *   POST /v1/uploads/:id/replace ReplaceRequest  → PlaceResponse (one shard, one new target)
 *   POST /v1/uploads/:id/receipts ReceiptsRequest → { accepted: number }
 *   POST /v1/uploads/:id/commit CommitRequest    → CommitResponse
 *
 *   GET  /v1/nodes/:id/content                   → ContentInfo
 *   POST /v1/versions/:id/tokens { from, count } → TokensResponse
 *   POST /v1/reports            HostReport       → 204
 *
 * Host (HTTPS with a self-signed certificate whose SHA-256 fingerprint the bridge pins):
 *
 *   GET  /ping                                   → PingResponse
 *   PUT  /shards/:hash   (XC-Token put, Content-Length = token size)  → 201/200 Receipt
 *   GET  /shards/:hash   (XC-Token get, optional `Range: bytes=a-b`)  → 200/206 bytes
 *   POST /orders         { order }  (bridge-signed audit/replicate/delete, see orders.ts) → answer
 *
 * Errors everywhere: `{ error: { code: 'XC_…', message, details? } }` with the status from
 * shared/errors.ts.
 */
import type { Receipt } from './tokens.js'

export const PROTOCOL_VERSION = 1

/** Fixed plaintext shard size of format v1 (also the maximum). */
export const SHARD_SIZE = 2 * 1024 * 1024

/**
 * The TLS application protocol (ALPN) a client offers, before `http/1.1`, on connections it uses
 * only for `PUT /shards/:hash`; a host that knows it reads those requests itself and decrypts each
 * body straight into the shard's buffer (src/host/routes/shard-uploads.ts). Same bytes on the wire
 * as HTTP/1.1; a host that does not know it answers over plain HTTP/1.1.
 */
export const SHARD_PUT_ALPN = 'xc-shard-put/1'
export const DEFAULT_MIRRORS = 3
export const MAX_MIRRORS = 8
/** Most shards one placement or token request may name. */
export const MAX_BATCH_SHARDS = 512
/** Largest JSON body a bridge accepts (commit of a large file lists its shard hashes). */
export const MAX_JSON_BODY = 8 * 1024 * 1024
/** Transfer tokens live this long. */
export const TOKEN_TTL_MS = 15 * 60_000

export interface BridgeInfo {
  version: 1
  /** Ed25519 public key (base64url raw) that signs transfer tokens and orders. */
  publicKey: string
  mirrors: number
}

export interface KdfParams {
  alg: 'scrypt'
  /** CPU/memory cost (power of two). */
  N: number
  r: number
  p: number
  /** base64url, 16 bytes. */
  salt: string
}

export interface RegisterRequest {
  email: string
  /** base64url 32 bytes derived from the password; the bridge stores only a slow hash of it. */
  authKey: string
  kdf: KdfParams
  /** The master key wrapped (AES-256-GCM) by the password-derived wrapping key; base64url. */
  wrappedMasterKey: string
}

export interface LoginRequest {
  email: string
  authKey: string
}

export interface LoginResponse {
  session: string
  userId: string
  wrappedMasterKey: string
  expiresAt: number
}

export interface AccountInfo {
  userId: string
  email: string
  /** Bytes of plaintext in current versions. */
  usedBytes: number
  files: number
  /** Network-wide capacity and free space of online hosts (for statfs). */
  networkCapacity: number
  networkFree: number
}

// ---------------------------------------------------------------------------------------------
// Hosts

export interface AnnounceRequest {
  /** base64url raw Ed25519 public key; the host id is its SHA-256 (hex). */
  publicKey: string
  /** https://HOST:PORT */
  url: string
  /** SHA-256 fingerprint of the TLS certificate, as Node prints it (`AB:CD:…`). */
  fingerprint: string
  /** The self-signed certificate, PEM; clients pin it. */
  cert: string
  capacity: number
  used: number
  region: string
  maxUploadRate: number | null
  maxDownloadRate: number | null
  /** Online hours, UTC, e.g. "08:00-20:00" or "22:00-06:00,12:00-13:00"; absent or null = always. */
  schedule?: string | null
}

export interface AnnounceResponse {
  hostId: string
  heartbeatMs: number
  state: HostState
}

/**
 * online: heartbeating, in its hours, trusted with data. offline: no heartbeat for the configured
 * time, or outside its online hours. suspended: failed audits (reputation under the threshold) or
 * banned; gets no data, its mirrors do not count. exiting: handing its shards to other hosts.
 * exited: gone; nothing depends on it.
 */
export type HostState = 'online' | 'offline' | 'suspended' | 'exiting' | 'exited'

export interface HeartbeatResponse {
  ok: true
  state: HostState
}

export interface Earnings {
  currency: string
  /** Amounts for the current UTC calendar week (from Monday), month, year, and all time. */
  week: number
  month: number
  year: number
  allTime: number
  /** All-time quantities behind the amounts. */
  storageGBHours: number
  egressGB: number
}

/** What the bridge says about a host, to that host (its dashboard and `xcore status`). */
export interface HostSelf {
  hostId: string
  state: HostState
  reputation: number
  approved: boolean
  banned: boolean
  /** Mirrors the bridge has recorded on this host, and their bytes. */
  shards: number
  storedBytes: number
  auditsPassed: number
  auditsFailed: number
  earnings: Earnings
}

export interface HeartbeatRequest {
  capacity: number
  used: number
  shards: number
  /** Cumulative bytes received (shard uploads) and sent (shard downloads) since the host started. */
  bytesIn: number
  bytesOut: number
  uptimeMs: number
}

/** What a client needs to reach a host. */
export interface HostContact {
  id: string
  url: string
  fingerprint: string
  cert: string
  region: string
}

// ---------------------------------------------------------------------------------------------
// Tree

export type NodeKind = 'dir' | 'file' | 'symlink'

export interface TreeNode {
  id: string
  /** null only for a user's root. */
  parentId: string | null
  /** hex HMAC-SHA256(name key, parentId ‖ name): unique per parent, reveals nothing else. */
  nameHash: string
  /** base64url AES-256-GCM ciphertext of the name ('' for the root). */
  encName: string
  kind: NodeKind
  /** base64url encrypted attributes (mode, mtime, symlink target…), or null. */
  encMeta: string | null
  versionId: string | null
  /** Plaintext size of the current version (0 for dirs). */
  size: number
  /** Bumped on every change of this node; compare-and-swap uses it. */
  revision: number
  /** Server time of the last change, Unix ms. */
  mtime: number
}

export interface CreateNodeRequest {
  parentId: string
  nameHash: string
  encName: string
  kind: NodeKind
  encMeta?: string | null
}

export interface MoveRequest {
  parentId: string
  nameHash: string
  encName: string
  /** Replace an existing target atomically (a file over a file, a dir over an empty dir). */
  replace?: boolean
  expectedRevision?: number
}

export interface UpdateNodeRequest {
  encMeta: string | null
  expectedRevision?: number
}

export interface Change {
  /** Cursor value of this change. */
  seq: number
  nodeId: string
  op: 'upsert' | 'delete'
  node: TreeNode | null
}

export interface ChangesResponse {
  changes: Change[]
  /** Pass as `since` next time. */
  cursor: number
  more: boolean
}

// ---------------------------------------------------------------------------------------------
// Uploads

export interface ShardRef {
  hash: string
  size: number
}

export interface PlaceRequest {
  shards: ShardRef[]
}

export interface ShardTarget {
  hostId: string
  token: string
}

export interface ShardPlacement {
  hash: string
  size: number
  targets: ShardTarget[]
}

export interface PlaceResponse {
  placements: ShardPlacement[]
  hosts: Record<string, HostContact>
}

export interface ReplaceRequest {
  hash: string
  /** Hosts that failed for this shard; never chosen again for it. */
  failedHostIds: string[]
}

/** Proof-of-availability challenges for one shard: salt (base64url) and SHA-256(salt ‖ shard), hex. */
export interface ShardChallenges {
  hash: string
  pairs: Array<{ salt: string; digest: string }>
}

export interface ReceiptsRequest {
  receipts: Receipt[]
  /** Challenges for shards placed in this upload (the bridge spends one per audit). */
  challenges?: ShardChallenges[]
}

/** Challenges the client computes per new shard at upload. */
export const CHALLENGES_PER_SHARD = 2
export const MAX_CHALLENGES_PER_SHARD = 16

export interface CommitRequest {
  /** Either an existing file node, or a new name in a folder. */
  target: { nodeId: string } | { parentId: string; nameHash: string; encName: string; encMeta?: string | null }
  /** The version the client edited (null for a new file); mismatch is XC_CONFLICT. */
  baseVersionId: string | null
  size: number
  /** The file key wrapped by the master key, base64url. */
  wrappedKey: string
  /** The authenticated manifest, base64url (opaque to the bridge). */
  manifest: string
  /** Shard hashes in order; each needs receipts from `mirrors` distinct hosts in this upload. */
  shards: ShardRef[]
}

export interface CommitResponse {
  node: TreeNode
  versionId: string
}

// ---------------------------------------------------------------------------------------------
// Downloads

export interface ContentInfo {
  nodeId: string
  versionId: string
  size: number
  wrappedKey: string
  manifest: string
  shardCount: number
}

export interface ShardMirrors {
  index: number
  hash: string
  size: number
  /** Live mirrors first; each with a get token for that host. */
  mirrors: ShardTarget[]
}

export interface TokensResponse {
  shards: ShardMirrors[]
  hosts: Record<string, HostContact>
}

export type ReportReason = 'mismatch' | 'timeout' | 'error' | 'refused'

export interface HostReport {
  hostId: string
  hash: string
  reason: ReportReason
}

export interface PingResponse {
  ok: true
  hostId: string
  capacity: number
  used: number
}

export type { Receipt }

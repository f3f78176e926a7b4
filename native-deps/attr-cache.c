// Native help for fuse-native's glue; fuse-native.mjs copies this file next to fuse-native.c and
// includes it there, before the methods.
//
// A path -> attributes cache answered on libfuse's own threads, so a getattr (every lookup in
// libfuse's high-level API is one) that JavaScript already answered costs a hash lookup instead of
// a round trip into the event loop (about 100 us on this kind of machine, most of it waking
// threads).
//
// Coherence: JavaScript owns the truth. Every entry is tagged with the generation that was
// current before its attributes were computed, and an entry is only used while that generation is
// still current. JavaScript bumps the generation in the same synchronous step as any change a
// getattr could see (a node's size, times, mode, name, parent or existence), before it answers
// the request that made the change; so an entry computed before a change can never be served
// after it. Entries come from getattr answers and from readdir listings (which carry every
// child's attributes), never from anything else.

#include <stdatomic.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

// Defined further down in fuse-native.c (this file is included before its methods).
static int fuse_native_getattr (const char *path, struct stat *stat);
static int fuse_native_fgetattr (const char *path, struct stat *stat, struct fuse_file_info *info);
static int fuse_native_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info);
static int fuse_native_write (const char *path, const char *buf, size_t len, off_t offset, struct fuse_file_info *info);
static int fuse_native_read (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info);

// ---- waiting for JavaScript's answer ----------------------------------------------------------
//
// A libfuse thread hands a request to the event loop and waits on a semaphore for the answer.
// Sleeping at once means being woken again by the kernel, which on a virtual machine costs tens
// of microseconds, about as long as JavaScript takes to answer a metadata request. So the thread
// polls the semaphore for a short while first, then sleeps.

#define XC_SPIN_NS 40000L

static inline void xc_cpu_relax (void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Threads polling right now: one at a time. Several requests in flight at once (the kernel's
// read-ahead sends a few) wait on the event loop anyway, and more pollers would only take CPU
// from the work that answers them.
static _Atomic int xc_spinners = 0;

// Whether polling pays: +1 for each answer that came while polling, -2 for each poll that ran out.
// Reads that wait for the network (a cold read: milliseconds per shard) drive it to 0, and then
// only one wait in 16 polls, to notice when answers are quick again; metadata and cached reads
// keep it up. Polling in vain cost a cold read about 0.3 CPU-seconds per GiB.
#define XC_CREDIT_MAX 16
static _Atomic int xc_spin_credit = XC_CREDIT_MAX;
static _Atomic uint32_t xc_waits = 0;

static void xc_credit (int delta) {
  int c = atomic_load(&xc_spin_credit);
  int n = c + delta;
  if (n < 0) n = 0;
  if (n > XC_CREDIT_MAX) n = XC_CREDIT_MAX;
  atomic_compare_exchange_strong(&xc_spin_credit, &c, n);
}

static void xc_wait (uv_sem_t *sem) {
  int poll = atomic_load(&xc_spin_credit) > 0 || (atomic_fetch_add(&xc_waits, 1) & 15) == 0;
  if (poll && atomic_fetch_add(&xc_spinners, 1) == 0) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (uint32_t i = 1; ; i++) {
      if (uv_sem_trywait(sem) == 0) {
        atomic_fetch_sub(&xc_spinners, 1);
        xc_credit(1);
        return;
      }
      xc_cpu_relax();
      if ((i & 63) == 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) > XC_SPIN_NS) break;
      }
    }
    xc_credit(-2);
    atomic_fetch_sub(&xc_spinners, 1);
  } else if (poll) {
    atomic_fetch_sub(&xc_spinners, 1);
  }
  uv_sem_wait(sem);
}

// ---- the attribute cache ----------------------------------------------------------------------

#define XC_BUCKETS 65536
#define XC_MAX_ENTRIES 65536
#define XC_MAX_PATH 4096

typedef struct xc_entry {
  struct xc_entry *next;
  const void *owner;
  uint64_t gen;
  uint32_t hash;
  struct stat st;
  char path[];
} xc_entry_t;

static xc_entry_t *xc_table[XC_BUCKETS];
static uint32_t xc_count = 0;
static pthread_mutex_t xc_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t xc_gen = 1;
static _Atomic uint64_t xc_hits = 0;
static _Atomic uint64_t xc_misses = 0;
static _Atomic int xc_enabled = 1;

static uint32_t xc_hash (const void *owner, const char *path) {
  uint32_t h = 2166136261u ^ (uint32_t) ((uintptr_t) owner >> 4);
  for (const unsigned char *p = (const unsigned char *) path; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  return h;
}

// With xc_lock held: drop entries whose generation is gone; all of them when `all`.
static void xc_purge_locked (int all) {
  uint64_t gen = atomic_load(&xc_gen);
  for (uint32_t b = 0; b < XC_BUCKETS; b++) {
    xc_entry_t **link = &xc_table[b];
    while (*link) {
      xc_entry_t *e = *link;
      if (all || e->gen != gen) {
        *link = e->next;
        free(e);
        xc_count--;
      } else {
        link = &e->next;
      }
    }
  }
}

static int xc_get (const void *owner, const char *path, struct stat *out) {
  uint64_t gen = atomic_load(&xc_gen);
  uint32_t h = xc_hash(owner, path);
  int found = 0;
  pthread_mutex_lock(&xc_lock);
  for (xc_entry_t *e = xc_table[h & (XC_BUCKETS - 1)]; e; e = e->next) {
    if (e->hash == h && e->owner == owner && strcmp(e->path, path) == 0) {
      if (e->gen == gen) {
        *out = e->st;
        found = 1;
      }
      break;
    }
  }
  pthread_mutex_unlock(&xc_lock);
  return found;
}

static void xc_put (const void *owner, const char *path, const struct stat *st, uint64_t gen) {
  if (gen != atomic_load(&xc_gen)) return; // already stale
  size_t len = strlen(path);
  if (len > XC_MAX_PATH) return;
  uint32_t h = xc_hash(owner, path);
  pthread_mutex_lock(&xc_lock);
  xc_entry_t **bucket = &xc_table[h & (XC_BUCKETS - 1)];
  for (xc_entry_t *e = *bucket; e; e = e->next) {
    if (e->hash == h && e->owner == owner && strcmp(e->path, path) == 0) {
      e->st = *st;
      e->gen = gen;
      pthread_mutex_unlock(&xc_lock);
      return;
    }
  }
  if (xc_count >= XC_MAX_ENTRIES) {
    xc_purge_locked(0);
    if (xc_count >= XC_MAX_ENTRIES) xc_purge_locked(1);
  }
  xc_entry_t *e = malloc(sizeof(xc_entry_t) + len + 1);
  if (e != NULL) {
    e->owner = owner;
    e->gen = gen;
    e->hash = h;
    e->st = *st;
    memcpy(e->path, path, len + 1);
    e->next = *bucket;
    *bucket = e;
    xc_count++;
  }
  pthread_mutex_unlock(&xc_lock);
}

// The cached attributes of `path`, else the daemon's answer (getattr, or fgetattr when `info` is
// given), cached with the generation current before it was asked.
static int xc_cached_attr (const char *path, struct stat *st, struct fuse_file_info *info) {
  const void *owner = fuse_get_context()->private_data;
  if (xc_get(owner, path, st)) {
    atomic_fetch_add(&xc_hits, 1);
    return 0;
  }
  atomic_fetch_add(&xc_misses, 1);
  uint64_t gen = atomic_load(&xc_gen);
  int res = info ? fuse_native_fgetattr(path, st, info) : fuse_native_getattr(path, st);
  if (res == 0) xc_put(owner, path, st, gen);
  return res;
}

static int xc_getattr (const char *path, struct stat *st) {
  if (!atomic_load(&xc_enabled)) return fuse_native_getattr(path, st);
  return xc_cached_attr(path, st, NULL);
}

// libfuse asks for the attributes of an open file after every change through it (a chmod on the
// descriptor, a truncate): same cache, by the path libfuse gives (none for some unlinked files).
static int xc_fgetattr (const char *path, struct stat *st, struct fuse_file_info *info) {
  if (path == NULL || info == NULL || !atomic_load(&xc_enabled)) return fuse_native_fgetattr(path, st, info);
  return xc_cached_attr(path, st, info);
}

// The drive does not keep owners: every file belongs to the user who mounted it, so chown
// succeeds without changing anything, here rather than after a round trip into JavaScript.
static int xc_chown (const char *path, uid_t uid, gid_t gid) {
  (void) path;
  (void) uid;
  (void) gid;
  return 0;
}

typedef struct {
  void *buf;
  fuse_fill_dir_t filler;
  const void *owner;
  const char *dir;
  uint64_t gen;
} xc_fill_t;

// Runs on the event loop's thread while the libfuse thread that owns `c` waits for the listing.
static int xc_filler (void *buf, const char *name, const struct stat *st, off_t off) {
  xc_fill_t *c = (xc_fill_t *) buf;
  if (st != NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
    char path[XC_MAX_PATH + 2];
    int root = strcmp(c->dir, "/") == 0;
    int n = snprintf(path, sizeof(path), "%s/%s", root ? "" : c->dir, name);
    if (n > 0 && n <= XC_MAX_PATH) xc_put(c->owner, path, st, c->gen);
  }
  return c->filler(c->buf, name, st, off);
}

static int xc_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *info) {
  if (!atomic_load(&xc_enabled)) return fuse_native_readdir(path, buf, filler, off, info);
  xc_fill_t c = { buf, filler, fuse_get_context()->private_data, path, atomic_load(&xc_gen) };
  return fuse_native_readdir(path, &c, xc_filler, off, info);
}

// JavaScript: a change a getattr could see happened.
NAPI_METHOD(xc_attr_cache_bump) {
  atomic_fetch_add(&xc_gen, 1);
  return NULL;
}

// JavaScript, right after a change it made through `path`: the attributes as they are now
// (fuse-native's stat array), so the getattr libfuse sends after most changes is answered here.
// Arguments: the mount's fuse_thread_t buffer (its address is the entries' owner), path, stat.
NAPI_METHOD(xc_attr_cache_put) {
  NAPI_ARGV(3)
  NAPI_ARGV_BUFFER_CAST(void *, owner, 0)
  NAPI_ARGV_UTF8(path, XC_MAX_PATH + 1, 1)
  NAPI_ARGV_BUFFER_CAST(uint32_t *, ints, 2)
  // A path that filled the buffer may have been cut short: never cache under a wrong key.
  if (!atomic_load(&xc_enabled) || ints_len < 18 * sizeof(uint32_t) || path_len == 0 || path_len >= XC_MAX_PATH || path[0] != '/') return NULL;
  struct stat st;
  memset(&st, 0, sizeof(st));
  populate_stat(ints, &st);
  xc_put(owner, path, &st, atomic_load(&xc_gen));
  return NULL;
}

// JavaScript: turn the cache on (1) or off (0); either way nothing cached so far is used again.
NAPI_METHOD(xc_attr_cache_enable) {
  NAPI_ARGV(1)
  NAPI_ARGV_INT32(on, 0)
  atomic_fetch_add(&xc_gen, 1);
  atomic_store(&xc_enabled, on ? 1 : 0);
  pthread_mutex_lock(&xc_lock);
  xc_purge_locked(1);
  pthread_mutex_unlock(&xc_lock);
  return NULL;
}

// JavaScript: [hits, misses, entries] (counts wrap at 2^32).
NAPI_METHOD(xc_attr_cache_stats) {
  napi_value arr;
  napi_create_array_with_length(env, 3, &arr);
  uint32_t vals[3] = { (uint32_t) atomic_load(&xc_hits), (uint32_t) atomic_load(&xc_misses), 0 };
  pthread_mutex_lock(&xc_lock);
  vals[2] = xc_count;
  pthread_mutex_unlock(&xc_lock);
  for (uint32_t i = 0; i < 3; i++) {
    napi_value v;
    napi_create_uint32(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

// ---- writes straight into staging -----------------------------------------------------------
//
// A sequential write reaches the daemon as one 128 KiB request at a time, each answered before the
// kernel sends the next. Through JavaScript, each one waits for the event loop to wake, crosses
// into JavaScript and back, and wakes this thread again: about 300 us per request, most of it
// waiting. For a file whose every byte is new (created, or truncated to zero, so no shard of an
// earlier version has to be fetched first), JavaScript hands over the staging file's descriptor
// and this thread writes there itself. What the writes covered is kept per handle for JavaScript,
// which takes it before anything that depends on the file's size or shards (a getattr, a read,
// flush, fsync, release), so its bookkeeping (size, time, shards to upload) is exactly what it
// would have been. Each write bumps the attribute-cache generation, as JavaScript does for its own.

#define XC_FW_SLOTS 256

typedef struct {
  int used;
  const void *owner; // the mount (fuse-native's thread buffer), as for cached attributes
  uint64_t fh;
  int fd;            // our own duplicate of the staging descriptor
  uint64_t max_size; // writes ending beyond this answer EFBIG
  int pending;       // writes since JavaScript last took them
  uint64_t lo, hi;   // the byte range those writes covered
  double at_ms;      // wall-clock time of the last one
} xc_fw_t;

static xc_fw_t xc_fw[XC_FW_SLOTS];
static pthread_mutex_t xc_fw_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int xc_fw_count = 0;
static _Atomic int64_t xc_fw_last_ms = 0;
static _Atomic uint64_t xc_fw_writes = 0;

static xc_fw_t *xc_fw_find_locked (const void *owner, uint64_t fh) {
  for (uint32_t i = 0; i < XC_FW_SLOTS; i++) {
    xc_fw_t *e = &xc_fw[(fh + i) % XC_FW_SLOTS];
    if (e->used && e->fh == fh && e->owner == owner) return e;
  }
  return NULL;
}

static double xc_now_ms (void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double) ts.tv_sec * 1000.0 + (double) (ts.tv_nsec / 1000000);
}

static int xc_write (const char *path, const char *buf, size_t len, off_t off, struct fuse_file_info *info) {
  if (info == NULL || atomic_load(&xc_fw_count) == 0) return fuse_native_write(path, buf, len, off, info);
  const void *owner = fuse_get_context()->private_data;
  int fd = -1;
  uint64_t max_size = 0;
  pthread_mutex_lock(&xc_fw_lock);
  xc_fw_t *e = xc_fw_find_locked(owner, info->fh);
  if (e != NULL) {
    fd = e->fd;
    max_size = e->max_size;
  }
  pthread_mutex_unlock(&xc_fw_lock);
  if (fd < 0) return fuse_native_write(path, buf, len, off, info);
  if (off < 0) return -EINVAL;
  if ((uint64_t) off + len > max_size) return -EFBIG;
  if (len == 0) return 0;
  size_t done = 0;
  int err = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, off + (off_t) done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) {
      err = EIO;
      break;
    }
    done += (size_t) n;
  }
  if (done > 0) {
    // The kernel sends no release while a write on the handle runs, so the entry is still ours.
    double now = xc_now_ms();
    pthread_mutex_lock(&xc_fw_lock);
    e = xc_fw_find_locked(owner, info->fh);
    if (e != NULL) {
      uint64_t lo = (uint64_t) off, hi = (uint64_t) off + done;
      if (!e->pending || lo < e->lo) e->lo = lo;
      if (!e->pending || hi > e->hi) e->hi = hi;
      e->pending = 1;
      e->at_ms = now;
    }
    pthread_mutex_unlock(&xc_fw_lock);
    atomic_store(&xc_fw_last_ms, (int64_t) now);
    atomic_fetch_add(&xc_fw_writes, 1);
    atomic_fetch_add(&xc_gen, 1);
  }
  if (done == 0) return -(err ? err : EIO);
  return (int) done;
}

// JavaScript: writes through handle `fh` of the mount go to descriptor `fd` (duplicated here) from
// now on, up to `maxSize` bytes. Arguments: the mount's thread buffer, fh, fd, maxSize. Returns 1,
// or 0 when refused (table full): then JavaScript keeps taking the writes.
NAPI_METHOD(xc_fast_write_open) {
  NAPI_ARGV(4)
  NAPI_ARGV_BUFFER_CAST(void *, owner, 0)
  NAPI_ARGV_UINT32(fh, 1)
  NAPI_ARGV_INT32(fd, 2)
  double max_size = 0;
  napi_get_value_double(env, argv[3], &max_size);
  uint32_t ok = 0;
  int dup_fd = dup(fd);
  if (dup_fd >= 0) {
    pthread_mutex_lock(&xc_fw_lock);
    if (xc_fw_find_locked(owner, fh) == NULL) {
      for (uint32_t i = 0; i < XC_FW_SLOTS; i++) {
        xc_fw_t *e = &xc_fw[(fh + i) % XC_FW_SLOTS];
        if (e->used) continue;
        memset(e, 0, sizeof(*e));
        e->used = 1;
        e->owner = owner;
        e->fh = fh;
        e->fd = dup_fd;
        e->max_size = max_size > 0 ? (uint64_t) max_size : 0;
        atomic_fetch_add(&xc_fw_count, 1);
        ok = 1;
        break;
      }
    }
    pthread_mutex_unlock(&xc_fw_lock);
    if (!ok) close(dup_fd);
  }
  NAPI_RETURN_UINT32(ok)
}

// JavaScript: what writes through `fh` covered since the last call, as [lo, hi, atMs], or null.
NAPI_METHOD(xc_fast_write_take) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER_CAST(void *, owner, 0)
  NAPI_ARGV_UINT32(fh, 1)
  int pending = 0;
  double vals[3] = { 0, 0, 0 };
  pthread_mutex_lock(&xc_fw_lock);
  xc_fw_t *e = xc_fw_find_locked(owner, fh);
  if (e != NULL && e->pending) {
    pending = 1;
    vals[0] = (double) e->lo;
    vals[1] = (double) e->hi;
    vals[2] = e->at_ms;
    e->pending = 0;
  }
  pthread_mutex_unlock(&xc_fw_lock);
  napi_value out;
  if (!pending) {
    napi_get_null(env, &out);
    return out;
  }
  napi_create_array_with_length(env, 3, &out);
  for (uint32_t i = 0; i < 3; i++) {
    napi_value v;
    napi_create_double(env, vals[i], &v);
    napi_set_element(env, out, i, v);
  }
  return out;
}

// A new mount: entries left by an earlier mount whose thread buffer had the same address are
// not this mount's handles.
static void xc_fw_forget_owner (const void *owner) {
  pthread_mutex_lock(&xc_fw_lock);
  for (uint32_t i = 0; i < XC_FW_SLOTS; i++) {
    if (!xc_fw[i].used || xc_fw[i].owner != owner) continue;
    close(xc_fw[i].fd);
    xc_fw[i].used = 0;
    atomic_fetch_sub(&xc_fw_count, 1);
  }
  pthread_mutex_unlock(&xc_fw_lock);
}

// JavaScript, at release (after taking what is pending): forget `fh` and close our descriptor.
NAPI_METHOD(xc_fast_write_close) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER_CAST(void *, owner, 0)
  NAPI_ARGV_UINT32(fh, 1)
  int fd = -1;
  pthread_mutex_lock(&xc_fw_lock);
  xc_fw_t *e = xc_fw_find_locked(owner, fh);
  if (e != NULL) {
    fd = e->fd;
    e->used = 0;
    atomic_fetch_sub(&xc_fw_count, 1);
  }
  pthread_mutex_unlock(&xc_fw_lock);
  if (fd >= 0) close(fd);
  return NULL;
}

// JavaScript: [wall-clock milliseconds of the last write answered here (0: none yet), how many].
NAPI_METHOD(xc_fast_write_stats) {
  napi_value out, v;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, (double) atomic_load(&xc_fw_last_ms), &v);
  napi_set_element(env, out, 0, v);
  napi_create_double(env, (double) atomic_load(&xc_fw_writes), &v);
  napi_set_element(env, out, 1, v);
  return out;
}

// ---- reads straight from shards in memory ---------------------------------------------------
//
// A sequential read of a file on the network reaches the daemon as one 128 KiB request after
// another. Through JavaScript, each one waits for the event loop, which during a cold read is
// busy receiving shards, and crosses into JavaScript and back for a copy. Here, a libfuse thread
// copies the bytes itself when they are in a shard that JavaScript handed over, for a handle that
// JavaScript handed over:
// - Shards: the plaintext of one shard of one committed version (a content number JavaScript gives
//   each version), from the moment it is in the daemon's shard cache until it leaves it.
//   JavaScript holds a reference to each buffer while it is here, and takes it back out (under
//   the lock, so no copy is running from it) before the buffer is used for anything else.
// - Handles: an open handle whose file is exactly that version (no local change), with its size,
//   and the shard JavaScript last answered a read in. A read in another shard goes to JavaScript,
//   which so sees every shard a reader moves to (its read-ahead and cache order follow the reader)
//   and hands the handle over again for that shard. JavaScript takes a handle back out in the same
//   synchronous step as any change to its file's content, and at release.
// Anything else (no entry, another shard, past the size, a shard not in memory) is JavaScript's.

#define XC_FR_HANDLES 256
#define XC_FR_SHARDS 128

typedef struct {
  int used;
  const void *owner; // the mount, as for native writes
  uint64_t fh;
  uint32_t content;
  uint64_t size;
  uint64_t shard_size;
  uint64_t idx;      // the shard this handle may read here
} xc_frh_t;

typedef struct {
  int used;
  uint32_t content;
  uint32_t idx;
  const char *data;
  size_t len;
  napi_ref ref;
} xc_frs_t;

static xc_frh_t xc_frh[XC_FR_HANDLES];
static xc_frs_t xc_frs[XC_FR_SHARDS];
static pthread_mutex_t xc_fr_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int xc_fr_count = 0;
static _Atomic uint64_t xc_fr_reads = 0;

static xc_frh_t *xc_frh_find_locked (const void *owner, uint64_t fh) {
  for (uint32_t i = 0; i < XC_FR_HANDLES; i++) {
    xc_frh_t *e = &xc_frh[(fh + i) % XC_FR_HANDLES];
    if (e->used && e->fh == fh && e->owner == owner) return e;
  }
  return NULL;
}

static xc_frs_t *xc_frs_find_locked (uint32_t content, uint32_t idx) {
  uint32_t start = (content * 31u + idx) % XC_FR_SHARDS;
  for (uint32_t i = 0; i < XC_FR_SHARDS; i++) {
    xc_frs_t *e = &xc_frs[(start + i) % XC_FR_SHARDS];
    if (e->used && e->content == content && e->idx == idx) return e;
  }
  return NULL;
}

static int xc_read (const char *path, char *buf, size_t len, off_t off, struct fuse_file_info *info) {
  if (info == NULL || off < 0 || atomic_load(&xc_fr_count) == 0) return fuse_native_read(path, buf, len, off, info);
  const void *owner = fuse_get_context()->private_data;
  int served = -1;
  pthread_mutex_lock(&xc_fr_lock);
  xc_frh_t *h = xc_frh_find_locked(owner, info->fh);
  if (h != NULL && (uint64_t) off < h->size && h->shard_size > 0) {
    uint64_t end = (uint64_t) off + len;
    if (end > h->size) end = h->size;
    uint64_t idx = (uint64_t) off / h->shard_size;
    uint64_t base = idx * h->shard_size;
    if (idx == h->idx && end <= base + h->shard_size) {
      xc_frs_t *s = xc_frs_find_locked(h->content, (uint32_t) idx);
      if (s != NULL && s->len >= end - base) {
        memcpy(buf, s->data + ((uint64_t) off - base), end - (uint64_t) off);
        served = (int) (end - (uint64_t) off);
      }
    }
  }
  pthread_mutex_unlock(&xc_fr_lock);
  if (served < 0) return fuse_native_read(path, buf, len, off, info);
  atomic_fetch_add(&xc_fr_reads, 1);
  return served;
}

// JavaScript: reads through `fh` in shard `idx` of content `content` (`size` bytes, shards of
// `shardSize`) may be answered here. Arguments: the mount's thread buffer, fh, content, size,
// shardSize, idx. Returns 1, or 0 when refused (table full).
NAPI_METHOD(xc_fast_read_handle) {
  NAPI_ARGV(6)
  NAPI_ARGV_BUFFER_CAST(void *, owner, 0)
  NAPI_ARGV_UINT32(fh, 1)
  NAPI_ARGV_UINT32(content, 2)
  double size = 0, shard_size = 0, idx = 0;
  napi_get_value_double(env, argv[3], &size);
  napi_get_value_double(env, argv[4], &shard_size);
  napi_get_value_double(env, argv[5], &idx);
  uint32_t ok = 0;
  if (size >= 0 && shard_size > 0 && idx >= 0) {
    pthread_mutex_lock(&xc_fr_lock);
    xc_frh_t *e = xc_frh_find_locked(owner, fh);
    for (uint32_t i = 0; e == NULL && i < XC_FR_HANDLES; i++) {
      xc_frh_t *c = &xc_frh[(fh + i) % XC_FR_HANDLES];
      if (c->used) continue;
      memset(c, 0, sizeof(*c));
      c->used = 1;
      c->owner = owner;
      c->fh = fh;
      atomic_fetch_add(&xc_fr_count, 1);
      e = c;
    }
    if (e != NULL) {
      e->content = content;
      e->size = (uint64_t) size;
      e->shard_size = (uint64_t) shard_size;
      e->idx = (uint64_t) idx;
      ok = 1;
    }
    pthread_mutex_unlock(&xc_fr_lock);
  }
  NAPI_RETURN_UINT32(ok)
}

// JavaScript: no more reads through `fh` here (its file changed, or it is released).
NAPI_METHOD(xc_fast_read_forget) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER_CAST(void *, owner, 0)
  NAPI_ARGV_UINT32(fh, 1)
  pthread_mutex_lock(&xc_fr_lock);
  xc_frh_t *e = xc_frh_find_locked(owner, fh);
  if (e != NULL) {
    e->used = 0;
    atomic_fetch_sub(&xc_fr_count, 1);
  }
  pthread_mutex_unlock(&xc_fr_lock);
  return NULL;
}

static void xc_fr_forget_owner (const void *owner) {
  pthread_mutex_lock(&xc_fr_lock);
  for (uint32_t i = 0; i < XC_FR_HANDLES; i++) {
    if (!xc_frh[i].used || xc_frh[i].owner != owner) continue;
    xc_frh[i].used = 0;
    atomic_fetch_sub(&xc_fr_count, 1);
  }
  pthread_mutex_unlock(&xc_fr_lock);
}

// JavaScript: shard `idx` of content `content` is this buffer's bytes until xc_fast_read_drop.
// Arguments: content, idx, buffer. Returns 1, or 0 when refused (table full).
NAPI_METHOD(xc_fast_read_shard) {
  NAPI_ARGV(3)
  NAPI_ARGV_UINT32(content, 0)
  NAPI_ARGV_UINT32(idx, 1)
  NAPI_ARGV_BUFFER(data, 2)
  napi_ref ref = NULL;
  napi_ref old = NULL;
  uint32_t ok = 0;
  if (napi_create_reference(env, argv[2], 1, &ref) != napi_ok) {
    NAPI_RETURN_UINT32(ok)
  }
  pthread_mutex_lock(&xc_fr_lock);
  xc_frs_t *e = xc_frs_find_locked(content, idx);
  if (e != NULL) {
    old = e->ref;
  } else {
    uint32_t start = (content * 31u + idx) % XC_FR_SHARDS;
    for (uint32_t i = 0; e == NULL && i < XC_FR_SHARDS; i++) {
      xc_frs_t *c = &xc_frs[(start + i) % XC_FR_SHARDS];
      if (!c->used) e = c;
    }
  }
  if (e != NULL) {
    e->used = 1;
    e->content = content;
    e->idx = idx;
    e->data = data;
    e->len = data_len;
    e->ref = ref;
    ok = 1;
  }
  pthread_mutex_unlock(&xc_fr_lock);
  if (old != NULL) napi_delete_reference(env, old);
  if (!ok) napi_delete_reference(env, ref);
  NAPI_RETURN_UINT32(ok)
}

// JavaScript, before the buffer of shard `idx` of `content` is used for anything else: no copy
// from it runs or starts once this returns.
NAPI_METHOD(xc_fast_read_drop) {
  NAPI_ARGV(2)
  NAPI_ARGV_UINT32(content, 0)
  NAPI_ARGV_UINT32(idx, 1)
  napi_ref ref = NULL;
  pthread_mutex_lock(&xc_fr_lock);
  xc_frs_t *e = xc_frs_find_locked(content, idx);
  if (e != NULL) {
    ref = e->ref;
    e->used = 0;
    e->data = NULL;
    e->ref = NULL;
  }
  pthread_mutex_unlock(&xc_fr_lock);
  if (ref != NULL) napi_delete_reference(env, ref);
  return NULL;
}

// JavaScript: reads answered here since the process started.
NAPI_METHOD(xc_fast_read_stats) {
  napi_value out;
  napi_create_double(env, (double) atomic_load(&xc_fr_reads), &out);
  return out;
}

// ---- AES-256-CTR ---------------------------------------------------------------------------
//
// The shards' own cipher, for the crypto below. OpenSSL's CTR (in Node 20's OpenSSL 3.0) runs one
// 128-bit block per AES instruction: about 5 GB/s on one core here. With VAES, one instruction
// takes four blocks in a 512-bit register; sixteen blocks in flight run about 11 GB/s. Same
// cipher, same bytes: the counter is the IV as a 128-bit big-endian number, plus one per block,
// carrying through all 128 bits (as OpenSSL's). Where the CPU has no VAES (checked at run time),
// or the build is not for x86-64, every call goes to OpenSSL.

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XC_VAES 1
#include <immintrin.h>
#endif

typedef struct {
  EVP_CIPHER_CTX *evp; // OpenSSL's, when not VAES
#ifdef XC_VAES
  __m128i rk[15];      // AES-256 round keys
#endif
  uint64_t hi, lo;     // the next counter block, as a 128-bit number
  uint8_t ks[16];      // keystream of a block begun and not used up
  unsigned ks_used;    // bytes of ks used (16: none left)
} xc_ctr_t;

#ifdef XC_VAES
static int xc_vaes_available (void) {
  static _Atomic int cached = -1; // threads that race here compute the same answer
  int v = atomic_load(&cached);
  if (v < 0) {
    __builtin_cpu_init();
    // Everything the functions below are compiled for: a virtual machine may hide any one of them.
    v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("vaes")
      && __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse4.1");
    atomic_store(&cached, v);
  }
  return v;
}

// One round key from the one two before it and `t`, the key-generation assist's word already
// broadcast to every lane.
__attribute__((target("aes,sse4.1")))
static inline __m128i xc_kx (__m128i k, __m128i t) {
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, t);
}

// The AES-256 key schedule, with AES-NI's key-generation assist.
__attribute__((target("aes,sse4.1")))
static void xc_aes256_keys (__m128i rk[15], const uint8_t key[32]) {
  rk[0] = _mm_loadu_si128((const __m128i *) key);
  rk[1] = _mm_loadu_si128((const __m128i *) (key + 16));
  // Even round keys take the assist's rotated, substituted word (with the round constant), odd
  // ones its substituted word.
#define XC_KX_EVEN(i, rcon) rk[i] = xc_kx(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], rcon), 0xff))
#define XC_KX_ODD(i) rk[i] = xc_kx(rk[i - 2], _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[i - 1], 0), 0xaa))
  XC_KX_EVEN(2, 0x01); XC_KX_ODD(3);
  XC_KX_EVEN(4, 0x02); XC_KX_ODD(5);
  XC_KX_EVEN(6, 0x04); XC_KX_ODD(7);
  XC_KX_EVEN(8, 0x08); XC_KX_ODD(9);
  XC_KX_EVEN(10, 0x10); XC_KX_ODD(11);
  XC_KX_EVEN(12, 0x20); XC_KX_ODD(13);
  XC_KX_EVEN(14, 0x40);
#undef XC_KX_EVEN
#undef XC_KX_ODD
}

// One block of keystream (AES-NI); the counter moves on.
__attribute__((target("aes,sse4.1")))
static __m128i xc_ctr_one (xc_ctr_t *c) {
  __m128i x = _mm_set_epi64x((long long) __builtin_bswap64(c->lo), (long long) __builtin_bswap64(c->hi));
  if (++c->lo == 0) c->hi++;
  x = _mm_xor_si128(x, c->rk[0]);
  for (int r = 1; r < 14; r++) x = _mm_aesenc_si128(x, c->rk[r]);
  return _mm_aesenclast_si128(x, c->rk[14]);
}

// Whole blocks, sixteen at a time in four 512-bit registers. The counters are built as (lo, hi)
// pairs of 64-bit lanes, then byte-reversed into blocks; a run of sixteen whose low half would
// carry into the high half goes one block at a time instead.
__attribute__((target("avx512f,avx512bw,vaes,aes,sse4.1")))
static void xc_ctr_vaes_blocks (xc_ctr_t *c, uint8_t *dst, const uint8_t *src, size_t blocks) {
  __m512i rk[15];
  for (int r = 0; r < 15; r++) rk[r] = _mm512_broadcast_i32x4(c->rk[r]);
  const __m512i rev = _mm512_broadcast_i32x4(_mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m512i first = _mm512_set_epi64(0, 3, 0, 2, 0, 1, 0, 0);
  const __m512i four = _mm512_set_epi64(0, 4, 0, 4, 0, 4, 0, 4);
  while (blocks >= 16 && c->lo <= UINT64_MAX - 16) {
    __m512i n0 = _mm512_add_epi64(_mm512_broadcast_i32x4(_mm_set_epi64x((long long) c->hi, (long long) c->lo)), first);
    __m512i n1 = _mm512_add_epi64(n0, four), n2 = _mm512_add_epi64(n1, four), n3 = _mm512_add_epi64(n2, four);
    __m512i x0 = _mm512_xor_si512(_mm512_shuffle_epi8(n0, rev), rk[0]);
    __m512i x1 = _mm512_xor_si512(_mm512_shuffle_epi8(n1, rev), rk[0]);
    __m512i x2 = _mm512_xor_si512(_mm512_shuffle_epi8(n2, rev), rk[0]);
    __m512i x3 = _mm512_xor_si512(_mm512_shuffle_epi8(n3, rev), rk[0]);
    for (int r = 1; r < 14; r++) {
      x0 = _mm512_aesenc_epi128(x0, rk[r]);
      x1 = _mm512_aesenc_epi128(x1, rk[r]);
      x2 = _mm512_aesenc_epi128(x2, rk[r]);
      x3 = _mm512_aesenc_epi128(x3, rk[r]);
    }
    x0 = _mm512_aesenclast_epi128(x0, rk[14]);
    x1 = _mm512_aesenclast_epi128(x1, rk[14]);
    x2 = _mm512_aesenclast_epi128(x2, rk[14]);
    x3 = _mm512_aesenclast_epi128(x3, rk[14]);
    _mm512_storeu_si512(dst, _mm512_xor_si512(x0, _mm512_loadu_si512(src)));
    _mm512_storeu_si512(dst + 64, _mm512_xor_si512(x1, _mm512_loadu_si512(src + 64)));
    _mm512_storeu_si512(dst + 128, _mm512_xor_si512(x2, _mm512_loadu_si512(src + 128)));
    _mm512_storeu_si512(dst + 192, _mm512_xor_si512(x3, _mm512_loadu_si512(src + 192)));
    c->lo += 16;
    dst += 256;
    src += 256;
    blocks -= 16;
  }
  for (; blocks > 0; blocks--, dst += 16, src += 16) {
    _mm_storeu_si128((__m128i *) dst, _mm_xor_si128(xc_ctr_one(c), _mm_loadu_si128((const __m128i *) src)));
  }
}

__attribute__((target("avx512f,avx512bw,vaes,aes,sse4.1")))
static void xc_ctr_vaes (xc_ctr_t *c, uint8_t *dst, const uint8_t *src, size_t n) {
  while (n > 0 && c->ks_used < 16) { *dst++ = *src++ ^ c->ks[c->ks_used++]; n--; }
  size_t blocks = n / 16;
  if (blocks > 0) xc_ctr_vaes_blocks(c, dst, src, blocks);
  dst += 16 * blocks;
  src += 16 * blocks;
  n -= 16 * blocks;
  if (n > 0) {
    _mm_storeu_si128((__m128i *) c->ks, xc_ctr_one(c));
    c->ks_used = 0;
    while (n > 0) { *dst++ = *src++ ^ c->ks[c->ks_used++]; n--; }
  }
}
#endif

static int xc_ctr_init (xc_ctr_t *c, const uint8_t *key, const uint8_t *iv) {
  memset(c, 0, sizeof(*c));
  c->ks_used = 16;
#ifdef XC_VAES
  if (xc_vaes_available()) {
    xc_aes256_keys(c->rk, key);
    uint64_t hi, lo;
    memcpy(&hi, iv, 8);
    memcpy(&lo, iv + 8, 8);
    c->hi = __builtin_bswap64(hi);
    c->lo = __builtin_bswap64(lo);
    return 1;
  }
#endif
  c->evp = EVP_CIPHER_CTX_new();
  return c->evp != NULL && EVP_EncryptInit_ex(c->evp, EVP_aes_256_ctr(), NULL, key, iv) == 1;
}

// Encrypt (or decrypt: the same) `n` bytes, n < 2^31; a stream may be fed in pieces of any size.
static int xc_ctr_update (xc_ctr_t *c, uint8_t *dst, const uint8_t *src, size_t n) {
  if (c->evp != NULL) {
    int out = 0;
    return n < (1u << 31) && EVP_EncryptUpdate(c->evp, dst, &out, src, (int) n) == 1 && (size_t) out == n;
  }
#ifdef XC_VAES
  xc_ctr_vaes(c, dst, src, n);
  return 1;
#else
  return 0;
#endif
}

// Frees OpenSSL's context, and wipes the round keys and keystream (as OpenSSL wipes its own).
static void xc_ctr_free (xc_ctr_t *c) {
  if (c->evp != NULL) EVP_CIPHER_CTX_free(c->evp);
  OPENSSL_cleanse(c, sizeof(*c));
}

// ---- shard crypto --------------------------------------------------------------------------
//
// The download crypto worker, when it can load this addon: SHA-256 of a shard's ciphertext and its
// AES-256-CTR decryption into the caller's buffer in one pass, 64 KiB at a time (each piece hashed
// while it is in the cache, then decrypted), with Node's own OpenSSL for SHA-256 and the CTR
// above. Node's cipher API allocates every output, and collecting those pieces cost the worker
// about a third of its time. The caller compares the hash with the manifest's and throws the
// output away on a mismatch, so nothing unverified is ever used. Arguments: key (32 bytes), iv (16), ciphertext, output (at least as
// long; the ciphertext's own buffer decrypts in place, since each piece is hashed before it is
// decrypted), digest (32 bytes, written).

#define XC_CRYPTO_PIECE 65536

NAPI_METHOD(xc_hash_ctr) {
  NAPI_ARGV(5)
  NAPI_ARGV_BUFFER(key, 0)
  NAPI_ARGV_BUFFER(iv, 1)
  NAPI_ARGV_BUFFER(src, 2)
  NAPI_ARGV_BUFFER(dst, 3)
  NAPI_ARGV_BUFFER(digest, 4)
  if (key_len != 32 || iv_len != 16 || dst_len < src_len || digest_len < 32) {
    napi_throw_error(env, NULL, "xc_hash_ctr: wrong argument sizes");
    return NULL;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  xc_ctr_t cipher;
  int ok = xc_ctr_init(&cipher, (const uint8_t *) key, (const uint8_t *) iv)
    && md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
  for (size_t off = 0; ok && off < src_len; off += XC_CRYPTO_PIECE) {
    size_t n = src_len - off < XC_CRYPTO_PIECE ? src_len - off : XC_CRYPTO_PIECE;
    ok = EVP_DigestUpdate(md, src + off, n) == 1
      && xc_ctr_update(&cipher, (uint8_t *) dst + off, (const uint8_t *) src + off, n);
  }
  unsigned int digest_out = 0;
  if (ok) ok = EVP_DigestFinal_ex(md, (unsigned char *) digest, &digest_out) == 1 && digest_out == 32;
  EVP_MD_CTX_free(md);
  xc_ctr_free(&cipher);
  if (!ok) napi_throw_error(env, NULL, "xc_hash_ctr: OpenSSL failed");
  return NULL;
}

// The upload side, on the same worker: AES-256-CTR encryption of a shard into the caller's buffer,
// then SHA-256 of the ciphertext and of each salt ‖ ciphertext (proof-of-availability challenges),
// 64 KiB at a time: each piece is encrypted, then hashed by every digest while it is in the cache.
// Arguments: key (32 bytes), iv (16), plaintext, output (at least as long), salts (16 bytes each,
// at most XC_SEAL_SALTS), digests (32 bytes for the hash, then 32 per salt; written).

#define XC_SEAL_SALTS 16

// One shard: key and IV, plaintext and where its ciphertext goes, its salts and digests.
typedef struct {
  const uint8_t *key, *iv, *src, *salts;
  uint8_t *dst, *digests;
  size_t len, nsalts;
} xc_seal_job_t;

static int xc_seal_one (const xc_seal_job_t *j) {
  EVP_MD_CTX *md[XC_SEAL_SALTS + 1] = { 0 };
  xc_ctr_t cipher;
  int ok = xc_ctr_init(&cipher, j->key, j->iv);
  for (size_t i = 0; ok && i <= j->nsalts; i++) {
    md[i] = EVP_MD_CTX_new();
    ok = md[i] != NULL && EVP_DigestInit_ex(md[i], EVP_sha256(), NULL) == 1
      && (i == 0 || EVP_DigestUpdate(md[i], j->salts + 16 * (i - 1), 16) == 1);
  }
  for (size_t off = 0; ok && off < j->len; off += XC_CRYPTO_PIECE) {
    size_t n = j->len - off < XC_CRYPTO_PIECE ? j->len - off : XC_CRYPTO_PIECE;
    ok = xc_ctr_update(&cipher, j->dst + off, j->src + off, n);
    for (size_t i = 0; ok && i <= j->nsalts; i++) ok = EVP_DigestUpdate(md[i], j->dst + off, n) == 1;
  }
  for (size_t i = 0; ok && i <= j->nsalts; i++) {
    unsigned int digest_out = 0;
    ok = EVP_DigestFinal_ex(md[i], j->digests + 32 * i, &digest_out) == 1 && digest_out == 32;
  }
  for (size_t i = 0; i <= j->nsalts; i++) EVP_MD_CTX_free(md[i]);
  xc_ctr_free(&cipher);
  return ok;
}

NAPI_METHOD(xc_seal) {
  NAPI_ARGV(6)
  NAPI_ARGV_BUFFER(key, 0)
  NAPI_ARGV_BUFFER(iv, 1)
  NAPI_ARGV_BUFFER(src, 2)
  NAPI_ARGV_BUFFER(dst, 3)
  NAPI_ARGV_BUFFER(salts, 4)
  NAPI_ARGV_BUFFER(digests, 5)
  size_t nsalts = salts_len / 16;
  if (key_len != 32 || iv_len != 16 || dst_len < src_len || salts_len % 16 != 0 || nsalts > XC_SEAL_SALTS
      || digests_len < 32 * (nsalts + 1)) {
    napi_throw_error(env, NULL, "xc_seal: wrong argument sizes");
    return NULL;
  }
  xc_seal_job_t job = {
    .key = (const uint8_t *) key, .iv = (const uint8_t *) iv, .src = (const uint8_t *) src, .salts = (const uint8_t *) salts,
    .dst = (uint8_t *) dst, .digests = (uint8_t *) digests, .len = src_len, .nsalts = nsalts,
  };
  if (!xc_seal_one(&job)) napi_throw_error(env, NULL, "xc_seal: OpenSSL failed");
  return NULL;
}

// ---- SHA-256 of up to sixteen messages at once (AVX-512) ----------------------------------------
//
// An upload hashes each shard three times (its hash and two challenges), and hashes are the
// upload's largest cost on the client. One core's SHA extensions hash one message at about
// 1.2 GB/s; sixteen messages side by side in the lanes of AVX-512 registers go at about 2.5 GB/s
// in total here. xc_seal_many seals several shards in one call and hashes all their messages
// together. Used only when the CPU has AVX-512 (F and BW) and a batch fills at least
// XC_MB_MIN_LANES lanes; otherwise each message goes through OpenSSL as in xc_seal.

#define XC_MB_LANES 16
#define XC_MB_MIN_LANES 8

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XC_MB_AVX512 1
#include <immintrin.h>
#endif

static const uint32_t xc_k256[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
static const uint32_t xc_h256[8] = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

// One message: a prefix (a challenge's salt, or nothing) then a shard's ciphertext, of which the
// first `ready` bytes are written so far. Its blocks: `full` whole ones of prefix ‖ data (the first
// copied into `first` when there is a prefix, the others read in place), then one or two of
// `tail` (the last bytes and the padding), `total` in all.
typedef struct {
  const uint8_t *data;
  size_t len;
  size_t ready;
  uint8_t prefix[16];
  size_t plen;
  uint64_t block;
  uint64_t full;
  uint64_t total;
  int first_built;
  int tail_built;
  uint8_t first[64];
  uint8_t tail[128];
  uint32_t state[8];
} xc_mb_msg_t;

static void xc_mb_msg_init (xc_mb_msg_t *m, const uint8_t *prefix, size_t plen, const uint8_t *data, size_t len) {
  memset(m, 0, sizeof(*m));
  m->data = data;
  m->len = len;
  m->plen = plen;
  if (plen) memcpy(m->prefix, prefix, plen);
  uint64_t msglen = plen + len;
  m->full = msglen / 64;
  m->total = m->full + ((msglen % 64) + 9 <= 64 ? 1 : 2);
  memcpy(m->state, xc_h256, sizeof(xc_h256));
}

static uint8_t xc_mb_byte (const xc_mb_msg_t *m, uint64_t at) {
  return at < m->plen ? m->prefix[at] : m->data[at - m->plen];
}

// How many blocks from m->block on can be hashed now, one after another in memory; *at is where
// they start. 0 when the message is done or waits for more data.
static uint64_t xc_mb_run (xc_mb_msg_t *m, const uint8_t **at) {
  if (m->block >= m->total) return 0;
  if (m->block < m->full) {
    // Whole blocks: the data they cover must be written.
    uint64_t avail = (m->ready + m->plen) / 64; // blocks of prefix ‖ data entirely written
    if (avail > m->full) avail = m->full;
    if (m->block >= avail) return 0;
    if (m->plen) {
      if (m->block == 0) {
        if (!m->first_built) {
          for (uint64_t i = 0; i < 64; i++) m->first[i] = xc_mb_byte(m, i);
          m->first_built = 1;
        }
        *at = m->first;
        return 1;
      }
    }
    *at = m->data + 64 * m->block - m->plen;
    return avail - m->block;
  }
  if (m->ready < m->len) return 0;
  if (!m->tail_built) {
    uint64_t msglen = m->plen + m->len, from = 64 * m->full, rest = msglen - from;
    memset(m->tail, 0, sizeof(m->tail));
    for (uint64_t i = 0; i < rest; i++) m->tail[i] = xc_mb_byte(m, from + i);
    m->tail[rest] = 0x80;
    uint64_t bits = msglen * 8, end = 64 * (m->total - m->full);
    for (int i = 0; i < 8; i++) m->tail[end - 1 - i] = (uint8_t) (bits >> (8 * i));
    m->tail_built = 1;
  }
  *at = m->tail + 64 * (m->block - m->full);
  return m->total - m->block;
}

static void xc_mb_digest (const xc_mb_msg_t *m, uint8_t *out) {
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t) (m->state[i] >> 24);
    out[4 * i + 1] = (uint8_t) (m->state[i] >> 16);
    out[4 * i + 2] = (uint8_t) (m->state[i] >> 8);
    out[4 * i + 3] = (uint8_t) m->state[i];
  }
}

#ifdef XC_MB_AVX512
static const uint8_t xc_mb_zero[64];

static int xc_mb_available (void) {
  static _Atomic int cached = -1; // threads that race here compute the same answer
  int v = atomic_load(&cached);
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    atomic_store(&cached, v);
  }
  return v;
}

// Hash as many blocks of the n (<= 16) messages as are ready. Each step takes one 64-byte block
// from every lane that has one, transposes them so that vector i holds word i of every lane, and
// does the 64 rounds on all lanes at once.
__attribute__((target("avx512f,avx512bw")))
static void xc_mb_hash (xc_mb_msg_t **msgs, int n) {
  const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  __m512i st[8];
  {
    uint32_t words[8][XC_MB_LANES] = { { 0 } };
    for (int l = 0; l < n; l++) for (int j = 0; j < 8; j++) words[j][l] = msgs[l]->state[j];
    for (int j = 0; j < 8; j++) st[j] = _mm512_loadu_si512((const void *) words[j]);
  }
  for (;;) {
    const uint8_t *ptr[XC_MB_LANES];
    uint64_t steps = UINT64_MAX;
    __mmask16 mask = 0;
    for (int l = 0; l < XC_MB_LANES; l++) {
      ptr[l] = xc_mb_zero;
      if (l >= n) continue;
      uint64_t run = xc_mb_run(msgs[l], &ptr[l]);
      if (run == 0) { ptr[l] = xc_mb_zero; continue; }
      mask |= (__mmask16) (1u << l);
      if (run < steps) steps = run;
    }
    if (!mask) break;
    for (uint64_t s = 0; s < steps; s++) {
      __m512i r[16], t[16], w[16];
      for (int l = 0; l < 16; l++) r[l] = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *) ptr[l]), bswap);
      for (int i = 0; i < 16; i += 2) { t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]); t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]); }
      for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]); r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]); r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
      }
      for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88); t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88); t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
      }
      for (int i = 0; i < 4; i++) {
        w[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88); w[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
        w[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88); w[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
      }
      __m512i a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
#define XC_MB_ROUND(i, W) do { \
        __m512i s1_ = _mm512_ternarylogic_epi32(_mm512_ror_epi32(e, 6), _mm512_ror_epi32(e, 11), _mm512_ror_epi32(e, 25), 0x96); \
        __m512i ch_ = _mm512_ternarylogic_epi32(e, f, g, 0xca); \
        __m512i t1_ = _mm512_add_epi32(_mm512_add_epi32(h, s1_), _mm512_add_epi32(ch_, _mm512_add_epi32((W), _mm512_set1_epi32((int) xc_k256[i])))); \
        __m512i s0_ = _mm512_ternarylogic_epi32(_mm512_ror_epi32(a, 2), _mm512_ror_epi32(a, 13), _mm512_ror_epi32(a, 22), 0x96); \
        __m512i mj_ = _mm512_ternarylogic_epi32(a, b, c, 0xe8); \
        h = g; g = f; f = e; e = _mm512_add_epi32(d, t1_); d = c; c = b; b = a; a = _mm512_add_epi32(t1_, _mm512_add_epi32(s0_, mj_)); \
      } while (0)
      for (int i = 0; i < 16; i++) XC_MB_ROUND(i, w[i]);
      for (int i = 16; i < 64; i++) {
        __m512i x = w[(i - 15) & 15], y = w[(i - 2) & 15];
        __m512i s0 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 7), _mm512_ror_epi32(x, 18), _mm512_srli_epi32(x, 3), 0x96);
        __m512i s1 = _mm512_ternarylogic_epi32(_mm512_ror_epi32(y, 17), _mm512_ror_epi32(y, 19), _mm512_srli_epi32(y, 10), 0x96);
        w[i & 15] = _mm512_add_epi32(_mm512_add_epi32(w[i & 15], s0), _mm512_add_epi32(w[(i - 7) & 15], s1));
        XC_MB_ROUND(i, w[i & 15]);
      }
#undef XC_MB_ROUND
      st[0] = _mm512_mask_add_epi32(st[0], mask, st[0], a); st[1] = _mm512_mask_add_epi32(st[1], mask, st[1], b);
      st[2] = _mm512_mask_add_epi32(st[2], mask, st[2], c); st[3] = _mm512_mask_add_epi32(st[3], mask, st[3], d);
      st[4] = _mm512_mask_add_epi32(st[4], mask, st[4], e); st[5] = _mm512_mask_add_epi32(st[5], mask, st[5], f);
      st[6] = _mm512_mask_add_epi32(st[6], mask, st[6], g); st[7] = _mm512_mask_add_epi32(st[7], mask, st[7], h);
      for (int l = 0; l < 16; l++) if (mask & (1u << l)) ptr[l] += 64;
    }
    for (int l = 0; l < n; l++) if (mask & (1u << l)) msgs[l]->block += steps;
  }
  uint32_t words[8][XC_MB_LANES];
  for (int j = 0; j < 8; j++) _mm512_storeu_si512((void *) words[j], st[j]);
  for (int l = 0; l < n; l++) for (int j = 0; j < 8; j++) msgs[l]->state[j] = words[j][l];
}
#else
static int xc_mb_available (void) { return 0; }
static void xc_mb_hash (xc_mb_msg_t **msgs, int n) { (void) msgs; (void) n; }
#endif

// Lanes a batch of shards would fill in the sixteen-lane hash: 16 when it can be used, else 1.
NAPI_METHOD(xc_seal_lanes) {
  napi_value out;
  napi_create_uint32(env, xc_mb_available() ? XC_MB_LANES : 1, &out);
  return out;
}

// Seal jobs[0..n) whose messages fit in the sixteen lanes: each round encrypts the next 64 KiB of
// every shard, then hashes every message as far as its ciphertext is written, while it is in the
// cache.
static int xc_seal_set (const xc_seal_job_t *jobs, size_t n) {
  xc_mb_msg_t msgs[XC_MB_LANES];
  xc_mb_msg_t *lanes[XC_MB_LANES];
  xc_ctr_t ciphers[XC_MB_LANES];
  int nl = 0, ok = 1;
  size_t longest = 0;
  for (size_t s = 0; s < n; s++) {
    const xc_seal_job_t *j = &jobs[s];
    if (j->len > longest) longest = j->len;
    for (size_t i = 0; i <= j->nsalts; i++) {
      xc_mb_msg_init(&msgs[nl], i == 0 ? NULL : j->salts + 16 * (i - 1), i == 0 ? 0 : 16, j->dst, j->len);
      lanes[nl] = &msgs[nl];
      nl++;
    }
    // Every context is set up (and freed below), even after one failed.
    ok = xc_ctr_init(&ciphers[s], j->key, j->iv) && ok;
  }
  for (size_t off = 0; ok && off < longest; off += XC_CRYPTO_PIECE) {
    int l = 0;
    for (size_t s = 0; ok && s < n; s++) {
      const xc_seal_job_t *j = &jobs[s];
      size_t end = j->len;
      if (off < j->len) {
        size_t len = j->len - off < XC_CRYPTO_PIECE ? j->len - off : XC_CRYPTO_PIECE;
        ok = xc_ctr_update(&ciphers[s], j->dst + off, j->src + off, len);
        end = off + len;
      }
      for (size_t i = 0; i <= j->nsalts; i++) msgs[l++].ready = end;
    }
    if (ok) xc_mb_hash(lanes, nl);
  }
  if (ok) {
    for (int l = 0; l < nl; l++) msgs[l].ready = msgs[l].len; // shards of no bytes
    xc_mb_hash(lanes, nl);
    int l = 0;
    for (size_t s = 0; s < n; s++) {
      for (size_t i = 0; i <= jobs[s].nsalts; i++, l++) {
        if (msgs[l].block != msgs[l].total) ok = 0;
        xc_mb_digest(&msgs[l], jobs[s].digests + 32 * i);
      }
    }
  }
  for (size_t s = 0; s < n; s++) xc_ctr_free(&ciphers[s]);
  return ok;
}

// Several shards at once (what xc_seal does for one). Arguments: keys (32 bytes per shard), ivs
// (16 per shard), an array of plaintexts, an array of outputs (each at least as long as its
// plaintext, and either exactly its plaintext, for encryption in place, or apart from every other
// buffer), salts (16 bytes each, `per` per shard), `per`, digests (32 bytes per message: each
// shard's hash, then one per salt; written).

#define XC_SEAL_MANY_MAX 256

static int xc_apart (const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
  return a_len == 0 || b_len == 0 || a + a_len <= b || b + b_len <= a;
}

// Whether what the call writes (each output, the digests) overlaps nothing else it reads or writes,
// apart from an output that is exactly its own plaintext.
static int xc_seal_many_apart (const xc_seal_job_t *jobs, size_t n, const uint8_t *const ro[3], const size_t ro_len[3], const uint8_t *digests, size_t digests_len) {
  for (size_t i = 0; i < n; i++) {
    const uint8_t *d = jobs[i].dst;
    size_t dl = jobs[i].len;
    if (!(d == jobs[i].src || xc_apart(d, dl, jobs[i].src, dl))) return 0;
    if (!xc_apart(d, dl, digests, digests_len)) return 0;
    for (int r = 0; r < 3; r++) if (!xc_apart(d, dl, ro[r], ro_len[r])) return 0;
    for (size_t j = 0; j < n; j++) {
      if (j == i) continue;
      if (!xc_apart(d, dl, jobs[j].src, jobs[j].len) || !xc_apart(d, dl, jobs[j].dst, jobs[j].len)) return 0;
    }
  }
  for (size_t j = 0; j < n; j++) if (!xc_apart(digests, digests_len, jobs[j].src, jobs[j].len)) return 0;
  for (int r = 0; r < 3; r++) if (!xc_apart(digests, digests_len, ro[r], ro_len[r])) return 0;
  return 1;
}

NAPI_METHOD(xc_seal_many) {
  NAPI_ARGV(7)
  uint32_t n = 0, n_out = 0, per = 0;
  if (napi_get_array_length(env, argv[2], &n) != napi_ok || napi_get_array_length(env, argv[3], &n_out) != napi_ok
      || napi_get_value_uint32(env, argv[5], &per) != napi_ok || n != n_out || n == 0 || n > XC_SEAL_MANY_MAX || per > XC_SEAL_SALTS) {
    napi_throw_error(env, NULL, "xc_seal_many: wrong arguments");
    return NULL;
  }
  // The arrays' elements first: reading an element can run JavaScript (a getter), which could
  // detach a buffer whose memory was already taken. Buffer info runs none.
  napi_value elements[2 * XC_SEAL_MANY_MAX];
  for (uint32_t s = 0; s < n; s++) {
    if (napi_get_element(env, argv[2], s, &elements[2 * s]) != napi_ok || napi_get_element(env, argv[3], s, &elements[2 * s + 1]) != napi_ok) {
      napi_throw_error(env, NULL, "xc_seal_many: wrong arguments");
      return NULL;
    }
  }
  void *keys = NULL, *ivs = NULL, *salts = NULL, *digests = NULL;
  size_t keys_len = 0, ivs_len = 0, salts_len = 0, digests_len = 0;
  if (napi_get_buffer_info(env, argv[0], &keys, &keys_len) != napi_ok || napi_get_buffer_info(env, argv[1], &ivs, &ivs_len) != napi_ok
      || napi_get_buffer_info(env, argv[4], &salts, &salts_len) != napi_ok || napi_get_buffer_info(env, argv[6], &digests, &digests_len) != napi_ok
      || keys_len != 32 * (size_t) n || ivs_len != 16 * (size_t) n || salts_len != 16 * (size_t) per * n || digests_len < 32 * (size_t) (per + 1) * n) {
    napi_throw_error(env, NULL, "xc_seal_many: wrong arguments");
    return NULL;
  }
  xc_seal_job_t jobs[XC_SEAL_MANY_MAX];
  for (uint32_t s = 0; s < n; s++) {
    void *src = NULL, *dst = NULL;
    size_t src_len = 0, dst_len = 0;
    if (napi_get_buffer_info(env, elements[2 * s], &src, &src_len) != napi_ok || napi_get_buffer_info(env, elements[2 * s + 1], &dst, &dst_len) != napi_ok
        || dst_len < src_len || src_len > INT32_MAX) {
      napi_throw_error(env, NULL, "xc_seal_many: wrong arguments");
      return NULL;
    }
    jobs[s] = (xc_seal_job_t) {
      .key = (const uint8_t *) keys + 32 * s, .iv = (const uint8_t *) ivs + 16 * s, .src = src, .dst = dst,
      .salts = (const uint8_t *) salts + 16 * (size_t) per * s, .digests = (uint8_t *) digests + 32 * (size_t) (per + 1) * s,
      .len = src_len, .nsalts = per,
    };
  }
  const uint8_t *ro[3] = { keys, ivs, salts };
  const size_t ro_len[3] = { keys_len, ivs_len, salts_len };
  if (!xc_seal_many_apart(jobs, n, ro, ro_len, digests, 32 * (size_t) (per + 1) * n)) {
    napi_throw_error(env, NULL, "xc_seal_many: overlapping buffers");
    return NULL;
  }
  // Shards go in sets that fit the lanes; a set too small to be worth it, or a CPU without
  // AVX-512, goes one shard at a time through OpenSSL.
  int ok = 1;
  size_t lanes_per = (size_t) per + 1, fit = XC_MB_LANES / lanes_per;
  for (size_t s = 0; ok && s < n; ) {
    size_t take = n - s < fit ? n - s : fit;
    if (xc_mb_available() && take * lanes_per >= XC_MB_MIN_LANES) {
      ok = xc_seal_set(jobs + s, take);
      s += take;
    } else {
      ok = xc_seal_one(&jobs[s]);
      s += 1;
    }
  }
  if (!ok) napi_throw_error(env, NULL, "xc_seal_many: OpenSSL failed");
  return NULL;
}

// ---- memory ------------------------------------------------------------------------------------
//
// JavaScript, once at mount: allocations of 1 MiB and more (shard buffers, 2 MiB) get their own
// mappings, returned to the system when freed. glibc raises that threshold after each large free
// (up to 32 MiB), after which shard-sized buffers come from the heap and their pages stay resident
// once freed: about 20 MB of the daemon's peak resident memory over bench:mount's workload.
// Not lower: libfuse allocates each read's 128 KiB reply buffer with malloc, and a fresh mapping
// per read costs 32 page faults and zeroed pages on every request (a third of a cold read's
// kernel time). Returns 1 if applied.
NAPI_METHOD(xc_malloc_large_mapped) {
  napi_value out;
#ifdef __GLIBC__
  int ok = mallopt(M_MMAP_THRESHOLD, 1024 * 1024) == 1;
#else
  int ok = 0;
#endif
  napi_create_uint32(env, ok ? 1 : 0, &out);
  return out;
}

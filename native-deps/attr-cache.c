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

// ---- shard crypto --------------------------------------------------------------------------
//
// The download crypto worker, when it can load this addon: SHA-256 of a shard's ciphertext and its
// AES-256-CTR decryption into the caller's buffer in one pass, 64 KiB at a time (each piece hashed
// while it is in the cache, then decrypted), with Node's own OpenSSL. Node's cipher API allocates
// every output, and collecting those pieces cost the worker about a third of its time. The caller
// compares the hash with the manifest's and throws the output away on a mismatch, so nothing
// unverified is ever used. Arguments: key (32 bytes), iv (16), ciphertext, output (at least as
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
  EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
  int ok = md != NULL && cipher != NULL
    && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
    && EVP_EncryptInit_ex(cipher, EVP_aes_256_ctr(), NULL, (const unsigned char *) key, (const unsigned char *) iv) == 1;
  for (size_t off = 0; ok && off < src_len; off += XC_CRYPTO_PIECE) {
    size_t n = src_len - off < XC_CRYPTO_PIECE ? src_len - off : XC_CRYPTO_PIECE;
    int out_len = 0;
    ok = EVP_DigestUpdate(md, src + off, n) == 1
      && EVP_EncryptUpdate(cipher, (unsigned char *) dst + off, &out_len, (const unsigned char *) src + off, (int) n) == 1
      && (size_t) out_len == n;
  }
  unsigned int digest_out = 0;
  if (ok) ok = EVP_DigestFinal_ex(md, (unsigned char *) digest, &digest_out) == 1 && digest_out == 32;
  EVP_MD_CTX_free(md);
  EVP_CIPHER_CTX_free(cipher);
  if (!ok) napi_throw_error(env, NULL, "xc_hash_ctr: OpenSSL failed");
  return NULL;
}

// The upload side, on the same worker: AES-256-CTR encryption of a shard into the caller's buffer,
// then SHA-256 of the ciphertext and of each salt ‖ ciphertext (proof-of-availability challenges),
// 64 KiB at a time: each piece is encrypted, then hashed by every digest while it is in the cache.
// Arguments: key (32 bytes), iv (16), plaintext, output (at least as long), salts (16 bytes each,
// at most XC_SEAL_SALTS), digests (32 bytes for the hash, then 32 per salt; written).

#define XC_SEAL_SALTS 16

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
  EVP_MD_CTX *md[XC_SEAL_SALTS + 1] = { 0 };
  EVP_CIPHER_CTX *cipher = EVP_CIPHER_CTX_new();
  int ok = cipher != NULL
    && EVP_EncryptInit_ex(cipher, EVP_aes_256_ctr(), NULL, (const unsigned char *) key, (const unsigned char *) iv) == 1;
  for (size_t i = 0; ok && i <= nsalts; i++) {
    md[i] = EVP_MD_CTX_new();
    ok = md[i] != NULL && EVP_DigestInit_ex(md[i], EVP_sha256(), NULL) == 1
      && (i == 0 || EVP_DigestUpdate(md[i], (const char *) salts + 16 * (i - 1), 16) == 1);
  }
  for (size_t off = 0; ok && off < src_len; off += XC_CRYPTO_PIECE) {
    size_t n = src_len - off < XC_CRYPTO_PIECE ? src_len - off : XC_CRYPTO_PIECE;
    int out_len = 0;
    ok = EVP_EncryptUpdate(cipher, (unsigned char *) dst + off, &out_len, (const unsigned char *) src + off, (int) n) == 1
      && (size_t) out_len == n;
    for (size_t i = 0; ok && i <= nsalts; i++) ok = EVP_DigestUpdate(md[i], (const char *) dst + off, n) == 1;
  }
  for (size_t i = 0; ok && i <= nsalts; i++) {
    unsigned int digest_out = 0;
    ok = EVP_DigestFinal_ex(md[i], (unsigned char *) digests + 32 * i, &digest_out) == 1 && digest_out == 32;
  }
  for (size_t i = 0; i <= nsalts; i++) EVP_MD_CTX_free(md[i]);
  EVP_CIPHER_CTX_free(cipher);
  if (!ok) napi_throw_error(env, NULL, "xc_seal: OpenSSL failed");
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

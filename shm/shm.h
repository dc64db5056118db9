/*
 * The shared segment.  Only shm/ knows its layout.  It is a memfd mapped
 * MAP_SHARED by the master before the first fork, so every worker sees
 * it at the same address; still, everything inside is addressed by
 * offsets from the base, never by pointers, so that a process mapping it
 * elsewhere (a new binary after an upgrade) reads the same data.
 *
 *   +--------------------+  0
 *   | struct shm_header  |  magic, layout version, size, the allocator's
 *   |                    |  state and the directory of tables
 *   +--------------------+
 *   | page map           |  one word per page of the heap
 *   +--------------------+  heap.start (page aligned)
 *   | heap               |  pages handed out by shm_alloc(): small
 *   |                    |  blocks from per-class slabs, larger ones as
 *   |                    |  runs of pages; shm_free() gives them back
 *   +--------------------+  size
 *
 * Tables (upstreams, backends, listeners, workers, limits, approvals,
 * the event ring, the cache's zones) are registered in the directory at creation and found by
 * their id, so that a new table is one more id, not one more header
 * field.  Slots keyed by a name carry a reference count: one reference
 * per generation that uses the slot, dropped when that generation is
 * gone, so that names that come and go across reloads do not use up the
 * tables.
 */
#ifndef CT_SHM_H
#define CT_SHM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC    UINT64_C(0x31454c5454554331)   /* "1CUTTLE1" */
#define SHM_VERSION  18
#define SHM_MIN_SIZE (8 * 1024 * 1024)
#define SHM_NAME_LEN 64             /* upstream and listener names, with the NUL */

#define SHM_PAGE        4096
#define SHM_CLASS_MIN   64          /* the smallest block; a free one holds its links */
#define SHM_CLASSES     6           /* 64, 128, ..., 2048; larger: runs of pages */
#define SHM_TABLES_MAX  16

/* The registered tables; a new table takes the next id. */
enum shm_table_id {
	SHM_TABLE_UPSTREAMS,        /* struct shm_upstream, by upstream name */
	SHM_TABLE_BACKENDS,         /* struct shm_backend, by upstream and address */
	SHM_TABLE_LISTENERS,        /* struct shm_listener, by listener name */
	SHM_TABLE_WORKERS,          /* struct shm_worker, one per live worker */
	SHM_TABLE_LIMITS,           /* struct shm_limit, by limit name and zone size */
	SHM_TABLE_APPROVALS,        /* struct shm_approval_slot, the decisions (shm/approval.h) */
	SHM_TABLE_APPROVAL_INDEX,   /* one struct shm_approvals: their index for lookups */
	SHM_TABLE_EVENTS,           /* the event ring: its counters, then its records */
	SHM_TABLE_CACHE_ZONES,      /* struct shm_cache_zone, by name and layout (shm/cache.h) */
	SHM_TABLE_CLUSTER,          /* one struct shm_cluster (shm/cluster.h) */
	SHM_TABLE_IDS
};

struct shm {
	void *base;
	size_t size;
	int fd;
};

/* One entry of the directory; off 0: not registered. */
struct shm_table {
	char name[16];
	uint64_t off;
	uint32_t stride;
	uint32_t count;
	atomic_uint used;           /* slots taken, for /metrics */
};

/*
 * The allocator.  Every field but the counters is read and written
 * under lock only; the counters are atomics so that the admin process
 * reads them without taking it.
 */
struct shm_heap {
	pthread_mutex_t lock;       /* robust, process-shared */
	uint64_t map_off;           /* uint32_t per heap page, SHM_PAGE_* below */
	uint64_t start;             /* offset of heap page 0 */
	uint32_t npages;
	uint32_t top;               /* pages from here on were never handed out */
	uint64_t free_head[SHM_CLASSES];  /* first free block of each class; 0: none */
	atomic_uint_fast64_t used;  /* bytes handed out (whole blocks and runs) */
	atomic_uint_fast64_t allocs;
	atomic_uint_fast64_t frees;
	atomic_uint_fast64_t failures;
	atomic_uint_fast64_t class_used[SHM_CLASSES];  /* blocks handed out per class */
};

/*
 * Text written by one process and read by others (a check's failure
 * reason), under a sequence counter: odd while a write is under way.
 * The bytes are stored as relaxed atomic words, so that a read racing
 * a write is defined behaviour and is simply retried.
 */
#define SHM_TEXT_LEN 96
struct shm_text {
	atomic_uint seq;
	atomic_uint_fast64_t w[SHM_TEXT_LEN / 8];
};

/*
 * The keys of TLS session tickets that every worker shares, the one to
 * encrypt with first, under a sequence counter like shm_text.  Written
 * by the master only: made at start, rotated every SHM_TLS_KEYS_ROTATE
 * seconds; a reload keeps them, so tickets survive it.
 */
#define SHM_TLS_KEYS        3
#define SHM_TLS_KEY_LEN     80
#define SHM_TLS_KEYS_ROTATE 3600
struct shm_tls_keys {
	atomic_uint seq;
	atomic_uint_fast64_t w[SHM_TLS_KEYS * SHM_TLS_KEY_LEN / 8];
	atomic_uint_fast64_t rotated;     /* CLOCK_MONOTONIC seconds of the last rotation */
};

/*
 * The master's link to Redis (master/redis.h), for /metrics and the
 * status: written by the master only, read by the admin process.
 */
enum shm_redis_state {
	SHM_REDIS_OFF,              /* no redis section: standalone */
	SHM_REDIS_DISCOVER,         /* asking a sentinel where the master is */
	SHM_REDIS_CONNECTING,       /* connecting */
	SHM_REDIS_AUTH,             /* AUTH, SELECT and ROLE sent, not all answered */
	SHM_REDIS_READY,            /* commands flow */
	SHM_REDIS_DOWN,             /* failed; waiting for the backoff to try again */
	SHM_REDIS_STATES
};

enum shm_redis_result { SHM_REDIS_CMD_OK, SHM_REDIS_CMD_ERROR, SHM_REDIS_CMD_TIMEOUT,
	SHM_REDIS_CMD_RESULTS };

struct shm_redis {
	atomic_int state;                 /* enum shm_redis_state */
	atomic_int up;                    /* READY now */
	atomic_uint_fast64_t since;       /* CLOCK_REALTIME seconds: up or down since */
	atomic_uint_fast64_t changes;     /* between up and down */
	atomic_uint_fast64_t commands[SHM_REDIS_CMD_RESULTS];
	struct shm_text server;           /* the Redis in use or last tried */
	struct shm_text reason;           /* why it is down */
};

struct shm_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t size;
	struct shm_heap heap;
	struct shm_table tables[SHM_TABLES_MAX];  /* indexed by enum shm_table_id */
	atomic_uint_fast64_t conn_seq;    /* the last connection id handed out */
	atomic_uint_fast64_t name_seq;    /* the last named-slot incarnation handed out */
	/* What the master is doing, for the control API; written by the master only. */
	atomic_int master_pid;
	atomic_uint_fast64_t started;     /* CLOCK_REALTIME seconds */
	atomic_uint generation;           /* of the workers now accepting */
	atomic_int worker_pids[64];       /* per slot of that generation; 0 = none */
	atomic_uint workers;              /* slots of that generation */
	/* The last reload (SIGHUP), for "cuttle -s reload" and /metrics; master only. */
	atomic_uint_fast64_t reload_seq;  /* reloads done; moves after the fields below */
	atomic_uint_fast64_t reload_time; /* CLOCK_REALTIME seconds; the start before any */
	atomic_int reload_failed;         /* the last one failed */
	atomic_uint_fast64_t reloads_ok;
	atomic_uint_fast64_t reloads_failed;
	struct shm_text reload_why;       /* why the last one failed */
	/* Log lines the workers dropped because the reader was behind, by enum shm_log. */
	atomic_uint_fast64_t log_dropped[2];
	struct shm_tls_keys tls_keys;
	struct shm_redis redis;
};

/*
 * Creates and maps a segment of size bytes (>= SHM_MIN_SIZE), lays out
 * the header, the allocator and every table (shm/layout.c).  Returns
 * CT_ERROR with a logged reason.
 */
int shm_create(struct shm *shm, size_t size);
/* shm_create()'s first step: the segment, its header and the allocator. */
int shm_segment_create(struct shm *shm, size_t size);
void shm_destroy(struct shm *shm);

/*
 * Is the segment at base, mapped with size bytes, one this binary can
 * use: magic, layout version, header size, size and every table inside
 * it?  Logs what is wrong, as the error of "who" (the process checking),
 * and returns CT_ERROR; never touches more than the header.
 */
int shm_check(const void *base, size_t size, const char *who);

static inline void *
shm_ptr(const struct shm *shm, uint64_t off)
{
	return (char *)shm->base + off;
}

static inline struct shm_header *
shm_header(const struct shm *shm)
{
	return shm->base;
}

/*
 * Allocates len bytes, zeroed, and returns their offset, or 0 when no
 * room is left (counted in heap.failures).  Blocks up to 2048 bytes come
 * from a slab of their power-of-two class and are aligned on their size;
 * larger ones are runs of whole pages.
 */
uint64_t shm_alloc(struct shm *shm, size_t len);
/* Gives back what shm_alloc() returned; 0 is ignored, a bad offset logged. */
void shm_free(struct shm *shm, uint64_t off);
/* What the allocator has handed out, for /metrics; read without the lock. */
struct shm_usage {
	uint64_t size;              /* the segment */
	uint64_t heap;              /* of which the allocator manages */
	uint64_t used;              /* bytes handed out, whole blocks and pages */
	uint64_t allocs, frees, failures;
	uint64_t class_used[SHM_CLASSES];   /* blocks in use per class */
};
void shm_usage_get(const struct shm *shm, struct shm_usage *u);
/* The block size of class c (0 .. SHM_CLASSES - 1). */
size_t shm_class_size(unsigned c);

/* shm_create()'s: lays out the page map and the heap after the header. */
int shm_heap_init(struct shm *shm);

/*
 * The directory.  Registering allocates count zeroed slots of stride
 * bytes; returns CT_ERROR when the segment has no room.
 */
int shm_table_register(struct shm *shm, enum shm_table_id id, const char *name,
    size_t stride, uint32_t count);

static inline const struct shm_table *
shm_table(const struct shm *shm, enum shm_table_id id)
{
	return &shm_header(shm)->tables[id];
}

static inline void *
shm_table_slot(const struct shm *shm, enum shm_table_id id, int idx)
{
	const struct shm_table *t = shm_table(shm, id);

	return (char *)shm->base + t->off + (size_t)idx * t->stride;
}

/*
 * Tables of slots keyed by a name (upstreams, listeners) begin each slot
 * with these fields, so that one function finds, takes and gives back a
 * slot.  in_use is 0 for a free slot, else the slot's incarnation, new
 * at every take: a reader in another process that sees the same
 * incarnation before and after copying the name copied a whole one.
 */
struct shm_named {
	atomic_uint_fast64_t in_use;
	uint32_t refs;              /* generations using the slot; the master's alone */
	char name[SHM_NAME_LEN];
};

/*
 * Finds the slot named name in table id, or takes the first free one,
 * zeroed and named, and adds a reference to it.  Returns the slot index,
 * or -1 when the table is full or the name too long.
 */
int shm_named_acquire(struct shm *shm, enum shm_table_id id, const char *name);
/*
 * For tables keyed by more than a name (backends): zeroes free slot idx,
 * names it and gives it one reference; the caller fills in the rest and
 * publishes it, after which other processes see it in use.
 */
void *shm_named_take(struct shm *shm, enum shm_table_id id, int idx, const char *name);
void shm_named_publish(struct shm *shm, enum shm_table_id id, int idx);
/* Drops a reference; the last one frees the slot, counters and name. */
void shm_named_release(struct shm *shm, enum shm_table_id id, int idx);
/*
 * Copies the name of slot idx into out (SHM_NAME_LEN bytes), consistent
 * with the slot's being in use.  Returns 0 for a free slot (or one
 * taken again while copying, after a few tries).
 */
int shm_named_read(const struct shm *shm, enum shm_table_id id, int idx, char *out);

/* Counts a slot taken (+1) or given back (-1) in its table's directory entry. */
void shm_table_count(struct shm *shm, enum shm_table_id id, int delta);

/*
 * len bytes (a multiple of 8) of src into the words w under *seqp, odd
 * while under way; one writer at a time.  shm_seq_read() copies them
 * out, or returns CT_AGAIN with out zeroed when every try met a write.
 */
void shm_seq_write(atomic_uint *seqp, atomic_uint_fast64_t *w, const void *src, size_t len);
int shm_seq_read(const atomic_uint *seqp, const atomic_uint_fast64_t *w, void *out, size_t len);

/* Stores s, cut to SHM_TEXT_LEN - 1 bytes; one writer at a time. */
void shm_text_write(struct shm_text *t, const char *s);
/*
 * Copies the text into out (SHM_TEXT_LEN bytes, NUL-terminated).
 * Returns CT_OK, or CT_AGAIN with out empty if every try met a write
 * under way (a writer that died mid-write leaves the counter odd).
 */
int shm_text_read(const struct shm_text *t, char *out);

/* "off", "discover", "connecting", "auth", "ready", "down". */
const char *shm_redis_state_name(int state);

/* Master: the keys in, keys[0] first (SHM_TLS_KEYS * SHM_TLS_KEY_LEN bytes). */
void shm_tls_keys_write(struct shm_tls_keys *k, const unsigned char *keys);
/* Copies them into out; CT_AGAIN (out zeroed) if every try met a write. */
int shm_tls_keys_read(const struct shm_tls_keys *k, unsigned char *out);

/*
 * Process-shared robust mutexes.  A process that dies holding one does
 * not wedge the others: the next locker recovers it and logs that it
 * did, naming what the lock protects.  The lock returns CT_DONE when it
 * was recovered, so that a caller whose structure a half-done update
 * may have left inconsistent repairs it before going on; CT_OK else.
 * CT_ERROR (logged) when the lock is not held: it can no longer be
 * recovered (ENOTRECOVERABLE: a recoverer died before making it
 * consistent), or the mutex is not one; the caller must then touch
 * nothing the lock protects.
 */
int shm_mutex_init(pthread_mutex_t *m);
int shm_mutex_lock(pthread_mutex_t *m, const char *what);
void shm_mutex_unlock(pthread_mutex_t *m);

#endif

/*
 * The object store of the HTTP cache: named zones in the shared segment,
 * each an index of objects by key, written while they stream in and
 * read by every worker from the segment's memory, without copies.  Only
 * storage: what may be stored, for how long and for which request is
 * lib/http_cache.c's business.
 *
 * A zone is its own arena: one run of pages taken from the segment's
 * allocator when the zone is made, cut into fixed-size chunks (4 KiB by
 * default) and the records that describe them:
 *
 *   chunks    object bytes; an object is two chains of chunks: "meta"
 *             (its keys and Vary names, then its head blob, which
 *             starts a chunk when it would straddle one that holds it
 *             whole, so that a head of a chunk or less is one iovec)
 *             and "body"; a body may be shared by the entries that
 *             shm_cache_update_head() made of one object
 *   shares    one word per chunk: for the first chunk of a body, how
 *             many entries besides one share it
 *   next[]    one word per chunk: the next one of its chain, or of the
 *             free list (kept apart from the bytes, so that a chunk is
 *             all data and goes to writev() whole)
 *   entries   one record per object, as many as chunks (an object holds
 *             at least one): state, key hashes, chains, lengths, LRU
 *             and hash links, references, the filler
 *   buckets   heads of the hash chains, by the keyed hash of the
 *             primary key, so that the variants of a key share a chain
 *   procs     per process that uses the zone: the references it holds
 *   marks     a bitmap of chunks, the repair's scratch space
 *
 * Why not the segment's allocator per chunk: the zone's bound would
 * then be a count, not memory set apart, and every store would take the
 * segment-wide heap lock.  Why fixed chunks: any chunk serves any need,
 * so evicting an object always yields room that the next store can use
 * (page runs would fragment), and the free list can be rebuilt from the
 * entries alone after a crash.  What it costs: up to a chunk of slack
 * per chain, which the zone's chunk size trades against the number of
 * iovecs per object.
 *
 * One robust mutex per zone covers the index, the LRU, the free lists,
 * the entries' links and the processes' references.  Object bytes are
 * written outside it: the filler takes chunks under the lock, links them
 * to its entry, copies into them unlocked and publishes the new length
 * with a release store, which readers (waiters on a fill) load with
 * acquire; a waiter registers its wake index in the entry's bitmap and
 * sleeps on its eventfd, which the filler writes at the head, at each
 * new chunk and at the end (struct shm_cache_wake).  A lookup hashes the
 * key before the lock, then walks one
 * chain, compares the whole key on a hash match, takes a reference and
 * unlocks: no allocation, no system call.
 *
 * References: a count per entry, and per process a table of the entries
 * it holds with a count each, both under the lock.  A reader sends from
 * the object's chunks for as long as it holds its reference, over as
 * many event-loop turns as it takes; an object that is replaced, purged
 * or aborted leaves the index at once and is freed at its last release.
 * The per-process tables are what makes a crash recoverable: when a
 * worker dies, the master's shm_cache_reap() drops what it held and
 * aborts what it was filling.  A process holds at most the zone's
 * hold_max distinct entries at once (any number of references to each;
 * the master sizes it from worker_connections); beyond that a lookup
 * answers SHM_CACHE_BUSY and the caller goes to the origin without the
 * cache.
 *
 * A process that dies inside the lock leaves the zone as it was at that
 * point; the next locker gets EOWNERDEAD and rebuilds everything derived
 * (free lists, hash chains, LRU, counts, per-entry reference counts)
 * from the entries and the processes' tables, dropping entries whose
 * chains do not hold up.  The LRU order after a repair is approximate.
 *
 * Reload: zones are slots keyed by name and layout (size, chunk, holds), like
 * the limits' zones: a reload that keeps both keeps the objects; one
 * that changes the size makes a new, empty zone under the same name,
 * since the entries, chains and index are laid out for the old size and
 * the old generation's workers are still sending from them; the old
 * zone goes with its last generation.  max_object may change in place;
 * it is at most a quarter of the zone (more is logged and capped), so
 * that one object cannot evict all the others.
 */
#ifndef CT_SHM_CACHE_H
#define CT_SHM_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "shm/shm.h"

#define SHM_CACHE_ZONES_MAX   16
#define SHM_CACHE_CHUNK       4096      /* default chunk size */
#define SHM_CACHE_CHUNK_MIN   256
#define SHM_CACHE_CHUNK_MAX   65536
#define SHM_CACHE_KEY_MAX     4096      /* primary key: scheme, host, path, query */
#define SHM_CACHE_VARY_MAX    1024      /* secondary key: the request's Vary values; and
                                           the Vary field names, as long at most */
#define SHM_CACHE_INFO        128       /* the caller's metadata per object (freshness) */
#define SHM_CACHE_INFO_TRIES  64        /* lock-free reads of it before one under the lock */
#define SHM_CACHE_PROCS       128       /* processes using a zone at once: two generations */
#define SHM_CACHE_HOLDS       64        /* distinct entries one process holds: the default */
#define SHM_CACHE_HOLDS_MAX   65536
#define SHM_CACHE_PURGE_BATCH 1024      /* entries a purge looks at per lock hold */
#define SHM_CACHE_WAKE_MAX    128       /* processes that can wait on fills: wake fds */
#define SHM_CACHE_NONE        UINT32_MAX

/* Where an entry is in its life. */
enum shm_cache_state {
	SHM_CACHE_FREE,             /* on the free list */
	SHM_CACHE_FILLING,          /* being written by its filler; in the index unless purged */
	SHM_CACHE_COMPLETE,         /* in the index and the LRU: what lookups hit */
	SHM_CACHE_ABORTED,          /* the fill failed; freed at its last reference */
	SHM_CACHE_GONE,             /* replaced, evicted or purged; freed at its last reference */
	SHM_CACHE_STATES
};

/* Names a state for logs. */
const char *shm_cache_state_name(unsigned state);

/* One object's record; fields under the zone lock unless atomic. */
struct shm_cache_entry {
	atomic_uint state;          /* enum shm_cache_state */
	uint32_t linked;            /* in the index (FILLING or COMPLETE) */
	uint32_t purged;            /* purged while filling: its commit is not published */
	uint32_t hnext;             /* hash chain; the free list's link when FREE */
	uint32_t lru_prev, lru_next;
	uint32_t meta, body;        /* first chunks of the chains */
	uint32_t meta_n, body_n;    /* chunks in each */
	uint32_t body_last;         /* last chunk of the body chain */
	uint32_t refs;              /* references: the sum of the processes' holds */
	uint32_t klen, slen, vlen;  /* primary key, secondary key, Vary names: meta's start */
	uint32_t head_off;          /* where the head begins in meta */
	atomic_uint head_len;       /* 0 until the head is stored */
	atomic_uint_fast64_t body_len;  /* bytes appended, published after they are written */
	/* The wake indices of the processes waiting on the fill; cleared as they are woken. */
	atomic_uint_fast64_t waiters[SHM_CACHE_WAKE_MAX / 64];
	uint64_t phash, vhash;      /* keyed hashes of the primary and the secondary key */
	uint64_t seq;               /* incarnation, new at every begin */
	uint64_t touched;           /* seconds, of the last move to the LRU's front */
	uint64_t owner_token;       /* the filler's process slot token */
	uint32_t owner_slot;
	int32_t owner_pid;
	/*
	 * The caller's metadata, changed in place under the lock and read
	 * without it: info_seq is odd while a change is being written.
	 */
	atomic_uint info_seq;
	uint32_t info_len;
	unsigned char info[SHM_CACHE_INFO];
};

/* Entries one process holds: the entry and how many references to it. */
struct shm_cache_hold {
	uint32_t entry;
	uint32_t count;
};

/*
 * A process slot.  Its holds are a table of the zone's hold_cap slots
 * (holds_off), open addressing by entry with linear probes, entry NONE
 * when empty: a hold is found in a probe or two whatever the number a
 * process has, and a worker holds about one per connection.
 */
struct shm_cache_proc {
	int32_t pid;                /* 0: free slot */
	uint32_t used;              /* holds in the table */
	uint64_t token;             /* new at every attach */
};

/* A zone, as a slot of the table SHM_TABLE_CACHE_ZONES (begins like shm_named). */
struct shm_cache_zone {
	atomic_uint_fast64_t in_use;
	uint32_t refs;
	char name[SHM_NAME_LEN];    /* "name/size/chunk": the key of the slot */
	pthread_mutex_t lock;       /* robust, process-shared */
	atomic_uint_fast64_t off;   /* the run of pages; 0: none, or not built yet */
	uint64_t size;
	uint32_t chunk, nchunks;    /* nentries == nchunks */
	uint32_t nbuckets;          /* a power of two */
	uint32_t hold_max;          /* distinct entries one process may hold */
	uint32_t hold_cap;          /* slots of its table: a power of two, half as many more */
	uint64_t next_off, shares_off, entries_off, buckets_off, procs_off, holds_off, marks_off;
	uint64_t chunks_off;
	uint64_t hash_key[2];       /* random, made with the zone */
	atomic_uint_fast64_t max_object;
	atomic_uint lost;           /* the lock cannot be recovered: the zone is out of use */
	/* Under the lock. */
	uint32_t free_chunk, free_chunks;
	uint32_t free_entry, free_entries;
	uint32_t lru_head, lru_tail;
	uint32_t evictable;         /* chunks of the objects on the LRU that nobody holds */
	uint64_t seq, tokens;
	/* For /metrics, read without the lock. */
	atomic_uint_fast64_t objects;       /* COMPLETE entries in the index */
	atomic_uint_fast64_t bytes;         /* chunk bytes held by entries of any state */
	atomic_uint_fast64_t hits, misses, evictions, stores, aborts;
	atomic_uint_fast64_t busy;          /* lookups refused: the process held too many */
	/* Counted by the callers (shm_cache_note()): what the HTTP rules made of lookups. */
	atomic_uint_fast64_t notes[3];
	atomic_uint_fast64_t repairs;       /* recoveries from a process that died in the lock */
};

/* A copy of a zone's counters. */
struct shm_cache_counters {
	uint64_t objects, bytes, capacity;
	uint64_t hits, misses, evictions, stores, aborts, busy, repairs;
	uint64_t stale, revalidated, collapsed;
};


/*
 * How a process waiting on a fill (a collapsed miss) is woken from its
 * event loop.  The master makes one eventfd (EFD_NONBLOCK) per worker
 * slot before it forks, for the slots of every generation that may run
 * at once (SHM_CACHE_WAKE_MAX at most), and keeps them: every process
 * inherits the same array, so that any one can wake any other.  A
 * filler writes the fds of its waiters when its head is stored, when
 * its body crosses into a new chunk, and when it commits or aborts; the
 * master writes them when it reaps a filler.  A wake-up says "a fill
 * you wait on moved": the process looks at the fills it waits on.
 */
struct shm_cache_wake {
	const int *fds;             /* by wake index; -1: none */
	uint32_t n;
	int32_t self;               /* this process's index; -1: it never waits */
};

/*
 * A process's use of a zone: process-local, filled by shm_cache_attach()
 * after fork() (a copy inherited from the parent is the parent's).
 */
struct shm_cache_user {
	struct shm *shm;
	int zone;
	uint32_t slot;
	uint64_t token;
	struct shm_cache_wake wake;
};

/* What a caller counts of its use of a zone, for /metrics. */
enum shm_cache_note {
	SHM_CACHE_NOTE_STALE,       /* a stale object answered (max-stale, SWR, an error) */
	SHM_CACHE_NOTE_REVALIDATED, /* a stale object was made fresh by a 304 */
	SHM_CACHE_NOTE_COLLAPSED    /* a request followed another's fill */
};

/* Counts one note in u's zone; lock-free. */
void shm_cache_note(const struct shm_cache_user *u, enum shm_cache_note n);

/*
 * A key, hashed once (shm_cache_key_init()) for the lookup and, on a
 * miss, the store.  The bytes are the caller's, normalised by it.
 */
struct shm_cache_key {
	const void *primary;
	size_t plen;
	const void *secondary;      /* the variant: NULL, or slen bytes */
	size_t slen;
	uint64_t phash, vhash;
};

/*
 * A reference to an entry, process-local: a reader's (from a lookup) or
 * a filler's (from shm_cache_store_begin()).  The cursor lets
 * shm_cache_iov() go on where it stopped instead of walking the chain
 * again.
 */
struct shm_cache_ref {
	struct shm_cache_user *u;
	uint32_t entry;             /* SHM_CACHE_NONE: no reference */
	int writer;
	uint64_t seq;
	uint32_t cur_chunk;         /* a body chunk, or SHM_CACHE_NONE */
	uint64_t cur_pos;           /* where it begins in the body */
	uint32_t w_last;            /* writer: the body chunk of the last byte */
};

/* What a lookup found. */
enum shm_cache_found {
	SHM_CACHE_MISS,             /* nothing for the key */
	SHM_CACHE_HIT,              /* a COMPLETE object, with a reference */
	SHM_CACHE_COLLAPSE,         /* only a fill under way, with a reference: wait on it */
	SHM_CACHE_BUSY              /* the process holds hold_max entries, or the zone's lock
	                               is lost: go without the cache */
};

/* How a fill is doing, for the readers waiting on it. */
struct shm_cache_progress {
	unsigned state;             /* FILLING, COMPLETE, ABORTED; GONE reads as COMPLETE */
	uint32_t head_len;          /* 0: not stored yet */
	uint64_t body_len;          /* bytes appended so far */
	uint64_t entry_id;          /* the entry (index << 32 | low bits of its incarnation) */
};

/* shm_create()'s: registers the table of zones. */
int shm_cache_zones_init(struct shm *shm);
struct shm_cache_zone *shm_cache_zone_get(const struct shm *shm, int idx);

/*
 * Master: the zone name of size bytes (chunk 0: SHM_CACHE_CHUNK) with a
 * reference, made empty if no zone of this name has this layout; a
 * zone of this name with another one is logged (it stays for the
 * generations that hold it).  holds: the distinct objects one process
 * may hold at once (0: SHM_CACHE_HOLDS), which a worker's connections
 * bound (worker_connections); its tables come out of size, some
 * 12 * holds bytes per process slot.  Returns the slot, or -1 with a
 * logged reason (bad size or chunk, table or segment full).
 */
int shm_cache_zone_acquire(struct shm *shm, const char *name, uint64_t size, uint32_t chunk,
    uint64_t max_object, uint32_t holds);
/* Master: drops a reference; the last one frees the zone's memory. */
void shm_cache_zone_release(struct shm *shm, int idx);
/* Any process: the zone named name in use, or -1. */
int shm_cache_zone_find(const struct shm *shm, const char *name);

/*
 * Takes a process slot for pid in zone, with the wake fds (NULL: the
 * process neither waits nor wakes).  CT_ERROR when every slot is taken.
 */
int shm_cache_attach(struct shm *shm, int zone, pid_t pid, const struct shm_cache_wake *wake,
    struct shm_cache_user *u);
/* Gives it back, as a reap of the process would. */
void shm_cache_detach(struct shm_cache_user *u);
/*
 * Master, after waitpid(): aborts the fills of pid, wakes their waiters
 * (wake: NULL for none) and drops every reference it held, in one zone
 * or in all.  Returns the references and fills dropped.  Reaps by pid:
 * it must run before the slot's process is forked again, or a new
 * process given the same pid would lose its holds.
 */
size_t shm_cache_reap(struct shm *shm, int zone, pid_t pid, const struct shm_cache_wake *wake);
size_t shm_cache_reap_all(struct shm *shm, pid_t pid, const struct shm_cache_wake *wake);

/*
 * Hashes the key under the zone's hash key.  CT_ERROR when a part is
 * longer than SHM_CACHE_KEY_MAX or SHM_CACHE_VARY_MAX.
 */
int shm_cache_key_init(const struct shm_cache_user *u, struct shm_cache_key *k,
    const void *primary, size_t plen, const void *secondary, size_t slen);

/*
 * The COMPLETE object of key k (a HIT), else a fill of it under way (a
 * COLLAPSE), with a reference in *r either way; now_s (the caller's
 * clock, in seconds) moves a hit to the LRU's front once a second at
 * most.
 */
enum shm_cache_found shm_cache_lookup(struct shm_cache_user *u, const struct shm_cache_key *k,
    uint64_t now_s, struct shm_cache_ref *r);
/*
 * Drops a reference; a no-op on one dropped already.  A filler's is
 * ended as by shm_cache_store_abort(): a fill is finished by a commit.
 */
void shm_cache_release(struct shm_cache_ref *r);

/*
 * Reserves a FILLING entry for key k, owned by this process, with its
 * key stored, evicting as needed.  vary, vlen: the response's Vary
 * field names as the caller normalised them (none: 0), stored with the
 * object for shm_cache_vary_get(); at most SHM_CACHE_VARY_MAX bytes.
 * expected: the object's size if
 * known, else 0.  Returns CT_OK with the filler's reference in *w;
 * CT_DECLINED when expected is beyond max_object; CT_AGAIN when
 * another fill of the key is under way (look it up and wait on it);
 * CT_ERROR when there is no room or no hold left, or when expected
 * bytes could not be had even by evicting every object nobody holds
 * (then nothing is evicted).
 */
int shm_cache_store_begin(struct shm_cache_user *u, const struct shm_cache_key *k,
    const void *vary, size_t vlen, uint64_t expected, struct shm_cache_ref *w);
/*
 * Stores the head blob, once, before or during the body: what waiters
 * send first.  CT_DECLINED (and the fill aborted) beyond max_object,
 * CT_ERROR (aborted) without room or when a head is there already.
 */
int shm_cache_store_head(struct shm_cache_ref *w, const void *head, size_t len);
/*
 * Appends body bytes.  Beyond max_object: CT_DECLINED; without room:
 * CT_ERROR; in both the fill is aborted and *w spent.
 */
int shm_cache_store_append(struct shm_cache_ref *w, const void *p, size_t len);
/*
 * Ends the fill: stores the head if given (and none was), and makes the
 * object what lookups find, replacing the one it was refreshing, and
 * unlinking the variants of its primary key stored under other Vary
 * names than its own (the Vary of the resource changed).  *w is
 * spent.  CT_DECLINED when the key was purged meanwhile (the waiters
 * have their whole object; lookups do not), CT_ERROR when the head does
 * not fit (aborted).
 */
int shm_cache_store_commit(struct shm_cache_ref *w, const void *head, size_t len,
    uint64_t now_s);
/* Ends the fill without an object; waiters see ABORTED.  *w is spent. */
void shm_cache_store_abort(struct shm_cache_ref *w);

/*
 * Vary.  A lookup by the primary key alone: the Vary field names stored
 * with its newest object (the caller then builds the secondary key from
 * the request's values of those fields and looks up the variant).
 * Every variant carries the names; a commit under other names unlinks
 * the variants stored under the old ones, so that the names answered
 * are those of every object the lookups can reach.  k's secondary part
 * is ignored.  CT_OK with *len bytes in out (0: the object does not
 * vary); CT_DECLINED when nothing is stored for the primary key;
 * CT_ERROR when out is smaller than *len, or the lock is lost.
 */
int shm_cache_vary_get(struct shm_cache_user *u, const struct shm_cache_key *k, void *out,
    size_t size, size_t *len);

/*
 * The object's info: SHM_CACHE_INFO bytes of the caller's, opaque to
 * the store (its freshness: dates, max-age, validators), changed in
 * place at any time by the holder of any reference (a filler before
 * its commit too).  Set under the lock; read without it, by a sequence
 * count around the copy: a read never sees half of a change.
 * info_set: CT_ERROR when len > SHM_CACHE_INFO or r is not live.
 * info_get copies up to size bytes into out and returns the info's
 * length (0: none, or r not live).
 */
int shm_cache_info_set(struct shm_cache_ref *r, const void *p, size_t len);
size_t shm_cache_info_get(const struct shm_cache_ref *r, void *out, size_t size);

/*
 * A new head for the COMPLETE object of the reader's reference r (a
 * revalidation: 304 Not Modified), its body kept without a copy: a new
 * entry takes the head, the keys and the info, shares the body, and
 * replaces the old one in the index; readers of the old one go on with
 * the old head.  r then refers to the new object.  CT_DECLINED when the
 * object is no longer the one lookups find (replaced, purged) or the
 * head makes it too big; CT_ERROR without room, or the lock lost; r is
 * left as it was in both.
 */
int shm_cache_update_head(struct shm_cache_ref *r, const void *head, size_t len,
    uint64_t now_s);

/*
 * Asks for a wake-up when the fill of r moves on from what *seen says
 * (shm_cache_progress()): its head stored, its body into a new chunk,
 * its end.  One wake-up per call.  CT_OK: registered, sleep until the
 * wake fd is readable; CT_AGAIN: it moved already, read on without
 * sleeping; CT_ERROR: this process has no wake fd.  Lock-free.
 */
int shm_cache_wait(struct shm_cache_ref *r, const struct shm_cache_progress *seen);

/* How the entry of r is doing; lock-free. */
void shm_cache_progress(const struct shm_cache_ref *r, struct shm_cache_progress *p);
/*
 * The object's bytes from position from (the head first, then the
 * body) up to what is there now, as at most n iovecs into the segment.
 * Returns how many were filled; 0 at the end of what is there (or
 * before the head of a fill is stored).  The memory stays valid until
 * r is released.
 */
size_t shm_cache_iov(struct shm_cache_ref *r, uint64_t from, struct iovec *iov, size_t n);

/* Unlinks every variant of the primary key; returns how many were. */
size_t shm_cache_purge_key(struct shm *shm, int zone, const void *primary, size_t plen);
/*
 * Unlinks the objects whose primary key begins with prefix, looking at
 * SHM_CACHE_PURGE_BATCH entries from *cursor (0 to start) per lock
 * hold.  Returns CT_AGAIN with *cursor moved on, or CT_OK when the walk
 * is done (CT_ERROR: the zone's lock is lost); *n counts what was unlinked.  Objects stored after the walk
 * passed their entry are kept.
 */
int shm_cache_purge_prefix(struct shm *shm, int zone, const void *prefix, size_t len,
    uint32_t *cursor, size_t *n);
/* Every object, batch after batch (each its own lock hold); returns how many. */
size_t shm_cache_purge_all(struct shm *shm, int zone);

void shm_cache_counters_get(const struct shm *shm, int zone, struct shm_cache_counters *c);

/*
 * Walks the whole zone under its lock and checks every invariant:
 * chains, free lists, index, LRU, counts, references.  CT_ERROR with
 * the first broken one in why.  For tests and for a debug endpoint.
 */
int shm_cache_zone_check(struct shm *shm, int zone, char *why, size_t len);

#endif

/*
 * Limits decided from shared memory, so that all workers draw from one
 * budget per key: request and connection rates by GCRA (one 64-bit
 * "theoretical arrival time" per key, moved by compare-and-swap, no
 * lock on the request path), concurrent connections per key, and the
 * bytes of bandwidth limits, which are a rate whose cost is a count of
 * bytes.
 *
 * Each named limit has a zone: a fixed array of slots in the segment,
 * set-associative (SHM_LIMIT_WAYS slots per bucket, found by a keyed
 * hash of the key), so that memory never grows.  A new key takes the
 * least recently used slot of its bucket (one without connections
 * first), and the eviction is counted.  Keys are known by their 64-bit
 * hash: two keys that share one share a budget, which a keyed hash
 * (a random key per zone, made when it is) makes a matter of chance,
 * not of choice.
 *
 * The table of zones is keyed by the limit's name and size, like the
 * listeners' counters: a reload that keeps both keeps every key's state.
 *
 * A zone of scope cluster (master/climit.h) has more: keys hashed with
 * the key that every node of the cluster shares, once the master has it;
 * per slot, the events that passed since the master last took them; a
 * bitmap of the slots that have any, so that the master reads what
 * changed rather than the whole zone; and the share of the rate that the
 * node may take alone.  A local zone has none of it and pays nothing.
 */
#ifndef CT_SHM_LIMIT_H
#define CT_SHM_LIMIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/shm.h"

#define SHM_LIMITS_MAX   128
#define SHM_LIMIT_WAYS   8
#define SHM_LIMIT_TEXT   24          /* of a key, for cuttlectl limits */

struct shm_limit_slot {
	atomic_uint_fast64_t key;        /* hash of the key; 0: empty */
	atomic_uint_fast64_t tat;        /* GCRA: theoretical arrival time, ns */
	atomic_uint_fast64_t used;       /* ms of the last use, for the eviction */
	atomic_uint_fast64_t logged;     /* ms of the last log line about the key */
	atomic_uint conns;               /* concurrent connections of the key */
	atomic_uint hits;                /* requests refused or delayed, for the busiest keys */
	char text[SHM_LIMIT_TEXT];       /* the key, cut; written by whoever took the slot */
};

struct shm_limit {
	atomic_uint_fast64_t in_use;     /* as struct shm_named */
	uint32_t refs;
	char name[SHM_NAME_LEN];
	uint64_t zone_off;               /* its slots; 0: none (the segment was full) */
	uint32_t nslots;                 /* a multiple of SHM_LIMIT_WAYS */
	atomic_uint_fast64_t passed;
	atomic_uint_fast64_t delayed;
	atomic_uint_fast64_t rejected;
	atomic_uint_fast64_t evicted;
	uint64_t hash_key[2];            /* the key of the zone's hash, random */
	/* scope cluster only; 0 elsewhere */
	uint64_t cluster_off;            /* counts[nslots], then dirty[(nslots + 63) / 64] */
	atomic_uint share;               /* the rate is divided by it: 1 while settled */
	atomic_uint nodes;               /* live nodes as the master last saw them; 0: never */
	atomic_uint fallback;            /* 1: the node decides alone, with its share */
	atomic_uint ckey_seq;            /* ckey's seqlock: odd while written, 0 before */
	atomic_uint_fast64_t ckey[2];    /* the cluster's hash key */
	atomic_uint_fast64_t rounds_ok;  /* settle rounds answered */
	atomic_uint_fast64_t rounds_failed;
};

/* What the master takes from a slot of a cluster zone. */
struct shm_limit_taken {
	uint64_t key;                    /* the slot's key hash */
	uint32_t slot;
	uint32_t count;                  /* events passed since the last take */
};

/* The outcome of a rate check. */
enum shm_limit_verdict {
	SHM_LIMIT_PASS,                  /* at once */
	SHM_LIMIT_DELAY,                 /* after *wait_ns */
	SHM_LIMIT_REJECT                 /* over the burst; may retry after *wait_ns */
};

int shm_limits_init(struct shm *shm);
struct shm_limit *shm_limit_get(const struct shm *shm, int idx);
/*
 * Master: the zone of limit name with room for size bytes of slots,
 * with a reference; -1 when the table or the segment is full.  cluster:
 * the zone of a limit of scope cluster, apart from a local one of the
 * same name.
 */
int shm_limit_acquire(struct shm *shm, const char *name, uint64_t size, int cluster);
void shm_limit_release(struct shm *shm, int idx);
struct shm_limit_slot *shm_limit_slots(const struct shm *shm, const struct shm_limit *l);

/* The 64-bit keyed hash of a key (never 0). */
uint64_t shm_limit_hash(const struct shm_limit *l, const void *key, size_t len);
/* The slot of key hash h, or NULL when the key has none. */
struct shm_limit_slot *shm_limit_lookup(const struct shm *shm, struct shm_limit *l, uint64_t h,
    uint64_t now_ms);
/*
 * The slot of key hash h (text: the key as shown, cut to fit), taken
 * from the least recently used one of its bucket when it has none; NULL
 * when the zone has no slots.
 */
struct shm_limit_slot *shm_limit_find(const struct shm *shm, struct shm_limit *l, uint64_t h,
    const char *text, uint64_t now_ms);
/*
 * GCRA on slot s at now_ns: one event costs cost * period_ns, and up to
 * burst events may be ahead of the steady rate.  delay: an event beyond
 * the rate but within the burst is delayed (SHM_LIMIT_DELAY, *wait_ns)
 * rather than passed at once.  Beyond the burst: SHM_LIMIT_REJECT, and
 * *wait_ns is when a retry would pass.  *left is what the burst has left
 * afterwards, in events.
 */
enum shm_limit_verdict shm_limit_take(struct shm_limit_slot *s, uint64_t now_ns,
    uint64_t period_ns, uint64_t cost, uint64_t burst, int delay, uint64_t *wait_ns,
    uint64_t *left);

/*
 * Concurrency: one more connection of slot s, key h, unless it has max
 * already (CT_ERROR).  The release gives it back only while the slot
 * still holds key h (an evicted key's count went with it).
 */
int shm_limit_conn_take(struct shm_limit_slot *s, unsigned max);
void shm_limit_conn_release(struct shm_limit_slot *s, uint64_t h);

/* ------------------------------------------------------ scope cluster */

/*
 * The hash of a key in cluster zone l: with the cluster's key (*shared
 * 1) once the master has set one, with the zone's own until then.
 */
uint64_t shm_limit_chash(const struct shm_limit *l, const void *key, size_t len, int *shared);
/* Master: the cluster's hash key, for the keys hashed from now on. */
void shm_limit_ckey_set(struct shm_limit *l, const uint64_t k[2]);
/* One event of slot s passed, for the master to settle (a cluster zone; else nothing). */
void shm_limit_count(const struct shm *shm, struct shm_limit *l, const struct shm_limit_slot *s);
/*
 * Master: takes the counts of at most max slots that have any, into
 * out, reading at most words words of the bitmap from *cursor on (where
 * the next call goes on).  Returns how many it took.
 */
size_t shm_limit_drain(const struct shm *shm, struct shm_limit *l, size_t *cursor,
    size_t words, struct shm_limit_taken *out, size_t max);
/*
 * Master: events that passed elsewhere, worth inc_ns of the rate, as if
 * they had come at from_ns: the key's GCRA moves on by inc_ns from
 * from_ns or where it is, whichever is later.  Never refused.
 */
void shm_limit_charge(struct shm_limit_slot *s, uint64_t from_ns, uint64_t inc_ns);

/*
 * Should a refusal for slot s be logged now?  Once per key and interval,
 * not once per refusal.
 */
int shm_limit_log_due(struct shm_limit_slot *s, uint64_t now_ms, uint64_t interval_ms);

#endif

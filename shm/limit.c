/*
 * The zones of limits (shm/limit.h): slots found by a keyed hash,
 * taken from the least recently used, and GCRA moved by compare-and-swap.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "lib/ct.h"
#include "lib/hash.h"
#include "shm/limit.h"

int
shm_limits_init(struct shm *shm)
{
	return shm_table_register(shm, SHM_TABLE_LIMITS, "limits", sizeof(struct shm_limit),
	    SHM_LIMITS_MAX);
}

_Static_assert(offsetof(struct shm_limit, in_use) == offsetof(struct shm_named, in_use) &&
    offsetof(struct shm_limit, refs) == offsetof(struct shm_named, refs) &&
    offsetof(struct shm_limit, name) == offsetof(struct shm_named, name),
    "shm_limit must begin like shm_named");
_Static_assert(sizeof(struct shm_limit_slot) == 64, "a slot is one cache line");

struct shm_limit *
shm_limit_get(const struct shm *shm, int idx)
{
	return shm_table_slot(shm, SHM_TABLE_LIMITS, idx);
}

struct shm_limit_slot *
shm_limit_slots(const struct shm *shm, const struct shm_limit *l)
{
	return l->zone_off != 0 ? shm_ptr(shm, l->zone_off) : NULL;
}

/* The bytes of a cluster zone's counts and bitmap. */
static size_t
shm_limit_cluster_size(uint64_t nslots)
{
	return (size_t)nslots * sizeof(atomic_uint) +
	    (size_t)(nslots + 63) / 64 * sizeof(atomic_uint_fast64_t);
}

static atomic_uint *
shm_limit_counts(const struct shm *shm, const struct shm_limit *l)
{
	return shm_ptr(shm, l->cluster_off);
}

static atomic_uint_fast64_t *
shm_limit_dirty(const struct shm *shm, const struct shm_limit *l)
{
	/* nslots is a multiple of SHM_LIMIT_WAYS: the bitmap starts 8-aligned. */
	return shm_ptr(shm, l->cluster_off + (uint64_t)l->nslots * sizeof(atomic_uint));
}

/* A new zone's own parts: zeroed slots, a random hash key and, for a cluster zone, its counts. */
static int
shm_limit_zone_make(struct shm *shm, struct shm_limit *l, uint64_t n, int cluster)
{
	l->cluster_off = 0;
	if ((l->zone_off = shm_alloc(shm, (size_t)n * sizeof(struct shm_limit_slot))) == 0)
		return CT_ERROR;
	memset(shm_ptr(shm, l->zone_off), 0, (size_t)n * sizeof(struct shm_limit_slot));
	if (cluster && (l->cluster_off = shm_alloc(shm, shm_limit_cluster_size(n))) != 0)
		memset(shm_ptr(shm, l->cluster_off), 0, shm_limit_cluster_size(n));
	if ((cluster && l->cluster_off == 0) ||
	    RAND_bytes((unsigned char *)l->hash_key, sizeof(l->hash_key)) != 1) {
		shm_free(shm, l->cluster_off);
		shm_free(shm, l->zone_off);
		l->zone_off = l->cluster_off = 0;
		return CT_ERROR;
	}
	atomic_store(&l->share, 1);
	atomic_store(&l->nodes, 0);
	atomic_store(&l->fallback, 0);
	atomic_store(&l->ckey_seq, 0);
	atomic_store(&l->rounds_ok, 0);
	atomic_store(&l->rounds_failed, 0);
	l->nslots = (uint32_t)n;
	return CT_OK;
}

int
shm_limit_acquire(struct shm *shm, const char *name, uint64_t size, int cluster)
{
	char key[SHM_NAME_LEN];
	struct shm_limit *l;
	uint64_t n;
	int idx;

	n = size / sizeof(struct shm_limit_slot) / SHM_LIMIT_WAYS * SHM_LIMIT_WAYS;
	if (n == 0 || n > UINT32_MAX)
		return -1;
	/*
	 * One zone per name, size and scope: a reload that changes the size
	 * starts afresh, and so does one that makes a limit shared or not.
	 */
	if (snprintf(key, sizeof(key), "%s/%llu%s", name, (unsigned long long)n,
	    cluster ? "/cluster" : "") >= (int)sizeof(key))
		return -1;
	if ((idx = shm_named_acquire(shm, SHM_TABLE_LIMITS, key)) == -1)
		return -1;
	l = shm_limit_get(shm, idx);
	if (l->zone_off != 0)
		return idx;
	/* New: zeroed by the allocator's contract?  Not promised: zeroed in there. */
	if (shm_limit_zone_make(shm, l, n, cluster) != CT_OK) {
		shm_named_release(shm, SHM_TABLE_LIMITS, idx);
		return -1;
	}
	return idx;
}

void
shm_limit_release(struct shm *shm, int idx)
{
	struct shm_limit *l;

	if (idx < 0 || idx >= SHM_LIMITS_MAX)
		return;
	l = shm_limit_get(shm, idx);
	/* The last reference: the zone goes with the slot. */
	if (l->refs == 1 && l->zone_off != 0) {
		shm_free(shm, l->cluster_off);
		shm_free(shm, l->zone_off);
		l->zone_off = l->cluster_off = 0;
		l->nslots = 0;
	}
	shm_named_release(shm, SHM_TABLE_LIMITS, idx);
}

/* ------------------------------------------------------------ the hash */

uint64_t
shm_limit_hash(const struct shm_limit *l, const void *key, size_t len)
{
	uint64_t h = hash_keyed(l->hash_key, key, len);

	return h != 0 ? h : 1;
}

/* ------------------------------------------------------------ the slots */

struct shm_limit_slot *
shm_limit_lookup(const struct shm *shm, struct shm_limit *l, uint64_t h, uint64_t now_ms)
{
	struct shm_limit_slot *zone = shm_limit_slots(shm, l), *b;
	size_t i;

	if (zone == NULL || l->nslots == 0)
		return NULL;
	b = &zone[(h % (l->nslots / SHM_LIMIT_WAYS)) * SHM_LIMIT_WAYS];
	for (i = 0; i < SHM_LIMIT_WAYS; i++)
		if (atomic_load_explicit(&b[i].key, memory_order_acquire) == h) {
			/* Stored only when it moves: a slot written by every worker bounces between CPUs. */
			if (atomic_load_explicit(&b[i].used, memory_order_relaxed) != now_ms)
				atomic_store_explicit(&b[i].used, now_ms, memory_order_relaxed);
			return &b[i];
		}
	return NULL;
}

struct shm_limit_slot *
shm_limit_find(const struct shm *shm, struct shm_limit *l, uint64_t h, const char *text,
    uint64_t now_ms)
{
	struct shm_limit_slot *zone = shm_limit_slots(shm, l), *b, *victim;
	uint_fast64_t old, best;
	size_t i, tries;

	if (zone == NULL || l->nslots == 0)
		return NULL;
	b = &zone[(h % (l->nslots / SHM_LIMIT_WAYS)) * SHM_LIMIT_WAYS];
	for (tries = 0; tries < 4; tries++) {
		for (i = 0; i < SHM_LIMIT_WAYS; i++)
			if (atomic_load_explicit(&b[i].key, memory_order_acquire) == h) {
				atomic_store_explicit(&b[i].used, now_ms, memory_order_relaxed);
				return &b[i];
			}
		/*
		 * The least recently used slot takes the key; one that holds
		 * connections only when all do, since its count would be lost.
		 */
		victim = NULL;
		best = UINT64_MAX;
		for (i = 0; i < SHM_LIMIT_WAYS; i++) {
			uint_fast64_t u = atomic_load_explicit(&b[i].used, memory_order_relaxed);

			if (atomic_load_explicit(&b[i].conns, memory_order_relaxed) > 0)
				u = u / 2 + UINT64_MAX / 2;
			if (atomic_load_explicit(&b[i].key, memory_order_relaxed) == 0)
				u = 0;
			if (u < best) {
				best = u;
				victim = &b[i];
			}
		}
		old = atomic_load_explicit(&victim->key, memory_order_relaxed);
		if (!atomic_compare_exchange_strong_explicit(&victim->key, &old, h,
		    memory_order_acq_rel, memory_order_relaxed))
			continue;       /* another worker took it: look again */
		if (old != 0)
			atomic_fetch_add_explicit(&l->evicted, 1, memory_order_relaxed);
		atomic_store_explicit(&victim->tat, 0, memory_order_relaxed);
		atomic_store_explicit(&victim->conns, 0, memory_order_relaxed);
		atomic_store_explicit(&victim->hits, 0, memory_order_relaxed);
		atomic_store_explicit(&victim->logged, 0, memory_order_relaxed);
		atomic_store_explicit(&victim->used, now_ms, memory_order_relaxed);
		/* For display only: a reader may see it half written, never past its end. */
		snprintf(victim->text, sizeof(victim->text), "%s", text);
		return victim;
	}
	return NULL;
}

enum shm_limit_verdict
shm_limit_take(struct shm_limit_slot *s, uint64_t now_ns, uint64_t period_ns, uint64_t cost,
    uint64_t burst, int delay, uint64_t *wait_ns, uint64_t *left)
{
	uint_fast64_t tat = atomic_load_explicit(&s->tat, memory_order_relaxed), start, next;
	uint64_t tau = burst * period_ns, inc = cost * period_ns;

	for (;;) {
		start = tat > now_ns ? tat : now_ns;
		/* Ahead of the steady rate by more than the burst allows: refused. */
		if (start + inc - now_ns > tau + inc) {
			*wait_ns = start - now_ns - tau;
			*left = 0;
			atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
			return SHM_LIMIT_REJECT;
		}
		next = start + inc;
		if (atomic_compare_exchange_weak_explicit(&s->tat, &tat, next,
		    memory_order_relaxed, memory_order_relaxed))
			break;
	}
	/* Events that could still pass now: those whose start is within tau of now. */
	*left = period_ns > 0 ? (tau + period_ns + now_ns - CT_MIN(next, tau + period_ns + now_ns)) /
	    period_ns : 0;
	*wait_ns = start > now_ns ? start - now_ns : 0;
	if (delay && *wait_ns > 0) {
		atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
		return SHM_LIMIT_DELAY;
	}
	*wait_ns = 0;
	return SHM_LIMIT_PASS;
}

int
shm_limit_conn_take(struct shm_limit_slot *s, unsigned max)
{
	unsigned n = atomic_load_explicit(&s->conns, memory_order_relaxed);

	do {
		if (n >= max) {
			atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
			return CT_ERROR;
		}
	} while (!atomic_compare_exchange_weak_explicit(&s->conns, &n, n + 1,
	    memory_order_relaxed, memory_order_relaxed));
	return CT_OK;
}

void
shm_limit_conn_release(struct shm_limit_slot *s, uint64_t h)
{
	unsigned n = atomic_load_explicit(&s->conns, memory_order_relaxed);

	do {
		if (n == 0 || atomic_load_explicit(&s->key, memory_order_relaxed) != h)
			return;
	} while (!atomic_compare_exchange_weak_explicit(&s->conns, &n, n - 1,
	    memory_order_relaxed, memory_order_relaxed));
}

/* ------------------------------------------------------ scope cluster */

uint64_t
shm_limit_chash(const struct shm_limit *l, const void *key, size_t len, int *shared)
{
	unsigned seq = atomic_load_explicit(&l->ckey_seq, memory_order_acquire);
	uint64_t k[2], h;

	if (seq != 0 && (seq & 1) == 0) {
		k[0] = atomic_load_explicit(&l->ckey[0], memory_order_relaxed);
		k[1] = atomic_load_explicit(&l->ckey[1], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		/* Unchanged while it was read: the key is whole. */
		if (atomic_load_explicit(&l->ckey_seq, memory_order_relaxed) == seq) {
			*shared = 1;
			h = hash_keyed(k, key, len);
			return h != 0 ? h : 1;
		}
	}
	*shared = 0;
	return shm_limit_hash(l, key, len);
}

void
shm_limit_ckey_set(struct shm_limit *l, const uint64_t k[2])
{
	unsigned seq = atomic_load_explicit(&l->ckey_seq, memory_order_relaxed);

	if (seq != 0 && atomic_load_explicit(&l->ckey[0], memory_order_relaxed) == k[0] &&
	    atomic_load_explicit(&l->ckey[1], memory_order_relaxed) == k[1])
		return;
	atomic_store_explicit(&l->ckey_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&l->ckey[0], k[0], memory_order_relaxed);
	atomic_store_explicit(&l->ckey[1], k[1], memory_order_relaxed);
	atomic_store_explicit(&l->ckey_seq, seq + 2, memory_order_release);
}

void
shm_limit_count(const struct shm *shm, struct shm_limit *l, const struct shm_limit_slot *s)
{
	size_t i;

	if (l->cluster_off == 0)
		return;
	i = (size_t)(s - shm_limit_slots(shm, l));
	/* The first event since the master's take marks the slot; later ones need not. */
	if (atomic_fetch_add_explicit(&shm_limit_counts(shm, l)[i], 1, memory_order_relaxed) == 0)
		atomic_fetch_or_explicit(&shm_limit_dirty(shm, l)[i / 64], UINT64_C(1) << (i % 64),
		    memory_order_release);
}

size_t
shm_limit_drain(const struct shm *shm, struct shm_limit *l, size_t *cursor, size_t words,
    struct shm_limit_taken *out, size_t max)
{
	atomic_uint *counts;
	atomic_uint_fast64_t *dirty;
	struct shm_limit_slot *slots;
	size_t nwords, w, n = 0;

	if (l->cluster_off == 0 || l->nslots == 0)
		return 0;
	counts = shm_limit_counts(shm, l);
	dirty = shm_limit_dirty(shm, l);
	slots = shm_limit_slots(shm, l);
	nwords = ((size_t)l->nslots + 63) / 64;
	for (w = 0; w < CT_MIN(words, nwords) && n < max; w++) {
		size_t i = (*cursor + w) % nwords;
		uint64_t bits = atomic_exchange_explicit(&dirty[i], 0, memory_order_acquire);

		while (bits != 0) {
			size_t slot = i * 64 + (size_t)__builtin_ctzll(bits);
			unsigned c;

			if (n == max) {
				/* No room this round: the rest stay marked for the next. */
				atomic_fetch_or_explicit(&dirty[i], bits, memory_order_relaxed);
				break;
			}
			bits &= bits - 1;
			c = atomic_exchange_explicit(&counts[slot], 0, memory_order_relaxed);
			out[n].key = atomic_load_explicit(&slots[slot].key, memory_order_relaxed);
			out[n].slot = (uint32_t)slot;
			out[n].count = c;
			if (c > 0 && out[n].key != 0)
				n++;
		}
	}
	*cursor = (*cursor + w) % nwords;
	return n;
}

void
shm_limit_charge(struct shm_limit_slot *s, uint64_t from_ns, uint64_t inc_ns)
{
	uint_fast64_t tat = atomic_load_explicit(&s->tat, memory_order_relaxed), next;

	do {
		next = tat > from_ns ? tat : from_ns;
		/* Far enough in the future is as good as the end of time, and never wraps. */
		next = inc_ns < UINT64_MAX / 2 - next / 2 ? next + inc_ns : UINT64_MAX / 2;
	} while (!atomic_compare_exchange_weak_explicit(&s->tat, &tat, next,
	    memory_order_relaxed, memory_order_relaxed));
}

int
shm_limit_log_due(struct shm_limit_slot *s, uint64_t now_ms, uint64_t interval_ms)
{
	uint_fast64_t last = atomic_load_explicit(&s->logged, memory_order_relaxed);

	return (last == 0 || now_ms - last >= interval_ms) &&
	    atomic_compare_exchange_strong_explicit(&s->logged, &last, now_ms,
	    memory_order_relaxed, memory_order_relaxed);
}

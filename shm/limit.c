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

int
shm_limit_acquire(struct shm *shm, const char *name, uint64_t size)
{
	char key[SHM_NAME_LEN];
	struct shm_limit *l;
	uint64_t n;
	int idx;

	n = size / sizeof(struct shm_limit_slot) / SHM_LIMIT_WAYS * SHM_LIMIT_WAYS;
	if (n == 0 || n > UINT32_MAX)
		return -1;
	/* One zone per name and size: a reload that changes the size starts afresh. */
	if (snprintf(key, sizeof(key), "%s/%llu", name, (unsigned long long)n) >= (int)sizeof(key))
		return -1;
	if ((idx = shm_named_acquire(shm, SHM_TABLE_LIMITS, key)) == -1)
		return -1;
	l = shm_limit_get(shm, idx);
	if (l->zone_off != 0)
		return idx;
	/* New: zeroed by the allocator's contract?  Not promised: zeroed here. */
	if ((l->zone_off = shm_alloc(shm, (size_t)n * sizeof(struct shm_limit_slot))) == 0) {
		shm_named_release(shm, SHM_TABLE_LIMITS, idx);
		return -1;
	}
	memset(shm_ptr(shm, l->zone_off), 0, (size_t)n * sizeof(struct shm_limit_slot));
	if (RAND_bytes((unsigned char *)l->hash_key, sizeof(l->hash_key)) != 1) {
		shm_free(shm, l->zone_off);
		l->zone_off = 0;
		shm_named_release(shm, SHM_TABLE_LIMITS, idx);
		return -1;
	}
	l->nslots = (uint32_t)n;
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
		shm_free(shm, l->zone_off);
		l->zone_off = 0;
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

int
shm_limit_log_due(struct shm_limit_slot *s, uint64_t now_ms, uint64_t interval_ms)
{
	uint_fast64_t last = atomic_load_explicit(&s->logged, memory_order_relaxed);

	return (last == 0 || now_ms - last >= interval_ms) &&
	    atomic_compare_exchange_strong_explicit(&s->logged, &last, now_ms,
	    memory_order_relaxed, memory_order_relaxed);
}

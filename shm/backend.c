/*
 * Upstreams and backends tables: slot lookup by stable id.
 */
#include <stddef.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/ct.h"
#include "shm/backend.h"

int
shm_tables_init(struct shm *shm)
{
	if (shm_table_register(shm, SHM_TABLE_UPSTREAMS, "upstreams",
	    sizeof(struct shm_upstream), SHM_UPSTREAMS_MAX) != CT_OK ||
	    shm_table_register(shm, SHM_TABLE_BACKENDS, "backends",
	    sizeof(struct shm_backend), SHM_BACKENDS_MAX) != CT_OK)
		return CT_ERROR;
	return CT_OK;
}

struct shm_upstream *
shm_upstream_get(const struct shm *shm, int idx)
{
	return shm_table_slot(shm, SHM_TABLE_UPSTREAMS, idx);
}

struct shm_backend *
shm_backend_get(const struct shm *shm, int idx)
{
	return shm_table_slot(shm, SHM_TABLE_BACKENDS, idx);
}

const char *
shm_probe_name(unsigned probe)
{
	static const char *const names[] = {
		[SHM_PROBE_NONE] = "none", [SHM_PROBE_EVERY_NODE] = "every_node",
		[SHM_PROBE_FALLBACK] = "fallback", [SHM_PROBE_SELF] = "self",
		[SHM_PROBE_PEER] = "peer",
	};

	return probe < CT_NELEM(names) ? names[probe] : "?";
}

_Static_assert(offsetof(struct shm_upstream, in_use) == offsetof(struct shm_named, in_use) &&
    offsetof(struct shm_upstream, refs) == offsetof(struct shm_named, refs) &&
    offsetof(struct shm_upstream, name) == offsetof(struct shm_named, name),
    "shm_upstream must begin like shm_named");
_Static_assert(offsetof(struct shm_backend, in_use) == offsetof(struct shm_named, in_use) &&
    offsetof(struct shm_backend, refs) == offsetof(struct shm_named, refs) &&
    offsetof(struct shm_backend, upstream) == offsetof(struct shm_named, name),
    "shm_backend must begin like shm_named, so that shm_named_release() frees it");

int
shm_upstream_acquire(struct shm *shm, const char *name)
{
	return shm_named_acquire(shm, SHM_TABLE_UPSTREAMS, name);
}

void
shm_upstream_release(struct shm *shm, int idx)
{
	shm_named_release(shm, SHM_TABLE_UPSTREAMS, idx);
}

int
shm_backend_acquire(struct shm *shm, const char *upstream,
    const struct sockaddr *sa, socklen_t salen, unsigned weight)
{
	int i, free_slot = -1;
	struct shm_backend *b;

	if (strlen(upstream) >= SHM_NAME_LEN || salen > sizeof(b->addr))
		return -1;
	for (i = 0; i < SHM_BACKENDS_MAX; i++) {
		b = shm_backend_get(shm, i);
		if (atomic_load_explicit(&b->in_use, memory_order_relaxed) != 0 &&
		    strcmp(b->upstream, upstream) == 0 &&
		    addr_equal((const struct sockaddr *)&b->addr, sa)) {
			b->weight = weight;
			b->refs++;
			return i;
		}
		if (atomic_load_explicit(&b->in_use, memory_order_relaxed) == 0 && free_slot == -1)
			free_slot = i;
	}
	if (free_slot == -1)
		return -1;
	b = shm_named_take(shm, SHM_TABLE_BACKENDS, free_slot, upstream);
	memcpy(&b->addr, sa, salen);
	b->addrlen = salen;
	b->weight = weight;
	shm_named_publish(shm, SHM_TABLE_BACKENDS, free_slot);
	return free_slot;
}

void
shm_backend_admin_set(struct shm_backend *b, unsigned admin)
{
	unsigned old = atomic_load_explicit(&b->state, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(&b->state, &old,
	    (old & ~SHM_BACKEND_ADMIN_MASK) | (admin & SHM_BACKEND_ADMIN_MASK),
	    memory_order_relaxed, memory_order_relaxed))
		;
}

void
shm_backend_health_set(struct shm_backend *b, int up, uint64_t now_ms)
{
	if (!up) {
		atomic_fetch_or_explicit(&b->state, SHM_BACKEND_DOWN, memory_order_relaxed);
		return;
	}
	/* up_since first, so that a pick that sees "up" also sees the ramp */
	if (atomic_load_explicit(&b->state, memory_order_relaxed) & SHM_BACKEND_DOWN)
		atomic_store_explicit(&b->up_since_ms, now_ms, memory_order_relaxed);
	atomic_fetch_and_explicit(&b->state, ~SHM_BACKEND_DOWN, memory_order_release);
}

int
shm_backend_passive_fail(struct shm_backend *b, uint64_t now_ms, unsigned max_fails,
    uint64_t fail_ms)
{
	uint_fast64_t start = atomic_load_explicit(&b->fail_window_ms, memory_order_relaxed);
	unsigned n;

	/* A window that has run out starts again; one racer wins the reset. */
	if (now_ms - start > fail_ms &&
	    atomic_compare_exchange_strong(&b->fail_window_ms, &start, now_ms))
		atomic_store_explicit(&b->fail_count, 0, memory_order_relaxed);
	n = atomic_fetch_add_explicit(&b->fail_count, 1, memory_order_relaxed) + 1;
	if (n != max_fails)
		return 0;
	atomic_store_explicit(&b->down_until_ms, now_ms + fail_ms, memory_order_relaxed);
	atomic_fetch_or_explicit(&b->state, SHM_BACKEND_DOWN, memory_order_release);
	return 1;
}

void
shm_backend_ewma_add(struct shm_backend *b, uint64_t sample_us)
{
	uint_fast64_t old = atomic_load_explicit(&b->ewma_us, memory_order_relaxed);
	uint_fast64_t next;

	do {
		if (old == 0)
			next = sample_us;
		else if (sample_us >= old)
			next = old + (sample_us - old) / 8;
		else
			next = old - (old - sample_us) / 8;
		if (next == 0)          /* 0 means "no sample": keep 1us */
			next = 1;
	} while (!atomic_compare_exchange_weak_explicit(&b->ewma_us, &old, next,
	    memory_order_relaxed, memory_order_relaxed));
}

void
shm_backend_release(struct shm *shm, int idx)
{
	shm_named_release(shm, SHM_TABLE_BACKENDS, idx);
}

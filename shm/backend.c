/*
 * Upstreams and backends tables: slot lookup by stable id.
 */
#include <stddef.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/ct.h"
#include "shm/backend.h"

static uint64_t shm_upstreams_bytes(void) { return sizeof(struct shm_upstream) * SHM_UPSTREAMS_MAX; }
static uint64_t shm_backends_bytes(void) { return sizeof(struct shm_backend) * SHM_BACKENDS_MAX; }

int
shm_tables_init(struct shm *shm)
{
	struct shm_header *h = shm_header(shm);

	h->upstreams_off = shm_alloc(shm, shm_upstreams_bytes());
	h->backends_off = shm_alloc(shm, shm_backends_bytes());
	return h->upstreams_off != 0 && h->backends_off != 0 ? CT_OK : CT_ERROR;
}

struct shm_upstream *
shm_upstream_get(const struct shm *shm, int idx)
{
	struct shm_upstream *t = shm_ptr(shm, shm_header(shm)->upstreams_off);

	return &t[idx];
}

struct shm_backend *
shm_backend_get(const struct shm *shm, int idx)
{
	struct shm_backend *t = shm_ptr(shm, shm_header(shm)->backends_off);

	return &t[idx];
}

_Static_assert(offsetof(struct shm_upstream, in_use) == offsetof(struct shm_named, in_use) &&
    offsetof(struct shm_upstream, name) == offsetof(struct shm_named, name),
    "shm_upstream must begin like shm_named");

int
shm_upstream_acquire(struct shm *shm, const char *name)
{
	return shm_named_acquire(shm, shm_header(shm)->upstreams_off,
	    sizeof(struct shm_upstream), SHM_UPSTREAMS_MAX, name);
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
		if (b->in_use && strcmp(b->upstream, upstream) == 0 &&
		    addr_equal((const struct sockaddr *)&b->addr, sa)) {
			b->weight = weight;
			return i;
		}
		if (!b->in_use && free_slot == -1)
			free_slot = i;
	}
	if (free_slot == -1)
		return -1;
	b = shm_backend_get(shm, free_slot);
	memset(b, 0, sizeof(*b));
	memcpy(b->upstream, upstream, strlen(upstream) + 1);
	memcpy(&b->addr, sa, salen);
	b->addrlen = salen;
	b->weight = weight;
	atomic_init(&b->state, 0);
	atomic_init(&b->ewma_us, 0);
	atomic_init(&b->up_since_ms, 0);
	b->in_use = 1;
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
	shm_backend_get(shm, idx)->in_use = 0;
}

/*
 * Segment creation and checking, the directory of tables, named slots,
 * sequence-counted text and robust locks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/shm.h"

int
shm_segment_create(struct shm *shm, size_t size)
{
	struct shm_header *h;

	if (size < SHM_MIN_SIZE) {
		log_error("shm_size %zu is below the minimum of %d", size, SHM_MIN_SIZE);
		return CT_ERROR;
	}
	shm->fd = memfd_create("cuttle-shm", MFD_CLOEXEC);
	if (shm->fd == -1) {
		log_warn("memfd_create() failed");
		return CT_ERROR;
	}
	if (ftruncate(shm->fd, (off_t)size) == -1) {
		log_warn("ftruncate() of the shared segment to %zu bytes failed", size);
		close(shm->fd);
		return CT_ERROR;
	}
	shm->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, shm->fd, 0);
	if (shm->base == MAP_FAILED) {
		log_warn("mmap() of the shared segment (%zu bytes) failed", size);
		close(shm->fd);
		return CT_ERROR;
	}
	shm->size = size;

	h = shm->base;
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->header_size = sizeof(*h);
	h->size = size;
	if (shm_heap_init(shm) != CT_OK) {
		shm_destroy(shm);
		return CT_ERROR;
	}
	return CT_OK;
}

void
shm_destroy(struct shm *shm)
{
	if (shm->base != NULL && shm->base != MAP_FAILED)
		munmap(shm->base, shm->size);
	if (shm->fd != -1)
		close(shm->fd);
	shm->base = NULL;
	shm->fd = -1;
}

/* Does [off, off + len) lie inside a segment of size bytes? */
static int
shm_within(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

int
shm_check(const void *base, size_t size, const char *who)
{
	const struct shm_header *h = base;
	const struct shm_table *t;
	size_t i;

	if (base == NULL || size < sizeof(*h)) {
		log_error("%s: the shared segment (%zu bytes) is smaller than its header", who, size);
		return CT_ERROR;
	}
	if (h->magic != SHM_MAGIC) {
		log_error("%s: the shared segment has magic 0x%016" PRIx64 ", not cuttle's", who,
		    h->magic);
		return CT_ERROR;
	}
	if (h->version != SHM_VERSION || h->header_size != sizeof(*h)) {
		log_error("%s: the shared segment has layout version %u (header %u bytes); "
		    "this binary uses version %u (header %zu bytes)", who, h->version,
		    h->header_size, SHM_VERSION, sizeof(*h));
		return CT_ERROR;
	}
	if (h->size != size) {
		log_error("%s: the shared segment says it has %" PRIu64 " bytes but %zu are mapped",
		    who, h->size, size);
		return CT_ERROR;
	}
	if (!shm_within(h->heap.start, (uint64_t)h->heap.npages * SHM_PAGE, size) ||
	    !shm_within(h->heap.map_off, (uint64_t)h->heap.npages * sizeof(uint32_t), size)) {
		log_error("%s: the shared segment's heap lies outside it", who);
		return CT_ERROR;
	}
	for (i = 0; i < SHM_TABLES_MAX; i++) {
		t = &h->tables[i];
		if (t->off != 0 && !shm_within(t->off, (uint64_t)t->stride * t->count, size)) {
			log_error("%s: the shared segment's table \"%.*s\" lies outside it", who,
			    (int)sizeof(t->name), t->name);
			return CT_ERROR;
		}
	}
	return CT_OK;
}

/* ---------------------------------------------------------- tables */

int
shm_table_register(struct shm *shm, enum shm_table_id id, const char *name,
    size_t stride, uint32_t count)
{
	struct shm_table *t = &shm_header(shm)->tables[id];

	t->off = shm_alloc(shm, stride * count);
	if (t->off == 0)
		return CT_ERROR;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->stride = (uint32_t)stride;
	t->count = count;
	atomic_init(&t->used, 0);
	return CT_OK;
}

void
shm_table_count(struct shm *shm, enum shm_table_id id, int delta)
{
	struct shm_table *t = &shm_header(shm)->tables[id];

	if (delta > 0)
		atomic_fetch_add_explicit(&t->used, 1, memory_order_relaxed);
	else
		atomic_fetch_sub_explicit(&t->used, 1, memory_order_relaxed);
}

/* ------------------------------------------------------ named slots */

static struct shm_named *
shm_named_get(const struct shm *shm, enum shm_table_id id, int idx)
{
	return shm_table_slot(shm, id, idx);
}

int
shm_named_acquire(struct shm *shm, enum shm_table_id id, const char *name)
{
	const struct shm_table *t = shm_table(shm, id);
	size_t len = strlen(name);
	struct shm_named *n;
	int i, free_slot = -1;

	if (len >= SHM_NAME_LEN)
		return -1;
	for (i = 0; i < (int)t->count; i++) {
		n = shm_named_get(shm, id, i);
		if (atomic_load_explicit(&n->in_use, memory_order_relaxed) != 0 &&
		    strcmp(n->name, name) == 0) {
			n->refs++;
			return i;
		}
		if (atomic_load_explicit(&n->in_use, memory_order_relaxed) == 0 && free_slot == -1)
			free_slot = i;
	}
	if (free_slot == -1)
		return -1;
	shm_named_take(shm, id, free_slot, name);
	shm_named_publish(shm, id, free_slot);
	return free_slot;
}

void *
shm_named_take(struct shm *shm, enum shm_table_id id, int idx, const char *name)
{
	const struct shm_table *t = shm_table(shm, id);
	struct shm_named *n = shm_named_get(shm, id, idx);

	memset((char *)n + sizeof(n->in_use), 0, t->stride - sizeof(n->in_use));
	memcpy(n->name, name, strlen(name) + 1);
	n->refs = 1;
	return n;
}

void
shm_named_publish(struct shm *shm, enum shm_table_id id, int idx)
{
	struct shm_named *n = shm_named_get(shm, id, idx);

	/* Stored last: a reader that sees it sees the name. */
	atomic_store_explicit(&n->in_use,
	    atomic_fetch_add(&shm_header(shm)->name_seq, 1) + 1, memory_order_release);
	shm_table_count(shm, id, 1);
}

void
shm_named_release(struct shm *shm, enum shm_table_id id, int idx)
{
	const struct shm_table *t = shm_table(shm, id);
	struct shm_named *n;

	if (idx < 0 || idx >= (int)t->count)
		return;
	n = shm_named_get(shm, id, idx);
	if (atomic_load_explicit(&n->in_use, memory_order_relaxed) == 0 || n->refs == 0) {
		log_alert("shm table %s: slot %d released but not in use", t->name, idx);
		return;
	}
	if (--n->refs > 0)
		return;
	/* Unpublished first, so that a reader copying the name drops its copy. */
	atomic_store_explicit(&n->in_use, 0, memory_order_release);
	memset((char *)n + sizeof(n->in_use), 0, t->stride - sizeof(n->in_use));
	shm_table_count(shm, id, -1);
}

int
shm_named_read(const struct shm *shm, enum shm_table_id id, int idx, char *out)
{
	struct shm_named *n = shm_named_get(shm, id, idx);
	uint_fast64_t inc;
	int tries;

	for (tries = 0; tries < 4; tries++) {
		inc = atomic_load_explicit(&n->in_use, memory_order_acquire);
		if (inc == 0)
			break;
		memcpy(out, n->name, SHM_NAME_LEN);
		out[SHM_NAME_LEN - 1] = '\0';
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&n->in_use, memory_order_relaxed) == inc)
			return 1;
	}
	out[0] = '\0';
	return 0;
}

/* ------------------------------------------------------------- text */

void
shm_seq_write(atomic_uint *seqp, atomic_uint_fast64_t *w, const void *src, size_t len)
{
	unsigned seq = atomic_load_explicit(seqp, memory_order_relaxed);
	size_t i;

	atomic_store_explicit(seqp, seq + 1, memory_order_relaxed);
	/* The odd count is seen before any word of the new bytes. */
	atomic_thread_fence(memory_order_release);
	for (i = 0; i < len / 8; i++) {
		uint64_t v;

		memcpy(&v, (const char *)src + i * 8, 8);
		atomic_store_explicit(&w[i], v, memory_order_relaxed);
	}
	atomic_store_explicit(seqp, seq + 2, memory_order_release);
}

int
shm_seq_read(const atomic_uint *seqp, const atomic_uint_fast64_t *w, void *out, size_t len)
{
	atomic_uint *sp = (atomic_uint *)(uintptr_t)seqp;
	atomic_uint_fast64_t *wp = (atomic_uint_fast64_t *)(uintptr_t)w;
	unsigned before, tries;
	size_t i;

	for (tries = 0; tries < 64; tries++) {
		before = atomic_load_explicit(sp, memory_order_acquire);
		if (before & 1)
			continue;
		for (i = 0; i < len / 8; i++) {
			uint64_t v = atomic_load_explicit(&wp[i], memory_order_relaxed);

			memcpy((char *)out + i * 8, &v, 8);
		}
		/* The words are read before the count is read again. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(sp, memory_order_relaxed) == before)
			return CT_OK;
	}
	memset(out, 0, len);
	return CT_AGAIN;
}

void
shm_text_write(struct shm_text *t, const char *s)
{
	char buf[SHM_TEXT_LEN];

	memset(buf, 0, sizeof(buf));
	snprintf(buf, sizeof(buf), "%s", s);
	shm_seq_write(&t->seq, t->w, buf, sizeof(buf));
}

int
shm_text_read(const struct shm_text *t, char *out)
{
	if (shm_seq_read(&t->seq, t->w, out, SHM_TEXT_LEN) != CT_OK)
		return CT_AGAIN;
	out[SHM_TEXT_LEN - 1] = '\0';
	return CT_OK;
}

void
shm_tls_keys_write(struct shm_tls_keys *k, const unsigned char *keys)
{
	shm_seq_write(&k->seq, k->w, keys, sizeof(k->w));
}

int
shm_tls_keys_read(const struct shm_tls_keys *k, unsigned char *out)
{
	return shm_seq_read(&k->seq, k->w, out, sizeof(k->w));
}

const char *
shm_redis_state_name(int state)
{
	static const char *const names[SHM_REDIS_STATES] = {
		[SHM_REDIS_OFF] = "off",
		[SHM_REDIS_DISCOVER] = "discover",
		[SHM_REDIS_CONNECTING] = "connecting",
		[SHM_REDIS_AUTH] = "auth",
		[SHM_REDIS_READY] = "ready",
		[SHM_REDIS_DOWN] = "down",
	};

	return state >= 0 && state < SHM_REDIS_STATES ? names[state] : "unknown";
}

/* ------------------------------------------------------------ locks */

int
shm_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rc;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	rc = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	if (rc != 0) {
		errno = rc;
		log_warn("pthread_mutex_init() of a shared lock failed");
		return CT_ERROR;
	}
	return CT_OK;
}

int
shm_mutex_lock(pthread_mutex_t *m, const char *what)
{
	int rc = pthread_mutex_lock(m);

	if (rc == EOWNERDEAD) {
		if ((rc = pthread_mutex_consistent(m)) == 0) {
			log_warnx("recovered the %s lock from a process that died holding it", what);
			return CT_DONE;
		}
		/* Held but not consistent: unlocking it marks it unrecoverable for all. */
		pthread_mutex_unlock(m);
	}
	if (rc != 0) {
		errno = rc;
		log_alert("pthread_mutex_lock() of the %s lock failed: %s", what, strerror(rc));
		return CT_ERROR;
	}
	return CT_OK;
}

void
shm_mutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

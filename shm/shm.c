/*
 * Segment creation, the bump allocator and robust locks.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/shm.h"
#include "shm/backend.h"
#include "shm/stats.h"

static uint64_t
shm_align(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

int
shm_create(struct shm *shm, size_t size)
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
	h->alloc_next = shm_align(sizeof(*h));
	if (shm_mutex_init(&h->alloc_lock) != CT_OK) {
		shm_destroy(shm);
		return CT_ERROR;
	}
	if (shm_tables_init(shm) != CT_OK || shm_stats_init(shm) != CT_OK) {
		log_error("shm_size %zu is too small for the tables", size);
		shm_destroy(shm);
		return CT_ERROR;
	}
	return CT_OK;
}

int
shm_named_acquire(struct shm *shm, uint64_t off, size_t stride, int max, const char *name)
{
	char *table = shm_ptr(shm, off);
	size_t len = strlen(name);
	int i, free_slot = -1;

	if (len >= SHM_NAME_LEN)
		return -1;
	for (i = 0; i < max; i++) {
		struct shm_named *n = (struct shm_named *)(void *)(table + (size_t)i * stride);

		if (n->in_use && strcmp(n->name, name) == 0)
			return i;
		if (!n->in_use && free_slot == -1)
			free_slot = i;
	}
	if (free_slot != -1) {
		struct shm_named *n = (struct shm_named *)(void *)(table + (size_t)free_slot * stride);

		memset(n, 0, stride);
		memcpy(n->name, name, len + 1);
		n->in_use = 1;
	}
	return free_slot;
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

uint64_t
shm_alloc(struct shm *shm, size_t len)
{
	struct shm_header *h = shm_header(shm);
	uint64_t off = 0;

	shm_mutex_lock(&h->alloc_lock, "shm allocator");
	if (len <= h->size - h->alloc_next) {
		off = h->alloc_next;
		h->alloc_next = shm_align(h->alloc_next + len);
		if (h->alloc_next > h->size)
			h->alloc_next = h->size;
	}
	shm_mutex_unlock(&h->alloc_lock);
	if (off != 0)
		memset(shm_ptr(shm, off), 0, len);
	return off;
}

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

void
shm_mutex_lock(pthread_mutex_t *m, const char *what)
{
	int rc = pthread_mutex_lock(m);

	if (rc == EOWNERDEAD) {
		log_warnx("recovered the %s lock from a process that died holding it", what);
		pthread_mutex_consistent(m);
	} else if (rc != 0) {
		errno = rc;
		log_alert("pthread_mutex_lock() of the %s lock failed: %s", what, strerror(rc));
	}
}

void
shm_mutex_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

/*
 * The shared segment.  Only shm/ knows its layout.  It is a memfd mapped
 * MAP_SHARED by the master before the first fork, so every worker sees
 * it at the same address; still, everything inside is addressed by
 * offsets from the base, never by pointers, so that a process mapping it
 * elsewhere (a new binary after an upgrade) reads the same data.
 *
 *   +--------------------+  0
 *   | struct shm_header  |  magic, layout version, size, table offsets
 *   +--------------------+
 *   | upstreams table    |  SHM_UPSTREAMS_MAX x struct shm_upstream
 *   | backends table     |  SHM_BACKENDS_MAX  x struct shm_backend
 *   | listeners table    |  SHM_LISTENERS_MAX x struct shm_listener
 *   | workers table      |  SHM_WORKERS_MAX x struct shm_worker
 *   +--------------------+
 *   | free space         |  handed out by shm_alloc(), never returned
 *   |                    |  (workers' connection tables come from here)
 *   +--------------------+  size
 */
#ifndef CT_SHM_H
#define CT_SHM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC    UINT64_C(0x31454c5454554331)   /* "1CUTTLE1" */
#define SHM_VERSION  3
#define SHM_MIN_SIZE (4 * 1024 * 1024)
#define SHM_NAME_LEN 64             /* upstream and listener names, with the NUL */

struct shm {
	void *base;
	size_t size;
	int fd;
};

struct shm_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t size;
	pthread_mutex_t alloc_lock;   /* robust, process-shared */
	uint64_t alloc_next;          /* offset of the first free byte */
	uint64_t upstreams_off;
	uint64_t backends_off;
	uint64_t listeners_off;
	uint64_t workers_off;
	atomic_uint_fast64_t conn_seq;    /* the last connection id handed out */
	/* What the master is doing, for the control API; written by the master only. */
	atomic_int master_pid;
	atomic_uint_fast64_t started;     /* CLOCK_REALTIME seconds */
	atomic_uint generation;           /* of the workers now accepting */
	atomic_int worker_pids[64];       /* per slot of that generation; 0 = none */
	atomic_uint workers;              /* slots of that generation */
};

/*
 * Creates and maps a segment of size bytes (>= SHM_MIN_SIZE), lays out
 * the header and the tables.  Returns CT_ERROR with a logged reason.
 */
int shm_create(struct shm *shm, size_t size);
void shm_destroy(struct shm *shm);

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
 * Allocates len bytes (8-byte aligned, zeroed) from the free space and
 * returns its offset, or 0 when the segment is full.
 */
uint64_t shm_alloc(struct shm *shm, size_t len);

/*
 * Tables of slots keyed by a name (upstreams, listeners) begin each slot
 * with these two fields, so that one function finds or takes a slot.
 */
struct shm_named {
	uint32_t in_use;
	char name[SHM_NAME_LEN];
};

/*
 * Finds the slot named name in the table at off (max slots of stride
 * bytes), or takes the first free one, zeroed and named.  Returns the
 * slot index, or -1 when the table is full or the name too long.
 */
int shm_named_acquire(struct shm *shm, uint64_t off, size_t stride, int max, const char *name);

/*
 * Process-shared robust mutexes.  A process that dies holding one does
 * not wedge the others: the next locker recovers it and logs that it
 * did, naming what the lock protects.
 */
int shm_mutex_init(pthread_mutex_t *m);
void shm_mutex_lock(pthread_mutex_t *m, const char *what);
void shm_mutex_unlock(pthread_mutex_t *m);

#endif

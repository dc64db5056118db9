/*
 * The upstreams and backends tables.  Slots are keyed by a stable id
 * (upstream name, server address), so that a reload can find the slot
 * of a server that survives and keep its counters.  Only the master
 * acquires and releases slots, before it forks the workers that use
 * them; workers only touch the atomic counters.
 */
#ifndef CT_SHM_BACKEND_H
#define CT_SHM_BACKEND_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shm/shm.h"

#define SHM_UPSTREAMS_MAX 512
#define SHM_BACKENDS_MAX  2048
#define SHM_NAME_LEN      64

struct shm_upstream {
	uint32_t in_use;
	char name[SHM_NAME_LEN];
	atomic_uint_fast64_t rr_next;     /* picks made, cluster-wide: the round-robin position */
};

struct shm_backend {
	uint32_t in_use;
	uint32_t weight;
	char upstream[SHM_NAME_LEN];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	atomic_uint_fast64_t active;      /* connections open or connecting now */
	atomic_uint_fast64_t total;       /* connections established, ever */
	atomic_uint_fast64_t failures;    /* connect attempts that failed */
	atomic_uint_fast64_t bytes_in;    /* received from the server */
	atomic_uint_fast64_t bytes_out;   /* sent to the server */
};

int shm_tables_init(struct shm *shm);

/*
 * Finds the slot of this stable id or takes a free one (zeroed counters).
 * Returns the slot index, or -1 when the table is full.
 */
int shm_upstream_acquire(struct shm *shm, const char *name);
int shm_backend_acquire(struct shm *shm, const char *upstream,
    const struct sockaddr *sa, socklen_t salen, unsigned weight);
void shm_backend_release(struct shm *shm, int idx);

struct shm_upstream *shm_upstream_get(const struct shm *shm, int idx);
struct shm_backend *shm_backend_get(const struct shm *shm, int idx);

#endif

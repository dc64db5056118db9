/*
 * Load balancing.  Decisions read shared memory only, so that every
 * worker decides as one balancer:
 *
 *  - round_robin: the smooth weighted sequence of one period (sum of
 *    weights entries, nginx's algorithm run once at load) is indexed by
 *    the upstream's atomic pick counter in shm.  One atomic add per pick,
 *    no lock, and weights hold exactly across all workers together.
 *  - least_conn: the server with the fewest active connections per unit
 *    of weight (all workers' counts, from shm); ties are broken by the
 *    same pick counter so that they rotate.
 *
 * A pick never returns a server in the caller's "tried" set, which is
 * how a retry moves on to another server.
 */
#ifndef CT_WORKER_LB_H
#define CT_WORKER_LB_H

#include <stdint.h>

#include "conf/conf.h"
#include "shm/shm.h"

struct lb_tried {
	uint64_t bits[(CONF_SERVERS_MAX + 63) / 64];
};

struct lb_upstream {
	const struct conf_upstream *conf;
	int shm_idx;              /* slot in the shm upstreams table */
	int *backend;             /* shm backends slot of each server */
	uint16_t *schedule;       /* round_robin: server index per position */
	uint32_t period;          /* sum of weights */
};

/*
 * Acquires the shm slots of the upstream and its servers (keeping those
 * that already exist) and builds the schedule.  Master only, before fork.
 */
int lb_upstream_init(struct lb_upstream *u, const struct conf_upstream *cu, struct shm *shm);
void lb_upstream_free(struct lb_upstream *u);

/* Returns a server index of u->conf->servers, or -1 when all were tried. */
int lb_pick(const struct lb_upstream *u, const struct shm *shm, const struct lb_tried *tried);

static inline void
lb_tried_add(struct lb_tried *t, int i)
{
	t->bits[i / 64] |= UINT64_C(1) << (i % 64);
}

static inline int
lb_tried_has(const struct lb_tried *t, int i)
{
	return (t->bits[i / 64] >> (i % 64)) & 1;
}

#endif

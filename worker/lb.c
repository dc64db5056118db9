/*
 * Load-balancing algorithms; see lb.h.
 */
#include <stdlib.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "worker/lb.h"

/*
 * Runs smooth weighted round robin (each step: every server gains its
 * weight, the richest is picked and pays the total) for one period.  The
 * sequence interleaves servers instead of bunching them: 5:1:1 gives
 * a a b a c a a, not a a a a a b c.
 */
static int
lb_schedule_build(struct lb_upstream *u)
{
	const struct conf_upstream *cu = u->conf;
	int64_t *cur;
	uint32_t step;
	size_t i;

	u->period = 0;
	for (i = 0; i < cu->nservers; i++)
		u->period += cu->servers[i].weight;
	u->schedule = calloc(u->period, sizeof(*u->schedule));
	cur = calloc(cu->nservers, sizeof(*cur));
	if (u->schedule == NULL || cur == NULL) {
		free(cur);
		return CT_ERROR;
	}
	for (step = 0; step < u->period; step++) {
		size_t best = 0;

		for (i = 0; i < cu->nservers; i++) {
			cur[i] += cu->servers[i].weight;
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= u->period;
		u->schedule[step] = (uint16_t)best;
	}
	free(cur);
	return CT_OK;
}

int
lb_upstream_init(struct lb_upstream *u, const struct conf_upstream *cu, struct shm *shm)
{
	size_t i;

	u->conf = cu;
	u->schedule = NULL;
	u->backend = calloc(cu->nservers, sizeof(*u->backend));
	if (u->backend == NULL)
		return CT_ERROR;
	u->shm_idx = shm_upstream_acquire(shm, cu->name);
	if (u->shm_idx == -1) {
		log_error("upstream \"%s\": the shared upstreams table is full (%d)",
		    cu->name, SHM_UPSTREAMS_MAX);
		return CT_ERROR;
	}
	for (i = 0; i < cu->nservers; i++) {
		const struct conf_server *s = &cu->servers[i];

		u->backend[i] = shm_backend_acquire(shm, cu->name,
		    (const struct sockaddr *)&s->addr.ss, s->addr.len, s->weight);
		if (u->backend[i] == -1) {
			log_error("upstream \"%s\": the shared backends table is full (%d)",
			    cu->name, SHM_BACKENDS_MAX);
			return CT_ERROR;
		}
	}
	return lb_schedule_build(u);
}

void
lb_upstream_free(struct lb_upstream *u)
{
	free(u->backend);
	free(u->schedule);
	u->backend = NULL;
	u->schedule = NULL;
}

static uint64_t
lb_ticket(const struct lb_upstream *u, const struct shm *shm)
{
	return atomic_fetch_add_explicit(&shm_upstream_get(shm, u->shm_idx)->rr_next,
	    1, memory_order_relaxed);
}

static int
lb_pick_round_robin(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	uint64_t t = lb_ticket(u, shm);
	uint32_t n;

	for (n = 0; n < u->period; n++) {
		int s = u->schedule[(t + n) % u->period];

		if (!lb_tried_has(tried, s))
			return s;
	}
	return -1;
}

static int
lb_pick_least_conn(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	const struct conf_upstream *cu = u->conf;
	size_t n = cu->nservers, start = (size_t)(lb_ticket(u, shm) % n), k;
	uint64_t best_active = 0;
	unsigned best_weight = 1;
	int best = -1;

	for (k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		uint64_t active;
		unsigned w = cu->servers[i].weight;

		if (lb_tried_has(tried, (int)i))
			continue;
		active = atomic_load_explicit(&shm_backend_get(shm, u->backend[i])->active,
		    memory_order_relaxed);
		/* active/w < best_active/best_weight, without division */
		if (best == -1 || active * best_weight < best_active * w) {
			best = (int)i;
			best_active = active;
			best_weight = w;
		}
	}
	return best;
}

int
lb_pick(const struct lb_upstream *u, const struct shm *shm, const struct lb_tried *tried)
{
	switch (u->conf->balance) {
	case CONF_BALANCE_LEAST_CONN:
		return lb_pick_least_conn(u, shm, tried);
	case CONF_BALANCE_ROUND_ROBIN:
	default:
		return lb_pick_round_robin(u, shm, tried);
	}
}

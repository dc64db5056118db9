/*
 * The segment's layout: the one place that knows every table shm/ puts
 * in it, so that shm.c (the segment and its directory) depends on no
 * table, and a new table is one registration call here.
 */
#include "lib/ct.h"
#include "lib/log.h"
#include "shm/approval.h"
#include "shm/backend.h"
#include "shm/cache.h"
#include "shm/cluster.h"
#include "shm/events.h"
#include "shm/limit.h"
#include "shm/shm.h"
#include "shm/stats.h"

int
shm_create(struct shm *shm, size_t size)
{
	if (shm_segment_create(shm, size) != CT_OK)
		return CT_ERROR;
	if (shm_tables_init(shm) != CT_OK || shm_stats_init(shm) != CT_OK ||
	    shm_limits_init(shm) != CT_OK || shm_approvals_init(shm) != CT_OK ||
	    shm_events_init(shm) != CT_OK || shm_cache_zones_init(shm) != CT_OK ||
	    shm_cluster_init(shm) != CT_OK) {
		log_error("shm_size %zu is too small for the tables", size);
		shm_destroy(shm);
		return CT_ERROR;
	}
	/* What every other process will check, checked once where it is made. */
	if (shm_check(shm->base, shm->size, "master") != CT_OK) {
		shm_destroy(shm);
		return CT_ERROR;
	}
	return CT_OK;
}

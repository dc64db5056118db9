/*
 * The cluster's view and journal in the segment (shm/cluster.h).
 */
#include <string.h>

#include "lib/ct.h"
#include "shm/cluster.h"

_Static_assert(sizeof(struct shm_cluster_view) % 8 == 0, "the view is whole words");

int
shm_cluster_init(struct shm *shm)
{
	return shm_table_register(shm, SHM_TABLE_CLUSTER, "cluster", sizeof(struct shm_cluster), 1);
}

struct shm_cluster *
shm_cluster_get(const struct shm *shm)
{
	return shm_table_slot(shm, SHM_TABLE_CLUSTER, 0);
}

void
shm_cluster_view_write(struct shm *shm, const struct shm_cluster_view *v)
{
	struct shm_cluster *c = shm_cluster_get(shm);

	shm_seq_write(&c->seq, c->w, v, sizeof(*v));
}

int
shm_cluster_view_read(const struct shm *shm, struct shm_cluster_view *v)
{
	const struct shm_cluster *c = shm_cluster_get(shm);

	return shm_seq_read(&c->seq, c->w, v, sizeof(*v));
}

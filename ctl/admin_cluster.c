/*
 * The cluster in the admin API (master/cluster.h): the nodes of the
 * registry and the journal, as the master publishes them in the segment.
 *
 *   GET /api/v1/cluster   {"node", "prefix", "redis", "now_ms", "nodes": [...],
 *                          "live", "differ", "journal": {...}}
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ctl/admin_int.h"
#include "lib/ct.h"
#include "shm/cluster.h"

static uint64_t
admin_cluster_counter(const atomic_uint_fast64_t *c)
{
	return (uint64_t)atomic_load_explicit(c, memory_order_relaxed);
}

json_t *
admin_cluster(const struct admin *a, int *status)
{
	static struct shm_cluster_view v;
	const struct conf *conf = a->cy->conf;
	const struct shm_cluster *c = shm_cluster_get(a->cy->shm);
	json_t *nodes;
	const char *mine = NULL;
	uint32_t i;

	if (!conf->redis.enabled) {
		*status = 404;
		return json_pack("{s:s}", "error", "standalone: no redis section");
	}
	if (shm_cluster_view_read(a->cy->shm, &v) != CT_OK) {
		*status = 503;
		return json_pack("{s:s}", "error", "the registry is being written; try again");
	}
	if ((nodes = json_array()) == NULL)
		return NULL;
	for (i = 0; i < v.count && i < SHM_CLUSTER_NODES; i++)
		if (v.node[i].self)
			mine = v.node[i].digest;
	for (i = 0; i < v.count && i < SHM_CLUSTER_NODES; i++) {
		const struct shm_cluster_node *n = &v.node[i];

		json_array_append_new(nodes, json_pack("{s:s, s:s, s:b, s:s, s:s, s:s?, s:I, s:I, s:b}",
		    "name", n->name, "state", n->live ? "live" : "gone", "self", n->self != 0,
		    "version", n->version, "digest", n->digest,
		    "admin", n->admin[0] != '\0' ? n->admin : NULL,
		    "started", (json_int_t)n->started,
		    "seen_ms_ago", (json_int_t)(v.now_ms > n->seen_ms ? v.now_ms - n->seen_ms : 0),
		    "same_config", mine == NULL || strcmp(n->digest, mine) == 0));
	}
	*status = 200;
	return json_pack("{s:s, s:s, s:I, s:i, s:i, s:i, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I}}",
	    "node", conf->redis.node, "prefix", conf->redis.prefix, "now_ms", (json_int_t)v.now_ms,
	    "count", (int)v.count, "live", (int)v.live, "differ", (int)v.differ, "nodes", nodes,
	    "journal",
	    "waiting", (json_int_t)admin_cluster_counter(&c->waiting),
	    "dropped", (json_int_t)admin_cluster_counter(&c->dropped),
	    "sent", (json_int_t)admin_cluster_counter(&c->sent),
	    "applied", (json_int_t)admin_cluster_counter(&c->applied),
	    "stale", (json_int_t)admin_cluster_counter(&c->stale),
	    "ignored", (json_int_t)admin_cluster_counter(&c->ignored),
	    "merges", (json_int_t)admin_cluster_counter(&c->merges),
	    "repopulated", (json_int_t)admin_cluster_counter(&c->repopulated));
}

void
admin_cluster_metrics(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_cluster_nodes", "gauge",
		    "Nodes of the cluster's registry, by state (live, gone)." },
		{ "cuttle_cluster_config_differs", "gauge",
		    "Live nodes whose configuration file differs from this node's." },
		{ "cuttle_cluster_journal_waiting", "gauge",
		    "Changes made here that Redis has not acknowledged yet." },
		{ "cuttle_cluster_changes_total", "counter",
		    "Changes of decisions and server states, by what became of them." },
		{ "cuttle_cluster_merges_total", "counter",
		    "Full merges with Redis, one each time the link became ready." },
	};
	static struct shm_cluster_view v;
	const struct shm_cluster *c = shm_cluster_get(a->cy->shm);

	if (!a->cy->conf->redis.enabled)
		return;
	if (shm_cluster_view_read(a->cy->shm, &v) != CT_OK)
		memset(&v, 0, sizeof(v));
	admin_family(f, &fam[0]);
	fprintf(f, "%s{state=\"live\"} %u\n", fam[0].name, v.live);
	fprintf(f, "%s{state=\"gone\"} %u\n", fam[0].name, v.count - v.live);
	admin_family(f, &fam[1]);
	fprintf(f, "%s %u\n", fam[1].name, v.differ);
	admin_family(f, &fam[2]);
	fprintf(f, "%s %" PRIu64 "\n", fam[2].name, admin_cluster_counter(&c->waiting));
	admin_family(f, &fam[3]);
	fprintf(f, "%s{result=\"sent\"} %" PRIu64 "\n", fam[3].name, admin_cluster_counter(&c->sent));
	fprintf(f, "%s{result=\"applied\"} %" PRIu64 "\n", fam[3].name,
	    admin_cluster_counter(&c->applied));
	fprintf(f, "%s{result=\"stale\"} %" PRIu64 "\n", fam[3].name,
	    admin_cluster_counter(&c->stale));
	fprintf(f, "%s{result=\"ignored\"} %" PRIu64 "\n", fam[3].name,
	    admin_cluster_counter(&c->ignored));
	fprintf(f, "%s{result=\"dropped\"} %" PRIu64 "\n", fam[3].name,
	    admin_cluster_counter(&c->dropped));
	fprintf(f, "%s{result=\"repopulated\"} %" PRIu64 "\n", fam[3].name,
	    admin_cluster_counter(&c->repopulated));
	admin_family(f, &fam[4]);
	fprintf(f, "%s %" PRIu64 "\n", fam[4].name, admin_cluster_counter(&c->merges));
}

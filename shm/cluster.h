/*
 * The cluster as this node's master sees it through Redis
 * (master/cluster.h), for the admin process: the nodes of the registry,
 * and the journal of changes that Redis has not taken yet.
 *
 * The master is the one writer.  The admin process reads the nodes
 * under a sequence counter (a copy that raced a write is retried) and
 * the counters as atomics; it never reads the journal's entries.
 *
 * The journal keeps every change this node made or adopted to what the
 * cluster mirrors (decisions, taken back ones too, and operator server
 * states), newest replacing older ones of the same key, flagged while
 * Redis has not acknowledged them.  While Redis is down, or emptied, it
 * is what this node writes back when Redis returns; a change taken back
 * lives only here, so its entry is what lets a later merge tell a
 * decision revoked from one that was never there.  A full journal makes
 * room with an entry Redis has, then with one sent and not yet answered,
 * and only then loses a change that waits for Redis (counted, logged).  It lives in the
 * segment so that a binary upgrade hands it on to the new master.
 */
#ifndef CT_SHM_CLUSTER_H
#define CT_SHM_CLUSTER_H

#include <stdatomic.h>
#include <stdint.h>

#include "shm/approval.h"
#include "shm/shm.h"

#define SHM_CLUSTER_NODES       32      /* nodes shown; more are counted, not listed */
#define SHM_CLUSTER_JOURNAL     512     /* changes kept */
#define SHM_CLUSTER_VERSION_LEN 16
#define SHM_CLUSTER_DIGEST_LEN  24      /* 16 hex digits and the NUL, rounded */
#define SHM_CLUSTER_ADMIN_LEN   72
#define SHM_CLUSTER_SERVER_LEN  72      /* a server's address as configured */

/* A node of the registry. */
struct shm_cluster_node {
	char name[SHM_APPROVAL_NODE_LEN];
	char version[SHM_CLUSTER_VERSION_LEN];
	char digest[SHM_CLUSTER_DIGEST_LEN];    /* of its configuration file */
	char admin[SHM_CLUSTER_ADMIN_LEN];      /* its admin API's address; "": none */
	uint64_t started;                       /* CLOCK_REALTIME s */
	uint64_t seen_ms;                       /* Redis's clock at its last heartbeat */
	uint32_t self;                          /* this node */
	uint32_t live;                          /* heard from within the last few heartbeats */
};

/* What the admin process copies out. */
struct shm_cluster_view {
	uint64_t now_ms;                        /* Redis's clock when the registry was read */
	uint32_t count;                         /* nodes known, listed or not */
	uint32_t live;                          /* of which live */
	uint32_t differ;                        /* live nodes run another configuration */
	uint32_t pad;
	struct shm_cluster_node node[SHM_CLUSTER_NODES];
};

enum shm_cluster_kind {
	SHM_CLUSTER_DECISION = 1,
	SHM_CLUSTER_SERVER
};

/* A change, master only. */
struct shm_cluster_change {
	uint32_t kind;                          /* enum shm_cluster_kind; 0: a free entry */
	uint32_t waiting;                       /* Redis has not acknowledged it */
	uint32_t inflight;                      /* ... but it is sent, and the answer pending */
	uint32_t revoked;                       /* DECISION: taken back */
	uint32_t state;                         /* SERVER: SHM_BACKEND_ADMIN_* */
	uint32_t pad;
	uint64_t seq;                           /* the order of entry, for the replacement */
	struct shm_approval decision;           /* DECISION; its changed_ms and node order it */
	char upstream[SHM_NAME_LEN];            /* SERVER */
	char server[SHM_CLUSTER_SERVER_LEN];
	uint64_t changed_ms;                    /* SERVER */
	char node[SHM_APPROVAL_NODE_LEN];
};

struct shm_cluster {
	atomic_uint seq;
	atomic_uint_fast64_t w[sizeof(struct shm_cluster_view) / 8];
	atomic_uint_fast64_t waiting;           /* journal entries Redis has not taken */
	atomic_uint_fast64_t dropped;           /* waiting entries pushed out of a full journal */
	atomic_uint_fast64_t sent;              /* changes written to Redis */
	atomic_uint_fast64_t applied;           /* changes of other nodes adopted */
	atomic_uint_fast64_t stale;             /* changes ignored, older than what is here */
	atomic_uint_fast64_t ignored;           /* values under the prefix that were not ours */
	atomic_uint_fast64_t merges;            /* full merges with Redis, one per READY */
	atomic_uint_fast64_t repopulated;       /* entries written back to a Redis without them */
	uint64_t next_seq;                      /* master only */
	struct shm_cluster_change journal[SHM_CLUSTER_JOURNAL];
};

/* shm_create()'s. */
int shm_cluster_init(struct shm *shm);
struct shm_cluster *shm_cluster_get(const struct shm *shm);

/* Master: publishes v for the admin process. */
void shm_cluster_view_write(struct shm *shm, const struct shm_cluster_view *v);
/* Admin: a consistent copy, or CT_AGAIN when every try met a write. */
int shm_cluster_view_read(const struct shm *shm, struct shm_cluster_view *v);

#endif

/*
 * The upstreams and backends tables.  Slots are keyed by a stable id
 * (upstream name, server address), so that a reload can find the slot
 * of a server that survives and keep its counters.  Only the master
 * acquires and releases slots: each generation that uses a slot holds
 * one reference to it, taken before its workers are forked and dropped
 * once they have all exited, so that a slot is free again only when no
 * worker can still count on it.  Workers only touch the atomic counters.
 */
#ifndef CT_SHM_BACKEND_H
#define CT_SHM_BACKEND_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shm/shm.h"
#include "shm/stats.h"

#define SHM_UPSTREAMS_MAX 512
#define SHM_BACKENDS_MAX  2048

/* Who runs an upstream's active checks, as the master last decided (master/health.h). */
enum shm_probe {
	SHM_PROBE_NONE,             /* no active checks */
	SHM_PROBE_EVERY_NODE,       /* probe: every_node, or no redis section */
	SHM_PROBE_FALLBACK,         /* probe: cluster, but no lease can be had: this node probes */
	SHM_PROBE_SELF,             /* this node holds the cluster's lease and probes */
	SHM_PROBE_PEER              /* the node named in prober does; its results are adopted */
};

struct shm_upstream {
	atomic_uint_fast64_t in_use;      /* as struct shm_named */
	uint32_t refs;
	char name[SHM_NAME_LEN];
	atomic_uint_fast64_t rr_next;     /* picks made, cluster-wide: the round-robin position */
	atomic_uint probe;                /* enum shm_probe; written by the master only */
	struct shm_text prober;           /* SHM_PROBE_PEER: that node's name (cut to fit) */
};

/* "none", "every_node", "fallback", "self", "peer"; "?" for another value. */
const char *shm_probe_name(unsigned probe);

struct shm_backend {
	atomic_uint_fast64_t in_use;      /* as struct shm_named, keyed by upstream and addr */
	uint32_t refs;
	char upstream[SHM_NAME_LEN];
	uint32_t weight;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	atomic_uint_fast64_t active;      /* connections open or connecting now */
	atomic_uint_fast64_t conns_limit; /* max_conns: admit while active is below; see below */
	atomic_uint conns_scope;          /* the max_conns scope conns_limit is for, SHM_CONNS_* */
	atomic_uint_fast64_t capped;      /* clients refused while it was at its cap */
	atomic_uint_fast64_t conns_others; /* cluster: the other nodes' claims, last seen */
	atomic_uint_fast64_t total;       /* connections established, ever */
	atomic_uint_fast64_t failures;    /* connect attempts that failed */
	atomic_uint_fast64_t bytes_in;    /* received from the server */
	atomic_uint_fast64_t bytes_out;   /* sent to the server */
	atomic_uint state;                /* SHM_BACKEND_* bits below; 0 = enabled and up */
	atomic_uint_fast64_t ewma_us;     /* smoothed connect + first-byte time, us; 0 = no sample yet */
	atomic_uint_fast64_t up_since_ms; /* CLOCK_MONOTONIC ms when it last came up; 0 = up since start */
	atomic_uint_fast64_t fail_window_ms; /* passive: start of the current fail_timeout window */
	atomic_uint fail_count;           /* passive: failed connections in that window */
	atomic_uint_fast64_t down_until_ms; /* passive: out until then (monotonic ms); 0 = not taken out */
	atomic_uint_fast64_t check_us;    /* last active check's latency, us */
	struct shm_text check_reason;     /* last active check's failure; written by the master only */
	struct shm_hist response;         /* connect + first byte, as ewma_us */
	atomic_uint_fast64_t tls_handshakes; /* TLS handshakes completed with the server */
	atomic_uint_fast64_t tls_resumed;    /* of which resumed a session */
};

/*
 * The state word packs two independent owners' views, so that a pick
 * needs one load:
 *
 *   bits 0-1  admin, written by the admin API: enabled (0), drain (1:
 *             no new connections, open ones finish), disabled (2)
 *   bit  2    health, written by health checks: set while down
 *
 * Zero is "enabled and up", the state of a fresh slot.  Each writer
 * changes only its own bits (a CAS loop for admin, fetch_or/fetch_and
 * for health) through the functions below, never with a plain store.
 */
#define SHM_BACKEND_ADMIN_MASK     0x3u
#define SHM_BACKEND_ADMIN_ENABLED  0x0u
#define SHM_BACKEND_ADMIN_DRAIN    0x1u
#define SHM_BACKEND_ADMIN_DISABLED 0x2u
#define SHM_BACKEND_DOWN           0x4u

/*
 * max_conns.  conns_limit is this node's bound on active: the server's
 * limit (scope node), or what the master holds of the cluster's limit
 * (scope cluster, master/conncap.h), which it alone writes.  A worker
 * admits a connection by adding it to active and then checking the
 * bound, both sequentially consistent, while the master lowers the
 * bound before it reads active: so either the worker sees the lower
 * bound and backs out, or the master's read counts the connection.
 */
#define SHM_CONNS_NONE      0u            /* no cap: conns_limit is SHM_CONNS_UNLIMITED */
#define SHM_CONNS_NODE      1u
#define SHM_CONNS_CLUSTER   2u
#define SHM_CONNS_UNLIMITED UINT64_MAX

/* Can new connections go to b?  Enabled and up. */
static inline int
shm_backend_usable(const struct shm_backend *b)
{
	return atomic_load_explicit(&((struct shm_backend *)(uintptr_t)b)->state,
	    memory_order_relaxed) == 0;
}

int shm_tables_init(struct shm *shm);

/*
 * Finds the slot of this stable id or takes a free one (zeroed counters),
 * and adds a reference to it.  Returns the slot index, or -1 when the
 * table is full.  A release drops one reference; the last one frees it.
 */
int shm_upstream_acquire(struct shm *shm, const char *name);
void shm_upstream_release(struct shm *shm, int idx);
int shm_backend_acquire(struct shm *shm, const char *upstream,
    const struct sockaddr *sa, socklen_t salen, unsigned weight);
void shm_backend_release(struct shm *shm, int idx);

/* Sets the admin bits to one of SHM_BACKEND_ADMIN_*; health is kept. */
void shm_backend_admin_set(struct shm_backend *b, unsigned admin);
/*
 * Marks b up or down.  A down -> up change records now_ms (monotonic)
 * in up_since_ms, which slow_start ramps the weight from.
 */
void shm_backend_health_set(struct shm_backend *b, int up, uint64_t now_ms);
/*
 * Counts one failed connection for passive health.  When max_fails
 * failures fall within fail_ms, the server is marked down until
 * now + fail_ms; returns 1 to the one caller whose failure did it (so
 * that it alone logs it), 0 otherwise.
 */
int shm_backend_passive_fail(struct shm_backend *b, uint64_t now_ms, unsigned max_fails,
    uint64_t fail_ms);

/*
 * Folds one sample into ewma_us: new = old + (sample - old) / 8, the
 * first sample taken as is.  A CAS loop, so that concurrent samples
 * from several workers are each applied once; a lost race retries
 * with the other's result.
 */
void shm_backend_ewma_add(struct shm_backend *b, uint64_t sample_us);

struct shm_upstream *shm_upstream_get(const struct shm *shm, int idx);
struct shm_backend *shm_backend_get(const struct shm *shm, int idx);

#endif

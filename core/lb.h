/*
 * Load balancing.  Decisions read shared memory only (plus, for the
 * random ones, a per-process generator), so that every worker decides
 * as one balancer:
 *
 *  - round_robin: the smooth weighted sequence of one period (sum of
 *    weights entries, nginx's algorithm run once at load) is indexed by
 *    the upstream's atomic pick counter in shm.  One atomic add per pick,
 *    no lock, and weights hold exactly across all workers together.
 *  - least_conn: the server with the fewest active connections per unit
 *    of weight (all workers' counts, from shm); ties are broken by the
 *    same pick counter so that they rotate.
 *  - random: weighted random, from a xorshift generator seeded per
 *    process (each worker its own sequence).
 *  - p2c: two distinct weighted-random candidates; the one with fewer
 *    active connections per unit of weight wins.
 *  - least_time: the lowest ewma_us * (active + 1) / weight: the
 *    expected wait of one more connection, a server's smoothed connect
 *    and first-byte time times the connections it would then carry,
 *    shared out over its weight.  A server without a sample yet counts
 *    as 1us, so that it gets tried and measured.  Ties rotate.
 *  - first: the first usable server in config order.
 *  - hash: a consistent ring, ketama-style: LB_RING_POINTS points per
 *    unit of weight for each server, at hash(address "-" n), sorted at
 *    init; a key goes to the first point at or after its hash, walking
 *    on past servers that cannot take it.  Adding or removing one of N
 *    servers moves about 1/N of the keys.  Without a key (NULL) the
 *    pick is weighted random.
 *
 * Every algorithm skips servers that are down, drained or disabled (shm
 * state) or at their max_conns, and uses backup servers only while no
 * primary one is usable and untried.  A pick never returns a server in
 * the caller's "tried" set, which is how a retry moves on to another
 * server.  A server at its max_conns is passed over as if tried; an
 * upstream without max_conns costs a pick one test for it, no shm load.
 *
 * slow_start: a server that came up (up_since_ms) less than slow_start
 * ago counts with its weight times elapsed / slow_start, at least
 * 1/LB_WEIGHT_SCALE of a unit, in random, p2c, least_conn and
 * least_time.  round_robin keeps its schedule but accepts the turn of
 * such a server with probability elapsed / slow_start, else moves to
 * the next position.  first and hash ignore it: their choice is by
 * order, not by share.
 */
#ifndef CT_CORE_LB_H
#define CT_CORE_LB_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "lib/http_parse.h"
#include "shm/backend.h"
#include "shm/shm.h"

#define LB_RING_POINTS   160          /* hash: ring points per unit of weight */
#define LB_RING_MAX      (1u << 20)   /* hash: fewer points per unit beyond this */
#define LB_WEIGHT_SCALE  1024         /* effective weights are in 1/1024 units */

struct lb_tried {
	uint64_t bits[(CONF_SERVERS_MAX + 63) / 64];
};

/* One point of the hash ring. */
struct lb_point {
	uint64_t hash;
	uint32_t server;
};

struct lb_upstream {
	const struct conf_upstream *conf;
	int shm_idx;              /* slot in the shm upstreams table */
	int *backend;             /* shm backends slot of each server */
	uint16_t *schedule;       /* round_robin: server index per position */
	uint32_t period;          /* sum of weights */
	struct lb_point *ring;    /* hash: sorted by hash, NULL otherwise */
	uint32_t nring;
	uint32_t ncapped;         /* servers with max_conns; 0: picks never look at caps */
};

/*
 * Acquires the shm slots of the upstream and its servers (keeping those
 * that already exist) and builds the schedule (and ring, for hash).
 * Master only, before fork.
 */
int lb_upstream_init(struct lb_upstream *u, const struct conf_upstream *cu, struct shm *shm);
void lb_upstream_free(struct lb_upstream *u);

/*
 * Returns a server index of u->conf->servers, or -1 when none is usable
 * and untried.  key/keylen is what hash hashes (NULL for the others).
 */
int lb_pick(const struct lb_upstream *u, const struct shm *shm, const struct lb_tried *tried,
    const void *key, size_t keylen);

/*
 * Server i's weight in 1/LB_WEIGHT_SCALE units at monotonic time now_ms,
 * slow_start applied.
 */
uint64_t lb_weight(const struct lb_upstream *u, const struct shm *shm, int i, uint64_t now_ms);

/* The 64-bit hash of the ring and of keys (FNV-1a, then a final mix). */
uint64_t lb_hash(const void *p, size_t n);

/*
 * The hash key of a client address: its IP bytes, without the port, so
 * that one client's connections go to one server.  NULL for a unix
 * socket peer.
 */
const void *lb_key_addr(const struct sockaddr *peer, size_t *len);

/*
 * The hash key of a request under u's hash_key: the path and query,
 * a field's value or a cookie's value; the client address when the
 * field or cookie is absent, or for client_ip.
 */
const void *lb_key_http(const struct conf_upstream *u, const struct http_request *req,
    const struct sockaddr *peer, size_t *len);

/* The value of cookie name in a Cookie field value [p, p + n), or NULL. */
const char *lb_cookie_find(const char *p, size_t n, const char *name, size_t *len);

/*
 * Counts a new connection to server i in its active count: CT_OK, or
 * CT_DECLINED, counting nothing, when that would pass its max_conns
 * (another worker took the room the pick saw).  lb_release() undoes it
 * for a connection never made.
 */
int lb_admit(const struct lb_upstream *u, const struct shm *shm, int i);
void lb_release(const struct lb_upstream *u, const struct shm *shm, int i);

/*
 * After a pick found nothing: is it because servers that could take the
 * client are at their max_conns?  Counts the refusal on each of them,
 * logs it now and then, and returns how many there are.
 */
size_t lb_capped(const struct lb_upstream *u, const struct shm *shm);

/* Seeds this process's generator (tests; workers seed themselves). */
void lb_rng_seed(uint64_t seed);

/* Feeds one connect or first-byte time, in microseconds, to ewma_us. */
void lb_observe(const struct lb_upstream *u, const struct shm *shm, int i, uint64_t us);
/*
 * The same by the shm slot of the server (struct conn's backend); -1,
 * a destination that is no upstream's server, is not observed.
 */
void lb_observe_backend(const struct shm *shm, int backend, uint64_t us);

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

/*
 * Counts a failed connection to server idx of u (or a session of mode
 * udp that the server refused) in its failures and for passive health,
 * and logs it, with a health event, when that takes the server out
 * (health.passive).
 */
void lb_passive_fail(const struct lb_upstream *u, struct shm *shm, int idx, uint64_t now_ms);

#endif

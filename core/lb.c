/*
 * Load-balancing algorithms; see lb.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "shm/events.h"
#include "core/lb.h"

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

/* ------------------------------------------------------------------ */
/* The hash ring */

uint64_t
lb_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(1099511628211);
	}
	/* FNV spreads the low bits of similar keys poorly: mix them all */
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static int
lb_point_cmp(const void *a, const void *b)
{
	const struct lb_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->server < y->server ? -1 : x->server > y->server;
}

/*
 * Places LB_RING_POINTS points per unit of weight for each server, at
 * the hash of its address as written and the point's number, so that a
 * server keeps its points whatever the other servers are.  Past
 * LB_RING_MAX points in all, every server gets proportionally fewer.
 */
static int
lb_ring_build(struct lb_upstream *u)
{
	const struct conf_upstream *cu = u->conf;
	uint64_t per = LB_RING_POINTS, total = 0;
	char id[ADDR_STRLEN + 32];
	size_t i, j, o = 0;

	for (i = 0; i < cu->nservers; i++)
		total += cu->servers[i].weight;
	if (total * per > LB_RING_MAX)
		per = LB_RING_MAX / total > 0 ? LB_RING_MAX / total : 1;
	u->nring = (uint32_t)(total * per);
	if ((u->ring = calloc(u->nring, sizeof(*u->ring))) == NULL)
		return CT_ERROR;
	for (i = 0; i < cu->nservers; i++) {
		for (j = 0; j < cu->servers[i].weight * per; j++) {
			int n = snprintf(id, sizeof(id), "%s-%zu", cu->servers[i].address, j);

			u->ring[o].hash = lb_hash(id, n > 0 ? (size_t)n : 0);
			u->ring[o++].server = (uint32_t)i;
		}
	}
	qsort(u->ring, u->nring, sizeof(*u->ring), lb_point_cmp);
	return CT_OK;
}

/*
 * The bound a generation starts with.  A cluster count that was already
 * running keeps what the master holds of it (within the new limit);
 * a new one admits nothing until the master has a share of the cluster
 * (master/conncap.h), which it gets within one settle.
 */
static void
lb_limit_init(struct shm_backend *b, const struct conf_max_conns *mc)
{
	uint64_t limit = SHM_CONNS_UNLIMITED;
	unsigned scope = SHM_CONNS_NONE;

	if (mc->limit != 0 && mc->scope == CONF_CONNS_CLUSTER) {
		scope = SHM_CONNS_CLUSTER;
		limit = 0;
		if (atomic_load(&b->conns_scope) == SHM_CONNS_CLUSTER)
			limit = CT_MIN(atomic_load(&b->conns_limit), (uint64_t)mc->limit);
	} else if (mc->limit != 0) {
		scope = SHM_CONNS_NODE;
		limit = mc->limit;
	}
	atomic_store(&b->conns_limit, limit);
	atomic_store(&b->conns_scope, scope);
}

int
lb_upstream_init(struct lb_upstream *u, const struct conf_upstream *cu, struct shm *shm)
{
	size_t i;

	u->conf = cu;
	u->schedule = NULL;
	u->ring = NULL;
	u->nring = 0;
	u->ncapped = 0;
	for (i = 0; i < cu->nservers; i++)
		u->ncapped += cu->servers[i].max_conns.limit != 0;
	u->backend = calloc(cu->nservers, sizeof(*u->backend));
	if (u->backend == NULL)
		return CT_ERROR;
	/* -1 until acquired: a failure half-way gives back only what was taken. */
	for (i = 0; i < cu->nservers; i++)
		u->backend[i] = -1;
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
		lb_limit_init(shm_backend_get(shm, u->backend[i]), &s->max_conns);
	}
	if (lb_schedule_build(u) != CT_OK)
		return CT_ERROR;
	return cu->balance == CONF_BALANCE_HASH ? lb_ring_build(u) : CT_OK;
}

void
lb_upstream_free(struct lb_upstream *u)
{
	free(u->backend);
	free(u->schedule);
	free(u->ring);
	u->backend = NULL;
	u->schedule = NULL;
	u->ring = NULL;
	u->nring = 0;
}

/* ------------------------------------------------------------------ */
/* Shared helpers */

static uint64_t lb_rng_state;
static pid_t lb_rng_pid;

void
lb_rng_seed(uint64_t seed)
{
	lb_rng_state = seed != 0 ? seed : UINT64_C(0x9e3779b97f4a7c15);
	lb_rng_pid = getpid();
}

/*
 * xorshift64*.  Seeded on first use in each process, from the pid and
 * the clock, so that workers forked from one master differ.
 */
static uint64_t
lb_rng(void)
{
	uint64_t x;

	if (lb_rng_state == 0 || lb_rng_pid != getpid()) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		lb_rng_seed(lb_hash(&ts, sizeof(ts)) ^ ((uint64_t)getpid() << 32));
	}
	x = lb_rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	lb_rng_state = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Uniform in [0, n), n > 0; the bias of a 64-bit modulo is negligible here. */
static uint64_t
lb_rng_below(uint64_t n)
{
	return lb_rng() % n;
}

static uint64_t
lb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct shm_backend *
lb_backend(const struct lb_upstream *u, const struct shm *shm, size_t i)
{
	return shm_backend_get(shm, u->backend[i]);
}

static uint64_t
lb_ticket(const struct lb_upstream *u, const struct shm *shm)
{
	return atomic_fetch_add_explicit(&shm_upstream_get(shm, u->shm_idx)->rr_next,
	    1, memory_order_relaxed);
}

/*
 * Elapsed / slow_start of server i, in 1/LB_WEIGHT_SCALE units:
 * LB_WEIGHT_SCALE when not ramping.  up_since_ms 0 means up since start.
 */
static uint64_t
lb_ramp(const struct lb_upstream *u, const struct shm *shm, size_t i, uint64_t now_ms)
{
	uint64_t ss = u->conf->slow_start_ms, since;

	if (ss == 0)
		return LB_WEIGHT_SCALE;
	since = atomic_load_explicit(&lb_backend(u, shm, i)->up_since_ms,
	    memory_order_relaxed);
	if (since == 0 || now_ms < since || now_ms - since >= ss)
		return LB_WEIGHT_SCALE;
	return (now_ms - since) * LB_WEIGHT_SCALE / ss;
}

uint64_t
lb_weight(const struct lb_upstream *u, const struct shm *shm, int i, uint64_t now_ms)
{
	uint64_t w = u->conf->servers[i].weight * lb_ramp(u, shm, (size_t)i, now_ms);

	return w > 0 ? w : 1;
}

static inline void
lb_observe_at(struct shm_backend *b, uint64_t us)
{
	shm_backend_ewma_add(b, us);
	shm_hist_add(&b->response, us);
}

void
lb_observe(const struct lb_upstream *u, const struct shm *shm, int i, uint64_t us)
{
	if (i >= 0 && (size_t)i < u->conf->nservers)
		lb_observe_at(lb_backend(u, shm, (size_t)i), us);
}

void
lb_observe_backend(const struct shm *shm, int backend, uint64_t us)
{
	if (backend >= 0)
		lb_observe_at(shm_backend_get(shm, backend), us);
}

/*
 * What one pick may choose from: the usable, untried servers of one
 * tier (primaries, or backups when no primary qualifies), with their
 * effective weights.
 */
struct lb_set {
	uint8_t ok[CONF_SERVERS_MAX];
	uint64_t w[CONF_SERVERS_MAX];
	uint64_t total;             /* sum of w over ok */
	size_t n;                   /* servers that are ok */
	int backup;                 /* the tier chosen */
};

/*
 * Is server i at its max_conns?  Without one, the configuration says so
 * and shm is not read; with one, two relaxed loads of one cache line.
 */
static int
lb_full(const struct lb_upstream *u, const struct shm *shm, size_t i)
{
	struct shm_backend *b;

	if (u->conf->servers[i].max_conns.limit == 0)
		return 0;
	b = lb_backend(u, shm, i);
	return atomic_load_explicit(&b->active, memory_order_relaxed) >=
	    atomic_load_explicit(&b->conns_limit, memory_order_relaxed);
}

static int
lb_usable(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried, size_t i)
{
	return !lb_tried_has(tried, (int)i) && shm_backend_usable(lb_backend(u, shm, i));
}

static int
lb_tier(const struct lb_upstream *u, const struct shm *shm, const struct lb_tried *tried)
{
	size_t i;

	for (i = 0; i < u->conf->nservers; i++)
		if (!u->conf->servers[i].backup && lb_usable(u, shm, tried, i))
			return 0;
	return 1;
}

/* Fills s; weights only when weighted (the clock is read only then). */
static void
lb_set_fill(struct lb_set *s, const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried, int weighted)
{
	const struct conf_upstream *cu = u->conf;
	uint64_t now = weighted && cu->slow_start_ms > 0 ? lb_now_ms() : 0;
	size_t i;

	s->backup = lb_tier(u, shm, tried);
	s->total = 0;
	s->n = 0;
	for (i = 0; i < cu->nservers; i++) {
		s->ok[i] = (cu->servers[i].backup != 0) == s->backup &&
		    lb_usable(u, shm, tried, i);
		s->w[i] = 0;
		if (!s->ok[i])
			continue;
		s->n++;
		if (weighted) {
			s->w[i] = lb_weight(u, shm, (int)i, now);
			s->total += s->w[i];
		}
	}
}

/* A weighted-random member of s, leaving out skip (-1: none). */
static int
lb_set_random(const struct lb_set *s, size_t n, int skip)
{
	uint64_t total = s->total - (skip >= 0 ? s->w[skip] : 0), r;
	size_t i;

	if (total == 0)
		return -1;
	r = lb_rng_below(total);
	for (i = 0; i < n; i++) {
		if (!s->ok[i] || (int)i == skip)
			continue;
		if (r < s->w[i])
			return (int)i;
		r -= s->w[i];
	}
	return -1;
}

static uint64_t
lb_active(const struct lb_upstream *u, const struct shm *shm, size_t i)
{
	return atomic_load_explicit(&lb_backend(u, shm, i)->active, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Hash keys */

const void *
lb_key_addr(const struct sockaddr *sa, size_t *len)
{
	if (sa->sa_family == AF_INET) {
		*len = sizeof(struct in_addr);
		return &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		*len = sizeof(struct in6_addr);
		return &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	}
	*len = 0;
	return NULL;
}

static int
lb_cookie_space(char c)
{
	return c == ' ' || c == '\t';
}

const char *
lb_cookie_find(const char *p, size_t n, const char *name, size_t *len)
{
	const char *end = p + n, *semi, *eq;
	size_t nlen = strlen(name);

	while (p < end) {
		while (p < end && (lb_cookie_space(*p) || *p == ';'))
			p++;
		if ((semi = memchr(p, ';', (size_t)(end - p))) == NULL)
			semi = end;
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			const char *v = eq + 1, *ve = semi;

			while (ve > v && lb_cookie_space(ve[-1]))
				ve--;
			if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
				v++;
				ve--;
			}
			*len = (size_t)(ve - v);
			return v;
		}
		p = semi;
	}
	return NULL;
}

const void *
lb_key_http(const struct conf_upstream *u, const struct http_request *req,
    const struct sockaddr *peer, size_t *len)
{
	const struct http_header *f;
	const char *v;

	switch (u->hash_key) {
	case CONF_HASH_URI:
		*len = req->path.len;
		return req->path.p;
	case CONF_HASH_HEADER:
		if ((f = http_header_find(&req->h, u->hash_name)) != NULL) {
			*len = f->value.len;
			return f->value.p;
		}
		break;
	case CONF_HASH_COOKIE:
		if ((f = http_header_find_id(&req->h, HTTP_F_COOKIE)) != NULL &&
		    (v = lb_cookie_find(f->value.p, f->value.len, u->hash_name, len)) != NULL)
			return v;
		break;
	case CONF_HASH_CLIENT_IP:
		break;
	}
	return lb_key_addr(peer, len);
}

/* ------------------------------------------------------------------ */
/* The algorithms */

/*
 * The schedule position of the ticket first, then the next ones.  A
 * ramping server's turn is taken with probability elapsed / slow_start;
 * if every turn of the period was declined, the first eligible wins.
 */
static int
lb_pick_round_robin(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	const struct conf_upstream *cu = u->conf;
	uint64_t t = lb_ticket(u, shm), now = cu->slow_start_ms > 0 ? lb_now_ms() : 0;
	int backup = lb_tier(u, shm, tried), fallback = -1;
	uint32_t n;

	for (n = 0; n < u->period; n++) {
		int s = u->schedule[(t + n) % u->period];
		uint64_t ramp;

		if ((cu->servers[s].backup != 0) != backup || !lb_usable(u, shm, tried, (size_t)s))
			continue;
		if (fallback == -1)
			fallback = s;
		if (cu->slow_start_ms == 0)
			return s;
		ramp = lb_ramp(u, shm, (size_t)s, now);
		if (ramp >= LB_WEIGHT_SCALE || lb_rng_below(LB_WEIGHT_SCALE) < ramp)
			return s;
	}
	return fallback;
}

static int
lb_pick_least_conn(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	size_t n = u->conf->nservers, start = (size_t)(lb_ticket(u, shm) % n), k;
	uint64_t best_active = 0, best_weight = 1;
	struct lb_set s;
	int best = -1;

	lb_set_fill(&s, u, shm, tried, 1);
	for (k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		uint64_t active;

		if (!s.ok[i])
			continue;
		active = lb_active(u, shm, i);
		/* active/w < best_active/best_weight, without division */
		if (best == -1 || (double)active * (double)best_weight <
		    (double)best_active * (double)s.w[i]) {
			best = (int)i;
			best_active = active;
			best_weight = s.w[i];
		}
	}
	return best;
}

static int
lb_pick_random(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	struct lb_set s;

	lb_set_fill(&s, u, shm, tried, 1);
	return lb_set_random(&s, u->conf->nservers, -1);
}

static int
lb_pick_p2c(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	struct lb_set s;
	int a, b;

	lb_set_fill(&s, u, shm, tried, 1);
	if ((a = lb_set_random(&s, u->conf->nservers, -1)) == -1 || s.n < 2)
		return a;
	b = lb_set_random(&s, u->conf->nservers, a);
	/* active_b/w_b < active_a/w_a: b is less loaded per weight */
	if ((double)lb_active(u, shm, (size_t)b) * (double)s.w[a] <
	    (double)lb_active(u, shm, (size_t)a) * (double)s.w[b])
		return b;
	return a;
}

static int
lb_pick_least_time(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	size_t n = u->conf->nservers, start = (size_t)(lb_ticket(u, shm) % n), k;
	double best_score = 0;
	struct lb_set s;
	int best = -1;

	lb_set_fill(&s, u, shm, tried, 1);
	for (k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		uint64_t ewma;
		double score;

		if (!s.ok[i])
			continue;
		ewma = atomic_load_explicit(&lb_backend(u, shm, i)->ewma_us,
		    memory_order_relaxed);
		score = (double)(ewma > 0 ? ewma : 1) * (double)(lb_active(u, shm, i) + 1) /
		    (double)s.w[i];
		if (best == -1 || score < best_score) {
			best = (int)i;
			best_score = score;
		}
	}
	return best;
}

static int
lb_pick_first(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried)
{
	struct lb_set s;
	size_t i;

	lb_set_fill(&s, u, shm, tried, 0);
	for (i = 0; i < u->conf->nservers; i++)
		if (s.ok[i])
			return (int)i;
	return -1;
}

/* The first ring point at or after h, wrapping to 0. */
static uint32_t
lb_ring_find(const struct lb_upstream *u, uint64_t h)
{
	uint32_t lo = 0, hi = u->nring;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (u->ring[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == u->nring ? 0 : lo;
}

static int
lb_pick_hash(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried, const void *key, size_t keylen)
{
	struct lb_set s;
	uint32_t p, k;

	if (key == NULL || u->ring == NULL)
		return lb_pick_random(u, shm, tried);
	lb_set_fill(&s, u, shm, tried, 0);
	if (s.n == 0)
		return -1;
	p = lb_ring_find(u, lb_hash(key, keylen));
	for (k = 0; k < u->nring; k++) {
		uint32_t srv = u->ring[(p + k) % u->nring].server;

		if (s.ok[srv])
			return (int)srv;
	}
	return -1;
}

static int
lb_pick_balance(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried, const void *key, size_t keylen)
{
	switch (u->conf->balance) {
	case CONF_BALANCE_LEAST_CONN:
		return lb_pick_least_conn(u, shm, tried);
	case CONF_BALANCE_RANDOM:
		return lb_pick_random(u, shm, tried);
	case CONF_BALANCE_P2C:
		return lb_pick_p2c(u, shm, tried);
	case CONF_BALANCE_LEAST_TIME:
		return lb_pick_least_time(u, shm, tried);
	case CONF_BALANCE_FIRST:
		return lb_pick_first(u, shm, tried);
	case CONF_BALANCE_HASH:
		return lb_pick_hash(u, shm, tried, key, keylen);
	case CONF_BALANCE_ROUND_ROBIN:
	default:
		return lb_pick_round_robin(u, shm, tried);
	}
}

/*
 * Servers at their cap are passed over as if tried, in a copy of tried,
 * so that the algorithms know nothing of caps.  Out of line, so that
 * the copy costs a pick in an upstream without max_conns nothing, not
 * even the stack guard of a local array.
 */
static __attribute__((noinline)) int
lb_pick_capped(const struct lb_upstream *u, const struct shm *shm,
    const struct lb_tried *tried, const void *key, size_t keylen)
{
	struct lb_tried t = *tried;
	size_t i;

	for (i = 0; i < u->conf->nservers; i++)
		if (lb_full(u, shm, i))
			lb_tried_add(&t, (int)i);
	return lb_pick_balance(u, shm, &t, key, keylen);
}

int
lb_pick(const struct lb_upstream *u, const struct shm *shm, const struct lb_tried *tried,
    const void *key, size_t keylen)
{
	if (u->ncapped != 0)
		return lb_pick_capped(u, shm, tried, key, keylen);
	return lb_pick_balance(u, shm, tried, key, keylen);
}

int
lb_admit(const struct lb_upstream *u, const struct shm *shm, int i)
{
	struct shm_backend *b = lb_backend(u, shm, (size_t)i);

	if (u->conf->servers[i].max_conns.limit == 0) {
		atomic_fetch_add_explicit(&b->active, 1, memory_order_relaxed);
		return CT_OK;
	}
	/* Add, then look: the order the master's lowering relies on (shm/backend.h). */
	if (atomic_fetch_add(&b->active, 1) < atomic_load(&b->conns_limit))
		return CT_OK;
	atomic_fetch_sub(&b->active, 1);
	return CT_DECLINED;
}

void
lb_release(const struct lb_upstream *u, const struct shm *shm, int i)
{
	atomic_fetch_sub_explicit(&lb_backend(u, shm, (size_t)i)->active, 1,
	    memory_order_relaxed);
}

#define LB_CAPPED_LOG_MS 10000      /* a full upstream is logged once in this */

size_t
lb_capped(const struct lb_upstream *u, const struct shm *shm)
{
	static uint64_t logged_ms;
	struct shm_backend *b;
	uint64_t now;
	size_t i, n = 0;

	for (i = 0; i < u->conf->nservers; i++) {
		b = lb_backend(u, shm, i);
		if (!lb_full(u, shm, i) || !shm_backend_usable(b))
			continue;
		atomic_fetch_add_explicit(&b->capped, 1, memory_order_relaxed);
		n++;
	}
	if (n == 0)
		return 0;
	now = lb_now_ms();
	if (logged_ms == 0 || now - logged_ms >= LB_CAPPED_LOG_MS) {
		logged_ms = now;
		log_warnx("upstream \"%s\": every server that could take a new client is "
		    "at its max_conns; refusing (counted in cuttle_server_capped_total)",
		    u->conf->name);
	}
	return n;
}

void
lb_passive_fail(const struct lb_upstream *u, struct shm *shm, int idx, uint64_t now_ms)
{
	const struct conf_health *hl = &u->conf->health;
	struct shm_backend *b = shm_backend_get(shm, u->backend[idx]);
	struct shm_event ev;
	char why[SHM_EVENT_TEXT];

	atomic_fetch_add_explicit(&b->failures, 1, memory_order_relaxed);
	if (hl->max_fails == 0 ||
	    !shm_backend_passive_fail(b, now_ms, hl->max_fails, hl->fail_timeout_ms))
		return;
	snprintf(why, sizeof(why), "%u failed connections within fail_timeout", hl->max_fails);
	log_warnx("upstream \"%s\" server %s is down for %llums: %s", u->conf->name,
	    u->conf->servers[idx].address, (unsigned long long)hl->fail_timeout_ms, why);
	shm_event_init(&ev, SHM_EV_HEALTH);
	ev.backend = (int16_t)u->backend[idx];
	ev.flag = SHM_EV_HEALTH_PASSIVE;
	ev.n[0] = hl->fail_timeout_ms;
	shm_event_text(&ev, why);
	(void)shm_event_write(shm, &ev);
}

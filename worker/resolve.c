/*
 * The worker's resolver: c-ares on the worker's event loop, a cache of
 * answers, and lookups that can be cancelled at any time.
 *
 *   resolve_start()
 *     |-- IP literal, bad name, cached answer --> a query already done --+
 *     |-- a query for (name, family) in flight? --> join it              |
 *     '-- a new query: ares_getaddrinfo()                                |
 *            |                                                           v
 *            +-- c-ares answers (an ev_io or the c-ares timer) ----> done list
 *            '-- the deadline timer gives up on it ---------------->     |
 *                                                                        v
 *                        the ready timer (0 ms): each waiter's callback, in
 *                        the timer step of the same loop iteration
 *
 * c-ares keeps a query as its callback's argument until it calls back,
 * whatever became of the lookups waiting on it; so a query lives while
 * c-ares holds it (in_ares) or it waits on the done list (queued), and
 * the lookups (requests) are objects of their own in a list of the
 * query's: cancelling one is an unlink.  No callback of ours runs inside
 * c-ares, and no user callback runs inside resolve_start().
 *
 * Time: c-ares retries on its own timer (ares_timeout()), each try given
 * a share of the configured timeout such that all of them fit in it, and
 * the deadline timer enforces the total whatever c-ares does.  Every
 * query has the same timeout, so the queries in flight, in the order
 * they started, are in deadline order: one timer over a FIFO.
 *
 * The cache maps (name, family) to an answer until min(TTL, cache)
 * passes, or negative_cache for "no such name" and "no address"; it is
 * bounded by cache_size entries, the least recently used going first.
 * Its buckets are indexed by a hash keyed per worker: clients choose the
 * names.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/lb.h"
#include "lib/ct.h"
#include "lib/log.h"
#include "worker/resolve.h"

#define RESOLVE_PENDING_BUCKETS  256
#define RESOLVE_FREE_MAX         64     /* requests and queries kept for reuse */
#define RESOLVE_SEED_LEN         16
#define RESOLVE_LABEL_MAX        63

/* The (name, family) of a query or a cache entry, and its hash chain. */
struct resolve_key {
	struct resolve_key *hnext;
	uint64_t hash;
	int family;
	size_t len;
	char name[RESOLVE_NAME_MAX + 1];    /* lower-case, no trailing dot */
};

struct resolve_answer {
	enum resolve_status status;
	const char *why;                    /* static; NULL for RESOLVE_OK */
	size_t n;
	union resolve_addr addrs[RESOLVE_ADDRS_MAX];
};

struct resolve_req {
	struct resolve_req *prev;
	struct resolve_req *next;           /* in its query's waiters; the free list */
	struct resolve_query *q;
	resolve_cb cb;
	void *arg;
	uint16_t port;
};

struct resolve_query {
	struct resolve_key key;             /* in r->pending while it may be joined */
	struct resolver *r;
	struct resolve_req *waiters;
	struct resolve_query *fprev;        /* the deadline FIFO, while c-ares asks */
	struct resolve_query *fnext;
	struct resolve_query *dnext;        /* the done list; the free list */
	uint64_t deadline;
	struct resolve_answer ans;
	unsigned in_ares:1;                 /* c-ares holds it as its callback's argument */
	unsigned queued:1;                  /* on the done list, or being delivered */
	unsigned joinable:1;                /* in r->pending */
	unsigned timed_out:1;               /* the deadline passed: c-ares' answer only fills the cache */
};

struct resolve_entry {
	struct resolve_key key;             /* in r->cache while in use */
	struct resolve_entry *lprev;        /* least recently used last */
	struct resolve_entry *lnext;        /* also the free list */
	uint64_t expires;                   /* loop clock */
	struct resolve_answer ans;
};

/* A socket of c-ares', as long as it wants events on it. */
struct resolve_sock {
	struct ev_io io;
	struct resolver *r;
	struct resolve_sock *next;
};

struct resolve_table {
	struct resolve_key **buckets;
	size_t mask;
};

struct resolver {
	struct ev_loop *loop;
	ares_channel channel;
	int channel_open;
	int destroying;                     /* resolver_free() runs: c-ares' callbacks only free */
	uint64_t timeout_ms;
	uint64_t cache_ms;
	uint64_t negative_ms;
	size_t cache_size;
	unsigned char seed[RESOLVE_SEED_LEN];
	struct resolve_table pending;       /* queries that a lookup may join */
	struct resolve_table cache;
	struct resolve_entry *lru_head;
	struct resolve_entry *lru_tail;
	struct resolve_entry *free_entries;
	size_t nentries;                    /* allocated, in use or free */
	struct resolve_query *fifo_head;
	struct resolve_query *fifo_tail;
	struct resolve_query *done_head;
	struct resolve_query *done_tail;
	struct resolve_query *free_queries;
	size_t nfree_queries;
	struct resolve_req *free_reqs;
	size_t nfree_reqs;
	struct resolve_sock *socks;
	struct resolve_sock *spare_socks;
	struct ev_timer ares_timer;         /* c-ares' own timeouts and retries */
	struct ev_timer deadline_timer;     /* the total timeout of the FIFO's head */
	struct ev_timer ready_timer;        /* 0 ms: the done list's callbacks */
	union resolve_addr scratch[RESOLVE_ADDRS_MAX];
	struct resolve_stats stats;
};

static const char *const resolve_status_names[] = {
	[RESOLVE_OK] = "ok",
	[RESOLVE_NXDOMAIN] = "nxdomain",
	[RESOLVE_NODATA] = "nodata",
	[RESOLVE_TIMEOUT] = "timeout",
	[RESOLVE_REFUSED] = "refused",
	[RESOLVE_SERVFAIL] = "servfail",
	[RESOLVE_BADNAME] = "badname",
	[RESOLVE_ERROR] = "error",
};

const char *
resolve_status_name(enum resolve_status s)
{
	return (size_t)s < CT_NELEM(resolve_status_names) ? resolve_status_names[s] : "unknown";
}

/* ------------------------------------------------------------ names */

/*
 * Copies host name in into out lower-case, without one trailing dot;
 * returns its length, or 0 when it is no host name.  A last label of
 * digits only is refused: no top-level domain is one, and "127.1" must
 * not reach a library that would read it as an address.
 */
static size_t
resolve_name_norm(const char *in, char out[RESOLVE_NAME_MAX + 1])
{
	size_t len = strnlen(in, RESOLVE_NAME_MAX + 2), i, label = 0;
	int digits = 1;
	char c;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > RESOLVE_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = in[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			digits = 1;
		} else {
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_'))
				return 0;
			digits &= c >= '0' && c <= '9';
			if (++label > RESOLVE_LABEL_MAX)
				return 0;
		}
		out[i] = c;
	}
	if (label == 0 || digits)
		return 0;
	out[len] = '\0';
	return len;
}

/*
 * An IPv4 or IPv6 literal as the answer; 0 when name is none.  A literal
 * of the other family than the one asked for has no address.
 */
static int
resolve_literal(const char *name, int family, struct resolve_answer *a)
{
	union resolve_addr *u = &a->addrs[0];

	if (inet_pton(AF_INET, name, &u->sin.sin_addr) == 1)
		u->sa.sa_family = AF_INET;
	else if (inet_pton(AF_INET6, name, &u->sin6.sin6_addr) == 1)
		u->sa.sa_family = AF_INET6;
	else
		return 0;
	if (family != AF_UNSPEC && family != u->sa.sa_family) {
		memset(u, 0, sizeof(*u));
		a->status = RESOLVE_NODATA;
		a->why = "an address of the other family";
		return 1;
	}
	a->status = RESOLVE_OK;
	a->n = 1;
	return 1;
}

/* ------------------------------------------------------- hash tables */

static int
resolve_table_init(struct resolve_table *t, size_t want)
{
	size_t n = 16;

	while (n < want)
		n *= 2;
	if ((t->buckets = calloc(n, sizeof(*t->buckets))) == NULL)
		return CT_ERROR;
	t->mask = n - 1;
	return CT_OK;
}

/* Fills in k's hash from its name and family, keyed by the worker's seed. */
static void
resolve_key_hash(const struct resolver *r, struct resolve_key *k)
{
	unsigned char buf[RESOLVE_SEED_LEN + RESOLVE_NAME_MAX + 1];

	memcpy(buf, r->seed, RESOLVE_SEED_LEN);
	memcpy(buf + RESOLVE_SEED_LEN, k->name, k->len);
	buf[RESOLVE_SEED_LEN + k->len] = (unsigned char)k->family;
	k->hash = lb_hash(buf, RESOLVE_SEED_LEN + k->len + 1);
}

static struct resolve_key *
resolve_table_find(const struct resolve_table *t, const struct resolve_key *k)
{
	struct resolve_key *e;

	for (e = t->buckets[k->hash & t->mask]; e != NULL; e = e->hnext)
		if (e->hash == k->hash && e->family == k->family && e->len == k->len &&
		    memcmp(e->name, k->name, k->len) == 0)
			return e;
	return NULL;
}

static void
resolve_table_add(struct resolve_table *t, struct resolve_key *k)
{
	struct resolve_key **b = &t->buckets[k->hash & t->mask];

	k->hnext = *b;
	*b = k;
}

static void
resolve_table_del(struct resolve_table *t, struct resolve_key *k)
{
	struct resolve_key **p;

	for (p = &t->buckets[k->hash & t->mask]; *p != NULL; p = &(*p)->hnext)
		if (*p == k) {
			*p = k->hnext;
			return;
		}
}

/* ------------------------------------------------------------- cache */

static void
resolve_lru_unlink(struct resolver *r, struct resolve_entry *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else
		r->lru_head = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else
		r->lru_tail = e->lprev;
}

static void
resolve_lru_push(struct resolver *r, struct resolve_entry *e)
{
	e->lprev = NULL;
	e->lnext = r->lru_head;
	if (r->lru_head != NULL)
		r->lru_head->lprev = e;
	else
		r->lru_tail = e;
	r->lru_head = e;
}

/* Takes e out of the cache onto the free list. */
static void
resolve_entry_drop(struct resolver *r, struct resolve_entry *e)
{
	resolve_table_del(&r->cache, &e->key);
	resolve_lru_unlink(r, e);
	e->lnext = r->free_entries;
	r->free_entries = e;
	r->stats.entries--;
}

/* The live entry of k, made the most recently used; NULL on a miss. */
static struct resolve_entry *
resolve_cache_get(struct resolver *r, const struct resolve_key *k)
{
	struct resolve_entry *e = (struct resolve_entry *)resolve_table_find(&r->cache, k);

	if (e == NULL)
		return NULL;
	if (e->expires <= ev_now(r->loop)) {
		resolve_entry_drop(r, e);
		return NULL;
	}
	resolve_lru_unlink(r, e);
	resolve_lru_push(r, e);
	return e;
}

/* An entry to fill: k's own, a free one, a new one, or the least recently used. */
static struct resolve_entry *
resolve_entry_take(struct resolver *r, const struct resolve_key *k)
{
	struct resolve_entry *e = (struct resolve_entry *)resolve_table_find(&r->cache, k);

	if (e != NULL) {
		resolve_lru_unlink(r, e);
		return e;
	}
	if ((e = r->free_entries) != NULL) {
		r->free_entries = e->lnext;
	} else if (r->nentries < r->cache_size && (e = malloc(sizeof(*e))) != NULL) {
		r->nentries++;
	} else if ((e = r->lru_tail) != NULL) {
		resolve_table_del(&r->cache, &e->key);
		resolve_lru_unlink(r, e);
		r->stats.entries--;
	} else {
		return NULL;
	}
	memcpy(&e->key, k, sizeof(e->key));
	resolve_table_add(&r->cache, &e->key);
	r->stats.entries++;
	return e;
}

/*
 * Keeps answer a of k for as long as it may be: ttl_ms (the shortest of
 * the records') capped by cache, or negative_cache.  Failures of the name
 * servers are not kept: the next lookup asks again.
 */
static void
resolve_cache_put(struct resolver *r, const struct resolve_key *k,
    const struct resolve_answer *a, uint64_t ttl_ms)
{
	struct resolve_entry *e;
	uint64_t life;

	if (a->status == RESOLVE_OK)
		life = CT_MIN(ttl_ms, r->cache_ms);
	else if (a->status == RESOLVE_NXDOMAIN || a->status == RESOLVE_NODATA)
		life = r->negative_ms;
	else
		return;
	if (r->cache_size == 0 || life == 0 || (e = resolve_entry_take(r, k)) == NULL)
		return;
	e->ans = *a;
	e->expires = ev_now(r->loop) + life;
	resolve_lru_push(r, e);
}

/* ----------------------------------------------- requests and queries */

static struct resolve_req *
resolve_req_get(struct resolver *r)
{
	struct resolve_req *req = r->free_reqs;

	if (req != NULL) {
		r->free_reqs = req->next;
		r->nfree_reqs--;
	} else if ((req = malloc(sizeof(*req))) == NULL) {
		return NULL;
	}
	memset(req, 0, sizeof(*req));
	return req;
}

static void
resolve_req_put(struct resolver *r, struct resolve_req *req)
{
	if (r->nfree_reqs >= RESOLVE_FREE_MAX) {
		free(req);
		return;
	}
	req->next = r->free_reqs;
	r->free_reqs = req;
	r->nfree_reqs++;
}

static struct resolve_query *
resolve_query_get(struct resolver *r)
{
	struct resolve_query *q = r->free_queries;

	if (q != NULL) {
		r->free_queries = q->dnext;
		r->nfree_queries--;
	} else if ((q = malloc(sizeof(*q))) == NULL) {
		return NULL;
	}
	memset(q, 0, sizeof(*q));
	q->r = r;
	return q;
}

static void
resolve_query_put(struct resolver *r, struct resolve_query *q)
{
	if (r->nfree_queries >= RESOLVE_FREE_MAX) {
		free(q);
		return;
	}
	q->dnext = r->free_queries;
	r->free_queries = q;
	r->nfree_queries++;
}

static void
resolve_req_attach(struct resolve_query *q, struct resolve_req *req)
{
	req->q = q;
	req->prev = NULL;
	req->next = q->waiters;
	if (q->waiters != NULL)
		q->waiters->prev = req;
	q->waiters = req;
}

static void
resolve_req_unlink(struct resolve_req *req)
{
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		req->q->waiters = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
}

/* Frees the requests still waiting on q, without their callbacks. */
static void
resolve_waiters_drop(struct resolver *r, struct resolve_query *q)
{
	struct resolve_req *req;

	while ((req = q->waiters) != NULL) {
		resolve_req_unlink(req);
		resolve_req_put(r, req);
	}
}

/* ---------------------------------------------------------- delivery */

/* Puts q on the done list; the ready timer calls its waiters back. */
static void
resolve_queue(struct resolver *r, struct resolve_query *q)
{
	q->queued = 1;
	q->dnext = NULL;
	if (r->done_tail != NULL)
		r->done_tail->dnext = q;
	else
		r->done_head = q;
	r->done_tail = q;
	if (!ev_timer_active(&r->ready_timer) &&
	    ev_timer_start(r->loop, &r->ready_timer, 0) != CT_OK)
		log_warn("resolver: cannot arm its timer; lookups wait for the next answer");
}

/*
 * Calls every waiter of q with its answer.  Each request is freed before
 * its callback, which may start lookups (they are queued, never answered
 * here) and cancel others (of q too: the list is read afresh each time).
 */
static void
resolve_waiters_call(struct resolver *r, struct resolve_query *q)
{
	const struct resolve_answer *a = &q->ans;
	struct resolve_req *req;
	resolve_cb cb;
	uint16_t port;
	void *arg;
	size_t i;

	while ((req = q->waiters) != NULL) {
		resolve_req_unlink(req);
		cb = req->cb;
		arg = req->arg;
		port = htons(req->port);
		resolve_req_put(r, req);
		if (a->status != RESOLVE_OK) {
			cb(arg, a->status, NULL, 0, a->why);
			continue;
		}
		for (i = 0; i < a->n; i++) {
			r->scratch[i] = a->addrs[i];
			if (a->addrs[i].sa.sa_family == AF_INET)
				r->scratch[i].sin.sin_port = port;
			else
				r->scratch[i].sin6.sin6_port = port;
		}
		cb(arg, RESOLVE_OK, r->scratch, a->n, NULL);
	}
}

static void
resolve_ready(struct ev_loop *loop, struct ev_timer *t)
{
	struct resolver *r = t->data;
	struct resolve_query *q;

	(void)loop;
	while ((q = r->done_head) != NULL) {
		if ((r->done_head = q->dnext) == NULL)
			r->done_tail = NULL;
		resolve_waiters_call(r, q);
		q->queued = 0;
		if (!q->in_ares)
			resolve_query_put(r, q);
	}
}

/* ---------------------------------------------------------- timeouts */

static void
resolve_fifo_append(struct resolver *r, struct resolve_query *q)
{
	q->fnext = NULL;
	q->fprev = r->fifo_tail;
	if (r->fifo_tail != NULL)
		r->fifo_tail->fnext = q;
	else
		r->fifo_head = q;
	r->fifo_tail = q;
}

static void
resolve_fifo_del(struct resolver *r, struct resolve_query *q)
{
	if (q->fprev != NULL)
		q->fprev->fnext = q->fnext;
	else
		r->fifo_head = q->fnext;
	if (q->fnext != NULL)
		q->fnext->fprev = q->fprev;
	else
		r->fifo_tail = q->fprev;
	q->fprev = q->fnext = NULL;
}

static void
resolve_deadline_arm(struct resolver *r)
{
	uint64_t now = ev_now(r->loop), when;

	if (r->fifo_head == NULL) {
		ev_timer_stop(r->loop, &r->deadline_timer);
		return;
	}
	when = r->fifo_head->deadline;
	if (ev_timer_start(r->loop, &r->deadline_timer, when > now ? when - now : 0) != CT_OK)
		log_warn("resolver: cannot arm the lookup timeout");
}

/* A query that is answered or given up no longer takes new lookups. */
static void
resolve_query_close(struct resolver *r, struct resolve_query *q)
{
	resolve_fifo_del(r, q);
	if (q->joinable)
		resolve_table_del(&r->pending, &q->key);
	q->joinable = 0;
}

static void
resolve_deadline(struct ev_loop *loop, struct ev_timer *t)
{
	struct resolver *r = t->data;
	struct resolve_query *q;

	while ((q = r->fifo_head) != NULL && q->deadline <= ev_now(loop)) {
		resolve_query_close(r, q);
		q->timed_out = 1;
		q->ans.status = RESOLVE_TIMEOUT;
		q->ans.why = "timed out";
		q->ans.n = 0;
		r->stats.failures++;
		resolve_queue(r, q);
	}
	resolve_deadline_arm(r);
}

/*
 * Arms the c-ares timer for what ares_timeout() says, rounded up to a
 * whole millisecond and at least one: the loop's clock stands still
 * within an iteration, and a timer re-armed at 0 from its own callback
 * would run again at once.
 */
static void
resolve_ares_arm(struct resolver *r)
{
	struct timeval tv;
	uint64_t ms;

	if (ares_timeout(r->channel, NULL, &tv) == NULL) {
		ev_timer_stop(r->loop, &r->ares_timer);
		return;
	}
	ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
	if (ev_timer_start(r->loop, &r->ares_timer, ms > 0 ? ms : 1) != CT_OK)
		log_warn("resolver: cannot arm the name servers' retry timer");
}

static void
resolve_ares_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct resolver *r = t->data;

	(void)loop;
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolve_ares_arm(r);
}

/* ----------------------------------------------------- c-ares answers */

static enum resolve_status
resolve_status_of(int status, const char **why)
{
	switch (status) {
	case ARES_ENOTFOUND:
		*why = "no such name";
		return RESOLVE_NXDOMAIN;
	case ARES_ENODATA:
		*why = "no address";
		return RESOLVE_NODATA;
	case ARES_ETIMEOUT:
		*why = "timed out";
		return RESOLVE_TIMEOUT;
	case ARES_EREFUSED:
		*why = "refused by the name server";
		return RESOLVE_REFUSED;
	case ARES_ECONNREFUSED:
		/*
		 * Every name server's port refused the query, or (c-ares 1.18)
		 * every name server answered REFUSED or SERVFAIL: c-ares reports
		 * those tries by this one code.
		 */
		*why = "no name server would answer";
		return RESOLVE_REFUSED;
	case ARES_ESERVFAIL:
	case ARES_EFORMERR:
	case ARES_ENOTIMP:
	case ARES_EBADRESP:
		*why = "name server failure";
		return RESOLVE_SERVFAIL;
	case ARES_EBADNAME:
		*why = "invalid host name";
		return RESOLVE_BADNAME;
	default:
		*why = ares_strerror(status);
		return RESOLVE_ERROR;
	}
}

static uint64_t
resolve_ttl_ms(int ttl)
{
	return ttl > 0 ? (uint64_t)ttl * 1000 : 0;
}

/*
 * Fills a from c-ares' result: IPv4 addresses first, then IPv6, at most
 * RESOLVE_ADDRS_MAX.  Returns the shortest TTL of the records, CNAMEs
 * included, in ms (UINT64_MAX when there is none).
 */
static uint64_t
resolve_answer_fill(struct resolve_answer *a, int status, const struct ares_addrinfo *ai)
{
	static const int families[] = { AF_INET, AF_INET6 };
	const struct ares_addrinfo_cname *cn;
	const struct ares_addrinfo_node *n;
	uint64_t ttl = UINT64_MAX;
	size_t f;

	memset(a, 0, sizeof(*a));
	if (status != ARES_SUCCESS || ai == NULL) {
		a->status = resolve_status_of(status != ARES_SUCCESS ? status : ARES_ENODATA, &a->why);
		return ttl;
	}
	for (f = 0; f < CT_NELEM(families); f++)
		for (n = ai->nodes; n != NULL && a->n < RESOLVE_ADDRS_MAX; n = n->ai_next) {
			if (n->ai_family != families[f] || n->ai_addr == NULL ||
			    n->ai_addrlen > sizeof(a->addrs[0]) ||
			    n->ai_addrlen < (f == 0 ? sizeof(struct sockaddr_in) :
			    sizeof(struct sockaddr_in6)))
				continue;
			memcpy(&a->addrs[a->n++], n->ai_addr, n->ai_addrlen);
			ttl = CT_MIN(ttl, resolve_ttl_ms(n->ai_ttl));
		}
	for (cn = ai->cnames; cn != NULL; cn = cn->next)
		ttl = CT_MIN(ttl, resolve_ttl_ms(cn->ttl));
	if (a->n == 0)
		a->status = resolve_status_of(ARES_ENODATA, &a->why);
	return ttl;
}

/*
 * c-ares is done with q: the answer goes to the cache and, unless the
 * deadline already answered for it, to the waiters.
 */
static void
resolve_ares_done(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct resolve_query *q = arg;
	struct resolver *r = q->r;
	struct resolve_answer a;
	uint64_t ttl;

	(void)timeouts;
	q->in_ares = 0;
	r->stats.queries--;
	if (r->destroying) {
		if (ai != NULL)
			ares_freeaddrinfo(ai);
		resolve_waiters_drop(r, q);
		free(q);
		return;
	}
	ttl = resolve_answer_fill(&a, status, ai);
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	resolve_cache_put(r, &q->key, &a, ttl);
	if (q->timed_out) {
		if (!q->queued)
			resolve_query_put(r, q);
		return;
	}
	resolve_query_close(r, q);
	resolve_deadline_arm(r);
	q->ans = a;
	if (a.status != RESOLVE_OK)
		r->stats.failures++;
	resolve_queue(r, q);
}

/* ------------------------------------------------------------ sockets */

static void
resolve_sock_event(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct resolve_sock *s = io->data;
	struct resolver *r = s->r;
	int fd = io->fd;

	(void)loop;
	/* s may be closed and put aside in there: only r is used after. */
	ares_process_fd(r->channel,
	    (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 ? fd : ARES_SOCKET_BAD,
	    (events & EPOLLOUT) != 0 ? fd : ARES_SOCKET_BAD);
	resolve_ares_arm(r);
}

/*
 * c-ares' sock_state_cb: what it wants of a socket, nothing meaning that
 * it is about to close it.  A socket it is done with is kept aside for
 * the next one rather than freed: its handler may be the one running.
 */
static void
resolve_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	struct resolve_sock *s, **p;

	for (p = &r->socks; (s = *p) != NULL; p = &s->next)
		if (s->io.fd == fd)
			break;
	if (events == 0) {
		if (s != NULL) {
			ev_io_stop(r->loop, &s->io);
			*p = s->next;
			s->next = r->spare_socks;
			r->spare_socks = s;
		}
		return;
	}
	if (s == NULL) {
		if ((s = r->spare_socks) != NULL)
			r->spare_socks = s->next;
		else if ((s = malloc(sizeof(*s))) == NULL) {
			log_warnx("resolver: out of memory for a name server socket");
			return;
		}
		s->r = r;
		ev_io_init(&s->io, fd, resolve_sock_event, s);
		s->next = r->socks;
		r->socks = s;
	}
	if (ev_io_set(r->loop, &s->io, events) != CT_OK)
		log_warn("resolver: epoll_ctl() on a name server socket failed");
}

/* ------------------------------------------------------------ lookups */

/* An answer known now (literal, bad name, cache): delivered from the loop. */
static struct resolve_req *
resolve_answer_now(struct resolver *r, struct resolve_req *req, const struct resolve_answer *a)
{
	struct resolve_query *q = resolve_query_get(r);

	if (q == NULL) {
		resolve_req_put(r, req);
		return NULL;
	}
	q->ans = *a;
	resolve_req_attach(q, req);
	resolve_queue(r, q);
	return req;
}

/* Asks the name servers for k, req the first to wait. */
static struct resolve_req *
resolve_ask(struct resolver *r, struct resolve_req *req, const struct resolve_key *k)
{
	struct ares_addrinfo_hints hints;
	struct resolve_query *q = resolve_query_get(r);

	if (q == NULL) {
		resolve_req_put(r, req);
		return NULL;
	}
	memcpy(&q->key, k, sizeof(q->key));
	resolve_req_attach(q, req);
	resolve_table_add(&r->pending, &q->key);
	q->joinable = 1;
	q->deadline = ev_now(r->loop) + r->timeout_ms;
	resolve_fifo_append(r, q);
	q->in_ares = 1;
	r->stats.queries++;
	r->stats.misses++;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = k->family;
	hints.ai_socktype = SOCK_STREAM;
	/* RFC 6724 sorting connects a socket per address: not on the loop. */
	hints.ai_flags = ARES_AI_NOSORT;
	/* c-ares may call back from in here: the answer is only queued. */
	ares_getaddrinfo(r->channel, q->key.name, NULL, &hints, resolve_ares_done, q);
	resolve_deadline_arm(r);
	resolve_ares_arm(r);
	return req;
}

struct resolve_req *
resolve_start(struct resolver *r, const char *name, int family, uint16_t port,
    resolve_cb cb, void *arg)
{
	struct resolve_answer a;
	struct resolve_entry *e;
	struct resolve_req *req;
	struct resolve_query *q;
	struct resolve_key k;

	if ((req = resolve_req_get(r)) == NULL)
		return NULL;
	req->cb = cb;
	req->arg = arg;
	req->port = port;
	memset(&a, 0, sizeof(a));
	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
		a.status = RESOLVE_ERROR;
		a.why = "unsupported address family";
		return resolve_answer_now(r, req, &a);
	}
	if (resolve_literal(name, family, &a))
		return resolve_answer_now(r, req, &a);
	if ((k.len = resolve_name_norm(name, k.name)) == 0) {
		a.status = RESOLVE_BADNAME;
		a.why = "invalid host name";
		return resolve_answer_now(r, req, &a);
	}
	k.family = family;
	resolve_key_hash(r, &k);
	if ((e = resolve_cache_get(r, &k)) != NULL) {
		r->stats.hits++;
		return resolve_answer_now(r, req, &e->ans);
	}
	if ((q = (struct resolve_query *)resolve_table_find(&r->pending, &k)) != NULL) {
		r->stats.misses++;
		resolve_req_attach(q, req);
		return req;
	}
	return resolve_ask(r, req, &k);
}

void
resolve_cancel(struct resolve_req *req)
{
	if (req == NULL)
		return;
	resolve_req_unlink(req);
	resolve_req_put(req->q->r, req);
}

const struct resolve_stats *
resolver_stats(const struct resolver *r)
{
	return &r->stats;
}

/* ------------------------------------------------------ the resolver */

/*
 * The time of one try at one server, such that every try fits in the
 * timeout: c-ares asks each of n servers once a round, for tries rounds,
 * doubling the time from one round to the next.
 */
static int
resolve_try_ms(uint64_t timeout_ms, unsigned tries, size_t n)
{
	uint64_t shares = (uint64_t)CT_MAX(n, (size_t)1) * ((UINT64_C(1) << tries) - 1);
	uint64_t ms = timeout_ms / CT_MAX(shares, (uint64_t)1);

	return (int)CT_MAX(ms, (uint64_t)1);
}

static int
resolve_channel_init(struct resolver *r, const struct conf_resolver *conf, size_t nservers)
{
	struct ares_options o;
	char lookups[] = "b";           /* DNS only: no /etc/hosts read on the loop */

	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.timeout = resolve_try_ms(conf->timeout_ms, conf->tries, nservers);
	o.tries = (int)conf->tries;
	o.domains = NULL;
	o.ndomains = 0;
	o.lookups = lookups;
	o.sock_state_cb = resolve_sock_state;
	o.sock_state_cb_data = r;
	return ares_init_options(&r->channel, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES | ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB);
}

/* The name servers c-ares took from /etc/resolv.conf, or 1 if it cannot say. */
static size_t
resolve_servers_count(ares_channel ch)
{
	struct ares_addr_port_node *list = NULL, *p;
	size_t n = 0;

	if (ares_get_servers_ports(ch, &list) != ARES_SUCCESS)
		return 1;
	for (p = list; p != NULL; p = p->next)
		n++;
	ares_free_data(list);
	return CT_MAX(n, (size_t)1);
}

static int
resolve_servers_set(struct resolver *r, const struct conf_resolver *conf)
{
	struct ares_addr_port_node nodes[CONF_RESOLVER_SERVERS_MAX];
	size_t i, n = CT_MIN(conf->nnameservers, (size_t)CONF_RESOLVER_SERVERS_MAX);

	memset(nodes, 0, sizeof(nodes));
	for (i = 0; i < n; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&conf->nameservers[i].ss;

		nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
		nodes[i].family = sa->sa_family;
		if (sa->sa_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

			nodes[i].addr.addr4 = sin->sin_addr;
			nodes[i].udp_port = nodes[i].tcp_port = ntohs(sin->sin_port);
		} else {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

			memcpy(&nodes[i].addr.addr6, &sin6->sin6_addr, 16);
			nodes[i].udp_port = nodes[i].tcp_port = ntohs(sin6->sin6_port);
		}
	}
	return ares_set_servers_ports(r->channel, n > 0 ? nodes : NULL);
}

/*
 * The channel, with the time of a try worked out for the number of name
 * servers: when they come from /etc/resolv.conf, only a first channel
 * can count them, and the timeout is fixed when a channel is made.
 */
static int
resolve_channel_open(struct resolver *r, const struct conf_resolver *conf)
{
	size_t n;
	int rc;

	if (conf->nnameservers > 0) {
		if ((rc = resolve_channel_init(r, conf, conf->nnameservers)) != ARES_SUCCESS)
			return rc;
		r->channel_open = 1;
		return resolve_servers_set(r, conf);
	}
	if ((rc = resolve_channel_init(r, conf, 1)) != ARES_SUCCESS)
		return rc;
	if ((n = resolve_servers_count(r->channel)) > 1) {
		ares_destroy(r->channel);
		if ((rc = resolve_channel_init(r, conf, n)) != ARES_SUCCESS)
			return rc;
	}
	r->channel_open = 1;
	return ARES_SUCCESS;
}

static void
resolve_seed(struct resolver *r)
{
	uint64_t fallback;

	if (getrandom(r->seed, sizeof(r->seed), GRND_NONBLOCK) == (ssize_t)sizeof(r->seed))
		return;
	fallback = ev_clock_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)r;
	memcpy(r->seed, &fallback, sizeof(fallback));
}

struct resolver *
resolver_new(struct ev_loop *loop, const struct conf_resolver *conf, const char **why)
{
	struct resolver *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	r->loop = loop;
	r->timeout_ms = conf->timeout_ms;
	r->cache_ms = conf->cache_ms;
	r->negative_ms = conf->negative_ms;
	r->cache_size = conf->cache_size;
	resolve_seed(r);
	ev_timer_init(&r->ares_timer, resolve_ares_timer, r);
	ev_timer_init(&r->deadline_timer, resolve_deadline, r);
	ev_timer_init(&r->ready_timer, resolve_ready, r);
	if (resolve_table_init(&r->pending, RESOLVE_PENDING_BUCKETS) != CT_OK ||
	    resolve_table_init(&r->cache, r->cache_size) != CT_OK) {
		*why = "out of memory";
		resolver_free(r);
		return NULL;
	}
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		resolver_free(r);
		return NULL;
	}
	if ((rc = resolve_channel_open(r, conf)) != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		if (!r->channel_open)
			ares_library_cleanup();
		resolver_free(r);
		return NULL;
	}
	return r;
}

/*
 * Waiters are dropped first, without callbacks; then ares_destroy()
 * calls back for every query it holds (resolve_ares_done() frees them)
 * and closes its sockets through resolve_sock_state().
 */
void
resolver_free(struct resolver *r)
{
	struct resolve_query *q, *qn;
	struct resolve_entry *e, *en;
	struct resolve_sock *s, *sn;
	struct resolve_req *req, *rn;

	if (r == NULL)
		return;
	r->destroying = 1;
	for (q = r->done_head; q != NULL; q = qn) {
		qn = q->dnext;
		resolve_waiters_drop(r, q);
		q->queued = 0;
		if (!q->in_ares)
			free(q);
	}
	r->done_head = r->done_tail = NULL;
	for (q = r->fifo_head; q != NULL; q = q->fnext)
		resolve_waiters_drop(r, q);
	if (r->channel_open) {
		ares_destroy(r->channel);
		ares_library_cleanup();
	}
	ev_timer_stop(r->loop, &r->ares_timer);
	ev_timer_stop(r->loop, &r->deadline_timer);
	ev_timer_stop(r->loop, &r->ready_timer);
	for (e = r->lru_head; e != NULL; e = en) {
		en = e->lnext;
		free(e);
	}
	for (e = r->free_entries; e != NULL; e = en) {
		en = e->lnext;
		free(e);
	}
	for (s = r->socks; s != NULL; s = sn) {
		sn = s->next;
		ev_io_stop(r->loop, &s->io);
		free(s);
	}
	for (s = r->spare_socks; s != NULL; s = sn) {
		sn = s->next;
		free(s);
	}
	for (q = r->free_queries; q != NULL; q = qn) {
		qn = q->dnext;
		free(q);
	}
	for (req = r->free_reqs; req != NULL; req = rn) {
		rn = req->next;
		free(req);
	}
	free(r->pending.buckets);
	free(r->cache.buckets);
	free(r);
}

/*
 * mode http's upstream exchange: the per-worker pool of idle server
 * connections, picking a server and connecting (or taking one from the
 * pool), the one failure path that decides between retrying and
 * answering, sending the request, and reading the response head.
 *
 * The connect and failure functions (http_upstream_start, _failed,
 * _ready, http_connect_check, http_retry_allowed) stay together here:
 * they are the part that a connector shared by all modes replaces.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/backend.h"
#include "worker/http_int.h"

#define HTTP_RBUF_SIZE   32768     /* upstream input: a response head must fit */

/* ---------------------------------------------------------- the pool */

struct http_pool *
http_pool_get(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	struct http_pool *p;
	size_t i, n = 0;

	if (w->pool != NULL)
		return w->pool;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->first = calloc(conf->nupstreams + 1, sizeof(*p->first));
	for (i = 0; i < conf->nupstreams; i++) {
		if (p->first != NULL)
			p->first[i] = n;
		n += conf->upstreams[i].nservers;
	}
	p->nlists = n;
	p->lists = calloc(n + 1, sizeof(*p->lists));
	p->count = calloc(n + 1, sizeof(*p->count));
	if (p->first == NULL || p->lists == NULL || p->count == NULL) {
		free(p->first);
		free(p->lists);
		free(p->count);
		free(p);
		return NULL;
	}
	w->pool = p;
	return p;
}

static struct http_idle *
http_idle_new(struct http_pool *p)
{
	struct http_idle *i = p->spare;

	if (i == NULL)
		return calloc(1, sizeof(*i));
	p->spare = i->next;
	memset(i, 0, sizeof(*i));
	return i;
}

static void
http_idle_spare(struct http_pool *p, struct http_idle *i)
{
	i->next = p->spare;
	p->spare = i;
}

static void
http_idle_close(struct http_idle *i)
{
	struct http_pool *p = i->w->pool;

	*i->pprev = i->next;
	if (i->next != NULL)
		i->next->pprev = i->pprev;
	p->count[i->list]--;
	ev_io_forget(i->w->loop, &i->io);
	ev_timer_stop(i->w->loop, &i->timer);
	close(i->fd);
	http_idle_spare(p, i);
}

/* An idle connection that becomes readable was closed (or spoke out of turn). */
static void
http_idle_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	(void)loop;
	(void)events;
	http_idle_close(io->data);
}

static void
http_idle_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	http_idle_close(t->data);
}

void
http_pool_close_all(struct worker *w)
{
	struct http_pool *p = w->pool;
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nlists; i++)
		while (p->lists[i] != NULL)
			http_idle_close(p->lists[i]);
	while (p->ncache > 0) {
		struct http_ctx *h = p->cache[--p->ncache];

		http_buf_free(&h->in);
		http_buf_free(&h->rin);
		http_buf_free(&h->out);
		free(h);
	}
	while (p->spare != NULL) {
		struct http_idle *spare = p->spare;

		p->spare = spare->next;
		free(spare);
	}
	free(p->first);
	free(p->lists);
	free(p->count);
	free(p);
	w->pool = NULL;
}

/* Takes the server connection of c into the pool; closes it if it cannot. */
static void
http_pool_put(struct conn *c)
{
	const struct conf_route *r = c->http->route;
	const struct conf_upstream *u = &c->w->cy->conf->upstreams[r->upstream];
	struct http_pool *p = http_pool_get(c->w);
	struct http_idle *i;
	size_t list;
	int fd = c->server.fd;

	if (p == NULL || u->keepalive.max_idle == 0 || c->w->quitting ||
	    p->count[list = p->first[r->upstream] + (size_t)c->server_idx] >= u->keepalive.max_idle ||
	    (i = http_idle_new(p)) == NULL) {
		stream_close(c->w->loop, &c->server);
		return;
	}
	i->w = c->w;
	i->fd = fd;
	i->list = list;
	i->server_idx = c->server_idx;
	i->next = p->lists[list];
	if (i->next != NULL)
		i->next->pprev = &i->next;
	i->pprev = &p->lists[list];
	p->lists[list] = i;
	p->count[list]++;
	ev_io_init(&i->io, fd, http_idle_io, i);
	ev_timer_init(&i->timer, http_idle_timer, i);
	/* Readable while idle means closed (or talking out of turn). */
	if (ev_io_move(c->w->loop, &c->server.io, &i->io, EPOLLIN) != CT_OK ||
	    ev_timer_start(c->w->loop, &i->timer, u->keepalive.idle_timeout_ms) != CT_OK)
		http_idle_close(i);
	c->server.fd = -1;
}

/*
 * Makes a pooled connection to (upstream, server) c's server stream,
 * registered for reading (the request is written at once).  Returns
 * CT_OK, or CT_DECLINED when the pool has none.
 */
static int
http_pool_take(struct conn *c, size_t upstream, int server_idx)
{
	struct http_pool *p = c->w->pool;
	struct http_idle *i;
	int rc;

	if (p == NULL)
		return CT_DECLINED;
	i = p->lists[p->first[upstream] + (size_t)server_idx];
	if (i == NULL)
		return CT_DECLINED;
	*i->pprev = i->next;
	if (i->next != NULL)
		i->next->pprev = i->pprev;
	p->count[i->list]--;
	ev_timer_stop(c->w->loop, &i->timer);
	stream_init(&c->server, i->fd, http_io, c);
	rc = ev_io_move(c->w->loop, &i->io, &c->server.io, EPOLLIN);
	http_idle_spare(p, i);
	if (rc != CT_OK) {
		stream_close(c->w->loop, &c->server);
		return CT_DECLINED;
	}
	return CT_OK;
}

/* ------------------------------------------------- releasing */

/* Gives the server connection back (pool or close) and its shm count. */
void
http_upstream_release(struct conn *c, int reusable)
{
	if (c->backend != -1) {
		struct shm_backend *b = shm_backend_get(c->w->cy->shm, c->backend);

		atomic_fetch_sub_explicit(&b->active, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->bytes_in, c->from_server, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->bytes_out, c->to_server, memory_order_relaxed);
		c->backend = -1;
		conn_rec_backend(c);
		c->from_server = c->to_server = 0;
	}
	if (c->server.fd != -1) {
		if (reusable)
			http_pool_put(c);
		else
			stream_close(c->w->loop, &c->server);
	}
}

/* ---------------------------------------------------- the upstream */

/*
 * May a failed attempt go on to another server?  Before the request was
 * sent (a connect that failed or timed out), always; after, only an
 * idempotent request without a body (one already streamed cannot be sent
 * again) and before any byte of the response.
 */
static int
http_retry_allowed(const struct conn *c)
{
	const struct http_ctx *h = c->http;
	int unsent = h->state != H_SEND && h->state != H_RECV && h->state != H_RELAY;

	if (h->resp_started || c->attempts > http_listener(c)->retries)
		return 0;
	return unsent || (h->req.idempotent && h->req.h.framing == HTTP_BODY_NONE);
}

void
http_upstream_failed(struct conn *c, int err, const char *what, int status)
{
	struct http_ctx *h = c->http;
	const struct conf_upstream *u = &c->w->cy->conf->upstreams[h->route->upstream];
	char client[ADDR_STRLEN];
	int pooled = h->pooled;

	if (c->backend != -1 && !pooled) {
		struct shm_backend *b = shm_backend_get(c->w->cy->shm, c->backend);

		atomic_fetch_add_explicit(&b->failures, 1, memory_order_relaxed);
		lb_passive_fail(&c->w->cy->upstreams[h->route->upstream], b, c->server_idx,
		    http_now(c));
	}
	log_warnx("%s %s failed (%d: %s), client: %s, listener: %s, request: \"%s %s\"",
	    what, u->servers[c->server_idx].address, err, strerror(err),
	    addr_format(&c->peer.sa, client, sizeof(client)),
	    http_listener(c)->name, h->method, h->target);
	snprintf(h->why, sizeof(h->why), "%s %s failed: %s", what,
	    u->servers[c->server_idx].address, strerror(err));
	what = h->why;
	http_upstream_release(c, 0);
	ev_timer_stop(c->w->loop, &c->timer);
	h->rin.start = h->rin.end = 0;
	h->out.start = 0;
	/* A pooled connection the server had closed: again, on a new one. */
	if (pooled && !h->resp_started && h->req.h.framing == HTTP_BODY_NONE) {
		h->retry_fresh = 1;
		c->attempts--;
		http_upstream_start(c);
		return;
	}
	if (http_retry_allowed(c)) {
		h->fail_status = status;
		h->fail_reason = what;
		http_upstream_start(c);
		return;
	}
	http_error(c, status, what);
}

static void
http_upstream_ready(struct conn *c)
{
	struct http_ctx *h = c->http;

	h->t_connect = http_now(c);
	atomic_fetch_add_explicit(&shm_backend_get(c->w->cy->shm, c->backend)->total, 1,
	    memory_order_relaxed);
	h->state = H_SEND;
	h->out.start = 0;
	http_timer_arm(c, http_listener(c)->send_timeout_ms);
	http_progress(c);
}

void
http_upstream_start(struct conn *c)
{
	struct http_ctx *h = c->http;
	const struct lb_upstream *u = &c->w->cy->upstreams[h->route->upstream];
	const struct conf_server *s;
	const void *key;
	size_t keylen;
	int idx, err;

	if (h->retry_fresh) {
		idx = c->server_idx;
	} else if ((key = lb_key_http(u->conf, &h->req, &c->peer.sa, &keylen)),
	    (idx = lb_pick(u, c->w->cy->shm, &c->tried, key, keylen)) == -1) {
		if (h->fail_status != 0)
			http_error(c, h->fail_status, h->fail_reason);
		else
			http_error(c, 502, "no server available");
		return;
	}
	c->attempts++;
	c->server_idx = idx;
	c->backend = u->backend[idx];
	conn_rec_backend(c);
	atomic_fetch_add_explicit(&shm_backend_get(c->w->cy->shm, c->backend)->active, 1,
	    memory_order_relaxed);
	s = &u->conf->servers[idx];
	if (!h->retry_fresh && http_pool_take(c, h->route->upstream, idx) == CT_OK) {
		h->pooled = 1;
		http_upstream_ready(c);
		return;
	}
	h->retry_fresh = 0;
	lb_tried_add(&c->tried, idx);
	h->pooled = 0;
	if ((err = stream_connect(&c->server, &s->addr, http_io, c)) == 0) {
		http_upstream_ready(c);
		return;
	}
	if (err != EINPROGRESS) {
		http_upstream_failed(c, err, "connect() to", 502);
		return;
	}
	h->state = H_CONNECT;
	http_timer_arm(c, http_listener(c)->connect_timeout_ms);
	http_progress(c);
}

void
http_connect_check(struct conn *c, uint32_t events)
{
	int err = stream_connect_result(&c->server, events);
	/* the connect timer was started with the connect, at when - timeout */
	uint64_t began = c->timer.when - http_listener(c)->connect_timeout_ms;

	if (err != 0) {
		http_upstream_failed(c, err, "connect() to", 502);
		return;
	}
	lb_observe(&c->w->cy->upstreams[c->http->route->upstream], c->w->cy->shm,
	    c->server_idx, (http_now(c) - began) * 1000);
	http_upstream_ready(c);
}

/* ------------------------------------------------- the exchange */

static void
http_response_parse(struct conn *c)
{
	struct http_ctx *h = c->http;
	struct http_limits lim;
	int rc;

	http_limits_default(&lim);
	rc = http_parse_response(h->rin.p + h->rin.start, h->rin.end - h->rin.start, &lim,
	    h->req.is_head, &h->resp);
	if (rc == CT_AGAIN) {
		if (h->rin.end - h->rin.start >= lim.max_head)
			http_upstream_failed(c, EMSGSIZE, "response head from", 502);
		return;
	}
	if (rc != CT_OK) {
		log_warnx("invalid response from %s: %s, request: \"%s %s\"",
		    c->w->cy->conf->upstreams[h->route->upstream].servers[c->server_idx].address,
		    h->resp.h.error, h->method, h->target);
		http_upstream_release(c, 0);
		http_error(c, 502, h->resp.h.error);
		return;
	}
	if (h->t_header == 0) {
		h->t_header = http_now(c);
		/* first byte: from the connection being ready to the response head */
		lb_observe(&c->w->cy->upstreams[h->route->upstream], c->w->cy->shm,
		    c->server_idx, (h->t_header - h->t_connect) * 1000);
	}
	h->rin.start += h->resp.h.head_len;
	if (http_response_head_build(c) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	if (h->resp.code == 101 && !h->upgrade) {
		http_upstream_release(c, 0);
		http_error(c, 502, "101 Switching Protocols to a request that asked for no upgrade");
		return;
	}
	if (h->resp.code < 200 && h->resp.code != 101) {
		/* Interim: relay it and wait for the next head. */
		h->state = H_RECV;
		return;
	}
	h->status = h->resp.code;
	h->resp_started = 1;
	h->resp_end = h->rin.start;
	h->resp_left = h->resp.h.framing == HTTP_BODY_LENGTH ? h->resp.h.content_length : 0;
	h->resp_close = h->resp.h.framing == HTTP_BODY_CLOSE;
	h->resp_done = h->resp.h.framing == HTTP_BODY_NONE ||
	    (h->resp.h.framing == HTTP_BODY_LENGTH && h->resp_left == 0);
	http_chunked_init(&h->resp_chunked);
	h->state = H_RELAY;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
}

/* H_SEND: request head, then body, to the upstream. */
void
http_step_send(struct conn *c)
{
	struct http_ctx *h = c->http;
	ssize_t n;
	int rc;

	if (h->out.start < h->out.end) {
		/* The head and the body bytes already here leave together. */
		if (http_body_scan(c) != CT_OK)
			return;
		rc = http_write2(&c->server, &h->out, h->out.end, &h->in, h->body_end,
		    &c->to_server);
		if (rc == CT_AGAIN)
			return;
		if (rc == CT_ERROR) {
			http_upstream_failed(c, errno, "sending the request to", 502);
			return;
		}
		http_timer_arm(c, http_listener(c)->send_timeout_ms);
	}
	for (;;) {
		if (http_body_scan(c) != CT_OK)
			return;
		if (h->in.start < h->body_end) {
			rc = http_write(&c->server, &h->in, h->body_end, &c->to_server);
			if (rc == CT_AGAIN)
				return;
			if (rc == CT_ERROR) {
				http_upstream_failed(c, errno, "sending the request body to", 502);
				return;
			}
			http_timer_arm(c, http_listener(c)->send_timeout_ms);
		}
		if (h->body_done)
			break;
		n = http_read(&c->client, &h->in, &h->body_end, 16384);
		if (n == CT_AGAIN)
			return;
		if (n == CT_DONE || n == CT_ERROR) {
			http_client_gone(c, "client closed while sending its request body");
			return;
		}
		c->from_client += (uint64_t)n;
	}
	h->state = H_RECV;
	/* The answer takes a round trip: wait for EPOLLIN rather than read now. */
	c->server.drained = 1;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
}

/* H_RECV: the response head (interim ones are relayed first). */
void
http_step_recv(struct conn *c)
{
	struct http_ctx *h = c->http;
	ssize_t n;
	int rc;

	if (h->out.start < h->out.end) {
		rc = http_write(&c->client, &h->out, h->out.end, &h->bytes);
		if (rc == CT_AGAIN)
			return;
		if (rc == CT_ERROR) {
			http_client_gone(c, "client reset");
			return;
		}
		h->out.start = h->out.end = 0;
	}
	if (h->rin.start < h->rin.end) {
		http_response_parse(c);
		/* A head parsed (or an error answered): http_progress goes on. */
		if (c->state != CONN_RELAY || c->http == NULL || h->state != H_RECV ||
		    h->out.start < h->out.end)
			return;
	}
	n = http_read(&c->server, &h->rin, NULL, 4096);
	if (n == CT_AGAIN) {
		if (h->rin.end - h->rin.start >= HTTP_RBUF_SIZE)
			http_upstream_failed(c, EMSGSIZE, "response head from", 502);
		return;
	}
	if (n == CT_DONE || n == CT_ERROR) {
		http_upstream_failed(c, n == CT_DONE ? ECONNRESET : errno,
		    "reading the response head from", 502);
		return;
	}
	c->from_server += (uint64_t)n;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
	http_response_parse(c);
}

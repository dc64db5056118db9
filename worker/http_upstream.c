/*
 * mode http's upstream exchange: the per-worker pool of idle server
 * connections, what the mode tells the upstream connector (upstream.h:
 * the balancer's key, what may be sent again, the answer when no server
 * is left), sending the request, and reading the response head.  Every
 * failure goes to the connector's upstream_fail().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "shm/backend.h"
#include "worker/bandwidth.h"
#include "worker/http_int.h"
#include "worker/proxy.h"
#include "worker/udp_table.h"
#include "worker/upstream.h"

#define HTTP_RBUF_SIZE   32768     /* upstream input: a response head must fit */
_Static_assert(HTTP_INTERIM_MAX == 32, "the message of the interim limit says 32");

/* ---------------------------------------------------------- the pool */

static void http_dests_close_all(struct http_pool *p);
static void http_dest_unlink(struct http_pool *p, struct http_idle *i);

struct http_pool *
http_pool_get(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	struct http_pool *p;
	size_t i, n = 0;

	if (w->modes[CONF_MODE_HTTP] != NULL)
		return w->modes[CONF_MODE_HTTP];
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
	w->modes[CONF_MODE_HTTP] = p;
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

/* Takes i out of its list (to be closed, or taken). */
static void
http_idle_unlink(struct http_idle *i)
{
	*i->pprev = i->next;
	if (i->next != NULL)
		i->next->pprev = i->pprev;
	(*i->count)--;
	i->w->nidle--;
	ev_timer_stop(i->w->loop, &i->timer);
}

static void
http_idle_close(struct http_idle *i)
{
	struct http_pool *p = i->w->modes[CONF_MODE_HTTP];

	if (i->dest != NULL)
		http_dest_unlink(p, i);
	else
		http_idle_unlink(i);
	/* A TLS connection's SSL goes with it. */
	stream_close(i->w->loop, &i->s);
	http_idle_spare(p, i);
}

/*
 * An idle connection that becomes readable was closed (or spoke out of
 * turn).  Over TLS it may also be a message of the protocol's own, a
 * session ticket sent after the handshake: a read takes it in (the
 * session is kept) and finds no data, and the connection stays.  Data,
 * a close_notify, the end or an error close it.
 */
static void
http_idle_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct http_idle *i = io->data;
	unsigned char b[1];

	(void)loop;
	stream_event(&i->s, events);
	if (i->s.ssl != NULL && !(events & (EPOLLHUP | EPOLLERR)) &&
	    i->s.ops->read(&i->s, b, sizeof(b)) == CT_AGAIN && !i->s.read_wants_out &&
	    !stream_buffered(&i->s))
		return;
	http_idle_close(i);
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
	struct http_pool *p = w->modes[CONF_MODE_HTTP];
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nlists; i++)
		while (p->lists[i] != NULL)
			http_idle_close(p->lists[i]);
	http_dests_close_all(p);
	while (p->ncache > 0) {
		struct http_ctx *h = p->cache[--p->ncache];

		http_buf_free(&h->in);
		http_buf_free(&h->rin);
		http_buf_free(&h->out);
		http_buf_free(&h->norm);
		free(h->dest);
		free(h);
	}
	while (p->spare != NULL) {
		struct http_idle *spare = p->spare;

		p->spare = spare->next;
		free(spare);
	}
	http_cache_spares_free(p);
	http_cache_bg_free_all(p);
	free(p->first);
	free(p->lists);
	free(p->count);
	free(p);
	w->modes[CONF_MODE_HTTP] = NULL;
}

/*
 * Makes c's server connection idle entry i at the head of list *head
 * (counted in *count), closed when it becomes readable or after ms:
 * CT_ERROR when it cannot be watched, and the caller closes i.
 */
static inline int
http_idle_hold(struct conn *c, struct http_idle *i, struct http_idle **head, unsigned *count,
    uint64_t ms)
{
	i->w = c->w;
	stream_init(&i->s, c->server.fd, http_idle_io, i);
	i->s.ops = c->server.ops;
	i->s.ssl = c->server.ssl;
	i->count = count;
	i->server_idx = c->server_idx;
	i->next = *head;
	if (i->next != NULL)
		i->next->pprev = &i->next;
	i->pprev = head;
	*head = i;
	(*count)++;
	c->w->nidle++;
	ev_timer_init(&i->timer, http_idle_timer, i);
	/* The stream is the entry's now: c's side forgets it. */
	c->server.fd = -1;
	c->server.ssl = NULL;
	c->server.ops = &stream_plain_ops;
	/* Readable while idle means closed (or talking out of turn, or TLS's own). */
	if (ev_io_move(c->w->loop, &c->server.io, &i->s.io, EPOLLIN) != CT_OK ||
	    ev_timer_start(c->w->loop, &i->timer, ms) != CT_OK)
		return CT_ERROR;
	return CT_OK;
}

/* Takes the server connection of c into the pool; closes it if it cannot. */
static void
http_pool_put(struct conn *c)
{
	const struct conf_upstream *u = &c->w->cy->conf->upstreams[c->upstream];
	struct http_pool *p = http_pool_get(c->w);
	struct http_idle *i;
	size_t list;

	/* No more than the timer heap was sized for (worker_idle_max()). */
	if (p == NULL || u->keepalive.max_idle == 0 || c->w->quitting ||
	    c->w->nidle >= c->w->idle_max ||
	    p->count[list = p->first[c->upstream] + (size_t)c->server_idx] >= u->keepalive.max_idle ||
	    (i = http_idle_new(p)) == NULL) {
		stream_close(c->w->loop, &c->server);
		return;
	}
	if (http_idle_hold(c, i, &p->lists[list], &p->count[list],
	    u->keepalive.idle_timeout_ms) != CT_OK)
		http_idle_close(i);
}

/*
 * May c's request go on idle connection i?  Over TLS with the name
 * "$host", only under the name its certificate was verified for: a
 * connection opened for one site is not one to another that happens to
 * share the server.
 */
static int
http_pool_fits(const struct conn *c, const struct http_idle *i)
{
	const struct conf_tls_upstream *t = c->w->cy->conf->upstreams[c->upstream].tls;
	const char *had, *name;

	if (t == NULL || !t->name_host || i->s.ssl == NULL)
		return 1;
	had = SSL_get_servername(i->s.ssl, TLSEXT_NAMETYPE_host_name);
	name = http_upstream_sni(c);
	if (had == NULL || name == NULL)
		return had == name;
	return strcmp(had, name) == 0;
}

/*
 * Makes idle entry i, unlinked, c's server stream, registered for
 * reading (the request is written at once): CT_OK, or CT_DECLINED when
 * it cannot be watched (closed).
 */
static inline int
http_idle_give(struct conn *c, struct http_pool *p, struct http_idle *i)
{
	int rc;

	stream_init(&c->server, i->s.fd, http_io, c);
	c->server.ops = i->s.ops;
	c->server.ssl = i->s.ssl;
	rc = ev_io_move(c->w->loop, &i->s.io, &c->server.io, EPOLLIN);
	http_idle_spare(p, i);
	if (rc != CT_OK) {
		stream_close(c->w->loop, &c->server);
		return CT_DECLINED;
	}
	return CT_OK;
}

/*
 * Makes a pooled connection to (upstream, server) c's server stream,
 * registered for reading (the request is written at once).  Returns
 * CT_OK, or CT_DECLINED when the pool has none.
 */
int
http_pool_take(struct conn *c, int server_idx)
{
	struct http_pool *p = c->w->modes[CONF_MODE_HTTP];
	size_t upstream = c->upstream;
	struct http_idle *i;

	if (p == NULL)
		return CT_DECLINED;
	i = p->lists[p->first[upstream] + (size_t)server_idx];
	while (i != NULL && !http_pool_fits(c, i))
		i = i->next;
	if (i == NULL)
		return CT_DECLINED;
	http_idle_unlink(i);
	return http_idle_give(c, p, i);
}

/* ------------------------------------------- destinations' pool */

/*
 * Mode forward's absolute-form requests keep their connections to
 * destinations here, per worker: by listener and address, so that a
 * listener's bound (forward.keepalive.max_idle, all its destinations
 * together) is its own and a connection goes back only to requests
 * that the same rules let through.  Rules are checked per request
 * before any connection is taken: a pooled one is only ever to an
 * address this request may reach.
 */

/* Idle destination connections the worker may keep, all forward listeners together. */
static size_t
http_dests_max(const struct conf *conf)
{
	size_t i, n = 0;

	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].mode == CONF_MODE_FORWARD)
			n += conf->listeners[i].proxy.keepalive.max_idle;
	return n;
}

/* The table, made for the first connection put in it; CT_ERROR: no pool. */
static int
http_dests_init(struct worker *w, struct http_pool *p)
{
	uint64_t seed[2];

	if (p->dests.buckets != NULL)
		return CT_OK;
	if (p->dest_count == NULL &&
	    (p->dest_count = calloc(w->cy->conf->nlisteners, sizeof(*p->dest_count))) == NULL)
		return CT_ERROR;
	/* Clients choose destinations: a keyed hash keeps them from piling into a chain. */
	if (RAND_bytes((unsigned char *)seed, sizeof(seed)) != 1 ||
	    udp_table_init(&p->dests, http_dests_max(w->cy->conf), seed) != CT_OK)
		return CT_ERROR;
	return CT_OK;
}

/* The key of address idx of c's destination. */
static int
http_dest_key(const struct conn *c, int idx, struct udp_key *k)
{
	const struct upstream_dest *d = c->mode->upstream_dest(c);

	return udp_key_set(k, c->listener, &d->addrs[idx].sa);
}

/* An empty list leaves the table, for the next one to take its memory. */
static void
http_dest_forget(struct http_pool *p, struct http_dest_idle *d)
{
	udp_table_del(&p->dests, &d->e);
	d->spare = p->dest_spare;
	p->dest_spare = d;
}

/* Takes i out of its destination's list, which goes when it is empty. */
static void
http_dest_unlink(struct http_pool *p, struct http_idle *i)
{
	struct http_dest_idle *d = i->dest;

	http_idle_unlink(i);
	p->dest_count[d->e.key.listener]--;
	if (d->count == 0)
		http_dest_forget(p, d);
}

static void
http_dests_close_all(struct http_pool *p)
{
	size_t b;

	for (b = 0; p->dests.buckets != NULL && b <= p->dests.mask; b++)
		while (p->dests.buckets[b] != NULL)
			http_idle_close(((struct http_dest_idle *)p->dests.buckets[b])->first);
	while (p->dest_spare != NULL) {
		struct http_dest_idle *d = p->dest_spare;

		p->dest_spare = d->spare;
		free(d);
	}
	udp_table_free(&p->dests);
	free(p->dest_count);
	p->dest_count = NULL;
}

/* The connector's pool_take for a destination: the last connection put back to address idx. */
int
http_dest_pool_take(struct conn *c, int idx)
{
	struct http_pool *p = c->w->modes[CONF_MODE_HTTP];
	struct http_dest_idle *d;
	struct http_idle *i;
	struct udp_key k;

	if (p == NULL || p->dests.buckets == NULL || http_dest_key(c, idx, &k) != CT_OK ||
	    (d = (struct http_dest_idle *)udp_table_find(&p->dests, &k,
	    udp_table_hash(&p->dests, &k))) == NULL)
		return CT_DECLINED;
	i = d->first;
	http_dest_unlink(p, i);
	return http_idle_give(c, p, i);
}

/* Into the pool of its destination address, within the listener's bound; else closed. */
static void
http_dest_pool_put(struct conn *c)
{
	const struct conf_keepalive *ka = &http_listener(c)->proxy.keepalive;
	struct http_pool *p = http_pool_get(c->w);
	struct http_dest_idle *d = NULL;
	struct http_idle *i = NULL;
	struct udp_key k;
	uint64_t hash;

	if (p == NULL || ka->max_idle == 0 || c->w->quitting || c->w->nidle >= c->w->idle_max ||
	    http_dests_init(c->w, p) != CT_OK || p->dest_count[c->listener] >= ka->max_idle ||
	    http_dest_key(c, c->server_idx, &k) != CT_OK || (i = http_idle_new(p)) == NULL)
		goto close;
	hash = udp_table_hash(&p->dests, &k);
	if ((d = (struct http_dest_idle *)udp_table_find(&p->dests, &k, hash)) == NULL) {
		if ((d = p->dest_spare) != NULL)
			p->dest_spare = d->spare;
		else if ((d = malloc(sizeof(*d))) == NULL)
			goto close;
		memset(d, 0, sizeof(*d));
		udp_table_add(&p->dests, &d->e, &k, hash);
	}
	i->dest = d;
	p->dest_count[c->listener]++;
	if (http_idle_hold(c, i, &d->first, &d->count, ka->idle_timeout_ms) != CT_OK)
		http_idle_close(i);
	return;
close:
	if (i != NULL)
		http_idle_spare(p, i);
	stream_close(c->w->loop, &c->server);
}

void
http_dest_release(struct conn *c, int reusable)
{
	if (c->server.fd == -1)
		return;
	if (reusable)
		http_dest_pool_put(c);
	else
		stream_close(c->w->loop, &c->server);
}

/* ------------------------------------------------- releasing */

/* Gives the server connection back (pool or close) and its shm count. */
void
http_upstream_release(struct conn *c, int reusable)
{
	conn_backend_release(c);
	if (c->server.fd != -1) {
		if (reusable)
			http_pool_put(c);
		else
			stream_close(c->w->loop, &c->server);
	}
}

/* ---------------------------------------------------- the upstream */

/*
 * What may be sent again after a failed attempt: anything before the
 * request went out; after, only a request without a body (one already
 * streamed cannot be sent again) and before any byte of the response,
 * to another server only if its method is idempotent.
 */
int
http_upstream_resend(const struct conn *c)
{
	const struct http_ctx *h = c->ctx;

	if (h->resp_started || h->resend_no)
		return UPSTREAM_RESEND_NO;
	if (h->state != H_SEND && h->state != H_RECV && h->state != H_RELAY)
		return UPSTREAM_RESEND_ANY;
	if (h->req.h.framing != HTTP_BODY_NONE)
		return UPSTREAM_RESEND_NO;
	return h->req.idempotent ? UPSTREAM_RESEND_ANY : UPSTREAM_RESEND_UNSEEN;
}

void
http_upstream_give_up(struct conn *c, int status, const char *why)
{
	struct http_ctx *h = c->ctx;

	snprintf(h->why, sizeof(h->why), "%s", why);
	/* An origin out of reach: a stale object may answer, as stale-if-error allows. */
	if (h->cache != NULL && http_cache_origin_failed(c) != CT_OK)
		return;
	http_error(c, status, h->why);
}

const void *
http_upstream_key(const struct conn *c, size_t *len)
{
	const struct http_ctx *h = c->ctx;

	return lb_key_http(c->w->cy->upstreams[c->upstream].conf, &h->req, &c->peer.sa, len);
}

/*
 * The request's host, lower-case, without a port or an IPv6 address's
 * brackets, for an upstream whose TLS name is "$host"; NULL: none, or
 * too long to be a name.
 */
const char *
http_upstream_sni(const struct conn *c)
{
	static char name[CONF_TLS_NAME_MAX + 1];
	const struct http_ctx *h = c->ctx;
	const char *p, *end, *colon;
	size_t n, k;

	if (h == NULL || h->req.host.len == 0)
		return NULL;
	p = h->req.host.p;
	end = p + h->req.host.len;
	if (*p == '[') {
		p++;
		if ((end = memchr(p, ']', (size_t)(end - p))) == NULL)
			return NULL;
	} else if ((colon = memchr(p, ':', (size_t)(end - p))) != NULL) {
		end = colon;
	}
	n = (size_t)(end - p);
	if (n == 0 || n > CONF_TLS_NAME_MAX)
		return NULL;
	for (k = 0; k < n; k++)
		name[k] = p[k] >= 'A' && p[k] <= 'Z' ? (char)(p[k] - 'A' + 'a') : p[k];
	name[n] = '\0';
	return name;
}

/* Ready, first time or after a failure: the request goes (again) from its start. */
void
http_upstream_ready(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	h->t_connect = http_now(c);
	h->state = H_SEND;
	h->out.start = 0;
	h->rin.start = h->rin.end = 0;
	/* What a failed attempt's server sent counts for nothing now. */
	h->interim = 0;
	h->t_header = 0;
	h->timer_mark = c->from_client;
	http_timer_arm(c, http_listener(c)->send_timeout_ms);
	http_progress(c);
}

void
http_upstream_start(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	h->state = H_CONNECT;
	upstream_connect(c, h->route->upstream);
	if (c->state == CONN_OPEN && c->ctx == h && h->state == H_CONNECT)
		http_progress(c);
}

/* ------------------------------------------------- the exchange */

static void
http_response_parse(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_limits lim;
	int rc;

	http_limits_default(&lim);
	rc = http_parse_response(h->rin.p + h->rin.start, h->rin.end - h->rin.start, &lim,
	    h->req.is_head, &h->resp);
	if (rc == CT_AGAIN) {
		if (h->rin.end - h->rin.start >= lim.max_head)
			upstream_fail(c, UPSTREAM_HEAD, EMSGSIZE, NULL, 502);
		return;
	}
	if (rc != CT_OK) {
		upstream_fail(c, UPSTREAM_HEAD, 0, h->resp.h.error, 502);
		return;
	}
	if (h->t_header == 0) {
		h->t_header = http_now(c);
		/* first byte: from the connection being ready to the response head */
		lb_observe_backend(c->w->cy->shm, c->backend, (h->t_header - h->t_connect) * 1000);
	}
	if (h->resp.code < 200 && h->resp.code != 101 && ++h->interim > HTTP_INTERIM_MAX) {
		upstream_fail(c, UPSTREAM_HEAD, 0, "more than 32 interim responses", 502);
		return;
	}
	h->rin.start += h->resp.h.head_len;
	/* The response head takes the place of the request head in out. */
	h->resend_no = 1;
	/* A revalidation's 304, or an error a stale object answers instead. */
	if (h->cache != NULL && h->resp.code >= 200 && h->resp.code != 101 &&
	    http_cache_revalidated(c) != CT_OK)
		return;
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
	h->resp_from = h->bytes;
	h->resp_end = h->rin.start;
	h->resp_left = h->resp.h.framing == HTTP_BODY_LENGTH ? h->resp.h.content_length : 0;
	h->resp_close = h->resp.h.framing == HTTP_BODY_CLOSE;
	h->resp_done = h->resp.h.framing == HTTP_BODY_NONE ||
	    (h->resp.h.framing == HTTP_BODY_LENGTH && h->resp_left == 0);
	http_chunked_init(&h->resp_chunked);
	h->state = H_RELAY;
	h->timer_mark = h->bytes;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
}

/* H_SEND: request head, then body, to the upstream. */
void
http_step_send(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t max;
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
			upstream_fail(c, UPSTREAM_SEND, errno, NULL, 502);
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
				upstream_fail(c, UPSTREAM_SEND, errno, NULL, 502);
				return;
			}
			http_timer_arm(c, http_listener(c)->send_timeout_ms);
		}
		if (h->body_done)
			break;
		if (h->cont_left > 0 && http_continue_flush(c) == CT_AGAIN)
			return;
		if ((max = bandwidth_allow(c, CONF_BW_UP, SIZE_MAX, http_progress)) == 0)
			return;
		n = http_read_max(&c->client, &h->in, &h->body_end, 16384, max);
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
	struct http_ctx *h = c->ctx;
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
		if (c->state != CONN_OPEN || c->ctx == NULL || h->state != H_RECV ||
		    h->out.start < h->out.end)
			return;
	}
	n = http_read(&c->server, &h->rin, NULL, 4096);
	if (n == CT_AGAIN) {
		if (h->rin.end - h->rin.start >= HTTP_RBUF_SIZE)
			upstream_fail(c, UPSTREAM_HEAD, EMSGSIZE, NULL, 502);
		return;
	}
	if (n == CT_DONE || n == CT_ERROR) {
		upstream_fail(c, UPSTREAM_RECV, n == CT_DONE ? ECONNRESET : errno, NULL, 502);
		return;
	}
	c->from_server += (uint64_t)n;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
	http_response_parse(c);
}

/*
 * The upstream connector; upstream.h has the state diagram.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "worker/chain.h"
#include "worker/conn.h"
#include "worker/stream_tls.h"
#include "worker/upstream.h"
#include "worker/worker-t.h"

/* Registered while the handshake runs: it may need to read or to write. */
#define UPSTREAM_TLS_EVENTS (STREAM_READ_EVENTS | EPOLLOUT | EPOLLET)

static void upstream_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
static void upstream_timer(struct ev_loop *loop, struct ev_timer *t);
static void upstream_tls_begin(struct conn *c);
static int upstream_pick(struct conn *c);

static const struct conf_listener *
upstream_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

static const struct lb_upstream *
upstream_lb(const struct conn *c)
{
	return &c->w->cy->upstreams[c->upstream];
}

int
upstream_busy(const struct conn *c)
{
	return c->up != UPSTREAM_NONE;
}

/* Hands the server socket and the timer back to the mode. */
static void
upstream_done(struct conn *c)
{
	c->up = UPSTREAM_NONE;
	c->server.io.cb = c->mode->io;
	c->timer.cb = c->mode->timer;
}

static int
upstream_is_dest(const struct conn *c)
{
	return c->upstream == UPSTREAM_DEST;
}

static void
upstream_ready(struct conn *c)
{
	if (c->backend != -1)
		atomic_fetch_add_explicit(&shm_backend_get(c->w->cy->shm, c->backend)->total, 1,
		    memory_order_relaxed);
	upstream_done(c);
	c->mode->upstream_ready(c);
}

static void
upstream_give_up(struct conn *c, int status, const char *why)
{
	ev_timer_stop(c->w->loop, &c->timer);
	upstream_done(c);
	c->mode->upstream_give_up(c, status, why);
}

/* The proxies that c's server or destination is reached through. */
static const struct conf_via *
upstream_via(const struct conn *c)
{
	return upstream_is_dest(c) ? &upstream_listener(c)->via : &upstream_lb(c)->conf->via;
}

/* The address to connect() to: the first proxy of via, or the server itself. */
static const struct addr *
upstream_first(const struct conn *c, const struct addr *server)
{
	const struct conf_via *via = upstream_via(c);

	return via->n > 0 ? &via->hops[0].addr : server;
}

/* The TCP connection is up: the chain of proxies, TLS, or ready. */
static void
upstream_connected(struct conn *c)
{
	if (upstream_via(c)->n > 0) {
		c->up = UPSTREAM_CHAIN;
		chain_start(c);
	} else if (!upstream_is_dest(c) && upstream_lb(c)->conf->tls != NULL) {
		upstream_tls_begin(c);
	} else {
		ev_timer_stop(c->w->loop, &c->timer);
		upstream_ready(c);
	}
}

void
upstream_chain_done(struct conn *c)
{
	if (ev_io_set(c->w->loop, &c->server.io, c->mode->connect_events) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	if (!upstream_is_dest(c) && upstream_lb(c)->conf->tls != NULL) {
		upstream_tls_begin(c);
		return;
	}
	ev_timer_stop(c->w->loop, &c->timer);
	upstream_ready(c);
}

/* Watches a connect() under way (err EINPROGRESS) or made (0). */
static void
upstream_connect_watch(struct conn *c, int err, const char *address, int tls)
{
	/*
	 * Nothing was read yet, and nothing is there until an event says
	 * so: a server that speaks first may do it in the event that
	 * completes the connect, and stream_event() then clears this.
	 */
	c->server.drained = 1;
	if (ev_io_set(c->w->loop, &c->server.io, c->mode->connect_events) != CT_OK) {
		log_warn("cannot watch the connect() to %s", address);
		conn_close(c, "internal error");
		return;
	}
	if (err == 0 && !tls && upstream_via(c)->n == 0) {
		upstream_ready(c);
		return;
	}
	/* The connect timer covers the proxies' handshakes and TLS too. */
	c->up = UPSTREAM_CONNECTING;
	c->timer.cb = upstream_timer;
	if (ev_timer_start(c->w->loop, &c->timer, upstream_listener(c)->connect_timeout_ms)
	    != CT_OK) {
		log_warn("cannot watch the connect() to %s", address);
		conn_close(c, "internal error");
		return;
	}
	if (err == 0)
		upstream_connected(c);
}

/*
 * A pooled connection to server (or address) idx, when the mode keeps
 * them and the attempt may take one: 1 when c has it and is ready.
 */
static inline int
upstream_pooled(struct conn *c, int idx)
{
	c->pooled = 0;
	if (!c->fresh && c->mode->upstream_pool_take != NULL &&
	    c->mode->upstream_pool_take(c, idx) == CT_OK) {
		c->pooled = 1;
		upstream_ready(c);
		return 1;
	}
	c->fresh = 0;
	return 0;
}

/*
 * One attempt on address idx of the mode's destination: a pooled
 * connection to it when the mode keeps them, else a new one.
 */
static void
upstream_dest_try(struct conn *c, int idx)
{
	struct upstream_dest *d = c->mode->upstream_dest(c);
	struct addr a;
	int err;

	c->attempts++;
	c->server_idx = (int16_t)idx;
	c->next_idx = -1;
	if (upstream_pooled(c, idx))
		return;
	memset(&a, 0, sizeof(a));
	a.len = d->addrs[idx].sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	memcpy(&a.ss, &d->addrs[idx], a.len);
	err = stream_connect(&c->server, upstream_first(c, &a), upstream_io, c);
	if (err != 0 && err != EINPROGRESS) {
		upstream_fail(c, UPSTREAM_CONNECT, err, NULL, 502);
		return;
	}
	upstream_connect_watch(c, err, d->name, 0);
}

void
upstream_use(struct conn *c, int idx)
{
	c->server_idx = (int16_t)idx;
	c->backend = upstream_lb(c)->backend[idx];
	conn_rec_backend(c);
}

/*
 * No server to pick: 503 when servers that could serve are at their
 * max_conns (they are healthy, only full: a temporary overload, as
 * HAProxy answers when its queue times out), 502 when none is usable.
 */
static void
upstream_none(struct conn *c)
{
	if (lb_capped(upstream_lb(c), c->w->cy->shm) > 0)
		upstream_give_up(c, 503, "every server is at its max_conns");
	else
		upstream_give_up(c, 502, "no server available");
}

/* One attempt on server idx: from the pool, or a new connection. */
static void
upstream_try(struct conn *c, int idx)
{
	const struct lb_upstream *u;
	const struct conf_server *s;
	int err;

	if (upstream_is_dest(c)) {
		upstream_dest_try(c, idx);
		return;
	}
	u = upstream_lb(c);
	/* The pick saw room that another worker may have taken since. */
	while (lb_admit(u, c->w->cy->shm, idx) != CT_OK) {
		lb_tried_add(&c->tried, idx);
		if ((idx = upstream_pick(c)) == -1) {
			upstream_none(c);
			return;
		}
	}
	s = &u->conf->servers[idx];
	c->attempts++;
	c->next_idx = -1;
	upstream_use(c, idx);
	/*
	 * Tried, pooled or not: a pooled connection that timed out must not
	 * be followed by the same server on a new one (the request would be
	 * served twice, slowly); one the server had closed is retried on a
	 * new connection by upstream_fail() without a pick.
	 */
	lb_tried_add(&c->tried, idx);
	if (upstream_pooled(c, idx))
		return;
	err = stream_connect(&c->server, upstream_first(c, &s->addr), upstream_io, c);
	if (err != 0 && err != EINPROGRESS) {
		upstream_fail(c, UPSTREAM_CONNECT, err, NULL, 502);
		return;
	}
	upstream_connect_watch(c, err, s->address, u->conf->tls != NULL);
}

/* The next server, or -1. */
static int
upstream_pick(struct conn *c)
{
	const void *key = NULL;
	size_t keylen = 0;

	if (c->mode->upstream_key != NULL)
		key = c->mode->upstream_key(c, &keylen);
	return lb_pick(upstream_lb(c), c->w->cy->shm, &c->tried, key, keylen);
}

void
upstream_connect(struct conn *c, size_t upstream)
{
	int idx;

	c->upstream = (uint32_t)upstream;
	c->attempts = 0;
	c->fresh = 0;
	c->server_idx = c->next_idx = -1;
	memset(&c->tried, 0, sizeof(c->tried));
	if ((idx = upstream_pick(c)) == -1) {
		upstream_none(c);
		return;
	}
	upstream_try(c, idx);
}

void
upstream_connect_dest(struct conn *c)
{
	c->upstream = UPSTREAM_DEST;
	c->attempts = 0;
	c->fresh = 0;
	c->server_idx = c->next_idx = -1;
	c->mode->upstream_dest(c)->err = 0;
	upstream_dest_try(c, 0);
}

static const char *const upstream_what[] = {
	[UPSTREAM_CONNECT] = "connect() to",
	[UPSTREAM_HANDSHAKE] = "TLS handshake with",
	[UPSTREAM_HOP] = "proxy chain to",
	[UPSTREAM_HOP_TARGET] = "proxy chain to",
	[UPSTREAM_SEND] = "sending the request to",
	[UPSTREAM_RECV] = "reading the response header from",
	[UPSTREAM_HEAD] = "the response header from",
	[UPSTREAM_BODY] = "reading the response from"
};

static const char *const upstream_while[] = {
	[UPSTREAM_CONNECT] = "connecting to upstream",
	[UPSTREAM_HANDSHAKE] = "connecting to upstream",
	[UPSTREAM_HOP] = "connecting to upstream through proxies",
	[UPSTREAM_HOP_TARGET] = "connecting to upstream through proxies",
	[UPSTREAM_SEND] = "sending the request to upstream",
	[UPSTREAM_RECV] = "reading the response header from upstream",
	[UPSTREAM_HEAD] = "reading the response header from upstream",
	[UPSTREAM_BODY] = "reading the response body from upstream"
};

/* May what was sent go again, at least as far as need says? */
static int
upstream_may_resend(const struct conn *c, enum upstream_resend need)
{
	return c->mode->upstream_resend == NULL || c->mode->upstream_resend(c) >= (int)need;
}

void
upstream_fail(struct conn *c, enum upstream_phase phase, int err, const char *detail,
    int status)
{
	struct upstream_dest *d = upstream_is_dest(c) ? c->mode->upstream_dest(c) : NULL;
	char client[ADDR_STRLEN], ctx[320], why[320], cause[200], to[200 + 210];
	const char *address = to;
	int next = -1;
	int local = phase == UPSTREAM_CONNECT && (err == EMFILE || err == ENFILE ||
	    err == ENOBUFS || err == ENOMEM || err == EADDRNOTAVAIL);
	/* Nothing was sent to a server that is not connected yet. */
	int connecting = phase == UPSTREAM_CONNECT || phase == UPSTREAM_HANDSHAKE ||
	    phase == UPSTREAM_HOP || phase == UPSTREAM_HOP_TARGET;

	if (d == NULL) {
		address = upstream_lb(c)->conf->servers[c->server_idx].address;
	} else {
		/* The address tried, and the name it is one of. */
		addr_format(&d->addrs[c->server_idx].sa, cause, sizeof(cause));
		snprintf(to, sizeof(to), "%s (%.*s)", cause, 200, d->name);
		d->err = err;
	}
	char hop[160];

	/* A connect() that failed went to the first proxy of via: say which. */
	if (phase == UPSTREAM_CONNECT && detail == NULL && upstream_via(c)->n > 0) {
		snprintf(hop, sizeof(hop), "hop 1 of %zu (%s): %s", upstream_via(c)->n,
		    upstream_via(c)->hops[0].label, strerror(err));
		detail = hop;
		phase = UPSTREAM_HOP;
	}
	/*
	 * A proxy of via that failed says nothing of the server, and every
	 * server or address lies behind the same proxies: no passive
	 * failure, no other attempt, and a client's SOCKS reply says
	 * "general failure" rather than what the server did not do.
	 */
	if (phase == UPSTREAM_HOP) {
		local = 1;
		if (d != NULL)
			d->err = ECONNABORTED;
	}
	if (detail != NULL)
		snprintf(cause, sizeof(cause), "%.*s", (int)sizeof(cause) - 1, detail);
	else if (err == EMFILE)
		snprintf(cause, sizeof(cause), "%d: too many open files, the limit is %zu", err,
		    c->w->fds_limit);
	else
		snprintf(cause, sizeof(cause), "%d: %s", err, strerror(err));
	ctx[0] = '\0';
	if (c->mode->describe != NULL)
		c->mode->describe(c, ctx, sizeof(ctx));
	log_warnx("%s %s failed (%s) while %s, client: %s, listener: %s%s",
	    upstream_what[phase], address, cause, upstream_while[phase],
	    addr_format(&c->peer.sa, client, sizeof(client)), upstream_listener(c)->name, ctx);
	snprintf(why, sizeof(why), "%s %.*s failed: %.*s", upstream_what[phase], 120, address,
	    160, detail != NULL ? detail : strerror(err));
	/*
	 * A pooled connection that the server had closed says nothing of
	 * the server's health: it is tried again on a new connection.  One
	 * that timed out may have been served, slowly, and is not.  Out of
	 * descriptors or memory here (local), no server is to blame and
	 * none would do better.
	 */
	if (!local && c->pooled && !connecting && phase != UPSTREAM_HEAD &&
	    err != ETIMEDOUT && upstream_may_resend(c, UPSTREAM_RESEND_UNSEEN)) {
		next = c->server_idx;
		c->fresh = 1;
		c->attempts--;
	} else if (!local && c->backend != -1) {
		lb_passive_fail(upstream_lb(c), c->w->cy->shm, c->server_idx,
		    ev_now(c->w->loop));
	}
	conn_backend_release(c);
	stream_close(c->w->loop, &c->server);
	c->pooled = 0;
	ev_timer_stop(c->w->loop, &c->timer);
	/*
	 * A connect that failed sent nothing: what was sent before (to a
	 * server that had closed the pooled connection) decides.
	 */
	/*
	 * A destination's next address, whatever the listener's retries:
	 * each is tried once, on a new connection after a pooled one the
	 * server had closed, and again only if what was sent may be.
	 */
	if (d != NULL) {
		if (next == -1 && !local && (size_t)c->server_idx + 1 < d->n &&
		    upstream_may_resend(c, connecting ? UPSTREAM_RESEND_UNSEEN : UPSTREAM_RESEND_ANY))
			next = c->server_idx + 1;
	} else if (next == -1 && !local && c->attempts <= upstream_listener(c)->retries &&
	    upstream_may_resend(c, connecting ? UPSTREAM_RESEND_UNSEEN : UPSTREAM_RESEND_ANY))
		next = upstream_pick(c);
	if (next == -1) {
		upstream_give_up(c, status, why);
		return;
	}
	c->up = UPSTREAM_RETRY;
	c->next_idx = (int16_t)next;
	c->timer.cb = upstream_timer;
	if (ev_timer_start(c->w->loop, &c->timer, 0) != CT_OK)
		conn_close(c, "internal error");
}

static void
upstream_connect_check(struct conn *c, uint32_t events)
{
	int err = stream_connect_result(&c->server, events);
	/* the connect timer was started with the connect, at when - timeout */
	uint64_t began = c->timer.when - upstream_listener(c)->connect_timeout_ms;

	if (err != 0) {
		upstream_fail(c, UPSTREAM_CONNECT, err, NULL, 502);
		return;
	}
	/* Through proxies, the time is the first proxy's, not the server's. */
	if (!upstream_is_dest(c) && upstream_via(c)->n == 0)
		lb_observe(upstream_lb(c), c->w->cy->shm, c->server_idx,
		    (ev_now(c->w->loop) - began) * 1000);
	/* The connect timer goes on: it covers the chain and the handshake too. */
	upstream_connected(c);
}

/* ------------------------------------------------------------ TLS */

/*
 * The slot of the session this worker keeps for c's server (per shm
 * backend, which is per upstream and server), or NULL: none is kept.
 * Sessions die with the worker, so a reload starts from full handshakes.
 */
static SSL_SESSION **
upstream_tls_slot(struct conn *c)
{
	struct worker *w = c->w;

	if (!upstream_lb(c)->conf->tls->session_reuse || c->backend < 0 ||
	    c->backend >= SHM_BACKENDS_MAX)
		return NULL;
	if (w->tls_sessions == NULL &&
	    (w->tls_sessions = calloc(SHM_BACKENDS_MAX, sizeof(*w->tls_sessions))) == NULL)
		return NULL;
	return &w->tls_sessions[c->backend];
}

/* May sess, made under server name had (NULL: none), be offered under name? */
static int
upstream_tls_same_name(const char *had, const char *name)
{
	if (had == NULL || name == NULL)
		return had == name;
	return strcmp(had, name) == 0;
}

/*
 * The server name a handshake under name sends, which its session
 * keeps: none for an address, which SNI cannot carry.
 */
static const char *
upstream_tls_sent(const char *name)
{
	unsigned char a[sizeof(struct in6_addr)];

	if (name == NULL || inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1)
		return NULL;
	return name;
}

/* The name to send and verify: fixed, the mode's (the request's Host), or none. */
static const char *
upstream_tls_name(const struct conn *c)
{
	const struct conf_tls_upstream *t = upstream_lb(c)->conf->tls;

	if (!t->name_host)
		return t->name;
	return c->mode->upstream_sni != NULL ? c->mode->upstream_sni(c) : NULL;
}

/* Says why the handshake failed, from OpenSSL's error and verify result. */
static void
upstream_tls_failed(struct conn *c)
{
	unsigned long e = ERR_peek_last_error();
	long vr = SSL_get_verify_result(c->server.ssl);
	char why[160];
	int err = 0;

	if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK)
		snprintf(why, sizeof(why), "SSL certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	else if (e != 0 && ERR_reason_error_string(e) != NULL)
		snprintf(why, sizeof(why), "SSL: %s", ERR_reason_error_string(e));
	else
		err = errno != 0 ? errno : ECONNRESET;
	ERR_clear_error();
	upstream_fail(c, UPSTREAM_HANDSHAKE, err, err == 0 ? why : NULL, 502);
}

static void
upstream_tls_done(struct conn *c)
{
	struct shm_backend *b = shm_backend_get(c->w->cy->shm, c->backend);

	ev_timer_stop(c->w->loop, &c->timer);
	atomic_fetch_add_explicit(&b->tls_handshakes, 1, memory_order_relaxed);
	if (SSL_session_reused(c->server.ssl))
		atomic_fetch_add_explicit(&b->tls_resumed, 1, memory_order_relaxed);
	/* Bytes behind the server's Finished came with an edge the handshake took. */
	c->server.drained = 0;
	c->server.blocked = 0;
	if (ev_io_set(c->w->loop, &c->server.io, c->mode->connect_events) != CT_OK) {
		log_warn("epoll_ctl() failed after a TLS handshake");
		conn_close(c, "internal error");
		return;
	}
	upstream_ready(c);
}

static void
upstream_tls_step(struct conn *c)
{
	int rc;

	errno = 0;
	rc = c->server.ops->handshake(&c->server);
	if (rc == CT_AGAIN)
		return;
	if (rc == CT_OK)
		upstream_tls_done(c);
	else
		upstream_tls_failed(c);
}

/*
 * The TCP connection is up: makes it the client side of a TLS session
 * and runs the handshake, edge-triggered (it may wait to read or to
 * write), under the connect timer.  The session kept for the server is
 * offered only under the name it was made with.
 */
static void
upstream_tls_begin(struct conn *c)
{
	const struct conf_tls_upstream *t = upstream_lb(c)->conf->tls;
	const struct conf_server *s = &upstream_lb(c)->conf->servers[c->server_idx];
	SSL_SESSION **slot = upstream_tls_slot(c);
	SSL_SESSION *sess = slot != NULL ? *slot : NULL;
	const char *name = upstream_tls_name(c);

	if (sess != NULL && !upstream_tls_same_name(SSL_SESSION_get0_hostname(sess),
	    upstream_tls_sent(name)))
		sess = NULL;
	if (stream_tls_connect(&c->server, t->ctx, NULL, sess) != CT_OK ||
	    conf_tls_upstream_peer(t, c->server.ssl, name, (const struct sockaddr *)&s->addr.ss)
	    != CT_OK ||
	    (slot != NULL && SSL_set_ex_data(c->server.ssl, conf_tls_upstream_slot_index(), slot)
	    != 1)) {
		ERR_clear_error();
		upstream_fail(c, UPSTREAM_CONNECT, ENOMEM, NULL, 502);
		return;
	}
	c->up = UPSTREAM_TLS;
	if (ev_io_set(c->w->loop, &c->server.io, UPSTREAM_TLS_EVENTS) != CT_OK) {
		log_warn("cannot watch the TLS handshake with %s", s->address);
		conn_close(c, "internal error");
		return;
	}
	upstream_tls_step(c);
}

void
upstream_exit(struct worker *w)
{
	size_t i;

	if (w->tls_sessions == NULL)
		return;
	for (i = 0; i < SHM_BACKENDS_MAX; i++)
		SSL_SESSION_free(w->tls_sessions[i]);
	free(w->tls_sessions);
	w->tls_sessions = NULL;
}

/* ------------------------------------------------------ the events */

static void
upstream_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(&c->server, events);
	if (c->up == UPSTREAM_CONNECTING)
		upstream_connect_check(c, events);
	else if (c->up == UPSTREAM_CHAIN)
		chain_step(c);
	else if (c->up == UPSTREAM_TLS)
		upstream_tls_step(c);
}

static void
upstream_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;

	(void)loop;
	if (c->up == UPSTREAM_CONNECTING)
		upstream_fail(c, UPSTREAM_CONNECT, ETIMEDOUT, NULL, 504);
	else if (c->up == UPSTREAM_CHAIN)
		upstream_fail(c, UPSTREAM_HOP, ETIMEDOUT, "a proxy of via did not answer in time",
		    504);
	else if (c->up == UPSTREAM_TLS)
		upstream_fail(c, UPSTREAM_HANDSHAKE, ETIMEDOUT, NULL, 504);
	else if (c->up == UPSTREAM_RETRY)
		upstream_try(c, c->next_idx);
}

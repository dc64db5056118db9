/*
 * Mode forward's absolute-form requests ("GET http://host/path"): mode
 * http's machinery, with the target's authority in place of a route.
 * forward.c reads a connection's first head and hands the connection
 * over here; it then runs as mode http's do, request after request,
 * each to the destination it names:
 *
 *   head --http://host[:port]/path?--no--> 400 (origin-form), 501 (https://)
 *             |
 *   Proxy-Authorization (listener's auth) --none or wrong--> 407
 *             |
 *   head for the destination: origin-form, Host from the target, Via
 *             |
 *   proxy_connect: resolve (the request waits, client muted), rules,
 *   the destination's pool or a new connection --> 403 / 502 / 504
 *             |
 *   SEND, RECV, RELAY as mode http; the connection back to the pool
 *
 * Everything else is mode http's: bodies both ways, chunked, 100
 * Continue, upgrades, timeouts (send and read; a head within
 * handshake), an access log line per request whose server is the
 * destination as asked.  A CONNECT that follows goes back to forward.c.
 * The connection's row (http_forward_mode) differs from mode http's
 * only where a destination does: no routes, its free, the pool taken
 * and the destination given to the connector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/stats.h"
#include "worker/forward.h"
#include "worker/http.h"
#include "worker/http_int.h"
#include "worker/proxy.h"

/* RFC 9110 7.6.3: the proxy says it passed the response on, too. */
static struct conf_kv http_forward_via[] = { { "Via", "1.1 cuttle" } };

const struct conf_route http_forward_route = {
	.action = CONF_ROUTE_FORWARD,
	.response_headers = { .add = http_forward_via, .nadd = 1 },
};

/* How the request ended, once, in the listener's metrics of forward and socks. */
static void
http_forward_count(struct conn *c, enum shm_proxy_result r)
{
	struct http_ctx *h = c->ctx;

	if (!h->proxy_counted) {
		h->proxy_counted = 1;
		proxy_count(c, r);
	}
}

void
http_forward_begin(struct conn *c, const char *bytes, size_t len)
{
	struct http_ctx *h;

	c->mode = &http_forward_mode;
	c->client.io.cb = http_io;
	ev_timer_stop(c->w->loop, &c->timer);
	c->timer.cb = http_timer;
	if (http_ctx_get(c) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	h = c->ctx;
	h->state = H_HEAD;
	h->t_start = http_now(c);
	if (http_buf_add(&h->in, bytes, len) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	http_timer_arm(c, http_listener(c)->header_timeout_ms);
	http_head_parse(c);
	if (c->state == CONN_OPEN && c->ctx == h)
		http_progress(c);
}

/*
 * An answer of the proxy's own that says why in its body, as a CONNECT's
 * does: the client of a forward proxy has no other way to learn whether
 * its name, the rules or the site failed.  why must last until the
 * request is logged.  A malformed or unsupported request (400, 501)
 * ends the connection, a destination's failure does not.
 */
static void
http_forward_error(struct conn *c, int status, const char *why)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%d %s: %s\n", status, http_reason_phrase(status),
	    why);

	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof(body))
		n = sizeof(body) - 1;
	http_answer(c, status, why, "text/plain", body, (size_t)n, NULL,
	    status == 400 || status == 501);
}

/* The host and port of the request's target; CT_ERROR with 400 answered. */
static int
http_forward_target(struct conn *c, char *host, size_t cap, uint16_t *port)
{
	struct http_ctx *h = c->ctx;

	if (forward_authority(h->req.host, host, cap, port, 80) == CT_OK)
		return CT_OK;
	http_forward_count(c, SHM_PROXY_PROTOCOL);
	http_forward_error(c, 400, "invalid host in the request target");
	return CT_ERROR;
}

void
http_forward_request(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct http_request *req = &h->req;
	char host[256];
	uint16_t port;

	if (req->form != HTTP_TARGET_ABSOLUTE) {
		http_forward_count(c, SHM_PROXY_PROTOCOL);
		http_forward_error(c, 400, FORWARD_TARGET_WHY);
		return;
	}
	/*
	 * Well-formed, but asking the proxy to speak TLS to the origin on
	 * the client's behalf, which it does not: 501, not 400.  Clients
	 * send https:// URLs through a CONNECT tunnel instead.
	 */
	if (req->host.p - req->target.p != (ptrdiff_t)(sizeof("http://") - 1)) {
		http_forward_count(c, SHM_PROXY_PROTOCOL);
		http_forward_error(c, 501, "https:// targets are not fetched by the proxy: CONNECT tunnels "
		    "TLS to them");
		return;
	}
	if (h->dest == NULL && (h->dest = calloc(1, sizeof(*h->dest))) == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	h->dest->up.name[0] = '\0';
	h->route = &http_forward_route;
	if (http_forward_target(c, host, sizeof(host), &port) != CT_OK)
		return;
	/* Known now, for the log of whatever answers the request. */
	proxy_name(h->dest, host, port);
	http_forward_access(c);
}

/* The connector's: the first connection of the request counts it granted. */
static void
http_forward_ready(struct conn *c)
{
	http_forward_count(c, SHM_PROXY_GRANTED);
	http_upstream_ready(c);
}

static void
http_forward_give_up(struct conn *c, int status, const char *why)
{
	struct http_ctx *h = c->ctx;

	if (!h->proxy_counted) {
		h->proxy_counted = 1;
		proxy_count_fail(c, h->dest);
	}
	/* The error log has the details; the client, the destination and what went wrong. */
	(void)why;
	proxy_client_reason(h->dest, h->why, sizeof(h->why));
	http_forward_error(c, h->dest->fail == PROXY_FAIL_RULES ? 403 : status, h->why);
}

void
http_forward_access(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	char host[256];
	uint16_t port;
	int rc;

	/* The limits and rules of mode http are a route's: a forward listener has none. */
	rc = http_access_proxy_auth(c);
	/* Answered: the context may already wait for the next request, or be gone. */
	if (rc == CT_DONE)
		proxy_count(c, SHM_PROXY_AUTH);
	if (rc != CT_OK && rc != CT_DECLINED)
		return;
	if (http_forward_target(c, host, sizeof(host), &port) != CT_OK)
		return;
	if (http_forward_head_build(c) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	http_continue_start(c);
	/* Resolving: nothing is read from the client meanwhile; the resolver bounds the wait. */
	h->state = H_CONNECT;
	proxy_connect(c, h->dest, host, port);
	if (c->state == CONN_OPEN && c->ctx == h && h->state == H_CONNECT)
		http_progress(c);
}

void
http_forward_connect(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t from = h->in.start - h->req.h.head_len;

	/* Mode forward logs a tunnel as a connection, not as a request. */
	c->ctx = NULL;
	forward_begin(c, h->in.p + from, h->in.end - from);
	http_ctx_put(c->w, h);
}

static void
http_forward_free(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (h->dest != NULL)
		proxy_cancel(h->dest);
	http_free(c);
}

static struct upstream_dest *
http_forward_dest(const struct conn *c)
{
	const struct http_ctx *h = c->ctx;

	/* A context from the cache may hold another connection's. */
	return h != NULL && h->route == &http_forward_route ? &h->dest->up : NULL;
}

const struct conn_mode http_forward_mode = {
	.name = "forward",
	.per_request = 1,
	.resolves = 1,
	.free = http_forward_free,
	.describe = http_describe,
	.io = http_io,
	.timer = http_timer,
	.connect_events = EPOLLOUT,
	.upstream_ready = http_forward_ready,
	.upstream_give_up = http_forward_give_up,
	.upstream_resend = http_upstream_resend,
	.upstream_pool_take = http_dest_pool_take,
	.upstream_dest = http_forward_dest,
};

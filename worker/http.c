/*
 * mode http: an HTTP/1.1 reverse proxy.  This file is the driver: it
 * runs the step of the request's state on each event and timer, and
 * takes a connection from one request to the next.  The phases of a
 * request live in the files listed in worker/http_int.h.
 *
 * One request at a time per client connection (pipelined requests wait
 * in the input buffer, so responses keep their order):
 *
 *   IDLE --bytes--> HEAD --parsed, routed--> access phase --+--> local answer
 *    ^                                          |            |   (return, redirect,
 *    |                                          v            |    error) ------+
 *    |        CONNECT (or a pooled connection) --> SEND head + body           |
 *    |                                                   |                    |
 *    |                         RECV response head (1xx relayed)               |
 *    |                                                   |                    |
 *    +------ keep-alive <-- RELAY response body <--------+                    |
 *    |                      (through the body filters)                        |
 *    +---------------------------------------------------------------------<--+
 *
 *   After a 101, the pair goes to the tunnel (tunnel_start).
 *   Errors that end the connection send their answer, shut down the
 *   write side and drain the client for a moment (LINGER), so that the
 *   answer is not destroyed by a reset.
 *
 * Bodies stream in both directions through the two input buffers; the
 * parsers only find where a body ends (Content-Length counts, chunked
 * scanning), bytes are relayed as they came unless a body filter
 * (dechunk, gzip) takes the response.  Idle upstream connections wait
 * in a per-worker pool per server; a pooled connection that the server
 * closes is dropped as soon as epoll says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/bandwidth.h"
#include "worker/http.h"
#include "worker/http_int.h"
#include "worker/pipe.h"
#include "worker/upstream.h"

/*
 * How long a draining worker keeps an idle keep-alive connection for a
 * request that was sent as the reload happened.
 */
#define HTTP_DRAIN_GRACE_MS 1000

static void http_request_next(struct conn *c);

/* ------------------------------------------------------ the context */

/* Zeroes a context for the next request but the heads' field arrays (8 KB) and norm. */
static void
http_ctx_clear(struct http_ctx *h)
{
	memset(h, 0, offsetof(struct http_ctx, resp));
	http_response_clear(&h->resp);
	http_request_clear(&h->req);
}

/* A zeroed context for a new request; its buffers come along from the cache. */
int
http_ctx_get(struct conn *c)
{
	struct http_pool *p = http_pool_get(c->w);
	struct http_ctx *h;
	struct http_buf in = { 0 }, rin = { 0 }, out = { 0 };

	if (p != NULL && p->ncache > 0) {
		h = p->cache[--p->ncache];
		in = h->in;
		rin = h->rin;
		out = h->out;
		http_ctx_clear(h);
	} else if ((h = calloc(1, sizeof(*h))) == NULL) {
		return CT_ERROR;
	}
	h->in = in;
	h->rin = rin;
	h->out = out;
	h->in.start = h->in.end = 0;
	h->rin.start = h->rin.end = 0;
	h->out.start = h->out.end = 0;
	c->ctx = h;
	return CT_OK;
}

void
http_ctx_put(struct worker *w, struct http_ctx *h)
{
	struct http_pool *p = w->modes[CONF_MODE_HTTP];

	if (p != NULL && p->ncache < HTTP_CTX_CACHE) {
		p->cache[p->ncache++] = h;
		return;
	}
	http_buf_free(&h->in);
	http_buf_free(&h->rin);
	http_buf_free(&h->out);
	http_buf_free(&h->norm);
	free(h->dest);
	free(h);
}

/* ------------------------------------------------- request to request */

void
http_free(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (!h->logged && h->state != H_IDLE && h->status == 0 && h->method[0] != '\0') {
		h->status = h->resp_started ? h->resp.code : 499;
		if (h->reason == NULL)
			h->reason = "connection closed before the response was complete";
	}
	if (h->status != 0)
		http_log_request(c);
	http_filter_free(c);
	http_cache_done(c);
	if (h->piped)
		pipe_give(h->pipe, h->pipe_len);
	http_ctx_put(c->w, h);
	c->ctx = NULL;
}

void
http_request_done(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	/* Bytes after the answer, in the buffer or inside TLS, mean a server out of step. */
	int reuse = h->resp_done && !h->resp_close && h->resp.h.keep_alive &&
	    h->rin.start == h->rin.end && h->body_done && !stream_buffered(&c->server);

	http_log_request(c);
	h->status = 0;
	if (h->route != NULL && h->route->action == CONF_ROUTE_UPSTREAM)
		http_upstream_release(c, reuse);
	else if (h->route == &http_forward_route)
		http_dest_release(c, reuse);
	if (!h->client_keepalive || c->w->quitting) {
		conn_close(c, "done");
		return;
	}
	http_request_next(c);
}

/* Resets the per-request state, keeping the buffers and pipelined bytes. */
static void
http_request_next(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_buf in = h->in, rin = h->rin, out = h->out;

	/* The body's end may lie before bytes of the next request. */
	in.start = h->body_end > in.start ? h->body_end : in.start;
	http_filter_free(c);
	http_cache_done(c);
	http_ctx_clear(h);
	h->in = in;
	h->rin = rin;
	h->out = out;
	h->rin.start = h->rin.end = 0;
	h->out.start = h->out.end = 0;
	c->server_idx = -1;
	c->attempts = 0;
	memset(&c->tried, 0, sizeof(c->tried));
	h->t_start = http_now(c);
	/* Bytes a TLS library holds come with no event: they count as pipelined. */
	if (h->in.start == h->in.end && !stream_buffered(&c->client)) {
		/* Idle: the connection keeps only its slot until bytes come. */
		http_ctx_put(c->w, h);
		c->ctx = NULL;
		http_timer_arm(c, http_listener(c)->idle_timeout_ms);
		if (ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK)
			conn_close(c, "internal error");
		return;
	}
	/*
	 * A pipelined request waits for the next turn of the loop: parsed
	 * now, it would be answered from inside the answer to the one
	 * before, one level deeper per request, and a client pipelining
	 * thousands would overflow the stack.
	 */
	h->state = H_HEAD;
	h->resume = 1;
	http_timer_arm(c, 0);
}

static void
http_start(struct conn *c)
{
	http_timer_arm(c, http_listener(c)->header_timeout_ms);
	if (ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK)
		conn_close(c, "internal error");
}

/* ------------------------------------------------------- the driver */

static void
http_progress_run(struct conn *c)
{
	struct http_ctx *h;
	enum http_state before;
	uint32_t ci = 0, si = 0;
	uint64_t seen = UINT64_MAX;

again:
	do {
		if (c->state == CONN_CLOSED || (h = c->ctx) == NULL || c->state != CONN_OPEN ||
		    c->client.io.cb != http_io)
			return;
		before = h->state;
		switch (h->state) {
		case H_IDLE:
		case H_HEAD:   http_step_head(c); break;
		case H_CONNECT: break;
		case H_SEND:   http_step_send(c); break;
		case H_RECV:   http_step_recv(c); break;
		case H_RELAY:  http_step_relay(c); break;
		case H_LOCAL:  http_step_local(c); break;
		case H_DISCARD: http_step_discard(c); break;
		case H_LINGER: http_step_linger(c); break;
		case H_PARKED: break;
		case H_CACHE:  http_step_cache(c); break;
		}
	} while (c->state == CONN_OPEN && c->ctx == h && h->state != before &&
	    c->client.io.cb == http_io);
	if (c->state != CONN_OPEN || c->ctx == NULL || c->client.io.cb != http_io)
		return;
	h = c->ctx;
	switch (h->state) {
	case H_IDLE:
	case H_HEAD:
	case H_DISCARD:
		ci = EPOLLIN;
		break;
	case H_LINGER:
		ci = EPOLLIN | (h->shut_pending ? EPOLLOUT : 0);
		break;
	case H_CONNECT:
		si = EPOLLOUT;
		break;
	case H_SEND:
		if (h->out.start < h->out.end || h->in.start < h->body_end)
			si = EPOLLOUT;
		else if (h->cont_left > 0)
			ci = EPOLLOUT;
		else if (!bandwidth_paused(c, CONF_BW_UP))
			ci = EPOLLIN;
		break;
	case H_RECV:
		if (h->out.start < h->out.end)
			ci = EPOLLOUT;
		else
			si = EPOLLIN;
		break;
	case H_RELAY:
		if (h->out.start < h->out.end || h->rin.start < h->resp_end || h->pipe_len > 0)
			ci = EPOLLOUT;
		else if (!bandwidth_paused(c, CONF_BW_DOWN))
			/* Urgent data stops a splice: the buffered path steps over it. */
			si = EPOLLIN | (h->piped ? EPOLLPRI : 0);
		break;
	case H_LOCAL:
		ci = EPOLLOUT;
		break;
	case H_CACHE:
		ci = http_cache_client_events(c);
		break;
	case H_PARKED:
		break;
	}
	/*
	 * A TLS client whose library holds bytes gets no event for them: the
	 * step that waits to read reads them now, as long as it takes some.
	 */
	if ((ci & EPOLLIN) && c->from_client != seen && stream_buffered(&c->client)) {
		seen = c->from_client;
		goto again;
	}
	/* A TLS side may need the other event to go on (stream.h). */
	if ((ci & EPOLLIN) && c->client.read_wants_out)
		ci = (ci & ~(uint32_t)EPOLLIN) | EPOLLOUT;
	else if ((ci & EPOLLOUT) && c->client.write_wants_in)
		ci = (ci & ~(uint32_t)EPOLLOUT) | EPOLLIN;
	if ((si & EPOLLIN) && c->server.read_wants_out)
		si = (si & ~(uint32_t)EPOLLIN) | EPOLLOUT;
	else if ((si & EPOLLOUT) && c->server.write_wants_in)
		si = (si & ~(uint32_t)EPOLLOUT) | EPOLLIN;
	/* Lazily: a client muted while its request is served would be unmuted next. */
	if (ev_io_want(c->w->loop, &c->client.io, ci) != CT_OK ||
	    (c->server.fd != -1 && ev_io_want(c->w->loop, &c->server.io, si) != CT_OK)) {
		log_warn("epoll_ctl() failed in an http connection");
		conn_close(c, "internal error");
	}
}

/*
 * Runs the steps of c's request until it waits, then sets its epoll
 * interest.  Called again for c from inside one of its steps (an answer
 * of cuttle's own, a connection ready at once), it returns: the loop
 * further up goes on with the new state.  Nesting instead would go one
 * level deeper per pipelined request.
 */
void
http_progress(struct conn *c)
{
	static struct conn *running;
	struct conn *outer = running;

	if (running == c)
		return;
	running = c;
	http_progress_run(c);
	running = outer;
}

/*
 * The worker stops accepting.  A connection is never closed under a
 * request that may be on its way: one accepted whose first request has
 * not come yet keeps its header timeout and is served; an idle
 * keep-alive one gets HTTP_DRAIN_GRACE_MS for a request that crossed the
 * reload, then closes.  Either answers with "Connection: close".
 */
static void
http_drain(struct worker *w)
{
	uint64_t now = ev_now(w->loop);
	unsigned i;

	for (i = 0; i < w->cy->conf->worker_connections; i++) {
		struct conn *c = &w->conns[i];

		if (c->state != CONN_OPEN || c->client.io.cb != http_io ||
		    (c->ctx != NULL && http_ctx_of(c)->state != H_IDLE) || c->from_client == 0)
			continue;
		if ((!ev_timer_active(&c->timer) || c->timer.when > now + HTTP_DRAIN_GRACE_MS) &&
		    ev_timer_start(w->loop, &c->timer, HTTP_DRAIN_GRACE_MS) != CT_OK)
			conn_close(c, "shutdown");
	}
}

void
http_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(io == &c->client.io ? &c->client : &c->server, events);
	if (c->state != CONN_OPEN)
		return;
	if (c->ctx == NULL) {
		if (http_ctx_get(c) != CT_OK) {
			conn_close(c, "out of memory");
			return;
		}
		http_ctx_of(c)->state = H_IDLE;
		http_ctx_of(c)->t_start = http_now(c);
	}
	http_progress(c);
}

/*
 * The timer of a request that waits for its client rather than its
 * server (the server's timeouts are renewed by the server's bytes): a
 * client that moved bytes since the last look gets another period, one
 * that did not is the one to blame, not the server.
 */
static int
http_timer_client_moved(struct conn *c, uint64_t moved)
{
	struct http_ctx *h = c->ctx;

	if (moved == h->timer_mark)
		return 0;
	h->timer_mark = moved;
	http_timer_arm(c, h->state == H_SEND ? http_listener(c)->send_timeout_ms :
	    http_listener(c)->read_timeout_ms);
	return 1;
}

void
http_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	struct http_ctx *h = c->ctx;

	(void)loop;
	if (c->state != CONN_OPEN)
		return;
	if (h != NULL && h->resume) {
		/* A pipelined request's turn (http_request_next()). */
		http_timer_arm(c, http_listener(c)->header_timeout_ms);
		http_head_parse(c);
		if (c->state == CONN_OPEN && c->ctx == h)
			http_progress(c);
		return;
	}
	if (h == NULL || h->state == H_IDLE) {
		/* A draining worker's grace for an idle connection is over. */
		conn_close(c, c->w->quitting && c->from_client > 0 ? "shutdown" : "keep-alive timeout");
		return;
	}
	switch (h->state) {
	case H_IDLE:
		break;
	case H_HEAD:
		snprintf(h->method, sizeof(h->method), "-");
		snprintf(h->target, sizeof(h->target), "-");
		http_error(c, 408, "request head not complete within timeouts.header");
		break;
	case H_CONNECT:
		/* The connector's timer while it works: not reached. */
		break;
	case H_SEND:
		if (h->out.start < h->out.end || h->in.start < h->body_end)
			upstream_fail(c, UPSTREAM_SEND, ETIMEDOUT, NULL, 504);
		else if (http_timer_client_moved(c, c->from_client))
			break;
		else
			conn_close(c, "client did not send its request body");
		break;
	case H_RECV:
		upstream_fail(c, UPSTREAM_RECV, ETIMEDOUT, NULL, 504);
		break;
	case H_RELAY:
		if (h->out.start >= h->out.end && h->rin.start >= h->resp_end && h->pipe_len == 0)
			upstream_fail(c, UPSTREAM_BODY, ETIMEDOUT, NULL, 504);
		else if (http_timer_client_moved(c, h->bytes))
			break;
		else
			conn_close(c, "client did not read the answer");
		break;
	case H_LOCAL:
		conn_close(c, "client did not read the answer");
		break;
	case H_CACHE:
		http_cache_timer(c);
		break;
	case H_DISCARD:
		conn_close(c, "request body not complete within timeouts.header");
		break;
	case H_LINGER:
		conn_close(c, "done");
		break;
	case H_PARKED:
		http_unpark(c);
		break;
	}
}

void
http_describe(const struct conn *c, char *buf, size_t len)
{
	const struct http_ctx *h = c->ctx;

	if (h != NULL && h->method[0] != '\0')
		snprintf(buf, len, ", request: \"%s %s\"", h->method, h->target);
}

const struct conn_mode http_mode = {
	.name = "http",
	.per_request = 1,
	.start = http_start,
	.free = http_free,
	.drain = http_drain,
	.exit = http_pool_close_all,
	.describe = http_describe,
	.io = http_io,
	.timer = http_timer,
	.connect_events = EPOLLOUT,
	.upstream_ready = http_upstream_ready,
	.upstream_give_up = http_upstream_give_up,
	.upstream_resend = http_upstream_resend,
	.upstream_pool_take = http_pool_take,
	.upstream_key = http_upstream_key,
	.upstream_sni = http_upstream_sni,
};

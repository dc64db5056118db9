/*
 * mode http's response side: the response head as it goes to the
 * client, and the relay of its body (framing found here, transformations
 * left to the filter chain, a long plain body handed to splice), and
 * the answers cuttle gives by itself (errors, return, redirect) with
 * what follows them: dropping an unread request body, lingering close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "worker/bandwidth.h"
#include "worker/http_int.h"
#include "worker/tunnel.h"
#include "worker/upstream.h"
#include "worker/pipe.h"

#define HTTP_LINGER_MS   2000
/*
 * A response body with at least this much left after the bytes read
 * with its head goes on by splice(2): below it, the pipe costs more
 * than the copies it saves.
 */
#define HTTP_SPLICE_MIN  32768

const char *
http_reason_phrase(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 401: return "Unauthorized";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return code < 200 ? "Informational" : code < 300 ? "OK" : code < 400 ? "Redirect" :
	    code < 500 ? "Client Error" : "Server Error";
}

/* ------------------------------------------------------- local answers */

/*
 * The Date of cuttle's own answers (RFC 9110 6.6.1, IMF-fixdate),
 * formatted when the second changes, not per answer; by hand, so that
 * no locale can change a name.
 */
static struct http_piece
http_date(void)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static char buf[32];
	static time_t last = -1;
	static int len;
	time_t now = time(NULL);
	struct tm tm;

	if (now != last && gmtime_r(&now, &tm) != NULL) {
		len = snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
		last = now;
	}
	return (struct http_piece){ buf, (size_t)CT_MAX(len, 0) };
}

void
http_answer(struct conn *c, int status, const char *reason, const char *ctype,
    const char *body, size_t body_len, const char *location, int close_after)
{
	http_answer_field(c, status, reason, ctype, body, body_len,
	    location != NULL ? "Location" : NULL, location, close_after);
}

void
http_answer_field(struct conn *c, int status, const char *reason, const char *ctype,
    const char *body, size_t body_len, const char *name, const char *value, int close_after)
{
	char *fields = NULL;
	size_t n;

	if (name != NULL) {
		n = strlen(name) + strlen(value) + sizeof(": \r\n");
		if ((fields = malloc(n)) == NULL) {
			conn_close(c, "out of memory");
			return;
		}
		snprintf(fields, n, "%s: %s\r\n", name, value);
	}
	http_answer_fields(c, status, reason, ctype, body, body_len, fields, close_after);
	free(fields);
}

void
http_answer_fields(struct conn *c, int status, const char *reason, const char *ctype,
    const char *body, size_t body_len, const char *fields, int close_after)
{
	struct http_ctx *h = c->ctx;
	char code[24], len[24];
	int rc;

	if (h->resp_started) {
		/* Too late for an answer: the client already has part of one. */
		h->reason = reason;
		conn_close(c, reason != NULL ? reason : "upstream error");
		return;
	}
	h->status = status;
	h->reason = reason;
	if (close_after || c->w->quitting)
		h->client_keepalive = 0;
	h->out.start = h->out.end = 0;
	rc = CT_OK;
	if (h->cont_left > 0) {
		/* A "100 Continue" cut short goes out whole before the answer. */
		size_t n;
		const char *p = http_continue_left(c, &n);

		rc = http_buf_add(&h->out, p, n);
		h->cont_left = 0;
	}
	if (rc == CT_OK)
		rc = HTTP_CAT(&h->out, HP("HTTP/1.1 "), http_num(code, (uint64_t)status), HP(" "),
		    HZ(http_reason_phrase(status)), HP("\r\nServer: cuttle\r\nDate: "), http_date(),
		    HP("\r\nContent-Type: "), HZ(ctype), HP("\r\nContent-Length: "),
		    http_num(len, body_len), HP("\r\n"));
	if (rc == CT_OK && fields != NULL)
		rc = http_buf_add(&h->out, fields, strlen(fields));
	if (rc == CT_OK)
		rc = h->client_keepalive ? HTTP_CAT(&h->out, HP("Connection: keep-alive\r\n\r\n")) :
		    HTTP_CAT(&h->out, HP("Connection: close\r\n\r\n"));
	if (rc == CT_OK && !h->req.is_head)
		rc = http_buf_add(&h->out, body, body_len);
	if (rc != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	h->bytes = h->out.end;
	h->out_to_client = 1;
	h->local_close = !h->client_keepalive;
	h->state = H_LOCAL;
	/* A client that does not read its answer must not keep the slot. */
	http_timer_arm(c, http_listener(c)->send_timeout_ms);
	if ((h->route != NULL && h->route->action == CONF_ROUTE_UPSTREAM) ||
	    h->route == &http_forward_route)
		http_upstream_release(c, 0);
	http_progress(c);
}

void
http_error(struct conn *c, int status, const char *reason)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason_phrase(status));
	/*
	 * After these the request stream cannot be trusted or its body is
	 * refused; after the others the rest of the body is read and dropped
	 * and the connection goes on.
	 */
	int close_after = status == 400 || status == 408 || status == 413 || status == 414 ||
	    status == 431 || status == 501 || status == 505;

	http_answer(c, status, reason, "text/plain", body, (size_t)n, NULL, close_after);
}

/* ------------------------------------------------- the response */

/* The framing fields of the body as it goes to the client, and Connection. */
static int
http_framing_add(struct conn *c, struct http_buf *o)
{
	struct http_ctx *h = c->ctx;
	const struct http_header *cl;
	int rc = CT_OK;

	switch (h->body_framing) {
	case HTTP_BODY_NONE:
	case HTTP_BODY_LENGTH:
		cl = http_header_find_id(&h->resp.h, HTTP_F_CONTENT_LENGTH);
		if (h->body_framing == HTTP_BODY_LENGTH || cl != NULL)
			rc = HTTP_CAT(o, HP("Content-Length: "), cl != NULL ? HS(cl->value) : HP("0"),
			    HP("\r\n"));
		break;
	case HTTP_BODY_CHUNKED:
		rc = HTTP_CAT(o, HP("Transfer-Encoding: chunked\r\n"));
		break;
	case HTTP_BODY_CLOSE:
		break;
	}
	if (h->body_framing == HTTP_BODY_CLOSE || !h->client_keepalive) {
		h->client_keepalive = 0;
		rc |= HTTP_CAT(o, HP("Connection: close\r\n"));
	} else if (h->minor == 0) {
		rc |= HTTP_CAT(o, HP("Connection: keep-alive\r\n"));
	}
	return rc;
}

int
http_response_head_build(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct http_response *resp = &h->resp;
	struct http_buf *o = &h->out;
	int rc, code = resp->code;
	char num[24];

	o->start = o->end = 0;
	/* A draining worker finishes this request and then closes. */
	if (c->w->quitting)
		h->client_keepalive = 0;
	rc = HTTP_CAT(o, HP("HTTP/1.1 "), http_num(num, (uint64_t)code), HP(" "),
	    HS(resp->reason), HP("\r\n"));
	rc |= http_fields_copy(o, &resp->h, &h->route->response_headers, 0, NULL, 0);
	if (code >= 200 && code != 101 && h->cache != NULL)
		rc |= http_cache_response(c, o, 0, o->end);
	if (code >= 200 && code != 101) {
		/* The filters add their fields and may change the framing. */
		rc |= http_filter_init(c);
		rc |= http_framing_add(c, o);
		rc |= http_ops_add(o, &h->route->response_headers);
	} else if (code == 101) {
		const struct http_header *up = http_header_find_id(&resp->h, HTTP_F_UPGRADE);

		rc |= HTTP_CAT(o, HP("Connection: upgrade\r\n"));
		if (up != NULL)
			rc |= HTTP_CAT(o, HP("Upgrade: "), HS(up->value), HP("\r\n"));
	}
	rc |= http_buf_add(o, "\r\n", 2);
	h->out_to_client = 1;
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

/*
 * The framing: marks which bytes of h->rin are response body, up to its
 * end, as the server sent them.
 */
static int
http_resp_scan(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t avail = h->rin.end - h->resp_end;
	long n;

	if (h->resp_done || avail == 0)
		return CT_OK;
	switch (h->resp.h.framing) {
	case HTTP_BODY_LENGTH:
		n = (long)CT_MIN((uint64_t)avail, h->resp_left);
		h->resp_left -= (uint64_t)n;
		h->resp_done = h->resp_left == 0;
		break;
	case HTTP_BODY_CHUNKED:
		n = http_chunked_scan(&h->resp_chunked, h->rin.p + h->resp_end, avail);
		if (n < 0 && h->bytes == h->resp_from) {
			/* Nothing of the response has gone: the client gets a 502. */
			http_filter_free(c);
			h->resp_started = 0;
			h->state = H_RECV;
			upstream_fail(c, UPSTREAM_BODY, 0, h->resp_chunked.error, 502);
			return CT_ERROR;
		}
		if (n < 0) {
			log_warnx("invalid chunked body from %s: %s", http_server_name(c),
			    h->resp_chunked.error);
			conn_close(c, "invalid response body from upstream");
			return CT_ERROR;
		}
		h->resp_done = h->resp_chunked.done;
		break;
	default:
		n = (long)avail;
		break;
	}
	h->resp_end += (size_t)n;
	return CT_OK;
}

/* After a 101: the bytes both buffers hold go into the tunnel's buffers. */
static void
http_upgrade(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t up = h->in.end - h->in.start, down = h->rin.end - h->rin.start;

	if (up > BUF_SIZE || down > BUF_SIZE ||
	    (up > 0 && (c->c2s = buf_get(&c->w->bufs)) == NULL) ||
	    (down > 0 && (c->s2c = buf_get(&c->w->bufs)) == NULL)) {
		conn_close(c, "upgrade with too many buffered bytes");
		return;
	}
	if (up > 0) {
		memcpy(c->c2s->data, h->in.p + h->in.start, up);
		c->c2s->end = (uint32_t)up;
	}
	if (down > 0) {
		memcpy(c->s2c->data, h->rin.p + h->rin.start, down);
		c->s2c->end = (uint32_t)down;
	}
	h->state = H_IDLE;
	http_log_request(c);
	h->status = 0;
	ev_timer_stop(c->w->loop, &c->timer);
	tunnel_start(c);
}

/* The server ended or broke the connection inside a response body. */
static void
http_upstream_cut(struct conn *c)
{
	const struct http_ctx *h = c->ctx;

	log_warnx("upstream %s closed before the response body was complete, "
	    "request: \"%s %s\"", http_server_name(c), h->method, h->target);
	conn_close(c, "upstream closed before the response was complete");
}

/*
 * Can the rest of the response body go on by splice?  A Content-Length
 * body that no filter changes, between plain sockets, with nothing of it left
 * in rin; takes the pipe when it can.
 */
static int
http_splice_wanted(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (h->piped)
		return 1;
	if (c->server.urgent)
		return 0;
	if (h->nfilters != 0 || h->resp.h.framing != HTTP_BODY_LENGTH ||
	    h->resp_left < HTTP_SPLICE_MIN || h->rin.start != h->resp_end ||
	    !stream_can_splice(&c->client) || !stream_can_splice(&c->server) ||
	    !pipe_take(h->pipe, WORKER_PIPES_MAX(c->w->cy->conf->worker_connections)))
		return 0;
	h->piped = 1;
	h->pipe_len = 0;
	return 1;
}

/*
 * Moves the rest of a Content-Length body server -> pipe -> client.
 * Returns CT_OK when all of it is delivered (the pipe is given back),
 * CT_AGAIN to wait for a socket, CT_ERROR when the connection closed,
 * CT_DECLINED when urgent data came (which splice cannot pass): the
 * pipe is given back once empty and the rest goes buffered.
 */
static int
http_relay_spliced(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t want;
	ssize_t n;

	for (;;) {
		if (c->server.urgent && h->pipe_len == 0) {
			pipe_give(h->pipe, 0);
			h->piped = 0;
			return CT_DECLINED;
		}
		if (h->pipe_len > 0) {
			n = c->client.ops->splice_write(&c->client, h->pipe[0], h->pipe_len);
			if (n == CT_AGAIN)
				return CT_AGAIN;
			if (n < 0) {
				http_client_gone(c, "client reset");
				return CT_ERROR;
			}
			h->pipe_len -= (size_t)n;
			h->bytes += (uint64_t)n;
			continue;
		}
		if (h->resp_left == 0) {
			pipe_give(h->pipe, 0);
			h->piped = 0;
			h->resp_done = 1;
			return CT_OK;
		}
		if ((want = bandwidth_allow(c, CONF_BW_DOWN,
		    (size_t)CT_MIN(h->resp_left, (uint64_t)PIPE_CHUNK), http_progress)) == 0)
			return CT_AGAIN;
		n = c->server.ops->splice_read(&c->server, h->pipe[1], want);
		if (n == CT_AGAIN)
			return CT_AGAIN;
		if (n < 0) {
			http_upstream_cut(c);
			return CT_ERROR;
		}
		h->resp_left -= (uint64_t)n;
		h->pipe_len += (size_t)n;
		c->from_server += (uint64_t)n;
		http_timer_arm(c, http_listener(c)->read_timeout_ms);
	}
}

/*
 * The body bytes that came since the last step, framed, and through
 * the filters if the response has any: *body is what goes to the
 * client.  Without filters, rin's body bytes go as they are.
 */
static int
http_body_next(struct conn *c, struct http_body *body)
{
	struct http_ctx *h = c->ctx;
	size_t from = h->resp_end;

	if (http_resp_scan(c) != CT_OK)
		return CT_ERROR;
	if (h->nfilters != 0)
		return http_filter_run(c, from, body);
	body->buf = &h->rin;
	body->end = h->resp_end;
	body->last = h->resp_done;
	return CT_OK;
}

/* H_RELAY, after a 101: the head, then the pair becomes a tunnel. */
static void
http_step_switch(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	int rc = http_write(&c->client, &h->out, h->out.end, &h->bytes);

	if (rc == CT_AGAIN)
		return;
	if (rc == CT_ERROR) {
		http_client_gone(c, "client reset");
		return;
	}
	h->out.start = h->out.end = 0;
	http_upgrade(c);
}

/* H_RELAY: the response head, then its body, to the client. */
void
http_step_relay(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_body body;
	size_t max;
	ssize_t n;
	int rc, had;

	if (h->resp.code == 101) {
		http_step_switch(c);
		return;
	}
	for (;;) {
		if (http_body_next(c, &body) != CT_OK)
			return;
		had = body.buf->start < body.end;
		/* The head and the body bytes already here leave together. */
		if (h->out.start < h->out.end && body.buf != &h->out)
			rc = http_write2(&c->client, &h->out, h->out.end, body.buf, body.end, &h->bytes);
		else
			rc = http_write(&c->client, body.buf, body.end, &h->bytes);
		if (rc == CT_AGAIN)
			return;
		if (rc == CT_ERROR) {
			http_client_gone(c, "client reset");
			return;
		}
		h->out.start = h->out.end = 0;
		if (h->nfilters == 0) {
			if (!h->resp_done && http_splice_wanted(c) &&
			    (rc = http_relay_spliced(c)) != CT_OK && rc != CT_DECLINED)
				return;
			if (h->resp_done) {
				ev_timer_stop(c->w->loop, &c->timer);
				http_request_done(c);
				return;
			}
		} else if (body.last) {
			ev_timer_stop(c->w->loop, &c->timer);
			http_request_done(c);
			return;
		} else if (had) {
			/* The filters may make more of what they hold. */
			continue;
		}
		if ((max = bandwidth_allow(c, CONF_BW_DOWN, SIZE_MAX, http_progress)) == 0)
			return;
		n = http_read_max(&c->server, &h->rin, &h->resp_end, 16384, max);
		if (n == CT_AGAIN)
			return;
		if (n == CT_DONE && h->resp_close) {
			h->resp_done = 1;
			continue;
		}
		if (n == CT_DONE || n == CT_ERROR) {
			http_upstream_cut(c);
			return;
		}
		c->from_server += (uint64_t)n;
		http_timer_arm(c, http_listener(c)->read_timeout_ms);
	}
}

/* H_LOCAL: cuttle's own answer. */
void
http_step_local(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	int rc;

	rc = http_write(&c->client, &h->out, h->out.end, NULL);

	if (rc == CT_AGAIN)
		return;
	if (rc == CT_ERROR) {
		conn_close(c, "client reset");
		return;
	}
	if (!h->local_close) {
		h->resp_done = 1;
		h->out.start = h->out.end = 0;
		if (!h->body_done) {
			/* An answer is out: a body error now ends the connection, not a second answer. */
			h->resp_started = 1;
			h->state = H_DISCARD;
			http_timer_arm(c, http_listener(c)->header_timeout_ms);
			return;
		}
		http_request_done(c);
		return;
	}
	http_log_request(c);
	h->status = 0;
	h->shut_pending = c->client.ops->shutdown_write(&c->client) == CT_AGAIN;
	h->state = H_LINGER;
	h->in.start = h->in.end = 0;
	http_timer_arm(c, HTTP_LINGER_MS);
}

/* H_DISCARD: the request body of an answered request, read and dropped. */
void
http_step_discard(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	ssize_t n;

	for (;;) {
		if (http_body_scan(c) != CT_OK)
			return;
		h->in.start = h->body_end;
		if (h->body_done) {
			ev_timer_stop(c->w->loop, &c->timer);
			http_request_done(c);
			return;
		}
		n = http_read(&c->client, &h->in, &h->body_end, 16384);
		if (n == CT_AGAIN)
			return;
		if (n == CT_DONE || n == CT_ERROR) {
			conn_close(c, "client closed while sending its request body");
			return;
		}
		c->from_client += (uint64_t)n;
	}
}

/* H_LINGER: discard what the client still sends until it closes. */
void
http_step_linger(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	char sink[4096];
	ssize_t n;

	/* A shutdown that had to wait (TLS) goes on first. */
	if (h->shut_pending) {
		if (c->client.ops->shutdown_write(&c->client) == CT_AGAIN)
			return;
		h->shut_pending = 0;
	}
	for (;;) {
		n = c->client.ops->read(&c->client, sink, sizeof(sink));
		if (n == CT_AGAIN)
			return;
		if (n <= 0) {
			conn_close(c, "done");
			return;
		}
	}
}

/*
 * mode forward: an HTTP forward proxy.  This file reads the first head
 * and serves CONNECT tunnels (RFC 9110 9.3.6); an absolute-form request
 * ("GET http://host/path") goes to mode http's machinery, which serves
 * it and the requests after it (http_forward.c), and hands a CONNECT
 * that follows them back here (forward_begin()).
 *
 *   HEAD --strict parser--> absolute-form --> http_forward_begin()
 *     |                          |
 *     |                     CONNECT host:port? --no--> 400
 *     |                          |
 *     |        port allowed? (connect_ports) --no--> 403
 *     |        Proxy-Authorization (auth) --none or wrong--> 407
 *     |                          |
 *     |        proxy_connect (resolve, destinations, connector)
 *     |                |                          |
 *     |        ready: 200 --> tunnel        failed: 403 / 502 / 504 --> closed
 *     |
 *     +--garbage, too large, timeout--> 400 / 431 / 408 --> closed
 *
 * The head is read with the parser that mode http uses; the bytes a
 * client sends behind it (a TLS ClientHello, optimistically) wait in the
 * buffer and go to the tunnel.  Every refusal answers with its status,
 * is logged once at info, and closes this connection alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_basic.h"
#include "lib/http_parse.h"
#include "lib/log.h"
#include "shm/stats.h"
#include "worker/auth.h"
#include "worker/conn.h"
#include "worker/forward.h"
#include "worker/http.h"
#include "worker/http_int.h"
#include "worker/proxy.h"
#include "worker/tunnel.h"
#include "worker/worker-t.h"

/* What a handshake's buffer starts with: a CONNECT head fits in far less. */
#define FORWARD_HS_FIRST 4096

enum forward_state {
	FORWARD_HEAD,       /* reading the request head */
	FORWARD_AUTH_WAIT,  /* its password is being checked */
	FORWARD_CONNECT,    /* resolving, checking, connecting */
	FORWARD_REPLY       /* writing the answer; then the tunnel, or the close */
};

/* What a handshake needs, freed once the tunnel starts. */
struct forward_hs {
	size_t inlen;
	size_t head_len;              /* of the parsed head, at the start of in */
	char out[512];
	size_t outlen, outoff;
	uint64_t auth_job;
	char host[256];
	uint16_t port;
	struct http_request req;
	struct http_head_scan scan;   /* how far the checks of the head went */
	size_t cap;                   /* the most in may grow to: max_header_size (431) */
	size_t size;                  /* of in now */
	char in[];
};

struct forward_ctx {
	struct proxy_dest dest;       /* first: the connector's upstream_dest */
	struct forward_hs *hs;
	enum forward_state state;
	unsigned close_after:1;
	unsigned logged:1;            /* the refusal is in the error log already */
	int status;                   /* of the answer, for the log */
};

static const struct conf_listener *
forward_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

static void forward_flush(struct conn *c);

/* Answers status with reason as the body; close: the connection ends after it. */
static void
forward_answer(struct conn *c, int status, const char *reason, const char *fields, int close)
{
	struct forward_ctx *f = c->ctx;
	struct forward_hs *hs = f->hs;
	char client[ADDR_STRLEN];
	int n;

	if (close && !f->logged)
		log_info("forward: %d %s, client: %s, listener: %s%s%s", status, reason,
		    addr_format(&c->peer.sa, client, sizeof(client)), forward_listener(c)->name,
		    f->dest.up.name[0] != '\0' ? ", destination: " : "", f->dest.up.name);
	f->status = status;
	f->state = FORWARD_REPLY;
	f->close_after = close != 0;
	if (status == 200)
		n = snprintf(hs->out, sizeof(hs->out), "HTTP/1.1 200 Connection established\r\n\r\n");
	else
		n = snprintf(hs->out, sizeof(hs->out), "HTTP/1.1 %d %s\r\n%s"
		    "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		    status, http_reason_phrase(status), fields != NULL ? fields : "",
		    strlen(reason) + 1, reason);
	hs->outlen = n > 0 && (size_t)n < sizeof(hs->out) ? (size_t)n : 0;
	hs->outoff = 0;
	if (hs->outlen == 0) {
		conn_close(c, "internal error");
		return;
	}
	forward_flush(c);
}

/* The handshake's state, wiped: it held credentials. */
static void
forward_hs_free(struct forward_ctx *f)
{
	if (f->hs != NULL) {
		explicit_bzero(f->hs, sizeof(*f->hs) + f->hs->size);
		free(f->hs);
		f->hs = NULL;
	}
}

static void
forward_flush(struct conn *c)
{
	struct forward_ctx *f = c->ctx;
	struct forward_hs *hs = f->hs;

	if (proxy_reply_write(c, hs->out, &hs->outoff, hs->outlen) != CT_OK)
		return;
	hs->outlen = hs->outoff = 0;
	if (f->close_after) {
		conn_close(c, "refused");
		return;
	}
	/* 200: what the client sent behind the head goes first. */
	if (proxy_tunnel_prepare(c, &f->dest, hs->in + hs->head_len, hs->inlen - hs->head_len)
	    != CT_OK)
		return;
	forward_hs_free(f);
	tunnel_start(c);
}

int
forward_authority(struct http_slice t, char *host, size_t cap, uint16_t *port, uint16_t dflt)
{
	const char *colon, *end = t.p + t.len, *h = t.p, *he;
	unsigned long n = dflt;
	const char *p;

	if (t.len > 0 && t.p[0] == '[') {
		if ((he = memchr(t.p, ']', t.len)) == NULL || (he + 1 < end && he[1] != ':'))
			return CT_ERROR;
		h = t.p + 1;
		colon = he + 1 < end ? he + 1 : NULL;
	} else {
		if ((colon = memrchr(t.p, ':', t.len)) != NULL && memchr(t.p, ':', t.len) != colon)
			return CT_ERROR;
		he = colon != NULL ? colon : end;
	}
	if (he == h || (size_t)(he - h) >= cap ||
	    (colon != NULL && (colon + 1 == end || end - colon > 6)))
		return CT_ERROR;
	if (colon != NULL)
		for (n = 0, p = colon + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return CT_ERROR;
			n = n * 10 + (unsigned long)(*p - '0');
		}
	if (n == 0 || n > 65535)
		return CT_ERROR;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	*port = (uint16_t)n;
	return CT_OK;
}

static void
forward_go(struct conn *c)
{
	struct forward_ctx *f = c->ctx;
	struct forward_hs *hs = f->hs;
	const struct conf_proxy *p = &forward_listener(c)->proxy;
	char why[96];
	size_t i;

	/* After the credentials: a client that has none learns nothing of the ports. */
	for (i = 0; i < p->nconnect_ports && p->connect_ports[i] != hs->port; i++)
		;
	if (i == p->nconnect_ports) {
		snprintf(why, sizeof(why), "CONNECT to port %u is not allowed", hs->port);
		snprintf(f->dest.up.name, sizeof(f->dest.up.name), "%s:%u", hs->host, hs->port);
		proxy_count(c, SHM_PROXY_RULES);
		forward_answer(c, 403, why, NULL, 1);
		return;
	}
	f->state = FORWARD_CONNECT;
	ev_timer_stop(c->w->loop, &c->timer);
	if (ev_io_want(c->w->loop, &c->client.io, 0) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	proxy_connect(c, &f->dest, f->hs->host, f->hs->port);
}

static void
forward_auth_deny(struct conn *c, const struct conf_auth *a, const char *why, int failure)
{
	char fields[CONF_AUTH_REALM_MAX + 64];

	proxy_count(c, SHM_PROXY_AUTH);
	if (failure)
		auth_failed(c->w, &c->peer);
	snprintf(fields, sizeof(fields), "Proxy-Authenticate: Basic realm=\"%s\", "
	    "charset=\"UTF-8\"\r\n", a->realm);
	forward_answer(c, 407, why, fields, 1);
}

static void
forward_auth_done(struct conn *c, uint64_t id, int ok)
{
	struct forward_ctx *f = c->ctx;

	if (c->state != CONN_OPEN || c->mode != &forward_mode || f == NULL || f->hs == NULL ||
	    f->state != FORWARD_AUTH_WAIT || f->hs->auth_job != id)
		return;
	if (!ok) {
		forward_auth_deny(c, forward_listener(c)->auth, "wrong password", 1);
		return;
	}
	forward_go(c);
}

/* Proxy-Authorization against the listener's file: CT_OK, CT_AGAIN (checking) or CT_DONE (answered). */
static int
forward_auth(struct conn *c)
{
	struct forward_ctx *f = c->ctx;
	const struct conf_auth *a = forward_listener(c)->auth;
	const struct http_header *h;
	char buf[HTTP_BASIC_BUF];
	struct http_basic cred;
	const char *why = NULL;
	int rc;

	if (a == NULL || a->off)
		return CT_OK;
	if (auth_throttled(c->w, &c->peer, a->max_failures)) {
		proxy_count(c, SHM_PROXY_AUTH);
		forward_answer(c, 429, "too many failed authentications from the client", NULL, 1);
		return CT_DONE;
	}
	if ((h = http_header_find_id(&f->hs->req.h, HTTP_F_PROXY_AUTHORIZATION)) == NULL) {
		forward_auth_deny(c, a, "no credentials", 0);
		return CT_DONE;
	}
	rc = http_basic_parse(h->value.p, h->value.len, buf, sizeof(buf), &cred, &why);
	if (rc != CT_OK) {
		forward_auth_deny(c, a, rc == CT_DECLINED ? "credentials of another scheme than "
		    "Basic" : why, rc != CT_DECLINED);
		return CT_DONE;
	}
	rc = auth_credentials_check(c->w, c, a, cred.user, cred.user_len, cred.pass,
	    cred.pass_len, forward_auth_done, &f->hs->auth_job, &why);
	explicit_bzero(buf, sizeof(buf));
	switch (rc) {
	case CT_OK:
		return CT_OK;
	case CT_AGAIN:
		f->state = FORWARD_AUTH_WAIT;
		if (ev_io_want(c->w->loop, &c->client.io, 0) != CT_OK) {
			conn_close(c, "internal error");
			return CT_DONE;
		}
		return CT_AGAIN;
	case CT_DECLINED:
		forward_auth_deny(c, a, "unknown user", 1);
		return CT_DONE;
	default:
		proxy_count(c, SHM_PROXY_AUTH);
		forward_answer(c, 503, why, NULL, 1);
		return CT_DONE;
	}
}

/* A whole head: a CONNECT to an allowed port, authenticated, goes on. */
static void
forward_head(struct conn *c)
{
	struct forward_ctx *f = c->ctx;
	struct forward_hs *hs = f->hs;

	hs->head_len = hs->req.h.head_len;
	if (!hs->req.is_connect && hs->req.form == HTTP_TARGET_ABSOLUTE) {
		/* Mode http's machinery takes the connection, the bytes read with it. */
		c->ctx = NULL;
		http_forward_begin(c, hs->in, hs->inlen);
		forward_hs_free(f);
		free(f);
		return;
	}
	if (!hs->req.is_connect) {
		proxy_count(c, SHM_PROXY_PROTOCOL);
		forward_answer(c, 400, FORWARD_TARGET_WHY, NULL, 1);
		return;
	}
	if (forward_authority(hs->req.target, hs->host, sizeof(hs->host), &hs->port, 0) != CT_OK) {
		proxy_count(c, SHM_PROXY_PROTOCOL);
		forward_answer(c, 400, "CONNECT needs host:port", NULL, 1);
		return;
	}
	if (forward_auth(c) == CT_OK)
		forward_go(c);
}

/* The bytes in hs->in: a whole head goes on, a part waits for more. */
static void
forward_parse(struct conn *c)
{
	struct forward_ctx *f = c->ctx;
	struct forward_hs *hs = f->hs;
	struct http_limits lim;
	int rc;

	http_limits_default(&lim);
	lim.max_head = hs->cap;
	/* Only the lines that came since the last read: a head in pieces costs O(len). */
	rc = http_parse_request_resume(hs->in, hs->inlen, &lim, &hs->req, &hs->scan);
	if (rc == CT_AGAIN) {
		if (hs->inlen == hs->cap) {
			proxy_count(c, SHM_PROXY_PROTOCOL);
			forward_answer(c, 431, "request head larger than max_header_size", NULL, 1);
		}
		return;
	}
	if (rc != CT_OK) {
		proxy_count(c, SHM_PROXY_PROTOCOL);
		forward_answer(c, hs->req.h.status != 0 ? hs->req.h.status : 400,
		    hs->req.h.error != NULL ? hs->req.h.error : "malformed request", NULL, 1);
		return;
	}
	forward_head(c);
}

static void
forward_read(struct conn *c)
{
	struct forward_ctx *f = c->ctx;
	struct forward_hs *hs = f->hs, *bigger;
	size_t size;
	ssize_t n;

	/*
	 * in grows as a head needs, up to max_header_size: a client that only
	 * connects holds a few KiB.  A copy rather than realloc(), so that
	 * credentials are wiped from the block left behind.
	 */
	if (hs->inlen == hs->size && hs->size < hs->cap) {
		size = CT_MIN(hs->size * 2, hs->cap);
		if ((bigger = malloc(sizeof(*hs) + size)) == NULL) {
			conn_close(c, "out of memory");
			return;
		}
		memcpy(bigger, hs, sizeof(*hs) + hs->inlen);
		bigger->size = size;
		explicit_bzero(hs, sizeof(*hs) + hs->size);
		free(hs);
		f->hs = hs = bigger;
	}
	n = c->client.ops->read(&c->client, hs->in + hs->inlen, hs->size - hs->inlen);
	if (n == CT_AGAIN)
		return;
	if (n == CT_DONE || n == CT_ERROR) {
		conn_close(c, n == CT_DONE ? "done" : "client reset");
		return;
	}
	hs->inlen += (size_t)n;
	c->from_client += (uint64_t)n;
	forward_parse(c);
}

static void
forward_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;
	struct forward_ctx *f = c->ctx;

	(void)loop;
	if (io != &c->client.io) {
		/* The server's, between the connect and the tunnel: kept for the tunnel. */
		stream_event(&c->server, events);
		return;
	}
	stream_event(&c->client, events);
	if (f->hs->outlen > 0) {
		forward_flush(c);
		return;
	}
	/* A TLS client's records may wait inside the library, which no event announces. */
	while (c->state == CONN_OPEN && c->ctx == f && f->state == FORWARD_HEAD) {
		forward_read(c);
		if (c->state != CONN_OPEN || c->ctx != f || !stream_buffered(&c->client))
			break;
	}
}

static void
forward_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;

	(void)loop;
	if (((struct forward_ctx *)c->ctx)->state == FORWARD_REPLY)
		conn_close(c, "send timeout");
	else {
		proxy_count(c, SHM_PROXY_TIMEOUT);
		forward_answer(c, 408, "no whole request within the handshake timeout", NULL, 1);
	}
}

/* The handshake begins: CT_ERROR when c was closed. */
static int
forward_hs_start(struct conn *c, size_t need)
{
	size_t cap = forward_listener(c)->max_header_size;
	size_t size = CT_MIN(CT_MAX(need, (size_t)FORWARD_HS_FIRST), cap);
	struct forward_ctx *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->hs = calloc(1, sizeof(*f->hs) + size)) == NULL) {
		free(f);
		conn_close(c, "out of memory");
		return CT_ERROR;
	}
	f->hs->cap = cap;
	f->hs->size = size;
	c->ctx = f;
	f->state = FORWARD_HEAD;
	if (ev_timer_start(c->w->loop, &c->timer, forward_listener(c)->handshake_timeout_ms) !=
	    CT_OK || ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK) {
		conn_close(c, "internal error");
		return CT_ERROR;
	}
	return CT_OK;
}

static void
forward_start(struct conn *c)
{
	(void)forward_hs_start(c, 0);
}

void
forward_begin(struct conn *c, const void *bytes, size_t len)
{
	struct forward_hs *hs;

	c->mode = &forward_mode;
	c->client.io.cb = forward_io;
	c->timer.cb = forward_timer;
	if (forward_hs_start(c, len) != CT_OK)
		return;
	hs = ((struct forward_ctx *)c->ctx)->hs;
	if (len > hs->cap) {
		forward_answer(c, 431, "request head larger than max_header_size", NULL, 1);
		return;
	}
	memcpy(hs->in, bytes, len);
	hs->inlen = len;
	forward_parse(c);
}

static void
forward_free(struct conn *c)
{
	struct forward_ctx *f = c->ctx;

	proxy_cancel(&f->dest);
	forward_hs_free(f);
	free(f);
	c->ctx = NULL;
}

static void
forward_upstream_ready(struct conn *c)
{
	proxy_count(c, SHM_PROXY_GRANTED);
	forward_answer(c, 200, "", NULL, 0);
}

static void
forward_upstream_give_up(struct conn *c, int status, const char *why)
{
	struct forward_ctx *f = c->ctx;
	char reason[UPSTREAM_DEST_NAME + 64];

	(void)why;
	proxy_count_fail(c, &f->dest);
	/* The error log has the details already (proxy.c, upstream.c). */
	f->logged = 1;
	forward_answer(c, f->dest.fail == PROXY_FAIL_RULES ? 403 : status,
	    proxy_client_reason(&f->dest, reason, sizeof(reason)), NULL, 1);
}

static struct upstream_dest *
forward_upstream_dest(const struct conn *c)
{
	struct forward_ctx *f = c->ctx;

	return f != NULL ? &f->dest.up : NULL;
}

static void
forward_describe(const struct conn *c, char *buf, size_t len)
{
	proxy_describe(&((const struct forward_ctx *)c->ctx)->dest, buf, len);
}

const struct conn_mode forward_mode = {
	.name = "forward",
	.resolves = 1,
	.start = forward_start,
	.free = forward_free,
	.describe = forward_describe,
	.io = forward_io,
	.timer = forward_timer,
	.connect_events = STREAM_READ_EVENTS | EPOLLOUT | EPOLLET,
	.upstream_ready = forward_upstream_ready,
	.upstream_give_up = forward_upstream_give_up,
	.upstream_dest = forward_upstream_dest,
};

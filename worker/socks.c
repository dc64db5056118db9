/*
 * mode socks: SOCKS 4, 4a and 5 on one port, told apart by the first
 * byte (lib/socks.h parses every message).
 *
 *   HELLO --4/4a request--------------------------------------+
 *     |                                                        |
 *     +--5 greeting--> METHOD --user/pass--> AUTH --(verify)--+--> REQUEST
 *                        |                    |                   |      |
 *                     refused (0xFF)      failure (0x01)      CONNECT  UDP ASSOCIATE
 *                                                                 |      |
 *     proxy_connect (resolve, destinations, connector) <---------+   socks_udp_open
 *        |                                   |                           |
 *     ready: REPLY granted --> tunnel     failed: REPLY with        REPLY with BND
 *                                         the code --> closed       --> UDP (socks_udp.c)
 *
 * Only what a message needs is read: bytes a client sends behind its
 * request (optimistic data) wait in the buffer and go to the tunnel.
 * Every refusal sends the protocol's exact code, is logged once at info,
 * and closes this connection alone.  UDP ASSOCIATE is served on a
 * listener with "udp: true", else answered "command not supported", as
 * BIND always is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "lib/socks.h"
#include "worker/approval.h"
#include "worker/auth.h"
#include "worker/conn.h"
#include "worker/proxy.h"
#include "worker/socks.h"
#include "worker/socks_udp.h"
#include "worker/tunnel.h"
#include "worker/worker-t.h"

enum socks_state {
	SOCKS_HELLO,        /* the first message: a 4/4a request or a 5 greeting */
	SOCKS_AUTH,         /* RFC 1929 request */
	SOCKS_AUTH_WAIT,    /* its password is being checked */
	SOCKS_REQUEST,      /* the SOCKS 5 request */
	SOCKS_CONNECT,      /* resolving, checking, connecting */
	SOCKS_REPLY,        /* writing a reply; then the tunnel, UDP, or the close */
	SOCKS_UDP           /* a UDP association: datagrams, the control connection watched */
};

/* What a handshake needs, freed once the tunnel starts. */
struct socks_hs {
	uint8_t in[SOCKS_HELLO_MAX];
	size_t inlen;
	uint8_t out[SOCKS5_REPLY_MAX];
	size_t outlen, outoff;
	uint64_t auth_job;
	char user[SOCKS_CRED_MAX + 1];
};

struct socks_ctx {
	struct proxy_dest dest;       /* first: the connector's upstream_dest */
	struct socks_hs *hs;
	struct socks_udp *udp;        /* UDP ASSOCIATE: the association, or NULL */
	enum socks_state state;
	uint8_t version;              /* SOCKS_V4 or SOCKS_V5, once known */
	unsigned close_after:1;       /* the reply is a refusal */
	uint16_t assoc_port;          /* UDP ASSOCIATE held for approval: DST.PORT */
};

static const struct conf_listener *
socks_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

static const struct conf_auth *
socks_auth(const struct conn *c)
{
	const struct conf_auth *a = socks_listener(c)->auth;

	return a != NULL && !a->off ? a : NULL;
}

/*
 * The refusal of a handshake: logged once, at info, with the client,
 * and counted as r (SHM_PROXY_RESULTS: not counted, nothing was asked).
 */
static void
socks_refused(struct conn *c, enum shm_proxy_result r, const char *why)
{
	char client[ADDR_STRLEN];

	if (r != SHM_PROXY_RESULTS)
		proxy_count(c, r);
	log_info("socks: %s, client: %s, listener: %s", why,
	    addr_format(&c->peer.sa, client, sizeof(client)), socks_listener(c)->name);
}

static void socks_flush(struct conn *c);

/* The handshake is over: what it held goes, its credentials wiped. */
static void
socks_hs_free(struct socks_ctx *s)
{
	if (s->hs == NULL)
		return;
	explicit_bzero(s->hs, sizeof(*s->hs));
	free(s->hs);
	s->hs = NULL;
}

/* Queues a reply; close: the connection ends once it is written. */
static void
socks_send(struct conn *c, const uint8_t *p, size_t len, int close)
{
	struct socks_ctx *s = c->ctx;

	memcpy(s->hs->out, p, len);
	s->hs->outlen = len;
	s->hs->outoff = 0;
	s->close_after = close != 0;
	socks_flush(c);
}

/* A SOCKS 5 reply with rep, or the SOCKS 4 one it maps to. */
static void
socks_reply(struct conn *c, uint8_t rep, const struct sockaddr *bnd)
{
	struct socks_ctx *s = c->ctx;
	uint8_t out[SOCKS5_REPLY_MAX];
	size_t n;

	s->state = SOCKS_REPLY;
	n = s->version == SOCKS_V4 ? socks4_reply_build(out, socks4_reply_from_socks5(rep), bnd) :
	    socks5_reply_build(out, rep, bnd);
	socks_send(c, out, n, rep != SOCKS5_REP_SUCCEEDED);
}

static void
socks_flush(struct conn *c)
{
	struct socks_ctx *s = c->ctx;
	struct socks_hs *hs = s->hs;

	if (proxy_reply_write(c, hs->out, &hs->outoff, hs->outlen) != CT_OK)
		return;
	hs->outlen = hs->outoff = 0;
	if (s->close_after) {
		conn_close(c, "refused");
		return;
	}
	if (s->state != SOCKS_REPLY) {
		if (ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK)
			conn_close(c, "internal error");
		return;
	}
	if (s->udp != NULL) {
		/* Bytes behind an association's request mean nothing: dropped. */
		socks_hs_free(s);
		s->state = SOCKS_UDP;
		socks_udp_start(c, s->udp);
		return;
	}
	/* Granted: what the client sent behind its request goes first. */
	if (proxy_tunnel_prepare(c, &s->dest, hs->in, hs->inlen) != CT_OK)
		return;
	socks_hs_free(s);
	tunnel_start(c);
}

/* Drops the first n bytes of the input: the message they were is done. */
static void
socks_consume(struct socks_hs *hs, size_t n)
{
	memmove(hs->in, hs->in + n, hs->inlen - n);
	hs->inlen -= n;
}

/* Where a SOCKS 4 or 5 client asked to go: resolve, check, connect. */
static void
socks_connect(struct conn *c, const struct socks_addr *dst)
{
	struct socks_ctx *s = c->ctx;
	char host[SOCKS_NAME_MAX + 1];

	if (dst->atyp == SOCKS5_ATYP_NAME)
		snprintf(host, sizeof(host), "%s", dst->name);
	else if (inet_ntop(dst->atyp == SOCKS5_ATYP_IPV6 ? AF_INET6 : AF_INET, dst->ip, host,
	    sizeof(host)) == NULL)
		snprintf(host, sizeof(host), "?");
	s->state = SOCKS_CONNECT;
	/* Nothing more is read until the reply: the client's bytes wait in the socket. */
	ev_timer_stop(c->w->loop, &c->timer);
	if (ev_io_want(c->w->loop, &c->client.io, 0) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	proxy_connect(c, &s->dest, host, dst->port);
}

static void
socks_hello(struct conn *c)
{
	struct socks_ctx *s = c->ctx;
	struct socks_hs *hs = s->hs;
	const struct conf_listener *l = socks_listener(c);
	const struct conf_auth *a = socks_auth(c);
	struct socks_hello h;
	uint8_t out[SOCKS5_REPLY_MAX], method;
	char why[128];

	switch (socks_hello_parse(hs->in, hs->inlen, &h)) {
	case CT_AGAIN:
		return;
	case CT_OK:
		break;
	default:
		socks_refused(c, SHM_PROXY_PROTOCOL, h.error);
		s->state = SOCKS_REPLY;
		s->version = h.reply == SOCKS_REPLY_NONE ? 0 : hs->in[0];
		if (h.reply == SOCKS_REPLY_NONE) {
			conn_close(c, "not SOCKS");
		} else if (hs->in[0] == SOCKS_V4) {
			socks_send(c, out, socks4_reply_build(out, (uint8_t)h.reply, NULL), 1);
		} else {
			socks_send(c, out, socks5_method_reply_build(out, (uint8_t)h.reply), 1);
		}
		return;
	}
	s->version = h.version;
	socks_consume(hs, h.consumed);
	if (!(l->proxy.socks_versions & (h.version == SOCKS_V4 ? CONF_SOCKS_V4 : CONF_SOCKS_V5))) {
		snprintf(why, sizeof(why), "SOCKS %u is not enabled on this listener", h.version);
		socks_refused(c, SHM_PROXY_PROTOCOL, why);
		s->state = SOCKS_REPLY;
		if (h.version == SOCKS_V4)
			socks_send(c, out, socks4_reply_build(out, SOCKS4_REP_REJECTED, NULL), 1);
		else
			socks_send(c, out, socks5_method_reply_build(out, SOCKS5_METHOD_REFUSED), 1);
		return;
	}
	if (h.version == SOCKS_V4) {
		if (a != NULL) {
			socks_refused(c, SHM_PROXY_AUTH,
			    "SOCKS 4 has no password, and the listener asks for one");
			socks_reply(c, SOCKS5_REP_NOT_ALLOWED, NULL);
		} else if (h.cmd != SOCKS_CMD_CONNECT) {
			socks_refused(c, SHM_PROXY_PROTOCOL, "SOCKS 4 BIND is not supported");
			socks_reply(c, SOCKS5_REP_CMD_UNSUPPORTED, NULL);
		} else {
			socks_connect(c, &h.dst);
		}
		return;
	}
	method = socks5_method_select(h.methods, h.nmethods,
	    a != NULL ? SOCKS5_ALLOW_USERPASS : SOCKS5_ALLOW_NONE);
	if (method == SOCKS5_METHOD_REFUSED)
		socks_refused(c, a != NULL ? SHM_PROXY_AUTH : SHM_PROXY_PROTOCOL,
		    a != NULL ? "the client offers no username/password method" :
		    "the client offers no method without authentication");
	s->state = method == SOCKS5_METHOD_USERPASS ? SOCKS_AUTH : method == SOCKS5_METHOD_NONE ?
	    SOCKS_REQUEST : SOCKS_REPLY;
	socks_send(c, out, socks5_method_reply_build(out, method), method == SOCKS5_METHOD_REFUSED);
}

static void socks_auth_done(struct conn *c, uint64_t id, int ok);
static void socks_read(struct conn *c);

/*
 * A reply went out later than its message came (the verifier checked
 * the password, or the client took its time to read): what the client
 * sent behind that message is the next one, and since it was read
 * already no new event comes for it.
 */
static void
socks_resume(struct conn *c)
{
	struct socks_ctx *s;

	if (c->state != CONN_OPEN || c->mode != &socks_mode || (s = c->ctx) == NULL ||
	    s->hs == NULL || s->hs->outlen > 0 || s->hs->inlen == 0)
		return;
	if (s->state == SOCKS_AUTH || s->state == SOCKS_REQUEST)
		socks_read(c);
}

/* The end of the RFC 1929 exchange: status 0 and the request next, or 1 and the close. */
static void
socks_auth_answer(struct conn *c, int ok)
{
	struct socks_ctx *s = c->ctx;
	uint8_t out[SOCKS5_AUTH_REPLY_LEN];
	char why[SOCKS_CRED_MAX + 64];

	if (!ok) {
		auth_failed(c->w, &c->peer);
		snprintf(why, sizeof(why), "wrong password for user \"%s\"", s->hs->user);
		socks_refused(c, SHM_PROXY_AUTH, why);
	}
	s->state = ok ? SOCKS_REQUEST : SOCKS_REPLY;
	socks_send(c, out, socks5_auth_reply_build(out, ok ? SOCKS5_AUTH_SUCCESS :
	    SOCKS5_AUTH_FAILURE), !ok);
}

static void
socks_auth_step(struct conn *c)
{
	struct socks_ctx *s = c->ctx;
	struct socks_hs *hs = s->hs;
	const struct conf_auth *a = socks_auth(c);
	struct socks5_auth cred;
	uint8_t out[SOCKS5_AUTH_REPLY_LEN];
	const char *why = NULL;
	int rc;

	rc = socks5_auth_parse(hs->in, hs->inlen, &cred);
	if (rc == CT_AGAIN)
		return;
	if (rc != CT_OK || auth_throttled(c->w, &c->peer, a->max_failures)) {
		if (rc == CT_OK)
			explicit_bzero(&cred, sizeof(cred));
		else
			auth_failed(c->w, &c->peer);
		socks_refused(c, SHM_PROXY_AUTH, rc != CT_OK ? cred.error :
		    "too many failed authentications from the client");
		s->state = SOCKS_REPLY;
		socks_send(c, out, socks5_auth_reply_build(out, SOCKS5_AUTH_FAILURE), 1);
		return;
	}
	socks_consume(hs, cred.consumed);
	memcpy(hs->user, cred.user, cred.user_len + 1);
	rc = auth_credentials_check(c->w, c, a, cred.user, cred.user_len, cred.pass,
	    cred.pass_len, socks_auth_done, &hs->auth_job, &why);
	explicit_bzero(&cred, sizeof(cred));
	switch (rc) {
	case CT_OK:
		socks_auth_answer(c, 1);
		break;
	case CT_AGAIN:
		s->state = SOCKS_AUTH_WAIT;
		if (ev_io_want(c->w->loop, &c->client.io, 0) != CT_OK)
			conn_close(c, "internal error");
		break;
	case CT_DECLINED:
		socks_auth_answer(c, 0);
		break;
	default:
		socks_refused(c, SHM_PROXY_AUTH, why);
		s->state = SOCKS_REPLY;
		socks_send(c, out, socks5_auth_reply_build(out, SOCKS5_AUTH_FAILURE), 1);
		break;
	}
}

/* The verifier's answer: the handshake, if it still waits for this check, goes on. */
static void
socks_auth_done(struct conn *c, uint64_t id, int ok)
{
	struct socks_ctx *s = c->ctx;

	/* The slot may have closed, or serve another connection meanwhile. */
	if (c->state != CONN_OPEN || c->mode != &socks_mode || s == NULL || s->hs == NULL ||
	    s->state != SOCKS_AUTH_WAIT || s->hs->auth_job != id)
		return;
	socks_auth_answer(c, ok);
	socks_resume(c);
}

/* UDP ASSOCIATE let through: the association's sockets, and the reply that names the client's. */
static void
socks_associate_open(struct conn *c)
{
	struct socks_ctx *s = c->ctx;
	struct sockaddr_storage bnd;

	/* Only the port of DST counts: datagrams must come from the client's address. */
	if ((s->udp = socks_udp_open(c, s->assoc_port, &bnd)) == NULL) {
		socks_reply(c, SOCKS5_REP_FAILURE, NULL);
		return;
	}
	proxy_count(c, SHM_PROXY_GRANTED);
	socks_reply(c, SOCKS5_REP_SUCCEEDED, (const struct sockaddr *)&bnd);
}

static void
socks_associate_approved(struct conn *c, int allowed)
{
	if (allowed) {
		socks_associate_open(c);
		return;
	}
	socks_refused(c, SHM_PROXY_APPROVAL, "UDP ASSOCIATE refused by the listener's approval");
	socks_reply(c, SOCKS5_REP_NOT_ALLOWED, NULL);
}

/*
 * UDP ASSOCIATE.  Its datagrams go wherever each names, too often to
 * hold any: a listener's approval decides the association, by the
 * client's decisions for every destination.
 */
static void
socks_associate(struct conn *c, const struct socks5_request *r)
{
	struct socks_ctx *s = c->ctx;

	if (!socks_listener(c)->proxy.socks_udp) {
		socks_refused(c, SHM_PROXY_PROTOCOL,
		    "SOCKS 5 UDP ASSOCIATE is not enabled on this listener");
		socks_reply(c, SOCKS5_REP_CMD_UNSUPPORTED, NULL);
		return;
	}
	s->assoc_port = r->dst.port;
	if (socks_listener(c)->approval == NULL) {
		socks_associate_open(c);
		return;
	}
	memset(&s->dest, 0, sizeof(s->dest));
	s->dest.approved = socks_associate_approved;
	s->state = SOCKS_CONNECT;
	ev_timer_stop(c->w->loop, &c->timer);
	if (ev_io_want(c->w->loop, &c->client.io, 0) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	conn_rec_dest(c, "UDP ASSOCIATE", SHM_CONN_DEST);
	switch (approval_dest(c)) {
	case CT_OK:
		socks_associate_open(c);
		break;
	case CT_DECLINED:
		socks_associate_approved(c, 0);
		break;
	default:
		break;      /* held, or closed */
	}
}

static void
socks_request(struct conn *c)
{
	struct socks_ctx *s = c->ctx;
	struct socks5_request r;
	char why[96];

	switch (socks5_request_parse(s->hs->in, s->hs->inlen, &r)) {
	case CT_AGAIN:
		return;
	case CT_OK:
		break;
	default:
		socks_refused(c, SHM_PROXY_PROTOCOL, r.error);
		socks_reply(c, r.reply, NULL);
		return;
	}
	socks_consume(s->hs, r.consumed);
	if (r.cmd == SOCKS_CMD_UDP) {
		socks_associate(c, &r);
		return;
	}
	if (r.cmd != SOCKS_CMD_CONNECT) {
		snprintf(why, sizeof(why), "SOCKS 5 %s is not supported",
		    r.cmd == SOCKS_CMD_BIND ? "BIND" : "command");
		socks_refused(c, SHM_PROXY_PROTOCOL, why);
		socks_reply(c, SOCKS5_REP_CMD_UNSUPPORTED, NULL);
		return;
	}
	socks_connect(c, &r.dst);
}

/* Reads what the state's message needs, and runs the state on it. */
static void
socks_read(struct conn *c)
{
	struct socks_ctx *s = c->ctx;
	struct socks_hs *hs = s->hs;
	enum socks_state before;
	ssize_t n;

	do {
		before = s->state;
		if (hs->inlen < sizeof(hs->in)) {
			n = c->client.ops->read(&c->client, hs->in + hs->inlen, sizeof(hs->in) - hs->inlen);
			if (n == CT_DONE || n == CT_ERROR) {
				socks_refused(c, SHM_PROXY_RESULTS, n == CT_DONE ?
				    "client closed during the handshake" :
				    "client reset during the handshake");
				conn_close(c, n == CT_DONE ? "done" : "client reset");
				return;
			}
			if (n > 0) {
				hs->inlen += (size_t)n;
				c->from_client += (uint64_t)n;
			}
		}
		switch (s->state) {
		case SOCKS_HELLO:   socks_hello(c); break;
		case SOCKS_AUTH:    socks_auth_step(c); break;
		case SOCKS_REQUEST: socks_request(c); break;
		default: return;
		}
		/*
		 * A message may have come with the next one: run that state on
		 * what is left, unless the handshake is over (a UDP association's
		 * reply, written at once, frees it).
		 */
	} while (c->state == CONN_OPEN && c->ctx == s && s->hs == hs && s->state != before &&
	    hs->outlen == 0 && hs->inlen > 0);
}

static void
socks_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;
	struct socks_ctx *s = c->ctx;

	(void)loop;
	if (io != &c->client.io) {
		/* The server's, between the connect and the tunnel: kept for the tunnel. */
		stream_event(&c->server, events);
		return;
	}
	stream_event(&c->client, events);
	if (s->state == SOCKS_UDP) {
		socks_udp_control(c, s->udp);
		return;
	}
	if (s->hs->outlen > 0) {
		socks_flush(c);
		socks_resume(c);
		return;
	}
	/*
	 * Records a TLS client sent in one segment wait inside the library,
	 * which no event announces: read until it holds none.
	 */
	while (c->state == CONN_OPEN && c->ctx == s && s->hs != NULL && s->hs->outlen == 0 &&
	    (s->state == SOCKS_HELLO || s->state == SOCKS_AUTH || s->state == SOCKS_REQUEST)) {
		socks_read(c);
		if (c->state != CONN_OPEN || c->ctx != s || !stream_buffered(&c->client))
			break;
	}
}

static void
socks_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	struct socks_ctx *s = c->ctx;

	(void)loop;
	if (s->state == SOCKS_UDP) {
		socks_udp_timer(c, s->udp);
		return;
	}
	/* A reply that waits for the client was counted when it was decided. */
	socks_refused(c, s->state == SOCKS_REPLY ? SHM_PROXY_RESULTS : SHM_PROXY_TIMEOUT,
	    s->state == SOCKS_REPLY ? "the client does not read its reply" :
	    "no whole request within the handshake timeout");
	conn_close(c, "handshake timeout");
}

static void
socks_start(struct conn *c)
{
	struct socks_ctx *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->hs = calloc(1, sizeof(*s->hs))) == NULL) {
		free(s);
		conn_close(c, "out of memory");
		return;
	}
	c->ctx = s;
	s->state = SOCKS_HELLO;
	if (ev_timer_start(c->w->loop, &c->timer, socks_listener(c)->handshake_timeout_ms) != CT_OK ||
	    ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK)
		conn_close(c, "internal error");
}

static void
socks_free(struct conn *c)
{
	struct socks_ctx *s = c->ctx;

	proxy_cancel(&s->dest);
	socks_udp_free(c, s->udp);
	socks_hs_free(s);
	free(s);
	c->ctx = NULL;
}

static void
socks_upstream_ready(struct conn *c)
{
	struct socks_ctx *s = c->ctx;
	struct sockaddr_storage bnd;
	socklen_t len = sizeof(bnd);

	/*
	 * BND: the address the destination sees the connection come from,
	 * as RFC 1928 6 says: cuttle's own, or through a via the last
	 * proxy's, when it said (0.0.0.0:0 when it did not).
	 */
	memset(&bnd, 0, sizeof(bnd));
	if (s->dest.up.via)
		memcpy(&bnd, &s->dest.up.bnd, sizeof(s->dest.up.bnd));
	else if (getsockname(c->server.fd, (struct sockaddr *)&bnd, &len) != 0)
		memset(&bnd, 0, sizeof(bnd));
	proxy_count(c, SHM_PROXY_GRANTED);
	socks_reply(c, SOCKS5_REP_SUCCEEDED, bnd.ss_family != 0 ? (const struct sockaddr *)&bnd :
	    NULL);
}

static void
socks_upstream_give_up(struct conn *c, int status, const char *why)
{
	struct socks_ctx *s = c->ctx;
	uint8_t rep;

	(void)status;
	(void)why;
	proxy_count_fail(c, &s->dest);
	switch (s->dest.fail) {
	case PROXY_FAIL_RULES:
	case PROXY_FAIL_APPROVAL: rep = SOCKS5_REP_NOT_ALLOWED; break;
	case PROXY_FAIL_NAME:
	case PROXY_FAIL_RESOLVE: rep = SOCKS5_REP_HOST_UNREACHABLE; break;
	case PROXY_FAIL_CONNECT: rep = socks5_reply_from_errno(s->dest.up.err); break;
	default:                 rep = SOCKS5_REP_FAILURE; break;
	}
	socks_reply(c, rep, NULL);
}

static struct upstream_dest *
socks_upstream_dest(const struct conn *c)
{
	struct socks_ctx *s = c->ctx;

	return s != NULL ? &s->dest.up : NULL;
}

static void
socks_describe(const struct conn *c, char *buf, size_t len)
{
	const struct socks_ctx *s = c->ctx;

	if (s->udp != NULL)
		socks_udp_describe(s->udp, buf, len);
	else
		proxy_describe(&s->dest, buf, len);
}

const struct conn_mode socks_mode = {
	.name = "socks",
	.resolves = 1,
	.start = socks_start,
	.free = socks_free,
	.exit = socks_udp_exit,
	.describe = socks_describe,
	.log_fields = socks_udp_log_fields,
	.io = socks_io,
	.timer = socks_timer,
	/* As mode tcp: the tunnel takes the server socket as the connector registered it. */
	.connect_events = STREAM_READ_EVENTS | EPOLLOUT | EPOLLET,
	.upstream_ready = socks_upstream_ready,
	.upstream_give_up = socks_upstream_give_up,
	.upstream_dest = socks_upstream_dest,
};

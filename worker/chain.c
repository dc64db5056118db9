/*
 * Chains of upstream proxies (chain.h): the handshakes of the hops of a
 * "via" list, on a stream connected to the first hop.  Each hop is
 * asked for the next one, the last for the target (a server, a client's
 * destination, or a UDP association), each inside the tunnel the one
 * before has opened:
 *
 *   socks5:  greeting -> method -> [RFC 1929 user/pass -> status] -> request -> reply
 *   socks4:  CONNECT (4a with a name) -> reply
 *   http:    CONNECT host:port [Proxy-Authorization] -> 2xx head
 *
 * A reply is looked at in place (peeked) and only its own bytes are
 * consumed, so that what the target sends at once behind the last one
 * (a banner) stays in the socket for the mode.  Messages are a few
 * hundred bytes into a socket that holds nothing yet: a write that
 * takes less is a failure, not a wait.  The owner's timer bounds the
 * whole chain (a connection's connect timer).  A hop that fails or
 * refuses ends the chain with its position and reason, and an errno
 * that says the same (a SOCKS "connection refused" is ECONNREFUSED), so
 * that a socks listener answers its own client with the same code; for
 * a connection that ends in upstream_fail().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/ct.h"
#include "lib/http_parse.h"
#include "lib/proxy_url.h"
#include "lib/socks.h"
#include "worker/chain.h"
#include "worker/conn.h"
#include "worker/upstream.h"
#include "worker/worker-t.h"

enum chain_step {
	CHAIN_HELLO,        /* the hop's first message is to be written */
	CHAIN_METHOD,       /* socks5: the method reply */
	CHAIN_AUTH,         /* socks5: the RFC 1929 status */
	CHAIN_REPLY         /* the reply to the request */
};

/* Largest reply head of an HTTP hop read; more is a failure. */
#define CHAIN_HTTP_HEAD_MAX 4096

/* What hop i is asked for: the next hop, or the target after the last. */
static const struct socks_addr *
chain_next(const struct chain *ch, size_t i)
{
	return i < ch->last ? &ch->via->hops[i + 1].url.addr : ch->target;
}

/* A hop's refusal as the errno a direct connect would have had. */
static int
chain_errno_socks5(uint8_t rep)
{
	switch (rep) {
	case SOCKS5_REP_NOT_ALLOWED:      return EACCES;
	case SOCKS5_REP_NET_UNREACHABLE:  return ENETUNREACH;
	case SOCKS5_REP_HOST_UNREACHABLE:
	case SOCKS5_REP_TTL_EXPIRED:      return EHOSTUNREACH;
	case SOCKS5_REP_REFUSED:          return ECONNREFUSED;
	default:                          return ECONNABORTED;
	}
}

/* The chain failed at ch->hop: CT_ERROR, for the caller to return. */
static int
chain_fail(struct chain *ch, int err, const char *fmt, const char *what)
{
	ch->err = err;
	snprintf(ch->why, sizeof(ch->why), fmt, what);
	return CT_ERROR;
}

void
chain_describe(const struct chain *ch, char *buf, size_t len)
{
	snprintf(buf, len, "hop %u of %zu (%s): %s", ch->hop + 1, ch->via->n,
	    ch->via->hops[ch->hop].label, ch->why);
}

/* Writes a whole message to the hop. */
static int
chain_write(struct chain *ch, const void *p, size_t len)
{
	ssize_t n = ch->s->ops->write(ch->s, p, len);

	if (n == (ssize_t)len)
		return CT_OK;
	return chain_fail(ch, n < 0 && n != CT_AGAIN ? errno : ECONNABORTED, "%s",
	    n < 0 && n != CT_AGAIN ? "cannot send" : "a message did not fit in the socket");
}

/* "host:port", "[v6]:port" of a CONNECT. */
static void
chain_authority(const struct socks_addr *a, char *buf, size_t len)
{
	char ip[64];

	if (a->atyp == SOCKS5_ATYP_NAME) {
		snprintf(buf, len, "%s:%u", a->name, a->port);
		return;
	}
	inet_ntop(a->atyp == SOCKS5_ATYP_IPV6 ? AF_INET6 : AF_INET, a->ip, ip, sizeof(ip));
	snprintf(buf, len, a->atyp == SOCKS5_ATYP_IPV6 ? "[%s]:%u" : "%s:%u", ip, a->port);
}

/* The CONNECT of an HTTP hop, with basic credentials when the URL has them. */
static size_t
chain_http_request(const struct proxy_url *u, const struct socks_addr *to, char *out,
    size_t cap)
{
	unsigned char cred[2 * SOCKS_CRED_MAX + 2], b64[4 * (2 * SOCKS_CRED_MAX + 4) / 3 + 4];
	char auth[sizeof(b64) + 64], at[SOCKS_NAME_MAX + 16];
	int n, m;

	auth[0] = '\0';
	chain_authority(to, at, sizeof(at));
	if (u->user_len > 0) {
		m = snprintf((char *)cred, sizeof(cred), "%s:%s", u->user, u->pass);
		EVP_EncodeBlock(b64, cred, m);
		snprintf(auth, sizeof(auth), "Proxy-Authorization: Basic %s\r\n", b64);
		explicit_bzero(cred, sizeof(cred));
		explicit_bzero(b64, sizeof(b64));
	}
	n = snprintf(out, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", at, at, auth);
	explicit_bzero(auth, sizeof(auth));
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Writes hop ch->hop's first message. */
static int
chain_hello(struct chain *ch)
{
	const struct proxy_url *u = &ch->via->hops[ch->hop].url;
	uint8_t out[SOCKS4_REQUEST_MAX + 2 * SOCKS_CRED_MAX + 1024];
	const struct socks_addr *to = chain_next(ch, ch->hop);
	size_t n;
	int rc;

	if (ch->hop == ch->last && ch->cmd != SOCKS_CMD_CONNECT && u->type != PROXY_SOCKS5 &&
	    u->type != PROXY_SOCKS5H)
		return chain_fail(ch, EPROTONOSUPPORT, "%s", "only a SOCKS 5 hop relays UDP");
	switch (u->type) {
	case PROXY_SOCKS5:
	case PROXY_SOCKS5H:
		n = socks5_greeting_build(out, u->user_len > 0);
		ch->step = CHAIN_METHOD;
		break;
	case PROXY_SOCKS4:
	case PROXY_SOCKS4A:
		if ((n = socks4_request_build(out, SOCKS_CMD_CONNECT, to, u->user)) == 0)
			return chain_fail(ch, EAFNOSUPPORT, "%s",
			    "SOCKS 4 cannot reach an IPv6 address");
		ch->step = CHAIN_REPLY;
		break;
	default:
		if ((n = chain_http_request(u, to, (char *)out, sizeof(out))) == 0)
			return chain_fail(ch, ENAMETOOLONG, "%s", "CONNECT request too long");
		ch->step = CHAIN_REPLY;
		break;
	}
	rc = chain_write(ch, out, n);
	explicit_bzero(out, n);
	return rc == CT_OK ? CT_AGAIN : CT_ERROR;
}

/* Takes exactly n bytes that were peeked. */
static int
chain_consume(struct chain *ch, size_t n)
{
	uint8_t sink[CHAIN_HTTP_HEAD_MAX];

	/* The peek saw them: a read must not answer from a stale "drained". */
	ch->s->drained = 0;
	if (ch->s->ops->read(ch->s, sink, n) == (ssize_t)n)
		return CT_OK;
	return chain_fail(ch, ECONNABORTED, "%s", "cannot read the reply");
}

/* An HTTP hop's answer to CONNECT: CT_OK through, CT_AGAIN, CT_ERROR. */
static int
chain_answer_http(struct chain *ch, const uint8_t *buf, size_t len)
{
	struct http_response resp;
	struct http_limits lim;
	char status[8];
	int rc;

	http_limits_default(&lim);
	lim.max_head = CHAIN_HTTP_HEAD_MAX;
	http_response_clear(&resp);
	/* A 2xx to CONNECT has no body (RFC 9110 9.3.6): as a HEAD's. */
	rc = http_parse_response((const char *)buf, len, &lim, 1, &resp);
	if (rc == CT_AGAIN && len < CHAIN_HTTP_HEAD_MAX)
		return CT_AGAIN;
	if (rc != CT_OK)
		return chain_fail(ch, EPROTO, "%s", "not an HTTP response to CONNECT");
	if (resp.code < 200 || resp.code > 299) {
		snprintf(status, sizeof(status), "%d", resp.code);
		/* 407 is about the credentials given to this proxy, not the target. */
		return chain_fail(ch, resp.code == 407 ? EPERM : resp.code == 403 ? EACCES :
		    resp.code == 504 ? ETIMEDOUT : ECONNREFUSED, "CONNECT answered %s", status);
	}
	return chain_consume(ch, resp.h.head_len);
}

/* A SOCKS 4 hop's reply: CT_OK through, CT_AGAIN, CT_ERROR. */
static int
chain_answer_socks4(struct chain *ch, const uint8_t *buf, size_t len)
{
	struct socks4_reply r4;

	if (len < SOCKS4_REPLY_LEN)
		return CT_AGAIN;
	if (socks4_reply_parse(buf, len, &r4) != CT_OK)
		return chain_fail(ch, EPROTO, "%s", r4.error);
	if (r4.cd != SOCKS4_REP_GRANTED)
		return chain_fail(ch, ECONNREFUSED, "%s", socks4_reply_text(r4.cd));
	return chain_consume(ch, SOCKS4_REPLY_LEN);
}

/*
 * A SOCKS 5 hop's answer to the last step: CT_OK through (the reply
 * to the request), CT_AGAIN (not whole, or the next message written),
 * CT_ERROR.
 */
static int
chain_answer_socks5(struct chain *ch, const uint8_t *buf, size_t len)
{
	const struct proxy_url *u = &ch->via->hops[ch->hop].url;
	uint8_t out[SOCKS5_AUTH_MAX > SOCKS5_REQUEST_MAX ? SOCKS5_AUTH_MAX : SOCKS5_REQUEST_MAX];
	struct socks5_reply r5;
	const char *why;
	uint8_t method;
	int rc;

	switch (ch->step) {
	case CHAIN_METHOD:
		if (len < SOCKS5_METHOD_REPLY_LEN)
			return CT_AGAIN;
		if (socks5_method_reply_parse(buf, len, u->user_len > 0, &method, &why) != CT_OK)
			return chain_fail(ch, EACCES, "%s", why);
		/* Nothing may follow before our next message: a hop that says more is not SOCKS. */
		if (len > SOCKS5_METHOD_REPLY_LEN)
			return chain_fail(ch, EPROTO, "%s", "more than its method reply");
		if (chain_consume(ch, SOCKS5_METHOD_REPLY_LEN) != CT_OK)
			return CT_ERROR;
		if (method == SOCKS5_METHOD_USERPASS) {
			ch->step = CHAIN_AUTH;
			rc = chain_write(ch, out, socks5_auth_build(out, u->user, u->user_len, u->pass,
			    u->pass_len));
			explicit_bzero(out, sizeof(out));
			return rc == CT_OK ? CT_AGAIN : CT_ERROR;
		}
		break;
	case CHAIN_AUTH:
		if (len < SOCKS5_AUTH_REPLY_LEN)
			return CT_AGAIN;
		if (socks5_auth_reply_parse(buf, len, &why) != CT_OK)
			return chain_fail(ch, EACCES, "%s", why);
		if (len > SOCKS5_AUTH_REPLY_LEN)
			return chain_fail(ch, EPROTO, "%s", "more than its authentication reply");
		if (chain_consume(ch, SOCKS5_AUTH_REPLY_LEN) != CT_OK)
			return CT_ERROR;
		break;
	default:
		rc = socks5_reply_parse(buf, len, &r5);
		if (rc == CT_AGAIN)
			return CT_AGAIN;
		if (rc != CT_OK)
			return chain_fail(ch, EPROTO, "%s", r5.error);
		if (r5.rep != SOCKS5_REP_SUCCEEDED)
			return chain_fail(ch, chain_errno_socks5(r5.rep), "%s",
			    socks5_reply_text(r5.rep));
		if (ch->hop == ch->last)
			ch->bnd = r5.bnd;
		return chain_consume(ch, r5.consumed);
	}
	/* The method (and credentials) are settled: the request. */
	ch->step = CHAIN_REPLY;
	rc = chain_write(ch, out, socks5_request_build(out, ch->hop == ch->last ? ch->cmd :
	    SOCKS_CMD_CONNECT, chain_next(ch, ch->hop)));
	return rc == CT_OK ? CT_AGAIN : CT_ERROR;
}

int
chain_begin(struct chain *ch)
{
	ch->hop = 0;
	ch->step = CHAIN_HELLO;
	return chain_hello(ch);
}

int
chain_run(struct chain *ch)
{
	uint8_t buf[CHAIN_HTTP_HEAD_MAX];
	ssize_t n;
	int rc;

	n = ch->s->ops->peek(ch->s, buf, sizeof(buf));
	if (n == CT_AGAIN)
		return CT_AGAIN;
	if (n < 0)
		return chain_fail(ch, n == CT_DONE ? ECONNRESET : errno, "%s", n == CT_DONE ?
		    "closed during its handshake" : "reset during its handshake");
	/* Each step's reply comes after the message that asks for it: one at a time. */
	switch (ch->via->hops[ch->hop].url.type) {
	case PROXY_HTTP:
		rc = chain_answer_http(ch, buf, (size_t)n);
		break;
	case PROXY_SOCKS4:
	case PROXY_SOCKS4A:
		rc = chain_answer_socks4(ch, buf, (size_t)n);
		break;
	default:
		rc = chain_answer_socks5(ch, buf, (size_t)n);
		break;
	}
	/*
	 * Part of a reply, and the hop's end behind it: no more will come.
	 * The peek sees the same bytes at every edge, never the end itself.
	 */
	if (rc == CT_AGAIN && ch->s->rdhup && ch->step != CHAIN_HELLO)
		return chain_fail(ch, ECONNRESET, "%s", "closed in the middle of its reply");
	if (rc != CT_OK || ch->hop == ch->last)
		return rc;
	ch->hop++;
	return chain_hello(ch);
}

/* ------------------------------------------------------------ connections */

/*
 * The chain of c, whose state is c->hop and c->hop_step: the last hop
 * of the via is asked to CONNECT to the server or the destination (to).
 */
static void
chain_of_conn(struct conn *c, struct chain *ch, struct socks_addr *to)
{
	const struct conf *conf = c->w->cy->conf;
	const struct sockaddr *sa;

	memset(ch, 0, sizeof(*ch));
	ch->s = &c->server;
	if (c->upstream == UPSTREAM_DEST) {
		ch->via = &conf->listeners[c->listener].via;
		sa = &c->mode->upstream_dest(c)->addrs[c->server_idx].sa;
	} else {
		ch->via = &conf->upstreams[c->upstream].via;
		sa = (const struct sockaddr *)&conf->upstreams[c->upstream]
		    .servers[c->server_idx].addr.ss;
	}
	socks_addr_from_sockaddr(to, sa);
	ch->target = to;
	ch->last = (uint8_t)(ch->via->n - 1);
	ch->cmd = SOCKS_CMD_CONNECT;
	ch->hop = c->hop;
	ch->step = c->hop_step;
}

/* The last proxy's BND for the mode's reply to its client; an address only. */
static void
chain_bnd_keep(struct upstream_dest *d, const struct socks_addr *bnd)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	d->via = 1;
	memset(&d->bnd, 0, sizeof(d->bnd));
	if (bnd->atyp == SOCKS5_ATYP_IPV4 || bnd->atyp == SOCKS5_ATYP_IPV6)
		len = socks_addr_to_sockaddr(bnd, &ss);
	if (len > 0 && len <= sizeof(d->bnd))
		memcpy(&d->bnd, &ss, len);
}

/* Where the chain of c is now, and its end if it ended. */
static void
chain_conn_after(struct conn *c, const struct chain *ch, int rc)
{
	char detail[200];

	c->hop = ch->hop;
	c->hop_step = ch->step;
	if (rc == CT_AGAIN)
		return;
	if (rc == CT_OK) {
		if (c->upstream == UPSTREAM_DEST)
			chain_bnd_keep(c->mode->upstream_dest(c), &ch->bnd);
		upstream_chain_done(c);
		return;
	}
	chain_describe(ch, detail, sizeof(detail));
	/* Only the last proxy's refusal of its CONNECT is about the server. */
	upstream_fail(c, ch->hop == ch->last && ch->step == CHAIN_REPLY && ch->err != EPROTO &&
	    ch->err != ECONNABORTED && ch->err != ECONNRESET && ch->err != EPERM ?
	    UPSTREAM_HOP_TARGET : UPSTREAM_HOP, ch->err, detail, ch->err == ETIMEDOUT ? 504 : 502);
}

void
chain_start(struct conn *c)
{
	struct socks_addr to;
	struct chain ch;

	/* Replies are read as they come, whatever the mode registers for a connect. */
	if (ev_io_set(c->w->loop, &c->server.io, STREAM_READ_EVENTS | EPOLLET) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	chain_of_conn(c, &ch, &to);
	chain_conn_after(c, &ch, chain_begin(&ch));
}

void
chain_step(struct conn *c)
{
	struct socks_addr to;
	struct chain ch;

	chain_of_conn(c, &ch, &to);
	chain_conn_after(c, &ch, chain_run(&ch));
}

/*
 * Chains of upstream proxies (chain.h): the handshakes of the hops of a
 * "via" list, run by the connector on its server socket once the TCP
 * connection to the first hop is up.  Each hop is asked for the next
 * one, the last for the target (a server, or a client's destination),
 * each inside the tunnel the one before has opened:
 *
 *   socks5:  greeting -> method -> [RFC 1929 user/pass -> status] -> CONNECT -> reply
 *   socks4:  CONNECT (4a with a name) -> reply
 *   http:    CONNECT host:port [Proxy-Authorization] -> 2xx head
 *
 * A reply is looked at in place (peeked) and only its own bytes are
 * consumed, so that what the target sends at once behind the last one
 * (a banner) stays in the socket for the mode.  Messages are a few
 * hundred bytes into a socket that holds nothing yet: a write that
 * takes less is a failure, not a wait.  The connect timer bounds the
 * whole chain.  A hop that fails or refuses ends in upstream_fail(),
 * which logs its position and reason; its refusal is given an errno
 * that says the same (a SOCKS "connection refused" is ECONNREFUSED), so
 * that a socks listener answers its own client with the same code.
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
	CHAIN_REPLY         /* the reply to the CONNECT */
};

/* Largest reply head of an HTTP hop read; more is a failure. */
#define CHAIN_HTTP_HEAD_MAX 4096

static const struct conf_via *
chain_via(const struct conn *c)
{
	const struct conf *conf = c->w->cy->conf;

	return c->upstream == UPSTREAM_DEST ? &conf->listeners[c->listener].via :
	    &conf->upstreams[c->upstream].via;
}

/* Where hop i is to go: the next hop, or the target after the last. */
static void
chain_next(const struct conn *c, size_t i, struct socks_addr *to)
{
	const struct conf_via *via = chain_via(c);
	struct upstream_dest *d;
	const struct sockaddr *sa;

	if (i + 1 < via->n) {
		*to = via->hops[i + 1].url.addr;
		return;
	}
	if (c->upstream == UPSTREAM_DEST) {
		d = c->mode->upstream_dest(c);
		sa = &d->addrs[c->server_idx].sa;
	} else {
		sa = (const struct sockaddr *)&c->w->cy->conf->upstreams[c->upstream]
		    .servers[c->server_idx].addr.ss;
	}
	socks_addr_from_sockaddr(to, sa);
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

static void
chain_fail(struct conn *c, int err, const char *fmt, const char *what)
{
	const struct conf_via *via = chain_via(c);
	char detail[200];

	snprintf(detail, sizeof(detail), "hop %u of %zu (%s): ", c->hop + 1, via->n,
	    via->hops[c->hop].label);
	snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), fmt, what);
	upstream_fail(c, UPSTREAM_HOP, err, detail, err == ETIMEDOUT ? 504 : 502);
}

/* Writes a whole message to the hop; CT_ERROR after the failure path. */
static int
chain_write(struct conn *c, const void *p, size_t len)
{
	ssize_t n = c->server.ops->write(&c->server, p, len);

	if (n == (ssize_t)len)
		return CT_OK;
	chain_fail(c, n < 0 && n != CT_AGAIN ? errno : ECONNABORTED, "%s",
	    n < 0 && n != CT_AGAIN ? "cannot send" : "a message did not fit in the socket");
	return CT_ERROR;
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

/* Writes hop c->hop's first message. */
static void
chain_hello(struct conn *c)
{
	const struct proxy_url *u = &chain_via(c)->hops[c->hop].url;
	uint8_t out[SOCKS4_REQUEST_MAX + 2 * SOCKS_CRED_MAX + 1024];
	struct socks_addr to;
	size_t n;

	chain_next(c, c->hop, &to);
	switch (u->type) {
	case PROXY_SOCKS5:
	case PROXY_SOCKS5H:
		n = socks5_greeting_build(out, u->user_len > 0);
		c->hop_step = CHAIN_METHOD;
		break;
	case PROXY_SOCKS4:
	case PROXY_SOCKS4A:
		if ((n = socks4_request_build(out, SOCKS_CMD_CONNECT, &to, u->user)) == 0) {
			chain_fail(c, EAFNOSUPPORT, "%s", "SOCKS 4 cannot reach an IPv6 address");
			return;
		}
		c->hop_step = CHAIN_REPLY;
		break;
	default:
		if ((n = chain_http_request(u, &to, (char *)out, sizeof(out))) == 0) {
			chain_fail(c, ENAMETOOLONG, "%s", "CONNECT request too long");
			return;
		}
		c->hop_step = CHAIN_REPLY;
		break;
	}
	if (chain_write(c, out, n) == CT_OK)
		explicit_bzero(out, n);
}

/* Takes exactly n bytes that were peeked. */
static int
chain_consume(struct conn *c, size_t n)
{
	uint8_t sink[CHAIN_HTTP_HEAD_MAX];

	/* The peek saw them: a read must not answer from a stale "drained". */
	c->server.drained = 0;
	if (c->server.ops->read(&c->server, sink, n) == (ssize_t)n)
		return CT_OK;
	chain_fail(c, ECONNABORTED, "%s", "cannot read the reply");
	return CT_ERROR;
}

/* The hop answered the last step; 1: the hop is through, 0: more to do or failed. */
static int
chain_answer(struct conn *c, const uint8_t *buf, size_t len)
{
	const struct proxy_url *u = &chain_via(c)->hops[c->hop].url;
	uint8_t out[SOCKS5_AUTH_MAX > SOCKS5_REQUEST_MAX ? SOCKS5_AUTH_MAX : SOCKS5_REQUEST_MAX];
	struct http_response resp;
	struct http_limits lim;
	struct socks5_reply r5;
	struct socks4_reply r4;
	struct socks_addr to;
	const char *why;
	uint8_t method;
	char status[8];
	int rc;

	if (u->type == PROXY_HTTP) {
		http_limits_default(&lim);
		lim.max_head = CHAIN_HTTP_HEAD_MAX;
		http_response_clear(&resp);
		/* A 2xx to CONNECT has no body (RFC 9110 9.3.6): as a HEAD's. */
		rc = http_parse_response((const char *)buf, len, &lim, 1, &resp);
		if (rc == CT_AGAIN && len < CHAIN_HTTP_HEAD_MAX)
			return 0;
		if (rc != CT_OK) {
			chain_fail(c, EPROTO, "%s", "not an HTTP response to CONNECT");
			return 0;
		}
		if (resp.code < 200 || resp.code > 299) {
			snprintf(status, sizeof(status), "%d", resp.code);
			chain_fail(c, resp.code == 403 || resp.code == 407 ? EACCES :
			    resp.code == 504 ? ETIMEDOUT : ECONNREFUSED, "CONNECT answered %s",
			    status);
			return 0;
		}
		return chain_consume(c, resp.h.head_len) == CT_OK;
	}
	if (u->type == PROXY_SOCKS4 || u->type == PROXY_SOCKS4A) {
		if (len < SOCKS4_REPLY_LEN)
			return 0;
		if (socks4_reply_parse(buf, len, &r4) != CT_OK) {
			chain_fail(c, EPROTO, "%s", r4.error);
			return 0;
		}
		if (r4.cd != SOCKS4_REP_GRANTED) {
			chain_fail(c, ECONNREFUSED, "%s", socks4_reply_text(r4.cd));
			return 0;
		}
		return chain_consume(c, SOCKS4_REPLY_LEN) == CT_OK;
	}
	switch (c->hop_step) {
	case CHAIN_METHOD:
		if (len < SOCKS5_METHOD_REPLY_LEN)
			return 0;
		if (socks5_method_reply_parse(buf, len, u->user_len > 0, &method, &why) != CT_OK) {
			chain_fail(c, EACCES, "%s", why);
			return 0;
		}
		if (chain_consume(c, SOCKS5_METHOD_REPLY_LEN) != CT_OK)
			return 0;
		if (method == SOCKS5_METHOD_USERPASS) {
			c->hop_step = CHAIN_AUTH;
			rc = chain_write(c, out, socks5_auth_build(out, u->user, u->user_len, u->pass,
			    u->pass_len));
			explicit_bzero(out, sizeof(out));
			return 0;
		}
		break;
	case CHAIN_AUTH:
		if (len < SOCKS5_AUTH_REPLY_LEN)
			return 0;
		if (socks5_auth_reply_parse(buf, len, &why) != CT_OK) {
			chain_fail(c, EACCES, "%s", why);
			return 0;
		}
		if (chain_consume(c, SOCKS5_AUTH_REPLY_LEN) != CT_OK)
			return 0;
		break;
	default:
		rc = socks5_reply_parse(buf, len, &r5);
		if (rc == CT_AGAIN)
			return 0;
		if (rc != CT_OK) {
			chain_fail(c, EPROTO, "%s", r5.error);
			return 0;
		}
		if (r5.rep != SOCKS5_REP_SUCCEEDED) {
			chain_fail(c, chain_errno_socks5(r5.rep), "%s", socks5_reply_text(r5.rep));
			return 0;
		}
		return chain_consume(c, r5.consumed) == CT_OK;
	}
	/* The method (and credentials) are settled: the request. */
	chain_next(c, c->hop, &to);
	c->hop_step = CHAIN_REPLY;
	(void)chain_write(c, out, socks5_request_build(out, SOCKS_CMD_CONNECT, &to));
	return 0;
}

void
chain_start(struct conn *c)
{
	c->hop = 0;
	c->hop_step = CHAIN_HELLO;
	/* Replies are read as they come, whatever the mode registers for a connect. */
	if (ev_io_set(c->w->loop, &c->server.io, STREAM_READ_EVENTS | EPOLLET) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	chain_hello(c);
}

void
chain_step(struct conn *c)
{
	uint8_t buf[CHAIN_HTTP_HEAD_MAX];
	ssize_t n;

	n = c->server.ops->peek(&c->server, buf, sizeof(buf));
	if (n == CT_AGAIN)
		return;
	if (n < 0) {
		chain_fail(c, n == CT_DONE ? ECONNRESET : errno, "%s", n == CT_DONE ?
		    "closed during its handshake" : "reset during its handshake");
		return;
	}
	/* Each step's reply comes after the message that asks for it: one at a time. */
	if (!chain_answer(c, buf, (size_t)n))
		return;
	if ((size_t)c->hop + 1 == chain_via(c)->n) {
		upstream_chain_done(c);
		return;
	}
	c->hop++;
	c->hop_step = CHAIN_HELLO;
	chain_hello(c);
}

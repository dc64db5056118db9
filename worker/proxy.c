/*
 * The destination of a forward or socks client; proxy.h has the steps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/stats.h"
#include "worker/approval.h"
#include "worker/conn.h"
#include "worker/dest.h"
#include "worker/proxy.h"
#include "worker/resolve.h"
#include "worker/worker-t.h"

static const struct conf_listener *
proxy_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

/* Before the connector: the mode answers, as for a connector's failure. */
static void
proxy_fail(struct conn *c, struct proxy_dest *d, enum proxy_fail fail, int status)
{
	char client[ADDR_STRLEN];

	d->fail = fail;
	log_info("%s: %s, client: %s, listener: %s", d->up.name, d->why,
	    addr_format(&c->peer.sa, client, sizeof(client)), proxy_listener(c)->name);
	c->mode->upstream_give_up(c, status, d->why);
}

static void
proxy_resolved(void *arg, enum resolve_status status, const union resolve_addr *addrs,
    size_t n, const char *why)
{
	struct conn *c = arg;
	/* up is the first member: the mode's upstream_dest is in a struct proxy_dest. */
	struct proxy_dest *d = (struct proxy_dest *)c->mode->upstream_dest(c);
	const struct conf_dest *rules = &proxy_listener(c)->dest;
	int local = dest_client_local(&c->peer.sa);
	struct dest_verdict v = { 0 };
	char rule[160];
	size_t i;

	d->rq = NULL;
	if (status != RESOLVE_OK) {
		snprintf(d->why, sizeof(d->why), "cannot resolve: %s", why);
		proxy_fail(c, d, status == RESOLVE_NXDOMAIN || status == RESOLVE_NODATA ||
		    status == RESOLVE_BADNAME ? PROXY_FAIL_NAME : PROXY_FAIL_RESOLVE,
		    status == RESOLVE_TIMEOUT ? 504 : 502);
		return;
	}
	d->up.n = 0;
	for (i = 0; i < n && d->up.n < UPSTREAM_DEST_ADDRS; i++) {
		if (!dest_check_addr(rules, &d->by_name, &addrs[i].sa, local, &v))
			continue;
		memcpy(&d->addrs[d->up.n++], &addrs[i], addrs[i].sa.sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	}
	if (d->up.n == 0) {
		snprintf(d->why, sizeof(d->why), "every address refused by the destinations "
		    "(%s)", dest_verdict_format(&v, rule, sizeof(rule)));
		proxy_fail(c, d, PROXY_FAIL_RULES, 403);
		return;
	}
	d->fail = PROXY_FAIL_CONNECT;
	upstream_connect_dest(c);
}

static void
proxy_resolve(struct conn *c, struct proxy_dest *d, const char *host, uint16_t port)
{
	/* The worker makes its resolver at start when a listener's mode resolves. */
	if ((d->rq = resolve_start(c->w->resolver, host, AF_UNSPEC, port, proxy_resolved, c))
	    == NULL) {
		snprintf(d->why, sizeof(d->why), "cannot resolve: out of memory");
		proxy_fail(c, d, PROXY_FAIL_RESOLVE, 502);
	}
}

static void
proxy_refused(struct conn *c, struct proxy_dest *d)
{
	snprintf(d->why, sizeof(d->why), "refused by the listener's approval");
	proxy_fail(c, d, PROXY_FAIL_APPROVAL, 403);
}

/* A client held at its destination was decided. */
static void
proxy_approved(struct conn *c, int allowed)
{
	struct proxy_dest *d = (struct proxy_dest *)c->mode->upstream_dest(c);
	char host[UPSTREAM_DEST_NAME];
	uint16_t port;

	if (!allowed)
		proxy_refused(c, d);
	else if (proxy_name_split(d, host, sizeof(host), &port) == CT_OK)
		proxy_resolve(c, d, host, port);
	else
		conn_close(c, "internal error");
}

void
proxy_connect(struct conn *c, struct proxy_dest *d, const char *host, uint16_t port)
{
	const struct conf_dest *rules = &proxy_listener(c)->dest;
	char rule[160];

	memset(d, 0, sizeof(*d));
	d->up.addrs = d->addrs;
	proxy_name(d, host, port);
	conn_rec_dest(c, d->up.name, SHM_CONN_DEST);
	if (!dest_check_name(rules, host, port, &d->by_name)) {
		snprintf(d->why, sizeof(d->why), "refused by the destinations (%s)",
		    dest_verdict_format(&d->by_name, rule, sizeof(rule)));
		proxy_fail(c, d, PROXY_FAIL_RULES, 403);
		return;
	}
	if (proxy_listener(c)->approval != NULL) {
		d->approved = proxy_approved;
		switch (approval_dest(c)) {
		case CT_OK:
			break;
		case CT_DECLINED:
			proxy_refused(c, d);
			return;
		default:
			/* Held, or closed. */
			return;
		}
	}
	proxy_resolve(c, d, host, port);
}

int
proxy_name_split(const struct proxy_dest *d, char *host, size_t cap, uint16_t *port)
{
	const char *name = d->up.name, *colon = strrchr(name, ':');
	size_t skip = name[0] == '[', len;
	unsigned long p;
	char *end;

	if (colon == NULL || colon == name)
		return CT_ERROR;
	len = (size_t)(colon - name) - 2 * skip;
	if (skip && (len == 0 || colon[-1] != ']'))
		return CT_ERROR;
	p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || p > 65535 || len >= cap)
		return CT_ERROR;
	memcpy(host, name + skip, len);
	host[len] = '\0';
	*port = (uint16_t)p;
	return CT_OK;
}

void
proxy_name(struct proxy_dest *d, const char *host, uint16_t port)
{
	snprintf(d->up.name, sizeof(d->up.name), strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u",
	    host, port);
}

void
proxy_cancel(struct proxy_dest *d)
{
	resolve_cancel(d->rq);
	d->rq = NULL;
}

int
proxy_reply_write(struct conn *c, const void *out, size_t *off, size_t len)
{
	ssize_t n;

	while (*off < len) {
		n = c->client.ops->write(&c->client, (const char *)out + *off, len - *off);
		if (n == CT_AGAIN) {
			/* A client that does not take its reply has the handshake's time to. */
			if (ev_io_want(c->w->loop, &c->client.io, EPOLLOUT) != CT_OK ||
			    (c->timer.slot == EV_TIMER_IDLE && ev_timer_start(c->w->loop, &c->timer,
			    proxy_listener(c)->handshake_timeout_ms) != CT_OK)) {
				conn_close(c, "internal error");
				return CT_ERROR;
			}
			return CT_AGAIN;
		}
		if (n < 0) {
			conn_close(c, "client reset");
			return CT_ERROR;
		}
		c->to_client += (uint64_t)n;
		*off += (size_t)n;
	}
	return CT_OK;
}

int
proxy_tunnel_prepare(struct conn *c, struct proxy_dest *d, const void *rest, size_t len)
{
	/* The tunnel's first buffer holds them, and no more: a TLS ClientHello fits. */
	if (len > BUF_SIZE) {
		log_info("%s: %zu bytes sent before the tunnel, more than %d", d->up.name, len,
		    BUF_SIZE);
		conn_close(c, "too many bytes before the tunnel");
		return CT_ERROR;
	}
	if (len > 0) {
		if ((c->c2s = buf_get(&c->w->bufs)) == NULL) {
			conn_close(c, "out of memory");
			return CT_ERROR;
		}
		memcpy(c->c2s->data, rest, len);
		c->c2s->end = (uint32_t)len;
	}
	d->up.addrs = NULL;
	d->up.n = 0;
	ev_timer_stop(c->w->loop, &c->timer);
	return CT_OK;
}

void
proxy_describe(const struct proxy_dest *d, char *buf, size_t len)
{
	if (d->up.name[0] != '\0')
		snprintf(buf, len, ", destination: %s", d->up.name);
	else if (len > 0)
		buf[0] = '\0';
}

void
proxy_count(struct conn *c, enum shm_proxy_result r)
{
	struct shm_listener *ls = conn_listener_stats(c);

	if (ls != NULL)
		atomic_fetch_add_explicit(&ls->proxy[r], 1, memory_order_relaxed);
}

void
proxy_count_fail(struct conn *c, const struct proxy_dest *d)
{
	static const enum shm_proxy_result by_fail[] = {
		[PROXY_FAIL_NONE] = SHM_PROXY_CONNECT,
		[PROXY_FAIL_RULES] = SHM_PROXY_RULES,
		[PROXY_FAIL_NAME] = SHM_PROXY_NO_NAME,
		[PROXY_FAIL_RESOLVE] = SHM_PROXY_RESOLVER,
		[PROXY_FAIL_CONNECT] = SHM_PROXY_CONNECT,
		[PROXY_FAIL_APPROVAL] = SHM_PROXY_APPROVAL,
	};

	proxy_count(c, by_fail[d->fail]);
}

const char *
proxy_client_reason(const struct proxy_dest *d, char *buf, size_t len)
{
	const char *what;

	switch (d->fail) {
	case PROXY_FAIL_RULES:   what = "not allowed"; break;
	case PROXY_FAIL_APPROVAL: what = "not approved"; break;
	case PROXY_FAIL_NAME:    what = "no such name"; break;
	case PROXY_FAIL_RESOLVE: what = "the name servers did not answer"; break;
	default:
		what = d->up.err == ECONNABORTED ? "a proxy on the way failed" :
		    d->up.err == ETIMEDOUT ? "no answer in time" : strerror(d->up.err);
		break;
	}
	snprintf(buf, len, "cannot reach %s: %s", d->up.name, what);
	return buf;
}

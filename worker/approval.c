/*
 * Approval of clients at accept (approval.h), before their mode hears of
 * them, in the order conf/approval.h states:
 *
 *   accept --rules--> allow | deny
 *      \--decision in shm--> allow | deny
 *          \--policy--> allow | deny | ask
 *                                       |
 *   parked: nothing read, its entry in the connection list marked pending,
 *   its timer at "wait" <-- SIGURG from the master: the decisions changed
 *       |                        (every parked client is looked up again)
 *       +--> a decision or on_timeout allows: the mode starts, as at accept
 *       +--> it denies: HTTP 403 on a plain http listener, else the close
 *       +--> the client leaves: closed, gone from the list
 *
 * A parked connection waits for the end of its client's stream only
 * (EPOLLRDHUP), so bytes it sends wake nobody and stay in the socket for
 * the mode.  On a plain http listener it also peeks (MSG_PEEK: nothing is
 * consumed, the mode reads the same bytes) at the client's first request
 * head, edge-triggered, until the head is complete or max_header_size is
 * reached; its method, Host and path are then published for the list of
 * pending clients.  A head that does not parse is not shown: the client
 * stays held, and the http mode answers it (400) if it is let in.  Workers find their parked connections by a flag in the slot:
 * a decision is rare beside the connections, so a walk of the slots then
 * costs less than a list kept on every connection's close path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "lib/addr.h"
#include "lib/ct.h"
#include "lib/http_parse.h"
#include "lib/log.h"
#include "shm/approval.h"
#include "shm/stats.h"
#include "worker/approval.h"
#include "worker/conn.h"
#include "worker/events.h"
#include "worker/proxy.h"
#include "worker/worker-t.h"
#include "worker/worker.h"

/* The most of a held client's first request head looked at. */
#define APPROVAL_PEEK_MAX 4096
/* What decided a client, for the log: approval_by()'s. */
#define APPROVAL_BY_TEXT (SHM_APPROVAL_BY_LEN + SHM_NAME_LEN + SHM_APPROVAL_DEST_LEN + 96)

static const struct conf_listener *
approval_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

/* Clients of forward and socks listeners are decided where they go, not at accept. */
static int
approval_at_dest(const struct conf_listener *l)
{
	return l->mode == CONF_MODE_FORWARD || l->mode == CONF_MODE_SOCKS;
}

/* The destination of a client of a forward or socks listener, or NULL. */
static struct proxy_dest *
approval_proxy_dest(const struct conn *c)
{
	/* up is the first member: a forward or socks mode's upstream_dest is in a struct proxy_dest. */
	struct upstream_dest *up = approval_at_dest(approval_listener(c)) &&
	    c->mode->upstream_dest != NULL ? c->mode->upstream_dest(c) : NULL;

	return (struct proxy_dest *)up;
}

/* The destination c named, or NULL before it did (and for a SOCKS UDP association). */
static struct proxy_dest *
approval_named(const struct conn *c)
{
	struct proxy_dest *d = approval_proxy_dest(c);

	return d != NULL && d->up.name[0] != '\0' ? d : NULL;
}

/* Where c goes, for a lookup, into to and host (SHM_APPROVAL_DEST_LEN); NULL: nowhere named. */
static const struct shm_approval_to *
approval_to(const struct conn *c, struct shm_approval_to *to, char *host)
{
	struct proxy_dest *d = approval_named(c);
	char raw[UPSTREAM_DEST_NAME];

	/* A name that is no host name (SOCKS allows any bytes) has no decision of its own. */
	if (d == NULL || proxy_name_split(d, raw, sizeof(raw), &to->port) != CT_OK ||
	    shm_approval_dest_normalize(raw, strlen(raw), host) != CT_OK)
		return NULL;
	to->host = host;
	return to;
}

static void
approval_count(struct conn *c, enum shm_approval_result r)
{
	struct shm_listener *ls = conn_listener_stats(c);

	if (ls != NULL)
		atomic_fetch_add_explicit(&ls->approval[r], 1, memory_order_relaxed);
}

static int
approval_in(const struct cidr *nets, size_t n, const struct sockaddr *sa)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cidr_match(&nets[i], sa))
			return 1;
	return 0;
}

static uint64_t
approval_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

static void
approval_log(const struct conn *c, const char *what, const char *by)
{
	const struct proxy_dest *d = approval_named(c);
	char client[ADDR_STRLEN];

	log_info("approval: client %s%s%s %s on listener \"%s\" (%s)",
	    addr_format(&c->peer.sa, client, sizeof(client)), d != NULL ? " to " : "",
	    d != NULL ? d->up.name : "", what, approval_listener(c)->name, by);
}

/* "decision 10.0.0.0/8 by alice" for the log; buf. */
static const char *
approval_by(const struct conn *c, const struct shm_approval_match *m, char *buf, size_t len)
{
	struct shm_approval a;
	char net[INET6_ADDRSTRLEN], dest[SHM_APPROVAL_DEST_LEN + 16];

	/* The slot may have been reused since: it must be the network that matched. */
	if (shm_approval_get(c->w->cy->shm, m->slot, &a) != CT_OK ||
	    a.verdict != (uint32_t)m->verdict || a.net.prefix != m->prefix ||
	    !cidr_match(&a.net, &c->peer.sa) ||
	    (a.dest[0] != '\0') != (m->dest != SHM_APPROVAL_DEST_ANY) ||
	    inet_ntop(a.net.family, a.net.net, net, sizeof(net)) == NULL) {
		snprintf(buf, len, "a decision for a /%u", m->prefix);
		return buf;
	}
	if (a.dest[0] == '\0')
		dest[0] = '\0';
	else if (a.port == 0)
		snprintf(dest, sizeof(dest), " to %s", a.dest);
	else
		snprintf(dest, sizeof(dest), strchr(a.dest, ':') != NULL ? " to [%s]:%u" :
		    " to %s:%u", a.dest, a.port);
	snprintf(buf, len, "decision %s/%u%s%s%s%s%s", net, a.net.prefix,
	    a.listener[0] != '\0' ? " for " : "", a.listener, dest,
	    a.by[0] != '\0' ? " by " : "", a.by);
	return buf;
}

/* The client may not come in: HTTP says so on a plain http listener, the rest closes. */
static void
approval_deny(struct conn *c, const char *end)
{
	const struct conf_listener *l = approval_listener(c);
	const char *body = l->approval->deny_body;
	char head[128];
	struct iovec iov[2];
	struct msghdr msg;
	ssize_t n;
	int len;

	approval_count(c, SHM_APPROVAL_DENIED);
	if (l->mode == CONF_MODE_HTTP && l->tls == NULL) {
		len = snprintf(head, sizeof(head), "HTTP/1.1 403 Forbidden\r\n"
		    "Content-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		    strlen(body));
		iov[0].iov_base = head;
		iov[0].iov_len = (size_t)len;
		iov[1].iov_base = (void *)(uintptr_t)body;
		iov[1].iov_len = strlen(body);
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = 2;
		/*
		 * Once, without waiting: a client that sent its request reads this,
		 * then the close; a body larger than the socket buffer is cut.
		 */
		n = sendmsg(c->client.fd, &msg, MSG_NOSIGNAL);
		if (n > 0)
			c->to_client += (uint64_t)n;
	}
	conn_close(c, end);
}

static void
approval_unpark(struct conn *c, const char *how)
{
	struct shm_listener *ls = conn_listener_stats(c);

	events_pending(c, how);
	c->parked = 0;
	c->w->nparked--;
	if (ls != NULL)
		atomic_fetch_sub_explicit(&ls->approval_pending, 1, memory_order_relaxed);
	/* A destination named stays listed; a peeked request is the mode's to show. */
	if (c->rec != NULL)
		atomic_store_explicit(&c->rec->backend,
		    atomic_load_explicit(&c->rec->backend, memory_order_relaxed) ==
		    SHM_CONN_PENDING_DEST ? SHM_CONN_DEST : -1, memory_order_relaxed);
	ev_timer_stop(c->w->loop, &c->timer);
	/* The mode registers the client as it would have at accept, or as it left it. */
	(void)ev_io_set(c->w->loop, &c->client.io, 0);
	if (c->parked_dest) {
		c->parked_dest = 0;
		c->client.io.cb = c->mode->io;
		c->timer.cb = c->mode->timer;
	}
}

/*
 * A held client was decided: it goes on, at accept into its mode, at its
 * destination into the connector; or it is refused, at its destination
 * with its protocol's answer.
 */
static void
approval_decided(struct conn *c, int allow, const char *how, const char *by)
{
	struct proxy_dest *d = c->parked_dest ? approval_proxy_dest(c) : NULL;

	approval_log(c, allow ? "let in" : "refused", by);
	approval_unpark(c, how);
	if (d != NULL) {
		approval_count(c, allow ? SHM_APPROVAL_ALLOWED : SHM_APPROVAL_DENIED);
		d->approved(c, allow);
	} else if (allow) {
		approval_count(c, SHM_APPROVAL_ALLOWED);
		worker_conn_start(c);
	} else {
		approval_deny(c, "denied");
	}
}

/* Is the first request of a held client of this listener shown? */
static int
approval_peeks(const struct conn *c)
{
	const struct conf_listener *l = approval_listener(c);

	return l->mode == CONF_MODE_HTTP && l->tls == NULL && c->rec != NULL &&
	    c->w->dest_recs != NULL;
}

/*
 * "GET example.com /path" of the head in buf, into out; CT_AGAIN while
 * it is incomplete and below the bound, CT_ERROR when it will not be
 * shown (malformed, or larger than max_header_size).
 */
static int
approval_request(const char *buf, size_t len, size_t max, char *out, size_t outlen)
{
	struct http_request req;
	struct http_limits lim;
	int rc;

	http_limits_default(&lim);
	lim.max_head = max;
	http_request_clear(&req);
	rc = http_parse_request(buf, len, &lim, &req);
	if (rc == CT_AGAIN)
		return len < max ? CT_AGAIN : CT_ERROR;
	if (rc != CT_OK)
		return CT_ERROR;
	snprintf(out, outlen, "%.*s %.*s %.*s", (int)req.method.len, req.method.p,
	    req.host.len > 0 ? (int)req.host.len : 1, req.host.len > 0 ? req.host.p : "-",
	    (int)req.path.len, req.path.p);
	return CT_OK;
}

/* Bytes came from a held client of a plain http listener: has its head come? */
static void
approval_peek(struct conn *c)
{
	/*
	 * Only the method, Host and path are shown: a head longer than this
	 * is not, so that clients nobody let in cost a bounded look each.
	 */
	static char buf[APPROVAL_PEEK_MAX];
	size_t max = CT_MIN(approval_listener(c)->max_header_size, sizeof(buf));
	char text[sizeof(((struct shm_conn_dest *)NULL)->name)];
	ssize_t n;
	int rc = CT_ERROR;

	n = recv(c->client.fd, buf, max, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		rc = CT_AGAIN;
	else if (n > 0)
		rc = approval_request(buf, (size_t)n, max, text, sizeof(text));
	if (rc == CT_AGAIN)
		return;
	if (rc == CT_OK)
		conn_rec_dest(c, text, SHM_CONN_PENDING_REQUEST);
	/* Done looking: its leaving only, level-triggered, as for any held client. */
	if (ev_io_set(c->w->loop, &c->client.io, EPOLLRDHUP) != CT_OK) {
		approval_unpark(c, "closed");
		conn_close(c, "internal error");
	}
}

/* Bytes sent by c wait in its socket, unread. */
static int
approval_has_bytes(const struct conn *c)
{
	char b;

	return recv(c->client.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* A held client's events: its leaving, and on plain http its first request. */
static void
approval_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	/*
	 * A client that half-closes after its request (HTTP/1.0 scripts,
	 * "nc -N") has not left: while bytes wait in its socket it stays
	 * held, watched for the rest of its leaving only.
	 */
	if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == EPOLLRDHUP && approval_has_bytes(c)) {
		if (ev_io_set(c->w->loop, &c->client.io, EPOLLHUP) != CT_OK) {
			approval_unpark(c, "closed");
			conn_close(c, "internal error");
		}
		return;
	}
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		approval_log(c, "left while waiting for a decision", "pending");
		approval_unpark(c, "left");
		conn_close(c, "client left while pending");
	} else if (events & EPOLLIN) {
		approval_peek(c);
	}
}

static void
approval_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	int allow = approval_listener(c)->approval->on_timeout_allow;

	(void)loop;
	approval_count(c, SHM_APPROVAL_TIMED_OUT);
	approval_decided(c, allow, allow ? "let in: on_timeout" : "refused: on_timeout",
	    "no decision within wait: on_timeout");
}

/*
 * Holds c for a decision, at accept or (at_dest) at its destination:
 * CT_AGAIN; CT_ERROR when it was closed, CT_DECLINED when one held at
 * its destination is to be refused there.
 */
static int
approval_park(struct conn *c, int at_dest)
{
	const struct conf_approval *a = approval_listener(c)->approval;
	struct shm_listener *ls = conn_listener_stats(c);

	if (ls != NULL && atomic_load_explicit(&ls->approval_pending, memory_order_relaxed) >=
	    a->max_pending) {
		approval_count(c, SHM_APPROVAL_FULL);
		approval_log(c, "refused", "max_pending clients wait already");
		if (at_dest)
			return CT_DECLINED;
		conn_close(c, "too many pending");
		return CT_ERROR;
	}
	c->client.io.cb = approval_io;
	c->timer.cb = approval_timer;
	/* Edge-triggered: the peeked bytes stay readable, and must not wake the loop again. */
	if (ev_io_set(c->w->loop, &c->client.io,
	    EPOLLRDHUP | (approval_peeks(c) ? EPOLLIN | EPOLLET : 0)) != CT_OK ||
	    ev_timer_start(c->w->loop, &c->timer, a->wait_ms) != CT_OK) {
		conn_close(c, "internal error");
		return CT_ERROR;
	}
	c->parked = 1;
	c->parked_dest = at_dest != 0;
	c->w->nparked++;
	if (ls != NULL)
		atomic_fetch_add_explicit(&ls->approval_pending, 1, memory_order_relaxed);
	/* Listed as pending: the entry's backend says so, no server being there yet. */
	if (c->rec != NULL)
		atomic_store_explicit(&c->rec->backend, at_dest ? SHM_CONN_PENDING_DEST :
		    SHM_CONN_PENDING, memory_order_relaxed);
	approval_count(c, SHM_APPROVAL_PENDING);
	approval_log(c, "waits for a decision", "policy ask");
	events_pending(c, "waits");
	return CT_AGAIN;
}

/* The decision of rules and table for c: allow, deny, or none. */
static enum shm_approval_verdict
approval_decide(struct conn *c, char *by, size_t len)
{
	const struct conf_listener *l = approval_listener(c);
	const struct conf_approval *a = l->approval;
	struct proxy_dest *d = approval_named(c);
	struct shm_approval_match m;
	struct shm_approval_to to;
	enum shm_approval_verdict v;
	char host[SHM_APPROVAL_DEST_LEN], raw[UPSTREAM_DEST_NAME];
	uint16_t port;
	size_t i;
	int named = d != NULL && proxy_name_split(d, raw, sizeof(raw), &port) == CT_OK;

	if (approval_in(a->deny, a->ndeny, &c->peer.sa)) {
		snprintf(by, len, "rules.deny");
		return SHM_APPROVAL_DENY;
	}
	if (named &&
	    (i = dest_rules_find(a->dest.deny, a->dest.ndeny, raw, port)) < a->dest.ndeny) {
		snprintf(by, len, "rules.destinations.deny \"%s\"", a->dest.deny[i].text);
		return SHM_APPROVAL_DENY;
	}
	if (approval_in(a->allow, a->nallow, &c->peer.sa)) {
		snprintf(by, len, "rules.allow");
		return SHM_APPROVAL_ALLOW;
	}
	if (named &&
	    (i = dest_rules_find(a->dest.allow, a->dest.nallow, raw, port)) < a->dest.nallow) {
		snprintf(by, len, "rules.destinations.allow \"%s\"", a->dest.allow[i].text);
		return SHM_APPROVAL_ALLOW;
	}
	v = shm_approval_lookup(c->w->cy->shm, &c->peer.sa, shm_approval_scope(l->name),
	    approval_to(c, &to, host), approval_now_s(), &m);
	if (v != SHM_APPROVAL_NONE)
		approval_by(c, &m, by, len);
	return v;
}

/* The verdict for c now, the policy's included: ALLOW, DENY, or NONE when it is held. */
static enum shm_approval_verdict
approval_judge(struct conn *c, char *by, size_t len)
{
	const struct conf_approval *a = approval_listener(c)->approval;
	enum shm_approval_verdict v = approval_decide(c, by, len);

	if (v != SHM_APPROVAL_NONE || a->policy == CONF_APPROVAL_ASK)
		return v;
	snprintf(by, len, "policy %s", conf_approval_policy_name(a->policy));
	return a->policy == CONF_APPROVAL_ALLOW ? SHM_APPROVAL_ALLOW : SHM_APPROVAL_DENY;
}

int
approval_admit(struct conn *c)
{
	enum shm_approval_verdict v;
	char by[APPROVAL_BY_TEXT];

	if (approval_at_dest(approval_listener(c)))
		return CT_OK;
	if ((v = approval_judge(c, by, sizeof(by))) == SHM_APPROVAL_NONE)
		return approval_park(c, 0);
	if (v == SHM_APPROVAL_ALLOW) {
		approval_count(c, SHM_APPROVAL_ALLOWED);
		return CT_OK;
	}
	approval_log(c, "refused", by);
	approval_deny(c, "denied");
	return CT_ERROR;
}

int
approval_dest(struct conn *c)
{
	enum shm_approval_verdict v;
	char by[APPROVAL_BY_TEXT];

	if ((v = approval_judge(c, by, sizeof(by))) == SHM_APPROVAL_NONE)
		return approval_park(c, 1);
	approval_count(c, v == SHM_APPROVAL_ALLOW ? SHM_APPROVAL_ALLOWED : SHM_APPROVAL_DENIED);
	if (v == SHM_APPROVAL_ALLOW)
		return CT_OK;
	approval_log(c, "refused", by);
	return CT_DECLINED;
}

void
approval_wake(struct worker *w)
{
	uint64_t gen = shm_approval_generation(w->cy->shm);
	char by[APPROVAL_BY_TEXT];
	enum shm_approval_verdict v;
	unsigned i;

	if (gen == w->approval_gen || w->nparked == 0) {
		w->approval_gen = gen;
		return;
	}
	w->approval_gen = gen;
	for (i = 0; i < w->cy->conf->worker_connections && w->nparked > 0; i++) {
		struct conn *c = &w->conns[i];

		if (c->state != CONN_OPEN || !c->parked)
			continue;
		if ((v = approval_decide(c, by, sizeof(by))) == SHM_APPROVAL_NONE)
			continue;
		approval_decided(c, v == SHM_APPROVAL_ALLOW, v == SHM_APPROVAL_ALLOW ? "let in" :
		    "refused", by);
	}
}

void
approval_release(struct conn *c)
{
	if (c->parked)
		approval_unpark(c, "closed");
}

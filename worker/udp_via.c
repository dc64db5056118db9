/*
 * Mode udp through SOCKS 5 hops (udp_via.h): a session whose upstream
 * has "via" sends its client's datagrams through a UDP association
 * (RFC 1928 7) with each hop, hop 1 first.
 *
 *   control connection k (one per hop, all at once, each a stream of
 *   its own on the worker loop):
 *
 *     TCP to hop 1 --chain.c: hops 1..k each CONNECT to the next-->
 *        hop k+1: greeting [RFC 1929 user/pass] UDP ASSOCIATE --> BND k+1
 *
 *   client --datagram--> session socket (connected to BND 1) -->
 *     [0 0 0 BND 2][0 0 0 BND 3]...[0 0 0 server] DATA --> hop 1 --> hop 2 ...
 *                                                     --> the last hop --> server
 *
 *   server --> the last hop --> ... --> hop 1 --> session socket:
 *     [0 0 0 BND 2]...[0 0 0 server] DATA, each header checked,
 *     DATA --> the client
 *
 * What a UDP ASSOCIATE names (DST.ADDR, DST.PORT) is where the client
 * will send its datagrams from, for the server to admit only those
 * (RFC 1928 7; dante matches a rule's "from" against it), or zeros
 * when the client does not know.  Hop 1 is sent the session socket's
 * own address and port: the socket is connected to hop 1's address
 * before the request, which fixes both, and connecting it again to BND
 * 1 afterwards keeps them (a socket's bound address does not change).
 * Every other hop is sent 0.0.0.0 port 0: its datagrams come from the
 * relay socket of the hop before, whose address no reply tells.
 *
 * A BND of 0.0.0.0 or :: means the hop's own address, as the hop was
 * reached; a BND that is a name is refused, there being nothing to
 * resolve it with that the hop would agree on.  The headers are the
 * same for every datagram of the session: built once, sent before the
 * client's bytes with one sendmsg(), nothing copied.  A datagram that
 * comes back is taken only if each header names the hop after the one
 * that wrapped it and the innermost the session's server; anything else
 * (a fragment, which nothing reassembles, a malformed header, another
 * source) is dropped and counted.
 *
 * Until every association is up, the client's datagrams wait in a pool
 * buffer, at most SOCKS_ASSOC_WAITING of them (socks_assoc.h), and
 * later ones are dropped and counted (reason "wait"); the listener's
 * udp.connect_timeout bounds the connects and handshakes (udp.c runs
 * the timer).  The associations live as long as the session: its end
 * closes the control connections, which ends them at the hops.  A hop
 * that refuses, fails, or closes its control connection later (the hop
 * went away) ends the session, with a log line that names the hop and
 * why; the client's next datagram opens a new session.  Neither counts
 * as a passive failure of the server: a UDP ASSOCIATE does not name
 * it, so a hop's failure says nothing of the server, and would only
 * take every server of the upstream out in turn.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "lib/socks.h"
#include "worker/chain.h"
#include "worker/conn.h"
#include "worker/socks_assoc.h"
#include "worker/udp_via.h"
#include "worker/worker-t.h"

/* RSV FRAG ATYP, an IPv6 address and a port: the longest header sent. */
#define UDP_VIA_HDR_MAX  22
#define UDP_VIA_DISCARD  512    /* bytes read per event from an association's control connection */

enum udp_via_state {
	UDP_VIA_CONNECTING,     /* the TCP connect to hop 1 is under way */
	UDP_VIA_HANDSHAKE,      /* the hops' handshakes (chain.c) */
	UDP_VIA_UP              /* the association is up; its connection is watched for its end */
};

struct udp_via_ctl {
	struct udp_via *v;
	struct stream s;
	enum udp_via_state state;
	uint8_t k;              /* the hop asked for the association */
	uint8_t hop;            /* HANDSHAKE: the hop being spoken to */
	uint8_t step;           /* HANDSHAKE: where its handshake is */
	union conn_addr bnd;    /* UP: where hop k takes the datagrams */
};

struct udp_via {
	size_t cap;             /* ctl[] allocated */
	struct conn *c;
	const struct conf_via *via;
	udp_via_up_cb up;
	size_t nup;             /* associations up */
	unsigned relaying:1;    /* all are up and the session socket sends to BND 1 */
	union conn_addr local;  /* the session socket's address, named to hop 1 */
	struct buf *held;       /* the client's datagrams while not all are up; NULL: none */
	size_t hdr_len;
	uint8_t hdr[CONF_VIA_MAX * UDP_VIA_HDR_MAX]; /* the headers of every datagram sent */
	struct udp_via_ctl ctl[];  /* via->n of them */
};

static void udp_via_ctl_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);

static const struct conf_server *
udp_via_server(const struct conn *c)
{
	return &c->w->cy->conf->upstreams[c->upstream].servers[c->server_idx];
}

static socklen_t
udp_via_addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

/*
 * Says that a hop failed: detail names it and why ("hop 1 of 2
 * (socks5://...): Connection refused").
 */
static void
udp_via_log(const struct udp_via *v, const char *detail)
{
	const struct conn *c = v->c;
	char client[ADDR_STRLEN];

	log_warnx("UDP association through proxies for udp server %s failed (%s) while %s, "
	    "client: %s, listener: %s", udp_via_server(c)->address, detail,
	    v->relaying ? "relaying datagrams" : "opening the session",
	    addr_format(&c->peer.sa, client, sizeof(client)),
	    c->w->cy->conf->listeners[c->listener].name);
}

/* "hop 2 of 3 (socks5://...): why" of hop (0-based). */
static void
udp_via_hop_detail(const struct udp_via *v, size_t hop, const char *why, char *buf,
    size_t len)
{
	snprintf(buf, len, "hop %zu of %zu (%s): %s", hop + 1, v->via->n,
	    v->via->hops[hop].label, why);
}

/* The end of the session for hop's failure; end is the session's end for its log line. */
static void
udp_via_end_hop(struct udp_via *v, size_t hop, const char *why, const char *end)
{
	char detail[300];

	udp_via_hop_detail(v, hop, why, detail, sizeof(detail));
	udp_via_log(v, detail);
	conn_close(v->c, end);
}

void
udp_via_first(const struct udp_via *v, char *buf, size_t len)
{
	snprintf(buf, len, "hop 1 of %zu (%s)", v->via->n, v->via->hops[0].label);
}

/* ------------------------------------------------------------ the associations */

/*
 * The chain of control connection x, from what x keeps: hop x->k is
 * asked for UDP ASSOCIATE from where the datagrams will come (to).
 */
static void
udp_via_chain(struct udp_via_ctl *x, struct chain *ch, struct socks_addr *to)
{
	memset(ch, 0, sizeof(*ch));
	memset(to, 0, sizeof(*to));
	to->atyp = SOCKS5_ATYP_IPV4;
	if (x->k == 0)
		(void)socks_addr_from_sockaddr(to, &x->v->local.sa);
	ch->s = &x->s;
	ch->via = x->v->via;
	ch->target = to;
	ch->last = x->k;
	ch->cmd = SOCKS_CMD_UDP;
	ch->hop = x->hop;
	ch->step = x->step;
}

/*
 * Every association is up: the headers, the session socket connected
 * to BND 1, and the session told.  CT_ERROR: the session is closed.
 */
static int
udp_via_ready(struct udp_via *v)
{
	struct conn *c = v->c;
	struct sockaddr_storage other;
	const struct sockaddr *to = &v->ctl[0].bnd.sa;
	size_t k;

	v->hdr_len = 0;
	for (k = 1; k < v->via->n; k++)
		v->hdr_len += socks5_udp_header_build(v->hdr + v->hdr_len, &v->ctl[k].bnd.sa);
	v->hdr_len += socks5_udp_header_build(v->hdr + v->hdr_len,
	    (const struct sockaddr *)&udp_via_server(c)->addr.ss);
	/* A dual-stack hop may name an IPv4 BND to a socket of the other spelling. */
	if (to->sa_family != v->local.sa.sa_family && addr_other_form(to, &other))
		to = (const struct sockaddr *)&other;
	if (connect(c->server.fd, to, udp_via_addr_len(to)) == -1) {
		char why[160];

		snprintf(why, sizeof(why), "connect() to its BND failed (%d: %s)", errno,
		    strerror(errno));
		udp_via_end_hop(v, 0, why, "hop failed");
		return CT_ERROR;
	}
	v->relaying = 1;
	v->up(c);
	return CT_OK;
}

/*
 * Hop x->k answered its UDP ASSOCIATE with bnd: where it takes the
 * datagrams, its own address when bnd is unspecified.
 */
static void
udp_via_bound(struct udp_via_ctl *x, const struct socks_addr *bnd)
{
	struct udp_via *v = x->v;
	const struct addr *hop = &v->via->hops[x->k].addr;
	struct sockaddr_storage ss;
	static const uint8_t zero[16];
	uint16_t port = bnd->port;

	if (socks_addr_to_sockaddr(bnd, &ss) == 0) {
		udp_via_end_hop(v, x->k, "UDP ASSOCIATE answered with a name for BND.ADDR",
		    "hop failed");
		return;
	}
	if (memcmp(bnd->ip, zero, bnd->atyp == SOCKS5_ATYP_IPV4 ? 4 : 16) == 0) {
		memcpy(&ss, &hop->ss, hop->len);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)(void *)&ss)->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)(void *)&ss)->sin6_port = htons(port);
	}
	memcpy(&x->bnd, &ss, sizeof(x->bnd));
	x->state = UDP_VIA_UP;
	/* Nothing more is asked: the connection is read for its end, level-triggered. */
	if (ev_io_set(v->c->w->loop, &x->s.io, STREAM_READ_EVENTS) != CT_OK) {
		conn_close(v->c, "internal error");
		return;
	}
	if (++v->nup == v->via->n)
		(void)udp_via_ready(v);
}

/* An association is up: bytes on its control connection mean nothing, its end ends it. */
static void
udp_via_watch(struct udp_via_ctl *x)
{
	uint8_t sink[UDP_VIA_DISCARD];
	char why[160];
	ssize_t n;

	n = x->s.ops->read(&x->s, sink, sizeof(sink));
	if (n == CT_DONE) {
		udp_via_end_hop(x->v, x->k, "closed the control connection of its association",
		    "hop closed");
	} else if (n == CT_ERROR) {
		snprintf(why, sizeof(why), "the control connection of its association failed "
		    "(%d: %s)", errno, strerror(errno));
		udp_via_end_hop(x->v, x->k, why, "hop closed");
	}
}

static void
udp_via_ctl_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct udp_via_ctl *x = io->data;
	char detail[300];
	struct socks_addr to;
	struct chain ch;
	int err, rc;

	(void)loop;
	stream_event(&x->s, events);
	if (x->state == UDP_VIA_UP) {
		udp_via_watch(x);
		return;
	}
	udp_via_chain(x, &ch, &to);
	if (x->state == UDP_VIA_CONNECTING) {
		if ((err = stream_connect_result(&x->s, events)) != 0) {
			udp_via_end_hop(x->v, 0, strerror(err), "hop failed");
			return;
		}
		x->state = UDP_VIA_HANDSHAKE;
		rc = chain_begin(&ch);
	} else {
		rc = chain_run(&ch);
	}
	x->hop = ch.hop;
	x->step = ch.step;
	if (rc == CT_OK) {
		udp_via_bound(x, &ch.bnd);
	} else if (rc == CT_ERROR) {
		chain_describe(&ch, detail, sizeof(detail));
		udp_via_log(x->v, detail);
		conn_close(x->v->c, "hop failed");
	}
}

struct udp_via *
udp_via_open(struct conn *c, struct udp_via *spare, udp_via_up_cb up)
{
	const struct conf_via *via = &c->w->cy->conf->upstreams[c->upstream].via;
	socklen_t len = sizeof(union conn_addr);
	struct udp_via_ctl *x;
	struct udp_via *v = spare;
	char why[160], detail[300];
	size_t k;
	int err;

	if (v == NULL || v->cap < via->n) {
		free(v);
		if ((v = malloc(sizeof(*v) + via->n * sizeof(v->ctl[0]))) == NULL) {
			log_warnx("out of memory for the UDP associations of a session");
			return NULL;
		}
		v->cap = via->n;
	}
	k = v->cap;
	memset(v, 0, sizeof(*v) + k * sizeof(v->ctl[0]));
	v->cap = k;
	v->c = c;
	v->via = via;
	v->up = up;
	/* A session counts for two descriptors: its socket and one control connection. */
	c->w->fds_extra += via->n - 1;
	for (k = 0; k < via->n; k++) {
		v->ctl[k].v = v;
		v->ctl[k].k = (uint8_t)k;
		v->ctl[k].s.fd = -1;
	}
	if (getsockname(c->server.fd, &v->local.sa, &len) == -1) {
		snprintf(why, sizeof(why), "getsockname() of the session's socket failed (%d: %s)",
		    errno, strerror(errno));
		goto fail;
	}
	for (k = 0; k < via->n; k++) {
		x = &v->ctl[k];
		err = stream_connect(&x->s, &via->hops[0].addr, udp_via_ctl_io, x);
		/* Connected at once or not, the first event says so (edge-triggered: once). */
		if ((err == 0 || err == EINPROGRESS) && ev_io_set(c->w->loop, &x->s.io,
		    STREAM_READ_EVENTS | EPOLLOUT | EPOLLET) != CT_OK)
			err = errno;
		else if (err == EINPROGRESS)
			err = 0;
		if (err != 0) {
			snprintf(why, sizeof(why), "%s", strerror(err));
			goto fail;
		}
	}
	return v;
fail:
	/* Not the session's yet: the caller closes it. */
	udp_via_hop_detail(v, 0, why, detail, sizeof(detail));
	udp_via_log(v, detail);
	udp_via_close(v);
	free(v);
	return NULL;
}

int
udp_via_up(const struct udp_via *v)
{
	return v->relaying;
}

void
udp_via_expired(struct udp_via *v)
{
	const struct udp_via_ctl *x = v->ctl;
	size_t k;

	for (k = 0; k < v->via->n && v->ctl[k].state == UDP_VIA_UP; k++)
		continue;
	if (k < v->via->n)
		x = &v->ctl[k];
	udp_via_end_hop(v, x->state == UDP_VIA_CONNECTING ? 0 : x->hop,
	    x->state == UDP_VIA_CONNECTING ? "connect() timed out" : "did not answer in time",
	    "hop timeout");
}

void
udp_via_close(struct udp_via *v)
{
	struct conn *c;
	size_t k;

	if (v == NULL || v->c == NULL)
		return;
	c = v->c;
	for (k = 0; k < v->via->n; k++)
		stream_close(c->w->loop, &v->ctl[k].s);
	if (v->held != NULL)
		buf_put(&c->w->bufs, v->held);
	v->held = NULL;
	c->w->fds_extra -= v->via->n - 1;
	v->c = NULL;
}

void
udp_via_free(struct udp_via *v)
{
	udp_via_close(v);
	free(v);
}

/* ------------------------------------------------------------ datagrams */

int
udp_via_hold(struct udp_via *v, const void *data, size_t len)
{
	if (v->held == NULL && (v->held = buf_get(&v->c->w->bufs)) == NULL)
		return CT_DECLINED;
	return socks_assoc_wait_push(v->held, 0, 0, data, len);
}

struct buf *
udp_via_take_held(struct udp_via *v)
{
	struct buf *b = v->held;

	v->held = NULL;
	return b;
}

ssize_t
udp_via_send(const struct udp_via *v, int fd, const void *data, size_t len)
{
	struct msghdr msg;
	struct iovec iov[2];

	iov[0].iov_base = (void *)(uintptr_t)v->hdr;
	iov[0].iov_len = v->hdr_len;
	iov[1].iov_base = (void *)(uintptr_t)data;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	return sendmsg(fd, &msg, 0);
}

/* Does a, from a header, name sa (in either spelling of an IPv4 address)? */
static int
udp_via_names(const struct socks_addr *a, const struct sockaddr *sa)
{
	struct sockaddr_storage got, other;

	if (socks_addr_to_sockaddr(a, &got) == 0)
		return 0;
	if (addr_equal((const struct sockaddr *)&got, sa))
		return 1;
	return addr_other_form(sa, &other) &&
	    addr_equal((const struct sockaddr *)&got, (const struct sockaddr *)&other);
}

int
udp_via_unwrap(const struct udp_via *v, const uint8_t *buf, size_t n, size_t *off,
    enum shm_udp_drop *why, const char **what)
{
	const struct sockaddr *from;
	struct socks5_udp h;
	size_t k, o = 0;
	int rc;

	for (k = 0; k < v->via->n; k++) {
		rc = socks5_udp_parse(buf + o, n - o, &h);
		if (rc != CT_OK) {
			*why = rc == CT_DECLINED ? SHM_UDP_DROP_FRAGMENT : SHM_UDP_DROP_HEADER;
			*what = h.error;
			return CT_DECLINED;
		}
		from = k + 1 < v->via->n ? &v->ctl[k + 1].bnd.sa :
		    (const struct sockaddr *)&udp_via_server(v->c)->addr.ss;
		if (!udp_via_names(&h.dst, from)) {
			*why = SHM_UDP_DROP_PEER;
			*what = k + 1 < v->via->n ? "a header does not name the next hop" :
			    "the header does not name the server";
			return CT_DECLINED;
		}
		o += h.data_off;
	}
	*off = o;
	return CT_OK;
}

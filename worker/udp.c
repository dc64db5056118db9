/*
 * mode udp: an L4 load balancer for datagrams, as nginx's stream proxy
 * with "listen ... udp".
 *
 *   client --datagram--> this slot's listening socket (SO_REUSEPORT:
 *      |                 the kernel hashes the 4-tuple, so one client
 *      |                 keeps to one worker)
 *      +--session table (listener, client address)--found--> send() on
 *      |                                             the session's socket
 *      +--new client: acl, max_sessions, a server from the balancer, a
 *                     connected UDP socket to it --> send()
 *
 *   server --datagram--> the session's connected socket --> sendmsg() to
 *                        the client from the listening socket (from the
 *                        address the client sent to, on a wildcard one)
 *
 * A session is a connection slot (struct conn) whose client side has no
 * socket: its server side is the connected socket and its ctx a struct
 * udp_session.  So the core counts a session, lists it in the control
 * API ("cuttlectl conns"), kills it and logs it at its end like any
 * connection, through the one close path, and sessions share the
 * worker_connections and descriptor budgets with connections; a table
 * of their own would need a second list, kill and log path.  What this
 * mode keeps apart is the table that finds a session by client
 * (udp_table.h) and the session records, allocated once per worker.
 *
 * A session ends when no datagram went either way for session_timeout,
 * when the server has sent `responses` datagrams for each of the
 * client's, or when the server refuses datagrams (an ICMP port
 * unreachable, which the connected socket reports as ECONNREFUSED):
 * that counts as a passive failure of the server, as a failed connect
 * does for tcp.  The client's datagram in flight is not sent again:
 * its next one opens a session with whichever server the balancer
 * picks then.
 *
 * An upstream with "via" (SOCKS 5 hops only) is reached through a UDP
 * ASSOCIATE with each hop, asked on control connections of the
 * session's own, and every datagram goes wrapped in a SOCKS UDP header
 * per hop (udp_via.c has the design).  The session's socket is
 * connected to the first hop; until the associations are up the
 * listener's udp.connect_timeout runs instead of session_timeout, and
 * the client's datagrams wait (a few, in a pool buffer).  A hop that
 * fails or goes away ends the session, without blaming the server.
 *
 * Nothing of a datagram outlives the event that read it: one buffer per
 * worker, sized for the largest datagram, serves both directions, and
 * a datagram that a socket does not take at once is dropped and
 * counted, as a router would.  Datagrams pass whole: each read and
 * each send is one datagram.  An event reads at most UDP_BATCH
 * datagrams from one socket; registrations are level-triggered, so the
 * rest is read in the next iteration, after the other ready sockets.
 *
 * On a reload or a graceful stop the worker stops reading its listening
 * sockets (the next generation's worker of the slot reads the same
 * ones, and a client's next datagram opens a session there), and the
 * sessions open here relay the server's replies through the sockets the
 * worker keeps until they end or shutdown_timeout stops the worker.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "worker/acl.h"
#include "worker/conn.h"
#include "worker/socks_assoc.h"
#include "worker/udp.h"
#include "worker/udp_table.h"
#include "worker/udp_via.h"
#include "worker/upstream.h"
#include "worker/worker-t.h"

/* The largest UDP payload is 65,507 bytes over IPv4 and 65,527 over IPv6. */
#define UDP_DGRAM_MAX   65536
#define UDP_BATCH       32          /* datagrams read per event from one socket */
#define UDP_SAY_MS      60000       /* a reason for drops is logged once a minute at most */

struct udp_session {
	struct udp_entry entry;         /* first: the table's entry is the session */
	struct udp_session *next_free;
	struct conn *c;
	const struct worker_listener *wl; /* where replies leave from */
	struct udp_via *via;            /* the upstream's SOCKS 5 hops' associations, or NULL */
	struct udp_via *spare;          /* closed ones of an earlier session, kept for the next */
	union conn_addr local;          /* the address the client sent to (wildcard listener); family 0: none */
	uint64_t dgrams_in;             /* from the client, sent on */
	uint64_t dgrams_out;            /* to the client */
	uint64_t replies;               /* from the server, sent on or not */
	uint64_t asked_ms;              /* when the first datagram went to the server */
	unsigned answered:1;            /* the server's first reply came */
};

/* What the mode keeps per worker (w->modes[CONF_MODE_UDP]), made at the first datagram. */
struct udp_worker {
	unsigned char *buf;             /* one datagram, either way */
	struct udp_session *sessions;   /* every record there can be */
	size_t nsessions;
	struct udp_session *free;
	struct udp_table table;
	unsigned *open;                 /* per listener: its sessions open */
	uint64_t (*said)[SHM_UDP_DROPS]; /* per listener and reason: when drops were last logged */
	/* The datagrams of the session conn_close() is closing, for its access-log line. */
	uint64_t ended_in;
	uint64_t ended_out;
};

/* Control data of one datagram: its IP_PKTINFO or IPV6_PKTINFO. */
union udp_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

static void udp_server_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
static void udp_session_up(struct conn *c);

static const struct conf_listener *
udp_listener(const struct worker *w, size_t index)
{
	return &w->cy->conf->listeners[index];
}

/* ------------------------------------------------------------ per worker */

static void
udp_worker_free(struct udp_worker *uw)
{
	size_t i;

	for (i = 0; uw->sessions != NULL && i < uw->nsessions; i++)
		udp_via_free(uw->sessions[i].spare);
	udp_table_free(&uw->table);
	free(uw->buf);
	free(uw->sessions);
	free(uw->open);
	free(uw->said);
	free(uw);
}

/*
 * The mode's state, made at the first datagram: as many session records
 * as the udp listeners' max_sessions add up to, within the worker's
 * connection slots, and the table's buckets for them.  NULL: out of
 * memory, logged.
 */
static struct udp_worker *
udp_worker_get(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	struct udp_worker *uw = w->modes[CONF_MODE_UDP];
	uint64_t seed[2];
	size_t i, max = 0;

	if (uw != NULL)
		return uw;
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].mode == CONF_MODE_UDP)
			max += conf->listeners[i].udp.max_sessions;
	max = CT_MIN(max, (size_t)conf->worker_connections);
	if ((uw = calloc(1, sizeof(*uw))) == NULL)
		goto fail;
	uw->buf = malloc(UDP_DGRAM_MAX);
	if ((uw->sessions = calloc(max, sizeof(*uw->sessions))) != NULL)
		uw->nsessions = max;
	uw->open = calloc(conf->nlisteners, sizeof(*uw->open));
	uw->said = calloc(conf->nlisteners, sizeof(*uw->said));
	if (uw->buf == NULL || uw->sessions == NULL || uw->open == NULL || uw->said == NULL ||
	    RAND_bytes((unsigned char *)seed, sizeof(seed)) != 1 ||
	    udp_table_init(&uw->table, max, seed) != CT_OK)
		goto fail;
	for (i = max; i-- > 0;) {
		uw->sessions[i].next_free = uw->free;
		uw->free = &uw->sessions[i];
	}
	w->modes[CONF_MODE_UDP] = uw;
	return uw;
fail:
	log_warnx("worker %u: out of memory for %zu udp sessions", w->slot, max);
	if (uw != NULL)
		udp_worker_free(uw);
	return NULL;
}

/* The worker exits: the records go once no session holds one. */
static void
udp_exit(struct worker *w)
{
	struct udp_worker *uw = w->modes[CONF_MODE_UDP];

	if (uw == NULL || uw->table.n > 0)
		return;
	udp_worker_free(uw);
	w->modes[CONF_MODE_UDP] = NULL;
}

/* ------------------------------------------------------------ drops */

static void
udp_count_drop(const struct worker *w, size_t listener, enum shm_udp_drop why)
{
	int idx = w->cy->listen[listener].stats;

	if (idx >= 0)
		atomic_fetch_add_explicit(&shm_listener_get(w->cy->shm, idx)->udp_dropped[why], 1,
		    memory_order_relaxed);
}

/* Should drops of listener for why be logged now?  Once a minute at most. */
static int
udp_say(struct udp_worker *uw, const struct worker *w, size_t listener, enum shm_udp_drop why)
{
	uint64_t now = ev_now(w->loop), *said = &uw->said[listener][why];

	if (*said != 0 && now - *said < UDP_SAY_MS)
		return 0;
	*said = now;
	return 1;
}

/* A new client finds no room: counted, and said once a minute. */
static void
udp_refuse(struct udp_worker *uw, const struct worker_listener *wl)
{
	const struct worker *w = wl->w;
	const struct conf_listener *l = udp_listener(w, wl->index);
	char why[160];

	udp_count_drop(w, wl->index, SHM_UDP_DROP_SESSIONS);
	if (!udp_say(uw, w, wl->index, SHM_UDP_DROP_SESSIONS))
		return;
	if (uw->open[wl->index] >= l->udp.max_sessions)
		snprintf(why, sizeof(why), "its max_sessions %u are open", l->udp.max_sessions);
	else if (w->free == NULL || uw->free == NULL)
		snprintf(why, sizeof(why), "the %u worker_connections are in use",
		    w->cy->conf->worker_connections);
	else
		snprintf(why, sizeof(why), "the open files limit %zu leaves no descriptor",
		    w->fds_limit);
	log_warnx("listener \"%s\": %s; datagrams from new clients are dropped", l->name, why);
}

/* ------------------------------------------------------------ sessions */

/*
 * A connected socket to a server of the listener's upstream, picked by
 * its balancer for the client; the server's index in *idx.  A server
 * whose address cannot be reached at all counts a passive failure and
 * the next one is tried.  Through hops (via), the socket is connected
 * to the first hop's address, which fixes the address it sends from
 * (udp_via.c), and a failure is the path's, not the server's: nothing
 * else is tried.  -1: none (counted and said).
 */
static int
udp_server_open(struct udp_worker *uw, const struct worker_listener *wl,
    const union conn_addr *peer, int *idx)
{
	const struct worker *w = wl->w;
	const struct conf_listener *l = udp_listener(w, wl->index);
	const struct lb_upstream *u = &w->cy->upstreams[l->upstream];
	const struct conf_via *via = &u->conf->via;
	char client[ADDR_STRLEN];
	struct lb_tried tried;
	const struct addr *to;
	const void *key;
	size_t keylen;
	int fd, err;

	memset(&tried, 0, sizeof(tried));
	key = lb_key_addr(&peer->sa, &keylen);
	while ((*idx = lb_pick(u, w->cy->shm, &tried, key, keylen)) != -1) {
		const struct conf_server *s = &u->conf->servers[*idx];

		lb_tried_add(&tried, *idx);
		if (lb_admit(u, w->cy->shm, *idx) != CT_OK)
			continue;
		to = via->n > 0 ? &via->hops[0].addr : &s->addr;
		fd = socket(to->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd != -1 && connect(fd, (const struct sockaddr *)&to->ss, to->len) == 0)
			return fd;
		err = errno;
		lb_release(u, w->cy->shm, *idx);
		if (fd != -1)
			close(fd);
		if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
			udp_refuse(uw, wl);
			return -1;
		}
		log_warnx("connect() to udp %s %s failed (%d: %s), client: %s, listener: %s",
		    via->n > 0 ? "proxy" : "server", via->n > 0 ? via->hops[0].label : s->address,
		    err, strerror(err), addr_format(&peer->sa, client, sizeof(client)), l->name);
		if (via->n > 0) {
			udp_count_drop(w, wl->index, SHM_UDP_DROP_NO_SERVER);
			return -1;
		}
		lb_passive_fail(u, w->cy->shm, *idx,
		    ev_now(w->loop));
	}
	udp_count_drop(w, wl->index, SHM_UDP_DROP_NO_SERVER);
	if (lb_capped(u, w->cy->shm) > 0)
		return -1;
	if (udp_say(uw, w, wl->index, SHM_UDP_DROP_NO_SERVER))
		log_warnx("listener \"%s\": no server of upstream \"%s\" is available; datagrams "
		    "from new clients are dropped", l->name, u->conf->name);
	return -1;
}

/* The address a datagram was sent to, from its IP_PKTINFO (wildcard listeners). */
static void
udp_local_get(struct msghdr *msg, union conn_addr *local)
{
	struct cmsghdr *cm;

	memset(local, 0, sizeof(*local));
	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->in.sin_family = AF_INET;
			local->in.sin_addr = pi.ipi_addr;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			local->in6.sin6_family = AF_INET6;
			local->in6.sin6_addr = pi.ipi6_addr;
		}
	}
}

/*
 * Opens the session of a new client, whose datagram msg is: the
 * listener's acl and limits, a server, a connection slot.  NULL: the
 * datagram is dropped (counted).
 */
static struct udp_session *
udp_session_open(struct udp_worker *uw, const struct worker_listener *wl, struct msghdr *msg,
    const struct udp_key *k, uint64_t h)
{
	struct worker *w = wl->w;
	const struct conf_listener *l = udp_listener(w, wl->index);
	const union conn_addr *peer = msg->msg_name;
	/* Through hops: a control connection each, one of them in the session's two descriptors. */
	size_t hops = w->cy->upstreams[l->upstream].conf->via.n, extra = hops > 0 ? hops - 1 : 0;
	struct udp_session *s;
	struct udp_via *spare;
	struct conn *c;
	int fd, idx, fds_short;

	if (!acl_allows(&l->acl, &peer->sa)) {
		udp_count_drop(w, wl->index, SHM_UDP_DROP_ACL);
		return NULL;
	}
	w->fds_extra += extra;
	fds_short = conn_fds_short(w);
	w->fds_extra -= extra;
	if (uw->open[wl->index] >= l->udp.max_sessions || uw->free == NULL || w->free == NULL ||
	    fds_short) {
		udp_refuse(uw, wl);
		return NULL;
	}
	if ((fd = udp_server_open(uw, wl, peer, &idx)) == -1)
		return NULL;
	c = conn_get(w, -1, &peer->sa, msg->msg_namelen, wl->index, &udp_mode);
	s = uw->free;
	uw->free = s->next_free;
	spare = s->spare;
	memset(s, 0, sizeof(*s));
	s->spare = spare;
	s->c = c;
	s->wl = wl;
	udp_local_get(msg, &s->local);
	c->ctx = s;
	udp_table_add(&uw->table, &s->entry, k, h);
	uw->open[wl->index]++;
	c->upstream = (uint32_t)l->upstream;
	upstream_use(c, idx);
	atomic_fetch_add_explicit(&shm_backend_get(w->cy->shm, c->backend)->total, 1,
	    memory_order_relaxed);
	stream_init(&c->server, fd, udp_server_io, c);
	/* Through hops, the connect timeout runs until the associations are up. */
	if (ev_io_set(w->loop, &c->server.io, EPOLLIN) != CT_OK ||
	    ev_timer_start(w->loop, &c->timer, hops > 0 ? l->udp.connect_timeout_ms :
	    l->udp.session_timeout_ms) != CT_OK) {
		log_warn("cannot watch the udp session of a client of listener \"%s\"", l->name);
		conn_close(c, "internal error");
		return NULL;
	}
	if (hops > 0) {
		s->spare = NULL;
		if ((s->via = udp_via_open(c, spare, udp_session_up)) == NULL) {
			udp_count_drop(w, wl->index, SHM_UDP_DROP_NO_SERVER);
			conn_close(c, "hop failed");
			return NULL;
		}
	}
	return s;
}

/*
 * The server's socket reported an error: an ICMP port or host
 * unreachable for a datagram sent to it.  A passive failure of the
 * server, and the end of the session.  Through hops, the first hop's
 * relay refused them: the association is gone there, which says
 * nothing of the server.
 */
static void
udp_server_failed(struct conn *c, const char *call, int err)
{
	const struct lb_upstream *u = &c->w->cy->upstreams[c->upstream];
	const struct udp_session *s = c->ctx;
	char client[ADDR_STRLEN], first[200], hop[210];

	hop[0] = '\0';
	if (s->via != NULL) {
		udp_via_first(s->via, first, sizeof(first));
		snprintf(hop, sizeof(hop), "%s: ", first);
	}
	log_warnx("%s udp server %s failed (%s%d: %s) while relaying datagrams, client: %s, "
	    "listener: %s", call, u->conf->servers[c->server_idx].address, hop, err,
	    strerror(err), addr_format(&c->peer.sa, client, sizeof(client)),
	    udp_listener(c->w, c->listener)->name);
	if (s->via != NULL) {
		conn_close(c, "hop refused datagrams");
		return;
	}
	lb_passive_fail(u, c->w->cy->shm, c->server_idx,
	    ev_now(c->w->loop));
	conn_close(c, err == ECONNREFUSED ? "server refused datagrams" : "server unreachable");
}

/* Errors of a connected UDP socket that an ICMP message from the server's side raised. */
static int
udp_unreachable(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
	    err == EHOSTDOWN;
}

/* ------------------------------------------------------------ client to server */

/*
 * A client's datagram of n bytes to the server of session s, through
 * the hops if it has them: sent and counted, or dropped and counted.
 */
static void
udp_forward(struct conn *c, struct udp_session *s, const void *data, size_t n)
{
	ssize_t rc = s->via != NULL ? udp_via_send(s->via, c->server.fd, data, n) :
	    send(c->server.fd, data, n, 0);

	if (rc == -1) {
		if (udp_unreachable(errno))
			udp_server_failed(c, "send() to", errno);
		else
			udp_count_drop(c->w, c->listener, SHM_UDP_DROP_SEND);
		return;
	}
	if (s->asked_ms == 0)
		s->asked_ms = ev_now(c->w->loop);
	s->dgrams_in++;
	c->from_client += n;
	c->to_server += n;
	conn_rec_bytes(c);
	/* Later than it was: the heap entry stays, and only its deadline moves. */
	(void)ev_timer_start(c->w->loop, &c->timer,
	    udp_listener(c->w, c->listener)->udp.session_timeout_ms);
}

/* A datagram that waited for the associations (arg: its session's conn). */
static void
udp_held_send(void *arg, uint16_t port, const uint8_t *data, size_t len)
{
	struct conn *c = arg;

	(void)port;
	/* A failure of an earlier one may have closed the session. */
	if (c->state == CONN_OPEN)
		udp_forward(c, c->ctx, data, len);
}

/*
 * The associations of c's hops are up: the session timeout runs from
 * now, and the datagrams that waited go, in their order.
 */
static void
udp_session_up(struct conn *c)
{
	struct udp_session *s = c->ctx;
	struct worker *w = c->w;
	struct buf *b = udp_via_take_held(s->via);

	(void)ev_timer_start(w->loop, &c->timer,
	    udp_listener(w, c->listener)->udp.session_timeout_ms);
	if (b == NULL)
		return;
	(void)socks_assoc_wait_flush(b, 0, udp_held_send, c);
	buf_put(&w->bufs, b);
}

/* One datagram of n bytes in the buffer, from the client msg names. */
static void
udp_datagram(struct udp_worker *uw, const struct worker_listener *wl, struct msghdr *msg,
    size_t n)
{
	const union conn_addr *peer = msg->msg_name;
	struct udp_session *s;
	struct udp_key k;
	uint64_t h;

	if (udp_key_set(&k, wl->index, &peer->sa) != CT_OK)
		return;
	h = udp_table_hash(&uw->table, &k);
	s = (struct udp_session *)udp_table_find(&uw->table, &k, h);
	if (s == NULL && (s = udp_session_open(uw, wl, msg, &k, h)) == NULL)
		return;
	if (s->via != NULL && !udp_via_up(s->via)) {
		if (udp_via_hold(s->via, uw->buf, n) != CT_OK)
			udp_count_drop(wl->w, wl->index, SHM_UDP_DROP_WAIT);
		return;
	}
	udp_forward(s->c, s, uw->buf, n);
}

/*
 * The listening socket is readable: up to UDP_BATCH datagrams, each to
 * its client's session.
 */
static void
udp_listener_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct worker_listener *wl = io->data;
	struct udp_worker *uw = udp_worker_get(wl->w);
	union conn_addr peer;
	union udp_ctl ctl;
	struct msghdr msg;
	struct iovec iov;
	ssize_t n;
	int i;

	(void)events;
	if (uw == NULL) {
		log_warnx("listener \"%s\" is no longer read", udp_listener(wl->w, wl->index)->name);
		ev_io_stop(loop, io);
		return;
	}
	for (i = 0; i < UDP_BATCH; i++) {
		iov.iov_base = uw->buf;
		iov.iov_len = UDP_DGRAM_MAX;
		memset(&msg, 0, sizeof(msg));
		msg.msg_name = &peer;
		msg.msg_namelen = sizeof(peer);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(wl->fd, &msg, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("recvmsg() on listener \"%s\" failed",
				    udp_listener(wl->w, wl->index)->name);
			return;
		}
		udp_datagram(uw, wl, &msg, (size_t)n);
	}
}

/* ------------------------------------------------------------ server to client */

/* Makes msg send from local, the address the client sent to. */
static void
udp_local_put(struct msghdr *msg, union udp_ctl *ctl, const union conn_addr *local)
{
	struct in6_pktinfo pi6;
	struct in_pktinfo pi;
	struct cmsghdr *cm;
	const void *data = &pi;
	size_t len = sizeof(pi);

	memset(ctl, 0, sizeof(*ctl));
	memset(&pi, 0, sizeof(pi));
	memset(&pi6, 0, sizeof(pi6));
	msg->msg_control = ctl->buf;
	msg->msg_controllen = sizeof(ctl->buf);
	cm = CMSG_FIRSTHDR(msg);
	if (local->sa.sa_family == AF_INET) {
		pi.ipi_spec_dst = local->in.sin_addr;
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
	} else {
		pi6.ipi6_addr = local->in6.sin6_addr;
		data = &pi6;
		len = sizeof(pi6);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
	}
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
	msg->msg_controllen = CMSG_SPACE(len);
}

/*
 * One datagram of n bytes from the server, data (in the buffer), to the
 * client.  CT_DONE: that was the last the session waited for, and it is
 * closed.
 */
static int
udp_reply(struct conn *c, struct udp_session *s, const unsigned char *data, size_t n)
{
	const struct conf_listener *l = udp_listener(c->w, c->listener);
	struct msghdr msg;
	union udp_ctl ctl;
	struct iovec iov;

	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = n;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &c->peer;
	msg.msg_namelen = c->peer.sa.sa_family == AF_INET6 ? sizeof(c->peer.in6) :
	    sizeof(c->peer.in);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (s->local.sa.sa_family != 0)
		udp_local_put(&msg, &ctl, &s->local);
	s->replies++;
	if (sendmsg(s->wl->fd, &msg, 0) == -1) {
		udp_count_drop(c->w, c->listener, SHM_UDP_DROP_REPLY);
	} else {
		s->dgrams_out++;
		c->from_server += n;
		c->to_client += n;
		conn_rec_bytes(c);
	}
	if (!s->answered) {
		s->answered = 1;
		lb_observe(&c->w->cy->upstreams[c->upstream], c->w->cy->shm, c->server_idx,
		    (ev_now(c->w->loop) - s->asked_ms) * 1000);
	}
	if (l->udp.responses != 0 && s->replies >= (uint64_t)l->udp.responses * s->dgrams_in) {
		conn_close(c, "responses");
		return CT_DONE;
	}
	(void)ev_timer_start(c->w->loop, &c->timer, l->udp.session_timeout_ms);
	return CT_OK;
}

/*
 * A datagram of n bytes from the first hop, in the buffer: where the
 * server's bytes begin in *off, or CT_DECLINED (dropped, counted, and
 * said once a minute).
 */
static int
udp_unwrap(struct udp_worker *uw, struct conn *c, struct udp_session *s, size_t n,
    size_t *off)
{
	const struct conf_listener *l = udp_listener(c->w, c->listener);
	enum shm_udp_drop why;
	const char *what;
	char hop[200];

	if (udp_via_unwrap(s->via, uw->buf, n, off, &why, &what) == CT_OK)
		return CT_OK;
	udp_count_drop(c->w, c->listener, why);
	if (udp_say(uw, c->w, c->listener, why)) {
		udp_via_first(s->via, hop, sizeof(hop));
		log_warnx("listener \"%s\": a datagram from %s of upstream \"%s\" is dropped: %s "
		    "(the next ones for this reason are only counted for a minute)", l->name, hop,
		    c->w->cy->upstreams[c->upstream].conf->name, what);
	}
	return CT_DECLINED;
}

/* The session's socket is readable (or has an error): up to UDP_BATCH datagrams. */
static void
udp_server_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;
	struct udp_session *s = c->ctx;
	struct udp_worker *uw = c->w->modes[CONF_MODE_UDP];
	size_t off;
	ssize_t n;
	int i;

	(void)loop;
	(void)events;
	for (i = 0; i < UDP_BATCH; i++) {
		n = recv(c->server.fd, uw->buf, UDP_DGRAM_MAX, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				udp_server_failed(c, "recv() from", errno);
			return;
		}
		off = 0;
		/* Before the associations are up, nothing is sent from here to answer. */
		if (s->via != NULL && (!udp_via_up(s->via) ||
		    udp_unwrap(uw, c, s, (size_t)n, &off) != CT_OK))
			continue;
		if (udp_reply(c, s, uw->buf + off, (size_t)n - off) == CT_DONE)
			return;
	}
}

/* ------------------------------------------------------------ the row */

static void
udp_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	struct udp_session *s = c->ctx;

	(void)loop;
	if (s->via != NULL && !udp_via_up(s->via))
		udp_via_expired(s->via);
	else
		conn_close(c, "session timeout");
}

/* A datagram that waited for associations that never came up (arg: its conn). */
static void
udp_held_lost(void *arg, uint16_t port, const uint8_t *data, size_t len)
{
	struct conn *c = arg;

	(void)port;
	(void)data;
	(void)len;
	udp_count_drop(c->w, c->listener, SHM_UDP_DROP_NO_SERVER);
}

/*
 * Part of conn_close(): the session's counts go to shm, its record back
 * to the free list.  Datagrams that still wait for the hops never
 * reached a server: counted so.
 */
static void
udp_free(struct conn *c)
{
	struct udp_worker *uw = c->w->modes[CONF_MODE_UDP];
	struct udp_session *s = c->ctx;
	struct shm_listener *ls = conn_listener_stats(c);
	struct buf *b;

	if (ls != NULL) {
		atomic_fetch_add_explicit(&ls->dgrams_in, s->dgrams_in, memory_order_relaxed);
		atomic_fetch_add_explicit(&ls->dgrams_out, s->dgrams_out, memory_order_relaxed);
	}
	uw->ended_in = s->dgrams_in;
	uw->ended_out = s->dgrams_out;
	/* The end may come from an association's own callback: its memory stays. */
	if (s->via != NULL) {
		if ((b = udp_via_take_held(s->via)) != NULL) {
			(void)socks_assoc_wait_flush(b, 0, udp_held_lost, c);
			buf_put(&c->w->bufs, b);
		}
		udp_via_close(s->via);
		s->spare = s->via;
		s->via = NULL;
	}
	udp_table_del(&uw->table, &s->entry);
	uw->open[c->listener]--;
	s->c = NULL;
	s->next_free = uw->free;
	uw->free = s;
	c->ctx = NULL;
}

/* After udp_free(), within the same conn_close(): the counts it left. */
static void
udp_log_fields(const struct conn *c, int json, char *buf, size_t len)
{
	const struct udp_worker *uw = c->w->modes[CONF_MODE_UDP];

	snprintf(buf, len, json ? ",\"datagrams_in\":%llu,\"datagrams_out\":%llu" :
	    " datagrams_in=%llu datagrams_out=%llu", (unsigned long long)uw->ended_in,
	    (unsigned long long)uw->ended_out);
}

const struct conn_mode udp_mode = {
	.name = "udp",
	.datagram = udp_listener_io,
	.free = udp_free,
	.exit = udp_exit,
	.log_fields = udp_log_fields,
	.io = udp_server_io,
	.timer = udp_timer,
};

/*
 * SOCKS 5 UDP ASSOCIATE (RFC 1928 7): a socks listener with "udp: true"
 * relays its clients' datagrams.
 *
 *   client --TCP: UDP ASSOCIATE--> socks.c --socks_udp_open()--> two sockets:
 *
 *     client socket (c->server)  bound to the address the client reached
 *                                the listener on, port chosen by the
 *                                kernel: the reply's BND.ADDR and BND.PORT
 *     relay socket               unbound, dual-stack where the host has
 *                                IPv6: sends to the destinations and
 *                                reads what they send back
 *
 *   client --RSV FRAG ATYP DST.ADDR DST.PORT DATA--> client socket
 *      not from the client (socks_assoc.h) ---------------------> dropped
 *      FRAG != 0, a malformed header, port 0 -------------------> dropped
 *      an address: the destinations' rules --allowed--> sendto(relay, DATA)
 *      a name: the rules on the name, then on its addresses in turn (the
 *              first allowed is sent to), from the association's names:
 *              a name is resolved once and kept for the resolver's cache
 *              time (its failure for the negative time); while it is
 *              resolved its datagrams wait in a pool buffer, at most
 *              SOCKS_ASSOC_WAITING of them, and the others are dropped
 *
 *   destination --DATA--> relay socket
 *      not one the client sent to lately (socks_assoc.h) --------> dropped
 *      --> 0 0 0 ATYP SRC.ADDR SRC.PORT DATA --> client socket --> client
 *
 * Two sockets, not one: a socket bound to the listener's address cannot
 * send beyond it (from 127.0.0.1 nothing leaves the host), and with the
 * client's datagrams apart from the destinations' none is told apart by
 * its source.  The relay socket is a third descriptor of the
 * connection, counted in w->fds_extra so that accepts pause in time.
 *
 * The association lives as long as its control connection: the client's
 * close or reset, the listener's idle timeout (datagrams either way are
 * activity; bytes on the control connection are not) or a kill ends it
 * through conn_close(), and both sockets are closed.  Bytes the client
 * sends on the control connection mean nothing to RFC 1928: they are
 * read, counted and dropped, at most SOCKS_UDP_DISCARD per event.
 *
 * As in mode udp, nothing is allocated per datagram: one buffer per
 * worker holds the datagram being relayed either way, a datagram that a
 * socket does not take at once is dropped, and an event reads at most
 * SOCKS_UDP_BATCH datagrams from a socket (registrations are
 * level-triggered, the rest waits for the next iteration).  Every drop
 * is counted by reason in the listener's udp_dropped (shm) and in the
 * association's access-log line; the first of each reason per
 * association is logged at info.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "lib/socks.h"
#include "worker/conn.h"
#include "worker/dest.h"
#include "worker/resolve.h"
#include "worker/socks_assoc.h"
#include "worker/socks_udp.h"
#include "worker/worker-t.h"

/* The largest UDP payload is 65,507 bytes over IPv4 and 65,527 over IPv6. */
#define SOCKS_UDP_DGRAM_MAX  65536
#define SOCKS_UDP_BATCH      32      /* datagrams read per event from one socket */
#define SOCKS_UDP_DISCARD    4096    /* control connection bytes read per event */
#define SOCKS_UDP_NAMES      4       /* names an association keeps the addresses of */
#define SOCKS_UDP_NAME_ADDRS 4       /* addresses kept of each */

enum socks_udp_name_state {
	SOCKS_UDP_NAME_FREE,        /* the slot is unused */
	SOCKS_UDP_NAME_RESOLVING,   /* asked; its datagrams wait */
	SOCKS_UDP_NAME_OK,          /* addrs until `until` */
	SOCKS_UDP_NAME_FAILED       /* no address, why, until `until` */
};

struct socks_udp;

/* A name the client sent to, and what the resolver said of it. */
struct socks_udp_name {
	struct socks_udp *u;
	struct resolve_req *rq;     /* RESOLVING */
	enum socks_udp_name_state state;
	size_t naddrs;
	union resolve_addr addrs[SOCKS_UDP_NAME_ADDRS];
	const char *why;            /* FAILED: the resolver's reason */
	uint64_t until;             /* OK, FAILED: asked again from then on (loop clock) */
	uint64_t used;              /* the sequence number of its last datagram */
	char name[SOCKS_NAME_MAX + 1];
};

struct socks_udp {
	struct conn *c;
	int relay_fd;
	int relay_family;           /* AF_INET6 (dual-stack) or AF_INET */
	struct ev_io relay;
	union conn_addr bnd;        /* the client socket's address */
	union conn_addr client_to;  /* where the client's datagrams come from; family 0: none yet */
	struct socks_assoc_client client;
	struct socks_assoc_peers peers;
	struct socks_udp_name names[SOCKS_UDP_NAMES];
	uint64_t names_seq;
	struct buf *wait;           /* datagrams waiting for names; NULL: none */
	uint64_t dgrams_in;         /* from the client, sent on */
	uint64_t dgrams_out;        /* to the client */
	uint64_t dropped;           /* either way */
	uint32_t said;              /* bits (1 << enum shm_udp_drop) of the reasons logged */
};

/* What the mode keeps per worker (w->modes[CONF_MODE_SOCKS]), made at the first association. */
struct socks_udp_worker {
	unsigned char *buf;         /* one datagram, either way */
	size_t open;                /* associations open */
	/* The association conn_close() is closing, for its access-log line. */
	unsigned ended:1;
	union conn_addr ended_bnd;
	uint64_t ended_in, ended_out, ended_dropped;
};

_Static_assert(SHM_UDP_DROPS <= 32, "socks_udp.said has a bit per drop reason");

static void socks_udp_client_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
static void socks_udp_relay_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);

static const struct conf_listener *
socks_udp_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

static void
socks_udp_port_set(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)(void *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)(void *)sa)->sin6_port = htons(port);
}

static socklen_t
socks_udp_addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

/* ------------------------------------------------------------ drops */

/*
 * Counts a drop of u's for why; 1 when it is the first of its reason in
 * u, to be logged (socks_udp_say()).
 */
static int
socks_udp_drop(struct socks_udp *u, enum shm_udp_drop why)
{
	struct shm_listener *ls = conn_listener_stats(u->c);

	if (ls != NULL)
		atomic_fetch_add_explicit(&ls->udp_dropped[why], 1, memory_order_relaxed);
	u->dropped++;
	if (u->said & (1u << why))
		return 0;
	u->said |= 1u << why;
	return 1;
}

/* A drop's reason, once per reason and association, at info. */
static void socks_udp_say(const struct socks_udp *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
socks_udp_say(const struct socks_udp *u, const char *fmt, ...)
{
	char why[400], client[ADDR_STRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info("socks: UDP datagram dropped: %s (the next ones for this reason are only "
	    "counted), client: %s, listener: %s", why,
	    addr_format(&u->c->peer.sa, client, sizeof(client)), socks_udp_listener(u->c)->name);
}

/* ------------------------------------------------------------ per worker */

static struct socks_udp_worker *
socks_udp_worker_get(struct worker *w)
{
	struct socks_udp_worker *uw = w->modes[CONF_MODE_SOCKS];

	if (uw != NULL)
		return uw;
	if ((uw = calloc(1, sizeof(*uw))) == NULL)
		return NULL;
	if ((uw->buf = malloc(SOCKS_UDP_DGRAM_MAX)) == NULL) {
		free(uw);
		return NULL;
	}
	w->modes[CONF_MODE_SOCKS] = uw;
	return uw;
}

void
socks_udp_exit(struct worker *w)
{
	struct socks_udp_worker *uw = w->modes[CONF_MODE_SOCKS];

	if (uw == NULL || uw->open > 0)
		return;
	free(uw->buf);
	free(uw);
	w->modes[CONF_MODE_SOCKS] = NULL;
}

/* ------------------------------------------------------------ the association */

/*
 * A non-blocking UDP socket of family; an IPv6 one takes IPv4 too
 * (IPv4-mapped), whatever net.ipv6.bindv6only says.  -1: errno.
 */
static int
socks_udp_socket(int family)
{
	int fd, off = 0;

	if ((fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == -1) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* The client's socket, bound to where c reached the listener, port 0.  -1: errno. */
static int
socks_udp_client_socket(const struct conn *c, union conn_addr *bnd, const char **step)
{
	socklen_t len = sizeof(*bnd);
	int fd, err;

	*step = "getsockname() of the control connection";
	if (getsockname(c->client.fd, &bnd->sa, &len) == -1)
		return -1;
	*step = "socket()";
	if ((fd = socks_udp_socket(bnd->sa.sa_family)) == -1)
		return -1;
	socks_udp_port_set(&bnd->sa, 0);
	len = sizeof(*bnd);
	*step = "bind()";
	if (bind(fd, &bnd->sa, socks_udp_addr_len(&bnd->sa)) == 0) {
		*step = "getsockname()";
		if (getsockname(fd, &bnd->sa, &len) == 0)
			return fd;
	}
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

struct socks_udp *
socks_udp_open(struct conn *c, uint16_t port, struct sockaddr_storage *bnd)
{
	struct worker *w = c->w;
	struct socks_udp_worker *uw = socks_udp_worker_get(w);
	struct socks_udp *u = NULL;
	const char *step = "allocating it";
	char client[ADDR_STRLEN];
	int fd = -1, rfd = -1, family = AF_INET6, err;
	size_t i;

	if (uw == NULL || (u = calloc(1, sizeof(*u))) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	if ((fd = socks_udp_client_socket(c, &u->bnd, &step)) == -1)
		goto fail;
	step = "socket() for the relay";
	if ((rfd = socks_udp_socket(family)) == -1 && errno == EAFNOSUPPORT)
		rfd = socks_udp_socket(family = AF_INET);
	if (rfd == -1)
		goto fail;
	/* The control connection's client, in the family of the client's socket. */
	if (socks_assoc_client_init(&u->client, &c->peer.sa, port) != CT_OK) {
		errno = EAFNOSUPPORT;
		goto fail;
	}
	u->c = c;
	u->relay_fd = rfd;
	u->relay_family = family;
	/* The sockets' events name the association: the callbacks reach c through it. */
	ev_io_init(&u->relay, rfd, socks_udp_relay_io, u);
	for (i = 0; i < SOCKS_UDP_NAMES; i++)
		u->names[i].u = u;
	stream_init(&c->server, fd, socks_udp_client_io, u);
	w->fds_extra++;
	uw->open++;
	memset(bnd, 0, sizeof(*bnd));
	memcpy(bnd, &u->bnd, sizeof(u->bnd));
	return u;
fail:
	err = errno;
	if (fd != -1)
		close(fd);
	if (rfd != -1)
		close(rfd);
	free(u);
	errno = err;
	log_warn("socks: cannot open a UDP association: %s failed, client: %s, listener: %s",
	    step, addr_format(&c->peer.sa, client, sizeof(client)), socks_udp_listener(c)->name);
	return NULL;
}

void
socks_udp_start(struct conn *c, struct socks_udp *u)
{
	struct ev_loop *loop = c->w->loop;

	ev_timer_stop(loop, &c->timer);
	c->last_io = ev_now(loop);
	if (ev_io_set(loop, &c->server.io, EPOLLIN) != CT_OK ||
	    ev_io_set(loop, &u->relay, EPOLLIN) != CT_OK ||
	    ev_io_want(loop, &c->client.io, EPOLLIN) != CT_OK ||
	    ev_timer_start(loop, &c->timer, socks_udp_listener(c)->idle_timeout_ms) != CT_OK)
		conn_close(c, "internal error");
}

void
socks_udp_control(struct conn *c, struct socks_udp *u)
{
	struct socks_udp_worker *uw = c->w->modes[CONF_MODE_SOCKS];
	ssize_t n;

	(void)u;
	n = c->client.ops->read(&c->client, uw->buf, SOCKS_UDP_DISCARD);
	if (n == CT_DONE)
		conn_close(c, "done");
	else if (n == CT_ERROR)
		conn_close(c, "client reset");
	else if (n > 0) {
		c->from_client += (uint64_t)n;
		conn_rec_bytes(c);
	}
}

void
socks_udp_timer(struct conn *c, struct socks_udp *u)
{
	uint64_t idle = socks_udp_listener(c)->idle_timeout_ms, quiet;

	(void)u;
	/* Datagrams only stamp last_io; the timer re-arms for the rest. */
	quiet = ev_now(c->w->loop) - c->last_io;
	if (quiet >= idle)
		conn_close(c, "idle timeout");
	else if (ev_timer_start(c->w->loop, &c->timer, idle - quiet) != CT_OK)
		conn_close(c, "internal error");
}

void
socks_udp_free(struct conn *c, struct socks_udp *u)
{
	struct socks_udp_worker *uw = c->w->modes[CONF_MODE_SOCKS];
	struct shm_listener *ls;
	size_t i;

	if (uw == NULL)
		return;
	uw->ended = u != NULL;
	if (u == NULL)
		return;
	for (i = 0; i < SOCKS_UDP_NAMES; i++)
		resolve_cancel(u->names[i].rq);
	if (u->wait != NULL)
		buf_put(&c->w->bufs, u->wait);
	ev_io_forget(c->w->loop, &u->relay);
	close(u->relay_fd);
	c->w->fds_extra--;
	uw->open--;
	if ((ls = conn_listener_stats(c)) != NULL) {
		atomic_fetch_add_explicit(&ls->dgrams_in, u->dgrams_in, memory_order_relaxed);
		atomic_fetch_add_explicit(&ls->dgrams_out, u->dgrams_out, memory_order_relaxed);
	}
	uw->ended_bnd = u->bnd;
	uw->ended_in = u->dgrams_in;
	uw->ended_out = u->dgrams_out;
	uw->ended_dropped = u->dropped;
	free(u);
}

void
socks_udp_log_fields(const struct conn *c, int json, char *buf, size_t len)
{
	const struct socks_udp_worker *uw = c->w->modes[CONF_MODE_SOCKS];
	char bnd[ADDR_STRLEN];

	if (uw == NULL || !uw->ended) {
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	addr_format(&uw->ended_bnd.sa, bnd, sizeof(bnd));
	snprintf(buf, len, json ? ",\"udp\":\"%s\",\"datagrams_in\":%llu,\"datagrams_out\":%llu,"
	    "\"datagrams_dropped\":%llu" : " udp=%s datagrams_in=%llu datagrams_out=%llu "
	    "datagrams_dropped=%llu", bnd, (unsigned long long)uw->ended_in,
	    (unsigned long long)uw->ended_out, (unsigned long long)uw->ended_dropped);
}

void
socks_udp_describe(const struct socks_udp *u, char *buf, size_t len)
{
	char bnd[ADDR_STRLEN];

	snprintf(buf, len, ", UDP association: %s", addr_format(&u->bnd.sa, bnd, sizeof(bnd)));
}

/* ------------------------------------------------------------ client to destinations */

/* DATA of len bytes to sa, from the relay socket. */
static void
socks_udp_send(struct socks_udp *u, const struct sockaddr *sa, const void *data, size_t len)
{
	struct conn *c = u->c;
	struct sockaddr_storage other;
	char to[ADDR_STRLEN];

	/* The relay's family: IPv4 goes IPv4-mapped from a dual-stack socket. */
	if (sa->sa_family != u->relay_family) {
		if (!addr_other_form(sa, &other)) {
			if (socks_udp_drop(u, SHM_UDP_DROP_SEND))
				socks_udp_say(u, "to %s: the host has no IPv6",
				    addr_format(sa, to, sizeof(to)));
			return;
		}
		sa = (const struct sockaddr *)&other;
	}
	if (sendto(u->relay_fd, data, len, 0, sa, socks_udp_addr_len(sa)) == -1) {
		int err = errno;

		if (socks_udp_drop(u, SHM_UDP_DROP_SEND))
			socks_udp_say(u, "to %s: sendto() failed (%d: %s)",
			    addr_format(sa, to, sizeof(to)), err, strerror(err));
		return;
	}
	socks_assoc_peer_note(&u->peers, sa);
	u->dgrams_in++;
	c->to_server += len;
}

/*
 * A datagram to port of e, a name the resolver answered: its first
 * address the rules allow (by_name: what they said of the name).
 */
static void
socks_udp_to_resolved(struct socks_udp *u, struct socks_udp_name *e,
    const struct dest_verdict *by_name, uint16_t port, const void *data, size_t len)
{
	const struct conn *c = u->c;
	int local = dest_client_local(&c->peer.sa);
	struct dest_verdict v = { 0 };
	char rule[160];
	size_t i;

	if (e->state == SOCKS_UDP_NAME_FAILED) {
		if (socks_udp_drop(u, SHM_UDP_DROP_RESOLVE))
			socks_udp_say(u, "to %s:%u: cannot resolve: %s", e->name, port, e->why);
		return;
	}
	for (i = 0; i < e->naddrs; i++) {
		socks_udp_port_set(&e->addrs[i].sa, port);
		if (dest_check_addr(&socks_udp_listener(c)->dest, by_name, &e->addrs[i].sa, local,
		    &v)) {
			socks_udp_send(u, &e->addrs[i].sa, data, len);
			return;
		}
	}
	if (socks_udp_drop(u, SHM_UDP_DROP_DEST))
		socks_udp_say(u, "to %s:%u: every address refused by the destinations (%s)",
		    e->name, port, dest_verdict_format(&v, rule, sizeof(rule)));
}

/* The rules on a name and port, before its addresses: 0 dropped (counted). */
static int
socks_udp_name_allowed(struct socks_udp *u, const char *name, uint16_t port,
    struct dest_verdict *by_name)
{
	char rule[160];

	if (dest_check_name(&socks_udp_listener(u->c)->dest, name, port, by_name))
		return 1;
	if (socks_udp_drop(u, SHM_UDP_DROP_DEST))
		socks_udp_say(u, "to %s:%u: refused by the destinations (%s)", name, port,
		    dest_verdict_format(by_name, rule, sizeof(rule)));
	return 0;
}

/* A waiting datagram of a name the resolver just answered (arg). */
static void
socks_udp_waited(void *arg, uint16_t port, const uint8_t *data, size_t len)
{
	struct socks_udp_name *e = arg;
	struct dest_verdict by_name;

	if (socks_udp_name_allowed(e->u, e->name, port, &by_name))
		socks_udp_to_resolved(e->u, e, &by_name, port, data, len);
}

static void
socks_udp_resolved(void *arg, enum resolve_status status, const union resolve_addr *addrs,
    size_t n, const char *why)
{
	struct socks_udp_name *e = arg;
	struct socks_udp *u = e->u;
	struct conn *c = u->c;
	const struct conf_resolver *r = &c->w->cy->conf->resolver;
	size_t i;

	e->rq = NULL;
	if (status == RESOLVE_OK) {
		e->state = SOCKS_UDP_NAME_OK;
		e->naddrs = CT_MIN(n, (size_t)SOCKS_UDP_NAME_ADDRS);
		for (i = 0; i < e->naddrs; i++)
			memcpy(&e->addrs[i], &addrs[i], sizeof(addrs[i]));
		e->until = ev_now(c->w->loop) + r->cache_ms;
	} else {
		e->state = SOCKS_UDP_NAME_FAILED;
		e->naddrs = 0;
		e->why = why;
		e->until = ev_now(c->w->loop) + r->negative_ms;
	}
	if (u->wait != NULL &&
	    socks_assoc_wait_flush(u->wait, (unsigned)(e - u->names), socks_udp_waited, e) == 0) {
		buf_put(&c->w->bufs, u->wait);
		u->wait = NULL;
	}
}

/*
 * The slot of name: the one that has it, or one to ask it in (a free
 * one, else the one least recently used that is not being asked).
 * NULL: every slot waits for an answer.
 */
static struct socks_udp_name *
socks_udp_name_slot(struct socks_udp *u, const char *name)
{
	struct socks_udp_name *e, *pick = NULL;
	size_t i;

	for (i = 0; i < SOCKS_UDP_NAMES; i++) {
		e = &u->names[i];
		if (e->state != SOCKS_UDP_NAME_FREE && strcmp(e->name, name) == 0)
			return e;
		if (e->state != SOCKS_UDP_NAME_RESOLVING && (pick == NULL || e->used < pick->used))
			pick = e;
	}
	if (pick != NULL) {
		pick->state = SOCKS_UDP_NAME_FREE;
		snprintf(pick->name, sizeof(pick->name), "%s", name);
	}
	return pick;
}

/* A datagram to port of name: sent, made to wait for the name, or dropped. */
static void
socks_udp_to_name(struct socks_udp *u, const char *name, uint16_t port, const void *data,
    size_t len)
{
	struct conn *c = u->c;
	uint64_t now = ev_now(c->w->loop);
	struct socks_udp_name *e;
	struct dest_verdict by_name;

	if (!socks_udp_name_allowed(u, name, port, &by_name))
		return;
	if ((e = socks_udp_name_slot(u, name)) == NULL) {
		if (socks_udp_drop(u, SHM_UDP_DROP_WAIT))
			socks_udp_say(u, "to %s:%u: %d other names are being resolved", name, port,
			    SOCKS_UDP_NAMES);
		return;
	}
	e->used = ++u->names_seq;
	if (e->state == SOCKS_UDP_NAME_FREE || (e->state != SOCKS_UDP_NAME_RESOLVING &&
	    now >= e->until)) {
		/* Its answer comes from the loop, never from within this call. */
		e->state = SOCKS_UDP_NAME_RESOLVING;
		if ((e->rq = resolve_start(c->w->resolver, name, AF_UNSPEC, 0, socks_udp_resolved,
		    e)) == NULL) {
			e->state = SOCKS_UDP_NAME_FREE;
			if (socks_udp_drop(u, SHM_UDP_DROP_RESOLVE))
				socks_udp_say(u, "to %s:%u: cannot resolve: out of memory", name, port);
			return;
		}
	}
	if (e->state != SOCKS_UDP_NAME_RESOLVING) {
		socks_udp_to_resolved(u, e, &by_name, port, data, len);
		return;
	}
	if ((u->wait == NULL && (u->wait = buf_get(&c->w->bufs)) == NULL) ||
	    socks_assoc_wait_push(u->wait, (unsigned)(e - u->names), port, data, len) != CT_OK) {
		if (socks_udp_drop(u, SHM_UDP_DROP_WAIT))
			socks_udp_say(u, "to %s:%u: no room to wait for the name (%d datagrams, "
			    "%d bytes)", name, port, SOCKS_ASSOC_WAITING, BUF_SIZE);
	}
}

/* A datagram to an address. */
static void
socks_udp_to_addr(struct socks_udp *u, const struct socks_addr *dst, const void *data,
    size_t len)
{
	struct sockaddr_storage ss;
	struct dest_verdict v;
	char rule[160], to[ADDR_STRLEN];

	(void)socks_addr_to_sockaddr(dst, &ss);
	if (dest_check_addr(&socks_udp_listener(u->c)->dest, NULL, (struct sockaddr *)&ss,
	    dest_client_local(&u->c->peer.sa), &v)) {
		socks_udp_send(u, (struct sockaddr *)&ss, data, len);
		return;
	}
	if (socks_udp_drop(u, SHM_UDP_DROP_DEST))
		socks_udp_say(u, "to %s: refused by the destinations (%s)",
		    addr_format((struct sockaddr *)&ss, to, sizeof(to)),
		    dest_verdict_format(&v, rule, sizeof(rule)));
}

/* One datagram of n bytes in the worker's buffer, from src to the client socket. */
static void
socks_udp_from_client(struct socks_udp *u, const unsigned char *buf, size_t n,
    const union conn_addr *src)
{
	struct conn *c = u->c;
	struct socks5_udp h;
	char from[ADDR_STRLEN];
	int rc;

	if (!socks_assoc_client_accept(&u->client, &src->sa)) {
		if (socks_udp_drop(u, SHM_UDP_DROP_SOURCE))
			socks_udp_say(u, "from %s, not the client's address and port",
			    addr_format(&src->sa, from, sizeof(from)));
		return;
	}
	if (u->client_to.sa.sa_family == 0)
		memcpy(&u->client_to, src, sizeof(*src));
	c->from_client += n;
	c->last_io = ev_now(c->w->loop);
	rc = socks5_udp_parse(buf, n, &h);
	if (rc == CT_OK && h.dst.port == 0) {
		rc = CT_ERROR;
		h.error = "destination port 0";
	}
	if (rc != CT_OK) {
		if (socks_udp_drop(u, rc == CT_DECLINED ? SHM_UDP_DROP_FRAGMENT : SHM_UDP_DROP_HEADER))
			socks_udp_say(u, "%s", h.error);
		return;
	}
	if (h.dst.atyp == SOCKS5_ATYP_NAME)
		socks_udp_to_name(u, h.dst.name, h.dst.port, buf + h.data_off, n - h.data_off);
	else
		socks_udp_to_addr(u, &h.dst, buf + h.data_off, n - h.data_off);
}

/* ------------------------------------------------------------ destinations to client */

/* One datagram of n bytes in the worker's buffer, from src to the relay socket. */
static void
socks_udp_from_peer(struct socks_udp *u, const unsigned char *buf, size_t n,
    const union conn_addr *src)
{
	struct conn *c = u->c;
	uint8_t hdr[SOCKS5_UDP_HEADER_MAX];
	struct msghdr msg;
	struct iovec iov[2];
	char from[ADDR_STRLEN];
	size_t hlen;

	if (!socks_assoc_peer_known(&u->peers, &src->sa)) {
		if (socks_udp_drop(u, SHM_UDP_DROP_PEER))
			socks_udp_say(u, "from %s, where the client did not send",
			    addr_format(&src->sa, from, sizeof(from)));
		return;
	}
	/* The header names the source as the client knows it: IPv4 as IPv4. */
	hlen = socks5_udp_header_build(hdr, &src->sa);
	iov[0].iov_base = hdr;
	iov[0].iov_len = hlen;
	iov[1].iov_base = (void *)(uintptr_t)buf;
	iov[1].iov_len = n;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &u->client_to;
	msg.msg_namelen = socks_udp_addr_len(&u->client_to.sa);
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	c->from_server += n;
	if (sendmsg(c->server.fd, &msg, 0) == -1) {
		int err = errno;

		if (socks_udp_drop(u, SHM_UDP_DROP_REPLY))
			socks_udp_say(u, "from %s: sendmsg() to the client failed (%d: %s)",
			    addr_format(&src->sa, from, sizeof(from)), err, strerror(err));
		return;
	}
	u->dgrams_out++;
	c->to_client += hlen + n;
	c->last_io = ev_now(c->w->loop);
}

/* ------------------------------------------------------------ the sockets' events */

/* What to do with one datagram of n bytes in buf, from src. */
typedef void (*socks_udp_dgram_cb)(struct socks_udp *u, const unsigned char *buf, size_t n,
    const union conn_addr *src);

/* fd (the client's socket, or the relay) is readable: up to SOCKS_UDP_BATCH datagrams. */
static void
socks_udp_read(struct socks_udp *u, int fd, socks_udp_dgram_cb one, const char *which)
{
	struct conn *c = u->c;
	struct socks_udp_worker *uw = c->w->modes[CONF_MODE_SOCKS];
	union conn_addr src;
	socklen_t slen;
	ssize_t n;
	int i;

	for (i = 0; i < SOCKS_UDP_BATCH; i++) {
		slen = sizeof(src);
		n = recvfrom(fd, uw->buf, SOCKS_UDP_DGRAM_MAX, 0, &src.sa, &slen);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("socks: recvfrom() on the %s of a UDP association failed", which);
			break;
		}
		one(u, uw->buf, (size_t)n, &src);
	}
	conn_rec_bytes(c);
}

static void
socks_udp_client_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct socks_udp *u = io->data;

	(void)loop;
	(void)events;
	socks_udp_read(u, u->c->server.fd, socks_udp_from_client, "client's socket");
}

static void
socks_udp_relay_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct socks_udp *u = io->data;

	(void)loop;
	(void)events;
	socks_udp_read(u, u->relay_fd, socks_udp_from_peer, "relay socket");
}

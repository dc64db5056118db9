/*
 * Listening socket groups; see sockets.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/sockets.h"

#define LSOCKS_BACKLOG 4096

/*
 * TCP_NODELAY on a listening socket is inherited by every socket it
 * accepts: set once here, it spares each connection its own system call.
 * A relay's writes are already as large as its peer made them, and a
 * keep-alive answer must not wait for the client's acknowledgement of
 * the one before.
 */
static int
lsocks_nodelay(int fd)
{
	int on = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/* Logs why prepare failed and keeps the line for the caller's one-line report. */
static void __attribute__((format(printf, 2, 3)))
lsocks_fail(struct lsocks *set, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(set->err, sizeof(set->err), fmt, ap);
	va_end(ap);
	log_error("%s", set->err);
}

static int
lsocks_type(const struct conf_listener *l)
{
	return conf_listener_dgram(l) ? SOCK_DGRAM : SOCK_STREAM;
}

/* Is a the wildcard address of its family? */
static int
lsocks_wildcard(const struct addr *a)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
	return in->sin_addr.s_addr == htonl(INADDR_ANY);
}

/*
 * A UDP socket on a wildcard address has each datagram say where it was
 * sent (IP_PKTINFO), so that the reply leaves from that address: a host
 * with several addresses would otherwise answer from the one its route
 * to the client prefers, and the client would drop the answer.  A
 * stream needs nothing of the kind: its accepted socket has the address.
 */
static int
lsocks_dgram_opts(int fd, const struct addr *a)
{
	int on = 1;

	if (!lsocks_wildcard(a))
		return 0;
	if (a->ss.ss_family == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
	return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
}

/*
 * SO_REUSEPORT lets any process of the same user join a group, so a
 * second instance started by mistake on our address would silently take
 * a share of its connections.  A socket bound without SO_REUSEPORT
 * cannot share the address with a listening socket: if it binds, no one
 * listens there.  Run only for an address this master does not hold.
 */
static int
lsocks_probe(struct lsocks *set, const struct conf_listener *l)
{
	const struct addr *a = &l->addr;
	int type = lsocks_type(l), fd, on = 1, rc = CT_OK;

	fd = socket(a->ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		lsocks_fail(set, "listener \"%s\": socket() for %s failed: %s", l->name,
		    l->listen, strerror(errno));
		return CT_ERROR;
	}
	/*
	 * SO_REUSEADDR: connections of an earlier run in TIME_WAIT are no
	 * listener.  Not for UDP, where it would let the probe share the
	 * port with another process's socket that has it too.
	 */
	if (type == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (a->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		lsocks_fail(set, "listener \"%s\": cannot bind %s: %s", l->name, l->listen,
		    errno == EADDRINUSE ? "address already in use (another process listens there)"
		    : strerror(errno));
		rc = CT_ERROR;
	}
	close(fd);
	return rc;
}

static int
lsocks_bind_one(struct lsocks *set, const struct conf_listener *l)
{
	const struct addr *a = &l->addr;
	const char *listen_str = l->listen;
	int type = lsocks_type(l), fd, on = 1;

	fd = socket(a->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		lsocks_fail(set, "socket() for %s failed: %s", listen_str, strerror(errno));
		return -1;
	}
	/* As in the probe, no SO_REUSEADDR for UDP: only SO_REUSEPORT's group shares. */
	if ((type == SOCK_STREAM &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    (type == SOCK_STREAM ? lsocks_nodelay(fd) : lsocks_dgram_opts(fd, a)) == -1 ||
	    (a->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)) {
		lsocks_fail(set, "setsockopt() for %s failed: %s", listen_str, strerror(errno));
		close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		lsocks_fail(set, "listener \"%s\": bind() to %s failed: %s", l->name, listen_str,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM && listen(fd, LSOCKS_BACKLOG) == -1) {
		lsocks_fail(set, "listener \"%s\": listen() on %s failed: %s", l->name, listen_str,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Steers new connections of the group to its first n sockets: the
 * program returns the index of the socket to use (random % n).
 */
static int
lsocks_steer(const struct lsock *ls, unsigned n)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;

	/* Zeroed whole: the padding after len goes to the kernel too. */
	memset(&prog, 0, sizeof(prog));
	prog.len = (unsigned short)CT_NELEM(code);
	prog.filter = code;
	if (setsockopt(ls->fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF,
	    &prog, sizeof(prog)) == -1)
		return CT_ERROR;
	return CT_OK;
}

static struct lsock *
lsocks_lookup(const struct lsocks *set, const struct addr *a, int type)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->v[i].type == type &&
		    addr_equal((const struct sockaddr *)&set->v[i].addr.ss,
		    (const struct sockaddr *)&a->ss))
			return &set->v[i];
	return NULL;
}

const struct lsock *
lsocks_find(const struct lsocks *set, const struct addr *a, int type)
{
	return lsocks_lookup(set, a, type);
}

int
lsocks_assign(const struct lsocks *set, struct cycle *cy)
{
	size_t i;

	for (i = 0; i < cy->conf->nlisteners; i++) {
		const struct conf_listener *l = &cy->conf->listeners[i];
		const struct lsock *ls = lsocks_lookup(set, &l->addr, lsocks_type(l));
		struct cycle_listen *cl = &cy->listen[i];

		if (ls == NULL || ls->nfds < cy->conf->workers) {
			log_alert("listener \"%s\" has no prepared sockets", l->name);
			return CT_ERROR;
		}
		memcpy(cl->fds, ls->fds, ls->nfds * sizeof(ls->fds[0]));
		cl->nfds = ls->nfds;
	}
	return CT_OK;
}

static struct lsock *
lsocks_add(struct lsocks *set, const struct addr *a, int type)
{
	struct lsock *ls;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		struct lsock *v = realloc(set->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		set->v = v;
		set->cap = cap;
	}
	ls = &set->v[set->n++];
	memset(ls, 0, sizeof(*ls));
	ls->addr = *a;
	ls->type = type;
	return ls;
}

int
lsocks_prepare(struct lsocks *set, const struct conf *conf)
{
	size_t i;

	set->committed = set->n;
	set->err[0] = '\0';
	for (i = 0; i < set->n; i++) {
		set->v[i].prepared_from = set->v[i].nfds;
		set->v[i].wanted = 0;
	}
	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener *l = &conf->listeners[i];
		struct lsock *ls = lsocks_lookup(set, &l->addr, lsocks_type(l));

		if (ls == NULL && lsocks_probe(set, l) != CT_OK)
			return CT_ERROR;
		if (ls == NULL && (ls = lsocks_add(set, &l->addr, lsocks_type(l))) == NULL) {
			lsocks_fail(set, "out of memory for listener \"%s\"", l->name);
			return CT_ERROR;
		}
		ls->wanted = 1;
		while (ls->nfds < conf->workers) {
			int fd = lsocks_bind_one(set, l);

			if (fd == -1)
				return CT_ERROR;
			ls->fds[ls->nfds++] = fd;
		}
	}
	return CT_OK;
}

static void
lsock_close_from(struct lsock *ls, unsigned from)
{
	while (ls->nfds > from)
		close(ls->fds[--ls->nfds]);
}

void
lsocks_rollback(struct lsocks *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		lsock_close_from(&set->v[i], i < set->committed ? set->v[i].prepared_from : 0);
	set->n = set->committed;
}

void
lsocks_commit(struct lsocks *set, const struct conf *conf)
{
	size_t i, j = 0;

	for (i = 0; i < set->n; i++) {
		struct lsock *ls = &set->v[i];

		if (!ls->wanted) {
			lsock_close_from(ls, 0);
			continue;
		}
		if (ls->type == SOCK_STREAM && lsocks_steer(ls, conf->workers) != CT_OK)
			log_warn("cannot steer connections to %u of the %u sockets of a listener; "
			    "connections may wait on a parked socket until worker 0 takes them",
			    conf->workers, ls->nfds);
		set->v[j++] = *ls;
	}
	set->n = j;
	set->committed = j;
}

void
lsocks_close_all(struct lsocks *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		lsock_close_from(&set->v[i], 0);
	free(set->v);
	memset(set, 0, sizeof(*set));
}

void
lsocks_inherit(const struct lsocks *set)
{
	size_t i;
	unsigned k;

	for (i = 0; i < set->n; i++)
		for (k = 0; k < set->v[i].nfds; k++)
			(void)fcntl(set->v[i].fds[k], F_SETFD, 0);
}

char *
lsocks_export(const struct lsocks *set)
{
	size_t len = 1, i, off = 0;
	unsigned k;
	char *s;

	for (i = 0; i < set->n; i++)
		len += (size_t)set->v[i].nfds * 12 + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < set->n; i++)
		for (k = 0; k < set->v[i].nfds; k++)
			off += (size_t)snprintf(s + off, len - off, "%s%d",
			    k > 0 ? "," : (i > 0 ? ";" : ""), set->v[i].fds[k]);
	return s;
}

/*
 * Checks that fd is a listening TCP socket or a bound UDP one, and
 * records its address and type.
 */
static int
lsocks_adopt_fd(int fd, struct addr *a, int *type)
{
	int acc = 0;
	socklen_t len = sizeof(*type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &len) == -1 ||
	    (*type != SOCK_STREAM && *type != SOCK_DGRAM))
		return CT_ERROR;
	len = sizeof(acc);
	if (*type == SOCK_STREAM &&
	    (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 || !acc))
		return CT_ERROR;
	a->len = sizeof(a->ss);
	if (getsockname(fd, (struct sockaddr *)&a->ss, &a->len) == -1 ||
	    (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6))
		return CT_ERROR;
	/* The previous master may be a build that did not set it. */
	if (*type == SOCK_STREAM && lsocks_nodelay(fd) == -1)
		return CT_ERROR;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return CT_OK;
}

int
lsocks_adopt(struct lsocks *set, const char *env)
{
	const char *p = env;

	while (*p != '\0') {
		struct lsock *ls = NULL;
		struct addr a;
		int type;

		for (;;) {
			char *end;
			long fd = strtol(p, &end, 10);

			if (end == p || fd < 0 || fd > 1 << 24 ||
			    lsocks_adopt_fd((int)fd, &a, &type) != CT_OK ||
			    (ls != NULL && ls->type != type)) {
				log_warnx("inherited socket list \"%s\" is invalid near \"%s\"", env, p);
				return CT_ERROR;
			}
			if (ls == NULL && (ls = lsocks_add(set, &a, type)) == NULL)
				return CT_ERROR;
			if (ls->nfds == CONF_WORKERS_MAX)
				return CT_ERROR;
			ls->fds[ls->nfds++] = (int)fd;
			p = end;
			if (*p != ',')
				break;
			p++;
		}
		if (*p == ';')
			p++;
		else if (*p != '\0')
			return CT_ERROR;
	}
	set->committed = set->n;
	return CT_OK;
}

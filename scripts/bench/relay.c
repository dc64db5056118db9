/*
 * relay: the least a proxy can do per request on this machine, as a
 * reference for the benchmark.  Each client connection gets its own
 * connection to the origin and bytes pass through both ways unparsed:
 * no HTTP, no pool, no timers, no logs.  Two ways to drive the sockets:
 *
 *   relay epoll LISTEN_PORT ORIGIN_PORT   readiness, then recv() and send()
 *   relay uring LISTEN_PORT ORIGIN_PORT   io_uring: recv and send submitted
 *                                         and reaped in batches
 *
 * Built with -DRELAY_NO_URING where liburing is missing: epoll only.
 * Sends block: one that waits for a slow peer stalls the relay, not the
 * data, and the benchmark's peers always read.  127.0.0.1 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#ifndef RELAY_NO_URING
#include <liburing.h>
#endif
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF   16384

/* One direction: what is read from fd goes to peer->fd. */
struct side {
	int fd;
	int closed;               /* the pair is closed; free once idle */
	int pending;              /* io_uring operations not yet completed */
	size_t len, off;          /* io_uring: bytes in buf, and sent so far */
	struct side *peer;
	char buf[RELAY_BUF];
};

static struct sockaddr_in origin;

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static int
nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The pair of an accepted client c: c's side, linked to a new origin side. */
static struct side *
pair_open(int c)
{
	struct side *a = NULL, *b = NULL;
	int u;

	if ((u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	if (connect(u, (struct sockaddr *)&origin, sizeof(origin)) == -1 ||
	    nodelay(u) == -1 || nodelay(c) == -1 ||
	    (a = calloc(1, sizeof(*a))) == NULL || (b = calloc(1, sizeof(*b))) == NULL) {
		free(a);
		close(u);
		return NULL;
	}
	a->fd = c;
	b->fd = u;
	a->peer = b;
	b->peer = a;
	return a;
}

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
epoll_add(int ep, struct side *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) == -1)
		die("epoll_ctl");
}

/*
 * A pair closed in a batch of events is freed after the batch, since a
 * later event of the same batch may still point to it.
 */
static void
run_epoll(int lfd)
{
	struct epoll_event evs[64];
	struct side listener = { .fd = lfd }, *dead[128];
	int ep, i, n, ndead;

	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	epoll_add(ep, &listener);
	for (;;) {
		if ((n = epoll_wait(ep, evs, 64, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		ndead = 0;
		for (i = 0; i < n; i++) {
			struct side *s = evs[i].data.ptr, *a;
			ssize_t r;
			int c;

			if (s == &listener) {
				if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
					continue;
				if ((a = pair_open(c)) == NULL) {
					close(c);
					continue;
				}
				epoll_add(ep, a);
				epoll_add(ep, a->peer);
				continue;
			}
			if (s->closed)
				continue;
			r = recv(s->fd, s->buf, RELAY_BUF, MSG_DONTWAIT);
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r > 0 && send_all(s->peer->fd, s->buf, (size_t)r) == 0)
				continue;
			s->closed = s->peer->closed = 1;
			close(s->fd);
			close(s->peer->fd);
			dead[ndead++] = s;
		}
		for (i = 0; i < ndead; i++) {
			free(dead[i]->peer);
			free(dead[i]);
		}
	}
}

#ifndef RELAY_NO_URING

/* user_data: the side's address, with the operation in its low bits. */
enum { OP_ACCEPT, OP_RECV, OP_SEND };

static struct io_uring_sqe *
sqe_get(struct io_uring *ring, struct side *s, int op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (sqe == NULL) {
		/* Full: hand what is queued to the kernel and take a new one. */
		io_uring_submit(ring);
		if ((sqe = io_uring_get_sqe(ring)) == NULL) {
			fprintf(stderr, "relay: io_uring submission queue full\n");
			exit(1);
		}
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s | (uint64_t)op);
	s->pending++;
	return sqe;
}

static void
uring_recv(struct io_uring *ring, struct side *s)
{
	io_uring_prep_recv(sqe_get(ring, s, OP_RECV), s->fd, s->buf, RELAY_BUF, 0);
}

/* Sends what is left of s's buffer to its peer. */
static void
uring_send(struct io_uring *ring, struct side *s)
{
	io_uring_prep_send(sqe_get(ring, s, OP_SEND), s->peer->fd, s->buf + s->off,
	    s->len - s->off, MSG_NOSIGNAL);
}

/*
 * close() does not end an operation pending on a socket, so both sockets
 * are shut down first: a pending recv then completes with 0 and a send
 * with an error.  A side is freed when its last operation has completed.
 */
static void
uring_pair_close(struct side *s)
{
	struct side *p = s->peer;

	s->closed = p->closed = 1;
	shutdown(s->fd, SHUT_RDWR);
	shutdown(p->fd, SHUT_RDWR);
	close(s->fd);
	close(p->fd);
	if (s->pending == 0)
		free(s);
	if (p->pending == 0)
		free(p);
}

static void
run_uring(int lfd)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct side listener = { .fd = lfd }, *a;
	unsigned head, seen;
	int rc;

	/*
	 * One thread submits and reaps, so completions can wait for the next
	 * io_uring_enter() instead of interrupting the relay as they come.
	 */
	rc = io_uring_queue_init(1024, &ring,
	    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (rc < 0) {
		fprintf(stderr, "relay: io_uring_queue_init: %s\n", strerror(-rc));
		exit(1);
	}
	io_uring_prep_accept(sqe_get(&ring, &listener, OP_ACCEPT), lfd, NULL, NULL, SOCK_CLOEXEC);
	for (;;) {
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "relay: io_uring_submit_and_wait: %s\n", strerror(-rc));
			exit(1);
		}
		seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct side *s = (struct side *)(uintptr_t)(cqe->user_data & ~(uint64_t)3);
			int op = (int)(cqe->user_data & 3), res = cqe->res;

			seen++;
			s->pending--;
			if (op == OP_ACCEPT) {
				io_uring_prep_accept(sqe_get(&ring, &listener, OP_ACCEPT), lfd, NULL,
				    NULL, SOCK_CLOEXEC);
				if (res < 0)
					continue;
				if ((a = pair_open(res)) == NULL) {
					close(res);
					continue;
				}
				uring_recv(&ring, a);
				uring_recv(&ring, a->peer);
				continue;
			}
			if (s->closed) {
				if (s->pending == 0)
					free(s);
				continue;
			}
			if (res <= 0) {
				uring_pair_close(s);
			} else if (op == OP_RECV) {
				s->len = (size_t)res;
				s->off = 0;
				uring_send(&ring, s);
			} else if ((s->off += (size_t)res) < s->len) {
				uring_send(&ring, s);
			} else {
				uring_recv(&ring, s);
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}

#endif

int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int lfd, one = 1;

	if (argc != 4 || (strcmp(argv[1], "epoll") != 0 && strcmp(argv[1], "uring") != 0)) {
		fprintf(stderr, "usage: relay epoll|uring LISTEN_PORT ORIGIN_PORT\n");
		return 2;
	}
#ifdef RELAY_NO_URING
	if (strcmp(argv[1], "uring") == 0) {
		fprintf(stderr, "relay: built without liburing\n");
		return 1;
	}
#endif
	signal(SIGPIPE, SIG_IGN);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	origin = a;
	origin.sin_port = htons((uint16_t)atoi(argv[3]));
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(lfd, 4096) == -1)
		die("listen");
#ifndef RELAY_NO_URING
	if (argv[1][0] == 'u')
		run_uring(lfd);
#endif
	run_epoll(lfd);
	return 0;
}

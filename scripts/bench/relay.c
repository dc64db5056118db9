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
 * Sockets are blocking: the epoll relay reads only what epoll says is
 * there, and a send() that waits for a slow peer stalls the relay, not
 * the data; the benchmark's peers always read.  127.0.0.1 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
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

#define RELAY_FDS   16384
#define RELAY_BUF   16384
#define RELAY_RING  1024

struct side {
	int peer;
	size_t len, off;          /* io_uring: bytes in buf, and sent so far */
	char buf[RELAY_BUF];
};

static struct side *sides[RELAY_FDS];
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

/* A client's pair: its side and a new connection to the origin; -1 if none. */
static int
pair_open(int c)
{
	int u;

	if (c >= RELAY_FDS || (u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (u >= RELAY_FDS || connect(u, (struct sockaddr *)&origin, sizeof(origin)) == -1 ||
	    nodelay(u) == -1 || nodelay(c) == -1 ||
	    (sides[c] = calloc(1, sizeof(struct side))) == NULL ||
	    (sides[u] = calloc(1, sizeof(struct side))) == NULL) {
		free(sides[c]);
		sides[c] = NULL;
		close(u);
		return -1;
	}
	sides[c]->peer = u;
	sides[u]->peer = c;
	return u;
}

static void
pair_close(int fd)
{
	int p = sides[fd]->peer;

	free(sides[fd]);
	free(sides[p]);
	sides[fd] = sides[p] = NULL;
	close(fd);
	close(p);
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
epoll_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		die("epoll_ctl");
}

static void
run_epoll(int lfd)
{
	struct epoll_event evs[64];
	int ep, i, n;

	if ((ep = epoll_create1(0)) == -1)
		die("epoll_create1");
	epoll_add(ep, lfd);
	for (;;) {
		if ((n = epoll_wait(ep, evs, 64, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd, c, u;
			ssize_t r;

			if (fd == lfd) {
				if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
					continue;
				if ((u = pair_open(c)) == -1) {
					close(c);
					continue;
				}
				epoll_add(ep, c);
				epoll_add(ep, u);
				continue;
			}
			/* Closed earlier in this batch. */
			if (sides[fd] == NULL)
				continue;
			r = recv(fd, sides[fd]->buf, RELAY_BUF, 0);
			if (r <= 0 || send_all(sides[fd]->peer, sides[fd]->buf, (size_t)r) == -1)
				pair_close(fd);
		}
	}
}

enum { OP_ACCEPT, OP_RECV, OP_SEND };

static struct io_uring_sqe *
sqe_get(struct io_uring *ring, int op, int fd)
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
	io_uring_sqe_set_data64(sqe, (uint64_t)op << 32 | (uint32_t)fd);
	return sqe;
}

static void
uring_recv(struct io_uring *ring, int fd)
{
	io_uring_prep_recv(sqe_get(ring, OP_RECV, fd), fd, sides[fd]->buf, RELAY_BUF, 0);
}

/* Sends what is left of fd's buffer to its peer. */
static void
uring_send(struct io_uring *ring, int fd)
{
	struct side *s = sides[fd];

	io_uring_prep_send(sqe_get(ring, OP_SEND, fd), s->peer, s->buf + s->off,
	    s->len - s->off, MSG_NOSIGNAL);
}

static void
run_uring(int lfd)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	unsigned head, seen;
	int rc;

	/*
	 * One thread submits and reaps, so completions can wait for the next
	 * io_uring_enter() instead of interrupting the relay as they come.
	 */
	rc = io_uring_queue_init(RELAY_RING, &ring,
	    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (rc < 0) {
		fprintf(stderr, "relay: io_uring_queue_init: %s\n", strerror(-rc));
		exit(1);
	}
	io_uring_prep_accept(sqe_get(&ring, OP_ACCEPT, lfd), lfd, NULL, NULL, SOCK_CLOEXEC);
	for (;;) {
		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "relay: io_uring_submit_and_wait: %s\n", strerror(-rc));
			exit(1);
		}
		seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			int op = (int)(cqe->user_data >> 32), fd = (int)(uint32_t)cqe->user_data;
			int res = cqe->res, u;

			seen++;
			if (op == OP_ACCEPT) {
				io_uring_prep_accept(sqe_get(&ring, OP_ACCEPT, lfd), lfd, NULL, NULL,
				    SOCK_CLOEXEC);
				if (res < 0)
					continue;
				if ((u = pair_open(res)) == -1) {
					close(res);
					continue;
				}
				uring_recv(&ring, res);
				uring_recv(&ring, u);
				continue;
			}
			/*
			 * Closed by the other direction: the pending operation
			 * completed with an error or was left behind.  The
			 * benchmark's clients hold their connections to the end,
			 * so a descriptor is not reused while one is pending.
			 */
			if (sides[fd] == NULL)
				continue;
			if (res <= 0) {
				pair_close(fd);
			} else if (op == OP_RECV) {
				sides[fd]->len = (size_t)res;
				sides[fd]->off = 0;
				uring_send(&ring, fd);
			} else if ((sides[fd]->off += (size_t)res) < sides[fd]->len) {
				uring_send(&ring, fd);
			} else {
				uring_recv(&ring, fd);
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int lfd, one = 1;

	if (argc != 4 || (strcmp(argv[1], "epoll") != 0 && strcmp(argv[1], "uring") != 0)) {
		fprintf(stderr, "usage: relay epoll|uring LISTEN_PORT ORIGIN_PORT\n");
		return 2;
	}
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
	if (argv[1][0] == 'e')
		run_epoll(lfd);
	else
		run_uring(lfd);
	return 0;
}

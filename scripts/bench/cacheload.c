/*
 * cacheload: the origin and the client of the benchmark's collapsing
 * scenario (section 12c): many concurrent requests for one key that is
 * not in the cache yet, and how many of them reach the origin.
 *
 *   cacheload -s PORT MS
 *       An origin on 127.0.0.1:PORT that answers every request MS
 *       milliseconds after its head arrived, with 1 KiB and
 *       "Cache-Control: max-age=3600", keeping the connection.  Prints
 *       "REQ TARGET" for each request as it arrives, so that the caller
 *       counts what reached it.  The delay is what makes the requests
 *       overlap: every one sent while the first is waiting finds the key
 *       still being fetched.  All delays are equal, so the answers due
 *       are a FIFO and need no timer structure.
 *
 *   cacheload -n N PORT PATH
 *       Opens N connections to 127.0.0.1:PORT and waits until they are
 *       all up (or have failed), then sends "GET PATH" on each, one after
 *       the other, and reads every answer to its end, for 30 s at most.
 *       Prints
 *         COLLAPSE up failed answered ok hits first_us last_us
 *       "answered" counts the complete answers, "ok" those with status
 *       200, "hits" those whose Cache-Status says "hit"; the times are
 *       from the first request sent to the first and the last answer
 *       completed (-1: none).
 *
 * One thread and one epoll loop each: they run on the CPU they share
 * with the load and must cost little.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "load.h"

#define CACHELOAD_MAX       20000       /* connections of the client */
#define CACHELOAD_FDS       65536       /* descriptors the origin tracks */
#define CACHELOAD_HEAD      8192        /* of a request or an answer's head */
#define CACHELOAD_BODY      1024
#define CACHELOAD_CONNECT_MS 10000
#define CACHELOAD_WAIT_MS   30000       /* for the answers, after the first request */

static int64_t
now_us(void)
{
	return (int64_t)(load_now() / 1000);
}

static long
number(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "cacheload: bad number \"%s\"\n", s);
		exit(2);
	}
	return v;
}

static void
addr_of(struct sockaddr_in *sin, const char *port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)number(port, 1, 65535));
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void
watch(int ep, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(ep, op, fd, &ev) == -1)
		load_die("epoll_ctl");
}

/* ------------------------------------------------------------ origin */

/*
 * A connection of the origin, by descriptor.  gen tells an answer due on
 * a descriptor that was closed and reused from one due on this
 * connection.
 */
struct origin_conn {
	uint32_t gen;
	size_t len;
	char buf[CACHELOAD_HEAD];
};

struct origin_due {
	int fd;
	uint32_t gen;
	int64_t at;
};

static struct origin_conn *oconns;
static struct origin_due *dues;
static size_t due_head, due_tail;     /* a ring of CACHELOAD_FDS */

static void
origin_close(int ep, int fd)
{
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	oconns[fd].gen++;
	oconns[fd].len = 0;
}

/*
 * Reads what fd sent.  A complete head is logged and its answer queued;
 * reading then stops until it is sent (a proxy sends one request at a
 * time on a connection).
 */
static void
origin_read(int ep, int fd)
{
	struct origin_conn *oc = &oconns[fd];
	char *end, *sp;
	ssize_t r;

	r = read(fd, oc->buf + oc->len, sizeof(oc->buf) - 1 - oc->len);
	if (r == 0 || (r == -1 && errno != EAGAIN) || (r > 0 && oc->len + (size_t)r >= sizeof(oc->buf) - 1)) {
		origin_close(ep, fd);
		return;
	}
	if (r == -1)
		return;
	oc->len += (size_t)r;
	oc->buf[oc->len] = '\0';
	if ((end = strstr(oc->buf, "\r\n\r\n")) == NULL)
		return;
	sp = strchr(oc->buf, ' ');
	printf("REQ %.*s\n", sp != NULL ? (int)strcspn(sp + 1, " \r\n") : 1, sp != NULL ? sp + 1 : "?");
	fflush(stdout);
	/* Requests without a body: what follows the head is the next one's. */
	oc->len -= (size_t)(end + 4 - oc->buf);
	memmove(oc->buf, end + 4, oc->len);
	watch(ep, EPOLL_CTL_MOD, fd, 0);
	dues[due_tail] = (struct origin_due){ fd, oc->gen, now_us() };
	due_tail = (due_tail + 1) % CACHELOAD_FDS;
}

/* -s PORT MS: see above. */
static void __attribute__((noreturn))
origin_serve(const char *port, long delay_ms)
{
	static char answer[256 + CACHELOAD_BODY];
	struct epoll_event evs[256];
	struct sockaddr_in sin;
	int ls, ep, one = 1, n, i, fd, timeout, alen;
	int64_t t;

	alen = snprintf(answer, sizeof(answer), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Cache-Control: max-age=3600\r\nContent-Length: %d\r\n\r\n", CACHELOAD_BODY);
	memset(answer + alen, 'x', CACHELOAD_BODY);
	alen += CACHELOAD_BODY;
	if ((oconns = calloc(CACHELOAD_FDS, sizeof(*oconns))) == NULL ||
	    (dues = calloc(CACHELOAD_FDS, sizeof(*dues))) == NULL)
		load_die("calloc");
	addr_of(&sin, port);
	if ((ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		load_die("socket");
	(void)setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(ls, 4096) == -1)
		load_die("bind/listen");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		load_die("epoll_create1");
	watch(ep, EPOLL_CTL_ADD, ls, EPOLLIN);
	for (;;) {
		timeout = -1;
		t = now_us();
		while (due_head != due_tail && dues[due_head].at + delay_ms * 1000 <= t) {
			struct origin_due *d = &dues[due_head];

			due_head = (due_head + 1) % CACHELOAD_FDS;
			if (oconns[d->fd].gen != d->gen)
				continue;
			/* A small answer on an idle connection: the socket's buffer takes it. */
			if (write(d->fd, answer, (size_t)alen) != alen) {
				origin_close(ep, d->fd);
				continue;
			}
			watch(ep, EPOLL_CTL_MOD, d->fd, EPOLLIN);
		}
		if (due_head != due_tail)
			timeout = (int)((dues[due_head].at + delay_ms * 1000 - t + 999) / 1000);
		if ((n = epoll_wait(ep, evs, 256, timeout)) == -1) {
			if (errno == EINTR)
				continue;
			load_die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd != ls) {
				origin_read(ep, fd);
				continue;
			}
			while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
				if (fd >= CACHELOAD_FDS) {
					close(fd);
					continue;
				}
				watch(ep, EPOLL_CTL_ADD, fd, EPOLLIN);
			}
		}
	}
}

/* ------------------------------------------------------------ client */

/* Where a connection of the client is. */
enum client_state {
	CLIENT_CONNECTING,          /* connect(2) under way */
	CLIENT_UP,                  /* connected, request not sent yet */
	CLIENT_HEAD,                /* request sent, reading the answer's head */
	CLIENT_BODY,                /* reading its body */
	CLIENT_DONE                 /* answered, failed or gone */
};

struct client_conn {
	int fd;
	enum client_state state;
	int status;
	int hit;
	size_t len;                 /* of the head in buf */
	long long left;             /* body bytes still to come */
	char buf[CACHELOAD_HEAD];
};

/* A field of the head in buf, or NULL: its value up to the end of its line. */
static const char *
client_field(const char *head, const char *name)
{
	const char *p = head;
	size_t n = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			return p + n + 1;
	}
	return NULL;
}

/* Whether a Cache-Status value, up to its line's end, says "hit". */
static int
client_is_hit(const char *v)
{
	const char *end = strstr(v, "\r\n");
	const char *h = strstr(v, "; hit");

	return h != NULL && (end == NULL || h < end);
}

/*
 * Reads the answer on cc.  Returns 1 when it has ended, whole or not
 * (state CLIENT_DONE, status 0 if it was not whole).
 */
static int
client_read(struct client_conn *cc)
{
	char buf[16384], *end;
	const char *v;
	ssize_t r;
	size_t k;

	for (;;) {
		r = read(cc->fd, buf, sizeof(buf));
		if (r == -1 && errno == EAGAIN)
			return 0;
		if (r <= 0) {
			cc->status = 0;
			cc->state = CLIENT_DONE;
			return 1;
		}
		if (cc->state == CLIENT_BODY) {
			cc->left -= r;
		} else {
			k = (size_t)r < sizeof(cc->buf) - 1 - cc->len ? (size_t)r : sizeof(cc->buf) - 1 - cc->len;
			memcpy(cc->buf + cc->len, buf, k);
			cc->len += k;
			cc->buf[cc->len] = '\0';
			if ((end = strstr(cc->buf, "\r\n\r\n")) == NULL) {
				if (cc->len == sizeof(cc->buf) - 1) {
					cc->state = CLIENT_DONE;
					return 1;
				}
				continue;
			}
			end[2] = '\0';
			if (strncmp(cc->buf, "HTTP/1.", 7) == 0 && cc->len > 12)
				cc->status = atoi(cc->buf + 9);
			cc->hit = (v = client_field(cc->buf, "Cache-Status")) != NULL && client_is_hit(v);
			v = client_field(cc->buf, "Content-Length");
			cc->left = (v != NULL ? atoll(v) : 0) - (long long)(cc->len - (size_t)(end + 4 - cc->buf));
			cc->left -= (long long)((size_t)r - k);
			cc->state = CLIENT_BODY;
		}
		if (cc->left <= 0) {
			cc->state = CLIENT_DONE;
			return 1;
		}
	}
}

/* -n N PORT PATH: see above. */
static int
client_run(long n, const char *port, const char *path)
{
	struct epoll_event evs[256];
	struct sockaddr_in sin;
	struct client_conn *cs;
	char req[1024];
	int ep, m, k, one = 1, err, reqlen;
	socklen_t elen;
	long i, up = 0, failed = 0, pending = 0, answered = 0, ok = 0, hits = 0;
	int64_t t, t0, first = -1, last = -1, deadline;

	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n", path,
	    port);
	if (reqlen <= 0 || (size_t)reqlen >= sizeof(req)) {
		fprintf(stderr, "cacheload: path too long\n");
		return 2;
	}
	addr_of(&sin, port);
	if ((cs = calloc((size_t)n, sizeof(*cs))) == NULL)
		load_die("calloc");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		load_die("epoll_create1");
	/* All of them up before any request, so that the requests come together. */
	for (i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)i };

		cs[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (cs[i].fd == -1 || (connect(cs[i].fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
		    errno != EINPROGRESS) || epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) == -1) {
			if (cs[i].fd != -1)
				close(cs[i].fd);
			cs[i].state = CLIENT_DONE;
			failed++;
			continue;
		}
		(void)setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pending++;
	}
	deadline = now_us() + CACHELOAD_CONNECT_MS * 1000;
	while (pending > 0 && now_us() < deadline) {
		if ((m = epoll_wait(ep, evs, 256, 100)) == -1) {
			if (errno == EINTR)
				continue;
			load_die("epoll_wait");
		}
		for (k = 0; k < m; k++) {
			struct client_conn *cc = &cs[evs[k].data.u64];

			if (cc->state != CLIENT_CONNECTING)
				continue;
			pending--;
			elen = sizeof(err);
			if (getsockopt(cc->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 || err != 0) {
				cc->state = CLIENT_DONE;
				failed++;
				continue;
			}
			cc->state = CLIENT_UP;
			up++;
		}
	}
	t0 = now_us();
	for (i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };

		if (cs[i].state == CLIENT_CONNECTING) {
			failed++;
			cs[i].state = CLIENT_DONE;
		}
		if (cs[i].state != CLIENT_UP)
			continue;
		if (write(cs[i].fd, req, (size_t)reqlen) != reqlen ||
		    epoll_ctl(ep, EPOLL_CTL_MOD, cs[i].fd, &ev) == -1) {
			cs[i].state = CLIENT_DONE;
			continue;
		}
		cs[i].state = CLIENT_HEAD;
		pending++;
	}
	deadline = t0 + CACHELOAD_WAIT_MS * 1000;
	while (pending > 0 && (t = now_us()) < deadline) {
		if ((m = epoll_wait(ep, evs, 256, (int)((deadline - t + 999) / 1000))) == -1) {
			if (errno == EINTR)
				continue;
			load_die("epoll_wait");
		}
		for (k = 0; k < m; k++) {
			struct client_conn *cc = &cs[evs[k].data.u64];

			if (cc->state == CLIENT_DONE || !client_read(cc))
				continue;
			pending--;
			(void)epoll_ctl(ep, EPOLL_CTL_DEL, cc->fd, NULL);
			if (cc->status == 0)
				continue;
			answered++;
			ok += cc->status == 200;
			hits += cc->hit;
			t = now_us() - t0;
			if (first == -1)
				first = t;
			last = t;
		}
	}
	printf("COLLAPSE %ld %ld %ld %ld %ld %lld %lld\n", up, failed, answered, ok, hits,
	    (long long)first, (long long)last);
	return 0;
}

int
main(int argc, char **argv)
{
	/* A peer that left is seen by write's error, not by a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (argc == 4 && strcmp(argv[1], "-s") == 0)
		origin_serve(argv[2], number(argv[3], 0, 60000));
	if (argc == 5 && strcmp(argv[1], "-n") == 0)
		return client_run(number(argv[2], 1, CACHELOAD_MAX), argv[3], argv[4]);
	fprintf(stderr, "usage: cacheload -s PORT MS\n       cacheload -n N PORT PATH\n");
	return 2;
}

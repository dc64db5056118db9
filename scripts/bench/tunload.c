/*
 * tunload: the client of the benchmark's forward and SOCKS scenarios
 * (section 10).  Every connection goes to a proxy on 127.0.0.1:PROXY and
 * asks it for a tunnel to 127.0.0.1:DPORT, with -x socks5 (RFC 1928:
 * the greeting offering "no authentication", then CONNECT to the IPv4
 * address) or -x connect (an HTTP CONNECT request, answered 200).  The
 * steps wait for each answer, as curl does.
 *
 *   tunload -x KIND [-c CONNS] [-d SECS] PROXY DPORT PATH
 *       CONNS slots (default 50) on one epoll loop, each looping connect
 *       -> tunnel -> GET PATH with "Connection: close" through it ->
 *       read to the end -> close, for SECS seconds (default 5).  Prints
 *       the line of stats.lua:
 *         WRK connections bytes duration_us p50_us p99_us errors non2xx
 *
 *   tunload -x KIND -g PROXY DPORT PATH
 *       One GET PATH through a tunnel, the answer read 1 MiB at a time
 *       and thrown away.  Prints "status body-bytes seconds", as sink.pl
 *       does: curl -o /dev/null writes in 8 KiB pieces and, on the CPU it
 *       shares with the origin, would set the rate itself.
 *
 *   tunload -x KIND -i N [-c CONNS] PROXY DPORT
 *       Opens N tunnels, at most CONNS being set up at once, and sends
 *       nothing through them.  Prints "ready UP FAILED" once each has
 *       come up or failed (or after 120 s), then holds them until it is
 *       killed.
 *
 *   tunload -s PORT
 *       The destination of -i: accepts connections on 127.0.0.1:PORT and
 *       holds them, reading nothing, until it is killed.
 *
 * The slots share one thread: the client runs on the CPU it shares with
 * the origin and must cost little.  Each process needs a descriptor per
 * tunnel, so the tunnels of -i and their destination are two processes.
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

#define TUNLOAD_HIST       100000      /* latency buckets of 10 us: 1 s */
#define TUNLOAD_MAXCONNS   4096
#define TUNLOAD_HANDSHAKE  512         /* the longest proxy answer taken */
#define TUNLOAD_IDLE_SECS  120

/* How the tunnel is asked for. */
enum tunload_kind {
	TUNLOAD_SOCKS5,
	TUNLOAD_CONNECT
};

/* Where a slot is in its connection's life. */
enum tunload_state {
	TUNLOAD_CONNECTING,     /* TCP connect to the proxy in progress */
	TUNLOAD_METHOD,         /* SOCKS 5: waiting for the method choice */
	TUNLOAD_REPLY,          /* waiting for the SOCKS 5 reply or the CONNECT answer */
	TUNLOAD_READING,        /* reading the origin's answer until it closes */
	TUNLOAD_UP              /* -i: the tunnel is up and held */
};

/* What a step of a slot came to. */
enum tunload_step {
	TUNLOAD_MORE,           /* waits for the socket again */
	TUNLOAD_DONE,           /* the connection ended well */
	TUNLOAD_FAILED          /* the connection failed */
};

struct tunload_slot {
	int fd;
	enum tunload_state state;
	size_t have;                      /* bytes of the proxy's answer so far */
	char hs[TUNLOAD_HANDSHAKE + 1];   /* the proxy's answer */
	struct load_answer ans;   /* of this connection */
	uint64_t t0;                      /* when the connection was started, ns */
};

static enum tunload_kind tunload_kind;
static struct sockaddr_in tunload_proxy;
static uint16_t tunload_dport;
static char tunload_connect[128], tunload_req[512];
static size_t tunload_connect_len, tunload_req_len;
static int tunload_ep, tunload_idle;
static uint64_t tunload_done, tunload_bytes, tunload_errors, tunload_non2xx;
static uint32_t tunload_hist[TUNLOAD_HIST + 1];



/* Writes a whole small message; a short write fails the connection. */
static int
tunload_send(int fd, const void *p, size_t n)
{
	return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * The tunnel's handshake, the same on blocking and non-blocking sockets
 * ------------------------------------------------------------------------ */

/* Sends the first message once connected to the proxy. */
static int
tunload_hello(struct tunload_slot *s)
{
	static const uint8_t greeting[] = { 5, 1, 0 };

	s->have = 0;
	if (tunload_kind == TUNLOAD_SOCKS5) {
		s->state = TUNLOAD_METHOD;
		return tunload_send(s->fd, greeting, sizeof(greeting));
	}
	s->state = TUNLOAD_REPLY;
	return tunload_send(s->fd, tunload_connect, tunload_connect_len);
}

/*
 * The length of a whole SOCKS 5 reply at the start of s->hs, 0 while it
 * is incomplete, -1 if it refuses or is not one.
 */
static int
tunload_socks_reply(const struct tunload_slot *s)
{
	const uint8_t *r = (const uint8_t *)s->hs;
	size_t need;

	if (s->have < 5)
		return 0;
	if (r[0] != 5 || r[1] != 0)
		return -1;
	switch (r[3]) {
	case 1: need = 4 + 4 + 2; break;
	case 4: need = 4 + 16 + 2; break;
	case 3: need = 4 + 1 + (size_t)r[4] + 2; break;
	default: return -1;
	}
	return s->have >= need ? (int)need : 0;
}

/*
 * The length of a whole CONNECT answer head at the start of s->hs, 0
 * while it is incomplete, -1 if it is not a 200.
 */
static int
tunload_connect_reply(struct tunload_slot *s)
{
	char *end;

	s->hs[s->have] = '\0';
	if ((end = strstr(s->hs, "\r\n\r\n")) == NULL)
		return s->have < TUNLOAD_HANDSHAKE ? 0 : -1;
	if (strncmp(s->hs, "HTTP/1.", 7) != 0 || strncmp(s->hs + 8, " 200", 4) != 0)
		return -1;
	return (int)(end + 4 - s->hs);
}

/*
 * Reads what the proxy answered and moves the handshake on.  Returns
 * TUNLOAD_DONE once the tunnel is up, TUNLOAD_MORE while an answer is
 * incomplete.  Bytes behind the proxy's last answer would be the
 * destination's, which sends nothing before the request: they fail it.
 */
static enum tunload_step
tunload_handshake(struct tunload_slot *s)
{
	static const uint8_t head[] = { 5, 1, 0, 1, 127, 0, 0, 1 };
	uint8_t req[sizeof(head) + 2];
	ssize_t r;
	int len;

	r = recv(s->fd, s->hs + s->have, TUNLOAD_HANDSHAKE - s->have, 0);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return TUNLOAD_MORE;
	if (r <= 0)
		return TUNLOAD_FAILED;
	s->have += (size_t)r;
	if (s->state == TUNLOAD_METHOD) {
		if (s->have < 2)
			return TUNLOAD_MORE;
		if (s->have > 2 || s->hs[0] != 5 || s->hs[1] != 0)
			return TUNLOAD_FAILED;
		memcpy(req, head, sizeof(head));
		req[sizeof(head)] = (uint8_t)(tunload_dport >> 8);
		req[sizeof(head) + 1] = (uint8_t)tunload_dport;
		s->have = 0;
		s->state = TUNLOAD_REPLY;
		return tunload_send(s->fd, req, sizeof(req)) == 0 ? TUNLOAD_MORE : TUNLOAD_FAILED;
	}
	len = tunload_kind == TUNLOAD_SOCKS5 ? tunload_socks_reply(s) : tunload_connect_reply(s);
	if (len == 0)
		return TUNLOAD_MORE;
	if (len < 0 || (size_t)len != s->have)
		return TUNLOAD_FAILED;
	return TUNLOAD_DONE;
}


/* ------------------------------------------------------------------------
 * Loop and idle modes
 * ------------------------------------------------------------------------ */

static void
tunload_watch(struct tunload_slot *s, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(tunload_ep, op, s->fd, &ev) == -1)
		load_die("epoll_ctl");
}

/* Starts a slot's next connection. */
static void
tunload_slot_start(struct tunload_slot *s)
{
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->fd == -1)
		load_die("socket");
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->t0 = load_now();
	memset(&s->ans, 0, sizeof(s->ans));
	s->state = TUNLOAD_CONNECTING;
	if (connect(s->fd, (struct sockaddr *)&tunload_proxy, sizeof(tunload_proxy)) == -1 &&
	    errno != EINPROGRESS)
		load_die("connect");
	tunload_watch(s, EPOLL_CTL_ADD, EPOLLOUT);
}

/*
 * Ends a slot's connection, counting it as done (ok) or as an error.  A
 * tunnel of -i that came up is kept open, out of the loop.
 */
static void
tunload_slot_end(struct tunload_slot *s, int ok)
{
	uint64_t us;

	if (!ok) {
		tunload_errors++;
	} else {
		tunload_done++;
		tunload_bytes += s->ans.bytes;
		if (!tunload_idle && (s->ans.status < 200 || s->ans.status > 299))
			tunload_non2xx++;
		us = (load_now() - s->t0) / 1000;
		tunload_hist[us / 10 < TUNLOAD_HIST ? us / 10 : TUNLOAD_HIST]++;
	}
	if (ok && tunload_idle) {
		if (epoll_ctl(tunload_ep, EPOLL_CTL_DEL, s->fd, NULL) == -1)
			load_die("epoll_ctl");
		s->state = TUNLOAD_UP;
		return;
	}
	close(s->fd);
	s->fd = -1;
}

/*
 * Moves a slot on as far as it can go without waiting.  Returns
 * TUNLOAD_MORE while the connection goes on.
 */
static enum tunload_step
tunload_slot_step(struct tunload_slot *s)
{
	static char buf[16384];
	enum tunload_step st;
	socklen_t len = sizeof(int);
	int err;
	ssize_t r;

	switch (s->state) {
	case TUNLOAD_CONNECTING:
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0 ||
		    tunload_hello(s) == -1)
			return TUNLOAD_FAILED;
		tunload_watch(s, EPOLL_CTL_MOD, EPOLLIN);
		return TUNLOAD_MORE;
	case TUNLOAD_METHOD:
	case TUNLOAD_REPLY:
		if ((st = tunload_handshake(s)) != TUNLOAD_DONE)
			return st;
		if (tunload_idle)
			return TUNLOAD_DONE;
		if (tunload_send(s->fd, tunload_req, tunload_req_len) == -1)
			return TUNLOAD_FAILED;
		s->state = TUNLOAD_READING;
		return TUNLOAD_MORE;
	case TUNLOAD_READING:
		for (;;) {
			r = recv(s->fd, buf, sizeof(buf), 0);
			if (r > 0) {
				load_answer_feed(&s->ans, buf, (size_t)r);
				continue;
			}
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				return TUNLOAD_MORE;
			/* The origin closed: done if an answer came. */
			return r == 0 && s->ans.status != 0 ? TUNLOAD_DONE : TUNLOAD_FAILED;
		}
	case TUNLOAD_UP:
		break;
	}
	return TUNLOAD_FAILED;
}

/* The latency below which a share q of the connections finished, us. */

/*
 * Runs the slots.  Loop mode (total 0): each slot starts again until the
 * deadline, and those under way then finish, or count as errors if they
 * have not 10 s later.  Idle mode: total connections, conns at a time,
 * until all are up or failed or the deadline has passed.
 */
static void
tunload_run(int conns, int secs, int total)
{
	struct tunload_slot *slots;
	struct epoll_event evs[256];
	uint64_t t0, end, t1;
	int i, n, live, started, nslots = total > 0 ? total : conns;

	if ((slots = calloc((size_t)nslots, sizeof(*slots))) == NULL)
		load_die("calloc");
	if ((tunload_ep = epoll_create1(0)) == -1)
		load_die("epoll_create1");
	t0 = load_now();
	end = t0 + (uint64_t)secs * 1000000000u;
	for (started = 0; started < conns && started < nslots; started++)
		tunload_slot_start(&slots[started]);
	live = started;
	while (live > 0 && load_now() < end + (total > 0 ? 0 : 10000000000u)) {
		n = epoll_wait(tunload_ep, evs, 256, 1000);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			load_die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			struct tunload_slot *s = evs[i].data.ptr;
			enum tunload_step st = tunload_slot_step(s);

			if (st == TUNLOAD_MORE)
				continue;
			tunload_slot_end(s, st == TUNLOAD_DONE);
			if (total > 0 && started < total)
				tunload_slot_start(&slots[started++]);
			else if (total == 0 && load_now() < end)
				tunload_slot_start(s);
			else
				live--;
		}
	}
	t1 = load_now();
	if (total > 0) {
		printf("ready %llu %llu\n", (unsigned long long)tunload_done,
		    (unsigned long long)(tunload_errors + (uint64_t)live + (uint64_t)(total - started)));
		fflush(stdout);
		for (;;)
			pause();
	}
	tunload_errors += (uint64_t)live;
	printf("WRK %llu %llu %llu %llu %llu %llu %llu\n",
	    (unsigned long long)tunload_done, (unsigned long long)tunload_bytes,
	    (unsigned long long)((t1 - t0) / 1000),
	    (unsigned long long)load_percentile(tunload_hist, TUNLOAD_HIST, tunload_done, 0.50),
	    (unsigned long long)load_percentile(tunload_hist, TUNLOAD_HIST, tunload_done, 0.99),
	    (unsigned long long)tunload_errors, (unsigned long long)tunload_non2xx);
	free(slots);
}

/* ------------------------------------------------------------------------
 * Download mode
 * ------------------------------------------------------------------------ */

/*
 * One blocking download.  The body is what follows the head; the head is
 * looked for in the first bytes only, as sink.pl does.
 */
static void
tunload_get(void)
{
	static char buf[1 << 20];
	struct tunload_slot s;
	char head[65536];
	size_t hlen = 0, k;
	uint64_t body = 0, t0;
	enum tunload_step st;
	char *end;
	ssize_t r;
	int one = 1, in_head = 1;
	struct timeval stall = { .tv_sec = 30 };

	memset(&s, 0, sizeof(s));
	t0 = load_now();
	if ((s.fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		load_die("socket");
	setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A proxy that stalls fails the download instead of hanging it. */
	setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &stall, sizeof(stall));
	if (connect(s.fd, (struct sockaddr *)&tunload_proxy, sizeof(tunload_proxy)) == -1)
		load_die("connect");
	if (tunload_hello(&s) == -1)
		load_die("send");
	/* A blocking recv() that timed out says EAGAIN, which is "more" here. */
	while ((st = tunload_handshake(&s)) == TUNLOAD_MORE &&
	    load_now() - t0 < (uint64_t)stall.tv_sec * 1000000000u)
		;
	if (st != TUNLOAD_DONE) {
		fprintf(stderr, "tunload: the proxy refused the tunnel\n");
		exit(1);
	}
	if (tunload_send(s.fd, tunload_req, tunload_req_len) == -1)
		load_die("send");
	while ((r = recv(s.fd, buf, sizeof(buf), 0)) > 0) {
		if (!in_head) {
			body += (uint64_t)r;
			continue;
		}
		/* The head is in the first bytes; the rest of the read is body. */
		k = (size_t)r < sizeof(head) - 1 - hlen ? (size_t)r : sizeof(head) - 1 - hlen;
		memcpy(head + hlen, buf, k);
		hlen += k;
		head[hlen] = '\0';
		if ((end = strstr(head, "\r\n\r\n")) == NULL) {
			if (hlen == sizeof(head) - 1) {
				fprintf(stderr, "tunload: no answer head\n");
				exit(1);
			}
			continue;
		}
		load_answer_feed(&s.ans, head, hlen);
		body += (uint64_t)(hlen - (size_t)(end + 4 - head)) + ((size_t)r - k);
		in_head = 0;
	}
	if (r == -1)
		load_die("recv");
	printf("%d %llu %.6f\n", s.ans.status, (unsigned long long)body,
	    (double)(load_now() - t0) / 1e9);
	close(s.fd);
}

/* ------------------------------------------------------------------------
 * Idle destination
 * ------------------------------------------------------------------------ */

/*
 * Accepts and holds.  Out of descriptors, it says so once and waits: the
 * tunnels beyond the limit are then not up, which the benchmark counts.
 */
static void
tunload_hold(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, one = 1, said = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		load_die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1)
		load_die("bind");
	if (listen(fd, 4096) == -1)
		load_die("listen");
	for (;;) {
		if (accept4(fd, NULL, NULL, SOCK_CLOEXEC) != -1 || errno == EINTR ||
		    errno == ECONNABORTED)
			continue;
		if (errno != EMFILE && errno != ENFILE)
			load_die("accept4");
		if (!said)
			perror("tunload: accept4");
		said = 1;
		sleep(1);
	}
}

static void
tunload_usage(void)
{
	fprintf(stderr, "usage: tunload -x socks5|connect [-c CONNS] [-d SECS] PROXY DPORT PATH\n"
	    "       tunload -x socks5|connect -g PROXY DPORT PATH\n"
	    "       tunload -x socks5|connect -i N [-c CONNS] PROXY DPORT\n"
	    "       tunload -s PORT\n");
	exit(2);
}

/* A port number, or the usage. */
static uint16_t
tunload_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
		tunload_usage();
	return (uint16_t)v;
}

int
main(int argc, char **argv)
{
	int c, conns = 50, secs = 5, get = 0, idle = 0, kind = -1, nargs;

	while ((c = getopt(argc, argv, "c:d:gi:s:x:")) != -1) {
		switch (c) {
		case 'c': conns = atoi(optarg); break;
		case 'd': secs = atoi(optarg); break;
		case 'g': get = 1; break;
		case 'i': idle = atoi(optarg); if (idle < 1) tunload_usage(); break;
		case 's': tunload_hold(tunload_port(optarg)); break;
		case 'x':
			if (strcmp(optarg, "socks5") == 0)
				kind = TUNLOAD_SOCKS5;
			else if (strcmp(optarg, "connect") == 0)
				kind = TUNLOAD_CONNECT;
			else
				tunload_usage();
			break;
		default: tunload_usage();
		}
	}
	nargs = idle ? 2 : 3;
	if (kind == -1 || argc - optind != nargs || conns < 1 || conns > TUNLOAD_MAXCONNS ||
	    secs < 1 || (get && idle))
		tunload_usage();
	signal(SIGPIPE, SIG_IGN);
	tunload_kind = (enum tunload_kind)kind;
	tunload_idle = idle > 0;
	tunload_proxy.sin_family = AF_INET;
	tunload_proxy.sin_port = htons(tunload_port(argv[optind]));
	tunload_proxy.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tunload_dport = tunload_port(argv[optind + 1]);
	tunload_connect_len = (size_t)snprintf(tunload_connect, sizeof(tunload_connect),
	    "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
	    tunload_dport, tunload_dport);
	if (!idle) {
		tunload_req_len = (size_t)snprintf(tunload_req, sizeof(tunload_req),
		    "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n", argv[optind + 2]);
		if (tunload_req_len >= sizeof(tunload_req))
			tunload_usage();
	}
	if (get)
		tunload_get();
	else if (idle)
		tunload_run(conns, TUNLOAD_IDLE_SECS, idle);
	else
		tunload_run(conns, secs, 0);
	return 0;
}

/*
 * tlsload: the TLS client of the benchmark's handshake and bulk scenarios.
 *
 *   tlsload [-r] [-c CONNS] [-d SECS] PORT PATH
 *       CONNS slots (default 50), each looping connect -> TLS 1.3
 *       handshake -> GET PATH with "Connection: close" -> read to the
 *       end -> close, for SECS seconds (default 5).  Every handshake is
 *       a full one unless -r: then each slot offers the session (with
 *       the ticket) of its previous connection, and the handshake is
 *       resumed if the server accepts it.  Prints one line shaped like
 *       stats.lua's, with two more fields:
 *         WRK requests bytes duration_us p50_us p99_us errors non2xx
 *             tried resumed
 *       "tried" counts the handshakes of -r whose slot's previous
 *       connection ended well, "resumed" those of them that the server
 *       resumed.  A server that sends no new ticket on a resumed
 *       connection leaves nothing to resume the next one with: RFC 8446
 *       asks clients to use a TLS 1.3 ticket once, and OpenSSL's client
 *       does not offer one twice.
 *
 *   tlsload -g PORT PATH
 *       One GET PATH with "Connection: close", the answer read and thrown
 *       away.  Prints "status body-bytes seconds", as sink.pl does.
 *
 * wrk is no use for the first mode: with "Connection: close" it keeps
 * the session of the previous connection on its SSL object (SSL_clear
 * after SSL_shutdown) and resumes it, so its handshakes are neither all
 * full nor countable.  Certificates are not verified (the handshake
 * still checks the server's signature, which is the cost measured).
 * The slots share one thread and epoll: the client runs on the CPU it
 * shares with the origin and must cost little.  127.0.0.1 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "load.h"
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

#define TLSLOAD_SNI        "bench.test"
#define TLSLOAD_HIST       100000      /* latency buckets of 10 us: 1 s */
#define TLSLOAD_MAXCONNS   4096

/* Where a slot is in its connection's life. */
enum tlsload_state {
	TLSLOAD_CONNECTING,     /* TCP connect in progress */
	TLSLOAD_HANDSHAKE,      /* SSL_connect not finished */
	TLSLOAD_WRITING,        /* the request not fully written */
	TLSLOAD_READING         /* reading the answer until the server closes */
};

struct tlsload_slot {
	int fd;
	enum tlsload_state state;
	SSL *ssl;
	SSL_SESSION *session;     /* of the previous connection, with -r */
	int prev_ok;              /* the previous connection ended well */
	int tried;                /* this handshake may resume (-r, prev_ok) */
	struct load_answer ans;   /* of this connection */
	uint64_t t0;              /* when the connection was started, ns */
};

static struct sockaddr_in tlsload_addr;
static SSL_CTX *tlsload_ctx;
static char tlsload_req[512];
static size_t tlsload_req_len;
static int tlsload_ep;
static int tlsload_resume;
static uint64_t tlsload_done, tlsload_bytes, tlsload_errors, tlsload_non2xx;
static uint64_t tlsload_tried, tlsload_resumed;
static uint32_t tlsload_hist[TLSLOAD_HIST + 1];


static void
tlsload_die_ssl(const char *what)
{
	fprintf(stderr, "tlsload: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}


/*
 * The client context: TLS 1.3 only, no verification, and a read buffer
 * large enough that a bulk download reads many records per recv().
 */
static void
tlsload_ctx_init(void)
{
	tlsload_ctx = SSL_CTX_new(TLS_client_method());
	if (tlsload_ctx == NULL)
		tlsload_die_ssl("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(tlsload_ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(tlsload_ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(tlsload_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(tlsload_ctx,
	    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	/*
	 * A server may close after the answer without a close_notify, which
	 * OpenSSL 3 takes for a fatal error that makes the session not
	 * resumable.  The answer's end is the connection's end here, as for
	 * curl and browsers, which accept it too.
	 */
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	SSL_CTX_set_options(tlsload_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_read_ahead(tlsload_ctx, 1);
	SSL_CTX_set_default_read_buffer_len(tlsload_ctx, 65536);
}

/* A new SSL object on fd, offering session when not NULL. */
static SSL *
tlsload_ssl_new(int fd, SSL_SESSION *session)
{
	SSL *ssl;

	if ((ssl = SSL_new(tlsload_ctx)) == NULL)
		tlsload_die_ssl("SSL_new");
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, TLSLOAD_SNI);
	if (session != NULL && SSL_set_session(ssl, session) != 1)
		tlsload_die_ssl("SSL_set_session");
	return ssl;
}


/* ------------------------------------------------------------------------
 * Loop mode
 * ------------------------------------------------------------------------ */

static void
tlsload_watch(struct tlsload_slot *s, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(tlsload_ep, op, s->fd, &ev) == -1)
		load_die("epoll_ctl");
}

/* Starts a slot's next connection. */
static void
tlsload_slot_start(struct tlsload_slot *s)
{
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->fd == -1)
		load_die("socket");
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->t0 = load_now();
	s->ssl = NULL;
	memset(&s->ans, 0, sizeof(s->ans));
	s->tried = 0;
	s->state = TLSLOAD_CONNECTING;
	if (connect(s->fd, (struct sockaddr *)&tlsload_addr, sizeof(tlsload_addr)) == -1 &&
	    errno != EINPROGRESS)
		load_die("connect");
	tlsload_watch(s, EPOLL_CTL_ADD, EPOLLOUT);
}

/*
 * Ends a slot's connection, counting it as done (ok) or as an error, and
 * keeps its session for the next one with -r.  The SSL object is marked
 * shut down before it is freed: otherwise OpenSSL takes the session for
 * one of a broken connection and makes it not resumable.
 */
static void
tlsload_slot_end(struct tlsload_slot *s, int ok)
{
	uint64_t us;

	if (ok) {
		tlsload_done++;
		tlsload_bytes += s->ans.bytes;
		if (s->ans.status < 200 || s->ans.status > 299)
			tlsload_non2xx++;
		us = (load_now() - s->t0) / 1000;
		tlsload_hist[us / 10 < TLSLOAD_HIST ? us / 10 : TLSLOAD_HIST]++;
	} else {
		tlsload_errors++;
	}
	s->prev_ok = ok;
	if (s->ssl != NULL) {
		if (ok && tlsload_resume) {
			SSL_SESSION *next = SSL_get1_session(s->ssl);

			if (next != NULL && !SSL_SESSION_is_resumable(next)) {
				SSL_SESSION_free(next);
				next = NULL;
			}
			if (s->session != NULL)
				SSL_SESSION_free(s->session);
			s->session = next;
		}
		SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	close(s->fd);
	s->fd = -1;
}

/* What a slot waits for after an SSL call returned r. */
static int
tlsload_want(struct tlsload_slot *s, int r)
{
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		tlsload_watch(s, EPOLL_CTL_MOD, EPOLLIN);
		return 1;
	case SSL_ERROR_WANT_WRITE:
		tlsload_watch(s, EPOLL_CTL_MOD, EPOLLOUT);
		return 1;
	default:
		return 0;
	}
}

/*
 * Moves a slot on as far as it can go without waiting.  Returns 1 while
 * the connection goes on, 0 when it ended (done or failed).
 */
static int
tlsload_slot_step(struct tlsload_slot *s)
{
	char buf[16384];
	int r, err;
	socklen_t len = sizeof(err);

	switch (s->state) {
	case TLSLOAD_CONNECTING:
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
			tlsload_slot_end(s, 0);
			return 0;
		}
		s->tried = tlsload_resume && s->prev_ok;
		s->ssl = tlsload_ssl_new(s->fd, s->tried ? s->session : NULL);
		s->state = TLSLOAD_HANDSHAKE;
		/* FALLTHROUGH */
	case TLSLOAD_HANDSHAKE:
		if ((r = SSL_connect(s->ssl)) != 1) {
			if (tlsload_want(s, r))
				return 1;
			tlsload_slot_end(s, 0);
			return 0;
		}
		if (s->tried) {
			tlsload_tried++;
			tlsload_resumed += SSL_session_reused(s->ssl) == 1;
		}
		s->state = TLSLOAD_WRITING;
		/* FALLTHROUGH */
	case TLSLOAD_WRITING:
		if ((r = SSL_write(s->ssl, tlsload_req, (int)tlsload_req_len)) <= 0) {
			if (tlsload_want(s, r))
				return 1;
			tlsload_slot_end(s, 0);
			return 0;
		}
		s->state = TLSLOAD_READING;
		/* FALLTHROUGH */
	case TLSLOAD_READING:
		for (;;) {
			r = SSL_read(s->ssl, buf, sizeof(buf));
			if (r > 0) {
				load_answer_feed(&s->ans, buf, (size_t)r);
				continue;
			}
			if (tlsload_want(s, r))
				return 1;
			/* The server closed: done if an answer came. */
			tlsload_slot_end(s, s->ans.status != 0);
			return 0;
		}
	}
	return 0;
}

/* The latency below which a share q of the connections finished, us. */

static void
tlsload_loop(int conns, int secs)
{
	struct tlsload_slot *slots;
	struct epoll_event evs[256];
	uint64_t t0, end, t1;
	int i, n, live;

	if ((slots = calloc((size_t)conns, sizeof(*slots))) == NULL)
		load_die("calloc");
	if ((tlsload_ep = epoll_create1(0)) == -1)
		load_die("epoll_create1");
	t0 = load_now();
	end = t0 + (uint64_t)secs * 1000000000u;
	for (i = 0; i < conns; i++)
		tlsload_slot_start(&slots[i]);
	live = conns;
	/*
	 * After the deadline no slot starts again; those under way finish,
	 * or count as errors if they have not 10 s later.
	 */
	while (live > 0 && load_now() < end + 10000000000u) {
		n = epoll_wait(tlsload_ep, evs, 256, 1000);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			load_die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			struct tlsload_slot *s = evs[i].data.ptr;

			if (tlsload_slot_step(s))
				continue;
			if (load_now() < end)
				tlsload_slot_start(s);
			else
				live--;
		}
	}
	t1 = load_now();
	tlsload_errors += (uint64_t)live;
	printf("WRK %llu %llu %llu %llu %llu %llu %llu %llu %llu\n",
	    (unsigned long long)tlsload_done, (unsigned long long)tlsload_bytes,
	    (unsigned long long)((t1 - t0) / 1000),
	    (unsigned long long)load_percentile(tlsload_hist, TLSLOAD_HIST, tlsload_done, 0.50),
	    (unsigned long long)load_percentile(tlsload_hist, TLSLOAD_HIST, tlsload_done, 0.99),
	    (unsigned long long)tlsload_errors, (unsigned long long)tlsload_non2xx,
	    (unsigned long long)tlsload_tried, (unsigned long long)tlsload_resumed);
	for (i = 0; i < conns; i++)
		if (slots[i].session != NULL)
			SSL_SESSION_free(slots[i].session);
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
tlsload_get(void)
{
	struct tlsload_slot s;
	static char buf[65536];
	char head[65536];
	size_t hlen = 0;
	uint64_t body = 0, t0;
	char *end;
	int r, fd, one = 1, in_head = 1;
	struct timeval stall = { .tv_sec = 30 };

	memset(&s, 0, sizeof(s));
	t0 = load_now();
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		load_die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* A proxy that stalls fails the download instead of hanging it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &stall, sizeof(stall));
	if (connect(fd, (struct sockaddr *)&tlsload_addr, sizeof(tlsload_addr)) == -1)
		load_die("connect");
	s.ssl = tlsload_ssl_new(fd, NULL);
	if (SSL_connect(s.ssl) != 1)
		tlsload_die_ssl("handshake");
	if (SSL_write(s.ssl, tlsload_req, (int)tlsload_req_len) <= 0)
		tlsload_die_ssl("write");
	while ((r = SSL_read(s.ssl, buf, sizeof(buf))) > 0) {
		if (!in_head) {
			body += (uint64_t)r;
			continue;
		}
		if (hlen + (size_t)r >= sizeof(head))
			tlsload_die_ssl("no answer head");
		memcpy(head + hlen, buf, (size_t)r);
		hlen += (size_t)r;
		head[hlen] = '\0';
		if ((end = strstr(head, "\r\n\r\n")) == NULL)
			continue;
		load_answer_feed(&s.ans, head, hlen);
		body += hlen - (size_t)(end + 4 - head);
		in_head = 0;
	}
	printf("%d %llu %.6f\n", s.ans.status, (unsigned long long)body,
	    (double)(load_now() - t0) / 1e9);
	SSL_set_shutdown(s.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(s.ssl);
	close(fd);
}

static void
tlsload_usage(void)
{
	fprintf(stderr, "usage: tlsload [-r] [-c CONNS] [-d SECS] PORT PATH\n"
	    "       tlsload -g PORT PATH\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int c, conns = 50, secs = 5, get = 0;

	while ((c = getopt(argc, argv, "c:d:gr")) != -1) {
		switch (c) {
		case 'c': conns = atoi(optarg); break;
		case 'd': secs = atoi(optarg); break;
		case 'g': get = 1; break;
		case 'r': tlsload_resume = 1; break;
		default: tlsload_usage();
		}
	}
	if (argc - optind != 2 || conns < 1 || conns > TLSLOAD_MAXCONNS || secs < 1)
		tlsload_usage();
	signal(SIGPIPE, SIG_IGN);
	tlsload_addr.sin_family = AF_INET;
	tlsload_addr.sin_port = htons((uint16_t)atoi(argv[optind]));
	tlsload_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tlsload_req_len = (size_t)snprintf(tlsload_req, sizeof(tlsload_req),
	    "GET %s HTTP/1.1\r\nHost: " TLSLOAD_SNI "\r\nConnection: close\r\n\r\n",
	    argv[optind + 1]);
	if (tlsload_req_len >= sizeof(tlsload_req))
		tlsload_usage();
	tlsload_ctx_init();
	if (get)
		tlsload_get();
	else
		tlsload_loop(conns, secs);
	SSL_CTX_free(tlsload_ctx);
	return 0;
}

/*
 * parkload: the client and the server of the benchmark's decision
 * scenario (section 11c): connections that cuttle holds for a decision,
 * and how long a decision takes to let them all go on.
 *
 *   parkload -s PORT
 *       An echo server on 127.0.0.1:PORT: what a connection sends comes
 *       back, until the client closes it or parkload is killed.
 *
 *   parkload -n N PORT CMD [ARG...]
 *       Opens N connections to 127.0.0.1:PORT, one after the other, and
 *       sends one byte on each.  Prints "ready UP FAILED" and waits for
 *       SIGUSR1 (the connections are held by then: the caller checks it).
 *       Then takes the time (the mark), runs CMD, which is to make the
 *       decision, and waits for the byte to come back on every connection
 *       that is up, for 10 s at most.  Prints
 *         PARK up echoed early lost cmd_status cmd_us first_us last_us
 *       with the times in microseconds from the mark: when CMD exited,
 *       when the first byte and when the last came back (-1: none).
 *       "early" counts the bytes that came back before the mark: those
 *       connections were not held.
 *
 * One thread and one epoll loop: the client runs on the CPU it shares
 * with the origin and must cost little.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PARKLOAD_MAX       100000
#define PARKLOAD_WAIT_MS   10000       /* for the echoes, after the mark */
#define PARKLOAD_SIGFD     (-1)        /* the epoll tag of the signalfd */

extern char **environ;

static void
die(const char *what)
{
	fprintf(stderr, "parkload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
addr_of(struct sockaddr_in *sin, const char *port)
{
	char *end;
	long p = strtol(port, &end, 10);

	if (*end != '\0' || p < 1 || p > 65535) {
		fprintf(stderr, "parkload: bad port \"%s\"\n", port);
		exit(2);
	}
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)p);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void
add(int ep, int fd, uint32_t events, int tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)(uint32_t)tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		die("epoll_ctl");
}

/* -s PORT: echoes what each connection sends, until killed. */
static void __attribute__((noreturn))
serve(const char *port)
{
	struct epoll_event evs[256];
	struct sockaddr_in sin;
	char buf[4096];
	int ls, ep, one = 1, n, i, fd;
	ssize_t r;

	addr_of(&sin, port);
	if ((ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	(void)setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(ls, 4096) == -1)
		die("bind/listen");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	add(ep, ls, EPOLLIN, ls);
	for (;;) {
		if ((n = epoll_wait(ep, evs, 256, -1)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			fd = (int)evs[i].data.u64;
			if (fd == ls) {
				int c;

				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1)
					add(ep, c, EPOLLIN, c);
				continue;
			}
			while ((r = read(fd, buf, sizeof(buf))) > 0)
				/* A few bytes at a time: the socket's buffer takes them. */
				if (write(fd, buf, (size_t)r) != r)
					break;
			if (r == 0 || (r == -1 && errno != EAGAIN)) {
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
}

/* -n N PORT CMD...: see above. */
static int
park(long n, const char *port, char **cmd)
{
	struct epoll_event evs[256];
	struct sockaddr_in sin;
	posix_spawnattr_t attr;
	struct signalfd_siginfo si;
	sigset_t sigs, none;
	int64_t mark = 0, cmd_us = -1, first = -1, last = -1, deadline = 0, t;
	long up = 0, failed = 0, echoed = 0, early = 0, gone = 0, i;
	int *fds, ep, sfd, k, m, status = -1, one = 1;
	char *done;
	pid_t child = -1;
	char b;

	addr_of(&sin, port);
	if ((fds = calloc((size_t)n, sizeof(*fds))) == NULL || (done = calloc((size_t)n, 1)) == NULL)
		die("calloc");
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) == -1 ||
	    (sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("signalfd/epoll");
	add(ep, sfd, EPOLLIN, PARKLOAD_SIGFD);
	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] == -1 || connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
		    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
		    write(fds[i], "x", 1) != 1) {
			if (fds[i] != -1)
				close(fds[i]);
			fds[i] = -1;
			done[i] = 1;
			failed++;
			continue;
		}
		add(ep, fds[i], EPOLLIN | EPOLLRDHUP, (int)i);
		up++;
	}
	printf("ready %ld %ld\n", up, failed);
	fflush(stdout);
	for (;;) {
		int timeout = -1;

		if (mark != 0) {
			if (echoed + gone == up && child == -1)
				break;
			t = now_us();
			if (t >= deadline)
				break;
			timeout = (int)((deadline - t + 999) / 1000);
		}
		if ((m = epoll_wait(ep, evs, 256, timeout)) == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		t = now_us();
		for (k = 0; k < m; k++) {
			int tag = (int)(uint32_t)evs[k].data.u64;

			if (tag == PARKLOAD_SIGFD) {
				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGUSR1 && mark == 0) {
						sigemptyset(&none);
						if (posix_spawnattr_init(&attr) != 0 ||
						    posix_spawnattr_setsigmask(&attr, &none) != 0 ||
						    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK) != 0)
							die("posix_spawnattr");
						mark = now_us();
						deadline = mark + PARKLOAD_WAIT_MS * 1000;
						errno = posix_spawnp(&child, cmd[0], NULL, &attr, cmd, environ);
						if (errno != 0)
							die(cmd[0]);
						posix_spawnattr_destroy(&attr);
					} else if (si.ssi_signo == SIGCHLD && child != -1 &&
					    waitpid(child, &status, WNOHANG) == child) {
						cmd_us = now_us() - mark;
						child = -1;
					}
				}
				continue;
			}
			if (done[tag])
				continue;
			done[tag] = 1;
			(void)epoll_ctl(ep, EPOLL_CTL_DEL, fds[tag], NULL);
			if (read(fds[tag], &b, 1) != 1) {
				gone++;
				continue;
			}
			if (mark == 0) {
				early++;
				gone++;
				continue;
			}
			echoed++;
			if (first == -1)
				first = t - mark;
			last = t - mark;
		}
	}
	printf("PARK %ld %ld %ld %ld %d %lld %lld %lld\n", up, echoed, early, up - echoed,
	    status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128,
	    (long long)cmd_us, (long long)first, (long long)last);
	return 0;
}

int
main(int argc, char **argv)
{
	long n;
	char *end;

	if (argc == 3 && strcmp(argv[1], "-s") == 0)
		serve(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "-n") == 0) {
		n = strtol(argv[2], &end, 10);
		if (*end == '\0' && n > 0 && n <= PARKLOAD_MAX)
			return park(n, argv[3], argv + 4);
	}
	fprintf(stderr, "usage: parkload -s PORT\n       parkload -n N PORT CMD [ARG...]\n");
	return 2;
}

/*
 * Per-iteration log buffers; see logbuf.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/logbuf.h"

/*
 * A new open file description of the pipe or tty at fd, non-blocking,
 * put on fd's number with fd's close-on-exec flag.
 */
static int
logbuf_reopen_nonblock(int fd)
{
	char path[64];
	int nfd, cloexec;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((cloexec = fcntl(fd, F_GETFD)) == -1)
		return CT_ERROR;
	if ((nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)) == -1)
		return CT_ERROR;
	if (dup3(nfd, fd, (cloexec & FD_CLOEXEC) ? O_CLOEXEC : 0) == -1) {
		close(nfd);
		return CT_ERROR;
	}
	close(nfd);
	return CT_OK;
}

int
logbuf_attach(struct logbuf *b, int fd)
{
	struct stat st;
	int type;
	socklen_t len = sizeof(type);

	b->fd = fd;
	b->kind = LOGBUF_FILE;
	b->dropped = 0;
	if (fstat(fd, &st) == -1 || S_ISREG(st.st_mode))
		return CT_OK;
	if (S_ISSOCK(st.st_mode)) {
		/* A datagram socket is written line by line by its owner. */
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
			b->kind = LOGBUF_SOCKET;
		return CT_OK;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return CT_OK;
	if (logbuf_reopen_nonblock(fd) != CT_OK)
		return CT_DECLINED;
	b->kind = LOGBUF_PIPE;
	return CT_OK;
}

static uint64_t
logbuf_lines(const char *p, size_t n)
{
	uint64_t lines = 0;
	const char *e = p + n;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		lines++;
		p++;
	}
	return lines;
}

/* How much of the n bytes at p one write may take: all, or for a pipe whole lines within PIPE_BUF. */
static size_t
logbuf_chunk(const struct logbuf *b, const char *p, size_t n)
{
	const char *nl;

	if (b->kind != LOGBUF_PIPE || n <= PIPE_BUF)
		return n;
	nl = memrchr(p, '\n', PIPE_BUF);
	return nl != NULL ? (size_t)(nl - p) + 1 : n;
}

void
logbuf_flush(struct logbuf *b)
{
	size_t off = 0, n;
	ssize_t w;

	while (off < b->len) {
		n = logbuf_chunk(b, b->data + off, b->len - off);
		if (b->kind == LOGBUF_SOCKET)
			w = send(b->fd, b->data + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			w = write(b->fd, b->data + off, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			/* EPIPE, ENOSPC, EBADF: what is left will not get out. */
			b->dropped += logbuf_lines(b->data + off, b->len - off);
			off = b->len;
			break;
		}
		off += (size_t)w;
	}
	if (off > 0 && off < b->len)
		memmove(b->data, b->data + off, b->len - off);
	b->len -= off;
}

int
logbuf_add(struct logbuf *b, const char *line, size_t n)
{
	if (b->len + n > sizeof(b->data))
		logbuf_flush(b);
	if (b->len + n > sizeof(b->data)) {
		b->dropped++;
		return CT_AGAIN;
	}
	memcpy(b->data + b->len, line, n);
	b->len += n;
	return CT_OK;
}

/* ------------------------------------------------------------- time */

struct logbuf_clock {
	time_t sec;
	char err[32];       /* 2026/11/23 10:49:26 */
	char iso[40];       /* 2026-11-23T10:49:26+01:00 */
	char syslog[24];    /* Nov 23 10:49:26 */
};

static struct logbuf_clock logbuf_clock = { .sec = -1 };

static const struct logbuf_clock *
logbuf_clock_get(time_t now)
{
	struct logbuf_clock *k = &logbuf_clock;
	struct tm tm;
	size_t n;
	int off;

	if (now == k->sec)
		return k;
	localtime_r(&now, &tm);
	strftime(k->err, sizeof(k->err), "%Y/%m/%d %H:%M:%S", &tm);
	strftime(k->syslog, sizeof(k->syslog), "%b %e %H:%M:%S", &tm);
	n = strftime(k->iso, sizeof(k->iso), "%Y-%m-%dT%H:%M:%S", &tm);
	off = (int)(tm.tm_gmtoff / 60);
	snprintf(k->iso + n, sizeof(k->iso) - n, "%c%02d:%02d", off < 0 ? '-' : '+',
	    (off < 0 ? -off : off) / 60 % 100, (off < 0 ? -off : off) % 60);
	k->sec = now;
	return k;
}

const char *
logbuf_time_err(time_t now)
{
	return logbuf_clock_get(now)->err;
}

const char *
logbuf_time_iso(time_t now)
{
	return logbuf_clock_get(now)->iso;
}

const char *
logbuf_time_syslog(time_t now)
{
	return logbuf_clock_get(now)->syslog;
}

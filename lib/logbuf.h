/*
 * A log descriptor that a worker writes once per loop iteration instead
 * of once per line: lines are appended to a buffer, and logbuf_flush()
 * (the loop's after hook, a full buffer, exit) writes it.
 *
 * Nothing here may stall the loop.  A regular file is written as it is,
 * blocking: a write to a file waits for no reader.  A pipe, FIFO or
 * terminal is reopened through /proc/self/fd as a new, non-blocking open
 * file description, so that the blocking one the master shares through
 * fork() stays as it is.  A stream socket (journald's stdout) is written
 * with send(MSG_DONTWAIT), which changes no description either.
 *
 * A line that finds the buffer full while the reader is behind is
 * dropped whole and counted; lines are never cut.  Writes to a pipe go
 * in pieces of at most PIPE_BUF bytes ending at a line's end, which the
 * kernel writes whole or not at all, so that lines of other processes
 * on the same pipe never land inside ours.
 */
#ifndef CT_LOGBUF_H
#define CT_LOGBUF_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define LOGBUF_SIZE 32768

enum logbuf_kind {
	LOGBUF_FILE,      /* a regular file or anything else: write(2), blocking */
	LOGBUF_PIPE,      /* a pipe, FIFO or tty: its own O_NONBLOCK description */
	LOGBUF_SOCKET     /* a stream socket: send(MSG_DONTWAIT) */
};

struct logbuf {
	int fd;
	enum logbuf_kind kind;
	size_t len;                /* bytes waiting in data */
	uint64_t dropped;          /* lines dropped since logbuf_attach() */
	char data[LOGBUF_SIZE];
};

/*
 * Makes fd, whatever it is, the target of b (data waiting in b is kept).
 * A pipe or tty gets a non-blocking description of its own on the same
 * number; if that cannot be had, it stays blocking, as a file (logged
 * by the caller from the return value CT_DECLINED).
 */
int logbuf_attach(struct logbuf *b, int fd);
/*
 * Appends one line (n bytes, its newline included).  Flushes first when
 * it does not fit; returns CT_AGAIN, counting a drop, when it still
 * does not.
 */
int logbuf_add(struct logbuf *b, const char *line, size_t n);
/* Writes what it can without blocking (a file: all of it); keeps the rest. */
void logbuf_flush(struct logbuf *b);

/*
 * The current local time as the error log's "2026/11/23 10:49:26" and as
 * ISO 8601 "2026-11-23T10:49:26+01:00", formatted once per second.
 * now is the second, from time(NULL) or a coarse clock.
 */
const char *logbuf_time_err(time_t now);
const char *logbuf_time_iso(time_t now);
/* As syslog's header wants it: "Nov 23 10:49:26". */
const char *logbuf_time_syslog(time_t now);

#endif

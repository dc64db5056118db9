/*
 * One side of a connection: a socket and the operations that move bytes
 * over it.  Modes and the tunnel only ever call these, never the socket,
 * so that a TLS side is another ops table with the same contract
 * (compare nginx's ngx_ssl_recv/write/shutdown, HAProxy's xprt layer):
 *
 *  - read and write return a byte count > 0, or CT_AGAIN (would block),
 *    CT_DONE (read: orderly end of stream), CT_ERROR (errno set);
 *  - after CT_AGAIN the owner waits for the events stream_events() names:
 *    a TLS read may need the socket writable (read_wants_out) and a
 *    write readable (write_wants_in);
 *  - bytes may wait inside the library while the socket is empty: such
 *    a stream keeps drained clear, and a read returns them;
 *  - handshake (NULL: none) runs before the first byte, and
 *    shutdown_write may answer CT_AGAIN and be called again;
 *  - splice_read/splice_write move bytes between the socket and a pipe
 *    inside the kernel; NULL where bytes must cross user space (TLS),
 *    and the tunnel splices only when both sides have them.
 */
#ifndef CT_WORKER_STREAM_H
#define CT_WORKER_STREAM_H

#include <sys/types.h>
#include <sys/uio.h>

#include "lib/addr.h"
#include "lib/ev.h"

struct stream;
struct ssl_st;

struct stream_ops {
	ssize_t (*read)(struct stream *s, void *buf, size_t len);
	/*
	 * read, leaving the bytes in the socket (a ClientHello looked at
	 * before the connection is relayed); NULL where that cannot be.
	 */
	ssize_t (*peek)(struct stream *s, void *buf, size_t len);
	ssize_t (*write)(struct stream *s, const void *buf, size_t len);
	/*
	 * write, for the last bytes before the write side is shut down or
	 * the socket closed: the FIN can then leave in the same segment
	 * instead of one of its own, and the peer acknowledges both at once.
	 * The caller shuts down or closes as soon as they are written.
	 */
	ssize_t (*write_last)(struct stream *s, const void *buf, size_t len);
	/* A head and a body in one call: one segment instead of two. */
	ssize_t (*writev)(struct stream *s, const struct iovec *iov, int iovcnt);
	/* CT_OK when done, CT_AGAIN to be called again, CT_ERROR. */
	int (*handshake)(struct stream *s);
	/* Sends the end of the stream; CT_OK, CT_AGAIN (call again), CT_ERROR. */
	int (*shutdown_write)(struct stream *s);
	/* socket -> pipe (fd, its write end), at most len bytes. */
	ssize_t (*splice_read)(struct stream *s, int fd, size_t len);
	/* pipe (fd, its read end) -> socket, at most len bytes. */
	ssize_t (*splice_write)(struct stream *s, int fd, size_t len);
	/*
	 * Bytes a read would return without the socket (decrypted and held
	 * by the library); NULL: none ever are.
	 */
	int (*buffered)(const struct stream *s);
	/* Frees what the stream holds beside its socket, before the close. */
	void (*release)(struct stream *s);
};

struct stream {
	int fd;                         /* -1 when closed */
	/*
	 * The socket was found empty (EAGAIN, or a read that got less than
	 * it asked for: TCP hands over all it holds) and no input event came
	 * since, so a read answers CT_AGAIN without a system call.  An owner
	 * that waits for EPOLLIN misses nothing, provided it passes every
	 * event of the socket to stream_event().
	 */
	unsigned drained:1;
	/*
	 * epoll reported EPOLLRDHUP without an error: the peer's FIN has
	 * arrived, in order, behind every byte it sent.  Once drained, the
	 * socket holds only the end of the stream, so a read answers CT_DONE
	 * without the recv() that would say so.
	 */
	unsigned rdhup:1;
	/*
	 * A write answered CT_AGAIN and no EPOLLOUT came since: the next
	 * write would too.  For a relay that waits for EPOLLOUT whenever it
	 * holds bytes for the socket, as it must to have them written.
	 */
	unsigned blocked:1;
	/*
	 * epoll reported EPOLLPRI: the peer sent TCP urgent data.  A read
	 * stops short at the urgent mark with bytes behind it, so from now
	 * on only EAGAIN says the socket is empty; and splice() cannot pass
	 * the mark at all, while recv() steps over the urgent byte (it is
	 * not relayed: nothing reads out-of-band data).
	 */
	unsigned urgent:1;
	/* The last read answered CT_AGAIN waiting for EPOLLOUT (TLS). */
	unsigned read_wants_out:1;
	/* The last write answered CT_AGAIN waiting for EPOLLIN (TLS). */
	unsigned write_wants_in:1;
	/* After the bits, which fill the word beside fd. */
	struct ev_io io;
	const struct stream_ops *ops;
	struct ssl_st *ssl;             /* TLS streams (stream_tls.c); else NULL */
};

extern const struct stream_ops stream_plain_ops;

/* Interest in reading: the end of the stream and urgent data included. */
#define STREAM_READ_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLPRI)

/* An event on s's socket: bytes (or the end) may be there again. */
static inline void
stream_event(struct stream *s, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		s->drained = 0;
		if (s->write_wants_in)
			s->blocked = 0;
	}
	if ((events & (EPOLLRDHUP | EPOLLERR)) == EPOLLRDHUP)
		s->rdhup = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		s->blocked = 0;
		if (s->read_wants_out)
			s->drained = 0;
	}
	if (events & EPOLLPRI)
		s->urgent = 1;
}

/*
 * The events to wait for on s's socket to go on reading (reading) and
 * writing (writing), after either answered CT_AGAIN.
 */
static inline uint32_t
stream_events(const struct stream *s, int reading, int writing)
{
	uint32_t ev = 0;

	if (reading)
		ev |= s->read_wants_out ? EPOLLOUT : STREAM_READ_EVENTS;
	if (writing)
		ev |= s->write_wants_in ? EPOLLIN : EPOLLOUT;
	return ev;
}

/* Can bytes go between s and a pipe without crossing user space? */
static inline int
stream_can_splice(const struct stream *s)
{
	return s->ops->splice_read != NULL && s->ops->splice_write != NULL;
}

/* Does the library hold bytes that no socket event will announce? */
static inline int
stream_buffered(const struct stream *s)
{
	return s->ops->buffered != NULL && s->ops->buffered(s);
}

/* Would a read find nothing to return, not even the end of the stream? */
static inline int
stream_empty(const struct stream *s)
{
	return s->drained && !s->rdhup;
}

/* Would a read return the end of the stream, without a system call? */
static inline int
stream_at_end(const struct stream *s)
{
	return s->drained && s->rdhup;
}

void stream_init(struct stream *s, int fd, ev_io_cb cb, void *data);
/*
 * Starts a non-blocking connect to a from a new socket (TCP_NODELAY: a
 * relay's writes are already as large as its peer made them).  Returns 0
 * when connected, EINPROGRESS when under way, or the errno of the
 * failure; s holds the socket whenever one was made.
 */
int stream_connect(struct stream *s, const struct addr *a, ev_io_cb cb, void *data);
/*
 * The outcome of a connect that was under way, from the event that
 * reported it: 0 or an errno.
 */
int stream_connect_result(const struct stream *s, uint32_t events);
/* Deregisters and closes; safe on a closed stream. */
void stream_close(struct ev_loop *loop, struct stream *s);

#endif

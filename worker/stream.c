/*
 * Plain sockets behind the stream ops; stream.h has the contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ct.h"
#include "worker/stream.h"

static ssize_t
stream_plain_read(struct stream *s, void *buf, size_t len)
{
	ssize_t n;

	if (s->drained)
		return s->rdhup ? CT_DONE : CT_AGAIN;
	do {
		n = recv(s->fd, buf, len, 0);
	} while (n == -1 && errno == EINTR);
	if (n > 0) {
		s->drained = (size_t)n < len && !s->urgent;
		return n;
	}
	if (n == 0)
		return CT_DONE;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->drained = 1;
		return CT_AGAIN;
	}
	return CT_ERROR;
}

static ssize_t
stream_plain_peek(struct stream *s, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(s->fd, buf, len, MSG_PEEK);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == 0)
		return CT_DONE;
	return errno == EAGAIN || errno == EWOULDBLOCK ? CT_AGAIN : CT_ERROR;
}

static ssize_t
stream_plain_send(struct stream *s, const void *buf, size_t len, int flags)
{
	ssize_t n;

	do {
		n = send(s->fd, buf, len, MSG_NOSIGNAL | flags);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return n > 0 ? n : CT_AGAIN;
	return errno == EAGAIN || errno == EWOULDBLOCK ? CT_AGAIN : CT_ERROR;
}

static ssize_t
stream_plain_write(struct stream *s, const void *buf, size_t len)
{
	return stream_plain_send(s, buf, len, 0);
}

/*
 * MSG_MORE holds back the last, partial segment; the shutdown() or
 * close() that follows adds the FIN to it and sends it.
 */
static ssize_t
stream_plain_write_last(struct stream *s, const void *buf, size_t len)
{
	return stream_plain_send(s, buf, len, MSG_MORE);
}

static ssize_t
stream_plain_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = (struct iovec *)(uintptr_t)iov;
	msg.msg_iovlen = (size_t)iovcnt;
	do {
		n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return n > 0 ? n : CT_AGAIN;
	return errno == EAGAIN || errno == EWOULDBLOCK ? CT_AGAIN : CT_ERROR;
}

static int
stream_plain_shutdown_write(struct stream *s)
{
	return shutdown(s->fd, SHUT_WR) == -1 ? CT_ERROR : CT_OK;
}

static ssize_t
stream_plain_splice_read(struct stream *s, int fd, size_t len)
{
	ssize_t n;

	do {
		n = splice(s->fd, NULL, fd, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == 0)
		return CT_DONE;
	if (errno == EAGAIN) {
		s->drained = 1;
		return CT_AGAIN;
	}
	return CT_ERROR;
}

static ssize_t
stream_plain_splice_write(struct stream *s, int fd, size_t len)
{
	ssize_t n;

	do {
		n = splice(fd, NULL, s->fd, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == -1 && errno == EAGAIN) {
		s->blocked = 1;
		return CT_AGAIN;
	}
	return CT_ERROR;
}

const struct stream_ops stream_plain_ops = {
	.read = stream_plain_read,
	.peek = stream_plain_peek,
	.write = stream_plain_write,
	.write_last = stream_plain_write_last,
	.writev = stream_plain_writev,
	.handshake = NULL,
	.shutdown_write = stream_plain_shutdown_write,
	.splice_read = stream_plain_splice_read,
	.splice_write = stream_plain_splice_write,
};

void
stream_init(struct stream *s, int fd, ev_io_cb cb, void *data)
{
	s->fd = fd;
	s->ops = &stream_plain_ops;
	s->drained = 0;
	s->rdhup = 0;
	s->blocked = 0;
	s->urgent = 0;
	s->read_wants_out = 0;
	s->write_wants_in = 0;
	s->ssl = NULL;
	ev_io_init(&s->io, fd, cb, data);
}

int
stream_connect(struct stream *s, const struct addr *a, ev_io_cb cb, void *data)
{
	int fd, on = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	stream_init(s, fd, cb, data);
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return 0;
	return errno;
}

int
stream_connect_result(const struct stream *s, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	/* Writable without an error: connected (a failed connect adds EPOLLERR). */
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == EPOLLOUT)
		return 0;
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

void
stream_close(struct ev_loop *loop, struct stream *s)
{
	if (s->fd == -1)
		return;
	/* A worker never forks: its sockets are its own, and close() unregisters them. */
	ev_io_forget(loop, &s->io);
	if (s->ops->release != NULL)
		s->ops->release(s);
	close(s->fd);
	s->fd = -1;
}

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ct.h"
#include "worker/stream.h"

static ssize_t
stream_plain_read(struct stream *s, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(s->fd, buf, len, 0);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		return n;
	if (n == 0)
		return CT_DONE;
	return errno == EAGAIN || errno == EWOULDBLOCK ? CT_AGAIN : CT_ERROR;
}

static ssize_t
stream_plain_write(struct stream *s, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(s->fd, buf, len, MSG_NOSIGNAL);
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

const struct stream_ops stream_plain_ops = {
	.read = stream_plain_read,
	.write = stream_plain_write,
	.shutdown_write = stream_plain_shutdown_write,
};

void
stream_init(struct stream *s, int fd, ev_io_cb cb, void *data)
{
	s->fd = fd;
	s->ops = &stream_plain_ops;
	ev_io_init(&s->io, fd, cb, data);
}

void
stream_close(struct ev_loop *loop, struct stream *s)
{
	if (s->fd == -1)
		return;
	ev_io_stop(loop, &s->io);
	close(s->fd);
	s->fd = -1;
}

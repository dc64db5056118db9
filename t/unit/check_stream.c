/*
 * The plain stream: reads that learn a socket is empty without asking
 * the kernel again, and connects judged from the event that ends them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ct.h"
#include "t/unit/loopback.h"
#include "t/unit/suites.h"
#include "worker/stream.h"

/* A connected non-blocking TCP pair on loopback: s[0] is the stream's side. */
static void
stream_pair(int s[2])
{
	struct sockaddr_in a;
	int l = loopback_listener(&a);

	s[1] = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(s[1], (struct sockaddr *)&a, sizeof(a)), 0);
	s[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	ck_assert_int_ne(s[0], -1);
	close(l);
}

/*
 * Waits (at most 2 s) until fd has events among what: bytes, the end
 * of the stream or an error to read (POLLIN), or room to write
 * (POLLOUT); what the test checks next depends on it.
 */
static void
stream_wait(int fd, short what)
{
	struct pollfd p = { .fd = fd, .events = what };

	ck_assert_int_eq(poll(&p, 1, 2000), 1);
}

/* A stream on s[0] with bytes sent to it by s[1], arrived. */
static void
stream_fed(struct stream *st, int s[2], const char *bytes)
{
	stream_pair(s);
	stream_init(st, s[0], NULL, NULL);
	ck_assert_int_eq(write(s[1], bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	stream_wait(s[0], POLLIN);
}

START_TEST(stream_short_read_drains)
{
	struct stream st;
	char buf[64];
	int s[2];

	stream_fed(&st, s, "hello");
	/* 5 bytes of 64 asked for: the socket is empty now. */
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), 5);
	ck_assert(st.drained);
	ck_assert_int_eq(write(s[1], "world", 5), 5);
	stream_wait(s[0], POLLIN);
	/* No input event since: the bytes wait in the socket, untouched. */
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), CT_AGAIN);
	stream_event(&st, EPOLLOUT);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), CT_AGAIN);
	stream_event(&st, EPOLLIN);
	ck_assert(!st.drained);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "world", 5), 0);
	close(s[0]);
	close(s[1]);
}
END_TEST

START_TEST(stream_full_read_keeps_reading)
{
	struct stream st;
	char buf[4];
	int s[2];

	stream_fed(&st, s, "abcdefg");
	/* A read that filled its buffer may have left bytes behind. */
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), 4);
	ck_assert(!st.drained);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), 3);
	ck_assert(st.drained);
	/* EAGAIN marks it too; the end of the stream comes with an event. */
	stream_event(&st, EPOLLIN);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), CT_AGAIN);
	ck_assert(st.drained);
	close(s[1]);
	stream_wait(s[0], POLLIN);
	stream_event(&st, EPOLLIN | EPOLLRDHUP);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), CT_DONE);
	close(s[0]);
}
END_TEST

/*
 * A read with the stream's descriptor hidden: a recv() would fail
 * (EBADF), so CT_AGAIN or CT_DONE can only come from what the stream knew.
 */
static ssize_t
read_without_kernel(struct stream *st)
{
	char buf[64];
	int fd = st->fd;
	ssize_t n;

	st->fd = -1;
	n = st->ops->read(st, buf, sizeof(buf));
	st->fd = fd;
	return n;
}

/*
 * After EPOLLRDHUP the end of the stream is known once the bytes before
 * it are read: the read that would only return 0 is not made.
 */
START_TEST(stream_rdhup_ends_without_recv)
{
	struct stream st;
	char buf[64];
	int s[2];

	stream_fed(&st, s, "bye");
	ck_assert_int_eq(shutdown(s[1], SHUT_WR), 0);
	stream_wait(s[0], POLLIN);
	stream_event(&st, EPOLLIN | EPOLLRDHUP);
	/* Not yet drained: bytes may still be there, so the kernel is asked. */
	ck_assert_int_eq(st.ops->read(&st, buf, 2), 2);
	ck_assert(!stream_empty(&st));
	ck_assert(!stream_at_end(&st));
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), 1);
	ck_assert(st.drained);
	/* Drained, but not empty: the end of the stream is still to be read. */
	ck_assert(!stream_empty(&st));
	ck_assert(stream_at_end(&st));
	ck_assert_int_eq(read_without_kernel(&st), CT_DONE);
	close(s[0]);
	close(s[1]);
}
END_TEST

/* With an error beside it, EPOLLRDHUP proves nothing: the kernel says. */
START_TEST(stream_rdhup_with_error_asks)
{
	struct stream st;
	char buf[64];
	int s[2];

	stream_fed(&st, s, "bye");
	stream_event(&st, EPOLLIN | EPOLLRDHUP | EPOLLERR);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), 3);
	ck_assert(stream_empty(&st));
	ck_assert(!stream_at_end(&st));
	ck_assert_int_eq(read_without_kernel(&st), CT_AGAIN);
	close(s[0]);
	close(s[1]);
}
END_TEST

/* After EPOLLPRI a short read may have stopped at the urgent mark: only EAGAIN drains. */
START_TEST(stream_urgent_short_read_keeps_reading)
{
	struct stream st;
	char buf[64];
	int s[2];

	stream_fed(&st, s, "abc");
	stream_event(&st, EPOLLIN | EPOLLPRI);
	ck_assert(st.urgent);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), 3);
	ck_assert(!st.drained);
	ck_assert_int_eq(st.ops->read(&st, buf, sizeof(buf)), CT_AGAIN);
	ck_assert(st.drained);
	close(s[0]);
	close(s[1]);
}
END_TEST

/* A write that would block stays known as such until EPOLLOUT (or an error) says otherwise. */
START_TEST(stream_blocked_until_writable)
{
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	ck_assert(!st.blocked);
	st.blocked = 1;
	stream_event(&st, EPOLLIN | EPOLLRDHUP);
	ck_assert(st.blocked);
	stream_event(&st, EPOLLOUT);
	ck_assert(!st.blocked);
	st.blocked = 1;
	stream_event(&st, EPOLLHUP);
	ck_assert(!st.blocked);
	st.blocked = 1;
	stream_event(&st, EPOLLERR);
	ck_assert(!st.blocked);
}
END_TEST

START_TEST(stream_connect_result_events)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct stream st;
	int l = socket(AF_INET, SOCK_STREAM, 0), fd;

	/* A port nothing listens on: bound, never listening. */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ||
	    errno == EINPROGRESS || errno == ECONNREFUSED);
	stream_wait(fd, POLLOUT);
	stream_init(&st, fd, NULL, NULL);
	/*
	 * Writable alone means connected: the socket is not asked (its
	 * pending error is still there for the next call to read).
	 */
	ck_assert_int_eq(stream_connect_result(&st, EPOLLOUT), 0);
	/* An error in the event: the errno comes from the socket. */
	ck_assert_int_eq(stream_connect_result(&st, EPOLLOUT | EPOLLERR | EPOLLHUP),
	    ECONNREFUSED);
	close(fd);
	close(l);
}
END_TEST

START_TEST(stream_events_plain)
{
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	ck_assert_uint_eq(stream_events(&st, 1, 0), STREAM_READ_EVENTS);
	ck_assert_uint_eq(stream_events(&st, 0, 1), EPOLLOUT);
	ck_assert_uint_eq(stream_events(&st, 1, 1), STREAM_READ_EVENTS | EPOLLOUT);
	ck_assert_uint_eq(stream_events(&st, 0, 0), 0);
}
END_TEST

/* A TLS read that must first write: only the socket turning writable lets it go on. */
START_TEST(stream_events_read_wants_out)
{
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	st.read_wants_out = 1;
	ck_assert_uint_eq(stream_events(&st, 1, 0), EPOLLOUT);
	ck_assert_uint_eq(stream_events(&st, 0, 1), EPOLLOUT);
	ck_assert_uint_eq(stream_events(&st, 1, 1), EPOLLOUT);
	ck_assert_uint_eq(stream_events(&st, 0, 0), 0);
}
END_TEST

/* A TLS write that must first read: only bytes arriving let it go on. */
START_TEST(stream_events_write_wants_in)
{
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	st.write_wants_in = 1;
	ck_assert_uint_eq(stream_events(&st, 0, 1), EPOLLIN);
	ck_assert_uint_eq(stream_events(&st, 1, 0), STREAM_READ_EVENTS);
	ck_assert_uint_eq(stream_events(&st, 1, 1), STREAM_READ_EVENTS);
	ck_assert_uint_eq(stream_events(&st, 0, 0), 0);
}
END_TEST

/* Without wants, each direction's event clears only its own bit. */
START_TEST(stream_event_plain_bits)
{
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	st.drained = 1;
	st.blocked = 1;
	stream_event(&st, EPOLLOUT);
	ck_assert(st.drained);
	ck_assert(!st.blocked);
	st.blocked = 1;
	stream_event(&st, EPOLLIN);
	ck_assert(!st.drained);
	ck_assert(st.blocked);
	ck_assert(!st.rdhup);
	ck_assert(!st.urgent);
	stream_event(&st, EPOLLRDHUP);
	ck_assert(st.rdhup);
	ck_assert(!st.urgent);
	stream_event(&st, EPOLLPRI);
	ck_assert(st.urgent);
}
END_TEST

START_TEST(stream_out_clears_drained_if_read_wants_out)
{
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	st.read_wants_out = 1;
	st.drained = 1;
	st.blocked = 1;
	stream_event(&st, EPOLLOUT);
	ck_assert(!st.drained);
	ck_assert(!st.blocked);
	/* Input still clears it too: the bytes the read waits for may come with it. */
	st.drained = 1;
	stream_event(&st, EPOLLIN);
	ck_assert(!st.drained);
}
END_TEST

START_TEST(stream_in_clears_blocked_if_write_wants_in)
{
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	st.write_wants_in = 1;
	st.drained = 1;
	st.blocked = 1;
	stream_event(&st, EPOLLIN);
	ck_assert(!st.blocked);
	ck_assert(!st.drained);
	st.blocked = 1;
	stream_event(&st, EPOLLOUT);
	ck_assert(!st.blocked);
}
END_TEST

/* The tunnel splices only when both directions can: one missing op is enough to refuse. */
START_TEST(stream_can_splice_needs_both_ops)
{
	struct stream_ops ops = stream_plain_ops;
	struct stream st;

	stream_init(&st, -1, NULL, NULL);
	ck_assert(stream_can_splice(&st));
	st.ops = &ops;
	ops.splice_read = NULL;
	ck_assert(!stream_can_splice(&st));
	ops.splice_read = stream_plain_ops.splice_read;
	ops.splice_write = NULL;
	ck_assert(!stream_can_splice(&st));
	ops.splice_write = stream_plain_ops.splice_write;
	ck_assert(stream_can_splice(&st));
}
END_TEST

START_TEST(stream_plain_has_no_handshake)
{
	ck_assert_ptr_null(stream_plain_ops.handshake);
}
END_TEST

START_TEST(stream_splice_read_moves_bytes)
{
	struct stream st;
	char buf[64];
	int s[2], p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	stream_fed(&st, s, "hello");
	ck_assert_int_eq(st.ops->splice_read(&st, p[1], sizeof(buf)), 5);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	close(s[0]);
	close(s[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* EAGAIN marks the socket drained, as a read would. */
START_TEST(stream_splice_read_empty_drains)
{
	struct stream st;
	char buf[64];
	int s[2], p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	stream_fed(&st, s, "hello");
	ck_assert_int_eq(st.ops->splice_read(&st, p[1], sizeof(buf)), 5);
	stream_event(&st, EPOLLIN);
	ck_assert(!st.drained);
	ck_assert_int_eq(st.ops->splice_read(&st, p[1], sizeof(buf)), CT_AGAIN);
	ck_assert(st.drained);
	/* Only the first bytes went into the pipe. */
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 5);
	ck_assert_int_eq(read(p[0], buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(s[0]);
	close(s[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(stream_splice_read_end)
{
	struct stream st;
	int s[2], p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	stream_pair(s);
	stream_init(&st, s[0], NULL, NULL);
	close(s[1]);
	stream_wait(s[0], POLLIN);
	stream_event(&st, EPOLLIN | EPOLLRDHUP);
	ck_assert_int_eq(st.ops->splice_read(&st, p[1], 64), CT_DONE);
	close(s[0]);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(stream_splice_write_moves_bytes)
{
	struct stream st;
	char buf[64];
	int s[2], p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	stream_pair(s);
	stream_init(&st, s[0], NULL, NULL);
	ck_assert_int_eq(write(p[1], "hello", 5), 5);
	ck_assert_int_eq(st.ops->splice_write(&st, p[0], sizeof(buf)), 5);
	ck_assert(!st.blocked);
	ck_assert_int_eq(recv(s[1], buf, 5, MSG_WAITALL), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	close(s[0]);
	close(s[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Sends from s until the socket refuses more. */
static void
stream_fill(int s)
{
	static const char junk[4096];
	ssize_t n;

	while ((n = send(s, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		;
	ck_assert_int_eq(n, -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * Fills fd's send buffer until it stays full: acknowledgements still on
 * their way free room, so it is filled again while poll() finds room
 * within 50 ms.
 */
static void
stream_fill_full(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int i;

	for (i = 0; i < 100; i++) {
		stream_fill(fd);
		if (poll(&p, 1, 50) == 0)
			return;
	}
	ck_abort_msg("the send buffer does not stay full");
}

START_TEST(stream_splice_write_full_blocks)
{
	struct stream st;
	int s[2], p[2], small = 4096, queued;

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	stream_pair(s);
	stream_init(&st, s[0], NULL, NULL);
	ck_assert_int_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(s[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	stream_fill_full(s[0]);
	ck_assert_int_eq(write(p[1], "hello", 5), 5);
	ck_assert(!st.blocked);
	ck_assert_int_eq(st.ops->splice_write(&st, p[0], 5), CT_AGAIN);
	ck_assert(st.blocked);
	/* Nothing was taken from the pipe. */
	ck_assert_int_eq(ioctl(p[0], FIONREAD, &queued), 0);
	ck_assert_int_eq(queued, 5);
	close(s[0]);
	close(s[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

/*
 * A peer that resets: the error may come one call late, when the reset
 * arrives behind a write the kernel already took, but it comes.
 */
START_TEST(stream_splice_write_reset_errors)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sigaction ign, old;
	struct stream st;
	ssize_t n = 0;
	int s[2], p[2], i;

	/* As in a worker: a write to a reset socket must not kill the process. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	ck_assert_int_eq(sigaction(SIGPIPE, &ign, &old), 0);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	stream_pair(s);
	stream_init(&st, s[0], NULL, NULL);
	ck_assert_int_eq(setsockopt(s[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(s[1]);
	stream_wait(s[0], POLLIN);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(write(p[1], "hello", 5), 5);
		n = st.ops->splice_write(&st, p[0], 5);
		if (n == CT_ERROR)
			break;
		ck_assert_int_eq(n, 5);
	}
	ck_assert_int_eq(n, CT_ERROR);
	ck_assert(errno == ECONNRESET || errno == EPIPE);
	close(s[0]);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
}
END_TEST

START_TEST(stream_shutdown_write_sends_eof)
{
	struct stream st;
	char buf[64];
	int s[2];

	stream_pair(s);
	stream_init(&st, s[0], NULL, NULL);
	ck_assert_int_eq(st.ops->write(&st, "bye", 3), 3);
	ck_assert_int_eq(st.ops->shutdown_write(&st), CT_OK);
	/* The bytes before it, then the end of the stream. */
	ck_assert_int_eq(recv(s[1], buf, 3, MSG_WAITALL), 3);
	ck_assert_int_eq(memcmp(buf, "bye", 3), 0);
	ck_assert_int_eq(recv(s[1], buf, sizeof(buf), 0), 0);
	close(s[0]);
	close(s[1]);
}
END_TEST

/* Plain never asks to be called again: it is done or it failed. */
START_TEST(stream_shutdown_write_unconnected_errors)
{
	struct stream st;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	ck_assert_int_ne(fd, -1);
	stream_init(&st, fd, NULL, NULL);
	ck_assert_int_eq(st.ops->shutdown_write(&st), CT_ERROR);
	ck_assert_int_eq(errno, ENOTCONN);
	close(fd);
}
END_TEST

Suite *
suite_stream(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("plain");

	tcase_add_test(tc, stream_short_read_drains);
	tcase_add_test(tc, stream_full_read_keeps_reading);
	tcase_add_test(tc, stream_rdhup_ends_without_recv);
	tcase_add_test(tc, stream_rdhup_with_error_asks);
	tcase_add_test(tc, stream_urgent_short_read_keeps_reading);
	tcase_add_test(tc, stream_blocked_until_writable);
	tcase_add_test(tc, stream_connect_result_events);
	tcase_add_test(tc, stream_events_plain);
	tcase_add_test(tc, stream_events_read_wants_out);
	tcase_add_test(tc, stream_events_write_wants_in);
	tcase_add_test(tc, stream_event_plain_bits);
	tcase_add_test(tc, stream_out_clears_drained_if_read_wants_out);
	tcase_add_test(tc, stream_in_clears_blocked_if_write_wants_in);
	tcase_add_test(tc, stream_can_splice_needs_both_ops);
	tcase_add_test(tc, stream_plain_has_no_handshake);
	tcase_add_test(tc, stream_splice_read_moves_bytes);
	tcase_add_test(tc, stream_splice_read_empty_drains);
	tcase_add_test(tc, stream_splice_read_end);
	tcase_add_test(tc, stream_splice_write_moves_bytes);
	tcase_add_test(tc, stream_splice_write_full_blocks);
	tcase_add_test(tc, stream_splice_write_reset_errors);
	tcase_add_test(tc, stream_shutdown_write_sends_eof);
	tcase_add_test(tc, stream_shutdown_write_unconnected_errors);
	suite_add_tcase(s, tc);
	return s;
}

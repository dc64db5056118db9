/*
 * The plain stream: reads that learn a socket is empty without asking
 * the kernel again, and connects judged from the event that ends them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
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

/* A stream on s[0] with bytes sent to it by s[1], arrived. */
static void
stream_fed(struct stream *st, int s[2], const char *bytes)
{
	stream_pair(s);
	stream_init(st, s[0], NULL, NULL);
	ck_assert_int_eq(write(s[1], bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	usleep(20000);
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
	usleep(20000);
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
	usleep(20000);
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
	usleep(20000);
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
	usleep(20000);
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
	suite_add_tcase(s, tc);
	return s;
}

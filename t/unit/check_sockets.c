/*
 * The master's listening sockets: what every accepted socket inherits
 * from them, whether bound here or adopted from a previous master, and
 * the datagram groups of udp listeners beside the stream ones.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/ct.h"
#include "master/sockets.h"
#include "t/unit/loopback.h"
#include "t/unit/suites.h"

/* A loopback listening socket with no options set; *port gets its port. */
static int
plain_listener(unsigned *port)
{
	struct sockaddr_in a;
	int l = loopback_listener(&a);

	*port = ntohs(a.sin_port);
	return l;
}

/* TCP_NODELAY of a socket accepted from l after a loopback connect. */
static int
accepted_nodelay(int l)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct pollfd p = { .fd = l, .events = POLLIN };
	int c = socket(AF_INET, SOCK_STREAM, 0), s, on = -1;

	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	/* The listener may be non-blocking: wait for the connection to be there. */
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	s = accept(l, NULL, NULL);
	ck_assert_int_ne(s, -1);
	len = sizeof(on);
	ck_assert_int_eq(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	close(s);
	close(c);
	return on;
}

static void
refuse(void *arg, const char *msg)
{
	(void)arg;
	ck_abort_msg("configuration refused: %s", msg);
}

START_TEST(sockets_bound_give_nodelay)
{
	struct lsocks set;
	struct conf *conf;
	char text[512];
	unsigned port;
	int l = plain_listener(&port);

	/* Without the option, an accepted socket has Nagle on: the test can tell. */
	ck_assert_int_eq(accepted_nodelay(l), 0);
	close(l);
	/* A port free a moment ago, with no connection left on it. */
	close(plain_listener(&port));
	snprintf(text, sizeof(text),
	    "workers: 1\n"
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9}\n"
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:%u\n"
	    "    mode: tcp\n"
	    "    upstream: app\n", port);
	conf = conf_load_string("t.yaml", text, strlen(text), refuse, NULL);
	ck_assert_ptr_nonnull(conf);
	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(lsocks_prepare(&set, conf), CT_OK);
	lsocks_commit(&set, conf);
	ck_assert_uint_eq(set.n, 1);
	ck_assert_int_eq(accepted_nodelay(set.v[0].fds[0]), 1);
	lsocks_close_all(&set);
	conf_free(conf);
}
END_TEST

START_TEST(sockets_adopted_give_nodelay)
{
	struct lsocks set;
	char env[32];
	unsigned port;
	int l = plain_listener(&port);

	snprintf(env, sizeof(env), "%d", l);
	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(lsocks_adopt(&set, env), CT_OK);
	ck_assert_int_eq(accepted_nodelay(l), 1);
	lsocks_close_all(&set);
}
END_TEST

/*
 * 53/tcp and 53/udp: two groups of their own types on one port, a
 * datagram reaches the udp group's socket, and a reload that keeps both
 * keeps their sockets.
 */
START_TEST(sockets_udp_beside_tcp)
{
	struct sockaddr_in to;
	struct lsocks set;
	struct conf *conf;
	char text[640], buf[16];
	unsigned port;
	int fd, type = 0, kept[2];
	socklen_t len = sizeof(type);

	close(plain_listener(&port));
	snprintf(text, sizeof(text),
	    "workers: 2\n"
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9}\n"
	    "listeners:\n"
	    "  - {name: t, listen: 127.0.0.1:%u, mode: tcp, upstream: app}\n"
	    "  - {name: u, listen: 127.0.0.1:%u, mode: udp, upstream: app}\n", port, port);
	conf = conf_load_string("t.yaml", text, strlen(text), refuse, NULL);
	ck_assert_ptr_nonnull(conf);
	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(lsocks_prepare(&set, conf), CT_OK);
	lsocks_commit(&set, conf);
	ck_assert_uint_eq(set.n, 2);
	ck_assert_ptr_nonnull(lsocks_find(&set, &conf->listeners[0].addr, SOCK_STREAM));
	ck_assert_ptr_nonnull(lsocks_find(&set, &conf->listeners[1].addr, SOCK_DGRAM));
	ck_assert_ptr_ne(lsocks_find(&set, &conf->listeners[0].addr, SOCK_STREAM),
	    lsocks_find(&set, &conf->listeners[1].addr, SOCK_DGRAM));
	ck_assert_uint_eq(lsocks_find(&set, &conf->listeners[1].addr, SOCK_DGRAM)->nfds, 2);
	fd = lsocks_find(&set, &conf->listeners[1].addr, SOCK_DGRAM)->fds[0];
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	ck_assert_int_eq(type, SOCK_DGRAM);
	kept[0] = fd;
	kept[1] = lsocks_find(&set, &conf->listeners[1].addr, SOCK_DGRAM)->fds[1];

	/* A datagram to the port lands on one of the two sockets of the udp group. */
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(sendto(fd, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
	close(fd);
	{
		struct pollfd p[2] = { { .fd = kept[0], .events = POLLIN },
		    { .fd = kept[1], .events = POLLIN } };

		ck_assert_int_eq(poll(p, 2, 5000), 1);
		ck_assert_int_eq(recv(p[0].revents ? kept[0] : kept[1], buf, sizeof(buf), 0), 4);
	}

	/* The same configuration again: both groups kept, the same sockets. */
	ck_assert_int_eq(lsocks_prepare(&set, conf), CT_OK);
	lsocks_commit(&set, conf);
	ck_assert_uint_eq(set.n, 2);
	ck_assert_int_eq(lsocks_find(&set, &conf->listeners[1].addr, SOCK_DGRAM)->fds[0], kept[0]);
	ck_assert_int_eq(lsocks_find(&set, &conf->listeners[1].addr, SOCK_DGRAM)->fds[1], kept[1]);
	lsocks_close_all(&set);
	conf_free(conf);
}
END_TEST

/* A bound UDP socket passed by a previous master is adopted as a datagram group. */
START_TEST(sockets_adopted_udp)
{
	struct sockaddr_in a;
	struct lsocks set;
	struct addr want;
	char env[32];
	int u = socket(AF_INET, SOCK_DGRAM, 0), l;
	socklen_t len = sizeof(a);
	unsigned port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(u, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(u, (struct sockaddr *)&a, &len), 0);
	memcpy(&want.ss, &a, sizeof(a));
	want.len = sizeof(a);
	snprintf(env, sizeof(env), "%d", u);
	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(lsocks_adopt(&set, env), CT_OK);
	ck_assert_ptr_nonnull(lsocks_find(&set, &want, SOCK_DGRAM));
	ck_assert_ptr_null(lsocks_find(&set, &want, SOCK_STREAM));
	lsocks_close_all(&set);

	/* A group is of one type: a stream socket in a datagram group is refused. */
	u = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(u, (struct sockaddr *)&a, sizeof(a)), 0);
	l = plain_listener(&port);
	snprintf(env, sizeof(env), "%d,%d", u, l);
	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(lsocks_adopt(&set, env), CT_ERROR);
	/* u was taken into the set before l was refused: closing the set closes it. */
	lsocks_close_all(&set);
	close(l);
}
END_TEST

Suite *
suite_sockets(void)
{
	Suite *s = suite_create("sockets");
	TCase *tc = tcase_create("listen");

	tcase_add_test(tc, sockets_bound_give_nodelay);
	tcase_add_test(tc, sockets_adopted_give_nodelay);
	tcase_add_test(tc, sockets_udp_beside_tcp);
	tcase_add_test(tc, sockets_adopted_udp);
	suite_add_tcase(s, tc);
	return s;
}

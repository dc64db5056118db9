/*
 * The master's listening sockets: what every accepted socket inherits
 * from them, whether bound here or adopted from a previous master.
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

Suite *
suite_sockets(void)
{
	Suite *s = suite_create("sockets");
	TCase *tc = tcase_create("listen");

	tcase_add_test(tc, sockets_bound_give_nodelay);
	tcase_add_test(tc, sockets_adopted_give_nodelay);
	suite_add_tcase(s, tc);
	return s;
}

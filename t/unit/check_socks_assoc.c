/*
 * worker/socks_assoc.c: whose datagrams a SOCKS UDP association takes
 * (the client's address, a port named or learnt), which destinations
 * may answer (the last SOCKS_ASSOC_PEERS, least recently used out
 * first), and the datagrams that wait for names in a pool buffer; and
 * the key of a socks listener that serves UDP ASSOCIATE.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "conf/conf.h"
#include "lib/buf.h"
#include "lib/ct.h"
#include "worker/socks_assoc.h"
#include "t/unit/conf_load.h"
#include "t/unit/sockaddr.h"
#include "t/unit/suites.h"

#define SA(x) ((const struct sockaddr *)&(x))

START_TEST(test_client_port_named)
{
	struct sockaddr_in peer = sa_v4("10.0.0.1", 40000), a = sa_v4("10.0.0.1", 5000);
	struct sockaddr_in b = sa_v4("10.0.0.1", 5001), other = sa_v4("10.0.0.2", 5000);
	struct socks_assoc_client cl;

	/* The control connection's port means nothing: the request's does. */
	ck_assert_int_eq(socks_assoc_client_init(&cl, SA(peer), 5000), CT_OK);
	ck_assert(socks_assoc_client_accept(&cl, SA(a)));
	ck_assert(!socks_assoc_client_accept(&cl, SA(b)));
	ck_assert(!socks_assoc_client_accept(&cl, SA(other)));
	ck_assert(!socks_assoc_client_accept(&cl, SA(peer)));
	ck_assert(socks_assoc_client_accept(&cl, SA(a)));
}
END_TEST

START_TEST(test_client_port_learnt)
{
	struct sockaddr_in peer = sa_v4("10.0.0.1", 40000), a = sa_v4("10.0.0.1", 6000);
	struct sockaddr_in b = sa_v4("10.0.0.1", 6001), other = sa_v4("10.0.0.2", 7000);
	struct socks_assoc_client cl;

	ck_assert_int_eq(socks_assoc_client_init(&cl, SA(peer), 0), CT_OK);
	/* Another host's datagram does not fix the port. */
	ck_assert(!socks_assoc_client_accept(&cl, SA(other)));
	ck_assert(socks_assoc_client_accept(&cl, SA(a)));
	ck_assert(!socks_assoc_client_accept(&cl, SA(b)));
	ck_assert(socks_assoc_client_accept(&cl, SA(a)));
}
END_TEST

START_TEST(test_client_families)
{
	struct sockaddr_in6 peer = sa_v6("::ffff:127.0.0.1", 40000), mapped = sa_v6("::ffff:127.0.0.1", 53);
	struct sockaddr_in6 six = sa_v6("::1", 53);
	struct sockaddr_in plain = sa_v4("127.0.0.1", 53);
	struct sockaddr_storage un;
	struct socks_assoc_client cl;

	/* The socket is of the control connection's family: a dual-stack client comes mapped. */
	ck_assert_int_eq(socks_assoc_client_init(&cl, SA(peer), 53), CT_OK);
	ck_assert(!socks_assoc_client_accept(&cl, SA(plain)));
	ck_assert(!socks_assoc_client_accept(&cl, SA(six)));
	ck_assert(socks_assoc_client_accept(&cl, SA(mapped)));
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	ck_assert_int_eq(socks_assoc_client_init(&cl, SA(un), 0), CT_ERROR);
}
END_TEST

START_TEST(test_peers_cone)
{
	struct socks_assoc_peers p;
	struct sockaddr_in a = sa_v4("192.0.2.1", 53), a2 = sa_v4("192.0.2.1", 54);
	struct sockaddr_in b = sa_v4("192.0.2.2", 53);
	struct sockaddr_in6 c = sa_v6("2001:db8::1", 53);

	memset(&p, 0, sizeof(p));
	ck_assert(!socks_assoc_peer_known(&p, SA(a)));
	socks_assoc_peer_note(&p, SA(a));
	socks_assoc_peer_note(&p, SA(c));
	ck_assert(socks_assoc_peer_known(&p, SA(a)));
	ck_assert(socks_assoc_peer_known(&p, SA(c)));
	/* Port-restricted: the same host from another port is not an answer. */
	ck_assert(!socks_assoc_peer_known(&p, SA(a2)));
	ck_assert(!socks_assoc_peer_known(&p, SA(b)));
}
END_TEST

START_TEST(test_peers_lru)
{
	struct socks_assoc_peers p;
	struct sockaddr_in a;
	unsigned i;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < SOCKS_ASSOC_PEERS; i++) {
		a = sa_v4("192.0.2.1", 1000 + i);
		socks_assoc_peer_note(&p, SA(a));
	}
	/* Sending again to the first keeps it; the second is then the oldest. */
	a = sa_v4("192.0.2.1", 1000);
	socks_assoc_peer_note(&p, SA(a));
	a = sa_v4("192.0.2.1", 2000);
	socks_assoc_peer_note(&p, SA(a));
	ck_assert(socks_assoc_peer_known(&p, SA(a)));
	a = sa_v4("192.0.2.1", 1000);
	ck_assert(socks_assoc_peer_known(&p, SA(a)));
	a = sa_v4("192.0.2.1", 1001);
	ck_assert(!socks_assoc_peer_known(&p, SA(a)));
	for (i = 2; i < SOCKS_ASSOC_PEERS; i++) {
		a = sa_v4("192.0.2.1", 1000 + i);
		ck_assert(socks_assoc_peer_known(&p, SA(a)));
	}
}
END_TEST

/* What a flush handed out, in order. */
struct seen {
	char text[256];
	size_t n;
};

static void
seen_add(void *arg, uint16_t port, const uint8_t *data, size_t len)
{
	struct seen *s = arg;
	size_t at = strlen(s->text);

	snprintf(s->text + at, sizeof(s->text) - at, "%u:%.*s;", port, (int)len,
	    (const char *)data);
	s->n++;
}

START_TEST(test_wait_order)
{
	struct buf b;
	struct seen s;

	memset(&b, 0, sizeof(b));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 53, "a1", 2), CT_OK);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 1, 54, "b1", 2), CT_OK);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 55, "a2", 2), CT_OK);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 2, 56, "", 0), CT_OK);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 1, 57, "b2", 2), CT_OK);
	ck_assert_uint_eq(socks_assoc_wait_flush(&b, 0, seen_add, &s), 3);
	ck_assert_str_eq(s.text, "53:a1;55:a2;");
	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(socks_assoc_wait_flush(&b, 3, seen_add, &s), 3);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(socks_assoc_wait_flush(&b, 1, seen_add, &s), 1);
	ck_assert_str_eq(s.text, "54:b1;57:b2;");
	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(socks_assoc_wait_flush(&b, 2, seen_add, &s), 0);
	ck_assert_str_eq(s.text, "56:;");
	ck_assert_uint_eq(b.end, 0);
}
END_TEST

START_TEST(test_wait_bounds)
{
	static char big[BUF_SIZE];
	struct buf b;
	struct seen s;
	unsigned i;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < SOCKS_ASSOC_WAITING; i++)
		ck_assert_int_eq(socks_assoc_wait_push(&b, i % 2, 53, "x", 1), CT_OK);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 53, "x", 1), CT_DECLINED);
	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(socks_assoc_wait_flush(&b, 0, seen_add, &s), SOCKS_ASSOC_WAITING / 2);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 53, "x", 1), CT_OK);
	/* Room: a datagram must fit whole, with its header. */
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 53, big, BUF_SIZE), CT_DECLINED);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 53, big, BUF_SIZE - 4), CT_DECLINED);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 53, big, BUF_SIZE - 5), CT_OK);
	ck_assert_int_eq(socks_assoc_wait_push(&b, 0, 53, "", 0), CT_DECLINED);
	ck_assert_uint_eq(b.end, BUF_SIZE);
}
END_TEST

#define SOCKS_LISTENER \
	"listeners:\n" \
	"  - name: s\n" \
	"    listen: 127.0.0.1:1080\n" \
	"    mode: socks\n"

START_TEST(test_conf_udp)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(SOCKS_LISTENER, &e), *again;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(c->listeners[0].proxy.socks_udp, 0);
	conf_free(c);
	c = conf_errs_load(SOCKS_LISTENER "    socks: {versions: [5], udp: true}\n", &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(c->listeners[0].proxy.socks_udp, 1);
	again = conf_errs_round_trip(c);
	ck_assert_int_eq(again->listeners[0].proxy.socks_udp, 1);
	conf_free(again);
	conf_free(c);
	conf_errs_expect(SOCKS_LISTENER "    socks: {udp: yes}\n",
	    "t.yaml:5:18: \"udp\" must be true or false, not \"yes\"");
}
END_TEST

Suite *
suite_socks_assoc(void)
{
	Suite *s = suite_create("socks_assoc");
	TCase *tc = tcase_create("socks_assoc");

	tcase_add_test(tc, test_client_port_named);
	tcase_add_test(tc, test_client_port_learnt);
	tcase_add_test(tc, test_client_families);
	tcase_add_test(tc, test_peers_cone);
	tcase_add_test(tc, test_peers_lru);
	tcase_add_test(tc, test_wait_order);
	tcase_add_test(tc, test_wait_bounds);
	tcase_add_test(tc, test_conf_udp);
	suite_add_tcase(s, tc);
	return s;
}

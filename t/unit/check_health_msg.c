/*
 * The result a cluster's prober publishes (master/health.h): encoded
 * and parsed back, and every way a message from Redis can be refused.
 */
#include <string.h>

#include "lib/ct.h"
#include "master/health.h"
#include "t/unit/suites.h"

static void
msg_fill(struct health_msg *m, const char *server, int up, const char *reason)
{
	const char *why;

	memset(m, 0, sizeof(*m));
	strcpy(m->node, "edge-1.example:8080");
	strcpy(m->upstream, "web_v2");
	ck_assert_int_eq(addr_parse(server, 0, &m->addr, &why), CT_OK);
	m->up = up;
	m->check_us = 1234;
	snprintf(m->reason, sizeof(m->reason), "%s", reason);
}

START_TEST(test_msg_round_trip)
{
	static const char *const servers[] = { "127.0.0.1:8080", "[::1]:443" };
	struct health_msg m, back;
	char buf[HEALTH_MSG_MAX + 1];
	const char *why;
	size_t i, n;

	for (i = 0; i < CT_NELEM(servers); i++) {
		msg_fill(&m, servers[i], (int)i, i == 0 ? "status 503" : "");
		ck_assert_uint_gt(n = health_msg_encode(&m, buf, sizeof(buf)), 0);
		ck_assert_uint_eq(n, strlen(buf));
		ck_assert_int_eq(health_msg_parse(buf, n, &back, &why), CT_OK);
		ck_assert_str_eq(back.node, m.node);
		ck_assert_str_eq(back.upstream, m.upstream);
		ck_assert(addr_equal((struct sockaddr *)&back.addr.ss, (struct sockaddr *)&m.addr.ss));
		ck_assert_int_eq(back.up, m.up);
		ck_assert_uint_eq(back.check_us, 1234);
		ck_assert_str_eq(back.reason, m.reason);
	}
	ck_assert_str_eq(buf, "1\tedge-1.example:8080\tweb_v2\t[::1]:443\tup\t1234\t");
}
END_TEST

START_TEST(test_msg_reason_controls)
{
	struct health_msg m, back;
	char buf[HEALTH_MSG_MAX + 1];
	const char *why;
	size_t n;

	msg_fill(&m, "127.0.0.1:80", 0, "line\tone\r\ntwo");
	n = health_msg_encode(&m, buf, sizeof(buf));
	ck_assert_int_eq(health_msg_parse(buf, n, &back, &why), CT_OK);
	ck_assert_str_eq(back.reason, "line one  two");
}
END_TEST

START_TEST(test_msg_encode_small)
{
	struct health_msg m;
	char buf[16];

	msg_fill(&m, "127.0.0.1:80", 1, "");
	ck_assert_uint_eq(health_msg_encode(&m, buf, sizeof(buf)), 0);
}
END_TEST

/* A reason longer than the status keeps is cut, not refused. */
START_TEST(test_msg_reason_cut)
{
	char in[300];
	struct health_msg m;
	const char *why;
	int n;

	n = snprintf(in, sizeof(in), "1\tn\tu\t127.0.0.1:80\tdown\t0\t%0200d", 7);
	ck_assert_int_eq(health_msg_parse(in, (size_t)n, &m, &why), CT_OK);
	ck_assert_uint_eq(strlen(m.reason), SHM_TEXT_LEN - 1);
}
END_TEST

static void
refused(const char *in, size_t len, const char *want)
{
	struct health_msg m;
	const char *why = NULL;

	ck_assert_msg(health_msg_parse(in, len, &m, &why) == CT_ERROR, "accepted: %s", in);
	ck_assert_str_eq(why, want);
}

#define REFUSED(in, want) refused(in, sizeof(in) - 1, want)

START_TEST(test_msg_refused)
{
	char big[HEALTH_MSG_MAX + 2];

	memset(big, 'x', sizeof(big));
	refused(big, sizeof(big), "too long");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t0\tx\0y", "a NUL byte");
	REFUSED("", "too few fields");
	REFUSED("garbage", "too few fields");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t0", "too few fields");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t0\tr\tmore", "too many fields");
	REFUSED("2\tn\tu\t127.0.0.1:80\tup\t0\t", "an unknown version");
	REFUSED("1\t\tu\t127.0.0.1:80\tup\t0\t", "an invalid node name");
	REFUSED("1\tn de\tu\t127.0.0.1:80\tup\t0\t", "an invalid node name");
	REFUSED("1\tn\tu/x\t127.0.0.1:80\tup\t0\t", "an invalid upstream name");
	REFUSED("1\tn\t\t127.0.0.1:80\tup\t0\t", "an invalid upstream name");
	REFUSED("1\tn\tu\texample.com:80\tup\t0\t", "an invalid server address");
	REFUSED("1\tn\tu\t*:80\tup\t0\t", "an invalid server address");
	REFUSED("1\tn\tu\t127.0.0.1\tup\t0\t", "an invalid server address");
	REFUSED("1\tn\tu\t127.0.0.1:80\tUP\t0\t", "a state neither up nor down");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t\t", "an invalid latency");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t-1\t", "an invalid latency");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t12a\t", "an invalid latency");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t3600000001\t", "an invalid latency");
	REFUSED("1\tn\tu\t127.0.0.1:80\tup\t0000000000001\t", "an invalid latency");
	REFUSED("1\tn\tu\t127.0.0.1:80\tdown\t0\tbad\x01", "a control character in the reason");
	REFUSED("1\tn\tu\t127.0.0.1:80\tdown\t0\tbad\r", "a control character in the reason");
}
END_TEST

Suite *
suite_health_msg(void)
{
	Suite *s = suite_create("health_msg");
	TCase *t = tcase_create("msg");

	tcase_add_test(t, test_msg_round_trip);
	tcase_add_test(t, test_msg_reason_controls);
	tcase_add_test(t, test_msg_encode_small);
	tcase_add_test(t, test_msg_reason_cut);
	tcase_add_test(t, test_msg_refused);
	suite_add_tcase(s, t);
	return s;
}

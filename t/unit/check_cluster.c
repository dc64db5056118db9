/*
 * The pure parts of the cluster (master/cluster.c): the order of
 * changes (last writer, then node name), a decision's key in Redis, its
 * change as JSON both ways, and what is refused as not cuttle's.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "master/cluster.h"
#include "shm/approval.h"
#include "t/unit/suites.h"

static struct shm_approval
decision(const char *addr, unsigned prefix, const char *listener, const char *dest,
    uint16_t port)
{
	struct shm_approval a;

	memset(&a, 0, sizeof(a));
	a.net.family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(a.net.family, addr, a.net.net), 1);
	a.net.prefix = (uint8_t)prefix;
	a.verdict = SHM_APPROVAL_ALLOW;
	a.origin = SHM_APPROVAL_OPERATOR;
	a.made = 1700000000;
	a.expires = 1700003600;
	a.changed_ms = 1700000000123;
	snprintf(a.listener, sizeof(a.listener), "%s", listener);
	snprintf(a.dest, sizeof(a.dest), "%s", dest);
	a.port = port;
	snprintf(a.by, sizeof(a.by), "alice");
	snprintf(a.note, sizeof(a.note), "office \xc3\xa9");
	snprintf(a.node, sizeof(a.node), "edge-1");
	return a;
}

START_TEST(test_order)
{
	/* Later wins; at one time, the greater name; the same change is not newer. */
	ck_assert_int_eq(cluster_newer(2, "a", 1, "z"), 1);
	ck_assert_int_eq(cluster_newer(1, "z", 2, "a"), 0);
	ck_assert_int_eq(cluster_newer(5, "edge-2", 5, "edge-1"), 1);
	ck_assert_int_eq(cluster_newer(5, "edge-1", 5, "edge-2"), 0);
	ck_assert_int_eq(cluster_newer(5, "edge-1", 5, "edge-1"), 0);
}
END_TEST

START_TEST(test_key)
{
	struct shm_approval a = decision("10.1.0.0", 16, "web", "", 0);
	char buf[512];

	ck_assert_str_eq(cluster_decision_key(&a, buf, sizeof(buf)), "10.1.0.0/16|web|*");
	a = decision("2001:db8::1", 128, "", "example.com", 443);
	ck_assert_str_eq(cluster_decision_key(&a, buf, sizeof(buf)),
	    "2001:db8::1/128|*|example.com:443");
	a = decision("192.0.2.7", 32, "socks", "2001:db8::2", 0);
	ck_assert_str_eq(cluster_decision_key(&a, buf, sizeof(buf)), "192.0.2.7/32|socks|2001:db8::2");
}
END_TEST

START_TEST(test_round_trip)
{
	struct shm_approval a = decision("10.1.0.0", 16, "web", "example.com", 443), b;
	char why[256], *json;
	int revoked = -1;

	ck_assert_ptr_nonnull(json = cluster_decision_json(&a, 0));
	ck_assert_ptr_nonnull(strstr(json, "\"t\":1700000000123"));
	ck_assert_ptr_nonnull(strstr(json, "\"node\":\"edge-1\""));
	ck_assert_int_eq(cluster_decision_parse(json, strlen(json), &b, &revoked, why, sizeof(why)),
	    CT_OK);
	ck_assert_int_eq(revoked, 0);
	ck_assert_mem_eq(&b.net, &a.net, sizeof(a.net));
	ck_assert_str_eq(b.listener, "web");
	ck_assert_str_eq(b.dest, "example.com");
	ck_assert_uint_eq(b.port, 443);
	ck_assert_uint_eq(b.expires, a.expires);
	ck_assert_uint_eq(b.made, a.made);
	ck_assert_uint_eq(b.changed_ms, a.changed_ms);
	ck_assert_str_eq(b.node, "edge-1");
	ck_assert_str_eq(b.by, "alice");
	ck_assert_str_eq(b.note, a.note);
	free(json);

	ck_assert_ptr_nonnull(json = cluster_decision_json(&a, 1));
	ck_assert_int_eq(cluster_decision_parse(json, strlen(json), &b, &revoked, why, sizeof(why)),
	    CT_OK);
	ck_assert_int_eq(revoked, 1);
	free(json);

	/* Made here before the node had a name or time: it counts as made at "made". */
	a.changed_ms = 0;
	ck_assert_ptr_nonnull(json = cluster_decision_json(&a, 0));
	ck_assert_ptr_nonnull(strstr(json, "\"t\":1700000000000"));
	free(json);
}
END_TEST

START_TEST(test_refused)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"t\": 1, \"node\": \"n\", \"revoked\": false}",
		"{\"node\": \"n\", \"revoked\": false, \"decision\": {}}",
		"{\"t\": \"1\", \"node\": \"n\", \"revoked\": false, \"decision\": {}}",
		"{\"t\": 1, \"node\": \"\", \"revoked\": false, \"decision\": {}}",
		"{\"t\": 1, \"node\": 5, \"revoked\": false, \"decision\": {}}",
		"{\"t\": 1, \"node\": \"n\", \"revoked\": 0, \"decision\": {\"address\": \"10.0.0.1\", "
		    "\"verdict\": \"allow\", \"origin\": \"operator\"}}",
		"{\"t\": 1, \"node\": \"n\", \"revoked\": false, \"decision\": {\"address\": "
		    "\"10.0.0.1\", \"verdict\": \"maybe\", \"origin\": \"operator\"}}",
		"{\"t\": 1, \"node\": \"n\", \"revoked\": false, \"decision\": {\"address\": "
		    "\"10.0.0.1\", \"verdict\": \"allow\", \"origin\": \"operator\", \"x\": 1}}",
		"{\"t\": 1, \"node\": \"n\", \"revoked\": false, \"decision\": {\"address\": "
		    "\"10.0.0.1/8\", \"verdict\": \"allow\", \"origin\": \"operator\"}}",
		"{\"t\": 1, \"node\": \"n\", \"t\": 2, \"revoked\": false, \"decision\": {}}",
		"{\"t\": 1, \"node\": \"n\\u0001\", \"revoked\": false, \"decision\": {\"address\": "
		    "\"10.0.0.1\", \"verdict\": \"allow\", \"origin\": \"operator\"}}",
	};
	const char *good = "{\"t\": 1, \"node\": \"n\", \"revoked\": false, \"decision\": "
	    "{\"address\": \"10.0.0.1\", \"verdict\": \"allow\", \"origin\": \"operator\"}}";
	struct shm_approval a;
	char why[256];
	int revoked;
	size_t i;

	for (i = 0; i < CT_NELEM(bad); i++) {
		why[0] = '\0';
		ck_assert_msg(cluster_decision_parse(bad[i], strlen(bad[i]), &a, &revoked, why,
		    sizeof(why)) == CT_ERROR, "accepted: %s", bad[i]);
		ck_assert_msg(why[0] != '\0', "no reason for: %s", bad[i]);
	}
	ck_assert_int_eq(cluster_decision_parse(good, strlen(good), &a, &revoked, why, sizeof(why)),
	    CT_OK);
}
END_TEST

Suite *
suite_cluster(void)
{
	Suite *s = suite_create("cluster");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_key);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_refused);
	suite_add_tcase(s, tc);
	return s;
}

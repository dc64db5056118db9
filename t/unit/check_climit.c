/*
 * Cluster-wide limits (master/climit.c), the parts that need no Redis:
 * the answer to a round and every way it can be wrong, the share of a
 * node alone, the shared hash key's text, how long Redis keeps a key,
 * and the "scope" of a limit in the configuration.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "master/climit.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

/* Replies built by hand, as hiredis hands them over. */
static redisReply ints[64], *int_ptrs[64], zones[4], *zone_ptrs[4], top;

static void
reply_int(size_t i, long long v)
{
	ints[i].type = REDIS_REPLY_INTEGER;
	ints[i].integer = v;
	int_ptrs[i] = &ints[i];
}

/* A reply of nz zones; zone z has its elements from ints[start[z]], n[z] of them. */
static const redisReply *
reply_build(size_t nz, const size_t *start, const size_t *n)
{
	size_t z;

	memset(&top, 0, sizeof(top));
	top.type = REDIS_REPLY_ARRAY;
	top.elements = nz;
	top.element = zone_ptrs;
	for (z = 0; z < nz; z++) {
		memset(&zones[z], 0, sizeof(zones[z]));
		zones[z].type = REDIS_REPLY_ARRAY;
		zones[z].elements = n[z];
		zones[z].element = &int_ptrs[start[z]];
		zone_ptrs[z] = &zones[z];
	}
	return &top;
}

static struct climit_answer answer;

START_TEST(reply_two_zones)
{
	const size_t start[] = { 0, 5 }, n[] = { 5, 1 }, nkeys[] = { 2, 0 };
	const char *why = NULL;

	reply_int(0, 3);                /* zone 0: 3 live nodes */
	reply_int(1, 7);                /* key 0: 7 events elsewhere */
	reply_int(2, 40);               /* 40 ms ago */
	reply_int(3, -1);               /* key 1: not usable */
	reply_int(4, 0);
	reply_int(5, -1);               /* zone 1: its nodes set is not one */
	ck_assert_int_eq(climit_reply_parse(reply_build(2, start, n), nkeys, 2, &answer, &why),
	    CT_OK);
	ck_assert_int_eq(answer.live[0], 3);
	ck_assert_int_eq(answer.live[1], -1);
	ck_assert_int_eq(answer.others[0], 7);
	ck_assert_int_eq(answer.age_ms[0], 40);
	ck_assert_int_eq(answer.others[1], -1);
	ck_assert_int_eq(answer.age_ms[1], 0);
}
END_TEST

START_TEST(reply_wrong_shapes)
{
	const size_t start[] = { 0 }, three[] = { 3 }, one_key[] = { 1 }, two_keys[] = { 2 };
	const char *why = NULL;

	reply_int(0, 2);
	reply_int(1, 5);
	reply_int(2, 10);
	/* One zone sent, two answered; and the other way round. */
	ck_assert_int_eq(climit_reply_parse(reply_build(1, start, three), one_key, 2, &answer, &why),
	    CT_ERROR);
	ck_assert_ptr_nonnull(why);
	/* Fewer numbers than keys sent. */
	ck_assert_int_eq(climit_reply_parse(reply_build(1, start, three), two_keys, 1, &answer, &why),
	    CT_ERROR);
	/* A string where a number goes. */
	ints[1].type = REDIS_REPLY_STRING;
	ck_assert_int_eq(climit_reply_parse(reply_build(1, start, three), one_key, 1, &answer, &why),
	    CT_ERROR);
	/* Numbers out of range: others below -1, a negative age, live below -1. */
	reply_int(1, -2);
	ck_assert_int_eq(climit_reply_parse(reply_build(1, start, three), one_key, 1, &answer, &why),
	    CT_ERROR);
	reply_int(1, 5);
	reply_int(2, -1);
	ck_assert_int_eq(climit_reply_parse(reply_build(1, start, three), one_key, 1, &answer, &why),
	    CT_ERROR);
	reply_int(2, 10);
	reply_int(0, -5);
	ck_assert_int_eq(climit_reply_parse(reply_build(1, start, three), one_key, 1, &answer, &why),
	    CT_ERROR);
	/* Not an array at all (a script that returned a number). */
	reply_int(0, 1);
	ck_assert_int_eq(climit_reply_parse(&ints[0], one_key, 1, &answer, &why), CT_ERROR);
	/* The shape again, right: it passes. */
	ck_assert_int_eq(climit_reply_parse(reply_build(1, start, three), one_key, 1, &answer, &why),
	    CT_OK);
}
END_TEST

START_TEST(share_of_a_node_alone)
{
	ck_assert_uint_eq(climit_share(0), 1);      /* never saw the cluster: the whole rate */
	ck_assert_uint_eq(climit_share(1), 1);
	ck_assert_uint_eq(climit_share(3), 3);
	ck_assert_uint_eq(climit_share(1000000), CLIMIT_SHARE_MAX);
}
END_TEST

START_TEST(secret_text)
{
	const uint64_t k[2] = { 0x00112233445566ffULL, 0x8899aabbccddeeffULL };
	uint64_t back[2];
	char hex[33];

	climit_secret_format(k, hex);
	ck_assert_str_eq(hex, "00112233445566ff8899aabbccddeeff");
	ck_assert_int_eq(climit_secret_parse(hex, 32, back), CT_OK);
	ck_assert(back[0] == k[0] && back[1] == k[1]);
	ck_assert_int_eq(climit_secret_parse(hex, 31, back), CT_ERROR);
	ck_assert_int_eq(climit_secret_parse("00112233445566ff8899aabbccddeefg", 32, back),
	    CT_ERROR);
	ck_assert_int_eq(climit_secret_parse("0x112233445566ff8899aabbccddeeff", 32, back),
	    CT_ERROR);
	ck_assert_int_eq(climit_secret_parse(NULL, 32, back), CT_ERROR);
}
END_TEST

START_TEST(ttl_covers_the_rate)
{
	struct conf_limit l;

	memset(&l, 0, sizeof(l));
	l.period_ns = 10 * 1000000;                 /* 100/s */
	l.burst = 10;
	ck_assert_uint_eq(climit_ttl_ms(&l), CLIMIT_TTL_MIN_MS);
	l.period_ns = UINT64_C(360) * 1000000000;   /* 10/h */
	l.burst = 2;
	ck_assert_uint_ge(climit_ttl_ms(&l), 3 * UINT64_C(360000));
}
END_TEST

#define CL_UPS \
	"upstreams:\n" \
	"  u: {servers: [{address: 127.0.0.1:9}]}\n" \
	"listeners:\n" \
	"  - {name: web, listen: 127.0.0.1:8081, mode: tcp, upstream: u, limits: [s]}\n"

START_TEST(conf_scope)
{
	struct conf_errs e;
	struct conf *c, *again;
	char *d;

	c = conf_errs_load(CL_UPS "redis: {address: 127.0.0.1:6379, node: a}\n"
	    "limits:\n  s: {rate: 10/s, scope: cluster}\n", &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(c->limits[0].scope, CONF_LIMIT_CLUSTER);
	d = conf_errs_dump(c);
	ck_assert_ptr_nonnull(strstr(d, "    scope: cluster\n"));
	free(d);
	again = conf_errs_round_trip(c);
	conf_free(again);
	conf_free(c);
	c = conf_errs_load(CL_UPS "limits:\n  s: {rate: 10/s}\n", &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(c->limits[0].scope, CONF_LIMIT_LOCAL);
	d = conf_errs_dump(c);
	ck_assert_ptr_null(strstr(d, "scope"));
	free(d);
	conf_free(c);
	conf_errs_expect(CL_UPS "limits:\n  s: {rate: 10/s, scope: cluster}\n",
	    "t.yaml:6:19: limit \"s\" has \"scope: cluster\" but there is no \"redis\" section: "
	    "the nodes of a cluster share its rate through Redis");
	conf_errs_expect(CL_UPS "redis: {address: 127.0.0.1:6379}\n"
	    "limits:\n  s: {rate: 10/s, conns: 2, scope: cluster}\n",
	    "t.yaml:7:29: \"scope: cluster\" shares a rate only: \"conns\" is counted on each "
	    "node; put it in a limit of its own");
}
END_TEST

Suite *
suite_climit(void)
{
	Suite *s = suite_create("climit");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, reply_two_zones);
	tcase_add_test(tc, reply_wrong_shapes);
	tcase_add_test(tc, share_of_a_node_alone);
	tcase_add_test(tc, secret_text);
	tcase_add_test(tc, ttl_covers_the_rate);
	tcase_add_test(tc, conf_scope);
	suite_add_tcase(s, tc);
	return s;
}

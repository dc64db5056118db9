/*
 * A listener's "bandwidth" and the limits of bytes it names: the rates
 * and their defaults, what a limit of bytes refuses beside it and where
 * it may be named, and the dump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

#define BW_HEAD \
	"upstreams:\n" \
	"  o: {servers: [{address: 127.0.0.1:9001}]}\n"

#define BW_LISTENER \
	"listeners:\n" \
	"  - name: a\n" \
	"    listen: 127.0.0.1:8080\n" \
	"    mode: tcp\n" \
	"    upstream: o\n"

START_TEST(bw_rates_and_defaults)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load("limits:\n"
	    "  per_ip: {bytes: 20m/s}\n"
	    "  slow: {key: client_net, bytes: 10k, burst_bytes: 64k, direction: upload}\n"
	    BW_HEAD BW_LISTENER
	    "    bandwidth: {download: 1m/s, upload: 512k, limits: [per_ip, slow]}\n", &e);
	const struct conf_bandwidth *b;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	b = &c->listeners[0].bandwidth;
	ck_assert(b->on);
	ck_assert_uint_eq(b->rate[CONF_BW_DOWN], 1 << 20);
	ck_assert_uint_eq(b->rate[CONF_BW_UP], 512 << 10);
	ck_assert_uint_eq(b->limits.n, 2);
	ck_assert_uint_eq(b->limits.idx[1], 1);
	ck_assert_uint_eq(c->limits[0].bytes, 20 << 20);
	ck_assert_uint_eq(c->limits[0].burst_bytes, (20 << 20) / 10);
	ck_assert_uint_eq(c->limits[0].directions, CONF_BW_BIT(CONF_BW_UP) | CONF_BW_BIT(CONF_BW_DOWN));
	ck_assert_uint_eq(c->limits[1].burst_bytes, 64 << 10);
	ck_assert_uint_eq(c->limits[1].directions, CONF_BW_BIT(CONF_BW_UP));
	/* A small rate still lets a whole relay buffer through at once, or the rate. */
	ck_assert_uint_eq(conf_bandwidth_burst(64 << 10), 16384);
	ck_assert_uint_eq(conf_bandwidth_burst(2048), 2048);
	ck_assert(!c->listeners[0].limits.n);
	conf_free(c);
}
END_TEST

START_TEST(bw_bad_rate)
{
	conf_errs_expect(BW_HEAD BW_LISTENER "    bandwidth: {download: 10m/m}\n",
	    "t.yaml:8:27: invalid rate \"10m/m\" for \"download\": unknown unit (expected k, m "
	    "or g); use BYTES or BYTES/s, e.g. 512k or 10m/s");
	conf_errs_expect(BW_HEAD BW_LISTENER "    bandwidth: {upload: 2g}\n",
	    "t.yaml:8:25: \"upload\" must be between 1k/s and 1g/s, not \"2g\"");
}
END_TEST

START_TEST(bw_empty)
{
	conf_errs_expect(BW_HEAD BW_LISTENER "    bandwidth: {}\n",
	    "t.yaml:8:16: \"bandwidth\" needs \"download\", \"upload\" or \"limits\"");
}
END_TEST

START_TEST(bw_bytes_alone)
{
	conf_errs_expect("limits:\n  x: {bytes: 1m, conns: 3}\n" BW_HEAD BW_LISTENER
	    "    bandwidth: {limits: [x]}\n",
	    "t.yaml:2:18: \"conns\" does not go with \"bytes\": a limit counts requests and "
	    "connections, or bytes");
	conf_errs_expect("limits:\n  x: {rate: 1/s, direction: both}\n" BW_HEAD BW_LISTENER,
	    "t.yaml:2:18: \"direction\" goes with \"bytes\"");
}
END_TEST

START_TEST(bw_where_named)
{
	conf_errs_expect("limits:\n  x: {bytes: 1m}\n" BW_HEAD BW_LISTENER "    limits: [x]\n",
	    "t.yaml:10:14: limit \"x\" is a bandwidth limit (\"bytes\"): apply it under the "
	    "listener's \"bandwidth: {limits: [...]}\"");
	conf_errs_expect("limits:\n  x: {rate: 1/s}\n" BW_HEAD BW_LISTENER
	    "    bandwidth: {limits: [x]}\n",
	    "t.yaml:10:26: limit \"x\" has no \"bytes\": bandwidth takes only bandwidth limits");
	conf_errs_expect("limits:\n  x: {key: cookie:s, bytes: 1m}\n" BW_HEAD BW_LISTENER
	    "    bandwidth: {limits: [x]}\n",
	    "t.yaml:10:26: limit \"x\" has a key part that needs a request (route, server_name, "
	    "header, cookie): a connection's bandwidth is keyed by client_ip, client_net or "
	    "listener");
}
END_TEST

START_TEST(bw_dump_round_trip)
{
	struct conf_errs e;
	struct conf *a = conf_errs_load("limits:\n"
	    "  x: {bytes: 3m, direction: download}\n"
	    BW_HEAD BW_LISTENER
	    "    bandwidth: {download: 1m, limits: [x]}\n", &e), *b;
	char *out;

	ck_assert_msg(a != NULL, "%zu errors, first: %s", e.n, e.first);
	out = conf_errs_dump(a);
	ck_assert_ptr_nonnull(strstr(out, "    bandwidth:\n      download: 1m/s\n"));
	ck_assert_ptr_nonnull(strstr(out, "    bytes: 3m/s\n"));
	ck_assert_ptr_null(strstr(out, "status:"));
	b = conf_errs_round_trip(a);
	ck_assert_uint_eq(b->listeners[0].bandwidth.rate[CONF_BW_DOWN], 1 << 20);
	ck_assert_uint_eq(b->limits[0].directions, CONF_BW_BIT(CONF_BW_DOWN));
	conf_free(a);
	conf_free(b);
	free(out);
}
END_TEST

Suite *
suite_conf_bandwidth(void)
{
	Suite *s = suite_create("conf_bandwidth");
	TCase *tc = tcase_create("bandwidth");

	tcase_add_test(tc, bw_rates_and_defaults);
	tcase_add_test(tc, bw_bad_rate);
	tcase_add_test(tc, bw_empty);
	tcase_add_test(tc, bw_bytes_alone);
	tcase_add_test(tc, bw_where_named);
	tcase_add_test(tc, bw_dump_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

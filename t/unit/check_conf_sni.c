/*
 * The "sni" block of a tcp listener: its routes, their names and
 * upstreams, where it is allowed, and its dump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

#define SNI_UPS \
	"upstreams:\n" \
	"  a:\n" \
	"    servers:\n" \
	"      - {address: 127.0.0.1:9001}\n" \
	"  b:\n" \
	"    servers:\n" \
	"      - {address: 127.0.0.1:9002}\n" \
	"listeners:\n" \
	"  - name: tls\n" \
	"    listen: 127.0.0.1:8443\n"

START_TEST(sni_routes_resolve)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(SNI_UPS
	    "    mode: tcp\n"
	    "    sni:\n"
	    "      routes:\n"
	    "        - {names: [A.Example.com, \"*.b.example.com\"], upstream: b}\n"
	    "        - {names: [c.example.com], upstream: a}\n", &e);
	const struct conf_sni *sni;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	sni = &c->listeners[0].sni;
	ck_assert(sni->enabled);
	ck_assert_uint_eq(sni->timeout_ms, 5000);
	ck_assert_uint_eq(sni->nroutes, 2);
	ck_assert_str_eq(sni->routes[0].names[0], "a.example.com");
	ck_assert_str_eq(sni->routes[0].names[1], "*.b.example.com");
	ck_assert_uint_eq(sni->routes[0].upstream, 1);
	ck_assert_uint_eq(sni->routes[1].upstream, 0);
	ck_assert_ptr_null(c->listeners[0].upstream_name);
	conf_free(c);
}
END_TEST

START_TEST(sni_with_default_upstream)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(SNI_UPS
	    "    mode: tcp\n"
	    "    upstream: a\n"
	    "    sni:\n"
	    "      timeout: 250ms\n"
	    "      routes:\n"
	    "        - {names: [x.test], upstream: b}\n", &e);

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_uint_eq(c->listeners[0].sni.timeout_ms, 250);
	ck_assert_uint_eq(c->listeners[0].upstream, 0);
	conf_free(c);
}
END_TEST

START_TEST(sni_only_for_tcp)
{
	conf_errs_expect(SNI_UPS
	    "    mode: http\n"
	    "    routes:\n"
	    "      - {upstream: a}\n"
	    "    sni: {routes: [{names: [x.test], upstream: a}]}\n",
	    "t.yaml:14:5: \"sni\" is only for mode tcp; routes match the Host of a request");
}
END_TEST

START_TEST(sni_unknown_upstream)
{
	conf_errs_expect(SNI_UPS
	    "    mode: tcp\n"
	    "    sni: {routes: [{names: [x.test], upstream: nope}]}\n",
	    "t.yaml:12:48: upstream \"nope\" is not defined");
}
END_TEST

START_TEST(sni_bad_name)
{
	conf_errs_expect(SNI_UPS
	    "    mode: tcp\n"
	    "    sni: {routes: [{names: [\"x.test:443\"], upstream: a}]}\n",
	    "t.yaml:12:29: invalid server name \"x.test:443\" in \"names\": "
	    "hosts are matched without a port");
}
END_TEST

START_TEST(sni_name_routed_twice)
{
	conf_errs_expect(SNI_UPS
	    "    mode: tcp\n"
	    "    sni:\n"
	    "      routes:\n"
	    "        - {names: [x.test], upstream: a}\n"
	    "        - {names: [y.test, X.test], upstream: b}\n",
	    "t.yaml:15:19: server name \"x.test\" is already routed by sni route 1");
}
END_TEST

START_TEST(sni_routes_required)
{
	conf_errs_expect(SNI_UPS
	    "    mode: tcp\n"
	    "    sni: {timeout: 1s}\n",
	    "t.yaml:12:10: missing required key \"routes\" in sni");
}
END_TEST

START_TEST(sni_dump_round_trip)
{
	const char *text = SNI_UPS
	    "    mode: tcp\n"
	    "    sni:\n"
	    "      timeout: 2s\n"
	    "      routes:\n"
	    "        - {names: [a.test, \"*.w.test\"], upstream: b}\n";
	struct conf_errs e;
	struct conf *a = conf_errs_load(text, &e), *b;
	char *out;

	ck_assert_msg(a != NULL, "%zu errors, first: %s", e.n, e.first);
	out = conf_errs_dump(a);
	ck_assert_ptr_nonnull(strstr(out, "    sni:\n      timeout: 2s\n"));
	b = conf_errs_round_trip(a);
	ck_assert_str_eq(b->listeners[0].sni.routes[0].names[1], "*.w.test");
	conf_free(a);
	conf_free(b);
	free(out);
}
END_TEST

Suite *
suite_conf_sni(void)
{
	Suite *s = suite_create("conf_sni");
	TCase *tc = tcase_create("sni");

	tcase_add_test(tc, sni_routes_resolve);
	tcase_add_test(tc, sni_with_default_upstream);
	tcase_add_test(tc, sni_only_for_tcp);
	tcase_add_test(tc, sni_unknown_upstream);
	tcase_add_test(tc, sni_bad_name);
	tcase_add_test(tc, sni_name_routed_twice);
	tcase_add_test(tc, sni_routes_required);
	tcase_add_test(tc, sni_dump_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * A listener of mode udp: its "udp" block and defaults, the keys it
 * refuses, its upstream (and the hops of its via), its address beside a
 * stream listener's, and its dump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

#define UDP_UPS \
	"upstreams:\n" \
	"  dns:\n" \
	"    servers:\n" \
	"      - {address: 127.0.0.1:5301}\n" \
	"      - {address: 127.0.0.1:5302}\n" \
	"listeners:\n" \
	"  - name: dns\n" \
	"    listen: 127.0.0.1:5300\n" \
	"    mode: udp\n"

START_TEST(udp_defaults)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(UDP_UPS "    upstream: dns\n", &e);
	const struct conf_listener *l;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	l = &c->listeners[0];
	ck_assert_int_eq(l->mode, CONF_MODE_UDP);
	ck_assert(conf_listener_dgram(l));
	ck_assert_str_eq(conf_mode_name(l->mode), "udp");
	ck_assert_uint_eq(l->upstream, 0);
	ck_assert_uint_eq(l->udp.session_timeout_ms, 30000);
	ck_assert_uint_eq(l->udp.max_sessions, 4096);
	ck_assert_uint_eq(l->udp.responses, 0);
	ck_assert_uint_eq(l->udp.connect_timeout_ms, 5000);
	conf_free(c);
}
END_TEST

START_TEST(udp_block)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(UDP_UPS "    upstream: dns\n"
	    "    acl: {allow: [127.0.0.0/8]}\n"
	    "    access_log: {path: /tmp/udp.log, format: json}\n"
	    "    udp: {session_timeout: 250ms, max_sessions: 10, responses: 1, "
	    "connect_timeout: 2s}\n", &e);
	const struct conf_listener *l;
	struct conf *again;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	l = &c->listeners[0];
	ck_assert_uint_eq(l->udp.session_timeout_ms, 250);
	ck_assert_uint_eq(l->udp.max_sessions, 10);
	ck_assert_uint_eq(l->udp.responses, 1);
	ck_assert_uint_eq(l->udp.connect_timeout_ms, 2000);
	ck_assert_uint_eq(l->acl.nallow, 1);
	again = conf_errs_round_trip(c);
	ck_assert_uint_eq(again->listeners[0].udp.session_timeout_ms, 250);
	ck_assert_uint_eq(again->listeners[0].udp.max_sessions, 10);
	ck_assert_uint_eq(again->listeners[0].udp.responses, 1);
	ck_assert_uint_eq(again->listeners[0].udp.connect_timeout_ms, 2000);
	ck_assert_int_eq(again->listeners[0].mode, CONF_MODE_UDP);
	conf_free(again);
	conf_free(c);
}
END_TEST

/* 53/udp beside 53/tcp is two listeners; twice 53/udp is one too many. */
START_TEST(udp_beside_tcp)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(UDP_UPS "    upstream: dns\n"
	    "  - {name: dnstcp, listen: 127.0.0.1:5300, mode: tcp, upstream: dns}\n", &e);

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert(!conf_listener_dgram(&c->listeners[1]));
	conf_free(c);
	conf_errs_expect(UDP_UPS "    upstream: dns\n"
	    "  - {name: two, listen: 127.0.0.1:5300, mode: udp, upstream: dns}\n",
	    "t.yaml:11:25: duplicate udp listener address 127.0.0.1:5300 (first at "
	    "line 8, column 13)");
	conf_errs_expect(UDP_UPS "    upstream: dns\n"
	    "  - {name: t1, listen: 127.0.0.1:5300, mode: tcp, upstream: dns}\n"
	    "  - {name: t2, listen: 127.0.0.1:5300, mode: tcp, upstream: dns}\n",
	    "t.yaml:12:24: duplicate listener address 127.0.0.1:5300 (first at "
	    "line 11, column 24)");
}
END_TEST

START_TEST(udp_upstream_required)
{
	conf_errs_expect(UDP_UPS,
	    "t.yaml:7:5: missing required key \"upstream\" in listener");
	conf_errs_expect(UDP_UPS "    upstream: nope\n",
	    "t.yaml:10:15: upstream \"nope\" is not defined");
}
END_TEST

START_TEST(udp_refused_keys)
{
	conf_errs_expect(UDP_UPS "    upstream: dns\n    timeouts: {idle: 5s}\n",
	    "t.yaml:11:5: \"timeouts\" is not used with mode udp; a session ends after "
	    "udp.session_timeout without a datagram");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    retries: 2\n",
	    "t.yaml:11:5: \"retries\" is not used with mode udp; a datagram is sent once, "
	    "and a server that refuses it ends the session");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    sni: {routes: [{names: [a.test], "
	    "upstream: dns}]}\n",
	    "t.yaml:11:5: \"sni\" is not used with mode udp; TLS runs over a stream, not "
	    "over datagrams");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    routes:\n      - upstream: dns\n",
	    "t.yaml:11:5: \"routes\" is not used with mode udp");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    max_body_size: 1m\n",
	    "t.yaml:11:5: \"max_body_size\" is not used with mode udp");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    bandwidth: {download: 1m}\n",
	    "t.yaml:11:5: \"bandwidth\" is not used with mode udp");
}
END_TEST

/* A key misspelt is told with its nearest, once, not also as refused by the mode. */
START_TEST(udp_unknown_key)
{
	conf_errs_expect(UDP_UPS "    upstream: dns\n    upd: {responses: 1}\n",
	    "t.yaml:11:5: unknown key \"upd\" in listener, did you mean \"udp\"?");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    udp: {response: 1}\n",
	    "t.yaml:11:11: unknown key \"response\" in udp, did you mean \"responses\"?");
}
END_TEST

START_TEST(udp_values)
{
	conf_errs_expect(UDP_UPS "    upstream: dns\n    udp: {max_sessions: 0}\n",
	    "t.yaml:11:25: \"max_sessions\" must be an integer between 1 and 1000000, not \"0\"");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    udp: {session_timeout: 0s}\n",
	    "t.yaml:11:28: \"session_timeout\" must be greater than 0");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    udp: {responses: -1}\n",
	    "t.yaml:11:22: \"responses\" must be an integer between 0 and 1000000, not \"-1\"");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    udp: {connect_timeout: 0s}\n",
	    "t.yaml:11:28: \"connect_timeout\" must be greater than 0");
	conf_errs_expect(UDP_UPS "    upstream: dns\n    udp: [1]\n",
	    "t.yaml:11:10: \"udp\" must be a mapping");
}
END_TEST

START_TEST(udp_block_other_modes)
{
	conf_errs_expect(
	    "upstreams:\n"
	    "  dns:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:5301}\n"
	    "listeners:\n"
	    "  - {name: t, listen: 127.0.0.1:5300, mode: tcp, upstream: dns, udp: {responses: 1}}\n",
	    "t.yaml:6:65: \"udp\" is only for mode udp");
}
END_TEST

START_TEST(udp_upstream_tls)
{
	conf_errs_expect(
	    "upstreams:\n"
	    "  dns:\n"
	    "    tls: {verify: false}\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:5301}\n"
	    "listeners:\n"
	    "  - {name: u, listen: 127.0.0.1:5300, mode: udp, upstream: dns}\n",
	    "t.yaml:7:60: upstream \"dns\" has \"tls\", which a udp listener cannot use: "
	    "its datagrams go to the servers as they are");
	conf_errs_expect(
	    "upstreams:\n"
	    "  dns:\n"
	    "    balance: hash\n"
	    "    hash_key: uri\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:5301}\n"
	    "listeners:\n"
	    "  - {name: u, listen: 127.0.0.1:5300, mode: udp, upstream: dns}\n",
	    "t.yaml:8:60: upstream \"dns\" hashes on \"uri\", which needs mode http; a udp "
	    "listener can only use hash_key client_ip");
}
END_TEST

/* SOCKS 5 hops relay datagrams (UDP ASSOCIATE); the others are refused where they are. */
START_TEST(udp_upstream_via)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(
	    "upstreams:\n"
	    "  dns:\n"
	    "    via: [\"socks5://u:p@127.0.0.1:1080\", \"socks5h://[::1]:1081\"]\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:5301}\n"
	    "listeners:\n"
	    "  - {name: u, listen: 127.0.0.1:5300, mode: udp, upstream: dns}\n", &e);

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_uint_eq(c->upstreams[0].via.n, 2);
	conf_free(c);
	conf_errs_expect(
	    "upstreams:\n"
	    "  dns:\n"
	    "    via:\n"
	    "      - socks5://127.0.0.1:1080\n"
	    "      - http://127.0.0.1:3128\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:5301}\n"
	    "listeners:\n"
	    "  - {name: u, listen: 127.0.0.1:5300, mode: udp, upstream: dns}\n",
	    "t.yaml:5:9: hop 2 (http://127.0.0.1:3128) of upstream \"dns\" cannot carry the "
	    "datagrams of udp listener \"u\": only a SOCKS 5 hop relays UDP (UDP ASSOCIATE)");
	conf_errs_expect(
	    "upstreams:\n"
	    "  dns:\n"
	    "    via: [\"socks4://127.0.0.1:1080\"]\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:5301}\n"
	    "listeners:\n"
	    "  - {name: t, listen: 127.0.0.1:5300, mode: tcp, upstream: dns}\n"
	    "  - {name: u, listen: 127.0.0.1:5300, mode: udp, upstream: dns}\n",
	    "t.yaml:3:11: hop 1 (socks4://127.0.0.1:1080) of upstream \"dns\" cannot carry "
	    "the datagrams of udp listener \"u\": only a SOCKS 5 hop relays UDP (UDP "
	    "ASSOCIATE)");
}
END_TEST

Suite *
suite_conf_udp(void)
{
	Suite *s = suite_create("conf_udp");
	TCase *tc = tcase_create("udp");

	tcase_add_test(tc, udp_defaults);
	tcase_add_test(tc, udp_block);
	tcase_add_test(tc, udp_beside_tcp);
	tcase_add_test(tc, udp_upstream_required);
	tcase_add_test(tc, udp_refused_keys);
	tcase_add_test(tc, udp_unknown_key);
	tcase_add_test(tc, udp_values);
	tcase_add_test(tc, udp_block_other_modes);
	tcase_add_test(tc, udp_upstream_tls);
	tcase_add_test(tc, udp_upstream_via);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * Mode forward: the authority of a CONNECT or absolute-form target
 * (forward_authority), and what a forward listener's configuration
 * holds for its absolute-form requests: the keepalive block, the head
 * and upstream timeouts, max_header_size, and their dump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "lib/ct.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"
#include "worker/forward.h"

/* forward_authority() of text, dflt; CT_OK with host and port. */
static int
authority(const char *text, uint16_t dflt, char *host, size_t cap, uint16_t *port)
{
	struct http_slice t = { text, strlen(text) };

	host[0] = '\0';
	*port = 0;
	return forward_authority(t, host, cap, port, dflt);
}

START_TEST(authority_good)
{
	static const struct {
		const char *in;
		uint16_t dflt;
		const char *host;
		uint16_t port;
	} cases[] = {
		{ "example.com:443", 0, "example.com", 443 },
		{ "example.com:8080", 80, "example.com", 8080 },
		{ "example.com", 80, "example.com", 80 },
		{ "127.0.0.1:1", 0, "127.0.0.1", 1 },
		{ "[::1]:65535", 0, "::1", 65535 },
		{ "[2001:db8::1]", 80, "2001:db8::1", 80 },
		{ "a", 80, "a", 80 },
	};
	char host[64];
	uint16_t port;
	size_t i;

	for (i = 0; i < CT_NELEM(cases); i++) {
		ck_assert_msg(authority(cases[i].in, cases[i].dflt, host, sizeof(host), &port) ==
		    CT_OK, "%s", cases[i].in);
		ck_assert_str_eq(host, cases[i].host);
		ck_assert_uint_eq(port, cases[i].port);
	}
}
END_TEST

START_TEST(authority_bad)
{
	static const struct {
		const char *in;
		uint16_t dflt;
		const char *why;
	} cases[] = {
		{ "example.com", 0, "no port where one is needed" },
		{ "[::1]", 0, "an IPv6 literal without the port needed" },
		{ "example.com:", 80, "an empty port" },
		{ "example.com:0", 80, "port 0" },
		{ "example.com:65536", 80, "a port above 65535" },
		{ "example.com:1234567", 80, "a port of 7 digits" },
		{ "example.com:8o", 80, "a port with a letter" },
		{ "a:b:c", 80, "two colons outside brackets" },
		{ "[::1", 80, "an unclosed bracket" },
		{ "[::1]x", 80, "bytes after the bracket" },
		{ ":80", 80, "no host" },
		{ "[]:80", 80, "empty brackets" },
		{ "", 80, "nothing" },
	};
	char host[64];
	uint16_t port;
	size_t i;

	for (i = 0; i < CT_NELEM(cases); i++)
		ck_assert_msg(authority(cases[i].in, cases[i].dflt, host, sizeof(host), &port) ==
		    CT_ERROR, "%s: %s", cases[i].why, cases[i].in);
}
END_TEST

START_TEST(authority_host_cap)
{
	char host[8];
	uint16_t port;

	ck_assert_int_eq(authority("1234567:80", 0, host, sizeof(host), &port), CT_OK);
	ck_assert_str_eq(host, "1234567");
	ck_assert_int_eq(authority("12345678:80", 0, host, sizeof(host), &port), CT_ERROR);
}
END_TEST

#define FWD \
	"listeners:\n" \
	"  - name: proxy\n" \
	"    listen: 127.0.0.1:3128\n" \
	"    mode: forward\n"

START_TEST(conf_defaults)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(FWD, &e);
	const struct conf_listener *l;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	l = &c->listeners[0];
	ck_assert_uint_eq(l->proxy.keepalive.max_idle, 32);
	ck_assert_uint_eq(l->proxy.keepalive.idle_timeout_ms, 60000);
	ck_assert_uint_eq(l->max_header_size, 32 * 1024);
	ck_assert_uint_eq(l->max_body_size, 0);
	ck_assert_uint_eq(l->send_timeout_ms, 60000);
	ck_assert_uint_eq(l->read_timeout_ms, 60000);
	/* Every head of the listener comes within handshake. */
	ck_assert_uint_eq(l->header_timeout_ms, l->handshake_timeout_ms);
	ck_assert_uint_eq(l->handshake_timeout_ms, 10000);
	conf_free(c);
}
END_TEST

START_TEST(conf_block)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(FWD
	    "    max_header_size: 16k\n"
	    "    timeouts: {handshake: 2s, send: 3s, read: 4s}\n"
	    "    forward: {connect_ports: [443], keepalive: {max_idle: 0, idle_timeout: 5s}}\n",
	    &e);
	const struct conf_listener *l;
	struct conf *again;
	char *dump;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	l = &c->listeners[0];
	ck_assert_uint_eq(l->proxy.keepalive.max_idle, 0);
	ck_assert_uint_eq(l->proxy.keepalive.idle_timeout_ms, 5000);
	ck_assert_uint_eq(l->max_header_size, 16 * 1024);
	ck_assert_uint_eq(l->header_timeout_ms, 2000);
	ck_assert_uint_eq(l->send_timeout_ms, 3000);
	ck_assert_uint_eq(l->read_timeout_ms, 4000);
	dump = conf_errs_dump(c);
	ck_assert_ptr_nonnull(strstr(dump, "      keepalive:\n        max_idle: 0\n"
	    "        idle_timeout: 5s\n"));
	ck_assert_ptr_nonnull(strstr(dump, "    max_header_size: 16k\n"));
	free(dump);
	again = conf_errs_round_trip(c);
	conf_free(again);
	conf_free(c);
}
END_TEST

START_TEST(conf_refused)
{
	conf_errs_expect(FWD "    timeouts: {header: 1s}\n",
	    "t.yaml:5:16: \"header\" is only for mode http");
	conf_errs_expect(FWD "    max_body_size: 1m\n",
	    "t.yaml:5:5: \"max_body_size\" is only for mode http");
	conf_errs_expect(FWD "    forward: {keepalive: {max_idle: 1025}}\n",
	    "t.yaml:5:37: \"max_idle\" must be an integer between 0 and 1024, not \"1025\"");
	conf_errs_expect(
	    "listeners:\n"
	    "  - name: s\n"
	    "    listen: 127.0.0.1:1080\n"
	    "    mode: socks\n"
	    "    max_header_size: 16k\n",
	    "t.yaml:5:5: \"max_header_size\" is only for modes http and forward");
	conf_errs_expect(
	    "listeners:\n"
	    "  - name: s\n"
	    "    listen: 127.0.0.1:1080\n"
	    "    mode: socks\n"
	    "    timeouts: {read: 1s}\n",
	    "t.yaml:5:16: \"read\" is only for modes http and forward");
}
END_TEST

Suite *
suite_forward(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = tcase_create("forward");

	tcase_add_test(tc, authority_good);
	tcase_add_test(tc, authority_bad);
	tcase_add_test(tc, authority_host_cap);
	tcase_add_test(tc, conf_defaults);
	tcase_add_test(tc, conf_block);
	tcase_add_test(tc, conf_refused);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * A listener's "approval" block on every stream mode, its defaults and
 * dump, the errors of its keys at their positions, udp refusing it, and
 * the top-level "approvals".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

#define APP_UPS \
	"upstreams:\n" \
	"  u: {servers: [{address: 127.0.0.1:9}]}\n" \
	"listeners:\n" \
	"  - name: web\n" \
	"    listen: 127.0.0.1:8081\n" \
	"    mode: tcp\n" \
	"    upstream: u\n"

START_TEST(approval_defaults)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(APP_UPS "    approval: {}\n", &e);
	const struct conf_approval *a;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	a = c->listeners[0].approval;
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->policy, CONF_APPROVAL_ASK);
	ck_assert_uint_eq(a->wait_ms, 30000);
	ck_assert_int_eq(a->on_timeout_allow, 0);
	ck_assert_uint_eq(a->remember_ms, 0);
	ck_assert_uint_eq(a->max_pending, 1000);
	ck_assert_str_eq(a->deny_body, "403 Forbidden\n");
	ck_assert_uint_eq(a->nallow + a->ndeny, 0);
	ck_assert_ptr_null(c->approvals.state_file);
	conf_free(c);
	/* No block: no approval. */
	c = conf_errs_load(APP_UPS, &e);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->listeners[0].approval);
	conf_free(c);
}
END_TEST

START_TEST(approval_block_round_trip)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load("approvals: {state_file: /var/lib/cuttle/a.jsonl}\n"
	    APP_UPS
	    "    approval:\n"
	    "      policy: deny\n"
	    "      rules: {allow: [10.0.0.0/8, \"2001:db8::/32\"], deny: [10.1.0.0/16]}\n"
	    "      wait: 250ms\n"
	    "      on_timeout: allow\n"
	    "      remember: 1h\n"
	    "      max_pending: 7\n"
	    "      deny_body: \"Ask the desk: \\\"x\\\"\\n\"\n", &e);
	const struct conf_approval *a;
	struct conf *again;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	a = c->listeners[0].approval;
	ck_assert_int_eq(a->policy, CONF_APPROVAL_DENY);
	ck_assert_uint_eq(a->nallow, 2);
	ck_assert_uint_eq(a->ndeny, 1);
	ck_assert_uint_eq(a->deny[0].prefix, 16);
	ck_assert_uint_eq(a->wait_ms, 250);
	ck_assert_int_eq(a->on_timeout_allow, 1);
	ck_assert_uint_eq(a->remember_ms, 3600000);
	ck_assert_uint_eq(a->max_pending, 7);
	ck_assert_str_eq(a->deny_body, "Ask the desk: \"x\"\n");
	ck_assert_str_eq(c->approvals.state_file, "/var/lib/cuttle/a.jsonl");
	again = conf_errs_round_trip(c);
	a = again->listeners[0].approval;
	ck_assert_int_eq(a->policy, CONF_APPROVAL_DENY);
	ck_assert_uint_eq(a->nallow, 2);
	ck_assert_uint_eq(a->remember_ms, 3600000);
	ck_assert_int_eq(a->on_timeout_allow, 1);
	ck_assert_str_eq(a->deny_body, "Ask the desk: \"x\"\n");
	ck_assert_str_eq(again->approvals.state_file, "/var/lib/cuttle/a.jsonl");
	conf_free(again);
	conf_free(c);
}
END_TEST

/* Every mode that carries a stream takes the block. */
START_TEST(approval_every_stream_mode)
{
	static const char *const modes[] = {
		"  - {name: h, listen: 127.0.0.1:8082, mode: http, routes: [{upstream: u}],"
		" approval: {policy: allow}}\n",
		"  - {name: f, listen: 127.0.0.1:8083, mode: forward, approval: {policy: allow}}\n",
		"  - {name: s, listen: 127.0.0.1:8084, mode: socks, approval: {policy: allow}}\n",
	};
	struct conf_errs e;
	char text[1024];
	struct conf *c;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", APP_UPS, modes[i]);
		c = conf_errs_load(text, &e);
		ck_assert_msg(c != NULL, "%s: %zu errors, first: %s", modes[i], e.n, e.first);
		ck_assert_ptr_nonnull(c->listeners[1].approval);
		ck_assert_int_eq(c->listeners[1].approval->policy, CONF_APPROVAL_ALLOW);
		conf_free(c);
	}
}
END_TEST

START_TEST(approval_errors_at_their_place)
{
	conf_errs_expect(APP_UPS "    approval: {policy: maybe}\n",
	    "t.yaml:8:24: invalid value \"maybe\" for \"policy\", expected one of: ask, allow, deny");
	conf_errs_expect(APP_UPS "    approval:\n      rules: {allow: [10.0.0.1/8]}\n",
	    "t.yaml:9:23: invalid CIDR \"10.0.0.1/8\" for \"allow\": host bits set");
	conf_errs_expect(APP_UPS "    approval:\n      rules: {permit: []}\n",
	    "t.yaml:9:15: unknown key \"permit\" in approval rules");
	conf_errs_expect(APP_UPS "    approval: {wait: 2h}\n",
	    "t.yaml:8:22: \"wait\" must be at most 1h, not \"2h\"");
	conf_errs_expect(APP_UPS "    approval: {wait: 0}\n",
	    "t.yaml:8:22: \"wait\" must be greater than 0");
	conf_errs_expect(APP_UPS "    approval: {on_timeout: later}\n",
	    "t.yaml:8:28: invalid value \"later\" for \"on_timeout\", expected one of: deny, allow");
	conf_errs_expect(APP_UPS "    approval: {remember: 1500ms}\n",
	    "t.yaml:8:26: \"remember\" is 0 (until revoked) or whole seconds, not \"1500ms\"");
	conf_errs_expect(APP_UPS "    approval: {remember: 3651d}\n",
	    "t.yaml:8:26: \"remember\" must be at most 3650d, not \"3651d\"");
	conf_errs_expect(APP_UPS "    approval: {max_pending: 0}\n",
	    "t.yaml:8:29: \"max_pending\" must be an integer between 1 and 1000000, not \"0\"");
	conf_errs_expect(APP_UPS "    approval: {waits: 1s}\n",
	    "t.yaml:8:16: unknown key \"waits\" in approval, did you mean \"wait\"?");
	conf_errs_expect(APP_UPS "    approval: ask\n",
	    "t.yaml:8:15: \"approval\" must be a mapping");
	conf_errs_expect("approvals: {state_file: rel/a.jsonl}\n" APP_UPS,
	    "t.yaml:1:25: \"state_file\" must be an absolute path");
	conf_errs_expect("approval: {state_file: /a.jsonl}\n" APP_UPS,
	    "t.yaml:1:1: unknown key \"approval\" at top level, did you mean \"approvals\"?");
}
END_TEST

/* rules.destinations: on forward and socks listeners only, without "private". */
START_TEST(approval_destination_rules)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(APP_UPS
	    "  - name: s\n"
	    "    listen: 127.0.0.1:8084\n"
	    "    mode: socks\n"
	    "    approval:\n"
	    "      rules:\n"
	    "        allow: [10.0.0.0/8]\n"
	    "        destinations: {allow: [\"*.example.com:443\", \"::1\"], deny: [\"bad.test\"]}\n",
	    &e), *again;
	const struct conf_approval *a;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	a = c->listeners[1].approval;
	ck_assert_uint_eq(a->nallow, 1);
	ck_assert_uint_eq(a->dest.nallow, 2);
	ck_assert_uint_eq(a->dest.ndeny, 1);
	ck_assert_int_eq(a->dest.allow[0].kind, CONF_DEST_DOMAIN);
	ck_assert_uint_eq(a->dest.allow[0].port_lo, 443);
	ck_assert_int_eq(a->dest.allow[1].kind, CONF_DEST_CIDR);
	ck_assert_str_eq(a->dest.deny[0].name, "bad.test");
	again = conf_errs_round_trip(c);
	a = again->listeners[1].approval;
	ck_assert_uint_eq(a->dest.nallow, 2);
	ck_assert_str_eq(a->dest.allow[0].text, "*.example.com:443");
	ck_assert_uint_eq(a->dest.ndeny, 1);
	conf_free(again);
	conf_free(c);
	conf_errs_expect(APP_UPS "    approval:\n      rules: {destinations: {allow: [a.test]}}\n",
	    "t.yaml:9:15: \"destinations\" in approval rules is only for modes forward and socks: "
	    "other clients name no destination");
	conf_errs_expect(APP_UPS
	    "  - {name: f, listen: 127.0.0.1:8083, mode: forward,\n"
	    "     approval: {rules: {destinations: {private: allow}}}}\n",
	    "t.yaml:9:40: unknown key \"private\" in approval rules destinations");
	conf_errs_expect(APP_UPS
	    "  - {name: f, listen: 127.0.0.1:8083, mode: forward,\n"
	    "     approval: {rules: {destinations: {deny: [\"a b\"]}}}}\n",
	    "t.yaml:9:47: invalid destination \"a b\" in \"deny\": use letters, digits, \"-\" and "
	    "\".\", or \"*.\" and a domain");
}
END_TEST

START_TEST(approval_remember_zero)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(APP_UPS "    approval: {remember: 0}\n", &e), *again;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_uint_eq(c->listeners[0].approval->remember_ms, 0);
	again = conf_errs_round_trip(c);
	ck_assert_uint_eq(again->listeners[0].approval->remember_ms, 0);
	conf_free(again);
	conf_free(c);
}
END_TEST

START_TEST(approval_not_on_udp)
{
	conf_errs_expect("upstreams:\n"
	    "  dns: {servers: [{address: 127.0.0.1:5301}]}\n"
	    "listeners:\n"
	    "  - {name: dns, listen: 127.0.0.1:5300, mode: udp, upstream: dns,\n"
	    "     approval: {policy: deny}}\n",
	    "t.yaml:5:6: \"approval\" is not used with mode udp; a datagram cannot be held "
	    "while someone decides: it would have to be queued or dropped, and the client's "
	    "own retries and timeouts would decide first (use acl)");
}
END_TEST

Suite *
suite_conf_approval(void)
{
	Suite *s = suite_create("conf_approval");
	TCase *tc = tcase_create("approval");

	tcase_add_test(tc, approval_defaults);
	tcase_add_test(tc, approval_block_round_trip);
	tcase_add_test(tc, approval_every_stream_mode);
	tcase_add_test(tc, approval_errors_at_their_place);
	tcase_add_test(tc, approval_remember_zero);
	tcase_add_test(tc, approval_destination_rules);
	tcase_add_test(tc, approval_not_on_udp);
	suite_add_tcase(s, tc);
	return s;
}

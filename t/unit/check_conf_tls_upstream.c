/*
 * An upstream's "tls" block: its defaults, the name and protocol checks,
 * what spans keys, and its dump.  No file is read: the CA defaults to the
 * system's store, and a missing file is one of the errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

#define TU_HEAD \
	"upstreams:\n" \
	"  a:\n" \
	"    servers: [{address: 127.0.0.1:9001}]\n"

#define TU_TAIL \
	"listeners:\n" \
	"  - {name: l, listen: 127.0.0.1:8443, mode: tcp, upstream: a}\n"

START_TEST(tu_defaults)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(TU_HEAD "    tls: {}\n" TU_TAIL, &e);
	const struct conf_tls_upstream *t;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	t = c->upstreams[0].tls;
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->verify, 1);
	ck_assert_int_eq(t->session_reuse, 1);
	ck_assert_uint_eq(t->protocols, CONF_TLS_V1_2 | CONF_TLS_V1_3);
	ck_assert_ptr_null(t->name);
	ck_assert_int_eq(t->name_host, 0);
	ck_assert_ptr_null(t->ca);
	ck_assert_ptr_nonnull(t->ctx);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(t->ctx), SSL_VERIFY_PEER);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(t->ctx), TLS1_2_VERSION);
	ck_assert_int_eq(SSL_CTX_get_max_proto_version(t->ctx), TLS1_3_VERSION);
	conf_free(c);
}
END_TEST

START_TEST(tu_plain_without_block)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(TU_HEAD TU_TAIL, &e);

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_ptr_null(c->upstreams[0].tls);
	conf_free(c);
}
END_TEST

START_TEST(tu_names)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(TU_HEAD "    tls: {name: Api.Internal, verify: false, "
	    "session_reuse: false, protocols: [TLSv1.3]}\n" TU_TAIL, &e);
	const struct conf_tls_upstream *t;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	t = c->upstreams[0].tls;
	ck_assert_str_eq(t->name, "api.internal");
	ck_assert_int_eq(t->verify, 0);
	ck_assert_int_eq(SSL_CTX_get_verify_mode(t->ctx), SSL_VERIFY_NONE);
	ck_assert_uint_eq(t->protocols, CONF_TLS_V1_3);
	ck_assert_int_eq(t->session_reuse, 0);
	conf_free(c);
	c = conf_errs_load(TU_HEAD "    tls: {name: $host}\n" TU_TAIL, &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(c->upstreams[0].tls->name_host, 1);
	ck_assert_ptr_null(c->upstreams[0].tls->name);
	conf_free(c);
}
END_TEST

START_TEST(tu_bad_name)
{
	conf_errs_expect(TU_HEAD "    tls: {name: \"*.internal\"}\n" TU_TAIL,
	    "t.yaml:4:17: invalid \"name\" \"*.internal\": a wildcard names no one "
	    "server; use a host name, an IP address or \"$host\"");
}
END_TEST

START_TEST(tu_protocol_gap)
{
	conf_errs_expect(TU_HEAD "    tls: {protocols: [TLSv1.1, TLSv1.3]}\n" TU_TAIL,
	    "t.yaml:4:22: \"protocols\" must be a range without gaps");
	conf_errs_expect(TU_HEAD "    tls: {protocols: [SSLv3]}\n" TU_TAIL,
	    "t.yaml:4:23: invalid protocol \"SSLv3\" in \"protocols\": use TLSv1, TLSv1.1, "
	    "TLSv1.2 or TLSv1.3");
}
END_TEST

START_TEST(tu_cert_without_key)
{
	conf_errs_expect(TU_HEAD "    tls: {cert: /nonexistent/c.pem}\n" TU_TAIL,
	    "t.yaml:4:17: \"cert\" needs \"key\": a client certificate and its key go together");
}
END_TEST

START_TEST(tu_missing_ca)
{
	conf_errs_expect(TU_HEAD "    tls: {ca: /nonexistent/ca.pem}\n" TU_TAIL,
	    "t.yaml:4:15: cannot read ca \"/nonexistent/ca.pem\": No such file or directory");
	conf_errs_expect(TU_HEAD "    tls: {verify: false, ca: /nonexistent/ca.pem}\n" TU_TAIL,
	    "t.yaml:4:30: \"ca\" is for verifying the server, and \"verify\" is false");
}
END_TEST

START_TEST(tu_bad_cipher)
{
	conf_errs_expect(TU_HEAD "    tls: {ciphers: NO-SUCH-CIPHER}\n" TU_TAIL,
	    "t.yaml:4:20: invalid ciphers \"NO-SUCH-CIPHER\": no cipher match");
}
END_TEST

START_TEST(tu_dump_round_trip)
{
	const char *text = TU_HEAD "    tls: {name: $host, protocols: [TLSv1.2], "
	    "ciphers: ECDHE-ECDSA-AES128-GCM-SHA256}\n" TU_TAIL;
	struct conf_errs e;
	struct conf *a = conf_errs_load(text, &e), *b;
	char *out;

	ck_assert_msg(a != NULL, "%zu errors, first: %s", e.n, e.first);
	out = conf_errs_dump(a);
	ck_assert_ptr_nonnull(strstr(out, "    tls:\n      verify: true\n      name: \"$$host\"\n"));
	b = conf_errs_round_trip(a);
	ck_assert_int_eq(b->upstreams[0].tls->name_host, 1);
	conf_free(a);
	conf_free(b);
	free(out);
}
END_TEST

Suite *
suite_conf_tls_upstream(void)
{
	Suite *s = suite_create("conf_tls_upstream");
	TCase *tc = tcase_create("tls_upstream");

	tcase_add_test(tc, tu_defaults);
	tcase_add_test(tc, tu_plain_without_block);
	tcase_add_test(tc, tu_names);
	tcase_add_test(tc, tu_bad_name);
	tcase_add_test(tc, tu_protocol_gap);
	tcase_add_test(tc, tu_cert_without_key);
	tcase_add_test(tc, tu_missing_ca);
	tcase_add_test(tc, tu_bad_cipher);
	tcase_add_test(tc, tu_dump_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

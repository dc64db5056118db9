/*
 * Basic authentication's parsers: htpasswd files (conf/auth.c) and the
 * Authorization value with its base64 (lib/http_basic.c), each input
 * placed before an unreadable page, garbage included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/ct.h"
#include "lib/http_basic.h"
#include "t/unit/conf_load.h"
#include "t/unit/guard.h"
#include "t/unit/suites.h"

#define BCRYPT "$2y$04$Qod1c.ouqlxUjdMhYN6g5OGVJaS8r2jXp65NDtKR4/d.xNWTrKeYa"
#define SHA512 "$6$PqMa6z18ufgj8wfl$NW3sR5.fdhMw4/v8bY3fRMfU8TTIE30ZJZEXGbrhuUFR1uXw7rVC6k9NUhXOplBHjyb7BzJJQyTt1LZ/jUEOh1"
#define SHA256 "$5$5bA7W.UIW4YU6sl7$nI8/2PKqsTvWIpnF2JjyHYCRjRm0bmKVhR46uJ/bZR1"
#define YESCRYPT "$y$j9T$YSn434UQHwUL67ur1GL561$Wa5XS.yx2zUNq3g0jqK9TkM0BLJXYKF2Mmo8dYhA09A"

/* The errors of one parse. */
struct pw_errs {
	size_t n;
	unsigned line;              /* of the first */
	char first[256];
};

static void
pw_err(void *arg, unsigned line, const char *msg)
{
	struct pw_errs *e = arg;

	if (e->n++ == 0) {
		e->line = line;
		snprintf(e->first, sizeof(e->first), "%s", msg);
	}
}

/* Parses text (from a guarded copy) into a; returns the parse's result. */
static int
pw_parse(const char *text, struct conf_auth *a, struct pw_errs *e)
{
	size_t n = strlen(text);

	memset(a, 0, sizeof(*a));
	memset(e, 0, sizeof(*e));
	return conf_htpasswd_parse(guard_copy(text, n), n, a, pw_err, e);
}

static void
pw_free(struct conf_auth *a)
{
	size_t i;

	for (i = 0; i < a->nusers; i++) {
		free(a->users[i].name);
		free(a->users[i].hash);
	}
	free(a->users);
}

START_TEST(htpasswd_kinds)
{
	struct conf_auth a;
	struct pw_errs e;

	ck_assert_int_eq(pw_parse("# users\n\n  # indented comment\r\n"
	    "zed:" SHA512 "\r\nal:" BCRYPT "  \nmi:" SHA256 "\nyo:" YESCRYPT, &a, &e), CT_OK);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_uint_eq(a.nusers, 4);
	/* Sorted, for the workers' binary search; the hash without trailing blanks. */
	ck_assert_str_eq(a.users[0].name, "al");
	ck_assert_str_eq(a.users[0].hash, BCRYPT);
	ck_assert_int_eq(a.users[0].kind, CONF_AUTH_BCRYPT);
	ck_assert_int_eq(a.users[1].kind, CONF_AUTH_SHA256);
	ck_assert_int_eq(a.users[2].kind, CONF_AUTH_YESCRYPT);
	ck_assert_int_eq(a.users[3].kind, CONF_AUTH_SHA512);
	ck_assert_ptr_eq(conf_auth_user_find(&a, "mi", 2), &a.users[1]);
	ck_assert_ptr_eq(conf_auth_user_find(&a, "zed", 3), &a.users[3]);
	ck_assert_ptr_null(conf_auth_user_find(&a, "m", 1));
	ck_assert_ptr_null(conf_auth_user_find(&a, "mix", 3));
	ck_assert_ptr_null(conf_auth_user_find(&a, "", 0));
	pw_free(&a);
}
END_TEST

/* One line per refused input: its first error's line and words. */
static const struct {
	const char *text;
	unsigned line;
	const char *says;
} pw_bad[] = {
	{ "a:$apr1$xyz$0123456789abcdefghijkl\n", 1, "user \"a\": unsupported hash (apr1-MD5)" },
	{ "\nb:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n", 2, "unsupported hash (SHA-1)" },
	{ "c:$1$salt$abcdefghijklmnopqrstuv\n", 1, "unsupported hash (MD5-crypt)" },
	{ "d:abJnggxhB/yWI\n", 1, "unsupported hash (DES crypt)" },
	{ "e:secret\n", 1, "unsupported hash (plain text?)" },
	{ "f:$9$what\n", 1, "unsupported hash (unknown kind)" },
	{ "g:\n", 1, "unsupported hash" },
	{ "nocolon\n", 1, "no colon" },
	{ ":" SHA256 "\n", 1, "empty user name" },
	{ "sp ace:" SHA256 "\n", 1, "spaces and control characters" },
	{ "h:$2y$10$short\n", 1, "malformed bcrypt hash" },
	{ "i:" SHA256 "x\n", 1, "malformed sha256crypt hash" },
	{ "j:$6$salt$bad!chars\n", 1, "malformed sha512crypt hash" },
	{ "k:" SHA256 ":extra\n", 1, "malformed sha256crypt hash" },
	{ "x:" SHA256 "\ny:" SHA256 "\nx:" SHA512 "\n", 3, "duplicate user \"x\" (first at line 1)" },
};

START_TEST(htpasswd_refused)
{
	struct conf_auth a;
	struct pw_errs e;

	ck_assert_int_eq(pw_parse(pw_bad[_i].text, &a, &e), CT_ERROR);
	ck_assert_uint_ge(e.n, 1);
	ck_assert_uint_eq(e.line, pw_bad[_i].line);
	ck_assert_msg(strstr(e.first, pw_bad[_i].says) != NULL, "case %d: \"%s\"", _i, e.first);
	ck_assert_ptr_null(a.users);
	ck_assert_uint_eq(a.nusers, 0);
}
END_TEST

START_TEST(htpasswd_every_error)
{
	struct conf_auth a;
	struct pw_errs e;

	/* Every bad line is told, and a duplicate among the good ones too. */
	ck_assert_int_eq(pw_parse("a:x\nb:" SHA256 "\nnocolon\nb:" SHA256 "\n", &a, &e), CT_ERROR);
	ck_assert_uint_eq(e.n, 3);
	ck_assert_uint_eq(e.line, 1);
}
END_TEST

START_TEST(htpasswd_nul)
{
	static const char text[] = "a:" SHA256 "\nb\0:" SHA256 "\n";
	struct conf_auth a;
	struct pw_errs e = { 0 };

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(conf_htpasswd_parse(guard_copy(text, sizeof(text) - 1),
	    sizeof(text) - 1, &a, pw_err, &e), CT_ERROR);
	ck_assert_uint_eq(e.line, 2);
	ck_assert_str_eq(e.first, "a NUL byte");
}
END_TEST

/* Random bytes and lines of random parts: errors or users, never a crash. */
START_TEST(htpasswd_garbage)
{
	static const char *const parts[] = { ":", "\n", "#", " ", "$2y$", "$6$", "$y$", "\r",
	    SHA256, "a", "\0", "$" };
	char text[512];
	struct conf_auth a;
	struct pw_errs e;
	unsigned seed = 7, i, j;
	size_t n;

	for (i = 0; i < 2000; i++) {
		n = 0;
		for (j = 0; j < 12 && n < sizeof(text) - 100; j++) {
			seed = seed * 1103515245u + 12345u;
			if (i % 2 == 0) {
				text[n++] = (char)(seed >> 16);
			} else {
				const char *p = parts[(seed >> 16) % CT_NELEM(parts)];
				size_t l = p[0] == '\0' ? 1 : strlen(p);

				memcpy(text + n, p, l);
				n += l;
			}
		}
		memset(&a, 0, sizeof(a));
		memset(&e, 0, sizeof(e));
		if (conf_htpasswd_parse(guard_copy(text, n), n, &a, pw_err, &e) == CT_OK)
			ck_assert_uint_eq(e.n, 0);
		else
			ck_assert_uint_ge(e.n, 1);
		pw_free(&a);
	}
}
END_TEST

/* ---------------------------------------------------------- the block */

#define AUTH_CONF(listener_auth, route) \
	"upstreams:\n  a:\n    servers:\n      - {address: 127.0.0.1:9001}\n" \
	"listeners:\n  - name: web\n    listen: 127.0.0.1:8080\n    mode: http\n" \
	listener_auth "    routes:\n      - " route "\n"

/* A file with one user, for the cases that load; its path in path. */
static void
auth_file(char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "/tmp/check_auth_%ld.pw", (long)getpid());
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("u:" SHA256 "\n", f);
	fclose(f);
}

START_TEST(block_round_trip)
{
	char path[64], text[1024];
	struct conf_errs e;
	struct conf *a, *b;

	auth_file(path, sizeof(path));
	snprintf(text, sizeof(text), AUTH_CONF("    auth: {basic: {realm: \"R 1\", htpasswd: %s}}\n",
	    "{upstream: a, auth: off}\n      - {upstream: a, auth: {basic: {realm: Two, "
	    "htpasswd: %s, pass_authorization: true, max_failures_per_minute: 0}}}"), path, path);
	a = conf_errs_load(text, &e);
	ck_assert_msg(a != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_str_eq(a->listeners[0].auth->realm, "R 1");
	ck_assert_uint_eq(a->listeners[0].auth->max_failures, CONF_AUTH_FAILURES_DEFAULT);
	ck_assert_uint_eq(a->listeners[0].auth->nusers, 1);
	ck_assert(a->listeners[0].auth_any);
	ck_assert(a->listeners[0].routes[0].auth->off);
	ck_assert(a->listeners[0].routes[1].auth->pass_authorization);
	ck_assert_uint_eq(a->listeners[0].routes[1].auth->max_failures, 0);
	b = conf_errs_round_trip(a);
	ck_assert_str_eq(b->listeners[0].routes[1].auth->realm, "Two");
	conf_free(a);
	conf_free(b);
	unlink(path);
}
END_TEST

/* text does not load, its first error saying says. */
static void
auth_refused(const char *text, const char *says)
{
	struct conf_errs e;

	ck_assert_ptr_null(conf_errs_load(text, &e));
	ck_assert_msg(strstr(e.first, says) != NULL, "first error: %s", e.first);
}

START_TEST(block_refused)
{
	conf_errs_expect(AUTH_CONF("    auth: off\n", "{upstream: a}"),
	    "t.yaml:9:11: \"auth\" must be a mapping with \"basic\"");
	auth_refused(AUTH_CONF("    auth: {basic: {realm: \"a\\\"b\", htpasswd: /nonexistent}}\n",
	    "{upstream: a}"), "invalid realm \"a\\\"b\"");
	conf_errs_expect(AUTH_CONF("", "{return: {status: 200}, auth: off}"),
	    "t.yaml:10:33: \"auth\" is only for routes with \"upstream\"");
	conf_errs_expect(AUTH_CONF("    auth: {basic: {realm: R, htpasswd: /nonexistent/x.pw}}\n",
	    "{upstream: a}"), "t.yaml:9:40: cannot read htpasswd \"/nonexistent/x.pw\": "
	    "No such file or directory");
	auth_refused(AUTH_CONF("    auth: {basic: {htpasswd: /x}}\n", "{upstream: a}"),
	    "missing required key \"realm\"");
	auth_refused(AUTH_CONF("    auth: {digest: {}}\n", "{upstream: a}"), "missing required key \"basic\"");
}
END_TEST

/* ------------------------------------------------------------ base64 */

static int
b64(const char *in, char *out, size_t cap, size_t *n)
{
	size_t len = strlen(in);

	return http_base64_decode(guard_copy(in, len), len, (unsigned char *)out, cap, n);
}

START_TEST(base64_good)
{
	char out[64];
	size_t n;

	ck_assert_int_eq(b64("", out, sizeof(out), &n), CT_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(b64("YWxpY2U6c2VjcmV0", out, sizeof(out), &n), CT_OK);
	ck_assert_uint_eq(n, 12);
	ck_assert(memcmp(out, "alice:secret", 12) == 0);
	ck_assert_int_eq(b64("YQ==", out, sizeof(out), &n), CT_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(b64("YQ", out, sizeof(out), &n), CT_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(b64("YWI=", out, sizeof(out), &n), CT_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(b64("+/+/", out, sizeof(out), &n), CT_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq((unsigned char)out[0], 0xfb);
}
END_TEST

static const char *const b64_bad[] = {
	"Y",            /* one character cannot hold a byte */
	"YQ=",          /* padding that does not complete the group */
	"YQ===",
	"=",
	"YQ==YQ==",     /* padding in the middle */
	"Y=Q=",
	"YR==",         /* unused bits set */
	"YWJ=",
	"YW I=",        /* no whitespace */
	"YWI\n",
	"YW-_",         /* the URL alphabet is another encoding */
	"\xff\xfe\xfd\xfc",
};

START_TEST(base64_bad)
{
	char out[64];
	size_t n;

	ck_assert_msg(b64(b64_bad[_i], out, sizeof(out), &n) == CT_ERROR, "case %d", _i);
}
END_TEST

START_TEST(base64_cap)
{
	char out[3];
	size_t n;

	ck_assert_int_eq(b64("YWJj", out, 3, &n), CT_OK);
	ck_assert_int_eq(b64("YWJjZA==", out, 3, &n), CT_ERROR);
}
END_TEST

/* ------------------------------------------------------ Authorization */

static int
basic(const char *v, size_t len, struct http_basic *cred, const char **why)
{
	static char buf[HTTP_BASIC_BUF];

	return http_basic_parse(guard_copy(v, len), len, buf, sizeof(buf), cred, why);
}

START_TEST(basic_good)
{
	struct http_basic cred;
	const char *why = NULL;
	const char *v = "Basic YWxpY2U6c2VjcmV0";

	ck_assert_int_eq(basic(v, strlen(v), &cred, &why), CT_OK);
	ck_assert_uint_eq(cred.user_len, 5);
	ck_assert(memcmp(cred.user, "alice", 5) == 0);
	ck_assert_str_eq(cred.pass, "secret");
	ck_assert_uint_eq(cred.pass_len, 6);
	/* The scheme in any case; the password may hold colons; an empty one is one. */
	v = "bAsIc  YTpiOmM=";
	ck_assert_int_eq(basic(v, strlen(v), &cred, &why), CT_OK);
	ck_assert_uint_eq(cred.user_len, 1);
	ck_assert_str_eq(cred.pass, "b:c");
	v = "Basic YTo=";
	ck_assert_int_eq(basic(v, strlen(v), &cred, &why), CT_OK);
	ck_assert_uint_eq(cred.pass_len, 0);
}
END_TEST

START_TEST(basic_other_scheme)
{
	static const char *const v[] = { "Bearer abc", "Basic", "Basicx YTpi", "", "Digest a=b",
	    "Basic\x01YTpi" };
	struct http_basic cred;
	const char *why;
	size_t i;

	for (i = 0; i < CT_NELEM(v); i++)
		ck_assert_msg(basic(v[i], strlen(v[i]), &cred, &why) == CT_DECLINED, "case %zu", i);
}
END_TEST

static const struct {
	const char *v;
	const char *why;
} basic_bad_cases[] = {
	{ "Basic !!!", "not valid base64" },
	{ "Basic ", "not valid base64" },
	{ "Basic YWxpY2U=", "no colon" },                   /* "alice" */
	{ "Basic YQFiOmM=", "control characters" },         /* "a\x01b:c" */
	{ "Basic YTpiAGM=", "a NUL byte" },                 /* "a:b\0c" */
};

START_TEST(basic_bad)
{
	struct http_basic cred;
	const char *why = NULL;
	const char *v = basic_bad_cases[_i].v;

	ck_assert_int_eq(basic(v, strlen(v), &cred, &why), CT_ERROR);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, basic_bad_cases[_i].why) != NULL, "case %d: %s", _i, why);
}
END_TEST

START_TEST(basic_too_long)
{
	struct http_basic cred;
	const char *why = NULL;
	size_t len = 64 * 1024;
	char *v = malloc(len);

	ck_assert_ptr_nonnull(v);
	memcpy(v, "Basic ", 6);
	memset(v + 6, 'A', len - 6);
	ck_assert_int_eq(basic(v, len, &cred, &why), CT_ERROR);
	ck_assert_str_eq(why, "credentials longer than 4k");
	/* The longest value taken decodes into the buffer the header promises. */
	ck_assert_int_eq(basic(v, HTTP_BASIC_VALUE_MAX, &cred, &why), CT_ERROR);
	ck_assert_str_eq(why, "credentials have no colon");
	free(v);
}
END_TEST

START_TEST(basic_garbage)
{
	char v[128];
	struct http_basic cred;
	const char *why;
	unsigned seed = 11, i, j;
	size_t n;
	int rc;

	for (i = 0; i < 5000; i++) {
		memcpy(v, "Basic ", 6);
		n = 6 + i % 100;
		for (j = 6; j < n; j++) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly base64 characters, so that some decode. */
			v[j] = (seed >> 16) % 8 == 0 ? (char)(seed >> 20) :
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[(seed >> 16) % 65];
		}
		rc = basic(v, n, &cred, &why);
		ck_assert(rc == CT_OK || rc == CT_ERROR);
		if (rc == CT_OK) {
			ck_assert(memchr(cred.user, ':', cred.user_len) == NULL);
			ck_assert_uint_eq(strlen(cred.pass), cred.pass_len);
		}
	}
}
END_TEST

Suite *
suite_auth(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("htpasswd");

	tcase_add_test(tc, htpasswd_kinds);
	tcase_add_loop_test(tc, htpasswd_refused, 0, (int)CT_NELEM(pw_bad));
	tcase_add_test(tc, htpasswd_every_error);
	tcase_add_test(tc, htpasswd_nul);
	tcase_add_test(tc, htpasswd_garbage);
	tcase_add_test(tc, block_round_trip);
	tcase_add_test(tc, block_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("basic");
	tcase_add_test(tc, base64_good);
	tcase_add_loop_test(tc, base64_bad, 0, (int)CT_NELEM(b64_bad));
	tcase_add_test(tc, base64_cap);
	tcase_add_test(tc, basic_good);
	tcase_add_test(tc, basic_other_scheme);
	tcase_add_loop_test(tc, basic_bad, 0, (int)CT_NELEM(basic_bad_cases));
	tcase_add_test(tc, basic_too_long);
	tcase_add_test(tc, basic_garbage);
	suite_add_tcase(s, tc);
	return s;
}

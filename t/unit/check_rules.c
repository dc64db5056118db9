/*
 * Request rules: the matcher over parsed requests (first match wins,
 * each field, the match limit), and their configuration: PCRE2 errors
 * at the expression's position, the checks between keys, the dump.
 * Geo blocks' configuration too: the files they read at load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ct.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"
#include "worker/geo.h"
#include "worker/rules.h"

#define RULES_HEAD \
	"upstreams:\n" \
	"  u:\n" \
	"    servers:\n" \
	"      - {address: 127.0.0.1:9}\n" \
	"listeners:\n" \
	"  - name: l\n" \
	"    listen: 127.0.0.1:8080\n" \
	"    mode: http\n" \
	"    routes:\n" \
	"      - match: {}\n" \
	"        upstream: u\n"

static const char rules_conf[] = RULES_HEAD
	"        rules:\n"
	"          - {name: admin, action: deny, match: {path: '^/admin(/|$)'}}\n"
	"          - {name: posts, action: deny, status: 405, match: {methods: [post, PUT]}}\n"
	"          - {name: token, action: allow, match: {header: {name: X-Token, value: '^ok-[0-9]+$'}}}\n"
	"          - {name: debug, action: deny, status: 404, match: {header: {name: X-Debug}}}\n"
	"          - {name: q, action: deny, status: 451, match: {query: {name: id, value: '^[0-9]{4,}$'}}}\n"
	"          - {name: qflag, action: deny, status: 418, match: {query: {name: raw}}}\n"
	"          - {name: both, action: deny, match: {methods: [GET], path: '^/x/'}}\n"
	"          - {name: slow, action: deny, match: {path: '^/s/(a+)+$'}}\n";

struct rules_fixture {
	struct conf *conf;
	const struct conf_rules *rules;
	struct rules_scratch *s;
	struct http_request req;
};

static void
rules_fixture_load(struct rules_fixture *f, const char *text)
{
	struct conf_errs e;

	memset(f, 0, sizeof(*f));
	f->conf = conf_errs_load(text, &e);
	ck_assert_msg(f->conf != NULL, "%zu errors, first: %s", e.n, e.first);
	f->rules = &f->conf->listeners[0].routes[0].rules;
	ck_assert_ptr_nonnull(f->s = rules_scratch_new());
}

static void
rules_fixture_free(struct rules_fixture *f)
{
	rules_scratch_free(f->s);
	conf_free(f->conf);
}

/*
 * The rule that decides head (a request head): its name, "-" when none
 * matched, "!name" when name's expression could not be decided.
 */
static const char *
rules_decide(struct rules_fixture *f, const char *head)
{
	struct http_limits lim;
	struct rules_request rq;
	const char *q;
	size_t at = 99;
	int rc;

	http_limits_default(&lim);
	http_request_clear(&f->req);
	ck_assert_int_eq(http_parse_request(head, strlen(head), &lim, &f->req), CT_OK);
	rq.method = f->req.method;
	rq.path = f->req.path;
	rq.target = f->req.target;
	if ((q = memchr(rq.path.p, '?', rq.path.len)) != NULL)
		rq.path.len = (size_t)(q - rq.path.p);
	rq.head = &f->req.h;
	rc = rules_match(f->rules->rules, f->rules->n, &rq, f->s, &at);
	if (rc == CT_DECLINED)
		return "-";
	ck_assert_uint_lt(at, f->rules->n);
	if (rc == CT_ERROR) {
		static char buf[80];

		snprintf(buf, sizeof(buf), "!%s", f->rules->rules[at].name);
		return buf;
	}
	ck_assert_int_eq(rc, CT_OK);
	return f->rules->rules[at].name;
}

static const struct {
	const char *head;
	const char *rule;
} rules_cases[] = {
	{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	{ "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n", "admin" },
	{ "GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n", "admin" },
	{ "GET /administrator HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	/* the query is not part of the path */
	{ "GET /admin?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", "admin" },
	{ "GET /b?p=/admin HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	/* first match wins: admin before posts */
	{ "POST /admin HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "admin" },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "posts" },
	{ "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "posts" },
	/* methods are case-sensitive: "post" is not POST */
	{ "post / HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	{ "GET / HTTP/1.1\r\nHost: a\r\nx-token: ok-12\r\n\r\n", "token" },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-Token: ok-\r\n\r\n", "-" },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-Token: no\r\nX-Token: ok-7\r\n\r\n", "token" },
	/* token allows before debug would deny */
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-Token: ok-1\r\nX-Debug: 1\r\n\r\n", "token" },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-Debug:\r\n\r\n", "debug" },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX-Debugger: 1\r\n\r\n", "-" },
	{ "GET /?id=12345 HTTP/1.1\r\nHost: a\r\n\r\n", "q" },
	{ "GET /?a=1&id=1234&b HTTP/1.1\r\nHost: a\r\n\r\n", "q" },
	{ "GET /?id=123 HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	{ "GET /?xid=12345 HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	/* values are not percent-decoded */
	{ "GET /?id=%31234 HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	{ "GET /?raw HTTP/1.1\r\nHost: a\r\n\r\n", "qflag" },
	{ "GET /?x=1&raw= HTTP/1.1\r\nHost: a\r\n\r\n", "qflag" },
	{ "GET /?rawx=1 HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	{ "GET /x/1 HTTP/1.1\r\nHost: a\r\n\r\n", "both" },
	{ "HEAD /x/1 HTTP/1.1\r\nHost: a\r\n\r\n", "-" },
	{ "GET /s/aaaa HTTP/1.1\r\nHost: a\r\n\r\n", "slow" },
	/* backtracking without end: stopped by the match limit */
	{ "GET /s/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", "!slow" },
};

START_TEST(test_rules_match)
{
	struct rules_fixture f;

	rules_fixture_load(&f, rules_conf);
	ck_assert_uint_eq(f.rules->n, 8);
	ck_assert_str_eq(rules_decide(&f, rules_cases[_i].head), rules_cases[_i].rule);
	rules_fixture_free(&f);
}
END_TEST

/* Statuses, indexes and reasons as the handler and the metrics use them. */
START_TEST(test_rules_conf)
{
	struct rules_fixture f;
	const struct conf_rule *r;

	rules_fixture_load(&f, rules_conf);
	r = f.rules->rules;
	ck_assert_int_eq(r[0].action, CONF_RULE_DENY);
	ck_assert_uint_eq(r[0].status, 403);
	ck_assert_uint_eq(r[1].status, 405);
	ck_assert_int_eq(r[2].action, CONF_RULE_ALLOW);
	ck_assert_uint_eq(r[7].index, 7);
	ck_assert_str_eq(r[1].deny_reason, "denied by rule posts");
	ck_assert_str_eq(r[1].methods[0], "POST");
	ck_assert(f.rules->set);
	ck_assert(!f.rules->default_deny);
	rules_fixture_free(&f);
}
END_TEST

/* Rules are numbered across the routes of a listener. */
START_TEST(test_rules_numbered)
{
	struct rules_fixture f;

	rules_fixture_load(&f, RULES_HEAD
	    "        rules: [{name: a, action: allow}]\n"
	    "      - match: {path_prefix: /b}\n"
	    "        upstream: u\n"
	    "        rules_default: deny\n"
	    "        rules: [{name: b, action: deny}, {name: c, action: deny}]\n");
	ck_assert_uint_eq(f.conf->listeners[0].routes[1].rules.rules[1].index, 2);
	ck_assert(f.conf->listeners[0].routes[1].rules.default_deny);
	rules_fixture_free(&f);
}
END_TEST

static const struct {
	const char *rules;
	const char *error;
} rules_bad[] = {
	{ "        rules:\n          - {name: a, action: deny, match: {path: '^/(a'}}\n",
	    "t.yaml:13:51: invalid regular expression \"^/(a\" for \"path\": PCRE2 error at "
	    "offset 4: missing closing parenthesis" },
	{ "        rules:\n          - {name: a, action: deny, match: {header: {name: X, value: '[z-a]'}}}\n",
	    "t.yaml:13:70: invalid regular expression \"[z-a]\" for \"value\": PCRE2 error at "
	    "offset 3: range out of order in character class" },
	{ "        rules:\n          - {name: a, action: deny, match: {query: {name: q, value: 'a**'}}}\n",
	    "t.yaml:13:69: invalid regular expression \"a**\" for \"value\": PCRE2 error at "
	    "offset 2: quantifier does not follow a repeatable item" },
	{ "        rules:\n          - {name: a, action: allow, status: 404}\n",
	    "t.yaml:13:38: \"status\" is only for rules with \"action: deny\"" },
	{ "        rules:\n          - {name: a, action: deny, status: 200}\n",
	    "t.yaml:13:45: \"status\" must be an integer between 400 and 599, not \"200\"" },
	{ "        rules:\n          - {name: a, action: block}\n",
	    "t.yaml:13:31: invalid value \"block\" for \"action\", expected one of: allow, deny" },
	{ "        rules:\n          - {name: a, action: deny}\n          - {name: a, action: allow}\n",
	    "t.yaml:14:20: duplicate rule name \"a\" in the listener (first at line 13, column 20)" },
	{ "        rules:\n          - {name: default, action: deny}\n",
	    "t.yaml:13:20: rule name \"default\" is taken: it names the requests that no rule "
	    "matched in the metrics" },
	{ "        rules:\n          - {action: deny}\n",
	    "t.yaml:13:13: missing required key \"name\" in rule" },
	{ "        rules:\n          - {name: a, action: deny, match: {header: {value: x}}}\n",
	    "t.yaml:13:53: missing required key \"name\" in header" },
	{ "        rules:\n          - {name: a, action: deny, match: {pth: x}}\n",
	    "t.yaml:13:45: unknown key \"pth\" in rule match, did you mean \"path\"?" },
	{ "        rules_default: maybe\n",
	    "t.yaml:12:24: invalid value \"maybe\" for \"rules_default\", expected one of: allow, deny" },
};

START_TEST(test_rules_bad)
{
	char text[2048];

	snprintf(text, sizeof(text), "%s%s", RULES_HEAD, rules_bad[_i].rules);
	conf_errs_expect(text, rules_bad[_i].error);
}
END_TEST

/* Rules check what goes upstream: a route that answers by itself has none. */
START_TEST(test_rules_local_route)
{
	conf_errs_expect(
	    "upstreams:\n  u:\n    servers:\n      - {address: 127.0.0.1:9}\n"
	    "listeners:\n  - name: l\n    listen: 127.0.0.1:8080\n    mode: http\n"
	    "    routes:\n      - match: {}\n        return: {status: 200}\n"
	    "        rules: [{name: a, action: deny}]\n",
	    "t.yaml:12:9: \"rules\" is only for routes with \"upstream\"");
}
END_TEST

/* More rules in a listener than its counters hold. */
START_TEST(test_rules_too_many)
{
	char text[8192];
	size_t n, i;
	struct conf_errs e;

	n = (size_t)snprintf(text, sizeof(text), "%s        rules:\n", RULES_HEAD);
	for (i = 0; i <= CONF_RULES_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "          - {name: r%zu, action: deny}\n", i);
	ck_assert_ptr_null(conf_errs_load(text, &e));
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.first, "t.yaml:77:13: more than 64 rules in one listener");
}
END_TEST

/*
 * An anchored expression's literal prefix: what it is taken to be, and
 * that matching with it decides every subject as PCRE2 alone does.
 */
static const struct {
	const char *re;
	size_t prefix_len;
	int whole;
} prefix_cases[] = {
	{ "^/never/", 7, 1 },
	{ "^/api/v?", 5, 0 },       /* "v" may be absent */
	{ "^/api/x*", 5, 0 },
	{ "^/api/x{0,2}", 5, 0 },
	{ "^/ab+", 3, 0 },          /* "b+" holds a "b" */
	{ "^/a.c", 2, 0 },
	{ "^/a\\.c", 2, 0 },
	{ "^/a(b|c)", 0, 0 },       /* a '|' anywhere: none */
	{ "^/a|/b", 0, 0 },         /* "/b" is not anchored */
	{ "^/a[bc]", 2, 0 },
	{ "^/a$", 2, 0 },           /* '$' may match before a final newline */
	{ "/never/", 0, 0 },
	{ "^", 0, 0 },
	{ "^(?i)/A", 0, 0 },
};

static const char *const prefix_subjects[] = {
	"/", "/never", "/never/", "/never/x", "/api/", "/api/v", "/api/xx1", "/ab", "/abb",
	"/a", "/abc", "/a.c", "/aXc", "/b", "/x/b", "/a\n", "/A", "/a/", "",
};

START_TEST(test_rules_prefix)
{
	char conf[512];
	struct rules_fixture f;
	const struct conf_regex *re;
	pcre2_match_data *md;
	pcre2_code *code;
	PCRE2_SIZE off;
	size_t i, at;
	int err;

	snprintf(conf, sizeof(conf), RULES_HEAD
	    "        rules:\n          - {name: p, action: deny, match: {path: '%s'}}\n",
	    prefix_cases[_i].re);
	rules_fixture_load(&f, conf);
	re = &f.rules->rules[0].path;
	ck_assert_uint_eq(re->prefix_len, prefix_cases[_i].prefix_len);
	ck_assert_int_eq(re->whole, prefix_cases[_i].whole);
	ck_assert_ptr_nonnull(code = pcre2_compile((PCRE2_SPTR)prefix_cases[_i].re,
	    PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL));
	ck_assert_ptr_nonnull(md = pcre2_match_data_create_from_pattern(code, NULL));
	for (i = 0; i < CT_NELEM(prefix_subjects); i++) {
		const char *subj = prefix_subjects[i];
		struct rules_request rq = {
			.method = { "GET", 3 },
			.path = { subj, strlen(subj) },
			.target = { subj, strlen(subj) },
		};
		struct http_head head = { 0 };
		int want = pcre2_match(code, (PCRE2_SPTR)subj, strlen(subj), 0, 0, md, NULL) >= 0;

		rq.head = &head;
		ck_assert_msg((rules_match(f.rules->rules, 1, &rq, f.s, &at) == CT_OK) == want,
		    "'%s' on \"%s\": PCRE2 says %d", prefix_cases[_i].re, subj, want);
	}
	pcre2_match_data_free(md);
	pcre2_code_free(code);
	rules_fixture_free(&f);
}
END_TEST

START_TEST(test_rules_round_trip)
{
	struct conf_errs e;
	struct conf *a = conf_errs_load(rules_conf, &e), *b;
	const struct conf_rules *x, *y;
	size_t i;

	ck_assert_msg(a != NULL, "%s", e.first);
	b = conf_errs_round_trip(a);
	x = &a->listeners[0].routes[0].rules;
	y = &b->listeners[0].routes[0].rules;
	ck_assert_uint_eq(x->n, y->n);
	for (i = 0; i < x->n; i++) {
		ck_assert_str_eq(x->rules[i].name, y->rules[i].name);
		ck_assert_int_eq(x->rules[i].action, y->rules[i].action);
		ck_assert_uint_eq(x->rules[i].status, y->rules[i].status);
		ck_assert_pstr_eq(x->rules[i].path.src, y->rules[i].path.src);
		ck_assert_pstr_eq(x->rules[i].header, y->rules[i].header);
		ck_assert_pstr_eq(x->rules[i].header_value.src, y->rules[i].header_value.src);
		ck_assert_pstr_eq(x->rules[i].query, y->rules[i].query);
		ck_assert_pstr_eq(x->rules[i].query_value.src, y->rules[i].query_value.src);
		ck_assert_uint_eq(x->rules[i].nmethods, y->rules[i].nmethods);
	}
	conf_free(a);
	conf_free(b);
}
END_TEST

/* ------------------------------------------------------------ geo */

static char geo_dir[] = "/tmp/cuttle-check-geo-XXXXXX";

static void
geo_setup(void)
{
	char path[128];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(geo_dir));
	snprintf(path, sizeof(path), "%s/good.txt", geo_dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("# ours\n10.0.0.0/8\n\n192.168.0.0/16 # lab\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/bad.txt", geo_dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("10.0.0.0/8\n# next is wrong\n10.1.2.3/8\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/garbage.mmdb", geo_dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("this is not a MaxMind DB\n", f);
	fclose(f);
}

static void
geo_teardown(void)
{
	char path[128];
	static const char *const names[] = { "good.txt", "bad.txt", "garbage.mmdb" };
	size_t i;

	for (i = 0; i < CT_NELEM(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", geo_dir, names[i]);
		unlink(path);
	}
	rmdir(geo_dir);
}

#define GEO_HEAD \
	"upstreams:\n" \
	"  u:\n" \
	"    servers:\n" \
	"      - {address: 127.0.0.1:9}\n" \
	"listeners:\n" \
	"  - name: l\n" \
	"    listen: 127.0.0.1:8080\n" \
	"    mode: tcp\n" \
	"    upstream: u\n"

static void
geo_expect(const char *geo, const char *want)
{
	char text[2048], w[512];

	snprintf(text, sizeof(text), GEO_HEAD "    geo: %s\n", geo);
	snprintf(w, sizeof(w), want, geo_dir);
	conf_errs_expect(text, w);
}

START_TEST(test_geo_files_bad)
{
	char geo[512];

	snprintf(geo, sizeof(geo), "{cidr_allow: [%s/good.txt, %s/bad.txt]}", geo_dir, geo_dir);
	geo_expect(geo, "t.yaml:10:63: %s/bad.txt:3: invalid CIDR \"10.1.2.3/8\": host bits set");
	snprintf(geo, sizeof(geo), "{cidr_deny: [%s/none.txt]}", geo_dir);
	geo_expect(geo, "t.yaml:10:23: cannot read CIDR file \"%s/none.txt\": No such file or "
	    "directory");
	snprintf(geo, sizeof(geo), "{database: %s/none.mmdb}", geo_dir);
	geo_expect(geo, "t.yaml:10:21: cannot read database \"%s/none.mmdb\": No such file or "
	    "directory");
	snprintf(geo, sizeof(geo), "{database: %s/garbage.mmdb}", geo_dir);
	geo_expect(geo, "t.yaml:10:21: cannot open database \"%s/garbage.mmdb\": The MaxMind DB "
	    "file contains invalid metadata");
}
END_TEST

START_TEST(test_geo_keys_bad)
{
	char geo[512];

	snprintf(geo, sizeof(geo), "{cidr_allow: [%s/good.txt], allow_countries: [DE]}", geo_dir);
	geo_expect(geo, "t.yaml:10:64: \"allow_countries\" needs a \"database\" to look "
	    "countries up in");
	geo_expect("{cidr_deny: []}", "t.yaml:10:22: \"cidr_deny\" takes 1 to 16 files");
}
END_TEST

/* The networks of the files, and their match against clients. */
START_TEST(test_geo_files_match)
{
	char text[1024];
	struct conf_errs e;
	struct conf *c;
	const struct conf_geo *g;
	struct addr a;
	const char *why;

	snprintf(text, sizeof(text), GEO_HEAD "    geo: {cidr_deny: [%s/good.txt]}\n", geo_dir);
	c = conf_errs_load(text, &e);
	ck_assert_msg(c != NULL, "%s", e.first);
	g = c->listeners[0].geo;
	ck_assert_uint_eq(g->ndeny, 1);
	ck_assert_uint_eq(g->deny[0].nnets, 2);
	ck_assert_int_eq(addr_parse("192.168.4.5:1", 0, &a, &why), CT_OK);
	ck_assert(geo_files_match(g->deny, g->ndeny, (struct sockaddr *)&a.ss));
	ck_assert_int_eq(addr_parse("11.0.0.1:1", 0, &a, &why), CT_OK);
	ck_assert(!geo_files_match(g->deny, g->ndeny, (struct sockaddr *)&a.ss));
	ck_assert(!geo_files_match(g->allow, g->nallow, (struct sockaddr *)&a.ss));
	conf_free(conf_errs_round_trip(c));
	conf_free(c);
}
END_TEST

Suite *
suite_rules(void)
{
	Suite *s = suite_create("rules");
	TCase *tc = tcase_create("rules");
	TCase *tg = tcase_create("geo");

	tcase_add_loop_test(tc, test_rules_match, 0, CT_NELEM(rules_cases));
	tcase_add_test(tc, test_rules_conf);
	tcase_add_test(tc, test_rules_numbered);
	tcase_add_loop_test(tc, test_rules_bad, 0, CT_NELEM(rules_bad));
	tcase_add_test(tc, test_rules_local_route);
	tcase_add_test(tc, test_rules_too_many);
	tcase_add_test(tc, test_rules_round_trip);
	tcase_add_loop_test(tc, test_rules_prefix, 0, CT_NELEM(prefix_cases));
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(tg, geo_setup, geo_teardown);
	tcase_add_test(tg, test_geo_files_bad);
	tcase_add_test(tg, test_geo_keys_bad);
	tcase_add_test(tg, test_geo_files_match);
	suite_add_tcase(s, tg);
	return s;
}

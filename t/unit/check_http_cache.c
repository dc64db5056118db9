/*
 * lib/http_cache.c: each rule of RFC 9111 (and the parts of RFC 9110,
 * RFC 5861 and RFC 9211 a cache needs) at its boundaries, a table line
 * a case.  Field values are copied to end right before an unreadable
 * page, so that a scan that reads one byte too far crashes the test;
 * whole heads are parsed by lib/http_parse, as the worker will.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_cache.h"
#include "lib/http_parse.h"
#include "t/unit/guard.h"
#include "t/unit/suites.h"

#define D_1994 INT64_C(784111777)       /* Sun, 06 Nov 1994 08:49:37 GMT */
#define NOW_2024 INT64_C(1704067200)    /* Mon, 01 Jan 2024 00:00:00 GMT */

/* A slice of s copied before the guard page; one at a time. */
static struct http_slice
gslice(const char *s)
{
	struct http_slice v;

	v.len = strlen(s);
	v.p = guard_copy(s, v.len);
	return v;
}

static struct http_slice
slice(const char *s)
{
	struct http_slice v = { s, strlen(s) };

	return v;
}

/*
 * Heads parsed from text: fields are "Name: value" lines joined by
 * "\r\n" (none: "").  The text lives in a ring of buffers so that a
 * test can hold a few heads at once.
 */
static char *
head_text(const char *first, const char *fields, size_t *len)
{
	static char ring[6][8192];
	static unsigned next;
	char *b = ring[next++ % 6];
	int n;

	n = snprintf(b, sizeof(ring[0]), "%s\r\n%s%s\r\n", first, fields,
	    fields[0] != '\0' ? "\r\n" : "");
	ck_assert(n > 0 && (size_t)n < sizeof(ring[0]));
	*len = (size_t)n;
	return b;
}

static void
resp_make(struct http_response *r, int code, const char *fields)
{
	char first[32];
	size_t len;
	const char *t;

	snprintf(first, sizeof(first), "HTTP/1.1 %d X", code);
	t = head_text(first, fields, &len);
	ck_assert_msg(http_parse_response(t, len, NULL, 0, r) == CT_OK, "%s", t);
}

static void
req_make(struct http_request *r, const char *method, const char *target, const char *fields)
{
	char first[512];
	size_t len;
	const char *t;

	snprintf(first, sizeof(first), "%s %s HTTP/1.1\r\nHost: example.com", method, target);
	t = head_text(first, fields, &len);
	ck_assert_msg(http_parse_request(t, len, NULL, r) == CT_OK, "%s", t);
}

static struct http_request req;
static struct http_response resp, resp2;

/* ------------------------------------------------------------------ */
/* Cache-Control                                                       */
/* ------------------------------------------------------------------ */

struct cc_case {
	const char *in;
	uint32_t flags;
	uint32_t invalid;
	uint32_t max_age, s_maxage, max_stale, min_fresh, swr, sie;
	const char *no_cache_fields;
	const char *private_fields;
};

#define DMAX HTTP_CACHE_DELTA_MAX

static const struct cc_case cc_cases[] = {
	{ .in = "max-age=60", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 60 },
	{ .in = "MAX-AGE=60", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 60 },
	{ .in = "max-age=\"60\"", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 60 },
	{ .in = "max-age=0", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 0 },
	{ .in = "max-age=007", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 7 },
	{ .in = "max-age = 5", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 5 },
	{ .in = "max-age=2147483647", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 2147483647u },
	{ .in = "max-age=2147483648", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = DMAX },
	{ .in = "max-age=2147483649", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = DMAX },
	{ .in = "max-age=99999999999999999999999", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = DMAX },
	/* invalid max-age: present, 0, so the response is stale */
	{ .in = "max-age=\"\"", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=abc", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=-1", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=+1", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=1.5", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=5 6", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=5;x", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=\"5", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=5, max-age=5", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 5 },
	{ .in = "max-age=5, max-age=\"5\"", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 5 },
	{ .in = "max-age=5, max-age=6", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "max-age=5, max-age=x, max-age=5", .flags = HTTP_CC_MAX_AGE, .invalid = HTTP_CC_MAX_AGE, .max_age = 0 },
	{ .in = "s-maxage=10", .flags = HTTP_CC_S_MAXAGE, .invalid = 0, .s_maxage = 10 },
	{ .in = "s-maxage=x, max-age=9", .flags = HTTP_CC_S_MAXAGE | HTTP_CC_MAX_AGE, .invalid = HTTP_CC_S_MAXAGE,
	    .max_age = 9 },
	{ .in = "no-store", .flags = HTTP_CC_NO_STORE, .invalid = 0},
	{ .in = "No-Store", .flags = HTTP_CC_NO_STORE, .invalid = 0},
	{ .in = "no-store=1", .flags = HTTP_CC_NO_STORE, .invalid = HTTP_CC_NO_STORE},
	{ .in = "no-cache", .flags = HTTP_CC_NO_CACHE, .invalid = 0},
	{ .in = "no-cache=\"Set-Cookie, X-A\"", .flags = HTTP_CC_NO_CACHE, .invalid = 0, .no_cache_fields = "Set-Cookie, X-A" },
	{ .in = "no-cache=Set-Cookie", .flags = HTTP_CC_NO_CACHE, .invalid = 0, .no_cache_fields = "Set-Cookie" },
	{ .in = "no-cache=\" \"", .flags = HTTP_CC_NO_CACHE, .invalid = 0},
	{ .in = "no-cache, no-cache=\"a\"", .flags = HTTP_CC_NO_CACHE, .invalid = 0},
	{ .in = "no-cache=\"a\", no-cache", .flags = HTTP_CC_NO_CACHE, .invalid = 0},
	{ .in = "no-cache=\"a\", no-cache=\"b\"", .flags = HTTP_CC_NO_CACHE, .invalid = 0},
	{ .in = "no-cache=a b", .flags = HTTP_CC_NO_CACHE, .invalid = HTTP_CC_NO_CACHE},
	{ .in = "private", .flags = HTTP_CC_PRIVATE, .invalid = 0},
	{ .in = "private=\"X-User\"", .flags = HTTP_CC_PRIVATE, .invalid = 0, .private_fields = "X-User" },
	{ .in = "public", .flags = HTTP_CC_PUBLIC, .invalid = 0},
	{ .in = "public=1", .flags = 0, .invalid = HTTP_CC_PUBLIC},
	{ .in = "public, public=1", .flags = 0, .invalid = HTTP_CC_PUBLIC},
	{ .in = "public=1, public", .flags = 0, .invalid = HTTP_CC_PUBLIC},
	{ .in = "must-revalidate, proxy-revalidate, must-understand, no-transform, immutable", .flags = HTTP_CC_MUST_REVALIDATE | HTTP_CC_PROXY_REVALIDATE | HTTP_CC_MUST_UNDERSTAND |
	    HTTP_CC_NO_TRANSFORM | HTTP_CC_IMMUTABLE, .invalid = 0},
	{ .in = "immutable=\"yes\"", .flags = 0, .invalid = HTTP_CC_IMMUTABLE},
	{ .in = "stale-while-revalidate=30, stale-if-error=600", .flags = HTTP_CC_SWR | HTTP_CC_SIE, .invalid = 0,
	    .swr = 30, .sie = 600 },
	{ .in = "stale-while-revalidate=x, stale-if-error", .flags = 0, .invalid = HTTP_CC_SWR | HTTP_CC_SIE},
	{ .in = "max-stale", .flags = HTTP_CC_MAX_STALE, .invalid = 0, .max_stale = DMAX },
	{ .in = "max-stale=10", .flags = HTTP_CC_MAX_STALE, .invalid = 0, .max_stale = 10 },
	{ .in = "max-stale=x", .flags = 0, .invalid = HTTP_CC_MAX_STALE},
	{ .in = "max-stale, max-stale=10", .flags = 0, .invalid = HTTP_CC_MAX_STALE},
	{ .in = "min-fresh=5", .flags = HTTP_CC_MIN_FRESH, .invalid = 0, .min_fresh = 5 },
	{ .in = "min-fresh=x", .flags = HTTP_CC_MIN_FRESH, .invalid = HTTP_CC_MIN_FRESH, .min_fresh = DMAX },
	{ .in = "only-if-cached", .flags = HTTP_CC_ONLY_IF_CACHED, .invalid = 0},
	/* lists: unknown directives, empty elements, quoted commas, OWS */
	{ .in = "foo, bar=baz, max-age=3", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 3 },
	{ .in = ", ,max-age=3,,", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 3 },
	{ .in = "max-age=3,\tpublic ", .flags = HTTP_CC_MAX_AGE | HTTP_CC_PUBLIC, .invalid = 0, .max_age = 3 },
	{ .in = "foo=\"a,max-age=9\", max-age=3", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 3 },
	{ .in = "foo=\"a\\\",max-age=9\", max-age=4", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 4 },
	{ .in = "foo=\"unterminated, max-age=3", .flags = 0, .invalid = 0},
	{ .in = "=5, max-age=3", .flags = HTTP_CC_MAX_AGE, .invalid = 0, .max_age = 3 },
	{ .in = "maxage=3, max_age=4, max-age3", .flags = 0, .invalid = 0},
	{ .in = "", .flags = 0, .invalid = 0},
};

static void
ck_fields(struct http_slice got, const char *want)
{
	if (want == NULL)
		ck_assert_uint_eq(got.len, 0);
	else
		ck_assert_msg(got.len == strlen(want) && memcmp(got.p, want, got.len) == 0,
		    "list \"%.*s\", want \"%s\"", (int)got.len, got.p, want);
}

START_TEST(test_cc_values)
{
	const struct cc_case *c = &cc_cases[_i];
	struct http_cache_control cc;

	memset(&cc, 0, sizeof(cc));
	http_cache_control_add(&cc, gslice(c->in));
	ck_assert_msg(cc.flags == c->flags, "%s: flags %#x, want %#x", c->in, cc.flags, c->flags);
	ck_assert_msg(cc.invalid == c->invalid, "%s: invalid %#x, want %#x", c->in, cc.invalid,
	    c->invalid);
	ck_assert_uint_eq(cc.max_age, c->max_age);
	ck_assert_uint_eq(cc.s_maxage, c->s_maxage);
	ck_assert_uint_eq(cc.max_stale, c->max_stale);
	ck_assert_uint_eq(cc.min_fresh, c->min_fresh);
	ck_assert_uint_eq(cc.swr, c->swr);
	ck_assert_uint_eq(cc.sie, c->sie);
	ck_fields(cc.no_cache_fields, c->no_cache_fields);
	ck_fields(cc.private_fields, c->private_fields);
}
END_TEST

/* Several fields are one list: a repeated directive spans fields. */
START_TEST(test_cc_fields_combine)
{
	struct http_cache_control cc;

	resp_make(&resp, 200, "Cache-Control: public\r\ncache-control: max-age=6");
	http_cache_control_parse(&resp.h, 0, &cc);
	ck_assert_uint_eq(cc.flags, HTTP_CC_PUBLIC | HTTP_CC_MAX_AGE);
	ck_assert_uint_eq(cc.max_age, 6);

	resp_make(&resp, 200, "Cache-Control: max-age=5\r\nCache-Control: max-age=6");
	http_cache_control_parse(&resp.h, 0, &cc);
	ck_assert_uint_eq(cc.invalid, HTTP_CC_MAX_AGE);
	ck_assert_uint_eq(cc.max_age, 0);

	resp_make(&resp, 200, "X-A: max-age=5");
	http_cache_control_parse(&resp.h, 0, &cc);
	ck_assert_uint_eq(cc.flags, 0);
}
END_TEST

/* RFC 9111 5.4: Pragma: no-cache only on a request without Cache-Control. */
START_TEST(test_cc_pragma)
{
	struct http_cache_control cc;

	req_make(&req, "GET", "/", "Pragma: no-cache");
	http_cache_control_parse(&req.h, 1, &cc);
	ck_assert_uint_eq(cc.flags, HTTP_CC_NO_CACHE);

	req_make(&req, "GET", "/", "Pragma: x-foo, No-Cache");
	http_cache_control_parse(&req.h, 1, &cc);
	ck_assert_uint_eq(cc.flags, HTTP_CC_NO_CACHE);

	req_make(&req, "GET", "/", "Pragma: no-cache\r\nCache-Control: max-age=5");
	http_cache_control_parse(&req.h, 1, &cc);
	ck_assert_uint_eq(cc.flags, HTTP_CC_MAX_AGE);

	req_make(&req, "GET", "/", "Pragma: no-cachex");
	http_cache_control_parse(&req.h, 1, &cc);
	ck_assert_uint_eq(cc.flags, 0);

	resp_make(&resp, 200, "Pragma: no-cache");
	http_cache_control_parse(&resp.h, 0, &cc);
	ck_assert_uint_eq(cc.flags, 0);
}
END_TEST

START_TEST(test_field_listed)
{
	ck_assert(http_cache_field_listed(slice("Set-Cookie, X-A"), slice("set-cookie")));
	ck_assert(http_cache_field_listed(slice("Set-Cookie, X-A"), slice("x-a")));
	ck_assert(http_cache_field_listed(slice(" x-a ,"), slice("X-A")));
	ck_assert(!http_cache_field_listed(slice("Set-Cookie, X-A"), slice("x")));
	ck_assert(!http_cache_field_listed(slice("X-AB"), slice("X-A")));
	ck_assert(!http_cache_field_listed(slice(""), slice("")));
}
END_TEST

struct delta_case {
	const char *in;
	int rc;
	uint32_t v;
};

static const struct delta_case delta_cases[] = {
	{ "0", CT_OK, 0 },
	{ "00", CT_OK, 0 },
	{ "86400", CT_OK, 86400 },
	{ "2147483647", CT_OK, 2147483647u },
	{ "2147483648", CT_OK, DMAX },
	{ "2147483649", CT_OK, DMAX },
	{ "18446744073709551616", CT_OK, DMAX },
	{ "", CT_ERROR, 0 },
	{ "+1", CT_ERROR, 0 },
	{ "-1", CT_ERROR, 0 },
	{ " 1", CT_ERROR, 0 },
	{ "1 ", CT_ERROR, 0 },
	{ "1a", CT_ERROR, 0 },
	{ "0x1", CT_ERROR, 0 },
};

START_TEST(test_delta)
{
	const struct delta_case *c = &delta_cases[_i];
	uint32_t v = 12345;

	ck_assert_msg(http_cache_delta_parse(gslice(c->in), &v) == c->rc, "%s", c->in);
	if (c->rc == CT_OK)
		ck_assert_uint_eq(v, c->v);
	else
		ck_assert_uint_eq(v, 12345);
}
END_TEST

/* ------------------------------------------------------------------ */
/* HTTP-date                                                           */
/* ------------------------------------------------------------------ */

struct date_case {
	const char *in;
	int64_t now;
	int rc;
	int64_t t;
};

static const struct date_case date_cases[] = {
	{ "Sun, 06 Nov 1994 08:49:37 GMT", NOW_2024, CT_OK, D_1994 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", NOW_2024, CT_OK, D_1994 },
	{ "Sun Nov  6 08:49:37 1994", NOW_2024, CT_OK, D_1994 },
	{ "Sun Nov 06 08:49:37 1994", NOW_2024, CT_OK, D_1994 },
	{ "Thu, 01 Jan 1970 00:00:00 GMT", NOW_2024, CT_OK, 0 },
	{ "Sat, 29 Feb 2020 00:00:00 GMT", NOW_2024, CT_OK, INT64_C(1582934400) },
	{ "Tue, 29 Feb 2000 12:00:00 GMT", NOW_2024, CT_OK, INT64_C(951825600) },
	{ "Thu, 01 Mar 1900 00:00:00 GMT", NOW_2024, CT_OK, INT64_C(-2203891200) },
	{ "Fri, 31 Dec 9999 23:59:59 GMT", NOW_2024, CT_OK, INT64_C(253402300799) },
	/* a leap second is the next second: nothing here needs it apart */
	{ "Sat, 31 Dec 2016 23:59:60 GMT", NOW_2024, CT_OK, INT64_C(1483228800) },
	/* the day-name is not checked against the date */
	{ "Mon, 06 Nov 1994 08:49:37 GMT", NOW_2024, CT_OK, D_1994 },
	/* rfc850 years: not more than 50 years after now, else a century back */
	{ "Monday, 01-Jan-74 00:00:00 GMT", NOW_2024, CT_OK, INT64_C(3281990400) },
	{ "Tuesday, 01-Jan-74 00:00:01 GMT", NOW_2024, CT_OK, INT64_C(126230401) },
	{ "Friday, 31-Dec-99 23:59:59 GMT", NOW_2024, CT_OK, INT64_C(946684799) },
	{ "Saturday, 01-Jan-00 00:00:00 GMT", NOW_2024, CT_OK, INT64_C(946684800) },
	{ "Tuesday, 29-Feb-00 12:00:00 GMT", NOW_2024, CT_OK, INT64_C(951825600) },
	{ "Wednesday, 21-Oct-15 07:28:00 GMT", NOW_2024, CT_OK, INT64_C(1445412480) },
	/* Expires: 0 and other garbage: already expired (RFC 9111 5.3) */
	{ "0", NOW_2024, CT_ERROR, 0 },
	{ "", NOW_2024, CT_ERROR, 0 },
	{ "-1", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 08:49:37 UTC", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 08:49:37 gmt", NOW_2024, CT_ERROR, 0 },
	{ "sun, 06 Nov 1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 nov 1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 6 Nov 1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun,  06 Nov 1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 94 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT ", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 08:49:37", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 8:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 31 Nov 1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 00 Nov 1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Fri, 29 Feb 2019 00:00:00 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Thu, 29 Feb 1900 00:00:00 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 24:00:00 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 23:60:00 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 23:59:61 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Nov 1994 08:49:37 GMTX", NOW_2024, CT_ERROR, 0 },
	{ "Sunday, 06-Nov-1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06-Nov-94 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sunday, 06 Nov 94 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun Nov 6 08:49:37 1994", NOW_2024, CT_ERROR, 0 },
	{ "Sun Nov  6 08:49:37 94", NOW_2024, CT_ERROR, 0 },
	{ "Sun Nov  6 08:49:37 1994 GMT", NOW_2024, CT_ERROR, 0 },
	{ "Sun", NOW_2024, CT_ERROR, 0 },
	{ "Sun,", NOW_2024, CT_ERROR, 0 },
	{ "Sun, 06 Xyz 1994 08:49:37 GMT", NOW_2024, CT_ERROR, 0 },
};

START_TEST(test_date)
{
	const struct date_case *c = &date_cases[_i];
	int64_t t = -77;
	int rc = http_cache_date_parse(gslice(c->in), c->now, &t);

	ck_assert_msg(rc == c->rc, "\"%s\": rc %d, want %d", c->in, rc, c->rc);
	ck_assert_msg(t == (c->rc == CT_OK ? c->t : -77), "\"%s\": %lld, want %lld", c->in,
	    (long long)t, (long long)c->t);
}
END_TEST

/* The 50-year window moves with now. */
START_TEST(test_date_rfc850_now)
{
	int64_t t;

	/* now in 1960: "01-Jan-74" is 14 years ahead, so 1974 */
	ck_assert_int_eq(http_cache_date_parse(slice("Tuesday, 01-Jan-74 00:00:01 GMT"),
	    INT64_C(-315619200), &t), CT_OK);
	ck_assert_int_eq(t, INT64_C(126230401));
	/* any now is clamped, so extreme clocks do not overflow */
	ck_assert_int_eq(http_cache_date_parse(slice("Sunday, 06-Nov-94 08:49:37 GMT"),
	    INT64_MAX, &t), CT_OK);
	ck_assert_int_eq(http_cache_date_parse(slice("Sunday, 06-Nov-94 08:49:37 GMT"),
	    INT64_MIN, &t), CT_OK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Storing                                                             */
/* ------------------------------------------------------------------ */

struct store_case {
	const char *name;
	const char *method;
	const char *req_fields;
	int status;
	const char *resp_fields;
	unsigned methods;
	unsigned allow_cookie;
	uint32_t fallback;
	enum http_cache_store want;
};

/* A validator and a heuristic lifetime: what keeps a bare response servable. */
#define LMOD "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT"

static const struct store_case store_cases[] = {
	{ "200 heuristic", "GET", "", 200, LMOD, 0, 0, 0, HTTP_CACHE_STORE_OK },
	/* GET only by default: a HEAD is answered from the stored GET */
	{ "HEAD", "HEAD", "", 200, LMOD, 0, 0, 0, HTTP_CACHE_STORE_METHOD },
	{ "HEAD configured", "HEAD", "", 200, LMOD, HTTP_CACHE_METHOD_HEAD, 0, 0,
	    HTTP_CACHE_STORE_OK },
	{ "HEAD not configured", "HEAD", "", 200, LMOD, HTTP_CACHE_METHOD_GET, 0, 0,
	    HTTP_CACHE_STORE_METHOD },
	{ "GET not configured", "GET", "", 200, LMOD, HTTP_CACHE_METHOD_HEAD, 0, 0,
	    HTTP_CACHE_STORE_METHOD },
	{ "POST", "POST", "Content-Length: 0", 200, "Cache-Control: max-age=60", 0, 0, 0,
	    HTTP_CACHE_STORE_METHOD },
	{ "lower-case get", "get", "", 200, LMOD, 0, 0, 0, HTTP_CACHE_STORE_METHOD },
	{ "103", "GET", "", 103, "", 0, 0, 0, HTTP_CACHE_STORE_STATUS },
	{ "304", "GET", "", 304, "", 0, 0, 0, HTTP_CACHE_STORE_STATUS },
	{ "599 explicit", "GET", "", 599, "Cache-Control: max-age=5", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "599 must-understand", "GET", "", 599, "Cache-Control: max-age=5, must-understand", 0,
	    0, 0, HTTP_CACHE_STORE_STATUS },
	{ "200 must-understand no-store", "GET", "", 200,
	    "Cache-Control: must-understand, no-store, max-age=5", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "206", "GET", "Range: bytes=0-1", 206, "Content-Range: bytes 0-1/10", 0, 0, 0,
	    HTTP_CACHE_STORE_PARTIAL },
	{ "206 bare", "GET", "", 206, "", 0, 0, 0, HTTP_CACHE_STORE_PARTIAL },
	{ "200 Content-Range", "GET", "", 200, "Content-Range: bytes 0-1/10", 0, 0, 0,
	    HTTP_CACHE_STORE_PARTIAL },
	{ "200 to a Range", "GET", "Range: bytes=0-1", 200, LMOD, 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "request no-store", "GET", "Cache-Control: no-store", 200, LMOD, 0, 0, 0,
	    HTTP_CACHE_STORE_NO_STORE_REQ },
	{ "no-store", "GET", "", 200, "Cache-Control: max-age=5, no-store", 0, 0, 0,
	    HTTP_CACHE_STORE_NO_STORE },
	{ "private", "GET", "", 200, "Cache-Control: private, max-age=5", 0, 0, 0,
	    HTTP_CACHE_STORE_PRIVATE },
	{ "private with fields", "GET", "", 200, "Cache-Control: private=\"X-User\", max-age=5",
	    0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "Authorization", "GET", "Authorization: Basic YTpi", 200, "Cache-Control: max-age=5",
	    0, 0, 0, HTTP_CACHE_STORE_AUTHORIZATION },
	{ "Authorization public", "GET", "Authorization: Basic YTpi", 200,
	    "Cache-Control: public, max-age=5", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "Authorization s-maxage", "GET", "Authorization: Basic YTpi", 200,
	    "Cache-Control: s-maxage=5", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "Authorization must-revalidate", "GET", "Authorization: Basic YTpi", 200,
	    "Cache-Control: must-revalidate, max-age=5", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "Authorization proxy-revalidate", "GET", "Authorization: Basic YTpi", 200,
	    "Cache-Control: proxy-revalidate", 0, 0, 0, HTTP_CACHE_STORE_AUTHORIZATION },
	{ "Set-Cookie", "GET", "", 200, "Set-Cookie: a=b\r\nCache-Control: max-age=5", 0, 0, 0,
	    HTTP_CACHE_STORE_SET_COOKIE },
	{ "Set-Cookie allowed", "GET", "", 200, "Set-Cookie: a=b\r\nCache-Control: max-age=5", 0,
	    1, 0, HTTP_CACHE_STORE_OK },
	{ "Vary star", "GET", "", 200, "Vary: *", 0, 0, 0, HTTP_CACHE_STORE_VARY_STAR },
	{ "Vary list star", "GET", "", 200, "Vary: Accept-Encoding\r\nVary: Accept, *", 0, 0, 0,
	    HTTP_CACHE_STORE_VARY_STAR },
	{ "Vary", "GET", "", 200, "Vary: Accept-Encoding\r\nETag: \"v\"", 0, 0, 0,
	    HTTP_CACHE_STORE_OK },
	{ "302 bare", "GET", "", 302, "", 0, 0, 0, HTTP_CACHE_STORE_NO_FRESHNESS },
	{ "302 max-age", "GET", "", 302, "Cache-Control: max-age=60", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "302 invalid max-age", "GET", "", 302, "Cache-Control: max-age=x\r\nETag: \"v\"", 0, 0,
	    0, HTTP_CACHE_STORE_OK },
	{ "302 s-maxage", "GET", "", 302, "Cache-Control: s-maxage=60", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "302 Expires", "GET", "", 302, "Expires: 0\r\nETag: \"v\"", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "302 public", "GET", "", 302, "Cache-Control: public\r\nETag: \"v\"", 0, 0, 0,
	    HTTP_CACHE_STORE_OK },
	{ "302 fallback", "GET", "", 302, "", 0, 0, 60, HTTP_CACHE_STORE_OK },
	{ "307", "GET", "", 307, "", 0, 0, 0, HTTP_CACHE_STORE_NO_FRESHNESS },
	{ "500", "GET", "", 500, "", 0, 0, 0, HTTP_CACHE_STORE_NO_FRESHNESS },
	{ "203", "GET", "", 203, LMOD, 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "204", "GET", "", 204, LMOD, 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "404", "GET", "", 404, LMOD, 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "410", "GET", "", 410, LMOD, 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "501", "GET", "", 501, LMOD, 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "no-cache with an ETag", "GET", "", 200, "Cache-Control: no-cache\r\nETag: \"v\"", 0, 0,
	    0, HTTP_CACHE_STORE_OK },
	{ "no-cache with Last-Modified", "GET", "", 200, "Cache-Control: no-cache\r\n" LMOD, 0, 0,
	    0, HTTP_CACHE_STORE_OK },
	/* never servable: every request would store it again and evict a useful one */
	{ "no-cache, no validator", "GET", "", 200, "Cache-Control: no-cache", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "no-cache max-age, no validator", "GET", "", 200, "Cache-Control: no-cache, max-age=60",
	    0, 0, 0, HTTP_CACHE_STORE_UNCACHEABLE },
	{ "no-cache swr, no validator", "GET", "", 200,
	    "Cache-Control: no-cache, stale-while-revalidate=60", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "no-cache with a fallback, no validator", "GET", "", 200, "Cache-Control: no-cache", 0,
	    0, 60, HTTP_CACHE_STORE_UNCACHEABLE },
	{ "max-age=0, no validator", "GET", "", 200, "Cache-Control: max-age=0", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "max-age=0 with a fallback", "GET", "", 200, "Cache-Control: max-age=0", 0, 0, 60,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "s-maxage=0, no validator", "GET", "", 200, "Cache-Control: s-maxage=0", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "invalid max-age, no validator", "GET", "", 302, "Cache-Control: max-age=x", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "Expires 0, no validator", "GET", "", 302, "Expires: 0", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "Expires = Date, no validator", "GET", "", 200,
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nExpires: Sun, 06 Nov 1994 08:49:37 GMT", 0, 0,
	    0, HTTP_CACHE_STORE_UNCACHEABLE },
	{ "Expires after Date", "GET", "", 200,
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nExpires: Sun, 06 Nov 1994 08:49:38 GMT", 0, 0,
	    0, HTTP_CACHE_STORE_OK },
	{ "Expires without a Date: the time received", "GET", "", 200,
	    "Expires: Sun, 06 Nov 1994 08:49:38 GMT", 0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "Expires passed without a Date", "GET", "", 200,
	    "Expires: Sun, 06 Nov 1994 08:49:37 GMT", 0, 0, 0, HTTP_CACHE_STORE_UNCACHEABLE },
	{ "200 bare: no heuristic without Last-Modified", "GET", "", 200, "", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "200 bare with a fallback", "GET", "", 200, "", 0, 0, 60, HTTP_CACHE_STORE_OK },
	{ "public, no lifetime, no validator", "GET", "", 200, "Cache-Control: public", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "invalid ETag is no validator", "GET", "", 200, "Cache-Control: max-age=0\r\nETag: v",
	    0, 0, 0, HTTP_CACHE_STORE_UNCACHEABLE },
	{ "invalid Last-Modified is no validator", "GET", "", 200,
	    "Cache-Control: max-age=0\r\nLast-Modified: yesterday", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "older than its max-age on arrival", "GET", "", 200,
	    "Cache-Control: max-age=60\r\nAge: 60", 0, 0, 0, HTTP_CACHE_STORE_UNCACHEABLE },
	{ "younger than its max-age on arrival", "GET", "", 200,
	    "Cache-Control: max-age=60\r\nAge: 59", 0, 0, 0, HTTP_CACHE_STORE_OK },
	/* stale, but servable within stale-while-revalidate or stale-if-error (RFC 5861) */
	{ "max-age=0 swr", "GET", "", 200, "Cache-Control: max-age=0, stale-while-revalidate=30",
	    0, 0, 0, HTTP_CACHE_STORE_OK },
	{ "max-age=0 sie", "GET", "", 200, "Cache-Control: max-age=0, stale-if-error=30", 0, 0, 0,
	    HTTP_CACHE_STORE_OK },
	{ "max-age=0 swr must-revalidate", "GET", "", 200,
	    "Cache-Control: max-age=0, stale-while-revalidate=30, must-revalidate", 0, 0, 0,
	    HTTP_CACHE_STORE_UNCACHEABLE },
	{ "s-maxage=0 sie", "GET", "", 200, "Cache-Control: s-maxage=0, stale-if-error=30", 0, 0,
	    0, HTTP_CACHE_STORE_UNCACHEABLE },
};

START_TEST(test_storable)
{
	const struct store_case *c = &store_cases[_i];
	struct http_cache_store_opts opts = { c->methods, c->allow_cookie, c->fallback, D_1994 };
	struct http_cache_control rcc, scc;
	enum http_cache_store got;

	req_make(&req, c->method, "/", c->req_fields);
	resp_make(&resp, c->status, c->resp_fields);
	http_cache_control_parse(&req.h, 1, &rcc);
	http_cache_control_parse(&resp.h, 0, &scc);
	got = http_cache_storable(&req, &rcc, &resp, &scc, &opts);
	ck_assert_msg(got == c->want, "%s: %s, want %s", c->name, http_cache_store_name(got),
	    http_cache_store_name(c->want));
}
END_TEST

START_TEST(test_store_names)
{
	int k;

	ck_assert_str_eq(http_cache_store_name(HTTP_CACHE_STORE_NO_STORE), "no-store");
	ck_assert_str_eq(http_cache_store_name(HTTP_CACHE_STORE_VARY_STAR), "vary-star");
	ck_assert_str_eq(http_cache_store_name((enum http_cache_store)99), "unknown");
	ck_assert_str_eq(http_cache_store_name(HTTP_CACHE_STORE_UNCACHEABLE), "uncacheable");
	for (k = HTTP_CACHE_STORE_OK; k <= HTTP_CACHE_STORE_UNCACHEABLE; k++)
		ck_assert_ptr_nonnull(http_cache_store_name((enum http_cache_store)k));
}
END_TEST

START_TEST(test_status_classes)
{
	static const int heuristic[] = { 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501 };
	int code, n = 0;
	size_t k;

	for (code = 100; code <= 599; code++) {
		int want = 0;

		for (k = 0; k < CT_NELEM(heuristic); k++)
			want |= heuristic[k] == code;
		ck_assert_msg(http_cache_status_heuristic(code) == want, "%d", code);
		n += http_cache_status_understood(code);
		if (want)
			ck_assert(http_cache_status_understood(code));
	}
	ck_assert(!http_cache_status_understood(199));
	ck_assert(!http_cache_status_understood(306));
	ck_assert(!http_cache_status_understood(599));
	ck_assert(http_cache_status_understood(451));
	ck_assert_int_eq(n, 7 + 8 + 18 + 7 + 7);
}
END_TEST

START_TEST(test_field_kept)
{
	struct http_cache_control cc;
	static const char *const dropped[] = {
		"Connection", "keep-alive", "Proxy-Connection", "TE", "Transfer-Encoding",
		"Upgrade", "Trailer", "Proxy-Authenticate", "Proxy-Authentication-Info",
		"Proxy-Authorization",
	};
	size_t k;

	memset(&cc, 0, sizeof(cc));
	for (k = 0; k < CT_NELEM(dropped); k++)
		ck_assert_msg(!http_cache_field_kept(slice(dropped[k]), &cc, 1), "%s", dropped[k]);
	ck_assert(http_cache_field_kept(slice("ETag"), &cc, 0));
	ck_assert(http_cache_field_kept(slice("Content-Length"), NULL, 0));
	ck_assert(!http_cache_field_kept(slice("Set-Cookie"), &cc, 0));
	ck_assert(http_cache_field_kept(slice("Set-Cookie"), &cc, 1));
	http_cache_control_add(&cc, slice("private=\"X-User\", no-cache=\"X-Token\""));
	ck_assert(!http_cache_field_kept(slice("x-user"), &cc, 1));
	ck_assert(!http_cache_field_kept(slice("X-Token"), &cc, 1));
	ck_assert(http_cache_field_kept(slice("X-Users"), &cc, 1));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Freshness and age                                                   */
/* ------------------------------------------------------------------ */

struct lifetime_case {
	const char *name;
	int status;
	const char *fields;           /* the Date is D_1994 unless no_date */
	int no_date;
	uint32_t fallback;
	int64_t want;
	enum http_cache_lifetime_src src;
};

#define DATE "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

static const struct lifetime_case lifetime_cases[] = {
	{ "s-maxage first", 200, "Cache-Control: max-age=20, s-maxage=10\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT", 0, 0, 10, HTTP_CACHE_LT_S_MAXAGE },
	{ "max-age over Expires", 200, "Cache-Control: max-age=20\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT", 0, 0, 20, HTTP_CACHE_LT_MAX_AGE },
	{ "invalid s-maxage is stale", 200, "Cache-Control: s-maxage=x, max-age=50", 0, 0, 0,
	    HTTP_CACHE_LT_S_MAXAGE },
	{ "invalid max-age is stale", 200, "Cache-Control: max-age=x\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT", 0, 0, 0, HTTP_CACHE_LT_MAX_AGE },
	{ "Expires - Date", 200, "Expires: Sun, 06 Nov 1994 08:51:17 GMT", 0, 0, 100,
	    HTTP_CACHE_LT_EXPIRES },
	{ "Expires = Date", 200, "Expires: Sun, 06 Nov 1994 08:49:37 GMT", 0, 0, 0,
	    HTTP_CACHE_LT_EXPIRES },
	{ "Expires before Date", 200, "Expires: Sun, 06 Nov 1994 08:49:36 GMT", 0, 0, 0,
	    HTTP_CACHE_LT_EXPIRES },
	{ "Expires 0", 200, "Expires: 0\r\nLast-Modified: Sun, 06 Nov 1994 07:49:37 GMT", 0, 60,
	    0, HTTP_CACHE_LT_EXPIRES },
	{ "two Expires", 200, "Expires: Sun, 06 Nov 1994 08:51:17 GMT\r\n"
	    "Expires: Sun, 06 Nov 1994 08:51:17 GMT", 0, 0, 0, HTTP_CACHE_LT_EXPIRES },
	{ "Expires without Date", 200, "Expires: Sun, 06 Nov 1994 08:50:37 GMT", 1, 0, 100,
	    HTTP_CACHE_LT_EXPIRES },
	{ "heuristic", 200, "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT", 0, 0, 100,
	    HTTP_CACHE_LT_HEURISTIC },
	{ "heuristic at the cap", 200, "Last-Modified: Thu, 27 Oct 1994 08:49:37 GMT", 0, 0,
	    86400, HTTP_CACHE_LT_HEURISTIC },
	{ "heuristic capped", 200, "Last-Modified: Thu, 27 Oct 1994 08:49:27 GMT", 0, 0,
	    86400, HTTP_CACHE_LT_HEURISTIC },
	{ "heuristic rounds down", 200, "Last-Modified: Sun, 06 Nov 1994 08:49:28 GMT", 0, 0,
	    0, HTTP_CACHE_LT_HEURISTIC },
	{ "Last-Modified after Date", 200, "Last-Modified: Sun, 06 Nov 1994 08:49:38 GMT", 0,
	    30, 30, HTTP_CACHE_LT_FALLBACK },
	{ "invalid Last-Modified", 200, "Last-Modified: yesterday", 0, 0, 0, HTTP_CACHE_LT_NONE },
	{ "302 no heuristic", 302, "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT", 0, 60, 60,
	    HTTP_CACHE_LT_FALLBACK },
	{ "302 public heuristic", 302, "Cache-Control: public\r\n"
	    "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT", 0, 0, 100, HTTP_CACHE_LT_HEURISTIC },
	/* the operator's fallback, when set, comes before the cache's guess */
	{ "fallback over a heuristic 0", 200, "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT", 0,
	    60, 60, HTTP_CACHE_LT_FALLBACK },
	{ "fallback over a larger heuristic", 200,
	    "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT", 0, 60, 60, HTTP_CACHE_LT_FALLBACK },
	{ "302 public fallback", 302, "Cache-Control: public\r\n"
	    "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT", 0, 60, 60, HTTP_CACHE_LT_FALLBACK },
	{ "Last-Modified = Date", 200, "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT", 0, 0, 0,
	    HTTP_CACHE_LT_HEURISTIC },
	{ "fallback", 200, "", 0, 30, 30, HTTP_CACHE_LT_FALLBACK },
	{ "nothing", 200, "", 0, 0, 0, HTTP_CACHE_LT_NONE },
};

START_TEST(test_lifetime)
{
	const struct lifetime_case *c = &lifetime_cases[_i];
	struct http_cache_control cc;
	enum http_cache_lifetime_src src;
	char fields[1024];
	int64_t lt, date = c->no_date ? D_1994 - 40 : D_1994;

	snprintf(fields, sizeof(fields), "%s%s", c->no_date ? "" : DATE, c->fields);
	if (fields[strlen(fields) - 1] == '\n')
		fields[strlen(fields) - 2] = '\0';
	resp_make(&resp, c->status, fields);
	http_cache_control_parse(&resp.h, 0, &cc);
	lt = http_cache_lifetime(&resp, &cc, date, NOW_2024, c->fallback, &src);
	ck_assert_msg(lt == c->want && src == c->src, "%s: %lld (%d), want %lld (%d)", c->name,
	    (long long)lt, src, (long long)c->want, c->src);
}
END_TEST

START_TEST(test_age_formulas)
{
	struct http_cache_age a;

	/* Age wins: 10 + a 3-second round trip */
	http_cache_age_compute(1000, 10, 1005, 1008, &a);
	ck_assert_int_eq(a.apparent_age, 8);
	ck_assert_int_eq(a.response_delay, 3);
	ck_assert_int_eq(a.corrected_age_value, 13);
	ck_assert_int_eq(a.corrected_initial_age, 13);
	/* the Date is older than the Age says */
	http_cache_age_compute(900, 10, 1005, 1008, &a);
	ck_assert_int_eq(a.apparent_age, 108);
	ck_assert_int_eq(a.corrected_initial_age, 108);
	/* a Date in the future: apparent_age is 0 */
	http_cache_age_compute(2000, 0, 1005, 1008, &a);
	ck_assert_int_eq(a.apparent_age, 0);
	ck_assert_int_eq(a.corrected_initial_age, 3);
	/* sums saturate */
	http_cache_age_compute(INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX, &a);
	ck_assert_int_eq(a.apparent_age, INT64_MAX);
	ck_assert_int_eq(a.response_delay, INT64_MAX);
	ck_assert_int_eq(a.corrected_age_value, INT64_MAX);
	http_cache_age_compute(0, 0, INT64_MAX, INT64_MIN, &a);
	ck_assert_int_eq(a.response_delay, INT64_MIN);
}
END_TEST

START_TEST(test_meta_make)
{
	struct http_cache_control cc;
	struct http_cache_meta m;

	resp_make(&resp, 200, DATE "Age: 10\r\nETag: \"a\"\r\n"
	    "Cache-Control: max-age=100, must-revalidate, stale-while-revalidate=30, "
	    "stale-if-error=60, immutable");
	http_cache_control_parse(&resp.h, 0, &cc);
	http_cache_meta_make(&m, &resp, &cc, D_1994 + 5, D_1994 + 8, 0);
	ck_assert_int_eq(m.date, D_1994);
	ck_assert_int_eq(m.corrected_initial_age, 13);
	ck_assert_int_eq(m.lifetime, 100);
	ck_assert_uint_eq(m.status, 200);
	ck_assert_uint_eq(m.flags, HTTP_CACHE_M_NO_STALE | HTTP_CACHE_M_IMMUTABLE |
	    HTTP_CACHE_M_VALIDATOR | HTTP_CACHE_M_SWR | HTTP_CACHE_M_SIE);
	ck_assert_uint_eq(m.swr, 30);
	ck_assert_uint_eq(m.sie, 60);
	ck_assert_int_eq(http_cache_age_current(&m, D_1994 + 8), 13);
	ck_assert_int_eq(http_cache_age_current(&m, D_1994 + 20), 25);

	/* no Date: the time received; an invalid Age is ignored */
	resp_make(&resp, 200, "Age: ten\r\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT\r\n"
	    "Cache-Control: no-cache, s-maxage=5");
	http_cache_control_parse(&resp.h, 0, &cc);
	http_cache_meta_make(&m, &resp, &cc, D_1994, D_1994, 0);
	ck_assert_int_eq(m.date, D_1994);
	ck_assert_int_eq(m.corrected_initial_age, 0);
	ck_assert_int_eq(m.lifetime, 5);
	ck_assert_uint_eq(m.flags, HTTP_CACHE_M_NO_CACHE | HTTP_CACHE_M_NO_STALE |
	    HTTP_CACHE_M_VALIDATOR);

	resp_make(&resp, 200, DATE "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\r\n"
	    "Cache-Control: proxy-revalidate");
	http_cache_control_parse(&resp.h, 0, &cc);
	http_cache_meta_make(&m, &resp, &cc, D_1994, D_1994, 0);
	ck_assert_int_eq(m.lifetime, 100);
	ck_assert_uint_eq(m.flags, HTTP_CACHE_M_HEURISTIC | HTTP_CACHE_M_NO_STALE |
	    HTTP_CACHE_M_VALIDATOR);

	/* an Age over 2^31 counts as 2^31, and the Age sent is capped too */
	resp_make(&resp, 404, "Age: 99999999999");
	http_cache_control_parse(&resp.h, 0, &cc);
	http_cache_meta_make(&m, &resp, &cc, D_1994, D_1994, 77);
	ck_assert_int_eq(m.corrected_initial_age, HTTP_CACHE_DELTA_MAX);
	ck_assert_int_eq(m.lifetime, 77);
	ck_assert_uint_eq(m.flags, 0);
	ck_assert_int_eq(http_cache_age_current(&m, D_1994 + 5), HTTP_CACHE_DELTA_MAX);
	ck_assert_int_eq(http_cache_age_current(&m, D_1994 - INT64_C(3000000000)), 0);

	/* validators that do not parse cannot revalidate */
	resp_make(&resp, 200, "ETag: abc\r\nLast-Modified: yesterday");
	http_cache_control_parse(&resp.h, 0, &cc);
	http_cache_meta_make(&m, &resp, &cc, D_1994, D_1994, 0);
	ck_assert_uint_eq(m.flags, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Serving                                                             */
/* ------------------------------------------------------------------ */

struct serve_case {
	const char *name;
	uint16_t flags;               /* HTTP_CACHE_M_* */
	uint32_t swr;
	const char *req_cc;           /* a request Cache-Control value */
	int64_t age;                  /* current age at now; the lifetime is 100 */
	enum http_cache_action want;
};

#define V HTTP_CACHE_M_VALIDATOR

static const struct serve_case serve_cases[] = {
	{ "fresh", V, 0, "", 99, HTTP_CACHE_HIT },
	{ "stale at the lifetime", V, 0, "", 100, HTTP_CACHE_REVALIDATE },
	{ "stale, no validator", 0, 0, "", 100, HTTP_CACHE_MISS },
	{ "fresh, no validator", 0, 0, "", 0, HTTP_CACHE_HIT },
	{ "request max-age", V, 0, "max-age=50", 50, HTTP_CACHE_HIT },
	{ "request max-age passed", V, 0, "max-age=50", 51, HTTP_CACHE_REVALIDATE },
	{ "request max-age=0", V, 0, "max-age=0", 1, HTTP_CACHE_REVALIDATE },
	{ "invalid request max-age", V, 0, "max-age=x", 1, HTTP_CACHE_REVALIDATE },
	{ "min-fresh", V, 0, "min-fresh=10", 90, HTTP_CACHE_HIT },
	{ "min-fresh short", V, 0, "min-fresh=10", 91, HTTP_CACHE_REVALIDATE },
	{ "invalid min-fresh", V, 0, "min-fresh=?", 0, HTTP_CACHE_REVALIDATE },
	{ "request no-cache", V, 0, "no-cache", 0, HTTP_CACHE_REVALIDATE },
	{ "response no-cache", V | HTTP_CACHE_M_NO_CACHE, 0, "", 0, HTTP_CACHE_REVALIDATE },
	{ "response no-cache, no validator", HTTP_CACHE_M_NO_CACHE, 0, "", 0, HTTP_CACHE_MISS },
	{ "max-stale bare", V, 0, "max-stale", 100000, HTTP_CACHE_HIT_STALE },
	{ "max-stale", V, 0, "max-stale=10", 110, HTTP_CACHE_HIT_STALE },
	{ "max-stale passed", V, 0, "max-stale=10", 111, HTTP_CACHE_REVALIDATE },
	{ "max-stale must-revalidate", V | HTTP_CACHE_M_NO_STALE, 0, "max-stale", 100,
	    HTTP_CACHE_REVALIDATE },
	{ "max-stale with max-age", V, 0, "max-stale, max-age=100", 101, HTTP_CACHE_REVALIDATE },
	{ "swr", V | HTTP_CACHE_M_SWR, 30, "", 130, HTTP_CACHE_STALE_REVALIDATE },
	{ "swr passed", V | HTTP_CACHE_M_SWR, 30, "", 131, HTTP_CACHE_REVALIDATE },
	{ "swr fresh", V | HTTP_CACHE_M_SWR, 30, "", 99, HTTP_CACHE_HIT },
	{ "swr must-revalidate", V | HTTP_CACHE_M_SWR | HTTP_CACHE_M_NO_STALE, 30, "", 101,
	    HTTP_CACHE_REVALIDATE },
	{ "swr request no-cache", V | HTTP_CACHE_M_SWR, 30, "no-cache", 101, HTTP_CACHE_REVALIDATE },
	{ "only-if-cached fresh", V, 0, "only-if-cached", 10, HTTP_CACHE_HIT },
	{ "only-if-cached stale", V, 0, "only-if-cached", 100, HTTP_CACHE_GATEWAY_TIMEOUT },
	{ "only-if-cached no-cache", V, 0, "only-if-cached, no-cache", 0,
	    HTTP_CACHE_GATEWAY_TIMEOUT },
	{ "only-if-cached max-stale", V, 0, "only-if-cached, max-stale", 500, HTTP_CACHE_HIT_STALE },
	{ "only-if-cached swr", V | HTTP_CACHE_M_SWR, 30, "only-if-cached", 110,
	    HTTP_CACHE_STALE_REVALIDATE },
};

static void
meta_fixed(struct http_cache_meta *m, uint16_t flags, int64_t age)
{
	memset(m, 0, sizeof(*m));
	m->response_time = 5000;
	m->request_time = 4999;
	m->date = 5000;
	m->corrected_initial_age = age / 2;
	m->lifetime = 100;
	m->flags = flags;
	m->status = 200;
}

START_TEST(test_serve)
{
	const struct serve_case *c = &serve_cases[_i];
	struct http_cache_control rcc;
	struct http_cache_decision d;
	struct http_cache_meta m;
	int64_t now;

	meta_fixed(&m, c->flags, c->age);
	m.swr = c->swr;
	memset(&rcc, 0, sizeof(rcc));
	http_cache_control_add(&rcc, slice(c->req_cc));
	now = m.response_time + (c->age - c->age / 2);
	ck_assert_msg(http_cache_serve(&m, &rcc, now, &d) == c->want && d.action == c->want,
	    "%s: %d, want %d", c->name, d.action, c->want);
	ck_assert_int_eq(d.age, c->age);
	ck_assert_int_eq(d.ttl, 100 - c->age);
}
END_TEST

START_TEST(test_serve_nothing_stored)
{
	struct http_cache_control rcc;
	struct http_cache_decision d;

	memset(&rcc, 0, sizeof(rcc));
	ck_assert_int_eq(http_cache_serve(NULL, &rcc, 0, &d), HTTP_CACHE_MISS);
	ck_assert_int_eq(d.age, 0);
	http_cache_control_add(&rcc, slice("only-if-cached"));
	ck_assert_int_eq(http_cache_serve(NULL, &rcc, 0, &d), HTTP_CACHE_GATEWAY_TIMEOUT);
}
END_TEST

struct sie_case {
	const char *name;
	uint16_t flags;
	uint32_t sie;
	const char *req_cc;
	int64_t age;                  /* the lifetime is 100 */
	int want;
};

static const struct sie_case sie_cases[] = {
	{ "fresh", 0, 0, "", 99, 1 },
	{ "stale", 0, 0, "", 100, 0 },
	{ "within", HTTP_CACHE_M_SIE, 60, "", 160, 1 },
	{ "past", HTTP_CACHE_M_SIE, 60, "", 161, 0 },
	{ "must-revalidate", HTTP_CACHE_M_SIE | HTTP_CACHE_M_NO_STALE, 60, "", 101, 0 },
	{ "no-cache even fresh", HTTP_CACHE_M_NO_CACHE, 0, "", 0, 0 },
	{ "request no-cache", 0, 0, "no-cache", 0, 0 },
	{ "request within", 0, 0, "stale-if-error=100", 200, 1 },
	{ "request past", 0, 0, "stale-if-error=100", 201, 0 },
	{ "either", HTTP_CACHE_M_SIE, 10, "stale-if-error=5", 110, 1 },
};

START_TEST(test_stale_if_error)
{
	const struct sie_case *c = &sie_cases[_i];
	struct http_cache_control rcc;
	struct http_cache_meta m;

	meta_fixed(&m, c->flags, 0);
	m.sie = c->sie;
	memset(&rcc, 0, sizeof(rcc));
	http_cache_control_add(&rcc, slice(c->req_cc));
	ck_assert_msg(http_cache_stale_if_error(&m, &rcc, m.response_time + c->age) == c->want,
	    "%s", c->name);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Conditional requests                                                */
/* ------------------------------------------------------------------ */

struct cond_case {
	const char *name;
	const char *method;
	const char *req_fields;
	const char *stored_fields;
	int status;
	enum http_cache_cond want;
};

/* Last-Modified D_1994 - 1000, Date D_1994, received D_1994 + 10, now 2024. */
#define STORED "ETag: \"abc\"\r\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT\r\n" \
	"Date: Sun, 06 Nov 1994 08:49:37 GMT"
#define LM_MINUS_1 "Sun, 06 Nov 1994 08:32:56 GMT"
#define LM_EXACT "Sun, 06 Nov 1994 08:32:57 GMT"

static const struct cond_case cond_cases[] = {
	{ "INM match", "GET", "If-None-Match: \"abc\"", STORED, 200, HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM HEAD", "HEAD", "If-None-Match: \"abc\"", STORED, 200, HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM weak", "GET", "If-None-Match: W/\"abc\"", STORED, 200, HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM weak stored", "GET", "If-None-Match: \"abc\"", "ETag: W/\"abc\"", 200,
	    HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM list", "GET", "If-None-Match: \"x\", W/\"y\" ,\"abc\"", STORED, 200,
	    HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM two fields", "GET", "If-None-Match: \"x\"\r\nIf-None-Match: \"abc\"", STORED, 200,
	    HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM comma in tag", "GET", "If-None-Match: \"a,b\"", "ETag: \"a,b\"", 200,
	    HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM other", "GET", "If-None-Match: \"abcd\"", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "INM case", "GET", "If-None-Match: \"ABC\"", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "INM star", "GET", "If-None-Match: *", STORED, 200, HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM star, no ETag", "GET", "If-None-Match: *", "Date: Sun, 06 Nov 1994 08:49:37 GMT",
	    200, HTTP_CACHE_COND_NOT_MODIFIED },
	{ "INM, no ETag", "GET", "If-None-Match: \"abc\"", "Date: Sun, 06 Nov 1994 08:49:37 GMT",
	    200, HTTP_CACHE_COND_FULL },
	{ "INM, invalid ETag", "GET", "If-None-Match: \"abc\"", "ETag: abc", 200,
	    HTTP_CACHE_COND_FULL },
	{ "INM unquoted", "GET", "If-None-Match: abc", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "INM junk after", "GET", "If-None-Match: \"abc\"x", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "INM junk later", "GET", "If-None-Match: \"abc\", x", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "INM unterminated", "GET", "If-None-Match: \"abc", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "INM lower w", "GET", "If-None-Match: w/\"abc\"", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "INM hides IMS", "GET", "If-None-Match: \"x\"\r\nIf-Modified-Since: " LM_EXACT, STORED,
	    200, HTTP_CACHE_COND_FULL },
	{ "IMS equal", "GET", "If-Modified-Since: " LM_EXACT, STORED, 200,
	    HTTP_CACHE_COND_NOT_MODIFIED },
	{ "IMS before", "GET", "If-Modified-Since: " LM_MINUS_1, STORED, 200, HTTP_CACHE_COND_FULL },
	{ "IMS rfc850", "GET", "If-Modified-Since: Sunday, 06-Nov-94 08:32:57 GMT", STORED, 200,
	    HTTP_CACHE_COND_NOT_MODIFIED },
	{ "IMS after now", "GET", "If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT", STORED, 200,
	    HTTP_CACHE_COND_FULL },
	{ "IMS invalid", "GET", "If-Modified-Since: yesterday", STORED, 200, HTTP_CACHE_COND_FULL },
	{ "IMS twice", "GET", "If-Modified-Since: " LM_EXACT "\r\nIf-Modified-Since: " LM_EXACT,
	    STORED, 200, HTTP_CACHE_COND_FULL },
	{ "IMS by Date", "GET", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT", 200, HTTP_CACHE_COND_NOT_MODIFIED },
	{ "IMS by Date, before", "GET", "If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT",
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT", 200, HTTP_CACHE_COND_FULL },
	{ "IMS by receipt", "GET", "If-Modified-Since: Sun, 06 Nov 1994 08:49:47 GMT", "", 200,
	    HTTP_CACHE_COND_NOT_MODIFIED },
	{ "IMS by receipt, before", "GET", "If-Modified-Since: Sun, 06 Nov 1994 08:49:46 GMT", "",
	    200, HTTP_CACHE_COND_FULL },
	{ "POST", "POST", "Content-Length: 0\r\nIf-None-Match: *", STORED, 200,
	    HTTP_CACHE_COND_FULL },
	{ "stored 404", "GET", "If-None-Match: *", STORED, 404, HTTP_CACHE_COND_FULL },
	{ "stored 204", "GET", "If-None-Match: *", STORED, 204, HTTP_CACHE_COND_NOT_MODIFIED },
	{ "If-Match", "GET", "If-Match: \"abc\"\r\nIf-None-Match: \"abc\"", STORED, 200,
	    HTTP_CACHE_COND_FORWARD },
	{ "If-Unmodified-Since", "GET", "If-Unmodified-Since: " LM_EXACT, STORED, 200,
	    HTTP_CACHE_COND_FORWARD },
	{ "none", "GET", "", STORED, 200, HTTP_CACHE_COND_FULL },
};

START_TEST(test_conditional)
{
	const struct cond_case *c = &cond_cases[_i];
	enum http_cache_cond got;

	req_make(&req, c->method, "/", c->req_fields);
	resp_make(&resp, c->status, c->stored_fields);
	got = http_cache_conditional(&req, &resp.h, c->status, D_1994 + 10, NOW_2024);
	ck_assert_msg(got == c->want, "%s: %d, want %d", c->name, got, c->want);
}
END_TEST

START_TEST(test_etag_match)
{
	ck_assert(http_cache_etag_match(slice("\"a\""), slice("\"a\""), 1));
	ck_assert(http_cache_etag_match(slice("\"a\""), slice("\"a\""), 0));
	ck_assert(!http_cache_etag_match(slice("W/\"a\""), slice("\"a\""), 1));
	ck_assert(!http_cache_etag_match(slice("\"a\""), slice("W/\"a\""), 1));
	ck_assert(http_cache_etag_match(slice("W/\"a\""), slice("W/\"a\""), 0));
	ck_assert(!http_cache_etag_match(slice("W/\"a\""), slice("W/\"a\""), 1));
	ck_assert(!http_cache_etag_match(slice("\"a\""), slice("\"b\""), 0));
	ck_assert(http_cache_etag_match(slice("\"\""), slice("\"\""), 1));
	ck_assert(!http_cache_etag_match(slice("a"), slice("a"), 0));
	ck_assert(!http_cache_etag_match(slice("\"a b\""), slice("\"a b\""), 0));
	ck_assert(!http_cache_etag_match(slice("\"a\"\""), slice("\"a\"\""), 0));
	ck_assert(!http_cache_etag_match(slice(""), slice(""), 0));
	ck_assert(http_cache_etag_match(slice("\"\x80\""), slice("\"\x80\""), 1));
	ck_assert(!http_cache_etag_match(slice("\"\x7f\""), slice("\"\x7f\""), 1));
}
END_TEST

static void
ck_slice_is(struct http_slice s, const char *want)
{
	ck_assert_msg(s.len == strlen(want) && memcmp(s.p, want, s.len) == 0,
	    "\"%.*s\", want \"%s\"", (int)s.len, s.p, want);
}

START_TEST(test_validators)
{
	struct http_cache_validators v;

	resp_make(&resp, 200, STORED);
	http_cache_validators(&resp.h, &v);
	ck_slice_is(v.if_none_match, "\"abc\"");
	ck_slice_is(v.if_modified_since, LM_EXACT);

	resp_make(&resp, 200, "ETag: W/\"w\"\r\nLast-Modified: Sunday, 06-Nov-94 08:32:57 GMT");
	http_cache_validators(&resp.h, &v);
	ck_slice_is(v.if_none_match, "W/\"w\"");
	ck_slice_is(v.if_modified_since, "Sunday, 06-Nov-94 08:32:57 GMT");

	resp_make(&resp, 200, "ETag: abc\r\nLast-Modified: 0");
	http_cache_validators(&resp.h, &v);
	ck_assert_uint_eq(v.if_none_match.len, 0);
	ck_assert_uint_eq(v.if_modified_since.len, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 304 updates                                                         */
/* ------------------------------------------------------------------ */

START_TEST(test_update_plan)
{
	static const enum http_cache_update want_stored[] = {
		HTTP_CACHE_KEEP,      /* Content-Length */
		HTTP_CACHE_DROP,      /* ETag */
		HTTP_CACHE_DROP,      /* Cache-Control */
		HTTP_CACHE_DROP,      /* X-A */
		HTTP_CACHE_DROP,      /* x-a */
		HTTP_CACHE_KEEP,      /* Content-Encoding */
		HTTP_CACHE_DROP,      /* Date */
		HTTP_CACHE_KEEP,      /* X-Keep */
		HTTP_CACHE_KEEP,      /* X-Hop: kept, the 304's is not taken */
	};
	static const enum http_cache_update want_nm[] = {
		HTTP_CACHE_ADD,       /* ETag */
		HTTP_CACHE_ADD,       /* Cache-Control */
		HTTP_CACHE_ADD,       /* X-A */
		HTTP_CACHE_SKIP,      /* Content-Length */
		HTTP_CACHE_SKIP,      /* Content-Encoding */
		HTTP_CACHE_ADD,       /* Date */
		HTTP_CACHE_SKIP,      /* Connection */
		HTTP_CACHE_SKIP,      /* X-Hop, listed in Connection */
		HTTP_CACHE_SKIP,      /* Keep-Alive */
		HTTP_CACHE_ADD,       /* X-New */
		HTTP_CACHE_SKIP,      /* Set-Cookie */
		HTTP_CACHE_SKIP,      /* Content-Range */
		HTTP_CACHE_SKIP,      /* X-User: private="X-User" */
		HTTP_CACHE_SKIP,      /* Proxy-Authenticate */
	};
	enum http_cache_update sp[HTTP_MAX_HEADERS], np[HTTP_MAX_HEADERS];
	size_t k;

	resp_make(&resp, 200, "Content-Length: 10\r\nETag: \"a\"\r\nCache-Control: max-age=5\r\n"
	    "X-A: 1\r\nx-a: 2\r\nContent-Encoding: gzip\r\nDate: d1\r\nX-Keep: k\r\nX-Hop: h");
	resp_make(&resp2, 304, "ETag: \"b\"\r\nCache-Control: max-age=60, private=\"X-User\"\r\n"
	    "X-A: 3\r\nContent-Length: 0\r\nContent-Encoding: br\r\nDate: d2\r\n"
	    "Connection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-New: n\r\n"
	    "Set-Cookie: a=b\r\nContent-Range: bytes */10\r\nX-User: u\r\n"
	    "Proxy-Authenticate: Basic");
	ck_assert_uint_eq(resp.h.nheaders, CT_NELEM(want_stored));
	ck_assert_uint_eq(resp2.h.nheaders, CT_NELEM(want_nm));
	http_cache_update_plan(&resp.h, &resp2.h, 0, sp, np);
	for (k = 0; k < CT_NELEM(want_stored); k++)
		ck_assert_msg(sp[k] == want_stored[k], "stored %zu: %d", k, sp[k]);
	for (k = 0; k < CT_NELEM(want_nm); k++)
		ck_assert_msg(np[k] == want_nm[k], "304 %zu: %d", k, np[k]);

	/* Set-Cookie allowed: the 304's replaces the stored one */
	resp_make(&resp, 200, "Set-Cookie: old=1\r\nX-User: u");
	resp_make(&resp2, 304, "Set-Cookie: new=1\r\nX-User: v");
	http_cache_update_plan(&resp.h, &resp2.h, 1, sp, np);
	ck_assert_int_eq(sp[0], HTTP_CACHE_DROP);
	ck_assert_int_eq(np[0], HTTP_CACHE_ADD);
	ck_assert_int_eq(sp[1], HTTP_CACHE_DROP);

	/* without Cache-Control in the 304, the stored one's private list holds */
	resp_make(&resp, 200, "Cache-Control: private=\"X-User\"\r\nX-Other: 1");
	http_cache_update_plan(&resp.h, &resp2.h, 1, sp, np);
	ck_assert_int_eq(np[1], HTTP_CACHE_SKIP);
	ck_assert_int_eq(sp[0], HTTP_CACHE_KEEP);
	ck_assert_int_eq(sp[1], HTTP_CACHE_KEEP);
}
END_TEST

#define HLM "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT"

struct selects_case {
	const char *name;
	const char *stored;
	const char *nm;
	int want;
};

static const struct selects_case selects_cases[] = {
	{ "same strong ETag", "ETag: \"a\"\r\n" HLM, "ETag: \"a\"", 1 },
	{ "other ETag", "ETag: \"a\"\r\n" HLM, "ETag: \"b\"\r\n" HLM, 0 },
	{ "ETag decides over Last-Modified", "ETag: \"a\"\r\n" HLM,
	    "ETag: \"a\"\r\nLast-Modified: Sun, 06 Nov 1994 08:32:58 GMT", 1 },
	{ "weak ETag, weakly equal", "ETag: \"a\"", "ETag: W/\"a\"", 1 },
	{ "weak stored, strong 304", "ETag: W/\"a\"", "ETag: \"a\"", 0 },
	{ "both weak", "ETag: W/\"a\"", "ETag: W/\"a\"", 1 },
	{ "304 ETag, none stored", HLM, "ETag: \"a\"\r\n" HLM, 0 },
	{ "invalid 304 ETag", "ETag: \"a\"", "ETag: a", 0 },
	{ "invalid stored ETag", "ETag: a", "ETag: \"a\"", 0 },
	{ "same Last-Modified", "ETag: \"a\"\r\n" HLM, HLM, 1 },
	{ "same Last-Modified, other form", HLM,
	    "Last-Modified: Sunday, 06-Nov-94 08:32:57 GMT", 1 },
	{ "other Last-Modified", HLM, "Last-Modified: Sun, 06 Nov 1994 08:32:58 GMT", 0 },
	{ "invalid 304 Last-Modified", HLM, "Last-Modified: now", 0 },
	{ "304 Last-Modified, none stored", "ETag: \"a\"", HLM, 0 },
	{ "no validator in the 304", "ETag: \"a\"\r\n" HLM, "Date: Sun, 06 Nov 1994 08:49:37 GMT",
	    1 },
	{ "no validator anywhere", "", "", 1 },
};

START_TEST(test_304_selects)
{
	const struct selects_case *c = &selects_cases[_i];

	resp_make(&resp, 200, c->stored);
	resp_make(&resp2, 304, c->nm);
	ck_assert_msg(http_cache_304_selects(&resp.h, &resp2.h, NOW_2024) == c->want, "%s",
	    c->name);
}
END_TEST

struct head_case {
	const char *name;
	int status;
	const char *fields;
	enum http_cache_head_fresh want;
};

static const struct head_case head_cases[] = {
	{ "all match", 200, "ETag: \"a\"\r\n" HLM "\r\nContent-Length: 10",
	    HTTP_CACHE_HEAD_UPDATE },
	{ "ETag alone", 200, "ETag: \"a\"", HTTP_CACHE_HEAD_UPDATE },
	{ "weak ETag", 200, "ETag: W/\"a\"\r\nContent-Length: 10", HTTP_CACHE_HEAD_UPDATE },
	{ "Last-Modified alone", 200, HLM, HTTP_CACHE_HEAD_UPDATE },
	{ "Last-Modified in another form", 200,
	    "Last-Modified: Sunday, 06-Nov-94 08:32:57 GMT", HTTP_CACHE_HEAD_UPDATE },
	{ "other ETag", 200, "ETag: \"b\"\r\n" HLM, HTTP_CACHE_HEAD_STALE },
	{ "other Last-Modified", 200, "ETag: \"a\"\r\n"
	    "Last-Modified: Sun, 06 Nov 1994 08:32:58 GMT", HTTP_CACHE_HEAD_STALE },
	{ "invalid Last-Modified", 200, "ETag: \"a\"\r\nLast-Modified: soon",
	    HTTP_CACHE_HEAD_STALE },
	{ "invalid ETag", 200, "ETag: a", HTTP_CACHE_HEAD_STALE },
	{ "other length", 200, "ETag: \"a\"\r\nContent-Length: 11", HTTP_CACHE_HEAD_STALE },
	{ "no validator", 200, "Content-Length: 10", HTTP_CACHE_HEAD_STALE },
	{ "nothing", 200, "", HTTP_CACHE_HEAD_STALE },
	{ "404", 404, "ETag: \"b\"", HTTP_CACHE_HEAD_NONE },
	{ "304", 304, "ETag: \"a\"", HTTP_CACHE_HEAD_NONE },
	{ "203", 203, "ETag: \"a\"", HTTP_CACHE_HEAD_NONE },
};

START_TEST(test_head_freshens)
{
	const struct head_case *c = &head_cases[_i];
	enum http_cache_head_fresh got;

	/* the stored head's own Content-Length is not what counts: the body's length is */
	resp_make(&resp, 200, "ETag: \"a\"\r\n" HLM "\r\nContent-Length: 99");
	resp_make(&resp2, c->status, c->fields);
	got = http_cache_head_freshens(&resp.h, 10, &resp2, NOW_2024);
	ck_assert_msg(got == c->want, "%s: %d, want %d", c->name, got, c->want);
}
END_TEST

START_TEST(test_head_freshens_no_stored_validator)
{
	resp_make(&resp, 200, "Content-Length: 10");
	resp_make(&resp2, 200, "ETag: \"a\"\r\nContent-Length: 10");
	ck_assert_int_eq(http_cache_head_freshens(&resp.h, 10, &resp2, NOW_2024),
	    HTTP_CACHE_HEAD_STALE);
	resp_make(&resp2, 200, HLM);
	ck_assert_int_eq(http_cache_head_freshens(&resp.h, 10, &resp2, NOW_2024),
	    HTTP_CACHE_HEAD_STALE);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Range                                                               */
/* ------------------------------------------------------------------ */

struct range_case {
	const char *in;
	uint64_t length;
	enum http_cache_range want;
	uint64_t first, last;
};

#define R_PART HTTP_CACHE_RANGE_PARTIAL
#define R_416 HTTP_CACHE_RANGE_UNSATISFIABLE
#define R_NONE HTTP_CACHE_RANGE_NONE

static const struct range_case range_cases[] = {
	{ "bytes=0-499", 1000, R_PART, 0, 499 },
	{ "bytes=500-", 1000, R_PART, 500, 999 },
	{ "bytes=-200", 1000, R_PART, 800, 999 },
	{ "bytes=-1000", 1000, R_PART, 0, 999 },
	{ "bytes=-2000", 1000, R_PART, 0, 999 },
	{ "bytes=0-0", 1000, R_PART, 0, 0 },
	{ "bytes=999-999", 1000, R_PART, 999, 999 },
	{ "bytes=999-5000", 1000, R_PART, 999, 999 },
	{ "bytes=998-998", 1000, R_PART, 998, 998 },
	{ "bytes=0-999", 1000, R_PART, 0, 999 },
	{ "bytes=0-1000", 1000, R_PART, 0, 999 },
	{ "Bytes=0-1", 1000, R_PART, 0, 1 },
	{ "bytes=0-1,", 1000, R_PART, 0, 1 },
	{ "bytes= 0-1 ", 1000, R_PART, 0, 1 },
	{ "bytes=0-99999999999999999999999", 1000, R_PART, 0, 999 },
	{ "bytes=0-", 1, R_PART, 0, 0 },
	{ "bytes=1000-", 1000, R_416, 0, 0 },
	{ "bytes=1000-2000", 1000, R_416, 0, 0 },
	{ "bytes=99999999999999999999999-", 1000, R_416, 0, 0 },
	{ "bytes=-0", 1000, R_416, 0, 0 },
	{ "bytes=0-", 0, R_416, 0, 0 },
	{ "bytes=-5", 0, R_NONE, 0, 0 },
	{ "bytes=5-4", 1000, R_NONE, 0, 0 },
	{ "bytes=0-1,5-6", 1000, R_NONE, 0, 0 },
	{ "bytes=0-1, -5", 1000, R_NONE, 0, 0 },
	{ "items=0-1", 1000, R_NONE, 0, 0 },
	{ "bytes", 1000, R_NONE, 0, 0 },
	{ "bytes=", 1000, R_NONE, 0, 0 },
	{ "bytes=,", 1000, R_NONE, 0, 0 },
	{ "bytes=abc", 1000, R_NONE, 0, 0 },
	{ "bytes=1", 1000, R_NONE, 0, 0 },
	{ "bytes=-", 1000, R_NONE, 0, 0 },
	{ "bytes=--1", 1000, R_NONE, 0, 0 },
	{ "bytes=0-1 x", 1000, R_NONE, 0, 0 },
	{ "bytes=0-1x", 1000, R_NONE, 0, 0 },
	{ "bytes=+0-1", 1000, R_NONE, 0, 0 },
	{ "bytes =0-1", 1000, R_NONE, 0, 0 },
	{ "bytes=\"0-1\"", 1000, R_NONE, 0, 0 },
};

START_TEST(test_range)
{
	const struct range_case *c = &range_cases[_i];
	uint64_t first = 7, last = 7;
	enum http_cache_range got = http_cache_range(gslice(c->in), c->length, &first, &last);

	ck_assert_msg(got == c->want, "%s/%llu: %d, want %d", c->in,
	    (unsigned long long)c->length, got, c->want);
	if (got == R_PART) {
		ck_assert_uint_eq(first, c->first);
		ck_assert_uint_eq(last, c->last);
	}
}
END_TEST

struct if_range_case {
	const char *in;
	const char *stored;
	int want;
};

/* Last-Modified is a second before Date: strong. */
#define IR_STORED "ETag: \"abc\"\r\nLast-Modified: Sun, 06 Nov 1994 08:49:36 GMT\r\n" \
	"Date: Sun, 06 Nov 1994 08:49:37 GMT"

static const struct if_range_case if_range_cases[] = {
	{ "\"abc\"", IR_STORED, 1 },
	{ "W/\"abc\"", IR_STORED, 0 },
	{ "\"abd\"", IR_STORED, 0 },
	{ "\"abc\"", "ETag: W/\"abc\"", 0 },
	{ "\"abc\"", "Date: Sun, 06 Nov 1994 08:49:37 GMT", 0 },
	{ "Sun, 06 Nov 1994 08:49:36 GMT", IR_STORED, 1 },
	{ "Sunday, 06-Nov-94 08:49:36 GMT", IR_STORED, 1 },
	{ "Sun, 06 Nov 1994 08:49:35 GMT", IR_STORED, 0 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT", IR_STORED, 0 },
	/* Last-Modified equal to Date is weak */
	{ "Sun, 06 Nov 1994 08:49:37 GMT", "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT", 0 },
	{ "Sun, 06 Nov 1994 08:49:36 GMT", "Last-Modified: Sun, 06 Nov 1994 08:49:36 GMT", 0 },
	{ "abc", IR_STORED, 0 },
	{ "", IR_STORED, 0 },
};

START_TEST(test_if_range)
{
	const struct if_range_case *c = &if_range_cases[_i];

	resp_make(&resp, 200, c->stored);
	ck_assert_msg(http_cache_if_range(gslice(c->in), &resp.h, NOW_2024) == c->want,
	    "%s against %s", c->in, c->stored);
}
END_TEST

struct crange_case {
	enum http_cache_range r;
	uint64_t first, last, length;
	const char *want;             /* NULL: CT_ERROR */
};

static const struct crange_case crange_cases[] = {
	{ HTTP_CACHE_RANGE_PARTIAL, 0, 0, 1, "bytes 0-0/1" },
	{ HTTP_CACHE_RANGE_PARTIAL, 5, 9, 10, "bytes 5-9/10" },
	{ HTTP_CACHE_RANGE_PARTIAL, 0, UINT64_MAX - 1, UINT64_MAX,
	    "bytes 0-18446744073709551614/18446744073709551615" },
	{ HTTP_CACHE_RANGE_UNSATISFIABLE, 0, 0, 10, "bytes */10" },
	{ HTTP_CACHE_RANGE_UNSATISFIABLE, 7, 3, 0, "bytes */0" },
	{ HTTP_CACHE_RANGE_NONE, 0, 9, 10, NULL },
	{ HTTP_CACHE_RANGE_PARTIAL, 5, 4, 10, NULL },
	{ HTTP_CACHE_RANGE_PARTIAL, 5, 10, 10, NULL },
	{ HTTP_CACHE_RANGE_PARTIAL, 0, 0, 0, NULL },
	{ (enum http_cache_range)9, 0, 0, 1, NULL },
};

START_TEST(test_content_range_write)
{
	const struct crange_case *c = &crange_cases[_i];
	char out[64];
	size_t len = 0;
	int rc = http_cache_content_range_write(c->r, c->first, c->last, c->length, out,
	    sizeof(out), &len);

	if (c->want == NULL) {
		ck_assert_int_eq(rc, CT_ERROR);
		return;
	}
	ck_assert_int_eq(rc, CT_OK);
	ck_assert_msg(len == strlen(c->want) && memcmp(out, c->want, len) == 0,
	    "\"%.*s\", want \"%s\"", (int)len, out, c->want);
	ck_assert_int_eq(http_cache_content_range_write(c->r, c->first, c->last, c->length, out,
	    len, &len), CT_OK);
	ck_assert_int_eq(http_cache_content_range_write(c->r, c->first, c->last, c->length, out,
	    len - 1, &len), CT_ERROR);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

static int
vary_key(const char *stored, const char *req_fields, char *out, size_t size, size_t *len)
{
	resp_make(&resp, 200, stored);
	req_make(&req, "GET", "/", req_fields);
	return http_cache_vary_key(&resp.h, &req.h, out, size, len);
}

START_TEST(test_vary_key)
{
	char a[256], b[256];
	size_t al, bl;

	ck_assert_int_eq(vary_key("Vary: Accept-Encoding", "Accept-Encoding: gzip, br", a,
	    sizeof(a), &al), CT_OK);
	ck_assert_int_eq(vary_key("Vary: accept-encoding", "accept-encoding:gzip ,br", b,
	    sizeof(b), &bl), CT_OK);
	ck_assert(al == bl && memcmp(a, b, al) == 0);
	ck_assert_int_eq(al, strlen("accept-encoding\n=gzip,br\n"));
	ck_assert(memcmp(a, "accept-encoding\n=gzip,br\n", al) == 0);

	/* values keep their case and inner spaces */
	ck_assert_int_eq(vary_key("Vary: Accept-Encoding", "Accept-Encoding: GZIP, br", b,
	    sizeof(b), &bl), CT_OK);
	ck_assert(al != bl || memcmp(a, b, al) != 0);
	ck_assert_int_eq(vary_key("Vary: X", "X: a b", a, sizeof(a), &al), CT_OK);
	ck_assert_int_eq(vary_key("Vary: X", "X: ab", b, sizeof(b), &bl), CT_OK);
	ck_assert(al != bl || memcmp(a, b, al) != 0);

	/* absent differs from empty */
	ck_assert_int_eq(vary_key("Vary: X-A", "", a, sizeof(a), &al), CT_OK);
	ck_assert_int_eq(vary_key("Vary: X-A", "X-A:", b, sizeof(b), &bl), CT_OK);
	ck_assert(al != bl || memcmp(a, b, al) != 0);
	ck_assert(memcmp(a, "x-a\n!\n", al) == 0 && al == 6);
	ck_assert(memcmp(b, "x-a\n=\n", bl) == 0 && bl == 6);

	/* several Vary fields and several request fields, in order */
	ck_assert_int_eq(vary_key("Vary: Accept-Encoding\r\nVary: ACCEPT-LANGUAGE, X-B",
	    "Accept-Language: en\r\nAccept-Encoding: br\r\naccept-language: fr ,  de", a,
	    sizeof(a), &al), CT_OK);
	ck_assert_int_eq(al, strlen("accept-encoding\n=br\naccept-language\n=en,fr,de\nx-b\n!\n"));
	ck_assert(memcmp(a, "accept-encoding\n=br\naccept-language\n=en,fr,de\nx-b\n!\n", al) == 0);

	/* no Vary: an empty key */
	ck_assert_int_eq(vary_key("", "X: 1", a, sizeof(a), &al), CT_OK);
	ck_assert_int_eq(al, 0);

	ck_assert_int_eq(vary_key("Vary: *", "", a, sizeof(a), &al), CT_DECLINED);
	ck_assert_int_eq(vary_key("Vary: X, *", "", a, sizeof(a), &al), CT_DECLINED);

	/* bounded: the exact size fits, one byte less does not */
	ck_assert_int_eq(vary_key("Vary: X-A", "X-A: 1", a, 7, &al), CT_OK);
	ck_assert(al == 7 && memcmp(a, "x-a\n=1\n", 7) == 0);
	ck_assert_int_eq(vary_key("Vary: X-A", "X-A: 1", a, 6, &al), CT_ERROR);
	ck_assert_int_eq(vary_key("Vary: X-A", "", a, 0, &al), CT_ERROR);
}
END_TEST

struct key_case {
	const char *scheme, *host, *path;
	const char *want;             /* NULL: CT_ERROR */
};

static const struct key_case key_cases[] = {
	{ "http", "Example.COM:80", "/a?b", "http://example.com/a?b" },
	{ "http", "example.com", "/a?b", "http://example.com/a?b" },
	{ "http", "example.com.", "/a?b", "http://example.com/a?b" },
	{ "http", "EXAMPLE.com.:80", "/", "http://example.com/" },
	{ "HTTP", "example.com", "/", "http://example.com/" },
	{ "http", "example.com:", "/", "http://example.com/" },
	{ "http", "example.com:0080", "/", "http://example.com/" },
	{ "http", "example.com:8080", "/", "http://example.com:8080/" },
	{ "http", "example.com:08080", "/", "http://example.com:8080/" },
	{ "http", "example.com:443", "/", "http://example.com:443/" },
	{ "https", "example.com:443", "/", "https://example.com/" },
	{ "https", "example.com:80", "/", "https://example.com:80/" },
	{ "http", "example.com", "", "http://example.com/" },
	{ "http", "example.com", "/A/%7e?Q", "http://example.com/A/%7e?Q" },
	{ "http", "[::1]:80", "/", "http://[::1]/" },
	{ "http", "[::1]:8080", "/", "http://[::1]:8080/" },
	{ "http", "[FE80::1]", "/", "http://[fe80::1]/" },
	{ "http", "10.0.0.1:80", "/", "http://10.0.0.1/" },
	{ "http", ".", "/", "http://./" },
	{ "http", "[::1]x", "/", NULL },
	{ "http", "[::1", "/", NULL },
	{ "http", "a:b:c", "/", NULL },
	{ "http", "a]:80", "/", NULL },
	{ "http", "example.com:65536", "/", NULL },
	{ "http", "example.com:65535", "/", "http://example.com:65535/" },
	{ "http", "example.com:8x", "/", NULL },
	{ "http", "exa mple", "/", NULL },
	{ "http", "exa/mple", "/", NULL },
	{ "", "example.com", "/", NULL },
};

START_TEST(test_key)
{
	const struct key_case *c = &key_cases[_i];
	char out[256];
	size_t len = 0;
	int rc = http_cache_key(slice(c->scheme), gslice(c->host), slice(c->path), out,
	    sizeof(out), &len);

	if (c->want == NULL) {
		ck_assert_msg(rc == CT_ERROR, "%s %s: accepted", c->scheme, c->host);
		return;
	}
	ck_assert_msg(rc == CT_OK, "%s %s: refused", c->scheme, c->host);
	ck_assert_msg(len == strlen(c->want) && memcmp(out, c->want, len) == 0,
	    "%s %s %s: \"%.*s\", want \"%s\"", c->scheme, c->host, c->path, (int)len, out, c->want);
	/* the exact size fits, a byte less does not */
	ck_assert_int_eq(http_cache_key(slice(c->scheme), slice(c->host), slice(c->path), out,
	    len, &len), CT_OK);
	ck_assert_int_eq(http_cache_key(slice(c->scheme), slice(c->host), slice(c->path), out,
	    len - 1, &len), CT_ERROR);
}
END_TEST

struct url_key_case {
	const char *url;
	const char *want;             /* NULL: CT_ERROR */
};

static const struct url_key_case url_key_cases[] = {
	{ "http://Example.COM:80/a?b", "http://example.com/a?b" },
	{ "https://example.com:443", "https://example.com/" },
	{ "HTTPS://example.com:8443/", "https://example.com:8443/" },
	{ "http://example.com?x=1", "http://example.com/?x=1" },
	{ "http://example.com/a/./b/../c//d?q=/../", "http://example.com/a/c/d?q=/../" },
	{ "http://example.com/%7euser/%2f", "http://example.com/~user/%2F" },
	{ "http://example.com/a#frag", "http://example.com/a" },
	{ "http://example.com#frag", "http://example.com/" },
	{ "http://example.com/img/", "http://example.com/img/" },
	{ "http://[::1]:80/x", "http://[::1]/x" },
	{ "http://example.com./x", "http://example.com/x" },
	{ "ftp://example.com/a", NULL },
	{ "example.com/a", NULL },
	{ "/a", NULL },
	{ "http:/example.com/a", NULL },
	{ "http://", NULL },
	{ "http:///a", NULL },
	{ "http://user@example.com/a", NULL },
	{ "http://example.com:99999/", NULL },
	{ "http://exa_mple.com:8x/", NULL },
	{ "http://example.com/a b", NULL },
	{ "http://example.com/a\tb", NULL },
	{ "http://example.com/../a", NULL },
	{ "http://example.com/%zz", NULL },
	{ "", NULL },
};

START_TEST(test_url_key)
{
	const struct url_key_case *c = &url_key_cases[_i];
	const char *why = NULL;
	char out[256];
	size_t len = 0;
	int rc = http_cache_url_key(gslice(c->url), out, sizeof(out), &len, &why);

	if (c->want == NULL) {
		ck_assert_msg(rc == CT_ERROR, "%s: accepted as \"%.*s\"", c->url, (int)len, out);
		ck_assert_msg(why != NULL && *why != '\0', "%s: no reason", c->url);
		return;
	}
	ck_assert_msg(rc == CT_OK, "%s: refused: %s", c->url, why);
	ck_assert_msg(len == strlen(c->want) && memcmp(out, c->want, len) == 0,
	    "%s: \"%.*s\", want \"%s\"", c->url, (int)len, out, c->want);
	/* a byte less than the key does not fit (normalising takes the path's room as written) */
	ck_assert_int_eq(http_cache_url_key(slice(c->url), out, len - 1, &len, &why), CT_ERROR);
	ck_assert_str_eq(why, "the URL is too long");
}
END_TEST

/* The path routes see, as the worker keys it (out: the request's path length at least). */
static struct http_slice
route_path(const struct http_request *r, char *out)
{
	struct http_slice p = r->path;
	const char *why;
	size_t len;
	int rc = http_path_normalize(p, out, &len, &why);

	ck_assert(rc == CT_OK || rc == CT_DECLINED);
	if (rc == CT_OK) {
		p.p = out;
		p.len = len;
	}
	return p;
}

/* A purge's URL gives the key the worker makes of a request for it. */
static const char *const url_same_targets[] = {
	"/a/b?x", "/a/./b?x", "/a//b?x", "/%61/b?x", "/a/c/../b?x", "/", "/~u/%2f?q=%7e",
};

START_TEST(test_url_key_as_worker)
{
	char head[512], norm[256], want[256], got[256], url[300];
	struct http_request r;
	struct http_slice path;
	size_t wl = 0, gl = 0;
	const char *why = NULL;

	snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: Example.com:80\r\n\r\n",
	    url_same_targets[_i]);
	ck_assert_int_eq(http_parse_request(head, strlen(head), NULL, &r), CT_OK);
	path = route_path(&r, norm);
	ck_assert_int_eq(http_cache_key(slice("http"), r.host, path, want, sizeof(want), &wl),
	    CT_OK);
	snprintf(url, sizeof(url), "http://EXAMPLE.com%s", url_same_targets[_i]);
	ck_assert_msg(http_cache_url_key(slice(url), got, sizeof(got), &gl, &why) == CT_OK,
	    "%s: %s", url, why);
	ck_assert_msg(gl == wl && memcmp(got, want, wl) == 0, "%s: \"%.*s\", the worker's \"%.*s\"",
	    url, (int)gl, got, (int)wl, want);
}
END_TEST

struct inval_case {
	const char *name;
	const char *method;
	int status;
	const char *fields;
	const char *want[3];
};

static const struct inval_case inval_cases[] = {
	{ "GET", "GET", 200, "Location: /x", { NULL } },
	{ "HEAD", "HEAD", 200, "", { NULL } },
	{ "OPTIONS", "OPTIONS", 200, "", { NULL } },
	{ "POST 404", "POST", 404, "", { NULL } },
	{ "POST 500", "POST", 500, "", { NULL } },
	{ "POST 199", "POST", 199, "", { NULL } },
	{ "POST 200", "POST", 200, "", { "http://example.com/a/b?x" } },
	{ "DELETE 204", "DELETE", 204, "", { "http://example.com/a/b?x" } },
	{ "POST 399", "POST", 399, "", { "http://example.com/a/b?x" } },
	{ "lower-case post", "post", 200, "", { "http://example.com/a/b?x" } },
	{ "Location path", "POST", 201, "Location: /a/c", { "http://example.com/a/b?x",
	    "http://example.com/a/c" } },
	{ "both", "PUT", 200, "Location: /l\r\nContent-Location: /cl", {
	    "http://example.com/a/b?x", "http://example.com/l", "http://example.com/cl" } },
	{ "absolute, same origin", "POST", 302, "Location: http://EXAMPLE.com:80/z", {
	    "http://example.com/a/b?x", "http://example.com/z" } },
	{ "absolute, no path", "POST", 302, "Location: http://example.com?q", {
	    "http://example.com/a/b?x", "http://example.com/?q" } },
	{ "other host", "POST", 302, "Location: http://other.com/z", {
	    "http://example.com/a/b?x" } },
	{ "other port", "POST", 302, "Location: http://example.com:81/z", {
	    "http://example.com/a/b?x" } },
	{ "other scheme", "POST", 302, "Location: https://example.com/z", {
	    "http://example.com/a/b?x" } },
	{ "network path", "POST", 302, "Content-Location: //example.com./q", {
	    "http://example.com/a/b?x", "http://example.com/q" } },
	{ "relative", "POST", 200, "Content-Location: d?e", {
	    "http://example.com/a/b?x", "http://example.com/a/d?e" } },
	{ "query only", "POST", 200, "Content-Location: ?y", {
	    "http://example.com/a/b?x", "http://example.com/a/b?y" } },
	{ "fragment", "POST", 200, "Content-Location: /a/c#f", {
	    "http://example.com/a/b?x", "http://example.com/a/c" } },
	{ "the request's own", "POST", 200, "Content-Location: /a/b?x", {
	    "http://example.com/a/b?x" } },
	{ "userinfo", "POST", 302, "Location: http://u@example.com/z", {
	    "http://example.com/a/b?x" } },
	{ "bad port", "POST", 302, "Location: http://example.com:99999/z", {
	    "http://example.com/a/b?x" } },
	{ "no authority", "POST", 302, "Location: http:/z", { "http://example.com/a/b?x" } },
	/* references resolved with their dot segments removed (RFC 3986 5.2.4) */
	{ "Location ./", "POST", 201, "Location: ./c", { "http://example.com/a/b?x",
	    "http://example.com/a/c" } },
	{ "Location ../", "POST", 201, "Location: ../c?q", { "http://example.com/a/b?x",
	    "http://example.com/c?q" } },
	{ "Location above the root", "POST", 201, "Location: ../../../c", {
	    "http://example.com/a/b?x", "http://example.com/c" } },
	{ "Location dots in an absolute path", "POST", 201, "Location: /a/./d/../c/.", {
	    "http://example.com/a/b?x", "http://example.com/a/c/" } },
	{ "Location dots in an absolute URI", "POST", 201,
	    "Location: http://example.com/x/../a/c", { "http://example.com/a/b?x",
	    "http://example.com/a/c" } },
	{ "Location dots not in the query", "POST", 201, "Location: /a/c?../.", {
	    "http://example.com/a/b?x", "http://example.com/a/c?../." } },
	{ "Location resolves to the request's", "POST", 201, "Content-Location: ./b?x", {
	    "http://example.com/a/b?x" } },
	{ "Location .. alone", "POST", 201, "Location: ..", { "http://example.com/a/b?x",
	    "http://example.com/" } },
	/* and normalised as routes see paths: escapes of unreserved bytes, runs of '/' */
	{ "Location escapes", "POST", 201, "Location: /a/%63%2f", {
	    "http://example.com/a/b?x", "http://example.com/a/c%2F" } },
	{ "Location slashes", "POST", 201, "Location: //example.com//a//c", {
	    "http://example.com/a/b?x", "http://example.com/a/c" } },
	{ "Location escaped dots", "POST", 201, "Location: /a/%2e%2e/c", {
	    "http://example.com/a/b?x", "http://example.com/c" } },
	{ "Location escaped dots above the root", "POST", 201, "Location: /%2e%2e/c", {
	    "http://example.com/a/b?x" } },
	{ "Location bad escape", "POST", 201, "Location: /a/%zz", {
	    "http://example.com/a/b?x" } },
};

/* The request's own key, from the path routes see: targets that all normalise to /a/b?x. */
static const char *const inval_targets[] = {
	"/a/b?x", "/a/./b?x", "/a//z/../b?x", "/%61/b?x", "/a/c/../b?x",
};

START_TEST(test_invalidations)
{
	const struct inval_case *c = &inval_cases[_i];
	struct http_slice keys[3];
	char buf[512], path[512];
	size_t n = 99, k, want_n = 0;

	while (want_n < 3 && c->want[want_n] != NULL)
		want_n++;
	req_make(&req, c->method, "/a/b?x", strcmp(c->method, "POST") == 0 ||
	    strcmp(c->method, "post") == 0 ? "Content-Length: 0" : "");
	resp_make(&resp, c->status, c->fields);
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), route_path(&req, path),
	    &resp, buf, sizeof(buf), keys, &n), CT_OK);
	ck_assert_msg(n == want_n, "%s: %zu keys, want %zu", c->name, n, want_n);
	for (k = 0; k < n; k++)
		ck_assert_msg(keys[k].len == strlen(c->want[k]) &&
		    memcmp(keys[k].p, c->want[k], keys[k].len) == 0, "%s: key %zu \"%.*s\"",
		    c->name, k, (int)keys[k].len, keys[k].p);
}
END_TEST

START_TEST(test_invalidations_path)
{
	struct http_slice keys[3];
	char buf[512], path[512];
	size_t n = 99;

	req_make(&req, "POST", inval_targets[_i], "Content-Length: 0");
	resp_make(&resp, 201, "Location: c");
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), route_path(&req, path),
	    &resp, buf, sizeof(buf), keys, &n), CT_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_msg(keys[0].len == 24 && memcmp(keys[0].p, "http://example.com/a/b?x", 24) == 0,
	    "%s: \"%.*s\"", inval_targets[_i], (int)keys[0].len, keys[0].p);
	ck_assert_msg(keys[1].len == 22 && memcmp(keys[1].p, "http://example.com/a/c", 22) == 0,
	    "%s: \"%.*s\"", inval_targets[_i], (int)keys[1].len, keys[1].p);
}
END_TEST

START_TEST(test_invalidations_short)
{
	struct http_slice keys[3], a = slice("/a");
	char buf[64];
	size_t n;

	req_make(&req, "DELETE", "/a", "");
	resp_make(&resp, 200, "Location: /bbbbbbbbbbbbbbbbbbbb");
	/* "http://example.com/a" is 20 bytes, the Location's key 39 */
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), a, &resp, buf, 59, keys, &n),
	    CT_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(keys[1].len, 39);
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), a, &resp, buf, 58, keys, &n),
	    CT_ERROR);
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), a, &resp, buf, 19, keys, &n),
	    CT_ERROR);
	ck_assert_int_eq(n, 0);

	/* the reference's key as resolved must fit before its dots go: 20 + 27 */
	resp_make(&resp, 200, "Location: /b/../%63");
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), a, &resp, buf, 47, keys, &n),
	    CT_OK);
	ck_assert_int_eq(n, 2);
	ck_assert_msg(keys[1].len == 20 && memcmp(keys[1].p, "http://example.com/c", 20) == 0,
	    "\"%.*s\"", (int)keys[1].len, keys[1].p);
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), a, &resp, buf, 46, keys, &n),
	    CT_ERROR);
	/* and one with escapes, its path's length again as scratch: 20 + 24 + 6 */
	resp_make(&resp, 200, "Location: /c/%63");
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), a, &resp, buf, 50, keys, &n),
	    CT_OK);
	ck_assert_msg(n == 2 && keys[1].len == 22 &&
	    memcmp(keys[1].p, "http://example.com/c/c", 22) == 0, "\"%.*s\"", (int)keys[1].len,
	    keys[1].p);
	ck_assert_int_eq(http_cache_invalidations(&req, slice("http"), a, &resp, buf, 49, keys, &n),
	    CT_ERROR);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Answering from the store                                            */
/* ------------------------------------------------------------------ */

struct hit_case {
	const char *name;
	int status;
	const char *stored;
	struct http_cache_hit hit;
	const char *want;             /* NULL: CT_ERROR */
};

#define HIT_STORED "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 99\r\nAge: 5\r\n" \
	"ETag: \"a\"\r\nX-A: 1\r\nContent-Type: text/plain"
#define HIT_FIELDS "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nETag: \"a\"\r\nX-A: 1\r\n" \
	"Content-Type: text/plain\r\n"

static const struct hit_case hit_cases[] = {
	{ "whole", 200, HIT_STORED, { .length = 10, .age = 7 },
	    "HTTP/1.1 200 X\r\n" HIT_FIELDS "Content-Length: 10\r\nAge: 7\r\n" },
	{ "came chunked", 200, "Transfer-Encoding: chunked\r\nX-B: y\r\nage: 1",
	    { .length = 0, .age = -3 }, "HTTP/1.1 200 X\r\nX-B: y\r\nContent-Length: 0\r\nAge: 0\r\n" },
	{ "Age capped", 404, "", { .length = 5, .age = INT64_MAX },
	    "HTTP/1.1 404 X\r\nContent-Length: 5\r\nAge: 2147483648\r\n" },
	{ "range", 200, HIT_STORED, { .length = 10, .age = 7, .range = HTTP_CACHE_RANGE_PARTIAL,
	    .first = 2, .last = 4 }, "HTTP/1.1 206 Partial Content\r\n" HIT_FIELDS
	    "Content-Range: bytes 2-4/10\r\nContent-Length: 3\r\nAge: 7\r\n" },
	{ "range of one byte", 200, "", { .length = 1, .range = HTTP_CACHE_RANGE_PARTIAL },
	    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/1\r\n"
	    "Content-Length: 1\r\nAge: 0\r\n" },
	{ "range past the end", 200, "", { .length = 10, .range = HTTP_CACHE_RANGE_PARTIAL,
	    .first = 2, .last = 10 }, NULL },
	{ "range reversed", 200, "", { .length = 10, .range = HTTP_CACHE_RANGE_PARTIAL,
	    .first = 3, .last = 2 }, NULL },
	{ "unsatisfiable is no hit", 200, "", { .length = 10,
	    .range = HTTP_CACHE_RANGE_UNSATISFIABLE }, NULL },
};

START_TEST(test_hit_head)
{
	const struct hit_case *c = &hit_cases[_i];
	char out[1024];
	size_t len = 0;
	int rc;

	resp_make(&resp, c->status, c->stored);
	rc = http_cache_hit_head_write(&resp, &c->hit, out, sizeof(out), &len);
	if (c->want == NULL) {
		ck_assert_msg(rc == CT_ERROR, "%s", c->name);
		return;
	}
	ck_assert_msg(rc == CT_OK, "%s", c->name);
	ck_assert_msg(len == strlen(c->want) && memcmp(out, c->want, len) == 0,
	    "%s: \"%.*s\", want \"%s\"", c->name, (int)len, out, c->want);
	ck_assert_int_eq(http_cache_hit_head_write(&resp, &c->hit, out, len, &len), CT_OK);
	ck_assert_int_eq(http_cache_hit_head_write(&resp, &c->hit, out, len - 1, &len), CT_ERROR);
}
END_TEST

START_TEST(test_hit_head_parses)
{
	static const struct http_cache_hit hit = { .length = 3, .age = 9 };
	char out[1024];
	size_t len;

	/* what the caller ends with CRLF is a head the proxy's own parser takes */
	resp_make(&resp, 200, HIT_STORED);
	ck_assert_int_eq(http_cache_hit_head_write(&resp, &hit, out, sizeof(out) - 2, &len), CT_OK);
	memcpy(out + len, "\r\n", 2);
	ck_assert_int_eq(http_parse_response(out, len + 2, NULL, 0, &resp2), CT_OK);
	ck_assert_int_eq(resp2.h.framing, HTTP_BODY_LENGTH);
	ck_assert_uint_eq(resp2.h.content_length, 3);
	ck_slice_is(http_header_find(&resp2.h, "age")->value, "9");
	ck_assert_uint_eq(resp2.h.nheaders, 6);
}
END_TEST

START_TEST(test_304_head)
{
	static const char want[] = "HTTP/1.1 304 Not Modified\r\n"
	    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nETag: \"a\"\r\n"
	    "Cache-Control: max-age=60\r\nExpires: Sun, 06 Nov 1994 09:49:37 GMT\r\n"
	    "Vary: Accept-Encoding\r\nContent-Location: /a.en\r\nvary: Accept\r\nAge: 12\r\n";
	static const char want_lm[] = "HTTP/1.1 304 Not Modified\r\n"
	    "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\r\nAge: 0\r\n";
	char out[1024];
	size_t len = 0;

	resp_make(&resp, 200, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 10\r\n"
	    "ETag: \"a\"\r\nLast-Modified: Sun, 06 Nov 1994 08:32:57 GMT\r\n"
	    "Cache-Control: max-age=60\r\nExpires: Sun, 06 Nov 1994 09:49:37 GMT\r\n"
	    "Content-Type: text/plain\r\nVary: Accept-Encoding\r\nContent-Location: /a.en\r\n"
	    "Set-Cookie: a=b\r\nAge: 3\r\nvary: Accept\r\nContent-Encoding: gzip");
	ck_assert_int_eq(http_cache_304_head_write(&resp, 12, out, sizeof(out), &len), CT_OK);
	ck_assert_msg(len == strlen(want) && memcmp(out, want, len) == 0, "\"%.*s\"", (int)len,
	    out);
	ck_assert_int_eq(http_cache_304_head_write(&resp, 12, out, len, &len), CT_OK);
	ck_assert_int_eq(http_cache_304_head_write(&resp, 12, out, len - 1, &len), CT_ERROR);

	/* with no ETag, Last-Modified guides the client's cache */
	resp_make(&resp, 200, "Last-Modified: Sun, 06 Nov 1994 08:32:57 GMT\r\nX-A: 1");
	ck_assert_int_eq(http_cache_304_head_write(&resp, -1, out, sizeof(out), &len), CT_OK);
	ck_assert_msg(len == strlen(want_lm) && memcmp(out, want_lm, len) == 0, "\"%.*s\"",
	    (int)len, out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Cache-Status                                                        */
/* ------------------------------------------------------------------ */

struct status_case {
	struct http_cache_status cs;
	const char *want;             /* NULL: CT_ERROR */
};

static const struct status_case status_cases[] = {
	{ { .cache = "cuttle", .hit = 1, .has_ttl = 1, .ttl = 376 }, "cuttle; hit; ttl=376" },
	{ { .cache = "cuttle", .hit = 1, .has_ttl = 1, .ttl = -5 }, "cuttle; hit; ttl=-5" },
	{ { .cache = "cuttle", .hit = 1, .has_ttl = 1, .ttl = 0 }, "cuttle; hit; ttl=0" },
	{ { .cache = "cuttle", .hit = 1, .has_ttl = 1, .ttl = INT64_MAX },
	    "cuttle; hit; ttl=999999999999999" },
	{ { .cache = "cuttle", .hit = 1, .has_ttl = 1, .ttl = INT64_MIN },
	    "cuttle; hit; ttl=-999999999999999" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_MISS, .stored = 1 },
	    "cuttle; fwd=miss; stored" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_STALE, .fwd_status = 304 },
	    "cuttle; fwd=stale; fwd-status=304" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_URI_MISS, .fwd_status = 200, .stored = 1,
	    .collapsed = 1 }, "cuttle; fwd=uri-miss; fwd-status=200; stored; collapsed" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_BYPASS }, "cuttle; fwd=bypass" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_METHOD }, "cuttle; fwd=method" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_VARY_MISS }, "cuttle; fwd=vary-miss" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_REQUEST }, "cuttle; fwd=request" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_PARTIAL }, "cuttle; fwd=partial" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_MISS, .fwd_status = 99 }, "cuttle; fwd=miss" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_MISS, .detail = "no-store" },
	    "cuttle; fwd=miss; detail=no-store" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_MISS, .detail = "a b" },
	    "cuttle; fwd=miss; detail=\"a b\"" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_MISS, .detail = "say \"x\\y\"" },
	    "cuttle; fwd=miss; detail=\"say \\\"x\\\\y\\\"\"" },
	{ { .cache = "cuttle", .fwd = HTTP_CACHE_FWD_MISS, .detail = "1x" },
	    "cuttle; fwd=miss; detail=\"1x\"" },
	{ { .cache = "My Cache", .hit = 1 }, "\"My Cache\"; hit" },
	{ { .cache = "*c:1/2", .hit = 1 }, "*c:1/2; hit" },
	{ { .cache = "", .hit = 1 }, "\"\"; hit" },
	{ { .cache = "cuttle", .detail = "a\nb" }, NULL },
	{ { .cache = "caf\xc3\xa9" }, NULL },
	{ { .cache = NULL, .hit = 1 }, NULL },
	{ { .cache = "cuttle", .fwd = (enum http_cache_fwd)42 }, NULL },
};

START_TEST(test_cache_status)
{
	const struct status_case *c = &status_cases[_i];
	char out[128];
	size_t len = 0;
	int rc = http_cache_status_write(&c->cs, out, sizeof(out), &len);

	if (c->want == NULL) {
		ck_assert_int_eq(rc, CT_ERROR);
		return;
	}
	ck_assert_int_eq(rc, CT_OK);
	ck_assert_msg(len == strlen(c->want) && memcmp(out, c->want, len) == 0,
	    "\"%.*s\", want \"%s\"", (int)len, out, c->want);
	ck_assert_int_eq(http_cache_status_write(&c->cs, out, len, &len), CT_OK);
	ck_assert_int_eq(http_cache_status_write(&c->cs, out, len - 1, &len), CT_ERROR);
}
END_TEST

Suite *
suite_http_cache(void)
{
	Suite *s = suite_create("http_cache");
	TCase *tc;

	tc = tcase_create("cache-control");
	tcase_add_loop_test(tc, test_cc_values, 0, CT_NELEM(cc_cases));
	tcase_add_test(tc, test_cc_fields_combine);
	tcase_add_test(tc, test_cc_pragma);
	tcase_add_test(tc, test_field_listed);
	tcase_add_loop_test(tc, test_delta, 0, CT_NELEM(delta_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("dates");
	tcase_add_loop_test(tc, test_date, 0, CT_NELEM(date_cases));
	tcase_add_test(tc, test_date_rfc850_now);
	suite_add_tcase(s, tc);

	tc = tcase_create("storing");
	tcase_add_loop_test(tc, test_storable, 0, CT_NELEM(store_cases));
	tcase_add_test(tc, test_store_names);
	tcase_add_test(tc, test_status_classes);
	tcase_add_test(tc, test_field_kept);
	suite_add_tcase(s, tc);

	tc = tcase_create("freshness");
	tcase_add_loop_test(tc, test_lifetime, 0, CT_NELEM(lifetime_cases));
	tcase_add_test(tc, test_age_formulas);
	tcase_add_test(tc, test_meta_make);
	suite_add_tcase(s, tc);

	tc = tcase_create("serving");
	tcase_add_loop_test(tc, test_serve, 0, CT_NELEM(serve_cases));
	tcase_add_test(tc, test_serve_nothing_stored);
	tcase_add_loop_test(tc, test_stale_if_error, 0, CT_NELEM(sie_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("conditional");
	tcase_add_loop_test(tc, test_conditional, 0, CT_NELEM(cond_cases));
	tcase_add_test(tc, test_etag_match);
	tcase_add_test(tc, test_validators);
	tcase_add_test(tc, test_update_plan);
	tcase_add_loop_test(tc, test_304_selects, 0, CT_NELEM(selects_cases));
	tcase_add_loop_test(tc, test_head_freshens, 0, CT_NELEM(head_cases));
	tcase_add_test(tc, test_head_freshens_no_stored_validator);
	suite_add_tcase(s, tc);

	tc = tcase_create("range");
	tcase_add_loop_test(tc, test_range, 0, CT_NELEM(range_cases));
	tcase_add_loop_test(tc, test_if_range, 0, CT_NELEM(if_range_cases));
	tcase_add_loop_test(tc, test_content_range_write, 0, CT_NELEM(crange_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_vary_key);
	tcase_add_loop_test(tc, test_key, 0, CT_NELEM(key_cases));
	tcase_add_loop_test(tc, test_url_key, 0, CT_NELEM(url_key_cases));
	tcase_add_loop_test(tc, test_url_key_as_worker, 0, CT_NELEM(url_same_targets));
	tcase_add_loop_test(tc, test_invalidations, 0, CT_NELEM(inval_cases));
	tcase_add_loop_test(tc, test_invalidations_path, 0, CT_NELEM(inval_targets));
	tcase_add_test(tc, test_invalidations_short);
	tcase_add_loop_test(tc, test_cache_status, 0, CT_NELEM(status_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("answers");
	tcase_add_loop_test(tc, test_hit_head, 0, CT_NELEM(hit_cases));
	tcase_add_test(tc, test_hit_head_parses);
	tcase_add_test(tc, test_304_head);
	suite_add_tcase(s, tc);
	return s;
}

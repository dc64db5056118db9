/*
 * lib/http_parse.c: request and response heads, chunked bodies.  Every
 * input is copied so that it ends right before an unreadable page: a
 * parser that reads one byte too far crashes the test.  Rejected inputs
 * are one named line each, with the status and reason they must give.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/http_parse.h"
#include "t/unit/guard.h"
#include "t/unit/suites.h"

/* A string literal with its length, NULs inside included. */
#define S(lit) lit, sizeof(lit) - 1

static char *
guarded_rw(const char *s, size_t n)
{
	return guard_copy(s, n);
}

static const char *
guarded(const char *s, size_t n)
{
	return guarded_rw(s, n);
}

static int
req_parse(const char *s, size_t n, const struct http_limits *lim,
    struct http_request *req)
{
	return http_parse_request(guarded(s, n), n, lim, req);
}

static int
resp_parse(const char *s, size_t n, int head_request, struct http_response *resp)
{
	return http_parse_response(guarded(s, n), n, NULL, head_request, resp);
}

/* Case-sensitive: the parser must give back the bytes as sent. */
static int
slice_is(struct http_slice s, const char *str)
{
	return s.len == strlen(str) && memcmp(s.p, str, s.len) == 0;
}

#define ck_assert_slice(s, str) \
	ck_assert_msg(slice_is((s), (str)), "got \"%.*s\", want \"%s\"", \
	    (int)(s).len, (s).p, (str))

/* Parses a whole request literal that must be accepted. */
#define REQ_OK(req, lit) \
	ck_assert_int_eq(req_parse(S(lit), NULL, &(req)), CT_OK)

#define RESP_OK(resp, lit, head) \
	ck_assert_int_eq(resp_parse(S(lit), (head), &(resp)), CT_OK)

/* ------------------------------------------------------------------ */
/* Rejected requests                                                   */
/* ------------------------------------------------------------------ */

struct bad_case {
	const char *name;
	const char *in;
	size_t len;
	int status;
	const char *why;
};

#define GET "GET / HTTP/1.1\r\nHost: a\r\n"
#define POST "POST / HTTP/1.1\r\nHost: a\r\n"

static const struct bad_case request_bad[] = {
	/* framing */
	{ "CL and TE", S(POST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  400, "both Content-Length and Transfer-Encoding" },
	{ "TE and CL", S(POST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	  400, "both Content-Length and Transfer-Encoding" },
	{ "two differing CLs", S(POST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	  400, "differing Content-Length values" },
	{ "CL list differing", S(POST "Content-Length: 5, 6\r\n\r\n"),
	  400, "differing Content-Length values" },
	{ "CL +5", S(POST "Content-Length: +5\r\n\r\n"), 400, "invalid Content-Length" },
	{ "CL -5", S(POST "Content-Length: -5\r\n\r\n"), 400, "invalid Content-Length" },
	{ "CL space inside",
	  S(POST "Content-Length: 5 5\r\n\r\n"), 400, "invalid Content-Length" },
	{ "CL letters",
	  S(POST "Content-Length: 5a\r\n\r\n"), 400, "invalid Content-Length" },
	{ "CL hex",
	  S(POST "Content-Length: 0x5\r\n\r\n"), 400, "invalid Content-Length" },
	{ "CL empty", S(POST "Content-Length:\r\n\r\n"), 400, "invalid Content-Length" },
	{ "CL empty list element", S(POST "Content-Length: 5,\r\n\r\n"),
	  400, "invalid Content-Length" },
	{ "CL overflow", S(POST "Content-Length: 99999999999999999999999\r\n\r\n"),
	  400, "Content-Length too large" },
	{ "CL 2^62+1", S(POST "Content-Length: 4611686018427387905\r\n\r\n"),
	  400, "Content-Length too large" },
	{ "TE gzip, chunked", S(POST "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	  501, "unsupported transfer coding" },
	{ "TE chunked, gzip", S(POST "Transfer-Encoding: chunked, gzip\r\n\r\n"),
	  400, "chunked is not the last transfer coding" },
	{ "TE x-foo", S(POST "Transfer-Encoding: x-foo\r\n\r\n"),
	  501, "unsupported transfer coding" },
	{ "TE identity", S(POST "Transfer-Encoding: identity\r\n\r\n"),
	  501, "unsupported transfer coding" },
	{ "TE chunked twice", S(POST "Transfer-Encoding: chunked, chunked\r\n\r\n"),
	  400, "chunked applied more than once" },
	{ "TE chunked then gzip over two fields",
	  S(POST "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
	  400, "chunked is not the last transfer coding" },
	{ "TE empty",
	  S(POST "Transfer-Encoding: ,\r\n\r\n"), 400, "empty Transfer-Encoding" },
	{ "TE with a parameter", S(POST "Transfer-Encoding: chunked;q=1\r\n\r\n"),
	  400, "invalid Transfer-Encoding" },
	{ "TE in HTTP/1.0", S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  400, "Transfer-Encoding in HTTP/1.0" },
	{ "Connection not a token", S(GET "Connection: close;x\r\n\r\n"),
	  400, "invalid Connection" },
	/* field lines */
	{ "obs-fold", S(GET "X: a\r\n b\r\n\r\n"), 400, "obsolete line folding" },
	{ "obs-fold with tab",
	  S(GET "X: a\r\n\tb\r\n\r\n"), 400, "obsolete line folding" },
	{ "whitespace before first field", S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
	  400, "obsolete line folding" },
	{ "bare CR in value", S(GET "X: a\rb\r\n\r\n"), 400, "bare CR in field value" },
	{ "bare LF line end",
	  S("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), 400, "bare LF" },
	{ "bare LF ending the head", S(GET "\n"), 400, "bare LF" },
	{ "bare LF ending the request line", S("GET / HTTP/1.1\nHost: a\r\n\r\n"),
	  400, "bare LF" },
	{ "NUL in value", S(GET "X: a\0b\r\n\r\n"), 400, "NUL in field value" },
	{ "NUL in name",
	  S(GET "X\0Y: a\r\n\r\n"), 400, "invalid character in field name" },
	{ "NUL in target", S("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid character in request target" },
	{ "NUL in method", S("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid character in method" },
	{ "DEL in value",
	  S(GET "X: a\x7f\r\n\r\n"), 400, "invalid character in field value" },
	{ "control character in value", S(GET "X: a\x01z\r\n\r\n"),
	  400, "invalid character in field value" },
	{ "space before colon", S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
	  400, "whitespace before colon" },
	{ "tab before colon", S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
	  400, "whitespace before colon" },
	{ "empty field name", S(GET ": a\r\n\r\n"), 400, "empty field name" },
	{ "invalid token char in name", S(GET "a(b: c\r\n\r\n"),
	  400, "invalid character in field name" },
	{ "non-ASCII in name", S(GET "\xc3\xa9: c\r\n\r\n"),
	  400, "invalid character in field name" },
	{ "missing colon", S(GET "Xyz\r\n\r\n"), 400, "missing colon in field line" },
	/* request line */
	{ "invalid method chars", S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid character in method" },
	{ "leading space", S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "extra whitespace in request line" },
	{ "two spaces after method", S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "extra whitespace in request line" },
	{ "two spaces before version", S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "extra whitespace in request line" },
	{ "tab after method", S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid character in method" },
	{ "tab in target", S("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid character in request target" },
	{ "space in target", S("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid HTTP version" },
	{ "space after version", S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
	  400, "invalid HTTP version" },
	{ "missing version", S("GET /\r\nHost: a\r\n\r\n"), 400, "missing HTTP version" },
	{ "missing target", S("GET\r\nHost: a\r\n\r\n"), 400, "missing request target" },
	{ "HTTP/2.0",
	  S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505, "unsupported HTTP version" },
	{ "HTTP/0.9",
	  S("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505, "unsupported HTTP version" },
	{ "lowercase http/1.1", S("GET / http/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid HTTP version" },
	{ "HTTP/1.10",
	  S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
	{ "HTTP/1", S("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
	{ "HTTP/1.x",
	  S("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400, "invalid HTTP version" },
	{ "too many empty lines first",
	  S("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "too many empty lines before the request line" },
	{ "bare CR before the request line", S("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "bare CR" },
	{ "bare LF before the request line", S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "bare LF" },
	/* Host */
	{ "missing Host in 1.1", S("GET / HTTP/1.1\r\n\r\n"), 400, "missing Host field" },
	{ "missing Host with absolute form", S("GET http://a/ HTTP/1.1\r\n\r\n"),
	  400, "missing Host field" },
	{ "two Host fields", S(GET "Host: a\r\n\r\n"), 400, "duplicate Host field" },
	{ "two Host fields in 1.0", S("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"),
	  400, "duplicate Host field" },
	{ "Host with a space", S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
	  400, "invalid character in host" },
	{ "Host with userinfo", S("GET / HTTP/1.1\r\nHost: u:p@a\r\n\r\n"),
	  400, "userinfo in host" },
	{ "Host with a comma", S("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"),
	  400, "invalid character in host" },
	{ "Host with a slash", S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
	  400, "invalid character in host" },
	{ "Host port not a number", S("GET / HTTP/1.1\r\nHost: a:x\r\n\r\n"),
	  400, "invalid port" },
	{ "Host port too large", S("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"),
	  400, "invalid port" },
	{ "Host empty port",
	  S("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), 400, "invalid port" },
	{ "Host two ports",
	  S("GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n"), 400, "invalid port" },
	{ "Host bad IPv6", S("GET / HTTP/1.1\r\nHost: [zz::1]\r\n\r\n"),
	  400, "invalid IPv6 literal" },
	{ "Host unterminated IPv6", S("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
	  400, "unterminated IPv6 literal" },
	{ "Host IPv6 then junk", S("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"),
	  400, "invalid character after IPv6 literal" },
	{ "Host IPv6 without brackets", S("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n"),
	  400, "empty host" },
	{ "Host bad percent-encoding", S("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n"),
	  400, "invalid percent-encoding in host" },
	{ "Host cut percent-encoding", S("GET / HTTP/1.1\r\nHost: a%4\r\n\r\n"),
	  400, "invalid percent-encoding in host" },
	/* target forms */
	{ "CONNECT with origin form", S("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "CONNECT requires an authority-form target" },
	{ "CONNECT with asterisk", S("CONNECT * HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "CONNECT requires an authority-form target" },
	{ "CONNECT without port", S("CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "missing port" },
	{ "CONNECT with absolute form",
	  S("CONNECT http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid port" },
	{ "GET *", S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "asterisk-form is only for OPTIONS" },
	{ "GET with authority form", S("GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid request target" },
	{ "relative target", S("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid request target" },
	{ "non-ASCII in target", S("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid character in request target" },
	{ "fragment in target", S("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "fragment in request target" },
	{ "absolute form with ftp", S("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid request target" },
	{ "absolute form with userinfo", S("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "userinfo in host" },
	{ "absolute form without host", S("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "missing host in request target" },
	{ "absolute form with a bad port",
	  S("GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "invalid port" },
	{ "absolute form with query, no path",
	  S("GET http://a?q HTTP/1.1\r\nHost: a\r\n\r\n"),
	  400, "query without a path in request target" },
};

START_TEST(test_request_bad)
{
	const struct bad_case *c = &request_bad[_i];
	struct http_request req;
	int rc;

	rc = req_parse(c->in, c->len, NULL, &req);
	ck_assert_msg(rc == CT_ERROR, "%s: accepted (%d)", c->name, rc);
	ck_assert_msg(req.h.status == c->status, "%s: status %d, want %d",
	    c->name, req.h.status, c->status);
	ck_assert_ptr_nonnull(req.h.error);
	ck_assert_msg(strcmp(req.h.error, c->why) == 0, "%s: \"%s\", want \"%s\"",
	    c->name, req.h.error, c->why);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rejected responses                                                  */
/* ------------------------------------------------------------------ */

struct resp_bad_case {
	const char *name;
	const char *in;
	size_t len;
	int head_request;
	const char *why;
};

static const struct resp_bad_case response_bad[] = {
	{ "CL and TE",
	  S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  0, "both Content-Length and Transfer-Encoding" },
	{ "CL and TE on 204",
	  S("HTTP/1.1 204 No\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  0, "both Content-Length and Transfer-Encoding" },
	{ "CL and TE to HEAD",
	  S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  1, "both Content-Length and Transfer-Encoding" },
	{ "differing CLs",
	  S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
	  0, "differing Content-Length values" },
	{ "bad CL", S("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"),
	  0, "invalid Content-Length" },
	{ "bad CL to HEAD", S("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"),
	  1, "invalid Content-Length" },
	{ "chunked not last",
	  S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
	  0, "chunked is not the last transfer coding" },
	{ "unknown coding", S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
	  0, "unsupported transfer coding" },
	{ "TE in HTTP/1.0", S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  0, "Transfer-Encoding in HTTP/1.0" },
	{ "status 2000", S("HTTP/1.1 2000 OK\r\n\r\n"), 0, "invalid status code" },
	{ "status 099", S("HTTP/1.1 099 OK\r\n\r\n"), 0, "invalid status code" },
	{ "status 600", S("HTTP/1.1 600 OK\r\n\r\n"), 0, "invalid status code" },
	{ "status 20", S("HTTP/1.1 20 OK\r\n\r\n"), 0, "invalid status code" },
	{ "status with a letter",
	  S("HTTP/1.1 2x0 OK\r\n\r\n"), 0, "invalid status code" },
	{ "two spaces before status",
	  S("HTTP/1.1  200 OK\r\n\r\n"), 0, "invalid status code" },
	{ "tab before reason", S("HTTP/1.1 200\tOK\r\n\r\n"), 0, "invalid status code" },
	{ "missing status", S("HTTP/1.1\r\n\r\n"), 0, "missing status code" },
	{ "HTTP/2.0", S("HTTP/2.0 200 OK\r\n\r\n"), 0, "unsupported HTTP version" },
	{ "lowercase version", S("http/1.1 200 OK\r\n\r\n"), 0, "invalid HTTP version" },
	{ "empty line first",
	  S("\r\nHTTP/1.1 200 OK\r\n\r\n"), 0, "invalid HTTP version" },
	{ "bare CR in reason", S("HTTP/1.1 200 O\rK\r\n\r\n"),
	  0, "invalid character in reason phrase" },
	{ "NUL in reason", S("HTTP/1.1 200 O\0K\r\n\r\n"),
	  0, "invalid character in reason phrase" },
	{ "bare LF", S("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), 0, "bare LF" },
	{ "obs-fold",
	  S("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), 0, "obsolete line folding" },
	{ "space before colon", S("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"),
	  0, "whitespace before colon" },
	{ "NUL in value",
	  S("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n"), 0, "NUL in field value" },
};

START_TEST(test_response_bad)
{
	const struct resp_bad_case *c = &response_bad[_i];
	struct http_response resp;
	int rc;

	rc = resp_parse(c->in, c->len, c->head_request, &resp);
	ck_assert_msg(rc == CT_ERROR, "%s: accepted (%d)", c->name, rc);
	ck_assert_msg(resp.h.status == 502, "%s: status %d", c->name, resp.h.status);
	ck_assert_ptr_nonnull(resp.h.error);
	ck_assert_msg(strcmp(resp.h.error, c->why) == 0, "%s: \"%s\", want \"%s\"",
	    c->name, resp.h.error, c->why);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Accepted requests                                                   */
/* ------------------------------------------------------------------ */

/* Every known name in any case; a byte more, less or different is OTHER. */
START_TEST(test_field_ids_all)
{
	static const struct {
		const char *name;
		enum http_field_id id;
	} known[] = {
		{ "host", HTTP_F_HOST }, { "connection", HTTP_F_CONNECTION },
		{ "content-length", HTTP_F_CONTENT_LENGTH },
		{ "content-type", HTTP_F_CONTENT_TYPE },
		{ "transfer-encoding", HTTP_F_TRANSFER_ENCODING },
		{ "accept-encoding", HTTP_F_ACCEPT_ENCODING },
		{ "content-encoding", HTTP_F_CONTENT_ENCODING },
		{ "upgrade", HTTP_F_UPGRADE }, { "keep-alive", HTTP_F_KEEP_ALIVE },
		{ "te", HTTP_F_TE }, { "trailer", HTTP_F_TRAILER },
		{ "proxy-connection", HTTP_F_PROXY_CONNECTION },
		{ "proxy-authorization", HTTP_F_PROXY_AUTHORIZATION },
		{ "expect", HTTP_F_EXPECT }, { "x-forwarded-for", HTTP_F_X_FORWARDED_FOR },
		{ "x-forwarded-proto", HTTP_F_X_FORWARDED_PROTO },
		{ "x-forwarded-host", HTTP_F_X_FORWARDED_HOST }, { "via", HTTP_F_VIA },
		{ "forwarded", HTTP_F_FORWARDED }, { "content-range", HTTP_F_CONTENT_RANGE },
		{ "cache-control", HTTP_F_CACHE_CONTROL }, { "cookie", HTTP_F_COOKIE },
	};
	char buf[64];
	size_t i, j, n;

	for (i = 0; i < CT_NELEM(known); i++) {
		n = strlen(known[i].name);
		memcpy(buf, known[i].name, n);
		ck_assert_int_eq(http_field_id((struct http_slice){ buf, n }), known[i].id);
		for (j = 0; j < n; j++)
			buf[j] = (char)(j % 2 == 0 && buf[j] >= 'a' ? buf[j] - 'a' + 'A' : buf[j]);
		ck_assert_int_eq(http_field_id((struct http_slice){ buf, n }), known[i].id);
		ck_assert_int_eq(http_field_id((struct http_slice){ buf, n - 1 }), HTTP_F_OTHER);
		buf[n] = 's';
		ck_assert_int_eq(http_field_id((struct http_slice){ buf, n + 1 }), HTTP_F_OTHER);
		for (j = 0; j < n; j++) {
			buf[j] ^= 0x01;
			ck_assert_msg(http_field_id((struct http_slice){ buf, n }) == HTTP_F_OTHER,
			    "%s with byte %zu changed", known[i].name, j);
			buf[j] ^= 0x01;
		}
	}
}
END_TEST

/*
 * Every byte in a field name, a field value and a Host: accepted
 * exactly when RFC 9110 and RFC 3986 allow it there.
 */
START_TEST(test_byte_classes)
{
	static const char tchar_punct[] = "!#$%&'*+-.^_`|~";
	static const char regname_punct[] = "-._~!$&'()*+;=";
	char in[128];
	struct http_request req;
	int c, alnum, want, len;

	for (c = 1; c < 256; c++) {
		if (c == '\r' || c == '\n' || c == ':')
			continue;
		alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		len = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX%cY: v\r\n\r\n", c);
		want = alnum || strchr(tchar_punct, c) != NULL;
		ck_assert_msg((req_parse(in, (size_t)len, NULL, &req) == CT_OK) == want,
		    "byte 0x%02x in a field name", c);

		len = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX: a%cb\r\n\r\n", c);
		want = c == '\t' || (c >= ' ' && c != 0x7f);
		ck_assert_msg((req_parse(in, (size_t)len, NULL, &req) == CT_OK) == want,
		    "byte 0x%02x in a field value", c);

		len = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a%cb\r\n\r\n", c);
		want = alnum || strchr(regname_punct, c) != NULL;
		ck_assert_msg((req_parse(in, (size_t)len, NULL, &req) == CT_OK) == want,
		    "byte 0x%02x in Host", c);
	}
}
END_TEST

/* The character helpers lib/http_parse.h shares, over every byte. */
START_TEST(test_char_helpers)
{
	static const char tchar_punct[] = "!#$%&'*+-.^_`|~";
	int c, alpha, digit;

	for (c = 0; c < 256; c++) {
		alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		digit = c >= '0' && c <= '9';
		ck_assert_msg(!http_is_tchar((unsigned char)c) == !(alpha || digit ||
		    (c != 0 && strchr(tchar_punct, c) != NULL)), "tchar 0x%02x", c);
		ck_assert_msg(!http_is_digit((unsigned char)c) == !digit, "digit 0x%02x", c);
		ck_assert_msg(!http_is_ws((unsigned char)c) == !(c == ' ' || c == '\t'),
		    "ws 0x%02x", c);
		ck_assert_msg(http_lower((unsigned char)c) == (c >= 'A' && c <= 'Z' ? c + 32 : c),
		    "lower 0x%02x", c);
	}
	ck_assert(http_icase_eq("Cache-CONTROL", "cache-control", 13));
	ck_assert(!http_icase_eq("a[", "A{", 2));
	ck_assert(http_icase_eq("x", "y", 0));
	ck_assert(http_slice_is((struct http_slice){ "GET", 3 }, "GET"));
	ck_assert(!http_slice_is((struct http_slice){ "get", 3 }, "GET"));
	ck_assert(!http_slice_is((struct http_slice){ "GETS", 4 }, "GET"));
	ck_assert(!http_slice_is((struct http_slice){ "GE", 2 }, "GET"));
}
END_TEST

/* Field ids: case-insensitive, exact length, OTHER for the rest. */
START_TEST(test_field_ids)
{
	static const char in[] = "GET / HTTP/1.1\r\nHOST: h\r\nconnection: keep-alive, X-Drop\r\n"
	    "X-Forwarded-For: 1.2.3.4\r\nContent-Lengthx: 1\r\nTE: trailers\r\n"
	    "Cookie: a=b\r\nVia: 1.1 x\r\n\r\n";
	static const enum http_field_id want[] = { HTTP_F_HOST, HTTP_F_CONNECTION,
	    HTTP_F_X_FORWARDED_FOR, HTTP_F_OTHER, HTTP_F_TE, HTTP_F_COOKIE, HTTP_F_VIA };
	struct http_request req;
	size_t i;

	REQ_OK(req, in);
	ck_assert_uint_eq(req.h.nheaders, CT_NELEM(want));
	for (i = 0; i < CT_NELEM(want); i++)
		ck_assert_int_eq(req.h.headers[i].id, want[i]);
	ck_assert(HTTP_F_IS_HOP(HTTP_F_TE) && HTTP_F_IS_HOP(HTTP_F_CONTENT_LENGTH));
	ck_assert(!HTTP_F_IS_HOP(HTTP_F_HOST) && !HTTP_F_IS_HOP(HTTP_F_OTHER));
	ck_assert_ptr_eq(http_header_find_id(&req.h, HTTP_F_VIA), &req.h.headers[6]);
	ck_assert_ptr_null(http_header_find_id(&req.h, HTTP_F_UPGRADE));
	/* X-Drop is an option of Connection: the proxy must look for it */
	ck_assert(req.h.conn_options);
	REQ_OK(req, "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\r\n");
	ck_assert(!req.h.conn_options);
	REQ_OK(req, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	ck_assert(req.h.conn_options && req.h.conn_close);
}
END_TEST

START_TEST(test_get_simple)
{
	static const char in[] = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\n"
	    "User-Agent: t\r\n\r\n";
	struct http_request req;

	REQ_OK(req, in);
	ck_assert_slice(req.method, "GET");
	ck_assert_slice(req.target, "/a/b?c=d");
	ck_assert_slice(req.path, "/a/b?c=d");
	ck_assert_slice(req.host, "example.com");
	ck_assert_int_eq(req.form, HTTP_TARGET_ORIGIN);
	ck_assert_int_eq(req.h.minor, 1);
	ck_assert_uint_eq(req.h.nheaders, 2);
	ck_assert_slice(req.h.headers[1].name, "User-Agent");
	ck_assert_slice(req.h.headers[1].value, "t");
	ck_assert_uint_eq(req.h.head_len, sizeof(in) - 1);
	ck_assert_int_eq(req.h.framing, HTTP_BODY_NONE);
	ck_assert(req.h.keep_alive);
	ck_assert(req.idempotent);
	ck_assert(!req.is_head && !req.is_connect && !req.expect_continue);
	ck_assert(!req.h.conn_close && !req.h.conn_upgrade && !req.h.has_upgrade);
}
END_TEST

START_TEST(test_absolute_form)
{
	struct http_request req;

	REQ_OK(req, "GET http://Example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
	ck_assert_int_eq(req.form, HTTP_TARGET_ABSOLUTE);
	ck_assert_slice(req.host, "Example.com:8080");
	ck_assert_slice(req.path, "/p?q=1");
	ck_assert_slice(req.target, "http://Example.com:8080/p?q=1");

	REQ_OK(req, "GET HTTPS://[::1]:443 HTTP/1.1\r\nHost: other\r\n\r\n");
	ck_assert_int_eq(req.form, HTTP_TARGET_ABSOLUTE);
	ck_assert_slice(req.host, "[::1]:443");
	ck_assert_slice(req.path, "/");

	/* HTTP/1.0 needs no Host, even here. */
	REQ_OK(req, "GET http://a/ HTTP/1.0\r\n\r\n");
	ck_assert_slice(req.host, "a");
	ck_assert_slice(req.path, "/");
}
END_TEST

START_TEST(test_authority_form)
{
	struct http_request req;

	REQ_OK(req, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
	ck_assert_int_eq(req.form, HTTP_TARGET_AUTHORITY);
	ck_assert(req.is_connect);
	ck_assert(!req.idempotent);
	ck_assert_slice(req.host, "example.com:443");
	ck_assert_uint_eq(req.path.len, 0);

	REQ_OK(req, "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_slice(req.host, "[2001:db8::1]:8443");
}
END_TEST

START_TEST(test_options_asterisk)
{
	struct http_request req;

	REQ_OK(req, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(req.form, HTTP_TARGET_ASTERISK);
	ck_assert_slice(req.path, "*");
	ck_assert_slice(req.host, "a");
	ck_assert(req.idempotent);
}
END_TEST

START_TEST(test_head)
{
	struct http_request req;

	REQ_OK(req, "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert(req.is_head);
	ck_assert(req.idempotent);
	ck_assert_int_eq(req.h.framing, HTTP_BODY_NONE);
}
END_TEST

/* Methods are case-sensitive tokens: unknown ones pass, with no flag. */
START_TEST(test_methods)
{
	static const struct {
		const char *in;
		int idempotent;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "PUT / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 1 },
		{ "POST / HTTP/1.1\r\nHost: a\r\n\r\n", 0 },
		{ "PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", 0 },
		{ "M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", 0 },
		{ "get / HTTP/1.1\r\nHost: a\r\n\r\n", 0 },
	};
	struct http_request req;
	size_t i;

	for (i = 0; i < CT_NELEM(cases); i++) {
		ck_assert_int_eq(req_parse(cases[i].in, strlen(cases[i].in), NULL,
		    &req), CT_OK);
		ck_assert_msg(req.idempotent == cases[i].idempotent, "%s", cases[i].in);
		ck_assert(!req.is_head);
	}
}
END_TEST

START_TEST(test_post_length)
{
	static const char head[] = "POST /up HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\n\r\n";
	static const char in[] = "POST /up HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\n\r\nhello";
	struct http_request req;

	REQ_OK(req, in);
	ck_assert_uint_eq(req.h.head_len, sizeof(head) - 1);
	ck_assert_int_eq(req.h.framing, HTTP_BODY_LENGTH);
	ck_assert_uint_eq(req.h.content_length, 5);
	ck_assert(!req.idempotent);

	/* Identical duplicates, as a list or as fields, are one length. */
	REQ_OK(req, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n"
	    "content-length: 007\r\n\r\n");
	ck_assert_int_eq(req.h.framing, HTTP_BODY_LENGTH);
	ck_assert_uint_eq(req.h.content_length, 7);

	REQ_OK(req, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	ck_assert_int_eq(req.h.framing, HTTP_BODY_LENGTH);
	ck_assert_uint_eq(req.h.content_length, 0);

	REQ_OK(req, "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 4611686018427387904\r\n\r\n");
	ck_assert_uint_eq(req.h.content_length, UINT64_C(1) << 62);
}
END_TEST

START_TEST(test_chunked_request)
{
	struct http_request req;

	REQ_OK(req, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
	ck_assert_int_eq(req.h.framing, HTTP_BODY_CHUNKED);

	/* Empty list elements are allowed (RFC 9110 5.6.1). */
	REQ_OK(req, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n"
	    "Transfer-Encoding: , chunked ,\r\n\r\n");
	ck_assert_int_eq(req.h.framing, HTTP_BODY_CHUNKED);
}
END_TEST

START_TEST(test_pipelined)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
	    "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
	const char *p;
	struct http_request req;

	p = guarded(in, sizeof(in) - 1);
	ck_assert_int_eq(http_parse_request(p, sizeof(in) - 1, NULL, &req), CT_OK);
	ck_assert_slice(req.path, "/1");
	ck_assert_uint_eq(req.h.head_len, 28);
	ck_assert(memcmp(p + req.h.head_len, "GET /2 ", 7) == 0);
	ck_assert_int_eq(http_parse_request(p + req.h.head_len,
	    sizeof(in) - 1 - req.h.head_len, NULL, &req), CT_OK);
	ck_assert_slice(req.path, "/2");
	ck_assert_slice(req.host, "b");
}
END_TEST

struct keep_alive_case {
	const char *in;
	int keep_alive, close;
};

static const struct keep_alive_case keep_alive_cases[] = {
	{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0, 1 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", 0, 1 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 1, 0 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\n"
	  "Connection: close\r\n\r\n", 0, 1 },
	{ "GET / HTTP/1.0\r\n\r\n", 0, 0 },
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, 0 },
	{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0, 1 },
};

START_TEST(test_keep_alive)
{
	const struct keep_alive_case *c = &keep_alive_cases[_i];
	struct http_request req;

	ck_assert_int_eq(req_parse(c->in, strlen(c->in), NULL, &req), CT_OK);
	ck_assert_msg(req.h.keep_alive == c->keep_alive, "%s", c->in);
	ck_assert_msg(req.h.conn_close == c->close, "%s", c->in);
}
END_TEST

START_TEST(test_upgrade)
{
	struct http_request req;

	REQ_OK(req, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n");
	ck_assert(req.h.conn_upgrade);
	ck_assert(req.h.has_upgrade);
	ck_assert(req.h.keep_alive);
	ck_assert_slice(http_header_find(&req.h, "upgrade")->value, "websocket");

	REQ_OK(req, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n");
	ck_assert(!req.h.conn_upgrade);
	ck_assert(req.h.has_upgrade);
}
END_TEST

START_TEST(test_expect)
{
	struct http_request req;

	REQ_OK(req, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	    "Content-Length: 3\r\n\r\n");
	ck_assert(req.expect_continue);

	/* Any other expectation is the proxy's to answer (417). */
	REQ_OK(req, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n");
	ck_assert(!req.expect_continue);

	/* RFC 9110 10.1.1: ignored from an HTTP/1.0 client. */
	REQ_OK(req, "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
	ck_assert(!req.expect_continue);
}
END_TEST

START_TEST(test_leading_empty_lines)
{
	static const char in[] = "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_request req;

	REQ_OK(req, in);
	ck_assert_slice(req.method, "GET");
	ck_assert_uint_eq(req.h.head_len, sizeof(in) - 1);
}
END_TEST

/* RFC 9112 2.3: a higher minor version is handled as the highest known. */
START_TEST(test_minor_version)
{
	struct http_request req;

	REQ_OK(req, "GET / HTTP/1.2\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(req.h.minor, 1);
	REQ_OK(req, "GET / HTTP/1.9\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(req.h.minor, 1);
	/* ... so Host is required there as in 1.1. */
	ck_assert_int_eq(req_parse(S("GET / HTTP/1.2\r\n\r\n"), NULL, &req), CT_ERROR);
	REQ_OK(req, "GET / HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(req.h.minor, 0);
	ck_assert_uint_eq(req.host.len, 0);
	ck_assert_ptr_nonnull(req.host.p);
}
END_TEST

START_TEST(test_host_values)
{
	static const char *const hosts[] = {
		"a", "example.com", "example.com:80", "EXAMPLE.com:65535",
		"1.2.3.4:8080", "[::1]", "[::1]:8080", "[2001:db8::ffff:1.2.3.4]:1",
		"a%41b", "xn--e1a.ru", "a_b-c~d", "",
	};
	char in[256];
	struct http_request req;
	size_t i;
	int n;

	for (i = 0; i < CT_NELEM(hosts); i++) {
		n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
		    hosts[i]);
		ck_assert_msg(req_parse(in, (size_t)n, NULL, &req) == CT_OK, "%s: %s",
		    hosts[i], req.h.error);
		ck_assert_slice(req.host, hosts[i]);
	}
}
END_TEST

START_TEST(test_field_values)
{
	struct http_request req;

	REQ_OK(req, "GET / HTTP/1.1\r\nHost:a\r\nX:  \t v a l \t \r\nY:\r\n"
	    "Z: \x80\xff\r\n\r\n");
	ck_assert_slice(req.host, "a");
	ck_assert_slice(req.h.headers[1].value, "v a l");
	ck_assert_uint_eq(req.h.headers[2].value.len, 0);
	ck_assert_slice(req.h.headers[3].value, "\x80\xff");
}
END_TEST

START_TEST(test_header_find)
{
	struct http_request req;
	const struct http_header *f;

	REQ_OK(req, "GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nx-one: 2\r\n\r\n");
	f = http_header_find(&req.h, "X-ONE");
	ck_assert_ptr_nonnull(f);
	ck_assert_slice(f->value, "1");
	ck_assert_ptr_null(http_header_find(&req.h, "X-On"));
	ck_assert_ptr_null(http_header_find(&req.h, "X-One-"));
	ck_assert(http_slice_eq(req.h.headers[0].name, "HOST"));
	ck_assert(!http_slice_eq(req.h.headers[0].name, "hos"));
	ck_assert(http_slice_eq((struct http_slice){ "", 0 }, ""));
}
END_TEST

START_TEST(test_limits_default)
{
	struct http_limits lim;

	http_limits_default(&lim);
	ck_assert_uint_eq(lim.max_line, 8192);
	ck_assert_uint_eq(lim.max_head, 32768);
	ck_assert_uint_eq(lim.max_headers, 100);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

static char big[64 * 1024];

/* A request line of exactly n bytes, CRLF excluded, then the rest. */
static size_t
long_line(size_t n, const char *rest)
{
	static const char pre[] = "GET /", post[] = " HTTP/1.1";
	size_t fill = n - (sizeof(pre) - 1) - (sizeof(post) - 1);

	memcpy(big, pre, sizeof(pre) - 1);
	memset(big + sizeof(pre) - 1, 'a', fill);
	memcpy(big + n - (sizeof(post) - 1), post, sizeof(post) - 1);
	memcpy(big + n, rest, strlen(rest));
	return n + strlen(rest);
}

START_TEST(test_request_line_limit)
{
	struct http_request req;
	size_t n;

	n = long_line(8192, "\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_OK);

	n = long_line(8193, "\r\nHost: a\r\n\r\n");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 414);
	ck_assert_str_eq(req.h.error, "request line too long");

	/* Incomplete: known too long once max_line + 1 bytes have come. */
	ck_assert_int_eq(req_parse(big, 8193, NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 414);
	ck_assert_int_eq(req_parse(big, 8192, NULL, &req), CT_AGAIN);

	/* ... unless that byte is a CR, which may yet end it in time. */
	n = long_line(8192, "\r");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_AGAIN);
	n = long_line(8192, "\rX");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 414);
}
END_TEST

START_TEST(test_small_limits)
{
	struct http_limits lim = { 21, 64, 2 };
	struct http_request req;

	ck_assert_int_eq(req_parse(S("GET /0123456 HTTP/1.1\r\nHost: a\r\n\r\n"),
	    &lim, &req), CT_OK);
	ck_assert_int_eq(req_parse(S("GET /01234567 HTTP/1.1\r\nHost: a\r\n\r\n"),
	    &lim, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 414);
	ck_assert_int_eq(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\n\r\n"),
	    &lim, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 431);
	ck_assert_int_eq(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: 01234567890123456789012345678901234567\r\n\r\n"), &lim, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 431);

	/* More fields than the array holds are refused, not overflowed. */
	lim.max_headers = 1000;
	lim.max_head = 65536;
	lim.max_line = 100000;
	ck_assert_int_eq(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), &lim, &req),
	    CT_OK);
}
END_TEST

/* A head of exactly n bytes, blank line included, or without it. */
static size_t
long_head(size_t n, int complete)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t fill = n - (sizeof(pre) - 1) - 4;

	memcpy(big, pre, sizeof(pre) - 1);
	memset(big + sizeof(pre) - 1, 'v', fill);
	memcpy(big + n - 4, "\r\n\r\n", 4);
	return complete ? n : n - 2;
}

START_TEST(test_head_limit)
{
	struct http_request req;
	size_t n;

	n = long_head(32768, 1);
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_OK);
	ck_assert_uint_eq(req.h.head_len, 32768);

	n = long_head(32769, 1);
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 431);
	ck_assert_str_eq(req.h.error, "request head too large");

	/* Incomplete, with more than max_head bytes already. */
	n = long_head(32771, 0);
	ck_assert_uint_eq(n, 32769);
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 431);
	ck_assert_int_eq(req_parse(big, 32768, NULL, &req), CT_AGAIN);
}
END_TEST

/* A request with n fields (Host first), and what follows them. */
static size_t
many_fields(size_t n, const char *end)
{
	size_t len, i;

	len = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < n; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len,
		    "X-%zu: %zu\r\n", i, i);
	len += (size_t)snprintf(big + len, sizeof(big) - len, "%s", end);
	return len;
}

START_TEST(test_field_count_limit)
{
	struct http_request req;
	size_t n;

	n = many_fields(100, "\r\n");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_OK);
	ck_assert_uint_eq(req.h.nheaders, 100);

	n = many_fields(101, "\r\n");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 431);
	ck_assert_str_eq(req.h.error, "too many header fields");

	/* Incomplete: a 101st field has begun. */
	n = many_fields(100, "X");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 431);
	n = many_fields(100, "\r");
	ck_assert_int_eq(req_parse(big, n, NULL, &req), CT_AGAIN);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Partial input                                                       */
/* ------------------------------------------------------------------ */

static const char *const valid_requests[] = {
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"\r\n\r\nGET /x?y HTTP/1.0\r\n\r\n",
	"POST /up HTTP/1.1\r\nHost: a:80\r\nContent-Length: 3\r\nX:\r\n\r\nabc",
	"PUT http://h/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n",
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n"
	    "Expect: 100-continue\r\n\r\n",
};

START_TEST(test_request_prefixes)
{
	const char *in = valid_requests[_i];
	struct http_request req;
	size_t len = strlen(in), head, k;

	ck_assert_int_eq(req_parse(in, len, NULL, &req), CT_OK);
	head = req.h.head_len;
	for (k = 0; k < head; k++)
		ck_assert_msg(req_parse(in, k, NULL, &req) == CT_AGAIN,
		    "%zu bytes of \"%s\": %s", k, in, req.h.error);
	for (k = head; k <= len; k++) {
		ck_assert_int_eq(req_parse(in, k, NULL, &req), CT_OK);
		ck_assert_uint_eq(req.h.head_len, head);
	}
}
END_TEST

static const char *const valid_responses[] = {
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
	"HTTP/1.1 204\r\n\r\n",
	"HTTP/1.0 301 Moved Permanently\r\nLocation: /x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
};

START_TEST(test_response_prefixes)
{
	const char *in = valid_responses[_i];
	struct http_response resp;
	size_t len = strlen(in), head, k;

	ck_assert_int_eq(resp_parse(in, len, 0, &resp), CT_OK);
	head = resp.h.head_len;
	for (k = 0; k < head; k++)
		ck_assert_msg(resp_parse(in, k, 0, &resp) == CT_AGAIN,
		    "%zu bytes of \"%s\": %s", k, in, resp.h.error);
}
END_TEST

/* Errors in complete lines are found before the head ends. */
START_TEST(test_early_errors)
{
	struct http_request req;

	ck_assert_int_eq(req_parse(S("GET / HTTP/2.0\r\n"), NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 505);
	ck_assert_int_eq(req_parse(S("GET / HTTP/1.1\r\nA b\r\n"), NULL, &req), CT_ERROR);
	ck_assert_int_eq(req.h.status, 400);
	ck_assert_int_eq(req_parse(S("GET / HTTP/1.1\r\nA: b\n"), NULL, &req), CT_ERROR);
	ck_assert_int_eq(req_parse(S("GET / HTTP/1.1\r\nA: b\r\n"), NULL, &req),
	    CT_AGAIN);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Accepted responses                                                  */
/* ------------------------------------------------------------------ */

START_TEST(test_response_length)
{
	static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1";
	struct http_response resp;

	RESP_OK(resp, in, 0);
	ck_assert_int_eq(resp.code, 200);
	ck_assert_slice(resp.reason, "OK");
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_LENGTH);
	ck_assert_uint_eq(resp.h.content_length, 2);
	ck_assert_uint_eq(resp.h.head_len, sizeof(in) - 1 - 10);
	ck_assert(resp.h.keep_alive);
}
END_TEST

START_TEST(test_response_no_body)
{
	struct http_response resp;

	RESP_OK(resp, "HTTP/1.1 204 No Content\r\n\r\n", 0);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_NONE);
	ck_assert(resp.h.keep_alive);
	RESP_OK(resp, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_NONE);
	RESP_OK(resp, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 1);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_NONE);
	ck_assert(resp.h.keep_alive);
	/* The codings of an absent body are not judged. */
	RESP_OK(resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 1);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_NONE);
}
END_TEST

START_TEST(test_response_close_delimited)
{
	struct http_response resp;

	RESP_OK(resp, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody", 0);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_CLOSE);
	ck_assert(!resp.h.keep_alive);
	RESP_OK(resp, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 0);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_CLOSE);
	ck_assert(!resp.h.keep_alive);
}
END_TEST

START_TEST(test_response_1xx)
{
	struct http_response resp;

	RESP_OK(resp, "HTTP/1.1 100 Continue\r\n\r\n", 0);
	ck_assert_int_eq(resp.code, 100);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_NONE);
	RESP_OK(resp, "HTTP/1.1 103 Early Hints\r\n"
	    "Link: </s.css>; rel=preload\r\n\r\n", 0);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_NONE);
	RESP_OK(resp, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n", 0);
	ck_assert_int_eq(resp.code, 101);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_NONE);
	ck_assert(resp.h.conn_upgrade && resp.h.has_upgrade);
}
END_TEST

START_TEST(test_response_chunked)
{
	struct http_response resp;

	RESP_OK(resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0);
	ck_assert_int_eq(resp.h.framing, HTTP_BODY_CHUNKED);
	ck_assert(resp.h.keep_alive);
}
END_TEST

START_TEST(test_response_keep_alive)
{
	struct http_response resp;

	RESP_OK(resp, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
	ck_assert(!resp.h.keep_alive);
	RESP_OK(resp, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: keep-alive\r\n\r\n", 0);
	ck_assert(resp.h.keep_alive);
	RESP_OK(resp, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n", 0);
	ck_assert(!resp.h.keep_alive);
	ck_assert(resp.h.conn_close);
}
END_TEST

START_TEST(test_response_reason)
{
	struct http_response resp;

	RESP_OK(resp, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0);
	ck_assert_uint_eq(resp.reason.len, 0);
	RESP_OK(resp, "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0);
	ck_assert_uint_eq(resp.reason.len, 0);
	RESP_OK(resp, "HTTP/1.1 404 Not \x80 Found\t!\r\nContent-Length: 0\r\n\r\n", 0);
	ck_assert_int_eq(resp.code, 404);
	ck_assert_slice(resp.reason, "Not \x80 Found\t!");
	RESP_OK(resp, "HTTP/1.1 599 x\r\nContent-Length: 0\r\n\r\n", 0);
	ck_assert_int_eq(resp.code, 599);
}
END_TEST

START_TEST(test_status_line_limit)
{
	struct http_response resp;
	size_t n;

	memcpy(big, "HTTP/1.1 200 ", 13);
	memset(big + 13, 'r', 8192 - 13);
	memcpy(big + 8192, "\r\n\r\n", 4);
	ck_assert_int_eq(resp_parse(big, 8196, 0, &resp), CT_OK);
	memset(big + 13, 'r', 8193 - 13);
	memcpy(big + 8193, "\r\n\r\n", 4);
	ck_assert_int_eq(resp_parse(big, 8197, 0, &resp), CT_ERROR);
	ck_assert_int_eq(resp.h.status, 502);
	ck_assert_str_eq(resp.h.error, "status line too long");
	n = long_head(32771, 0);
	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	ck_assert_int_eq(resp_parse(big, n, 0, &resp), CT_ERROR);
	ck_assert_int_eq(resp.h.status, 502);
	ck_assert_str_eq(resp.h.error, "response head too large");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Chunked bodies                                                      */
/* ------------------------------------------------------------------ */

/* A body with every kind of extension and trailer, then the next request. */
static const char chunked_body[] =
    "4;a=b;c=\"q\\\"x;\"\r\nWiki\r\n"
    "5 ; n = v ;m\r\npedia\r\n"
    "E\r\n in\r\n\r\nchunks.\r\n"
    "10;x=\"\"\r\n0123456789abcdef\r\n"
    "000;last\r\n"
    "X-Trailer: yes\r\nY:\r\n\r\n";
static const char chunked_next[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

#define CHUNKED_LEN (sizeof(chunked_body) - 1)

/* The whole message, body then next request. */
static size_t
chunked_message(void)
{
	memcpy(big, chunked_body, CHUNKED_LEN);
	memcpy(big + CHUNKED_LEN, chunked_next, sizeof(chunked_next) - 1);
	return CHUNKED_LEN + sizeof(chunked_next) - 1;
}

/* Feeds big[0..len) in the pieces that cut[] ends, each one guarded. */
static size_t
chunked_feed(struct http_chunked *c, size_t len, const size_t *cut, size_t ncut)
{
	size_t start = 0, total = 0, i, end;
	long n;

	for (i = 0; i <= ncut; i++) {
		end = i < ncut ? cut[i] : len;
		n = http_chunked_scan(c, guarded(big + start, end - start), end - start);
		ck_assert_msg(n >= 0, "piece %zu..%zu: %s", start, end, c->error);
		ck_assert_uint_le((size_t)n, end - start);
		if (!c->done)
			ck_assert_uint_eq((size_t)n, end - start);
		total += (size_t)n;
		start = end;
	}
	return total;
}

START_TEST(test_chunked_whole)
{
	struct http_chunked c;
	size_t len = chunked_message();

	http_chunked_init(&c);
	ck_assert_uint_eq(chunked_feed(&c, len, NULL, 0), CHUNKED_LEN);
	ck_assert(c.done);
	/* Once done, nothing more belongs to the body. */
	ck_assert_int_eq(http_chunked_scan(&c, guarded("x", 1), 1), 0);
}
END_TEST

START_TEST(test_chunked_bytewise)
{
	struct http_chunked c;
	size_t len = chunked_message(), total = 0, i;
	long n;

	http_chunked_init(&c);
	for (i = 0; i < len; i++) {
		n = http_chunked_scan(&c, guarded(big + i, 1), 1);
		ck_assert_msg(n >= 0, "byte %zu: %s", i, c.error);
		ck_assert_msg(i < CHUNKED_LEN ? n == 1 : n == 0, "byte %zu gave %ld",
		    i, n);
		ck_assert(c.done == (i + 1 >= CHUNKED_LEN));
		total += (size_t)n;
	}
	ck_assert_uint_eq(total, CHUNKED_LEN);
}
END_TEST

START_TEST(test_chunked_every_split)
{
	struct http_chunked c;
	size_t len = chunked_message(), cut;

	for (cut = 0; cut <= len; cut++) {
		http_chunked_init(&c);
		ck_assert_uint_eq(chunked_feed(&c, len, &cut, 1), CHUNKED_LEN);
		ck_assert(c.done);
	}
}
END_TEST

START_TEST(test_chunked_random_splits)
{
	struct http_chunked c;
	size_t len = chunked_message(), cuts[16], ncut, round;
	uint32_t x = 2463534242u;          /* xorshift32: the same run every time */

	for (round = 0; round < 2000; round++) {
		for (ncut = 0; ncut < CT_NELEM(cuts); ncut++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			cuts[ncut] = (ncut == 0 ? 0 : cuts[ncut - 1]) + x % 12;
			if (cuts[ncut] > len)
				cuts[ncut] = len;
		}
		http_chunked_init(&c);
		ck_assert_uint_eq(chunked_feed(&c, len, cuts, ncut), CHUNKED_LEN);
		ck_assert(c.done);
	}
}
END_TEST

START_TEST(test_chunked_forms)
{
	static const char *const bodies[] = {
		"0\r\n\r\n",
		"0000\r\n\r\n",
		"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
		"1;a\r\nx\r\n0\r\n\r\n",
		"1;a;b=c;d=\"\\\\\"\r\nx\r\n0\r\n\r\n",
		"1\t;\ta\t=\t\"\t\"\r\nx\r\n0\r\n\r\n",
		"000000000000000F\r\n0123456789abcde\r\n0\r\n\r\n",
		"0\r\nA: b\r\nc:\r\nD: \x80 x\t\r\n\r\n",
	};
	struct http_chunked c;
	size_t i, len;

	for (i = 0; i < CT_NELEM(bodies); i++) {
		len = strlen(bodies[i]);
		http_chunked_init(&c);
		ck_assert_msg(http_chunked_scan(&c, guarded(bodies[i], len), len) ==
		    (long)len, "\"%s\": %s", bodies[i], c.error);
		ck_assert(c.done);
	}
}
END_TEST

/* A huge chunk is only counted, never held. */
START_TEST(test_chunked_huge)
{
	struct http_chunked c;

	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(S("FFFFFFFFFFFFFFFF\r\n")), 18),
	    18);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(big, sizeof(big)), sizeof(big)),
	    (long)sizeof(big));
	ck_assert(!c.done);
	ck_assert(c.remaining == UINT64_MAX - sizeof(big));
}
END_TEST

/* The chunk data of chunked_body, in order. */
static const char chunked_data[] = "Wikipedia in\r\n\r\nchunks.0123456789abcdef";

/* Decodes big[0..len) in pieces of at most step bytes into out. */
static size_t
chunked_decode_feed(struct http_chunked *c, size_t len, size_t step, char *out,
    size_t *out_len)
{
	size_t start = 0, total = 0, n, dlen;
	char *p;
	long r;

	*out_len = 0;
	while (start < len) {
		n = CT_MIN(step, len - start);
		p = guarded_rw(big + start, n);
		r = http_chunked_decode(c, p, n, &dlen);
		ck_assert_msg(r >= 0, "piece at %zu: %s", start, c->error);
		ck_assert_uint_le(dlen, (size_t)r);
		/* What follows the body stays where it was. */
		ck_assert(memcmp(p + r, big + start + r, n - (size_t)r) == 0);
		memcpy(out + *out_len, p, dlen);
		*out_len += dlen;
		total += (size_t)r;
		start += n;
	}
	return total;
}

START_TEST(test_chunked_decode)
{
	static const size_t steps[] = { 1, 2, 3, 7, 16, 64, sizeof(big) };
	struct http_chunked c;
	size_t len = chunked_message(), dlen, i;
	char out[256];

	for (i = 0; i < CT_NELEM(steps); i++) {
		http_chunked_init(&c);
		ck_assert_uint_eq(chunked_decode_feed(&c, len, steps[i], out, &dlen),
		    CHUNKED_LEN);
		ck_assert(c.done);
		ck_assert_uint_eq(dlen, sizeof(chunked_data) - 1);
		ck_assert(memcmp(out, chunked_data, dlen) == 0);
		ck_assert_uint_eq(c.data_total, sizeof(chunked_data) - 1);
	}
	/* The scanner counts the data too, for body size limits. */
	http_chunked_init(&c);
	ck_assert_uint_eq(chunked_feed(&c, len, NULL, 0), CHUNKED_LEN);
	ck_assert_uint_eq(c.data_total, sizeof(chunked_data) - 1);
}
END_TEST

START_TEST(test_chunked_decode_bad)
{
	struct http_chunked c;
	char *p;
	size_t dlen = 99;

	http_chunked_init(&c);
	p = guarded_rw(S("3\r\nabcX"));
	ck_assert_int_eq(http_chunked_decode(&c, p, 9, &dlen), CT_ERROR);
	ck_assert_str_eq(c.error, "missing CRLF after chunk data");
	ck_assert_uint_eq(dlen, 0);
}
END_TEST

struct chunked_bad_case {
	const char *name;
	const char *in;
	size_t len;
	const char *why;
};

static const struct chunked_bad_case chunked_bad[] = {
	{ "bad hex", S("5g\r\nhello\r\n0\r\n\r\n"), "invalid character in chunk size" },
	{ "no size", S("\r\n"), "missing chunk size" },
	{ "negative size", S("-1\r\n"), "missing chunk size" },
	{ "0x prefix", S("0x5\r\n"), "invalid character in chunk size" },
	{ "17 significant hex digits", S("10000000000000000\r\nx\r\n0\r\n\r\n"),
	  "chunk size has more than 16 significant digits" },
	{ "17 significant hex digits after zeros",
	  S("0010000000000000000\r\nx\r\n0\r\n\r\n"),
	  "chunk size has more than 16 significant digits" },
	{ "missing CRLF after data",
	  S("3\r\nabcX\r\n0\r\n\r\n"), "missing CRLF after chunk data" },
	{ "LF only after data",
	  S("3\r\nabc\n0\r\n\r\n"), "missing CRLF after chunk data" },
	{ "bare LF after size", S("3\nabc\r\n0\r\n\r\n"), "bare LF in chunk size line" },
	{ "bare CR after size", S("3\rabc\r\n0\r\n\r\n"), "bare CR in chunk size line" },
	{ "bare LF after last chunk", S("0\n\r\n"), "bare LF in chunk size line" },
	{ "bare LF ending the body", S("0\r\n\n"), "bare LF in trailer section" },
	{ "bare LF in trailer", S("0\r\nX: a\n\r\n"), "bare LF in trailer section" },
	{ "bare CR ending the body", S("0\r\n\rX"), "bare CR in trailer section" },
	{ "space after size", S("3 \r\nabc\r\n"), "whitespace in chunk size line" },
	{ "space inside size", S("1 2\r\n"), "whitespace in chunk size line" },
	{ "extension without name", S("3;\r\nabc\r\n"), "invalid chunk extension" },
	{ "extension without value", S("3;a=\r\nabc\r\n"), "invalid chunk extension" },
	{ "space after extension", S("3;a \r\nabc\r\n"), "invalid chunk extension" },
	{ "space inside extension name",
	  S("3;a b\r\nabc\r\n"), "invalid chunk extension" },
	{ "extension value with a bad char",
	  S("3;a=b(\r\nabc\r\n"), "invalid chunk extension" },
	{ "control char in quoted extension", S("3;a=\"x\x01\"\r\nabc\r\n"),
	  "invalid character in chunk extension" },
	{ "unterminated quoted extension", S("3;a=\"x\r\nabc\r\n"),
	  "invalid character in chunk extension" },
	{ "junk after quoted extension",
	  S("3;a=\"x\"y\r\nabc\r\n"), "invalid chunk extension" },
	{ "trailer obs-fold",
	  S("0\r\nA: b\r\n c\r\n\r\n"), "obsolete line folding in trailer section" },
	{ "trailer space before colon", S("0\r\nA : b\r\n\r\n"),
	  "whitespace before colon in trailer section" },
	{ "trailer bad name",
	  S("0\r\nA(: b\r\n\r\n"), "invalid character in trailer field name" },
	{ "trailer empty name",
	  S("0\r\n: b\r\n\r\n"), "invalid character in trailer field name" },
	{ "trailer NUL in value", S("0\r\nA: \0\r\n\r\n"),
	  "invalid character in trailer field value" },
};

START_TEST(test_chunked_bad)
{
	const struct chunked_bad_case *cb = &chunked_bad[_i];
	struct http_chunked c;

	http_chunked_init(&c);
	ck_assert_msg(http_chunked_scan(&c, guarded(cb->in, cb->len), cb->len) ==
	    CT_ERROR, "%s: accepted", cb->name);
	ck_assert_ptr_nonnull(c.error);
	ck_assert_msg(strcmp(c.error, cb->why) == 0, "%s: \"%s\", want \"%s\"",
	    cb->name, c.error, cb->why);
	/* An error is final. */
	ck_assert_int_eq(http_chunked_scan(&c, guarded(S("0\r\n\r\n")), 5), CT_ERROR);
}
END_TEST

START_TEST(test_chunked_line_limit)
{
	struct http_chunked c;
	size_t n;

	/* 4096 bytes before the CRLF pass, 4097 do not. */
	memcpy(big, "1;", 2);
	memset(big + 2, 'e', 4094);
	memcpy(big + 4096, "\r\nx\r\n0\r\n\r\n", 10);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(big, 4106), 4106), 4106);
	ck_assert(c.done);
	memset(big + 2, 'e', 4095);
	memcpy(big + 4097, "\r\nx\r\n0\r\n\r\n", 10);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(big, 4107), 4107), CT_ERROR);
	ck_assert_str_eq(c.error, "chunk size line too long");

	/* The trailer section: 32 KiB in all, its CRLFs included. */
	n = 3 + 32768;
	memcpy(big, "0\r\nX: ", 6);
	memset(big + 6, 't', n - 6 - 4);
	memcpy(big + n - 4, "\r\n\r\n", 4);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(big, n), n), (long)n);
	ck_assert(c.done);
	big[n - 4] = 't';
	memcpy(big + n - 3, "\r\n\r\n", 4);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(big, n + 1), n + 1), CT_ERROR);
	ck_assert_str_eq(c.error, "trailer section too large");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Heads that come in pieces                                           */
/* ------------------------------------------------------------------ */

/*
 * Feeds in[0..len) to http_parse_request_resume() step bytes more at a
 * time, each call on a fresh guarded copy (so the head moves, as a
 * buffer that grows does), and checks every answer against a parse from
 * scratch of the same bytes: same code, status, reason and head.
 */
static void
resume_matches(const char *in, size_t len, const struct http_limits *lim,
    size_t step)
{
	struct http_request a, b;
	struct http_head_scan st;
	size_t k;
	int ra, rb;

	memset(&st, 0, sizeof(st));
	for (k = 0;; k = CT_MIN(k + step, len)) {
		ra = http_parse_request_resume(guarded(in, k), k, lim, &a, &st);
		rb = http_parse_request(guarded(in, k), k, lim, &b);
		ck_assert_msg(ra == rb, "%zu of %zu bytes: %d, from scratch %d", k, len,
		    ra, rb);
		if (ra == CT_AGAIN && k < len)
			continue;
		if (ra == CT_ERROR) {
			ck_assert_int_eq(a.h.status, b.h.status);
			ck_assert_str_eq(a.h.error, b.h.error);
		} else if (ra == CT_OK) {
			ck_assert_uint_eq(a.h.head_len, b.h.head_len);
			ck_assert_uint_eq(a.h.nheaders, b.h.nheaders);
			ck_assert_uint_eq(a.h.framing, b.h.framing);
			ck_assert_uint_eq(a.path.len, b.path.len);
		}
		return;
	}
}

/* A head trickled byte by byte costs O(len) bytes looked at, not O(len^2). */
START_TEST(test_head_resume_linear)
{
	struct http_limits lim = { 8192, 1 << 20, HTTP_MAX_HEADERS };
	struct http_request req;
	struct http_head_scan st;
	size_t len, k, i, calls = 0;
	int rc = CT_AGAIN;

	len = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 90; i++) {
		len += (size_t)snprintf(big + len, sizeof(big) - len, "X-%zu: ", i);
		memset(big + len, 'v', 600);
		len += 600;
		len += (size_t)snprintf(big + len, sizeof(big) - len, "\r\n");
	}
	len += (size_t)snprintf(big + len, sizeof(big) - len, "\r\n");
	memset(&st, 0, sizeof(st));
	for (k = 1; k <= len; k++, calls++) {
		rc = http_parse_request_resume(big, k, &lim, &req, &st);
		if (k < len)
			ck_assert_msg(rc == CT_AGAIN, "%zu bytes: %d", k, rc);
	}
	ck_assert_int_eq(rc, CT_OK);
	ck_assert_uint_eq(req.h.head_len, len);
	ck_assert_uint_eq(req.h.nheaders, 91);
	ck_assert_slice(req.h.headers[90].name, "X-89");
	/*
	 * Each byte: found once by the LF search and checked once as its
	 * line ends, then both again by the parse from buf[0] at the end.
	 * From scratch each time this would be about len * len / 2.
	 */
	ck_assert_msg(st.looked <= 4 * (uint64_t)len + calls, "%zu bytes, %zu calls: %llu looked at",
	    len, calls, (unsigned long long)st.looked);
}
END_TEST

START_TEST(test_head_resume_bad)
{
	const struct bad_case *c = &request_bad[_i];

	resume_matches(c->in, c->len, NULL, 1);
}
END_TEST

START_TEST(test_head_resume_valid)
{
	resume_matches(valid_requests[_i], strlen(valid_requests[_i]), NULL, 1);
}
END_TEST

/* 414, 431 (size and count) found at the same byte as from scratch. */
START_TEST(test_head_resume_limits)
{
	struct http_limits lim = { 21, 64, 2 };
	size_t n;

	n = long_line(8193, "\r\nHost: a\r\n\r\n");
	resume_matches(big, n, NULL, 5);
	n = long_line(8192, "\rX");
	resume_matches(big, n, NULL, 5);
	n = long_head(32769, 1);
	resume_matches(big, n, NULL, 7);
	n = long_head(32771, 0);
	resume_matches(big, n, NULL, 7);
	n = many_fields(HTTP_MAX_HEADERS + 1, "\r\n");
	resume_matches(big, n, NULL, 3);
	resume_matches(S("GET /01234567 HTTP/1.1\r\nHost: a\r\n\r\n"), &lim, 1);
	resume_matches(S("GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\n\r\n"), &lim, 1);
	resume_matches(S("GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: 01234567890123456789012345678901234567\r\n\r\n"), &lim, 1);
}
END_TEST

/* A name with '_' gets its own id, and is never taken for a known field. */
START_TEST(test_field_underscore)
{
	struct http_request req;

	REQ_OK(req, "POST / HTTP/1.1\r\nHost: a\r\nX_Key: 1\r\nContent_Length: 5\r\n"
	    "X-Key: 2\r\n\r\n");
	ck_assert_int_eq(req.h.headers[1].id, HTTP_F_UNDERSCORE);
	ck_assert_int_eq(req.h.headers[2].id, HTTP_F_UNDERSCORE);
	ck_assert_int_eq(req.h.headers[3].id, HTTP_F_OTHER);
	ck_assert_int_eq(req.h.framing, HTTP_BODY_NONE);
	ck_assert_ptr_null(http_header_find_id(&req.h, HTTP_F_CONTENT_LENGTH));
}
END_TEST

/* A chunk size may have any number of leading zeros (RFC 9112 7.1). */
START_TEST(test_chunked_leading_zeros)
{
	static const char in[] = "00000000000000000000000000005\r\nhello\r\n"
	    "000000000000000000000\r\n\r\n";
	struct http_chunked c;

	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(S(in)), sizeof(in) - 1),
	    (long)(sizeof(in) - 1));
	ck_assert(c.done);
	ck_assert_uint_eq(c.data_total, 5);
	http_chunked_init(&c);
	ck_assert_int_eq(http_chunked_scan(&c, guarded(S("ffffffffffffffff\r\n")), 18), 18);
	ck_assert_uint_eq(c.remaining, UINT64_MAX);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Paths for routing                                                   */
/* ------------------------------------------------------------------ */

struct path_case {
	const char *name;
	const char *in;
	const char *want;             /* NULL: unchanged (CT_DECLINED) */
	const char *why;              /* refused with this */
};

static const struct path_case path_cases[] = {
	{ "plain", "/a/b?c", NULL, NULL },
	{ "dot dot", "/x/../admin/", "/admin/", NULL },
	{ "dot", "/a/./b/.", "/a/b/", NULL },
	{ "dot dot last", "/a/b/..", "/a/", NULL },
	{ "dot dot to the root", "/a/..", "/", NULL },
	{ "slashes merged", "//admin//x", "/admin/x", NULL },
	{ "trailing slashes merged", "/a//", "/a/", NULL },
	{ "unreserved decoded", "/%61dmin/%7Euser", "/admin/~user", NULL },
	{ "decoded dots are dot segments", "/x/%2e%2E/admin", "/admin", NULL },
	{ "reserved kept, hex in upper case", "/a/%2fb%3a", "/a/%2Fb%3A", NULL },
	{ "reserved kept as it was", "/a/%2Fb", NULL, NULL },
	{ "query untouched", "/a/../b?x=/../%61", "/b?x=/../%61", NULL },
	{ "dot in a name", "/.well-known/a.b/...", NULL, NULL },
	{ "above the root", "/../admin", NULL, "path above the root" },
	{ "above the root, later", "/a/../../admin", NULL, "path above the root" },
	{ "above the root, encoded", "/%2e%2e/admin", NULL, "path above the root" },
	{ "bad escape", "/a%zz", NULL, "invalid percent-encoding in path" },
	{ "short escape", "/a%4", NULL, "invalid percent-encoding in path" },
	{ "asterisk", "*", NULL, NULL },
};

/* No work for a plain path, nor for what follows '?'. */
START_TEST(test_path_check_flag)
{
	struct http_request req;

	REQ_OK(req, "GET /a/b.c/d?x=//y/../%41 HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert(!req.path_check);
	REQ_OK(req, "GET /a//b HTTP/1.1\r\nHost: a\r\n\r\n");
	ck_assert(req.path_check);
}
END_TEST

START_TEST(test_path_normalize)
{
	const struct path_case *t = &path_cases[_i];
	size_t n = strlen(t->in), olen = 0;
	char out[64];
	const char *why = NULL;
	int rc;

	rc = http_path_normalize((struct http_slice){ guarded(t->in, n), n }, NULL, &olen,
	    &why);
	/* Without out: CT_AGAIN whenever there is work, maybe for nothing. */
	ck_assert_msg(rc == CT_AGAIN || (rc == CT_DECLINED && t->want == NULL && t->why == NULL),
	    "%s: without out: %d", t->name, rc);
	rc = http_path_normalize((struct http_slice){ guarded(t->in, n), n }, out, &olen,
	    &why);
	/* The request line notes every path with work to do. */
	if (t->in[0] == '/') {
		char line[96];
		struct http_request req;
		int len = snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n",
		    t->in);

		ck_assert_int_eq(req_parse(line, (size_t)len, NULL, &req), CT_OK);
		ck_assert_msg(req.path_check || (t->want == NULL && t->why == NULL),
		    "%s: path_check not set", t->name);
	}
	if (t->why != NULL) {
		ck_assert_msg(rc == CT_ERROR, "%s: %d", t->name, rc);
		ck_assert_str_eq(why, t->why);
	} else if (t->want == NULL) {
		ck_assert_msg(rc == CT_DECLINED, "%s: %d", t->name, rc);
	} else {
		ck_assert_msg(rc == CT_OK, "%s: %d", t->name, rc);
		ck_assert_msg(olen == strlen(t->want) && memcmp(out, t->want, olen) == 0,
		    "%s: \"%.*s\", want \"%s\"", t->name, (int)olen, out, t->want);
	}
}
END_TEST

Suite *
suite_http(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("request");
	tcase_add_loop_test(tc, test_request_bad, 0, CT_NELEM(request_bad));
	tcase_add_test(tc, test_get_simple);
	tcase_add_test(tc, test_field_ids);
	tcase_add_test(tc, test_field_ids_all);
	tcase_add_test(tc, test_byte_classes);
	tcase_add_test(tc, test_char_helpers);
	tcase_add_test(tc, test_absolute_form);
	tcase_add_test(tc, test_authority_form);
	tcase_add_test(tc, test_options_asterisk);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_post_length);
	tcase_add_test(tc, test_chunked_request);
	tcase_add_test(tc, test_pipelined);
	tcase_add_loop_test(tc, test_keep_alive, 0, CT_NELEM(keep_alive_cases));
	tcase_add_test(tc, test_upgrade);
	tcase_add_test(tc, test_expect);
	tcase_add_test(tc, test_leading_empty_lines);
	tcase_add_test(tc, test_minor_version);
	tcase_add_test(tc, test_host_values);
	tcase_add_test(tc, test_field_values);
	tcase_add_test(tc, test_header_find);
	tcase_add_test(tc, test_limits_default);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_request_line_limit);
	tcase_add_test(tc, test_small_limits);
	tcase_add_test(tc, test_head_limit);
	tcase_add_test(tc, test_field_count_limit);
	tcase_add_test(tc, test_status_line_limit);
	tcase_add_loop_test(tc, test_request_prefixes, 0, CT_NELEM(valid_requests));
	tcase_add_loop_test(tc, test_response_prefixes, 0, CT_NELEM(valid_responses));
	tcase_add_test(tc, test_early_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("resume");
	tcase_add_test(tc, test_head_resume_linear);
	tcase_add_loop_test(tc, test_head_resume_bad, 0, CT_NELEM(request_bad));
	tcase_add_loop_test(tc, test_head_resume_valid, 0, CT_NELEM(valid_requests));
	tcase_add_test(tc, test_head_resume_limits);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("paths");
	tcase_add_loop_test(tc, test_path_normalize, 0, CT_NELEM(path_cases));
	tcase_add_test(tc, test_path_check_flag);
	tcase_add_test(tc, test_field_underscore);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_loop_test(tc, test_response_bad, 0, CT_NELEM(response_bad));
	tcase_add_test(tc, test_response_length);
	tcase_add_test(tc, test_response_no_body);
	tcase_add_test(tc, test_response_close_delimited);
	tcase_add_test(tc, test_response_1xx);
	tcase_add_test(tc, test_response_chunked);
	tcase_add_test(tc, test_response_keep_alive);
	tcase_add_test(tc, test_response_reason);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_add_test(tc, test_chunked_whole);
	tcase_add_test(tc, test_chunked_bytewise);
	tcase_add_test(tc, test_chunked_every_split);
	tcase_add_test(tc, test_chunked_random_splits);
	tcase_add_test(tc, test_chunked_forms);
	tcase_add_test(tc, test_chunked_huge);
	tcase_add_loop_test(tc, test_chunked_bad, 0, CT_NELEM(chunked_bad));
	tcase_add_test(tc, test_chunked_leading_zeros);
	tcase_add_test(tc, test_chunked_line_limit);
	tcase_add_test(tc, test_chunked_decode);
	tcase_add_test(tc, test_chunked_decode_bad);
	suite_add_tcase(s, tc);
	return s;
}

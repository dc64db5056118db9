/*
 * lib/socks.c and lib/proxy_url.c: every message of SOCKS 4, 4a and 5,
 * both ways, written out byte by byte from the layouts of RFC 1928,
 * RFC 1929 and the SOCKS 4 and 4a protocol texts.  Every input is
 * copied so that it ends right before an unreadable page: a parser that
 * reads one byte too far crashes the test.  A valid message gives
 * CT_AGAIN for each of its strict prefixes and the same answer with
 * bytes after it; a rejected one is one named line with the byte that
 * makes it wrong, the reason and the reply code, and gives CT_AGAIN
 * before that byte and the same error from it on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "lib/ct.h"
#include "lib/proxy_url.h"
#include "lib/socks.h"
#include "t/fuzz/socks_kind.h"
#include "t/unit/guard.h"
#include "t/unit/suites.h"

/* A string literal with its length, NULs inside included. */
#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* reply of a case whose message has no reply code to check */
#define NO_REPLY (-2)

/* Runs the parser of kind on a guarded copy of s[0..n). */
static int
run(enum socks_kind kind, const uint8_t *s, size_t n, struct socks_result *res)
{
	return socks_kind_parse(kind, guard_copy(s, n), n, res);
}

/*
 * s[0..n) is a whole message of kind: CT_AGAIN for every strict
 * prefix, CT_OK with consumed == n, and the same with bytes after it.
 * The parse of s goes to *out when out is not NULL.
 */
static void
check_whole(enum socks_kind kind, const uint8_t *s, size_t n, struct socks_result *out)
{
	static uint8_t more[SOCKS_HELLO_MAX + 16];
	static struct socks_result res;
	size_t k;

	for (k = 0; k < n; k++)
		ck_assert_msg(run(kind, s, k, &res) == CT_AGAIN,
		    "prefix of %zu of %zu bytes: %d (%s)", k, n, res.rc,
		    res.error != NULL ? res.error : "");
	ck_assert_msg(run(kind, s, n, &res) == CT_OK, "whole: %s",
	    res.error != NULL ? res.error : "CT_AGAIN");
	ck_assert_uint_eq(res.consumed, n);
	ck_assert_uint_le(n + 5, sizeof(more));
	memcpy(more, s, n);
	memcpy(more + n, "\x05\x01\x00\xff\x04", 5);
	ck_assert_int_eq(run(kind, more, n + 5, &res), CT_OK);
	ck_assert_uint_eq(res.consumed, n);
	if (out != NULL)
		ck_assert_int_eq(run(kind, s, n, out), CT_OK);
}

/*
 * s[0..n) is wrong at its byte at: CT_AGAIN before it, and from it on
 * CT_ERROR for why, with reply (unless NO_REPLY).
 */
static void
check_error(const char *name, enum socks_kind kind, const uint8_t *s, size_t n, size_t at,
    const char *why, int reply)
{
	static struct socks_result res;
	size_t k;

	ck_assert_uint_lt(at, n);
	for (k = 0; k <= at; k++)
		ck_assert_msg(run(kind, s, k, &res) == CT_AGAIN,
		    "%s: prefix of %zu bytes, error expected at byte %zu: %d (%s)", name, k,
		    at, res.rc, res.error != NULL ? res.error : "");
	for (k = at + 1; k <= n; k++) {
		ck_assert_msg(run(kind, s, k, &res) == CT_ERROR, "%s: prefix of %zu bytes: %d",
		    name, k, res.rc);
		ck_assert_msg(strcmp(res.error, why) == 0, "%s: \"%s\", not \"%s\"", name,
		    res.error, why);
		if (reply != NO_REPLY)
			ck_assert_msg(res.reply == reply, "%s: reply %d, not %d", name, res.reply,
			    reply);
	}
}

/* ------------------------------------------------------------------ */
/* The first message                                                   */
/* ------------------------------------------------------------------ */

START_TEST(test_socks4_connect)
{
	static const uint8_t m[] = { 4, 1, 0, 80, 127, 0, 0, 1, 'b', 'o', 'b', 0 };
	struct socks_result res;

	check_whole(K_HELLO, m, sizeof(m), &res);
	ck_assert_uint_eq(res.u.h.version, SOCKS_V4);
	ck_assert_uint_eq(res.u.h.cmd, SOCKS_CMD_CONNECT);
	ck_assert(!res.u.h.socks4a);
	ck_assert_uint_eq(res.u.h.dst.atyp, SOCKS5_ATYP_IPV4);
	ck_assert_uint_eq(res.u.h.dst.port, 80);
	ck_assert_mem_eq(res.u.h.dst.ip, "\x7f\x00\x00\x01", 4);
	ck_assert_str_eq(res.u.h.userid, "bob");
	ck_assert_uint_eq(res.u.h.userid_len, 3);
	ck_assert_str_eq(res.u.h.dst.name, "");
}
END_TEST

START_TEST(test_socks4_bind_no_userid)
{
	static const uint8_t m[] = { 4, 2, 0x1f, 0x90, 192, 0, 2, 7, 0 };
	struct socks_result res;

	check_whole(K_HELLO, m, sizeof(m), &res);
	ck_assert_uint_eq(res.u.h.cmd, SOCKS_CMD_BIND);
	ck_assert_uint_eq(res.u.h.dst.port, 8080);
	ck_assert_mem_eq(res.u.h.dst.ip, "\xc0\x00\x02\x07", 4);
	ck_assert_uint_eq(res.u.h.userid_len, 0);
}
END_TEST

/* 0.0.0.0 is not the 4a mark: what follows the user id is not a name. */
START_TEST(test_socks4_zero_ip_not_4a)
{
	static const uint8_t m[] = { 4, 1, 0, 80, 0, 0, 0, 0, 'u', 0, 'x', '.', 'y', 0 };
	struct socks_result res;

	ck_assert_int_eq(run(K_HELLO, m, sizeof(m), &res), CT_OK);
	ck_assert(!res.u.h.socks4a);
	ck_assert_uint_eq(res.consumed, 10);
	ck_assert_uint_eq(res.u.h.dst.atyp, SOCKS5_ATYP_IPV4);
}
END_TEST

START_TEST(test_socks4a)
{
	struct socks_result res;

	check_whole(K_HELLO, S("\x04\x01\x01\xbb\x00\x00\x00\x01" "alice\0" "WWW.Example-1.com\0"), &res);
	ck_assert(res.u.h.socks4a);
	ck_assert_uint_eq(res.u.h.dst.atyp, SOCKS5_ATYP_NAME);
	ck_assert_str_eq(res.u.h.dst.name, "www.example-1.com");
	ck_assert_uint_eq(res.u.h.dst.name_len, 17);
	ck_assert_uint_eq(res.u.h.dst.port, 443);
	ck_assert_mem_eq(res.u.h.dst.ip, "\0\0\0\0", 4);
	ck_assert_str_eq(res.u.h.userid, "alice");
}
END_TEST

/* Any x != 0 in 0.0.0.x, a trailing dot dropped, '_' and digits kept. */
START_TEST(test_socks4a_mark_and_dot)
{
	struct socks_result res;

	check_whole(K_HELLO, S("\x04\x02\x00\x15\x00\x00\x00\xff\0" "_srv.host9.\0"), &res);
	ck_assert(res.u.h.socks4a);
	ck_assert_str_eq(res.u.h.dst.name, "_srv.host9");
	ck_assert_uint_eq(res.u.h.dst.name_len, 10);
}
END_TEST

/* A SOCKS 4 request of user id len_id and (4a, when name_len > 0) a name of name_len. */
static size_t
socks4_long(uint8_t *m, size_t id_len, size_t name_len)
{
	size_t n = 0, i;

	memcpy(m, "\x04\x01\x00\x50", 4);
	memcpy(m + 4, name_len > 0 ? "\0\0\0\x01" : "\x0a\0\0\x01", 4);
	n = 8;
	memset(m + n, 'u', id_len);
	n += id_len;
	m[n++] = 0;
	if (name_len > 0) {
		/* labels of 63 letters, then dots, as DNS has them */
		for (i = 0; i < name_len; i++)
			m[n + i] = (i + 1) % 64 == 0 ? '.' : 'a' + i % 26;
		if (m[n + name_len - 1] == '.')
			m[n + name_len - 1] = 'z';
		n += name_len;
		m[n++] = 0;
	}
	return n;
}

START_TEST(test_socks4_limits)
{
	static uint8_t m[SOCKS_HELLO_MAX + 2];
	struct socks_result res;
	size_t n;

	n = socks4_long(m, 255, 0);
	check_whole(K_HELLO, m, n, NULL);
	n = socks4_long(m, 256, 0);
	check_error("user id of 256", K_HELLO, m, n, 8 + 255, "SOCKS 4 user id longer than 255 bytes",
	    SOCKS4_REP_REJECTED);

	n = socks4_long(m, 0, 255);
	check_whole(K_HELLO, m, n, &res);
	ck_assert_uint_eq(res.u.h.dst.name_len, 255);
	n = socks4_long(m, 0, 256);
	check_error("4a name of 256", K_HELLO, m, n, 9 + 255, "host name longer than 255 bytes",
	    SOCKS4_REP_REJECTED);

	/* The longest request there is, and nothing longer is waited for. */
	n = socks4_long(m, 255, 255);
	ck_assert_uint_eq(n, SOCKS_HELLO_MAX);
	check_whole(K_HELLO, m, n, NULL);
	n = socks4_long(m, 255, 256);
	ck_assert_int_eq(run(K_HELLO, m, SOCKS_HELLO_MAX, &res), CT_ERROR);
}
END_TEST

START_TEST(test_socks5_greeting)
{
	struct socks_result res;

	check_whole(K_HELLO, S("\x05\x01\x00"), NULL);
	check_whole(K_HELLO, S("\x05\x03\x00\x02\x80"), &res);
	ck_assert_uint_eq(res.u.h.version, SOCKS_V5);
	ck_assert_uint_eq(res.u.h.nmethods, 3);
	ck_assert_mem_eq(res.u.h.methods, "\x00\x02\x80", 3);
}
END_TEST

START_TEST(test_socks5_greeting_255)
{
	uint8_t m[2 + 255];
	struct socks_result res;
	size_t i;

	m[0] = 5;
	m[1] = 255;
	for (i = 0; i < 255; i++)
		m[2 + i] = (uint8_t)(254 - i);
	check_whole(K_HELLO, m, sizeof(m), &res);
	ck_assert_uint_eq(res.u.h.nmethods, 255);
	ck_assert_mem_eq(res.u.h.methods, m + 2, 255);
	ck_assert_uint_eq(SOCKS5_GREETING_MAX, sizeof(m));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Methods and RFC 1929                                                */
/* ------------------------------------------------------------------ */

static const struct {
	const char *offer;
	size_t n;
	unsigned allow;
	uint8_t want;
} select_cases[] = {
	{ "\x00", 1, SOCKS5_ALLOW_NONE, SOCKS5_METHOD_NONE },
	{ "\x02", 1, SOCKS5_ALLOW_NONE, SOCKS5_METHOD_REFUSED },
	{ "\x01\x02", 2, SOCKS5_ALLOW_NONE, SOCKS5_METHOD_REFUSED },
	{ "\x00", 1, SOCKS5_ALLOW_USERPASS, SOCKS5_METHOD_REFUSED },
	{ "\x02", 1, SOCKS5_ALLOW_USERPASS, SOCKS5_METHOD_USERPASS },
	{ "\x00\x02", 2, SOCKS5_ALLOW_USERPASS, SOCKS5_METHOD_USERPASS },
	{ "\x02\x00", 2, SOCKS5_ALLOW_NONE, SOCKS5_METHOD_NONE },
	{ "\x00\x02", 2, SOCKS5_ALLOW_NONE | SOCKS5_ALLOW_USERPASS, SOCKS5_METHOD_USERPASS },
	{ "\x00", 1, SOCKS5_ALLOW_NONE | SOCKS5_ALLOW_USERPASS, SOCKS5_METHOD_NONE },
	{ "\x01\x03\xfe", 3, SOCKS5_ALLOW_NONE | SOCKS5_ALLOW_USERPASS, SOCKS5_METHOD_REFUSED },
	{ "\xff\x00", 2, SOCKS5_ALLOW_NONE, SOCKS5_METHOD_NONE },
	{ "\x00\x02", 2, 0, SOCKS5_METHOD_REFUSED },
};

START_TEST(test_method_select)
{
	ck_assert_uint_eq(socks5_method_select((const uint8_t *)select_cases[_i].offer,
	    select_cases[_i].n, select_cases[_i].allow), select_cases[_i].want);
}
END_TEST

START_TEST(test_auth)
{
	struct socks_result res;

	check_whole(K_AUTH, S("\x01\x04" "user" "\x06" "s3cr:t"), &res);
	ck_assert_str_eq(res.u.a.user, "user");
	ck_assert_uint_eq(res.u.a.user_len, 4);
	ck_assert_str_eq(res.u.a.pass, "s3cr:t");
	ck_assert_uint_eq(res.u.a.pass_len, 6);
	/* Bytes above 0x7f are no control characters: UTF-8 names. */
	check_whole(K_AUTH, S("\x01\x02\xc3\xa9\x01\xff"), NULL);
}
END_TEST

START_TEST(test_auth_max)
{
	uint8_t m[SOCKS5_AUTH_MAX];
	struct socks_result res;

	m[0] = 1;
	m[1] = 255;
	memset(m + 2, 'u', 255);
	m[257] = 255;
	memset(m + 258, 'p', 255);
	check_whole(K_AUTH, m, sizeof(m), &res);
	ck_assert_uint_eq(res.u.a.user_len, 255);
	ck_assert_uint_eq(res.u.a.pass_len, 255);
	ck_assert_uint_eq(strlen(res.u.a.user), 255);
	ck_assert_uint_eq(strlen(res.u.a.pass), 255);
}
END_TEST

/* ------------------------------------------------------------------ */
/* SOCKS 5 requests                                                    */
/* ------------------------------------------------------------------ */

START_TEST(test_request_ipv4)
{
	struct socks_result res;

	check_whole(K_REQUEST, S("\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"), &res);
	ck_assert_uint_eq(res.u.r.cmd, SOCKS_CMD_CONNECT);
	ck_assert_uint_eq(res.u.r.dst.atyp, SOCKS5_ATYP_IPV4);
	ck_assert_mem_eq(res.u.r.dst.ip, "\x7f\x00\x00\x01", 4);
	ck_assert_uint_eq(res.u.r.dst.port, 80);
	ck_assert_uint_eq(res.consumed, 10);
}
END_TEST

START_TEST(test_request_name)
{
	struct socks_result res;

	check_whole(K_REQUEST, S("\x05\x01\x00\x03\x0b" "Example.COM" "\x01\xbb"), &res);
	ck_assert_uint_eq(res.u.r.dst.atyp, SOCKS5_ATYP_NAME);
	ck_assert_str_eq(res.u.r.dst.name, "example.com");
	ck_assert_uint_eq(res.u.r.dst.name_len, 11);
	ck_assert_uint_eq(res.u.r.dst.port, 443);
	check_whole(K_REQUEST, S("\x05\x01\x00\x03\x02" "a." "\x00\x16"), &res);
	ck_assert_str_eq(res.u.r.dst.name, "a");
}
END_TEST

START_TEST(test_request_ipv6)
{
	struct socks_result res;

	check_whole(K_REQUEST, S("\x05\x01\x00\x04"
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" "\xff\xff"), &res);
	ck_assert_uint_eq(res.u.r.dst.atyp, SOCKS5_ATYP_IPV6);
	ck_assert_mem_eq(res.u.r.dst.ip, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	ck_assert_uint_eq(res.u.r.dst.port, 65535);
	ck_assert_uint_eq(res.consumed, 22);
}
END_TEST

/* BIND, and UDP ASSOCIATE with the all-zero address of RFC 1928 7. */
START_TEST(test_request_bind_udp)
{
	struct socks_result res;

	check_whole(K_REQUEST, S("\x05\x02\x00\x01\x0a\x00\x00\x01\x00\x15"), &res);
	ck_assert_uint_eq(res.u.r.cmd, SOCKS_CMD_BIND);
	check_whole(K_REQUEST, S("\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"), &res);
	ck_assert_uint_eq(res.u.r.cmd, SOCKS_CMD_UDP);
	ck_assert_uint_eq(res.u.r.dst.port, 0);
}
END_TEST

START_TEST(test_request_name_255)
{
	uint8_t m[SOCKS5_REQUEST_MAX];
	struct socks_result res;
	size_t i;

	memcpy(m, "\x05\x01\x00\x03\xff", 5);
	for (i = 0; i < 255; i++)
		m[5 + i] = i % 2 == 0 ? 'X' : '.';
	m[260] = 0;
	m[261] = 80;
	check_whole(K_REQUEST, m, sizeof(m), &res);
	ck_assert_uint_eq(res.u.r.dst.name_len, 255);
	ck_assert_uint_eq(strlen(res.u.r.dst.name), 255);
	ck_assert_int_eq(res.u.r.dst.name[0], 'x');
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rejected messages, server and client side                           */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	enum socks_kind kind;
	const uint8_t *in;
	size_t len;
	size_t at;                  /* the byte that makes it wrong */
	const char *why;
	int reply;
} bad_cases[] = {
	/* first message */
	{ "version 6", K_HELLO, S("\x06\x01\x00"), 0, "unknown SOCKS version", SOCKS_REPLY_NONE },
	{ "version 0", K_HELLO, S("\x00"), 0, "unknown SOCKS version", SOCKS_REPLY_NONE },
	{ "an HTTP request", K_HELLO, S("GET / HTTP/1.1\r\n"), 0, "unknown SOCKS version", SOCKS_REPLY_NONE },
	{ "a TLS hello", K_HELLO, S("\x16\x03\x01"), 0, "unknown SOCKS version", SOCKS_REPLY_NONE },
	{ "no methods", K_HELLO, S("\x05\x00\x00"), 1, "no authentication methods offered", SOCKS5_METHOD_REFUSED },
	{ "socks4 command 0", K_HELLO, S("\x04\x00\x00\x50\x7f\x00\x00\x01\x00"), 1, "unknown SOCKS 4 command", SOCKS4_REP_REJECTED },
	{ "socks4 command 3", K_HELLO, S("\x04\x03\x00\x50\x7f\x00\x00\x01\x00"), 1, "unknown SOCKS 4 command", SOCKS4_REP_REJECTED },
	{ "socks4 user id tab", K_HELLO, S("\x04\x01\x00\x50\x7f\x00\x00\x01" "a\tb\0"), 9, "control character in SOCKS 4 user id", SOCKS4_REP_REJECTED },
	{ "socks4 user id DEL", K_HELLO, S("\x04\x01\x00\x50\x7f\x00\x00\x01" "\x7f\0"), 8, "control character in SOCKS 4 user id", SOCKS4_REP_REJECTED },
	{ "socks4a empty name", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01" "u\0\0"), 10, "empty host name", SOCKS4_REP_REJECTED },
	{ "socks4a space", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "a b\0"), 10, "invalid character in host name", SOCKS4_REP_REJECTED },
	{ "socks4a colon", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "::1\0"), 9, "invalid character in host name", SOCKS4_REP_REJECTED },
	{ "socks4a slash", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "a/b\0"), 10, "invalid character in host name", SOCKS4_REP_REJECTED },
	{ "socks4a percent", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "a%2e\0"), 10, "invalid character in host name", SOCKS4_REP_REJECTED },
	{ "socks4a at", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "u@h\0"), 10, "invalid character in host name", SOCKS4_REP_REJECTED },
	{ "socks4a high byte", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "\xc3\xa9\0"), 9, "invalid character in host name", SOCKS4_REP_REJECTED },
	{ "socks4a newline", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "a\n\0"), 10, "invalid character in host name", SOCKS4_REP_REJECTED },
	{ "socks4a leading dot", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" ".a\0"), 9, "empty label in host name", SOCKS4_REP_REJECTED },
	{ "socks4a dot alone", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" ".\0"), 9, "empty label in host name", SOCKS4_REP_REJECTED },
	{ "socks4a two dots", K_HELLO, S("\x04\x01\x00\x50\x00\x00\x00\x01\0" "a..b\0"), 11, "empty label in host name", SOCKS4_REP_REJECTED },
	/* RFC 1929 */
	{ "auth version 5", K_AUTH, S("\x05\x01u\x01p"), 0, "authentication version is not 1", NO_REPLY },
	{ "auth version 0", K_AUTH, S("\x00\x01u\x01p"), 0, "authentication version is not 1", NO_REPLY },
	{ "auth empty user", K_AUTH, S("\x01\x00\x01p"), 1, "empty user name", NO_REPLY },
	{ "auth empty password", K_AUTH, S("\x01\x01u\x00"), 3, "empty password", NO_REPLY },
	{ "auth NUL in user", K_AUTH, S("\x01\x03u\0v\x01p"), 3, "control character in user name", NO_REPLY },
	{ "auth newline in user", K_AUTH, S("\x01\x02u\n\x01p"), 3, "control character in user name", NO_REPLY },
	{ "auth NUL in password", K_AUTH, S("\x01\x01u\x03p\0q"), 5, "NUL in password", NO_REPLY },
	{ "auth NUL ends password", K_AUTH, S("\x01\x01u\x02p\0"), 5, "NUL in password", NO_REPLY },
	/* SOCKS 5 requests */
	{ "request version 4", K_REQUEST, S("\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50"), 0, "request version is not 5", SOCKS5_REP_FAILURE },
	{ "command 0", K_REQUEST, S("\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50"), 1, "command not supported", SOCKS5_REP_CMD_UNSUPPORTED },
	{ "command 4", K_REQUEST, S("\x05\x04\x00\x01\x7f\x00\x00\x01\x00\x50"), 1, "command not supported", SOCKS5_REP_CMD_UNSUPPORTED },
	{ "command 255", K_REQUEST, S("\x05\xff\x00\x01\x7f\x00\x00\x01\x00\x50"), 1, "command not supported", SOCKS5_REP_CMD_UNSUPPORTED },
	{ "reserved 1", K_REQUEST, S("\x05\x01\x01\x01\x7f\x00\x00\x01\x00\x50"), 2, "reserved byte is not 0", SOCKS5_REP_FAILURE },
	{ "atyp 0", K_REQUEST, S("\x05\x01\x00\x00\x7f\x00\x00\x01\x00\x50"), 3, "address type not supported", SOCKS5_REP_ATYP_UNSUPPORTED },
	{ "atyp 2", K_REQUEST, S("\x05\x01\x00\x02\x7f\x00\x00\x01\x00\x50"), 3, "address type not supported", SOCKS5_REP_ATYP_UNSUPPORTED },
	{ "atyp 5", K_REQUEST, S("\x05\x01\x00\x05\x7f\x00\x00\x01\x00\x50"), 3, "address type not supported", SOCKS5_REP_ATYP_UNSUPPORTED },
	{ "command before atyp", K_REQUEST, S("\x05\x09\x00\x09"), 1, "command not supported", SOCKS5_REP_CMD_UNSUPPORTED },
	{ "empty name", K_REQUEST, S("\x05\x01\x00\x03\x00\x00\x50"), 4, "empty host name", SOCKS5_REP_FAILURE },
	{ "NUL in name", K_REQUEST, S("\x05\x01\x00\x03\x07" "exa\0ple" "\x00\x50"), 8, "NUL in host name", SOCKS5_REP_FAILURE },
	{ "NUL ends name", K_REQUEST, S("\x05\x01\x00\x03\x04" "abc\0" "\x00\x50"), 8, "NUL in host name", SOCKS5_REP_FAILURE },
	{ "space in name", K_REQUEST, S("\x05\x01\x00\x03\x03" "a b" "\x00\x50"), 6, "invalid character in host name", SOCKS5_REP_FAILURE },
	{ "IPv6 as name", K_REQUEST, S("\x05\x01\x00\x03\x03" "::1" "\x00\x50"), 5, "invalid character in host name", SOCKS5_REP_FAILURE },
	{ "CR in name", K_REQUEST, S("\x05\x01\x00\x03\x02" "a\r" "\x00\x50"), 6, "invalid character in host name", SOCKS5_REP_FAILURE },
	{ "star in name", K_REQUEST, S("\x05\x01\x00\x03\x03" "*.a" "\x00\x50"), 5, "invalid character in host name", SOCKS5_REP_FAILURE },
	{ "empty label", K_REQUEST, S("\x05\x01\x00\x03\x04" "a..b" "\x00\x50"), 7, "empty label in host name", SOCKS5_REP_FAILURE },
	{ "dot alone", K_REQUEST, S("\x05\x01\x00\x03\x01" "." "\x00\x50"), 5, "empty label in host name", SOCKS5_REP_FAILURE },
	/* client side */
	{ "method reply version 4", K_METHOD_REPLY, S("\x04\x00"), 0, "method selection version is not 5", NO_REPLY },
	{ "method refused", K_METHOD_REPLY, S("\x05\xff"), 1, "no acceptable authentication method", NO_REPLY },
	{ "method refused, userpass offered", K_METHOD_REPLY_UP, S("\x05\xff"), 1, "no acceptable authentication method", NO_REPLY },
	{ "userpass not offered", K_METHOD_REPLY, S("\x05\x02"), 1, "server chose a method not offered", NO_REPLY },
	{ "gssapi not offered", K_METHOD_REPLY_UP, S("\x05\x01"), 1, "server chose a method not offered", NO_REPLY },
	{ "auth reply version 5", K_AUTH_REPLY, S("\x05\x00"), 0, "authentication reply version is not 1", NO_REPLY },
	{ "auth refused", K_AUTH_REPLY, S("\x01\x01"), 1, "user name or password refused", NO_REPLY },
	{ "auth refused 0xff", K_AUTH_REPLY, S("\x01\xff"), 1, "user name or password refused", NO_REPLY },
	{ "reply version 4", K_REPLY5, S("\x04\x00\x00\x01\x7f\x00\x00\x01\x00\x50"), 0, "reply version is not 5", NO_REPLY },
	{ "reply reserved", K_REPLY5, S("\x05\x00\x01\x01\x7f\x00\x00\x01\x00\x50"), 2, "reserved byte is not 0", NO_REPLY },
	{ "reply atyp 2", K_REPLY5, S("\x05\x00\x00\x02\x7f\x00\x00\x01\x00\x50"), 3, "address type not supported", NO_REPLY },
	{ "reply bad name", K_REPLY5, S("\x05\x00\x00\x03\x02" "a;" "\x00\x50"), 6, "invalid character in host name", NO_REPLY },
	{ "socks4 reply version 4", K_REPLY4, S("\x04\x5a\x00\x50\x7f\x00\x00\x01"), 0, "SOCKS 4 reply version is not 0", NO_REPLY },
	{ "socks4 reply code 0", K_REPLY4, S("\x00\x00\x00\x50\x7f\x00\x00\x01"), 1, "unknown SOCKS 4 reply code", NO_REPLY },
	{ "socks4 reply code 89", K_REPLY4, S("\x00\x59\x00\x50\x7f\x00\x00\x01"), 1, "unknown SOCKS 4 reply code", NO_REPLY },
	{ "socks4 reply code 94", K_REPLY4, S("\x00\x5e\x00\x50\x7f\x00\x00\x01"), 1, "unknown SOCKS 4 reply code", NO_REPLY },
};

START_TEST(test_bad)
{
	check_error(bad_cases[_i].name, bad_cases[_i].kind, bad_cases[_i].in, bad_cases[_i].len, bad_cases[_i].at,
	    bad_cases[_i].why, bad_cases[_i].reply);
}
END_TEST

/* ------------------------------------------------------------------ */
/* UDP datagrams                                                       */
/* ------------------------------------------------------------------ */

static int
udp(const uint8_t *s, size_t n, struct socks5_udp *u)
{
	return socks5_udp_parse(guard_copy(s, n), n, u);
}

START_TEST(test_udp)
{
	struct socks5_udp u;

	ck_assert_int_eq(udp(S("\x00\x00\x00\x01\xc0\x00\x02\x01\x00\x35" "query"), &u), CT_OK);
	ck_assert_uint_eq(u.dst.atyp, SOCKS5_ATYP_IPV4);
	ck_assert_mem_eq(u.dst.ip, "\xc0\x00\x02\x01", 4);
	ck_assert_uint_eq(u.dst.port, 53);
	ck_assert_uint_eq(u.data_off, 10);

	ck_assert_int_eq(udp(S("\x00\x00\x00\x04" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x00\x35"), &u), CT_OK);
	ck_assert_uint_eq(u.dst.atyp, SOCKS5_ATYP_IPV6);
	ck_assert_uint_eq(u.data_off, 22);

	ck_assert_int_eq(udp(S("\x00\x00\x00\x03\x07" "Dns.Foo" "\x00\x35" "\x01\x02"), &u), CT_OK);
	ck_assert_str_eq(u.dst.name, "dns.foo");
	ck_assert_uint_eq(u.data_off, 14);
}
END_TEST

START_TEST(test_udp_fragment)
{
	struct socks5_udp u;

	ck_assert_int_eq(udp(S("\x00\x00\x01\x01\xc0\x00\x02\x01\x00\x35" "x"), &u), CT_DECLINED);
	ck_assert_str_eq(u.error, "fragmented datagram");
	ck_assert_int_eq(udp(S("\x00\x00\x81\x01\xc0\x00\x02\x01\x00\x35" "x"), &u), CT_DECLINED);
	/* a fragment is dropped whatever follows its FRAG */
	ck_assert_int_eq(udp(S("\x00\x00\x7f\x09"), &u), CT_DECLINED);
}
END_TEST

/* A datagram comes whole: a short one is an error, never CT_AGAIN. */
START_TEST(test_udp_short)
{
	static const uint8_t m[] = { 0, 0, 0, 3, 3, 'a', 'b', 'c', 0, 53 };
	struct socks5_udp u;
	size_t k;

	for (k = 0; k < sizeof(m); k++) {
		ck_assert_int_eq(udp(m, k, &u), CT_ERROR);
		ck_assert_str_eq(u.error, "datagram shorter than its header");
	}
	ck_assert_int_eq(udp(m, sizeof(m), &u), CT_OK);
	ck_assert_uint_eq(u.data_off, sizeof(m));
}
END_TEST

START_TEST(test_udp_bad)
{
	struct socks5_udp u;

	ck_assert_int_eq(udp(S("\x01\x00\x00\x01\xc0\x00\x02\x01\x00\x35"), &u), CT_ERROR);
	ck_assert_str_eq(u.error, "reserved bytes are not 0");
	ck_assert_int_eq(udp(S("\x00\x80\x00\x01\xc0\x00\x02\x01\x00\x35"), &u), CT_ERROR);
	ck_assert_str_eq(u.error, "reserved bytes are not 0");
	ck_assert_int_eq(udp(S("\x00\x00\x00\x02\xc0\x00\x02\x01\x00\x35"), &u), CT_ERROR);
	ck_assert_str_eq(u.error, "address type not supported");
	ck_assert_int_eq(udp(S("\x00\x00\x00\x03\x00\x00\x35"), &u), CT_ERROR);
	ck_assert_str_eq(u.error, "empty host name");
	ck_assert_int_eq(udp(S("\x00\x00\x00\x03\x03" "a\0b" "\x00\x35"), &u), CT_ERROR);
	ck_assert_str_eq(u.error, "NUL in host name");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Server replies                                                      */
/* ------------------------------------------------------------------ */

static struct sockaddr_storage ss;

static const struct sockaddr *
sa4(const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return (const struct sockaddr *)&ss;
}

static const struct sockaddr *
sa6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	return (const struct sockaddr *)&ss;
}

static const struct sockaddr *
sa_unix(void)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)(void *)&ss;

	memset(&ss, 0, sizeof(ss));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, "/tmp/x", 7);
	return (const struct sockaddr *)&ss;
}

#define BYTES_EQ(out, n, lit) do { \
	ck_assert_uint_eq((n), sizeof(lit) - 1); \
	ck_assert_mem_eq((out), (lit), sizeof(lit) - 1); \
} while (0)

START_TEST(test_method_auth_replies)
{
	uint8_t out[8];

	BYTES_EQ(out, socks5_method_reply_build(out, SOCKS5_METHOD_NONE), "\x05\x00");
	BYTES_EQ(out, socks5_method_reply_build(out, SOCKS5_METHOD_USERPASS), "\x05\x02");
	BYTES_EQ(out, socks5_method_reply_build(out, SOCKS5_METHOD_REFUSED), "\x05\xff");
	BYTES_EQ(out, socks5_auth_reply_build(out, SOCKS5_AUTH_SUCCESS), "\x01\x00");
	BYTES_EQ(out, socks5_auth_reply_build(out, SOCKS5_AUTH_FAILURE), "\x01\x01");
}
END_TEST

START_TEST(test_socks5_reply_build)
{
	uint8_t out[SOCKS5_REPLY_MAX];

	BYTES_EQ(out, socks5_reply_build(out, SOCKS5_REP_SUCCEEDED, sa4("127.0.0.1", 1080)),
	    "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38");
	BYTES_EQ(out, socks5_reply_build(out, SOCKS5_REP_SUCCEEDED, sa6("2001:db8::5", 443)),
	    "\x05\x00\x00\x04\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x05\x01\xbb");
	BYTES_EQ(out, socks5_reply_build(out, SOCKS5_REP_SUCCEEDED, sa6("::ffff:10.1.2.3", 8080)),
	    "\x05\x00\x00\x01\x0a\x01\x02\x03\x1f\x90");
	BYTES_EQ(out, socks5_reply_build(out, SOCKS5_REP_REFUSED, NULL),
	    "\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00");
	BYTES_EQ(out, socks5_reply_build(out, SOCKS5_REP_FAILURE, sa_unix()),
	    "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00");
	BYTES_EQ(out, socks5_reply_build(out, SOCKS5_REP_ATYP_UNSUPPORTED, NULL),
	    "\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00");
}
END_TEST

START_TEST(test_socks4_reply_build)
{
	uint8_t out[SOCKS4_REPLY_LEN];

	BYTES_EQ(out, socks4_reply_build(out, SOCKS4_REP_GRANTED, sa4("192.0.2.9", 80)),
	    "\x00\x5a\x00\x50\xc0\x00\x02\x09");
	BYTES_EQ(out, socks4_reply_build(out, SOCKS4_REP_GRANTED, sa6("::ffff:192.0.2.9", 80)),
	    "\x00\x5a\x00\x50\xc0\x00\x02\x09");
	BYTES_EQ(out, socks4_reply_build(out, SOCKS4_REP_GRANTED, sa6("::1", 80)),
	    "\x00\x5a\x00\x00\x00\x00\x00\x00");
	BYTES_EQ(out, socks4_reply_build(out, SOCKS4_REP_REJECTED, NULL),
	    "\x00\x5b\x00\x00\x00\x00\x00\x00");
}
END_TEST

START_TEST(test_udp_header_build)
{
	uint8_t out[SOCKS5_UDP_HEADER_MAX];

	BYTES_EQ(out, socks5_udp_header_build(out, sa4("192.0.2.1", 53)),
	    "\x00\x00\x00\x01\xc0\x00\x02\x01\x00\x35");
	BYTES_EQ(out, socks5_udp_header_build(out, sa6("::1", 5353)),
	    "\x00\x00\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x14\xe9");
	ck_assert_uint_eq(socks5_udp_header_build(out, sa_unix()), 0);
}
END_TEST

static const struct {
	int err;
	uint8_t rep;
} errno_cases[] = {
	{ ECONNREFUSED, SOCKS5_REP_REFUSED },
	{ ENETUNREACH, SOCKS5_REP_NET_UNREACHABLE },
	{ ENETDOWN, SOCKS5_REP_NET_UNREACHABLE },
	{ EHOSTUNREACH, SOCKS5_REP_HOST_UNREACHABLE },
	{ EHOSTDOWN, SOCKS5_REP_HOST_UNREACHABLE },
	{ ETIMEDOUT, SOCKS5_REP_HOST_UNREACHABLE },
	{ EACCES, SOCKS5_REP_NOT_ALLOWED },
	{ EPERM, SOCKS5_REP_NOT_ALLOWED },
	{ ECONNRESET, SOCKS5_REP_FAILURE },
	{ EADDRNOTAVAIL, SOCKS5_REP_FAILURE },
	{ EMFILE, SOCKS5_REP_FAILURE },
	{ 0, SOCKS5_REP_FAILURE },
};

START_TEST(test_reply_codes)
{
	unsigned i;

	/* the values of RFC 1928 6 and of SOCKS 4 */
	ck_assert_uint_eq(SOCKS5_REP_SUCCEEDED, 0x00);
	ck_assert_uint_eq(SOCKS5_REP_FAILURE, 0x01);
	ck_assert_uint_eq(SOCKS5_REP_NOT_ALLOWED, 0x02);
	ck_assert_uint_eq(SOCKS5_REP_NET_UNREACHABLE, 0x03);
	ck_assert_uint_eq(SOCKS5_REP_HOST_UNREACHABLE, 0x04);
	ck_assert_uint_eq(SOCKS5_REP_REFUSED, 0x05);
	ck_assert_uint_eq(SOCKS5_REP_TTL_EXPIRED, 0x06);
	ck_assert_uint_eq(SOCKS5_REP_CMD_UNSUPPORTED, 0x07);
	ck_assert_uint_eq(SOCKS5_REP_ATYP_UNSUPPORTED, 0x08);
	ck_assert_uint_eq(SOCKS4_REP_GRANTED, 90);
	ck_assert_uint_eq(SOCKS4_REP_REJECTED, 91);
	ck_assert_uint_eq(SOCKS4_REP_NO_IDENTD, 92);
	ck_assert_uint_eq(SOCKS4_REP_IDENT_MISMATCH, 93);

	for (i = 0; i < CT_NELEM(errno_cases); i++)
		ck_assert_msg(socks5_reply_from_errno(errno_cases[i].err) == errno_cases[i].rep,
		    "errno %d", errno_cases[i].err);
	ck_assert_uint_eq(socks4_reply_from_socks5(SOCKS5_REP_SUCCEEDED), SOCKS4_REP_GRANTED);
	for (i = 1; i < 256; i++)
		ck_assert_uint_eq(socks4_reply_from_socks5((uint8_t)i), SOCKS4_REP_REJECTED);
}
END_TEST

START_TEST(test_reply_texts)
{
	unsigned i, j;

	ck_assert_str_eq(socks5_reply_text(SOCKS5_REP_SUCCEEDED), "succeeded");
	ck_assert_str_eq(socks5_reply_text(SOCKS5_REP_REFUSED), "connection refused");
	ck_assert_str_eq(socks5_reply_text(SOCKS5_REP_ATYP_UNSUPPORTED), "address type not supported");
	for (i = 0; i <= 8; i++)
		for (j = i + 1; j <= 9; j++)
			ck_assert_str_ne(socks5_reply_text((uint8_t)i), socks5_reply_text((uint8_t)j));
	ck_assert_str_eq(socks5_reply_text(9), "unassigned reply code");
	ck_assert_str_eq(socks5_reply_text(255), "unassigned reply code");
	ck_assert_str_eq(socks4_reply_text(SOCKS4_REP_GRANTED), "request granted");
	ck_assert_str_eq(socks4_reply_text(SOCKS4_REP_REJECTED), "request rejected or failed");
	ck_assert_str_eq(socks4_reply_text(SOCKS4_REP_NO_IDENTD), "identd unreachable");
	ck_assert_str_eq(socks4_reply_text(SOCKS4_REP_IDENT_MISMATCH), "identd and user id differ");
	ck_assert_str_eq(socks4_reply_text(0), "unassigned reply code");
	ck_assert_str_eq(socks4_reply_text(94), "unassigned reply code");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Client side                                                         */
/* ------------------------------------------------------------------ */

START_TEST(test_greeting_build)
{
	uint8_t out[SOCKS5_GREETING_MAX];

	BYTES_EQ(out, socks5_greeting_build(out, 0), "\x05\x01\x00");
	BYTES_EQ(out, socks5_greeting_build(out, 1), "\x05\x02\x00\x02");
}
END_TEST

START_TEST(test_method_reply_parse)
{
	struct socks_result res;

	check_whole(K_METHOD_REPLY, S("\x05\x00"), &res);
	ck_assert_uint_eq(res.u.method, SOCKS5_METHOD_NONE);
	check_whole(K_METHOD_REPLY_UP, S("\x05\x00"), NULL);
	check_whole(K_METHOD_REPLY_UP, S("\x05\x02"), &res);
	ck_assert_uint_eq(res.u.method, SOCKS5_METHOD_USERPASS);
}
END_TEST

START_TEST(test_auth_build)
{
	uint8_t out[SOCKS5_AUTH_MAX];
	char big[256];

	BYTES_EQ(out, socks5_auth_build(out, "bob", 3, "pw", 2), "\x01\x03" "bob" "\x02" "pw");
	memset(big, 'x', sizeof(big));
	ck_assert_uint_eq(socks5_auth_build(out, big, 255, big, 255), SOCKS5_AUTH_MAX);
	ck_assert_uint_eq(out[1], 255);
	ck_assert_uint_eq(out[257], 255);
	ck_assert_uint_eq(socks5_auth_build(out, big, 256, "p", 1), 0);
	ck_assert_uint_eq(socks5_auth_build(out, "u", 1, big, 256), 0);
	ck_assert_uint_eq(socks5_auth_build(out, "", 0, "p", 1), 0);
	ck_assert_uint_eq(socks5_auth_build(out, "u", 1, "", 0), 0);
}
END_TEST

START_TEST(test_auth_reply_parse)
{
	check_whole(K_AUTH_REPLY, S("\x01\x00"), NULL);
}
END_TEST

START_TEST(test_request_build)
{
	uint8_t out[SOCKS5_REQUEST_MAX];
	struct socks_addr a;
	const char *why;

	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa4("198.51.100.7", 25)), CT_OK);
	BYTES_EQ(out, socks5_request_build(out, SOCKS_CMD_CONNECT, &a),
	    "\x05\x01\x00\x01\xc6\x33\x64\x07\x00\x19");
	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa6("fe80::1", 80)), CT_OK);
	BYTES_EQ(out, socks5_request_build(out, SOCKS_CMD_CONNECT, &a),
	    "\x05\x01\x00\x04\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x50");
	ck_assert_int_eq(socks_addr_set_name(&a, "Example.org", 11, 443, &why), CT_OK);
	BYTES_EQ(out, socks5_request_build(out, SOCKS_CMD_CONNECT, &a),
	    "\x05\x01\x00\x03\x0b" "example.org" "\x01\xbb");
	memset(&a, 0, sizeof(a));
	a.atyp = SOCKS5_ATYP_IPV4;
	BYTES_EQ(out, socks5_request_build(out, SOCKS_CMD_UDP, &a),
	    "\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00");

	ck_assert_uint_eq(socks5_request_build(out, 0, &a), 0);
	ck_assert_uint_eq(socks5_request_build(out, 4, &a), 0);
	a.atyp = 2;
	ck_assert_uint_eq(socks5_request_build(out, SOCKS_CMD_CONNECT, &a), 0);
	/* a name filled by hand is checked as a parsed one is */
	memset(&a, 0, sizeof(a));
	a.atyp = SOCKS5_ATYP_NAME;
	ck_assert_uint_eq(socks5_request_build(out, SOCKS_CMD_CONNECT, &a), 0);
	strcpy(a.name, "a b");
	a.name_len = 3;
	ck_assert_uint_eq(socks5_request_build(out, SOCKS_CMD_CONNECT, &a), 0);
}
END_TEST

START_TEST(test_reply_parse)
{
	struct socks_result res;

	check_whole(K_REPLY5, S("\x05\x00\x00\x01\x0a\x00\x00\x02\xc3\x50"), &res);
	ck_assert_uint_eq(res.u.p.rep, SOCKS5_REP_SUCCEEDED);
	ck_assert_uint_eq(res.u.p.bnd.atyp, SOCKS5_ATYP_IPV4);
	ck_assert_mem_eq(res.u.p.bnd.ip, "\x0a\x00\x00\x02", 4);
	ck_assert_uint_eq(res.u.p.bnd.port, 50000);

	check_whole(K_REPLY5, S("\x05\x00\x00\x04" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x00\x50"), NULL);
	check_whole(K_REPLY5, S("\x05\x00\x00\x03\x05" "Relay" "\x00\x50"), &res);
	ck_assert_str_eq(res.u.p.bnd.name, "relay");

	/* A failure is a well-formed reply: its code is the answer. */
	check_whole(K_REPLY5, S("\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"), &res);
	ck_assert_uint_eq(res.u.p.rep, SOCKS5_REP_REFUSED);
	check_whole(K_REPLY5, S("\x05\x42\x00\x01\x00\x00\x00\x00\x00\x00"), NULL);
}
END_TEST

/* A server that closes in the middle of a failure reply has still said why. */
START_TEST(test_reply_code_early)
{
	struct socks_result res;

	ck_assert_int_eq(run(K_REPLY5, S("\x05"), &res), CT_AGAIN);
	ck_assert_uint_eq(res.u.p.rep, 0);
	ck_assert_int_eq(run(K_REPLY5, S("\x05\x04"), &res), CT_AGAIN);
	ck_assert_uint_eq(res.u.p.rep, SOCKS5_REP_HOST_UNREACHABLE);
	ck_assert_int_eq(run(K_REPLY5, S("\x05\x03\x00\x01\x00"), &res), CT_AGAIN);
	ck_assert_uint_eq(res.u.p.rep, SOCKS5_REP_NET_UNREACHABLE);
}
END_TEST

START_TEST(test_socks4_request_build)
{
	uint8_t out[SOCKS4_REQUEST_MAX];
	struct socks_addr a;
	const char *why;
	char id[257];

	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa4("203.0.113.5", 80)), CT_OK);
	BYTES_EQ(out, socks4_request_build(out, SOCKS_CMD_CONNECT, &a, "joe"),
	    "\x04\x01\x00\x50\xcb\x00\x71\x05" "joe\0");
	BYTES_EQ(out, socks4_request_build(out, SOCKS_CMD_BIND, &a, NULL),
	    "\x04\x02\x00\x50\xcb\x00\x71\x05\0");
	ck_assert_int_eq(socks_addr_set_name(&a, "Host.Example", 12, 8443, &why), CT_OK);
	BYTES_EQ(out, socks4_request_build(out, SOCKS_CMD_CONNECT, &a, ""),
	    "\x04\x01\x20\xfb\x00\x00\x00\x01\0" "host.example\0");

	memset(id, 'i', 255);
	id[255] = '\0';
	ck_assert_uint_eq(socks4_request_build(out, SOCKS_CMD_CONNECT, &a, id), 8 + 256 + 13);
	id[255] = 'i';
	id[256] = '\0';
	ck_assert_uint_eq(socks4_request_build(out, SOCKS_CMD_CONNECT, &a, id), 0);
	ck_assert_uint_eq(socks4_request_build(out, SOCKS_CMD_CONNECT, &a, "a\nb"), 0);
	ck_assert_uint_eq(socks4_request_build(out, SOCKS_CMD_UDP, &a, NULL), 0);
	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa6("::1", 80)), CT_OK);
	ck_assert_uint_eq(socks4_request_build(out, SOCKS_CMD_CONNECT, &a, NULL), 0);
}
END_TEST

START_TEST(test_socks4_reply_parse)
{
	struct socks_result res;

	check_whole(K_REPLY4, S("\x00\x5a\x1f\x90\x0a\x00\x00\x01"), &res);
	ck_assert_uint_eq(res.u.f.cd, SOCKS4_REP_GRANTED);
	ck_assert_uint_eq(res.u.f.port, 8080);
	ck_assert_mem_eq(res.u.f.ip, "\x0a\x00\x00\x01", 4);
	check_whole(K_REPLY4, S("\x00\x5b\x00\x00\x00\x00\x00\x00"), &res);
	ck_assert_uint_eq(res.u.f.cd, SOCKS4_REP_REJECTED);
	check_whole(K_REPLY4, S("\x00\x5c\x00\x00\x00\x00\x00\x00"), NULL);
	check_whole(K_REPLY4, S("\x00\x5d\x00\x00\x00\x00\x00\x00"), NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Round trips: what the client side builds, the server side reads     */
/* ------------------------------------------------------------------ */

START_TEST(test_roundtrip_greeting_auth)
{
	uint8_t out[SOCKS5_AUTH_MAX], m;
	struct socks_result res;
	const char *why;
	size_t n;

	n = socks5_greeting_build(out, 1);
	ck_assert_int_eq(run(K_HELLO, out, n, &res), CT_OK);
	ck_assert_uint_eq(res.consumed, n);
	ck_assert_uint_eq(socks5_method_select(res.u.h.methods, res.u.h.nmethods,
	    SOCKS5_ALLOW_USERPASS), SOCKS5_METHOD_USERPASS);
	n = socks5_greeting_build(out, 0);
	ck_assert_int_eq(run(K_HELLO, out, n, &res), CT_OK);
	ck_assert_uint_eq(socks5_method_select(res.u.h.methods, res.u.h.nmethods,
	    SOCKS5_ALLOW_USERPASS), SOCKS5_METHOD_REFUSED);

	n = socks5_method_reply_build(out, SOCKS5_METHOD_USERPASS);
	ck_assert_int_eq(socks5_method_reply_parse(out, n, 1, &m, &why), CT_OK);
	ck_assert_uint_eq(m, SOCKS5_METHOD_USERPASS);

	n = socks5_auth_build(out, "us\xc3\xa9r", 5, "p@ss:w", 6);
	check_whole(K_AUTH, out, n, &res);
	ck_assert_str_eq(res.u.a.user, "us\xc3\xa9r");
	ck_assert_str_eq(res.u.a.pass, "p@ss:w");

	n = socks5_auth_reply_build(out, SOCKS5_AUTH_SUCCESS);
	ck_assert_int_eq(socks5_auth_reply_parse(out, n, &why), CT_OK);
	n = socks5_auth_reply_build(out, SOCKS5_AUTH_FAILURE);
	ck_assert_int_eq(socks5_auth_reply_parse(out, n, &why), CT_ERROR);
}
END_TEST

static void
roundtrip_request(uint8_t cmd, const struct socks_addr *a)
{
	uint8_t out[SOCKS5_REQUEST_MAX];
	struct socks_result res;
	size_t n;

	n = socks5_request_build(out, cmd, a);
	ck_assert_uint_gt(n, 0);
	check_whole(K_REQUEST, out, n, &res);
	ck_assert_uint_eq(res.u.r.cmd, cmd);
	ck_assert_uint_eq(res.u.r.dst.atyp, a->atyp);
	ck_assert_uint_eq(res.u.r.dst.port, a->port);
	ck_assert_mem_eq(res.u.r.dst.ip, a->ip, 16);
	ck_assert_str_eq(res.u.r.dst.name, a->name);
	ck_assert_uint_eq(res.u.r.dst.name_len, a->name_len);
}

START_TEST(test_roundtrip_request)
{
	struct socks_addr a;
	const char *why;
	uint8_t cmd;

	for (cmd = SOCKS_CMD_CONNECT; cmd <= SOCKS_CMD_UDP; cmd++) {
		ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa4("10.9.8.7", 65535)), CT_OK);
		roundtrip_request(cmd, &a);
		ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa6("2001:db8::42", 1)), CT_OK);
		roundtrip_request(cmd, &a);
		ck_assert_int_eq(socks_addr_set_name(&a, "a-b_c.d9.example", 16, 8080, &why), CT_OK);
		roundtrip_request(cmd, &a);
	}
}
END_TEST

START_TEST(test_roundtrip_socks4)
{
	uint8_t out[SOCKS4_REQUEST_MAX];
	struct socks_addr a;
	struct socks_result res;
	const char *why;
	size_t n;

	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa4("10.0.0.1", 21)), CT_OK);
	n = socks4_request_build(out, SOCKS_CMD_BIND, &a, "who");
	check_whole(K_HELLO, out, n, &res);
	ck_assert_uint_eq(res.u.h.cmd, SOCKS_CMD_BIND);
	ck_assert(!res.u.h.socks4a);
	ck_assert_mem_eq(res.u.h.dst.ip, a.ip, 4);
	ck_assert_uint_eq(res.u.h.dst.port, 21);
	ck_assert_str_eq(res.u.h.userid, "who");

	ck_assert_int_eq(socks_addr_set_name(&a, "mail.example", 12, 25, &why), CT_OK);
	n = socks4_request_build(out, SOCKS_CMD_CONNECT, &a, NULL);
	check_whole(K_HELLO, out, n, &res);
	ck_assert(res.u.h.socks4a);
	ck_assert_str_eq(res.u.h.dst.name, "mail.example");
	ck_assert_uint_eq(res.u.h.dst.port, 25);

	n = socks4_reply_build(out, SOCKS4_REP_GRANTED, sa4("10.0.0.1", 2121));
	check_whole(K_REPLY4, out, n, &res);
	ck_assert_uint_eq(res.u.f.cd, SOCKS4_REP_GRANTED);
	ck_assert_uint_eq(res.u.f.port, 2121);
}
END_TEST

START_TEST(test_roundtrip_reply_udp)
{
	uint8_t out[SOCKS5_REPLY_MAX];
	struct socks5_udp u;
	struct socks_result res;
	size_t n;

	n = socks5_reply_build(out, SOCKS5_REP_SUCCEEDED, sa6("2001:db8::1", 40000));
	check_whole(K_REPLY5, out, n, &res);
	ck_assert_uint_eq(res.u.p.bnd.atyp, SOCKS5_ATYP_IPV6);
	ck_assert_uint_eq(res.u.p.bnd.port, 40000);
	n = socks5_reply_build(out, SOCKS5_REP_TTL_EXPIRED, sa4("10.0.0.1", 1));
	check_whole(K_REPLY5, out, n, &res);
	ck_assert_uint_eq(res.u.p.rep, SOCKS5_REP_TTL_EXPIRED);

	n = socks5_udp_header_build(out, sa6("2001:db8::53", 53));
	ck_assert_int_eq(udp(out, n, &u), CT_OK);
	ck_assert_uint_eq(u.data_off, n);
	ck_assert_uint_eq(u.dst.atyp, SOCKS5_ATYP_IPV6);
	ck_assert_uint_eq(u.dst.port, 53);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Addresses                                                           */
/* ------------------------------------------------------------------ */

START_TEST(test_addr_name)
{
	struct socks_addr a;
	const char *why;
	char big[257];

	ck_assert_int_eq(socks_addr_set_name(&a, "WWW.Example.NET.", 16, 80, &why), CT_OK);
	ck_assert_str_eq(a.name, "www.example.net");
	ck_assert_uint_eq(a.name_len, 15);
	ck_assert_uint_eq(a.atyp, SOCKS5_ATYP_NAME);
	ck_assert_uint_eq(a.port, 80);
	ck_assert_uint_eq(socks_addr_to_sockaddr(&a, &ss), 0);

	ck_assert_int_eq(socks_addr_set_name(&a, "", 0, 80, &why), CT_ERROR);
	ck_assert_str_eq(why, "empty host name");
	ck_assert_int_eq(socks_addr_set_name(&a, "a\0b", 3, 80, &why), CT_ERROR);
	ck_assert_str_eq(why, "NUL in host name");
	ck_assert_int_eq(socks_addr_set_name(&a, "a:b", 3, 80, &why), CT_ERROR);
	ck_assert_str_eq(why, "invalid character in host name");
	ck_assert_int_eq(socks_addr_set_name(&a, "a..", 3, 80, &why), CT_ERROR);
	ck_assert_str_eq(why, "empty label in host name");
	memset(big, 'h', sizeof(big));
	ck_assert_int_eq(socks_addr_set_name(&a, big, 255, 80, &why), CT_OK);
	ck_assert_int_eq(socks_addr_set_name(&a, big, 256, 80, &why), CT_ERROR);
	ck_assert_str_eq(why, "host name longer than 255 bytes");
}
END_TEST

START_TEST(test_addr_sockaddr)
{
	struct sockaddr_storage back;
	struct socks_addr a;

	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa4("127.0.0.2", 8080)), CT_OK);
	ck_assert_uint_eq(socks_addr_to_sockaddr(&a, &back), sizeof(struct sockaddr_in));
	ck_assert_mem_eq(&back, &ss, sizeof(struct sockaddr_in));
	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa6("::1", 443)), CT_OK);
	ck_assert_uint_eq(socks_addr_to_sockaddr(&a, &back), sizeof(struct sockaddr_in6));
	ck_assert_mem_eq(&back, &ss, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa6("::ffff:127.0.0.1", 443)), CT_OK);
	ck_assert_uint_eq(a.atyp, SOCKS5_ATYP_IPV4);
	ck_assert_mem_eq(a.ip, "\x7f\x00\x00\x01", 4);
	ck_assert_int_eq(socks_addr_from_sockaddr(&a, sa_unix()), CT_ERROR);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Proxy URLs                                                          */
/* ------------------------------------------------------------------ */

static const struct {
	const char *url;
	enum proxy_type type;
	uint8_t atyp;
	const char *host;           /* the name, or the literal the address must equal */
	uint16_t port;
	const char *user;
	const char *pass;
} url_good[] = {
	{ "socks5://127.0.0.1:1080", PROXY_SOCKS5, SOCKS5_ATYP_IPV4, "127.0.0.1", 1080, "", "" },
	{ "socks5h://Proxy.Example.com:1080", PROXY_SOCKS5H, SOCKS5_ATYP_NAME, "proxy.example.com", 1080, "", "" },
	{ "SOCKS5://[::1]:9050", PROXY_SOCKS5, SOCKS5_ATYP_IPV6, "::1", 9050, "", "" },
	{ "socks5://bob:s3cret@hop:1", PROXY_SOCKS5, SOCKS5_ATYP_NAME, "hop", 1, "bob", "s3cret" },
	{ "socks5://b%40b:p%3Aw%25d@[2001:db8::1]:65535", PROXY_SOCKS5, SOCKS5_ATYP_IPV6, "2001:db8::1", 65535, "b@b", "p:w%d" },
	{ "socks5://u:a:b@h:2", PROXY_SOCKS5, SOCKS5_ATYP_NAME, "h", 2, "u", "a:b" },
	{ "socks5://u%c3%A9:p!$&'()*+,;=~@h:3", PROXY_SOCKS5, SOCKS5_ATYP_NAME, "h", 3, "u\xc3\xa9", "p!$&'()*+,;=~" },
	{ "socks4://10.0.0.1:1080", PROXY_SOCKS4, SOCKS5_ATYP_IPV4, "10.0.0.1", 1080, "", "" },
	{ "socks4://ident@10.0.0.1:1080", PROXY_SOCKS4, SOCKS5_ATYP_IPV4, "10.0.0.1", 1080, "ident", "" },
	{ "socks4a://joe@gw.example:1080", PROXY_SOCKS4A, SOCKS5_ATYP_NAME, "gw.example", 1080, "joe", "" },
	{ "socks4a://gw_1.example.:1080", PROXY_SOCKS4A, SOCKS5_ATYP_NAME, "gw_1.example", 1080, "", "" },
	{ "http://squid:3128", PROXY_HTTP, SOCKS5_ATYP_NAME, "squid", 3128, "", "" },
	{ "http://u:@squid:3128", PROXY_HTTP, SOCKS5_ATYP_NAME, "squid", 3128, "u", "" },
	{ "http://u@squid:3128", PROXY_HTTP, SOCKS5_ATYP_NAME, "squid", 3128, "u", "" },
	{ "http://u:p:q@[fe80::2]:08080", PROXY_HTTP, SOCKS5_ATYP_IPV6, "fe80::2", 8080, "u", "p:q" },
};

START_TEST(test_url_good)
{
	struct proxy_url u;
	const char *why = NULL;
	uint8_t ip[16] = { 0 };

	ck_assert_msg(proxy_url_parse(url_good[_i].url, &u, &why) == CT_OK, "%s: %s",
	    url_good[_i].url, why);
	ck_assert_int_eq(u.type, url_good[_i].type);
	ck_assert_uint_eq(u.addr.atyp, url_good[_i].atyp);
	if (u.addr.atyp == SOCKS5_ATYP_NAME) {
		ck_assert_str_eq(u.addr.name, url_good[_i].host);
	} else {
		ck_assert_int_eq(inet_pton(u.addr.atyp == SOCKS5_ATYP_IPV4 ? AF_INET : AF_INET6,
		    url_good[_i].host, ip), 1);
		ck_assert_mem_eq(u.addr.ip, ip, 16);
	}
	ck_assert_uint_eq(u.addr.port, url_good[_i].port);
	ck_assert_str_eq(u.user, url_good[_i].user);
	ck_assert_uint_eq(u.user_len, strlen(url_good[_i].user));
	ck_assert_str_eq(u.pass, url_good[_i].pass);
	ck_assert_uint_eq(u.pass_len, strlen(url_good[_i].pass));
}
END_TEST

static const struct {
	const char *url;
	const char *why;
} url_bad[] = {
	{ "127.0.0.1:1080", "missing scheme, as in socks5://host:port" },
	{ "socks6://h:1", "unknown scheme; use socks4, socks4a, socks5, socks5h or http" },
	{ "https://h:443", "unknown scheme; use socks4, socks4a, socks5, socks5h or http" },
	{ "://h:1", "unknown scheme; use socks4, socks4a, socks5, socks5h or http" },
	{ "socks5://h", "missing port" },
	{ "socks5://h:", "missing port" },
	{ "socks5://[::1]", "missing port" },
	{ "socks5://h:0", "port must be between 1 and 65535" },
	{ "socks5://h:65536", "port must be between 1 and 65535" },
	{ "socks5://h:99999999999999999999", "port must be between 1 and 65535" },
	{ "socks5://h:-1", "port must be a decimal number" },
	{ "socks5://h:1a", "port must be a decimal number" },
	{ "socks5://:1080", "empty host" },
	{ "socks5://u:p@:1080", "empty host" },
	{ "socks5://h:1/", "a path, query or fragment after the port" },
	{ "socks5://h:1?x", "a path, query or fragment after the port" },
	{ "socks5://h:1#x", "a path, query or fragment after the port" },
	{ "socks5://h h:1", "invalid character in proxy URL" },
	{ "socks5://h\x01:1", "invalid character in proxy URL" },
	{ "socks5://h\xc3\xa9:1", "invalid character in proxy URL" },
	{ "socks5://u\"@h:1", "invalid character in proxy URL" },
	{ "socks5://h%41:1", "invalid character in host name" },
	{ "socks5://h!:1", "invalid character in host name" },
	{ "socks5://a..b:1", "empty label in host name" },
	{ "socks5://::1:1080", "IPv6 addresses must be in brackets, as in [::1]:80" },
	{ "socks5://[::g]:1080", "invalid IPv6 address" },
	{ "socks5://[fe80::1%25eth0]:1080", "invalid IPv6 address" },
	{ "socks5://[10.0.0.1]:1080", "brackets are only for IPv6 addresses" },
	{ "socks5://[::1]x:1080", "expected \":\" and a port after \"]\"" },
	{ "socks5://1.2.3.256:1080", "invalid IPv4 address" },
	{ "socks5://u:p@x@h:1", "two \"@\"; write one in a user or password as %40" },
	{ "socks5://u@h:1", "a socks5 user needs a password (RFC 1929)" },
	{ "socks5h://u:@h:1", "a socks5 user needs a password (RFC 1929)" },
	{ "socks5://:p@h:1", "empty user" },
	{ "socks5://u%0a:p@h:1", "control character in user" },
	{ "socks5://u:p%00@h:1", "NUL in password" },
	{ "socks5://u:p%4@h:1", "invalid percent-encoding in user or password" },
	{ "socks5://u%zz:p@h:1", "invalid percent-encoding in user or password" },
	{ "socks5://u[:p@h:1", "invalid character in user or password; percent-encode it" },
	{ "socks4://u:p@h:1", "socks4 has a user id and no password" },
	{ "socks4a://u:@h:1", "socks4 has a user id and no password" },
	{ "socks4a://@h:1", "empty user" },
	{ "http://a%3ab:p@h:1", "\":\" in the user of HTTP basic authentication" },
};

START_TEST(test_url_bad)
{
	struct proxy_url u;
	const char *why = NULL;

	ck_assert_msg(proxy_url_parse(url_bad[_i].url, &u, &why) == CT_ERROR, "%s accepted",
	    url_bad[_i].url);
	ck_assert_str_eq(why, url_bad[_i].why);
}
END_TEST

START_TEST(test_url_lengths)
{
	char url[1024], cred[256];
	struct proxy_url u;
	const char *why;

	/* 255 bytes of user and of password after decoding, not before */
	memset(cred, 'x', 255);
	cred[255] = '\0';
	snprintf(url, sizeof(url), "socks5://%s:%%41%s@h:1", cred, cred + 1);
	ck_assert_int_eq(proxy_url_parse(url, &u, &why), CT_OK);
	ck_assert_uint_eq(u.user_len, 255);
	ck_assert_uint_eq(u.pass_len, 255);
	ck_assert_int_eq(u.pass[0], 'A');
	snprintf(url, sizeof(url), "socks5://%sx:p@h:1", cred);
	ck_assert_int_eq(proxy_url_parse(url, &u, &why), CT_ERROR);
	ck_assert_str_eq(why, "user or password longer than 255 bytes");
	snprintf(url, sizeof(url), "socks5://u:%s%%41@h:1", cred);
	ck_assert_int_eq(proxy_url_parse(url, &u, &why), CT_ERROR);
	ck_assert_str_eq(why, "user or password longer than 255 bytes");

	snprintf(url, sizeof(url), "socks5h://%s:1", cred);
	ck_assert_int_eq(proxy_url_parse(url, &u, &why), CT_OK);
	ck_assert_uint_eq(u.addr.name_len, 255);
	snprintf(url, sizeof(url), "socks5h://%sx:1", cred);
	ck_assert_int_eq(proxy_url_parse(url, &u, &why), CT_ERROR);
	ck_assert_str_eq(why, "host name longer than 255 bytes");

	ck_assert_str_eq(proxy_type_name(PROXY_SOCKS5H), "socks5h");
	ck_assert_str_eq(proxy_type_name(PROXY_HTTP), "http");
}
END_TEST

Suite *
suite_socks(void)
{
	Suite *s = suite_create("socks");
	TCase *tc;

	tc = tcase_create("hello");
	tcase_add_test(tc, test_socks4_connect);
	tcase_add_test(tc, test_socks4_bind_no_userid);
	tcase_add_test(tc, test_socks4_zero_ip_not_4a);
	tcase_add_test(tc, test_socks4a);
	tcase_add_test(tc, test_socks4a_mark_and_dot);
	tcase_add_test(tc, test_socks4_limits);
	tcase_add_test(tc, test_socks5_greeting);
	tcase_add_test(tc, test_socks5_greeting_255);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_add_loop_test(tc, test_method_select, 0, CT_NELEM(select_cases));
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_auth_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_test(tc, test_request_ipv4);
	tcase_add_test(tc, test_request_name);
	tcase_add_test(tc, test_request_ipv6);
	tcase_add_test(tc, test_request_bind_udp);
	tcase_add_test(tc, test_request_name_255);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad, 0, CT_NELEM(bad_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("udp");
	tcase_add_test(tc, test_udp);
	tcase_add_test(tc, test_udp_fragment);
	tcase_add_test(tc, test_udp_short);
	tcase_add_test(tc, test_udp_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("replies");
	tcase_add_test(tc, test_method_auth_replies);
	tcase_add_test(tc, test_socks5_reply_build);
	tcase_add_test(tc, test_socks4_reply_build);
	tcase_add_test(tc, test_udp_header_build);
	tcase_add_test(tc, test_reply_codes);
	tcase_add_test(tc, test_reply_texts);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_add_test(tc, test_greeting_build);
	tcase_add_test(tc, test_method_reply_parse);
	tcase_add_test(tc, test_auth_build);
	tcase_add_test(tc, test_auth_reply_parse);
	tcase_add_test(tc, test_request_build);
	tcase_add_test(tc, test_reply_parse);
	tcase_add_test(tc, test_reply_code_early);
	tcase_add_test(tc, test_socks4_request_build);
	tcase_add_test(tc, test_socks4_reply_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_add_test(tc, test_roundtrip_greeting_auth);
	tcase_add_test(tc, test_roundtrip_request);
	tcase_add_test(tc, test_roundtrip_socks4);
	tcase_add_test(tc, test_roundtrip_reply_udp);
	suite_add_tcase(s, tc);

	tc = tcase_create("addr");
	tcase_add_test(tc, test_addr_name);
	tcase_add_test(tc, test_addr_sockaddr);
	suite_add_tcase(s, tc);

	tc = tcase_create("url");
	tcase_add_loop_test(tc, test_url_good, 0, CT_NELEM(url_good));
	tcase_add_loop_test(tc, test_url_bad, 0, CT_NELEM(url_bad));
	tcase_add_test(tc, test_url_lengths);
	suite_add_tcase(s, tc);
	return s;
}

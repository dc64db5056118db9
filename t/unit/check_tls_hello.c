/*
 * lib/tls_hello.c: ClientHellos built here field by field, one option
 * per rule, and one captured from openssl s_client.  Every input is
 * copied so that it ends right before an unreadable page: a parser that
 * reads one byte too far crashes the test.  Rejected inputs are one
 * named line each, with the reason they must give, and every prefix of
 * them must give CT_AGAIN or that same reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/tls_hello.h"
#include "t/unit/guard.h"
#include "t/unit/suites.h"

/* Room for the largest input here, a multiple of any page size. */
#define WR_MAX      (20 * 1024)

/* A string literal with its length, NULs inside included. */
#define S(lit) lit, sizeof(lit) - 1

/* Copies s[0..n) so that it ends where the unreadable page begins. */
static const uint8_t *
guarded(const uint8_t *s, size_t n)
{
	return guard_copy(s, n);
}

static int
parse(const uint8_t *s, size_t n, struct tls_hello *h)
{
	return tls_hello_parse(guarded(s, n), n, h);
}

/* ------------------------------------------------------------------ */
/* A ClientHello builder                                               */
/* ------------------------------------------------------------------ */

struct wr {
	uint8_t b[WR_MAX];
	size_t n;
};

static void
put8(struct wr *w, size_t v)
{
	ck_assert(w->n < WR_MAX);
	w->b[w->n++] = (uint8_t)v;
}

static void
put16(struct wr *w, size_t v)
{
	put8(w, v >> 8 & 0xff);
	put8(w, v & 0xff);
}

static void
putn(struct wr *w, const void *p, size_t n)
{
	ck_assert(n <= WR_MAX - w->n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
putfill(struct wr *w, uint8_t c, size_t n)
{
	ck_assert(n <= WR_MAX - w->n);
	memset(w->b + w->n, c, n);
	w->n += n;
}

/* Writes v, plus delta, as a big-endian field of size bytes at off. */
static void
patch(struct wr *w, size_t off, size_t size, size_t v, int delta)
{
	size_t i;

	v += (size_t)(long)delta;
	for (i = 0; i < size; i++)
		w->b[off + i] = (uint8_t)(v >> (8 * (size - 1 - i)));
}

/*
 * What a test hello holds.  Zero is the plain case everywhere: a
 * 3.3 hello with two cipher suites, null compression, and extensions
 * server_name (when sni), ALPN (when alpn) and supported_versions, in
 * one 3.1 record.
 */
struct hello_spec {
	const char *sni;            /* host_name; NULL: no server_name */
	size_t sni_len;             /* 0: strlen(sni); else its bytes, NULs included */
	int two_hosts;              /* host_name twice in the list */
	int other_name;             /* a name of another type before it */
	int sni_list_delta;         /* added to the server_name list length */
	const char *alpn;           /* protocol_name_list, length-prefixed names */
	size_t alpn_len;
	size_t sid_len;             /* session_id bytes */
	int cs_len;                 /* cipher_suites bytes; 0: 4; -1: none */
	int no_comp;                /* no compression methods */
	int no_ext;                 /* no extensions block */
	int dup_ext;                /* supported_versions twice */
	size_t pad;                 /* a padding extension of this many bytes */
	int ext_delta;              /* added to the extensions length */
	int hs_delta;               /* added to the handshake length */
	/* records */
	size_t cuts[3];             /* the message cut after these offsets (0 ends the list) */
	int between;                /* content type of a record after the first fragment */
	size_t extra;               /* bytes after the hello in its last record */
	/* bytes of the result overwritten */
	size_t patch_at;
	const char *patch;
	size_t patch_len;
};

static void
build_server_name(struct wr *w, const struct hello_spec *s)
{
	size_t n = s->sni_len > 0 ? s->sni_len : strlen(s->sni), ext, list, i;

	put16(w, 0);
	ext = w->n;
	put16(w, 0);
	list = w->n;
	put16(w, 0);
	if (s->other_name)
		putn(w, "\x07\x00\x01z", 4);
	for (i = 0; i < (s->two_hosts ? 2u : 1u); i++) {
		put8(w, 0);
		put16(w, n);
		putn(w, s->sni, n);
	}
	patch(w, list, 2, w->n - list - 2, s->sni_list_delta);
	patch(w, ext, 2, w->n - ext - 2, 0);
}

/* The handshake message alone. */
static void
build_message(struct wr *w, const struct hello_spec *s)
{
	size_t ext, cs = s->cs_len == 0 ? 4 : s->cs_len < 0 ? 0 : (size_t)s->cs_len;
	size_t i;

	w->n = 0;
	put8(w, 1);
	putfill(w, 0, 3);
	put16(w, 0x0303);
	putfill(w, 0x5a, 32);
	put8(w, s->sid_len);
	putfill(w, 0xa5, s->sid_len);
	put16(w, cs);
	for (i = 0; i < cs; i++)
		put8(w, i % 2 == 0 ? 0x13 : i / 2 + 1);
	put8(w, s->no_comp ? 0 : 1);
	if (!s->no_comp)
		put8(w, 0);
	if (!s->no_ext) {
		ext = w->n;
		put16(w, 0);
		if (s->sni != NULL)
			build_server_name(w, s);
		if (s->alpn != NULL) {
			put16(w, 16);
			put16(w, s->alpn_len + 2);
			put16(w, s->alpn_len);
			putn(w, s->alpn, s->alpn_len);
		}
		for (i = 0; i < (s->dup_ext ? 2u : 1u); i++)
			putn(w, "\x00\x2b\x00\x03\x02\x03\x04", 7);
		if (s->pad > 0) {
			put16(w, 21);
			put16(w, s->pad);
			putfill(w, 0, s->pad);
		}
		patch(w, ext, 2, w->n - ext - 2, s->ext_delta);
	}
	patch(w, 1, 3, w->n - 4, s->hs_delta);
}

static void
put_record(struct wr *w, int type, const uint8_t *p, size_t n, size_t extra)
{
	put8(w, (size_t)type);
	put16(w, 0x0301);
	put16(w, n + extra);
	putn(w, p, n);
	putfill(w, 0, extra);
}

/* The hello of s, in its records, into out. */
static void
build(struct wr *out, const struct hello_spec *s)
{
	static struct wr msg;
	size_t from = 0, to, i;

	build_message(&msg, s);
	out->n = 0;
	for (i = 0; i <= CT_NELEM(s->cuts); i++) {
		to = i < CT_NELEM(s->cuts) && s->cuts[i] > 0 ? s->cuts[i] : msg.n;
		put_record(out, 22, msg.b + from, to - from, to == msg.n ? s->extra : 0);
		if (i == 0 && s->between != 0)
			put_record(out, s->between, (const uint8_t *)"\x01\x00", 2, 0);
		if ((from = to) == msg.n)
			break;
	}
	if (s->patch_len > 0) {
		ck_assert(s->patch_at + s->patch_len <= out->n);
		memcpy(out->b + s->patch_at, s->patch, s->patch_len);
	}
}

/* Parses the hello of s, which must be accepted whole. */
static void
parse_ok(const struct hello_spec *s, struct wr *w, struct tls_hello *h)
{
	build(w, s);
	ck_assert_int_eq(parse(w->b, w->n, h), CT_OK);
	ck_assert_uint_eq(h->consumed, w->n);
	ck_assert_uint_eq(h->sni_len, strlen(h->sni));
}

/*
 * A hello captured from "openssl s_client -connect 127.0.0.1:PORT
 * -servername x.test -alpn h2,http/1.1" (OpenSSL 3.0.19) against a
 * socket that only listened: the one record it sent, as sent.
 */
static const uint8_t openssl_hello[] = {
	0x16, 0x03, 0x01, 0x01, 0x45, 0x01, 0x00, 0x01, 0x41, 0x03, 0x03, 0x60,
	0xc1, 0xdb, 0x28, 0x1d, 0x59, 0x33, 0xcb, 0x37, 0xfd, 0xc0, 0xa3, 0x8a,
	0x2f, 0x16, 0xef, 0xaf, 0x2e, 0xee, 0x5d, 0x7f, 0x85, 0xb7, 0x71, 0x55,
	0x09, 0x33, 0x8b, 0x78, 0x04, 0xac, 0xce, 0x20, 0xaf, 0x85, 0x7f, 0xb5,
	0xc6, 0xbe, 0x2a, 0x9d, 0xcc, 0xed, 0x30, 0xfd, 0x1e, 0x52, 0xf7, 0xbc,
	0x32, 0x23, 0x3e, 0x49, 0x00, 0x65, 0x68, 0xec, 0x3c, 0xd7, 0x23, 0x54,
	0x75, 0x30, 0x33, 0xd8, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xba,
	0x00, 0x00, 0x00, 0x0b, 0x00, 0x09, 0x00, 0x00, 0x06, 0x78, 0x2e, 0x74,
	0x65, 0x73, 0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00,
	0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00,
	0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01,
	0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02,
	0x68, 0x32, 0x08, 0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00,
	0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00,
	0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08,
	0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04,
	0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04,
	0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04,
	0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,
	0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xde, 0x4f,
	0xe1, 0xe8, 0x92, 0xa2, 0xfa, 0x9d, 0x24, 0xd6, 0x18, 0xdb, 0x7d, 0x24,
	0x09, 0xfe, 0xe1, 0x9b, 0x85, 0x55, 0x10, 0x4e, 0x5c, 0xd2, 0x3e, 0x64,
	0x66, 0xdd, 0x44, 0x2b, 0xa2, 0x4f,
};

/* ------------------------------------------------------------------ */
/* Accepted hellos                                                     */
/* ------------------------------------------------------------------ */

START_TEST(test_sni)
{
	static const struct hello_spec s = { .sni = "www.example.com" };
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_str_eq(h.sni, "www.example.com");
	ck_assert_uint_eq(h.sni_len, 15);
	ck_assert_uint_eq(h.record_version, 0x0301);
	ck_assert_uint_eq(h.hello_version, 0x0303);
	ck_assert_uint_eq(h.nrecords, 1);
	ck_assert_uint_eq(h.alpn_len, 0);
	ck_assert(!h.sslv2);
}
END_TEST

START_TEST(test_no_sni)
{
	static const struct hello_spec s = { .alpn = "\x02h2", .alpn_len = 3 };
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_str_eq(h.sni, "");
	ck_assert_uint_eq(h.alpn_len, 3);
}
END_TEST

START_TEST(test_no_extensions)
{
	static const struct hello_spec s = { .no_ext = 1, .sid_len = 32 };
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_str_eq(h.sni, "");
	ck_assert_uint_eq(h.alpn_len, 0);
}
END_TEST

START_TEST(test_alpn)
{
	static const struct hello_spec s = {
		.sni = "a.test", .alpn = S("\x02h2\x08http/1.1")
	};
	static struct wr w;
	struct tls_hello h;
	const uint8_t *p;
	size_t off = 0, n;

	parse_ok(&s, &w, &h);
	ck_assert_uint_eq(h.alpn_len, 12);
	ck_assert(memcmp(h.alpn, "\x02h2\x08http/1.1", 12) == 0);
	ck_assert(!h.alpn_truncated);
	ck_assert((p = tls_alpn_next(&h, &off, &n)) != NULL);
	ck_assert(n == 2 && memcmp(p, "h2", 2) == 0);
	ck_assert((p = tls_alpn_next(&h, &off, &n)) != NULL);
	ck_assert(n == 8 && memcmp(p, "http/1.1", 8) == 0);
	ck_assert(tls_alpn_next(&h, &off, &n) == NULL);
	ck_assert_str_eq(h.sni, "a.test");
}
END_TEST

/* A list longer than TLS_ALPN_MAX keeps its first whole names. */
START_TEST(test_alpn_truncated)
{
	static char list[30 * 11];
	static struct hello_spec s;
	static struct wr w;
	struct tls_hello h;
	size_t i, off = 0, n, names = 0;

	for (i = 0; i < 30; i++)
		memcpy(list + 11 * i, "\x0aproto-name", 11);
	list[11 * 29 + 10] = 'X';
	s.alpn = list;
	s.alpn_len = sizeof(list);
	parse_ok(&s, &w, &h);
	ck_assert(h.alpn_truncated);
	ck_assert_uint_eq(h.alpn_len, 11 * (TLS_ALPN_MAX / 11));
	while (tls_alpn_next(&h, &off, &n) != NULL) {
		ck_assert_uint_eq(n, 10);
		names++;
	}
	ck_assert_uint_eq(names, TLS_ALPN_MAX / 11);
}
END_TEST

START_TEST(test_split_two_records)
{
	static const struct hello_spec s = {
		.sni = "two.test", .alpn = S("\x02h2"), .cuts = { 50 }
	};
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_uint_eq(h.nrecords, 2);
	ck_assert_str_eq(h.sni, "two.test");
	ck_assert_uint_eq(h.alpn_len, 3);
}
END_TEST

/* Cut inside the handshake length and inside the host name. */
START_TEST(test_split_three_records)
{
	static const struct hello_spec s = {
		.sni = "three.test", .alpn = S("\x02h2"), .cuts = { 2, 60 }
	};
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_uint_eq(h.nrecords, 3);
	ck_assert_str_eq(h.sni, "three.test");
}
END_TEST

/* Records of one byte each, built from the one-record hello. */
START_TEST(test_split_every_byte)
{
	static const struct hello_spec s = { .sni = "bytes.test", .alpn = S("\x02h2") };
	static struct wr one, w;
	struct tls_hello h;
	size_t i;

	build(&one, &s);
	w.n = 0;
	for (i = 5; i < one.n; i++)
		put_record(&w, 22, one.b + i, 1, 0);
	ck_assert_int_eq(parse(w.b, w.n, &h), CT_OK);
	ck_assert_uint_eq(h.nrecords, one.n - 5);
	ck_assert_uint_eq(h.consumed, w.n);
	ck_assert_str_eq(h.sni, "bytes.test");
	ck_assert_uint_eq(h.alpn_len, 3);
}
END_TEST

/* A hello of TLS_HELLO_MAX bytes needs two records. */
START_TEST(test_hello_max)
{
	static struct hello_spec s = { .sni = "max.test", .cuts = { 16000 } };
	static struct wr w;
	struct tls_hello h;

	build_message(&w, &s);
	s.pad = TLS_HELLO_MAX - (w.n - 4) - 4;
	parse_ok(&s, &w, &h);
	ck_assert_uint_eq(w.n, 4 + TLS_HELLO_MAX + 2 * 5);
	ck_assert_str_eq(h.sni, "max.test");
}
END_TEST

/* What follows the hello (a ChangeCipherSpec, early data) is not taken. */
START_TEST(test_followed_by_records)
{
	static const struct hello_spec s = { .sni = "next.test" };
	static struct wr w;
	struct tls_hello h;
	size_t n;

	build(&w, &s);
	n = w.n;
	putn(&w, "\x14\x03\x03\x00\x01\x01\x17\x03\x03\x00\x05hello", 16);
	ck_assert_int_eq(parse(w.b, w.n, &h), CT_OK);
	ck_assert_uint_eq(h.consumed, n);
	ck_assert_str_eq(h.sni, "next.test");
}
END_TEST

START_TEST(test_record_versions)
{
	static const char *const versions[] = { "\x03\x00", "\x03\x01", "\x03\x03", "\x03\x04" };
	static struct hello_spec s = { .sni = "v.test", .patch_at = 1, .patch_len = 2 };
	static struct wr w;
	struct tls_hello h;
	size_t i;

	for (i = 0; i < CT_NELEM(versions); i++) {
		s.patch = versions[i];
		parse_ok(&s, &w, &h);
		ck_assert_uint_eq(h.record_version, 0x0300 | (uint8_t)versions[i][1]);
	}
}
END_TEST

START_TEST(test_uppercase_lowercased)
{
	static const struct hello_spec s = { .sni = "WWW.Example-1_A.COM" };
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_str_eq(h.sni, "www.example-1_a.com");
}
END_TEST

START_TEST(test_trailing_dot)
{
	static const struct hello_spec s = { .sni = "x.test." };
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_str_eq(h.sni, "x.test");
	ck_assert_uint_eq(h.sni_len, 6);
}
END_TEST

static char long_name[TLS_SNI_MAX + 2];

/* "a.a.a...": n bytes of labels of one letter, ending in a letter. */
static const char *
name_of(size_t n)
{
	size_t i;

	ck_assert(n < sizeof(long_name));
	for (i = 0; i < n; i++)
		long_name[i] = i % 2 == 0 ? 'a' : '.';
	long_name[n] = '\0';
	if (n % 2 == 0)
		long_name[n - 1] = 'b';
	return long_name;
}

START_TEST(test_name_of_255)
{
	static struct hello_spec s;
	static struct wr w;
	struct tls_hello h;

	s.sni = name_of(TLS_SNI_MAX);
	parse_ok(&s, &w, &h);
	ck_assert_uint_eq(h.sni_len, TLS_SNI_MAX);
	ck_assert_str_eq(h.sni, long_name);
}
END_TEST

/* Names of other types are stepped over. */
START_TEST(test_other_name_type)
{
	static const struct hello_spec s = { .sni = "o.test", .other_name = 1 };
	static struct wr w;
	struct tls_hello h;

	parse_ok(&s, &w, &h);
	ck_assert_str_eq(h.sni, "o.test");
}
END_TEST

/* An SSLv2-compatible hello of a TLS 1.0 client: three cipher specs, no session_id. */
static const uint8_t sslv2_hello[] = {
	0x80, 0x22, 0x01, 0x03, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x10,
	0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x00, 0x00, 0xff,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
};

START_TEST(test_sslv2)
{
	struct tls_hello h;

	ck_assert_int_eq(parse(sslv2_hello, sizeof(sslv2_hello), &h), CT_OK);
	ck_assert(h.sslv2);
	ck_assert_uint_eq(h.record_version, TLS_VERSION_SSL2);
	ck_assert_uint_eq(h.hello_version, 0x0301);
	ck_assert_uint_eq(h.consumed, sizeof(sslv2_hello));
	ck_assert_str_eq(h.sni, "");
	ck_assert_uint_eq(h.sni_len, 0);
	ck_assert_uint_eq(h.alpn_len, 0);
}
END_TEST

START_TEST(test_openssl_capture)
{
	struct tls_hello h;
	const uint8_t *p;
	size_t off = 0, n;

	ck_assert_int_eq(parse(openssl_hello, sizeof(openssl_hello), &h), CT_OK);
	ck_assert_uint_eq(h.consumed, sizeof(openssl_hello));
	ck_assert_uint_eq(h.record_version, 0x0301);
	ck_assert_uint_eq(h.hello_version, 0x0303);
	ck_assert_str_eq(h.sni, "x.test");
	ck_assert_uint_eq(h.sni_len, 6);
	ck_assert((p = tls_alpn_next(&h, &off, &n)) != NULL);
	ck_assert(n == 2 && memcmp(p, "h2", 2) == 0);
	ck_assert((p = tls_alpn_next(&h, &off, &n)) != NULL);
	ck_assert(n == 8 && memcmp(p, "http/1.1", 8) == 0);
	ck_assert(tls_alpn_next(&h, &off, &n) == NULL);
}
END_TEST

/*
 * A handshake length beyond its records is a valid prefix while no
 * other record has come: the next one may carry the rest.
 */
START_TEST(test_hello_beyond_records_waits)
{
	static const struct hello_spec s = { .no_ext = 1, .hs_delta = 2 };
	static struct wr w;
	struct tls_hello h;

	build(&w, &s);
	ck_assert_int_eq(parse(w.b, w.n, &h), CT_AGAIN);
	put_record(&w, 22, (const uint8_t *)"\x00\x00", 2, 0);
	ck_assert_int_eq(parse(w.b, w.n, &h), CT_OK);
	ck_assert_uint_eq(h.nrecords, 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Every prefix of a valid hello                                       */
/* ------------------------------------------------------------------ */

struct prefix_case {
	const char *name;
	struct hello_spec spec;
	const uint8_t *raw;             /* bytes instead of a built hello */
	size_t raw_len;
};

static const struct prefix_case prefix_cases[] = {
	{ .name = "sni and alpn", .spec = { .sni = "p.test", .alpn = S("\x02h2\x08http/1.1") } },
	{ .name = "three records",
	  .spec = { .sni = "p.test", .alpn = S("\x02h2"), .cuts = { 3, 70 } } },
	{ .name = "no extensions", .spec = { .no_ext = 1 } },
	{ .name = "sslv2", .raw = sslv2_hello, .raw_len = sizeof(sslv2_hello) },
	{ .name = "openssl", .raw = openssl_hello, .raw_len = sizeof(openssl_hello) },
};

START_TEST(test_every_prefix)
{
	const struct prefix_case *c = &prefix_cases[_i];
	static struct wr w;
	struct tls_hello h;
	size_t k;

	if (c->raw != NULL) {
		w.n = 0;
		putn(&w, c->raw, c->raw_len);
	} else
		build(&w, &c->spec);
	for (k = 0; k < w.n; k++)
		ck_assert_msg(parse(w.b, k, &h) == CT_AGAIN, "%s: %zu of %zu bytes: %s",
		    c->name, k, w.n, h.error ? h.error : "not CT_AGAIN");
	ck_assert_int_eq(parse(w.b, w.n, &h), CT_OK);
	ck_assert_uint_eq(h.consumed, w.n);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Rejected input                                                      */
/* ------------------------------------------------------------------ */

#define L16  "abcdefghijklmnop"
#define L256 L16 L16 L16 L16 L16 L16 L16 L16 L16 L16 L16 L16 L16 L16 L16 L16

struct bad_case {
	const char *name;
	struct hello_spec spec;
	const char *raw;                /* bytes instead of a built hello */
	size_t raw_len;
	const char *why;
};

#define RAW(lit) .raw = lit, .raw_len = sizeof(lit) - 1

/* Offsets in a one-record hello: the record's type, version, length; the message's type, length. */
#define AT_REC_TYPE  0
#define AT_REC_VER   1
#define AT_REC_LEN   3
#define AT_HS_TYPE   5
#define AT_HS_LEN    6
#define AT_VERSION   9
#define AT_CS_LEN    44     /* with no session_id */
#define AT_EXT1_LEN  56     /* the first extension's length, with no server_name nor ALPN */
#define PATCH(at, lit) .patch_at = (at), .patch = lit, .patch_len = sizeof(lit) - 1

static const struct bad_case bad_cases[] = {
	/* records */
	{ "record type 23 first", { .sni = "x.test", PATCH(AT_REC_TYPE, "\x17") },
	  .why = "not a TLS handshake record" },
	{ "record type 21 first", { .sni = "x.test", PATCH(AT_REC_TYPE, "\x15") },
	  .why = "not a TLS handshake record" },
	{ "record version 2.0", { .sni = "x.test", PATCH(AT_REC_VER, "\x02\x00") },
	  .why = "record version is not 3.x" },
	{ "record version 3.5", { .sni = "x.test", PATCH(AT_REC_VER, "\x03\x05") },
	  .why = "record version above 3.4" },
	{ "record length 0", { .sni = "x.test", PATCH(AT_REC_LEN, "\x00\x00") },
	  .why = "empty handshake record" },
	{ "record length 16385", { .sni = "x.test", PATCH(AT_REC_LEN, "\x40\x01") },
	  .why = "record longer than 16384 bytes" },
	{ "record length 0xff00", { .sni = "x.test", PATCH(AT_REC_LEN, "\xff\x00") },
	  .why = "record longer than 16384 bytes" },
	{ "alert between fragments", { .sni = "x.test", .cuts = { 50 }, .between = 21 },
	  .why = "a record of another type inside the ClientHello" },
	{ "application data between fragments",
	  { .sni = "x.test", .cuts = { 50 }, .between = 23 },
	  .why = "a record of another type inside the ClientHello" },
	{ "bytes after the hello in its record", { .sni = "x.test", .extra = 1 },
	  .why = "record longer than the ClientHello" },
	/* handshake message */
	{ "ServerHello", { .sni = "x.test", PATCH(AT_HS_TYPE, "\x02") },
	  .why = "handshake message is not a ClientHello" },
	{ "handshake length one less than its record", { .sni = "x.test", .hs_delta = -1 },
	  .why = "record longer than the ClientHello" },
	{ "handshake length one more than its records", { .sni = "x.test", .hs_delta = 1 },
	  .why = "extensions length does not match the ClientHello" },
	{ "handshake length one more, no extensions", { .no_ext = 1, .hs_delta = 1 },
	  .why = "extensions length truncated" },
	{ "handshake length over TLS_HELLO_MAX",
	  { .sni = "x.test", PATCH(AT_HS_LEN, "\x00\x40\x01") },
	  .why = "ClientHello longer than TLS_HELLO_MAX" },
	{ "handshake length 2^24 - 1", { .sni = "x.test", PATCH(AT_HS_LEN, "\xff\xff\xff") },
	  .why = "ClientHello longer than TLS_HELLO_MAX" },
	{ "handshake length under the least hello",
	  { .sni = "x.test", PATCH(AT_HS_LEN, "\x00\x00\x28") },
	  .why = "ClientHello too short" },
	{ "hello version 2.0", { .sni = "x.test", PATCH(AT_VERSION, "\x02\x00") },
	  .why = "ClientHello version is not 3.x" },
	{ "session_id 33", { .sni = "x.test", .sid_len = 33 },
	  .why = "session_id longer than 32 bytes" },
	{ "odd cipher suites length", { .sni = "x.test", .cs_len = 5 },
	  .why = "odd cipher suites length" },
	{ "no cipher suites", { .sni = "x.test", .cs_len = -1 },
	  .why = "no cipher suites" },
	{ "cipher suites length lying", { .sni = "x.test", PATCH(AT_CS_LEN, "\x7f\xfe") },
	  .why = "cipher suites longer than the ClientHello" },
	{ "no compression methods", { .sni = "x.test", .no_comp = 1 },
	  .why = "no compression methods" },
	/* extensions */
	{ "extensions length one more", { .sni = "x.test", .ext_delta = 1 },
	  .why = "extensions length does not match the ClientHello" },
	{ "extensions length one less", { .sni = "x.test", .ext_delta = -1 },
	  .why = "extensions length does not match the ClientHello" },
	{ "extension length lying", { PATCH(AT_EXT1_LEN, "\x00\x04") },
	  .why = "extension longer than the extensions" },
	{ "duplicate extension", { .sni = "x.test", .dup_ext = 1 },
	  .why = "duplicate extension" },
	/* server_name */
	{ "server_name list one more", { .sni = "x.test", .sni_list_delta = 1 },
	  .why = "server_name list length does not match its extension" },
	{ "server_name list one less", { .sni = "x.test", .sni_list_delta = -1 },
	  .why = "server_name list length does not match its extension" },
	{ "two host_names", { .sni = "x.test", .two_hosts = 1 },
	  .why = "two host_names in server_name" },
	{ "empty name", { .sni = "" }, .why = "empty server name" },
	{ "name with NUL", { .sni = "a\0b.test", .sni_len = 8 },
	  .why = "invalid character in server name" },
	{ "name with a space", { .sni = "a b.test" },
	  .why = "invalid character in server name" },
	{ "name with a non-ASCII byte", { .sni = "caf\xc3\xa9.test" },
	  .why = "invalid character in server name" },
	{ "name with a wildcard", { .sni = "*.test" },
	  .why = "invalid character in server name" },
	{ "name of 256 bytes", { .sni = L256 },
	  .why = "server name longer than 255 bytes" },
	{ "name of a dot alone", { .sni = "." }, .why = "empty label in server name" },
	{ "name starting with a dot", { .sni = ".x.test" },
	  .why = "empty label in server name" },
	{ "name with an empty label", { .sni = "x..test" },
	  .why = "empty label in server name" },
	/* ALPN */
	{ "ALPN empty list", { .alpn = "", .alpn_len = 0 },
	  .why = "ALPN extension too short" },
	{ "ALPN empty name", { .alpn = S("\x00\x02h2") },
	  .why = "empty ALPN protocol name" },
	{ "ALPN name longer than its list", { .alpn = S("\x05h2") },
	  .why = "ALPN protocol name longer than its list" },
	/* not TLS */
	{ "HTTP request", { 0 }, RAW("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	  .why = "not a TLS handshake record" },
	{ "SSL 2.0 hello", { 0 }, RAW("\x80\x22\x01\x00\x02\x00\x09\x00\x00\x00\x10"),
	  .why = "SSLv2 hello of no TLS version" },
	{ "SSLv2 record not a hello", { 0 }, RAW("\x80\x22\x04\x03\x01"),
	  .why = "SSLv2 record is not a ClientHello" },
	{ "SSLv2 length lying", { 0 }, RAW("\x80\x23\x01\x03\x01\x00\x09\x00\x00\x00\x10"),
	  .why = "SSLv2 hello length does not match its fields" },
	{ "SSLv2 cipher specs not of 3 bytes", { 0 }, RAW("\x80\x22\x01\x03\x01\x00\x08"),
	  .why = "SSLv2 cipher specs length not a multiple of 3" },
	{ "SSLv2 length over TLS_HELLO_MAX", { 0 }, RAW("\xff\xff"),
	  .why = "SSLv2 hello longer than TLS_HELLO_MAX" },
};

/* The whole input is refused for its reason; each prefix waits or gives that reason. */
START_TEST(test_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	static struct wr w;
	struct tls_hello h;
	size_t k;
	int rc;

	if (c->raw != NULL) {
		w.n = 0;
		putn(&w, c->raw, c->raw_len);
	} else
		build(&w, &c->spec);
	ck_assert_msg(parse(w.b, w.n, &h) == CT_ERROR, "%s: accepted", c->name);
	ck_assert_msg(h.error != NULL && strcmp(h.error, c->why) == 0,
	    "%s: got \"%s\", want \"%s\"", c->name, h.error ? h.error : "(null)", c->why);
	for (k = 0; k < w.n; k++) {
		rc = parse(w.b, k, &h);
		ck_assert_msg(rc == CT_AGAIN || (rc == CT_ERROR && strcmp(h.error, c->why) == 0),
		    "%s: %zu bytes gave %d (%s)", c->name, k, rc, h.error ? h.error : "");
	}
}
END_TEST

/* Not TLS at all is known within the first record header. */
static const struct {
	const char *in;
	size_t len;                     /* bytes that already give the error */
} early_cases[] = {
	{ "GET / HTTP/1.1\r\n", 1 },
	{ "\x16\x02", 2 },
	{ "\x16\x03\x07", 3 },
	{ "\x16\x03\x01\x41", 4 },
	{ "\x16\x03\x01\x00\x00", 5 },
	{ "\x16\x03\x01\x00\x10\x02", 6 },
	{ "\xff", 1 },
};

START_TEST(test_early_errors)
{
	struct tls_hello h;
	size_t i;

	for (i = 0; i < CT_NELEM(early_cases); i++)
		ck_assert_msg(parse((const uint8_t *)early_cases[i].in, early_cases[i].len, &h) ==
		    CT_ERROR, "case %zu", i);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

#define MATCH(p, n) tls_name_match((p), (n), strlen(n))

START_TEST(test_match_exact)
{
	ck_assert(MATCH("www.example.com", "www.example.com"));
	ck_assert(!MATCH("www.example.com", "ww.example.com"));
	ck_assert(!MATCH("www.example.com", "www.example.co"));
	ck_assert(!MATCH("example.com", "www.example.com"));
	/* the length given, not the NUL, ends the name */
	ck_assert(tls_name_match("a.test", "a.testing", 6));
}
END_TEST

START_TEST(test_match_wildcard)
{
	ck_assert(MATCH("*.example.com", "www.example.com"));
	ck_assert(MATCH("*.example.com", "a.example.com"));
	ck_assert(!MATCH("*.example.com", "www.example.org"));
	ck_assert(!MATCH("*.example.com", "wwwexample.com"));
}
END_TEST

START_TEST(test_match_wildcard_two_labels)
{
	ck_assert(!MATCH("*.example.com", "a.b.example.com"));
}
END_TEST

START_TEST(test_match_wildcard_bare)
{
	ck_assert(!MATCH("*.example.com", "example.com"));
	ck_assert(!MATCH("*.example.com", ".example.com"));
	ck_assert(!MATCH("*", "example"));
	ck_assert(!MATCH("*example.com", "www.example.com"));
}
END_TEST

START_TEST(test_match_case)
{
	ck_assert(MATCH("WWW.Example.COM", "www.example.com"));
	ck_assert(MATCH("*.EXAMPLE.com", "www.example.com"));
	ck_assert(MATCH("www.example.com", "WWW.example.com"));
}
END_TEST

START_TEST(test_match_empty)
{
	ck_assert(!MATCH("", ""));
	ck_assert(!MATCH("", "a"));
	ck_assert(!MATCH("a", ""));
	ck_assert(!MATCH("*.", "a."));
}
END_TEST

Suite *
suite_tls_hello(void)
{
	Suite *s = suite_create("tls_hello");
	TCase *tc;

	tc = tcase_create("hello");
	tcase_add_test(tc, test_sni);
	tcase_add_test(tc, test_no_sni);
	tcase_add_test(tc, test_no_extensions);
	tcase_add_test(tc, test_alpn);
	tcase_add_test(tc, test_alpn_truncated);
	tcase_add_test(tc, test_split_two_records);
	tcase_add_test(tc, test_split_three_records);
	tcase_add_test(tc, test_split_every_byte);
	tcase_add_test(tc, test_hello_max);
	tcase_add_test(tc, test_followed_by_records);
	tcase_add_test(tc, test_record_versions);
	tcase_add_test(tc, test_uppercase_lowercased);
	tcase_add_test(tc, test_trailing_dot);
	tcase_add_test(tc, test_name_of_255);
	tcase_add_test(tc, test_other_name_type);
	tcase_add_test(tc, test_sslv2);
	tcase_add_test(tc, test_openssl_capture);
	tcase_add_test(tc, test_hello_beyond_records_waits);
	suite_add_tcase(s, tc);

	tc = tcase_create("prefixes");
	tcase_add_loop_test(tc, test_every_prefix, 0, CT_NELEM(prefix_cases));
	tcase_add_test(tc, test_early_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad, 0, CT_NELEM(bad_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_match_exact);
	tcase_add_test(tc, test_match_wildcard);
	tcase_add_test(tc, test_match_wildcard_two_labels);
	tcase_add_test(tc, test_match_wildcard_bare);
	tcase_add_test(tc, test_match_case);
	tcase_add_test(tc, test_match_empty);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * lib/ws.c: WebSocket frames as RFC 6455 writes them out (the examples
 * of its section 5.7 byte for byte), every rule of section 5 broken by
 * one named case with the close code and the length of input at which
 * the reader refuses (CT_AGAIN before it), fragmented messages with
 * control frames between their pieces, the limits, UTF-8 to the byte,
 * and the handshake's key.  Inputs end right before an unreadable page.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/ws.h"
#include "t/unit/guard.h"
#include "t/unit/suites.h"

#define S(lit) (const unsigned char *)(lit), sizeof(lit) - 1

/* The masking key of RFC 6455's examples. */
static const unsigned char rfc_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

static struct ws_reader
reader(int server, uint64_t max, unsigned char *msg)
{
	struct ws_reader r;

	memset(&r, 0, sizeof(r));
	r.server = server ? 1 : 0;
	r.max_message = max;
	r.msg = msg;
	return r;
}

/* The guarded copy that the last run() read, and unmasked. */
static unsigned char *last;

/* Reads the frame at a guarded copy of s[0..n). */
static int
run(struct ws_reader *r, const unsigned char *s, size_t n, struct ws_frame *f)
{
	last = guard_copy(s, n);
	return ws_frame_read(r, last, n, f);
}

/*
 * A frame of opcode with payload p[0..n), masked with rfc_mask when
 * masked, into out; returns its length.
 */
static size_t
frame(unsigned char *out, unsigned op, int fin, const void *p, size_t n, int masked)
{
	size_t h = ws_frame_head(out, op, fin, n, masked ? rfc_mask : NULL);

	memcpy(out + h, p, n);
	if (masked)
		ws_mask(out + h, n, rfc_mask, 0);
	return h + n;
}

/*
 * s[0..n) is one whole frame for r: CT_AGAIN for every strict prefix
 * (with r unchanged), then CT_OK with size n, also with bytes after it.
 */
static void
check_whole(struct ws_reader *r, const unsigned char *s, size_t n, struct ws_frame *f)
{
	static unsigned char more[70000 + 32];
	struct ws_reader before = *r, copy;
	size_t k;

	for (k = 0; k < n; k++) {
		copy = before;
		ck_assert_msg(run(&copy, s, k, f) == CT_AGAIN, "prefix of %zu of %zu bytes: %s",
		    k, n, copy.error != NULL ? copy.error : "not CT_AGAIN");
	}
	copy = before;
	ck_assert_uint_le(n + 3, sizeof(more));
	memcpy(more, s, n);
	memcpy(more + n, "\x81\x85\x00", 3);
	ck_assert_int_eq(run(&copy, more, n + 3, f), CT_OK);
	ck_assert_uint_eq(f->size, n);
	ck_assert_msg(run(r, s, n, f) == CT_OK, "whole: %s", r->error != NULL ? r->error : "");
	ck_assert_uint_eq(f->size, n);
}

/* ------------------------------------------------------------ RFC 6455, 5.7 */

START_TEST(test_rfc_hello)
{
	struct ws_reader r = reader(0, 1024, NULL);
	struct ws_frame f;

	check_whole(&r, S("\x81\x05" "Hello"), &f);
	ck_assert_uint_eq(f.opcode, WS_OP_TEXT);
	ck_assert(f.fin && !f.masked && f.message_end);
	ck_assert_uint_eq(f.head_len, 2);
	ck_assert_uint_eq(f.len, 5);
	ck_assert_ptr_null(f.message);
	ck_assert_uint_eq(f.message_len, 5);
}
END_TEST

START_TEST(test_rfc_hello_masked)
{
	static unsigned char msg[64];
	static const unsigned char masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
	    0x4d, 0x51, 0x58 };
	struct ws_reader r = reader(1, sizeof(msg), msg);
	unsigned char out[16];
	struct ws_frame f;

	check_whole(&r, masked, sizeof(masked), &f);
	ck_assert(f.masked && f.message_end);
	ck_assert_uint_eq(f.head_len, 6);
	ck_assert_uint_eq(f.message_len, 5);
	ck_assert_mem_eq(f.message, "Hello", 5);
	/* The encoder writes the same bytes. */
	ck_assert_uint_eq(frame(out, WS_OP_TEXT, 1, "Hello", 5, 1), sizeof(masked));
	ck_assert_mem_eq(out, masked, sizeof(masked));
}
END_TEST

START_TEST(test_rfc_fragments)
{
	static unsigned char msg[64];
	struct ws_reader r = reader(0, sizeof(msg), msg);
	struct ws_frame f;

	check_whole(&r, S("\x01\x03" "Hel"), &f);
	ck_assert(!f.fin && !f.message_end && r.in_message);
	ck_assert_uint_eq(f.msg_opcode, WS_OP_TEXT);
	check_whole(&r, S("\x80\x02" "lo"), &f);
	ck_assert_uint_eq(f.opcode, WS_OP_CONT);
	ck_assert_uint_eq(f.msg_opcode, WS_OP_TEXT);
	ck_assert(f.fin && f.message_end && !r.in_message);
	ck_assert_uint_eq(f.message_len, 5);
	ck_assert_mem_eq(f.message, "Hello", 5);
}
END_TEST

START_TEST(test_rfc_ping_pong)
{
	static const unsigned char pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
	    0x4d, 0x51, 0x58 };
	struct ws_reader c = reader(0, 16, NULL), s = reader(1, 16, NULL);
	struct ws_frame f;

	check_whole(&c, S("\x89\x05" "Hello"), &f);
	ck_assert_uint_eq(f.opcode, WS_OP_PING);
	ck_assert(!f.message_end);
	check_whole(&s, pong, sizeof(pong), &f);
	ck_assert_uint_eq(f.opcode, WS_OP_PONG);
}
END_TEST

START_TEST(test_rfc_lengths)
{
	static unsigned char big[65536 + 10];
	struct ws_reader r = reader(0, 65536, NULL);
	struct ws_frame f;

	memcpy(big, "\x82\x7e\x01\x00", 4);
	check_whole(&r, big, 4 + 256, &f);
	ck_assert_uint_eq(f.head_len, 4);
	ck_assert_uint_eq(f.len, 256);
	ck_assert_uint_eq(f.msg_opcode, WS_OP_BINARY);
	memcpy(big, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	ck_assert_int_eq(run(&r, big, 10 + 65535, &f), CT_AGAIN);
	ck_assert_int_eq(run(&r, big, 10 + 65536, &f), CT_OK);
	ck_assert_uint_eq(f.head_len, 10);
	ck_assert_uint_eq(f.len, 65536);
}
END_TEST

/* ------------------------------------------------------------ messages */

/* Control frames may come between the pieces of a message (5.4). */
START_TEST(test_control_between_fragments)
{
	static unsigned char msg[64], buf[64];
	struct ws_reader r = reader(1, sizeof(msg), msg);
	struct ws_frame f;
	size_t n;

	n = frame(buf, WS_OP_TEXT, 0, "{\"kin", 5, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_PING, 1, "p", 1, 1);
	check_whole(&r, buf, n, &f);
	ck_assert_uint_eq(f.opcode, WS_OP_PING);
	ck_assert_uint_eq(f.len, 1);
	ck_assert_int_eq(last[f.head_len], 'p');
	ck_assert(r.in_message);
	n = frame(buf, WS_OP_CONT, 0, "ds\":", 4, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_PONG, 1, "", 0, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_CONT, 1, "[]}", 3, 1);
	check_whole(&r, buf, n, &f);
	ck_assert(f.message_end);
	ck_assert_uint_eq(f.message_len, 12);
	ck_assert_mem_eq(f.message, "{\"kinds\":[]}", 12);
	/* The next message starts afresh. */
	n = frame(buf, WS_OP_BINARY, 1, "\xff", 1, 1);
	check_whole(&r, buf, n, &f);
	ck_assert_uint_eq(f.message_len, 1);
	ck_assert_int_eq(f.message[0], 0xff);
}
END_TEST

/* A character cut between two fragments is whole in the message. */
START_TEST(test_utf8_across_fragments)
{
	static unsigned char msg[16], buf[16];
	struct ws_reader r = reader(1, sizeof(msg), msg);
	struct ws_frame f;
	size_t n;

	n = frame(buf, WS_OP_TEXT, 0, "a\xf0\x9f", 3, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_CONT, 0, "\x98", 1, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_CONT, 1, "\x80z", 2, 1);
	check_whole(&r, buf, n, &f);
	ck_assert_uint_eq(f.message_len, 6);
	ck_assert_mem_eq(f.message, "a\xf0\x9f\x98\x80z", 6);
}
END_TEST

/* Empty frames: a text of nothing, a message that ends with an empty piece. */
START_TEST(test_empty_frames)
{
	static unsigned char buf[16];
	struct ws_reader r = reader(1, 8, NULL);
	struct ws_frame f;
	size_t n;

	n = frame(buf, WS_OP_TEXT, 1, "", 0, 1);
	check_whole(&r, buf, n, &f);
	ck_assert(f.message_end);
	ck_assert_uint_eq(f.message_len, 0);
	n = frame(buf, WS_OP_TEXT, 0, "ab", 2, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_CONT, 1, "", 0, 1);
	check_whole(&r, buf, n, &f);
	ck_assert(f.message_end);
	ck_assert_uint_eq(f.message_len, 2);
	n = frame(buf, WS_OP_CLOSE, 1, "", 0, 1);
	check_whole(&r, buf, n, &f);
	ck_assert_uint_eq(f.close_code, 0);
}
END_TEST

/* A message may be exactly as long as the limit, in one frame or in several. */
START_TEST(test_limit_exact)
{
	static unsigned char msg[1000], buf[1100], data[1000];
	struct ws_reader r = reader(1, sizeof(msg), msg);
	struct ws_frame f;
	size_t n;

	memset(data, 'x', sizeof(data));
	n = frame(buf, WS_OP_TEXT, 1, data, 1000, 1);
	check_whole(&r, buf, n, &f);
	ck_assert_uint_eq(f.message_len, 1000);
	n = frame(buf, WS_OP_BINARY, 0, data, 999, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_CONT, 1, data, 1, 1);
	check_whole(&r, buf, n, &f);
	ck_assert_uint_eq(f.message_len, 1000);
	/* Control frames do not count toward a message. */
	n = frame(buf, WS_OP_BINARY, 0, data, 1000, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_PING, 1, data, 125, 1);
	check_whole(&r, buf, n, &f);
	n = frame(buf, WS_OP_CONT, 1, "", 0, 1);
	check_whole(&r, buf, n, &f);
	ck_assert_uint_eq(f.message_len, 1000);
}
END_TEST

START_TEST(test_close_frames)
{
	static unsigned char buf[200];
	static const unsigned codes[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
	    1012, 1013, 1014, 3000, 4999 };
	struct ws_reader r = reader(1, 16, NULL);
	unsigned char pl[WS_CONTROL_MAX];
	struct ws_frame f;
	size_t i, n, k;

	for (i = 0; i < CT_NELEM(codes); i++) {
		k = ws_close_payload(pl, codes[i], "bye \xc3\xa9");
		ck_assert_uint_eq(k, 2 + 6);
		n = frame(buf, WS_OP_CLOSE, 1, pl, k, 1);
		check_whole(&r, buf, n, &f);
		ck_assert_uint_eq(f.opcode, WS_OP_CLOSE);
		ck_assert_uint_eq(f.close_code, codes[i]);
		ck_assert_mem_eq(last + f.head_len + 2, "bye \xc3\xa9", 6);
	}
}
END_TEST

/* ------------------------------------------------------------ refusals */

struct bad_case {
	const char *name;
	int server;                 /* read as the server (frames must be masked) */
	const char *first;          /* a frame read before, or NULL */
	size_t first_len;
	const char *bytes;
	size_t len;
	size_t at;                  /* the shortest prefix that is refused */
	unsigned code;
	const char *why;
};

#define B(lit) lit, sizeof(lit) - 1
/* RFC 6455's mask: the payload bytes after it are given masked ('V' is 'a', 0xc8 is 0xff). */
#define M "\x37\xfa\x21\x3d"

static const struct bad_case bad_cases[] = {
	{ "rsv1", 0, NULL, 0, B("\xc1\x00"), 2, WS_CLOSE_PROTOCOL,
	  "reserved bits set (no extension was agreed)" },
	{ "rsv2", 0, NULL, 0, B("\xa1\x00"), 2, WS_CLOSE_PROTOCOL,
	  "reserved bits set (no extension was agreed)" },
	{ "rsv3", 0, NULL, 0, B("\x91\x00"), 2, WS_CLOSE_PROTOCOL,
	  "reserved bits set (no extension was agreed)" },
	{ "opcode 3", 0, NULL, 0, B("\x83\x00"), 2, WS_CLOSE_PROTOCOL, "unknown opcode" },
	{ "opcode 7", 0, NULL, 0, B("\x87\x00"), 2, WS_CLOSE_PROTOCOL, "unknown opcode" },
	{ "opcode 0xb", 0, NULL, 0, B("\x8b\x00"), 2, WS_CLOSE_PROTOCOL, "unknown opcode" },
	{ "opcode 0xf", 0, NULL, 0, B("\x8f\x00"), 2, WS_CLOSE_PROTOCOL, "unknown opcode" },
	{ "fragmented ping", 0, NULL, 0, B("\x09\x00"), 2, WS_CLOSE_PROTOCOL,
	  "fragmented control frame" },
	{ "fragmented close", 0, NULL, 0, B("\x08\x00"), 2, WS_CLOSE_PROTOCOL,
	  "fragmented control frame" },
	{ "ping of 126", 0, NULL, 0, B("\x89\x7e\x00\x7e"), 2, WS_CLOSE_PROTOCOL,
	  "control frame longer than 125 bytes" },
	{ "close of 127", 0, NULL, 0, B("\x88\x7f\x00\x00\x00\x00\x00\x01\x00\x00"), 2,
	  WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes" },
	{ "unmasked from a client", 1, NULL, 0, B("\x81\x01" "a"), 2, WS_CLOSE_PROTOCOL,
	  "unmasked frame from the client" },
	{ "masked from a server", 0, NULL, 0, B("\x81\x81" M "V"), 2, WS_CLOSE_PROTOCOL,
	  "masked frame from the server" },
	{ "continuation first", 0, NULL, 0, B("\x80\x01" "a"), 2, WS_CLOSE_PROTOCOL,
	  "continuation frame with no message under way" },
	{ "text inside text", 0, B("\x01\x01" "a"), B("\x81\x01" "b"), 2, WS_CLOSE_PROTOCOL,
	  "new message before the last one ended" },
	{ "binary inside text", 0, B("\x01\x01" "a"), B("\x02\x01" "b"), 2, WS_CLOSE_PROTOCOL,
	  "new message before the last one ended" },
	{ "continuation after the end", 0, B("\x81\x01" "a"), B("\x80\x01" "b"), 2,
	  WS_CLOSE_PROTOCOL, "continuation frame with no message under way" },
	{ "16-bit length under 126", 0, NULL, 0, B("\x82\x7e\x00\x7d"), 4, WS_CLOSE_PROTOCOL,
	  "length not in its shortest form" },
	{ "64-bit length under 65536", 0, NULL, 0,
	  B("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff"), 10, WS_CLOSE_PROTOCOL,
	  "length not in its shortest form" },
	{ "64-bit length with the top bit", 0, NULL, 0,
	  B("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"), 10, WS_CLOSE_PROTOCOL,
	  "length with its top bit set" },
	{ "frame over the limit", 0, NULL, 0, B("\x82\x7e\x03\xe9"), 4, WS_CLOSE_TOO_BIG,
	  "message longer than the limit" },
	{ "64-bit frame over the limit", 0, NULL, 0,
	  B("\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00"), 10, WS_CLOSE_TOO_BIG,
	  "message longer than the limit" },
	{ "masked frame over the limit", 1, NULL, 0, B("\x81\xfe\x03\xe9" M), 4,
	  WS_CLOSE_TOO_BIG, "message longer than the limit" },
	{ "message over the limit", 0, B("\x02\x7e\x01\xf4"), B("\x80\x7e\x01\xf5"), 4,
	  WS_CLOSE_TOO_BIG, "message longer than the limit" },
	{ "close of one byte", 0, NULL, 0, B("\x88\x01\x03"), 3, WS_CLOSE_PROTOCOL,
	  "close frame of one byte" },
	{ "close code 999", 0, NULL, 0, B("\x88\x02\x03\xe7"), 4, WS_CLOSE_PROTOCOL,
	  "close code that may not be sent" },
	{ "close code 1004", 0, NULL, 0, B("\x88\x02\x03\xec"), 4, WS_CLOSE_PROTOCOL,
	  "close code that may not be sent" },
	{ "close code 1005", 0, NULL, 0, B("\x88\x02\x03\xed"), 4, WS_CLOSE_PROTOCOL,
	  "close code that may not be sent" },
	{ "close code 1006", 0, NULL, 0, B("\x88\x02\x03\xee"), 4, WS_CLOSE_PROTOCOL,
	  "close code that may not be sent" },
	{ "close code 1015", 0, NULL, 0, B("\x88\x02\x03\xf7"), 4, WS_CLOSE_PROTOCOL,
	  "close code that may not be sent" },
	{ "close code 2999", 0, NULL, 0, B("\x88\x02\x0b\xb7"), 4, WS_CLOSE_PROTOCOL,
	  "close code that may not be sent" },
	{ "close code 5000", 0, NULL, 0, B("\x88\x02\x13\x88"), 4, WS_CLOSE_PROTOCOL,
	  "close code that may not be sent" },
	{ "close reason not UTF-8", 0, NULL, 0, B("\x88\x04\x03\xe8\xc3\x28"), 6,
	  WS_CLOSE_INVALID, "close reason is not UTF-8" },
	{ "close reason cut in a character", 0, NULL, 0, B("\x88\x03\x03\xe8\xc3"), 5,
	  WS_CLOSE_INVALID, "close reason is not UTF-8" },
	{ "text with an overlong NUL", 0, NULL, 0, B("\x81\x02\xc0\x80"), 4, WS_CLOSE_INVALID,
	  "text that is not UTF-8" },
	{ "text with a surrogate", 0, NULL, 0, B("\x81\x03\xed\xa0\x80"), 5, WS_CLOSE_INVALID,
	  "text that is not UTF-8" },
	{ "text past U+10FFFF", 0, NULL, 0, B("\x81\x04\xf4\x90\x80\x80"), 6, WS_CLOSE_INVALID,
	  "text that is not UTF-8" },
	{ "text with 0xff", 0, NULL, 0, B("\x81\x01\xff"), 3, WS_CLOSE_INVALID,
	  "text that is not UTF-8" },
	{ "text with a lone continuation", 0, NULL, 0, B("\x81\x02" "a\x80"), 4,
	  WS_CLOSE_INVALID, "text that is not UTF-8" },
	{ "text ending inside a character", 0, NULL, 0, B("\x81\x02" "a\xe2"), 4,
	  WS_CLOSE_INVALID, "text that ends inside a character" },
	{ "bad UTF-8 in a continuation", 0, B("\x01\x01" "a"), B("\x80\x01\xfe"), 3,
	  WS_CLOSE_INVALID, "text that is not UTF-8" },
	{ "masked text not UTF-8", 1, NULL, 0, B("\x81\x81" M "\xc8"), 7, WS_CLOSE_INVALID,
	  "text that is not UTF-8" },
};

/*
 * The frame before a case, given whole or as its header only (of an
 * unmasked frame): its payload, if missing, is so many 'x'.
 */
static size_t
first_frame(const char *head, size_t n, unsigned char *out)
{
	size_t len = (unsigned char)head[1] & 0x7f, hl = 2;

	if (len == 126) {
		len = (size_t)(unsigned char)head[2] << 8 | (unsigned char)head[3];
		hl = 4;
	}
	memcpy(out, head, n);
	memset(out + n, 'x', hl + len - n);
	return hl + len;
}

START_TEST(test_bad)
{
	static unsigned char first[1100];
	const struct bad_case *c = &bad_cases[_i];
	struct ws_reader r = reader(c->server, 1000, NULL), base;
	struct ws_frame f;
	size_t k;

	if (c->first != NULL)
		ck_assert_msg(run(&r, first, first_frame(c->first, c->first_len, first), &f) ==
		    CT_OK, "%s: the frame before", c->name);
	base = r;
	for (k = 0; k < c->at; k++) {
		r = base;
		ck_assert_msg(run(&r, (const unsigned char *)c->bytes, k, &f) == CT_AGAIN,
		    "%s: prefix of %zu bytes: %s", c->name, k, r.error != NULL ? r.error : "not CT_AGAIN");
	}
	for (k = c->at; k <= c->len; k++) {
		r = base;
		ck_assert_msg(run(&r, (const unsigned char *)c->bytes, k, &f) == CT_ERROR,
		    "%s: %zu bytes not refused", c->name, k);
		ck_assert_msg(r.close_code == c->code, "%s: close code %u", c->name, r.close_code);
		ck_assert_msg(strcmp(r.error, c->why) == 0, "%s: \"%s\"", c->name, r.error);
	}
}
END_TEST

/* ------------------------------------------------------------ encoding */

START_TEST(test_head_encoding)
{
	static const struct {
		uint64_t len;
		const char *head;
		size_t n;
	} cases[] = {
		{ 0, B("\x81\x00") },
		{ 125, B("\x81\x7d") },
		{ 126, B("\x81\x7e\x00\x7e") },
		{ 65535, B("\x81\x7e\xff\xff") },
		{ 65536, B("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00") },
		{ UINT64_C(0x7fffffffffffffff), B("\x81\x7f\x7f\xff\xff\xff\xff\xff\xff\xff") },
	};
	unsigned char out[WS_HEAD_MAX];
	size_t i, n;

	for (i = 0; i < CT_NELEM(cases); i++) {
		n = ws_frame_head(out, WS_OP_TEXT, 1, cases[i].len, NULL);
		ck_assert_uint_eq(n, cases[i].n);
		ck_assert_mem_eq(out, cases[i].head, n);
		n = ws_frame_head(out, WS_OP_TEXT, 1, cases[i].len, rfc_mask);
		ck_assert_uint_eq(n, cases[i].n + 4);
		ck_assert_int_eq(out[1] & 0x80, 0x80);
		ck_assert_mem_eq(out + n - 4, rfc_mask, 4);
	}
	n = ws_frame_head(out, WS_OP_CONT, 0, 3, NULL);
	ck_assert_mem_eq(out, "\x00\x03", 2);
	n = ws_frame_head(out, WS_OP_CLOSE, 1, 2, NULL);
	ck_assert_mem_eq(out, "\x88\x02", 2);
}
END_TEST

/* What the encoder writes, masked or not, the reader takes back unchanged. */
START_TEST(test_roundtrip)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
	static unsigned char data[70000], buf[70000 + WS_HEAD_MAX], msg[70000];
	struct ws_reader r;
	struct ws_frame f;
	size_t i, k, n;
	int masked;

	for (k = 0; k < sizeof(data); k++)
		data[k] = (unsigned char)(k * 7 + 3);
	for (masked = 0; masked <= 1; masked++) {
		for (i = 0; i < CT_NELEM(lens); i++) {
			r = reader(masked, sizeof(msg), msg);
			n = frame(buf, WS_OP_BINARY, 1, data, lens[i], masked);
			ck_assert_int_eq(run(&r, buf, n, &f), CT_OK);
			ck_assert_uint_eq(f.size, n);
			ck_assert_uint_eq(f.len, lens[i]);
			ck_assert_uint_eq(f.message_len, lens[i]);
			if (lens[i] > 0)
				ck_assert_mem_eq(f.message, data, lens[i]);
		}
	}
}
END_TEST

/* Masking at an offset continues the key where an earlier piece stopped. */
START_TEST(test_mask_offset)
{
	unsigned char a[7] = "abcdefg", b[7] = "abcdefg";

	ws_mask(a, 7, rfc_mask, 0);
	ws_mask(b, 3, rfc_mask, 0);
	ws_mask(b + 3, 4, rfc_mask, 3);
	ck_assert_mem_eq(a, b, 7);
	ws_mask(a, 7, rfc_mask, 0);
	ck_assert_mem_eq(a, "abcdefg", 7);
}
END_TEST

START_TEST(test_close_payload)
{
	unsigned char out[WS_CONTROL_MAX];
	char reason[200];
	size_t n;

	ck_assert_uint_eq(ws_close_payload(out, 0, "ignored"), 0);
	n = ws_close_payload(out, 1009, NULL);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(out, "\x03\xf1", 2);
	n = ws_close_payload(out, 1002, "protocol error");
	ck_assert_uint_eq(n, 16);
	ck_assert_mem_eq(out, "\x03\xea" "protocol error", 16);
	/* Cut to 123 bytes of reason, but not inside a character. */
	memset(reason, 'x', sizeof(reason));
	reason[199] = '\0';
	ck_assert_uint_eq(ws_close_payload(out, 1000, reason), WS_CONTROL_MAX);
	memcpy(reason + 122, "\xc3\xa9", 2);
	n = ws_close_payload(out, 1000, reason);
	ck_assert_uint_eq(n, 2 + 122);
	ck_assert_int_eq(out[n - 1], 'x');
}
END_TEST

START_TEST(test_close_codes)
{
	unsigned c, valid = 0;

	for (c = 0; c < 6000; c++)
		valid += ws_close_code_valid(c) != 0;
	/* 1000-1003, 1007-1014, 3000-4999 */
	ck_assert_uint_eq(valid, 4 + 8 + 2000);
	ck_assert(!ws_close_code_valid(1004) && !ws_close_code_valid(1005) &&
	    !ws_close_code_valid(1006) && !ws_close_code_valid(1015));
	ck_assert(ws_close_code_valid(WS_CLOSE_RESTART));
}
END_TEST

/* ------------------------------------------------------------ UTF-8 */

START_TEST(test_utf8_valid)
{
	static const char *const good[] = {
		"", "plain ASCII\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
		"\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
		"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
	};
	size_t i, k, n;
	uint32_t st;

	for (i = 0; i < CT_NELEM(good); i++) {
		n = strlen(good[i]);
		st = 0;
		ck_assert_msg(ws_utf8_check(&st, (const unsigned char *)good[i], n) == CT_OK &&
		    st == 0, "good %zu", i);
		/* Byte by byte, the same. */
		st = 0;
		for (k = 0; k < n; k++)
			ck_assert_int_eq(ws_utf8_check(&st, (const unsigned char *)good[i] + k, 1),
			    CT_OK);
		ck_assert_uint_eq(st, 0);
	}
}
END_TEST

START_TEST(test_utf8_invalid)
{
	static const struct {
		const char *s;
		size_t at;          /* the byte refused */
	} bad[] = {
		{ "\x80", 0 }, { "\xbf", 0 }, { "\xc0\x80", 0 }, { "\xc1\xbf", 0 },
		{ "\xe0\x9f\xbf", 1 }, { "\xed\xa0\x80", 1 }, { "\xed\xbf\xbf", 1 },
		{ "\xf0\x8f\xbf\xbf", 1 }, { "\xf4\x90\x80\x80", 1 }, { "\xf5\x80\x80\x80", 0 },
		{ "\xfe", 0 }, { "\xff", 0 }, { "a\xc3" "b", 2 }, { "\xe2\x82" "a", 2 },
		{ "\xf0\x9f\x98" "a", 3 },
	};
	size_t i, k, n;
	uint32_t st;

	for (i = 0; i < CT_NELEM(bad); i++) {
		n = strlen(bad[i].s);
		st = 0;
		ck_assert_msg(ws_utf8_check(&st, (const unsigned char *)bad[i].s, n) == CT_ERROR,
		    "bad %zu", i);
		st = 0;
		for (k = 0; k < bad[i].at; k++)
			ck_assert_msg(ws_utf8_check(&st, (const unsigned char *)bad[i].s + k, 1) ==
			    CT_OK, "bad %zu: byte %zu refused too early", i, k);
		ck_assert_msg(ws_utf8_check(&st, (const unsigned char *)bad[i].s + k, 1) == CT_ERROR,
		    "bad %zu: byte %zu taken", i, k);
	}
	/* A character that the text stops inside is no error yet, but not an end. */
	st = 0;
	ck_assert_int_eq(ws_utf8_check(&st, (const unsigned char *)"\xe2\x82", 2), CT_OK);
	ck_assert_uint_ne(st, 0);
}
END_TEST

/* Every code point, encoded by hand, passes; every surrogate does not. */
START_TEST(test_utf8_all)
{
	unsigned char b[4];
	uint32_t cp, st;
	size_t n;

	for (cp = 0; cp <= 0x10ffff; cp++) {
		if (cp < 0x80) {
			b[0] = (unsigned char)cp;
			n = 1;
		} else if (cp < 0x800) {
			b[0] = (unsigned char)(0xc0 | cp >> 6);
			b[1] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (unsigned char)(0xe0 | cp >> 12);
			b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			b[2] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			b[0] = (unsigned char)(0xf0 | cp >> 18);
			b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
			b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
			b[3] = (unsigned char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		st = 0;
		if (cp >= 0xd800 && cp <= 0xdfff)
			ck_assert_msg(ws_utf8_check(&st, b, n) == CT_ERROR, "U+%04X", cp);
		else
			ck_assert_msg(ws_utf8_check(&st, b, n) == CT_OK && st == 0, "U+%04X", cp);
	}
}
END_TEST

/* ------------------------------------------------------------ handshake */

START_TEST(test_accept_key)
{
	char out[WS_ACCEPT_LEN + 1];

	/* RFC 6455, 1.3 */
	ck_assert(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
	ck_assert_int_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), CT_OK);
	ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	ck_assert_int_eq(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==x", 25, out), CT_ERROR);
}
END_TEST

START_TEST(test_key_invalid)
{
	static const char *const bad[] = {
		"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===",
		"AAAAAAAAAAAAAAAAAAAAAAAA",       /* 18 bytes */
		"dGhlIHNhbXBsZSBub25jZR==",       /* unused bits set */
		"dGhlIHNhbXBsZSBub25jZQ=A", "dGhlIHNhbXBsZSBub25jZ Q=", "dGhlIHNhbXBsZSBub25j*Q==",
	};
	size_t i;

	for (i = 0; i < CT_NELEM(bad); i++)
		ck_assert_msg(!ws_key_valid(bad[i], strlen(bad[i])), "key %zu", i);
}
END_TEST

START_TEST(test_token_list)
{
	ck_assert(ws_token_list_has("Upgrade", 7, "upgrade"));
	ck_assert(ws_token_list_has("keep-alive, Upgrade", 19, "upgrade"));
	ck_assert(ws_token_list_has(" websocket\t", 11, "websocket"));
	ck_assert(ws_token_list_has("h2c,WebSocket", 13, "websocket"));
	ck_assert(!ws_token_list_has("upgrades", 8, "upgrade"));
	ck_assert(!ws_token_list_has("up grade", 8, "upgrade"));
	ck_assert(!ws_token_list_has("", 0, "upgrade"));
	ck_assert(!ws_token_list_has(",,", 2, "upgrade"));
	/* Only the bytes given count. */
	ck_assert(!ws_token_list_has("upgrade", 6, "upgrade"));
}
END_TEST

Suite *
suite_ws(void)
{
	Suite *s = suite_create("ws");
	TCase *tc;

	tc = tcase_create("rfc");
	tcase_add_test(tc, test_rfc_hello);
	tcase_add_test(tc, test_rfc_hello_masked);
	tcase_add_test(tc, test_rfc_fragments);
	tcase_add_test(tc, test_rfc_ping_pong);
	tcase_add_test(tc, test_rfc_lengths);
	suite_add_tcase(s, tc);

	tc = tcase_create("messages");
	tcase_add_test(tc, test_control_between_fragments);
	tcase_add_test(tc, test_utf8_across_fragments);
	tcase_add_test(tc, test_empty_frames);
	tcase_add_test(tc, test_limit_exact);
	tcase_add_test(tc, test_close_frames);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad, 0, CT_NELEM(bad_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("encoding");
	tcase_add_test(tc, test_head_encoding);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_mask_offset);
	tcase_add_test(tc, test_close_payload);
	tcase_add_test(tc, test_close_codes);
	suite_add_tcase(s, tc);

	tc = tcase_create("utf8");
	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_utf8_invalid);
	tcase_add_test(tc, test_utf8_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("handshake");
	tcase_add_test(tc, test_accept_key);
	tcase_add_test(tc, test_key_invalid);
	tcase_add_test(tc, test_token_list);
	suite_add_tcase(s, tc);
	return s;
}

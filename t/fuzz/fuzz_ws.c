/*
 * libFuzzer target: ws_frame_read() on any bytes, frame after frame as
 * the admin process reads a subscriber's, checking what it relies on:
 * a frame taken lies within the input, its header is the one encoding
 * ws_frame_head() writes for it (lengths in their shortest form), a
 * control frame is whole and short, a message is never longer than the
 * limit and a text one is UTF-8 (judged by a decoder of this file's
 * own), a refusal has a close code of the three the reader gives; and
 * every prefix of a frame waits (CT_AGAIN) without touching the reader.
 *
 * The first byte of the input picks the side (bit 0: read a client's
 * frames, which must be masked) and the limit (the other bits).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

#define PREFIXES_MAX 16

/* Whether p[0..n) is UTF-8, decoding code points (not the reader's state machine). */
static int
utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = p[i] & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Every sampled strict prefix of the frame at buf waits, and leaves the reader as it was. */
static void
prefixes_wait(const struct ws_reader *r, const uint8_t *buf, size_t fsize)
{
	struct ws_reader copy;
	struct ws_frame f;
	size_t k, step = fsize / PREFIXES_MAX + 1;
	uint8_t *tmp = malloc(fsize > 0 ? fsize : 1);

	CHECK(tmp != NULL);
	for (k = 0; k < fsize; k += step) {
		copy = *r;
		memcpy(tmp, buf, k);
		CHECK(ws_frame_read(&copy, tmp, k, &f) == CT_AGAIN);
		CHECK(copy.in_message == r->in_message && copy.msg_opcode == r->msg_opcode &&
		    copy.msg_len == r->msg_len && copy.utf8 == r->utf8 && copy.error == r->error);
	}
	free(tmp);
}

static void
frame_check(const struct ws_reader *r, const uint8_t *orig, const struct ws_frame *f,
    size_t left)
{
	unsigned char head[WS_HEAD_MAX];

	CHECK(f->size <= left && f->size == f->head_len + f->len);
	CHECK(ws_frame_head(head, f->opcode, f->fin, f->len, f->masked ? orig + f->head_len - 4 :
	    NULL) == f->head_len);
	CHECK(memcmp(head, orig, f->head_len) == 0);
	CHECK(f->masked == r->server);
	if (f->opcode & 0x8) {
		CHECK(f->fin && f->len <= WS_CONTROL_MAX && !f->message_end);
		CHECK(f->opcode == WS_OP_CLOSE || f->opcode == WS_OP_PING || f->opcode == WS_OP_PONG);
		if (f->opcode == WS_OP_CLOSE)
			CHECK(f->len == 0 ? f->close_code == 0 : ws_close_code_valid(f->close_code));
		return;
	}
	CHECK(f->opcode <= WS_OP_BINARY);
	CHECK(f->msg_opcode == WS_OP_TEXT || f->msg_opcode == WS_OP_BINARY);
	CHECK(f->len <= r->max_message);
	if (f->message_end) {
		CHECK(f->fin && f->message == r->msg && f->message_len <= r->max_message);
		if (f->msg_opcode == WS_OP_TEXT)
			CHECK(utf8_ok(f->message, f->message_len));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char msg[1 << 16];
	struct ws_reader r;
	struct ws_frame f;
	uint8_t *buf;
	size_t off = 0;
	int rc;

	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	r.server = data[0] & 1;
	r.max_message = (uint64_t)(data[0] >> 1) * 512 + 1;
	r.msg = msg;
	data++;
	size--;
	/* A copy of exactly the input, so that reading past it is caught. */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	for (;;) {
		struct ws_reader before = r;

		rc = ws_frame_read(&r, buf + off, size - off, &f);
		CHECK(rc == CT_OK || rc == CT_AGAIN || rc == CT_ERROR);
		if (rc == CT_ERROR) {
			CHECK(r.error != NULL);
			CHECK(r.close_code == WS_CLOSE_PROTOCOL || r.close_code == WS_CLOSE_INVALID ||
			    r.close_code == WS_CLOSE_TOO_BIG);
			break;
		}
		if (rc == CT_AGAIN)
			break;
		frame_check(&r, data + off, &f, size - off);
		prefixes_wait(&before, data + off, f.size);
		off += f.size;
	}
	free(buf);
	return 0;
}

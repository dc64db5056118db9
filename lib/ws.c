/*
 * WebSocket frames and handshake (lib/ws.h).
 *
 * A frame is judged by its header as soon as the header is whole (the
 * length and what it may be for this opcode, the mask, its place in a
 * message), so that a peer announcing a frame too long is refused
 * before its payload is waited for; the payload is looked at (close
 * codes, UTF-8) once it is all there.  The checks run in the order the
 * bytes come, so that a prefix of a frame either waits or is refused
 * for the reason the whole frame would be.
 */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "lib/ct.h"
#include "lib/http_basic.h"
#include "lib/ws.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ------------------------------------------------------------ UTF-8 */

/*
 * The state of a check packs the continuation bytes still wanted (bits
 * 0-7) and the range the next one must fall in (low in bits 8-15, high
 * in 16-23): only the first continuation of a few lead bytes has a
 * narrower range than 0x80-0xbf, which is what rules out overlong
 * forms, surrogates and code points past U+10FFFF.
 */
#define WS_UTF8_STATE(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)

/* The state after lead byte c, or UINT32_MAX when c may not lead. */
static uint32_t
ws_utf8_lead(unsigned c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return WS_UTF8_STATE(1, 0x80, 0xbf);
	if (c == 0xe0)
		return WS_UTF8_STATE(2, 0xa0, 0xbf);
	if (c == 0xed)
		return WS_UTF8_STATE(2, 0x80, 0x9f);
	if (c >= 0xe1 && c <= 0xef)
		return WS_UTF8_STATE(2, 0x80, 0xbf);
	if (c == 0xf0)
		return WS_UTF8_STATE(3, 0x90, 0xbf);
	if (c >= 0xf1 && c <= 0xf3)
		return WS_UTF8_STATE(3, 0x80, 0xbf);
	if (c == 0xf4)
		return WS_UTF8_STATE(3, 0x80, 0x8f);
	return UINT32_MAX;
}

int
ws_utf8_check(uint32_t *state, const unsigned char *p, size_t n)
{
	uint32_t st = *state;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned c = p[i];

		if (st == 0) {
			if (c < 0x80)
				continue;
			if ((st = ws_utf8_lead(c)) == UINT32_MAX)
				return CT_ERROR;
			continue;
		}
		if (c < ((st >> 8) & 0xff) || c > ((st >> 16) & 0xff))
			return CT_ERROR;
		st = (st & 0xff) == 1 ? 0 : WS_UTF8_STATE((st & 0xff) - 1, 0x80, 0xbf);
	}
	*state = st;
	return CT_OK;
}

/* ------------------------------------------------------------ frames */

static int
ws_fail(struct ws_reader *r, unsigned code, const char *why)
{
	r->close_code = code;
	r->error = why;
	return CT_ERROR;
}

static int
ws_opcode_known(unsigned op)
{
	return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY ||
	    op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

int
ws_close_code_valid(unsigned code)
{
	/* 1004 is reserved; 1005, 1006 and 1015 only ever stand for what was not sent. */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	    (code >= 3000 && code <= 4999);
}

void
ws_mask(unsigned char *buf, size_t len, const unsigned char *mask, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] ^= mask[(off + i) & 3];
}

/*
 * The header's checks, in the order its bytes come; CT_OK with the
 * payload's length and the header's size once both are known.
 */
static int
ws_head_read(struct ws_reader *r, const unsigned char *buf, size_t len, uint64_t *plen,
    size_t *hl)
{
	unsigned op = buf[0] & 0x0f, control = op & 0x8, masked = (buf[1] & 0x80) != 0;
	uint64_t n = buf[1] & 0x7f, before;
	size_t i;

	if ((buf[0] & 0x70) != 0)
		return ws_fail(r, WS_CLOSE_PROTOCOL, "reserved bits set (no extension was agreed)");
	if (!ws_opcode_known(op))
		return ws_fail(r, WS_CLOSE_PROTOCOL, "unknown opcode");
	if (control && !(buf[0] & 0x80))
		return ws_fail(r, WS_CLOSE_PROTOCOL, "fragmented control frame");
	if (control && n > WS_CONTROL_MAX)
		return ws_fail(r, WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes");
	if (masked != r->server)
		return ws_fail(r, WS_CLOSE_PROTOCOL, r->server ? "unmasked frame from the client" :
		    "masked frame from the server");
	if (op == WS_OP_CONT && !r->in_message)
		return ws_fail(r, WS_CLOSE_PROTOCOL, "continuation frame with no message under way");
	if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && r->in_message)
		return ws_fail(r, WS_CLOSE_PROTOCOL, "new message before the last one ended");
	*hl = 2;
	if (n == 126) {
		if (len < 4)
			return CT_AGAIN;
		n = (uint64_t)buf[2] << 8 | buf[3];
		if (n < 126)
			return ws_fail(r, WS_CLOSE_PROTOCOL, "length not in its shortest form");
		*hl = 4;
	} else if (n == 127) {
		if (len < 10)
			return CT_AGAIN;
		for (i = 2, n = 0; i < 10; i++)
			n = n << 8 | buf[i];
		if (n >> 63)
			return ws_fail(r, WS_CLOSE_PROTOCOL, "length with its top bit set");
		if (n <= 0xffff)
			return ws_fail(r, WS_CLOSE_PROTOCOL, "length not in its shortest form");
		*hl = 10;
	}
	before = op == WS_OP_CONT ? r->msg_len : 0;
	if (!control && (n > r->max_message || before > r->max_message - n))
		return ws_fail(r, WS_CLOSE_TOO_BIG, "message longer than the limit");
	*hl += masked ? 4 : 0;
	*plen = n;
	return CT_OK;
}

/* A close frame's payload: nothing, or a code that may be sent and a UTF-8 reason. */
static int
ws_close_read(struct ws_reader *r, const unsigned char *p, uint64_t n, struct ws_frame *f)
{
	uint32_t st = 0;

	if (n == 0)
		return CT_OK;
	if (n == 1)
		return ws_fail(r, WS_CLOSE_PROTOCOL, "close frame of one byte");
	f->close_code = (unsigned)p[0] << 8 | p[1];
	if (!ws_close_code_valid(f->close_code))
		return ws_fail(r, WS_CLOSE_PROTOCOL, "close code that may not be sent");
	if (ws_utf8_check(&st, p + 2, (size_t)n - 2) != CT_OK || st != 0)
		return ws_fail(r, WS_CLOSE_INVALID, "close reason is not UTF-8");
	return CT_OK;
}

/* A data frame: its place in its message, UTF-8 of a text, reassembly. */
static int
ws_data_read(struct ws_reader *r, const unsigned char *p, uint64_t n, struct ws_frame *f)
{
	uint64_t before = f->opcode == WS_OP_CONT ? r->msg_len : 0;
	uint32_t st = f->opcode == WS_OP_CONT ? r->utf8 : 0;

	f->msg_opcode = f->opcode == WS_OP_CONT ? r->msg_opcode : f->opcode;
	if (f->msg_opcode == WS_OP_TEXT) {
		if (ws_utf8_check(&st, p, (size_t)n) != CT_OK)
			return ws_fail(r, WS_CLOSE_INVALID, "text that is not UTF-8");
		if (f->fin && st != 0)
			return ws_fail(r, WS_CLOSE_INVALID, "text that ends inside a character");
	}
	if (r->msg != NULL && n > 0)
		memcpy(r->msg + before, p, (size_t)n);
	if (!f->fin) {
		r->in_message = 1;
		r->msg_opcode = f->msg_opcode;
		r->msg_len = before + n;
		r->utf8 = st;
		return CT_OK;
	}
	f->message_end = 1;
	f->message = r->msg;
	f->message_len = (size_t)(before + n);
	r->in_message = 0;
	r->msg_len = 0;
	r->utf8 = 0;
	return CT_OK;
}

int
ws_frame_read(struct ws_reader *r, unsigned char *buf, size_t len, struct ws_frame *f)
{
	uint64_t n;
	size_t hl;
	int rc;

	if (len < 2)
		return CT_AGAIN;
	if ((rc = ws_head_read(r, buf, len, &n, &hl)) != CT_OK)
		return rc;
	if (len < hl || len - hl < n)
		return CT_AGAIN;
	memset(f, 0, sizeof(*f));
	f->opcode = buf[0] & 0x0f;
	f->fin = (buf[0] & 0x80) != 0;
	f->masked = (buf[1] & 0x80) != 0;
	f->head_len = hl;
	f->len = n;
	f->size = hl + (size_t)n;
	if (f->masked)
		ws_mask(buf + hl, (size_t)n, buf + hl - 4, 0);
	if (f->opcode == WS_OP_CLOSE)
		return ws_close_read(r, buf + hl, n, f);
	if (f->opcode & 0x8)
		return CT_OK;
	return ws_data_read(r, buf + hl, n, f);
}

size_t
ws_frame_head(unsigned char *out, unsigned opcode, int fin, uint64_t len,
    const unsigned char *mask)
{
	unsigned m = mask != NULL ? 0x80 : 0;
	size_t n = 0;
	int i;

	out[n++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[n++] = (unsigned char)(m | len);
	} else if (len <= 0xffff) {
		out[n++] = (unsigned char)(m | 126);
		out[n++] = (unsigned char)(len >> 8);
		out[n++] = (unsigned char)len;
	} else {
		out[n++] = (unsigned char)(m | 127);
		for (i = 7; i >= 0; i--)
			out[n++] = (unsigned char)(len >> (8 * i));
	}
	if (mask != NULL) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

size_t
ws_close_payload(unsigned char *out, unsigned code, const char *reason)
{
	size_t n = reason != NULL ? strlen(reason) : 0;

	if (code == 0)
		return 0;
	out[0] = (unsigned char)(code >> 8);
	out[1] = (unsigned char)code;
	if (n > WS_CONTROL_MAX - 2) {
		n = WS_CONTROL_MAX - 2;
		/* Not inside a character: back to the byte that begins one. */
		while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(out + 2, reason, n);
	return 2 + n;
}

/* ------------------------------------------------------------ handshake */

int
ws_token_list_has(const char *value, size_t len, const char *token)
{
	size_t tl = strlen(token), i = 0, s, e;

	while (i < len) {
		while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
			i++;
		s = i;
		while (i < len && value[i] != ',')
			i++;
		e = i;
		while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
			e--;
		if (e - s == tl && tl > 0 && strncasecmp(value + s, token, tl) == 0)
			return 1;
	}
	return 0;
}

int
ws_key_valid(const char *key, size_t len)
{
	unsigned char raw[18];
	size_t n;

	return len == WS_KEY_LEN && http_base64_decode(key, len, raw, sizeof(raw), &n) == CT_OK &&
	    n == 16;
}

int
ws_accept_key(const char *key, size_t len, char *out)
{
	char in[WS_KEY_LEN + sizeof(WS_GUID)];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (len > WS_KEY_LEN)
		return CT_ERROR;
	memcpy(in, key, len);
	memcpy(in + len, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(in, len + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20)
		return CT_ERROR;
	/* 20 bytes are 28 characters and a NUL. */
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
	return CT_OK;
}

/*
 * WebSocket (RFC 6455): frames read and written, the opening handshake's
 * key, and UTF-8 as a text message must carry it.
 *
 * Pure functions over (buf, len), like the other parsers of untrusted
 * input: no sockets, no allocation.  A reader keeps what spans frames
 * (the message under way, its length, where its UTF-8 check stands),
 * checks every rule of section 5 on each frame, unmasks the payload in
 * place and, when given a buffer, reassembles a fragmented message in
 * it.  A frame that breaks a rule is refused with the close code that
 * the connection must end with:
 *
 *   1002  reserved bits set, an unknown opcode, a control frame that is
 *         fragmented or longer than 125 bytes, a length not in its
 *         shortest form or with the top bit set, a frame masked or not
 *         against the side it came from, a continuation out of place, a
 *         close payload of one byte or with a code that may not be sent
 *   1007  a text message, or a close reason, that is not UTF-8
 *   1009  a frame or a message longer than the reader's limit
 */
#ifndef CT_WS_H
#define CT_WS_H

#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT   0x0
#define WS_OP_TEXT   0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE  0x8
#define WS_OP_PING   0x9
#define WS_OP_PONG   0xa

#define WS_CLOSE_NORMAL      1000
#define WS_CLOSE_GOING_AWAY  1001
#define WS_CLOSE_PROTOCOL    1002
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_INVALID     1007
#define WS_CLOSE_POLICY      1008
#define WS_CLOSE_TOO_BIG     1009
#define WS_CLOSE_RESTART     1012

#define WS_HEAD_MAX     14          /* 2 + 8 of length + 4 of mask */
#define WS_CONTROL_MAX  125         /* payload of a control frame */
#define WS_KEY_LEN      24          /* base64 of the 16 bytes of Sec-WebSocket-Key */
#define WS_ACCEPT_LEN   28          /* base64 of a SHA-1 */

/* One frame, as ws_frame_read() found it. */
struct ws_frame {
	unsigned opcode;              /* WS_OP_* of the frame (WS_OP_CONT for a continuation) */
	unsigned fin:1;
	unsigned masked:1;
	unsigned message_end:1;       /* a data frame that ends its message */
	unsigned msg_opcode;          /* of a data frame: WS_OP_TEXT or WS_OP_BINARY of its message */
	size_t head_len;              /* the payload starts at buf + head_len */
	uint64_t len;                 /* payload bytes, unmasked in place */
	size_t size;                  /* head_len + len: what the frame takes of buf */
	unsigned close_code;          /* a close frame's code; 0 when it has none */
	const unsigned char *message; /* message_end with a reassembly buffer: the whole message */
	size_t message_len;
};

/*
 * What spans the frames of one direction of a connection.  Zero it and
 * set the limits; msg may be NULL (messages are then checked, and
 * their length counted, but not kept).
 */
struct ws_reader {
	uint64_t max_message;         /* payload of a frame, and of a whole message; 1009 beyond */
	unsigned server:1;            /* reads a client's frames: they must be masked; else must not */
	unsigned char *msg;           /* reassembly buffer of max_message bytes, or NULL */
	/* state */
	unsigned in_message:1;        /* a fragmented message has begun */
	unsigned msg_opcode;          /* ... and is text or binary */
	uint64_t msg_len;             /* its payload so far */
	uint32_t utf8;                /* where its UTF-8 check stands (ws_utf8_check) */
	/* a refusal */
	unsigned close_code;          /* WS_CLOSE_PROTOCOL, _INVALID or _TOO_BIG */
	const char *error;            /* why, for the log */
};

/*
 * Reads the frame at the start of buf[0..len).  Returns CT_OK with *f
 * (the payload unmasked in place; the caller consumes f->size bytes),
 * CT_AGAIN while the frame is not whole (nothing changed), or CT_ERROR
 * with r->close_code and r->error.  A frame or a message over the limit
 * is refused as soon as its header says so, before its payload comes.
 */
int ws_frame_read(struct ws_reader *r, unsigned char *buf, size_t len, struct ws_frame *f);

/*
 * Writes a frame header for a payload of len bytes into out
 * (WS_HEAD_MAX bytes at least), masked with mask when it is not NULL
 * (a client's frame; the caller then masks the payload with
 * ws_mask()).  Returns the header's length.
 */
size_t ws_frame_head(unsigned char *out, unsigned opcode, int fin, uint64_t len,
    const unsigned char *mask);

/* XORs buf[0..len) with mask, as bytes at offset off of a payload. */
void ws_mask(unsigned char *buf, size_t len, const unsigned char *mask, uint64_t off);

/*
 * The payload of a close frame: code (0: none, and no reason) and
 * reason, cut to fit a control frame at a character boundary.  Writes
 * at most WS_CONTROL_MAX bytes to out and returns how many.
 */
size_t ws_close_payload(unsigned char *out, unsigned code, const char *reason);

/* May code be sent in a close frame (RFC 6455, 7.4)? */
int ws_close_code_valid(unsigned code);

/*
 * Checks p[0..n) as the continuation of a UTF-8 text whose check stands
 * at *state (0 at the start of a text).  Returns CT_ERROR at the first
 * byte that no UTF-8 text may have there (overlong forms, surrogates
 * and code points past U+10FFFF included), else CT_OK with *state
 * updated: 0 when the text may end there.
 */
int ws_utf8_check(uint32_t *state, const unsigned char *p, size_t n);

/* Is value (a field value) a comma-separated list with token in it, in any case? */
int ws_token_list_has(const char *value, size_t len, const char *token);

/* Is key a Sec-WebSocket-Key: the base64 of 16 bytes? */
int ws_key_valid(const char *key, size_t len);

/*
 * The Sec-WebSocket-Accept of key: base64(SHA-1(key GUID)), into out
 * (WS_ACCEPT_LEN + 1 bytes, NUL-terminated).  CT_ERROR if OpenSSL fails.
 */
int ws_accept_key(const char *key, size_t len, char *out);

#endif

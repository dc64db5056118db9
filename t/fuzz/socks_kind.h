/*
 * The SOCKS parsers of lib/socks.c behind one call and one result, so
 * that t/fuzz/fuzz_socks.c and t/unit/check_socks.c run each message
 * kind the same way and compare answers whatever the kind.
 */
#ifndef CT_T_SOCKS_KIND_H
#define CT_T_SOCKS_KIND_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/socks.h"

enum socks_kind {
	K_HELLO,                    /* socks_hello_parse */
	K_AUTH,                     /* socks5_auth_parse */
	K_REQUEST,                  /* socks5_request_parse */
	K_REPLY5,                   /* socks5_reply_parse */
	K_REPLY4,                   /* socks4_reply_parse */
	K_METHOD_REPLY,             /* socks5_method_reply_parse, no-auth offered */
	K_METHOD_REPLY_UP,          /* the same, username/password offered too */
	K_AUTH_REPLY,               /* socks5_auth_reply_parse */
	K_NKINDS
};

/* Zeroed by socks_kind_parse(), so that two results compare with memcmp(). */
struct socks_result {
	int rc;
	size_t consumed;            /* CT_OK: bytes of the message */
	const char *error;
	int reply;                  /* CT_ERROR: the reply code to send, or SOCKS_REPLY_NONE */
	union {
		struct socks_hello h;
		struct socks5_auth a;
		struct socks5_request r;
		struct socks5_reply p;
		struct socks4_reply f;
		uint8_t method;
	} u;
};

/* Runs the parser of kind on buf[0..n) into res; returns res->rc. */
static inline int
socks_kind_parse(enum socks_kind kind, const uint8_t *buf, size_t n, struct socks_result *res)
{
	memset(res, 0, sizeof(*res));
	res->reply = SOCKS_REPLY_NONE;
	switch (kind) {
	case K_HELLO:
		res->rc = socks_hello_parse(buf, n, &res->u.h);
		res->consumed = res->u.h.consumed;
		res->error = res->u.h.error;
		res->reply = res->u.h.reply;
		break;
	case K_AUTH:
		res->rc = socks5_auth_parse(buf, n, &res->u.a);
		res->consumed = res->u.a.consumed;
		res->error = res->u.a.error;
		break;
	case K_REQUEST:
		res->rc = socks5_request_parse(buf, n, &res->u.r);
		res->consumed = res->u.r.consumed;
		res->error = res->u.r.error;
		if (res->rc == CT_ERROR)
			res->reply = res->u.r.reply;
		break;
	case K_REPLY5:
		res->rc = socks5_reply_parse(buf, n, &res->u.p);
		res->consumed = res->u.p.consumed;
		res->error = res->u.p.error;
		break;
	case K_REPLY4:
		res->rc = socks4_reply_parse(buf, n, &res->u.f);
		res->consumed = res->rc == CT_OK ? SOCKS4_REPLY_LEN : 0;
		res->error = res->u.f.error;
		break;
	case K_METHOD_REPLY:
	case K_METHOD_REPLY_UP:
		res->rc = socks5_method_reply_parse(buf, n, kind == K_METHOD_REPLY_UP,
		    &res->u.method, &res->error);
		res->consumed = res->rc == CT_OK ? SOCKS5_METHOD_REPLY_LEN : 0;
		break;
	case K_AUTH_REPLY:
		res->rc = socks5_auth_reply_parse(buf, n, &res->error);
		res->consumed = res->rc == CT_OK ? SOCKS5_AUTH_REPLY_LEN : 0;
		break;
	case K_NKINDS:
		abort();
	}
	return res->rc;
}

#endif

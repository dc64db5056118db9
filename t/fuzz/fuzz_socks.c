/*
 * libFuzzer target: every SOCKS parser of lib/socks.c on the same
 * bytes, and proxy_url_parse() on them as text, checking what the socks
 * mode and the chains rely on:
 * - an accepted message lies within the input (consumed <= len), within
 *   its bound, and the bytes after it have no say in it;
 * - a prefix of any input waits (CT_AGAIN) or gives the same answer,
 *   so that reading more never turns a refusal into a message, and no
 *   input of the bound's length or more is still waiting;
 * - names are clean (lowercase host-name characters, no empty label, no
 *   trailing dot), user ids and user names have no control character,
 *   passwords no NUL;
 * - what is accepted, built again by the client side, is read back the
 *   same, byte for byte where the protocol has one spelling.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/proxy_url.h"
#include "lib/socks.h"
#include "t/fuzz/socks_kind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Prefixes tried per input and parser: all of a short one, an even spread of a long one. */
#define PREFIXES_MAX 32

/* The longest input looked at as a URL. */
#define URL_MAX 2048

/* From this many bytes on, no parse may still wait. */
static const size_t bound[K_NKINDS] = {
	[K_HELLO] = SOCKS_HELLO_MAX,
	[K_AUTH] = SOCKS5_AUTH_MAX,
	[K_REQUEST] = SOCKS5_REQUEST_MAX,
	[K_REPLY5] = SOCKS5_REPLY_MAX,
	[K_REPLY4] = SOCKS4_REPLY_LEN,
	[K_METHOD_REPLY] = SOCKS5_METHOD_REPLY_LEN,
	[K_METHOD_REPLY_UP] = SOCKS5_METHOD_REPLY_LEN,
	[K_AUTH_REPLY] = SOCKS5_AUTH_REPLY_LEN,
};

/* Parses a copy of data[0..n), so that reading past n is caught. */
static void
parse(enum socks_kind kind, const uint8_t *data, size_t n, struct socks_result *res)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);

	CHECK(copy != NULL);
	if (n > 0)
		memcpy(copy, data, n);
	socks_kind_parse(kind, copy, n, res);
	free(copy);
}

static int
same(const struct socks_result *a, const struct socks_result *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static void
name_check(const struct socks_addr *a)
{
	size_t i;

	CHECK(a->name_len > 0 && a->name_len <= SOCKS_NAME_MAX);
	CHECK(strlen(a->name) == a->name_len);
	for (i = 0; i < a->name_len; i++)
		CHECK((a->name[i] >= 'a' && a->name[i] <= 'z') ||
		    (a->name[i] >= '0' && a->name[i] <= '9') ||
		    a->name[i] == '-' || a->name[i] == '_' || a->name[i] == '.');
	CHECK(a->name[0] != '.' && a->name[a->name_len - 1] != '.');
	CHECK(strstr(a->name, "..") == NULL);
}

static void
addr_check(const struct socks_addr *a)
{
	if (a->atyp == SOCKS5_ATYP_NAME) {
		name_check(a);
		CHECK(memcmp(a->ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
	} else {
		CHECK(a->atyp == SOCKS5_ATYP_IPV4 || a->atyp == SOCKS5_ATYP_IPV6);
		CHECK(a->name_len == 0 && a->name[0] == '\0');
	}
}

static void
text_check(const char *s, size_t n, int control_ok)
{
	size_t i;

	CHECK(n <= 255 && strlen(s) == n);
	for (i = 0; i < n && !control_ok; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

/* ::ffff:a.b.c.d, which the encoders send as the IPv4 address it is */
static int
v4mapped(const struct socks_addr *a)
{
	return a->atyp == SOCKS5_ATYP_IPV6 &&
	    memcmp(a->ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
}

/* Sets what res says it consumed, in it and in the parser's own struct. */
static void
consumed_set(enum socks_kind kind, struct socks_result *res, size_t n)
{
	res->consumed = n;
	if (kind == K_HELLO)
		res->u.h.consumed = n;
	else if (kind == K_AUTH)
		res->u.a.consumed = n;
	else if (kind == K_REQUEST)
		res->u.r.consumed = n;
	else if (kind == K_REPLY5)
		res->u.p.consumed = n;
}

/*
 * Builds the accepted message of res again with the client side's
 * encoders into out (of SOCKS_HELLO_MAX bytes); returns its length, or
 * 0 when the kind has none.
 */
static size_t
rebuild(enum socks_kind kind, const struct socks_result *res, uint8_t *out)
{
	struct sockaddr_storage ss;

	switch (kind) {
	case K_HELLO:
		if (res->u.h.version == SOCKS_V5)
			return 0;
		return socks4_request_build(out, res->u.h.cmd, &res->u.h.dst, res->u.h.userid);
	case K_AUTH:
		return socks5_auth_build(out, res->u.a.user, res->u.a.user_len,
		    res->u.a.pass, res->u.a.pass_len);
	case K_REQUEST:
		return socks5_request_build(out, res->u.r.cmd, &res->u.r.dst);
	case K_REPLY5:
		if (v4mapped(&res->u.p.bnd) || socks_addr_to_sockaddr(&res->u.p.bnd, &ss) == 0)
			return 0;
		return socks5_reply_build(out, res->u.p.rep, (const struct sockaddr *)&ss);
	case K_REPLY4:
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = AF_INET;
		memcpy(&((struct sockaddr_in *)(void *)&ss)->sin_addr, res->u.f.ip, 4);
		((struct sockaddr_in *)(void *)&ss)->sin_port = htons(res->u.f.port);
		return socks4_reply_build(out, res->u.f.cd, (const struct sockaddr *)&ss);
	case K_METHOD_REPLY:
	case K_METHOD_REPLY_UP:
		return socks5_method_reply_build(out, res->u.method);
	case K_AUTH_REPLY:
		return socks5_auth_reply_build(out, SOCKS5_AUTH_SUCCESS);
	case K_NKINDS:
		break;
	}
	abort();
}

/* What an accepted message of data[0..size) holds. */
static void
accepted_check(enum socks_kind kind, const uint8_t *data, const struct socks_result *res)
{
	static uint8_t out[SOCKS_HELLO_MAX];
	static struct socks_result again;
	const struct socks_hello *h = &res->u.h;
	size_t n;

	CHECK(res->error == NULL);
	switch (kind) {
	case K_HELLO:
		if (h->version == SOCKS_V5) {
			CHECK(h->nmethods > 0 && res->consumed == 2 + h->nmethods);
			CHECK(memcmp(h->methods, data + 2, h->nmethods) == 0);
			n = socks5_method_select(h->methods, h->nmethods,
			    SOCKS5_ALLOW_NONE | SOCKS5_ALLOW_USERPASS);
			CHECK(n == SOCKS5_METHOD_REFUSED || memchr(h->methods, (int)n,
			    h->nmethods) != NULL);
			break;
		}
		CHECK(h->version == SOCKS_V4);
		CHECK(h->cmd == SOCKS_CMD_CONNECT || h->cmd == SOCKS_CMD_BIND);
		text_check(h->userid, h->userid_len, 0);
		addr_check(&h->dst);
		CHECK(h->socks4a == (h->dst.atyp == SOCKS5_ATYP_NAME));
		break;
	case K_AUTH:
		CHECK(res->u.a.user_len > 0 && res->u.a.pass_len > 0);
		text_check(res->u.a.user, res->u.a.user_len, 0);
		text_check(res->u.a.pass, res->u.a.pass_len, 1);
		break;
	case K_REQUEST:
		CHECK(res->u.r.cmd >= SOCKS_CMD_CONNECT && res->u.r.cmd <= SOCKS_CMD_UDP);
		addr_check(&res->u.r.dst);
		break;
	case K_REPLY5:
		addr_check(&res->u.p.bnd);
		break;
	case K_REPLY4:
		CHECK(res->u.f.cd >= SOCKS4_REP_GRANTED && res->u.f.cd <= SOCKS4_REP_IDENT_MISMATCH);
		break;
	case K_METHOD_REPLY:
		CHECK(res->u.method == SOCKS5_METHOD_NONE);
		break;
	case K_METHOD_REPLY_UP:
		CHECK(res->u.method == SOCKS5_METHOD_NONE || res->u.method == SOCKS5_METHOD_USERPASS);
		break;
	case K_AUTH_REPLY:
	case K_NKINDS:
		break;
	}

	/* Built again, read back the same; byte for byte where there is one spelling. */
	if ((n = rebuild(kind, res, out)) == 0)
		return;
	parse(kind, out, n, &again);
	CHECK(again.rc == CT_OK && again.consumed == n);
	consumed_set(kind, &again, res->consumed);
	CHECK(same(&again, res));
	if ((kind == K_HELLO && !h->socks4a) || kind == K_AUTH || kind == K_REPLY4 ||
	    kind == K_METHOD_REPLY || kind == K_METHOD_REPLY_UP || kind == K_AUTH_REPLY ||
	    (kind == K_REQUEST && res->u.r.dst.atyp != SOCKS5_ATYP_NAME) || kind == K_REPLY5)
		CHECK(n == res->consumed && memcmp(out, data, n) == 0);
}

/* The answer for data[0..k): CT_AGAIN below the message's end, else the whole input's. */
static void
prefix_check(enum socks_kind kind, const uint8_t *data, size_t k, const struct socks_result *res)
{
	static struct socks_result p;

	parse(kind, data, k, &p);
	if (res->rc == CT_OK) {
		CHECK(p.rc == (k < res->consumed ? CT_AGAIN : CT_OK));
		if (p.rc == CT_OK)
			CHECK(same(&p, res));
	} else {
		CHECK(p.rc == CT_AGAIN || p.rc == res->rc);
	}
	if (p.rc == CT_ERROR)
		CHECK(strcmp(p.error, res->error) == 0 && p.reply == res->reply);
}

static void
kind_check(enum socks_kind kind, const uint8_t *data, size_t size)
{
	static struct socks_result res, again;
	size_t k, step;

	parse(kind, data, size, &res);
	CHECK(res.rc == CT_OK || res.rc == CT_AGAIN || res.rc == CT_ERROR);
	if (size >= bound[kind])
		CHECK(res.rc != CT_AGAIN);
	if (res.rc == CT_ERROR)
		CHECK(res.error != NULL);
	if (res.rc == CT_OK) {
		CHECK(res.consumed > 0 && res.consumed <= size && res.consumed <= bound[kind]);
		accepted_check(kind, data, &res);
		/* What follows the message has no say in it. */
		parse(kind, data, res.consumed, &again);
		CHECK(same(&again, &res));
	}
	step = size / PREFIXES_MAX + 1;
	for (k = size % step; k < size; k += step)
		prefix_check(kind, data, k, &res);
	if (res.rc == CT_OK)
		prefix_check(kind, data, res.consumed - 1, &res);
}

/* A datagram comes whole: never CT_AGAIN. */
static void
udp_check(const uint8_t *data, size_t size)
{
	static uint8_t out[SOCKS5_UDP_HEADER_MAX];
	struct sockaddr_storage ss;
	struct socks5_udp u, v;
	size_t n;
	int rc;

	rc = socks5_udp_parse(data, size, &u);
	CHECK(rc == CT_OK || rc == CT_DECLINED || rc == CT_ERROR);
	if (rc != CT_OK) {
		CHECK(u.error != NULL);
		return;
	}
	/* RSV FRAG ATYP, a name of one byte at least, the port */
	CHECK(u.data_off >= 3 + 1 + 2 + 2 && u.data_off <= size &&
	    u.data_off <= SOCKS5_UDP_HEADER_MAX);
	addr_check(&u.dst);
	if (v4mapped(&u.dst) || socks_addr_to_sockaddr(&u.dst, &ss) == 0)
		return;
	n = socks5_udp_header_build(out, (const struct sockaddr *)&ss);
	CHECK(socks5_udp_parse(out, n, &v) == CT_OK && v.data_off == n);
	CHECK(memcmp(&v.dst, &u.dst, sizeof(v.dst)) == 0);
}

static void
url_check(const uint8_t *data, size_t size)
{
	static char s[URL_MAX + 1];
	struct proxy_url u;
	const char *why = NULL;
	size_t n = CT_MIN(size, URL_MAX);

	memcpy(s, data, n);
	s[n] = '\0';
	if (proxy_url_parse(s, &u, &why) != CT_OK) {
		CHECK(why != NULL);
		return;
	}
	CHECK(u.addr.port != 0);
	addr_check(&u.addr);
	text_check(u.user, u.user_len, 0);
	text_check(u.pass, u.pass_len, 1);
	CHECK(u.type <= PROXY_HTTP && strcmp(proxy_type_name(u.type), "unknown") != 0);
	if (u.type == PROXY_SOCKS5 || u.type == PROXY_SOCKS5H)
		CHECK((u.user_len == 0) == (u.pass_len == 0));
	if (u.type == PROXY_SOCKS4 || u.type == PROXY_SOCKS4A)
		CHECK(u.pass_len == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int kind;

	for (kind = 0; kind < K_NKINDS; kind++)
		kind_check((enum socks_kind)kind, data, size);
	udp_check(data, size);
	url_check(data, size);
	return 0;
}

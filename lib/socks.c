/*
 * SOCKS 4, 4a and 5 messages, both ways, for the socks mode (the
 * server) and for the hops of a chain (the client).
 *
 * Every SOCKS message is short and laid out in one piece, so unlike the
 * TLS hello there is no reader over records: a parse looks at buf[i]
 * once it knows len > i, checks each byte as it comes, and says
 * CT_AGAIN when the message runs past len.  The messages that end at a
 * NUL (the SOCKS 4 user id and the 4a name) have a bound of 255 bytes
 * before it, met at the 256th byte, so no client holds a connection
 * open by never ending its request.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/socks.h"

/* The x of the DSTIP 0.0.0.x that marks a SOCKS 4a request we build. */
#define SOCKS4A_MARK 1

#define SOCKS_NEED(n) do { if (len < (n)) return CT_AGAIN; } while (0)

static int
socks_fail(const char **error, const char *why)
{
	*error = why;
	return CT_ERROR;
}

static uint16_t
socks_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
socks_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)(v & 0xff);
}

static int
socks_is_control(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* ------------------------------------------------------------------ */
/* Host names                                                          */
/* ------------------------------------------------------------------ */

/* RFC 952/1123 host name characters, and '_' that real names carry. */
static int
socks_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Why p[0..n), the first n bytes of a host name, cannot begin one, or
 * NULL.  Called on what has come so far, so that a bad byte fails the
 * message as soon as it is there.
 */
static const char *
socks_name_why(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (i == 0 || p[i - 1] == '.')
				return "empty label in host name";
		} else if (p[i] == '\0') {
			return "NUL in host name";
		} else if (!socks_name_char(p[i])) {
			return "invalid character in host name";
		}
	}
	return NULL;
}

/* a's name = the checked name p[0..n) (n > 0), lowercased, a trailing dot dropped. */
static void
socks_name_copy(struct socks_addr *a, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		a->name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
	/* p[0] is not a dot, so a dot alone never gets here. */
	if (p[n - 1] == '.')
		n--;
	a->name[n] = '\0';
	a->name_len = n;
	a->atyp = SOCKS5_ATYP_NAME;
}

/* Can a's name be sent?  A hand-filled a may hold anything. */
static int
socks_name_ok(const struct socks_addr *a)
{
	return a->name_len > 0 && a->name_len <= SOCKS_NAME_MAX &&
	    socks_name_why((const uint8_t *)a->name, a->name_len) == NULL;
}

/* ------------------------------------------------------------------ */
/* Addresses                                                           */
/* ------------------------------------------------------------------ */

/*
 * ATYP DST.ADDR DST.PORT at buf[off], into a; *end is where it ends.
 * CT_ERROR sets *why and *rep (the SOCKS 5 reply it deserves).
 */
static int
socks_addr_read(const uint8_t *buf, size_t len, size_t off, struct socks_addr *a,
    size_t *end, const char **why, uint8_t *rep)
{
	const char *bad;
	size_t alen, n;

	SOCKS_NEED(off + 1);
	switch (buf[off]) {
	case SOCKS5_ATYP_IPV4:
		alen = 4;
		break;
	case SOCKS5_ATYP_IPV6:
		alen = 16;
		break;
	case SOCKS5_ATYP_NAME:
		SOCKS_NEED(off + 2);
		n = buf[off + 1];
		bad = n == 0 ? "empty host name" :
		    socks_name_why(buf + off + 2, CT_MIN(n, len - off - 2));
		if (bad != NULL) {
			*rep = SOCKS5_REP_FAILURE;
			return socks_fail(why, bad);
		}
		alen = 1 + n;
		break;
	default:
		*rep = SOCKS5_REP_ATYP_UNSUPPORTED;
		return socks_fail(why, "address type not supported");
	}
	SOCKS_NEED(off + 1 + alen + 2);
	if (buf[off] == SOCKS5_ATYP_NAME)
		socks_name_copy(a, buf + off + 2, alen - 1);
	else
		memcpy(a->ip, buf + off + 1, alen);
	a->atyp = buf[off];
	a->port = socks_get16(buf + off + 1 + alen);
	*end = off + 1 + alen + 2;
	return CT_OK;
}

/* ATYP ADDR PORT of a into out; 0 when a cannot be sent. */
static size_t
socks_addr_put(uint8_t *out, const struct socks_addr *a)
{
	size_t n = 1;

	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		memcpy(out + n, a->ip, 4);
		n += 4;
		break;
	case SOCKS5_ATYP_IPV6:
		memcpy(out + n, a->ip, 16);
		n += 16;
		break;
	case SOCKS5_ATYP_NAME:
		if (!socks_name_ok(a))
			return 0;
		out[n++] = (uint8_t)a->name_len;
		memcpy(out + n, a->name, a->name_len);
		n += a->name_len;
		break;
	default:
		return 0;
	}
	out[0] = a->atyp;
	socks_put16(out + n, a->port);
	return n + 2;
}

int
socks_addr_set_name(struct socks_addr *a, const char *name, size_t len, uint16_t port,
    const char **why)
{
	const char *bad;

	if (len == 0)
		return socks_fail(why, "empty host name");
	if (len > SOCKS_NAME_MAX)
		return socks_fail(why, "host name longer than 255 bytes");
	if ((bad = socks_name_why((const uint8_t *)name, len)) != NULL)
		return socks_fail(why, bad);
	memset(a, 0, sizeof(*a));
	socks_name_copy(a, (const uint8_t *)name, len);
	a->port = port;
	return CT_OK;
}

int
socks_addr_from_sockaddr(struct socks_addr *a, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		a->atyp = SOCKS5_ATYP_IPV4;
		memcpy(a->ip, &sin->sin_addr, 4);
		a->port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		/* A dual-stack socket's IPv4 peer: the client asked in IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			a->atyp = SOCKS5_ATYP_IPV4;
			memcpy(a->ip, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			a->atyp = SOCKS5_ATYP_IPV6;
			memcpy(a->ip, &sin6->sin6_addr, 16);
		}
		a->port = ntohs(sin6->sin6_port);
	} else {
		return CT_ERROR;
	}
	return CT_OK;
}

socklen_t
socks_addr_to_sockaddr(const struct socks_addr *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (a->atyp == SOCKS5_ATYP_IPV4) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a->ip, 4);
		sin->sin_port = htons(a->port);
		return sizeof(*sin);
	}
	if (a->atyp == SOCKS5_ATYP_IPV6) {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a->ip, 16);
		sin6->sin6_port = htons(a->port);
		return sizeof(*sin6);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The first message                                                   */
/* ------------------------------------------------------------------ */

static int
socks_hello_fail(struct socks_hello *h, int reply, const char *why)
{
	h->reply = reply;
	return socks_fail(&h->error, why);
}

/* VER NMETHODS METHODS (RFC 1928 3) */
static int
socks5_greeting_parse(const uint8_t *buf, size_t len, struct socks_hello *h)
{
	size_t n;

	SOCKS_NEED(2);
	n = buf[1];
	if (n == 0)
		return socks_hello_fail(h, SOCKS5_METHOD_REFUSED, "no authentication methods offered");
	SOCKS_NEED(2 + n);
	h->nmethods = n;
	memcpy(h->methods, buf + 2, n);
	h->consumed = 2 + n;
	return CT_OK;
}

/* The SOCKS 4 user id at buf[8]: up to 255 bytes and a NUL; *end is past the NUL. */
static int
socks4_userid(const uint8_t *buf, size_t len, struct socks_hello *h, size_t *end)
{
	const uint8_t *p = buf + 8;
	size_t i, n = CT_MIN(len - 8, SOCKS_USERID_MAX + 1);

	for (i = 0; i < n && p[i] != '\0'; i++)
		if (socks_is_control(p[i]))
			return socks_hello_fail(h, SOCKS4_REP_REJECTED,
			    "control character in SOCKS 4 user id");
	if (i > SOCKS_USERID_MAX)
		return socks_hello_fail(h, SOCKS4_REP_REJECTED,
		    "SOCKS 4 user id longer than 255 bytes");
	if (i == n)
		return CT_AGAIN;
	memcpy(h->userid, p, i);
	h->userid[i] = '\0';
	h->userid_len = i;
	*end = 8 + i + 1;
	return CT_OK;
}

/* The SOCKS 4a host name at buf[off]: 1..255 bytes and a NUL. */
static int
socks4a_name(const uint8_t *buf, size_t len, size_t off, struct socks_hello *h)
{
	const uint8_t *p = buf + off, *nul;
	const char *bad;
	size_t n = CT_MIN(len - off, SOCKS_NAME_MAX + 1), k;

	nul = memchr(p, '\0', n);
	k = nul != NULL ? (size_t)(nul - p) : n;
	if ((bad = socks_name_why(p, k)) != NULL)
		return socks_hello_fail(h, SOCKS4_REP_REJECTED, bad);
	if (nul == NULL)
		return k > SOCKS_NAME_MAX ? socks_hello_fail(h, SOCKS4_REP_REJECTED,
		    "host name longer than 255 bytes") : CT_AGAIN;
	if (k == 0)
		return socks_hello_fail(h, SOCKS4_REP_REJECTED, "empty host name");
	socks_name_copy(&h->dst, p, k);
	h->socks4a = 1;
	h->consumed = off + k + 1;
	return CT_OK;
}

/* VN CD DSTPORT DSTIP USERID NUL [HOSTNAME NUL] */
static int
socks4_request_parse(const uint8_t *buf, size_t len, struct socks_hello *h)
{
	size_t end;
	int rc;

	SOCKS_NEED(2);
	if (buf[1] != SOCKS_CMD_CONNECT && buf[1] != SOCKS_CMD_BIND)
		return socks_hello_fail(h, SOCKS4_REP_REJECTED, "unknown SOCKS 4 command");
	SOCKS_NEED(8);
	h->cmd = buf[1];
	h->dst.atyp = SOCKS5_ATYP_IPV4;
	h->dst.port = socks_get16(buf + 2);
	memcpy(h->dst.ip, buf + 4, 4);
	if ((rc = socks4_userid(buf, len, h, &end)) != CT_OK)
		return rc;
	/* 4a: DSTIP 0.0.0.x, x != 0, an address no one can mean. */
	if (buf[4] == 0 && buf[5] == 0 && buf[6] == 0 && buf[7] != 0) {
		memset(h->dst.ip, 0, 4);
		return socks4a_name(buf, len, end, h);
	}
	h->consumed = end;
	return CT_OK;
}

int
socks_hello_parse(const uint8_t *buf, size_t len, struct socks_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->reply = SOCKS_REPLY_NONE;
	SOCKS_NEED(1);
	h->version = buf[0];
	switch (buf[0]) {
	case SOCKS_V5:
		return socks5_greeting_parse(buf, len, h);
	case SOCKS_V4:
		return socks4_request_parse(buf, len, h);
	default:
		h->version = 0;
		return socks_hello_fail(h, SOCKS_REPLY_NONE, "unknown SOCKS version");
	}
}

/* ------------------------------------------------------------------ */
/* SOCKS 5: methods, authentication, requests, datagrams               */
/* ------------------------------------------------------------------ */

uint8_t
socks5_method_select(const uint8_t *methods, size_t n, unsigned allow)
{
	int none = 0, userpass = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (methods[i] == SOCKS5_METHOD_NONE)
			none = 1;
		else if (methods[i] == SOCKS5_METHOD_USERPASS)
			userpass = 1;
	}
	if ((allow & SOCKS5_ALLOW_USERPASS) && userpass)
		return SOCKS5_METHOD_USERPASS;
	if ((allow & SOCKS5_ALLOW_NONE) && none)
		return SOCKS5_METHOD_NONE;
	return SOCKS5_METHOD_REFUSED;
}

int
socks5_auth_parse(const uint8_t *buf, size_t len, struct socks5_auth *a)
{
	size_t ulen, plen, i;

	memset(a, 0, sizeof(*a));
	SOCKS_NEED(1);
	if (buf[0] != SOCKS_AUTH_VERSION)
		return socks_fail(&a->error, "authentication version is not 1");
	SOCKS_NEED(2);
	if ((ulen = buf[1]) == 0)
		return socks_fail(&a->error, "empty user name");
	for (i = 2; i < CT_MIN(len, 2 + ulen); i++)
		if (socks_is_control(buf[i]))
			return socks_fail(&a->error, "control character in user name");
	SOCKS_NEED(2 + ulen + 1);
	if ((plen = buf[2 + ulen]) == 0)
		return socks_fail(&a->error, "empty password");
	/* crypt() stops at a NUL: "pw\0x" must not pass for "pw". */
	if (memchr(buf + 3 + ulen, '\0', CT_MIN(len - 3 - ulen, plen)) != NULL)
		return socks_fail(&a->error, "NUL in password");
	SOCKS_NEED(3 + ulen + plen);
	memcpy(a->user, buf + 2, ulen);
	a->user[ulen] = '\0';
	a->user_len = ulen;
	memcpy(a->pass, buf + 3 + ulen, plen);
	a->pass[plen] = '\0';
	a->pass_len = plen;
	a->consumed = 3 + ulen + plen;
	return CT_OK;
}

static int
socks5_request_fail(struct socks5_request *r, uint8_t reply, const char *why)
{
	r->reply = reply;
	return socks_fail(&r->error, why);
}

int
socks5_request_parse(const uint8_t *buf, size_t len, struct socks5_request *r)
{
	memset(r, 0, sizeof(*r));
	SOCKS_NEED(1);
	if (buf[0] != SOCKS_V5)
		return socks5_request_fail(r, SOCKS5_REP_FAILURE, "request version is not 5");
	SOCKS_NEED(2);
	if (buf[1] < SOCKS_CMD_CONNECT || buf[1] > SOCKS_CMD_UDP)
		return socks5_request_fail(r, SOCKS5_REP_CMD_UNSUPPORTED, "command not supported");
	r->cmd = buf[1];
	SOCKS_NEED(3);
	if (buf[2] != 0)
		return socks5_request_fail(r, SOCKS5_REP_FAILURE, "reserved byte is not 0");
	return socks_addr_read(buf, len, 3, &r->dst, &r->consumed, &r->error, &r->reply);
}

int
socks5_udp_parse(const uint8_t *buf, size_t len, struct socks5_udp *u)
{
	uint8_t rep;
	int rc;

	memset(u, 0, sizeof(*u));
	if ((len > 0 && buf[0] != 0) || (len > 1 && buf[1] != 0))
		return socks_fail(&u->error, "reserved bytes are not 0");
	if (len < 3)
		return socks_fail(&u->error, "datagram shorter than its header");
	if (buf[2] != 0) {
		u->error = "fragmented datagram";
		return CT_DECLINED;
	}
	rc = socks_addr_read(buf, len, 3, &u->dst, &u->data_off, &u->error, &rep);
	if (rc == CT_AGAIN)
		return socks_fail(&u->error, "datagram shorter than its header");
	return rc;
}

/* ------------------------------------------------------------------ */
/* Server replies                                                      */
/* ------------------------------------------------------------------ */

size_t
socks5_method_reply_build(uint8_t *out, uint8_t method)
{
	out[0] = SOCKS_V5;
	out[1] = method;
	return SOCKS5_METHOD_REPLY_LEN;
}

size_t
socks5_auth_reply_build(uint8_t *out, uint8_t status)
{
	out[0] = SOCKS_AUTH_VERSION;
	out[1] = status;
	return SOCKS5_AUTH_REPLY_LEN;
}

/* a = sa when IPv4 or IPv6, else 0.0.0.0:0. */
static void
socks_addr_or_zero(struct socks_addr *a, const struct sockaddr *sa)
{
	if (sa == NULL || socks_addr_from_sockaddr(a, sa) != CT_OK) {
		memset(a, 0, sizeof(*a));
		a->atyp = SOCKS5_ATYP_IPV4;
	}
}

size_t
socks5_reply_build(uint8_t *out, uint8_t rep, const struct sockaddr *bnd)
{
	struct socks_addr a;

	socks_addr_or_zero(&a, bnd);
	out[0] = SOCKS_V5;
	out[1] = rep;
	out[2] = 0;
	return 3 + socks_addr_put(out + 3, &a);
}

size_t
socks4_reply_build(uint8_t *out, uint8_t cd, const struct sockaddr *bnd)
{
	struct socks_addr a;

	socks_addr_or_zero(&a, bnd);
	if (a.atyp != SOCKS5_ATYP_IPV4)
		memset(&a, 0, sizeof(a));
	out[0] = 0;
	out[1] = cd;
	socks_put16(out + 2, a.port);
	memcpy(out + 4, a.ip, 4);
	return SOCKS4_REPLY_LEN;
}

size_t
socks5_udp_header_build(uint8_t *out, const struct sockaddr *src)
{
	struct socks_addr a;

	if (socks_addr_from_sockaddr(&a, src) != CT_OK)
		return 0;
	out[0] = 0;
	out[1] = 0;
	out[2] = 0;
	return 3 + socks_addr_put(out + 3, &a);
}

uint8_t
socks5_reply_from_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return SOCKS5_REP_REFUSED;
	case ENETUNREACH:
	case ENETDOWN:
		return SOCKS5_REP_NET_UNREACHABLE;
	case EHOSTUNREACH:
	case EHOSTDOWN:
	case ETIMEDOUT:
		return SOCKS5_REP_HOST_UNREACHABLE;
	case EACCES:
	case EPERM:
		return SOCKS5_REP_NOT_ALLOWED;
	default:
		return SOCKS5_REP_FAILURE;
	}
}

uint8_t
socks4_reply_from_socks5(uint8_t rep)
{
	return rep == SOCKS5_REP_SUCCEEDED ? SOCKS4_REP_GRANTED : SOCKS4_REP_REJECTED;
}

const char *
socks5_reply_text(uint8_t rep)
{
	static const char *const text[] = {
		"succeeded",
		"general SOCKS server failure",
		"connection not allowed by ruleset",
		"network unreachable",
		"host unreachable",
		"connection refused",
		"TTL expired",
		"command not supported",
		"address type not supported",
	};

	return rep < CT_NELEM(text) ? text[rep] : "unassigned reply code";
}

const char *
socks4_reply_text(uint8_t cd)
{
	switch (cd) {
	case SOCKS4_REP_GRANTED:
		return "request granted";
	case SOCKS4_REP_REJECTED:
		return "request rejected or failed";
	case SOCKS4_REP_NO_IDENTD:
		return "identd unreachable";
	case SOCKS4_REP_IDENT_MISMATCH:
		return "identd and user id differ";
	default:
		return "unassigned reply code";
	}
}

/* ------------------------------------------------------------------ */
/* Client side                                                         */
/* ------------------------------------------------------------------ */

size_t
socks5_greeting_build(uint8_t *out, int userpass)
{
	out[0] = SOCKS_V5;
	out[1] = userpass ? 2 : 1;
	out[2] = SOCKS5_METHOD_NONE;
	if (!userpass)
		return 3;
	out[3] = SOCKS5_METHOD_USERPASS;
	return 4;
}

int
socks5_method_reply_parse(const uint8_t *buf, size_t len, int userpass, uint8_t *method,
    const char **why)
{
	SOCKS_NEED(1);
	if (buf[0] != SOCKS_V5)
		return socks_fail(why, "method selection version is not 5");
	SOCKS_NEED(2);
	if (buf[1] == SOCKS5_METHOD_REFUSED)
		return socks_fail(why, "no acceptable authentication method");
	if (buf[1] != SOCKS5_METHOD_NONE && !(buf[1] == SOCKS5_METHOD_USERPASS && userpass))
		return socks_fail(why, "server chose a method not offered");
	*method = buf[1];
	return CT_OK;
}

size_t
socks5_auth_build(uint8_t *out, const char *user, size_t user_len, const char *pass,
    size_t pass_len)
{
	if (user_len == 0 || user_len > SOCKS_CRED_MAX ||
	    pass_len == 0 || pass_len > SOCKS_CRED_MAX)
		return 0;
	out[0] = SOCKS_AUTH_VERSION;
	out[1] = (uint8_t)user_len;
	memcpy(out + 2, user, user_len);
	out[2 + user_len] = (uint8_t)pass_len;
	memcpy(out + 3 + user_len, pass, pass_len);
	return 3 + user_len + pass_len;
}

int
socks5_auth_reply_parse(const uint8_t *buf, size_t len, const char **why)
{
	SOCKS_NEED(1);
	if (buf[0] != SOCKS_AUTH_VERSION)
		return socks_fail(why, "authentication reply version is not 1");
	SOCKS_NEED(2);
	if (buf[1] != SOCKS5_AUTH_SUCCESS)
		return socks_fail(why, "user name or password refused");
	return CT_OK;
}

size_t
socks5_request_build(uint8_t *out, uint8_t cmd, const struct socks_addr *dst)
{
	size_t n;

	if (cmd < SOCKS_CMD_CONNECT || cmd > SOCKS_CMD_UDP)
		return 0;
	if ((n = socks_addr_put(out + 3, dst)) == 0)
		return 0;
	out[0] = SOCKS_V5;
	out[1] = cmd;
	out[2] = 0;
	return 3 + n;
}

int
socks5_reply_parse(const uint8_t *buf, size_t len, struct socks5_reply *r)
{
	uint8_t rep;

	memset(r, 0, sizeof(*r));
	SOCKS_NEED(1);
	if (buf[0] != SOCKS_V5)
		return socks_fail(&r->error, "reply version is not 5");
	SOCKS_NEED(2);
	r->rep = buf[1];
	SOCKS_NEED(3);
	if (buf[2] != 0)
		return socks_fail(&r->error, "reserved byte is not 0");
	return socks_addr_read(buf, len, 3, &r->bnd, &r->consumed, &r->error, &rep);
}

size_t
socks4_request_build(uint8_t *out, uint8_t cmd, const struct socks_addr *dst,
    const char *userid)
{
	size_t ulen = userid != NULL ? strnlen(userid, SOCKS_USERID_MAX + 1) : 0, i, n;

	if ((cmd != SOCKS_CMD_CONNECT && cmd != SOCKS_CMD_BIND) || ulen > SOCKS_USERID_MAX)
		return 0;
	for (i = 0; i < ulen; i++)
		if (socks_is_control((uint8_t)userid[i]))
			return 0;
	if (dst->atyp != SOCKS5_ATYP_IPV4 && dst->atyp != SOCKS5_ATYP_NAME)
		return 0;
	if (dst->atyp == SOCKS5_ATYP_NAME && !socks_name_ok(dst))
		return 0;
	out[0] = SOCKS_V4;
	out[1] = cmd;
	socks_put16(out + 2, dst->port);
	if (dst->atyp == SOCKS5_ATYP_IPV4) {
		memcpy(out + 4, dst->ip, 4);
	} else {
		memset(out + 4, 0, 3);
		out[7] = SOCKS4A_MARK;
	}
	if (ulen > 0)
		memcpy(out + 8, userid, ulen);
	n = 8 + ulen;
	out[n++] = '\0';
	if (dst->atyp == SOCKS5_ATYP_NAME) {
		memcpy(out + n, dst->name, dst->name_len);
		n += dst->name_len;
		out[n++] = '\0';
	}
	return n;
}

int
socks4_reply_parse(const uint8_t *buf, size_t len, struct socks4_reply *r)
{
	memset(r, 0, sizeof(*r));
	SOCKS_NEED(1);
	if (buf[0] != 0)
		return socks_fail(&r->error, "SOCKS 4 reply version is not 0");
	SOCKS_NEED(2);
	if (buf[1] < SOCKS4_REP_GRANTED || buf[1] > SOCKS4_REP_IDENT_MISMATCH)
		return socks_fail(&r->error, "unknown SOCKS 4 reply code");
	SOCKS_NEED(SOCKS4_REPLY_LEN);
	r->cd = buf[1];
	r->port = socks_get16(buf + 2);
	memcpy(r->ip, buf + 4, 4);
	return CT_OK;
}

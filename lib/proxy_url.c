/*
 * The "via:" URLs of upstream proxies, read once at load.
 *
 * scheme "://" [userinfo "@"] host ":" port and nothing else.  The
 * whole text is checked against the characters of an authority first,
 * so that what follows only has to tell the parts apart; the host and
 * port are then split as a listen address is (lib/addr.c), with a host
 * name allowed in place of an IP literal.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "lib/addr.h"
#include "lib/ct.h"
#include "lib/proxy_url.h"

static const struct {
	const char *scheme;
	enum proxy_type type;
} proxy_schemes[] = {
	{ "socks4", PROXY_SOCKS4 },
	{ "socks4a", PROXY_SOCKS4A },
	{ "socks5", PROXY_SOCKS5 },
	{ "socks5h", PROXY_SOCKS5H },
	{ "http", PROXY_HTTP },
};

static int
proxy_fail(const char **why, const char *reason)
{
	*why = reason;
	return CT_ERROR;
}

/* unreserved and sub-delims of RFC 3986: what userinfo holds besides ':' and escapes. */
static int
proxy_userinfo_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=", c) != NULL;
}

/* Of a hex digit, or -1. */
static int
proxy_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Percent-decodes s[0..n) (userinfo characters, ':' and escapes only) into
 * out of SOCKS_CRED_MAX + 1 bytes, NUL-terminated.
 */
static const char *
proxy_decode(const char *s, size_t n, char *out, size_t *out_len)
{
	size_t i, k = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (k == SOCKS_CRED_MAX)
			return "user or password longer than 255 bytes";
		if (s[i] == '%') {
			if (n - i < 3 || (hi = proxy_hex((unsigned char)s[i + 1])) < 0 ||
			    (lo = proxy_hex((unsigned char)s[i + 2])) < 0)
				return "invalid percent-encoding in user or password";
			out[k++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (proxy_userinfo_char((unsigned char)s[i]) || s[i] == ':') {
			out[k++] = s[i];
		} else {
			return "invalid character in user or password; percent-encode it";
		}
	}
	out[k] = '\0';
	*out_len = k;
	return NULL;
}

/* user[":" pass] of s[0..n), decoded into u, and what u->type makes of it. */
static const char *
proxy_userinfo(const char *s, size_t n, struct proxy_url *u)
{
	const char *colon = memchr(s, ':', n), *why;
	size_t ulen = colon != NULL ? (size_t)(colon - s) : n, i;

	if ((why = proxy_decode(s, ulen, u->user, &u->user_len)) != NULL)
		return why;
	if (colon != NULL && (why = proxy_decode(colon + 1, n - ulen - 1, u->pass,
	    &u->pass_len)) != NULL)
		return why;
	if (u->user_len == 0)
		return "empty user";
	for (i = 0; i < u->user_len; i++)
		if ((unsigned char)u->user[i] < 0x20 || u->user[i] == 0x7f)
			return "control character in user";
	if (memchr(u->pass, '\0', u->pass_len) != NULL)
		return "NUL in password";
	switch (u->type) {
	case PROXY_SOCKS4:
	case PROXY_SOCKS4A:
		return colon != NULL ? "socks4 has a user id and no password" : NULL;
	case PROXY_SOCKS5:
	case PROXY_SOCKS5H:
		return u->pass_len == 0 ? "a socks5 user needs a password (RFC 1929)" : NULL;
	case PROXY_HTTP:
		return memchr(u->user, ':', u->user_len) != NULL ?
		    "\":\" in the user of HTTP basic authentication" : NULL;
	}
	return NULL;
}

/* host ":" port of s into u->addr. */
static const char *
proxy_host_port(const char *s, struct proxy_url *u)
{
	char lit[INET6_ADDRSTRLEN];
	const char *host, *port, *why;
	size_t hlen;
	uint16_t p;

	if ((why = addr_split(s, &host, &hlen, &port)) != NULL)
		return why;
	if ((why = addr_port_parse(port, &p)) != NULL)
		return why;
	if (hlen == 0)
		return "empty host";
	memset(&u->addr, 0, sizeof(u->addr));
	if (hlen < sizeof(lit)) {
		memcpy(lit, host, hlen);
		lit[hlen] = '\0';
		if (s[0] == '[' && inet_pton(AF_INET6, lit, u->addr.ip) == 1)
			u->addr.atyp = SOCKS5_ATYP_IPV6;
		else if (s[0] != '[' && inet_pton(AF_INET, lit, u->addr.ip) == 1)
			u->addr.atyp = SOCKS5_ATYP_IPV4;
	}
	if (u->addr.atyp == 0) {
		if (s[0] == '[')
			return "invalid IPv6 address";
		/* No top-level domain is all digits (RFC 3696 2): a mistyped address. */
		if (strspn(host, "0123456789.") >= hlen)
			return "invalid IPv4 address";
		if (socks_addr_set_name(&u->addr, host, hlen, p, &why) != CT_OK)
			return why;
	}
	u->addr.port = p;
	return NULL;
}

int
proxy_url_parse(const char *s, struct proxy_url *u, const char **why)
{
	const char *sep, *rest, *at, *bad;
	size_t i, n;

	memset(u, 0, sizeof(*u));
	if ((sep = strstr(s, "://")) == NULL)
		return proxy_fail(why, "missing scheme, as in socks5://host:port");
	n = (size_t)(sep - s);
	for (i = 0; i < CT_NELEM(proxy_schemes); i++)
		if (strlen(proxy_schemes[i].scheme) == n &&
		    strncasecmp(proxy_schemes[i].scheme, s, n) == 0)
			break;
	if (i == CT_NELEM(proxy_schemes))
		return proxy_fail(why, "unknown scheme; use socks4, socks4a, socks5, socks5h or http");
	u->type = proxy_schemes[i].type;
	rest = sep + 3;
	if (strpbrk(rest, "/?#") != NULL)
		return proxy_fail(why, "a path, query or fragment after the port");
	for (i = 0; rest[i] != '\0'; i++)
		if (!proxy_userinfo_char((unsigned char)rest[i]) && strchr(":@[]%", rest[i]) == NULL)
			return proxy_fail(why, "invalid character in proxy URL");
	if ((at = strchr(rest, '@')) != NULL) {
		if (strchr(at + 1, '@') != NULL)
			return proxy_fail(why, "two \"@\"; write one in a user or password as %40");
		if ((bad = proxy_userinfo(rest, (size_t)(at - rest), u)) != NULL)
			return proxy_fail(why, bad);
		rest = at + 1;
	}
	if ((bad = proxy_host_port(rest, u)) != NULL)
		return proxy_fail(why, bad);
	return CT_OK;
}

const char *
proxy_type_name(enum proxy_type type)
{
	size_t i;

	for (i = 0; i < CT_NELEM(proxy_schemes); i++)
		if (proxy_schemes[i].type == type)
			return proxy_schemes[i].scheme;
	return "unknown";
}

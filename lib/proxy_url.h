/*
 * The URL of an upstream proxy, a hop of a listener's "via:" chain:
 *
 *   socks5://[user:pass@]host:port   names resolved here, sent as addresses
 *   socks5h://[user:pass@]host:port  names sent to the hop to resolve
 *   socks4://[user@]host:port        IPv4 only, names resolved here
 *   socks4a://[user@]host:port       names sent to the hop to resolve
 *   http://[user[:pass]@]host:port   CONNECT, basic authentication
 *
 * (the schemes and the h suffix as curl reads them).  Pure: no DNS; a
 * host is an IPv4 literal, an IPv6 literal in brackets, or a host name
 * as SOCKS carries one (lib/socks.h).
 *
 * Strict, since a mistake here sends traffic somewhere else or in
 * clear: a port is required (no scheme's default is assumed) and is
 * 1..65535; no path, query or fragment; only the characters RFC 3986
 * allows in an authority; the user and password are percent-decoded
 * once and then hold no control character (user) or NUL (password);
 * a SOCKS 5 user needs a password of 1..255 bytes (RFC 1929), SOCKS 4
 * has a user id and no password, and an HTTP user has no ':'.
 */
#ifndef CT_PROXY_URL_H
#define CT_PROXY_URL_H

#include <stddef.h>

#include "lib/socks.h"

enum proxy_type {
	PROXY_SOCKS4,                       /* socks4:// */
	PROXY_SOCKS4A,                      /* socks4a:// */
	PROXY_SOCKS5,                       /* socks5:// */
	PROXY_SOCKS5H,                      /* socks5h:// */
	PROXY_HTTP                          /* http:// */
};

struct proxy_url {
	enum proxy_type type;
	struct socks_addr addr;             /* the hop: IPV4, IPV6 or NAME, and its port */
	char user[SOCKS_CRED_MAX + 1];      /* decoded, NUL-terminated; "" when none */
	size_t user_len;
	char pass[SOCKS_CRED_MAX + 1];      /* decoded, NUL-terminated; "" when none */
	size_t pass_len;
};

/* Parses s.  CT_OK with u filled, or CT_ERROR with a static reason in *why. */
int proxy_url_parse(const char *s, struct proxy_url *u, const char **why);

/* "socks5h" and so on, for the log. */
const char *proxy_type_name(enum proxy_type type);

#endif

/*
 * Socket addresses and CIDR blocks from configuration text.  Only IP
 * literals are accepted: resolving names at load would make a reload
 * depend on DNS, and a name that resolves to several addresses has no
 * single meaning as a listener or a server.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/ct.h"

/* Longest IP literal inet_pton() accepts, plus NUL. */
#define ADDR_HOST_MAX INET6_ADDRSTRLEN

/* Reports reason through why (which may be NULL) and fails. */
static int
addr_fail(const char *reason, const char **why)
{
	if (why != NULL)
		*why = reason;
	return CT_ERROR;
}

/*
 * Names the mistake in a host that is not an IP literal: something
 * with letters is most likely a DNS name, which deserves its own
 * message because it is the common error.
 */
static const char *
addr_host_why(const char *h, size_t len)
{
	size_t i;

	if (memchr(h, ':', len) != NULL)
		return "invalid IPv6 address";
	for (i = 0; i < len; i++)
		if ((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z'))
			return "address must be an IP literal (no DNS names)";
	return "invalid IPv4 address";
}

/*
 * Parses the IP literal h[0..len) (no brackets) as IPv4, else IPv6,
 * into bytes and *family.  Returns NULL or the reason it is not one.
 */
static const char *
addr_host_parse(const char *h, size_t len, int *family, uint8_t bytes[16])
{
	char buf[ADDR_HOST_MAX];

	if (len == 0)
		return "missing address";
	if (len >= sizeof(buf))
		return addr_host_why(h, len);
	memcpy(buf, h, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, bytes) == 1) {
		*family = AF_INET;
		return NULL;
	}
	if (inet_pton(AF_INET6, buf, bytes) == 1) {
		*family = AF_INET6;
		return NULL;
	}
	return addr_host_why(h, len);
}

const char *
addr_port_parse(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0')
		return "missing port";
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return "port must be a decimal number";
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return "port must be between 1 and 65535";
	}
	if (v == 0)
		return "port must be between 1 and 65535";
	*port = (uint16_t)v;
	return NULL;
}

/* Fills out from family, address bytes and port (host order). */
static void
addr_fill(struct addr *out, int family, const uint8_t *bytes, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, bytes, 4);
		out->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, bytes, 16);
		out->len = sizeof(*sin6);
	}
}

const char *
addr_split(const char *s, const char **host, size_t *hlen, const char **port)
{
	const char *colon;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL)
			return "missing \"]\" after IPv6 address";
		if (end[1] == '\0')
			return "missing port";
		if (end[1] != ':')
			return "expected \":\" and a port after \"]\"";
		*host = s + 1;
		*hlen = (size_t)(end - s - 1);
		*port = end + 2;
		return memchr(*host, ':', *hlen) == NULL ?
		    "brackets are only for IPv6 addresses" : NULL;
	}
	if ((colon = strrchr(s, ':')) == NULL)
		return "missing port";
	*host = s;
	*hlen = (size_t)(colon - s);
	*port = colon + 1;
	if (memchr(s, ':', *hlen) != NULL)
		return "IPv6 addresses must be in brackets, as in [::1]:80";
	return NULL;
}

/*
 * "1.2.3.4:80", "[::1]:80", or "*:80" when allow_wildcard is set.  out
 * is zero-filled apart from family, address and port, so two parsed
 * addresses compare equal byte for byte when they are the same.
 */
int
addr_parse(const char *s, int allow_wildcard, struct addr *out,
    const char **why)
{
	const char *host, *port, *reason;
	uint8_t bytes[16] = { 0 };
	size_t hlen;
	int family;
	uint16_t p;

	if (s == NULL || *s == '\0')
		return addr_fail("empty address", why);
	if ((reason = addr_split(s, &host, &hlen, &port)) != NULL)
		return addr_fail(reason, why);
	if (hlen == 1 && host[0] == '*') {
		if (!allow_wildcard)
			return addr_fail("wildcard \"*\" is not allowed here", why);
		family = AF_INET;
	} else if ((reason = addr_host_parse(host, hlen, &family, bytes)) != NULL) {
		return addr_fail(reason, why);
	}
	if ((reason = addr_port_parse(port, &p)) != NULL)
		return addr_fail(reason, why);
	addr_fill(out, family, bytes, p);
	return CT_OK;
}

/*
 * A bare literal is tried first: "::1" has colons that addr_split() would
 * take for a port, and "[::1]" none at all.
 */
int
addr_parse_port(const char *s, uint16_t port, struct addr *out, const char **why)
{
	uint8_t bytes[16] = { 0 };
	const char *reason;
	size_t len;
	int family;

	if (s == NULL || *s == '\0')
		return addr_fail("empty address", why);
	len = strlen(s);
	if (s[0] == '[' && s[len - 1] != ']')
		return addr_parse(s, 0, out, why);
	if (s[0] == '[') {
		if ((reason = addr_host_parse(s + 1, len - 2, &family, bytes)) != NULL)
			return addr_fail(reason, why);
		if (family != AF_INET6)
			return addr_fail("brackets are only for IPv6 addresses", why);
	} else if ((reason = addr_host_parse(s, len, &family, bytes)) != NULL) {
		/* With one ":", host and port; with none or several, a bad literal. */
		const char *colon = strchr(s, ':');

		if (colon == NULL || strchr(colon + 1, ':') != NULL)
			return addr_fail(reason, why);
		return addr_parse(s, 0, out, why);
	}
	addr_fill(out, family, bytes, port);
	return CT_OK;
}

/* Writes "a.b.c.d:port" or "[v6]:port" into buf, truncating to len. */
const char *
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (len == 0)
		return buf;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host,
		    (unsigned)ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", (int)sa->sa_family);
	}
	return buf;
}

size_t
addr_ip_format(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa->sa_family == AF_INET && len >= INET_ADDRSTRLEN) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		char *p = buf;
		int i;

		for (i = 0; i < 4; i++) {
			unsigned v = a[i];

			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = '.';
		}
		p[-1] = '\0';
		return (size_t)(p - 1 - buf);
	}
	if (sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
	    buf, (socklen_t)len) != NULL)
		return strlen(buf);
	if (len > 0)
		buf[0] = '\0';
	return 0;
}

int
addr_other_form(const struct sockaddr *sa, struct sockaddr_storage *other)
{
	memset(other, 0, sizeof(*other));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		struct sockaddr_in6 *o = (struct sockaddr_in6 *)other;

		o->sin6_family = AF_INET6;
		o->sin6_port = sin->sin_port;
		o->sin6_addr.s6_addr[10] = o->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&o->sin6_addr.s6_addr[12], &sin->sin_addr, 4);
		return 1;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		struct sockaddr_in *o = (struct sockaddr_in *)other;

		if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return 0;
		o->sin_family = AF_INET;
		o->sin_port = sin6->sin6_port;
		memcpy(&o->sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
		return 1;
	}
	return 0;
}

/* True when a and b are the same IPv4 or IPv6 address and port. */
int
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

/* Parses a decimal prefix length 0..max that makes up all of s. */
static const char *
cidr_prefix_parse(const char *s, unsigned max, unsigned *prefix)
{
	unsigned v = 0;

	if (*s == '\0')
		return "missing prefix length after \"/\"";
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return "prefix length must be a decimal number";
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return max == 32 ? "prefix length must be 0..32 for IPv4" :
			    "prefix length must be 0..128 for IPv6";
	}
	*prefix = v;
	return NULL;
}

/* Do the first prefix bits of a and b agree? */
static int
cidr_bits_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Are all bits of net past prefix (of a len-byte address) zero? */
static int
cidr_host_bits_clear(const uint8_t *net, size_t len, unsigned prefix)
{
	uint8_t zero[16] = { 0 };
	size_t i = prefix / 8;

	if (prefix % 8 != 0) {
		if ((net[i] & (uint8_t)(0xff >> (prefix % 8))) != 0)
			return 0;
		i++;
	}
	return i >= len || memcmp(net + i, zero, len - i) == 0;
}

/*
 * "10.0.0.0/8", "::1/128", or a bare address, which is a block of one.
 * A block written with host bits set is refused rather than masked:
 * "10.0.0.1/8" is more likely a typo than a wish to allow all of 10/8.
 */
int
cidr_parse(const char *s, struct cidr *out, const char **why)
{
	const char *slash, *reason;
	uint8_t net[16] = { 0 };
	unsigned max, prefix;
	size_t alen;
	int family;

	if (s == NULL || *s == '\0')
		return addr_fail("empty CIDR block", why);
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if ((reason = addr_host_parse(s, alen, &family, net)) != NULL)
		return addr_fail(reason, why);
	max = family == AF_INET ? 32 : 128;
	prefix = max;
	if (slash != NULL &&
	    (reason = cidr_prefix_parse(slash + 1, max, &prefix)) != NULL)
		return addr_fail(reason, why);
	if (!cidr_host_bits_clear(net, max / 8, prefix))
		return addr_fail("host bits set", why);
	memset(out, 0, sizeof(*out));
	out->family = family;
	memcpy(out->net, net, max / 8);
	out->prefix = prefix;
	return CT_OK;
}

/*
 * An IPv4 client reaches an IPv6 listener as ::ffff:a.b.c.d, so such a
 * client is matched against IPv4 blocks by its embedded address.  The
 * reverse is not done: an IPv6 block never matches an IPv4 client.
 */
int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return c->family == AF_INET &&
		    cidr_bits_equal(c->net, (const uint8_t *)&sin->sin_addr,
		    c->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *b = sin6->sin6_addr.s6_addr;

		if (c->family == AF_INET6)
			return cidr_bits_equal(c->net, b, c->prefix);
		if (c->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return cidr_bits_equal(c->net, b + 12, c->prefix);
	}
	return 0;
}

/* ------------------------------------------------------ address classes */

/*
 * A block of one class, or (embed != 0) a block of IPv6 that carries an
 * IPv4 address at byte embed, classed by that address.  Most specific
 * first: the first block that holds an address decides.
 */
struct addr_block {
	int family;
	uint8_t net[16];
	unsigned prefix;
	enum addr_class cls;
	unsigned embed;
};

static const struct addr_block addr_blocks[] = {
	{ AF_INET,  { 169, 254, 169, 254 }, 32, ADDR_METADATA, 0 },
	{ AF_INET,  { 0 }, 8, ADDR_UNSPECIFIED, 0 },
	{ AF_INET,  { 10 }, 8, ADDR_PRIVATE, 0 },
	{ AF_INET,  { 100, 64 }, 10, ADDR_SHARED, 0 },
	{ AF_INET,  { 127 }, 8, ADDR_LOOPBACK, 0 },
	{ AF_INET,  { 169, 254 }, 16, ADDR_LINK_LOCAL, 0 },
	{ AF_INET,  { 172, 16 }, 12, ADDR_PRIVATE, 0 },
	{ AF_INET,  { 192, 0, 0 }, 24, ADDR_RESERVED, 0 },
	{ AF_INET,  { 192, 168 }, 16, ADDR_PRIVATE, 0 },
	{ AF_INET,  { 224 }, 4, ADDR_MULTICAST, 0 },
	{ AF_INET,  { 240 }, 4, ADDR_RESERVED, 0 },
	{ AF_INET6, { 0 }, 128, ADDR_UNSPECIFIED, 0 },
	{ AF_INET6, { [15] = 1 }, 128, ADDR_LOOPBACK, 0 },
	{ AF_INET6, { [10] = 0xff, [11] = 0xff }, 96, ADDR_PUBLIC, 12 },
	{ AF_INET6, { 0 }, 96, ADDR_RESERVED, 0 },
	{ AF_INET6, { 0x00, 0x64, 0xff, 0x9b }, 96, ADDR_PUBLIC, 12 },
	{ AF_INET6, { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, ADDR_PRIVATE, 0 },
	{ AF_INET6, { 0x20, 0x02 }, 16, ADDR_PUBLIC, 2 },
	{ AF_INET6, { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 }, 128, ADDR_METADATA, 0 },
	{ AF_INET6, { 0xfc }, 7, ADDR_PRIVATE, 0 },
	{ AF_INET6, { 0xfe, 0x80 }, 10, ADDR_LINK_LOCAL, 0 },
	{ AF_INET6, { 0xfe, 0xc0 }, 10, ADDR_PRIVATE, 0 },
	{ AF_INET6, { 0xff }, 8, ADDR_MULTICAST, 0 },
};

static const char *const addr_class_names[] = {
	[ADDR_PUBLIC] = "public",
	[ADDR_LOOPBACK] = "loopback",
	[ADDR_PRIVATE] = "private",
	[ADDR_SHARED] = "shared (carrier-grade NAT)",
	[ADDR_LINK_LOCAL] = "link-local",
	[ADDR_METADATA] = "cloud metadata",
	[ADDR_UNSPECIFIED] = "unspecified",
	[ADDR_MULTICAST] = "multicast",
	[ADDR_RESERVED] = "reserved",
};

const char *
addr_class_name(enum addr_class c)
{
	return (size_t)c < CT_NELEM(addr_class_names) ? addr_class_names[c] : "unknown";
}

/* The first block of family that holds the first prefix bits of b; NULL: none. */
static const struct addr_block *
addr_block_find(int family, const uint8_t *b, unsigned prefix)
{
	size_t i;

	for (i = 0; i < CT_NELEM(addr_blocks); i++)
		if (addr_blocks[i].family == family && prefix >= addr_blocks[i].prefix &&
		    cidr_bits_equal(addr_blocks[i].net, b, addr_blocks[i].prefix))
			return &addr_blocks[i];
	return NULL;
}

static enum addr_class
addr_class_bytes(int family, const uint8_t *b)
{
	const struct addr_block *k = addr_block_find(family, b, family == AF_INET ? 32 : 128);

	if (k == NULL)
		return ADDR_PUBLIC;
	return k->embed != 0 ? addr_class_bytes(AF_INET, b + k->embed) : k->cls;
}

enum addr_class
addr_class_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return addr_class_bytes(AF_INET,
		    (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return addr_class_bytes(AF_INET6,
		    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
	return ADDR_RESERVED;
}

/*
 * A block inside one that carries IPv4 is inside a class when the IPv4
 * block it carries is: [::ffff:10.0.0.0]/104 is 10.0.0.0/8.
 */
int
cidr_is_internal(const struct cidr *c)
{
	const struct addr_block *k = addr_block_find(c->family, c->net, c->prefix);
	struct cidr v4;

	if (k == NULL)
		return 0;
	if (k->embed == 0)
		return k->cls != ADDR_PUBLIC;
	memset(&v4, 0, sizeof(v4));
	v4.family = AF_INET;
	memcpy(v4.net, c->net + k->embed, 4);
	v4.prefix = CT_MIN(c->prefix - k->prefix, 32u);
	return cidr_is_internal(&v4);
}

/* The network of line [p, end) without comment and surrounding blanks, in *len. */
static const char *
cidr_line_trim(const char *p, const char *end, size_t *len)
{
	const char *hash = memchr(p, '#', (size_t)(end - p));

	if (hash != NULL)
		end = hash;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*len = (size_t)(end - p);
	return p;
}

static int
cidr_list_fail(struct cidr_list_error *err, size_t line, size_t off, size_t len,
    const char *why)
{
	err->line = line;
	err->off = off;
	err->len = len;
	err->why = why;
	return CT_ERROR;
}

/*
 * Lists grow by doubling: a file of a million networks is parsed once, at
 * load, and costs about twenty reallocations.
 */
int
cidr_list_parse(const char *buf, size_t len, struct cidr **out, size_t *n,
    struct cidr_list_error *err)
{
	const char *p = buf, *end = buf + len, *eol, *net;
	char text[INET6_ADDRSTRLEN + 8];
	struct cidr *list = NULL, *grown;
	size_t count = 0, cap = 0, line = 0, nlen;
	const char *why;

	for (; p < end; p = eol + 1) {
		line++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		net = cidr_line_trim(p, eol, &nlen);
		if (nlen == 0)
			continue;
		if (memchr(net, '\0', nlen) != NULL || nlen >= sizeof(text)) {
			free(list);
			return cidr_list_fail(err, line, (size_t)(net - buf), nlen,
			    nlen >= sizeof(text) ? "too long for a network" : "NUL byte");
		}
		if (count == CIDR_LIST_MAX) {
			free(list);
			return cidr_list_fail(err, line, (size_t)(net - buf), nlen,
			    "more networks than a list may hold (1048576)");
		}
		if (count == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(list, cap * sizeof(*list))) == NULL) {
				free(list);
				return cidr_list_fail(err, 0, 0, 0, "out of memory");
			}
			list = grown;
		}
		memcpy(text, net, nlen);
		text[nlen] = '\0';
		if (cidr_parse(text, &list[count], &why) != CT_OK) {
			free(list);
			return cidr_list_fail(err, line, (size_t)(net - buf), nlen, why);
		}
		count++;
	}
	*out = list;
	*n = count;
	return CT_OK;
}

/*
 * Socket addresses and CIDR blocks as they appear in the configuration.
 * Pure functions: no DNS, no sockets.
 */
#ifndef CT_ADDR_H
#define CT_ADDR_H

#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* "[ffff:...]:65535" plus NUL fits. */
#define ADDR_STRLEN 64

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t net[16];     /* network bytes, host bits zero */
	unsigned prefix;     /* 0..32 or 0..128 */
};

/*
 * Parses "1.2.3.4:80", "[::1]:80" or "*:80" (wildcard: 0.0.0.0; with
 * allow_wildcard == 0, "*" is an error).  Port 1..65535 required.
 * Returns CT_OK, or CT_ERROR with a static reason in *why.
 */
int addr_parse(const char *s, int allow_wildcard, struct addr *out, const char **why);

/*
 * Splits s into host[0..hlen) and the text of the port, checking only
 * the shape: a bracketed host is IPv6 only (the brackets are not part
 * of host); an unbracketed one must not contain ':', since "::1:80" is
 * ambiguous.  Returns NULL or the reason s is no host:port.
 */
const char *addr_split(const char *s, const char **host, size_t *hlen, const char **port);

/*
 * As addr_parse() without the wildcard, but the port may be left out:
 * "1.2.3.4", "::1" and "[::1]" get port.
 */
int addr_parse_port(const char *s, uint16_t port, struct addr *out, const char **why);

/* A decimal port 1..65535 that makes up all of s: NULL, or why it is not one. */
const char *addr_port_parse(const char *s, uint16_t *port);

/* "127.0.0.1:80" / "[::1]:80"; returns buf. */
const char *addr_format(const struct sockaddr *sa, char *buf, size_t len);

/*
 * The address alone, "127.0.0.1" or "::1" (no port, no brackets), into
 * buf of INET6_ADDRSTRLEN bytes; returns its length, 0 for another
 * family.  IPv4 is formatted by hand: it runs once per proxied request.
 */
size_t addr_ip_format(const struct sockaddr *sa, char *buf, size_t len);

/* Same family, address and port. */
int addr_equal(const struct sockaddr *a, const struct sockaddr *b);

/*
 * The other spelling of sa, port kept: IPv4 as IPv4-mapped IPv6, or an
 * IPv4-mapped IPv6 address as IPv4, into other; 0 when it has none.
 * The same host is reached either way (a dual-stack socket sends to
 * IPv4 by the mapped form).
 */
int addr_other_form(const struct sockaddr *sa, struct sockaddr_storage *other);

/*
 * Parses "10.0.0.0/8", "::1/128", or a bare address (full-length prefix).
 * Host bits set under the prefix are an error ("10.0.0.1/8").
 */
int cidr_parse(const char *s, struct cidr *out, const char **why);

/*
 * Does sa fall inside c?  An IPv4-mapped IPv6 client (::ffff:a.b.c.d)
 * matches IPv4 blocks.
 */
int cidr_match(const struct cidr *c, const struct sockaddr *sa);

/*
 * Addresses that name no host of the public Internet: a proxy's client
 * must not reach them through it unless allowed to.  IPv4 inside IPv6
 * (::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::) is
 * classed by the IPv4 address it carries.
 */
enum addr_class {
	ADDR_PUBLIC,             /* none of the below */
	ADDR_LOOPBACK,           /* 127.0.0.0/8, ::1 */
	ADDR_PRIVATE,            /* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48 */
	ADDR_SHARED,             /* 100.64.0.0/10, carrier-grade NAT (and some clouds' services) */
	ADDR_LINK_LOCAL,         /* 169.254.0.0/16, fe80::/10 */
	ADDR_METADATA,           /* cloud instance metadata: 169.254.169.254, fd00:ec2::254 */
	ADDR_UNSPECIFIED,        /* 0.0.0.0/8, :: */
	ADDR_MULTICAST,          /* 224.0.0.0/4, ff00::/8 */
	ADDR_RESERVED            /* 240.0.0.0/4 (broadcast too), 192.0.0.0/24, ::/96 */
};

enum addr_class addr_class_of(const struct sockaddr *sa);
/* "public", "loopback", "private", ...: for logs. */
const char *addr_class_name(enum addr_class c);
/* Does all of c lie in one class other than public? */
int cidr_is_internal(const struct cidr *c);

/* Networks one list may hold: a bound on what a file can make a worker scan. */
#define CIDR_LIST_MAX    (1u << 20)

/* Where and why a list did not parse. */
struct cidr_list_error {
	size_t line;         /* 1-based; 0: not a line's fault (out of memory) */
	size_t off;          /* the offending text: buf[off..off+len) */
	size_t len;
	const char *why;     /* static */
};

/*
 * Parses a list of networks, one per line in cidr_parse()'s syntax: "#"
 * starts a comment, and blank lines and spaces or tabs around a network
 * are ignored.  On success *out is a malloc()ed array of *n networks
 * (NULL when there are none).  On the first bad line returns CT_ERROR
 * with *out untouched and *err filled in.
 */
int cidr_list_parse(const char *buf, size_t len, struct cidr **out, size_t *n,
    struct cidr_list_error *err);

#endif

/*
 * Where the clients of a forward or socks listener may connect:
 *
 *   destinations:
 *     allow: ["*.example.com:443", "10.1.2.0/24", ":80"]
 *     deny:  ["bad.example.com", "10.1.2.3/32:22"]
 *     private: deny                          # the default
 *
 * An entry is a CIDR block ("10.0.0.0/8", "::1/128", a bare address), a
 * host name ("example.com": that name only) or a domain ("*.example.com":
 * any name under it, at any depth, not example.com itself), each with an
 * optional port or range (":443", ":8000-8999"; IPv6 in brackets:
 * "[::1]:22", "[fd00::/8]:443"), or a port alone (":443": any host).
 *
 * How a destination is decided (worker/dest.h does it):
 *
 *   1. Name entries are matched against the name the client asked for
 *      (case ignored, one trailing dot ignored), before it is resolved;
 *      an IP literal matches no name entry.  CIDR entries are matched
 *      against each address actually connected to, after resolution, so
 *      that a name cannot resolve its way around them.  Port entries
 *      take part in both.  An IPv4 address and its IPv4-mapped IPv6 form
 *      are the same destination to every CIDR entry.
 *   2. A matching deny entry refuses, whatever else matches.
 *   3. When allow is not empty, a destination must match an allow entry.
 *   4. Independently, addresses that are not public (lib/addr.h: loopback,
 *      private, shared, link-local, cloud metadata, unspecified, multicast,
 *      reserved, and their IPv4-in-IPv6 forms) are refused unless the
 *      client itself is on loopback, or "private: allow" is set, or an
 *      allow CIDR entry that lies wholly inside such a range covers the
 *      address and port ("10.1.2.0/24" lifts it for 10.1.2.0/24; a wide
 *      "0.0.0.0/0" does not, nor does a name entry: the name would only
 *      have to resolve there).
 */
#ifndef CT_CONF_DEST_H
#define CT_CONF_DEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/addr.h"

#define CONF_DEST_RULES_MAX   1024     /* entries per list */

enum conf_dest_kind {
	CONF_DEST_CIDR,            /* an address block: the address connected to */
	CONF_DEST_HOST,            /* a host name, exactly: the name asked for */
	CONF_DEST_DOMAIN,          /* "*.example.com": any name under it */
	CONF_DEST_PORT             /* ":443": any destination on that port */
};

struct conf_dest_rule {
	enum conf_dest_kind kind;
	struct cidr cidr;          /* CIDR */
	char *name;                /* HOST "example.com", DOMAIN ".example.com"; lower-case */
	size_t namelen;
	uint16_t port_lo;          /* 0: any port */
	uint16_t port_hi;
	unsigned internal:1;       /* CIDR wholly inside a non-public range: allowing it lifts "private" */
	char *text;                /* as written, for logs and the dump */
};

struct conf_dest {
	struct conf_dest_rule *allow;
	size_t nallow;
	struct conf_dest_rule *deny;
	size_t ndeny;
	int allow_private;         /* "private: allow"; default 0, deny */
};

void conf_dest_free(struct conf_dest *d);
/*
 * Writes d as the block "destinations:" at indent, as conf_dest_parse()
 * (with_private) or conf_dest_approval_parse() reads it.
 */
void conf_dest_dump(const struct conf_dest *d, FILE *out, int indent, int with_private);

/*
 * For tests: text is a YAML document holding one "destinations" mapping
 * (its keys at the top level), parsed into *out (zeroed first; free it
 * with conf_dest_free() either way).  Errors go to cb as "name:line:col:
 * message", in file order; returns how many there were.
 */
size_t conf_dest_load_string(const char *name, const char *text, size_t len,
    struct conf_dest *out, void (*cb)(void *arg, const char *msg), void *arg);

#endif

/*
 * The destination rules of forward and socks listeners, decided in two
 * steps (dest.c; conf/dest.h states the rules):
 *
 *   dest_check_name(rules, "host", port, &by_name)      before resolving
 *   for each address:
 *     dest_check_addr(rules, &by_name, sa, local, &v)   before connecting
 *
 * A client that gives an address rather than a name goes through
 * dest_check_name() with the literal as it wrote it (name entries then
 * do not match it; port entries do), or straight to dest_check_addr()
 * with by_name NULL.  Pure functions over the rules: no DNS, no sockets.
 */
#ifndef CT_WORKER_DEST_H
#define CT_WORKER_DEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/dest.h"

/* What decided. */
enum dest_by {
	DEST_BY_DEFAULT,           /* nothing matched, and nothing had to: allowed */
	DEST_BY_ALLOW,             /* an allow entry: rule, index */
	DEST_BY_DENY,              /* a deny entry: rule, index */
	DEST_BY_NOT_ALLOWED,       /* allow is not empty and no entry of it matched */
	DEST_BY_PRIVATE,           /* a non-public address: why names its class */
	DEST_BY_FAMILY             /* not an IPv4 or IPv6 address */
};

struct dest_verdict {
	int allowed;
	enum dest_by by;
	const struct conf_dest_rule *rule;  /* DEST_BY_ALLOW, DEST_BY_DENY; else NULL */
	size_t index;                       /* the rule's index in its list */
	/* Static: "deny entry", "not in the allow list", ...; DEST_BY_PRIVATE: the class, "loopback". */
	const char *why;
	unsigned name_allowed:1;            /* dest_check_name(): an allow entry took the name */
};

/*
 * The rules that the name the client asked for (and port, host order)
 * meets: deny entries of names and ports, and, when allow is not empty,
 * whether an allow entry takes the name or an allow block could still
 * take its addresses.  Returns v->allowed: 0 refuses now, 1 lets the
 * name be resolved and each address go through dest_check_addr().
 */
int dest_check_name(const struct conf_dest *d, const char *name, uint16_t port,
    struct dest_verdict *v);

/*
 * The rules that address sa (its port included) meets, with what
 * dest_check_name() found (by_name; NULL when the client named no host),
 * for a client on loopback (client_local, dest_client_local()) or not.
 * Returns v->allowed.
 */
int dest_check_addr(const struct conf_dest *d, const struct dest_verdict *by_name,
    const struct sockaddr *sa, int client_local, struct dest_verdict *v);

/*
 * The first of rules[0..n) that takes host (as the client named it, an
 * IP literal without brackets) on port, at once: a name entry takes the
 * name as dest_check_name() does, a CIDR entry an address the client
 * gave, and a port entry its port.  Its index, or n.  For approval,
 * which decides before any name is resolved.
 */
size_t dest_rules_find(const struct conf_dest_rule *rules, size_t n, const char *host,
    uint16_t port);

/* Is the client on loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? */
int dest_client_local(const struct sockaddr *client);

/*
 * v for a log line: "deny entry 2 \"*.example.com:25\"", "not in the
 * allow list", "loopback address"; returns buf.
 */
const char *dest_verdict_format(const struct dest_verdict *v, char *buf, size_t len);

#endif

/*
 * Destination rules of forward and socks listeners: the name step and
 * the address step of dest.h, over the entries conf/dest.c parsed.  Lists
 * are scanned in order; they are short, and bounded by
 * CONF_DEST_RULES_MAX.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "worker/dest.h"

static int
dest_verdict_set(struct dest_verdict *v, int allowed, enum dest_by by,
    const struct conf_dest_rule *rule, size_t index, const char *why)
{
	v->allowed = allowed;
	v->by = by;
	v->rule = rule;
	v->index = index;
	v->why = why;
	return allowed;
}

static int
dest_port_match(const struct conf_dest_rule *r, uint16_t port)
{
	return r->port_lo == 0 || (port >= r->port_lo && port <= r->port_hi);
}

/* Is name[0..len) a literal address, as a client may write one? */
static int
dest_literal(const char *name)
{
	unsigned char b[16];

	return name[0] == '[' || inet_pton(AF_INET, name, b) == 1 ||
	    inet_pton(AF_INET6, name, b) == 1;
}

/*
 * At the name step: a port entry on its port; a host or domain entry on
 * the name (case ignored), unless the client gave a literal address.
 */
static int
dest_name_match(const struct conf_dest_rule *r, const char *name, size_t len, int literal,
    uint16_t port)
{
	if (!dest_port_match(r, port))
		return 0;
	switch (r->kind) {
	case CONF_DEST_PORT:
		return 1;
	case CONF_DEST_HOST:
		return !literal && len == r->namelen && strncasecmp(name, r->name, len) == 0;
	case CONF_DEST_DOMAIN:
		/* ".example.com" ends the name, after at least one byte of label. */
		return !literal && len > r->namelen &&
		    strncasecmp(name + len - r->namelen, r->name, r->namelen) == 0;
	default:
		return 0;
	}
}

int
dest_check_name(const struct conf_dest *d, const char *name, uint16_t port,
    struct dest_verdict *v)
{
	size_t len = strlen(name), i;
	int literal = dest_literal(name);

	memset(v, 0, sizeof(*v));
	if (len > 0 && name[len - 1] == '.')
		len--;
	for (i = 0; i < d->ndeny; i++)
		if (dest_name_match(&d->deny[i], name, len, literal, port))
			return dest_verdict_set(v, 0, DEST_BY_DENY, &d->deny[i], i, "deny entry");
	if (d->nallow == 0)
		return dest_verdict_set(v, 1, DEST_BY_DEFAULT, NULL, 0, "no entry");
	for (i = 0; i < d->nallow; i++)
		if (dest_name_match(&d->allow[i], name, len, literal, port)) {
			v->name_allowed = 1;
			return dest_verdict_set(v, 1, DEST_BY_ALLOW, &d->allow[i], i, "allow entry");
		}
	/* No entry took the name: an allow block still may take its addresses. */
	for (i = 0; i < d->nallow; i++)
		if (d->allow[i].kind == CONF_DEST_CIDR && dest_port_match(&d->allow[i], port))
			return dest_verdict_set(v, 1, DEST_BY_DEFAULT, NULL, 0, "no entry");
	return dest_verdict_set(v, 0, DEST_BY_NOT_ALLOWED, NULL, 0, "not in the allow list");
}

/* At the address step: a block on the address and port; a port entry on its port. */
static int
dest_addr_match(const struct conf_dest_rule *r, const struct sockaddr *sa,
    const struct sockaddr *alt, uint16_t port)
{
	if (!dest_port_match(r, port))
		return 0;
	if (r->kind == CONF_DEST_PORT)
		return 1;
	return r->kind == CONF_DEST_CIDR &&
	    (cidr_match(&r->cidr, sa) || (alt != NULL && cidr_match(&r->cidr, alt)));
}

/*
 * The index of the first allow entry that takes the address (with
 * internal_only, among the blocks inside non-public space); d->nallow: none.
 */
static size_t
dest_allow_find(const struct conf_dest *d, const struct sockaddr *sa,
    const struct sockaddr *alt, uint16_t port, int internal_only)
{
	size_t i;

	for (i = 0; i < d->nallow; i++)
		if ((!internal_only || (d->allow[i].kind == CONF_DEST_CIDR && d->allow[i].internal)) &&
		    dest_addr_match(&d->allow[i], sa, alt, port))
			return i;
	return d->nallow;
}

int
dest_check_addr(const struct conf_dest *d, const struct dest_verdict *by_name,
    const struct sockaddr *sa, int client_local, struct dest_verdict *v)
{
	struct sockaddr_storage other;
	const struct sockaddr *alt;
	enum addr_class cls;
	uint16_t port;
	size_t i;

	memset(v, 0, sizeof(*v));
	if (by_name != NULL && !by_name->allowed) {
		*v = *by_name;
		return 0;
	}
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return dest_verdict_set(v, 0, DEST_BY_FAMILY, NULL, 0, "not an IP address");
	port = ntohs(sa->sa_family == AF_INET ?
	    ((const struct sockaddr_in *)(const void *)sa)->sin_port :
	    ((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	alt = addr_other_form(sa, &other) ? (const struct sockaddr *)&other : NULL;
	for (i = 0; i < d->ndeny; i++)
		if (dest_addr_match(&d->deny[i], sa, alt, port))
			return dest_verdict_set(v, 0, DEST_BY_DENY, &d->deny[i], i, "deny entry");
	if ((i = dest_allow_find(d, sa, alt, port, 0)) < d->nallow)
		dest_verdict_set(v, 1, DEST_BY_ALLOW, &d->allow[i], i, "allow entry");
	else if (by_name != NULL && by_name->name_allowed)
		dest_verdict_set(v, 1, DEST_BY_ALLOW, by_name->rule, by_name->index, "allow entry");
	else if (d->nallow > 0)
		return dest_verdict_set(v, 0, DEST_BY_NOT_ALLOWED, NULL, 0, "not in the allow list");
	else
		dest_verdict_set(v, 1, DEST_BY_DEFAULT, NULL, 0, "no entry");
	if ((cls = addr_class_of(sa)) == ADDR_PUBLIC || client_local || d->allow_private)
		return 1;
	/* Only an allow block inside non-public space, covering the address, lifts it. */
	if ((i = dest_allow_find(d, sa, alt, port, 1)) < d->nallow)
		return dest_verdict_set(v, 1, DEST_BY_ALLOW, &d->allow[i], i, "allow entry");
	return dest_verdict_set(v, 0, DEST_BY_PRIVATE, NULL, 0, addr_class_name(cls));
}

size_t
dest_rules_find(const struct conf_dest_rule *rules, size_t n, const char *host, uint16_t port)
{
	struct sockaddr_storage ss, other;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	const struct sockaddr *alt;
	size_t len = strlen(host), i;
	int literal = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else
		literal = 0;
	if (!literal && len > 0 && host[len - 1] == '.')
		len--;
	/* An IPv4 address and its IPv4-mapped IPv6 form are one, as at the address step. */
	alt = literal && addr_other_form((struct sockaddr *)&ss, &other) ?
	    (const struct sockaddr *)&other : NULL;
	for (i = 0; i < n; i++) {
		if (rules[i].kind == CONF_DEST_CIDR ? literal &&
		    dest_addr_match(&rules[i], (struct sockaddr *)&ss, alt, port) :
		    dest_name_match(&rules[i], host, len, literal, port))
			return i;
	}
	return n;
}

/*
 * Strictly loopback: an address that merely carries 127.0.0.1 inside
 * IPv6 (6to4, NAT64) may come from anywhere.
 */
int
dest_client_local(const struct sockaddr *client)
{
	if (client->sa_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)(const void *)client)->sin_addr)[0] ==
		    127;
	if (client->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)client)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

const char *
dest_verdict_format(const struct dest_verdict *v, char *buf, size_t len)
{
	switch (v->by) {
	case DEST_BY_ALLOW:
	case DEST_BY_DENY:
		snprintf(buf, len, "%s[%zu] \"%s\"", v->by == DEST_BY_ALLOW ? "allow" : "deny",
		    v->index, v->rule != NULL && v->rule->text != NULL ? v->rule->text : "");
		break;
	case DEST_BY_PRIVATE:
		snprintf(buf, len, "%s address (private: deny)", v->why);
		break;
	default:
		snprintf(buf, len, "%s", v->why != NULL ? v->why : "no entry");
		break;
	}
	return buf;
}

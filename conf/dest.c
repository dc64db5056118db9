/*
 * The "destinations" block of forward and socks listeners (conf/dest.h
 * says what its entries mean; worker/dest.c matches them).  Each entry is
 * parsed once, here, into its kind, block or name, and ports; an entry
 * that cannot be read is an error at its position, never an entry that
 * silently matches nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/dest.h"
#include "conf/section.h"
#include "lib/ct.h"

static const char conf_dest_oom[] = "out of memory";

static const char *const conf_dest_private_names[] = { "deny", "allow" };

/* "443" or "8000-8999" (s is written on). */
static const char *
conf_dest_ports_parse(char *s, struct conf_dest_rule *r)
{
	char *dash = strchr(s, '-');
	const char *why;

	if (dash != NULL)
		*dash = '\0';
	if ((why = addr_port_parse(s, &r->port_lo)) != NULL)
		return why;
	r->port_hi = r->port_lo;
	if (dash != NULL && (why = addr_port_parse(dash + 1, &r->port_hi)) != NULL)
		return why;
	if (r->port_hi < r->port_lo)
		return "a port range goes from the lower port to the higher";
	return NULL;
}

/*
 * Splits t into its host and port (NULL: none).  One ":" separates them;
 * IPv6 has several, so an IPv6 block with a port is written in brackets.
 */
static const char *
conf_dest_split(char *t, char **host, char **port)
{
	char *end, *colon = strchr(t, ':'), *slash;

	*host = t;
	*port = NULL;
	if (t[0] == '[') {
		if ((end = strchr(t, ']')) == NULL)
			return "missing \"]\" after IPv6 address";
		if (end[1] != ':' && end[1] != '\0')
			return "expected \":\" and a port after \"]\"";
		*end = '\0';
		*host = t + 1;
		*port = end[1] == ':' ? end + 2 : NULL;
		return strchr(*host, ':') == NULL ? "brackets are only for IPv6 addresses" : NULL;
	}
	if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		*port = colon + 1;
	} else if (colon != NULL && (slash = strchr(t, '/')) != NULL && strchr(slash, ':') != NULL) {
		return "an IPv6 block with a port goes in brackets, as in [fd00::/8]:443";
	}
	return NULL;
}

/*
 * One entry, t written on.  A host with ":" or "/", or of digits and dots
 * only, is meant as an address block and read as one, so that "10.0.0"
 * is a bad address rather than a name that no client could ask for.
 */
static const char *
conf_dest_rule_parse(char *t, struct conf_dest_rule *r)
{
	const char *why;
	char *host, *port;

	if (t[0] == ':' && strchr(t + 1, ':') == NULL) {
		r->kind = CONF_DEST_PORT;
		return conf_dest_ports_parse(t + 1, r);
	}
	if ((why = conf_dest_split(t, &host, &port)) != NULL ||
	    (port != NULL && (why = conf_dest_ports_parse(port, r)) != NULL))
		return why;
	if (*host == '\0')
		return "missing host";
	if (strpbrk(host, ":/") != NULL || host[strspn(host, "0123456789.")] == '\0') {
		r->kind = CONF_DEST_CIDR;
		if (cidr_parse(host, &r->cidr, &why) != CT_OK)
			return why;
		r->internal = cidr_is_internal(&r->cidr);
		return NULL;
	}
	if ((why = conf_host_pattern_why(host)) != NULL)
		return why;
	conf_str_lower(host);
	r->kind = host[0] == '*' ? CONF_DEST_DOMAIN : CONF_DEST_HOST;
	/* A domain is kept as ".example.com", the suffix that names under it end with. */
	if ((r->name = strdup(r->kind == CONF_DEST_DOMAIN ? host + 1 : host)) == NULL)
		return conf_dest_oom;
	r->namelen = strlen(r->name);
	return NULL;
}

static void
conf_dest_rules_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    struct conf_dest_rule **out, size_t *n)
{
	char q[CONF_QUOTE_LEN];
	const char *why;
	size_t i;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR ||
	    conf_count_check(ctx, k, v, v->nitems, 0, CONF_DEST_RULES_MAX) == CT_ERROR ||
	    v->nitems == 0)
		return;
	if ((*out = calloc(v->nitems, sizeof(**out))) == NULL) {
		conf_oom(ctx);
		return;
	}
	*n = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		struct conf_dest_rule *r = &(*out)[i];

		if (conf_expect(ctx, v->items[i], NODE_SCALAR, k->name, 1) == CT_ERROR ||
		    (r->text = conf_env_expand(ctx, v->items[i])) == NULL)
			continue;
		if ((t = strdup(r->text)) == NULL) {
			conf_oom(ctx);
			continue;
		}
		if ((why = conf_dest_rule_parse(t, r)) == conf_dest_oom)
			conf_oom(ctx);
		else if (why != NULL)
			conf_error(ctx, v->items[i], "invalid destination \"%s\" in \"%s\": %s",
			    conf_quote(r->text, q, sizeof(q)), k->name, why);
		free(t);
	}
}

static void
conf_dest_allow_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_dest *d = obj;

	conf_dest_rules_parse(ctx, k, v, &d->allow, &d->nallow);
}

static void
conf_dest_deny_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_dest *d = obj;

	conf_dest_rules_parse(ctx, k, v, &d->deny, &d->ndeny);
}

static void
conf_dest_private_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_dest *d = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_dest_private_names,
	    CT_NELEM(conf_dest_private_names), &i) == CT_OK)
		d->allow_private = i == 1;
}

static const struct conf_key conf_dest_keys[] = {
	{ "allow",   0, conf_dest_allow_parse, 0, 0, 0 },
	{ "deny",    0, conf_dest_deny_parse, 0, 0, 0 },
	{ "private", 0, conf_dest_private_parse, 0, 0, 0 },
};

CONF_TABLE(conf_dest_table, "in destinations", conf_dest_keys);

void
conf_dest_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	conf_map_parse(ctx, k, v, &conf_dest_table, (char *)obj + k->off);
}

/* An approval's: the clients' own destinations rules say what is private, not these. */
static const struct conf_key conf_dest_rules_keys[] = {
	{ "allow",   0, conf_dest_allow_parse, 0, 0, 0 },
	{ "deny",    0, conf_dest_deny_parse, 0, 0, 0 },
};

CONF_TABLE(conf_dest_rules_table, "in approval rules destinations", conf_dest_rules_keys);

void
conf_dest_approval_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	conf_map_parse(ctx, k, v, &conf_dest_rules_table, (char *)obj + k->off);
}

static void
conf_dest_rules_free(struct conf_dest_rule *rules, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(rules[i].name);
		free(rules[i].text);
	}
	free(rules);
}

void
conf_dest_free(struct conf_dest *d)
{
	conf_dest_rules_free(d->allow, d->nallow);
	conf_dest_rules_free(d->deny, d->ndeny);
	d->allow = d->deny = NULL;
	d->nallow = d->ndeny = 0;
}

static void
conf_dest_rules_dump(FILE *out, int indent, const char *key, const struct conf_dest_rule *r,
    size_t n)
{
	size_t i;

	fprintf(out, "%*s%s: [", indent, "", key);
	for (i = 0; i < n; i++) {
		fputs(i > 0 ? ", " : "", out);
		conf_dump_str(out, r[i].text, 1);
	}
	fputs("]\n", out);
}

void
conf_dest_dump(const struct conf_dest *d, FILE *out, int indent, int with_private)
{
	fprintf(out, "%*sdestinations:\n", indent, "");
	conf_dest_rules_dump(out, indent + 2, "allow", d->allow, d->nallow);
	conf_dest_rules_dump(out, indent + 2, "deny", d->deny, d->ndeny);
	if (with_private)
		fprintf(out, "%*sprivate: %s\n", indent + 2, "",
		    conf_dest_private_names[d->allow_private != 0]);
}

size_t
conf_dest_load_string(const char *name, const char *text, size_t len, struct conf_dest *out,
    void (*cb)(void *arg, const char *msg), void *arg)
{
	static const struct conf_key k = { "destinations", 0, conf_dest_parse, 0, 0, 0 };

	memset(out, 0, sizeof(*out));
	return conf_block_load(name, text, len, &k, out, cb, arg);
}

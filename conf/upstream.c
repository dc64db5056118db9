/*
 * The "upstreams" section: named groups of servers.  Their names are
 * mapping keys, gathered here into ctx->upstreams so that listeners
 * and routes, parsed later, can be checked against them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/addr.h"
#include "lib/units.h"

#define CONF_SLOW_START_MAX (UINT64_C(3600) * 1000)

static const char *const conf_balance_names[] = {
	[CONF_BALANCE_ROUND_ROBIN] = "round_robin",
	[CONF_BALANCE_LEAST_CONN] = "least_conn",
	[CONF_BALANCE_RANDOM] = "random",
	[CONF_BALANCE_P2C] = "p2c",
	[CONF_BALANCE_LEAST_TIME] = "least_time",
	[CONF_BALANCE_FIRST] = "first",
	[CONF_BALANCE_HASH] = "hash",
};

static const char *const conf_conns_scope_names[] = {
	[CONF_CONNS_NODE] = "node",
	[CONF_CONNS_CLUSTER] = "cluster",
};

/* header and cookie take a name after the colon */
static const char *const conf_hash_key_names[] = {
	[CONF_HASH_CLIENT_IP] = "client_ip",
	[CONF_HASH_URI] = "uri",
	[CONF_HASH_HEADER] = "header",
	[CONF_HASH_COOKIE] = "cookie",
};

static void
conf_upstream_balance_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_balance_names,
	    CT_NELEM(conf_balance_names), &i) == CT_OK)
		u->balance = (enum conf_balance)i;
}

/*
 * client_ip, uri, header:NAME or cookie:NAME.  NAME is a token (field
 * names and cookie names both are); a field name is kept lower-case.
 */
static void
conf_upstream_hash_key_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	static const char *const cands[] = { "client_ip", "uri", "header:", "cookie:" };
	struct conf_upstream *u = obj;
	char q[CONF_QUOTE_LEN];
	struct conf_near near;
	const char *colon, *best;
	size_t i, n;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	colon = strchr(t, ':');
	n = colon != NULL ? (size_t)(colon - t) : strlen(t);
	for (i = 0; i < CT_NELEM(conf_hash_key_names); i++) {
		int named = i == CONF_HASH_HEADER || i == CONF_HASH_COOKIE;

		if (strlen(conf_hash_key_names[i]) != n ||
		    strncmp(t, conf_hash_key_names[i], n) != 0)
			continue;
		if (named != (colon != NULL))
			break;
		if (named && !conf_token_valid(colon + 1, strlen(colon + 1))) {
			conf_error(ctx, v, "invalid name in \"%s\" for \"%s\": %s",
			    conf_quote(t, q, sizeof(q)), k->name, CONF_TOKEN_WHY);
			free(t);
			return;
		}
		u->hash_key = (enum conf_hash_key)i;
		if (named && (u->hash_name = strdup(colon + 1)) == NULL)
			conf_oom(ctx);
		if (i == CONF_HASH_HEADER && u->hash_name != NULL)
			conf_str_lower(u->hash_name);
		free(t);
		return;
	}
	conf_near_init(&near, t);
	for (i = 0; i < CT_NELEM(cands); i++)
		conf_near_try(&near, cands[i]);
	conf_quote(t, q, sizeof(q));
	if ((best = conf_near_best(&near)) != NULL)
		conf_error(ctx, v, "invalid value \"%s\" for \"%s\", expected "
		    "client_ip, uri, header:NAME or cookie:NAME; did you mean "
		    "\"%s\"?", q, k->name, best);
	else
		conf_error(ctx, v, "invalid value \"%s\" for \"%s\", expected "
		    "client_ip, uri, header:NAME or cookie:NAME", q, k->name);
	free(t);
}

/* A duration that may be 0 (off), unlike timeouts. */
static void
conf_upstream_slow_start_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;
	char q[CONF_QUOTE_LEN], hi[32];
	const char *why;
	uint64_t ms;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (units_parse_duration(t, &ms, &why) == CT_ERROR)
		conf_error(ctx, v, "invalid duration \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
	else if (ms > k->max)
		conf_error(ctx, v, "\"%s\" must be at most %s, not \"%s\"", k->name,
		    conf_duration_format(k->max, hi, sizeof(hi)),
		    conf_quote(t, q, sizeof(q)));
	else
		u->slow_start_ms = ms;
	free(t);
}

/* Servers are connected to, so the wildcard makes no sense there. */
static void
conf_server_address_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_server *s = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (addr_parse(t, 0, &s->addr, &why) == CT_ERROR) {
		conf_error(ctx, v, "invalid address \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	s->address = t;
}

static void
conf_max_conns_scope_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_max_conns *mc = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_conns_scope_names,
	    CT_NELEM(conf_conns_scope_names), &i) == CT_OK)
		mc->scope = (enum conf_conns_scope)i;
}

static const struct conf_key conf_max_conns_keys[] = {
	{ "limit",   1, conf_unsigned_parse, offsetof(struct conf_max_conns, limit), 1, CONF_MAX_CONNS_MAX },
	{ "scope",   0, conf_max_conns_scope_parse, 0, 0, 0 },
	{ "reserve", 0, conf_unsigned_parse, offsetof(struct conf_max_conns, reserve), 1, CONF_RESERVE_MAX },
};

CONF_TABLE(conf_max_conns_table, "in max_conns", conf_max_conns_keys);

/*
 * "max_conns: N" caps the server's connections on this node, as
 * nginx's max_conns or HAProxy's maxconn would; the mapping form
 * {limit, scope, reserve} can count them across the cluster instead.
 */
static void
conf_server_max_conns_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	static const struct conf_key limit = { "max_conns", 0, conf_unsigned_parse,
	    offsetof(struct conf_max_conns, limit), 1, CONF_MAX_CONNS_MAX };
	struct conf_server *s = obj;

	if (v->type == NODE_SCALAR)
		conf_unsigned_parse(ctx, &limit, v, &s->max_conns);
	else
		conf_map_parse(ctx, k, v, &conf_max_conns_table, &s->max_conns);
}

static const struct conf_key conf_server_keys[] = {
	{ "address",   1, conf_server_address_parse, 0, 0, 0 },
	{ "weight",    0, conf_unsigned_parse, offsetof(struct conf_server, weight), 1, CONF_WEIGHT_MAX },
	{ "backup",    0, conf_bool_parse, offsetof(struct conf_server, backup), 0, 0 },
	{ "max_conns", 0, conf_server_max_conns_parse, 0, 0, 0 },
};

CONF_TABLE(conf_server_table, "in server", conf_server_keys);

static void
conf_upstream_servers_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems < 1 || v->nitems > CONF_SERVERS_MAX) {
		conf_error(ctx, v, "\"%s\" must have between 1 and %d entries, "
		    "not %zu", k->name, CONF_SERVERS_MAX, v->nitems);
		return;
	}
	if ((u->servers = calloc(v->nitems, sizeof(*u->servers))) == NULL) {
		conf_oom(ctx);
		return;
	}
	u->nservers = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		u->servers[i].weight = 1;
		u->servers[i].max_conns.reserve = 1;
		if (conf_expect(ctx, v->items[i], NODE_MAPPING, k->name, 1) == CT_OK)
			conf_map_walk(ctx, v->items[i], &conf_server_table,
			    &u->servers[i]);
	}
}

static const struct conf_key conf_keepalive_keys[] = {
	{ "max_idle",     0, conf_unsigned_parse, offsetof(struct conf_keepalive, max_idle), 0, CONF_KEEPALIVE_MAX },
	{ "idle_timeout", 0, conf_duration_parse, offsetof(struct conf_keepalive, idle_timeout_ms), 1, CONF_DURATION_MAX },
};

CONF_TABLE(conf_keepalive_table, "in keepalive", conf_keepalive_keys);

void
conf_keepalive_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	conf_map_parse(ctx, k, v, &conf_keepalive_table, (char *)obj + k->off);
}

static const struct conf_key conf_upstream_keys[] = {
	{ "balance",    0, conf_upstream_balance_parse, 0, 0, 0 },
	{ "hash_key",   0, conf_upstream_hash_key_parse, 0, 0, 0 },
	{ "slow_start", 0, conf_upstream_slow_start_parse, 0, 0, CONF_SLOW_START_MAX },
	{ "keepalive",  0, conf_keepalive_parse, offsetof(struct conf_upstream, keepalive), 0, 0 },
	{ "health",     0, conf_health_parse, offsetof(struct conf_upstream, health), 0, 0 },
	{ "tls",        0, conf_tls_upstream_parse, offsetof(struct conf_upstream, tls), 0, 0 },
	{ "via",        0, conf_via_parse, offsetof(struct conf_upstream, via), 0, 0 },
	{ "servers",    1, conf_upstream_servers_parse, 0, 0, 0 },
};

CONF_TABLE(conf_upstream_table, "in upstream", conf_upstream_keys);

static void
conf_upstream_dup(struct conf_ctx *ctx, const struct conf_ref *dup,
    const struct conf_ref *first)
{
	char q[CONF_QUOTE_LEN];

	conf_error(ctx, dup->node, "duplicate upstream \"%s\" (first at line %u, "
	    "column %u)", conf_quote(dup->node->scalar, q, sizeof(q)),
	    first->node->line, first->node->col);
}

/*
 * hash_key only means something to balance hash, and a ring needs at
 * least one primary server (backups alone would never be used first).
 */
static void
conf_upstream_check(struct conf_ctx *ctx, const struct node *v,
    const struct conf_upstream *u)
{
	const struct node *n;
	size_t i;

	if (u->balance != CONF_BALANCE_HASH &&
	    (n = node_map_get(v, "hash_key")) != NULL)
		conf_error(ctx, n, "\"hash_key\" needs \"balance: hash\"");
	for (i = 0; i < u->nservers; i++)
		if (!u->servers[i].backup)
			return;
	if (u->nservers > 0 && (n = node_map_get(v, "servers")) != NULL)
		conf_error(ctx, n, "\"servers\" must have at least one server "
		    "that is not a backup");
}

/* Parses the upstream named by key; the name is kept even if invalid. */
static void
conf_upstream_parse(struct conf_ctx *ctx, const struct node *key,
    const struct node *v, struct conf_upstream *u)
{
	const struct node *tls;
	char q[CONF_QUOTE_LEN];

	u->balance = CONF_BALANCE_ROUND_ROBIN;
	u->keepalive.max_idle = CONF_KEEPALIVE_DEFAULT;
	u->keepalive.idle_timeout_ms = CONF_KEEPALIVE_TIMEOUT_DEFAULT;
	conf_health_init(&u->health);
	if (!conf_name_valid(key->scalar))
		conf_name_error(ctx, key, "upstream", key->scalar);
	if ((u->name = strdup(key->scalar)) == NULL) {
		conf_oom(ctx);
		return;
	}
	if (v->type != NODE_MAPPING) {
		conf_error(ctx, v, "upstream \"%s\" must be a mapping",
		    conf_quote(key->scalar, q, sizeof(q)));
		return;
	}
	conf_map_walk(ctx, v, &conf_upstream_table, u);
	conf_upstream_check(ctx, v, u);
	/* The master's checks connect to the servers themselves: they would judge another path. */
	if (u->via.n > 0 && u->health.type != CONF_CHECK_NONE)
		conf_error(ctx, node_map_key(v, "health"), "active health checks do not go "
		    "through \"via\": an upstream reached through proxies has passive health "
		    "only");
	if (u->tls != NULL && (tls = node_map_get(v, "tls"))->type == NODE_MAPPING) {
		conf_tls_upstream_build(ctx, u->tls, tls);
		/* A check has no request, so no Host: it would verify the address and fail. */
		if (u->tls->verify && u->tls->name_host && u->health.type == CONF_CHECK_HTTP)
			conf_error(ctx, node_map_get(tls, "name"), "http health checks cannot "
			    "verify the name \"$host\": give \"tls\" a fixed \"name\" or a "
			    "tcp check");
	}
}

/*
 * The upstreams mapping: name -> upstream.  Names are mapping keys, so
 * their duplicates are caught here rather than by a key table, and the
 * sorted names stay in ctx for resolving listeners' references.
 */
static void
conf_upstreams_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	const struct node *key;
	size_t i, n;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR ||
	    (n = v->npairs) == 0)
		return;
	conf->upstreams = calloc(n, sizeof(*conf->upstreams));
	ctx->upstreams = calloc(n, sizeof(*ctx->upstreams));
	if (conf->upstreams == NULL || ctx->upstreams == NULL) {
		conf_oom(ctx);
		return;
	}
	conf->nupstreams = ctx->nupstreams = n;
	for (i = 0; i < n; i++) {
		key = v->pairs[i].key;
		ctx->upstreams[i].key = key->scalar;
		ctx->upstreams[i].keylen = key->len;
		ctx->upstreams[i].idx = i;
		ctx->upstreams[i].node = key;
		conf_upstream_parse(ctx, key, v->pairs[i].value,
		    &conf->upstreams[i]);
	}
	conf_refs_dedup(ctx, ctx->upstreams, n, conf_upstream_dup);
}

/* Resolves upstream name to an index in *idx, or reports it at v. */
void
conf_upstream_resolve(struct conf_ctx *ctx, const char *name, size_t *idx,
    const struct node *v)
{
	const struct conf_ref *r;
	char q[CONF_QUOTE_LEN];
	struct conf_near near;
	const char *best;
	size_t i;

	if ((r = conf_refs_find(ctx->upstreams, ctx->nupstreams, name)) != NULL) {
		*idx = r->idx;
		return;
	}
	conf_near_init(&near, name);
	for (i = 0; i < ctx->nupstreams; i++)
		conf_near_try(&near, ctx->upstreams[i].node->scalar);
	conf_quote(name, q, sizeof(q));
	if ((best = conf_near_best(&near)) != NULL)
		conf_error(ctx, v, "upstream \"%s\" is not defined, did you mean "
		    "\"%s\"?", q, best);
	else
		conf_error(ctx, v, "upstream \"%s\" is not defined", q);
}

static void
conf_upstream_section_free(struct conf *conf)
{
	struct conf_upstream *u;
	size_t i, j;

	for (i = 0; i < conf->nupstreams; i++) {
		u = &conf->upstreams[i];
		for (j = 0; j < u->nservers; j++)
			free(u->servers[j].address);
		free(u->servers);
		free(u->name);
		free(u->hash_name);
		conf_health_free(&u->health);
		conf_tls_upstream_free(u->tls);
		conf_via_free(&u->via);
	}
	free(conf->upstreams);
}

static void
conf_hash_key_dump(const struct conf_upstream *u, FILE *out)
{
	fprintf(out, "    hash_key: %s%s%s\n", conf_hash_key_name(u->hash_key),
	    u->hash_name != NULL ? ":" : "",
	    u->hash_name != NULL ? u->hash_name : "");
}

static void
conf_max_conns_dump(const struct conf_max_conns *mc, FILE *out)
{
	if (mc->limit == 0)
		return;
	fprintf(out, "        max_conns: {limit: %u, scope: %s, reserve: %u}\n",
	    mc->limit, conf_conns_scope_name(mc->scope), mc->reserve);
}

static void
conf_upstream_section_dump(const struct conf *conf, FILE *out)
{
	const struct conf_upstream *u;
	size_t i, j;
	char d[32];

	if (conf->nupstreams == 0) {
		fputs("upstreams: {}\n", out);
		return;
	}
	fputs("upstreams:\n", out);
	for (i = 0; i < conf->nupstreams; i++) {
		u = &conf->upstreams[i];
		fputs("  ", out);
		conf_dump_str(out, u->name, 0);
		fprintf(out, ":\n    balance: %s\n", conf_balance_name(u->balance));
		if (u->balance == CONF_BALANCE_HASH)
			conf_hash_key_dump(u, out);
		fprintf(out, "    slow_start: %s\n",
		    conf_duration_format(u->slow_start_ms, d, sizeof(d)));
		fprintf(out, "    keepalive:\n      max_idle: %u\n"
		    "      idle_timeout: %s\n", u->keepalive.max_idle,
		    conf_duration_format(u->keepalive.idle_timeout_ms, d, sizeof(d)));
		conf_health_dump(&u->health, out);
		conf_tls_upstream_dump(u->tls, out);
		conf_via_dump(&u->via, out, 4);
		fputs("    servers:\n", out);
		for (j = 0; j < u->nservers; j++) {
			fputs("      - ", out);
			conf_dump_kv(out, 0, "address", u->servers[j].address);
			fprintf(out, "        weight: %u\n        backup: %s\n",
			    u->servers[j].weight, conf_bool_name(u->servers[j].backup));
			conf_max_conns_dump(&u->servers[j].max_conns, out);
		}
	}
}

/*
 * A cap counted across the cluster is counted in Redis: it needs the
 * redis section, which is parsed after the upstreams.
 */
static void
conf_upstream_section_check(struct conf_ctx *ctx, const struct node *root)
{
	const struct node *ups, *servers, *n;
	const struct conf *conf = ctx->conf;
	size_t i, j;

	if (conf->redis.enabled || (ups = node_map_get(root, "upstreams")) == NULL)
		return;
	for (i = 0; i < conf->nupstreams; i++) {
		if (conf->upstreams[i].name == NULL ||
		    (servers = node_map_get(node_map_get(ups, conf->upstreams[i].name),
		    "servers")) == NULL || servers->type != NODE_SEQUENCE)
			continue;
		for (j = 0; j < conf->upstreams[i].nservers && j < servers->nitems; j++) {
			if (conf->upstreams[i].servers[j].max_conns.scope != CONF_CONNS_CLUSTER)
				continue;
			n = node_map_get(node_map_get(servers->items[j], "max_conns"), "scope");
			conf_error(ctx, n != NULL ? n : servers->items[j], "\"scope: cluster\" "
			    "in \"max_conns\" needs a \"redis\" section to count in");
		}
	}
}

static const struct conf_key conf_upstream_section_keys[] = {
	{ "upstreams", 0, conf_upstreams_parse, 0, 0, 0 },
};

const struct conf_section conf_upstream_section = {
	conf_upstream_section_keys, CT_NELEM(conf_upstream_section_keys),
	NULL, conf_upstream_section_check, conf_upstream_section_free,
	conf_upstream_section_dump,
};

const char *
conf_balance_name(enum conf_balance b)
{
	return conf_enum_name(conf_balance_names, CT_NELEM(conf_balance_names),
	    (size_t)b);
}

const char *
conf_hash_key_name(enum conf_hash_key k)
{
	return conf_enum_name(conf_hash_key_names, CT_NELEM(conf_hash_key_names),
	    (size_t)k);
}

const char *
conf_conns_scope_name(enum conf_conns_scope sc)
{
	return conf_enum_name(conf_conns_scope_names, CT_NELEM(conf_conns_scope_names),
	    (size_t)sc);
}

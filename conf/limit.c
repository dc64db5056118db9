/*
 * The "limits" section (conf/limit.h), and the "limits" key of
 * listeners and routes that names them.  The names are resolved in the
 * second pass, once every limit is known, where a listener is also
 * refused a limit whose key needs a request.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

#define CONF_LIMIT_ZONE_MIN      (UINT64_C(64) << 10)
#define CONF_LIMIT_ZONE_MAX      (UINT64_C(1) << 30)
#define CONF_LIMIT_ZONE_DEFAULT  (UINT64_C(1) << 20)
#define CONF_LIMIT_LOG_DEFAULT   (UINT64_C(10) * 1000)
#define CONF_LIMIT_BODY_DEFAULT  "429 Too Many Requests\n"

static const char *const conf_limit_part_names[] = {
	[CONF_LIMIT_CLIENT_IP] = "client_ip",
	[CONF_LIMIT_CLIENT_NET] = "client_net",
	[CONF_LIMIT_LISTENER] = "listener",
	[CONF_LIMIT_ROUTE] = "route",
	[CONF_LIMIT_SERVER_NAME] = "server_name",
	[CONF_LIMIT_HEADER] = "header",
	[CONF_LIMIT_COOKIE] = "cookie",
};

static const char *const conf_limit_mode_names[] = {
	[CONF_LIMIT_REJECT] = "reject",
	[CONF_LIMIT_DELAY] = "delay",
};

static const char *const conf_limit_scope_names[] = {
	[CONF_LIMIT_LOCAL] = "local",
	[CONF_LIMIT_CLUSTER] = "cluster",
};

/* A bandwidth limit's "direction", as the CONF_BW_BIT()s it meters. */
static const char *const conf_limit_direction_names[] = { "both", "upload", "download" };
static const unsigned conf_limit_direction_bits[] = {
	CONF_BW_BIT(CONF_BW_UP) | CONF_BW_BIT(CONF_BW_DOWN),
	CONF_BW_BIT(CONF_BW_UP),
	CONF_BW_BIT(CONF_BW_DOWN),
};

/* Where a limit is applied, for the checks of what it may be. */
enum conf_limit_use {
	CONF_LIMIT_USE_LISTENER,     /* a listener's "limits": its new connections */
	CONF_LIMIT_USE_ROUTE,        /* a route's "limits": its requests */
	CONF_LIMIT_USE_BANDWIDTH     /* a listener's "bandwidth.limits": its bytes */
};

/* One part of a key: a kind, or "header:NAME" / "cookie:NAME". */
static void
conf_limit_part_parse(struct conf_ctx *ctx, const struct node *v, struct conf_limit *l)
{
	struct conf_limit_part *p = &l->parts[l->nparts];
	char q[CONF_QUOTE_LEN], *t, *colon;
	size_t i;

	if (conf_expect(ctx, v, NODE_SCALAR, "key", 1) == CT_ERROR ||
	    (t = conf_env_expand(ctx, v)) == NULL)
		return;
	if ((colon = strchr(t, ':')) != NULL)
		*colon++ = '\0';
	for (i = 0; i < CT_NELEM(conf_limit_part_names); i++)
		if (strcmp(t, conf_limit_part_names[i]) == 0)
			break;
	if (i == CT_NELEM(conf_limit_part_names) ||
	    ((i == CONF_LIMIT_HEADER || i == CONF_LIMIT_COOKIE) != (colon != NULL))) {
		conf_error(ctx, v, "invalid key part \"%s\": use client_ip, client_net, listener, "
		    "route, server_name, header:NAME or cookie:NAME", conf_quote(
		    v->scalar, q, sizeof(q)));
		free(t);
		return;
	}
	if (colon != NULL && (p->name = conf_part_name_dup(ctx, v, colon,
	    i == CONF_LIMIT_HEADER, "key part")) == NULL) {
		free(t);
		return;
	}
	p->kind = (enum conf_limit_part_kind)i;
	l->http_only |= p->kind >= CONF_LIMIT_ROUTE;
	l->nparts++;
	free(t);
}

static void
conf_limit_key_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_limit *l = obj;
	size_t i;

	if (v->type == NODE_SCALAR) {
		conf_limit_part_parse(ctx, v, l);
		return;
	}
	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0 || v->nitems > CONF_LIMIT_PARTS_MAX) {
		conf_error(ctx, v, "\"%s\" must have 1 to %d parts", k->name, CONF_LIMIT_PARTS_MAX);
		return;
	}
	for (i = 0; i < v->nitems; i++)
		conf_limit_part_parse(ctx, v->items[i], l);
}

/* "100/s", "6000/m", "10/h": a count per second, minute or hour. */
static void
conf_limit_rate_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_limit *l = obj;
	char q[CONF_QUOTE_LEN], *t, *slash;
	uint64_t n = 0, ms = 0;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if ((slash = strchr(t, '/')) != NULL) {
		*slash++ = '\0';
		ms = strcmp(slash, "s") == 0 ? 1000 : strcmp(slash, "m") == 0 ? 60000 :
		    strcmp(slash, "h") == 0 ? 3600000 : 0;
	}
	if (slash == NULL || ms == 0 || units_parse_uint(t, 1, 1000000000, &n, NULL) != CT_OK) {
		if (slash != NULL)
			slash[-1] = '/';
		conf_error(ctx, v, "invalid rate \"%s\" for \"%s\": use COUNT/s, COUNT/m or "
		    "COUNT/h, COUNT from 1 to 1000000000", conf_quote(t, q, sizeof(q)), k->name);
		free(t);
		return;
	}
	l->rate_count = n;
	l->rate_ms = ms;
	l->period_ns = ms * 1000000 / n;
	if (l->period_ns == 0)
		l->period_ns = 1;
	free(t);
}

static void
conf_limit_mode_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_limit *l = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_limit_mode_names, CT_NELEM(conf_limit_mode_names),
	    &i) == CT_OK)
		l->mode = (enum conf_limit_mode)i;
}

static void
conf_limit_scope_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_limit *l = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_limit_scope_names, CT_NELEM(conf_limit_scope_names),
	    &i) == CT_OK)
		l->scope = (enum conf_limit_scope)i;
}

static void
conf_limit_direction_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_limit *l = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_limit_direction_names,
	    CT_NELEM(conf_limit_direction_names), &i) == CT_OK)
		l->directions = conf_limit_direction_bits[i];
}

static const struct conf_key conf_limit_keys[] = {
	{ "key",          0, conf_limit_key_parse, 0, 0, 0 },
	{ "rate",         0, conf_limit_rate_parse, 0, 0, 0 },
	{ "burst",        0, conf_unsigned_parse, offsetof(struct conf_limit, burst), 0, 1000000 },
	{ "mode",         0, conf_limit_mode_parse, 0, 0, 0 },
	{ "scope",        0, conf_limit_scope_parse, 0, 0, 0 },
	{ "conns",        0, conf_unsigned_parse, offsetof(struct conf_limit, conns), 1, 1000000 },
	{ "zone",         0, conf_size_parse, offsetof(struct conf_limit, zone), CONF_LIMIT_ZONE_MIN, CONF_LIMIT_ZONE_MAX },
	{ "status",       0, conf_unsigned_parse, offsetof(struct conf_limit, status), 400, 599 },
	{ "body",         0, conf_string_parse, offsetof(struct conf_limit, body), 0, 0 },
	{ "log_interval", 0, conf_duration_parse, offsetof(struct conf_limit, log_interval_ms), 1, CONF_DURATION_MAX },
	{ "bytes",        0, conf_bandwidth_rate_parse, offsetof(struct conf_limit, bytes), CONF_BW_RATE_MIN, CONF_BW_RATE_MAX },
	{ "burst_bytes",  0, conf_size_parse, offsetof(struct conf_limit, burst_bytes), 1, UINT64_C(1) << 30 },
	{ "direction",    0, conf_limit_direction_parse, 0, 0, 0 },
};

CONF_TABLE(conf_limit_table, "in limit", conf_limit_keys);

/*
 * A bandwidth limit counts bytes, not requests nor connections: the keys
 * of those do not go with "bytes", and its own keys need it.
 */
static void
conf_limit_bytes_check(struct conf_ctx *ctx, const struct node *map, struct conf_limit *l)
{
	static const char *const events[] = { "rate", "burst", "mode", "conns", "status", "body" };
	static const char *const own[] = { "burst_bytes", "direction" };
	const struct node *n;
	size_t i;

	if (l->bytes == 0) {
		for (i = 0; i < CT_NELEM(own); i++)
			if ((n = node_map_key(map, own[i])) != NULL)
				conf_error(ctx, n, "\"%s\" goes with \"bytes\"", own[i]);
		return;
	}
	for (i = 0; i < CT_NELEM(events); i++)
		if ((n = node_map_key(map, events[i])) != NULL)
			conf_error(ctx, n, "\"%s\" does not go with \"bytes\": a limit counts "
			    "requests and connections, or bytes", events[i]);
	if (l->burst_bytes == 0)
		l->burst_bytes = conf_bandwidth_burst(l->bytes);
	if (l->directions == 0)
		l->directions = conf_limit_direction_bits[0];
}

/*
 * A limit of scope cluster shares a rate through Redis: connections
 * held and bytes are counted on each node, not settled between them.
 */
static void
conf_limit_scope_check(struct conf_ctx *ctx, const struct node *map, const struct conf_limit *l)
{
	const struct node *n = node_map_key(map, "scope");

	if (l->scope != CONF_LIMIT_CLUSTER)
		return;
	if (l->rate_ms == 0)
		conf_error(ctx, n, "\"scope: cluster\" needs a \"rate\": what the nodes share");
	if (l->conns != 0 || l->bytes != 0)
		conf_error(ctx, n, "\"scope: cluster\" shares a rate only: \"%s\" is counted on "
		    "each node; put it in a limit of its own", l->conns != 0 ? "conns" : "bytes");
}

static void
conf_limits_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf *conf = obj;
	struct conf_limit *l;
	size_t i;

	if ((conf->limits = conf_names_alloc(ctx, k, v, CONF_LIMITS_MAX, sizeof(*conf->limits),
	    "limit")) == NULL)
		return;
	conf->nlimits = v->npairs;
	for (i = 0; i < v->npairs; i++) {
		const struct node *key = v->pairs[i].key, *map = v->pairs[i].value;

		l = &conf->limits[i];
		l->zone = CONF_LIMIT_ZONE_DEFAULT;
		l->status = 429;
		l->log_interval_ms = CONF_LIMIT_LOG_DEFAULT;
		if (conf_names_entry(ctx, key, map, "limit", &l->name) == CT_ERROR)
			continue;
		conf_map_walk(ctx, map, &conf_limit_table, l);
		if (l->nparts == 0 && node_map_key(map, "key") == NULL)
			l->parts[l->nparts++].kind = CONF_LIMIT_CLIENT_IP;
		conf_limit_bytes_check(ctx, map, l);
		conf_limit_scope_check(ctx, map, l);
		if (l->rate_ms == 0 && l->conns == 0 && l->bytes == 0)
			conf_error(ctx, map, "limit \"%s\" needs \"rate\", \"conns\" or both, "
			    "or \"bytes\"", l->name);
		if (l->rate_ms == 0 && node_map_key(map, "burst") != NULL)
			conf_error(ctx, node_map_key(map, "burst"), "\"burst\" goes with \"rate\"");
		if (l->mode == CONF_LIMIT_DELAY && l->burst == 0)
			conf_error(ctx, node_map_key(map, "mode"), "\"mode: delay\" needs a \"burst\": "
			    "the requests that may wait their turn");
		if (l->body == NULL && (l->body = strdup(CONF_LIMIT_BODY_DEFAULT)) == NULL)
			conf_oom(ctx);
	}
}

/* ------------------------------------------------------------ references */

static const char *
conf_limit_name_check(char *s)
{
	return conf_name_valid(s) ? NULL : "use letters, digits, '-', '_' and '.'";
}

void
conf_limit_refs_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_limit_refs *r = (struct conf_limit_refs *)((char *)obj + k->off);

	conf_words_parse(ctx, k, v, 1, CONF_LIMIT_APPLY_MAX, "limit name",
	    conf_limit_name_check, &r->names, &r->n);
}

/*
 * Can limit l be applied where use says?  A listener's limits see no
 * request, a route's count requests, and bandwidth takes only limits of
 * bytes, keyed by what a connection has.
 */
static void
conf_limit_use_check(struct conf_ctx *ctx, const struct node *item, const struct conf_limit *l,
    enum conf_limit_use use)
{
	if (use == CONF_LIMIT_USE_BANDWIDTH && l->bytes == 0)
		conf_error(ctx, item, "limit \"%s\" has no \"bytes\": bandwidth takes only "
		    "bandwidth limits", l->name);
	else if (use != CONF_LIMIT_USE_BANDWIDTH && l->bytes != 0)
		conf_error(ctx, item, "limit \"%s\" is a bandwidth limit (\"bytes\"): apply it "
		    "under the listener's \"bandwidth: {limits: [...]}\"", l->name);
	else if (use != CONF_LIMIT_USE_ROUTE && l->http_only)
		conf_error(ctx, item, "limit \"%s\" has a key part that needs a request "
		    "(route, server_name, header, cookie): %s", l->name,
		    use == CONF_LIMIT_USE_LISTENER ? "apply it to routes" :
		    "a connection's bandwidth is keyed by client_ip, client_net or listener");
	else if (use == CONF_LIMIT_USE_ROUTE && l->rate_ms == 0)
		conf_error(ctx, item, "limit \"%s\" caps connections: apply it to listeners",
		    l->name);
}

/* Names to indexes, each checked for its use. */
static void
conf_limit_refs_resolve(struct conf_ctx *ctx, struct conf_limit_refs *r, const struct node *v,
    enum conf_limit_use use)
{
	struct conf *conf = ctx->conf;
	char q[CONF_QUOTE_LEN];
	size_t i, j;

	for (i = 0; i < r->n; i++) {
		const struct node *item = v != NULL && v->type == NODE_SEQUENCE && i < v->nitems ?
		    v->items[i] : v;

		if (r->names[i] == NULL)
			continue;
		for (j = 0; j < conf->nlimits; j++)
			if (conf->limits[j].name != NULL && strcmp(conf->limits[j].name, r->names[i]) == 0)
				break;
		if (j == conf->nlimits) {
			conf_error(ctx, item, "limit \"%s\" is not defined",
			    conf_quote(r->names[i], q, sizeof(q)));
			continue;
		}
		conf_limit_use_check(ctx, item, &conf->limits[j], use);
		r->idx[i] = j;
	}
}

/* A cluster's limits are settled through its Redis: without one there is no cluster. */
static void
conf_limit_cluster_check(struct conf_ctx *ctx, const struct node *root)
{
	const struct node *limits = node_map_get(root, "limits");
	struct conf *conf = ctx->conf;
	size_t i;

	if (conf->redis.enabled || limits == NULL || limits->type != NODE_MAPPING ||
	    limits->npairs != conf->nlimits)
		return;
	for (i = 0; i < conf->nlimits; i++)
		if (conf->limits[i].scope == CONF_LIMIT_CLUSTER)
			conf_error(ctx, node_map_key(limits->pairs[i].value, "scope"),
			    "limit \"%s\" has \"scope: cluster\" but there is no \"redis\" "
			    "section: the nodes of a cluster share its rate through Redis",
			    conf->limits[i].name);
}

static void
conf_limit_section_check(struct conf_ctx *ctx, const struct node *root)
{
	const struct node *listeners = node_map_get(root, "listeners"), *item, *routes;
	struct conf *conf = ctx->conf;
	size_t i, j;

	conf_limit_cluster_check(ctx, root);

	if (listeners == NULL || listeners->type != NODE_SEQUENCE ||
	    listeners->nitems != conf->nlisteners)
		return;
	for (i = 0; i < conf->nlisteners; i++) {
		struct conf_listener *l = &conf->listeners[i];

		item = listeners->items[i];
		conf_limit_refs_resolve(ctx, &l->limits, node_map_get(item, "limits"),
		    CONF_LIMIT_USE_LISTENER);
		conf_limit_refs_resolve(ctx, &l->bandwidth.limits,
		    node_map_get(node_map_get(item, "bandwidth"), "limits"), CONF_LIMIT_USE_BANDWIDTH);
		routes = node_map_get(item, "routes");
		if (routes == NULL || routes->type != NODE_SEQUENCE || routes->nitems != l->nroutes)
			continue;
		for (j = 0; j < l->nroutes; j++)
			conf_limit_refs_resolve(ctx, &l->routes[j].limits,
			    node_map_get(routes->items[j], "limits"), CONF_LIMIT_USE_ROUTE);
	}
}

void
conf_limit_refs_free(struct conf_limit_refs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->names);
}

void
conf_limit_refs_dump(const struct conf_limit_refs *r, FILE *out, int indent)
{
	if (r->n > 0)
		conf_dump_strs(out, indent, "limits", r->names, r->n);
}

static void
conf_limit_section_free(struct conf *conf)
{
	size_t i, j;

	for (i = 0; i < conf->nlimits; i++) {
		for (j = 0; j < conf->limits[i].nparts; j++)
			free(conf->limits[i].parts[j].name);
		free(conf->limits[i].name);
		free(conf->limits[i].body);
	}
	free(conf->limits);
}

static void
conf_limit_bytes_dump(const struct conf_limit *l, FILE *out)
{
	char b[32];
	size_t i;

	if (l->bytes == 0)
		return;
	fprintf(out, "    bytes: %s/s\n", conf_size_format(l->bytes, b, sizeof(b)));
	fprintf(out, "    burst_bytes: %s\n", conf_size_format(l->burst_bytes, b, sizeof(b)));
	for (i = 0; i < CT_NELEM(conf_limit_direction_bits); i++)
		if (conf_limit_direction_bits[i] == l->directions)
			fprintf(out, "    direction: %s\n", conf_limit_direction_names[i]);
}

static void
conf_limit_section_dump(const struct conf *conf, FILE *out)
{
	char b[32];
	size_t i, j;

	if (conf->nlimits == 0)
		return;
	fputs("limits:\n", out);
	for (i = 0; i < conf->nlimits; i++) {
		const struct conf_limit *l = &conf->limits[i];

		fprintf(out, "  %s:\n    key: [", l->name);
		for (j = 0; j < l->nparts; j++)
			fprintf(out, "%s%s%s%s", j > 0 ? ", " : "",
			    conf_limit_part_names[l->parts[j].kind], l->parts[j].name != NULL ? ":" : "",
			    l->parts[j].name != NULL ? l->parts[j].name : "");
		fputs("]\n", out);
		if (l->rate_ms != 0) {
			fprintf(out, "    rate: %" PRIu64 "/%s\n    burst: %u\n    mode: %s\n",
			    l->rate_count, l->rate_ms == 1000 ? "s" : l->rate_ms == 60000 ? "m" : "h",
			    l->burst, conf_limit_mode_names[l->mode]);
			if (l->scope != CONF_LIMIT_LOCAL)
				fprintf(out, "    scope: %s\n", conf_limit_scope_names[l->scope]);
		}
		if (l->conns != 0)
			fprintf(out, "    conns: %u\n", l->conns);
		conf_limit_bytes_dump(l, out);
		fprintf(out, "    zone: %s\n", conf_size_format(l->zone, b, sizeof(b)));
		if (l->bytes == 0) {
			fprintf(out, "    status: %u\n", l->status);
			conf_dump_kv(out, 4, "body", l->body);
		}
		fprintf(out, "    log_interval: %s\n",
		    conf_duration_format(l->log_interval_ms, b, sizeof(b)));
	}
}

static const struct conf_key conf_limit_section_keys[] = {
	{ "limits", 0, conf_limits_parse, 0, 0, 0 },
};

const struct conf_section conf_limit_section = {
	conf_limit_section_keys, CT_NELEM(conf_limit_section_keys),
	NULL, conf_limit_section_check, conf_limit_section_free, conf_limit_section_dump,
};

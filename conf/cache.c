/*
 * The "caches" section, zones of the shared segment by name, and a
 * route's "cache" block that stores its responses in one of them
 * (conf/cache.h says what each key means).
 *
 * A zone is memory set apart in the segment for as long as cuttle runs,
 * so the zones together must leave room in shm_size for cuttle's own
 * tables; that, and the zone each route names, are checked in the
 * second pass, once every section has been read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

#define CONF_CACHE_SIZE_MAX    (UINT64_C(64) << 30)
#define CONF_CACHE_OBJECT_MIN  (UINT64_C(1) << 10)
/* What shm_size keeps for the other tables (backends, connections, stats, limits ...). */
#define CONF_CACHE_TABLES      (UINT64_C(16) << 20)
#define CONF_CACHE_TTL_MAX     (UINT64_C(3650) * 86400 * 1000)
#define CONF_CACHE_LOCK_MIN    10
#define CONF_CACHE_LOCK_MAX    (UINT64_C(60) * 1000)

static const char *const conf_cache_part_names[] = {
	[CONF_CACHE_HEADER] = "header",
	[CONF_CACHE_COOKIE] = "cookie",
};

/* ------------------------------------------------------------ parts */

/* Item i of list v (key k): "header:NAME" or "cookie:NAME" into parts[i]. */
static void
conf_cache_part_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    size_t i, struct conf_cache_part *parts)
{
	const struct node *item = v->items[i];
	char q[CONF_QUOTE_LEN], where[32];
	struct conf_cache_part *p = &parts[i];
	char *t, *colon;
	size_t j;

	if (conf_expect(ctx, item, NODE_SCALAR, k->name, 1) == CT_ERROR ||
	    (t = conf_env_expand(ctx, item)) == NULL)
		return;
	if ((colon = strchr(t, ':')) != NULL)
		*colon++ = '\0';
	for (j = 0; j < CT_NELEM(conf_cache_part_names); j++)
		if (strcmp(t, conf_cache_part_names[j]) == 0)
			break;
	if (colon == NULL || j == CT_NELEM(conf_cache_part_names)) {
		conf_error(ctx, item, "invalid part \"%s\" in \"%s\": use header:NAME or "
		    "cookie:NAME", conf_quote(item->scalar, q, sizeof(q)), k->name);
		free(t);
		return;
	}
	snprintf(where, sizeof(where), "\"%s\"", k->name);
	p->kind = (enum conf_cache_part_kind)j;
	p->name = conf_part_name_dup(ctx, item, colon, p->kind == CONF_CACHE_HEADER, where);
	free(t);
	for (j = 0; j < i && p->name != NULL; j++)
		if (parts[j].name != NULL && parts[j].kind == p->kind &&
		    strcmp(parts[j].name, p->name) == 0) {
			conf_error(ctx, item, "duplicate part \"%s:%s\" in \"%s\" (first at line "
			    "%u, column %u)", conf_cache_part_names[p->kind], conf_quote(p->name,
			    q, sizeof(q)), k->name, v->items[j]->line, v->items[j]->col);
			break;
		}
}

/* A list of parts into *out, one an item, count in *n. */
static void
conf_cache_parts_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    struct conf_cache_part **out, size_t *n)
{
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR ||
	    conf_count_check(ctx, k, v, v->nitems, 0, CONF_CACHE_PARTS_MAX) == CT_ERROR ||
	    v->nitems == 0)
		return;
	if ((*out = calloc(v->nitems, sizeof(**out))) == NULL) {
		conf_oom(ctx);
		return;
	}
	*n = v->nitems;
	for (i = 0; i < v->nitems; i++)
		conf_cache_part_parse(ctx, k, v, i, *out);
}

static void
conf_cache_parts_free(struct conf_cache_part *parts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(parts[i].name);
	free(parts);
}

/*
 * "key: [...]" at indent.  Names are tokens: no quote, backslash or
 * space to escape, only "$", which the loader would expand.
 */
static void
conf_cache_parts_dump(FILE *out, int indent, const char *key,
    const struct conf_cache_part *parts, size_t n)
{
	const char *s;
	size_t i;

	fprintf(out, "%*s%s: [", indent, "", key);
	for (i = 0; i < n; i++) {
		fprintf(out, "%s\"%s:", i > 0 ? ", " : "", conf_cache_part_names[parts[i].kind]);
		for (s = parts[i].name; *s != '\0'; s++) {
			if (*s == '$')
				putc('$', out);
			putc(*s, out);
		}
		putc('"', out);
	}
	fputs("]\n", out);
}

/* ------------------------------------------------------------ zones */

static void
conf_cache_key_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_cache *c = obj;

	conf_cache_parts_parse(ctx, k, v, &c->key, &c->nkey);
}

static const struct conf_key conf_cache_keys[] = {
	{ "size",       0, conf_size_parse, offsetof(struct conf_cache, size), CONF_CACHE_SIZE_MIN, CONF_CACHE_SIZE_MAX },
	{ "max_object", 0, conf_size_parse, offsetof(struct conf_cache, max_object), CONF_CACHE_OBJECT_MIN, CONF_CACHE_SIZE_MAX / 4 },
	{ "key",        0, conf_cache_key_parse, 0, 0, 0 },
};

CONF_TABLE(conf_cache_table, "in cache zone", conf_cache_keys);

/*
 * The zone named by key.  One object may take at most a quarter of its
 * zone, or storing it would evict most of the others: a max_object
 * written larger is an error, the default is lowered to fit.  Left at
 * 0 by a walk that failed on them, size and max_object are not checked
 * against each other.
 */
static void
conf_cache_zone_parse(struct conf_ctx *ctx, const struct node *key, const struct node *map,
    struct conf_cache *c)
{
	const struct node *max = node_map_key(map, "max_object");
	char a[32], b[32];

	if (conf_names_entry(ctx, key, map, "cache zone", &c->name) == CT_ERROR)
		return;
	conf_map_walk(ctx, map, &conf_cache_table, c);
	if (c->size == 0 && node_map_key(map, "size") == NULL)
		c->size = CONF_CACHE_SIZE_DEFAULT;
	if (c->max_object == 0 && max == NULL)
		c->max_object = CT_MIN(CONF_CACHE_OBJECT_DEFAULT, c->size / 4);
	if (c->size != 0 && c->max_object > c->size / 4)
		conf_error(ctx, max, "\"max_object\" must be at most a quarter of \"size\" (%s), "
		    "not %s: one object may not take more than a quarter of its zone",
		    conf_size_format(c->size / 4, a, sizeof(a)),
		    conf_size_format(c->max_object, b, sizeof(b)));
}

static void
conf_caches_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf *conf = obj;
	size_t i;

	if ((conf->caches = conf_names_alloc(ctx, k, v, CONF_CACHES_MAX, sizeof(*conf->caches),
	    "cache zone")) == NULL)
		return;
	conf->ncaches = v->npairs;
	for (i = 0; i < v->npairs; i++)
		conf_cache_zone_parse(ctx, v->pairs[i].key, v->pairs[i].value, &conf->caches[i]);
}

/* ------------------------------------------------------ route's block */

/* A status, 100 to 599, or "any" (0), as the key of "valid"; CT_ERROR once reported. */
static int
conf_cache_status_parse(struct conf_ctx *ctx, const struct node *key, unsigned *status)
{
	char q[CONF_QUOTE_LEN];
	uint64_t n;

	if (strcmp(key->scalar, "any") == 0) {
		*status = 0;
		return CT_OK;
	}
	if (units_parse_uint(key->scalar, 100, 599, &n, NULL) == CT_OK) {
		*status = (unsigned)n;
		return CT_OK;
	}
	conf_error(ctx, key, "invalid status \"%s\" in \"valid\": use 100 to 599 or \"any\"",
	    conf_quote(key->scalar, q, sizeof(q)));
	return CT_ERROR;
}

/*
 * STATUS -> lifetime, in file order, where the first that matches
 * counts: a status written twice, or after "any", would never be used.
 */
static void
conf_route_cache_valid_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route_cache *rc = obj;
	size_t at[CONF_CACHE_VALID_MAX];    /* the pair of each entry, for messages */
	const struct node *key;
	size_t i, j;
	unsigned s;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR ||
	    conf_count_check(ctx, k, v, v->npairs, 0, CONF_CACHE_VALID_MAX) == CT_ERROR ||
	    v->npairs == 0)
		return;
	if ((rc->valid = calloc(v->npairs, sizeof(*rc->valid))) == NULL) {
		conf_oom(ctx);
		return;
	}
	for (i = 0; i < v->npairs; i++) {
		key = v->pairs[i].key;
		if (conf_cache_status_parse(ctx, key, &s) == CT_ERROR)
			continue;
		for (j = 0; j < rc->nvalid; j++)
			if (rc->valid[j].status == s || rc->valid[j].status == 0)
				break;
		if (j < rc->nvalid && rc->valid[j].status == s)
			conf_error(ctx, key, "duplicate status %s in \"%s\" (first at line %u, "
			    "column %u)", key->scalar, k->name, v->pairs[at[j]].key->line,
			    v->pairs[at[j]].key->col);
		else if (j < rc->nvalid)
			conf_error(ctx, key, "status %s after \"any\" in \"%s\" would never be "
			    "used: \"any\" matches every status, so it goes last", key->scalar,
			    k->name);
		else if (conf_lifetime_parse(ctx, key->scalar, v->pairs[i].value, "not stored",
		    CONF_CACHE_TTL_MAX, &rc->valid[rc->nvalid].ms) == CT_OK) {
			at[rc->nvalid] = i;
			rc->valid[rc->nvalid++].status = s;
		}
	}
}

static void
conf_route_cache_bypass_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route_cache *rc = obj;

	conf_cache_parts_parse(ctx, k, v, &rc->bypass, &rc->nbypass);
}

static void
conf_route_cache_no_store_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route_cache *rc = obj;

	conf_cache_parts_parse(ctx, k, v, &rc->no_store, &rc->nno_store);
}

/*
 * "methods": the requests the cache answers.  GET is the one stored;
 * HEAD is answered from a stored GET, so it cannot go without GET, and
 * another method's response is never reused (RFC 9111 2, 4).
 */
static void
conf_route_cache_methods_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route_cache *rc = obj;
	char q[CONF_QUOTE_LEN];
	unsigned bit;
	size_t i;
	int bad = 0;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	rc->methods = 0;
	for (i = 0; i < v->nitems; i++) {
		if (conf_expect(ctx, v->items[i], NODE_SCALAR, k->name, 1) == CT_ERROR ||
		    (t = conf_env_expand(ctx, v->items[i])) == NULL) {
			bad = 1;
			continue;
		}
		bit = strcmp(t, "GET") == 0 ? CONF_CACHE_GET : strcmp(t, "HEAD") == 0 ?
		    CONF_CACHE_HEAD : 0;
		bad |= bit == 0;
		if (bit == 0)
			conf_error(ctx, v->items[i], "invalid method \"%s\" in \"methods\" of cache: "
			    "a cache answers GET and HEAD only", conf_quote(t, q, sizeof(q)));
		else if (rc->methods & bit)
			conf_error(ctx, v->items[i], "duplicate method %s in \"methods\" of cache", t);
		rc->methods |= bit;
		free(t);
	}
	/* Only of a list whose every item is a method: a typo of GET is said once. */
	if (!bad && !(rc->methods & CONF_CACHE_GET))
		conf_error(ctx, v, "\"methods\" of cache needs GET: a HEAD is answered from a "
		    "stored GET");
}

static void
conf_route_cache_purge_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route_cache *rc = obj;

	conf_cidrs_parse(ctx, k, v, &rc->purge, &rc->npurge);
}

static const struct conf_key conf_route_cache_keys[] = {
	/* Only kept here; conf_route_cache_resolve() finds the zone. */
	{ "zone",           1, conf_string_parse, offsetof(struct conf_route_cache, zone_name), 0, 0 },
	{ "methods",        0, conf_route_cache_methods_parse, 0, 0, 0 },
	{ "valid",          0, conf_route_cache_valid_parse, 0, 0, 0 },
	{ "bypass",         0, conf_route_cache_bypass_parse, 0, 0, 0 },
	{ "no_store",       0, conf_route_cache_no_store_parse, 0, 0, 0 },
	{ "set_cookie",     0, conf_bool_parse, offsetof(struct conf_route_cache, set_cookie), 0, 0 },
	{ "stale_on_error", 0, conf_bool_parse, offsetof(struct conf_route_cache, stale_on_error), 0, 0 },
	{ "lock_timeout",   0, conf_duration_parse, offsetof(struct conf_route_cache, lock_timeout_ms), CONF_CACHE_LOCK_MIN, CONF_CACHE_LOCK_MAX },
	{ "purge",          0, conf_route_cache_purge_parse, 0, 0, 0 },
};

CONF_TABLE(conf_route_cache_table, "in cache", conf_route_cache_keys);

void
conf_route_cache_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_route_cache **rc = (struct conf_route_cache **)((char *)obj + k->off);

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	if ((*rc = calloc(1, sizeof(**rc))) == NULL) {
		conf_oom(ctx);
		return;
	}
	(*rc)->lock_timeout_ms = CONF_CACHE_LOCK_DEFAULT;
	(*rc)->methods = CONF_CACHE_GET | CONF_CACHE_HEAD;
	conf_map_walk(ctx, v, &conf_route_cache_table, *rc);
}

/* The zone that rc names, as an index of conf->caches; map is the "cache" block. */
void
conf_route_cache_resolve(struct conf_ctx *ctx, struct conf_route_cache *rc,
    const struct node *map)
{
	const struct conf *conf = ctx->conf;
	char q[CONF_QUOTE_LEN];
	struct conf_near near;
	const char *best;
	size_t i;

	if (rc == NULL || rc->zone_name == NULL)
		return;
	conf_near_init(&near, rc->zone_name);
	for (i = 0; i < conf->ncaches; i++) {
		if (conf->caches[i].name == NULL)
			continue;
		if (strcmp(conf->caches[i].name, rc->zone_name) == 0) {
			rc->zone = i;
			return;
		}
		conf_near_try(&near, conf->caches[i].name);
	}
	conf_quote(rc->zone_name, q, sizeof(q));
	if ((best = conf_near_best(&near)) != NULL)
		conf_error(ctx, node_map_get(map, "zone"), "no cache zone \"%s\", did you mean "
		    "\"%s\"?", q, best);
	else
		conf_error(ctx, node_map_get(map, "zone"), "no cache zone \"%s\"", q);
}

void
conf_route_cache_free(struct conf_route_cache *rc)
{
	if (rc == NULL)
		return;
	free(rc->zone_name);
	free(rc->valid);
	conf_cache_parts_free(rc->bypass, rc->nbypass);
	conf_cache_parts_free(rc->no_store, rc->nno_store);
	free(rc->purge);
	free(rc);
}

static void
conf_route_cache_valid_dump(const struct conf_route_cache *rc, FILE *out)
{
	char d[32];
	size_t i;

	if (rc->nvalid == 0) {
		fputs("          valid: {}\n", out);
		return;
	}
	fputs("          valid:\n", out);
	for (i = 0; i < rc->nvalid; i++) {
		if (rc->valid[i].status == 0)
			fputs("            any: ", out);
		else
			fprintf(out, "            %u: ", rc->valid[i].status);
		fprintf(out, "%s\n", rc->valid[i].ms == 0 ? "0" :
		    conf_duration_format(rc->valid[i].ms, d, sizeof(d)));
	}
}

/* A route's block, at the indent of a route's keys. */
void
conf_route_cache_dump(const struct conf_route_cache *rc, FILE *out)
{
	char d[32];

	if (rc == NULL) {
		fputs("        # cache: (off)\n", out);
		return;
	}
	fputs("        cache:\n", out);
	conf_dump_kv(out, 10, "zone", rc->zone_name);
	fprintf(out, "          methods: [GET%s]\n", rc->methods & CONF_CACHE_HEAD ? ", HEAD" : "");
	conf_route_cache_valid_dump(rc, out);
	conf_cache_parts_dump(out, 10, "bypass", rc->bypass, rc->nbypass);
	conf_cache_parts_dump(out, 10, "no_store", rc->no_store, rc->nno_store);
	fprintf(out, "          set_cookie: %s\n          stale_on_error: %s\n",
	    conf_bool_name(rc->set_cookie), conf_bool_name(rc->stale_on_error));
	fprintf(out, "          lock_timeout: %s\n",
	    conf_duration_format(rc->lock_timeout_ms, d, sizeof(d)));
	conf_cidrs_dump(out, 10, "purge", rc->purge, rc->npurge);
}

/* ---------------------------------------------------------- the section */

/* The zones are laid out in the segment beside cuttle's own tables. */
static void
conf_cache_section_check(struct conf_ctx *ctx, const struct node *root)
{
	const struct conf *conf = ctx->conf;
	char a[32], b[32], c[32];
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < conf->ncaches; i++)
		sum += conf->caches[i].size;
	if (conf->ncaches > 0 && sum + CONF_CACHE_TABLES > conf->shm_size)
		conf_error(ctx, node_map_key(root, "caches"), "the caches (%s) and cuttle's own "
		    "tables need more than shm_size (%s): raise shm_size to %s or shrink the "
		    "caches", conf_size_format(sum, a, sizeof(a)),
		    conf_size_format(conf->shm_size, b, sizeof(b)),
		    conf_size_format(sum + CONF_CACHE_TABLES, c, sizeof(c)));
}

static void
conf_cache_section_free(struct conf *conf)
{
	size_t i;

	for (i = 0; i < conf->ncaches; i++) {
		free(conf->caches[i].name);
		conf_cache_parts_free(conf->caches[i].key, conf->caches[i].nkey);
	}
	free(conf->caches);
}

static void
conf_cache_section_dump(const struct conf *conf, FILE *out)
{
	const struct conf_cache *c;
	char b[32];
	size_t i;

	if (conf->ncaches == 0) {
		fputs("# caches: (none)\n", out);
		return;
	}
	fputs("caches:\n", out);
	for (i = 0; i < conf->ncaches; i++) {
		c = &conf->caches[i];
		fputs("  ", out);
		conf_dump_str(out, c->name, 0);
		fprintf(out, ":\n    size: %s\n", conf_size_format(c->size, b, sizeof(b)));
		fprintf(out, "    max_object: %s\n", conf_size_format(c->max_object, b, sizeof(b)));
		conf_cache_parts_dump(out, 4, "key", c->key, c->nkey);
	}
}

static const struct conf_key conf_cache_section_keys[] = {
	{ "caches", 0, conf_caches_parse, 0, 0, 0 },
};

const struct conf_section conf_cache_section = {
	conf_cache_section_keys, CT_NELEM(conf_cache_section_keys),
	NULL, conf_cache_section_check, conf_cache_section_free, conf_cache_section_dump,
};

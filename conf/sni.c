/*
 * The "sni" block of a tcp listener: routes from TLS server names to
 * upstreams, and how long a client may take to send its ClientHello.
 * The listener's own upstream, if any, takes the names no route has.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/section.h"
#include "lib/ct.h"

static const char *
conf_sni_name_check(char *s)
{
	const char *why = conf_host_pattern_why(s);

	if (why == NULL)
		conf_str_lower(s);
	return why;
}

static void
conf_sni_names_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_sni_route *r = obj;

	conf_words_parse(ctx, k, v, 1, CONF_SNI_NAMES_MAX, "server name",
	    conf_sni_name_check, &r->names, &r->nnames);
}

static void
conf_sni_upstream_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_sni_route *r = obj;

	r->upstream_name = conf_text(ctx, k, v);
}

static const struct conf_key conf_sni_route_keys[] = {
	{ "names",    1, conf_sni_names_parse, 0, 0, 0 },
	{ "upstream", 1, conf_sni_upstream_parse, 0, 0, 0 },
};

CONF_TABLE(conf_sni_route_table, "in sni route", conf_sni_route_keys);

static void
conf_sni_routes_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_sni *sni = obj;
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0 || v->nitems > CONF_SNI_ROUTES_MAX) {
		conf_error(ctx, v, "\"%s\" must have 1 to %d entries", k->name,
		    CONF_SNI_ROUTES_MAX);
		return;
	}
	if ((sni->routes = calloc(v->nitems, sizeof(*sni->routes))) == NULL) {
		conf_oom(ctx);
		return;
	}
	sni->nroutes = v->nitems;
	for (i = 0; i < v->nitems; i++)
		if (conf_expect(ctx, v->items[i], NODE_MAPPING, k->name, 1) == CT_OK)
			conf_map_walk(ctx, v->items[i], &conf_sni_route_table, &sni->routes[i]);
}

static const struct conf_key conf_sni_keys[] = {
	{ "routes",  1, conf_sni_routes_parse, 0, 0, 0 },
	{ "timeout", 0, conf_duration_parse, offsetof(struct conf_sni, timeout_ms), 1, CONF_DURATION_MAX },
};

CONF_TABLE(conf_sni_table, "in sni", conf_sni_keys);

void
conf_sni_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_listener *l = obj;

	l->sni.enabled = 1;
	l->sni.timeout_ms = CONF_SNI_TIMEOUT_DEFAULT;
	conf_map_parse(ctx, k, v, &conf_sni_table, &l->sni);
}

/*
 * The second pass: the upstreams exist, and no name is routed twice
 * (the first route would always win, the second never).
 */
void
conf_sni_resolve(struct conf_ctx *ctx, struct conf_sni *sni, const struct node *v)
{
	const struct node *seq = node_map_get(v, "routes"), *item;
	char q[CONF_QUOTE_LEN];
	size_t i, j, a, b;

	if (seq == NULL || seq->type != NODE_SEQUENCE || seq->nitems != sni->nroutes)
		return;
	for (i = 0; i < sni->nroutes; i++) {
		struct conf_sni_route *r = &sni->routes[i];

		item = seq->items[i];
		if (r->upstream_name != NULL)
			conf_upstream_resolve(ctx, r->upstream_name, &r->upstream,
			    node_map_get(item, "upstream"));
		for (a = 0; a < r->nnames; a++)
			for (j = 0; j < i && r->names[a] != NULL; j++)
				for (b = 0; b < sni->routes[j].nnames; b++)
					if (sni->routes[j].names[b] != NULL &&
					    strcmp(sni->routes[j].names[b], r->names[a]) == 0)
						conf_error(ctx, node_map_get(item, "names"),
						    "server name \"%s\" is already routed by sni "
						    "route %zu", conf_quote(r->names[a], q, sizeof(q)),
						    j + 1);
	}
}

void
conf_sni_free(struct conf_sni *sni)
{
	size_t i, j;

	for (i = 0; i < sni->nroutes; i++) {
		for (j = 0; j < sni->routes[i].nnames; j++)
			free(sni->routes[i].names[j]);
		free(sni->routes[i].names);
		free(sni->routes[i].upstream_name);
	}
	free(sni->routes);
}

void
conf_sni_dump(const struct conf_sni *sni, FILE *out)
{
	char b[32];
	size_t i;

	if (!sni->enabled)
		return;
	fprintf(out, "    sni:\n      timeout: %s\n      routes:\n",
	    conf_duration_format(sni->timeout_ms, b, sizeof(b)));
	for (i = 0; i < sni->nroutes; i++) {
		fprintf(out, "        -\n");
		conf_dump_strs(out, 10, "names", sni->routes[i].names, sni->routes[i].nnames);
		conf_dump_kv(out, 10, "upstream", sni->routes[i].upstream_name);
	}
}

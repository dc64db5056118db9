/*
 * The "resolver" section: name servers as IP literals (a resolver that
 * needed a name to find its name server would have nothing to ask), the
 * time a lookup may take, and the bounds of each worker's cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/section.h"
#include "lib/ct.h"

#define CONF_RESOLVER_TIMEOUT_DEFAULT   5000
#define CONF_RESOLVER_TRIES_DEFAULT     2
#define CONF_RESOLVER_CACHE_DEFAULT     60000
#define CONF_RESOLVER_NEGATIVE_DEFAULT  5000
#define CONF_RESOLVER_SIZE_DEFAULT      1024
#define CONF_RESOLVER_TIMEOUT_MIN       10
#define CONF_RESOLVER_TIMEOUT_MAX       60000
#define CONF_RESOLVER_DNS_PORT          53

static void
conf_resolver_servers_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_resolver *r = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	size_t i;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR ||
	    conf_count_check(ctx, k, v, v->nitems, 1, CONF_RESOLVER_SERVERS_MAX) == CT_ERROR)
		return;
	if ((r->nameservers = calloc(v->nitems, sizeof(*r->nameservers))) == NULL) {
		conf_oom(ctx);
		return;
	}
	r->nnameservers = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		if (conf_expect(ctx, v->items[i], NODE_SCALAR, k->name, 1) == CT_ERROR ||
		    (t = conf_env_expand(ctx, v->items[i])) == NULL)
			continue;
		if (addr_parse_port(t, CONF_RESOLVER_DNS_PORT, &r->nameservers[i], &why) != CT_OK)
			conf_error(ctx, v->items[i], "invalid name server \"%s\": %s",
			    conf_quote(t, q, sizeof(q)), why);
		free(t);
	}
}

static const struct conf_key conf_resolver_keys[] = {
	{ "nameservers",    0, conf_resolver_servers_parse, 0, 0, 0 },
	{ "timeout",        0, conf_duration_parse, offsetof(struct conf_resolver, timeout_ms), CONF_RESOLVER_TIMEOUT_MIN, CONF_RESOLVER_TIMEOUT_MAX },
	{ "tries",          0, conf_unsigned_parse, offsetof(struct conf_resolver, tries), 1, CONF_RESOLVER_TRIES_MAX },
	{ "cache",          0, conf_duration_parse, offsetof(struct conf_resolver, cache_ms), 1, CONF_DURATION_MAX },
	{ "negative_cache", 0, conf_duration_parse, offsetof(struct conf_resolver, negative_ms), 1, CONF_DURATION_MAX },
	{ "cache_size",     0, conf_unsigned_parse, offsetof(struct conf_resolver, cache_size), 0, CONF_RESOLVER_CACHE_MAX },
};

CONF_TABLE(conf_resolver_table, "in resolver", conf_resolver_keys);

static void
conf_resolver_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf *conf = obj;

	conf_map_parse(ctx, k, v, &conf_resolver_table, &conf->resolver);
}

static int
conf_resolver_section_init(struct conf *conf)
{
	conf->resolver.timeout_ms = CONF_RESOLVER_TIMEOUT_DEFAULT;
	conf->resolver.tries = CONF_RESOLVER_TRIES_DEFAULT;
	conf->resolver.cache_ms = CONF_RESOLVER_CACHE_DEFAULT;
	conf->resolver.negative_ms = CONF_RESOLVER_NEGATIVE_DEFAULT;
	conf->resolver.cache_size = CONF_RESOLVER_SIZE_DEFAULT;
	return CT_OK;
}

static void
conf_resolver_section_free(struct conf *conf)
{
	free(conf->resolver.nameservers);
}

static void
conf_resolver_section_dump(const struct conf *conf, FILE *out)
{
	const struct conf_resolver *r = &conf->resolver;
	char b[ADDR_STRLEN];
	size_t i;

	fputs("resolver:\n", out);
	if (r->nnameservers == 0) {
		fputs("  # nameservers: (those of /etc/resolv.conf)\n", out);
	} else {
		fputs("  nameservers: [", out);
		for (i = 0; i < r->nnameservers; i++) {
			fputs(i > 0 ? ", " : "", out);
			conf_dump_str(out, addr_format((const struct sockaddr *)&r->nameservers[i].ss,
			    b, sizeof(b)), 1);
		}
		fputs("]\n", out);
	}
	fprintf(out, "  timeout: %s\n", conf_duration_format(r->timeout_ms, b, sizeof(b)));
	fprintf(out, "  tries: %u\n", r->tries);
	fprintf(out, "  cache: %s\n", conf_duration_format(r->cache_ms, b, sizeof(b)));
	fprintf(out, "  negative_cache: %s\n", conf_duration_format(r->negative_ms, b, sizeof(b)));
	fprintf(out, "  cache_size: %u\n", r->cache_size);
}

static const struct conf_key conf_resolver_section_keys[] = {
	{ "resolver", 0, conf_resolver_parse, 0, 0, 0 },
};

const struct conf_section conf_resolver_section = {
	conf_resolver_section_keys, CT_NELEM(conf_resolver_section_keys),
	conf_resolver_section_init, NULL, conf_resolver_section_free, conf_resolver_section_dump,
};

/*
 * A listener's "bandwidth" block (conf/limit.h): the rates of each
 * connection by direction, and the names of the bandwidth limits its
 * connections share per key, resolved with the other limit names in the
 * limits section's second pass.  Also the byte rate that both they and
 * a limit's "bytes" are written in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

/*
 * "10m" or "10m/s": bytes per second, in the units of sizes, between
 * k->min and k->max.
 */
void
conf_bandwidth_rate_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char q[CONF_QUOTE_LEN], lo[32], hi[32], *t;
	const char *why = NULL;
	size_t n;
	uint64_t rate;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	n = strlen(t);
	if (n > 2 && strcmp(t + n - 2, "/s") == 0)
		t[n - 2] = '\0';
	if (units_parse_size(t, &rate, &why) != CT_OK)
		conf_error(ctx, v, "invalid rate \"%s\" for \"%s\": %s; use BYTES or BYTES/s, "
		    "e.g. 512k or 10m/s", conf_quote(v->scalar, q, sizeof(q)), k->name, why);
	else if (rate < k->min || rate > k->max)
		conf_error(ctx, v, "\"%s\" must be between %s/s and %s/s, not \"%s\"", k->name,
		    conf_size_format(k->min, lo, sizeof(lo)), conf_size_format(k->max, hi,
		    sizeof(hi)), conf_quote(v->scalar, q, sizeof(q)));
	else
		*(uint64_t *)((char *)obj + k->off) = rate;
	free(t);
}

static const struct conf_key conf_bandwidth_keys[] = {
	{ "upload",   0, conf_bandwidth_rate_parse, offsetof(struct conf_bandwidth, rate[CONF_BW_UP]), CONF_BW_RATE_MIN, CONF_BW_RATE_MAX },
	{ "download", 0, conf_bandwidth_rate_parse, offsetof(struct conf_bandwidth, rate[CONF_BW_DOWN]), CONF_BW_RATE_MIN, CONF_BW_RATE_MAX },
	{ "limits",   0, conf_limit_refs_parse, offsetof(struct conf_bandwidth, limits), 0, 0 },
};

CONF_TABLE(conf_bandwidth_table, "in bandwidth", conf_bandwidth_keys);

void
conf_bandwidth_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_bandwidth *b = (struct conf_bandwidth *)((char *)obj + k->off);

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	conf_map_walk(ctx, v, &conf_bandwidth_table, b);
	if (node_map_key(v, "upload") == NULL && node_map_key(v, "download") == NULL &&
	    node_map_key(v, "limits") == NULL)
		conf_error(ctx, v, "\"%s\" needs \"download\", \"upload\" or \"limits\"", k->name);
	b->on = b->rate[CONF_BW_UP] != 0 || b->rate[CONF_BW_DOWN] != 0 || b->limits.n > 0;
}

void
conf_bandwidth_free(struct conf_bandwidth *b)
{
	conf_limit_refs_free(&b->limits);
}

void
conf_bandwidth_dump(const struct conf_bandwidth *b, FILE *out)
{
	static const char *const names[2] = { [CONF_BW_UP] = "upload", [CONF_BW_DOWN] = "download" };
	char s[32];
	int dir;

	if (!b->on)
		return;
	fputs("    bandwidth:\n", out);
	for (dir = CONF_BW_UP; dir <= CONF_BW_DOWN; dir++)
		if (b->rate[dir] != 0)
			fprintf(out, "      %s: %s/s\n", names[dir],
			    conf_size_format(b->rate[dir], s, sizeof(s)));
	conf_limit_refs_dump(&b->limits, out, 6);
}

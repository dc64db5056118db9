/*
 * The "health" mapping of an upstream.  Active checks are what the
 * master runs against each server, and passive counting is what the
 * workers do with failed connections; both are settled here, at load,
 * so that neither has to second-guess the values it is given.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

#define CONF_CHECK_INTERVAL_MIN 100
#define CONF_CHECK_INTERVAL_MAX (UINT64_C(3600) * 1000)
#define CONF_CHECK_INTERVAL_DEFAULT (UINT64_C(5) * 1000)
#define CONF_CHECK_TIMEOUT_DEFAULT (UINT64_C(2) * 1000)
#define CONF_CHECK_RISE_DEFAULT 2
#define CONF_CHECK_FALL_DEFAULT 3
#define CONF_CHECK_COUNT_MAX 100                /* rise and fall */
#define CONF_CHECK_BODY_MAX 1024
#define CONF_EXPECT_MAX     32                  /* entries of expect */
#define CONF_MAX_FAILS_MAX  1000
#define CONF_FAIL_TIMEOUT_MAX (UINT64_C(3600) * 1000)
#define CONF_FAIL_TIMEOUT_DEFAULT (UINT64_C(10) * 1000)
/*
 * As nginx's max_fails=1: one failed attempt takes a server out for
 * fail_timeout, so that the next requests do not each wait for it.
 * "passive: {max_fails: 0}" turns passive counting off.
 */
#define CONF_MAX_FAILS_DEFAULT 1

/* Indexed by enum conf_check_type; "none" is not written, only dumped. */
static const char *const conf_check_type_names[] = { "none", "tcp", "http" };
/* Indexed by enum conf_probe. */
static const char *const conf_probe_names[] = { "cluster", "every_node" };

static void
conf_health_type_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	size_t i;

	/* "none" is what leaving "active" out means, not a value to write */
	if (conf_enum_parse(ctx, k, v, conf_check_type_names + 1,
	    CT_NELEM(conf_check_type_names) - 1, &i) == CT_OK)
		h->type = (enum conf_check_type)(i + 1);
}

static void
conf_health_probe_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_probe_names,
	    CT_NELEM(conf_probe_names), &i) == CT_OK)
		h->probe = (enum conf_probe)i;
}

/*
 * The path goes into the request line as written, so it must be one
 * token of visible ASCII; a query is allowed, unlike in route matches.
 */
static void
conf_health_path_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	char q[CONF_QUOTE_LEN];
	const unsigned char *p;
	const char *why = NULL;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if (t[0] != '/')
		why = "must start with \"/\"";
	for (p = (const unsigned char *)t; why == NULL && *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			why = "use visible ASCII without spaces; percent-encode "
			    "the rest";
	if (why != NULL) {
		conf_error(ctx, v, "invalid path \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	free(h->path);
	h->path = t;
}

/* "NNN" or "LO-HI" into *r: NULL, or why s is neither. */
static const char *
conf_status_range_parse(const char *s, struct conf_status_range *r)
{
	static const char *const bad =
	    "use a status from 100 to 599 or a range LO-HI";
	const char *dash = strchr(s, '-');
	size_t n = dash != NULL ? (size_t)(dash - s) : strlen(s);
	uint64_t lo, hi;
	char first[8];

	if (n == 0 || n >= sizeof(first))
		return bad;
	memcpy(first, s, n);
	first[n] = '\0';
	if (units_parse_uint(first, 100, 599, &lo, NULL) == CT_ERROR)
		return bad;
	hi = lo;
	if (dash != NULL &&
	    units_parse_uint(dash + 1, 100, 599, &hi, NULL) == CT_ERROR)
		return bad;
	if (lo > hi)
		return "the low end of the range is above the high end";
	r->lo = (unsigned)lo;
	r->hi = (unsigned)hi;
	return NULL;
}

/* A sequence of statuses and status ranges; every bad entry is reported. */
static void
conf_health_expect_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	size_t i;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems < 1 || v->nitems > CONF_EXPECT_MAX) {
		conf_error(ctx, v, "\"%s\" must have between 1 and %d entries, "
		    "not %zu", k->name, CONF_EXPECT_MAX, v->nitems);
		return;
	}
	if ((h->expect = calloc(v->nitems, sizeof(*h->expect))) == NULL) {
		conf_oom(ctx);
		return;
	}
	for (i = 0; i < v->nitems; i++) {
		if (conf_expect(ctx, v->items[i], NODE_SCALAR, k->name, 1) ==
		    CT_ERROR || (t = conf_env_expand(ctx, v->items[i])) == NULL)
			continue;
		if ((why = conf_status_range_parse(t, &h->expect[h->nexpect]))
		    != NULL)
			conf_error(ctx, v->items[i], "invalid entry \"%s\" in "
			    "\"%s\": %s", conf_quote(t, q, sizeof(q)), k->name, why);
		else
			h->nexpect++;
		free(t);
	}
}

/* Searched for in the response body; it is logged, so one line. */
static void
conf_health_body_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	size_t n;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if ((n = strlen(t)) > CONF_CHECK_BODY_MAX)
		conf_error(ctx, v, "\"%s\" must be at most 1k, not %zu bytes",
		    k->name, n);
	else if (strpbrk(t, "\r\n") != NULL)
		conf_error(ctx, v, "\"%s\" must not contain CR or LF", k->name);
	else {
		free(h->body);
		h->body = t;
		return;
	}
	free(t);
}

static const struct conf_key conf_active_keys[] = {
	{ "type",     1, conf_health_type_parse, 0, 0, 0 },
	{ "path",     0, conf_health_path_parse, 0, 0, 0 },
	{ "expect",   0, conf_health_expect_parse, 0, 0, 0 },
	{ "body",     0, conf_health_body_parse, 0, 0, 0 },
	{ "interval", 0, conf_duration_parse, offsetof(struct conf_health, interval_ms), CONF_CHECK_INTERVAL_MIN, CONF_CHECK_INTERVAL_MAX },
	{ "timeout",  0, conf_duration_parse, offsetof(struct conf_health, timeout_ms), 1, CONF_CHECK_INTERVAL_MAX },
	{ "rise",     0, conf_unsigned_parse, offsetof(struct conf_health, rise), 1, CONF_CHECK_COUNT_MAX },
	{ "fall",     0, conf_unsigned_parse, offsetof(struct conf_health, fall), 1, CONF_CHECK_COUNT_MAX },
	{ "probe",    0, conf_health_probe_parse, 0, 0, 0 },
};

CONF_TABLE(conf_active_table, "in active", conf_active_keys);

/*
 * What needs the whole of "active": the keys of type http only, their
 * defaults, and a timeout that fits in the interval.  timeout_ms is 0
 * here unless a valid timeout was written; the default then shrinks
 * to a short interval rather than being an error nobody wrote.
 */
static void
conf_active_check(struct conf_ctx *ctx, const struct node *v,
    struct conf_health *h)
{
	static const char *const http_only[] = { "path", "expect", "body" };
	char a[32], b[32];
	const struct node *n;
	size_t i;

	for (i = 0; h->type == CONF_CHECK_TCP && i < CT_NELEM(http_only); i++)
		if ((n = node_map_get(v, http_only[i])) != NULL)
			conf_error(ctx, n, "\"%s\" needs \"type: http\"",
			    http_only[i]);
	if (h->type == CONF_CHECK_HTTP && h->path == NULL &&
	    (h->path = strdup("/")) == NULL)
		conf_oom(ctx);
	if (h->type == CONF_CHECK_HTTP && h->nexpect == 0 &&
	    node_map_get(v, "expect") == NULL) {
		if ((h->expect = calloc(1, sizeof(*h->expect))) == NULL) {
			conf_oom(ctx);
		} else {
			h->expect[0].lo = 200;
			h->expect[0].hi = 399;
			h->nexpect = 1;
		}
	}
	if (h->timeout_ms == 0)
		h->timeout_ms = CT_MIN(CONF_CHECK_TIMEOUT_DEFAULT, h->interval_ms);
	else if (h->timeout_ms > h->interval_ms &&
	    (n = node_map_get(v, "timeout")) != NULL)
		conf_error(ctx, n, "\"timeout\" must be at most the interval "
		    "(%s), not %s", conf_duration_format(h->interval_ms, a,
		    sizeof(a)), conf_duration_format(h->timeout_ms, b, sizeof(b)));
}

static void
conf_health_active_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	h->timeout_ms = 0;
	conf_map_walk(ctx, v, &conf_active_table, h);
	conf_active_check(ctx, v, h);
}

static const struct conf_key conf_passive_keys[] = {
	{ "max_fails",    1, conf_unsigned_parse, offsetof(struct conf_health, max_fails), 0, CONF_MAX_FAILS_MAX },
	{ "fail_timeout", 0, conf_duration_parse, offsetof(struct conf_health, fail_timeout_ms), 1, CONF_FAIL_TIMEOUT_MAX },
};

CONF_TABLE(conf_passive_table, "in passive", conf_passive_keys);

static void
conf_health_passive_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_passive_table, obj);
}

static const struct conf_key conf_health_keys[] = {
	{ "active",  0, conf_health_active_parse, 0, 0, 0 },
	{ "passive", 0, conf_health_passive_parse, 0, 0, 0 },
};

CONF_TABLE(conf_health_table, "in health", conf_health_keys);

/* "health" of an upstream, into the struct conf_health at k->off. */
void
conf_health_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_health_table, (char *)obj + k->off);
}

/* What an upstream without "health" has, and what each key starts from. */
void
conf_health_init(struct conf_health *h)
{
	h->type = CONF_CHECK_NONE;
	h->interval_ms = CONF_CHECK_INTERVAL_DEFAULT;
	h->timeout_ms = CONF_CHECK_TIMEOUT_DEFAULT;
	h->rise = CONF_CHECK_RISE_DEFAULT;
	h->fall = CONF_CHECK_FALL_DEFAULT;
	h->probe = CONF_PROBE_CLUSTER;
	h->max_fails = CONF_MAX_FAILS_DEFAULT;
	h->fail_timeout_ms = CONF_FAIL_TIMEOUT_DEFAULT;
}

void
conf_health_free(struct conf_health *h)
{
	free(h->path);
	free(h->body);
	free(h->expect);
}

/*
 * "health:" only when something differs from the defaults (no active
 * checks, passive max_fails 1 in 10s): what loading no "health" gives back.
 */
void
conf_health_dump(const struct conf_health *h, FILE *out)
{
	const struct conf_status_range *r;
	size_t i;
	char d[32];

	int passive = h->max_fails != CONF_MAX_FAILS_DEFAULT ||
	    h->fail_timeout_ms != CONF_FAIL_TIMEOUT_DEFAULT;

	if (h->type == CONF_CHECK_NONE && !passive)
		return;
	fputs("    health:\n", out);
	if (h->type != CONF_CHECK_NONE) {
		fprintf(out, "      active:\n        type: %s\n",
		    conf_enum_name(conf_check_type_names,
		    CT_NELEM(conf_check_type_names), h->type));
		if (h->path != NULL)
			conf_dump_kv(out, 8, "path", h->path);
		if (h->nexpect > 0)
			fputs("        expect: [", out);
		for (i = 0; i < h->nexpect; i++) {
			r = &h->expect[i];
			fprintf(out, "%s%u", i == 0 ? "" : ", ", r->lo);
			if (r->hi != r->lo)
				fprintf(out, "-%u", r->hi);
		}
		if (h->nexpect > 0)
			fputs("]\n", out);
		if (h->body != NULL)
			conf_dump_kv(out, 8, "body", h->body);
		fprintf(out, "        interval: %s\n",
		    conf_duration_format(h->interval_ms, d, sizeof(d)));
		fprintf(out, "        timeout: %s\n        rise: %u\n"
		    "        fall: %u\n", conf_duration_format(h->timeout_ms, d,
		    sizeof(d)), h->rise, h->fall);
		if (h->probe != CONF_PROBE_CLUSTER)
			fprintf(out, "        probe: %s\n", conf_enum_name(conf_probe_names,
			    CT_NELEM(conf_probe_names), h->probe));
	}
	if (passive)
		fprintf(out, "      passive:\n        max_fails: %u\n"
		    "        fail_timeout: %s\n", h->max_fails,
		    conf_duration_format(h->fail_timeout_ms, d, sizeof(d)));
}


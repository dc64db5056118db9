/*
 * A route's "rules" and "rules_default".  Each expression is compiled
 * where it is read, so that a bad one is reported at its own position
 * with PCRE2's message and the offset in the pattern, then JIT-compiled:
 * a worker only ever runs ready code.  Rules are numbered in their
 * listener once all its routes have parsed, for their counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"

static const char *const conf_rule_action_names[] = {
	[CONF_RULE_ALLOW] = "allow",
	[CONF_RULE_DENY] = "deny",
};

static void
conf_rule_name_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_rule *r = obj;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (!conf_name_valid(t)) {
		conf_name_error(ctx, v, "rule", t);
		free(t);
		return;
	}
	if (strcmp(t, "default") == 0) {
		conf_error(ctx, v, "rule name \"default\" is taken: it names the requests "
		    "that no rule matched in the metrics");
		free(t);
		return;
	}
	r->name = t;
}

static void
conf_rule_action_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_rule *r = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_rule_action_names,
	    CT_NELEM(conf_rule_action_names), &i) == CT_OK)
		r->action = (enum conf_rule_action)i;
}

static void
conf_rule_methods_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_rule *r = obj;

	conf_words_parse(ctx, k, v, 1, 32, "method", conf_method_check, &r->methods,
	    &r->nmethods);
}

/*
 * The literal prefix of re (conf/rules.h).  Conservative: any '|' in the
 * expression may open an alternative that is not anchored, so it has
 * none; it ends at the first byte with a meaning of its own, and a
 * quantifier after a byte that may repeat zero times takes that byte
 * out of it.  Compiled without options, so '^' is the start of the
 * subject and bytes compare as they are.
 */
static void
conf_regex_prefix(struct conf_regex *re)
{
	const char *p = re->src + 1;
	size_t n = 0;

	if (re->src[0] != '^' || strchr(re->src, '|') != NULL)
		return;
	while (p[n] != '\0' && strchr("\\^$.[]()?*+{", p[n]) == NULL)
		n++;
	if (p[n] == '\0') {
		re->whole = n > 0;
	} else if (n > 0 && strchr("?*{", p[n]) != NULL) {
		n--;
	}
	re->prefix_len = n;
}

/*
 * The struct conf_regex at k->off of obj.  Bytes, not UTF-8: a path or a
 * field may hold any byte, and a subject that is not valid UTF-8 would
 * make a UTF pattern fail rather than not match.
 */
static void
conf_regex_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_regex *re = (struct conf_regex *)((char *)obj + k->off);
	char q[CONF_QUOTE_LEN];
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int err;

	if ((re->src = conf_text(ctx, k, v)) == NULL)
		return;
	re->code = pcre2_compile((PCRE2_SPTR)re->src, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
	if (re->code == NULL) {
		if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", err);
		conf_error(ctx, v, "invalid regular expression \"%s\" for \"%s\": PCRE2 error at "
		    "offset %zu: %s", conf_quote(re->src, q, sizeof(q)), k->name, (size_t)off,
		    (const char *)msg);
		return;
	}
	/* Where JIT is unavailable the interpreter runs it, under the same limits. */
	re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
	conf_regex_prefix(re);
}

static const struct conf_key conf_rule_header_keys[] = {
	{ "name",  1, conf_token_parse, offsetof(struct conf_rule, header), 0, 0 },
	{ "value", 0, conf_regex_parse, offsetof(struct conf_rule, header_value), 0, 0 },
};

CONF_TABLE(conf_rule_header_table, "in header", conf_rule_header_keys);

static const struct conf_key conf_rule_query_keys[] = {
	{ "name",  1, conf_token_parse, offsetof(struct conf_rule, query), 0, 0 },
	{ "value", 0, conf_regex_parse, offsetof(struct conf_rule, query_value), 0, 0 },
};

CONF_TABLE(conf_rule_query_table, "in query", conf_rule_query_keys);

static void
conf_rule_header_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_rule_header_table, obj);
}

static void
conf_rule_query_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_rule_query_table, obj);
}

static const struct conf_key conf_rule_match_keys[] = {
	{ "methods", 0, conf_rule_methods_parse, 0, 0, 0 },
	{ "path",    0, conf_regex_parse, offsetof(struct conf_rule, path), 0, 0 },
	{ "header",  0, conf_rule_header_parse, 0, 0, 0 },
	{ "query",   0, conf_rule_query_parse, 0, 0, 0 },
};

CONF_TABLE(conf_rule_match_table, "in rule match", conf_rule_match_keys);

static void
conf_rule_match_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_rule_match_table, obj);
}

static const struct conf_key conf_rule_keys[] = {
	{ "name",   1, conf_rule_name_parse, 0, 0, 0 },
	{ "action", 1, conf_rule_action_parse, 0, 0, 0 },
	{ "status", 0, conf_unsigned_parse, offsetof(struct conf_rule, status), 400, 599 },
	{ "match",  0, conf_rule_match_parse, 0, 0, 0 },
};

CONF_TABLE(conf_rule_table, "in rule", conf_rule_keys);

/* The log's reasons, made once so that a request only points at them. */
static void
conf_rule_reasons(struct conf_ctx *ctx, struct conf_rule *r)
{
	size_t n = strlen(r->name) + 64;

	if ((r->deny_reason = malloc(n)) == NULL || (r->limit_reason = malloc(n)) == NULL) {
		conf_oom(ctx);
		return;
	}
	snprintf(r->deny_reason, n, "denied by rule %s", r->name);
	snprintf(r->limit_reason, n, "rule %s: regular expression hit the match limit", r->name);
}

static void
conf_rule_parse(struct conf_ctx *ctx, const struct node *map, struct conf_rule *r)
{
	const struct node *status;

	r->status = CONF_RULE_STATUS_DEFAULT;
	conf_map_walk(ctx, map, &conf_rule_table, r);
	if (r->action != CONF_RULE_DENY && (status = node_map_key(map, "status")) != NULL)
		conf_error(ctx, status, "\"status\" is only for rules with \"action: deny\"");
	if (r->name != NULL)
		conf_rule_reasons(ctx, r);
}

void
conf_rules_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_rules *rs = &((struct conf_route *)obj)->rules;
	size_t i;

	rs->set = 1;
	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0) {
		conf_error(ctx, v, "\"%s\" must have at least one entry", k->name);
		return;
	}
	if ((rs->rules = calloc(v->nitems, sizeof(*rs->rules))) == NULL) {
		conf_oom(ctx);
		return;
	}
	rs->n = v->nitems;
	for (i = 0; i < v->nitems; i++)
		if (conf_expect(ctx, v->items[i], NODE_MAPPING, k->name, 1) == CT_OK)
			conf_rule_parse(ctx, v->items[i], &rs->rules[i]);
}

void
conf_rules_default_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_rules *rs = &((struct conf_route *)obj)->rules;
	size_t i;

	rs->set = 1;
	if (conf_enum_parse(ctx, k, v, conf_rule_action_names,
	    CT_NELEM(conf_rule_action_names), &i) == CT_OK)
		rs->default_deny = i == CONF_RULE_DENY;
}

static void
conf_rule_name_dup(struct conf_ctx *ctx, const struct conf_ref *dup,
    const struct conf_ref *first)
{
	char q[CONF_QUOTE_LEN];

	conf_error(ctx, dup->node, "duplicate rule name \"%s\" in the listener (first at "
	    "line %u, column %u)", conf_quote(dup->key, q, sizeof(q)),
	    first->node->line, first->node->col);
}

/* The node of rule j of route i, for a message's position. */
static const struct node *
conf_rule_node(const struct node *seq, size_t i, size_t j, const char *key)
{
	const struct node *rules = node_map_get(seq->items[i], "rules");
	const struct node *rule;

	if (rules == NULL || rules->type != NODE_SEQUENCE || j >= rules->nitems)
		return seq->items[i];
	rule = rules->items[j];
	return key != NULL && node_map_get(rule, key) != NULL ? node_map_get(rule, key) : rule;
}

/*
 * Numbers the rules of l's routes in file order, each one's index being
 * its counters' in shm, and refuses more than those counters hold and a
 * name used twice (metrics and logs tell rules apart by name).
 */
void
conf_rules_number(struct conf_ctx *ctx, struct conf_listener *l, const struct node *seq)
{
	struct conf_ref *refs;
	struct conf_rule *r;
	size_t i, j, n = 0, nref = 0;

	for (i = 0; i < l->nroutes; i++)
		n += l->routes[i].rules.n;
	if (n == 0 || seq->nitems != l->nroutes)
		return;
	if ((refs = calloc(n, sizeof(*refs))) == NULL) {
		conf_oom(ctx);
		return;
	}
	for (i = 0, n = 0; i < l->nroutes; i++) {
		for (j = 0; j < l->routes[i].rules.n; j++, n++) {
			r = &l->routes[i].rules.rules[j];
			r->index = (unsigned)n;
			if (n == CONF_RULES_MAX)
				conf_error(ctx, conf_rule_node(seq, i, j, NULL), "more than %d rules "
				    "in one listener", CONF_RULES_MAX);
			if (r->name != NULL)
				refs[nref++] = (struct conf_ref){ r->name, strlen(r->name), n,
				    conf_rule_node(seq, i, j, "name") };
		}
	}
	conf_refs_dedup(ctx, refs, nref, conf_rule_name_dup);
	free(refs);
}

static void
conf_regex_free(struct conf_regex *re)
{
	pcre2_code_free(re->code);
	free(re->src);
}

void
conf_rules_free(struct conf_rules *rs)
{
	struct conf_rule *r;
	size_t i, k;

	for (i = 0; i < rs->n; i++) {
		r = &rs->rules[i];
		free(r->name);
		free(r->deny_reason);
		free(r->limit_reason);
		for (k = 0; k < r->nmethods; k++)
			free(r->methods[k]);
		free(r->methods);
		conf_regex_free(&r->path);
		free(r->header);
		conf_regex_free(&r->header_value);
		free(r->query);
		conf_regex_free(&r->query_value);
	}
	free(rs->rules);
}

/* "key: {name: N, value: RE}" of a header or query match. */
static void
conf_rule_named_dump(FILE *out, const char *key, const char *name,
    const struct conf_regex *value)
{
	fprintf(out, "              %s:\n", key);
	conf_dump_kv(out, 16, "name", name);
	if (value->src != NULL)
		conf_dump_kv(out, 16, "value", value->src);
}

static void
conf_rule_dump(const struct conf_rule *r, FILE *out)
{
	fputs("          - ", out);
	conf_dump_kv(out, 0, "name", r->name);
	fprintf(out, "            action: %s\n", conf_rule_action_names[r->action]);
	if (r->action == CONF_RULE_DENY)
		fprintf(out, "            status: %u\n", r->status);
	if (r->nmethods == 0 && r->path.src == NULL && r->header == NULL && r->query == NULL)
		return;
	fputs("            match:\n", out);
	if (r->nmethods > 0)
		conf_dump_strs(out, 14, "methods", r->methods, r->nmethods);
	if (r->path.src != NULL)
		conf_dump_kv(out, 14, "path", r->path.src);
	if (r->header != NULL)
		conf_rule_named_dump(out, "header", r->header, &r->header_value);
	if (r->query != NULL)
		conf_rule_named_dump(out, "query", r->query, &r->query_value);
}

void
conf_rules_dump(const struct conf_rules *rs, FILE *out)
{
	size_t i;

	if (!rs->set)
		return;
	fprintf(out, "        rules_default: %s\n", rs->default_deny ? "deny" : "allow");
	if (rs->n == 0)
		return;
	fputs("        rules:\n", out);
	for (i = 0; i < rs->n; i++)
		conf_rule_dump(&rs->rules[i], out);
}

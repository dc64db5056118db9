/*
 * A listener's "approval" block and the top-level "approvals" section
 * (conf/approval.h says what they mean).
 *
 *   approvals:
 *     state_file: /var/lib/cuttle/approvals.jsonl
 *   listeners:
 *     - name: web
 *       approval:
 *         policy: ask
 *         rules: {allow: [10.0.0.0/8], deny: [192.0.2.0/24]}
 *         wait: 30s
 *         on_timeout: deny
 *         remember: 1h
 *         max_pending: 1000
 *         deny_body: "Ask the desk for access.\n"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

static const char *const conf_approval_policy_names[] = {
	[CONF_APPROVAL_ASK] = "ask",
	[CONF_APPROVAL_ALLOW] = "allow",
	[CONF_APPROVAL_DENY] = "deny",
};

static const char *const conf_approval_timeout_names[] = { "deny", "allow" };

const char *
conf_approval_policy_name(enum conf_approval_policy p)
{
	return conf_enum_name(conf_approval_policy_names, CT_NELEM(conf_approval_policy_names),
	    (size_t)p);
}

static void
conf_approval_policy_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_approval *a = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_approval_policy_names,
	    CT_NELEM(conf_approval_policy_names), &i) == CT_OK)
		a->policy = (enum conf_approval_policy)i;
}

static void
conf_approval_timeout_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_approval *a = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_approval_timeout_names,
	    CT_NELEM(conf_approval_timeout_names), &i) == CT_OK)
		a->on_timeout_allow = i == 1;
}

/* A lifetime: 0 is "until revoked". */
static void
conf_approval_remember_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_approval *a = obj;
	uint64_t ms;

	if (conf_lifetime_parse(ctx, k->name, v, "until revoked", CONF_APPROVAL_REMEMBER_MAX,
	    &ms) == CT_OK)
		a->remember_ms = ms;
}

static void
conf_approval_allow_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_approval *a = obj;

	conf_cidrs_parse(ctx, k, v, &a->allow, &a->nallow);
}

static void
conf_approval_deny_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_approval *a = obj;

	conf_cidrs_parse(ctx, k, v, &a->deny, &a->ndeny);
}

static const struct conf_key conf_approval_rules_keys[] = {
	{ "allow", 0, conf_approval_allow_parse, 0, 0, 0 },
	{ "deny",  0, conf_approval_deny_parse, 0, 0, 0 },
	{ "destinations", 0, conf_dest_approval_parse, offsetof(struct conf_approval, dest), 0, 0 },
};

CONF_TABLE(conf_approval_rules_table, "in approval rules", conf_approval_rules_keys);

static void
conf_approval_rules_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	conf_map_parse(ctx, k, v, &conf_approval_rules_table, obj);
}

static const struct conf_key conf_approval_keys[] = {
	{ "policy",      0, conf_approval_policy_parse, 0, 0, 0 },
	{ "rules",       0, conf_approval_rules_parse, 0, 0, 0 },
	{ "wait",        0, conf_duration_parse, offsetof(struct conf_approval, wait_ms), 100, CONF_APPROVAL_WAIT_MAX },
	{ "on_timeout",  0, conf_approval_timeout_parse, 0, 0, 0 },
	{ "remember",    0, conf_approval_remember_parse, 0, 0, 0 },
	{ "max_pending", 0, conf_unsigned_parse, offsetof(struct conf_approval, max_pending), 1, CONF_APPROVAL_PENDING_MAX },
	{ "deny_body",   0, conf_string_parse, offsetof(struct conf_approval, deny_body), 0, 0 },
};

CONF_TABLE(conf_approval_table, "in approval", conf_approval_keys);

void
conf_approval_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_listener *l = obj;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	if ((l->approval = calloc(1, sizeof(*l->approval))) == NULL) {
		conf_oom(ctx);
		return;
	}
	l->approval->policy = CONF_APPROVAL_ASK;
	l->approval->wait_ms = CONF_APPROVAL_WAIT_DEFAULT;
	l->approval->max_pending = CONF_APPROVAL_PENDING_DEFAULT;
	conf_map_walk(ctx, v, &conf_approval_table, l->approval);
	if (l->approval->deny_body == NULL &&
	    (l->approval->deny_body = strdup(CONF_APPROVAL_BODY_DEFAULT)) == NULL)
		conf_oom(ctx);
}

void
conf_approval_free(struct conf_approval *a)
{
	if (a == NULL)
		return;
	free(a->allow);
	free(a->deny);
	conf_dest_free(&a->dest);
	free(a->deny_body);
	free(a);
}

void
conf_approval_dump(const struct conf_approval *a, FILE *out)
{
	char d[32];

	if (a == NULL)
		return;
	fprintf(out, "    approval:\n      policy: %s\n      rules:\n",
	    conf_approval_policy_name(a->policy));
	conf_cidrs_dump(out, 8, "allow", a->allow, a->nallow);
	conf_cidrs_dump(out, 8, "deny", a->deny, a->ndeny);
	if (a->dest.nallow > 0 || a->dest.ndeny > 0)
		conf_dest_dump(&a->dest, out, 8, 0);
	fprintf(out, "      wait: %s\n", conf_duration_format(a->wait_ms, d, sizeof(d)));
	fprintf(out, "      on_timeout: %s\n", conf_approval_timeout_names[a->on_timeout_allow != 0]);
	fprintf(out, "      remember: %s\n", a->remember_ms == 0 ? "0" :
	    conf_duration_format(a->remember_ms, d, sizeof(d)));
	fprintf(out, "      max_pending: %u\n", a->max_pending);
	conf_dump_kv(out, 6, "deny_body", a->deny_body);
}

/* ----------------------------------------------------- the section */

static void
conf_approvals_state_file_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_approvals *a = obj;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	/* The master writes it from wherever it runs, for as long as it runs. */
	if (t[0] != '/') {
		conf_error(ctx, v, "\"%s\" must be an absolute path", k->name);
		free(t);
		return;
	}
	free(a->state_file);
	a->state_file = t;
}

static const struct conf_key conf_approvals_keys[] = {
	{ "state_file", 0, conf_approvals_state_file_parse, 0, 0, 0 },
};

CONF_TABLE(conf_approvals_table, "in approvals", conf_approvals_keys);

static void
conf_approvals_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf *conf = obj;

	conf_map_parse(ctx, k, v, &conf_approvals_table, &conf->approvals);
}

static void
conf_approval_section_free(struct conf *conf)
{
	free(conf->approvals.state_file);
	conf->approvals.state_file = NULL;
}

static void
conf_approval_section_dump(const struct conf *conf, FILE *out)
{
	if (conf->approvals.state_file == NULL) {
		fputs("# approvals: (decisions are not kept across restarts)\n", out);
		return;
	}
	fputs("approvals:\n", out);
	conf_dump_kv(out, 2, "state_file", conf->approvals.state_file);
}

static const struct conf_key conf_approval_section_keys[] = {
	{ "approvals", 0, conf_approvals_parse, 0, 0, 0 },
};

const struct conf_section conf_approval_section = {
	conf_approval_section_keys, CT_NELEM(conf_approval_section_keys),
	NULL, NULL, conf_approval_section_free, conf_approval_section_dump,
};

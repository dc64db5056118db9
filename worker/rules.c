/*
 * Request rules at request time.  The matcher reads only the request's
 * slices; the handler turns its answer into a decision: a deny rule
 * answers with its status, an allow rule lets the request go on, a rule
 * whose expression hit the match limit answers 500 (neither its allow
 * nor its deny can be trusted), and when no rule matches the route's
 * rules_default decides.  Every decision is counted in the listener's
 * shm counters under the rule's index.
 *
 * Query arguments are compared as sent: names byte for byte and values
 * against the expression without percent-decoding, so that a rule sees
 * what the server behind will be handed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shm/stats.h"
#include "worker/http_int.h"
#include "worker/rules.h"

_Static_assert(CONF_RULES_MAX == SHM_RULES_MAX, "a rule's index is its shm counter");

/*
 * Enough for any sane pattern over a path or a field (a few steps per
 * byte of an 8k field), and some milliseconds at worst for one that
 * backtracks without end.
 */
#define RULES_MATCH_LIMIT  1000000
#define RULES_DEPTH_LIMIT  10000
#define RULES_HEAP_LIMIT   1024             /* KiB, for the interpreter */
#define RULES_JIT_STACK    (32 * 1024)
#define RULES_JIT_STACK_MAX (512 * 1024)

struct rules_scratch {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;
};

struct rules_scratch *
rules_scratch_new(void)
{
	struct rules_scratch *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	/* Only whether it matched counts: one pair of offsets is enough. */
	s->md = pcre2_match_data_create(1, NULL);
	s->mctx = pcre2_match_context_create(NULL);
	s->jit = pcre2_jit_stack_create(RULES_JIT_STACK, RULES_JIT_STACK_MAX, NULL);
	if (s->md == NULL || s->mctx == NULL || s->jit == NULL) {
		rules_scratch_free(s);
		return NULL;
	}
	pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
	pcre2_set_match_limit(s->mctx, RULES_MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, RULES_DEPTH_LIMIT);
	pcre2_set_heap_limit(s->mctx, RULES_HEAP_LIMIT);
	return s;
}

void
rules_scratch_free(struct rules_scratch *s)
{
	if (s == NULL)
		return;
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	pcre2_jit_stack_free(s->jit);
	free(s);
}

/* 1: matches (or no expression), 0: does not, CT_ERROR: undecided. */
static int
rules_re(const struct conf_regex *re, struct http_slice subj, struct rules_scratch *s)
{
	int rc;

	if (re->code == NULL)
		return 1;
	if (re->prefix_len > 0) {
		if (subj.len < re->prefix_len || memcmp(subj.p, re->src + 1, re->prefix_len) != 0)
			return 0;
		if (re->whole)
			return 1;
	}
	/* The JIT's own entry skips the checks pcre2_match() makes on every call. */
	rc = (re->jit ? pcre2_jit_match : pcre2_match)(re->code,
	    (PCRE2_SPTR)(subj.p != NULL ? subj.p : ""), subj.len, 0, 0, s->md, s->mctx);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : CT_ERROR;
}

static int
rules_method(const struct conf_rule *r, struct http_slice m)
{
	size_t i;

	if (r->nmethods == 0)
		return 1;
	for (i = 0; i < r->nmethods; i++)
		if (strlen(r->methods[i]) == m.len && memcmp(r->methods[i], m.p, m.len) == 0)
			return 1;
	return 0;
}

/* Any field of the name whose value matches; undecided wins over no. */
static int
rules_header(const struct conf_rule *r, const struct http_head *hd, struct rules_scratch *s)
{
	size_t i, len = strlen(r->header);
	int rc, res = 0;

	for (i = 0; i < hd->nheaders; i++) {
		const struct http_header *f = &hd->headers[i];

		if (f->name.len != len || strncasecmp(f->name.p, r->header, len) != 0)
			continue;
		if ((rc = rules_re(&r->header_value, f->value, s)) == 1)
			return 1;
		if (rc == CT_ERROR)
			res = CT_ERROR;
	}
	return res;
}

/* Any argument "name" or "name=value" of the raw target's query whose value matches. */
static int
rules_query(const struct conf_rule *r, struct http_slice target, struct rules_scratch *s)
{
	const char *p = memchr(target.p, '?', target.len), *end = target.p + target.len, *amp, *eq;
	size_t len = strlen(r->query);
	struct http_slice v;
	int rc, res = 0;

	if (p == NULL)
		return 0;
	for (p++; p != NULL && p < end; p = amp != NULL ? amp + 1 : NULL) {
		amp = memchr(p, '&', (size_t)(end - p));
		v.p = p;
		v.len = (size_t)((amp != NULL ? amp : end) - p);
		eq = memchr(v.p, '=', v.len);
		if ((size_t)((eq != NULL ? eq : v.p + v.len) - v.p) != len ||
		    memcmp(v.p, r->query, len) != 0)
			continue;
		v.len -= eq != NULL ? len + 1 : len;
		v.p = eq != NULL ? eq + 1 : v.p + len;
		if ((rc = rules_re(&r->query_value, v, s)) == 1)
			return 1;
		if (rc == CT_ERROR)
			res = CT_ERROR;
	}
	return res;
}

/* 1, 0 or CT_ERROR: the cheap comparisons first, the expressions after. */
static int
rules_one(const struct conf_rule *r, const struct rules_request *req, struct rules_scratch *s)
{
	int rc;

	if (!rules_method(r, req->method))
		return 0;
	if ((rc = rules_re(&r->path, req->path, s)) != 1)
		return rc;
	if (r->header != NULL && (rc = rules_header(r, req->head, s)) != 1)
		return rc;
	if (r->query != NULL && (rc = rules_query(r, req->target, s)) != 1)
		return rc;
	return 1;
}

int
rules_match(const struct conf_rule *rules, size_t n, const struct rules_request *req,
    struct rules_scratch *s, size_t *at)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if ((rc = rules_one(&rules[i], req, s)) == 0)
			continue;
		*at = i;
		return rc == 1 ? CT_OK : CT_ERROR;
	}
	return CT_DECLINED;
}

/* The request's parts: the routed path without its query, the raw target. */
static void
rules_request_of(const struct http_ctx *h, struct rules_request *rq)
{
	const struct http_request *req = &h->req;
	const char *q;

	rq->method = req->method;
	rq->path = h->route_path;
	if ((q = memchr(rq->path.p, '?', rq->path.len)) != NULL)
		rq->path.len = (size_t)(q - rq->path.p);
	rq->target = req->target;
	rq->head = &req->h;
}

int
http_access_rules(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_rules *rs = &h->route->rules;
	struct shm_listener *ls = conn_listener_stats(c);
	const struct conf_rule *r;
	struct rules_request rq;
	size_t at = 0;
	int rc;

	if (!rs->set)
		return CT_DECLINED;
	if (c->w->rules == NULL && (c->w->rules = rules_scratch_new()) == NULL) {
		conn_close(c, "out of memory");
		return CT_ERROR;
	}
	rules_request_of(h, &rq);
	rc = rules_match(rs->rules, rs->n, &rq, c->w->rules, &at);
	if (rc == CT_DECLINED) {
		if (ls != NULL)
			atomic_fetch_add_explicit(&ls->rule_default[rs->default_deny], 1,
			    memory_order_relaxed);
		if (!rs->default_deny)
			return CT_OK;
		http_error(c, 403, "denied by rules_default");
		return CT_DONE;
	}
	r = &rs->rules[at];
	h->rule = r;
	if (ls != NULL)
		atomic_fetch_add_explicit(rc == CT_OK ? &ls->rule_hits[r->index] :
		    &ls->rule_errors[r->index], 1, memory_order_relaxed);
	if (rc == CT_ERROR) {
		http_error(c, 500, r->limit_reason);
		return CT_DONE;
	}
	if (r->action == CONF_RULE_ALLOW)
		return CT_OK;
	http_error(c, (int)r->status, r->deny_reason);
	return CT_DONE;
}

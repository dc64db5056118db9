/*
 * A route's request rules at request time: the matcher, pure over the
 * parts of a request, and the access phase's handler that acts on it.
 */
#ifndef CT_WORKER_RULES_H
#define CT_WORKER_RULES_H

#include <stddef.h>

#include "conf/conf.h"
#include "lib/http_parse.h"

struct conn;

/*
 * What a worker keeps to run expressions: a match data block, a JIT
 * stack and a match context that bounds every match, so that no
 * pattern, however it backtracks, holds the worker for long.
 */
struct rules_scratch;

struct rules_scratch *rules_scratch_new(void);
void rules_scratch_free(struct rules_scratch *s);

/* The parts of a request that rules look at. */
struct rules_request {
	struct http_slice method;
	struct http_slice path;     /* normalized, without the query */
	struct http_slice target;   /* as sent: a rule on the query looks after its '?' */
	const struct http_head *head;
};

/*
 * The first of the n rules that matches req: CT_OK with its index in
 * *at, CT_DECLINED when none does, or CT_ERROR with *at the rule whose
 * expression could not be decided (the match limit, or another PCRE2
 * failure): such a rule neither allows nor denies.
 */
int rules_match(const struct conf_rule *rules, size_t n, const struct rules_request *req,
    struct rules_scratch *s, size_t *at);

/* The access phase's handler (http_access.c's table). */
int http_access_rules(struct conn *c);

#endif

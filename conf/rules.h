/*
 * A route's request rules: allow or deny by method, path, header and
 * query argument, the first rule that matches deciding.  The regular
 * expressions are PCRE2's, on bytes (no UTF), compiled and JIT-compiled
 * at load.
 */
#ifndef CT_CONF_RULES_H
#define CT_CONF_RULES_H

#include <stddef.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#define CONF_RULE_STATUS_DEFAULT 403
#define CONF_RULES_MAX           64     /* per listener: its counters in shm */

struct conf_regex {
	char *src;                  /* as written; NULL: not set (matches anything) */
	pcre2_code *code;
	int jit;                    /* JIT-compiled: matched by pcre2_jit_match() */
	/*
	 * The bytes every match starts with, for an expression anchored by
	 * '^' and followed by literal bytes (src + 1, prefix_len of them):
	 * a subject without them does not match, without a call into PCRE2.
	 * whole: the expression is nothing more, and the prefix decides.
	 */
	size_t prefix_len;
	int whole;
};

enum conf_rule_action {
	CONF_RULE_ALLOW,            /* the request goes on to the next checks */
	CONF_RULE_DENY              /* answered with status */
};

/* Every match field that is set must match. */
struct conf_rule {
	char *name;                 /* unique in its listener; [A-Za-z0-9_.-] */
	enum conf_rule_action action;
	unsigned status;            /* deny: 400..599, default 403 */
	unsigned index;             /* in its listener, in file order: its shm counters */
	char *deny_reason;          /* "denied by rule NAME", the log's reason */
	char *limit_reason;         /* the reason when an expression hits the match limit */
	char **methods;             /* NULL/0: any; upper-case tokens */
	size_t nmethods;
	struct conf_regex path;     /* on the normalized path, without the query */
	char *header;               /* NULL: no header match */
	struct conf_regex header_value;  /* unset: the field's presence is enough */
	char *query;                /* NULL: no query match; an argument name, as sent */
	struct conf_regex query_value;   /* unset: the argument's presence is enough */
};

/* The rules of one route. */
struct conf_rules {
	struct conf_rule *rules;
	size_t n;
	int default_deny;           /* rules_default: deny (answered 403) */
	int set;                    /* "rules" or "rules_default" is there: the phase runs */
};

#endif

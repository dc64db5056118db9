/*
 * Operator approval of clients, as configured.
 *
 * A listener's "approval" block says what becomes of a client that
 * connects, in this order:
 *
 *   1. rules: a client in rules.deny is refused, one in rules.allow goes
 *      on, without waiting (deny first, as in acl); on forward and socks
 *      listeners, a destination in rules.destinations.deny is refused,
 *      one in rules.destinations.allow let through, after the client's
 *      deny and before its allow;
 *   2. decisions: the longest network in the decisions of the shared
 *      segment (shm/approval.h) that covers the client, this listener's
 *      over those for every listener, says allow or deny;
 *   3. policy: for a client that neither covers, "ask" holds it for
 *      "wait" until an operator decides (then "on_timeout"), "allow"
 *      lets it in and "deny" refuses it.
 *
 * A client refused on a plain http listener gets a 403 with "deny_body"
 * (the others are closed).
 *
 * Clients of forward and socks listeners are decided once they name
 * where they go (each CONNECT, SOCKS request or absolute-form request),
 * so that a decision may be for a client and a destination: one for
 * the destination wins over one for every destination at the same
 * prefix length (shm/approval.h).  A destination entry of the rules is
 * matched as destinations entries are at their name step; a CIDR entry
 * takes a destination given as an address.  A refusal there is the
 * protocol's: 403, or SOCKS "not allowed by ruleset".
 *
 * "remember" is the lifetime of a decision made for this listener that
 * names none.  The top-level "approvals" block says where the master
 * keeps the decisions across restarts.
 */
#ifndef CT_CONF_APPROVAL_H
#define CT_CONF_APPROVAL_H

#include <stddef.h>
#include <stdint.h>

#include "conf/dest.h"
#include "lib/addr.h"

#define CONF_APPROVAL_WAIT_DEFAULT      (UINT64_C(30) * 1000)
#define CONF_APPROVAL_WAIT_MAX          (UINT64_C(3600) * 1000)
#define CONF_APPROVAL_REMEMBER_MAX      (UINT64_C(3650) * 86400 * 1000)
#define CONF_APPROVAL_PENDING_DEFAULT   1000
#define CONF_APPROVAL_PENDING_MAX       1000000

enum conf_approval_policy {
	CONF_APPROVAL_ASK,          /* hold the client until a decision or the wait ends */
	CONF_APPROVAL_ALLOW,        /* let it in */
	CONF_APPROVAL_DENY          /* refuse it */
};

struct conf_approval {
	enum conf_approval_policy policy;   /* default ask */
	struct cidr *allow;                 /* rules.allow */
	size_t nallow;
	struct cidr *deny;                  /* rules.deny */
	size_t ndeny;
	struct conf_dest dest;              /* rules.destinations: forward and socks */
	uint64_t wait_ms;                   /* default 30s, at most 1h */
	int on_timeout_allow;               /* on_timeout: allow; default deny */
	uint64_t remember_ms;               /* whole seconds; 0 (default): until revoked */
	unsigned max_pending;               /* clients held at once; default 1000 */
	char *deny_body;                    /* of the 403 of a plain http listener; NULL: default */
};

#define CONF_APPROVAL_BODY_DEFAULT      "403 Forbidden\n"

/* The top-level "approvals". */
struct conf_approvals {
	char *state_file;                   /* absolute; NULL: decisions do not outlive the master */
};

const char *conf_approval_policy_name(enum conf_approval_policy p);

#endif

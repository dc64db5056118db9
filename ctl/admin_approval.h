/*
 * Approval decisions in the admin API and in the state file: one JSON
 * form of a decision for both, the checks of what an operator posts,
 * and the answers made of the master's.
 *
 *   {"address": "192.0.2.0/24", "prefix": 24, "verdict": "allow",
 *    "listener": "web" | null, "destination": "example.com:443" | null,
 *    "expires": 1735689600 | null,
 *    "made": 1735686000, "origin": "operator", "by": "alice" | null,
 *    "note": "office" | null}
 *
 * In a cluster (master/cluster.h), also "node": "edge-1" and
 * "changed_ms": 1735686000123, where and when it was made.  The API
 * adds "ttl_s", the seconds left (null: until revoked).
 */
#ifndef CT_CTL_ADMIN_APPROVAL_H
#define CT_CTL_ADMIN_APPROVAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "ctl/admin.h"
#include "shm/approval.h"

/* The longest lifetime a decision may be given: ten years. */
#define ADMIN_APPROVAL_TTL_MAX  (UINT64_C(3650) * 86400)
/* "[host]:65535" of a destination, with the NUL. */
#define ADMIN_APPROVAL_DEST_TEXT (SHM_APPROVAL_DEST_LEN + 8)

/* "192.0.2.7" for a host, "192.0.2.0/24" for a network; returns buf. */
const char *admin_approval_net_format(const struct cidr *c, char *buf, size_t len);
/* "example.com:443", "[2001:db8::1]:443", "example.com" (every port) or "" (none). */
const char *admin_approval_dest_format(const struct shm_approval *a, char *buf, size_t len);
/*
 * The inverse: HOST (every port), HOST:PORT, IPv6 or [IPv6]:PORT into
 * a->dest (normalized) and a->port.  CT_ERROR with why.
 */
int admin_approval_dest_parse(const char *s, struct shm_approval *a, char *why, size_t len);
/* The JSON of a; with now_s != 0, "ttl_s" too. */
json_t *admin_approval_json(const struct shm_approval *a, uint64_t now_s);
/*
 * The inverse, for the state file: every key known, address, verdict
 * and origin present.  CT_ERROR with why; a still needs
 * shm_approval_check().
 */
int admin_approval_from_json(const json_t *o, struct shm_approval *a, char *why, size_t len);

/*
 * The body of POST /api/v1/approvals/decisions into a decision made at
 * now_s, checked against conf (its listeners and their "remember").
 * CT_ERROR with why, for a 400.
 */
int admin_approval_request(const struct conf *conf, const char *body, size_t len,
    uint64_t now_s, struct shm_approval *a, char *why, size_t wlen);
/*
 * DELETE /api/v1/approvals/decisions/TARGET[?listener=NAME][&destination=D]:
 * TARGET is an address or ADDR/PREFIX, percent-decoded already; without
 * listener, the decisions of every listener go, and without destination,
 * those of every destination ("*": the one for every destination only).  Fills in msg's
 * decision and flags; CT_ERROR with why, for a 400.
 */
int admin_approval_revoke_request(const struct conf *conf, const char *target,
    const char *query, size_t qlen, struct admin_link_msg *msg, char *why, size_t wlen);
/* GET /api/v1/approvals/decisions: the unexpired ones; NULL when the table kept changing. */
json_t *admin_approval_list(const struct shm *shm);
/* The master's answer to DECIDE or REVOKE as an HTTP status and its JSON. */
json_t *admin_approval_answer(const struct admin_link_msg *msg, int *status);
/* Unexpired decisions by verdict and origin; CT_AGAIN when the table kept changing. */
int admin_approval_count(const struct shm *shm,
    uint64_t counts[SHM_APPROVAL_VERDICTS][SHM_APPROVAL_ORIGINS]);

#endif

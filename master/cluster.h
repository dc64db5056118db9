/*
 * Master: what the nodes of a cluster share through Redis
 * (master/redis.h), built on the link: a registry of the nodes, the
 * approval decisions and the operator's server states, both ways.
 *
 * Keys and channels, under the section's prefix P:
 *
 *   P:nodes        hash   node -> {"version", "digest", "admin", "started"}
 *   P:nodes:seen   hash   node -> Redis's clock (ms) at its last heartbeat
 *   P:decisions    hash   decision key -> change; also a channel
 *   P:servers      hash   "upstream|address" -> change; also a channel
 *
 * A change is JSON: {"t": ms, "node": NAME, ...}.  Of two changes of
 * one key the later t wins, and at one t the greater node name (bytes
 * compared): last writer wins, the same on every node.  A change is
 * written by a script that keeps the newer of the two and publishes
 * only what it stored, so that Redis holds and sends the winner alone.
 * A decision taken back is a change too ("revoked": true), so that the
 * merge below can tell it from one that was never made.
 *
 * Every change made here goes into the journal in the segment
 * (shm/cluster.h), flagged until Redis acknowledges it.  Each time the
 * link becomes READY (the first time, after an outage, after a
 * failover), both hashes are read whole and merged with what is here:
 * the newer side wins each key, what Redis lacks (it was down, or came
 * back empty) is written back, and what this node missed meanwhile is
 * adopted.  While Redis is down nothing waits for it: the workers see
 * the segment as always.
 *
 * Operator server states are written by the admin process straight
 * into the segment; this module looks at them every CLUSTER_POLL_MS and
 * sends what changed.
 */
#ifndef CT_MASTER_CLUSTER_H
#define CT_MASTER_CLUSTER_H

#include <stdint.h>

#include "conf/conf.h"
#include "core/cycle.h"
#include "lib/ev.h"
#include "shm/approval.h"
#include "shm/shm.h"

#define CLUSTER_HEARTBEAT_MS    1000
#define CLUSTER_LIVE_MS         5000    /* a node not heard from for longer is gone */
#define CLUSTER_FORGET_MS       (UINT64_C(7) * 86400 * 1000)    /* then left out */
#define CLUSTER_POLL_MS         200     /* server states written by the admin process */

/*
 * At start, after redis_start(): nothing happens without a redis
 * section.  path: the configuration file, whose digest the registry
 * shows.
 */
void cluster_start(struct ev_loop *loop, struct shm *shm, const struct conf *conf,
    const char *path);
/* A new generation is current: its servers, its configuration's digest. */
void cluster_cycle(const struct cycle *cy, const char *path);
void cluster_stop(void);
/*
 * A binary upgrade begins: the new master shares for this node (it has
 * the segment, and with it the journal); this one stops sending and
 * adopting.  cluster_reown() when the upgrade failed.
 */
void cluster_disown(void);
void cluster_reown(void);

/*
 * The changed_ms of a change of a's key made here at now_ms: now_ms,
 * or just after the change here that it replaces, when another node's
 * clock made that one later.
 */
uint64_t cluster_decision_stamp(const struct shm_approval *a, uint64_t now_ms);
/* A decision stored here by an operator (changed_ms and node set). */
void cluster_decision_made(const struct shm_approval *a);
/* One taken back here by an operator, at now_ms. */
void cluster_decision_revoked(const struct shm_approval *a, uint64_t now_ms);

/* Pure parts, for the unit tests. */

/* Is change (t, node) later than (t0, node0)?  1 or 0. */
int cluster_newer(uint64_t t, const char *node, uint64_t t0, const char *node0);
/* The key of a decision in P:decisions: "NET/PREFIX|LISTENER|DEST"; "*" for every one. */
const char *cluster_decision_key(const struct shm_approval *a, char *buf, size_t len);
/*
 * The change of P:decisions in json (len bytes): the decision into *a,
 * with its changed_ms and node, and *revoked.  CT_ERROR with why when it
 * is not one cuttle wrote.
 */
int cluster_decision_parse(const char *json, size_t len, struct shm_approval *a, int *revoked,
    char *why, size_t wlen);
/* The inverse; a string to free(), or NULL when out of memory. */
char *cluster_decision_json(const struct shm_approval *a, int revoked);

#endif

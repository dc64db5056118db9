/*
 * Master: max_conns counted across the cluster ("max_conns: {limit: N,
 * scope: cluster}" on a server).  Workers never talk to Redis: they
 * admit while the server's active count is below conns_limit in shm
 * (shm/backend.h), and this module sets that bound, for each such
 * server, to what this node holds of the cluster's limit.
 *
 * Claims.  In the hash <prefix>:conns:<upstream>:<address>, each node
 * keeps one field, its name, holding "claim:ms": the connections it may
 * have open, stamped with Redis's clock.  Every CONNCAP_SETTLE_MS the
 * master settles each server with one Lua script, atomic in Redis:
 *
 *   1. want = min(active + reserve, limit): what it holds and room for
 *      reserve more.  If that is below its bound, it lowers the bound
 *      first and reads active again: claim = max(bound, active), which
 *      the node cannot pass from then on (the admission order in
 *      shm/backend.h).
 *   2. The script sums the other nodes' claims (fields older than
 *      CONNCAP_STALE_MS are dropped: a node gone), grants
 *      max(claim, min(want, limit - others)) and stores it.
 *   3. The bound becomes the grant.
 *
 * A bound only grows through a grant that fitted under the limit, and
 * a node's open connections never pass its bound, so while every node
 * settles in Redis the cluster never holds more than the limit: there
 * is no overshoot.  The price is the other way: a node may refuse while
 * other nodes hold reservations they are not using, at most
 * (nodes - 1) x reserve, and a node's share grows by at most reserve a
 * settle.
 *
 * A node that stops keeps its reserve while it drains (a request of a
 * client it still serves may need a new connection), and deletes its
 * claims at exit, so the others can use them at once.
 *
 * Without Redis (the link down, a reply that fails or makes no sense)
 * each node falls back to limit / (nodes it last saw), at least 1; one
 * that never reached Redis takes the whole limit.  The others stop
 * counting its claim after CONNCAP_STALE_MS, so while nodes are cut
 * off the total can pass the limit by up to their shares; connections
 * open when Redis returns are claimed as they are, never closed.
 * Fallback and its end are logged once each; so is each kind of
 * unexpected value under the prefix, which is otherwise ignored.
 */
#ifndef CT_MASTER_CONNCAP_H
#define CT_MASTER_CONNCAP_H

#include "lib/ev.h"
#include "core/cycle.h"

#define CONNCAP_SETTLE_MS   100
#define CONNCAP_STALE_MS    3000

/*
 * Counts the cluster-capped servers of cy from now on, in place of the
 * previous generation's; nothing to do without a redis section or such
 * a server.  What the node holds of a server that stays is kept.
 */
void conncap_start(struct ev_loop *loop, const struct cycle *cy);
/*
 * Stops settling and frees everything; a reply still on its way is
 * ignored.  With release (the node's connections are closed, and no
 * new master of a binary upgrade, the same node, goes on) its claims
 * are deleted.
 */
void conncap_stop(int release);

#endif

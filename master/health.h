/*
 * Health of upstream servers, kept by the master.
 *
 * Active checks run in the master's event loop, one small state machine
 * per server (connect, send, receive), never blocking it; each server's
 * first check falls at a random point of its interval and every later
 * one at the interval +-10%, so that many servers are not probed in one
 * burst.  A server goes down after `fall` failures in a row and up after
 * `rise` successes; each change is written to its state word in shm and
 * logged once.  Passive checks are counted by the workers in shm
 * (shm_backend_passive_fail); the master brings a server they took out
 * back when its fail_timeout is over, unless active checks own it.
 *
 * In a cluster (a redis section), an upstream with "probe: cluster"
 * (the default) is checked by one node only: the one that holds its
 * lease in Redis.  It publishes every check's outcome, and the other
 * nodes write what it found into their own shm, as if they had checked;
 * see health_lease.c.  Without Redis every node checks for itself.
 */
#ifndef CT_MASTER_HEALTH_H
#define CT_MASTER_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "conf/redis.h"
#include "core/cycle.h"
#include "lib/addr.h"
#include "lib/ev.h"
#include "shm/shm.h"

#define HEALTH_MSG_MAX 512          /* bytes of a published result */

/*
 * One server's health as the prober of its upstream publishes it: on
 * the channel <prefix>:health and in the hash <prefix>:health:<upstream>
 * (field: the server), as
 *
 *   1 TAB node TAB upstream TAB server TAB up|down TAB check_us TAB reason
 *
 * server as "127.0.0.1:80" or "[::1]:80"; reason may be empty.  Tabs
 * and line ends cannot occur in the names; in a reason they become spaces.
 */
struct health_msg {
	char node[CONF_REDIS_NODE_MAX + 1];
	char upstream[SHM_NAME_LEN];
	struct addr addr;
	int up;
	uint64_t check_us;          /* latency of the last check */
	char reason[SHM_TEXT_LEN];  /* the last failure, cut to fit */
};

/* m into buf as above: its length, or 0 when it does not fit in len - 1. */
size_t health_msg_encode(const struct health_msg *m, char *buf, size_t len);
/* Parses s[0..len): CT_OK, or CT_ERROR with a static reason in *why. */
int health_msg_parse(const char *s, size_t len, struct health_msg *m, const char **why);

struct health;

/* Starts checking every server of cy; NULL when there is nothing to do or no memory. */
struct health *health_start(struct ev_loop *loop, const struct cycle *cy);
/*
 * In a freshly forked worker: closes the sockets of checks in progress
 * without touching the master's event loop, which the worker has
 * already let go of.
 */
void health_forget(struct health *h);
/* Stops every check and frees h (NULL is fine). */
void health_stop(struct health *h);
/*
 * The master stops for good: the probe leases this node holds go to
 * other nodes now, and it takes no more (NULL is fine).
 */
void health_lease_yield(struct health *h);

#endif

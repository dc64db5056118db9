/*
 * Master: the link to the Redis that a cluster of cuttle nodes shares
 * (the "redis" section, conf/redis.h).  This is the connection layer
 * only; what is mirrored through it is for its users to build.
 *
 * Everything is asynchronous, on the master's own event loop, through
 * hiredis's asynchronous API and an adapter of ours: a slow or dead
 * Redis never delays a signal, a reload, a respawn or a health check.
 * The states (enum shm_redis_state):
 *
 *   DISCOVER -> CONNECTING -> AUTH -> READY
 *      ^                                |  error, close, timeout, READONLY
 *      +------ DOWN (backoff) <---------+
 *
 * DISCOVER only with sentinels: each is asked in turn for the master's
 * address.  AUTH sends AUTH, SELECT and, with sentinels, ROLE, which
 * must say "master".  READY pings (ROLE with sentinels) every second.
 * A reply later than command_timeout counts as Redis down, like a
 * connection that fails or closes: both links are dropped and tried
 * again after REDIS_BACKOFF_MIN_MS, doubling to REDIS_BACKOFF_MAX_MS,
 * with jitter.  The first failure of an outage is logged, and so is
 * the end of it; the retries in between are not.
 *
 * With subscriptions, a second connection carries them (a subscribed
 * connection takes no other commands); READY waits for it too, and its
 * loss is the loss of the link.
 */
#ifndef CT_MASTER_REDIS_H
#define CT_MASTER_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "conf/conf.h"
#include "lib/ev.h"
#include "shm/shm.h"

#define REDIS_BACKOFF_MIN_MS   100
#define REDIS_BACKOFF_MAX_MS   5000
#define REDIS_PING_MS          1000     /* heartbeat while READY */
#define REDIS_SUBS_MAX         16       /* channels subscribed */
#define REDIS_READY_MAX        8        /* ready callbacks */

/*
 * The answer to a command: reply (hiredis's, freed after the call; an
 * error reply is REDIS_REPLY_ERROR) and err NULL, or reply NULL and err
 * saying why there is none (the link was lost, or timed out).
 */
typedef void (*redis_reply_cb)(const redisReply *reply, const char *err, void *arg);
/* A message published on a subscribed channel. */
typedef void (*redis_message_cb)(const char *channel, const char *msg, size_t len, void *arg);
/* The link became READY: after a (re)connection, resynchronise. */
typedef void (*redis_ready_cb)(void *arg);

/* At start: takes conf's redis section (a copy) and connects if there is one. */
void redis_start(struct ev_loop *loop, struct shm *shm, const struct conf *conf);
/*
 * After a reload: a changed section reconnects with the new settings;
 * an unchanged one keeps the connection.
 */
void redis_reconf(const struct conf *conf);
/* At exit: closes the links and frees everything; no callback runs after it. */
void redis_stop(void);
/* In a child after fork(): closes the descriptors, touching nothing else. */
void redis_forget(void);

/*
 * Sends a command (redisCommand()'s format) with cb to take its answer:
 * CT_OK, and cb is called exactly once later, unless redis_stop() runs
 * first; CT_AGAIN when the link is not READY; CT_ERROR when hiredis
 * refuses the command.  cb is never called from within redis_command().
 */
int redis_command(redis_reply_cb cb, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Subscribes to channel (the prefix is the caller's to add), for good:
 * kept across reconnections.  CT_ERROR past REDIS_SUBS_MAX.
 */
int redis_subscribe(const char *channel, redis_message_cb cb, void *arg);
/* cb runs each time the link becomes READY.  CT_ERROR past REDIS_READY_MAX. */
int redis_on_ready(redis_ready_cb cb, void *arg);

enum shm_redis_state redis_state(void);
/* The section's prefix and node name; NULL without a redis section. */
const char *redis_prefix(void);
const char *redis_node(void);

/*
 * The wait before try attempt + 1 after attempt failures in a row
 * (attempt 0: the first retry): REDIS_BACKOFF_MIN_MS doubling up to
 * REDIS_BACKOFF_MAX_MS, and of that between half and all, by rnd, so
 * that the nodes of a cluster do not come back at the same instant.
 */
uint64_t redis_backoff_ms(unsigned attempt, uint32_t rnd);

#endif

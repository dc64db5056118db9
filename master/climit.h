/*
 * Master: rate limits shared by the nodes of a cluster ("scope:
 * cluster" in conf/limit.h), settled through Redis (master/redis.h).
 *
 * Workers decide every request from the limit's zone in shared memory,
 * as they do for a local limit, and never wait for Redis.  Every
 * CLIMIT_ROUND_MS the master settles with the other nodes in one EVALSHA
 * of a Lua script, atomic on the Redis side:
 *
 *   workers --count--> zone --drain--> round --EVALSHA--> Redis
 *      ^                                                    |
 *      +--- key's GCRA <--charge-- others' use, live nodes -+
 *
 * For each key that passed events here since the last round, the script
 * adds them to the key's total in Redis and answers what the other nodes
 * added since this node's previous round of that key, and how long ago
 * that round was.  The master charges that use into the key's GCRA as if
 * it had come then: each node runs the whole rate over everything the
 * cluster let through.  What the cluster lets through beyond the rate is
 * what the nodes pass before they hear of each other: about nodes x rate
 * x 2 rounds, and a key's burst on each node that has not seen the key
 * for a while.
 *
 * Keys in Redis are hashes, under a hash key that the nodes share: the
 * first node stores a random one with SET NX, the others adopt it.  A
 * node that cannot settle (Redis down or slower than command_timeout,
 * no shared hash key yet, a round refused) decides alone on rate / N,
 * N the live nodes it last saw (1 if never), and logs it once; it logs
 * again when it settles with the cluster again.
 *
 * In Redis, under the prefix (PREFIX:climit:...):
 *   secret              the shared hash key, 32 hex digits
 *   LIMIT:nodes         sorted set: node -> ms of its last round
 *   LIMIT:k:HASH        hash: t the key's total, s ms of its first event,
 *                       n:NODE "total:ms" as of that node's last round
 * Anything else found there (another type, not a number) is logged and
 * left alone: a key whose state is unusable is decided as if Redis were
 * down, on the node's share.
 */
#ifndef CT_MASTER_CLIMIT_H
#define CT_MASTER_CLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "conf/conf.h"
#include "core/cycle.h"
#include "lib/ev.h"

#define CLIMIT_ROUND_MS     50        /* between two settle rounds */
#define CLIMIT_KEYS_MAX     1024      /* keys in one round, all limits; the rest wait a round */
#define CLIMIT_WORDS_MAX    4096      /* bitmap words of a zone read in one round */
#define CLIMIT_LIVE_MS      1000      /* a node is live while it settled within this */
#define CLIMIT_TTL_MIN_MS   10000     /* of a key in Redis, since its last round */
#define CLIMIT_SHARE_MAX    1000      /* nodes a rate is divided between, at most */
#define CLIMIT_ASK_MS       1000      /* between two tries of the script or the hash key */
#define CLIMIT_KEY_CHECK_MS 5000      /* the shared hash key is checked again so often */
#define CLIMIT_COMPLAIN_MS  60000     /* one log line per kind of bad data, at most once per */

/* What a round's reply says, in the order of the limits and keys sent. */
struct climit_answer {
	int64_t live[CONF_LIMITS_MAX];     /* live nodes; -1: the nodes set is not one */
	int64_t others[CLIMIT_KEYS_MAX];   /* events of the other nodes; -1: the key is not usable */
	int64_t age_ms[CLIMIT_KEYS_MAX];   /* since this node's previous round of the key */
};

/*
 * After a start or a reload: settles the limits of scope cluster of cy,
 * which must stay valid until the next call or climit_stop().
 */
void climit_conf(struct ev_loop *loop, struct shm *shm, const struct cycle *cy);
void climit_stop(void);

/* ------------------------------------------------- pure, for the tests */

/* The divisor of the rate of a node alone, from the live nodes it last saw (0: never). */
unsigned climit_share(unsigned nodes);
/* How long Redis keeps a key of limit l after its last round, in ms. */
uint64_t climit_ttl_ms(const struct conf_limit *l);
/* The shared hash key from its text in Redis (32 hex digits); CT_ERROR if it is not that. */
int climit_secret_parse(const char *s, size_t len, uint64_t k[2]);
void climit_secret_format(const uint64_t k[2], char out[33]);
/*
 * Checks r, the reply to a round of nzones limits, limit i with nkeys[i]
 * keys, and fills a.  CT_ERROR, and *why, when r is not of that shape.
 */
int climit_reply_parse(const redisReply *r, const size_t *nkeys, size_t nzones,
    struct climit_answer *a, const char **why);

#endif

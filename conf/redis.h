/*
 * The "redis" section: where the master finds the Redis that a cluster
 * of cuttle nodes shares (directly, or through Sentinel), how it logs
 * in, and the names it uses there.  Only the master reads it
 * (master/redis.h); workers never talk to Redis.
 *
 * Addresses are IP literals, "localhost" or unix socket paths, never
 * host names: hiredis looks a name up with a blocking getaddrinfo(),
 * and the master must never block on Redis.
 */
#ifndef CT_CONF_REDIS_H
#define CT_CONF_REDIS_H

#include <stdint.h>

#define CONF_REDIS_PORT             6379
#define CONF_REDIS_SENTINEL_PORT    26379
#define CONF_REDIS_SENTINELS_MAX    8
#define CONF_REDIS_DATABASE_MAX     1023       /* the server needs "databases" above it */
#define CONF_REDIS_PREFIX_MAX       64         /* bytes of "prefix" */
#define CONF_REDIS_NAME_MAX         64         /* bytes of a user or a sentinel master name */
#define CONF_REDIS_NODE_MAX         128        /* bytes of "node" */
#define CONF_REDIS_PASSWORD_MAX     512        /* bytes of the password file's first line */
#define CONF_REDIS_PREFIX_DEFAULT   "cuttle"
#define CONF_REDIS_CONNECT_DEFAULT  1000       /* ms */
#define CONF_REDIS_COMMAND_DEFAULT  500        /* ms */
#define CONF_REDIS_TIMEOUT_MIN      10         /* ms */
#define CONF_REDIS_TIMEOUT_MAX      60000      /* ms */
#define CONF_REDIS_HOST_LEN         46         /* INET6_ADDRSTRLEN */
#define CONF_REDIS_PATH_MAX         107        /* sun_path less its NUL */

/* A Redis or a Sentinel: an IP literal and a port, or a unix socket. */
struct conf_redis_endpoint {
	char *text;                 /* as written ("localhost:6379", "/run/redis.sock") */
	char host[CONF_REDIS_HOST_LEN]; /* IP literal, no brackets; "" for a unix socket */
	unsigned port;
	char *path;                 /* unix socket path, or NULL */
};

struct conf_redis {
	int enabled;                /* the section is there */
	struct conf_redis_endpoint address;     /* unused with sentinels */
	struct conf_redis_endpoint *sentinels;  /* NULL: connect to address */
	size_t nsentinels;
	char *sentinel_master;      /* the name the sentinels monitor */
	char *user;                 /* NULL: AUTH with the password alone (or no AUTH) */
	char *password_file;        /* NULL: no AUTH */
	char *password;             /* its first line, read at load */
	unsigned database;          /* SELECT, default 0 */
	char *prefix;               /* of every key and channel: the cluster's name */
	uint64_t connect_timeout_ms;/* default 1s */
	uint64_t command_timeout_ms;/* default 500ms: a slower reply counts as Redis down */
	char *node;                 /* this node's name; default: host name[:admin listen] */
};

/* A deep copy of src into dst (zeroed first); CT_ERROR when out of memory. */
int conf_redis_copy(struct conf_redis *dst, const struct conf_redis *src);
/* Frees what a struct conf_redis holds and zeroes it. */
void conf_redis_clear(struct conf_redis *r);
/* Do a and b connect the same way, as the same node?  (1 or 0) */
int conf_redis_equal(const struct conf_redis *a, const struct conf_redis *b);

#endif

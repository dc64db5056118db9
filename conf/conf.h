/*
 * The validated configuration.  conf_load() turns a YAML file into this
 * tree of typed structs; every string and array inside belongs to the
 * struct conf and is released by conf_free().  Nothing here is touched
 * after load: a reload builds a new struct conf and swaps it in only if
 * it is valid.  The types of each section sit in that section's header,
 * included here, so that the rest of the program needs only this one.
 */
#ifndef CT_CONF_H
#define CT_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "conf/admin.h"
#include "conf/cache.h"
#include "conf/limit.h"
#include "conf/auth.h"
#include "conf/listener.h"
#include "conf/redis.h"
#include "conf/resolver.h"
#include "conf/upstream.h"
#include "lib/addr.h"
#include "lib/log.h"

#define CONF_WORKERS_MAX     64
#define CONF_NAME_MAX        63     /* upstream and listener names */

struct conf {
	char *path;
	unsigned workers;           /* resolved: "auto" becomes the online CPU count, capped at CONF_WORKERS_MAX */
	uint64_t shm_size;          /* default 32m, min 1m, max 64g */
	unsigned worker_connections;/* default 4096, 16..1000000: client connections per worker */
	char *error_log_path;       /* "stderr" (default), a file, "syslog" or "syslog:/socket/path" */
	enum log_level error_log_level; /* default info */
	struct conf_upstream *upstreams;
	size_t nupstreams;
	struct conf_listener *listeners;
	size_t nlisteners;          /* >= 1 */
	int daemon;                 /* default 0: stay in the foreground */
	char *pid_file;             /* NULL (default): no pid file */
	char *user;                 /* NULL (default): workers keep the master's ids */
	char *group;                /* NULL: the user's primary group */
	uid_t uid;                  /* resolved at load when user is set */
	gid_t gid;                  /* resolved at load when user or group is set */
	uint64_t worker_rlimit_nofile; /* 0 (default): not changed */
	uint64_t shutdown_timeout_ms;  /* default 30s */
	struct conf_admin admin;    /* admin.socket and admin.listen both NULL: no admin process */
	struct conf_limit *limits;  /* "limits", by name in file order */
	size_t nlimits;
	struct conf_resolver resolver; /* the workers' name lookups (forward, socks) */
	struct conf_cache *caches;  /* "caches", by name in file order */
	size_t ncaches;
	struct conf_approvals approvals; /* where the master keeps the decisions */
	struct conf_redis redis;    /* the cluster's Redis; redis.enabled 0: standalone */
};

/*
 * Receives one fully formatted error, "FILE:LINE:COL: message" (no
 * newline).  Called once per error, in file order.
 */
typedef void (*conf_error_cb)(void *arg, const char *msg);

/*
 * Loads and validates path.  On success returns the config.  On any
 * error returns NULL after reporting every error found (not just the
 * first) through cb.  An unreadable file is reported as "FILE: reason".
 */
struct conf *conf_load(const char *path, conf_error_cb cb, void *arg);

/* As conf_load, but from memory; name is used in messages. */
struct conf *conf_load_string(const char *name, const char *text, size_t len,
    conf_error_cb cb, void *arg);

void conf_free(struct conf *conf);

/*
 * Writes the effective configuration, every default filled in, as YAML
 * that conf_load() accepts and that yields the same struct conf.
 */
void conf_dump(const struct conf *conf, FILE *out);

#endif

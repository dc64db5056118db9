/*
 * The validated configuration.  conf_load() turns a YAML file into this
 * tree of typed structs; every string and array inside belongs to the
 * struct conf and is released by conf_free().  Nothing here is touched
 * after load: a reload builds a new struct conf and swaps it in only if
 * it is valid.
 */
#ifndef CT_CONF_H
#define CT_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "lib/addr.h"
#include "lib/log.h"

#define CONF_WORKERS_MAX     64
#define CONF_NAME_MAX        63     /* upstream and listener names */
#define CONF_WEIGHT_MAX      256
#define CONF_SERVERS_MAX     256    /* per upstream */
#define CONF_RETRIES_MAX     16

enum conf_balance {
	CONF_BALANCE_ROUND_ROBIN,   /* smooth weighted round robin, cluster-wide in shm */
	CONF_BALANCE_LEAST_CONN     /* fewest active connections per weight */
};

enum conf_mode {
	CONF_MODE_TCP               /* L4 relay */
};

struct conf_server {
	char *address;              /* as written, for logs */
	struct addr addr;
	unsigned weight;            /* 1..CONF_WEIGHT_MAX, default 1 */
};

struct conf_upstream {
	char *name;
	enum conf_balance balance;  /* default round_robin */
	struct conf_server *servers;
	size_t nservers;            /* >= 1 */
};

struct conf_acl {
	struct cidr *allow;
	size_t nallow;
	struct cidr *deny;
	size_t ndeny;
};

enum conf_log_format {
	CONF_LOG_TEXT,              /* one key=value line per connection */
	CONF_LOG_JSON               /* one JSON object per line */
};

struct conf_access_log {
	char *path;                 /* NULL: no access log */
	enum conf_log_format format; /* default text */
};

struct conf_listener {
	char *name;                 /* unique; default "listener N" is not allowed: name required */
	char *listen;               /* as written */
	struct addr addr;
	enum conf_mode mode;        /* required */
	char *upstream_name;
	size_t upstream;            /* index into conf->upstreams, resolved in the second pass */
	struct conf_acl acl;
	uint64_t connect_timeout_ms; /* default 5s */
	uint64_t idle_timeout_ms;    /* default 10m */
	unsigned retries;            /* 0..CONF_RETRIES_MAX, default 1 */
	struct conf_access_log access_log;
};

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

/* Lookup helpers for the rest of the program. */
const char *conf_balance_name(enum conf_balance b);
const char *conf_mode_name(enum conf_mode m);

#endif

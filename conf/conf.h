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
	CONF_BALANCE_LEAST_CONN,    /* fewest active connections per weight */
	CONF_BALANCE_RANDOM,        /* weighted random, per worker */
	CONF_BALANCE_P2C,           /* power of two choices: two random, the less loaded */
	CONF_BALANCE_LEAST_TIME,    /* lowest response time times load, per weight */
	CONF_BALANCE_FIRST,         /* the first usable server in config order */
	CONF_BALANCE_HASH           /* consistent hash ring over hash_key */
};

/* What balance: hash hashes. */
enum conf_hash_key {
	CONF_HASH_CLIENT_IP,        /* the client's address, without port (default) */
	CONF_HASH_URI,              /* http: the request target, path and query */
	CONF_HASH_HEADER,           /* http: a request field's value, "header:NAME" */
	CONF_HASH_COOKIE            /* http: a cookie's value, "cookie:NAME" */
};

enum conf_mode {
	CONF_MODE_TCP,              /* L4 relay */
	CONF_MODE_HTTP              /* HTTP/1.1 reverse proxy */
};

/* Upstream keep-alive pool, per worker and per server (HTTP only). */
struct conf_keepalive {
	unsigned max_idle;          /* 0..1024, default 32; 0 disables reuse */
	uint64_t idle_timeout_ms;   /* default 60s */
};

struct conf_kv {
	char *name;                 /* a valid field name (token) */
	char *value;                /* a valid field value: no CR, LF or NUL */
};

/* Header rewriting: remove, then set (replace or add), then add. */
struct conf_header_ops {
	struct conf_kv *set;
	size_t nset;
	struct conf_kv *add;
	size_t nadd;
	char **remove;
	size_t nremove;
};

enum conf_route_action {
	CONF_ROUTE_UPSTREAM,        /* proxy to upstream */
	CONF_ROUTE_RETURN,          /* answer with status and body */
	CONF_ROUTE_REDIRECT         /* answer status with Location */
};

/*
 * One route of an HTTP listener.  Every match field that is set must
 * match; routes are tried in order and the first match wins.
 */
struct conf_route {
	char *host;                 /* NULL: any; "a.example.com", or "*.example.com" (any subdomain, not the bare domain); compared without port, case-insensitively */
	char *path_prefix;          /* NULL: any */
	char *path_exact;           /* NULL: any; compared with the path without the query */
	char **methods;             /* NULL/0: any; upper-case tokens */
	size_t nmethods;
	enum conf_route_action action;   /* exactly one of upstream / return / redirect */
	char *upstream_name;
	size_t upstream;            /* index, resolved in the second pass */
	unsigned status;            /* return: 100..599 (default 200); redirect: 301, 302, 303, 307, 308 (default 302) */
	char *body;                 /* return: default "" */
	char *location;             /* redirect: required */
	char *host_rewrite;         /* NULL: the client's Host is sent upstream */
	struct conf_header_ops request_headers;
	struct conf_header_ops response_headers;
};

struct conf_compress {
	int enabled;                /* the "compress" key is present */
	char **types;               /* media types without parameters, lower-case; default text/html */
	size_t ntypes;
	uint64_t min_size;          /* default 1k: smaller (known) bodies are not compressed */
	int level;                  /* 1..9, default 5 */
};

struct conf_server {
	char *address;              /* as written, for logs */
	struct addr addr;
	unsigned weight;            /* 1..CONF_WEIGHT_MAX, default 1 */
	int backup;                 /* default 0: used only while no primary server is usable */
};

enum conf_check_type {
	CONF_CHECK_NONE,            /* no active checks: servers count as up */
	CONF_CHECK_TCP,             /* a connect that succeeds within timeout */
	CONF_CHECK_HTTP             /* a GET whose status is in expect (and body has body) */
};

struct conf_status_range {
	unsigned lo;                /* 100..599 */
	unsigned hi;                /* lo..599 */
};

/*
 * health: {active: {...}, passive: {...}} of an upstream.  Active checks
 * run in the master; passive ones are counted by the workers.
 */
struct conf_health {
	enum conf_check_type type;  /* active.type; NONE when "active" is absent */
	char *path;                 /* http: request path, default "/" */
	struct conf_status_range *expect; /* http: default [200-399] */
	size_t nexpect;
	char *body;                 /* http: a substring the body must contain; NULL = any */
	uint64_t interval_ms;       /* default 5s; 100ms..1h */
	uint64_t timeout_ms;        /* default 2s; > 0 and <= interval */
	unsigned rise;              /* successes in a row to mark up, default 2; 1..100 */
	unsigned fall;              /* failures in a row to mark down, default 3; 1..100 */
	unsigned max_fails;         /* passive: failed connections within fail_timeout that take a server out; 0 (default) = off; 1..1000 */
	uint64_t fail_timeout_ms;   /* passive: window and time out, default 10s */
};

struct conf_upstream {
	char *name;
	enum conf_balance balance;  /* default round_robin */
	enum conf_hash_key hash_key; /* balance hash: default client_ip */
	char *hash_name;            /* header: field name; cookie: cookie name; else NULL */
	uint64_t slow_start_ms;     /* 0 (default): off; else weight ramps up over this after a server comes up */
	struct conf_keepalive keepalive;
	struct conf_health health;
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
	char *upstream_name;        /* tcp: required; http: not allowed (routes name upstreams) */
	size_t upstream;            /* index into conf->upstreams, resolved in the second pass */
	struct conf_acl acl;
	uint64_t connect_timeout_ms; /* default 5s */
	uint64_t idle_timeout_ms;    /* default 10m (tcp); http: keep-alive idle between requests, default 75s */
	uint64_t header_timeout_ms;  /* http: whole request head must arrive within, default 60s (408) */
	uint64_t send_timeout_ms;    /* http: between two successful writes to the upstream, default 60s (504) */
	uint64_t read_timeout_ms;    /* http: upstream first byte and between bytes, default 60s (504) */
	unsigned retries;            /* 0..CONF_RETRIES_MAX, default 1 */
	struct conf_access_log access_log;
	/* mode http */
	struct conf_route *routes;   /* http: >= 1 required; tcp: not allowed */
	size_t nroutes;
	uint64_t max_body_size;      /* http: default 1g; 0 = no limit (413 when over) */
	uint64_t max_header_size;    /* http: whole request head, default 32k, 1k..1m (431) */
	struct conf_compress compress;
};

/* The control API, served by the admin process. */
struct conf_admin {
	char *socket;               /* unix socket path (absolute), mode 0600; NULL: none */
	char *listen;               /* as written; NULL: no TCP listener */
	struct addr addr;
	char *token_file;           /* required with listen */
	char *token;                /* its first line, read at load */
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
	struct conf_admin admin;    /* admin.socket and admin.listen both NULL: no admin process */
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
const char *conf_hash_key_name(enum conf_hash_key k);
const char *conf_mode_name(enum conf_mode m);

#endif

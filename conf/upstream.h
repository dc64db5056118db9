/*
 * Upstreams as configured: named groups of servers with how to balance
 * over them, keep connections to them and judge their health.
 */
#ifndef CT_CONF_UPSTREAM_H
#define CT_CONF_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "conf/health.h"
#include "conf/via.h"
#include "conf/tls_upstream.h"
#include "lib/addr.h"

#define CONF_WEIGHT_MAX      256
#define CONF_SERVERS_MAX     256    /* per upstream */
#define CONF_MAX_CONNS_MAX   1000000
#define CONF_RESERVE_MAX     1000

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

#define CONF_KEEPALIVE_MAX  1024                /* idle connections per server */
#define CONF_KEEPALIVE_DEFAULT 32
#define CONF_KEEPALIVE_TIMEOUT_DEFAULT (UINT64_C(60) * 1000)

/*
 * A keep-alive pool of idle server connections, per worker: an
 * upstream's per server (HTTP only), a forward listener's for all its
 * destinations together.
 */
struct conf_keepalive {
	unsigned max_idle;          /* 0..1024, default 32; 0 disables reuse */
	uint64_t idle_timeout_ms;   /* default 60s */
};

/* Who max_conns counts: this node's connections, or the cluster's (through Redis). */
enum conf_conns_scope {
	CONF_CONNS_NODE,
	CONF_CONNS_CLUSTER
};

struct conf_max_conns {
	unsigned limit;             /* 0 (default): no cap; else 1..CONF_MAX_CONNS_MAX */
	enum conf_conns_scope scope; /* default node */
	unsigned reserve;           /* cluster: headroom a node claims beyond what it holds; default 1 */
};

struct conf_server {
	char *address;              /* as written, for logs */
	struct addr addr;
	unsigned weight;            /* 1..CONF_WEIGHT_MAX, default 1 */
	int backup;                 /* default 0: used only while no primary server is usable */
	struct conf_max_conns max_conns;
};

struct conf_upstream {
	char *name;
	enum conf_balance balance;  /* default round_robin */
	enum conf_hash_key hash_key; /* balance hash: default client_ip */
	char *hash_name;            /* header: field name; cookie: cookie name; else NULL */
	uint64_t slow_start_ms;     /* 0 (default): off; else weight ramps up over this after a server comes up */
	struct conf_keepalive keepalive;
	struct conf_health health;
	struct conf_tls_upstream *tls; /* NULL: plain TCP to the servers */
	struct conf_via via;        /* the servers are reached through these proxies; n 0: directly */
	struct conf_server *servers;
	size_t nservers;            /* >= 1 */
};

const char *conf_balance_name(enum conf_balance b);
const char *conf_hash_key_name(enum conf_hash_key k);
const char *conf_conns_scope_name(enum conf_conns_scope s);

#endif

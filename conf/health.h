/*
 * The health of an upstream's servers as configured: active checks,
 * which the master runs, and passive counting, which the workers do.
 */
#ifndef CT_CONF_HEALTH_H
#define CT_CONF_HEALTH_H

#include <stddef.h>
#include <stdint.h>

enum conf_check_type {
	CONF_CHECK_NONE,            /* no active checks: servers count as up */
	CONF_CHECK_TCP,             /* a connect that succeeds within timeout */
	CONF_CHECK_HTTP             /* a GET whose status is in expect (and body has body) */
};

/*
 * Who runs the active checks of an upstream when nodes share a Redis:
 * one node of the cluster, holding a lease, or every node for itself.
 * Without a redis section every node probes either way.
 */
enum conf_probe {
	CONF_PROBE_CLUSTER,         /* one prober per cluster (the default) */
	CONF_PROBE_EVERY_NODE       /* each node checks for itself */
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
	enum conf_probe probe;      /* default cluster */
	unsigned max_fails;         /* passive: failed connections within fail_timeout that take a server out; default 1; 0 = off; 0..1000 */
	uint64_t fail_timeout_ms;   /* passive: window and time out, default 10s */
};

#endif

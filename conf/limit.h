/*
 * Named limits ("limits:" at the top level), declared once and applied
 * by name: by listeners to their new connections (a rate, and a cap on
 * concurrent connections per key), by http routes to their requests.
 * Every worker draws from one budget per key, in shared memory
 * (shm/limit.h).
 */
#ifndef CT_CONF_LIMIT_H
#define CT_CONF_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define CONF_LIMITS_MAX        64
#define CONF_LIMIT_PARTS_MAX   4
#define CONF_LIMIT_APPLY_MAX   8      /* limits one listener or route applies */

/* What a key is made of, in order. */
enum conf_limit_part_kind {
	CONF_LIMIT_CLIENT_IP,        /* the client's address */
	CONF_LIMIT_CLIENT_NET,       /* its /24 (IPv4) or /64 (IPv6) */
	CONF_LIMIT_LISTENER,         /* the listener's name */
	CONF_LIMIT_ROUTE,            /* the route (http) */
	CONF_LIMIT_SERVER_NAME,      /* the request's Host (http) */
	CONF_LIMIT_HEADER,           /* a request field's value (http) */
	CONF_LIMIT_COOKIE            /* a cookie's value (http) */
};

struct conf_limit_part {
	enum conf_limit_part_kind kind;
	char *name;                  /* header and cookie: whose value; header lower-case */
};

enum conf_limit_mode {
	CONF_LIMIT_REJECT,           /* over the rate and burst: refused */
	CONF_LIMIT_DELAY             /* over the rate, within the burst: waits its turn */
};

/* Who shares a limit's rate. */
enum conf_limit_scope {
	CONF_LIMIT_LOCAL,            /* the workers of this node */
	CONF_LIMIT_CLUSTER           /* every node of the cluster (master/climit.h) */
};

struct conf_limit {
	char *name;
	struct conf_limit_part parts[CONF_LIMIT_PARTS_MAX];
	size_t nparts;               /* default: client_ip */
	uint64_t rate_count;         /* "100/s": 100 ... */
	uint64_t rate_ms;            /* ... per 1000 ms; 0: no rate */
	uint64_t period_ns;          /* between two events at the steady rate */
	unsigned burst;              /* events beyond the rate; default 0 */
	enum conf_limit_mode mode;   /* default reject */
	enum conf_limit_scope scope; /* default local */
	unsigned conns;              /* concurrent connections per key; 0: no cap */
	uint64_t zone;               /* bytes of shared memory for the keys; default 1m */
	unsigned status;             /* http: default 429 */
	char *body;                  /* http: default "429 Too Many Requests\n" */
	uint64_t log_interval_ms;    /* a key's refusals are logged once per; default 10s */
	int http_only;               /* a part needs a request: not for listeners */
	/* A bandwidth limit: a rate of bytes, shared by a key's connections. */
	uint64_t bytes;              /* per second; 0: not a bandwidth limit */
	uint64_t burst_bytes;        /* beyond the rate; default conf_bandwidth_burst() */
	unsigned directions;         /* CONF_BW_BIT()s it meters, each its own budget */
};

/* The limits a listener or a route applies, by name, resolved to indexes in conf->limits. */
struct conf_limit_refs {
	char **names;
	size_t n;
	size_t idx[CONF_LIMIT_APPLY_MAX];
};

/* The two directions of a connection, as bandwidth meters them. */
#define CONF_BW_UP     0         /* upload: client to server */
#define CONF_BW_DOWN   1         /* download: server to client */
#define CONF_BW_BIT(dir) (1u << (dir))
#define CONF_BW_RATE_MIN  (UINT64_C(1) << 10)
#define CONF_BW_RATE_MAX  (UINT64_C(1) << 30)

/*
 * A listener's "bandwidth": a rate per connection and direction (nginx's
 * limit_rate, both ways), and bandwidth limits shared by every
 * connection of a key across the workers (HAProxy's shared bwlim).
 */
struct conf_bandwidth {
	uint64_t rate[2];            /* by direction, bytes per second; 0: none */
	struct conf_limit_refs limits; /* limits with "bytes" */
	int on;                      /* any of them: the listener's connections are metered */
};

/*
 * The burst of a byte rate when none is set: a tenth of a second's
 * worth, so that a transfer keeps to the rate within a few percent,
 * and never less than what one read of a relay buffer takes.
 */
static inline uint64_t
conf_bandwidth_burst(uint64_t rate)
{
	uint64_t b = rate / 10, floor = rate < 16384 ? rate : 16384;

	return b > floor ? b : floor;
}

#endif

/*
 * Listeners as configured: an address, a mode, who may connect, the
 * timeouts, and where a tcp or udp listener relays to (an http one
 * routes).
 */
#ifndef CT_CONF_LISTENER_H
#define CT_CONF_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "conf/approval.h"
#include "conf/dest.h"
#include "conf/geo.h"
#include "conf/http.h"
#include "conf/proxy.h"
#include "conf/sni.h"
#include "conf/tls.h"
#include "conf/via.h"
#include "lib/addr.h"

#define CONF_RETRIES_MAX     16

enum conf_mode {
	CONF_MODE_TCP,              /* L4 relay */
	CONF_MODE_HTTP,             /* HTTP/1.1 reverse proxy */
	CONF_MODE_UDP,              /* L4 datagram relay, a session per client */
	CONF_MODE_FORWARD,          /* HTTP forward proxy: absolute-form requests, CONNECT tunnels */
	CONF_MODE_SOCKS,            /* SOCKS 4, 4a and 5 */
	CONF_MODES                  /* how many there are */
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

/* What mode http does with a request field whose name has '_'. */
enum conf_underscores {
	CONF_UNDERSCORES_DROP,      /* not sent upstream (nginx's default) */
	CONF_UNDERSCORES_REJECT,    /* 400 */
	CONF_UNDERSCORES_PASS       /* sent upstream like any field */
};

struct conf_access_log {
	char *path;                 /* NULL: no access log */
	enum conf_log_format format; /* default text */
};

/* mode udp: the sessions of its clients (worker/udp.c). */
struct conf_udp {
	uint64_t session_timeout_ms; /* no datagram either way for this long ends a session; default 30s */
	unsigned max_sessions;       /* per worker, 1..CONF_UDP_SESSIONS_MAX, default 4096 */
	unsigned responses;          /* datagrams from the server that end a session; 0 (default): no limit */
	uint64_t connect_timeout_ms; /* an upstream's via: the hops' connects and handshakes; default 5s */
};

#define CONF_UDP_SESSIONS_MAX 1000000
#define CONF_UDP_RESPONSES_MAX 1000000

struct conf_listener {
	char *name;                 /* unique; default "listener N" is not allowed: name required */
	char *listen;               /* as written */
	struct addr addr;
	enum conf_mode mode;        /* required */
	char *upstream_name;        /* tcp: required unless sni; udp: required; http: not allowed (routes name upstreams) */
	size_t upstream;            /* index into conf->upstreams, resolved in the second pass */
	struct conf_acl acl;
	uint64_t connect_timeout_ms; /* default 5s */
	uint64_t idle_timeout_ms;    /* default 10m (tcp); http: keep-alive idle between requests, default 75s */
	uint64_t header_timeout_ms;  /* http: whole request head must arrive within, default 60s (408); forward: handshake's */
	uint64_t send_timeout_ms;    /* http, forward: between two successful writes to the upstream, default 60s (504) */
	uint64_t read_timeout_ms;    /* http, forward: upstream first byte and between bytes, default 60s (504) */
	unsigned retries;            /* 0..CONF_RETRIES_MAX, default 1 */
	struct conf_access_log access_log;
	struct conf_tls *tls;        /* NULL: no TLS termination */
	struct conf_limit_refs limits; /* new connections per key: rates and caps */
	struct conf_geo *geo;        /* NULL: no geo filtering */
	struct conf_bandwidth bandwidth; /* bytes per second; on 0: none */
	struct conf_approval *approval; /* NULL: clients are not asked about; not for udp */
	/* mode forward and socks */
	uint64_t handshake_timeout_ms; /* the client's request must be whole within, default 10s */
	struct conf_proxy proxy;
	struct conf_dest dest;       /* where clients may go */
	struct conf_via via;         /* destinations are reached through these proxies */
	/* mode tcp */
	struct conf_sni sni;         /* routing by TLS server name; enabled 0: none */
	/* mode udp */
	struct conf_udp udp;
	/* mode http */
	struct conf_route *routes;   /* http: >= 1 required; tcp: not allowed */
	size_t nroutes;
	uint64_t max_body_size;      /* http: default 1g; 0 = no limit (413 when over) */
	uint64_t max_header_size;    /* http, forward: whole request head, default 32k, 1k..1m (431) */
	struct conf_compress compress;
	enum conf_underscores underscores; /* http: underscores_in_headers, default drop */
	int forward_normalized_path;  /* http: send the path as routed, not as received; default false */
	struct conf_auth *auth;      /* http: basic authentication of every route that has none; forward, socks: the proxy's; NULL: none */
	int auth_any;                /* http, forward: it or a route has auth: access log lines name the user */
};

const char *conf_mode_name(enum conf_mode m);

/*
 * Does l listen for datagrams?  Its socket is then SOCK_DGRAM, and its
 * address may be the same as a stream listener's (53/udp beside 53/tcp).
 */
static inline int
conf_listener_dgram(const struct conf_listener *l)
{
	return l->mode == CONF_MODE_UDP;
}

#endif

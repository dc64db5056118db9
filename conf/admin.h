/*
 * Where the admin process serves the control API, and the token that
 * TCP clients of it must present.
 */
#ifndef CT_CONF_ADMIN_H
#define CT_CONF_ADMIN_H

#include <stdint.h>

#include "lib/addr.h"

#define CONF_EVENTS_CONNS_DEFAULT       100
#define CONF_EVENTS_CONNS_MAX           1000000
#define CONF_EVENTS_SUBSCRIBERS_DEFAULT 16
#define CONF_EVENTS_SUBSCRIBERS_MAX     64
#define CONF_EVENTS_BUFFER_DEFAULT      (256 * 1024)
#define CONF_EVENTS_BUFFER_MIN          (4 * 1024)
#define CONF_EVENTS_BUFFER_MAX          (64 * 1024 * 1024)

#define CONF_LOGIN_FAILURES_DEFAULT     5
#define CONF_LOGIN_FAILURES_MAX         100
#define CONF_LOGIN_TOTAL_DEFAULT        50
/* The admin process's table of addresses holds more than two windows of these. */
#define CONF_LOGIN_TOTAL_MAX            500
#define CONF_LOGIN_WINDOW_DEFAULT       (UINT64_C(60) * 1000)
#define CONF_LOGIN_WINDOW_MIN           1000
#define CONF_LOGIN_WINDOW_MAX           (UINT64_C(3600) * 1000)

#define CONF_SESSION_LIFETIME_DEFAULT   (UINT64_C(12) * 3600 * 1000)
#define CONF_SESSION_IDLE_DEFAULT       (UINT64_C(30) * 60 * 1000)
#define CONF_SESSION_MIN                1000
#define CONF_SESSION_MAX                (UINT64_C(30) * 86400 * 1000)

/* The live events of GET /api/v1/events. */
struct conf_events {
	/*
	 * A listener's client connections reported one event each, opened
	 * and closed alike, per second (shared among the workers); past it
	 * they are counted, and reported once a second.  Default 100.
	 */
	unsigned conns_per_second;
	unsigned subscribers;       /* at once; default 16 */
	uint64_t buffer;            /* bytes that may wait for one subscriber; default 256k */
};

/*
 * Wrong tokens on the TCP address, per client address (IPv4, or IPv6
 * /64) and for all of them together: at failures within window the
 * address is refused (429) for window without its token being looked
 * at; at total within a window every address without a success behind
 * it is.
 */
struct conf_login {
	unsigned failures;          /* per address; default 5 */
	unsigned total;             /* of all addresses; default 50 */
	uint64_t window_ms;         /* default 1m */
};

/* The dashboard's sessions: each ends at lifetime, or after idle without a request. */
struct conf_session {
	uint64_t lifetime_ms;       /* default 12h */
	uint64_t idle_ms;           /* default 30m; at most lifetime */
};

/* The control API, served by the admin process. */
struct conf_admin {
	char *socket;               /* unix socket path (absolute), mode 0600; NULL: none */
	char *listen;               /* as written; NULL: no TCP listener */
	struct addr addr;
	char *token_file;           /* required with listen */
	char *token;                /* its first line, read at load */
	struct conf_events events;
	struct conf_login login;
	struct conf_session session;
};

#endif

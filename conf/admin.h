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

/* The control API, served by the admin process. */
struct conf_admin {
	char *socket;               /* unix socket path (absolute), mode 0600; NULL: none */
	char *listen;               /* as written; NULL: no TCP listener */
	struct addr addr;
	char *token_file;           /* required with listen */
	char *token;                /* its first line, read at load */
	struct conf_events events;
};

#endif

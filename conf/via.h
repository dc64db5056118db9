/*
 * A chain of upstream proxies ("via:"), on an upstream or on a forward
 * or socks listener: the hops that the connector (worker/upstream.c)
 * opens in order, each handshake inside the tunnel of the one before,
 * the last one asked for the server or the destination.
 */
#ifndef CT_CONF_VIA_H
#define CT_CONF_VIA_H

#include <stddef.h>

#include "lib/addr.h"
#include "lib/proxy_url.h"

#define CONF_VIA_MAX 8

struct conf_hop {
	char *text;                 /* as written, for the dump */
	char *label;                /* "socks5://127.0.0.1:1080", no credentials: for logs */
	struct proxy_url url;
	struct addr addr;           /* the hop's address: an IP literal in the URL */
};

struct conf_via {
	struct conf_hop *hops;      /* NULL: no chain */
	size_t n;
};

#endif

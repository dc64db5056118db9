/*
 * What a client of a forward or socks listener may ask for, beside the
 * destinations: the CONNECT ports of a forward proxy and the pool of
 * its connections to destinations, the SOCKS versions of a socks one and
 * whether it relays UDP.
 */
#ifndef CT_CONF_PROXY_H
#define CT_CONF_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "conf/upstream.h"

#define CONF_SOCKS_V4   0x1     /* SOCKS 4 and 4a */
#define CONF_SOCKS_V5   0x2
#define CONF_CONNECT_PORTS_MAX 64
#define CONF_HANDSHAKE_DEFAULT (10 * 1000)

struct conf_proxy {
	uint16_t *connect_ports;    /* forward: CONNECT only to these; default 443 */
	size_t nconnect_ports;
	/*
	 * forward: idle connections to destinations, kept for absolute-form
	 * requests; max_idle bounds them all together, per worker.
	 */
	struct conf_keepalive keepalive;
	unsigned socks_versions;    /* socks: CONF_SOCKS_V*; default both */
	int socks_udp;              /* socks: SOCKS 5 UDP ASSOCIATE is served; default 0 (0x07) */
};

#endif

/*
 * How workers resolve the names that forward and socks clients ask for:
 * the name servers, how long a lookup may take, and the cache of
 * answers each worker keeps (worker/resolve.h).
 */
#ifndef CT_CONF_RESOLVER_H
#define CT_CONF_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"

#define CONF_RESOLVER_SERVERS_MAX   8
#define CONF_RESOLVER_TRIES_MAX     8
#define CONF_RESOLVER_CACHE_MAX     (1u << 20)   /* answers per worker */

struct conf_resolver {
	struct addr *nameservers;    /* NULL: those of /etc/resolv.conf */
	size_t nnameservers;
	uint64_t timeout_ms;         /* one lookup, all tries, default 5s */
	unsigned tries;              /* per name server, default 2 */
	uint64_t cache_ms;           /* longest an answer is kept, default 1m; a shorter TTL wins */
	uint64_t negative_ms;        /* no such name / no address kept, default 5s */
	unsigned cache_size;         /* answers kept per worker, default 1024; 0: no cache */
};

#endif

/*
 * The HTTP cache, as configured: zones of the shared segment by name,
 * and the routes that use them.
 *
 *   caches:
 *     main: {size: 256m, max_object: 8m, key: ["header:Accept-Language"]}
 *   listeners:
 *     - name: web
 *       mode: http
 *       routes:
 *         - upstream: app
 *           cache:
 *             zone: main
 *             methods: [GET, HEAD]
 *             valid: {200: 10m, 301: 1h, 404: 1m}
 *             bypass: ["cookie:session"]
 *             no_store: ["header:X-No-Cache"]
 *             set_cookie: false
 *             stale_on_error: true
 *             lock_timeout: 5s
 *             purge: [127.0.0.1/32]
 *
 * A zone's objects are keyed by scheme, host (lower case, without the
 * default port), path and query, and the parts of its "key" in order.
 * A route's "valid" gives lifetimes by status for responses that name
 * none (as nginx's proxy_cache_valid); "bypass" conditions send a
 * request to the origin without looking in the cache (its response may
 * still be stored); "no_store" ones keep a response out of it.
 */
#ifndef CT_CONF_CACHE_H
#define CT_CONF_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"

#define CONF_CACHES_MAX          16
#define CONF_CACHE_PARTS_MAX     8        /* of a key, of bypass, of no_store */
#define CONF_CACHE_VALID_MAX     16
#define CONF_CACHE_SIZE_DEFAULT  (UINT64_C(64) << 20)
#define CONF_CACHE_SIZE_MIN      (UINT64_C(1) << 20)
#define CONF_CACHE_OBJECT_DEFAULT (UINT64_C(1) << 20)
#define CONF_CACHE_LOCK_DEFAULT  (UINT64_C(5) * 1000)

enum conf_cache_part_kind {
	CONF_CACHE_HEADER,          /* "header:NAME": a request field, by name */
	CONF_CACHE_COOKIE           /* "cookie:NAME": a cookie of the request */
};

struct conf_cache_part {
	enum conf_cache_part_kind kind;
	char *name;                 /* a header's in lower case; a cookie's as written */
};

/* One zone of "caches". */
struct conf_cache {
	char *name;
	uint64_t size;              /* bytes of the segment; default 64m */
	uint64_t max_object;        /* a response larger than this passes unstored; default 1m */
	struct conf_cache_part *key; /* after scheme, host, path and query */
	size_t nkey;
};

/* A route's "methods": GET is looked up and stored, HEAD answered from a stored GET. */
#define CONF_CACHE_GET           (1u << 0)
#define CONF_CACHE_HEAD          (1u << 1)

/* A lifetime by status for responses that name none; status 0: "any". */
struct conf_cache_valid {
	unsigned status;
	uint64_t ms;
};

/* A route's "cache". */
struct conf_route_cache {
	char *zone_name;
	size_t zone;                /* in conf->caches, resolved in the second pass */
	unsigned methods;           /* CONF_CACHE_GET, CONF_CACHE_HEAD; default both */
	struct conf_cache_valid *valid;   /* in file order; the first that matches */
	size_t nvalid;
	struct conf_cache_part *bypass;   /* any present: not looked up */
	size_t nbypass;
	struct conf_cache_part *no_store; /* any present (request or response): not stored */
	size_t nno_store;
	int set_cookie;             /* responses with Set-Cookie may be stored; default 0 */
	int stale_on_error;         /* a stale object answers while the origin fails; default 0 */
	uint64_t lock_timeout_ms;   /* how long a miss waits for another's fetch; default 5s */
	struct cidr *purge;         /* clients that may send PURGE; none: PURGE is not allowed */
	size_t npurge;
};

#endif

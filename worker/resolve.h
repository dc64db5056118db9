/*
 * Names to addresses without blocking, for the destinations that forward
 * and socks clients name (resolve.c).  One resolver per worker, made in
 * the worker after fork (a c-ares channel holds sockets and state that
 * must not be shared between processes) and driven by the worker's loop:
 * its sockets are ev_io, its timeouts ev_timers (three of them).
 *
 * Contract of a lookup:
 *
 *   - resolve_start() never calls the callback itself.  Every answer, a
 *     cached one, an IP literal and an invalid name included, comes from
 *     the loop (the timer step of the iteration), so a caller may start
 *     a lookup from anywhere, its own callbacks included, and finish
 *     setting up its state after the call.
 *   - The callback runs exactly once unless resolve_cancel() ran first;
 *     after resolve_cancel() it never runs.  The request is freed before
 *     its callback is called: the owner forgets its handle then, and
 *     cancels it if it goes away before (a client that closes while the
 *     name is being asked).  Cancelling is O(1) and frees the request at
 *     once; the query to the name servers goes on, and its answer still
 *     fills the cache.
 *   - The addresses passed to the callback carry the port given to
 *     resolve_start() and are valid only during the callback.  At most
 *     RESOLVE_ADDRS_MAX are kept, IPv4 before IPv6 for AF_UNSPEC, each
 *     family in the name server's order.
 *   - Lookups of one name and family that overlap share one query.
 *
 * Names are host names (letters, digits, "-", "_", labels of 1 to 63,
 * at most 253 bytes, a trailing dot allowed, case ignored, not ending in
 * an all-digit label); they are asked as they are, with no search
 * domains and without /etc/hosts, as nginx's resolver does.  An IPv4 or
 * IPv6 literal (no brackets) is answered without asking anyone.
 */
#ifndef CT_WORKER_RESOLVE_H
#define CT_WORKER_RESOLVE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/resolver.h"
#include "lib/ev.h"

#define RESOLVE_ADDRS_MAX   8
#define RESOLVE_NAME_MAX    253

enum resolve_status {
	RESOLVE_OK,            /* one address or more */
	RESOLVE_NXDOMAIN,      /* the name does not exist */
	RESOLVE_NODATA,        /* it exists, without an address of the family asked for */
	RESOLVE_TIMEOUT,       /* no answer within the resolver's timeout */
	RESOLVE_REFUSED,       /* the name servers refused to answer, or their port did */
	RESOLVE_SERVFAIL,      /* they failed, or answered nonsense; c-ares 1.18 says REFUSED */
	RESOLVE_BADNAME,       /* not a host name: nobody was asked */
	RESOLVE_ERROR          /* anything else c-ares reports, out of memory */
};

/* One address, IPv4 or IPv6, as connect() takes it (sizeof by sa_family). */
union resolve_addr {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

/*
 * status RESOLVE_OK: addrs[0..n) (n >= 1) and why NULL.  Otherwise n is
 * 0 and why a short static text for the log ("no such name", "timed
 * out", or c-ares' reason for RESOLVE_ERROR).
 */
typedef void (*resolve_cb)(void *arg, enum resolve_status status,
    const union resolve_addr *addrs, size_t n, const char *why);

/* For /metrics: counters only grow; entries and queries are gauges. */
struct resolve_stats {
	uint64_t hits;         /* lookups answered from the cache, negative answers too */
	uint64_t misses;       /* lookups that waited for the name servers */
	uint64_t failures;     /* queries that ended without an address (NXDOMAIN included) */
	uint64_t entries;      /* answers in the cache now */
	uint64_t queries;      /* queries at the name servers now */
};

struct resolver;
struct resolve_req;

/*
 * A resolver on loop, configured by conf (copied: conf may go away).
 * Reads /etc/resolv.conf when conf names no name servers.  NULL on
 * failure, with c-ares' reason in *why.
 */
struct resolver *resolver_new(struct ev_loop *loop, const struct conf_resolver *conf,
    const char **why);

/*
 * Frees r and everything it holds; requests still pending are dropped
 * without their callbacks.  Before the loop is freed, and never from a
 * resolver's callback.
 */
void resolver_free(struct resolver *r);

/*
 * Looks name up for family (AF_UNSPEC, AF_INET or AF_INET6); cb(arg,
 * ...) will be called from the loop with the answer, addresses carrying
 * port (host order).  Returns the request, to cancel, or NULL when out
 * of memory, in which case nothing will be called.
 */
struct resolve_req *resolve_start(struct resolver *r, const char *name, int family,
    uint16_t port, resolve_cb cb, void *arg);

/* The callback of req will not run; NULL is ignored.  O(1). */
void resolve_cancel(struct resolve_req *req);

const struct resolve_stats *resolver_stats(const struct resolver *r);

/* "ok", "nxdomain", ...: for logs and metrics labels. */
const char *resolve_status_name(enum resolve_status s);

#endif

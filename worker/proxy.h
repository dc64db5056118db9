/*
 * What modes forward and socks share once a client has named where it
 * goes (proxy.c):
 *
 *   proxy_connect --name allowed?--approval--> resolve --each address allowed?--> connector
 *        |               |          |   |        |                |                 |
 *        |               no     refused held  no address       none left      ready / failed
 *        |               v          v   v        v                v                 v
 *        |       mode's upstream_give_up(status) <----------------+           mode's hooks
 *        |                              |
 *        |             a decision, on_timeout --> resolve, or refused
 *        +-- IP literal: no lookup
 *
 * The rules of the listener's destinations judge the name as the client
 * wrote it and then every address it resolved to, the one connected to
 * included, so that a name whose addresses change (DNS rebinding) cannot
 * lead past them.  A failure before the connector reaches the mode
 * through its upstream_give_up, as the connector's own do; fail says
 * which step it was, for a SOCKS reply code.
 */
#ifndef CT_WORKER_PROXY_H
#define CT_WORKER_PROXY_H

#include <stdint.h>

#include "shm/stats.h"
#include "worker/dest.h"
#include "worker/upstream.h"

struct conn;
struct resolve_req;

enum proxy_fail {
	PROXY_FAIL_NONE,
	PROXY_FAIL_RULES,         /* a destination rule refused it */
	PROXY_FAIL_NAME,          /* the name does not exist, or has no address */
	PROXY_FAIL_RESOLVE,       /* the name servers did not answer (timeout, failure) */
	PROXY_FAIL_CONNECT,       /* the connector failed: dest.err */
	PROXY_FAIL_APPROVAL       /* the listener's approval refused the client there */
};

struct proxy_dest {
	struct upstream_dest up;
	union conn_addr addrs[UPSTREAM_DEST_ADDRS];
	struct resolve_req *rq;   /* the lookup under way, or NULL */
	struct dest_verdict by_name;  /* what the rules said of the name */
	enum proxy_fail fail;
	/* A client held at its destination goes on here once decided (approval.c). */
	void (*approved)(struct conn *c, int allowed);
	char why[160];            /* a failure's reason, for the log and the answer */
};

/*
 * Resolves host (a name, or an IP literal without brackets), checks,
 * and connects c to port on it; the mode's upstream_dest hook must
 * return &d->up.  Ends in the mode's upstream_ready or upstream_give_up.
 */
void proxy_connect(struct conn *c, struct proxy_dest *d, const char *host, uint16_t port);

/*
 * Writes out[*off..len) of a handshake's reply to the client: CT_OK when
 * all of it is gone, CT_AGAIN when the rest waits for EPOLLOUT (within
 * the handshake timeout), CT_ERROR when c was closed.
 */
int proxy_reply_write(struct conn *c, const void *out, size_t *off, size_t len);

/*
 * The handshake is over: the rest of what the client sent (rest, len
 * bytes, read behind its request) is kept to go first, and the
 * handshake's timer stops.  The addresses of d were the connector's; its
 * name stays for the log.  CT_ERROR: c was closed.  The mode then frees
 * what its handshake held, and calls tunnel_start().
 */
int proxy_tunnel_prepare(struct conn *c, struct proxy_dest *d, const void *rest, size_t len);

/*
 * The host (brackets taken off) and port of d's name, as proxy_name()
 * wrote them; CT_ERROR when there is none.
 */
int proxy_name_split(const struct proxy_dest *d, char *host, size_t cap, uint16_t *port);

/* ", destination: host:port" for log lines, or nothing before there is one. */
void proxy_describe(const struct proxy_dest *d, char *buf, size_t len);

/*
 * What a client is told of a failure of d: the destination and what
 * went wrong, without the addresses of proxies or what a name resolved
 * to, which the error log has; into buf, returned.
 */
const char *proxy_client_reason(const struct proxy_dest *d, char *buf, size_t len);

/* Counts how c's request ended, once, in /metrics. */
void proxy_count(struct conn *c, enum shm_proxy_result r);
/* The same for the failure the mode's upstream_give_up hears of. */
void proxy_count_fail(struct conn *c, const struct proxy_dest *d);

/* Names d "host:port" ("[v6]:port") for log lines, as proxy_connect() does. */
void proxy_name(struct proxy_dest *d, const char *host, uint16_t port);

/* Forgets a lookup under way: the connection is going away. */
void proxy_cancel(struct proxy_dest *d);

#endif

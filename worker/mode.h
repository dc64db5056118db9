/*
 * Connection modes.  A listener's mode names one row of this table, and
 * the worker core (accept, slots, timers, the close path) reaches a mode
 * only through it: adding a mode is a file of its own and a row in
 * worker/modes.c, never a branch in the core.
 *
 * A mode keeps its per-connection state behind conn->ctx, of its own
 * type.  Once its handshake is done it either keeps the connection (http)
 * or hands both sides to the tunnel (tunnel.h).  Reaching a server goes
 * through the one upstream connector (upstream.h), which calls the
 * upstream_* entries below.
 *
 * A datagram mode (udp) accepts no connection: it reads its listening
 * sockets through an entry of its own (datagram) and keeps a connection
 * slot per client session, whose client side has no socket of its own,
 * so nothing in a row assumes a client stream but start() and the
 * entries a connection calls.
 */
#ifndef CT_WORKER_MODE_H
#define CT_WORKER_MODE_H

#include <stddef.h>

#include "lib/ev.h"

struct conn;
struct worker;

struct conn_mode {
	const char *name;
	/*
	 * Access-log lines and latencies are the mode's, per request; else
	 * the core writes one per connection when it closes.
	 */
	unsigned per_request:1;
	/*
	 * Its clients name the destinations, which are looked up: the worker
	 * makes its resolver (w->resolver) at start when a listener has it.
	 */
	unsigned resolves:1;
	/*
	 * Right after accept and the listener's ACL: the connection is the
	 * mode's.  NULL in a datagram mode, which accepts nothing.
	 */
	void (*start)(struct conn *c);
	/*
	 * A datagram mode reads its listening sockets itself: the callback
	 * of each, whose data is its struct worker_listener.  NULL: the core
	 * accepts connections on them and calls start().
	 */
	ev_io_cb datagram;
	/* Part of conn_close(): frees conn->ctx; the core closes the sockets. */
	void (*free)(struct conn *c);
	/*
	 * The worker stops accepting (reload, graceful stop): connections
	 * that would only wait for more work may end now.  NULL: all finish.
	 */
	void (*drain)(struct worker *w);
	/* The worker exits: gives back what the mode holds per worker (pools). */
	void (*exit)(struct worker *w);
	/*
	 * What the connection is doing, for log lines: appended after the
	 * client and listener (", request: \"GET /\"").  May write nothing.
	 */
	void (*describe)(const struct conn *c, char *buf, size_t len);
	/*
	 * Fields of the mode's own for the connection's access-log line,
	 * appended to the core's: " name=value" in text, ",\"name\":value"
	 * in JSON.  conn_close() asks after free(), so what they need of ctx
	 * free() leaves in the mode's per-worker state.  NULL: none.
	 */
	void (*log_fields)(const struct conn *c, int json, char *buf, size_t len);
	/* Events of the server socket and of the timer once the connector is done. */
	ev_io_cb io;
	ev_timer_cb timer;
	/*
	 * The server socket's registration made with the connect: the mode
	 * keeps it or changes it once the connection is ready.
	 */
	uint32_t connect_events;

	/* ---- the upstream connector's calls (upstream.h) */
	/* The server connection is ready for bytes (new, or from a pool). */
	void (*upstream_ready)(struct conn *c);
	/*
	 * No server is left to try, or the failure may not be retried: the
	 * mode answers (status, why) or closes.  The server side is closed.
	 */
	void (*upstream_give_up)(struct conn *c, int status, const char *why);
	/*
	 * After a failure: may what was sent to the server be sent again?
	 * UPSTREAM_RESEND_ANY to any server, UPSTREAM_RESEND_UNSEEN only
	 * where it cannot have been acted on (a pooled connection that the
	 * server had closed), UPSTREAM_RESEND_NO not at all.  NULL: any,
	 * nothing being sent before the connection is ready.
	 */
	int (*upstream_resend)(const struct conn *c);
	/*
	 * Takes an idle connection to server idx of the upstream (or to
	 * address idx of the destination, c->upstream UPSTREAM_DEST) into
	 * c->server; CT_OK when one was had.  NULL: no pooling.
	 */
	int (*upstream_pool_take)(struct conn *c, int idx);
	/* The key of the balancer's hash, or NULL. */
	const void *(*upstream_key)(const struct conn *c, size_t *len);
	/*
	 * For an upstream whose tls name is "$host": the name to send as
	 * SNI and verify, lower-case and without a port, valid until the
	 * next call; NULL (or no hook): none, the server address is
	 * verified.  A mode without a Host to give leaves it NULL.
	 */
	const char *(*upstream_sni)(const struct conn *c);
	/*
	 * The destination of upstream_connect_dest(), kept in ctx; NULL
	 * (or no hook): the mode reaches only upstreams.
	 */
	struct upstream_dest *(*upstream_dest)(const struct conn *c);
};


#endif

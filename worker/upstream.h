/*
 * The upstream connector: the one way every mode reaches a server.
 *
 *   upstream_connect --pick--> [pool_take] --had one--------------+
 *        |                          |                              v
 *        |                     connect() --EINPROGRESS--> CONNECTING --ok--> ready
 *        |                                                    |  |
 *        |                                  (upstream tls)    |  +--> HANDSHAKE --ok--> ready
 *        |                                                    |           |
 *        +--no server--> give_up          fail (timeout, error, bad certificate)
 *                          ^                                  |
 *                          +---- no retry / no server ---- upstream_fail
 *                                                             |
 *                                   RETRY (timer 0) <--next server, or the
 *                                                      same one on a new
 *                                                      connection
 *
 * upstream_fail() is the only failure path, whatever failed: the
 * connect, sending the request, the response head (a mode that reads
 * one), later a proxy hop or a TLS handshake.  It logs the phase that
 * failed with the server, client and listener, counts a passive health
 * failure, gives the server back, and decides: the same server again on
 * a new connection (a pooled connection the server had closed), the next
 * server (within the listener's retries, when the mode says what it sent
 * may be sent again), or the mode's give_up.  A retry runs from a timer,
 * after this iteration's remaining events, so that none of them can be
 * taken for an event of the new socket.
 *
 * While connecting, the connector owns the server socket's callback and
 * the connection's timer; the mode gets them back (its io and timer)
 * before its upstream_ready or upstream_give_up runs.
 *
 * An upstream with tls runs its handshake before the mode hears of the
 * connection, within the connect timeout, offering the session this
 * worker last had with the server; the mode gets a stream whose ops
 * are TLS, and a pooled connection comes back with its session.
 */
#ifndef CT_WORKER_UPSTREAM_H
#define CT_WORKER_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "worker/conn.h"

struct conn;

/* c->upstream of a connection to a destination, not to an upstream's servers. */
#define UPSTREAM_DEST        UINT32_MAX
#define UPSTREAM_DEST_ADDRS  8
#define UPSTREAM_DEST_NAME   262     /* a 255-byte name, ':' and a port */

/*
 * A destination that a client of a forward or socks listener named: the
 * addresses its name resolved to, already checked against the
 * listener's rules, tried in order, each once, within the connect
 * timeout each (a pooled connection the server had closed is followed
 * by a new one to the same address); no balancing, no passive health,
 * and a pool only where the mode keeps one (upstream_pool_take).  The mode
 * keeps it (conn_mode.upstream_dest) for the connection's life (for the
 * request's, an absolute-form request of mode forward), the addresses
 * while the connector may use them (a tunnel's may then go: n 0);
 * err is the errno of the last failure, for the mode's answer (a SOCKS
 * reply code), and name stays for log lines.
 */
struct upstream_dest {
	union conn_addr *addrs;          /* UPSTREAM_DEST_ADDRS of room */
	size_t n;
	char name[UPSTREAM_DEST_NAME];   /* "host:port" as asked, for log lines */
	int err;
	/*
	 * Reached through a via (chain.c): where the destination sees the
	 * connection come from is the last proxy's, which a SOCKS 5 proxy
	 * says (its BND) and others do not (family 0).
	 */
	unsigned via:1;
	union conn_addr bnd;
};

enum upstream_phase {
	UPSTREAM_CONNECT,    /* connecting to the server */
	UPSTREAM_HANDSHAKE,  /* the TLS handshake with the server */
	UPSTREAM_HOP,        /* a proxy of the via chain failed (chain.c): no server is to blame */
	UPSTREAM_HOP_TARGET, /* the last proxy could not reach the server: it is to blame */
	UPSTREAM_SEND,       /* sending the request */
	UPSTREAM_RECV,       /* waiting for the response head */
	UPSTREAM_HEAD,       /* the response head is invalid */
	UPSTREAM_BODY        /* reading the response body */
};

/* What conn_mode.upstream_resend answers. */
enum upstream_resend {
	UPSTREAM_RESEND_NO,
	UPSTREAM_RESEND_UNSEEN,
	UPSTREAM_RESEND_ANY
};

enum upstream_state {
	UPSTREAM_NONE,       /* no attempt under way */
	UPSTREAM_CONNECTING, /* a non-blocking connect() in progress */
	UPSTREAM_RETRY,      /* the next attempt waits for its timer */
	UPSTREAM_TLS,        /* connected; the TLS handshake under way */
	UPSTREAM_CHAIN       /* connected to the first proxy of via; their handshakes under way */
};

/*
 * Picks a server of conf->upstreams[upstream] and connects to it, or
 * takes a pooled connection; then the mode's upstream_ready, or its
 * upstream_give_up.  Resets the attempts of an earlier request.
 */
void upstream_connect(struct conn *c, size_t upstream);

/* The same to the mode's destination (upstream_dest), n >= 1 addresses. */
void upstream_connect_dest(struct conn *c);

/*
 * The one failure path; see the top.  err is an errno (ETIMEDOUT for a
 * timeout, ECONNRESET for a close), or 0 with detail saying what was
 * wrong; status is the answer the mode gives if nothing is retried
 * (502, or 504 after a timeout).
 */
void upstream_fail(struct conn *c, enum upstream_phase phase, int err, const char *detail,
    int status);

/*
 * Server idx of conf->upstreams[c->upstream] is now c's: the active
 * connection lb_admit() counted in shm is c's until
 * conn_backend_release(), and the control API shows it.  For a mode
 * that opens its own server sockets (udp); the connector calls it for
 * each attempt.
 */
void upstream_use(struct conn *c, int idx);

/* chain.c: the last hop has reached the target: on to TLS, or ready. */
void upstream_chain_done(struct conn *c);

/* Is a connection to a server under way or about to be retried? */
int upstream_busy(const struct conn *c);

struct worker;
/* The worker exits: frees the TLS sessions it kept per server. */
void upstream_exit(struct worker *w);

#endif

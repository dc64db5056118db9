/*
 * A client connection, the core every mode runs on.
 *
 *   accept --ACL--> mode->start --(mode's handshake)--> upstream_connect
 *                                                            |
 *            mode keeps the connection (http) <--ready-------+
 *            or hands both sides to the tunnel (tcp, upgrades)
 *
 * The core knows a connection's client, its server side, its timer, its
 * counters and its entry in shm; what the mode does lives behind ctx.
 * Every path ends in conn_close(c, reason), the one close path: it logs
 * the connection's line, returns shm counters, lets the mode free its
 * state, closes both sockets and queues the slot for release at the end
 * of the loop iteration, so that no handler ever runs on a freed
 * connection.
 */
#ifndef CT_WORKER_CONN_H
#define CT_WORKER_CONN_H

#include <stdint.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/ev.h"
#include "core/lb.h"
#include "shm/stats.h"
#include "worker/mode.h"
#include "worker/stream.h"

struct worker;
struct pipe_pair;
struct limit_hold;
struct bandwidth;

enum conn_state {
	CONN_IDLE,          /* free slot */
	CONN_OPEN,          /* in use by its mode */
	CONN_CLOSED         /* closed this iteration, slot not yet free */
};

/* A client's address: only IPv4 and IPv6 listen, so not a sockaddr_storage. */
union conn_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct conn {
	struct worker *w;
	struct conn *next;            /* free or dead list */
	const struct conn_mode *mode;
	void *ctx;                    /* the mode's state, of the mode's type, or NULL */
	uint32_t listener;
	union conn_addr peer;         /* the client */
	struct shm_conn *rec;         /* its entry in shm for the control API, or NULL */
	struct stream client;
	struct stream server;
	/*
	 * The upstream connector's (upstream.c), in types as narrow as their
	 * bounds (CONF_SERVERS_MAX, SHM_BACKENDS_MAX): a slot is memory that
	 * every idle connection holds.
	 */
	uint32_t upstream;            /* in conf->upstreams: whose servers server_idx counts in */
	int16_t server_idx;           /* in the upstream's servers, or -1 */
	int16_t next_idx;             /* the server of the retry that waits, or -1 */
	int16_t backend;              /* shm backends slot counted active, or -1 */
	uint16_t attempts;            /* connect attempts made */
	enum conn_state state;
	unsigned up:3;                /* enum upstream_state */
	unsigned pooled:1;            /* the server connection came from a pool */
	unsigned fresh:1;             /* the retry that waits may not take a pooled connection */
	/* The tunnel's (tunnel.c). */
	unsigned client_eof:1;        /* read end of stream from the client */
	unsigned server_eof:1;
	unsigned client_shut:1;       /* shut down our write side to the client */
	unsigned server_shut:1;
	unsigned bw_paused:2;         /* CONF_BW_BIT()s of the directions waiting for budget */
	unsigned parked:1;            /* held for an approval decision (approval.c) */
	unsigned parked_dest:1;       /* ... at its destination, not at accept */
	/* The client's country (geo.c), two upper-case letters, or NULs when unknown. */
	char country[2];
	uint8_t hop;                  /* chain.c: the proxy of via being spoken to */
	uint8_t hop_step;             /* chain.c: where its handshake is */
	struct lb_tried tried;        /* the connector's */
	struct buf *c2s;              /* client -> server bytes in flight */
	struct buf *s2c;              /* server -> client bytes in flight */
	struct pipe_pair *splice;      /* the pipes of spliced directions, or NULL */
	struct limit_hold *limits;     /* places held under connection caps (limit.c), or NULL */
	struct bandwidth *bw;          /* the meters of a listener with bandwidth, or NULL */
	uint64_t start;               /* loop clock, ms */
	uint64_t last_io;             /* for the idle timeout */
	uint64_t from_client;
	uint64_t to_client;
	uint64_t to_server;
	uint64_t from_server;
	struct ev_timer timer;        /* the connector's while it works, else the mode's */
};

/* Publishes c->backend, the server now in use, to the control API. */
static inline void
conn_rec_backend(struct conn *c)
{
	if (c->rec != NULL)
		atomic_store_explicit(&c->rec->backend, (short)c->backend, memory_order_relaxed);
}

/* Publishes the client byte counts to the control API. */
static inline void
conn_rec_bytes(struct conn *c)
{
	if (c->rec != NULL) {
		atomic_store_explicit(&c->rec->from_client, c->from_client, memory_order_relaxed);
		atomic_store_explicit(&c->rec->to_client, c->to_client, memory_order_relaxed);
	}
}

/*
 * Publishes text (a destination, a request) in c's entry of the
 * worker's struct shm_conn_dest table, printable and cut to fit, then
 * backend (SHM_CONN_DEST, SHM_CONN_PENDING_REQUEST...) that says what it
 * is; nothing when c is not listed or the worker has no such table.
 */
void conn_rec_dest(struct conn *c, const char *text, short backend);

/* The shm counters of c's listener, or NULL. */
struct shm_listener *conn_listener_stats(const struct conn *c);

/*
 * Would one more client leave too few descriptors?  Every connection
 * counts for two (its client and its upstream, open or to come), idle
 * pooled connections, splice pipes and the relay sockets of SOCKS UDP
 * associations for what they hold, and a reserve stays free, so that an
 * accepted client always gets its upstream connection.
 */
int conn_fds_short(const struct worker *w);

/* SIGUSR2: closes every connection the admin API asked to kill. */
void conn_kill_requested(struct worker *w);

/*
 * Takes a free slot for a new client socket of listener, run by mode,
 * or NULL when all are in use.
 */
struct conn *conn_get(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len,
    size_t listener, const struct conn_mode *mode);
/*
 * The server in use is done with: its active count and byte counts go
 * back to shm.  The socket is the caller's to pool or close.
 */
void conn_backend_release(struct conn *c);
/* The one close path: logs "end" as the reason. */
void conn_close(struct conn *c, const char *end);
/* After hook: returns closed connections' slots to the free list. */
void conn_release_dead(struct worker *w);

#endif

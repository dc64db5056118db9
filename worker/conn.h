/*
 * A client connection and its upstream side.
 *
 *   client --accept--> [ACL] --pick--> CONNECTING --ok--> RELAY --both done--> closed
 *                                        |  ^  fail                |
 *                                        v  |  (next server,       +--reset / idle--> closed
 *                                       RETRY   up to retries)
 *                                        |
 *                                        +--no server left--> closed
 *
 * Every path ends in conn_close(c, reason), the one close path: it logs
 * the connection's line, returns shm counters, closes both sockets and
 * queues the slot for release at the end of the loop iteration, so that
 * no handler ever runs on a freed connection.
 */
#ifndef CT_WORKER_CONN_H
#define CT_WORKER_CONN_H

#include <stdint.h>

#include "lib/addr.h"
#include "lib/buf.h"
#include "lib/ev.h"
#include "core/lb.h"
#include "shm/stats.h"
#include "worker/http.h"
#include "worker/stream.h"

struct worker;
struct http_ctx;
struct tcp_splice;

enum conn_state {
	CONN_IDLE,          /* free slot */
	CONN_CONNECTING,    /* non-blocking connect() to a server in progress */
	CONN_RETRY,         /* a connect failed; the next attempt runs from the timer */
	CONN_RELAY,         /* both sides open, bytes flowing */
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
	enum conn_state state;
	size_t listener;
	union conn_addr peer;         /* the client */
	struct shm_conn *rec;         /* its entry in shm for the control API, or NULL */
	struct stream client;
	struct stream server;
	int server_idx;               /* in the upstream's servers, or -1 */
	int backend;                  /* shm backends slot counted active, or -1 */
	unsigned attempts;            /* connect attempts made */
	struct lb_tried tried;
	struct buf *c2s;              /* client -> server bytes in flight */
	struct buf *s2c;              /* server -> client bytes in flight */
	unsigned client_eof:1;        /* read end of stream from the client */
	unsigned server_eof:1;
	unsigned client_shut:1;       /* shut down our write side to the client */
	unsigned server_shut:1;
	uint64_t start;               /* loop clock, ms */
	uint64_t last_io;             /* for the idle timeout */
	uint64_t from_client;
	uint64_t to_client;
	uint64_t to_server;
	uint64_t from_server;
	struct ev_timer timer;        /* connect timeout, retry, or idle, by state */
	struct http_ctx *http;        /* mode http: the request in progress */
	struct tcp_splice *splice;    /* the pipes of spliced directions, or NULL */
};

const char *conn_state_name(enum conn_state s);

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

/* The shm counters of c's listener, or NULL. */
struct shm_listener *conn_listener_stats(const struct conn *c);

/* SIGUSR2: closes every connection the admin API asked to kill. */
void conn_kill_requested(struct worker *w);

/* Takes a free slot for a new client socket, or NULL when all are in use. */
struct conn *conn_get(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len,
    size_t listener);
/* The one close path: logs "end" as the reason. */
void conn_close(struct conn *c, const char *end);
/* After hook: returns closed connections' slots to the free list. */
void conn_release_dead(struct worker *w);

/* Entry point of mode tcp, right after accept. */
void tcp_start(struct conn *c);
/*
 * Turns a connected pair into a plain byte tunnel (an HTTP upgrade after
 * 101): c2s/s2c may already hold bytes to deliver.
 */
void tcp_tunnel_start(struct conn *c);
/* Gives back the pipes of c's spliced directions; part of conn_close(). */
void tcp_splice_free(struct conn *c);

#endif

/*
 * The types of a worker process: the state every part of the worker
 * shares.  Apart from worker.h, so that the parts that use the state do
 * not depend on the process's main loop (worker.c), which depends on
 * them.
 */
#ifndef CT_WORKER_WORKER_T_H
#define CT_WORKER_WORKER_T_H

#include <stdint.h>
#include <sys/types.h>

#include "core/cycle.h"
#include "lib/buf.h"
#include "lib/ev.h"
#include "shm/cache.h"

struct auth_worker;
struct events_worker;
struct resolver;
struct conn;
struct resolver;
struct logbuf;
struct rules_scratch;
struct shm_conn;
struct shm_conn_tls;
struct shm_conn_dest;

/*
 * Pipes a worker may hold for splicing bulk TCP directions (two
 * descriptors each), so that they never take the descriptors that
 * accept() and connect() need.
 */
#define WORKER_PIPES_MAX(worker_connections) ((worker_connections) / 8 + 8)

/* One listening socket this worker accepts on, or reads datagrams from. */
struct worker_listener {
	struct worker *w;
	size_t index;                 /* in conf->listeners */
	struct ev_io io;
	/*
	 * The socket, kept after io stops: a datagram mode's sessions send
	 * their replies through it while the worker drains.
	 */
	int fd;
	unsigned datagram:1;          /* its mode reads it (conn_mode.datagram) */
};

struct worker {
	struct cycle *cy;
	unsigned slot;
	unsigned generation;
	pid_t master;
	struct ev_loop *loop;
	struct worker_listener *listeners;  /* own slot's sockets, and parked ones in slot 0 */
	size_t nlisteners;
	struct conn *conns;           /* worker_connections slots, allocated up front */
	struct shm_conn *recs;        /* their entries in shm, parallel; NULL: not listed */
	struct shm_conn_tls *tls_recs; /* and their TLS details, parallel; NULL: none */
	struct shm_conn_dest *dest_recs; /* and the destinations clients named; NULL: none */
	struct conn *free;            /* free slots */
	struct conn *dead;            /* closed this iteration; freed in the after hook */
	size_t nconns;                /* in use, including dead */
	struct buf_pool bufs;
	struct logbuf **access;       /* per listener, its access log's buffer; NULL: none */
	struct ev_timer logs_retry;     /* a slow log reader left bytes: write them again */
	void *modes[CONF_MODES];      /* per mode, what it keeps per worker (http: its pool) */
	size_t idle_max;              /* idle pooled upstream connections it may keep */
	size_t nidle;                 /* idle pooled upstream connections open */
	/* Per shm backend, the last TLS session with it (upstream.c); NULL: none yet. */
	struct ssl_session_st **tls_sessions;
	struct rules_scratch *rules;  /* request rules' match state, made at first use */
	size_t fds_limit;             /* RLIMIT_NOFILE soft; SIZE_MAX: none */
	size_t fds_base;              /* open before the first connection */
	size_t fds_reserve;           /* kept free for upstream connections */
	size_t fds_extra;             /* held beyond two per connection: socks UDP relay sockets */
	uint64_t fds_said;            /* when "too many open files" was last logged */
	struct ev_timer resume;       /* ends an accept pause after EMFILE */
	unsigned accept_paused:1;     /* listeners muted for lack of fds or slots */
	unsigned full_logged:1;       /* "worker_connections reached" said once */
	unsigned emfile_logged:1;     /* "too many open files" said once */
	unsigned quitting:1;          /* graceful: no more accepts, exit when idle */
	unsigned nparked;             /* connections held for an approval decision */
	uint64_t approval_gen;        /* of the decisions when held ones were last looked at */
	struct auth_worker *auth;     /* password checks (auth.c); NULL until the first */
	struct resolver *resolver;    /* name lookups (resolve.h); NULL: no mode resolves */
	struct events_worker *events; /* connection events (events.h); NULL: no admin process */
	struct shm_cache_user *caches; /* per conf->caches, this process's use; NULL: none */
	struct shm_cache_wake cache_wake;  /* every worker's wake fds, and this one's index */
	struct ev_io cache_wake_io;   /* its own: a fill it waits on moved */
};

#endif

/*
 * What the control API shows beyond the servers: per-listener counters
 * with a latency histogram, and every live client connection.
 *
 * Listeners table: slots keyed by listener name, like upstreams, so that
 * counters survive a reload, and referenced by each generation that has
 * the listener, so that a name no generation has any more frees its
 * slot.  Workers add to them with relaxed atomics.
 *
 * Workers table: one record per live worker process of any generation.
 * The master takes a record before fork() and gives it back, with its
 * connection table, when it reaps the worker.  A record points to an array of connection entries
 * parallel to the worker's own connection slots: the worker writes entry
 * i when its slot i opens, changes server, moves bytes or closes.  The
 * admin process reads them; its one write is the kill word, after which
 * it signals the worker (SIGUSR2) to look.
 *
 * An entry is in use while id != 0.  The worker fills the fields first
 * and publishes id last (release); a reader loads id (acquire), copies
 * the fields, and loads id again: if it changed, the copy is of a slot
 * reused meanwhile and is dropped.
 */
#ifndef CT_SHM_STATS_H
#define CT_SHM_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shm/shm.h"

#define SHM_LISTENERS_MAX 256
/* Request rules counted per listener, by their index in it (conf/rules.h). */
#define SHM_RULES_MAX     64
#define SHM_WORKERS_MAX   256

/*
 * Latency buckets, upper bounds in microseconds; the last bucket of a
 * histogram is +Inf.  Counts are per bucket, made cumulative when shown.
 */
#define SHM_HIST_BOUNDS 13
extern const uint64_t shm_hist_bound_us[SHM_HIST_BOUNDS];

struct shm_hist {
	atomic_uint_fast64_t bucket[SHM_HIST_BOUNDS + 1];
	atomic_uint_fast64_t sum_us;
};

/* Why a TLS handshake failed, for /metrics (worker/tls.c sorts them). */
enum shm_tls_fail {
	SHM_TLS_FAIL_TIMEOUT,       /* no handshake within handshake_timeout */
	SHM_TLS_FAIL_CLOSED,        /* the client closed or reset mid-handshake */
	SHM_TLS_FAIL_NOT_TLS,       /* the bytes were not TLS (plain HTTP, garbage) */
	SHM_TLS_FAIL_PROTOCOL,      /* no protocol version in common */
	SHM_TLS_FAIL_CIPHER,        /* no cipher in common */
	SHM_TLS_FAIL_CLIENT_CERT,   /* no client certificate, or one that did not verify */
	SHM_TLS_FAIL_ALERT,         /* the client sent an alert (it refused ours) */
	SHM_TLS_FAIL_OTHER,
	SHM_TLS_FAILS
};
extern const char *const shm_tls_fail_names[SHM_TLS_FAILS];

/* What a listener's geo block decided about a client (worker/geo.c). */
enum shm_geo_result {
	SHM_GEO_ALLOWED,            /* let in, by a network or a known country */
	SHM_GEO_DENIED,             /* closed at accept */
	SHM_GEO_UNKNOWN,            /* let in without a known country */
	SHM_GEO_RESULTS
};
extern const char *const shm_geo_result_names[SHM_GEO_RESULTS];

/*
 * Why a datagram was not relayed, by mode udp (worker/udp.c) or by a
 * SOCKS 5 UDP association (worker/socks_udp.c).  SEND and REPLY are
 * both's; the three before them mode udp's, the ones after them the
 * associations', and HEADER, FRAGMENT, WAIT and PEER mode udp's too
 * through SOCKS 5 hops (worker/udp_via.c), for what comes back from
 * the first hop and what waits for the hops' associations.
 */
enum shm_udp_drop {
	SHM_UDP_DROP_SESSIONS,      /* a new client's, beyond max_sessions, slots or descriptors */
	SHM_UDP_DROP_ACL,           /* a new client's that the listener's acl refuses */
	SHM_UDP_DROP_NO_SERVER,     /* a new client's, and no server to open a session with, or
	                               no hop path to it: its associations failed */
	SHM_UDP_DROP_SEND,          /* a client's that the server's (destination's) socket did not take */
	SHM_UDP_DROP_REPLY,         /* a server's that the client's socket did not take */
	SHM_UDP_DROP_SOURCE,        /* to an association, not from its client's address and port */
	SHM_UDP_DROP_HEADER,        /* a client's (a hop's) with a malformed SOCKS UDP header, or port 0 */
	SHM_UDP_DROP_FRAGMENT,      /* a client's (a hop's) fragment (FRAG != 0): not reassembled */
	SHM_UDP_DROP_DEST,          /* a client's to a destination the rules refuse */
	SHM_UDP_DROP_RESOLVE,       /* a client's to a name that did not resolve */
	SHM_UDP_DROP_WAIT,          /* a client's to a name being resolved, or before its session's
	                               hops' associations are up, with no room to wait */
	SHM_UDP_DROP_PEER,          /* to an association's relay, from no destination of its client;
	                               a hop's whose header names neither the next hop nor the server */
	SHM_UDP_DROPS
};
extern const char *const shm_udp_drop_names[SHM_UDP_DROPS];

/* How the request of a forward or socks client ended (worker/proxy.c). */
enum shm_proxy_result {
	SHM_PROXY_GRANTED,          /* connected: the tunnel runs */
	SHM_PROXY_RULES,            /* refused by the destinations, or a CONNECT port */
	SHM_PROXY_NO_NAME,          /* the name does not exist or has no address */
	SHM_PROXY_RESOLVER,         /* the name servers did not answer */
	SHM_PROXY_CONNECT,          /* no address of the destination could be reached */
	SHM_PROXY_AUTH,             /* no, wrong or throttled credentials */
	SHM_PROXY_PROTOCOL,         /* a malformed or unsupported request */
	SHM_PROXY_TIMEOUT,          /* no whole request within the handshake timeout */
	SHM_PROXY_APPROVAL,         /* the client may not go there: a decision, a rule or the policy */
	SHM_PROXY_RESULTS
};
extern const char *const shm_proxy_result_names[SHM_PROXY_RESULTS];

/* What became of clients of a listener with approval (worker/approval.c). */
enum shm_approval_result {
	SHM_APPROVAL_ALLOWED,       /* let in: rule, decision, policy or on_timeout */
	SHM_APPROVAL_DENIED,        /* refused: the same */
	SHM_APPROVAL_PENDING,       /* held for a decision */
	SHM_APPROVAL_TIMED_OUT,     /* held for wait without one */
	SHM_APPROVAL_FULL,          /* refused: max_pending clients held already */
	SHM_APPROVAL_RESULTS
};
extern const char *const shm_approval_result_names[SHM_APPROVAL_RESULTS];

/* TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 */
#define SHM_TLS_VERSIONS 4
extern const char *const shm_tls_version_names[SHM_TLS_VERSIONS];
/* The ciphers counted by name; the last slot counts every other. */
#define SHM_TLS_CIPHERS 10
extern const char *const shm_tls_cipher_names[SHM_TLS_CIPHERS];

/* How a basic authentication of mode http ended. */
enum shm_auth_result {
	SHM_AUTH_OK,                /* the verifier matched the password */
	SHM_AUTH_CACHED,            /* credentials verified before, from the worker's cache */
	SHM_AUTH_DENIED,            /* 401: none, another scheme, unknown user, wrong password */
	SHM_AUTH_MALFORMED,         /* 400: credentials that do not parse */
	SHM_AUTH_THROTTLED,         /* 429: too many failures from the client's address */
	SHM_AUTH_RESULTS
};
extern const char *const shm_auth_result_names[SHM_AUTH_RESULTS];

struct shm_tls_stats {
	atomic_uint_fast64_t handshakes;  /* completed */
	atomic_uint_fast64_t resumed;     /* of which resumed a session */
	atomic_uint_fast64_t failed[SHM_TLS_FAILS];
	atomic_uint_fast64_t version[SHM_TLS_VERSIONS];
	atomic_uint_fast64_t cipher[SHM_TLS_CIPHERS];
};

struct shm_listener {
	atomic_uint_fast64_t in_use;      /* as struct shm_named */
	uint32_t refs;
	char name[SHM_NAME_LEN];
	atomic_uint_fast64_t accepted;    /* client connections taken; udp: sessions opened */
	atomic_uint_fast64_t active;      /* open now */
	atomic_uint_fast64_t requests;    /* mode http: requests answered */
	atomic_uint_fast64_t status[5];   /* mode http: answers by class, 1xx .. 5xx */
	atomic_uint_fast64_t bytes_in;    /* from clients */
	atomic_uint_fast64_t bytes_out;   /* to clients */
	struct shm_hist duration;         /* http: per request; tcp: per connection; udp: per session */
	struct shm_tls_stats tls;         /* listeners that terminate TLS */
	atomic_uint_fast64_t auth[SHM_AUTH_RESULTS]; /* http: basic authentications, by result */
	/* geo and request rules: a listener's own, by its configuration */
	atomic_uint_fast64_t geo[SHM_GEO_RESULTS];
	atomic_uint_fast64_t rule_hits[SHM_RULES_MAX];     /* the rule matched and decided */
	atomic_uint_fast64_t rule_errors[SHM_RULES_MAX];   /* its expression hit a match limit */
	atomic_uint_fast64_t rule_default[2];              /* no rule matched: allowed, denied */
	/* bandwidth (worker/bandwidth.c) */
	atomic_uint_fast64_t bw_paused[2]; /* reads put off for budget, by CONF_BW_UP / _DOWN */
	/* mode udp and SOCKS UDP associations; relayed ones counted when their session ends */
	atomic_uint_fast64_t dgrams_in;   /* datagrams from clients, relayed */
	atomic_uint_fast64_t dgrams_out;  /* datagrams to clients */
	atomic_uint_fast64_t udp_dropped[SHM_UDP_DROPS]; /* not relayed, counted at once */
	/* modes forward and socks */
	atomic_uint_fast64_t proxy[SHM_PROXY_RESULTS];
	/* approval */
	atomic_uint_fast64_t approval[SHM_APPROVAL_RESULTS];
	atomic_uint_fast64_t approval_pending;   /* held now, by every worker */
};

struct shm_conn {
	atomic_uint_fast64_t id;          /* 0: free */
	uint64_t started_ms;              /* CLOCK_REALTIME */
	atomic_uint_fast64_t from_client;
	atomic_uint_fast64_t to_client;
	/*
	 * Set by the admin API to the id to close: an id, not a flag, so that
	 * a slot reused in the meantime never closes the newcomer.
	 */
	atomic_uint_fast64_t kill;
	/*
	 * shm backends slot of the server; -1: none; SHM_CONN_DEST: a
	 * destination its client named, in the entry's struct
	 * shm_conn_dest, stored (release) after it.
	 */
	atomic_short backend;
	uint16_t listener;                /* shm listeners slot; 0xffff: none */
	uint16_t port;                    /* the client's, host order */
	uint8_t family;                   /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	/*
	 * A client on TLS: SHM_CONN_TLS() of its version and cipher (indexes
	 * in shm_tls_version_names and shm_tls_cipher_names); 0: none.  The
	 * last byte of the cache line; stored (release) after the entry's
	 * struct shm_conn_tls, which is then no longer written.
	 */
	atomic_uchar tls;
};

/*
 * What a TLS client's entry shows beyond its version and cipher, in a
 * table parallel to the entries that only workers of a configuration
 * with TLS listeners have: a plain connection's entry stays one line.
 */
struct shm_conn_tls {
	char sni[64];                     /* printable ASCII, cut to fit */
	char subject[128];                /* the client certificate's, RFC 2253 */
};

/*
 * The destination a forward or socks client asked for, or the first
 * request of a client held on a plain http listener with approval, in a
 * table parallel to the entries that only workers of a configuration
 * with such listeners have.
 */
struct shm_conn_dest {
	char name[64];                    /* "host:port" or "GET host /path", printable, cut to fit */
};

#define SHM_CONN_DEST ((short)-2)
/* A client held for an approval decision (worker/approval.c): no server yet. */
#define SHM_CONN_PENDING ((short)-3)
/* Held, and its first request is in the entry's struct shm_conn_dest. */
#define SHM_CONN_PENDING_REQUEST ((short)-4)
/* Held, and the destination it named is in the entry's struct shm_conn_dest. */
#define SHM_CONN_PENDING_DEST ((short)-5)
#define SHM_CONN_IS_PENDING(b) \
	((b) == SHM_CONN_PENDING || (b) == SHM_CONN_PENDING_REQUEST || (b) == SHM_CONN_PENDING_DEST)

#define SHM_CONN_TLS(version, cipher) ((unsigned char)(((version) + 1) | (cipher) << 3))
#define SHM_CONN_TLS_VERSION(b)       (((b) & 7) - 1)
#define SHM_CONN_TLS_CIPHER(b)        ((b) >> 3)

struct shm_worker {
	atomic_int pid;                   /* 0: free record */
	uint32_t generation;
	uint32_t slot;
	uint32_t nconns;                  /* entries at conns_off */
	uint64_t conns_off;               /* 0: no table (the segment was full) */
	uint64_t tls_off;                 /* struct shm_conn_tls per entry; 0: none */
	uint64_t dest_off;                /* struct shm_conn_dest per entry; 0: none */
	atomic_int ready;                 /* set by the worker once it accepts */
};

int shm_stats_init(struct shm *shm);

struct shm_listener *shm_listener_get(const struct shm *shm, int idx);
/*
 * Finds the slot of this name or takes a free one, with a reference;
 * -1 when full.  A release drops the reference; the last one frees it.
 */
int shm_listener_acquire(struct shm *shm, const char *name);
void shm_listener_release(struct shm *shm, int idx);

struct shm_worker *shm_worker_get(const struct shm *shm, int idx);
/*
 * Master, before fork(): takes a free record with a new table of nconns
 * entries.  Returns the record index, or -1 when every record is taken.
 * A record whose table did not fit has conns_off 0: that worker runs,
 * unlisted.  shm_worker_release() frees the table and then the record
 * (pid 0); the admin process reads only records with a pid.
 */
/*
 * tls: the workers' listeners terminate TLS, and the TLS table is wanted
 * too; dest: their clients name destinations (forward, socks), and the
 * table of those is wanted.
 */
int shm_worker_acquire(struct shm *shm, unsigned generation, unsigned slot, unsigned nconns,
    int tls, int dest);
void shm_worker_release(struct shm *shm, int idx);
/* The worker's entries, or NULL. */
struct shm_conn *shm_worker_conns(const struct shm *shm, const struct shm_worker *w);
/* Their TLS details, parallel to them, or NULL. */
struct shm_conn_tls *shm_worker_conns_tls(const struct shm *shm, const struct shm_worker *w);
struct shm_conn_dest *shm_worker_conns_dest(const struct shm *shm, const struct shm_worker *w);

/* A new, cluster-unique connection id (never 0). */
uint64_t shm_conn_id_next(struct shm *shm);

/* The logs whose dropped lines are counted. */
enum shm_log {
	SHM_LOG_ERROR,       /* the error log */
	SHM_LOG_ACCESS       /* every access log */
};

void shm_log_dropped_add(struct shm *shm, enum shm_log log, uint64_t n);
uint64_t shm_log_dropped(const struct shm *shm, enum shm_log log);

/* Counts one sample of us microseconds into h. */
void shm_hist_add(struct shm_hist *h, uint64_t us);

#endif

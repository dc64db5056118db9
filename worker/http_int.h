/*
 * Inside mode http: the request context and what its files share.
 * Kept out of worker/http.h so that nothing outside the mode depends on
 * the shape of a request.  The files, in the order a request meets them:
 *
 *   http.c           the state machine driver: events, timers, next request
 *   http_request.c   the request head: parsing, routing, the upstream head
 *   http_access.c    the access phase: checks run in order before upstream
 *   http_auth.c      basic authentication, a handler of the access phase
 *   http_upstream.c  the pool, connect and retry, sending, the response head
 *   http_response.c  the response head to the client, relaying its body,
 *                    cuttle's own answers
 *   http_filter.c    the body filter chain: dechunk, gzip
 *   http_log.c       the access log line of a request
 *   http_buf.c       buffers, head writing, stream reads and writes
 *   http_forward.c   mode forward's absolute-form requests: the same
 *                    machinery, with the target's authority for a route
 */
#ifndef CT_WORKER_HTTP_INT_H
#define CT_WORKER_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_parse.h"
#include "lib/log.h"
#include "worker/conn.h"
#include "worker/udp_table.h"
#include "worker/upstream.h"
#include "worker/worker-t.h"

struct proxy_dest;
struct http_cache_req;
struct http_cache_bg;

#define HTTP_LOG_TARGET  256       /* bytes of the target kept for logs */
#define HTTP_FILTERS_MAX 3         /* body filters one response can pass through */
#define HTTP_INTERIM_MAX 32        /* interim (1xx) responses relayed for one request */
#define HTTP_LOG_USER    64        /* bytes of the user name kept for logs */

enum http_state {
	H_IDLE,          /* keep-alive: waiting for the first byte of a request */
	H_HEAD,          /* reading the request head */
	H_CONNECT,       /* connecting to the upstream server */
	H_SEND,          /* sending the request head and body upstream */
	H_RECV,          /* waiting for the response head */
	H_RELAY,         /* relaying the response body to the client */
	H_LOCAL,         /* writing an answer of cuttle's own */
	H_DISCARD,       /* answered: reading and dropping the rest of the request body */
	H_LINGER,        /* answer sent, write side shut: draining the client */
	H_PARKED,        /* the access phase waits (a delay, a check done elsewhere) */
	H_CACHE          /* writing a stored response (http_cache.c) */
};

/* Where the authentication of a request stands (http_auth.c). */
enum http_auth_state {
	HTTP_AUTH_NONE,  /* not looked at yet */
	HTTP_AUTH_WAIT,  /* parked while the verifier checks the password */
	HTTP_AUTH_OK,    /* authenticated */
	HTTP_AUTH_DENIED /* the verifier said the password is wrong */
};

struct http_buf {
	char *p;
	size_t start;    /* first byte not yet consumed */
	size_t end;      /* one past the last byte */
	size_t cap;
};

/*
 * A phase handler of the access phase (http_access.c).  Returns CT_OK
 * (passed: go on), CT_DECLINED (not its business: go on), CT_DONE (it
 * answered the request, e.g. with http_answer()), CT_AGAIN (it parked
 * the request and will call http_request_access() when it may go on;
 * the run resumes at the same handler), or CT_ERROR (it closed the
 * connection).
 */
typedef int (*http_phase_cb)(struct conn *c);

/*
 * Body bytes between two links of the filter chain: buf->p[buf->start
 * ..end) are ready for the next link, [fresh..end) arrived since the
 * last step; last: the body ends at end.
 */
struct http_body {
	struct http_buf *buf;
	size_t end;
	size_t fresh;
	unsigned last:1;
};

/*
 * A body filter (http_filter.c): a transformation of a response body on
 * its way to the client.
 */
struct http_filter {
	const char *name;
	/*
	 * Called once per final response, the head parsed and the fields
	 * of the head to the client written up to the framing ones, from
	 * the filter nearest the client back to the server, so that a
	 * filter knows whether others follow it (h->nfilters).  Returns
	 * CT_OK when it takes part (it may append fields to h->out and
	 * set h->body_framing, the framing toward the client), CT_DECLINED
	 * when not, CT_ERROR when out of memory.
	 */
	int (*init)(struct conn *c);
	/*
	 * One step: takes what it can of in (moving in->buf->start) and
	 * describes in out what it holds for the next link, with out->last
	 * once its output is complete.  Returns CT_OK, or CT_ERROR (logged)
	 * to end the connection with fail as the reason.
	 */
	int (*body)(struct conn *c, struct http_body *in, struct http_body *out);
	/* Frees its state for this response; NULL when it keeps none. */
	void (*free)(struct conn *c);
	const char *fail;
};

struct http_ctx {
	enum http_state state;
	struct http_buf in;          /* client bytes: head, body, pipelined requests */
	struct http_buf rin;         /* upstream bytes */
	struct http_buf out;         /* heads and answers being written */
	int out_to_client;           /* out goes to the client (else upstream) */

	/* request */
	struct http_head_scan scan;  /* how far the checks of a partial head went */
	struct http_slice route_path; /* the path routes match: normalized */
	const struct conf_route *route;
	/* The worker's own request of a background revalidation (http_cache_bg.c), or NULL. */
	struct http_cache_bg *cache_bg;
	char method[16];
	char target[HTTP_LOG_TARGET];
	int minor;
	int client_keepalive;
	size_t body_end;             /* in: bytes up to here are request body */
	uint64_t body_left;          /* Content-Length body still to read */
	uint64_t body_total;
	struct http_chunked chunked;
	unsigned body_done:1;
	unsigned cont_left:5;        /* bytes of the "100 Continue" still to write */
	unsigned accepts_gzip:1;     /* decided from the head, before its bytes are reused */
	unsigned resume:1;           /* a pipelined head waits for the timer to be parsed */
	uint64_t timer_mark;         /* bytes moved for the client when the timer was last renewed */
	unsigned shut_pending:1;     /* lingering: the client's write side is yet to shut down */
	unsigned phase;              /* access: the next phase handler to run */
	unsigned limit_next;         /* access: the next of the route's limits to check */
	unsigned auth_state:2;       /* enum http_auth_state */
	unsigned proxy_counted:1;    /* forward: how the request ended is in the metrics */
	uint64_t auth_job;           /* the check the request is parked for */
	char user[HTTP_LOG_USER];    /* the user named in the credentials, for the log */

	/* upstream */
	unsigned resp_started:1;     /* a byte of the final response reached the client */
	unsigned upgrade:1;
	unsigned local_close:1;      /* close after the local answer */
	unsigned logged:1;           /* this request's log line is written */
	unsigned resend_no:1;        /* out no longer holds the request head: no resend */
	unsigned interim;            /* interim responses relayed so far */
	uint64_t resp_from;          /* bytes when the final response head came */
	char why[160];               /* the reason of an upstream failure */
	size_t resp_end;             /* rin: bytes up to here are response body */
	uint64_t resp_left;
	struct http_chunked resp_chunked;
	unsigned resp_done:1;
	unsigned resp_close:1;       /* the response ends at the server's close */
	unsigned piped:1;            /* the body goes on by splice through pipe */
	int pipe[2];
	size_t pipe_len;             /* body bytes waiting in pipe */

	/* body filters: none for most responses, and then the direct path */
	const struct http_filter *filters[HTTP_FILTERS_MAX];  /* from the server on */
	unsigned nfilters;
	enum http_framing body_framing;   /* of the body as it goes to the client */
	struct gzip_filter *gz;      /* gzip: the compressor */
	unsigned gz_done:1;          /* gzip: the stream is closed */
	struct http_chunked dechunk; /* dechunk: the decoder */

	/* log */
	int status;
	const char *reason;
	char reason_buf[96];         /* for a reason made up for one request */
	const struct conf_rule *rule;  /* the request rule that decided, or NULL */
	uint64_t bytes;              /* sent to the client for this request */
	uint64_t t_start, t_connect, t_header;

	/* Last, so that a reset leaves their field arrays alone: see http_ctx_clear(). */
	struct http_response resp;
	struct http_request req;
	/*
	 * The path as routed, when it differs from the target's: rarely
	 * used, so behind what a reset clears rather than saved across it.
	 */
	struct http_buf norm;
	/*
	 * A forward listener's request: its destination (proxy.h), made at
	 * the first such request and kept with the context as norm is;
	 * meaningful only while route is http_forward_route.
	 */
	struct proxy_dest *dest;
	/* A cached route's request (http_cache.c), or NULL. */
	struct http_cache_req *cache;
};

/* The request state of a connection of mode http (conn->ctx). */
static inline struct http_ctx *
http_ctx_of(const struct conn *c)
{
	return c->ctx;
}

/*
 * An idle upstream connection waiting for reuse: the whole stream, so
 * that a TLS connection keeps its session (ops and ssl) in the pool.
 */
struct http_idle {
	struct worker *w;
	struct http_idle *next;
	struct http_idle **pprev;
	unsigned *count;             /* of the list it is in */
	struct http_dest_idle *dest; /* a destination's list, or NULL: an upstream server's */
	int server_idx;
	struct stream s;
	struct ev_timer timer;
};

/*
 * The idle connections of a forward listener to one destination address
 * and port, whatever names the requests gave it: plain HTTP/1.1 carries
 * the Host in each request, so a connection serves any name the address
 * has.  Made with the first, gone with the last.
 */
struct http_dest_idle {
	struct udp_entry e;          /* first: keyed by listener and address (udp_table.h) */
	struct http_idle *first;
	unsigned count;
	struct http_dest_idle *spare; /* out of the table: the next spare one */
};

#define HTTP_CTX_CACHE 64

/* The mode's per-worker state: spare contexts and idle upstream connections. */
struct http_pool {
	struct http_ctx *cache[HTTP_CTX_CACHE];  /* spare contexts, buffers attached */
	unsigned ncache;
	/*
	 * Spare idle entries: a keep-alive request takes its upstream
	 * connection out of the pool and puts it back, and would otherwise
	 * allocate and free an entry each time.  No more are kept than were
	 * ever idle at once.
	 */
	struct http_idle *spare;
	size_t nlists;
	size_t *first;               /* per upstream: index of its first list */
	struct http_idle **lists;    /* per (upstream, server) */
	unsigned *count;
	/* Forward listeners' destinations: made at the first one's idle connection. */
	struct udp_table dests;      /* of struct http_dest_idle */
	unsigned *dest_count;        /* per listener: its idle connections, all destinations */
	struct http_dest_idle *dest_spare;
	/* Spare states of cached requests: a hit would otherwise allocate one. */
	struct http_cache_req *cache_spare[HTTP_CTX_CACHE];
	unsigned ncache_spare;
	struct http_cache_req *cache_waiting;  /* requests following another's fill */
	struct http_cache_bg *cache_bg;        /* background revalidations under way */
	unsigned ncache_bg;
};

/* --------------------------------------------------- small helpers */

static inline const struct conf_listener *
http_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

static inline uint64_t
http_now(const struct conn *c)
{
	return ev_now(c->w->loop);
}

static inline void
http_timer_arm(struct conn *c, uint64_t ms)
{
	/* The heap has room for every connection: a failure is a bug, not a load. */
	if (ev_timer_start(c->w->loop, &c->timer, ms) != CT_OK) {
		log_alert("cannot arm the timer of a connection: closing it");
		conn_close(c, "internal error: no timer");
	}
}

static inline void
http_client_gone(struct conn *c, const char *why)
{
	conn_close(c, why);
}

/* The address of the server c is talking to, for logs; a destination as asked. */
static inline const char *
http_server_name(const struct conn *c)
{
	if (c->upstream == UPSTREAM_DEST)
		return c->mode->upstream_dest(c)->name;
	return c->w->cy->conf->upstreams[c->upstream].servers[c->server_idx].address;
}

/* ------------------------------------------------- http_buf.c */

/*
 * Heads are written piece by piece, a piece being bytes and their length:
 * HTTP_CAT(b, HP("Host: "), HS(req->host), HP("\r\n")) sizes the whole
 * run, grows b once and copies.  No format strings on the request path.
 */
struct http_piece {
	const char *p;
	size_t len;
};

#define HP(lit)       ((struct http_piece){ "" lit, sizeof(lit) - 1 })
#define HS(slice)     ((struct http_piece){ (slice).p, (slice).len })
#define HZ(str)       ((struct http_piece){ (str), strlen(str) })
/* A field's value, or nothing when the field is absent. */
#define HV(field)     ((field) != NULL ? HS((field)->value) : HP(""))
/* lit when cond holds, else nothing. */
#define HC(cond, lit) ((cond) ? HP(lit) : HP(""))
#define HTTP_CAT(b, ...) http_buf_cat((b), (const struct http_piece[]){ __VA_ARGS__ }, \
	sizeof((const struct http_piece[]){ __VA_ARGS__ }) / sizeof(struct http_piece))

int http_buf_reserve(struct http_buf *b, size_t room);
int http_buf_add(struct http_buf *b, const char *s, size_t len);
int http_buf_cat(struct http_buf *b, const struct http_piece *v, size_t n);
void http_buf_free(struct http_buf *b);
/* v in decimal / hexadecimal, in buf (24 bytes) */
struct http_piece http_num(char *buf, uint64_t v);
struct http_piece http_hex(char *buf, uint64_t v);
/* Reads from s into b; returns bytes, CT_AGAIN, CT_DONE or CT_ERROR. */
ssize_t http_read(struct stream *s, struct http_buf *b, size_t *mark, size_t want);
/* The same, reading max bytes at most (the bandwidth's budget). */
ssize_t http_read_max(struct stream *s, struct http_buf *b, size_t *mark, size_t want,
    size_t max);
/* Writes b[start..upto) to s; returns CT_OK when all went, CT_AGAIN, CT_ERROR. */
int http_write(struct stream *s, struct http_buf *b, size_t upto, uint64_t *count);
int http_write2(struct stream *s, struct http_buf *a, size_t a_upto, struct http_buf *b,
    size_t b_upto, uint64_t *count);

/* ------------------------------------------------- http.c */

void http_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
void http_timer(struct ev_loop *loop, struct ev_timer *t);
/* A zeroed context for a new request in c->ctx, or CT_ERROR; and its return. */
int http_ctx_get(struct conn *c);
void http_ctx_put(struct worker *w, struct http_ctx *h);
/* The mode's free and describe (mode.h). */
void http_free(struct conn *c);
void http_describe(const struct conn *c, char *buf, size_t len);
/* Runs the current state's step and sets epoll interest for the next. */
void http_progress(struct conn *c);
/* Finishes the current request and goes on with the connection. */
void http_request_done(struct conn *c);

/* ------------------------------------------------- http_request.c */

/* H_HEAD / H_IDLE: read the client until a head parses. */
void http_step_head(struct conn *c);
void http_head_parse(struct conn *c);
/*
 * The access phase, then the upstream; called again by a phase handler
 * that parked the request.
 */
void http_request_access(struct conn *c);
/* The request, past its access phase and the cache, goes to the upstream. */
void http_request_upstream(struct conn *c);
/* Marks which bytes of h->in are request body, up to its end. */
int http_body_scan(struct conn *c);
/* Answers "100 Continue" now if the request waits for it. */
void http_continue_start(struct conn *c);
/* The head of a forward listener's request to its destination, in h->out. */
int http_forward_head_build(struct conn *c);
/*
 * Writes what is left of the "100 Continue" that the request asked for:
 * CT_OK when all of it went (or the client is gone: its next read says
 * so), CT_AGAIN when the client must become writable first.
 */
int http_continue_flush(struct conn *c);
/* Whether the request has cookie name, and then its value in *v. */
int http_cookie_get(const struct http_request *req, const char *name, struct http_slice *v);
#define HTTP_F_BIT(id) (UINT32_C(1) << (id))
/* drop: ndrop more names not to copy, "_" taken for "-". */
int http_fields_copy(struct http_buf *o, const struct http_head *hd,
    const struct conf_header_ops *ops, uint32_t skip, char *const *drop, size_t ndrop);
int http_ops_add(struct http_buf *o, const struct conf_header_ops *ops);
/* Does the route's remove or set take over the field called name? */
int http_ops_takes(const struct conf_header_ops *ops, struct http_slice name);

/* ------------------------------------------------- http_access.c */

/*
 * Runs the access phase's handlers from h->phase on.  Returns CT_OK when
 * the request may go upstream, else what the handler that stopped it
 * returned (CT_DONE, CT_AGAIN or CT_ERROR).
 */
int http_access_run(struct conn *c);
/* http_limit.c: the route's limits, a phase handler. */
int http_access_limit(struct conn *c);
/*
 * A phase handler parks its request (and returns CT_AGAIN): nothing is
 * read or written for it meanwhile, and the access phase runs again
 * from that handler after ms (a delay), or at once when http_unpark()
 * is called (ms 0: only then).  The handler sees its own state in the
 * context to know it already decided.
 */
void http_park(struct conn *c, uint64_t ms);
void http_unpark(struct conn *c);

/* ------------------------------------------------- http_upstream.c */

struct http_pool *http_pool_get(struct worker *w);
/* Closes every pooled upstream connection of the worker (its exit). */
void http_pool_close_all(struct worker *w);
/* Goes upstream through the connector (upstream.h); then the entries below. */
void http_upstream_start(struct conn *c);
/* The connector's calls (mode.h). */
int http_pool_take(struct conn *c, int server_idx);
void http_upstream_ready(struct conn *c);
void http_upstream_give_up(struct conn *c, int status, const char *why);
int http_upstream_resend(const struct conn *c);
const void *http_upstream_key(const struct conn *c, size_t *len);
const char *http_upstream_sni(const struct conn *c);
/* Gives the server connection back (pool or close) and its shm count. */
void http_upstream_release(struct conn *c, int reusable);
/* The same for a forward listener's destination: its pool is per address. */
int http_dest_pool_take(struct conn *c, int idx);
void http_dest_release(struct conn *c, int reusable);
/* H_SEND: request head, then body, to the upstream. */
void http_step_send(struct conn *c);
/* H_RECV: the response head (interim ones are relayed first). */
void http_step_recv(struct conn *c);

/* ------------------------------------------------- http_response.c */

const char *http_reason_phrase(int code);
/*
 * Queues an answer of cuttle's own.  close_after: the connection ends
 * after it (errors in the request stream), with a lingering close.
 */
void http_answer(struct conn *c, int status, const char *reason, const char *ctype,
    const char *body, size_t body_len, const char *location, int close_after);
/* The same with fields of its own ("Name: value\r\n" lines; NULL: none). */
void http_answer_fields(struct conn *c, int status, const char *reason, const char *ctype,
    const char *body, size_t body_len, const char *fields, int close_after);
void http_error(struct conn *c, int status, const char *reason);
/* As http_answer(), with one more field, name: value (no Location). */
void http_answer_field(struct conn *c, int status, const char *reason, const char *ctype,
    const char *body, size_t body_len, const char *name, const char *value, int close_after);
int http_response_head_build(struct conn *c);
void http_step_relay(struct conn *c);
void http_step_local(struct conn *c);
void http_step_discard(struct conn *c);
void http_step_linger(struct conn *c);

/* ------------------------------------------------- http_filter.c */

/* Does the request head take a gzip response (Accept-Encoding)? */
int http_accepts_gzip(const struct http_head *hd);
/* Is the response in h->resp to be compressed for this client (compress, its type, ...)? */
int http_compress_wanted(const struct conn *c);
/*
 * The part of the "100 Continue" not yet written, for an answer that
 * must follow it: *len bytes at the returned pointer.
 */
const char *http_continue_left(const struct conn *c, size_t *len);
/* Chooses the filters of this response (see struct http_filter's init). */
int http_filter_init(struct conn *c);
/*
 * Moves the body through the chain as far as it goes, rin's body bytes
 * from from on being new; *out is then what the last filter holds for
 * the client.  Returns CT_OK, or CT_ERROR
 * with the connection closed.
 */
int http_filter_run(struct conn *c, size_t from, struct http_body *out);
/* Frees the state of the filters of the current response. */
void http_filter_free(struct conn *c);

/* ------------------------------------------------- http_auth.c */

/* The auth that applies to the routed request, or NULL. */
const struct conf_auth *http_auth_of(const struct conn *c);
/* The access phase's handler of basic authentication. */
int http_access_auth(struct conn *c);
/* The same for a forward proxy: Proxy-Authorization, 407 and Proxy-Authenticate. */
int http_access_proxy_auth(struct conn *c);

/* ------------------------------------------------- http_forward.c */

/* The route of every absolute-form request of a forward listener. */
extern const struct conf_route http_forward_route;
/* Mode forward's row for a connection the http machinery serves. */
extern const struct conn_mode http_forward_mode;
/* A request that matched no route, on a forward listener: its target routes it. */
void http_forward_request(struct conn *c);
/* Its access phase and connection, run again after a park. */
void http_forward_access(struct conn *c);
/* CONNECT on such a connection: back to mode forward (forward.c). */
void http_forward_connect(struct conn *c);

/* ------------------------------------------------- http_cache.c */

/*
 * After the access phase of a request on a route with "cache": CT_OK
 * sends it to the origin (h->cache says what becomes of the response),
 * CT_DONE has served it from the cache or answered it, CT_ERROR has
 * closed the connection.
 */
int http_cache_request(struct conn *c);
/* The access phase of PURGE on a route with a cache: answers it, or declines. */
int http_access_purge(struct conn *c);
/*
 * The final response head is in o, its fields copied at [from, to):
 * begins storing it if it may be, and adds Cache-Status.  CT_ERROR: out
 * of memory.
 */
int http_cache_response(struct conn *c, struct http_buf *o, size_t from, size_t to);
/* The request going upstream: the stored validators of a revalidation, into o. */
int http_cache_validators_add(struct conn *c, struct http_buf *o);
/*
 * The final response head of a request with a stale object came: a 304
 * merged into it, or an error it answers instead (stale-if-error):
 * CT_DONE served from the store (or closed), CT_OK relayed as it is.
 */
int http_cache_revalidated(struct conn *c);
/* The origin could not be reached: CT_DONE when a stale object answered, else CT_OK. */
int http_cache_origin_failed(struct conn *c);
/* H_CACHE: a stored response to the client. */
void http_step_cache(struct conn *c);
/* H_CACHE's epoll interest on the client: EPOLLOUT, or none while it waits on a fill. */
uint32_t http_cache_client_events(const struct conn *c);
/* H_CACHE's timer: the wait on another's fetch is over, or the client is too slow. */
void http_cache_timer(struct conn *c);
/* The request is over: a hit's reference goes, an unfinished fill is aborted. */
void http_cache_done(struct conn *c);
/* The filter that stores a body as it passes. */
extern const struct http_filter http_filter_cache;
/* Frees the spare states of the worker's pool (its exit). */
void http_cache_spares_free(struct http_pool *p);

/* ------------------------------------------------- http_cache_bg.c */

/*
 * c's request found its object within stale-while-revalidate and took
 * the key's fill: hands the fill to a request of the worker's own that
 * revalidates, so that c is answered stale at once.  CT_OK: *fill is
 * the background request's now (NONE here); else nothing changed and c
 * revalidates itself.
 */
int http_cache_bg_start(struct conn *c, struct shm_cache_ref *fill);
/*
 * In the background request's lookup: CT_OK with the fill handed to it
 * in *fill, CT_DECLINED when c is no such request or took it already,
 * CT_ERROR when it was routed elsewhere than the request it stands for
 * (the fill is aborted, and it must not go on).
 */
int http_cache_bg_take(struct conn *c, struct shm_cache_ref *fill);
/* Its context goes: the revalidation no longer knows it. */
void http_cache_bg_gone(struct conn *c);
/* The worker's exit: every revalidation still there ends. */
void http_cache_bg_free_all(struct http_pool *p);

/* ------------------------------------------------- http_log.c */

/* One line per request, in the access log and at info in the error log. */
void http_log_request(struct conn *c);
/* Escapes s for a JSON string or a quoted text field, cut to fit len. */
void http_log_escape(char *dst, size_t len, const char *s);
/* Keeps method and target for the log, or "-" where the line was not valid. */
void http_log_line_keep(struct http_ctx *h, const struct http_request *req);

#endif

/*
 * mode http: an HTTP/1.1 reverse proxy.
 *
 * One request at a time per client connection (pipelined requests wait
 * in the input buffer, so responses keep their order):
 *
 *   IDLE --bytes--> HEAD --parsed, routed--+--> local answer (return,
 *    ^                                      |    redirect, error) --+
 *    |                                      v                       |
 *    |        CONNECT (or a pooled connection) --> SEND head + body |
 *    |                                                   |          |
 *    |                         RECV response head (1xx relayed)     |
 *    |                                                   |          |
 *    +------ keep-alive <-- RELAY response body <--------+          |
 *    +-----------------------------------------------------------<--+
 *
 *   After a 101, the pair becomes a tcp tunnel (tcp_tunnel_start).
 *   Errors that end the connection send their answer, shut down the
 *   write side and drain the client for a moment (LINGER), so that the
 *   answer is not destroyed by a reset.
 *
 * Bodies stream in both directions through the two input buffers; the
 * parsers only find where a body ends (Content-Length counts, chunked
 * scanning), bytes are relayed as they came.  Idle upstream connections
 * wait in a per-worker pool per server; a pooled connection that the
 * server closes is dropped as soon as epoll says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/http_parse.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "worker/conn.h"
#include "worker/gzip.h"
#include "worker/http.h"
#include "worker/pipe.h"
#include "worker/tunnel.h"
#include "worker/upstream.h"
#include "worker/worker-t.h"

#define HTTP_RBUF_SIZE   32768     /* upstream input: a response head must fit */
#define HTTP_LINGER_MS   2000
#define HTTP_LOG_TARGET  256       /* bytes of the target kept for logs */
/*
 * A response body with at least this much left after the bytes read
 * with its head goes on by splice(2): below it, the pipe costs more
 * than the copies it saves.
 */
#define HTTP_SPLICE_MIN  32768

enum http_state {
	H_IDLE,          /* keep-alive: waiting for the first byte of a request */
	H_HEAD,          /* reading the request head */
	H_CONNECT,       /* connecting to the upstream server */
	H_SEND,          /* sending the request head and body upstream */
	H_RECV,          /* waiting for the response head */
	H_RELAY,         /* relaying the response body to the client */
	H_LOCAL,         /* writing an answer of cuttle's own */
	H_DISCARD,       /* answered: reading and dropping the rest of the request body */
	H_LINGER         /* answer sent, write side shut: draining the client */
};

struct http_buf {
	char *p;
	size_t start;    /* first byte not yet consumed */
	size_t end;      /* one past the last byte */
	size_t cap;
};

struct http_ctx {
	enum http_state state;
	struct http_buf in;          /* client bytes: head, body, pipelined requests */
	struct http_buf rin;         /* upstream bytes */
	struct http_buf out;         /* heads and answers being written */
	int out_to_client;           /* out goes to the client (else upstream) */

	/* request */
	const struct conf_route *route;
	char method[16];
	char target[HTTP_LOG_TARGET];
	int minor;
	int client_keepalive;
	size_t body_end;             /* in: bytes up to here are request body */
	uint64_t body_left;          /* Content-Length body still to read */
	uint64_t body_total;
	struct http_chunked chunked;
	unsigned body_done:1;
	unsigned sent_continue:1;

	/* upstream */
	unsigned resp_started:1;     /* a byte of the final response reached the client */
	unsigned upgrade:1;
	unsigned local_close:1;      /* close after the local answer */
	unsigned logged:1;           /* this request's log line is written */
	char why[160];               /* the reason of an upstream failure */
	size_t resp_end;             /* rin: bytes up to here are response body */
	uint64_t resp_left;
	struct http_chunked resp_chunked;
	unsigned resp_done:1;
	unsigned resp_close:1;       /* the response ends at the server's close */
	struct gzip_filter *gz;      /* compressing this response */
	unsigned gz_done:1;
	unsigned gz_chunked:1;       /* compressed output framed as chunks */
	unsigned dechunk:1;          /* a chunked body goes on as its payload */
	unsigned piped:1;            /* the body goes on by splice through pipe */
	int pipe[2];
	size_t pipe_len;             /* body bytes waiting in pipe */

	/* log */
	int status;
	const char *reason;
	uint64_t bytes;              /* sent to the client for this request */
	uint64_t t_start, t_connect, t_header;

	/* Last, so that a reset leaves their field arrays alone: see http_ctx_clear(). */
	struct http_response resp;
	struct http_request req;
};

static inline struct http_ctx *
http_ctx_of(const struct conn *c)
{
	return c->ctx;
}

/* Zeroes a context for the next request but the heads' field arrays (8 KB). */
static void
http_ctx_clear(struct http_ctx *h)
{
	memset(h, 0, offsetof(struct http_ctx, resp));
	http_response_clear(&h->resp);
	http_request_clear(&h->req);
}

/* An idle upstream connection waiting for reuse. */
struct http_idle {
	struct worker *w;
	struct http_idle *next;
	struct http_idle **pprev;
	size_t list;                 /* pool list index */
	int server_idx;
	int fd;
	struct ev_io io;
	struct ev_timer timer;
};

#define HTTP_CTX_CACHE 64

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
};

static void http_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
static void http_timer(struct ev_loop *loop, struct ev_timer *t);
static void http_request_next(struct conn *c);
static void http_progress(struct conn *c);
static void http_upstream_start(struct conn *c);
static void http_ctx_put(struct worker *w, struct http_ctx *h);

/* ------------------------------------------------------------ buffers */

static int
http_buf_reserve(struct http_buf *b, size_t room)
{
	size_t need;
	char *p;

	if (b->cap - b->end >= room)
		return CT_OK;
	need = b->end + room;
	if (need < 256)
		need = 256;
	if ((p = realloc(b->p, need)) == NULL)
		return CT_ERROR;
	b->p = p;
	b->cap = need;
	return CT_OK;
}

static int
http_buf_add(struct http_buf *b, const char *s, size_t len)
{
	if (http_buf_reserve(b, len) != CT_OK)
		return CT_ERROR;
	memcpy(b->p + b->end, s, len);
	b->end += len;
	return CT_OK;
}

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

static int
http_buf_cat(struct http_buf *b, const struct http_piece *v, size_t n)
{
	size_t i, len = 0;
	char *p;

	for (i = 0; i < n; i++)
		len += v[i].len;
	if (http_buf_reserve(b, len) != CT_OK)
		return CT_ERROR;
	p = b->p + b->end;
	for (i = 0; i < n; i++) {
		memcpy(p, v[i].p, v[i].len);
		p += v[i].len;
	}
	b->end += len;
	return CT_OK;
}

/* v in decimal, in buf (24 bytes) */
static struct http_piece
http_num(char *buf, uint64_t v)
{
	char *p = buf + 24;

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return (struct http_piece){ p, (size_t)(buf + 24 - p) };
}

/* v in hexadecimal, in buf (24 bytes) */
static struct http_piece
http_hex(char *buf, uint64_t v)
{
	char *p = buf + 24;

	do {
		*--p = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	return (struct http_piece){ p, (size_t)(buf + 24 - p) };
}

static void
http_buf_free(struct http_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/*
 * Moves unconsumed bytes to the front so reads have room; *mark, an
 * offset into the buffer the caller keeps, moves with them.
 */
static void
http_buf_compact(struct http_buf *b, size_t *mark)
{
	if (b->start == 0)
		return;
	memmove(b->p, b->p + b->start, b->end - b->start);
	if (mark != NULL)
		*mark -= b->start;
	b->end -= b->start;
	b->start = 0;
}

/* ---------------------------------------------------------- helpers */

static const struct conf_listener *
http_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

static const char *
http_reason_phrase(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return code < 200 ? "Informational" : code < 300 ? "OK" : code < 400 ? "Redirect" :
	    code < 500 ? "Client Error" : "Server Error";
}

static uint64_t
http_now(const struct conn *c)
{
	return ev_now(c->w->loop);
}

static void
http_timer_arm(struct conn *c, uint64_t ms)
{
	if (ev_timer_start(c->w->loop, &c->timer, ms) != CT_OK)
		log_alert("cannot arm an http timer");
}

/* ------------------------------------------------------------ logging */

static void
http_log_ms(char *buf, size_t len, uint64_t from, uint64_t to)
{
	if (from == 0 || to == 0 || to < from)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%llu.%03llus", (unsigned long long)((to - from) / 1000),
		    (unsigned long long)((to - from) % 1000));
}

/* Escapes s for a JSON string or a quoted text field. */
static void
http_log_escape(char *dst, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			o += (size_t)snprintf(dst + o, len - o, "\\u%04x", ch);
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = '\0';
}

/* A JSON number of ms between from and to, or null when either is unknown. */
static void
http_log_json_ms(char *buf, size_t len, uint64_t from, uint64_t to)
{
	if (from == 0 || to == 0 || to < from)
		snprintf(buf, len, "null");
	else
		snprintf(buf, len, "%llu", (unsigned long long)(to - from));
}

static void
http_log_access(struct conn *c, const char *client, const char *server, uint64_t now)
{
	struct http_ctx *h = c->ctx;
	const struct conf_listener *l = http_listener(c);
	int fd = c->w->cy->listen[c->listener].access_fd;
	char target[HTTP_LOG_TARGET * 6 + 8], reason[256], line[2048];
	char tt[32], tc[32], th[32], tr[32], when[40];
	struct tm tm;
	time_t t = time(NULL);
	int n;

	http_log_escape(target, sizeof(target), h->target);
	http_log_escape(reason, sizeof(reason), h->reason != NULL ? h->reason : "-");
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm);
	/* +0000 -> +00:00 */
	memmove(when + strlen(when) - 1, when + strlen(when) - 2, 3);
	when[strlen(when) - 3] = ':';
	if (l->access_log.format == CONF_LOG_JSON) {
		http_log_json_ms(tc, sizeof(tc), h->t_start, h->t_connect);
		http_log_json_ms(th, sizeof(th), h->t_start, h->t_header);
		http_log_json_ms(tr, sizeof(tr), h->t_start, h->t_header != 0 ? now : 0);
		n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"client\":\"%s\","
		    "\"listener\":\"%s\",\"method\":\"%s\",\"target\":\"%s\",\"status\":%d,"
		    "\"bytes\":%llu,\"time_ms\":%llu,\"server\":%s%s%s,\"connect_ms\":%s,"
		    "\"header_ms\":%s,\"response_ms\":%s,\"reason\":%s%s%s}\n",
		    when, client, l->name, h->method, target, h->status,
		    (unsigned long long)h->bytes, (unsigned long long)(now - h->t_start),
		    server[0] == '-' ? "" : "\"", server[0] == '-' ? "null" : server,
		    server[0] == '-' ? "" : "\"", tc, th, tr,
		    h->reason != NULL ? "\"" : "", h->reason != NULL ? reason : "null",
		    h->reason != NULL ? "\"" : "");
	} else {
		http_log_ms(tt, sizeof(tt), h->t_start, now);
		http_log_ms(tc, sizeof(tc), h->t_start, h->t_connect);
		http_log_ms(th, sizeof(th), h->t_start, h->t_header);
		http_log_ms(tr, sizeof(tr), h->t_start, h->t_header != 0 ? now : 0);
		n = snprintf(line, sizeof(line), "%s client=%s listener=%s method=%s "
		    "target=\"%s\" status=%d bytes=%llu time=%s server=%s connect=%s header=%s "
		    "response=%s reason=\"%s\"\n", when, client, l->name, h->method, target,
		    h->status, (unsigned long long)h->bytes, tt, server, tc, th, tr, reason);
	}
	if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) == -1)
		log_warn("write() to the access_log of listener \"%s\" failed", l->name);
}

/* One line per request, in the access log and at info in the error log. */
static void
http_log_request(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf *conf = c->w->cy->conf;
	char client[ADDR_STRLEN], tt[32], target[HTTP_LOG_TARGET * 6 + 8];
	const char *server = "-";
	uint64_t now = http_now(c);
	int access = c->w->cy->listen[c->listener].access_fd != -1;
	struct shm_listener *ls;

	if (h->logged)
		return;
	h->logged = 1;
	c->to_client += h->bytes;
	conn_rec_bytes(c);
	if (h->status == 0)
		return;
	if ((ls = conn_listener_stats(c)) != NULL) {
		atomic_fetch_add_explicit(&ls->requests, 1, memory_order_relaxed);
		if (h->status >= 100 && h->status < 600)
			atomic_fetch_add_explicit(&ls->status[h->status / 100 - 1], 1,
			    memory_order_relaxed);
		shm_hist_add(&ls->duration, (now - h->t_start) * 1000);
	}
	if (!access && !log_enabled(LOG_LVL_INFO))
		return;
	if (c->server_idx != -1 && h->route != NULL)
		server = conf->upstreams[h->route->upstream].servers[c->server_idx].address;
	addr_format(&c->peer.sa, client, sizeof(client));
	if (access)
		http_log_access(c, client, server, now);
	if (!log_enabled(LOG_LVL_INFO))
		return;
	http_log_escape(target, sizeof(target), h->target);
	http_log_ms(tt, sizeof(tt), h->t_start, now);
	log_info("http client=%s listener=%s request=\"%s %s HTTP/1.%d\" status=%d bytes=%llu "
	    "server=%s time=%s%s%s%s", client, http_listener(c)->name, h->method, target,
	    h->minor, h->status, (unsigned long long)h->bytes, server, tt,
	    h->reason != NULL ? " reason=\"" : "", h->reason != NULL ? h->reason : "",
	    h->reason != NULL ? "\"" : "");
}

/* ---------------------------------------------------------- the pool */

static struct http_pool *
http_pool_get(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	struct http_pool *p;
	size_t i, n = 0;

	if (w->pool != NULL)
		return w->pool;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->first = calloc(conf->nupstreams + 1, sizeof(*p->first));
	for (i = 0; i < conf->nupstreams; i++) {
		if (p->first != NULL)
			p->first[i] = n;
		n += conf->upstreams[i].nservers;
	}
	p->nlists = n;
	p->lists = calloc(n + 1, sizeof(*p->lists));
	p->count = calloc(n + 1, sizeof(*p->count));
	if (p->first == NULL || p->lists == NULL || p->count == NULL) {
		free(p->first);
		free(p->lists);
		free(p->count);
		free(p);
		return NULL;
	}
	w->pool = p;
	return p;
}

static struct http_idle *
http_idle_new(struct http_pool *p)
{
	struct http_idle *i = p->spare;

	if (i == NULL)
		return calloc(1, sizeof(*i));
	p->spare = i->next;
	memset(i, 0, sizeof(*i));
	return i;
}

static void
http_idle_spare(struct http_pool *p, struct http_idle *i)
{
	i->next = p->spare;
	p->spare = i;
}

static void
http_idle_close(struct http_idle *i)
{
	struct http_pool *p = i->w->pool;

	*i->pprev = i->next;
	if (i->next != NULL)
		i->next->pprev = i->pprev;
	p->count[i->list]--;
	ev_io_forget(i->w->loop, &i->io);
	ev_timer_stop(i->w->loop, &i->timer);
	close(i->fd);
	http_idle_spare(p, i);
}

/* An idle connection that becomes readable was closed (or spoke out of turn). */
static void
http_idle_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	(void)loop;
	(void)events;
	http_idle_close(io->data);
}

static void
http_idle_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	http_idle_close(t->data);
}

static void
http_pool_close_all(struct worker *w)
{
	struct http_pool *p = w->pool;
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nlists; i++)
		while (p->lists[i] != NULL)
			http_idle_close(p->lists[i]);
	while (p->ncache > 0) {
		struct http_ctx *h = p->cache[--p->ncache];

		http_buf_free(&h->in);
		http_buf_free(&h->rin);
		http_buf_free(&h->out);
		free(h);
	}
	while (p->spare != NULL) {
		struct http_idle *spare = p->spare;

		p->spare = spare->next;
		free(spare);
	}
	free(p->first);
	free(p->lists);
	free(p->count);
	free(p);
	w->pool = NULL;
}

/* Takes the server connection of c into the pool; closes it if it cannot. */
static void
http_pool_put(struct conn *c)
{
	const struct conf_upstream *u = &c->w->cy->conf->upstreams[c->upstream];
	struct http_pool *p = http_pool_get(c->w);
	struct http_idle *i;
	size_t list;
	int fd = c->server.fd;

	if (p == NULL || u->keepalive.max_idle == 0 || c->w->quitting ||
	    p->count[list = p->first[c->upstream] + (size_t)c->server_idx] >= u->keepalive.max_idle ||
	    (i = http_idle_new(p)) == NULL) {
		stream_close(c->w->loop, &c->server);
		return;
	}
	i->w = c->w;
	i->fd = fd;
	i->list = list;
	i->server_idx = c->server_idx;
	i->next = p->lists[list];
	if (i->next != NULL)
		i->next->pprev = &i->next;
	i->pprev = &p->lists[list];
	p->lists[list] = i;
	p->count[list]++;
	ev_io_init(&i->io, fd, http_idle_io, i);
	ev_timer_init(&i->timer, http_idle_timer, i);
	/* Readable while idle means closed (or talking out of turn). */
	if (ev_io_move(c->w->loop, &c->server.io, &i->io, EPOLLIN) != CT_OK ||
	    ev_timer_start(c->w->loop, &i->timer, u->keepalive.idle_timeout_ms) != CT_OK)
		http_idle_close(i);
	c->server.fd = -1;
}

/*
 * Makes a pooled connection to (upstream, server) c's server stream,
 * registered for reading (the request is written at once).  Returns
 * CT_OK, or CT_DECLINED when the pool has none.
 */
static int
http_pool_take(struct conn *c, int server_idx)
{
	struct http_pool *p = c->w->pool;
	size_t upstream = c->upstream;
	struct http_idle *i;
	int rc;

	if (p == NULL)
		return CT_DECLINED;
	i = p->lists[p->first[upstream] + (size_t)server_idx];
	if (i == NULL)
		return CT_DECLINED;
	*i->pprev = i->next;
	if (i->next != NULL)
		i->next->pprev = i->pprev;
	p->count[i->list]--;
	ev_timer_stop(c->w->loop, &i->timer);
	stream_init(&c->server, i->fd, http_io, c);
	rc = ev_io_move(c->w->loop, &i->io, &c->server.io, EPOLLIN);
	http_idle_spare(p, i);
	if (rc != CT_OK) {
		stream_close(c->w->loop, &c->server);
		return CT_DECLINED;
	}
	return CT_OK;
}

/* ------------------------------------------------- ending a request */

/* Gives the server connection back (pool or close) and its shm count. */
static void
http_upstream_release(struct conn *c, int reusable)
{
	conn_backend_release(c);
	if (c->server.fd != -1) {
		if (reusable)
			http_pool_put(c);
		else
			stream_close(c->w->loop, &c->server);
	}
}

static void
http_free(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (!h->logged && h->state != H_IDLE && h->status == 0 && h->method[0] != '\0') {
		h->status = h->resp_started ? h->resp.code : 499;
		if (h->reason == NULL)
			h->reason = "connection closed before the response was complete";
	}
	if (h->status != 0)
		http_log_request(c);
	gzip_free(h->gz);
	if (h->piped)
		pipe_give(h->pipe, h->pipe_len);
	http_ctx_put(c->w, h);
	c->ctx = NULL;
}

/* Finishes the current request and goes on with the connection. */
static void
http_request_done(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	int reuse = h->resp_done && !h->resp_close && h->resp.h.keep_alive &&
	    h->rin.start == h->rin.end && h->body_done;

	http_log_request(c);
	h->status = 0;
	if (h->route != NULL && h->route->action == CONF_ROUTE_UPSTREAM)
		http_upstream_release(c, reuse);
	if (!h->client_keepalive || c->w->quitting) {
		conn_close(c, "done");
		return;
	}
	http_request_next(c);
}

/* ------------------------------------------------------- local answers */

/*
 * Queues an answer of cuttle's own.  close_after: the connection ends
 * after it (errors in the request stream), with a lingering close.
 */
static void
http_answer(struct conn *c, int status, const char *reason, const char *ctype,
    const char *body, size_t body_len, const char *location, int close_after)
{
	struct http_ctx *h = c->ctx;
	char code[24], len[24];
	int rc;

	if (h->resp_started) {
		/* Too late for an answer: the client already has part of one. */
		h->reason = reason;
		conn_close(c, reason != NULL ? reason : "upstream error");
		return;
	}
	h->status = status;
	h->reason = reason;
	if (close_after || c->w->quitting)
		h->client_keepalive = 0;
	h->out.start = h->out.end = 0;
	rc = HTTP_CAT(&h->out, HP("HTTP/1.1 "), http_num(code, (uint64_t)status), HP(" "),
	    HZ(http_reason_phrase(status)), HP("\r\nServer: cuttle\r\nContent-Type: "),
	    HZ(ctype), HP("\r\nContent-Length: "), http_num(len, body_len), HP("\r\n"));
	if (rc == CT_OK && location != NULL)
		rc = HTTP_CAT(&h->out, HP("Location: "), HZ(location), HP("\r\n"));
	if (rc == CT_OK)
		rc = h->client_keepalive ? HTTP_CAT(&h->out, HP("Connection: keep-alive\r\n\r\n")) :
		    HTTP_CAT(&h->out, HP("Connection: close\r\n\r\n"));
	if (rc == CT_OK && !h->req.is_head)
		rc = http_buf_add(&h->out, body, body_len);
	if (rc != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	h->bytes = h->out.end;
	h->out_to_client = 1;
	h->local_close = !h->client_keepalive;
	h->state = H_LOCAL;
	if (h->route != NULL && h->route->action == CONF_ROUTE_UPSTREAM)
		http_upstream_release(c, 0);
	http_progress(c);
}

static void
http_error(struct conn *c, int status, const char *reason)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason_phrase(status));
	/*
	 * After these the request stream cannot be trusted or its body is
	 * refused; after the others the rest of the body is read and dropped
	 * and the connection goes on.
	 */
	int close_after = status == 400 || status == 408 || status == 413 || status == 414 ||
	    status == 431 || status == 501 || status == 505;

	http_answer(c, status, reason, "text/plain", body, (size_t)n, NULL, close_after);
}

/* ------------------------------------------------------------ routing */

static int
http_host_match(const char *pattern, struct http_slice host)
{
	size_t hl = host.len, pl;
	const char *colon;

	/* The port does not take part: "a.example.com:8080" is a.example.com. */
	if (hl > 0 && host.p[0] == '[') {
		colon = memchr(host.p, ']', hl);
		hl = colon != NULL ? (size_t)(colon - host.p) + 1 : hl;
	} else if ((colon = memchr(host.p, ':', hl)) != NULL) {
		hl = (size_t)(colon - host.p);
	}
	pl = strlen(pattern);
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* "*.example.com": a non-empty label before ".example.com" */
		return hl > pl - 1 && strncasecmp(host.p + hl - (pl - 1), pattern + 1, pl - 1) == 0;
	}
	return hl == pl && strncasecmp(host.p, pattern, pl) == 0;
}

static int
http_route_match(const struct conf_route *r, const struct http_request *req)
{
	const char *q = memchr(req->path.p, '?', req->path.len);
	size_t plen = q != NULL ? (size_t)(q - req->path.p) : req->path.len;
	size_t i;

	if (r->host != NULL && !http_host_match(r->host, req->host))
		return 0;
	if (r->path_exact != NULL &&
	    (strlen(r->path_exact) != plen || memcmp(r->path_exact, req->path.p, plen) != 0))
		return 0;
	if (r->path_prefix != NULL &&
	    (strlen(r->path_prefix) > plen ||
	     memcmp(r->path_prefix, req->path.p, strlen(r->path_prefix)) != 0))
		return 0;
	if (r->nmethods == 0)
		return 1;
	for (i = 0; i < r->nmethods; i++)
		if (strlen(r->methods[i]) == req->method.len &&
		    memcmp(r->methods[i], req->method.p, req->method.len) == 0)
			return 1;
	return 0;
}

static const struct conf_route *
http_route_find(const struct conn *c, const struct http_request *req)
{
	const struct conf_listener *l = http_listener(c);
	size_t i;

	for (i = 0; i < l->nroutes; i++)
		if (http_route_match(&l->routes[i], req))
			return &l->routes[i];
	return NULL;
}

/* ------------------------------------------------- the upstream head */

/* Is name one of the fields listed in the Connection field(s)? */
static int
http_conn_lists(const struct http_head *hd, struct http_slice name)
{
	size_t i;

	if (!hd->conn_options)
		return 0;
	for (i = 0; i < hd->nheaders; i++) {
		const struct http_header *f = &hd->headers[i];
		const char *p = f->value.p, *end = p + f->value.len;

		if (f->id != HTTP_F_CONNECTION)
			continue;
		while (p < end) {
			const char *tok;

			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			tok = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			if ((size_t)(p - tok) == name.len && strncasecmp(tok, name.p, name.len) == 0)
				return 1;
		}
	}
	return 0;
}

static int
http_name_in(struct http_slice name, char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_slice_eq(name, names[i]))
			return 1;
	return 0;
}

static int
http_name_in_kv(struct http_slice name, const struct conf_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_slice_eq(name, kv[i].name))
			return 1;
	return 0;
}

/* RFC 7239 values are tokens or quoted strings: "host:port" needs quotes. */
static int
http_is_token(struct http_slice s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if (strchr("!#$%&'*+-.^_`|~", s.p[i]) == NULL &&
		    !((s.p[i] >= '0' && s.p[i] <= '9') || ((s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z')))
			return 0;
	return s.len > 0;
}

/* Does the route's remove or set take over the field called name? */
static int
http_ops_override(const struct conf_header_ops *ops, const char *name)
{
	struct http_slice n;

	if (ops->nremove == 0 && ops->nset == 0)
		return 0;
	n.p = name;
	n.len = strlen(name);
	return http_name_in(n, ops->remove, ops->nremove) || http_name_in_kv(n, ops->set, ops->nset);
}

/*
 * Appends the fields a proxy adds, each after any value already there,
 * unless the route's request_headers remove or set them.
 */
static int
http_forwarding_add(struct conn *c, struct http_buf *o, const struct http_request *req,
    const struct conf_header_ops *ops)
{
	char ip[INET6_ADDRSTRLEN];
	const struct http_header *xff = http_header_find_id(&req->h, HTTP_F_X_FORWARDED_FOR);
	const struct http_header *via = http_header_find_id(&req->h, HTTP_F_VIA);
	const struct http_header *fw = http_header_find_id(&req->h, HTTP_F_FORWARDED);
	struct http_piece addr = { ip, addr_ip_format(&c->peer.sa, ip, sizeof(ip)) };
	int tok = http_is_token(req->host), v6 = c->peer.sa.sa_family == AF_INET6;
	int rc = CT_OK;
	char minor = (char)('0' + req->h.minor);

	if (!http_ops_override(ops, "x-forwarded-for"))
		rc |= HTTP_CAT(o, HP("X-Forwarded-For: "), HV(xff), HC(xff != NULL, ", "), addr,
		    HP("\r\n"));
	if (!http_ops_override(ops, "x-forwarded-proto"))
		rc |= HTTP_CAT(o, HP("X-Forwarded-Proto: http\r\n"));
	if (req->host.len > 0 && !http_ops_override(ops, "x-forwarded-host"))
		rc |= HTTP_CAT(o, HP("X-Forwarded-Host: "), HS(req->host), HP("\r\n"));
	if (!http_ops_override(ops, "via"))
		rc |= HTTP_CAT(o, HP("Via: "), HV(via), HC(via != NULL, ", "), HP("1."),
		    ((struct http_piece){ &minor, 1 }), HP(" cuttle\r\n"));
	if (!http_ops_override(ops, "forwarded"))
		rc |= HTTP_CAT(o, HP("Forwarded: "), HV(fw), HC(fw != NULL, ", "), HP("for="),
		    HC(v6, "\"["), addr, HC(v6, "]\""), HP(";host="), HC(!tok, "\""),
		    HS(req->host), HC(!tok, "\""), HP(";proto=http\r\n"));
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

static int
http_ops_add(struct http_buf *o, const struct conf_header_ops *ops)
{
	size_t i;

	for (i = 0; i < ops->nset; i++)
		if (HTTP_CAT(o, HZ(ops->set[i].name), HP(": "), HZ(ops->set[i].value),
		    HP("\r\n")) != CT_OK)
			return CT_ERROR;
	for (i = 0; i < ops->nadd; i++)
		if (HTTP_CAT(o, HZ(ops->add[i].name), HP(": "), HZ(ops->add[i].value),
		    HP("\r\n")) != CT_OK)
			return CT_ERROR;
	return CT_OK;
}

#define HTTP_F_BIT(id) (UINT32_C(1) << (id))

/*
 * Copies the end-to-end fields of hd that the ops do not remove or set,
 * nor skip, a set of HTTP_F_BIT()s of the fields the caller writes itself.
 */
static int
http_fields_copy(struct http_buf *o, const struct http_head *hd,
    const struct conf_header_ops *ops, uint32_t skip)
{
	size_t i;

	for (i = 0; i < hd->nheaders; i++) {
		const struct http_header *f = &hd->headers[i];

		if (HTTP_F_IS_HOP(f->id) || (skip & HTTP_F_BIT(f->id)) != 0 ||
		    http_conn_lists(hd, f->name) ||
		    http_name_in(f->name, ops->remove, ops->nremove) ||
		    http_name_in_kv(f->name, ops->set, ops->nset))
			continue;
		if (HTTP_CAT(o, HS(f->name), HP(": "), HS(f->value), HP("\r\n")) != CT_OK)
			return CT_ERROR;
	}
	return CT_OK;
}

static int
http_request_head_build(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct http_request *req = &h->req;
	const struct conf_route *r = h->route;
	struct http_buf *o = &h->out;
	const uint32_t skip = HTTP_F_BIT(HTTP_F_HOST) | HTTP_F_BIT(HTTP_F_EXPECT) |
	    HTTP_F_BIT(HTTP_F_X_FORWARDED_FOR) | HTTP_F_BIT(HTTP_F_X_FORWARDED_PROTO) |
	    HTTP_F_BIT(HTTP_F_X_FORWARDED_HOST) | HTTP_F_BIT(HTTP_F_VIA) |
	    HTTP_F_BIT(HTTP_F_FORWARDED);
	char num[24], minor = (char)('0' + req->h.minor);
	int rc;

	o->start = o->end = 0;
	rc = HTTP_CAT(o, HS(req->method), HP(" "), HS(req->path), HP(" HTTP/1."),
	    ((struct http_piece){ &minor, 1 }), HP("\r\n"));
	if (r->host_rewrite != NULL)
		rc |= HTTP_CAT(o, HP("Host: "), HZ(r->host_rewrite), HP("\r\n"));
	else if (req->host.len > 0)
		rc |= HTTP_CAT(o, HP("Host: "), HS(req->host), HP("\r\n"));
	rc |= http_fields_copy(o, &req->h, &r->request_headers, skip);
	rc |= http_forwarding_add(c, o, req, &r->request_headers);
	if (req->h.framing == HTTP_BODY_LENGTH)
		rc |= HTTP_CAT(o, HP("Content-Length: "), http_num(num, req->h.content_length),
		    HP("\r\n"));
	else if (req->h.framing == HTTP_BODY_CHUNKED)
		rc |= HTTP_CAT(o, HP("Transfer-Encoding: chunked\r\n"));
	if (h->upgrade) {
		const struct http_header *up = http_header_find_id(&req->h, HTTP_F_UPGRADE);

		rc |= HTTP_CAT(o, HP("Connection: upgrade\r\nUpgrade: "), HV(up), HP("\r\n"));
	} else if (req->h.minor == 0) {
		rc |= HTTP_CAT(o, HP("Connection: keep-alive\r\n"));
	}
	rc |= http_ops_add(o, &r->request_headers);
	rc |= http_buf_add(o, "\r\n", 2);
	h->out_to_client = 0;
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

/* ------------------------------------------------ the request head */

static void
http_request_routed(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_route *r = h->route;
	const struct conf_listener *l = http_listener(c);

	switch (r->action) {
	case CONF_ROUTE_RETURN:
		h->reason = NULL;
		http_answer(c, (int)r->status, NULL, "text/plain", r->body, strlen(r->body), NULL, 0);
		return;
	case CONF_ROUTE_REDIRECT: {
		char body[64];
		int n = snprintf(body, sizeof(body), "%u %s\n", r->status,
		    http_reason_phrase((int)r->status));

		http_answer(c, (int)r->status, NULL, "text/plain", body, (size_t)n, r->location, 0);
		return;
	}
	case CONF_ROUTE_UPSTREAM:
		break;
	}
	if (l->max_body_size > 0 && h->req.h.framing == HTTP_BODY_LENGTH &&
	    h->req.h.content_length > l->max_body_size) {
		http_error(c, 413, "request body larger than max_body_size");
		return;
	}
	if (http_request_head_build(c) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	if (h->req.expect_continue && !h->body_done && h->req.h.minor == 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		/* Small and first on a fresh connection: written directly. */
		if (send(c->client.fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(cont) - 1)
			h->sent_continue = 1;
	}
	http_upstream_start(c);
}

/* The request head is complete in h->in: route it. */
static void
http_request_parsed(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_request *req = &h->req;
	size_t n;

	n = CT_MIN(req->method.len, sizeof(h->method) - 1);
	memcpy(h->method, req->method.p, n);
	h->method[n] = '\0';
	n = CT_MIN(req->target.len, sizeof(h->target) - 1);
	memcpy(h->target, req->target.p, n);
	h->target[n] = '\0';
	h->minor = req->h.minor;
	h->client_keepalive = req->h.keep_alive;
	h->in.start += req->h.head_len;
	h->body_end = h->in.start;
	h->body_left = req->h.framing == HTTP_BODY_LENGTH ? req->h.content_length : 0;
	h->body_done = req->h.framing == HTTP_BODY_NONE ||
	    (req->h.framing == HTTP_BODY_LENGTH && req->h.content_length == 0);
	http_chunked_init(&h->chunked);
	h->upgrade = req->h.conn_upgrade && req->h.has_upgrade;
	if (req->is_connect) {
		http_error(c, 405, "CONNECT is served by mode forward, not mode http");
		return;
	}
	h->route = http_route_find(c, req);
	if (h->route == NULL) {
		http_error(c, 404, "no route matched");
		return;
	}
	http_request_routed(c);
}

/* Keeps method and target for the log, or "-" where the line was not valid. */
static void
http_log_line_keep(struct http_ctx *h, const struct http_request *req)
{
	size_t n;

	snprintf(h->method, sizeof(h->method), "-");
	snprintf(h->target, sizeof(h->target), "-");
	if (req->method.len > 0 && req->target.len > 0) {
		n = CT_MIN(req->method.len, sizeof(h->method) - 1);
		memcpy(h->method, req->method.p, n);
		h->method[n] = '\0';
		n = CT_MIN(req->target.len, sizeof(h->target) - 1);
		memcpy(h->target, req->target.p, n);
		h->target[n] = '\0';
	}
}

static void
http_head_parse(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_listener *l = http_listener(c);
	struct http_limits lim;
	int rc;

	http_limits_default(&lim);
	lim.max_head = l->max_header_size;
	rc = http_parse_request(h->in.p + h->in.start, h->in.end - h->in.start, &lim, &h->req);
	if (rc == CT_AGAIN) {
		if (h->in.end - h->in.start >= l->max_header_size)
			http_error(c, 431, "request head larger than max_header_size");
		return;
	}
	if (rc != CT_OK) {
		/* What is known of the line goes to the log. */
		http_log_line_keep(h, &h->req);
		h->minor = 1;
		h->body_done = 0;
		http_error(c, h->req.h.status != 0 ? h->req.h.status : 400, h->req.h.error);
		return;
	}
	ev_timer_stop(c->w->loop, &c->timer);
	http_request_parsed(c);
}

/* ------------------------------------------------- starting a request */

/* A zeroed context for a new request; its buffers come along from the cache. */
static int
http_ctx_get(struct conn *c)
{
	struct http_pool *p = http_pool_get(c->w);
	struct http_ctx *h;
	struct http_buf in = { 0 }, rin = { 0 }, out = { 0 };

	if (p != NULL && p->ncache > 0) {
		h = p->cache[--p->ncache];
		in = h->in;
		rin = h->rin;
		out = h->out;
		http_ctx_clear(h);
	} else if ((h = calloc(1, sizeof(*h))) == NULL) {
		return CT_ERROR;
	}
	h->in = in;
	h->rin = rin;
	h->out = out;
	h->in.start = h->in.end = 0;
	h->rin.start = h->rin.end = 0;
	h->out.start = h->out.end = 0;
	c->ctx = h;
	return CT_OK;
}

static void
http_ctx_put(struct worker *w, struct http_ctx *h)
{
	struct http_pool *p = w->pool;

	if (p != NULL && p->ncache < HTTP_CTX_CACHE) {
		p->cache[p->ncache++] = h;
		return;
	}
	http_buf_free(&h->in);
	http_buf_free(&h->rin);
	http_buf_free(&h->out);
	free(h);
}

/* Resets the per-request state, keeping the buffers and pipelined bytes. */
static void
http_request_next(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_buf in = h->in, rin = h->rin, out = h->out;

	/* The body's end may lie before bytes of the next request. */
	in.start = h->body_end > in.start ? h->body_end : in.start;
	gzip_free(h->gz);
	http_ctx_clear(h);
	h->in = in;
	h->rin = rin;
	h->out = out;
	h->rin.start = h->rin.end = 0;
	h->out.start = h->out.end = 0;
	c->server_idx = -1;
	c->attempts = 0;
	memset(&c->tried, 0, sizeof(c->tried));
	h->t_start = http_now(c);
	if (h->in.start == h->in.end) {
		/* Idle: the connection keeps only its slot until bytes come. */
		http_ctx_put(c->w, h);
		c->ctx = NULL;
		http_timer_arm(c, http_listener(c)->idle_timeout_ms);
		if (ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK)
			conn_close(c, "internal error");
		return;
	} else {
		h->state = H_HEAD;
		http_timer_arm(c, http_listener(c)->header_timeout_ms);
		http_head_parse(c);
		if (c->state == CONN_CLOSED || c->ctx == NULL)
			return;
	}
	http_progress(c);
}

static void
http_start(struct conn *c)
{
	c->client.io.cb = http_io;
	c->timer.cb = http_timer;
	c->state = CONN_OPEN;
	http_timer_arm(c, http_listener(c)->header_timeout_ms);
	if (ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK)
		conn_close(c, "internal error");
}

/* ---------------------------------------------------- the upstream */

/*
 * What may be sent again after a failed attempt: anything before the
 * request went out; after, only a request without a body (one already
 * streamed cannot be sent again) and before any byte of the response,
 * to another server only if its method is idempotent.
 */
static int
http_upstream_resend(const struct conn *c)
{
	const struct http_ctx *h = c->ctx;

	if (h->resp_started)
		return UPSTREAM_RESEND_NO;
	if (h->state != H_SEND && h->state != H_RECV && h->state != H_RELAY)
		return UPSTREAM_RESEND_ANY;
	if (h->req.h.framing != HTTP_BODY_NONE)
		return UPSTREAM_RESEND_NO;
	return h->req.idempotent ? UPSTREAM_RESEND_ANY : UPSTREAM_RESEND_UNSEEN;
}

static void
http_upstream_give_up(struct conn *c, int status, const char *why)
{
	struct http_ctx *h = c->ctx;

	snprintf(h->why, sizeof(h->why), "%s", why);
	http_error(c, status, h->why);
}

static const void *
http_upstream_key(const struct conn *c, size_t *len)
{
	const struct http_ctx *h = c->ctx;

	return lb_key_http(c->w->cy->upstreams[c->upstream].conf, &h->req, &c->peer.sa, len);
}

/* Ready, first time or after a failure: the request goes (again) from its start. */
static void
http_upstream_ready(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	h->t_connect = http_now(c);
	h->state = H_SEND;
	h->out.start = 0;
	h->rin.start = h->rin.end = 0;
	http_timer_arm(c, http_listener(c)->send_timeout_ms);
	http_progress(c);
}

static void
http_upstream_start(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	h->state = H_CONNECT;
	upstream_connect(c, h->route->upstream);
	if (c->state == CONN_OPEN && c->ctx == h && h->state == H_CONNECT)
		http_progress(c);
}

/* ------------------------------------------------- the response head */

/* Is the q parameter in [p, end) zero ("q=0", "q=0.0", "q=0.000")? */
static int
http_qvalue_zero(const char *p, const char *end)
{
	const char *q = memmem(p, (size_t)(end - p), "q=", 2);

	if (q == NULL)
		return 0;
	q += 2;
	if (q >= end || *q != '0')
		return 0;
	for (q++; q < end && *q != ' ' && *q != '\t' && *q != ';'; q++)
		if (*q != '.' && *q != '0')
			return 0;
	return 1;
}

/* Does the request's Accept-Encoding take gzip (by name or "*", q > 0)? */
static int
http_accepts_gzip(const struct http_head *hd)
{
	size_t i;

	for (i = 0; i < hd->nheaders; i++) {
		const struct http_header *f = &hd->headers[i];
		const char *p = f->value.p, *end = p + f->value.len;

		if (f->id != HTTP_F_ACCEPT_ENCODING)
			continue;
		while (p < end) {
			const char *tok, *elem_end, *name_end;

			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			tok = p;
			while (p < end && *p != ',')
				p++;
			elem_end = p;
			name_end = memchr(tok, ';', (size_t)(elem_end - tok));
			if (name_end == NULL)
				name_end = elem_end;
			while (name_end > tok && (name_end[-1] == ' ' || name_end[-1] == '\t'))
				name_end--;
			if (((name_end - tok == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
			    (name_end - tok == 1 && *tok == '*')) &&
			    !http_qvalue_zero(name_end, elem_end))
				return 1;
		}
	}
	return 0;
}

static int
http_type_listed(const struct conf_compress *cz, const struct http_header *ct)
{
	size_t len, i;
	const char *semi;

	if (ct == NULL)
		return 0;
	semi = memchr(ct->value.p, ';', ct->value.len);
	len = semi != NULL ? (size_t)(semi - ct->value.p) : ct->value.len;
	while (len > 0 && (ct->value.p[len - 1] == ' ' || ct->value.p[len - 1] == '\t'))
		len--;
	for (i = 0; i < cz->ntypes; i++)
		if (strlen(cz->types[i]) == len && strncasecmp(cz->types[i], ct->value.p, len) == 0)
			return 1;
	return 0;
}

/* Should this response be gzipped on its way to the client? */
static int
http_compress_wanted(const struct conn *c)
{
	const struct http_ctx *h = c->ctx;
	const struct conf_compress *cz = &http_listener(c)->compress;
	const struct http_head *rh = &h->resp.h;
	const struct http_header *cc = http_header_find_id(rh, HTTP_F_CACHE_CONTROL);

	if (!cz->enabled || h->req.is_head || h->resp.code < 200 || h->resp.code == 204 ||
	    h->resp.code == 206 || h->resp.code == 304 ||
	    rh->framing == HTTP_BODY_NONE)
		return 0;
	if (rh->framing == HTTP_BODY_LENGTH && rh->content_length < cz->min_size)
		return 0;
	if (http_header_find_id(rh, HTTP_F_CONTENT_ENCODING) != NULL ||
	    http_header_find_id(rh, HTTP_F_CONTENT_RANGE) != NULL ||
	    !http_type_listed(cz, http_header_find_id(rh, HTTP_F_CONTENT_TYPE)) ||
	    !http_accepts_gzip(&h->req.h))
		return 0;
	return cc == NULL || memmem(cc->value.p, cc->value.len, "no-transform", 12) == NULL;
}

static int
http_response_head_build(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct http_response *resp = &h->resp;
	struct http_buf *o = &h->out;
	int rc, code = resp->code;
	char num[24];

	o->start = o->end = 0;
	/* A draining worker finishes this request and then closes. */
	if (c->w->quitting)
		h->client_keepalive = 0;
	rc = HTTP_CAT(o, HP("HTTP/1.1 "), http_num(num, (uint64_t)code), HP(" "),
	    HS(resp->reason), HP("\r\n"));
	rc |= http_fields_copy(o, &resp->h, &h->route->response_headers, 0);
	if (code >= 200 && code != 101 && http_compress_wanted(c) &&
	    (h->gz = gzip_new(http_listener(c)->compress.level)) != NULL) {
		h->dechunk = resp->h.framing == HTTP_BODY_CHUNKED;
		rc |= HTTP_CAT(o, HP("Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"));
		h->gz_chunked = h->minor == 1;
		if (h->gz_chunked)
			rc |= HTTP_CAT(o, HP("Transfer-Encoding: chunked\r\n"));
		if (!h->gz_chunked || !h->client_keepalive) {
			h->client_keepalive = 0;
			rc |= HTTP_CAT(o, HP("Connection: close\r\n"));
		}
		rc |= http_ops_add(o, &h->route->response_headers);
	} else if (code >= 200 && code != 101) {
		const struct http_header *cl = http_header_find_id(&resp->h, HTTP_F_CONTENT_LENGTH);

		if (resp->h.framing == HTTP_BODY_LENGTH ||
		    (resp->h.framing == HTTP_BODY_NONE && cl != NULL))
			rc |= HTTP_CAT(o, HP("Content-Length: "), cl != NULL ? HS(cl->value) : HP("0"),
			    HP("\r\n"));
		else if (resp->h.framing == HTTP_BODY_CHUNKED && h->minor == 1)
			rc |= HTTP_CAT(o, HP("Transfer-Encoding: chunked\r\n"));
		/* HTTP/1.0 takes no chunks: the payload goes on, ended by a close. */
		h->dechunk = resp->h.framing == HTTP_BODY_CHUNKED && h->minor == 0;
		if (resp->h.framing == HTTP_BODY_CLOSE || h->dechunk || !h->client_keepalive) {
			h->client_keepalive = 0;
			rc |= HTTP_CAT(o, HP("Connection: close\r\n"));
		} else if (h->minor == 0) {
			rc |= HTTP_CAT(o, HP("Connection: keep-alive\r\n"));
		}
		rc |= http_ops_add(o, &h->route->response_headers);
	} else if (code == 101) {
		const struct http_header *up = http_header_find_id(&resp->h, HTTP_F_UPGRADE);

		rc |= HTTP_CAT(o, HP("Connection: upgrade\r\n"));
		if (up != NULL)
			rc |= HTTP_CAT(o, HP("Upgrade: "), HS(up->value), HP("\r\n"));
	}
	rc |= http_buf_add(o, "\r\n", 2);
	h->out_to_client = 1;
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

static void
http_response_parse(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_limits lim;
	int rc;

	http_limits_default(&lim);
	rc = http_parse_response(h->rin.p + h->rin.start, h->rin.end - h->rin.start, &lim,
	    h->req.is_head, &h->resp);
	if (rc == CT_AGAIN) {
		if (h->rin.end - h->rin.start >= lim.max_head)
			upstream_fail(c, UPSTREAM_HEAD, EMSGSIZE, NULL, 502);
		return;
	}
	if (rc != CT_OK) {
		upstream_fail(c, UPSTREAM_HEAD, 0, h->resp.h.error, 502);
		return;
	}
	if (h->t_header == 0) {
		h->t_header = http_now(c);
		/* first byte: from the connection being ready to the response head */
		lb_observe(&c->w->cy->upstreams[c->upstream], c->w->cy->shm,
		    c->server_idx, (h->t_header - h->t_connect) * 1000);
	}
	h->rin.start += h->resp.h.head_len;
	if (http_response_head_build(c) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	if (h->resp.code == 101 && !h->upgrade) {
		http_upstream_release(c, 0);
		http_error(c, 502, "101 Switching Protocols to a request that asked for no upgrade");
		return;
	}
	if (h->resp.code < 200 && h->resp.code != 101) {
		/* Interim: relay it and wait for the next head. */
		h->state = H_RECV;
		return;
	}
	h->status = h->resp.code;
	h->resp_started = 1;
	h->resp_end = h->rin.start;
	h->resp_left = h->resp.h.framing == HTTP_BODY_LENGTH ? h->resp.h.content_length : 0;
	h->resp_close = h->resp.h.framing == HTTP_BODY_CLOSE;
	h->resp_done = h->resp.h.framing == HTTP_BODY_NONE ||
	    (h->resp.h.framing == HTTP_BODY_LENGTH && h->resp_left == 0);
	http_chunked_init(&h->resp_chunked);
	h->state = H_RELAY;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
}

/* ------------------------------------------------------------- pumping */

/* Marks which bytes of h->in are request body, up to its end. */
static int
http_body_scan(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_listener *l = http_listener(c);
	size_t avail = h->in.end - h->body_end;
	long n;

	if (h->body_done || avail == 0)
		return CT_OK;
	if (h->req.h.framing == HTTP_BODY_LENGTH) {
		n = (long)CT_MIN((uint64_t)avail, h->body_left);
		h->body_left -= (uint64_t)n;
		h->body_done = h->body_left == 0;
	} else {
		n = http_chunked_scan(&h->chunked, h->in.p + h->body_end, avail);
		if (n < 0) {
			http_error(c, 400, h->chunked.error);
			return CT_ERROR;
		}
		h->body_done = h->chunked.done;
	}
	h->body_end += (size_t)n;
	h->body_total += (uint64_t)n;
	if (l->max_body_size > 0 && h->req.h.framing == HTTP_BODY_CHUNKED &&
	    h->chunked.data_total > l->max_body_size) {
		http_error(c, 413, "request body larger than max_body_size");
		return CT_ERROR;
	}
	return CT_OK;
}

/* Marks which bytes of h->rin are response body, up to its end. */
static int
http_resp_scan(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t avail = h->rin.end - h->resp_end;
	long n;

	if (h->resp_done || avail == 0)
		return CT_OK;
	switch (h->resp.h.framing) {
	case HTTP_BODY_LENGTH:
		n = (long)CT_MIN((uint64_t)avail, h->resp_left);
		h->resp_left -= (uint64_t)n;
		h->resp_done = h->resp_left == 0;
		break;
	case HTTP_BODY_CHUNKED:
		if (h->dechunk) {
			size_t dlen, rest;

			n = http_chunked_decode(&h->resp_chunked, h->rin.p + h->resp_end, avail, &dlen);
			if (n >= 0) {
				/* the payload now starts at resp_end; what followed the body moves after it */
				rest = avail - (size_t)n;
				memmove(h->rin.p + h->resp_end + dlen, h->rin.p + h->resp_end + n, rest);
				h->rin.end = h->resp_end + dlen + rest;
				h->resp_done = h->resp_chunked.done;
				h->resp_end += dlen;
				return CT_OK;
			}
		} else {
			n = http_chunked_scan(&h->resp_chunked, h->rin.p + h->resp_end, avail);
		}
		if (n < 0) {
			log_warnx("invalid chunked body from %s: %s",
			    c->w->cy->conf->upstreams[h->route->upstream].servers[c->server_idx].address,
			    h->resp_chunked.error);
			conn_close(c, "invalid response body from upstream");
			return CT_ERROR;
		}
		h->resp_done = h->resp_chunked.done;
		break;
	default:
		n = (long)avail;
		break;
	}
	h->resp_end += (size_t)n;
	return CT_OK;
}

/* Reads from s into b; returns bytes, CT_AGAIN, CT_DONE or CT_ERROR. */
static ssize_t
http_read(struct stream *s, struct http_buf *b, size_t *mark, size_t want)
{
	ssize_t n;

	if (b->cap - b->end < 1024 || b->start == b->end)
		http_buf_compact(b, mark);
	if (b->cap - b->end < want && http_buf_reserve(b, want) != CT_OK)
		return CT_ERROR;
	if (b->end == b->cap)
		return CT_AGAIN;
	n = s->ops->read(s, b->p + b->end, b->cap - b->end);
	if (n > 0)
		b->end += (size_t)n;
	return n;
}

/* Writes b[start..upto) to s; returns CT_OK when all went, CT_AGAIN, CT_ERROR. */
static int
http_write(struct stream *s, struct http_buf *b, size_t upto, uint64_t *count)
{
	while (b->start < upto) {
		ssize_t n = s->ops->write(s, b->p + b->start, upto - b->start);

		if (n == CT_AGAIN)
			return CT_AGAIN;
		if (n < 0)
			return CT_ERROR;
		b->start += (size_t)n;
		if (count != NULL)
			*count += (uint64_t)n;
	}
	return CT_OK;
}

/*
 * Writes a[start..a_upto) then b[start..b_upto) to s, both in one
 * writev while both have bytes.  Returns like http_write.
 */
static int
http_write2(struct stream *s, struct http_buf *a, size_t a_upto, struct http_buf *b,
    size_t b_upto, uint64_t *count)
{
	while (a->start < a_upto && b->start < b_upto) {
		struct iovec iov[2];
		ssize_t n;
		size_t first = a_upto - a->start;

		iov[0].iov_base = a->p + a->start;
		iov[0].iov_len = first;
		iov[1].iov_base = b->p + b->start;
		iov[1].iov_len = b_upto - b->start;
		n = s->ops->writev(s, iov, 2);
		if (n == CT_AGAIN)
			return CT_AGAIN;
		if (n < 0)
			return CT_ERROR;
		*count += (uint64_t)n;
		if ((size_t)n < first) {
			a->start += (size_t)n;
		} else {
			a->start = a_upto;
			b->start += (size_t)n - first;
		}
	}
	if (a->start < a_upto)
		return http_write(s, a, a_upto, count);
	return http_write(s, b, b_upto, count);
}

static void
http_client_gone(struct conn *c, const char *why)
{
	conn_close(c, why);
}

/* H_HEAD / H_IDLE: read the client until a head parses. */
static void
http_step_head(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t cap = http_listener(c)->max_header_size + 4096;
	ssize_t n = http_read(&c->client, &h->in, NULL, cap - (h->in.end - h->in.start));

	if (n == CT_AGAIN)
		return;
	if (n == CT_DONE || n == CT_ERROR) {
		if (h->state == H_IDLE || h->in.end == h->in.start) {
			h->status = 0;
			conn_close(c, n == CT_DONE ? "done" : "client reset");
		} else {
			http_client_gone(c, "client closed before its request was complete");
		}
		return;
	}
	c->from_client += (uint64_t)n;
	if (h->state == H_IDLE) {
		h->state = H_HEAD;
		h->t_start = http_now(c);
		http_timer_arm(c, http_listener(c)->header_timeout_ms);
	}
	http_head_parse(c);
}

/* H_SEND: request head, then body, to the upstream. */
static void
http_step_send(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	ssize_t n;
	int rc;

	if (h->out.start < h->out.end) {
		/* The head and the body bytes already here leave together. */
		if (http_body_scan(c) != CT_OK)
			return;
		rc = http_write2(&c->server, &h->out, h->out.end, &h->in, h->body_end,
		    &c->to_server);
		if (rc == CT_AGAIN)
			return;
		if (rc == CT_ERROR) {
			upstream_fail(c, UPSTREAM_SEND, errno, NULL, 502);
			return;
		}
		http_timer_arm(c, http_listener(c)->send_timeout_ms);
	}
	for (;;) {
		if (http_body_scan(c) != CT_OK)
			return;
		if (h->in.start < h->body_end) {
			rc = http_write(&c->server, &h->in, h->body_end, &c->to_server);
			if (rc == CT_AGAIN)
				return;
			if (rc == CT_ERROR) {
				upstream_fail(c, UPSTREAM_SEND, errno, NULL, 502);
				return;
			}
			http_timer_arm(c, http_listener(c)->send_timeout_ms);
		}
		if (h->body_done)
			break;
		n = http_read(&c->client, &h->in, &h->body_end, 16384);
		if (n == CT_AGAIN)
			return;
		if (n == CT_DONE || n == CT_ERROR) {
			http_client_gone(c, "client closed while sending its request body");
			return;
		}
		c->from_client += (uint64_t)n;
	}
	h->state = H_RECV;
	/* The answer takes a round trip: wait for EPOLLIN rather than read now. */
	c->server.drained = 1;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
}

/* H_RECV: the response head (interim ones are relayed first). */
static void
http_step_recv(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	ssize_t n;
	int rc;

	if (h->out.start < h->out.end) {
		rc = http_write(&c->client, &h->out, h->out.end, &h->bytes);
		if (rc == CT_AGAIN)
			return;
		if (rc == CT_ERROR) {
			http_client_gone(c, "client reset");
			return;
		}
		h->out.start = h->out.end = 0;
	}
	if (h->rin.start < h->rin.end) {
		http_response_parse(c);
		/* A head parsed (or an error answered): http_progress goes on. */
		if (c->state != CONN_OPEN || c->ctx == NULL || h->state != H_RECV ||
		    h->out.start < h->out.end)
			return;
	}
	n = http_read(&c->server, &h->rin, NULL, 4096);
	if (n == CT_AGAIN) {
		if (h->rin.end - h->rin.start >= HTTP_RBUF_SIZE)
			upstream_fail(c, UPSTREAM_HEAD, EMSGSIZE, NULL, 502);
		return;
	}
	if (n == CT_DONE || n == CT_ERROR) {
		upstream_fail(c, UPSTREAM_RECV, n == CT_DONE ? ECONNRESET : errno, NULL, 502);
		return;
	}
	c->from_server += (uint64_t)n;
	http_timer_arm(c, http_listener(c)->read_timeout_ms);
	http_response_parse(c);
}

/* After a 101: the bytes both buffers hold go into the tunnel's buffers. */
static void
http_upgrade(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t up = h->in.end - h->in.start, down = h->rin.end - h->rin.start;

	if (up > BUF_SIZE || down > BUF_SIZE ||
	    (up > 0 && (c->c2s = buf_get(&c->w->bufs)) == NULL) ||
	    (down > 0 && (c->s2c = buf_get(&c->w->bufs)) == NULL)) {
		conn_close(c, "upgrade with too many buffered bytes");
		return;
	}
	if (up > 0) {
		memcpy(c->c2s->data, h->in.p + h->in.start, up);
		c->c2s->end = (uint32_t)up;
	}
	if (down > 0) {
		memcpy(c->s2c->data, h->rin.p + h->rin.start, down);
		c->s2c->end = (uint32_t)down;
	}
	h->state = H_IDLE;
	http_log_request(c);
	h->status = 0;
	ev_timer_stop(c->w->loop, &c->timer);
	tunnel_start(c);
}

/*
 * Compresses the body bytes in rin into out, as one chunk when the
 * client takes chunks; at the end of the body, closes the gzip stream
 * and the chunked body.
 */
static int
http_gzip_fill(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	char z[16384], num[24];
	size_t used, made, total = 0;
	int done = 0, finish;

	while (total < sizeof(z)) {
		finish = h->resp_done && h->rin.start == h->resp_end;
		if (gzip_step(h->gz, h->rin.p + h->rin.start, h->resp_end - h->rin.start, &used,
		    z + total, sizeof(z) - total, &made, finish, &done) != CT_OK)
			return CT_ERROR;
		h->rin.start += used;
		total += made;
		if (done || (used == 0 && made == 0))
			break;
	}
	h->out.start = h->out.end = 0;
	if (total > 0 && ((h->gz_chunked &&
	    HTTP_CAT(&h->out, http_hex(num, total), HP("\r\n")) != CT_OK) ||
	    http_buf_add(&h->out, z, total) != CT_OK ||
	    (h->gz_chunked && http_buf_add(&h->out, "\r\n", 2) != CT_OK)))
		return CT_ERROR;
	if (done) {
		h->gz_done = 1;
		if (h->gz_chunked && http_buf_add(&h->out, "0\r\n\r\n", 5) != CT_OK)
			return CT_ERROR;
	}
	return CT_OK;
}

/* H_RELAY: the response head, then its body, to the client. */
/* The server ended or broke the connection inside a response body. */
static void
http_upstream_cut(struct conn *c)
{
	const struct http_ctx *h = c->ctx;

	log_warnx("upstream %s closed before the response body was complete, "
	    "request: \"%s %s\"",
	    c->w->cy->conf->upstreams[h->route->upstream].servers[c->server_idx].address,
	    h->method, h->target);
	conn_close(c, "upstream closed before the response was complete");
}

/*
 * Can the rest of the response body go on by splice?  A Content-Length
 * body, passed as it is, between plain sockets, with nothing of it left
 * in rin; takes the pipe when it can.
 */
static int
http_splice_wanted(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (h->piped)
		return 1;
	if (h->gz != NULL || h->resp.h.framing != HTTP_BODY_LENGTH ||
	    h->resp_left < HTTP_SPLICE_MIN || h->rin.start != h->resp_end ||
	    c->client.ops != &stream_plain_ops || c->server.ops != &stream_plain_ops ||
	    !pipe_take(h->pipe, WORKER_PIPES_MAX(c->w->cy->conf->worker_connections)))
		return 0;
	h->piped = 1;
	h->pipe_len = 0;
	return 1;
}

/*
 * Moves the rest of a Content-Length body server -> pipe -> client.
 * Returns CT_OK when all of it is delivered (the pipe is given back),
 * CT_AGAIN to wait for a socket, CT_ERROR when the connection closed.
 */
static int
http_relay_spliced(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	ssize_t n;

	for (;;) {
		if (h->pipe_len > 0) {
			n = splice(h->pipe[0], NULL, c->client.fd, NULL, h->pipe_len,
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				return CT_AGAIN;
			if (n <= 0) {
				http_client_gone(c, "client reset");
				return CT_ERROR;
			}
			h->pipe_len -= (size_t)n;
			h->bytes += (uint64_t)n;
			continue;
		}
		if (h->resp_left == 0) {
			pipe_give(h->pipe, 0);
			h->piped = 0;
			h->resp_done = 1;
			return CT_OK;
		}
		n = splice(c->server.fd, NULL, h->pipe[1], NULL,
		    (size_t)CT_MIN(h->resp_left, (uint64_t)PIPE_CHUNK),
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return CT_AGAIN;
		if (n <= 0) {
			http_upstream_cut(c);
			return CT_ERROR;
		}
		h->resp_left -= (uint64_t)n;
		h->pipe_len += (size_t)n;
		c->from_server += (uint64_t)n;
		http_timer_arm(c, http_listener(c)->read_timeout_ms);
	}
}

static void
http_step_relay(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	ssize_t n;
	int rc;

	for (;;) {
		if (h->out.start < h->out.end) {
			/* The head and the body bytes already here leave together. */
			if (h->gz == NULL && h->resp.code != 101 && http_resp_scan(c) != CT_OK)
				return;
			if (h->gz == NULL && h->resp.code != 101)
				rc = http_write2(&c->client, &h->out, h->out.end, &h->rin, h->resp_end,
				    &h->bytes);
			else
				rc = http_write(&c->client, &h->out, h->out.end, &h->bytes);
			if (rc == CT_AGAIN)
				return;
			if (rc == CT_ERROR) {
				http_client_gone(c, "client reset");
				return;
			}
			h->out.start = h->out.end = 0;
		}
		if (h->resp.code == 101) {
			http_upgrade(c);
			return;
		}
		if (http_resp_scan(c) != CT_OK)
			return;
		if (h->gz != NULL) {
			if (h->rin.start < h->resp_end || (h->resp_done && !h->gz_done)) {
				if (http_gzip_fill(c) != CT_OK) {
					conn_close(c, "compression failed");
					return;
				}
				if (h->out.end > 0)
					continue;
			}
			if (h->resp_done && h->gz_done) {
				ev_timer_stop(c->w->loop, &c->timer);
				http_request_done(c);
				return;
			}
		} else if (h->rin.start < h->resp_end) {
			rc = http_write(&c->client, &h->rin, h->resp_end, &h->bytes);
			if (rc == CT_AGAIN)
				return;
			if (rc == CT_ERROR) {
				http_client_gone(c, "client reset");
				return;
			}
		}
		if (!h->resp_done && h->gz == NULL && http_splice_wanted(c) &&
		    http_relay_spliced(c) != CT_OK)
			return;
		if (h->resp_done) {
			ev_timer_stop(c->w->loop, &c->timer);
			http_request_done(c);
			return;
		}
		n = http_read(&c->server, &h->rin, &h->resp_end, 16384);
		if (n == CT_AGAIN)
			return;
		if (n == CT_DONE && h->resp_close) {
			h->resp_done = 1;
			continue;
		}
		if (n == CT_DONE || n == CT_ERROR) {
			http_upstream_cut(c);
			return;
		}
		c->from_server += (uint64_t)n;
		http_timer_arm(c, http_listener(c)->read_timeout_ms);
	}
}

/* H_LOCAL: cuttle's own answer. */
static void
http_step_local(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	int rc;

	rc = http_write(&c->client, &h->out, h->out.end, NULL);

	if (rc == CT_AGAIN)
		return;
	if (rc == CT_ERROR) {
		conn_close(c, "client reset");
		return;
	}
	if (!h->local_close) {
		h->resp_done = 1;
		h->out.start = h->out.end = 0;
		if (!h->body_done) {
			/* An answer is out: a body error now ends the connection, not a second answer. */
			h->resp_started = 1;
			h->state = H_DISCARD;
			http_timer_arm(c, http_listener(c)->header_timeout_ms);
			return;
		}
		http_request_done(c);
		return;
	}
	http_log_request(c);
	h->status = 0;
	(void)shutdown(c->client.fd, SHUT_WR);
	h->state = H_LINGER;
	h->in.start = h->in.end = 0;
	http_timer_arm(c, HTTP_LINGER_MS);
}

/* H_DISCARD: the request body of an answered request, read and dropped. */
static void
http_step_discard(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	ssize_t n;

	for (;;) {
		if (http_body_scan(c) != CT_OK)
			return;
		h->in.start = h->body_end;
		if (h->body_done) {
			ev_timer_stop(c->w->loop, &c->timer);
			http_request_done(c);
			return;
		}
		n = http_read(&c->client, &h->in, &h->body_end, 16384);
		if (n == CT_AGAIN)
			return;
		if (n == CT_DONE || n == CT_ERROR) {
			conn_close(c, "client closed while sending its request body");
			return;
		}
		c->from_client += (uint64_t)n;
	}
}

/* H_LINGER: discard what the client still sends until it closes. */
static void
http_step_linger(struct conn *c)
{
	char sink[4096];
	ssize_t n;

	for (;;) {
		n = c->client.ops->read(&c->client, sink, sizeof(sink));
		if (n == CT_AGAIN)
			return;
		if (n <= 0) {
			conn_close(c, "done");
			return;
		}
	}
}

/* Runs the current state's step and sets epoll interest for the next. */
static void
http_progress(struct conn *c)
{
	struct http_ctx *h;
	enum http_state before;
	uint32_t ci = 0, si = 0;

	do {
		if (c->state == CONN_CLOSED || (h = c->ctx) == NULL || c->state != CONN_OPEN ||
		    c->client.io.cb != http_io)
			return;
		before = h->state;
		switch (h->state) {
		case H_IDLE:
		case H_HEAD:   http_step_head(c); break;
		case H_CONNECT: break;
		case H_SEND:   http_step_send(c); break;
		case H_RECV:   http_step_recv(c); break;
		case H_RELAY:  http_step_relay(c); break;
		case H_LOCAL:  http_step_local(c); break;
		case H_DISCARD: http_step_discard(c); break;
		case H_LINGER: http_step_linger(c); break;
		}
	} while (c->state == CONN_OPEN && c->ctx == h && h->state != before &&
	    c->client.io.cb == http_io);
	if (c->state != CONN_OPEN || c->ctx == NULL || c->client.io.cb != http_io)
		return;
	h = c->ctx;
	switch (h->state) {
	case H_IDLE:
	case H_HEAD:
	case H_DISCARD:
	case H_LINGER:
		ci = EPOLLIN;
		break;
	case H_CONNECT:
		si = EPOLLOUT;
		break;
	case H_SEND:
		if (h->out.start < h->out.end || h->in.start < h->body_end)
			si = EPOLLOUT;
		else
			ci = EPOLLIN;
		break;
	case H_RECV:
		if (h->out.start < h->out.end)
			ci = EPOLLOUT;
		else
			si = EPOLLIN;
		break;
	case H_RELAY:
		if (h->out.start < h->out.end || h->rin.start < h->resp_end || h->pipe_len > 0)
			ci = EPOLLOUT;
		else
			si = EPOLLIN;
		break;
	case H_LOCAL:
		ci = EPOLLOUT;
		break;
	}
	/* Lazily: a client muted while its request is served would be unmuted next. */
	if (ev_io_want(c->w->loop, &c->client.io, ci) != CT_OK ||
	    (c->server.fd != -1 && ev_io_want(c->w->loop, &c->server.io, si) != CT_OK)) {
		log_warn("epoll_ctl() failed in an http connection");
		conn_close(c, "internal error");
	}
}

static void
http_drain(struct worker *w)
{
	unsigned i;

	for (i = 0; i < w->cy->conf->worker_connections; i++) {
		struct conn *c = &w->conns[i];

		if (c->state == CONN_OPEN && c->client.io.cb == http_io &&
		    (c->ctx == NULL || http_ctx_of(c)->state == H_IDLE))
			conn_close(c, "shutdown");
	}
}

static void
http_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(io == &c->client.io ? &c->client : &c->server, events);
	if (c->state != CONN_OPEN)
		return;
	if (c->ctx == NULL) {
		if (http_ctx_get(c) != CT_OK) {
			conn_close(c, "out of memory");
			return;
		}
		http_ctx_of(c)->state = H_IDLE;
		http_ctx_of(c)->t_start = http_now(c);
	}
	http_progress(c);
}

static void
http_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	struct http_ctx *h = c->ctx;

	(void)loop;
	if (c->state != CONN_OPEN)
		return;
	if (h == NULL) {
		conn_close(c, "keep-alive timeout");
		return;
	}
	switch (h->state) {
	case H_IDLE:
		conn_close(c, "keep-alive timeout");
		break;
	case H_HEAD:
		snprintf(h->method, sizeof(h->method), "-");
		snprintf(h->target, sizeof(h->target), "-");
		http_error(c, 408, "request head not complete within timeouts.header");
		break;
	case H_CONNECT:
		break;
	case H_SEND:
		upstream_fail(c, UPSTREAM_SEND, ETIMEDOUT, NULL, 504);
		break;
	case H_RECV:
		upstream_fail(c, UPSTREAM_RECV, ETIMEDOUT, NULL, 504);
		break;
	case H_RELAY:
		upstream_fail(c, UPSTREAM_BODY, ETIMEDOUT, NULL, 504);
		break;
	case H_LOCAL:
		conn_close(c, "client did not read the answer");
		break;
	case H_DISCARD:
		conn_close(c, "request body not complete within timeouts.header");
		break;
	case H_LINGER:
		conn_close(c, "done");
		break;
	}
}

static void
http_describe(const struct conn *c, char *buf, size_t len)
{
	const struct http_ctx *h = c->ctx;

	if (h != NULL && h->method[0] != '\0')
		snprintf(buf, len, ", request: \"%s %s\"", h->method, h->target);
}

const struct conn_mode http_mode = {
	.name = "http",
	.per_request = 1,
	.start = http_start,
	.free = http_free,
	.drain = http_drain,
	.exit = http_pool_close_all,
	.describe = http_describe,
	.io = http_io,
	.timer = http_timer,
	.connect_events = EPOLLOUT,
	.upstream_ready = http_upstream_ready,
	.upstream_give_up = http_upstream_give_up,
	.upstream_resend = http_upstream_resend,
	.upstream_pool_take = http_pool_take,
	.upstream_key = http_upstream_key,
};

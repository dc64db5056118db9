/*
 * Background revalidation (RFC 5861 3, stale-while-revalidate): the
 * request that finds its object stale but within the window takes the
 * key's fill as a revalidation would, and instead of waiting on the
 * origin hands the fill to a request of the worker's own and is
 * answered stale at once; so is every other request meanwhile, since
 * the fill is taken.
 *
 * The worker's own request is an ordinary request of mode http on a
 * socketpair: the worker writes a copy of the client's request into one
 * end (its fields but those of a connection, a precondition or a range,
 * and "Connection: close") and serves the other end as a client of the
 * same listener, with the client's address.  So it is routed, sent,
 * revalidated, merged, stored, logged and counted as any request is,
 * with none of that written twice.  It skips the access phase, which the
 * request it stands for has passed, and is refused if it is routed
 * elsewhere than that request was.  What it answers is read from the
 * socketpair and dropped.
 *
 * Not on a TLS listener where a client certificate makes a difference
 * (fields that carry it upstream, routes chosen by it): the worker's
 * request has none, and what the origin answers it, or which route it
 * takes, is not the client's.  There the first request revalidates
 * while the others get the stale object.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"
#include "shm/cache.h"
#include "worker/conn.h"
#include "worker/http_int.h"
#include "worker/worker.h"

#define HTTP_CACHE_BG_MAX   16          /* under way per worker */
#define HTTP_CACHE_BG_HEAD  16384       /* the longest request head copied */

struct http_cache_bg {
	struct http_cache_bg *next;
	struct worker *w;
	struct conn *c;                     /* the worker's request; NULL once its context went */
	const struct conf_route *route;     /* of the request it stands for */
	struct shm_cache_ref fill;          /* until the request takes it */
	struct ev_io io;                    /* the other end: the answer, dropped */
};

/* The answer's end: read and dropped; its end closes the revalidation. */
static void
http_cache_bg_end(struct http_cache_bg *bg)
{
	struct http_pool *p = bg->w->modes[CONF_MODE_HTTP];
	struct http_cache_bg **pp;
	int fd = bg->io.fd;

	ev_io_stop(bg->w->loop, &bg->io);
	close(fd);
	if (bg->fill.entry != SHM_CACHE_NONE)
		shm_cache_store_abort(&bg->fill);
	if (bg->c != NULL && bg->c->ctx != NULL)
		http_ctx_of(bg->c)->cache_bg = NULL;
	for (pp = &p->cache_bg; *pp != NULL; pp = &(*pp)->next)
		if (*pp == bg) {
			*pp = bg->next;
			p->ncache_bg--;
			break;
		}
	free(bg);
}

static void
http_cache_bg_read(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	static char sink[16384];
	struct http_cache_bg *bg = io->data;
	ssize_t n;

	(void)loop;
	(void)events;
	while ((n = read(io->fd, sink, sizeof(sink))) > 0)
		;
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	http_cache_bg_end(bg);
}

/*
 * Does a client certificate make a difference on the listener: fields
 * that carry it upstream, or routes chosen by it?  The worker's request
 * has none.
 */
static int
http_cache_bg_cert_matters(const struct conf_listener *l)
{
	size_t i;

	if (l->tls == NULL)
		return 0;
	for (i = 0; i < CONF_TLS_HDRS; i++)
		if (l->tls->headers[i] != NULL)
			return 1;
	for (i = 0; i < l->nroutes; i++)
		if (l->routes[i].client_cert != CONF_CLIENT_CERT_ANY)
			return 1;
	return 0;
}

/* Does the field of this name go with the worker's copy of the request? */
static int
http_cache_bg_keeps(const struct http_header *f)
{
	if (HTTP_F_IS_HOP(f->id) || f->id == HTTP_F_HOST || f->id == HTTP_F_EXPECT)
		return 0;
	/* Its own preconditions and ranges would make the answer the client's, not the object. */
	return !(f->name.len >= 3 && strncasecmp(f->name.p, "if-", 3) == 0) &&
	    !(f->name.len == 5 && strncasecmp(f->name.p, "range", 5) == 0);
}

/* The copy of c's request into buf; its length, or 0 when it does not fit. */
static size_t
http_cache_bg_head(const struct conn *c, char *buf, size_t size)
{
	const struct http_request *req = &http_ctx_of(c)->req;
	size_t i, o;
	int n;

	n = snprintf(buf, size, "GET %.*s HTTP/1.1\r\nHost: %.*s\r\n", (int)req->path.len,
	    req->path.p, (int)req->host.len, req->host.p);
	if (n < 0 || (size_t)n >= size)
		return 0;
	o = (size_t)n;
	for (i = 0; i < req->h.nheaders; i++) {
		const struct http_header *f = &req->h.headers[i];

		if (!http_cache_bg_keeps(f))
			continue;
		n = snprintf(buf + o, size - o, "%.*s: %.*s\r\n", (int)f->name.len, f->name.p,
		    (int)f->value.len, f->value.p);
		if (n < 0 || (size_t)n >= size - o)
			return 0;
		o += (size_t)n;
	}
	n = snprintf(buf + o, size - o, "Connection: close\r\n\r\n");
	return n < 0 || (size_t)n >= size - o ? 0 : o + (size_t)n;
}

int
http_cache_bg_start(struct conn *c, struct shm_cache_ref *fill)
{
	static char head[HTTP_CACHE_BG_HEAD];
	const struct conf_listener *l = http_listener(c);
	struct worker *w = c->w;
	struct http_pool *p = http_pool_get(w);
	struct http_cache_bg *bg;
	struct http_ctx *h2;
	struct conn *c2;
	size_t len;
	int sv[2];

	if (p == NULL || p->ncache_bg >= HTTP_CACHE_BG_MAX || w->free == NULL ||
	    conn_fds_short(w) || http_cache_bg_cert_matters(l) ||
	    (len = http_cache_bg_head(c, head, sizeof(head))) == 0)
		return CT_ERROR;
	if ((bg = calloc(1, sizeof(*bg))) == NULL)
		return CT_ERROR;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1) {
		free(bg);
		return CT_ERROR;
	}
	/* A few KiB into an empty socket buffer: all of it, or the revalidation is not made. */
	if (write(sv[1], head, len) != (ssize_t)len ||
	    (c2 = conn_get(w, sv[0], &c->peer.sa, sizeof(c->peer), c->listener, c->mode)) == NULL) {
		close(sv[0]);
		close(sv[1]);
		free(bg);
		return CT_ERROR;
	}
	if (http_ctx_get(c2) != CT_OK) {
		conn_close(c2, "out of memory");
		close(sv[1]);
		free(bg);
		return CT_ERROR;
	}
	bg->w = w;
	bg->c = c2;
	bg->route = http_ctx_of(c)->route;
	bg->fill = *fill;
	ev_io_init(&bg->io, sv[1], http_cache_bg_read, bg);
	if (ev_io_set(w->loop, &bg->io, EPOLLIN) != CT_OK) {
		conn_close(c2, "internal error");
		close(sv[1]);
		free(bg);
		return CT_ERROR;
	}
	bg->next = p->cache_bg;
	p->cache_bg = bg;
	p->ncache_bg++;
	h2 = c2->ctx;
	h2->state = H_IDLE;
	h2->t_start = http_now(c2);
	h2->cache_bg = bg;
	fill->entry = SHM_CACHE_NONE;
	/* As worker_conn_start(), but in the clear: the bytes come from this worker. */
	c2->client.io.cb = c2->mode->io;
	c2->timer.cb = c2->mode->timer;
	c2->mode->start(c2);
	return CT_OK;
}

int
http_cache_bg_take(struct conn *c, struct shm_cache_ref *fill)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_bg *bg = h->cache_bg;

	if (bg == NULL || bg->fill.entry == SHM_CACHE_NONE)
		return CT_DECLINED;
	if (h->route != bg->route) {
		log_warnx("cache: a background revalidation was routed elsewhere than its "
		    "request; not made");
		shm_cache_store_abort(&bg->fill);
		bg->fill.entry = SHM_CACHE_NONE;
		return CT_ERROR;
	}
	*fill = bg->fill;
	bg->fill.entry = SHM_CACHE_NONE;
	return CT_OK;
}

void
http_cache_bg_gone(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	h->cache_bg->c = NULL;
	h->cache_bg = NULL;
}

void
http_cache_bg_free_all(struct http_pool *p)
{
	while (p->cache_bg != NULL)
		http_cache_bg_end(p->cache_bg);
}

/*
 * Mode http's cache: a route's "cache" over a zone of the shared segment
 * (shm/cache.h), by the rules of a shared cache (lib/http_cache.h).
 *
 *   access passed --not GET/HEAD, bypass, no-cache--> origin (may store)
 *        |
 *   lookup --fresh (or stale as the request allows)--> H_CACHE: the head
 *        |                                             and body from the
 *        |                                             segment, writev
 *        +--miss, stale, a fill under way--> origin
 *                                               |
 *   response head --storable, fits--> begin a fill: the head now, the body
 *        |                            as it passes (the "cache" filter),
 *        |                            the object visible at its last byte
 *        +--not storable: relayed as without a cache
 *
 * An object is a head blob and the body.  The blob is a struct
 * http_cache_meta, then the response head as the client got it without
 * its framing (Content-Length, Transfer-Encoding, Connection) and Age,
 * its last line ending in CRLF and no empty line: a hit writes it, its
 * own Age, Cache-Status, Content-Length and Connection, then the body.
 * The body is the payload, chunked framing taken off.
 *
 * A fill that cannot finish (the origin closes early, a body longer
 * than its Content-Length or than max_object, the client leaving) is
 * aborted: nothing of it is ever found.  Another request for a key
 * whose fill is under way goes to the origin without storing.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

#include "core/cache.h"
#include "lib/http_cache.h"
#include "lib/log.h"
#include "shm/cache.h"
#include "worker/http_int.h"

#define HTTP_CACHE_NAME   "cuttle"
#define HTTP_CACHE_IOV    16          /* iovecs of a hit per writev */
#define HTTP_CACHE_TAIL   256         /* Age, Cache-Status, framing of a hit */

struct http_cache_req {
	struct shm_cache_user *u;
	struct shm_cache_ref ref;          /* the hit being sent, or the fill */
	struct shm_cache_key key;
	struct http_cache_meta meta;
	struct http_cache_control req_cc;
	struct http_cache_decision d;
	int64_t request_time;
	uint64_t pos;                      /* hit: bytes of the object written (blob, then body) */
	uint64_t end;                      /* hit: where they end: the blob, or the body too */
	uint64_t stored;                   /* fill: body bytes appended */
	enum http_cache_fwd fwd;
	unsigned looked:1;                 /* a lookup was made */
	unsigned may_store:1;              /* the request lets its response be stored */
	unsigned filling:1;                /* ref is a fill under way */
	unsigned committed:1;              /* the fill became the object */
	unsigned chunked:1;                /* the stored body is taken out of chunks */
	struct http_chunked dechunk;       /* ... by this decoder */
	size_t keylen;
	/* Last: what a new request clears stops here. */
	char keybuf[SHM_CACHE_KEY_MAX];
};

static int64_t
http_cache_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static const struct conf_route_cache *
http_cache_conf(const struct conn *c)
{
	const struct http_ctx *h = c->ctx;

	return h->route != NULL ? h->route->cache : NULL;
}

/* Is a header:NAME or cookie:NAME of parts there in the request? */
static int
http_cache_parts_present(const struct http_request *req, const struct conf_cache_part *parts,
    size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (parts[i].kind == CONF_CACHE_HEADER) {
			for (k = 0; k < req->h.nheaders; k++)
				if (req->h.headers[k].name.len == strlen(parts[i].name) &&
				    strncasecmp(req->h.headers[k].name.p, parts[i].name,
				    req->h.headers[k].name.len) == 0)
					return 1;
		} else if (http_cookie_get(req, parts[i].name, &(struct http_slice){ NULL, 0 })) {
			return 1;
		}
	}
	return 0;
}

/* The URL's part of a key: scheme, host, path and query; what a purge of the URL names. */
static int
http_cache_url_of(const struct conn *c, char *out, size_t size, size_t *len)
{
	const struct http_ctx *h = c->ctx;
	int tls = http_listener(c)->tls != NULL;
	struct http_slice scheme = { tls ? "https" : "http", tls ? 5 : 4 };

	if (h->req.host.len == 0)
		return CT_ERROR;
	return http_cache_key(scheme, h->req.host, h->route_path, out, size, len);
}

/*
 * The primary key: the URL's part, then the zone's parts (core/cache.h
 * says how purges find them).
 */
static int
http_cache_key_make(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	const struct conf_cache *zone = &c->w->cy->conf->caches[http_cache_conf(c)->zone];
	const struct http_header *f;
	struct http_slice val;
	const struct http_slice *v;
	size_t i, room;

	if (http_cache_url_of(c, cr->keybuf, sizeof(cr->keybuf), &cr->keylen) != CT_OK)
		return CT_ERROR;
	/* Each part after a NUL, which no request byte can be: parts cannot run together. */
	for (i = 0; i < zone->nkey; i++) {
		const struct conf_cache_part *p = &zone->key[i];

		v = NULL;
		if (p->kind == CONF_CACHE_HEADER) {
			f = http_header_find(&h->req.h, p->name);
			v = f != NULL ? &f->value : NULL;
		} else {
			v = http_cookie_get(&h->req, p->name, &val) ? &val : NULL;
		}
		room = sizeof(cr->keybuf) - cr->keylen;
		if (room < 2 + (v != NULL ? v->len : 0))
			return CT_ERROR;
		cr->keybuf[cr->keylen++] = '\0';
		cr->keybuf[cr->keylen++] = v != NULL ? '=' : '-';
		if (v != NULL) {
			memcpy(cr->keybuf + cr->keylen, v->p, v->len);
			cr->keylen += v->len;
		}
	}
	return shm_cache_key_init(cr->u, &cr->key, cr->keybuf, cr->keylen, NULL, 0);
}

/* Copies len bytes of the object from pos out of the segment into out. */
static int
http_cache_copy_out(struct http_cache_req *cr, uint64_t pos, void *out, size_t len)
{
	struct iovec iov[HTTP_CACHE_IOV];
	size_t n, i, got = 0;

	while (got < len) {
		if ((n = shm_cache_iov(&cr->ref, pos + got, iov, HTTP_CACHE_IOV)) == 0)
			return CT_ERROR;
		for (i = 0; i < n && got < len; i++) {
			size_t take = CT_MIN(iov[i].iov_len, len - got);

			memcpy((char *)out + got, iov[i].iov_base, take);
			got += take;
		}
	}
	return CT_OK;
}

static void
http_cache_release(struct http_cache_req *cr)
{
	if (cr->filling && !cr->committed)
		shm_cache_store_abort(&cr->ref);
	else if (cr->ref.entry != SHM_CACHE_NONE)
		shm_cache_release(&cr->ref);
	cr->ref.entry = SHM_CACHE_NONE;
	cr->filling = 0;
}

void
http_cache_done(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_pool *p;

	if (h == NULL || h->cache == NULL)
		return;
	http_cache_release(h->cache);
	p = http_pool_get(c->w);
	if (p != NULL && p->ncache_spare < CT_NELEM(p->cache_spare))
		p->cache_spare[p->ncache_spare++] = h->cache;
	else
		free(h->cache);
	h->cache = NULL;
}

void
http_cache_spares_free(struct http_pool *p)
{
	while (p->ncache_spare > 0)
		free(p->cache_spare[--p->ncache_spare]);
}

/* A cleared state for c's request, a spare one if there is. */
static struct http_cache_req *
http_cache_req_get(struct conn *c)
{
	struct http_pool *p = http_pool_get(c->w);
	struct http_cache_req *cr;

	if (p != NULL && p->ncache_spare > 0)
		cr = p->cache_spare[--p->ncache_spare];
	else if ((cr = malloc(sizeof(*cr))) == NULL)
		return NULL;
	memset(cr, 0, offsetof(struct http_cache_req, keybuf));
	return cr;
}

/* "Cache-Status: cuttle; ...\r\n" into o. */
static int
http_cache_status_add(struct conn *c, struct http_buf *o, int hit, int stored, int fwd_status,
    const char *detail)
{
	struct http_cache_req *cr = ((struct http_ctx *)c->ctx)->cache;
	struct http_cache_status cs;
	char v[160];
	size_t len;

	memset(&cs, 0, sizeof(cs));
	cs.cache = HTTP_CACHE_NAME;
	cs.hit = hit != 0;
	cs.fwd = hit ? HTTP_CACHE_FWD_NONE : cr->fwd;
	cs.fwd_status = hit ? 0 : fwd_status;
	cs.stored = stored != 0;
	cs.detail = detail;
	if (hit || cr->looked) {
		cs.has_ttl = hit != 0 || cr->fwd == HTTP_CACHE_FWD_STALE;
		cs.ttl = cr->d.ttl;
	}
	if (http_cache_status_write(&cs, v, sizeof(v), &len) != CT_OK)
		return CT_OK;
	return HTTP_CAT(o, HP("Cache-Status: "), ((struct http_piece){ v, len }), HP("\r\n"));
}

/* ------------------------------------------------------------ a hit */

/* The head of a hit into h->out: the stored lines, then Age, Cache-Status, framing. */
static int
http_cache_hit_head(struct conn *c, struct http_cache_req *cr, uint32_t head_len,
    uint64_t body_len)
{
	struct http_ctx *h = c->ctx;
	struct http_buf *o = &h->out;
	size_t lines = head_len - sizeof(struct http_cache_meta);
	char num[24], num2[24];
	int rc;

	o->start = o->end = 0;
	if (c->w->quitting)
		h->client_keepalive = 0;
	if (http_buf_reserve(o, lines + HTTP_CACHE_TAIL) != CT_OK ||
	    http_cache_copy_out(cr, sizeof(struct http_cache_meta), o->p, lines) != CT_OK)
		return CT_ERROR;
	o->end = lines;
	rc = HTTP_CAT(o, HP("Age: "), http_num(num, (uint64_t)cr->d.age), HP("\r\n"));
	rc |= http_cache_status_add(c, o, 1, 0, 0, NULL);
	rc |= HTTP_CAT(o, HP("Content-Length: "), http_num(num2, body_len), HP("\r\n"));
	if (!h->client_keepalive)
		rc |= HTTP_CAT(o, HP("Connection: close\r\n"));
	else if (h->minor == 0)
		rc |= HTTP_CAT(o, HP("Connection: keep-alive\r\n"));
	rc |= http_buf_add(o, "\r\n", 2);
	/* For the log: the status of the stored line. */
	h->status = (int)cr->meta.status;
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

/* Serves the referenced COMPLETE object: CT_DONE (H_CACHE), or CT_ERROR (closed). */
static int
http_cache_hit(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	struct shm_cache_progress p;

	shm_cache_progress(&cr->ref, &p);
	if (http_cache_hit_head(c, cr, p.head_len, p.body_len) != CT_OK) {
		conn_close(c, "out of memory");
		return CT_ERROR;
	}
	cr->pos = p.head_len;
	cr->end = p.head_len + (h->req.method.len == 4 &&
	    memcmp(h->req.method.p, "HEAD", 4) == 0 ? 0 : p.body_len);
	h->out_to_client = 1;
	h->resp_started = 1;
	h->state = H_CACHE;
	http_timer_arm(c, http_listener(c)->send_timeout_ms);
	return CT_DONE;
}

/* H_CACHE: the head, then the stored body straight from the segment. */
void
http_step_cache(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	struct iovec iov[HTTP_CACHE_IOV + 1];
	size_t n, i, k = 0;
	uint64_t left;
	ssize_t w;

	for (;;) {
		k = 0;
		if (h->out.start < h->out.end) {
			iov[k].iov_base = h->out.p + h->out.start;
			iov[k++].iov_len = h->out.end - h->out.start;
		}
		n = cr->pos < cr->end ? shm_cache_iov(&cr->ref, cr->pos, iov + k, HTTP_CACHE_IOV) : 0;
		/* The last iovec may run past the end (a HEAD's body, or chunk slack). */
		for (i = k, left = cr->end - cr->pos; i < k + n; i++) {
			if (iov[i].iov_len > left)
				iov[i].iov_len = (size_t)left;
			left -= iov[i].iov_len;
		}
		k += n;
		if (k == 0)
			break;
		w = c->client.ops->writev(&c->client, iov, (int)k);
		if (w == CT_AGAIN)
			return;
		if (w < 0) {
			http_client_gone(c, "client reset");
			return;
		}
		h->bytes += (uint64_t)w;
		if (h->out.start < h->out.end) {
			size_t head = h->out.end - h->out.start;

			if ((size_t)w < head) {
				h->out.start += (size_t)w;
				continue;
			}
			w -= (ssize_t)head;
			h->out.start = h->out.end = 0;
		}
		cr->pos += (uint64_t)w;
		http_timer_arm(c, http_listener(c)->send_timeout_ms);
	}
	h->resp_done = 1;
	http_cache_release(cr);
	if (!h->body_done) {
		/* A GET with a body: the rest of it is read and dropped, as after any answer. */
		h->state = H_DISCARD;
		http_timer_arm(c, http_listener(c)->header_timeout_ms);
		return;
	}
	ev_timer_stop(c->w->loop, &c->timer);
	http_request_done(c);
}

/* ------------------------------------------------------------ the request */

/*
 * An access phase, last: PURGE on a route with a cache.  The client's
 * address must be in the route's "purge" list (else 403); a route
 * without one does not serve PURGE (405).  The request's URL, keyed as
 * a lookup of it would be, loses its objects in the zone, every variant
 * of the zone's key parts with them.  On a route without a cache PURGE
 * is a method like any other, for the origin (a cache behind) to take.
 */
int
http_access_purge(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_route_cache *rc = http_cache_conf(c);
	char key[SHM_CACHE_KEY_MAX + 1], url[1024], client[ADDR_STRLEN], body[48];
	size_t i, klen, n;
	int len;

	if (rc == NULL || h->req.method.len != 5 || memcmp(h->req.method.p, "PURGE", 5) != 0)
		return CT_DECLINED;
	if (rc->npurge == 0) {
		http_error(c, 405, "PURGE on a route whose cache has no purge list");
		return CT_DONE;
	}
	for (i = 0; i < rc->npurge && !cidr_match(&rc->purge[i], &c->peer.sa); i++)
		;
	if (i == rc->npurge) {
		http_error(c, 403, "PURGE from a client not in the route's purge list");
		return CT_DONE;
	}
	if (http_cache_url_of(c, key, sizeof(key) - 1, &klen) != CT_OK) {
		http_error(c, 400, "PURGE of a URL that names no key (no Host, or a bad one)");
		return CT_DONE;
	}
	n = cache_purge_url(c->w->cy, rc->zone, key, klen);
	key[klen] = '\0';
	http_log_escape(url, sizeof(url), key);
	addr_format(&c->peer.sa, client, sizeof(client));
	log_info("cache purge client=%s listener=%s zone=%s url=\"%s\" purged=%zu", client,
	    http_listener(c)->name, c->w->cy->conf->caches[rc->zone].name, url, n);
	len = snprintf(body, sizeof(body), "{\"purged\":%zu}\n", n);
	http_answer(c, 200, NULL, "application/json", body, (size_t)len, NULL, 0);
	return CT_DONE;
}

int
http_cache_request(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_route_cache *rc = http_cache_conf(c);
	struct shm_cache_user *u;
	struct http_cache_req *cr;
	int get, head;

	if (rc == NULL || c->w->caches == NULL || (u = &c->w->caches[rc->zone])->shm == NULL)
		return CT_OK;
	if ((cr = http_cache_req_get(c)) == NULL) {
		conn_close(c, "out of memory");
		return CT_ERROR;
	}
	h->cache = cr;
	cr->u = u;
	cr->ref.entry = SHM_CACHE_NONE;
	cr->request_time = http_cache_now();
	cr->fwd = HTTP_CACHE_FWD_MISS;
	get = h->req.method.len == 3 && memcmp(h->req.method.p, "GET", 3) == 0;
	head = h->req.method.len == 4 && memcmp(h->req.method.p, "HEAD", 4) == 0;
	if (!get && !head) {
		cr->fwd = HTTP_CACHE_FWD_METHOD;
		return CT_OK;
	}
	http_cache_control_parse(&h->req.h, 1, &cr->req_cc);
	/* A HEAD is answered from a stored GET, never stored itself. */
	cr->may_store = get && !(cr->req_cc.flags & HTTP_CC_NO_STORE) &&
	    !http_cache_parts_present(&h->req, rc->no_store, rc->nno_store);
	if (http_cache_parts_present(&h->req, rc->bypass, rc->nbypass)) {
		cr->fwd = HTTP_CACHE_FWD_BYPASS;
		return CT_OK;
	}
	if (http_cache_key_make(c, cr) != CT_OK) {
		cr->may_store = 0;
		return CT_OK;
	}
	cr->looked = 1;
	switch (shm_cache_lookup(u, &cr->key, (uint64_t)cr->request_time, &cr->ref)) {
	case SHM_CACHE_HIT:
		if (http_cache_copy_out(cr, 0, &cr->meta, sizeof(cr->meta)) != CT_OK) {
			http_cache_release(cr);
			cr->fwd = HTTP_CACHE_FWD_MISS;
			break;
		}
		switch (http_cache_serve(&cr->meta, &cr->req_cc, cr->request_time, &cr->d)) {
		case HTTP_CACHE_HIT:
		case HTTP_CACHE_HIT_STALE:
		case HTTP_CACHE_STALE_REVALIDATE:
			return http_cache_hit(c, cr);
		case HTTP_CACHE_GATEWAY_TIMEOUT:
			http_cache_release(cr);
			http_error(c, 504, "only-if-cached and nothing fresh enough stored");
			return CT_DONE;
		default:
			/* Fetched anew, the object replaced when the new one is complete. */
			http_cache_release(cr);
			cr->fwd = (cr->req_cc.flags & HTTP_CC_NO_CACHE) ? HTTP_CACHE_FWD_REQUEST :
			    HTTP_CACHE_FWD_STALE;
			break;
		}
		break;
	case SHM_CACHE_COLLAPSE:
		/* Another request fetches it: this one goes too, and leaves the storing to it. */
		http_cache_release(cr);
		cr->may_store = 0;
		cr->fwd = HTTP_CACHE_FWD_MISS;
		break;
	case SHM_CACHE_MISS:
		cr->fwd = HTTP_CACHE_FWD_URI_MISS;
		break;
	default:
		cr->may_store = 0;
		cr->fwd = HTTP_CACHE_FWD_MISS;
		break;
	}
	if (cr->req_cc.flags & HTTP_CC_ONLY_IF_CACHED) {
		http_error(c, 504, "only-if-cached and nothing stored");
		return CT_DONE;
	}
	return CT_OK;
}

/* ------------------------------------------------------------ the response */

/* The lifetime of "valid" for status, 0 when none applies. */
static uint32_t
http_cache_fallback(const struct conf_route_cache *rc, int status)
{
	size_t i;

	for (i = 0; i < rc->nvalid; i++)
		if (rc->valid[i].status == (unsigned)status || rc->valid[i].status == 0)
			return (uint32_t)CT_MIN(rc->valid[i].ms / 1000, (uint64_t)UINT32_MAX);
	return 0;
}

/*
 * Begins the fill of a storable response: the blob is the meta and the
 * head lines of o[from..to), Age left out.  Returns the detail of a
 * response not stored (NULL: a fill began).
 */
static const char *
http_cache_fill_begin(struct conn *c, struct http_cache_req *cr, const struct http_buf *o,
    size_t from, size_t to)
{
	struct http_ctx *h = c->ctx;
	const struct conf_route_cache *rc = http_cache_conf(c);
	const struct conf_cache *zone = &c->w->cy->conf->caches[rc->zone];
	struct http_cache_control resp_cc;
	struct http_cache_store_opts opts;
	enum http_cache_store why;
	int64_t now = http_cache_now();
	uint64_t expected = 0;
	const struct conf_header_ops *ops_of = &h->route->response_headers;
	struct conf_header_ops ops = *ops_of;
	char *blob;
	size_t blen;
	const char *p, *end, *eol;
	int rc2;

	http_cache_control_parse(&h->resp.h, 0, &resp_cc);
	memset(&opts, 0, sizeof(opts));
	opts.allow_set_cookie = rc->set_cookie != 0;
	opts.fallback = http_cache_fallback(rc, h->resp.code);
	opts.response_time = now;
	if ((why = http_cache_storable(&h->req, &cr->req_cc, &h->resp, &resp_cc, &opts)) !=
	    HTTP_CACHE_STORE_OK)
		return http_cache_store_name(why);
	if (http_cache_parts_present(&h->req, rc->no_store, rc->nno_store))
		return "no_store";
	/* Variants are not told apart yet: one kept for every request would be wrong. */
	if (http_header_find(&h->resp.h, "vary") != NULL)
		return "vary";
	if (h->resp.h.framing == HTTP_BODY_LENGTH) {
		expected = h->resp.h.content_length;
		if (expected > zone->max_object)
			return "too-large";
	} else if (h->resp.h.framing != HTTP_BODY_CHUNKED && h->resp.h.framing != HTTP_BODY_NONE) {
		/* Delimited by the close: a cut could not be told from the end. */
		return "no-length";
	}
	http_cache_meta_make(&cr->meta, &h->resp, &resp_cc, cr->request_time, now, opts.fallback);
	blen = sizeof(cr->meta) + (to - from);
	if ((blob = malloc(blen)) == NULL)
		return "no-memory";
	memcpy(blob, &cr->meta, sizeof(cr->meta));
	blen = sizeof(cr->meta);
	/* The lines but Age: a hit says its own. */
	for (p = o->p + from, end = o->p + to; p < end; p = eol) {
		eol = memchr(p, '\n', (size_t)(end - p));
		eol = eol != NULL ? eol + 1 : end;
		if (eol - p >= 4 && strncasecmp(p, "Age:", 4) == 0)
			continue;
		memcpy(blob + blen, p, (size_t)(eol - p));
		blen += (size_t)(eol - p);
	}
	/* And the route's own fields, which the head gets after its framing. */
	if (ops.nadd + ops.nset > 0) {
		struct http_buf extra = { NULL, 0, 0, 0 };
		char *grown;

		if (http_ops_add(&extra, ops_of) != CT_OK ||
		    (grown = realloc(blob, blen + extra.end)) == NULL) {
			http_buf_free(&extra);
			free(blob);
			return "no-memory";
		}
		blob = grown;
		memcpy(blob + blen, extra.p, extra.end);
		blen += extra.end;
		http_buf_free(&extra);
	}
	rc2 = shm_cache_store_begin(cr->u, &cr->key, expected + blen, &cr->ref);
	if (rc2 == CT_OK && shm_cache_store_head(&cr->ref, blob, blen) != CT_OK)
		rc2 = CT_ERROR;
	free(blob);
	if (rc2 != CT_OK) {
		cr->ref.entry = SHM_CACHE_NONE;
		return rc2 == CT_DECLINED ? "too-large" : rc2 == CT_AGAIN ? "filling" : "no-room";
	}
	cr->filling = 1;
	cr->chunked = h->resp.h.framing == HTTP_BODY_CHUNKED;
	if (cr->chunked)
		http_chunked_init(&cr->dechunk);
	return NULL;
}

int
http_cache_response(struct conn *c, struct http_buf *o, size_t from, size_t to)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	const char *detail = NULL;

	if (cr == NULL)
		return CT_OK;
	if (h->resp.code >= 200 && cr->may_store && cr->looked)
		detail = http_cache_fill_begin(c, cr, o, from, to);
	else if (cr->may_store && !cr->looked)
		detail = "no-key";
	return http_cache_status_add(c, o, 0, cr->filling, h->resp.code,
	    cr->filling ? NULL : detail);
}

/* ------------------------------------------------------------ the filter */

/*
 * First from the server: the bytes go on as they came, and their
 * payload into the fill.  Chunked framing is decoded in a copy, since
 * the client may take the chunks as they are.
 */
static int
http_cache_filter_init(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	return h->cache != NULL && h->cache->filling ? CT_OK : CT_DECLINED;
}

static void
http_cache_fill_stop(struct http_cache_req *cr)
{
	shm_cache_store_abort(&cr->ref);
	cr->ref.entry = SHM_CACHE_NONE;
	cr->filling = 0;
}

static int
http_cache_filter_body(struct conn *c, struct http_body *in, struct http_body *out)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	const char *p = in->buf->p + in->fresh;
	size_t len = in->end - in->fresh, dlen;
	char scratch[16384];
	long n;

	*out = *in;
	while (cr->filling && len > 0) {
		size_t take = CT_MIN(len, sizeof(scratch));

		if (cr->chunked) {
			memcpy(scratch, p, take);
			n = http_chunked_decode(&cr->dechunk, scratch, take, &dlen);
			if (n < 0 || (size_t)n != take) {
				http_cache_fill_stop(cr);
				break;
			}
			if (dlen > 0 && shm_cache_store_append(&cr->ref, scratch, dlen) != CT_OK) {
				cr->ref.entry = SHM_CACHE_NONE;
				cr->filling = 0;
				break;
			}
			cr->stored += dlen;
		} else {
			if (shm_cache_store_append(&cr->ref, p, take) != CT_OK) {
				cr->ref.entry = SHM_CACHE_NONE;
				cr->filling = 0;
				break;
			}
			cr->stored += take;
		}
		p += take;
		len -= take;
	}
	if (cr->filling && in->last) {
		/* Complete: as many bytes as the head said, or the last chunk seen. */
		if ((h->resp.h.framing == HTTP_BODY_LENGTH &&
		    cr->stored != h->resp.h.content_length) ||
		    (cr->chunked && !cr->dechunk.done)) {
			http_cache_fill_stop(cr);
		} else {
			cr->committed = shm_cache_store_commit(&cr->ref, NULL, 0,
			    (uint64_t)http_cache_now()) == CT_OK;
			cr->ref.entry = SHM_CACHE_NONE;
			cr->filling = 0;
		}
	}
	return CT_OK;
}

static void
http_cache_filter_free(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (h->cache != NULL && h->cache->filling)
		http_cache_fill_stop(h->cache);
}

const struct http_filter http_filter_cache = {
	.name = "cache",
	.init = http_cache_filter_init,
	.body = http_cache_filter_body,
	.free = http_cache_filter_free,
	.fail = "cache store failed",
};

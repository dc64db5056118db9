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
 * An object is a head blob and the body, and beside them its info
 * (struct http_cache_info: freshness, length).  The blob is the
 * response head as the client got it without its framing
 * (Content-Length, Transfer-Encoding, Connection) and Age, its last line
 * ending in CRLF and no empty line: a hit writes it, its own Age,
 * Cache-Status, Content-Length and Connection, then the body.  The body
 * is the payload, chunked framing taken off.
 *
 * A fill that cannot finish (the origin closes early, a body longer
 * than its Content-Length or than max_object, the client leaving) is
 * aborted: nothing of it is ever found.
 *
 * One fetch per miss: a request for a key whose fill is under way, in
 * any worker, follows that fill instead of going to the origin.  It
 * sleeps until the head is stored (woken through its worker's eventfd,
 * shm_cache_wait()), sends it, and sends the body as it grows, waking
 * at each new chunk.  A fill aborted before the head, or a head that
 * does not come within lock_timeout, sends it to the origin, without
 * storing; one aborted after the head closes its connection, as the
 * filler's own client's is.
 */
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/cache.h"
#include "lib/http_cache.h"
#include "lib/log.h"
#include "shm/cache.h"
#include "worker/gzip.h"
#include "worker/http.h"
#include "worker/http_int.h"

#define HTTP_CACHE_NAME   "cuttle"
#define HTTP_CACHE_IOV    16          /* iovecs of a hit per writev */
#define HTTP_CACHE_TAIL   256         /* Age, Cache-Status, framing of a hit */
#define HTTP_CACHE_LENGTH_UNKNOWN UINT64_MAX

/* What an object keeps beside its bytes (shm_cache_info_set()). */
struct http_cache_info {
	struct http_cache_meta meta;
	uint64_t length;                   /* of the body; HTTP_CACHE_LENGTH_UNKNOWN while filling */
};

_Static_assert(sizeof(struct http_cache_info) <= SHM_CACHE_INFO, "the info fits the entry");

struct http_cache_req {
	struct conn *c;
	struct http_cache_req *wnext;      /* the worker's list of requests waiting on fills */
	struct http_cache_req **wpprev;
	struct shm_cache_user *u;
	struct shm_cache_ref ref;          /* the hit being sent, or the fill */
	struct shm_cache_ref stale;        /* a stale object being revalidated or refetched */
	struct shm_cache_ref handed;       /* a background revalidation's fill, until it is used */
	struct shm_cache_key key;
	struct http_cache_meta meta;
	struct http_cache_control req_cc;
	struct http_cache_decision d;
	int64_t request_time;
	uint64_t pos;                      /* hit: bytes of the object written (blob, then body) */
	uint64_t end;                      /* hit: where what is there to send ends */
	uint64_t final;                    /* followed fill: where the object ends, once known */
	uint64_t stored;                   /* fill: body bytes appended */
	enum http_cache_fwd fwd;
	unsigned looked:1;                 /* a lookup was made */
	unsigned may_store:1;              /* the request lets its response be stored */
	unsigned filling:1;                /* ref is a fill under way */
	unsigned committed:1;              /* the fill became the object */
	unsigned chunked:1;                /* the stored body is taken out of chunks */
	unsigned collapsed:1;              /* follows another's fill */
	unsigned head_sent:1;              /* ... and has its head queued */
	unsigned waiting:1;                /* in the worker's list, asleep until a wake-up */
	unsigned validated:1;              /* the origin was asked with the stored validators */
	unsigned revalidated:1;            /* ... and said 304: the stored body is sent */
	unsigned stale_error:1;            /* the origin failed: the stale object is sent */
	unsigned gzip:1;                   /* a hit compressed for its client on the way out */
	unsigned unsafe:1;                 /* a method whose success invalidates (keybuf: host, path) */
	unsigned gzip_done:1;              /* ... its stream closed and sent to out */
	int fwd_status;                    /* revalidated or stale_error: what the origin said */
	struct http_chunked dechunk;       /* chunked: the stored body's decoder */
	size_t keylen;
	size_t plen;                       /* the primary key's part of keybuf */
	size_t partslen;                   /* ... with the zone's parts after it */
	size_t vlen;                       /* of vary */
	/*
	 * From here on, what a new request does not clear (some 6 KiB a hit
	 * would otherwise zero): each is read only as far as its length
	 * above, or its NUL, written before it is read.
	 */
	char etag[256];                    /* the stale object's validators, "": none */
	char lastmod[64];
	/* The Vary names of the URL's objects, as stored ("accept-encoding,accept-language"). */
	char vary[SHM_CACHE_VARY_MAX];
	char keybuf[SHM_CACHE_KEY_MAX + SHM_CACHE_VARY_MAX];
};

static uint32_t http_cache_fallback(const struct conf_route_cache *rc, int status);

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
 * The primary key is the URL's part; the zone's parts, when it has
 * some, make the secondary key after it in keybuf, so that a purge or
 * an invalidation of the URL reaches every variant at once.
 */
static int
http_cache_key_make(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	const struct conf_cache *zone = &c->w->cy->conf->caches[http_cache_conf(c)->zone];
	const struct http_header *f;
	struct http_slice val;
	const struct http_slice *v;
	size_t i, plen, room;

	if (http_cache_url_of(c, cr->keybuf, sizeof(cr->keybuf), &plen) != CT_OK)
		return CT_ERROR;
	cr->keylen = cr->plen = plen;
	/* Each part after a NUL, which no request byte can be: parts cannot run together. */
	for (i = 0; i < zone->nkey; i++) {
		const struct conf_cache_part *p = &zone->key[i];

		if (p->kind == CONF_CACHE_HEADER) {
			f = http_header_find(&h->req.h, p->name);
			v = f != NULL ? &f->value : NULL;
		} else {
			v = http_cookie_get(&h->req, p->name, &val) ? &val : NULL;
		}
		room = sizeof(cr->keybuf) - cr->keylen;
		if (room < 2 + (v != NULL ? v->len : 0) || cr->keylen - plen + 2 +
		    (v != NULL ? v->len : 0) > SHM_CACHE_VARY_MAX)
			return CT_ERROR;
		cr->keybuf[cr->keylen++] = '\0';
		cr->keybuf[cr->keylen++] = v != NULL ? '=' : '-';
		if (v != NULL) {
			memcpy(cr->keybuf + cr->keylen, v->p, v->len);
			cr->keylen += v->len;
		}
	}
	cr->partslen = cr->keylen;
	return shm_cache_key_init(cr->u, &cr->key, cr->keybuf, plen,
	    cr->keylen > plen ? cr->keybuf + plen : NULL, cr->keylen - plen);
}

/*
 * The key of the variant that the request selects among the URL's
 * objects that vary on names (cr->vary): the zone's parts, then "\0v"
 * and the request's values of those fields (http_cache_vary_key()).
 * With no names, the key of the parts alone.
 */
static int
http_cache_key_vary(struct conn *c, struct http_cache_req *cr)
{
	static struct http_head stored;   /* a head of one field: Vary with the names */
	struct http_ctx *h = c->ctx;
	size_t vk = 0, room;

	cr->keylen = cr->partslen;
	if (cr->vlen > 0) {
		stored.nheaders = 1;
		stored.headers[0].name = (struct http_slice){ "Vary", 4 };
		stored.headers[0].value = (struct http_slice){ cr->vary, cr->vlen };
		stored.headers[0].id = HTTP_F_OTHER;
		room = sizeof(cr->keybuf) - cr->keylen;
		if (room < 2 + 1)
			return CT_ERROR;
		cr->keybuf[cr->keylen++] = '\0';
		cr->keybuf[cr->keylen++] = 'v';
		if (http_cache_vary_key(&stored, &h->req.h, cr->keybuf + cr->keylen, room - 2,
		    &vk) != CT_OK)
			return CT_ERROR;
		cr->keylen += vk;
	}
	if (cr->keylen - cr->plen > SHM_CACHE_VARY_MAX)
		return CT_ERROR;
	return shm_cache_key_init(cr->u, &cr->key, cr->keybuf, cr->plen,
	    cr->keylen > cr->plen ? cr->keybuf + cr->plen : NULL, cr->keylen - cr->plen);
}

/*
 * A URL whose objects vary: the names they vary on, and the key of the
 * variant this request selects.  CT_OK when there is such a variant to
 * look up; CT_DECLINED when the URL's objects do not vary (or none is
 * stored); CT_ERROR when the key does not fit.
 */
static int
http_cache_vary_lookup(struct conn *c, struct http_cache_req *cr)
{
	if (shm_cache_vary_get(cr->u, &cr->key, cr->vary, sizeof(cr->vary), &cr->vlen) != CT_OK ||
	    cr->vlen == 0) {
		cr->vlen = 0;
		return CT_DECLINED;
	}
	return http_cache_key_vary(c, cr);
}

/*
 * The Vary names of a response, normalised as the store compares them:
 * every Vary field's names, in lower case, joined by commas.  CT_OK;
 * CT_ERROR when they do not fit.  ("*" is refused before: not storable.)
 */
static int
http_cache_vary_names(const struct http_head *resp, char *out, size_t size, size_t *len)
{
	size_t i, n = 0;

	for (i = 0; i < resp->nheaders; i++) {
		const char *p, *end;

		if (!http_slice_eq(resp->headers[i].name, "vary"))
			continue;
		p = resp->headers[i].value.p;
		end = p + resp->headers[i].value.len;
		while (p < end) {
			const char *tok;

			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			for (tok = p; p < end && *p != ',' && *p != ' ' && *p != '\t'; p++)
				;
			if (p == tok)
				continue;
			if (n + (size_t)(p - tok) + 1 > size)
				return CT_ERROR;
			if (n > 0)
				out[n++] = ',';
			for (; tok < p; tok++)
				out[n++] = (char)http_lower((unsigned char)*tok);
		}
	}
	*len = n;
	return CT_OK;
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
http_cache_unwait(struct http_cache_req *cr)
{
	if (!cr->waiting)
		return;
	if (cr->wnext != NULL)
		cr->wnext->wpprev = cr->wpprev;
	*cr->wpprev = cr->wnext;
	cr->waiting = 0;
}

static void
http_cache_release(struct http_cache_req *cr)
{
	http_cache_unwait(cr);
	if (cr->stale.entry != SHM_CACHE_NONE)
		shm_cache_release(&cr->stale);
	cr->stale.entry = SHM_CACHE_NONE;
	if (cr->filling && !cr->committed)
		shm_cache_store_abort(&cr->ref);
	else if (cr->ref.entry != SHM_CACHE_NONE)
		shm_cache_release(&cr->ref);
	cr->ref.entry = SHM_CACHE_NONE;
	cr->filling = 0;
	if (cr->handed.entry != SHM_CACHE_NONE)
		shm_cache_store_abort(&cr->handed);
	cr->handed.entry = SHM_CACHE_NONE;
}

/* The key's fill: the one handed to a background revalidation, or a new one. */
static int
http_cache_fill_take(struct http_cache_req *cr, struct shm_cache_ref *w)
{
	if (cr->handed.entry == SHM_CACHE_NONE)
		return shm_cache_store_begin(cr->u, &cr->key, cr->vary, cr->vlen, 0, w);
	*w = cr->handed;
	cr->handed.entry = SHM_CACHE_NONE;
	return CT_OK;
}

/* Ends a fill without an object: those that follow it see it aborted. */
static void
http_cache_fill_stop(struct http_cache_req *cr)
{
	shm_cache_store_abort(&cr->ref);
	cr->ref.entry = SHM_CACHE_NONE;
	cr->filling = 0;
}

void
http_cache_done(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_pool *p;

	if (h != NULL && h->cache_bg != NULL)
		http_cache_bg_gone(c);
	if (h == NULL || h->cache == NULL)
		return;
	/* A compressed hit cut short: its compressor goes with it. */
	if (h->cache->gzip && h->gz != NULL) {
		gzip_free(h->gz);
		h->gz = NULL;
	}
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
	memset(cr, 0, offsetof(struct http_cache_req, etag));
	cr->etag[0] = cr->lastmod[0] = '\0';
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
	cs.fwd = hit ? HTTP_CACHE_FWD_NONE : cr->revalidated || cr->stale_error ?
	    HTTP_CACHE_FWD_STALE : cr->fwd;
	cs.fwd_status = hit ? 0 : fwd_status;
	cs.stored = stored != 0;
	cs.collapsed = cr->collapsed;
	cs.detail = detail;
	if (hit || cr->looked) {
		cs.has_ttl = hit != 0 || cr->fwd == HTTP_CACHE_FWD_STALE || cr->revalidated ||
		    cr->stale_error;
		cs.ttl = cr->d.ttl;
	}
	if (http_cache_status_write(&cs, v, sizeof(v), &len) != CT_OK)
		return CT_OK;
	return HTTP_CAT(o, HP("Cache-Status: "), ((struct http_piece){ v, len }), HP("\r\n"));
}

/* ------------------------------------------------------------ a hit */

/* Does the request carry a precondition or a Range that the stored head must answer? */
static int
http_cache_hit_asks(const struct http_request *req)
{
	static const char *const names[] = {
		"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "range",
	};
	size_t i;

	for (i = 0; i < CT_NELEM(names); i++)
		if (http_header_find(&req->h, names[i]) != NULL)
			return 1;
	return 0;
}

/* The framing and the end of a head of cuttle's own, after o's fields. */
static int
http_cache_head_end(struct conn *c, struct http_buf *o)
{
	struct http_ctx *h = c->ctx;
	const struct http_cache_req *cr = h->cache;
	/*
	 * One that followed another's fetch was forwarded, collapsed with it;
	 * a stale one was forwarded, then revalidated or kept for an error.
	 */
	int fwd = cr->collapsed || cr->revalidated || cr->stale_error;
	int rc = http_cache_status_add(c, o, !fwd, 0, cr->collapsed ? h->status : cr->fwd_status,
	    cr->stale_error ? "stale-if-error" : NULL);

	if (c->w->quitting)
		h->client_keepalive = 0;
	if (!h->client_keepalive)
		rc |= HTTP_CAT(o, HP("Connection: close\r\n"));
	else if (h->minor == 0)
		rc |= HTTP_CAT(o, HP("Connection: keep-alive\r\n"));
	return rc | http_buf_add(o, "\r\n", 2);
}

/*
 * The stored head parsed into h->resp (no response came for a hit), for
 * a precondition or a Range; the writer of lib/http_cache.h then makes
 * the head sent in out's place.  first/end: the part of the body to send.
 */
static int
http_cache_hit_answer(struct conn *c, struct http_cache_req *cr, size_t lines,
    uint64_t body_len, uint64_t *first, uint64_t *end)
{
	struct http_ctx *h = c->ctx;
	struct http_buf *o = &h->out;
	const struct http_header *range, *if_range;
	struct http_cache_hit hit;
	struct http_limits lim;
	enum http_cache_cond cond;
	size_t room, len = 0;
	char *dst;
	int rc;

	http_limits_default(&lim);
	/*
	 * Room for the new head behind the stored one, taken before it is
	 * parsed: the slices of h->resp point into o, which must not move.
	 */
	if (http_buf_reserve(o, lines + 2 + lines + HTTP_CACHE_TAIL) != CT_OK ||
	    http_buf_add(o, "\r\n", 2) != CT_OK)
		return CT_ERROR;
	/* Stored by this cache from a head that parsed: not expected to fail. */
	if (http_parse_response(o->p, o->end, &lim, 0, &h->resp) != CT_OK)
		return CT_DECLINED;
	cond = http_cache_conditional(&h->req, &h->resp.h, cr->meta.status,
	    cr->meta.response_time, cr->request_time);
	if (cond == HTTP_CACHE_COND_FORWARD)
		return CT_DECLINED;
	memset(&hit, 0, sizeof(hit));
	hit.length = body_len;
	hit.age = cr->d.age;
	range = http_header_find(&h->req.h, "range");
	if_range = http_header_find(&h->req.h, "if-range");
	if (cond == HTTP_CACHE_COND_FULL && range != NULL && !h->req.is_head &&
	    cr->meta.status == 200 && (if_range == NULL ||
	    http_cache_if_range(if_range->value, &h->resp.h, cr->request_time)))
		hit.range = http_cache_range(range->value, body_len, &hit.first, &hit.last);
	/* The new head is written after the stored one it reads, then moved to the front. */
	dst = o->p + o->end;
	room = o->cap - o->end;
	if (cond == HTTP_CACHE_COND_NOT_MODIFIED) {
		rc = http_cache_304_head_write(&h->resp, cr->d.age, dst, room, &len);
		h->status = 304;
		*first = *end = 0;
	} else if (hit.range == HTTP_CACHE_RANGE_UNSATISFIABLE) {
		char cr_val[80];
		size_t crlen;

		rc = http_cache_content_range_write(hit.range, 0, 0, body_len, cr_val, sizeof(cr_val),
		    &crlen);
		if (rc == CT_OK)
			len = (size_t)snprintf(dst, room, "HTTP/1.1 416 Range Not Satisfiable\r\n"
			    "Content-Range: %.*s\r\nContent-Length: 0\r\n", (int)crlen, cr_val);
		h->status = 416;
		*first = *end = 0;
	} else {
		rc = http_cache_hit_head_write(&h->resp, &hit, dst, room, &len);
		h->status = hit.range == HTTP_CACHE_RANGE_PARTIAL ? 206 : (int)cr->meta.status;
		*first = hit.range == HTTP_CACHE_RANGE_PARTIAL ? hit.first : 0;
		*end = hit.range == HTTP_CACHE_RANGE_PARTIAL ? hit.last + 1 : body_len;
		if (h->req.is_head)
			*end = *first;
	}
	if (rc != CT_OK || len >= room)
		return CT_ERROR;
	memmove(o->p, dst, len);
	o->start = 0;
	o->end = len;
	/* Nothing of the stored head may be read through h->resp from here on. */
	h->resp.h.nheaders = 0;
	return http_cache_head_end(c, o);
}

/*
 * A hit for a client that takes gzip, on a listener that compresses
 * this response: compressed on its way out as a miss is, the object
 * being stored as the origin sent it.  The head in out; CT_DECLINED
 * when compression does not apply (out is left with the stored lines).
 */
static int
http_cache_hit_gzip(struct conn *c, struct http_cache_req *cr, size_t lines,
    uint64_t body_len, uint64_t *first, uint64_t *end)
{
	struct http_ctx *h = c->ctx;
	struct http_buf *o = &h->out;
	struct http_limits lim;
	char num[24];
	int rc;

	http_limits_default(&lim);
	if (http_buf_add(o, "\r\n", 2) != CT_OK)
		return CT_ERROR;
	rc = http_parse_response(o->p, o->end, &lim, 0, &h->resp);
	o->end = lines;
	if (rc != CT_OK)
		return CT_DECLINED;
	/* What the stored head does not say: the length of the stored body. */
	h->resp.h.framing = HTTP_BODY_LENGTH;
	h->resp.h.content_length = body_len;
	if (!http_compress_wanted(c)) {
		h->resp.h.nheaders = 0;
		return CT_DECLINED;
	}
	h->resp.h.nheaders = 0;
	if ((h->gz = gzip_new(http_listener(c)->compress.level)) == NULL)
		return CT_DECLINED;
	cr->gzip = 1;
	h->status = (int)cr->meta.status;
	/* The length is the compressor's to find: chunks, or the close for HTTP/1.0. */
	if (h->minor == 0)
		h->client_keepalive = 0;
	rc = HTTP_CAT(o, HP("Age: "), http_num(num, (uint64_t)cr->d.age), HP("\r\n"));
	rc |= HTTP_CAT(o, HP("Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n"));
	if (h->minor == 1)
		rc |= HTTP_CAT(o, HP("Transfer-Encoding: chunked\r\n"));
	*first = 0;
	*end = body_len;
	return rc | http_cache_head_end(c, o);
}

/*
 * H_CACHE for a compressed hit: the stored body through the compressor,
 * a chunk at a time into out, written as the client takes it.  CT_OK
 * when all of it went, CT_AGAIN to wait for the client, CT_ERROR closed.
 */
static int
http_cache_gzip_step(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	struct iovec iov;
	char z[16384], num[24];
	size_t used, made, inlen;
	int rc, done = 0, finish;

	for (;;) {
		if (h->out.start < h->out.end) {
			rc = http_write(&c->client, &h->out, h->out.end, &h->bytes);
			if (rc == CT_AGAIN)
				return CT_AGAIN;
			if (rc == CT_ERROR) {
				http_client_gone(c, "client reset");
				return CT_ERROR;
			}
			http_timer_arm(c, http_listener(c)->send_timeout_ms);
		}
		h->out.start = h->out.end = 0;
		if (cr->gzip_done)
			return CT_OK;
		inlen = 0;
		if (cr->pos < cr->end) {
			if (shm_cache_iov(&cr->ref, cr->pos, &iov, 1) != 1) {
				conn_close(c, "the stored object could not be read whole");
				return CT_ERROR;
			}
			inlen = (size_t)CT_MIN((uint64_t)iov.iov_len, cr->end - cr->pos);
		}
		finish = cr->pos + inlen >= cr->end;
		if (gzip_step(h->gz, inlen > 0 ? iov.iov_base : "", inlen, &used, z, sizeof(z), &made,
		    finish, &done) != CT_OK) {
			conn_close(c, "compression failed");
			return CT_ERROR;
		}
		cr->pos += used;
		rc = CT_OK;
		if (made > 0 && h->minor == 1)
			rc |= HTTP_CAT(&h->out, http_hex(num, made), HP("\r\n"),
			    ((struct http_piece){ z, made }), HP("\r\n"));
		else if (made > 0)
			rc |= http_buf_add(&h->out, z, made);
		if (done) {
			cr->gzip_done = 1;
			if (h->minor == 1)
				rc |= HTTP_CAT(&h->out, HP("0\r\n\r\n"));
		}
		if (rc != CT_OK) {
			conn_close(c, "out of memory");
			return CT_ERROR;
		}
	}
}

/* The head of a plain hit into h->out: the stored lines, then Age, Cache-Status, framing. */
static int
http_cache_hit_head(struct conn *c, struct http_cache_req *cr, uint32_t head_len,
    uint64_t body_len, uint64_t *first, uint64_t *end)
{
	struct http_ctx *h = c->ctx;
	struct http_buf *o = &h->out;
	size_t lines = head_len;
	char num[24], num2[24];
	int rc;

	o->start = o->end = 0;
	if (http_buf_reserve(o, lines + HTTP_CACHE_TAIL) != CT_OK ||
	    http_cache_copy_out(cr, 0, o->p, lines) != CT_OK)
		return CT_ERROR;
	o->end = lines;
	if (http_cache_hit_asks(&h->req))
		return http_cache_hit_answer(c, cr, lines, body_len, first, end);
	if (h->accepts_gzip && !h->req.is_head) {
		int rc2 = http_cache_hit_gzip(c, cr, lines, body_len, first, end);

		if (rc2 != CT_DECLINED)
			return rc2;
	}
	h->status = (int)cr->meta.status;
	*first = 0;
	*end = h->req.is_head ? 0 : body_len;
	rc = HTTP_CAT(o, HP("Age: "), http_num(num, (uint64_t)cr->d.age), HP("\r\n"));
	/* A 204 has no content, and says no length (RFC 9110 8.6). */
	if (cr->meta.status != 204)
		rc |= HTTP_CAT(o, HP("Content-Length: "), http_num(num2, body_len), HP("\r\n"));
	return rc | http_cache_head_end(c, o);
}

/*
 * Serves the referenced COMPLETE object: CT_DONE (H_CACHE), CT_OK when
 * the origin must answer after all (a precondition it decides), or
 * CT_ERROR (closed).
 */
static int
http_cache_hit(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	struct shm_cache_progress p;
	uint64_t first = 0, end = 0;
	int rc;

	shm_cache_progress(&cr->ref, &p);
	if ((rc = http_cache_hit_head(c, cr, p.head_len, p.body_len, &first, &end)) ==
	    CT_DECLINED) {
		h->out.start = h->out.end = 0;
		http_cache_release(cr);
		cr->fwd = HTTP_CACHE_FWD_REQUEST;
		return CT_OK;
	}
	if (rc != CT_OK) {
		conn_close(c, "out of memory");
		return CT_ERROR;
	}
	cr->pos = p.head_len + first;
	cr->end = p.head_len + end;
	h->out_to_client = 1;
	h->resp_started = 1;
	h->resp.code = h->status;
	h->state = H_CACHE;
	http_timer_arm(c, http_listener(c)->send_timeout_ms);
	return CT_DONE;
}

/* ------------------------------------------------------------ following a fill */

/* Asleep until the fill moves: in the worker's list that its wake-up walks. */
static void
http_cache_wait(struct conn *c, struct http_cache_req *cr)
{
	struct http_pool *p = http_pool_get(c->w);

	if (cr->waiting || p == NULL)
		return;
	cr->wnext = p->cache_waiting;
	if (cr->wnext != NULL)
		cr->wnext->wpprev = &cr->wnext;
	cr->wpprev = &p->cache_waiting;
	p->cache_waiting = cr;
	cr->waiting = 1;
}

/*
 * The fill followed failed, or will not be waited on longer: before its
 * head the request goes to the origin itself, without storing; after,
 * the client's answer is cut, as the filler's own client's was.
 * Returns CT_DONE.
 */
static int
http_cache_follow_end(struct conn *c, struct http_cache_req *cr, const char *why)
{
	struct http_ctx *h = c->ctx;

	http_cache_release(cr);
	cr->collapsed = 0;
	if (cr->head_sent) {
		conn_close(c, why);
		return CT_DONE;
	}
	cr->may_store = 0;
	cr->fwd = HTTP_CACHE_FWD_MISS;
	h->resp_started = 0;
	h->state = H_CONNECT;
	ev_timer_stop(c->w->loop, &c->timer);
	http_request_upstream(c);
	return CT_DONE;
}

/* The head for a request that follows a fill, once it is stored and its length known. */
static int
http_cache_follow_head(struct conn *c, struct http_cache_req *cr,
    const struct shm_cache_progress *p, uint64_t length)
{
	struct http_ctx *h = c->ctx;
	struct http_buf *o = &h->out;
	char num[24];
	int rc;

	o->start = o->end = 0;
	if (http_buf_reserve(o, p->head_len + HTTP_CACHE_TAIL) != CT_OK ||
	    http_cache_copy_out(cr, 0, o->p, p->head_len) != CT_OK)
		return CT_ERROR;
	o->end = p->head_len;
	h->status = (int)cr->meta.status;
	cr->d.age = 0;
	rc = HTTP_CAT(o, HP("Age: 0\r\n"));
	rc |= HTTP_CAT(o, HP("Content-Length: "), http_num(num, length), HP("\r\n"));
	if (rc != CT_OK || http_cache_head_end(c, o) != CT_OK)
		return CT_ERROR;
	cr->pos = p->head_len;
	cr->final = p->head_len + (h->req.is_head ? 0 : length);
	cr->head_sent = 1;
	h->resp.code = h->status;
	h->resp_started = 1;
	http_timer_arm(c, http_listener(c)->send_timeout_ms);
	return CT_OK;
}

/*
 * Where a request that follows another's fill stands: CT_OK with
 * cr->end moved on (or the whole sent), CT_AGAIN when it sleeps until a
 * wake-up, CT_DONE when it left the fill (to the origin, or closed).
 */
static int
http_cache_follow(struct conn *c, struct http_cache_req *cr)
{
	struct shm_cache_progress p;
	struct http_cache_info info;

	for (;;) {
		shm_cache_progress(&cr->ref, &p);
		if (p.state == SHM_CACHE_ABORTED)
			return http_cache_follow_end(c, cr, "the response it followed was cut");
		if (!cr->head_sent && p.head_len > 0 &&
		    shm_cache_info_get(&cr->ref, &info, sizeof(info)) == sizeof(info)) {
			cr->meta = info.meta;
			if (p.state == SHM_CACHE_COMPLETE)
				info.length = p.body_len;
			/* A length to come: the head waits for the last chunk. */
			if (info.length != HTTP_CACHE_LENGTH_UNKNOWN &&
			    http_cache_follow_head(c, cr, &p, info.length) != CT_OK) {
				conn_close(c, "out of memory");
				return CT_DONE;
			}
		}
		if (cr->head_sent) {
			cr->end = CT_MIN(cr->final, (uint64_t)p.head_len + p.body_len);
			if (cr->pos < cr->end || cr->pos >= cr->final ||
			    ((struct http_ctx *)c->ctx)->out.start < ((struct http_ctx *)c->ctx)->out.end)
				return CT_OK;
		}
		switch (shm_cache_wait(&cr->ref, &p)) {
		case CT_OK:
			http_cache_wait(c, cr);
			return CT_AGAIN;
		case CT_AGAIN:
			continue;
		default:
			return http_cache_follow_end(c, cr, "no way to follow the response");
		}
	}
}

/* A miss whose fill another request has under way: followed, one fetch for both. */
static int
http_cache_collapse(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;

	cr->collapsed = 1;
	cr->fwd = HTTP_CACHE_FWD_MISS;
	shm_cache_note(cr->u, SHM_CACHE_NOTE_COLLAPSED);
	h->out_to_client = 1;
	h->state = H_CACHE;
	http_timer_arm(c, http_cache_conf(c)->lock_timeout_ms);
	return CT_DONE;
}

void
http_cache_woken(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct worker *w = io->data;
	struct http_pool *p = http_pool_get(w);
	struct http_cache_req *cr, *next;
	uint64_t v;

	(void)loop;
	(void)events;
	/* One read clears every wake-up so far: each waiter looks at its fill again. */
	if (read(io->fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		log_warn("worker %u: reading its cache wake-ups failed", w->slot);
	if (p == NULL)
		return;
	for (cr = p->cache_waiting, p->cache_waiting = NULL; cr != NULL; cr = next) {
		next = cr->wnext;
		cr->waiting = 0;
		if (cr->c->state == CONN_OPEN)
			http_progress(cr->c);
	}
}

uint32_t
http_cache_client_events(const struct conn *c)
{
	const struct http_ctx *h = c->ctx;
	const struct http_cache_req *cr = h->cache;

	return cr != NULL && cr->collapsed && h->out.start >= h->out.end && cr->pos >= cr->end &&
	    cr->pos < cr->final + (cr->head_sent ? 0 : 1) ? 0 : EPOLLOUT;
}

void
http_cache_timer(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;

	if (cr != NULL && cr->collapsed && !cr->head_sent) {
		log_info("cache: no head of the response followed within lock_timeout: "
		    "request \"%s %s\" goes to the origin", h->method, h->target);
		(void)http_cache_follow_end(c, cr, "");
		return;
	}
	/* Waiting on the fill is the filler's timeouts' business; a client that reads nothing is ours. */
	if (cr != NULL && cr->waiting)
		http_timer_arm(c, http_listener(c)->send_timeout_ms);
	else
		/* Each write that moved re-armed it: nothing was taken for send_timeout. */
		conn_close(c, "client did not read the answer");
}

/* H_CACHE: the head, then the stored body straight from the segment. */
void
http_step_cache(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	struct iovec iov[HTTP_CACHE_IOV + 1];
	size_t n, i, k;
	uint64_t left;
	ssize_t w;

	if (cr->gzip) {
		if (http_cache_gzip_step(c, cr) != CT_OK)
			return;
		gzip_free(h->gz);
		h->gz = NULL;
		cr->gzip = 0;
		goto done;
	}
	for (;;) {
		if (cr->collapsed && http_cache_follow(c, cr) != CT_OK)
			return;
		k = 0;
		if (h->out.start < h->out.end) {
			iov[k].iov_base = h->out.p + h->out.start;
			iov[k++].iov_len = h->out.end - h->out.start;
		}
		n = cr->pos < cr->end ? shm_cache_iov(&cr->ref, cr->pos, iov + k, HTTP_CACHE_IOV) : 0;
		/* The last iovec may run past the end (a HEAD's body, a range, chunk slack). */
		for (i = k, left = cr->end - cr->pos; i < k + n; i++) {
			if (iov[i].iov_len > left)
				iov[i].iov_len = (size_t)left;
			left -= iov[i].iov_len;
		}
		k += n;
		if (k == 0) {
			if (cr->pos < cr->end) {
				/* The object's bytes are not all there: the answer cannot be finished. */
				conn_close(c, "the stored object could not be read whole");
				return;
			}
			if (cr->collapsed && cr->pos < cr->final)
				continue;
			break;
		}
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
done:
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

/* ------------------------------------------------------------ revalidation */

/*
 * The stored head of ref, parsed into *resp from a copy in *buf (freed
 * by the caller, NULL on failure): what a revalidation reads.
 */
static int
http_cache_stored_head(struct shm_cache_ref *ref, char **buf, struct http_response *resp)
{
	struct shm_cache_progress p;
	struct http_limits lim;

	*buf = NULL;
	shm_cache_progress(ref, &p);
	if (p.head_len == 0 || (*buf = malloc((size_t)p.head_len + 2)) == NULL ||
	    http_cache_copy_out(&(struct http_cache_req){ .ref = *ref }, 0, *buf,
	    p.head_len) != CT_OK)
		return CT_ERROR;
	memcpy(*buf + p.head_len, "\r\n", 2);
	http_limits_default(&lim);
	return http_parse_response(*buf, (size_t)p.head_len + 2, &lim, 0, resp) == CT_OK ?
	    CT_OK : CT_ERROR;
}

/* The stale object's ETag and Last-Modified, for the request to the origin. */
static void
http_cache_validators_load(struct conn *c, struct http_cache_req *cr)
{
	struct http_cache_validators v;
	struct http_response *resp = malloc(sizeof(*resp));
	char *buf = NULL;

	(void)c;
	if (resp != NULL && http_cache_stored_head(&cr->stale, &buf, resp) == CT_OK) {
		http_cache_validators(&resp->h, &v);
		if (v.if_none_match.len < sizeof(cr->etag))
			snprintf(cr->etag, sizeof(cr->etag), "%.*s", (int)v.if_none_match.len,
			    v.if_none_match.p);
		if (v.if_modified_since.len < sizeof(cr->lastmod))
			snprintf(cr->lastmod, sizeof(cr->lastmod), "%.*s",
			    (int)v.if_modified_since.len, v.if_modified_since.p);
	}
	free(buf);
	free(resp);
}

int
http_cache_validators_add(struct conn *c, struct http_buf *o)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	static const char *const own[] = {
		"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range",
	};
	size_t i;
	int rc = CT_OK;

	if (cr == NULL || cr->stale.entry == SHM_CACHE_NONE ||
	    (cr->etag[0] == '\0' && cr->lastmod[0] == '\0'))
		return CT_OK;
	/* A client's own preconditions go as they are, and its answer to it. */
	for (i = 0; i < CT_NELEM(own); i++)
		if (http_header_find(&h->req.h, own[i]) != NULL)
			return CT_OK;
	if (cr->etag[0] != '\0')
		rc |= HTTP_CAT(o, HP("If-None-Match: "), HZ(cr->etag), HP("\r\n"));
	if (cr->lastmod[0] != '\0')
		rc |= HTTP_CAT(o, HP("If-Modified-Since: "), HZ(cr->lastmod), HP("\r\n"));
	cr->validated = 1;
	return rc;
}

/* The stale object answers the request, instead of what the origin said. */
static int
http_cache_stale_serve(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_info info;

	/* A fill taken for a revalidation ends: the stale object stays what lookups find. */
	if (cr->filling)
		http_cache_fill_stop(cr);
	cr->ref = cr->stale;
	cr->stale.entry = SHM_CACHE_NONE;
	if (shm_cache_info_get(&cr->ref, &info, sizeof(info)) == sizeof(info))
		cr->meta = info.meta;
	cr->d.age = http_cache_age_current(&cr->meta, http_cache_now());
	cr->d.ttl = cr->meta.lifetime - cr->d.age;
	h->resp_started = 0;
	/* What the origin sent is not read: its connection goes. */
	http_upstream_release(c, cr->revalidated && h->resp.h.keep_alive &&
	    h->rin.start == h->rin.end);
	if (http_cache_hit(c, cr) == CT_OK) {
		/* A precondition the origin must decide: not after it failed. */
		http_error(c, 502, "the origin failed and the stored response cannot answer this");
	}
	/* Called from the connector's failure too, outside any step: the answer must move. */
	if (c->state == CONN_OPEN && c->ctx == h)
		http_progress(c);
	return CT_DONE;
}

/*
 * The 304 of a revalidation merged into the stored head (RFC 9111 3.2):
 * the stored fields but those the 304 replaces, then the 304's, under
 * the stored status line; the body shared, not copied.
 */
static int
http_cache_merge_304(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	const struct conf_route_cache *rc = http_cache_conf(c);
	struct http_response *st = malloc(sizeof(*st)), *merged = malloc(sizeof(*merged));
	enum http_cache_update *sp = NULL, *np = NULL;
	struct http_cache_control cc;
	struct http_cache_info info;
	struct http_buf b = { NULL, 0, 0, 0 };
	struct shm_cache_progress p;
	struct http_limits lim;
	char *buf = NULL;
	size_t i;
	int rc2 = CT_ERROR;
	int64_t now = http_cache_now();

	if (st == NULL || merged == NULL || http_cache_stored_head(&cr->stale, &buf, st) != CT_OK ||
	    !http_cache_304_selects(&st->h, &h->resp.h, now) ||
	    (sp = calloc(st->h.nheaders + 1, sizeof(*sp))) == NULL ||
	    (np = calloc(h->resp.h.nheaders + 1, sizeof(*np))) == NULL)
		goto done;
	http_cache_update_plan(&st->h, &h->resp.h, rc->set_cookie != 0, sp, np);
	/*
	 * The route's response_headers rule the merged head as they ruled
	 * the stored one: a field it removes or sets stays as stored.
	 */
	for (i = 0; i < st->h.nheaders; i++)
		if (sp[i] == HTTP_CACHE_DROP && http_ops_takes(&h->route->response_headers,
		    st->h.headers[i].name))
			sp[i] = HTTP_CACHE_KEEP;
	for (i = 0; i < h->resp.h.nheaders; i++)
		if (np[i] == HTTP_CACHE_ADD && http_ops_takes(&h->route->response_headers,
		    h->resp.h.headers[i].name))
			np[i] = HTTP_CACHE_SKIP;
	rc2 = HTTP_CAT(&b, HP("HTTP/1.1 "), ((struct http_piece){ buf + 9,
	    (size_t)(st->reason.p + st->reason.len - (buf + 9)) }), HP("\r\n"));
	for (i = 0; i < st->h.nheaders; i++)
		if (sp[i] == HTTP_CACHE_KEEP)
			rc2 |= HTTP_CAT(&b, HS(st->h.headers[i].name), HP(": "),
			    HS(st->h.headers[i].value), HP("\r\n"));
	for (i = 0; i < h->resp.h.nheaders; i++)
		if (np[i] == HTTP_CACHE_ADD && !http_slice_eq(h->resp.h.headers[i].name, "age"))
			rc2 |= HTTP_CAT(&b, HS(h->resp.h.headers[i].name), HP(": "),
			    HS(h->resp.h.headers[i].value), HP("\r\n"));
	if (rc2 != CT_OK || http_buf_add(&b, "\r\n", 2) != CT_OK)
		goto done;
	/* The freshness of the merged head, from this exchange's times. */
	http_limits_default(&lim);
	if (http_parse_response(b.p, b.end, &lim, 0, merged) != CT_OK) {
		rc2 = CT_ERROR;
		goto done;
	}
	http_cache_control_parse(&merged->h, 0, &cc);
	http_cache_meta_make(&info.meta, merged, &cc, cr->request_time, now,
	    http_cache_fallback(rc, merged->code));
	shm_cache_progress(&cr->stale, &p);
	info.length = p.body_len;
	rc2 = shm_cache_update_head(&cr->stale, b.p, b.end - 2, (uint64_t)now);
	if (rc2 == CT_OK)
		(void)shm_cache_info_set(&cr->stale, &info, sizeof(info));
done:
	free(b.p);
	free(buf);
	free(sp);
	free(np);
	free(st);
	free(merged);
	return rc2;
}

int
http_cache_revalidated(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	const struct conf_route_cache *rc = http_cache_conf(c);
	int code = h->resp.code;
	struct http_cache_info info;

	if (cr->stale.entry == SHM_CACHE_NONE)
		return CT_OK;
	if (code == 304 && cr->validated) {
		cr->fwd_status = 304;
		/* Not the stored one, or no room to merge: the stale one still answers, once. */
		if (http_cache_merge_304(c, cr) == CT_OK) {
			cr->revalidated = 1;
			shm_cache_note(cr->u, SHM_CACHE_NOTE_REVALIDATED);
		} else {
			cr->stale_error = 1;
			shm_cache_note(cr->u, SHM_CACHE_NOTE_STALE);
		}
		return http_cache_stale_serve(c, cr);
	}
	if (code == 500 || code == 502 || code == 503 || code == 504) {
		if (shm_cache_info_get(&cr->stale, &info, sizeof(info)) == sizeof(info) &&
		    (http_cache_stale_if_error(&info.meta, &cr->req_cc, http_cache_now()) ||
		    (rc->stale_on_error && !(info.meta.flags & HTTP_CACHE_M_NO_STALE)))) {
			cr->fwd_status = code;
			cr->stale_error = 1;
			shm_cache_note(cr->u, SHM_CACHE_NOTE_STALE);
			return http_cache_stale_serve(c, cr);
		}
	}
	/* A new response replaces the stale one when it is stored. */
	shm_cache_release(&cr->stale);
	cr->stale.entry = SHM_CACHE_NONE;
	return CT_OK;
}

int
http_cache_origin_failed(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	const struct conf_route_cache *rc = http_cache_conf(c);
	struct http_cache_info info;

	if (cr == NULL)
		return CT_OK;
	if (cr->stale.entry == SHM_CACHE_NONE || h->resp_started ||
	    shm_cache_info_get(&cr->stale, &info, sizeof(info)) != sizeof(info) ||
	    !(http_cache_stale_if_error(&info.meta, &cr->req_cc, http_cache_now()) ||
	    (rc->stale_on_error && !(info.meta.flags & HTTP_CACHE_M_NO_STALE)))) {
		/* Those that follow the fill learn now that it will not come. */
		if (cr->filling)
			http_cache_fill_stop(cr);
		return CT_OK;
	}
	cr->fwd_status = 502;
	cr->stale_error = 1;
	shm_cache_note(cr->u, SHM_CACHE_NOTE_STALE);
	return http_cache_stale_serve(c, cr);
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
	struct http_cache_info info;
	struct shm_cache_ref w, handed;
	enum shm_cache_found found;
	int get, head, r;

	if (rc == NULL || c->w->caches == NULL || (u = &c->w->caches[rc->zone])->shm == NULL)
		return CT_OK;
	handed.entry = SHM_CACHE_NONE;
	if (h->cache_bg != NULL && (r = http_cache_bg_take(c, &handed)) == CT_ERROR) {
		conn_close(c, "background revalidation routed elsewhere");
		return CT_ERROR;
	}
	if ((cr = http_cache_req_get(c)) == NULL) {
		if (handed.entry != SHM_CACHE_NONE)
			shm_cache_store_abort(&handed);
		conn_close(c, "out of memory");
		return CT_ERROR;
	}
	h->cache = cr;
	cr->c = c;
	cr->u = u;
	cr->ref.entry = SHM_CACHE_NONE;
	cr->stale.entry = SHM_CACHE_NONE;
	cr->handed = handed;
	cr->request_time = http_cache_now();
	cr->fwd = HTTP_CACHE_FWD_MISS;
	get = h->req.method.len == 3 && memcmp(h->req.method.p, "GET", 3) == 0;
	head = h->req.method.len == 4 && memcmp(h->req.method.p, "HEAD", 4) == 0;
	/* A route whose methods leave HEAD out sends it to the origin, as any safe method. */
	if (head && !(rc->methods & CONF_CACHE_HEAD)) {
		cr->fwd = HTTP_CACHE_FWD_METHOD;
		return CT_OK;
	}
	if (!get && !head) {
		cr->fwd = HTTP_CACHE_FWD_METHOD;
		/*
		 * What invalidation needs of the request, kept now: its body
		 * will have moved the buffer the head's slices point into by the
		 * time the response says whether it succeeded.
		 */
		cr->unsafe = !http_slice_eq(h->req.method, "OPTIONS") &&
		    !http_slice_eq(h->req.method, "TRACE");
		if (cr->unsafe && h->req.host.len + h->route_path.len + 1 <= sizeof(cr->keybuf)) {
			memcpy(cr->keybuf, h->req.host.p, h->req.host.len);
			memcpy(cr->keybuf + h->req.host.len, h->route_path.p, h->route_path.len);
			cr->plen = h->req.host.len;
			cr->keylen = h->req.host.len + h->route_path.len;
		} else {
			cr->unsafe = 0;
		}
		return CT_OK;
	}
	http_cache_control_parse(&h->req.h, 1, &cr->req_cc);
	/*
	 * A HEAD is answered from a stored GET, never stored itself.  A GET
	 * with a body is not stored either: the body moves the head's bytes
	 * that storing would read when the response comes.
	 */
	cr->may_store = get && !(cr->req_cc.flags & HTTP_CC_NO_STORE) &&
	    h->req.h.framing == HTTP_BODY_NONE &&
	    !http_cache_parts_present(&h->req, rc->no_store, rc->nno_store);
	/* An upgrade (WebSocket) becomes a tunnel: nothing to look up or to store. */
	if (h->upgrade) {
		cr->may_store = 0;
		cr->fwd = HTTP_CACHE_FWD_BYPASS;
		return CT_OK;
	}
	if (http_cache_parts_present(&h->req, rc->bypass, rc->nbypass)) {
		cr->fwd = HTTP_CACHE_FWD_BYPASS;
		return CT_OK;
	}
	if (http_cache_key_make(c, cr) != CT_OK) {
		cr->may_store = 0;
		return CT_OK;
	}
	cr->looked = 1;
	found = shm_cache_lookup(u, &cr->key, (uint64_t)cr->request_time, &cr->ref);
	/* Nothing under the parts alone: the URL's objects may vary on the request's fields. */
	if (found == SHM_CACHE_MISS && (r = http_cache_vary_lookup(c, cr)) != CT_DECLINED)
		found = r == CT_OK ? shm_cache_lookup(u, &cr->key, (uint64_t)cr->request_time,
		    &cr->ref) : SHM_CACHE_BUSY;
	switch (found) {
	case SHM_CACHE_HIT:
		if (shm_cache_info_get(&cr->ref, &info, sizeof(info)) != sizeof(info)) {
			http_cache_release(cr);
			cr->fwd = HTTP_CACHE_FWD_MISS;
			break;
		}
		cr->meta = info.meta;
		switch (http_cache_serve(&cr->meta, &cr->req_cc, cr->request_time, &cr->d)) {
		case HTTP_CACHE_STALE_REVALIDATE:
			/*
			 * Within stale-while-revalidate: the first request takes the
			 * key's fill, hands it to a revalidation in the background
			 * and gets the stale object, as do the others while the fill
			 * is taken (RFC 5861 3).  When no background request can be
			 * made, and in that request itself, it revalidates here.
			 */
			if (cr->may_store && http_cache_fill_take(cr, &w) == CT_OK &&
			    (h->cache_bg != NULL || http_cache_bg_start(c, &w) != CT_OK)) {
				cr->stale = cr->ref;
				cr->ref = w;
				cr->filling = 1;
				cr->fwd = HTTP_CACHE_FWD_STALE;
				http_cache_validators_load(c, cr);
				return CT_OK;
			}
			/* FALLTHROUGH */
		case HTTP_CACHE_HIT:
		case HTTP_CACHE_HIT_STALE:
			if (cr->d.ttl < 0)
				shm_cache_note(cr->u, SHM_CACHE_NOTE_STALE);
			if ((r = http_cache_hit(c, cr)) != CT_OK)
				return r;
			break;
		case HTTP_CACHE_GATEWAY_TIMEOUT:
			http_cache_release(cr);
			http_error(c, 504, "only-if-cached and nothing fresh enough stored");
			return CT_DONE;
		default:
			/*
			 * Asked again (with its validators when it has some), kept
			 * meanwhile: a 304 makes it fresh again, an error may let it
			 * answer stale.
			 */
			cr->stale = cr->ref;
			cr->ref.entry = SHM_CACHE_NONE;
			cr->fwd = (cr->req_cc.flags & HTTP_CC_NO_CACHE) ? HTTP_CACHE_FWD_REQUEST :
			    HTTP_CACHE_FWD_STALE;
			if (cr->d.action == HTTP_CACHE_REVALIDATE)
				http_cache_validators_load(c, cr);
			/* Its replacement is stored as it comes: nobody follows a revalidation. */
			return CT_OK;
		}
		break;
	case SHM_CACHE_COLLAPSE:
		/*
		 * The fill found is the one handed to this background request:
		 * the stale object went meanwhile.  It fetches the object anew.
		 */
		if (cr->handed.entry != SHM_CACHE_NONE) {
			shm_cache_release(&cr->ref);
			cr->ref.entry = SHM_CACHE_NONE;
			cr->fwd = HTTP_CACHE_FWD_MISS;
			break;
		}
		if (!(cr->req_cc.flags & HTTP_CC_NO_CACHE) && u->wake.self >= 0)
			return http_cache_collapse(c, cr);
		/* No way to be woken: it goes too, and leaves the storing to the other. */
		http_cache_release(cr);
		cr->may_store = 0;
		cr->fwd = HTTP_CACHE_FWD_MISS;
		break;
	case SHM_CACHE_MISS:
		/* With variants stored, none of them this request's. */
		cr->fwd = cr->vlen > 0 ? HTTP_CACHE_FWD_VARY_MISS : HTTP_CACHE_FWD_URI_MISS;
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
	/*
	 * The fill is taken now, before the origin is asked: the requests
	 * for the key that come meanwhile follow it instead of asking too.
	 * Not by a request whose own preconditions or Range go to the
	 * origin: its 304 or 206 would end the fill with nothing, and send
	 * every follower to the origin (its 200, if it comes, is stored then).
	 */
	if (!cr->may_store || http_cache_hit_asks(&h->req))
		return CT_OK;
	switch (http_cache_fill_take(cr, &cr->ref)) {
	case CT_OK:
		cr->filling = 1;
		break;
	case CT_AGAIN:
		/* Another took it between the lookup and now. */
		if (shm_cache_lookup(u, &cr->key, (uint64_t)cr->request_time, &cr->ref) ==
		    SHM_CACHE_COLLAPSE && u->wake.self >= 0)
			return http_cache_collapse(c, cr);
		http_cache_release(cr);
		cr->may_store = 0;
		break;
	default:
		cr->ref.entry = SHM_CACHE_NONE;
		cr->may_store = 0;
		break;
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
	const struct conf_header_ops *ops = &h->route->response_headers;
	struct http_cache_info info;
	char names[SHM_CACHE_VARY_MAX];
	size_t nlen;
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
	/*
	 * Stored under the variant the request selects by the response's
	 * Vary: when those are not the names the fill was taken with, it is
	 * taken again under the right key (its followers go to the origin).
	 */
	if (http_cache_vary_names(&h->resp.h, names, sizeof(names), &nlen) != CT_OK)
		return "vary-too-long";
	if (nlen != cr->vlen || memcmp(names, cr->vary, nlen) != 0) {
		if (cr->filling)
			http_cache_fill_stop(cr);
		memcpy(cr->vary, names, nlen);
		cr->vlen = nlen;
		if (http_cache_key_vary(c, cr) != CT_OK)
			return "vary-too-long";
	}
	if (h->resp.h.framing == HTTP_BODY_LENGTH) {
		expected = h->resp.h.content_length;
		if (expected > zone->max_object)
			return "too-large";
	} else if (h->resp.h.framing != HTTP_BODY_CHUNKED && h->resp.h.framing != HTTP_BODY_NONE) {
		/* Delimited by the close: a cut could not be told from the end. */
		return "no-length";
	}
	http_cache_meta_make(&cr->meta, &h->resp, &resp_cc, cr->request_time, now, opts.fallback);
	if ((blob = malloc(to - from)) == NULL)
		return "no-memory";
	blen = 0;
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
	if (ops->nadd + ops->nset > 0) {
		struct http_buf extra = { NULL, 0, 0, 0 };
		char *grown;

		if (http_ops_add(&extra, ops) != CT_OK ||
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
	info.meta = cr->meta;
	info.length = h->resp.h.framing == HTTP_BODY_LENGTH ? expected :
	    h->resp.h.framing == HTTP_BODY_NONE ? 0 : HTTP_CACHE_LENGTH_UNKNOWN;
	/* Taken at the lookup, unless something kept it from being taken then. */
	rc2 = cr->filling ? CT_OK :
	    shm_cache_store_begin(cr->u, &cr->key, cr->vary, cr->vlen, expected + blen, &cr->ref);
	/* The info before the head: a request that follows the fill reads it with the head. */
	if (rc2 == CT_OK && (shm_cache_info_set(&cr->ref, &info, sizeof(info)) != CT_OK ||
	    shm_cache_store_head(&cr->ref, blob, blen) != CT_OK))
		rc2 = CT_ERROR;
	free(blob);
	if (rc2 != CT_OK) {
		http_cache_fill_stop(cr);
		return rc2 == CT_DECLINED ? "too-large" : rc2 == CT_AGAIN ? "filling" : "no-room";
	}
	cr->filling = 1;
	cr->chunked = h->resp.h.framing == HTTP_BODY_CHUNKED;
	if (cr->chunked)
		http_chunked_init(&cr->dechunk);
	return NULL;
}

static struct http_request inv_req;  /* one worker, one request at a time: no stack of 4 KiB */

/*
 * An unsafe method answered 2xx or 3xx: what is stored for its URI, and
 * for Location and Content-Location of the same origin, is stale now
 * (RFC 9111 4.4).  Purged, every variant.
 */
static void
http_cache_invalidate(struct conn *c, struct http_cache_req *cr)
{
	struct http_ctx *h = c->ctx;
	struct http_slice scheme = { http_listener(c)->tls != NULL ? "https" : "http",
	    http_listener(c)->tls != NULL ? 5 : 4 };
	struct http_slice keys[3];
	struct http_request *req = &inv_req;
	size_t n = 0, i;
	char buf[SHM_CACHE_KEY_MAX];

	if (!cr->unsafe || h->resp.code < 200 || h->resp.code >= 400)
		return;
	/* The request as it was kept when it came (http_cache_request()). */
	http_request_clear(req);
	req->h.nheaders = 0;
	req->method = (struct http_slice){ "POST", 4 };
	req->host = (struct http_slice){ cr->keybuf, cr->plen };
	if (http_cache_invalidations(req, scheme, (struct http_slice){ cr->keybuf + cr->plen,
	    cr->keylen - cr->plen }, &h->resp, buf, sizeof(buf), keys, &n) != CT_OK)
		return;
	for (i = 0; i < n; i++)
		(void)shm_cache_purge_key(c->w->cy->shm, cr->u->zone, keys[i].p, keys[i].len);
}

int
http_cache_response(struct conn *c, struct http_buf *o, size_t from, size_t to)
{
	struct http_ctx *h = c->ctx;
	struct http_cache_req *cr = h->cache;
	const char *detail = NULL;

	if (cr == NULL)
		return CT_OK;
	if (cr->fwd == HTTP_CACHE_FWD_METHOD)
		http_cache_invalidate(c, cr);
	if (h->resp.code >= 200 && cr->may_store && cr->looked)
		detail = http_cache_fill_begin(c, cr, o, from, to);
	else if (cr->may_store && !cr->looked)
		detail = "no-key";
	/* Not stored after all: those that follow the fill go to the origin themselves. */
	if (detail != NULL && cr->filling)
		http_cache_fill_stop(cr);
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
			struct http_cache_info info = { cr->meta, cr->stored };

			/* The length is known now, for the requests that follow this fill. */
			(void)shm_cache_info_set(&cr->ref, &info, sizeof(info));
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

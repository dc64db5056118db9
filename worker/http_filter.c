/*
 * mode http's body filters: transformations of a response body on its
 * way to the client, chained as nginx chains its body filters, so that
 * a new one (cache store next) is a struct http_filter and a line in
 * http_filters[], not branches in the relay.
 *
 * A response passes through the filters that chose it in their init;
 * most choose none, and the relay then sends the server's bytes as they
 * are (or splices them), without entering the chain.  The chain works
 * in the context's buffers: the first filter takes the body bytes in
 * rin, gzip leaves its output in out, where the head was.
 */
#include <string.h>
#include <strings.h>

#include "worker/gzip.h"
#include "worker/http_int.h"

/* ------------------------------------------------------------ dechunk */

/*
 * For a client that takes no chunks (HTTP/1.0), or a filter after it
 * that needs the payload: the chunked body, already delimited by the
 * framing, goes on as its chunk data.  Works in place in rin, so it
 * must be first.
 */
static int
http_dechunk_init(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (h->resp.h.framing != HTTP_BODY_CHUNKED || (h->nfilters == 0 && h->minor != 0))
		return CT_DECLINED;
	/* Last before the client: the body then ends at the close. */
	if (h->nfilters == 0)
		h->body_framing = HTTP_BODY_CLOSE;
	http_chunked_init(&h->dechunk);
	return CT_OK;
}

static int
http_dechunk_body(struct conn *c, struct http_body *in, struct http_body *out)
{
	struct http_ctx *h = c->ctx;
	struct http_buf *b = in->buf;
	size_t dlen;
	long n;

	*out = *in;
	if (in->fresh == in->end)
		return CT_OK;
	n = http_chunked_decode(&h->dechunk, b->p + in->fresh, in->end - in->fresh, &dlen);
	if (n < 0) {
		log_warnx("invalid chunked body from %s: %s", http_server_name(c), h->dechunk.error);
		return CT_ERROR;
	}
	/* The payload now ends at fresh + dlen; what followed the body moves after it. */
	memmove(b->p + in->fresh + dlen, b->p + in->fresh + n, b->end - in->fresh - (size_t)n);
	b->end -= (size_t)n - dlen;
	h->resp_end = out->end = in->fresh + dlen;
	return CT_OK;
}

static const struct http_filter http_filter_dechunk = {
	.name = "dechunk",
	.init = http_dechunk_init,
	.body = http_dechunk_body,
	.free = NULL,
	.fail = "invalid response body from upstream",
};

/* --------------------------------------------------------------- gzip */

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
int
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
int
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
	    !h->accepts_gzip)
		return 0;
	return cc == NULL || memmem(cc->value.p, cc->value.len, "no-transform", 12) == NULL;
}

static int
http_gzip_init(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (!http_compress_wanted(c) || (h->gz = gzip_new(http_listener(c)->compress.level)) == NULL)
		return CT_DECLINED;
	/* Its length unknown, the body goes as chunks, or to HTTP/1.0 until the close. */
	h->body_framing = h->minor == 1 ? HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
	if (HTTP_CAT(&h->out, HP("Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n")) != CT_OK) {
		gzip_free(h->gz);
		h->gz = NULL;
		return CT_ERROR;
	}
	return CT_OK;
}

/*
 * Compresses the bytes of in into out, as one chunk when the client
 * takes chunks; at the end of the body, closes the gzip stream and the
 * chunked body.
 */
static int
http_gzip_fill(struct conn *c, struct http_body *in)
{
	struct http_ctx *h = c->ctx;
	struct http_buf *b = in->buf;
	int chunked = h->body_framing == HTTP_BODY_CHUNKED;
	char z[16384], num[24];
	size_t used, made, total = 0;
	int done = 0, finish;

	while (total < sizeof(z)) {
		finish = in->last && b->start == in->end;
		if (gzip_step(h->gz, b->p + b->start, in->end - b->start, &used,
		    z + total, sizeof(z) - total, &made, finish, &done) != CT_OK)
			return CT_ERROR;
		b->start += used;
		total += made;
		if (done || (used == 0 && made == 0))
			break;
	}
	h->out.start = h->out.end = 0;
	if (total > 0 && ((chunked &&
	    HTTP_CAT(&h->out, http_hex(num, total), HP("\r\n")) != CT_OK) ||
	    http_buf_add(&h->out, z, total) != CT_OK ||
	    (chunked && http_buf_add(&h->out, "\r\n", 2) != CT_OK)))
		return CT_ERROR;
	if (done) {
		h->gz_done = 1;
		if (chunked && http_buf_add(&h->out, "0\r\n\r\n", 5) != CT_OK)
			return CT_ERROR;
	}
	return CT_OK;
}

/* Compresses only once out, shared with the head, has gone to the client. */
static int
http_gzip_body(struct conn *c, struct http_body *in, struct http_body *out)
{
	struct http_ctx *h = c->ctx;
	size_t before = h->out.end;

	if (h->out.start == h->out.end && !h->gz_done &&
	    (in->buf->start < in->end || in->last)) {
		if (http_gzip_fill(c, in) != CT_OK)
			return CT_ERROR;
		before = 0;
	}
	out->buf = &h->out;
	out->end = h->out.end;
	out->fresh = before;
	out->last = h->gz_done;
	return CT_OK;
}

static void
http_gzip_free(struct conn *c)
{
	gzip_free(http_ctx_of(c)->gz);
	http_ctx_of(c)->gz = NULL;
}

static const struct http_filter http_filter_gzip = {
	.name = "gzip",
	.init = http_gzip_init,
	.body = http_gzip_body,
	.free = http_gzip_free,
	.fail = "compression failed",
};

/* -------------------------------------------------------------- chain */

/* In the order the body passes through them, from the server on. */
static const struct http_filter *const http_filters[] = {
	&http_filter_cache,
	&http_filter_dechunk,
	&http_filter_gzip,
};

_Static_assert(CT_NELEM(http_filters) <= HTTP_FILTERS_MAX, "h->filters too small");

int
http_filter_init(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t i = CT_NELEM(http_filters);
	int rc;

	h->body_framing = h->resp.h.framing;
	while (i-- > 0) {
		rc = http_filters[i]->init(c);
		if (rc == CT_DECLINED)
			continue;
		if (rc != CT_OK)
			return CT_ERROR;
		/* Chosen from the client's end back: each goes before those chosen so far. */
		memmove(&h->filters[1], &h->filters[0], h->nfilters * sizeof(h->filters[0]));
		h->filters[0] = http_filters[i];
		h->nfilters++;
	}
	return CT_OK;
}

int
http_filter_run(struct conn *c, size_t from, struct http_body *out)
{
	struct http_ctx *h = c->ctx;
	struct http_body in = { &h->rin, h->resp_end, from, h->resp_done };
	unsigned i;

	for (i = 0; i < h->nfilters; i++) {
		if (h->filters[i]->body(c, &in, out) != CT_OK) {
			conn_close(c, h->filters[i]->fail);
			return CT_ERROR;
		}
		in = *out;
	}
	return CT_OK;
}

void
http_filter_free(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	unsigned i;

	for (i = 0; i < h->nfilters; i++)
		if (h->filters[i]->free != NULL)
			h->filters[i]->free(c);
	h->nfilters = 0;
}

/*
 * libFuzzer target: every decision of lib/http_cache.c on heads made of
 * any bytes, checking what a caller will rely on: numbers within their
 * bounds, slices and keys within the buffers given, an IMF-fixdate that
 * parses back to the same text, ranges within the length, actions that
 * agree with the ttl, and bounded writers (keys, Cache-Status,
 * Content-Range, the heads of answers from the store) that never pass
 * their size and fail one byte short of it.
 *
 * Input: a 12-byte header (clock, delays, fallback, options, status,
 * method, length), then lines.  The first line is a probe fed to every
 * parser of one value; each later line is a field: its first byte picks
 * the name, its second the request or the response, the rest is the
 * value (any bytes: the real parser refuses more than these functions
 * may assume).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/ct.h"
#include "lib/http_cache.h"
#include "lib/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

#define HDR 12

static const char *const names[] = {
	"Cache-Control", "Expires", "Date", "Age", "Last-Modified", "ETag", "Vary",
	"Set-Cookie", "Authorization", "Range", "If-None-Match", "If-Modified-Since",
	"If-Match", "If-Unmodified-Since", "If-Range", "Location", "Content-Location",
	"Pragma", "Connection", "Content-Length", "Content-Range", "Content-Encoding",
	"Accept-Encoding", "X-A", "Keep-Alive", "Proxy-Authenticate",
};

static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "get" };

static int
inside(struct http_slice s, const void *buf, size_t len)
{
	uintptr_t p = (uintptr_t)s.p, b = (uintptr_t)buf;

	return s.len == 0 || (s.p != NULL && p >= b && s.len <= len && p - b <= len - s.len);
}

static void
add_field(struct http_head *h, const char *name, const char *v, size_t n)
{
	struct http_header *f;

	if (h->nheaders == HTTP_MAX_HEADERS)
		return;
	f = &h->headers[h->nheaders++];
	f->name.p = name;
	f->name.len = strlen(name);
	f->value.p = v;
	f->value.len = n;
	f->id = http_field_id(f->name);
}

/* A parsed IMF-fixdate prints back as it came, but for the day-name and a leap second. */
static void
date_check(struct http_slice s, int64_t now)
{
	char back[64];
	struct tm tm;
	time_t t;
	int64_t v;

	if (http_cache_date_parse(s, now, &v) != CT_OK)
		return;
	CHECK(v >= INT64_C(-62167219200) && v <= INT64_C(253402300800));
	if (s.len != 29 || s.p[3] != ',' || memcmp(s.p + 23, "60", 2) == 0)
		return;
	t = (time_t)v;
	CHECK(gmtime_r(&t, &tm) != NULL);
	/* strftime's %Y does not pad a year before 1000 */
	CHECK(snprintf(back, sizeof(back), "%02d %s %04d %02d:%02d:%02d GMT", tm.tm_mday,
	    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec) == 24);
	CHECK(memcmp(back, s.p + 5, 24) == 0);
}

static void
cc_check(struct http_slice s)
{
	const uint32_t permit = HTTP_CC_PUBLIC | HTTP_CC_IMMUTABLE | HTTP_CC_MAX_STALE |
	    HTTP_CC_SWR | HTTP_CC_SIE;
	struct http_cache_control cc;

	memset(&cc, 0, sizeof(cc));
	http_cache_control_add(&cc, s);
	CHECK((cc.flags & cc.invalid & permit) == 0);
	CHECK(cc.max_age <= HTTP_CACHE_DELTA_MAX && cc.s_maxage <= HTTP_CACHE_DELTA_MAX);
	CHECK(cc.max_stale <= HTTP_CACHE_DELTA_MAX && cc.min_fresh <= HTTP_CACHE_DELTA_MAX);
	CHECK(cc.swr <= HTTP_CACHE_DELTA_MAX && cc.sie <= HTTP_CACHE_DELTA_MAX);
	CHECK(inside(cc.no_cache_fields, s.p, s.len) && inside(cc.private_fields, s.p, s.len));
	if (cc.invalid & HTTP_CC_MAX_AGE)
		CHECK((cc.flags & HTTP_CC_MAX_AGE) && cc.max_age == 0);
}

static void
probe(struct http_slice s, int64_t now, uint64_t length, const struct http_head *stored)
{
	enum http_cache_range r;
	uint64_t first = 0, last = 0;
	char cr[64];
	uint32_t d;
	size_t k, n;

	cc_check(s);
	date_check(s, now);
	if (http_cache_delta_parse(s, &d) == CT_OK) {
		CHECK(d <= HTTP_CACHE_DELTA_MAX && s.len > 0);
		for (k = 0; k < s.len; k++)
			CHECK(s.p[k] >= '0' && s.p[k] <= '9');
	}
	r = http_cache_range(s, length, &first, &last);
	switch (r) {
	case HTTP_CACHE_RANGE_PARTIAL:
		CHECK(first <= last && last < length);
		/* FALLTHROUGH */
	case HTTP_CACHE_RANGE_UNSATISFIABLE:
		CHECK(http_cache_content_range_write(r, first, last, length, cr, sizeof(cr),
		    &n) == CT_OK);
		CHECK(n > 8 && n <= sizeof(cr) && memcmp(cr, "bytes ", 6) == 0);
		CHECK(http_cache_content_range_write(r, first, last, length, cr, n - 1, &n) ==
		    CT_ERROR);
		break;
	case HTTP_CACHE_RANGE_NONE:
		CHECK(http_cache_content_range_write(r, 0, 0, length, cr, sizeof(cr), &n) ==
		    CT_ERROR);
		break;
	default:
		CHECK(0);
	}
	(void)http_cache_if_range(s, stored, now);
	CHECK(http_cache_etag_match(s, s, 0) == http_cache_etag_match(s, s, 0));
	if (http_cache_etag_match(s, s, 1))
		CHECK(http_cache_etag_match(s, s, 0));
	(void)http_cache_field_listed(s, s);
}

static void
serve_check(const struct http_cache_meta *m, const struct http_cache_control *rcc, int64_t now)
{
	struct http_cache_decision d;
	enum http_cache_action a = http_cache_serve(m, rcc, now, &d);

	CHECK(a == d.action && a <= HTTP_CACHE_GATEWAY_TIMEOUT);
	CHECK(d.age >= 0 && d.age <= HTTP_CACHE_DELTA_MAX);
	if (a == HTTP_CACHE_HIT)
		CHECK(d.ttl > 0);
	if (a == HTTP_CACHE_HIT_STALE || a == HTTP_CACHE_STALE_REVALIDATE)
		CHECK(d.ttl <= 0 && !(m->flags & HTTP_CACHE_M_NO_STALE));
	if (a == HTTP_CACHE_GATEWAY_TIMEOUT)
		CHECK(rcc->flags & HTTP_CC_ONLY_IF_CACHED);
	if (a == HTTP_CACHE_HIT && (m->flags & HTTP_CACHE_M_NO_CACHE))
		CHECK(0);
	if (http_cache_stale_if_error(m, rcc, now))
		CHECK(!(m->flags & HTTP_CACHE_M_NO_CACHE));
}

static void
keys_check(const struct http_request *req, const struct http_response *resp)
{
	static char buf[4096];
	struct http_slice keys[3];
	size_t n, k, len, size = sizeof(buf);

	if (http_cache_invalidations(req, req->host.len % 2 ? (struct http_slice){ "https", 5 } :
	    (struct http_slice){ "http", 4 }, req->path, resp, buf, size, keys, &n) == CT_OK) {
		CHECK(n <= 3);
		for (k = 0; k < n; k++)
			CHECK(keys[k].len > 0 && inside(keys[k], buf, size));
	}
	if (http_cache_key((struct http_slice){ "http", 4 }, req->host, req->path, buf, size,
	    &len) == CT_OK) {
		CHECK(len <= size && len >= 8);
		CHECK(http_cache_key((struct http_slice){ "http", 4 }, req->host, req->path, buf,
		    len - 1, &len) == CT_ERROR);
	}
}

static void
heads_check(const struct http_request *req, const struct http_response *resp,
    const uint8_t *hdr, int64_t now)
{
	static enum http_cache_update sp[HTTP_MAX_HEADERS], np[HTTP_MAX_HEADERS];
	struct http_cache_store_opts opts = { hdr[7] & 3, (hdr[7] >> 2) & 1, hdr[6], now };
	struct http_cache_control rcc, scc;
	struct http_cache_validators v;
	struct http_cache_meta m;
	enum http_cache_store st;
	static char key[512], key2[512];
	size_t i, j, len, len2;
	int rc;

	http_cache_control_parse(&req->h, 1, &rcc);
	http_cache_control_parse(&resp->h, 0, &scc);
	st = http_cache_storable(req, &rcc, resp, &scc, &opts);
	CHECK(st <= HTTP_CACHE_STORE_UNCACHEABLE && http_cache_store_name(st) != NULL);
	http_cache_meta_make(&m, resp, &scc, now - hdr[4] - hdr[5], now - hdr[4], hdr[6]);
	CHECK(m.lifetime >= 0 && m.corrected_initial_age >= 0);
	serve_check(&m, &rcc, now);
	serve_check(&m, &rcc, now + (int64_t)hdr[5] * 1000);
	CHECK(http_cache_conditional(req, &resp->h, resp->code, m.response_time, now) <=
	    HTTP_CACHE_COND_FORWARD);
	http_cache_validators(&resp->h, &v);
	CHECK(v.if_none_match.len == 0 || http_cache_etag_match(v.if_none_match,
	    v.if_none_match, 0));
	http_cache_update_plan(&resp->h, &req->h, hdr[7] & 4, sp, np);
	for (i = 0; i < resp->h.nheaders; i++) {
		CHECK(sp[i] == HTTP_CACHE_KEEP || sp[i] == HTTP_CACHE_DROP);
		if (sp[i] == HTTP_CACHE_DROP) {
			for (j = 0; j < req->h.nheaders; j++)
				if (np[j] == HTTP_CACHE_ADD &&
				    http_slice_eq(req->h.headers[j].name, resp->h.headers[i].name.p))
					break;
			CHECK(j < req->h.nheaders);
		}
	}
	for (j = 0; j < req->h.nheaders; j++)
		CHECK(np[j] == HTTP_CACHE_ADD || np[j] == HTTP_CACHE_SKIP);
	rc = http_cache_vary_key(&resp->h, &req->h, key, sizeof(key), &len);
	CHECK(rc == CT_OK || rc == CT_DECLINED || rc == CT_ERROR);
	if (rc == CT_OK) {
		CHECK(len <= sizeof(key));
		CHECK(http_cache_vary_key(&resp->h, &req->h, key2, sizeof(key2), &len2) == CT_OK);
		CHECK(len2 == len && memcmp(key, key2, len) == 0);
		if (len > 0)
			CHECK(http_cache_vary_key(&resp->h, &req->h, key2, len - 1, &len2) == CT_ERROR);
	}
	keys_check(req, resp);
}

/* The heads of answers from the store: within their buffer, and exactly as long as they say. */
static void
answers_check(const struct http_request *req, const struct http_response *resp,
    const uint8_t *hdr, int64_t now)
{
	static char out[16384];
	struct http_cache_hit hit;
	enum http_cache_head_fresh hf;
	size_t len, k;
	int rc;

	memset(&hit, 0, sizeof(hit));
	hit.length = hdr[11] * 37u;
	hit.age = now - INT64_C(784111777);
	hit.range = (enum http_cache_range)(hdr[9] % 3);
	hit.first = hdr[4];
	hit.last = hdr[5];
	rc = http_cache_hit_head_write(resp, &hit, out, sizeof(out), &len);
	if (hit.range == HTTP_CACHE_RANGE_UNSATISFIABLE ||
	    (hit.range == HTTP_CACHE_RANGE_PARTIAL &&
	    (hit.first > hit.last || hit.last >= hit.length)))
		CHECK(rc == CT_ERROR);
	if (rc == CT_OK) {
		CHECK(len >= 17 && len <= sizeof(out) && memcmp(out, "HTTP/1.1 ", 9) == 0);
		CHECK(memcmp(out + len - 2, "\r\n", 2) == 0);
		/* no blank line inside: the caller's fields and CRLF end the head */
		for (k = 0; k + 4 <= len; k++)
			CHECK(memcmp(out + k, "\r\n\r\n", 4) != 0);
		CHECK(http_cache_hit_head_write(resp, &hit, out, len, &len) == CT_OK);
		CHECK(http_cache_hit_head_write(resp, &hit, out, len - 1, &len) == CT_ERROR);
	}
	if (http_cache_304_head_write(resp, hit.age, out, sizeof(out), &len) == CT_OK) {
		CHECK(len <= sizeof(out) && memcmp(out, "HTTP/1.1 304 Not Modified\r\n", 27) == 0);
		CHECK(http_cache_304_head_write(resp, hit.age, out, len - 1, &len) == CT_ERROR);
	}
	(void)http_cache_304_selects(&resp->h, &req->h, now);
	CHECK(http_cache_304_selects(&resp->h, &resp->h, now) ==
	    http_cache_304_selects(&resp->h, &resp->h, now));
	hf = http_cache_head_freshens(&req->h, hit.length, resp, now);
	CHECK(hf <= HTTP_CACHE_HEAD_STALE);
	if (resp->code != 200)
		CHECK(hf == HTTP_CACHE_HEAD_NONE);
}

static void
status_check(struct http_slice s, const uint8_t *hdr)
{
	static char detail[256], out[512];
	struct http_cache_status cs;
	size_t n = s.len < sizeof(detail) - 1 ? s.len : sizeof(detail) - 1, len, k;

	memcpy(detail, s.p, n);
	detail[n] = '\0';
	memset(&cs, 0, sizeof(cs));
	cs.cache = detail[0] != '\0' && hdr[7] & 8 ? detail : "cuttle";
	cs.detail = detail;
	cs.fwd = (enum http_cache_fwd)(hdr[10] % 10);
	cs.fwd_status = 100 + hdr[8];
	cs.ttl = (int64_t)(int32_t)(hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24) *
	    INT64_C(1000000000);
	cs.has_ttl = hdr[7] >> 4 & 1;
	cs.hit = hdr[7] >> 5 & 1;
	if (http_cache_status_write(&cs, out, sizeof(out), &len) != CT_OK)
		return;
	CHECK(len <= sizeof(out));
	for (k = 0; k < len; k++)
		CHECK(out[k] >= 0x20 && out[k] <= 0x7e);
	CHECK(http_cache_status_write(&cs, out, len - 1, &len) == CT_ERROR);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req;
	static struct http_response resp;
	const char *p, *end, *nl;
	struct http_slice first;
	const uint8_t *hdr = data;
	int64_t now;
	char *copy;

	if (size < HDR)
		return 0;
	/*
	 * A copy of exactly the input, no byte more (1 for none: malloc(0)
	 * may give NULL), so that ASan catches a read one byte past it;
	 * nothing here may count on a NUL after it.
	 */
	if ((copy = malloc(size > HDR ? size - HDR : 1)) == NULL)
		return 0;
	memcpy(copy, data + HDR, size - HDR);
	now = INT64_C(784111777) + (int32_t)(hdr[0] | hdr[1] << 8 | hdr[2] << 16 |
	    (uint32_t)hdr[3] << 24);
	http_request_clear(&req);
	http_response_clear(&resp);
	req.method.p = methods[hdr[10] % CT_NELEM(methods)];
	req.method.len = strlen(req.method.p);
	resp.code = 100 + (hdr[8] | hdr[9] << 8) % 500;
	p = copy;
	end = copy + (size - HDR);
	nl = memchr(p, '\n', (size_t)(end - p));
	first.p = p;
	first.len = (size_t)((nl != NULL ? nl : end) - p);
	p = nl != NULL ? nl + 1 : end;
	req.host = first.len < 64 ? first : (struct http_slice){ "example.com", 11 };
	req.path = (struct http_slice){ "/a/b?c", 6 };
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl - p >= 2)
			add_field((p[1] & 1) ? &req.h : &resp.h,
			    names[(unsigned char)p[0] % CT_NELEM(names)], p + 2, (size_t)(nl - p - 2));
		p = nl < end ? nl + 1 : end;
	}
	probe(first, now, hdr[11] * 37u, &resp.h);
	heads_check(&req, &resp, hdr, now);
	answers_check(&req, &resp, hdr, now);
	status_check(first, hdr);
	free(copy);
	return 0;
}

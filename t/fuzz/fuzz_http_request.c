/*
 * libFuzzer target: http_parse_request() on any bytes, with the default
 * limits and with small ones, checking what the proxy relies on: slices
 * inside the head, a head that ends with its blank line, the same
 * answer for the head alone, and CT_AGAIN for any shorter prefix.  The
 * same bytes in pieces through http_parse_request_resume() give the
 * same answer, and http_path_normalize() of the path stays within it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* An empty slice may point anywhere; any other lies within buf[0..len). */
static int
inside(struct http_slice s, const char *buf, size_t len)
{
	uintptr_t p = (uintptr_t)s.p, b = (uintptr_t)buf;

	return s.len == 0 || (s.p != NULL && p >= b && s.len <= len && p - b <= len - s.len);
}

static int
visible(struct http_slice s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] <= ' ' || (unsigned char)s.p[i] >= 0x7f)
			return 0;
	return 1;
}

static void
head_check(const struct http_head *h, const char *buf, size_t size,
    const struct http_limits *lim)
{
	size_t i, j;

	CHECK(h->head_len >= 4 && h->head_len <= size && h->head_len <= lim->max_head);
	CHECK(memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) == 0);
	CHECK(h->minor == 0 || h->minor == 1);
	CHECK(h->nheaders <= lim->max_headers && h->nheaders <= HTTP_MAX_HEADERS);
	for (i = 0; i < h->nheaders; i++) {
		const struct http_header *f = &h->headers[i];

		CHECK(f->name.len > 0 && inside(f->name, buf, h->head_len));
		CHECK(visible(f->name) && memchr(f->name.p, ':', f->name.len) == NULL);
		CHECK(inside(f->value, buf, h->head_len));
		for (j = 0; j < f->value.len; j++)
			CHECK(f->value.p[j] != '\r' && f->value.p[j] != '\n' &&
			    f->value.p[j] != '\0');
		CHECK(f->value.len == 0 || (f->value.p[0] != ' ' &&
		    f->value.p[f->value.len - 1] != ' '));
	}
	if (h->framing == HTTP_BODY_LENGTH)
		CHECK(h->content_length <= (UINT64_C(1) << 62));
	else
		CHECK(h->content_length == 0);
	if (h->conn_close)
		CHECK(!h->keep_alive);
}

static void
request_check(const struct http_request *req, const char *buf, size_t size,
    const struct http_limits *lim)
{
	const struct http_head *h = &req->h;

	head_check(h, buf, size, lim);
	CHECK(h->framing != HTTP_BODY_CLOSE);
	CHECK(req->method.len > 0 && inside(req->method, buf, h->head_len));
	CHECK(req->target.len > 0 && inside(req->target, buf, h->head_len));
	CHECK(visible(req->method) && visible(req->target));
	CHECK(req->host.p != NULL && inside(req->host, buf, h->head_len));
	CHECK(req->path.p != NULL);
	CHECK(req->is_connect == (req->form == HTTP_TARGET_AUTHORITY));
	switch (req->form) {
	case HTTP_TARGET_ORIGIN:
		CHECK(req->path.p == req->target.p && req->path.len == req->target.len);
		CHECK(req->path.p[0] == '/');
		break;
	case HTTP_TARGET_ABSOLUTE:
		CHECK(req->path.len > 0 && req->path.p[0] == '/');
		CHECK(inside(req->path, buf, h->head_len) || req->path.len == 1);
		CHECK(req->host.len > 0);
		break;
	case HTTP_TARGET_AUTHORITY:
		CHECK(req->path.len == 0 && req->host.len == req->target.len);
		break;
	case HTTP_TARGET_ASTERISK:
		CHECK(req->path.len == 1 && req->path.p[0] == '*');
		break;
	default:
		abort();
	}
	if (h->minor == 0)
		CHECK(h->framing != HTTP_BODY_CHUNKED && !req->expect_continue);
}

/* Parses a copy of data[0..n), so that reading past n is caught. */
static int
parse_copy(const uint8_t *data, size_t n, const struct http_limits *lim,
    struct http_request *req)
{
	char *copy = malloc(n > 0 ? n : 1);
	int rc;

	CHECK(copy != NULL);
	if (n > 0)
		memcpy(copy, data, n);
	rc = http_parse_request(copy, n, lim, req);
	free(copy);
	return rc;
}

/* The bytes in pieces whose sizes come from the bytes themselves. */
static void
resume_check(const uint8_t *data, size_t size, const struct http_limits *lim, int rc,
    const struct http_request *req)
{
	static struct http_request part;
	struct http_head_scan st;
	size_t k = 0;
	int r;

	memset(&st, 0, sizeof(st));
	for (;;) {
		k = CT_MIN(size, k + 1 + (k < size ? data[k] % 64 : 0));
		r = http_parse_request_resume((const char *)data, k, lim, &part, &st);
		if (r != CT_AGAIN || k == size)
			break;
	}
	if (k < size) {
		/* A prefix already decided: a parse from scratch of it says the same. */
		CHECK(r == CT_ERROR || r == CT_OK);
		return;
	}
	CHECK(r == rc);
	if (rc == CT_ERROR)
		CHECK(part.h.status == req->h.status && strcmp(part.h.error, req->h.error) == 0);
	if (rc == CT_OK)
		CHECK(part.h.head_len == req->h.head_len && part.h.nheaders == req->h.nheaders);
}

static void
path_check(const struct http_request *req)
{
	char *out = malloc(req->path.len + 1);
	const char *why = NULL;
	size_t n = 0;
	int rc;

	CHECK(out != NULL);
	rc = http_path_normalize(req->path, out, &n, &why);
	if (rc == CT_OK) {
		CHECK(n <= req->path.len && n > 0 && out[0] == '/');
		CHECK(http_path_normalize((struct http_slice){ out, n }, NULL, &n, &why) !=
		    CT_ERROR);
	} else if (rc == CT_ERROR) {
		CHECK(why != NULL);
	} else {
		CHECK(rc == CT_DECLINED);
	}
	if (!req->path_check && req->form == HTTP_TARGET_ORIGIN)
		CHECK(rc == CT_DECLINED);
	free(out);
}

static void
run(const uint8_t *data, size_t size, const struct http_limits *lim)
{
	static struct http_request req, again;
	const char *buf = (const char *)data;
	int rc;

	rc = http_parse_request(buf, size, lim, &req);
	resume_check(data, size, lim, rc, &req);
	if (rc == CT_AGAIN) {
		CHECK(size <= lim->max_head);
		return;
	}
	if (rc == CT_ERROR) {
		CHECK(req.h.error != NULL);
		CHECK(req.h.status == 400 || req.h.status == 414 || req.h.status == 431 ||
		    req.h.status == 501 || req.h.status == 505);
		return;
	}
	CHECK(rc == CT_OK);
	request_check(&req, buf, size, lim);
	path_check(&req);
	/* What follows the head has no say in it. */
	CHECK(parse_copy(data, req.h.head_len, lim, &again) == CT_OK);
	CHECK(again.h.head_len == req.h.head_len && again.h.nheaders == req.h.nheaders);
	CHECK(again.h.framing == req.h.framing &&
	    again.h.content_length == req.h.content_length &&
	    again.h.keep_alive == req.h.keep_alive && again.form == req.form);
	CHECK(parse_copy(data, req.h.head_len - 1, lim, &again) == CT_AGAIN);
	CHECK(parse_copy(data, size % req.h.head_len, lim, &again) == CT_AGAIN);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim;
	static const struct http_limits small = { 40, 200, 6 };

	http_limits_default(&lim);
	run(data, size, &lim);
	run(data, size, &small);
	return 0;
}

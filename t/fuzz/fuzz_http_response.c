/*
 * libFuzzer target: http_parse_response() on any bytes, as the answer
 * to HEAD and to anything else, checking the framing rules and that
 * every error is a 502.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static int
inside(struct http_slice s, const char *buf, size_t len)
{
	uintptr_t p = (uintptr_t)s.p, b = (uintptr_t)buf;

	return s.len == 0 || (s.p != NULL && p >= b && s.len <= len && p - b <= len - s.len);
}

static void
response_check(const struct http_response *resp, const char *buf, size_t size,
    const struct http_limits *lim, int head_request)
{
	const struct http_head *h = &resp->h;
	size_t i;

	CHECK(h->head_len >= 4 && h->head_len <= size && h->head_len <= lim->max_head);
	CHECK(memcmp(buf + h->head_len - 4, "\r\n\r\n", 4) == 0);
	CHECK(h->minor == 0 || h->minor == 1);
	CHECK(resp->code >= 100 && resp->code <= 599);
	CHECK(inside(resp->reason, buf, h->head_len));
	CHECK(h->nheaders <= lim->max_headers);
	for (i = 0; i < h->nheaders; i++) {
		CHECK(h->headers[i].name.len > 0);
		CHECK(inside(h->headers[i].name, buf, h->head_len));
		CHECK(inside(h->headers[i].value, buf, h->head_len));
	}
	if (head_request || resp->code < 200 || resp->code == 204 || resp->code == 304)
		CHECK(h->framing == HTTP_BODY_NONE);
	else
		CHECK(h->framing != HTTP_BODY_NONE);
	if (h->framing == HTTP_BODY_CLOSE || h->conn_close)
		CHECK(!h->keep_alive);
	if (h->framing == HTTP_BODY_LENGTH)
		CHECK(h->content_length <= (UINT64_C(1) << 62));
}

static int
parse_copy(const uint8_t *data, size_t n, const struct http_limits *lim,
    int head_request, struct http_response *resp)
{
	char *copy = malloc(n > 0 ? n : 1);
	int rc;

	CHECK(copy != NULL);
	if (n > 0)
		memcpy(copy, data, n);
	rc = http_parse_response(copy, n, lim, head_request, resp);
	free(copy);
	return rc;
}

static void
run(const uint8_t *data, size_t size, const struct http_limits *lim, int head_request)
{
	static struct http_response resp, again;
	int rc;

	rc = http_parse_response((const char *)data, size, lim, head_request, &resp);
	if (rc == CT_AGAIN) {
		CHECK(size <= lim->max_head);
		return;
	}
	if (rc == CT_ERROR) {
		CHECK(resp.h.status == 502 && resp.h.error != NULL);
		return;
	}
	CHECK(rc == CT_OK);
	response_check(&resp, (const char *)data, size, lim, head_request);
	CHECK(parse_copy(data, resp.h.head_len, lim, head_request, &again) == CT_OK);
	CHECK(again.h.head_len == resp.h.head_len && again.code == resp.code &&
	    again.h.framing == resp.h.framing && again.h.keep_alive == resp.h.keep_alive);
	CHECK(parse_copy(data, resp.h.head_len - 1, lim, head_request, &again) == CT_AGAIN);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim;
	static const struct http_limits small = { 40, 200, 6 };

	http_limits_default(&lim);
	run(data, size, &lim, 0);
	run(data, size, &lim, 1);
	run(data, size, &small, 0);
	return 0;
}

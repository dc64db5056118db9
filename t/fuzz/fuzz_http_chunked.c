/*
 * libFuzzer target: http_chunked_scan() must find the same end (or the
 * same error) whether the body comes whole, in two pieces, or a byte at
 * a time, never count more than it was given, and stop short only at
 * the end of the body; http_chunked_decode() must agree with it and
 * give the same data however the body is cut.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

struct outcome {
	long consumed;                /* bytes of body, or CT_ERROR */
	const char *error;
	int done;
	uint64_t data_total;
};

/* The chunk data that http_chunked_decode() gave for the whole input. */
static char *decoded;
static size_t decoded_len;

/* Scans a copy of data[0..n), so that reading past n is caught. */
static long
scan_piece(struct http_chunked *c, const uint8_t *data, size_t n)
{
	static char one[1];           /* byte-wise feeding needs no malloc per byte */
	char *copy = n <= 1 ? one : malloc(n);
	long r;

	CHECK(copy != NULL);
	if (n > 0)
		memcpy(copy, data, n);
	r = http_chunked_scan(c, copy, n);
	if (copy != one)
		free(copy);
	CHECK(r == CT_ERROR || (r >= 0 && (size_t)r <= n));
	if (r >= 0 && !c->done)
		CHECK((size_t)r == n);
	if (r == CT_ERROR)
		CHECK(c->error != NULL);
	return r;
}

/* Feeds data in pieces of at most step bytes, the first one first bytes long. */
static struct outcome
feed(const uint8_t *data, size_t size, size_t first, size_t step)
{
	struct http_chunked c;
	struct outcome o = { 0, NULL, 0, 0 };
	size_t pos = 0, n = first;
	long r;

	http_chunked_init(&c);
	do {
		if (n > size - pos)
			n = size - pos;
		r = scan_piece(&c, data + pos, n);
		if (r == CT_ERROR) {
			o.consumed = CT_ERROR;
			o.error = c.error;
			return o;
		}
		o.consumed += r;
		pos += n;
		n = step;
	} while (pos < size);
	o.done = c.done;
	o.data_total = c.data_total;
	return o;
}

/*
 * Decodes data in two pieces, cut bytes then the rest, each in a buffer
 * of its own.  The chunk data is appended to decoded when keep > 0,
 * checked against it when keep == 0 (decoded holds all of it), and let
 * be when keep < 0 (the body is malformed, so decoded holds only some).
 */
static struct outcome
decode(const uint8_t *data, size_t size, size_t cut, int keep)
{
	struct http_chunked c;
	struct outcome o = { 0, NULL, 0, 0 };
	size_t pos = 0, n, dlen, piece;
	char *copy;
	long r;

	http_chunked_init(&c);
	for (piece = 0; piece < 2; piece++) {
		n = piece == 0 ? cut : size - cut;
		copy = malloc(n > 0 ? n : 1);
		CHECK(copy != NULL);
		if (n > 0)
			memcpy(copy, data + pos, n);
		r = http_chunked_decode(&c, copy, n, &dlen);
		if (r == CT_ERROR) {
			free(copy);
			o.consumed = CT_ERROR;
			o.error = c.error;
			return o;
		}
		CHECK(r >= 0 && (size_t)r <= n && dlen <= (size_t)r);
		CHECK(memcmp(copy + r, data + pos + r, n - (size_t)r) == 0);
		if (keep > 0) {
			memcpy(decoded + decoded_len, copy, dlen);
			decoded_len += dlen;
		} else if (keep == 0) {
			CHECK(o.data_total + dlen <= decoded_len);
			CHECK(memcmp(decoded + o.data_total, copy, dlen) == 0);
		}
		o.data_total += dlen;
		o.consumed += r;
		pos += n;
		free(copy);
	}
	o.done = c.done;
	CHECK(o.data_total == c.data_total);
	return o;
}

static void
same(struct outcome a, struct outcome b)
{
	CHECK(a.consumed == b.consumed && a.done == b.done);
	if (a.consumed == CT_ERROR)
		CHECK(strcmp(a.error, b.error) == 0);
	else
		CHECK(a.data_total == b.data_total);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome whole, split;
	size_t cut;

	whole = feed(data, size, size, size);
	cut = size >= 2 ? (size_t)(data[0] | data[1] << 8) % (size + 1) : 0;
	split = feed(data, size, cut, size);
	same(whole, split);
	if (size <= 4096)
		same(whole, feed(data, size, 1, 1));
	if (whole.consumed >= 0 && !whole.done)
		CHECK((size_t)whole.consumed == size);
	/* Decoding finds the same end, and the same data however cut. */
	decoded = malloc(size > 0 ? size : 1);
	CHECK(decoded != NULL);
	decoded_len = 0;
	same(whole, decode(data, size, size, 1));
	same(whole, decode(data, size, cut, whole.consumed >= 0 ? 0 : -1));
	free(decoded);
	return 0;
}

/*
 * Growable byte buffers of mode http and the stream reads and writes
 * over them: a request and its response live in three of these, kept
 * with the context between requests so that keep-alive costs no
 * allocation.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "worker/http_int.h"

int
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

int
http_buf_add(struct http_buf *b, const char *s, size_t len)
{
	if (http_buf_reserve(b, len) != CT_OK)
		return CT_ERROR;
	memcpy(b->p + b->end, s, len);
	b->end += len;
	return CT_OK;
}

int
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
struct http_piece
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
struct http_piece
http_hex(char *buf, uint64_t v)
{
	char *p = buf + 24;

	do {
		*--p = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	return (struct http_piece){ p, (size_t)(buf + 24 - p) };
}

void
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

/* Reads from s into b; returns bytes, CT_AGAIN, CT_DONE or CT_ERROR. */
ssize_t
http_read(struct stream *s, struct http_buf *b, size_t *mark, size_t want)
{
	return http_read_max(s, b, mark, want, SIZE_MAX);
}

ssize_t
http_read_max(struct stream *s, struct http_buf *b, size_t *mark, size_t want, size_t max)
{
	ssize_t n;

	if (b->cap - b->end < 1024 || b->start == b->end)
		http_buf_compact(b, mark);
	if (b->cap - b->end < want && http_buf_reserve(b, want) != CT_OK)
		return CT_ERROR;
	if (b->end == b->cap)
		return CT_AGAIN;
	n = s->ops->read(s, b->p + b->end, CT_MIN(b->cap - b->end, max));
	if (n > 0)
		b->end += (size_t)n;
	return n;
}

/* Writes b[start..upto) to s; returns CT_OK when all went, CT_AGAIN, CT_ERROR. */
int
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
int
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

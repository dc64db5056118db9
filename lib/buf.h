/*
 * Fixed-size relay buffers from a per-process free list.  A connection
 * holds a buffer only while bytes are in flight; an idle connection
 * holds none.
 */
#ifndef CT_BUF_H
#define CT_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_SIZE 16384

struct buf {
	struct buf *next;      /* free list link */
	uint32_t start;        /* first unsent byte */
	uint32_t end;          /* one past the last byte */
	char data[BUF_SIZE];
};

struct buf_pool {
	struct buf *free;
	size_t nfree;
	size_t max_free;       /* beyond this, returned buffers are freed */
};

void buf_pool_init(struct buf_pool *p, size_t max_free);
void buf_pool_drain(struct buf_pool *p);
/* Returns an empty buffer, or NULL when memory is exhausted. */
struct buf *buf_get(struct buf_pool *p);
void buf_put(struct buf_pool *p, struct buf *b);

static inline size_t buf_len(const struct buf *b) { return b->end - b->start; }
static inline size_t buf_room(const struct buf *b) { return BUF_SIZE - b->end; }

#endif

/*
 * Relay buffers from a per-worker free list: an idle connection holds
 * none, and a busy one takes a buffer without malloc on the hot path.
 */
#include <stdlib.h>

#include "lib/buf.h"

void
buf_pool_init(struct buf_pool *p, size_t max_free)
{
	p->free = NULL;
	p->nfree = 0;
	p->max_free = max_free;
}

void
buf_pool_drain(struct buf_pool *p)
{
	while (p->free != NULL) {
		struct buf *b = p->free;

		p->free = b->next;
		free(b);
	}
	p->nfree = 0;
}

struct buf *
buf_get(struct buf_pool *p)
{
	struct buf *b = p->free;

	if (b != NULL) {
		p->free = b->next;
		p->nfree--;
	} else if ((b = malloc(sizeof(*b))) == NULL) {
		return NULL;
	}
	b->next = NULL;
	b->start = b->end = 0;
	return b;
}

void
buf_put(struct buf_pool *p, struct buf *b)
{
	if (p->nfree >= p->max_free) {
		free(b);
		return;
	}
	b->next = p->free;
	p->free = b;
	p->nfree++;
}

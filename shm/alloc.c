/*
 * The segment's allocator: size classes for small blocks, runs of pages
 * for the rest, both described by a page map so that shm_free() needs
 * only the offset.
 *
 * The heap is an array of SHM_PAGE pages with one map word each:
 *
 *   0                      free
 *   RUN  | n               first page of a run of n pages in use
 *   BODY                   a later page of a run
 *   SLAB | class << 16 | k a page cut into blocks of one class, k in use
 *
 * Pages are taken first-fit below heap.top (the first page never handed
 * out) and from top on otherwise; top comes down again when the pages
 * under it are free, so that a heap that shrinks back is laid out as it
 * was.  A slab page whose last block comes back is a free page again
 * (its blocks leave the class's free list, which is doubly linked for
 * that), so that memory moves between classes and runs as use changes.
 *
 * Everything but the counters is under heap.lock, a robust mutex: a
 * process that died inside leaves the allocator as it was at that
 * point, which the next locker logs.
 */
#include <string.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/shm.h"

#define SHM_PAGE_KIND  0xff000000u
#define SHM_PAGE_RUN   0x01000000u
#define SHM_PAGE_BODY  0x02000000u
#define SHM_PAGE_SLAB  0x03000000u
#define SHM_PAGE_RUN_MAX 0x00ffffffu

/* Written into a free block, to catch a block given back twice. */
#define SHM_FREE_MARK  UINT64_C(0x6565726674747563)   /* "cuttfree" */

struct shm_free_block {
	uint64_t next;
	uint64_t prev;
	uint64_t mark;
};

static uint32_t *
shm_heap_map(struct shm *shm)
{
	return shm_ptr(shm, shm_header(shm)->heap.map_off);
}

static uint64_t
shm_page_off(const struct shm_heap *h, uint32_t page)
{
	return h->start + (uint64_t)page * SHM_PAGE;
}

size_t
shm_class_size(unsigned c)
{
	return (size_t)SHM_CLASS_MIN << c;
}

/* The class of a len-byte block, or SHM_CLASSES for a run of pages. */
static unsigned
shm_class_of(size_t len)
{
	unsigned c = 0;

	while (c < SHM_CLASSES && shm_class_size(c) < len)
		c++;
	return c;
}

static struct shm_free_block *
shm_block(struct shm *shm, uint64_t off)
{
	return shm_ptr(shm, off);
}

/* Lowers top past the free pages under it. */
static void
shm_heap_trim(struct shm *shm)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint32_t *map = shm_heap_map(shm);

	while (h->top > 0 && map[h->top - 1] == 0)
		h->top--;
}

/* Finds n free pages, first fit; returns the first one, or UINT32_MAX. */
static uint32_t
shm_pages_take(struct shm *shm, uint32_t n)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint32_t *map = shm_heap_map(shm);
	uint32_t i = 0, j;

	while (i < h->top) {
		if ((map[i] & SHM_PAGE_KIND) == SHM_PAGE_RUN) {
			i += map[i] & SHM_PAGE_RUN_MAX;
			continue;
		}
		if (map[i] != 0) {
			i++;
			continue;
		}
		for (j = i; j < h->npages && j - i < n && map[j] == 0; j++)
			;
		if (j - i == n)
			break;
		i = j;
	}
	if (i + n > h->npages || i + n < i)
		return UINT32_MAX;
	if (i + n > h->top)
		h->top = i + n;
	return i;
}

static void
shm_list_push(struct shm *shm, unsigned c, uint64_t off)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	struct shm_free_block *b = shm_block(shm, off);

	b->next = h->free_head[c];
	b->prev = 0;
	b->mark = SHM_FREE_MARK;
	if (b->next != 0)
		shm_block(shm, b->next)->prev = off;
	h->free_head[c] = off;
}

static void
shm_list_unlink(struct shm *shm, unsigned c, uint64_t off)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	struct shm_free_block *b = shm_block(shm, off);

	if (b->prev != 0)
		shm_block(shm, b->prev)->next = b->next;
	else
		h->free_head[c] = b->next;
	if (b->next != 0)
		shm_block(shm, b->next)->prev = b->prev;
	b->mark = 0;
}

/* Cuts a free page into blocks of class c; CT_ERROR when no page is left. */
static int
shm_slab_new(struct shm *shm, unsigned c)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint32_t page = shm_pages_take(shm, 1);
	size_t size = shm_class_size(c), k;

	if (page == UINT32_MAX)
		return CT_ERROR;
	shm_heap_map(shm)[page] = SHM_PAGE_SLAB | (uint32_t)c << 16;
	for (k = SHM_PAGE / size; k > 0; k--)
		shm_list_push(shm, c, shm_page_off(h, page) + (k - 1) * size);
	return CT_OK;
}

static uint64_t
shm_alloc_small(struct shm *shm, unsigned c)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint64_t off;

	if (h->free_head[c] == 0 && shm_slab_new(shm, c) != CT_OK)
		return 0;
	off = h->free_head[c];
	shm_list_unlink(shm, c, off);
	shm_heap_map(shm)[(off - h->start) / SHM_PAGE]++;
	atomic_fetch_add_explicit(&h->class_used[c], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->used, shm_class_size(c), memory_order_relaxed);
	return off;
}

static uint64_t
shm_alloc_run(struct shm *shm, size_t len)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint32_t *map = shm_heap_map(shm);
	uint64_t n = (len + SHM_PAGE - 1) / SHM_PAGE;
	uint32_t first, i;

	if (n > SHM_PAGE_RUN_MAX || (first = shm_pages_take(shm, (uint32_t)n)) == UINT32_MAX)
		return 0;
	map[first] = SHM_PAGE_RUN | (uint32_t)n;
	for (i = 1; i < n; i++)
		map[first + i] = SHM_PAGE_BODY;
	atomic_fetch_add_explicit(&h->used, n * SHM_PAGE, memory_order_relaxed);
	return shm_page_off(h, first);
}

uint64_t
shm_alloc(struct shm *shm, size_t len)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	unsigned c = shm_class_of(len);
	uint64_t off;

	if (shm_mutex_lock(&h->lock, "shm allocator") == CT_ERROR) {
		off = 0;
	} else {
		off = c < SHM_CLASSES ? shm_alloc_small(shm, c) : shm_alloc_run(shm, len);
		shm_mutex_unlock(&h->lock);
	}
	if (off == 0) {
		atomic_fetch_add_explicit(&h->failures, 1, memory_order_relaxed);
		return 0;
	}
	atomic_fetch_add_explicit(&h->allocs, 1, memory_order_relaxed);
	memset(shm_ptr(shm, off), 0, c < SHM_CLASSES ? shm_class_size(c) : len);
	return off;
}

/* Takes every block of an empty slab page off its list; the page is free. */
static void
shm_slab_drop(struct shm *shm, uint32_t page, unsigned c)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	size_t size = shm_class_size(c), k;

	for (k = 0; k < SHM_PAGE / size; k++)
		shm_list_unlink(shm, c, shm_page_off(h, page) + k * size);
	shm_heap_map(shm)[page] = 0;
	shm_heap_trim(shm);
}

/* Returns CT_ERROR, freeing nothing, when off is not a block in use. */
static int
shm_free_small(struct shm *shm, uint64_t off, uint32_t page)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint32_t *map = shm_heap_map(shm);
	unsigned c = (map[page] >> 16) & 0xff;
	size_t size = shm_class_size(c);

	if (c >= SHM_CLASSES || (off - shm_page_off(h, page)) % size != 0 ||
	    (map[page] & 0xffff) == 0 || shm_block(shm, off)->mark == SHM_FREE_MARK)
		return CT_ERROR;
	shm_list_push(shm, c, off);
	atomic_fetch_sub_explicit(&h->class_used[c], 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&h->used, size, memory_order_relaxed);
	if ((--map[page] & 0xffff) == 0)
		shm_slab_drop(shm, page, c);
	return CT_OK;
}

static int
shm_free_run(struct shm *shm, uint64_t off, uint32_t page)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint32_t *map = shm_heap_map(shm);
	uint32_t n = map[page] & SHM_PAGE_RUN_MAX, i;

	if (off != shm_page_off(h, page))
		return CT_ERROR;
	for (i = 0; i < n; i++)
		map[page + i] = 0;
	atomic_fetch_sub_explicit(&h->used, (uint64_t)n * SHM_PAGE, memory_order_relaxed);
	shm_heap_trim(shm);
	return CT_OK;
}

void
shm_free(struct shm *shm, uint64_t off)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	uint32_t page, kind;
	int rc = CT_ERROR;

	if (off == 0)
		return;
	/* Without the lock the block stays taken: a leak, not a corrupt heap. */
	if (shm_mutex_lock(&h->lock, "shm allocator") == CT_ERROR)
		return;
	if (off >= h->start && (page = (uint32_t)((off - h->start) / SHM_PAGE)) < h->top) {
		kind = shm_heap_map(shm)[page] & SHM_PAGE_KIND;
		if (kind == SHM_PAGE_SLAB)
			rc = shm_free_small(shm, off, page);
		else if (kind == SHM_PAGE_RUN)
			rc = shm_free_run(shm, off, page);
	}
	shm_mutex_unlock(&h->lock);
	if (rc != CT_OK) {
		log_alert("shm_free() of offset %llu, which is not a block in use; ignored",
		    (unsigned long long)off);
		return;
	}
	atomic_fetch_add_explicit(&h->frees, 1, memory_order_relaxed);
}

/*
 * Lays out the page map and the heap in what follows the header.  The
 * map is sized for the whole segment, a little more than the heap needs.
 */
int
shm_heap_init(struct shm *shm)
{
	struct shm_header *hd = shm_header(shm);
	struct shm_heap *h = &hd->heap;
	uint64_t pages = hd->size / SHM_PAGE;

	h->map_off = (sizeof(*hd) + 63) & ~(uint64_t)63;
	h->start = (h->map_off + pages * sizeof(uint32_t) + SHM_PAGE - 1) & ~(uint64_t)(SHM_PAGE - 1);
	if (h->start >= hd->size)
		return CT_ERROR;
	h->npages = (uint32_t)((hd->size - h->start) / SHM_PAGE);
	h->top = 0;
	return shm_mutex_init(&h->lock);
}

void
shm_usage_get(const struct shm *shm, struct shm_usage *u)
{
	struct shm_heap *h = &shm_header(shm)->heap;
	unsigned c;

	u->size = shm_header(shm)->size;
	u->heap = (uint64_t)h->npages * SHM_PAGE;
	u->used = atomic_load_explicit(&h->used, memory_order_relaxed);
	u->allocs = atomic_load_explicit(&h->allocs, memory_order_relaxed);
	u->frees = atomic_load_explicit(&h->frees, memory_order_relaxed);
	u->failures = atomic_load_explicit(&h->failures, memory_order_relaxed);
	for (c = 0; c < SHM_CLASSES; c++)
		u->class_used[c] = atomic_load_explicit(&h->class_used[c], memory_order_relaxed);
}

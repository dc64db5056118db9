/*
 * The cache's object store (shm/cache.h): zones carved out of the
 * segment, fixed chunks, an index by keyed hash, an LRU, references per
 * process, and the repair of a zone whose lock was held by a process
 * that died.
 *
 * The order of one store, and what a crash at each step leaves:
 *
 *   begin    under the lock: an entry and the key's chunks taken, the
 *            key copied, the entry FILLING in the index, the filler's
 *            hold recorded                    -> reap aborts it
 *   head,    chunks taken and linked under the lock; bytes copied
 *   append   unlocked; the length published (release) -> reap aborts it
 *   commit   under the lock: the object it refreshes unlinked, the
 *            entry COMPLETE at the LRU's front, the hold dropped
 *
 * A crash inside the lock leaves any step half done; the repair
 * (cache_repair()) rebuilds from the entries and holds what the step
 * was changing.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "lib/ct.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "shm/cache.h"

#define NONE SHM_CACHE_NONE

_Static_assert(offsetof(struct shm_cache_zone, in_use) == offsetof(struct shm_named, in_use) &&
    offsetof(struct shm_cache_zone, refs) == offsetof(struct shm_named, refs) &&
    offsetof(struct shm_cache_zone, name) == offsetof(struct shm_named, name),
    "shm_cache_zone must begin like shm_named");

static const char *const shm_cache_state_names[SHM_CACHE_STATES] = {
	"free", "filling", "complete", "aborted", "gone",
};

const char *
shm_cache_state_name(unsigned state)
{
	return state < SHM_CACHE_STATES ? shm_cache_state_names[state] : "?";
}

/* ------------------------------------------------------------ layout */

/* Is the zone built?  Its offset is stored last, with release (shm_cache_zone_acquire()). */
static int
cache_zone_ready(const struct shm_cache_zone *z)
{
	return atomic_load_explicit(&z->off, memory_order_acquire) != 0;
}

/* For "%.*s": the zone's name, without the layout its slot's key adds. */
#define ZNAME(z) (int)strcspn((z)->name, "/"), (z)->name

int
shm_cache_zones_init(struct shm *shm)
{
	return shm_table_register(shm, SHM_TABLE_CACHE_ZONES, "cache_zones",
	    sizeof(struct shm_cache_zone), SHM_CACHE_ZONES_MAX);
}

struct shm_cache_zone *
shm_cache_zone_get(const struct shm *shm, int idx)
{
	return shm_table_slot(shm, SHM_TABLE_CACHE_ZONES, idx);
}

static char *
cache_chunk(const struct shm *shm, const struct shm_cache_zone *z, uint32_t c)
{
	return shm_ptr(shm, z->chunks_off + (uint64_t)c * z->chunk);
}

static uint32_t *
cache_next(const struct shm *shm, const struct shm_cache_zone *z)
{
	return shm_ptr(shm, z->next_off);
}

static uint32_t *
cache_shares(const struct shm *shm, const struct shm_cache_zone *z)
{
	return shm_ptr(shm, z->shares_off);
}

static struct shm_cache_entry *
cache_entry(const struct shm *shm, const struct shm_cache_zone *z, uint32_t i)
{
	return (struct shm_cache_entry *)shm_ptr(shm, z->entries_off) + i;
}

static uint32_t *
cache_buckets(const struct shm *shm, const struct shm_cache_zone *z)
{
	return shm_ptr(shm, z->buckets_off);
}

static struct shm_cache_proc *
cache_proc(const struct shm *shm, const struct shm_cache_zone *z, uint32_t i)
{
	return (struct shm_cache_proc *)shm_ptr(shm, z->procs_off) + i;
}

/* Process slot s's table of holds: hold_cap slots, open addressing by entry. */
static struct shm_cache_hold *
cache_holds(const struct shm *shm, const struct shm_cache_zone *z, uint32_t s)
{
	return (struct shm_cache_hold *)shm_ptr(shm, z->holds_off) + (uint64_t)s * z->hold_cap;
}

static uint64_t *
cache_marks(const struct shm *shm, const struct shm_cache_zone *z)
{
	return shm_ptr(shm, z->marks_off);
}

static uint64_t
cache_align(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Lays the zone out in size bytes from off: chunks first (page aligned),
 * then the words and records.  Returns the number of chunks, 0 when
 * size holds too few.
 */
static uint32_t
cache_layout(struct shm_cache_zone *z, uint64_t off, uint64_t size, uint32_t chunk,
    uint32_t hold_cap)
{
	uint64_t holds = (uint64_t)SHM_CACHE_PROCS * hold_cap * sizeof(struct shm_cache_hold);
	uint64_t fixed = SHM_CACHE_PROCS * sizeof(struct shm_cache_proc) + holds + 8 * 64 + 8;
	uint64_t per = chunk + sizeof(struct shm_cache_entry) + 3 * sizeof(uint32_t) + 1;
	uint64_t n, b, at;

	if (size < fixed + 8 * per)
		return 0;
	n = CT_MIN((size - fixed) / per, (uint64_t)UINT32_MAX - 1);
	for (b = 1; b * 2 <= n; b *= 2)
		;
	z->chunks_off = off;
	at = off + n * chunk;
	z->next_off = at;
	at = cache_align(at + n * sizeof(uint32_t), 64);
	z->shares_off = at;
	at = cache_align(at + n * sizeof(uint32_t), 64);
	z->entries_off = at;
	at = cache_align(at + n * sizeof(struct shm_cache_entry), 64);
	z->buckets_off = at;
	at = cache_align(at + b * sizeof(uint32_t), 64);
	z->procs_off = at;
	at = cache_align(at + SHM_CACHE_PROCS * sizeof(struct shm_cache_proc), 64);
	z->holds_off = at;
	at = cache_align(at + holds, 64);
	z->marks_off = at;
	at += (n + 63) / 64 * 8;
	if (at > off + size)
		return 0;
	z->chunk = chunk;
	z->hold_cap = hold_cap;
	z->nchunks = (uint32_t)n;
	z->nbuckets = (uint32_t)b;
	return (uint32_t)n;
}

/* Every chunk and entry free, the index and LRU empty. */
static void
cache_zone_clear(struct shm *shm, struct shm_cache_zone *z)
{
	uint32_t *next = cache_next(shm, z), i;

	memset(cache_shares(shm, z), 0, (size_t)z->nchunks * sizeof(uint32_t));
	for (i = 0; i < z->nchunks; i++) {
		next[i] = i + 1 < z->nchunks ? i + 1 : NONE;
		memset(cache_entry(shm, z, i), 0, sizeof(struct shm_cache_entry));
		cache_entry(shm, z, i)->hnext = i + 1 < z->nchunks ? i + 1 : NONE;
	}
	memset(cache_buckets(shm, z), 0xff, (size_t)z->nbuckets * sizeof(uint32_t));
	z->free_chunk = z->free_entry = 0;
	z->free_chunks = z->free_entries = z->nchunks;
	z->lru_head = z->lru_tail = NONE;
	z->evictable = 0;
}

/* Is there a zone named name with another layout than key? */
static void
cache_zone_log_change(const struct shm *shm, const char *name, const char *key)
{
	size_t n = strlen(name);
	struct shm_cache_zone *z;
	int i;

	for (i = 0; i < SHM_CACHE_ZONES_MAX; i++) {
		z = shm_cache_zone_get(shm, i);
		if (atomic_load(&z->in_use) != 0 && strncmp(z->name, name, n) == 0 &&
		    z->name[n] == '/' && strcmp(z->name, key) != 0) {
			log_notice("cache zone \"%s\": size or chunk changed (%s, now %s); it starts "
			    "empty, and the old one stays until the workers using it are gone",
			    name, z->name + n + 1, key + n + 1);
			return;
		}
	}
}

/*
 * max_object, at most a quarter of the zone: an object that took the
 * whole zone would evict everything else to be stored, and one fill
 * would empty the cache of every other object.
 */
static void
cache_zone_set_max(struct shm_cache_zone *z, uint64_t max_object)
{
	uint64_t cap = (uint64_t)z->nchunks * z->chunk / 4;

	if (max_object > cap) {
		log_warnx("cache zone %.*s: max_object %llu is more than a quarter of the zone; "
		    "%llu instead", ZNAME(z), (unsigned long long)max_object,
		    (unsigned long long)cap);
		max_object = cap;
	}
	atomic_store(&z->max_object, max_object);
}

int
shm_cache_zone_acquire(struct shm *shm, const char *name, uint64_t size, uint32_t chunk,
    uint64_t max_object, uint32_t holds)
{
	struct shm_cache_zone *z;
	char key[SHM_NAME_LEN];
	uint32_t cap;
	uint64_t off;
	int idx;

	if (holds == 0)
		holds = SHM_CACHE_HOLDS;
	if (holds > SHM_CACHE_HOLDS_MAX) {
		log_warnx("cache zone \"%s\": %u references a process is more than %d; %d instead",
		    name, holds, SHM_CACHE_HOLDS_MAX, SHM_CACHE_HOLDS_MAX);
		holds = SHM_CACHE_HOLDS_MAX;
	}
	/* A third empty at the most: linear probes stay short. */
	for (cap = 8; cap < holds + holds / 2; cap *= 2)
		;
	if (chunk == 0)
		chunk = SHM_CACHE_CHUNK;
	if (chunk < SHM_CACHE_CHUNK_MIN || chunk > SHM_CACHE_CHUNK_MAX || (chunk & (chunk - 1))) {
		log_error("cache zone \"%s\": chunk %u is not a power of two from %d to %d", name,
		    chunk, SHM_CACHE_CHUNK_MIN, SHM_CACHE_CHUNK_MAX);
		return -1;
	}
	size = cache_align(size, SHM_PAGE);
	if (snprintf(key, sizeof(key), "%s/%llu/%u/%u", name, (unsigned long long)size, chunk,
	    holds) >= (int)sizeof(key)) {
		log_error("cache zone \"%s\": the name is too long", name);
		return -1;
	}
	cache_zone_log_change(shm, name, key);
	if ((idx = shm_named_acquire(shm, SHM_TABLE_CACHE_ZONES, key)) == -1) {
		log_error("cache zone \"%s\": more than %d zones", name, SHM_CACHE_ZONES_MAX);
		return -1;
	}
	z = shm_cache_zone_get(shm, idx);
	if (cache_zone_ready(z)) {
		cache_zone_set_max(z, max_object);
		return idx;
	}
	if ((off = shm_alloc(shm, size)) == 0 || cache_layout(z, off, size, chunk, cap) == 0 ||
	    RAND_bytes((unsigned char *)z->hash_key, sizeof(z->hash_key)) != 1 ||
	    shm_mutex_init(&z->lock) != CT_OK) {
		log_error("cache zone \"%s\": no room for %llu bytes in the shared segment, or too "
		    "small for %u-byte chunks", name, (unsigned long long)size, chunk);
		shm_free(shm, off);
		shm_named_release(shm, SHM_TABLE_CACHE_ZONES, idx);
		return -1;
	}
	z->size = size;
	z->hold_max = holds;
	atomic_store(&z->lost, 0);
	cache_zone_clear(shm, z);
	cache_zone_set_max(z, max_object);
	/*
	 * Published last: the slot is found by name from the moment it is
	 * taken, and a process that sees off sees a zone built, lock and all.
	 */
	atomic_store_explicit(&z->off, off, memory_order_release);
	return idx;
}

void
shm_cache_zone_release(struct shm *shm, int idx)
{
	struct shm_cache_zone *z;

	if (idx < 0 || idx >= SHM_CACHE_ZONES_MAX)
		return;
	z = shm_cache_zone_get(shm, idx);
	if (z->refs == 1 && cache_zone_ready(z))
		shm_free(shm, atomic_exchange(&z->off, 0));
	shm_named_release(shm, SHM_TABLE_CACHE_ZONES, idx);
}

int
shm_cache_zone_find(const struct shm *shm, const char *name)
{
	size_t n = strlen(name);
	uint_fast64_t inc, best = 0;
	struct shm_cache_zone *z;
	int i, found = -1;

	/* The newest of its layouts: the one the running generation made. */
	for (i = 0; i < SHM_CACHE_ZONES_MAX; i++) {
		z = shm_cache_zone_get(shm, i);
		inc = atomic_load(&z->in_use);
		if (inc > best && cache_zone_ready(z) && strncmp(z->name, name, n) == 0 && z->name[n] == '/') {
			best = inc;
			found = i;
		}
	}
	return found;
}

/* --------------------------------------------------- chunks, entries */

static void cache_repair(struct shm *shm, struct shm_cache_zone *z);

/*
 * CT_ERROR when the lock is lost (shm_mutex_lock()): the zone is then
 * out of use for good, and said so once; every caller goes without it.
 */
static int
cache_lock(struct shm *shm, struct shm_cache_zone *z)
{
	int rc;

	if (atomic_load_explicit(&z->lost, memory_order_relaxed))
		return CT_ERROR;
	rc = shm_mutex_lock(&z->lock, "cache zone");
	if (rc == CT_ERROR) {
		if (atomic_exchange(&z->lost, 1) == 0)
			log_alert("cache zone %.*s: its lock is lost; the cache goes unused until "
			    "the zone is made again", ZNAME(z));
		return CT_ERROR;
	}
	if (rc == CT_DONE)
		cache_repair(shm, z);
	return CT_OK;
}

static void
cache_unlock(struct shm_cache_zone *z)
{
	shm_mutex_unlock(&z->lock);
}

static uint32_t
cache_chunk_take(struct shm *shm, struct shm_cache_zone *z)
{
	uint32_t c = z->free_chunk;

	if (c == NONE)
		return NONE;
	z->free_chunk = cache_next(shm, z)[c];
	cache_next(shm, z)[c] = NONE;
	z->free_chunks--;
	atomic_fetch_add_explicit(&z->bytes, z->chunk, memory_order_relaxed);
	return c;
}

static void
cache_chunk_put(struct shm *shm, struct shm_cache_zone *z, uint32_t c)
{
	cache_next(shm, z)[c] = z->free_chunk;
	z->free_chunk = c;
	z->free_chunks++;
	atomic_fetch_sub_explicit(&z->bytes, z->chunk, memory_order_relaxed);
}

/* Gives back n chunks of the chain from c. */
static void
cache_chain_put(struct shm *shm, struct shm_cache_zone *z, uint32_t c, uint32_t n)
{
	uint32_t next;

	while (n-- > 0 && c != NONE) {
		next = cache_next(shm, z)[c];
		cache_chunk_put(shm, z, c);
		c = next;
	}
}

/* The entry's chunks and record back to the free lists. */
static void
cache_entry_free(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);

	cache_chain_put(shm, z, e->meta, e->meta_n);
	/* A body that other entries share stays for them. */
	if (e->body != NONE && cache_shares(shm, z)[e->body] > 0)
		cache_shares(shm, z)[e->body]--;
	else
		cache_chain_put(shm, z, e->body, e->body_n);
	e->meta = e->body = e->body_last = NONE;
	e->meta_n = e->body_n = 0;
	atomic_store_explicit(&e->state, SHM_CACHE_FREE, memory_order_relaxed);
	e->hnext = z->free_entry;
	z->free_entry = i;
	z->free_entries++;
}

static uint32_t
cache_entry_take(struct shm *shm, struct shm_cache_zone *z)
{
	uint32_t i = z->free_entry;
	struct shm_cache_entry *e;

	if (i == NONE)
		return NONE;
	e = cache_entry(shm, z, i);
	z->free_entry = e->hnext;
	z->free_entries--;
	memset(e, 0, sizeof(*e));
	e->hnext = e->lru_prev = e->lru_next = NONE;
	e->meta = e->body = e->body_last = NONE;
	e->seq = ++z->seq;
	return i;
}

/* Appends n new chunks to a chain of *count chunks from *first; *last: its end. */
static int
cache_chain_grow(struct shm *shm, struct shm_cache_zone *z, uint32_t *first, uint32_t *last,
    uint32_t *count, uint32_t n)
{
	uint32_t c;

	if (z->free_chunks < n)
		return CT_ERROR;
	while (n-- > 0) {
		c = cache_chunk_take(shm, z);
		if (*first == NONE)
			*first = c;
		else
			cache_next(shm, z)[*last] = c;
		*last = c;
		(*count)++;
	}
	return CT_OK;
}

/* The chunk of a chain from first that holds byte pos, and pos within it. */
static uint32_t
cache_chain_seek(const struct shm *shm, const struct shm_cache_zone *z, uint32_t c,
    uint64_t *pos)
{
	while (c != NONE && *pos >= z->chunk) {
		c = cache_next(shm, z)[c];
		*pos -= z->chunk;
	}
	return c;
}

/*
 * A walk along a chain: the next contiguous piece of at most len bytes
 * from chunk *c at *pos, and the walk moved past it; NULL at the end.
 */
static char *
cache_chain_piece(const struct shm *shm, const struct shm_cache_zone *z, uint32_t *c,
    uint64_t *pos, uint64_t len, size_t *n)
{
	char *p;

	if (*c == NONE)
		return NULL;
	*n = (size_t)CT_MIN(len, z->chunk - *pos);
	p = cache_chunk(shm, z, *c) + *pos;
	if ((*pos += *n) == z->chunk) {
		*c = cache_next(shm, z)[*c];
		*pos = 0;
	}
	return p;
}

/* Copies len bytes of p into a chain from first at pos; the chunks are there. */
static void
cache_chain_write(struct shm *shm, const struct shm_cache_zone *z, uint32_t first,
    uint64_t pos, const void *p, size_t len)
{
	uint32_t c = cache_chain_seek(shm, z, first, &pos);
	char *d;
	size_t n;

	for (; len > 0 && (d = cache_chain_piece(shm, z, &c, &pos, len, &n)) != NULL; len -= n) {
		memcpy(d, p, n);
		p = (const char *)p + n;
	}
}

/* Copies len bytes of a chain from first at pos to out; the chunks are there. */
static void
cache_chain_read(const struct shm *shm, const struct shm_cache_zone *z, uint32_t first,
    uint64_t pos, void *out, size_t len)
{
	uint32_t c = cache_chain_seek(shm, z, first, &pos);
	const char *d;
	size_t n;

	for (; len > 0 && (d = cache_chain_piece(shm, z, &c, &pos, len, &n)) != NULL; len -= n) {
		memcpy(out, d, n);
		out = (char *)out + n;
	}
}

/* Do len bytes of a chain from first at pos equal p? */
static int
cache_chain_equal(const struct shm *shm, const struct shm_cache_zone *z, uint32_t first,
    uint64_t pos, const void *p, size_t len)
{
	uint32_t c = cache_chain_seek(shm, z, first, &pos);
	const char *d;
	size_t n;

	for (; len > 0; len -= n) {
		if ((d = cache_chain_piece(shm, z, &c, &pos, len, &n)) == NULL ||
		    memcmp(d, p, n) != 0)
			return 0;
		p = (const char *)p + n;
	}
	return 1;
}

/* Are len bytes of the chain from fa at pa those of the chain from fb at pb? */
static int
cache_chains_equal(const struct shm *shm, const struct shm_cache_zone *z, uint32_t fa,
    uint64_t pa, uint32_t fb, uint64_t pb, uint64_t len)
{
	uint32_t ca = cache_chain_seek(shm, z, fa, &pa), cb = cache_chain_seek(shm, z, fb, &pb);
	const char *da, *db;
	size_t na, nb;

	for (; len > 0; len -= na) {
		/* a's piece no longer than what b's chunk has left: b's is as long. */
		if ((da = cache_chain_piece(shm, z, &ca, &pa, CT_MIN(len, z->chunk - pb), &na)) ==
		    NULL || (db = cache_chain_piece(shm, z, &cb, &pb, na, &nb)) == NULL ||
		    memcmp(da, db, na) != 0)
			return 0;
	}
	return 1;
}

/* Copies len bytes from the chain from fa at pa to the chain from fb at pb. */
static void
cache_chains_copy(struct shm *shm, const struct shm_cache_zone *z, uint32_t fa, uint64_t pa,
    uint32_t fb, uint64_t pb, uint64_t len)
{
	uint32_t ca = cache_chain_seek(shm, z, fa, &pa), cb = cache_chain_seek(shm, z, fb, &pb);
	const char *da;
	char *db;
	size_t na, nb;

	for (; len > 0; len -= na) {
		if ((da = cache_chain_piece(shm, z, &ca, &pa, CT_MIN(len, z->chunk - pb), &na)) ==
		    NULL || (db = cache_chain_piece(shm, z, &cb, &pb, na, &nb)) == NULL)
			return;
		memcpy(db, da, na);
	}
}

/* The bytes of keys and Vary names at the start of an entry's meta chain. */
static uint64_t
cache_keys_len(const struct shm_cache_entry *e)
{
	return (uint64_t)e->klen + e->slen + e->vlen;
}

/*
 * Where a head of len bytes goes after keys bytes of keys: right after
 * them, unless it would straddle a chunk that it fits in whole; then
 * at the next chunk, so that it is one iovec.
 */
static uint64_t
cache_head_off(const struct shm_cache_zone *z, uint64_t keys, uint64_t len)
{
	uint64_t room = z->chunk - keys % z->chunk;

	return len > room && len <= z->chunk && room != z->chunk ? keys + room : keys;
}

/* Chunks for len bytes, in 64 bits: a caller compares it with nchunks before narrowing it. */
static uint64_t
cache_chunks_for(const struct shm_cache_zone *z, uint64_t len)
{
	return len / z->chunk + (len % z->chunk != 0);
}

/* --------------------------------------------------- index and LRU */

static uint32_t *
cache_bucket(const struct shm *shm, const struct shm_cache_zone *z, uint64_t phash)
{
	return &cache_buckets(shm, z)[phash & (z->nbuckets - 1)];
}

static void
cache_index_add(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);
	uint32_t *b = cache_bucket(shm, z, e->phash);

	e->hnext = *b;
	*b = i;
	e->linked = 1;
}

static void
cache_index_remove(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);
	uint32_t *p = cache_bucket(shm, z, e->phash), n;

	for (n = 0; *p != NONE && n <= z->nchunks; n++) {
		if (*p == i) {
			*p = e->hnext;
			break;
		}
		p = &cache_entry(shm, z, *p)->hnext;
	}
	e->hnext = NONE;
	e->linked = 0;
}

/* The chunks an entry's eviction would give back. */
static uint32_t
cache_entry_chunks(const struct shm_cache_entry *e)
{
	return e->meta_n + e->body_n;
}

/*
 * z->evictable counts the chunks of the objects on the LRU that nobody
 * holds, so that an eviction knows before it starts whether it can
 * succeed; kept by the LRU's links and by the references.  A body that
 * a replaced head's reader still shares is counted though its eviction
 * would not free it: rare, and then an eviction may still fail late.
 */
static void
cache_lru_push(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);

	if (e->refs == 0)
		z->evictable += cache_entry_chunks(e);

	e->lru_prev = NONE;
	e->lru_next = z->lru_head;
	if (z->lru_head != NONE)
		cache_entry(shm, z, z->lru_head)->lru_prev = i;
	else
		z->lru_tail = i;
	z->lru_head = i;
}

static void
cache_lru_remove(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);

	if (e->refs == 0)
		z->evictable -= cache_entry_chunks(e);

	if (e->lru_prev != NONE)
		cache_entry(shm, z, e->lru_prev)->lru_next = e->lru_next;
	else
		z->lru_head = e->lru_next;
	if (e->lru_next != NONE)
		cache_entry(shm, z, e->lru_next)->lru_prev = e->lru_prev;
	else
		z->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NONE;
}

/*
 * Takes entry i out of the index: a COMPLETE one is GONE (freed now if
 * nobody holds it), a FILLING one goes on but will not be published.
 */
static void
cache_unlink(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);

	/*
	 * What it becomes first, then out of the index: a crash in between
	 * leaves a GONE (or purged) entry that the repair does not link
	 * again, never a COMPLETE one outside the index that it would.
	 */
	if (atomic_load_explicit(&e->state, memory_order_relaxed) != SHM_CACHE_COMPLETE) {
		e->purged = 1;
		cache_index_remove(shm, z, i);
		return;
	}
	atomic_store_explicit(&e->state, SHM_CACHE_GONE, memory_order_release);
	cache_index_remove(shm, z, i);
	cache_lru_remove(shm, z, i);
	atomic_fetch_sub_explicit(&z->objects, 1, memory_order_relaxed);
	if (e->refs == 0)
		cache_entry_free(shm, z, i);
}

/* Is entry e one of key k (hashes, lengths, then every byte)? */
static int
cache_key_is(const struct shm *shm, const struct shm_cache_zone *z,
    const struct shm_cache_entry *e, const struct shm_cache_key *k)
{
	return e->phash == k->phash && e->vhash == k->vhash && e->klen == k->plen &&
	    e->slen == k->slen &&
	    cache_chain_equal(shm, z, e->meta, 0, k->primary, k->plen) &&
	    cache_chain_equal(shm, z, e->meta, k->plen, k->secondary, k->slen);
}

/* Do entries a and b have the same primary key? */
static int
cache_entry_same_primary(const struct shm *shm, const struct shm_cache_zone *z,
    const struct shm_cache_entry *a, const struct shm_cache_entry *b)
{
	return a->phash == b->phash && a->klen == b->klen &&
	    cache_chains_equal(shm, z, a->meta, 0, b->meta, 0, a->klen);
}

/* Do entries a and b have the same key, primary and secondary? */
static int
cache_entry_same_key(const struct shm *shm, const struct shm_cache_zone *z,
    const struct shm_cache_entry *a, const struct shm_cache_entry *b)
{
	return a->vhash == b->vhash && a->slen == b->slen && cache_entry_same_primary(shm, z, a, b) &&
	    cache_chains_equal(shm, z, a->meta, a->klen, b->meta, b->klen, a->slen);
}

/* Do entries a and b (of one primary key) name the same Vary fields? */
static int
cache_entry_same_vary(const struct shm *shm, const struct shm_cache_zone *z,
    const struct shm_cache_entry *a, const struct shm_cache_entry *b)
{
	return a->vlen == b->vlen && cache_chains_equal(shm, z, a->meta,
	    (uint64_t)a->klen + a->slen, b->meta, (uint64_t)b->klen + b->slen, a->vlen);
}

/*
 * The COMPLETE entry of k in the index, or NONE; *filling (when not
 * NULL): its fill under way, or NONE.  One walk of the chain for both.
 */
static uint32_t
cache_find(const struct shm *shm, const struct shm_cache_zone *z, const struct shm_cache_key *k,
    uint32_t *filling)
{
	uint32_t i = *cache_bucket(shm, z, k->phash), fill = NONE, n;
	struct shm_cache_entry *e;
	unsigned st;

	/* Bounded: a chain is never longer than the entries, even one a crash left looped. */
	for (n = 0; i != NONE && n < z->nchunks; i = e->hnext, n++) {
		e = cache_entry(shm, z, i);
		st = atomic_load_explicit(&e->state, memory_order_relaxed);
		if ((st == SHM_CACHE_COMPLETE || fill == NONE) && cache_key_is(shm, z, e, k)) {
			if (st == SHM_CACHE_COMPLETE)
				break;
			fill = i;
		}
	}
	if (filling != NULL)
		*filling = fill;
	return n < z->nchunks ? i : NONE;
}

/*
 * Frees least recently used objects that nobody holds until need
 * chunks (and an entry, with entry set) are free.  A need that the
 * free and the evictable chunks cannot meet is refused before anything
 * is evicted: one object too big for what is left must not empty the
 * cache.  A held object met on the way goes to the LRU's front, so
 * that the next eviction does not walk past it again.
 */
static int
cache_evict(struct shm *shm, struct shm_cache_zone *z, uint32_t need, int entry)
{
	uint32_t i = z->lru_tail, prev, n;
	struct shm_cache_entry *e;

	if ((uint64_t)need > (uint64_t)z->free_chunks + z->evictable)
		return CT_ERROR;
	for (n = 0; z->free_chunks < need || (entry && z->free_entries == 0); n++) {
		if (i == NONE || n > z->nchunks)
			return CT_ERROR;
		e = cache_entry(shm, z, i);
		prev = e->lru_prev;
		if (e->refs > 0) {
			cache_lru_remove(shm, z, i);
			cache_lru_push(shm, z, i);
		} else {
			cache_unlink(shm, z, i);
			atomic_fetch_add_explicit(&z->evictions, 1, memory_order_relaxed);
		}
		i = prev;
	}
	return CT_OK;
}

/* ------------------------------------------------------------ wake-ups */

/*
 * Writes the wake fd of every process waiting on e, and forgets them:
 * a wait is for one wake-up.  Lock-free (the bits are atomic), so that
 * no system call is made under the lock on a store's path.  The fence
 * pairs with the one in shm_cache_wait(): what the caller published
 * before (a length, a state) is seen by a waiter that registers after
 * this load, or the waiter's bit is seen here.  A write that would
 * block finds the counter non-zero: the waiter wakes anyway.
 */
static void
cache_wake(const struct shm_cache_wake *wake, struct shm_cache_entry *e)
{
	uint64_t bits, one = 1;
	unsigned w, b;
	ssize_t rc;

	atomic_thread_fence(memory_order_seq_cst);
	for (w = 0; w < SHM_CACHE_WAKE_MAX / 64; w++) {
		if (atomic_load_explicit(&e->waiters[w], memory_order_relaxed) == 0)
			continue;
		bits = atomic_exchange(&e->waiters[w], 0);
		for (; bits != 0; bits &= bits - 1) {
			b = w * 64 + (unsigned)__builtin_ctzll(bits);
			if (wake != NULL && b < wake->n && wake->fds[b] != -1) {
				rc = write(wake->fds[b], &one, sizeof(one));
				(void)rc;
			}
		}
	}
}

/* Has the fill moved on from what seen says? */
static int
cache_moved(const struct shm_cache_entry *e, const struct shm_cache_progress *seen)
{
	return atomic_load(&e->state) != SHM_CACHE_FILLING || seen->state != SHM_CACHE_FILLING ||
	    atomic_load(&e->head_len) != seen->head_len ||
	    atomic_load(&e->body_len) != seen->body_len;
}

/* --------------------------------------------------- processes, holds */

/* The caller's process slot, if it is still its own (not reaped meanwhile). */
static struct shm_cache_proc *
cache_user_proc(const struct shm_cache_user *u, const struct shm_cache_zone *z)
{
	struct shm_cache_proc *p;

	if (u->slot >= SHM_CACHE_PROCS)
		return NULL;
	p = cache_proc(u->shm, z, u->slot);
	return p->pid != 0 && p->token == u->token ? p : NULL;
}

static void
cache_refs_add(struct shm *shm, struct shm_cache_zone *z, uint32_t i, uint32_t n)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);

	if (e->refs == 0 && atomic_load_explicit(&e->state, memory_order_relaxed) ==
	    SHM_CACHE_COMPLETE)
		z->evictable -= cache_entry_chunks(e);
	e->refs += n;
}

/* Drops n references; the last one frees an entry out of the index, or makes an object evictable. */
static void
cache_refs_sub(struct shm *shm, struct shm_cache_zone *z, uint32_t i, uint32_t n)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);
	unsigned st = atomic_load_explicit(&e->state, memory_order_relaxed);

	e->refs -= CT_MIN(e->refs, n);
	if (e->refs > 0)
		return;
	if (st == SHM_CACHE_COMPLETE)
		z->evictable += cache_entry_chunks(e);
	else if (st == SHM_CACHE_GONE || st == SHM_CACHE_ABORTED)
		cache_entry_free(shm, z, i);
}

static uint32_t
cache_hold_home(const struct shm_cache_zone *z, uint32_t i)
{
	return (i * UINT32_C(2654435761)) & (z->hold_cap - 1);
}

/*
 * Where entry i is in the table h, or the empty slot where it would
 * go: linear probing from its home.  Bounded by the table, so that one
 * a crash left full still ends (with a slot that is neither).
 */
static uint32_t
cache_hold_slot(const struct shm_cache_zone *z, const struct shm_cache_hold *h, uint32_t i)
{
	uint32_t mask = z->hold_cap - 1, j = cache_hold_home(z, i), n;

	for (n = 0; n < z->hold_cap && h[j].entry != NONE && h[j].entry != i; n++)
		j = (j + 1) & mask;
	return j;
}

/*
 * Empties slot j, moving back the holds after it that would no longer
 * be found past the hole (deletion without tombstones).
 */
static void
cache_hold_remove(const struct shm_cache_zone *z, struct shm_cache_hold *h, uint32_t j)
{
	uint32_t mask = z->hold_cap - 1, k = j, n;

	for (n = 0; n < z->hold_cap; n++) {
		k = (k + 1) & mask;
		if (h[k].entry == NONE)
			break;
		/* h[k] may fill the hole if the hole lies between its home and it. */
		if (((k - cache_hold_home(z, h[k].entry)) & mask) >= ((k - j) & mask)) {
			h[j] = h[k];
			j = k;
		}
	}
	h[j].entry = NONE;
	h[j].count = 0;
}

static void
cache_holds_clear(const struct shm *shm, const struct shm_cache_zone *z, uint32_t s)
{
	memset(cache_holds(shm, z, s), 0xff, (size_t)z->hold_cap * sizeof(struct shm_cache_hold));
}

static int
cache_hold_add(struct shm *shm, struct shm_cache_zone *z, uint32_t s, uint32_t i)
{
	struct shm_cache_hold *h = cache_holds(shm, z, s);
	struct shm_cache_proc *p = cache_proc(shm, z, s);
	uint32_t j = cache_hold_slot(z, h, i);

	if (h[j].entry != i) {
		if (p->used >= z->hold_max || h[j].entry != NONE)
			return CT_ERROR;
		h[j].entry = i;
		h[j].count = 0;
		p->used++;
	}
	h[j].count++;
	cache_refs_add(shm, z, i, 1);
	return CT_OK;
}

/* Drops one reference of slot s to entry i; the last one of an unlinked entry frees it. */
static void
cache_hold_drop(struct shm *shm, struct shm_cache_zone *z, uint32_t s, uint32_t i)
{
	struct shm_cache_hold *h = cache_holds(shm, z, s);
	uint32_t j = cache_hold_slot(z, h, i);

	if (h[j].entry != i || cache_entry(shm, z, i)->refs == 0) {
		log_alert("cache zone %.*s: a reference to entry %u released but not held", ZNAME(z),
		    i);
		return;
	}
	if (--h[j].count == 0) {
		cache_hold_remove(z, h, j);
		cache_proc(shm, z, s)->used--;
	}
	cache_refs_sub(shm, z, i, 1);
}

int
shm_cache_attach(struct shm *shm, int zone, pid_t pid, const struct shm_cache_wake *wake,
    struct shm_cache_user *u)
{
	struct shm_cache_zone *z = shm_cache_zone_get(shm, zone);
	struct shm_cache_proc *p;
	uint32_t i;

	memset(u, 0, sizeof(*u));
	u->slot = NONE;
	u->wake.self = -1;
	if (wake != NULL) {
		u->wake = *wake;
		u->wake.n = CT_MIN(wake->n, (uint32_t)SHM_CACHE_WAKE_MAX);
		if (wake->self >= (int32_t)u->wake.n)
			u->wake.self = -1;
	}
	if (!cache_zone_ready(z) || cache_lock(shm, z) != CT_OK)
		return CT_ERROR;
	for (i = 0; i < SHM_CACHE_PROCS; i++) {
		p = cache_proc(shm, z, i);
		if (p->pid == 0) {
			p->pid = (int32_t)pid;
			p->used = 0;
			cache_holds_clear(shm, z, i);
			p->token = ++z->tokens;
			u->shm = shm;
			u->zone = zone;
			u->slot = i;
			u->token = p->token;
			break;
		}
	}
	cache_unlock(z);
	if (u->slot == NONE) {
		log_warnx("cache zone %.*s: more than %d processes use it; pid %d goes without",
		    ZNAME(z), SHM_CACHE_PROCS, (int)pid);
		return CT_ERROR;
	}
	return CT_OK;
}

/* Abort under the lock: out of the index, ABORTED, counted. */
static void
cache_abort_locked(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);

	if (e->linked)
		cache_index_remove(shm, z, i);
	atomic_store_explicit(&e->state, SHM_CACHE_ABORTED, memory_order_release);
	atomic_fetch_add_explicit(&z->aborts, 1, memory_order_relaxed);
}

/* Drops everything process slot s holds and aborts its fills; the slot is free. */
static size_t
cache_proc_clear(struct shm *shm, struct shm_cache_zone *z, uint32_t s,
    const struct shm_cache_wake *wake)
{
	struct shm_cache_proc *p = cache_proc(shm, z, s);
	struct shm_cache_hold *h = cache_holds(shm, z, s);
	struct shm_cache_entry *e;
	size_t dropped = 0;
	uint32_t j, i;
	unsigned st;

	for (j = 0; j < z->hold_cap; j++) {
		if ((i = h[j].entry) == NONE)
			continue;
		e = cache_entry(shm, z, i);
		st = atomic_load_explicit(&e->state, memory_order_relaxed);
		if (e->owner_slot == s && e->owner_token == p->token) {
			/* Its fill, or one a repair aborted already: its waiters learn it. */
			if (st == SHM_CACHE_FILLING)
				cache_abort_locked(shm, z, i);
			cache_wake(wake, e);
		}
		dropped += h[j].count;
		cache_refs_sub(shm, z, i, h[j].count);
	}
	cache_holds_clear(shm, z, s);
	p->used = 0;
	p->token = 0;
	p->pid = 0;
	return dropped;
}

void
shm_cache_detach(struct shm_cache_user *u)
{
	struct shm_cache_zone *z;

	if (u->shm == NULL || u->slot == NONE)
		return;
	z = shm_cache_zone_get(u->shm, u->zone);
	if (cache_lock(u->shm, z) == CT_OK) {
		if (cache_user_proc(u, z) != NULL)
			(void)cache_proc_clear(u->shm, z, u->slot, &u->wake);
		cache_unlock(z);
	}
	u->slot = NONE;
}

size_t
shm_cache_reap(struct shm *shm, int zone, pid_t pid, const struct shm_cache_wake *wake)
{
	struct shm_cache_zone *z = shm_cache_zone_get(shm, zone);
	size_t n = 0;
	uint32_t s;

	if (!cache_zone_ready(z) || pid <= 0 || cache_lock(shm, z) != CT_OK)
		return 0;
	for (s = 0; s < SHM_CACHE_PROCS; s++)
		if (cache_proc(shm, z, s)->pid == (int32_t)pid)
			n += cache_proc_clear(shm, z, s, wake);
	cache_unlock(z);
	if (n > 0)
		log_notice("cache zone %.*s: dropped %zu references and fills of pid %d", ZNAME(z),
		    n, (int)pid);
	return n;
}

size_t
shm_cache_reap_all(struct shm *shm, pid_t pid, const struct shm_cache_wake *wake)
{
	size_t n = 0;
	int i;

	for (i = 0; i < SHM_CACHE_ZONES_MAX; i++)
		if (atomic_load(&shm_cache_zone_get(shm, i)->in_use) != 0)
			n += shm_cache_reap(shm, i, pid, wake);
	return n;
}

/* ------------------------------------------------------------ lookups */

int
shm_cache_key_init(const struct shm_cache_user *u, struct shm_cache_key *k,
    const void *primary, size_t plen, const void *secondary, size_t slen)
{
	const struct shm_cache_zone *z = shm_cache_zone_get(u->shm, u->zone);

	if (plen > SHM_CACHE_KEY_MAX || slen > SHM_CACHE_VARY_MAX)
		return CT_ERROR;
	k->primary = primary;
	k->plen = plen;
	k->secondary = slen > 0 ? secondary : NULL;
	k->slen = slen;
	k->phash = hash_keyed(z->hash_key, primary, plen);
	k->vhash = slen > 0 ? hash_keyed(z->hash_key, secondary, slen) : 0;
	return CT_OK;
}

static void
cache_ref_set(struct shm_cache_ref *r, struct shm_cache_user *u, uint32_t i,
    const struct shm_cache_entry *e, int writer)
{
	r->u = u;
	r->entry = i;
	r->writer = writer;
	r->seq = e->seq;
	r->cur_chunk = NONE;
	r->cur_pos = 0;
	r->w_last = NONE;
}

enum shm_cache_found
shm_cache_lookup(struct shm_cache_user *u, const struct shm_cache_key *k, uint64_t now_s,
    struct shm_cache_ref *r)
{
	struct shm_cache_zone *z = shm_cache_zone_get(u->shm, u->zone);
	enum shm_cache_found found = SHM_CACHE_MISS;
	struct shm_cache_proc *p;
	struct shm_cache_entry *e;
	uint32_t i, fill;

	r->entry = NONE;
	if (cache_lock(u->shm, z) != CT_OK) {
		atomic_fetch_add_explicit(&z->busy, 1, memory_order_relaxed);
		return SHM_CACHE_BUSY;
	}
	if ((i = cache_find(u->shm, z, k, &fill)) != NONE)
		found = SHM_CACHE_HIT;
	else if ((i = fill) != NONE)
		found = SHM_CACHE_COLLAPSE;
	if (found != SHM_CACHE_MISS) {
		p = cache_user_proc(u, z);
		e = cache_entry(u->shm, z, i);
		if (p == NULL || cache_hold_add(u->shm, z, u->slot, i) != CT_OK) {
			found = SHM_CACHE_BUSY;
		} else {
			cache_ref_set(r, u, i, e, 0);
			/* Moved once a second at most, as nginx does: most hits leave the list be. */
			if (found == SHM_CACHE_HIT && now_s - e->touched >= 1) {
				e->touched = now_s;
				cache_lru_remove(u->shm, z, i);
				cache_lru_push(u->shm, z, i);
			}
		}
	}
	cache_unlock(z);
	if (found == SHM_CACHE_HIT)
		atomic_fetch_add_explicit(&z->hits, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(found == SHM_CACHE_BUSY ? &z->busy : &z->misses, 1,
		    memory_order_relaxed);
	return found;
}

/* The entry of r, if r is a live reference to the incarnation it was taken on. */
static struct shm_cache_entry *
cache_ref_entry(const struct shm_cache_ref *r, struct shm_cache_zone **zp)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e;

	if (r->u == NULL || r->entry == NONE)
		return NULL;
	z = shm_cache_zone_get(r->u->shm, r->u->zone);
	if (r->entry >= z->nchunks)
		return NULL;
	e = cache_entry(r->u->shm, z, r->entry);
	if (e->seq != r->seq)
		return NULL;
	*zp = z;
	return e;
}

/* Drops the reference of r under the lock. */
static void
cache_ref_drop(struct shm_cache_ref *r, struct shm_cache_zone *z)
{
	if (cache_user_proc(r->u, z) != NULL)
		cache_hold_drop(r->u->shm, z, r->u->slot, r->entry);
	r->entry = NONE;
}

void
shm_cache_release(struct shm_cache_ref *r)
{
	struct shm_cache_zone *z;

	if (cache_ref_entry(r, &z) == NULL) {
		r->entry = NONE;
		return;
	}
	if (r->writer) {
		shm_cache_store_abort(r);
		return;
	}
	if (cache_lock(r->u->shm, z) != CT_OK) {
		r->entry = NONE;
		return;
	}
	cache_ref_drop(r, z);
	cache_unlock(z);
}

int
shm_cache_wait(struct shm_cache_ref *r, const struct shm_cache_progress *seen)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e = cache_ref_entry(r, &z);
	int32_t self = r->u != NULL ? r->u->wake.self : -1;

	if (e == NULL || cache_moved(e, seen))
		return CT_AGAIN;
	if (self < 0)
		return CT_ERROR;
	atomic_fetch_or(&e->waiters[self / 64], UINT64_C(1) << (self % 64));
	/* Pairs with cache_wake()'s: the fill moved before this, or it sees our bit. */
	atomic_thread_fence(memory_order_seq_cst);
	return cache_moved(e, seen) ? CT_AGAIN : CT_OK;
}

void
shm_cache_progress(const struct shm_cache_ref *r, struct shm_cache_progress *pr)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e = cache_ref_entry(r, &z);
	unsigned st;

	memset(pr, 0, sizeof(*pr));
	if (e == NULL) {
		pr->state = SHM_CACHE_ABORTED;
		return;
	}
	st = atomic_load_explicit(&e->state, memory_order_acquire);
	pr->state = st == SHM_CACHE_GONE ? SHM_CACHE_COMPLETE : st;
	pr->head_len = atomic_load_explicit(&e->head_len, memory_order_acquire);
	pr->body_len = atomic_load_explicit(&e->body_len, memory_order_acquire);
	pr->entry_id = (uint64_t)r->entry << 32 | (r->seq & 0xffffffffu);
}

/* Fills iovecs from chunk c at pos, up to len bytes; returns how many. */
static size_t
cache_iov_fill(const struct shm *shm, const struct shm_cache_zone *z, uint32_t c,
    uint64_t pos, uint64_t len, struct iovec *iov, size_t n, uint32_t *last)
{
	size_t k = 0, m;

	while (len > 0 && k < n && c != NONE) {
		m = (size_t)CT_MIN(len, z->chunk - pos);
		iov[k].iov_base = cache_chunk(shm, z, c) + pos;
		iov[k].iov_len = m;
		k++;
		len -= m;
		pos = 0;
		*last = c;
		if (len > 0)
			c = cache_next(shm, z)[c];
	}
	return k;
}

size_t
shm_cache_iov(struct shm_cache_ref *r, uint64_t from, struct iovec *iov, size_t n)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e = cache_ref_entry(r, &z);
	uint64_t head, body, pos, start, skip;
	uint32_t c, last = NONE;
	size_t k = 0;
	unsigned st;

	if (e == NULL || n == 0)
		return 0;
	st = atomic_load_explicit(&e->state, memory_order_acquire);
	head = atomic_load_explicit(&e->head_len, memory_order_acquire);
	body = atomic_load_explicit(&e->body_len, memory_order_acquire);
	if (st == SHM_CACHE_ABORTED || (st == SHM_CACHE_FILLING && head == 0))
		return 0;
	if (from < head) {
		pos = e->head_off + from;
		c = cache_chain_seek(r->u->shm, z, e->meta, &pos);
		k = cache_iov_fill(r->u->shm, z, c, pos, head - from, iov, n, &last);
		from = head;
	}
	pos = from - head;
	if (k == n || pos >= body)
		return k;
	/* On from the chunk the last call ended in, when it is not behind us. */
	if (r->cur_chunk != NONE && r->cur_pos <= pos) {
		c = r->cur_chunk;
		start = r->cur_pos;
	} else {
		c = e->body;
		start = 0;
	}
	skip = pos - start;
	c = cache_chain_seek(r->u->shm, z, c, &skip);
	start = pos - skip;
	last = NONE;
	k += cache_iov_fill(r->u->shm, z, c, skip, body - pos, iov + k, n - k, &last);
	if (last != NONE) {
		/* last is start's chunk or one further on: walk its position forward. */
		while (c != last && c != NONE) {
			c = cache_next(r->u->shm, z)[c];
			start += z->chunk;
		}
		r->cur_chunk = last;
		r->cur_pos = start;
	}
	return k;
}

/* ------------------------------------------------------------- stores */

int
shm_cache_store_begin(struct shm_cache_user *u, const struct shm_cache_key *k,
    const void *vary, size_t vlen, uint64_t expected, struct shm_cache_ref *w)
{
	struct shm_cache_zone *z = shm_cache_zone_get(u->shm, u->zone);
	uint32_t need, i = NONE, last = NONE, fill;
	struct shm_cache_entry *e;
	struct shm_cache_proc *p;
	int rc = CT_ERROR;

	w->entry = NONE;
	if (vlen > SHM_CACHE_VARY_MAX)
		return CT_ERROR;
	if (expected > atomic_load_explicit(&z->max_object, memory_order_relaxed))
		return CT_DECLINED;
	need = (uint32_t)cache_chunks_for(z, k->plen + k->slen + vlen);
	if (cache_lock(u->shm, z) != CT_OK)
		return CT_ERROR;
	(void)cache_find(u->shm, z, k, &fill);
	if (fill != NONE) {
		rc = CT_AGAIN;
		goto out;
	}
	p = cache_user_proc(u, z);
	/* A known size that cannot be met fails here, before anything is evicted for the key. */
	if (p == NULL || p->used >= z->hold_max ||
	    (uint64_t)need + cache_chunks_for(z, expected) >
	    (uint64_t)z->free_chunks + z->evictable ||
	    cache_evict(u->shm, z, need, 1) != CT_OK)
		goto out;
	i = cache_entry_take(u->shm, z);
	e = cache_entry(u->shm, z, i);
	(void)cache_chain_grow(u->shm, z, &e->meta, &last, &e->meta_n, need);
	e->phash = k->phash;
	e->vhash = k->vhash;
	e->klen = (uint32_t)k->plen;
	e->slen = (uint32_t)k->slen;
	e->vlen = (uint32_t)vlen;
	e->head_off = (uint32_t)cache_keys_len(e);
	e->owner_slot = u->slot;
	e->owner_token = u->token;
	e->owner_pid = p->pid;
	/* Under the lock: lookups compare it under the lock too. */
	cache_chain_write(u->shm, z, e->meta, 0, k->primary, k->plen);
	cache_chain_write(u->shm, z, e->meta, k->plen, k->secondary, k->slen);
	cache_chain_write(u->shm, z, e->meta, k->plen + k->slen, vary, vlen);
	atomic_store_explicit(&e->state, SHM_CACHE_FILLING, memory_order_release);
	cache_index_add(u->shm, z, i);
	(void)cache_hold_add(u->shm, z, u->slot, i);
	cache_ref_set(w, u, i, e, 1);
	rc = CT_OK;
out:
	cache_unlock(z);
	return rc;
}

/* Ends a fill that failed: waiters see ABORTED, the last reference frees it. */
static void
cache_store_fail(struct shm_cache_ref *w, struct shm_cache_zone *z)
{
	struct shm_cache_entry *e = cache_entry(w->u->shm, z, w->entry);

	if (cache_lock(w->u->shm, z) != CT_OK) {
		w->entry = NONE;
		return;
	}
	cache_abort_locked(w->u->shm, z, w->entry);
	cache_ref_drop(w, z);
	cache_unlock(z);
	cache_wake(&w->u->wake, e);
}

/* The filler's entry, or NULL (with w spent) when w is not a live fill. */
static struct shm_cache_entry *
cache_writer_entry(struct shm_cache_ref *w, struct shm_cache_zone **zp)
{
	struct shm_cache_entry *e = cache_ref_entry(w, zp);

	if (e == NULL || !w->writer ||
	    atomic_load_explicit(&e->state, memory_order_relaxed) != SHM_CACHE_FILLING) {
		w->entry = NONE;
		return NULL;
	}
	return e;
}

/* Room in the fill for len more bytes of head or body, within max_object. */
static int
cache_store_fits(struct shm_cache_ref *w, struct shm_cache_zone *z, struct shm_cache_entry *e,
    size_t len)
{
	uint64_t have = atomic_load_explicit(&e->head_len, memory_order_relaxed) +
	    atomic_load_explicit(&e->body_len, memory_order_relaxed);

	if (len > atomic_load_explicit(&z->max_object, memory_order_relaxed) - CT_MIN(have,
	    atomic_load_explicit(&z->max_object, memory_order_relaxed))) {
		cache_store_fail(w, z);
		return CT_DECLINED;
	}
	return CT_OK;
}

/*
 * Under the lock: a chain of the fill grown to want chunks, evicting
 * for them.  want is counted in 64 bits and refused beyond the zone,
 * so that no length narrows into a small count.
 */
static int
cache_store_grow(struct shm_cache_ref *w, struct shm_cache_zone *z, uint32_t *first,
    uint32_t *last, uint32_t *count, uint64_t want)
{
	uint32_t n;
	int rc;

	if (want > z->nchunks)
		return CT_ERROR;
	if ((n = (uint32_t)want - CT_MIN((uint32_t)want, *count)) == 0)
		return CT_OK;
	if (cache_lock(w->u->shm, z) != CT_OK)
		return CT_ERROR;
	rc = cache_evict(w->u->shm, z, n, 0);
	if (rc == CT_OK)
		rc = cache_chain_grow(w->u->shm, z, first, last, count, n);
	cache_unlock(z);
	return rc;
}

int
shm_cache_store_head(struct shm_cache_ref *w, const void *head, size_t len)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e = cache_writer_entry(w, &z);
	uint64_t at, need;
	uint32_t last;
	int rc;

	if (e == NULL)
		return CT_ERROR;
	if (len == 0 || len > UINT32_MAX || atomic_load(&e->head_len) != 0) {
		cache_store_fail(w, z);
		return CT_ERROR;
	}
	if ((rc = cache_store_fits(w, z, e, len)) != CT_OK)
		return rc;
	at = cache_head_off(z, cache_keys_len(e), len);
	need = cache_chunks_for(z, at + len);
	/* The chain's end: the key's chunks are few. */
	last = e->meta;
	while (last != NONE && cache_next(w->u->shm, z)[last] != NONE)
		last = cache_next(w->u->shm, z)[last];
	if (cache_store_grow(w, z, &e->meta, &last, &e->meta_n, need) != CT_OK) {
		cache_store_fail(w, z);
		return CT_ERROR;
	}
	cache_chain_write(w->u->shm, z, e->meta, at, head, len);
	e->head_off = (uint32_t)at;
	atomic_store_explicit(&e->head_len, (unsigned)len, memory_order_release);
	cache_wake(&w->u->wake, e);
	return CT_OK;
}

int
shm_cache_store_append(struct shm_cache_ref *w, const void *p, size_t len)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e = cache_writer_entry(w, &z);
	uint64_t pos, start, need, off;
	uint32_t c;
	size_t n;
	int rc;

	if (e == NULL)
		return CT_ERROR;
	if (len == 0)
		return CT_OK;
	if ((rc = cache_store_fits(w, z, e, len)) != CT_OK)
		return rc;
	pos = start = atomic_load_explicit(&e->body_len, memory_order_relaxed);
	need = len > UINT64_MAX - pos ? UINT64_MAX : cache_chunks_for(z, pos + len);
	if (cache_store_grow(w, z, &e->body, &e->body_last, &e->body_n, need) != CT_OK) {
		cache_store_fail(w, z);
		return CT_ERROR;
	}
	/* w_last: the chunk of byte pos - 1, so that no append walks the chain. */
	while (len > 0) {
		off = pos % z->chunk;
		c = off != 0 ? w->w_last : w->w_last == NONE ? e->body :
		    cache_next(w->u->shm, z)[w->w_last];
		if (c == NONE) {
			/* The chain is shorter than its count says: never write through it. */
			cache_store_fail(w, z);
			return CT_ERROR;
		}
		n = (size_t)CT_MIN(len, z->chunk - off);
		memcpy(cache_chunk(w->u->shm, z, c) + off, p, n);
		p = (const char *)p + n;
		len -= n;
		pos += n;
		w->w_last = c;
	}
	/* The bytes before their length: a waiter that sees one sees the other. */
	atomic_store_explicit(&e->body_len, pos, memory_order_release);
	/* Waiters woken once a chunk, not once an append: a chunk is what a writev() sends. */
	if (start == 0 || start / z->chunk != pos / z->chunk)
		cache_wake(&w->u->wake, e);
	return CT_OK;
}

/*
 * Makes entry i, in the index, the object that lookups find.  The
 * object of its key that it replaces goes, and so do the variants of
 * its primary key stored under other Vary names: shm_cache_vary_get()
 * now answers with i's names, through which lookups would not reach
 * them again.
 */
static void
cache_publish(struct shm *shm, struct shm_cache_zone *z, uint32_t i, uint64_t now_s)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i), *o;
	uint32_t j, next, n;

	for (n = 0, j = *cache_bucket(shm, z, e->phash); j != NONE && n < z->nchunks;
	    j = next, n++) {
		o = cache_entry(shm, z, j);
		next = o->hnext;
		if (j != i && atomic_load_explicit(&o->state, memory_order_relaxed) ==
		    SHM_CACHE_COMPLETE && cache_entry_same_primary(shm, z, o, e) &&
		    (!cache_entry_same_vary(shm, z, o, e) || cache_entry_same_key(shm, z, o, e)))
			cache_unlink(shm, z, j);
	}
	e->touched = now_s;
	cache_lru_push(shm, z, i);
	atomic_fetch_add_explicit(&z->objects, 1, memory_order_relaxed);
	atomic_store_explicit(&e->state, SHM_CACHE_COMPLETE, memory_order_release);
}

int
shm_cache_store_commit(struct shm_cache_ref *w, const void *head, size_t len, uint64_t now_s)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e = cache_writer_entry(w, &z);
	int rc = CT_OK;

	if (e == NULL)
		return CT_ERROR;
	if (head != NULL && (rc = shm_cache_store_head(w, head, len)) != CT_OK)
		return rc;
	if (cache_lock(w->u->shm, z) != CT_OK) {
		w->entry = NONE;
		return CT_ERROR;
	}
	if (!e->linked || e->purged) {
		/* Purged while filling: the waiters have it whole, lookups must not. */
		atomic_store_explicit(&e->state, SHM_CACHE_GONE, memory_order_release);
		rc = CT_DECLINED;
	} else {
		cache_publish(w->u->shm, z, w->entry, now_s);
		atomic_fetch_add_explicit(&z->stores, 1, memory_order_relaxed);
	}
	cache_ref_drop(w, z);
	cache_unlock(z);
	cache_wake(&w->u->wake, e);
	return rc;
}

void
shm_cache_store_abort(struct shm_cache_ref *w)
{
	struct shm_cache_zone *z;

	if (cache_writer_entry(w, &z) != NULL)
		cache_store_fail(w, z);
}

/* --------------------------------------------- Vary, info, new heads */

int
shm_cache_vary_get(struct shm_cache_user *u, const struct shm_cache_key *k, void *out,
    size_t size, size_t *len)
{
	struct shm_cache_zone *z = shm_cache_zone_get(u->shm, u->zone);
	struct shm_cache_entry *e, *best = NULL;
	uint32_t i, n;
	int rc = CT_DECLINED;

	if (cache_lock(u->shm, z) != CT_OK)
		return CT_ERROR;
	for (n = 0, i = *cache_bucket(u->shm, z, k->phash); i != NONE && n < z->nchunks;
	    i = e->hnext, n++) {
		e = cache_entry(u->shm, z, i);
		if (atomic_load_explicit(&e->state, memory_order_relaxed) == SHM_CACHE_COMPLETE &&
		    e->phash == k->phash && e->klen == k->plen &&
		    (best == NULL || e->seq > best->seq) &&
		    cache_chain_equal(u->shm, z, e->meta, 0, k->primary, k->plen))
			best = e;
	}
	if (best != NULL) {
		*len = best->vlen;
		rc = best->vlen <= size ? CT_OK : CT_ERROR;
		if (rc == CT_OK)
			cache_chain_read(u->shm, z, best->meta, (uint64_t)best->klen + best->slen, out,
			    best->vlen);
	}
	cache_unlock(z);
	return rc;
}

/* Under the lock: writes the info of e between two odd-even steps of its sequence. */
static void
cache_info_write(struct shm_cache_entry *e, const void *p, size_t len)
{
	unsigned seq = atomic_load_explicit(&e->info_seq, memory_order_relaxed);

	atomic_store_explicit(&e->info_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(e->info, p, len);
	e->info_len = (uint32_t)len;
	atomic_store_explicit(&e->info_seq, seq + 2, memory_order_release);
}

int
shm_cache_info_set(struct shm_cache_ref *r, const void *p, size_t len)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *e = cache_ref_entry(r, &z);

	if (e == NULL || len > SHM_CACHE_INFO || cache_lock(r->u->shm, z) != CT_OK)
		return CT_ERROR;
	cache_info_write(e, p, len);
	cache_unlock(z);
	return CT_OK;
}

/* One try at a copy of e's info; 0 when a change was under way. */
static int
cache_info_try(const struct shm_cache_entry *e, void *out, size_t size, size_t *len)
{
	unsigned seq = atomic_load_explicit(&e->info_seq, memory_order_acquire);

	if (seq & 1)
		return 0;
	*len = CT_MIN(e->info_len, (uint32_t)SHM_CACHE_INFO);
	memcpy(out, e->info, CT_MIN(*len, size));
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&e->info_seq, memory_order_relaxed) == seq;
}

size_t
shm_cache_info_get(const struct shm_cache_ref *r, void *out, size_t size)
{
	struct shm_cache_zone *z;
	const struct shm_cache_entry *e = cache_ref_entry(r, &z);
	size_t len = 0;
	int i;

	if (e == NULL)
		return 0;
	for (i = 0; i < SHM_CACHE_INFO_TRIES; i++)
		if (cache_info_try(e, out, size, &len))
			return len;
	/* Still odd: its writer may have died in the lock, which the lock repairs. */
	if (cache_lock(r->u->shm, z) != CT_OK)
		return 0;
	(void)cache_info_try(e, out, size, &len);
	cache_unlock(z);
	return len;
}

/*
 * Under the lock: a new entry for the COMPLETE entry o with the head
 * given, o's keys and info copied and its body shared.  NONE when there
 * is no room.
 */
static uint32_t
cache_entry_rehead(struct shm *shm, struct shm_cache_zone *z, uint32_t oi, const void *head,
    size_t len)
{
	struct shm_cache_entry *o = cache_entry(shm, z, oi), *e;
	uint64_t at = cache_head_off(z, cache_keys_len(o), len);
	uint64_t need = cache_chunks_for(z, at + len);
	uint32_t i, last = NONE;

	if (need > z->nchunks || cache_evict(shm, z, (uint32_t)need, 1) != CT_OK)
		return NONE;
	i = cache_entry_take(shm, z);
	e = cache_entry(shm, z, i);
	(void)cache_chain_grow(shm, z, &e->meta, &last, &e->meta_n, (uint32_t)need);
	cache_chains_copy(shm, z, o->meta, 0, e->meta, 0, cache_keys_len(o));
	cache_chain_write(shm, z, e->meta, at, head, len);
	e->phash = o->phash;
	e->vhash = o->vhash;
	e->klen = o->klen;
	e->slen = o->slen;
	e->vlen = o->vlen;
	e->head_off = (uint32_t)at;
	atomic_store_explicit(&e->head_len, (unsigned)len, memory_order_relaxed);
	e->body = o->body;
	e->body_n = o->body_n;
	e->body_last = o->body_last;
	atomic_store_explicit(&e->body_len, atomic_load(&o->body_len), memory_order_relaxed);
	if (e->body != NONE)
		cache_shares(shm, z)[e->body]++;
	cache_info_write(e, o->info, CT_MIN(o->info_len, (uint32_t)SHM_CACHE_INFO));
	return i;
}

int
shm_cache_update_head(struct shm_cache_ref *r, const void *head, size_t len, uint64_t now_s)
{
	struct shm_cache_zone *z;
	struct shm_cache_entry *o = cache_ref_entry(r, &z);
	uint32_t i;
	int rc = CT_ERROR;

	if (o == NULL || r->writer || len == 0 || len > UINT32_MAX)
		return CT_ERROR;
	if (len > atomic_load_explicit(&z->max_object, memory_order_relaxed) -
	    CT_MIN(atomic_load(&o->body_len), atomic_load(&z->max_object)))
		return CT_DECLINED;
	if (cache_lock(r->u->shm, z) != CT_OK)
		return CT_ERROR;
	if (atomic_load_explicit(&o->state, memory_order_relaxed) != SHM_CACHE_COMPLETE) {
		rc = CT_DECLINED;
	} else if ((i = cache_entry_rehead(r->u->shm, z, r->entry, head, len)) != NONE) {
		/* r moves to the new entry: held before it is published, or not made at all. */
		if (cache_user_proc(r->u, z) == NULL ||
		    cache_hold_add(r->u->shm, z, r->u->slot, i) != CT_OK) {
			cache_entry_free(r->u->shm, z, i);
		} else {
			cache_index_add(r->u->shm, z, i);
			cache_publish(r->u->shm, z, i, now_s);
			cache_ref_drop(r, z);
			cache_ref_set(r, r->u, i, cache_entry(r->u->shm, z, i), 0);
			rc = CT_OK;
		}
	}
	cache_unlock(z);
	return rc;
}

/* ------------------------------------------------------------- purges */

size_t
shm_cache_purge_key(struct shm *shm, int zone, const void *primary, size_t plen)
{
	struct shm_cache_zone *z = shm_cache_zone_get(shm, zone);
	struct shm_cache_entry *e;
	uint32_t i, next;
	uint64_t h;
	size_t n = 0;

	if (!cache_zone_ready(z) || plen > SHM_CACHE_KEY_MAX)
		return 0;
	h = hash_keyed(z->hash_key, primary, plen);
	if (cache_lock(shm, z) != CT_OK)
		return 0;
	for (i = *cache_bucket(shm, z, h); i != NONE; i = next) {
		e = cache_entry(shm, z, i);
		next = e->hnext;
		if (e->phash == h && e->klen == plen &&
		    cache_chain_equal(shm, z, e->meta, 0, primary, plen)) {
			cache_unlink(shm, z, i);
			n++;
		}
	}
	cache_unlock(z);
	return n;
}

int
shm_cache_purge_prefix(struct shm *shm, int zone, const void *prefix, size_t len,
    uint32_t *cursor, size_t *n)
{
	struct shm_cache_zone *z = shm_cache_zone_get(shm, zone);
	struct shm_cache_entry *e;
	uint32_t i, end;

	if (!cache_zone_ready(z) || *cursor >= z->nchunks)
		return CT_OK;
	end = *cursor + CT_MIN(z->nchunks - *cursor, (uint32_t)SHM_CACHE_PURGE_BATCH);
	if (cache_lock(shm, z) != CT_OK)
		return CT_ERROR;
	for (i = *cursor; i < end; i++) {
		e = cache_entry(shm, z, i);
		if (e->linked && e->klen >= len && cache_chain_equal(shm, z, e->meta, 0, prefix, len)) {
			cache_unlink(shm, z, i);
			(*n)++;
		}
	}
	cache_unlock(z);
	*cursor = end;
	return end >= z->nchunks ? CT_OK : CT_AGAIN;
}

size_t
shm_cache_purge_all(struct shm *shm, int zone)
{
	uint32_t cursor = 0;
	size_t n = 0;

	while (shm_cache_purge_prefix(shm, zone, "", 0, &cursor, &n) == CT_AGAIN)
		;
	return n;
}

void
shm_cache_counters_get(const struct shm *shm, int zone, struct shm_cache_counters *c)
{
	struct shm_cache_zone *z = shm_cache_zone_get(shm, zone);

	c->objects = atomic_load_explicit(&z->objects, memory_order_relaxed);
	c->bytes = atomic_load_explicit(&z->bytes, memory_order_relaxed);
	c->capacity = cache_zone_ready(z) ? (uint64_t)z->nchunks * z->chunk : 0;
	c->hits = atomic_load_explicit(&z->hits, memory_order_relaxed);
	c->misses = atomic_load_explicit(&z->misses, memory_order_relaxed);
	c->evictions = atomic_load_explicit(&z->evictions, memory_order_relaxed);
	c->stores = atomic_load_explicit(&z->stores, memory_order_relaxed);
	c->aborts = atomic_load_explicit(&z->aborts, memory_order_relaxed);
	c->busy = atomic_load_explicit(&z->busy, memory_order_relaxed);
	c->repairs = atomic_load_explicit(&z->repairs, memory_order_relaxed);
	c->stale = atomic_load_explicit(&z->notes[SHM_CACHE_NOTE_STALE], memory_order_relaxed);
	c->revalidated = atomic_load_explicit(&z->notes[SHM_CACHE_NOTE_REVALIDATED],
	    memory_order_relaxed);
	c->collapsed = atomic_load_explicit(&z->notes[SHM_CACHE_NOTE_COLLAPSED],
	    memory_order_relaxed);
}

void
shm_cache_note(const struct shm_cache_user *u, enum shm_cache_note n)
{
	struct shm_cache_zone *z;

	if (u == NULL || u->shm == NULL || (unsigned)n >= 3)
		return;
	z = shm_cache_zone_get(u->shm, u->zone);
	atomic_fetch_add_explicit(&z->notes[n], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------- repair */

static int
cache_mark_test(const uint64_t *marks, uint32_t c)
{
	return (marks[c / 64] >> (c % 64)) & 1;
}

static void
cache_mark_flip(uint64_t *marks, uint32_t c)
{
	marks[c / 64] ^= UINT64_C(1) << (c % 64);
}

static void
cache_marks_clear(const struct shm *shm, const struct shm_cache_zone *z)
{
	memset(cache_marks(shm, z), 0, ((size_t)z->nchunks + 63) / 64 * 8);
}

/*
 * Marks chunks of a chain from first, at most n, up to the first one
 * out of range or another chain's; returns how many, *last the last.
 */
static uint32_t
cache_chain_claim_prefix(struct shm *shm, struct shm_cache_zone *z, uint32_t first, uint32_t n,
    uint32_t *last)
{
	uint64_t *marks = cache_marks(shm, z);
	uint32_t *next = cache_next(shm, z), c = first, k;

	*last = NONE;
	for (k = 0; k < n && c < z->nchunks && !cache_mark_test(marks, c); k++) {
		cache_mark_flip(marks, c);
		*last = c;
		c = next[c];
	}
	return k;
}

/* Unmarks the n chunks of a chain from first, claimed by the above. */
static void
cache_chain_unclaim(struct shm *shm, struct shm_cache_zone *z, uint32_t first, uint32_t n)
{
	uint32_t c, k;

	for (c = first, k = 0; k < n; k++, c = cache_next(shm, z)[c])
		cache_mark_flip(cache_marks(shm, z), c);
}

/*
 * Marks the n chunks of a chain from first, and ends the chain after
 * them (a chunk linked but not counted yet goes back to the free list).
 * CT_ERROR, with its marks undone, when a chunk is out of range or
 * another chain's.
 */
static int
cache_chain_claim(struct shm *shm, struct shm_cache_zone *z, uint32_t first, uint32_t n,
    uint32_t *last)
{
	uint32_t k = cache_chain_claim_prefix(shm, z, first, n, last);

	if (k == n) {
		if (*last != NONE)
			cache_next(shm, z)[*last] = NONE;
		return CT_OK;
	}
	cache_chain_unclaim(shm, z, first, k);
	return CT_ERROR;
}

/*
 * Keeps what can be kept of a chain of n chunks from *first that does
 * not hold up: the chunks it reaches before it breaks, ended there.
 */
static void
cache_chain_truncate(struct shm *shm, struct shm_cache_zone *z, uint32_t *first, uint32_t *n,
    uint32_t *last)
{
	*n = cache_chain_claim_prefix(shm, z, *first, *n, last);
	if (*n == 0)
		*first = NONE;
	else
		cache_next(shm, z)[*last] = NONE;
}

/* Is the FILLING entry e's filler a live process slot that holds it? */
static int
cache_filler_ok(const struct shm *shm, const struct shm_cache_zone *z,
    const struct shm_cache_entry *e, uint32_t i)
{
	const struct shm_cache_proc *p;
	const struct shm_cache_hold *h;

	if (e->owner_slot >= SHM_CACHE_PROCS)
		return 0;
	p = cache_proc(shm, z, e->owner_slot);
	h = cache_holds(shm, z, e->owner_slot);
	return p->pid != 0 && p->token == e->owner_token && h[cache_hold_slot(z, h, i)].entry == i;
}

/* The references of every entry again, from the processes' holds. */
static void
cache_repair_refs(struct shm *shm, struct shm_cache_zone *z)
{
	struct shm_cache_hold *h;
	uint32_t i, s, j;
	unsigned st;

	for (i = 0; i < z->nchunks; i++)
		cache_entry(shm, z, i)->refs = 0;
	for (s = 0; s < SHM_CACHE_PROCS; s++) {
		cache_proc(shm, z, s)->used = 0;
		if (cache_proc(shm, z, s)->pid == 0)
			continue;
		h = cache_holds(shm, z, s);
		/* j stays where a removal moved a later hold back into the slot. */
		for (j = 0; j < z->hold_cap;) {
			if ((i = h[j].entry) == NONE) {
				j++;
				continue;
			}
			st = i < z->nchunks ? atomic_load_explicit(&cache_entry(shm, z, i)->state,
			    memory_order_relaxed) : SHM_CACHE_FREE;
			if (h[j].count == 0 || st == SHM_CACHE_FREE || st >= SHM_CACHE_STATES ||
			    cache_proc(shm, z, s)->used >= z->hold_max) {
				cache_hold_remove(z, h, j);
				continue;
			}
			cache_entry(shm, z, i)->refs += h[j].count;
			cache_proc(shm, z, s)->used++;
			j++;
		}
	}
}

/*
 * Entry i's chains or lengths do not hold up: it is ABORTED, its bytes
 * untrusted.  Nobody holds it: its chunks are free again.  Somebody
 * does: a reader may be sending from its chunks at this moment, so the
 * ones its chains still reach stay marked, the entry's, until its last
 * release; they must not go to a new fill under the reader's feet.
 */
static void
cache_repair_broken(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);
	uint32_t last;

	if (e->refs > 0) {
		cache_chain_truncate(shm, z, &e->meta, &e->meta_n, &last);
		cache_chain_truncate(shm, z, &e->body, &e->body_n, &e->body_last);
	} else {
		e->meta = e->body = e->body_last = NONE;
		e->meta_n = e->body_n = 0;
	}
	e->klen = e->slen = 0;
	atomic_store(&e->head_len, 0);
	atomic_store(&e->body_len, 0);
	atomic_store(&e->state, SHM_CACHE_ABORTED);
}

/* Do e's lengths fit in its chains, its keys within their bounds? */
static int
cache_entry_lengths_ok(const struct shm_cache_zone *z, const struct shm_cache_entry *e)
{
	return e->klen <= SHM_CACHE_KEY_MAX && e->slen <= SHM_CACHE_VARY_MAX &&
	    e->vlen <= SHM_CACHE_VARY_MAX && e->head_off >= cache_keys_len(e) &&
	    (uint64_t)e->head_off + atomic_load(&e->head_len) <= (uint64_t)e->meta_n * z->chunk &&
	    atomic_load(&e->body_len) <= (uint64_t)e->body_n * z->chunk;
}

/*
 * Is e's body, whose first chunk is claimed already, that whole chain
 * of another entry's (a body shared since shm_cache_update_head())?
 * Every chunk marked, and the chain ending where e says.
 */
static int
cache_body_shared(const struct shm *shm, const struct shm_cache_zone *z,
    const struct shm_cache_entry *e)
{
	uint32_t c = e->body, last = NONE, k;

	for (k = 0; k < e->body_n; k++) {
		if (c >= z->nchunks || !cache_mark_test(cache_marks(shm, z), c))
			return 0;
		last = c;
		c = cache_next(shm, z)[c];
	}
	return c == NONE && last == e->body_last;
}

/*
 * Claims e's body.  While the repair runs, the shares word of a body's
 * first chunk counts its entries (one: not shared), made a count of
 * the others again when all are claimed.
 */
static int
cache_repair_body(struct shm *shm, struct shm_cache_zone *z, struct shm_cache_entry *e)
{
	uint32_t *shares = cache_shares(shm, z), last;

	if (cache_chain_claim(shm, z, e->body, e->body_n, &last) == CT_OK) {
		e->body_last = last;
		if (e->body != NONE)
			shares[e->body] = 1;
		return CT_OK;
	}
	if (e->body < z->nchunks && shares[e->body] > 0 && cache_body_shared(shm, z, e)) {
		shares[e->body]++;
		return CT_OK;
	}
	return CT_ERROR;
}

/*
 * Claims entry i's chunks; an entry whose chains or lengths do not hold
 * up is dropped as above, one whose filler is gone is ABORTED.  Returns
 * 1 when it was dropped so.
 */
static int
cache_repair_entry(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i);
	unsigned st = atomic_load_explicit(&e->state, memory_order_relaxed);
	uint32_t last;

	/* A change of the info that died halfway: what it wrote stands. */
	if (atomic_load(&e->info_seq) & 1)
		atomic_fetch_add(&e->info_seq, 1);
	e->info_len = CT_MIN(e->info_len, (uint32_t)SHM_CACHE_INFO);
	if (st < SHM_CACHE_STATES && cache_entry_lengths_ok(z, e) &&
	    cache_chain_claim(shm, z, e->meta, e->meta_n, &last) == CT_OK) {
		if (cache_repair_body(shm, z, e) == CT_OK) {
			if (st != SHM_CACHE_FILLING || cache_filler_ok(shm, z, e, i))
				return 0;
			atomic_store(&e->state, SHM_CACHE_ABORTED);
			return 1;
		}
		cache_chain_unclaim(shm, z, e->meta, e->meta_n);
	}
	cache_repair_broken(shm, z, i);
	return 1;
}

/* Puts COMPLETE entry i in the index, unless a newer one of its key is there. */
static void
cache_repair_link(struct shm *shm, struct shm_cache_zone *z, uint32_t i)
{
	struct shm_cache_entry *e = cache_entry(shm, z, i), *o = NULL;
	uint32_t j;

	for (j = *cache_bucket(shm, z, e->phash); j != NONE; j = o->hnext) {
		o = cache_entry(shm, z, j);
		if (atomic_load(&o->state) == SHM_CACHE_COMPLETE && cache_entry_same_key(shm, z, o, e))
			break;
	}
	if (j != NONE && o->seq > e->seq) {
		/* A commit died between linking the new one and unlinking the old. */
		atomic_store(&e->state, SHM_CACHE_GONE);
		if (e->refs == 0)
			cache_entry_free(shm, z, i);
		return;
	}
	if (j != NONE)
		cache_unlink(shm, z, j);
	cache_index_add(shm, z, i);
	cache_lru_push(shm, z, i);
	atomic_fetch_add(&z->objects, 1);
}

/*
 * After a process died holding the lock: everything derived is rebuilt
 * from the entries and the holds.  O(entries + chunks), once per crash.
 */
static void
cache_repair(struct shm *shm, struct shm_cache_zone *z)
{
	uint32_t *next = cache_next(shm, z), i, c;
	struct shm_cache_entry *e;
	size_t dropped = 0;
	unsigned st;

	cache_marks_clear(shm, z);
	memset(cache_shares(shm, z), 0, (size_t)z->nchunks * sizeof(uint32_t));
	cache_repair_refs(shm, z);
	for (i = 0; i < z->nchunks; i++)
		if (atomic_load(&cache_entry(shm, z, i)->state) != SHM_CACHE_FREE)
			dropped += (size_t)cache_repair_entry(shm, z, i);
	for (c = 0; c < z->nchunks; c++)
		cache_shares(shm, z)[c] -= cache_shares(shm, z)[c] > 0;
	z->free_chunk = NONE;
	z->free_chunks = 0;
	for (c = z->nchunks; c-- > 0;)
		if (!cache_mark_test(cache_marks(shm, z), c)) {
			next[c] = z->free_chunk;
			z->free_chunk = c;
			z->free_chunks++;
		}
	atomic_store(&z->bytes, (uint64_t)(z->nchunks - z->free_chunks) * z->chunk);
	atomic_store(&z->objects, 0);
	memset(cache_buckets(shm, z), 0xff, (size_t)z->nbuckets * sizeof(uint32_t));
	z->lru_head = z->lru_tail = NONE;
	z->evictable = 0;
	z->free_entry = NONE;
	z->free_entries = 0;
	for (i = z->nchunks; i-- > 0;) {
		e = cache_entry(shm, z, i);
		st = atomic_load(&e->state);
		e->linked = 0;
		e->hnext = e->lru_prev = e->lru_next = NONE;
		if (st == SHM_CACHE_FREE) {
			e->meta = e->body = NONE;
			e->meta_n = e->body_n = 0;
			e->hnext = z->free_entry;
			z->free_entry = i;
			z->free_entries++;
		} else if ((st == SHM_CACHE_GONE || st == SHM_CACHE_ABORTED) && e->refs == 0) {
			cache_entry_free(shm, z, i);
		} else if (st == SHM_CACHE_FILLING && !e->purged) {
			cache_index_add(shm, z, i);
		} else if (st == SHM_CACHE_COMPLETE) {
			cache_repair_link(shm, z, i);
		}
	}
	atomic_fetch_add(&z->repairs, 1);
	log_warnx("cache zone %.*s: rebuilt after a process died holding its lock; %zu entries "
	    "dropped, %llu objects kept", ZNAME(z), dropped,
	    (unsigned long long)atomic_load(&z->objects));
}

/* -------------------------------------------------------------- check */

#define CACHE_FAIL(...) do { snprintf(why, len, __VA_ARGS__); return CT_ERROR; } while (0)

/* Marks n chunks of a chain; CT_ERROR at one out of range, marked, or past its end. */
static int
cache_check_chain(const struct shm *shm, const struct shm_cache_zone *z, uint32_t c, uint32_t n,
    uint32_t *last)
{
	uint64_t *marks = cache_marks(shm, z);
	uint32_t k;

	*last = NONE;
	for (k = 0; k < n; k++) {
		if (c >= z->nchunks || cache_mark_test(marks, c))
			return CT_ERROR;
		cache_mark_flip(marks, c);
		*last = c;
		c = cache_next(shm, z)[c];
	}
	return c == NONE ? CT_OK : CT_ERROR;
}

/* e's body: a chain of its own, or one that is shared and marked already. */
static int
cache_check_body(const struct shm *shm, const struct shm_cache_zone *z,
    const struct shm_cache_entry *e)
{
	uint32_t last;

	if (e->body < z->nchunks && cache_mark_test(cache_marks(shm, z), e->body) &&
	    cache_shares(shm, z)[e->body] > 0)
		return cache_body_shared(shm, z, e) ? CT_OK : CT_ERROR;
	if (cache_check_chain(shm, z, e->body, e->body_n, &last) != CT_OK || last != e->body_last)
		return CT_ERROR;
	return CT_OK;
}

/*
 * Each shared body has as many entries besides one as its count says.
 * O(shared bodies * entries): they are few, the objects of a reader
 * that was sending when their head changed.
 */
static int
cache_check_shares(const struct shm *shm, const struct shm_cache_zone *z, char *why,
    size_t len)
{
	uint32_t c, i, n;

	for (c = 0; c < z->nchunks; c++) {
		if (cache_shares(shm, z)[c] == 0)
			continue;
		for (n = 0, i = 0; i < z->nchunks; i++)
			n += cache_entry(shm, z, i)->body == c &&
			    atomic_load(&cache_entry(shm, z, i)->state) != SHM_CACHE_FREE;
		if (n != cache_shares(shm, z)[c] + 1)
			CACHE_FAIL("body at chunk %u: %u entries, %u counted", c, n,
			    cache_shares(shm, z)[c] + 1);
	}
	return CT_OK;
}

/* The free lists and every entry's chains: each chunk in exactly one place. */
static int
cache_check_chunks(const struct shm *shm, const struct shm_cache_zone *z, char *why, size_t len)
{
	struct shm_cache_entry *e;
	uint32_t c, i, n = 0, last;
	unsigned st;

	cache_marks_clear(shm, z);
	for (c = z->free_chunk; c != NONE; c = cache_next(shm, z)[c]) {
		if (c >= z->nchunks || cache_mark_test(cache_marks(shm, z), c) || ++n > z->nchunks)
			CACHE_FAIL("free chunk list broken at chunk %u", c);
		cache_mark_flip(cache_marks(shm, z), c);
	}
	if (n != z->free_chunks)
		CACHE_FAIL("%u chunks on the free list, %u counted", n, z->free_chunks);
	for (i = 0; i < z->nchunks; i++) {
		e = cache_entry(shm, z, i);
		st = atomic_load(&e->state);
		if (st == SHM_CACHE_FREE)
			continue;
		if (cache_check_chain(shm, z, e->meta, e->meta_n, &last) != CT_OK ||
		    cache_check_body(shm, z, e) != CT_OK)
			CACHE_FAIL("entry %u (%s): a chain is broken", i, shm_cache_state_name(st));
		if (!cache_entry_lengths_ok(z, e))
			CACHE_FAIL("entry %u: lengths beyond its chunks", i);
	}
	if (cache_check_shares(shm, z, why, len) != CT_OK)
		return CT_ERROR;
	for (c = 0; c < z->nchunks; c++)
		if (!cache_mark_test(cache_marks(shm, z), c))
			CACHE_FAIL("chunk %u is neither free nor an entry's", c);
	if (atomic_load(&z->bytes) != (uint64_t)(z->nchunks - z->free_chunks) * z->chunk)
		CACHE_FAIL("bytes %llu, but %u chunks are held",
		    (unsigned long long)atomic_load(&z->bytes), z->nchunks - z->free_chunks);
	return CT_OK;
}

/* Entry states, the free entry list, the index and the LRU. */
static int
cache_check_entries(const struct shm *shm, const struct shm_cache_zone *z, char *why,
    size_t len)
{
	uint32_t i, b, n, prev, nfree = 0, nlinked = 0, ncomplete = 0;
	struct shm_cache_entry *e;
	unsigned st;

	for (i = 0; i < z->nchunks; i++) {
		e = cache_entry(shm, z, i);
		st = atomic_load(&e->state);
		if (st >= SHM_CACHE_STATES)
			CACHE_FAIL("entry %u: state %u", i, st);
		nfree += st == SHM_CACHE_FREE;
		ncomplete += st == SHM_CACHE_COMPLETE;
		nlinked += e->linked;
		if (st == SHM_CACHE_FREE && e->refs != 0)
			CACHE_FAIL("entry %u: free with %u references", i, e->refs);
		if (e->linked != (st == SHM_CACHE_COMPLETE || (st == SHM_CACHE_FILLING && !e->purged)))
			CACHE_FAIL("entry %u (%s): linked %u, purged %u", i, shm_cache_state_name(st),
			    e->linked, e->purged);
		if ((st == SHM_CACHE_GONE || st == SHM_CACHE_ABORTED) && e->refs == 0)
			CACHE_FAIL("entry %u (%s) with no reference is not freed", i,
			    shm_cache_state_name(st));
		if (st == SHM_CACHE_FILLING && !cache_filler_ok(shm, z, e, i))
			CACHE_FAIL("entry %u: filling, but its filler (pid %d) is gone", i, e->owner_pid);
	}
	for (n = 0, i = z->free_entry; i != NONE; i = cache_entry(shm, z, i)->hnext)
		if (i >= z->nchunks || atomic_load(&cache_entry(shm, z, i)->state) != SHM_CACHE_FREE ||
		    ++n > nfree)
			CACHE_FAIL("free entry list broken at entry %u", i);
	if (n != nfree || n != z->free_entries)
		CACHE_FAIL("%u free entries, %u on the list, %u counted", nfree, n, z->free_entries);
	for (n = 0, b = 0; b < z->nbuckets; b++)
		for (i = cache_buckets(shm, z)[b]; i != NONE; i = cache_entry(shm, z, i)->hnext)
			if (i >= z->nchunks || !cache_entry(shm, z, i)->linked ||
			    (cache_entry(shm, z, i)->phash & (z->nbuckets - 1)) != b || ++n > nlinked)
				CACHE_FAIL("hash chain %u broken at entry %u", b, i);
	if (n != nlinked)
		CACHE_FAIL("%u entries linked, %u in the index", nlinked, n);
	for (n = 0, prev = NONE, i = z->lru_head; i != NONE; prev = i, i = e->lru_next) {
		e = cache_entry(shm, z, i);
		if (i >= z->nchunks || e->lru_prev != prev ||
		    atomic_load(&e->state) != SHM_CACHE_COMPLETE || ++n > ncomplete)
			CACHE_FAIL("LRU broken at entry %u", i);
	}
	if (prev != z->lru_tail || n != ncomplete || n != atomic_load(&z->objects))
		CACHE_FAIL("%u objects, %u on the LRU, %llu counted", ncomplete, n,
		    (unsigned long long)atomic_load(&z->objects));
	for (n = 0, i = z->lru_head; i != NONE; i = e->lru_next) {
		e = cache_entry(shm, z, i);
		n += e->refs == 0 ? cache_entry_chunks(e) : 0;
	}
	if (n != z->evictable)
		CACHE_FAIL("%u chunks evictable, %u counted", n, z->evictable);
	return CT_OK;
}

/* Process slot s's holds: each found where a probe looks, their count right. */
static int
cache_check_holds(const struct shm *shm, const struct shm_cache_zone *z, uint32_t s, char *why,
    size_t len)
{
	const struct shm_cache_proc *p = cache_proc(shm, z, s);
	const struct shm_cache_hold *h = cache_holds(shm, z, s);
	uint32_t j, i, n = 0;

	if (p->pid == 0) {
		if (p->used != 0)
			CACHE_FAIL("process slot %u: free, with %u holds", s, p->used);
		return CT_OK;
	}
	for (j = 0; j < z->hold_cap; j++) {
		if ((i = h[j].entry) == NONE)
			continue;
		if (i >= z->nchunks || h[j].count == 0 ||
		    atomic_load(&cache_entry(shm, z, i)->state) == SHM_CACHE_FREE)
			CACHE_FAIL("process slot %u: hold %u of entry %u is bad", s, j, i);
		if (cache_hold_slot(z, h, i) != j)
			CACHE_FAIL("process slot %u: entry %u held twice, or out of its probe", s, i);
		n++;
	}
	if (n != p->used || n > z->hold_max)
		CACHE_FAIL("process slot %u: %u holds, %u counted", s, n, p->used);
	return CT_OK;
}

/* Adds sign * each hold's count to its entry's references. */
static void
cache_check_refs_add(const struct shm *shm, const struct shm_cache_zone *z, int sign)
{
	const struct shm_cache_hold *h;
	uint32_t s, j;

	for (s = 0; s < SHM_CACHE_PROCS; s++) {
		if (cache_proc(shm, z, s)->pid == 0)
			continue;
		for (h = cache_holds(shm, z, s), j = 0; j < z->hold_cap; j++)
			if (h[j].entry != NONE)
				cache_entry(shm, z, h[j].entry)->refs += (uint32_t)sign * h[j].count;
	}
}

/* Each entry's references are the sum of the processes' holds of it. */
static int
cache_check_refs(const struct shm *shm, const struct shm_cache_zone *z, char *why, size_t len)
{
	uint32_t s, i;
	int rc = CT_OK;

	for (s = 0; s < SHM_CACHE_PROCS; s++)
		if (cache_check_holds(shm, z, s, why, len) != CT_OK)
			return CT_ERROR;
	/* Subtracted, checked for zero and added back: no scratch memory. */
	cache_check_refs_add(shm, z, -1);
	for (i = 0; i < z->nchunks && rc == CT_OK; i++)
		if (cache_entry(shm, z, i)->refs != 0) {
			snprintf(why, len, "entry %u: references and holds differ by %d", i,
			    (int)cache_entry(shm, z, i)->refs);
			rc = CT_ERROR;
		}
	cache_check_refs_add(shm, z, 1);
	return rc;
}

int
shm_cache_zone_check(struct shm *shm, int zone, char *why, size_t len)
{
	struct shm_cache_zone *z = shm_cache_zone_get(shm, zone);
	int rc;

	snprintf(why, len, "ok");
	if (!cache_zone_ready(z)) {
		snprintf(why, len, "no zone");
		return CT_ERROR;
	}
	if (cache_lock(shm, z) != CT_OK) {
		snprintf(why, len, "the lock is lost");
		return CT_ERROR;
	}
	rc = cache_check_refs(shm, z, why, len);
	if (rc == CT_OK)
		rc = cache_check_chunks(shm, z, why, len);
	if (rc == CT_OK)
		rc = cache_check_entries(shm, z, why, len);
	cache_unlock(z);
	return rc;
}

/*
 * Purges of the HTTP cache by URL, by URL prefix, or all; see
 * core/cache.h for the layout of the keys they rely on.
 */
#include "core/cache.h"
#include "lib/ct.h"
#include "shm/cache.h"

/* The zone's slot in the segment, or -1. */
static int
cache_zone_of(const struct cycle *cy, size_t zone)
{
	if (cy->caches == NULL || zone >= cy->conf->ncaches)
		return -1;
	return cy->caches[zone];
}

/* Walks the zone for the keys that begin with prefix, batch after batch. */
static size_t
cache_walk(const struct cycle *cy, int idx, const void *prefix, size_t len)
{
	uint32_t cursor = 0;
	size_t n = 0;

	while (shm_cache_purge_prefix(cy->shm, idx, prefix, len, &cursor, &n) == CT_AGAIN)
		;
	return n;
}

size_t
cache_purge_url(const struct cycle *cy, size_t zone, const char *key, size_t len)
{
	int idx = cache_zone_of(cy, zone);

	/* Every variant: the parts of the zone's key are the secondary key. */
	return idx < 0 ? 0 : shm_cache_purge_key(cy->shm, idx, key, len);
}

size_t
cache_purge_prefix(const struct cycle *cy, size_t zone, const char *prefix, size_t len)
{
	int idx = cache_zone_of(cy, zone);

	return idx < 0 ? 0 : cache_walk(cy, idx, prefix, len);
}

size_t
cache_purge_all(const struct cycle *cy, size_t zone)
{
	int idx = cache_zone_of(cy, zone);

	return idx < 0 ? 0 : shm_cache_purge_all(cy->shm, idx);
}

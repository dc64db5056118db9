/*
 * Purges of the HTTP cache, shared by the workers (the PURGE method of
 * a route's cache) and the admin process (DELETE /api/v1/caches/NAME),
 * so that both know the layout of a zone's keys from one place.
 *
 * A zone's key is the URL's (http_cache_key()), followed for each of
 * the zone's "key" parts by a NUL and "=" + the value, or "-" when the
 * request has none (worker/http_cache.c makes them).  The objects of a
 * URL are then the one keyed by the URL alone (a zone without parts)
 * and every one keyed by the URL and a NUL (each variant of the parts):
 * the first is found by its hash, the others by a walk of the zone, a
 * batch of entries per lock hold.  A zone without parts is spared the
 * walk.  NUL is no byte of a URL, so no other URL's objects match.
 *
 * zone is the index in conf->caches; a zone that found no room in the
 * segment (cy->caches[zone] == -1) holds nothing to purge.
 */
#ifndef CT_CORE_CACHE_H
#define CT_CORE_CACHE_H

#include <stddef.h>

#include "core/cycle.h"

/* The objects of the URL whose key is key (http_cache_key()); returns how many. */
size_t cache_purge_url(const struct cycle *cy, size_t zone, const char *key, size_t len);
/* The objects whose URL's key begins with prefix; returns how many. */
size_t cache_purge_prefix(const struct cycle *cy, size_t zone, const char *prefix, size_t len);
/* Every object of the zone; returns how many. */
size_t cache_purge_all(const struct cycle *cy, size_t zone);

#endif

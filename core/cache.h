/*
 * Purges of the HTTP cache, shared by the workers (the PURGE method of
 * a route's cache) and the admin process (DELETE /api/v1/caches/NAME),
 * so that both know the layout of a zone's keys from one place.
 *
 * An object's primary key is its URL's (http_cache_key()); the parts of
 * its zone's "key", when there are some, make its secondary key
 * (worker/http_cache.c makes them).  A purge of a URL is a purge of its
 * primary key: every variant goes at once.  A purge by prefix walks the
 * zone, a batch of entries per lock hold.
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

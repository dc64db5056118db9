/*
 * The HTTP cache in the admin API: its zones and their counters, purges,
 * and the metrics.
 *
 *   GET    /api/v1/caches                    every zone, with its counters
 *   DELETE /api/v1/caches/NAME?url=URL       the objects of one URL
 *   DELETE /api/v1/caches/NAME?prefix=URL    of every URL that begins so
 *   DELETE /api/v1/caches/NAME?all=1         every object of the zone
 *   DELETE /api/v1/caches?url=URL            (or prefix=) in every zone
 *
 * A URL is keyed as the workers key a request for it
 * (http_cache_url_key()), so that any spelling an operator gives names
 * the stored objects; core/cache.c knows which keys are a URL's.  A
 * purge takes the zone's lock a batch of entries at a time, so the
 * workers go on serving while a large zone is walked.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "ctl/admin_int.h"
#include "lib/ct.h"
#include "lib/http_cache.h"
#include "lib/log.h"
#include "shm/cache.h"

/* What a purge asks for, from its query. */
struct admin_purge {
	enum { ADMIN_PURGE_URL, ADMIN_PURGE_PREFIX, ADMIN_PURGE_ALL } kind;
	char url[SHM_CACHE_KEY_MAX];  /* as given, decoded */
	char key[SHM_CACHE_KEY_MAX];  /* its key */
	size_t klen;
};

/* The zone of conf->caches named name, or -1. */
static int
admin_cache_find(const struct conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->ncaches; i++)
		if (strcmp(conf->caches[i].name, name) == 0)
			return (int)i;
	return -1;
}

static json_t *
admin_cache_zone(const struct admin *a, size_t i)
{
	const struct conf_cache *cc = &a->cy->conf->caches[i];
	int idx = a->cy->caches[i];
	struct shm_cache_counters c;
	json_t *o;

	o = json_pack("{s:s, s:I, s:I}", "name", cc->name, "size", (json_int_t)cc->size,
	    "max_object", (json_int_t)(idx >= 0 ? atomic_load(&shm_cache_zone_get(a->cy->shm,
	    idx)->max_object) : cc->max_object));
	if (o == NULL)
		return NULL;
	/* A zone that found no room in the segment has no counters: null, not 0. */
	if (idx < 0) {
		(void)json_object_set_new(o, "objects", json_null());
		return o;
	}
	shm_cache_counters_get(a->cy->shm, idx, &c);
	(void)json_object_update_new(o, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I}", "objects", (json_int_t)c.objects, "bytes", (json_int_t)c.bytes,
	    "capacity", (json_int_t)c.capacity, "hits", (json_int_t)c.hits,
	    "misses", (json_int_t)c.misses, "evictions", (json_int_t)c.evictions,
	    "stores", (json_int_t)c.stores, "aborts", (json_int_t)c.aborts,
	    "busy", (json_int_t)c.busy, "repairs", (json_int_t)c.repairs));
	(void)json_object_update_new(o, json_pack("{s:I, s:I, s:I}", "stale",
	    (json_int_t)c.stale, "revalidated", (json_int_t)c.revalidated, "collapsed",
	    (json_int_t)c.collapsed));
	return o;
}

json_t *
admin_cache_list(const struct admin *a)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; list != NULL && i < a->cy->conf->ncaches; i++)
		json_array_append_new(list, admin_cache_zone(a, i));
	return json_pack("{s:o}", "caches", list != NULL ? list : json_array());
}

/*
 * The query of a purge: exactly one of url=, prefix= (percent-encoded)
 * and all=1.  CT_ERROR with why, for a 400.
 */
static int
admin_purge_parse(const char *q, size_t len, int zone, struct admin_purge *p,
    const char **why)
{
	const char *end = q + len, *amp, *eq;
	int seen = 0;
	size_t n;

	for (; q < end; q = amp + 1) {
		if ((amp = memchr(q, '&', (size_t)(end - q))) == NULL)
			amp = end;
		if ((eq = memchr(q, '=', (size_t)(amp - q))) == NULL)
			eq = amp;
		n = (size_t)(eq - q);
		if (n == 3 && memcmp(q, "url", 3) == 0)
			p->kind = ADMIN_PURGE_URL;
		else if (n == 6 && memcmp(q, "prefix", 6) == 0)
			p->kind = ADMIN_PURGE_PREFIX;
		else if (n == 3 && memcmp(q, "all", 3) == 0)
			p->kind = ADMIN_PURGE_ALL;
		else {
			*why = "unknown parameter: a purge takes url=, prefix= or all=1";
			return CT_ERROR;
		}
		if (seen++) {
			*why = "one of url=, prefix= or all=1 at a time";
			return CT_ERROR;
		}
		n = eq < amp ? (size_t)(amp - eq - 1) : 0;
		if (n >= sizeof(p->url)) {
			*why = "the URL is too long";
			return CT_ERROR;
		}
		memcpy(p->url, eq < amp ? eq + 1 : eq, n);
		p->url[n] = '\0';
	}
	if (!seen) {
		*why = "what to purge: url=URL, prefix=URL or all=1";
		return CT_ERROR;
	}
	if (p->kind == ADMIN_PURGE_ALL) {
		*why = zone < 0 ? "all=1 purges one zone at a time: DELETE /api/v1/caches/NAME?all=1" :
		    strcmp(p->url, "1") != 0 ? "all takes 1" : NULL;
		return *why == NULL ? CT_OK : CT_ERROR;
	}
	if (admin_unescape(p->url) != CT_OK) {
		*why = "malformed percent-encoding";
		return CT_ERROR;
	}
	return http_cache_url_key((struct http_slice){ p->url, strlen(p->url) }, p->key,
	    sizeof(p->key), &p->klen, why);
}

static size_t
admin_purge_zone(const struct admin *a, size_t zone, const struct admin_purge *p)
{
	size_t n;

	switch (p->kind) {
	case ADMIN_PURGE_URL:
		n = cache_purge_url(a->cy, zone, p->key, p->klen);
		break;
	case ADMIN_PURGE_PREFIX:
		n = cache_purge_prefix(a->cy, zone, p->key, p->klen);
		break;
	default:
		n = cache_purge_all(a->cy, zone);
		break;
	}
	log_notice("admin: purge of %s%s in cache zone %s: %zu object%s",
	    p->kind == ADMIN_PURGE_PREFIX ? "the prefix " : "",
	    p->kind == ADMIN_PURGE_ALL ? "everything" : p->url, a->cy->conf->caches[zone].name, n,
	    n == 1 ? "" : "s");
	return n;
}

void
admin_cache_purge(struct admin_conn *ac, char *name, const char *query, size_t qlen)
{
	const struct admin *a = ac->a;
	struct admin_purge *p;
	const char *why = NULL;
	json_t *zones;
	size_t i, n, total = 0;
	int zone = -1;

	if (name != NULL && (admin_unescape(name) != CT_OK ||
	    (zone = admin_cache_find(a->cy->conf, name)) < 0)) {
		admin_error(ac, 404, "no such cache zone");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		admin_error(ac, 500, "out of memory");
		return;
	}
	if (admin_purge_parse(query, qlen, zone, p, &why) != CT_OK) {
		admin_error(ac, 400, why);
		free(p);
		return;
	}
	if (zone >= 0) {
		n = admin_purge_zone(a, (size_t)zone, p);
		admin_json(ac, 200, json_pack("{s:s, s:I}", "zone", name, "purged", (json_int_t)n));
		free(p);
		return;
	}
	zones = json_array();
	for (i = 0; i < a->cy->conf->ncaches; i++) {
		n = admin_purge_zone(a, i, p);
		total += n;
		json_array_append_new(zones, json_pack("{s:s, s:I}", "zone",
		    a->cy->conf->caches[i].name, "purged", (json_int_t)n));
	}
	free(p);
	admin_json(ac, 200, json_pack("{s:I, s:o}", "purged", (json_int_t)total,
	    "zones", zones != NULL ? zones : json_array()));
}

/* The zones of the running configuration that have a slot in the segment. */
void
admin_cache_metrics(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_cache_hits_total", "counter",
		    "Lookups that found a complete object in the cache zone." },
		{ "cuttle_cache_misses_total", "counter",
		    "Lookups that found nothing, or only a fill under way." },
		{ "cuttle_cache_stores_total", "counter", "Objects stored in the cache zone." },
		{ "cuttle_cache_evictions_total", "counter",
		    "Objects evicted to make room, least recently used first." },
		{ "cuttle_cache_aborts_total", "counter",
		    "Fills that ended without an object (origin cut short, too large, no room)." },
		{ "cuttle_cache_stale_total", "counter",
		    "Stale objects that answered (max-stale, stale-while-revalidate, an origin error)." },
		{ "cuttle_cache_revalidations_total", "counter",
		    "Stale objects made fresh again by the origin's 304." },
		{ "cuttle_cache_collapsed_total", "counter",
		    "Requests that followed another's fetch of the same object instead of their own." },
		{ "cuttle_cache_objects", "gauge", "Objects in the cache zone now." },
		{ "cuttle_cache_bytes", "gauge", "Bytes of the cache zone held by objects now." },
		{ "cuttle_cache_capacity_bytes", "gauge", "Bytes the cache zone can hold." },
	};
	const struct conf *conf = a->cy->conf;
	struct shm_cache_counters c;
	uint64_t v;
	size_t m, i;

	for (m = 0; m < CT_NELEM(fam) && conf->ncaches > 0; m++) {
		admin_family(f, &fam[m]);
		for (i = 0; i < conf->ncaches; i++) {
			if (a->cy->caches[i] < 0)
				continue;
			shm_cache_counters_get(a->cy->shm, a->cy->caches[i], &c);
			{
				const uint64_t vals[] = { c.hits, c.misses, c.stores, c.evictions,
				    c.aborts, c.stale, c.revalidated, c.collapsed, c.objects, c.bytes,
				    c.capacity };

				_Static_assert(CT_NELEM(vals) == CT_NELEM(fam), "a value per family");
				v = vals[m];
			}
			fprintf(f, "%s{zone=\"%s\"} %" PRIu64 "\n", fam[m].name,
			    admin_label(conf->caches[i].name), v);
		}
	}
}

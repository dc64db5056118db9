/*
 * Geo filtering at accept.  The order, so that an operator can always
 * punch a hole either way: a client in a cidr_deny network is refused;
 * one in a cidr_allow network is let in; then its country decides
 * (allow_countries: only those; deny_countries: all but those).  With
 * no countries, cidr_allow alone works like an allow list.  A client
 * whose country is unknown (no database entry) is refused by
 * allow_countries and let in by deny_countries.
 *
 * The lists are scanned linearly: they are read once at load and meant
 * for a few exceptions to the database, not for full country tables.
 */
#include <maxminddb.h>
#include <stdio.h>
#include <string.h>

#include "shm/stats.h"
#include "worker/geo.h"
#include "worker/worker-t.h"

int
geo_files_match(const struct conf_cidr_file *f, size_t n, const struct sockaddr *sa)
{
	size_t i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k < f[i].nnets; k++)
			if (cidr_match(&f[i].nets[k], sa))
				return 1;
	return 0;
}

/*
 * The country of sa into out, or leaves it zeroed.  An IPv4 client of a
 * dual-stack listener is looked up by its IPv4 address, which an IPv4
 * database holds and an IPv6 one aliases.
 */
static void
geo_country_lookup(MMDB_s *mmdb, const struct sockaddr *sa, char out[2])
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in v4;
	MMDB_lookup_result_s r;
	MMDB_entry_data_s d;
	const char *s;
	int err;

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
		sa = (const struct sockaddr *)&v4;
	}
	r = MMDB_lookup_sockaddr(mmdb, sa, &err);
	if (err != MMDB_SUCCESS || !r.found_entry ||
	    MMDB_get_value(&r.entry, &d, "country", "iso_code", (const char *)NULL) != MMDB_SUCCESS ||
	    !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
		return;
	/* The database is input too: only letters go into logs and fields. */
	s = d.utf8_string;
	if (s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z')
		memcpy(out, s, 2);
}

static int
geo_country_listed(const struct conf_geo *g, const char country[2])
{
	size_t i;

	for (i = 0; i < g->ncountries; i++)
		if (memcmp(g->countries[i], country, 2) == 0)
			return 1;
	return 0;
}

/* The decision, without counting: SHM_GEO_*, and why for a refusal. */
static enum shm_geo_result
geo_decide(const struct conn *c, const struct conf_geo *g, const char **why)
{
	const struct sockaddr *sa = &c->peer.sa;
	int known = c->country[0] != '\0';

	if (geo_files_match(g->deny, g->ndeny, sa)) {
		*why = "geo denied: in cidr_deny";
		return SHM_GEO_DENIED;
	}
	if (geo_files_match(g->allow, g->nallow, sa))
		return SHM_GEO_ALLOWED;
	if (g->ncountries > 0 && !g->deny_countries) {
		if (known && geo_country_listed(g, c->country))
			return SHM_GEO_ALLOWED;
		*why = known ? "geo denied: country not in allow_countries" :
		    "geo denied: country unknown";
		return SHM_GEO_DENIED;
	}
	if (g->ncountries > 0 && known && geo_country_listed(g, c->country)) {
		*why = "geo denied: country in deny_countries";
		return SHM_GEO_DENIED;
	}
	if (g->ncountries == 0 && g->nallow > 0) {
		*why = "geo denied: not in cidr_allow";
		return SHM_GEO_DENIED;
	}
	return known ? SHM_GEO_ALLOWED : SHM_GEO_UNKNOWN;
}

int
geo_allows(struct conn *c, const struct conf_geo *g, const char **why)
{
	struct shm_listener *ls;
	enum shm_geo_result r;

	if (g->mmdb != NULL)
		geo_country_lookup(g->mmdb, &c->peer.sa, c->country);
	r = geo_decide(c, g, why);
	if ((ls = conn_listener_stats(c)) != NULL)
		atomic_fetch_add_explicit(&ls->geo[r], 1, memory_order_relaxed);
	return r != SHM_GEO_DENIED;
}

const char *
geo_log_field(const struct conn *c, int json, char *buf, size_t len)
{
	const struct conf_geo *g = c->w->cy->conf->listeners[c->listener].geo;
	int known = c->country[0] != '\0';

	buf[0] = '\0';
	if (g == NULL || g->mmdb == NULL)
		return buf;
	if (json)
		snprintf(buf, len, ",\"country\":%s%.*s%s", known ? "\"" : "",
		    known ? 2 : 4, known ? c->country : "null", known ? "\"" : "");
	else
		snprintf(buf, len, " country=%.*s", known ? 2 : 1, known ? c->country : "-");
	return buf;
}

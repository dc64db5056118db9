/*
 * The rules of an HTTP shared cache (RFC 9111, with RFC 9110 for dates,
 * conditionals and ranges, RFC 5861 for the stale-* directives and RFC
 * 9211 for Cache-Status), as pure functions: no I/O, no allocation, no
 * clock.  Heads are the ones lib/http_parse.h gives; strings are slices
 * into the caller's bytes; times are int64 seconds of the caller's clock;
 * output goes to buffers the caller sizes.
 *
 * What a worker does with a request, in the order of the calls:
 *
 *   http_cache_key()              primary key (scheme, host, path+query)
 *   http_cache_url_key()          the same of an absolute URL, for a purge
 *   http_cache_control_parse()    the request's directives
 *   http_cache_vary_key()         secondary key against a stored Vary
 *   http_cache_serve()            HIT / stale / REVALIDATE / MISS / 504
 *   http_cache_conditional()      304 or the full stored response
 *   http_cache_if_range(), http_cache_range()   206 / 416 / full
 *   http_cache_hit_head_write()   the head of a hit (200 or 206), or
 *   http_cache_304_head_write()   of a 304 from the store;
 *   http_cache_content_range_write()   a 416's Content-Range
 *   http_cache_validators()       If-None-Match / If-Modified-Since upstream
 *   http_cache_storable()         may the origin's answer be kept
 *   http_cache_meta_make()        what to keep beside the stored bytes
 *   http_cache_304_selects()      is the origin's 304 about the stored one
 *   http_cache_update_plan()      its fields merged into the stored head
 *   http_cache_head_freshens()    a HEAD's 200 updates the GET or makes it stale
 *   http_cache_invalidations()    keys an unsafe method makes stale
 *   http_cache_status_write()     the Cache-Status field value
 */
#ifndef CT_HTTP_CACHE_H
#define CT_HTTP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/http_parse.h"

/* RFC 9111 1.2.2: a larger delta-seconds counts as this. */
#define HTTP_CACHE_DELTA_MAX 2147483648u

/* The cap of a heuristic lifetime (4.2.2), as common caches take. */
#define HTTP_CACHE_HEURISTIC_MAX 86400

/* ------------------------------------------------------------------ */
/* Cache-Control (RFC 9111 5.2, RFC 5861)                               */
/* ------------------------------------------------------------------ */

/* Directives present, in requests and responses alike. */
#define HTTP_CC_NO_STORE          (1u << 0)
#define HTTP_CC_NO_CACHE          (1u << 1)   /* bare, or with no_cache_fields */
#define HTTP_CC_PRIVATE           (1u << 2)   /* bare, or with private_fields */
#define HTTP_CC_PUBLIC            (1u << 3)
#define HTTP_CC_MUST_REVALIDATE   (1u << 4)
#define HTTP_CC_PROXY_REVALIDATE  (1u << 5)
#define HTTP_CC_MUST_UNDERSTAND   (1u << 6)
#define HTTP_CC_NO_TRANSFORM      (1u << 7)
#define HTTP_CC_IMMUTABLE         (1u << 8)
#define HTTP_CC_ONLY_IF_CACHED    (1u << 9)
#define HTTP_CC_MAX_AGE           (1u << 10)
#define HTTP_CC_S_MAXAGE          (1u << 11)
#define HTTP_CC_MAX_STALE         (1u << 12)
#define HTTP_CC_MIN_FRESH         (1u << 13)
#define HTTP_CC_SWR               (1u << 14)  /* stale-while-revalidate */
#define HTTP_CC_SIE               (1u << 15)  /* stale-if-error */

/*
 * Where the RFCs leave it open, a directive is read so that the cache
 * does the more restrictive thing (RFC 9111 4.2.1).  A directive whose
 * argument is invalid, or that comes twice with different arguments, is
 * in invalid and:
 *
 * - restricts if it restricts: max-age and s-maxage count as 0 (the
 *   response is stale, 4.2.1), min-fresh as HTTP_CACHE_DELTA_MAX (never
 *   fresh enough); no-store, no-cache, private, must-revalidate,
 *   proxy-revalidate, must-understand, no-transform and only-if-cached
 *   hold whatever follows them;
 * - is dropped if it permits: public, immutable, max-stale,
 *   stale-while-revalidate, stale-if-error (flag cleared).
 *
 * An argument may be a token or a quoted-string (5.2: recipients accept
 * both), so max-age="5" is 5 and max-age="" is invalid.  A qualified
 * no-cache or private whose list is empty, or that comes with another
 * list or bare, counts as bare: one list is kept, never a merge.
 */
struct http_cache_control {
	uint32_t flags;               /* HTTP_CC_* present */
	uint32_t invalid;             /* HTTP_CC_* read as above */
	uint32_t max_age;             /* delta-seconds, each <= HTTP_CACHE_DELTA_MAX */
	uint32_t s_maxage;
	uint32_t max_stale;           /* HTTP_CACHE_DELTA_MAX when bare: any staleness */
	uint32_t min_fresh;
	uint32_t swr;
	uint32_t sie;
	struct http_slice no_cache_fields;  /* qualified no-cache: the field names, quotes off */
	struct http_slice private_fields;   /* qualified private: the field names */
};

/* Adds one Cache-Control field value to cc (zero cc before the first). */
void http_cache_control_add(struct http_cache_control *cc, struct http_slice value);

/*
 * Every Cache-Control field of h, as one list (RFC 9110 5.3).  For a
 * request with no Cache-Control field, "Pragma: no-cache" is no-cache
 * (RFC 9111 5.4).
 */
void http_cache_control_parse(const struct http_head *h, int request,
    struct http_cache_control *cc);

/* Whether the comma-separated list of field names holds name (case-insensitive). */
int http_cache_field_listed(struct http_slice list, struct http_slice name);

/*
 * delta-seconds (RFC 9111 1.2.2): one or more digits and nothing else;
 * more than HTTP_CACHE_DELTA_MAX is HTTP_CACHE_DELTA_MAX.  CT_OK or CT_ERROR.
 */
int http_cache_delta_parse(struct http_slice s, uint32_t *out);

/* ------------------------------------------------------------------ */
/* HTTP-date (RFC 9110 5.6.7)                                          */
/* ------------------------------------------------------------------ */

/*
 * IMF-fixdate, rfc850-date or asctime-date, exactly as the grammar has
 * them (names and "GMT" case-sensitive) into seconds since the epoch.
 * now places a two-digit rfc850 year: one more than 50 years after now
 * is taken a century earlier.  A day-name that does not match the date
 * is accepted, since it carries nothing the rest does not.  CT_OK or
 * CT_ERROR: an invalid Expires means "already expired" (RFC 9111 5.3).
 */
int http_cache_date_parse(struct http_slice s, int64_t now, int64_t *out);

/* ------------------------------------------------------------------ */
/* Storing (RFC 9111 3)                                                */
/* ------------------------------------------------------------------ */

/* Why a response is not stored, for a Cache-Status detail and the log. */
enum http_cache_store {
	HTTP_CACHE_STORE_OK = 0,          /* may be stored */
	HTTP_CACHE_STORE_METHOD,          /* not GET or HEAD, or not one the caller caches */
	HTTP_CACHE_STORE_STATUS,          /* not final, 304, or not understood with must-understand */
	HTTP_CACHE_STORE_PARTIAL,         /* 206 or Content-Range: not a complete object */
	HTTP_CACHE_STORE_NO_STORE_REQ,    /* no-store in the request */
	HTTP_CACHE_STORE_NO_STORE,        /* no-store in the response */
	HTTP_CACHE_STORE_PRIVATE,         /* bare private: for one user only */
	HTTP_CACHE_STORE_AUTHORIZATION,   /* Authorization without public, s-maxage or must-revalidate */
	HTTP_CACHE_STORE_SET_COOKIE,      /* Set-Cookie, and the caller keeps none */
	HTTP_CACHE_STORE_VARY_STAR,       /* Vary: * can never match a request */
	HTTP_CACHE_STORE_NO_FRESHNESS,    /* no Expires, max-age, s-maxage, public, nor default status */
	HTTP_CACHE_STORE_UNCACHEABLE      /* could never be served: see http_cache_storable() */
};

/*
 * The methods a caller stores responses of: HTTP_CACHE_METHOD_* ORed.
 * GET alone by default.  The primary key has no method, so a HEAD is
 * answered from the stored GET: its head as it is, Content-Length the
 * GET's, no content (RFC 9110 9.3.2).  A HEAD that goes to the origin
 * (nothing usable stored) is not stored, but its 200 may freshen the
 * stored GET (http_cache_head_freshens()).  A caller that stores HEAD
 * answers too must key them apart: they cannot answer a GET.
 */
#define HTTP_CACHE_METHOD_GET  (1u << 0)
#define HTTP_CACHE_METHOD_HEAD (1u << 1)

struct http_cache_store_opts {
	unsigned methods;             /* HTTP_CACHE_METHOD_*; 0 is GET alone */
	unsigned allow_set_cookie:1;  /* store responses with Set-Cookie (off by default) */
	uint32_t fallback;            /* the caller's lifetime for this status, 0 if none */
	int64_t response_time;        /* the cache's clock when resp came (Expires - Date without a Date) */
};

/*
 * Whether a shared cache may store resp, the answer to req.  Only a
 * complete response is stored: a 206 or one with Content-Range is not,
 * so a later Range request is answered from a stored 200 (a 200 to a
 * Range request is complete: the origin ignored the Range).  A response with a qualified private is stored without
 * the fields it names (http_cache_field_kept()).  A caller's fallback
 * lifetime counts as freshness information, as the operator's word
 * (nginx's proxy_cache_valid), for statuses RFC 9111 3 would not store.
 *
 * A response that http_cache_serve() would never serve is declined as
 * UNCACHEABLE: no valid ETag or Last-Modified to revalidate it with, and
 * no-cache, or stale on arrival (max-age=0, an Expires not after Date,
 * no lifetime, an Age past the lifetime) unless stale-while-revalidate
 * or stale-if-error lets it be served stale.  Storing it would only
 * evict objects of use, once per request.
 */
enum http_cache_store http_cache_storable(const struct http_request *req,
    const struct http_cache_control *req_cc, const struct http_response *resp,
    const struct http_cache_control *resp_cc, const struct http_cache_store_opts *opts);

/* A token for a Cache-Status detail: "no-store", "private", ... */
const char *http_cache_store_name(enum http_cache_store why);

/* Whether this cache knows what RFC 9110 15 asks of a cache for code. */
int http_cache_status_understood(int code);
/* Heuristically cacheable by default (RFC 9110 15.1). */
int http_cache_status_heuristic(int code);

/*
 * Whether a response field named name is stored: not the hop-by-hop and
 * proxy-specific fields (RFC 9111 3.1), nor a field a qualified private
 * or no-cache names, nor Set-Cookie unless allowed.  Fields Connection
 * names are the caller's to drop, as it does when forwarding.
 */
int http_cache_field_kept(struct http_slice name, const struct http_cache_control *cc,
    int allow_set_cookie);

/* ------------------------------------------------------------------ */
/* Freshness and age (RFC 9111 4.2)                                    */
/* ------------------------------------------------------------------ */

enum http_cache_lifetime_src {
	HTTP_CACHE_LT_NONE = 0,       /* nothing: 0 */
	HTTP_CACHE_LT_S_MAXAGE,
	HTTP_CACHE_LT_MAX_AGE,
	HTTP_CACHE_LT_EXPIRES,        /* Expires - Date; an invalid or repeated Expires is 0 */
	HTTP_CACHE_LT_HEURISTIC,      /* 10% of Date - Last-Modified, at most HTTP_CACHE_HEURISTIC_MAX */
	HTTP_CACHE_LT_FALLBACK        /* the caller's lifetime for the status, before a heuristic */
};

/*
 * The freshness lifetime (4.2.1), in the order s-maxage, max-age,
 * Expires - Date, fallback, heuristic; date is the response's Date, or
 * when it has none the time it was received.  A heuristic is taken only
 * when no explicit expiry is there, and for a status that is
 * heuristically cacheable or a response marked public (RFC 9111
 * 5.2.2.9), from a valid Last-Modified not after Date.
 *
 * A fallback (> 0) comes before the heuristic, not the larger of the
 * two: both stand in for an expiry the origin did not give, and the
 * operator who set one for this status has said what that should be
 * (as nginx's proxy_cache_valid does; nginx has no heuristic).  Taking
 * the larger would let a file unchanged for ten days live a day when
 * the operator asked for a minute, and a heuristic of 0 (Last-Modified
 * equal to Date) would no longer undo the operator's setting.
 */
int64_t http_cache_lifetime(const struct http_response *resp,
    const struct http_cache_control *cc, int64_t date, int64_t now, uint32_t fallback,
    enum http_cache_lifetime_src *src);

/* The steps of RFC 9111 4.2.3, each as the RFC names it. */
struct http_cache_age {
	int64_t apparent_age;         /* max(0, response_time - date_value) */
	int64_t response_delay;       /* response_time - request_time */
	int64_t corrected_age_value;  /* age_value + response_delay */
	int64_t corrected_initial_age;/* max(apparent_age, corrected_age_value) */
};

/* Sums saturate rather than overflow, on any inputs. */
void http_cache_age_compute(int64_t date_value, int64_t age_value, int64_t request_time,
    int64_t response_time, struct http_cache_age *out);

/* What a stored response keeps beside its bytes: fixed size, no pointers. */
#define HTTP_CACHE_M_NO_CACHE      (1u << 0)  /* revalidate before every use */
#define HTTP_CACHE_M_NO_STALE      (1u << 1)  /* must-revalidate, proxy-revalidate or s-maxage */
#define HTTP_CACHE_M_IMMUTABLE     (1u << 2)
#define HTTP_CACHE_M_HEURISTIC     (1u << 3)  /* the lifetime is a guess */
#define HTTP_CACHE_M_VALIDATOR     (1u << 4)  /* ETag or Last-Modified: can be revalidated */
#define HTTP_CACHE_M_SWR           (1u << 5)
#define HTTP_CACHE_M_SIE           (1u << 6)

struct http_cache_meta {
	int64_t request_time;         /* the cache's clock when it sent the request */
	int64_t response_time;        /* ... when the response came */
	int64_t date;                 /* Date, or response_time without a valid one */
	int64_t corrected_initial_age;
	int64_t lifetime;
	uint32_t swr;                 /* with HTTP_CACHE_M_SWR */
	uint32_t sie;                 /* with HTTP_CACHE_M_SIE */
	uint16_t status;
	uint16_t flags;               /* HTTP_CACHE_M_* */
};

/*
 * Fills m for resp (its directives in cc) got between request_time and
 * response_time.  An Age field that is not delta-seconds is ignored.
 */
void http_cache_meta_make(struct http_cache_meta *m, const struct http_response *resp,
    const struct http_cache_control *cc, int64_t request_time, int64_t response_time,
    uint32_t fallback);

/* current_age of 4.2.3 at now, never above HTTP_CACHE_DELTA_MAX (for the Age field). */
int64_t http_cache_age_current(const struct http_cache_meta *m, int64_t now);

/* ------------------------------------------------------------------ */
/* Serving (RFC 9111 4, RFC 5861)                                      */
/* ------------------------------------------------------------------ */

enum http_cache_action {
	HTTP_CACHE_HIT = 0,           /* fresh: serve it */
	HTTP_CACHE_HIT_STALE,         /* stale, and the request's max-stale allows it: serve it */
	HTTP_CACHE_STALE_REVALIDATE,  /* within stale-while-revalidate: serve, revalidate in the background */
	HTTP_CACHE_REVALIDATE,        /* send a conditional request (http_cache_validators) first */
	HTTP_CACHE_MISS,              /* nothing usable: fetch anew */
	HTTP_CACHE_GATEWAY_TIMEOUT    /* only-if-cached and nothing usable: answer 504 */
};

struct http_cache_decision {
	enum http_cache_action action;
	int64_t age;                  /* for the Age field */
	int64_t ttl;                  /* lifetime - age, negative when stale: Cache-Status ttl= */
};

/*
 * What to do with the stored response m (NULL: none) for a request with
 * directives req_cc at now.  No-cache in either, and the request's
 * max-age and min-fresh, call for revalidation; stale is served only
 * within the request's max-stale or the response's
 * stale-while-revalidate, never with must-revalidate, proxy-revalidate
 * or s-maxage (4.2.4, 5.2.2.2, 5.2.2.8, 5.2.2.10).  A stored response
 * that has no validator is fetched anew (MISS) rather than revalidated.
 */
enum http_cache_action http_cache_serve(const struct http_cache_meta *m,
    const struct http_cache_control *req_cc, int64_t now, struct http_cache_decision *d);

/*
 * Whether m, stale, may be served because the origin failed (an error,
 * or a 500, 502, 503 or 504): within the response's or the request's
 * stale-if-error (RFC 5861 4), never with a directive that forbids
 * serving stale.  A fresh m may always be served.
 */
int http_cache_stale_if_error(const struct http_cache_meta *m,
    const struct http_cache_control *req_cc, int64_t now);

/* ------------------------------------------------------------------ */
/* Conditional requests (RFC 9110 13)                                  */
/* ------------------------------------------------------------------ */

enum http_cache_cond {
	HTTP_CACHE_COND_FULL = 0,     /* serve the stored response */
	HTTP_CACHE_COND_NOT_MODIFIED, /* answer 304 from the stored head */
	HTTP_CACHE_COND_FORWARD       /* If-Match / If-Unmodified-Since: the origin decides */
};

/*
 * A request's preconditions against a stored response (head stored,
 * status stored_status, received at received): If-None-Match by weak
 * comparison, else If-Modified-Since (RFC 9111 4.3.2: Last-Modified,
 * else Date, else the time received), for GET and HEAD, and only for a
 * 2xx (RFC 9110 13.2.1).  An If-None-Match that is not a list of
 * entity-tags or "*" gives FULL; an If-Modified-Since that is not one
 * date, or is after now, is ignored (13.1.3).
 */
enum http_cache_cond http_cache_conditional(const struct http_request *req,
    const struct http_head *stored, int stored_status, int64_t received, int64_t now);

/* Whether two entity-tags match by weak (or strong) comparison (RFC 9110 8.8.3.2). */
int http_cache_etag_match(struct http_slice a, struct http_slice b, int strong);

/* The validators to revalidate a stored response with (empty when absent or invalid). */
struct http_cache_validators {
	struct http_slice if_none_match;     /* the stored ETag */
	struct http_slice if_modified_since; /* the stored Last-Modified */
};

void http_cache_validators(const struct http_head *stored, struct http_cache_validators *v);

/* ------------------------------------------------------------------ */
/* Updating a stored head from a 304 (RFC 9111 3.2, 4.3.4)             */
/* ------------------------------------------------------------------ */

enum http_cache_update {
	HTTP_CACHE_KEEP = 0,          /* stored field: kept as it is */
	HTTP_CACHE_DROP,              /* stored field: the 304's fields of that name replace it */
	HTTP_CACHE_ADD,               /* 304 field: appended to the stored head */
	HTTP_CACHE_SKIP               /* 304 field: not taken */
};

/*
 * Whether the 304 nm is about the stored response (RFC 9111 4.3.4), so
 * that http_cache_update_plan() may merge it: with an ETag, when it
 * matches the stored one (strongly when it is strong, else weakly);
 * else with a Last-Modified, when the dates are equal; else, with no
 * validator, yes, as the one stored response the cache revalidated.
 * An ETag or Last-Modified that does not parse matches nothing.  Not
 * selected: do not update; fetch anew, or pass the 304 on when the
 * client's own request was conditional.
 *
 * The RFC asks a validator-less 304 to select only a stored response
 * with no validator; here any is taken, since RFC 9110 15.4.5 obliges a
 * server to send an ETag in a 304 only if its 200 had one, and no
 * Last-Modified at all, so a correct 304 to an If-Modified-Since often
 * carries neither, and refusing it would fetch the whole body again.
 * now places a two-digit year.
 */
int http_cache_304_selects(const struct http_head *stored, const struct http_head *nm,
    int64_t now);

/*
 * Per field, how the stored head takes a 304: every 304 field replaces
 * all stored fields of its name, or is added, except the fields not
 * stored (http_cache_field_kept()), Content-Length, Content-Range
 * (processed away), and Content-Encoding, Transfer-Encoding, which the
 * stored bytes depend on.  stored_plan has stored->nheaders entries
 * (KEEP or DROP), nm_plan nm->nheaders (ADD or SKIP).  The new head is
 * the kept stored fields followed by the added ones; parse it again and
 * remake its http_cache_meta with the times of the revalidation, since
 * its Date, Age and Cache-Control are the 304's now.
 */
/*
 * Call it only for a 304 that http_cache_304_selects() the stored head
 * for, or a HEAD's 200 that http_cache_head_freshens() says UPDATE for:
 * merging a 304 about another representation would give the stored
 * bytes another's ETag and lifetime.
 */
void http_cache_update_plan(const struct http_head *stored, const struct http_head *nm,
    int allow_set_cookie, enum http_cache_update *stored_plan, enum http_cache_update *nm_plan);

/* What a HEAD's 200 from the origin does to the stored GET (RFC 9111 4.3.5). */
enum http_cache_head_fresh {
	HTTP_CACHE_HEAD_NONE = 0,     /* not a 200: the stored GET stays as it is */
	HTTP_CACHE_HEAD_UPDATE,       /* the same representation: update the stored head as from a 304 */
	HTTP_CACHE_HEAD_STALE         /* not shown to be the same: mark the stored GET stale */
};

/*
 * head, the origin's answer to a HEAD, against the stored GET's head
 * (stored) and body length (stored_length, which the stored head may
 * not say: see http_cache_hit_head_write()).  UPDATE when every
 * validator head carries (ETag, weak comparison; Last-Modified) matches
 * the stored one and its Content-Length, if any, is stored_length: then
 * http_cache_update_plan(stored, &head->h, ...) as for a 304.  A HEAD
 * with no validator proves nothing, so it gives STALE, not UPDATE (RFC
 * 9111 4.3.5 would update; here the cache does the safer thing).  To
 * mark the stored GET stale, set its meta's lifetime to 0: the next
 * request revalidates it, or fetches it anew.
 */
enum http_cache_head_fresh http_cache_head_freshens(const struct http_head *stored,
    uint64_t stored_length, const struct http_response *head, int64_t now);

/* ------------------------------------------------------------------ */
/* Range (RFC 9110 14)                                                 */
/* ------------------------------------------------------------------ */

enum http_cache_range {
	HTTP_CACHE_RANGE_NONE = 0,    /* not handled here: serve the whole, or let the origin answer */
	HTTP_CACHE_RANGE_PARTIAL,     /* 206, Content-Range: bytes first-last/length */
	HTTP_CACHE_RANGE_UNSATISFIABLE/* 416, Content-Range: bytes STAR/length */
};

/*
 * One "bytes=" range of a Range value against a complete length:
 * first-last, first- or -suffix, giving [*first, *last].  Several
 * ranges, another unit or an invalid value are NONE (RFC 9110 14.2
 * lets a server ignore Range); so is a suffix range of a zero length,
 * which has no byte to send.
 */
enum http_cache_range http_cache_range(struct http_slice range, uint64_t length,
    uint64_t *first, uint64_t *last);

/*
 * A Content-Range field value (RFC 9110 14.4) for what http_cache_range()
 * gave: "bytes first-last/length" for PARTIAL (a 206), and for
 * UNSATISFIABLE the unsatisfied-range a 416 carries, "bytes" SP "*" "/"
 * length.  CT_OK, or CT_ERROR for NONE, a range not within length, or
 * out too short.
 */
int http_cache_content_range_write(enum http_cache_range r, uint64_t first, uint64_t last,
    uint64_t length, char *out, size_t size, size_t *len);

/*
 * Whether an If-Range value lets the Range apply to the stored head
 * (RFC 9110 13.1.5): a strong entity-tag equal to the stored ETag, or a
 * date equal to a strong Last-Modified (one at least a second before
 * Date, 8.8.2.2).  A weak tag or garbage: no, serve the whole.
 */
int http_cache_if_range(struct http_slice if_range, const struct http_head *stored, int64_t now);

/* ------------------------------------------------------------------ */
/* Keys (RFC 9111 2, 4.1, 4.4)                                          */
/* ------------------------------------------------------------------ */

/*
 * The primary key: scheme "://" host [":" port] path, with scheme and
 * host in lower case, a host's trailing dot and the scheme's default
 * port (80, 443) dropped and a port's leading zeros gone, so that
 * "Example.COM:80" and "example.com" give one key.  path is the
 * path and query (normalise it first with http_path_normalize()).
 * CT_OK, or CT_ERROR when the host or port is invalid or out is short.
 */
int http_cache_key(struct http_slice scheme, struct http_slice host, struct http_slice path,
    char *out, size_t size, size_t *len);

/*
 * The key of an absolute URL as an operator writes it, for a purge:
 * "http" or "https" "://" host [":" port] [path] ["?" query], keyed as
 * the worker keys a request for it: the path made what routes see
 * (http_path_normalize()), then http_cache_key().  A missing path is
 * "/", a fragment is dropped.  The keys of the objects stored for the
 * URL begin with it (a zone's key parts follow it), and so do those of
 * every URL that a URL prefix begins (its path a string prefix).
 * out needs room for the path as written after the origin, since it
 * is normalised in place.  CT_OK with *len; CT_ERROR with *why: another
 * scheme, no host, userinfo, a bad host or port, a space or control
 * byte, a bad escape or a path above the root, or out too small.
 */
int http_cache_url_key(struct http_slice url, char *out, size_t size, size_t *len,
    const char **why);

/*
 * The secondary key of a request against a stored response's Vary: per
 * name listed, the name in lower case and the request's fields of that
 * name joined, with the whitespace around commas gone ("gzip, br" and
 * "gzip,br" are one), or a mark that there is none (absent differs from
 * empty).  CT_OK; CT_DECLINED for "Vary: *", which no request matches;
 * CT_ERROR when out is too small (do not store).  Two requests select
 * the same stored response when their keys are the same bytes.
 */
int http_cache_vary_key(const struct http_head *stored, const struct http_head *req,
    char *out, size_t size, size_t *len);

/*
 * The keys an unsafe request (not GET, HEAD, OPTIONS, TRACE) answered
 * with a 2xx or 3xx makes stale (RFC 9111 4.4): its own URI, and those
 * of Location and Content-Location when they are of the same origin.
 * path is the request's path and query as the keys are made from
 * (http_path_normalize()'s, what routes see), not req->path: a POST to
 * /a/./b must reach the /a/b stored.  A reference is resolved against
 * it and keyed as a request for it would be: dot segments removed (RFC
 * 3986 5.2.4), then normalised like path; one that does not normalise
 * (a bad escape) names no key and is passed over.  Keys are written one
 * after the other in buf and sliced in keys[]; a reference whose path
 * has work to do needs its length again after its key, as scratch.  *n
 * is how many (0: nothing to invalidate).  CT_ERROR: buf too small.
 */
int http_cache_invalidations(const struct http_request *req, struct http_slice scheme,
    struct http_slice path, const struct http_response *resp, char *buf, size_t size,
    struct http_slice keys[3], size_t *n);

/* ------------------------------------------------------------------ */
/* Answering from the store (RFC 9111 4, RFC 9110 15.4.5)              */
/* ------------------------------------------------------------------ */

/*
 * The stored head has no framing.  Transfer-Encoding is not stored
 * (http_cache_field_kept()), so a body that came chunked has no length
 * in its head, and a Content-Length that is stored is the origin's,
 * written before the cache had the body: the length that counts is the
 * stored body's, which the caller knows once the body is stored.  Age
 * too is the origin's, and a hit must send its own (RFC 9111 5.1).  So
 * every answer from the store writes its head with the functions below,
 * from the stored status line and fields, never the stored head as it
 * is.  They write the status line and the fields, each ending in CRLF,
 * but not the blank line: the caller adds its own fields (Cache-Status,
 * Connection, Via) and then CRLF.
 */
struct http_cache_hit {
	uint64_t length;              /* the stored body's length in bytes */
	int64_t age;                  /* the Age to send: http_cache_decision.age */
	enum http_cache_range range;  /* PARTIAL: a 206 of bytes [first, last]; else the whole */
	uint64_t first;
	uint64_t last;
};

/*
 * The head of a hit on stored: its status line (206 Partial Content for
 * a range), its fields but Age, Content-Length, Transfer-Encoding and
 * Content-Range, then Content-Range for a range, Content-Length (the
 * stored length, or the range's) and Age (within 0 and
 * HTTP_CACHE_DELTA_MAX).  For a HEAD the same head, and no content.
 * CT_OK, or CT_ERROR when out is short or the range is not within the
 * length.
 */
int http_cache_hit_head_write(const struct http_response *stored,
    const struct http_cache_hit *hit, char *out, size_t size, size_t *len);

/*
 * The head of a 304 that the cache answers a conditional request with
 * (http_cache_conditional() said NOT_MODIFIED) from stored: "304 Not
 * Modified", the stored fields a 304 carries (RFC 9110 15.4.5: Cache-
 * Control, Content-Location, Date, ETag, Expires, Vary, and
 * Last-Modified when there is no ETag, to guide the client's cache),
 * nothing of the body (no Content-Length), and Age.  CT_OK, or CT_ERROR
 * when out is short.
 */
int http_cache_304_head_write(const struct http_response *stored, int64_t age, char *out,
    size_t size, size_t *len);

/* ------------------------------------------------------------------ */
/* Cache-Status (RFC 9211)                                             */
/* ------------------------------------------------------------------ */

enum http_cache_fwd {
	HTTP_CACHE_FWD_NONE = 0,      /* not forwarded (a hit) */
	HTTP_CACHE_FWD_BYPASS,        /* configured not to use the cache */
	HTTP_CACHE_FWD_METHOD,        /* a method the cache does not serve */
	HTTP_CACHE_FWD_URI_MISS,      /* nothing stored for the URI */
	HTTP_CACHE_FWD_VARY_MISS,     /* stored, but no variant matches */
	HTTP_CACHE_FWD_MISS,          /* not stored, for no other stated reason */
	HTTP_CACHE_FWD_REQUEST,       /* the request asked to go forward (no-cache) */
	HTTP_CACHE_FWD_STALE,         /* stored but stale: revalidation */
	HTTP_CACHE_FWD_PARTIAL        /* only part of it stored */
};

struct http_cache_status {
	const char *cache;            /* this cache's name, e.g. "cuttle" */
	enum http_cache_fwd fwd;
	int fwd_status;               /* the forward's status, 0 for none */
	int64_t ttl;                  /* with has_ttl */
	const char *detail;           /* NULL for none */
	unsigned hit:1;
	unsigned stored:1;
	unsigned collapsed:1;
	unsigned has_ttl:1;
};

/*
 * One Cache-Status member, e.g. "cuttle; hit; ttl=42" or
 * "cuttle; fwd=miss; fwd-status=200; stored": the name and detail as
 * tokens when they are, else as strings.  CT_OK, or CT_ERROR when out
 * is short or a string has a byte a structured field cannot carry.
 */
int http_cache_status_write(const struct http_cache_status *cs, char *out, size_t size,
    size_t *len);

#endif

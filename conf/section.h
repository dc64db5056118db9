/*
 * What a section of the configuration needs from the loader, and the
 * one list of sections.  Only the files of conf/ include this: the rest of the
 * program sees the parsed structs of conf/conf.h and nothing of how
 * they were read.
 *
 * A section owns one or more keys of the top level, with their key
 * tables, checks, defaults, freeing and dump.  It is a file that
 * defines "const struct conf_section conf_<name>_section" and one line
 * in CONF_SECTIONS below.
 */
#ifndef CT_CONF_SECTION_H
#define CT_CONF_SECTION_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/conf.h"
#include "conf/node.h"

#define CONF_KEYS_MAX       32                  /* keys in one table */
#define CONF_QUOTE_LEN      96                  /* user text in a message */
/* keeps "now + timeout" far from overflow anywhere in the event loop */
#define CONF_DURATION_MAX   (UINT64_C(30) * 24 * 3600 * 1000)
#define CONF_TOKEN_WHY      "use letters, digits and !#$%&'*+-.^_`|~"

struct conf_ctx;
struct conf_key;

/* Parses value v of key k into obj, reporting through ctx. */
typedef void (*conf_parse_cb)(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);

struct conf_key {
	const char *name;
	int required;
	conf_parse_cb parse;
	size_t off;                 /* field of obj, for the generic parsers */
	uint64_t min;               /* bounds, for the numeric parsers */
	uint64_t max;
};

struct conf_table {
	const char *where;          /* "in listener", for messages */
	const struct conf_key *keys;
	size_t nkeys;
};

/* Declares table name over keys, whose length conf_map_walk() bounds. */
#define CONF_TABLE(name, where, keys) \
	_Static_assert(CT_NELEM(keys) <= CONF_KEYS_MAX, #keys " is too long"); \
	static const struct conf_table name = { where, keys, CT_NELEM(keys) }

/*
 * A key for duplicate detection and lookup: refs are sorted by key
 * bytes and then by idx (file order), so the first of equal keys is
 * the one that was written first.
 */
struct conf_ref {
	const void *key;
	size_t keylen;
	size_t idx;
	const struct node *node;
};

struct conf_msg;

struct conf_ctx {
	const char *file;
	struct conf *conf;
	struct conf_msg *msgs;
	size_t nmsgs;
	size_t msgcap;
	int oom;                    /* an allocation failed; say so at the end */
	struct conf_ref *upstreams; /* upstream names, sorted, for pass two */
	size_t nupstreams;
	int mode_set;               /* the listener being walked has a valid mode */
};

/* The nearest candidate to word seen so far, for "did you mean". */
struct conf_near {
	const char *word;
	size_t len;
	const char *best;
	size_t dist;
};

typedef void (*conf_dup_cb)(struct conf_ctx *ctx, const struct conf_ref *dup,
    const struct conf_ref *first);

/*
 * One section.  Every hook but the keys may be NULL.  init fills in the
 * defaults before the file is read (CT_ERROR: out of memory); check is
 * the second pass, run on a top level that is a mapping once every
 * section has parsed, for what spans objects; free releases what the
 * section hung on the struct conf, whole or half-built; dump writes
 * its keys as conf_load() reads them.
 */
struct conf_section {
	const struct conf_key *keys;        /* its keys at the top level */
	size_t nkeys;
	int (*init)(struct conf *conf);
	void (*check)(struct conf_ctx *ctx, const struct node *root);
	void (*free)(struct conf *conf);
	void (*dump)(const struct conf *conf, FILE *out);
};

/*
 * The sections, in the order of the top-level key table and of
 * conf_dump().  The key order is kept as it was because "did you mean"
 * suggests the first of equally near keys.
 */
#define CONF_SECTIONS(S) \
	S(workers)      /* workers, shm_size, worker_connections */ \
	S(error_log)    /* error_log */ \
	S(upstream)     /* upstreams */ \
	S(listener)     /* listeners */ \
	S(process)      /* daemon, pid_file, user, group, ... */ \
	S(admin)        /* admin */ \
	S(limit)        /* limits */ \
	S(cache)        /* caches */ \
	S(resolver)     /* resolver */ \
	S(approval)     /* approvals */

#define CONF_SECTION_DECLARE(name) \
	extern const struct conf_section conf_##name##_section;
CONF_SECTIONS(CONF_SECTION_DECLARE)
#undef CONF_SECTION_DECLARE

/* Errors (conf/conf.c) */
void conf_error(struct conf_ctx *ctx, const struct node *n,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void conf_oom(struct conf_ctx *ctx);
const char *conf_quote(const char *s, char *buf, size_t len);

/* "Did you mean" */
void conf_near_init(struct conf_near *n, const char *word);
void conf_near_try(struct conf_near *n, const char *cand);
const char *conf_near_best(const struct conf_near *n);

/* Values */
char *conf_env_expand(struct conf_ctx *ctx, const struct node *v);
int conf_expect(struct conf_ctx *ctx, const struct node *v, enum node_type t,
    const char *name, int item);
char *conf_text(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v);
char *conf_text_nonempty(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v);
int conf_name_valid(const char *s);
void conf_name_error(struct conf_ctx *ctx, const struct node *n,
    const char *what, const char *name);
/*
 * A section mapping names to objects: v checked (a mapping, at most max,
 * no name twice) and an array of v->npairs zeroed objects of size bytes;
 * NULL when there is none (empty, or reported).
 */
void *conf_names_alloc(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    size_t max, size_t size, const char *what);
/* One entry: its name checked and copied into *name; CT_OK when map is a mapping to walk. */
int conf_names_entry(struct conf_ctx *ctx, const struct node *key, const struct node *map,
    const char *what, char **name);
/* NAME of a "header:NAME" or "cookie:NAME" item v, a token, copied (header: lower-cased). */
char *conf_part_name_dup(struct conf_ctx *ctx, const struct node *v, const char *name,
    int header, const char *where);
int conf_enum_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, const char *const *names, size_t n, size_t *out);
const char *conf_enum_name(const char *const *names, size_t n, size_t i);
const char *conf_bool_name(int b);
const char *conf_size_format(uint64_t v, char *buf, size_t len);
const char *conf_duration_format(uint64_t v, char *buf, size_t len);
void conf_str_lower(char *s);
int conf_alnum(char c);
int conf_token_valid(const char *s, size_t n);
/*
 * Reads a whole small file into *out (malloc'd); CT_ERROR with errno,
 * EFBIG when over max, ENODATA when empty (conf/tls.c).
 */
int conf_file_slurp(const char *path, size_t max, unsigned char **out, size_t *len);

/* Generic parsers: the field at k->off of obj, bounds from k */
void conf_unsigned_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_uint64_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_int_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_bool_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_size_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_duration_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* 0 (meaning zero) or whole seconds up to max, value v of key name; CT_ERROR once reported. */
int conf_lifetime_parse(struct conf_ctx *ctx, const char *name, const struct node *v,
    const char *zero, uint64_t max, uint64_t *ms);
void conf_string_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_token_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);

/* Mappings against key tables */
void conf_map_walk(struct conf_ctx *ctx, const struct node *map,
    const struct conf_table *t, void *obj);
void conf_map_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, const struct conf_table *t, void *obj);

/* Cross references */
void conf_refs_dedup(struct conf_ctx *ctx, struct conf_ref *refs, size_t n,
    conf_dup_cb dup);
const struct conf_ref *conf_refs_find(const struct conf_ref *refs, size_t n,
    const char *key);

/* Writing YAML back (conf/dump.c) */
void conf_dump_str(FILE *out, const char *s, int value);
void conf_dump_kv(FILE *out, int indent, const char *key, const char *value);
void conf_dump_strs(FILE *out, int indent, const char *key, char *const *s,
    size_t n);

/*
 * Reads a whole small file into *out (malloc()ed); CT_ERROR with errno,
 * EFBIG when over max, ENODATA when empty.
 */
int conf_file_slurp(const char *path, size_t max, unsigned char **out, size_t *len);

/*
 * Parses text as the value of key k alone into obj, with no configuration
 * around it (ctx->conf is NULL): for the blocks that unit tests check on
 * their own.  Errors go to cb as conf_load_string()'s do; returns how
 * many there were.
 */
size_t conf_block_load(const char *name, const char *text, size_t len,
    const struct conf_key *k, void *obj, conf_error_cb cb, void *arg);
/* Reports unless min <= count <= max, count being the entries of v. */
int conf_count_check(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, size_t count, size_t min, size_t max);
/* Checks (and may case-fold) a word in place; returns why it is invalid, or NULL. */
typedef const char *(*conf_word_cb)(char *s);
/*
 * A sequence of min to max words into *out (count in *n), each checked
 * by check; what names an entry in messages; case-insensitive duplicates
 * are errors.
 */
void conf_words_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, size_t min, size_t max, const char *what,
    conf_word_cb check, char ***out, size_t *n);
/* An HTTP method: why s is not one, or NULL; upper-cases it. */
const char *conf_method_check(char *s);
/* A host name, or "*." and a domain: why s is not one, or NULL. */
const char *conf_host_pattern_why(const char *s);

/*
 * Between sections: the parts that a section hands on to the file of
 * a part of its own (an upstream's health, an http listener's routes
 * and compression), and the references of the second pass.
 */
void conf_health_init(struct conf_health *h);
void conf_health_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_health_free(struct conf_health *h);
void conf_health_dump(const struct conf_health *h, FILE *out);
void conf_upstream_resolve(struct conf_ctx *ctx, const char *name, size_t *idx,
    const struct node *v);
void conf_routes_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_routes_resolve(struct conf_ctx *ctx, struct conf_listener *l,
    const struct node *seq);
void conf_routes_free(struct conf_route *routes, size_t n);
void conf_routes_dump(const struct conf_route *routes, size_t n, FILE *out);
void conf_compress_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_compress_free(struct conf_compress *c);
void conf_compress_dump(const struct conf_compress *c, FILE *out);
void conf_sni_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_sni_resolve(struct conf_ctx *ctx, struct conf_sni *sni, const struct node *v);
void conf_sni_free(struct conf_sni *sni);
void conf_sni_dump(const struct conf_sni *sni, FILE *out);
/* A listener's or route's "limits": the struct conf_limit_refs at k->off. */
void conf_limit_refs_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_limit_refs_free(struct conf_limit_refs *r);
void conf_limit_refs_dump(const struct conf_limit_refs *r, FILE *out, int indent);
/* A route's "cache" (conf/cache.c): k->off is the field of its struct conf_route_cache *. */
void conf_route_cache_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* In the second pass: the zone the block names; map is the "cache" node. */
void conf_route_cache_resolve(struct conf_ctx *ctx, struct conf_route_cache *rc,
    const struct node *map);
void conf_route_cache_free(struct conf_route_cache *rc);
void conf_route_cache_dump(const struct conf_route_cache *rc, FILE *out);
/* A listener's "bandwidth" (conf/bandwidth.c): the struct conf_bandwidth at k->off. */
void conf_bandwidth_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_bandwidth_free(struct conf_bandwidth *b);
void conf_bandwidth_dump(const struct conf_bandwidth *b, FILE *out);
/* Bytes per second, "10m" or "10m/s", into the uint64_t at k->off. */
void conf_bandwidth_rate_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* A "via" chain of proxies (conf/via.c): the struct conf_via at k->off. */
void conf_via_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_via_free(struct conf_via *via);
void conf_via_dump(const struct conf_via *via, FILE *out, int indent);
/*
 * The via of an upstream (name) that udp listener listener sends
 * datagrams through: each hop that is not SOCKS 5, the only kind with
 * UDP ASSOCIATE, is an error at its item of vnode, the "via" sequence.
 */
void conf_via_udp_check(struct conf_ctx *ctx, const struct conf_via *via,
    const struct node *vnode, const char *name, const char *listener);
/* A "keepalive" block (conf/upstream.c): the struct conf_keepalive at k->off. */
void conf_keepalive_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* A listener's "forward" and "socks" blocks (conf/proxy.c): the struct conf_proxy at k->off. */
void conf_forward_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_socks_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* Before the walk: the defaults that a block may override in part. */
void conf_proxy_init(struct conf_proxy *p);
/* After the walk: the defaults of what was not written. */
void conf_proxy_defaults(struct conf_ctx *ctx, struct conf_proxy *p, int forward);
void conf_proxy_free(struct conf_proxy *p);
void conf_proxy_dump(const struct conf_proxy *p, int forward, FILE *out);
void conf_tls_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* After the listener's walk: checks what spans keys and builds the contexts. */
void conf_tls_build(struct conf_ctx *ctx, struct conf_tls *t, const struct node *map,
    const char *listener, int http);
void conf_tls_free(struct conf_tls *t);
/* Shared by the listeners' and the upstreams' tls blocks (conf/tls.c): */
/* OpenSSL's reason for the last failure into buf; the error queue is left empty. */
const char *conf_tls_reason(char *buf, size_t len);
/* The value node of key in map, or map itself, for a message's position. */
const struct node *conf_tls_where(const struct node *map, const char *key);
/* Says at n why path (a what) cannot be read; CT_OK if it can. */
int conf_tls_readable(struct conf_ctx *ctx, const struct node *n, const char *what,
    const char *path);
/* A sequence of protocol names into the CONF_TLS_V* bits (unsigned) at k->off. */
void conf_tls_protocols_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* The lowest and highest version of bits on sc; CT_ERROR with OpenSSL's error. */
int conf_tls_versions_set(SSL_CTX *sc, unsigned bits);
void conf_tls_versions_dump(FILE *out, unsigned bits);
void conf_tls_dump(const struct conf_tls *t, FILE *out);
/* An upstream's "tls" (conf/tls_upstream.c): k->off is its pointer's field. */
void conf_tls_upstream_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* After the upstream's walk: checks what spans keys and builds the context. */
void conf_tls_upstream_build(struct conf_ctx *ctx, struct conf_tls_upstream *t,
    const struct node *map);
void conf_tls_upstream_free(struct conf_tls_upstream *t);
void conf_tls_upstream_dump(const struct conf_tls_upstream *t, FILE *out);
/*
 * "auth" of a listener or a route (conf/auth.c): k->off is the field of
 * its struct conf_auth *; k->min 1 on a route, where "off" is allowed.
 * The htpasswd file is read as the block is parsed.
 */
void conf_auth_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_auth_dump(const struct conf_auth *a, int indent, FILE *out);
/*
 * A forward or socks listener's "destinations" (conf/dest.c; its types,
 * free and dump in conf/dest.h): the struct conf_dest at k->off.
 */
/* An approval's rules.destinations: allow and deny as in destinations, no private. */
void conf_dest_approval_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_dest_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* A sequence of CIDR blocks (cidr_parse()) into *out, count in *n (conf/listener.c). */
void conf_cidrs_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, struct cidr **out, size_t *n);
/* The same back, as "key: [...]" at indent. */
void conf_cidrs_dump(FILE *out, int indent, const char *key, const struct cidr *c, size_t n);
/* A listener's "approval" (conf/approval.c): obj is the listener. */
void conf_approval_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_approval_free(struct conf_approval *a);
void conf_approval_dump(const struct conf_approval *a, FILE *out);
/* A route's "rules" and "rules_default" (conf/rules.c): obj is the route. */
void conf_rules_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_rules_default_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
/* After a listener's routes: numbers its rules, unique names; seq is "routes". */
void conf_rules_number(struct conf_ctx *ctx, struct conf_listener *l, const struct node *seq);
void conf_rules_free(struct conf_rules *r);
void conf_rules_dump(const struct conf_rules *r, FILE *out);
/* A listener's "geo" (conf/geo.c): k->off unused, obj is the listener. */
void conf_geo_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj);
void conf_geo_free(struct conf_geo *g);
void conf_geo_dump(const struct conf_geo *g, FILE *out);

#endif

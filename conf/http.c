/*
 * What mode http adds to a listener: routes (a match and one action
 * each), the header rewriting of routes that proxy, and compression.
 * The syntax checks follow RFC 9110 closely because every value here
 * ends up in a message that cuttle writes itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

#define CONF_RETURN_BODY_MAX ((size_t)64 << 10)
#define CONF_HEADER_OPS_MAX 100                 /* entries of set, add or remove */
#define CONF_METHODS_MAX    32
#define CONF_TYPES_MAX      64
#define CONF_HOST_MAX       253                 /* a DNS name, without the "*." */
#define CONF_LABEL_MAX      63
#define CONF_COMPRESS_MIN_DEFAULT (UINT64_C(1) << 10)
#define CONF_COMPRESS_MIN_MAX (UINT64_C(1) << 30)
#define CONF_COMPRESS_LEVEL_DEFAULT 5

/* ------------------------------------------------------------------ */
/* HTTP syntax */

/* Checks one entry of a list and folds its case; NULL, or why not valid. */

/*
 * Fields that cuttle writes itself and that a rewrite may not touch:
 * the hop-by-hop fields (RFC 9110, section 7.6.1), which are never
 * forwarded, and the framing of the body.  Host, in requests, has a key
 * of its own, host_rewrite.
 */
static const char *const conf_managed_headers[] = {
	"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding",
	"Upgrade", "Proxy-Connection", "Content-Length",
};

static void
conf_str_upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

/*
 * May s be sent as a field value?  No control characters but HTAB
 * (RFC 9110, section 5.5; the node tree has refused NUL already);
 * bytes past ASCII are obs-text and pass.
 */
static int
conf_field_value_valid(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	return 1;
}

const char *
conf_method_check(char *s)
{
	if (!conf_token_valid(s, strlen(s)))
		return CONF_TOKEN_WHY;
	conf_str_upper(s);
	return NULL;
}

/* Why field name s may not be rewritten, or NULL; request: in requests. */
static const char *
conf_header_name_why(const char *s, int request)
{
	size_t i;

	if (!conf_token_valid(s, strlen(s)))
		return CONF_TOKEN_WHY;
	if (request && strcasecmp(s, "Host") == 0)
		return "it is managed by cuttle; use \"host_rewrite\"";
	for (i = 0; i < CT_NELEM(conf_managed_headers); i++)
		if (strcasecmp(s, conf_managed_headers[i]) == 0)
			return "it is managed by cuttle";
	return NULL;
}

static const char *
conf_request_header_check(char *s)
{
	return conf_header_name_why(s, 1);
}

static const char *
conf_response_header_check(char *s)
{
	return conf_header_name_why(s, 0);
}

/*
 * A media type without parameters, "type/subtype", lower-cased, as the
 * Content-Type of a response is compared with it whole: a wildcard
 * would never match, so it is refused rather than ignored.
 */
static const char *
conf_media_type_check(char *s)
{
	const char *slash = strchr(s, '/');

	if (slash == NULL || !conf_token_valid(s, (size_t)(slash - s)) ||
	    !conf_token_valid(slash + 1, strlen(slash + 1)))
		return "use \"type/subtype\", each a token, without parameters";
	if (strncmp(s, "*/", 2) == 0 || strcmp(slash + 1, "*") == 0)
		return "wildcards are not supported; list each type";
	conf_str_lower(s);
	return NULL;
}

/*
 * A sequence of min to max words into *out (count in *n), each checked
 * and case-folded by check; what names an entry in messages.  Words
 * that differ only in case are duplicates, as HTTP compares them so.
 * The few entries allowed keep the quadratic search cheap.
 */
void
conf_words_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, size_t min, size_t max, const char *what,
    conf_word_cb check, char ***out, size_t *n)
{
	char q[CONF_QUOTE_LEN];
	const struct node *item;
	const char *why;
	size_t i, j;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR ||
	    conf_count_check(ctx, k, v, v->nitems, min, max) == CT_ERROR ||
	    v->nitems == 0)
		return;
	if ((*out = calloc(v->nitems, sizeof(**out))) == NULL) {
		conf_oom(ctx);
		return;
	}
	*n = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		item = v->items[i];
		if (conf_expect(ctx, item, NODE_SCALAR, k->name, 1) == CT_ERROR ||
		    (t = conf_env_expand(ctx, item)) == NULL)
			continue;
		conf_quote(t, q, sizeof(q));
		for (j = 0; j < i; j++)
			if ((*out)[j] != NULL && strcasecmp((*out)[j], t) == 0)
				break;
		if ((why = check(t)) != NULL)
			conf_error(ctx, item, "invalid %s \"%s\" in \"%s\": %s", what,
			    q, k->name, why);
		else if (j < i)
			conf_error(ctx, item, "duplicate %s \"%s\" in \"%s\" (first at "
			    "line %u, column %u)", what, q, k->name,
			    v->items[j]->line, v->items[j]->col);
		else
			(*out)[i] = t;
		if ((*out)[i] == NULL)
			free(t);
	}
}

/* ------------------------------------------------------------------ */
/* Header rewriting */

/* One "name: value" of set or add into kv; key is the name's node. */
static void
conf_kv_parse(struct conf_ctx *ctx, const struct node *key,
    const struct node *val, struct conf_kv *kv)
{
	char q[CONF_QUOTE_LEN];
	char *t;

	if (conf_expect(ctx, val, NODE_SCALAR, key->scalar, 0) == CT_ERROR ||
	    (t = conf_env_expand(ctx, val)) == NULL)
		return;
	if (!conf_field_value_valid(t)) {
		conf_error(ctx, val, "invalid value \"%s\" for header \"%s\": "
		    "control characters other than tab are not allowed",
		    conf_quote(t, q, sizeof(q)), key->scalar);
		free(t);
		return;
	}
	kv->value = t;
	if ((kv->name = strdup(key->scalar)) == NULL)
		conf_oom(ctx);
}

/*
 * set or add: a mapping from field name to value into *out (count in
 * *n).  The names are mapping keys, so they are taken as written,
 * without ${} expansion, like upstream names.
 */
static void
conf_kvs_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, int request, struct conf_kv **out, size_t *n)
{
	char q[CONF_QUOTE_LEN];
	const struct node *key;
	const char *why;
	size_t i, j;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR ||
	    conf_count_check(ctx, k, v, v->npairs, 0, CONF_HEADER_OPS_MAX) ==
	    CT_ERROR || v->npairs == 0)
		return;
	if ((*out = calloc(v->npairs, sizeof(**out))) == NULL) {
		conf_oom(ctx);
		return;
	}
	*n = v->npairs;
	for (i = 0; i < v->npairs; i++) {
		key = v->pairs[i].key;
		conf_quote(key->scalar, q, sizeof(q));
		for (j = 0; j < i; j++)
			if (strcasecmp(v->pairs[j].key->scalar, key->scalar) == 0)
				break;
		if ((why = conf_header_name_why(key->scalar, request)) != NULL)
			conf_error(ctx, key, "invalid header \"%s\" in \"%s\": %s", q,
			    k->name, why);
		else if (j < i)
			conf_error(ctx, key, "duplicate header \"%s\" in \"%s\" (first "
			    "at line %u, column %u)", q, k->name,
			    v->pairs[j].key->line, v->pairs[j].key->col);
		else
			conf_kv_parse(ctx, key, v->pairs[i].value, &(*out)[i]);
	}
}

/*
 * The parsers of request_headers and of response_headers differ only
 * in whether Host is managed, hence a table, and these, for each.
 */
static void
conf_request_headers_set_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 1, &h->set, &h->nset);
}

static void
conf_request_headers_add_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 1, &h->add, &h->nadd);
}

static void
conf_request_headers_remove_parse(struct conf_ctx *ctx,
    const struct conf_key *k, const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_words_parse(ctx, k, v, 0, CONF_HEADER_OPS_MAX, "header",
	    conf_request_header_check, &h->remove, &h->nremove);
}

static void
conf_response_headers_set_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 0, &h->set, &h->nset);
}

static void
conf_response_headers_add_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 0, &h->add, &h->nadd);
}

static void
conf_response_headers_remove_parse(struct conf_ctx *ctx,
    const struct conf_key *k, const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_words_parse(ctx, k, v, 0, CONF_HEADER_OPS_MAX, "header",
	    conf_response_header_check, &h->remove, &h->nremove);
}

static const struct conf_key conf_request_headers_keys[] = {
	{ "set",    0, conf_request_headers_set_parse, 0, 0, 0 },
	{ "add",    0, conf_request_headers_add_parse, 0, 0, 0 },
	{ "remove", 0, conf_request_headers_remove_parse, 0, 0, 0 },
};

CONF_TABLE(conf_request_headers_table, "in request_headers",
    conf_request_headers_keys);

static const struct conf_key conf_response_headers_keys[] = {
	{ "set",    0, conf_response_headers_set_parse, 0, 0, 0 },
	{ "add",    0, conf_response_headers_add_parse, 0, 0, 0 },
	{ "remove", 0, conf_response_headers_remove_parse, 0, 0, 0 },
};

CONF_TABLE(conf_response_headers_table, "in response_headers",
    conf_response_headers_keys);

static void
conf_route_request_headers_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	conf_map_parse(ctx, k, v, &conf_request_headers_table,
	    &r->request_headers);
}

static void
conf_route_response_headers_parse(struct conf_ctx *ctx,
    const struct conf_key *k, const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	conf_map_parse(ctx, k, v, &conf_response_headers_table,
	    &r->response_headers);
}

/* ------------------------------------------------------------------ */
/* routes */

/*
 * The host of a match: a DNS name or an IPv4 address, in labels of
 * letters, digits and "-", or "*." and a name.  Returns why s is not
 * valid, or NULL.
 */
const char *
conf_host_pattern_why(const char *s)
{
	const char *p = strncmp(s, "*.", 2) == 0 ? s + 2 : s, *label = p;

	if (strchr(p, ':') != NULL)
		return "hosts are matched without a port";
	if (strlen(p) > CONF_HOST_MAX)
		return "longer than 253 characters";
	for (;; p++) {
		if (*p != '.' && *p != '\0') {
			if (!conf_alnum(*p) && *p != '-')
				return "use letters, digits, \"-\" and \".\", or \"*.\" "
				    "and a domain";
			continue;
		}
		if (p == label)
			return "labels must not be empty";
		if (p - label > CONF_LABEL_MAX)
			return "a label is longer than 63 characters";
		if (*p == '\0')
			return NULL;
		label = p + 1;
	}
}

/* Stored lower-case: the worker compares hosts case-insensitively. */
static void
conf_match_host_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if ((why = conf_host_pattern_why(t)) != NULL) {
		conf_error(ctx, v, "invalid host \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	conf_str_lower(t);
	r->host = t;
}

/*
 * A path is compared as bytes with the request's, which has no query,
 * no fragment, and nothing that is not printable ASCII (other bytes
 * come percent-encoded): a pattern with any of those would never match.
 */
static const char *
conf_path_why(const char *s)
{
	const unsigned char *p;

	if (s[0] != '/')
		return "must start with \"/\"";
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f)
			return "spaces, control characters and bytes past ASCII do "
			    "not occur in a request path; percent-encode them";
		if (*p == '?' || *p == '#')
			return "a path ends before \"?\" or \"#\"";
	}
	return NULL;
}

/* path_prefix or path_exact, into the char * at k->off. */
static void
conf_match_path_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char **field = (char **)((char *)obj + k->off);
	char q[CONF_QUOTE_LEN];
	const char *why;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if ((why = conf_path_why(t)) != NULL) {
		conf_error(ctx, v, "invalid path \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	*field = t;
}

static void
conf_match_methods_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	conf_words_parse(ctx, k, v, 1, CONF_METHODS_MAX, "method",
	    conf_method_check, &r->methods, &r->nmethods);
}

static const char *const conf_client_cert_names[] = {
	[CONF_CLIENT_CERT_ANY] = "any",
	[CONF_CLIENT_CERT_VERIFIED] = "verified",
	[CONF_CLIENT_CERT_UNVERIFIED] = "unverified",
};

static void
conf_match_client_cert_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_client_cert_names,
	    CT_NELEM(conf_client_cert_names), &i) == CT_OK)
		r->client_cert = (enum conf_client_cert)i;
}

static const struct conf_key conf_match_keys[] = {
	{ "host",        0, conf_match_host_parse, 0, 0, 0 },
	{ "path_prefix", 0, conf_match_path_parse, offsetof(struct conf_route, path_prefix), 0, 0 },
	{ "path_exact",  0, conf_match_path_parse, offsetof(struct conf_route, path_exact), 0, 0 },
	{ "methods",     0, conf_match_methods_parse, 0, 0, 0 },
	{ "client_cert", 0, conf_match_client_cert_parse, 0, 0, 0 },
};

CONF_TABLE(conf_match_table, "in match", conf_match_keys);

/* The one of a and b written later in the file. */
static const struct node *
conf_node_later(const struct node *a, const struct node *b)
{
	if (a->line != b->line)
		return a->line > b->line ? a : b;
	return a->col > b->col ? a : b;
}

static void
conf_route_match_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	const struct node *prefix, *exact;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	conf_map_walk(ctx, v, &conf_match_table, obj);
	prefix = node_map_key(v, "path_prefix");
	exact = node_map_key(v, "path_exact");
	if (prefix != NULL && exact != NULL)
		conf_error(ctx, conf_node_later(prefix, exact), "\"path_prefix\" "
		    "and \"path_exact\" cannot be used together");
}

/* Only kept here; conf_listeners_check() resolves it. */
static void
conf_route_upstream_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	r->upstream_name = conf_text(ctx, k, v);
}

static void
conf_return_body_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;
	size_t n;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if ((n = strlen(t)) > CONF_RETURN_BODY_MAX) {
		conf_error(ctx, v, "\"%s\" must be at most 64k, not %zu bytes",
		    k->name, n);
		free(t);
		return;
	}
	free(r->body);
	r->body = t;
}

static const struct conf_key conf_return_keys[] = {
	{ "status", 0, conf_unsigned_parse, offsetof(struct conf_route, status), 100, 599 },
	{ "body",   0, conf_return_body_parse, 0, 0, 0 },
};

CONF_TABLE(conf_return_table, "in return", conf_return_keys);

static void
conf_route_return_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	r->status = 200;
	if (r->body == NULL && (r->body = strdup("")) == NULL) {
		conf_oom(ctx);
		return;
	}
	conf_map_parse(ctx, k, v, &conf_return_table, r);
}

static void
conf_redirect_status_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	static const unsigned codes[] = { 301, 302, 303, 307, 308 };
	struct conf_route *r = obj;
	char q[CONF_QUOTE_LEN];
	uint64_t n;
	size_t i;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (units_parse_uint(t, 0, 999, &n, NULL) == CT_OK) {
		for (i = 0; i < CT_NELEM(codes); i++) {
			if (n == codes[i]) {
				r->status = codes[i];
				free(t);
				return;
			}
		}
	}
	conf_error(ctx, v, "\"%s\" must be one of 301, 302, 303, 307 or 308, "
	    "not \"%s\"", k->name, conf_quote(t, q, sizeof(q)));
	free(t);
}

/*
 * The Location field's value.  Stricter than a field value: a URL has
 * no spaces or control characters, and one would split the header.
 */
static void
conf_redirect_location_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;
	char q[CONF_QUOTE_LEN];
	const unsigned char *p;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	for (p = (const unsigned char *)t; *p > 0x20 && *p != 0x7f; p++)
		;
	if (*p != '\0') {
		conf_error(ctx, v, "invalid URL \"%s\" for \"%s\": spaces and "
		    "control characters are not allowed",
		    conf_quote(t, q, sizeof(q)), k->name);
		free(t);
		return;
	}
	r->location = t;
}

static void
conf_redirect_scheme_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	static const char *const schemes[] = { "https" };
	struct conf_route *r = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, schemes, CT_NELEM(schemes), &i) == CT_OK &&
	    (r->scheme = strdup(schemes[i])) == NULL)
		conf_oom(ctx);
}

static const struct conf_key conf_redirect_keys[] = {
	{ "status",   0, conf_redirect_status_parse, 0, 0, 0 },
	{ "location", 0, conf_redirect_location_parse, 0, 0, 0 },
	{ "scheme",   0, conf_redirect_scheme_parse, 0, 0, 0 },
	{ "port",     0, conf_unsigned_parse, offsetof(struct conf_route, port), 1, 65535 },
};

CONF_TABLE(conf_redirect_table, "in redirect", conf_redirect_keys);

static void
conf_route_redirect_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	r->status = 302;
	conf_map_parse(ctx, k, v, &conf_redirect_table, r);
	if (v->type != NODE_MAPPING)
		return;
	if ((node_map_key(v, "location") != NULL) == (node_map_key(v, "scheme") != NULL))
		conf_error(ctx, v, "\"%s\" needs one of \"location\" or \"scheme\"", k->name);
	else if (node_map_key(v, "port") != NULL && node_map_key(v, "scheme") == NULL)
		conf_error(ctx, node_map_key(v, "port"), "\"port\" goes with \"scheme\"");
}

/*
 * The Host field sent upstream instead of the client's: a name, an
 * IPv4 address or a bracketed IPv6 one, and an optional port.  Only
 * the characters are checked; the server is the judge of the rest.
 */
static void
conf_route_host_rewrite_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;
	char q[CONF_QUOTE_LEN];
	const char *p;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	for (p = t; conf_alnum(*p) || (*p != '\0' && strchr("-._:[]", *p)); p++)
		;
	if (*p != '\0') {
		conf_error(ctx, v, "invalid host \"%s\" for \"%s\": use letters, "
		    "digits and - . _ : [ ]", conf_quote(t, q, sizeof(q)), k->name);
		free(t);
		return;
	}
	r->host_rewrite = t;
}

static const struct conf_key conf_route_keys[] = {
	{ "match",            0, conf_route_match_parse, 0, 0, 0 },
	{ "upstream",         0, conf_route_upstream_parse, 0, 0, 0 },
	{ "return",           0, conf_route_return_parse, 0, 0, 0 },
	{ "redirect",         0, conf_route_redirect_parse, 0, 0, 0 },
	{ "host_rewrite",     0, conf_route_host_rewrite_parse, 0, 0, 0 },
	{ "request_headers",  0, conf_route_request_headers_parse, 0, 0, 0 },
	{ "response_headers", 0, conf_route_response_headers_parse, 0, 0, 0 },
	{ "limits",           0, conf_limit_refs_parse, offsetof(struct conf_route, limits), 0, 0 },
	{ "auth",             0, conf_auth_parse, offsetof(struct conf_route, auth), 1, 0 },
	{ "rules",            0, conf_rules_parse, 0, 0, 0 },
	{ "rules_default",    0, conf_rules_default_parse, 0, 0, 0 },
	{ "cache",            0, conf_route_cache_parse, offsetof(struct conf_route, cache), 0, 0 },
};

CONF_TABLE(conf_route_table, "in route", conf_route_keys);

/* The action keys, indexed by enum conf_route_action. */
static const char *const conf_route_actions[] = {
	[CONF_ROUTE_UPSTREAM] = "upstream",
	[CONF_ROUTE_RETURN] = "return",
	[CONF_ROUTE_REDIRECT] = "redirect",
};

/* Keys that shape a proxied exchange, so need the upstream action. */
static const char *const conf_route_proxy_keys[] = {
	"host_rewrite", "request_headers", "response_headers", "limits", "auth", "rules",
	"rules_default", "cache",
};

/*
 * Walks route map into r, then settles its action: exactly one of the
 * action keys must be there, and the proxy keys only with "upstream".
 */
static void
conf_route_parse(struct conf_ctx *ctx, const struct node *map,
    struct conf_route *r)
{
	const struct node *key;
	size_t i, n = 0, action = 0;

	conf_map_walk(ctx, map, &conf_route_table, r);
	for (i = 0; i < CT_NELEM(conf_route_actions); i++) {
		if (node_map_key(map, conf_route_actions[i]) != NULL) {
			action = i;
			n++;
		}
	}
	if (n != 1) {
		conf_error(ctx, map, "a route %s one of \"upstream\", \"return\" "
		    "or \"redirect\"", n == 0 ? "needs" : "takes only");
		return;
	}
	r->action = (enum conf_route_action)action;
	if (r->action == CONF_ROUTE_UPSTREAM)
		return;
	for (i = 0; i < CT_NELEM(conf_route_proxy_keys); i++)
		if ((key = node_map_key(map, conf_route_proxy_keys[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for routes with "
			    "\"upstream\"", key->scalar);
}

void
conf_routes_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0) {
		conf_error(ctx, v, "\"%s\" must have at least one entry", k->name);
		return;
	}
	if ((l->routes = calloc(v->nitems, sizeof(*l->routes))) == NULL) {
		conf_oom(ctx);
		return;
	}
	l->nroutes = v->nitems;
	for (i = 0; i < v->nitems; i++)
		if (conf_expect(ctx, v->items[i], NODE_MAPPING, k->name, 1) == CT_OK)
			conf_route_parse(ctx, v->items[i], &l->routes[i]);
	conf_rules_number(ctx, l, v);
}

/* ------------------------------------------------------------------ */
/* compress */

static void
conf_compress_types_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_compress *c = obj;

	conf_words_parse(ctx, k, v, 1, CONF_TYPES_MAX, "media type",
	    conf_media_type_check, &c->types, &c->ntypes);
}

static const struct conf_key conf_compress_keys[] = {
	{ "types",    0, conf_compress_types_parse, 0, 0, 0 },
	{ "min_size", 0, conf_size_parse, offsetof(struct conf_compress, min_size), 0, CONF_COMPRESS_MIN_MAX },
	{ "level",    0, conf_int_parse, offsetof(struct conf_compress, level), 1, 9 },
};

CONF_TABLE(conf_compress_table, "in compress", conf_compress_keys);

/* The key's presence turns compression on; all its keys have defaults. */
void
conf_compress_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_compress *c = &((struct conf_listener *)obj)->compress;

	c->enabled = 1;
	c->min_size = CONF_COMPRESS_MIN_DEFAULT;
	c->level = CONF_COMPRESS_LEVEL_DEFAULT;
	conf_map_parse(ctx, k, v, &conf_compress_table, c);
	if (c->types != NULL)
		return;
	if ((c->types = calloc(1, sizeof(*c->types))) == NULL) {
		conf_oom(ctx);
		return;
	}
	c->ntypes = 1;
	if ((c->types[0] = strdup("text/html")) == NULL)
		conf_oom(ctx);
}

/* The upstreams and cache zones that l's routes name; seq is its "routes" node. */
void
conf_routes_resolve(struct conf_ctx *ctx, struct conf_listener *l,
    const struct node *seq)
{
	struct conf_route *r;
	size_t i;

	if (seq == NULL || seq->type != NODE_SEQUENCE ||
	    seq->nitems != l->nroutes)
		return;
	for (i = 0; i < l->nroutes; i++) {
		r = &l->routes[i];
		if (r->action == CONF_ROUTE_UPSTREAM && r->upstream_name != NULL)
			conf_upstream_resolve(ctx, r->upstream_name, &r->upstream,
			    node_map_get(seq->items[i], "upstream"));
		if (r->action == CONF_ROUTE_UPSTREAM)
			conf_route_cache_resolve(ctx, r->cache, node_map_get(seq->items[i], "cache"));
	}
}

static void
conf_strs_free(char **s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

static void
conf_kvs_free(struct conf_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

static void
conf_header_ops_free(struct conf_header_ops *h)
{
	conf_kvs_free(h->set, h->nset);
	conf_kvs_free(h->add, h->nadd);
	conf_strs_free(h->remove, h->nremove);
}

void
conf_routes_free(struct conf_route *routes, size_t n)
{
	struct conf_route *r;
	size_t i;

	for (i = 0; i < n; i++) {
		r = &routes[i];
		free(r->host);
		free(r->path_prefix);
		free(r->path_exact);
		conf_strs_free(r->methods, r->nmethods);
		free(r->upstream_name);
		free(r->body);
		free(r->location);
		free(r->scheme);
		free(r->host_rewrite);
		conf_header_ops_free(&r->request_headers);
		conf_header_ops_free(&r->response_headers);
		conf_limit_refs_free(&r->limits);
		conf_auth_free(r->auth);
		conf_rules_free(&r->rules);
		conf_route_cache_free(r->cache);
	}
	free(routes);
}

void
conf_compress_free(struct conf_compress *c)
{
	conf_strs_free(c->types, c->ntypes);
}

void
conf_compress_dump(const struct conf_compress *c, FILE *out)
{
	char b[32];

	if (!c->enabled) {
		fputs("    # compress: (off)\n", out);
		return;
	}
	fputs("    compress:\n", out);
	conf_dump_strs(out, 6, "types", c->types, c->ntypes);
	fprintf(out, "      min_size: %s\n      level: %d\n",
	    conf_size_format(c->min_size, b, sizeof(b)), c->level);
}

/* set or add of a route's headers; the names are keys, never expanded. */
static void
conf_kvs_dump(FILE *out, const char *key, const struct conf_kv *kv, size_t n)
{
	size_t i;

	if (n == 0) {
		fprintf(out, "          %s: {}\n", key);
		return;
	}
	fprintf(out, "          %s:\n", key);
	for (i = 0; i < n; i++) {
		fputs("            ", out);
		conf_dump_str(out, kv[i].name, 0);
		fputs(": ", out);
		conf_dump_str(out, kv[i].value, 1);
		putc('\n', out);
	}
}

static void
conf_header_ops_dump(FILE *out, const char *key,
    const struct conf_header_ops *h)
{
	fprintf(out, "        %s:\n", key);
	conf_kvs_dump(out, "set", h->set, h->nset);
	conf_kvs_dump(out, "add", h->add, h->nadd);
	conf_dump_strs(out, 10, "remove", h->remove, h->nremove);
}

/* Only the match fields that are set: an absent one matches anything. */
static void
conf_match_dump(const struct conf_route *r, FILE *out)
{
	if (r->host == NULL && r->path_prefix == NULL &&
	    r->path_exact == NULL && r->nmethods == 0 && r->client_cert == CONF_CLIENT_CERT_ANY) {
		fputs("      - match: {}\n", out);
		return;
	}
	fputs("      - match:\n", out);
	if (r->host != NULL)
		conf_dump_kv(out, 10, "host", r->host);
	if (r->path_prefix != NULL)
		conf_dump_kv(out, 10, "path_prefix", r->path_prefix);
	if (r->path_exact != NULL)
		conf_dump_kv(out, 10, "path_exact", r->path_exact);
	if (r->nmethods > 0)
		conf_dump_strs(out, 10, "methods", r->methods, r->nmethods);
	if (r->client_cert != CONF_CLIENT_CERT_ANY)
		fprintf(out, "          client_cert: %s\n", conf_enum_name(conf_client_cert_names,
		    CT_NELEM(conf_client_cert_names), r->client_cert));
}

static void
conf_route_dump(const struct conf_route *r, FILE *out)
{
	conf_match_dump(r, out);
	conf_limit_refs_dump(&r->limits, out, 8);
	switch (r->action) {
	case CONF_ROUTE_UPSTREAM:
		conf_dump_kv(out, 8, "upstream", r->upstream_name);
		if (r->host_rewrite != NULL)
			conf_dump_kv(out, 8, "host_rewrite", r->host_rewrite);
		else
			fputs("        # host_rewrite: (the client's Host)\n", out);
		conf_header_ops_dump(out, "request_headers", &r->request_headers);
		conf_header_ops_dump(out, "response_headers",
		    &r->response_headers);
		conf_rules_dump(&r->rules, out);
		conf_route_cache_dump(r->cache, out);
		break;
	case CONF_ROUTE_RETURN:
		fprintf(out, "        return:\n          status: %u\n", r->status);
		conf_dump_kv(out, 10, "body", r->body);
		break;
	case CONF_ROUTE_REDIRECT:
		fprintf(out, "        redirect:\n          status: %u\n", r->status);
		if (r->location != NULL)
			conf_dump_kv(out, 10, "location", r->location);
		if (r->scheme != NULL)
			conf_dump_kv(out, 10, "scheme", r->scheme);
		if (r->port != 0)
			fprintf(out, "          port: %u\n", r->port);
		break;
	case CONF_ROUTE_FORWARD:
		break;
	}
	conf_auth_dump(r->auth, 8, out);
}

void
conf_routes_dump(const struct conf_route *routes, size_t n, FILE *out)
{
	size_t i;

	fputs("    routes:\n", out);
	for (i = 0; i < n; i++)
		conf_route_dump(&routes[i], out);
}

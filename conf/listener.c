/*
 * The "listeners" section.  A listener's mode decides which of its keys
 * it must and must not have, so that check follows the walk of each
 * listener; what spans listeners and upstreams (unique names and
 * addresses, upstreams that exist) waits for the second pass, when
 * every upstream is known.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/addr.h"
#include "lib/ct.h"

#define CONF_CONNECT_DEFAULT (UINT64_C(5) * 1000)
#define CONF_IDLE_TCP_DEFAULT (UINT64_C(10) * 60 * 1000)
#define CONF_IDLE_HTTP_DEFAULT (UINT64_C(75) * 1000)
#define CONF_HTTP_TIMEOUT_DEFAULT (UINT64_C(60) * 1000)  /* header, send, read */
#define CONF_BODY_MAX       (UINT64_C(1) << 40)
#define CONF_BODY_DEFAULT   (UINT64_C(1) << 30)
#define CONF_HEAD_MIN       (UINT64_C(1) << 10)
#define CONF_HEAD_MAX       (UINT64_C(1) << 20)
#define CONF_HEAD_DEFAULT   (UINT64_C(32) << 10)
#define CONF_UDP_TIMEOUT_DEFAULT (UINT64_C(30) * 1000)
#define CONF_UDP_SESSIONS_DEFAULT 4096

static const char *const conf_mode_names[] = {
	[CONF_MODE_TCP] = "tcp",
	[CONF_MODE_HTTP] = "http",
	[CONF_MODE_UDP] = "udp",
	[CONF_MODE_FORWARD] = "forward",
	[CONF_MODE_SOCKS] = "socks",
};

static const char *const conf_log_format_names[] = {
	[CONF_LOG_TEXT] = "text",
	[CONF_LOG_JSON] = "json",
};

static const char *const conf_underscores_names[] = {
	[CONF_UNDERSCORES_DROP] = "drop",
	[CONF_UNDERSCORES_REJECT] = "reject",
	[CONF_UNDERSCORES_PASS] = "pass",
};

static void
conf_listener_name_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (!conf_name_valid(t)) {
		conf_name_error(ctx, v, "listener", t);
		free(t);
		return;
	}
	l->name = t;
}

static void
conf_listener_listen_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (addr_parse(t, 1, &l->addr, &why) == CT_ERROR) {
		conf_error(ctx, v, "invalid address \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	l->listen = t;
}

static void
conf_listener_mode_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_mode_names,
	    CT_NELEM(conf_mode_names), &i) == CT_OK) {
		l->mode = (enum conf_mode)i;
		ctx->mode_set = 1;
	}
}

/*
 * Only kept here; conf_listener_mode_check() says whether the mode
 * wants it, and conf_listeners_check() resolves it.
 */
static void
conf_listener_upstream_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	l->upstream_name = conf_text(ctx, k, v);
}

void
conf_cidrs_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, struct cidr **out, size_t *n)
{
	char q[CONF_QUOTE_LEN];
	const struct node *item;
	const char *why;
	size_t i;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR ||
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
		if (cidr_parse(t, &(*out)[i], &why) == CT_ERROR)
			conf_error(ctx, item, "invalid CIDR \"%s\" for \"%s\": %s",
			    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
	}
}

static void
conf_acl_allow_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_acl *acl = obj;

	conf_cidrs_parse(ctx, k, v, &acl->allow, &acl->nallow);
}

static void
conf_acl_deny_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_acl *acl = obj;

	conf_cidrs_parse(ctx, k, v, &acl->deny, &acl->ndeny);
}

static const struct conf_key conf_acl_keys[] = {
	{ "allow", 0, conf_acl_allow_parse, 0, 0, 0 },
	{ "deny",  0, conf_acl_deny_parse, 0, 0, 0 },
};

CONF_TABLE(conf_acl_table, "in acl", conf_acl_keys);

static void
conf_listener_acl_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	conf_map_parse(ctx, k, v, &conf_acl_table, &l->acl);
}

static const struct conf_key conf_timeouts_keys[] = {
	{ "connect", 0, conf_duration_parse, offsetof(struct conf_listener, connect_timeout_ms), 1, CONF_DURATION_MAX },
	{ "idle",    0, conf_duration_parse, offsetof(struct conf_listener, idle_timeout_ms), 1, CONF_DURATION_MAX },
	{ "header",  0, conf_duration_parse, offsetof(struct conf_listener, header_timeout_ms), 1, CONF_DURATION_MAX },
	{ "send",    0, conf_duration_parse, offsetof(struct conf_listener, send_timeout_ms), 1, CONF_DURATION_MAX },
	{ "read",    0, conf_duration_parse, offsetof(struct conf_listener, read_timeout_ms), 1, CONF_DURATION_MAX },
	{ "handshake", 0, conf_duration_parse, offsetof(struct conf_listener, handshake_timeout_ms), 1, CONF_DURATION_MAX },
};

CONF_TABLE(conf_timeouts_table, "in timeouts", conf_timeouts_keys);

static void
conf_listener_timeouts_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_timeouts_table, obj);
}

static void
conf_access_log_format_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_access_log *log = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_log_format_names,
	    CT_NELEM(conf_log_format_names), &i) == CT_OK)
		log->format = (enum conf_log_format)i;
}

static const struct conf_key conf_access_log_keys[] = {
	{ "path",   1, conf_string_parse, offsetof(struct conf_access_log, path), 0, 0 },
	{ "format", 0, conf_access_log_format_parse, 0, 0, 0 },
};

CONF_TABLE(conf_access_log_table, "in access_log", conf_access_log_keys);

static void
conf_listener_access_log_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	conf_map_parse(ctx, k, v, &conf_access_log_table, &l->access_log);
}

static void
conf_listener_underscores_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_underscores_names,
	    CT_NELEM(conf_underscores_names), &i) == CT_OK)
		l->underscores = (enum conf_underscores)i;
}

static const struct conf_key conf_udp_keys[] = {
	{ "session_timeout", 0, conf_duration_parse, offsetof(struct conf_udp, session_timeout_ms), 1, CONF_DURATION_MAX },
	{ "max_sessions",    0, conf_unsigned_parse, offsetof(struct conf_udp, max_sessions), 1, CONF_UDP_SESSIONS_MAX },
	{ "responses",       0, conf_unsigned_parse, offsetof(struct conf_udp, responses), 0, CONF_UDP_RESPONSES_MAX },
	{ "connect_timeout", 0, conf_duration_parse, offsetof(struct conf_udp, connect_timeout_ms), 1, CONF_DURATION_MAX },
};

CONF_TABLE(conf_udp_table, "in udp", conf_udp_keys);

static void
conf_listener_udp_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	conf_map_parse(ctx, k, v, &conf_udp_table, &l->udp);
}

/* upstream and routes are required by mode: conf_listener_mode_check() */
static const struct conf_key conf_listener_keys[] = {
	{ "name",            1, conf_listener_name_parse, 0, 0, 0 },
	{ "listen",          1, conf_listener_listen_parse, 0, 0, 0 },
	{ "mode",            1, conf_listener_mode_parse, 0, 0, 0 },
	{ "upstream",        0, conf_listener_upstream_parse, 0, 0, 0 },
	{ "acl",             0, conf_listener_acl_parse, 0, 0, 0 },
	{ "timeouts",        0, conf_listener_timeouts_parse, 0, 0, 0 },
	{ "retries",         0, conf_unsigned_parse, offsetof(struct conf_listener, retries), 0, CONF_RETRIES_MAX },
	{ "access_log",      0, conf_listener_access_log_parse, 0, 0, 0 },
	{ "routes",          0, conf_routes_parse, 0, 0, 0 },
	{ "max_body_size",   0, conf_size_parse, offsetof(struct conf_listener, max_body_size), 0, CONF_BODY_MAX },
	{ "max_header_size", 0, conf_size_parse, offsetof(struct conf_listener, max_header_size), CONF_HEAD_MIN, CONF_HEAD_MAX },
	{ "compress",        0, conf_compress_parse, 0, 0, 0 },
	{ "underscores_in_headers", 0, conf_listener_underscores_parse, 0, 0, 0 },
	{ "forward_normalized_path", 0, conf_bool_parse, offsetof(struct conf_listener, forward_normalized_path), 0, 0 },
	{ "sni",             0, conf_sni_parse, 0, 0, 0 },
	{ "tls",             0, conf_tls_parse, 0, 0, 0 },
	{ "limits",          0, conf_limit_refs_parse, offsetof(struct conf_listener, limits), 0, 0 },
	{ "auth",            0, conf_auth_parse, offsetof(struct conf_listener, auth), 0, 0 },
	{ "geo",             0, conf_geo_parse, 0, 0, 0 },
	{ "bandwidth",       0, conf_bandwidth_parse, offsetof(struct conf_listener, bandwidth), 0, 0 },
	{ "udp",             0, conf_listener_udp_parse, 0, 0, 0 },
	{ "forward",         0, conf_forward_parse, offsetof(struct conf_listener, proxy), 0, 0 },
	{ "socks",           0, conf_socks_parse, offsetof(struct conf_listener, proxy), 0, 0 },
	{ "destinations",    0, conf_dest_parse, offsetof(struct conf_listener, dest), 0, 0 },
	{ "via",             0, conf_via_parse, offsetof(struct conf_listener, via), 0, 0 },
	{ "approval",        0, conf_approval_parse, 0, 0, 0 },
};

CONF_TABLE(conf_listener_table, "in listener", conf_listener_keys);

/* Keys of a listener, and of its timeouts, that only mode http has. */
static const char *const conf_http_keys[] = {
	"routes", "max_body_size", "max_header_size", "compress",
	"underscores_in_headers", "forward_normalized_path", "auth",
};

static const char *const conf_http_timeouts[] = { "header", "send", "read" };

/*
 * Which modes have an http key or timeout: mode forward relays its
 * absolute-form requests as mode http does, within the same bounds.
 */
static const char *
conf_http_key_owner(const char *name)
{
	return strcmp(name, "max_header_size") == 0 || strcmp(name, "send") == 0 ||
	    strcmp(name, "read") == 0 ? "modes http and forward" : "mode http";
}

/* Keys of a listener that only modes forward and socks have, and the one each has. */
static const char *const conf_proxy_keys[] = { "forward", "socks", "destinations", "via" };
static const char *const conf_proxy_owners[] = { "mode forward", "mode socks",
    "modes forward and socks", "modes forward and socks (an upstream has its own)" };
static const char *const conf_proxy_timeouts[] = { "handshake" };

static void conf_listener_tls_build(struct conf_ctx *ctx, const struct node *map,
    struct conf_listener *l);
static void conf_listener_auth_check(struct conf_listener *l);

/*
 * Modes forward and socks: a client names its destination, so there is
 * no upstream to relay to, and no routes; credentials come in the
 * protocol's own way (Proxy-Authorization, RFC 1929), from auth's file.
 */
static void
conf_listener_proxy_check(struct conf_ctx *ctx, const struct node *map,
    struct conf_listener *l)
{
	const char *mode = conf_mode_name(l->mode);
	int fwd = l->mode == CONF_MODE_FORWARD;
	const char *own = fwd ? "forward" : "socks";
	const struct node *key, *timeouts = node_map_get(map, "timeouts");
	size_t i;

	for (i = 0; i < CT_NELEM(conf_http_keys); i++)
		if (strcmp(conf_http_keys[i], "auth") != 0 &&
		    (!fwd || strcmp(conf_http_key_owner(conf_http_keys[i]), "mode http") == 0) &&
		    (key = node_map_key(map, conf_http_keys[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for %s", key->scalar,
			    conf_http_key_owner(key->scalar));
	/* Absolute-form requests of mode forward: their heads within handshake. */
	for (i = 0; i < CT_NELEM(conf_http_timeouts); i++)
		if ((!fwd || strcmp(conf_http_key_owner(conf_http_timeouts[i]), "mode http") == 0) &&
		    (key = node_map_key(timeouts, conf_http_timeouts[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for %s", key->scalar,
			    conf_http_key_owner(key->scalar));
	if ((key = node_map_key(map, "upstream")) != NULL)
		conf_error(ctx, key, "\"upstream\" is not used with mode %s; clients name "
		    "their destinations", mode);
	if ((key = node_map_key(map, "sni")) != NULL)
		conf_error(ctx, key, "\"sni\" is only for mode tcp");
	for (i = 0; i < 2; i++)
		if (strcmp(conf_proxy_keys[i], own) != 0 &&
		    (key = node_map_key(map, conf_proxy_keys[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for %s", key->scalar,
			    conf_proxy_owners[i]);
	if (l->geo != NULL && l->geo->header != NULL)
		conf_error(ctx, node_map_key(node_map_get(map, "geo"), "header"), "\"header\" "
		    "in geo is only for mode http");
	if (l->idle_timeout_ms == 0)
		l->idle_timeout_ms = CONF_IDLE_TCP_DEFAULT;
	if (l->handshake_timeout_ms == 0)
		l->handshake_timeout_ms = CONF_HANDSHAKE_DEFAULT;
	conf_proxy_defaults(ctx, &l->proxy, fwd);
	conf_listener_tls_build(ctx, map, l);
	l->max_body_size = 0;
	if (fwd) {
		/* The absolute-form requests go through mode http's machinery. */
		l->header_timeout_ms = l->handshake_timeout_ms;
		conf_listener_auth_check(l);
		return;
	}
	l->header_timeout_ms = l->send_timeout_ms = l->read_timeout_ms = 0;
	l->max_header_size = 0;
}

/*
 * The keys a udp listener has; every other key of a listener is about
 * a connection (its TLS, timeouts, retries, limits, bandwidth) or a
 * request, which a datagram session has not.
 */
static const char *const conf_udp_listener_keys[] = {
	"name", "listen", "mode", "upstream", "acl", "access_log", "udp",
};

/* Why some of the other keys do not apply, after "... is not used with mode udp". */
static const struct {
	const char *key;
	const char *why;
} conf_udp_not_keys[] = {
	{ "timeouts", "; a session ends after udp.session_timeout without a datagram" },
	{ "retries", "; a datagram is sent once, and a server that refuses it ends the session" },
	{ "tls", "; TLS runs over a stream, not over datagrams" },
	{ "sni", "; TLS runs over a stream, not over datagrams" },
	{ "approval", "; a datagram cannot be held while someone decides: it would have to "
	    "be queued or dropped, and the client's own retries and timeouts would decide first "
	    "(use acl)" },
};

/*
 * Defaults that do not depend on the mode.  The idle timeout does, and
 * is left at 0 (which no one can write) for conf_listener_mode_check().
 */
static void
conf_listener_init(struct conf_listener *l)
{
	l->connect_timeout_ms = CONF_CONNECT_DEFAULT;
	l->header_timeout_ms = CONF_HTTP_TIMEOUT_DEFAULT;
	l->send_timeout_ms = CONF_HTTP_TIMEOUT_DEFAULT;
	l->read_timeout_ms = CONF_HTTP_TIMEOUT_DEFAULT;
	l->retries = 1;
	l->max_body_size = CONF_BODY_DEFAULT;
	l->max_header_size = CONF_HEAD_DEFAULT;
	conf_proxy_init(&l->proxy);
}

static void
conf_listener_tls_build(struct conf_ctx *ctx, const struct node *map,
    struct conf_listener *l)
{
	const struct node *routes = node_map_get(map, "routes");
	size_t i;

	if (l->tls != NULL)
		conf_tls_build(ctx, l->tls, node_map_get(map, "tls"),
		    l->name != NULL ? l->name : "", l->mode == CONF_MODE_HTTP);
	if (l->tls != NULL && l->tls->verify != CONF_TLS_VERIFY_NONE)
		return;
	/* A match on a certificate that is never asked for would never hold. */
	for (i = 0; i < l->nroutes && routes != NULL && i < routes->nitems; i++)
		if (l->routes[i].client_cert != CONF_CLIENT_CERT_ANY)
			conf_error(ctx, routes->items[i], "a route that matches \"client_cert\" "
			    "needs \"tls\" with \"verify: optional\" or \"verify: required\"");
}

/* Whether any request of l may be authenticated, for its access log's fields. */
static void
conf_listener_auth_check(struct conf_listener *l)
{
	size_t i;

	l->auth_any = l->auth != NULL;
	for (i = 0; i < l->nroutes; i++)
		if (l->routes[i].auth != NULL && !l->routes[i].auth->off)
			l->auth_any = 1;
}

/*
 * After the walk of listener map, once its mode is known: the keys
 * that mode requires and refuses, and the mode's defaults.  A tcp
 * listener keeps none of the HTTP values, so that nothing reads them
 * by mistake.
 */
/* Is name one of names (n of them)? */
static int
conf_name_in(const char *name, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* Is name a key of a listener, of any mode? */
static int
conf_listener_key(const char *name)
{
	size_t i;

	for (i = 0; i < CT_NELEM(conf_listener_keys); i++)
		if (strcmp(name, conf_listener_keys[i].name) == 0)
			return 1;
	return 0;
}

/*
 * A udp listener: an upstream, its own block's defaults, and none of
 * the keys of a stream.
 */
static void
conf_listener_udp_check(struct conf_ctx *ctx, const struct node *map,
    struct conf_listener *l)
{
	const struct node *key;
	const char *why;
	size_t i, j;

	if (node_map_key(map, "upstream") == NULL)
		conf_error(ctx, map, "missing required key \"upstream\" in listener");
	for (i = 0; i < map->npairs; i++) {
		key = map->pairs[i].key;
		/* Unknown and repeated keys were told already. */
		if (conf_name_in(key->scalar, conf_udp_listener_keys,
		    CT_NELEM(conf_udp_listener_keys)) || !conf_listener_key(key->scalar) ||
		    node_map_key(map, key->scalar) != key)
			continue;
		why = "";
		for (j = 0; j < CT_NELEM(conf_udp_not_keys); j++)
			if (strcmp(key->scalar, conf_udp_not_keys[j].key) == 0)
				why = conf_udp_not_keys[j].why;
		conf_error(ctx, key, "\"%s\" is not used with mode udp%s", key->scalar, why);
	}
	if (l->udp.session_timeout_ms == 0)
		l->udp.session_timeout_ms = CONF_UDP_TIMEOUT_DEFAULT;
	if (l->udp.max_sessions == 0)
		l->udp.max_sessions = CONF_UDP_SESSIONS_DEFAULT;
	if (l->udp.connect_timeout_ms == 0)
		l->udp.connect_timeout_ms = CONF_CONNECT_DEFAULT;
	l->header_timeout_ms = l->send_timeout_ms = l->read_timeout_ms = 0;
	l->max_body_size = l->max_header_size = 0;
}

static void
conf_listener_mode_check(struct conf_ctx *ctx, const struct node *map,
    struct conf_listener *l)
{
	const struct node *key, *timeouts = node_map_get(map, "timeouts");
	size_t i;

	if (l->mode == CONF_MODE_UDP) {
		conf_listener_udp_check(ctx, map, l);
		return;
	}
	if ((key = node_map_key(map, "udp")) != NULL)
		conf_error(ctx, key, "\"udp\" is only for mode udp");
	if (l->mode == CONF_MODE_FORWARD || l->mode == CONF_MODE_SOCKS) {
		conf_listener_proxy_check(ctx, map, l);
		return;
	}
	for (i = 0; i < CT_NELEM(conf_proxy_keys); i++)
		if ((key = node_map_key(map, conf_proxy_keys[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for %s", key->scalar,
			    conf_proxy_owners[i]);
	for (i = 0; i < CT_NELEM(conf_proxy_timeouts); i++)
		if ((key = node_map_key(timeouts, conf_proxy_timeouts[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for modes forward and socks",
			    key->scalar);
	if ((key = node_map_key(node_map_get(node_map_get(map, "approval"), "rules"),
	    "destinations")) != NULL)
		conf_error(ctx, key, "\"destinations\" in approval rules is only for modes forward "
		    "and socks: other clients name no destination");
	if (l->mode == CONF_MODE_HTTP) {
		if ((key = node_map_key(map, "upstream")) != NULL)
			conf_error(ctx, key, "\"upstream\" is not used with mode "
			    "http; routes name their upstreams");
		if (node_map_key(map, "routes") == NULL)
			conf_error(ctx, map, "missing required key \"routes\" in "
			    "listener");
		if ((key = node_map_key(map, "sni")) != NULL)
			conf_error(ctx, key, "\"sni\" is only for mode tcp; routes "
			    "match the Host of a request");
		if (l->idle_timeout_ms == 0)
			l->idle_timeout_ms = CONF_IDLE_HTTP_DEFAULT;
		conf_listener_tls_build(ctx, map, l);
		conf_listener_auth_check(l);
		return;
	}
	if (node_map_key(map, "upstream") == NULL && node_map_key(map, "sni") == NULL)
		conf_error(ctx, map, "missing required key \"upstream\" in "
		    "listener");
	for (i = 0; i < CT_NELEM(conf_http_keys); i++)
		if ((key = node_map_key(map, conf_http_keys[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for %s", key->scalar,
			    conf_http_key_owner(key->scalar));
	for (i = 0; i < CT_NELEM(conf_http_timeouts); i++)
		if ((key = node_map_key(timeouts, conf_http_timeouts[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for %s", key->scalar,
			    conf_http_key_owner(key->scalar));
	if (l->idle_timeout_ms == 0)
		l->idle_timeout_ms = CONF_IDLE_TCP_DEFAULT;
	if (l->geo != NULL && l->geo->header != NULL)
		conf_error(ctx, node_map_key(node_map_get(map, "geo"), "header"), "\"header\" "
		    "in geo is only for mode http: a tcp listener has no request to add it to");
	if (l->tls != NULL && l->sni.enabled)
		conf_error(ctx, node_map_key(map, "tls"), "\"tls\" terminates TLS and \"sni\" "
		    "passes it through: a listener has one or the other");
	else
		conf_listener_tls_build(ctx, map, l);
	l->header_timeout_ms = l->send_timeout_ms = l->read_timeout_ms = 0;
	l->max_body_size = l->max_header_size = 0;
}

static void
conf_listeners_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	struct conf_listener *l;
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0) {
		conf_error(ctx, v, "\"%s\" must have at least one entry", k->name);
		return;
	}
	if ((conf->listeners = calloc(v->nitems, sizeof(*l))) == NULL) {
		conf_oom(ctx);
		return;
	}
	conf->nlisteners = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		l = &conf->listeners[i];
		conf_listener_init(l);
		if (conf_expect(ctx, v->items[i], NODE_MAPPING, k->name, 1) ==
		    CT_ERROR)
			continue;
		ctx->mode_set = 0;
		conf_map_walk(ctx, v->items[i], &conf_listener_table, l);
		if (ctx->mode_set)
			conf_listener_mode_check(ctx, v->items[i], l);
	}
}

static void
conf_listener_name_dup(struct conf_ctx *ctx, const struct conf_ref *dup,
    const struct conf_ref *first)
{
	char q[CONF_QUOTE_LEN];

	conf_error(ctx, dup->node, "duplicate listener name \"%s\" (first at "
	    "line %u, column %u)", conf_quote(dup->key, q, sizeof(q)),
	    first->node->line, first->node->col);
}

static void
conf_listener_addr_dup(struct conf_ctx *ctx, const struct conf_ref *dup,
    const struct conf_ref *first)
{
	const struct conf_listener *l = &ctx->conf->listeners[dup->idx];
	char a[ADDR_STRLEN];

	conf_error(ctx, dup->node, "duplicate %slistener address %s (first at line "
	    "%u, column %u)", conf_listener_dgram(l) ? "udp " : "",
	    addr_format((const struct sockaddr *)&l->addr.ss, a, sizeof(a)),
	    first->node->line, first->node->col);
}

/*
 * A tcp or udp listener's upstream: it must exist, and a hash over it
 * can only use the client's address, since there is no request to take
 * uri, header or cookie from.  Datagrams go to a udp listener's servers
 * as they are: TLS to them would need DTLS; and through proxies only
 * as SOCKS 5 relays them.  ups is the "upstreams" mapping, for the
 * positions of the hops.
 */
static void
conf_listener_upstream_check(struct conf_ctx *ctx, struct conf_listener *l,
    const struct node *v, const struct node *ups)
{
	const struct conf_upstream *u;
	char q[CONF_QUOTE_LEN];
	size_t idx = SIZE_MAX;

	conf_upstream_resolve(ctx, l->upstream_name, &idx, v);
	if (idx == SIZE_MAX)
		return;
	l->upstream = idx;
	u = &ctx->conf->upstreams[idx];
	if (u->balance == CONF_BALANCE_HASH && u->hash_key != CONF_HASH_CLIENT_IP)
		conf_error(ctx, v, "upstream \"%s\" hashes on \"%s\", which needs "
		    "mode http; a %s listener can only use hash_key client_ip",
		    conf_quote(u->name, q, sizeof(q)), conf_hash_key_name(u->hash_key),
		    conf_mode_name(l->mode));
	if (conf_listener_dgram(l) && u->tls != NULL)
		conf_error(ctx, v, "upstream \"%s\" has \"tls\", which a udp listener "
		    "cannot use: its datagrams go to the servers as they are",
		    conf_quote(u->name, q, sizeof(q)));
	if (conf_listener_dgram(l) && u->via.n > 0 && ups != NULL &&
	    ups->type == NODE_MAPPING && idx < ups->npairs)
		conf_via_udp_check(ctx, &u->via, node_map_get(ups->pairs[idx].value, "via"),
		    u->name, l->name != NULL ? l->name : "");
}

/*
 * The second pass, over listeners that parsed: unique names, unique
 * addresses, and upstreams that exist, named by a tcp listener or by
 * the routes of an http one.  seq is the "listeners" node;
 * the value nodes are found again by key for their positions (the
 * first of repeated keys, like conf_map_walk()).  The refs compare
 * addresses as bytes, which is exact since addr_parse() zero-fills.
 */
static void
conf_listeners_check(struct conf_ctx *ctx, const struct node *seq, const struct node *ups)
{
	struct conf *conf = ctx->conf;
	struct conf_ref *names, *addrs, *dgrams;
	struct conf_listener *l;
	const struct node *item;
	size_t i, nn = 0, na = 0, nd = 0;

	if (conf->nlisteners == 0)
		return;
	names = calloc(conf->nlisteners, sizeof(*names));
	addrs = calloc(conf->nlisteners, sizeof(*addrs));
	dgrams = calloc(conf->nlisteners, sizeof(*dgrams));
	if (names == NULL || addrs == NULL || dgrams == NULL) {
		conf_oom(ctx);
		goto done;
	}
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		item = seq->items[i];
		if (l->name != NULL)
			names[nn++] = (struct conf_ref){ l->name, strlen(l->name),
			    i, node_map_get(item, "name") };
		/* A port of TCP and the same port of UDP are two addresses. */
		if (l->listen != NULL && conf_listener_dgram(l))
			dgrams[nd++] = (struct conf_ref){ &l->addr.ss, l->addr.len,
			    i, node_map_get(item, "listen") };
		else if (l->listen != NULL)
			addrs[na++] = (struct conf_ref){ &l->addr.ss, l->addr.len,
			    i, node_map_get(item, "listen") };
		if ((l->mode == CONF_MODE_TCP || l->mode == CONF_MODE_UDP) &&
		    l->upstream_name != NULL)
			conf_listener_upstream_check(ctx, l, node_map_get(item, "upstream"), ups);
		if (l->mode == CONF_MODE_TCP && l->sni.enabled)
			conf_sni_resolve(ctx, &l->sni, node_map_get(item, "sni"));
		else if (l->mode == CONF_MODE_HTTP)
			conf_routes_resolve(ctx, l, node_map_get(item, "routes"));
	}
	conf_refs_dedup(ctx, names, nn, conf_listener_name_dup);
	conf_refs_dedup(ctx, addrs, na, conf_listener_addr_dup);
	conf_refs_dedup(ctx, dgrams, nd, conf_listener_addr_dup);
done:
	free(names);
	free(addrs);
	free(dgrams);
}

/* The second pass, when the "listeners" that parsed are all there. */
static void
conf_listener_section_check(struct conf_ctx *ctx, const struct node *root)
{
	const struct node *listeners = node_map_get(root, "listeners");

	if (listeners != NULL && listeners->type == NODE_SEQUENCE &&
	    listeners->nitems == ctx->conf->nlisteners)
		conf_listeners_check(ctx, listeners, node_map_get(root, "upstreams"));
}

static void
conf_listener_section_free(struct conf *conf)
{
	struct conf_listener *l;
	size_t i;

	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		free(l->name);
		free(l->listen);
		free(l->upstream_name);
		free(l->acl.allow);
		free(l->acl.deny);
		free(l->access_log.path);
		conf_routes_free(l->routes, l->nroutes);
		conf_compress_free(&l->compress);
		conf_sni_free(&l->sni);
		conf_tls_free(l->tls);
		conf_limit_refs_free(&l->limits);
		conf_auth_free(l->auth);
		conf_geo_free(l->geo);
		conf_bandwidth_free(&l->bandwidth);
		conf_proxy_free(&l->proxy);
		conf_dest_free(&l->dest);
		conf_via_free(&l->via);
		conf_approval_free(l->approval);
	}
	free(conf->listeners);
}

/* c as "addr/prefix", the canonical text of the address. */
static const char *
conf_cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family, c->net, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "(family %d)", c->family);
	snprintf(buf, len, "%s/%u", a, c->prefix);
	return buf;
}

void
conf_cidrs_dump(FILE *out, int indent, const char *key, const struct cidr *c, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;

	fprintf(out, "%*s%s: [", indent, "", key);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", out);
		conf_dump_str(out, conf_cidr_format(&c[i], buf, sizeof(buf)), 1);
	}
	fputs("]\n", out);
}

static void
conf_timeouts_dump(const struct conf_listener *l, FILE *out)
{
	char d[32];

	fprintf(out, "    timeouts:\n      connect: %s\n",
	    conf_duration_format(l->connect_timeout_ms, d, sizeof(d)));
	fprintf(out, "      idle: %s\n",
	    conf_duration_format(l->idle_timeout_ms, d, sizeof(d)));
	if (l->mode == CONF_MODE_FORWARD || l->mode == CONF_MODE_SOCKS)
		fprintf(out, "      handshake: %s\n",
		    conf_duration_format(l->handshake_timeout_ms, d, sizeof(d)));
	if (l->mode != CONF_MODE_HTTP && l->mode != CONF_MODE_FORWARD)
		return;
	if (l->mode == CONF_MODE_HTTP)
		fprintf(out, "      header: %s\n",
		    conf_duration_format(l->header_timeout_ms, d, sizeof(d)));
	fprintf(out, "      send: %s\n",
	    conf_duration_format(l->send_timeout_ms, d, sizeof(d)));
	fprintf(out, "      read: %s\n",
	    conf_duration_format(l->read_timeout_ms, d, sizeof(d)));
}

static void
conf_access_log_dump(const struct conf_access_log *log, FILE *out)
{
	if (log->path == NULL) {
		fputs("    # access_log: (none)\n", out);
		return;
	}
	fputs("    access_log:\n", out);
	conf_dump_kv(out, 6, "path", log->path);
	fprintf(out, "      format: %s\n", conf_enum_name(conf_log_format_names,
	    CT_NELEM(conf_log_format_names), log->format));
}

static void
conf_udp_dump(const struct conf_udp *u, FILE *out)
{
	char d[32];

	fprintf(out, "    udp:\n      session_timeout: %s\n      max_sessions: %u\n"
	    "      responses: %u\n", conf_duration_format(u->session_timeout_ms, d, sizeof(d)),
	    u->max_sessions, u->responses);
	fprintf(out, "      connect_timeout: %s\n",
	    conf_duration_format(u->connect_timeout_ms, d, sizeof(d)));
}

static void
conf_listener_dump(const struct conf_listener *l, FILE *out)
{
	char b[32];

	fputs("  - ", out);
	conf_dump_kv(out, 0, "name", l->name);
	conf_dump_kv(out, 4, "listen", l->listen);
	fprintf(out, "    mode: %s\n", conf_mode_name(l->mode));
	if (l->mode != CONF_MODE_HTTP && l->upstream_name != NULL)
		conf_dump_kv(out, 4, "upstream", l->upstream_name);
	fputs("    acl:\n", out);
	conf_cidrs_dump(out, 6, "allow", l->acl.allow, l->acl.nallow);
	conf_cidrs_dump(out, 6, "deny", l->acl.deny, l->acl.ndeny);
	if (l->mode == CONF_MODE_UDP) {
		conf_access_log_dump(&l->access_log, out);
		conf_udp_dump(&l->udp, out);
		return;
	}
	conf_timeouts_dump(l, out);
	fprintf(out, "    retries: %u\n", l->retries);
	conf_access_log_dump(&l->access_log, out);
	conf_tls_dump(l->tls, out);
	conf_limit_refs_dump(&l->limits, out, 4);
	conf_geo_dump(l->geo, out);
	conf_bandwidth_dump(&l->bandwidth, out);
	conf_approval_dump(l->approval, out);
	if (l->mode == CONF_MODE_FORWARD || l->mode == CONF_MODE_SOCKS) {
		conf_auth_dump(l->auth, 4, out);
		if (l->mode == CONF_MODE_FORWARD)
			fprintf(out, "    max_header_size: %s\n",
			    conf_size_format(l->max_header_size, b, sizeof(b)));
		conf_proxy_dump(&l->proxy, l->mode == CONF_MODE_FORWARD, out);
		conf_dest_dump(&l->dest, out, 4, 1);
		conf_via_dump(&l->via, out, 4);
		return;
	}
	if (l->mode != CONF_MODE_HTTP) {
		conf_sni_dump(&l->sni, out);
		return;
	}
	fprintf(out, "    max_body_size: %s\n",
	    conf_size_format(l->max_body_size, b, sizeof(b)));
	fprintf(out, "    max_header_size: %s\n",
	    conf_size_format(l->max_header_size, b, sizeof(b)));
	fprintf(out, "    underscores_in_headers: %s\n",
	    conf_enum_name(conf_underscores_names,
	    CT_NELEM(conf_underscores_names), l->underscores));
	fprintf(out, "    forward_normalized_path: %s\n",
	    conf_bool_name(l->forward_normalized_path));
	conf_compress_dump(&l->compress, out);
	conf_auth_dump(l->auth, 4, out);
	conf_routes_dump(l->routes, l->nroutes, out);
}

static void
conf_listener_section_dump(const struct conf *conf, FILE *out)
{
	size_t i;

	fputs("listeners:\n", out);
	for (i = 0; i < conf->nlisteners; i++)
		conf_listener_dump(&conf->listeners[i], out);
}

static const struct conf_key conf_listener_section_keys[] = {
	{ "listeners", 1, conf_listeners_parse, 0, 0, 0 },
};

const struct conf_section conf_listener_section = {
	conf_listener_section_keys, CT_NELEM(conf_listener_section_keys),
	NULL, conf_listener_section_check, conf_listener_section_free,
	conf_listener_section_dump,
};

const char *
conf_mode_name(enum conf_mode m)
{
	return conf_enum_name(conf_mode_names, CT_NELEM(conf_mode_names),
	    (size_t)m);
}

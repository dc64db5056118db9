/*
 * The "redis" section (conf/redis.h says what it means).
 *
 *   redis:
 *     address: 127.0.0.1:6379          # or sentinel: {addresses: [...], master: NAME}
 *     user: cuttle
 *     password_file: /etc/cuttle/redis.password
 *     database: 0
 *     prefix: edge
 *     connect_timeout: 1s
 *     command_timeout: 500ms
 *     node: edge-1
 *
 * The password is read at load, like admin.token_file, so that a
 * missing or world-readable file fails "cuttle -t" and a reload.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/addr.h"
#include "lib/ct.h"

#define CONF_REDIS_NAME_WHY "use letters, digits, \"_\", \".\" and \"-\""

/* [A-Za-z0-9_.-]{1,max}: keys, channel names and sentinel master names stay plain. */
static int
conf_redis_word_valid(const char *s, size_t max)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!conf_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

/* A node name may carry an address too: the word's characters, ':', '[' and ']'. */
static int
conf_redis_node_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > CONF_REDIS_NODE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!conf_alnum(s[i]) && strchr("_.-:[]", s[i]) == NULL)
			return 0;
	return 1;
}

/* Is host an IP literal (brackets left out)? */
static int
conf_redis_ip_literal(const char *host, size_t len)
{
	char buf[CONF_REDIS_HOST_LEN];
	unsigned char sa[16];

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, host, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, sa) == 1 || inet_pton(AF_INET6, buf, sa) == 1;
}

/*
 * Fills e from t: an absolute unix socket path; or an IP literal or
 * "localhost", with a port or defport.  Returns NULL, or why t is none
 * of them.  "localhost" is 127.0.0.1, taken here so that no lookup is
 * ever made for it.
 */
static const char *
conf_redis_endpoint_fill(const char *t, unsigned defport, struct conf_redis_endpoint *e)
{
	const char *host, *port, *why;
	char buf[CONF_REDIS_HOST_LEN + 16];
	struct addr a;
	size_t hlen;

	if (t[0] == '/') {
		if (strlen(t) > CONF_REDIS_PATH_MAX)
			return "a unix socket path must be at most 107 bytes";
		if ((e->path = strdup(t)) == NULL)
			return "out of memory";
	} else {
		if (strcmp(t, "localhost") == 0 || strncmp(t, "localhost:", 10) == 0) {
			snprintf(buf, sizeof(buf), "127.0.0.1%s", t + 9);
			t = buf;
		}
		if (addr_parse_port(t, (uint16_t)defport, &a, &why) != CT_OK) {
			/* A bare host too: "redis.example" has no port to split off. */
			if (addr_split(t, &host, &hlen, &port) != NULL) {
				host = t;
				hlen = strlen(t);
			}
			if (memchr(host, ':', hlen) == NULL && !conf_redis_ip_literal(host, hlen))
				return "use an IP address, \"localhost\" or a unix socket path: "
				    "the master looks no names up, since that would block it";
			return why;
		}
		addr_ip_format((const struct sockaddr *)&a.ss, e->host, sizeof(e->host));
		e->port = ntohs(a.ss.ss_family == AF_INET ?
		    ((const struct sockaddr_in *)&a.ss)->sin_port :
		    ((const struct sockaddr_in6 *)&a.ss)->sin6_port);
	}
	return NULL;
}

/* t (taken) into e, or an error at v. */
static void
conf_redis_endpoint_parse(struct conf_ctx *ctx, const char *key, const struct node *v,
    char *t, unsigned defport, struct conf_redis_endpoint *e)
{
	char q[CONF_QUOTE_LEN];
	const char *why;

	if ((why = conf_redis_endpoint_fill(t, defport, e)) != NULL) {
		conf_error(ctx, v, "invalid address \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), key, why);
		free(e->path);
		e->path = NULL;
		free(t);
		return;
	}
	e->text = t;
}

static void
conf_redis_endpoint_free(struct conf_redis_endpoint *e)
{
	free(e->text);
	free(e->path);
	memset(e, 0, sizeof(*e));
}

static void
conf_redis_address_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_redis *r = obj;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	conf_redis_endpoint_free(&r->address);
	conf_redis_endpoint_parse(ctx, k->name, v, t, CONF_REDIS_PORT, &r->address);
}

static void
conf_redis_sentinel_addresses_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_redis *r = obj;
	size_t i;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR ||
	    conf_count_check(ctx, k, v, v->nitems, 1, CONF_REDIS_SENTINELS_MAX) == CT_ERROR)
		return;
	if ((r->sentinels = calloc(v->nitems, sizeof(*r->sentinels))) == NULL) {
		conf_oom(ctx);
		return;
	}
	r->nsentinels = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		if (conf_expect(ctx, v->items[i], NODE_SCALAR, k->name, 1) == CT_ERROR ||
		    (t = conf_env_expand(ctx, v->items[i])) == NULL)
			continue;
		conf_redis_endpoint_parse(ctx, k->name, v->items[i], t, CONF_REDIS_SENTINEL_PORT,
		    &r->sentinels[i]);
	}
}

/* A word of [A-Za-z0-9_.-] into the char * at k->off; k->max bounds its length. */
static void
conf_redis_word_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	char **field = (char **)(void *)((char *)obj + k->off), q[CONF_QUOTE_LEN];
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (!conf_redis_word_valid(t, k->max)) {
		conf_error(ctx, v, "invalid \"%s\" \"%s\": %s, at most %u bytes", k->name,
		    conf_quote(t, q, sizeof(q)), CONF_REDIS_NAME_WHY, (unsigned)k->max);
		free(t);
		return;
	}
	free(*field);
	*field = t;
}

static const struct conf_key conf_redis_sentinel_keys[] = {
	{ "addresses", 1, conf_redis_sentinel_addresses_parse, 0, 0, 0 },
	{ "master",    1, conf_redis_word_parse, offsetof(struct conf_redis, sentinel_master),
	  0, CONF_REDIS_NAME_MAX },
};

CONF_TABLE(conf_redis_sentinel_table, "in redis sentinel", conf_redis_sentinel_keys);

static void
conf_redis_sentinel_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_redis_sentinel_table, obj);
}

static void
conf_redis_password_file_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_redis *r = obj;
	char line[CONF_REDIS_PASSWORD_MAX + 2], q[CONF_QUOTE_LEN];
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	/* The master reads it again from wherever it runs, at every reload. */
	if (t[0] != '/') {
		conf_error(ctx, v, "\"%s\" must be an absolute path", k->name);
		free(t);
		return;
	}
	if (conf_secret_read(ctx, v, k->name, t, line, sizeof(line)) != CT_OK) {
		free(t);
		return;
	}
	if (line[0] == '\0' || strlen(line) > CONF_REDIS_PASSWORD_MAX) {
		conf_error(ctx, v, "password_file \"%s\" must hold the password, 1 to %d bytes, "
		    "on its first line", conf_quote(t, q, sizeof(q)), CONF_REDIS_PASSWORD_MAX);
		free(t);
		return;
	}
	free(r->password_file);
	free(r->password);
	r->password_file = t;
	if ((r->password = strdup(line)) == NULL)
		conf_oom(ctx);
	explicit_bzero(line, sizeof(line));
}

static void
conf_redis_node_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_redis *r = obj;
	char q[CONF_QUOTE_LEN];
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (!conf_redis_node_valid(t)) {
		conf_error(ctx, v, "invalid \"node\" \"%s\": use letters, digits and \"_.-:[]\", "
		    "at most %d bytes", conf_quote(t, q, sizeof(q)), CONF_REDIS_NODE_MAX);
		free(t);
		return;
	}
	free(r->node);
	r->node = t;
}

static const struct conf_key conf_redis_keys[] = {
	{ "address",         0, conf_redis_address_parse, 0, 0, 0 },
	{ "sentinel",        0, conf_redis_sentinel_parse, 0, 0, 0 },
	{ "user",            0, conf_redis_word_parse, offsetof(struct conf_redis, user),
	  0, CONF_REDIS_NAME_MAX },
	{ "password_file",   0, conf_redis_password_file_parse, 0, 0, 0 },
	{ "database",        0, conf_unsigned_parse, offsetof(struct conf_redis, database),
	  0, CONF_REDIS_DATABASE_MAX },
	{ "prefix",          0, conf_redis_word_parse, offsetof(struct conf_redis, prefix),
	  0, CONF_REDIS_PREFIX_MAX },
	{ "connect_timeout", 0, conf_duration_parse, offsetof(struct conf_redis, connect_timeout_ms),
	  CONF_REDIS_TIMEOUT_MIN, CONF_REDIS_TIMEOUT_MAX },
	{ "command_timeout", 0, conf_duration_parse, offsetof(struct conf_redis, command_timeout_ms),
	  CONF_REDIS_TIMEOUT_MIN, CONF_REDIS_TIMEOUT_MAX },
	{ "node",            0, conf_redis_node_parse, 0, 0, 0 },
};

CONF_TABLE(conf_redis_table, "in redis", conf_redis_keys);

static void
conf_redis_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_redis *r = &((struct conf *)obj)->redis;
	const struct node *s, *u;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	r->enabled = 1;
	conf_map_walk(ctx, v, &conf_redis_table, r);
	s = node_map_get(v, "sentinel");
	if (s != NULL && node_map_get(v, "address") != NULL)
		conf_error(ctx, s, "redis takes \"address\" or \"sentinel\", not both");
	else if (s == NULL && node_map_get(v, "address") == NULL)
		conf_error(ctx, v, "redis needs \"address\" (or \"sentinel\")");
	/* Redis has no user without a password: "AUTH user" alone is no command. */
	if ((u = node_map_get(v, "user")) != NULL && node_map_get(v, "password_file") == NULL)
		conf_error(ctx, u, "\"user\" needs \"password_file\"");
	if (r->prefix == NULL && (r->prefix = strdup(CONF_REDIS_PREFIX_DEFAULT)) == NULL)
		conf_oom(ctx);
}

/*
 * The node's default name, once the admin section is known: the host
 * name, and the admin API's TCP address when there is one (nodes on one
 * host then differ).  A host name with other characters has them as "_".
 */
static void
conf_redis_section_check(struct conf_ctx *ctx, const struct node *root)
{
	struct conf_redis *r = &ctx->conf->redis;
	char host[256], name[CONF_REDIS_NODE_MAX + 1];
	size_t i;

	(void)root;
	if (!r->enabled || r->node != NULL)
		return;
	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		snprintf(host, sizeof(host), "cuttle");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (!conf_alnum(host[i]) && strchr("_.-", host[i]) == NULL)
			host[i] = '_';
	if (ctx->conf->admin.listen != NULL)
		snprintf(name, sizeof(name), "%.64s:%s", host, ctx->conf->admin.listen);
	else
		snprintf(name, sizeof(name), "%.64s", host);
	if ((r->node = strdup(name)) == NULL)
		conf_oom(ctx);
}

static int
conf_redis_section_init(struct conf *conf)
{
	conf->redis.connect_timeout_ms = CONF_REDIS_CONNECT_DEFAULT;
	conf->redis.command_timeout_ms = CONF_REDIS_COMMAND_DEFAULT;
	return CT_OK;
}

void
conf_redis_clear(struct conf_redis *r)
{
	size_t i;

	conf_redis_endpoint_free(&r->address);
	for (i = 0; i < r->nsentinels; i++)
		conf_redis_endpoint_free(&r->sentinels[i]);
	free(r->sentinels);
	free(r->sentinel_master);
	free(r->user);
	free(r->password_file);
	if (r->password != NULL)
		explicit_bzero(r->password, strlen(r->password));
	free(r->password);
	free(r->prefix);
	free(r->node);
	memset(r, 0, sizeof(*r));
}

static void
conf_redis_section_free(struct conf *conf)
{
	conf_redis_clear(&conf->redis);
}

/* strdup() of s, NULL staying NULL; sets *oom on failure. */
static char *
conf_redis_dup(const char *s, int *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

static void
conf_redis_endpoint_copy(struct conf_redis_endpoint *d, const struct conf_redis_endpoint *s,
    int *oom)
{
	memcpy(d->host, s->host, sizeof(d->host));
	d->port = s->port;
	d->text = conf_redis_dup(s->text, oom);
	d->path = conf_redis_dup(s->path, oom);
}

int
conf_redis_copy(struct conf_redis *dst, const struct conf_redis *src)
{
	int oom = 0;
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->enabled = src->enabled;
	dst->database = src->database;
	dst->connect_timeout_ms = src->connect_timeout_ms;
	dst->command_timeout_ms = src->command_timeout_ms;
	conf_redis_endpoint_copy(&dst->address, &src->address, &oom);
	if (src->nsentinels > 0) {
		if ((dst->sentinels = calloc(src->nsentinels, sizeof(*dst->sentinels))) == NULL)
			oom = 1;
		else
			dst->nsentinels = src->nsentinels;
		for (i = 0; i < dst->nsentinels; i++)
			conf_redis_endpoint_copy(&dst->sentinels[i], &src->sentinels[i], &oom);
	}
	dst->sentinel_master = conf_redis_dup(src->sentinel_master, &oom);
	dst->user = conf_redis_dup(src->user, &oom);
	dst->password_file = conf_redis_dup(src->password_file, &oom);
	dst->password = conf_redis_dup(src->password, &oom);
	dst->prefix = conf_redis_dup(src->prefix, &oom);
	dst->node = conf_redis_dup(src->node, &oom);
	if (oom) {
		conf_redis_clear(dst);
		return CT_ERROR;
	}
	return CT_OK;
}

static int
conf_redis_str_equal(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
conf_redis_endpoint_equal(const struct conf_redis_endpoint *a,
    const struct conf_redis_endpoint *b)
{
	return strcmp(a->host, b->host) == 0 && a->port == b->port &&
	    conf_redis_str_equal(a->path, b->path);
}

int
conf_redis_equal(const struct conf_redis *a, const struct conf_redis *b)
{
	size_t i;

	if (a->enabled != b->enabled || a->nsentinels != b->nsentinels ||
	    a->database != b->database || a->connect_timeout_ms != b->connect_timeout_ms ||
	    a->command_timeout_ms != b->command_timeout_ms ||
	    !conf_redis_endpoint_equal(&a->address, &b->address) ||
	    !conf_redis_str_equal(a->sentinel_master, b->sentinel_master) ||
	    !conf_redis_str_equal(a->user, b->user) ||
	    !conf_redis_str_equal(a->password, b->password) ||
	    !conf_redis_str_equal(a->prefix, b->prefix) || !conf_redis_str_equal(a->node, b->node))
		return 0;
	for (i = 0; i < a->nsentinels; i++)
		if (!conf_redis_endpoint_equal(&a->sentinels[i], &b->sentinels[i]))
			return 0;
	return 1;
}

static void
conf_redis_section_dump(const struct conf *conf, FILE *out)
{
	const struct conf_redis *r = &conf->redis;
	char b[32];
	size_t i;

	if (!r->enabled) {
		fputs("# redis: (standalone: no cluster)\n", out);
		return;
	}
	fputs("redis:\n", out);
	if (r->nsentinels > 0) {
		fputs("  sentinel:\n    addresses: [", out);
		for (i = 0; i < r->nsentinels; i++) {
			fputs(i > 0 ? ", " : "", out);
			conf_dump_str(out, r->sentinels[i].text, 1);
		}
		fputs("]\n", out);
		conf_dump_kv(out, 4, "master", r->sentinel_master);
	} else {
		conf_dump_kv(out, 2, "address", r->address.text);
	}
	if (r->user != NULL)
		conf_dump_kv(out, 2, "user", r->user);
	if (r->password_file != NULL)
		conf_dump_kv(out, 2, "password_file", r->password_file);
	fprintf(out, "  database: %u\n", r->database);
	conf_dump_kv(out, 2, "prefix", r->prefix);
	fprintf(out, "  connect_timeout: %s\n",
	    conf_duration_format(r->connect_timeout_ms, b, sizeof(b)));
	fprintf(out, "  command_timeout: %s\n",
	    conf_duration_format(r->command_timeout_ms, b, sizeof(b)));
	conf_dump_kv(out, 2, "node", r->node);
}

static const struct conf_key conf_redis_section_keys[] = {
	{ "redis", 0, conf_redis_parse, 0, 0, 0 },
};

const struct conf_section conf_redis_section = {
	conf_redis_section_keys, CT_NELEM(conf_redis_section_keys),
	conf_redis_section_init, conf_redis_section_check, conf_redis_section_free,
	conf_redis_section_dump,
};

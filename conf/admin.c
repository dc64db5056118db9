/*
 * The admin process's control API: a unix socket, a TCP listener, or
 * both, the bounds of its live events, of wrong tokens and of the
 * dashboard's sessions.  The token is read at load so that a missing, short or
 * world-readable token file fails "cuttle -t" and a reload rather than
 * the first request, and so that the admin process, which runs as the
 * configured user, needs no access to it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/addr.h"

static void
conf_admin_socket_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_admin *a = obj;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (t[0] != '/' || strlen(t) >= 108) {
		conf_error(ctx, v, "\"socket\" must be an absolute path of at most 107 bytes");
		free(t);
		return;
	}
	free(a->socket);
	a->socket = t;
}

static void
conf_admin_listen_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_admin *a = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (addr_parse(t, 1, &a->addr, &why) == CT_ERROR) {
		conf_error(ctx, v, "invalid address \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	free(a->listen);
	a->listen = t;
}

/*
 * A secret's file (a token, a password): its first line, read at load.
 * A file that its group or others may read is refused: whoever reads
 * the secret owns what it guards.
 */
int
conf_secret_read(struct conf_ctx *ctx, const struct node *v, const char *key,
    const char *path, char *line, size_t len)
{
	char q[CONF_QUOTE_LEN];
	struct stat st;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		conf_error(ctx, v, "cannot read %s \"%s\": %s", key,
		    conf_quote(path, q, sizeof(q)), strerror(errno));
		return CT_ERROR;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		conf_error(ctx, v, "%s \"%s\" is readable by %s (mode %04o): "
		    "make it readable by its owner only (chmod 600)", key,
		    conf_quote(path, q, sizeof(q)),
		    (st.st_mode & S_IROTH) != 0 ? "others" : "its group",
		    (unsigned)(st.st_mode & 07777));
		fclose(f);
		return CT_ERROR;
	}
	if (fgets(line, (int)len, f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return CT_OK;
}

/* The token is the file's first line; a file without one is an error. */
static void
conf_admin_token_file_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_admin *a = obj;
	char line[512], q[CONF_QUOTE_LEN];
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (conf_secret_read(ctx, v, k->name, t, line, sizeof(line)) != CT_OK) {
		free(t);
		return;
	}
	if (strlen(line) < 16) {
		conf_error(ctx, v, "token_file \"%s\" must hold a token of at least 16 characters "
		    "on its first line", conf_quote(t, q, sizeof(q)));
		free(t);
		return;
	}
	free(a->token_file);
	free(a->token);
	a->token_file = t;
	if ((a->token = strdup(line)) == NULL)
		conf_oom(ctx);
}

static const struct conf_key conf_events_keys[] = {
	{ "connections_per_second", 0, conf_unsigned_parse,
	  offsetof(struct conf_events, conns_per_second), 0, CONF_EVENTS_CONNS_MAX },
	{ "subscribers", 0, conf_unsigned_parse, offsetof(struct conf_events, subscribers),
	  1, CONF_EVENTS_SUBSCRIBERS_MAX },
	{ "buffer", 0, conf_size_parse, offsetof(struct conf_events, buffer),
	  CONF_EVENTS_BUFFER_MIN, CONF_EVENTS_BUFFER_MAX },
};

CONF_TABLE(conf_events_table, "in events", conf_events_keys);

static void
conf_admin_events_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_admin *a = obj;

	conf_map_parse(ctx, k, v, &conf_events_table, &a->events);
}

static const struct conf_key conf_login_keys[] = {
	{ "failures",       0, conf_unsigned_parse, offsetof(struct conf_login, failures),
	  1, CONF_LOGIN_FAILURES_MAX },
	{ "total_failures", 0, conf_unsigned_parse, offsetof(struct conf_login, total),
	  1, CONF_LOGIN_TOTAL_MAX },
	{ "window",         0, conf_duration_parse, offsetof(struct conf_login, window_ms),
	  CONF_LOGIN_WINDOW_MIN, CONF_LOGIN_WINDOW_MAX },
};

CONF_TABLE(conf_login_table, "in login", conf_login_keys);

/*
 * A total below the limit of one address would lock everyone out before
 * that address: an error when written so, and raised to the limit when
 * the total is the default.
 */
static void
conf_admin_login_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_login *l = &((struct conf_admin *)obj)->login;
	const struct node *n;

	conf_map_parse(ctx, k, v, &conf_login_table, l);
	if (l->total >= l->failures)
		return;
	if (v->type == NODE_MAPPING && (n = node_map_get(v, "total_failures")) != NULL)
		conf_error(ctx, n, "\"total_failures\" (%u) must be at least \"failures\" (%u)",
		    l->total, l->failures);
	else
		l->total = l->failures;
}

static const struct conf_key conf_session_keys[] = {
	{ "lifetime", 0, conf_duration_parse, offsetof(struct conf_session, lifetime_ms),
	  CONF_SESSION_MIN, CONF_SESSION_MAX },
	{ "idle",     0, conf_duration_parse, offsetof(struct conf_session, idle_ms),
	  CONF_SESSION_MIN, CONF_SESSION_MAX },
};

CONF_TABLE(conf_session_table, "in session", conf_session_keys);

/* An idle time past the lifetime never ends a session: written so, an error. */
static void
conf_admin_session_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_session *s = &((struct conf_admin *)obj)->session;
	const struct node *n;
	char a[32], b[32];

	conf_map_parse(ctx, k, v, &conf_session_table, s);
	if (s->idle_ms <= s->lifetime_ms)
		return;
	if (v->type == NODE_MAPPING && (n = node_map_get(v, "idle")) != NULL)
		conf_error(ctx, n, "\"idle\" (%s) must be at most the lifetime (%s)",
		    conf_duration_format(s->idle_ms, a, sizeof(a)),
		    conf_duration_format(s->lifetime_ms, b, sizeof(b)));
	else
		s->idle_ms = s->lifetime_ms;
}

static const struct conf_key conf_admin_keys[] = {
	{ "socket",     0, conf_admin_socket_parse, 0, 0, 0 },
	{ "listen",     0, conf_admin_listen_parse, 0, 0, 0 },
	{ "token_file", 0, conf_admin_token_file_parse, 0, 0, 0 },
	{ "events",     0, conf_admin_events_parse, 0, 0, 0 },
	{ "login",      0, conf_admin_login_parse, 0, 0, 0 },
	{ "session",    0, conf_admin_session_parse, 0, 0, 0 },
};

CONF_TABLE(conf_admin_table, "in admin", conf_admin_keys);

static void
conf_admin_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;

	conf_map_parse(ctx, k, v, &conf_admin_table, &conf->admin);
	if (conf->admin.listen != NULL && conf->admin.token == NULL &&
	    v->type == NODE_MAPPING && node_map_get(v, "token_file") == NULL)
		conf_error(ctx, v, "admin.listen needs token_file: no request is served "
		    "on TCP without a token");
}

static int
conf_admin_section_init(struct conf *conf)
{
	conf->admin.events.conns_per_second = CONF_EVENTS_CONNS_DEFAULT;
	conf->admin.events.subscribers = CONF_EVENTS_SUBSCRIBERS_DEFAULT;
	conf->admin.events.buffer = CONF_EVENTS_BUFFER_DEFAULT;
	conf->admin.login.failures = CONF_LOGIN_FAILURES_DEFAULT;
	conf->admin.login.total = CONF_LOGIN_TOTAL_DEFAULT;
	conf->admin.login.window_ms = CONF_LOGIN_WINDOW_DEFAULT;
	conf->admin.session.lifetime_ms = CONF_SESSION_LIFETIME_DEFAULT;
	conf->admin.session.idle_ms = CONF_SESSION_IDLE_DEFAULT;
	return CT_OK;
}

static void
conf_admin_section_free(struct conf *conf)
{
	free(conf->admin.socket);
	free(conf->admin.listen);
	free(conf->admin.token_file);
	free(conf->admin.token);
}

static void
conf_admin_section_dump(const struct conf *conf, FILE *out)
{
	char b[32], c[32];

	if (conf->admin.socket == NULL && conf->admin.listen == NULL)
		return;
	fputs("admin:\n", out);
	if (conf->admin.socket != NULL)
		conf_dump_kv(out, 2, "socket", conf->admin.socket);
	if (conf->admin.listen != NULL)
		conf_dump_kv(out, 2, "listen", conf->admin.listen);
	if (conf->admin.token_file != NULL)
		conf_dump_kv(out, 2, "token_file", conf->admin.token_file);
	fprintf(out, "  events: {connections_per_second: %u, subscribers: %u, buffer: %s}\n",
	    conf->admin.events.conns_per_second, conf->admin.events.subscribers,
	    conf_size_format(conf->admin.events.buffer, b, sizeof(b)));
	fprintf(out, "  login: {failures: %u, total_failures: %u, window: %s}\n",
	    conf->admin.login.failures, conf->admin.login.total,
	    conf_duration_format(conf->admin.login.window_ms, b, sizeof(b)));
	fprintf(out, "  session: {lifetime: %s, idle: %s}\n",
	    conf_duration_format(conf->admin.session.lifetime_ms, b, sizeof(b)),
	    conf_duration_format(conf->admin.session.idle_ms, c, sizeof(c)));
}

static const struct conf_key conf_admin_section_keys[] = {
	{ "admin", 0, conf_admin_parse, 0, 0, 0 },
};

const struct conf_section conf_admin_section = {
	conf_admin_section_keys, CT_NELEM(conf_admin_section_keys),
	conf_admin_section_init, NULL, conf_admin_section_free, conf_admin_section_dump,
};

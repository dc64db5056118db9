/*
 * A listener's "geo": the MaxMind DB is opened and the CIDR files are
 * read while the configuration loads, each error at the position of the
 * value that names the file (and the file's line), so that a file that
 * went bad makes a reload fail and the running configuration stays.
 * Workers inherit the mapping of the database and the parsed lists.
 */
#include <errno.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"

#define CONF_GEO_COUNTRIES_MAX  300             /* ISO 3166-1 has 249 */
#define CONF_GEO_FILES_MAX      16
#define CONF_GEO_FILE_MAX       (UINT64_C(64) << 20)

static void
conf_geo_database_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_geo *g = obj;
	char q[CONF_QUOTE_LEN];
	int rc, err, io;

	if ((g->database = conf_text_nonempty(ctx, k, v)) == NULL ||
	    conf_tls_readable(ctx, v, "database", g->database) != CT_OK)
		return;
	if ((g->mmdb = calloc(1, sizeof(*g->mmdb))) == NULL) {
		conf_oom(ctx);
		return;
	}
	errno = 0;
	if ((rc = MMDB_open(g->database, MMDB_MODE_MMAP, g->mmdb)) == MMDB_SUCCESS)
		return;
	err = errno;
	io = (rc == MMDB_IO_ERROR || rc == MMDB_FILE_OPEN_ERROR) && err != 0;
	conf_error(ctx, v, "cannot open database \"%s\": %s%s%s%s",
	    conf_quote(g->database, q, sizeof(q)), MMDB_strerror(rc), io ? " (" : "",
	    io ? strerror(err) : "", io ? ")" : "");
	free(g->mmdb);
	g->mmdb = NULL;
}

/* Two ASCII letters, upper-cased in place. */
static const char *
conf_geo_country_check(char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == 2 || !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return "a country is an ISO 3166-1 alpha-2 code, two letters";
		if (s[i] >= 'a')
			s[i] = (char)(s[i] - 32);
	}
	return i == 2 ? NULL : "a country is an ISO 3166-1 alpha-2 code, two letters";
}

static void
conf_geo_countries_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, struct conf_geo *g)
{
	/* Both lists: conf_geo_check() says so; the second is not kept. */
	if (g->countries != NULL)
		return;
	conf_words_parse(ctx, k, v, 1, CONF_GEO_COUNTRIES_MAX, "country",
	    conf_geo_country_check, &g->countries, &g->ncountries);
}

static void
conf_geo_allow_countries_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_geo_countries_parse(ctx, k, v, obj);
}

static void
conf_geo_deny_countries_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_geo *g = obj;

	if (g->countries == NULL)
		g->deny_countries = 1;
	conf_geo_countries_parse(ctx, k, v, g);
}

/* Reads file f->path into f's networks; errors at n, the value that names it. */
static void
conf_geo_cidr_file_read(struct conf_ctx *ctx, const struct node *n,
    struct conf_cidr_file *f)
{
	char q[CONF_QUOTE_LEN], bad[CONF_QUOTE_LEN];
	struct cidr_list_error err;
	unsigned char *buf = NULL;
	size_t len = 0;

	if (conf_file_slurp(f->path, CONF_GEO_FILE_MAX, &buf, &len) != CT_OK) {
		/* An empty list is a list: one that is filled in later, say. */
		if (errno == ENODATA)
			return;
		conf_error(ctx, n, "cannot read CIDR file \"%s\": %s",
		    conf_quote(f->path, q, sizeof(q)), strerror(errno));
		return;
	}
	if (cidr_list_parse((const char *)buf, len, &f->nets, &f->nnets, &err) != CT_OK) {
		if (err.line == 0) {
			conf_oom(ctx);
		} else {
			snprintf(bad, sizeof(bad), "%.*s", (int)CT_MIN(err.len, sizeof(bad) - 1),
			    (const char *)buf + err.off);
			conf_error(ctx, n, "%s:%zu: invalid CIDR \"%s\": %s",
			    conf_quote(f->path, q, sizeof(q)), err.line,
			    conf_quote(bad, bad, sizeof(bad)), err.why);
		}
	}
	free(buf);
}

static void
conf_geo_cidr_files_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, struct conf_cidr_file **out, size_t *n)
{
	const struct node *item;
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0 || v->nitems > CONF_GEO_FILES_MAX) {
		conf_error(ctx, v, "\"%s\" takes 1 to %d files", k->name, CONF_GEO_FILES_MAX);
		return;
	}
	if ((*out = calloc(v->nitems, sizeof(**out))) == NULL) {
		conf_oom(ctx);
		return;
	}
	*n = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		item = v->items[i];
		if (conf_expect(ctx, item, NODE_SCALAR, k->name, 1) == CT_ERROR ||
		    ((*out)[i].path = conf_env_expand(ctx, item)) == NULL)
			continue;
		conf_geo_cidr_file_read(ctx, item, &(*out)[i]);
	}
}

static void
conf_geo_cidr_allow_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_geo *g = obj;

	conf_geo_cidr_files_parse(ctx, k, v, &g->allow, &g->nallow);
}

static void
conf_geo_cidr_deny_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_geo *g = obj;

	conf_geo_cidr_files_parse(ctx, k, v, &g->deny, &g->ndeny);
}

static const struct conf_key conf_geo_keys[] = {
	{ "database",        0, conf_geo_database_parse, 0, 0, 0 },
	{ "allow_countries", 0, conf_geo_allow_countries_parse, 0, 0, 0 },
	{ "deny_countries",  0, conf_geo_deny_countries_parse, 0, 0, 0 },
	{ "cidr_allow",      0, conf_geo_cidr_allow_parse, 0, 0, 0 },
	{ "cidr_deny",       0, conf_geo_cidr_deny_parse, 0, 0, 0 },
	{ "header",          0, conf_token_parse, offsetof(struct conf_geo, header), 0, 0 },
};

CONF_TABLE(conf_geo_table, "in geo", conf_geo_keys);

/*
 * What spans keys: one list of countries, and countries or a header only
 * with a database to look them up in.  A header on a tcp listener is
 * refused by the listener's mode check, which knows the mode.
 */
static void
conf_geo_check(struct conf_ctx *ctx, const struct node *map, const struct conf_geo *g)
{
	const struct node *allow = node_map_key(map, "allow_countries");
	const struct node *deny = node_map_key(map, "deny_countries");

	if (allow != NULL && deny != NULL)
		conf_error(ctx, allow->line > deny->line ||
		    (allow->line == deny->line && allow->col > deny->col) ? allow : deny,
		    "\"allow_countries\" and \"deny_countries\": a geo block has one or the other");
	if (node_map_key(map, "database") != NULL)
		return;
	if (allow != NULL || deny != NULL)
		conf_error(ctx, allow != NULL ? allow : deny, "\"%s\" needs a \"database\" to "
		    "look countries up in", allow != NULL ? "allow_countries" : "deny_countries");
	if (g->header != NULL)
		conf_error(ctx, node_map_key(map, "header"), "\"header\" needs a \"database\" "
		    "to look countries up in");
}

void
conf_geo_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	if ((l->geo = calloc(1, sizeof(*l->geo))) == NULL) {
		conf_oom(ctx);
		return;
	}
	conf_map_walk(ctx, v, &conf_geo_table, l->geo);
	conf_geo_check(ctx, v, l->geo);
}

static void
conf_geo_files_free(struct conf_cidr_file *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(f[i].path);
		free(f[i].nets);
	}
	free(f);
}

void
conf_geo_free(struct conf_geo *g)
{
	size_t i;

	if (g == NULL)
		return;
	if (g->mmdb != NULL)
		MMDB_close(g->mmdb);
	free(g->mmdb);
	free(g->database);
	for (i = 0; i < g->ncountries; i++)
		free(g->countries[i]);
	free(g->countries);
	conf_geo_files_free(g->allow, g->nallow);
	conf_geo_files_free(g->deny, g->ndeny);
	free(g->header);
	free(g);
}

static void
conf_geo_files_dump(FILE *out, const char *key, const struct conf_cidr_file *f, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	fprintf(out, "      %s:\n", key);
	for (i = 0; i < n; i++) {
		fputs("        - ", out);
		conf_dump_str(out, f[i].path, 1);
		putc('\n', out);
	}
}

void
conf_geo_dump(const struct conf_geo *g, FILE *out)
{
	if (g == NULL)
		return;
	fputs("    geo:\n", out);
	if (g->database != NULL)
		conf_dump_kv(out, 6, "database", g->database);
	if (g->ncountries > 0)
		conf_dump_strs(out, 6, g->deny_countries ? "deny_countries" : "allow_countries",
		    g->countries, g->ncountries);
	conf_geo_files_dump(out, "cidr_allow", g->allow, g->nallow);
	conf_geo_files_dump(out, "cidr_deny", g->deny, g->ndeny);
	if (g->header != NULL)
		conf_dump_kv(out, 6, "header", g->header);
}

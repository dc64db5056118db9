/*
 * Configuration loading: YAML text -> node tree (conf/node.c) -> the
 * typed struct conf of conf/conf.h.  This file is the machinery that
 * every section shares; the sections themselves (conf/section.h lists
 * them) each live in a file of their own with their key tables, checks
 * and types.
 *
 * Every mapping of the language has a key table: one line per key with
 * its parse function and, for the generic parsers, the field it fills
 * and its bounds.  conf_map_walk() runs a mapping against its table,
 * which is where unknown keys ("did you mean"), duplicate keys and
 * missing required keys are caught for every level alike.  Adding a
 * key is adding a line to a table (and a parse function if none of the
 * generic ones fits).  The table of the top level is the keys of all
 * sections, in the order they are registered.
 *
 * Loading never stops at the first error: each problem is recorded at
 * the node at fault and validation carries on with the next key, so
 * one run of "cuttle -t" shows everything that is wrong.  Checks that
 * need a whole mapping (a listener's mode deciding which keys it must
 * and must not have, a route's one action) follow the walk of that
 * mapping.  Checks that span objects (upstream references from
 * listeners and routes, duplicate listener names and addresses) run in
 * a second pass, each section's check hook, over the parsed structs.
 * Messages are sorted by position before they reach the caller,
 * because these later checks find their errors out of file order.
 *
 * Every allocation is hung on the struct conf as soon as it is made,
 * so conf_free() cleans up a half-built configuration as well as a
 * finished one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

#define CONF_MSG_LEN        512
#define CONF_VALUE_MAX      (1u << 20)          /* a value after ${} expansion */
#define CONF_ENV_NAME_MAX   256
#define CONF_NEAR_LEN       64                  /* longest word to suggest for */

#define CONF_SECTION_REF(name) &conf_##name##_section,
static const struct conf_section *const conf_sections[] = {
	CONF_SECTIONS(CONF_SECTION_REF)
};
#undef CONF_SECTION_REF

static const char *const conf_bool_names[] = { "false", "true" };

/* One recorded error; line 0 for errors of the whole file. */
struct conf_msg {
	unsigned line;
	unsigned col;
	size_t seq;                 /* keeps the order of errors at one position */
	char *text;
};

/* A growing string for ${} expansion; the failure flags are sticky. */
struct conf_buf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
	int too_long;
};

/* ------------------------------------------------------------------ */
/* Error messages */

static void conf_report(struct conf_ctx *ctx, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Copies s[0..n) into buf for use inside double quotes in a message:
 * quotes, backslashes and control bytes are escaped (a value must not
 * be able to forge a log line), and long text is cut with "...".
 */
static const char *
conf_quote_n(const char *s, size_t n, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		/*
		 * Room for this byte (4 when escaped) plus, at the start of a
		 * character, its UTF-8 continuation bytes, so that a cut never
		 * splits a character; "..." and the NUL always fit after.
		 */
		if (o + ((c & 0xc0) == 0x80 ? 1 : 4 + 3) + 4 > len) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

const char *
conf_quote(const char *s, char *buf, size_t len)
{
	return conf_quote_n(s, strlen(s), buf, len);
}

/* Records an error at line:col (line 0: about the whole file). */
static void
conf_report(struct conf_ctx *ctx, unsigned line, unsigned col,
    const char *fmt, ...)
{
	char msg[CONF_MSG_LEN];
	struct conf_msg *m;
	va_list ap;
	size_t need;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->nmsgs == ctx->msgcap) {
		size_t cap = ctx->msgcap == 0 ? 8 : ctx->msgcap * 2;

		if ((m = realloc(ctx->msgs, cap * sizeof(*m))) == NULL) {
			ctx->oom = 1;
			return;
		}
		ctx->msgs = m;
		ctx->msgcap = cap;
	}
	m = &ctx->msgs[ctx->nmsgs];
	n = line == 0 ? snprintf(NULL, 0, "%s: %s", ctx->file, msg) :
	    snprintf(NULL, 0, "%s:%u:%u: %s", ctx->file, line, col, msg);
	need = n < 0 ? 0 : (size_t)n + 1;
	if (need == 0 || (m->text = malloc(need)) == NULL) {
		ctx->oom = 1;
		return;
	}
	if (line == 0)
		snprintf(m->text, need, "%s: %s", ctx->file, msg);
	else
		snprintf(m->text, need, "%s:%u:%u: %s", ctx->file, line, col, msg);
	m->line = line;
	m->col = col;
	m->seq = ctx->nmsgs++;
}

/* Records an error at node n. */
void
conf_error(struct conf_ctx *ctx, const struct node *n, const char *fmt, ...)
{
	char msg[CONF_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_report(ctx, n->line, n->col, "%s", msg);
}

static int
conf_msg_cmp(const void *a, const void *b)
{
	const struct conf_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Hands every recorded error to cb in file order and frees them.
 * Returns how many errors there were (an allocation failure counts).
 */
static size_t
conf_msgs_flush(struct conf_ctx *ctx, conf_error_cb cb, void *arg)
{
	char oom[CONF_MSG_LEN];
	size_t i, n = ctx->nmsgs;

	if (ctx->nmsgs > 1)
		qsort(ctx->msgs, ctx->nmsgs, sizeof(*ctx->msgs), conf_msg_cmp);
	for (i = 0; i < ctx->nmsgs; i++) {
		if (cb != NULL)
			cb(arg, ctx->msgs[i].text);
		free(ctx->msgs[i].text);
	}
	free(ctx->msgs);
	ctx->msgs = NULL;
	ctx->nmsgs = ctx->msgcap = 0;
	if (ctx->oom) {
		snprintf(oom, sizeof(oom), "%s: out of memory", ctx->file);
		if (cb != NULL)
			cb(arg, oom);
		n++;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* "Did you mean" */

/* Edit distance of a and b, both at most CONF_NEAR_LEN bytes. */
static size_t
conf_edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t row[CONF_NEAR_LEN + 1], i, j, diag, up;

	for (j = 0; j <= blen; j++)
		row[j] = j;
	for (i = 1; i <= alen; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= blen; j++) {
			up = row[j];
			row[j] = CT_MIN(CT_MIN(row[j] + 1, row[j - 1] + 1),
			    diag + (a[i - 1] != b[j - 1]));
			diag = up;
		}
	}
	return row[blen];
}

void
conf_near_init(struct conf_near *n, const char *word)
{
	n->word = word;
	n->len = strlen(word);
	n->best = NULL;
	n->dist = SIZE_MAX;
}

/* Keeps cand if it is nearer to the word than the best so far. */
void
conf_near_try(struct conf_near *n, const char *cand)
{
	size_t clen = strlen(cand), d;

	if (n->len > CONF_NEAR_LEN || clen > CONF_NEAR_LEN)
		return;
	d = conf_edit_distance(n->word, n->len, cand, clen);
	if (d < n->dist) {
		n->dist = d;
		n->best = cand;
	}
}

/* The suggestion, or NULL when even the best is too far to help. */
const char *
conf_near_best(const struct conf_near *n)
{
	if (n->best == NULL || n->dist > CT_MAX((size_t)2, n->len / 3))
		return NULL;
	return n->best;
}

/* ------------------------------------------------------------------ */
/* Values */

void
conf_oom(struct conf_ctx *ctx)
{
	ctx->oom = 1;
}

/* Appends s[0..n), keeping b NUL-terminated; stops at the first failure. */
static void
conf_buf_add(struct conf_buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom || b->too_long)
		return;
	if (n > CONF_VALUE_MAX - b->len) {
		b->too_long = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		cap = CT_MAX(b->cap * 2, b->len + n + 1);
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Characters of environment variable names, and of upstream names. */
static int
conf_ident_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	    (!first && c >= '0' && c <= '9');
}

/*
 * Expands one reference; p is just past its "${".  ${NAME} needs NAME
 * set; ${NAME:-default} uses default when NAME is unset or empty, as
 * the shell does.  The default runs to the first "}".  Sets *next past
 * the reference.
 */
static int
conf_env_ref_expand(struct conf_ctx *ctx, const struct node *v, const char *p,
    struct conf_buf *b, const char **next)
{
	char name[CONF_ENV_NAME_MAX], q[CONF_QUOTE_LEN];
	const char *end = strchr(p, '}'), *e = p, *val;

	if (end == NULL) {
		conf_error(ctx, v, "unterminated \"${\" in \"%s\"",
		    conf_quote(v->scalar, q, sizeof(q)));
		return CT_ERROR;
	}
	while (conf_ident_char(*e, e == p))
		e++;
	if (e == p || (e != end && strncmp(e, ":-", 2) != 0) ||
	    (size_t)(e - p) >= sizeof(name)) {
		conf_error(ctx, v, "invalid variable reference \"%s\"",
		    conf_quote_n(p - 2, (size_t)(end + 1 - (p - 2)), q, sizeof(q)));
		return CT_ERROR;
	}
	memcpy(name, p, (size_t)(e - p));
	name[e - p] = '\0';
	val = getenv(name);
	if (e == end && val == NULL) {
		conf_error(ctx, v, "environment variable \"%s\" is not set", name);
		return CT_ERROR;
	}
	if (e != end && (val == NULL || *val == '\0'))
		conf_buf_add(b, e + 2, (size_t)(end - (e + 2)));
	else
		conf_buf_add(b, val, strlen(val));
	*next = end + 1;
	return CT_OK;
}

/*
 * The text of scalar v with $$, ${NAME} and ${NAME:-default} expanded,
 * as a new string that the caller frees; NULL after reporting why.  A
 * "$" before anything else is kept as it is.
 */
char *
conf_env_expand(struct conf_ctx *ctx, const struct node *v)
{
	struct conf_buf b = { NULL, 0, 0, 0, 0 };
	const char *s = v->scalar, *p;
	int rc = CT_OK;

	conf_buf_add(&b, "", 0);
	while (rc == CT_OK && (p = strchr(s, '$')) != NULL) {
		conf_buf_add(&b, s, (size_t)(p - s));
		if (p[1] == '{') {
			rc = conf_env_ref_expand(ctx, v, p + 2, &b, &s);
			continue;
		}
		conf_buf_add(&b, "$", 1);
		s = p[1] == '$' ? p + 2 : p + 1;
	}
	if (rc == CT_OK)
		conf_buf_add(&b, s, strlen(s));
	if (b.too_long)
		conf_error(ctx, v, "value longer than %u bytes after expansion",
		    CONF_VALUE_MAX);
	if (b.oom)
		conf_oom(ctx);
	if (rc == CT_ERROR || b.too_long || b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/*
 * Reports unless v has type t.  name is the key whose value v is, or,
 * with item set, the key of the sequence that v is an entry of.
 */
int
conf_expect(struct conf_ctx *ctx, const struct node *v, enum node_type t,
    const char *name, int item)
{
	if (v->type == t)
		return CT_OK;
	conf_error(ctx, v, "%s\"%s\" must be a %s", item ? "each entry of " : "",
	    name, node_type_name(t));
	return CT_ERROR;
}

/* The expanded text of scalar value v of key k (caller frees), or NULL. */
char *
conf_text(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v)
{
	if (conf_expect(ctx, v, NODE_SCALAR, k->name, 0) == CT_ERROR)
		return NULL;
	return conf_env_expand(ctx, v);
}

/* As conf_text(), refusing an empty value. */
char *
conf_text_nonempty(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v)
{
	char *t;

	if ((t = conf_text(ctx, k, v)) != NULL && *t == '\0') {
		conf_error(ctx, v, "\"%s\" must not be empty", k->name);
		free(t);
		return NULL;
	}
	return t;
}

/* Names are used in logs, metrics and the API: keep them plain. */
int
conf_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!conf_ident_char(s[i], 0) && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

void
conf_name_error(struct conf_ctx *ctx, const struct node *n, const char *what,
    const char *name)
{
	char q[CONF_QUOTE_LEN];

	conf_error(ctx, n, "invalid %s name \"%s\": use 1 to %d characters "
	    "from A-Z a-z 0-9 _ . -", what, conf_quote(name, q, sizeof(q)),
	    CONF_NAME_MAX);
}

/*
 * Reports each key of mapping v that an earlier key repeats: the names
 * of a section are its keys, which no key table checks.  The sections
 * bound their entries, so the quadratic search stays small.
 */
static void
conf_names_dedup(struct conf_ctx *ctx, const struct node *v, const char *what)
{
	char q[CONF_QUOTE_LEN];
	size_t i, j;

	for (i = 1; i < v->npairs; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(v->pairs[j].key->scalar, v->pairs[i].key->scalar) == 0)
				break;
		if (j < i)
			conf_error(ctx, v->pairs[i].key, "duplicate %s \"%s\" (first at line %u, "
			    "column %u)", what, conf_quote(v->pairs[i].key->scalar, q, sizeof(q)),
			    v->pairs[j].key->line, v->pairs[j].key->col);
	}
}

/*
 * The start of a section that maps names to objects (limits, caches):
 * v, the value of key k, must be a mapping of at most max entries, with
 * no name twice (what names an entry); returns a zeroed array of one
 * object of size bytes per entry, or NULL when there is none to parse
 * (an empty mapping, or an error reported).
 */
void *
conf_names_alloc(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    size_t max, size_t size, const char *what)
{
	void *a;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR || v->npairs == 0)
		return NULL;
	if (v->npairs > max) {
		conf_error(ctx, v, "\"%s\" may have %zu entries at most", k->name, max);
		return NULL;
	}
	conf_names_dedup(ctx, v, what);
	if ((a = calloc(v->npairs, size)) == NULL)
		conf_oom(ctx);
	return a;
}

/*
 * One entry of such a section, name key and value map: the name checked
 * (what names an entry) and copied into *name even if invalid, for the
 * messages of the second pass; CT_OK when map is a mapping to walk.
 */
int
conf_names_entry(struct conf_ctx *ctx, const struct node *key, const struct node *map,
    const char *what, char **name)
{
	if (!conf_name_valid(key->scalar))
		conf_name_error(ctx, key, what, key->scalar);
	if ((*name = strdup(key->scalar)) == NULL) {
		conf_oom(ctx);
		return CT_ERROR;
	}
	return conf_expect(ctx, map, NODE_MAPPING, key->scalar, 0);
}

/*
 * The NAME of "header:NAME" or "cookie:NAME", item v of a list (where:
 * the list, for messages): a token, copied, and lower-cased for a
 * header, since field names are compared without case; NULL once
 * reported.
 */
char *
conf_part_name_dup(struct conf_ctx *ctx, const struct node *v, const char *name,
    int header, const char *where)
{
	char q[CONF_QUOTE_LEN];
	char *s;

	if (!conf_token_valid(name, strlen(name))) {
		conf_error(ctx, v, "invalid name \"%s\" in %s: %s",
		    conf_quote(name, q, sizeof(q)), where, CONF_TOKEN_WHY);
		return NULL;
	}
	if ((s = strdup(name)) == NULL) {
		conf_oom(ctx);
		return NULL;
	}
	if (header)
		conf_str_lower(s);
	return s;
}

/*
 * Writes v in the largest of the units (names and factors, largest
 * first, the last being 1) that divides it exactly, so that bounds
 * print as they would be written: "64g", "30d".
 */
static const char *
conf_units_format(uint64_t v, const char *const *names, const uint64_t *factors,
    size_t n, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < n && (v == 0 || v % factors[i] != 0); i++)
		;
	snprintf(buf, len, "%" PRIu64 "%s", v / factors[i], names[i]);
	return buf;
}

const char *
conf_size_format(uint64_t v, char *buf, size_t len)
{
	static const char *const names[] = { "g", "m", "k", "" };
	static const uint64_t factors[] = { 1u << 30, 1u << 20, 1u << 10, 1 };

	return conf_units_format(v, names, factors, CT_NELEM(names), buf, len);
}

const char *
conf_duration_format(uint64_t v, char *buf, size_t len)
{
	static const char *const names[] = { "d", "h", "m", "s", "ms" };
	static const uint64_t factors[] = { 86400000, 3600000, 60000, 1000, 1 };

	return conf_units_format(v, names, factors, CT_NELEM(names), buf, len);
}

/*
 * Looks v up among names (indexed by enum value); on a miss, reports
 * the valid values.
 */
int
conf_enum_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, const char *const *names, size_t n, size_t *out)
{
	char list[CONF_MSG_LEN / 2], q[CONF_QUOTE_LEN];
	size_t i, o = 0;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return CT_ERROR;
	for (i = 0; i < n; i++) {
		if (strcmp(t, names[i]) == 0) {
			free(t);
			*out = i;
			return CT_OK;
		}
	}
	list[0] = '\0';
	for (i = 0; i < n && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    i == 0 ? "" : ", ", names[i]);
	conf_error(ctx, v, "invalid value \"%s\" for \"%s\", expected one of: %s",
	    conf_quote(t, q, sizeof(q)), k->name, list);
	free(t);
	return CT_ERROR;
}

/* ASCII only: a locale must not change what a config means. */
void
conf_str_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

int
conf_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* A tchar of RFC 9110, section 5.6.2. */
static int
conf_tchar(char c)
{
	return conf_alnum(c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Is s[0..n) a token, one or more tchars? */
int
conf_token_valid(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!conf_tchar(s[i]))
			return 0;
	return n > 0;
}

/* ------------------------------------------------------------------ */
/* Generic parsers: the field at k->off of obj, bounds from k */

/* The integer in [k->min, k->max] that v holds; CT_ERROR once reported. */
static int
conf_uint_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, uint64_t *out)
{
	char q[CONF_QUOTE_LEN];
	char *t;
	int rc;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return CT_ERROR;
	if ((rc = units_parse_uint(t, k->min, k->max, out, NULL)) == CT_ERROR)
		conf_error(ctx, v, "\"%s\" must be an integer between %" PRIu64
		    " and %" PRIu64 ", not \"%s\"", k->name, k->min, k->max,
		    conf_quote(t, q, sizeof(q)));
	free(t);
	return rc;
}

void
conf_unsigned_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	uint64_t n;

	if (conf_uint_parse(ctx, k, v, &n) == CT_OK)
		*(unsigned *)((char *)obj + k->off) = (unsigned)n;
}

void
conf_uint64_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	uint64_t n;

	if (conf_uint_parse(ctx, k, v, &n) == CT_OK)
		*(uint64_t *)((char *)obj + k->off) = n;
}

/* As conf_unsigned_parse(), for an int field. */
void
conf_int_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	uint64_t n;

	if (conf_uint_parse(ctx, k, v, &n) == CT_OK)
		*(int *)((char *)obj + k->off) = (int)n;
}

/*
 * true or false into the int at k->off.  YAML 1.1's yes/no/on/off are
 * refused: "on" is also a plausible typo, and one spelling is enough.
 */
void
conf_bool_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char q[CONF_QUOTE_LEN];
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (strcmp(t, "true") == 0 || strcmp(t, "false") == 0)
		*(int *)((char *)obj + k->off) = strcmp(t, "true") == 0;
	else
		conf_error(ctx, v, "\"%s\" must be true or false, not \"%s\"",
		    k->name, conf_quote(t, q, sizeof(q)));
	free(t);
}

void
conf_size_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char q[CONF_QUOTE_LEN], lo[32], hi[32];
	const char *why;
	uint64_t n;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (units_parse_size(t, &n, &why) == CT_ERROR)
		conf_error(ctx, v, "invalid size \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
	else if (n < k->min || n > k->max)
		conf_error(ctx, v, "\"%s\" must be between %s and %s, not \"%s\"",
		    k->name, conf_size_format(k->min, lo, sizeof(lo)),
		    conf_size_format(k->max, hi, sizeof(hi)),
		    conf_quote(t, q, sizeof(q)));
	else
		*(uint64_t *)((char *)obj + k->off) = n;
	free(t);
}

/*
 * Durations here are all timeouts: zero would mean "expire at once".
 * A k->min above 1 is a floor of its own (a check interval).
 */
void
conf_duration_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char q[CONF_QUOTE_LEN], hi[32];
	const char *why;
	uint64_t ms;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (units_parse_duration(t, &ms, &why) == CT_ERROR)
		conf_error(ctx, v, "invalid duration \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
	else if (ms == 0)
		conf_error(ctx, v, "\"%s\" must be greater than 0", k->name);
	else if (ms < k->min)
		conf_error(ctx, v, "\"%s\" must be at least %s, not \"%s\"",
		    k->name, conf_duration_format(k->min, hi, sizeof(hi)),
		    conf_quote(t, q, sizeof(q)));
	else if (ms > k->max)
		conf_error(ctx, v, "\"%s\" must be at most %s, not \"%s\"", k->name,
		    conf_duration_format(k->max, hi, sizeof(hi)),
		    conf_quote(t, q, sizeof(q)));
	else
		*(uint64_t *)((char *)obj + k->off) = ms;
	free(t);
}

/*
 * A lifetime, value v of key name: 0 (which zero says the meaning of)
 * or whole seconds up to max, since that is what an expiry keeps, into
 * *ms; CT_ERROR once reported.
 */
int
conf_lifetime_parse(struct conf_ctx *ctx, const char *name, const struct node *v,
    const char *zero, uint64_t max, uint64_t *ms)
{
	char q[CONF_QUOTE_LEN], hi[32];
	const char *why;
	int rc = CT_ERROR;
	char *t;

	if (conf_expect(ctx, v, NODE_SCALAR, name, 0) == CT_ERROR ||
	    (t = conf_env_expand(ctx, v)) == NULL)
		return CT_ERROR;
	conf_quote(t, q, sizeof(q));
	if (units_parse_duration(t, ms, &why) == CT_ERROR)
		conf_error(ctx, v, "invalid duration \"%s\" for \"%s\": %s", q, name, why);
	else if (*ms % 1000 != 0)
		conf_error(ctx, v, "\"%s\" is 0 (%s) or whole seconds, not \"%s\"", name, zero, q);
	else if (*ms > max)
		conf_error(ctx, v, "\"%s\" must be at most %s, not \"%s\"", name,
		    conf_duration_format(max, hi, sizeof(hi)), q);
	else
		rc = CT_OK;
	free(t);
	return rc;
}

/* A non-empty string, replacing the default in the char * at k->off. */
void
conf_string_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char **field = (char **)((char *)obj + k->off);
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	free(*field);
	*field = t;
}

/*
 * A field, argument or cookie name (an HTTP token), replacing the char *
 * at k->off.
 */
void
conf_token_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char **field = (char **)((char *)obj + k->off);
	char q[CONF_QUOTE_LEN];
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if (!conf_token_valid(t, strlen(t))) {
		conf_error(ctx, v, "invalid name \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, CONF_TOKEN_WHY);
		free(t);
		return;
	}
	free(*field);
	*field = t;
}

/* Reports unless min <= count <= max, count being the entries of v. */
int
conf_count_check(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, size_t count, size_t min, size_t max)
{
	if (count >= min && count <= max)
		return CT_OK;
	if (min == 0)
		conf_error(ctx, v, "\"%s\" must have at most %zu entries, not %zu",
		    k->name, max, count);
	else
		conf_error(ctx, v, "\"%s\" must have between %zu and %zu entries, "
		    "not %zu", k->name, min, max, count);
	return CT_ERROR;
}

/* ------------------------------------------------------------------ */
/* Mappings against key tables */

static const struct conf_key *
conf_key_find(const struct conf_table *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nkeys; i++)
		if (strcmp(t->keys[i].name, name) == 0)
			return &t->keys[i];
	return NULL;
}

static void
conf_key_unknown(struct conf_ctx *ctx, const struct conf_table *t,
    const struct node *key)
{
	char q[CONF_QUOTE_LEN];
	struct conf_near near;
	const char *best;
	size_t i;

	conf_near_init(&near, key->scalar);
	for (i = 0; i < t->nkeys; i++)
		conf_near_try(&near, t->keys[i].name);
	conf_quote(key->scalar, q, sizeof(q));
	if ((best = conf_near_best(&near)) != NULL)
		conf_error(ctx, key, "unknown key \"%s\" %s, did you mean \"%s\"?",
		    q, t->where, best);
	else
		conf_error(ctx, key, "unknown key \"%s\" %s", q, t->where);
}

/*
 * Runs every pair of mapping map through its key's parse function with
 * obj, in file order.  Unknown and repeated keys are reported and
 * skipped (the first occurrence of a key is the one that counts), then
 * every required key that never appeared is reported at map.
 */
void
conf_map_walk(struct conf_ctx *ctx, const struct node *map,
    const struct conf_table *t, void *obj)
{
	const struct node *seen[CONF_KEYS_MAX] = { NULL };
	const struct conf_key *k;
	const struct node *key;
	size_t i, j;

	for (i = 0; i < map->npairs; i++) {
		key = map->pairs[i].key;
		if ((k = conf_key_find(t, key->scalar)) == NULL) {
			conf_key_unknown(ctx, t, key);
			continue;
		}
		j = (size_t)(k - t->keys);
		if (seen[j] != NULL) {
			conf_error(ctx, key, "duplicate key \"%s\" (first at line "
			    "%u, column %u)", k->name, seen[j]->line, seen[j]->col);
			continue;
		}
		seen[j] = key;
		k->parse(ctx, k, map->pairs[i].value, obj);
	}
	for (j = 0; j < t->nkeys; j++)
		if (t->keys[j].required && seen[j] == NULL)
			conf_error(ctx, map, "missing required key \"%s\" %s",
			    t->keys[j].name, t->where);
}

/* Checks v is a mapping, then walks it; name is v's key. */
void
conf_map_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, const struct conf_table *t, void *obj)
{
	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_OK)
		conf_map_walk(ctx, v, t, obj);
}

/* ------------------------------------------------------------------ */
/* Cross references */

static int
conf_ref_keycmp(const struct conf_ref *a, const struct conf_ref *b)
{
	int c = memcmp(a->key, b->key, CT_MIN(a->keylen, b->keylen));

	if (c != 0)
		return c;
	return (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

static int
conf_ref_cmp(const void *a, const void *b)
{
	const struct conf_ref *x = a, *y = b;
	int c = conf_ref_keycmp(x, y);

	if (c != 0)
		return c;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static int
conf_ref_find_cmp(const void *key, const void *elem)
{
	return conf_ref_keycmp(key, elem);
}

/*
 * Sorts refs and calls dup for each one whose key an earlier ref (in
 * file order) already has.  Sorting keeps this O(n log n) for files
 * with many upstreams or listeners.
 */
void
conf_refs_dedup(struct conf_ctx *ctx, struct conf_ref *refs, size_t n,
    conf_dup_cb dup)
{
	size_t i, first = 0;

	if (n < 2)
		return;
	qsort(refs, n, sizeof(*refs), conf_ref_cmp);
	for (i = 1; i < n; i++) {
		if (conf_ref_keycmp(&refs[first], &refs[i]) != 0)
			first = i;
		else
			dup(ctx, &refs[i], &refs[first]);
	}
}

/* The ref of refs (n of them, sorted by conf_refs_dedup()) keyed key. */
const struct conf_ref *
conf_refs_find(const struct conf_ref *refs, size_t n, const char *key)
{
	struct conf_ref k = { key, strlen(key), 0, NULL };

	if (n == 0)
		return NULL;
	return bsearch(&k, refs, n, sizeof(*refs), conf_ref_find_cmp);
}

/* ------------------------------------------------------------------ */
/* Writing YAML back, for conf_dump() */

/*
 * Decodes the UTF-8 character at s (NUL-terminated) into *cp and
 * returns its length, or 0 if s does not start with a valid,
 * shortest-form character.  The NUL stops a truncated sequence, as it
 * is no continuation byte.
 */
static size_t
conf_utf8_decode(const unsigned char *s, uint32_t *cp)
{
	static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	c = s[0] & (0x7fu >> len);      /* the payload bits of the lead byte */
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/*
 * May cp stand as it is inside a double-quoted YAML scalar?  Not if
 * YAML forbids it in a stream (controls, U+FFFE, U+FFFF), nor if it is
 * a line break that the reader would fold into a space (NEL, U+2028,
 * U+2029), nor a byte order mark.
 */
static int
conf_yaml_char_plain(uint32_t cp)
{
	return (cp >= 0x20 && cp <= 0x7e) ||
	    (cp >= 0xa0 && cp <= 0xd7ff && cp != 0x2028 && cp != 0x2029) ||
	    (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) ||
	    (cp >= 0x10000 && cp <= 0x10ffff);
}

/*
 * Writes s as a double-quoted YAML scalar that reads back as s, so that
 * no value (an address starting with "[" or "*", a path with ": " or
 * " #") can be misread.  A value, which the loader expands, also gets
 * "$" doubled; a mapping key does not.  Bytes that are not UTF-8 have
 * no YAML spelling: they are written as they are, so that loading the
 * dump fails instead of yielding another value.
 */
void
conf_dump_str(FILE *out, const char *s, int value)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	putc('"', out);
	while (*p != '\0') {
		if ((n = conf_utf8_decode(p, &cp)) == 0) {
			putc(*p++, out);
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(out, "\\%c", (int)cp);
		else if (cp == '$' && value)
			fputs("$$", out);
		else if (conf_yaml_char_plain(cp))
			fwrite(p, 1, n, out);
		else if (cp <= 0xff)
			fprintf(out, "\\x%02" PRIx32, cp);
		else if (cp <= 0xffff)
			fprintf(out, "\\u%04" PRIx32, cp);
		else
			fprintf(out, "\\U%08" PRIx32, cp);
		p += n;
	}
	putc('"', out);
}

/* "key: value" on a line of its own, indented, value quoted. */
void
conf_dump_kv(FILE *out, int indent, const char *key, const char *value)
{
	fprintf(out, "%*s%s: ", indent, "", key);
	conf_dump_str(out, value, 1);
	putc('\n', out);
}

/* "key: [...]" on a line of its own, indented, the strings quoted. */
void
conf_dump_strs(FILE *out, int indent, const char *key, char *const *s,
    size_t n)
{
	size_t i;

	fprintf(out, "%*s%s: [", indent, "", key);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", out);
		conf_dump_str(out, s[i], 1);
	}
	fputs("]\n", out);
}

/* ------------------------------------------------------------------ */
/* Loading */

static int
conf_defaults_set(struct conf *conf)
{
	size_t i;

	for (i = 0; i < CT_NELEM(conf_sections); i++)
		if (conf_sections[i]->init != NULL &&
		    conf_sections[i]->init(conf) == CT_ERROR)
			return CT_ERROR;
	return CT_OK;
}

/*
 * Gathers the keys of every section into keys (room for CONF_KEYS_MAX)
 * as the table of the top level.  Outgrowing it is a mistake in the
 * program that the first load of any file shows.
 */
static void
conf_top_table_build(struct conf_key *keys, struct conf_table *t)
{
	const struct conf_section *s;
	size_t i, n = 0;

	for (i = 0; i < CT_NELEM(conf_sections); i++) {
		s = conf_sections[i];
		if (n + s->nkeys > CONF_KEYS_MAX)
			abort();
		memcpy(keys + n, s->keys, s->nkeys * sizeof(*keys));
		n += s->nkeys;
	}
	t->where = "at top level";
	t->keys = keys;
	t->nkeys = n;
}

static void
conf_root_parse(struct conf_ctx *ctx, const struct node *root)
{
	struct conf_key keys[CONF_KEYS_MAX];
	struct conf_table top;
	size_t i;

	if (root == NULL) {
		conf_report(ctx, 1, 1, "the configuration is empty");
		return;
	}
	if (root->type != NODE_MAPPING) {
		conf_error(ctx, root, "the top level must be a mapping");
		return;
	}
	conf_top_table_build(keys, &top);
	conf_map_walk(ctx, root, &top, ctx->conf);
	for (i = 0; i < CT_NELEM(conf_sections); i++)
		if (conf_sections[i]->check != NULL)
			conf_sections[i]->check(ctx, root);
}

struct conf *
conf_load_string(const char *name, const char *text, size_t len,
    conf_error_cb cb, void *arg)
{
	struct node_error nerr;
	struct node *root = NULL;
	struct conf_ctx ctx;
	struct conf *conf;

	memset(&ctx, 0, sizeof(ctx));
	ctx.file = name;
	if ((conf = calloc(1, sizeof(*conf))) == NULL ||
	    (conf->path = strdup(name)) == NULL ||
	    conf_defaults_set(conf) == CT_ERROR) {
		conf_oom(&ctx);
	} else if (node_tree_parse(name, text, len, &root, &nerr) == CT_ERROR) {
		conf_report(&ctx, nerr.line, nerr.col, "%s", nerr.msg);
	} else {
		ctx.conf = conf;
		conf_root_parse(&ctx, root);
	}
	node_tree_free(root);
	free(ctx.upstreams);
	if (conf_msgs_flush(&ctx, cb, arg) > 0) {
		conf_free(conf);
		return NULL;
	}
	return conf;
}

size_t
conf_block_load(const char *name, const char *text, size_t len, const struct conf_key *k,
    void *obj, conf_error_cb cb, void *arg)
{
	struct node_error nerr;
	struct node *root = NULL;
	struct conf_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.file = name;
	if (node_tree_parse(name, text, len, &root, &nerr) == CT_ERROR)
		conf_report(&ctx, nerr.line, nerr.col, "%s", nerr.msg);
	else if (root == NULL)
		conf_report(&ctx, 1, 1, "the configuration is empty");
	else
		k->parse(&ctx, k, root, obj);
	node_tree_free(root);
	return conf_msgs_flush(&ctx, cb, arg);
}

struct conf *
conf_load(const char *path, conf_error_cb cb, void *arg)
{
	struct node_error nerr;
	struct conf_ctx ctx;
	struct conf *conf;
	size_t len;
	char *text;

	if (node_file_read(path, &text, &len, &nerr) == CT_ERROR) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.file = path;
		conf_report(&ctx, 0, 0, "%s", nerr.msg);
		conf_msgs_flush(&ctx, cb, arg);
		return NULL;
	}
	conf = conf_load_string(path, text, len, cb, arg);
	free(text);
	return conf;
}

void
conf_free(struct conf *conf)
{
	size_t i;

	if (conf == NULL)
		return;
	for (i = 0; i < CT_NELEM(conf_sections); i++)
		if (conf_sections[i]->free != NULL)
			conf_sections[i]->free(conf);
	free(conf->path);
	free(conf);
}

/*
 * One key per line, section by section in the order they are
 * registered; keys that are unset and have no value to write
 * (pid_file, user, ...) appear as comments, so the dump still lists
 * every key.  Write errors are left in out's error flag for the caller.
 */
void
conf_dump(const struct conf *conf, FILE *out)
{
	size_t i;

	fputs("# cuttle: the effective configuration, every default filled "
	    "in\n", out);
	for (i = 0; i < CT_NELEM(conf_sections); i++)
		if (conf_sections[i]->dump != NULL)
			conf_sections[i]->dump(conf, out);
}

/* ------------------------------------------------------------------ */
/* Names */

/* names[i] of a table of n enum names, or "unknown". */
const char *
conf_enum_name(const char *const *names, size_t n, size_t i)
{
	return i < n ? names[i] : "unknown";
}

const char *
conf_bool_name(int b)
{
	return conf_bool_names[b != 0];
}

/*
 * Configuration loading: YAML text -> node tree (conf/node.c) -> the
 * typed struct conf of conf/conf.h.
 *
 * Every mapping of the language has a key table: one line per key with
 * its parse function and, for the generic parsers, the field it fills
 * and its bounds.  conf_map_walk() runs a mapping against its table,
 * which is where unknown keys ("did you mean"), duplicate keys and
 * missing required keys are caught for every level alike.  Adding a
 * key is adding a line to a table (and a parse function if none of the
 * generic ones fits).
 *
 * Loading never stops at the first error: each problem is recorded at
 * the node at fault and validation carries on with the next key, so
 * one run of "cuttle -t" shows everything that is wrong.  Checks that
 * need a whole mapping (a listener's mode deciding which keys it must
 * and must not have, a route's one action) follow the walk of that
 * mapping.  Checks that span objects (upstream references from
 * listeners and routes, duplicate listener names and addresses) run in
 * a second pass over the parsed structs.  Messages are sorted by
 * position before they reach the caller, because these later checks
 * find their errors out of file order.
 *
 * Every allocation is hung on the struct conf as soon as it is made,
 * so conf_free() cleans up a half-built configuration as well as a
 * finished one.
 *
 * conf_dump() goes the other way, struct conf to YAML, and is kept
 * exact: what it writes loads back into an equal struct conf.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "lib/addr.h"
#include "lib/ct.h"
#include "lib/units.h"

#define CONF_KEYS_MAX       32                  /* keys in one table */
#define CONF_QUOTE_LEN      96                  /* user text in a message */
#define CONF_MSG_LEN        512
#define CONF_VALUE_MAX      (1u << 20)          /* a value after ${} expansion */
#define CONF_ENV_NAME_MAX   256
#define CONF_NEAR_LEN       64                  /* longest word to suggest for */
#define CONF_SHM_MIN        (UINT64_C(4) << 20)
#define CONF_SHM_MAX        (UINT64_C(64) << 30)
#define CONF_SHM_DEFAULT    (UINT64_C(32) << 20)
/* keeps "now + timeout" far from overflow anywhere in the event loop */
#define CONF_DURATION_MAX   (UINT64_C(30) * 24 * 3600 * 1000)
#define CONF_SHUTDOWN_DEFAULT (UINT64_C(30) * 1000)
#define CONF_NOFILE_MAX     16777216
/* getpwnam_r() and getgrnam_r() buffers; a group can list many members */
#define CONF_PWBUF_MIN      1024
#define CONF_PWBUF_MAX      (1u << 20)
#define CONF_SYSLOG_PREFIX  "syslog:"
#define CONF_TOKEN_WHY      "use letters, digits and !#$%&'*+-.^_`|~"
#define CONF_SLOW_START_MAX (UINT64_C(3600) * 1000)
#define CONF_KEEPALIVE_MAX  1024                /* idle connections per server */
#define CONF_KEEPALIVE_DEFAULT 32
#define CONF_KEEPALIVE_TIMEOUT_DEFAULT (UINT64_C(60) * 1000)
#define CONF_CHECK_INTERVAL_MIN 100
#define CONF_CHECK_INTERVAL_MAX (UINT64_C(3600) * 1000)
#define CONF_CHECK_INTERVAL_DEFAULT (UINT64_C(5) * 1000)
#define CONF_CHECK_TIMEOUT_DEFAULT (UINT64_C(2) * 1000)
#define CONF_CHECK_RISE_DEFAULT 2
#define CONF_CHECK_FALL_DEFAULT 3
#define CONF_CHECK_COUNT_MAX 100                /* rise and fall */
#define CONF_CHECK_BODY_MAX 1024
#define CONF_EXPECT_MAX     32                  /* entries of expect */
#define CONF_MAX_FAILS_MAX  1000
#define CONF_FAIL_TIMEOUT_MAX (UINT64_C(3600) * 1000)
#define CONF_FAIL_TIMEOUT_DEFAULT (UINT64_C(10) * 1000)
#define CONF_CONNECT_DEFAULT (UINT64_C(5) * 1000)
#define CONF_IDLE_TCP_DEFAULT (UINT64_C(10) * 60 * 1000)
#define CONF_IDLE_HTTP_DEFAULT (UINT64_C(75) * 1000)
#define CONF_HTTP_TIMEOUT_DEFAULT (UINT64_C(60) * 1000)  /* header, send, read */
#define CONF_BODY_MAX       (UINT64_C(1) << 40)
#define CONF_BODY_DEFAULT   (UINT64_C(1) << 30)
#define CONF_HEAD_MIN       (UINT64_C(1) << 10)
#define CONF_HEAD_MAX       (UINT64_C(1) << 20)
#define CONF_HEAD_DEFAULT   (UINT64_C(32) << 10)
#define CONF_RETURN_BODY_MAX ((size_t)64 << 10)
#define CONF_HEADER_OPS_MAX 100                 /* entries of set, add or remove */
#define CONF_METHODS_MAX    32
#define CONF_TYPES_MAX      64
#define CONF_HOST_MAX       253                 /* a DNS name, without the "*." */
#define CONF_LABEL_MAX      63
#define CONF_COMPRESS_MIN_DEFAULT (UINT64_C(1) << 10)
#define CONF_COMPRESS_MIN_MAX (UINT64_C(1) << 30)
#define CONF_COMPRESS_LEVEL_DEFAULT 5
#define CONF_SUN_PATH_MAX   (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

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

/* One recorded error; line 0 for errors of the whole file. */
struct conf_msg {
	unsigned line;
	unsigned col;
	size_t seq;                 /* keeps the order of errors at one position */
	char *text;
};

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

/* A growing string for ${} expansion; the failure flags are sticky. */
struct conf_buf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
	int too_long;
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

static const char *const conf_balance_names[] = {
	[CONF_BALANCE_ROUND_ROBIN] = "round_robin",
	[CONF_BALANCE_LEAST_CONN] = "least_conn",
	[CONF_BALANCE_RANDOM] = "random",
	[CONF_BALANCE_P2C] = "p2c",
	[CONF_BALANCE_LEAST_TIME] = "least_time",
	[CONF_BALANCE_FIRST] = "first",
	[CONF_BALANCE_HASH] = "hash",
};

/* header and cookie take a name after the colon */
static const char *const conf_hash_key_names[] = {
	[CONF_HASH_CLIENT_IP] = "client_ip",
	[CONF_HASH_URI] = "uri",
	[CONF_HASH_HEADER] = "header",
	[CONF_HASH_COOKIE] = "cookie",
};

static const char *const conf_mode_names[] = {
	[CONF_MODE_TCP] = "tcp",
	[CONF_MODE_HTTP] = "http",
};

static const char *const conf_log_format_names[] = {
	[CONF_LOG_TEXT] = "text",
	[CONF_LOG_JSON] = "json",
};

static const char *const conf_bool_names[] = { "false", "true" };

/* Indexed by enum conf_check_type; "none" is not written, only dumped. */
static const char *const conf_check_type_names[] = { "none", "tcp", "http" };

/* alert is for the program's own use, not a level one can choose */
static const char *const conf_level_names[] = {
	[LOG_LVL_DEBUG] = "debug",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_ERROR] = "error",
};

/* ------------------------------------------------------------------ */
/* Error messages */

static void conf_report(struct conf_ctx *ctx, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void conf_error(struct conf_ctx *ctx, const struct node *n,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

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

static const char *
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
static void
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

static void
conf_near_init(struct conf_near *n, const char *word)
{
	n->word = word;
	n->len = strlen(word);
	n->best = NULL;
	n->dist = SIZE_MAX;
}

/* Keeps cand if it is nearer to the word than the best so far. */
static void
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
static const char *
conf_near_best(const struct conf_near *n)
{
	if (n->best == NULL || n->dist > CT_MAX((size_t)2, n->len / 3))
		return NULL;
	return n->best;
}

/* ------------------------------------------------------------------ */
/* Values */

static void
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
static char *
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
static int
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
static char *
conf_text(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v)
{
	if (conf_expect(ctx, v, NODE_SCALAR, k->name, 0) == CT_ERROR)
		return NULL;
	return conf_env_expand(ctx, v);
}

/* As conf_text(), refusing an empty value. */
static char *
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
static int
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

static void
conf_name_error(struct conf_ctx *ctx, const struct node *n, const char *what,
    const char *name)
{
	char q[CONF_QUOTE_LEN];

	conf_error(ctx, n, "invalid %s name \"%s\": use 1 to %d characters "
	    "from A-Z a-z 0-9 _ . -", what, conf_quote(name, q, sizeof(q)),
	    CONF_NAME_MAX);
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

static const char *
conf_size_format(uint64_t v, char *buf, size_t len)
{
	static const char *const names[] = { "g", "m", "k", "" };
	static const uint64_t factors[] = { 1u << 30, 1u << 20, 1u << 10, 1 };

	return conf_units_format(v, names, factors, CT_NELEM(names), buf, len);
}

static const char *
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
static int
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

static void
conf_parse_unsigned(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	uint64_t n;

	if (conf_uint_parse(ctx, k, v, &n) == CT_OK)
		*(unsigned *)((char *)obj + k->off) = (unsigned)n;
}

static void
conf_parse_uint64(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	uint64_t n;

	if (conf_uint_parse(ctx, k, v, &n) == CT_OK)
		*(uint64_t *)((char *)obj + k->off) = n;
}

/* As conf_parse_unsigned(), for an int field. */
static void
conf_parse_int(struct conf_ctx *ctx, const struct conf_key *k,
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
static void
conf_parse_bool(struct conf_ctx *ctx, const struct conf_key *k,
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

static void
conf_parse_size(struct conf_ctx *ctx, const struct conf_key *k,
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
static void
conf_parse_duration(struct conf_ctx *ctx, const struct conf_key *k,
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

/* A non-empty string, replacing the default in the char * at k->off. */
static void
conf_parse_string(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char **field = (char **)((char *)obj + k->off);
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	free(*field);
	*field = t;
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
static void
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
static void
conf_map_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, const struct conf_table *t, void *obj)
{
	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_OK)
		conf_map_walk(ctx, v, t, obj);
}

/* Declares table name over keys, whose length conf_map_walk() bounds. */
#define CONF_TABLE(name, where, keys) \
	_Static_assert(CT_NELEM(keys) <= CONF_KEYS_MAX, #keys " is too long"); \
	static const struct conf_table name = { where, keys, CT_NELEM(keys) }

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
static void
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

/* ------------------------------------------------------------------ */
/* error_log */

static void
conf_parse_level(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_level_names,
	    CT_NELEM(conf_level_names), &i) == CT_OK)
		conf->error_log_level = (enum log_level)i;
}

/*
 * "stderr", "syslog" (the socket /dev/log), "syslog:" and the path of
 * another socket, or a file.  The socket path must be absolute, so that
 * it does not depend on the directory cuttle is started from (and
 * "syslog:" with a typo after it is caught), and must fit in sun_path.
 */
static void
conf_parse_error_log_path(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	const size_t plen = sizeof(CONF_SYSLOG_PREFIX) - 1;
	struct conf *conf = obj;
	char q[CONF_QUOTE_LEN];
	const char *why = NULL;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if (strncmp(t, CONF_SYSLOG_PREFIX, plen) == 0 && t[plen] != '/')
		why = "\"syslog:\" must be followed by an absolute socket path";
	else if (strncmp(t, CONF_SYSLOG_PREFIX, plen) == 0 &&
	    strlen(t + plen) > CONF_SUN_PATH_MAX)
		why = "the socket path is too long for a unix socket";
	if (why != NULL) {
		conf_error(ctx, v, "invalid log path \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	free(conf->error_log_path);
	conf->error_log_path = t;
}

static const struct conf_key conf_error_log_keys[] = {
	{ "path",  0, conf_parse_error_log_path, 0, 0, 0 },
	{ "level", 0, conf_parse_level,  0, 0, 0 },
};

CONF_TABLE(conf_error_log_table, "in error_log", conf_error_log_keys);

static void
conf_parse_error_log(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_error_log_table, obj);
}

/* ------------------------------------------------------------------ */
/* user and group */

/*
 * Not finding an entry is not an error to POSIX, so implementations
 * differ in what they return for it; these are the values seen for
 * "no such name" (see getpwnam(3)).
 */
static int
conf_lookup_missing(int rc)
{
	return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
	    rc == EPERM;
}

/*
 * Looks user name up: CT_OK with its uid and primary gid, CT_DECLINED
 * when there is no such user, CT_ERROR with errno set when the lookup
 * itself failed.
 */
static int
conf_user_lookup(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	size_t len = CONF_PWBUF_MIN;
	char *buf = NULL, *p;
	int rc;

	do {
		if ((p = realloc(buf, len)) == NULL) {
			free(buf);
			errno = ENOMEM;
			return CT_ERROR;
		}
		buf = p;
		rc = getpwnam_r(name, &pw, buf, len, &res);
		len *= 2;
	} while (rc == ERANGE && len <= CONF_PWBUF_MAX);
	if (rc == 0 && res != NULL) {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
	}
	free(buf);
	if (rc == 0 && res != NULL)
		return CT_OK;
	if (conf_lookup_missing(rc))
		return CT_DECLINED;
	errno = rc;
	return CT_ERROR;
}

/* As conf_user_lookup(), for group name. */
static int
conf_group_lookup(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	size_t len = CONF_PWBUF_MIN;
	char *buf = NULL, *p;
	int rc;

	do {
		if ((p = realloc(buf, len)) == NULL) {
			free(buf);
			errno = ENOMEM;
			return CT_ERROR;
		}
		buf = p;
		rc = getgrnam_r(name, &gr, buf, len, &res);
		len *= 2;
	} while (rc == ERANGE && len <= CONF_PWBUF_MAX);
	if (rc == 0 && res != NULL)
		*gid = gr.gr_gid;
	free(buf);
	if (rc == 0 && res != NULL)
		return CT_OK;
	if (conf_lookup_missing(rc))
		return CT_DECLINED;
	errno = rc;
	return CT_ERROR;
}

/*
 * Reports the failed lookup of name (a "user" or "group", by what);
 * rc is what the lookup returned.
 */
static void
conf_id_error(struct conf_ctx *ctx, const struct node *v, const char *what,
    const char *name, int rc)
{
	char q[CONF_QUOTE_LEN];

	conf_quote(name, q, sizeof(q));
	if (rc == CT_DECLINED)
		conf_error(ctx, v, "unknown %s \"%s\"", what, q);
	else if (errno == ENOMEM)
		conf_oom(ctx);
	else
		conf_error(ctx, v, "cannot look up %s \"%s\": %s", what, q,
		    strerror(errno));
}

/*
 * Names are resolved at load, so that "cuttle -t" catches a typo and a
 * reload never leaves workers with ids that no longer exist.  The
 * user's primary group is the gid unless "group" says otherwise, in
 * whichever order the two keys come.
 */
static void
conf_parse_user(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	uid_t uid;
	gid_t gid;
	char *t;
	int rc;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if ((rc = conf_user_lookup(t, &uid, &gid)) != CT_OK) {
		conf_id_error(ctx, v, "user", t, rc);
		free(t);
		return;
	}
	conf->user = t;
	conf->uid = uid;
	if (conf->group == NULL)
		conf->gid = gid;
}

static void
conf_parse_group(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	gid_t gid;
	char *t;
	int rc;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if ((rc = conf_group_lookup(t, &gid)) != CT_OK) {
		conf_id_error(ctx, v, "group", t, rc);
		free(t);
		return;
	}
	conf->group = t;
	conf->gid = gid;
}

/* ------------------------------------------------------------------ */
/* upstreams */

static void
conf_parse_balance(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_balance_names,
	    CT_NELEM(conf_balance_names), &i) == CT_OK)
		u->balance = (enum conf_balance)i;
}

static int conf_token_valid(const char *s, size_t n);
static void conf_str_lower(char *s);

/*
 * client_ip, uri, header:NAME or cookie:NAME.  NAME is a token (field
 * names and cookie names both are); a field name is kept lower-case.
 */
static void
conf_parse_hash_key(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	static const char *const cands[] = { "client_ip", "uri", "header:", "cookie:" };
	struct conf_upstream *u = obj;
	char q[CONF_QUOTE_LEN];
	struct conf_near near;
	const char *colon, *best;
	size_t i, n;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	colon = strchr(t, ':');
	n = colon != NULL ? (size_t)(colon - t) : strlen(t);
	for (i = 0; i < CT_NELEM(conf_hash_key_names); i++) {
		int named = i == CONF_HASH_HEADER || i == CONF_HASH_COOKIE;

		if (strlen(conf_hash_key_names[i]) != n ||
		    strncmp(t, conf_hash_key_names[i], n) != 0)
			continue;
		if (named != (colon != NULL))
			break;
		if (named && !conf_token_valid(colon + 1, strlen(colon + 1))) {
			conf_error(ctx, v, "invalid name in \"%s\" for \"%s\": %s",
			    conf_quote(t, q, sizeof(q)), k->name, CONF_TOKEN_WHY);
			free(t);
			return;
		}
		u->hash_key = (enum conf_hash_key)i;
		if (named && (u->hash_name = strdup(colon + 1)) == NULL)
			conf_oom(ctx);
		if (i == CONF_HASH_HEADER && u->hash_name != NULL)
			conf_str_lower(u->hash_name);
		free(t);
		return;
	}
	conf_near_init(&near, t);
	for (i = 0; i < CT_NELEM(cands); i++)
		conf_near_try(&near, cands[i]);
	conf_quote(t, q, sizeof(q));
	if ((best = conf_near_best(&near)) != NULL)
		conf_error(ctx, v, "invalid value \"%s\" for \"%s\", expected "
		    "client_ip, uri, header:NAME or cookie:NAME; did you mean "
		    "\"%s\"?", q, k->name, best);
	else
		conf_error(ctx, v, "invalid value \"%s\" for \"%s\", expected "
		    "client_ip, uri, header:NAME or cookie:NAME", q, k->name);
	free(t);
}

/* A duration that may be 0 (off), unlike timeouts. */
static void
conf_parse_slow_start(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;
	char q[CONF_QUOTE_LEN], hi[32];
	const char *why;
	uint64_t ms;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (units_parse_duration(t, &ms, &why) == CT_ERROR)
		conf_error(ctx, v, "invalid duration \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
	else if (ms > k->max)
		conf_error(ctx, v, "\"%s\" must be at most %s, not \"%s\"", k->name,
		    conf_duration_format(k->max, hi, sizeof(hi)),
		    conf_quote(t, q, sizeof(q)));
	else
		u->slow_start_ms = ms;
	free(t);
}

/* Servers are connected to, so the wildcard makes no sense there. */
static void
conf_parse_server_address(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_server *s = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (addr_parse(t, 0, &s->addr, &why) == CT_ERROR) {
		conf_error(ctx, v, "invalid address \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	s->address = t;
}

static const struct conf_key conf_server_keys[] = {
	{ "address", 1, conf_parse_server_address, 0, 0, 0 },
	{ "weight",  0, conf_parse_unsigned, offsetof(struct conf_server, weight), 1, CONF_WEIGHT_MAX },
	{ "backup",  0, conf_parse_bool, offsetof(struct conf_server, backup), 0, 0 },
};

CONF_TABLE(conf_server_table, "in server", conf_server_keys);

static void
conf_parse_servers(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems < 1 || v->nitems > CONF_SERVERS_MAX) {
		conf_error(ctx, v, "\"%s\" must have between 1 and %d entries, "
		    "not %zu", k->name, CONF_SERVERS_MAX, v->nitems);
		return;
	}
	if ((u->servers = calloc(v->nitems, sizeof(*u->servers))) == NULL) {
		conf_oom(ctx);
		return;
	}
	u->nservers = v->nitems;
	for (i = 0; i < v->nitems; i++) {
		u->servers[i].weight = 1;
		if (conf_expect(ctx, v->items[i], NODE_MAPPING, k->name, 1) == CT_OK)
			conf_map_walk(ctx, v->items[i], &conf_server_table,
			    &u->servers[i]);
	}
}

static const struct conf_key conf_keepalive_keys[] = {
	{ "max_idle",     0, conf_parse_unsigned, offsetof(struct conf_keepalive, max_idle), 0, CONF_KEEPALIVE_MAX },
	{ "idle_timeout", 0, conf_parse_duration, offsetof(struct conf_keepalive, idle_timeout_ms), 1, CONF_DURATION_MAX },
};

CONF_TABLE(conf_keepalive_table, "in keepalive", conf_keepalive_keys);

static void
conf_parse_keepalive(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;

	conf_map_parse(ctx, k, v, &conf_keepalive_table, &u->keepalive);
}

/* ------------------------------------------------------------------ */
/* health: active checks (run by the master) and passive counting */

static void
conf_parse_check_type(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	size_t i;

	/* "none" is what leaving "active" out means, not a value to write */
	if (conf_enum_parse(ctx, k, v, conf_check_type_names + 1,
	    CT_NELEM(conf_check_type_names) - 1, &i) == CT_OK)
		h->type = (enum conf_check_type)(i + 1);
}

/*
 * The path goes into the request line as written, so it must be one
 * token of visible ASCII; a query is allowed, unlike in route matches.
 */
static void
conf_parse_check_path(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	char q[CONF_QUOTE_LEN];
	const unsigned char *p;
	const char *why = NULL;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if (t[0] != '/')
		why = "must start with \"/\"";
	for (p = (const unsigned char *)t; why == NULL && *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			why = "use visible ASCII without spaces; percent-encode "
			    "the rest";
	if (why != NULL) {
		conf_error(ctx, v, "invalid path \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	free(h->path);
	h->path = t;
}

/* "NNN" or "LO-HI" into *r: NULL, or why s is neither. */
static const char *
conf_status_range_parse(const char *s, struct conf_status_range *r)
{
	static const char *const bad =
	    "use a status from 100 to 599 or a range LO-HI";
	const char *dash = strchr(s, '-');
	size_t n = dash != NULL ? (size_t)(dash - s) : strlen(s);
	uint64_t lo, hi;
	char first[8];

	if (n == 0 || n >= sizeof(first))
		return bad;
	memcpy(first, s, n);
	first[n] = '\0';
	if (units_parse_uint(first, 100, 599, &lo, NULL) == CT_ERROR)
		return bad;
	hi = lo;
	if (dash != NULL &&
	    units_parse_uint(dash + 1, 100, 599, &hi, NULL) == CT_ERROR)
		return bad;
	if (lo > hi)
		return "the low end of the range is above the high end";
	r->lo = (unsigned)lo;
	r->hi = (unsigned)hi;
	return NULL;
}

/* A sequence of statuses and status ranges; every bad entry is reported. */
static void
conf_parse_expect(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	size_t i;
	char *t;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems < 1 || v->nitems > CONF_EXPECT_MAX) {
		conf_error(ctx, v, "\"%s\" must have between 1 and %d entries, "
		    "not %zu", k->name, CONF_EXPECT_MAX, v->nitems);
		return;
	}
	if ((h->expect = calloc(v->nitems, sizeof(*h->expect))) == NULL) {
		conf_oom(ctx);
		return;
	}
	for (i = 0; i < v->nitems; i++) {
		if (conf_expect(ctx, v->items[i], NODE_SCALAR, k->name, 1) ==
		    CT_ERROR || (t = conf_env_expand(ctx, v->items[i])) == NULL)
			continue;
		if ((why = conf_status_range_parse(t, &h->expect[h->nexpect]))
		    != NULL)
			conf_error(ctx, v->items[i], "invalid entry \"%s\" in "
			    "\"%s\": %s", conf_quote(t, q, sizeof(q)), k->name, why);
		else
			h->nexpect++;
		free(t);
	}
}

/* Searched for in the response body; it is logged, so one line. */
static void
conf_parse_check_body(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;
	size_t n;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if ((n = strlen(t)) > CONF_CHECK_BODY_MAX)
		conf_error(ctx, v, "\"%s\" must be at most 1k, not %zu bytes",
		    k->name, n);
	else if (strpbrk(t, "\r\n") != NULL)
		conf_error(ctx, v, "\"%s\" must not contain CR or LF", k->name);
	else {
		free(h->body);
		h->body = t;
		return;
	}
	free(t);
}

static const struct conf_key conf_active_keys[] = {
	{ "type",     1, conf_parse_check_type, 0, 0, 0 },
	{ "path",     0, conf_parse_check_path, 0, 0, 0 },
	{ "expect",   0, conf_parse_expect, 0, 0, 0 },
	{ "body",     0, conf_parse_check_body, 0, 0, 0 },
	{ "interval", 0, conf_parse_duration, offsetof(struct conf_health, interval_ms), CONF_CHECK_INTERVAL_MIN, CONF_CHECK_INTERVAL_MAX },
	{ "timeout",  0, conf_parse_duration, offsetof(struct conf_health, timeout_ms), 1, CONF_CHECK_INTERVAL_MAX },
	{ "rise",     0, conf_parse_unsigned, offsetof(struct conf_health, rise), 1, CONF_CHECK_COUNT_MAX },
	{ "fall",     0, conf_parse_unsigned, offsetof(struct conf_health, fall), 1, CONF_CHECK_COUNT_MAX },
};

CONF_TABLE(conf_active_table, "in active", conf_active_keys);

/*
 * What needs the whole of "active": the keys of type http only, their
 * defaults, and a timeout that fits in the interval.  timeout_ms is 0
 * here unless a valid timeout was written; the default then shrinks
 * to a short interval rather than being an error nobody wrote.
 */
static void
conf_active_check(struct conf_ctx *ctx, const struct node *v,
    struct conf_health *h)
{
	static const char *const http_only[] = { "path", "expect", "body" };
	char a[32], b[32];
	const struct node *n;
	size_t i;

	for (i = 0; h->type == CONF_CHECK_TCP && i < CT_NELEM(http_only); i++)
		if ((n = node_map_get(v, http_only[i])) != NULL)
			conf_error(ctx, n, "\"%s\" needs \"type: http\"",
			    http_only[i]);
	if (h->type == CONF_CHECK_HTTP && h->path == NULL &&
	    (h->path = strdup("/")) == NULL)
		conf_oom(ctx);
	if (h->type == CONF_CHECK_HTTP && h->nexpect == 0 &&
	    node_map_get(v, "expect") == NULL) {
		if ((h->expect = calloc(1, sizeof(*h->expect))) == NULL) {
			conf_oom(ctx);
		} else {
			h->expect[0].lo = 200;
			h->expect[0].hi = 399;
			h->nexpect = 1;
		}
	}
	if (h->timeout_ms == 0)
		h->timeout_ms = CT_MIN(CONF_CHECK_TIMEOUT_DEFAULT, h->interval_ms);
	else if (h->timeout_ms > h->interval_ms &&
	    (n = node_map_get(v, "timeout")) != NULL)
		conf_error(ctx, n, "\"timeout\" must be at most the interval "
		    "(%s), not %s", conf_duration_format(h->interval_ms, a,
		    sizeof(a)), conf_duration_format(h->timeout_ms, b, sizeof(b)));
}

static void
conf_parse_active(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_health *h = obj;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR)
		return;
	h->timeout_ms = 0;
	conf_map_walk(ctx, v, &conf_active_table, h);
	conf_active_check(ctx, v, h);
}

static const struct conf_key conf_passive_keys[] = {
	{ "max_fails",    1, conf_parse_unsigned, offsetof(struct conf_health, max_fails), 1, CONF_MAX_FAILS_MAX },
	{ "fail_timeout", 0, conf_parse_duration, offsetof(struct conf_health, fail_timeout_ms), 1, CONF_FAIL_TIMEOUT_MAX },
};

CONF_TABLE(conf_passive_table, "in passive", conf_passive_keys);

static void
conf_parse_passive(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_passive_table, obj);
}

static const struct conf_key conf_health_keys[] = {
	{ "active",  0, conf_parse_active, 0, 0, 0 },
	{ "passive", 0, conf_parse_passive, 0, 0, 0 },
};

CONF_TABLE(conf_health_table, "in health", conf_health_keys);

static void
conf_parse_health(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_upstream *u = obj;

	conf_map_parse(ctx, k, v, &conf_health_table, &u->health);
}

/* What an upstream without "health" has, and what each key starts from. */
static void
conf_health_init(struct conf_health *h)
{
	h->type = CONF_CHECK_NONE;
	h->interval_ms = CONF_CHECK_INTERVAL_DEFAULT;
	h->timeout_ms = CONF_CHECK_TIMEOUT_DEFAULT;
	h->rise = CONF_CHECK_RISE_DEFAULT;
	h->fall = CONF_CHECK_FALL_DEFAULT;
	h->max_fails = 0;
	h->fail_timeout_ms = CONF_FAIL_TIMEOUT_DEFAULT;
}

static const struct conf_key conf_upstream_keys[] = {
	{ "balance",    0, conf_parse_balance, 0, 0, 0 },
	{ "hash_key",   0, conf_parse_hash_key, 0, 0, 0 },
	{ "slow_start", 0, conf_parse_slow_start, 0, 0, CONF_SLOW_START_MAX },
	{ "keepalive",  0, conf_parse_keepalive, 0, 0, 0 },
	{ "health",     0, conf_parse_health, 0, 0, 0 },
	{ "servers",    1, conf_parse_servers, 0, 0, 0 },
};

CONF_TABLE(conf_upstream_table, "in upstream", conf_upstream_keys);

static void
conf_upstream_dup(struct conf_ctx *ctx, const struct conf_ref *dup,
    const struct conf_ref *first)
{
	char q[CONF_QUOTE_LEN];

	conf_error(ctx, dup->node, "duplicate upstream \"%s\" (first at line %u, "
	    "column %u)", conf_quote(dup->node->scalar, q, sizeof(q)),
	    first->node->line, first->node->col);
}

/*
 * hash_key only means something to balance hash, and a ring needs at
 * least one primary server (backups alone would never be used first).
 */
static void
conf_upstream_check(struct conf_ctx *ctx, const struct node *v,
    const struct conf_upstream *u)
{
	const struct node *n;
	size_t i;

	if (u->balance != CONF_BALANCE_HASH &&
	    (n = node_map_get(v, "hash_key")) != NULL)
		conf_error(ctx, n, "\"hash_key\" needs \"balance: hash\"");
	for (i = 0; i < u->nservers; i++)
		if (!u->servers[i].backup)
			return;
	if (u->nservers > 0 && (n = node_map_get(v, "servers")) != NULL)
		conf_error(ctx, n, "\"servers\" must have at least one server "
		    "that is not a backup");
}

/* Parses the upstream named by key; the name is kept even if invalid. */
static void
conf_upstream_parse(struct conf_ctx *ctx, const struct node *key,
    const struct node *v, struct conf_upstream *u)
{
	char q[CONF_QUOTE_LEN];

	u->balance = CONF_BALANCE_ROUND_ROBIN;
	u->keepalive.max_idle = CONF_KEEPALIVE_DEFAULT;
	u->keepalive.idle_timeout_ms = CONF_KEEPALIVE_TIMEOUT_DEFAULT;
	conf_health_init(&u->health);
	if (!conf_name_valid(key->scalar))
		conf_name_error(ctx, key, "upstream", key->scalar);
	if ((u->name = strdup(key->scalar)) == NULL) {
		conf_oom(ctx);
		return;
	}
	if (v->type != NODE_MAPPING) {
		conf_error(ctx, v, "upstream \"%s\" must be a mapping",
		    conf_quote(key->scalar, q, sizeof(q)));
		return;
	}
	conf_map_walk(ctx, v, &conf_upstream_table, u);
	conf_upstream_check(ctx, v, u);
}

/*
 * The upstreams mapping: name -> upstream.  Names are mapping keys, so
 * their duplicates are caught here rather than by a key table, and the
 * sorted names stay in ctx for resolving listeners' references.
 */
static void
conf_parse_upstreams(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	const struct node *key;
	size_t i, n;

	if (conf_expect(ctx, v, NODE_MAPPING, k->name, 0) == CT_ERROR ||
	    (n = v->npairs) == 0)
		return;
	conf->upstreams = calloc(n, sizeof(*conf->upstreams));
	ctx->upstreams = calloc(n, sizeof(*ctx->upstreams));
	if (conf->upstreams == NULL || ctx->upstreams == NULL) {
		conf_oom(ctx);
		return;
	}
	conf->nupstreams = ctx->nupstreams = n;
	for (i = 0; i < n; i++) {
		key = v->pairs[i].key;
		ctx->upstreams[i].key = key->scalar;
		ctx->upstreams[i].keylen = key->len;
		ctx->upstreams[i].idx = i;
		ctx->upstreams[i].node = key;
		conf_upstream_parse(ctx, key, v->pairs[i].value,
		    &conf->upstreams[i]);
	}
	conf_refs_dedup(ctx, ctx->upstreams, n, conf_upstream_dup);
}

/* ------------------------------------------------------------------ */
/* HTTP syntax, for routes, header rewriting and compression */

/* Checks one entry of a list and folds its case; NULL, or why not valid. */
typedef const char *(*conf_word_cb)(char *s);


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

/* ASCII only: a locale must not change what a config means. */
static void
conf_str_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void
conf_str_upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

static int
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
static int
conf_token_valid(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!conf_tchar(s[i]))
			return 0;
	return n > 0;
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

static const char *
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

/* Reports unless min <= count <= max, count being the entries of v. */
static int
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

/*
 * A sequence of min to max words into *out (count in *n), each checked
 * and case-folded by check; what names an entry in messages.  Words
 * that differ only in case are duplicates, as HTTP compares them so.
 * The few entries allowed keep the quadratic search cheap.
 */
static void
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
conf_parse_request_set(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 1, &h->set, &h->nset);
}

static void
conf_parse_request_add(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 1, &h->add, &h->nadd);
}

static void
conf_parse_request_remove(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_words_parse(ctx, k, v, 0, CONF_HEADER_OPS_MAX, "header",
	    conf_request_header_check, &h->remove, &h->nremove);
}

static void
conf_parse_response_set(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 0, &h->set, &h->nset);
}

static void
conf_parse_response_add(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_kvs_parse(ctx, k, v, 0, &h->add, &h->nadd);
}

static void
conf_parse_response_remove(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_header_ops *h = obj;

	conf_words_parse(ctx, k, v, 0, CONF_HEADER_OPS_MAX, "header",
	    conf_response_header_check, &h->remove, &h->nremove);
}

static const struct conf_key conf_request_headers_keys[] = {
	{ "set",    0, conf_parse_request_set, 0, 0, 0 },
	{ "add",    0, conf_parse_request_add, 0, 0, 0 },
	{ "remove", 0, conf_parse_request_remove, 0, 0, 0 },
};

CONF_TABLE(conf_request_headers_table, "in request_headers",
    conf_request_headers_keys);

static const struct conf_key conf_response_headers_keys[] = {
	{ "set",    0, conf_parse_response_set, 0, 0, 0 },
	{ "add",    0, conf_parse_response_add, 0, 0, 0 },
	{ "remove", 0, conf_parse_response_remove, 0, 0, 0 },
};

CONF_TABLE(conf_response_headers_table, "in response_headers",
    conf_response_headers_keys);

static void
conf_parse_request_headers(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	conf_map_parse(ctx, k, v, &conf_request_headers_table,
	    &r->request_headers);
}

static void
conf_parse_response_headers(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
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
static const char *
conf_match_host_why(const char *s)
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
conf_parse_match_host(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;
	char q[CONF_QUOTE_LEN];
	const char *why;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if ((why = conf_match_host_why(t)) != NULL) {
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
conf_parse_match_path(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_match_methods(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	conf_words_parse(ctx, k, v, 1, CONF_METHODS_MAX, "method",
	    conf_method_check, &r->methods, &r->nmethods);
}

static const struct conf_key conf_match_keys[] = {
	{ "host",        0, conf_parse_match_host, 0, 0, 0 },
	{ "path_prefix", 0, conf_parse_match_path, offsetof(struct conf_route, path_prefix), 0, 0 },
	{ "path_exact",  0, conf_parse_match_path, offsetof(struct conf_route, path_exact), 0, 0 },
	{ "methods",     0, conf_parse_match_methods, 0, 0, 0 },
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
conf_parse_match(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_route_upstream(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	r->upstream_name = conf_text(ctx, k, v);
}

static void
conf_parse_return_body(struct conf_ctx *ctx, const struct conf_key *k,
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
	{ "status", 0, conf_parse_unsigned, offsetof(struct conf_route, status), 100, 599 },
	{ "body",   0, conf_parse_return_body, 0, 0, 0 },
};

CONF_TABLE(conf_return_table, "in return", conf_return_keys);

static void
conf_parse_return(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_redirect_status(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_location(struct conf_ctx *ctx, const struct conf_key *k,
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

static const struct conf_key conf_redirect_keys[] = {
	{ "status",   0, conf_parse_redirect_status, 0, 0, 0 },
	{ "location", 1, conf_parse_location, 0, 0, 0 },
};

CONF_TABLE(conf_redirect_table, "in redirect", conf_redirect_keys);

static void
conf_parse_redirect(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_route *r = obj;

	r->status = 302;
	conf_map_parse(ctx, k, v, &conf_redirect_table, r);
}

/*
 * The Host field sent upstream instead of the client's: a name, an
 * IPv4 address or a bracketed IPv6 one, and an optional port.  Only
 * the characters are checked; the server is the judge of the rest.
 */
static void
conf_parse_host_rewrite(struct conf_ctx *ctx, const struct conf_key *k,
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
	{ "match",            0, conf_parse_match, 0, 0, 0 },
	{ "upstream",         0, conf_parse_route_upstream, 0, 0, 0 },
	{ "return",           0, conf_parse_return, 0, 0, 0 },
	{ "redirect",         0, conf_parse_redirect, 0, 0, 0 },
	{ "host_rewrite",     0, conf_parse_host_rewrite, 0, 0, 0 },
	{ "request_headers",  0, conf_parse_request_headers, 0, 0, 0 },
	{ "response_headers", 0, conf_parse_response_headers, 0, 0, 0 },
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
	"host_rewrite", "request_headers", "response_headers",
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

static void
conf_parse_routes(struct conf_ctx *ctx, const struct conf_key *k,
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
}

/* ------------------------------------------------------------------ */
/* compress */

static void
conf_parse_compress_types(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_compress *c = obj;

	conf_words_parse(ctx, k, v, 1, CONF_TYPES_MAX, "media type",
	    conf_media_type_check, &c->types, &c->ntypes);
}

static const struct conf_key conf_compress_keys[] = {
	{ "types",    0, conf_parse_compress_types, 0, 0, 0 },
	{ "min_size", 0, conf_parse_size, offsetof(struct conf_compress, min_size), 0, CONF_COMPRESS_MIN_MAX },
	{ "level",    0, conf_parse_int, offsetof(struct conf_compress, level), 1, 9 },
};

CONF_TABLE(conf_compress_table, "in compress", conf_compress_keys);

/* The key's presence turns compression on; all its keys have defaults. */
static void
conf_parse_compress(struct conf_ctx *ctx, const struct conf_key *k,
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

/* ------------------------------------------------------------------ */
/* listeners */

static void
conf_parse_listener_name(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_listen(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_mode(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_upstream_ref(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	l->upstream_name = conf_text(ctx, k, v);
}

/* A sequence of CIDR blocks into *out (count in *n). */
static void
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
conf_parse_allow(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_acl *acl = obj;

	conf_cidrs_parse(ctx, k, v, &acl->allow, &acl->nallow);
}

static void
conf_parse_deny(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_acl *acl = obj;

	conf_cidrs_parse(ctx, k, v, &acl->deny, &acl->ndeny);
}

static const struct conf_key conf_acl_keys[] = {
	{ "allow", 0, conf_parse_allow, 0, 0, 0 },
	{ "deny",  0, conf_parse_deny,  0, 0, 0 },
};

CONF_TABLE(conf_acl_table, "in acl", conf_acl_keys);

static void
conf_parse_acl(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	conf_map_parse(ctx, k, v, &conf_acl_table, &l->acl);
}

static const struct conf_key conf_timeouts_keys[] = {
	{ "connect", 0, conf_parse_duration, offsetof(struct conf_listener, connect_timeout_ms), 1, CONF_DURATION_MAX },
	{ "idle",    0, conf_parse_duration, offsetof(struct conf_listener, idle_timeout_ms), 1, CONF_DURATION_MAX },
	{ "header",  0, conf_parse_duration, offsetof(struct conf_listener, header_timeout_ms), 1, CONF_DURATION_MAX },
	{ "send",    0, conf_parse_duration, offsetof(struct conf_listener, send_timeout_ms), 1, CONF_DURATION_MAX },
	{ "read",    0, conf_parse_duration, offsetof(struct conf_listener, read_timeout_ms), 1, CONF_DURATION_MAX },
};

CONF_TABLE(conf_timeouts_table, "in timeouts", conf_timeouts_keys);

static void
conf_parse_timeouts(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_timeouts_table, obj);
}

static void
conf_parse_log_format(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_access_log *log = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_log_format_names,
	    CT_NELEM(conf_log_format_names), &i) == CT_OK)
		log->format = (enum conf_log_format)i;
}

static const struct conf_key conf_access_log_keys[] = {
	{ "path",   1, conf_parse_string, offsetof(struct conf_access_log, path), 0, 0 },
	{ "format", 0, conf_parse_log_format, 0, 0, 0 },
};

CONF_TABLE(conf_access_log_table, "in access_log", conf_access_log_keys);

static void
conf_parse_access_log(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_listener *l = obj;

	conf_map_parse(ctx, k, v, &conf_access_log_table, &l->access_log);
}

/* upstream and routes are required by mode: conf_listener_mode_check() */
static const struct conf_key conf_listener_keys[] = {
	{ "name",            1, conf_parse_listener_name, 0, 0, 0 },
	{ "listen",          1, conf_parse_listen, 0, 0, 0 },
	{ "mode",            1, conf_parse_mode, 0, 0, 0 },
	{ "upstream",        0, conf_parse_upstream_ref, 0, 0, 0 },
	{ "acl",             0, conf_parse_acl, 0, 0, 0 },
	{ "timeouts",        0, conf_parse_timeouts, 0, 0, 0 },
	{ "retries",         0, conf_parse_unsigned, offsetof(struct conf_listener, retries), 0, CONF_RETRIES_MAX },
	{ "access_log",      0, conf_parse_access_log, 0, 0, 0 },
	{ "routes",          0, conf_parse_routes, 0, 0, 0 },
	{ "max_body_size",   0, conf_parse_size, offsetof(struct conf_listener, max_body_size), 0, CONF_BODY_MAX },
	{ "max_header_size", 0, conf_parse_size, offsetof(struct conf_listener, max_header_size), CONF_HEAD_MIN, CONF_HEAD_MAX },
	{ "compress",        0, conf_parse_compress, 0, 0, 0 },
};

CONF_TABLE(conf_listener_table, "in listener", conf_listener_keys);

/* Keys of a listener, and of its timeouts, that only mode http has. */
static const char *const conf_http_keys[] = {
	"routes", "max_body_size", "max_header_size", "compress",
};

static const char *const conf_http_timeouts[] = { "header", "send", "read" };

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
}

/*
 * After the walk of listener map, once its mode is known: the keys
 * that mode requires and refuses, and the mode's defaults.  A tcp
 * listener keeps none of the HTTP values, so that nothing reads them
 * by mistake.
 */
static void
conf_listener_mode_check(struct conf_ctx *ctx, const struct node *map,
    struct conf_listener *l)
{
	const struct node *key, *timeouts = node_map_get(map, "timeouts");
	size_t i;

	if (l->mode == CONF_MODE_HTTP) {
		if ((key = node_map_key(map, "upstream")) != NULL)
			conf_error(ctx, key, "\"upstream\" is not used with mode "
			    "http; routes name their upstreams");
		if (node_map_key(map, "routes") == NULL)
			conf_error(ctx, map, "missing required key \"routes\" in "
			    "listener");
		if (l->idle_timeout_ms == 0)
			l->idle_timeout_ms = CONF_IDLE_HTTP_DEFAULT;
		return;
	}
	if (node_map_key(map, "upstream") == NULL)
		conf_error(ctx, map, "missing required key \"upstream\" in "
		    "listener");
	for (i = 0; i < CT_NELEM(conf_http_keys); i++)
		if ((key = node_map_key(map, conf_http_keys[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for mode http",
			    key->scalar);
	for (i = 0; i < CT_NELEM(conf_http_timeouts); i++)
		if ((key = node_map_key(timeouts, conf_http_timeouts[i])) != NULL)
			conf_error(ctx, key, "\"%s\" is only for mode http",
			    key->scalar);
	if (l->idle_timeout_ms == 0)
		l->idle_timeout_ms = CONF_IDLE_TCP_DEFAULT;
	l->header_timeout_ms = l->send_timeout_ms = l->read_timeout_ms = 0;
	l->max_body_size = l->max_header_size = 0;
}

static void
conf_parse_listeners(struct conf_ctx *ctx, const struct conf_key *k,
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

	conf_error(ctx, dup->node, "duplicate listener address %s (first at line "
	    "%u, column %u)", addr_format((const struct sockaddr *)&l->addr.ss,
	    a, sizeof(a)), first->node->line, first->node->col);
}

/* Resolves upstream name to an index in *idx, or reports it at v. */
static void
conf_upstream_resolve(struct conf_ctx *ctx, const char *name, size_t *idx,
    const struct node *v)
{
	struct conf_ref key = { name, strlen(name), 0, NULL };
	const struct conf_ref *r = NULL;
	char q[CONF_QUOTE_LEN];
	struct conf_near near;
	const char *best;
	size_t i;

	if (ctx->nupstreams > 0)
		r = bsearch(&key, ctx->upstreams, ctx->nupstreams,
		    sizeof(*ctx->upstreams), conf_ref_find_cmp);
	if (r != NULL) {
		*idx = r->idx;
		return;
	}
	conf_near_init(&near, name);
	for (i = 0; i < ctx->nupstreams; i++)
		conf_near_try(&near, ctx->upstreams[i].node->scalar);
	conf_quote(name, q, sizeof(q));
	if ((best = conf_near_best(&near)) != NULL)
		conf_error(ctx, v, "upstream \"%s\" is not defined, did you mean "
		    "\"%s\"?", q, best);
	else
		conf_error(ctx, v, "upstream \"%s\" is not defined", q);
}

/*
 * A tcp listener's upstream: it must exist, and a hash over it can only
 * use the client's address, since there is no request to take uri,
 * header or cookie from.
 */
static void
conf_tcp_upstream_check(struct conf_ctx *ctx, struct conf_listener *l,
    const struct node *v)
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
		    "mode http; a tcp listener can only use hash_key client_ip",
		    conf_quote(u->name, q, sizeof(q)), conf_hash_key_name(u->hash_key));
}

/* The upstreams that l's routes name; seq is its "routes" node. */
static void
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
	}
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
conf_listeners_check(struct conf_ctx *ctx, const struct node *seq)
{
	struct conf *conf = ctx->conf;
	struct conf_ref *names, *addrs;
	struct conf_listener *l;
	const struct node *item;
	size_t i, nn = 0, na = 0;

	if (conf->nlisteners == 0)
		return;
	names = calloc(conf->nlisteners, sizeof(*names));
	addrs = calloc(conf->nlisteners, sizeof(*addrs));
	if (names == NULL || addrs == NULL) {
		conf_oom(ctx);
		goto done;
	}
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		item = seq->items[i];
		if (l->name != NULL)
			names[nn++] = (struct conf_ref){ l->name, strlen(l->name),
			    i, node_map_get(item, "name") };
		if (l->listen != NULL)
			addrs[na++] = (struct conf_ref){ &l->addr.ss, l->addr.len,
			    i, node_map_get(item, "listen") };
		if (l->mode == CONF_MODE_TCP && l->upstream_name != NULL)
			conf_tcp_upstream_check(ctx, l, node_map_get(item, "upstream"));
		else if (l->mode == CONF_MODE_HTTP)
			conf_routes_resolve(ctx, l, node_map_get(item, "routes"));
	}
	conf_refs_dedup(ctx, names, nn, conf_listener_name_dup);
	conf_refs_dedup(ctx, addrs, na, conf_listener_addr_dup);
done:
	free(names);
	free(addrs);
}

/* ------------------------------------------------------------------ */
/* The top level */

/* "auto": one worker per online CPU, the usual prefork sizing. */
static unsigned
conf_workers_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)                  /* -1: the count is unknown here */
		return 1;
	return n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (unsigned)n;
}

static void
conf_parse_workers(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	char q[CONF_QUOTE_LEN];
	uint64_t n;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (strcmp(t, "auto") == 0)
		conf->workers = conf_workers_auto();
	else if (units_parse_uint(t, k->min, k->max, &n, NULL) == CT_OK)
		conf->workers = (unsigned)n;
	else
		conf_error(ctx, v, "\"%s\" must be \"auto\" or an integer between "
		    "%" PRIu64 " and %" PRIu64 ", not \"%s\"", k->name, k->min,
		    k->max, conf_quote(t, q, sizeof(q)));
	free(t);
}

/* ------------------------------------------------------------------ */
/* admin */

static void
conf_parse_admin_socket(struct conf_ctx *ctx, const struct conf_key *k,
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
conf_parse_admin_listen(struct conf_ctx *ctx, const struct conf_key *k,
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

/* The token is the file's first line; a file without one is an error. */
static void
conf_parse_admin_token_file(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_admin *a = obj;
	char line[512], q[CONF_QUOTE_LEN];
	size_t n;
	FILE *f;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if ((f = fopen(t, "re")) == NULL) {
		conf_error(ctx, v, "cannot read token_file \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), strerror(errno));
		free(t);
		return;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n < 16) {
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

static const struct conf_key conf_admin_keys[] = {
	{ "socket",     0, conf_parse_admin_socket, 0, 0, 0 },
	{ "listen",     0, conf_parse_admin_listen, 0, 0, 0 },
	{ "token_file", 0, conf_parse_admin_token_file, 0, 0, 0 },
};

CONF_TABLE(conf_admin_table, "in admin", conf_admin_keys);

static void
conf_parse_admin(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;

	conf_map_parse(ctx, k, v, &conf_admin_table, &conf->admin);
	if (conf->admin.listen != NULL && conf->admin.token == NULL &&
	    v->type == NODE_MAPPING && node_map_get(v, "token_file") == NULL)
		conf_error(ctx, v, "admin.listen needs token_file: no request is served "
		    "on TCP without a token");
}

static const struct conf_key conf_top_keys[] = {
	{ "workers",              0, conf_parse_workers, 0, 1, CONF_WORKERS_MAX },
	{ "shm_size",             0, conf_parse_size, offsetof(struct conf, shm_size), CONF_SHM_MIN, CONF_SHM_MAX },
	{ "worker_connections",   0, conf_parse_unsigned, offsetof(struct conf, worker_connections), 16, 1000000 },
	{ "error_log",            0, conf_parse_error_log, 0, 0, 0 },
	{ "upstreams",            0, conf_parse_upstreams, 0, 0, 0 },
	{ "listeners",            1, conf_parse_listeners, 0, 0, 0 },
	{ "daemon",               0, conf_parse_bool, offsetof(struct conf, daemon), 0, 0 },
	{ "pid_file",             0, conf_parse_string, offsetof(struct conf, pid_file), 0, 0 },
	{ "user",                 0, conf_parse_user, 0, 0, 0 },
	{ "group",                0, conf_parse_group, 0, 0, 0 },
	{ "worker_rlimit_nofile", 0, conf_parse_uint64, offsetof(struct conf, worker_rlimit_nofile), 1, CONF_NOFILE_MAX },
	{ "shutdown_timeout",     0, conf_parse_duration, offsetof(struct conf, shutdown_timeout_ms), 1, CONF_DURATION_MAX },
	{ "admin",                0, conf_parse_admin, 0, 0, 0 },
};

CONF_TABLE(conf_top_table, "at top level", conf_top_keys);

static int
conf_defaults_set(struct conf *conf)
{
	conf->workers = conf_workers_auto();
	conf->shm_size = CONF_SHM_DEFAULT;
	conf->worker_connections = 4096;
	conf->error_log_level = LOG_LVL_INFO;
	conf->shutdown_timeout_ms = CONF_SHUTDOWN_DEFAULT;
	conf->error_log_path = strdup("stderr");
	return conf->error_log_path != NULL ? CT_OK : CT_ERROR;
}

static void
conf_root_parse(struct conf_ctx *ctx, const struct node *root)
{
	const struct node *listeners;

	if (root == NULL) {
		conf_report(ctx, 1, 1, "the configuration is empty");
		return;
	}
	if (root->type != NODE_MAPPING) {
		conf_error(ctx, root, "the top level must be a mapping");
		return;
	}
	conf_map_walk(ctx, root, &conf_top_table, ctx->conf);
	listeners = node_map_get(root, "listeners");
	if (listeners != NULL && listeners->type == NODE_SEQUENCE &&
	    listeners->nitems == ctx->conf->nlisteners)
		conf_listeners_check(ctx, listeners);
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

static void
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
		free(r->host_rewrite);
		conf_header_ops_free(&r->request_headers);
		conf_header_ops_free(&r->response_headers);
	}
	free(routes);
}

void
conf_free(struct conf *conf)
{
	size_t i, j;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->nupstreams; i++) {
		for (j = 0; j < conf->upstreams[i].nservers; j++)
			free(conf->upstreams[i].servers[j].address);
		free(conf->upstreams[i].servers);
		free(conf->upstreams[i].name);
		free(conf->upstreams[i].hash_name);
		free(conf->upstreams[i].health.path);
		free(conf->upstreams[i].health.body);
		free(conf->upstreams[i].health.expect);
	}
	for (i = 0; i < conf->nlisteners; i++) {
		free(conf->listeners[i].name);
		free(conf->listeners[i].listen);
		free(conf->listeners[i].upstream_name);
		free(conf->listeners[i].acl.allow);
		free(conf->listeners[i].acl.deny);
		free(conf->listeners[i].access_log.path);
		conf_routes_free(conf->listeners[i].routes,
		    conf->listeners[i].nroutes);
		conf_strs_free(conf->listeners[i].compress.types,
		    conf->listeners[i].compress.ntypes);
	}
	free(conf->upstreams);
	free(conf->listeners);
	free(conf->error_log_path);
	free(conf->pid_file);
	free(conf->admin.socket);
	free(conf->admin.listen);
	free(conf->admin.token_file);
	free(conf->admin.token);
	free(conf->user);
	free(conf->group);
	free(conf->path);
	free(conf);
}

/* names[i] of a table of n enum names, or "unknown". */
static const char *
conf_enum_name(const char *const *names, size_t n, size_t i)
{
	return i < n ? names[i] : "unknown";
}

/* ------------------------------------------------------------------ */
/* Dump */

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
static void
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
static void
conf_dump_kv(FILE *out, int indent, const char *key, const char *value)
{
	fprintf(out, "%*s%s: ", indent, "", key);
	conf_dump_str(out, value, 1);
	putc('\n', out);
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

static void
conf_dump_cidrs(FILE *out, const char *key, const struct cidr *c, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;

	fprintf(out, "      %s: [", key);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", out);
		conf_dump_str(out, conf_cidr_format(&c[i], buf, sizeof(buf)), 1);
	}
	fputs("]\n", out);
}

/* "key: [...]" on a line of its own, indented, the strings quoted. */
static void
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

static void
conf_dump_hash_key(const struct conf_upstream *u, FILE *out)
{
	fprintf(out, "    hash_key: %s%s%s\n", conf_hash_key_name(u->hash_key),
	    u->hash_name != NULL ? ":" : "",
	    u->hash_name != NULL ? u->hash_name : "");
}

/*
 * "health:" only when something is on: the defaults of an upstream
 * without it are what loading no "health" gives back.
 */
static void
conf_dump_health(const struct conf_health *h, FILE *out)
{
	const struct conf_status_range *r;
	size_t i;
	char d[32];

	if (h->type == CONF_CHECK_NONE && h->max_fails == 0)
		return;
	fputs("    health:\n", out);
	if (h->type != CONF_CHECK_NONE) {
		fprintf(out, "      active:\n        type: %s\n",
		    conf_enum_name(conf_check_type_names,
		    CT_NELEM(conf_check_type_names), h->type));
		if (h->path != NULL)
			conf_dump_kv(out, 8, "path", h->path);
		if (h->nexpect > 0)
			fputs("        expect: [", out);
		for (i = 0; i < h->nexpect; i++) {
			r = &h->expect[i];
			fprintf(out, "%s%u", i == 0 ? "" : ", ", r->lo);
			if (r->hi != r->lo)
				fprintf(out, "-%u", r->hi);
		}
		if (h->nexpect > 0)
			fputs("]\n", out);
		if (h->body != NULL)
			conf_dump_kv(out, 8, "body", h->body);
		fprintf(out, "        interval: %s\n",
		    conf_duration_format(h->interval_ms, d, sizeof(d)));
		fprintf(out, "        timeout: %s\n        rise: %u\n"
		    "        fall: %u\n", conf_duration_format(h->timeout_ms, d,
		    sizeof(d)), h->rise, h->fall);
	}
	if (h->max_fails > 0)
		fprintf(out, "      passive:\n        max_fails: %u\n"
		    "        fail_timeout: %s\n", h->max_fails,
		    conf_duration_format(h->fail_timeout_ms, d, sizeof(d)));
}

static void
conf_dump_upstreams(const struct conf *conf, FILE *out)
{
	const struct conf_upstream *u;
	size_t i, j;
	char d[32];

	if (conf->nupstreams == 0) {
		fputs("upstreams: {}\n", out);
		return;
	}
	fputs("upstreams:\n", out);
	for (i = 0; i < conf->nupstreams; i++) {
		u = &conf->upstreams[i];
		fputs("  ", out);
		conf_dump_str(out, u->name, 0);
		fprintf(out, ":\n    balance: %s\n", conf_balance_name(u->balance));
		if (u->balance == CONF_BALANCE_HASH)
			conf_dump_hash_key(u, out);
		fprintf(out, "    slow_start: %s\n",
		    conf_duration_format(u->slow_start_ms, d, sizeof(d)));
		fprintf(out, "    keepalive:\n      max_idle: %u\n"
		    "      idle_timeout: %s\n", u->keepalive.max_idle,
		    conf_duration_format(u->keepalive.idle_timeout_ms, d, sizeof(d)));
		conf_dump_health(&u->health, out);
		fputs("    servers:\n", out);
		for (j = 0; j < u->nservers; j++) {
			fputs("      - ", out);
			conf_dump_kv(out, 0, "address", u->servers[j].address);
			fprintf(out, "        weight: %u\n        backup: %s\n",
			    u->servers[j].weight, conf_bool_names[u->servers[j].backup != 0]);
		}
	}
}

static void
conf_dump_timeouts(const struct conf_listener *l, FILE *out)
{
	char d[32];

	fprintf(out, "    timeouts:\n      connect: %s\n",
	    conf_duration_format(l->connect_timeout_ms, d, sizeof(d)));
	fprintf(out, "      idle: %s\n",
	    conf_duration_format(l->idle_timeout_ms, d, sizeof(d)));
	if (l->mode != CONF_MODE_HTTP)
		return;
	fprintf(out, "      header: %s\n",
	    conf_duration_format(l->header_timeout_ms, d, sizeof(d)));
	fprintf(out, "      send: %s\n",
	    conf_duration_format(l->send_timeout_ms, d, sizeof(d)));
	fprintf(out, "      read: %s\n",
	    conf_duration_format(l->read_timeout_ms, d, sizeof(d)));
}

static void
conf_dump_access_log(const struct conf_access_log *log, FILE *out)
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
conf_dump_compress(const struct conf_compress *c, FILE *out)
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
conf_dump_kvs(FILE *out, const char *key, const struct conf_kv *kv, size_t n)
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
conf_dump_header_ops(FILE *out, const char *key,
    const struct conf_header_ops *h)
{
	fprintf(out, "        %s:\n", key);
	conf_dump_kvs(out, "set", h->set, h->nset);
	conf_dump_kvs(out, "add", h->add, h->nadd);
	conf_dump_strs(out, 10, "remove", h->remove, h->nremove);
}

/* Only the match fields that are set: an absent one matches anything. */
static void
conf_dump_match(const struct conf_route *r, FILE *out)
{
	if (r->host == NULL && r->path_prefix == NULL &&
	    r->path_exact == NULL && r->nmethods == 0) {
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
}

static void
conf_dump_route(const struct conf_route *r, FILE *out)
{
	conf_dump_match(r, out);
	switch (r->action) {
	case CONF_ROUTE_UPSTREAM:
		conf_dump_kv(out, 8, "upstream", r->upstream_name);
		if (r->host_rewrite != NULL)
			conf_dump_kv(out, 8, "host_rewrite", r->host_rewrite);
		else
			fputs("        # host_rewrite: (the client's Host)\n", out);
		conf_dump_header_ops(out, "request_headers", &r->request_headers);
		conf_dump_header_ops(out, "response_headers",
		    &r->response_headers);
		break;
	case CONF_ROUTE_RETURN:
		fprintf(out, "        return:\n          status: %u\n", r->status);
		conf_dump_kv(out, 10, "body", r->body);
		break;
	case CONF_ROUTE_REDIRECT:
		fprintf(out, "        redirect:\n          status: %u\n", r->status);
		conf_dump_kv(out, 10, "location", r->location);
		break;
	}
}

static void
conf_dump_listener(const struct conf_listener *l, FILE *out)
{
	char b[32];
	size_t i;

	fputs("  - ", out);
	conf_dump_kv(out, 0, "name", l->name);
	conf_dump_kv(out, 4, "listen", l->listen);
	fprintf(out, "    mode: %s\n", conf_mode_name(l->mode));
	if (l->mode == CONF_MODE_TCP)
		conf_dump_kv(out, 4, "upstream", l->upstream_name);
	fputs("    acl:\n", out);
	conf_dump_cidrs(out, "allow", l->acl.allow, l->acl.nallow);
	conf_dump_cidrs(out, "deny", l->acl.deny, l->acl.ndeny);
	conf_dump_timeouts(l, out);
	fprintf(out, "    retries: %u\n", l->retries);
	conf_dump_access_log(&l->access_log, out);
	if (l->mode != CONF_MODE_HTTP)
		return;
	fprintf(out, "    max_body_size: %s\n",
	    conf_size_format(l->max_body_size, b, sizeof(b)));
	fprintf(out, "    max_header_size: %s\n",
	    conf_size_format(l->max_header_size, b, sizeof(b)));
	conf_dump_compress(&l->compress, out);
	fputs("    routes:\n", out);
	for (i = 0; i < l->nroutes; i++)
		conf_dump_route(&l->routes[i], out);
}

/*
 * user and group, and as comments the ids they resolved to: those are
 * what the workers get, and the system's databases may map the names
 * differently at the next load.
 */
static void
conf_dump_ids(const struct conf *conf, FILE *out)
{
	if (conf->user != NULL) {
		fputs("user: ", out);
		conf_dump_str(out, conf->user, 1);
		fprintf(out, "  # uid %ju\n", (uintmax_t)conf->uid);
	} else {
		fputs("# user: (none)\n", out);
	}
	if (conf->group != NULL) {
		fputs("group: ", out);
		conf_dump_str(out, conf->group, 1);
		fprintf(out, "  # gid %ju\n", (uintmax_t)conf->gid);
	} else if (conf->user != NULL) {
		fprintf(out, "# group: (the user's primary group, gid %ju)\n",
		    (uintmax_t)conf->gid);
	} else {
		fputs("# group: (none)\n", out);
	}
}

/*
 * One key per line in the order of struct conf; keys that are unset and
 * have no value to write (pid_file, user, ...) appear as comments, so
 * the dump still lists every key.  Write errors are left in out's error
 * flag for the caller.
 */
void
conf_dump(const struct conf *conf, FILE *out)
{
	char b[32];
	size_t i;

	fputs("# cuttle: the effective configuration, every default filled "
	    "in\n", out);
	fprintf(out, "workers: %u\n", conf->workers);
	fprintf(out, "shm_size: %s\n",
	    conf_size_format(conf->shm_size, b, sizeof(b)));
	fprintf(out, "worker_connections: %u\n", conf->worker_connections);
	fputs("error_log:\n", out);
	conf_dump_kv(out, 2, "path", conf->error_log_path);
	fprintf(out, "  level: %s\n", conf_enum_name(conf_level_names,
	    CT_NELEM(conf_level_names), conf->error_log_level));
	conf_dump_upstreams(conf, out);
	fputs("listeners:\n", out);
	for (i = 0; i < conf->nlisteners; i++)
		conf_dump_listener(&conf->listeners[i], out);
	fprintf(out, "daemon: %s\n", conf_bool_names[conf->daemon != 0]);
	if (conf->admin.socket != NULL || conf->admin.listen != NULL) {
		fputs("admin:\n", out);
		if (conf->admin.socket != NULL)
			conf_dump_kv(out, 2, "socket", conf->admin.socket);
		if (conf->admin.listen != NULL)
			conf_dump_kv(out, 2, "listen", conf->admin.listen);
		if (conf->admin.token_file != NULL)
			conf_dump_kv(out, 2, "token_file", conf->admin.token_file);
	}
	if (conf->pid_file != NULL)
		conf_dump_kv(out, 0, "pid_file", conf->pid_file);
	else
		fputs("# pid_file: (none)\n", out);
	conf_dump_ids(conf, out);
	if (conf->worker_rlimit_nofile != 0)
		fprintf(out, "worker_rlimit_nofile: %" PRIu64 "\n",
		    conf->worker_rlimit_nofile);
	else
		fputs("# worker_rlimit_nofile: (not changed)\n", out);
	fprintf(out, "shutdown_timeout: %s\n",
	    conf_duration_format(conf->shutdown_timeout_ms, b, sizeof(b)));
}

/* ------------------------------------------------------------------ */
/* Names */

const char *
conf_balance_name(enum conf_balance b)
{
	return conf_enum_name(conf_balance_names, CT_NELEM(conf_balance_names),
	    (size_t)b);
}

const char *
conf_hash_key_name(enum conf_hash_key k)
{
	return conf_enum_name(conf_hash_key_names, CT_NELEM(conf_hash_key_names),
	    (size_t)k);
}

const char *
conf_mode_name(enum conf_mode m)
{
	return conf_enum_name(conf_mode_names, CT_NELEM(conf_mode_names),
	    (size_t)m);
}

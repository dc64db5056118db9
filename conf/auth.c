/*
 * The "auth" block of http listeners and routes (conf/auth.h), and the
 * htpasswd files it names, read while the configuration loads.
 *
 * Only hashes that libcrypt verifies slowly enough to be worth keeping
 * are taken: bcrypt, sha512crypt, sha256crypt and yescrypt.  apr1-MD5,
 * SHA-1, DES and plain text are refused with their line, so that a file
 * that would let a leaked hash be cracked in seconds is never served.
 * The shape of each accepted hash is checked here too: a truncated hash
 * would otherwise make every password wrong, silently.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "conf/section.h"
#include "lib/ct.h"

#define CONF_AUTH_FAILURES_MAX 100000

/* ------------------------------------------------------ hash kinds */

static const struct {
	const char *prefix;
	enum conf_auth_hash kind;
	const char *name;
	size_t last;                /* length of the hash's last $-field */
} conf_auth_kinds[] = {
	{ "$2y$", CONF_AUTH_BCRYPT, "bcrypt", 53 },
	{ "$2b$", CONF_AUTH_BCRYPT, "bcrypt", 53 },
	{ "$2a$", CONF_AUTH_BCRYPT, "bcrypt", 53 },
	{ "$6$", CONF_AUTH_SHA512, "sha512crypt", 86 },
	{ "$5$", CONF_AUTH_SHA256, "sha256crypt", 43 },
	{ "$y$", CONF_AUTH_YESCRYPT, "yescrypt", 43 },
};

/* Kinds that htpasswd files are known to hold and that are refused. */
static const struct {
	const char *prefix;
	const char *name;
} conf_auth_refused[] = {
	{ "$apr1$", "apr1-MD5" },
	{ "$1$", "MD5-crypt" },
	{ "{SHA}", "SHA-1" },
	{ "$sha1$", "sha1crypt" },
	{ "$md5", "Sun MD5" },
	{ "$3$", "NT hash" },
	{ "$7$", "scrypt" },
	{ "$gy$", "gost-yescrypt" },
};

static int
conf_auth_crypt_char(char ch)
{
	return conf_alnum(ch) || ch == '.' || ch == '/' || ch == '$' || ch == '=';
}

/*
 * Why hash (len bytes) cannot be used, in buf, or NULL with its kind in
 * *kind.  A supported kind must also have the shape its scheme gives
 * it, and libcrypt must take its setting.
 */
static const char *
conf_auth_hash_why(const char *hash, size_t len, enum conf_auth_hash *kind, char *buf,
    size_t buflen)
{
	char copy[CONF_AUTH_HASH_MAX + 1];
	const char *last;
	size_t i, n;
	int cs;

	for (i = 0; i < CT_NELEM(conf_auth_kinds); i++) {
		n = strlen(conf_auth_kinds[i].prefix);
		if (len >= n && memcmp(hash, conf_auth_kinds[i].prefix, n) == 0)
			break;
	}
	if (i == CT_NELEM(conf_auth_kinds)) {
		const char *name = NULL;
		size_t j;

		for (j = 0; j < CT_NELEM(conf_auth_refused) && name == NULL; j++) {
			n = strlen(conf_auth_refused[j].prefix);
			if (len >= n && memcmp(hash, conf_auth_refused[j].prefix, n) == 0)
				name = conf_auth_refused[j].name;
		}
		if (name == NULL && len == 13) {
			for (j = 0; j < len && conf_auth_crypt_char(hash[j]) && hash[j] != '$'; j++)
				;
			if (j == len)
				name = "DES crypt";
		}
		if (name == NULL)
			name = len > 0 && hash[0] == '$' ? "unknown kind" : "plain text?";
		snprintf(buf, buflen, "unsupported hash (%s); use bcrypt, sha512crypt, "
		    "sha256crypt or yescrypt", name);
		return buf;
	}
	*kind = conf_auth_kinds[i].kind;
	if (len > CONF_AUTH_HASH_MAX) {
		snprintf(buf, buflen, "%s hash longer than %d bytes", conf_auth_kinds[i].name,
		    CONF_AUTH_HASH_MAX);
		return buf;
	}
	for (n = 0; n < len && conf_auth_crypt_char(hash[n]); n++)
		;
	memcpy(copy, hash, len);
	copy[len] = '\0';
	last = strrchr(copy, '$') + 1;
	cs = crypt_checksalt(copy);
	if (n < len || (size_t)(copy + len - last) != conf_auth_kinds[i].last ||
	    (*kind == CONF_AUTH_BCRYPT && len != 60) || cs == CRYPT_SALT_INVALID ||
	    cs == CRYPT_SALT_METHOD_DISABLED) {
		snprintf(buf, buflen, "malformed %s hash", conf_auth_kinds[i].name);
		return buf;
	}
	return NULL;
}

/* ---------------------------------------------------------- htpasswd */

/* A user of a file being read, with the line it came from. */
struct conf_auth_seen {
	struct conf_auth_user u;
	unsigned line;
};

static int
conf_auth_seen_cmp(const void *a, const void *b)
{
	const struct conf_auth_seen *x = a, *y = b;
	int c = strcmp(x->u.name, y->u.name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void
conf_auth_users_free(struct conf_auth_user *u, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(u[i].name);
		free(u[i].hash);
	}
	free(u);
}

/* A user name: 1..255 bytes, no colon (Basic credentials split at the first), no controls or spaces. */
static const char *
conf_auth_user_why(const char *p, size_t len)
{
	size_t i;

	if (len == 0)
		return "empty user name";
	if (len > CONF_AUTH_USER_MAX)
		return "user name longer than 255 bytes";
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
			return "spaces and control characters are not allowed in a user name";
	return NULL;
}

/*
 * One line that is not blank or a comment into s; CT_ERROR with the
 * reason told to err.
 */
static int
conf_htpasswd_line(const char *p, size_t len, unsigned line, struct conf_auth_seen *s,
    conf_htpasswd_err_cb err, void *arg)
{
	char msg[320], why[160], q[CONF_QUOTE_LEN], name[CONF_AUTH_USER_MAX + 1];
	const char *colon = memchr(p, ':', len), *w, *hash;
	size_t ulen, hlen;

	if (memchr(p, '\0', len) != NULL) {
		err(arg, line, "a NUL byte");
		return CT_ERROR;
	}
	if (colon == NULL) {
		err(arg, line, "no colon: lines are \"user:hash\"");
		return CT_ERROR;
	}
	ulen = (size_t)(colon - p);
	if ((w = conf_auth_user_why(p, ulen)) != NULL) {
		err(arg, line, w);
		return CT_ERROR;
	}
	memcpy(name, p, ulen);
	name[ulen] = '\0';
	conf_quote(name, q, sizeof(q));
	hash = colon + 1;
	hlen = len - ulen - 1;
	while (hlen > 0 && (hash[hlen - 1] == ' ' || hash[hlen - 1] == '\t'))
		hlen--;
	if ((w = conf_auth_hash_why(hash, hlen, &s->u.kind, why, sizeof(why))) != NULL) {
		snprintf(msg, sizeof(msg), "user \"%s\": %s", q, w);
		err(arg, line, msg);
		return CT_ERROR;
	}
	s->line = line;
	s->u.name = strdup(name);
	s->u.hash = strndup(hash, hlen);
	if (s->u.name == NULL || s->u.hash == NULL) {
		err(arg, 0, "out of memory");
		return CT_ERROR;
	}
	return CT_OK;
}

/* Reports every name given twice; CT_ERROR if any was. */
static int
conf_htpasswd_dups(struct conf_auth_seen *s, size_t n, conf_htpasswd_err_cb err, void *arg)
{
	char msg[CONF_QUOTE_LEN + 64], q[CONF_QUOTE_LEN];
	size_t i, first = 0;
	int rc = CT_OK;

	/* qsort() takes no NULL, even for nothing to sort. */
	if (n < 2)
		return CT_OK;
	qsort(s, n, sizeof(*s), conf_auth_seen_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(s[i].u.name, s[first].u.name) != 0) {
			first = i;
			continue;
		}
		snprintf(msg, sizeof(msg), "duplicate user \"%s\" (first at line %u)",
		    conf_quote(s[i].u.name, q, sizeof(q)), s[first].line);
		err(arg, s[i].line, msg);
		rc = CT_ERROR;
	}
	return rc;
}

int
conf_htpasswd_parse(const char *text, size_t len, struct conf_auth *a,
    conf_htpasswd_err_cb err, void *arg)
{
	struct conf_auth_seen *seen = NULL, *grown;
	size_t n = 0, cap = 0, i, llen;
	const char *p = text, *end = text + len, *eol, *q;
	unsigned line = 0;
	int rc = CT_OK;

	for (; p < end; p = eol + (eol < end)) {
		line++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		llen = (size_t)(eol - p);
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		for (q = p; q < p + llen && (*q == ' ' || *q == '\t'); q++)
			;
		if (q == p + llen || *q == '#')
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = realloc(seen, cap * sizeof(*seen))) == NULL) {
				err(arg, 0, "out of memory");
				rc = CT_ERROR;
				break;
			}
			seen = grown;
		}
		memset(&seen[n], 0, sizeof(seen[n]));
		if (conf_htpasswd_line(p, llen, line, &seen[n], err, arg) != CT_OK) {
			free(seen[n].u.name);
			free(seen[n].u.hash);
			rc = CT_ERROR;
			continue;
		}
		n++;
	}
	/* The users of good lines: a duplicate is told along with the other errors. */
	if (conf_htpasswd_dups(seen, n, err, arg) != CT_OK)
		rc = CT_ERROR;
	if (rc == CT_OK && n > 0 && (a->users = calloc(n, sizeof(*a->users))) == NULL) {
		err(arg, 0, "out of memory");
		rc = CT_ERROR;
	}
	for (i = 0; i < n; i++) {
		if (rc == CT_OK) {
			a->users[i] = seen[i].u;
		} else {
			free(seen[i].u.name);
			free(seen[i].u.hash);
		}
	}
	if (rc == CT_OK)
		a->nusers = n;
	free(seen);
	return rc;
}

const struct conf_auth_user *
conf_auth_user_find(const struct conf_auth *a, const char *name, size_t len)
{
	size_t lo = 0, hi = a->nusers, mid, nl;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		nl = strlen(a->users[mid].name);
		c = memcmp(name, a->users[mid].name, CT_MIN(len, nl));
		if (c == 0)
			c = len < nl ? -1 : len > nl;
		if (c == 0)
			return &a->users[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---------------------------------------------------- loading a file */

struct conf_auth_load {
	struct conf_ctx *ctx;
	const struct node *at;      /* the "htpasswd" value */
	const char *path;
};

static void
conf_auth_load_err(void *arg, unsigned line, const char *msg)
{
	struct conf_auth_load *l = arg;
	char q[CONF_QUOTE_LEN];

	if (line == 0) {
		conf_oom(l->ctx);
		return;
	}
	conf_error(l->ctx, l->at, "%s:%u: %s", conf_quote(l->path, q, sizeof(q)), line, msg);
}

/* Reads a's htpasswd file; errors at at, the "htpasswd" value. */
static void
conf_auth_load(struct conf_ctx *ctx, struct conf_auth *a, const struct node *at)
{
	struct conf_auth_load l = { ctx, at, a->htpasswd };
	char q[CONF_QUOTE_LEN];
	unsigned char *text;
	size_t len;

	if (conf_file_slurp(a->htpasswd, CONF_AUTH_FILE_MAX, &text, &len) != CT_OK) {
		conf_error(ctx, at, "cannot read htpasswd \"%s\": %s",
		    conf_quote(a->htpasswd, q, sizeof(q)), errno == EFBIG ? "larger than 16m" :
		    errno == ENODATA ? "it is empty" : strerror(errno));
		return;
	}
	SHA256(text, len, a->version);
	if (conf_htpasswd_parse((const char *)text, len, a, conf_auth_load_err, &l) == CT_OK &&
	    a->nusers == 0)
		conf_error(ctx, at, "htpasswd \"%s\" has no users",
		    conf_quote(a->htpasswd, q, sizeof(q)));
	free(text);
}

/* ----------------------------------------------------------- the block */

/* Goes in a quoted-string of WWW-Authenticate: no quotes, backslashes or controls. */
static void
conf_auth_realm_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_auth *a = obj;
	char q[CONF_QUOTE_LEN];
	const unsigned char *p;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	for (p = (const unsigned char *)t; *p >= 0x20 && *p != 0x7f && *p != '"' &&
	    *p != '\\'; p++)
		;
	if (*p != '\0' || strlen(t) > CONF_AUTH_REALM_MAX) {
		conf_error(ctx, v, "invalid realm \"%s\": at most %d characters, without "
		    "quotes, backslashes or control characters", conf_quote(t, q, sizeof(q)),
		    CONF_AUTH_REALM_MAX);
		free(t);
		return;
	}
	a->realm = t;
}

static const struct conf_key conf_auth_basic_keys[] = {
	{ "realm",              1, conf_auth_realm_parse, 0, 0, 0 },
	{ "htpasswd",           1, conf_string_parse, offsetof(struct conf_auth, htpasswd), 0, 0 },
	{ "pass_authorization", 0, conf_bool_parse, offsetof(struct conf_auth, pass_authorization), 0, 0 },
	{ "max_failures_per_minute", 0, conf_unsigned_parse, offsetof(struct conf_auth, max_failures), 0, CONF_AUTH_FAILURES_MAX },
};

CONF_TABLE(conf_auth_basic_table, "in basic", conf_auth_basic_keys);

static void
conf_auth_basic_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_auth *a = obj;

	conf_map_parse(ctx, k, v, &conf_auth_basic_table, a);
	if (a->htpasswd != NULL)
		conf_auth_load(ctx, a, node_map_get(v, "htpasswd"));
}

static const struct conf_key conf_auth_keys[] = {
	{ "basic", 1, conf_auth_basic_parse, 0, 0, 0 },
};

CONF_TABLE(conf_auth_table, "in auth", conf_auth_keys);

/*
 * "auth" into the struct conf_auth * at k->off of obj: a mapping, or,
 * on a route (k->min 1), "off".
 */
void
conf_auth_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_auth **field = (struct conf_auth **)((char *)obj + k->off), *a;
	int route = k->min == 1;

	if (v->type == NODE_SCALAR && route && strcmp(v->scalar, "off") == 0) {
		if ((a = calloc(1, sizeof(*a))) == NULL) {
			conf_oom(ctx);
			return;
		}
		a->off = 1;
		*field = a;
		return;
	}
	if (v->type != NODE_MAPPING) {
		conf_error(ctx, v, "\"%s\" must be a mapping with \"basic\"%s", k->name,
		    route ? ", or off" : "");
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		conf_oom(ctx);
		return;
	}
	a->max_failures = CONF_AUTH_FAILURES_DEFAULT;
	*field = a;
	conf_map_walk(ctx, v, &conf_auth_table, a);
}

void
conf_auth_free(struct conf_auth *a)
{
	if (a == NULL)
		return;
	free(a->realm);
	free(a->htpasswd);
	conf_auth_users_free(a->users, a->nusers);
	free(a);
}

void
conf_auth_dump(const struct conf_auth *a, int indent, FILE *out)
{
	if (a == NULL)
		return;
	if (a->off) {
		fprintf(out, "%*sauth: off\n", indent, "");
		return;
	}
	fprintf(out, "%*sauth:\n%*sbasic:\n", indent, "", indent + 2, "");
	conf_dump_kv(out, indent + 4, "realm", a->realm);
	conf_dump_kv(out, indent + 4, "htpasswd", a->htpasswd);
	fprintf(out, "%*spass_authorization: %s\n", indent + 4, "",
	    conf_bool_name(a->pass_authorization));
	fprintf(out, "%*smax_failures_per_minute: %u\n", indent + 4, "", a->max_failures);
}

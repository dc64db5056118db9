/*
 * The "tls" block of a listener (conf/tls.h), and the OpenSSL contexts
 * built from it while the configuration loads.
 *
 * Certificates whose names are the same (an RSA and an ECDSA one for
 * the same site) share a context, and OpenSSL serves each client the
 * one its signature algorithms allow.  A connection starts on the
 * default certificate's context; the server name callback moves it to
 * the context of the name the client asked for.  Every context gets the
 * same settings, since a moved connection keeps its protocol versions
 * and verify mode from the first but verifies with the second's store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "conf/section.h"
#include "lib/ct.h"
#include "lib/log.h"

#define CONF_TLS_OCSP_MAX   (64 * 1024)
#define CONF_TLS_EXPIRY_WARN (30 * 86400)
/* A ticket outlives two rotations of the shm keys at most (master/tls_keys.c). */
#define CONF_TLS_SESSION_TIMEOUT 7200

static conf_tls_keys_cb conf_tls_keys_source;

static const char *const conf_tls_verify_names[] = {
	[CONF_TLS_VERIFY_NONE] = "none",
	[CONF_TLS_VERIFY_OPTIONAL] = "optional",
	[CONF_TLS_VERIFY_REQUIRED] = "required",
};

static const char *const conf_tls_header_keys[] = {
	[CONF_TLS_HDR_VERIFY] = "verify",
	[CONF_TLS_HDR_SUBJECT] = "subject",
	[CONF_TLS_HDR_ISSUER] = "issuer",
	[CONF_TLS_HDR_SERIAL] = "serial",
	[CONF_TLS_HDR_FINGERPRINT] = "fingerprint",
};

static const struct {
	const char *name;
	unsigned bit;
	int version;
} conf_tls_versions[] = {
	{ "TLSv1",   CONF_TLS_V1_0, TLS1_VERSION },
	{ "TLSv1.1", CONF_TLS_V1_1, TLS1_1_VERSION },
	{ "TLSv1.2", CONF_TLS_V1_2, TLS1_2_VERSION },
	{ "TLSv1.3", CONF_TLS_V1_3, TLS1_3_VERSION },
};

void
conf_tls_set_keys_source(conf_tls_keys_cb cb)
{
	conf_tls_keys_source = cb;
}

int
conf_tls_ctx_index(void)
{
	static int idx = -1;

	if (idx == -1)
		idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return idx;
}

const char *
conf_tls_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		snprintf(buf, len, "%s", r);
	else if (e != 0)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

/* ------------------------------------------------------------ parsing */

static const struct conf_key conf_tls_cert_keys[] = {
	{ "cert",    1, conf_string_parse, offsetof(struct conf_tls_cert, cert), 0, 0 },
	{ "key",     1, conf_string_parse, offsetof(struct conf_tls_cert, key), 0, 0 },
	{ "ocsp",    0, conf_string_parse, offsetof(struct conf_tls_cert, ocsp), 0, 0 },
	{ "default", 0, conf_bool_parse, offsetof(struct conf_tls_cert, is_default), 0, 0 },
};

CONF_TABLE(conf_tls_cert_table, "in certificate", conf_tls_cert_keys);

static void
conf_tls_certs_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_tls *t = obj;
	size_t i;

	if (conf_expect(ctx, v, NODE_SEQUENCE, k->name, 0) == CT_ERROR)
		return;
	if (v->nitems == 0 || v->nitems > CONF_TLS_CERTS_MAX) {
		conf_error(ctx, v, "\"%s\" must have 1 to %d entries", k->name,
		    CONF_TLS_CERTS_MAX);
		return;
	}
	if ((t->certs = calloc(v->nitems, sizeof(*t->certs))) == NULL) {
		conf_oom(ctx);
		return;
	}
	t->ncerts = v->nitems;
	for (i = 0; i < v->nitems; i++)
		if (conf_expect(ctx, v->items[i], NODE_MAPPING, k->name, 1) == CT_OK)
			conf_map_walk(ctx, v->items[i], &conf_tls_cert_table, &t->certs[i]);
}

static const char *
conf_tls_version_check(char *s)
{
	size_t i;

	for (i = 0; i < CT_NELEM(conf_tls_versions); i++)
		if (strcmp(s, conf_tls_versions[i].name) == 0)
			return NULL;
	return strcmp(s, "TLSv1.0") == 0 ? NULL : "use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3";
}

void
conf_tls_protocols_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	char **words = NULL;
	size_t n = 0, i, j;
	unsigned bits = 0;

	conf_words_parse(ctx, k, v, 1, CT_NELEM(conf_tls_versions) + 1, "protocol",
	    conf_tls_version_check, &words, &n);
	for (i = 0; i < n; i++) {
		for (j = 0; words[i] != NULL && j < CT_NELEM(conf_tls_versions); j++)
			if (strcmp(words[i], conf_tls_versions[j].name) == 0 ||
			    (j == 0 && strcmp(words[i], "TLSv1.0") == 0))
				bits |= conf_tls_versions[j].bit;
		free(words[i]);
	}
	free(words);
	if (bits == 0)
		return;
	/* One range: OpenSSL has a lowest and a highest version, nothing between. */
	if ((bits & (bits + (bits & -bits))) != 0) {
		conf_error(ctx, v, "\"%s\" must be a range without gaps", k->name);
		return;
	}
	*(unsigned *)((char *)obj + k->off) = bits;
}

int
conf_tls_versions_set(SSL_CTX *sc, unsigned bits)
{
	int lo = 0, hi = 0;
	size_t i;

	for (i = 0; i < CT_NELEM(conf_tls_versions); i++)
		if (bits & conf_tls_versions[i].bit) {
			if (lo == 0)
				lo = conf_tls_versions[i].version;
			hi = conf_tls_versions[i].version;
		}
	return SSL_CTX_set_min_proto_version(sc, lo) == 1 &&
	    SSL_CTX_set_max_proto_version(sc, hi) == 1 ? CT_OK : CT_ERROR;
}

void
conf_tls_versions_dump(FILE *out, unsigned bits)
{
	size_t i;

	fputs("[", out);
	for (i = 0; i < CT_NELEM(conf_tls_versions); i++)
		if (bits & conf_tls_versions[i].bit)
			fprintf(out, "%s%s", (bits & (conf_tls_versions[i].bit - 1)) ? ", " : "",
			    conf_tls_versions[i].name);
	fputs("]\n", out);
}

/* An ALPN protocol id: 1..255 printable bytes. */
static const char *
conf_tls_alpn_check(char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 255)
		return "must be 1 to 255 characters";
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return "must be printable ASCII without spaces";
	return NULL;
}

static void
conf_tls_alpn_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_tls *t = obj;

	conf_words_parse(ctx, k, v, 1, CONF_TLS_ALPN_MAX, "protocol",
	    conf_tls_alpn_check, &t->alpn, &t->nalpn);
}

static void
conf_tls_verify_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_tls *t = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_tls_verify_names,
	    CT_NELEM(conf_tls_verify_names), &i) == CT_OK)
		t->verify = (enum conf_tls_verify)i;
}

static const struct conf_key conf_tls_header_table_keys[] = {
	{ "verify",      0, conf_token_parse, offsetof(struct conf_tls, headers[CONF_TLS_HDR_VERIFY]), 0, 0 },
	{ "subject",     0, conf_token_parse, offsetof(struct conf_tls, headers[CONF_TLS_HDR_SUBJECT]), 0, 0 },
	{ "issuer",      0, conf_token_parse, offsetof(struct conf_tls, headers[CONF_TLS_HDR_ISSUER]), 0, 0 },
	{ "serial",      0, conf_token_parse, offsetof(struct conf_tls, headers[CONF_TLS_HDR_SERIAL]), 0, 0 },
	{ "fingerprint", 0, conf_token_parse, offsetof(struct conf_tls, headers[CONF_TLS_HDR_FINGERPRINT]), 0, 0 },
};

CONF_TABLE(conf_tls_header_table, "in client_cert_headers", conf_tls_header_table_keys);

static void
conf_tls_headers_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_tls_header_table, obj);
}

static const struct conf_key conf_tls_keys[] = {
	{ "certificates",          1, conf_tls_certs_parse, 0, 0, 0 },
	{ "protocols",             0, conf_tls_protocols_parse, offsetof(struct conf_tls, protocols), 0, 0 },
	{ "ciphers",               0, conf_string_parse, offsetof(struct conf_tls, ciphers), 0, 0 },
	{ "ciphersuites",          0, conf_string_parse, offsetof(struct conf_tls, ciphersuites), 0, 0 },
	{ "groups",                0, conf_string_parse, offsetof(struct conf_tls, groups), 0, 0 },
	{ "prefer_server_ciphers", 0, conf_bool_parse, offsetof(struct conf_tls, prefer_server_ciphers), 0, 0 },
	{ "alpn",                  0, conf_tls_alpn_parse, 0, 0, 0 },
	{ "session_tickets",       0, conf_bool_parse, offsetof(struct conf_tls, session_tickets), 0, 0 },
	{ "ticket_key_file",       0, conf_string_parse, offsetof(struct conf_tls, ticket_key_file), 0, 0 },
	{ "handshake_timeout",     0, conf_duration_parse, offsetof(struct conf_tls, handshake_timeout_ms), 1, CONF_DURATION_MAX },
	{ "verify",                0, conf_tls_verify_parse, 0, 0, 0 },
	{ "client_ca",             0, conf_string_parse, offsetof(struct conf_tls, client_ca), 0, 0 },
	{ "client_crl",            0, conf_string_parse, offsetof(struct conf_tls, client_crl), 0, 0 },
	{ "verify_depth",          0, conf_unsigned_parse, offsetof(struct conf_tls, verify_depth), 1, 16 },
	{ "client_cert_headers",   0, conf_tls_headers_parse, 0, 0, 0 },
	{ "ktls",                  0, conf_bool_parse, offsetof(struct conf_tls, ktls), 0, 0 },
};

CONF_TABLE(conf_tls_table, "in tls", conf_tls_keys);

void
conf_tls_parse(struct conf_ctx *ctx, const struct conf_key *k, const struct node *v,
    void *obj)
{
	struct conf_listener *l = obj;
	struct conf_tls *t;

	if (l->tls != NULL) {
		conf_error(ctx, v, "\"%s\" is given twice", k->name);
		return;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		conf_oom(ctx);
		return;
	}
	t->protocols = CONF_TLS_V1_2 | CONF_TLS_V1_3;
	t->prefer_server_ciphers = 1;
	t->session_tickets = 1;
	t->handshake_timeout_ms = CONF_TLS_HANDSHAKE_DEFAULT;
	t->verify_depth = 1;
	l->tls = t;
	conf_map_parse(ctx, k, v, &conf_tls_table, t);
}

/* ----------------------------------------------------- the callbacks */

SSL_CTX *
conf_tls_ctx_for(const struct conf_tls *t, const char *name, size_t len)
{
	const char *dot;
	size_t lo = 0, hi = t->nexact, i;
	int c;

	while (lo < hi) {
		const char *n = t->exact[(lo + hi) / 2].name;
		size_t nl = strlen(n);

		c = memcmp(name, n, CT_MIN(len, nl));
		if (c == 0)
			c = len < nl ? -1 : len > nl;
		if (c == 0)
			return t->exact[(lo + hi) / 2].ctx;
		if (c < 0)
			hi = (lo + hi) / 2;
		else
			lo = (lo + hi) / 2 + 1;
	}
	/* "*.example.com" covers one label more than example.com, not the bare domain. */
	if ((dot = memchr(name, '.', len)) == NULL || dot == name)
		return NULL;
	for (i = 0; i < t->nwild; i++) {
		const char *w = t->wild[i].name + 1;

		if (strlen(w) == (size_t)(name + len - dot) && memcmp(w, dot, strlen(w)) == 0)
			return t->wild[i].ctx;
	}
	return NULL;
}

static int
conf_tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct conf_tls *t = arg;
	const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char name[256];
	SSL_CTX *ctx;
	size_t i, len;

	(void)alert;
	if (sn == NULL || (len = strlen(sn)) == 0 || len >= sizeof(name))
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < len; i++)
		name[i] = (char)((sn[i] >= 'A' && sn[i] <= 'Z') ? sn[i] + 32 : sn[i]);
	ctx = conf_tls_ctx_for(t, name, len);
	if (ctx != NULL && ctx != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

static int
conf_tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct conf_tls *t = arg;
	unsigned char *o;

	(void)ssl;
	/* The server's order decides. */
	if (SSL_select_next_proto(&o, outlen, t->alpn_wire, (unsigned)t->alpn_wire_len,
	    in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

static int
conf_tls_ocsp_cb(SSL *ssl, void *arg)
{
	const struct conf_tls *t = arg;
	X509 *x = SSL_get_certificate(ssl);
	unsigned char *copy;
	size_t i;

	for (i = 0; i < t->ncerts; i++) {
		const struct conf_tls_cert *c = &t->certs[i];

		if (c->leaf != x || c->ocsp_der == NULL)
			continue;
		if ((copy = OPENSSL_memdup(c->ocsp_der, c->ocsp_len)) == NULL)
			return SSL_TLSEXT_ERR_NOACK;
		SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)c->ocsp_len);
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* verify optional: the handshake goes on; the result is read afterwards. */
static int
conf_tls_verify_any(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

/*
 * Session tickets: AES-256-CBC with HMAC-SHA256 under keys that every
 * worker shares (or that the operator gave in ticket_key_file), so that
 * a ticket one worker issued resumes on another and after a reload.
 * 1: key found; 2: found, but an older one (the client gets a new
 * ticket); 0: unknown key, full handshake.
 */
static int
conf_tls_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	unsigned char keys[CONF_TLS_TICKET_KEYS_MAX][CONF_TLS_TICKET_KEY_LEN];
	const struct conf_tls *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), conf_tls_ctx_index());
	OSSL_PARAM params[3];
	const unsigned char *k = NULL;
	size_t n = 0, i;
	int rc = 1;

	if (t != NULL && t->nticket_keys > 0) {
		n = t->nticket_keys;
		memcpy(keys, t->ticket_keys, n * sizeof(keys[0]));
	} else if (conf_tls_keys_source != NULL) {
		n = conf_tls_keys_source(keys, CONF_TLS_TICKET_KEYS_MAX);
	}
	/* No keys: no ticket is issued and none resumes, the handshake goes on. */
	if (n == 0)
		return 0;
	if (enc) {
		k = keys[0];
		memcpy(name, k, 16);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) {
			rc = 0;
			goto done;
		}
	} else {
		/*
		 * 2 has the client get a new ticket: under the current key, and
		 * in TLS 1.3 at every resumption, since a TLS 1.3 client uses a
		 * ticket once (nginx does the same).
		 */
		for (i = 0; i < n && k == NULL; i++)
			if (memcmp(name, keys[i], 16) == 0) {
				k = keys[i];
				rc = i == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
			}
		if (k == NULL) {
			rc = 0;
			goto done;
		}
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    (void *)(uintptr_t)(k + 16), 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"sha256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(hctx, params) != 1 ||
	    (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 48, iv) :
	    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k + 48, iv)) != 1)
		rc = -1;
done:
	OPENSSL_cleanse(keys, sizeof(keys));
	return rc;
}

/* -------------------------------------------------------- building */

const struct node *
conf_tls_where(const struct node *map, const char *key)
{
	const struct node *n = map != NULL ? node_map_get(map, key) : NULL;

	return n != NULL ? n : map;
}

int
conf_tls_readable(struct conf_ctx *ctx, const struct node *n, const char *what,
    const char *path)
{
	char q[CONF_QUOTE_LEN];

	if (access(path, R_OK) == 0)
		return CT_OK;
	conf_error(ctx, n, "cannot read %s \"%s\": %s", what, conf_quote(path, q, sizeof(q)),
	    strerror(errno));
	return CT_ERROR;
}

int
conf_file_slurp(const char *path, size_t max, unsigned char **out, size_t *len)
{
	unsigned char *p;
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return CT_ERROR;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return CT_ERROR;
	}
	if ((size_t)st.st_size > max || st.st_size == 0) {
		errno = st.st_size == 0 ? ENODATA : EFBIG;
		close(fd);
		return CT_ERROR;
	}
	if ((p = malloc((size_t)st.st_size)) == NULL) {
		close(fd);
		return CT_ERROR;
	}
	n = read(fd, p, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(p);
		errno = n < 0 ? errno : EIO;
		return CT_ERROR;
	}
	*out = p;
	*len = (size_t)n;
	return CT_OK;
}

static int
conf_tls_name_add(char ***names, size_t *n, const char *s, size_t len)
{
	char **grown;
	size_t i;

	if (len == 0 || len > 253 || memchr(s, '\0', len) != NULL)
		return CT_OK;
	for (i = 0; i < *n; i++)
		if (strlen((*names)[i]) == len && strncasecmp((*names)[i], s, len) == 0)
			return CT_OK;
	if ((grown = realloc(*names, (*n + 1) * sizeof(*grown))) == NULL)
		return CT_ERROR;
	*names = grown;
	if ((grown[*n] = strndup(s, len)) == NULL)
		return CT_ERROR;
	conf_str_lower(grown[(*n)++]);
	return CT_OK;
}

/* The DNS names of x's SANs, or its CN when it has none. */
static int
conf_tls_cert_names(X509 *x, struct conf_tls_cert *c)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	X509_NAME *subj;
	int i, rc = CT_OK;

	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && rc == CT_OK; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type == GEN_DNS)
			rc = conf_tls_name_add(&c->names, &c->nnames,
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(sans);
	if (rc != CT_OK || c->nnames > 0)
		return rc;
	subj = X509_get_subject_name(x);
	i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));

		rc = conf_tls_name_add(&c->names, &c->nnames,
		    (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
	}
	return rc;
}

static int
conf_tls_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct conf_tls_name *)a)->name,
	    ((const struct conf_tls_name *)b)->name);
}

static int
conf_tls_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Do a and b carry the same names?  (Both sorted.) */
static int
conf_tls_same_names(const struct conf_tls_cert *a, const struct conf_tls_cert *b)
{
	size_t i;

	if (a->nnames != b->nnames)
		return 0;
	for (i = 0; i < a->nnames; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return 0;
	return 1;
}

/* The settings every context of the listener shares.  CT_ERROR: reported. */
static int
conf_tls_ctx_setup(struct conf_ctx *ctx, struct conf_tls *t, SSL_CTX *sc,
    const struct node *map, const char *listener)
{
	char why[256], q[CONF_QUOTE_LEN];
	uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF;
	if (t->prefer_server_ciphers)
		opts |= SSL_OP_CIPHER_SERVER_PREFERENCE;
	if (!t->session_tickets)
		opts |= SSL_OP_NO_TICKET;
	if (t->ktls)
		opts |= SSL_OP_ENABLE_KTLS;
	SSL_CTX_set_options(sc, opts);
	SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/*
	 * One recv() for a record's header and body, and for the records
	 * behind it, instead of two per record; stream_tls.c's buffered()
	 * tells the owners about what it leaves in the library.
	 */
	SSL_CTX_set_read_ahead(sc, 1);
	if (conf_tls_versions_set(sc, t->protocols) != CT_OK) {
		conf_error(ctx, conf_tls_where(map, "protocols"), "protocols: %s",
		    conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	if (t->ciphers != NULL && SSL_CTX_set_cipher_list(sc, t->ciphers) != 1) {
		conf_error(ctx, conf_tls_where(map, "ciphers"), "invalid ciphers \"%s\": %s",
		    conf_quote(t->ciphers, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	if (t->ciphersuites != NULL && SSL_CTX_set_ciphersuites(sc, t->ciphersuites) != 1) {
		conf_error(ctx, conf_tls_where(map, "ciphersuites"), "invalid ciphersuites "
		    "\"%s\": %s", conf_quote(t->ciphersuites, q, sizeof(q)),
		    conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	if (t->groups != NULL && SSL_CTX_set1_groups_list(sc, t->groups) != 1) {
		conf_error(ctx, conf_tls_where(map, "groups"), "invalid groups \"%s\": %s",
		    conf_quote(t->groups, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	/* Workers share no session cache; tickets carry the sessions. */
	SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(sc, CONF_TLS_SESSION_TIMEOUT);
	SSL_CTX_set_num_tickets(sc, t->session_tickets ? 1 : 0);
	/* Resumption with client certificates needs a context id; the listener's name is one. */
	SSL_CTX_set_session_id_context(sc, (const unsigned char *)listener,
	    (unsigned)CT_MIN(strlen(listener), (size_t)SSL_MAX_SID_CTX_LENGTH));
	if (t->session_tickets)
		SSL_CTX_set_tlsext_ticket_key_evp_cb(sc, conf_tls_ticket_cb);
	SSL_CTX_set_ex_data(sc, conf_tls_ctx_index(), t);
	SSL_CTX_set_tlsext_servername_callback(sc, conf_tls_servername_cb);
	SSL_CTX_set_tlsext_servername_arg(sc, t);
	if (t->alpn_wire_len > 0)
		SSL_CTX_set_alpn_select_cb(sc, conf_tls_alpn_cb, t);
	SSL_CTX_set_tlsext_status_cb(sc, conf_tls_ocsp_cb);
	SSL_CTX_set_tlsext_status_arg(sc, t);
	if (t->verify == CONF_TLS_VERIFY_NONE)
		return CT_OK;
	SSL_CTX_set_verify(sc, t->verify == CONF_TLS_VERIFY_REQUIRED ?
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
	    t->verify == CONF_TLS_VERIFY_REQUIRED ? NULL : conf_tls_verify_any);
	SSL_CTX_set_verify_depth(sc, (int)t->verify_depth);
	if (SSL_CTX_load_verify_locations(sc, t->client_ca, NULL) != 1) {
		conf_error(ctx, conf_tls_where(map, "client_ca"), "cannot load client_ca \"%s\": %s",
		    conf_quote(t->client_ca, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	{
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);

		if (names == NULL) {
			conf_error(ctx, conf_tls_where(map, "client_ca"), "no certificate in "
			    "client_ca \"%s\": %s", conf_quote(t->client_ca, q, sizeof(q)),
			    conf_tls_reason(why, sizeof(why)));
			return CT_ERROR;
		}
		SSL_CTX_set_client_CA_list(sc, names);
	}
	if (t->client_crl != NULL) {
		X509_STORE *st = SSL_CTX_get_cert_store(sc);
		X509_LOOKUP *lu = X509_STORE_add_lookup(st, X509_LOOKUP_file());

		if (lu == NULL || X509_load_crl_file(lu, t->client_crl, X509_FILETYPE_PEM) <= 0) {
			conf_error(ctx, conf_tls_where(map, "client_crl"), "cannot load client_crl "
			    "\"%s\": %s", conf_quote(t->client_crl, q, sizeof(q)),
			    conf_tls_reason(why, sizeof(why)));
			return CT_ERROR;
		}
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	return CT_OK;
}

/* The certificate files of c into sc; CT_ERROR: reported at item. */
static int
conf_tls_cert_load(struct conf_ctx *ctx, struct conf_tls_cert *c, SSL_CTX *sc,
    const struct node *item, const char *listener)
{
	char why[256], q[CONF_QUOTE_LEN], date[32];
	const ASN1_TIME *na;
	struct tm tm;
	time_t now;

	if (SSL_CTX_use_certificate_chain_file(sc, c->cert) != 1) {
		conf_error(ctx, conf_tls_where(item, "cert"), "cannot load certificate \"%s\": %s",
		    conf_quote(c->cert, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	c->leaf = SSL_CTX_get0_certificate(sc);
	if (SSL_CTX_use_PrivateKey_file(sc, c->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(sc) != 1) {
		conf_error(ctx, conf_tls_where(item, "key"), "cannot use key \"%s\" with "
		    "certificate \"%s\": %s", conf_quote(c->key, q, sizeof(q)), c->cert,
		    conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	na = X509_get0_notAfter(c->leaf);
	if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1) {
		c->not_after = timegm(&tm);
		now = time(NULL);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (c->not_after < now)
			log_warnx("certificate \"%s\" of listener \"%s\" expired on %s",
			    c->cert, listener, date);
		else if (c->not_after - now < CONF_TLS_EXPIRY_WARN)
			log_warnx("certificate \"%s\" of listener \"%s\" expires on %s, in %lld days",
			    c->cert, listener, date, (long long)((c->not_after - now) / 86400));
	}
	if (c->ocsp != NULL) {
		const unsigned char *p;
		OCSP_RESPONSE *r;

		if (conf_file_slurp(c->ocsp, CONF_TLS_OCSP_MAX, &c->ocsp_der, &c->ocsp_len) != CT_OK) {
			conf_error(ctx, conf_tls_where(item, "ocsp"), "cannot read ocsp \"%s\": %s",
			    conf_quote(c->ocsp, q, sizeof(q)), strerror(errno));
			return CT_ERROR;
		}
		p = c->ocsp_der;
		if ((r = d2i_OCSP_RESPONSE(NULL, &p, (long)c->ocsp_len)) == NULL) {
			conf_error(ctx, conf_tls_where(item, "ocsp"), "ocsp \"%s\" is not a DER "
			    "OCSP response: %s", conf_quote(c->ocsp, q, sizeof(q)),
			    conf_tls_reason(why, sizeof(why)));
			return CT_ERROR;
		}
		OCSP_RESPONSE_free(r);
	}
	return CT_OK;
}

/* Reads the names of c's certificate before any context is made. */
static int
conf_tls_cert_peek(struct conf_ctx *ctx, struct conf_tls_cert *c, const struct node *item)
{
	char why[256], q[CONF_QUOTE_LEN];
	X509 *x = NULL;
	BIO *b;

	if (conf_tls_readable(ctx, conf_tls_where(item, "cert"), "certificate", c->cert) != CT_OK ||
	    conf_tls_readable(ctx, conf_tls_where(item, "key"), "key", c->key) != CT_OK)
		return CT_ERROR;
	if ((b = BIO_new_file(c->cert, "r")) != NULL)
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (x == NULL) {
		conf_error(ctx, conf_tls_where(item, "cert"), "cannot load certificate \"%s\": %s",
		    conf_quote(c->cert, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	c->key_type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
	if (conf_tls_cert_names(x, c) != CT_OK) {
		X509_free(x);
		conf_oom(ctx);
		return CT_ERROR;
	}
	X509_free(x);
	if (c->nnames > 1)
		qsort(c->names, c->nnames, sizeof(*c->names), conf_tls_str_cmp);
	return CT_OK;
}

static int
conf_tls_ticket_keys_load(struct conf_ctx *ctx, struct conf_tls *t, const struct node *map)
{
	char q[CONF_QUOTE_LEN];
	unsigned char *p = NULL;
	size_t len = 0;

	if (conf_file_slurp(t->ticket_key_file, sizeof(t->ticket_keys), &p, &len) != CT_OK ||
	    len % CONF_TLS_TICKET_KEY_LEN != 0) {
		conf_error(ctx, conf_tls_where(map, "ticket_key_file"), "cannot use "
		    "ticket_key_file \"%s\": %s", conf_quote(t->ticket_key_file, q, sizeof(q)),
		    p == NULL && errno != EFBIG && errno != ENODATA ? strerror(errno) :
		    "it must hold 1 to 3 keys of 80 bytes");
		if (p != NULL)
			OPENSSL_cleanse(p, len);
		free(p);
		return CT_ERROR;
	}
	memcpy(t->ticket_keys, p, len);
	t->nticket_keys = len / CONF_TLS_TICKET_KEY_LEN;
	OPENSSL_cleanse(p, len);
	free(p);
	return CT_OK;
}

static int
conf_tls_alpn_wire(struct conf_ctx *ctx, struct conf_tls *t, const struct node *map)
{
	size_t i, n, off = 0;

	for (i = 0; i < t->nalpn; i++) {
		if (t->alpn[i] == NULL)
			return CT_ERROR;
		n = strlen(t->alpn[i]);
		if (off + 1 + n > sizeof(t->alpn_wire)) {
			conf_error(ctx, conf_tls_where(map, "alpn"), "\"alpn\" is longer than %zu "
			    "bytes on the wire", sizeof(t->alpn_wire));
			return CT_ERROR;
		}
		t->alpn_wire[off++] = (unsigned char)n;
		memcpy(t->alpn_wire + off, t->alpn[i], n);
		off += n;
	}
	t->alpn_wire_len = off;
	return CT_OK;
}

/* Indexes the names of every certificate by the context that has it. */
static int
conf_tls_names_index(struct conf_ctx *ctx, struct conf_tls *t, const size_t *group)
{
	size_t i, j, k, total = 0;

	for (i = 0; i < t->ncerts; i++)
		total += t->certs[i].nnames;
	t->exact = calloc(total + 1, sizeof(*t->exact));
	t->wild = calloc(total + 1, sizeof(*t->wild));
	if (t->exact == NULL || t->wild == NULL) {
		conf_oom(ctx);
		return CT_ERROR;
	}
	for (i = 0; i < t->ncerts; i++)
		for (j = 0; j < t->certs[i].nnames; j++) {
			struct conf_tls_name n = { t->certs[i].names[j], t->ctxs[group[i]] };

			/* A name of two certificate sets is served by the first. */
			if (n.name[0] == '*') {
				for (k = 0; k < t->nwild && strcmp(t->wild[k].name, n.name) != 0; k++)
					;
				if (k == t->nwild)
					t->wild[t->nwild++] = n;
				continue;
			}
			if (conf_tls_ctx_for(t, n.name, strlen(n.name)) == NULL) {
				t->exact[t->nexact++] = n;
				qsort(t->exact, t->nexact, sizeof(*t->exact), conf_tls_name_cmp);
			}
		}
	return CT_OK;
}

void
conf_tls_build(struct conf_ctx *ctx, struct conf_tls *t, const struct node *map,
    const char *listener, int http)
{
	const struct node *certs = map != NULL ? node_map_get(map, "certificates") : NULL;
	size_t *group = NULL, i, j, ndefault = 0, def = 0;
	char q[CONF_QUOTE_LEN];

	if (t->ncerts == 0 || certs == NULL || certs->type != NODE_SEQUENCE ||
	    certs->nitems != t->ncerts)
		return;
	if (t->verify != CONF_TLS_VERIFY_NONE && t->client_ca == NULL) {
		conf_error(ctx, conf_tls_where(map, "verify"), "\"verify: %s\" needs \"client_ca\"",
		    t->verify == CONF_TLS_VERIFY_REQUIRED ? "required" : "optional");
		return;
	}
	if (t->verify == CONF_TLS_VERIFY_NONE && (t->client_ca != NULL || t->client_crl != NULL)) {
		conf_error(ctx, conf_tls_where(map, t->client_ca != NULL ? "client_ca" : "client_crl"),
		    "client certificates are only asked for with \"verify: optional\" or "
		    "\"verify: required\"");
		return;
	}
	if (!http)
		for (i = 0; i < CONF_TLS_HDRS; i++)
			if (t->headers[i] != NULL) {
				conf_error(ctx, conf_tls_where(map, "client_cert_headers"),
				    "\"client_cert_headers\" is only for mode http");
				return;
			}
	if (t->nalpn == 0 && http) {
		if ((t->alpn = calloc(1, sizeof(*t->alpn))) == NULL ||
		    (t->alpn[0] = strdup("http/1.1")) == NULL) {
			conf_oom(ctx);
			return;
		}
		t->nalpn = 1;
	}
	if (conf_tls_alpn_wire(ctx, t, map) != CT_OK)
		return;
	if (t->ticket_key_file != NULL && t->session_tickets &&
	    conf_tls_ticket_keys_load(ctx, t, map) != CT_OK)
		return;
	for (i = 0; i < t->ncerts; i++) {
		if (t->certs[i].cert == NULL || t->certs[i].key == NULL ||
		    conf_tls_cert_peek(ctx, &t->certs[i], certs->items[i]) != CT_OK)
			return;
		if (t->certs[i].is_default) {
			if (ndefault++ > 0) {
				conf_error(ctx, conf_tls_where(certs->items[i], "default"),
				    "only one certificate can be the default");
				return;
			}
			def = i;
		}
	}
	if ((group = calloc(t->ncerts, sizeof(*group))) == NULL ||
	    (t->ctxs = calloc(t->ncerts, sizeof(*t->ctxs))) == NULL) {
		conf_oom(ctx);
		goto done;
	}
	for (i = 0; i < t->ncerts; i++) {
		struct conf_tls_cert *c = &t->certs[i];

		for (j = 0; j < i && !conf_tls_same_names(&t->certs[j], c); j++)
			;
		if (j < i) {
			group[i] = group[j];
		} else {
			group[i] = t->nctxs;
			if ((t->ctxs[t->nctxs] = SSL_CTX_new(TLS_server_method())) == NULL) {
				conf_oom(ctx);
				goto done;
			}
			t->nctxs++;
			if (conf_tls_ctx_setup(ctx, t, t->ctxs[group[i]], map, listener) != CT_OK)
				goto done;
		}
		/* One certificate per key type in a context: a second would replace the first. */
		for (j = 0; j < i; j++)
			if (group[j] == group[i] && t->certs[j].key_type == c->key_type) {
				conf_error(ctx, conf_tls_where(certs->items[i], "cert"),
				    "certificate \"%s\" has the names and the key type of certificate "
				    "%zu; give each name one RSA and one ECDSA certificate at most",
				    conf_quote(c->cert, q, sizeof(q)), j + 1);
				goto done;
			}
		if (conf_tls_cert_load(ctx, c, t->ctxs[group[i]], certs->items[i], listener) != CT_OK)
			goto done;
	}
	if (conf_tls_names_index(ctx, t, group) != CT_OK)
		goto done;
	t->ctx = t->ctxs[group[def]];
done:
	free(group);
}

/* ------------------------------------------------------------ the rest */

void
conf_tls_free(struct conf_tls *t)
{
	size_t i, j;

	if (t == NULL)
		return;
	for (i = 0; i < t->ncerts; i++) {
		struct conf_tls_cert *c = &t->certs[i];

		free(c->cert);
		free(c->key);
		free(c->ocsp);
		free(c->ocsp_der);
		for (j = 0; j < c->nnames; j++)
			free(c->names[j]);
		free(c->names);
	}
	free(t->certs);
	for (i = 0; i < t->nctxs; i++)
		SSL_CTX_free(t->ctxs[i]);
	free(t->ctxs);
	free(t->exact);
	free(t->wild);
	free(t->ciphers);
	free(t->ciphersuites);
	free(t->groups);
	for (i = 0; i < t->nalpn; i++)
		free(t->alpn[i]);
	free(t->alpn);
	free(t->ticket_key_file);
	free(t->client_ca);
	free(t->client_crl);
	for (i = 0; i < CONF_TLS_HDRS; i++)
		free(t->headers[i]);
	OPENSSL_cleanse(t->ticket_keys, sizeof(t->ticket_keys));
	free(t);
}

void
conf_tls_dump(const struct conf_tls *t, FILE *out)
{
	char b[32];
	size_t i;

	if (t == NULL)
		return;
	fputs("    tls:\n      certificates:\n", out);
	for (i = 0; i < t->ncerts; i++) {
		fputs("        - ", out);
		conf_dump_kv(out, 0, "cert", t->certs[i].cert);
		conf_dump_kv(out, 10, "key", t->certs[i].key);
		if (t->certs[i].ocsp != NULL)
			conf_dump_kv(out, 10, "ocsp", t->certs[i].ocsp);
		if (t->certs[i].is_default)
			fputs("          default: true\n", out);
	}
	fputs("      protocols: ", out);
	conf_tls_versions_dump(out, t->protocols);
	if (t->ciphers != NULL)
		conf_dump_kv(out, 6, "ciphers", t->ciphers);
	if (t->ciphersuites != NULL)
		conf_dump_kv(out, 6, "ciphersuites", t->ciphersuites);
	if (t->groups != NULL)
		conf_dump_kv(out, 6, "groups", t->groups);
	fprintf(out, "      prefer_server_ciphers: %s\n", conf_bool_name(t->prefer_server_ciphers));
	if (t->nalpn > 0)
		conf_dump_strs(out, 6, "alpn", t->alpn, t->nalpn);
	fprintf(out, "      session_tickets: %s\n", conf_bool_name(t->session_tickets));
	if (t->ticket_key_file != NULL)
		conf_dump_kv(out, 6, "ticket_key_file", t->ticket_key_file);
	fprintf(out, "      handshake_timeout: %s\n",
	    conf_duration_format(t->handshake_timeout_ms, b, sizeof(b)));
	fprintf(out, "      verify: %s\n", conf_enum_name(conf_tls_verify_names,
	    CT_NELEM(conf_tls_verify_names), t->verify));
	if (t->client_ca != NULL)
		conf_dump_kv(out, 6, "client_ca", t->client_ca);
	if (t->client_crl != NULL)
		conf_dump_kv(out, 6, "client_crl", t->client_crl);
	if (t->verify != CONF_TLS_VERIFY_NONE)
		fprintf(out, "      verify_depth: %u\n", t->verify_depth);
	for (i = 0; i < CONF_TLS_HDRS; i++)
		if (t->headers[i] != NULL)
			break;
	if (i < CONF_TLS_HDRS) {
		fputs("      client_cert_headers:\n", out);
		for (i = 0; i < CONF_TLS_HDRS; i++)
			if (t->headers[i] != NULL)
				conf_dump_kv(out, 8, conf_tls_header_keys[i], t->headers[i]);
	}
	fprintf(out, "      ktls: %s\n", conf_bool_name(t->ktls));
}

/*
 * An upstream's "tls" block (conf/tls_upstream.h) and the client
 * context built from it while the configuration loads.
 *
 * One context per upstream serves every server of it, in every worker
 * and in the master's health checks.  Sessions are never kept inside
 * the context (workers share nothing after the fork, and a session is
 * only worth offering to the server that issued it): the new-session
 * callback hands each one to the slot its connection names, which the
 * worker keeps per server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conf/section.h"
#include "conf/tls.h"
#include "conf/tls_upstream.h"
#include "lib/ct.h"

static const struct {
	const char *name;
	unsigned bit;
	int version;
} conf_tls_upstream_versions[] = {
	{ "TLSv1",   CONF_TLS_V1_0, TLS1_VERSION },
	{ "TLSv1.1", CONF_TLS_V1_1, TLS1_1_VERSION },
	{ "TLSv1.2", CONF_TLS_V1_2, TLS1_2_VERSION },
	{ "TLSv1.3", CONF_TLS_V1_3, TLS1_3_VERSION },
};

int
conf_tls_upstream_slot_index(void)
{
	static int idx = -1;

	if (idx == -1)
		idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return idx;
}

/* The last OpenSSL error's reason; the queue is left empty. */
static const char *
conf_tls_upstream_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else if (ERR_reason_error_string(e) != NULL)
		snprintf(buf, len, "%s", ERR_reason_error_string(e));
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* ------------------------------------------------------------ parsing */

/* The bit of protocol word s, or 0. */
static unsigned
conf_tls_upstream_version_bit(const char *s)
{
	size_t i;

	if (strcmp(s, "TLSv1.0") == 0)
		return CONF_TLS_V1_0;
	for (i = 0; i < CT_NELEM(conf_tls_upstream_versions); i++)
		if (strcmp(s, conf_tls_upstream_versions[i].name) == 0)
			return conf_tls_upstream_versions[i].bit;
	return 0;
}

static const char *
conf_tls_upstream_version_check(char *s)
{
	return conf_tls_upstream_version_bit(s) != 0 ? NULL :
	    "use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3";
}

static void
conf_tls_upstream_protocols_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_tls_upstream *t = obj;
	unsigned bits = 0, low;
	char **words = NULL;
	size_t n = 0, i;

	conf_words_parse(ctx, k, v, 1, CT_NELEM(conf_tls_upstream_versions) + 1, "protocol",
	    conf_tls_upstream_version_check, &words, &n);
	for (i = 0; i < n; i++) {
		if (words[i] != NULL)
			bits |= conf_tls_upstream_version_bit(words[i]);
		free(words[i]);
	}
	free(words);
	if (bits == 0)
		return;
	/* OpenSSL takes a lowest and a highest version: the bits must be contiguous. */
	low = bits & -bits;
	if (((bits + low) & bits) != 0) {
		conf_error(ctx, v, "\"%s\" must be a range without gaps", k->name);
		return;
	}
	t->protocols = bits;
}

/* "$host", an IP address, or a host name (no wildcard: this names one server). */
static void
conf_tls_upstream_name_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_tls_upstream *t = obj;
	char q[CONF_QUOTE_LEN];
	unsigned char ip[16];
	const char *why = NULL;
	char *s;

	if ((s = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	conf_str_lower(s);
	if (strcmp(s, "$host") == 0) {
		t->name_host = 1;
		free(s);
		return;
	}
	if (inet_pton(AF_INET, s, ip) != 1 && inet_pton(AF_INET6, s, ip) != 1) {
		if (strlen(s) > CONF_TLS_NAME_MAX)
			why = "longer than 253 bytes";
		else if (s[0] == '*')
			why = "a wildcard names no one server";
		else
			why = conf_host_pattern_why(s);
	}
	if (why != NULL) {
		conf_error(ctx, v, "invalid \"%s\" \"%s\": %s; use a host name, an IP "
		    "address or \"$host\"", k->name, conf_quote(s, q, sizeof(q)), why);
		free(s);
		return;
	}
	free(t->name);
	t->name = s;
}

static const struct conf_key conf_tls_upstream_keys[] = {
	{ "verify",        0, conf_bool_parse, offsetof(struct conf_tls_upstream, verify), 0, 0 },
	{ "ca",            0, conf_string_parse, offsetof(struct conf_tls_upstream, ca), 0, 0 },
	{ "name",          0, conf_tls_upstream_name_parse, 0, 0, 0 },
	{ "cert",          0, conf_string_parse, offsetof(struct conf_tls_upstream, cert), 0, 0 },
	{ "key",           0, conf_string_parse, offsetof(struct conf_tls_upstream, key), 0, 0 },
	{ "protocols",     0, conf_tls_upstream_protocols_parse, 0, 0, 0 },
	{ "ciphers",       0, conf_string_parse, offsetof(struct conf_tls_upstream, ciphers), 0, 0 },
	{ "session_reuse", 0, conf_bool_parse, offsetof(struct conf_tls_upstream, session_reuse), 0, 0 },
};

CONF_TABLE(conf_tls_upstream_table, "in upstream tls", conf_tls_upstream_keys);

void
conf_tls_upstream_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf_tls_upstream **tp = (struct conf_tls_upstream **)((char *)obj + k->off);
	struct conf_tls_upstream *t;

	if (*tp != NULL) {
		conf_error(ctx, v, "\"%s\" is given twice", k->name);
		return;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		conf_oom(ctx);
		return;
	}
	t->verify = 1;
	t->session_reuse = 1;
	t->protocols = CONF_TLS_V1_2 | CONF_TLS_V1_3;
	*tp = t;
	conf_map_parse(ctx, k, v, &conf_tls_upstream_table, t);
}

/* -------------------------------------------------------- building */

/*
 * Keeps a new session in the slot of its connection, if it has one:
 * returning 1 tells OpenSSL the reference is ours.
 */
static int
conf_tls_upstream_new_session(SSL *ssl, SSL_SESSION *sess)
{
	SSL_SESSION **slot = SSL_get_ex_data(ssl, conf_tls_upstream_slot_index());

	if (slot == NULL)
		return 0;
	SSL_SESSION_free(*slot);
	*slot = sess;
	return 1;
}

/* The value node of key in map, else map, for a message's position. */
static const struct node *
conf_tls_upstream_at(const struct node *map, const char *key)
{
	const struct node *n = map != NULL ? node_map_get(map, key) : NULL;

	return n != NULL ? n : map;
}

/* Says why a file named in the block cannot be read; CT_OK if it can. */
static int
conf_tls_upstream_file(struct conf_ctx *ctx, const struct node *map, const char *key,
    const char *path)
{
	char q[CONF_QUOTE_LEN];

	if (access(path, R_OK) == 0)
		return CT_OK;
	conf_error(ctx, conf_tls_upstream_at(map, key), "cannot read %s \"%s\": %s", key,
	    conf_quote(path, q, sizeof(q)), strerror(errno));
	return CT_ERROR;
}

/* Versions, ciphers, verification.  CT_ERROR: reported. */
static int
conf_tls_upstream_setup(struct conf_ctx *ctx, struct conf_tls_upstream *t,
    const struct node *map)
{
	char why[256], q[CONF_QUOTE_LEN];
	int lo = 0, hi = 0;
	size_t i;

	for (i = 0; i < CT_NELEM(conf_tls_upstream_versions); i++) {
		if (!(t->protocols & conf_tls_upstream_versions[i].bit))
			continue;
		hi = conf_tls_upstream_versions[i].version;
		if (lo == 0)
			lo = hi;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_min_proto_version(t->ctx, lo) != 1 ||
	    SSL_CTX_set_max_proto_version(t->ctx, hi) != 1) {
		conf_error(ctx, conf_tls_upstream_at(map, "protocols"), "protocols: %s",
		    conf_tls_upstream_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	/* Reported, and the CA is looked at all the same: every error at once. */
	if (t->ciphers != NULL && SSL_CTX_set_cipher_list(t->ctx, t->ciphers) != 1)
		conf_error(ctx, conf_tls_upstream_at(map, "ciphers"), "invalid ciphers \"%s\": %s",
		    conf_quote(t->ciphers, q, sizeof(q)), conf_tls_upstream_reason(why, sizeof(why)));
	if (t->session_reuse) {
		SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT |
		    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(t->ctx, conf_tls_upstream_new_session);
	} else {
		SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
	}
	if (!t->verify)
		return CT_OK;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (t->ca == NULL) {
		if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
			conf_error(ctx, map, "cannot load the system's CA store: %s",
			    conf_tls_upstream_reason(why, sizeof(why)));
			return CT_ERROR;
		}
		return CT_OK;
	}
	if (conf_tls_upstream_file(ctx, map, "ca", t->ca) != CT_OK)
		return CT_ERROR;
	if (SSL_CTX_load_verify_locations(t->ctx, t->ca, NULL) != 1) {
		conf_error(ctx, conf_tls_upstream_at(map, "ca"), "cannot load ca \"%s\": %s",
		    conf_quote(t->ca, q, sizeof(q)), conf_tls_upstream_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	return CT_OK;
}

/* The client certificate and its key.  CT_ERROR: reported. */
static int
conf_tls_upstream_client_cert(struct conf_ctx *ctx, struct conf_tls_upstream *t,
    const struct node *map)
{
	char why[256], q[CONF_QUOTE_LEN];

	if (conf_tls_upstream_file(ctx, map, "cert", t->cert) != CT_OK ||
	    conf_tls_upstream_file(ctx, map, "key", t->key) != CT_OK)
		return CT_ERROR;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, t->cert) != 1) {
		conf_error(ctx, conf_tls_upstream_at(map, "cert"), "cannot load cert \"%s\": %s",
		    conf_quote(t->cert, q, sizeof(q)), conf_tls_upstream_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, t->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		conf_error(ctx, conf_tls_upstream_at(map, "key"), "cannot use key \"%s\" with "
		    "cert \"%s\": %s", conf_quote(t->key, q, sizeof(q)), t->cert,
		    conf_tls_upstream_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	return CT_OK;
}

void
conf_tls_upstream_build(struct conf_ctx *ctx, struct conf_tls_upstream *t,
    const struct node *map)
{
	char why[256];

	int pair = (t->cert == NULL) == (t->key == NULL);

	if (!pair)
		conf_error(ctx, conf_tls_upstream_at(map, t->cert != NULL ? "cert" : "key"),
		    "\"%s\" needs \"%s\": a client certificate and its key go together",
		    t->cert != NULL ? "cert" : "key", t->cert != NULL ? "key" : "cert");
	if (!t->verify && t->ca != NULL)
		conf_error(ctx, conf_tls_upstream_at(map, "ca"), "\"ca\" is for verifying "
		    "the server, and \"verify\" is false");
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		conf_error(ctx, map, "cannot make a TLS context: %s",
		    conf_tls_upstream_reason(why, sizeof(why)));
		return;
	}
	if (conf_tls_upstream_setup(ctx, t, map) != CT_OK)
		return;
	if (t->cert != NULL && pair)
		(void)conf_tls_upstream_client_cert(ctx, t, map);
}

/* ------------------------------------------------- what others use */

int
conf_tls_upstream_peer(const struct conf_tls_upstream *t, SSL *ssl, const char *name,
    const struct sockaddr *sa)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	char ip[INET6_ADDRSTRLEN];
	unsigned char bin[16];

	if (name != NULL && inet_pton(AF_INET, name, bin) != 1 &&
	    inet_pton(AF_INET6, name, bin) != 1) {
		if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
		    (t->verify && SSL_set1_host(ssl, name) != 1))
			return CT_ERROR;
		return CT_OK;
	}
	if (!t->verify)
		return CT_OK;
	/* No name, or an address: the certificate must carry that IP address. */
	if (name == NULL) {
		if (addr_ip_format(sa, ip, sizeof(ip)) == 0)
			return CT_ERROR;
		name = ip;
	}
	return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? CT_OK : CT_ERROR;
}

/* ------------------------------------------------------------ the rest */

void
conf_tls_upstream_free(struct conf_tls_upstream *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t->ca);
	free(t->name);
	free(t->cert);
	free(t->key);
	free(t->ciphers);
	free(t);
}

void
conf_tls_upstream_dump(const struct conf_tls_upstream *t, FILE *out)
{
	size_t i;

	if (t == NULL)
		return;
	fprintf(out, "    tls:\n      verify: %s\n", conf_bool_name(t->verify));
	if (t->ca != NULL)
		conf_dump_kv(out, 6, "ca", t->ca);
	if (t->name != NULL)
		conf_dump_kv(out, 6, "name", t->name);
	else if (t->name_host)
		conf_dump_kv(out, 6, "name", "$host");
	if (t->cert != NULL) {
		conf_dump_kv(out, 6, "cert", t->cert);
		conf_dump_kv(out, 6, "key", t->key);
	}
	fputs("      protocols: [", out);
	for (i = 0; i < CT_NELEM(conf_tls_upstream_versions); i++)
		if (t->protocols & conf_tls_upstream_versions[i].bit)
			fprintf(out, "%s%s", (t->protocols & (conf_tls_upstream_versions[i].bit - 1)) ?
			    ", " : "", conf_tls_upstream_versions[i].name);
	fputs("]\n", out);
	if (t->ciphers != NULL)
		conf_dump_kv(out, 6, "ciphers", t->ciphers);
	fprintf(out, "      session_reuse: %s\n", conf_bool_name(t->session_reuse));
}

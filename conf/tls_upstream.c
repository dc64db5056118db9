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

int
conf_tls_upstream_slot_index(void)
{
	static int idx = -1;

	if (idx == -1)
		idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return idx;
}

/* ------------------------------------------------------------ parsing */

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
	{ "protocols",     0, conf_tls_protocols_parse, offsetof(struct conf_tls_upstream, protocols), 0, 0 },
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

/* Versions, ciphers, verification.  CT_ERROR: reported. */
static int
conf_tls_upstream_setup(struct conf_ctx *ctx, struct conf_tls_upstream *t,
    const struct node *map)
{
	char why[256], q[CONF_QUOTE_LEN];

	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (conf_tls_versions_set(t->ctx, t->protocols) != CT_OK) {
		conf_error(ctx, conf_tls_where(map, "protocols"), "protocols: %s",
		    conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	/* Reported, and the CA is looked at all the same: every error at once. */
	if (t->ciphers != NULL && SSL_CTX_set_cipher_list(t->ctx, t->ciphers) != 1)
		conf_error(ctx, conf_tls_where(map, "ciphers"), "invalid ciphers \"%s\": %s",
		    conf_quote(t->ciphers, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
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
			    conf_tls_reason(why, sizeof(why)));
			return CT_ERROR;
		}
		return CT_OK;
	}
	if (conf_tls_readable(ctx, conf_tls_where(map, "ca"), "ca", t->ca) != CT_OK)
		return CT_ERROR;
	if (SSL_CTX_load_verify_locations(t->ctx, t->ca, NULL) != 1) {
		conf_error(ctx, conf_tls_where(map, "ca"), "cannot load ca \"%s\": %s",
		    conf_quote(t->ca, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
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

	if (conf_tls_readable(ctx, conf_tls_where(map, "cert"), "cert", t->cert) != CT_OK ||
	    conf_tls_readable(ctx, conf_tls_where(map, "key"), "key", t->key) != CT_OK)
		return CT_ERROR;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, t->cert) != 1) {
		conf_error(ctx, conf_tls_where(map, "cert"), "cannot load cert \"%s\": %s",
		    conf_quote(t->cert, q, sizeof(q)), conf_tls_reason(why, sizeof(why)));
		return CT_ERROR;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, t->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		conf_error(ctx, conf_tls_where(map, "key"), "cannot use key \"%s\" with "
		    "cert \"%s\": %s", conf_quote(t->key, q, sizeof(q)), t->cert,
		    conf_tls_reason(why, sizeof(why)));
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
		conf_error(ctx, conf_tls_where(map, t->cert != NULL ? "cert" : "key"),
		    "\"%s\" needs \"%s\": a client certificate and its key go together",
		    t->cert != NULL ? "cert" : "key", t->cert != NULL ? "key" : "cert");
	if (!t->verify && t->ca != NULL)
		conf_error(ctx, conf_tls_where(map, "ca"), "\"ca\" is for verifying "
		    "the server, and \"verify\" is false");
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		conf_error(ctx, map, "cannot make a TLS context: %s",
		    conf_tls_reason(why, sizeof(why)));
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
	fputs("      protocols: ", out);
	conf_tls_versions_dump(out, t->protocols);
	if (t->ciphers != NULL)
		conf_dump_kv(out, 6, "ciphers", t->ciphers);
	fprintf(out, "      session_reuse: %s\n", conf_bool_name(t->session_reuse));
}

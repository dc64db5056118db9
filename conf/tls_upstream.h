/*
 * An upstream's "tls" block: how cuttle talks TLS to its servers.  The
 * client context is built while the configuration loads, like a
 * listener's (conf/tls.h), so that a bad CA file, a client certificate
 * without its key or an unknown cipher is an error at its
 * file:line:col, and both the workers and the master's health checks
 * use the one context they inherited.
 */
#ifndef CT_CONF_TLS_UPSTREAM_H
#define CT_CONF_TLS_UPSTREAM_H

#include <openssl/ssl.h>

#include "lib/addr.h"

/* The longest server name sent or verified (RFC 6066: a DNS name). */
#define CONF_TLS_NAME_MAX 253

struct conf_tls_upstream {
	int verify;                 /* default true: the server's certificate and name */
	char *ca;                   /* PEM CA file; NULL: the system store */
	/*
	 * The name sent as SNI and verified; NULL: none sent, the server
	 * address is verified.  "$host" (name_host, name NULL): the
	 * request's Host, in modes that have one (http); the others fall
	 * back to the server address.
	 */
	char *name;
	int name_host;
	char *cert;                 /* client certificate (mutual TLS); with key */
	char *key;
	unsigned protocols;         /* CONF_TLS_V* bits (conf/tls.h); default 1.2 and 1.3 */
	char *ciphers;              /* TLS 1.2 and below; NULL: OpenSSL's default */
	int session_reuse;          /* default true: sessions kept per worker and server */
	/* Built at load: */
	SSL_CTX *ctx;
};

/*
 * Sessions: the new-session callback of an upstream context stores a
 * new session in the SSL_SESSION * slot that the connection carries at
 * this ex_data index of its SSL (none: the session is not kept),
 * dropping the slot's old one.
 */
int conf_tls_upstream_slot_index(void);

/*
 * Sets what ssl, a new client connection of t, sends and verifies:
 * name (NUL-terminated, lower-case) as SNI and as the name to verify;
 * an IP address literal, or name NULL, verifies the address of the
 * server sa and sends no SNI.  CT_ERROR: out of memory.
 */
int conf_tls_upstream_peer(const struct conf_tls_upstream *t, SSL *ssl, const char *name,
    const struct sockaddr *sa);

#endif

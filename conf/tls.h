/*
 * A listener's "tls" block: the certificates it serves, by server name,
 * and how it talks TLS.  The OpenSSL contexts are built while the
 * configuration loads, so that a missing or mismatched certificate, a
 * bad CA file or an unknown cipher is an error at its file:line:col with
 * OpenSSL's reason, and a reload that has one keeps the old
 * configuration.  Workers inherit the contexts when they are forked; a
 * connection keeps the context it was accepted with until it closes.
 */
#ifndef CT_CONF_TLS_H
#define CT_CONF_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#define CONF_TLS_CERTS_MAX       64
#define CONF_TLS_ALPN_MAX        8
#define CONF_TLS_HANDSHAKE_DEFAULT (UINT64_C(10) * 1000)
#define CONF_TLS_TICKET_KEY_LEN  80     /* name 16, HMAC key 32, AES key 32 */
#define CONF_TLS_TICKET_KEYS_MAX 3

/* Bits of conf_tls.protocols. */
#define CONF_TLS_V1_0  0x1
#define CONF_TLS_V1_1  0x2
#define CONF_TLS_V1_2  0x4
#define CONF_TLS_V1_3  0x8

enum conf_tls_verify {
	CONF_TLS_VERIFY_NONE,       /* no client certificate is asked for */
	CONF_TLS_VERIFY_OPTIONAL,   /* asked for; the handshake goes on without or with a bad one */
	CONF_TLS_VERIFY_REQUIRED    /* a verified client certificate, or no handshake */
};

/* Request fields that carry the client certificate upstream (http); NULL: not sent. */
enum conf_tls_header {
	CONF_TLS_HDR_VERIFY,        /* SUCCESS, NONE or FAILED:reason (nginx's $ssl_client_verify) */
	CONF_TLS_HDR_SUBJECT,
	CONF_TLS_HDR_ISSUER,
	CONF_TLS_HDR_SERIAL,
	CONF_TLS_HDR_FINGERPRINT,   /* SHA-256, lower-case hex */
	CONF_TLS_HDRS
};

struct conf_tls_cert {
	char *cert;                 /* PEM: the certificate, then its chain */
	char *key;                  /* PEM private key */
	char *ocsp;                 /* NULL, or a DER OCSP response to staple */
	int is_default;             /* for names no certificate has */
	/* Built at load: */
	X509 *leaf;                 /* owned by the context it went into */
	unsigned char *ocsp_der;
	size_t ocsp_len;
	time_t not_after;
	int key_type;               /* EVP_PKEY_RSA, EVP_PKEY_EC, ... */
	char **names;               /* DNS names of the SANs (or the CN), lower-case */
	size_t nnames;
};

/* A server name and the context of the certificates that carry it. */
struct conf_tls_name {
	const char *name;           /* borrowed from a conf_tls_cert */
	SSL_CTX *ctx;
};

struct conf_tls {
	struct conf_tls_cert *certs;
	size_t ncerts;
	unsigned protocols;         /* CONF_TLS_V*; default 1.2 and 1.3 */
	char *ciphers;              /* TLS 1.2 and below; NULL: OpenSSL's default */
	char *ciphersuites;         /* TLS 1.3; NULL: OpenSSL's default */
	char *groups;               /* NULL: OpenSSL's default */
	int prefer_server_ciphers;  /* default true */
	char **alpn;                /* offered protocols in preference order; http default http/1.1 */
	size_t nalpn;
	int session_tickets;        /* default true */
	char *ticket_key_file;      /* NULL: keys from shm, rotated by the master */
	uint64_t handshake_timeout_ms;
	enum conf_tls_verify verify;
	char *client_ca;            /* required with verify */
	char *client_crl;
	unsigned verify_depth;      /* default 1 */
	char *headers[CONF_TLS_HDRS];
	int ktls;                   /* SSL_OP_ENABLE_KTLS; default false */
	/* Built at load: */
	SSL_CTX *ctx;               /* the default certificate's; new connections start here */
	SSL_CTX **ctxs;             /* one per set of names (RSA and ECDSA of the same names share one) */
	size_t nctxs;
	struct conf_tls_name *exact;   /* sorted by name */
	size_t nexact;
	struct conf_tls_name *wild;    /* "*.example.com" */
	size_t nwild;
	unsigned char alpn_wire[64];   /* alpn as on the wire */
	size_t alpn_wire_len;
	unsigned char ticket_keys[CONF_TLS_TICKET_KEYS_MAX][CONF_TLS_TICKET_KEY_LEN];
	size_t nticket_keys;           /* from ticket_key_file; 0: shm's */
};

/*
 * The context that serves server name (lower-case, len bytes): an
 * exact name, else a wildcard one label up, else NULL (the default).
 */
SSL_CTX *conf_tls_ctx_for(const struct conf_tls *t, const char *name, size_t len);

/*
 * The ex_data index of SSL_CTX at which the contexts keep their
 * struct conf_tls (for the callbacks).
 */
int conf_tls_ctx_index(void);

/*
 * Where the workers find the ticket keys that all of them share
 * (shm), and the hook that reads them; set before any handshake.
 * Copies up to max keys into keys, the one to encrypt with first, and
 * returns how many.
 */
typedef size_t (*conf_tls_keys_cb)(unsigned char (*keys)[CONF_TLS_TICKET_KEY_LEN], size_t max);
void conf_tls_set_keys_source(conf_tls_keys_cb cb);

#endif

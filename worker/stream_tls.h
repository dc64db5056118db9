/*
 * TLS streams: the same ops as a plain socket (stream.h), over OpenSSL.
 */
#ifndef CT_WORKER_STREAM_TLS_H
#define CT_WORKER_STREAM_TLS_H

#include <openssl/ssl.h>

#include "worker/stream.h"

extern const struct stream_ops stream_tls_ops;

/*
 * Makes s, a connected plain stream, the server side of a TLS session
 * of ctx; the handshake op then runs it.  CT_ERROR: out of memory.
 */
int stream_tls_accept(struct stream *s, SSL_CTX *ctx);
/*
 * Makes s the client side of a TLS session to server name sni (sent and
 * verified when not NULL), resuming sess when not NULL.
 */
int stream_tls_connect(struct stream *s, SSL_CTX *ctx, const char *sni, SSL_SESSION *sess);

#endif

/*
 * TLS termination in a worker (worker/tls.c): the handshake phase that
 * runs before a listener's mode, and what the rest of the worker may
 * read of a client's TLS session.
 */
#ifndef CT_WORKER_TLS_H
#define CT_WORKER_TLS_H

#include <stddef.h>

#include "conf/tls.h"
#include "lib/ev.h"

struct conn;
struct worker;

/* At worker start: ticket keys come from the segment. */
void tls_worker_init(struct worker *w);
/* After accept and the ACL, on a listener with tls: the handshake, then mode->start. */
void tls_start(struct conn *c);
/* An io callback that only notes the events (the client waits for the tunnel). */
void tls_client_event(struct ev_loop *loop, struct ev_io *io, uint32_t events);

/* Of c's client session; NULL when the client is not on TLS. */
const char *tls_version(const struct conn *c);
const char *tls_cipher(const struct conn *c);
const char *tls_sni(const struct conn *c);
/* Did the client present a certificate that verified? */
int tls_client_verified(const struct conn *c);
/*
 * A field of the client certificate (conf_tls_header) as text in buf;
 * its length, 0 when there is none (VERIFY always has one).
 */
size_t tls_client_field(const struct conn *c, enum conf_tls_header f, char *buf, size_t len);

/*
 * The TLS fields of an access-log line, with their leading separator
 * (" tls=... cipher=... sni=\"...\" client_cert=\"...\"", or JSON
 * members), escaped for both formats; empty for a client not on TLS.
 */
void tls_log_fields(const struct conn *c, int json, char *buf, size_t len);

#endif

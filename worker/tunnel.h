/*
 * The tunnel: the two-way byte relay that every mode hands a connection
 * to once its own handshake is done; tunnel.c says how it relays.
 */
#ifndef CT_WORKER_TUNNEL_H
#define CT_WORKER_TUNNEL_H

struct conn;

/*
 * Relays between c's client and server until both directions end, and
 * closes c.  c->c2s and c->s2c may already hold bytes to deliver (an
 * HTTP upgrade's); the server socket stays registered as it is.
 */
void tunnel_start(struct conn *c);

#endif

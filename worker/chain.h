/*
 * Chains of upstream proxies: see chain.c.  The connector (upstream.c)
 * calls these while c->up is UPSTREAM_HOP; c->hop and c->hop_step say
 * where the handshake is, and it ends in upstream_chain_done() or in
 * upstream_fail().
 */
#ifndef CT_WORKER_CHAIN_H
#define CT_WORKER_CHAIN_H

struct conn;

/* The TCP connection to the first hop is up: its handshake begins. */
void chain_start(struct conn *c);
/* An event of the server socket: the hop's reply may be there. */
void chain_step(struct conn *c);

#endif

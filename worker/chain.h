/*
 * Chains of upstream proxies: see chain.c.
 *
 * The handshakes run on any stream connected to the first hop, through
 * a struct chain that says what each hop is asked: hops 0..last-1 each
 * a CONNECT to the next hop, hop last a cmd (CONNECT, or a SOCKS 5 UDP
 * ASSOCIATE) for target.  Its owner keeps hop and step between the
 * events of the stream, or keeps them elsewhere and rebuilds the rest
 * at each event, as a connection does (c->hop, c->hop_step).
 *
 * The connector (upstream.c) calls chain_start() and chain_step() for
 * a connection while c->up is UPSTREAM_CHAIN: the last hop of the via
 * is asked to CONNECT to the server or destination, and the chain ends
 * in upstream_chain_done() or in upstream_fail().  Mode udp runs a
 * chain per hop of its sessions' associations (udp_via.c).
 */
#ifndef CT_WORKER_CHAIN_H
#define CT_WORKER_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/socks.h"

struct conn;
struct conf_via;
struct stream;

struct chain {
	struct stream *s;               /* connected to via->hops[0] */
	const struct conf_via *via;
	const struct socks_addr *target; /* what hop last is asked for */
	uint8_t last;                   /* < via->n */
	uint8_t cmd;                    /* of hop last: SOCKS_CMD_CONNECT or SOCKS_CMD_UDP */
	uint8_t hop;                    /* the hop being spoken to */
	uint8_t step;                   /* where its handshake is */
	/* Set when chain_begin() or chain_run() answers CT_ERROR. */
	int err;                        /* an errno that says what why says */
	char why[128];                  /* what the hop did or did not, for the log */
	/* Set when chain_run() answers CT_OK. */
	struct socks_addr bnd;          /* BND.ADDR and BND.PORT of a SOCKS 5 hop last */
};

/*
 * Writes hop 0's first message; ch->hop and ch->step are set.  CT_AGAIN:
 * wait for the hop's answer (an event of the stream, then chain_run());
 * CT_ERROR: ch->err, ch->why.
 */
int chain_begin(struct chain *ch);

/*
 * An event of the stream: the hop's answer may be there.  CT_AGAIN: not
 * whole yet, or the next message was written; CT_OK: hop last said yes
 * (ch->bnd); CT_ERROR: ch->err, ch->why, with ch->hop the hop that
 * failed.  Only a reply's own bytes are taken from the stream.
 */
int chain_run(struct chain *ch);

/* "hop 2 of 3 (http://10.0.0.2:3128): why" of a chain that failed. */
void chain_describe(const struct chain *ch, char *buf, size_t len);

/* The TCP connection to the first hop is up: its handshake begins. */
void chain_start(struct conn *c);
/* An event of the server socket: the hop's reply may be there. */
void chain_step(struct conn *c);

#endif

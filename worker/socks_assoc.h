/*
 * What a SOCKS 5 UDP association (worker/socks_udp.c) decides without a
 * socket: whose datagrams it takes, and what waits for a name.
 *
 *   client filter   a datagram to the association must come from the
 *                   address of the control connection's client and from
 *                   the port the client named in its request; a client
 *                   that named port 0 has its first datagram's port
 *                   fixed as its own (RFC 1928 7).
 *   peers           the destinations the client sent to lately: only
 *                   they may answer (a port-restricted cone, as a NAT
 *                   would keep), the least recently used forgotten
 *                   first when a new one has no room.
 *   waiting queue   datagrams to names being resolved, one after the
 *                   other in a pool buffer, each tagged with the index
 *                   of its name in the association and its port; mode
 *                   udp keeps those of a session whose SOCKS 5 hops
 *                   are being asked for associations in one too, all
 *                   tagged 0 (udp_via.h).
 *
 * Pure: no sockets, no clock, no allocation.  Addresses are compared as
 * bytes of one family, as the socket gave them (udp_key).
 */
#ifndef CT_WORKER_SOCKS_ASSOC_H
#define CT_WORKER_SOCKS_ASSOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "worker/udp_table.h"

#define SOCKS_ASSOC_PEERS     16    /* destinations whose replies are taken */
#define SOCKS_ASSOC_WAITING   8     /* datagrams waiting for names, per association */

struct socks_assoc_client {
	struct udp_key key;         /* the client's address; port: the one below */
	unsigned learn:1;           /* the port is the first datagram's */
};

struct socks_assoc_peers {
	struct udp_key key[SOCKS_ASSOC_PEERS];
	uint64_t used[SOCKS_ASSOC_PEERS];   /* the sequence number of the last send; 0: free */
	uint64_t seq;
};

/*
 * The client of an association: peer is the control connection's
 * client; port (host order) the one its request named, or 0 for "the
 * first datagram's".  CT_ERROR: peer is neither IPv4 nor IPv6.
 */
int socks_assoc_client_init(struct socks_assoc_client *cl, const struct sockaddr *peer,
    uint16_t port);

/*
 * Is a datagram from src the client's?  src in the family of peer (the
 * association's socket is of the control connection's).  The first one
 * from the client's address fixes a port still unknown.
 */
int socks_assoc_client_accept(struct socks_assoc_client *cl, const struct sockaddr *src);

/* The client sent to sa: its replies are taken. */
void socks_assoc_peer_note(struct socks_assoc_peers *p, const struct sockaddr *sa);
/* Did the client send to sa, among the last SOCKS_ASSOC_PEERS destinations? */
int socks_assoc_peer_known(const struct socks_assoc_peers *p, const struct sockaddr *sa);

/*
 * Appends a datagram of len bytes to port (host order) of name (the
 * index of a name in the association) to b, which holds only such
 * datagrams.  CT_DECLINED: SOCKS_ASSOC_WAITING wait already, or b has
 * no room for it.
 */
int socks_assoc_wait_push(struct buf *b, unsigned name, uint16_t port, const void *data,
    size_t len);

typedef void (*socks_assoc_wait_cb)(void *arg, uint16_t port, const uint8_t *data, size_t len);

/*
 * Takes every datagram that waits for name out of b, in the order they
 * came, and calls cb with each; cb must not push to b.  Returns how
 * many datagrams are left in b, of other names.
 */
size_t socks_assoc_wait_flush(struct buf *b, unsigned name, socks_assoc_wait_cb cb, void *arg);

#endif

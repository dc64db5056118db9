/*
 * SOCKS 5 UDP ASSOCIATE (RFC 1928 7) for mode socks (socks_udp.c has
 * the design).  socks.c calls, on a connection whose request was UDP
 * ASSOCIATE on a listener with "udp: true":
 *
 *   socks_udp_open()     the association's sockets; the reply's BND
 *   (the reply is written)
 *   socks_udp_start()    datagrams flow; the control connection is watched
 *   socks_udp_control()  the control connection is readable
 *   socks_udp_timer()    the connection's timer fired (idle timeout)
 *   socks_udp_free()     from the mode's free(): everything goes
 */
#ifndef CT_WORKER_SOCKS_UDP_H
#define CT_WORKER_SOCKS_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct conn;
struct socks_udp;
struct worker;

/*
 * Opens the association of c, whose client said it sends from port
 * (host order; 0: not known): the client's socket, bound to the
 * address c reached the listener on, becomes c->server, and its
 * address goes to *bnd for the reply.  NULL: no association (logged),
 * to be answered with a general failure.
 */
struct socks_udp *socks_udp_open(struct conn *c, uint16_t port, struct sockaddr_storage *bnd);

/* The reply is written: datagrams are read, and the idle timeout runs. */
void socks_udp_start(struct conn *c, struct socks_udp *u);

/* Bytes or the end on the control connection: read and dropped, or the end of u. */
void socks_udp_control(struct conn *c, struct socks_udp *u);

/* The connection's timer: the idle timeout of the association. */
void socks_udp_timer(struct conn *c, struct socks_udp *u);

/*
 * Frees u (NULL: c had no association) and closes its relay socket;
 * the core closes c->server.  What the access-log line of c needs is
 * left for socks_udp_log_fields(), within the same conn_close().
 */
void socks_udp_free(struct conn *c, struct socks_udp *u);

/* The association's fields of the connection's access-log line, or nothing. */
void socks_udp_log_fields(const struct conn *c, int json, char *buf, size_t len);

/* ", UDP association: 127.0.0.1:40000" for log lines. */
void socks_udp_describe(const struct socks_udp *u, char *buf, size_t len);

/* The worker exits: its datagram buffer goes once no association holds it. */
void socks_udp_exit(struct worker *w);

#endif

/*
 * The SOCKS 5 UDP associations of a mode udp session whose upstream has
 * "via" (udp_via.c has the design).  udp.c calls, for such a session:
 *
 *   udp_via_open()     when the session opens, its socket connected to
 *                      the first hop's address: the control connections
 *                      start; udp.c runs the connect timer
 *   udp_via_up()       are the associations up?  Until then the client's
 *                      datagrams wait (udp_via_hold())
 *   (up_cb)            they are: udp.c takes the held datagrams
 *                      (udp_via_take_held()) and sends them
 *   udp_via_send()     a client's datagram, wrapped once per hop
 *   udp_via_unwrap()   a datagram from the first hop, unwrapped
 *   udp_via_expired()  the connect timer fired before they were up
 *   udp_via_close()    from the mode's free(): the control connections
 *                      close, and the memory stays with the session's
 *                      record for the next session (udp_via_open()'s
 *                      spare), since the end may come from within one
 *                      of the association's own callbacks
 *   udp_via_free()     the record goes (the worker exits)
 *
 * A hop that fails, refuses or closes its control connection ends the
 * session through conn_close() from the association's own events, with
 * a log line that names the hop and why.
 */
#ifndef CT_WORKER_UDP_VIA_H
#define CT_WORKER_UDP_VIA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "shm/stats.h"

struct conn;
struct udp_via;

/* Every association of c is up: the datagrams may go. */
typedef void (*udp_via_up_cb)(struct conn *c);

/*
 * Opens the control connections of session c, whose server socket
 * (c->server) is connected to the first hop's address, and asks each
 * hop for an association; in spare (closed; NULL: none) when it has
 * room, which is else freed.  NULL: they could not start (logged), and
 * spare is gone; the caller closes c.
 */
struct udp_via *udp_via_open(struct conn *c, struct udp_via *spare, udp_via_up_cb up);

/* Are all the associations up? */
int udp_via_up(const struct udp_via *v);

/*
 * A client's datagram of len bytes waits for the associations.
 * CT_DECLINED: no room (SOCKS_ASSOC_WAITING datagrams, or a pool
 * buffer's bytes), for the caller to count.
 */
int udp_via_hold(struct udp_via *v, const void *data, size_t len);

/* The datagrams that waited, in their order (NULL: none), for the caller to send and put back. */
struct buf *udp_via_take_held(struct udp_via *v);

/*
 * Sends a client's datagram of len bytes on fd, the session's socket,
 * behind a SOCKS UDP header per hop: -1 and errno as send().
 */
ssize_t udp_via_send(const struct udp_via *v, int fd, const void *data, size_t len);

/*
 * A datagram of n bytes from the first hop: every header must name the
 * hop after its own (and the last the session's server), unfragmented.
 * CT_OK with *off where the server's bytes begin; CT_DECLINED: dropped,
 * *why the reason to count, *what for the log.
 */
int udp_via_unwrap(const struct udp_via *v, const uint8_t *buf, size_t n, size_t *off,
    enum shm_udp_drop *why, const char **what);

/* The connect timer fired with an association not up: logged, and c closed. */
void udp_via_expired(struct udp_via *v);

/* "hop 1 of 2 (socks5://127.0.0.1:1080)" of the first hop, for log lines. */
void udp_via_first(const struct udp_via *v, char *buf, size_t len);

/* Closes the control connections of v (NULL, or closed: nothing); v stays. */
void udp_via_close(struct udp_via *v);
/* Closes v if open, and frees it (NULL: nothing). */
void udp_via_free(struct udp_via *v);

#endif

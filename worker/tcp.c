/*
 * mode tcp: an L4 load balancer.  The connector reaches a server picked
 * by the balancer (with failover to the next one), and the tunnel relays
 * the bytes; the mode itself only joins the two.
 */
#include "lib/ct.h"
#include "worker/conn.h"
#include "worker/tcp.h"
#include "worker/tunnel.h"
#include "worker/upstream.h"
#include "worker/worker-t.h"

/* The server socket cuttle connected: edge-triggered, for everything (tunnel.c). */
#define TCP_SERVER_EVENTS (STREAM_READ_EVENTS | EPOLLOUT | EPOLLET)

static void
tcp_start(struct conn *c)
{
	upstream_connect(c, c->w->cy->conf->listeners[c->listener].upstream);
}

static void
tcp_ready(struct conn *c)
{
	/*
	 * The client is not read now: epoll reports what is already there
	 * as soon as the socket is registered, and a client's first bytes
	 * mostly arrive after the connect completes, so reading now would
	 * mostly find nothing.
	 */
	c->client.drained = 1;
	tunnel_start(c);
}

static void
tcp_give_up(struct conn *c, int status, const char *why)
{
	(void)status;
	(void)why;
	/* Its line names no server: none carried a byte of it. */
	c->server_idx = -1;
	conn_close(c, "no server available");
}

static const void *
tcp_key(const struct conn *c, size_t *len)
{
	return lb_key_addr(&c->peer.sa, len);
}

const struct conn_mode tcp_mode = {
	.name = "tcp",
	.start = tcp_start,
	.connect_events = TCP_SERVER_EVENTS,
	.upstream_ready = tcp_ready,
	.upstream_give_up = tcp_give_up,
	.upstream_key = tcp_key,
};

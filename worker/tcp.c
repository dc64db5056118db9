/*
 * mode tcp: an L4 load balancer.  The connector reaches a server picked
 * by the balancer (with failover to the next one), and the tunnel relays
 * the bytes; the mode itself only joins the two.
 *
 * With an "sni" block the listener routes TLS by server name without
 * decrypting it: the client's first bytes are looked at in place (peeked,
 * never consumed) until they hold a whole ClientHello, whose server name
 * picks the upstream; the tunnel then relays the hello and all that
 * follows as they are.
 *
 *   accept --sni--> HELLO (peek on every new edge) --name--> connect --> tunnel
 *                     |
 *                     +--garbage, no route, timeout--> closed, logged at info
 */
#include <string.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "lib/tls_hello.h"
#include "worker/conn.h"
#include "worker/tcp.h"
#include "worker/tunnel.h"
#include "worker/upstream.h"
#include "worker/worker-t.h"

/* The server socket cuttle connected: edge-triggered, for everything (tunnel.c). */
#define TCP_SERVER_EVENTS (STREAM_READ_EVENTS | EPOLLOUT | EPOLLET)
/*
 * The records of the largest ClientHello accepted, with room for the
 * record headers of a hello cut into small records.
 */
#define TCP_HELLO_PEEK (TLS_HELLO_MAX + 4096)
/* Looks at a hello that arrives in pieces, before it counts as an attack. */
#define TCP_HELLO_LOOKS 64

static const struct conf_listener *
tcp_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

/* Events of the client while the connector works: kept for the tunnel. */
static void
tcp_client_event(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(&c->client, events);
}

/* The upstream of server name sni (lower-case), or -1: exact names first. */
static long
tcp_sni_route(const struct conf_sni *sni, const char *name, size_t len)
{
	size_t i, j;
	int wild;

	for (wild = 0; wild < 2; wild++)
		for (i = 0; i < sni->nroutes; i++)
			for (j = 0; j < sni->routes[i].nnames; j++) {
				const char *p = sni->routes[i].names[j];

				if ((p[0] == '*') != wild)
					continue;
				if (wild ? tls_name_match(p, name, len) :
				    strlen(p) == len && memcmp(p, name, len) == 0)
					return (long)sni->routes[i].upstream;
			}
	return -1;
}

static void
tcp_hello_refused(struct conn *c, const char *why, const char *end)
{
	char client[ADDR_STRLEN];

	log_info("%s, client: %s, listener: %s", why,
	    addr_format(&c->peer.sa, client, sizeof(client)), tcp_listener(c)->name);
	conn_close(c, end);
}

/* A whole ClientHello is there: its server name picks the upstream. */
static void
tcp_hello_routed(struct conn *c, const struct tls_hello *h)
{
	const struct conf_listener *l = tcp_listener(c);
	long up = h->sni_len > 0 ? tcp_sni_route(&l->sni, h->sni, h->sni_len) : -1;
	char why[320];

	if (up == -1 && l->upstream_name == NULL) {
		snprintf(why, sizeof(why), "no sni route for server name \"%s\"",
		    h->sni_len > 0 ? h->sni : "(none)");
		tcp_hello_refused(c, why, "no sni route");
		return;
	}
	ev_timer_stop(c->w->loop, &c->timer);
	c->client.io.cb = tcp_client_event;
	upstream_connect(c, up != -1 ? (size_t)up : l->upstream);
}

static void
tcp_hello_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	static uint8_t buf[TCP_HELLO_PEEK];
	struct conn *c = io->data;
	struct tls_hello h;
	char why[160];
	ssize_t n;

	(void)loop;
	stream_event(&c->client, events);
	/* Each look copies what came so far: a hello in a thousand pieces is refused. */
	if (++c->attempts > TCP_HELLO_LOOKS) {
		tcp_hello_refused(c, "ClientHello in too many pieces", "no TLS ClientHello");
		return;
	}
	n = c->client.ops->peek(&c->client, buf, sizeof(buf));
	if (n == CT_AGAIN)
		return;
	if (n < 0) {
		tcp_hello_refused(c, n == CT_DONE ? "client closed before its ClientHello" :
		    "client reset before its ClientHello", n == CT_DONE ? "done" : "client reset");
		return;
	}
	switch (tls_hello_parse(buf, (size_t)n, &h)) {
	case CT_OK:
		tcp_hello_routed(c, &h);
		break;
	case CT_AGAIN:
		/* The rest comes with the next edge; a hello never fills the peek. */
		if ((size_t)n == sizeof(buf))
			tcp_hello_refused(c, "ClientHello too large", "no TLS ClientHello");
		break;
	default:
		snprintf(why, sizeof(why), "not a TLS ClientHello (%s)", h.error);
		tcp_hello_refused(c, why, "no TLS ClientHello");
		break;
	}
}

static void
tcp_hello_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;

	(void)loop;
	tcp_hello_refused(c, "no whole ClientHello within the sni timeout",
	    "no TLS ClientHello");
}

/*
 * Edge-triggered from the start: a peek leaves the bytes in the socket,
 * so a level-triggered registration would report them again at once;
 * an edge comes only when more arrive.  The registration is the one the
 * tunnel keeps later.
 */
static void
tcp_hello_wait(struct conn *c)
{
	c->client.io.cb = tcp_hello_io;
	c->timer.cb = tcp_hello_timer;
	if (ev_timer_start(c->w->loop, &c->timer, tcp_listener(c)->sni.timeout_ms) != CT_OK ||
	    ev_io_set(c->w->loop, &c->client.io, STREAM_READ_EVENTS | EPOLLOUT | EPOLLET) != CT_OK)
		conn_close(c, "internal error");
}

static void
tcp_start(struct conn *c)
{
	const struct conf_listener *l = tcp_listener(c);

	if (l->sni.enabled)
		tcp_hello_wait(c);
	else
		upstream_connect(c, l->upstream);
}

static void
tcp_ready(struct conn *c)
{
	/*
	 * A client not yet registered is not read now: epoll reports what
	 * is already there as soon as the socket is registered, and a
	 * client's first bytes mostly arrive after the connect completes,
	 * so reading now would mostly find nothing.  One whose ClientHello
	 * was peeked has bytes waiting that no new edge will announce.
	 */
	if (c->client.io.events == 0)
		c->client.drained = 1;
	tunnel_start(c);
}

static void
tcp_give_up(struct conn *c, int status, const char *why)
{
	/* Its line names no server: none carried a byte of it. */
	c->server_idx = -1;
	conn_close(c, status == 503 ? why : "no server available");
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

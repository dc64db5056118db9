/*
 * The tunnel: the one two-way byte relay.  Every mode hands a connection
 * to it once its own handshake is done (mode tcp once connected, an HTTP
 * upgrade after 101; CONNECT, SOCKS and TLS passthrough next), and it
 * relays until both directions have ended.
 *
 * Each direction is a pipe "src -> buffer -> dst".  When src ends (EOF),
 * the buffer is drained and dst's write side is shut down, so a client
 * that half-closes still receives the whole answer (half-close kept).
 * A full buffer stops reading from src until dst takes bytes
 * (backpressure); an empty one is returned to the pool, so an idle
 * connection holds no buffer.
 *
 * A socket that the tunnel or the connector registered (mode tcp: both)
 * is registered once, edge-triggered, for everything: no epoll_ctl to
 * mute it for backpressure or at its end of stream, nor to unmute it.
 * What an edge does not repeat, the stream's bits keep: drained (read it
 * empty) and blocked (a write would block; EPOLLOUT clears it).  Only a
 * read cut short to yield to other connections leaves bytes that no edge
 * will announce, and re-arms the registration.  A socket handed over
 * level-triggered (an HTTP upgrade's) has its interest recomputed from
 * this state after every event instead.
 *
 * A direction that turns out to be bulk (a read filled a whole buffer)
 * moves on by splice(2) through a pipe once its buffer is empty, when
 * both streams can splice: the bytes then go socket -> pipe -> socket
 * inside the kernel, without the two copies through user space.  Short
 * exchanges never take a pipe.  Pipes come from the worker's pool
 * (pipe.h); without one the direction simply stays buffered.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "worker/bandwidth.h"
#include "worker/conn.h"
#include "worker/pipe.h"
#include "worker/tunnel.h"
#include "worker/worker-t.h"

_Static_assert(CONF_BW_UP == 0 && CONF_BW_DOWN == 1, "the tunnel's directions are bandwidth's");

/* Reads per direction per event before yielding to other connections. */
#define TUNNEL_ROUNDS 8

static void tunnel_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
static void tunnel_timer(struct ev_loop *loop, struct ev_timer *t);
static void tunnel_pump(struct conn *c);

static uint64_t
tunnel_idle_ms(const struct conn *c)
{
	return c->w->cy->conf->listeners[c->listener].idle_timeout_ms;
}

/* Takes a pipe for direction dir of c; 0 when none can be had. */
static int
tunnel_splice_take(struct conn *c, int dir)
{
	struct pipe_pair *sp = c->splice;

	if (sp == NULL) {
		if ((sp = malloc(sizeof(*sp))) == NULL)
			return 0;
		sp->fd[0][0] = sp->fd[0][1] = sp->fd[1][0] = sp->fd[1][1] = -1;
		sp->len[0] = sp->len[1] = 0;
		c->splice = sp;
	}
	if (!pipe_take(sp->fd[dir], WORKER_PIPES_MAX(c->w->cy->conf->worker_connections)))
		return 0;
	sp->len[dir] = 0;
	return 1;
}

/* Gives back the pipe of direction dir, empty. */
static void
tunnel_splice_put(struct conn *c, int dir)
{
	struct pipe_pair *sp = c->splice;

	pipe_give(sp->fd[dir], sp->len[dir]);
	sp->fd[dir][0] = sp->fd[dir][1] = -1;
	sp->len[dir] = 0;
}

/* Bytes of direction dir waiting to be written, in its buffer or pipe. */
static size_t
tunnel_pending(const struct conn *c, const struct buf *b, int dir)
{
	return (b != NULL ? buf_len(b) : 0) + (c->splice != NULL ? c->splice->len[dir] : 0);
}

/* Can direction dir take more bytes from its source (bandwidth permitting)? */
static int
tunnel_room(const struct conn *c, const struct buf *b, int dir)
{
	if (bandwidth_paused(c, dir))
		return 0;
	if (c->splice != NULL && c->splice->fd[dir][0] != -1)
		return c->splice->len[dir] == 0;
	return b == NULL || buf_room(b) > 0;
}

/*
 * Keeps the registration of side s up to date.  eof: s has ended its
 * input; room: its direction can take more; held: bytes read from s
 * wait to be written on; writing: bytes (or the end) wait to go to s.
 */
static int
tunnel_watch(struct ev_loop *loop, struct stream *s, int eof, int room, size_t held,
    int writing)
{
	if (s->io.events & EPOLLET) {
		/* Bytes left unread with nothing to wait for: a yield (a pause waits for its timer). */
		if (!eof && room && !stream_empty(s) && held == 0)
			return ev_io_rearm(loop, &s->io);
		return CT_OK;
	}
	return ev_io_set(loop, &s->io, stream_events(s, !eof && room, writing));
}

static void
tunnel_update(struct conn *c)
{
	struct ev_loop *loop = c->w->loop;

	if (tunnel_watch(loop, &c->client, c->client_eof, tunnel_room(c, c->c2s, 0),
	    tunnel_pending(c, c->c2s, 0),
	    tunnel_pending(c, c->s2c, 1) > 0 || (c->server_eof && !c->client_shut)) != CT_OK ||
	    tunnel_watch(loop, &c->server, c->server_eof, tunnel_room(c, c->s2c, 1),
	    tunnel_pending(c, c->s2c, 1),
	    tunnel_pending(c, c->c2s, 0) > 0 || (c->client_eof && !c->server_shut)) != CT_OK) {
		log_warn("epoll_ctl() failed while relaying");
		conn_close(c, "internal error");
	}
}

/*
 * The end of a direction: dst's write side is shut down, unless the other
 * direction is over too (last): then both sockets are closed next, and
 * close() sends the FIN itself, every byte in dst having been read.  A
 * shutdown that must wait (TLS) is tried again at dst's next event.
 */
static void
tunnel_shut(struct stream *dst, unsigned *dst_shut, int last)
{
	if (*dst_shut)
		return;
	/* ENOTCONN after a reset is found by the next write or read. */
	if (!last && dst->ops->shutdown_write(dst) == CT_AGAIN) {
		dst->blocked = 1;
		return;
	}
	*dst_shut = 1;
}

/*
 * Moves bytes src -> pipe -> dst for a spliced direction.  Returns NULL,
 * or the reason to close the connection.
 */
static const char *
tunnel_move_spliced(struct conn *c, int dir, struct stream *src, struct stream *dst,
    unsigned *src_eof, unsigned *dst_shut, int last, uint64_t *in, uint64_t *out)
{
	struct pipe_pair *sp = c->splice;
	size_t want;
	ssize_t n;
	int rounds = 0;

	for (;;) {
		if (sp->len[dir] > 0) {
			if (dst->blocked)
				break;
			n = dst->ops->splice_write(dst, sp->fd[dir][0], sp->len[dir]);
			if (n == CT_AGAIN)
				break;
			if (n < 0)
				return dst == &c->client ? "client reset" : "server reset";
			sp->len[dir] -= (size_t)n;
			*out += (uint64_t)n;
			if (sp->len[dir] > 0)
				continue;
		}
		if (*src_eof) {
			tunnel_shut(dst, dst_shut, last);
			break;
		}
		if (++rounds > TUNNEL_ROUNDS || stream_empty(src) || src->urgent)
			break;
		/* Never more than the bandwidth lets through: a burst stays bounded. */
		if ((want = bandwidth_allow(c, dir, PIPE_CHUNK, tunnel_pump)) == 0)
			break;
		n = src->ops->splice_read(src, sp->fd[dir][1], want);
		if (n > 0) {
			sp->len[dir] += (size_t)n;
			*in += (uint64_t)n;
		} else if (n == CT_DONE) {
			*src_eof = 1;
		} else if (n == CT_AGAIN) {
			break;
		} else {
			return src == &c->client ? "client reset" : "server reset";
		}
	}
	return NULL;
}

/*
 * Moves bytes src -> *bufp -> dst for direction dir (0: client to
 * server, 1: back); last: the other direction is over.  Returns NULL, or
 * the reason to close the connection.
 */
static const char *
tunnel_move(struct conn *c, int dir, struct stream *src, struct stream *dst, struct buf **bufp,
    unsigned *src_eof, unsigned *dst_shut, int last, uint64_t *in, uint64_t *out)
{
	struct buf_pool *pool = &c->w->bufs;
	struct buf *b;
	size_t want;
	ssize_t n;
	int rounds = 0, bulk = 0;
	const char *why = NULL;

	if (c->splice != NULL && c->splice->fd[dir][0] != -1) {
		why = tunnel_move_spliced(c, dir, src, dst, src_eof, dst_shut, last, in, out);
		/* Urgent data: back to the buffer once the pipe is empty. */
		if (why != NULL || !src->urgent || c->splice->len[dir] > 0)
			return why;
		tunnel_splice_put(c, dir);
	}
	for (;;) {
		b = *bufp;
		/*
		 * A blocked dst waits for EPOLLOUT, and src fills the room left
		 * meanwhile: reading only once the buffer is empty again would
		 * leave src's level-triggered EPOLLIN waking the loop for bytes
		 * it does not read.
		 */
		if (b != NULL && buf_len(b) > 0 && !dst->blocked) {
			/* The buffer holds all that is left: the FIN can ride with it. */
			if (*src_eof || stream_at_end(src))
				n = dst->ops->write_last(dst, b->data + b->start, buf_len(b));
			else
				n = dst->ops->write(dst, b->data + b->start, buf_len(b));
			if (n == CT_AGAIN) {
				dst->blocked = 1;
			} else if (n < 0) {
				why = dst == &c->client ? "client reset" : "server reset";
				break;
			} else {
				b->start += (uint32_t)n;
				*out += (uint64_t)n;
				if (buf_len(b) > 0)
					continue;
				b->start = b->end = 0;
			}
		}
		if (*src_eof) {
			/* The FIN goes after the last byte. */
			if (b == NULL || buf_len(b) == 0)
				tunnel_shut(dst, dst_shut, last);
			break;
		}
		/* Drained: the read would say CT_AGAIN; no buffer taken for it. */
		if (++rounds > TUNNEL_ROUNDS || stream_empty(src))
			break;
		if (b == NULL && (b = *bufp = buf_get(pool)) == NULL) {
			log_warnx("out of memory for relay buffers");
			why = "out of memory";
			break;
		}
		/* A zero-length read would look like the end of the stream. */
		if (buf_room(b) == 0)
			break;
		if ((want = bandwidth_allow(c, dir, buf_room(b), tunnel_pump)) == 0)
			break;
		n = src->ops->read(src, b->data + b->end, want);
		if (n > 0) {
			bulk = (size_t)n == buf_room(b) && b->start == 0 && b->end == 0;
			b->end += (uint32_t)n;
			*in += (uint64_t)n;
		} else if (n == CT_DONE) {
			*src_eof = 1;
		} else if (n == CT_AGAIN) {
			break;
		} else {
			why = src == &c->client ? "client reset" : "server reset";
			break;
		}
	}
	if (*bufp != NULL && buf_len(*bufp) == 0) {
		buf_put(pool, *bufp);
		*bufp = NULL;
		/* Bulk, and every byte read so far delivered: the rest can go by pipe. */
		if (bulk && why == NULL && !*src_eof && !src->urgent &&
		    stream_can_splice(src) && stream_can_splice(dst) &&
		    tunnel_splice_take(c, dir))
			return tunnel_move_spliced(c, dir, src, dst, src_eof, dst_shut, last, in, out);
	}
	return why;
}

static void
tunnel_pump(struct conn *c)
{
	const char *why;
	unsigned ce = c->client_eof, se = c->server_eof, cs = c->client_shut, ss = c->server_shut;

	c->last_io = ev_now(c->w->loop);
	why = tunnel_move(c, 0, &c->client, &c->server, &c->c2s, &ce, &ss, cs,
	    &c->from_client, &c->to_server);
	if (why == NULL)
		why = tunnel_move(c, 1, &c->server, &c->client, &c->s2c, &se, &cs, ss,
		    &c->from_server, &c->to_client);
	conn_rec_bytes(c);
	c->client_eof = ce;
	c->server_eof = se;
	c->client_shut = cs;
	c->server_shut = ss;
	if (why != NULL) {
		conn_close(c, why);
		return;
	}
	if (c->server_shut && c->client_shut) {
		conn_close(c, "done");
		return;
	}
	tunnel_update(c);
}

void
tunnel_start(struct conn *c)
{
	c->client.io.cb = tunnel_io;
	c->server.io.cb = tunnel_io;
	c->timer.cb = tunnel_timer;
	/*
	 * A client the mode never registered is registered once, like a
	 * server the connector made: edge-triggered, for everything.
	 */
	if (c->client.io.events == 0 &&
	    ev_io_set(c->w->loop, &c->client.io, STREAM_READ_EVENTS | EPOLLOUT | EPOLLET) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	if (ev_timer_start(c->w->loop, &c->timer, tunnel_idle_ms(c)) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	tunnel_pump(c);
}

static void
tunnel_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(io == &c->client.io ? &c->client : &c->server, events);
	tunnel_pump(c);
}

static void
tunnel_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	uint64_t idle = tunnel_idle_ms(c), quiet;

	/* Activity only stamps last_io; the timer re-arms for the rest. */
	quiet = ev_now(loop) - c->last_io;
	if (quiet >= idle)
		conn_close(c, "idle timeout");
	else if (ev_timer_start(loop, t, idle - quiet) != CT_OK)
		conn_close(c, "internal error");
}

/*
 * mode tcp: connect to a server picked by the balancer, then relay bytes
 * both ways through bounded buffers until both directions have ended.
 *
 * Each direction is a pipe "src -> buffer -> dst".  When src ends (EOF),
 * the buffer is drained and dst's write side is shut down, so a client
 * that half-closes still receives the whole answer (half-close kept).
 * A full buffer stops reading from src until dst takes bytes
 * (backpressure); an empty one is returned to the pool, so an idle
 * connection holds no buffer.
 *
 * The client socket's interest is recomputed from this state after every
 * event, level-triggered.  The server socket of a connection cuttle made
 * itself is registered once, edge-triggered, for everything: no
 * epoll_ctl to mute it for backpressure or at its end of stream, nor to
 * unmute it (a short exchange makes two system calls fewer, of about
 * seventeen).  What an edge does not repeat, the stream's bits keep:
 * drained (read it empty) and blocked (a write would block; EPOLLOUT
 * clears it).  Only a read cut short to yield to other connections
 * leaves bytes that no edge will announce, and re-arms the registration.
 *
 * A direction that turns out to be bulk (a read filled a whole buffer)
 * moves on by splice(2) through a pipe once its buffer is empty: the
 * bytes then go socket -> pipe -> socket inside the kernel, without the
 * two copies through user space.  Short exchanges never take a pipe.
 * Pipes come from the worker's pool (pipe.h); without one the direction
 * simply stays buffered.
 */
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "worker/conn.h"
#include "worker/pipe.h"
#include "worker/worker.h"

/* Reads per direction per event before yielding to other connections. */
#define TCP_ROUNDS 8

/* The pipes of a connection's spliced directions: [0] c2s, [1] s2c. */
struct tcp_splice {
	int fd[2][2];                 /* read end, write end; -1: direction not spliced */
	size_t len[2];                /* bytes waiting in that pipe */
};

static void tcp_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
static void tcp_timer(struct ev_loop *loop, struct ev_timer *t);
static void tcp_connect_next(struct conn *c);

static const struct conf_listener *
tcp_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

static const struct lb_upstream *
tcp_upstream(const struct conn *c)
{
	return &c->w->cy->upstreams[tcp_listener(c)->upstream];
}

void
tcp_start(struct conn *c)
{
	c->client.io.cb = tcp_io;
	c->timer.cb = tcp_timer;
	tcp_connect_next(c);
}

static void
tcp_connect_failed(struct conn *c, int err)
{
	const struct conf_listener *l = tcp_listener(c);
	struct shm_backend *b = shm_backend_get(c->w->cy->shm, c->backend);
	char client[ADDR_STRLEN];

	log_warnx("connect() to %s failed (%d: %s) while connecting to upstream, "
	    "client: %s, listener: %s",
	    tcp_upstream(c)->conf->servers[c->server_idx].address, err, strerror(err),
	    addr_format(&c->peer.sa, client, sizeof(client)),
	    l->name);
	atomic_fetch_add_explicit(&b->failures, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&b->active, 1, memory_order_relaxed);
	lb_passive_fail(tcp_upstream(c), b, c->server_idx, ev_now(c->w->loop));
	c->backend = -1;
	conn_rec_backend(c);
	c->server_idx = -1;
	stream_close(c->w->loop, &c->server);
	if (c->attempts <= l->retries) {
		/*
		 * The next attempt runs from a timer, after this iteration's
		 * remaining events: none of them can then be mistaken for an
		 * event of the new socket.
		 */
		c->state = CONN_RETRY;
		if (ev_timer_start(c->w->loop, &c->timer, 0) == CT_OK)
			return;
	}
	conn_close(c, "no server available");
}

/* Takes a pipe for direction dir of c; 0 when none can be had. */
static int
tcp_splice_take(struct conn *c, int dir)
{
	struct tcp_splice *sp = c->splice;

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
tcp_splice_put(struct conn *c, int dir)
{
	struct tcp_splice *sp = c->splice;

	pipe_give(sp->fd[dir], sp->len[dir]);
	sp->fd[dir][0] = sp->fd[dir][1] = -1;
	sp->len[dir] = 0;
}

void
tcp_splice_free(struct conn *c)
{
	struct tcp_splice *sp = c->splice;
	int dir;

	if (sp == NULL)
		return;
	for (dir = 0; dir < 2; dir++)
		if (sp->fd[dir][0] != -1)
			pipe_give(sp->fd[dir], sp->len[dir]);
	free(sp);
	c->splice = NULL;
}

/* Bytes of direction dir waiting to be written, in its buffer or pipe. */
static size_t
tcp_pending(const struct conn *c, const struct buf *b, int dir)
{
	return (b != NULL ? buf_len(b) : 0) + (c->splice != NULL ? c->splice->len[dir] : 0);
}

/* Can direction dir take more bytes from its source? */
static int
tcp_room(const struct conn *c, const struct buf *b, int dir)
{
	if (c->splice != NULL && c->splice->fd[dir][0] != -1)
		return c->splice->len[dir] == 0;
	return b == NULL || buf_room(b) > 0;
}

/* Interest in reading: the end of the stream and urgent data included. */
#define TCP_READ_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLPRI)
/* The registration of a server socket cuttle connected: see the top. */
#define TCP_SERVER_EVENTS (TCP_READ_EVENTS | EPOLLOUT | EPOLLET)

static void
tcp_update(struct conn *c)
{
	struct ev_loop *loop = c->w->loop;
	uint32_t ci = 0, si = 0;
	int rc;

	if (!c->client_eof && tcp_room(c, c->c2s, 0))
		ci |= TCP_READ_EVENTS;
	if (tcp_pending(c, c->s2c, 1) > 0)
		ci |= EPOLLOUT;
	rc = ev_io_set(loop, &c->client.io, ci);
	if (c->server.io.events & EPOLLET) {
		/* Bytes left unread with nothing to wait for: a yield. */
		if (rc == CT_OK && !c->server_eof && !stream_empty(&c->server) &&
		    tcp_pending(c, c->s2c, 1) == 0)
			rc = ev_io_rearm(loop, &c->server.io);
	} else {
		/* A tunnel's server socket, registered by the HTTP side. */
		if (!c->server_eof && tcp_room(c, c->s2c, 1))
			si |= TCP_READ_EVENTS;
		if (tcp_pending(c, c->c2s, 0) > 0)
			si |= EPOLLOUT;
		if (rc == CT_OK)
			rc = ev_io_set(loop, &c->server.io, si);
	}
	if (rc != CT_OK) {
		log_warn("epoll_ctl() failed while relaying");
		conn_close(c, "internal error");
	}
}

/*
 * The end of a direction: dst's write side is shut down, unless the other
 * direction is over too (last): then both sockets are closed next, and
 * close() sends the FIN itself, every byte in dst having been read.
 */
static void
tcp_shut(struct stream *dst, unsigned *dst_shut, int last)
{
	if (*dst_shut)
		return;
	/* ENOTCONN after a reset is found by the next write or read. */
	if (!last)
		(void)dst->ops->shutdown_write(dst);
	*dst_shut = 1;
}

/*
 * Moves bytes src -> pipe -> dst for a spliced direction.  Returns NULL,
 * or the reason to close the connection.
 */
static const char *
tcp_move_spliced(struct conn *c, int dir, struct stream *src, struct stream *dst,
    unsigned *src_eof, unsigned *dst_shut, int last, uint64_t *in, uint64_t *out)
{
	struct tcp_splice *sp = c->splice;
	ssize_t n;
	int rounds = 0;

	for (;;) {
		if (sp->len[dir] > 0) {
			if (dst->blocked)
				break;
			n = splice(sp->fd[dir][0], NULL, dst->fd, NULL, sp->len[dir],
			    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN) {
				dst->blocked = 1;
				break;
			}
			if (n <= 0)
				return dst == &c->client ? "client reset" : "server reset";
			sp->len[dir] -= (size_t)n;
			*out += (uint64_t)n;
			if (sp->len[dir] > 0)
				continue;
		}
		if (*src_eof) {
			tcp_shut(dst, dst_shut, last);
			break;
		}
		if (++rounds > TCP_ROUNDS || stream_empty(src) || src->urgent)
			break;
		n = splice(src->fd, NULL, sp->fd[dir][1], NULL, PIPE_CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			sp->len[dir] += (size_t)n;
			*in += (uint64_t)n;
		} else if (n == 0) {
			*src_eof = 1;
		} else if (errno == EAGAIN) {
			src->drained = 1;
			break;
		} else if (errno != EINTR) {
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
tcp_move(struct conn *c, int dir, struct stream *src, struct stream *dst, struct buf **bufp,
    unsigned *src_eof, unsigned *dst_shut, int last, uint64_t *in, uint64_t *out)
{
	struct buf_pool *pool = &c->w->bufs;
	struct buf *b;
	ssize_t n;
	int rounds = 0, bulk = 0;
	const char *why = NULL;

	if (c->splice != NULL && c->splice->fd[dir][0] != -1) {
		why = tcp_move_spliced(c, dir, src, dst, src_eof, dst_shut, last, in, out);
		/* Urgent data: back to the buffer once the pipe is empty. */
		if (why != NULL || !src->urgent || c->splice->len[dir] > 0)
			return why;
		tcp_splice_put(c, dir);
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
				tcp_shut(dst, dst_shut, last);
			break;
		}
		/* Drained: the read would say CT_AGAIN; no buffer taken for it. */
		if (++rounds > TCP_ROUNDS || stream_empty(src))
			break;
		if (b == NULL && (b = *bufp = buf_get(pool)) == NULL) {
			log_warnx("out of memory for relay buffers");
			why = "out of memory";
			break;
		}
		/* A zero-length read would look like the end of the stream. */
		if (buf_room(b) == 0)
			break;
		n = src->ops->read(src, b->data + b->end, buf_room(b));
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
		    src->ops == &stream_plain_ops && dst->ops == &stream_plain_ops &&
		    tcp_splice_take(c, dir))
			return tcp_move_spliced(c, dir, src, dst, src_eof, dst_shut, last, in, out);
	}
	return why;
}

static void
tcp_pump(struct conn *c)
{
	const char *why;
	unsigned ce = c->client_eof, se = c->server_eof, cs = c->client_shut, ss = c->server_shut;

	c->last_io = ev_now(c->w->loop);
	why = tcp_move(c, 0, &c->client, &c->server, &c->c2s, &ce, &ss, cs,
	    &c->from_client, &c->to_server);
	if (why == NULL)
		why = tcp_move(c, 1, &c->server, &c->client, &c->s2c, &se, &cs, ss,
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
	tcp_update(c);
}

static void
tcp_established(struct conn *c)
{
	struct shm_backend *b = shm_backend_get(c->w->cy->shm, c->backend);

	atomic_fetch_add_explicit(&b->total, 1, memory_order_relaxed);
	c->state = CONN_RELAY;
	/*
	 * The client is not read now: epoll reports what is already there
	 * as soon as the socket is registered, and a client's first bytes
	 * mostly arrive after the connect completes, so reading now would
	 * mostly find nothing.
	 */
	c->client.drained = 1;
	if (ev_timer_start(c->w->loop, &c->timer, tcp_listener(c)->idle_timeout_ms) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	tcp_pump(c);
}

void
tcp_tunnel_start(struct conn *c)
{
	c->client.io.cb = tcp_io;
	c->server.io.cb = tcp_io;
	c->timer.cb = tcp_timer;
	c->state = CONN_RELAY;
	if (ev_timer_start(c->w->loop, &c->timer, tcp_listener(c)->idle_timeout_ms) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	tcp_pump(c);
}

static void
tcp_connect_next(struct conn *c)
{
	const struct lb_upstream *u = tcp_upstream(c);
	const struct conf_server *s;
	const void *key;
	size_t keylen;
	int idx, err;

	key = lb_key_addr(&c->peer.sa, &keylen);
	idx = lb_pick(u, c->w->cy->shm, &c->tried, key, keylen);
	if (idx == -1) {
		conn_close(c, "no server available");
		return;
	}
	lb_tried_add(&c->tried, idx);
	c->attempts++;
	c->server_idx = idx;
	c->backend = u->backend[idx];
	conn_rec_backend(c);
	atomic_fetch_add_explicit(&shm_backend_get(c->w->cy->shm, c->backend)->active, 1,
	    memory_order_relaxed);
	s = &u->conf->servers[idx];
	err = stream_connect(&c->server, &s->addr, tcp_io, c);
	if (err != 0 && err != EINPROGRESS) {
		tcp_connect_failed(c, err);
		return;
	}
	/*
	 * Nothing was read yet, and nothing is there until an edge says so:
	 * a server that speaks first may do it in the event that completes
	 * the connect, and stream_event() then clears this.
	 */
	c->server.drained = 1;
	if (ev_io_set(c->w->loop, &c->server.io, TCP_SERVER_EVENTS) != CT_OK) {
		log_warn("cannot watch the connect() to %s", s->address);
		conn_close(c, "internal error");
		return;
	}
	if (err == 0) {
		tcp_established(c);
		return;
	}
	c->state = CONN_CONNECTING;
	if (ev_timer_start(c->w->loop, &c->timer, tcp_listener(c)->connect_timeout_ms) != CT_OK) {
		log_warn("cannot watch the connect() to %s", s->address);
		conn_close(c, "internal error");
	}
}

static void
tcp_connect_check(struct conn *c, uint32_t events)
{
	int err = stream_connect_result(&c->server, events);
	/* the connect timer was started with the connect, at when - timeout */
	uint64_t began = c->timer.when - tcp_listener(c)->connect_timeout_ms;

	ev_timer_stop(c->w->loop, &c->timer);
	if (err != 0) {
		tcp_connect_failed(c, err);
		return;
	}
	lb_observe(tcp_upstream(c), c->w->cy->shm, c->server_idx,
	    (ev_now(c->w->loop) - began) * 1000);
	tcp_established(c);
}

static void
tcp_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(io == &c->client.io ? &c->client : &c->server, events);
	switch (c->state) {
	case CONN_CONNECTING:
		if (io == &c->server.io)
			tcp_connect_check(c, events);
		break;
	case CONN_RELAY:
		tcp_pump(c);
		break;
	default:
		break;
	}
}

static void
tcp_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	uint64_t idle = tcp_listener(c)->idle_timeout_ms, quiet;

	switch (c->state) {
	case CONN_CONNECTING:
		tcp_connect_failed(c, ETIMEDOUT);
		break;
	case CONN_RETRY:
		tcp_connect_next(c);
		break;
	case CONN_RELAY:
		/* Activity only stamps last_io; the timer re-arms for the rest. */
		quiet = ev_now(loop) - c->last_io;
		if (quiet >= idle)
			conn_close(c, "idle timeout");
		else if (ev_timer_start(loop, t, idle - quiet) != CT_OK)
			conn_close(c, "internal error");
		break;
	default:
		break;
	}
}

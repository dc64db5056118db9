/*
 * Connection slots and the one close path; conn.h has the life of a
 * connection.  Modes are reached only through their row (mode.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "worker/bandwidth.h"
#include "worker/approval.h"
#include "worker/conn.h"
#include "worker/events.h"
#include "worker/upstream.h"
#include "worker/limit.h"
#include "worker/geo.h"
#include "worker/logs.h"
#include "worker/pipe.h"
#include "worker/tls.h"
#include "worker/worker-t.h"

/* Fills c's shm entry, then publishes its id. */
static void
conn_rec_open(struct conn *c, struct shm_conn *r)
{
	struct timespec ts;

	/* The slot's last "free" (id 0) is seen before any of the new fields. */
	atomic_thread_fence(memory_order_release);
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	r->started_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	atomic_store_explicit(&r->from_client, 0, memory_order_relaxed);
	atomic_store_explicit(&r->to_client, 0, memory_order_relaxed);
	atomic_store_explicit(&r->backend, -1, memory_order_relaxed);
	atomic_store_explicit(&r->kill, 0, memory_order_relaxed);
	atomic_store_explicit(&r->tls, 0, memory_order_relaxed);
	r->listener = (uint16_t)c->w->cy->listen[c->listener].stats;
	r->family = (uint8_t)c->peer.sa.sa_family;
	if (c->peer.sa.sa_family == AF_INET6) {
		memcpy(r->addr, &c->peer.in6.sin6_addr, 16);
		r->port = ntohs(c->peer.in6.sin6_port);
	} else {
		memcpy(r->addr, &c->peer.in.sin_addr, 4);
		r->port = ntohs(c->peer.in.sin_port);
	}
	atomic_store_explicit(&r->id, shm_conn_id_next(c->w->cy->shm), memory_order_release);
	c->rec = r;
}

struct conn *
conn_get(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len, size_t listener,
    const struct conn_mode *mode)
{
	struct conn *c = w->free;
	struct shm_listener *ls;

	if (c == NULL)
		return NULL;
	w->free = c->next;
	w->nconns++;
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->state = CONN_OPEN;
	c->mode = mode;
	c->listener = listener;
	memcpy(&c->peer, sa, CT_MIN((size_t)len, sizeof(c->peer)));
	stream_init(&c->client, fd, c->mode->io, c);
	c->server.fd = -1;
	c->server_idx = c->next_idx = -1;
	c->backend = -1;
	ev_timer_init(&c->timer, c->mode->timer, c);
	c->start = c->last_io = ev_now(w->loop);
	if ((ls = conn_listener_stats(c)) != NULL) {
		atomic_fetch_add_explicit(&ls->accepted, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ls->active, 1, memory_order_relaxed);
	}
	if (w->recs != NULL)
		conn_rec_open(c, &w->recs[c - w->conns]);
	events_conn_open(c);
	return c;
}

int
conn_fds_short(const struct worker *w)
{
	size_t used = w->fds_base + 2 * (w->nconns + 1) + w->fds_extra + w->nidle +
	    2 * (size_t)pipe_count();

	return w->fds_limit != SIZE_MAX && used + w->fds_reserve > w->fds_limit;
}

void
conn_rec_dest(struct conn *c, const char *text, short backend)
{
	struct shm_conn_dest *e;
	size_t i;

	if (c->rec == NULL || c->w->dest_recs == NULL)
		return;
	e = &c->w->dest_recs[c - c->w->conns];
	/* Printable ASCII: the text passed the protocol's checks, but the list is JSON. */
	for (i = 0; i + 1 < sizeof(e->name) && text[i] != '\0'; i++)
		e->name[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	e->name[i] = '\0';
	/* The admin process copies the text only after it sees this. */
	atomic_store_explicit(&c->rec->backend, backend, memory_order_release);
}

struct shm_listener *
conn_listener_stats(const struct conn *c)
{
	int idx = c->w->cy->listen[c->listener].stats;

	return idx >= 0 ? shm_listener_get(c->w->cy->shm, idx) : NULL;
}

void
conn_kill_requested(struct worker *w)
{
	size_t i;

	if (w->recs == NULL)
		return;
	for (i = 0; i < w->cy->conf->worker_connections; i++) {
		struct conn *c = &w->conns[i];

		if (c->state == CONN_OPEN && c->rec != NULL &&
		    atomic_load_explicit(&c->rec->kill, memory_order_relaxed) ==
		    atomic_load_explicit(&c->rec->id, memory_order_relaxed))
			conn_close(c, "killed by the admin API");
	}
}

/*
 * One access-log line, into the listener's buffer.  Every string in it is an address,
 * a listener name (restricted to [A-Za-z0-9_.-] by the config) or a
 * fixed reason, so none needs escaping in JSON; the TLS fields come
 * escaped.
 */
static void
conn_log_access(const struct conn *c, const char *server, const char *client,
    uint64_t ms, const char *end)
{
	const struct conf_listener *l = &c->w->cy->conf->listeners[c->listener];
	int json = l->access_log.format == CONF_LOG_JSON;
	char line[1280], tls[640], geo[32], own[128];
	int n;

	tls_log_fields(c, json, tls, sizeof(tls));
	geo_log_field(c, json, geo, sizeof(geo));
	own[0] = '\0';
	if (c->mode->log_fields != NULL)
		c->mode->log_fields(c, json, own, sizeof(own));
	if (json)
		n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"client\":\"%s\","
		    "\"listener\":\"%s\",\"server\":%s%s%s,\"from_client\":%llu,"
		    "\"to_client\":%llu,\"time_ms\":%llu,\"end\":\"%s\"%s%s%s}\n",
		    logs_time_iso(), client, l->name,
		    strcmp(server, "-") == 0 ? "" : "\"", strcmp(server, "-") == 0 ? "null" : server,
		    strcmp(server, "-") == 0 ? "" : "\"",
		    (unsigned long long)c->from_client, (unsigned long long)c->to_client,
		    (unsigned long long)ms, end, own, geo, tls);
	else
		n = snprintf(line, sizeof(line), "%s client=%s listener=%s server=%s "
		    "from_client=%llu to_client=%llu time=%llu.%03llus end=\"%s\"%s%s%s\n",
		    logs_time_iso(), client, l->name, server,
		    (unsigned long long)c->from_client, (unsigned long long)c->to_client,
		    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000), end, own,
		    geo, tls);
	if (n > 0 && (size_t)n < sizeof(line))
		logs_access_add(c->w, c->listener, line, (size_t)n);
}

static void
conn_log(const struct conn *c, const char *end, const char *dest)
{
	const struct conf *conf = c->w->cy->conf;
	const struct conf_listener *l = &conf->listeners[c->listener];
	char client[ADDR_STRLEN];
	const char *server = "-";
	uint64_t ms = ev_now(c->w->loop) - c->start;
	int access = c->w->cy->listen[c->listener].access_fd != -1;

	if (!access && !log_enabled(LOG_LVL_INFO))
		return;
	/* The server of the upstream the connection used: a route's, for http. */
	if (dest != NULL)
		server = dest;
	else if (c->server_idx != -1 && c->upstream != UPSTREAM_DEST)
		server = conf->upstreams[c->upstream].servers[c->server_idx].address;
	addr_format(&c->peer.sa, client, sizeof(client));
	if (access && !c->mode->per_request)
		conn_log_access(c, server, client, ms, end);
	if (!log_enabled(LOG_LVL_INFO))
		return;
	log_info("conn client=%s listener=%s server=%s from_client=%llu to_client=%llu "
	    "time=%llu.%03llus end=\"%s\"",
	    client, l->name, server, (unsigned long long)c->from_client,
	    (unsigned long long)c->to_client, (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000), end);
}

void
conn_close(struct conn *c, const char *end)
{
	struct worker *w = c->w;
	struct shm_listener *ls;
	const struct upstream_dest *d;
	char dest[UPSTREAM_DEST_NAME];

	if (c->state == CONN_CLOSED || c->state == CONN_IDLE)
		return;
	/* The destination a client named lives in the mode's state, which goes first. */
	dest[0] = '\0';
	if (c->ctx != NULL && c->mode->upstream_dest != NULL &&
	    (d = c->mode->upstream_dest(c)) != NULL)
		memcpy(dest, d->name, sizeof(dest));
	/* First: the mode's last request line adds its bytes to the connection's. */
	if (c->ctx != NULL && c->mode->free != NULL)
		c->mode->free(c);
	if (c->splice != NULL) {
		pipe_pair_free(c->splice);
		c->splice = NULL;
	}
	/* A held client stops waiting before it closes, for the live events too. */
	approval_release(c);
	/* With the bytes of the last request, and the server not yet let go. */
	events_conn_close(c, end);
	if ((ls = conn_listener_stats(c)) != NULL) {
		atomic_fetch_sub_explicit(&ls->active, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ls->bytes_in, c->from_client, memory_order_relaxed);
		atomic_fetch_add_explicit(&ls->bytes_out, c->to_client, memory_order_relaxed);
		if (!c->mode->per_request)
			shm_hist_add(&ls->duration, (ev_now(w->loop) - c->start) * 1000);
	}
	/* After the counters, so that a connection gone from the list is no longer active. */
	if (c->rec != NULL) {
		atomic_store_explicit(&c->rec->id, 0, memory_order_release);
		c->rec = NULL;
	}
	/* Before the server's byte count goes back to shm and is reset. */
	bandwidth_conn_free(c);
	conn_backend_release(c);
	limit_conn_release(c);
	/*
	 * Last of what others can see: whoever reads the line finds the
	 * counters and the connection list already without the connection.
	 */
	conn_log(c, end, dest[0] != '\0' ? dest : NULL);
	ev_timer_stop(w->loop, &c->timer);
	stream_close(w->loop, &c->client);
	stream_close(w->loop, &c->server);
	if (c->c2s != NULL)
		buf_put(&w->bufs, c->c2s);
	if (c->s2c != NULL)
		buf_put(&w->bufs, c->s2c);
	c->c2s = c->s2c = NULL;
	c->state = CONN_CLOSED;
	c->next = w->dead;
	w->dead = c;
}

void
conn_release_dead(struct worker *w)
{
	while (w->dead != NULL) {
		struct conn *c = w->dead;

		w->dead = c->next;
		c->state = CONN_IDLE;
		c->next = w->free;
		w->free = c;
		w->nconns--;
	}
}

void
conn_backend_release(struct conn *c)
{
	struct shm_backend *b;

	if (c->backend == -1)
		return;
	b = shm_backend_get(c->w->cy->shm, c->backend);
	atomic_fetch_sub_explicit(&b->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->bytes_in, c->from_server, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->bytes_out, c->to_server, memory_order_relaxed);
	c->backend = -1;
	conn_rec_backend(c);
	c->from_server = c->to_server = 0;
}

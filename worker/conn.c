/*
 * Connection slots and the one close path.
 */
#include <string.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/backend.h"
#include "worker/conn.h"
#include "worker/worker.h"

const char *
conn_state_name(enum conn_state s)
{
	switch (s) {
	case CONN_IDLE:       return "idle";
	case CONN_CONNECTING: return "connecting to upstream";
	case CONN_RETRY:      return "waiting to retry";
	case CONN_RELAY:      return "relaying";
	case CONN_CLOSED:     return "closed";
	}
	return "?";
}

struct conn *
conn_get(struct worker *w, int fd, const struct sockaddr *sa, socklen_t len, size_t listener)
{
	struct conn *c = w->free;

	if (c == NULL)
		return NULL;
	w->free = c->next;
	w->nconns++;
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->state = CONN_CONNECTING;
	c->listener = listener;
	memcpy(&c->peer.ss, sa, len);
	c->peer.len = len;
	stream_init(&c->client, fd, NULL, c);
	c->server.fd = -1;
	c->server_idx = -1;
	c->backend = -1;
	ev_timer_init(&c->timer, NULL, c);
	c->start = c->last_io = ev_now(w->loop);
	return c;
}

static void
conn_log(const struct conn *c, const char *end)
{
	const struct conf *conf = c->w->cy->conf;
	const struct conf_listener *l = &conf->listeners[c->listener];
	char client[ADDR_STRLEN];
	const char *server = "-";
	uint64_t ms = ev_now(c->w->loop) - c->start;

	if (!log_enabled(LOG_LVL_INFO))
		return;
	if (c->server_idx != -1)
		server = conf->upstreams[l->upstream].servers[c->server_idx].address;
	log_info("conn client=%s listener=%s server=%s from_client=%llu to_client=%llu "
	    "time=%llu.%03llus end=\"%s\"",
	    addr_format((const struct sockaddr *)&c->peer.ss, client, sizeof(client)),
	    l->name, server, (unsigned long long)c->from_client,
	    (unsigned long long)c->to_client, (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000), end);
}

void
conn_close(struct conn *c, const char *end)
{
	struct worker *w = c->w;

	if (c->state == CONN_CLOSED || c->state == CONN_IDLE)
		return;
	conn_log(c, end);
	if (c->backend != -1) {
		struct shm_backend *b = shm_backend_get(w->cy->shm, c->backend);

		atomic_fetch_sub_explicit(&b->active, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->bytes_in, c->from_server, memory_order_relaxed);
		atomic_fetch_add_explicit(&b->bytes_out, c->to_server, memory_order_relaxed);
		c->backend = -1;
	}
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

/*
 * Connection events of a worker, within a share per listener and
 * second, counted past it (worker/events.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/events.h"
#include "worker/conn.h"
#include "worker/events.h"
#include "worker/worker-t.h"

#define EVENTS_WINDOW_MS 1000

struct events_listener {
	uint32_t left;              /* events one by one still allowed in this window */
	uint64_t opened;            /* connections past the share, this window */
	uint64_t closed;
};

struct events_worker {
	struct worker *w;
	struct ev_timer window;
	uint64_t started;           /* loop clock at the window's start */
	uint32_t share;             /* events one by one per listener and window */
	int32_t pid;
	size_t n;
	struct events_listener l[];  /* per conf->listeners */
};

static uint16_t
events_listener_slot(const struct worker *w, size_t listener)
{
	int idx = w->cy->listen[listener].stats;

	return idx >= 0 ? (uint16_t)idx : SHM_EVENT_NONE;
}

/* Writes the counts of the window that ends, and gives every listener its share again. */
static void
events_window_end(struct events_worker *e)
{
	struct worker *w = e->w;
	struct shm_event ev;
	size_t i;

	for (i = 0; i < e->n; i++) {
		struct events_listener *l = &e->l[i];

		if (l->opened != 0 || l->closed != 0) {
			shm_event_init(&ev, SHM_EV_CONNECTIONS);
			ev.listener = events_listener_slot(w, i);
			ev.n[0] = l->opened;
			ev.n[1] = l->closed;
			ev.status = (int32_t)CT_MIN(ev_now(w->loop) - e->started, (uint64_t)INT32_MAX);
			ev.slot = (uint16_t)w->slot;
			ev.pid = e->pid;
			(void)shm_event_write(w->cy->shm, &ev);
		}
		l->opened = l->closed = 0;
		l->left = e->share;
	}
}

static void
events_window_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	events_window_end(t->data);
}

/* The listener's state, with a window open; NULL without events. */
static struct events_listener *
events_listener(const struct conn *c)
{
	struct events_worker *e = c->w->events;

	if (e == NULL)
		return NULL;
	if (!ev_timer_active(&e->window)) {
		e->started = ev_now(c->w->loop);
		/* A window that cannot be timed ends at once: events stay one by one. */
		if (ev_timer_start(c->w->loop, &e->window, EVENTS_WINDOW_MS) != CT_OK)
			events_window_end(e);
	}
	return &e->l[c->listener];
}

static void
events_conn_fill(struct shm_event *ev, const struct conn *c)
{
	const struct events_worker *e = c->w->events;

	ev->listener = events_listener_slot(c->w, c->listener);
	ev->slot = (uint16_t)c->w->slot;
	ev->pid = e->pid;
	if (c->rec != NULL)
		ev->id = atomic_load_explicit(&c->rec->id, memory_order_relaxed);
	ev->family = (uint8_t)c->peer.sa.sa_family;
	if (c->peer.sa.sa_family == AF_INET6) {
		memcpy(ev->addr, &c->peer.in6.sin6_addr, 16);
		ev->port = ntohs(c->peer.in6.sin6_port);
	} else if (c->peer.sa.sa_family == AF_INET) {
		memcpy(ev->addr, &c->peer.in.sin_addr, 4);
		ev->port = ntohs(c->peer.in.sin_port);
	}
}

/*
 * Does the connection event of c go to the ring one by one?  Else it is
 * counted, as a connection opened or closed, for the window's end.
 */
static int
events_one_by_one(const struct conn *c, int closed)
{
	struct events_listener *l = events_listener(c);

	if (l == NULL)
		return 0;
	if (l->left == 0) {
		if (closed)
			l->closed++;
		else
			l->opened++;
		return 0;
	}
	l->left--;
	return 1;
}

void
events_conn_open(struct conn *c)
{
	struct shm_event ev;

	if (!events_one_by_one(c, 0))
		return;
	shm_event_init(&ev, SHM_EV_CONN_OPEN);
	events_conn_fill(&ev, c);
	(void)shm_event_write(c->w->cy->shm, &ev);
}

void
events_pending(struct conn *c, const char *detail)
{
	struct shm_event ev;

	shm_event_init(&ev, SHM_EV_PENDING);
	events_conn_fill(&ev, c);
	shm_event_text(&ev, detail);
	(void)shm_event_write(c->w->cy->shm, &ev);
}

void
events_conn_close(struct conn *c, const char *end)
{
	struct shm_event ev;

	if (!events_one_by_one(c, 1))
		return;
	shm_event_init(&ev, SHM_EV_CONN_CLOSE);
	events_conn_fill(&ev, c);
	ev.backend = c->backend;
	ev.n[0] = c->from_client;
	ev.n[1] = c->to_client;
	ev.status = (int32_t)CT_MIN(ev_now(c->w->loop) - c->start, (uint64_t)INT32_MAX);
	shm_event_text(&ev, end);
	(void)shm_event_write(c->w->cy->shm, &ev);
}

void
events_init(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	struct events_worker *e;
	size_t i;

	/* Nobody reads them without an admin process. */
	if (conf->admin.socket == NULL && conf->admin.listen == NULL)
		return;
	e = calloc(1, sizeof(*e) + conf->nlisteners * sizeof(e->l[0]));
	if (e == NULL)
		fatal("worker %u: out of memory", w->slot);
	e->w = w;
	e->n = conf->nlisteners;
	e->pid = (int32_t)getpid();
	/* Rounded up: each worker may report at least one of each listener's. */
	e->share = (conf->admin.events.conns_per_second + conf->workers - 1) / conf->workers;
	for (i = 0; i < e->n; i++)
		e->l[i].left = e->share;
	ev_timer_init(&e->window, events_window_timer, e);
	w->events = e;
}

void
events_exit(struct worker *w)
{
	struct events_worker *e = w->events;

	if (e == NULL)
		return;
	ev_timer_stop(w->loop, &e->window);
	events_window_end(e);
	free(e);
	w->events = NULL;
}

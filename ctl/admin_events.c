/*
 * GET /api/v1/events: the event ring (shm/events.h) for subscribers,
 * over WebSocket (RFC 6455) when the request is an upgrade, else as
 * Server-Sent Events.
 *
 * The ring is read once for all of them: a timer polls it every
 * ADMIN_EVENTS_POLL_MS while anyone subscribes (the admin process is
 * not on the traffic path, and a timer asks nothing of the writers);
 * each event becomes JSON once and is queued, framed, for every
 * subscriber that wants its kind.  A subscriber's queue is bounded
 * (admin.events.buffer): an event that does not fit is dropped for it
 * and counted, and the count goes out as {"kind":"lost","count":N} as
 * soon as there is room.  Nothing waits for a subscriber: its socket is
 * written when it takes bytes, and SO_SNDBUF keeps the kernel from
 * holding much more than the queue does.
 *
 *   LIVE     events go out as they come; a WebSocket client's frames
 *            are read: ping, close, and a message that sets its filter
 *   CLOSING  the last bytes (a close frame, the word of the end) are
 *            queued: they go out within ADMIN_SUB_CLOSE_MS
 *   LINGER   all sent, the write side shut: what the client still sends
 *            is read and dropped until it closes, within
 *            ADMIN_SUB_LINGER_MS, so that a reset for unread bytes does
 *            not destroy the close frame before the client reads it
 *
 * A subscriber may say where it stopped (?since=SEQ, or Last-Event-ID):
 * the events after that which the ring still holds come first.  A
 * reload replaces the admin process: its subscribers get
 * {"kind":"restart","seq":N} (and a WebSocket close 1012) and come back
 * with since=N; at the end of cuttle they get {"kind":"shutdown"} (and
 * 1001).  The first message of every stream is {"kind":"hello","seq":N},
 * N being the last event it will not see.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "ctl/admin_int.h"
#include "lib/addr.h"
#include "lib/ct.h"
#include "lib/log.h"
#include "lib/ws.h"
#include "shm/backend.h"
#include "shm/stats.h"

#define ADMIN_EVENTS_POLL_MS   25
#define ADMIN_EVENTS_BATCH     SHM_EVENTS   /* events taken from the ring per poll, at most */
#define ADMIN_SUB_KEEPALIVE_MS 15000
#define ADMIN_SUB_CLOSE_MS     1000
#define ADMIN_SUB_LINGER_MS    1000
#define ADMIN_SUB_SNDBUF       65536
#define ADMIN_SUB_READS        16           /* reads of a subscriber per readiness */
/*
 * Room of a queue that events never take: control frames and the last
 * words.  A pong leaves ADMIN_SUB_LAST of it, which a close frame and
 * the restart message always fit in.
 */
#define ADMIN_SUB_RESERVE      256
#define ADMIN_SUB_LAST         128
#define ADMIN_WS_MESSAGE_MAX   4096         /* a client's message: a filter */
#define ADMIN_NO_ID            UINT64_MAX   /* a message that is no event of the ring */

enum admin_sub_state {
	ADMIN_SUB_LIVE,             /* events go out; the client's frames are read */
	ADMIN_SUB_CLOSING,          /* the last bytes are queued */
	ADMIN_SUB_LINGER            /* all sent, write side shut; waiting for the client to close */
};

struct admin_sub {
	unsigned ws:1;              /* WebSocket; else Server-Sent Events */
	enum admin_sub_state state;
	uint32_t kinds;             /* 1 << kind of each kind wanted */
	uint64_t lost;              /* dropped for it, not yet told */
	uint64_t last_out;          /* loop clock when bytes were last queued */
	struct ws_reader rd;        /* the client's frames */
	unsigned char msg[ADMIN_WS_MESSAGE_MAX];
	size_t cap, off, len;       /* the queue: buf[off .. off + len) waits */
	char buf[];
};

#define ADMIN_KINDS_ALL (((uint32_t)1 << SHM_EV_KINDS) - 2)

static const char *
admin_sub_state_name(enum admin_sub_state st)
{
	switch (st) {
	case ADMIN_SUB_LIVE:    return "live";
	case ADMIN_SUB_CLOSING: return "closing";
	case ADMIN_SUB_LINGER:  return "linger";
	}
	return "?";
}

static void
admin_events_lost_count(const struct admin *a, uint64_t n)
{
	atomic_fetch_add_explicit(&shm_events_ctl(a->cy->shm)->lost, n, memory_order_relaxed);
}

/* ------------------------------------------------------------ the queue */

/* Is there room for n more bytes, reserve kept free?  Compacts when that makes it. */
static int
admin_sub_room(struct admin_sub *s, size_t n, size_t reserve)
{
	if (s->len + n + reserve > s->cap)
		return 0;
	if (s->off + s->len + n > s->cap) {
		memmove(s->buf, s->buf + s->off, s->len);
		s->off = 0;
	}
	return 1;
}

static void
admin_sub_put(struct admin_sub *s, const void *p, size_t n)
{
	memcpy(s->buf + s->off + s->len, p, n);
	s->len += n;
}

/*
 * Queues one JSON text as the subscriber's protocol frames it: a text
 * frame, or "id: SEQ" (but for ADMIN_NO_ID) and "data: JSON".  CT_AGAIN
 * when it does not fit.
 */
static int
admin_sub_message(struct admin_sub *s, uint64_t seq, const char *json, size_t n,
    size_t reserve, uint64_t now)
{
	unsigned char head[WS_HEAD_MAX];
	char id[32];
	size_t hl, il = 0;

	if (s->ws) {
		hl = ws_frame_head(head, WS_OP_TEXT, 1, n, NULL);
		if (!admin_sub_room(s, hl + n, reserve))
			return CT_AGAIN;
		admin_sub_put(s, head, hl);
		admin_sub_put(s, json, n);
	} else {
		if (seq != ADMIN_NO_ID)
			il = (size_t)snprintf(id, sizeof(id), "id: %" PRIu64 "\n", seq);
		if (!admin_sub_room(s, il + 6 + n + 2, reserve))
			return CT_AGAIN;
		admin_sub_put(s, id, il);
		admin_sub_put(s, "data: ", 6);
		admin_sub_put(s, json, n);
		admin_sub_put(s, "\n\n", 2);
	}
	s->last_out = now;
	return CT_OK;
}

/* A control frame of a WebSocket subscriber, with what it leaves of the reserve. */
static int
admin_sub_control(struct admin_sub *s, unsigned op, const void *p, size_t n, size_t reserve)
{
	unsigned char head[WS_HEAD_MAX];
	size_t hl = ws_frame_head(head, op, 1, n, NULL);

	if (!admin_sub_room(s, hl + n, reserve))
		return CT_AGAIN;
	admin_sub_put(s, head, hl);
	admin_sub_put(s, p, n);
	return CT_OK;
}

/* Tells the subscriber how many events it lost, when there is room for that. */
static int
admin_sub_lost_tell(struct admin_sub *s, uint64_t now)
{
	char j[64];
	int n;

	if (s->lost == 0)
		return CT_OK;
	n = snprintf(j, sizeof(j), "{\"kind\":\"lost\",\"count\":%" PRIu64 "}", s->lost);
	if (admin_sub_message(s, ADMIN_NO_ID, j, (size_t)n, ADMIN_SUB_RESERVE, now) != CT_OK)
		return CT_AGAIN;
	s->lost = 0;
	return CT_OK;
}

/*
 * Sends what the socket takes now, without waiting; CT_ERROR when the
 * connection failed.  Also from admin_sub_event(): room for a burst of
 * events that one poll found, for a subscriber that keeps up.
 */
static int
admin_sub_send(struct admin_conn *ac)
{
	struct admin_sub *s = ac->sub;
	ssize_t n;

	while (s->len > 0) {
		n = send(ac->fd, s->buf + s->off, s->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return CT_OK;
		if (n <= 0)
			return CT_ERROR;
		s->off += (size_t)n;
		s->len -= (size_t)n;
	}
	s->off = 0;
	return CT_OK;
}

/* Queues the event, lost count first; CT_AGAIN when it does not fit. */
static int
admin_sub_queue(struct admin_sub *s, uint64_t seq, const char *json, size_t n, uint64_t now)
{
	if (admin_sub_lost_tell(s, now) != CT_OK)
		return CT_AGAIN;
	return admin_sub_message(s, seq, json, n, ADMIN_SUB_RESERVE, now);
}

/* One event of the ring for one subscriber: queued, or lost and counted. */
static void
admin_sub_event(struct admin_conn *ac, uint64_t seq, unsigned kind, const char *json,
    size_t n, uint64_t now)
{
	struct admin_sub *s = ac->sub;

	if (s->state != ADMIN_SUB_LIVE || !(s->kinds & (1u << kind)))
		return;
	if (admin_sub_queue(s, seq, json, n, now) == CT_OK)
		return;
	/* An error is for admin_sub_flush() to see. */
	(void)admin_sub_send(ac);
	if (admin_sub_queue(s, seq, json, n, now) == CT_OK)
		return;
	s->lost++;
	admin_events_lost_count(ac->a, 1);
}

/* Waits for what the subscriber's queue and state need: reading always, writing with bytes. */
static int
admin_sub_want(struct admin_conn *ac)
{
	uint32_t want = EPOLLIN | (ac->sub->len > 0 ? EPOLLOUT : 0);

	if (ac->io.fd != -1 && ac->io.events == want)
		return CT_OK;
	return ev_io_set(ac->a->loop, &ac->io, want);
}

/*
 * Sends what the socket takes.  Returns CT_DONE when the connection was
 * closed (ac is free then), else CT_OK.
 */
static int
admin_sub_flush(struct admin_conn *ac)
{
	struct admin_sub *s = ac->sub;

	if (admin_sub_send(ac) != CT_OK) {
		admin_conn_close(ac);
		return CT_DONE;
	}
	if (s->len == 0 && s->state == ADMIN_SUB_CLOSING) {
		(void)shutdown(ac->fd, SHUT_WR);
		s->state = ADMIN_SUB_LINGER;
		if (ev_timer_start(ac->a->loop, &ac->timer, ADMIN_SUB_LINGER_MS) != CT_OK) {
			admin_conn_close(ac);
			return CT_DONE;
		}
	}
	if (admin_sub_want(ac) != CT_OK) {
		admin_conn_close(ac);
		return CT_DONE;
	}
	return CT_OK;
}

/*
 * Ends a subscriber: a WebSocket one gets a close frame with code (none
 * when 0) and reason; then what is queued goes out, within
 * ADMIN_SUB_CLOSE_MS.
 */
static void
admin_sub_end(struct admin_conn *ac, unsigned code, const char *reason)
{
	struct admin_sub *s = ac->sub;
	unsigned char pl[WS_CONTROL_MAX];

	if (s->state != ADMIN_SUB_LIVE)
		return;
	if (s->ws)
		(void)admin_sub_control(s, WS_OP_CLOSE, pl, ws_close_payload(pl, code, reason), 0);
	s->state = ADMIN_SUB_CLOSING;
	if (ev_timer_start(ac->a->loop, &ac->timer, ADMIN_SUB_CLOSE_MS) != CT_OK)
		log_warnx("admin: cannot time the end of an events subscriber");
}

/* ------------------------------------------------------------ events as JSON */

static void
admin_set(json_t *o, const char *key, json_t *v)
{
	(void)json_object_set_new(o, key, v != NULL ? v : json_null());
}

/* "2026-11-23T10:00:00.123Z" */
static const char *
admin_event_time(uint64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (gmtime_r(&t, &tm) == NULL || (n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm)) == 0)
		return "";
	snprintf(buf + n, size - n, ".%03uZ", (unsigned)(ms % 1000));
	return buf;
}

/* The listener of shm slot idx by its name, or null once the slot is gone. */
static json_t *
admin_event_listener(const struct shm *shm, unsigned idx)
{
	char name[SHM_NAME_LEN];

	if (idx < SHM_LISTENERS_MAX && shm_named_read(shm, SHM_TABLE_LISTENERS, (int)idx, name))
		return json_string(name);
	return json_null();
}

/* "upstream" and "server" of shm backends slot idx, null for none. */
static void
admin_event_server(json_t *o, const struct shm *shm, int idx)
{
	char name[SHM_NAME_LEN], addr[ADDR_STRLEN];

	if (idx >= 0 && idx < SHM_BACKENDS_MAX &&
	    shm_named_read(shm, SHM_TABLE_BACKENDS, idx, name)) {
		admin_set(o, "upstream", json_string(name));
		admin_set(o, "server", json_string(addr_format(
		    (const struct sockaddr *)&shm_backend_get(shm, idx)->addr, addr, sizeof(addr))));
		return;
	}
	admin_set(o, "upstream", json_null());
	admin_set(o, "server", json_null());
}

static json_t *
admin_event_client(const struct shm_event *ev)
{
	char buf[ADDR_STRLEN];

	if (ev->family != AF_INET && ev->family != AF_INET6)
		return json_null();
	return json_string(admin_addr_format(ev->family, ev->addr, ev->port, buf, sizeof(buf)));
}

/* The record's text, printable ASCII whatever a writer put in it; null when empty. */
static json_t *
admin_event_text(const struct shm_event *ev)
{
	char t[SHM_EVENT_TEXT];
	size_t i;

	memcpy(t, ev->text, sizeof(t));
	t[sizeof(t) - 1] = '\0';
	for (i = 0; t[i] != '\0'; i++)
		if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] > 0x7e)
			t[i] = '?';
	return t[0] != '\0' ? json_string(t) : json_null();
}

static void
admin_event_conn(json_t *o, const struct shm *shm, const struct shm_event *ev)
{
	admin_set(o, "listener", admin_event_listener(shm, ev->listener));
	admin_set(o, "client", admin_event_client(ev));
	admin_set(o, "id", ev->id != 0 ? json_integer((json_int_t)ev->id) : json_null());
	admin_set(o, "worker", json_integer(ev->slot));
	admin_set(o, "pid", json_integer(ev->pid));
	if (ev->kind != SHM_EV_CONN_CLOSE)
		return;
	admin_event_server(o, shm, ev->backend);
	admin_set(o, "from_client", json_integer((json_int_t)ev->n[0]));
	admin_set(o, "to_client", json_integer((json_int_t)ev->n[1]));
	admin_set(o, "duration_ms", json_integer(ev->status));
	admin_set(o, "end", admin_event_text(ev));
}

static void
admin_event_health(json_t *o, const struct shm *shm, const struct shm_event *ev)
{
	int passive = (ev->flag & SHM_EV_HEALTH_PASSIVE) != 0, up = ev->flag & SHM_EV_HEALTH_UP;

	admin_event_server(o, shm, ev->backend);
	admin_set(o, "health", json_string(up ? "up" : "down"));
	admin_set(o, "check", json_string(passive ? "passive" : "active"));
	admin_set(o, "reason", admin_event_text(ev));
	if (!passive)
		admin_set(o, "checks", json_integer((json_int_t)ev->n[0]));
	else if (!up)
		admin_set(o, "for_ms", json_integer((json_int_t)ev->n[0]));
}

static void
admin_event_exit(json_t *o, const struct shm_event *ev)
{
	admin_set(o, "worker", json_integer(ev->slot));
	admin_set(o, "pid", json_integer(ev->pid));
	admin_set(o, "generation", json_integer((json_int_t)ev->n[0]));
	admin_set(o, "status", ev->status >= 0 ? json_integer(ev->status) : json_null());
	admin_set(o, "signal", ev->status < 0 ? json_integer(-(json_int_t)ev->status) :
	    json_null());
	admin_set(o, "core_dumped", json_boolean(ev->flag & SHM_EV_EXIT_CORE));
	admin_set(o, "respawn", json_boolean(ev->flag & SHM_EV_EXIT_RESPAWN));
	admin_set(o, "lived_ms", json_integer((json_int_t)ev->n[1]));
}

/* An event as the API shows it; NULL when out of memory. */
static json_t *
admin_event_json(const struct shm *shm, const struct shm_event *ev)
{
	json_t *o = json_object();
	char t[40];

	if (o == NULL)
		return NULL;
	admin_set(o, "seq", json_integer((json_int_t)ev->seq));
	admin_set(o, "time", json_string(admin_event_time(ev->time_ms, t, sizeof(t))));
	admin_set(o, "kind", json_string(shm_event_kind_names[ev->kind]));
	switch (ev->kind) {
	case SHM_EV_CONN_OPEN:
	case SHM_EV_CONN_CLOSE:
		admin_event_conn(o, shm, ev);
		break;
	case SHM_EV_CONNECTIONS:
		admin_set(o, "listener", admin_event_listener(shm, ev->listener));
		admin_set(o, "worker", json_integer(ev->slot));
		admin_set(o, "pid", json_integer(ev->pid));
		admin_set(o, "opened", json_integer((json_int_t)ev->n[0]));
		admin_set(o, "closed", json_integer((json_int_t)ev->n[1]));
		admin_set(o, "period_ms", json_integer(ev->status));
		break;
	case SHM_EV_HEALTH:
		admin_event_health(o, shm, ev);
		break;
	case SHM_EV_ADMIN_STATE:
		admin_event_server(o, shm, ev->backend);
		admin_set(o, "admin", json_string(admin_state_name(ev->flag)));
		break;
	case SHM_EV_RELOAD:
		admin_set(o, "ok", json_boolean(ev->flag));
		admin_set(o, "generation", json_integer(ev->status));
		if (!ev->flag)
			admin_set(o, "error", admin_event_text(ev));
		break;
	case SHM_EV_WORKER_EXIT:
		admin_event_exit(o, ev);
		break;
	default:
		/* pending, decision: what the approvals will write */
		admin_set(o, "listener", admin_event_listener(shm, ev->listener));
		admin_set(o, "client", admin_event_client(ev));
		admin_set(o, "detail", admin_event_text(ev));
		break;
	}
	return o;
}

/* The event as compact JSON, malloc'd; NULL for a record of no known kind. */
static char *
admin_event_dump(const struct shm *shm, const struct shm_event *ev)
{
	json_t *o;
	char *s;

	if (ev->kind == 0 || ev->kind >= SHM_EV_KINDS)
		return NULL;
	if ((o = admin_event_json(shm, ev)) == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* ------------------------------------------------------------ the ring */

/* Records the ring lost before the admin read them: lost for every subscriber. */
static void
admin_events_lost_all(struct admin *a, uint64_t n)
{
	size_t i;

	for (i = 0; i < ADMIN_CONNS; i++) {
		struct admin_sub *s = a->conns[i].sub;

		if (a->conns[i].fd != -1 && s != NULL && s->state == ADMIN_SUB_LIVE) {
			s->lost += n;
			admin_events_lost_count(a, n);
		}
	}
}

/* Takes what the ring has for everyone, and sends each subscriber what it takes. */
static void
admin_events_poll(struct admin *a)
{
	uint64_t now = ev_now(a->loop), lost;
	struct shm_event ev;
	size_t i, k;
	char *json;
	int rc;

	for (k = 0; k < ADMIN_EVENTS_BATCH; k++) {
		lost = 0;
		rc = shm_events_next(a->cy->shm, &a->cursor, now, &ev, &lost);
		if (lost > 0)
			admin_events_lost_all(a, lost);
		if (rc != CT_OK)
			break;
		if ((json = admin_event_dump(a->cy->shm, &ev)) == NULL)
			continue;
		for (i = 0; i < ADMIN_CONNS; i++)
			if (a->conns[i].fd != -1 && a->conns[i].sub != NULL)
				admin_sub_event(&a->conns[i], ev.seq, ev.kind, json, strlen(json), now);
		free(json);
	}
	for (i = 0; i < ADMIN_CONNS; i++) {
		struct admin_conn *ac = &a->conns[i];
		struct admin_sub *s = ac->sub;

		if (ac->fd == -1 || s == NULL)
			continue;
		/* A dashboard's stream lasts as long as the session that opened it. */
		if (s->state == ADMIN_SUB_LIVE && ac->session != 0 &&
		    !admin_ui_session_alive(a, ac->session))
			admin_sub_end(ac, WS_CLOSE_POLICY, "the session has ended");
		if (s->state == ADMIN_SUB_LIVE) {
			(void)admin_sub_lost_tell(s, now);
			/* Proxies and clients that time out an idle stream see it alive. */
			if (now - s->last_out >= ADMIN_SUB_KEEPALIVE_MS) {
				if (s->ws)
					(void)admin_sub_control(s, WS_OP_PING, "", 0, ADMIN_SUB_RESERVE);
				else if (admin_sub_room(s, 14, ADMIN_SUB_RESERVE))
					admin_sub_put(s, ": keep-alive\n\n", 14);
				s->last_out = now;
			}
		}
		(void)admin_sub_flush(ac);
	}
}

static void
admin_events_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct admin *a = t->data;

	admin_events_poll(a);
	if (a->nsubs > 0 && !a->closing && ev_timer_start(loop, t, ADMIN_EVENTS_POLL_MS) != CT_OK)
		log_warnx("admin: cannot arm the events timer");
}

/*
 * The events of the ring from sequence from on, up to where the shared
 * cursor is, for a subscriber that comes back: what the ring no longer
 * holds is lost to it.
 */
static void
admin_sub_replay(struct admin_conn *ac, uint64_t from)
{
	struct admin *a = ac->a;
	struct admin_sub *s = ac->sub;
	struct shm_events_cursor c = { from, 0, 0 };
	uint64_t now = ev_now(a->loop), lost = 0;
	struct shm_event ev;
	char *json;

	while (c.next < a->cursor.next) {
		if (shm_events_next(a->cy->shm, &c, now, &ev, &lost) != CT_OK) {
			/* Claimed long ago and never published: the shared cursor passed it too. */
			lost++;
			c.next++;
			c.stuck = 0;
			continue;
		}
		if (ev.seq > a->cursor.next)
			break;
		if ((json = admin_event_dump(a->cy->shm, &ev)) == NULL)
			continue;
		admin_sub_event(ac, ev.seq, ev.kind, json, strlen(json), now);
		free(json);
	}
	s->lost += lost;
	admin_events_lost_count(a, lost);
}

/* ------------------------------------------------------------ a WebSocket client */

/* A message of the client: {"kinds": [KIND, ...]}, the kinds it wants from now on. */
static void
admin_ws_message(struct admin_conn *ac, const struct ws_frame *f)
{
	struct admin_sub *s = ac->sub;
	json_t *j, *kinds, *v;
	uint32_t mask = 0;
	unsigned k;
	size_t i;

	if (f->msg_opcode == WS_OP_BINARY) {
		admin_sub_end(ac, WS_CLOSE_UNSUPPORTED, "binary messages are not understood");
		return;
	}
	j = json_loadb((const char *)f->message, f->message_len, 0, NULL);
	kinds = json_object_get(j, "kinds");
	if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_array(kinds)) {
		json_decref(j);
		admin_sub_end(ac, WS_CLOSE_POLICY, "a message is {\"kinds\": [KIND, ...]}");
		return;
	}
	json_array_foreach(kinds, i, v) {
		for (k = 1; k < SHM_EV_KINDS; k++)
			if (json_is_string(v) && strcmp(json_string_value(v), shm_event_kind_names[k]) == 0)
				break;
		if (k == SHM_EV_KINDS) {
			json_decref(j);
			admin_sub_end(ac, WS_CLOSE_POLICY, "unknown event kind");
			return;
		}
		mask |= 1u << k;
	}
	json_decref(j);
	s->kinds = mask != 0 ? mask : ADMIN_KINDS_ALL;
}

/*
 * Takes the whole frames in ac->in.  A frame that breaks a rule ends the
 * subscriber with the close code the reader gives.  CT_DONE when the
 * connection was closed.
 */
static int
admin_ws_frames(struct admin_conn *ac)
{
	struct admin_sub *s = ac->sub;
	size_t off = 0;
	struct ws_frame f;
	int rc;

	while (s->state == ADMIN_SUB_LIVE) {
		rc = ws_frame_read(&s->rd, (unsigned char *)ac->in + off, ac->len - off, &f);
		if (rc == CT_AGAIN)
			break;
		if (rc == CT_ERROR) {
			log_info("admin: events subscriber closed with %u: %s", s->rd.close_code,
			    s->rd.error);
			admin_sub_end(ac, s->rd.close_code, s->rd.error);
			break;
		}
		if (f.opcode == WS_OP_PING &&
		    admin_sub_control(s, WS_OP_PONG, ac->in + off + f.head_len, (size_t)f.len,
		    ADMIN_SUB_LAST) != CT_OK) {
			/* Pings faster than it reads: no room even for the answers. */
			admin_conn_close(ac);
			return CT_DONE;
		}
		if (f.opcode == WS_OP_CLOSE)
			admin_sub_end(ac, f.close_code, NULL);
		else if (f.message_end)
			admin_ws_message(ac, &f);
		off += f.size;
	}
	/* Past the close, nothing the client sends matters. */
	if (s->state != ADMIN_SUB_LIVE)
		off = ac->len;
	memmove(ac->in, ac->in + off, ac->len - off);
	ac->len -= off;
	return CT_OK;
}

void
admin_events_io(struct admin_conn *ac, uint32_t events)
{
	struct admin_sub *s = ac->sub;
	ssize_t n;
	int i;

	(void)events;
	for (i = 0; i < ADMIN_SUB_READS; i++) {
		n = recv(ac->fd, ac->in + ac->len, sizeof(ac->in) - ac->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* The client left, or has read the close and answered it. */
			admin_conn_close(ac);
			return;
		}
		ac->len += (size_t)n;
		/* A stream's client has nothing to say; past the close, nobody. */
		if (!s->ws || s->state != ADMIN_SUB_LIVE) {
			ac->len = 0;
			continue;
		}
		if (admin_ws_frames(ac) == CT_DONE)
			return;
	}
	(void)admin_sub_flush(ac);
}

/* ------------------------------------------------------------ subscribing */

struct admin_events_query {
	uint32_t kinds;
	uint64_t since;
	int has_since;
};

/* The kinds of a comma-separated list of names; 0 with *bad for an unknown one. */
static uint32_t
admin_kinds_parse(const char *p, size_t len, const char **bad, size_t *bad_len)
{
	const char *end = p + len, *comma;
	uint32_t mask = 0;
	unsigned k;

	for (; p < end; p = comma + 1) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		for (k = 1; k < SHM_EV_KINDS; k++)
			if ((size_t)(comma - p) == strlen(shm_event_kind_names[k]) &&
			    memcmp(p, shm_event_kind_names[k], (size_t)(comma - p)) == 0)
				break;
		if (k == SHM_EV_KINDS) {
			*bad = p;
			*bad_len = (size_t)(comma - p);
			return 0;
		}
		mask |= 1u << k;
	}
	return mask;
}

/*
 * ?kinds=A,B&since=SEQ, and Last-Event-ID (the query's since first).
 * Other parameters are ignored.  CT_ERROR with why (in buf).
 */
static int
admin_events_query(const char *q, size_t len, const struct http_request *req,
    struct admin_events_query *out, char *why, size_t size)
{
	const struct http_header *h = http_header_find(&req->h, "last-event-id");
	const char *end = q + len, *amp, *bad = "";
	size_t bad_len = 0;

	memset(out, 0, sizeof(*out));
	out->kinds = ADMIN_KINDS_ALL;
	for (; q < end; q = amp + 1) {
		if ((amp = memchr(q, '&', (size_t)(end - q))) == NULL)
			amp = end;
		if (amp - q >= 6 && memcmp(q, "kinds=", 6) == 0 && amp - q > 6) {
			if ((out->kinds = admin_kinds_parse(q + 6, (size_t)(amp - q - 6), &bad,
			    &bad_len)) == 0) {
				snprintf(why, size, "unknown event kind \"%.*s\"", (int)CT_MIN(bad_len,
				    (size_t)64), bad);
				return CT_ERROR;
			}
		} else if (amp - q >= 6 && memcmp(q, "since=", 6) == 0) {
			if (admin_parse_u64(q + 6, (size_t)(amp - q - 6), &out->since) != CT_OK) {
				snprintf(why, size, "since must be the decimal seq of an event");
				return CT_ERROR;
			}
			out->has_since = 1;
		}
	}
	if (!out->has_since && h != NULL) {
		if (admin_parse_u64(h->value.p, h->value.len, &out->since) != CT_OK) {
			snprintf(why, size, "Last-Event-ID must be the decimal seq of an event");
			return CT_ERROR;
		}
		out->has_since = 1;
	}
	return CT_OK;
}

int
admin_origin_ok(const struct admin_conn *ac, const struct http_request *req,
    const struct http_slice *origin)
{
	const char *listen = ac->a->cy->conf->admin.listen;
	const char *p = memmem(origin->p, origin->len, "://", 3);
	size_t n;

	if (p == NULL)
		return 0;
	p += 3;
	n = origin->len - (size_t)(p - origin->p);
	if (n == 0 || memchr(p, '/', n) != NULL)
		return 0;
	return (req->host.len == n && strncasecmp(req->host.p, p, n) == 0) ||
	    (listen != NULL && strlen(listen) == n && strncasecmp(listen, p, n) == 0);
}

/*
 * The checks of a WebSocket handshake (RFC 6455, 4.2.1); CT_OK with the
 * accept key, or the error answered.
 */
static int
admin_ws_handshake(struct admin_conn *ac, const struct http_request *req, char *accept)
{
	const struct http_header *up = http_header_find_id(&req->h, HTTP_F_UPGRADE);
	const struct http_header *ver = http_header_find(&req->h, "sec-websocket-version");
	const struct http_header *key = http_header_find(&req->h, "sec-websocket-key");
	const struct http_header *origin = http_header_find(&req->h, "origin");

	if (req->h.minor != 1) {
		admin_error(ac, 400, "a WebSocket handshake is HTTP/1.1");
		return CT_ERROR;
	}
	if (up == NULL || !ws_token_list_has(up->value.p, up->value.len, "websocket") ||
	    !req->h.conn_upgrade) {
		admin_error(ac, 400, "an upgrade here needs Upgrade: websocket and Connection: "
		    "Upgrade");
		return CT_ERROR;
	}
	if (ver == NULL || !http_slice_eq(ver->value, "13")) {
		admin_answer_with(ac, 426, "application/json", "Sec-WebSocket-Version: 13\r\n",
		    strdup("{\"error\":\"this API speaks WebSocket version 13\"}\n"));
		return CT_ERROR;
	}
	if (key == NULL || !ws_key_valid(key->value.p, key->value.len)) {
		admin_error(ac, 400, "Sec-WebSocket-Key must be the base64 of 16 bytes");
		return CT_ERROR;
	}
	/* A page of another site must not read the events through a browser. */
	if (ac->tcp && origin != NULL && !admin_origin_ok(ac, req, &origin->value)) {
		admin_error(ac, 403, "the Origin is not this API's");
		return CT_ERROR;
	}
	if (ws_accept_key(key->value.p, key->value.len, accept) != CT_OK) {
		admin_error(ac, 500, "cannot compute Sec-WebSocket-Accept");
		return CT_ERROR;
	}
	return CT_OK;
}

/* The head of the answer and the hello, into a new subscriber's queue. */
static void
admin_sub_begin(struct admin *a, struct admin_sub *s, const char *accept, uint64_t from)
{
	char head[256], hello[64];
	int n;

	if (s->ws)
		n = snprintf(head, sizeof(head), "HTTP/1.1 101 Switching Protocols\r\n"
		    "Server: cuttle\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	else
		/* retry: how soon an EventSource comes back after a restart. */
		n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nServer: cuttle\r\n"
		    "Content-Type: text/event-stream\r\nCache-Control: no-store\r\n"
		    "Connection: close\r\n\r\nretry: 1000\n\n");
	admin_sub_put(s, head, (size_t)n);
	n = snprintf(hello, sizeof(hello), "{\"kind\":\"hello\",\"seq\":%" PRIu64 "}", from);
	(void)admin_sub_message(s, from, hello, (size_t)n, 0, ev_now(a->loop));
}

void
admin_events_subscribe(struct admin_conn *ac, const struct http_request *req,
    const char *query, size_t qlen)
{
	struct admin *a = ac->a;
	const struct conf_events *ce = &a->cy->conf->admin.events;
	int ws = req->h.has_upgrade || req->h.conn_upgrade, sndbuf;
	char accept[WS_ACCEPT_LEN + 1] = "", why[128];
	struct admin_events_query q;
	struct admin_sub *s;
	uint64_t from;

	if (admin_events_query(query, qlen, req, &q, why, sizeof(why)) != CT_OK) {
		admin_error(ac, 400, why);
		return;
	}
	if (ws && admin_ws_handshake(ac, req, accept) != CT_OK)
		return;
	if (a->nsubs >= ce->subscribers || a->closing) {
		admin_error(ac, 503, "as many subscribers as admin.events.subscribers already");
		return;
	}
	if ((s = calloc(1, sizeof(*s) + ce->buffer)) == NULL) {
		admin_error(ac, 500, "out of memory");
		return;
	}
	s->ws = ws != 0;
	s->cap = ce->buffer;
	s->kinds = q.kinds;
	s->rd.server = 1;
	s->rd.max_message = ADMIN_WS_MESSAGE_MAX;
	s->rd.msg = s->msg;
	ac->sub = s;
	/* The first one starts the ring's reading where it is now. */
	if (a->nsubs++ == 0) {
		memset(&a->cursor, 0, sizeof(a->cursor));
		a->cursor.next = shm_events_head(a->cy->shm);
		if (ev_timer_start(a->loop, &a->events_timer, ADMIN_EVENTS_POLL_MS) != CT_OK)
			log_warnx("admin: cannot arm the events timer");
	}
	from = q.has_since ? CT_MIN(q.since, a->cursor.next) : a->cursor.next;
	admin_sub_begin(a, s, accept, from);
	admin_sub_replay(ac, from);
	/* What came after the head: a WebSocket client's first frames. */
	ac->len -= req->h.head_len;
	memmove(ac->in, ac->in + req->h.head_len, ac->len);
	ev_timer_stop(a->loop, &ac->timer);
	sndbuf = (int)CT_MIN(ce->buffer, (uint64_t)ADMIN_SUB_SNDBUF);
	(void)setsockopt(ac->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	log_info("admin: an events subscriber (%s) joined after seq %" PRIu64 ", %u now",
	    ws ? "WebSocket" : "Server-Sent Events", from, a->nsubs);
	if (s->ws && ac->len > 0 && admin_ws_frames(ac) == CT_DONE)
		return;
	if (!s->ws)
		ac->len = 0;
	(void)admin_sub_flush(ac);
}

void
admin_events_forget(struct admin_conn *ac)
{
	struct admin *a = ac->a;

	log_info("admin: an events subscriber left (%s), %u now",
	    admin_sub_state_name(ac->sub->state), a->nsubs - 1);
	free(ac->sub);
	ac->sub = NULL;
	ac->len = 0;
	if (--a->nsubs == 0)
		ev_timer_stop(a->loop, &a->events_timer);
}

void
admin_events_terminate(struct admin *a)
{
	int restart = atomic_load(&shm_header(a->cy->shm)->generation) != a->generation;
	uint64_t now = ev_now(a->loop);
	char msg[64];
	size_t i;
	int n;

	if (a->nsubs == 0)
		return;
	/* A reload's own event is in the ring by now: the master wrote it before the signal. */
	admin_events_poll(a);
	ev_timer_stop(a->loop, &a->events_timer);
	n = snprintf(msg, sizeof(msg), "{\"kind\":\"%s\",\"seq\":%" PRIu64 "}",
	    restart ? "restart" : "shutdown", a->cursor.next);
	for (i = 0; i < ADMIN_CONNS; i++) {
		struct admin_conn *ac = &a->conns[i];

		if (ac->fd == -1 || ac->sub == NULL || ac->sub->state != ADMIN_SUB_LIVE)
			continue;
		(void)admin_sub_lost_tell(ac->sub, now);
		(void)admin_sub_message(ac->sub, ADMIN_NO_ID, msg, (size_t)n, 0, now);
		admin_sub_end(ac, restart ? WS_CLOSE_RESTART : WS_CLOSE_GOING_AWAY,
		    restart ? "cuttle reloads" : "cuttle stops");
		(void)admin_sub_flush(ac);
	}
}

void
admin_events_init(struct admin *a)
{
	ev_timer_init(&a->events_timer, admin_events_timer, a);
}

void
admin_events_metrics(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_events_total", "counter", "Events written to the event ring." },
		{ "cuttle_events_dropped_total", "counter",
		    "Events their writer dropped: the ring's record was still being written." },
		{ "cuttle_events_lost_total", "counter",
		    "Events that subscribers lost: their queue was full, or the ring went round." },
		{ "cuttle_events_subscribers", "gauge",
		    "Subscribers of /api/v1/events now." },
	};
	struct shm_events_ctl *ctl = shm_events_ctl(a->cy->shm);
	uint64_t v[4];
	size_t i;

	v[0] = atomic_load_explicit(&ctl->head, memory_order_relaxed);
	v[1] = atomic_load_explicit(&ctl->dropped, memory_order_relaxed);
	v[2] = atomic_load_explicit(&ctl->lost, memory_order_relaxed);
	v[3] = a->nsubs;
	for (i = 0; i < CT_NELEM(fam); i++) {
		admin_family(f, &fam[i]);
		fprintf(f, "%s %" PRIu64 "\n", fam[i].name, v[i]);
	}
}

/*
 * Master: the link to Redis (master/redis.h).
 *
 * Three links, each one hiredis asynchronous context at most: "main"
 * for commands, "pubsub" for subscriptions, "sentinel" while asking a
 * sentinel.  A link's timer is its connect deadline until it connects,
 * then the deadline of its oldest command.  Replies come in the order
 * of the commands, so the oldest command waiting is the head of the
 * link's list, and one timer covers them all.
 *
 * hiredis calls back from inside its own functions, and frees a context
 * on its own when the connection fails.  So: every command's privdata
 * is a struct redis_cmd that hiredis hands back exactly once (with a
 * NULL reply when the context goes away), and a link that we close is
 * first cut from its commands and from its disconnect callback; what
 * hiredis does with the context after that (freeing it once the
 * callback under way returns) no longer reaches the link.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <hiredis/async.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/redis.h"

#define REDIS_WHY_LEN 400

/* What a command is for, which says what its reply means. */
enum redis_cmd_kind {
	REDIS_CMD_USER,             /* redis_command(): the reply goes to the caller */
	REDIS_CMD_AUTH,             /* the handshake of main and pubsub */
	REDIS_CMD_SELECT,
	REDIS_CMD_ROLE,             /* handshake and heartbeat with sentinels: "master"? */
	REDIS_CMD_PING,             /* handshake end and heartbeat */
	REDIS_CMD_SENTINEL          /* SENTINEL get-master-addr-by-name */
};

struct redis_link;

struct redis_cmd {
	struct redis_cmd *next;
	struct redis_link *link;    /* NULL once the link let go of it */
	enum redis_cmd_kind kind;
	int last;                   /* the handshake's last command */
	int timed_out;
	uint64_t deadline;          /* loop clock, ms */
	redis_reply_cb cb;
	void *arg;
};

struct redis_link {
	const char *name;           /* for logs: "redis", "pubsub", "sentinel" */
	redisAsyncContext *ac;      /* NULL: closed */
	int connected;
	struct redis_cmd *head, *tail;  /* waiting for replies, oldest first */
	struct ev_timer timer;
	char peer[CONF_REDIS_HOST_LEN + CONF_REDIS_PATH_MAX + 8];
};

/* The adapter between a context and the loop; the context owns it (cleanup). */
struct redis_ev {
	struct ev_io io;
	redisAsyncContext *ac;
	uint32_t events;
};

struct redis_sub {
	char *channel;
	redis_message_cb cb;
	void *arg;
};

static struct {
	struct ev_loop *loop;
	struct shm *shm;
	struct conf_redis conf;     /* ours: a reload frees the conf it came from */
	int started;
	int stopping;
	enum shm_redis_state state;
	struct redis_link main, pubsub, sentinel;
	struct conf_redis_endpoint master; /* from a sentinel: host and port */
	size_t sentinel_next;       /* the sentinel to ask next */
	size_t sentinel_tried;      /* in this round */
	char sentinel_why[REDIS_WHY_LEN];
	unsigned attempt;           /* failures in a row */
	int outage;                 /* "down" was logged; "up again" not yet */
	uint64_t down_since;        /* loop clock */
	unsigned subs_confirmed;
	struct ev_timer retry;
	struct ev_timer ping;
	uint32_t rnd;
	struct redis_sub subs[REDIS_SUBS_MAX];
	size_t nsubs;
	struct { redis_ready_cb cb; void *arg; } ready[REDIS_READY_MAX];
	size_t nready;
} rd;

static void redis_link_fail(struct redis_link *l, const char *why);
static void redis_cmd_reply(redisAsyncContext *ac, void *r, void *privdata);
static void redis_sentinel_ask(void);
static void redis_connect_main(void);

/* The Redis to use: the one a sentinel named, or the address. */
static const struct conf_redis_endpoint *
redis_endpoint(void)
{
	return rd.conf.nsentinels > 0 ? &rd.master : &rd.conf.address;
}

/* ------------------------------------------------------------ pure */

uint64_t
redis_backoff_ms(unsigned attempt, uint32_t rnd)
{
	uint64_t base = REDIS_BACKOFF_MIN_MS;

	while (attempt-- > 0 && base < REDIS_BACKOFF_MAX_MS)
		base *= 2;
	base = CT_MIN(base, (uint64_t)REDIS_BACKOFF_MAX_MS);
	return base / 2 + rnd % (base - base / 2 + 1);
}

/* xorshift32: jitter needs no quality, only nodes that differ. */
static uint32_t
redis_random(void)
{
	uint32_t x = rd.rnd;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rd.rnd = x;
	return x;
}

/* ----------------------------------------------------- the publication */

static void
redis_publish_state(enum shm_redis_state st)
{
	rd.state = st;
	if (rd.shm != NULL)
		atomic_store(&shm_header(rd.shm)->redis.state, (int)st);
}

/* Up or down changed: counted and stamped for /metrics and the status. */
static void
redis_publish_change(int up, const char *why)
{
	struct shm_redis *s;

	if (rd.shm == NULL)
		return;
	s = &shm_header(rd.shm)->redis;
	atomic_store(&s->up, up);
	atomic_store(&s->since, (uint_fast64_t)time(NULL));
	atomic_fetch_add(&s->changes, 1);
	shm_text_write(&s->reason, why);
}

static void
redis_count(enum shm_redis_result r)
{
	if (rd.shm != NULL)
		atomic_fetch_add_explicit(&shm_header(rd.shm)->redis.commands[r], 1,
		    memory_order_relaxed);
}

static const char *
redis_endpoint_name(const struct conf_redis_endpoint *e, char *buf, size_t len)
{
	if (e->path != NULL)
		snprintf(buf, len, "%s", e->path);
	else if (strchr(e->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%u", e->host, e->port);
	else
		snprintf(buf, len, "%s:%u", e->host, e->port);
	return buf;
}

/* ------------------------------------------------------ the adapter */

static void
redis_ev_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct redis_ev *e = io->data;

	(void)loop;
	/*
	 * One call per wakeup: either may free the context, and e with it.
	 * The registration is level-triggered, so what is left comes again.
	 */
	if ((events & EPOLLIN) || ((events & (EPOLLERR | EPOLLHUP)) && (e->events & EPOLLIN)))
		redisAsyncHandleRead(e->ac);
	else if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		redisAsyncHandleWrite(e->ac);
}

static void
redis_ev_want(struct redis_ev *e, uint32_t set, uint32_t clear)
{
	uint32_t want = (e->events | set) & ~clear;

	if (want == e->events)
		return;
	e->events = want;
	if (ev_io_set(rd.loop, &e->io, want) != CT_OK)
		log_warn("redis: epoll_ctl() failed");
}

static void redis_ev_add_read(void *p) { redis_ev_want(p, EPOLLIN, 0); }
static void redis_ev_del_read(void *p) { redis_ev_want(p, 0, EPOLLIN); }
static void redis_ev_add_write(void *p) { redis_ev_want(p, EPOLLOUT, 0); }
static void redis_ev_del_write(void *p) { redis_ev_want(p, 0, EPOLLOUT); }

static void
redis_ev_cleanup(void *p)
{
	struct redis_ev *e = p;

	ev_io_stop(rd.loop, &e->io);
	free(e);
}

static int
redis_ev_attach(redisAsyncContext *ac)
{
	struct redis_ev *e = calloc(1, sizeof(*e));
	int flags;

	if (e == NULL)
		return CT_ERROR;
	e->ac = ac;
	ev_io_init(&e->io, ac->c.fd, redis_ev_io, e);
	/* A binary upgrade exec()s: the new master must not hold our connections. */
	if ((flags = fcntl(ac->c.fd, F_GETFD)) != -1)
		(void)fcntl(ac->c.fd, F_SETFD, flags | FD_CLOEXEC);
	ac->ev.data = e;
	ac->ev.addRead = redis_ev_add_read;
	ac->ev.delRead = redis_ev_del_read;
	ac->ev.addWrite = redis_ev_add_write;
	ac->ev.delWrite = redis_ev_del_write;
	ac->ev.cleanup = redis_ev_cleanup;
	return CT_OK;
}

/* --------------------------------------------------------- the links */

static void
redis_link_timer_arm(struct redis_link *l)
{
	uint64_t now = ev_now(rd.loop);

	if (l->head == NULL) {
		ev_timer_stop(rd.loop, &l->timer);
		return;
	}
	ev_timer_stop(rd.loop, &l->timer);
	if (ev_timer_start(rd.loop, &l->timer, l->head->deadline > now ?
	    l->head->deadline - now : 0) != CT_OK)
		log_alert("redis: cannot arm the timer of the %s link", l->name);
}

static void
redis_link_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct redis_link *l = t->data;
	char why[REDIS_WHY_LEN];

	(void)loop;
	if (!l->connected) {
		snprintf(why, sizeof(why), "%s: no connection within %llums", l->peer,
		    (unsigned long long)rd.conf.connect_timeout_ms);
		redis_link_fail(l, why);
		return;
	}
	if (l->head == NULL) {
		/* The pubsub link's SUBSCRIBE, whose confirmations are not in the list. */
		if (l == &rd.pubsub && rd.subs_confirmed < rd.nsubs) {
			snprintf(why, sizeof(why), "%s: SUBSCRIBE not confirmed within %llums",
			    l->peer, (unsigned long long)rd.conf.command_timeout_ms);
			redis_link_fail(l, why);
		}
		return;
	}
	if (l->head->deadline > ev_now(rd.loop)) {
		redis_link_timer_arm(l);
		return;
	}
	l->head->timed_out = 1;
	snprintf(why, sizeof(why), "%s: no reply within %llums", l->peer,
	    (unsigned long long)rd.conf.command_timeout_ms);
	redis_link_fail(l, why);
}

/*
 * Closes l, if open: its commands are cut loose first (hiredis answers
 * them with NULL as it frees the context, and they then reach no link),
 * and so is its disconnect callback.  Inside one of its callbacks
 * hiredis frees the context when the callback returns.
 */
static void
redis_link_close(struct redis_link *l)
{
	redisAsyncContext *ac = l->ac;
	struct redis_cmd *c;

	ev_timer_stop(rd.loop, &l->timer);
	for (c = l->head; c != NULL; c = c->next)
		c->link = NULL;
	l->head = l->tail = NULL;
	l->ac = NULL;
	l->connected = 0;
	if (ac == NULL)
		return;
	ac->onDisconnect = NULL;
	ac->data = NULL;
	redisAsyncFree(ac);
}

static void
redis_on_connect(const redisAsyncContext *cac, int status);
static void
redis_on_disconnect(const redisAsyncContext *cac, int status);

/* Starts connecting l to e; CT_ERROR with why when that fails at once. */
static int
redis_link_open(struct redis_link *l, const struct conf_redis_endpoint *e, char *why,
    size_t len)
{
	redisAsyncContext *ac;

	redis_endpoint_name(e, l->peer, sizeof(l->peer));
	ac = e->path != NULL ? redisAsyncConnectUnix(e->path) :
	    redisAsyncConnect(e->host, (int)e->port);
	if (ac == NULL) {
		snprintf(why, len, "%s: out of memory", l->peer);
		return CT_ERROR;
	}
	if (ac->err != 0 || redis_ev_attach(ac) != CT_OK) {
		snprintf(why, len, "%s: %s", l->peer, ac->err != 0 ? ac->errstr : "out of memory");
		redisAsyncFree(ac);
		return CT_ERROR;
	}
	ac->data = l;
	redisAsyncSetConnectCallback(ac, redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
	l->ac = ac;
	l->connected = 0;
	if (ev_timer_start(rd.loop, &l->timer, rd.conf.connect_timeout_ms) != CT_OK)
		log_alert("redis: cannot arm the connect timer of the %s link", l->name);
	return CT_OK;
}

/* Queues a command on l; CT_ERROR when hiredis refuses it. */
static int
redis_link_vsend(struct redis_link *l, enum redis_cmd_kind kind, redis_reply_cb cb, void *arg,
    const char *fmt, va_list ap)
{
	struct redis_cmd *c;

	if (l->ac == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return CT_ERROR;
	c->link = l;
	c->kind = kind;
	c->cb = cb;
	c->arg = arg;
	c->deadline = ev_now(rd.loop) + rd.conf.command_timeout_ms;
	if (redisvAsyncCommand(l->ac, redis_cmd_reply, c, fmt, ap) != REDIS_OK) {
		free(c);
		return CT_ERROR;
	}
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	if (l->head == c)
		redis_link_timer_arm(l);
	return CT_OK;
}

static int
redis_link_send(struct redis_link *l, enum redis_cmd_kind kind, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = redis_link_vsend(l, kind, NULL, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* Takes c off its link's list (it is the head unless replies came out of order). */
static void
redis_link_unlink(struct redis_cmd *c)
{
	struct redis_link *l = c->link;
	struct redis_cmd **pp, *prev = NULL;

	if (l == NULL)
		return;
	for (pp = &l->head; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			if (l->tail == c)
				l->tail = prev;
			break;
		}
	}
	c->link = NULL;
	redis_link_timer_arm(l);
}

/* ------------------------------------------------------- the states */

static void
redis_close_all(void)
{
	redis_link_close(&rd.sentinel);
	redis_link_close(&rd.pubsub);
	redis_link_close(&rd.main);
	ev_timer_stop(rd.loop, &rd.ping);
	rd.subs_confirmed = 0;
}

/* One try: ask the sentinels, or connect to the address. */
static void
redis_attempt(void)
{
	if (rd.conf.nsentinels > 0) {
		redis_publish_state(SHM_REDIS_DISCOVER);
		rd.sentinel_tried = 0;
		rd.sentinel_why[0] = '\0';
		redis_sentinel_ask();
	} else {
		redis_connect_main();
	}
}

static void
redis_retry_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	if (!rd.stopping && rd.state == SHM_REDIS_DOWN)
		redis_attempt();
}

/*
 * Redis is down, for why: every link closed, a try again after the
 * backoff.  Logged at the first failure of an outage only.
 */
static void
redis_down(const char *why)
{
	uint64_t wait;

	redis_close_all();
	if (!rd.outage) {
		rd.outage = 1;
		rd.down_since = ev_now(rd.loop);
		log_error("redis: down (%s), retrying", why);
		redis_publish_change(0, why);
	} else {
		/* The status shows the latest reason; the log keeps to one line an outage. */
		log_debug("redis: still down: %s", why);
		if (rd.shm != NULL)
			shm_text_write(&shm_header(rd.shm)->redis.reason, why);
	}
	redis_publish_state(SHM_REDIS_DOWN);
	wait = redis_backoff_ms(rd.attempt, redis_random());
	if (rd.attempt < 32)
		rd.attempt++;
	log_debug("redis: next try in %llums", (unsigned long long)wait);
	if (ev_timer_start(rd.loop, &rd.retry, wait) != CT_OK)
		log_alert("redis: cannot arm the retry timer");
}

static void
redis_link_fail(struct redis_link *l, const char *why)
{
	char buf[REDIS_WHY_LEN];

	/* why may be the context's own errstr, gone once the link is closed. */
	snprintf(buf, sizeof(buf), "%s", why);
	redis_link_close(l);
	if (rd.stopping)
		return;
	if (l == &rd.sentinel) {
		snprintf(rd.sentinel_why, sizeof(rd.sentinel_why), "%s", buf);
		redis_sentinel_ask();
		return;
	}
	redis_down(buf);
}

static void
redis_ping_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	if (rd.state != SHM_REDIS_READY)
		return;
	if (rd.main.head == NULL)
		(void)redis_link_send(&rd.main, rd.conf.nsentinels > 0 ? REDIS_CMD_ROLE :
		    REDIS_CMD_PING, rd.conf.nsentinels > 0 ? "ROLE" : "PING");
	if (ev_timer_start(rd.loop, t, REDIS_PING_MS) != CT_OK)
		log_alert("redis: cannot arm the heartbeat timer");
}

static void
redis_ready(void)
{
	char db[32];
	size_t i;

	redis_publish_state(SHM_REDIS_READY);
	rd.attempt = 0;
	snprintf(db, sizeof(db), ", database %u", rd.conf.database);
	if (rd.outage) {
		uint64_t ms = ev_now(rd.loop) - rd.down_since;

		log_notice("redis: up again after %llu.%llus (%s%s)", (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000 / 100), rd.main.peer, db);
	} else {
		log_notice("redis: up (%s%s, node \"%s\", prefix \"%s\")", rd.main.peer, db,
		    rd.conf.node, rd.conf.prefix);
	}
	rd.outage = 0;
	redis_publish_change(1, "");
	if (ev_timer_start(rd.loop, &rd.ping, REDIS_PING_MS) != CT_OK)
		log_alert("redis: cannot arm the heartbeat timer");
	for (i = 0; i < rd.nready && rd.state == SHM_REDIS_READY; i++)
		rd.ready[i].cb(rd.ready[i].arg);
}

/* The handshake: AUTH, SELECT, (ROLE), PING; the last reply makes the link usable. */
static int
redis_handshake(struct redis_link *l)
{
	int rc = CT_OK;

	if (rd.conf.password != NULL)
		rc = rd.conf.user != NULL ?
		    redis_link_send(l, REDIS_CMD_AUTH, "AUTH %s %s", rd.conf.user, rd.conf.password) :
		    redis_link_send(l, REDIS_CMD_AUTH, "AUTH %s", rd.conf.password);
	if (rc == CT_OK && rd.conf.database != 0 && l == &rd.main)
		rc = redis_link_send(l, REDIS_CMD_SELECT, "SELECT %u", rd.conf.database);
	if (rc == CT_OK && rd.conf.nsentinels > 0 && l == &rd.main)
		rc = redis_link_send(l, REDIS_CMD_ROLE, "ROLE");
	if (rc == CT_OK)
		rc = redis_link_send(l, REDIS_CMD_PING, "PING");
	if (rc == CT_OK)
		l->tail->last = 1;
	return rc;
}

/* The pubsub link: after its handshake, one SUBSCRIBE of every channel. */
static void redis_sub_message(redisAsyncContext *ac, void *r, void *privdata);

static int
redis_subscribe_all(void)
{
	const char *argv[REDIS_SUBS_MAX + 1];
	size_t i;

	argv[0] = "SUBSCRIBE";
	for (i = 0; i < rd.nsubs; i++)
		argv[i + 1] = rd.subs[i].channel;
	rd.subs_confirmed = 0;
	if (redisAsyncCommandArgv(rd.pubsub.ac, redis_sub_message, NULL, (int)rd.nsubs + 1,
	    argv, NULL) != REDIS_OK)
		return CT_ERROR;
	if (ev_timer_start(rd.loop, &rd.pubsub.timer, rd.conf.command_timeout_ms) != CT_OK)
		log_alert("redis: cannot arm the timer of the pubsub link");
	return CT_OK;
}

static void
redis_on_connect(const redisAsyncContext *cac, int status)
{
	struct redis_link *l = cac->data;
	int rc;

	if (l == NULL)
		return;
	if (status != REDIS_OK) {
		char why[REDIS_WHY_LEN];

		snprintf(why, sizeof(why), "%s: %s", l->peer, cac->errstr);
		/* hiredis frees the context when this returns. */
		l->ac = NULL;
		redis_link_fail(l, why);
		return;
	}
	l->connected = 1;
	ev_timer_stop(rd.loop, &l->timer);
	if (l == &rd.main)
		redis_publish_state(SHM_REDIS_AUTH);
	if (l == &rd.sentinel)
		rc = redis_link_send(l, REDIS_CMD_SENTINEL, "SENTINEL get-master-addr-by-name %s",
		    rd.conf.sentinel_master);
	else
		rc = redis_handshake(l);
	if (rc != CT_OK)
		redis_link_fail(l, "cannot queue a command");
}

static void
redis_on_disconnect(const redisAsyncContext *cac, int status)
{
	struct redis_link *l = cac->data;
	char why[REDIS_WHY_LEN];

	if (l == NULL)
		return;
	snprintf(why, sizeof(why), "%s: %s", l->peer,
	    status == REDIS_OK || cac->errstr[0] == '\0' ? "connection closed" : cac->errstr);
	/* hiredis frees the context when this returns. */
	l->ac = NULL;
	redis_link_fail(l, why);
}

static void
redis_connect_link(struct redis_link *l, const struct conf_redis_endpoint *e)
{
	char why[REDIS_WHY_LEN];

	if (redis_link_open(l, e, why, sizeof(why)) != CT_OK)
		redis_link_fail(l, why);
}

static void
redis_connect_main(void)
{
	redis_publish_state(SHM_REDIS_CONNECTING);
	redis_connect_link(&rd.main, redis_endpoint());
	if (rd.main.ac != NULL && rd.shm != NULL)
		shm_text_write(&shm_header(rd.shm)->redis.server, rd.main.peer);
}

/* ------------------------------------------------------- the sentinels */

static void
redis_sentinel_ask(void)
{
	char why[REDIS_WHY_LEN + 80];

	if (rd.sentinel_tried == rd.conf.nsentinels) {
		snprintf(why, sizeof(why), "no sentinel gave the address of master \"%s\" (last: %s)",
		    rd.conf.sentinel_master, rd.sentinel_why);
		redis_down(why);
		return;
	}
	rd.sentinel_tried++;
	redis_connect_link(&rd.sentinel, &rd.conf.sentinels[rd.sentinel_next++ %
	    rd.conf.nsentinels]);
}

/* The reply to SENTINEL get-master-addr-by-name: [ip, port], or nil. */
static void
redis_sentinel_reply(struct redis_link *l, const redisReply *reply)
{
	char why[REDIS_WHY_LEN], ip[CONF_REDIS_HOST_LEN];
	unsigned char sa[16];
	unsigned long port;
	char *end;

	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%s: %s", l->peer, reply->str);
		redis_link_fail(l, why);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING) {
		snprintf(why, sizeof(why), "%s does not know master \"%s\"", l->peer,
		    rd.conf.sentinel_master);
		redis_link_fail(l, why);
		return;
	}
	snprintf(ip, sizeof(ip), "%s", reply->element[0]->str);
	port = strtoul(reply->element[1]->str, &end, 10);
	/* A name would need a lookup, and a lookup would block. */
	if ((inet_pton(AF_INET, ip, sa) != 1 && inet_pton(AF_INET6, ip, sa) != 1) ||
	    *end != '\0' || port == 0 || port > 65535) {
		snprintf(why, sizeof(why), "%s named master \"%.60s\" port \"%.10s\": not an IP "
		    "address and a port", l->peer, reply->element[0]->str, reply->element[1]->str);
		redis_link_fail(l, why);
		return;
	}
	memcpy(rd.master.host, ip, sizeof(rd.master.host));
	rd.master.port = (unsigned)port;
	rd.master.path = NULL;
	log_debug("redis: %s says master \"%s\" is %s:%lu", l->peer, rd.conf.sentinel_master,
	    ip, port);
	redis_link_close(l);
	redis_connect_main();
}

/* ------------------------------------------------------------ replies */

/* ROLE's reply: is its first element "master"? */
static int
redis_role_master(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	    reply->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(reply->element[0]->str, "master") == 0;
}

/* A reply of the handshake or the heartbeat on l; a bad one fails l. */
static void
redis_internal_reply(struct redis_link *l, const struct redis_cmd *c, const redisReply *reply)
{
	static const char *const what[] = {
		[REDIS_CMD_AUTH] = "AUTH", [REDIS_CMD_SELECT] = "SELECT",
		[REDIS_CMD_ROLE] = "ROLE", [REDIS_CMD_PING] = "PING",
	};
	char why[REDIS_WHY_LEN];

	if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof(why), "%s: %s failed: %s", l->peer, what[c->kind], reply->str);
		redis_link_fail(l, why);
		return;
	}
	if (c->kind == REDIS_CMD_ROLE && !redis_role_master(reply)) {
		snprintf(why, sizeof(why), "%s is not a master (ROLE says \"%s\")", l->peer,
		    reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
		    reply->element[0]->type == REDIS_REPLY_STRING ? reply->element[0]->str : "?");
		redis_link_fail(l, why);
		return;
	}
	if (!c->last)
		return;
	if (l == &rd.main) {
		if (rd.nsubs == 0) {
			redis_ready();
			return;
		}
		redis_publish_state(SHM_REDIS_AUTH);
		redis_connect_link(&rd.pubsub, redis_endpoint());
	} else if (l == &rd.pubsub && redis_subscribe_all() != CT_OK) {
		redis_link_fail(l, "cannot queue SUBSCRIBE");
	}
}

static void
redis_cmd_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis_cmd *c = privdata;
	struct redis_link *l = c->link;
	const redisReply *reply = r;
	const char *err = NULL;

	(void)ac;
	redis_link_unlink(c);
	if (reply == NULL)
		redis_count(c->timed_out ? SHM_REDIS_CMD_TIMEOUT : SHM_REDIS_CMD_ERROR);
	else
		redis_count(reply->type == REDIS_REPLY_ERROR ? SHM_REDIS_CMD_ERROR : SHM_REDIS_CMD_OK);
	if (c->kind == REDIS_CMD_USER) {
		if (reply == NULL)
			err = c->timed_out ? "no reply within command_timeout" : "the link to Redis was lost";
		if (!rd.stopping && c->cb != NULL)
			c->cb(reply, err, c->arg);
		/* A master turned replica refuses writes: find the new one. */
		if (l != NULL && l->ac == ac && reply != NULL && reply->type == REDIS_REPLY_ERROR &&
		    strncmp(reply->str, "READONLY", 8) == 0)
			redis_link_fail(l, "READONLY: the master became a replica");
	} else if (l != NULL && reply != NULL) {
		if (c->kind == REDIS_CMD_SENTINEL)
			redis_sentinel_reply(l, reply);
		else
			redis_internal_reply(l, c, reply);
	}
	free(c);
}

/*
 * Every reply on the pubsub link: ["subscribe", channel, n] for each
 * channel confirmed, ["message", channel, payload] after.  NULL when
 * the context goes away.
 */
static void
redis_sub_message(redisAsyncContext *ac, void *r, void *privdata)
{
	const redisReply *reply = r, *kind;
	size_t i;

	(void)ac;
	(void)privdata;
	if (reply == NULL || rd.pubsub.ac == NULL || rd.stopping)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    (kind = reply->element[0])->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(kind->str, "subscribe") == 0) {
		if (++rd.subs_confirmed == rd.nsubs) {
			ev_timer_stop(rd.loop, &rd.pubsub.timer);
			if (rd.state != SHM_REDIS_READY)
				redis_ready();
		}
		return;
	}
	if (strcmp(kind->str, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	for (i = 0; i < rd.nsubs; i++)
		if (strcmp(rd.subs[i].channel, reply->element[1]->str) == 0)
			rd.subs[i].cb(reply->element[1]->str, reply->element[2]->str,
			    reply->element[2]->len, rd.subs[i].arg);
}

/* ----------------------------------------------------------- the API */

int
redis_command(redis_reply_cb cb, void *arg, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (rd.state != SHM_REDIS_READY || rd.stopping || rd.main.ac == NULL)
		return CT_AGAIN;
	va_start(ap, fmt);
	rc = redis_link_vsend(&rd.main, REDIS_CMD_USER, cb, arg, fmt, ap);
	va_end(ap);
	return rc;
}

int
redis_subscribe(const char *channel, redis_message_cb cb, void *arg)
{
	struct redis_sub *s;

	if (rd.nsubs == REDIS_SUBS_MAX)
		return CT_ERROR;
	s = &rd.subs[rd.nsubs];
	if ((s->channel = strdup(channel)) == NULL)
		return CT_ERROR;
	s->cb = cb;
	s->arg = arg;
	rd.nsubs++;
	if (rd.state != SHM_REDIS_READY || rd.stopping)
		return CT_OK;
	/* Up already: the channel joins the pubsub link, or one is opened for it. */
	if (rd.pubsub.ac == NULL)
		redis_connect_link(&rd.pubsub, redis_endpoint());
	else if (rd.pubsub.connected && redisAsyncCommand(rd.pubsub.ac, redis_sub_message, NULL,
	    "SUBSCRIBE %s", s->channel) != REDIS_OK)
		redis_link_fail(&rd.pubsub, "cannot queue SUBSCRIBE");
	else if (rd.pubsub.connected &&
	    ev_timer_start(rd.loop, &rd.pubsub.timer, rd.conf.command_timeout_ms) != CT_OK)
		log_alert("redis: cannot arm the timer of the pubsub link");
	return CT_OK;
}

int
redis_on_ready(redis_ready_cb cb, void *arg)
{
	if (rd.nready == REDIS_READY_MAX)
		return CT_ERROR;
	rd.ready[rd.nready].cb = cb;
	rd.ready[rd.nready].arg = arg;
	rd.nready++;
	return CT_OK;
}

enum shm_redis_state
redis_state(void)
{
	return rd.state;
}

const char *
redis_prefix(void)
{
	return rd.conf.enabled ? rd.conf.prefix : NULL;
}

const char *
redis_node(void)
{
	return rd.conf.enabled ? rd.conf.node : NULL;
}

/* ------------------------------------------------------ the lifecycle */

/* Takes section s and starts from scratch with it. */
static void
redis_begin(const struct conf_redis *s)
{
	conf_redis_clear(&rd.conf);
	if (conf_redis_copy(&rd.conf, s) != CT_OK) {
		log_error("redis: out of memory; running standalone");
		redis_publish_state(SHM_REDIS_OFF);
		return;
	}
	memset(&rd.master, 0, sizeof(rd.master));
	rd.attempt = 0;
	rd.outage = 0;
	rd.sentinel_next = 0;
	if (!rd.conf.enabled) {
		redis_publish_state(SHM_REDIS_OFF);
		return;
	}
	redis_attempt();
}

void
redis_start(struct ev_loop *loop, struct shm *shm, const struct conf *conf)
{
	rd.loop = loop;
	rd.shm = shm;
	rd.started = 1;
	rd.stopping = 0;
	rd.rnd = (uint32_t)getpid() ^ (uint32_t)ev_clock_ms() ^ 0x9e3779b9u;
	if (rd.rnd == 0)
		rd.rnd = 1;
	rd.main.name = "redis";
	rd.pubsub.name = "pubsub";
	rd.sentinel.name = "sentinel";
	ev_timer_init(&rd.main.timer, redis_link_timer, &rd.main);
	ev_timer_init(&rd.pubsub.timer, redis_link_timer, &rd.pubsub);
	ev_timer_init(&rd.sentinel.timer, redis_link_timer, &rd.sentinel);
	ev_timer_init(&rd.retry, redis_retry_timer, NULL);
	ev_timer_init(&rd.ping, redis_ping_timer, NULL);
	redis_begin(&conf->redis);
}

void
redis_reconf(const struct conf *conf)
{
	if (!rd.started || conf_redis_equal(&rd.conf, &conf->redis))
		return;
	if (!conf->redis.enabled)
		log_notice("redis: section removed, running standalone");
	else
		log_notice("redis: settings changed, %s", rd.conf.enabled ? "reconnecting" :
		    "connecting");
	redis_close_all();
	ev_timer_stop(rd.loop, &rd.retry);
	redis_begin(&conf->redis);
}

void
redis_stop(void)
{
	size_t i;

	if (!rd.started)
		return;
	rd.stopping = 1;
	/*
	 * What the stop sent (leases handed over) leaves now if the socket
	 * takes it, without waiting: the master may exit in this turn.
	 */
	if (rd.main.ac != NULL && rd.main.connected)
		redisAsyncHandleWrite(rd.main.ac);
	redis_close_all();
	ev_timer_stop(rd.loop, &rd.retry);
	conf_redis_clear(&rd.conf);
	for (i = 0; i < rd.nsubs; i++)
		free(rd.subs[i].channel);
	rd.nsubs = 0;
	rd.nready = 0;
	rd.started = 0;
	redis_publish_state(SHM_REDIS_OFF);
}

void
redis_forget(void)
{
	struct redis_link *links[] = { &rd.main, &rd.pubsub, &rd.sentinel };
	size_t i;

	for (i = 0; i < CT_NELEM(links); i++)
		if (links[i]->ac != NULL && links[i]->ac->c.fd != -1)
			close(links[i]->ac->c.fd);
}

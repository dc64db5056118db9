/*
 * One prober per upstream per cluster (health.h).
 *
 * With a redis section, each upstream with "probe: cluster" has a lease,
 * the key <prefix>:probe:<upstream>, whose value is the name of the node
 * that checks its servers.  Every node sends, every interval / 3, one
 * script that takes the lease when nobody holds it and renews it when
 * this node does, for interval ms, and answers with the holder:
 *
 *   this node  SELF      checks as a node alone would, and publishes
 *                        each check's outcome (HSET and PUBLISH, by a
 *                        script that does so only while the lease is
 *                        still this node's)
 *   another    PEER      does not check; writes what the holder
 *                        publishes into its shm (after HGETALL of the
 *                        hash when it becomes a peer, so that it starts
 *                        from the holder's view, not from nothing)
 *   no answer  FALLBACK  Redis is not ready, or the lease is unusable:
 *                        checks for itself, until an answer says otherwise
 *
 * Takeover: a holder that stops renewing (stopped, crashed, cut from
 * Redis) leaves a lease that lasts at most interval after its last
 * renewal.  The other nodes ask every interval / 3, so one of them takes
 * it at most interval / 3 after it runs out, and checks each server
 * within interval / 10 of that: its first check falls at most
 * 1.43 x interval (plus a round trip to Redis) after the holder's last
 * renewal, within the 2 x interval that the documentation promises.
 * A renewal that Redis does not answer within command_timeout is Redis
 * down (redis.c): the node then checks for itself.
 *
 * Every check is published, not only the changes: so a node that joins,
 * or comes back, or missed a message, is right again after one
 * interval, and its latency figures stay fresh.
 *
 * Subscriptions and ready callbacks last as long as the link to Redis,
 * longer than one generation of checks (a reload replaces them), so they
 * reach the current one through hl.h; replies carry the generation's
 * epoch, and one meant for an older generation is dropped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/health.h"
#include "master/health_int.h"
#include "master/redis.h"
#include "shm/events.h"

#define HL_KEY_MAX      (CONF_REDIS_PREFIX_MAX + SHM_NAME_LEN + 16)
#define HL_COMPLAIN_MS  60000       /* one warning a minute of each kind of garbage */
#define HL_CHECK_US_MAX (UINT64_C(3600) * 1000 * 1000)

/*
 * KEYS[1] the lease, ARGV[1] this node, ARGV[2] the lease's length in ms,
 * ARGV[3] "hold", or "yield" from a node that stops.  Answers the holder
 * after taking or renewing; a lease without expiry was not written by a
 * node, and is an error rather than a holder for ever.  A node that
 * yields ends its own lease (at once: PEXPIRE, since the ACL has no DEL)
 * and takes none, and is answered nil while no other node holds one.
 */
static const char hl_lease_lua[] =
    "local v = redis.call('GET', KEYS[1]) "
    "local yield = ARGV[3] == 'yield' "
    "if v == false then "
    "if yield then return false end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1] end "
    "if redis.call('PTTL', KEYS[1]) < 0 then "
    "return redis.error_reply('the lease has no expiry') end "
    "if v == ARGV[1] then "
    "if yield then redis.call('PEXPIRE', KEYS[1], 1) return false end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "return v";

/*
 * KEYS[1] the lease, KEYS[2] the hash, KEYS[3] the channel; ARGV[1]
 * this node, ARGV[2] the server, ARGV[3] the message, ARGV[4] the
 * hash's life in ms.  0 when the lease is no longer this node's.
 */
static const char hl_publish_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) "
    "redis.call('PEXPIRE', KEYS[2], ARGV[4]) "
    "redis.call('PUBLISH', KEYS[3], ARGV[3]) "
    "return 1";

/* What can come from Redis that is not what a node writes. */
enum hl_garbage {
	HL_BAD_MESSAGE,             /* on the channel */
	HL_BAD_ENTRY,               /* in a hash */
	HL_BAD_LEASE,               /* the lease key */
	HL_BAD_REPLY,               /* a script failed */
	HL_GARBAGE_KINDS
};

static struct {
	struct health *h;           /* the checks of the running generation; NULL between */
	uint16_t epoch;             /* h's */
	char channel[CONF_REDIS_PREFIX_MAX + 16];   /* subscribed to; "" before */
	int hooked;                 /* redis_on_ready() done */
	int yielding;               /* the master stops: leases are handed over, none taken */
	uint64_t complained[HL_GARBAGE_KINDS];      /* clock of each kind's last warning */
	unsigned quiet[HL_GARBAGE_KINDS];           /* not logged since */
} hl;

static void hl_timer(struct ev_loop *loop, struct ev_timer *t);

/* ------------------------------------------------------------ pure */

/* Letters, digits and those of extra: the characters of names. */
static int
hl_word(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i]) != NULL))
			return 0;
	return 1;
}

static int
hl_node_valid(const char *s)
{
	return hl_word(s, CONF_REDIS_NODE_MAX, "_.-:[]");
}

size_t
health_msg_encode(const struct health_msg *m, char *buf, size_t len)
{
	char server[ADDR_STRLEN], reason[SHM_TEXT_LEN];
	size_t i;
	int n;

	snprintf(reason, sizeof(reason), "%s", m->reason);
	for (i = 0; reason[i] != '\0'; i++)
		if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
			reason[i] = ' ';
	n = snprintf(buf, len, "1\t%s\t%s\t%s\t%s\t%llu\t%s", m->node, m->upstream,
	    addr_format((const struct sockaddr *)&m->addr.ss, server, sizeof(server)),
	    m->up ? "up" : "down", (unsigned long long)m->check_us, reason);
	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

int
health_msg_parse(const char *s, size_t len, struct health_msg *m, const char **why)
{
	char buf[HEALTH_MSG_MAX + 1], *p = buf, *f[7], *end;
	const unsigned char *r;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (len > HEALTH_MSG_MAX || memchr(s, '\0', len) != NULL) {
		*why = len > HEALTH_MSG_MAX ? "too long" : "a NUL byte";
		return CT_ERROR;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	for (i = 0; i < CT_NELEM(f); i++)
		if ((f[i] = strsep(&p, "\t")) == NULL) {
			*why = "too few fields";
			return CT_ERROR;
		}
	if (p != NULL || strcmp(f[0], "1") != 0) {
		*why = p != NULL ? "too many fields" : "an unknown version";
		return CT_ERROR;
	}
	*why = NULL;
	if (!hl_node_valid(f[1]))
		*why = "an invalid node name";
	else if (!hl_word(f[2], SHM_NAME_LEN - 1, "_.-"))
		*why = "an invalid upstream name";
	else if (addr_parse(f[3], 0, &m->addr, why) != CT_OK)
		*why = "an invalid server address";
	else if (strcmp(f[4], "up") != 0 && strcmp(f[4], "down") != 0)
		*why = "a state neither up nor down";
	else if (f[5][0] < '0' || f[5][0] > '9' || strlen(f[5]) > 12 ||
	    (m->check_us = strtoull(f[5], &end, 10)) > HL_CHECK_US_MAX || *end != '\0')
		*why = "an invalid latency";
	for (r = (const unsigned char *)f[6]; *why == NULL && *r != '\0'; r++)
		if (*r < 0x20 || *r == 0x7f)
			*why = "a control character in the reason";
	if (*why != NULL)
		return CT_ERROR;
	memcpy(m->node, f[1], strlen(f[1]) + 1);
	memcpy(m->upstream, f[2], strlen(f[2]) + 1);
	m->up = f[4][0] == 'u';
	snprintf(m->reason, sizeof(m->reason), "%s", f[6]);
	return CT_OK;
}

/* ------------------------------------------------------------ state */

/* Warns of what Redis held that no node writes, once a minute of each kind. */
static void __attribute__((format(printf, 2, 3)))
hl_complain(enum hl_garbage kind, const char *fmt, ...)
{
	uint64_t now = ev_clock_ms();
	char text[512];
	va_list ap;

	if (hl.complained[kind] != 0 && now - hl.complained[kind] < HL_COMPLAIN_MS) {
		hl.quiet[kind]++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (hl.quiet[kind] > 0)
		log_warnx("health: %s; ignored (and %u more like it since the last warning)",
		    text, hl.quiet[kind]);
	else
		log_warnx("health: %s; ignored", text);
	hl.complained[kind] = now;
	hl.quiet[kind] = 0;
}

static int
hl_cluster(const struct health_up *hu)
{
	return hu->u->health.probe == CONF_PROBE_CLUSTER && redis_prefix() != NULL;
}

/* How often a node asks for the lease: a third of its length, the interval. */
static uint64_t
hl_period(const struct health_up *hu)
{
	return CT_MAX(hu->u->health.interval_ms / 3, (uint64_t)1);
}

/* A reply's argument: the generation and the upstream, so that a stale one finds nothing. */
static void *
hl_arg(const struct health_up *hu)
{
	return (void *)(uintptr_t)((uint32_t)hl.epoch << 16 | (uint32_t)(hu - hu->owner->ups));
}

static struct health_up *
hl_up_of(void *arg)
{
	uintptr_t a = (uintptr_t)arg;

	if (hl.h == NULL || (uint16_t)(a >> 16) != hl.epoch || (a & 0xffff) >= hl.h->nups)
		return NULL;
	return &hl.h->ups[a & 0xffff];
}

static struct health_up *
hl_up_named(const char *name)
{
	size_t i;

	for (i = 0; hl.h != NULL && i < hl.h->nups; i++)
		if (strcmp(hl.h->ups[i].u->name, name) == 0)
			return &hl.h->ups[i];
	return NULL;
}

static void
hl_key(char *buf, const char *kind, const struct health_up *hu)
{
	snprintf(buf, HL_KEY_MAX, "%s:%s:%s", redis_prefix(), kind, hu->u->name);
}

static void
hl_peer_set(struct health_up *hu, const char *node)
{
	if (strcmp(hu->peer, node) == 0)
		return;
	snprintf(hu->peer, sizeof(hu->peer), "%s", node);
	shm_text_write(&hu->su->prober, node);
}

/* ------------------------------------------------------------ adopting */

/*
 * The holder's view of one server, into shm as a check of ours would
 * write it.  A server that passive checks took out here stays out until
 * its fail_timeout is over: the holder did not see those failures.
 */
static void
hl_adopt(struct health_up *hu, const struct health_msg *m)
{
	uint64_t now = ev_now(hu->owner->loop);
	struct hc *c = NULL;
	size_t i;
	int down;

	for (i = 0; i < hu->n && c == NULL; i++)
		if (addr_equal((const struct sockaddr *)&hu->v[i].s->addr.ss,
		    (const struct sockaddr *)&m->addr.ss))
			c = &hu->v[i];
	if (c == NULL)
		return;     /* a server of another node's configuration */
	hl_peer_set(hu, m->node);
	c->heard = now;
	if (hc_checking(c)) {
		log_info("health: upstream \"%s\" server %s: node \"%s\" reports it again; "
		    "this node stops checking it", c->u->name, c->s->address, m->node);
		hc_pause(c);
	}
	atomic_store_explicit(&c->b->check_us, m->check_us, memory_order_relaxed);
	down = (atomic_load(&c->b->state) & SHM_BACKEND_DOWN) != 0;
	if (!m->up) {
		shm_text_write(&c->b->check_reason, m->reason);
		c->up = 0;
		if (down)
			return;
		shm_backend_health_set(c->b, 0, now);
		log_warnx("upstream \"%s\" server %s is down: %s (checked by node \"%s\")",
		    c->u->name, c->s->address, m->reason, m->node);
		hc_event(c, 0, 0, m->reason);
		return;
	}
	if (!down || atomic_load_explicit(&c->b->down_until_ms, memory_order_relaxed) > now) {
		c->up = !down;
		return;
	}
	c->up = 1;
	atomic_store_explicit(&c->b->down_until_ms, 0, memory_order_relaxed);
	shm_backend_health_set(c->b, 1, now);
	log_notice("upstream \"%s\" server %s is up (checked by node \"%s\")", c->u->name,
	    c->s->address, m->node);
	hc_event(c, SHM_EV_HEALTH_UP, 0, NULL);
}

/* A published result: for a peer's upstream that this node has, adopted. */
static void
hl_message(const char *channel, const char *msg, size_t len, void *arg)
{
	struct health_up *hu;
	struct health_msg m;
	const char *why;

	(void)arg;
	if (hl.h == NULL || redis_node() == NULL || strcmp(channel, hl.channel) != 0)
		return;
	if (health_msg_parse(msg, len, &m, &why) != CT_OK) {
		hl_complain(HL_BAD_MESSAGE, "a message on %s is not a check's result: %s",
		    channel, why);
		return;
	}
	if (strcmp(m.node, redis_node()) != 0 && (hu = hl_up_named(m.upstream)) != NULL &&
	    hu->probe == SHM_PROBE_PEER)
		hl_adopt(hu, &m);
}

/* HGETALL of the hash, on becoming a peer: the holder's latest view. */
static void
hl_sync_reply(const redisReply *r, const char *err, void *arg)
{
	struct health_up *hu = hl_up_of(arg);
	struct health_msg m;
	const char *why;
	size_t i;

	if (hu == NULL || err != NULL || hu->probe != SHM_PROBE_PEER || redis_node() == NULL)
		return;
	if (r->type != REDIS_REPLY_ARRAY) {
		hl_complain(HL_BAD_ENTRY, "%s:health:%s is not a hash (%s)", redis_prefix(),
		    hu->u->name, r->type == REDIS_REPLY_ERROR ? r->str : "another reply");
		return;
	}
	for (i = 1; i < r->elements; i += 2) {
		const redisReply *v = r->element[i];

		if (v->type != REDIS_REPLY_STRING ||
		    health_msg_parse(v->str, v->len, &m, &why) != CT_OK ||
		    strcmp(m.upstream, hu->u->name) != 0) {
			hl_complain(HL_BAD_ENTRY, "an entry of %s:health:%s is not a check's result",
			    redis_prefix(), hu->u->name);
			continue;
		}
		if (strcmp(m.node, redis_node()) != 0)
			hl_adopt(hu, &m);
	}
}

static void
hl_sync(struct health_up *hu)
{
	char key[HL_KEY_MAX];

	hl_key(key, "health", hu);
	(void)redis_command(hl_sync_reply, hl_arg(hu), "HGETALL %s", key);
}

/* ------------------------------------------------------------ the lease */

/*
 * Who checks hu's servers from now on: this node (to SELF, FALLBACK or
 * EVERY_NODE) or peer (to PEER), because of why.  Taking and losing the
 * lease are logged; shm keeps the last decision across a reload, so
 * that a reload is not logged as a change.
 */
static void
hl_set(struct health_up *hu, enum shm_probe to, const char *peer, const char *why)
{
	unsigned was = atomic_load(&hu->su->probe);
	int checking = hu->probe != SHM_PROBE_PEER && hu->probe != SHM_PROBE_NONE;
	int adopting = hu->probe == SHM_PROBE_PEER;
	size_t i;

	if (to == SHM_PROBE_PEER)
		hl_peer_set(hu, peer);
	hu->probe = to;
	atomic_store(&hu->su->probe, to);
	if (checking != (to != SHM_PROBE_PEER))
		health_up_checks(hu, to != SHM_PROBE_PEER, hu->u->health.interval_ms / 10);
	if (to == SHM_PROBE_PEER && !adopting)
		hl_sync(hu);
	for (i = 0; to == SHM_PROBE_PEER && !adopting && i < hu->n; i++)
		hu->v[i].heard = ev_now(hu->owner->loop);
	if (to == SHM_PROBE_SELF && was != SHM_PROBE_SELF)
		log_notice("health: upstream \"%s\": this node took the probe lease and checks "
		    "its servers for the cluster", hu->u->name);
	else if (was == SHM_PROBE_SELF && to != SHM_PROBE_SELF)
		log_notice("health: upstream \"%s\": this node lost the probe lease: %s",
		    hu->u->name, why);
	else if (to == SHM_PROBE_PEER && (was != SHM_PROBE_PEER || !adopting))
		log_info("health: upstream \"%s\": node \"%s\" checks its servers; this node "
		    "adopts its results", hu->u->name, peer);
	else if (to == SHM_PROBE_FALLBACK && was == SHM_PROBE_PEER)
		log_info("health: upstream \"%s\": this node checks its servers itself: %s",
		    hu->u->name, why);
}

static void
hl_lease_reply(const redisReply *r, const char *err, void *arg)
{
	struct health_up *hu = hl_up_of(arg);
	char why[160];

	if (hu == NULL)
		return;
	hu->pending = 0;
	if (err != NULL) {
		hl_set(hu, SHM_PROBE_FALLBACK, NULL, err);
		return;
	}
	if (r->type == REDIS_REPLY_NIL && hl.yielding) {
		/* Until another node takes it, the stopping node keeps its own view fresh. */
		hl_set(hu, SHM_PROBE_FALLBACK, NULL, "this node is stopping");
		return;
	}
	if (r->type == REDIS_REPLY_STRING && hl_node_valid(r->str)) {
		/* Stopping, a renewal sent before the yield: the yield's answer follows. */
		if (strcmp(r->str, redis_node()) == 0) {
			if (!hl.yielding)
				hl_set(hu, SHM_PROBE_SELF, NULL, NULL);
		} else {
			hl_set(hu, SHM_PROBE_PEER, r->str, "another node holds the lease");
		}
		return;
	}
	snprintf(why, sizeof(why), "%s:probe:%s %s", redis_prefix(), hu->u->name,
	    r->type == REDIS_REPLY_ERROR ? r->str : "holds no node's name");
	hl_complain(HL_BAD_LEASE, "%s", why);
	hl_set(hu, SHM_PROBE_FALLBACK, NULL, why);
}

static void
hl_lease_send(struct health_up *hu)
{
	char key[HL_KEY_MAX];

	hl_key(key, "probe", hu);
	if (redis_command(hl_lease_reply, hl_arg(hu), "EVAL %s 1 %s %s %llu %s", hl_lease_lua, key,
	    redis_node(), (unsigned long long)hu->u->health.interval_ms,
	    hl.yielding ? "yield" : "hold") == CT_OK)
		hu->pending = 1;
	else
		hl_set(hu, SHM_PROBE_FALLBACK, NULL, "Redis takes no command");
}

/* The timer to the next lease command due, if any upstream needs one. */
static void
hl_arm(struct health *h)
{
	uint64_t now = ev_now(h->loop), next = UINT64_MAX;
	size_t i;

	for (i = 0; i < h->nups; i++)
		if (hl_cluster(&h->ups[i]))
			next = CT_MIN(next, h->ups[i].due);
	ev_timer_stop(h->loop, &h->lease);
	if (next != UINT64_MAX &&
	    ev_timer_start(h->loop, &h->lease, next > now ? next - now : 0) != CT_OK)
		log_alert("cannot arm the timer of the probe leases");
}

/*
 * With a peer probing: a server it has not reported for three intervals
 * and a timeout (longer than any two of its checks take) is one that its
 * configuration lacks, or whose results are lost.  This node checks it
 * until a result comes again.
 */
static void
hl_unheard(struct health_up *hu, uint64_t now)
{
	const struct conf_health *hc = &hu->u->health;
	size_t i;

	for (i = 0; i < hu->n; i++) {
		struct hc *c = &hu->v[i];

		if (hc_checking(c) || c->broken ||
		    now - c->heard <= 3 * hc->interval_ms + hc->timeout_ms)
			continue;
		log_info("health: upstream \"%s\" server %s: no result from node \"%s\"; this "
		    "node checks it", hu->u->name, c->s->address, hu->peer);
		hc_resume(c, 0);
	}
}

static void
hl_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct health *h = t->data;
	int ready = redis_state() == SHM_REDIS_READY;
	uint64_t now = ev_now(loop);
	size_t i;

	for (i = 0; i < h->nups; i++) {
		struct health_up *hu = &h->ups[i];

		if (!hl_cluster(hu) || hu->due > now)
			continue;
		hu->due = now + hl_period(hu);
		if (hu->probe == SHM_PROBE_PEER)
			hl_unheard(hu, now);
		if (!ready && hu->probe != SHM_PROBE_FALLBACK)
			hl_set(hu, SHM_PROBE_FALLBACK, NULL, "Redis is not ready");
		else if (ready && !hu->pending)
			hl_lease_send(hu);
	}
	hl_arm(h);
}

/* Redis is back: every lease is asked for now, not a period later. */
static void
hl_ready(void *arg)
{
	size_t i;

	(void)arg;
	if (hl.h == NULL)
		return;
	for (i = 0; i < hl.h->nups; i++)
		hl.h->ups[i].due = 0;
	hl_arm(hl.h);
}

/*
 * A result published, or not: 0 says the lease went to another node
 * since the last renewal, and the next lease command, due now, says to whom.
 */
static void
hl_publish_reply(const redisReply *r, const char *err, void *arg)
{
	struct health_up *hu = hl_up_of(arg);

	if (hu == NULL || err != NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR)
		hl_complain(HL_BAD_REPLY, "publishing to %s:health:%s failed: %s", redis_prefix(),
		    hu->u->name, r->str);
	else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0 && hu->due > 0) {
		hu->due = 0;
		hl_arm(hu->owner);
	}
}

/* ------------------------------------------------------------ the API */

void
health_lease_result(struct hc *c)
{
	struct health_up *hu = c->hu;
	char lease[HL_KEY_MAX], hash[HL_KEY_MAX], msg[HEALTH_MSG_MAX + 1];
	char server[ADDR_STRLEN];
	struct health_msg m;

	if (hu == NULL || hu->probe != SHM_PROBE_SELF || hl.h != hu->owner)
		return;
	memset(&m, 0, sizeof(m));
	snprintf(m.node, sizeof(m.node), "%s", redis_node());
	snprintf(m.upstream, sizeof(m.upstream), "%s", hu->u->name);
	m.addr = c->s->addr;
	m.up = c->up;
	m.check_us = atomic_load_explicit(&c->b->check_us, memory_order_relaxed);
	if (!c->up)
		(void)shm_text_read(&c->b->check_reason, m.reason);
	if (health_msg_encode(&m, msg, sizeof(msg)) == 0)
		return;
	hl_key(lease, "probe", hu);
	hl_key(hash, "health", hu);
	(void)redis_command(hl_publish_reply, hl_arg(hu), "EVAL %s 3 %s %s %s %s %s %s %llu", hl_publish_lua,
	    lease, hash, hl.channel, m.node,
	    addr_format((const struct sockaddr *)&m.addr.ss, server, sizeof(server)), msg,
	    (unsigned long long)(4 * hu->u->health.interval_ms));
}

void
health_lease_start(struct health *h)
{
	char channel[sizeof(hl.channel)];
	size_t i, k;

	hl.h = h;
	hl.epoch++;
	ev_timer_init(&h->lease, hl_timer, h);
	if (redis_prefix() != NULL) {
		snprintf(channel, sizeof(channel), "%s:health", redis_prefix());
		/* A new prefix is a new channel; the old one's messages are dropped. */
		if (strcmp(channel, hl.channel) != 0) {
			if (redis_subscribe(channel, hl_message, NULL) == CT_OK)
				memcpy(hl.channel, channel, sizeof(channel));
			else
				log_warnx("health: cannot subscribe to %s", channel);
		}
		if (!hl.hooked && redis_on_ready(hl_ready, NULL) == CT_OK)
			hl.hooked = 1;
	}
	for (i = 0; i < h->nups; i++) {
		struct health_up *hu = &h->ups[i];
		unsigned was = atomic_load(&hu->su->probe);

		if (!hl_cluster(hu)) {
			hu->probe = SHM_PROBE_EVERY_NODE;
			atomic_store(&hu->su->probe, SHM_PROBE_EVERY_NODE);
			health_up_checks(hu, 1, hu->u->health.interval_ms);
			continue;
		}
		/*
		 * As the last generation left it, until the first answer.  New
		 * to the cluster, it waits for that answer (NONE) rather than
		 * check once before it knows that another node does; without
		 * one by the first lease period, it checks.
		 */
		hu->probe = was == SHM_PROBE_PEER || was == SHM_PROBE_SELF ||
		    was == SHM_PROBE_FALLBACK ? was : SHM_PROBE_NONE;
		hu->due = hu->probe == SHM_PROBE_NONE && redis_state() != SHM_REDIS_READY ?
		    ev_now(h->loop) + hl_period(hu) : 0;
		if (was == SHM_PROBE_PEER)
			(void)shm_text_read(&hu->su->prober, hu->peer);
		else if (hu->probe == SHM_PROBE_NONE)
			atomic_store(&hu->su->probe, SHM_PROBE_FALLBACK);
		for (k = 0; k < hu->n; k++)
			hu->v[k].heard = ev_now(h->loop);
		if (hu->probe == SHM_PROBE_SELF || hu->probe == SHM_PROBE_FALLBACK)
			health_up_checks(hu, 1, hu->u->health.interval_ms);
	}
	hl_arm(h);
}

/*
 * The master stops: the leases this node holds are ended now, so that
 * another node checks within a third of an interval rather than after
 * the lease runs out, and while it drains this node takes none.  Sent
 * at once, not at the next period: the master may exit in this turn.
 */
void
health_lease_yield(struct health *h)
{
	size_t i;

	if (h == NULL || hl.h != h || redis_prefix() == NULL || hl.yielding)
		return;
	hl.yielding = 1;
	/* Not ready, nothing can be sent: what it held runs out by itself. */
	if (redis_state() != SHM_REDIS_READY)
		return;
	for (i = 0; i < h->nups; i++) {
		struct health_up *hu = &h->ups[i];

		if (!hl_cluster(hu) || hu->probe != SHM_PROBE_SELF)
			continue;
		hu->due = ev_now(h->loop) + hl_period(hu);
		hl_lease_send(hu);
	}
	hl_arm(h);
}

void
health_lease_stop(struct health *h)
{
	ev_timer_stop(h->loop, &h->lease);
	if (hl.h == h)
		hl.h = NULL;
}

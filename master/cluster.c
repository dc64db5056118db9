/*
 * Master: the cluster through Redis (master/cluster.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "conf/redis.h"
#include "core/lb.h"
#include "ctl/admin_approval.h"
#include "lib/ct.h"
#include "lib/log.h"
#include "master/approvals.h"
#include "master/cluster.h"
#include "master/redis.h"
#include "shm/backend.h"
#include "shm/cluster.h"

_Static_assert(CONF_REDIS_NODE_MAX < SHM_APPROVAL_NODE_LEN, "a node's name fits a decision");

#define CLUSTER_KEY_MAX     (INET6_ADDRSTRLEN + 8 + SHM_NAME_LEN + ADMIN_APPROVAL_DEST_TEXT + 8)
#define CLUSTER_CHANNEL_MAX (CONF_REDIS_PREFIX_MAX + 16)
#define CLUSTER_IGNORED_LOG_MS 60000   /* a value not ours is logged at most this often */
#define CLUSTER_RETRY_MAX   64          /* waiting changes sent again per heartbeat */
#define CLUSTER_MERGE_MS    (UINT64_C(3600) * 1000)     /* a full merge, besides each READY */
#define CLUSTER_REVOKED_KEEP_MS (UINT64_C(7) * 86400 * 1000) /* a revoke, in Redis */
#define CLUSTER_EXPIRED_KEEP_S  3600    /* an expired decision, in Redis */

/*
 * Of two changes of a key, the script keeps the later and publishes it;
 * a value that is not a change of ours is replaced.  KEYS[1]: the hash
 * (and channel), ARGV: field, value, t, node.  1: stored, 0: older.
 */
static const char cluster_lww_lua[] =
    /* Bytes compared as strcmp() does: Lua's < follows the server's locale. */
    "local function gt(a, b) "
    "  for i = 1, math.min(#a, #b) do "
    "    local x, y = a:byte(i), b:byte(i) "
    "    if x ~= y then return x > y end "
    "  end "
    "  return #a > #b "
    "end "
    "local cur = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if cur then "
    "  local ok, o = pcall(cjson.decode, cur) "
    "  if ok and type(o) == 'table' and type(o.t) == 'number' and type(o.node) == 'string' then "
    "    local t = tonumber(ARGV[3]) "
    "    if o.t > t or (o.t == t and not gt(ARGV[4], o.node)) then return 0 end "
    "  end "
    "end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
    "redis.call('PUBLISH', KEYS[1], ARGV[2]) "
    "return 1";

/* A change that is no longer needed, deleted if it is still the same.  KEYS[1]: the hash. */
static const char cluster_prune_lua[] =
    "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then "
    "  return redis.call('HDEL', KEYS[1], ARGV[1]) "
    "end "
    "return 0";

/*
 * A heartbeat: this node's entry, stamped with Redis's clock (so that
 * the nodes' clocks do not matter to who is live), nodes silent for
 * CLUSTER_FORGET_MS dropped, and the registry returned.  KEYS: P:nodes,
 * P:nodes:seen; ARGV: node, info, forget ms.  {now, {node, info, ...},
 * {node, seen, ...}}.
 */
static const char cluster_heartbeat_lua[] =
    "local tm = redis.call('TIME') "
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000) "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
    "redis.call('HSET', KEYS[2], ARGV[1], now) "
    "local seen = redis.call('HGETALL', KEYS[2]) "
    "for i = 1, #seen, 2 do "
    "  local s = tonumber(seen[i + 1]) "
    "  if s == nil or now - s > tonumber(ARGV[3]) then "
    "    redis.call('HDEL', KEYS[1], seen[i]) "
    "    redis.call('HDEL', KEYS[2], seen[i]) "
    "  end "
    "end "
    "return {now, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}";

static struct {
	struct ev_loop *loop;
	struct shm *shm;
	const struct cycle *cy;         /* the current generation's */
	int on;                         /* a redis section */
	int disowned;                   /* a binary upgrade's new master shares for this node */
	int registered;                 /* the callbacks with redis.c, once */
	char digest[SHM_CLUSTER_DIGEST_LEN];
	uint64_t started;
	char ch_decisions[CLUSTER_CHANNEL_MAX];
	char ch_servers[CLUSTER_CHANNEL_MAX];
	char k_nodes[CLUSTER_CHANNEL_MAX];
	char k_seen[CLUSTER_CHANNEL_MAX];
	struct ev_timer heartbeat;
	struct ev_timer poll;
	uint8_t admin[SHM_BACKENDS_MAX];        /* last seen admin bits + 1; 0: not seen */
	struct shm_approval *list;              /* SHM_APPROVALS_MAX, for lookups */
	size_t nlist;                           /* in list */
	uint64_t list_gen;                      /* the table's generation list is of; 0: none */
	uint64_t ignored_logged_ms;
	uint64_t dropped_logged_ms;
	struct ev_timer merge;
	/* Nodes already warned about for another configuration: name and digest. */
	char warned[SHM_CLUSTER_NODES][SHM_APPROVAL_NODE_LEN + SHM_CLUSTER_DIGEST_LEN];
} cl;

/* --------------------------------------------------------- pure parts */

int
cluster_newer(uint64_t t, const char *node, uint64_t t0, const char *node0)
{
	return t > t0 || (t == t0 && strcmp(node, node0) > 0);
}

/* A decision's order: made here before it had one, it counts as made at "made". */
static uint64_t
cluster_decision_t(const struct shm_approval *a)
{
	return a->changed_ms != 0 ? a->changed_ms : a->made * 1000;
}

/* A decision's node: made here before the node had a name, this node's. */
static const char *
cluster_decision_node(const struct shm_approval *a)
{
	return a->node[0] != '\0' || redis_node() == NULL ? a->node : redis_node();
}

const char *
cluster_decision_key(const struct shm_approval *a, char *buf, size_t len)
{
	char net[INET6_ADDRSTRLEN], dest[ADMIN_APPROVAL_DEST_TEXT];

	if (inet_ntop(a->net.family, a->net.net, net, sizeof(net)) == NULL)
		snprintf(net, sizeof(net), "?");
	admin_approval_dest_format(a, dest, sizeof(dest));
	snprintf(buf, len, "%s/%u|%s|%s", net, (unsigned)a->net.prefix,
	    a->listener[0] != '\0' ? a->listener : "*", dest[0] != '\0' ? dest : "*");
	return buf;
}

char *
cluster_decision_json(const struct shm_approval *a, int revoked)
{
	json_t *o, *d;
	char *s;

	if ((d = admin_approval_json(a, 0)) == NULL)
		return NULL;
	/* The order is the change's; the decision keeps its own copy for the state file. */
	(void)json_object_del(d, "node");
	(void)json_object_del(d, "changed_ms");
	o = json_pack("{s:I, s:s, s:b, s:o}", "t", (json_int_t)cluster_decision_t(a),
	    "node", a->node, "revoked", revoked, "decision", d);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* The change's "t" and "node" of o; CT_ERROR with why. */
static int
cluster_change_order(const json_t *o, uint64_t *t, const char **node, char *why, size_t wlen)
{
	const json_t *jt = json_object_get(o, "t"), *jn = json_object_get(o, "node");

	if (!json_is_integer(jt) || json_integer_value(jt) <= 0) {
		snprintf(why, wlen, "no \"t\"");
		return CT_ERROR;
	}
	if (!json_is_string(jn) || json_string_length(jn) == 0 ||
	    json_string_length(jn) > CONF_REDIS_NODE_MAX) {
		snprintf(why, wlen, "no \"node\"");
		return CT_ERROR;
	}
	*t = (uint64_t)json_integer_value(jt);
	*node = json_string_value(jn);
	return CT_OK;
}

int
cluster_decision_parse(const char *json, size_t len, struct shm_approval *a, int *revoked,
    char *why, size_t wlen)
{
	const json_t *d, *r;
	json_error_t jerr;
	const char *node, *bad;
	uint64_t t;
	json_t *o;
	int rc = CT_ERROR;

	if ((o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(why, wlen, "not JSON: %s", jerr.text);
		return CT_ERROR;
	}
	if (!json_is_object(o)) {
		snprintf(why, wlen, "not a JSON object");
		goto out;
	}
	if (cluster_change_order(o, &t, &node, why, wlen) != CT_OK)
		goto out;
	r = json_object_get(o, "revoked");
	if (!json_is_boolean(r) || !json_is_object(d = json_object_get(o, "decision"))) {
		snprintf(why, wlen, "no \"revoked\" or \"decision\"");
		goto out;
	}
	if (admin_approval_from_json(d, a, why, wlen) != CT_OK)
		goto out;
	shm_approval_normalize(&a->net);
	a->changed_ms = t;
	snprintf(a->node, sizeof(a->node), "%s", node);
	*revoked = json_is_true(r);
	if ((bad = shm_approval_check(a)) != NULL) {
		snprintf(why, wlen, "%s", bad);
		goto out;
	}
	rc = CT_OK;
out:
	json_decref(o);
	return rc;
}

/* ----------------------------------------------------------- helpers */

static void
cluster_ignored(const char *what, const char *why)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	uint64_t now = approvals_now_ms();

	atomic_fetch_add_explicit(&c->ignored, 1, memory_order_relaxed);
	if (cl.ignored_logged_ms != 0 && now - cl.ignored_logged_ms < CLUSTER_IGNORED_LOG_MS)
		return;
	cl.ignored_logged_ms = now;
	log_warnx("cluster: %s: not what cuttle wrote there, or refused by Redis, ignored (%s); "
	    "such answers are logged at most once a minute", what, why);
}

static int
cluster_same_key(const struct shm_approval *a, const struct shm_approval *b)
{
	return a->net.family == b->net.family && a->net.prefix == b->net.prefix &&
	    memcmp(a->net.net, b->net.net, sizeof(a->net.net)) == 0 &&
	    strcmp(a->listener, b->listener) == 0 && strcmp(a->dest, b->dest) == 0 &&
	    a->port == b->port;
}

/*
 * The decisions stored now, in cl.list; how many (0 when the table kept
 * changing).  Copied again only when the table was written since: a
 * burst of changes (a merge, each echoed back on the channel) would
 * otherwise copy the whole table once per change.
 */
static size_t
cluster_list(void)
{
	uint64_t gen;
	size_t n;

	if (cl.list_gen != 0 && shm_approval_generation(cl.shm) == cl.list_gen)
		return cl.nlist;
	if (shm_approval_list(cl.shm, cl.list, &n, &gen) != CT_OK) {
		cl.list_gen = 0;
		return 0;
	}
	cl.nlist = n;
	/* Generation 0 is a table never written: copied each time, as it is empty. */
	cl.list_gen = gen;
	return n;
}

/* ----------------------------------------------------------- journal */

/*
 * The entry for a change of this key: the one there is, or a free one,
 * or the oldest that Redis has, or the oldest sent and not yet answered
 * (its write is on its way), or at last the oldest (its loss counted).
 */
static struct shm_cluster_change *
cluster_journal_slot(enum shm_cluster_kind kind, const struct shm_approval *a,
    const char *upstream, const char *server)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	struct shm_cluster_change *e, *free_ = NULL, *acked = NULL, *sent = NULL, *oldest = NULL;
	size_t i;

	for (i = 0; i < SHM_CLUSTER_JOURNAL; i++) {
		e = &c->journal[i];
		if (e->kind == 0) {
			if (free_ == NULL)
				free_ = e;
			continue;
		}
		if (e->kind == (uint32_t)kind && (kind == SHM_CLUSTER_DECISION ?
		    cluster_same_key(&e->decision, a) :
		    strcmp(e->upstream, upstream) == 0 && strcmp(e->server, server) == 0))
			return e;
		if (!e->waiting && (acked == NULL || e->seq < acked->seq))
			acked = e;
		if (e->waiting && e->inflight && (sent == NULL || e->seq < sent->seq))
			sent = e;
		if (oldest == NULL || e->seq < oldest->seq)
			oldest = e;
	}
	if (free_ != NULL)
		return free_;
	if (acked != NULL)
		return acked;
	if (sent != NULL)
		return sent;
	atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
	if (cl.dropped_logged_ms == 0 || approvals_now_ms() - cl.dropped_logged_ms >=
	    CLUSTER_IGNORED_LOG_MS) {
		cl.dropped_logged_ms = approvals_now_ms();
		log_warnx("cluster: the journal is full (%d changes waiting for Redis): the oldest "
		    "are dropped (logged at most once a minute)", SHM_CLUSTER_JOURNAL);
	}
	return oldest;
}

static void
cluster_journal_waiting(struct shm_cluster_change *e, int waiting)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);

	if (e->waiting && !waiting)
		atomic_fetch_sub_explicit(&c->waiting, 1, memory_order_relaxed);
	else if (!e->waiting && waiting)
		atomic_fetch_add_explicit(&c->waiting, 1, memory_order_relaxed);
	e->waiting = (uint32_t)waiting;
	e->inflight = 0;
}

static struct shm_cluster_change *
cluster_journal_decision(const struct shm_approval *a, int revoked, int waiting)
{
	struct shm_cluster_change *e = cluster_journal_slot(SHM_CLUSTER_DECISION, a, NULL, NULL);

	cluster_journal_waiting(e, 0);
	memset(e, 0, sizeof(*e));
	e->kind = SHM_CLUSTER_DECISION;
	e->revoked = (uint32_t)revoked;
	e->decision = *a;
	/* Made here while standalone: this node's, at the time it was made. */
	if (e->decision.node[0] == '\0')
		snprintf(e->decision.node, sizeof(e->decision.node), "%s", redis_node());
	e->seq = ++shm_cluster_get(cl.shm)->next_seq;
	cluster_journal_waiting(e, waiting);
	return e;
}

static struct shm_cluster_change *
cluster_journal_server(const char *upstream, const char *server, unsigned state, uint64_t t,
    const char *node, int waiting)
{
	struct shm_cluster_change *e = cluster_journal_slot(SHM_CLUSTER_SERVER, NULL, upstream,
	    server);

	cluster_journal_waiting(e, 0);
	memset(e, 0, sizeof(*e));
	e->kind = SHM_CLUSTER_SERVER;
	e->state = state;
	snprintf(e->upstream, sizeof(e->upstream), "%s", upstream);
	snprintf(e->server, sizeof(e->server), "%s", server);
	e->changed_ms = t;
	snprintf(e->node, sizeof(e->node), "%s", node);
	e->seq = ++shm_cluster_get(cl.shm)->next_seq;
	cluster_journal_waiting(e, waiting);
	return e;
}

/* The journal's entry for a decision's key, or NULL. */
static struct shm_cluster_change *
cluster_journal_find(const struct shm_approval *a)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	size_t i;

	for (i = 0; i < SHM_CLUSTER_JOURNAL; i++)
		if (c->journal[i].kind == SHM_CLUSTER_DECISION &&
		    cluster_same_key(&c->journal[i].decision, a))
			return &c->journal[i];
	return NULL;
}

static struct shm_cluster_change *
cluster_journal_find_server(const char *upstream, const char *server)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	size_t i;

	for (i = 0; i < SHM_CLUSTER_JOURNAL; i++)
		if (c->journal[i].kind == SHM_CLUSTER_SERVER &&
		    strcmp(c->journal[i].upstream, upstream) == 0 &&
		    strcmp(c->journal[i].server, server) == 0)
			return &c->journal[i];
	return NULL;
}

/* ------------------------------------------------------------ writing */

/* The arg of a write's answer: the journal entry and its seq. */
#define CLUSTER_ARG(e) ((void *)(uintptr_t)(((e)->seq << 10) | \
    (uint64_t)((e) - shm_cluster_get(cl.shm)->journal)))

/* The journal entry of arg, if it still holds the change it was sent with. */
static struct shm_cluster_change *
cluster_arg_entry(void *arg)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	uint64_t v = (uint64_t)(uintptr_t)arg;
	struct shm_cluster_change *e = &c->journal[v & 1023];

	return e->seq == v >> 10 ? e : NULL;
}

/* The hash and the field of a journal entry's key. */
static const char *
cluster_field(const struct shm_cluster_change *e, char *field, size_t len)
{
	if (e->kind == SHM_CLUSTER_DECISION) {
		cluster_decision_key(&e->decision, field, len);
		return cl.ch_decisions;
	}
	snprintf(field, len, "%s|%s", e->upstream, e->server);
	return cl.ch_servers;
}

static void cluster_decision_in(const char *json, size_t len, size_t n, int merge);
static void cluster_server_in(const char *json, size_t len, int merge);

/* What Redis holds for a key whose change it kept over ours: adopted, if later than what is here. */
static void
cluster_refetched(const redisReply *reply, const char *err, void *arg)
{
	struct shm_cluster_change *e = cluster_arg_entry(arg);

	if (err != NULL || e == NULL || cl.disowned || reply->type != REDIS_REPLY_STRING)
		return;
	if (e->kind == SHM_CLUSTER_DECISION)
		cluster_decision_in(reply->str, reply->len, cluster_list(), 0);
	else
		cluster_server_in(reply->str, reply->len, 0);
}

static void
cluster_sent(const redisReply *reply, const char *err, void *arg)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	struct shm_cluster_change *e = cluster_arg_entry(arg);
	char field[CLUSTER_KEY_MAX];
	const char *hash;

	if (err != NULL || reply->type != REDIS_REPLY_INTEGER) {
		/* Left waiting: sent again with the heartbeat, or by the next merge. */
		if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
			cluster_ignored("a change sent", reply->str);
		if (e != NULL)
			e->inflight = 0;
		return;
	}
	atomic_fetch_add_explicit(&c->sent, 1, memory_order_relaxed);
	if (e == NULL)
		return;
	cluster_journal_waiting(e, 0);
	/*
	 * 0: Redis holds a later change of the key, made meanwhile, or by a
	 * node whose clock is ahead: that one wins everywhere, here too.
	 */
	if (reply->integer == 0) {
		hash = cluster_field(e, field, sizeof(field));
		(void)redis_command(cluster_refetched, arg, "HGET %s %s", hash, field);
	}
}

/* Writes a journal entry to Redis, if the link is READY; else it waits. */
static void
cluster_send(struct shm_cluster_change *e)
{
	char field[CLUSTER_KEY_MAX], t[24];
	const char *hash, *node;
	char *value;
	json_t *o;

	if (redis_state() != SHM_REDIS_READY || cl.disowned)
		return;
	hash = cluster_field(e, field, sizeof(field));
	if (e->kind == SHM_CLUSTER_DECISION) {
		value = cluster_decision_json(&e->decision, (int)e->revoked);
		snprintf(t, sizeof(t), "%llu", (unsigned long long)cluster_decision_t(&e->decision));
		node = e->decision.node;
	} else {
		o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "t", (json_int_t)e->changed_ms,
		    "node", e->node, "upstream", e->upstream, "server", e->server, "state",
		    e->state == SHM_BACKEND_ADMIN_DRAIN ? "drain" :
		    e->state == SHM_BACKEND_ADMIN_DISABLED ? "disabled" : "enabled");
		value = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		snprintf(t, sizeof(t), "%llu", (unsigned long long)e->changed_ms);
		node = e->node;
	}
	if (value == NULL) {
		log_warnx("cluster: out of memory: a change waits for the next merge");
		return;
	}
	if (redis_command(cluster_sent, CLUSTER_ARG(e), "EVAL %s 1 %s %s %s %s %s",
	    cluster_lww_lua, hash, field, value, t, node) == CT_OK)
		e->inflight = 1;
	else
		log_warnx("cluster: a change could not be sent; it waits for the next merge");
	free(value);
}

void
cluster_decision_made(const struct shm_approval *a)
{
	if (!cl.on || cl.disowned)
		return;
	cluster_send(cluster_journal_decision(a, 0, 1));
}

/* ------------------------------------------------------------ adopting */

/*
 * What is here for a's key: the decision stored (*d, in cl.list), unless
 * the journal holds a later revoke of it (*e, with *d NULL).  0: nothing.
 */
static int
cluster_local(const struct shm_approval *a, size_t n, const struct shm_approval **d,
    struct shm_cluster_change **e)
{
	size_t i;

	*d = NULL;
	*e = cluster_journal_find(a);
	for (i = 0; i < n && *d == NULL; i++)
		if (cluster_same_key(&cl.list[i], a))
			*d = &cl.list[i];
	if (*d != NULL && *e != NULL && (*e)->revoked && cluster_newer(
	    cluster_decision_t(&(*e)->decision), (*e)->decision.node, cluster_decision_t(*d),
	    cluster_decision_node(*d)))
		*d = NULL;
	return *d != NULL || *e != NULL;
}

/*
 * When a change of a's key made here at now_ms is: now, or just after
 * the change it replaces, should that be later by another node's clock,
 * so that what an operator does here wins over what this node knew.
 */
uint64_t
cluster_decision_stamp(const struct shm_approval *a, uint64_t now_ms)
{
	const struct shm_approval *d;
	struct shm_cluster_change *e;

	if (!cl.on || !cluster_local(a, cluster_list(), &d, &e))
		return now_ms;
	return CT_MAX(now_ms, cluster_decision_t(d != NULL ? d : &e->decision) + 1);
}

void
cluster_decision_revoked(const struct shm_approval *a, uint64_t now_ms)
{
	struct shm_cluster_change *e;
	struct shm_approval t = *a;

	if (!cl.on || cl.disowned)
		return;
	t.changed_ms = CT_MAX(now_ms, cluster_decision_t(a) + 1);
	if ((e = cluster_journal_find(a)) != NULL)
		t.changed_ms = CT_MAX(t.changed_ms, cluster_decision_t(&e->decision) + 1);
	snprintf(t.node, sizeof(t.node), "%s", redis_node());
	cluster_send(cluster_journal_decision(&t, 1, 1));
}

/*
 * A change of a decision from Redis: from the channel, or (merge) from
 * the hash when the link became READY, where a later one here is sent.
 */
static void
cluster_decision_in(const char *json, size_t len, size_t n, int merge)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	const struct shm_approval *d;
	struct shm_cluster_change *e;
	struct shm_approval a;
	const struct shm_approval *mine;
	const char *mnode;
	char why[256];
	int revoked;

	if (cluster_decision_parse(json, len, &a, &revoked, why, sizeof(why)) != CT_OK) {
		cluster_ignored(cl.ch_decisions, why);
		return;
	}
	if (cluster_local(&a, n, &d, &e)) {
		mine = d != NULL ? d : &e->decision;
		mnode = cluster_decision_node(mine);
		if (!cluster_newer(a.changed_ms, a.node, cluster_decision_t(mine), mnode)) {
			if (!cluster_newer(cluster_decision_t(mine), mnode, a.changed_ms, a.node)) {
				/* The same change: Redis has it. */
				if (e != NULL)
					cluster_journal_waiting(e, 0);
			} else if (merge) {
				if (d != NULL)
					e = cluster_journal_decision(d, 0, 1);
				else
					cluster_journal_waiting(e, 1);
				cluster_send(e);
			} else {
				atomic_fetch_add_explicit(&c->stale, 1, memory_order_relaxed);
			}
			return;
		}
	} else if (revoked) {
		/* Nothing here to take back: remembered, so that an older copy cannot bring it back. */
		(void)cluster_journal_decision(&a, 1, 0);
		return;
	}
	if (!revoked && a.expires != 0 && a.expires <= (uint64_t)time(NULL))
		return;
	if (approvals_adopt(&a, revoked) == CT_OK) {
		(void)cluster_journal_decision(&a, revoked, 0);
		atomic_fetch_add_explicit(&c->applied, 1, memory_order_relaxed);
	}
}

static void
cluster_decision_message(const char *channel, const char *msg, size_t len, void *arg)
{
	(void)channel;
	(void)arg;
	if (cl.disowned)
		return;
	cluster_decision_in(msg, len, cluster_list(), 0);
}

/* The backend slot of upstream/server in the current generation, or -1. */
static int
cluster_backend(const char *upstream, const char *server)
{
	const struct conf *conf;
	size_t i, k;

	if (cl.cy == NULL)
		return -1;
	conf = cl.cy->conf;
	for (i = 0; i < conf->nupstreams; i++) {
		if (strcmp(conf->upstreams[i].name, upstream) != 0)
			continue;
		for (k = 0; k < conf->upstreams[i].nservers; k++)
			if (strcmp(conf->upstreams[i].servers[k].address, server) == 0)
				return cl.cy->upstreams[i].backend[k];
		return -1;
	}
	return -1;
}

static const char *const cluster_state_names[] = {
	[SHM_BACKEND_ADMIN_ENABLED] = "enabled",
	[SHM_BACKEND_ADMIN_DRAIN] = "drain",
	[SHM_BACKEND_ADMIN_DISABLED] = "disabled",
};

static void cluster_poll(void);

/* A change of a server's state by another node. */
static void
cluster_server_in(const char *json, size_t len, int merge)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	struct shm_cluster_change *e;
	const char *node, *up, *srv, *st;
	unsigned state;
	json_error_t jerr;
	char why[128];
	uint64_t t;
	json_t *o;
	int slot;

	if ((o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		cluster_ignored("the server states", jerr.text);
		return;
	}
	if (!json_is_object(o) || cluster_change_order(o, &t, &node, why, sizeof(why)) != CT_OK ||
	    (up = json_string_value(json_object_get(o, "upstream"))) == NULL ||
	    (srv = json_string_value(json_object_get(o, "server"))) == NULL ||
	    (st = json_string_value(json_object_get(o, "state"))) == NULL ||
	    strlen(up) >= SHM_NAME_LEN || strlen(srv) >= SHM_CLUSTER_SERVER_LEN) {
		cluster_ignored("the server states", "not a server's state");
		json_decref(o);
		return;
	}
	for (state = 0; state < CT_NELEM(cluster_state_names); state++)
		if (strcmp(st, cluster_state_names[state]) == 0)
			break;
	if (state == CT_NELEM(cluster_state_names)) {
		cluster_ignored("the server states", "an unknown state");
		json_decref(o);
		return;
	}
	/* What an operator did here since the last look goes first, to be compared with. */
	cluster_poll();
	e = cluster_journal_find_server(up, srv);
	if (e != NULL && !cluster_newer(t, node, e->changed_ms, e->node)) {
		if (merge && cluster_newer(e->changed_ms, e->node, t, node))
			cluster_send(e);
		else if (!cluster_newer(e->changed_ms, e->node, t, node))
			cluster_journal_waiting(e, 0);
		if (!merge)
			atomic_fetch_add_explicit(&c->stale, 1, memory_order_relaxed);
		json_decref(o);
		return;
	}
	(void)cluster_journal_server(up, srv, state, t, node, 0);
	if ((slot = cluster_backend(up, srv)) >= 0) {
		struct shm_backend *b = shm_backend_get(cl.shm, slot);

		if ((atomic_load(&b->state) & SHM_BACKEND_ADMIN_MASK) != state) {
			shm_backend_admin_set(b, state);
			log_notice("cluster: upstream \"%s\" server %s: %s, by node \"%s\"", up, srv,
			    cluster_state_names[state], node);
		}
		cl.admin[slot] = (uint8_t)(state + 1);
		atomic_fetch_add_explicit(&c->applied, 1, memory_order_relaxed);
	}
	json_decref(o);
}

static void
cluster_server_message(const char *channel, const char *msg, size_t len, void *arg)
{
	(void)channel;
	(void)arg;
	if (cl.disowned)
		return;
	cluster_server_in(msg, len, 0);
}

/* -------------------------------------------------------------- merge */

/* Was field among the first n (field, value) pairs of an HGETALL reply? */
static int
cluster_in_reply(const redisReply *r, const char *field)
{
	size_t i;

	for (i = 0; r != NULL && i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, field) == 0)
			return 1;
	return 0;
}

static int
cluster_hash_reply(const redisReply *r, const char *err, const char *what)
{
	size_t i;

	if (err != NULL)
		return CT_ERROR;
	if (r->type == REDIS_REPLY_ERROR) {
		cluster_ignored(what, r->str);
		return CT_ERROR;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		cluster_ignored(what, "not a hash");
		return CT_ERROR;
	}
	for (i = 0; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING) {
			cluster_ignored(what, "not a hash of strings");
			return CT_ERROR;
		}
	return CT_OK;
}

/*
 * A change in Redis that no node needs any more: a revoke older than
 * CLUSTER_REVOKED_KEEP_MS, a decision expired CLUSTER_EXPIRED_KEEP_S ago.
 * Without this the hash, read whole at each merge, would only grow.
 */
static int
cluster_prunable(const char *json, size_t len)
{
	struct shm_approval a;
	int revoked;
	char why[256];
	uint64_t now = approvals_now_ms();

	if (cluster_decision_parse(json, len, &a, &revoked, why, sizeof(why)) != CT_OK)
		return 0;
	if (revoked)
		return a.changed_ms + CLUSTER_REVOKED_KEEP_MS < now;
	return a.expires != 0 && (a.expires + CLUSTER_EXPIRED_KEEP_S) * 1000 < now;
}

static void
cluster_pruned(const redisReply *reply, const char *err, void *arg)
{
	(void)arg;
	if (err == NULL && reply->type == REDIS_REPLY_ERROR)
		cluster_ignored(cl.ch_decisions, reply->str);
}

static void
cluster_merge_decisions(const redisReply *r, const char *err, void *arg)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	char field[CLUSTER_KEY_MAX];
	size_t i, n;

	(void)arg;
	if (cluster_hash_reply(r, err, cl.ch_decisions) != CT_OK)
		return;
	n = cluster_list();
	for (i = 0; i < r->elements; i += 2) {
		if (cluster_prunable(r->element[i + 1]->str, r->element[i + 1]->len)) {
			(void)redis_command(cluster_pruned, NULL, "EVAL %s 1 %s %s %s",
			    cluster_prune_lua, cl.ch_decisions, r->element[i]->str,
			    r->element[i + 1]->str);
			continue;
		}
		cluster_decision_in(r->element[i + 1]->str, r->element[i + 1]->len, n, 1);
	}
	/* What Redis lacks: decisions stored here, and revokes in the journal. */
	n = cluster_list();
	for (i = 0; i < n; i++) {
		if (cluster_in_reply(r, cluster_decision_key(&cl.list[i], field, sizeof(field))))
			continue;
		if (cl.list[i].expires != 0 && cl.list[i].expires <= (uint64_t)time(NULL))
			continue;
		atomic_fetch_add_explicit(&c->repopulated, 1, memory_order_relaxed);
		cluster_send(cluster_journal_decision(&cl.list[i], 0, 1));
	}
	for (i = 0; i < SHM_CLUSTER_JOURNAL; i++) {
		struct shm_cluster_change *e = &c->journal[i];

		if (e->kind != SHM_CLUSTER_DECISION || !e->revoked ||
		    cluster_in_reply(r, cluster_decision_key(&e->decision, field, sizeof(field))))
			continue;
		/* One old enough to be pruned there is not written back, to be pruned again. */
		if (cluster_decision_t(&e->decision) + CLUSTER_REVOKED_KEEP_MS < approvals_now_ms()) {
			cluster_journal_waiting(e, 0);
			continue;
		}
		cluster_journal_waiting(e, 1);
		cluster_send(e);
	}
	atomic_fetch_add_explicit(&c->merges, 1, memory_order_relaxed);
}

static void
cluster_merge_servers(const redisReply *r, const char *err, void *arg)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	char field[SHM_NAME_LEN + SHM_CLUSTER_SERVER_LEN + 2];
	size_t i;

	(void)arg;
	if (cluster_hash_reply(r, err, cl.ch_servers) != CT_OK)
		return;
	cluster_poll();
	for (i = 0; i < r->elements; i += 2)
		cluster_server_in(r->element[i + 1]->str, r->element[i + 1]->len, 1);
	for (i = 0; i < SHM_CLUSTER_JOURNAL; i++) {
		struct shm_cluster_change *e = &c->journal[i];

		if (e->kind != SHM_CLUSTER_SERVER)
			continue;
		snprintf(field, sizeof(field), "%s|%s", e->upstream, e->server);
		if (cluster_in_reply(r, field))
			continue;
		atomic_fetch_add_explicit(&c->repopulated, 1, memory_order_relaxed);
		cluster_journal_waiting(e, 1);
		cluster_send(e);
	}
}

static void
cluster_merge_servers_start(void)
{
	if (redis_state() == SHM_REDIS_READY &&
	    redis_command(cluster_merge_servers, NULL, "HGETALL %s", cl.ch_servers) != CT_OK)
		log_warnx("cluster: cannot read the server states");
}

static void cluster_heartbeat_send(void);

/*
 * A full merge now and then besides: it prunes what no node needs, and
 * mends whatever two nodes came to disagree on without an outage.
 */
static void
cluster_merge_timer(struct ev_loop *loop, struct ev_timer *t)
{
	if (!cl.disowned && redis_state() == SHM_REDIS_READY &&
	    redis_command(cluster_merge_decisions, NULL, "HGETALL %s", cl.ch_decisions) == CT_OK)
		cluster_merge_servers_start();
	if (ev_timer_start(loop, t, CLUSTER_MERGE_MS) != CT_OK)
		log_alert("cluster: cannot arm the merge timer");
}

/* The link is READY: merge both ways, and say who we are. */
static void
cluster_ready(void *arg)
{
	(void)arg;
	if (!cl.on || cl.disowned)
		return;
	if (redis_command(cluster_merge_decisions, NULL, "HGETALL %s", cl.ch_decisions) != CT_OK)
		log_warnx("cluster: cannot read the decisions");
	cluster_merge_servers_start();
	cluster_heartbeat_send();
}

/* ----------------------------------------------------------- registry */

static void
cluster_text(char *dst, size_t len, const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(dst, len, "%s", s != NULL ? s : "");
}

/* Warns once per node and digest of a live node that runs another configuration. */
static void
cluster_digest_warn(const struct shm_cluster_node *n)
{
	char memo[SHM_APPROVAL_NODE_LEN + SHM_CLUSTER_DIGEST_LEN];
	size_t i, free_ = SHM_CLUSTER_NODES;

	snprintf(memo, sizeof(memo), "%s %s", n->name, n->digest);
	for (i = 0; i < SHM_CLUSTER_NODES; i++) {
		if (strcmp(cl.warned[i], memo) == 0)
			return;
		if (cl.warned[i][0] == '\0' && free_ == SHM_CLUSTER_NODES)
			free_ = i;
	}
	if (free_ < SHM_CLUSTER_NODES)
		snprintf(cl.warned[free_], sizeof(cl.warned[free_]), "%s", memo);
	log_warnx("cluster: node \"%s\" runs another configuration (digest %s; this node's is "
	    "%s)", n->name, n->digest[0] != '\0' ? n->digest : "unknown", cl.digest);
}

/* Printable ASCII, and short enough to be a node's name (conf/redis.c checks more). */
static int
cluster_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CONF_REDIS_NODE_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int
cluster_node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct shm_cluster_node *)a)->name,
	    ((const struct shm_cluster_node *)b)->name);
}

static void
cluster_heartbeat_reply(const redisReply *r, const char *err, void *arg)
{
	static struct shm_cluster_view v;
	const redisReply *info, *seen;
	struct shm_cluster_node *n;
	json_error_t jerr;
	size_t i, k;
	json_t *o;

	(void)arg;
	if (err != NULL)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		cluster_ignored(cl.k_nodes, r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    cluster_hash_reply(r->element[1], NULL, cl.k_nodes) != CT_OK ||
	    cluster_hash_reply(r->element[2], NULL, cl.k_seen) != CT_OK) {
		cluster_ignored(cl.k_nodes, "not the heartbeat's answer");
		return;
	}
	info = r->element[1];
	seen = r->element[2];
	memset(&v, 0, sizeof(v));
	v.now_ms = (uint64_t)r->element[0]->integer;
	for (i = 0; i + 1 < info->elements; i += 2) {
		uint64_t s = 0;

		/* A name no node could have (a foreign writer's) is not listed. */
		if (!cluster_name_ok(info->element[i]->str, info->element[i]->len)) {
			cluster_ignored(cl.k_nodes, "a node's name is not one a node may have");
			continue;
		}
		for (k = 0; k + 1 < seen->elements; k += 2)
			if (strcmp(seen->element[k]->str, info->element[i]->str) == 0)
				s = strtoull(seen->element[k + 1]->str, NULL, 10);
		v.count++;
		if (s + CLUSTER_LIVE_MS >= v.now_ms)
			v.live++;
		if (v.count > SHM_CLUSTER_NODES)
			continue;
		n = &v.node[v.count - 1];
		snprintf(n->name, sizeof(n->name), "%s", info->element[i]->str);
		n->seen_ms = s;
		n->live = s + CLUSTER_LIVE_MS >= v.now_ms;
		n->self = strcmp(n->name, redis_node()) == 0;
		if ((o = json_loadb(info->element[i + 1]->str, info->element[i + 1]->len, 0, &jerr)) ==
		    NULL || !json_is_object(o)) {
			json_decref(o);
			cluster_ignored(cl.k_nodes, "a node's entry is not a JSON object");
			continue;
		}
		cluster_text(n->version, sizeof(n->version), o, "version");
		cluster_text(n->digest, sizeof(n->digest), o, "digest");
		cluster_text(n->admin, sizeof(n->admin), o, "admin");
		n->started = (uint64_t)json_integer_value(json_object_get(o, "started"));
		json_decref(o);
		if (n->live && !n->self && strcmp(n->digest, cl.digest) != 0) {
			v.differ++;
			cluster_digest_warn(n);
		}
	}
	qsort(v.node, CT_MIN(v.count, SHM_CLUSTER_NODES), sizeof(v.node[0]), cluster_node_cmp);
	shm_cluster_view_write(cl.shm, &v);
}

static void
cluster_heartbeat_send(void)
{
	const char *admin = cl.cy != NULL && cl.cy->conf->admin.listen != NULL ?
	    cl.cy->conf->admin.listen : "";
	char forget[24];
	json_t *o;
	char *info;

	if (redis_state() != SHM_REDIS_READY || cl.disowned)
		return;
	o = json_pack("{s:s, s:s, s:s, s:I}", "version", CT_VERSION, "digest", cl.digest,
	    "admin", admin, "started", (json_int_t)cl.started);
	if (o == NULL || (info = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return;
	}
	json_decref(o);
	snprintf(forget, sizeof(forget), "%llu", (unsigned long long)CLUSTER_FORGET_MS);
	if (redis_command(cluster_heartbeat_reply, NULL, "EVAL %s 2 %s %s %s %s %s",
	    cluster_heartbeat_lua, cl.k_nodes, cl.k_seen, redis_node(), info, forget) != CT_OK)
		log_warnx("cluster: cannot send the heartbeat");
	free(info);
}

/*
 * Changes still waiting while the link is ready: their write failed
 * (Redis refused it, or the link dropped after it was sent).  Sent
 * again, a few at a time; a change Redis has already is a no-op there.
 */
static void
cluster_journal_retry(void)
{
	struct shm_cluster *c = shm_cluster_get(cl.shm);
	size_t i, n = 0;

	if (redis_state() != SHM_REDIS_READY || cl.disowned || atomic_load(&c->waiting) == 0)
		return;
	for (i = 0; i < SHM_CLUSTER_JOURNAL && n < CLUSTER_RETRY_MAX; i++)
		if (c->journal[i].kind != 0 && c->journal[i].waiting) {
			cluster_send(&c->journal[i]);
			n++;
		}
}

static void
cluster_heartbeat_timer(struct ev_loop *loop, struct ev_timer *t)
{
	cluster_heartbeat_send();
	cluster_journal_retry();
	if (ev_timer_start(loop, t, CLUSTER_HEARTBEAT_MS) != CT_OK)
		log_alert("cluster: cannot arm the heartbeat timer");
}

/* ------------------------------------------------------ server states */

/*
 * An operator changed a server's state here: journalled and sent, at
 * now, or just after the change it replaces, should another node's
 * clock have made that one later.
 */
static void
cluster_poll_changed(const char *upstream, const char *server, unsigned admin)
{
	struct shm_cluster_change *e = cluster_journal_find_server(upstream, server);
	uint64_t t = approvals_now_ms();

	if (e != NULL)
		t = CT_MAX(t, e->changed_ms + 1);
	cluster_send(cluster_journal_server(upstream, server, admin, t, redis_node(), 1));
}

/* Server states the admin process changed since the last look: journalled and sent. */
static void
cluster_poll(void)
{
	const struct conf *conf;
	unsigned admin;
	size_t i, k;
	int slot;

	if (cl.cy == NULL || cl.disowned)
		return;
	conf = cl.cy->conf;
	for (i = 0; i < conf->nupstreams; i++)
		for (k = 0; k < conf->upstreams[i].nservers; k++) {
			if ((slot = cl.cy->upstreams[i].backend[k]) < 0)
				continue;
			admin = atomic_load(&shm_backend_get(cl.shm, slot)->state) &
			    SHM_BACKEND_ADMIN_MASK;
			if (cl.admin[slot] == admin + 1)
				continue;
			/* The first look at a slot learns it; a change after is an operator's. */
			if (cl.admin[slot] != 0)
				cluster_poll_changed(conf->upstreams[i].name,
				    conf->upstreams[i].servers[k].address, admin);
			cl.admin[slot] = (uint8_t)(admin + 1);
		}
}

static void
cluster_poll_timer(struct ev_loop *loop, struct ev_timer *t)
{
	cluster_poll();
	if (ev_timer_start(loop, t, CLUSTER_POLL_MS) != CT_OK)
		log_alert("cluster: cannot arm the timer of server states");
}

/* ----------------------------------------------------------- lifecycle */

/* The first 16 hex digits of the SHA-256 of the file at path; "" when unreadable. */
static void
cluster_digest(const char *path)
{
	unsigned char buf[16384], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;
	EVP_MD_CTX *ctx;
	ssize_t n;
	int fd, ok = 0;

	cl.digest[0] = '\0';
	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if ((ctx = EVP_MD_CTX_new()) != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		ok = 1;
		while (ok && (n = read(fd, buf, sizeof(buf))) != 0) {
			if (n == -1 && errno == EINTR)
				continue;
			ok = n > 0 && EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
		}
		ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 8;
	}
	EVP_MD_CTX_free(ctx);
	close(fd);
	for (i = 0; ok && i < 8; i++)
		snprintf(cl.digest + 2 * i, 3, "%02x", md[i]);
}

void
cluster_start(struct ev_loop *loop, struct shm *shm, const struct conf *conf, const char *path)
{
	const char *p;

	cl.loop = loop;
	cl.shm = shm;
	cl.started = (uint64_t)time(NULL);
	ev_timer_init(&cl.heartbeat, cluster_heartbeat_timer, NULL);
	ev_timer_init(&cl.poll, cluster_poll_timer, NULL);
	ev_timer_init(&cl.merge, cluster_merge_timer, NULL);
	cluster_digest(path);
	if (!conf->redis.enabled || (p = redis_prefix()) == NULL)
		return;
	if ((cl.list = calloc(SHM_APPROVALS_MAX, sizeof(*cl.list))) == NULL)
		fatal("out of memory");
	snprintf(cl.ch_decisions, sizeof(cl.ch_decisions), "%s:decisions", p);
	snprintf(cl.ch_servers, sizeof(cl.ch_servers), "%s:servers", p);
	snprintf(cl.k_nodes, sizeof(cl.k_nodes), "%s:nodes", p);
	snprintf(cl.k_seen, sizeof(cl.k_seen), "%s:nodes:seen", p);
	if (redis_subscribe(cl.ch_decisions, cluster_decision_message, NULL) != CT_OK ||
	    redis_subscribe(cl.ch_servers, cluster_server_message, NULL) != CT_OK ||
	    redis_on_ready(cluster_ready, NULL) != CT_OK)
		fatalx("cluster: cannot register with the Redis link");
	cl.on = 1;
	if (ev_timer_start(loop, &cl.heartbeat, CLUSTER_HEARTBEAT_MS) != CT_OK ||
	    ev_timer_start(loop, &cl.poll, CLUSTER_POLL_MS) != CT_OK ||
	    ev_timer_start(loop, &cl.merge, CLUSTER_MERGE_MS) != CT_OK)
		fatalx("cluster: cannot arm the timers");
}

void
cluster_cycle(const struct cycle *cy, const char *path)
{
	const struct conf_redis *r = &cy->conf->redis;

	/*
	 * What an operator changed under the generation before is sent first;
	 * then every slot is learnt anew, since a slot freed by the reload may
	 * now be another server's.
	 */
	if (cl.on)
		cluster_poll();
	memset(cl.admin, 0, sizeof(cl.admin));
	cl.cy = cy;
	if (cl.loop == NULL)
		return;
	cluster_digest(path);
	/* Subscriptions are for the master's life: the cluster it joined at start is the one. */
	if (r->enabled && !cl.on)
		log_warnx("cluster: a redis section added by a reload links this node to Redis, "
		    "but it shares decisions and server states only after a restart");
	else if (cl.on && (!r->enabled || strncmp(cl.ch_servers, r->prefix, strlen(r->prefix)) != 0 ||
	    strcmp(cl.ch_servers + strlen(r->prefix), ":servers") != 0))
		log_warnx("cluster: a new or removed redis prefix takes effect at the next restart; "
		    "until then this node shares its changes in the cluster it joined");
	/* Servers new to this node take the cluster's state. */
	if (cl.on)
		cluster_merge_servers_start();
}

void
cluster_disown(void)
{
	cl.disowned = 1;
}

void
cluster_reown(void)
{
	if (!cl.disowned)
		return;
	cl.disowned = 0;
	memset(cl.admin, 0, sizeof(cl.admin));
	/* What came meanwhile was left to the new master, which is gone: merge again. */
	if (redis_state() == SHM_REDIS_READY)
		cluster_ready(NULL);
}

void
cluster_stop(void)
{
	if (cl.loop != NULL) {
		ev_timer_stop(cl.loop, &cl.heartbeat);
		ev_timer_stop(cl.loop, &cl.poll);
		ev_timer_stop(cl.loop, &cl.merge);
	}
	free(cl.list);
	cl.list = NULL;
	cl.list_gen = 0;
	cl.on = 0;
	cl.cy = NULL;
}

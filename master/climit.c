/*
 * Master: rate limits shared by the nodes of a cluster (master/climit.h).
 *
 * One round at a time: the timer does nothing while a round waits for
 * its reply, and redis.c counts a reply later than command_timeout as
 * Redis down, which fails the round.  A round's counts are taken from
 * the zones when it is sent; a round that fails loses them, and so do
 * the rounds a node skips while it decides alone: use of the cluster's
 * rate that others never hear of, within what the node's share allowed.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/climit.h"
#include "master/redis.h"
#include "shm/limit.h"

/* A round's text: a line per limit, then one per key (see the script). */
#define CLIMIT_ZONE_LINE    (CONF_NAME_MAX + 48)
#define CLIMIT_KEY_LINE     32
#define CLIMIT_PAYLOAD_MAX  (CONF_LIMITS_MAX * CLIMIT_ZONE_LINE + CLIMIT_KEYS_MAX * CLIMIT_KEY_LINE)

/*
 * ARGV[1] the prefix, ARGV[2] the node, ARGV[3] the round: "Z LIMIT
 * LIVE_MS TTL_MS" opens a limit, "HASH COUNT" follows for each of its
 * keys.  The answer: per limit, {live nodes, then others and age per
 * key}.  Redis's clock, not the nodes', says when: their clocks may
 * differ, and only durations leave the script.  Data that is not what
 * the script writes is left as it is and answered with -1.
 */
static const char climit_script[] =
    "local pre, node = ARGV[1] .. ':climit:', ARGV[2]\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local out, zone, base, ttl = {}, nil, nil, nil\n"
    "local function num(v) return v and string.match(v, '^%d+$') and tonumber(v) end\n"
    "for line in string.gmatch(ARGV[3], '[^\\n]+') do\n"
    "  local name, live, zttl = string.match(line, '^Z ([%w_.-]+) (%d+) (%d+)$')\n"
    "  if name then\n"
    "    base, ttl = pre .. name .. ':', tonumber(zttl)\n"
    "    local set, n = base .. 'nodes', -1\n"
    "    local ty = redis.call('TYPE', set)['ok']\n"
    "    if ty == 'zset' or ty == 'none' then\n"
    "      redis.call('ZADD', set, now, node)\n"
    "      redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. (now - tonumber(live)))\n"
    "      redis.call('PEXPIRE', set, ttl)\n"
    "      n = redis.call('ZCARD', set)\n"
    "    end\n"
    "    zone = {n}\n"
    "    out[#out + 1] = zone\n"
    "  else\n"
    "    local h, c = string.match(line, '^(%x+) (%d+)$')\n"
    "    if not zone or not h or #h ~= 16 then\n"
    "      return redis.error_reply('ERR climit: malformed round')\n"
    "    end\n"
    "    local k, others, age = base .. 'k:' .. h, -1, 0\n"
    "    local ty = redis.call('TYPE', k)['ok']\n"
    "    if ty == 'hash' or ty == 'none' then\n"
    "      local v = redis.call('HMGET', k, 't', 's', 'n:' .. node)\n"
    "      local total, start, seen, at = num(v[1]), num(v[2]), nil, nil\n"
    "      if v[3] then seen, at = string.match(v[3], '^(%d+):(%d+)$') end\n"
    "      if not ((v[1] and not total) or (v[2] and not start) or (v[3] and not seen)) then\n"
    "        total, start = total or 0, start or now\n"
    "        if seen then\n"
    "          others, age = total - tonumber(seen), now - tonumber(at)\n"
    "        else\n"
    "          others, age = total, now - start\n"
    "        end\n"
    "        if others < 0 then others = 0 end\n"
    "        if age < 0 then age = 0 end\n"
    "        total = total + tonumber(c)\n"
    "        redis.call('HSET', k, 't', string.format('%d', total), 's',\n"
    "          string.format('%d', start), 'n:' .. node, string.format('%d:%d', total, now))\n"
    "        redis.call('PEXPIRE', k, ttl)\n"
    "      end\n"
    "    end\n"
    "    zone[#zone + 1] = others\n"
    "    zone[#zone + 1] = age\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Kinds of bad data in Redis, each logged at most once per CLIMIT_COMPLAIN_MS. */
enum climit_complaint {
	CLIMIT_BAD_SECRET,          /* PREFIX:climit:secret is not 32 hex digits */
	CLIMIT_BAD_NODES,           /* a nodes set is not a sorted set */
	CLIMIT_BAD_KEY,             /* a key's state is not what the script writes */
	CLIMIT_BAD_REPLY,           /* the reply is not of the round's shape */
	CLIMIT_BAD_ROUND,           /* an error reply to a round */
	CLIMIT_BAD_SCRIPT,          /* SCRIPT LOAD refused */
	CLIMIT_COMPLAINTS
};

/* A limit of scope cluster of the running configuration. */
struct climit_zone {
	size_t limit;               /* in conf->limits */
	struct shm_limit *z;
	size_t cursor;              /* the bitmap word its next drain starts at */
	size_t first, n;            /* its keys in this round, in cl.taken */
};

static struct {
	struct ev_loop *loop;
	struct shm *shm;
	const struct conf *conf;
	int started;
	struct ev_timer timer;
	int hooked;                 /* redis_on_ready() registered */
	struct climit_zone zones[CONF_LIMITS_MAX];
	size_t nzones;
	size_t next;                /* the zone that goes first in the next round */
	uintptr_t gen;              /* moves with the zones: a reply to an older round is dropped */
	int inflight;
	int evaled;                 /* this round was sent again as EVAL after NOSCRIPT */
	int script;                 /* Redis has the script: sha holds its SHA1 */
	int script_asking;
	uint64_t script_next;       /* the next SCRIPT LOAD, after a refusal */
	char sha[41];
	int key_have;               /* key is the cluster's, confirmed since Redis came up */
	int key_known;              /* key holds one adopted once */
	int key_asking;
	uint64_t key_next;          /* the next SET NX GET */
	uint64_t key[2];
	size_t order[CONF_LIMITS_MAX];  /* the zones of this round, in the order sent */
	size_t nkeys[CONF_LIMITS_MAX];
	size_t norder;
	struct shm_limit_taken taken[CLIMIT_KEYS_MAX];
	size_t ntaken;
	char payload[CLIMIT_PAYLOAD_MAX];
	size_t len;
	struct climit_answer answer;
	uint64_t complained[CLIMIT_COMPLAINTS];
} cl;

/* ------------------------------------------------------------ pure */

unsigned
climit_share(unsigned nodes)
{
	return nodes == 0 ? 1 : CT_MIN(nodes, (unsigned)CLIMIT_SHARE_MAX);
}

uint64_t
climit_ttl_ms(const struct conf_limit *l)
{
	/*
	 * A key's total matters while its GCRA can be ahead of now: its
	 * burst and one event at the rate, and a node's round may be late
	 * by as long as it stays live.
	 */
	uint64_t ahead = ((uint64_t)l->burst + 1) * (l->period_ns / 1000000 + 1);

	return CT_MAX(ahead + CLIMIT_LIVE_MS, (uint64_t)CLIMIT_TTL_MIN_MS);
}

int
climit_secret_parse(const char *s, size_t len, uint64_t k[2])
{
	char half[17];
	size_t i;

	if (s == NULL || len != 32)
		return CT_ERROR;
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return CT_ERROR;
	for (i = 0; i < 2; i++) {
		memcpy(half, s + 16 * i, 16);
		half[16] = '\0';
		k[i] = strtoull(half, NULL, 16);
	}
	return CT_OK;
}

void
climit_secret_format(const uint64_t k[2], char out[33])
{
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, k[0], k[1]);
}

int
climit_reply_parse(const redisReply *r, const size_t *nkeys, size_t nzones,
    struct climit_answer *a, const char **why)
{
	size_t i, j, k = 0;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != nzones || nzones > CONF_LIMITS_MAX) {
		*why = "not one array per limit";
		return CT_ERROR;
	}
	for (i = 0; i < nzones; i++) {
		const redisReply *z = r->element[i];

		if (nkeys[i] > CLIMIT_KEYS_MAX - k || z->type != REDIS_REPLY_ARRAY ||
		    z->elements != 1 + 2 * nkeys[i]) {
			*why = "a limit's array is not its live nodes and two numbers per key";
			return CT_ERROR;
		}
		/* Live nodes and others' events: -1 or more; ages: 0 or more. */
		for (j = 0; j < z->elements; j++)
			if (z->element[j]->type != REDIS_REPLY_INTEGER ||
			    z->element[j]->integer < (j > 0 && j % 2 == 0 ? 0 : -1)) {
				*why = "a number out of range";
				return CT_ERROR;
			}
		a->live[i] = z->element[0]->integer;
		for (j = 0; j < nkeys[i]; j++, k++) {
			a->others[k] = z->element[1 + 2 * j]->integer;
			a->age_ms[k] = z->element[2 + 2 * j]->integer;
		}
	}
	return CT_OK;
}

/* ---------------------------------------------------------- the state */

static uint64_t
climit_now_ms(void)
{
	return ev_now(cl.loop);
}

/* Logs msg unless a complaint of kind c was logged within CLIMIT_COMPLAIN_MS. */
static void
climit_complain(enum climit_complaint c, const char *msg)
{
	uint64_t now = climit_now_ms();

	if (cl.complained[c] != 0 && now - cl.complained[c] < CLIMIT_COMPLAIN_MS)
		return;
	cl.complained[c] = now;
	log_warnx("cluster limits: %s (said once a minute at most)", msg);
}

static const char *
climit_name(const struct climit_zone *cz)
{
	return cl.conf->limits[cz->limit].name;
}

/* cz cannot settle, for why: its workers decide alone, on the node's share. */
static void
climit_alone(struct climit_zone *cz, const char *why)
{
	unsigned share = climit_share(atomic_load(&cz->z->nodes));

	atomic_store(&cz->z->share, share);
	atomic_fetch_add_explicit(&cz->z->rounds_failed, 1, memory_order_relaxed);
	if (atomic_exchange(&cz->z->fallback, 1) == 0)
		log_warnx("limit \"%s\": cannot settle with the cluster (%s): deciding alone on "
		    "1/%u of the rate", climit_name(cz), why, share);
}

/* A round of cz was answered: its workers take the whole rate again. */
static void
climit_together(struct climit_zone *cz)
{
	uint64_t before = atomic_fetch_add_explicit(&cz->z->rounds_ok, 1, memory_order_relaxed);
	unsigned nodes = atomic_load(&cz->z->nodes);

	atomic_store(&cz->z->share, 1);
	if (atomic_exchange(&cz->z->fallback, 0) == 1)
		log_notice("limit \"%s\": settling with the cluster%s, %u live node%s",
		    climit_name(cz), before > 0 ? " again" : "", nodes, nodes == 1 ? "" : "s");
}

/*
 * No round now: every zone decides alone, and what its workers counted
 * is dropped, a round's worth at a time, so that the first round after
 * tells the others nothing from the time this node was alone.
 */
static void
climit_all_alone(const char *why)
{
	size_t i;

	for (i = 0; i < cl.nzones; i++) {
		climit_alone(&cl.zones[i], why);
		(void)shm_limit_drain(cl.shm, cl.zones[i].z, &cl.zones[i].cursor, CLIMIT_WORDS_MAX,
		    cl.taken, CLIMIT_KEYS_MAX);
	}
}

/* -------------------------------------------------- script and hash key */

static void
climit_script_reply(const redisReply *reply, const char *err, void *arg)
{
	char msg[300];

	(void)arg;
	cl.script_asking = 0;
	if (err != NULL)
		return;
	if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
		snprintf(msg, sizeof(msg), "SCRIPT LOAD failed: %.200s",
		    reply->type == REDIS_REPLY_ERROR ? reply->str : "not a SHA1");
		climit_complain(CLIMIT_BAD_SCRIPT, msg);
		cl.script_next = climit_now_ms() + CLIMIT_ASK_MS;
		return;
	}
	memcpy(cl.sha, reply->str, 40);
	cl.sha[40] = '\0';
	cl.script = 1;
}

/* Key k is the cluster's: every zone hashes with it from now on. */
static void
climit_key_adopt(const uint64_t k[2])
{
	size_t i;

	if (!cl.key_known || cl.key[0] != k[0] || cl.key[1] != k[1])
		log_info("cluster limits: %s the cluster's hash key", cl.key_known ?
		    "the cluster has a new" : "adopted");
	cl.key[0] = k[0];
	cl.key[1] = k[1];
	cl.key_known = 1;
	cl.key_have = 1;
	for (i = 0; i < cl.nzones; i++)
		shm_limit_ckey_set(cl.zones[i].z, cl.key);
}

/* The answer to SET PREFIX:climit:secret PROPOSAL NX GET: nil when ours was stored. */
static void
climit_key_reply(const redisReply *reply, const char *err, void *arg)
{
	uint64_t k[2];
	char msg[300];

	(void)arg;
	cl.key_asking = 0;
	if (err != NULL)
		return;
	if (reply->type == REDIS_REPLY_NIL) {
		climit_key_adopt(cl.key);
		return;
	}
	if (reply->type == REDIS_REPLY_STRING &&
	    climit_secret_parse(reply->str, reply->len, k) == CT_OK) {
		climit_key_adopt(k);
		return;
	}
	snprintf(msg, sizeof(msg), "%s:climit:secret is not 32 hex digits (%.200s): limits of "
	    "scope cluster decide alone until it is deleted", redis_prefix(),
	    reply->type == REDIS_REPLY_ERROR ? reply->str : "another value");
	climit_complain(CLIMIT_BAD_SECRET, msg);
	cl.key_have = 0;
}

/*
 * What a round needs first: the script in Redis and the cluster's hash
 * key, asked for while missing; the key is asked again now and then,
 * since a Redis that restarted empty lost it and another node may have
 * stored its own since.  A node proposes the key it has, so that the
 * cluster keeps it.
 */
static void
climit_prepare(void)
{
	uint64_t now = climit_now_ms();
	char hex[33];

	if (!cl.script && !cl.script_asking && now >= cl.script_next &&
	    redis_command(climit_script_reply, NULL, "SCRIPT LOAD %s", climit_script) == CT_OK)
		cl.script_asking = 1;
	if (cl.key_asking || now < cl.key_next)
		return;
	if (!cl.key_known && RAND_bytes((unsigned char *)cl.key, sizeof(cl.key)) != 1)
		return;
	climit_secret_format(cl.key, hex);
	if (redis_command(climit_key_reply, NULL, "SET %s:climit:secret %s NX GET",
	    redis_prefix(), hex) != CT_OK)
		return;
	cl.key_asking = 1;
	cl.key_next = now + (cl.key_have ? CLIMIT_KEY_CHECK_MS : CLIMIT_ASK_MS);
}

/* Redis came (back): it may have lost the script and the key. */
static void
climit_ready(void *arg)
{
	(void)arg;
	cl.script = 0;
	cl.script_next = 0;
	cl.key_have = 0;
	cl.key_next = 0;
	if (cl.nzones > 0)
		climit_prepare();
}

/* ------------------------------------------------------------ a round */

static int
climit_append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
climit_append(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cl.payload + cl.len, sizeof(cl.payload) - cl.len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cl.payload) - cl.len)
		return CT_ERROR;
	cl.len += (size_t)n;
	return CT_OK;
}

/* The text of a round: every zone, from cl.next on, each with the keys it has to report. */
static int
climit_round_build(void)
{
	size_t i, j;

	cl.len = 0;
	cl.ntaken = 0;
	cl.norder = 0;
	for (i = 0; i < cl.nzones; i++) {
		struct climit_zone *cz = &cl.zones[(cl.next + i) % cl.nzones];
		const struct conf_limit *l = &cl.conf->limits[cz->limit];

		cz->first = cl.ntaken;
		cz->n = shm_limit_drain(cl.shm, cz->z, &cz->cursor, CLIMIT_WORDS_MAX,
		    &cl.taken[cl.ntaken], CLIMIT_KEYS_MAX - cl.ntaken);
		cl.ntaken += cz->n;
		cl.order[cl.norder] = (cl.next + i) % cl.nzones;
		cl.nkeys[cl.norder++] = cz->n;
		if (climit_append("Z %s %u %" PRIu64 "\n", l->name, CLIMIT_LIVE_MS,
		    climit_ttl_ms(l)) != CT_OK)
			return CT_ERROR;
		for (j = cz->first; j < cl.ntaken; j++)
			if (climit_append("%016" PRIx64 " %" PRIu32 "\n", cl.taken[j].key,
			    cl.taken[j].count) != CT_OK)
				return CT_ERROR;
	}
	/* A zone whose keys filled a round does not go first again. */
	cl.next = (cl.next + 1) % cl.nzones;
	return CT_OK;
}

/* n events worth period_ns each, saturated: the charge of a key. */
static uint64_t
climit_cost(uint64_t n, uint64_t period_ns)
{
	return period_ns != 0 && n > UINT64_MAX / 4 / period_ns ? UINT64_MAX / 4 : n * period_ns;
}

/* What the others let through for key t of cz, or what cz's share says when its state is unusable. */
static void
climit_charge(struct climit_zone *cz, const struct shm_limit_taken *t, int64_t others,
    int64_t age_ms, uint64_t now_ns)
{
	const struct conf_limit *l = &cl.conf->limits[cz->limit];
	struct shm_limit_slot *s;
	uint64_t ago;
	char msg[300];

	if (others == 0 || (s = shm_limit_lookup(cl.shm, cz->z, t->key, climit_now_ms())) == NULL)
		return;
	if (others < 0) {
		snprintf(msg, sizeof(msg), "%s:climit:%s:k:%016" PRIx64 " is not a hash of counts: "
		    "its key is decided on this node's share", redis_prefix(), l->name, t->key);
		climit_complain(CLIMIT_BAD_KEY, msg);
		shm_limit_charge(s, now_ns, climit_cost((uint64_t)(climit_share(
		    atomic_load(&cz->z->nodes)) - 1) * t->count, l->period_ns));
		return;
	}
	ago = (uint64_t)CT_MIN(age_ms, (int64_t)1000000000) * 1000000;
	shm_limit_charge(s, now_ns > ago ? now_ns - ago : 0, climit_cost((uint64_t)others,
	    l->period_ns));
}

static void
climit_round_apply(void)
{
	uint64_t now_ns = climit_now_ms() * 1000000;
	size_t i, j, k = 0;
	char msg[300];

	for (i = 0; i < cl.norder; i++) {
		struct climit_zone *cz = &cl.zones[cl.order[i]];
		int64_t live = cl.answer.live[i];

		if (live >= 1) {
			atomic_store(&cz->z->nodes, (unsigned)CT_MIN(live, (int64_t)UINT32_MAX));
		} else {
			snprintf(msg, sizeof(msg), "%s:climit:%s:nodes is not a sorted set: the live "
			    "nodes stay as last seen", redis_prefix(), climit_name(cz));
			climit_complain(CLIMIT_BAD_NODES, msg);
		}
		for (j = 0; j < cl.nkeys[i]; j++, k++)
			climit_charge(cz, &cl.taken[cz->first + j], cl.answer.others[k],
			    cl.answer.age_ms[k], now_ns);
		climit_together(cz);
	}
}

static int climit_round_send(int eval);

static void
climit_round_reply(const redisReply *reply, const char *err, void *arg)
{
	const char *why;
	char msg[300];
	size_t i;

	if ((uintptr_t)arg != cl.gen)
		return;
	/* Redis lost the script (a restart, SCRIPT FLUSH): the round once more, with it. */
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !cl.evaled &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0 && climit_round_send(1) == CT_OK)
		return;
	cl.inflight = 0;
	if (err != NULL) {
		why = err;
	} else if (reply->type == REDIS_REPLY_ERROR) {
		snprintf(msg, sizeof(msg), "a round was refused: %.200s", reply->str);
		climit_complain(CLIMIT_BAD_ROUND, msg);
		why = "Redis refused the round";
	} else if (climit_reply_parse(reply, cl.nkeys, cl.norder, &cl.answer, &why) != CT_OK) {
		snprintf(msg, sizeof(msg), "unexpected answer to a round: %s", why);
		climit_complain(CLIMIT_BAD_REPLY, msg);
		why = "unexpected answer";
	} else {
		climit_round_apply();
		return;
	}
	for (i = 0; i < cl.norder; i++)
		climit_alone(&cl.zones[cl.order[i]], why);
}

static int
climit_round_send(int eval)
{
	int rc;

	cl.evaled = eval;
	rc = eval ? redis_command(climit_round_reply, (void *)cl.gen, "EVAL %s 0 %s %s %s",
	    climit_script, redis_prefix(), redis_node(), cl.payload) :
	    redis_command(climit_round_reply, (void *)cl.gen, "EVALSHA %s 0 %s %s %s",
	    cl.sha, redis_prefix(), redis_node(), cl.payload);
	cl.inflight = rc == CT_OK;
	return rc;
}

static void
climit_timer(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i;

	if (ev_timer_start(loop, t, CLIMIT_ROUND_MS) != CT_OK)
		log_alert("cluster limits: cannot arm the round timer");
	if (cl.inflight)
		return;
	if (redis_state() != SHM_REDIS_READY) {
		climit_all_alone("Redis is down");
		return;
	}
	climit_prepare();
	if (!cl.key_have || !cl.script) {
		climit_all_alone(!cl.key_have ? "no hash key shared with the cluster yet" :
		    "the script is not loaded yet");
		return;
	}
	if (climit_round_build() != CT_OK || climit_round_send(0) != CT_OK)
		for (i = 0; i < cl.norder; i++)
			climit_alone(&cl.zones[cl.order[i]], "cannot send a round");
}

/* ------------------------------------------------------- the lifecycle */

void
climit_conf(struct ev_loop *loop, struct shm *shm, const struct cycle *cy)
{
	const struct conf *conf = cy->conf;
	size_t i;

	if (!cl.started) {
		ev_timer_init(&cl.timer, climit_timer, NULL);
		cl.started = 1;
	}
	cl.loop = loop;
	cl.shm = shm;
	cl.conf = conf;
	cl.gen++;
	cl.inflight = 0;
	cl.nzones = 0;
	cl.next = 0;
	for (i = 0; i < conf->nlimits && conf->redis.enabled; i++) {
		struct climit_zone *cz = &cl.zones[cl.nzones];

		if (conf->limits[i].scope != CONF_LIMIT_CLUSTER || cy->limits[i] < 0)
			continue;
		memset(cz, 0, sizeof(*cz));
		cz->limit = i;
		cz->z = shm_limit_get(shm, cy->limits[i]);
		/* Before its first round, a zone is as good as alone. */
		if (atomic_load(&cz->z->rounds_ok) == 0)
			atomic_store(&cz->z->fallback, 1);
		if (cl.key_have)
			shm_limit_ckey_set(cz->z, cl.key);
		cl.nzones++;
	}
	if (cl.nzones == 0) {
		ev_timer_stop(loop, &cl.timer);
		return;
	}
	if (!cl.hooked && redis_on_ready(climit_ready, NULL) == CT_OK)
		cl.hooked = 1;
	if (!ev_timer_active(&cl.timer) && ev_timer_start(loop, &cl.timer, CLIMIT_ROUND_MS) != CT_OK)
		log_alert("cluster limits: cannot arm the round timer");
}

void
climit_stop(void)
{
	if (cl.started)
		ev_timer_stop(cl.loop, &cl.timer);
	cl.nzones = 0;
	cl.inflight = 0;
	cl.gen++;
}

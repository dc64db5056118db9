/*
 * Master: max_conns counted across the cluster (master/conncap.h).
 *
 * One entry per cluster-capped server of the running generation.  A
 * settle of an entry is one script call in flight at most: EVALSHA, so
 * that the script's text crosses the network only when Redis lacks it
 * (NOSCRIPT, after a restart), and then once, by EVAL; its reply finds the
 * entry again by a token of (epoch, index), so that a reply that comes
 * after a reload or a stop, when the entries are others or gone, is
 * recognised and dropped without touching freed memory.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/conncap.h"
#include "master/redis.h"
#include "shm/backend.h"

#define CONNCAP_INDEX_BITS  16          /* > log2(SHM_BACKENDS_MAX) */

/*
 * KEYS[1] the server's hash; ARGV node, limit, claim, want, stale ms.
 * Returns {grant, nodes live (this one included), fields not understood,
 * the other nodes' claims}, or {-1, 0, 0, 0} when the key is no hash.
 * A field that is not "claim:ms" with a time not in the future is left
 * as it is, counted and skipped: it is not ours to delete.
 */
static const char conncap_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local kind = redis.call('TYPE', KEYS[1])['ok']\n"
    "if kind ~= 'hash' and kind ~= 'none' then return {-1, 0, 0, 0} end\n"
    "local limit, claim = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local want, stale = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local others, live, bad = 0, 1, 0\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  if all[i] ~= ARGV[1] then\n"
    "    local c, at = string.match(all[i + 1], '^(%d+):(%d+)$')\n"
    "    c, at = tonumber(c), tonumber(at)\n"
    "    if c == nil or at == nil or at > now + stale then\n"
    "      bad = bad + 1\n"
    "    elseif now - at > stale then\n"
    "      redis.call('HDEL', KEYS[1], all[i])\n"
    "    else\n"
    "      others = others + c\n"
    "      live = live + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local grant = math.min(want, limit - others)\n"
    "if grant < claim then grant = claim end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], string.format('%d:%d', grant, now))\n"
    "redis.call('PEXPIRE', KEYS[1], stale * 10)\n"
    "return {grant, live, bad, others}\n";

/* What went wrong, each logged once in the master's life. */
enum conncap_trouble {
	CONNCAP_WRONGTYPE = 1u << 0,    /* a server's key is not a hash */
	CONNCAP_GARBAGE = 1u << 1,      /* fields that are no claim */
	CONNCAP_ERROR = 1u << 2,        /* Redis answered with an error */
	CONNCAP_REPLY = 1u << 3         /* a reply of the wrong shape */
};

struct conncap_server {
	char *key;                  /* <prefix>:conns:<upstream>:<address> */
	const char *name;           /* "upstream u server a", for logs */
	int backend;                /* shm slot */
	uint64_t limit;
	uint64_t reserve;
	unsigned live;              /* nodes sharing the limit (conncap_live_note); 0: none yet */
	uint64_t live_at;           /* loop clock when live was last raised or renewed */
	int busy;                   /* a settle waits for its reply */
	int fallback;               /* its bound is the share, not a grant */
};

static struct {
	struct ev_loop *loop;
	struct shm *shm;
	struct conncap_server *servers;
	size_t n;
	uint32_t epoch;
	struct ev_timer tick;
	int timer_init;
	size_t fallbacks;           /* servers on their share: logged from 0 to 1 and back */
	char sha[2 * EVP_MAX_MD_SIZE + 1]; /* of conncap_script, hex; "" when unknown */
	int load;                   /* Redis lacks the script: the next call is EVAL */
	unsigned logged;            /* enum conncap_trouble bits */
} cc;

static void conncap_log_once(unsigned kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conncap_log_once(unsigned kind, const char *fmt, ...)
{
	va_list ap;

	if (cc.logged & kind)
		return;
	cc.logged |= kind;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_WARN, 0, fmt, ap);
	va_end(ap);
}

static struct shm_backend *
conncap_backend(const struct conncap_server *s)
{
	return shm_backend_get(cc.shm, s->backend);
}

/*
 * Without Redis: the node's share, limit / nodes last seen, at least 1.
 * Raising the bound is the point of it, lowering is always safe.
 */
static void
conncap_fall_back(struct conncap_server *s, const char *why)
{
	uint64_t share = s->limit / (s->live > 0 ? s->live : 1);

	atomic_store(&conncap_backend(s)->conns_limit, share > 0 ? share : 1);
	if (s->fallback)
		return;
	s->fallback = 1;
	if (cc.fallbacks++ > 0)
		return;
	log_warnx("max_conns across the cluster: %s; each node admits limit / nodes it "
	    "last saw until Redis counts again", why);
}

static uintptr_t
conncap_token(size_t i)
{
	return ((uintptr_t)cc.epoch << CONNCAP_INDEX_BITS) | i;
}

/* The entry a token names, or NULL when it is of another epoch. */
static struct conncap_server *
conncap_token_server(uintptr_t token)
{
	size_t i = token & ((1u << CONNCAP_INDEX_BITS) - 1);

	if (token >> CONNCAP_INDEX_BITS != conncap_token(0) >> CONNCAP_INDEX_BITS || i >= cc.n)
		return NULL;
	return &cc.servers[i];
}

/* {grant, live, bad, others}, all integers; CT_ERROR otherwise. */
static int
conncap_reply_parse(const redisReply *r, long long v[4])
{
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
		return CT_ERROR;
	for (i = 0; i < 4; i++) {
		if (r->element[i]->type != REDIS_REPLY_INTEGER)
			return CT_ERROR;
		v[i] = r->element[i]->integer;
	}
	return CT_OK;
}

/*
 * The nodes that share the limit, for the fallback: the most seen by the
 * settles of the last CONNCAP_STALE_MS, so that a settle that came
 * before the others had settled again (the key was just made) does not
 * make a share too large.  Fewer count once they have been fewer for
 * that long, as long as a node that is gone takes to stop counting.
 */
static void
conncap_live_note(struct conncap_server *s, unsigned live)
{
	uint64_t now = ev_now(cc.loop);

	if (live >= s->live || now - s->live_at > CONNCAP_STALE_MS) {
		s->live = live;
		s->live_at = now;
	}
}

static void
conncap_settled(const redisReply *r, const char *err, void *arg)
{
	struct conncap_server *s = conncap_token_server((uintptr_t)arg);
	struct shm_backend *b;
	long long v[4];

	if (s == NULL)
		return;
	s->busy = 0;
	if (r == NULL) {
		conncap_fall_back(s, err);
		return;
	}
	/* Not an answer about the limit: the bound stays, which is safe, until EVAL loads it. */
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		cc.load = 1;
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		conncap_log_once(CONNCAP_ERROR, "max_conns across the cluster: Redis refused "
		    "the settle of %s: %s", s->name, r->str);
		conncap_fall_back(s, "Redis refused a settle");
		return;
	}
	if (conncap_reply_parse(r, v) == CT_OK && v[0] == -1) {
		conncap_log_once(CONNCAP_WRONGTYPE, "max_conns across the cluster: \"%s\" "
		    "is not a hash; %s is not counted there", s->key, s->name);
		conncap_fall_back(s, "a key that is not a hash");
		return;
	}
	if (conncap_reply_parse(r, v) != CT_OK || v[0] < 0 || v[1] < 1 || v[2] < 0 ||
	    v[3] < 0) {
		conncap_log_once(CONNCAP_REPLY, "max_conns across the cluster: a reply "
		    "that makes no sense for %s", s->name);
		conncap_fall_back(s, "a reply that makes no sense");
		return;
	}
	if (v[2] > 0)
		conncap_log_once(CONNCAP_GARBAGE, "max_conns across the cluster: \"%s\" "
		    "has fields that are no claim of a node; ignored", s->key);
	conncap_live_note(s, (unsigned)CT_MIN(v[1], (long long)UINT32_MAX));
	b = conncap_backend(s);
	/* A grant above the limit (lowered by a reload) is more than is needed. */
	atomic_store(&b->conns_limit, CT_MIN((uint64_t)v[0], s->limit));
	atomic_store(&b->conns_others, (uint64_t)v[3]);
	if (s->fallback) {
		s->fallback = 0;
		if (--cc.fallbacks == 0)
			log_notice("max_conns across the cluster: counted in Redis again");
	}
}

/* Steps 1 and 2 of a settle (master/conncap.h). */
static void
conncap_settle(size_t i)
{
	struct conncap_server *s = &cc.servers[i];
	struct shm_backend *b = conncap_backend(s);
	uint64_t active, bound, want;
	int rc;

	if (s->busy)
		return;
	/* Connecting: keep the bound, which is safe, until Redis answers or is down. */
	if (redis_state() != SHM_REDIS_READY) {
		if (redis_state() == SHM_REDIS_DOWN)
			conncap_fall_back(s, "Redis is down");
		return;
	}
	active = atomic_load(&b->active);
	bound = atomic_load(&b->conns_limit);
	want = CT_MIN(active + s->reserve, s->limit);
	if (want < bound) {
		atomic_store(&b->conns_limit, want);
		bound = want;
		active = atomic_load(&b->active);
	}
	rc = redis_command(conncap_settled, (void *)conncap_token(i),
	    "%s %s 1 %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %u",
	    cc.load || cc.sha[0] == '\0' ? "EVAL" : "EVALSHA",
	    cc.load || cc.sha[0] == '\0' ? conncap_script : cc.sha,
	    s->key, redis_node(), s->limit, CT_MAX(bound, active), want,
	    (unsigned)CONNCAP_STALE_MS);
	cc.load = 0;
	if (rc == CT_OK)
		s->busy = 1;
	else
		conncap_fall_back(s, "Redis is not ready");
}

/* The SHA-1 that EVALSHA names the script by; without it, EVAL every time. */
static void
conncap_sha(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n, i;

	if (cc.sha[0] != '\0')
		return;
	if (EVP_Digest(conncap_script, sizeof(conncap_script) - 1, md, &n, EVP_sha1(),
	    NULL) != 1)
		return;
	for (i = 0; i < n; i++)
		snprintf(cc.sha + 2 * i, 3, "%02x", md[i]);
}

static void
conncap_tick(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i;

	for (i = 0; i < cc.n; i++)
		conncap_settle(i);
	if (ev_timer_start(loop, t, CONNCAP_SETTLE_MS) != CT_OK)
		log_alert("max_conns across the cluster: cannot arm the settle timer");
}

static void
conncap_free(void)
{
	size_t i;

	for (i = 0; i < cc.n; i++) {
		free(cc.servers[i].key);
		free((char *)(uintptr_t)cc.servers[i].name);
	}
	free(cc.servers);
	cc.servers = NULL;
	cc.n = 0;
	cc.fallbacks = 0;
	cc.epoch++;
}

/* Fills entry s for server k of upstream u; CT_ERROR when out of memory. */
static int
conncap_server_init(struct conncap_server *s, const struct cycle *cy, size_t u, size_t k,
    const struct conncap_server *old, size_t nold)
{
	const struct conf_upstream *cu = &cy->conf->upstreams[u];
	const struct conf_server *cs = &cu->servers[k];
	size_t i;
	char *name;

	s->backend = cy->upstreams[u].backend[k];
	s->limit = cs->max_conns.limit;
	s->reserve = cs->max_conns.reserve;
	/* A server that stays keeps what it knew, and a fallback logged stays logged. */
	for (i = 0; i < nold; i++)
		if (old[i].backend == s->backend) {
			s->live = old[i].live;
			s->live_at = old[i].live_at;
			s->fallback = old[i].fallback;
			cc.fallbacks += (size_t)s->fallback;
		}
	if (asprintf(&s->key, "%s:conns:%s:%s", redis_prefix(), cu->name, cs->address) == -1) {
		s->key = NULL;
		return CT_ERROR;
	}
	if (asprintf(&name, "upstream \"%s\" server %s", cu->name, cs->address) == -1)
		return CT_ERROR;
	s->name = name;
	return CT_OK;
}

static size_t
conncap_count(const struct conf *conf)
{
	size_t u, k, n = 0;

	for (u = 0; u < conf->nupstreams; u++)
		for (k = 0; k < conf->upstreams[u].nservers; k++)
			n += conf->upstreams[u].servers[k].max_conns.scope == CONF_CONNS_CLUSTER;
	return n;
}

void
conncap_start(struct ev_loop *loop, const struct cycle *cy)
{
	struct conncap_server *old = cc.servers;
	size_t nold = cc.n, n, u, k;

	if (cc.loop != NULL && cc.timer_init)
		ev_timer_stop(cc.loop, &cc.tick);
	cc.servers = NULL;
	cc.n = 0;
	cc.fallbacks = 0;
	cc.epoch++;
	cc.loop = loop;
	cc.shm = cy->shm;
	if (redis_prefix() == NULL || (n = conncap_count(cy->conf)) == 0)
		goto done;
	if ((cc.servers = calloc(n, sizeof(*cc.servers))) == NULL) {
		log_error("max_conns across the cluster: out of memory; "
		    "those servers admit no new client");
		goto done;
	}
	for (u = 0; u < cy->conf->nupstreams; u++)
		for (k = 0; k < cy->conf->upstreams[u].nservers; k++) {
			if (cy->conf->upstreams[u].servers[k].max_conns.scope != CONF_CONNS_CLUSTER)
				continue;
			if (conncap_server_init(&cc.servers[cc.n++], cy, u, k, old, nold) != CT_OK) {
				log_error("max_conns across the cluster: out of memory; "
				    "those servers admit no new client");
				conncap_free();
				goto done;
			}
		}
	conncap_sha();
	ev_timer_init(&cc.tick, conncap_tick, NULL);
	cc.timer_init = 1;
	if (ev_timer_start(loop, &cc.tick, 0) != CT_OK)
		log_alert("max_conns across the cluster: cannot arm the settle timer");
done:
	for (k = 0; k < nold; k++) {
		free(old[k].key);
		free((char *)(uintptr_t)old[k].name);
	}
	free(old);
}

void
conncap_stop(int release)
{
	size_t i;

	if (cc.loop != NULL && cc.timer_init)
		ev_timer_stop(cc.loop, &cc.tick);
	cc.timer_init = 0;
	/* Its connections are closed: the claim goes now, not CONNCAP_STALE_MS later. */
	for (i = 0; release && i < cc.n; i++)
		(void)redis_command(NULL, NULL, "HDEL %s %s", cc.servers[i].key, redis_node());
	conncap_free();
}

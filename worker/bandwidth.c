/*
 * The meters of bandwidth (worker/bandwidth.h).  Each is GCRA, like the
 * limits of requests: a "theoretical arrival time" that every byte
 * read pushes one period further, and that may run ahead of the clock
 * by at most the burst.  What may be read now is what the burst has left;
 * a direction with nothing left waits for a timer, not for epoll.
 *
 * Per connection the meter is the connection's own (plain fields); per
 * key it is the slot of the key in the limit's zone in shared memory, so
 * that all the connections of a key, in every worker, draw from one
 * budget.  Bytes are counted after they are read (they are there: the
 * read is done), and the budget decides the size of the next read, so
 * that a key overshoots by at most one read per connection and a burst
 * stays bounded.
 *
 * The clock is CLOCK_MONOTONIC in sixteenths of a nanosecond: a byte's
 * period at 1 GiB/s is then 15 ticks rather than 1 ns, and whole ticks
 * keep every rate within 1 %.  The clock overflows 64 bits after 36
 * years of uptime.  A zone's slots hold ticks, so that a reload that
 * changes a limit's rate finds its keys' state in the same unit.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "worker/bandwidth.h"
#include "worker/limit.h"
#include "worker/worker-t.h"

#define BW_TICKS_PER_NS  16
/* A paused direction waits until this much may be read (or its whole burst). */
#define BW_RESUME_BYTES  (64 * 1024)
/* The burst of a count that must never be refused: the bytes were read. */
#define BW_FORCE_TICKS   (UINT64_C(1) << 62)

/* GCRA on ticks: what one byte costs, how far ahead the meter may run, where it is. */
struct bandwidth_meter {
	uint64_t period;             /* ticks per byte; 0: no meter */
	uint64_t tau;                /* ticks of burst */
	uint64_t tat;                /* the connection's own meters; keys keep theirs in shm */
};

/* A bandwidth limit's key for one direction of a connection. */
struct bandwidth_key {
	size_t limit;                /* in conf->limits */
	int dir;
	uint64_t h;                  /* the key's hash in the limit's zone */
	struct bandwidth_meter m;    /* period and tau; tat is the slot's */
	char text[SHM_LIMIT_TEXT];
};

struct bandwidth {
	struct conn *c;
	struct ev_timer timer;       /* ends a pause */
	bandwidth_resume_cb resume;  /* of the relay that paused */
	uint64_t seen[2];            /* bytes of each direction counted so far */
	struct bandwidth_meter conn[2];
	size_t nkeys;
	struct bandwidth_key keys[];
};

static uint64_t
bandwidth_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec) * BW_TICKS_PER_NS;
}

static void
bandwidth_meter_init(struct bandwidth_meter *m, uint64_t rate, uint64_t burst)
{
	uint64_t ticks = UINT64_C(1000000000) * BW_TICKS_PER_NS;

	m->period = (ticks + rate / 2) / rate;
	m->tau = burst * m->period;
	m->tat = 0;
}

/*
 * What meter m, at tat, lets read at now, at most want.  Less than
 * BW_RESUME_BYTES (or its whole burst, or want) is nothing: a direction
 * that read whatever trickled back would read a few bytes per turn of
 * the loop.  *wait: the ticks until it has that much, 0 if it has.
 */
static uint64_t
bandwidth_meter_left(const struct bandwidth_meter *m, uint64_t tat, uint64_t now, uint64_t want,
    uint64_t *wait)
{
	uint64_t debt = tat > now ? tat - now : 0;
	uint64_t need = CT_MIN(CT_MIN(m->tau, (uint64_t)BW_RESUME_BYTES * m->period),
	    want * m->period);

	/* It has need once the debt is down to tau - need. */
	*wait = debt > m->tau - need ? debt - (m->tau - need) : 0;
	return *wait > 0 ? 0 : CT_MIN(want, (m->tau - debt) / m->period);
}

/* The slot of key k, or NULL: a zone without slots lets everything pass. */
static struct shm_limit_slot *
bandwidth_key_slot(struct conn *c, const struct bandwidth_key *k)
{
	int idx = c->w->cy->limits != NULL ? c->w->cy->limits[k->limit] : -1;

	if (idx < 0)
		return NULL;
	return shm_limit_find(c->w->cy->shm, shm_limit_get(c->w->cy->shm, idx), k->h, k->text,
	    ev_now(c->w->loop));
}

/*
 * Counts n bytes read on key k's slot s and returns what it lets read
 * now, at most want, with *wait as bandwidth_meter_left's.
 */
static uint64_t
bandwidth_key_take(const struct bandwidth_key *k, struct shm_limit_slot *s, uint64_t now,
    uint64_t n, uint64_t want, uint64_t *wait)
{
	uint64_t w, left;

	if (n > 0)
		(void)shm_limit_take(s, now, k->m.period, n, BW_FORCE_TICKS / k->m.period, 0, &w,
		    &left);
	return bandwidth_meter_left(&k->m, atomic_load_explicit(&s->tat, memory_order_relaxed),
	    now, want, wait);
}

static void
bandwidth_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct bandwidth *bw = t->data;
	struct conn *c = bw->c;

	(void)loop;
	c->bw_paused = 0;
	/* The relay may close c, and free bw with it: neither is touched after. */
	bw->resume(c);
}

/* Direction dir stops reading for wait ticks; CT_ERROR: it cannot (no timer). */
static int
bandwidth_pause(struct conn *c, int dir, uint64_t wait, bandwidth_resume_cb resume)
{
	struct bandwidth *bw = c->bw;
	struct shm_listener *ls = conn_listener_stats(c);
	uint64_t ms = (wait + UINT64_C(1000000) * BW_TICKS_PER_NS - 1) /
	    (UINT64_C(1000000) * BW_TICKS_PER_NS);
	uint64_t when = ev_now(c->w->loop) + CT_MAX(ms, 1);

	/* One timer for both directions: the earlier end of their pauses. */
	if ((!ev_timer_active(&bw->timer) || bw->timer.when > when) &&
	    ev_timer_start(c->w->loop, &bw->timer, CT_MAX(ms, 1)) != CT_OK) {
		/* The heap has room for every connection: a bug, not a load. */
		log_alert("cannot arm the bandwidth timer of a connection: not limiting it");
		return CT_ERROR;
	}
	c->bw_paused |= CONF_BW_BIT(dir);
	bw->resume = resume;
	if (ls != NULL)
		atomic_fetch_add_explicit(&ls->bw_paused[dir], 1, memory_order_relaxed);
	return CT_OK;
}

size_t
bandwidth_take(struct conn *c, int dir, size_t want, bandwidth_resume_cb resume)
{
	struct bandwidth *bw = c->bw;
	uint64_t in = dir == CONF_BW_UP ? c->from_client : c->from_server;
	uint64_t now, n, left, wait = 0, w, r;
	size_t i;

	if (c->bw_paused & CONF_BW_BIT(dir))
		return 0;
	/* More than a burst can hold is never let through at once anyway. */
	want = CT_MIN(want, (size_t)CONF_BW_RATE_MAX);
	left = want;
	/* A counter that went back was reset (http: per upstream exchange). */
	n = in >= bw->seen[dir] ? in - bw->seen[dir] : in;
	bw->seen[dir] = in;
	now = bandwidth_now();
	if (bw->conn[dir].period != 0) {
		struct bandwidth_meter *m = &bw->conn[dir];

		m->tat = CT_MAX(m->tat, now) + n * m->period;
		r = bandwidth_meter_left(m, m->tat, now, want, &w);
		left = CT_MIN(left, r);
		wait = CT_MAX(wait, w);
	}
	for (i = 0; i < bw->nkeys; i++) {
		struct shm_limit_slot *s;

		if (bw->keys[i].dir != dir || (s = bandwidth_key_slot(c, &bw->keys[i])) == NULL)
			continue;
		/* Not inside CT_MIN(), which would count the bytes twice. */
		r = bandwidth_key_take(&bw->keys[i], s, now, n, want, &w);
		left = CT_MIN(left, r);
		wait = CT_MAX(wait, w);
	}
	/* A pause that nothing would end would stall the relay: then it reads on. */
	if (left == 0 && bandwidth_pause(c, dir, wait, resume) != CT_OK)
		return want;
	return (size_t)left;
}

/* The key of bandwidth limit idx for c, one per direction the limit meters. */
static void
bandwidth_keys_add(struct conn *c, struct bandwidth *bw, size_t idx)
{
	static const char *const dir_names[2] = { [CONF_BW_UP] = "up", [CONF_BW_DOWN] = "down" };
	const struct conf_limit *l = &c->w->cy->conf->limits[idx];
	int slot = c->w->cy->limits != NULL ? c->w->cy->limits[idx] : -1;
	struct limit_key k;
	size_t i, base;
	int dir;

	if (slot < 0)
		return;
	limit_key_init(&k);
	for (i = 0; i < l->nparts; i++)
		if (limit_key_conn_part(&k, c, &l->parts[i]) != CT_OK)
			return;
	base = k.len;
	for (dir = CONF_BW_UP; dir <= CONF_BW_DOWN; dir++) {
		struct bandwidth_key *bk = &bw->keys[bw->nkeys];
		struct limit_key kd = k;

		if (!(l->directions & CONF_BW_BIT(dir)))
			continue;
		/* Each direction its own budget: the direction is a part of the key. */
		kd.len = base;
		limit_key_add(&kd, dir_names[dir], strlen(dir_names[dir]), 1);
		bk->limit = idx;
		bk->dir = dir;
		bk->h = shm_limit_hash(shm_limit_get(c->w->cy->shm, slot), kd.buf, kd.len);
		bandwidth_meter_init(&bk->m, l->bytes, l->burst_bytes);
		memcpy(bk->text, kd.text, sizeof(bk->text));
		bw->nkeys++;
	}
}

int
bandwidth_conn_start(struct conn *c)
{
	const struct conf *conf = c->w->cy->conf;
	const struct conf_bandwidth *cb = &conf->listeners[c->listener].bandwidth;
	struct bandwidth *bw;
	size_t i;
	int dir;

	/* Two keys at most per limit, one per direction. */
	if ((bw = calloc(1, sizeof(*bw) + 2 * cb->limits.n * sizeof(bw->keys[0]))) == NULL) {
		conn_close(c, "out of memory");
		return CT_ERROR;
	}
	bw->c = c;
	ev_timer_init(&bw->timer, bandwidth_timer, bw);
	for (dir = CONF_BW_UP; dir <= CONF_BW_DOWN; dir++)
		if (cb->rate[dir] != 0)
			bandwidth_meter_init(&bw->conn[dir], cb->rate[dir],
			    conf_bandwidth_burst(cb->rate[dir]));
	for (i = 0; i < cb->limits.n; i++)
		bandwidth_keys_add(c, bw, cb->limits.idx[i]);
	c->bw = bw;
	return CT_OK;
}

void
bandwidth_conn_free(struct conn *c)
{
	struct bandwidth *bw = c->bw;
	uint64_t now, in, n, w;
	size_t i;

	if (bw == NULL)
		return;
	/* The last bytes read count for the key, whose other connections go on. */
	now = bandwidth_now();
	for (i = 0; i < bw->nkeys; i++) {
		struct bandwidth_key *k = &bw->keys[i];
		struct shm_limit_slot *s;

		in = k->dir == CONF_BW_UP ? c->from_client : c->from_server;
		n = in >= bw->seen[k->dir] ? in - bw->seen[k->dir] : in;
		if (n > 0 && (s = bandwidth_key_slot(c, k)) != NULL)
			(void)bandwidth_key_take(k, s, now, n, 0, &w);
	}
	ev_timer_stop(c->w->loop, &bw->timer);
	free(bw);
	c->bw = NULL;
	c->bw_paused = 0;
}

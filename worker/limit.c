/*
 * Limits in a worker (worker/limit.h).  The decisions are the shared
 * zone's (shm/limit.c); what is here is the key, the log line, and the
 * caps a listener holds for a connection until it closes.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "worker/conn.h"
#include "worker/limit.h"
#include "worker/worker-t.h"

/* A place under a cap that a connection holds. */
struct limit_hold {
	struct shm_limit_slot *slot;
	uint64_t h;
};

void
limit_key_init(struct limit_key *k)
{
	k->len = 0;
	k->tlen = 0;
	k->text[0] = '\0';
	k->empty = 0;
	k->addr = NULL;
	k->net = 0;
}

/* The text of k, with the client address (first) when it is a part. */
static const char *
limit_key_text(struct limit_key *k, char *buf, size_t len)
{
	char ip[ADDR_STRLEN];

	if (k->addr == NULL)
		return k->text;
	addr_ip_format(k->addr, ip, sizeof(ip));
	/* Cut to fit, as the rest of the text. */
	if (snprintf(buf, len, "%s%s%s%s", ip, !k->net ? "" : k->addr->sa_family == AF_INET6 ?
	    "/64" : "/24", k->tlen > 0 ? " " : "", k->text) >= (int)len)
		buf[len - 1] = '\0';
	return buf;
}

void
limit_key_add(struct limit_key *k, const void *p, size_t n, int show)
{
	if (n == 0)
		k->empty = 1;
	/*
	 * Parts are length-prefixed, so that ("ab", "c") and ("a", "bc")
	 * differ; a part the buffer has no room for is cut (a header value
	 * may be kilobytes), and one after a full buffer adds nothing.
	 */
	if (k->len + 2 > sizeof(k->buf))
		return;
	if (n > sizeof(k->buf) - k->len - 2)
		n = sizeof(k->buf) - k->len - 2;
	k->buf[k->len++] = (unsigned char)(n >> 8);
	k->buf[k->len++] = (unsigned char)n;
	memcpy(k->buf + k->len, p, n);
	k->len += n;
	if (show)
		limit_key_show(k, p, n);
}

void
limit_key_show(struct limit_key *k, const void *p, size_t n)
{
	size_t i, room;

	if (k->tlen > 0 && k->tlen + 1 < sizeof(k->text))
		k->text[k->tlen++] = ' ';
	room = sizeof(k->text) - 1 - k->tlen;
	/* The text goes to logs and JSON: printable ASCII, no quote nor backslash. */
	for (i = 0; i < n && i < room; i++) {
		unsigned char ch = ((const unsigned char *)p)[i];

		k->text[k->tlen++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
	}
	k->text[k->tlen] = '\0';
}

int
limit_key_conn_part(struct limit_key *k, const struct conn *c, const struct conf_limit_part *p)
{
	const char *name;
	size_t n;

	switch (p->kind) {
	case CONF_LIMIT_CLIENT_IP:
	case CONF_LIMIT_CLIENT_NET:
		/* The whole address, or its /24 (IPv4) or /64 (IPv6): what one customer holds. */
		n = p->kind == CONF_LIMIT_CLIENT_IP ? (c->peer.sa.sa_family == AF_INET6 ? 16 : 4) :
		    (c->peer.sa.sa_family == AF_INET6 ? 8 : 3);
		limit_key_add(k, c->peer.sa.sa_family == AF_INET6 ?
		    (const void *)&c->peer.in6.sin6_addr : (const void *)&c->peer.in.sin_addr, n, 0);
		k->addr = &c->peer.sa;
		k->net = p->kind == CONF_LIMIT_CLIENT_NET;
		return CT_OK;
	case CONF_LIMIT_LISTENER:
		name = c->w->cy->conf->listeners[c->listener].name;
		limit_key_add(k, name, strlen(name), 1);
		return CT_OK;
	default:
		return CT_DECLINED;
	}
}

/*
 * The loop's clock, in ns: every worker's is CLOCK_MONOTONIC, in ms,
 * read once per loop turn.  Rates finer than a ms round to it, as
 * nginx's do.
 */
static uint64_t
limit_now_ns(const struct conn *c)
{
	return ev_now(c->w->loop) * 1000000;
}

static struct shm_limit *
limit_zone(const struct conn *c, size_t idx)
{
	int slot = c->w->cy->limits != NULL ? c->w->cy->limits[idx] : -1;

	return slot >= 0 ? shm_limit_get(c->w->cy->shm, slot) : NULL;
}

/* The key's slot, or NULL (no zone): the limit then lets everything pass. */
static struct shm_limit_slot *
limit_slot(struct conn *c, struct shm_limit *z, struct limit_key *k, uint64_t *h)
{
	struct shm_limit_slot *s;
	char text[SHM_LIMIT_TEXT];

	*h = shm_limit_hash(z, k->buf, k->len);
	if ((s = shm_limit_lookup(c->w->cy->shm, z, *h, ev_now(c->w->loop))) != NULL)
		return s;
	return shm_limit_find(c->w->cy->shm, z, *h, limit_key_text(k, text, sizeof(text)),
	    ev_now(c->w->loop));
}

static void
limit_log(struct conn *c, const struct conf_limit *l, struct shm_limit_slot *s,
    struct limit_key *k, const char *what)
{
	char client[ADDR_STRLEN], text[SHM_LIMIT_TEXT + ADDR_STRLEN];

	if (!log_enabled(LOG_LVL_WARN) ||
	    !shm_limit_log_due(s, ev_now(c->w->loop), l->log_interval_ms))
		return;
	log_warnx("limit \"%s\" %s key \"%s\" (%u refused since the last line), client: %s, "
	    "listener: %s", l->name, what, limit_key_text(k, text, sizeof(text)),
	    atomic_exchange_explicit(&s->hits, 0, memory_order_relaxed),
	    addr_format(&c->peer.sa, client, sizeof(client)),
	    c->w->cy->conf->listeners[c->listener].name);
}

/*
 * A limit of scope cluster (master/climit.h): the key hashed as every
 * node hashes it, the rate divided by the share the master sets (1
 * while it settles with the other nodes), and what passes counted for
 * the master to report.  NULL: no slot, the limit lets it pass.
 */
static struct shm_limit_slot *
limit_cluster_take(struct conn *c, const struct conf_limit *l, struct shm_limit *z,
    struct limit_key *k, struct limit_result *r)
{
	struct shm_limit_slot *s;
	char text[SHM_LIMIT_TEXT];
	unsigned share;
	uint64_t h;
	int shared;

	h = shm_limit_chash(z, k->buf, k->len, &shared);
	if ((s = shm_limit_lookup(c->w->cy->shm, z, h, ev_now(c->w->loop))) == NULL &&
	    (s = shm_limit_find(c->w->cy->shm, z, h, limit_key_text(k, text, sizeof(text)),
	    ev_now(c->w->loop))) == NULL)
		return NULL;
	share = atomic_load_explicit(&z->share, memory_order_relaxed);
	r->verdict = shm_limit_take(s, limit_now_ns(c), l->period_ns * CT_MAX(share, 1u), 1,
	    l->burst, l->mode == CONF_LIMIT_DELAY, &r->wait_ns, &r->left);
	/* A key hashed with the node's own key means nothing to the others. */
	if (r->verdict != SHM_LIMIT_REJECT && shared)
		shm_limit_count(c->w->cy->shm, z, s);
	return s;
}

enum shm_limit_verdict
limit_check(struct conn *c, size_t idx, struct limit_key *k, struct limit_result *r)
{
	const struct conf_limit *l = &c->w->cy->conf->limits[idx];
	struct shm_limit *z = limit_zone(c, idx);
	struct shm_limit_slot *s;
	uint64_t h;

	r->verdict = SHM_LIMIT_PASS;
	r->wait_ns = 0;
	r->left = l->burst;
	if (z == NULL || l->rate_ms == 0 || k->empty)
		return SHM_LIMIT_PASS;
	if (l->scope == CONF_LIMIT_CLUSTER) {
		if ((s = limit_cluster_take(c, l, z, k, r)) == NULL)
			return SHM_LIMIT_PASS;
	} else {
		if ((s = limit_slot(c, z, k, &h)) == NULL)
			return SHM_LIMIT_PASS;
		r->verdict = shm_limit_take(s, limit_now_ns(c), l->period_ns, 1, l->burst,
		    l->mode == CONF_LIMIT_DELAY, &r->wait_ns, &r->left);
	}
	switch (r->verdict) {
	case SHM_LIMIT_PASS:
		atomic_fetch_add_explicit(&z->passed, 1, memory_order_relaxed);
		break;
	case SHM_LIMIT_DELAY:
		atomic_fetch_add_explicit(&z->delayed, 1, memory_order_relaxed);
		break;
	case SHM_LIMIT_REJECT:
		atomic_fetch_add_explicit(&z->rejected, 1, memory_order_relaxed);
		limit_log(c, l, s, k, "refuses");
		break;
	}
	return r->verdict;
}

/* The key of listener limit l for connection c; CT_ERROR: a part it cannot have. */
static int
limit_conn_key(const struct conn *c, const struct conf_limit *l, struct limit_key *k)
{
	size_t i;

	limit_key_init(k);
	for (i = 0; i < l->nparts; i++)
		if (limit_key_conn_part(k, c, &l->parts[i]) != CT_OK)
			return CT_ERROR;
	return CT_OK;
}

int
limit_conn_admit(struct conn *c)
{
	const struct conf *conf = c->w->cy->conf;
	const struct conf_limit_refs *refs = &conf->listeners[c->listener].limits;
	struct limit_hold *holds = NULL;
	struct limit_result r;
	struct limit_key k;
	size_t i, nholds = 0;

	for (i = 0; i < refs->n; i++) {
		const struct conf_limit *l = &conf->limits[refs->idx[i]];
		struct shm_limit *z = limit_zone(c, refs->idx[i]);
		struct shm_limit_slot *s;
		uint64_t h;

		if (z == NULL || limit_conn_key(c, l, &k) != CT_OK)
			continue;
		/* A new connection is one event of the rate; a delay has no meaning here. */
		if (l->rate_ms != 0 && limit_check(c, refs->idx[i], &k, &r) == SHM_LIMIT_REJECT)
			goto refused;
		if (l->conns == 0 || (s = limit_slot(c, z, &k, &h)) == NULL)
			continue;
		if (shm_limit_conn_take(s, l->conns) != CT_OK) {
			atomic_fetch_add_explicit(&z->rejected, 1, memory_order_relaxed);
			limit_log(c, l, s, &k, "caps the connections of");
			goto refused;
		}
		if (holds == NULL && (holds = calloc(CONF_LIMIT_APPLY_MAX, sizeof(*holds))) == NULL) {
			shm_limit_conn_release(s, h);
			conn_close(c, "out of memory");
			return CT_ERROR;
		}
		holds[nholds].slot = s;
		holds[nholds++].h = h;
		c->limits = holds;
	}
	return CT_OK;
refused:
	conn_close(c, "limited");
	return CT_ERROR;
}

void
limit_conn_release(struct conn *c)
{
	struct limit_hold *holds = c->limits;
	size_t i;

	if (holds == NULL)
		return;
	for (i = 0; i < CONF_LIMIT_APPLY_MAX && holds[i].slot != NULL; i++)
		shm_limit_conn_release(holds[i].slot, holds[i].h);
	free(holds);
	c->limits = NULL;
}

/*
 * The admin process and its HTTP/JSON API; see admin.h and cuttlectl(8).
 *
 * One request per connection: read the head (bounded, with a deadline),
 * parse it with the same strict parser as client traffic, answer, close;
 * but for a subscriber of the events, which stays (admin_events.c).
 * Everything an answer says comes from the shared segment, so the API
 * sees all workers at once; the only writes are the admin bits of a
 * server's state word (and its event) and the kill flag of a client
 * connection (followed by a SIGUSR2 to its worker, which runs as the
 * same user).
 * A reload is asked of the master over the admin link (admin.h), and
 * its result is the answer.  JSON is built and escaped by jansson.
 *
 * The process holds nothing but its sockets, the segment, the log and
 * its end of the link, and runs as the configured user.  Clients of
 * the unix socket (mode 0600: the operator) and of TCP (anyone who can
 * connect, until the token says otherwise) take slots from two pools,
 * so that idle TCP connections cannot lock the operator out; a TCP
 * client has ADMIN_TCP_HEAD_MS to send its head, and when the TCP pool
 * is full the oldest one still sending its head gives way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/admin.h"
#include "ctl/admin_approval.h"
#include "ctl/admin_int.h"
#include "lib/addr.h"
#include "lib/ct.h"
#include "lib/ev.h"
#include "lib/http_parse.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/proctitle.h"
#include "shm/backend.h"
#include "shm/events.h"
#include "shm/limit.h"
#include "shm/stats.h"

#define ADMIN_BODY_MAX    4096        /* of the requests that take one (a decision) */
/* A link tag: the connection's index in its low bits, a sequence number above. */
#define ADMIN_TAG_BITS    8
/*
 * Client connections listed by GET /api/v1/connections, unless ?limit=
 * says otherwise: enough for a look at a busy node, and an answer far
 * below the 16 MiB that cuttlectl reads.
 */
#define ADMIN_LIST_DEFAULT 1000
#define ADMIN_LIST_MAX     20000

static volatile sig_atomic_t admin_terminate;

/* ------------------------------------------------------------ sockets */

/* Notes which file at path is ours, so that close removes nothing else. */
static void
admin_sockets_own(struct admin_sockets *as, const char *path)
{
	struct stat st;

	as->ino = 0;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		as->dev = st.st_dev;
		as->ino = st.st_ino;
	}
}

int
admin_sockets_open(struct admin_sockets *as, const struct conf *conf)
{
	const struct conf_admin *ad = &conf->admin;
	struct sockaddr_un sun;
	struct stat st;
	int on = 1;

	if (ad->socket != NULL && as->unix_fd == -1) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, ad->socket, strlen(ad->socket) + 1);
		/* A socket left by a master that died is replaced; anything else is not. */
		if (lstat(ad->socket, &st) == 0 && S_ISSOCK(st.st_mode))
			(void)unlink(ad->socket);
		as->unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (as->unix_fd == -1 ||
		    bind(as->unix_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    chmod(ad->socket, 0600) == -1 || listen(as->unix_fd, 64) == -1) {
			log_warn("cannot listen on the admin socket \"%s\"", ad->socket);
			admin_sockets_close(as, conf);
			return CT_ERROR;
		}
		admin_sockets_own(as, ad->socket);
	}
	if (ad->listen != NULL && as->tcp_fd == -1) {
		as->tcp_fd = socket(ad->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (as->tcp_fd == -1 ||
		    setsockopt(as->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
		    bind(as->tcp_fd, (const struct sockaddr *)&ad->addr.ss, ad->addr.len) == -1 ||
		    listen(as->tcp_fd, 64) == -1) {
			log_warn("cannot listen on the admin address %s", ad->listen);
			admin_sockets_close(as, conf);
			return CT_ERROR;
		}
	}
	return CT_OK;
}

void
admin_sockets_close(struct admin_sockets *as, const struct conf *conf)
{
	struct stat st;

	if (as->unix_fd != -1) {
		close(as->unix_fd);
		/* Not a file that another master bound over ours since. */
		if (conf->admin.socket != NULL && as->ino != 0 &&
		    lstat(conf->admin.socket, &st) == 0 && st.st_dev == as->dev &&
		    st.st_ino == as->ino)
			(void)unlink(conf->admin.socket);
	}
	if (as->tcp_fd != -1)
		close(as->tcp_fd);
	as->unix_fd = as->tcp_fd = -1;
	as->ino = 0;
}

/* Is fd a listening socket bound to what (a unix path, or an address)? */
static int
admin_sockets_is(int fd, const char *path, const struct addr *a)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int acc = 0;
	socklen_t alen = sizeof(acc);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == -1 || !acc ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (path != NULL)
		return ss.ss_family == AF_UNIX &&
		    strcmp(((struct sockaddr_un *)&ss)->sun_path, path) == 0;
	return a != NULL && addr_equal((struct sockaddr *)&ss, (const struct sockaddr *)&a->ss);
}

void
admin_sockets_adopt(struct admin_sockets *as, const struct conf *conf, const char *env)
{
	const struct conf_admin *ad = &conf->admin;
	int ufd = -1, tfd = -1;

	as->unix_fd = as->tcp_fd = -1;
	as->ino = 0;
	if (env == NULL || sscanf(env, "%d,%d", &ufd, &tfd) != 2)
		return;
	if (ad->socket != NULL && admin_sockets_is(ufd, ad->socket, NULL)) {
		as->unix_fd = ufd;
		/* The previous master hands it over: ours to remove from now on. */
		admin_sockets_own(as, ad->socket);
	} else if (ufd >= 0) {
		close(ufd);
	}
	if (ad->listen != NULL && admin_sockets_is(tfd, NULL, &ad->addr))
		as->tcp_fd = tfd;
	else if (tfd >= 0)
		close(tfd);
	if (as->unix_fd != -1)
		(void)fcntl(as->unix_fd, F_SETFD, FD_CLOEXEC);
	if (as->tcp_fd != -1)
		(void)fcntl(as->tcp_fd, F_SETFD, FD_CLOEXEC);
}

void
admin_sockets_export(const struct admin_sockets *as, char *buf, size_t len)
{
	snprintf(buf, len, "%d,%d", as->unix_fd, as->tcp_fd);
}

void
admin_sockets_inherit(const struct admin_sockets *as)
{
	if (as->unix_fd != -1)
		(void)fcntl(as->unix_fd, F_SETFD, 0);
	if (as->tcp_fd != -1)
		(void)fcntl(as->tcp_fd, F_SETFD, 0);
}

/* ------------------------------------------------------------ answers */

static const char *
admin_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Error";
}

void
admin_answer_with(struct admin_conn *ac, int status, const char *ctype, const char *extra,
    char *body)
{
	size_t blen = body != NULL ? strlen(body) : 0;
	int n;

	n = asprintf(&ac->out, "HTTP/1.1 %d %s\r\nServer: cuttle\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%sConnection: close\r\n\r\n%s",
	    status, admin_reason(status), ctype, blen, extra, body != NULL ? body : "");
	free(body);
	if (n < 0) {
		ac->out = NULL;
		ac->out_len = 0;
		return;
	}
	ac->out_len = (size_t)n;
}

/* Takes body (malloc'd) as the answer's body. */
static void
admin_answer(struct admin_conn *ac, int status, const char *ctype, char *body)
{
	admin_answer_with(ac, status, ctype, "", body);
}

void
admin_json(struct admin_conn *ac, int status, json_t *j)
{
	admin_json_with(ac, status, "", j);
}

void
admin_json_with(struct admin_conn *ac, int status, const char *extra, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL) {
		admin_answer(ac, 500, "application/json", strdup("{\"error\":\"out of memory\"}"));
		return;
	}
	/* One line, so that a shell reads it whole. */
	char *nl = NULL;

	if (asprintf(&nl, "%s\n", s) < 0)
		nl = NULL;
	free(s);
	admin_answer_with(ac, status, "application/json", extra, nl);
}

void
admin_error(struct admin_conn *ac, int status, const char *msg)
{
	admin_json(ac, status, json_pack("{s:s}", "error", msg));
}

/* -------------------------------------------------------------- views */

/* The counter as a JSON integer, or null without one. */
static json_t *
admin_counter(atomic_uint_fast64_t *c)
{
	if (c == NULL)
		return json_null();
	return json_integer((json_int_t)atomic_load_explicit(c, memory_order_relaxed));
}

static struct shm_upstream *
admin_shm_upstream(const struct admin *a, size_t i)
{
	return shm_upstream_get(a->cy->shm, a->cy->upstreams[i].shm_idx);
}

/*
 * Who runs upstream i's active checks, as the master decided (health.h):
 * null without active checks, else {by: self, peer, every_node or
 * fallback, node: the one that checks, or null when every node does}.
 */
static json_t *
admin_prober(const struct admin *a, size_t i)
{
	struct shm_upstream *su = admin_shm_upstream(a, i);
	unsigned probe = atomic_load(&su->probe);
	char peer[SHM_TEXT_LEN];
	json_t *node;

	if (a->cy->conf->upstreams[i].health.type == CONF_CHECK_NONE)
		return json_null();
	(void)shm_text_read(&su->prober, peer);   /* "" while being written */
	node = probe == SHM_PROBE_SELF ? json_string(a->cy->conf->redis.node) :
	    probe == SHM_PROBE_PEER ? json_string(peer) : json_null();
	return json_pack("{s:s, s:o}", "by", shm_probe_name(probe), "node", node);
}

/* Upstream -> its prober, of those with active checks, for the status. */
static json_t *
admin_status_probes(const struct admin *a)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < a->cy->conf->nupstreams; i++)
		if (a->cy->conf->upstreams[i].health.type != CONF_CHECK_NONE)
			json_object_set_new(o, a->cy->conf->upstreams[i].name, admin_prober(a, i));
	return o;
}

/*
 * The link to Redis: null standalone, else its state, whether it is up
 * and since when, the Redis it uses and why it is down.
 */
static json_t *
admin_status_redis(const struct admin *a)
{
	struct shm_redis *r = &shm_header(a->cy->shm)->redis;
	char server[SHM_TEXT_LEN], reason[SHM_TEXT_LEN];
	uint64_t since = atomic_load(&r->since);
	int up = atomic_load(&r->up) != 0;

	if (!a->cy->conf->redis.enabled)
		return json_null();
	(void)shm_text_read(&r->server, server);   /* "" while being written */
	(void)shm_text_read(&r->reason, reason);
	return json_pack("{s:s, s:b, s:o, s:s, s:o, s:s, s:s, s:o}",
	    "state", shm_redis_state_name(atomic_load(&r->state)), "up", up,
	    "since", since != 0 ? json_integer((json_int_t)since) : json_null(),
	    "server", server,
	    "reason", !up && reason[0] != '\0' ? json_string(reason) : json_null(),
	    "node", a->cy->conf->redis.node, "prefix", a->cy->conf->redis.prefix,
	    "probes", admin_status_probes(a));
}

static json_t *
admin_status(struct admin *a)
{
	struct shm_header *hd = shm_header(a->cy->shm);
	const struct conf *conf = a->cy->conf;
	json_t *workers = json_array(), *listeners = json_array();
	unsigned i, n = atomic_load(&hd->workers);
	size_t k;

	for (i = 0; i < n && i < 64; i++)
		json_array_append_new(workers, json_pack("{s:i, s:i}", "slot", (int)i,
		    "pid", atomic_load(&hd->worker_pids[i])));
	for (k = 0; k < conf->nlisteners; k++) {
		int idx = a->cy->listen[k].stats;
		struct shm_listener *l = idx >= 0 ? shm_listener_get(a->cy->shm, idx) : NULL;

		/* A listener that found no slot in shm has no counters: null, not 0. */
		json_array_append_new(listeners, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}",
		    "name", conf->listeners[k].name, "listen", conf->listeners[k].listen,
		    "mode", conf_mode_name(conf->listeners[k].mode),
		    "accepted", admin_counter(l != NULL ? &l->accepted : NULL),
		    "active", admin_counter(l != NULL ? &l->active : NULL),
		    "requests", admin_counter(l != NULL ? &l->requests : NULL)));
	}
	return json_pack("{s:s, s:i, s:I, s:i, s:o, s:o, s:o}", "version", CT_VERSION,
	    "pid", atomic_load(&hd->master_pid),
	    "uptime_s", (json_int_t)(time(NULL) - (time_t)atomic_load(&hd->started)),
	    "generation", (int)atomic_load(&hd->generation), "workers", workers,
	    "listeners", listeners, "redis", admin_status_redis(a));
}

const char *
admin_state_name(unsigned state)
{
	switch (state & SHM_BACKEND_ADMIN_MASK) {
	case SHM_BACKEND_ADMIN_DRAIN:    return "drain";
	case SHM_BACKEND_ADMIN_DISABLED: return "disabled";
	}
	return "enabled";
}

/*
 * The server's cap: its limit and scope, what this node may hold of it
 * now (the limit itself for scope node), the other nodes' claims last
 * seen (scope cluster) and the clients refused at it; null without one.
 */
static json_t *
admin_max_conns(const struct conf_max_conns *mc, struct shm_backend *b)
{
	if (mc->limit == 0)
		return json_null();
	return json_pack("{s:I, s:s, s:I, s:I, s:o, s:o}", "limit", (json_int_t)mc->limit,
	    "scope", conf_conns_scope_name(mc->scope),
	    "node_limit", (json_int_t)atomic_load(&b->conns_limit),
	    "capped", (json_int_t)atomic_load(&b->capped),
	    "reserve", mc->scope == CONF_CONNS_CLUSTER ?
	    json_integer((json_int_t)mc->reserve) : json_null(),
	    "others", mc->scope == CONF_CONNS_CLUSTER ?
	    json_integer((json_int_t)atomic_load(&b->conns_others)) : json_null());
}

static json_t *
admin_server(const struct conf_server *s, struct shm_backend *b)
{
	unsigned st = atomic_load(&b->state);
	uint64_t check = atomic_load(&b->check_us), ewma = atomic_load(&b->ewma_us);
	int down = (st & SHM_BACKEND_DOWN) != 0;
	char reason[SHM_TEXT_LEN];

	(void)shm_text_read(&b->check_reason, reason);   /* "" while being written */

	return json_pack("{s:s, s:i, s:b, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
	    "address", s->address, "weight", (int)s->weight, "backup", s->backup,
	    "admin", admin_state_name(st), "health", down ? "down" : "up",
	    "reason", down && reason[0] != '\0' ? json_string(reason) : json_null(),
	    "check_ms", check != 0 ? json_real((double)check / 1000.0) : json_null(),
	    "active", (json_int_t)atomic_load(&b->active),
	    "total", (json_int_t)atomic_load(&b->total),
	    "failures", (json_int_t)atomic_load(&b->failures),
	    "bytes_in", (json_int_t)atomic_load(&b->bytes_in),
	    "bytes_out", (json_int_t)atomic_load(&b->bytes_out),
	    "latency_ms", ewma != 0 ? json_real((double)ewma / 1000.0) : json_null(),
	    "max_conns", admin_max_conns(&s->max_conns, b));
}

static json_t *
admin_upstreams(struct admin *a)
{
	const struct conf *conf = a->cy->conf;
	json_t *ups = json_array();
	size_t i, k;

	for (i = 0; i < conf->nupstreams; i++) {
		const struct conf_upstream *u = &conf->upstreams[i];
		json_t *servers = json_array();

		for (k = 0; k < u->nservers; k++)
			json_array_append_new(servers, admin_server(&u->servers[k],
			    shm_backend_get(a->cy->shm, a->cy->upstreams[i].backend[k])));
		json_array_append_new(ups, json_pack("{s:s, s:s, s:o, s:o}", "name", u->name,
		    "balance", conf_balance_name(u->balance), "probe", admin_prober(a, i),
		    "servers", servers));
	}
	return json_pack("{s:o}", "upstreams", ups);
}

/* ------------------------------------------------ client connections */

/* One live client connection, copied out of its worker's shm entry. */
struct admin_entry {
	uint64_t id;
	uint64_t started_ms;          /* CLOCK_REALTIME */
	uint64_t from_client;
	uint64_t to_client;
	int backend;                  /* shm backends slot, -1: none */
	unsigned listener;            /* shm listeners slot */
	unsigned port;
	int family;
	uint8_t addr[16];
	pid_t pid;                    /* of its worker */
	unsigned slot;
	unsigned generation;
	unsigned tls;                 /* SHM_CONN_TLS(); 0: plain */
	char sni[64];                 /* "" when unknown */
	char subject[128];
	char dest[64];                /* a destination its client named; "" when none */
};

/* Called by admin_entries_walk() for each connection; nonzero stops the walk. */
typedef int (*admin_entry_cb)(const struct admin_entry *v, struct shm_conn *e, void *arg);

/*
 * Copies the entry e into v when it holds a live connection.  The
 * worker publishes id last and clears it first: a copy taken between
 * two loads that see the same id is of one connection, any other may
 * mix two tenants of a reused slot and is dropped.
 */
static int
admin_entry_copy(struct shm_conn *e, const struct shm_conn_tls *t,
    const struct shm_conn_dest *d, struct admin_entry *v)
{
	uint64_t id = atomic_load_explicit(&e->id, memory_order_acquire);

	if (id == 0)
		return 0;
	v->id = id;
	v->started_ms = e->started_ms;
	v->from_client = atomic_load_explicit(&e->from_client, memory_order_relaxed);
	v->to_client = atomic_load_explicit(&e->to_client, memory_order_relaxed);
	v->backend = atomic_load_explicit(&e->backend, memory_order_acquire);
	v->dest[0] = '\0';
	/* After the acquire load of backend: the worker wrote the name before it. */
	if ((v->backend == SHM_CONN_DEST || v->backend == SHM_CONN_PENDING_DEST ||
	    v->backend == SHM_CONN_PENDING_REQUEST) && d != NULL) {
		memcpy(v->dest, d->name, sizeof(v->dest));
		v->dest[sizeof(v->dest) - 1] = '\0';
	}
	v->listener = e->listener;
	v->port = e->port;
	v->family = e->family;
	memcpy(v->addr, e->addr, sizeof(v->addr));
	v->tls = atomic_load_explicit(&e->tls, memory_order_acquire);
	if (SHM_CONN_TLS_VERSION(v->tls) >= SHM_TLS_VERSIONS ||
	    SHM_CONN_TLS_CIPHER(v->tls) >= SHM_TLS_CIPHERS)
		v->tls = 0;
	v->sni[0] = v->subject[0] = '\0';
	/* After the acquire load of tls: the worker wrote these before it. */
	if (v->tls != 0 && t != NULL) {
		memcpy(v->sni, t->sni, sizeof(v->sni));
		memcpy(v->subject, t->subject, sizeof(v->subject));
		v->sni[sizeof(v->sni) - 1] = v->subject[sizeof(v->subject) - 1] = '\0';
	}
	/* The copy above must not be read after the check below. */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&e->id, memory_order_relaxed) == id;
}

/*
 * Calls cb on every live connection of every worker that runs, old
 * generations included, until cb returns nonzero; returns that value,
 * or 0 when the walk ended.
 */
static int
admin_entries_walk(const struct shm *shm, admin_entry_cb cb, void *arg)
{
	struct admin_entry v;
	struct shm_worker *w;
	struct shm_conn *e;
	struct shm_conn_tls *t;
	struct shm_conn_dest *d;
	uint32_t k, n;
	int i, rc;
	pid_t pid;

	for (i = 0; i < SHM_WORKERS_MAX; i++) {
		w = shm_worker_get(shm, i);
		/* 0 is a free record; -1 one that the master is filling in. */
		pid = atomic_load(&w->pid);
		if (pid <= 0 || (e = shm_worker_conns(shm, w)) == NULL)
			continue;
		/*
		 * The master frees a record's table when its worker is reaped;
		 * whatever the record says meanwhile, stay inside the segment.
		 */
		n = CT_MIN(w->nconns, (uint32_t)((shm->size - w->conns_off) / sizeof(*e)));
		t = shm_worker_conns_tls(shm, w);
		if (t != NULL && w->tls_off + (uint64_t)n * sizeof(*t) > shm->size)
			t = NULL;
		d = shm_worker_conns_dest(shm, w);
		if (d != NULL && w->dest_off + (uint64_t)n * sizeof(*d) > shm->size)
			d = NULL;
		for (k = 0; k < n; k++) {
			if (!admin_entry_copy(&e[k], t != NULL ? &t[k] : NULL, d != NULL ? &d[k] : NULL,
			    &v))
				continue;
			v.pid = pid;
			v.slot = w->slot;
			v.generation = w->generation;
			if ((rc = cb(&v, &e[k], arg)) != 0)
				return rc;
		}
	}
	return 0;
}

const char *
admin_addr_format(int family, const uint8_t *addr, unsigned port, char *buf, size_t size)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;

	memset(&u, 0, sizeof(u));
	u.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET6) {
		memcpy(&u.in6.sin6_addr, addr, sizeof(u.in6.sin6_addr));
		u.in6.sin6_port = htons((uint16_t)port);
	} else if (family == AF_INET) {
		memcpy(&u.in.sin_addr, addr, sizeof(u.in.sin_addr));
		u.in.sin_port = htons((uint16_t)port);
	}
	return addr_format(&u.sa, buf, size);
}

/* "127.0.0.1:5555" or "[::1]:5555", the client of v. */
static const char *
admin_entry_client(const struct admin_entry *v, char *buf, size_t size)
{
	return admin_addr_format(v->family, v->addr, v->port, buf, size);
}

static json_t *
admin_entry_json(const struct shm *shm, const struct admin_entry *v, uint64_t now_ms)
{
	json_t *o;
	const char *listener = NULL, *server = NULL, *upstream = NULL;
	char client[ADDR_STRLEN], addr[ADDR_STRLEN], lname[SHM_NAME_LEN], uname[SHM_NAME_LEN];

	/* A slot given back after the copy of the entry names nothing. */
	if (v->listener < SHM_LISTENERS_MAX &&
	    shm_named_read(shm, SHM_TABLE_LISTENERS, (int)v->listener, lname))
		listener = lname;
	if (v->backend >= 0 && v->backend < SHM_BACKENDS_MAX &&
	    shm_named_read(shm, SHM_TABLE_BACKENDS, v->backend, uname)) {
		server = addr_format((const struct sockaddr *)&shm_backend_get(shm, v->backend)->addr,
		    addr, sizeof(addr));
		upstream = uname;
	}
	o = json_pack("{s:I, s:i, s:i, s:i, s:s?, s:s, s:s?, s:s?, s:I, s:I, s:I, s:I}",
	    "id", (json_int_t)v->id, "worker", (int)v->slot, "pid", (int)v->pid,
	    "generation", (int)v->generation, "listener", listener,
	    "client", admin_entry_client(v, client, sizeof(client)),
	    "server", server, "upstream", upstream,
	    "started", (json_int_t)(v->started_ms / 1000),
	    "age_ms", (json_int_t)(now_ms > v->started_ms ? now_ms - v->started_ms : 0),
	    "from_client", (json_int_t)v->from_client,
	    "to_client", (json_int_t)v->to_client);
	if (o != NULL && v->dest[0] != '\0')
		(void)json_object_set_new(o, v->backend == SHM_CONN_PENDING_REQUEST ? "request" :
		    "destination", json_string(v->dest));
	if (o != NULL && v->tls != 0)
		/* The worker wrote the name and subject as printable ASCII: valid UTF-8. */
		(void)json_object_set_new(o, "tls", json_pack("{s:s, s:s, s:s?, s:s?}",
		    "version", shm_tls_version_names[SHM_CONN_TLS_VERSION(v->tls)],
		    "cipher", shm_tls_cipher_names[SHM_CONN_TLS_CIPHER(v->tls)],
		    "sni", v->sni[0] != '\0' ? v->sni : NULL,
		    "client_cert", v->subject[0] != '\0' ? v->subject : NULL));
	return o;
}

struct admin_list {
	struct admin_entry *v;
	size_t n, cap;
};

static int
admin_list_add(const struct admin_entry *v, struct shm_conn *e, void *arg)
{
	struct admin_list *l = arg;
	struct admin_entry *p;

	(void)e;
	if (l->n == l->cap) {
		if ((p = reallocarray(l->v, l->cap == 0 ? 256 : l->cap * 2, sizeof(*p))) == NULL)
			return CT_ERROR;
		l->v = p;
		l->cap = l->cap == 0 ? 256 : l->cap * 2;
	}
	l->v[l->n++] = *v;
	return 0;
}

static int
admin_entry_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct admin_entry *)a)->id, y = ((const struct admin_entry *)b)->id;

	return x < y ? -1 : x > y;
}

int
admin_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;

	if (len == 0)
		return CT_ERROR;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CT_ERROR;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return CT_ERROR;
		v = v * 10 + d;
	}
	*out = v;
	return CT_OK;
}

/*
 * ?limit=N in the query [q, q + len) (without its '?'), or the default.
 * Other parameters are ignored.
 */
static int
admin_query_limit(const char *q, size_t len, uint64_t *limit)
{
	const char *end = q + len, *amp;

	*limit = ADMIN_LIST_DEFAULT;
	for (; q < end; q = amp + 1) {
		if ((amp = memchr(q, '&', (size_t)(end - q))) == NULL)
			amp = end;
		if (amp - q >= 6 && memcmp(q, "limit=", 6) == 0 &&
		    (admin_parse_u64(q + 6, (size_t)(amp - q - 6), limit) != CT_OK ||
		    *limit > ADMIN_LIST_MAX))
			return CT_ERROR;
	}
	return CT_OK;
}

static int
admin_pending_add(const struct admin_entry *v, struct shm_conn *e, void *arg)
{
	return SHM_CONN_IS_PENDING(v->backend) ? admin_list_add(v, e, arg) : 0;
}

/*
 * GET /api/v1/connections: the oldest first, at most limit of them.
 * pending: only the clients held for an approval decision, as "pending".
 */
static void
admin_connections_list(struct admin_conn *ac, const char *query, size_t qlen, int pending)
{
	const struct shm *shm = ac->a->cy->shm;
	struct admin_list l = { NULL, 0, 0 };
	struct timespec ts;
	uint64_t limit, now_ms;
	char msg[64];
	json_t *list;
	size_t i;

	if (admin_query_limit(query, qlen, &limit) != CT_OK) {
		snprintf(msg, sizeof(msg), "limit must be a number from 0 to %d", ADMIN_LIST_MAX);
		admin_error(ac, 400, msg);
		return;
	}
	if (admin_entries_walk(shm, pending ? admin_pending_add : admin_list_add, &l) != 0) {
		free(l.v);
		admin_error(ac, 500, "out of memory");
		return;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(l.v[0]), admin_entry_cmp);
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	list = json_array();
	for (i = 0; i < l.n && i < limit; i++)
		json_array_append_new(list, admin_entry_json(shm, &l.v[i], now_ms));
	free(l.v);
	admin_json(ac, 200, json_pack("{s:o, s:I, s:b}", pending ? "pending" : "connections", list,
	    "total", (json_int_t)l.n, "truncated", l.n > limit));
}

static void
admin_connections(struct admin_conn *ac, const char *query, size_t qlen)
{
	admin_connections_list(ac, query, qlen, 0);
}

struct admin_kill {
	uint64_t id;
	struct admin_entry v;
	struct shm_conn *e;
};

static int
admin_kill_find(const struct admin_entry *v, struct shm_conn *e, void *arg)
{
	struct admin_kill *k = arg;

	if (v->id != k->id)
		return 0;
	k->v = *v;
	k->e = e;
	return 1;
}

/*
 * DELETE /api/v1/connections/ID: raises the entry's kill flag and wakes
 * its worker, which closes the connection in its next loop iteration;
 * hence 202.
 */
static void
admin_connection_kill(struct admin_conn *ac, const char *arg)
{
	struct admin_kill k;
	char client[ADDR_STRLEN];

	memset(&k, 0, sizeof(k));
	if (admin_parse_u64(arg, strlen(arg), &k.id) != CT_OK) {
		admin_error(ac, 400, "a connection id is a decimal number");
		return;
	}
	if (k.id == 0 || admin_entries_walk(ac->a->cy->shm, admin_kill_find, &k) == 0) {
		admin_error(ac, 404, "no such connection");
		return;
	}
	/*
	 * The word names the connection, so a slot reused since the walk
	 * never closes the newcomer: the worker compares it with the id.
	 */
	atomic_store(&k.e->kill, k.id);
	if (atomic_load(&k.e->id) != k.id) {
		admin_error(ac, 404, "no such connection");
		return;
	}
	if (kill(k.v.pid, SIGUSR2) == -1) {
		/* ESRCH: the worker is gone, and its connections with it. */
		if (errno == ESRCH)
			admin_error(ac, 404, "no such connection");
		else
			admin_error(ac, 500, strerror(errno));
		return;
	}
	log_notice("admin: kill of connection %" PRIu64 ", client: %s, sent to worker %u "
	    "(pid %d)", k.id, admin_entry_client(&k.v, client, sizeof(client)), k.v.slot,
	    (int)k.v.pid);
	admin_json(ac, 202, json_pack("{s:I, s:b}", "id", (json_int_t)k.id, "killed", 1));
}

/* ------------------------------------------------------------ metrics */

/*
 * Prometheus text format 0.0.4: each family's HELP and TYPE once, then
 * all its samples.  Label values are names and addresses, which the
 * configuration keeps to characters that need no escaping.
 */

void
admin_family(FILE *f, const struct admin_family *fam)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, fam->type);
}

/* Microseconds as seconds, exactly and without trailing zeros: "0.0025", "10". */
static const char *
admin_seconds(uint64_t us, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
	n = strlen(buf);
	while (n > 1 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return buf;
}

/*
 * The samples of one histogram.  The buckets are made cumulative from
 * one reading of each, so that le="+Inf" and _count agree while workers
 * keep adding; _sum is read apart and may be a sample ahead of them.
 */
static void
admin_metrics_hist(FILE *f, const char *name, const char *labels, struct shm_hist *h)
{
	char le[32];
	uint64_t n = 0;
	size_t i;

	for (i = 0; i <= SHM_HIST_BOUNDS; i++) {
		n += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		fprintf(f, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, labels,
		    i < SHM_HIST_BOUNDS ? admin_seconds(shm_hist_bound_us[i], le, sizeof(le)) :
		    "+Inf", n);
	}
	fprintf(f, "%s_sum{%s} %s\n", name, labels,
	    admin_seconds(atomic_load_explicit(&h->sum_us, memory_order_relaxed), le, sizeof(le)));
	fprintf(f, "%s_count{%s} %" PRIu64 "\n", name, labels, n);
}

static void
admin_metrics_one(FILE *f, const char *name, const char *labels, atomic_uint_fast64_t *c)
{
	fprintf(f, "%s{%s} %" PRIu64 "\n", name, labels,
	    (uint64_t)atomic_load_explicit(c, memory_order_relaxed));
}

/* The servers of the running configuration. */
static void
admin_metrics_servers(FILE *f, struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_server_up", "gauge", "Whether the server takes new connections." },
		{ "cuttle_server_active_connections", "gauge",
		    "Connections open or connecting to the server now." },
		{ "cuttle_server_connections_total", "counter",
		    "Connections established to the server." },
		{ "cuttle_server_failures_total", "counter",
		    "Connection attempts to the server that failed." },
		{ "cuttle_server_received_bytes_total", "counter", "Bytes received from the server." },
		{ "cuttle_server_sent_bytes_total", "counter", "Bytes sent to the server." },
		{ "cuttle_server_latency_seconds", "gauge",
		    "Moving average of the connect and first byte time." },
		{ "cuttle_server_response_seconds", "histogram", "Connect and first byte time." },
		{ "cuttle_server_tls_handshakes_total", "counter",
		    "TLS handshakes completed with the server (upstream tls)." },
		{ "cuttle_server_tls_resumed_total", "counter",
		    "TLS handshakes with the server that resumed a session." },
		{ "cuttle_server_capped_total", "counter",
		    "Clients refused while the server was at its max_conns and no other could take them." },
		{ "cuttle_server_max_conns", "gauge",
		    "Connections this node may have open to the server now (servers with max_conns)." },
	};
	const struct conf *conf = a->cy->conf;
	char labels[2 * SHM_NAME_LEN + ADDR_STRLEN], secs[32];
	struct shm_backend *b;
	size_t i, k, m;

	for (m = 0; m < CT_NELEM(fam); m++) {
		admin_family(f, &fam[m]);
		for (i = 0; i < conf->nupstreams; i++) {
			const struct conf_upstream *u = &conf->upstreams[i];

			for (k = 0; k < u->nservers; k++) {
				b = shm_backend_get(a->cy->shm, a->cy->upstreams[i].backend[k]);
				snprintf(labels, sizeof(labels), "upstream=\"%s\",server=\"%s\"",
				    u->name, u->servers[k].address);
				switch (m) {
				case 0:
					fprintf(f, "%s{%s} %d\n", fam[m].name, labels,
					    shm_backend_usable(b));
					break;
				case 1:
					admin_metrics_one(f, fam[m].name, labels, &b->active);
					break;
				case 2:
					admin_metrics_one(f, fam[m].name, labels, &b->total);
					break;
				case 3:
					admin_metrics_one(f, fam[m].name, labels, &b->failures);
					break;
				case 4:
					admin_metrics_one(f, fam[m].name, labels, &b->bytes_in);
					break;
				case 5:
					admin_metrics_one(f, fam[m].name, labels, &b->bytes_out);
					break;
				case 6:
					fprintf(f, "%s{%s} %s\n", fam[m].name, labels,
					    admin_seconds(atomic_load(&b->ewma_us), secs, sizeof(secs)));
					break;
				case 8:
					admin_metrics_one(f, fam[m].name, labels, &b->tls_handshakes);
					break;
				case 9:
					admin_metrics_one(f, fam[m].name, labels, &b->tls_resumed);
					break;
				case 10:
					admin_metrics_one(f, fam[m].name, labels, &b->capped);
					break;
				case 11:
					if (u->servers[k].max_conns.limit != 0)
						admin_metrics_one(f, fam[m].name, labels,
						    &b->conns_limit);
					break;
				default:
					admin_metrics_hist(f, fam[m].name, labels, &b->response);
					break;
				}
			}
		}
	}
}

/*
 * Every listener with a slot in shm: of this configuration, or of an
 * earlier one whose workers still run.  A slot keeps its counters
 * across reloads while some generation has its name.
 */
static void
admin_metrics_listeners(FILE *f, const struct shm *shm)
{
	static const struct admin_family fam[] = {
		{ "cuttle_listener_connections_total", "counter", "Client connections accepted." },
		{ "cuttle_listener_connections_active", "gauge", "Client connections open now." },
		{ "cuttle_listener_requests_total", "counter", "HTTP requests answered." },
		{ "cuttle_listener_responses_total", "counter",
		    "HTTP responses by status class." },
		{ "cuttle_listener_bytes_received_total", "counter",
		    "Bytes received from clients, counted when a connection closes." },
		{ "cuttle_listener_bytes_sent_total", "counter",
		    "Bytes sent to clients, counted when a connection closes." },
		{ "cuttle_listener_duration_seconds", "histogram",
		    "Duration of HTTP requests, or of TCP connections." },
		{ "cuttle_auth_total", "counter",
		    "HTTP basic authentications, by result." },
	};
	char labels[SHM_NAME_LEN + 16], name[SHM_NAME_LEN];
	struct shm_listener *l;
	size_t m, c;
	int i;

	for (m = 0; m < CT_NELEM(fam); m++) {
		admin_family(f, &fam[m]);
		for (i = 0; i < SHM_LISTENERS_MAX; i++) {
			l = shm_listener_get(shm, i);
			if (!shm_named_read(shm, SHM_TABLE_LISTENERS, i, name))
				continue;
			snprintf(labels, sizeof(labels), "listener=\"%s\"", name);
			switch (m) {
			case 0:
				admin_metrics_one(f, fam[m].name, labels, &l->accepted);
				break;
			case 1:
				admin_metrics_one(f, fam[m].name, labels, &l->active);
				break;
			case 2:
				admin_metrics_one(f, fam[m].name, labels, &l->requests);
				break;
			case 3:
				for (c = 0; c < CT_NELEM(l->status); c++)
					fprintf(f, "%s{%s,code=\"%zuxx\"} %" PRIu64 "\n", fam[m].name,
					    labels, c + 1, (uint64_t)atomic_load_explicit(
					    &l->status[c], memory_order_relaxed));
				break;
			case 4:
				admin_metrics_one(f, fam[m].name, labels, &l->bytes_in);
				break;
			case 5:
				admin_metrics_one(f, fam[m].name, labels, &l->bytes_out);
				break;
			case 7:
				for (c = 0; c < CT_NELEM(l->auth); c++)
					fprintf(f, "%s{%s,result=\"%s\"} %" PRIu64 "\n", fam[m].name,
					    labels, shm_auth_result_names[c], (uint64_t)atomic_load_explicit(
					    &l->auth[c], memory_order_relaxed));
				break;
			default:
				admin_metrics_hist(f, fam[m].name, labels, &l->duration);
				break;
			}
		}
	}
}

/* The segment: the allocator's use and the slots of each table. */
static void
admin_metrics_shm(FILE *f, const struct shm *shm)
{
	static const struct admin_family fam[] = {
		{ "cuttle_shm_size_bytes", "gauge", "Size of the shared memory segment." },
		{ "cuttle_shm_bytes", "gauge",
		    "Bytes of the segment's heap handed out (used) and not (free)." },
		{ "cuttle_shm_class_blocks", "gauge", "Small blocks in use, by size class." },
		{ "cuttle_shm_allocations_total", "counter", "Allocations from the segment." },
		{ "cuttle_shm_frees_total", "counter", "Blocks given back to the segment." },
		{ "cuttle_shm_alloc_failures_total", "counter",
		    "Allocations refused because the segment was full." },
		{ "cuttle_shm_slots", "gauge", "Slots of each table of the segment, used and free." },
	};
	struct shm_usage u;
	unsigned c, id;

	shm_usage_get(shm, &u);
	admin_family(f, &fam[0]);
	fprintf(f, "%s %" PRIu64 "\n", fam[0].name, u.size);
	admin_family(f, &fam[1]);
	fprintf(f, "%s{state=\"used\"} %" PRIu64 "\n", fam[1].name, u.used);
	fprintf(f, "%s{state=\"free\"} %" PRIu64 "\n", fam[1].name, u.heap - u.used);
	admin_family(f, &fam[2]);
	for (c = 0; c < SHM_CLASSES; c++)
		fprintf(f, "%s{class=\"%zu\"} %" PRIu64 "\n", fam[2].name, shm_class_size(c),
		    u.class_used[c]);
	admin_family(f, &fam[3]);
	fprintf(f, "%s %" PRIu64 "\n", fam[3].name, u.allocs);
	admin_family(f, &fam[4]);
	fprintf(f, "%s %" PRIu64 "\n", fam[4].name, u.frees);
	admin_family(f, &fam[5]);
	fprintf(f, "%s %" PRIu64 "\n", fam[5].name, u.failures);
	admin_family(f, &fam[6]);
	for (id = 0; id < SHM_TABLE_IDS; id++) {
		const struct shm_table *t = shm_table(shm, (enum shm_table_id)id);
		unsigned used = atomic_load_explicit(&((struct shm_table *)(uintptr_t)t)->used,
		    memory_order_relaxed);

		fprintf(f, "%s{table=\"%s\",state=\"used\"} %u\n", fam[6].name, t->name, used);
		fprintf(f, "%s{table=\"%s\",state=\"free\"} %u\n", fam[6].name, t->name,
		    t->count - used);
	}
}

/* The last reload's outcome, as the master published it in the header. */
static void
admin_metrics_reload(FILE *f, const struct shm *shm)
{
	static const struct admin_family fam[] = {
		{ "cuttle_reload_last_success", "gauge",
		    "1 if the last reload succeeded (or none was tried), 0 if it failed." },
		{ "cuttle_reload_last_time_seconds", "gauge",
		    "When the last reload was tried (the start time before any), Unix time." },
		{ "cuttle_reloads_total", "counter", "Reloads tried, by result." },
	};
	struct shm_header *h = shm_header(shm);

	admin_family(f, &fam[0]);
	fprintf(f, "%s %d\n", fam[0].name, !atomic_load(&h->reload_failed));
	admin_family(f, &fam[1]);
	fprintf(f, "%s %" PRIu64 "\n", fam[1].name, (uint64_t)atomic_load(&h->reload_time));
	admin_family(f, &fam[2]);
	fprintf(f, "%s{result=\"ok\"} %" PRIu64 "\n", fam[2].name,
	    (uint64_t)atomic_load(&h->reloads_ok));
	fprintf(f, "%s{result=\"failed\"} %" PRIu64 "\n", fam[2].name,
	    (uint64_t)atomic_load(&h->reloads_failed));
}

/* The master's link to Redis, as the master published it; nothing standalone. */
static void
admin_metrics_redis(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_redis_up", "gauge", "1 if the master's link to Redis is ready, else 0." },
		{ "cuttle_redis_state_changes_total", "counter",
		    "Times the link to Redis went up or down." },
		{ "cuttle_redis_commands_total", "counter",
		    "Commands the master sent to Redis, by result (ok, error, timeout)." },
	};
	static const char *const results[SHM_REDIS_CMD_RESULTS] = { "ok", "error", "timeout" };
	struct shm_redis *r = &shm_header(a->cy->shm)->redis;
	unsigned i;

	if (!a->cy->conf->redis.enabled)
		return;
	admin_family(f, &fam[0]);
	fprintf(f, "%s %d\n", fam[0].name, atomic_load(&r->up) != 0);
	admin_family(f, &fam[1]);
	fprintf(f, "%s %" PRIu64 "\n", fam[1].name, (uint64_t)atomic_load(&r->changes));
	admin_family(f, &fam[2]);
	for (i = 0; i < SHM_REDIS_CMD_RESULTS; i++)
		fprintf(f, "%s{result=\"%s\"} %" PRIu64 "\n", fam[2].name, results[i],
		    (uint64_t)atomic_load_explicit(&r->commands[i], memory_order_relaxed));
}

/* Whether this node runs each upstream's active checks (health.h). */
static void
admin_metrics_probers(FILE *f, const struct admin *a)
{
	static const struct admin_family fam = { "cuttle_health_prober", "gauge",
	    "1 if this node runs the upstream's active checks, 0 if another node of the "
	    "cluster does." };
	const struct conf *conf = a->cy->conf;
	size_t i;

	admin_family(f, &fam);
	for (i = 0; i < conf->nupstreams; i++)
		if (conf->upstreams[i].health.type != CONF_CHECK_NONE)
			fprintf(f, "%s{upstream=\"%s\"} %d\n", fam.name, conf->upstreams[i].name,
			    atomic_load(&admin_shm_upstream(a, i)->probe) != SHM_PROBE_PEER);
}

/* Log lines the workers dropped rather than wait for a slow reader. */
static void
admin_metrics_logs(FILE *f, const struct shm *shm)
{
	static const struct admin_family fam = { "cuttle_log_lines_dropped_total", "counter",
	    "Log lines the workers dropped because the log's reader was behind." };

	admin_family(f, &fam);
	fprintf(f, "%s{log=\"error\"} %" PRIu64 "\n", fam.name,
	    shm_log_dropped(shm, SHM_LOG_ERROR));
	fprintf(f, "%s{log=\"access\"} %" PRIu64 "\n", fam.name,
	    shm_log_dropped(shm, SHM_LOG_ACCESS));
}

/* A path or name as a label value: '\\', '"' and newlines escaped (the exposition format). */
const char *
admin_label(const char *path)
{
	static char buf[2 * 1024 + 1];
	size_t o = 0;

	for (; *path != '\0' && o + 3 < sizeof(buf); path++) {
		if (*path == '\\' || *path == '"' || *path == '\n')
			buf[o++] = '\\';
		buf[o++] = *path == '\n' ? 'n' : *path;
	}
	buf[o] = '\0';
	return buf;
}

/*
 * Bandwidth of the listeners of the running configuration that meter
 * it: how often a direction stopped reading to wait for its budget.
 */
static void
admin_metrics_bandwidth(FILE *f, const struct admin *a)
{
	static const struct admin_family fam = { "cuttle_bandwidth_paused_total", "counter",
	    "Reads put off until a bandwidth budget came back, by direction." };
	static const char *const dirs[2] = { [CONF_BW_UP] = "upload", [CONF_BW_DOWN] = "download" };
	const struct conf *conf = a->cy->conf;
	struct shm_listener *l;
	size_t i;
	int dir;

	admin_family(f, &fam);
	for (i = 0; i < conf->nlisteners; i++) {
		if (!conf->listeners[i].bandwidth.on || a->cy->listen[i].stats < 0)
			continue;
		l = shm_listener_get(a->cy->shm, a->cy->listen[i].stats);
		for (dir = CONF_BW_UP; dir <= CONF_BW_DOWN; dir++)
			fprintf(f, "%s{listener=\"%s\",direction=\"%s\"} %" PRIu64 "\n", fam.name,
			    conf->listeners[i].name, dirs[dir], (uint64_t)atomic_load_explicit(
			    &l->bw_paused[dir], memory_order_relaxed));
	}
}

/*
 * Does listener l relay datagrams, and may drop them for reason r?  Mode
 * udp, and socks listeners that serve UDP ASSOCIATE, each with its own
 * reasons (shm/stats.h), and mode udp through SOCKS 5 hops some of the
 * socks ones too; r -1: any.
 */
static int
admin_udp_reason(const struct conf *conf, const struct conf_listener *l, int r)
{
	int socks = l->mode == CONF_MODE_SOCKS && l->proxy.socks_udp;
	int via = l->mode == CONF_MODE_UDP && l->upstream < conf->nupstreams &&
	    conf->upstreams[l->upstream].via.n > 0;

	if (l->mode != CONF_MODE_UDP && !socks)
		return 0;
	if (r == -1 || r == SHM_UDP_DROP_SEND || r == SHM_UDP_DROP_REPLY)
		return 1;
	/* Through SOCKS 5 hops, a session unwraps and waits as an association does. */
	if (via && (r == SHM_UDP_DROP_HEADER || r == SHM_UDP_DROP_FRAGMENT ||
	    r == SHM_UDP_DROP_WAIT || r == SHM_UDP_DROP_PEER))
		return 1;
	return socks == (r > SHM_UDP_DROP_REPLY);
}

/*
 * Datagrams of the listeners of the running configuration that relay
 * them: relayed each way (counted when their session or association
 * ends, like the bytes) and dropped, by reason.
 */
static void
admin_metrics_udp(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_udp_datagrams_total", "counter",
		    "Datagrams relayed by mode udp and by SOCKS UDP associations, by direction, "
		    "counted when their session ends." },
		{ "cuttle_udp_dropped_total", "counter",
		    "Datagrams mode udp and SOCKS UDP associations did not relay, by reason." },
	};
	const struct conf *conf = a->cy->conf;
	struct shm_listener *l;
	size_t i, m;
	int r;

	for (m = 0; m < CT_NELEM(fam); m++) {
		admin_family(f, &fam[m]);
		for (i = 0; i < conf->nlisteners; i++) {
			if (!admin_udp_reason(conf, &conf->listeners[i], -1) ||
			    a->cy->listen[i].stats < 0)
				continue;
			l = shm_listener_get(a->cy->shm, a->cy->listen[i].stats);
			if (m == 0) {
				fprintf(f, "%s{listener=\"%s\",direction=\"received\"} %" PRIu64 "\n",
				    fam[m].name, conf->listeners[i].name, (uint64_t)atomic_load_explicit(
				    &l->dgrams_in, memory_order_relaxed));
				fprintf(f, "%s{listener=\"%s\",direction=\"sent\"} %" PRIu64 "\n",
				    fam[m].name, conf->listeners[i].name, (uint64_t)atomic_load_explicit(
				    &l->dgrams_out, memory_order_relaxed));
				continue;
			}
			for (r = 0; r < SHM_UDP_DROPS; r++)
				if (admin_udp_reason(conf, &conf->listeners[i], r))
					fprintf(f, "%s{listener=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
					    fam[m].name, conf->listeners[i].name, shm_udp_drop_names[r],
					    (uint64_t)atomic_load_explicit(&l->udp_dropped[r],
					    memory_order_relaxed));
		}
	}
}

/*
 * A counter per result for every listener of the running configuration
 * that counts them (has), as {listener, result}: the array at off in
 * struct shm_listener, its names in names.
 */
static void
admin_metrics_results(FILE *f, const struct admin *a, const struct admin_family *fam,
    int (*has)(const struct conf_listener *), size_t off, const char *const *names, size_t n)
{
	const struct conf *conf = a->cy->conf;
	const atomic_uint_fast64_t *c;
	size_t i, r;

	admin_family(f, fam);
	for (i = 0; i < conf->nlisteners; i++) {
		if (!has(&conf->listeners[i]) || a->cy->listen[i].stats < 0)
			continue;
		c = (const atomic_uint_fast64_t *)(const void *)((const char *)shm_listener_get(
		    a->cy->shm, a->cy->listen[i].stats) + off);
		for (r = 0; r < n; r++)
			fprintf(f, "%s{listener=\"%s\",result=\"%s\"} %" PRIu64 "\n", fam->name,
			    conf->listeners[i].name, names[r],
			    (uint64_t)atomic_load_explicit(&c[r], memory_order_relaxed));
	}
}

static int
admin_has_approval(const struct conf_listener *l)
{
	return l->approval != NULL;
}

static int
admin_has_proxy(const struct conf_listener *l)
{
	return l->mode == CONF_MODE_FORWARD || l->mode == CONF_MODE_SOCKS;
}

static int
admin_has_geo(const struct conf_listener *l)
{
	return l->geo != NULL;
}

/* Clients of the listeners with approval: by what became of them, and held now. */
static void
admin_metrics_approval(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_approval_clients_total", "counter",
		    "What became of the clients of listeners with approval, by result." },
		{ "cuttle_approval_pending", "gauge",
		    "Clients held for an approval decision now." },
	};
	const struct conf *conf = a->cy->conf;
	size_t i;

	admin_metrics_results(f, a, &fam[0], admin_has_approval,
	    offsetof(struct shm_listener, approval), shm_approval_result_names,
	    SHM_APPROVAL_RESULTS);
	admin_family(f, &fam[1]);
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].approval != NULL && a->cy->listen[i].stats >= 0)
			fprintf(f, "%s{listener=\"%s\"} %" PRIu64 "\n", fam[1].name,
			    conf->listeners[i].name, (uint64_t)atomic_load_explicit(
			    &shm_listener_get(a->cy->shm, a->cy->listen[i].stats)->approval_pending,
			    memory_order_relaxed));
}

/* How the requests of forward and socks clients ended. */
static void
admin_metrics_proxy(FILE *f, const struct admin *a)
{
	static const struct admin_family fam = { "cuttle_proxy_requests_total", "counter",
	    "How the requests of forward and socks clients ended, by result." };

	admin_metrics_results(f, a, &fam, admin_has_proxy, offsetof(struct shm_listener, proxy),
	    shm_proxy_result_names, SHM_PROXY_RESULTS);
}

/*
 * TLS of the listeners of the running configuration that terminate it:
 * handshakes, failures by reason, resumptions, versions and ciphers
 * (shm, by listener name), and when each certificate expires.
 */
static void
admin_metrics_tls(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_tls_handshakes_total", "counter", "TLS handshakes completed." },
		{ "cuttle_tls_resumed_total", "counter",
		    "TLS handshakes that resumed a session (by ticket)." },
		{ "cuttle_tls_handshake_failures_total", "counter",
		    "TLS handshakes that failed, by reason." },
		{ "cuttle_tls_version_total", "counter", "TLS handshakes by protocol version." },
		{ "cuttle_tls_cipher_total", "counter", "TLS handshakes by cipher." },
		{ "cuttle_tls_certificate_expiry_seconds", "gauge",
		    "When a certificate expires, in seconds since the epoch." },
	};
	const struct conf *conf = a->cy->conf;
	char labels[SHM_NAME_LEN + 16];
	struct shm_tls_stats *t;
	size_t m, i, k;

	for (m = 0; m < CT_NELEM(fam); m++) {
		admin_family(f, &fam[m]);
		for (i = 0; i < conf->nlisteners; i++) {
			const struct conf_listener *l = &conf->listeners[i];
			int slot = a->cy->listen[i].stats;

			if (l->tls == NULL)
				continue;
			snprintf(labels, sizeof(labels), "listener=\"%s\"", l->name);
			if (m == 5) {
				for (k = 0; k < l->tls->ncerts; k++)
					fprintf(f, "%s{%s,cert=\"%s\"} %lld\n", fam[m].name, labels,
					    admin_label(l->tls->certs[k].cert),
					    (long long)l->tls->certs[k].not_after);
				continue;
			}
			if (slot < 0)
				continue;
			t = &shm_listener_get(a->cy->shm, slot)->tls;
			switch (m) {
			case 0:
				admin_metrics_one(f, fam[m].name, labels, &t->handshakes);
				break;
			case 1:
				admin_metrics_one(f, fam[m].name, labels, &t->resumed);
				break;
			case 2:
				for (k = 0; k < SHM_TLS_FAILS; k++)
					fprintf(f, "%s{%s,reason=\"%s\"} %" PRIu64 "\n", fam[m].name,
					    labels, shm_tls_fail_names[k], (uint64_t)atomic_load_explicit(
					    &t->failed[k], memory_order_relaxed));
				break;
			case 3:
				for (k = 0; k < SHM_TLS_VERSIONS; k++)
					fprintf(f, "%s{%s,version=\"%s\"} %" PRIu64 "\n", fam[m].name,
					    labels, shm_tls_version_names[k], (uint64_t)atomic_load_explicit(
					    &t->version[k], memory_order_relaxed));
				break;
			default:
				for (k = 0; k < SHM_TLS_CIPHERS; k++)
					fprintf(f, "%s{%s,cipher=\"%s\"} %" PRIu64 "\n", fam[m].name,
					    labels, shm_tls_cipher_names[k], (uint64_t)atomic_load_explicit(
					    &t->cipher[k], memory_order_relaxed));
				break;
			}
		}
	}
}

/*
 * The limits of the running configuration: their decisions and, for
 * each, its busiest keys (most refused or delayed since they were last
 * logged, then most connections), read from the zone.
 */
#define ADMIN_LIMIT_TOP 10

static json_t *
admin_limits(struct admin *a)
{
	const struct conf *conf = a->cy->conf;
	struct timespec ts;
	json_t *list = json_array(), *o, *keys;
	uint64_t now_ns;
	size_t i, k, j;

	if (list == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
	for (i = 0; i < conf->nlimits; i++) {
		const struct conf_limit *l = &conf->limits[i];
		struct shm_limit *z = a->cy->limits[i] >= 0 ?
		    shm_limit_get(a->cy->shm, a->cy->limits[i]) : NULL;
		struct shm_limit_slot *slots = z != NULL ? shm_limit_slots(a->cy->shm, z) : NULL;
		struct { size_t idx; uint64_t score; } top[ADMIN_LIMIT_TOP];
		size_t ntop = 0, used = 0;

		for (k = 0; slots != NULL && k < z->nslots; k++) {
			uint64_t score;

			if (atomic_load_explicit(&slots[k].key, memory_order_relaxed) == 0)
				continue;
			used++;
			score = (uint64_t)atomic_load_explicit(&slots[k].hits, memory_order_relaxed) << 20 |
			    atomic_load_explicit(&slots[k].conns, memory_order_relaxed);
			/* Or how far ahead of its rate the key is, for one that nothing refused yet. */
			if (score == 0 && atomic_load_explicit(&slots[k].tat, memory_order_relaxed) /
			    (l->bytes != 0 ? 16 : 1) > now_ns)
				score = 1;
			if (score == 0)
				continue;
			if (ntop == ADMIN_LIMIT_TOP && top[ntop - 1].score >= score)
				continue;
			j = ntop < ADMIN_LIMIT_TOP ? ntop++ : ADMIN_LIMIT_TOP - 1;
			for (; j > 0 && top[j - 1].score < score; j--)
				top[j] = top[j - 1];
			top[j].idx = k;
			top[j].score = score;
		}
		keys = json_array();
		for (j = 0; keys != NULL && j < ntop; j++) {
			struct shm_limit_slot *s = &slots[top[j].idx];
			/* A bandwidth zone keeps sixteenths of a ns (worker/bandwidth.c). */
			uint64_t tat = atomic_load_explicit(&s->tat, memory_order_relaxed) /
			    (l->bytes != 0 ? 16 : 1);
			char text[SHM_LIMIT_TEXT + 1];
			size_t t;

			/* Written by workers as printable ASCII; copied and cut, whatever a race left. */
			memcpy(text, s->text, SHM_LIMIT_TEXT);
			text[SHM_LIMIT_TEXT] = '\0';
			for (t = 0; text[t] != '\0'; t++)
				if (text[t] < 0x20 || text[t] > 0x7e)
					text[t] = '?';
			json_array_append_new(keys, json_pack("{s:s, s:I, s:I, s:I}", "key", text,
			    "refused_or_delayed", (json_int_t)atomic_load(&s->hits),
			    "conns", (json_int_t)atomic_load(&s->conns),
			    "ahead_ms", (json_int_t)(tat > now_ns ? (tat - now_ns) / 1000000 : 0)));
		}
		o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "name", l->name,
		    "passed", (json_int_t)(z != NULL ? atomic_load(&z->passed) : 0),
		    "delayed", (json_int_t)(z != NULL ? atomic_load(&z->delayed) : 0),
		    "rejected", (json_int_t)(z != NULL ? atomic_load(&z->rejected) : 0),
		    "evicted", (json_int_t)(z != NULL ? atomic_load(&z->evicted) : 0),
		    "keys", (json_int_t)used, "slots", (json_int_t)(z != NULL ? z->nslots : 0),
		    "busiest", keys != NULL ? keys : json_array());
		if (o != NULL && l->rate_ms != 0)
			(void)json_object_set_new(o, "rate", json_pack("{s:I, s:I, s:i}",
			    "count", (json_int_t)l->rate_count, "per_ms", (json_int_t)l->rate_ms,
			    "burst", (int)l->burst));
		if (o != NULL && l->conns != 0)
			(void)json_object_set_new(o, "conns", json_integer(l->conns));
		if (o != NULL)
			(void)json_object_set_new(o, "scope", json_string(l->scope == CONF_LIMIT_CLUSTER ?
			    "cluster" : "local"));
		if (o != NULL && l->scope == CONF_LIMIT_CLUSTER && z != NULL)
			(void)json_object_set_new(o, "cluster", json_pack("{s:I, s:b, s:I, s:I, s:I}",
			    "nodes", (json_int_t)atomic_load(&z->nodes),
			    "fallback", (int)atomic_load(&z->fallback),
			    "share", (json_int_t)atomic_load(&z->share),
			    "rounds_ok", (json_int_t)atomic_load(&z->rounds_ok),
			    "rounds_failed", (json_int_t)atomic_load(&z->rounds_failed)));
		json_array_append_new(list, o);
	}
	return json_pack("{s:o}", "limits", list);
}

/*
 * The limits of scope cluster (master/climit.h): their settle rounds,
 * the live nodes as this node last saw them, and whether it decides
 * alone on its share.
 */
static void
admin_metrics_cluster_limits(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_limit_cluster_rounds_total", "counter",
		    "Settle rounds of a cluster limit with Redis, by result (failed: decided alone)." },
		{ "cuttle_limit_cluster_nodes", "gauge",
		    "Live nodes of a cluster limit, as last seen in Redis (0: never seen)." },
		{ "cuttle_limit_cluster_fallback", "gauge",
		    "1 while the node decides a cluster limit alone, on the rate / live nodes." },
	};
	const struct conf *conf = a->cy->conf;
	size_t m, i, n = 0;

	for (i = 0; i < conf->nlimits; i++)
		n += conf->limits[i].scope == CONF_LIMIT_CLUSTER && a->cy->limits[i] >= 0;
	for (m = 0; m < CT_NELEM(fam) && n > 0; m++) {
		admin_family(f, &fam[m]);
		for (i = 0; i < conf->nlimits; i++) {
			struct shm_limit *z;
			char labels[SHM_NAME_LEN + 16];

			if (conf->limits[i].scope != CONF_LIMIT_CLUSTER || a->cy->limits[i] < 0)
				continue;
			z = shm_limit_get(a->cy->shm, a->cy->limits[i]);
			snprintf(labels, sizeof(labels), "limit=\"%s\"", conf->limits[i].name);
			if (m == 0) {
				fprintf(f, "%s{%s,result=\"ok\"} %" PRIu64 "\n", fam[m].name, labels,
				    (uint64_t)atomic_load(&z->rounds_ok));
				fprintf(f, "%s{%s,result=\"failed\"} %" PRIu64 "\n", fam[m].name, labels,
				    (uint64_t)atomic_load(&z->rounds_failed));
			} else {
				fprintf(f, "%s{%s} %u\n", fam[m].name, labels, m == 1 ?
				    atomic_load(&z->nodes) : atomic_load(&z->fallback));
			}
		}
	}
}

static void
admin_metrics_limits(FILE *f, const struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_limit_decisions_total", "counter",
		    "Connections and requests checked against a limit, by result." },
		{ "cuttle_limit_evictions_total", "counter",
		    "Keys that took the slot of the least recently used one of a full zone." },
	};
	const struct conf *conf = a->cy->conf;
	size_t m, i;

	for (m = 0; m < CT_NELEM(fam) && conf->nlimits > 0; m++) {
		admin_family(f, &fam[m]);
		for (i = 0; i < conf->nlimits; i++) {
			struct shm_limit *z;
			char labels[SHM_NAME_LEN + 16];

			if (a->cy->limits[i] < 0)
				continue;
			z = shm_limit_get(a->cy->shm, a->cy->limits[i]);
			snprintf(labels, sizeof(labels), "limit=\"%s\"", conf->limits[i].name);
			if (m == 1) {
				admin_metrics_one(f, fam[m].name, labels, &z->evicted);
				continue;
			}
			fprintf(f, "%s{%s,result=\"passed\"} %" PRIu64 "\n", fam[m].name, labels,
			    (uint64_t)atomic_load(&z->passed));
			fprintf(f, "%s{%s,result=\"delayed\"} %" PRIu64 "\n", fam[m].name, labels,
			    (uint64_t)atomic_load(&z->delayed));
			fprintf(f, "%s{%s,result=\"rejected\"} %" PRIu64 "\n", fam[m].name, labels,
			    (uint64_t)atomic_load(&z->rejected));
		}
	}
}

/* What the geo blocks of the running configuration's listeners decided. */
static void
admin_metrics_geo(FILE *f, const struct admin *a)
{
	static const struct admin_family fam = { "cuttle_geo_decisions_total", "counter",
	    "Clients let in or refused at accept by a listener's geo block." };

	admin_metrics_results(f, a, &fam, admin_has_geo, offsetof(struct shm_listener, geo),
	    shm_geo_result_names, SHM_GEO_RESULTS);
}

/*
 * The request rules of the running configuration, by listener and rule
 * name: a rule's counter is its index in the listener, so a reload that
 * moves rules around carries the counts of the old positions over.
 * action="error" counts the requests whose expression hit a match limit;
 * rule="default" the requests that no rule matched.
 */
static void
admin_metrics_rules(FILE *f, const struct admin *a)
{
	static const struct admin_family fam = { "cuttle_rule_decisions_total", "counter",
	    "Requests decided by a route's rules, by rule and action." };
	const struct conf *conf = a->cy->conf;
	const struct conf_listener *cl;
	const struct conf_rule *r;
	struct shm_listener *l;
	size_t i, k, j;
	int any;

	admin_family(f, &fam);
	for (i = 0; i < conf->nlisteners; i++) {
		cl = &conf->listeners[i];
		if (a->cy->listen[i].stats < 0)
			continue;
		l = shm_listener_get(a->cy->shm, a->cy->listen[i].stats);
		for (k = 0, any = 0; k < cl->nroutes; k++) {
			any |= cl->routes[k].rules.set;
			for (j = 0; j < cl->routes[k].rules.n; j++) {
				r = &cl->routes[k].rules.rules[j];
				fprintf(f, "%s{listener=\"%s\",rule=\"%s\",action=\"%s\"} %" PRIu64 "\n",
				    fam.name, cl->name, r->name, r->action == CONF_RULE_DENY ? "deny" :
				    "allow", (uint64_t)atomic_load_explicit(&l->rule_hits[r->index],
				    memory_order_relaxed));
				fprintf(f, "%s{listener=\"%s\",rule=\"%s\",action=\"error\"} %" PRIu64
				    "\n", fam.name, cl->name, r->name, (uint64_t)atomic_load_explicit(
				    &l->rule_errors[r->index], memory_order_relaxed));
			}
		}
		if (!any)
			continue;
		for (k = 0; k < 2; k++)
			fprintf(f, "%s{listener=\"%s\",rule=\"default\",action=\"%s\"} %" PRIu64
			    "\n", fam.name, cl->name, k ? "deny" : "allow",
			    (uint64_t)atomic_load_explicit(&l->rule_default[k], memory_order_relaxed));
	}
}

/*
 * Approval decisions in force, by verdict and origin, read from the
 * table; and the writes to it, by kind.
 */
static void
admin_metrics_approvals(FILE *f, const struct shm *shm)
{
	static const struct admin_family fam[] = {
		{ "cuttle_approval_decisions", "gauge",
		    "Approval decisions in force, by verdict and origin." },
		{ "cuttle_approval_changes_total", "counter",
		    "Approval decisions made (new or replacing one), revoked, and expired." },
	};
	uint64_t counts[SHM_APPROVAL_VERDICTS][SHM_APPROVAL_ORIGINS], made, revoked, expired;
	unsigned v, o;

	/* A table that kept changing while read leaves the gauge out rather than wrong. */
	if (admin_approval_count(shm, counts) == CT_OK) {
		admin_family(f, &fam[0]);
		for (v = SHM_APPROVAL_ALLOW; v < SHM_APPROVAL_VERDICTS; v++)
			for (o = SHM_APPROVAL_RULE; o < SHM_APPROVAL_ORIGINS; o++)
				fprintf(f, "%s{verdict=\"%s\",origin=\"%s\"} %" PRIu64 "\n",
				    fam[0].name, shm_approval_verdict_names[v],
				    shm_approval_origin_names[o], counts[v][o]);
	}
	shm_approval_counters(shm, &made, &revoked, &expired);
	admin_family(f, &fam[1]);
	fprintf(f, "%s{change=\"made\"} %" PRIu64 "\n", fam[1].name, made);
	fprintf(f, "%s{change=\"revoked\"} %" PRIu64 "\n", fam[1].name, revoked);
	fprintf(f, "%s{change=\"expired\"} %" PRIu64 "\n", fam[1].name, expired);
}

static char *
admin_metrics(struct admin *a)
{
	static const struct admin_family up = { "cuttle_up", "gauge",
	    "Always 1: the admin process answers." };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	admin_family(f, &up);
	fprintf(f, "cuttle_up 1\n");
	admin_metrics_servers(f, a);
	admin_metrics_probers(f, a);
	admin_metrics_listeners(f, a->cy->shm);
	admin_metrics_tls(f, a);
	admin_metrics_bandwidth(f, a);
	admin_metrics_udp(f, a);
	admin_metrics_proxy(f, a);
	admin_metrics_approval(f, a);
	admin_metrics_limits(f, a);
	admin_metrics_cluster_limits(f, a);
	admin_metrics_geo(f, a);
	admin_metrics_rules(f, a);
	admin_cache_metrics(f, a);
	admin_metrics_approvals(f, a->cy->shm);
	admin_metrics_shm(f, a->cy->shm);
	admin_metrics_reload(f, a->cy->shm);
	admin_metrics_logs(f, a->cy->shm);
	admin_metrics_redis(f, a);
	admin_cluster_metrics(f, a);
	admin_events_metrics(f, a);
	admin_ui_metrics(f, a);
	if (fclose(f) == EOF) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ------------------------------------------------------------ routing */

int
admin_unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s == '%') {
			unsigned v;

			if (sscanf(s + 1, "%2x", &v) != 1 || s[1] == '\0' || s[2] == '\0' || v == 0)
				return CT_ERROR;
			*o++ = (char)v;
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return CT_OK;
}

/* A server's new admin state, for the event ring. */
static void
admin_state_event(struct admin *a, int backend, unsigned admin)
{
	struct shm_event ev;

	shm_event_init(&ev, SHM_EV_ADMIN_STATE);
	ev.backend = (int16_t)backend;
	ev.flag = (uint8_t)admin;
	ev.pid = (int32_t)getpid();
	(void)shm_event_write(a->cy->shm, &ev);
}

/* POST /api/v1/upstreams/NAME/servers/ADDR/ACTION */
static void
admin_server_action(struct admin_conn *ac, char *rest)
{
	struct admin *a = ac->a;
	const struct conf *conf = a->cy->conf;
	char *name = rest, *addr, *action, *p;
	unsigned admin;
	size_t i, k;

	if ((p = strchr(name, '/')) == NULL || strncmp(p, "/servers/", 9) != 0) {
		admin_error(ac, 404, "no such endpoint");
		return;
	}
	*p = '\0';
	addr = p + 9;
	if ((action = strrchr(addr, '/')) == NULL) {
		admin_error(ac, 404, "no such endpoint");
		return;
	}
	*action++ = '\0';
	if (strcmp(action, "enable") == 0)
		admin = SHM_BACKEND_ADMIN_ENABLED;
	else if (strcmp(action, "drain") == 0)
		admin = SHM_BACKEND_ADMIN_DRAIN;
	else if (strcmp(action, "disable") == 0)
		admin = SHM_BACKEND_ADMIN_DISABLED;
	else {
		admin_error(ac, 404, "unknown action: use enable, disable or drain");
		return;
	}
	if (admin_unescape(name) != CT_OK || admin_unescape(addr) != CT_OK) {
		admin_error(ac, 400, "malformed percent-encoding");
		return;
	}
	for (i = 0; i < conf->nupstreams; i++) {
		const struct conf_upstream *u = &conf->upstreams[i];

		if (strcmp(u->name, name) != 0)
			continue;
		for (k = 0; k < u->nservers; k++) {
			if (strcmp(u->servers[k].address, addr) != 0)
				continue;
			shm_backend_admin_set(shm_backend_get(a->cy->shm,
			    a->cy->upstreams[i].backend[k]), admin);
			admin_state_event(a, a->cy->upstreams[i].backend[k], admin);
			log_notice("admin: upstream \"%s\" server %s: %s", name, addr, action);
			admin_json(ac, 200, json_pack("{s:s, s:s, s:s}", "upstream", name,
			    "server", addr, "admin", admin_state_name(admin)));
			return;
		}
		admin_error(ac, 404, "no such server in this upstream");
		return;
	}
	admin_error(ac, 404, "no such upstream");
}

/* Constant time, so that the token cannot be guessed byte by byte. */
int
admin_token_ok(const struct conf *conf, const struct http_request *req)
{
	const struct http_header *h = http_header_find(&req->h, "authorization");
	const char *tok = conf->admin.token;

	if (tok == NULL || h == NULL || h->value.len < 7 ||
	    strncasecmp(h->value.p, "Bearer ", 7) != 0)
		return 0;
	return admin_secret_eq(h->value.p + 7, h->value.len - 7, tok, strlen(tok));
}

/* ------------------------------------------------------------- reload */

/*
 * Sends msg (op and arguments filled in) to the master over the link
 * and waits, reading nothing more from the client, until
 * admin_link_read() has the answer or the connection's timer ends it.
 * what names the request in an error.  CT_ERROR: answered already.
 */
static int
admin_link_ask(struct admin_conn *ac, struct admin_link_msg *msg, const char *what)
{
	struct admin *a = ac->a;
	char why[128];

	msg->tag = (uint32_t)(ac - a->conns) | (++a->seq << ADMIN_TAG_BITS);
	if (send(a->link, msg, sizeof(*msg), MSG_NOSIGNAL) != (ssize_t)sizeof(*msg)) {
		snprintf(why, sizeof(why), "cannot ask the master for %s: %s", what, strerror(errno));
		log_warnx("admin: %s", why);
		admin_error(ac, 500, why);
		return CT_ERROR;
	}
	if (ev_io_set(a->loop, &ac->io, 0) != CT_OK ||
	    ev_timer_start(a->loop, &ac->timer, ADMIN_TIMEOUT_MS) != CT_OK) {
		admin_error(ac, 500, "cannot wait for the master");
		return CT_ERROR;
	}
	ac->tag = msg->tag;
	ac->waiting = 1;
	return CT_OK;
}

/* POST /api/v1/reload: the master answers when it is done. */
static void
admin_reload(struct admin_conn *ac)
{
	struct admin_link_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.op = ADMIN_LINK_RELOAD;
	if (admin_link_ask(ac, &msg, "a reload") == CT_OK)
		log_notice("admin: reload requested");
}

/* ---------------------------------------------------------- approvals */

/* POST /api/v1/approvals/decisions: checked here, stored by the master. */
static void
admin_decide(struct admin_conn *ac, const char *body, size_t len)
{
	struct admin_link_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.op = ADMIN_LINK_DECIDE;
	if (admin_approval_request(ac->a->cy->conf, body, len, (uint64_t)time(NULL),
	    &msg.decision, msg.why, sizeof(msg.why)) != CT_OK) {
		admin_error(ac, 400, msg.why);
		return;
	}
	(void)admin_link_ask(ac, &msg, "a decision");
}

/* DELETE /api/v1/approvals/decisions/ADDRESS[/PREFIX][?listener=NAME] */
static void
admin_revoke(struct admin_conn *ac, char *target, const char *query, size_t qlen)
{
	struct admin_link_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.op = ADMIN_LINK_REVOKE;
	if (admin_unescape(target) != CT_OK) {
		admin_error(ac, 400, "malformed percent-encoding");
		return;
	}
	if (admin_approval_revoke_request(ac->a->cy->conf, target, query, qlen, &msg, msg.why,
	    sizeof(msg.why)) != CT_OK) {
		admin_error(ac, 400, msg.why);
		return;
	}
	(void)admin_link_ask(ac, &msg, "a revocation");
}

static void
admin_decisions(struct admin_conn *ac)
{
	json_t *j = admin_approval_list(ac->a->cy->shm);

	if (j == NULL)
		admin_error(ac, 503, "the decisions kept changing while being read: try again");
	else
		admin_json(ac, 200, j);
}

static void
admin_reload_answer(struct admin_conn *ac, const struct admin_link_msg *msg)
{
	char why[sizeof(msg->why) + 64];

	if (msg->result == CT_OK) {
		admin_json(ac, 200, json_pack("{s:b, s:s, s:i}", "ok", 1, "reload", "done",
		    "generation", (int)msg->generation));
		return;
	}
	snprintf(why, sizeof(why), "reload failed: %s; still running generation %u",
	    msg->why[0] != '\0' ? msg->why : "see the error log", msg->generation);
	admin_json(ac, msg->result == CT_DECLINED ? 422 : 500, json_pack("{s:b, s:s, s:i}",
	    "ok", 0, "error", why, "generation", (int)msg->generation));
}

/* The master's answers; one whose client gave up meanwhile is dropped. */
static void
admin_link_read(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct admin *a = io->data;
	struct admin_link_msg msg;
	struct admin_conn *ac;
	uint32_t i;
	ssize_t n;

	(void)events;
	for (;;) {
		n = recv(a->link, &msg, sizeof(msg), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* The master is gone, and PR_SET_PDEATHSIG ends this process. */
			ev_io_stop(loop, io);
			return;
		}
		i = msg.tag & ((1u << ADMIN_TAG_BITS) - 1);
		if ((size_t)n != sizeof(msg) || i >= ADMIN_CONNS) {
			log_warnx("admin: a malformed message on the admin link");
			continue;
		}
		ac = &a->conns[i];
		if (ac->fd == -1 || !ac->waiting || ac->tag != msg.tag)
			continue;
		ac->waiting = 0;
		msg.why[sizeof(msg.why) - 1] = '\0';
		if (msg.op == ADMIN_LINK_RELOAD) {
			admin_reload_answer(ac, &msg);
		} else {
			int status;
			json_t *j = admin_approval_answer(&msg, &status);

			admin_json(ac, status, j);
		}
		if (ac->out == NULL || ev_io_set(loop, &ac->io, EPOLLOUT) != CT_OK)
			admin_conn_close(ac);
	}
}

#define ADMIN_DECISIONS "/api/v1/approvals/decisions"

/* Is path one of the API's?  Then a method it does not take is a 405. */
static int
admin_path_known(const char *path)
{
	static const char *const exact[] = { "/healthz", "/api/v1/status", "/api/v1/upstreams",
	    "/metrics", "/api/v1/reload", "/api/v1/connections", "/api/v1/limits",
	    "/api/v1/approvals/decisions", "/api/v1/approvals/pending",
	    "/api/v1/events", "/api/v1/caches", "/api/v1/cluster" };
	size_t i;

	for (i = 0; i < CT_NELEM(exact); i++)
		if (strcmp(path, exact[i]) == 0)
			return 1;
	return strncmp(path, "/api/v1/upstreams/", 18) == 0 ||
	    strncmp(path, "/api/v1/connections/", 20) == 0 ||
	    strncmp(path, "/api/v1/caches/", 15) == 0 ||
	    strncmp(path, ADMIN_DECISIONS "/", sizeof(ADMIN_DECISIONS)) == 0;
}

/* Does this request take a body?  Only a decision and a login do. */
static int
admin_takes_body(const struct http_request *req)
{
	return http_slice_eq(req->method, "POST") &&
	    ((req->path.len == sizeof(ADMIN_DECISIONS) - 1 &&
	    memcmp(req->path.p, ADMIN_DECISIONS, sizeof(ADMIN_DECISIONS) - 1) == 0) ||
	    http_slice_eq(req->path, "/ui/login"));
}

static void
admin_route(struct admin_conn *ac, const struct http_request *req, const char *body,
    size_t blen)
{
	struct admin *a = ac->a;
	char path[1024];
	const char *q;
	size_t plen, qlen;
	int get = http_slice_eq(req->method, "GET"), post = http_slice_eq(req->method, "POST");
	int del = http_slice_eq(req->method, "DELETE");
	int status;

	q = memchr(req->path.p, '?', req->path.len);
	plen = q != NULL ? (size_t)(q - req->path.p) : req->path.len;
	qlen = q != NULL ? req->path.len - plen - 1 : 0;
	if (plen >= sizeof(path)) {
		admin_error(ac, 404, "no such endpoint");
		return;
	}
	memcpy(path, req->path.p, plen);
	path[plen] = '\0';
	if (admin_ui_route(ac, req, path, body, blen)) {
		;       /* the dashboard's */
	} else if (strcmp(path, "/healthz") == 0 && get) {
		admin_answer(ac, 200, "text/plain", strdup("ok\n"));
	} else if (strcmp(path, "/api/v1/status") == 0 && get) {
		admin_json(ac, 200, admin_status(a));
	} else if (strcmp(path, "/api/v1/upstreams") == 0 && get) {
		admin_json(ac, 200, admin_upstreams(a));
	} else if (strcmp(path, "/api/v1/connections") == 0 && get) {
		admin_connections(ac, q != NULL ? q + 1 : "", qlen);
	} else if (strcmp(path, "/api/v1/cluster") == 0 && get) {
		json_t *j = admin_cluster(a, &status);

		admin_json(ac, status, j);
	} else if (strcmp(path, "/api/v1/limits") == 0 && get) {
		admin_json(ac, 200, admin_limits(a));
	} else if (strcmp(path, "/api/v1/caches") == 0 && get) {
		admin_json(ac, 200, admin_cache_list(a));
	} else if (strcmp(path, "/api/v1/caches") == 0 && del) {
		admin_cache_purge(ac, NULL, q != NULL ? q + 1 : "", qlen);
	} else if (strncmp(path, "/api/v1/caches/", 15) == 0 && del) {
		admin_cache_purge(ac, path + 15, q != NULL ? q + 1 : "", qlen);
	} else if (strcmp(path, "/api/v1/events") == 0 && get) {
		admin_events_subscribe(ac, req, q != NULL ? q + 1 : "", qlen);
	} else if (strncmp(path, "/api/v1/connections/", 20) == 0 && del) {
		admin_connection_kill(ac, path + 20);
	} else if (strcmp(path, "/metrics") == 0 && get) {
		char *m = admin_metrics(a);

		if (m == NULL)
			admin_error(ac, 500, "out of memory");
		else
			admin_answer(ac, 200, "text/plain; version=0.0.4", m);
	} else if (strcmp(path, "/api/v1/reload") == 0 && post) {
		admin_reload(ac);
	} else if (strcmp(path, ADMIN_DECISIONS) == 0 && get) {
		admin_decisions(ac);
	} else if (strcmp(path, ADMIN_DECISIONS) == 0 && post) {
		admin_decide(ac, body, blen);
	} else if (strncmp(path, ADMIN_DECISIONS "/", sizeof(ADMIN_DECISIONS)) == 0 && del) {
		admin_revoke(ac, path + sizeof(ADMIN_DECISIONS), q != NULL ? q + 1 : "", qlen);
	} else if (strcmp(path, "/api/v1/approvals/pending") == 0 && get) {
		admin_connections_list(ac, q != NULL ? q + 1 : "", qlen, 1);
	} else if (strncmp(path, "/api/v1/upstreams/", 18) == 0 && post) {
		admin_server_action(ac, path + 18);
	} else if (admin_path_known(path)) {
		admin_error(ac, 405, "method not allowed here");
	} else {
		admin_error(ac, 404, "no such endpoint");
	}
}

/* -------------------------------------------------------- connections */

void
admin_conn_close(struct admin_conn *ac)
{
	if (ac->sub != NULL)
		admin_events_forget(ac);
	ev_io_stop(ac->a->loop, &ac->io);
	ev_timer_stop(ac->a->loop, &ac->timer);
	close(ac->fd);
	ac->fd = -1;
	ac->waiting = 0;
	free(ac->out);
	ac->out = NULL;
}

static void
admin_conn_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct admin_conn *ac = io->data;
	struct http_request req;
	ssize_t n;
	int rc;

	if (ac->sub != NULL) {
		admin_events_io(ac, events);
		return;
	}
	if (ac->waiting)
		return;
	if (ac->out == NULL) {
		n = recv(ac->fd, ac->in + ac->len, sizeof(ac->in) - ac->len, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			admin_conn_close(ac);
			return;
		}
		ac->len += (size_t)n;
		rc = http_parse_request(ac->in, ac->len, NULL, &req);
		if (rc == CT_AGAIN && ac->len < sizeof(ac->in))
			return;
		if (rc == CT_AGAIN)
			admin_error(ac, 431, "request head too large");
		else if (rc != CT_OK)
			admin_error(ac, req.h.status, req.h.error);
		/* Before the body: an unknown client learns nothing, not even a limit. */
		else if (admin_ui_authorize(ac, &req) != CT_OK)
			;       /* answered */
		else if (req.h.framing == HTTP_BODY_CHUNKED)
			admin_error(ac, 411, "a request body needs Content-Length");
		else if (req.h.framing == HTTP_BODY_LENGTH && req.h.content_length > 0 &&
		    !admin_takes_body(&req))
			admin_error(ac, 413, "this request takes no body");
		else if (req.h.content_length > ADMIN_BODY_MAX ||
		    req.h.head_len + req.h.content_length > sizeof(ac->in))
			admin_error(ac, 413, "the request body is over 4096 bytes");
		else if (ac->len < req.h.head_len + req.h.content_length)
			return;         /* the rest of the body */
		else
			admin_route(ac, &req, ac->in + req.h.head_len, (size_t)req.h.content_length);
		/* A subscriber's bytes are its own: admin_events.c sends them. */
		if (ac->waiting || ac->sub != NULL)
			return;
		if (ac->out == NULL) {
			admin_conn_close(ac);
			return;
		}
		if (ev_io_set(loop, &ac->io, EPOLLOUT) != CT_OK) {
			admin_conn_close(ac);
			return;
		}
	}
	n = send(ac->fd, ac->out + ac->sent, ac->out_len - ac->sent, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1 || (ac->sent += (size_t)n) == ac->out_len)
		admin_conn_close(ac);
}

static void
admin_conn_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	admin_conn_close(t->data);
}

/*
 * A free slot of the pool of the unix socket or of TCP, or NULL.  In a
 * full TCP pool, the oldest connection still sending its head is closed
 * for the newcomer: a flood keeps no slot longer than it takes the
 * flood to go round, and a client that sends its head at once gets in.
 */
static struct admin_conn *
admin_conn_slot(struct admin *a, int tcp)
{
	size_t lo = tcp ? ADMIN_UNIX_CONNS : 0, hi = tcp ? ADMIN_CONNS : ADMIN_UNIX_CONNS, i;
	struct admin_conn *ac, *old = NULL;

	for (i = lo; i < hi; i++) {
		ac = &a->conns[i];
		if (ac->fd == -1)
			return ac;
		if (tcp && ac->out == NULL && !ac->waiting && ac->sub == NULL &&
		    (old == NULL || ac->started < old->started))
			old = ac;
	}
	if (!a->full_logged[tcp]) {
		log_warnx("admin: all %zu slots for %s clients are taken; %s", hi - lo,
		    tcp ? "TCP" : "unix socket", tcp ? "closing the oldest idle one" :
		    "refusing connections until one frees");
		a->full_logged[tcp] = 1;
	}
	if (old != NULL)
		admin_conn_close(old);
	return old;
}

static void
admin_accept(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct admin *a = io->data;
	struct admin_conn *ac;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, tcp = io == &a->tcp_io;

	(void)events;
	for (;;) {
		sslen = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("admin: accept() failed");
			return;
		}
		if ((ac = admin_conn_slot(a, tcp)) == NULL) {
			/* Operators' tools, not traffic: refusing one is enough. */
			close(fd);
			continue;
		}
		ac->fd = fd;
		ac->len = ac->sent = ac->out_len = 0;
		ac->tcp = tcp;
		/* A TCP socket's peer is AF_INET or AF_INET6: it always has a key. */
		if (!tcp || admin_lockout_key_set(&ac->peer, (struct sockaddr *)&ss) != CT_OK)
			memset(&ac->peer, 0, sizeof(ac->peer));
		ac->session = 0;
		ac->waiting = 0;
		ac->started = ev_now(loop);
		ev_io_init(&ac->io, fd, admin_conn_io, ac);
		/* A TCP client proves itself with its head, and soon. */
		if (ev_io_set(loop, &ac->io, EPOLLIN) != CT_OK ||
		    ev_timer_start(loop, &ac->timer, tcp ? ADMIN_TCP_HEAD_MS : ADMIN_TIMEOUT_MS) != CT_OK)
			admin_conn_close(ac);
	}
}

/* ---------------------------------------------------------------- main */

static void
admin_signal(int signo)
{
	(void)signo;
	admin_terminate = 1;
}

/*
 * On SIGTERM (a reload replaces the process, or the master exits) it
 * stops accepting, drops the connections still sending their heads and
 * ends once the answers under way are out, a reload's among them: the
 * master answers it before it reaps this process; subscribers of the
 * events get what the ring still holds and word of the end.
 * Connections queued meanwhile wait for the next admin process.
 */
static void
admin_after(struct ev_loop *loop, void *arg)
{
	struct admin *a = arg;
	size_t i, open = 0;

	if (!admin_terminate)
		return;
	if (!a->closing) {
		a->closing = 1;
		ev_io_stop(loop, &a->unix_io);
		ev_io_stop(loop, &a->tcp_io);
		for (i = 0; i < ADMIN_CONNS; i++)
			if (a->conns[i].fd != -1 && a->conns[i].out == NULL && !a->conns[i].waiting &&
			    a->conns[i].sub == NULL)
				admin_conn_close(&a->conns[i]);
		admin_events_terminate(a);
	}
	for (i = 0; i < ADMIN_CONNS; i++)
		open += a->conns[i].fd != -1;
	if (open == 0)
		ev_loop_break(loop);
}

/*
 * Keeps only what the API needs of what the master held at fork(): the
 * standard descriptors, the error log, the segment, the admin sockets
 * and the link.  Then, when the master runs as root, becomes user and
 * group as workers do: the sockets are bound and the token read
 * already, and the master does what needs root (a reload).
 */
static void
admin_isolate(const struct cycle *cy, const struct admin_sockets *as, int link, pid_t master)
{
	const struct conf *conf = cy->conf;
	int keep[] = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, log_fd(), cy->shm->fd,
	    as->unix_fd, as->tcp_fd, link };

	if (proc_close_fds_except(keep, CT_NELEM(keep)) != CT_OK)
		fatal("admin: cannot close the descriptors it inherited");
	if (geteuid() == 0 && (conf->user != NULL || conf->group != NULL) &&
	    proc_setids(conf->uid, conf->gid, conf->user != NULL) != CT_OK)
		fatal("admin: cannot switch to user \"%s\" and group %u",
		    conf->user != NULL ? conf->user : "root", (unsigned)conf->gid);
	/* After the switch, which clears it; a master already gone shows in getppid(). */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl(PR_SET_PDEATHSIG) failed");
	if (getppid() != master)
		exit(0);
}

void
admin_main(struct cycle *cy, const struct admin_sockets *as, int link, pid_t master)
{
	static struct admin a;
	struct sigaction sa;
	sigset_t none;
	int i;

	log_set_slot(LOG_SLOT_ADMIN);
	proctitle_set("cuttle: admin");
	admin_isolate(cy, as, link, master);
	/* Everything it answers comes from the segment: refuse one it cannot read. */
	if (shm_check(cy->shm->base, cy->shm->size, "admin") != CT_OK)
		exit(1);
	a.cy = cy;
	a.link = link;
	a.generation = atomic_load(&shm_header(cy->shm)->generation);
	admin_lockout_init(&a.lockout, &cy->conf->admin.login);
	/* A timer per connection, and the events' */
	if ((a.loop = ev_loop_new(ADMIN_CONNS + 5)) == NULL)
		fatal("admin: cannot create its event loop");
	admin_events_init(&a);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = admin_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	ev_loop_set_sigmask(a.loop, &none);
	ev_loop_set_after(a.loop, admin_after, &a);
	for (i = 0; i < ADMIN_CONNS; i++) {
		a.conns[i].a = &a;
		a.conns[i].fd = -1;
		ev_timer_init(&a.conns[i].timer, admin_conn_timer, &a.conns[i]);
	}
	ev_io_init(&a.unix_io, as->unix_fd, admin_accept, &a);
	ev_io_init(&a.tcp_io, as->tcp_fd, admin_accept, &a);
	ev_io_init(&a.link_io, link, admin_link_read, &a);
	if ((as->unix_fd != -1 && ev_io_set(a.loop, &a.unix_io, EPOLLIN) != CT_OK) ||
	    (as->tcp_fd != -1 && ev_io_set(a.loop, &a.tcp_io, EPOLLIN) != CT_OK) ||
	    ev_io_set(a.loop, &a.link_io, EPOLLIN) != CT_OK)
		fatal("admin: epoll_ctl() failed");
	log_notice("admin ready");
	ev_loop_run(a.loop);
	exit(0);
}

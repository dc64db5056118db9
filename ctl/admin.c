/*
 * The admin process and its HTTP/JSON API; see admin.h and cuttlectl(8).
 *
 * One request per connection: read the head (bounded, with a deadline),
 * parse it with the same strict parser as client traffic, answer, close.
 * Everything an answer says comes from the shared segment, so the API
 * sees all workers at once; the only writes are the admin bits of a
 * server's state word and a SIGHUP to the master.  JSON is built and
 * escaped by jansson.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
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
#include "lib/ct.h"
#include "lib/ev.h"
#include "lib/http_parse.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "shm/backend.h"

#define ADMIN_CONNS      64
#define ADMIN_HEAD_MAX   16384
#define ADMIN_TIMEOUT_MS 5000

struct admin_conn {
	struct admin *a;
	int fd;                     /* -1: free slot */
	int tcp;                    /* came in over TCP: needs the token */
	struct ev_io io;
	struct ev_timer timer;
	char in[ADMIN_HEAD_MAX];
	size_t len;
	char *out;                  /* the whole answer */
	size_t out_len;
	size_t sent;
};

struct admin {
	struct cycle *cy;
	pid_t master;
	struct ev_loop *loop;
	struct ev_io unix_io;
	struct ev_io tcp_io;
	struct admin_conn conns[ADMIN_CONNS];
};

static volatile sig_atomic_t admin_terminate;

/* ------------------------------------------------------------ sockets */

int
admin_sockets_open(struct admin_sockets *as, const struct conf *conf)
{
	const struct conf_admin *ad = &conf->admin;
	struct sockaddr_un sun;
	struct stat st;
	int on = 1;

	as->unix_fd = as->tcp_fd = -1;
	if (ad->socket != NULL) {
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
	}
	if (ad->listen != NULL) {
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
	if (as->unix_fd != -1) {
		close(as->unix_fd);
		if (conf->admin.socket != NULL)
			(void)unlink(conf->admin.socket);
	}
	if (as->tcp_fd != -1)
		close(as->tcp_fd);
	as->unix_fd = as->tcp_fd = -1;
}

/* ------------------------------------------------------------ answers */

static const char *
admin_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	}
	return "Error";
}

/* Takes body (malloc'd) as the answer's body. */
static void
admin_answer(struct admin_conn *ac, int status, const char *ctype, char *body)
{
	size_t blen = body != NULL ? strlen(body) : 0;
	int n;

	n = asprintf(&ac->out, "HTTP/1.1 %d %s\r\nServer: cuttle\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n%s",
	    status, admin_reason(status), ctype, blen, body != NULL ? body : "");
	free(body);
	if (n < 0) {
		ac->out = NULL;
		ac->out_len = 0;
		return;
	}
	ac->out_len = (size_t)n;
}

static void
admin_json(struct admin_conn *ac, int status, json_t *j)
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
	admin_answer(ac, status, "application/json", nl);
}

static void
admin_error(struct admin_conn *ac, int status, const char *msg)
{
	admin_json(ac, status, json_pack("{s:s}", "error", msg));
}

/* -------------------------------------------------------------- views */

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
	for (k = 0; k < conf->nlisteners; k++)
		json_array_append_new(listeners, json_pack("{s:s, s:s, s:s}",
		    "name", conf->listeners[k].name, "listen", conf->listeners[k].listen,
		    "mode", conf_mode_name(conf->listeners[k].mode)));
	return json_pack("{s:s, s:i, s:I, s:i, s:o, s:o}", "version", CT_VERSION,
	    "pid", atomic_load(&hd->master_pid),
	    "uptime_s", (json_int_t)(time(NULL) - (time_t)atomic_load(&hd->started)),
	    "generation", (int)atomic_load(&hd->generation), "workers", workers,
	    "listeners", listeners);
}

static const char *
admin_state_name(unsigned state)
{
	switch (state & SHM_BACKEND_ADMIN_MASK) {
	case SHM_BACKEND_ADMIN_DRAIN:    return "drain";
	case SHM_BACKEND_ADMIN_DISABLED: return "disabled";
	}
	return "enabled";
}

static json_t *
admin_server(const struct conf_server *s, struct shm_backend *b)
{
	unsigned st = atomic_load(&b->state);
	uint64_t check = atomic_load(&b->check_us), ewma = atomic_load(&b->ewma_us);
	int down = (st & SHM_BACKEND_DOWN) != 0;

	return json_pack("{s:s, s:i, s:b, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o}",
	    "address", s->address, "weight", (int)s->weight, "backup", s->backup,
	    "admin", admin_state_name(st), "health", down ? "down" : "up",
	    "reason", down && b->check_reason[0] != '\0' ? json_string(b->check_reason) : json_null(),
	    "check_ms", check != 0 ? json_real((double)check / 1000.0) : json_null(),
	    "active", (json_int_t)atomic_load(&b->active),
	    "total", (json_int_t)atomic_load(&b->total),
	    "failures", (json_int_t)atomic_load(&b->failures),
	    "bytes_in", (json_int_t)atomic_load(&b->bytes_in),
	    "bytes_out", (json_int_t)atomic_load(&b->bytes_out),
	    "latency_ms", ewma != 0 ? json_real((double)ewma / 1000.0) : json_null());
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
		json_array_append_new(ups, json_pack("{s:s, s:s, s:o}", "name", u->name,
		    "balance", conf_balance_name(u->balance), "servers", servers));
	}
	return json_pack("{s:o}", "upstreams", ups);
}

/* Prometheus text; label values are addresses and names, which need no escaping. */
static char *
admin_metrics(struct admin *a)
{
	static const char *const names[] = { "up", "active_connections", "connections_total",
	    "failures_total", "received_bytes_total", "sent_bytes_total", "latency_seconds" };
	static const char *const types[] = { "gauge", "gauge", "counter", "counter", "counter",
	    "counter", "gauge" };
	const struct conf *conf = a->cy->conf;
	char *buf = NULL;
	size_t len = 0, i, k, m;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "# TYPE cuttle_up gauge\ncuttle_up 1\n");
	for (m = 0; m < CT_NELEM(names); m++) {
		fprintf(f, "# TYPE cuttle_server_%s %s\n", names[m], types[m]);
		for (i = 0; i < conf->nupstreams; i++) {
			const struct conf_upstream *u = &conf->upstreams[i];

			for (k = 0; k < u->nservers; k++) {
				struct shm_backend *b = shm_backend_get(a->cy->shm,
				    a->cy->upstreams[i].backend[k]);
				double v[7];

				v[0] = shm_backend_usable(b) ? 1 : 0;
				v[1] = (double)atomic_load(&b->active);
				v[2] = (double)atomic_load(&b->total);
				v[3] = (double)atomic_load(&b->failures);
				v[4] = (double)atomic_load(&b->bytes_in);
				v[5] = (double)atomic_load(&b->bytes_out);
				v[6] = (double)atomic_load(&b->ewma_us) / 1e6;
				fprintf(f, "cuttle_server_%s{upstream=\"%s\",server=\"%s\"} %.17g\n",
				    names[m], u->name, u->servers[k].address, v[m]);
			}
		}
	}
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------ routing */

/* Decodes %XX in place; returns CT_ERROR on a malformed escape. */
static int
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
static int
admin_token_ok(const struct conf *conf, const struct http_request *req)
{
	const struct http_header *h = http_header_find(&req->h, "authorization");
	const char *tok = conf->admin.token;
	size_t tl = strlen(tok), i;
	unsigned char diff = 0;

	if (h == NULL || h->value.len != 7 + tl || strncasecmp(h->value.p, "Bearer ", 7) != 0)
		return 0;
	for (i = 0; i < tl; i++)
		diff |= (unsigned char)(h->value.p[7 + i] ^ tok[i]);
	return diff == 0;
}

static void
admin_route(struct admin_conn *ac, const struct http_request *req)
{
	struct admin *a = ac->a;
	char path[1024];
	const char *q;
	size_t plen;
	int get = http_slice_eq(req->method, "GET"), post = http_slice_eq(req->method, "POST");

	if (ac->tcp && !admin_token_ok(a->cy->conf, req)) {
		admin_error(ac, 401, "this API needs Authorization: Bearer TOKEN");
		return;
	}
	q = memchr(req->path.p, '?', req->path.len);
	plen = q != NULL ? (size_t)(q - req->path.p) : req->path.len;
	if (plen >= sizeof(path)) {
		admin_error(ac, 404, "no such endpoint");
		return;
	}
	memcpy(path, req->path.p, plen);
	path[plen] = '\0';
	if (strcmp(path, "/healthz") == 0 && get) {
		admin_answer(ac, 200, "text/plain", strdup("ok\n"));
	} else if (strcmp(path, "/api/v1/status") == 0 && get) {
		admin_json(ac, 200, admin_status(a));
	} else if (strcmp(path, "/api/v1/upstreams") == 0 && get) {
		admin_json(ac, 200, admin_upstreams(a));
	} else if (strcmp(path, "/metrics") == 0 && get) {
		admin_answer(ac, 200, "text/plain; version=0.0.4", admin_metrics(a));
	} else if (strcmp(path, "/api/v1/reload") == 0 && post) {
		if (kill(a->master, SIGHUP) == -1)
			admin_error(ac, 500, strerror(errno));
		else
			admin_json(ac, 202, json_pack("{s:s}", "reload", "requested"));
	} else if (strncmp(path, "/api/v1/upstreams/", 18) == 0 && post) {
		admin_server_action(ac, path + 18);
	} else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/api/v1/status") == 0 ||
	    strcmp(path, "/api/v1/upstreams") == 0 || strcmp(path, "/metrics") == 0 ||
	    strcmp(path, "/api/v1/reload") == 0 || strncmp(path, "/api/v1/upstreams/", 18) == 0) {
		admin_error(ac, 405, "method not allowed here");
	} else {
		admin_error(ac, 404, "no such endpoint");
	}
}

/* -------------------------------------------------------- connections */

static void
admin_conn_close(struct admin_conn *ac)
{
	ev_io_stop(ac->a->loop, &ac->io);
	ev_timer_stop(ac->a->loop, &ac->timer);
	close(ac->fd);
	ac->fd = -1;
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

	(void)events;
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
		else if (req.h.framing != HTTP_BODY_NONE && req.h.content_length > 0)
			admin_error(ac, 413, "this API takes no request body");
		else
			admin_route(ac, &req);
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

static void
admin_accept(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct admin *a = io->data == NULL ? NULL : io->data;
	int fd, i;

	(void)events;
	for (;;) {
		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("admin: accept() failed");
			return;
		}
		for (i = 0; i < ADMIN_CONNS && a->conns[i].fd != -1; i++)
			;
		if (i == ADMIN_CONNS) {
			/* Operators' tools, not traffic: refusing one is enough. */
			close(fd);
			continue;
		}
		a->conns[i].fd = fd;
		a->conns[i].len = a->conns[i].sent = a->conns[i].out_len = 0;
		a->conns[i].tcp = io == &a->tcp_io;
		ev_io_init(&a->conns[i].io, fd, admin_conn_io, &a->conns[i]);
		if (ev_io_set(loop, &a->conns[i].io, EPOLLIN) != CT_OK ||
		    ev_timer_start(loop, &a->conns[i].timer, ADMIN_TIMEOUT_MS) != CT_OK)
			admin_conn_close(&a->conns[i]);
	}
}

/* ---------------------------------------------------------------- main */

static void
admin_signal(int signo)
{
	(void)signo;
	admin_terminate = 1;
}

static void
admin_after(struct ev_loop *loop, void *arg)
{
	(void)arg;
	if (admin_terminate)
		ev_loop_break(loop);
}

void
admin_main(struct cycle *cy, const struct admin_sockets *as, pid_t master)
{
	static struct admin a;
	struct sigaction sa;
	sigset_t none;
	int i;

	log_set_slot(LOG_SLOT_ADMIN);
	proctitle_set("cuttle: admin");
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl(PR_SET_PDEATHSIG) failed");
	if (getppid() != master)
		exit(0);
	a.cy = cy;
	a.master = master;
	if ((a.loop = ev_loop_new(ADMIN_CONNS + 4)) == NULL)
		fatal("admin: cannot create its event loop");
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
	ev_loop_set_after(a.loop, admin_after, NULL);
	for (i = 0; i < ADMIN_CONNS; i++) {
		a.conns[i].a = &a;
		a.conns[i].fd = -1;
		ev_timer_init(&a.conns[i].timer, admin_conn_timer, &a.conns[i]);
	}
	ev_io_init(&a.unix_io, as->unix_fd, admin_accept, &a);
	ev_io_init(&a.tcp_io, as->tcp_fd, admin_accept, &a);
	if ((as->unix_fd != -1 && ev_io_set(a.loop, &a.unix_io, EPOLLIN) != CT_OK) ||
	    (as->tcp_fd != -1 && ev_io_set(a.loop, &a.tcp_io, EPOLLIN) != CT_OK))
		fatal("admin: epoll_ctl() failed");
	log_notice("admin ready");
	ev_loop_run(a.loop);
	exit(0);
}

/*
 * The master: owns the configuration, the shared segment and the
 * listening sockets, and keeps one worker alive in every slot of the
 * current generation.
 *
 * It parses no client input.  Signal handlers set flags; the after hook
 * of the master's event loop acts on them:
 *   SIGCHLD          reap; respawn a slot of the current generation
 *   SIGHUP           reload: a new generation, or nothing if the file is bad
 *   SIGQUIT          graceful shutdown (shutdown_timeout, then SIGTERM)
 *   SIGTERM, SIGINT  fast shutdown
 *   SIGUSR1          reopen every log file
 *   SIGUSR2          start the binary on disk as a new master that
 *                    inherits the listening sockets; it makes this one
 *                    drain (SIGQUIT) once its workers run
 *
 * A generation is one configuration and the workers started with it.  A
 * reload builds the next generation completely (config, sockets bound,
 * shm slots) before touching the running one; then it takes over every
 * slot's socket and the previous generation drains: its workers take
 * what already waits in the accept queues, stop accepting, finish their
 * connections and exit, or are stopped after shutdown_timeout.  At most
 * MASTER_OLD_GENS_MAX generations drain at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "ctl/admin.h"
#include "core/cycle.h"
#include "master/approvals.h"
#include "master/climit.h"
#include "master/cluster.h"
#include "master/conncap.h"
#include "master/health.h"
#include "master/master.h"
#include "master/tls_keys.h"
#include "master/pidfile.h"
#include "master/redis.h"
#include "master/sockets.h"
#include "shm/backend.h"
#include "shm/cache.h"
#include "shm/events.h"
#include "shm/shm.h"
#include "shm/stats.h"
#include "worker/worker.h"

#define MASTER_TERM_TIMEOUT   5000     /* ms from SIGTERM to SIGKILL */
#define MASTER_QUICK_DEATH    1000     /* ms: a worker dying sooner is "crashing" */
#define MASTER_BACKOFF_MAX   10000     /* ms */
#define MASTER_OLD_GENS_MAX     16
#define MASTER_ENV_LISTEN   "CUTTLE_LISTEN"
#define MASTER_ENV_FROM     "CUTTLE_UPGRADE_FROM"
#define MASTER_ENV_GEN      "CUTTLE_GENERATION"
#define MASTER_ENV_ADMIN    "CUTTLE_ADMIN"
#define MASTER_READY_POLL     20       /* ms between checks of the new workers */

struct gen;

struct master_slot {
	struct gen *gen;
	unsigned index;
	pid_t pid;                  /* 0 when no worker runs */
	int record;                 /* its shm workers record, -1: none */
	int wake;                   /* its index among the cache's wake fds, -1: none */
	uint64_t started;
	unsigned crashes;           /* quick deaths in a row */
	struct ev_timer respawn;
};

struct gen {
	unsigned id;
	struct cycle cy;
	struct master_slot slots[CONF_WORKERS_MAX];
	struct ev_timer stop_timer; /* shutdown_timeout of a draining generation */
	struct gen *next;           /* older generations */
};

static struct {
	struct ev_loop *loop;
	struct shm shm;
	struct lsocks socks;
	struct gen *cur;
	struct gen *old;            /* draining, newest first */
	struct health *health;      /* checks of the current generation's servers */
	struct admin_sockets admin; /* the control API's sockets, opened once */
	pid_t admin_pid;            /* 0 when no admin process runs */
	uint64_t admin_started;
	struct ev_timer admin_respawn;
	struct ev_io admin_link;    /* our end of the admin link */
	int admin_link_fd;          /* -1: none */
	char reload_why[400];       /* the first reason the last reload failed */
	unsigned next_id;
	struct ev_timer kill_timer;
	const struct master_args *args;
	pid_t pid;
	int stopping;               /* SIGTERM or SIGQUIT under way: no respawns */
	pid_t upgrade_pid;          /* the new master we started */
	int pid_renamed;            /* our pid_file is now FILE.oldbin */
	char *pid_file;             /* as the master started with it */
	uid_t worker_uid;           /* owner for log files, or -1 */
	pid_t upgrade_from;         /* the previous master, until our workers are ready */
	struct ev_timer ready_timer;
	/*
	 * The eventfds that wake a worker waiting on another's cache fill
	 * (shm/cache.h): made before the first worker that has caches is
	 * forked and kept, so that every process after has them all.
	 */
	int wake_fds[SHM_CACHE_WAKE_MAX];
	uint32_t nwake;             /* made; 0 until then */
	uint64_t wake_used[SHM_CACHE_WAKE_MAX / 64];
} m;

static volatile sig_atomic_t sig_child, sig_terminate, sig_quit, sig_reload,
    sig_reopen, sig_upgrade;

static void
master_signal(int signo)
{
	switch (signo) {
	case SIGCHLD: sig_child = 1; break;
	case SIGTERM:
	case SIGINT:  sig_terminate = 1; break;
	case SIGQUIT: sig_quit = 1; break;
	case SIGHUP:  sig_reload = 1; break;
	case SIGUSR1: sig_reopen = 1; break;
	case SIGUSR2: sig_upgrade = 1; break;
	}
}

static void
master_signals_init(void)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 };
	struct sigaction sa;
	sigset_t block, wait_mask;
	size_t i;

	sigemptyset(&block);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = master_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < CT_NELEM(sigs); i++) {
		sigaddset(&block, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (sigprocmask(SIG_BLOCK, &block, NULL) == -1)
		fatal("sigprocmask() failed");
	sigemptyset(&wait_mask);
	ev_loop_set_sigmask(m.loop, &wait_mask);
}

/* ------------------------------------------------------------ workers */

/*
 * A wake index for a worker about to be forked: the fds are made at the
 * first, as many as two generations of the most workers can use.  -1
 * when they cannot be had: that worker's collapsed misses go to the
 * origin instead of waiting.
 */
static int
master_wake_take(void)
{
	uint32_t i;

	if (m.nwake == 0) {
		for (i = 0; i < SHM_CACHE_WAKE_MAX; i++)
			if ((m.wake_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
				break;
		m.nwake = i;
		if (i < SHM_CACHE_WAKE_MAX)
			log_warn("cache: %u eventfds of %u made: the workers beyond wait on no fill",
			    i, SHM_CACHE_WAKE_MAX);
	}
	for (i = 0; i < m.nwake; i++)
		if (!(m.wake_used[i / 64] & (UINT64_C(1) << (i % 64)))) {
			m.wake_used[i / 64] |= UINT64_C(1) << (i % 64);
			return (int)i;
		}
	return -1;
}

static void
master_wake_give(int i)
{
	if (i >= 0)
		m.wake_used[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

static void
master_spawn(struct master_slot *s)
{
	const struct conf *conf = s->gen->cy.conf;
	size_t i;
	int tls = 0, dest = 0, rec;
	pid_t pid;

	for (i = 0; i < conf->nlisteners; i++) {
		tls |= conf->listeners[i].tls != NULL;
		dest |= conf->listeners[i].mode == CONF_MODE_FORWARD ||
		    conf->listeners[i].mode == CONF_MODE_SOCKS;
		/* The first request of a client held there is listed in the same table. */
		dest |= conf->listeners[i].mode == CONF_MODE_HTTP &&
		    conf->listeners[i].tls == NULL && conf->listeners[i].approval != NULL;
	}
	rec = shm_worker_acquire(&m.shm, s->gen->id, s->index, conf->worker_connections, tls,
	    dest);
	s->wake = conf->ncaches > 0 ? master_wake_take() : -1;
	if (rec == -1)
		log_warnx("no free worker record in shm: the connections of worker %u "
		    "will not be listed", s->index);
	else if (shm_worker_get(&m.shm, rec)->conns_off == 0)
		log_warnx("shm_size is too small for the connection table of worker %u "
		    "(%u x %zu bytes): its connections will not be listed", s->index,
		    conf->worker_connections, sizeof(struct shm_conn));
	pid = fork();
	if (pid == -1) {
		shm_worker_release(&m.shm, rec);
		master_wake_give(s->wake);
		s->wake = -1;
		log_warn("fork() of worker %u failed; retrying in 1s", s->index);
		if (ev_timer_start(m.loop, &s->respawn, 1000) != CT_OK)
			log_alert("cannot arm the respawn timer of worker %u", s->index);
		return;
	}
	if (pid == 0) {
		health_forget(m.health);
		redis_forget();
		ev_loop_free(m.loop);
		worker_main(&s->gen->cy, s->index, s->gen->id, m.pid, rec,
		    &(struct shm_cache_wake){ m.wake_fds, m.nwake, s->wake });
	}
	s->pid = pid;
	s->record = rec;
	if (rec != -1)
		atomic_store(&shm_worker_get(&m.shm, rec)->pid, (int)pid);
	s->started = ev_now(m.loop);
	if (s->gen == m.cur || m.cur == NULL)
		atomic_store(&shm_header(&m.shm)->worker_pids[s->index], (int)pid);
}

/* ------------------------------------------------------------- admin */

static int master_reload_run(void);

/*
 * A request of the admin process over the admin link, answered at once:
 * the admin runs unprivileged and trusts this answer for its client.
 */
static void
master_admin_link(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct admin_link_msg msg;
	ssize_t n;

	(void)events;
	while ((n = recv(io->fd, &msg, sizeof(msg), 0)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return;
		if ((size_t)n != sizeof(msg) || (msg.op != ADMIN_LINK_RELOAD &&
		    msg.op != ADMIN_LINK_DECIDE && msg.op != ADMIN_LINK_REVOKE)) {
			log_warnx("admin link: a malformed request, ignored");
			continue;
		}
		if (msg.op != ADMIN_LINK_RELOAD) {
			approvals_link(&msg);
			if (send(io->fd, &msg, sizeof(msg), MSG_NOSIGNAL) == -1)
				log_warn("admin link: cannot answer the admin process");
			continue;
		}
		log_notice("reload requested through the admin API");
		msg.result = m.stopping ? CT_ERROR : master_reload_run();
		if (m.stopping)
			snprintf(m.reload_why, sizeof(m.reload_why), "cuttle is shutting down");
		memcpy(msg.why, m.reload_why, sizeof(msg.why));
		msg.why[sizeof(msg.why) - 1] = '\0';
		msg.generation = m.cur->id;
		if (send(io->fd, &msg, sizeof(msg), MSG_NOSIGNAL) == -1)
			log_warn("admin link: cannot answer the admin process");
	}
	/* The admin process is gone; its reap closes the link. */
	ev_io_stop(loop, io);
}

static void
master_admin_spawn(void)
{
	int link[2];
	pid_t pid;

	if (m.admin.unix_fd == -1 && m.admin.tcp_fd == -1)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, link) == -1) {
		log_warn("socketpair() for the admin process failed; retrying in 1s");
		ev_timer_start(m.loop, &m.admin_respawn, 1000);
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork() of the admin process failed; retrying in 1s");
		close(link[0]);
		close(link[1]);
		ev_timer_start(m.loop, &m.admin_respawn, 1000);
		return;
	}
	if (pid == 0) {
		health_forget(m.health);
		redis_forget();
		ev_loop_free(m.loop);
		/* admin_main() closes the rest: listeners' sockets, our end of the link. */
		admin_main(&m.cur->cy, &m.admin, link[1], m.pid);
	}
	close(link[1]);
	m.admin_link_fd = link[0];
	ev_io_init(&m.admin_link, link[0], master_admin_link, NULL);
	if (ev_io_set(m.loop, &m.admin_link, EPOLLIN) != CT_OK)
		log_warn("epoll_ctl() on the admin link failed; reloads through the API fail");
	m.admin_pid = pid;
	m.admin_started = ev_now(m.loop);
}

static void
master_admin_link_close(void)
{
	if (m.admin_link_fd == -1)
		return;
	ev_io_stop(m.loop, &m.admin_link);
	close(m.admin_link_fd);
	m.admin_link_fd = -1;
}

/*
 * The admin process answers from the configuration it was forked with:
 * a new generation has a new one, forked when the old one is reaped.
 * After the reload's event, which the old one passes on to its
 * subscribers before it ends.
 */
static void
master_admin_renew(void)
{
	if (m.admin_pid > 0)
		(void)kill(m.admin_pid, SIGTERM);
	else
		master_admin_spawn();
}

static void
master_admin_respawn_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	if (!m.stopping && m.admin_pid == 0)
		master_admin_spawn();
}

static void
master_admin_ended(pid_t pid, int status)
{
	int quick = ev_now(m.loop) - m.admin_started < MASTER_QUICK_DEATH;

	m.admin_pid = 0;
	master_admin_link_close();
	if (m.stopping)
		return;
	/* A reload replaces it with SIGTERM, after which it exits 0: no error then. */
	int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;

	log_msg(clean ? LOG_LVL_INFO : LOG_LVL_ERROR, "admin process (pid %d) %s %d, respawning",
	    (int)pid, WIFSIGNALED(status) ? "killed by signal" : "exited with status",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	if (quick && !clean)
		ev_timer_start(m.loop, &m.admin_respawn, 1000);
	else
		master_admin_spawn();
}

static void
master_respawn_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct master_slot *s = t->data;

	(void)loop;
	if (!m.stopping && s->pid == 0 && s->gen == m.cur)
		master_spawn(s);
}

/* Signals every live worker of g; returns how many there are. */
static unsigned
gen_signal(struct gen *g, int signo)
{
	unsigned i, n = 0;

	for (i = 0; i < CONF_WORKERS_MAX; i++) {
		if (g->slots[i].pid > 0) {
			n++;
			if (signo != 0)
				(void)kill(g->slots[i].pid, signo);
		}
	}
	return n;
}

static unsigned
master_live_workers(void)
{
	struct gen *g;
	unsigned n = m.cur != NULL ? gen_signal(m.cur, 0) : 0;

	for (g = m.old; g != NULL; g = g->next)
		n += gen_signal(g, 0);
	return n;
}

/*
 * The decisions changed: every worker, of every generation, looks at the
 * clients it holds for one again (worker/approval.c).  A signal, since
 * a worker sleeps in epoll_pwait() with it unblocked.
 */
void
master_approvals_notify(void)
{
	struct gen *g;

	if (m.cur != NULL)
		(void)gen_signal(m.cur, SIGURG);
	for (g = m.old; g != NULL; g = g->next)
		(void)gen_signal(g, SIGURG);
}

static void gen_stop_timer(struct ev_loop *loop, struct ev_timer *t);

static struct gen *
gen_new(void)
{
	struct gen *g = calloc(1, sizeof(*g));
	unsigned i;

	if (g == NULL)
		return NULL;
	g->id = ++m.next_id;
	for (i = 0; i < CONF_WORKERS_MAX; i++) {
		g->slots[i].gen = g;
		g->slots[i].index = i;
		g->slots[i].record = -1;
		g->slots[i].wake = -1;
		ev_timer_init(&g->slots[i].respawn, master_respawn_timer, &g->slots[i]);
	}
	/* Stopped when the generation is freed, whether it drained or not. */
	ev_timer_init(&g->stop_timer, gen_stop_timer, g);
	return g;
}

static void
gen_free(struct gen *g)
{
	unsigned i;

	for (i = 0; i < CONF_WORKERS_MAX; i++)
		ev_timer_stop(m.loop, &g->slots[i].respawn);
	ev_timer_stop(m.loop, &g->stop_timer);
	/* Its workers are gone: no one counts on its slots any more. */
	cycle_release_shm(&g->cy);
	cycle_close(&g->cy);
	free(g);
}

static void
gen_stop_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct gen *g = t->data;

	(void)loop;
	log_notice("generation %u: stopping %u workers after shutdown_timeout",
	    g->id, gen_signal(g, 0));
	gen_signal(g, SIGTERM);
}

/* Makes g drain: its workers stop accepting and finish their connections. */
static void
gen_retire(struct gen *g)
{
	struct gen **pp;
	unsigned i, n = 0;

	for (i = 0; i < CONF_WORKERS_MAX; i++)
		ev_timer_stop(m.loop, &g->slots[i].respawn);
	gen_signal(g, SIGQUIT);
	ev_timer_init(&g->stop_timer, gen_stop_timer, g);
	ev_timer_start(m.loop, &g->stop_timer, g->cy.conf->shutdown_timeout_ms);
	g->next = m.old;
	m.old = g;
	/* Past the bound, the oldest draining generations are stopped now. */
	for (pp = &m.old; *pp != NULL; pp = &(*pp)->next) {
		if (++n > MASTER_OLD_GENS_MAX && gen_signal(*pp, 0) > 0) {
			log_warnx("generation %u: more than %d generations draining; stopping it",
			    (*pp)->id, MASTER_OLD_GENS_MAX);
			gen_signal(*pp, SIGTERM);
		}
	}
}

/* A worker's exit: its slot, pid and generation, how it ended, and whether it comes back. */
static void
master_exit_event(const struct master_slot *s, pid_t pid, int status, int respawn,
    uint64_t lived)
{
	struct shm_event ev;

	shm_event_init(&ev, SHM_EV_WORKER_EXIT);
	ev.slot = (uint16_t)s->index;
	ev.pid = (int32_t)pid;
	ev.status = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
	ev.flag = (uint8_t)((respawn ? SHM_EV_EXIT_RESPAWN : 0) |
	    (WIFSIGNALED(status) && WCOREDUMP(status) ? SHM_EV_EXIT_CORE : 0));
	ev.n[0] = s->gen->id;
	ev.n[1] = lived;
	(void)shm_event_write(&m.shm, &ev);
}

static void
master_slot_ended(struct master_slot *s, pid_t pid, int status)
{
	int current = s->gen == m.cur && !m.stopping;
	uint64_t lived = ev_now(m.loop) - s->started, delay;
	const char *how = current ? ", respawning" : "";
	int bad = WIFSIGNALED(status) || WEXITSTATUS(status) != 0;

	s->pid = 0;
	shm_worker_release(&m.shm, s->record);
	s->record = -1;
	/* Before a respawn can take the pid: what it was filling and holding in the caches. */
	(void)shm_cache_reap_all(&m.shm, pid, &(struct shm_cache_wake){ m.wake_fds, m.nwake, -1 });
	master_wake_give(s->wake);
	s->wake = -1;
	master_exit_event(s, pid, status, current, lived);
	if (WIFSIGNALED(status))
		log_msg(current ? LOG_LVL_ERROR : LOG_LVL_NOTICE,
		    "worker %u (pid %d) killed by signal %d%s%s", s->index, (int)pid,
		    WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "", how);
	else
		log_msg(current && bad ? LOG_LVL_ERROR : LOG_LVL_NOTICE,
		    "worker %u (pid %d) exited with status %d%s", s->index, (int)pid,
		    WEXITSTATUS(status), how);
	if (!current)
		return;
	s->crashes = lived < MASTER_QUICK_DEATH ? s->crashes + 1 : 0;
	if (s->crashes <= 1) {
		master_spawn(s);
		return;
	}
	delay = CT_MIN((uint64_t)100 << CT_MIN(s->crashes - 2, 10u), (uint64_t)MASTER_BACKOFF_MAX);
	log_warnx("worker %u keeps exiting right after start; respawning in %llums",
	    s->index, (unsigned long long)delay);
	if (ev_timer_start(m.loop, &s->respawn, delay) != CT_OK)
		log_alert("cannot arm the respawn timer of worker %u", s->index);
}

static void master_upgrade_ended(int status);

static int
master_reap_gen(struct gen *g, pid_t pid, int status)
{
	unsigned i;

	for (i = 0; i < CONF_WORKERS_MAX; i++) {
		if (g->slots[i].pid == pid) {
			master_slot_ended(&g->slots[i], pid, status);
			return 1;
		}
	}
	return 0;
}

static void
master_reap(void)
{
	struct gen **pp;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m.upgrade_pid) {
			master_upgrade_ended(status);
			continue;
		}
		if (pid == m.admin_pid) {
			master_admin_ended(pid, status);
			continue;
		}
		if (m.cur != NULL && master_reap_gen(m.cur, pid, status))
			continue;
		for (pp = &m.old; *pp != NULL; pp = &(*pp)->next) {
			if (master_reap_gen(*pp, pid, status)) {
				if (gen_signal(*pp, 0) == 0) {
					struct gen *done = *pp;

					*pp = done->next;
					log_notice("generation %u finished", done->id);
					gen_free(done);
				}
				break;
			}
		}
	}
}

/* ------------------------------------------------------------- reload */

/* Keeps the first reason the reload under way failed, for "cuttle -s reload". */
static void
master_reload_why(const char *why)
{
	if (m.reload_why[0] == '\0')
		snprintf(m.reload_why, sizeof(m.reload_why), "%s", why);
}

static void
master_conf_error(void *arg, const char *msg)
{
	(void)arg;
	log_error("%s", msg);
	/* The first error is the one an API client and "cuttle -s reload" are told. */
	master_reload_why(msg);
}

static int
master_listener_has(const struct conf *c, const struct conf_listener *l)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, l->name) == 0 &&
		    conf_listener_dgram(&c->listeners[i]) == conf_listener_dgram(l) &&
		    addr_equal((const struct sockaddr *)&c->listeners[i].addr.ss,
		    (const struct sockaddr *)&l->addr.ss))
			return 1;
	return 0;
}

static const struct conf_upstream *
master_upstream_find(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nupstreams; i++)
		if (strcmp(c->upstreams[i].name, name) == 0)
			return &c->upstreams[i];
	return NULL;
}

static int
master_server_has(const struct conf_upstream *u, const struct conf_server *s)
{
	size_t i;

	for (i = 0; u != NULL && i < u->nservers; i++)
		if (addr_equal((const struct sockaddr *)&u->servers[i].addr.ss,
		    (const struct sockaddr *)&s->addr.ss))
			return 1;
	return 0;
}

/* Logs what servers of a and not of b were "verb"ed. */
static void
master_log_servers(const struct conf_upstream *a, const struct conf_upstream *b,
    const char *verb, const char *prep)
{
	size_t i;

	for (i = 0; i < a->nservers; i++)
		if (!master_server_has(b, &a->servers[i]))
			log_notice("reload: %s server %s %s upstream \"%s\"", verb,
			    a->servers[i].address, prep, a->name);
}

static void
master_log_changes(const struct conf *o, const struct conf *n)
{
	size_t i;

	for (i = 0; i < n->nlisteners; i++)
		if (!master_listener_has(o, &n->listeners[i]))
			log_notice("reload: added listener \"%s\" on %s",
			    n->listeners[i].name, n->listeners[i].listen);
	for (i = 0; i < o->nlisteners; i++)
		if (!master_listener_has(n, &o->listeners[i]))
			log_notice("reload: removed listener \"%s\"", o->listeners[i].name);
	for (i = 0; i < n->nupstreams; i++) {
		const struct conf_upstream *ou = master_upstream_find(o, n->upstreams[i].name);

		if (ou == NULL)
			log_notice("reload: added upstream \"%s\"", n->upstreams[i].name);
		else
			master_log_servers(&n->upstreams[i], ou, "added", "to");
	}
	for (i = 0; i < o->nupstreams; i++) {
		const struct conf_upstream *nu = master_upstream_find(n, o->upstreams[i].name);

		if (nu == NULL)
			log_notice("reload: removed upstream \"%s\"", o->upstreams[i].name);
		else
			master_log_servers(&o->upstreams[i], nu, "removed", "from");
	}
	if (o->workers != n->workers)
		log_notice("reload: workers %u -> %u", o->workers, n->workers);
}

/* Switches the error log when a reload changed it; keeps the old on failure. */
static void
master_error_log_apply(const struct conf *o, const struct conf *n)
{
	if (strcmp(o->error_log_path, n->error_log_path) == 0) {
		log_set_level(n->error_log_level);
		return;
	}
	if (log_open(n->error_log_path, n->error_log_level) != CT_OK) {
		log_warn("cannot open error_log \"%s\"; keeping \"%s\"",
		    n->error_log_path, o->error_log_path);
		return;
	}
	(void)log_chown(m.worker_uid);
}

static uid_t
master_worker_uid(const struct conf *conf)
{
	return conf->user != NULL && geteuid() == 0 ? conf->uid : (uid_t)-1;
}

static void
master_start_gen(struct gen *g)
{
	unsigned i;

	m.cur = g;
	cluster_cycle(&g->cy, m.args->conf_path);
	for (i = 0; i < CONF_WORKERS_MAX; i++)
		atomic_store(&shm_header(&m.shm)->worker_pids[i], 0);
	atomic_store(&shm_header(&m.shm)->workers, g->cy.conf->workers);
	atomic_store(&shm_header(&m.shm)->generation, g->id);
	for (i = 0; i < g->cy.conf->workers; i++)
		master_spawn(&g->slots[i]);
	/* Checks follow the configuration; health already in shm stays. */
	health_stop(m.health);
	m.health = health_start(m.loop, &g->cy);
	climit_conf(m.loop, &m.shm, &g->cy);
	conncap_start(m.loop, &g->cy);
}

/*
 * Builds a generation from conf and the prepared sockets.  On failure
 * everything it took is given back and conf is freed.
 */
static struct gen *
master_gen_build(struct conf *conf)
{
	struct gen *g = gen_new();

	if (g == NULL) {
		conf_free(conf);
		return NULL;
	}
	if (cycle_open(&g->cy, conf, &m.shm) != CT_OK ||
	    lsocks_assign(&m.socks, &g->cy) != CT_OK) {
		cycle_release_shm(&g->cy);
		cycle_close(&g->cy);
		free(g);
		m.next_id--;
		return NULL;
	}
	return g;
}

/*
 * Logs that a reload failed, keeps why (unless a reason is kept
 * already) for an API client, and returns rc.
 */
static int
master_reload_failed(int rc, const char *why)
{
	master_reload_why(why);
	log_error("reload failed; still running generation %u", m.cur->id);
	return rc;
}

/*
 * Returns CT_OK with the new generation running, CT_DECLINED when the
 * file was refused, CT_ERROR when it could not be put to work; the
 * first reason is in m.reload_why.
 */
static int
master_reload(void)
{
	const struct conf *o = m.cur->cy.conf;
	struct conf *conf;
	struct gen *g, *prev;

	m.reload_why[0] = '\0';
	log_notice("reloading configuration from %s", m.args->conf_path);
	/* A segment scribbled on by a process gone wrong must not get a new generation. */
	if (shm_check(m.shm.base, m.shm.size, "reload") != CT_OK)
		return master_reload_failed(CT_ERROR, "the shared memory segment is damaged");
	conf = conf_load(m.args->conf_path, master_conf_error, NULL);
	if (conf != NULL && conf->shm_size != o->shm_size) {
		log_error("shm_size cannot change on reload; restart cuttle to resize it");
		conf_free(conf);
		return master_reload_failed(CT_DECLINED,
		    "shm_size cannot change on reload; restart cuttle to resize it");
	}
	if (conf == NULL)
		return master_reload_failed(CT_DECLINED, "the configuration is invalid");
	if (lsocks_prepare(&m.socks, conf) != CT_OK) {
		master_reload_why(m.socks.err);
		lsocks_rollback(&m.socks);
		conf_free(conf);
		return master_reload_failed(CT_ERROR, "cannot open the listening sockets "
		    "(see the error log)");
	}
	if ((g = master_gen_build(conf)) == NULL) {
		lsocks_rollback(&m.socks);
		return master_reload_failed(CT_ERROR, "cannot build the new generation "
		    "(see the error log)");
	}
	lsocks_commit(&m.socks, conf);
	master_log_changes(o, conf);
	m.worker_uid = master_worker_uid(conf);
	master_error_log_apply(o, conf);
	approvals_reconf(conf);
	redis_reconf(conf);
	prev = m.cur;
	master_start_gen(g);
	gen_retire(prev);
	log_notice("generation %u started with %u workers", g->id, conf->workers);
	return CT_OK;
}

/*
 * Publishes the outcome of a reload in the segment: "cuttle -s reload"
 * waits for reload_seq to move, then reads the result; /metrics shows it.
 */
static void
master_reload_record(int rc)
{
	struct shm_header *h = shm_header(&m.shm);

	shm_text_write(&h->reload_why, rc == CT_OK ? "" : m.reload_why[0] != '\0' ?
	    m.reload_why : "see the error log");
	atomic_store(&h->reload_failed, rc != CT_OK);
	atomic_store(&h->reload_time, (uint_fast64_t)time(NULL));
	atomic_fetch_add(rc == CT_OK ? &h->reloads_ok : &h->reloads_failed, 1);
	atomic_fetch_add_explicit(&h->reload_seq, 1, memory_order_release);
}

/*
 * A reload, by SIGHUP or for the admin API, and its outcome told to
 * whoever waits for it ("cuttle -s reload", /metrics).
 */
/* The reload's event: its outcome, the generation running, why it failed. */
static void
master_reload_event(int rc)
{
	struct shm_event ev;

	shm_event_init(&ev, SHM_EV_RELOAD);
	ev.flag = rc == CT_OK;
	ev.status = (int32_t)m.cur->id;
	ev.pid = (int32_t)m.pid;
	if (rc != CT_OK)
		shm_event_text(&ev, m.reload_why[0] != '\0' ? m.reload_why : "see the error log");
	(void)shm_event_write(&m.shm, &ev);
}

static int
master_reload_run(void)
{
	int rc = master_reload();

	master_reload_record(rc);
	master_reload_event(rc);
	if (rc == CT_OK)
		master_admin_renew();
	return rc;
}

/* ------------------------------------------------------------- reopen */

static void
master_reopen(void)
{
	struct gen *g;

	log_notice("reopening logs");
	if (log_reopen(m.worker_uid) != CT_OK)
		log_warn("cannot reopen the error log");
	cycle_reopen_logs(&m.cur->cy, m.worker_uid);
	gen_signal(m.cur, SIGUSR1);
	for (g = m.old; g != NULL; g = g->next)
		gen_signal(g, SIGUSR1);
}

/* ------------------------------------------------------------ upgrade */

static void
master_pid_rename(const char *from_suffix, const char *to_suffix)
{
	char from[4200], to[4200];

	snprintf(from, sizeof(from), "%s%s", m.pid_file, from_suffix);
	snprintf(to, sizeof(to), "%s%s", m.pid_file, to_suffix);
	if (rename(from, to) == -1)
		log_warn("rename(\"%s\", \"%s\") failed", from, to);
}

static void
master_upgrade_exec(void)
{
	char *fds = lsocks_export(&m.socks), from[32], gen[32], admin[32];
	sigset_t none;

	snprintf(from, sizeof(from), "%d", (int)m.pid);
	/* The new master numbers its generations on from ours. */
	snprintf(gen, sizeof(gen), "%u", m.next_id);
	if (fds == NULL || setenv(MASTER_ENV_LISTEN, fds, 1) == -1 ||
	    setenv(MASTER_ENV_FROM, from, 1) == -1 || setenv(MASTER_ENV_GEN, gen, 1) == -1)
		_exit(127);
	/* The admin sockets too: a TCP one could not be bound again beside ours. */
	admin_sockets_export(&m.admin, admin, sizeof(admin));
	if (setenv(MASTER_ENV_ADMIN, admin, 1) == -1)
		_exit(127);
	lsocks_inherit(&m.socks);
	admin_sockets_inherit(&m.admin);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(m.args->exe, m.args->argv);
	log_warn("upgrade: execv(\"%s\") failed", m.args->exe);
	_exit(127);
}

static void
master_upgrade(void)
{
	pid_t pid;

	if (m.upgrade_pid != 0) {
		log_warnx("upgrade: the new binary (pid %d) is already starting", (int)m.upgrade_pid);
		return;
	}
	if (m.pid_file != NULL) {
		master_pid_rename("", ".oldbin");
		m.pid_renamed = 1;
	}
	/* The new binary starts from the state file: it must hold every decision. */
	approvals_disown();
	cluster_disown();
	pid = fork();
	if (pid == -1) {
		log_warn("upgrade: fork() failed");
		approvals_reown();
		cluster_reown();
		if (m.pid_renamed)
			master_pid_rename(".oldbin", "");
		m.pid_renamed = 0;
		return;
	}
	if (pid == 0)
		master_upgrade_exec();
	m.upgrade_pid = pid;
	log_notice("upgrade: started new binary (pid %d)", (int)pid);
}

static void
master_upgrade_ended(int status)
{
	pid_t pid = m.upgrade_pid;

	m.upgrade_pid = 0;
	if (m.stopping)
		return;
	log_error("upgrade failed: new binary (pid %d) exited with status %d", (int)pid,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	approvals_reown();
	cluster_reown();
	if (m.pid_renamed)
		master_pid_rename(".oldbin", "");
	m.pid_renamed = 0;
}

/* --------------------------------------------------------------- exit */

static void
master_kill_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct gen *g;
	int signo = t->data == NULL ? SIGKILL : SIGTERM;

	(void)loop;
	log_warnx("workers still running after the shutdown timeout; sending %s",
	    signo == SIGKILL ? "SIGKILL" : "SIGTERM");
	gen_signal(m.cur, signo);
	for (g = m.old; g != NULL; g = g->next)
		gen_signal(g, signo);
	if (signo == SIGTERM) {
		t->data = NULL;
		ev_timer_start(m.loop, t, MASTER_TERM_TIMEOUT);
	}
}

static void
master_exit(void)
{
	char old[4200];

	log_notice("exiting");
	approvals_flush();
	if (m.admin_pid > 0)
		(void)kill(m.admin_pid, SIGTERM);
	/* A new master we started serves on the same socket file: leave it. */
	if (m.upgrade_pid != 0)
		m.admin.ino = 0;
	admin_sockets_close(&m.admin, m.cur->cy.conf);
	health_stop(m.health);
	m.health = NULL;
	cluster_stop();
	climit_stop();
	conncap_stop(m.upgrade_pid == 0);
	redis_stop();
	if (m.pid_file != NULL) {
		if (m.pid_renamed) {
			snprintf(old, sizeof(old), "%s.oldbin", m.pid_file);
			pidfile_remove(old, m.pid);
		} else {
			pidfile_remove(m.pid_file, m.pid);
		}
	}
	while (m.old != NULL) {
		struct gen *g = m.old;

		m.old = g->next;
		gen_free(g);
	}
	gen_free(m.cur);
	m.cur = NULL;
	lsocks_close_all(&m.socks);
	shm_destroy(&m.shm);
	ev_loop_free(m.loop);
	free(m.pid_file);
	exit(0);
}

static void
master_stop(int how)
{
	struct gen *g;
	int signo = how == SIGQUIT ? SIGQUIT : SIGTERM;

	m.stopping = how;
	/* After an upgrade the new master, the same node, holds the leases on. */
	if (m.upgrade_pid == 0)
		health_lease_yield(m.health);
	/*
	 * New connections are refused from now on rather than queued on
	 * sockets that close when the master exits; after an upgrade the new
	 * master holds its own copies, so nothing is refused then.
	 */
	lsocks_close_all(&m.socks);
	gen_signal(m.cur, signo);
	for (g = m.old; g != NULL; g = g->next) {
		ev_timer_stop(m.loop, &g->stop_timer);
		gen_signal(g, signo);
	}
	/* data != NULL: SIGTERM first, SIGKILL later */
	m.kill_timer.data = how == SIGQUIT ? &m : NULL;
	ev_timer_start(m.loop, &m.kill_timer, how == SIGQUIT ?
	    m.cur->cy.conf->shutdown_timeout_ms : MASTER_TERM_TIMEOUT);
}

static void
master_after(struct ev_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	if (sig_child) {
		sig_child = 0;
		master_reap();
	}
	if (sig_terminate && m.stopping != SIGTERM) {
		log_notice("fast shutdown requested");
		master_stop(SIGTERM);
	} else if (sig_quit && !m.stopping) {
		log_notice("graceful shutdown requested");
		master_stop(SIGQUIT);
	}
	if (sig_reload) {
		sig_reload = 0;
		if (!m.stopping)
			(void)master_reload_run();
	}
	if (sig_reopen) {
		sig_reopen = 0;
		master_reopen();
	}
	if (sig_upgrade) {
		sig_upgrade = 0;
		if (!m.stopping)
			master_upgrade();
	}
	if (m.stopping && master_live_workers() == 0)
		master_exit();
}

/* -------------------------------------------------------------- start */

/* Does every slot of the current generation run a worker that said it is ready? */
static int
master_workers_ready(void)
{
	unsigned i;

	for (i = 0; i < m.cur->cy.conf->workers; i++) {
		const struct master_slot *s = &m.cur->slots[i];

		if (s->pid == 0)
			return 0;
		if (s->record != -1 &&
		    !atomic_load(&shm_worker_get(&m.shm, s->record)->ready))
			return 0;
	}
	return 1;
}

/*
 * After a binary upgrade the previous master keeps serving until our
 * workers accept, as nginx's does: if they never get there (a binary
 * that crashes at start), the old generation is still the one serving.
 */
static void
master_ready_timer(struct ev_loop *loop, struct ev_timer *t)
{
	if (m.upgrade_from == 0 || m.stopping)
		return;
	if (!master_workers_ready()) {
		if (ev_timer_start(loop, t, MASTER_READY_POLL) != CT_OK)
			log_alert("upgrade: cannot arm the timer that waits for the workers");
		return;
	}
	log_notice("upgrade: %u workers ready; asking the previous master (pid %d) to drain",
	    m.cur->cy.conf->workers, (int)m.upgrade_from);
	if (kill(m.upgrade_from, SIGQUIT) == -1)
		log_warn("upgrade: cannot signal the previous master (pid %d)", (int)m.upgrade_from);
	m.upgrade_from = 0;
}

/*
 * Every connection costs a worker two descriptors, and a pipe that
 * splices a bulk direction two more.  Without worker_rlimit_nofile,
 * raise the soft limit as far as the hard one allows, and say so when
 * that is not enough.  worker_rlimit_nofile is the workers' own
 * (worker.c): the master's limits stay as they are, so that a reload
 * can give new workers a higher one.
 */
static void
master_rlimit(const struct conf *conf)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)conf->worker_connections * 2 +
	    (rlim_t)WORKER_PIPES_MAX(conf->worker_connections) * 2 +
	    conf->nlisteners * conf->workers + 64;

	if (conf->worker_rlimit_nofile > 0 || getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : CT_MIN(need, rl.rlim_max);
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu) failed", (unsigned long long)rl.rlim_cur);
	}
	if (rl.rlim_cur < need)
		log_warnx("worker_connections %u needs about %llu descriptors per worker but the "
		    "open files limit is %llu; workers pause accepting when they run out",
		    conf->worker_connections, (unsigned long long)need,
		    (unsigned long long)rl.rlim_cur);
}

/*
 * Detaches from the terminal.  The launching process waits on a pipe
 * until the master is ready (or has failed), so that its exit status
 * means something and the pid file exists when it returns.
 */
static int
master_daemonize(void)
{
	int pfd[2], devnull;
	pid_t pid;
	char c;

	if (pipe2(pfd, O_CLOEXEC) == -1)
		fatal("pipe2() failed");
	if ((pid = fork()) == -1)
		fatal("fork() failed");
	if (pid > 0) {
		close(pfd[1]);
		_exit(read(pfd[0], &c, 1) == 1 ? 0 : 1);
	}
	close(pfd[0]);
	if (setsid() == -1)
		log_warn("setsid() failed");
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		if (log_fd() != STDERR_FILENO)
			dup2(devnull, STDERR_FILENO);
		close(devnull);
	}
	return pfd[1];
}

/* Refuses to start beside a running master that uses the same pid file. */
static void
master_pidfile_check(const char *path, pid_t upgrading_from)
{
	pid_t pid = pidfile_read(path);

	if (pid > 0 && pid != upgrading_from && pidfile_is_master(pid))
		fatalx("another cuttle master (pid %d) runs with pid_file \"%s\"", (int)pid, path);
}

static void
master_open(struct conf *conf, pid_t from)
{
	const char *env = getenv(MASTER_ENV_LISTEN);
	struct gen *g;

	if (conf->pid_file != NULL)
		master_pidfile_check(conf->pid_file, from);
	m.shm.fd = -1;
	if (shm_create(&m.shm, conf->shm_size) != CT_OK)
		fatalx("cannot start: cannot create the shared segment");
	if (env != NULL && lsocks_adopt(&m.socks, env) != CT_OK)
		fatalx("cannot use the listening sockets of the previous master");
	unsetenv(MASTER_ENV_LISTEN);
	if (lsocks_prepare(&m.socks, conf) != CT_OK)
		fatalx("cannot start: %s", m.socks.err);
	if ((g = master_gen_build(conf)) == NULL)
		fatalx("cannot start: see the errors above");
	lsocks_commit(&m.socks, conf);
	m.cur = g;
	admin_sockets_adopt(&m.admin, conf, getenv(MASTER_ENV_ADMIN));
	unsetenv(MASTER_ENV_ADMIN);
	if (admin_sockets_open(&m.admin, conf) != CT_OK)
		fatalx("cannot start: cannot open the admin sockets");
}

void
master_run(struct conf *conf, const struct master_args *args)
{
	const char *from_env = getenv(MASTER_ENV_FROM), *gen_env = getenv(MASTER_ENV_GEN);
	pid_t from = from_env != NULL ? (pid_t)atoi(from_env) : 0;
	int ready_fd = -1;
	struct gen *g;

	if (from > 0 && gen_env != NULL)
		m.next_id = (unsigned)strtoul(gen_env, NULL, 10);
	unsetenv(MASTER_ENV_FROM);
	unsetenv(MASTER_ENV_GEN);
	if (log_open(conf->error_log_path, conf->error_log_level) != CT_OK)
		fatal("cannot open error_log \"%s\"", conf->error_log_path);
	m.args = args;
	m.worker_uid = master_worker_uid(conf);
	if (conf->user != NULL && geteuid() != 0)
		log_warnx("user \"%s\" ignored: the master does not run as root", conf->user);
	(void)log_chown(m.worker_uid);
	/* timers: respawns of every generation, and one per checked server */
	if ((m.loop = ev_loop_new(CONF_WORKERS_MAX * (MASTER_OLD_GENS_MAX + 2) +
	    SHM_BACKENDS_MAX + 64)) == NULL)
		fatal("cannot create the event loop");
	master_rlimit(conf);
	if (conf->pid_file != NULL && (m.pid_file = strdup(conf->pid_file)) == NULL)
		fatal("out of memory");
	master_open(conf, from);
	if (tls_keys_start(m.loop, &m.shm) != CT_OK)
		fatalx("cannot start: cannot make TLS ticket keys");
	/* Before any worker: the first client already meets the decisions kept. */
	approvals_start(m.loop, &m.shm, conf);
	/* An upgraded master is already detached: it runs under the old one. */
	if (conf->daemon && from == 0)
		ready_fd = master_daemonize();
	m.pid = getpid();
	/* "cuttle -s" trusts a pid file that names a process titled so, ready for signals. */
	proctitle_set("cuttle: master");
	master_signals_init();
	if (m.pid_file != NULL && pidfile_write(m.pid_file, m.pid) != CT_OK)
		fatalx("cannot start: cannot write pid_file \"%s\"", m.pid_file);
	ev_timer_init(&m.kill_timer, master_kill_timer, NULL);
	ev_timer_init(&m.ready_timer, master_ready_timer, NULL);
	ev_timer_init(&m.admin_respawn, master_admin_respawn_timer, NULL);
	m.admin_link_fd = -1;
	atomic_store(&shm_header(&m.shm)->master_pid, (int)m.pid);
	atomic_store(&shm_header(&m.shm)->started, (uint_fast64_t)time(NULL));
	atomic_store(&shm_header(&m.shm)->reload_time, (uint_fast64_t)time(NULL));
	ev_loop_set_after(m.loop, master_after, NULL);
	/* After the daemon's fork: the connections are the master's own. */
	redis_start(m.loop, &m.shm, conf);
	cluster_start(m.loop, &m.shm, conf, m.args->conf_path);
	g = m.cur;
	if (from > 0)
		log_notice("cuttle %s started, %u workers (upgrade from pid %d)", CT_VERSION,
		    conf->workers, (int)from);
	else
		log_notice("cuttle %s started, %u workers", CT_VERSION, conf->workers);
	master_start_gen(g);
	master_admin_renew();
	if (from > 0) {
		m.upgrade_from = from;
		master_ready_timer(m.loop, &m.ready_timer);
	}
	if (ready_fd != -1) {
		(void)write(ready_fd, "", 1);
		close(ready_fd);
	}
	if (ev_loop_run(m.loop) != CT_OK)
		fatal("epoll_pwait() failed in the master");
	exit(1);
}

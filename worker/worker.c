/*
 * The worker process: signals, accept, and the end-of-iteration work.
 *
 * Signals are blocked except while the loop sleeps in epoll_pwait(); the
 * handlers only set flags, which the after hook acts on.  SIGTERM/SIGINT
 * end the worker at once; SIGQUIT (a reload or a graceful shutdown)
 * takes what already waits in the accept queues, stops accepting and
 * ends the worker when its last connection closes; SIGUSR1 reopens the
 * logs.  The master's death delivers SIGTERM (PR_SET_PDEATHSIG).
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/proctitle.h"
#include "shm/cache.h"
#include "worker/acl.h"
#include "worker/bandwidth.h"
#include "worker/limit.h"
#include "worker/auth.h"
#include "worker/geo.h"
#include "worker/http.h"
#include "worker/tls.h"
#include "worker/approval.h"
#include "worker/conn.h"
#include "worker/events.h"
#include "worker/logs.h"
#include "worker/modes.h"
#include "worker/pipe.h"
#include "worker/resolve.h"
#include "worker/rules.h"
#include "worker/upstream.h"
#include "worker/worker.h"

#define WORKER_EMFILE_PAUSE  100    /* ms */
#define WORKER_FREE_BUFS     256
#define WORKER_TIMERS_SPARE  17     /* the worker's own timers, the modes', the resolver's 3, the events' */
#define WORKER_IDLE_BOUND    (1u << 20)
#define WORKER_FDS_SAY_MS    60000  /* "too many open files" once a minute at most */

static volatile sig_atomic_t worker_terminate;
static volatile sig_atomic_t worker_quit;
static volatile sig_atomic_t worker_reopen;
static volatile sig_atomic_t worker_kill;
static volatile sig_atomic_t worker_approvals;

static void
worker_signal(int signo)
{
	if (signo == SIGQUIT)
		worker_quit = 1;
	else if (signo == SIGUSR1)
		worker_reopen = 1;
	else if (signo == SIGUSR2)
		worker_kill = 1;
	else if (signo == SIGURG)
		worker_approvals = 1;
	else
		worker_terminate = 1;
}

static void
worker_signals_init(struct worker *w)
{
	struct sigaction sa;
	sigset_t wait_mask;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	/* From the admin process: a connection's kill flag is set in shm. */
	sigaction(SIGUSR2, &sa, NULL);
	/* From the master: the approval decisions changed. */
	sigaction(SIGURG, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	/* The mask inherited from the master blocks all of these. */
	sigemptyset(&wait_mask);
	ev_loop_set_sigmask(w->loop, &wait_mask);
}

/*
 * Idle pooled upstream connections the worker may keep: what the
 * upstreams' keepalive.max_idle allow, and the forward listeners' for
 * their destinations, bounded by the open files limit (each holds a
 * descriptor).  Each has an idle timer, so the timer heap is sized for
 * these and a timer per connection slot.
 */
static size_t
worker_idle_max(const struct conf *conf)
{
	struct rlimit rl;
	size_t i, n = 0, bound = WORKER_IDLE_BOUND;

	for (i = 0; i < conf->nupstreams; i++)
		n += (size_t)conf->upstreams[i].keepalive.max_idle * conf->upstreams[i].nservers;
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].mode == CONF_MODE_FORWARD)
			n += conf->listeners[i].proxy.keepalive.max_idle;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		bound = CT_MIN(bound, (size_t)rl.rlim_cur);
	return CT_MIN(n, bound);
}

/* Does a listener meter bandwidth?  Its connections may each hold a second timer. */
static int
worker_bandwidth(const struct conf *conf)
{
	size_t i;

	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].bandwidth.on)
			return 1;
	return 0;
}

/* The descriptors open now (at start: logs, listeners, epoll, inherited ones). */
static size_t
worker_fds_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return 16;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;      /* not the directory's own */
}

static void
worker_fds_init(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	struct rlimit rl;

	w->fds_base = worker_fds_count();
	w->fds_limit = SIZE_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		w->fds_limit = (size_t)rl.rlim_cur;
	/*
	 * A sixteenth of what may be used, worker_connections or the limit,
	 * whichever is lower: more slots than descriptors must not keep a
	 * worker from accepting at all.
	 */
	w->fds_reserve = CT_MAX((size_t)16, CT_MIN((size_t)conf->worker_connections,
	    w->fds_limit) / 16);
	if (w->fds_limit != SIZE_MAX && w->fds_base + w->fds_reserve +
	    2 * (size_t)conf->worker_connections > w->fds_limit)
		log_notice("worker %u: the open files limit %zu lets about %zu of the %u "
		    "worker_connections have their upstream connection", w->slot, w->fds_limit,
		    w->fds_limit > w->fds_base + w->fds_reserve ?
		    (w->fds_limit - w->fds_base - w->fds_reserve) / 2 : 0,
		    conf->worker_connections);
}

/*
 * Mutes (events 0) or resumes accepting.  A datagram listener is left
 * as it is: it carries the datagrams of the sessions already open, and
 * its mode refuses new ones itself.
 */
static void
worker_listeners_set(struct worker *w, uint32_t events)
{
	size_t i;

	for (i = 0; i < w->nlisteners; i++)
		if (w->listeners[i].io.fd != -1 && !w->listeners[i].datagram &&
		    ev_io_set(w->loop, &w->listeners[i].io, events) != CT_OK)
			log_warn("epoll_ctl() on listener \"%s\" failed",
			    w->cy->conf->listeners[w->listeners[i].index].name);
}

/* Pauses accepting (after EMFILE or with every slot taken); ms 0 = until a slot frees. */
static void
worker_accept_pause(struct worker *w, uint64_t ms)
{
	if (!w->accept_paused)
		worker_listeners_set(w, 0);
	w->accept_paused = 1;
	if (ms > 0 && ev_timer_start(w->loop, &w->resume, ms) != CT_OK)
		log_warn("cannot arm the accept resume timer");
}

static void
worker_accept_resume(struct worker *w)
{
	if (!w->accept_paused || w->quitting)
		return;
	w->accept_paused = 0;
	ev_timer_stop(w->loop, &w->resume);
	worker_listeners_set(w, EPOLLIN);
}

static void
worker_resume_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct worker *w = t->data;

	(void)loop;
	if (w->free != NULL)
		worker_accept_resume(w);
}

static void
worker_accept_failed(struct worker *w, const struct conf_listener *l)
{
	struct rlimit rl;

	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		if (!w->emfile_logged) {
			getrlimit(RLIMIT_NOFILE, &rl);
			log_warn("accept() on listener \"%s\" failed (open files limit %llu); "
			    "pausing accepts for %dms until descriptors free up",
			    l->name, (unsigned long long)rl.rlim_cur, WORKER_EMFILE_PAUSE);
			w->emfile_logged = 1;
		}
		worker_accept_pause(w, WORKER_EMFILE_PAUSE);
		return;
	}
	log_warn("accept() on listener \"%s\" failed", l->name);
}

/*
 * Accepts one connection from a socket.  Returns CT_OK when it took one
 * (or refused one), CT_AGAIN when the queue is empty, CT_ERROR when
 * accepting had to pause.
 *
 * One per event, as nginx does without multi_accept: epoll is
 * level-triggered, so a connection left in the queue is reported again
 * by the next epoll_pwait(), which also serves every other ready socket,
 * while a loop until EAGAIN spends one accept4() per event only to learn
 * that the queue is empty, and that is the common case when connections
 * come one at a time.
 */
static int
worker_accept_one(struct worker *w, struct worker_listener *wl)
{
	const struct conf_listener *l = &w->cy->conf->listeners[wl->index];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *why = NULL;
	struct conn *c;
	int fd;

	if (w->free == NULL) {
		if (!w->full_logged)
			log_warnx("%u worker_connections are not enough; accepts paused "
			    "until a connection closes", w->cy->conf->worker_connections);
		w->full_logged = 1;
		worker_accept_pause(w, 0);
		return CT_ERROR;
	}
	if (conn_fds_short(w)) {
		if (w->fds_said == 0 || ev_now(w->loop) - w->fds_said >= WORKER_FDS_SAY_MS) {
			log_warnx("too many open files: the open files limit %zu leaves no "
			    "descriptors for the upstream connection of another client (%zu "
			    "connections, %zu idle upstream connections); accepts paused until "
			    "descriptors free up", w->fds_limit, w->nconns, w->nidle);
			w->fds_said = ev_now(w->loop);
		}
		worker_accept_pause(w, 0);
		return CT_ERROR;
	}
	fd = accept4(wl->io.fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return CT_AGAIN;
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			return CT_OK;
		worker_accept_failed(w, l);
		return CT_ERROR;
	}
	if (w->emfile_logged) {
		log_notice("accepting again on listener \"%s\"", l->name);
		w->emfile_logged = 0;
	}
	c = conn_get(w, fd, (struct sockaddr *)&ss, len, wl->index, conn_mode_get(l->mode));
	if (!acl_allows(&l->acl, (struct sockaddr *)&ss))
		conn_close(c, "acl denied");
	else if (l->geo != NULL && !geo_allows(c, l->geo, &why))
		conn_close(c, why);
	else if (l->limits.n > 0 && limit_conn_admit(c) != CT_OK)
		;       /* closed, and logged once per key and interval */
	else if (l->bandwidth.on && bandwidth_conn_start(c) != CT_OK)
		;       /* closed */
	else if (l->approval == NULL || approval_admit(c) == CT_OK)
		worker_conn_start(c);
	return CT_OK;
}

void
worker_conn_start(struct conn *c)
{
	c->client.io.cb = c->mode->io;
	c->timer.cb = c->mode->timer;
	if (c->w->cy->conf->listeners[c->listener].tls != NULL)
		tls_start(c);
	else
		c->mode->start(c);
}

static void
worker_accept(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct worker_listener *wl = io->data;

	(void)loop;
	(void)events;
	(void)worker_accept_one(wl->w, wl);
}

/*
 * Takes every connection already queued on this worker's sockets, then
 * closes them: a socket that no process holds any more leaves its
 * SO_REUSEPORT group, and the master still holds the ones that stay.
 * A datagram socket is only no longer read: the next generation's
 * worker of the slot reads the same socket, and the sessions still
 * open here send their replies through it.
 */
static void
worker_accept_stop(struct worker *w)
{
	size_t i;

	for (i = 0; i < w->nlisteners; i++) {
		struct worker_listener *wl = &w->listeners[i];
		int fd = wl->io.fd, rc;

		if (fd == -1)
			continue;
		if (wl->datagram) {
			ev_io_stop(w->loop, &wl->io);
			continue;
		}
		do {
			rc = worker_accept_one(w, wl);
		} while (rc == CT_OK);
		ev_io_stop(w->loop, &wl->io);
		close(fd);
		wl->fd = -1;
	}
}

static void
worker_exit(struct worker *w, const char *why)
{
	size_t i;

	/* Fast shutdown still accounts for every connection it cuts. */
	for (i = 0; i < w->cy->conf->worker_connections; i++)
		conn_close(&w->conns[i], "shutdown");
	conn_release_dead(w);
	events_exit(w);
	conn_modes_exit(w);
	upstream_exit(w);
	auth_worker_stop(w);
	rules_scratch_free(w->rules);
	resolver_free(w->resolver);
	log_notice("worker %u exiting: %s", w->slot, why);
	exit(0);
}

static void
worker_after(struct ev_loop *loop, void *arg)
{
	struct worker *w = arg;
	(void)loop;
	conn_release_dead(w);
	if (w->accept_paused && w->free != NULL && !ev_timer_active(&w->resume) &&
	    !conn_fds_short(w)) {
		if (w->full_logged)
			log_notice("a connection closed; accepting again");
		w->full_logged = 0;
		worker_accept_resume(w);
	}
	if (worker_terminate)
		worker_exit(w, "shutdown requested");
	if (worker_reopen) {
		worker_reopen = 0;
		log_notice("reopening logs");
		/* What is buffered belongs to the old files. */
		logs_flush(w);
		if (log_reopen((uid_t)-1) != CT_OK)
			log_warn("cannot reopen the error log");
		cycle_reopen_logs(w->cy, (uid_t)-1);
		logs_reattach(w);
	}
	if (worker_approvals) {
		worker_approvals = 0;
		approval_wake(w);
	}
	if (worker_kill) {
		worker_kill = 0;
		conn_kill_requested(w);
	}
	if (worker_quit && !w->quitting) {
		w->quitting = 1;
		ev_timer_stop(w->loop, &w->resume);
		worker_accept_stop(w);
		conn_modes_drain(w);
		conn_modes_exit(w);
		log_notice("worker %u draining %zu connections", w->slot, w->nconns);
	}
	/* Connections closed just above must not keep an idle loop waiting. */
	conn_release_dead(w);
	if (w->quitting && w->nconns == 0)
		worker_exit(w, "drained");
	/* Last: the lines of this whole iteration, in one write per log. */
	logs_flush(w);
}

/*
 * This process's slot in each cache zone, after fork: the master reaps
 * what it holds there when it exits, whatever the way.  A zone it
 * cannot attach to is served without (lookups and stores skip it).
 */
static void
worker_caches_attach(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	size_t i;

	if (conf->ncaches == 0)
		return;
	if ((w->caches = calloc(conf->ncaches, sizeof(*w->caches))) == NULL)
		fatal("worker %u: cannot allocate its cache slots", w->slot);
	for (i = 0; i < conf->ncaches; i++) {
		w->caches[i].zone = -1;
		if (w->cy->caches[i] >= 0 && shm_cache_attach(w->cy->shm, w->cy->caches[i],
		    getpid(), &w->cache_wake, &w->caches[i]) != CT_OK) {
			w->caches[i].zone = -1;
			log_warnx("worker %u: no slot in cache \"%s\": it is served without",
			    w->slot, conf->caches[i].name);
		}
	}
	if (w->cache_wake.self >= 0 && (uint32_t)w->cache_wake.self < w->cache_wake.n) {
		ev_io_init(&w->cache_wake_io, w->cache_wake.fds[w->cache_wake.self], http_cache_woken,
		    w);
		if (ev_io_set(w->loop, &w->cache_wake_io, EPOLLIN) != CT_OK)
			log_warn("worker %u: cannot watch its cache wake-ups: collapsed misses "
			    "go to the origin", w->slot);
	}
}

/*
 * The resolver, when a listener's mode looks names up: in the worker,
 * after fork, since a c-ares channel holds sockets and query state that
 * no two processes may share.
 */
static void
worker_resolver_init(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	const char *why = NULL;
	size_t i;

	for (i = 0; i < conf->nlisteners; i++)
		if (conn_mode_get(conf->listeners[i].mode)->resolves)
			break;
	if (i == conf->nlisteners)
		return;
	if ((w->resolver = resolver_new(w->loop, &conf->resolver, &why)) == NULL)
		fatalx("worker %u: cannot start the resolver: %s", w->slot, why);
}

static void
worker_init(struct worker *w)
{
	const struct conf *conf = w->cy->conf;
	size_t i, n;
	unsigned k;

	w->idle_max = worker_idle_max(conf);
	/* A timer per connection slot, a second one where bandwidth may pause them. */
	w->loop = ev_loop_new((size_t)conf->worker_connections * (worker_bandwidth(conf) ? 2 : 1) +
	    w->idle_max + WORKER_TIMERS_SPARE);
	w->conns = calloc(conf->worker_connections, sizeof(*w->conns));
	if (w->loop == NULL || w->conns == NULL)
		fatal("worker %u: cannot allocate %u connection slots", w->slot,
		    conf->worker_connections);
	for (i = conf->worker_connections; i-- > 0;) {
		w->conns[i].next = w->free;
		w->free = &w->conns[i];
	}
	buf_pool_init(&w->bufs, WORKER_FREE_BUFS);
	logs_open(w);
	ev_timer_init(&w->resume, worker_resume_timer, w);
	events_init(w);
	worker_resolver_init(w);
	worker_caches_attach(w);
	ev_loop_set_after(w->loop, worker_after, w);
	for (i = 0; i < conf->nlisteners; i++)
		for (k = 0; k < w->cy->listen[i].nfds; k++)
			if (w->cy->listen[i].fds[k] != -1)
				w->nlisteners++;
	w->listeners = calloc(w->nlisteners, sizeof(*w->listeners));
	if (w->listeners == NULL)
		fatal("worker %u: out of memory", w->slot);
	for (i = 0, n = 0; i < conf->nlisteners; i++) {
		for (k = 0; k < w->cy->listen[i].nfds; k++) {
			struct worker_listener *wl = &w->listeners[n];
			const struct conn_mode *mode = conn_mode_get(conf->listeners[i].mode);
			int fd = w->cy->listen[i].fds[k];

			if (fd == -1)
				continue;
			wl->w = w;
			wl->index = i;
			wl->fd = fd;
			wl->datagram = mode->datagram != NULL;
			ev_io_init(&wl->io, fd, wl->datagram ? mode->datagram : worker_accept, wl);
			if (ev_io_set(w->loop, &wl->io, EPOLLIN) != CT_OK)
				fatal("worker %u: epoll_ctl() on listener \"%s\" failed", w->slot,
				    conf->listeners[i].name);
			n++;
		}
	}
	worker_fds_init(w);
}

/*
 * Applies worker_rlimit_nofile, then drops to user/group when the master
 * runs as root.  A worker that cannot drop privileges must not serve.
 * Only root may raise the hard limit; anyone else sets the soft one
 * (the configuration refuses a value above the hard limit), so a reload
 * with another value applies to the new workers whichever way it goes.
 */
static void
worker_privileges(const struct conf *conf, unsigned slot)
{
	struct rlimit rl;

	if (conf->worker_rlimit_nofile > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = conf->worker_rlimit_nofile;
		if (geteuid() == 0)
			rl.rlim_max = conf->worker_rlimit_nofile;
		else if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur != conf->worker_rlimit_nofile)
			log_error("worker %u: cannot set the open files limit to "
			    "worker_rlimit_nofile %llu; it is %llu", slot,
			    (unsigned long long)conf->worker_rlimit_nofile,
			    (unsigned long long)rl.rlim_cur);
	}
	if (geteuid() != 0 || (conf->user == NULL && conf->group == NULL))
		return;
	if (setgroups(1, &conf->gid) == -1 || setgid(conf->gid) == -1)
		fatal("worker %u: cannot switch to group %u", slot, (unsigned)conf->gid);
	if (conf->user != NULL && setuid(conf->uid) == -1)
		fatal("worker %u: cannot switch to user \"%s\"", slot, conf->user);
}

/*
 * After cycle_keep_slot(): closes every descriptor inherited from the
 * master except the standard ones, the error log, the segment, this
 * slot's listening sockets and the access logs.  The admin sockets,
 * other generations' sockets, health checks and whatever the master
 * opens next are not a worker's to hold.  The event loop is created
 * after this.
 */
static void
worker_fds_keep(const struct cycle *cy, unsigned slot, const struct shm_cache_wake *wake)
{
	size_t i, n = 0, max = 5 + cy->conf->nlisteners * (CONF_WORKERS_MAX + 1) + wake->n;
	int *keep = malloc(max * sizeof(*keep));
	unsigned k;

	if (keep == NULL)
		fatal("worker %u: out of memory", slot);
	keep[n++] = STDIN_FILENO;
	keep[n++] = STDOUT_FILENO;
	keep[n++] = STDERR_FILENO;
	keep[n++] = log_fd();
	keep[n++] = cy->shm->fd;
	for (i = 0; i < cy->conf->nlisteners; i++) {
		for (k = 0; k < cy->listen[i].nfds; k++)
			keep[n++] = cy->listen[i].fds[k];
		keep[n++] = cy->listen[i].access_fd;
	}
	/* Every worker's: a filler wakes the others' waiters. */
	for (k = 0; k < wake->n; k++)
		keep[n++] = wake->fds[k];
	if (proc_close_fds_except(keep, n) != CT_OK)
		fatal("worker %u: cannot close the descriptors it inherited", slot);
	free(keep);
}

void
worker_main(struct cycle *cy, unsigned slot, unsigned generation, pid_t master, int record,
    const struct shm_cache_wake *wake)
{
	static struct worker w;

	log_set_slot((int)slot);
	proctitle_set("cuttle: worker %u", slot);
	w.cy = cy;
	w.slot = slot;
	w.generation = generation;
	w.master = master;
	w.cache_wake = *wake;
	cycle_keep_slot(cy, slot);
	worker_fds_keep(cy, slot, wake);
	worker_privileges(cy->conf, slot);
	/*
	 * After setuid() and setgid(), which clear the parent-death signal;
	 * then a master that died before it was set is caught by getppid().
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		log_warn("prctl(PR_SET_PDEATHSIG) failed");
	if (getppid() != master)
		exit(0);
	worker_init(&w);
	tls_worker_init(&w);
	if (record != -1) {
		w.recs = shm_worker_conns(cy->shm, shm_worker_get(cy->shm, record));
		w.tls_recs = shm_worker_conns_tls(cy->shm, shm_worker_get(cy->shm, record));
		w.dest_recs = shm_worker_conns_dest(cy->shm, shm_worker_get(cy->shm, record));
	}
	worker_signals_init(&w);
	log_notice("worker %u ready, generation %u", slot, generation);
	/* What a new master waits for before it lets the previous one drain. */
	if (record != -1)
		atomic_store(&shm_worker_get(cy->shm, record)->ready, 1);
	logs_flush(&w);
	if (ev_loop_run(w.loop) != CT_OK)
		fatal("worker %u: epoll_pwait() failed", slot);
	exit(0);
}

/*
 * The master: owns the configuration, the shared segment and the
 * listening sockets, and keeps one worker alive in every slot.
 *
 * It parses no client input.  Signal handlers set flags; the after hook
 * of the master's event loop acts on them:
 *   SIGCHLD          reap, log how the worker ended, respawn its slot
 *   SIGTERM, SIGINT  fast shutdown: workers get SIGTERM
 *   SIGQUIT          graceful shutdown: workers stop accepting, finish
 *                    their connections, and exit (SIGKILL after
 *                    MASTER_QUIT_TIMEOUT)
 * A slot whose worker keeps dying right after start is respawned with
 * a growing delay instead of in a tight fork loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "master/cycle.h"
#include "master/master.h"
#include "shm/shm.h"
#include "worker/worker.h"

#define MASTER_TERM_TIMEOUT   5000     /* ms before SIGKILL on fast shutdown */
#define MASTER_QUIT_TIMEOUT  30000     /* ms before SIGKILL on graceful shutdown */
#define MASTER_QUICK_DEATH    1000     /* ms: a worker dying sooner is "crashing" */
#define MASTER_BACKOFF_MAX   10000     /* ms */

struct master_slot {
	unsigned index;
	pid_t pid;                  /* 0 when no worker runs */
	uint64_t started;
	unsigned crashes;           /* quick deaths in a row */
	struct ev_timer respawn;
};

static struct {
	struct ev_loop *loop;
	struct shm shm;
	struct cycle cy;
	struct master_slot slots[CONF_WORKERS_MAX];
	struct ev_timer kill_timer;
	pid_t pid;
	int stopping;               /* shutdown under way: no respawns */
} m;

static volatile sig_atomic_t master_sig_child;
static volatile sig_atomic_t master_sig_terminate;
static volatile sig_atomic_t master_sig_quit;
static volatile sig_atomic_t master_sig_other;

static void
master_signal(int signo)
{
	switch (signo) {
	case SIGCHLD: master_sig_child = 1; break;
	case SIGTERM:
	case SIGINT:  master_sig_terminate = 1; break;
	case SIGQUIT: master_sig_quit = 1; break;
	default:      master_sig_other = signo; break;
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

static void
master_spawn(struct master_slot *s)
{
	pid_t pid = fork();

	if (pid == -1) {
		log_warn("fork() of worker %u failed; retrying in 1s", s->index);
		if (ev_timer_start(m.loop, &s->respawn, 1000) != CT_OK)
			log_alert("cannot arm the respawn timer of worker %u", s->index);
		return;
	}
	if (pid == 0) {
		ev_loop_free(m.loop);
		worker_main(&m.cy, s->index, m.pid);
	}
	s->pid = pid;
	s->started = ev_now(m.loop);
}

static void
master_respawn_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct master_slot *s = t->data;

	(void)loop;
	if (!m.stopping && s->pid == 0)
		master_spawn(s);
}

static void
master_slot_ended(struct master_slot *s, pid_t pid, int status)
{
	uint64_t lived = ev_now(m.loop) - s->started, delay;
	const char *how = m.stopping ? "" : ", respawning";

	s->pid = 0;
	if (WIFSIGNALED(status))
		log_msg(m.stopping ? LOG_LVL_NOTICE : LOG_LVL_ERROR,
		    "worker %u (pid %d) killed by signal %d%s%s", s->index, (int)pid,
		    WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "", how);
	else
		log_msg(m.stopping || WEXITSTATUS(status) == 0 ? LOG_LVL_NOTICE : LOG_LVL_ERROR,
		    "worker %u (pid %d) exited with status %d%s", s->index, (int)pid,
		    WEXITSTATUS(status), how);
	if (m.stopping)
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

static void
master_reap(void)
{
	pid_t pid;
	int status;
	unsigned i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < m.cy.conf->workers; i++) {
			if (m.slots[i].pid == pid) {
				master_slot_ended(&m.slots[i], pid, status);
				break;
			}
		}
	}
}

static unsigned
master_signal_workers(int signo)
{
	unsigned i, n = 0;

	for (i = 0; i < m.cy.conf->workers; i++) {
		if (m.slots[i].pid > 0 && kill(m.slots[i].pid, signo) == 0)
			n++;
		ev_timer_stop(m.loop, &m.slots[i].respawn);
	}
	return n;
}

static void
master_kill_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	log_warnx("workers still running after the shutdown timeout; sending SIGKILL");
	master_signal_workers(SIGKILL);
}

static void
master_exit(void)
{
	log_notice("exiting");
	cycle_close(&m.cy);
	shm_destroy(&m.shm);
	ev_loop_free(m.loop);
	exit(0);
}

static void
master_after(struct ev_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	if (master_sig_child) {
		master_sig_child = 0;
		master_reap();
	}
	if (master_sig_terminate && m.stopping != SIGTERM) {
		log_notice("fast shutdown requested");
		m.stopping = SIGTERM;
		master_signal_workers(SIGTERM);
		ev_timer_start(m.loop, &m.kill_timer, MASTER_TERM_TIMEOUT);
	} else if (master_sig_quit && !m.stopping) {
		log_notice("graceful shutdown requested");
		m.stopping = SIGQUIT;
		master_signal_workers(SIGQUIT);
		ev_timer_start(m.loop, &m.kill_timer, MASTER_QUIT_TIMEOUT);
	}
	if (master_sig_other) {
		log_warnx("signal %d ignored: not supported by this version", (int)master_sig_other);
		master_sig_other = 0;
	}
	if (m.stopping && master_signal_workers(0) == 0)
		master_exit();
}

/*
 * Every connection costs a worker two descriptors.  Raise the soft limit
 * as far as the hard one allows, and say so when that is not enough.
 */
static void
master_rlimit(const struct conf *conf)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)conf->worker_connections * 2 + conf->nlisteners + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
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

void
master_run(struct conf *conf)
{
	unsigned i;

	if (log_open(conf->error_log_path, conf->error_log_level) != CT_OK)
		fatal("cannot open error_log \"%s\"", conf->error_log_path);
	m.pid = getpid();
	m.shm.fd = -1;
	if ((m.loop = ev_loop_new(CONF_WORKERS_MAX + 8)) == NULL)
		fatal("cannot create the event loop");
	master_rlimit(conf);
	if (shm_create(&m.shm, conf->shm_size) != CT_OK)
		exit(1);
	if (cycle_open(&m.cy, conf, &m.shm) != CT_OK) {
		log_error("cannot start: see the errors above");
		cycle_close(&m.cy);
		shm_destroy(&m.shm);
		exit(1);
	}
	master_signals_init();
	ev_timer_init(&m.kill_timer, master_kill_timer, NULL);
	ev_loop_set_after(m.loop, master_after, NULL);
	proctitle_set("cuttle: master");
	log_notice("cuttle %s started, %u workers", CT_VERSION, conf->workers);
	for (i = 0; i < conf->workers; i++) {
		m.slots[i].index = i;
		ev_timer_init(&m.slots[i].respawn, master_respawn_timer, &m.slots[i]);
		master_spawn(&m.slots[i]);
	}
	if (ev_loop_run(m.loop) != CT_OK)
		fatal("epoll_pwait() failed in the master");
	exit(1);
}

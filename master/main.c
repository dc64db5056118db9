/*
 * cuttle's entry point: the command line, then a configuration check
 * (-t, -T), a signal to a running master (-s), or the master itself.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/ct.h"
#include "lib/proctitle.h"
#include "master/control.h"
#include "master/master.h"
#include "master/pidfile.h"

#ifndef CT_CONF_PATH
#define CT_CONF_PATH "/etc/cuttle/cuttle.yaml"
#endif
#define MAIN_RELOAD_WAIT_MS 10000

static const struct {
	const char *name;
	int signo;
} main_signals[] = {
	{ "reload", SIGHUP },
	{ "quit", SIGQUIT },
	{ "stop", SIGTERM },
	{ "reopen", SIGUSR1 },
	{ "upgrade", SIGUSR2 },
};

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: cuttle [-hTtv] [-c file] [-s signal]\n"
	    "  -c file    configuration file (default " CT_CONF_PATH ")\n"
	    "  -s signal  send signal to the running master: reload, quit, stop,\n"
	    "             reopen or upgrade (found through pid_file)\n"
	    "  -t         check the configuration file and exit\n"
	    "  -T         check the configuration file, print it with every\n"
	    "             default filled in, and exit\n"
	    "  -v         print the version and exit\n"
	    "  -h         print this help and exit\n");
}

static void
main_conf_error(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static int
main_signal(const char *path, const struct conf *conf, int signo, const char *name)
{
	pid_t pid;

	if (conf->pid_file == NULL) {
		fprintf(stderr, "cuttle: -s %s needs pid_file in %s\n", name, path);
		return 1;
	}
	if ((pid = pidfile_read(conf->pid_file)) == -1) {
		fprintf(stderr, "cuttle: cannot read pid_file \"%s\": %s; is cuttle running?\n",
		    conf->pid_file, strerror(errno));
		return 1;
	}
	/* A stale pid file may name a pid now reused by anything else. */
	if (!pidfile_is_master(pid)) {
		fprintf(stderr, "cuttle: pid %d in pid_file \"%s\" is not a cuttle master; "
		    "no signal sent (stale pid file?)\n", (int)pid, conf->pid_file);
		return 1;
	}
	if (signo == SIGHUP)
		return control_reload(pid, MAIN_RELOAD_WAIT_MS);
	if (kill(pid, signo) == -1) {
		fprintf(stderr, "cuttle: kill(%d, %s) failed: %s\n", (int)pid, name,
		    errno == ESRCH ? "no such process; is cuttle running?" : strerror(errno));
		return 1;
	}
	return 0;
}

/* The files a master started on conf would write; 0 when it could write them all. */
static int
main_paths_check(const struct conf *conf)
{
	const char *e = conf->error_log_path;
	int bad = 0;
	size_t i;

	if (strcmp(e, "stderr") != 0 && strcmp(e, "syslog") != 0 && strncmp(e, "syslog:", 7) != 0)
		bad |= control_path_check("error_log", e) != CT_OK;
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].access_log.path != NULL)
			bad |= control_path_check("access_log",
			    conf->listeners[i].access_log.path) != CT_OK;
	if (conf->pid_file != NULL)
		bad |= control_path_check("pid_file", conf->pid_file) != CT_OK;
	if (conf->approvals.state_file != NULL)
		bad |= control_path_check("approvals.state_file", conf->approvals.state_file) != CT_OK;
	return bad;
}

/* Paths the master needs after it has left the directory it started in. */
static int
main_args(struct master_args *a, const char *path, int argc, char **argv)
{
	static char conf_abs[PATH_MAX], exe[PATH_MAX];
	ssize_t n;
	int i;

	if (realpath(path, conf_abs) == NULL)
		return CT_ERROR;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return CT_ERROR;
	exe[n] = '\0';
	/* A binary replaced on disk shows as "PATH (deleted)": run PATH. */
	if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
		exe[n - 10] = '\0';
	a->conf_path = conf_abs;
	a->exe = exe;
	if ((a->argv = calloc((size_t)argc + 3, sizeof(*a->argv))) == NULL)
		return CT_ERROR;
	for (i = 0; i < argc; i++)
		if ((a->argv[i] = strdup(argv[i])) == NULL)
			return CT_ERROR;
	return CT_OK;
}

int
main(int argc, char **argv)
{
	const char *path = CT_CONF_PATH, *sig = NULL;
	struct master_args args;
	struct conf *conf;
	int ch, test = 0, dump = 0, signo = 0;
	size_t i;

	while ((ch = getopt(argc, argv, "c:hs:Ttv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 's':
			sig = optarg;
			break;
		case 'T':
			dump = 1;
			/* FALLTHROUGH */
		case 't':
			test = 1;
			break;
		case 'v':
			printf("cuttle version %s\n", CT_VERSION);
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		main_usage(stderr);
		return 2;
	}
	if (sig != NULL) {
		for (i = 0; i < CT_NELEM(main_signals); i++)
			if (strcmp(sig, main_signals[i].name) == 0)
				signo = main_signals[i].signo;
		if (signo == 0) {
			fprintf(stderr, "cuttle: unknown signal \"%s\"\n", sig);
			main_usage(stderr);
			return 2;
		}
	}
	conf = conf_load(path, main_conf_error, NULL);
	if (test) {
		int ok = conf != NULL && main_paths_check(conf) == 0;

		fprintf(stderr, "cuttle: configuration file %s test %s\n", path,
		    ok ? "is successful" : "failed");
		if (ok && dump)
			conf_dump(conf, stdout);
		conf_free(conf);
		return ok ? 0 : 1;
	}
	if (conf == NULL) {
		fprintf(stderr, "cuttle: configuration file %s has errors; %s\n", path,
		    signo != 0 ? "no signal sent" : "not starting");
		return 1;
	}
	if (signo != 0) {
		int rc = main_signal(path, conf, signo, sig);

		conf_free(conf);
		return rc;
	}
	if (main_args(&args, path, argc, argv) != CT_OK) {
		fprintf(stderr, "cuttle: cannot resolve the paths of %s and of the binary: %s\n",
		    path, strerror(errno));
		conf_free(conf);
		return 1;
	}
	/* From here on argv's strings are the process title; args has copies. */
	proctitle_init(argc, argv);
	master_run(conf, &args);
}

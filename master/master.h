/*
 * The master process's entry point, for main.c: the command line it
 * keeps for reloads and upgrades.
 */
#ifndef CT_MASTER_MASTER_H
#define CT_MASTER_MASTER_H

#include "conf/conf.h"

/* What the master needs from the command line to reload and upgrade. */
struct master_args {
	const char *conf_path;      /* absolute: the master may outlive its cwd */
	const char *exe;            /* absolute path of the binary, for upgrades */
	char **argv;                /* a private copy of the command line */
};

/* Runs the master on a loaded config; never returns. */
void master_run(struct conf *conf, const struct master_args *args) __attribute__((noreturn));

/* The approval decisions changed: wakes the workers that hold clients for one. */
void master_approvals_notify(void);

#endif

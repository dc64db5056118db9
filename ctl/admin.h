/*
 * The admin process: a child of the master, respawned like a worker,
 * serving the control API (HTTP/1.1 + JSON) on the admin sockets that
 * the master opened.  It reads and writes only the shared segment and
 * sends the master signals; it never touches client traffic.
 */
#ifndef CT_CTL_ADMIN_H
#define CT_CTL_ADMIN_H

#include <sys/types.h>

#include "core/cycle.h"

struct admin_sockets {
	int unix_fd;                /* -1: none */
	int tcp_fd;                 /* -1: none */
};

/*
 * Opens the sockets of conf->admin (the unix socket with mode 0600,
 * replacing a stale one).  Logs why and returns CT_ERROR on failure.
 */
int admin_sockets_open(struct admin_sockets *as, const struct conf *conf);
void admin_sockets_close(struct admin_sockets *as, const struct conf *conf);

/* Runs the admin process; never returns. */
void admin_main(struct cycle *cy, const struct admin_sockets *as, pid_t master)
    __attribute__((noreturn));

#endif

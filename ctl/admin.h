/*
 * The admin process: a child of the master, respawned like a worker,
 * serving the control API (HTTP/1.1 + JSON) on the admin sockets that
 * the master opened, as the configured user.  It reads and writes only
 * the shared segment, wakes workers, and asks the master for reloads
 * over the admin link; it never touches client traffic.
 */
#ifndef CT_CTL_ADMIN_H
#define CT_CTL_ADMIN_H

#include <stdint.h>
#include <sys/types.h>

#include "core/cycle.h"
#include "shm/approval.h"

struct admin_sockets {
	int unix_fd;                /* -1: none */
	int tcp_fd;                 /* -1: none */
	dev_t dev;                  /* the socket file this master owns and */
	ino_t ino;                  /* removes at exit; ino 0: none */
};

/*
 * Takes the sockets a previous master passed in env ("UNIX,TCP", -1 for
 * none; NULL: nothing inherited) at a binary upgrade, each only if it
 * still is what conf->admin names; closes the others.  Always sets both
 * fds, so it comes before admin_sockets_open().
 */
void admin_sockets_adopt(struct admin_sockets *as, const struct conf *conf, const char *env);
/*
 * Opens those sockets of conf->admin that were not adopted (the unix
 * socket with mode 0600, replacing a stale one).  Logs why and returns
 * CT_ERROR on failure.
 */
int admin_sockets_open(struct admin_sockets *as, const struct conf *conf);
/* Closes both; removes the socket file only if it is still the one we own. */
void admin_sockets_close(struct admin_sockets *as, const struct conf *conf);
/* "UNIX,TCP" for admin_sockets_adopt() in the next binary, into buf. */
void admin_sockets_export(const struct admin_sockets *as, char *buf, size_t len);
/* In the child that execs the next binary: the sockets survive exec. */
void admin_sockets_inherit(const struct admin_sockets *as);

/*
 * The admin link: a SOCK_SEQPACKET socketpair between the master and the
 * admin process, which runs unprivileged and so cannot signal a master
 * running as root.  The admin sends a request, the master answers it
 * with the same message, result filled in; tag is the admin's and comes
 * back unchanged.  One message is one packet, so neither side frames.
 * The master trusts nothing in it but op, and checks a decision as it
 * would one from any file.
 *
 * Approval decisions go this way too: the master is the one writer of
 * their table (shm/approval.h) and of the state file.
 */
enum admin_link_op {
	ADMIN_LINK_RELOAD = 1,      /* reload the configuration file */
	ADMIN_LINK_DECIDE,          /* store decision; it comes back as stored */
	ADMIN_LINK_REVOKE           /* remove the decisions of decision.net (see flags) */
};

#define ADMIN_LINK_ANY_SCOPE 1u     /* REVOKE: of every listener, not decision.listener's */
#define ADMIN_LINK_ANY_DEST  2u     /* REVOKE: for every destination, not decision.dest's */

struct admin_link_msg {
	uint32_t op;                /* enum admin_link_op */
	uint32_t tag;
	int32_t result;             /* CT_OK; CT_DECLINED: the new file (a decision) was refused;
	                               CT_ERROR: could not be put to work (the table is full) */
	uint32_t generation;        /* RELOAD: running after the request */
	char why[400];              /* the first reason of a failure, NUL-terminated */
	uint32_t flags;             /* ADMIN_LINK_* above */
	uint32_t count;             /* REVOKE: decisions removed; DECIDE: 1 if it replaced one */
	struct shm_approval decision; /* DECIDE, REVOKE: in; out: as stored, the first removed */
};

/* Runs the admin process on its end of the admin link; never returns. */
void admin_main(struct cycle *cy, const struct admin_sockets *as, int link, pid_t master)
    __attribute__((noreturn));

#endif

/*
 * Master: the one writer of the approval decisions (shm/approval.h) and
 * of the state file that carries them across restarts.
 *
 * The state file is JSON lines: a first line {"cuttle": "approvals",
 * "version": 1}, then one decision per line in the form of
 * ctl/admin_approval.h.  It is written whole to a temporary file in the
 * same directory, synced and renamed over the old one, at most once a
 * second after a change, at exit and before a binary upgrade; it is read
 * once, at start, before any worker runs.  A file that cannot be read
 * or that has a bad line is reported (the line and what is wrong with
 * it), renamed to PATH.corrupt-YYYYMMDDTHHMMSS, and cuttle starts with
 * no decisions.
 */
#ifndef CT_MASTER_APPROVALS_H
#define CT_MASTER_APPROVALS_H

#include <stdint.h>

#include "conf/conf.h"
#include "ctl/admin.h"
#include "lib/ev.h"
#include "shm/shm.h"

#define APPROVALS_SAVE_DELAY_MS 1000    /* after the first change that is not saved */
#define APPROVALS_LINE_MAX      4096    /* of a line of the state file */

/* At start: loads conf's state file into the table and arms the timers. */
void approvals_start(struct ev_loop *loop, struct shm *shm, const struct conf *conf);
/* After a reload: a state_file set or changed is written with what the table holds. */
void approvals_reconf(const struct conf *conf);
/* A DECIDE or REVOKE of the admin link, answered in msg. */
void approvals_link(struct admin_link_msg *msg);
/* CLOCK_REALTIME in ms: when a change is made, in the order of a cluster's changes. */
uint64_t approvals_now_ms(void);
/*
 * A change made on another node of the cluster (master/cluster.h):
 * stored as a peer's, or with revoked, the decision of exactly its key
 * removed.  CT_ERROR when the table is full.
 */
int approvals_adopt(const struct shm_approval *a, int revoked);
/* Writes the state file now if a change is not in it yet (exit, reload). */
void approvals_flush(void);
/*
 * A binary upgrade begins: the file is written now, for the new master
 * to read, and from then on only the new master writes it; a change made
 * through this one meanwhile is left out, and said so at exit.
 * approvals_reown() when the upgrade failed.
 */
void approvals_disown(void);
void approvals_reown(void);

/*
 * The state file at path into the table, expired decisions dropped.
 * CT_OK when it was loaded or does not exist; CT_ERROR when it was bad
 * (reported, moved aside, the table left empty).
 */
int approvals_state_load(struct shm *shm, const char *path, uint64_t now_s);
/* The decisions of the table, unexpired at now_s, into path. */
int approvals_state_save(const struct shm *shm, const char *path, uint64_t now_s);

#endif

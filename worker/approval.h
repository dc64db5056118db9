/*
 * Approval of clients at accept: see approval.c.
 */
#ifndef CT_WORKER_APPROVAL_H
#define CT_WORKER_APPROVAL_H

struct conn;
struct worker;

/*
 * For a listener with "approval": CT_OK lets c in (the caller starts
 * its mode), CT_AGAIN holds it for a decision (worker_conn_start() runs
 * later, or it is closed), CT_ERROR has closed it.
 */
int approval_admit(struct conn *c);
/* SIGURG from the master: the decisions changed; looks at held clients again. */
void approval_wake(struct worker *w);
/* The close path: a held client counts as held no more. */
void approval_release(struct conn *c);

#endif

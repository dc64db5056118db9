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
/*
 * For a client of a forward or socks listener with "approval" (which
 * approval_admit() lets through at accept), once it has named where it
 * goes in the struct proxy_dest of its mode's upstream_dest (an empty
 * name: a SOCKS UDP association): CT_OK lets it go there, CT_DECLINED
 * refuses it there (logged and counted; the mode answers as for a
 * destination rule), CT_AGAIN holds it (then that proxy_dest's approved()
 * runs with the decision), CT_ERROR has closed it.
 */
int approval_dest(struct conn *c);
/* SIGURG from the master: the decisions changed; looks at held clients again. */
void approval_wake(struct worker *w);
/* The close path: a held client counts as held no more. */
void approval_release(struct conn *c);

#endif

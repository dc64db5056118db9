/*
 * "cuttle -s" and "cuttle -t" looking at a running master and at the
 * files it would write; see control.c.
 */
#ifndef CT_MASTER_CONTROL_H
#define CT_MASTER_CONTROL_H

#include <sys/types.h>

/*
 * Sends SIGHUP to the master pid and waits up to timeout_ms for the
 * outcome it publishes in its segment.  Returns the exit status for
 * "cuttle -s reload": 0 when the reload succeeded, 1 (with the reason
 * on stderr, one line) when it failed or no outcome came in time.
 */
int control_reload(pid_t pid, unsigned timeout_ms);
/*
 * Can the master open path (what: "error_log", ...) for writing, or
 * create it?  Creates and truncates nothing.  CT_ERROR with the reason
 * on stderr.
 */
int control_path_check(const char *what, const char *path);

#endif

/*
 * What a child process does to itself right after fork(): keep only
 * the descriptors it needs, and give up root.  A forked process inherits
 * every descriptor of the master (O_CLOEXEC does nothing without exec),
 * so a worker would otherwise hold the admin sockets and a compromised
 * child every socket of every other.
 */
#ifndef CT_PROC_H
#define CT_PROC_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Closes every descriptor except the n in keep (-1 entries are
 * ignored; the order does not matter).  Uses close_range(2) between the
 * kept ones, and a walk of /proc/self/fd where the kernel lacks it.
 * Returns CT_ERROR (errno set) only when neither works.
 */
int proc_close_fds_except(const int *keep, size_t n);

/*
 * Switches to gid (with it as the only supplementary group), then to
 * uid unless set_uid is 0.  Returns CT_ERROR (errno set) on failure;
 * the caller must not go on as root then.
 */
int proc_setids(uid_t uid, gid_t gid, int set_uid);

#endif

/*
 * The pid file: written by the master, read by "cuttle -s" to find it.
 */
#ifndef CT_MASTER_PIDFILE_H
#define CT_MASTER_PIDFILE_H

#include <sys/types.h>

/* Writes "PID\n" to path (replacing it).  Logs why on failure. */
int pidfile_write(const char *path, pid_t pid);
/* The pid in path, or -1 (errno set) when unreadable or malformed. */
pid_t pidfile_read(const char *path);
/* Removes path if it still names pid. */
void pidfile_remove(const char *path, pid_t pid);
/* Is pid a live cuttle master?  Judged by its process title. */
int pidfile_is_master(pid_t pid);

#endif

/* Descriptors and credentials of a freshly forked child; see proc.h. */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/proc.h"

static int
proc_fd_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int
proc_fd_kept(const int *keep, size_t n, int fd)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (keep[i] == fd)
			return 1;
	return 0;
}

/* The slow way: every open descriptor, as /proc lists it. */
static int
proc_close_walk(const int *keep, size_t n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fd, dfd;

	if (d == NULL)
		return CT_ERROR;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = atoi(de->d_name);
		if (fd != dfd && !proc_fd_kept(keep, n, fd))
			(void)close(fd);
	}
	closedir(d);
	return CT_OK;
}

int
proc_close_fds_except(const int *keep, size_t n)
{
	int sorted[64];
	size_t i, k = 0;
	unsigned lo = 0;

	/* More than a child ever keeps: take the walk, which has no bound. */
	if (n > CT_NELEM(sorted))
		return proc_close_walk(keep, n);
	for (i = 0; i < n; i++)
		if (keep[i] >= 0)
			sorted[k++] = keep[i];
	qsort(sorted, k, sizeof(sorted[0]), proc_fd_cmp);
	for (i = 0; i < k; i++) {
		if ((unsigned)sorted[i] > lo &&
		    close_range(lo, (unsigned)sorted[i] - 1, 0) == -1)
			return proc_close_walk(keep, n);
		lo = (unsigned)sorted[i] + 1;
	}
	if (close_range(lo, UINT_MAX, 0) == -1)
		return proc_close_walk(keep, n);
	return CT_OK;
}

int
proc_setids(uid_t uid, gid_t gid, int set_uid)
{
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1)
		return CT_ERROR;
	if (set_uid && setuid(uid) == -1)
		return CT_ERROR;
	return CT_OK;
}

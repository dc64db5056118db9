/*
 * The pid file: how "cuttle -s" and init systems find the master.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/pidfile.h"

int
pidfile_write(const char *path, pid_t pid)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_warn("cannot open pid_file \"%s\"", path);
		return CT_ERROR;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, (size_t)n) != n) {
		log_warn("cannot write pid_file \"%s\"", path);
		close(fd);
		return CT_ERROR;
	}
	close(fd);
	return CT_OK;
}

pid_t
pidfile_read(const char *path)
{
	char buf[32], *end;
	ssize_t n;
	long pid;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = EINVAL;
		return -1;
	}
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || pid <= 1 || pid > 1 << 22) {
		errno = EINVAL;
		return -1;
	}
	return (pid_t)pid;
}

void
pidfile_remove(const char *path, pid_t pid)
{
	if (pidfile_read(path) == pid)
		(void)unlink(path);
}

int
pidfile_is_master(pid_t pid)
{
	char path[64], title[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, title, sizeof(title) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	title[n] = '\0';
	return strcmp(title, "cuttle: master") == 0;
}

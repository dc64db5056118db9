/*
 * What "cuttle -s" and "cuttle -t" check from outside a running master:
 * that a pid file names a cuttle master, what the master says about its
 * last reload (read from its shared segment, mapped read-only), and that
 * the files a master would write can be written.
 *
 * The segment is the memfd named "cuttle-shm" among the master's open
 * descriptors; /proc/PID/fd/N opens it again for a process of the same
 * user (or root).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/ct.h"
#include "master/control.h"
#include "shm/shm.h"

#define CONTROL_MEMFD_NAME  "/memfd:cuttle-shm"
#define CONTROL_POLL_MS     10

/* Maps the master's segment read-only into *shm; CT_ERROR if none is found. */
static int
control_shm_map(pid_t pid, struct shm *shm)
{
	char dir[64], path[PATH_MAX], link[PATH_MAX];
	struct dirent *de;
	struct stat st;
	ssize_t n;
	DIR *d;
	int fd = -1;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return CT_ERROR;
	while (fd == -1 && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, CONTROL_MEMFD_NAME, sizeof(CONTROL_MEMFD_NAME) - 1) == 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	closedir(d);
	if (fd == -1)
		return CT_ERROR;
	if (fstat(fd, &st) == -1 || (size_t)st.st_size < sizeof(struct shm_header)) {
		close(fd);
		return CT_ERROR;
	}
	shm->base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (shm->base == MAP_FAILED)
		return CT_ERROR;
	shm->size = (size_t)st.st_size;
	shm->fd = -1;
	if (shm_check(shm->base, shm->size, "cuttle -s") != CT_OK) {
		munmap(shm->base, shm->size);
		return CT_ERROR;
	}
	return CT_OK;
}

static uint64_t
control_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
control_reload(pid_t pid, unsigned timeout_ms)
{
	const struct shm_header *h;
	struct shm shm;
	uint64_t seq, end;
	char why[SHM_TEXT_LEN];
	int rc = 1;

	if (control_shm_map(pid, &shm) != CT_OK) {
		fprintf(stderr, "cuttle: cannot read the shared segment of the master (pid %d); "
		    "sending SIGHUP without waiting for the result\n", (int)pid);
		return kill(pid, SIGHUP) == -1 ? 1 : 0;
	}
	h = shm.base;
	seq = atomic_load_explicit(&((struct shm_header *)(uintptr_t)h)->reload_seq,
	    memory_order_acquire);
	if (kill(pid, SIGHUP) == -1) {
		fprintf(stderr, "cuttle: kill(%d, SIGHUP) failed: %s\n", (int)pid, strerror(errno));
		munmap(shm.base, shm.size);
		return 1;
	}
	end = control_now_ms() + timeout_ms;
	for (;;) {
		struct shm_header *hw = (struct shm_header *)(uintptr_t)h;

		if (atomic_load_explicit(&hw->reload_seq, memory_order_acquire) != seq) {
			if (!atomic_load(&hw->reload_failed)) {
				rc = 0;
			} else {
				shm_text_read(&hw->reload_why, why);
				fprintf(stderr, "cuttle: reload failed: %s\n", why);
			}
			break;
		}
		if (control_now_ms() >= end) {
			fprintf(stderr, "cuttle: the master (pid %d) did not report the reload "
			    "within %us\n", (int)pid, timeout_ms / 1000);
			break;
		}
		usleep(CONTROL_POLL_MS * 1000);
	}
	munmap(shm.base, shm.size);
	return rc;
}

int
control_path_check(const char *what, const char *path)
{
	char copy[PATH_MAX];
	const char *dir;
	int fd;

	/* Opened as the master opens it, minus O_CREAT and O_TRUNC: -t changes nothing. */
	if ((fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC)) != -1) {
		close(fd);
		return CT_OK;
	}
	if (errno == ENOENT && strlen(path) < sizeof(copy)) {
		memcpy(copy, path, strlen(path) + 1);
		dir = dirname(copy);
		if (access(dir, W_OK | X_OK) == 0)
			return CT_OK;
		fprintf(stderr, "cuttle: %s \"%s\" cannot be created: directory \"%s\": %s\n",
		    what, path, dir, strerror(errno));
		return CT_ERROR;
	}
	fprintf(stderr, "cuttle: %s \"%s\" cannot be opened for writing: %s\n", what, path,
	    strerror(errno));
	return CT_ERROR;
}

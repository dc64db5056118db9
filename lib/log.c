/*
 * The error log.  One write(2) per line, with O_APPEND, so that lines of
 * the master and of every worker interleave whole in one file and a slow
 * disk costs no more than a page-cache write.  No stdio buffering: a
 * process that dies leaves no half line behind.
 *
 * The syslog target is a non-blocking unix datagram socket: a full
 * receiver drops the line rather than stall a worker.
 *
 * Reopening puts the new file on the same descriptor number (dup3), so
 * that processes forked later inherit the new file without being told.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"

#define LOG_LINE_MAX 2048

static int log_target = STDERR_FILENO;
static enum log_level log_threshold = LOG_LVL_INFO;
static int log_slot = -1;
static int log_syslog;                 /* log_target is a syslog socket */
static char log_path[4096] = "stderr";

#define LOG_SYSLOG_DEFAULT "/dev/log"
#define LOG_FACILITY_DAEMON 3

static const char *const log_names[] = {
	"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"
};

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < LOG_LVL_ALERT; i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return CT_OK;
		}
	}
	return CT_ERROR;
}

const char *
log_level_name(enum log_level lvl)
{
	return (unsigned)lvl <= LOG_LVL_EMERG ? log_names[lvl] : "?";
}

/* Connects a non-blocking datagram socket to the syslog socket at path. */
static int
log_syslog_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Opens the target named by path; returns the fd, sets *is_syslog. */
static int
log_target_open(const char *path, int *is_syslog)
{
	*is_syslog = 0;
	if (strcmp(path, "stderr") == 0)
		return STDERR_FILENO;
	if (strcmp(path, "syslog") == 0 || strncmp(path, "syslog:", 7) == 0) {
		*is_syslog = 1;
		return log_syslog_connect(path[6] == ':' ? path + 7 : LOG_SYSLOG_DEFAULT);
	}
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int
log_open(const char *path, enum log_level lvl)
{
	int fd, is_syslog;

	if (strlen(path) >= sizeof(log_path)) {
		errno = ENAMETOOLONG;
		return CT_ERROR;
	}
	if ((fd = log_target_open(path, &is_syslog)) == -1)
		return CT_ERROR;
	if (log_target != STDERR_FILENO && log_target != fd)
		close(log_target);
	log_target = fd;
	log_syslog = is_syslog;
	log_threshold = lvl;
	memcpy(log_path, path, strlen(path) + 1);
	return CT_OK;
}

int
log_reopen(uid_t uid)
{
	int fd, is_syslog;

	if (log_target == STDERR_FILENO)
		return CT_OK;
	if ((fd = log_target_open(log_path, &is_syslog)) == -1)
		return CT_ERROR;
	if (!is_syslog && uid != (uid_t)-1 && fchown(fd, uid, (gid_t)-1) == -1)
		log_warn("fchown() of \"%s\" failed", log_path);
	if (fd != log_target) {
		if (dup3(fd, log_target, O_CLOEXEC) == -1) {
			int saved = errno;

			close(fd);
			errno = saved;
			return CT_ERROR;
		}
		close(fd);
	}
	return CT_OK;
}

int
log_chown(uid_t uid)
{
	if (log_target == STDERR_FILENO || log_syslog || uid == (uid_t)-1)
		return CT_OK;
	return fchown(log_target, uid, (gid_t)-1) == -1 ? CT_ERROR : CT_OK;
}

void
log_set_level(enum log_level lvl)
{
	log_threshold = lvl;
}

void
log_set_slot(int slot)
{
	log_slot = slot;
}

int
log_fd(void)
{
	return log_target;
}

int
log_enabled(enum log_level lvl)
{
	return lvl >= log_threshold;
}

void
log_vmsg(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int saved = errno, r;
	ssize_t w;

	if (lvl < log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	if (log_syslog) {
		/* LOG_DEBUG .. LOG_EMERG of syslog(3), in the order of enum log_level */
		static const int severity[] = { 7, 6, 5, 4, 3, 2, 1, 0 };

		r = snprintf(line, sizeof(line), "<%d>", LOG_FACILITY_DAEMON * 8 + severity[lvl]);
		n = (size_t)r;
		n += strftime(line + n, sizeof(line) - n, "%b %e %H:%M:%S", &tm);
		r = snprintf(line + n, sizeof(line) - n, " cuttle[%d]: [%s] ",
		    (int)getpid(), log_level_name(lvl));
	} else {
		n = strftime(line, sizeof(line), "%Y/%m/%d %H:%M:%S", &tm);
		if (log_slot >= 0)
			r = snprintf(line + n, sizeof(line) - n, " [%s] %d#%d: ",
			    log_level_name(lvl), (int)getpid(), log_slot);
		else
			r = snprintf(line + n, sizeof(line) - n, " [%s] %d#%c: ",
			    log_level_name(lvl), (int)getpid(), log_slot == LOG_SLOT_ADMIN ? 'a' : 'm');
	}
	n += (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = r < 0 ? n : CT_MIN(n + (size_t)r, sizeof(line) - 1);
	if (with_errno) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
		n = r < 0 ? n : CT_MIN(n + (size_t)r, sizeof(line) - 1);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	/* A failed log write has nowhere to be reported. */
	if (log_syslog) {
		w = send(log_target, line, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		line[n++] = '\n';
		do {
			w = write(log_target, line, n);
		} while (w == -1 && errno == EINTR);
	}
	errno = saved;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, 0, fmt, ap);
	va_end(ap);
}

#define LOG_DEFINE(fn, lvl, err)                        \
void                                                    \
fn(const char *fmt, ...)                                \
{                                                       \
	va_list ap;                                     \
	va_start(ap, fmt);                              \
	log_vmsg(lvl, err, fmt, ap);                    \
	va_end(ap);                                     \
}

LOG_DEFINE(log_info, LOG_LVL_INFO, 0)
LOG_DEFINE(log_notice, LOG_LVL_NOTICE, 0)
LOG_DEFINE(log_warn, LOG_LVL_WARN, 1)
LOG_DEFINE(log_warnx, LOG_LVL_WARN, 0)
LOG_DEFINE(log_error, LOG_LVL_ERROR, 0)
LOG_DEFINE(log_crit, LOG_LVL_CRIT, 0)
LOG_DEFINE(log_alert, LOG_LVL_ALERT, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_EMERG, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_EMERG, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

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
 *
 * A worker calls log_buffer_start(): from then on its lines go to a
 * logbuf (lib/logbuf.h), written once per loop iteration and never
 * blocking; lines that find it full are dropped and counted.  The master
 * and the admin process stay synchronous: they log little, off the
 * clients' path, and their lines about failures must not be dropped.
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
#include "lib/logbuf.h"

#define LOG_LINE_MAX 2048

static int log_target = STDERR_FILENO;
static enum log_level log_threshold = LOG_LVL_INFO;
static int log_slot = -1;
static int log_syslog;                 /* log_target is a syslog socket */
static char log_path[4096] = "stderr";
static struct logbuf *log_buf;         /* NULL: one write(2) per line */
static uint64_t log_syslog_dropped;    /* datagrams a full receiver refused */
static uint64_t log_lines;             /* emitted, whatever became of them */

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
	log_flush();
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
	/* The new file on the same number may be of another kind. */
	if (log_buf != NULL) {
		uint64_t dropped = log_buf->dropped;

		(void)logbuf_attach(log_buf, log_target);
		log_buf->dropped = dropped;
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

/* Writes one line (newline included for a file): buffered in a worker. */
static void
log_emit(const char *line, size_t n)
{
	ssize_t w;

	log_lines++;
	if (log_syslog) {
		w = send(log_target, line, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
			log_syslog_dropped++;
		return;
	}
	if (log_buf != NULL) {
		(void)logbuf_add(log_buf, line, n);
		return;
	}
	/* A failed log write has nowhere to be reported. */
	do {
		w = write(log_target, line, n);
	} while (w == -1 && errno == EINTR);
}

void
log_vmsg(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	time_t now;
	size_t n;
	int saved = errno, r;

	if (lvl < log_threshold)
		return;
	now = time(NULL);
	if (log_syslog) {
		/* LOG_DEBUG .. LOG_EMERG of syslog(3), in the order of enum log_level */
		static const int severity[] = { 7, 6, 5, 4, 3, 2, 1, 0 };

		r = snprintf(line, sizeof(line), "<%d>%s cuttle[%d]: [%s] ",
		    LOG_FACILITY_DAEMON * 8 + severity[lvl], logbuf_time_syslog(now),
		    (int)getpid(), log_level_name(lvl));
	} else if (log_slot >= 0) {
		r = snprintf(line, sizeof(line), "%s [%s] %d#%d: ", logbuf_time_err(now),
		    log_level_name(lvl), (int)getpid(), log_slot);
	} else {
		r = snprintf(line, sizeof(line), "%s [%s] %d#%c: ", logbuf_time_err(now),
		    log_level_name(lvl), (int)getpid(), log_slot == LOG_SLOT_ADMIN ? 'a' : 'm');
	}
	n = r < 0 ? 0 : CT_MIN((size_t)r, sizeof(line) - 1);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = r < 0 ? n : CT_MIN(n + (size_t)r, sizeof(line) - 1);
	if (with_errno) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
		n = r < 0 ? n : CT_MIN(n + (size_t)r, sizeof(line) - 1);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (!log_syslog)
		line[n++] = '\n';
	log_emit(line, n);
	/*
	 * A warning or worse is written now, with the lines before it: it is
	 * rare, and whoever watches the log (an operator, a test) may act on
	 * it as soon as the client has seen its effect.  Only the per-request
	 * and per-connection lines wait for the end of the loop iteration.
	 */
	if (lvl >= LOG_LVL_WARN)
		log_flush();
	errno = saved;
}

static void
log_flush_at_exit(void)
{
	log_flush();
}

int
log_buffer_start(void)
{
	static struct logbuf buf;

	if (log_buf != NULL || log_syslog)
		return CT_OK;
	buf.len = 0;
	log_buf = &buf;
	atexit(log_flush_at_exit);
	return logbuf_attach(log_buf, log_target);
}

void
log_flush(void)
{
	if (log_buf != NULL && log_buf->len > 0)
		logbuf_flush(log_buf);
}

int
log_buffered(void)
{
	return log_buf != NULL && log_buf->len > 0;
}

uint64_t
log_emitted(void)
{
	return log_lines;
}

uint64_t
log_dropped(void)
{
	return log_syslog_dropped + (log_buf != NULL ? log_buf->dropped : 0);
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

/*
 * The error log.  One write(2) per line, with O_APPEND, so that lines of
 * the master and of every worker interleave whole in one file and a slow
 * disk costs no more than a page-cache write.  No stdio buffering: a
 * process that dies leaves no half line behind.
 */
#include <errno.h>
#include <fcntl.h>
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

static const char *const log_names[] = {
	"debug", "info", "notice", "warn", "error", "alert"
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
	return (unsigned)lvl <= LOG_LVL_ALERT ? log_names[lvl] : "?";
}

int
log_open(const char *path, enum log_level lvl)
{
	int fd;

	if (strcmp(path, "stderr") == 0) {
		fd = STDERR_FILENO;
	} else {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd == -1)
			return CT_ERROR;
	}
	if (log_target != STDERR_FILENO && log_target != fd)
		close(log_target);
	log_target = fd;
	log_threshold = lvl;
	return CT_OK;
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
	n = strftime(line, sizeof(line), "%Y/%m/%d %H:%M:%S", &tm);
	if (log_slot >= 0)
		r = snprintf(line + n, sizeof(line) - n, " [%s] %d#%d: ",
		    log_level_name(lvl), (int)getpid(), log_slot);
	else
		r = snprintf(line + n, sizeof(line) - n, " [%s] %d#m: ",
		    log_level_name(lvl), (int)getpid());
	n += (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = r < 0 ? n : CT_MIN(n + (size_t)r, sizeof(line) - 1);
	if (with_errno) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
		n = r < 0 ? n : CT_MIN(n + (size_t)r, sizeof(line) - 1);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A failed log write has nowhere to be reported. */
	do {
		w = write(log_target, line, n);
	} while (w == -1 && errno == EINTR);
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
LOG_DEFINE(log_alert, LOG_LVL_ALERT, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

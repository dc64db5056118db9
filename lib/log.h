/*
 * Error log.  Lines look like nginx's:
 *   2026/11/23 10:49:26 [warn] 1234#0: message
 * where 1234 is the pid and 0 the worker slot (-1 for master, shown as
 * "m").  "alert" is reserved for states that must never happen; the
 * integration tests fail on any [alert] line.
 */
#ifndef CT_LOG_H
#define CT_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

enum log_level {
	LOG_LVL_DEBUG,   /* per-event detail */
	LOG_LVL_INFO,    /* per-connection summaries */
	LOG_LVL_NOTICE,  /* process lifecycle */
	LOG_LVL_WARN,    /* a failure that cuttle works around */
	LOG_LVL_ERROR,   /* a failure that costs a client or a feature */
	LOG_LVL_CRIT,    /* a failure that costs a whole process */
	LOG_LVL_ALERT,   /* a broken invariant */
	LOG_LVL_EMERG    /* cuttle cannot run: fatal() and fatalx() */
};

/* Parses "debug".."crit"; returns CT_ERROR for anything else. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);

/*
 * Opens path ("stderr", "syslog", "syslog:/socket/path" or a file,
 * appended) and makes it the log.
 * Returns CT_ERROR (errno set) if the file cannot be opened; the old
 * target stays in place.
 */
int log_open(const char *path, enum log_level lvl);
/*
 * Reopens the current target onto the same descriptor (SIGUSR1): a file
 * moved away by logrotate is recreated, chowned to uid unless it is -1.
 */
int log_reopen(uid_t uid);
/* Makes the current log file writable by uid after workers drop privileges. */
int log_chown(uid_t uid);
void log_set_level(enum log_level lvl);
#define LOG_SLOT_ADMIN -2
/* The slot shown after the pid: -1 for the master ("m"), LOG_SLOT_ADMIN ("a"). */
void log_set_slot(int slot);
int log_fd(void);
int log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define log_debug(...)  do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_crit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_alert(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at emerg level and exit(1); fatal appends strerror(errno). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Workers: buffer the error log (lib/logbuf.h) from now on; log_flush()
 * writes it without blocking, once per loop iteration and at exit.
 * Returns CT_DECLINED when a pipe stays blocking (it could not be
 * reopened non-blocking).  log_dropped() counts the lines lost so far.
 */
int log_buffer_start(void);
void log_flush(void);
uint64_t log_dropped(void);
/* Lines emitted so far: a caller that saw no change has nothing to flush. */
uint64_t log_emitted(void);
/* Bytes wait in the error log's buffer (a reader that was behind). */
int log_buffered(void);

#endif

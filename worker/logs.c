/*
 * A worker's log buffers; see logs.h.  Buffers live for the worker's
 * life; an access log shared by several listeners has a descriptor, and
 * so a buffer, per listener.
 */
#include <stdlib.h>
#include <time.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "lib/logbuf.h"
#include "shm/stats.h"
#include "worker/logs.h"

#define LOGS_RETRY_MS 100              /* a slow reader's bytes are offered again */

static struct worker *logs_worker;     /* for the flush at exit */

/* Lines dropped, as last published to shm. */
static uint64_t logs_published[2];
static time_t logs_said;               /* when drops were last reported */
/* Lines since the last flush: an iteration that logged nothing costs nothing. */
static uint64_t logs_flushed_at;       /* log_emitted() then */
static int logs_access_added;
static int logs_left;                  /* bytes a slow reader left in a buffer */

static void
logs_flush_at_exit(void)
{
	if (logs_worker != NULL)
		logs_flush(logs_worker);
}

static void
logs_retry(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	logs_flush(t->data);
}

void
logs_open(struct worker *w)
{
	size_t i, n = w->cy->conf->nlisteners;

	if (log_buffer_start() == CT_DECLINED)
		log_notice("the error log is a pipe that cannot be reopened non-blocking: "
		    "it is written blocking");
	w->access = calloc(n ? n : 1, sizeof(*w->access));
	if (w->access == NULL)
		fatal("worker %u: out of memory", w->slot);
	for (i = 0; i < n; i++) {
		int fd = w->cy->listen[i].access_fd;

		if (fd == -1)
			continue;
		if ((w->access[i] = calloc(1, sizeof(*w->access[i]))) == NULL)
			fatal("worker %u: out of memory", w->slot);
		if (logbuf_attach(w->access[i], fd) == CT_DECLINED)
			log_notice("access_log of listener \"%s\" is a pipe that cannot be "
			    "reopened non-blocking: it is written blocking",
			    w->cy->conf->listeners[i].name);
	}
	ev_timer_init(&w->logs_retry, logs_retry, w);
	logs_worker = w;
	atexit(logs_flush_at_exit);
}

void
logs_reattach(struct worker *w)
{
	size_t i;

	for (i = 0; i < w->cy->conf->nlisteners; i++) {
		struct logbuf *b = w->access[i];
		uint64_t dropped;

		if (b == NULL)
			continue;
		dropped = b->dropped;
		(void)logbuf_attach(b, b->fd);
		b->dropped = dropped;
	}
}

void
logs_access_add(struct worker *w, size_t listener, const char *line, size_t n)
{
	if (w->access[listener] != NULL) {
		(void)logbuf_add(w->access[listener], line, n);
		logs_access_added = 1;
	}
}

/*
 * Says in the error log, at most once a second, that lines were
 * dropped (the line may be dropped too, and is then counted), and
 * publishes the new drops to shm.
 */
static void
logs_drops(struct worker *w, uint64_t access)
{
	time_t now = time(NULL);
	uint64_t error;

	if (now != logs_said) {
		logs_said = now;
		log_warnx("worker %u dropped %llu error log and %llu access log lines so far: "
		    "the reader of a log is not keeping up", w->slot,
		    (unsigned long long)log_dropped(), (unsigned long long)access);
		log_flush();
	}
	error = log_dropped();
	shm_log_dropped_add(w->cy->shm, SHM_LOG_ERROR, error - logs_published[SHM_LOG_ERROR]);
	shm_log_dropped_add(w->cy->shm, SHM_LOG_ACCESS, access - logs_published[SHM_LOG_ACCESS]);
	logs_published[SHM_LOG_ERROR] = error;
	logs_published[SHM_LOG_ACCESS] = access;
}

void
logs_flush(struct worker *w)
{
	uint64_t access = 0;
	size_t i;

	if (!logs_access_added && !logs_left && log_emitted() == logs_flushed_at)
		return;
	logs_access_added = 0;
	log_flush();
	logs_left = log_buffered();
	for (i = 0; i < w->cy->conf->nlisteners; i++) {
		struct logbuf *b = w->access[i];

		if (b != NULL) {
			if (b->len > 0)
				logbuf_flush(b);
			logs_left |= b->len > 0;
			access += b->dropped;
		}
	}
	if (log_dropped() != logs_published[SHM_LOG_ERROR] ||
	    access != logs_published[SHM_LOG_ACCESS])
		logs_drops(w, access);
	logs_left |= log_buffered();
	logs_flushed_at = log_emitted();
	/* A loop with nothing else to do would otherwise sleep on them. */
	if (logs_left && !ev_timer_active(&w->logs_retry))
		(void)ev_timer_start(w->loop, &w->logs_retry, LOGS_RETRY_MS);
}

const char *
logs_time_iso(void)
{
	return logbuf_time_iso(time(NULL));
}

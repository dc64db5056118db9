/*
 * A worker's logs: the error log and every listener's access log go
 * through per-iteration buffers (lib/logbuf.h), flushed by the loop's
 * after hook; the lines dropped for a slow reader are counted in shm
 * (/metrics) and reported in the error log at most once a second.
 */
#ifndef CT_WORKER_LOGS_H
#define CT_WORKER_LOGS_H

#include <stddef.h>

#include "worker/worker-t.h"

/* Buffers the error log and opens a buffer per access log descriptor. */
void logs_open(struct worker *w);
/* Appends a line (newline included) to the access log of listener. */
void logs_access_add(struct worker *w, size_t listener, const char *line, size_t n);
/* Writes every buffer without blocking and publishes the drops. */
void logs_flush(struct worker *w);
/* After SIGUSR1: the reopened access logs may be of another kind. */
void logs_reattach(struct worker *w);
/* The local time in ISO 8601 with its offset, formatted once a second. */
const char *logs_time_iso(void);

#endif

/*
 * What the benchmark's load generators (tlsload.c, tunload.c, cacheload.c)
 * share: the clock, the status of an HTTP answer read in pieces, and the
 * latency histogram's percentiles.  Included by each, which run.sh builds
 * alone; inline, so that one that needs only some of them builds without
 * a warning.
 */
#ifndef CT_BENCH_LOAD_H
#define CT_BENCH_LOAD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The start of an answer, until its status is known. */
struct load_answer {
	int status;               /* 0 before its line; -1 when it is no HTTP/1.x */
	size_t head;              /* bytes of the status line seen so far */
	char line[16];
	uint64_t bytes;           /* answer bytes so far */
};

static inline void __attribute__((noreturn))
load_die(const char *what)
{
	perror(what);
	exit(1);
}

static inline uint64_t
load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* n more bytes of the answer: its status once the line is there. */
static inline int
load_answer_feed(struct load_answer *a, const char *buf, size_t n)
{
	size_t k;

	if (a->status == 0 && a->head < sizeof(a->line) - 1) {
		k = sizeof(a->line) - 1 - a->head;
		if (k > n)
			k = n;
		memcpy(a->line + a->head, buf, k);
		a->head += k;
		a->line[a->head] = '\0';
		if (a->head >= 12 && strncmp(a->line, "HTTP/1.", 7) == 0)
			a->status = atoi(a->line + 9);
		else if (a->head >= 12)
			a->status = -1;
	}
	a->bytes += n;
	return a->status;
}

/* The q quantile in us of done latencies counted in 10-us buckets, the last one open. */
static inline uint64_t
load_percentile(const uint32_t *hist, size_t nbuckets, uint64_t done, double q)
{
	uint64_t seen = 0, want = (uint64_t)(q * (double)done);
	size_t i;

	for (i = 0; i <= nbuckets; i++) {
		seen += hist[i];
		if (seen > want)
			return i * 10;
	}
	return nbuckets * 10;
}

#endif

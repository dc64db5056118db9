/*
 * Limits in a worker (conf/limit.h, shm/limit.h): the key of a limit
 * for a connection or a request, the check against the shared zone,
 * and the caps a listener puts on its new connections.
 */
#ifndef CT_WORKER_LIMIT_H
#define CT_WORKER_LIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/limit.h"
#include "shm/limit.h"

struct conn;

/* A key as bytes (hashed) and as text (shown), built part by part. */
struct limit_key {
	unsigned char buf[512];
	size_t len;
	char text[SHM_LIMIT_TEXT];
	size_t tlen;
	int empty;                    /* a part had no value: the limit does not apply */
	/*
	 * The client address in the text, written only when the text is
	 * needed (a new key, a log line): formatting it is most of the cost
	 * of a key.  net: as its /24 or /64.
	 */
	const struct sockaddr *addr;
	int net;
};

void limit_key_init(struct limit_key *k);
/* A part of the key; show: it goes into the text too.  An empty part makes the key empty. */
void limit_key_add(struct limit_key *k, const void *p, size_t n, int show);
/* Text only, for a part whose bytes are not what a person reads. */
void limit_key_show(struct limit_key *k, const void *p, size_t n);
/* The parts a connection has: client_ip, client_net, listener (others: CT_DECLINED). */
int limit_key_conn_part(struct limit_key *k, const struct conn *c, const struct conf_limit_part *p);

/* The outcome of a check, for the answer that tells the client. */
struct limit_result {
	enum shm_limit_verdict verdict;
	uint64_t wait_ns;             /* delay: how long; reject: when a retry would pass */
	uint64_t left;                /* what the burst has left */
};

/*
 * Checks limit idx (in conf->limits) for key k: one event of its rate.
 * Logs a refusal once per key and log_interval.  Returns the verdict.
 */
enum shm_limit_verdict limit_check(struct conn *c, size_t idx, struct limit_key *k,
    struct limit_result *r);

/*
 * At accept: the listener's limits on new connections (rates, and caps
 * of concurrent ones, held until limit_conn_release()).  CT_ERROR: the
 * connection is over a limit and has been closed.
 */
int limit_conn_admit(struct conn *c);
/* Part of the close path: gives back the connection's places under the caps. */
void limit_conn_release(struct conn *c);

#endif

/*
 * Bandwidth in a worker (conf/limit.h's struct conf_bandwidth): the
 * meters of a connection of a listener with "bandwidth", asked before
 * every read how much may be read.  Over budget, the direction stops
 * reading its source (the socket's buffer fills and TCP slows the
 * sender down: nothing is dropped) and the relay is resumed by a timer
 * when the budget has come back.
 *
 * A connection of a listener without bandwidth has no meters: asking
 * costs one predictable branch, bandwidth_allow()'s first.
 */
#ifndef CT_WORKER_BANDWIDTH_H
#define CT_WORKER_BANDWIDTH_H

#include <stddef.h>

#include "conf/limit.h"
#include "worker/conn.h"

/* What a relay calls to go on once a paused direction may read again. */
typedef void (*bandwidth_resume_cb)(struct conn *c);

/*
 * At accept, for a listener with bandwidth: c's meters.  CT_ERROR: c
 * has been closed.
 */
int bandwidth_conn_start(struct conn *c);
/* Part of the close path: counts what c read last, and frees the meters. */
void bandwidth_conn_free(struct conn *c);

/* bandwidth_allow() of a connection with meters. */
size_t bandwidth_take(struct conn *c, int dir, size_t want, bandwidth_resume_cb resume);

/*
 * How many bytes direction dir (CONF_BW_UP: from the client, CONF_BW_DOWN:
 * from the server) of c may read now, at most want.  The bytes read since
 * the last call (c->from_client, c->from_server) are counted first, heads
 * included.  0: the direction is paused (bandwidth_paused()), and resume
 * is called once it may read again.
 */
static inline size_t
bandwidth_allow(struct conn *c, int dir, size_t want, bandwidth_resume_cb resume)
{
	if (__builtin_expect(c->bw == NULL, 1))
		return want;
	return bandwidth_take(c, dir, want, resume);
}

/* Is direction dir waiting for its budget?  Then its source is not to be read. */
static inline int
bandwidth_paused(const struct conn *c, int dir)
{
	return (c->bw_paused & CONF_BW_BIT(dir)) != 0;
}

#endif

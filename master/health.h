/*
 * Health of upstream servers, kept by the master.
 *
 * Active checks run in the master's event loop, one small state machine
 * per server (connect, send, receive), never blocking it; each server's
 * first check falls at a random point of its interval and every later
 * one at the interval +-10%, so that many servers are not probed in one
 * burst.  A server goes down after `fall` failures in a row and up after
 * `rise` successes; each change is written to its state word in shm and
 * logged once.  Passive checks are counted by the workers in shm
 * (shm_backend_passive_fail); the master brings a server they took out
 * back when its fail_timeout is over, unless active checks own it.
 */
#ifndef CT_MASTER_HEALTH_H
#define CT_MASTER_HEALTH_H

#include "lib/ev.h"
#include "core/cycle.h"

struct health;

/* Starts checking every server of cy; NULL when there is nothing to do or no memory. */
struct health *health_start(struct ev_loop *loop, const struct cycle *cy);
/*
 * In a freshly forked worker: closes the sockets of checks in progress
 * without touching the master's event loop, which the worker has
 * already let go of.
 */
void health_forget(struct health *h);
/* Stops every check and frees h (NULL is fine). */
void health_stop(struct health *h);

#endif

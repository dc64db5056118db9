/*
 * Master: the TLS session ticket keys in shm, made at start and
 * rotated on a timer of the master's loop.
 */
#ifndef CT_MASTER_TLS_KEYS_H
#define CT_MASTER_TLS_KEYS_H

#include "lib/ev.h"
#include "shm/shm.h"

/* CT_ERROR: no randomness to make keys from. */
int tls_keys_start(struct ev_loop *loop, struct shm *shm);

#endif

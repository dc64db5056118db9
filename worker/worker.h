/*
 * A worker: one single-threaded event loop that accepts on its slot's
 * sockets and relays connections.  It inherits the cycle from the master
 * at fork and never reads the configuration file itself.
 */
#ifndef CT_WORKER_WORKER_H
#define CT_WORKER_WORKER_H

#include <sys/types.h>

#include "core/cycle.h"
#include "worker/worker-t.h"

/*
 * Runs the worker of this slot; never returns.  record is the shm
 * workers record its connections are listed in, -1 for none.
 */
struct shm_cache_wake;
/* wake: the fds that wake a worker waiting on a cache fill, and its own index. */
void worker_main(struct cycle *cy, unsigned slot, unsigned generation, pid_t master,
    int record, const struct shm_cache_wake *wake) __attribute__((noreturn));

struct conn;
/* A connection let in at accept, now or after an approval: TLS, then its mode. */
void worker_conn_start(struct conn *c);

#endif

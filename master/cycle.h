/*
 * A cycle is everything one configuration generation runs with: the
 * validated config, the load-balancing state built from it, and the
 * listening sockets.  The master builds it before forking workers, which
 * inherit it whole; the shared segment outlives cycles.
 */
#ifndef CT_MASTER_CYCLE_H
#define CT_MASTER_CYCLE_H

#include "conf/conf.h"
#include "shm/shm.h"
#include "worker/lb.h"

struct cycle {
	struct conf *conf;
	struct shm *shm;
	struct lb_upstream *upstreams;  /* parallel to conf->upstreams */
	int *listen_fds;                /* [listener * workers + slot] */
};

/* Builds the LB state in shm and binds every socket.  Logs why on failure. */
int cycle_open(struct cycle *cy, struct conf *conf, struct shm *shm);
/* Frees what cycle_open built and closes its sockets; the conf too. */
void cycle_close(struct cycle *cy);

static inline int
cycle_listen_fd(const struct cycle *cy, size_t listener, unsigned slot)
{
	return cy->listen_fds[listener * cy->conf->workers + slot];
}

/* In a worker: closes the sockets of every other slot. */
void cycle_keep_slot(struct cycle *cy, unsigned slot);

#endif

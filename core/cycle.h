/*
 * A cycle is everything one configuration generation runs with: the
 * validated config, the load-balancing state built from it, the
 * descriptors of its listening sockets and its access logs.  The master
 * builds it before forking the generation's workers, which inherit it
 * whole.  Listening sockets belong to the master's socket set, not to a
 * cycle: a cycle only records which of them its listeners use.
 */
#ifndef CT_CORE_CYCLE_H
#define CT_CORE_CYCLE_H

#include "conf/conf.h"
#include "shm/shm.h"
#include "core/lb.h"

struct cycle_listen {
	int fds[CONF_WORKERS_MAX];  /* fds[slot]; past conf->workers: parked sockets */
	unsigned nfds;
	int access_fd;              /* -1: no access log */
	int stats;                  /* shm listeners slot; -1: not counted (table full) */
};

struct cycle {
	struct conf *conf;
	struct shm *shm;
	struct lb_upstream *upstreams;  /* parallel to conf->upstreams */
	struct cycle_listen *listen;    /* parallel to conf->listeners */
	int *limits;                    /* shm limits slot per conf->limits; -1: none */
	int *caches;                    /* shm cache zone per conf->caches; -1: none */
};

/*
 * Builds the LB state in shm and opens the access logs, chowned to the
 * configured user when running as root.  The listening sockets come
 * after, from the master (lsocks_assign()).  Logs why on failure;
 * cycle_close() then cleans up.
 */
int cycle_open(struct cycle *cy, struct conf *conf, struct shm *shm);
/* Frees what cycle_open built, and the conf; listening sockets stay open. */
void cycle_close(struct cycle *cy);

/* In a worker: closes every listening socket that is not this slot's. */
void cycle_keep_slot(struct cycle *cy, unsigned slot);

/* Reopens the access logs onto the same descriptors (SIGUSR1). */
void cycle_reopen_logs(struct cycle *cy, uid_t uid);

/*
 * Master: drops the cycle's references to its shm slots (upstreams,
 * backends, listeners), once no worker of it runs or when building it
 * failed.  A slot no other cycle holds is freed.  Idempotent.
 */
void cycle_release_shm(struct cycle *cy);

#endif

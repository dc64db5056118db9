/*
 * Building and tearing down a cycle.  The master, its workers and the
 * admin process all read a cycle, so it lives below all three; only the
 * master builds one, and hands it its listening sockets afterwards
 * (lsocks_assign()), since the socket set is the master's alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "core/cycle.h"
#include "shm/backend.h"
#include "shm/cache.h"
#include "shm/limit.h"
#include "shm/stats.h"

/*
 * Opens path for appending; with old_fd >= 0 the new file takes old_fd's
 * number, so that every process holding old_fd writes to the new file
 * from its next line on.  Returns the fd or -1.
 */
static int
cycle_log_open(const char *path, int old_fd, uid_t uid)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

	if (fd == -1)
		return -1;
	if (uid != (uid_t)-1 && fchown(fd, uid, (gid_t)-1) == -1)
		log_warn("fchown() of \"%s\" failed", path);
	if (old_fd >= 0 && fd != old_fd) {
		if (dup3(fd, old_fd, O_CLOEXEC) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
		fd = old_fd;
	}
	return fd;
}

/*
 * Distinct objects one worker may be sending at once: a popular one
 * sent to a thousand clients is one.  Every process slot of a zone has
 * a table this size, out of the zone: more would cost a small zone most
 * of its room.  Beyond it, requests go to the origin.
 */
#define CYCLE_CACHE_HOLDS 256u

int
cycle_open(struct cycle *cy, struct conf *conf, struct shm *shm)
{
	uid_t uid = conf->user != NULL && geteuid() == 0 ? conf->uid : (uid_t)-1;
	size_t i;

	memset(cy, 0, sizeof(*cy));
	cy->conf = conf;
	cy->shm = shm;
	cy->upstreams = calloc(conf->nupstreams ? conf->nupstreams : 1, sizeof(*cy->upstreams));
	cy->listen = calloc(conf->nlisteners, sizeof(*cy->listen));
	cy->limits = calloc(conf->nlimits ? conf->nlimits : 1, sizeof(*cy->limits));
	cy->caches = calloc(conf->ncaches ? conf->ncaches : 1, sizeof(*cy->caches));
	if (cy->upstreams == NULL || cy->listen == NULL || cy->limits == NULL ||
	    cy->caches == NULL)
		return CT_ERROR;
	for (i = 0; i < conf->nlimits; i++)
		cy->limits[i] = -1;
	for (i = 0; i < conf->ncaches; i++)
		cy->caches[i] = -1;
	for (i = 0; i < conf->nlisteners; i++) {
		cy->listen[i].access_fd = -1;
		cy->listen[i].stats = -1;
	}
	/* What cycle_release_shm() must not give back if building stops early. */
	for (i = 0; i < conf->nupstreams; i++)
		cy->upstreams[i].shm_idx = -1;
	for (i = 0; i < conf->nupstreams; i++)
		if (lb_upstream_init(&cy->upstreams[i], &conf->upstreams[i], shm) != CT_OK)
			return CT_ERROR;
	for (i = 0; i < conf->nlimits; i++)
		if ((cy->limits[i] = shm_limit_acquire(shm, conf->limits[i].name,
		    conf->limits[i].zone, conf->limits[i].scope == CONF_LIMIT_CLUSTER)) == -1) {
			log_warnx("no room in shm for the zone of limit \"%s\" (%llu bytes): "
			    "raise shm_size", conf->limits[i].name,
			    (unsigned long long)conf->limits[i].zone);
			return CT_ERROR;
		}
	for (i = 0; i < conf->ncaches; i++)
		if ((cy->caches[i] = shm_cache_zone_acquire(shm, conf->caches[i].name,
		    conf->caches[i].size, SHM_CACHE_CHUNK, conf->caches[i].max_object,
		    CT_MIN(conf->worker_connections, CYCLE_CACHE_HOLDS))) == -1) {
			log_warnx("no room in shm for cache \"%s\" (%llu bytes): raise shm_size",
			    conf->caches[i].name, (unsigned long long)conf->caches[i].size);
			return CT_ERROR;
		}
	for (i = 0; i < conf->nlisteners; i++) {
		const struct conf_listener *l = &conf->listeners[i];
		struct cycle_listen *cl = &cy->listen[i];

		if ((cl->stats = shm_listener_acquire(shm, l->name)) == -1)
			log_warnx("no free listener slot in shm: listener \"%s\" is not counted",
			    l->name);
		if (l->access_log.path != NULL &&
		    (cl->access_fd = cycle_log_open(l->access_log.path, -1, uid)) == -1) {
			log_warn("cannot open access_log \"%s\" of listener \"%s\"",
			    l->access_log.path, l->name);
			return CT_ERROR;
		}
	}
	return CT_OK;
}

void
cycle_close(struct cycle *cy)
{
	size_t i;

	if (cy->conf == NULL)
		return;
	if (cy->listen != NULL) {
		for (i = 0; i < cy->conf->nlisteners; i++)
			if (cy->listen[i].access_fd != -1)
				close(cy->listen[i].access_fd);
		free(cy->listen);
	}
	if (cy->upstreams != NULL) {
		for (i = 0; i < cy->conf->nupstreams; i++)
			lb_upstream_free(&cy->upstreams[i]);
		free(cy->upstreams);
	}
	free(cy->limits);
	free(cy->caches);
	conf_free(cy->conf);
	memset(cy, 0, sizeof(*cy));
}

void
cycle_keep_slot(struct cycle *cy, unsigned slot)
{
	size_t i;
	unsigned k;

	for (i = 0; i < cy->conf->nlisteners; i++) {
		struct cycle_listen *cl = &cy->listen[i];

		for (k = 0; k < cl->nfds; k++) {
			int mine = k == slot || (slot == 0 && k >= cy->conf->workers);

			if (!mine && cl->fds[k] != -1) {
				close(cl->fds[k]);
				cl->fds[k] = -1;
			}
		}
	}
}

void
cycle_reopen_logs(struct cycle *cy, uid_t uid)
{
	size_t i;

	for (i = 0; i < cy->conf->nlisteners; i++) {
		struct cycle_listen *cl = &cy->listen[i];
		const char *path = cy->conf->listeners[i].access_log.path;

		if (cl->access_fd != -1 && cycle_log_open(path, cl->access_fd, uid) == -1)
			log_warn("cannot reopen access_log \"%s\"", path);
	}
}

void
cycle_release_shm(struct cycle *cy)
{
	size_t i, k;

	if (cy->conf == NULL)
		return;
	for (i = 0; cy->upstreams != NULL && i < cy->conf->nupstreams; i++) {
		struct lb_upstream *u = &cy->upstreams[i];

		for (k = 0; u->backend != NULL && k < u->conf->nservers; k++)
			if (u->backend[k] >= 0)
				shm_backend_release(cy->shm, u->backend[k]);
		if (u->shm_idx >= 0)
			shm_upstream_release(cy->shm, u->shm_idx);
		u->shm_idx = -1;
		if (u->backend != NULL)
			for (k = 0; k < u->conf->nservers; k++)
				u->backend[k] = -1;
	}
	for (i = 0; cy->listen != NULL && i < cy->conf->nlisteners; i++) {
		if (cy->listen[i].stats >= 0)
			shm_listener_release(cy->shm, cy->listen[i].stats);
		cy->listen[i].stats = -1;
	}
	for (i = 0; cy->limits != NULL && i < cy->conf->nlimits; i++) {
		if (cy->limits[i] >= 0)
			shm_limit_release(cy->shm, cy->limits[i]);
		cy->limits[i] = -1;
	}
	for (i = 0; cy->caches != NULL && i < cy->conf->ncaches; i++) {
		if (cy->caches[i] >= 0)
			shm_cache_zone_release(cy->shm, cy->caches[i]);
		cy->caches[i] = -1;
	}
}

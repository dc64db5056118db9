/*
 * Building and tearing down a cycle.  Each listener gets one
 * SO_REUSEPORT socket per worker slot: the kernel spreads connections
 * over the slots' accept queues, and since the master keeps every socket
 * open, a queue outlives the worker that drains it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/cycle.h"

#define CYCLE_BACKLOG 4096

static int
cycle_bind_one(const struct conf_listener *l)
{
	int fd, on = 1;

	fd = socket(l->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket() for listener \"%s\" (%s) failed", l->name, l->listen);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    (l->addr.ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)) {
		log_warn("setsockopt() for listener \"%s\" (%s) failed", l->name, l->listen);
		close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&l->addr.ss, l->addr.len) == -1) {
		log_warn("bind() to %s for listener \"%s\" failed", l->listen, l->name);
		close(fd);
		return -1;
	}
	if (listen(fd, CYCLE_BACKLOG) == -1) {
		log_warn("listen() on %s for listener \"%s\" failed", l->listen, l->name);
		close(fd);
		return -1;
	}
	return fd;
}

static int
cycle_bind_all(struct cycle *cy)
{
	const struct conf *conf = cy->conf;
	size_t n = conf->nlisteners * conf->workers, i;

	cy->listen_fds = malloc(n * sizeof(*cy->listen_fds));
	if (cy->listen_fds == NULL)
		return CT_ERROR;
	for (i = 0; i < n; i++)
		cy->listen_fds[i] = -1;
	for (i = 0; i < n; i++) {
		cy->listen_fds[i] = cycle_bind_one(&conf->listeners[i / conf->workers]);
		if (cy->listen_fds[i] == -1)
			return CT_ERROR;
	}
	return CT_OK;
}

int
cycle_open(struct cycle *cy, struct conf *conf, struct shm *shm)
{
	size_t i;

	cy->conf = conf;
	cy->shm = shm;
	cy->listen_fds = NULL;
	cy->upstreams = calloc(conf->nupstreams ? conf->nupstreams : 1, sizeof(*cy->upstreams));
	if (cy->upstreams == NULL)
		return CT_ERROR;
	for (i = 0; i < conf->nupstreams; i++)
		if (lb_upstream_init(&cy->upstreams[i], &conf->upstreams[i], shm) != CT_OK)
			return CT_ERROR;
	return cycle_bind_all(cy);
}

void
cycle_close(struct cycle *cy)
{
	size_t i;

	if (cy->conf == NULL)
		return;
	if (cy->listen_fds != NULL) {
		for (i = 0; i < cy->conf->nlisteners * cy->conf->workers; i++)
			if (cy->listen_fds[i] != -1)
				close(cy->listen_fds[i]);
		free(cy->listen_fds);
	}
	if (cy->upstreams != NULL) {
		for (i = 0; i < cy->conf->nupstreams; i++)
			lb_upstream_free(&cy->upstreams[i]);
		free(cy->upstreams);
	}
	conf_free(cy->conf);
	cy->conf = NULL;
}

void
cycle_keep_slot(struct cycle *cy, unsigned slot)
{
	size_t n = cy->conf->nlisteners * cy->conf->workers, i;

	for (i = 0; i < n; i++) {
		if (i % cy->conf->workers != slot && cy->listen_fds[i] != -1) {
			close(cy->listen_fds[i]);
			cy->listen_fds[i] = -1;
		}
	}
}

/*
 * The worker's pipe pool; see pipe.h.  A worker is one thread, so the
 * pool is plain static state.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "worker/pipe.h"

#define PIPE_SPARES 32

static int pipe_spare[PIPE_SPARES][2];
static unsigned pipe_nspare;
static unsigned pipe_open;        /* in use and spare */

int
pipe_take(int fd[2], unsigned max)
{
	if (pipe_nspare > 0) {
		pipe_nspare--;
		fd[0] = pipe_spare[pipe_nspare][0];
		fd[1] = pipe_spare[pipe_nspare][1];
		return 1;
	}
	if (pipe_open >= max || pipe2(fd, O_NONBLOCK | O_CLOEXEC) == -1)
		return 0;
	pipe_open++;
	/* Not fatal: a smaller pipe only moves less per call. */
	(void)fcntl(fd[0], F_SETPIPE_SZ, PIPE_CHUNK);
	return 1;
}

void
pipe_give(const int fd[2], size_t pending)
{
	/* A pipe with bytes left in it cannot serve another transfer. */
	if (pending == 0 && pipe_nspare < PIPE_SPARES) {
		pipe_spare[pipe_nspare][0] = fd[0];
		pipe_spare[pipe_nspare][1] = fd[1];
		pipe_nspare++;
		return;
	}
	close(fd[0]);
	close(fd[1]);
	pipe_open--;
}

void
pipe_pair_free(struct pipe_pair *pp)
{
	int dir;

	for (dir = 0; dir < 2; dir++)
		if (pp->fd[dir][0] != -1)
			pipe_give(pp->fd[dir], pp->len[dir]);
	free(pp);
}

unsigned
pipe_count(void)
{
	return pipe_open;
}

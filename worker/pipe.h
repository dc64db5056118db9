/*
 * Pipes for splice(2): bytes that go socket -> pipe -> socket stay in
 * the kernel instead of crossing user space twice.  A worker keeps a
 * few empty pipes for the next transfer and caps how many it holds, so
 * that pipes never take the descriptors accept() and connect() need.
 */
#ifndef CT_WORKER_PIPE_H
#define CT_WORKER_PIPE_H

#include <stddef.h>

/*
 * Capacity asked for each pipe, and so the bytes one splice can move:
 * more than the default 64 KiB, for fewer system calls and wake-ups.
 * Kernel memory, used only while bytes wait in it.
 */
#define PIPE_CHUNK (256 * 1024)

/*
 * Takes an empty pipe (fd[0] read end, fd[1] write end) from the spares
 * or a new one, if fewer than max are open.  Returns 0 when none can be
 * had: the caller then copies through a buffer instead.
 */
int pipe_take(int fd[2], unsigned max);
/* Gives a pipe back: kept if it is empty (pending 0), closed otherwise. */
void pipe_give(const int fd[2], size_t pending);

/* The pipes of a connection's spliced directions: [0] c2s, [1] s2c. */
struct pipe_pair {
	int fd[2][2];                 /* read end, write end; -1: direction not spliced */
	size_t len[2];                /* bytes waiting in that pipe */
};

/* Gives back the pipes of both directions, and frees pp. */
void pipe_pair_free(struct pipe_pair *pp);
/* Pipes open, in use and spare (two descriptors each). */
unsigned pipe_count(void);

#endif

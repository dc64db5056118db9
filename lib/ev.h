/*
 * The event loop of every process: epoll for descriptors, a binary heap
 * for timers.  One iteration, in this order:
 *
 *   1. wait in epoll_pwait() for at most the time to the first timer,
 *      with the caller's signals unblocked only during the wait (so a
 *      signal handler's flag is never missed between check and sleep);
 *   2. refresh the cached clock;
 *   3. run the handler of every ready descriptor; an ev_io stopped by an
 *      earlier handler of the same batch is skipped (stale-event guard);
 *   4. run every expired timer;
 *   5. run the "after" hook, where the owner frees what handlers closed
 *      (an object is never freed under its own running callback).
 */
#ifndef CT_EV_H
#define CT_EV_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct ev_loop;
struct ev_io;
struct ev_timer;

typedef void (*ev_io_cb)(struct ev_loop *loop, struct ev_io *io, uint32_t events);
typedef void (*ev_timer_cb)(struct ev_loop *loop, struct ev_timer *t);
typedef void (*ev_hook_cb)(struct ev_loop *loop, void *arg);

struct ev_io {
	int fd;              /* -1 when not registered */
	uint32_t events;     /* EPOLLIN | EPOLLOUT | ... as registered */
	uint32_t want;       /* what the owner waits for; see ev_io_want() */
	ev_io_cb cb;
	void *data;
};

struct ev_timer {
	uint64_t when;       /* loop clock, ms */
	uint64_t due;        /* heap key, <= when: a later when is not sifted in */
	size_t slot;         /* index in the heap, or EV_TIMER_IDLE */
	ev_timer_cb cb;
	void *data;
};

#define EV_TIMER_IDLE ((size_t)-1)

/* Returns NULL (errno set) on failure.  max_timers bounds the heap. */
struct ev_loop *ev_loop_new(size_t max_timers);
void ev_loop_free(struct ev_loop *loop);

/* Signals to unblock while waiting; the caller keeps them blocked otherwise. */
void ev_loop_set_sigmask(struct ev_loop *loop, const sigset_t *wait_mask);
/* Called at step 5 of every iteration. */
void ev_loop_set_after(struct ev_loop *loop, ev_hook_cb cb, void *arg);
/*
 * Runs iterations until ev_loop_break(); a handler that sets a flag from
 * a signal is seen through the after hook.  Returns CT_ERROR if
 * epoll_pwait fails for a reason other than EINTR.
 */
int ev_loop_run(struct ev_loop *loop);
void ev_loop_break(struct ev_loop *loop);

/* The loop's monotonic clock in ms, refreshed once per iteration. */
uint64_t ev_now(const struct ev_loop *loop);
uint64_t ev_clock_ms(void);

void ev_io_init(struct ev_io *io, int fd, ev_io_cb cb, void *data);
/*
 * Registers or changes interest; events 0 takes the fd out of the set.
 * With EPOLLET, epoll reports a readiness once, when it arises; the
 * owner keeps track of what it left unread or unwritten.
 */
int ev_io_set(struct ev_loop *loop, struct ev_io *io, uint32_t events);
/*
 * Edge-triggered: epoll reports again whatever readiness the fd has now
 * (EPOLL_CTL_MOD re-polls it), for an owner that stopped reading before
 * the fd was drained and will get no new edge for what is left.
 */
int ev_io_rearm(struct ev_loop *loop, struct ev_io *io);
/*
 * Lazy interest: the owner now waits for want, but a registration that
 * already covers want is left as it is.  Narrowing costs an epoll_ctl
 * now and widening again another one, while a wider level-triggered
 * registration costs nothing unless its extra event does come; then the
 * loop narrows it to want instead of calling the handler.  For sides
 * that switch between reading and waiting request after request.
 */
int ev_io_want(struct ev_loop *loop, struct ev_io *io, uint32_t want);
/*
 * Hands the registration of from's fd over to to (same fd), with events,
 * in one epoll_ctl: the fd changes owners (a pooled upstream connection)
 * without leaving the set.  from becomes unregistered, fd -1.
 */
int ev_io_move(struct ev_loop *loop, struct ev_io *from, struct ev_io *to, uint32_t events);
/* Deregisters; io->fd becomes -1 (the fd itself is not closed). */
void ev_io_stop(struct ev_loop *loop, struct ev_io *io);
/*
 * For a descriptor the caller closes next, and that no other process
 * shares: closing it takes it out of the epoll set, so it is only
 * forgotten here, one epoll_ctl per connection saved.  io->fd becomes -1.
 */
void ev_io_forget(struct ev_loop *loop, struct ev_io *io);

void ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *data);
/* (Re)arms t to fire after ms.  Fails only when the heap is full. */
int ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t ms);
void ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);
static inline int ev_timer_active(const struct ev_timer *t) { return t->slot != EV_TIMER_IDLE; }

#endif

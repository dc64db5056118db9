/*
 * epoll and a timer heap; see ev.h for the order of one iteration.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/ev.h"

#define EV_BATCH 256

/*
 * What epoll knows of a descriptor is its number and a generation, not
 * an ev_io pointer: an event finds its owner in this table.  Handing a
 * registered descriptor to another owner (a pooled upstream connection
 * taken by a client connection, and back) is then a store in the table,
 * not an epoll_ctl; and an event can never reach an owner it was not
 * for: a descriptor added anew gets a new generation, and one handed
 * over in this batch has its remaining events of the batch skipped.
 */
struct ev_slot {
	struct ev_io *io;            /* NULL: not registered */
	uint32_t gen;                /* of the registration, in the events' data */
	uint32_t moved;              /* iteration in which it changed owner */
};

struct ev_loop {
	int epfd;
	int stop;
	uint64_t now;
	sigset_t wait_mask;
	int have_mask;
	ev_hook_cb after;
	void *after_arg;
	struct ev_timer **heap;
	size_t nheap;
	size_t maxheap;
	struct ev_slot *slots;       /* by descriptor */
	size_t nslots;
	uint32_t iter;               /* iterations run, for ev_slot.moved */
	struct epoll_event events[EV_BATCH];
};

uint64_t
ev_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ev_loop *
ev_loop_new(size_t max_timers)
{
	struct ev_loop *loop;

	if ((loop = calloc(1, sizeof(*loop))) == NULL)
		return NULL;
	loop->heap = calloc(max_timers, sizeof(*loop->heap));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->heap == NULL || loop->epfd == -1) {
		int saved = errno;

		if (loop->epfd != -1)
			close(loop->epfd);
		free(loop->heap);
		free(loop);
		errno = saved;
		return NULL;
	}
	loop->maxheap = max_timers;
	loop->now = ev_clock_ms();
	return loop;
}

void
ev_loop_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	close(loop->epfd);
	free(loop->heap);
	free(loop->slots);
	free(loop);
}

void
ev_loop_set_sigmask(struct ev_loop *loop, const sigset_t *wait_mask)
{
	loop->wait_mask = *wait_mask;
	loop->have_mask = 1;
}

void
ev_loop_set_after(struct ev_loop *loop, ev_hook_cb cb, void *arg)
{
	loop->after = cb;
	loop->after_arg = arg;
}

void
ev_loop_break(struct ev_loop *loop)
{
	loop->stop = 1;
}

uint64_t
ev_now(const struct ev_loop *loop)
{
	return loop->now;
}

/* ---------------------------------------------------------------- io */

void
ev_io_init(struct ev_io *io, int fd, ev_io_cb cb, void *data)
{
	io->fd = fd;
	io->events = 0;
	io->want = 0;
	io->cb = cb;
	io->data = data;
}

/*
 * Registration is tracked by the EV_REGISTERED bit, kept out of the mask
 * that epoll sees: a bit no EPOLL* flag uses (the flags fill the top
 * bits, EPOLLET the highest).  Interest 0 removes the fd from the set:
 * epoll reports EPOLLHUP and EPOLLERR whatever the mask, so a side muted
 * for backpressure whose peer hung up would otherwise wake the loop
 * forever.
 */
#define EV_REGISTERED 0x04000000u
_Static_assert((EV_REGISTERED & (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP |
    EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP |
    (1u << 27) /* EPOLL_URING_WAKE */ | EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT |
    EPOLLET)) == 0,
    "EV_REGISTERED is an epoll flag");

/* The slot of fd, the table grown to hold it; NULL when out of memory. */
static struct ev_slot *
ev_slot(struct ev_loop *loop, int fd)
{
	if ((size_t)fd >= loop->nslots) {
		size_t n = loop->nslots ? loop->nslots : 64;
		struct ev_slot *s;

		while (n <= (size_t)fd)
			n *= 2;
		if ((s = realloc(loop->slots, n * sizeof(*s))) == NULL)
			return NULL;
		memset(s + loop->nslots, 0, (n - loop->nslots) * sizeof(*s));
		loop->slots = s;
		loop->nslots = n;
	}
	return &loop->slots[fd];
}

static void
ev_slot_clear(struct ev_loop *loop, int fd)
{
	if (fd >= 0 && (size_t)fd < loop->nslots)
		loop->slots[fd].io = NULL;
}

/* Adds or modifies fd's registration; its events carry gen and fd back. */
static int
ev_ctl(struct ev_loop *loop, int op, int fd, uint32_t events, uint32_t gen)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
	return epoll_ctl(loop->epfd, op, fd, &ev) == -1 ? CT_ERROR : CT_OK;
}

int
ev_io_set(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct ev_slot *s;
	int op;

	events &= ~EV_REGISTERED;
	io->want = events;
	if (events == 0) {
		if ((io->events & EV_REGISTERED) &&
		    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL) == -1)
			return CT_ERROR;
		if (io->events & EV_REGISTERED)
			ev_slot_clear(loop, io->fd);
		io->events = 0;
		return CT_OK;
	}
	if ((io->events & EV_REGISTERED) && (io->events & ~EV_REGISTERED) == events)
		return CT_OK;
	if (io->fd < 0 || (s = ev_slot(loop, io->fd)) == NULL)
		return CT_ERROR;
	op = (io->events & EV_REGISTERED) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (ev_ctl(loop, op, io->fd, events, op == EPOLL_CTL_ADD ? s->gen + 1 : s->gen) != CT_OK)
		return CT_ERROR;
	if (op == EPOLL_CTL_ADD)
		s->gen++;
	s->io = io;
	io->events = events | EV_REGISTERED;
	return CT_OK;
}

int
ev_io_rearm(struct ev_loop *loop, struct ev_io *io)
{
	if (!(io->events & EV_REGISTERED) || (size_t)io->fd >= loop->nslots)
		return CT_ERROR;
	return ev_ctl(loop, EPOLL_CTL_MOD, io->fd, io->events & ~EV_REGISTERED,
	    loop->slots[io->fd].gen);
}

int
ev_io_want(struct ev_loop *loop, struct ev_io *io, uint32_t want)
{
	want &= ~EV_REGISTERED;
	if ((io->events & EV_REGISTERED) ? (io->events & want) == want : want == 0) {
		io->want = want;
		return CT_OK;
	}
	return ev_io_set(loop, io, want);
}

int
ev_io_move(struct ev_loop *loop, struct ev_io *from, struct ev_io *to, uint32_t events)
{
	struct ev_slot *s;

	if (!(from->events & EV_REGISTERED) || events == 0 ||
	    (s = ev_slot(loop, from->fd)) == NULL) {
		ev_io_stop(loop, from);
		return ev_io_set(loop, to, events);
	}
	/* Same registration, new owner: the table changes, epoll does not. */
	s->io = to;
	s->moved = loop->iter;
	to->events = from->events;
	from->events = 0;
	from->want = 0;
	from->fd = -1;
	/* Lazily, as ev_io_want(): a registration that covers events stays. */
	return ev_io_want(loop, to, events);
}

void
ev_io_stop(struct ev_loop *loop, struct ev_io *io)
{
	if (io->fd == -1)
		return;
	if (io->events & EV_REGISTERED) {
		(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
		ev_slot_clear(loop, io->fd);
	}
	io->events = 0;
	io->want = 0;
	io->fd = -1;
}

void
ev_io_forget(struct ev_loop *loop, struct ev_io *io)
{
	if (io->fd == -1)
		return;
	if (io->events & EV_REGISTERED)
		ev_slot_clear(loop, io->fd);
	io->events = 0;
	io->want = 0;
	io->fd = -1;
}

/* ------------------------------------------------------------ timers */

void
ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *data)
{
	t->when = t->due = 0;
	t->slot = EV_TIMER_IDLE;
	t->cb = cb;
	t->data = data;
}

static void
ev_heap_place(struct ev_loop *loop, struct ev_timer *t, size_t i)
{
	loop->heap[i] = t;
	t->slot = i;
}

static void
ev_heap_up(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (loop->heap[parent]->due <= t->due)
			break;
		ev_heap_place(loop, loop->heap[parent], i);
		i = parent;
	}
	ev_heap_place(loop, t, i);
}

static void
ev_heap_down(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap && loop->heap[c + 1]->due < loop->heap[c]->due)
			c++;
		if (t->due <= loop->heap[c]->due)
			break;
		ev_heap_place(loop, loop->heap[c], i);
		i = c;
	}
	ev_heap_place(loop, t, i);
}

void
ev_timer_stop(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i = t->slot;
	struct ev_timer *last;

	if (i == EV_TIMER_IDLE)
		return;
	t->slot = EV_TIMER_IDLE;
	last = loop->heap[--loop->nheap];
	if (last == t)
		return;
	ev_heap_place(loop, last, i);
	if (i > 0 && loop->heap[(i - 1) / 2]->due > last->due)
		ev_heap_up(loop, i);
	else
		ev_heap_down(loop, i);
}

/*
 * Timeouts are re-armed on every step of a connection and almost always
 * pushed later; an armed timer then only takes the new deadline, and the
 * heap moves it once its old key comes up (libev's "lazy" ev_timer_again).
 */
int
ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t ms)
{
	t->when = loop->now + ms;
	if (t->slot != EV_TIMER_IDLE) {
		if (t->when < t->due) {
			t->due = t->when;
			ev_heap_up(loop, t->slot);
		}
		return CT_OK;
	}
	if (loop->nheap == loop->maxheap) {
		errno = ENOBUFS;
		return CT_ERROR;
	}
	t->due = t->when;
	loop->heap[loop->nheap] = t;
	t->slot = loop->nheap++;
	ev_heap_up(loop, t->slot);
	return CT_OK;
}

static int
ev_timer_wait_ms(struct ev_loop *loop)
{
	uint64_t when;

	if (loop->nheap == 0)
		return -1;
	when = loop->heap[0]->due;
	if (when <= loop->now)
		return 0;
	return (int)CT_MIN(when - loop->now, (uint64_t)60000);
}

static void
ev_timers_run(struct ev_loop *loop)
{
	while (loop->nheap > 0 && loop->heap[0]->due <= loop->now) {
		struct ev_timer *t = loop->heap[0];

		if (t->when > loop->now) {
			t->due = t->when;
			ev_heap_down(loop, 0);
			continue;
		}
		ev_timer_stop(loop, t);
		t->cb(loop, t);
	}
}

/* -------------------------------------------------------------- loop */

int
ev_loop_run(struct ev_loop *loop)
{
	int i, n;

	loop->stop = 0;
	while (!loop->stop) {
		n = epoll_pwait(loop->epfd, loop->events, EV_BATCH,
		    ev_timer_wait_ms(loop), loop->have_mask ? &loop->wait_mask : NULL);
		if (n == -1 && errno != EINTR)
			return CT_ERROR;
		loop->now = ev_clock_ms();
		loop->iter++;
		for (i = 0; i < n; i++) {
			uint64_t data = loop->events[i].data.u64;
			uint32_t got = loop->events[i].events, fd = (uint32_t)data;
			struct ev_slot *s = fd < loop->nslots ? &loop->slots[fd] : NULL;
			struct ev_io *io;

			/*
			 * Stopped, re-added, handed over or muted by an earlier
			 * handler of this batch: the event is not for the owner now.
			 */
			if (s == NULL || (io = s->io) == NULL || s->gen != (uint32_t)(data >> 32) ||
			    s->moved == loop->iter || io->fd == -1 || io->events == 0)
				continue;
			/* Registered wider than wanted (ev_io_want) and woken for the extra. */
			if (io->want == 0 || (got & (io->want | EPOLLERR | EPOLLHUP)) == 0) {
				if (ev_io_set(loop, io, io->want) != CT_OK)
					io->cb(loop, io, got);
				continue;
			}
			io->cb(loop, io, got);
		}
		ev_timers_run(loop);
		if (loop->after != NULL)
			loop->after(loop, loop->after_arg);
	}
	return CT_OK;
}

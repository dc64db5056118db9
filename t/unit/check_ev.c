/*
 * The timer heap: order, stop from the middle, re-arm.  Descriptors:
 * events reach the owner of the moment, never one they were not for.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/ev.h"
#include "t/unit/suites.h"

static int fired[64];
static int nfired;

static void
record(struct ev_loop *loop, struct ev_timer *t)
{
	/* Timers due in the same iteration all run, even after a break. */
	if (nfired < 64)
		fired[nfired] = (int)(long)t->data;
	if (++nfired == 64)
		ev_loop_break(loop);
}

static void
stop_after(struct ev_loop *loop, void *arg)
{
	int *want = arg;

	if (nfired >= *want)
		ev_loop_break(loop);
}

START_TEST(timers_fire_in_deadline_order)
{
	struct ev_loop *loop = ev_loop_new(32);
	struct ev_timer t[8];
	static const int ms[8] = { 40, 5, 30, 1, 20, 15, 10, 25 };
	int want = 8, i;

	ck_assert_ptr_nonnull(loop);
	nfired = 0;
	for (i = 0; i < 8; i++) {
		ev_timer_init(&t[i], record, (void *)(long)ms[i]);
		ck_assert_int_eq(ev_timer_start(loop, &t[i], (uint64_t)ms[i]), CT_OK);
	}
	ev_loop_set_after(loop, stop_after, &want);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(nfired, 8);
	for (i = 1; i < 8; i++)
		ck_assert_int_le(fired[i - 1], fired[i]);
	ev_loop_free(loop);
}
END_TEST

START_TEST(timer_stop_and_rearm)
{
	struct ev_loop *loop = ev_loop_new(8);
	struct ev_timer a, b, c;
	int want = 2;

	nfired = 0;
	ev_timer_init(&a, record, (void *)1L);
	ev_timer_init(&b, record, (void *)2L);
	ev_timer_init(&c, record, (void *)3L);
	ev_timer_start(loop, &a, 5);
	ev_timer_start(loop, &b, 10);
	ev_timer_start(loop, &c, 15);
	ev_timer_stop(loop, &b);
	ck_assert(!ev_timer_active(&b));
	ev_timer_stop(loop, &b);               /* stopping twice is harmless */
	ev_timer_start(loop, &a, 30);          /* re-arm moves it after c */
	ev_loop_set_after(loop, stop_after, &want);
	ev_loop_run(loop);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[0], 3);
	ck_assert_int_eq(fired[1], 1);
	ev_loop_free(loop);
}
END_TEST

static int early;                       /* timers that fired before their deadline */

static void
record_on_time(struct ev_loop *loop, struct ev_timer *t)
{
	if (ev_now(loop) < t->when)
		early++;
	record(loop, t);
}

/*
 * Re-arming later keeps the old heap key; the timer must still fire at
 * its new deadline, never at the old one, and in deadline order.
 */
START_TEST(timer_rearm_later_and_earlier)
{
	struct ev_loop *loop = ev_loop_new(64);
	static struct ev_timer t[48];
	int i, ms, want = 48;

	srand(11);
	nfired = early = 0;
	for (i = 0; i < 48; i++) {
		ev_timer_init(&t[i], record_on_time, NULL);
		ck_assert_int_eq(ev_timer_start(loop, &t[i], (uint64_t)(rand() % 30) + 1), CT_OK);
	}
	for (i = 0; i < 48; i++) {
		ms = rand() % 60 + 1;
		t[i].data = (void *)(long)ms;
		ck_assert_int_eq(ev_timer_start(loop, &t[i], (uint64_t)ms), CT_OK);
	}
	ev_loop_set_after(loop, stop_after, &want);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(nfired, 48);
	ck_assert_int_eq(early, 0);
	for (i = 1; i < 48; i++)
		ck_assert_int_le(fired[i - 1], fired[i]);
	for (i = 0; i < 48; i++)
		ck_assert(!ev_timer_active(&t[i]));
	ev_loop_free(loop);
}
END_TEST

START_TEST(timer_heap_full)
{
	struct ev_loop *loop = ev_loop_new(2);
	struct ev_timer t[3];
	int i;

	for (i = 0; i < 3; i++)
		ev_timer_init(&t[i], record, NULL);
	ck_assert_int_eq(ev_timer_start(loop, &t[0], 1), CT_OK);
	ck_assert_int_eq(ev_timer_start(loop, &t[1], 1), CT_OK);
	ck_assert_int_eq(ev_timer_start(loop, &t[2], 1), CT_ERROR);
	/* re-arming one already in the heap still fits */
	ck_assert_int_eq(ev_timer_start(loop, &t[1], 5), CT_OK);
	ev_loop_free(loop);
}
END_TEST

/* Random inserts and removals keep the heap ordered. */
START_TEST(timer_heap_random)
{
	struct ev_loop *loop = ev_loop_new(512);
	static struct ev_timer t[512];
	int i, want;

	srand(7);
	nfired = 0;
	for (i = 0; i < 512; i++) {
		ev_timer_init(&t[i], record, NULL);
		ev_timer_start(loop, &t[i], (uint64_t)(rand() % 1000) + 1000);
	}
	for (i = 0; i < 512; i += 3)
		ev_timer_stop(loop, &t[i]);
	for (i = 0; i < 512; i += 3) {
		t[i].data = (void *)(long)i;
		ev_timer_start(loop, &t[i], (uint64_t)(i % 50));
	}
	/* only the re-armed ones are due within 60 ms; they fire in order */
	want = (512 + 2) / 3;
	for (i = 0; i < 512; i++)
		if (i % 3 != 0)
			ev_timer_stop(loop, &t[i]);
	nfired = 0;
	ev_loop_set_after(loop, stop_after, &want);
	ev_loop_run(loop);
	ck_assert_int_ge(nfired, 63);
	for (i = 1; i < 63; i++)
		ck_assert_int_le(fired[i - 1] % 50, fired[i] % 50);
	ev_loop_free(loop);
}
END_TEST

/* ------------------------------------------------------------- io */

/* Calls per owner, by the int each owner's data points to. */
static int calls[8];
static struct ev_io io[8];
static int pair[2][2];

/* Owner 0's handler does to owners 1.. what the test put in action. */
static enum { ACT_NONE, ACT_MOVE, ACT_STOP, ACT_REUSE } action;

static void
io_count(struct ev_loop *loop, struct ev_io *w, uint32_t events)
{
	int who = (int)(w - io);

	(void)events;
	calls[who]++;
	if (who != 0 || action == ACT_NONE)
		return;
	if (action == ACT_MOVE) {
		ev_io_init(&io[2], pair[1][0], io_count, NULL);
		ck_assert_int_eq(ev_io_move(loop, &io[1], &io[2], EPOLLIN), CT_OK);
	} else {
		ev_io_stop(loop, &io[1]);
		if (action == ACT_REUSE) {
			int fd = pair[1][0], sp[2];

			/* A new socket under the old number, registered in the same batch. */
			close(fd);
			ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
			ck_assert_int_eq(sp[0], fd);
			pair[1][0] = sp[0];
			close(pair[1][1]);
			pair[1][1] = sp[1];
			ev_io_init(&io[3], sp[0], io_count, NULL);
			ck_assert_int_eq(ev_io_set(loop, &io[3], EPOLLIN), CT_OK);
		}
	}
	action = ACT_NONE;
}

static void
one_iteration(struct ev_loop *loop, void *arg)
{
	(void)arg;
	ev_loop_break(loop);
}

/* Two readable socketpairs, owners 0 and 1; one iteration then runs. */
static struct ev_loop *
io_setup(void)
{
	struct ev_loop *loop = ev_loop_new(4);
	int k;

	ck_assert_ptr_nonnull(loop);
	memset(calls, 0, sizeof(calls));
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair[k]), 0);
		ck_assert_int_eq(write(pair[k][1], "x", 1), 1);
		ev_io_init(&io[k], pair[k][0], io_count, NULL);
		ck_assert_int_eq(ev_io_set(loop, &io[k], EPOLLIN), CT_OK);
	}
	ev_loop_set_after(loop, one_iteration, NULL);
	return loop;
}

static void
io_teardown(struct ev_loop *loop)
{
	int k;

	for (k = 0; k < 2; k++) {
		close(pair[k][0]);
		close(pair[k][1]);
	}
	ev_loop_free(loop);
}

START_TEST(io_events_reach_owner)
{
	struct ev_loop *loop = io_setup();

	action = ACT_NONE;
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[0], 1);
	ck_assert_int_eq(calls[1], 1);
	io_teardown(loop);
}
END_TEST

START_TEST(io_moved_in_batch)
{
	struct ev_loop *loop = io_setup();

	/* Owner 0 hands fd 1 over to owner 2 before fd 1's event is run. */
	action = ACT_MOVE;
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[0], 1);
	/* Whichever order the batch had, owner 2 gets nothing of this batch... */
	ck_assert_int_eq(calls[2], 0);
	ck_assert_int_le(calls[1], 1);
	/* ... and the next iteration, level-triggered, goes to owner 2 only. */
	calls[1] = 0;
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[2], 1);
	ck_assert_int_eq(calls[1], 0);
	io_teardown(loop);
}
END_TEST

START_TEST(io_stopped_in_batch)
{
	struct ev_loop *loop = io_setup();

	action = ACT_STOP;
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_le(calls[1], 1);
	calls[1] = 0;
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[1], 0);
	io_teardown(loop);
}
END_TEST

START_TEST(io_number_reused_in_batch)
{
	struct ev_loop *loop = io_setup();

	/* fd 1 closed and its number registered anew: its old event must not reach owner 3. */
	action = ACT_REUSE;
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[3], 0);
	ck_assert_int_eq(write(pair[1][1], "y", 1), 1);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[3], 1);
	io_teardown(loop);
}
END_TEST

START_TEST(io_lazy_interest)
{
	struct ev_loop *loop = ev_loop_new(4);
	int sp[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	memset(calls, 0, sizeof(calls));
	action = ACT_NONE;
	ev_io_init(&io[4], sp[0], io_count, NULL);
	/* Writable at once; reading is what the owner will wait for. */
	ck_assert_int_eq(ev_io_set(loop, &io[4], EPOLLIN | EPOLLOUT), CT_OK);
	ck_assert_int_eq(ev_io_want(loop, &io[4], EPOLLIN), CT_OK);
	ck_assert_uint_ne(io[4].events & EPOLLOUT, 0);     /* left wide */
	ev_loop_set_after(loop, one_iteration, NULL);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	/* woken for EPOLLOUT only: narrowed, handler not called */
	ck_assert_int_eq(calls[4], 0);
	ck_assert_uint_eq(io[4].events & EPOLLOUT, 0);
	ck_assert_int_eq(write(sp[1], "z", 1), 1);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[4], 1);
	close(sp[0]);
	close(sp[1]);
	ev_loop_free(loop);
}
END_TEST

static void
timer_noop(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
}

/*
 * Edge-triggered: a readiness left unread is not reported again (the
 * iteration ends on a timer instead) until the registration is re-armed.
 */
START_TEST(io_edge_triggered_rearm)
{
	struct ev_loop *loop = ev_loop_new(4);
	struct ev_timer t;
	int sp[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	memset(calls, 0, sizeof(calls));
	action = ACT_NONE;
	ev_timer_init(&t, timer_noop, NULL);
	ev_io_init(&io[5], sp[0], io_count, NULL);
	ck_assert_int_eq(ev_io_set(loop, &io[5], EPOLLIN | EPOLLET), CT_OK);
	ck_assert_uint_ne(io[5].events & EPOLLET, 0);
	ck_assert_int_eq(write(sp[1], "a", 1), 1);
	ev_loop_set_after(loop, one_iteration, NULL);
	ck_assert_int_eq(ev_timer_start(loop, &t, 50), CT_OK);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[5], 1);
	/* The byte is still there, but no new edge came. */
	ck_assert_int_eq(ev_timer_start(loop, &t, 50), CT_OK);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[5], 1);
	ck_assert_int_eq(ev_io_rearm(loop, &io[5]), CT_OK);
	ck_assert_int_eq(ev_timer_start(loop, &t, 50), CT_OK);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert_int_eq(calls[5], 2);
	/* Not registered: nothing to re-arm. */
	ev_io_stop(loop, &io[5]);
	ck_assert_int_eq(ev_io_rearm(loop, &io[5]), CT_ERROR);
	close(sp[0]);
	close(sp[1]);
	ev_loop_free(loop);
}
END_TEST

Suite *
suite_ev(void)
{
	Suite *s = suite_create("ev");
	TCase *tc = tcase_create("timers");
	TCase *ti = tcase_create("io");

	tcase_add_test(tc, timers_fire_in_deadline_order);
	tcase_add_test(tc, timer_stop_and_rearm);
	tcase_add_test(tc, timer_rearm_later_and_earlier);
	tcase_add_test(tc, timer_heap_full);
	tcase_add_test(tc, timer_heap_random);
	suite_add_tcase(s, tc);
	tcase_add_test(ti, io_events_reach_owner);
	tcase_add_test(ti, io_moved_in_batch);
	tcase_add_test(ti, io_stopped_in_batch);
	tcase_add_test(ti, io_number_reused_in_batch);
	tcase_add_test(ti, io_lazy_interest);
	tcase_add_test(ti, io_edge_triggered_rearm);
	suite_add_tcase(s, ti);
	return s;
}

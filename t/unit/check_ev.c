/* The timer heap: order, stop from the middle, re-arm. */
#include <stdlib.h>

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

Suite *
suite_ev(void)
{
	Suite *s = suite_create("ev");
	TCase *tc = tcase_create("timers");

	tcase_add_test(tc, timers_fire_in_deadline_order);
	tcase_add_test(tc, timer_stop_and_rearm);
	tcase_add_test(tc, timer_heap_full);
	tcase_add_test(tc, timer_heap_random);
	suite_add_tcase(s, tc);
	return s;
}

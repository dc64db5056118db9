/*
 * shm/events.c: the event ring.  One writer and one reader first (every
 * field back as written, the cursor at the head, a lap lost and
 * counted), then the two ways a sequence goes unpublished (a writer
 * that dropped its event, one that died inside a record) and what
 * readers and later writers do about them, then several processes
 * writing at once while a reader follows: every record read is whole
 * (each carries a checksum of itself), each writer's events come in
 * its order, and the events read and lost add up to every one claimed.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ct.h"
#include "lib/ev.h"
#include "shm/events.h"
#include "t/unit/suites.h"

static struct shm shm;

static void
events_setup(void)
{
	memset(&shm, 0, sizeof(shm));
	shm.fd = -1;
	ck_assert_int_eq(shm_create(&shm, SHM_MIN_SIZE), CT_OK);
}

static void
events_teardown(void)
{
	shm_destroy(&shm);
}

/* Event i of writer w: every field, and all of the text, derived from both. */
static void
event_make(struct shm_event *ev, unsigned w, unsigned i)
{
	size_t k;

	shm_event_init(ev, SHM_EV_CONN_OPEN);
	ev->id = (uint64_t)w << 32 | i;
	ev->n[0] = ev->id * UINT64_C(0x9e3779b97f4a7c15);
	ev->n[1] = ~ev->n[0];
	ev->pid = (int32_t)w;
	ev->status = (int32_t)i;
	ev->listener = (uint16_t)(i % 7);
	ev->backend = (int16_t)(i % 11);
	ev->port = (uint16_t)i;
	ev->slot = (uint16_t)w;
	ev->family = 2;
	ev->flag = (uint8_t)(i & 0xff);
	for (k = 0; k < sizeof(ev->addr); k++)
		ev->addr[k] = (uint8_t)(i + k);
	for (k = 0; k < sizeof(ev->text) - 1; k++)
		ev->text[k] = (char)('a' + (i + w + k) % 26);
	ev->text[k] = '\0';
}

/* Is ev whole: every field what event_make() gives for its id? */
static int
event_whole(const struct shm_event *ev)
{
	struct shm_event want;

	event_make(&want, (unsigned)(ev->id >> 32), (unsigned)ev->id);
	want.seq = ev->seq;
	want.time_ms = ev->time_ms;
	return memcmp(&want, ev, sizeof(want)) == 0;
}

static void
write_ok(unsigned w, unsigned i)
{
	struct shm_event ev;

	event_make(&ev, w, i);
	ck_assert_int_eq(shm_event_write(&shm, &ev), CT_OK);
}

/* The word of the record that sequence s goes to (the first field of a slot). */
static atomic_uint_fast64_t *
record_word(uint64_t s)
{
	return shm_table_slot(&shm, SHM_TABLE_EVENTS, (int)(s % SHM_EVENTS) + 1);
}

START_TEST(test_layout)
{
	const struct shm_table *t = shm_table(&shm, SHM_TABLE_EVENTS);

	ck_assert_str_eq(t->name, "events");
	ck_assert_uint_eq(t->count, SHM_EVENTS + 1);
	ck_assert_uint_eq(shm_events_ctl(&shm)->size, SHM_EVENTS);
	ck_assert_uint_eq(shm_events_head(&shm), 0);
	ck_assert_int_eq(shm_check(shm.base, shm.size, "test"), CT_OK);
	ck_assert_str_eq(shm_event_kind_names[SHM_EV_HEALTH], "health");
	ck_assert_str_eq(shm_event_kind_names[SHM_EV_DECISION], "decision");
}
END_TEST

START_TEST(test_roundtrip)
{
	struct shm_events_cursor cur = { 0, 0, 0 };
	struct shm_event ev;
	uint64_t lost = 0;
	unsigned i;

	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_AGAIN);
	for (i = 0; i < 3; i++)
		write_ok(1, i);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_OK);
		ck_assert(event_whole(&ev));
		ck_assert_uint_eq(ev.id, (uint64_t)1 << 32 | i);
		ck_assert_uint_eq(ev.seq, i + 1);
		ck_assert_uint_ge(ev.time_ms / 1000 + 1, (uint64_t)time(NULL) - 1);
	}
	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_AGAIN);
	ck_assert_uint_eq(lost, 0);
	ck_assert_uint_eq(shm_events_head(&shm), 3);
}
END_TEST

START_TEST(test_text_cut)
{
	struct shm_events_cursor cur = { 0, 0, 0 };
	struct shm_event ev;
	char long_text[300];
	uint64_t lost = 0;

	memset(long_text, 'z', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	shm_event_init(&ev, SHM_EV_RELOAD);
	ck_assert_int_eq(ev.backend, -1);
	ck_assert_uint_eq(ev.listener, SHM_EVENT_NONE);
	shm_event_text(&ev, long_text);
	ck_assert_uint_eq(strlen(ev.text), SHM_EVENT_TEXT - 1);
	ck_assert_int_eq(shm_event_write(&shm, &ev), CT_OK);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_OK);
	ck_assert_uint_eq(ev.kind, SHM_EV_RELOAD);
	ck_assert_uint_eq(strlen(ev.text), SHM_EVENT_TEXT - 1);
}
END_TEST

/* A cursor made at the head reads what comes after, not what came before. */
START_TEST(test_cursor_at_head)
{
	struct shm_events_cursor cur;
	struct shm_event ev;
	uint64_t lost = 0;

	write_ok(0, 1);
	write_ok(0, 2);
	memset(&cur, 0, sizeof(cur));
	cur.next = shm_events_head(&shm);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_AGAIN);
	write_ok(0, 3);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_OK);
	ck_assert_uint_eq(ev.status, 3);
	ck_assert_uint_eq(ev.seq, 3);
	ck_assert_uint_eq(lost, 0);
}
END_TEST

/* A reader a lap and a half behind loses what was overwritten, and says how much. */
START_TEST(test_lap_lost)
{
	struct shm_events_cursor cur = { 0, 0, 0 };
	struct shm_event ev;
	uint64_t lost = 0;
	unsigned i, n = SHM_EVENTS + SHM_EVENTS / 2;

	for (i = 0; i < n; i++)
		write_ok(2, i);
	for (i = SHM_EVENTS / 2; i < n; i++) {
		ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_OK);
		ck_assert_uint_eq(ev.status, i);
		ck_assert_uint_eq(ev.seq, i + 1);
		ck_assert(event_whole(&ev));
	}
	ck_assert_uint_eq(lost, SHM_EVENTS / 2);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_AGAIN);
	ck_assert_uint_eq(lost, SHM_EVENTS / 2);
}
END_TEST

/*
 * A sequence claimed and never published: the reader waits for it
 * SHM_EVENTS_STUCK_MS, then counts it lost and goes on.
 */
START_TEST(test_stuck_skipped)
{
	struct shm_events_cursor cur = { 0, 0, 0 };
	struct shm_event ev;
	uint64_t lost = 0;

	write_ok(3, 0);
	/* A writer that claimed sequence 1 and never wrote it. */
	atomic_fetch_add(&shm_events_ctl(&shm)->head, 1);
	write_ok(3, 2);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 1000, &ev, &lost), CT_OK);
	ck_assert_uint_eq(ev.status, 0);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 1000, &ev, &lost), CT_AGAIN);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 1000 + SHM_EVENTS_STUCK_MS - 1, &ev, &lost),
	    CT_AGAIN);
	ck_assert_uint_eq(lost, 0);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 1000 + SHM_EVENTS_STUCK_MS, &ev, &lost),
	    CT_OK);
	ck_assert_uint_eq(lost, 1);
	ck_assert_uint_eq(ev.status, 2);
	ck_assert_uint_eq(ev.seq, 3);
}
END_TEST

/*
 * A writer stopped inside a record (its word odd): a writer one lap
 * later drops its event rather than write beside it; two laps later
 * the record is taken over.
 */
START_TEST(test_dead_writer)
{
	struct shm_events_ctl *ctl = shm_events_ctl(&shm);
	struct shm_events_cursor cur;
	struct shm_event ev;
	uint64_t lost = 0;

	/* Sequence 0 claimed, its record taken, never published. */
	atomic_store(&ctl->head, 1);
	atomic_store(record_word(0), 1);
	/* One lap later: the same record, dropped. */
	atomic_store(&ctl->head, SHM_EVENTS);
	event_make(&ev, 4, 1);
	ck_assert_int_eq(shm_event_write(&shm, &ev), CT_DECLINED);
	ck_assert_uint_eq(atomic_load(&ctl->dropped), 1);
	ck_assert_uint_eq(atomic_load(record_word(0)), 1);
	/* Two laps later: taken over. */
	atomic_store(&ctl->head, 2 * SHM_EVENTS);
	event_make(&ev, 4, 2);
	ck_assert_int_eq(shm_event_write(&shm, &ev), CT_OK);
	ck_assert_uint_eq(atomic_load(record_word(0)), 4 * SHM_EVENTS + 2);
	memset(&cur, 0, sizeof(cur));
	cur.next = 2 * SHM_EVENTS;
	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_OK);
	ck_assert_uint_eq(ev.status, 2);
	ck_assert(event_whole(&ev));
}
END_TEST

/* A writer a lap behind never overwrites the newer event already in its record. */
START_TEST(test_late_writer)
{
	struct shm_events_ctl *ctl = shm_events_ctl(&shm);
	struct shm_events_cursor cur;
	struct shm_event ev;
	uint64_t lost = 0;

	atomic_store(&ctl->head, SHM_EVENTS);
	write_ok(5, 1);                                 /* sequence SHM_EVENTS */
	/* A writer of sequence 0 that was slow to take its record. */
	ck_assert_uint_gt(atomic_load(record_word(0)), 1);
	atomic_store(&ctl->head, 0);
	event_make(&ev, 5, 0);
	ck_assert_int_eq(shm_event_write(&shm, &ev), CT_DECLINED);
	memset(&cur, 0, sizeof(cur));
	cur.next = SHM_EVENTS;
	atomic_store(&ctl->head, SHM_EVENTS + 1);
	ck_assert_int_eq(shm_events_next(&shm, &cur, 0, &ev, &lost), CT_OK);
	ck_assert_uint_eq(ev.status, 1);
}
END_TEST

#define WRITERS 4
#define PER_WRITER 40000

/*
 * Forks the writers; each writes its PER_WRITER events, with a short
 * spin between two when paced (so that a reader following reads most
 * records while others are being written), else as fast as it can.
 */
static void
writers_start(pid_t *pids, int paced)
{
	volatile unsigned spin;
	struct shm_event ev;
	unsigned w, i;

	for (w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		ck_assert_int_ne(pids[w], -1);
		if (pids[w] == 0) {
			for (i = 0; i < PER_WRITER; i++) {
				event_make(&ev, w, i);
				(void)shm_event_write(&shm, &ev);
				for (spin = 0; paced && spin < 2000; spin++)
					continue;
			}
			_exit(0);
		}
	}
}

static int
writers_done(pid_t *pids, int *left)
{
	unsigned w;
	int st;

	for (w = 0; w < WRITERS; w++) {
		if (pids[w] > 0 && waitpid(pids[w], &st, WNOHANG) == pids[w]) {
			ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
			pids[w] = 0;
			(*left)--;
		}
	}
	return *left == 0;
}

/*
 * Reads everything until the writers are done and the ring is read to
 * its head; checks each record and each writer's order.  follow: read
 * while they write; else only once they are done.
 */
static void
writers_read(int follow, uint64_t *nread, uint64_t *lost)
{
	struct shm_events_cursor cur = { 0, 0, 0 };
	int64_t last[WRITERS];
	pid_t pids[WRITERS];
	struct shm_event ev;
	int left = WRITERS, rc;
	unsigned w;

	for (w = 0; w < WRITERS; w++)
		last[w] = -1;
	*nread = *lost = 0;
	writers_start(pids, follow);
	if (!follow)
		while (!writers_done(pids, &left))
			usleep(1000);
	for (;;) {
		rc = shm_events_next(&shm, &cur, ev_clock_ms(), &ev, lost);
		if (rc == CT_OK) {
			ck_assert_msg(event_whole(&ev), "a torn record at seq %llu",
			    (unsigned long long)ev.seq);
			w = (unsigned)(ev.id >> 32);
			ck_assert_uint_lt(w, WRITERS);
			ck_assert_int_gt((int64_t)(uint32_t)ev.id, last[w]);
			last[w] = (int64_t)(uint32_t)ev.id;
			(*nread)++;
			continue;
		}
		if (writers_done(pids, &left) && cur.next == shm_events_head(&shm))
			break;
	}
	ck_assert_uint_eq(shm_events_head(&shm), (uint64_t)WRITERS * PER_WRITER);
	ck_assert_uint_eq(*nread + *lost, (uint64_t)WRITERS * PER_WRITER);
	ck_assert_uint_ge(*lost, atomic_load(&shm_events_ctl(&shm)->dropped));
}

START_TEST(test_writers_follow)
{
	uint64_t nread, lost;

	writers_read(1, &nread, &lost);
	ck_assert_uint_gt(nread, 0);
}
END_TEST

/* A reader that comes after the writers finds the last ring's worth, and counts the rest. */
START_TEST(test_writers_late_reader)
{
	uint64_t nread, lost;

	writers_read(0, &nread, &lost);
	ck_assert_uint_le(nread, SHM_EVENTS);
	ck_assert_uint_ge(lost, (uint64_t)WRITERS * PER_WRITER - SHM_EVENTS);
	/* What it did not read of the last ring was never published there. */
	ck_assert_uint_ge(nread + atomic_load(&shm_events_ctl(&shm)->dropped), SHM_EVENTS);
}
END_TEST

Suite *
suite_events(void)
{
	Suite *s = suite_create("events");
	TCase *tc;

	tc = tcase_create("ring");
	tcase_add_checked_fixture(tc, events_setup, events_teardown);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_text_cut);
	tcase_add_test(tc, test_cursor_at_head);
	tcase_add_test(tc, test_lap_lost);
	tcase_add_test(tc, test_stuck_skipped);
	tcase_add_test(tc, test_dead_writer);
	tcase_add_test(tc, test_late_writer);
	suite_add_tcase(s, tc);

	tc = tcase_create("writers");
	tcase_add_checked_fixture(tc, events_setup, events_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_writers_follow);
	tcase_add_test(tc, test_writers_late_reader);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * The shared segment: header, allocator bounds, stable-id slots, worker
 * records and their connection tables, latency histograms, and a lock
 * recovered from a process that died holding it.
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "lib/addr.h"
#include "lib/ct.h"
#include "shm/backend.h"
#include "shm/stats.h"
#include "t/unit/suites.h"

static struct shm shm;

static void
shm_setup(void)
{
	memset(&shm, 0, sizeof(shm));
	shm.fd = -1;
	ck_assert_int_eq(shm_create(&shm, SHM_MIN_SIZE), CT_OK);
}

static void
shm_teardown(void)
{
	shm_destroy(&shm);
}

static struct addr
shm_test_addr(const char *s)
{
	struct addr a;
	const char *why;

	ck_assert_int_eq(addr_parse(s, 0, &a, &why), CT_OK);
	return a;
}

START_TEST(header_is_laid_out)
{
	struct shm_header *h = shm_header(&shm);

	ck_assert(h->magic == SHM_MAGIC);
	ck_assert_int_eq(h->version, SHM_VERSION);
	ck_assert_uint_eq(h->size, SHM_MIN_SIZE);
	ck_assert_uint_ne(h->backends_off, 0);
	ck_assert_uint_lt(h->backends_off, h->size);
}
END_TEST

START_TEST(too_small_refused)
{
	struct shm s2;

	memset(&s2, 0, sizeof(s2));
	s2.fd = -1;
	ck_assert_int_eq(shm_create(&s2, SHM_MIN_SIZE - 1), CT_ERROR);
}
END_TEST

START_TEST(alloc_until_full)
{
	uint64_t off, last = 0;
	int n = 0;

	while ((off = shm_alloc(&shm, 4000)) != 0) {
		ck_assert_uint_eq(off % 8, 0);
		ck_assert_uint_gt(off, last);
		ck_assert_uint_le(off + 4000, shm.size);
		last = off;
		n++;
	}
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(shm_alloc(&shm, 1 << 20), 0);
}
END_TEST

START_TEST(backend_slots_by_stable_id)
{
	struct addr a = shm_test_addr("127.0.0.1:9001");
	struct addr b = shm_test_addr("[::1]:9001");
	int i1, i2, i3, i4;

	i1 = shm_backend_acquire(&shm, "app", (struct sockaddr *)&a.ss, a.len, 2);
	i2 = shm_backend_acquire(&shm, "app", (struct sockaddr *)&b.ss, b.len, 1);
	i3 = shm_backend_acquire(&shm, "other", (struct sockaddr *)&a.ss, a.len, 1);
	ck_assert_int_ge(i1, 0);
	ck_assert_int_ne(i1, i2);
	ck_assert_int_ne(i1, i3);
	atomic_store(&shm_backend_get(&shm, i1)->total, 42);
	/* the same server again (a reload) keeps its slot and counters */
	i4 = shm_backend_acquire(&shm, "app", (struct sockaddr *)&a.ss, a.len, 3);
	ck_assert_int_eq(i4, i1);
	ck_assert_uint_eq(atomic_load(&shm_backend_get(&shm, i4)->total), 42);
	ck_assert_uint_eq(shm_backend_get(&shm, i4)->weight, 3);
	/* a released slot is reused with fresh counters */
	shm_backend_release(&shm, i1);
	i4 = shm_backend_acquire(&shm, "new", (struct sockaddr *)&a.ss, a.len, 1);
	ck_assert_int_eq(i4, i1);
	ck_assert_uint_eq(atomic_load(&shm_backend_get(&shm, i4)->total), 0);
}
END_TEST

START_TEST(backend_table_full)
{
	struct addr a = shm_test_addr("127.0.0.1:1");
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;
	int i;

	for (i = 0; i < SHM_BACKENDS_MAX; i++) {
		sin->sin_port = htons((uint16_t)(i + 1));
		ck_assert_int_eq(shm_backend_acquire(&shm, "u", (struct sockaddr *)&a.ss, a.len, 1), i);
	}
	sin->sin_port = htons(65000);
	ck_assert_int_eq(shm_backend_acquire(&shm, "u", (struct sockaddr *)&a.ss, a.len, 1), -1);
}
END_TEST

START_TEST(upstream_slots)
{
	int a = shm_upstream_acquire(&shm, "app");
	int b = shm_upstream_acquire(&shm, "api");
	char longname[SHM_NAME_LEN + 1];

	ck_assert_int_ge(a, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(shm_upstream_acquire(&shm, "app"), a);
	memset(longname, 'x', SHM_NAME_LEN);
	longname[SHM_NAME_LEN] = '\0';
	ck_assert_int_eq(shm_upstream_acquire(&shm, longname), -1);
}
END_TEST

/* A child dies holding the allocator lock; the next allocation still works. */
START_TEST(robust_lock_recovered)
{
	struct shm_header *h = shm_header(&shm);
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		pthread_mutex_lock(&h->alloc_lock);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_uint_ne(shm_alloc(&shm, 64), 0);
	ck_assert_uint_ne(shm_alloc(&shm, 64), 0);
}
END_TEST

START_TEST(listener_slots_by_name)
{
	int a = shm_listener_acquire(&shm, "web");
	int b = shm_listener_acquire(&shm, "tcp");
	struct shm_listener *l = shm_listener_get(&shm, a);

	ck_assert_int_ge(a, 0);
	ck_assert_int_ne(a, b);
	atomic_fetch_add(&l->accepted, 5);
	/* a reload finds the same slot and the counters in it */
	ck_assert_int_eq(shm_listener_acquire(&shm, "web"), a);
	ck_assert_uint_eq(atomic_load(&shm_listener_get(&shm, a)->accepted), 5);
	ck_assert_str_eq(shm_listener_get(&shm, b)->name, "tcp");
}
END_TEST

START_TEST(worker_records_reuse_their_table)
{
	int a = shm_worker_acquire(&shm, 1, 0, 100);
	int b = shm_worker_acquire(&shm, 1, 1, 100);
	struct shm_worker *w = shm_worker_get(&shm, a);
	struct shm_conn *t = shm_worker_conns(&shm, w);
	uint64_t used = shm_header(&shm)->alloc_next;

	ck_assert_int_ge(a, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(atomic_load(&w->pid), -1);   /* taken before fork */
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(w->nconns, 100);
	atomic_store(&t[99].id, 42);
	shm_worker_release(&shm, a);
	ck_assert_int_eq(atomic_load(&w->pid), 0);
	/* the next worker gets the same record and table, wiped, no new space */
	ck_assert_int_eq(shm_worker_acquire(&shm, 2, 0, 50), a);
	ck_assert_ptr_eq(shm_worker_conns(&shm, w), t);
	ck_assert_uint_eq(w->nconns, 50);
	ck_assert_uint_eq(w->generation, 2);
	ck_assert_uint_eq(atomic_load(&t[49].id), 0);
	ck_assert_uint_eq(shm_header(&shm)->alloc_next, used);
	/* a bigger one needs a new table */
	shm_worker_release(&shm, a);
	ck_assert_int_eq(shm_worker_acquire(&shm, 3, 0, 200), a);
	ck_assert_ptr_ne(shm_worker_conns(&shm, w), t);
	ck_assert_uint_gt(shm_header(&shm)->alloc_next, used);
}
END_TEST

START_TEST(worker_table_that_does_not_fit)
{
	int a = shm_worker_acquire(&shm, 1, 0, 1000000);   /* 64 MB in a 4 MB segment */

	ck_assert_int_ge(a, 0);
	ck_assert_ptr_null(shm_worker_conns(&shm, shm_worker_get(&shm, a)));
	ck_assert_uint_eq(shm_worker_get(&shm, a)->nconns, 0);
}
END_TEST

START_TEST(worker_records_run_out)
{
	int i;

	for (i = 0; i < SHM_WORKERS_MAX; i++)
		ck_assert_int_eq(shm_worker_acquire(&shm, 1, (unsigned)i, 16), i);
	ck_assert_int_eq(shm_worker_acquire(&shm, 1, 0, 16), -1);
	shm_worker_release(&shm, 7);
	ck_assert_int_eq(shm_worker_acquire(&shm, 1, 0, 16), 7);
}
END_TEST

START_TEST(conn_ids_unique_and_not_zero)
{
	uint64_t a = shm_conn_id_next(&shm), b = shm_conn_id_next(&shm);

	ck_assert_uint_ne(a, 0);
	ck_assert_uint_eq(b, a + 1);
}
END_TEST

START_TEST(histogram_buckets)
{
	struct shm_hist h;
	uint64_t sum = 0;
	size_t i;

	memset(&h, 0, sizeof(h));
	shm_hist_add(&h, 0);            /* <= 1 ms */
	shm_hist_add(&h, 1000);         /* a bound belongs to its own bucket */
	shm_hist_add(&h, 1001);         /* <= 2.5 ms */
	shm_hist_add(&h, 10000000);     /* <= 10 s, the last bound */
	shm_hist_add(&h, 10000001);     /* +Inf */
	ck_assert_uint_eq(atomic_load(&h.bucket[0]), 2);
	ck_assert_uint_eq(atomic_load(&h.bucket[1]), 1);
	ck_assert_uint_eq(atomic_load(&h.bucket[SHM_HIST_BOUNDS - 1]), 1);
	ck_assert_uint_eq(atomic_load(&h.bucket[SHM_HIST_BOUNDS]), 1);
	for (i = 0; i <= SHM_HIST_BOUNDS; i++)
		sum += atomic_load(&h.bucket[i]);
	ck_assert_uint_eq(sum, 5);
	ck_assert_uint_eq(atomic_load(&h.sum_us), 20002002);
}
END_TEST

Suite *
suite_shm(void)
{
	Suite *s = suite_create("shm");
	TCase *tc = tcase_create("segment");

	tcase_add_checked_fixture(tc, shm_setup, shm_teardown);
	tcase_add_test(tc, header_is_laid_out);
	tcase_add_test(tc, too_small_refused);
	tcase_add_test(tc, alloc_until_full);
	tcase_add_test(tc, backend_slots_by_stable_id);
	tcase_add_test(tc, backend_table_full);
	tcase_add_test(tc, upstream_slots);
	tcase_add_test(tc, robust_lock_recovered);
	tcase_add_test(tc, listener_slots_by_name);
	tcase_add_test(tc, worker_records_reuse_their_table);
	tcase_add_test(tc, worker_table_that_does_not_fit);
	tcase_add_test(tc, worker_records_run_out);
	tcase_add_test(tc, conn_ids_unique_and_not_zero);
	tcase_add_test(tc, histogram_buckets);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * The shared segment: header and its check, the allocator (classes,
 * runs, reuse, fragmentation, full), the directory of tables, stable-id
 * slots and their references, worker records and their connection
 * tables, sequence-counted text, latency histograms, and a lock
 * recovered from a process that died holding it.
 */
#include <errno.h>
#include <stdio.h>
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
	ck_assert_uint_ne(shm_table(&shm, SHM_TABLE_BACKENDS)->off, 0);
	ck_assert_uint_lt(shm_table(&shm, SHM_TABLE_BACKENDS)->off, h->size);
	ck_assert_str_eq(shm_table(&shm, SHM_TABLE_LISTENERS)->name, "listeners");
	ck_assert_uint_eq(shm_table(&shm, SHM_TABLE_UPSTREAMS)->count, SHM_UPSTREAMS_MAX);
	ck_assert_int_eq(shm_check(shm.base, shm.size, "test"), CT_OK);
}
END_TEST

/* Each header field that shm_check() guards, spoilt in turn, is refused. */
START_TEST(header_check_refuses)
{
	struct shm_header *h = shm_header(&shm);
	struct shm_header saved = *h;

	h->magic ^= 1;
	ck_assert_int_eq(shm_check(shm.base, shm.size, "test"), CT_ERROR);
	*h = saved;
	h->version = SHM_VERSION - 1;
	ck_assert_int_eq(shm_check(shm.base, shm.size, "test"), CT_ERROR);
	*h = saved;
	h->header_size += 8;
	ck_assert_int_eq(shm_check(shm.base, shm.size, "test"), CT_ERROR);
	*h = saved;
	ck_assert_int_eq(shm_check(shm.base, shm.size - SHM_PAGE, "test"), CT_ERROR);
	h->tables[SHM_TABLE_WORKERS].count = 1u << 30;
	ck_assert_int_eq(shm_check(shm.base, shm.size, "test"), CT_ERROR);
	*h = saved;
	ck_assert_int_eq(shm_check(shm.base, 16, "test"), CT_ERROR);
	ck_assert_int_eq(shm_check(NULL, 0, "test"), CT_ERROR);
	ck_assert_int_eq(shm_check(shm.base, shm.size, "test"), CT_OK);
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

static uint64_t
shm_test_used(void)
{
	struct shm_usage u;

	shm_usage_get(&shm, &u);
	return u.used;
}

START_TEST(alloc_until_full)
{
	uint64_t off, last = 0, offs[1024], base = shm_test_used();
	struct shm_usage u;
	int n = 0, total, again = 0;

	while ((off = shm_alloc(&shm, 4000)) != 0) {
		ck_assert_uint_eq(off % SHM_PAGE, 0);
		ck_assert_uint_gt(off, last);
		ck_assert_uint_le(off + 4000, shm.size);
		ck_assert_int_lt(n, 1024);
		offs[n++] = last = off;
	}
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(shm_alloc(&shm, 1 << 20), 0);
	ck_assert_uint_eq(shm_alloc(&shm, 64), 0);
	shm_usage_get(&shm, &u);
	ck_assert_uint_eq(u.failures, 3);
	ck_assert_uint_eq(u.used, u.heap);
	total = n;
	/* all given back: the same room again, and the use where it began */
	while (n > 0)
		shm_free(&shm, offs[--n]);
	ck_assert_uint_eq(shm_test_used(), base);
	while (shm_alloc(&shm, 4000) != 0)
		again++;
	ck_assert_int_eq(again, total);
	ck_assert_uint_eq(u.heap - base, (uint64_t)again * SHM_PAGE);
}
END_TEST

START_TEST(alloc_size_classes)
{
	static const size_t len[] = { 1, 8, 64, 65, 200, 1000, 2048 };
	static const size_t want[] = { 64, 64, 64, 128, 256, 1024, 2048 };
	uint64_t base = shm_test_used(), off;
	struct shm_usage u;
	size_t i;

	for (i = 0; i < CT_NELEM(len); i++) {
		off = shm_alloc(&shm, len[i]);
		ck_assert_uint_ne(off, 0);
		ck_assert_uint_eq(off % want[i], 0);
		ck_assert_uint_eq(shm_test_used(), base + want[i]);
		shm_free(&shm, off);
		ck_assert_uint_eq(shm_test_used(), base);
	}
	off = shm_alloc(&shm, 2049);        /* past the classes: a page */
	ck_assert_uint_eq(off % SHM_PAGE, 0);
	ck_assert_uint_eq(shm_test_used(), base + SHM_PAGE);
	shm_free(&shm, off);
	shm_usage_get(&shm, &u);
	ck_assert_uint_eq(u.allocs - u.frees, SHM_TABLE_IDS);     /* the tables only */
}
END_TEST

/* A freed block is the next one handed out, zeroed. */
START_TEST(alloc_reuses_freed)
{
	uint64_t a = shm_alloc(&shm, 100), b = shm_alloc(&shm, 100), c;

	ck_assert_uint_ne(a, b);
	memset(shm_ptr(&shm, b), 0xab, 100);
	shm_free(&shm, b);
	c = shm_alloc(&shm, 100);
	ck_assert_uint_eq(c, b);
	ck_assert_uint_eq(((unsigned char *)shm_ptr(&shm, c))[99], 0);
	a = shm_alloc(&shm, 3 * SHM_PAGE);
	shm_free(&shm, a);
	ck_assert_uint_eq(shm_alloc(&shm, 2 * SHM_PAGE), a);
}
END_TEST

/*
 * Small blocks spread over many slab pages, then freed, leave whole
 * pages again; runs freed apart from each other join up again for a
 * larger run.
 */
START_TEST(alloc_fragmentation)
{
	/* 8 runs: what the smallest segment has room for beside its tables. */
	static uint64_t small[4096], runs[8];
	uint64_t base = shm_test_used(), big;
	struct shm_usage u;
	int i, nsmall = 0, nruns = 0;

	while (nsmall < 4096 && (small[nsmall] = shm_alloc(&shm, 64)) != 0)
		nsmall++;
	ck_assert_int_eq(nsmall, 4096);            /* 64 slab pages */
	while (nruns < 8 && (runs[nruns] = shm_alloc(&shm, 2 * SHM_PAGE)) != 0)
		nruns++;
	ck_assert_int_eq(nruns, 8);
	for (i = 0; i < nsmall; i++)
		shm_free(&shm, small[i]);
	shm_usage_get(&shm, &u);
	ck_assert_uint_eq(u.class_used[0], 0);
	ck_assert_uint_eq(u.used, base + (uint64_t)nruns * 2 * SHM_PAGE);
	/* the 64 slab pages are free pages again: a run of 64 fits in them */
	big = shm_alloc(&shm, 64 * SHM_PAGE);
	ck_assert_uint_ne(big, 0);
	ck_assert_uint_lt(big, runs[0]);
	shm_free(&shm, big);
	/* every other run freed: 2-page holes, no 4-page run among them */
	for (i = 0; i < nruns; i += 2)
		shm_free(&shm, runs[i]);
	big = shm_alloc(&shm, 4 * SHM_PAGE);
	ck_assert_uint_ne(big, 0);
	ck_assert(big < runs[0] || big > runs[nruns - 1]);
	shm_free(&shm, big);
	/* and the rest: one free stretch, where the first run began */
	for (i = 1; i < nruns; i += 2)
		shm_free(&shm, runs[i]);
	ck_assert_uint_eq(shm_test_used(), base);
	big = shm_alloc(&shm, 100 * SHM_PAGE);
	ck_assert_uint_le(big, runs[0]);
}
END_TEST

START_TEST(free_of_a_bad_offset_is_ignored)
{
	uint64_t a = shm_alloc(&shm, 64), r = shm_alloc(&shm, 3 * SHM_PAGE);
	uint64_t used = shm_test_used();

	shm_free(&shm, a + 8);              /* inside a block */
	shm_free(&shm, r + SHM_PAGE);       /* inside a run */
	shm_free(&shm, 8);                  /* the header */
	shm_free(&shm, shm.size - 64);      /* never handed out */
	ck_assert_uint_eq(shm_test_used(), used);
	shm_free(&shm, a);
	shm_free(&shm, a);                  /* twice */
	ck_assert_uint_eq(shm_test_used(), used - 64);
	shm_free(&shm, r);
	shm_free(&shm, r);
	ck_assert_uint_eq(shm_test_used(), used - 64 - 3 * SHM_PAGE);
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
	/* held twice (two generations): the first release keeps it */
	shm_backend_release(&shm, i1);
	ck_assert_int_eq(shm_backend_acquire(&shm, "new", (struct sockaddr *)&a.ss, a.len, 1),
	    i1 + 3);
	ck_assert_uint_eq(atomic_load(&shm_backend_get(&shm, i1)->total), 42);
	/* the last one frees it: reused with fresh counters */
	shm_backend_release(&shm, i1);
	ck_assert_uint_eq(atomic_load(&shm_backend_get(&shm, i1)->total), 0);
	i4 = shm_backend_acquire(&shm, "newer", (struct sockaddr *)&a.ss, a.len, 1);
	ck_assert_int_eq(i4, i1);
	ck_assert_uint_eq(atomic_load(&shm_backend_get(&shm, i4)->total), 0);
	ck_assert_str_eq(shm_backend_get(&shm, i4)->upstream, "newer");
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
		pthread_mutex_lock(&h->heap.lock);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_uint_ne(shm_alloc(&shm, 64), 0);
	ck_assert_uint_ne(shm_alloc(&shm, 64), 0);
}
END_TEST

/*
 * A lock that can no longer be recovered (a recoverer died, or unlocked
 * it without making it consistent) is refused, not pretended held: the
 * allocator fails instead of taking pages without its lock.
 */
START_TEST(unrecoverable_lock_refused)
{
	struct shm_header *h = shm_header(&shm);
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		pthread_mutex_lock(&h->heap.lock);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(pthread_mutex_lock(&h->heap.lock), EOWNERDEAD);
	pthread_mutex_unlock(&h->heap.lock);        /* not made consistent: lost */
	ck_assert_int_eq(shm_mutex_lock(&h->heap.lock, "test"), CT_ERROR);
	ck_assert_uint_eq(shm_alloc(&shm, 64), 0);
}
END_TEST

START_TEST(listener_slots_by_name)
{
	int a = shm_listener_acquire(&shm, "web");
	int b = shm_listener_acquire(&shm, "tcp");
	struct shm_listener *l = shm_listener_get(&shm, a);
	char name[SHM_NAME_LEN];

	ck_assert_int_ge(a, 0);
	ck_assert_int_ne(a, b);
	atomic_fetch_add(&l->accepted, 5);
	/* a reload finds the same slot and the counters in it */
	ck_assert_int_eq(shm_listener_acquire(&shm, "web"), a);
	ck_assert_uint_eq(atomic_load(&shm_listener_get(&shm, a)->accepted), 5);
	ck_assert_str_eq(shm_listener_get(&shm, b)->name, "tcp");
	ck_assert_int_eq(shm_named_read(&shm, SHM_TABLE_LISTENERS, b, name), 1);
	ck_assert_str_eq(name, "tcp");
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_LISTENERS)->used), 2);
}
END_TEST

/*
 * A slot lives while some generation holds it: names that come and go
 * forever (a rename per reload) never fill the table.
 */
START_TEST(named_slots_released_by_the_last_holder)
{
	char name[SHM_NAME_LEN];
	int i, prev = -1, cur, kept = shm_upstream_acquire(&shm, "kept");

	atomic_store(&shm_upstream_get(&shm, kept)->rr_next, 7);
	for (i = 0; i < 4 * SHM_UPSTREAMS_MAX; i++) {
		snprintf(name, sizeof(name), "up-%d", i);
		cur = shm_upstream_acquire(&shm, name);         /* the new generation */
		ck_assert_int_ge(cur, 0);
		ck_assert_int_eq(shm_upstream_acquire(&shm, "kept"), kept);
		if (prev >= 0)                                  /* the old one finished */
			shm_upstream_release(&shm, prev);
		shm_upstream_release(&shm, kept);
		prev = cur;
	}
	ck_assert_uint_eq(atomic_load(&shm_upstream_get(&shm, kept)->rr_next), 7);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_UPSTREAMS)->used), 2);
	shm_upstream_release(&shm, prev);
	ck_assert_int_eq(shm_named_read(&shm, SHM_TABLE_UPSTREAMS, prev, name), 0);
	ck_assert_str_eq(name, "");
	ck_assert_str_eq(shm_upstream_get(&shm, prev)->name, "");
	/* one release too many is logged and changes nothing */
	shm_upstream_release(&shm, prev);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_UPSTREAMS)->used), 1);
}
END_TEST

START_TEST(worker_records_free_their_table)
{
	uint64_t used = shm_test_used();
	int a = shm_worker_acquire(&shm, 1, 0, 100, 0, 0);
	int b = shm_worker_acquire(&shm, 1, 1, 100, 0, 0);
	struct shm_worker *w = shm_worker_get(&shm, a);
	struct shm_conn *t = shm_worker_conns(&shm, w);
	int i;

	ck_assert_int_ge(a, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(atomic_load(&w->pid), -1);   /* taken before fork */
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(w->nconns, 100);
	ck_assert_uint_eq(shm_test_used(), used + 2 * 2 * SHM_PAGE);
	atomic_store(&t[99].id, 42);
	shm_worker_release(&shm, a);
	ck_assert_int_eq(atomic_load(&w->pid), 0);
	ck_assert_uint_eq(w->conns_off, 0);
	ck_assert_uint_eq(shm_test_used(), used + 2 * SHM_PAGE);
	/* the next worker gets a wiped table, whatever its size */
	ck_assert_int_eq(shm_worker_acquire(&shm, 2, 0, 50, 0, 0), a);
	ck_assert_uint_eq(w->nconns, 50);
	ck_assert_uint_eq(w->generation, 2);
	ck_assert_uint_eq(atomic_load(&shm_worker_conns(&shm, w)[49].id), 0);
	/* respawns of every size, forever: the use stays where it was */
	for (i = 0; i < 10000; i++) {
		shm_worker_release(&shm, a);
		ck_assert_int_eq(shm_worker_acquire(&shm, 3, 0, (unsigned)(1 + i % 300), 0, 0), a);
	}
	shm_worker_release(&shm, a);
	shm_worker_release(&shm, a);                  /* twice: nothing more */
	shm_worker_release(&shm, b);
	ck_assert_uint_eq(shm_test_used(), used);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_WORKERS)->used), 0);
}
END_TEST

START_TEST(worker_records_tls_table)
{
	uint64_t used = shm_test_used();
	int a = shm_worker_acquire(&shm, 1, 0, 100, 1, 0);
	int b = shm_worker_acquire(&shm, 1, 1, 100, 0, 0);
	struct shm_worker *w = shm_worker_get(&shm, a);

	ck_assert_int_ge(a, 0);
	ck_assert_ptr_nonnull(shm_worker_conns_tls(&shm, w));
	ck_assert_ptr_null(shm_worker_conns_tls(&shm, shm_worker_get(&shm, b)));
	ck_assert_uint_gt(shm_test_used(), used + 2 * 2 * SHM_PAGE);
	shm_worker_release(&shm, a);
	ck_assert_uint_eq(w->tls_off, 0);
	shm_worker_release(&shm, b);
	ck_assert_uint_eq(shm_test_used(), used);
}
END_TEST

/* Destinations: a table of their own, only where asked, freed with the record. */
START_TEST(worker_records_dest_table)
{
	uint64_t used = shm_test_used();
	int a = shm_worker_acquire(&shm, 1, 0, 100, 0, 1);
	int b = shm_worker_acquire(&shm, 1, 1, 100, 0, 0);
	struct shm_worker *w = shm_worker_get(&shm, a);

	ck_assert_int_ge(a, 0);
	ck_assert_ptr_nonnull(shm_worker_conns_dest(&shm, w));
	ck_assert_ptr_null(shm_worker_conns_tls(&shm, w));
	ck_assert_ptr_null(shm_worker_conns_dest(&shm, shm_worker_get(&shm, b)));
	shm_worker_release(&shm, a);
	ck_assert_uint_eq(w->dest_off, 0);
	shm_worker_release(&shm, b);
	ck_assert_uint_eq(shm_test_used(), used);
}
END_TEST

START_TEST(worker_table_that_does_not_fit)
{
	int a = shm_worker_acquire(&shm, 1, 0, 1000000, 0, 0);   /* 64 MB in a 4 MB segment */

	ck_assert_int_ge(a, 0);
	ck_assert_ptr_null(shm_worker_conns(&shm, shm_worker_get(&shm, a)));
	ck_assert_uint_eq(shm_worker_get(&shm, a)->nconns, 0);
}
END_TEST

START_TEST(worker_records_run_out)
{
	int i;

	for (i = 0; i < SHM_WORKERS_MAX; i++)
		ck_assert_int_eq(shm_worker_acquire(&shm, 1, (unsigned)i, 16, 0, 0), i);
	ck_assert_int_eq(shm_worker_acquire(&shm, 1, 0, 16, 0, 0), -1);
	shm_worker_release(&shm, 7);
	ck_assert_int_eq(shm_worker_acquire(&shm, 1, 0, 16, 0, 0), 7);
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

START_TEST(text_read_and_write)
{
	struct shm_text t;
	char out[SHM_TEXT_LEN], longer[200];

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(shm_text_read(&t, out), CT_OK);
	ck_assert_str_eq(out, "");
	shm_text_write(&t, "connect: Connection refused");
	ck_assert_int_eq(shm_text_read(&t, out), CT_OK);
	ck_assert_str_eq(out, "connect: Connection refused");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	shm_text_write(&t, longer);
	ck_assert_int_eq(shm_text_read(&t, out), CT_OK);
	ck_assert_uint_eq(strlen(out), SHM_TEXT_LEN - 1);
	shm_text_write(&t, "short");
	ck_assert_int_eq(shm_text_read(&t, out), CT_OK);
	ck_assert_str_eq(out, "short");
	/* a writer that died mid-write: the reader gives up, empty-handed */
	atomic_fetch_add(&t.seq, 1);
	ck_assert_int_eq(shm_text_read(&t, out), CT_AGAIN);
	ck_assert_str_eq(out, "");
}
END_TEST

/*
 * A child rewrites the text as fast as it can, with texts of one letter
 * each and of different lengths; every read here is one whole text.
 */
START_TEST(text_never_torn)
{
	struct shm_text *t = shm_ptr(&shm, shm_alloc(&shm, sizeof(*t)));
	char out[SHM_TEXT_LEN], a[SHM_TEXT_LEN], b[20];
	int i, ok = 0, status;
	size_t n;
	pid_t pid;

	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memset(b, 'b', sizeof(b) - 1);
	b[sizeof(b) - 1] = '\0';
	shm_text_write(t, a);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		for (i = 0; i < 2000000; i++)
			shm_text_write(t, i % 2 ? a : b);
		_exit(0);
	}
	for (i = 0; i < 200000; i++) {
		if (shm_text_read(t, out) != CT_OK)
			continue;
		n = strlen(out);
		ck_assert(strcmp(out, a) == 0 || strcmp(out, b) == 0);
		ck_assert(n == strlen(a) || n == strlen(b));
		ok++;
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_gt(ok, 0);
}
END_TEST

Suite *
suite_shm(void)
{
	Suite *s = suite_create("shm");
	TCase *tc = tcase_create("segment");

	tcase_add_checked_fixture(tc, shm_setup, shm_teardown);
	tcase_add_test(tc, header_is_laid_out);
	tcase_add_test(tc, unrecoverable_lock_refused);
	tcase_add_test(tc, header_check_refuses);
	tcase_add_test(tc, too_small_refused);
	tcase_add_test(tc, alloc_until_full);
	tcase_add_test(tc, alloc_size_classes);
	tcase_add_test(tc, alloc_reuses_freed);
	tcase_add_test(tc, alloc_fragmentation);
	tcase_add_test(tc, free_of_a_bad_offset_is_ignored);
	tcase_add_test(tc, backend_slots_by_stable_id);
	tcase_add_test(tc, backend_table_full);
	tcase_add_test(tc, upstream_slots);
	tcase_add_test(tc, robust_lock_recovered);
	tcase_add_test(tc, listener_slots_by_name);
	tcase_add_test(tc, named_slots_released_by_the_last_holder);
	tcase_add_test(tc, worker_records_free_their_table);
	tcase_add_test(tc, worker_records_tls_table);
	tcase_add_test(tc, worker_records_dest_table);
	tcase_add_test(tc, worker_table_that_does_not_fit);
	tcase_add_test(tc, worker_records_run_out);
	tcase_add_test(tc, conn_ids_unique_and_not_zero);
	tcase_add_test(tc, histogram_buckets);
	tcase_add_test(tc, text_read_and_write);
	tcase_add_test(tc, text_never_torn);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * Load balancing against a real shared segment: the weighted split,
 * interleaving, retries skipping tried servers, least_conn by weight.
 */
#include <string.h>

#include "lib/ct.h"
#include "shm/backend.h"
#include "t/unit/suites.h"
#include "worker/lb.h"

static struct shm shm;
static struct conf_server servers[4];
static struct conf_upstream up;

static void
lb_setup(void)
{
	static const char *const addrs[] = { "127.0.0.1:9001", "127.0.0.1:9002",
	    "127.0.0.1:9003", "[::1]:9004" };
	const char *why;
	size_t i;

	memset(&shm, 0, sizeof(shm));
	shm.fd = -1;
	ck_assert_int_eq(shm_create(&shm, 4 << 20), CT_OK);
	memset(servers, 0, sizeof(servers));
	for (i = 0; i < 4; i++) {
		servers[i].address = (char *)(uintptr_t)addrs[i];
		ck_assert_int_eq(addr_parse(addrs[i], 0, &servers[i].addr, &why), CT_OK);
		servers[i].weight = 1;
	}
	up.name = (char *)(uintptr_t)"app";
	up.servers = servers;
	up.balance = CONF_BALANCE_ROUND_ROBIN;
}

static void
lb_teardown(void)
{
	shm_destroy(&shm);
}

static void
lb_count(struct lb_upstream *u, int n, int *counts)
{
	struct lb_tried none;
	int i;

	memset(&none, 0, sizeof(none));
	for (i = 0; i < n; i++) {
		int s = lb_pick(u, &shm, &none);

		ck_assert_int_ge(s, 0);
		counts[s]++;
	}
}

START_TEST(rr_weights_exact)
{
	struct lb_upstream u;
	int counts[4] = { 0 };

	servers[0].weight = 2;
	servers[1].weight = 1;
	up.nservers = 2;
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	lb_count(&u, 300, counts);
	ck_assert_int_eq(counts[0], 200);
	ck_assert_int_eq(counts[1], 100);
	lb_upstream_free(&u);
}
END_TEST

/* Smooth: 5:1:1 interleaves as a a b a c a a, never five a's in a row. */
START_TEST(rr_smooth_interleave)
{
	struct lb_upstream u;
	static const int want[7] = { 0, 0, 1, 0, 2, 0, 0 };
	struct lb_tried none;
	int i;

	servers[0].weight = 5;
	up.nservers = 3;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	for (i = 0; i < 14; i++)
		ck_assert_int_eq(lb_pick(&u, &shm, &none), want[i % 7]);
	lb_upstream_free(&u);
}
END_TEST

/* Two "workers" sharing one counter split like one balancer. */
START_TEST(rr_shared_between_instances)
{
	struct lb_upstream a, b;
	struct lb_tried none;
	int counts[4] = { 0 }, i;

	servers[0].weight = 3;
	servers[1].weight = 1;
	up.nservers = 2;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&a, &up, &shm), CT_OK);
	ck_assert_int_eq(lb_upstream_init(&b, &up, &shm), CT_OK);
	ck_assert_int_eq(a.shm_idx, b.shm_idx);
	ck_assert_int_eq(a.backend[0], b.backend[0]);
	for (i = 0; i < 400; i++)
		counts[lb_pick(i % 3 ? &a : &b, &shm, &none)]++;
	ck_assert_int_eq(counts[0], 300);
	ck_assert_int_eq(counts[1], 100);
	lb_upstream_free(&a);
	lb_upstream_free(&b);
}
END_TEST

START_TEST(rr_retry_skips_tried)
{
	struct lb_upstream u;
	struct lb_tried tried;
	int s, i;

	up.nservers = 3;
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	memset(&tried, 0, sizeof(tried));
	for (i = 0; i < 3; i++) {
		s = lb_pick(&u, &shm, &tried);
		ck_assert_int_ge(s, 0);
		ck_assert(!lb_tried_has(&tried, s));
		lb_tried_add(&tried, s);
	}
	ck_assert_int_eq(lb_pick(&u, &shm, &tried), -1);
	lb_upstream_free(&u);
}
END_TEST

START_TEST(least_conn_by_weight)
{
	struct lb_upstream u;
	struct lb_tried none;
	int counts[4] = { 0 };

	up.balance = CONF_BALANCE_LEAST_CONN;
	up.nservers = 3;
	servers[2].weight = 2;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	atomic_store(&shm_backend_get(&shm, u.backend[0])->active, 5);
	atomic_store(&shm_backend_get(&shm, u.backend[1])->active, 2);
	atomic_store(&shm_backend_get(&shm, u.backend[2])->active, 5);  /* 2.5 per weight */
	ck_assert_int_eq(lb_pick(&u, &shm, &none), 1);
	atomic_store(&shm_backend_get(&shm, u.backend[1])->active, 3);  /* 3 > 2.5 */
	ck_assert_int_eq(lb_pick(&u, &shm, &none), 2);
	/* equal load: ties rotate instead of always taking the first */
	atomic_store(&shm_backend_get(&shm, u.backend[0])->active, 0);
	atomic_store(&shm_backend_get(&shm, u.backend[1])->active, 0);
	atomic_store(&shm_backend_get(&shm, u.backend[2])->active, 0);
	lb_count(&u, 30, counts);
	ck_assert_int_eq(counts[0], 10);
	ck_assert_int_eq(counts[1], 10);
	ck_assert_int_eq(counts[2], 10);
	lb_upstream_free(&u);
}
END_TEST

START_TEST(least_conn_skips_tried)
{
	struct lb_upstream u;
	struct lb_tried tried;

	up.balance = CONF_BALANCE_LEAST_CONN;
	up.nservers = 2;
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	atomic_store(&shm_backend_get(&shm, u.backend[0])->active, 0);
	atomic_store(&shm_backend_get(&shm, u.backend[1])->active, 9);
	memset(&tried, 0, sizeof(tried));
	lb_tried_add(&tried, 0);
	ck_assert_int_eq(lb_pick(&u, &shm, &tried), 1);
	lb_tried_add(&tried, 1);
	ck_assert_int_eq(lb_pick(&u, &shm, &tried), -1);
	lb_upstream_free(&u);
}
END_TEST

Suite *
suite_lb(void)
{
	Suite *s = suite_create("lb");
	TCase *tc = tcase_create("algorithms");

	tcase_add_checked_fixture(tc, lb_setup, lb_teardown);
	tcase_add_test(tc, rr_weights_exact);
	tcase_add_test(tc, rr_smooth_interleave);
	tcase_add_test(tc, rr_shared_between_instances);
	tcase_add_test(tc, rr_retry_skips_tried);
	tcase_add_test(tc, least_conn_by_weight);
	tcase_add_test(tc, least_conn_skips_tried);
	suite_add_tcase(s, tc);
	return s;
}

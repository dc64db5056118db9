/*
 * Load balancing against a real shared segment: the weighted split,
 * interleaving, retries skipping tried servers, least_conn by weight,
 * the random ones against their weights (fixed seed), least_time,
 * first, backups, server states, the hash ring, slow_start and
 * max_conns.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/ct.h"
#include "shm/backend.h"
#include "t/unit/suites.h"
#include "core/lb.h"

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
	ck_assert_int_eq(shm_create(&shm, SHM_MIN_SIZE), CT_OK);
	memset(&up, 0, sizeof(up));
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
		int s = lb_pick(u, &shm, &none, NULL, 0);

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
		ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), want[i % 7]);
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
		counts[lb_pick(i % 3 ? &a : &b, &shm, &none, NULL, 0)]++;
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
		s = lb_pick(&u, &shm, &tried, NULL, 0);
		ck_assert_int_ge(s, 0);
		ck_assert(!lb_tried_has(&tried, s));
		lb_tried_add(&tried, s);
	}
	ck_assert_int_eq(lb_pick(&u, &shm, &tried, NULL, 0), -1);
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
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 1);
	atomic_store(&shm_backend_get(&shm, u.backend[1])->active, 3);  /* 3 > 2.5 */
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 2);
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
	ck_assert_int_eq(lb_pick(&u, &shm, &tried, NULL, 0), 1);
	lb_tried_add(&tried, 1);
	ck_assert_int_eq(lb_pick(&u, &shm, &tried, NULL, 0), -1);
	lb_upstream_free(&u);
}
END_TEST


static struct shm_backend *
lb_be(const struct lb_upstream *u, int i)
{
	return shm_backend_get(&shm, u->backend[i]);
}

static uint64_t
lb_test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* counts[i] within 5% of n * weight / total, for servers 0..ns-1 */
static void
lb_assert_split(const int *counts, int n, const unsigned *w, size_t ns)
{
	unsigned total = 0;
	size_t i;

	for (i = 0; i < ns; i++)
		total += w[i];
	for (i = 0; i < ns; i++) {
		double want = (double)n * w[i] / total;

		ck_assert_msg(counts[i] > want * 0.95 && counts[i] < want * 1.05,
		    "server %zu: %d picks, want about %.0f", i, counts[i], want);
	}
}

START_TEST(random_weights)
{
	static const unsigned w[3] = { 1, 2, 3 };
	struct lb_upstream u;
	int counts[4] = { 0 };
	size_t i;

	up.balance = CONF_BALANCE_RANDOM;
	up.nservers = 3;
	for (i = 0; i < 3; i++)
		servers[i].weight = w[i];
	lb_rng_seed(42);
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	lb_count(&u, 30000, counts);
	lb_assert_split(counts, 30000, w, 3);
	lb_upstream_free(&u);
}
END_TEST

/* With no load at all, p2c keeps the weighted-random split. */
START_TEST(p2c_weights)
{
	static const unsigned w[3] = { 1, 2, 3 };
	struct lb_upstream u;
	int counts[4] = { 0 };
	size_t i;

	up.balance = CONF_BALANCE_P2C;
	up.nservers = 3;
	for (i = 0; i < 3; i++)
		servers[i].weight = w[i];
	lb_rng_seed(7);
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	lb_count(&u, 30000, counts);
	lb_assert_split(counts, 30000, w, 3);
	lb_upstream_free(&u);
}
END_TEST

/* Of the two candidates, the one with fewer active per weight wins. */
START_TEST(p2c_less_loaded)
{
	struct lb_upstream u;
	struct lb_tried none;
	int i;

	up.balance = CONF_BALANCE_P2C;
	up.nservers = 2;
	memset(&none, 0, sizeof(none));
	lb_rng_seed(1);
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	atomic_store(&lb_be(&u, 0)->active, 10);
	atomic_store(&lb_be(&u, 1)->active, 3);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 1);
	servers[1].weight = 4;     /* 3/4 < 10/1 still; now load 0 with 10 */
	atomic_store(&lb_be(&u, 1)->active, 20);   /* 20/4 = 5 < 10 */
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 1);
	lb_upstream_free(&u);
}
END_TEST

/* ewma_us * (active + 1) / weight, lowest wins. */
START_TEST(least_time_choice)
{
	struct lb_upstream u;
	struct lb_tried none;

	up.balance = CONF_BALANCE_LEAST_TIME;
	up.nservers = 3;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	atomic_store(&lb_be(&u, 0)->ewma_us, 1000);
	atomic_store(&lb_be(&u, 1)->ewma_us, 300);
	atomic_store(&lb_be(&u, 2)->ewma_us, 500);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 1);
	atomic_store(&lb_be(&u, 1)->active, 2);    /* 300 * 3 = 900 > 500 */
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 2);
	servers[0].weight = 4;                     /* 1000 / 4 = 250 */
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 0);
	lb_upstream_free(&u);
}
END_TEST

START_TEST(ewma_update)
{
	struct lb_upstream u;

	up.nservers = 1;
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	lb_observe(&u, &shm, 0, 800);
	ck_assert_uint_eq(atomic_load(&lb_be(&u, 0)->ewma_us), 800);
	lb_observe(&u, &shm, 0, 1600);
	ck_assert_uint_eq(atomic_load(&lb_be(&u, 0)->ewma_us), 900);
	lb_observe(&u, &shm, 0, 100);
	ck_assert_uint_eq(atomic_load(&lb_be(&u, 0)->ewma_us), 800);
	lb_upstream_free(&u);
}
END_TEST

START_TEST(first_and_failover)
{
	struct lb_upstream u;
	struct lb_tried none;

	up.balance = CONF_BALANCE_FIRST;
	up.nservers = 3;
	servers[1].weight = 9;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 0);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 0);
	shm_backend_health_set(lb_be(&u, 0), 0, 1);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 1);
	shm_backend_health_set(lb_be(&u, 0), 1, 2);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, NULL, 0), 0);
	lb_upstream_free(&u);
}
END_TEST

/* Each algorithm, with a weight-1 backup next to two primaries. */
static const enum conf_balance lb_all[] = {
	CONF_BALANCE_ROUND_ROBIN, CONF_BALANCE_LEAST_CONN, CONF_BALANCE_RANDOM,
	CONF_BALANCE_P2C, CONF_BALANCE_LEAST_TIME, CONF_BALANCE_FIRST,
	CONF_BALANCE_HASH,
};

static int
lb_pick_n(struct lb_upstream *u, int n, int *counts, int k)
{
	struct lb_tried none;
	char key[32];
	int i, s = -1;

	memset(&none, 0, sizeof(none));
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "key-%d-%d", k, i);
		s = lb_pick(u, &shm, &none, key, strlen(key));
		if (s >= 0)
			counts[s]++;
	}
	return s;
}

START_TEST(backup_only_when_primaries_down)
{
	struct lb_upstream u;
	int counts[4] = { 0 };

	up.balance = lb_all[_i];
	up.nservers = 3;
	servers[2].backup = 1;
	lb_rng_seed(3);
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	lb_pick_n(&u, 200, counts, 0);
	ck_assert_int_eq(counts[2], 0);
	ck_assert_int_eq(counts[0] + counts[1], 200);
	shm_backend_health_set(lb_be(&u, 0), 0, 1);
	memset(counts, 0, sizeof(counts));
	lb_pick_n(&u, 200, counts, 1);
	ck_assert_int_eq(counts[1], 200);
	shm_backend_admin_set(lb_be(&u, 1), SHM_BACKEND_ADMIN_DRAIN);
	memset(counts, 0, sizeof(counts));
	lb_pick_n(&u, 50, counts, 2);
	ck_assert_int_eq(counts[2], 50);
	shm_backend_health_set(lb_be(&u, 2), 0, 1);
	memset(counts, 0, sizeof(counts));
	ck_assert_int_eq(lb_pick_n(&u, 1, counts, 3), -1);
	/* a primary back: the backup is left at once */
	shm_backend_admin_set(lb_be(&u, 1), SHM_BACKEND_ADMIN_ENABLED);
	memset(counts, 0, sizeof(counts));
	lb_pick_n(&u, 50, counts, 4);
	ck_assert_int_eq(counts[1], 50);
	servers[2].backup = 0;
	lb_upstream_free(&u);
}
END_TEST

/* Down, drained and disabled servers are skipped, whatever the algorithm. */
START_TEST(states_skipped)
{
	struct lb_upstream u;
	int counts[4] = { 0 };

	up.balance = lb_all[_i];
	up.nservers = 4;
	lb_rng_seed(5);
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	shm_backend_health_set(lb_be(&u, 0), 0, 1);
	shm_backend_admin_set(lb_be(&u, 1), SHM_BACKEND_ADMIN_DRAIN);
	shm_backend_admin_set(lb_be(&u, 2), SHM_BACKEND_ADMIN_DISABLED);
	lb_pick_n(&u, 300, counts, 0);
	ck_assert_int_eq(counts[3], 300);
	/* admin changes keep health, and the other way round */
	shm_backend_admin_set(lb_be(&u, 0), SHM_BACKEND_ADMIN_DISABLED);
	shm_backend_health_set(lb_be(&u, 0), 1, 1);
	ck_assert(!shm_backend_usable(lb_be(&u, 0)));
	shm_backend_admin_set(lb_be(&u, 0), SHM_BACKEND_ADMIN_ENABLED);
	ck_assert(shm_backend_usable(lb_be(&u, 0)));
	lb_upstream_free(&u);
}
END_TEST

/*
 * A server at its max_conns is passed over by every algorithm, and
 * taken again once a connection of it ends; lb_admit() refuses a
 * connection past the cap (two workers picked the last room) and a
 * server without one never is.
 */
START_TEST(max_conns_skipped)
{
	struct lb_upstream u;
	int counts[4] = { 0 };
	const char key[] = "k";
	struct lb_tried none;
	int i;

	up.balance = lb_all[_i];
	up.nservers = 2;
	servers[0].max_conns.limit = 2;
	lb_rng_seed(9);
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	ck_assert_uint_eq(atomic_load(&lb_be(&u, 0)->conns_limit), 2);
	ck_assert_int_eq(lb_admit(&u, &shm, 0), CT_OK);
	ck_assert_int_eq(lb_admit(&u, &shm, 0), CT_OK);
	ck_assert_int_eq(lb_admit(&u, &shm, 0), CT_DECLINED);
	ck_assert_uint_eq(atomic_load(&lb_be(&u, 0)->active), 2);
	ck_assert_uint_eq(lb_capped(&u, &shm), 1);
	ck_assert_uint_eq(atomic_load(&lb_be(&u, 0)->capped), 1);
	lb_pick_n(&u, 200, counts, 0);
	ck_assert_int_eq(counts[1], 200);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, key, sizeof(key)), 1);
	/* full and the other server down: nothing, and it is the cap's doing */
	shm_backend_health_set(lb_be(&u, 1), 0, 1);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, key, sizeof(key)), -1);
	ck_assert_uint_eq(lb_capped(&u, &shm), 1);
	lb_release(&u, &shm, 0);
	ck_assert_int_eq(lb_pick(&u, &shm, &none, key, sizeof(key)), 0);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(lb_admit(&u, &shm, 1), CT_OK);
	ck_assert_uint_eq(atomic_load(&lb_be(&u, 1)->conns_limit), SHM_CONNS_UNLIMITED);
	lb_upstream_free(&u);
}
END_TEST

START_TEST(hash_stable)
{
	struct lb_upstream u, v;
	struct lb_tried none, tried;
	char key[32];
	int i, s;

	up.balance = CONF_BALANCE_HASH;
	up.nservers = 4;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	ck_assert_int_eq(lb_upstream_init(&v, &up, &shm), CT_OK);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "client-%d", i);
		s = lb_pick(&u, &shm, &none, key, strlen(key));
		ck_assert_int_ge(s, 0);
		ck_assert_int_eq(lb_pick(&u, &shm, &none, key, strlen(key)), s);
		ck_assert_int_eq(lb_pick(&v, &shm, &none, key, strlen(key)), s);
		/* a retry walks on to another server */
		memset(&tried, 0, sizeof(tried));
		lb_tried_add(&tried, s);
		ck_assert_int_ne(lb_pick(&u, &shm, &tried, key, strlen(key)), s);
	}
	lb_upstream_free(&u);
	lb_upstream_free(&v);
}
END_TEST

/*
 * Adding a fifth server to four moves about 1/5 of 10000 keys, all to
 * the new server; a hash modulo N would move 4/5.
 */
START_TEST(hash_ring_movement)
{
	static struct conf_server more[5];
	struct conf_upstream up5;
	struct lb_upstream u, v;
	struct lb_tried none;
	int i, moved = 0, a, b;
	const char *why;
	char key[32];

	up.balance = CONF_BALANCE_HASH;
	up.nservers = 4;
	memcpy(more, servers, sizeof(servers));
	more[4].address = (char *)(uintptr_t)"127.0.0.1:9005";
	more[4].weight = 1;
	ck_assert_int_eq(addr_parse(more[4].address, 0, &more[4].addr, &why), CT_OK);
	up5 = up;
	up5.name = (char *)(uintptr_t)"app5";
	up5.servers = more;
	up5.nservers = 5;
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	ck_assert_int_eq(lb_upstream_init(&v, &up5, &shm), CT_OK);
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
		a = lb_pick(&u, &shm, &none, key, strlen(key));
		b = lb_pick(&v, &shm, &none, key, strlen(key));
		if (a != b) {
			moved++;
			ck_assert_int_eq(b, 4);
		}
	}
	ck_assert_msg(moved > 1500 && moved < 2500, "%d of 10000 keys moved", moved);
	lb_upstream_free(&u);
	lb_upstream_free(&v);
}
END_TEST

/* Weights hold on the ring too: 3:1 gets about 3/4 of the keys, within 5 points. */
START_TEST(hash_weights)
{
	static const unsigned w[2] = { 3, 1 };
	struct lb_upstream u;
	int counts[4] = { 0 };

	up.balance = CONF_BALANCE_HASH;
	up.nservers = 2;
	servers[0].weight = 3;
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	lb_pick_n(&u, 20000, counts, 9);
	/* a ring of 640 points is coarser than a random draw: 5 points */
	ck_assert_msg(counts[0] > 14000 && counts[0] < 16000, "%d:%d", counts[0], counts[1]);
	(void)w;
	lb_upstream_free(&u);
}
END_TEST

START_TEST(hash_keys)
{
	const char *cookie = "a=1; sid=\"xyz\"; other=2";
	struct addr a4, a4b, a6;
	const void *k1, *k2;
	size_t n1, n2;
	const char *why, *v;

	ck_assert_int_eq(addr_parse("192.0.2.1:1000", 0, &a4, &why), CT_OK);
	ck_assert_int_eq(addr_parse("192.0.2.1:2000", 0, &a4b, &why), CT_OK);
	ck_assert_int_eq(addr_parse("[2001:db8::1]:3", 0, &a6, &why), CT_OK);
	k1 = lb_key_addr((struct sockaddr *)&a4.ss, &n1);
	k2 = lb_key_addr((struct sockaddr *)&a4b.ss, &n2);
	ck_assert_uint_eq(n1, 4);
	ck_assert_mem_eq(k1, k2, 4);     /* the port is not part of it */
	lb_key_addr((struct sockaddr *)&a6.ss, &n1);
	ck_assert_uint_eq(n1, 16);
	v = lb_cookie_find(cookie, strlen(cookie), "sid", &n1);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(n1, 3);
	ck_assert_mem_eq(v, "xyz", 3);
	v = lb_cookie_find(cookie, strlen(cookie), "other", &n1);
	ck_assert_ptr_nonnull(v);
	ck_assert_mem_eq(v, "2", 1);
	ck_assert_ptr_null(lb_cookie_find(cookie, strlen(cookie), "s", &n1));
	ck_assert_ptr_null(lb_cookie_find("", 0, "a", &n1));
}
END_TEST

/* The weight ramps with elapsed / slow_start, never below 1/1024. */
START_TEST(slow_start_ramp)
{
	struct lb_upstream u;
	int counts[4] = { 0 };
	uint64_t now = lb_test_now_ms();

	up.balance = CONF_BALANCE_RANDOM;
	up.slow_start_ms = 10000;
	up.nservers = 2;
	servers[0].weight = 4;
	servers[1].weight = 4;
	ck_assert_int_eq(lb_upstream_init(&u, &up, &shm), CT_OK);
	atomic_store(&lb_be(&u, 1)->up_since_ms, 1000);
	ck_assert_uint_eq(lb_weight(&u, &shm, 0, 1000), 4 * LB_WEIGHT_SCALE);  /* up since start */
	ck_assert_uint_eq(lb_weight(&u, &shm, 1, 1000), 1);
	ck_assert_uint_eq(lb_weight(&u, &shm, 1, 3500), LB_WEIGHT_SCALE);      /* 1/4 of 4 */
	ck_assert_uint_eq(lb_weight(&u, &shm, 1, 6000), 2 * LB_WEIGHT_SCALE);
	ck_assert_uint_eq(lb_weight(&u, &shm, 1, 11000), 4 * LB_WEIGHT_SCALE);
	ck_assert_uint_eq(lb_weight(&u, &shm, 1, 99000), 4 * LB_WEIGHT_SCALE);
	/* down then up now: a quarter of the way in 2.5s */
	shm_backend_health_set(lb_be(&u, 1), 0, 0);
	shm_backend_health_set(lb_be(&u, 1), 1, now - 2500);
	lb_rng_seed(11);
	lb_count(&u, 20000, counts);
	/* 4 : 1 in weight, about 20% to the ramping server (clock moves a little) */
	ck_assert_msg(counts[1] > 3000 && counts[1] < 5000, "%d:%d", counts[0], counts[1]);
	/* round_robin takes its turns with the same probability */
	up.balance = CONF_BALANCE_ROUND_ROBIN;
	memset(counts, 0, sizeof(counts));
	lb_count(&u, 20000, counts);
	ck_assert_msg(counts[1] > 2000 && counts[1] < 4000, "%d:%d", counts[0], counts[1]);
	up.slow_start_ms = 0;
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
	tcase_add_test(tc, random_weights);
	tcase_add_test(tc, p2c_weights);
	tcase_add_test(tc, p2c_less_loaded);
	tcase_add_test(tc, least_time_choice);
	tcase_add_test(tc, ewma_update);
	tcase_add_test(tc, first_and_failover);
	tcase_add_loop_test(tc, backup_only_when_primaries_down, 0, (int)CT_NELEM(lb_all));
	tcase_add_loop_test(tc, states_skipped, 0, (int)CT_NELEM(lb_all));
	tcase_add_loop_test(tc, max_conns_skipped, 0, (int)CT_NELEM(lb_all));
	tcase_add_test(tc, hash_stable);
	tcase_add_test(tc, hash_ring_movement);
	tcase_add_test(tc, hash_weights);
	tcase_add_test(tc, hash_keys);
	tcase_add_test(tc, slow_start_ramp);
	suite_add_tcase(s, tc);
	return s;
}

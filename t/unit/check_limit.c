/*
 * The zones of limits (shm/limit.c): GCRA's rate and burst, delay and
 * its turns, several takers of one key, keys that take the slot of the
 * least recently used one, caps on connections, and the log interval;
 * and what a zone of scope cluster adds: the shared hash key, the
 * counts the master takes, and the charge of others' events.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "shm/limit.h"
#include "t/unit/suites.h"

static struct shm shm;

static void
limit_setup(void)
{
	ck_assert_int_eq(shm_create(&shm, SHM_MIN_SIZE), CT_OK);
}

static void
limit_teardown(void)
{
	shm_destroy(&shm);
}

#define MS UINT64_C(1000000)

static struct shm_limit_slot *
slot_of(struct shm_limit *l, const char *key, uint64_t now_ms)
{
	return shm_limit_find(&shm, l, shm_limit_hash(l, key, strlen(key)), key, now_ms);
}

START_TEST(gcra_rate_and_burst)
{
	int idx = shm_limit_acquire(&shm, "r", 64 << 10, 0);
	struct shm_limit *l = shm_limit_get(&shm, idx);
	struct shm_limit_slot *s = slot_of(l, "k", 1);
	uint64_t wait, left, now = 1000 * MS;
	int i, passed = 0;

	ck_assert_ptr_nonnull(s);
	/* 10/s (100 ms apart), burst 3: 4 at once, then one per 100 ms. */
	for (i = 0; i < 10; i++)
		passed += shm_limit_take(s, now, 100 * MS, 1, 3, 0, &wait, &left) == SHM_LIMIT_PASS;
	ck_assert_int_eq(passed, 4);
	ck_assert_int_eq(shm_limit_take(s, now, 100 * MS, 1, 3, 0, &wait, &left), SHM_LIMIT_REJECT);
	ck_assert_uint_eq(wait, 100 * MS);
	ck_assert_uint_eq(left, 0);
	ck_assert_int_eq(shm_limit_take(s, now + 100 * MS, 100 * MS, 1, 3, 0, &wait, &left),
	    SHM_LIMIT_PASS);
	ck_assert_int_eq(shm_limit_take(s, now + 100 * MS, 100 * MS, 1, 3, 0, &wait, &left),
	    SHM_LIMIT_REJECT);
	/* After a long pause the whole burst is back. */
	ck_assert_int_eq(shm_limit_take(s, now + 10000 * MS, 100 * MS, 1, 3, 0, &wait, &left),
	    SHM_LIMIT_PASS);
	ck_assert_uint_eq(left, 3);
	shm_limit_release(&shm, idx);
}
END_TEST

START_TEST(gcra_delay_turns)
{
	int idx = shm_limit_acquire(&shm, "d", 64 << 10, 0);
	struct shm_limit *l = shm_limit_get(&shm, idx);
	struct shm_limit_slot *s = slot_of(l, "k", 1);
	uint64_t wait, left, now = 1000 * MS;
	int i;

	ck_assert_int_eq(shm_limit_take(s, now, 200 * MS, 1, 5, 1, &wait, &left), SHM_LIMIT_PASS);
	for (i = 1; i <= 5; i++) {
		ck_assert_int_eq(shm_limit_take(s, now, 200 * MS, 1, 5, 1, &wait, &left),
		    SHM_LIMIT_DELAY);
		ck_assert_uint_eq(wait, (uint64_t)i * 200 * MS);
	}
	ck_assert_int_eq(shm_limit_take(s, now, 200 * MS, 1, 5, 1, &wait, &left), SHM_LIMIT_REJECT);
	ck_assert_uint_eq(atomic_load(&s->hits), 6);
	shm_limit_release(&shm, idx);
}
END_TEST

START_TEST(gcra_cost_is_bytes)
{
	int idx = shm_limit_acquire(&shm, "b", 64 << 10, 0);
	struct shm_limit_slot *s = slot_of(shm_limit_get(&shm, idx), "k", 1);
	uint64_t wait, left, now = 1000 * MS;

	/* 1000 bytes/s (1 ms a byte), burst of 500 bytes: 400 pass, then 400 more wait. */
	ck_assert_int_eq(shm_limit_take(s, now, MS, 400, 500, 1, &wait, &left), SHM_LIMIT_PASS);
	ck_assert_int_eq(shm_limit_take(s, now, MS, 400, 500, 1, &wait, &left), SHM_LIMIT_DELAY);
	ck_assert_uint_eq(wait, 400 * MS);
	shm_limit_release(&shm, idx);
}
END_TEST

/*
 * Every byte of a key has its say, at every length the loads of the
 * hash treat apart (1..3, 4..7, 8..16 and beyond), and no byte after the
 * key is read: each key is an allocation of its own length, for ASan.
 */
START_TEST(hash_every_byte_counts)
{
	int idx = shm_limit_acquire(&shm, "h", 64 << 10, 0);
	struct shm_limit *l = shm_limit_get(&shm, idx);
	unsigned char *key;
	uint64_t h0, h;
	size_t len, i;

	for (len = 0; len <= 40; len++) {
		ck_assert_ptr_nonnull(key = malloc(len > 0 ? len : 1));
		memset(key, 'k', len);
		h0 = shm_limit_hash(l, key, len);
		ck_assert_uint_ne(h0, 0);
		for (i = 0; i < len; i++) {
			key[i] ^= 1;
			h = shm_limit_hash(l, key, len);
			ck_assert_msg(h != h0, "byte %zu of %zu makes no difference", i, len);
			key[i] ^= 1;
		}
		/* The same bytes with one more: the length counts as well. */
		if (len > 0)
			ck_assert_uint_ne(shm_limit_hash(l, key, len - 1), h0);
		free(key);
	}
	shm_limit_release(&shm, idx);
}
END_TEST

START_TEST(keys_hash_apart_and_evict)
{
	int idx = shm_limit_acquire(&shm, "e", 64 << 10, 0);
	struct shm_limit *l = shm_limit_get(&shm, idx);
	struct shm_limit_slot *a, *b;
	char k[32];
	int i;

	ck_assert_uint_eq(l->nslots, (64 << 10) / 64);
	ck_assert_uint_ne(shm_limit_hash(l, "ab", 2), shm_limit_hash(l, "ba", 2));
	a = slot_of(l, "alice", 1);
	b = slot_of(l, "alice", 2);
	ck_assert_ptr_eq(a, b);
	ck_assert_str_eq(a->text, "alice");
	/* Ten times the slots in keys: the zone keeps its size and counts evictions. */
	for (i = 0; i < 10240; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_ptr_nonnull(slot_of(l, k, (uint64_t)(10 + i)));
	}
	ck_assert_uint_ge(atomic_load(&l->evicted), 10240 - 1024);
	shm_limit_release(&shm, idx);
}
END_TEST

START_TEST(eviction_spares_held_connections)
{
	int idx = shm_limit_acquire(&shm, "c", 64 << 10, 0);
	struct shm_limit *l = shm_limit_get(&shm, idx);
	struct shm_limit_slot *s = slot_of(l, "held", 1);
	uint64_t h = shm_limit_hash(l, "held", 4);
	char k[32];
	int i;

	ck_assert_int_eq(shm_limit_conn_take(s, 2), CT_OK);
	ck_assert_int_eq(shm_limit_conn_take(s, 2), CT_OK);
	ck_assert_int_eq(shm_limit_conn_take(s, 2), CT_ERROR);
	for (i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		(void)slot_of(l, k, (uint64_t)(10 + i));
	}
	/* Its bucket had fresher keys, but none without connections ever lost to it. */
	ck_assert_uint_eq(atomic_load(&s->key), h);
	ck_assert_uint_eq(atomic_load(&s->conns), 2);
	shm_limit_conn_release(s, h);
	ck_assert_uint_eq(atomic_load(&s->conns), 1);
	/* A release for a key that lost the slot changes nothing. */
	shm_limit_conn_release(s, h + 1);
	ck_assert_uint_eq(atomic_load(&s->conns), 1);
	shm_limit_release(&shm, idx);
}
END_TEST

START_TEST(log_once_per_interval)
{
	int idx = shm_limit_acquire(&shm, "g", 64 << 10, 0);
	struct shm_limit_slot *s = slot_of(shm_limit_get(&shm, idx), "k", 1);

	ck_assert(shm_limit_log_due(s, 5000, 1000));
	ck_assert(!shm_limit_log_due(s, 5500, 1000));
	ck_assert(shm_limit_log_due(s, 6000, 1000));
	shm_limit_release(&shm, idx);
}
END_TEST

START_TEST(zones_by_name_and_size)
{
	int a = shm_limit_acquire(&shm, "z", 64 << 10, 0);
	int b = shm_limit_acquire(&shm, "z", 64 << 10, 0);
	int c = shm_limit_acquire(&shm, "z", 128 << 10, 0);

	/* A reload that keeps name and size keeps the zone; another size is another zone. */
	ck_assert_int_eq(a, b);
	ck_assert_int_ne(a, c);
	ck_assert_int_eq(shm_limit_acquire(&shm, "huge", UINT64_C(1) << 40, 0), -1);
	shm_limit_release(&shm, a);
	ck_assert_uint_ne(shm_limit_get(&shm, a)->zone_off, 0);
	shm_limit_release(&shm, b);
	ck_assert_uint_eq(shm_limit_get(&shm, a)->zone_off, 0);
	shm_limit_release(&shm, c);
}
END_TEST

/* A cluster zone is another zone than a local one of the same name and size. */
START_TEST(cluster_zone_apart)
{
	int a = shm_limit_acquire(&shm, "s", 64 << 10, 0);
	int b = shm_limit_acquire(&shm, "s", 64 << 10, 1);

	ck_assert_int_ne(a, b);
	ck_assert_uint_eq(shm_limit_get(&shm, a)->cluster_off, 0);
	ck_assert_uint_ne(shm_limit_get(&shm, b)->cluster_off, 0);
	ck_assert_uint_eq(atomic_load(&shm_limit_get(&shm, b)->share), 1);
	shm_limit_release(&shm, a);
	shm_limit_release(&shm, b);
	ck_assert_uint_eq(shm_limit_get(&shm, b)->cluster_off, 0);
}
END_TEST

/* Two zones (two nodes) hash a key alike once they share a key, and only then. */
START_TEST(cluster_hash_shared)
{
	int a = shm_limit_acquire(&shm, "x", 64 << 10, 1);
	int b = shm_limit_acquire(&shm, "y", 64 << 10, 1);
	struct shm_limit *za = shm_limit_get(&shm, a), *zb = shm_limit_get(&shm, b);
	const uint64_t k[2] = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	int shared;

	ck_assert_uint_ne(shm_limit_chash(za, "10.0.0.1", 8, &shared),
	    shm_limit_chash(zb, "10.0.0.1", 8, &shared));
	ck_assert_int_eq(shared, 0);
	ck_assert_uint_eq(shm_limit_chash(za, "10.0.0.1", 8, &shared),
	    shm_limit_hash(za, "10.0.0.1", 8));
	shm_limit_ckey_set(za, k);
	shm_limit_ckey_set(zb, k);
	ck_assert_uint_eq(shm_limit_chash(za, "10.0.0.1", 8, &shared),
	    shm_limit_chash(zb, "10.0.0.1", 8, &shared));
	ck_assert_int_eq(shared, 1);
	ck_assert_uint_eq(atomic_load(&za->ckey_seq), 2);
	/* The same key again changes nothing. */
	shm_limit_ckey_set(za, k);
	ck_assert_uint_eq(atomic_load(&za->ckey_seq), 2);
	shm_limit_release(&shm, a);
	shm_limit_release(&shm, b);
}
END_TEST

/* Counts go to the master once, a round at a time, bounded; a local zone counts nothing. */
START_TEST(cluster_count_and_drain)
{
	int idx = shm_limit_acquire(&shm, "n", 64 << 10, 1), loc = shm_limit_acquire(&shm, "n", 64 << 10, 0);
	struct shm_limit *l = shm_limit_get(&shm, idx);
	struct shm_limit_slot *s1 = slot_of(l, "one", 1), *s2 = slot_of(l, "two", 1);
	struct shm_limit_taken t[4];
	size_t cursor = 0, n, i;

	for (i = 0; i < 3; i++)
		shm_limit_count(&shm, l, s1);
	shm_limit_count(&shm, l, s2);
	shm_limit_count(&shm, shm_limit_get(&shm, loc), slot_of(shm_limit_get(&shm, loc), "z", 1));
	/* Room for one: the other waits for the next take. */
	ck_assert_uint_eq(shm_limit_drain(&shm, l, &cursor, 1000, t, 1), 1);
	n = shm_limit_drain(&shm, l, &cursor, 1000, t + 1, 3);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(t[0].count + t[1].count, 4);
	ck_assert(t[0].key == atomic_load(&s1->key) || t[1].key == atomic_load(&s1->key));
	ck_assert(t[0].key == atomic_load(&s2->key) || t[1].key == atomic_load(&s2->key));
	ck_assert_uint_eq(shm_limit_drain(&shm, l, &cursor, 1000, t, 4), 0);
	shm_limit_count(&shm, l, s2);
	ck_assert_uint_eq(shm_limit_drain(&shm, l, &cursor, 1000, t, 4), 1);
	ck_assert_uint_eq(t[0].count, 1);
	ck_assert_uint_eq(shm_limit_drain(&shm, shm_limit_get(&shm, loc), &cursor, 1000, t, 4), 0);
	shm_limit_release(&shm, idx);
	shm_limit_release(&shm, loc);
}
END_TEST

/* Others' events move a key's GCRA on from when they came, not from now. */
START_TEST(cluster_charge)
{
	int idx = shm_limit_acquire(&shm, "q", 64 << 10, 1);
	struct shm_limit_slot *s = slot_of(shm_limit_get(&shm, idx), "k", 1);
	uint64_t wait, left, now = 1000 * MS;

	/* 10/s, no burst: 5 events elsewhere 500 ms ago are spent by now. */
	shm_limit_charge(s, now - 500 * MS, 5 * 100 * MS);
	ck_assert_int_eq(shm_limit_take(s, now, 100 * MS, 1, 0, 0, &wait, &left), SHM_LIMIT_PASS);
	/* 5 more elsewhere just now: the key waits 500 ms after its own. */
	shm_limit_charge(s, now, 5 * 100 * MS);
	ck_assert_int_eq(shm_limit_take(s, now + 100 * MS, 100 * MS, 1, 0, 0, &wait, &left),
	    SHM_LIMIT_REJECT);
	ck_assert_uint_eq(wait, 500 * MS);
	ck_assert_int_eq(shm_limit_take(s, now + 600 * MS, 100 * MS, 1, 0, 0, &wait, &left),
	    SHM_LIMIT_PASS);
	/* A charge beyond any time saturates, never wraps to the past. */
	shm_limit_charge(s, now, UINT64_MAX);
	shm_limit_charge(s, now, UINT64_MAX);
	ck_assert_uint_ge(atomic_load(&s->tat), UINT64_MAX / 4);
	ck_assert_int_eq(shm_limit_take(s, now, 100 * MS, 1, 0, 0, &wait, &left), SHM_LIMIT_REJECT);
	shm_limit_release(&shm, idx);
}
END_TEST

Suite *
suite_limit(void)
{
	Suite *s = suite_create("limit");
	TCase *tc = tcase_create("zones");

	tcase_add_checked_fixture(tc, limit_setup, limit_teardown);
	tcase_add_test(tc, gcra_rate_and_burst);
	tcase_add_test(tc, gcra_delay_turns);
	tcase_add_test(tc, gcra_cost_is_bytes);
	tcase_add_test(tc, hash_every_byte_counts);
	tcase_add_test(tc, keys_hash_apart_and_evict);
	tcase_add_test(tc, eviction_spares_held_connections);
	tcase_add_test(tc, log_once_per_interval);
	tcase_add_test(tc, zones_by_name_and_size);
	tcase_add_test(tc, cluster_zone_apart);
	tcase_add_test(tc, cluster_hash_shared);
	tcase_add_test(tc, cluster_count_and_drain);
	tcase_add_test(tc, cluster_charge);
	suite_add_tcase(s, tc);
	return s;
}

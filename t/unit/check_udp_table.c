/*
 * worker/udp_table.c: sessions found by listener, address and port,
 * IPv4 apart from IPv6, entries that collide in a bucket, removal from
 * the middle of a chain.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/ct.h"
#include "worker/udp_table.h"
#include "t/unit/sockaddr.h"
#include "t/unit/suites.h"

static const uint64_t seed[2] = { UINT64_C(0x0123456789abcdef), UINT64_C(0xfedcba9876543210) };

/* Adds e under (listener, sa); returns the key's hash. */
static uint64_t
add(struct udp_table *t, struct udp_entry *e, size_t listener, const void *sa)
{
	struct udp_key k;
	uint64_t h;

	ck_assert_int_eq(udp_key_set(&k, listener, sa), CT_OK);
	h = udp_table_hash(t, &k);
	ck_assert_ptr_null(udp_table_find(t, &k, h));
	udp_table_add(t, e, &k, h);
	return h;
}

static struct udp_entry *
find(const struct udp_table *t, size_t listener, const void *sa)
{
	struct udp_key k;

	ck_assert_int_eq(udp_key_set(&k, listener, sa), CT_OK);
	return udp_table_find(t, &k, udp_table_hash(t, &k));
}

START_TEST(udp_table_keys_apart)
{
	struct sockaddr_in a = sa_v4("127.0.0.1", 5000), b = sa_v4("127.0.0.1", 5001),
	    c = sa_v4("127.0.0.2", 5000);
	struct sockaddr_in6 d = sa_v6("::1", 5000), m = sa_v6("::ffff:127.0.0.1", 5000);
	struct udp_entry e[5];
	struct udp_table t;

	ck_assert_int_eq(udp_table_init(&t, 8, seed), CT_OK);
	add(&t, &e[0], 0, &a);
	add(&t, &e[1], 0, &b);
	add(&t, &e[2], 0, &c);
	add(&t, &e[3], 0, &d);
	add(&t, &e[4], 1, &a);
	ck_assert_uint_eq(t.n, 5);
	ck_assert_ptr_eq(find(&t, 0, &a), &e[0]);
	ck_assert_ptr_eq(find(&t, 0, &b), &e[1]);
	ck_assert_ptr_eq(find(&t, 0, &c), &e[2]);
	ck_assert_ptr_eq(find(&t, 0, &d), &e[3]);
	ck_assert_ptr_eq(find(&t, 1, &a), &e[4]);
	/* A mapped IPv4 address on an IPv6 socket is another client. */
	ck_assert_ptr_null(find(&t, 0, &m));
	/* So is one link-local address on another interface. */
	{
		struct sockaddr_in6 l1 = sa_v6("fe80::1", 5000), l2 = l1;
		struct udp_entry f;

		l1.sin6_scope_id = 1;
		l2.sin6_scope_id = 2;
		add(&t, &f, 0, &l1);
		ck_assert_ptr_eq(find(&t, 0, &l1), &f);
		ck_assert_ptr_null(find(&t, 0, &l2));
		udp_table_del(&t, &f);
	}
	ck_assert_ptr_null(find(&t, 2, &a));
	udp_table_free(&t);
}
END_TEST

/* Many entries in 16 buckets: chains are long, and each removal keeps the rest. */
START_TEST(udp_table_chains)
{
	struct udp_entry e[200];
	struct sockaddr_in a[200];
	struct udp_table t;
	size_t i;

	ck_assert_int_eq(udp_table_init(&t, 1, seed), CT_OK);
	ck_assert_uint_eq(t.mask, 15);
	for (i = 0; i < 200; i++) {
		a[i] = sa_v4("10.0.0.1", 1000 + (unsigned)i);
		add(&t, &e[i], 0, &a[i]);
	}
	for (i = 0; i < 200; i += 2)
		udp_table_del(&t, &e[i]);
	ck_assert_uint_eq(t.n, 100);
	for (i = 0; i < 200; i++)
		ck_assert_ptr_eq(find(&t, 0, &a[i]), i % 2 ? &e[i] : NULL);
	for (i = 1; i < 200; i += 2)
		udp_table_del(&t, &e[i]);
	ck_assert_uint_eq(t.n, 0);
	for (i = 0; i <= t.mask; i++)
		ck_assert_ptr_null(t.buckets[i]);
	udp_table_free(&t);
}
END_TEST

START_TEST(udp_table_sizes)
{
	struct udp_table t;

	ck_assert_int_eq(udp_table_init(&t, 4096, seed), CT_OK);
	ck_assert_uint_eq(t.mask, 4095);
	udp_table_free(&t);
	ck_assert_int_eq(udp_table_init(&t, 4097, seed), CT_OK);
	ck_assert_uint_eq(t.mask, 8191);
	udp_table_free(&t);
}
END_TEST

/* The key under another seed hashes otherwise: the seed is in the hash. */
START_TEST(udp_table_seeded)
{
	static const uint64_t other[2] = { 1, 2 };
	struct sockaddr_in a = sa_v4("192.0.2.1", 53);
	struct udp_table t, u;
	struct udp_key k;

	ck_assert_int_eq(udp_table_init(&t, 16, seed), CT_OK);
	ck_assert_int_eq(udp_table_init(&u, 16, other), CT_OK);
	ck_assert_int_eq(udp_key_set(&k, 0, (const struct sockaddr *)&a), CT_OK);
	ck_assert_uint_ne(udp_table_hash(&t, &k), udp_table_hash(&u, &k));
	udp_table_free(&t);
	udp_table_free(&u);
}
END_TEST

START_TEST(udp_table_family)
{
	struct sockaddr sa;
	struct udp_key k;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert_int_eq(udp_key_set(&k, 0, &sa), CT_ERROR);
}
END_TEST

Suite *
suite_udp_table(void)
{
	Suite *s = suite_create("udp_table");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, udp_table_keys_apart);
	tcase_add_test(tc, udp_table_chains);
	tcase_add_test(tc, udp_table_sizes);
	tcase_add_test(tc, udp_table_seeded);
	tcase_add_test(tc, udp_table_family);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * ctl/admin_lockout.c: addresses as keys (IPv4, the /64 of IPv6, mapped
 * IPv4), a lockout at the limit and its end after the window, one
 * address apart from another, a pass that clears, the total of all
 * addresses and the trusted ones it spares, and a full table that gives
 * up what is least worth keeping but never a lock to a flood.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/admin_lockout.h"
#include "lib/ct.h"
#include "t/unit/sockaddr.h"
#include "t/unit/suites.h"

#define W 60000u            /* the window, ms */

static struct admin_lockout *
table(unsigned failures, unsigned total)
{
	struct conf_login login = { failures, total, W };
	struct admin_lockout *t = malloc(sizeof(*t));

	ck_assert_ptr_nonnull(t);
	admin_lockout_init(t, &login);
	return t;
}

static struct admin_lockout_key
key(const char *ip)
{
	struct admin_lockout_key k;
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	if (strchr(ip, ':') != NULL) {
		s6 = sa_v6(ip, 1);
		ck_assert_int_eq(admin_lockout_key_set(&k, (struct sockaddr *)&s6), CT_OK);
	} else {
		s4 = sa_v4(ip, 1);
		ck_assert_int_eq(admin_lockout_key_set(&k, (struct sockaddr *)&s4), CT_OK);
	}
	return k;
}

/* The address i (0 to 65535) of 10.0.0.0/16, as a key. */
static struct admin_lockout_key
nth(unsigned i)
{
	char ip[32];

	snprintf(ip, sizeof(ip), "10.0.%u.%u", i / 256, i % 256);
	return key(ip);
}

/* Is k in the table, locked at now? */
static int
locked(const struct admin_lockout *t, const struct admin_lockout_key *k, uint64_t now)
{
	size_t i;

	for (i = 0; i < ADMIN_LOCKOUT_SLOTS; i++)
		if (memcmp(&t->e[i].key, k, sizeof(*k)) == 0)
			return t->e[i].until > now;
	return 0;
}

static int
may(struct admin_lockout *t, const char *ip, uint64_t now)
{
	struct admin_lockout_key k = key(ip);
	uint64_t retry = 0;

	return admin_lockout_check(t, &k, now, &retry) == CT_OK;
}

static unsigned
wrong(struct admin_lockout *t, const char *ip, uint64_t now)
{
	struct admin_lockout_key k = key(ip);

	return admin_lockout_fail(t, &k, now);
}

START_TEST(lockout_keys)
{
	struct admin_lockout_key a = key("2001:db8:1:2::7"), b = key("2001:db8:1:2:ffff::1"),
	    c = key("2001:db8:1:3::7"), m = key("::ffff:192.0.2.7"), v4 = key("192.0.2.7");
	struct sockaddr s = { .sa_family = AF_UNIX };
	char buf[64];

	ck_assert_mem_eq(&a, &b, sizeof(a));
	ck_assert_mem_ne(&a, &c, sizeof(a));
	ck_assert_mem_eq(&m, &v4, sizeof(m));
	ck_assert_str_eq(admin_lockout_key_format(&a, buf, sizeof(buf)), "2001:db8:1:2::/64");
	ck_assert_str_eq(admin_lockout_key_format(&m, buf, sizeof(buf)), "192.0.2.7");
	ck_assert_int_eq(admin_lockout_key_set(&a, &s), CT_ERROR);
}
END_TEST

START_TEST(lockout_at_the_limit)
{
	struct admin_lockout *t = table(3, 50);
	struct admin_lockout_key k = key("192.0.2.7");
	uint64_t retry = 0;

	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1000), 0);
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 2000), 0);
	ck_assert(may(t, "192.0.2.7", 2500));
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 3000), ADMIN_LOCKOUT_ADDRESS);
	ck_assert_int_eq(admin_lockout_check(t, &k, 4000, &retry), CT_DECLINED);
	ck_assert_uint_eq(retry, W - 1000);
	/* Refusals do not lengthen the lock. */
	ck_assert(!may(t, "192.0.2.7", 3000 + W - 1));
	ck_assert(may(t, "192.0.2.7", 3000 + W));
	ck_assert_uint_eq(t->failed, 3);
	ck_assert_uint_eq(t->locked_address, 1);
	/* After the lock, a new window: one failure does not lock again. */
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 3000 + W), 0);
	ck_assert(may(t, "192.0.2.7", 3001 + W));
	free(t);
}
END_TEST

START_TEST(lockout_window_passes)
{
	struct admin_lockout *t = table(3, 50);

	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1000), 0);
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 2000), 0);
	/* The window that began at 1000 is over: this one starts another. */
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1000 + W), 0);
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1001 + W), 0);
	ck_assert(may(t, "192.0.2.7", 1002 + W));
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1002 + W), ADMIN_LOCKOUT_ADDRESS);
	free(t);
}
END_TEST

START_TEST(lockout_apart)
{
	struct admin_lockout *t = table(2, 50);

	(void)wrong(t, "192.0.2.7", 1000);
	(void)wrong(t, "192.0.2.7", 1000);
	ck_assert(!may(t, "192.0.2.7", 1000));
	ck_assert(may(t, "192.0.2.8", 1000));
	ck_assert(may(t, "2001:db8::1", 1000));
	(void)wrong(t, "2001:db8::1", 1000);
	(void)wrong(t, "2001:db8::2", 1000);
	ck_assert(!may(t, "2001:db8::ffff", 1000));
	ck_assert(may(t, "2001:db8:0:1::1", 1000));
	free(t);
}
END_TEST

START_TEST(lockout_pass_clears)
{
	struct admin_lockout *t = table(3, 50);
	struct admin_lockout_key k = key("192.0.2.7");

	(void)wrong(t, "192.0.2.7", 1000);
	(void)wrong(t, "192.0.2.7", 1000);
	admin_lockout_pass(t, &k, 1000);
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1000), 0);
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1000), 0);
	ck_assert_uint_eq(wrong(t, "192.0.2.7", 1000), ADMIN_LOCKOUT_ADDRESS);
	free(t);
}
END_TEST

START_TEST(lockout_total)
{
	struct admin_lockout *t = table(3, 10);
	struct admin_lockout_key op = key("192.0.2.1");
	unsigned i, began = 0;
	uint64_t retry = 0;

	admin_lockout_pass(t, &op, 500);
	for (i = 0; i < 10; i++) {
		struct admin_lockout_key k = nth(i);

		ck_assert_int_eq(admin_lockout_check(t, &k, 1000 + i, &retry), CT_OK);
		began = admin_lockout_fail(t, &k, 1000 + i);
	}
	ck_assert_uint_eq(began, ADMIN_LOCKOUT_ALL);
	ck_assert_uint_eq(t->locked_all, 1);
	/* Everyone is refused, a newcomer too, for a window... */
	ck_assert(!may(t, "10.0.0.0", 2000));
	ck_assert(!may(t, "192.0.2.99", 2000));
	ck_assert_int_eq(admin_lockout_check(t, &op, 1009, &retry), CT_OK);
	op = nth(42);
	ck_assert_int_eq(admin_lockout_check(t, &op, 1009, &retry), CT_DECLINED);
	ck_assert_uint_eq(retry, W);
	ck_assert(may(t, "192.0.2.99", 1009 + W));
	/* ...but an address that passed before, which keeps its own limit. */
	ck_assert(may(t, "192.0.2.1", 2000));
	(void)wrong(t, "192.0.2.1", 2000);
	(void)wrong(t, "192.0.2.1", 2000);
	ck_assert_uint_eq(wrong(t, "192.0.2.1", 2000), ADMIN_LOCKOUT_ADDRESS);
	ck_assert(!may(t, "192.0.2.1", 2000));
	/* Locked, it is trusted no more: the next lockout of all takes it in. */
	for (i = 10; i < 20; i++) {
		struct admin_lockout_key k = nth(i);

		began = admin_lockout_fail(t, &k, 2001 + W);
	}
	ck_assert_uint_eq(began, ADMIN_LOCKOUT_ALL);
	ck_assert(!may(t, "192.0.2.1", 2002 + W));
	free(t);
}
END_TEST

/* A full table gives up an entry that counts nothing now before one that counts. */
START_TEST(lockout_full_table)
{
	struct admin_lockout *t = table(100, 500);
	struct admin_lockout_key newcomer = key("192.0.2.7");
	uint64_t now = 0;
	unsigned i;

	for (i = 0; i < ADMIN_LOCKOUT_SLOTS; i++) {
		struct admin_lockout_key k = nth(i);

		/* 5 a second: never the total, and the first ones' windows end. */
		now = 1000 + 200 * (uint64_t)i;
		ck_assert_uint_eq(admin_lockout_fail(t, &k, now), 0);
	}
	ck_assert_uint_eq(admin_lockout_fail(t, &newcomer, now), 0);
	ck_assert_mem_eq(&t->e[0].key, &newcomer, sizeof(newcomer));
	/* The next one goes in place of the oldest that is left. */
	ck_assert_uint_eq(admin_lockout_fail(t, &newcomer, now), 0);
	ck_assert_uint_eq(t->e[0].failures, 2);
	newcomer = key("192.0.2.8");
	ck_assert_uint_eq(admin_lockout_fail(t, &newcomer, now), 0);
	ck_assert_mem_eq(&t->e[1].key, &newcomer, sizeof(newcomer));
	free(t);
}
END_TEST

/*
 * A guesser with as many addresses as it likes, failing as fast as it
 * is let, for the whole of a lock: the locked address stays locked.
 */
START_TEST(lockout_flood_keeps_locks)
{
	struct admin_lockout *t = table(5, CONF_LOGIN_TOTAL_MAX);
	struct admin_lockout_key victim = key("192.0.2.7"), k;
	uint64_t retry, now, tried = 0;
	unsigned i = 0;

	for (now = 0; now < 5; now++)
		(void)admin_lockout_fail(t, &victim, 1000 + now);
	ck_assert_int_eq(admin_lockout_check(t, &victim, 1005, &retry), CT_DECLINED);
	for (now = 1005; now < 1004 + W; now += 7) {
		k = nth(i++ % 60000);
		if (admin_lockout_check(t, &k, now, &retry) == CT_OK) {
			(void)admin_lockout_fail(t, &k, now);
			tried++;
		}
		ck_assert(locked(t, &victim, now));
	}
	ck_assert_uint_le(tried, 2 * CONF_LOGIN_TOTAL_MAX);
	ck_assert_uint_ge(t->locked_all, 1);
	ck_assert(!locked(t, &victim, 1004 + W));
	free(t);
}
END_TEST

Suite *
suite_lockout(void)
{
	Suite *s = suite_create("lockout");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, lockout_keys);
	tcase_add_test(tc, lockout_at_the_limit);
	tcase_add_test(tc, lockout_window_passes);
	tcase_add_test(tc, lockout_apart);
	tcase_add_test(tc, lockout_pass_clears);
	tcase_add_test(tc, lockout_total);
	tcase_add_test(tc, lockout_full_table);
	tcase_add_test(tc, lockout_flood_keeps_locks);
	suite_add_tcase(s, tc);
	return s;
}

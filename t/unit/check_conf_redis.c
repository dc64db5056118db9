/*
 * The "redis" section: defaults, every key and its dump, the copy and
 * comparison a reload uses, and each error at its position; and the
 * link's backoff (master/redis.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/ct.h"
#include "master/redis.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

#define RDS_UPS \
	"upstreams:\n" \
	"  u: {servers: [{address: 127.0.0.1:9}]}\n" \
	"listeners:\n" \
	"  - {name: web, listen: 127.0.0.1:8081, mode: tcp, upstream: u}\n"

static char pw_path[64], pw_open_path[64];

/* A password file readable by its owner only, and one its group may read. */
static void
rds_files(void)
{
	int fd;

	snprintf(pw_path, sizeof(pw_path), "/tmp/check-redis-pw-XXXXXX");
	snprintf(pw_open_path, sizeof(pw_open_path), "/tmp/check-redis-open-XXXXXX");
	ck_assert_int_ne(fd = mkstemp(pw_path), -1);
	ck_assert_int_eq(write(fd, "s3cret\nignored\n", 15), 15);
	close(fd);
	ck_assert_int_ne(fd = mkstemp(pw_open_path), -1);
	ck_assert_int_eq(write(fd, "s3cret\n", 7), 7);
	close(fd);
	ck_assert_int_eq(chmod(pw_path, 0600), 0);
	ck_assert_int_eq(chmod(pw_open_path, 0640), 0);
}

static void
rds_files_gone(void)
{
	unlink(pw_path);
	unlink(pw_open_path);
}

START_TEST(redis_standalone_by_default)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(RDS_UPS, &e);
	char *d;

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(c->redis.enabled, 0);
	d = conf_errs_dump(c);
	ck_assert_ptr_nonnull(strstr(d, "# redis: (standalone: no cluster)\n"));
	free(d);
	conf_free(c);
}
END_TEST

START_TEST(redis_defaults)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(RDS_UPS "redis: {address: 127.0.0.1}\n", &e);
	char host[256], want[300];

	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(c->redis.enabled, 1);
	ck_assert_str_eq(c->redis.address.host, "127.0.0.1");
	ck_assert_uint_eq(c->redis.address.port, 6379);
	ck_assert_ptr_null(c->redis.address.path);
	ck_assert_uint_eq(c->redis.database, 0);
	ck_assert_str_eq(c->redis.prefix, "cuttle");
	ck_assert_uint_eq(c->redis.connect_timeout_ms, 1000);
	ck_assert_uint_eq(c->redis.command_timeout_ms, 500);
	ck_assert_ptr_null(c->redis.password);
	ck_assert_ptr_null(c->redis.user);
	ck_assert_uint_eq(c->redis.nsentinels, 0);
	/* The node: the host name (no admin TCP address here). */
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	snprintf(want, sizeof(want), "%.64s", host);
	ck_assert_str_eq(c->redis.node, want);
	conf_free(c);
}
END_TEST

START_TEST(redis_node_default_with_admin_listen)
{
	struct conf_errs e;
	struct conf *c;
	char text[1024], host[256], want[300];

	rds_files();
	snprintf(text, sizeof(text), RDS_UPS "admin: {listen: 127.0.0.1:9090, token_file: %s}\n"
	    "redis: {address: 127.0.0.1}\n", pw_path);
	/* A token of 16 characters at least: the password file will not do. */
	c = conf_errs_load(text, &e);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(e.first, "at least 16 characters"));
	{
		FILE *f = fopen(pw_path, "w");

		ck_assert_ptr_nonnull(f);
		fputs("0123456789abcdef0123\n", f);
		fclose(f);
	}
	c = conf_errs_load(text, &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	snprintf(want, sizeof(want), "%.64s:127.0.0.1:9090", host);
	ck_assert_str_eq(c->redis.node, want);
	conf_free(c);
	rds_files_gone();
}
END_TEST

START_TEST(redis_every_key_round_trip)
{
	struct conf_errs e;
	struct conf *c, *again;
	char text[1024];

	rds_files();
	snprintf(text, sizeof(text), RDS_UPS
	    "redis:\n"
	    "  address: \"[::1]:6380\"\n"
	    "  user: cuttle\n"
	    "  password_file: %s\n"
	    "  database: 15\n"
	    "  prefix: edge-eu.1\n"
	    "  connect_timeout: 2s\n"
	    "  command_timeout: 250ms\n"
	    "  node: \"edge-1:[::1]:9\"\n", pw_path);
	c = conf_errs_load(text, &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_str_eq(c->redis.address.host, "::1");
	ck_assert_uint_eq(c->redis.address.port, 6380);
	ck_assert_str_eq(c->redis.address.text, "[::1]:6380");
	ck_assert_str_eq(c->redis.user, "cuttle");
	ck_assert_str_eq(c->redis.password, "s3cret");
	ck_assert_str_eq(c->redis.password_file, pw_path);
	ck_assert_uint_eq(c->redis.database, 15);
	ck_assert_str_eq(c->redis.prefix, "edge-eu.1");
	ck_assert_uint_eq(c->redis.connect_timeout_ms, 2000);
	ck_assert_uint_eq(c->redis.command_timeout_ms, 250);
	ck_assert_str_eq(c->redis.node, "edge-1:[::1]:9");
	again = conf_errs_round_trip(c);
	ck_assert_int_eq(conf_redis_equal(&c->redis, &again->redis), 1);
	conf_free(again);
	conf_free(c);
	rds_files_gone();
}
END_TEST

START_TEST(redis_localhost_unix_and_sentinel)
{
	struct conf_errs e;
	struct conf *c, *again;

	c = conf_errs_load(RDS_UPS "redis: {address: \"localhost:7000\"}\n", &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	/* Taken as 127.0.0.1 here: nothing is looked up, ever. */
	ck_assert_str_eq(c->redis.address.host, "127.0.0.1");
	ck_assert_uint_eq(c->redis.address.port, 7000);
	conf_free(c);
	c = conf_errs_load(RDS_UPS "redis: {address: /run/redis/redis.sock}\n", &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_str_eq(c->redis.address.path, "/run/redis/redis.sock");
	again = conf_errs_round_trip(c);
	ck_assert_str_eq(again->redis.address.path, "/run/redis/redis.sock");
	conf_free(again);
	conf_free(c);
	c = conf_errs_load(RDS_UPS "redis:\n"
	    "  sentinel: {addresses: [10.0.0.1, \"10.0.0.2:26380\", localhost], master: mymaster}\n",
	    &e);
	ck_assert_msg(c != NULL, "%zu errors, first: %s", e.n, e.first);
	ck_assert_uint_eq(c->redis.nsentinels, 3);
	ck_assert_uint_eq(c->redis.sentinels[0].port, 26379);
	ck_assert_uint_eq(c->redis.sentinels[1].port, 26380);
	ck_assert_str_eq(c->redis.sentinels[2].host, "127.0.0.1");
	ck_assert_str_eq(c->redis.sentinel_master, "mymaster");
	again = conf_errs_round_trip(c);
	ck_assert_int_eq(conf_redis_equal(&c->redis, &again->redis), 1);
	conf_free(again);
	conf_free(c);
}
END_TEST

/* A reload keeps the link when the section is the same, and only then. */
START_TEST(redis_copy_and_equal)
{
	struct conf_errs e;
	struct conf *a = conf_errs_load(RDS_UPS "redis:\n"
	    "  sentinel: {addresses: [10.0.0.1, 10.0.0.2], master: m}\n  node: n\n", &e);
	struct conf *b = conf_errs_load(RDS_UPS "redis:\n"
	    "  sentinel: {addresses: [10.0.0.1, 10.0.0.3], master: m}\n  node: n\n", &e);
	struct conf *d = conf_errs_load(RDS_UPS "redis:\n"
	    "  sentinel: {addresses: [10.0.0.1, 10.0.0.2], master: m}\n  node: n\n"
	    "  command_timeout: 1s\n", &e);
	struct conf_redis copy;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(conf_redis_copy(&copy, &a->redis), CT_OK);
	ck_assert_int_eq(conf_redis_equal(&copy, &a->redis), 1);
	ck_assert_ptr_ne(copy.sentinels, a->redis.sentinels);
	ck_assert_int_eq(conf_redis_equal(&copy, &b->redis), 0);
	ck_assert_int_eq(conf_redis_equal(&copy, &d->redis), 0);
	conf_redis_clear(&copy);
	ck_assert_int_eq(copy.enabled, 0);
	ck_assert_ptr_null(copy.sentinels);
	conf_free(a);
	conf_free(b);
	conf_free(d);
}
END_TEST

START_TEST(redis_errors_at_their_place)
{
	char text[1024];

	conf_errs_expect(RDS_UPS "redis: {}\n",
	    "t.yaml:5:8: redis needs \"address\" (or \"sentinel\")");
	conf_errs_expect(RDS_UPS "redis: 127.0.0.1\n",
	    "t.yaml:5:8: \"redis\" must be a mapping");
	conf_errs_expect(RDS_UPS "redis: {address: redis.example:6379}\n",
	    "t.yaml:5:18: invalid address \"redis.example:6379\" for \"address\": use an IP "
	    "address, \"localhost\" or a unix socket path: the master looks no names up, since "
	    "that would block it");
	conf_errs_expect(RDS_UPS "redis: {address: \"127.0.0.1:0\"}\n",
	    "t.yaml:5:18: invalid address \"127.0.0.1:0\" for \"address\": port must be between 1 and 65535");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, sentinel: {addresses: [10.0.0.1], "
	    "master: m}}\n",
	    "t.yaml:5:39: redis takes \"address\" or \"sentinel\", not both");
	conf_errs_expect(RDS_UPS "redis: {sentinel: {addresses: [10.0.0.1]}}\n",
	    "t.yaml:5:19: missing required key \"master\" in redis sentinel");
	conf_errs_expect(RDS_UPS "redis: {sentinel: {addresses: [], master: m}}\n",
	    "t.yaml:5:31: \"addresses\" must have between 1 and 8 entries, not 0");
	conf_errs_expect(RDS_UPS "redis: {sentinel: {addresses: [sentinel.example], master: m}}\n",
	    "t.yaml:5:32: invalid address \"sentinel.example\" for \"addresses\": use an IP "
	    "address, \"localhost\" or a unix socket path: the master looks no names up, since "
	    "that would block it");
	conf_errs_expect(RDS_UPS "redis: {sentinel: {addresses: [10.0.0.1], master: \"my master\"}}\n",
	    "t.yaml:5:51: invalid \"master\" \"my master\": use letters, digits, \"_\", \".\" and "
	    "\"-\", at most 64 bytes");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, prefix: \"a:b\"}\n",
	    "t.yaml:5:37: invalid \"prefix\" \"a:b\": use letters, digits, \"_\", \".\" and \"-\", "
	    "at most 64 bytes");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, prefix: "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}\n",
	    "t.yaml:5:37: invalid \"prefix\" \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": "
	    "use letters, digits, \"_\", \".\" and \"-\", at most 64 bytes");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, database: 1024}\n",
	    "t.yaml:5:39: \"database\" must be an integer between 0 and 1023, not \"1024\"");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, command_timeout: 5ms}\n",
	    "t.yaml:5:46: \"command_timeout\" must be at least 10ms, not \"5ms\"");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, connect_timeout: 2m}\n",
	    "t.yaml:5:46: \"connect_timeout\" must be at most 1m, not \"2m\"");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, user: cuttle}\n",
	    "t.yaml:5:35: \"user\" needs \"password_file\"");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, node: \"a b\"}\n",
	    "t.yaml:5:35: invalid \"node\" \"a b\": use letters, digits and \"_.-:[]\", at most 128 "
	    "bytes");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, password_file: rel/pw}\n",
	    "t.yaml:5:44: \"password_file\" must be an absolute path");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, password_file: /nonexistent/pw}\n",
	    "t.yaml:5:44: cannot read password_file \"/nonexistent/pw\": No such file or directory");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, timeout: 1s}\n",
	    "t.yaml:5:29: unknown key \"timeout\" in redis");
	conf_errs_expect(RDS_UPS "redis: {address: 127.0.0.1, prefx: a}\n",
	    "t.yaml:5:29: unknown key \"prefx\" in redis, did you mean \"prefix\"?");
	rds_files();
	snprintf(text, sizeof(text), RDS_UPS "redis: {address: 127.0.0.1, password_file: %s}\n",
	    pw_open_path);
	{
		char want[512];

		snprintf(want, sizeof(want), "t.yaml:5:44: password_file \"%s\" is readable by its "
		    "group (mode 0640): make it readable by its owner only (chmod 600)", pw_open_path);
		conf_errs_expect(text, want);
	}
	rds_files_gone();
}
END_TEST

START_TEST(redis_backoff)
{
	unsigned a;

	/* Between half and all of 100 ms doubling, capped at 5 s. */
	ck_assert_uint_eq(redis_backoff_ms(0, 0), 50);
	ck_assert_uint_eq(redis_backoff_ms(0, 50), 100);
	ck_assert_uint_eq(redis_backoff_ms(0, 51), 50);
	ck_assert_uint_eq(redis_backoff_ms(1, 0), 100);
	ck_assert_uint_eq(redis_backoff_ms(1, 100), 200);
	ck_assert_uint_eq(redis_backoff_ms(5, 0), 1600);
	ck_assert_uint_eq(redis_backoff_ms(6, 0), 2500);
	ck_assert_uint_eq(redis_backoff_ms(6, 2500), 5000);
	for (a = 6; a < 40; a++) {
		ck_assert_uint_ge(redis_backoff_ms(a, 0xffffffffu), 2500);
		ck_assert_uint_le(redis_backoff_ms(a, 0xffffffffu), 5000);
	}
	ck_assert_uint_le(redis_backoff_ms(~0u, 12345), 5000);
}
END_TEST

Suite *
suite_conf_redis(void)
{
	Suite *s = suite_create("conf_redis");
	TCase *tc = tcase_create("redis");

	tcase_add_test(tc, redis_standalone_by_default);
	tcase_add_test(tc, redis_defaults);
	tcase_add_test(tc, redis_node_default_with_admin_listen);
	tcase_add_test(tc, redis_every_key_round_trip);
	tcase_add_test(tc, redis_localhost_unix_and_sentinel);
	tcase_add_test(tc, redis_copy_and_equal);
	tcase_add_test(tc, redis_errors_at_their_place);
	tcase_add_test(tc, redis_backoff);
	suite_add_tcase(s, tc);
	return s;
}

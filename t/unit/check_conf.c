/*
 * conf/conf.c and conf/node.c: a full file loads with every value in
 * place, and each class of mistake gives exactly one message, in full,
 * with its position.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "lib/ct.h"
#include "t/unit/suites.h"

#define ERRS_MAX 16

struct errs {
	size_t n;
	char msg[ERRS_MAX][512];
};

static void
errs_add(void *arg, const char *msg)
{
	struct errs *e = arg;

	if (e->n < ERRS_MAX)
		snprintf(e->msg[e->n], sizeof(e->msg[e->n]), "%s", msg);
	e->n++;
}

static struct conf *
load(const char *text, struct errs *e)
{
	memset(e, 0, sizeof(*e));
	return conf_load_string("t.yaml", text, strlen(text), errs_add, e);
}

/* text must fail with exactly the one message want. */
static void
expect_error(const char *text, const char *want)
{
	struct errs e;
	struct conf *c = load(text, &e);

	ck_assert_ptr_null(c);
	ck_assert_msg(e.n == 1, "%zu errors, first: %s", e.n, e.msg[0]);
	ck_assert_str_eq(e.msg[0], want);
}

/* text must load; the caller checks and frees the result. */
static struct conf *
expect_ok(const char *text)
{
	struct errs e;
	struct conf *c = load(text, &e);

	ck_assert_msg(c != NULL && e.n == 0, "%zu errors, first: %s", e.n,
	    e.msg[0]);
	return c;
}

static unsigned
online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (unsigned)n;
}

static const char *
fmt_addr(const struct addr *a, char *buf)
{
	return addr_format((const struct sockaddr *)&a->ss, buf, ADDR_STRLEN);
}

/* Lines 1-4 of most cases below: one valid upstream "app". */
#define UPS \
	"upstreams:\n" \
	"  app:\n" \
	"    servers:\n" \
	"      - {address: 127.0.0.1:9001}\n"

/* Lines 5-9: the head of a valid listener, open for more keys. */
#define LIS \
	"listeners:\n" \
	"  - name: app\n" \
	"    listen: 127.0.0.1:8080\n" \
	"    mode: tcp\n" \
	"    upstream: app\n"

static const char full[] =
	"workers: 3\n"
	"shm_size: 64m\n"
	"worker_connections: 1024\n"
	"error_log: {path: /var/log/cuttle.log, level: warn}\n"
	"upstreams:\n"
	"  app:\n"
	"    balance: least_conn\n"
	"    servers:\n"
	"      - {address: 127.0.0.1:9001, weight: 2}\n"
	"      - {address: \"[::1]:9002\"}\n"
	"  db.main-2:\n"
	"    servers:\n"
	"      - address: 10.0.0.5:5432\n"
	"        weight: 256\n"
	"listeners:\n"
	"  - name: app\n"
	"    listen: 127.0.0.1:8080\n"
	"    mode: tcp\n"
	"    upstream: app\n"
	"    acl: {allow: [127.0.0.0/8, \"::1/128\"], deny: [127.0.0.2/32]}\n"
	"    timeouts: {connect: 2s, idle: 5m}\n"
	"    retries: 2\n"
	"  - name: db\n"
	"    listen: \"*:5432\"\n"
	"    mode: tcp\n"
	"    upstream: db.main-2\n"
	"    timeouts: {connect: 250ms}\n"
	"    retries: 0\n"
	"  - name: v6\n"
	"    listen: \"[::]:8080\"\n"
	"    mode: tcp\n"
	"    upstream: app\n"
	"    acl:\n"
	"      allow:\n"
	"        - 10.0.0.1\n"
	"    timeouts:\n"
	"      idle: 1d\n"
	"    retries: 16\n";

START_TEST(test_full)
{
	struct conf *c = expect_ok(full);
	const struct conf_upstream *u;
	const struct conf_listener *l;
	char buf[ADDR_STRLEN];

	ck_assert_str_eq(c->path, "t.yaml");
	ck_assert_uint_eq(c->workers, 3);
	ck_assert_uint_eq(c->shm_size, 64u << 20);
	ck_assert_uint_eq(c->worker_connections, 1024);
	ck_assert_str_eq(c->error_log_path, "/var/log/cuttle.log");
	ck_assert_int_eq(c->error_log_level, LOG_LVL_WARN);

	ck_assert_uint_eq(c->nupstreams, 2);
	u = &c->upstreams[0];
	ck_assert_str_eq(u->name, "app");
	ck_assert_int_eq(u->balance, CONF_BALANCE_LEAST_CONN);
	ck_assert_uint_eq(u->nservers, 2);
	ck_assert_str_eq(u->servers[0].address, "127.0.0.1:9001");
	ck_assert_str_eq(fmt_addr(&u->servers[0].addr, buf), "127.0.0.1:9001");
	ck_assert_uint_eq(u->servers[0].weight, 2);
	ck_assert_str_eq(u->servers[1].address, "[::1]:9002");
	ck_assert_str_eq(fmt_addr(&u->servers[1].addr, buf), "[::1]:9002");
	ck_assert_uint_eq(u->servers[1].weight, 1);
	u = &c->upstreams[1];
	ck_assert_str_eq(u->name, "db.main-2");
	ck_assert_int_eq(u->balance, CONF_BALANCE_ROUND_ROBIN);
	ck_assert_uint_eq(u->nservers, 1);
	ck_assert_str_eq(u->servers[0].address, "10.0.0.5:5432");
	ck_assert_uint_eq(u->servers[0].weight, 256);

	ck_assert_uint_eq(c->nlisteners, 3);
	l = &c->listeners[0];
	ck_assert_str_eq(l->name, "app");
	ck_assert_str_eq(l->listen, "127.0.0.1:8080");
	ck_assert_str_eq(fmt_addr(&l->addr, buf), "127.0.0.1:8080");
	ck_assert_int_eq(l->mode, CONF_MODE_TCP);
	ck_assert_str_eq(l->upstream_name, "app");
	ck_assert_uint_eq(l->upstream, 0);
	ck_assert_uint_eq(l->acl.nallow, 2);
	ck_assert_int_eq(l->acl.allow[0].family, AF_INET);
	ck_assert_uint_eq(l->acl.allow[0].prefix, 8);
	ck_assert_int_eq(l->acl.allow[0].net[0], 127);
	ck_assert_int_eq(l->acl.allow[1].family, AF_INET6);
	ck_assert_uint_eq(l->acl.allow[1].prefix, 128);
	ck_assert_int_eq(l->acl.allow[1].net[15], 1);
	ck_assert_uint_eq(l->acl.ndeny, 1);
	ck_assert_uint_eq(l->acl.deny[0].prefix, 32);
	ck_assert_int_eq(l->acl.deny[0].net[3], 2);
	ck_assert_uint_eq(l->connect_timeout_ms, 2000);
	ck_assert_uint_eq(l->idle_timeout_ms, 300000);
	ck_assert_uint_eq(l->retries, 2);

	l = &c->listeners[1];
	ck_assert_str_eq(l->name, "db");
	ck_assert_str_eq(l->listen, "*:5432");
	ck_assert_str_eq(fmt_addr(&l->addr, buf), "0.0.0.0:5432");
	ck_assert_uint_eq(l->upstream, 1);
	ck_assert_uint_eq(l->acl.nallow, 0);
	ck_assert_uint_eq(l->acl.ndeny, 0);
	ck_assert_uint_eq(l->connect_timeout_ms, 250);
	ck_assert_uint_eq(l->idle_timeout_ms, 600000);
	ck_assert_uint_eq(l->retries, 0);

	l = &c->listeners[2];
	ck_assert_str_eq(fmt_addr(&l->addr, buf), "[::]:8080");
	ck_assert_uint_eq(l->upstream, 0);
	ck_assert_uint_eq(l->acl.nallow, 1);
	ck_assert_uint_eq(l->acl.allow[0].prefix, 32);
	ck_assert_uint_eq(l->connect_timeout_ms, 5000);
	ck_assert_uint_eq(l->idle_timeout_ms, 86400000);
	ck_assert_uint_eq(l->retries, 16);
	conf_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf *c = expect_ok(UPS LIS);
	const struct conf_listener *l;

	ck_assert_uint_eq(c->workers, online_cpus());
	ck_assert_uint_eq(c->shm_size, 32u << 20);
	ck_assert_uint_eq(c->worker_connections, 4096);
	ck_assert_str_eq(c->error_log_path, "stderr");
	ck_assert_int_eq(c->error_log_level, LOG_LVL_INFO);
	ck_assert_int_eq(c->upstreams[0].balance, CONF_BALANCE_ROUND_ROBIN);
	ck_assert_uint_eq(c->upstreams[0].servers[0].weight, 1);
	ck_assert_uint_eq(c->upstreams[0].keepalive.max_idle, 32);
	ck_assert_uint_eq(c->upstreams[0].keepalive.idle_timeout_ms, 60000);
	l = &c->listeners[0];
	ck_assert_uint_eq(l->connect_timeout_ms, 5000);
	ck_assert_uint_eq(l->idle_timeout_ms, 600000);
	ck_assert_uint_eq(l->retries, 1);
	ck_assert_uint_eq(l->acl.nallow + l->acl.ndeny, 0);
	ck_assert_ptr_null(l->acl.allow);
	/* a tcp listener carries none of the HTTP values */
	ck_assert_uint_eq(l->header_timeout_ms, 0);
	ck_assert_uint_eq(l->send_timeout_ms, 0);
	ck_assert_uint_eq(l->read_timeout_ms, 0);
	ck_assert_uint_eq(l->max_body_size, 0);
	ck_assert_uint_eq(l->max_header_size, 0);
	ck_assert_ptr_null(l->routes);
	ck_assert_uint_eq(l->nroutes, 0);
	ck_assert_int_eq(l->compress.enabled, 0);
	ck_assert_ptr_null(l->compress.types);
	conf_free(c);
}
END_TEST

START_TEST(test_workers_auto)
{
	struct conf *c = expect_ok("workers: auto\n" UPS LIS);

	ck_assert_uint_eq(c->workers, online_cpus());
	conf_free(c);
}
END_TEST

START_TEST(test_error_log_levels)
{
	static const char *const names[] = {
		"debug", "info", "notice", "warn", "error"
	};
	char text[1024];
	struct conf *c;
	size_t i;

	for (i = 0; i < CT_NELEM(names); i++) {
		snprintf(text, sizeof(text), "error_log:\n  level: %s\n" UPS LIS,
		    names[i]);
		c = expect_ok(text);
		ck_assert_int_eq(c->error_log_level, (enum log_level)i);
		ck_assert_str_eq(c->error_log_path, "stderr");
		conf_free(c);
	}
}
END_TEST

START_TEST(test_unknown_key_suggestion)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listn: 127.0.0.1:8080\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: tcp\n"
	    "    upstream: app\n",
	    "t.yaml:7:5: unknown key \"listn\" in listener, did you mean \"listen\"?");
}
END_TEST

START_TEST(test_unknown_key_top_suggestion)
{
	expect_error("worker: 2\n" UPS LIS,
	    "t.yaml:1:1: unknown key \"worker\" at top level, did you mean "
	    "\"workers\"?");
}
END_TEST

START_TEST(test_unknown_key_no_suggestion)
{
	expect_error(UPS LIS "    colour: blue\n",
	    "t.yaml:10:5: unknown key \"colour\" in listener");
}
END_TEST

START_TEST(test_wrong_type)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers: 127.0.0.1:9001\n"
	    LIS,
	    "t.yaml:3:14: \"servers\" must be a sequence");
}
END_TEST

START_TEST(test_wrong_type_mapping)
{
	expect_error(UPS LIS "    timeouts: 5s\n",
	    "t.yaml:10:15: \"timeouts\" must be a mapping");
}
END_TEST

START_TEST(test_wrong_type_top)
{
	expect_error("- workers: 2\n", "t.yaml:1:1: the top level must be a mapping");
}
END_TEST

START_TEST(test_missing_required_key)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    upstream: app\n",
	    "t.yaml:6:5: missing required key \"mode\" in listener");
}
END_TEST

START_TEST(test_missing_listeners)
{
	expect_error("workers: 2\n" UPS,
	    "t.yaml:1:1: missing required key \"listeners\" at top level");
}
END_TEST

START_TEST(test_missing_server_address)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {weight: 2}\n"
	    LIS,
	    "t.yaml:4:9: missing required key \"address\" in server");
}
END_TEST

START_TEST(test_duplicate_key)
{
	expect_error("workers: 2\n" UPS LIS "workers: 3\n",
	    "t.yaml:11:1: duplicate key \"workers\" (first at line 1, column 1)");
}
END_TEST

START_TEST(test_bad_duration)
{
	expect_error(UPS LIS "    timeouts: {connect: 5x}\n",
	    "t.yaml:10:25: invalid duration \"5x\" for \"connect\": unknown unit "
	    "(expected ms, s, m, h or d)");
}
END_TEST

START_TEST(test_zero_duration)
{
	expect_error(UPS LIS "    timeouts: {idle: 0s}\n",
	    "t.yaml:10:22: \"idle\" must be greater than 0");
}
END_TEST

START_TEST(test_bad_size)
{
	expect_error("shm_size: 10q\n" UPS LIS,
	    "t.yaml:1:11: invalid size \"10q\" for \"shm_size\": unknown unit "
	    "(expected k, m or g)");
}
END_TEST

START_TEST(test_size_range)
{
	expect_error("shm_size: 512k\n" UPS LIS,
	    "t.yaml:1:11: \"shm_size\" must be between 8m and 64g, not \"512k\"");
}
END_TEST

START_TEST(test_bad_address)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: localhost:8080\n"
	    "    mode: tcp\n"
	    "    upstream: app\n",
	    "t.yaml:7:13: invalid address \"localhost:8080\" for \"listen\": "
	    "address must be an IP literal (no DNS names)");
}
END_TEST

START_TEST(test_server_wildcard)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - address: \"*:9001\"\n"
	    LIS,
	    "t.yaml:4:18: invalid address \"*:9001\" for \"address\": "
	    "wildcard \"*\" is not allowed here");
}
END_TEST

START_TEST(test_bad_cidr)
{
	expect_error(UPS LIS "    acl: {allow: [127.0.0.0/8, 10.0.0.1/8]}\n",
	    "t.yaml:10:32: invalid CIDR \"10.0.0.1/8\" for \"allow\": "
	    "host bits set");
}
END_TEST

START_TEST(test_undefined_upstream)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: tcp\n"
	    "    upstream: backend\n",
	    "t.yaml:9:15: upstream \"backend\" is not defined");
}
END_TEST

START_TEST(test_undefined_upstream_suggestion)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: tcp\n"
	    "    upstream: apq\n",
	    "t.yaml:9:15: upstream \"apq\" is not defined, did you mean \"app\"?");
}
END_TEST

START_TEST(test_duplicate_listener_name)
{
	expect_error(UPS LIS
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8081\n"
	    "    mode: tcp\n"
	    "    upstream: app\n",
	    "t.yaml:10:11: duplicate listener name \"app\" (first at line 6, "
	    "column 11)");
}
END_TEST

START_TEST(test_duplicate_listener_address)
{
	expect_error(UPS LIS
	    "  - name: other\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: tcp\n"
	    "    upstream: app\n",
	    "t.yaml:11:13: duplicate listener address 127.0.0.1:8080 (first at "
	    "line 7, column 13)");
}
END_TEST

START_TEST(test_duplicate_upstream)
{
	expect_error(UPS
	    "  app:\n"
	    "    servers: [{address: 127.0.0.1:9002}]\n"
	    LIS,
	    "t.yaml:5:3: duplicate upstream \"app\" (first at line 2, column 3)");
}
END_TEST

/* Applied by name, and keyed by name in shared memory: one name, one limit. */
START_TEST(test_duplicate_limit)
{
	expect_error("limits:\n  a: {rate: 1/s}\n  a: {rate: 2/s}\n" UPS LIS,
	    "t.yaml:3:3: duplicate limit \"a\" (first at line 2, column 3)");
}
END_TEST

START_TEST(test_bad_names)
{
	expect_error(
	    "upstreams:\n"
	    "  \"my app\":\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001}\n"
	    "listeners:\n"
	    "  - name: a\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: tcp\n"
	    "    upstream: my app\n",
	    "t.yaml:2:3: invalid upstream name \"my app\": use 1 to 63 characters "
	    "from A-Z a-z 0-9 _ . -");
}
END_TEST

START_TEST(test_workers_range)
{
	expect_error("workers: 65\n" UPS LIS,
	    "t.yaml:1:10: \"workers\" must be \"auto\" or an integer between 1 and "
	    "64, not \"65\"");
}
END_TEST

START_TEST(test_workers_zero)
{
	expect_error("workers: 0\n" UPS LIS,
	    "t.yaml:1:10: \"workers\" must be \"auto\" or an integer between 1 and "
	    "64, not \"0\"");
}
END_TEST

START_TEST(test_weight_range)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, weight: 257}\n"
	    LIS,
	    "t.yaml:4:43: \"weight\" must be an integer between 1 and 256, "
	    "not \"257\"");
}
END_TEST

/*
 * max_conns: a number caps the server on this node; the mapping counts
 * it across the cluster, which needs a redis section.
 */
START_TEST(test_max_conns)
{
	struct conf *c = expect_ok(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, max_conns: 7}\n"
	    "      - {address: 127.0.0.1:9002, max_conns: {limit: 10, scope: cluster, reserve: 3}}\n"
	    "      - {address: 127.0.0.1:9003}\n"
	    LIS
	    "redis: {address: 127.0.0.1:6379}\n");
	const struct conf_server *s = c->upstreams[0].servers;

	ck_assert_uint_eq(s[0].max_conns.limit, 7);
	ck_assert_int_eq(s[0].max_conns.scope, CONF_CONNS_NODE);
	ck_assert_uint_eq(s[0].max_conns.reserve, 1);
	ck_assert_uint_eq(s[1].max_conns.limit, 10);
	ck_assert_int_eq(s[1].max_conns.scope, CONF_CONNS_CLUSTER);
	ck_assert_uint_eq(s[1].max_conns.reserve, 3);
	ck_assert_uint_eq(s[2].max_conns.limit, 0);
	conf_free(c);
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, max_conns: {limit: 10, scope: cluster}}\n"
	    LIS,
	    "t.yaml:4:65: \"scope: cluster\" in \"max_conns\" needs a \"redis\" "
	    "section to count in");
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, max_conns: 0}\n"
	    LIS,
	    "t.yaml:4:46: \"max_conns\" must be an integer between 1 and 1000000, "
	    "not \"0\"");
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, max_conns: {scope: cluster}}\n"
	    LIS
	    "redis: {address: 127.0.0.1:6379}\n",
	    "t.yaml:4:46: missing required key \"limit\" in max_conns");
}
END_TEST

START_TEST(test_retries_range)
{
	expect_error(UPS LIS "    retries: 17\n",
	    "t.yaml:10:14: \"retries\" must be an integer between 0 and 16, "
	    "not \"17\"");
}
END_TEST

START_TEST(test_worker_connections_range)
{
	expect_error("worker_connections: 15\n" UPS LIS,
	    "t.yaml:1:21: \"worker_connections\" must be an integer between 16 "
	    "and 1000000, not \"15\"");
}
END_TEST

START_TEST(test_servers_empty)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers: []\n"
	    LIS,
	    "t.yaml:3:14: \"servers\" must have between 1 and 256 entries, not 0");
}
END_TEST

START_TEST(test_listeners_empty)
{
	expect_error(UPS "listeners: []\n",
	    "t.yaml:5:12: \"listeners\" must have at least one entry");
}
END_TEST

START_TEST(test_bad_enum)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    balance: weighted\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001}\n"
	    LIS,
	    "t.yaml:3:14: invalid value \"weighted\" for \"balance\", expected one "
	    "of: round_robin, least_conn, random, p2c, least_time, first, hash");
}
END_TEST

START_TEST(test_bad_mode)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: sctp\n"
	    "    upstream: app\n",
	    "t.yaml:8:11: invalid value \"sctp\" for \"mode\", expected one of: "
	    "tcp, http, udp, forward, socks");
}
END_TEST

START_TEST(test_bad_level)
{
	expect_error("error_log: {level: verbose}\n" UPS LIS,
	    "t.yaml:1:20: invalid value \"verbose\" for \"level\", expected one "
	    "of: debug, info, notice, warn, error");
}
END_TEST

START_TEST(test_env_unset)
{
	unsetenv("CT_TEST_UNSET");
	expect_error("workers: ${CT_TEST_UNSET}\n" UPS LIS,
	    "t.yaml:1:10: environment variable \"CT_TEST_UNSET\" is not set");
}
END_TEST

START_TEST(test_env_default)
{
	struct conf *c;
	char buf[ADDR_STRLEN];

	unsetenv("CT_TEST_PORT");
	setenv("CT_TEST_EMPTY", "", 1);
	c = expect_ok(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: \"127.0.0.1:${CT_TEST_PORT:-8081}\"\n"
	    "    mode: tcp\n"
	    "    upstream: ${CT_TEST_EMPTY:-app}\n");
	ck_assert_str_eq(c->listeners[0].listen, "127.0.0.1:8081");
	ck_assert_str_eq(fmt_addr(&c->listeners[0].addr, buf), "127.0.0.1:8081");
	ck_assert_str_eq(c->listeners[0].upstream_name, "app");
	conf_free(c);
	unsetenv("CT_TEST_EMPTY");
}
END_TEST

START_TEST(test_env_number)
{
	struct conf *c;

	setenv("CT_TEST_WORKERS", "5", 1);
	setenv("CT_TEST_SHM", "128", 1);
	c = expect_ok("workers: ${CT_TEST_WORKERS}\n"
	    "shm_size: ${CT_TEST_SHM}m\n"
	    "error_log: {path: \"$$HOME/${CT_TEST_WORKERS:-x}$\"}\n"
	    UPS LIS);
	ck_assert_uint_eq(c->workers, 5);
	ck_assert_uint_eq(c->shm_size, 128u << 20);
	ck_assert_str_eq(c->error_log_path, "$HOME/5$");
	conf_free(c);
	unsetenv("CT_TEST_WORKERS");
	unsetenv("CT_TEST_SHM");
}
END_TEST

START_TEST(test_env_unterminated)
{
	expect_error("error_log: {path: \"/var/${LOG\"}\n" UPS LIS,
	    "t.yaml:1:19: unterminated \"${\" in \"/var/${LOG\"");
}
END_TEST

START_TEST(test_env_bad_name)
{
	expect_error("error_log: {path: \"${1X}\"}\n" UPS LIS,
	    "t.yaml:1:19: invalid variable reference \"${1X}\"");
}
END_TEST

START_TEST(test_syntax_error)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: [127.0.0.1:8080\n"
	    "    mode: tcp\n",
	    "t.yaml:8:9: syntax error: did not find expected ',' or ']' while "
	    "parsing a flow sequence at line 7, column 13");
}
END_TEST

START_TEST(test_unquoted_wildcard)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: *:8080\n",
	    "t.yaml:7:14: syntax error: did not find expected alphabetic or "
	    "numeric character while scanning an alias at line 7, column 13 "
	    "(quote values that start with \"*\")");
}
END_TEST

START_TEST(test_anchor_rejected)
{
	expect_error(
	    "upstreams:\n"
	    "  app: &u\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001}\n"
	    "  app2: *u\n",
	    "t.yaml:2:8: YAML anchors and aliases are not supported");
}
END_TEST

START_TEST(test_tag_rejected)
{
	expect_error("workers: !!int 2\n",
	    "t.yaml:1:10: YAML tags are not supported");
}
END_TEST

START_TEST(test_empty_file)
{
	expect_error("", "t.yaml:1:1: the configuration is empty");
}
END_TEST

START_TEST(test_nesting_limit)
{
	char text[256];
	size_t i, o = 0;

	/* the top mapping is level 1, so the 64th "[" (column 67) is one too many */
	o += (size_t)snprintf(text, sizeof(text), "x: ");
	for (i = 0; i < NODE_DEPTH_MAX; i++)
		text[o++] = '[';
	for (i = 0; i < NODE_DEPTH_MAX; i++)
		text[o++] = ']';
	text[o] = '\0';
	expect_error(text, "t.yaml:1:67: nesting deeper than 64 levels");
}
END_TEST

START_TEST(test_too_large)
{
	size_t len = NODE_INPUT_MAX + 1;
	char *text = malloc(len);
	struct errs e;

	ck_assert_ptr_nonnull(text);
	memset(text, '#', len);
	memset(&e, 0, sizeof(e));
	ck_assert_ptr_null(conf_load_string("t.yaml", text, len, errs_add, &e));
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.msg[0], "t.yaml: larger than 4 MiB");
	free(text);
}
END_TEST

/*
 * Every error of a file is reported, in file order, even when the
 * second pass (the upstream reference on line 5) finds one after the
 * first pass found a later one.
 */
START_TEST(test_three_errors)
{
	struct errs e;
	struct conf *c = load(
	    "workers: 100\n"
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    upstream: nowhere\n"
	    "    mode: tcp\n"
	    "    retries: many\n", &e);

	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.n, 3);
	ck_assert_str_eq(e.msg[0], "t.yaml:1:10: \"workers\" must be \"auto\" "
	    "or an integer between 1 and 64, not \"100\"");
	ck_assert_str_eq(e.msg[1], "t.yaml:5:15: upstream \"nowhere\" is not "
	    "defined");
	ck_assert_str_eq(e.msg[2], "t.yaml:7:14: \"retries\" must be an integer "
	    "between 0 and 16, not \"many\"");
}
END_TEST

/* Values are quoted in messages so that they cannot break a log line. */
START_TEST(test_message_escaping)
{
	expect_error("\"wor\\nkers\": 2\n" UPS LIS,
	    "t.yaml:1:1: unknown key \"wor\\x0akers\" at top level, did you mean "
	    "\"workers\"?");
}
END_TEST

/* Long values are cut in messages, never in the middle of a character. */
START_TEST(test_message_truncation)
{
	char text[512], want[512];
	char val[121];

	memset(val, 'a', 120);
	val[120] = '\0';
	memcpy(val, "\xc3\xa9", 2);            /* a two-byte character first */
	snprintf(text, sizeof(text), UPS "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: %s\n"
	    "    upstream: app\n", val);
	val[86] = '\0';
	snprintf(want, sizeof(want), "t.yaml:8:11: invalid value \"%s...\" for "
	    "\"mode\", expected one of: tcp, http, udp, forward, socks", val);
	expect_error(text, want);
}
END_TEST

START_TEST(test_env_too_long)
{
	size_t n = 600 * 1024;
	char *big = malloc(n + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', n);
	big[n] = '\0';
	setenv("CT_TEST_BIG", big, 1);
	free(big);
	expect_error("error_log: {path: \"${CT_TEST_BIG}${CT_TEST_BIG}\"}\n"
	    UPS LIS,
	    "t.yaml:1:19: value longer than 1048576 bytes after expansion");
	unsetenv("CT_TEST_BIG");
}
END_TEST

START_TEST(test_load_missing_file)
{
	struct errs e;

	memset(&e, 0, sizeof(e));
	ck_assert_ptr_null(conf_load("/nonexistent/cuttle.yaml", errs_add, &e));
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.msg[0],
	    "/nonexistent/cuttle.yaml: No such file or directory");
}
END_TEST

START_TEST(test_load_file)
{
	char path[] = "/tmp/check_conf_XXXXXX";
	struct errs e;
	struct conf *c;
	int fd;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, full, strlen(full)), (ssize_t)strlen(full));
	close(fd);
	memset(&e, 0, sizeof(e));
	c = conf_load(path, errs_add, &e);
	unlink(path);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(e.n, 0);
	ck_assert_str_eq(c->path, path);
	ck_assert_uint_eq(c->nlisteners, 3);
	conf_free(c);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(conf_balance_name(CONF_BALANCE_ROUND_ROBIN),
	    "round_robin");
	ck_assert_str_eq(conf_balance_name(CONF_BALANCE_LEAST_CONN),
	    "least_conn");
	ck_assert_str_eq(conf_mode_name(CONF_MODE_TCP), "tcp");
	ck_assert_str_eq(conf_mode_name(CONF_MODE_HTTP), "http");
	conf_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Process keys: daemon, pid_file, user, group, limits */

/*
 * The ids of "nobody" and the name of its primary group, for cases that
 * need a user whose gid is not 0.  Every Linux system has that user.
 */
static void
nobody_ids(uid_t *uid, gid_t *gid, char *group, size_t len)
{
	const struct passwd *pw = getpwnam("nobody");
	const struct group *gr;

	ck_assert_msg(pw != NULL, "this test needs a user \"nobody\"");
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	gr = getgrgid(pw->pw_gid);
	ck_assert_msg(gr != NULL, "no group has the gid of \"nobody\"");
	snprintf(group, len, "%s", gr->gr_name);
}

START_TEST(test_process_defaults)
{
	struct conf *c = expect_ok(UPS LIS);

	ck_assert_int_eq(c->daemon, 0);
	ck_assert_ptr_null(c->pid_file);
	ck_assert_ptr_null(c->user);
	ck_assert_ptr_null(c->group);
	ck_assert_uint_eq(c->worker_rlimit_nofile, 0);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 30000);
	ck_assert_ptr_null(c->listeners[0].access_log.path);
	ck_assert_int_eq(c->listeners[0].access_log.format, CONF_LOG_TEXT);
	conf_free(c);
}
END_TEST

START_TEST(test_daemon_values)
{
	struct conf *c = expect_ok("daemon: true\n" UPS LIS);

	ck_assert_int_eq(c->daemon, 1);
	conf_free(c);
	c = expect_ok("daemon: false\n" UPS LIS);
	ck_assert_int_eq(c->daemon, 0);
	conf_free(c);
}
END_TEST

START_TEST(test_pid_file)
{
	struct conf *c = expect_ok("pid_file: /run/cuttle.pid\n" UPS LIS);

	ck_assert_str_eq(c->pid_file, "/run/cuttle.pid");
	conf_free(c);
}
END_TEST

START_TEST(test_user_root)
{
	struct conf *c = expect_ok("user: root\n" UPS LIS);

	ck_assert_str_eq(c->user, "root");
	ck_assert_ptr_null(c->group);
	ck_assert_uint_eq(c->uid, 0);
	ck_assert_uint_eq(c->gid, 0);
	conf_free(c);
}
END_TEST

START_TEST(test_user_primary_group)
{
	char group[256];
	struct conf *c;
	uid_t uid;
	gid_t gid;

	nobody_ids(&uid, &gid, group, sizeof(group));
	c = expect_ok("user: nobody\n" UPS LIS);
	ck_assert_str_eq(c->user, "nobody");
	ck_assert_ptr_null(c->group);
	ck_assert_uint_eq(c->uid, uid);
	ck_assert_uint_eq(c->gid, gid);
	conf_free(c);
}
END_TEST

/* group wins over the user's primary group, written before or after. */
START_TEST(test_user_and_group)
{
	static const char *const forms[] = {
		"user: root\ngroup: %s\n", "group: %s\nuser: root\n"
	};
	char group[256], text[1024];
	struct conf *c;
	size_t i;
	uid_t uid;
	gid_t gid;

	nobody_ids(&uid, &gid, group, sizeof(group));
	for (i = 0; i < CT_NELEM(forms); i++) {
		snprintf(text, sizeof(text), forms[i], group);
		strncat(text, UPS LIS, sizeof(text) - strlen(text) - 1);
		c = expect_ok(text);
		ck_assert_str_eq(c->user, "root");
		ck_assert_str_eq(c->group, group);
		ck_assert_uint_eq(c->uid, 0);
		ck_assert_uint_eq(c->gid, gid);
		conf_free(c);
	}
}
END_TEST

START_TEST(test_group_only)
{
	char group[256], text[1024];
	struct conf *c;
	uid_t uid;
	gid_t gid;

	nobody_ids(&uid, &gid, group, sizeof(group));
	snprintf(text, sizeof(text), "group: %s\n" UPS LIS, group);
	c = expect_ok(text);
	ck_assert_ptr_null(c->user);
	ck_assert_str_eq(c->group, group);
	ck_assert_uint_eq(c->gid, gid);
	conf_free(c);
}
END_TEST

START_TEST(test_worker_rlimit_nofile)
{
	struct conf *c = expect_ok("worker_rlimit_nofile: 65536\n" UPS LIS);

	ck_assert_uint_eq(c->worker_rlimit_nofile, 65536);
	conf_free(c);
	c = expect_ok("worker_rlimit_nofile: 1\n" UPS LIS);
	ck_assert_uint_eq(c->worker_rlimit_nofile, 1);
	conf_free(c);
	c = expect_ok("worker_rlimit_nofile: 16777216\n" UPS LIS);
	ck_assert_uint_eq(c->worker_rlimit_nofile, 16777216);
	conf_free(c);
}
END_TEST

START_TEST(test_shutdown_timeout)
{
	struct conf *c = expect_ok("shutdown_timeout: 5m\n" UPS LIS);

	ck_assert_uint_eq(c->shutdown_timeout_ms, 300000);
	conf_free(c);
	c = expect_ok("shutdown_timeout: 30d\n" UPS LIS);
	ck_assert_uint_eq(c->shutdown_timeout_ms, UINT64_C(30) * 86400000);
	conf_free(c);
}
END_TEST

START_TEST(test_error_log_paths)
{
	static const char *const paths[] = {
		"stderr", "syslog", "syslog:/dev/log", "syslog:/run/systemd/journal/dev-log",
		"/var/log/cuttle/error.log", "relative/error.log"
	};
	char text[1024];
	struct conf *c;
	size_t i;

	for (i = 0; i < CT_NELEM(paths); i++) {
		snprintf(text, sizeof(text), "error_log: {path: \"%s\"}\n" UPS LIS,
		    paths[i]);
		c = expect_ok(text);
		ck_assert_str_eq(c->error_log_path, paths[i]);
		conf_free(c);
	}
}
END_TEST

START_TEST(test_access_log)
{
	struct conf *c = expect_ok(UPS LIS
	    "    access_log: {path: /var/log/cuttle/app.log}\n"
	    "  - name: json\n"
	    "    listen: 127.0.0.1:8081\n"
	    "    mode: tcp\n"
	    "    upstream: app\n"
	    "    access_log:\n"
	    "      format: json\n"
	    "      path: /var/log/cuttle/json.log\n"
	    "  - name: text\n"
	    "    listen: 127.0.0.1:8082\n"
	    "    mode: tcp\n"
	    "    upstream: app\n"
	    "    access_log: {path: t.log, format: text}\n");

	ck_assert_uint_eq(c->nlisteners, 3);
	ck_assert_str_eq(c->listeners[0].access_log.path,
	    "/var/log/cuttle/app.log");
	ck_assert_int_eq(c->listeners[0].access_log.format, CONF_LOG_TEXT);
	ck_assert_str_eq(c->listeners[1].access_log.path,
	    "/var/log/cuttle/json.log");
	ck_assert_int_eq(c->listeners[1].access_log.format, CONF_LOG_JSON);
	ck_assert_str_eq(c->listeners[2].access_log.path, "t.log");
	ck_assert_int_eq(c->listeners[2].access_log.format, CONF_LOG_TEXT);
	conf_free(c);
}
END_TEST

START_TEST(test_daemon_not_bool)
{
	expect_error("daemon: yes\n" UPS LIS,
	    "t.yaml:1:9: \"daemon\" must be true or false, not \"yes\"");
}
END_TEST

START_TEST(test_daemon_not_bool_number)
{
	expect_error("daemon: 1\n" UPS LIS,
	    "t.yaml:1:9: \"daemon\" must be true or false, not \"1\"");
}
END_TEST

START_TEST(test_daemon_mapping)
{
	expect_error("daemon: {on: true}\n" UPS LIS,
	    "t.yaml:1:9: \"daemon\" must be a scalar");
}
END_TEST

START_TEST(test_pid_file_empty)
{
	expect_error("pid_file: \"\"\n" UPS LIS,
	    "t.yaml:1:11: \"pid_file\" must not be empty");
}
END_TEST

START_TEST(test_unknown_user)
{
	expect_error("user: nobdy\n" UPS LIS,
	    "t.yaml:1:7: unknown user \"nobdy\"");
}
END_TEST

START_TEST(test_unknown_group)
{
	expect_error("user: root\ngroup: nogrop\n" UPS LIS,
	    "t.yaml:2:8: unknown group \"nogrop\"");
}
END_TEST

START_TEST(test_user_empty)
{
	expect_error("user: \"\"\n" UPS LIS,
	    "t.yaml:1:7: \"user\" must not be empty");
}
END_TEST

START_TEST(test_worker_rlimit_nofile_zero)
{
	expect_error("worker_rlimit_nofile: 0\n" UPS LIS,
	    "t.yaml:1:23: \"worker_rlimit_nofile\" must be an integer between 1 "
	    "and 16777216, not \"0\"");
}
END_TEST

START_TEST(test_worker_rlimit_nofile_range)
{
	expect_error("worker_rlimit_nofile: 16777217\n" UPS LIS,
	    "t.yaml:1:23: \"worker_rlimit_nofile\" must be an integer between 1 "
	    "and 16777216, not \"16777217\"");
}
END_TEST

START_TEST(test_shutdown_timeout_zero)
{
	expect_error("shutdown_timeout: 0\n" UPS LIS,
	    "t.yaml:1:19: \"shutdown_timeout\" must be greater than 0");
}
END_TEST

START_TEST(test_shutdown_timeout_range)
{
	expect_error("shutdown_timeout: 31d\n" UPS LIS,
	    "t.yaml:1:19: \"shutdown_timeout\" must be at most 30d, not \"31d\"");
}
END_TEST

START_TEST(test_syslog_relative)
{
	expect_error("error_log: {path: \"syslog:relative\"}\n" UPS LIS,
	    "t.yaml:1:19: invalid log path \"syslog:relative\" for \"path\": "
	    "\"syslog:\" must be followed by an absolute socket path");
}
END_TEST

START_TEST(test_syslog_no_socket)
{
	expect_error("error_log: {path: \"syslog:\"}\n" UPS LIS,
	    "t.yaml:1:19: invalid log path \"syslog:\" for \"path\": "
	    "\"syslog:\" must be followed by an absolute socket path");
}
END_TEST

/* sun_path holds 108 bytes with the NUL: 107 fit, 108 do not */
START_TEST(test_syslog_socket_too_long)
{
	char text[1024], sock[109], want[512];
	struct conf *c;

	memset(sock, 'a', sizeof(sock) - 1);
	sock[0] = '/';
	sock[107] = '\0';
	snprintf(text, sizeof(text), "error_log: {path: \"syslog:%s\"}\n" UPS LIS,
	    sock);
	c = expect_ok(text);
	ck_assert_str_eq(c->error_log_path + 7, sock);
	conf_free(c);
	sock[107] = 'a';
	sock[108] = '\0';
	snprintf(text, sizeof(text), "error_log: {path: \"syslog:%s\"}\n" UPS LIS,
	    sock);
	/* messages cut quoted values after 86 bytes */
	snprintf(want, sizeof(want), "t.yaml:1:19: invalid log path "
	    "\"syslog:%.79s...\" for \"path\": the socket path is too long for a "
	    "unix socket", sock);
	expect_error(text, want);
}
END_TEST

START_TEST(test_access_log_missing_path)
{
	expect_error(UPS LIS "    access_log: {format: json}\n",
	    "t.yaml:10:17: missing required key \"path\" in access_log");
}
END_TEST

START_TEST(test_access_log_bad_format)
{
	expect_error(UPS LIS "    access_log: {path: /tmp/a.log, format: xml}\n",
	    "t.yaml:10:44: invalid value \"xml\" for \"format\", expected one "
	    "of: text, json");
}
END_TEST

START_TEST(test_access_log_not_mapping)
{
	expect_error(UPS LIS "    access_log: /tmp/a.log\n",
	    "t.yaml:10:17: \"access_log\" must be a mapping");
}
END_TEST

START_TEST(test_access_log_empty_path)
{
	expect_error(UPS LIS "    access_log: {path: \"\"}\n",
	    "t.yaml:10:24: \"path\" must not be empty");
}
END_TEST

START_TEST(test_suggest_daemon)
{
	expect_error("deamon: true\n" UPS LIS,
	    "t.yaml:1:1: unknown key \"deamon\" at top level, did you mean "
	    "\"daemon\"?");
}
END_TEST

START_TEST(test_suggest_pid_file)
{
	expect_error("pidfile: /run/cuttle.pid\n" UPS LIS,
	    "t.yaml:1:1: unknown key \"pidfile\" at top level, did you mean "
	    "\"pid_file\"?");
}
END_TEST

START_TEST(test_suggest_shutdown_timeout)
{
	expect_error("shutdown_timout: 10s\n" UPS LIS,
	    "t.yaml:1:1: unknown key \"shutdown_timout\" at top level, did you "
	    "mean \"shutdown_timeout\"?");
}
END_TEST

START_TEST(test_suggest_worker_rlimit_nofile)
{
	expect_error("worker_rlimit_nofiles: 1024\n" UPS LIS,
	    "t.yaml:1:1: unknown key \"worker_rlimit_nofiles\" at top level, did "
	    "you mean \"worker_rlimit_nofile\"?");
}
END_TEST

START_TEST(test_suggest_access_log)
{
	expect_error(UPS LIS "    accesslog: {path: a.log}\n",
	    "t.yaml:10:5: unknown key \"accesslog\" in listener, did you mean "
	    "\"access_log\"?");
}
END_TEST

START_TEST(test_suggest_access_log_format)
{
	expect_error(UPS LIS "    access_log: {path: a.log, fromat: json}\n",
	    "t.yaml:10:31: unknown key \"fromat\" in access_log, did you mean "
	    "\"format\"?");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Mode http: routes, header rewriting, compression, keep-alive */

/* Lines 5-8 of the http cases: the head of an http listener. */
#define HTTP \
	"listeners:\n" \
	"  - name: web\n" \
	"    listen: 127.0.0.1:8080\n" \
	"    mode: http\n"

/* Lines 9-10: a route to "app", open for more routes. */
#define ROUTES \
	"    routes:\n" \
	"      - upstream: app\n"

/* ------------------------------------------------------------------ */
/* Balancing keys: balance, hash_key, slow_start, backup */

static void round_trip(const char *text);

#define UPS_HASH(key) \
	"upstreams:\n" \
	"  app:\n" \
	"    balance: hash\n" \
	"    hash_key: " key "\n" \
	"    servers:\n" \
	"      - {address: 127.0.0.1:9001}\n"

START_TEST(test_balance_keys)
{
	struct conf *c = expect_ok(
	    "upstreams:\n"
	    "  app:\n"
	    "    balance: hash\n"
	    "    hash_key: header:X-User\n"
	    "    slow_start: 30s\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, weight: 2}\n"
	    "      - {address: 127.0.0.1:9002, backup: true}\n"
	    HTTP ROUTES);

	ck_assert_int_eq(c->upstreams[0].balance, CONF_BALANCE_HASH);
	ck_assert_int_eq(c->upstreams[0].hash_key, CONF_HASH_HEADER);
	ck_assert_str_eq(c->upstreams[0].hash_name, "x-user");
	ck_assert_uint_eq(c->upstreams[0].slow_start_ms, 30000);
	ck_assert_int_eq(c->upstreams[0].servers[0].backup, 0);
	ck_assert_int_eq(c->upstreams[0].servers[1].backup, 1);
	ck_assert_str_eq(conf_hash_key_name(CONF_HASH_COOKIE), "cookie");
	conf_free(c);
	c = expect_ok(UPS_HASH("cookie:sid") HTTP ROUTES);
	ck_assert_int_eq(c->upstreams[0].hash_key, CONF_HASH_COOKIE);
	ck_assert_str_eq(c->upstreams[0].hash_name, "sid");
	conf_free(c);
	c = expect_ok(UPS_HASH("client_ip") LIS);   /* tcp may hash the client */
	ck_assert_int_eq(c->upstreams[0].hash_key, CONF_HASH_CLIENT_IP);
	ck_assert_ptr_null(c->upstreams[0].hash_name);
	conf_free(c);
}
END_TEST

START_TEST(test_balance_keys_round_trip)
{
	round_trip(
	    "upstreams:\n"
	    "  a:\n"
	    "    balance: hash\n"
	    "    hash_key: cookie:SID\n"
	    "    slow_start: 1m\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, weight: 2}\n"
	    "      - {address: 127.0.0.1:9002, backup: true}\n"
	    "  b:\n"
	    "    balance: hash\n"
	    "    hash_key: header:x-user\n"
	    "    servers: [{address: 127.0.0.1:9003}]\n"
	    "  c:\n"
	    "    balance: hash\n"
	    "    servers: [{address: 127.0.0.1:9004}]\n"
	    "  d:\n"
	    "    balance: p2c\n"
	    "    servers: [{address: 127.0.0.1:9005}]\n"
	    "  e:\n"
	    "    balance: least_time\n"
	    "    servers: [{address: 127.0.0.1:9006}]\n"
	    "  f:\n"
	    "    balance: first\n"
	    "    servers: [{address: 127.0.0.1:9007}]\n"
	    "  g:\n"
	    "    balance: random\n"
	    "    servers: [{address: 127.0.0.1:9008}]\n"
	    HTTP
	    "    routes:\n"
	    "      - upstream: a\n");
}
END_TEST

START_TEST(test_bad_hash_key)
{
	expect_error(UPS_HASH("clientip") LIS,
	    "t.yaml:4:15: invalid value \"clientip\" for \"hash_key\", expected "
	    "client_ip, uri, header:NAME or cookie:NAME; did you mean "
	    "\"client_ip\"?");
}
END_TEST

START_TEST(test_bad_hash_key_name)
{
	expect_error(UPS_HASH("\"header:X User\"") LIS,
	    "t.yaml:4:15: invalid name in \"header:X User\" for \"hash_key\": "
	    "use letters, digits and !#$%&'*+-.^_`|~");
	expect_error(UPS_HASH("cookie") LIS,
	    "t.yaml:4:15: invalid value \"cookie\" for \"hash_key\", expected "
	    "client_ip, uri, header:NAME or cookie:NAME; did you mean "
	    "\"cookie:\"?");
}
END_TEST

START_TEST(test_hash_key_needs_hash)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    hash_key: uri\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001}\n"
	    LIS,
	    "t.yaml:3:15: \"hash_key\" needs \"balance: hash\"");
}
END_TEST

START_TEST(test_hash_key_tcp)
{
	expect_error(UPS_HASH("uri") LIS,
	    "t.yaml:11:15: upstream \"app\" hashes on \"uri\", which needs mode "
	    "http; a tcp listener can only use hash_key client_ip");
}
END_TEST

START_TEST(test_bad_backup)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, backup: yes}\n"
	    LIS,
	    "t.yaml:4:43: \"backup\" must be true or false, not \"yes\"");
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001, backup: true}\n"
	    LIS,
	    "t.yaml:4:7: \"servers\" must have at least one server that is "
	    "not a backup");
}
END_TEST

START_TEST(test_bad_slow_start)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    slow_start: 2h\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001}\n"
	    LIS,
	    "t.yaml:3:17: \"slow_start\" must be at most 1h, not \"2h\"");
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    slow_strat: 2s\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001}\n"
	    LIS,
	    "t.yaml:3:5: unknown key \"slow_strat\" in upstream, did you mean "
	    "\"slow_start\"?");
}
END_TEST

static const char full_http[] =
	"upstreams:\n"
	"  api:\n"
	"    balance: round_robin\n"
	"    keepalive: {max_idle: 1024, idle_timeout: 90s}\n"
	"    servers:\n"
	"      - {address: 127.0.0.1:9001}\n"
	"  web:\n"
	"    keepalive: {max_idle: 0}\n"
	"    servers:\n"
	"      - {address: 127.0.0.1:9002}\n"
	"listeners:\n"
	"  - name: web\n"
	"    listen: 127.0.0.1:8080\n"
	"    mode: http\n"
	"    timeouts: {connect: 2s, idle: 30s, header: 10s, send: 20s, "
	"read: 2m}\n"
	"    retries: 2\n"
	"    max_body_size: 10m\n"
	"    max_header_size: 16k\n"
	"    compress: {types: [Text/HTML, text/css, application/json], "
	"min_size: 2k, level: 9}\n"
	"    routes:\n"
	"      - match: {host: \"API.Example.com\", path_prefix: /v1/, "
	"methods: [GET, post]}\n"
	"        upstream: api\n"
	"        host_rewrite: internal-api:8080\n"
	"        request_headers:  {set: {X-Env: prod}, add: {X-Trace: \"1\"}, "
	"remove: [X-Debug]}\n"
	"        response_headers: {set: {Strict-Transport-Security: "
	"\"max-age=63072000\"}, remove: [Server]}\n"
	"      - match: {host: \"*.example.com\"}\n"
	"        upstream: web\n"
	"      - match: {path_exact: /healthz}\n"
	"        return: {status: 200, body: \"ok\\n\"}\n"
	"      - match: {path_prefix: /old/}\n"
	"        redirect: {status: 301, location: \"https://example.com/new/\"}\n"
	"      - upstream: web\n"
	"  - name: defaults\n"
	"    listen: 127.0.0.1:8081\n"
	"    mode: http\n"
	"    compress: {}\n"
	"    routes:\n"
	"      - return: {}\n"
	"      - redirect: {location: /elsewhere}\n"
	"      - {match: {}, upstream: api}\n"
	"      - return: {status: 404, body: \"\"}\n"
	"  - name: raw\n"
	"    listen: 127.0.0.1:8082\n"
	"    mode: tcp\n"
	"    upstream: web\n";

START_TEST(test_http_full)
{
	struct conf *c = expect_ok(full_http);
	const struct conf_header_ops *h;
	const struct conf_listener *l;
	const struct conf_route *r;

	ck_assert_uint_eq(c->nupstreams, 2);
	ck_assert_uint_eq(c->upstreams[0].keepalive.max_idle, 1024);
	ck_assert_uint_eq(c->upstreams[0].keepalive.idle_timeout_ms, 90000);
	ck_assert_uint_eq(c->upstreams[1].keepalive.max_idle, 0);
	ck_assert_uint_eq(c->upstreams[1].keepalive.idle_timeout_ms, 60000);
	ck_assert_uint_eq(c->nlisteners, 3);

	l = &c->listeners[0];
	ck_assert_str_eq(l->name, "web");
	ck_assert_int_eq(l->mode, CONF_MODE_HTTP);
	ck_assert_ptr_null(l->upstream_name);
	ck_assert_uint_eq(l->connect_timeout_ms, 2000);
	ck_assert_uint_eq(l->idle_timeout_ms, 30000);
	ck_assert_uint_eq(l->header_timeout_ms, 10000);
	ck_assert_uint_eq(l->send_timeout_ms, 20000);
	ck_assert_uint_eq(l->read_timeout_ms, 120000);
	ck_assert_uint_eq(l->retries, 2);
	ck_assert_uint_eq(l->max_body_size, 10u << 20);
	ck_assert_uint_eq(l->max_header_size, 16u << 10);
	ck_assert_int_eq(l->compress.enabled, 1);
	ck_assert_uint_eq(l->compress.ntypes, 3);
	ck_assert_str_eq(l->compress.types[0], "text/html");
	ck_assert_str_eq(l->compress.types[1], "text/css");
	ck_assert_str_eq(l->compress.types[2], "application/json");
	ck_assert_uint_eq(l->compress.min_size, 2048);
	ck_assert_int_eq(l->compress.level, 9);
	ck_assert_uint_eq(l->nroutes, 5);

	r = &l->routes[0];
	ck_assert_str_eq(r->host, "api.example.com");
	ck_assert_str_eq(r->path_prefix, "/v1/");
	ck_assert_ptr_null(r->path_exact);
	ck_assert_uint_eq(r->nmethods, 2);
	ck_assert_str_eq(r->methods[0], "GET");
	ck_assert_str_eq(r->methods[1], "POST");
	ck_assert_int_eq(r->action, CONF_ROUTE_UPSTREAM);
	ck_assert_str_eq(r->upstream_name, "api");
	ck_assert_uint_eq(r->upstream, 0);
	ck_assert_str_eq(r->host_rewrite, "internal-api:8080");
	ck_assert_ptr_null(r->body);
	ck_assert_ptr_null(r->location);
	h = &r->request_headers;
	ck_assert_uint_eq(h->nset, 1);
	ck_assert_str_eq(h->set[0].name, "X-Env");
	ck_assert_str_eq(h->set[0].value, "prod");
	ck_assert_uint_eq(h->nadd, 1);
	ck_assert_str_eq(h->add[0].name, "X-Trace");
	ck_assert_str_eq(h->add[0].value, "1");
	ck_assert_uint_eq(h->nremove, 1);
	ck_assert_str_eq(h->remove[0], "X-Debug");
	h = &r->response_headers;
	ck_assert_uint_eq(h->nset, 1);
	ck_assert_str_eq(h->set[0].name, "Strict-Transport-Security");
	ck_assert_str_eq(h->set[0].value, "max-age=63072000");
	ck_assert_uint_eq(h->nadd, 0);
	ck_assert_ptr_null(h->add);
	ck_assert_uint_eq(h->nremove, 1);
	ck_assert_str_eq(h->remove[0], "Server");

	r = &l->routes[1];
	ck_assert_str_eq(r->host, "*.example.com");
	ck_assert_ptr_null(r->path_prefix);
	ck_assert_uint_eq(r->nmethods, 0);
	ck_assert_ptr_null(r->methods);
	ck_assert_int_eq(r->action, CONF_ROUTE_UPSTREAM);
	ck_assert_uint_eq(r->upstream, 1);
	ck_assert_ptr_null(r->host_rewrite);
	ck_assert_uint_eq(r->request_headers.nset + r->request_headers.nadd +
	    r->request_headers.nremove, 0);
	ck_assert_uint_eq(r->response_headers.nset + r->response_headers.nadd +
	    r->response_headers.nremove, 0);

	r = &l->routes[2];
	ck_assert_ptr_null(r->host);
	ck_assert_str_eq(r->path_exact, "/healthz");
	ck_assert_int_eq(r->action, CONF_ROUTE_RETURN);
	ck_assert_uint_eq(r->status, 200);
	ck_assert_str_eq(r->body, "ok\n");
	ck_assert_ptr_null(r->upstream_name);

	r = &l->routes[3];
	ck_assert_str_eq(r->path_prefix, "/old/");
	ck_assert_int_eq(r->action, CONF_ROUTE_REDIRECT);
	ck_assert_uint_eq(r->status, 301);
	ck_assert_str_eq(r->location, "https://example.com/new/");
	ck_assert_ptr_null(r->body);

	r = &l->routes[4];
	ck_assert_ptr_null(r->host);
	ck_assert_ptr_null(r->path_prefix);
	ck_assert_ptr_null(r->path_exact);
	ck_assert_uint_eq(r->nmethods, 0);
	ck_assert_int_eq(r->action, CONF_ROUTE_UPSTREAM);
	ck_assert_uint_eq(r->upstream, 1);

	/* every default of mode http */
	l = &c->listeners[1];
	ck_assert_uint_eq(l->connect_timeout_ms, 5000);
	ck_assert_uint_eq(l->idle_timeout_ms, 75000);
	ck_assert_uint_eq(l->header_timeout_ms, 60000);
	ck_assert_uint_eq(l->send_timeout_ms, 60000);
	ck_assert_uint_eq(l->read_timeout_ms, 60000);
	ck_assert_uint_eq(l->retries, 1);
	ck_assert_uint_eq(l->max_body_size, 1u << 30);
	ck_assert_uint_eq(l->max_header_size, 32u << 10);
	ck_assert_int_eq(l->compress.enabled, 1);
	ck_assert_uint_eq(l->compress.ntypes, 1);
	ck_assert_str_eq(l->compress.types[0], "text/html");
	ck_assert_uint_eq(l->compress.min_size, 1024);
	ck_assert_int_eq(l->compress.level, 5);
	ck_assert_uint_eq(l->nroutes, 4);
	ck_assert_int_eq(l->routes[0].action, CONF_ROUTE_RETURN);
	ck_assert_uint_eq(l->routes[0].status, 200);
	ck_assert_str_eq(l->routes[0].body, "");
	ck_assert_int_eq(l->routes[1].action, CONF_ROUTE_REDIRECT);
	ck_assert_uint_eq(l->routes[1].status, 302);
	ck_assert_str_eq(l->routes[1].location, "/elsewhere");
	ck_assert_int_eq(l->routes[2].action, CONF_ROUTE_UPSTREAM);
	ck_assert_uint_eq(l->routes[2].upstream, 0);
	ck_assert_ptr_null(l->routes[2].host);
	ck_assert_uint_eq(l->routes[3].status, 404);
	ck_assert_str_eq(l->routes[3].body, "");

	l = &c->listeners[2];
	ck_assert_int_eq(l->mode, CONF_MODE_TCP);
	ck_assert_uint_eq(l->upstream, 1);
	ck_assert_uint_eq(l->idle_timeout_ms, 600000);
	ck_assert_uint_eq(l->header_timeout_ms, 0);
	ck_assert_uint_eq(l->max_body_size, 0);
	ck_assert_uint_eq(l->nroutes, 0);
	conf_free(c);
}
END_TEST

/* Without "compress", nothing is compressed and nothing is allocated. */
START_TEST(test_http_defaults)
{
	struct conf *c = expect_ok(UPS HTTP ROUTES);
	const struct conf_listener *l = &c->listeners[0];

	ck_assert_uint_eq(l->connect_timeout_ms, 5000);
	ck_assert_uint_eq(l->idle_timeout_ms, 75000);
	ck_assert_uint_eq(l->header_timeout_ms, 60000);
	ck_assert_uint_eq(l->send_timeout_ms, 60000);
	ck_assert_uint_eq(l->read_timeout_ms, 60000);
	ck_assert_uint_eq(l->max_body_size, 1u << 30);
	ck_assert_uint_eq(l->max_header_size, 32u << 10);
	ck_assert_int_eq(l->compress.enabled, 0);
	ck_assert_ptr_null(l->compress.types);
	ck_assert_uint_eq(l->compress.ntypes, 0);
	ck_assert_uint_eq(l->nroutes, 1);
	ck_assert_int_eq(l->routes[0].action, CONF_ROUTE_UPSTREAM);
	ck_assert_uint_eq(l->routes[0].upstream, 0);
	conf_free(c);
}
END_TEST

/* Bounds and spellings that are valid. */
START_TEST(test_http_values)
{
	struct conf *c = expect_ok(UPS HTTP
	    "    max_body_size: 0\n"
	    "    max_header_size: 1m\n"
	    "    compress: {types: [\"image/svg+xml\"], min_size: 0, level: 1}\n"
	    "    routes:\n"
	    "      - match: {host: \"*.A-1.example\", methods: [\"M-SEARCH\", "
	    "get, PATCH]}\n"
	    "        upstream: app\n"
	    "        host_rewrite: \"[::1]:8080\"\n"
	    "        request_headers: {set: {x-empty: \"\", X-Tab: \"a\\tb\"}, "
	    "add: {X-Dup: a}, remove: []}\n"
	    "        response_headers: {set: {Host: ignored}, add: {}}\n"
	    "      - match: {host: 10.0.0.1, path_exact: \"/a%20b\"}\n"
	    "        return: {status: 599, body: \"$${x}\"}\n"
	    "      - match: {path_prefix: /}\n"
	    "        return: {status: 100}\n"
	    "      - redirect: {status: 308, location: \"/caf\xc3\xa9\"}\n");
	const struct conf_listener *l = &c->listeners[0];

	ck_assert_uint_eq(l->max_body_size, 0);
	ck_assert_uint_eq(l->max_header_size, 1u << 20);
	ck_assert_str_eq(l->compress.types[0], "image/svg+xml");
	ck_assert_uint_eq(l->compress.min_size, 0);
	ck_assert_int_eq(l->compress.level, 1);
	ck_assert_str_eq(l->routes[0].host, "*.a-1.example");
	ck_assert_uint_eq(l->routes[0].nmethods, 3);
	ck_assert_str_eq(l->routes[0].methods[0], "M-SEARCH");
	ck_assert_str_eq(l->routes[0].methods[1], "GET");
	ck_assert_str_eq(l->routes[0].host_rewrite, "[::1]:8080");
	ck_assert_str_eq(l->routes[0].request_headers.set[0].name, "x-empty");
	ck_assert_str_eq(l->routes[0].request_headers.set[0].value, "");
	ck_assert_str_eq(l->routes[0].request_headers.set[1].value, "a\tb");
	ck_assert_uint_eq(l->routes[0].request_headers.nremove, 0);
	ck_assert_str_eq(l->routes[0].response_headers.set[0].name, "Host");
	ck_assert_str_eq(l->routes[1].host, "10.0.0.1");
	ck_assert_str_eq(l->routes[1].path_exact, "/a%20b");
	ck_assert_uint_eq(l->routes[1].status, 599);
	ck_assert_str_eq(l->routes[1].body, "${x}");
	ck_assert_uint_eq(l->routes[2].status, 100);
	ck_assert_uint_eq(l->routes[3].status, 308);
	ck_assert_str_eq(l->routes[3].location, "/caf\xc3\xa9");
	conf_free(c);
}
END_TEST

/* A body of exactly 64k is allowed; one byte more is not. */
START_TEST(test_return_body_size)
{
	size_t n = 64 * 1024, len = n + 512, o;
	char *text = malloc(len);
	struct conf *c;

	ck_assert_ptr_nonnull(text);
	o = (size_t)snprintf(text, len, UPS HTTP "    routes:\n"
	    "      - return: {body: \"");
	memset(text + o, 'x', n);
	snprintf(text + o + n, len - o - n, "\"}\n");
	c = expect_ok(text);
	ck_assert_uint_eq(strlen(c->listeners[0].routes[0].body), n);
	conf_free(c);
	snprintf(text + o + n, len - o - n, "x\"}\n");
	expect_error(text,
	    "t.yaml:10:24: \"body\" must be at most 64k, not 65537 bytes");
	free(text);
}
END_TEST

/* ---- mode: what each requires and refuses */

START_TEST(test_http_upstream_not_used)
{
	expect_error(UPS HTTP "    upstream: app\n" ROUTES,
	    "t.yaml:9:5: \"upstream\" is not used with mode http; routes name "
	    "their upstreams");
}
END_TEST

START_TEST(test_http_routes_missing)
{
	expect_error(UPS HTTP,
	    "t.yaml:6:5: missing required key \"routes\" in listener");
}
END_TEST

START_TEST(test_http_routes_empty)
{
	expect_error(UPS HTTP "    routes: []\n",
	    "t.yaml:9:13: \"routes\" must have at least one entry");
}
END_TEST

START_TEST(test_http_routes_not_sequence)
{
	expect_error(UPS HTTP "    routes: {upstream: app}\n",
	    "t.yaml:9:13: \"routes\" must be a sequence");
}
END_TEST

START_TEST(test_tcp_upstream_missing)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: tcp\n",
	    "t.yaml:6:5: missing required key \"upstream\" in listener");
}
END_TEST

START_TEST(test_tcp_routes)
{
	expect_error(UPS LIS ROUTES,
	    "t.yaml:10:5: \"routes\" is only for mode http");
}
END_TEST

START_TEST(test_tcp_compress)
{
	expect_error(UPS LIS "    compress: {}\n",
	    "t.yaml:10:5: \"compress\" is only for mode http");
}
END_TEST

START_TEST(test_tcp_max_body_size)
{
	expect_error(UPS LIS "    max_body_size: 1m\n",
	    "t.yaml:10:5: \"max_body_size\" is only for mode http");
}
END_TEST

START_TEST(test_tcp_max_header_size)
{
	expect_error(UPS LIS "    max_header_size: 8k\n",
	    "t.yaml:10:5: \"max_header_size\" is only for modes http and forward");
}
END_TEST

START_TEST(test_tcp_header_timeout)
{
	expect_error(UPS LIS "    timeouts: {idle: 1m, header: 5s}\n",
	    "t.yaml:10:26: \"header\" is only for mode http");
}
END_TEST

START_TEST(test_tcp_send_timeout)
{
	expect_error(UPS LIS "    timeouts:\n      send: 5s\n",
	    "t.yaml:11:7: \"send\" is only for modes http and forward");
}
END_TEST

START_TEST(test_tcp_read_timeout)
{
	expect_error(UPS LIS "    timeouts: {read: 5s}\n",
	    "t.yaml:10:16: \"read\" is only for modes http and forward");
}
END_TEST

/* The mode's errors wait for a valid mode: "sctp" is the one mistake. */
START_TEST(test_http_bad_mode_alone)
{
	expect_error(UPS
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: sctp\n"
	    ROUTES,
	    "t.yaml:8:11: invalid value \"sctp\" for \"mode\", expected one of: "
	    "tcp, http, udp, forward, socks");
}
END_TEST

/* ---- http values */

START_TEST(test_http_timeout_zero)
{
	expect_error(UPS HTTP "    timeouts: {header: 0s}\n" ROUTES,
	    "t.yaml:9:24: \"header\" must be greater than 0");
}
END_TEST

START_TEST(test_http_timeout_suggestion)
{
	expect_error(UPS HTTP "    timeouts: {heder: 5s}\n" ROUTES,
	    "t.yaml:9:16: unknown key \"heder\" in timeouts, did you mean "
	    "\"header\"?");
}
END_TEST

START_TEST(test_max_body_size_range)
{
	expect_error(UPS HTTP "    max_body_size: 2048g\n" ROUTES,
	    "t.yaml:9:20: \"max_body_size\" must be between 0 and 1024g, not "
	    "\"2048g\"");
}
END_TEST

START_TEST(test_max_header_size_small)
{
	expect_error(UPS HTTP "    max_header_size: 512\n" ROUTES,
	    "t.yaml:9:22: \"max_header_size\" must be between 1k and 1m, not "
	    "\"512\"");
}
END_TEST

START_TEST(test_max_header_size_large)
{
	expect_error(UPS HTTP "    max_header_size: 2m\n" ROUTES,
	    "t.yaml:9:22: \"max_header_size\" must be between 1k and 1m, not "
	    "\"2m\"");
}
END_TEST

START_TEST(test_keepalive_max_idle_range)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    keepalive: {max_idle: 1025}\n"
	    "    servers: [{address: 127.0.0.1:9001}]\n"
	    LIS,
	    "t.yaml:3:27: \"max_idle\" must be an integer between 0 and 1024, "
	    "not \"1025\"");
}
END_TEST

START_TEST(test_keepalive_idle_timeout_zero)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    keepalive: {idle_timeout: 0}\n"
	    "    servers: [{address: 127.0.0.1:9001}]\n"
	    LIS,
	    "t.yaml:3:31: \"idle_timeout\" must be greater than 0");
}
END_TEST

START_TEST(test_keepalive_suggestion)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    keepalive: {max_idl: 8}\n"
	    "    servers: [{address: 127.0.0.1:9001}]\n"
	    LIS,
	    "t.yaml:3:17: unknown key \"max_idl\" in keepalive, did you mean "
	    "\"max_idle\"?");
}
END_TEST

START_TEST(test_keepalive_not_mapping)
{
	expect_error(
	    "upstreams:\n"
	    "  app:\n"
	    "    keepalive: 32\n"
	    "    servers: [{address: 127.0.0.1:9001}]\n"
	    LIS,
	    "t.yaml:3:16: \"keepalive\" must be a mapping");
}
END_TEST

/* ---- compress */

START_TEST(test_compress_level_zero)
{
	expect_error(UPS HTTP "    compress: {level: 0}\n" ROUTES,
	    "t.yaml:9:23: \"level\" must be an integer between 1 and 9, not "
	    "\"0\"");
}
END_TEST

START_TEST(test_compress_level_ten)
{
	expect_error(UPS HTTP "    compress: {level: 10}\n" ROUTES,
	    "t.yaml:9:23: \"level\" must be an integer between 1 and 9, not "
	    "\"10\"");
}
END_TEST

START_TEST(test_compress_min_size)
{
	expect_error(UPS HTTP "    compress: {min_size: 1x}\n" ROUTES,
	    "t.yaml:9:26: invalid size \"1x\" for \"min_size\": unknown unit "
	    "(expected k, m or g)");
}
END_TEST

START_TEST(test_compress_type_syntax)
{
	expect_error(UPS HTTP "    compress: {types: [text/html, html]}\n" ROUTES,
	    "t.yaml:9:35: invalid media type \"html\" in \"types\": use "
	    "\"type/subtype\", each a token, without parameters");
}
END_TEST

START_TEST(test_compress_type_parameters)
{
	expect_error(UPS HTTP "    compress: {types: [\"text/html; charset=utf-8\"]}\n"
	    ROUTES,
	    "t.yaml:9:24: invalid media type \"text/html; charset=utf-8\" in "
	    "\"types\": use \"type/subtype\", each a token, without parameters");
}
END_TEST

START_TEST(test_compress_type_wildcard)
{
	expect_error(UPS HTTP "    compress: {types: [\"text/*\"]}\n" ROUTES,
	    "t.yaml:9:24: invalid media type \"text/*\" in \"types\": wildcards "
	    "are not supported; list each type");
}
END_TEST

START_TEST(test_compress_type_duplicate)
{
	expect_error(UPS HTTP "    compress: {types: [text/css, Text/CSS]}\n"
	    ROUTES,
	    "t.yaml:9:34: duplicate media type \"Text/CSS\" in \"types\" (first "
	    "at line 9, column 24)");
}
END_TEST

START_TEST(test_compress_types_empty)
{
	expect_error(UPS HTTP "    compress: {types: []}\n" ROUTES,
	    "t.yaml:9:23: \"types\" must have between 1 and 64 entries, not 0");
}
END_TEST

START_TEST(test_compress_not_mapping)
{
	expect_error(UPS HTTP "    compress: true\n" ROUTES,
	    "t.yaml:9:15: \"compress\" must be a mapping");
}
END_TEST

/* ---- routes */

START_TEST(test_route_no_action)
{
	expect_error(UPS HTTP ROUTES
	    "      - match: {path_prefix: /a/}\n",
	    "t.yaml:11:9: a route needs one of \"upstream\", \"return\" or "
	    "\"redirect\"");
}
END_TEST

START_TEST(test_route_two_actions)
{
	expect_error(UPS HTTP ROUTES
	    "      - upstream: app\n"
	    "        return: {status: 204}\n",
	    "t.yaml:11:9: a route takes only one of \"upstream\", \"return\" or "
	    "\"redirect\"");
}
END_TEST

START_TEST(test_route_not_mapping)
{
	expect_error(UPS HTTP ROUTES "      - app\n",
	    "t.yaml:11:9: each entry of \"routes\" must be a mapping");
}
END_TEST

START_TEST(test_route_suggestion)
{
	expect_error(UPS HTTP ROUTES "      - redirct: {location: /}\n"
	    "        return: {}\n",
	    "t.yaml:11:9: unknown key \"redirct\" in route, did you mean "
	    "\"redirect\"?");
}
END_TEST

START_TEST(test_route_host_rewrite_not_upstream)
{
	expect_error(UPS HTTP ROUTES
	    "      - return: {}\n"
	    "        host_rewrite: example.com\n",
	    "t.yaml:12:9: \"host_rewrite\" is only for routes with \"upstream\"");
}
END_TEST

START_TEST(test_route_request_headers_not_upstream)
{
	expect_error(UPS HTTP ROUTES
	    "      - redirect: {location: /}\n"
	    "        request_headers: {remove: [X-A]}\n",
	    "t.yaml:12:9: \"request_headers\" is only for routes with "
	    "\"upstream\"");
}
END_TEST

START_TEST(test_route_response_headers_not_upstream)
{
	expect_error(UPS HTTP ROUTES
	    "      - return: {status: 403}\n"
	    "        response_headers: {set: {X-A: b}}\n",
	    "t.yaml:12:9: \"response_headers\" is only for routes with "
	    "\"upstream\"");
}
END_TEST

START_TEST(test_route_upstream_undefined)
{
	expect_error(UPS HTTP ROUTES "      - upstream: ap\n",
	    "t.yaml:11:19: upstream \"ap\" is not defined, did you mean \"app\"?");
}
END_TEST

START_TEST(test_route_upstream_undefined_far)
{
	expect_error(UPS HTTP "    routes:\n      - {upstream: backend}\n",
	    "t.yaml:10:20: upstream \"backend\" is not defined");
}
END_TEST

START_TEST(test_host_rewrite_invalid)
{
	expect_error(UPS HTTP ROUTES "        host_rewrite: \"a b\"\n",
	    "t.yaml:11:23: invalid host \"a b\" for \"host_rewrite\": use "
	    "letters, digits and - . _ : [ ]");
}
END_TEST

START_TEST(test_host_rewrite_empty)
{
	expect_error(UPS HTTP ROUTES "        host_rewrite: \"\"\n",
	    "t.yaml:11:23: \"host_rewrite\" must not be empty");
}
END_TEST

/* ---- match */

START_TEST(test_match_not_mapping)
{
	expect_error(UPS HTTP "    routes:\n      - match: /api\n"
	    "        upstream: app\n",
	    "t.yaml:10:16: \"match\" must be a mapping");
}
END_TEST

START_TEST(test_match_suggestion)
{
	expect_error(UPS HTTP "    routes:\n      - match: {path_prefx: /a/}\n"
	    "        upstream: app\n",
	    "t.yaml:10:17: unknown key \"path_prefx\" in match, did you mean "
	    "\"path_prefix\"?");
}
END_TEST

START_TEST(test_match_path_prefix_slash)
{
	expect_error(UPS HTTP "    routes:\n      - match: {path_prefix: v1/}\n"
	    "        upstream: app\n",
	    "t.yaml:10:30: invalid path \"v1/\" for \"path_prefix\": must start "
	    "with \"/\"");
}
END_TEST

START_TEST(test_match_path_exact_slash)
{
	expect_error(UPS HTTP "    routes:\n      - match: {path_exact: \"\"}\n"
	    "        upstream: app\n",
	    "t.yaml:10:29: invalid path \"\" for \"path_exact\": must start "
	    "with \"/\"");
}
END_TEST

START_TEST(test_match_path_query)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {path_exact: \"/search?q=1\"}\n"
	    "        upstream: app\n",
	    "t.yaml:10:29: invalid path \"/search?q=1\" for \"path_exact\": a "
	    "path ends before \"?\" or \"#\"");
}
END_TEST

START_TEST(test_match_path_space)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {path_prefix: \"/a b\"}\n"
	    "        upstream: app\n",
	    "t.yaml:10:30: invalid path \"/a b\" for \"path_prefix\": spaces, "
	    "control characters and bytes past ASCII do not occur in a request "
	    "path; percent-encode them");
}
END_TEST

START_TEST(test_match_prefix_and_exact)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match:\n"
	    "          path_exact: /a\n"
	    "          path_prefix: /b/\n"
	    "        upstream: app\n",
	    "t.yaml:12:11: \"path_prefix\" and \"path_exact\" cannot be used "
	    "together");
}
END_TEST

START_TEST(test_match_host_port)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {host: \"example.com:8080\"}\n"
	    "        upstream: app\n",
	    "t.yaml:10:23: invalid host \"example.com:8080\" for \"host\": hosts "
	    "are matched without a port");
}
END_TEST

START_TEST(test_match_host_chars)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {host: \"a_b.example.com\"}\n"
	    "        upstream: app\n",
	    "t.yaml:10:23: invalid host \"a_b.example.com\" for \"host\": use "
	    "letters, digits, \"-\" and \".\", or \"*.\" and a domain");
}
END_TEST

START_TEST(test_match_host_wildcard_inside)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {host: \"api.*.com\"}\n"
	    "        upstream: app\n",
	    "t.yaml:10:23: invalid host \"api.*.com\" for \"host\": use "
	    "letters, digits, \"-\" and \".\", or \"*.\" and a domain");
}
END_TEST

START_TEST(test_match_host_empty_label)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {host: \"*.\"}\n"
	    "        upstream: app\n",
	    "t.yaml:10:23: invalid host \"*.\" for \"host\": labels must not be "
	    "empty");
}
END_TEST

START_TEST(test_match_host_long_label)
{
	char text[1024], label[65], want[512];

	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(text, sizeof(text), UPS HTTP "    routes:\n"
	    "      - match: {host: %s.com}\n"
	    "        upstream: app\n", label);
	snprintf(want, sizeof(want), "t.yaml:10:23: invalid host \"%s.com\" "
	    "for \"host\": a label is longer than 63 characters", label);
	expect_error(text, want);
}
END_TEST

START_TEST(test_match_methods_token)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {methods: [GET, \"GE T\"]}\n"
	    "        upstream: app\n",
	    "t.yaml:10:32: invalid method \"GE T\" in \"methods\": use letters, "
	    "digits and !#$%&'*+-.^_`|~");
}
END_TEST

START_TEST(test_match_methods_duplicate)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {methods: [GET, POST, get]}\n"
	    "        upstream: app\n",
	    "t.yaml:10:38: duplicate method \"get\" in \"methods\" (first at line "
	    "10, column 27)");
}
END_TEST

START_TEST(test_match_methods_empty)
{
	expect_error(UPS HTTP "    routes:\n"
	    "      - match: {methods: []}\n"
	    "        upstream: app\n",
	    "t.yaml:10:26: \"methods\" must have between 1 and 32 entries, not 0");
}
END_TEST

/* ---- return and redirect */

START_TEST(test_return_status_low)
{
	expect_error(UPS HTTP ROUTES "      - return: {status: 99}\n",
	    "t.yaml:11:26: \"status\" must be an integer between 100 and 599, "
	    "not \"99\"");
}
END_TEST

START_TEST(test_return_status_high)
{
	expect_error(UPS HTTP ROUTES "      - return: {status: 600}\n",
	    "t.yaml:11:26: \"status\" must be an integer between 100 and 599, "
	    "not \"600\"");
}
END_TEST

START_TEST(test_return_not_mapping)
{
	expect_error(UPS HTTP ROUTES "      - return: 404\n",
	    "t.yaml:11:17: \"return\" must be a mapping");
}
END_TEST

START_TEST(test_redirect_status)
{
	expect_error(UPS HTTP ROUTES
	    "      - redirect: {status: 300, location: /}\n",
	    "t.yaml:11:28: \"status\" must be one of 301, 302, 303, 307 or 308, "
	    "not \"300\"");
}
END_TEST

START_TEST(test_redirect_location_missing)
{
	expect_error(UPS HTTP ROUTES "      - redirect: {status: 301}\n",
	    "t.yaml:11:19: \"redirect\" needs one of \"location\" or \"scheme\"");
}
END_TEST

START_TEST(test_redirect_location_and_scheme)
{
	expect_error(UPS HTTP ROUTES "      - redirect: {location: /a, scheme: https}\n",
	    "t.yaml:11:19: \"redirect\" needs one of \"location\" or \"scheme\"");
}
END_TEST

START_TEST(test_redirect_scheme_unknown)
{
	expect_error(UPS HTTP ROUTES "      - redirect: {scheme: gopher}\n",
	    "t.yaml:11:28: invalid value \"gopher\" for \"scheme\", expected one of: https");
}
END_TEST

START_TEST(test_redirect_port_without_scheme)
{
	expect_error(UPS HTTP ROUTES "      - redirect: {location: /a, port: 8443}\n",
	    "t.yaml:11:34: \"port\" goes with \"scheme\"");
}
END_TEST

START_TEST(test_redirect_location_crlf)
{
	expect_error(UPS HTTP ROUTES
	    "      - redirect: {location: \"/a\\r\\nSet-Cookie: x=1\"}\n",
	    "t.yaml:11:30: invalid URL \"/a\\x0d\\x0aSet-Cookie: x=1\" for "
	    "\"location\": spaces and control characters are not allowed");
}
END_TEST

START_TEST(test_redirect_location_empty)
{
	expect_error(UPS HTTP ROUTES "      - redirect: {location: \"\"}\n",
	    "t.yaml:11:30: \"location\" must not be empty");
}
END_TEST

/* ---- header rewriting */

START_TEST(test_header_name_token)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {set: {\"X Env\": prod}}\n",
	    "t.yaml:11:33: invalid header \"X Env\" in \"set\": use letters, "
	    "digits and !#$%&'*+-.^_`|~");
}
END_TEST

START_TEST(test_header_name_empty)
{
	expect_error(UPS HTTP ROUTES
	    "        response_headers: {add: {\"\": x}}\n",
	    "t.yaml:11:34: invalid header \"\" in \"add\": use letters, digits "
	    "and !#$%&'*+-.^_`|~");
}
END_TEST

START_TEST(test_header_value_ctl)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {set: {X-Env: \"a\\x01b\"}}\n",
	    "t.yaml:11:40: invalid value \"a\\x01b\" for header \"X-Env\": "
	    "control characters other than tab are not allowed");
}
END_TEST

START_TEST(test_header_value_crlf)
{
	expect_error(UPS HTTP ROUTES
	    "        response_headers:\n"
	    "          add:\n"
	    "            X-A: \"1\\r\\nX-B: 2\"\n",
	    "t.yaml:13:18: invalid value \"1\\x0d\\x0aX-B: 2\" for header \"X-A\": "
	    "control characters other than tab are not allowed");
}
END_TEST

START_TEST(test_header_value_not_scalar)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {add: {X-A: [1, 2]}}\n",
	    "t.yaml:11:38: \"X-A\" must be a scalar");
}
END_TEST

START_TEST(test_header_remove_token)
{
	expect_error(UPS HTTP ROUTES
	    "        response_headers: {remove: [Server, \"X:Y\"]}\n",
	    "t.yaml:11:45: invalid header \"X:Y\" in \"remove\": use letters, "
	    "digits and !#$%&'*+-.^_`|~");
}
END_TEST

START_TEST(test_header_remove_not_sequence)
{
	expect_error(UPS HTTP ROUTES
	    "        response_headers: {remove: Server}\n",
	    "t.yaml:11:36: \"remove\" must be a sequence");
}
END_TEST

START_TEST(test_header_set_not_mapping)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {set: [X-A]}\n",
	    "t.yaml:11:32: \"set\" must be a mapping");
}
END_TEST

START_TEST(test_header_duplicate)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers:\n"
	    "          set: {X-Env: a, x-env: b}\n",
	    "t.yaml:12:27: duplicate header \"x-env\" in \"set\" (first at line "
	    "12, column 17)");
}
END_TEST

START_TEST(test_header_remove_duplicate)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {remove: [X-A, x-a]}\n",
	    "t.yaml:11:41: duplicate header \"x-a\" in \"remove\" (first at line "
	    "11, column 36)");
}
END_TEST

START_TEST(test_header_managed_set)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {set: {Connection: close}}\n",
	    "t.yaml:11:33: invalid header \"Connection\" in \"set\": it is managed "
	    "by cuttle");
}
END_TEST

START_TEST(test_header_managed_add)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {add: {transfer-encoding: chunked}}\n",
	    "t.yaml:11:33: invalid header \"transfer-encoding\" in \"add\": it is "
	    "managed by cuttle");
}
END_TEST

START_TEST(test_header_managed_host)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {set: {Host: example.com}}\n",
	    "t.yaml:11:33: invalid header \"Host\" in \"set\": it is managed by "
	    "cuttle; use \"host_rewrite\"");
}
END_TEST

START_TEST(test_header_managed_response)
{
	expect_error(UPS HTTP ROUTES
	    "        response_headers: {set: {Content-Length: \"0\"}}\n",
	    "t.yaml:11:34: invalid header \"Content-Length\" in \"set\": it is "
	    "managed by cuttle");
}
END_TEST

START_TEST(test_header_managed_remove)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {remove: [TE]}\n",
	    "t.yaml:11:36: invalid header \"TE\" in \"remove\": it is managed by "
	    "cuttle");
}
END_TEST

/* Each managed name, in any case, in set of the requests. */
START_TEST(test_header_managed_all)
{
	static const char *const names[] = {
		"connection", "KEEP-ALIVE", "Te", "Trailer", "Transfer-Encoding",
		"Upgrade", "Proxy-Connection", "content-length", "host",
	};
	char text[1024], want[512];
	size_t i;

	for (i = 0; i < CT_NELEM(names); i++) {
		snprintf(text, sizeof(text), UPS HTTP ROUTES
		    "        request_headers: {set: {%s: x}}\n", names[i]);
		snprintf(want, sizeof(want), "t.yaml:11:33: invalid header \"%s\" "
		    "in \"set\": it is managed by cuttle%s", names[i],
		    i + 1 == CT_NELEM(names) ? "; use \"host_rewrite\"" : "");
		expect_error(text, want);
	}
}
END_TEST

START_TEST(test_header_ops_suggestion)
{
	expect_error(UPS HTTP ROUTES
	    "        request_headers: {remve: [X-A]}\n",
	    "t.yaml:11:27: unknown key \"remve\" in request_headers, did you mean "
	    "\"remove\"?");
}
END_TEST

/* ------------------------------------------------------------------ */
/* conf_dump() */

/* conf_dump() of c, as a string to free. */
static char *
dump(const struct conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	conf_dump(c, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(strlen(text), len);
	return text;
}

static void
assert_addr_eq(const struct addr *a, const struct addr *b)
{
	ck_assert_uint_eq(a->len, b->len);
	ck_assert_mem_eq(&a->ss, &b->ss, a->len);
}

static void
assert_cidrs_eq(const struct cidr *a, size_t na, const struct cidr *b,
    size_t nb)
{
	size_t i;

	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++) {
		ck_assert_int_eq(a[i].family, b[i].family);
		ck_assert_uint_eq(a[i].prefix, b[i].prefix);
		ck_assert_mem_eq(a[i].net, b[i].net, sizeof(a[i].net));
	}
}

static void
assert_health_eq(const struct conf_health *a, const struct conf_health *b)
{
	size_t i;

	ck_assert_int_eq(a->type, b->type);
	ck_assert_pstr_eq(a->path, b->path);
	ck_assert_uint_eq(a->nexpect, b->nexpect);
	for (i = 0; i < a->nexpect; i++) {
		ck_assert_uint_eq(a->expect[i].lo, b->expect[i].lo);
		ck_assert_uint_eq(a->expect[i].hi, b->expect[i].hi);
	}
	ck_assert_pstr_eq(a->body, b->body);
	ck_assert_int_eq(a->probe, b->probe);
	ck_assert_uint_eq(a->interval_ms, b->interval_ms);
	ck_assert_uint_eq(a->timeout_ms, b->timeout_ms);
	ck_assert_uint_eq(a->rise, b->rise);
	ck_assert_uint_eq(a->fall, b->fall);
	ck_assert_uint_eq(a->max_fails, b->max_fails);
	ck_assert_uint_eq(a->fail_timeout_ms, b->fail_timeout_ms);
}

static void
assert_upstream_eq(const struct conf_upstream *a, const struct conf_upstream *b)
{
	size_t i;

	ck_assert_str_eq(a->name, b->name);
	ck_assert_int_eq(a->balance, b->balance);
	ck_assert_uint_eq(a->keepalive.max_idle, b->keepalive.max_idle);
	ck_assert_uint_eq(a->keepalive.idle_timeout_ms,
	    b->keepalive.idle_timeout_ms);
	assert_health_eq(&a->health, &b->health);
	ck_assert_uint_eq(a->nservers, b->nservers);
	for (i = 0; i < a->nservers; i++) {
		ck_assert_str_eq(a->servers[i].address, b->servers[i].address);
		assert_addr_eq(&a->servers[i].addr, &b->servers[i].addr);
		ck_assert_uint_eq(a->servers[i].weight, b->servers[i].weight);
	}
}

static void
assert_strs_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++)
		ck_assert_str_eq(a[i], b[i]);
}

static void
assert_kvs_eq(const struct conf_kv *a, size_t na, const struct conf_kv *b,
    size_t nb)
{
	size_t i;

	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++) {
		ck_assert_str_eq(a[i].name, b[i].name);
		ck_assert_str_eq(a[i].value, b[i].value);
	}
}

static void
assert_header_ops_eq(const struct conf_header_ops *a,
    const struct conf_header_ops *b)
{
	assert_kvs_eq(a->set, a->nset, b->set, b->nset);
	assert_kvs_eq(a->add, a->nadd, b->add, b->nadd);
	assert_strs_eq(a->remove, a->nremove, b->remove, b->nremove);
}

static void
assert_route_eq(const struct conf_route *a, const struct conf_route *b)
{
	ck_assert_pstr_eq(a->host, b->host);
	ck_assert_pstr_eq(a->path_prefix, b->path_prefix);
	ck_assert_pstr_eq(a->path_exact, b->path_exact);
	assert_strs_eq(a->methods, a->nmethods, b->methods, b->nmethods);
	ck_assert_int_eq(a->action, b->action);
	ck_assert_pstr_eq(a->upstream_name, b->upstream_name);
	ck_assert_uint_eq(a->upstream, b->upstream);
	ck_assert_uint_eq(a->status, b->status);
	ck_assert_pstr_eq(a->body, b->body);
	ck_assert_pstr_eq(a->location, b->location);
	ck_assert_pstr_eq(a->host_rewrite, b->host_rewrite);
	assert_header_ops_eq(&a->request_headers, &b->request_headers);
	assert_header_ops_eq(&a->response_headers, &b->response_headers);
}

static void
assert_listener_eq(const struct conf_listener *a, const struct conf_listener *b)
{
	size_t i;

	ck_assert_str_eq(a->name, b->name);
	ck_assert_str_eq(a->listen, b->listen);
	assert_addr_eq(&a->addr, &b->addr);
	ck_assert_int_eq(a->mode, b->mode);
	ck_assert_pstr_eq(a->upstream_name, b->upstream_name);
	ck_assert_uint_eq(a->upstream, b->upstream);
	assert_cidrs_eq(a->acl.allow, a->acl.nallow, b->acl.allow, b->acl.nallow);
	assert_cidrs_eq(a->acl.deny, a->acl.ndeny, b->acl.deny, b->acl.ndeny);
	ck_assert_uint_eq(a->connect_timeout_ms, b->connect_timeout_ms);
	ck_assert_uint_eq(a->idle_timeout_ms, b->idle_timeout_ms);
	ck_assert_uint_eq(a->header_timeout_ms, b->header_timeout_ms);
	ck_assert_uint_eq(a->send_timeout_ms, b->send_timeout_ms);
	ck_assert_uint_eq(a->read_timeout_ms, b->read_timeout_ms);
	ck_assert_uint_eq(a->retries, b->retries);
	ck_assert_pstr_eq(a->access_log.path, b->access_log.path);
	ck_assert_int_eq(a->access_log.format, b->access_log.format);
	ck_assert_uint_eq(a->nroutes, b->nroutes);
	for (i = 0; i < a->nroutes; i++)
		assert_route_eq(&a->routes[i], &b->routes[i]);
	ck_assert_uint_eq(a->max_body_size, b->max_body_size);
	ck_assert_uint_eq(a->max_header_size, b->max_header_size);
	ck_assert_int_eq(a->compress.enabled, b->compress.enabled);
	assert_strs_eq(a->compress.types, a->compress.ntypes, b->compress.types,
	    b->compress.ntypes);
	ck_assert_uint_eq(a->compress.min_size, b->compress.min_size);
	ck_assert_int_eq(a->compress.level, b->compress.level);
}

/* Every field but path, which names the file each was loaded from. */
static void
assert_conf_eq(const struct conf *a, const struct conf *b)
{
	size_t i;

	ck_assert_uint_eq(a->workers, b->workers);
	ck_assert_uint_eq(a->shm_size, b->shm_size);
	ck_assert_uint_eq(a->worker_connections, b->worker_connections);
	ck_assert_str_eq(a->error_log_path, b->error_log_path);
	ck_assert_int_eq(a->error_log_level, b->error_log_level);
	ck_assert_uint_eq(a->nupstreams, b->nupstreams);
	for (i = 0; i < a->nupstreams; i++)
		assert_upstream_eq(&a->upstreams[i], &b->upstreams[i]);
	ck_assert_uint_eq(a->nlisteners, b->nlisteners);
	for (i = 0; i < a->nlisteners; i++)
		assert_listener_eq(&a->listeners[i], &b->listeners[i]);
	ck_assert_int_eq(a->daemon, b->daemon);
	ck_assert_pstr_eq(a->pid_file, b->pid_file);
	ck_assert_pstr_eq(a->user, b->user);
	ck_assert_pstr_eq(a->group, b->group);
	ck_assert_uint_eq(a->uid, b->uid);
	ck_assert_uint_eq(a->gid, b->gid);
	ck_assert_uint_eq(a->worker_rlimit_nofile, b->worker_rlimit_nofile);
	ck_assert_uint_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
	ck_assert_pstr_eq(a->admin.socket, b->admin.socket);
	ck_assert_pstr_eq(a->admin.listen, b->admin.listen);
	ck_assert_pstr_eq(a->admin.token_file, b->admin.token_file);
	ck_assert_pstr_eq(a->admin.token, b->admin.token);
	ck_assert_uint_eq(a->admin.events.conns_per_second, b->admin.events.conns_per_second);
	ck_assert_uint_eq(a->admin.events.subscribers, b->admin.events.subscribers);
	ck_assert_uint_eq(a->admin.events.buffer, b->admin.events.buffer);
	ck_assert_mem_eq(&a->admin.login, &b->admin.login, sizeof(a->admin.login));
	ck_assert_mem_eq(&a->admin.session, &b->admin.session, sizeof(a->admin.session));
}

/*
 * Writes text to a file, loads it with conf_load(), dumps the result,
 * loads the dump with conf_load_string(), and checks that both loads
 * give equal configurations and that the dump of the second is the
 * same text: the dump is a fixed point.
 */
static void
round_trip(const char *text)
{
	char path[] = "/tmp/check_conf_XXXXXX";
	char *out, *again;
	struct conf *a, *b;
	struct errs e;
	int fd;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(&e, 0, sizeof(e));
	a = conf_load(path, errs_add, &e);
	unlink(path);
	ck_assert_msg(a != NULL && e.n == 0, "%zu errors, first: %s", e.n,
	    e.msg[0]);
	out = dump(a);
	memset(&e, 0, sizeof(e));
	b = conf_load_string("dump.yaml", out, strlen(out), errs_add, &e);
	ck_assert_msg(b != NULL && e.n == 0, "%zu errors, first: %s", e.n,
	    e.msg[0]);
	assert_conf_eq(a, b);
	again = dump(b);
	ck_assert_str_eq(again, out);
	free(again);
	free(out);
	conf_free(b);
	conf_free(a);
}

/* The caches, resolver, approvals and redis sections as every dump without them in its file ends. */
#define DUMP_RESOLVER \
	"# caches: (none)\n" \
	"resolver:\n" \
	"  # nameservers: (those of /etc/resolv.conf)\n" \
	"  timeout: 5s\n" \
	"  tries: 2\n" \
	"  cache: 1m\n" \
	"  negative_cache: 5s\n" \
	"  cache_size: 1024\n" \
	"# approvals: (decisions are not kept across restarts)\n" \
	"# redis: (standalone: no cluster)\n"

START_TEST(test_dump_text)
{
	static const char want[] =
	    "# cuttle: the effective configuration, every default filled in\n"
	    "workers: 2\n"
	    "shm_size: 1g\n"
	    "worker_connections: 4096\n"
	    "error_log:\n"
	    "  path: \"syslog:/dev/log\"\n"
	    "  level: debug\n"
	    "upstreams:\n"
	    "  \"app\":\n"
	    "    balance: round_robin\n"
	    "    slow_start: 0ms\n"
	    "    keepalive:\n"
	    "      max_idle: 32\n"
	    "      idle_timeout: 1m\n"
	    "    servers:\n"
	    "      - address: \"127.0.0.1:9001\"\n"
	    "        weight: 1\n"
	    "        backup: false\n"
	    "      - address: \"[::1]:9002\"\n"
	    "        weight: 3\n"
	    "        backup: false\n"
	    "listeners:\n"
	    "  - name: \"app\"\n"
	    "    listen: \"*:8080\"\n"
	    "    mode: tcp\n"
	    "    upstream: \"app\"\n"
	    "    acl:\n"
	    "      allow: [\"::1/128\", \"10.0.0.0/8\"]\n"
	    "      deny: []\n"
	    "    timeouts:\n"
	    "      connect: 1500ms\n"
	    "      idle: 2m\n"
	    "    retries: 1\n"
	    "    access_log:\n"
	    "      path: \"/var/log/a #1: \\\"$$x\\\" \\\\\"\n"
	    "      format: json\n"
	    "  - name: \"b\"\n"
	    "    listen: \"127.0.0.1:8081\"\n"
	    "    mode: tcp\n"
	    "    upstream: \"app\"\n"
	    "    acl:\n"
	    "      allow: []\n"
	    "      deny: [\"0.0.0.0/0\"]\n"
	    "    timeouts:\n"
	    "      connect: 5s\n"
	    "      idle: 10m\n"
	    "    retries: 1\n"
	    "    # access_log: (none)\n"
	    "daemon: true\n"
	    "pid_file: \"/run/cuttle.pid\"\n"
	    "user: \"root\"  # uid 0\n"
	    "# group: (the user's primary group, gid 0)\n"
	    "worker_rlimit_nofile: 65536\n"
	    "shutdown_timeout: 90s\n"
	    DUMP_RESOLVER;
	struct conf *c = expect_ok(
	    "workers: 2\n"
	    "shm_size: 1024m\n"
	    "error_log: {path: \"syslog:/dev/log\", level: debug}\n"
	    "upstreams:\n"
	    "  app:\n"
	    "    servers:\n"
	    "      - {address: 127.0.0.1:9001}\n"
	    "      - {address: \"[::1]:9002\", weight: 3}\n"
	    "listeners:\n"
	    "  - name: app\n"
	    "    listen: \"*:8080\"\n"
	    "    mode: tcp\n"
	    "    upstream: app\n"
	    "    acl: {allow: [\"::1\", 10.0.0.0/8]}\n"
	    "    timeouts: {connect: 1500ms, idle: 120s}\n"
	    "    access_log: {path: \"/var/log/a #1: \\\"$$x\\\" \\\\\", "
	    "format: json}\n"
	    "  - name: b\n"
	    "    listen: 127.0.0.1:8081\n"
	    "    mode: tcp\n"
	    "    upstream: app\n"
	    "    acl: {deny: [0.0.0.0/0]}\n"
	    "daemon: true\n"
	    "pid_file: /run/cuttle.pid\n"
	    "user: root\n"
	    "worker_rlimit_nofile: 65536\n"
	    "shutdown_timeout: 90s\n");
	char *out = dump(c);

	ck_assert_str_eq(c->listeners[0].access_log.path,
	    "/var/log/a #1: \"$x\" \\");
	ck_assert_str_eq(out, want);
	free(out);
	conf_free(c);
}
END_TEST

START_TEST(test_dump_defaults)
{
	static const char want[] =
	    "# cuttle: the effective configuration, every default filled in\n"
	    "workers: %u\n"
	    "shm_size: 32m\n"
	    "worker_connections: 4096\n"
	    "error_log:\n"
	    "  path: \"stderr\"\n"
	    "  level: info\n"
	    "upstreams:\n"
	    "  \"app\":\n"
	    "    balance: round_robin\n"
	    "    slow_start: 0ms\n"
	    "    keepalive:\n"
	    "      max_idle: 32\n"
	    "      idle_timeout: 1m\n"
	    "    servers:\n"
	    "      - address: \"127.0.0.1:9001\"\n"
	    "        weight: 1\n"
	    "        backup: false\n"
	    "listeners:\n"
	    "  - name: \"app\"\n"
	    "    listen: \"127.0.0.1:8080\"\n"
	    "    mode: tcp\n"
	    "    upstream: \"app\"\n"
	    "    acl:\n"
	    "      allow: []\n"
	    "      deny: []\n"
	    "    timeouts:\n"
	    "      connect: 5s\n"
	    "      idle: 10m\n"
	    "    retries: 1\n"
	    "    # access_log: (none)\n"
	    "daemon: false\n"
	    "# pid_file: (none)\n"
	    "# user: (none)\n"
	    "# group: (none)\n"
	    "# worker_rlimit_nofile: (not changed)\n"
	    "shutdown_timeout: 30s\n"
	    DUMP_RESOLVER;
	struct conf *c = expect_ok(UPS LIS);
	char *out = dump(c), expect[2048];

	snprintf(expect, sizeof(expect), want, online_cpus());
	ck_assert_str_eq(out, expect);
	free(out);
	conf_free(c);
	round_trip(UPS LIS);
}
END_TEST

/* Upstream health: active checks and passive counting */

/* Lines 1-3 and 4: upstream "app" with health line h, then its server. */
#define UPS_HEALTH(h) \
	"upstreams:\n" \
	"  app:\n" \
	"    health: " h "\n" \
	"    servers: [{address: 127.0.0.1:9001}]\n"

START_TEST(test_health_full)
{
	struct conf *c = expect_ok(
	    "upstreams:\n"
	    "  app:\n"
	    "    health:\n"
	    "      active: {type: http, path: /healthz, expect: [200-399, 418], "
	    "body: \"ok\", interval: 2s, timeout: 1s, rise: 2, fall: 3}\n"
	    "      passive: {max_fails: 3, fail_timeout: 10s}\n"
	    "    servers: [{address: 127.0.0.1:9001}]\n"
	    "  db:\n"
	    "    health:\n"
	    "      active: {type: tcp, interval: 100ms, rise: 100, fall: 1, "
	    "probe: every_node}\n"
	    "      passive: {max_fails: 1000, fail_timeout: 1h}\n"
	    "    servers: [{address: 127.0.0.1:9002}]\n"
	    "  web:\n"
	    "    health: {active: {type: http, timeout: 1h, interval: 1h}}\n"
	    "    servers: [{address: 127.0.0.1:9003}]\n"
	    LIS);
	const struct conf_health *h = &c->upstreams[0].health;

	ck_assert_int_eq(h->type, CONF_CHECK_HTTP);
	ck_assert_str_eq(h->path, "/healthz");
	ck_assert_uint_eq(h->nexpect, 2);
	ck_assert_uint_eq(h->expect[0].lo, 200);
	ck_assert_uint_eq(h->expect[0].hi, 399);
	ck_assert_uint_eq(h->expect[1].lo, 418);
	ck_assert_uint_eq(h->expect[1].hi, 418);
	ck_assert_str_eq(h->body, "ok");
	ck_assert_uint_eq(h->interval_ms, 2000);
	ck_assert_uint_eq(h->timeout_ms, 1000);
	ck_assert_uint_eq(h->rise, 2);
	ck_assert_uint_eq(h->fall, 3);
	ck_assert_int_eq(h->probe, CONF_PROBE_CLUSTER);
	ck_assert_uint_eq(h->max_fails, 3);
	ck_assert_uint_eq(h->fail_timeout_ms, 10000);
	h = &c->upstreams[1].health;
	ck_assert_int_eq(h->type, CONF_CHECK_TCP);
	ck_assert_ptr_null(h->path);
	ck_assert_ptr_null(h->expect);
	ck_assert_uint_eq(h->nexpect, 0);
	ck_assert_ptr_null(h->body);
	ck_assert_uint_eq(h->interval_ms, 100);
	/* the default 2s timeout does not fit: it becomes the interval */
	ck_assert_uint_eq(h->timeout_ms, 100);
	ck_assert_uint_eq(h->rise, 100);
	ck_assert_uint_eq(h->fall, 1);
	ck_assert_int_eq(h->probe, CONF_PROBE_EVERY_NODE);
	ck_assert_uint_eq(h->max_fails, 1000);
	ck_assert_uint_eq(h->fail_timeout_ms, 3600000);
	h = &c->upstreams[2].health;
	ck_assert_int_eq(h->type, CONF_CHECK_HTTP);
	ck_assert_uint_eq(h->interval_ms, 3600000);
	ck_assert_uint_eq(h->timeout_ms, 3600000);
	ck_assert_uint_eq(h->max_fails, 1);
	ck_assert_uint_eq(h->fail_timeout_ms, 10000);
	conf_free(c);
}
END_TEST

START_TEST(test_health_defaults)
{
	struct conf *c = expect_ok(UPS LIS);
	const struct conf_health *h = &c->upstreams[0].health;

	ck_assert_int_eq(h->type, CONF_CHECK_NONE);
	ck_assert_ptr_null(h->path);
	ck_assert_ptr_null(h->expect);
	ck_assert_uint_eq(h->nexpect, 0);
	ck_assert_ptr_null(h->body);
	ck_assert_uint_eq(h->interval_ms, 5000);
	ck_assert_uint_eq(h->timeout_ms, 2000);
	ck_assert_uint_eq(h->rise, 2);
	ck_assert_uint_eq(h->fall, 3);
	ck_assert_uint_eq(h->max_fails, 1);
	ck_assert_uint_eq(h->fail_timeout_ms, 10000);
	conf_free(c);
	c = expect_ok(UPS_HEALTH("{active: {type: http}, passive: {max_fails: 1}}")
	    LIS);
	h = &c->upstreams[0].health;
	ck_assert_int_eq(h->type, CONF_CHECK_HTTP);
	ck_assert_str_eq(h->path, "/");
	ck_assert_uint_eq(h->nexpect, 1);
	ck_assert_uint_eq(h->expect[0].lo, 200);
	ck_assert_uint_eq(h->expect[0].hi, 399);
	ck_assert_ptr_null(h->body);
	ck_assert_uint_eq(h->interval_ms, 5000);
	ck_assert_uint_eq(h->timeout_ms, 2000);
	ck_assert_uint_eq(h->rise, 2);
	ck_assert_uint_eq(h->fall, 3);
	ck_assert_uint_eq(h->max_fails, 1);
	ck_assert_uint_eq(h->fail_timeout_ms, 10000);
	conf_free(c);
}
END_TEST

START_TEST(test_health_type_missing)
{
	expect_error(UPS_HEALTH("{active: {path: /}}") LIS,
	    "t.yaml:3:22: missing required key \"type\" in active");
}
END_TEST

START_TEST(test_health_bad_type)
{
	expect_error(UPS_HEALTH("{active: {type: udp}}") LIS,
	    "t.yaml:3:29: invalid value \"udp\" for \"type\", expected one of: "
	    "tcp, http");
}
END_TEST

START_TEST(test_health_bad_probe)
{
	expect_error(UPS_HEALTH("{active: {type: tcp, probe: one}}") LIS,
	    "t.yaml:3:41: invalid value \"one\" for \"probe\", expected one of: "
	    "cluster, every_node");
}
END_TEST

START_TEST(test_health_path_needs_http)
{
	expect_error(UPS_HEALTH("{active: {type: tcp, path: /x}}") LIS,
	    "t.yaml:3:40: \"path\" needs \"type: http\"");
}
END_TEST

START_TEST(test_health_expect_status)
{
	expect_error(UPS_HEALTH("{active: {type: http, expect: [200, 600]}}") LIS,
	    "t.yaml:3:49: invalid entry \"600\" in \"expect\": use a status "
	    "from 100 to 599 or a range LO-HI");
}
END_TEST

START_TEST(test_health_expect_range)
{
	expect_error(UPS_HEALTH("{active: {type: http, expect: [300-200]}}") LIS,
	    "t.yaml:3:44: invalid entry \"300-200\" in \"expect\": the low end "
	    "of the range is above the high end");
}
END_TEST

START_TEST(test_health_timeout_interval)
{
	expect_error(UPS_HEALTH("{active: {type: tcp, interval: 1s, timeout: 2s}}")
	    LIS,
	    "t.yaml:3:57: \"timeout\" must be at most the interval (1s), not 2s");
}
END_TEST

START_TEST(test_health_rise_zero)
{
	expect_error(UPS_HEALTH("{active: {type: tcp, rise: 0}}") LIS,
	    "t.yaml:3:40: \"rise\" must be an integer between 1 and 100, not "
	    "\"0\"");
}
END_TEST

/* Passive counting is on by default (max_fails 1, as nginx); 0 turns it off. */
START_TEST(test_health_max_fails_zero)
{
	struct conf *c = expect_ok(UPS_HEALTH("{passive: {max_fails: 0}}") LIS);

	ck_assert_uint_eq(c->upstreams[0].health.max_fails, 0);
	conf_free(c);
	expect_error(UPS_HEALTH("{passive: {max_fails: 1001}}") LIS,
	    "t.yaml:3:35: \"max_fails\" must be an integer between 0 and 1000, "
	    "not \"1001\"");
}
END_TEST

START_TEST(test_health_suggestion)
{
	expect_error(UPS_HEALTH("{active: {type: tcp, intreval: 1s}}") LIS,
	    "t.yaml:3:34: unknown key \"intreval\" in active, did you mean "
	    "\"interval\"?");
}
END_TEST

START_TEST(test_health_round_trip)
{
	round_trip(
	    "upstreams:\n"
	    "  app:\n"
	    "    health:\n"
	    "      active: {type: http, path: \"/h?x=$${y}\", expect: [200-399, "
	    "418, 100-599], body: \"ok $${z} \\\"#: [x]\", interval: 2s, "
	    "timeout: 1500ms, rise: 5, fall: 100}\n"
	    "      passive: {max_fails: 3, fail_timeout: 1h}\n"
	    "    servers: [{address: 127.0.0.1:9001}]\n"
	    "  db:\n"
	    "    health: {active: {type: tcp, interval: 100ms, probe: every_node}}\n"
	    "    servers: [{address: 127.0.0.1:9002}]\n"
	    "  web:\n"
	    "    health: {passive: {max_fails: 1}}\n"
	    "    servers: [{address: 127.0.0.1:9003}]\n"
	    LIS);
}
END_TEST

START_TEST(test_dump_round_trip_full)
{
	round_trip(full);
}
END_TEST

/* Modes forward and socks, their destinations, and via chains on both sides. */
static const char proxy_conf[] =
    "upstreams:\n"
    "  u:\n"
    "    via: [\"socks5://a:b%40c@127.0.0.1:1080\", \"http://[::1]:3128\"]\n"
    "    servers: [{address: 127.0.0.1:9}]\n"
    "listeners:\n"
    "  - name: s\n"
    "    listen: 127.0.0.1:1080\n"
    "    mode: socks\n"
    "    socks: {versions: [5]}\n"
    "    destinations: {deny: [10.0.0.0/8, \"*.example.com:443\"], private: allow}\n"
    "    via: [\"socks4a://u@127.0.0.1:1081\"]\n"
    "    timeouts: {handshake: 3s}\n"
    "  - name: f\n"
    "    listen: 127.0.0.1:3128\n"
    "    mode: forward\n"
    "    forward: {connect_ports: [443, 8443]}\n"
    "  - {name: t, listen: 127.0.0.1:8080, mode: tcp, upstream: u}\n";

START_TEST(test_proxy_round_trip)
{
	static const char *const kept[] = {
		"- \"socks5://a:b%40c@127.0.0.1:1080\"", "- \"http://[::1]:3128\"",
		"- \"socks4a://u@127.0.0.1:1081\"", "versions: [5]", "private: allow",
		"deny: [\"10.0.0.0/8\", \"*.example.com:443\"]", "connect_ports: [443, 8443]",
		"handshake: 3s", "mode: forward", "mode: socks",
	};
	struct errs e = { 0 };
	struct conf *c = conf_load_string("p.yaml", proxy_conf, strlen(proxy_conf), errs_add, &e);
	char *out;
	size_t i;

	ck_assert_msg(c != NULL && e.n == 0, "%zu errors, first: %s", e.n, e.msg[0]);
	out = dump(c);
	for (i = 0; i < CT_NELEM(kept); i++)
		ck_assert_msg(strstr(out, kept[i]) != NULL, "the dump lost %s:\n%s", kept[i], out);
	free(out);
	conf_free(c);
	round_trip(proxy_conf);
}
END_TEST

/*
 * Every key set, with strings that YAML would misread unquoted and,
 * through the environment, bytes that need escapes: a tab, a newline,
 * DEL, U+2028 (a line break to YAML), a byte order mark, and "$", which
 * the loader would expand if the dump did not double it.
 */
START_TEST(test_dump_round_trip_every_key)
{
	char group[256], text[8192];
	uid_t uid;
	gid_t gid;

	nobody_ids(&uid, &gid, group, sizeof(group));
	setenv("CT_TEST_ODD", "a\tb\nc\x7f" "d\xe2\x80\xa8" "e\xef\xbb\xbf"
	    "\xc3\xa9\xf0\x9f\x90\x99 ${X} $$ \\ \"", 1);
	/* a field value may hold a tab and bytes past ASCII, not the rest */
	setenv("CT_TEST_FIELD", "a\tb \xc3\xa9 ${X} $$ \\ \" #: [x]", 1);
	snprintf(text, sizeof(text),
	    "workers: 7\n"
	    "shm_size: 9728k\n"
	    "worker_connections: 100000\n"
	    "error_log: {path: \"/var/log/[cuttle]: #1 ${CT_TEST_ODD}\", "
	    "level: error}\n"
	    "upstreams:\n"
	    "  a-b.c_1:\n"
	    "    balance: least_conn\n"
	    "    health:\n"
	    "      active: {type: http, path: \"/h$${x}?a=[1]#:\", "
	    "expect: [100-599, 204], body: \"$${y} #: [\\\"x\\\"]\", "
	    "interval: 1h, timeout: 59m, rise: 100, fall: 1}\n"
	    "      passive: {max_fails: 1000, fail_timeout: 1ms}\n"
	    "    servers:\n"
	    "      - {address: \"[2001:db8::1]:443\", weight: 256}\n"
	    "      - {address: 10.1.2.3:1, weight: 1}\n"
	    "  unused:\n"
	    "    health: {active: {type: tcp, interval: 100ms}}\n"
	    "    servers: [{address: \"[::ffff:10.0.0.1]:80\"}]\n"
	    "listeners:\n"
	    "  - name: \"null\"\n"
	    "    listen: \"[::]:65535\"\n"
	    "    mode: tcp\n"
	    "    upstream: a-b.c_1\n"
	    "    acl:\n"
	    "      allow: [\"2001:db8::/32\", 192.168.0.0/16, 0.0.0.0/0, \"::/0\"]\n"
	    "      deny: [\"::ffff:0:0/96\", 192.168.1.1]\n"
	    "    timeouts: {connect: 86400000ms, idle: 30d}\n"
	    "    retries: 16\n"
	    "    access_log: {path: \"${CT_TEST_ODD}\", format: json}\n"
	    "  - name: second\n"
	    "    listen: \"*:1\"\n"
	    "    mode: tcp\n"
	    "    upstream: unused\n"
	    "    timeouts: {connect: 1ms, idle: 61s}\n"
	    "    retries: 0\n"
	    "    access_log: {path: \"- [x]: y\"}\n"
	    "  - name: http\n"
	    "    listen: \"[::1]:80\"\n"
	    "    mode: http\n"
	    "    acl: {allow: [\"::1\"]}\n"
	    "    timeouts: {connect: 1ms, idle: 2h, header: 30d, send: 1500ms, "
	    "read: 61s}\n"
	    "    retries: 3\n"
	    "    access_log: {path: /tmp/h.log, format: json}\n"
	    "    max_body_size: 0\n"
	    "    max_header_size: 1025\n"
	    "    compress: {types: [Application/JSON, \"image/svg+xml\"], "
	    "min_size: 0, level: 1}\n"
	    "    routes:\n"
	    "      - match: {host: \"*.Example.COM\", path_prefix: \"/$${v}/\", "
	    "methods: [get, \"M-SEARCH\", \"!#$$%%&'*+-.^_`|~\"]}\n"
	    "        upstream: unused\n"
	    "        host_rewrite: \"[::1]:8080\"\n"
	    "        request_headers:\n"
	    "          set: {\"X-$a\": \"${CT_TEST_FIELD}\", \"!#%%&'*+-.^_`|~\": "
	    "\"\"}\n"
	    "          add: {X-A: \"1\", x-b: \"#2: [x]\"}\n"
	    "          remove: [X-C, \"X-$$d\"]\n"
	    "        response_headers: {add: {Host: h}, remove: [Server]}\n"
	    "      - match: {path_exact: /}\n"
	    "        return: {status: 599, body: \"${CT_TEST_ODD}\"}\n"
	    "      - match: {methods: [DELETE]}\n"
	    "        redirect: {status: 307, location: \"https://e.com/a?b=$$1#c\"}\n"
	    "      - upstream: a-b.c_1\n"
	    "daemon: true\n"
	    "pid_file: \"${CT_TEST_ODD}\"\n"
	    "user: root\n"
	    "group: %s\n"
	    "worker_rlimit_nofile: 16777216\n"
	    "shutdown_timeout: 1ms\n", group);
	round_trip(text);
	unsetenv("CT_TEST_ODD");
	unsetenv("CT_TEST_FIELD");
}
END_TEST

/* An http listener in full: every key, unset ones as comments. */
START_TEST(test_dump_http_text)
{
	static const char want[] =
	    "# cuttle: the effective configuration, every default filled in\n"
	    "workers: 2\n"
	    "shm_size: 32m\n"
	    "worker_connections: 4096\n"
	    "error_log:\n"
	    "  path: \"stderr\"\n"
	    "  level: info\n"
	    "upstreams:\n"
	    "  \"api\":\n"
	    "    balance: round_robin\n"
	    "    slow_start: 0ms\n"
	    "    keepalive:\n"
	    "      max_idle: 64\n"
	    "      idle_timeout: 1m\n"
	    "    servers:\n"
	    "      - address: \"127.0.0.1:9001\"\n"
	    "        weight: 1\n"
	    "        backup: false\n"
	    "listeners:\n"
	    "  - name: \"web\"\n"
	    "    listen: \"127.0.0.1:8080\"\n"
	    "    mode: http\n"
	    "    acl:\n"
	    "      allow: []\n"
	    "      deny: []\n"
	    "    timeouts:\n"
	    "      connect: 5s\n"
	    "      idle: 75s\n"
	    "      header: 1m\n"
	    "      send: 1m\n"
	    "      read: 1m\n"
	    "    retries: 1\n"
	    "    # access_log: (none)\n"
	    "    max_body_size: 1g\n"
	    "    max_header_size: 32k\n"
	    "    underscores_in_headers: drop\n"
	    "    forward_normalized_path: false\n"
	    "    compress:\n"
	    "      types: [\"text/css\"]\n"
	    "      min_size: 1k\n"
	    "      level: 5\n"
	    "    routes:\n"
	    "      - match:\n"
	    "          host: \"api.example.com\"\n"
	    "          path_prefix: \"/v1/\"\n"
	    "          methods: [\"GET\"]\n"
	    "        upstream: \"api\"\n"
	    "        # host_rewrite: (the client's Host)\n"
	    "        request_headers:\n"
	    "          set:\n"
	    "            \"X-Env\": \"prod\"\n"
	    "          add: {}\n"
	    "          remove: [\"X-Debug\"]\n"
	    "        response_headers:\n"
	    "          set: {}\n"
	    "          add: {}\n"
	    "          remove: []\n"
	    "        # cache: (off)\n"
	    "      - match:\n"
	    "          path_exact: \"/healthz\"\n"
	    "        return:\n"
	    "          status: 200\n"
	    "          body: \"ok\\x0a\"\n"
	    "      - match: {}\n"
	    "        redirect:\n"
	    "          status: 302\n"
	    "          location: \"https://example.com/\"\n"
	    "daemon: false\n"
	    "# pid_file: (none)\n"
	    "# user: (none)\n"
	    "# group: (none)\n"
	    "# worker_rlimit_nofile: (not changed)\n"
	    "shutdown_timeout: 30s\n"
	    DUMP_RESOLVER;
	struct conf *c = expect_ok(
	    "workers: 2\n"
	    "upstreams:\n"
	    "  api:\n"
	    "    keepalive: {max_idle: 64}\n"
	    "    servers: [{address: 127.0.0.1:9001}]\n"
	    "listeners:\n"
	    "  - name: web\n"
	    "    listen: 127.0.0.1:8080\n"
	    "    mode: http\n"
	    "    compress: {types: [text/css]}\n"
	    "    routes:\n"
	    "      - match: {host: \"API.example.com\", path_prefix: /v1/, methods: [get]}\n"
	    "        upstream: api\n"
	    "        request_headers: {set: {X-Env: prod}, remove: [X-Debug]}\n"
	    "      - match: {path_exact: /healthz}\n"
	    "        return: {body: \"ok\\n\"}\n"
	    "      - redirect: {location: \"https://example.com/\"}\n");
	char *out = dump(c);

	ck_assert_str_eq(out, want);
	free(out);
	conf_free(c);
}
END_TEST

START_TEST(test_dump_round_trip_http)
{
	round_trip(full_http);
	round_trip(UPS HTTP ROUTES);
}
END_TEST

START_TEST(test_dump_round_trip_ids)
{
	char group[256], text[1024];
	uid_t uid;
	gid_t gid;

	nobody_ids(&uid, &gid, group, sizeof(group));
	round_trip("user: nobody\n" UPS LIS);
	snprintf(text, sizeof(text), "group: %s\n" UPS LIS, group);
	round_trip(text);
	snprintf(text, sizeof(text), "group: %s\nuser: nobody\n" UPS LIS, group);
	round_trip(text);
}
END_TEST

START_TEST(test_dump_round_trip_error_logs)
{
	round_trip("error_log: {path: syslog, level: notice}\n" UPS LIS);
	round_trip("error_log: {path: \"syslog:/dev/log\", level: warn}\n"
	    UPS LIS);
	round_trip("error_log: {path: \"relative path.log\"}\n" UPS LIS);
}
END_TEST

/* ------------------------------------------------------------ admin */

START_TEST(test_admin_socket)
{
	struct conf *c = expect_ok("admin: {socket: /run/cuttle/admin.sock}\n" UPS LIS);

	ck_assert_str_eq(c->admin.socket, "/run/cuttle/admin.sock");
	ck_assert_ptr_null(c->admin.listen);
	conf_free(c);
	round_trip("admin: {socket: /run/cuttle/admin.sock}\n" UPS LIS);
}
END_TEST

START_TEST(test_admin_listen_token)
{
	char path[] = "/tmp/check_token_XXXXXX", text[512];
	struct conf *c;
	int fd;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, "0123456789abcdef0123\n", 21), 21);
	close(fd);
	snprintf(text, sizeof(text), "admin: {listen: 127.0.0.1:9090, token_file: %s}\n" UPS LIS,
	    path);
	c = expect_ok(text);
	ck_assert_str_eq(c->admin.token, "0123456789abcdef0123");
	ck_assert_str_eq(c->admin.listen, "127.0.0.1:9090");
	conf_free(c);
	round_trip(text);
	unlink(path);
}
END_TEST

START_TEST(test_admin_listen_needs_token)
{
	expect_error("admin: {listen: 127.0.0.1:9090}\n" UPS LIS,
	    "t.yaml:1:8: admin.listen needs token_file: no request is served on TCP "
	    "without a token");
}
END_TEST

START_TEST(test_admin_socket_relative)
{
	expect_error("admin: {socket: admin.sock}\n" UPS LIS,
	    "t.yaml:1:17: \"socket\" must be an absolute path of at most 107 bytes");
}
END_TEST

START_TEST(test_admin_token_short)
{
	char path[] = "/tmp/check_token_XXXXXX", text[512], want[512];
	int fd;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, "short\n", 6), 6);
	close(fd);
	snprintf(text, sizeof(text), "admin: {listen: 127.0.0.1:9090, token_file: %s}\n" UPS LIS,
	    path);
	snprintf(want, sizeof(want), "t.yaml:1:45: token_file \"%s\" must hold a token of at "
	    "least 16 characters on its first line", path);
	expect_error(text, want);
	unlink(path);
}
END_TEST

START_TEST(test_admin_events)
{
	static const char text[] = "admin:\n  socket: /run/cuttle/admin.sock\n  events:\n"
	    "    connections_per_second: 0\n    subscribers: 3\n    buffer: 64k\n" UPS LIS;
	struct conf *c = expect_ok("admin: {socket: /run/cuttle/admin.sock}\n" UPS LIS);

	ck_assert_uint_eq(c->admin.events.conns_per_second, CONF_EVENTS_CONNS_DEFAULT);
	ck_assert_uint_eq(c->admin.events.subscribers, CONF_EVENTS_SUBSCRIBERS_DEFAULT);
	ck_assert_uint_eq(c->admin.events.buffer, CONF_EVENTS_BUFFER_DEFAULT);
	conf_free(c);
	c = expect_ok(text);
	ck_assert_uint_eq(c->admin.events.conns_per_second, 0);
	ck_assert_uint_eq(c->admin.events.subscribers, 3);
	ck_assert_uint_eq(c->admin.events.buffer, 64 * 1024);
	conf_free(c);
	round_trip(text);
}
END_TEST

START_TEST(test_admin_events_bad)
{
	expect_error("admin: {socket: /a.sock, events: {subscribers: 0}}\n" UPS LIS,
	    "t.yaml:1:48: \"subscribers\" must be an integer between 1 and 64, not \"0\"");
	expect_error("admin: {socket: /a.sock, events: {subscribers: 65}}\n" UPS LIS,
	    "t.yaml:1:48: \"subscribers\" must be an integer between 1 and 64, not \"65\"");
	expect_error("admin: {socket: /a.sock, events: {buffer: 1k}}\n" UPS LIS,
	    "t.yaml:1:43: \"buffer\" must be between 4k and 64m, not \"1k\"");
	expect_error("admin: {socket: /a.sock, events: {connections_per_second: 1000001}}\n"
	    UPS LIS, "t.yaml:1:59: \"connections_per_second\" must be an integer between 0 and "
	    "1000000, not \"1000001\"");
	expect_error("admin: {socket: /a.sock, events: {buffers: 8k}}\n" UPS LIS,
	    "t.yaml:1:35: unknown key \"buffers\" in events, did you mean \"buffer\"?");
	expect_error("admin: {socket: /a.sock, events: 5}\n" UPS LIS,
	    "t.yaml:1:34: \"events\" must be a mapping");
}
END_TEST

START_TEST(test_admin_login_session)
{
	static const char text[] = "admin:\n  socket: /a.sock\n  login: {failures: 3, window: 2s, "
	    "total_failures: 7}\n  session: {lifetime: 1h, idle: 90s}\n" UPS LIS;
	struct conf *c = expect_ok("admin: {socket: /a.sock}\n" UPS LIS);

	ck_assert_uint_eq(c->admin.login.failures, 5);
	ck_assert_uint_eq(c->admin.login.total, 50);
	ck_assert_uint_eq(c->admin.login.window_ms, 60000);
	ck_assert_uint_eq(c->admin.session.lifetime_ms, 12 * 3600 * 1000);
	ck_assert_uint_eq(c->admin.session.idle_ms, 30 * 60 * 1000);
	conf_free(c);
	c = expect_ok(text);
	ck_assert_uint_eq(c->admin.login.failures, 3);
	ck_assert_uint_eq(c->admin.login.total, 7);
	ck_assert_uint_eq(c->admin.login.window_ms, 2000);
	ck_assert_uint_eq(c->admin.session.lifetime_ms, 3600 * 1000);
	ck_assert_uint_eq(c->admin.session.idle_ms, 90 * 1000);
	conf_free(c);
	round_trip(text);
	/* Defaults that the other key would contradict give way to it. */
	c = expect_ok("admin: {socket: /a.sock, login: {failures: 80}, session: {lifetime: 10m}}\n"
	    UPS LIS);
	ck_assert_uint_eq(c->admin.login.total, 80);
	ck_assert_uint_eq(c->admin.session.idle_ms, 10 * 60 * 1000);
	conf_free(c);
}
END_TEST

START_TEST(test_admin_login_session_bad)
{
	expect_error("admin: {socket: /a.sock, login: {failures: 0}}\n" UPS LIS,
	    "t.yaml:1:44: \"failures\" must be an integer between 1 and 100, not \"0\"");
	expect_error("admin: {socket: /a.sock, login: {total_failures: 501}}\n" UPS LIS,
	    "t.yaml:1:50: \"total_failures\" must be an integer between 1 and 500, not \"501\"");
	expect_error("admin: {socket: /a.sock, login: {failures: 9, total_failures: 8}}\n" UPS LIS,
	    "t.yaml:1:63: \"total_failures\" (8) must be at least \"failures\" (9)");
	expect_error("admin: {socket: /a.sock, login: {window: 500ms}}\n" UPS LIS,
	    "t.yaml:1:42: \"window\" must be at least 1s, not \"500ms\"");
	expect_error("admin: {socket: /a.sock, login: {window: 2h}}\n" UPS LIS,
	    "t.yaml:1:42: \"window\" must be at most 1h, not \"2h\"");
	expect_error("admin: {socket: /a.sock, session: {lifetime: 31d}}\n" UPS LIS,
	    "t.yaml:1:46: \"lifetime\" must be at most 30d, not \"31d\"");
	expect_error("admin: {socket: /a.sock, session: {lifetime: 1h, idle: 2h}}\n" UPS LIS,
	    "t.yaml:1:56: \"idle\" (2h) must be at most the lifetime (1h)");
	expect_error("admin: {socket: /a.sock, session: {idle: 0}}\n" UPS LIS,
	    "t.yaml:1:42: \"idle\" must be greater than 0");
	expect_error("admin: {socket: /a.sock, session: {idel: 5m}}\n" UPS LIS,
	    "t.yaml:1:36: unknown key \"idel\" in session, did you mean \"idle\"?");
}
END_TEST

Suite *
suite_conf(void)
{
	Suite *s = suite_create("conf");
	TCase *ok = tcase_create("valid");
	TCase *bad = tcase_create("errors");
	TCase *yaml = tcase_create("yaml");
	TCase *dump_tc = tcase_create("dump");

	tcase_add_test(ok, test_full);
	tcase_add_test(ok, test_defaults);
	tcase_add_test(ok, test_health_full);
	tcase_add_test(ok, test_admin_socket);
	tcase_add_test(ok, test_admin_listen_token);
	tcase_add_test(bad, test_admin_listen_needs_token);
	tcase_add_test(bad, test_admin_socket_relative);
	tcase_add_test(bad, test_admin_token_short);
	tcase_add_test(ok, test_admin_events);
	tcase_add_test(bad, test_admin_events_bad);
	tcase_add_test(ok, test_admin_login_session);
	tcase_add_test(bad, test_admin_login_session_bad);
	tcase_add_test(ok, test_health_defaults);
	tcase_add_test(ok, test_workers_auto);
	tcase_add_test(ok, test_error_log_levels);
	tcase_add_test(ok, test_env_default);
	tcase_add_test(ok, test_env_number);
	tcase_add_test(ok, test_load_file);
	tcase_add_test(ok, test_names);
	tcase_add_test(ok, test_process_defaults);
	tcase_add_test(ok, test_daemon_values);
	tcase_add_test(ok, test_pid_file);
	tcase_add_test(ok, test_user_root);
	tcase_add_test(ok, test_user_primary_group);
	tcase_add_test(ok, test_user_and_group);
	tcase_add_test(ok, test_group_only);
	tcase_add_test(ok, test_worker_rlimit_nofile);
	tcase_add_test(ok, test_shutdown_timeout);
	tcase_add_test(ok, test_error_log_paths);
	tcase_add_test(ok, test_access_log);
	tcase_add_test(ok, test_http_full);
	tcase_add_test(ok, test_http_defaults);
	tcase_add_test(ok, test_http_values);
	tcase_add_test(ok, test_return_body_size);
	suite_add_tcase(s, ok);

	tcase_add_test(bad, test_unknown_key_suggestion);
	tcase_add_test(bad, test_unknown_key_top_suggestion);
	tcase_add_test(bad, test_unknown_key_no_suggestion);
	tcase_add_test(bad, test_wrong_type);
	tcase_add_test(bad, test_wrong_type_mapping);
	tcase_add_test(bad, test_wrong_type_top);
	tcase_add_test(bad, test_missing_required_key);
	tcase_add_test(bad, test_missing_listeners);
	tcase_add_test(bad, test_missing_server_address);
	tcase_add_test(bad, test_duplicate_key);
	tcase_add_test(bad, test_bad_duration);
	tcase_add_test(bad, test_zero_duration);
	tcase_add_test(bad, test_bad_size);
	tcase_add_test(bad, test_size_range);
	tcase_add_test(bad, test_bad_address);
	tcase_add_test(bad, test_server_wildcard);
	tcase_add_test(bad, test_bad_cidr);
	tcase_add_test(bad, test_undefined_upstream);
	tcase_add_test(bad, test_undefined_upstream_suggestion);
	tcase_add_test(bad, test_duplicate_listener_name);
	tcase_add_test(bad, test_duplicate_listener_address);
	tcase_add_test(bad, test_duplicate_upstream);
	tcase_add_test(bad, test_duplicate_limit);
	tcase_add_test(bad, test_bad_names);
	tcase_add_test(bad, test_workers_range);
	tcase_add_test(bad, test_workers_zero);
	tcase_add_test(bad, test_weight_range);
	tcase_add_test(bad, test_max_conns);
	tcase_add_test(bad, test_retries_range);
	tcase_add_test(bad, test_worker_connections_range);
	tcase_add_test(bad, test_servers_empty);
	tcase_add_test(bad, test_listeners_empty);
	tcase_add_test(bad, test_bad_enum);
	tcase_add_test(bad, test_balance_keys);
	tcase_add_test(bad, test_bad_hash_key);
	tcase_add_test(bad, test_bad_hash_key_name);
	tcase_add_test(bad, test_hash_key_needs_hash);
	tcase_add_test(bad, test_hash_key_tcp);
	tcase_add_test(bad, test_bad_backup);
	tcase_add_test(bad, test_bad_slow_start);
	tcase_add_test(bad, test_bad_mode);
	tcase_add_test(bad, test_bad_level);
	tcase_add_test(bad, test_env_unset);
	tcase_add_test(bad, test_env_unterminated);
	tcase_add_test(bad, test_env_bad_name);
	tcase_add_test(bad, test_three_errors);
	tcase_add_test(bad, test_message_escaping);
	tcase_add_test(bad, test_message_truncation);
	tcase_add_test(bad, test_env_too_long);
	tcase_add_test(bad, test_load_missing_file);
	tcase_add_test(bad, test_daemon_not_bool);
	tcase_add_test(bad, test_daemon_not_bool_number);
	tcase_add_test(bad, test_daemon_mapping);
	tcase_add_test(bad, test_pid_file_empty);
	tcase_add_test(bad, test_unknown_user);
	tcase_add_test(bad, test_unknown_group);
	tcase_add_test(bad, test_user_empty);
	tcase_add_test(bad, test_worker_rlimit_nofile_zero);
	tcase_add_test(bad, test_worker_rlimit_nofile_range);
	tcase_add_test(bad, test_shutdown_timeout_zero);
	tcase_add_test(bad, test_shutdown_timeout_range);
	tcase_add_test(bad, test_syslog_relative);
	tcase_add_test(bad, test_syslog_no_socket);
	tcase_add_test(bad, test_syslog_socket_too_long);
	tcase_add_test(bad, test_access_log_missing_path);
	tcase_add_test(bad, test_access_log_bad_format);
	tcase_add_test(bad, test_access_log_not_mapping);
	tcase_add_test(bad, test_access_log_empty_path);
	tcase_add_test(bad, test_suggest_daemon);
	tcase_add_test(bad, test_suggest_pid_file);
	tcase_add_test(bad, test_suggest_shutdown_timeout);
	tcase_add_test(bad, test_suggest_worker_rlimit_nofile);
	tcase_add_test(bad, test_suggest_access_log);
	tcase_add_test(bad, test_suggest_access_log_format);
	tcase_add_test(bad, test_http_upstream_not_used);
	tcase_add_test(bad, test_http_routes_missing);
	tcase_add_test(bad, test_http_routes_empty);
	tcase_add_test(bad, test_http_routes_not_sequence);
	tcase_add_test(bad, test_tcp_upstream_missing);
	tcase_add_test(bad, test_tcp_routes);
	tcase_add_test(bad, test_tcp_compress);
	tcase_add_test(bad, test_tcp_max_body_size);
	tcase_add_test(bad, test_tcp_max_header_size);
	tcase_add_test(bad, test_tcp_header_timeout);
	tcase_add_test(bad, test_tcp_send_timeout);
	tcase_add_test(bad, test_tcp_read_timeout);
	tcase_add_test(bad, test_http_bad_mode_alone);
	tcase_add_test(bad, test_http_timeout_zero);
	tcase_add_test(bad, test_http_timeout_suggestion);
	tcase_add_test(bad, test_max_body_size_range);
	tcase_add_test(bad, test_max_header_size_small);
	tcase_add_test(bad, test_max_header_size_large);
	tcase_add_test(bad, test_keepalive_max_idle_range);
	tcase_add_test(bad, test_keepalive_idle_timeout_zero);
	tcase_add_test(bad, test_keepalive_suggestion);
	tcase_add_test(bad, test_keepalive_not_mapping);
	tcase_add_test(bad, test_compress_level_zero);
	tcase_add_test(bad, test_compress_level_ten);
	tcase_add_test(bad, test_compress_min_size);
	tcase_add_test(bad, test_compress_type_syntax);
	tcase_add_test(bad, test_compress_type_parameters);
	tcase_add_test(bad, test_compress_type_wildcard);
	tcase_add_test(bad, test_compress_type_duplicate);
	tcase_add_test(bad, test_compress_types_empty);
	tcase_add_test(bad, test_compress_not_mapping);
	tcase_add_test(bad, test_route_no_action);
	tcase_add_test(bad, test_route_two_actions);
	tcase_add_test(bad, test_route_not_mapping);
	tcase_add_test(bad, test_route_suggestion);
	tcase_add_test(bad, test_route_host_rewrite_not_upstream);
	tcase_add_test(bad, test_route_request_headers_not_upstream);
	tcase_add_test(bad, test_route_response_headers_not_upstream);
	tcase_add_test(bad, test_route_upstream_undefined);
	tcase_add_test(bad, test_route_upstream_undefined_far);
	tcase_add_test(bad, test_host_rewrite_invalid);
	tcase_add_test(bad, test_host_rewrite_empty);
	tcase_add_test(bad, test_match_not_mapping);
	tcase_add_test(bad, test_match_suggestion);
	tcase_add_test(bad, test_match_path_prefix_slash);
	tcase_add_test(bad, test_match_path_exact_slash);
	tcase_add_test(bad, test_match_path_query);
	tcase_add_test(bad, test_match_path_space);
	tcase_add_test(bad, test_match_prefix_and_exact);
	tcase_add_test(bad, test_match_host_port);
	tcase_add_test(bad, test_match_host_chars);
	tcase_add_test(bad, test_match_host_wildcard_inside);
	tcase_add_test(bad, test_match_host_empty_label);
	tcase_add_test(bad, test_match_host_long_label);
	tcase_add_test(bad, test_match_methods_token);
	tcase_add_test(bad, test_match_methods_duplicate);
	tcase_add_test(bad, test_match_methods_empty);
	tcase_add_test(bad, test_return_status_low);
	tcase_add_test(bad, test_return_status_high);
	tcase_add_test(bad, test_return_not_mapping);
	tcase_add_test(bad, test_redirect_status);
	tcase_add_test(bad, test_redirect_location_missing);
	tcase_add_test(bad, test_redirect_location_and_scheme);
	tcase_add_test(bad, test_redirect_scheme_unknown);
	tcase_add_test(bad, test_redirect_port_without_scheme);
	tcase_add_test(bad, test_redirect_location_crlf);
	tcase_add_test(bad, test_redirect_location_empty);
	tcase_add_test(bad, test_header_name_token);
	tcase_add_test(bad, test_header_name_empty);
	tcase_add_test(bad, test_header_value_ctl);
	tcase_add_test(bad, test_header_value_crlf);
	tcase_add_test(bad, test_header_value_not_scalar);
	tcase_add_test(bad, test_header_remove_token);
	tcase_add_test(bad, test_header_remove_not_sequence);
	tcase_add_test(bad, test_header_set_not_mapping);
	tcase_add_test(bad, test_header_duplicate);
	tcase_add_test(bad, test_header_remove_duplicate);
	tcase_add_test(bad, test_header_managed_set);
	tcase_add_test(bad, test_header_managed_add);
	tcase_add_test(bad, test_header_managed_host);
	tcase_add_test(bad, test_header_managed_response);
	tcase_add_test(bad, test_header_managed_remove);
	tcase_add_test(bad, test_header_managed_all);
	tcase_add_test(bad, test_header_ops_suggestion);
	tcase_add_test(bad, test_health_type_missing);
	tcase_add_test(bad, test_health_bad_type);
	tcase_add_test(bad, test_health_bad_probe);
	tcase_add_test(bad, test_health_path_needs_http);
	tcase_add_test(bad, test_health_expect_status);
	tcase_add_test(bad, test_health_expect_range);
	tcase_add_test(bad, test_health_timeout_interval);
	tcase_add_test(bad, test_health_rise_zero);
	tcase_add_test(bad, test_health_max_fails_zero);
	tcase_add_test(bad, test_health_suggestion);
	suite_add_tcase(s, bad);

	tcase_add_test(yaml, test_syntax_error);
	tcase_add_test(yaml, test_unquoted_wildcard);
	tcase_add_test(yaml, test_anchor_rejected);
	tcase_add_test(yaml, test_tag_rejected);
	tcase_add_test(yaml, test_empty_file);
	tcase_add_test(yaml, test_nesting_limit);
	tcase_add_test(yaml, test_too_large);
	suite_add_tcase(s, yaml);

	tcase_add_test(dump_tc, test_dump_text);
	tcase_add_test(dump_tc, test_dump_defaults);
	tcase_add_test(dump_tc, test_dump_round_trip_full);
	tcase_add_test(dump_tc, test_proxy_round_trip);
	tcase_add_test(dump_tc, test_dump_round_trip_every_key);
	tcase_add_test(dump_tc, test_dump_http_text);
	tcase_add_test(dump_tc, test_dump_round_trip_http);
	tcase_add_test(dump_tc, test_dump_round_trip_ids);
	tcase_add_test(dump_tc, test_balance_keys_round_trip);
	tcase_add_test(dump_tc, test_dump_round_trip_error_logs);
	tcase_add_test(dump_tc, test_health_round_trip);
	suite_add_tcase(s, dump_tc);
	return s;
}

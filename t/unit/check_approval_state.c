/*
 * The approval state file (master/approvals.c) and the decisions the
 * admin API takes (ctl/admin_approval.c): a round trip through the
 * file, expired decisions left out, a missing file, bad files moved
 * aside with the line and the reason in the log, and a posted body
 * refused with a reason for each bad field.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ctl/admin_approval.h"
#include "lib/ct.h"
#include "lib/log.h"
#include "master/approvals.h"
#include "shm/approval.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"

#define NOW 1700000000u

static struct shm shm;
static char dir[64], path[128], logpath[128];

static void
state_setup(void)
{
	memset(&shm, 0, sizeof(shm));
	shm.fd = -1;
	ck_assert_int_eq(shm_create(&shm, SHM_MIN_SIZE), CT_OK);
	snprintf(dir, sizeof(dir), "/tmp/check-approval-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.jsonl", dir);
	snprintf(logpath, sizeof(logpath), "%s/error.log", dir);
	ck_assert_int_eq(log_open(logpath, LOG_LVL_INFO), CT_OK);
}

static void
state_teardown(void)
{
	char p[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) > 0)
			unlink(p);
	if (d != NULL)
		closedir(d);
	rmdir(dir);
	shm_destroy(&shm);
}

static void
put(const char *cidr, enum shm_approval_verdict v, const char *listener, uint64_t expires,
    const char *note)
{
	struct shm_approval a;
	const char *why;

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(cidr_parse(cidr, &a.net, &why), CT_OK);
	shm_approval_normalize(&a.net);
	a.verdict = v;
	a.origin = SHM_APPROVAL_OPERATOR;
	a.expires = expires;
	a.made = NOW - 5;
	snprintf(a.listener, sizeof(a.listener), "%s", listener);
	snprintf(a.note, sizeof(a.note), "%s", note);
	snprintf(a.by, sizeof(a.by), "alice");
	ck_assert_ptr_null(shm_approval_check(&a));
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
}

/* A decision of 192.0.2.7's kind for the destination dest on port. */
static void
put_to(const char *cidr, enum shm_approval_verdict v, const char *dest, uint16_t port)
{
	struct shm_approval a;
	const char *why;

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(cidr_parse(cidr, &a.net, &why), CT_OK);
	a.verdict = v;
	a.origin = SHM_APPROVAL_OPERATOR;
	a.made = NOW - 5;
	snprintf(a.dest, sizeof(a.dest), "%s", dest);
	a.port = port;
	ck_assert_ptr_null(shm_approval_check(&a));
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
}

static size_t
count(void)
{
	static struct shm_approval all[SHM_APPROVALS_MAX];
	uint64_t gen;
	size_t n;

	ck_assert_int_eq(shm_approval_list(&shm, all, &n, &gen), CT_OK);
	return n;
}

static void
write_text(const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *
read_text(const char *p)
{
	static char buf[65536];
	FILE *f = fopen(p, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The name of the file moved aside in dir, or NULL. */
static const char *
aside(void)
{
	static char name[256];
	struct dirent *e;
	DIR *d = opendir(dir);

	name[0] = '\0';
	while (d != NULL && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "state.jsonl.corrupt-", 20) == 0)
			snprintf(name, sizeof(name), "%s", e->d_name);
	closedir(d);
	return name[0] != '\0' ? name : NULL;
}

START_TEST(round_trip)
{
	struct shm_approval_to to = { "2001:db8::9", 443 };
	struct stat st;
	struct addr a;
	const char *why;
	char *text;

	put("192.0.2.7", SHM_APPROVAL_ALLOW, "web", NOW + 3600, "office, caf\xc3\xa9");
	put("192.0.2.0/24", SHM_APPROVAL_DENY, "", 0, "");
	put("2001:db8::/48", SHM_APPROVAL_ALLOW, "", NOW + 60, "quote \" and \\ kept");
	put("198.51.100.1", SHM_APPROVAL_ALLOW, "", NOW - 1, "");     /* expired: not saved */
	put_to("192.0.2.7", SHM_APPROVAL_DENY, "2001:db8::9", 443);
	ck_assert_int_eq(approvals_state_save(&shm, path, NOW), CT_OK);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	text = read_text(path);
	ck_assert_ptr_nonnull(strstr(text, "{\"cuttle\":\"approvals\",\"version\":1}\n"));
	ck_assert_ptr_null(strstr(text, "198.51.100.1"));
	/* Into an empty table, as at a start. */
	ck_assert_int_eq(shm_approval_replace(&shm, NULL, 0), CT_OK);
	ck_assert_uint_eq(count(), 0);
	ck_assert_int_eq(approvals_state_load(&shm, path, NOW), CT_OK);
	ck_assert_uint_eq(count(), 4);
	ck_assert_ptr_nonnull(strstr(text, "\"destination\":\"[2001:db8::9]:443\""));
	ck_assert_int_eq(addr_parse_port("192.0.2.7", 1, &a, &why), CT_OK);
	ck_assert_int_eq(shm_approval_lookup(&shm, (struct sockaddr *)&a.ss,
	    shm_approval_scope("web"), &to, NOW, NULL), SHM_APPROVAL_DENY);
	ck_assert_int_eq(shm_approval_lookup(&shm, (struct sockaddr *)&a.ss,
	    shm_approval_scope("web"), NULL, NOW, NULL), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(shm_approval_lookup(&shm, (struct sockaddr *)&a.ss,
	    shm_approval_scope("mail"), NULL, NOW, NULL), SHM_APPROVAL_DENY);
	/* What is saved again is byte for byte what was read. */
	ck_assert_int_eq(approvals_state_save(&shm, path, NOW), CT_OK);
	ck_assert_str_eq(read_text(path), text);
	/* Read later, the one that expired since is left out. */
	ck_assert_int_eq(approvals_state_load(&shm, path, NOW + 60), CT_OK);
	ck_assert_uint_eq(count(), 3);
	ck_assert_ptr_null(aside());
}
END_TEST

START_TEST(missing_file_is_no_decisions)
{
	put("192.0.2.7", SHM_APPROVAL_ALLOW, "", 0, "");
	ck_assert_int_eq(approvals_state_load(&shm, path, NOW), CT_OK);
	/* Nothing was read: the table is what it was. */
	ck_assert_uint_eq(count(), 1);
	ck_assert_ptr_nonnull(strstr(read_text(logpath), "no state_file"));
}
END_TEST

/* text is refused: moved aside, said so with why in the log, the table left empty. */
static void
refused(const char *text, const char *why)
{
	char *log, moved[512];

	write_text(text);
	put("203.0.113.9", SHM_APPROVAL_ALLOW, "", 0, "");
	ck_assert_int_eq(approvals_state_load(&shm, path, NOW), CT_ERROR);
	ck_assert_uint_eq(count(), 0);
	ck_assert_ptr_nonnull(aside());
	ck_assert_int_ne(access(path, F_OK), 0);
	log = read_text(logpath);
	ck_assert_msg(strstr(log, why) != NULL, "want \"%s\" in the log:\n%s", why, log);
	ck_assert_ptr_nonnull(strstr(log, "starting with no decisions"));
	/* The file moved aside is the file as it was. */
	snprintf(moved, sizeof(moved), "%s/%s", dir, aside());
	ck_assert_str_eq(read_text(moved), text);
	unlink(moved);
	ck_assert_int_eq(truncate(logpath, 0), 0);
}

#define HEAD "{\"cuttle\":\"approvals\",\"version\":1}\n"
#define GOOD "{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"origin\":\"operator\",\"made\":1}\n"

START_TEST(corrupt_files_moved_aside)
{
	refused("garbage\n", "line 1: not JSON");
	refused("{\"cuttle\":\"approvals\",\"version\":2}\n", "line 1: not {\"cuttle\": \"approvals\"");
	refused("", "empty");
	refused(HEAD GOOD "{\"address\":\"192.0.2.1/24\",\"verdict\":\"deny\",\"origin\":\"operator\"}\n",
	    "line 3: invalid address \"192.0.2.1/24\": host bits set");
	refused(HEAD GOOD GOOD "{\"address\":\"192.0.2.8\",\"verdict\":\"maybe\",\"origin\":\"operator\"}\n",
	    "line 4: \"verdict\" must be \"allow\" or \"deny\"");
	refused(HEAD "{\"address\":\"192.0.2.8\",\"verdict\":\"deny\",\"origin\":\"operator\",\"x\":1}\n",
	    "line 2: unknown key \"x\"");
	refused(HEAD "{\"address\":\"192.0.2.8\",\"verdict\":\"deny\",\"origin\":\"boss\"}\n",
	    "line 2: \"origin\" must be");
	refused(HEAD "{\"address\":\"192.0.2.8\",\"verdict\":\"deny\",\"origin\":\"rule\",\"note\":\"a\\nb\"}\n",
	    "line 2: a note has no control characters");
	refused(HEAD "{\"address\":\"192.0.2.8\",\"verdict\":\"deny\",\"origin\":\"rule\",\"expires\":-3}\n",
	    "line 2: \"expires\" must be a number of seconds");
	refused(HEAD "{\"address\":\"192.0.2.8\",\"verdict\":\"deny\",\"origin\":\"rule\"",
	    "line 2: not JSON");
}
END_TEST

START_TEST(unreadable_file_moved_aside)
{
	/* A directory where the file should be: it cannot be read as one. */
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(approvals_state_load(&shm, path, NOW), CT_ERROR);
	ck_assert_ptr_nonnull(aside());
	ck_assert_ptr_nonnull(strstr(read_text(logpath), "moved to"));
	ck_assert_int_eq(rmdir(path), -1);     /* it is gone: moved */
	{
		char moved[512];

		snprintf(moved, sizeof(moved), "%s/%s", dir, aside());
		ck_assert_int_eq(rmdir(moved), 0);
	}
}
END_TEST

START_TEST(blank_lines_and_duplicates)
{
	write_text(HEAD "\n" GOOD
	    "{\"address\":\"192.0.2.7\",\"verdict\":\"deny\",\"origin\":\"operator\"}\n\n");
	ck_assert_int_eq(approvals_state_load(&shm, path, NOW), CT_OK);
	/* The later line of the same key is the one kept. */
	ck_assert_uint_eq(count(), 1);
}
END_TEST

/* ------------------------------------------------------ the API's body */

#define APP_CONF \
	"upstreams:\n" \
	"  u: {servers: [{address: 127.0.0.1:9}]}\n" \
	"listeners:\n" \
	"  - {name: web, listen: 127.0.0.1:8081, mode: tcp, upstream: u,\n" \
	"     approval: {remember: 1h}}\n" \
	"  - {name: plain, listen: 127.0.0.1:8082, mode: tcp, upstream: u}\n"

static struct conf *conf;

static void
request_setup(void)
{
	struct conf_errs e;

	conf = conf_errs_load(APP_CONF, &e);
	ck_assert_msg(conf != NULL, "%s", e.first);
}

static void
request_teardown(void)
{
	conf_free(conf);
}

static void
bad_body(const char *body, const char *want)
{
	struct shm_approval a;
	char why[400];

	ck_assert_int_eq(admin_approval_request(conf, body, strlen(body), NOW, &a, why,
	    sizeof(why)), CT_ERROR);
	ck_assert_str_eq(why, want);
}

START_TEST(request_good)
{
	struct shm_approval a;
	char why[400];
	const char *b;

	b = "{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"listener\":\"web\",\"note\":\"n\","
	    "\"operator\":\"alice\"}";
	ck_assert_int_eq(admin_approval_request(conf, b, strlen(b), NOW, &a, why, sizeof(why)),
	    CT_OK);
	ck_assert_uint_eq(a.verdict, SHM_APPROVAL_ALLOW);
	ck_assert_uint_eq(a.net.prefix, 32);
	ck_assert_str_eq(a.listener, "web");
	/* The listener's remember. */
	ck_assert_uint_eq(a.expires, NOW + 3600);
	ck_assert_str_eq(a.by, "alice");
	ck_assert_uint_eq(a.origin, SHM_APPROVAL_OPERATOR);
	b = "{\"address\":\"::ffff:192.0.2.0/120\",\"verdict\":\"deny\",\"ttl\":\"2m\"}";
	ck_assert_int_eq(admin_approval_request(conf, b, strlen(b), NOW, &a, why, sizeof(why)),
	    CT_OK);
	ck_assert_int_eq(a.net.family, AF_INET);
	ck_assert_uint_eq(a.net.prefix, 24);
	ck_assert_uint_eq(a.expires, NOW + 120);
	ck_assert_str_eq(a.listener, "");
	b = "{\"address\":\"2001:db8::/32\",\"verdict\":\"deny\",\"ttl\":90}";
	ck_assert_int_eq(admin_approval_request(conf, b, strlen(b), NOW, &a, why, sizeof(why)),
	    CT_OK);
	ck_assert_uint_eq(a.expires, NOW + 90);
	/* ttl 0: until revoked, whatever the listener's remember says. */
	b = "{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"listener\":\"web\",\"ttl\":0}";
	ck_assert_int_eq(admin_approval_request(conf, b, strlen(b), NOW, &a, why, sizeof(why)),
	    CT_OK);
	ck_assert_uint_eq(a.expires, 0);
}
END_TEST

START_TEST(request_bad)
{
	bad_body("", "the body is not JSON: '[' or '{' expected near end of file");
	bad_body("[1]", "the body is a JSON object");
	bad_body("{\"verdict\":\"allow\"}",
	    "\"address\" (an address or a network) is required and a string");
	bad_body("{\"address\":\"192.0.2.300\",\"verdict\":\"allow\"}",
	    "invalid address \"192.0.2.300\": invalid IPv4 address");
	bad_body("{\"address\":\"192.0.2.7/33\",\"verdict\":\"allow\"}",
	    "invalid address \"192.0.2.7/33\": prefix length must be 0..32 for IPv4");
	bad_body("{\"address\":\"192.0.2.7/24\",\"verdict\":\"allow\"}",
	    "invalid address \"192.0.2.7/24\": host bits set");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"maybe\"}",
	    "\"verdict\" is required: \"allow\" or \"deny\"");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"listener\":\"nope\"}",
	    "no listener \"nope\"");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"listener\":\"plain\"}",
	    "listener \"plain\" has no approval block: its clients are never asked about");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"ttl\":\"1x\"}",
	    "invalid \"ttl\" \"1x\": unknown unit (expected ms, s, m, h or d)");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"ttl\":-1}",
	    "\"ttl\" is 0 (until revoked) to 315360000 seconds (3650d)");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"ttl\":\"1500ms\"}",
	    "\"ttl\" is whole seconds, 0 (until revoked) to 3650d");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"ttl\":true}",
	    "\"ttl\" is a duration (\"1h\") or a number of seconds");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"note\":"
	    "\"0123456789012345678901234567890123456789012345678901234567890123\"}",
	    "\"note\" is at most 63 bytes");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"note\":\"a\\u0007b\"}",
	    "a note has no control characters and at most 63 bytes");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"operator\":\"b\\u00e9b\"}",
	    "\"operator\" is printable ASCII, at most 31 bytes");
	bad_body("{\"address\":\"192.0.2.7\",\"verdict\":\"allow\",\"by\":\"x\"}",
	    "unknown key \"by\"");
	bad_body("{\"address\":\"192.0.2.7\",\"address\":\"192.0.2.8\",\"verdict\":\"allow\"}",
	    "the body is not JSON: duplicate object key near '\"address\"'");
}
END_TEST

Suite *
suite_approval_state(void)
{
	Suite *s = suite_create("approval_state");
	TCase *tc = tcase_create("state_file"), *tr = tcase_create("request");

	tcase_add_checked_fixture(tc, state_setup, state_teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, missing_file_is_no_decisions);
	tcase_add_test(tc, corrupt_files_moved_aside);
	tcase_add_test(tc, unreadable_file_moved_aside);
	tcase_add_test(tc, blank_lines_and_duplicates);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tr, request_setup, request_teardown);
	tcase_add_test(tr, request_good);
	tcase_add_test(tr, request_bad);
	suite_add_tcase(s, tr);
	return s;
}

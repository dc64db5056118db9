/* Listener ACLs: deny wins, a non-empty allow list admits only members. */
#include <string.h>

#include "lib/ct.h"
#include "t/unit/suites.h"
#include "worker/acl.h"

static struct sockaddr_storage
acl_client(const char *s)
{
	struct addr a;
	const char *why;

	ck_assert_int_eq(addr_parse(s, 0, &a, &why), CT_OK);
	return a.ss;
}

START_TEST(acl_rules)
{
	struct cidr allow[2], deny[1];
	struct conf_acl acl = { allow, 0, deny, 0 };
	struct sockaddr_storage c1 = acl_client("127.0.0.1:1000");
	struct sockaddr_storage c2 = acl_client("127.0.0.2:1000");
	struct sockaddr_storage c6 = acl_client("[::1]:1000");
	struct sockaddr_storage o = acl_client("10.1.2.3:1000");
	const char *why;

	/* empty: everyone */
	ck_assert(acl_allows(&acl, (struct sockaddr *)&o));
	ck_assert_int_eq(cidr_parse("127.0.0.0/8", &allow[0], &why), CT_OK);
	ck_assert_int_eq(cidr_parse("::1/128", &allow[1], &why), CT_OK);
	ck_assert_int_eq(cidr_parse("127.0.0.2/32", &deny[0], &why), CT_OK);
	acl.nallow = 2;
	ck_assert(acl_allows(&acl, (struct sockaddr *)&c1));
	ck_assert(acl_allows(&acl, (struct sockaddr *)&c2));
	ck_assert(acl_allows(&acl, (struct sockaddr *)&c6));
	ck_assert(!acl_allows(&acl, (struct sockaddr *)&o));
	acl.ndeny = 1;
	ck_assert(!acl_allows(&acl, (struct sockaddr *)&c2));
	ck_assert(acl_allows(&acl, (struct sockaddr *)&c1));
	/* deny only */
	acl.nallow = 0;
	ck_assert(acl_allows(&acl, (struct sockaddr *)&o));
	ck_assert(!acl_allows(&acl, (struct sockaddr *)&c2));
}
END_TEST

Suite *
suite_acl(void)
{
	Suite *s = suite_create("acl");
	TCase *tc = tcase_create("acl");

	tcase_add_test(tc, acl_rules);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * lib/units.c: every accepted form, and one named line per rejected
 * form with the reason it must give.
 */
#include <stdint.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/units.h"
#include "t/unit/suites.h"

struct units_good {
	const char *in;
	uint64_t out;
};

struct units_bad {
	const char *in;
	const char *why;
};

static const struct units_good duration_good[] = {
	{ "0",                       0 },
	{ "30",                      30000 },          /* bare number: seconds */
	{ "250ms",                   250 },
	{ "30s",                     30000 },
	{ "5m",                      300000 },
	{ "1h",                      3600000 },
	{ "1d",                      86400000 },
	{ "007s",                    7000 },
	{ "0ms",                     0 },
	{ "18446744073709551615ms",  UINT64_MAX },
	{ "18446744073709551s",      UINT64_C(18446744073709551000) },
};

static const struct units_bad duration_bad[] = {
	{ "",                        "empty value" },
	{ "-1",                      "negative values are not allowed" },
	{ "-5s",                     "negative values are not allowed" },
	{ "+5s",                     "signs are not allowed" },
	{ "1.5s",                    "fractions are not allowed" },
	{ "0.5",                     "fractions are not allowed" },
	{ "10x",                     "unknown unit (expected ms, s, m, h or d)" },
	{ "5S",                      "unknown unit (expected ms, s, m, h or d)" },
	{ "5sec",                    "unknown unit (expected ms, s, m, h or d)" },
	{ "5ms5",                    "unknown unit (expected ms, s, m, h or d)" },
	{ "1e3",                     "unknown unit (expected ms, s, m, h or d)" },
	{ "0x10",                    "unknown unit (expected ms, s, m, h or d)" },
	{ "99999999999999999999",    "number too large" },
	{ "18446744073709552s",      "number too large" },
	{ "213503982335d",           "number too large" },
	{ " 5s",                     "leading whitespace" },
	{ "\t5s",                    "leading whitespace" },
	{ "5s ",                     "unexpected whitespace" },
	{ "5 s",                     "unexpected whitespace" },
	{ "5s\n",                    "unexpected whitespace" },
	{ "s",                       "missing number" },
	{ "ms",                      "missing number" },
	{ "five",                    "missing number" },
};

static const struct units_good size_good[] = {
	{ "0",                       0 },
	{ "512",                     512 },
	{ "64k",                     65536 },
	{ "64K",                     65536 },
	{ "32m",                     UINT64_C(32) << 20 },
	{ "32M",                     UINT64_C(32) << 20 },
	{ "1g",                      UINT64_C(1) << 30 },
	{ "1G",                      UINT64_C(1) << 30 },
	{ "17179869183g",            UINT64_C(17179869183) << 30 },
	{ "18446744073709551615",    UINT64_MAX },
};

static const struct units_bad size_bad[] = {
	{ "",                        "empty value" },
	{ "-1",                      "negative values are not allowed" },
	{ "+1k",                     "signs are not allowed" },
	{ "1.5m",                    "fractions are not allowed" },
	{ "1,5m",                    "fractions are not allowed" },
	{ "10x",                     "unknown unit (expected k, m or g)" },
	{ "64kb",                    "unknown unit (expected k, m or g)" },
	{ "1t",                      "unknown unit (expected k, m or g)" },
	{ "99999999999999999999",    "number too large" },
	{ "17179869184g",            "number too large" },
	{ " 5k",                     "leading whitespace" },
	{ "5k ",                     "unexpected whitespace" },
	{ "5 k",                     "unexpected whitespace" },
	{ "k",                       "missing number" },
};

struct uint_case {
	const char *in;
	uint64_t min, max;
	const char *why;            /* NULL: accepted */
	uint64_t out;
};

static const struct uint_case uint_cases[] = {
	{ "0",                    0, 16, NULL, 0 },
	{ "16",                   0, 16, NULL, 16 },
	{ "007",                  0, 16, NULL, 7 },
	{ "18446744073709551615", 0, UINT64_MAX, NULL, UINT64_MAX },
	{ "17",                   0, 16, "out of range", 0 },
	{ "0",                    1, 16, "out of range", 0 },
	{ "",                     0, 16, "empty value", 0 },
	{ "-1",                   0, 16, "negative values are not allowed", 0 },
	{ "+1",                   0, 16, "signs are not allowed", 0 },
	{ "1.0",                  0, 16, "fractions are not allowed", 0 },
	{ "4x",                   0, 16, "not a decimal integer", 0 },
	{ "4k",                   0, 16, "not a decimal integer", 0 },
	{ "4 ",                   0, 16, "unexpected whitespace", 0 },
	{ " 4",                   0, 16, "leading whitespace", 0 },
	{ "abc",                  0, 16, "missing number", 0 },
	{ "18446744073709551616", 0, UINT64_MAX, "number too large", 0 },
};

START_TEST(test_duration_good)
{
	const struct units_good *c = &duration_good[_i];
	const char *why = NULL;
	uint64_t ms = 1;

	ck_assert_msg(units_parse_duration(c->in, &ms, &why) == CT_OK,
	    "\"%s\": %s", c->in, why);
	ck_assert_msg(ms == c->out, "\"%s\" gave %ju", c->in, (uintmax_t)ms);
}
END_TEST

START_TEST(test_duration_bad)
{
	const struct units_bad *c = &duration_bad[_i];
	const char *why = NULL;
	uint64_t ms = 12345;

	ck_assert_msg(units_parse_duration(c->in, &ms, &why) == CT_ERROR,
	    "\"%s\" was accepted", c->in);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, c->why);
	ck_assert_msg(ms == 12345, "\"%s\" wrote its output", c->in);
}
END_TEST

START_TEST(test_size_good)
{
	const struct units_good *c = &size_good[_i];
	const char *why = NULL;
	uint64_t n = 1;

	ck_assert_msg(units_parse_size(c->in, &n, &why) == CT_OK,
	    "\"%s\": %s", c->in, why);
	ck_assert_msg(n == c->out, "\"%s\" gave %ju", c->in, (uintmax_t)n);
}
END_TEST

START_TEST(test_size_bad)
{
	const struct units_bad *c = &size_bad[_i];
	const char *why = NULL;
	uint64_t n = 12345;

	ck_assert_msg(units_parse_size(c->in, &n, &why) == CT_ERROR,
	    "\"%s\" was accepted", c->in);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, c->why);
	ck_assert_msg(n == 12345, "\"%s\" wrote its output", c->in);
}
END_TEST

START_TEST(test_uint)
{
	const struct uint_case *c = &uint_cases[_i];
	const char *why = NULL;
	uint64_t n = 12345;
	int rc;

	rc = units_parse_uint(c->in, c->min, c->max, &n, &why);
	if (c->why == NULL) {
		ck_assert_msg(rc == CT_OK, "\"%s\": %s", c->in, why);
		ck_assert_msg(n == c->out, "\"%s\" gave %ju", c->in, (uintmax_t)n);
	} else {
		ck_assert_msg(rc == CT_ERROR, "\"%s\" was accepted", c->in);
		ck_assert_ptr_nonnull(why);
		ck_assert_str_eq(why, c->why);
		ck_assert_msg(n == 12345, "\"%s\" wrote its output", c->in);
	}
}
END_TEST

/* Callers that only want a yes or no may pass no why. */
START_TEST(test_why_optional)
{
	uint64_t n;

	ck_assert_int_eq(units_parse_uint("x", 0, 1, &n, NULL), CT_ERROR);
	ck_assert_int_eq(units_parse_size("1x", &n, NULL), CT_ERROR);
	ck_assert_int_eq(units_parse_duration("1x", &n, NULL), CT_ERROR);
	ck_assert_int_eq(units_parse_duration("1s", &n, NULL), CT_OK);
	ck_assert_uint_eq(n, 1000);
}
END_TEST

Suite *
suite_units(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_duration_good, 0, CT_NELEM(duration_good));
	tcase_add_loop_test(tc, test_duration_bad, 0, CT_NELEM(duration_bad));
	tcase_add_loop_test(tc, test_size_good, 0, CT_NELEM(size_good));
	tcase_add_loop_test(tc, test_size_bad, 0, CT_NELEM(size_bad));
	tcase_add_loop_test(tc, test_uint, 0, CT_NELEM(uint_cases));
	tcase_add_test(tc, test_why_optional);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * The helpers of conf_load.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/unit/conf_load.h"

static void
conf_errs_add(void *arg, const char *msg)
{
	struct conf_errs *e = arg;

	if (e->n++ == 0)
		snprintf(e->first, sizeof(e->first), "%s", msg);
}

struct conf *
conf_errs_load(const char *text, struct conf_errs *e)
{
	memset(e, 0, sizeof(*e));
	return conf_load_string("t.yaml", text, strlen(text), conf_errs_add, e);
}

void
conf_errs_expect(const char *text, const char *want)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(text, &e);

	ck_assert_ptr_null(c);
	ck_assert_msg(e.n == 1, "%zu errors, first: %s", e.n, e.first);
	ck_assert_str_eq(e.first, want);
}

char *
conf_errs_dump(const struct conf *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_ptr_nonnull(f = open_memstream(&out, &len));
	conf_dump(c, f);
	fclose(f);
	return out;
}

struct conf *
conf_errs_round_trip(const struct conf *a)
{
	char *out = conf_errs_dump(a), *again;
	struct conf_errs e;
	struct conf *b = conf_errs_load(out, &e);

	ck_assert_msg(b != NULL, "the dump does not load: %s", e.first);
	again = conf_errs_dump(b);
	ck_assert_str_eq(out, again);
	free(out);
	free(again);
	return b;
}

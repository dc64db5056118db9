/*
 * Loading a configuration from a string in a suite of one conf section:
 * the number of errors and the first, the one error a negative case
 * expects, and the dump that a round trip loads again.
 */
#ifndef CT_T_UNIT_CONF_LOAD_H
#define CT_T_UNIT_CONF_LOAD_H

#include <stddef.h>

#include "conf/conf.h"

struct conf_errs {
	size_t n;
	char first[512];
};

/* text as "t.yaml": the configuration, or NULL with e telling why. */
struct conf *conf_errs_load(const char *text, struct conf_errs *e);
/* text fails to load with exactly one error, want. */
void conf_errs_expect(const char *text, const char *want);
/* conf_dump() of c, as a string to free. */
char *conf_errs_dump(const struct conf *c);
/*
 * Loads the dump of a again and checks that it dumps the same: the
 * configuration loaded, to free.
 */
struct conf *conf_errs_round_trip(const struct conf *a);

#endif

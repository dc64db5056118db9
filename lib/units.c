/*
 * Numbers with units, as written in the configuration.  Every form is
 * strict: the whole string must be a decimal number with an optional
 * known suffix, so that "5 m", "1.5s" or " 30s" fail at load instead of
 * silently meaning something else.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "lib/ct.h"
#include "lib/units.h"

struct units_suffix {
	const char *name;
	uint64_t factor;
};

static const struct units_suffix units_durations[] = {
	{ "",   1000 },             /* a bare number is seconds */
	{ "ms", 1 },
	{ "s",  1000 },
	{ "m",  60 * 1000 },
	{ "h",  60 * 60 * 1000 },
	{ "d",  24 * 60 * 60 * 1000 },
};

static const struct units_suffix units_sizes[] = {
	{ "",  1 },
	{ "k", UINT64_C(1) << 10 },
	{ "m", UINT64_C(1) << 20 },
	{ "g", UINT64_C(1) << 30 },
};

static int
units_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/*
 * Reads the leading decimal number of s into *v and points *rest just
 * past it.  Returns NULL, or the reason s does not start with a plain
 * number; a fraction after the digits is a failure too, since no unit
 * here has sub-unit precision worth the ambiguity.
 */
static const char *
units_number_read(const char *s, uint64_t *v, const char **rest)
{
	uint64_t n = 0;
	const char *p = s;

	if (*p == '\0')
		return "empty value";
	if (units_is_space(*p))
		return "leading whitespace";
	if (*p == '-')
		return "negative values are not allowed";
	if (*p == '+')
		return "signs are not allowed";
	if (*p < '0' || *p > '9')
		return "missing number";
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return "number too large";
		n = n * 10 + d;
	}
	if (*p == '.' || *p == ',')
		return "fractions are not allowed";
	*v = n;
	*rest = p;
	return NULL;
}

/*
 * Scales the number at the start of s by the factor of the suffix that
 * follows it.  Returns NULL, or why s is not a number with one of the
 * suffixes of tab.  Suffixes compare case-insensitively only when icase
 * is set: "5M" could be a typo for minutes or a month, whereas "64K"
 * can only mean kibibytes.
 */
static const char *
units_scaled_read(const char *s, const struct units_suffix *tab, size_t n,
    int icase, const char *unknown, uint64_t *out)
{
	const char *rest, *why;
	uint64_t v;
	size_t i;

	if ((why = units_number_read(s, &v, &rest)) != NULL)
		return why;
	for (i = 0; rest[i] != '\0'; i++)
		if (units_is_space(rest[i]))
			return "unexpected whitespace";
	for (i = 0; i < n; i++) {
		int same = icase ? strcasecmp(rest, tab[i].name) == 0 :
		    strcmp(rest, tab[i].name) == 0;

		if (!same)
			continue;
		if (v > UINT64_MAX / tab[i].factor)
			return "number too large";
		*out = v * tab[i].factor;
		return NULL;
	}
	return unknown;
}

/* Reports reason through why (which may be NULL) and maps it to a code. */
static int
units_result(const char *reason, const char **why)
{
	if (reason == NULL)
		return CT_OK;
	if (why != NULL)
		*why = reason;
	return CT_ERROR;
}

/*
 * "250ms", "30s", "5m", "1h", "1d" or a bare number of seconds, into
 * milliseconds.  Zero is valid here; callers that need a positive
 * duration check for it.
 */
int
units_parse_duration(const char *s, uint64_t *ms, const char **why)
{
	return units_result(units_scaled_read(s, units_durations,
	    CT_NELEM(units_durations), 0,
	    "unknown unit (expected ms, s, m, h or d)", ms), why);
}

/* "512", "64k", "32m", "1g" (powers of 1024, any case), into bytes. */
int
units_parse_size(const char *s, uint64_t *bytes, const char **why)
{
	return units_result(units_scaled_read(s, units_sizes,
	    CT_NELEM(units_sizes), 1, "unknown unit (expected k, m or g)",
	    bytes), why);
}

/*
 * A plain decimal integer within [min, max].  "out of range" is the
 * reason when it parses but falls outside, so that callers can word
 * their own message around the bounds.
 */
int
units_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    const char **why)
{
	const char *rest, *reason;
	uint64_t v;

	if ((reason = units_number_read(s, &v, &rest)) != NULL)
		return units_result(reason, why);
	if (*rest != '\0')
		return units_result(units_is_space(*rest) ?
		    "unexpected whitespace" : "not a decimal integer", why);
	if (v < min || v > max)
		return units_result("out of range", why);
	*out = v;
	return CT_OK;
}

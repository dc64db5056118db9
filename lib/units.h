/*
 * Units of the configuration, parsed once at load.
 *   durations: "250ms", "30s", "5m", "1h", "1d"; a bare number is seconds.
 *   sizes:     "512", "64k", "32m", "1g" (powers of 1024; case-insensitive).
 * Overflow, empty strings, signs, fractions and unknown suffixes are errors.
 */
#ifndef CT_UNITS_H
#define CT_UNITS_H

#include <stdint.h>

int units_parse_duration(const char *s, uint64_t *ms, const char **why);
int units_parse_size(const char *s, uint64_t *bytes, const char **why);
/* Non-negative decimal integer in [min, max]. */
int units_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why);

#endif

/*
 * Input for parser tests placed right before an unreadable page, so that
 * a parser that reads one byte past what it was given faults at once.
 */
#ifndef CT_T_GUARD_H
#define CT_T_GUARD_H

#include <stddef.h>

/* Room for the largest input a test places. */
#define GUARD_SPACE (256 * 1024)

/* Copies s[0..n) (n <= GUARD_SPACE) to end where the unreadable page begins. */
void *guard_copy(const void *s, size_t n);

#endif

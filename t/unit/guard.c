/*
 * The guarded area of guard.h: mapped once per test process, then
 * reused by every copy.
 */
#include <check.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "t/unit/guard.h"

static char *guard_area;        /* GUARD_SPACE bytes, then a PROT_NONE page */

void *
guard_copy(const void *s, size_t n)
{
	long pg;
	char *m;

	if (guard_area == NULL) {
		pg = sysconf(_SC_PAGESIZE);
		ck_assert(pg > 0);
		m = mmap(NULL, GUARD_SPACE + (size_t)pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert(m != MAP_FAILED);
		ck_assert(mprotect(m + GUARD_SPACE, (size_t)pg, PROT_NONE) == 0);
		guard_area = m;
	}
	ck_assert(n <= GUARD_SPACE);
	if (n > 0)
		memmove(guard_area + GUARD_SPACE - n, s, n);
	return guard_area + GUARD_SPACE - n;
}

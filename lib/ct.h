/*
 * Return codes shared by every module, and a few helpers that every
 * file needs.  A function returns one of these unless its contract says
 * otherwise.
 */
#ifndef CT_CT_H
#define CT_CT_H

#include <stddef.h>

#define CT_OK        0   /* done, success */
#define CT_ERROR    -1   /* failed; the caller logs or has been told why */
#define CT_AGAIN    -2   /* would block or needs more input; call again */
#define CT_DONE     -3   /* finished, nothing more to do (e.g. peer EOF) */
#define CT_DECLINED -4   /* not applicable here; try the next handler */

#define CT_VERSION "0.1.0"

#define CT_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define CT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CT_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif

/* mode forward: see forward.c. */
#ifndef CT_WORKER_FORWARD_H
#define CT_WORKER_FORWARD_H

#include "worker/mode.h"

extern const struct conn_mode forward_mode;

#endif

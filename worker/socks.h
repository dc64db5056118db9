/* mode socks: see socks.c. */
#ifndef CT_WORKER_SOCKS_H
#define CT_WORKER_SOCKS_H

#include "worker/mode.h"

extern const struct conn_mode socks_mode;

#endif

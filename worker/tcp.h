/*
 * mode tcp: an L4 load balancer; tcp.c.
 */
#ifndef CT_WORKER_TCP_H
#define CT_WORKER_TCP_H

#include "worker/mode.h"

extern const struct conn_mode tcp_mode;

#endif

/*
 * mode udp: an L4 load balancer for datagrams, a session per client;
 * udp.c.
 */
#ifndef CT_WORKER_UDP_H
#define CT_WORKER_UDP_H

#include "worker/mode.h"

extern const struct conn_mode udp_mode;

#endif

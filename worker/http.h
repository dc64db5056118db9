/*
 * mode http: an HTTP/1.1 reverse proxy, reached only through its row of
 * the mode table; http_int.h lists the files it is made of.
 */
#ifndef CT_WORKER_HTTP_H
#define CT_WORKER_HTTP_H

#include "worker/mode.h"

extern const struct conn_mode http_mode;

#endif

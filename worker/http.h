/*
 * mode http: an HTTP/1.1 reverse proxy; http.c.
 */
#ifndef CT_WORKER_HTTP_H
#define CT_WORKER_HTTP_H

#include "worker/mode.h"

extern const struct conn_mode http_mode;

#endif

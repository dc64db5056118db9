/*
 * mode http: an HTTP/1.1 reverse proxy, reached only through its row of
 * the mode table, and mode forward's absolute-form requests, handed
 * over by forward.c; http_int.h lists the files it is made of.
 */
#ifndef CT_WORKER_HTTP_H
#define CT_WORKER_HTTP_H

#include <stdint.h>

#include "worker/mode.h"

extern const struct conn_mode http_mode;

struct conn;

/*
 * An absolute-form request on a connection of mode forward, whose
 * handshake read len bytes from its head on (c->ctx already NULL): the
 * machinery of mode http serves it and the requests that follow, their
 * targets naming where they go (http_forward.c).
 */
void http_forward_begin(struct conn *c, const char *bytes, size_t len);

struct ev_loop;
struct ev_io;
/* The worker's cache wake fd: a fill that requests of this worker wait on moved. */
void http_cache_woken(struct ev_loop *loop, struct ev_io *io, uint32_t events);

#endif

/*
 * mode http's entry points, the only part of the mode the connection
 * core and the worker call; everything else stays inside worker/http*.
 */
#ifndef CT_WORKER_HTTP_H
#define CT_WORKER_HTTP_H

struct conn;
struct worker;

/* Entry point of mode http, right after accept. */
void http_start(struct conn *c);
/* Frees the request state of c; part of conn_close(). */
void http_free(struct conn *c);
/* Draining: closes the keep-alive connections that wait for a request. */
void http_drain(struct worker *w);
/* Closes every pooled upstream connection of the worker (exit). */
void http_pool_close_all(struct worker *w);

#endif

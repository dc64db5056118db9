/* mode forward: see forward.c. */
#ifndef CT_WORKER_FORWARD_H
#define CT_WORKER_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "lib/http_parse.h"
#include "worker/mode.h"

/* What a forward proxy answers 400 to a target of another form. */
#define FORWARD_TARGET_WHY \
	"a forward proxy takes absolute-form targets (http://host/path) or CONNECT host:port"

extern const struct conn_mode forward_mode;

/*
 * The host and port of authority t, "host:port" or "[v6]:port", the
 * port dflt when it is left out (0: it may not be); host (cap bytes)
 * gets the name or the address without brackets.  CT_ERROR when t is
 * not one.
 */
int forward_authority(struct http_slice t, char *host, size_t cap, uint16_t *port,
    uint16_t dflt);

/*
 * A CONNECT on a connection that mode http's machinery served until now
 * (c->ctx already NULL): the connection is mode forward's again, len
 * bytes from the head on read already.
 */
void forward_begin(struct conn *c, const void *bytes, size_t len);

#endif

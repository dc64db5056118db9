/*
 * The table of connection modes (modes.c), for the worker's main loop:
 * the core below it sees only a connection's own row (mode.h).
 */
#ifndef CT_WORKER_MODES_H
#define CT_WORKER_MODES_H

#include "conf/conf.h"
#include "worker/mode.h"

/* The row of mode m. */
const struct conn_mode *conn_mode_get(enum conf_mode m);
/* Every mode's drain, then (conn_modes_exit) every mode's exit. */
void conn_modes_drain(struct worker *w);
void conn_modes_exit(struct worker *w);

#endif

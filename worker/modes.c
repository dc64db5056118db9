/*
 * The table of connection modes: one row per listener mode.  A new mode
 * is a file of its own and one line here.
 */
#include <stddef.h>

#include "worker/forward.h"
#include "worker/http.h"
#include "worker/mode.h"
#include "worker/modes.h"
#include "worker/socks.h"
#include "worker/tcp.h"
#include "worker/udp.h"

static const struct conn_mode *const conn_modes[] = {
	[CONF_MODE_TCP] = &tcp_mode,
	[CONF_MODE_HTTP] = &http_mode,
	[CONF_MODE_UDP] = &udp_mode,
	[CONF_MODE_FORWARD] = &forward_mode,
	[CONF_MODE_SOCKS] = &socks_mode,
};

const struct conn_mode *
conn_mode_get(enum conf_mode m)
{
	return conn_modes[m];
}

void
conn_modes_drain(struct worker *w)
{
	size_t i;

	for (i = 0; i < sizeof(conn_modes) / sizeof(conn_modes[0]); i++)
		if (conn_modes[i]->drain != NULL)
			conn_modes[i]->drain(w);
}

void
conn_modes_exit(struct worker *w)
{
	size_t i;

	for (i = 0; i < sizeof(conn_modes) / sizeof(conn_modes[0]); i++)
		if (conn_modes[i]->exit != NULL)
			conn_modes[i]->exit(w);
}

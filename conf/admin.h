/*
 * Where the admin process serves the control API, and the token that
 * TCP clients of it must present.
 */
#ifndef CT_CONF_ADMIN_H
#define CT_CONF_ADMIN_H

#include "lib/addr.h"

/* The control API, served by the admin process. */
struct conf_admin {
	char *socket;               /* unix socket path (absolute), mode 0600; NULL: none */
	char *listen;               /* as written; NULL: no TCP listener */
	struct addr addr;
	char *token_file;           /* required with listen */
	char *token;                /* its first line, read at load */
};

#endif

/*
 * A tcp listener's routing by TLS server name (passthrough): the
 * ClientHello is read without being consumed, and its server name picks
 * the upstream; the TLS session itself goes through untouched.
 */
#ifndef CT_CONF_SNI_H
#define CT_CONF_SNI_H

#include <stddef.h>
#include <stdint.h>

#define CONF_SNI_ROUTES_MAX   256
#define CONF_SNI_NAMES_MAX    64
#define CONF_SNI_TIMEOUT_DEFAULT  5000     /* ms for the ClientHello to arrive */

struct conf_sni_route {
	char **names;               /* lower-case; "*.example.com" matches one more label */
	size_t nnames;
	char *upstream_name;
	size_t upstream;            /* index into conf->upstreams, second pass */
};

struct conf_sni {
	int enabled;                /* the listener has an sni block */
	struct conf_sni_route *routes;
	size_t nroutes;
	uint64_t timeout_ms;        /* the whole ClientHello must arrive within */
};

#endif

/*
 * A listener's geo filtering: who may connect by the country of the
 * client's address (a MaxMind DB) and by lists of networks read from
 * files.  Everything is read at load, so that a reload that cannot read
 * a file keeps the configuration that runs.
 */
#ifndef CT_CONF_GEO_H
#define CT_CONF_GEO_H

#include <stddef.h>

#include "lib/addr.h"

struct MMDB_s;

/* One cidr_allow or cidr_deny file and the networks it held at load. */
struct conf_cidr_file {
	char *path;
	struct cidr *nets;
	size_t nnets;
};

struct conf_geo {
	char *database;             /* NULL: no country lookups */
	struct MMDB_s *mmdb;        /* database, opened (mmap) at load */
	char **countries;           /* upper-case ISO 3166-1 alpha-2 codes */
	size_t ncountries;
	int deny_countries;         /* countries is deny_countries, not allow_countries */
	struct conf_cidr_file *allow;   /* cidr_allow */
	size_t nallow;
	struct conf_cidr_file *deny;    /* cidr_deny */
	size_t ndeny;
	char *header;               /* http: the field that carries the country upstream; NULL: none */
};

#endif

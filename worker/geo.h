/*
 * A listener's geo filtering, decided at accept from the client's
 * address alone, right after the listener's ACL and for every mode.
 */
#ifndef CT_WORKER_GEO_H
#define CT_WORKER_GEO_H

#include <stddef.h>

#include "conf/conf.h"
#include "worker/conn.h"

/*
 * Looks c's client up once (its country goes into c->country for the
 * logs and the request field), decides, and counts the decision in the
 * listener's shm counters.  Returns 1 to let the client in, 0 to close
 * it, with why set to the reason to close it with.
 */
int geo_allows(struct conn *c, const struct conf_geo *g, const char **why);

/*
 * The country field of an access-log line, text (" country=DE") or JSON
 * (",\"country\":\"DE\"", null when unknown), into buf of at least 24
 * bytes; empty when c's listener looks up no countries.
 */
const char *geo_log_field(const struct conn *c, int json, char *buf, size_t len);

/* Does sa fall in one of the networks of the n files?  (Exposed for tests.) */
int geo_files_match(const struct conf_cidr_file *f, size_t n, const struct sockaddr *sa);

#endif

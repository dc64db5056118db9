/*
 * How big the worker pool is: how many workers, how many clients each
 * may hold, and the shared segment they all map.  These size memory
 * and descriptors up front, so they sit together.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"
#include "lib/units.h"

#define CONF_SHM_MIN        (UINT64_C(8) << 20)
#define CONF_SHM_MAX        (UINT64_C(64) << 30)
#define CONF_SHM_DEFAULT    (UINT64_C(32) << 20)

/* "auto": one worker per online CPU, the usual prefork sizing. */
static unsigned
conf_workers_auto(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)                  /* -1: the count is unknown here */
		return 1;
	return n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (unsigned)n;
}

static void
conf_workers_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	char q[CONF_QUOTE_LEN];
	uint64_t n;
	char *t;

	if ((t = conf_text(ctx, k, v)) == NULL)
		return;
	if (strcmp(t, "auto") == 0)
		conf->workers = conf_workers_auto();
	else if (units_parse_uint(t, k->min, k->max, &n, NULL) == CT_OK)
		conf->workers = (unsigned)n;
	else
		conf_error(ctx, v, "\"%s\" must be \"auto\" or an integer between "
		    "%" PRIu64 " and %" PRIu64 ", not \"%s\"", k->name, k->min,
		    k->max, conf_quote(t, q, sizeof(q)));
	free(t);
}

static int
conf_workers_section_init(struct conf *conf)
{
	conf->workers = conf_workers_auto();
	conf->shm_size = CONF_SHM_DEFAULT;
	conf->worker_connections = 4096;
	return CT_OK;
}

static void
conf_workers_section_dump(const struct conf *conf, FILE *out)
{
	char b[32];

	fprintf(out, "workers: %u\n", conf->workers);
	fprintf(out, "shm_size: %s\n",
	    conf_size_format(conf->shm_size, b, sizeof(b)));
	fprintf(out, "worker_connections: %u\n", conf->worker_connections);
}

static const struct conf_key conf_workers_section_keys[] = {
	{ "workers",              0, conf_workers_parse, 0, 1, CONF_WORKERS_MAX },
	{ "shm_size",             0, conf_size_parse, offsetof(struct conf, shm_size), CONF_SHM_MIN, CONF_SHM_MAX },
	{ "worker_connections",   0, conf_unsigned_parse, offsetof(struct conf, worker_connections), 16, 1000000 },
};

const struct conf_section conf_workers_section = {
	conf_workers_section_keys, CT_NELEM(conf_workers_section_keys),
	conf_workers_section_init, NULL, NULL, conf_workers_section_dump,
};

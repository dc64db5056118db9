/*
 * Where cuttle's own messages go, and from which level on.  A log path
 * is checked here rather than when it is opened, so that "cuttle -t"
 * and a reload refuse a syslog socket that can never be reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"

#define CONF_SYSLOG_PREFIX  "syslog:"
#define CONF_SUN_PATH_MAX   (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* alert is for the program's own use, not a level one can choose */
static const char *const conf_level_names[] = {
	[LOG_LVL_DEBUG] = "debug",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_ERROR] = "error",
};

static void
conf_error_log_level_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	size_t i;

	if (conf_enum_parse(ctx, k, v, conf_level_names,
	    CT_NELEM(conf_level_names), &i) == CT_OK)
		conf->error_log_level = (enum log_level)i;
}

/*
 * "stderr", "syslog" (the socket /dev/log), "syslog:" and the path of
 * another socket, or a file.  The socket path must be absolute, so that
 * it does not depend on the directory cuttle is started from (and
 * "syslog:" with a typo after it is caught), and must fit in sun_path.
 */
static void
conf_error_log_path_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	const size_t plen = sizeof(CONF_SYSLOG_PREFIX) - 1;
	struct conf *conf = obj;
	char q[CONF_QUOTE_LEN];
	const char *why = NULL;
	char *t;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if (strncmp(t, CONF_SYSLOG_PREFIX, plen) == 0 && t[plen] != '/')
		why = "\"syslog:\" must be followed by an absolute socket path";
	else if (strncmp(t, CONF_SYSLOG_PREFIX, plen) == 0 &&
	    strlen(t + plen) > CONF_SUN_PATH_MAX)
		why = "the socket path is too long for a unix socket";
	if (why != NULL) {
		conf_error(ctx, v, "invalid log path \"%s\" for \"%s\": %s",
		    conf_quote(t, q, sizeof(q)), k->name, why);
		free(t);
		return;
	}
	free(conf->error_log_path);
	conf->error_log_path = t;
}

static const struct conf_key conf_error_log_keys[] = {
	{ "path",  0, conf_error_log_path_parse, 0, 0, 0 },
	{ "level", 0, conf_error_log_level_parse, 0, 0, 0 },
};

CONF_TABLE(conf_error_log_table, "in error_log", conf_error_log_keys);

static void
conf_error_log_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	conf_map_parse(ctx, k, v, &conf_error_log_table, obj);
}

static int
conf_error_log_section_init(struct conf *conf)
{
	conf->error_log_level = LOG_LVL_INFO;
	conf->error_log_path = strdup("stderr");
	return conf->error_log_path != NULL ? CT_OK : CT_ERROR;
}

static void
conf_error_log_section_free(struct conf *conf)
{
	free(conf->error_log_path);
}

static void
conf_error_log_section_dump(const struct conf *conf, FILE *out)
{
	fputs("error_log:\n", out);
	conf_dump_kv(out, 2, "path", conf->error_log_path);
	fprintf(out, "  level: %s\n", conf_enum_name(conf_level_names,
	    CT_NELEM(conf_level_names), conf->error_log_level));
}

static const struct conf_key conf_error_log_section_keys[] = {
	{ "error_log", 0, conf_error_log_parse, 0, 0, 0 },
};

const struct conf_section conf_error_log_section = {
	conf_error_log_section_keys, CT_NELEM(conf_error_log_section_keys),
	conf_error_log_section_init, NULL, conf_error_log_section_free,
	conf_error_log_section_dump,
};

/*
 * How the master runs as a process: in the background or not, its pid
 * file, the ids and descriptor limit its workers get, and how long a
 * graceful stop may take.  User and group names are resolved here, at
 * load, so that a typo fails "cuttle -t" instead of a reload.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/node.h"
#include "conf/section.h"
#include "lib/ct.h"

#define CONF_SHUTDOWN_DEFAULT (UINT64_C(30) * 1000)
#define CONF_NOFILE_MAX     16777216
/* getpwnam_r() and getgrnam_r() buffers; a group can list many members */
#define CONF_PWBUF_MIN      1024
#define CONF_PWBUF_MAX      (1u << 20)

/*
 * Not finding an entry is not an error to POSIX, so implementations
 * differ in what they return for it; these are the values seen for
 * "no such name" (see getpwnam(3)).
 */
static int
conf_lookup_missing(int rc)
{
	return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
	    rc == EPERM;
}

/*
 * Looks user name up: CT_OK with its uid and primary gid, CT_DECLINED
 * when there is no such user, CT_ERROR with errno set when the lookup
 * itself failed.
 */
static int
conf_user_lookup(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	size_t len = CONF_PWBUF_MIN;
	char *buf = NULL, *p;
	int rc;

	do {
		if ((p = realloc(buf, len)) == NULL) {
			free(buf);
			errno = ENOMEM;
			return CT_ERROR;
		}
		buf = p;
		rc = getpwnam_r(name, &pw, buf, len, &res);
		len *= 2;
	} while (rc == ERANGE && len <= CONF_PWBUF_MAX);
	if (rc == 0 && res != NULL) {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
	}
	free(buf);
	if (rc == 0 && res != NULL)
		return CT_OK;
	if (conf_lookup_missing(rc))
		return CT_DECLINED;
	errno = rc;
	return CT_ERROR;
}

/* As conf_user_lookup(), for group name. */
static int
conf_group_lookup(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	size_t len = CONF_PWBUF_MIN;
	char *buf = NULL, *p;
	int rc;

	do {
		if ((p = realloc(buf, len)) == NULL) {
			free(buf);
			errno = ENOMEM;
			return CT_ERROR;
		}
		buf = p;
		rc = getgrnam_r(name, &gr, buf, len, &res);
		len *= 2;
	} while (rc == ERANGE && len <= CONF_PWBUF_MAX);
	if (rc == 0 && res != NULL)
		*gid = gr.gr_gid;
	free(buf);
	if (rc == 0 && res != NULL)
		return CT_OK;
	if (conf_lookup_missing(rc))
		return CT_DECLINED;
	errno = rc;
	return CT_ERROR;
}

/*
 * Reports the failed lookup of name (a "user" or "group", by what);
 * rc is what the lookup returned.
 */
static void
conf_id_error(struct conf_ctx *ctx, const struct node *v, const char *what,
    const char *name, int rc)
{
	char q[CONF_QUOTE_LEN];

	conf_quote(name, q, sizeof(q));
	if (rc == CT_DECLINED)
		conf_error(ctx, v, "unknown %s \"%s\"", what, q);
	else if (errno == ENOMEM)
		conf_oom(ctx);
	else
		conf_error(ctx, v, "cannot look up %s \"%s\": %s", what, q,
		    strerror(errno));
}

/*
 * Names are resolved at load, so that "cuttle -t" catches a typo and a
 * reload never leaves workers with ids that no longer exist.  The
 * user's primary group is the gid unless "group" says otherwise, in
 * whichever order the two keys come.
 */
static void
conf_process_user_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	uid_t uid;
	gid_t gid;
	char *t;
	int rc;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if ((rc = conf_user_lookup(t, &uid, &gid)) != CT_OK) {
		conf_id_error(ctx, v, "user", t, rc);
		free(t);
		return;
	}
	conf->user = t;
	conf->uid = uid;
	if (conf->group == NULL)
		conf->gid = gid;
}

static void
conf_process_group_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	gid_t gid;
	char *t;
	int rc;

	if ((t = conf_text_nonempty(ctx, k, v)) == NULL)
		return;
	if ((rc = conf_group_lookup(t, &gid)) != CT_OK) {
		conf_id_error(ctx, v, "group", t, rc);
		free(t);
		return;
	}
	conf->group = t;
	conf->gid = gid;
}

/*
 * user and group, and as comments the ids they resolved to: those are
 * what the workers get, and the system's databases may map the names
 * differently at the next load.
 */
static void
conf_process_ids_dump(const struct conf *conf, FILE *out)
{
	if (conf->user != NULL) {
		fputs("user: ", out);
		conf_dump_str(out, conf->user, 1);
		fprintf(out, "  # uid %ju\n", (uintmax_t)conf->uid);
	} else {
		fputs("# user: (none)\n", out);
	}
	if (conf->group != NULL) {
		fputs("group: ", out);
		conf_dump_str(out, conf->group, 1);
		fprintf(out, "  # gid %ju\n", (uintmax_t)conf->gid);
	} else if (conf->user != NULL) {
		fprintf(out, "# group: (the user's primary group, gid %ju)\n",
		    (uintmax_t)conf->gid);
	} else {
		fputs("# group: (none)\n", out);
	}
}

/*
 * Workers set the soft open files limit; only root may raise the hard
 * one, so a value above it is an error for anyone else, found by -t and
 * by a reload as well as at start.
 */
static void
conf_process_nofile_parse(struct conf_ctx *ctx, const struct conf_key *k,
    const struct node *v, void *obj)
{
	struct conf *conf = obj;
	struct rlimit rl;

	conf_uint64_parse(ctx, k, v, obj);
	if (conf->worker_rlimit_nofile == 0 || geteuid() == 0 ||
	    getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_max == RLIM_INFINITY ||
	    conf->worker_rlimit_nofile <= rl.rlim_max)
		return;
	conf_error(ctx, v, "worker_rlimit_nofile %" PRIu64 " is above the hard open files "
	    "limit %llu, which only root can raise", conf->worker_rlimit_nofile,
	    (unsigned long long)rl.rlim_max);
}

static int
conf_process_section_init(struct conf *conf)
{
	conf->shutdown_timeout_ms = CONF_SHUTDOWN_DEFAULT;
	return CT_OK;
}

static void
conf_process_section_free(struct conf *conf)
{
	free(conf->pid_file);
	free(conf->user);
	free(conf->group);
}

static void
conf_process_section_dump(const struct conf *conf, FILE *out)
{
	char b[32];

	fprintf(out, "daemon: %s\n", conf_bool_name(conf->daemon));
	if (conf->pid_file != NULL)
		conf_dump_kv(out, 0, "pid_file", conf->pid_file);
	else
		fputs("# pid_file: (none)\n", out);
	conf_process_ids_dump(conf, out);
	if (conf->worker_rlimit_nofile != 0)
		fprintf(out, "worker_rlimit_nofile: %" PRIu64 "\n",
		    conf->worker_rlimit_nofile);
	else
		fputs("# worker_rlimit_nofile: (not changed)\n", out);
	fprintf(out, "shutdown_timeout: %s\n",
	    conf_duration_format(conf->shutdown_timeout_ms, b, sizeof(b)));
}

static const struct conf_key conf_process_section_keys[] = {
	{ "daemon",               0, conf_bool_parse, offsetof(struct conf, daemon), 0, 0 },
	{ "pid_file",             0, conf_string_parse, offsetof(struct conf, pid_file), 0, 0 },
	{ "user",                 0, conf_process_user_parse, 0, 0, 0 },
	{ "group",                0, conf_process_group_parse, 0, 0, 0 },
	{ "worker_rlimit_nofile", 0, conf_process_nofile_parse, offsetof(struct conf, worker_rlimit_nofile), 1, CONF_NOFILE_MAX },
	{ "shutdown_timeout",     0, conf_duration_parse, offsetof(struct conf, shutdown_timeout_ms), 1, CONF_DURATION_MAX },
};

const struct conf_section conf_process_section = {
	conf_process_section_keys, CT_NELEM(conf_process_section_keys),
	conf_process_section_init, NULL, conf_process_section_free,
	conf_process_section_dump,
};

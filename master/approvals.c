/*
 * Master: approval decisions (master/approvals.h).  Every change goes
 * through approvals_changed(): the state file is written a second
 * later, the expiry timer follows the next expiry, and the new
 * generation in the table is what waiting workers look for.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl/admin_approval.h"
#include "lib/ct.h"
#include "lib/log.h"
#include "master/approvals.h"
#include "master/cluster.h"
#include "master/master.h"
#include "master/redis.h"
#include "shm/approval.h"
#include "shm/events.h"

#define APPROVALS_EXPIRY_MAX_MS (UINT64_C(86400) * 1000)   /* the timer looks again daily */
#define APPROVALS_RETRY_MS      5000                       /* after a failed save */
#define APPROVALS_SCOPE_TEXT    (SHM_NAME_LEN + ADMIN_APPROVAL_DEST_TEXT + 32)  /* approvals_scope() */

static struct {
	struct ev_loop *loop;
	struct shm *shm;
	char *path;                 /* the state file; NULL: none */
	int dirty;                  /* a change is not in the state file yet */
	int disowned;               /* a new master from an upgrade owns the file */
	struct ev_timer save;
	struct ev_timer expiry;
} ap;

static uint64_t
approvals_now(void)
{
	return (uint64_t)time(NULL);
}

uint64_t
approvals_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------ the state file */

/* Renames a bad state file out of the way, so that the next save does not destroy it. */
static void
approvals_state_aside(const char *path, const char *why)
{
	char aside[PATH_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	if (snprintf(aside, sizeof(aside), "%s.corrupt-%s", path, stamp) >= (int)sizeof(aside) ||
	    rename(path, aside) == -1) {
		log_error("approvals: state_file \"%s\": %s; cannot move it aside (%s): starting "
		    "with no decisions, and the next change replaces it", path, why, strerror(errno));
		return;
	}
	log_error("approvals: state_file \"%s\": %s; moved to \"%s\", starting with no decisions",
	    path, why, aside);
}

/* One line (NUL-terminated, no newline) into *a; CT_ERROR with why. */
static int
approvals_state_line(const char *line, size_t lineno, struct shm_approval *a, char *why,
    size_t len)
{
	char reason[256];
	json_error_t jerr;
	const char *bad;
	json_t *o;
	int rc;

	if ((o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(why, len, "line %zu: not JSON: %s", lineno, jerr.text);
		return CT_ERROR;
	}
	if (lineno == 1) {
		rc = json_is_object(o) && json_object_size(o) == 2 &&
		    json_is_string(json_object_get(o, "cuttle")) &&
		    strcmp(json_string_value(json_object_get(o, "cuttle")), "approvals") == 0 &&
		    json_integer_value(json_object_get(o, "version")) == 1 ? CT_OK : CT_ERROR;
		if (rc != CT_OK)
			snprintf(why, len, "line 1: not {\"cuttle\": \"approvals\", \"version\": 1}");
		json_decref(o);
		return rc;
	}
	rc = admin_approval_from_json(o, a, reason, sizeof(reason));
	json_decref(o);
	if (rc == CT_OK && (bad = shm_approval_check(a)) != NULL) {
		snprintf(reason, sizeof(reason), "%s", bad);
		rc = CT_ERROR;
	}
	if (rc != CT_OK)
		snprintf(why, len, "line %zu: %s", lineno, reason);
	return rc;
}

/* Reads f into list (SHM_APPROVALS_MAX); CT_ERROR with why. */
static int
approvals_state_read(FILE *f, struct shm_approval *list, size_t *n, size_t *expired,
    uint64_t now_s, char *why, size_t len)
{
	size_t cap = 0, lineno = 0, l;
	char *line = NULL;
	ssize_t got;
	int rc = CT_OK;

	*n = *expired = 0;
	errno = 0;
	while (rc == CT_OK && (got = getline(&line, &cap, f)) != -1) {
		lineno++;
		l = (size_t)got;
		if (l > 0 && line[l - 1] == '\n')
			line[--l] = '\0';
		if (l > APPROVALS_LINE_MAX || strlen(line) != l) {
			snprintf(why, len, "line %zu: longer than %d bytes, or a NUL byte in it", lineno,
			    APPROVALS_LINE_MAX);
			rc = CT_ERROR;
		} else if (l == 0 && lineno > 1) {
			continue;
		} else if (lineno > 1 && *n == SHM_APPROVALS_MAX) {
			snprintf(why, len, "line %zu: more than %d decisions", lineno, SHM_APPROVALS_MAX);
			rc = CT_ERROR;
		} else if ((rc = approvals_state_line(line, lineno, &list[*n], why, len)) == CT_OK &&
		    lineno > 1) {
			if (list[*n].expires != 0 && list[*n].expires <= now_s)
				(*expired)++;
			else
				(*n)++;
		}
	}
	if (rc == CT_OK && ferror(f)) {
		snprintf(why, len, "cannot read it: %s", strerror(errno != 0 ? errno : EIO));
		rc = CT_ERROR;
	} else if (rc == CT_OK && lineno == 0) {
		snprintf(why, len, "empty: not even the first line");
		rc = CT_ERROR;
	}
	free(line);
	return rc;
}

int
approvals_state_load(struct shm *shm, const char *path, uint64_t now_s)
{
	struct shm_approval *list;
	size_t n, expired;
	char why[512];
	FILE *f;
	int rc;

	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT) {
			log_info("approvals: no state_file \"%s\" yet: starting with no decisions", path);
			return CT_OK;
		}
		snprintf(why, sizeof(why), "cannot open it: %s", strerror(errno));
		approvals_state_aside(path, why);
		return CT_ERROR;
	}
	if ((list = calloc(SHM_APPROVALS_MAX, sizeof(*list))) == NULL) {
		fclose(f);
		log_error("approvals: out of memory reading state_file \"%s\"", path);
		return CT_ERROR;
	}
	rc = approvals_state_read(f, list, &n, &expired, now_s, why, sizeof(why));
	fclose(f);
	if (rc != CT_OK) {
		approvals_state_aside(path, why);
		(void)shm_approval_replace(shm, NULL, 0);
	} else {
		(void)shm_approval_replace(shm, list, n);
		log_notice("approvals: %zu decisions loaded from \"%s\"%s", n, path,
		    expired > 0 ? ", the expired ones left out" : "");
	}
	free(list);
	return rc;
}

/* Makes the rename durable: the directory's entry is synced too. */
static void
approvals_state_sync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd;

	if (strlen(path) >= sizeof(copy))
		return;
	memcpy(copy, path, strlen(path) + 1);
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return;
	(void)fsync(fd);
	close(fd);
}

/* Writes the header and every unexpired decision of list[0..n) to f. */
static int
approvals_state_write(FILE *f, const struct shm_approval *list, size_t n, uint64_t now_s)
{
	size_t i;
	char *s;

	if (fputs("{\"cuttle\":\"approvals\",\"version\":1}\n", f) == EOF)
		return CT_ERROR;
	for (i = 0; i < n; i++) {
		json_t *o;

		if (list[i].expires != 0 && list[i].expires <= now_s)
			continue;
		o = admin_approval_json(&list[i], 0);
		s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (s == NULL || fprintf(f, "%s\n", s) < 0) {
			free(s);
			return CT_ERROR;
		}
		free(s);
	}
	return CT_OK;
}

int
approvals_state_save(const struct shm *shm, const char *path, uint64_t now_s)
{
	struct shm_approval *list = calloc(SHM_APPROVALS_MAX, sizeof(*list));
	char tmp[PATH_MAX];
	uint64_t gen;
	FILE *f = NULL;
	size_t n;
	int fd = -1, rc = CT_ERROR;

	if (list == NULL || shm_approval_list(shm, list, &n, &gen) != CT_OK ||
	    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		log_warnx("approvals: cannot write state_file \"%s\": out of memory", path);
		free(list);
		return CT_ERROR;
	}
	/* mkostemp() makes it 0600: decisions name clients, and operators' notes. */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		log_warn("approvals: cannot create \"%s\" for state_file \"%s\"", tmp, path);
		goto done;
	}
	fd = -1;
	if (approvals_state_write(f, list, n, now_s) != CT_OK || fflush(f) == EOF ||
	    fsync(fileno(f)) == -1) {
		log_warn("approvals: cannot write \"%s\" for state_file \"%s\"", tmp, path);
		goto done;
	}
	if (fclose(f) == EOF) {
		f = NULL;
		log_warn("approvals: cannot write \"%s\" for state_file \"%s\"", tmp, path);
		goto done;
	}
	f = NULL;
	if (rename(tmp, path) == -1) {
		log_warn("approvals: cannot rename \"%s\" to state_file \"%s\"", tmp, path);
		goto done;
	}
	tmp[0] = '\0';
	approvals_state_sync_dir(path);
	rc = CT_OK;
done:
	if (f != NULL)
		fclose(f);
	if (fd != -1)
		close(fd);
	if (tmp[0] != '\0' && rc != CT_OK)
		(void)unlink(tmp);
	free(list);
	return rc;
}

/* --------------------------------------------------------------- timers */

static void
approvals_save_timer(struct ev_loop *loop, struct ev_timer *t)
{
	if (!ap.dirty || ap.path == NULL || ap.disowned)
		return;
	if (approvals_state_save(ap.shm, ap.path, approvals_now()) != CT_OK) {
		if (ev_timer_start(loop, t, APPROVALS_RETRY_MS) != CT_OK)
			log_alert("approvals: cannot arm the timer of the state file");
		return;
	}
	ap.dirty = 0;
}

/* The expiry timer, at the next decision's expiry (or a day from now). */
static void
approvals_expiry_arm(void)
{
	uint64_t next = shm_approval_next_expiry(ap.shm), now = approvals_now(), ms;

	if (next == 0) {
		ev_timer_stop(ap.loop, &ap.expiry);
		return;
	}
	ms = next > now ? (next - now) * 1000 : 1;
	if (ev_timer_start(ap.loop, &ap.expiry, CT_MIN(ms, APPROVALS_EXPIRY_MAX_MS)) != CT_OK)
		log_alert("approvals: cannot arm the expiry timer");
}

/* A decision made, taken back or expired, for the live events. */
static void __attribute__((format(printf, 1, 2)))
approvals_event(const char *fmt, ...)
{
	struct shm_event ev;
	char text[SHM_EVENT_TEXT];
	va_list ap_;

	va_start(ap_, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap_);
	va_end(ap_);
	shm_event_init(&ev, SHM_EV_DECISION);
	shm_event_text(&ev, text);
	(void)shm_event_write(ap.shm, &ev);
}

/*
 * After every change of the table.  Its generation has moved already:
 * a worker holding clients that looks at it sees that something changed.
 */
static void
approvals_changed(void)
{
	master_approvals_notify();
	ap.dirty = 1;
	if (ap.path != NULL && !ap.disowned && !ev_timer_active(&ap.save) &&
	    ev_timer_start(ap.loop, &ap.save, APPROVALS_SAVE_DELAY_MS) != CT_OK)
		log_alert("approvals: cannot arm the timer of the state file");
	approvals_expiry_arm();
}

static void
approvals_expiry_timer(struct ev_loop *loop, struct ev_timer *t)
{
	size_t n = shm_approval_expire(ap.shm, approvals_now());

	(void)loop;
	(void)t;
	if (n > 0) {
		log_info("approvals: %zu decision%s expired", n, n == 1 ? "" : "s");
		approvals_event("%zu decision%s expired", n, n == 1 ? "" : "s");
		approvals_changed();
	} else {
		approvals_expiry_arm();
	}
}

void
approvals_start(struct ev_loop *loop, struct shm *shm, const struct conf *conf)
{
	ap.loop = loop;
	ap.shm = shm;
	ev_timer_init(&ap.save, approvals_save_timer, NULL);
	ev_timer_init(&ap.expiry, approvals_expiry_timer, NULL);
	if (conf->approvals.state_file != NULL) {
		if ((ap.path = strdup(conf->approvals.state_file)) == NULL)
			fatal("out of memory");
		(void)approvals_state_load(shm, ap.path, approvals_now());
	}
	approvals_expiry_arm();
}

void
approvals_reconf(const struct conf *conf)
{
	const char *p = conf->approvals.state_file;

	if ((p == NULL && ap.path == NULL) || (p != NULL && ap.path != NULL &&
	    strcmp(p, ap.path) == 0))
		return;
	/* A file that was not read at start is written, not read: the table is what is true now. */
	approvals_flush();
	free(ap.path);
	ap.path = p != NULL ? strdup(p) : NULL;
	if (p != NULL && ap.path == NULL)
		log_warnx("approvals: out of memory: state_file \"%s\" not written", p);
	if (ap.path == NULL) {
		ev_timer_stop(ap.loop, &ap.save);
		log_notice("approvals: no state_file any more: decisions last until cuttle stops");
		return;
	}
	log_notice("approvals: state_file is now \"%s\": writing the decisions there", ap.path);
	approvals_changed();
}

void
approvals_flush(void)
{
	if (ap.disowned && ap.dirty && ap.path != NULL)
		log_warnx("approvals: decisions changed through this master after the upgrade "
		    "began are not in state_file \"%s\": the new master writes it now", ap.path);
	if (!ap.dirty || ap.path == NULL || ap.disowned)
		return;
	ev_timer_stop(ap.loop, &ap.save);
	if (approvals_state_save(ap.shm, ap.path, approvals_now()) == CT_OK)
		ap.dirty = 0;
}

void
approvals_disown(void)
{
	approvals_flush();
	ap.disowned = 1;
	ap.dirty = 0;
	ev_timer_stop(ap.loop, &ap.save);
}

void
approvals_reown(void)
{
	ap.disowned = 0;
	if (ap.dirty)
		approvals_changed();
}

/* ---------------------------------------------------------- the link */

/* "listener \"web\" to example.com:443": any_dest leaves the destination out. */
static const char *
approvals_scope(const struct shm_approval *a, int any_listener, int any_dest, char *buf,
    size_t len)
{
	char dest[ADMIN_APPROVAL_DEST_TEXT];

	admin_approval_dest_format(a, dest, sizeof(dest));
	snprintf(buf, len, "%s%s%s%s%s", any_listener ? "any listener" :
	    a->listener[0] == '\0' ? "every listener" : "listener \"",
	    any_listener || a->listener[0] == '\0' ? "" : a->listener,
	    any_listener || a->listener[0] == '\0' ? "" : "\"",
	    any_dest || dest[0] == '\0' ? "" : " to ", any_dest ? "" : dest);
	return buf;
}

static void
approvals_decide(struct admin_link_msg *msg)
{
	struct shm_approval a = msg->decision;
	char net[INET6_ADDRSTRLEN + 8], scope[APPROVALS_SCOPE_TEXT], life[32];
	uint64_t now = approvals_now();
	const char *why;
	int replaced;

	shm_approval_normalize(&a.net);
	/* What comes through the API is an operator's, made now, here. */
	a.origin = SHM_APPROVAL_OPERATOR;
	a.made = now;
	a.changed_ms = cluster_decision_stamp(&a, approvals_now_ms());
	snprintf(a.node, sizeof(a.node), "%s", redis_node() != NULL ? redis_node() : "");
	if ((why = shm_approval_check(&a)) != NULL) {
		msg->result = CT_DECLINED;
		snprintf(msg->why, sizeof(msg->why), "%s", why);
		return;
	}
	if (shm_approval_put(ap.shm, &a, now, &replaced) != CT_OK) {
		msg->result = CT_ERROR;
		snprintf(msg->why, sizeof(msg->why), "the table of decisions is full (%d): revoke "
		    "some first", SHM_APPROVALS_MAX);
		log_warnx("approvals: the table is full (%d decisions): a decision was refused",
		    SHM_APPROVALS_MAX);
		return;
	}
	if (a.expires != 0)
		snprintf(life, sizeof(life), "for %llus", (unsigned long long)(a.expires - now));
	else
		snprintf(life, sizeof(life), "until revoked");
	log_notice("approvals: %s %s on %s %s, by %s%s%s", shm_approval_verdict_names[a.verdict],
	    admin_approval_net_format(&a.net, net, sizeof(net)),
	    approvals_scope(&a, 0, 0, scope, sizeof(scope)), life,
	    a.by[0] != '\0' ? a.by : "an operator", replaced ? ", replacing the one before" : "",
	    a.note[0] != '\0' ? " (note given)" : "");
	approvals_event("%s %s on %s %s, by %s", shm_approval_verdict_names[a.verdict], net,
	    scope, life, a.by[0] != '\0' ? a.by : "an operator");
	msg->result = CT_OK;
	msg->count = (uint32_t)replaced;
	msg->decision = a;
	approvals_changed();
	cluster_decision_made(&a);
}

/*
 * What a revoke takes away: the first, for the answer; every one goes
 * to the cluster (which touches no decision) as the table is written.
 */
struct approvals_gone {
	struct shm_approval *first;
	size_t n;
	uint64_t now_ms;
};

static void
approvals_gone(const struct shm_approval *a, void *arg)
{
	struct approvals_gone *g = arg;

	if (g->n++ == 0)
		*g->first = *a;
	cluster_decision_revoked(a, g->now_ms);
}

static void
approvals_revoke(struct admin_link_msg *msg)
{
	struct shm_approval a = msg->decision, gone;
	char net[INET6_ADDRSTRLEN + 8], scope[APPROVALS_SCOPE_TEXT];
	int any = (msg->flags & ADMIN_LINK_ANY_SCOPE) != 0;
	int any_dest = (msg->flags & ADMIN_LINK_ANY_DEST) != 0;
	const char *why;
	size_t n;

	shm_approval_normalize(&a.net);
	/* The key alone is checked: a decision with it would pass. */
	a.verdict = SHM_APPROVAL_ALLOW;
	a.origin = SHM_APPROVAL_OPERATOR;
	a.expires = 0;
	a.by[0] = a.note[0] = '\0';
	if (any)
		a.listener[0] = '\0';
	if (any_dest) {
		a.dest[0] = '\0';
		a.port = 0;
	}
	if ((why = shm_approval_check(&a)) != NULL) {
		msg->result = CT_DECLINED;
		snprintf(msg->why, sizeof(msg->why), "%s", why);
		return;
	}
	n = shm_approval_revoke_each(ap.shm, &a.net, any ? NULL : a.listener,
	    any_dest ? NULL : &(struct shm_approval_to){ a.dest, a.port }, approvals_gone,
	    &(struct approvals_gone){ &gone, 0, approvals_now_ms() });
	msg->result = CT_OK;
	msg->count = (uint32_t)n;
	msg->decision = n > 0 ? gone : a;
	if (n == 0)
		return;
	log_notice("approvals: revoked %zu decision%s for %s on %s", n, n == 1 ? "" : "s",
	    admin_approval_net_format(&a.net, net, sizeof(net)),
	    approvals_scope(&a, any, any_dest, scope, sizeof(scope)));
	approvals_event("revoked %s on %s", net, scope);
	approvals_changed();
}

int
approvals_adopt(const struct shm_approval *d, int revoked)
{
	char net[INET6_ADDRSTRLEN + 8], scope[APPROVALS_SCOPE_TEXT];
	struct shm_approval a = *d;
	int replaced;
	size_t n;

	admin_approval_net_format(&a.net, net, sizeof(net));
	approvals_scope(&a, 0, 0, scope, sizeof(scope));
	if (revoked) {
		n = shm_approval_revoke(ap.shm, &a.net, a.listener,
		    &(struct shm_approval_to){ a.dest, a.port }, NULL);
		if (n == 0)
			return CT_OK;
		log_notice("approvals: revoked %s on %s, by node \"%s\"", net, scope, a.node);
		approvals_event("revoked %s on %s, by node %s", net, scope, a.node);
		approvals_changed();
		return CT_OK;
	}
	a.origin = SHM_APPROVAL_PEER;
	if (shm_approval_put(ap.shm, &a, approvals_now(), &replaced) != CT_OK) {
		log_warnx("approvals: the table is full (%d decisions): a decision of node \"%s\" "
		    "was not adopted", SHM_APPROVALS_MAX, a.node);
		return CT_ERROR;
	}
	log_notice("approvals: %s %s on %s, by node \"%s\"%s", shm_approval_verdict_names[a.verdict],
	    net, scope, a.node, replaced ? ", replacing the one before" : "");
	approvals_event("%s %s on %s, by node %s", shm_approval_verdict_names[a.verdict], net,
	    scope, a.node);
	approvals_changed();
	return CT_OK;
}

void
approvals_link(struct admin_link_msg *msg)
{
	msg->why[0] = '\0';
	msg->count = 0;
	if (msg->op == ADMIN_LINK_DECIDE)
		approvals_decide(msg);
	else
		approvals_revoke(msg);
}

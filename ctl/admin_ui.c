/*
 * The dashboard: its files at / and /ui/, and the sessions of the
 * browsers that logged in on the TCP address.
 *
 * A browser cannot be made to send a bearer token with a WebSocket, and
 * a token kept by the page's script is a token any injected script can
 * read.  So the page posts the token once to /ui/login and gets a
 * session cookie instead: a random id (never the token), HttpOnly so
 * that no script reads it, SameSite=Strict so that another site's page
 * does not send it.  A request the cookie authorizes that changes
 * something must also carry an Origin that is the API's own, and the
 * WebSocket upgrade is checked the same way (admin_events.c): a page of
 * another site gets 403 even from a browser that would send the cookie.
 * The page and its files hold no secret and are served to anyone; GET
 * changes nothing anywhere in the API.
 *
 * Sessions live in the admin process only, ADMIN_SESSIONS of them; each
 * ends admin.session.lifetime after its login, or admin.session.idle
 * after its last request, whichever comes first, and a stream of events
 * it opened ends with it.  A login when all are alive ends the one
 * unused longest: the operator at the keyboard matters more than a
 * forgotten tab, and only the token makes a session.  A reload (a new
 * admin process) ends them all, and the page asks for the token again.
 *
 * Every token a TCP client presents, in a login or in Authorization, is
 * counted against its address when wrong (admin_lockout.h); a locked
 * address gets 429 with Retry-After and its token is not looked at.  A
 * wrong token counts even where the request is served anyway (the
 * page's files): whether it was compared at all must tell nothing.  The
 * table, like the sessions, starts empty in each admin process.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl/admin_int.h"
#include "lib/ct.h"
#include "lib/ev.h"
#include "lib/http_parse.h"
#include "lib/log.h"

#define ADMIN_COOKIE     "cuttle_session"

/*
 * Every byte of a is compared, with b repeated under it: a loop that
 * stopped at the shorter would tell how long the secret is.
 */
int
admin_secret_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	size_t i;

	if (blen == 0)
		return alen == 0;
	for (i = 0; i < alen; i++)
		diff |= (unsigned char)(a[i] ^ b[i % blen]);
	return diff == 0;
}

/* The value of the session cookie in the Cookie field, or NULL. */
static const char *
admin_ui_cookie(const struct http_request *req, size_t *len)
{
	const struct http_header *h = http_header_find(&req->h, "cookie");
	const char *p, *end, *v;
	size_t cl = sizeof(ADMIN_COOKIE) - 1;

	if (h == NULL)
		return NULL;
	p = h->value.p;
	end = p + h->value.len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == ';'))
			p++;
		v = p;
		while (p < end && *p != ';')
			p++;
		if ((size_t)(p - v) > cl && memcmp(v, ADMIN_COOKIE, cl) == 0 && v[cl] == '=') {
			*len = (size_t)(p - v) - cl - 1;
			return v + cl + 1;
		}
	}
	return NULL;
}

/* Why s has ended by now: the end that came first ("lifetime", "idle"); NULL: alive. */
static const char *
admin_ui_session_over(const struct admin *a, const struct admin_session *s, uint64_t now)
{
	const struct conf_session *cs = &a->cy->conf->admin.session;
	uint64_t life = s->created + cs->lifetime_ms, idle = s->used + cs->idle_ms;

	if (now < life && now < idle)
		return NULL;
	return idle < life ? "idle" : "lifetime";
}

/* Frees the slots of the sessions that have ended by now. */
static void
admin_ui_sessions_sweep(struct admin *a, uint64_t now)
{
	const char *why;
	size_t i;

	for (i = 0; i < ADMIN_SESSIONS; i++) {
		struct admin_session *s = &a->sessions[i];

		if (s->serial == 0 || (why = admin_ui_session_over(a, s, now)) == NULL)
			continue;
		log_info("admin: a dashboard session ended: its %s was over", why);
		explicit_bzero(s, sizeof(*s));
	}
}

/*
 * The live session the request's cookie names, or NULL.  Finding it is
 * a request of the session's: its idle time starts again.
 */
static struct admin_session *
admin_ui_session(struct admin *a, const struct http_request *req)
{
	uint64_t now = ev_now(a->loop);
	const char *v;
	size_t vlen = 0, i;
	struct admin_session *found = NULL;

	admin_ui_sessions_sweep(a, now);
	if ((v = admin_ui_cookie(req, &vlen)) == NULL || vlen != ADMIN_SESSION_ID - 1)
		return NULL;
	for (i = 0; i < ADMIN_SESSIONS; i++) {
		struct admin_session *s = &a->sessions[i];

		/* Every slot, so that the time says nothing of which one matched. */
		if (admin_secret_eq(v, vlen, s->id, ADMIN_SESSION_ID - 1) && s->serial != 0)
			found = s;
	}
	if (found != NULL)
		found->used = now;
	return found;
}

int
admin_ui_session_alive(struct admin *a, uint64_t serial)
{
	size_t i;

	admin_ui_sessions_sweep(a, ev_now(a->loop));
	for (i = 0; i < ADMIN_SESSIONS; i++)
		if (a->sessions[i].serial == serial)
			return 1;
	return 0;
}

/* Is this request for the page, its files or the login, open to anyone? */
static int
admin_ui_open(const struct http_request *req)
{
	const struct http_slice *p = &req->path;
	size_t n = p->len;
	const char *q = memchr(p->p, '?', p->len);

	if (q != NULL)
		n = (size_t)(q - p->p);
	if (http_slice_eq(req->method, "GET"))
		return (n == 1 && p->p[0] == '/') || (n > 4 && memcmp(p->p, "/ui/", 4) == 0);
	return n == 9 && memcmp(p->p, "/ui/login", 9) == 0;
}

/*
 * 429 for a client whose address may not present a token for retry_ms
 * more: when it may again, in seconds rounded up.
 */
static void
admin_ui_refuse(struct admin_conn *ac, uint64_t retry_ms)
{
	unsigned long long secs = (retry_ms + 999) / 1000;
	char extra[64], msg[128];

	ac->a->lockout.refused++;
	snprintf(extra, sizeof(extra), "Retry-After: %llu\r\n", secs);
	snprintf(msg, sizeof(msg), "too many wrong tokens: try again in %llu s", secs);
	admin_json_with(ac, 429, extra, json_pack("{s:s, s:I}", "error", msg,
	    "retry_after", (json_int_t)secs));
}

/* Counts a wrong token of ac's client (what: where it came), logging a lockout once. */
static void
admin_ui_wrong(struct admin_conn *ac, const char *what)
{
	struct admin *a = ac->a;
	const struct conf_login *l = &a->cy->conf->admin.login;
	double w = (double)l->window_ms / 1000.0;
	char who[64];
	unsigned began;

	admin_lockout_key_format(&ac->peer, who, sizeof(who));
	log_warnx("admin: %s with a wrong token from %s", what, who);
	began = admin_lockout_fail(&a->lockout, &ac->peer, ev_now(a->loop));
	if (began & ADMIN_LOCKOUT_ADDRESS)
		log_warnx("admin: %u wrong tokens from %s within %g s: refusing its tokens for "
		    "%g s", l->failures, who, w, w);
	if (began & ADMIN_LOCKOUT_ALL)
		log_warnx("admin: %u wrong tokens from all addresses within %g s: refusing the "
		    "tokens of every address that has not logged in before for %g s", l->total, w, w);
}

int
admin_ui_authorize(struct admin_conn *ac, const struct http_request *req)
{
	struct admin *a = ac->a;
	const struct http_header *origin = http_header_find(&req->h, "origin");
	const struct http_header *auth = http_header_find(&req->h, "authorization");
	int safe = http_slice_eq(req->method, "GET");
	struct admin_session *s;
	uint64_t retry = 0;
	int locked = 0;

	if (!ac->tcp)
		return CT_OK;
	if (auth != NULL && !(locked = admin_lockout_check(&a->lockout, &ac->peer,
	    ev_now(a->loop), &retry) != CT_OK)) {
		if (admin_token_ok(a->cy->conf, req)) {
			admin_lockout_pass(&a->lockout, &ac->peer, ev_now(a->loop));
			return CT_OK;
		}
		admin_ui_wrong(ac, "a request");
	}
	s = admin_ui_open(req) ? NULL : admin_ui_session(a, req);
	if (s != NULL || admin_ui_open(req)) {
		/*
		 * A browser names the page that sent what changes something; a
		 * request without Origin did not come from a page that a
		 * browser trusts us with.
		 */
		if (!safe && (origin == NULL || !admin_origin_ok(ac, req, &origin->value))) {
			admin_error(ac, 403, "the Origin is not this API's");
			return CT_ERROR;
		}
		ac->session = s != NULL ? s->serial : 0;
		return CT_OK;
	}
	if (locked)
		admin_ui_refuse(ac, retry);
	else
		admin_error(ac, 401, "this API needs Authorization: Bearer TOKEN or a session");
	return CT_ERROR;
}

/* A free slot, or one whose session has ended; else the one unused longest, ended. */
static struct admin_session *
admin_ui_session_slot(struct admin *a, uint64_t now)
{
	struct admin_session *s = NULL;
	size_t i;

	admin_ui_sessions_sweep(a, now);
	for (i = 0; i < ADMIN_SESSIONS; i++) {
		struct admin_session *c = &a->sessions[i];

		if (c->serial == 0)
			return c;
		if (s == NULL || c->used < s->used)
			s = c;
	}
	log_warnx("admin: all %d dashboard sessions are alive: ending the one unused longest "
	    "for a new login", ADMIN_SESSIONS);
	explicit_bzero(s, sizeof(*s));
	return s;
}

/* POST /ui/login with {"token": "..."}: a session cookie, or 401, or 429. */
static void
admin_ui_login(struct admin_conn *ac, const char *body, size_t blen)
{
	struct admin *a = ac->a;
	const char *tok = a->cy->conf->admin.token;
	struct admin_session *s;
	unsigned char raw[(ADMIN_SESSION_ID - 1) / 2];
	uint64_t now = ev_now(a->loop), retry = 0;
	json_error_t jerr;
	json_t *j, *t;
	char extra[256];
	size_t i;

	if (tok == NULL) {
		/* The unix socket with no admin.listen: there is nothing to log in to. */
		admin_json(ac, 200, json_pack("{s:b}", "session", 0));
		return;
	}
	if (ac->tcp && admin_lockout_check(&a->lockout, &ac->peer, now, &retry) != CT_OK) {
		admin_ui_refuse(ac, retry);
		return;
	}
	j = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &jerr);
	t = json_object_get(j, "token");
	if (j == NULL || !json_is_string(t)) {
		json_decref(j);
		admin_error(ac, 400, "the body must be {\"token\": \"...\"}");
		return;
	}
	if (!admin_secret_eq(json_string_value(t), json_string_length(t), tok, strlen(tok))) {
		json_decref(j);
		if (ac->tcp)
			admin_ui_wrong(ac, "a dashboard login");
		admin_error(ac, 401, "wrong token");
		return;
	}
	json_decref(j);
	if (ac->tcp)
		admin_lockout_pass(&a->lockout, &ac->peer, now);
	if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
		admin_error(ac, 500, "no random bytes for a session");
		return;
	}
	s = admin_ui_session_slot(a, now);
	for (i = 0; i < sizeof(raw); i++)
		snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
	s->serial = ++a->session_serial;
	s->created = s->used = now;
	/* The browser forgets the cookie when the session ends at the latest. */
	snprintf(extra, sizeof(extra), "Set-Cookie: " ADMIN_COOKIE "=%s; Path=/; Max-Age=%llu; "
	    "HttpOnly; SameSite=Strict\r\n", s->id,
	    (unsigned long long)((a->cy->conf->admin.session.lifetime_ms + 999) / 1000));
	log_notice("admin: a dashboard session began");
	admin_answer_with(ac, 200, "application/json", extra, strdup("{\"session\":true}\n"));
}

/* POST /ui/logout: the session ends here, and the browser forgets the cookie. */
static void
admin_ui_logout(struct admin_conn *ac, const struct http_request *req)
{
	struct admin_session *s = admin_ui_session(ac->a, req);

	if (s != NULL) {
		explicit_bzero(s, sizeof(*s));
		log_notice("admin: a dashboard session ended: logged out");
	}
	admin_answer_with(ac, 200, "application/json",
	    "Set-Cookie: " ADMIN_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict\r\n",
	    strdup("{\"session\":false}\n"));
}

static const char *
admin_ui_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return "application/octet-stream";
}

/* GET / and /ui/NAME: a file of the page, with the headers that keep it to itself. */
static void
admin_ui_file(struct admin_conn *ac, const char *name)
{
	size_t i;
	char *body;

	for (i = 0; i < admin_ui_nfiles; i++) {
		const struct admin_ui_file *f = &admin_ui_files[i];

		if (strcmp(f->name, name) != 0)
			continue;
		/* The files are text: no NUL in them (ctl/ui_embed.sh checks). */
		if ((body = malloc(f->len + 1)) == NULL) {
			admin_error(ac, 500, "out of memory");
			return;
		}
		memcpy(body, f->data, f->len);
		body[f->len] = '\0';
		admin_answer_with(ac, 200, admin_ui_type(name),
		    "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
		    "Referrer-Policy: no-referrer\r\n"
		    "Content-Security-Policy: default-src 'self'; connect-src 'self' ws: wss:; "
		    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
		    "form-action 'none'\r\n", body);
		return;
	}
	admin_error(ac, 404, "no such file");
}

int
admin_ui_route(struct admin_conn *ac, const struct http_request *req, const char *path,
    const char *body, size_t blen)
{
	int get = http_slice_eq(req->method, "GET"), post = http_slice_eq(req->method, "POST");

	if (strcmp(path, "/") == 0 || strcmp(path, "/ui/") == 0) {
		if (get)
			admin_ui_file(ac, "index.html");
		else
			admin_error(ac, 405, "method not allowed here");
	} else if (strcmp(path, "/ui/login") == 0) {
		if (post)
			admin_ui_login(ac, body, blen);
		else
			admin_error(ac, 405, "method not allowed here");
	} else if (strcmp(path, "/ui/logout") == 0) {
		if (post)
			admin_ui_logout(ac, req);
		else
			admin_error(ac, 405, "method not allowed here");
	} else if (strncmp(path, "/ui/", 4) == 0) {
		if (get)
			admin_ui_file(ac, path + 4);
		else
			admin_error(ac, 405, "method not allowed here");
	} else {
		return 0;
	}
	return 1;
}

void
admin_ui_metrics(FILE *f, struct admin *a)
{
	static const struct admin_family fam[] = {
		{ "cuttle_admin_login_failures_total", "counter",
		    "Wrong tokens presented on the admin TCP address, in a login or Authorization." },
		{ "cuttle_admin_login_lockouts_total", "counter",
		    "Lockouts for wrong tokens: of one address, or of all that had not logged in." },
		{ "cuttle_admin_login_refused_total", "counter",
		    "Logins and requests refused with 429 while locked out, their token unread." },
		{ "cuttle_admin_sessions", "gauge", "Dashboard sessions alive now." },
	};
	const struct admin_lockout *l = &a->lockout;
	unsigned alive = 0;
	size_t i;

	admin_ui_sessions_sweep(a, ev_now(a->loop));
	for (i = 0; i < ADMIN_SESSIONS; i++)
		alive += a->sessions[i].serial != 0;
	admin_family(f, &fam[0]);
	fprintf(f, "%s %" PRIu64 "\n", fam[0].name, l->failed);
	admin_family(f, &fam[1]);
	fprintf(f, "%s{scope=\"address\"} %" PRIu64 "\n", fam[1].name, l->locked_address);
	fprintf(f, "%s{scope=\"all\"} %" PRIu64 "\n", fam[1].name, l->locked_all);
	admin_family(f, &fam[2]);
	fprintf(f, "%s %" PRIu64 "\n", fam[2].name, l->refused);
	admin_family(f, &fam[3]);
	fprintf(f, "%s %u\n", fam[3].name, alive);
}

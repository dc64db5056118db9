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
 * Sessions live in the admin process only, ADMIN_SESSIONS of them, for
 * ADMIN_SESSION_MS each; a reload (a new admin process) ends them all,
 * and the page asks for the token again.
 */
#include <errno.h>
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

/* Same length and same bytes, in a time that does not tell where they differ. */
int
admin_secret_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	size_t i;

	for (i = 0; i < alen && i < blen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
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

/* The live session the request's cookie names, or NULL. */
static struct admin_session *
admin_ui_session(struct admin *a, const struct http_request *req)
{
	uint64_t now = ev_now(a->loop);
	const char *v;
	size_t vlen = 0, i;
	struct admin_session *found = NULL;

	if ((v = admin_ui_cookie(req, &vlen)) == NULL || vlen != ADMIN_SESSION_ID - 1)
		return NULL;
	for (i = 0; i < ADMIN_SESSIONS; i++) {
		struct admin_session *s = &a->sessions[i];

		if (s->expires == 0)
			continue;
		if (s->expires <= now) {
			s->expires = 0;
			continue;
		}
		if (admin_secret_eq(v, vlen, s->id, ADMIN_SESSION_ID - 1))
			found = s;
	}
	return found;
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

int
admin_ui_authorize(struct admin_conn *ac, const struct http_request *req)
{
	const struct http_header *origin = http_header_find(&req->h, "origin");
	int safe = http_slice_eq(req->method, "GET");

	if (!ac->tcp)
		return CT_OK;
	if (admin_token_ok(ac->a->cy->conf, req))
		return CT_OK;
	if (admin_ui_open(req) || admin_ui_session(ac->a, req) != NULL) {
		/*
		 * A browser names the page that sent what changes something; a
		 * request without Origin did not come from a page that a
		 * browser trusts us with.
		 */
		if (!safe && (origin == NULL || !admin_origin_ok(ac, req, &origin->value))) {
			admin_error(ac, 403, "the Origin is not this API's");
			return CT_ERROR;
		}
		return CT_OK;
	}
	admin_error(ac, 401, "this API needs Authorization: Bearer TOKEN or a session");
	return CT_ERROR;
}

/* POST /ui/login with {"token": "..."}: a session cookie, or 401. */
static void
admin_ui_login(struct admin_conn *ac, const char *body, size_t blen)
{
	struct admin *a = ac->a;
	const char *tok = a->cy->conf->admin.token;
	struct admin_session *s = NULL;
	unsigned char raw[(ADMIN_SESSION_ID - 1) / 2];
	uint64_t now = ev_now(a->loop);
	json_error_t jerr;
	json_t *j, *t;
	char extra[256];
	size_t i;

	if (tok == NULL) {
		/* The unix socket with no admin.listen: there is nothing to log in to. */
		admin_json(ac, 200, json_pack("{s:b}", "session", 0));
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
		log_warnx("admin: a dashboard login with a wrong token");
		admin_error(ac, 401, "wrong token");
		return;
	}
	json_decref(j);
	/* A free or expired slot, else the one nearest its end. */
	for (i = 0; i < ADMIN_SESSIONS; i++) {
		struct admin_session *c = &a->sessions[i];

		if (c->expires <= now) {
			s = c;
			break;
		}
		if (s == NULL || c->expires < s->expires)
			s = c;
	}
	if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
		admin_error(ac, 500, "no random bytes for a session");
		return;
	}
	for (i = 0; i < sizeof(raw); i++)
		snprintf(s->id + 2 * i, 3, "%02x", raw[i]);
	s->expires = now + ADMIN_SESSION_MS;
	snprintf(extra, sizeof(extra), "Set-Cookie: " ADMIN_COOKIE "=%s; Path=/; Max-Age=%u; "
	    "HttpOnly; SameSite=Strict\r\n", s->id, ADMIN_SESSION_MS / 1000);
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
		log_notice("admin: a dashboard session ended");
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

/*
 * mode http's basic authentication (RFC 7617): a handler of the access
 * phase, run after the routes that answer by themselves and before any
 * other check, so that a client without credentials learns nothing of
 * the request's fate but 401.
 *
 *   throttled? --yes--> 429
 *   Authorization: none / other scheme --> 401; garbage --> 400
 *   unknown user --> 401
 *   SHA-256(file version, user:password) cached? --yes--> pass
 *   queue the check (auth.c), park ... answer: pass, or 401
 *
 * Every 400 and 401 but a missing or foreign credential counts as a
 * failure of the client's address.  The password lives on this
 * function's stack and in the verifier's job, and both are wiped.
 *
 * A forward proxy's clients authenticate to the proxy the same way with
 * the fields of RFC 9110 11.7: Proxy-Authorization, 407 and
 * Proxy-Authenticate; their Authorization is the origin's business.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/http_basic.h"
#include "shm/stats.h"
#include "worker/auth.h"
#include "worker/http_int.h"

/* The fields and status of one of the two kinds. */
struct http_auth_kind {
	const char *field;           /* the credentials */
	size_t field_len;
	int status;
	const char *challenge;       /* the field of the challenge */
	const char *body;
};

static const struct http_auth_kind http_auth_origin = {
	"Authorization", sizeof("Authorization") - 1, 401, "WWW-Authenticate",
	"401 Unauthorized\n"
};

static const struct http_auth_kind http_auth_proxy = {
	"Proxy-Authorization", sizeof("Proxy-Authorization") - 1, 407, "Proxy-Authenticate",
	"407 Proxy Authentication Required\n"
};

const struct conf_auth *
http_auth_of(const struct conn *c)
{
	const struct http_ctx *h = c->ctx;
	const struct conf_auth *a = http_listener(c)->auth;

	if (h->route != NULL && h->route->auth != NULL)
		a = h->route->auth;
	return a != NULL && !a->off ? a : NULL;
}

static void
http_auth_count(const struct conn *c, enum shm_auth_result r)
{
	struct shm_listener *ls = conn_listener_stats(c);

	if (ls != NULL)
		atomic_fetch_add_explicit(&ls->auth[r], 1, memory_order_relaxed);
}

/* 401 or 407 with the challenge; a failure of the client unless it sent no credentials. */
static int
http_auth_deny(struct conn *c, const struct http_auth_kind *k, const struct conf_auth *a,
    const char *why, int failure)
{
	char challenge[CONF_AUTH_REALM_MAX + 48];

	http_auth_count(c, SHM_AUTH_DENIED);
	if (failure)
		auth_failed(c->w, &c->peer);
	snprintf(challenge, sizeof(challenge), "Basic realm=\"%s\", charset=\"UTF-8\"", a->realm);
	http_answer_field(c, k->status, why, "text/plain", k->body, strlen(k->body),
	    k->challenge, challenge, 0);
	return CT_DONE;
}

/* The verifier's answer: the request, if it still waits for this check, goes on. */
static void
http_auth_done(struct conn *c, uint64_t id, int ok)
{
	struct http_ctx *h = c->ctx;

	/* The slot may have closed, or serve another connection, another mode, another request. */
	if (c->state != CONN_OPEN || c->client.io.cb != http_io || h == NULL ||
	    h->state != H_PARKED || h->auth_state != HTTP_AUTH_WAIT || h->auth_job != id)
		return;
	h->auth_state = ok ? HTTP_AUTH_OK : HTTP_AUTH_DENIED;
	http_unpark(c);
}

/* The single field of credentials, NULL when none; *many when more than one. */
static const struct http_header *
http_auth_field(const struct http_head *hd, const struct http_auth_kind *k, int *many)
{
	const struct http_header *f = NULL;
	size_t i;

	*many = 0;
	for (i = 0; i < hd->nheaders; i++) {
		if (hd->headers[i].name.len != k->field_len ||
		    strncasecmp(hd->headers[i].name.p, k->field, k->field_len) != 0)
			continue;
		if (f != NULL)
			*many = 1;
		f = &hd->headers[i];
	}
	return f;
}

/*
 * The checks of a request not yet decided.  buf: the version of the
 * file, then the decoded credentials, for the cache key in one digest;
 * *used: how much of buf may hold a password, to wipe.
 */
static int
http_auth_check(struct conn *c, const struct http_auth_kind *k, const struct conf_auth *a,
    char *buf, size_t cap, size_t *used)
{
	struct http_ctx *h = c->ctx;
	const struct http_header *f;
	struct http_basic cred;
	const char *why;
	uint64_t id;
	size_t keep;
	int many, rc;

	if (auth_throttled(c->w, &c->peer, a->max_failures)) {
		http_auth_count(c, SHM_AUTH_THROTTLED);
		http_error(c, 429, "too many failed authentications from the client");
		return CT_DONE;
	}
	if ((f = http_auth_field(&h->req.h, k, &many)) == NULL)
		return http_auth_deny(c, k, a, "no credentials", 0);
	memcpy(buf, a->version, sizeof(a->version));
	rc = many ? CT_ERROR : http_basic_parse(f->value.p, f->value.len, buf + sizeof(a->version),
	    cap - sizeof(a->version), &cred, &why);
	if (many)
		why = k->status == 401 ? "more than one Authorization field" :
		    "more than one Proxy-Authorization field";
	if (rc == CT_DECLINED)
		return http_auth_deny(c, k, a, "credentials of another scheme than Basic", 0);
	if (rc != CT_OK) {
		http_auth_count(c, SHM_AUTH_MALFORMED);
		auth_failed(c->w, &c->peer);
		http_error(c, 400, why);
		return CT_DONE;
	}
	keep = CT_MIN(cred.user_len, sizeof(h->user) - 1);
	memcpy(h->user, cred.user, keep);
	h->user[keep] = '\0';
	*used = sizeof(a->version) + cred.user_len + 1 + cred.pass_len;
	switch (auth_credentials_check(c->w, c, a, cred.user, cred.user_len, cred.pass,
	    cred.pass_len, http_auth_done, &id, &why)) {
	case CT_OK:
		http_auth_count(c, SHM_AUTH_CACHED);
		h->auth_state = HTTP_AUTH_OK;
		return CT_OK;
	case CT_DECLINED:
		return http_auth_deny(c, k, a, "unknown user", 1);
	case CT_ERROR:
		http_error(c, 503, why);
		return CT_DONE;
	default:
		break;
	}
	h->auth_state = HTTP_AUTH_WAIT;
	h->auth_job = id;
	http_park(c, 0);
	return CT_AGAIN;
}

static int
http_access_auth_kind(struct conn *c, const struct http_auth_kind *k)
{
	struct http_ctx *h = c->ctx;
	const struct conf_auth *a = http_auth_of(c);
	char buf[sizeof(a->version) + HTTP_BASIC_BUF];
	size_t used = sizeof(buf);
	int rc;

	if (a == NULL)
		return CT_DECLINED;
	switch ((enum http_auth_state)h->auth_state) {
	case HTTP_AUTH_OK:
		if (h->auth_job != 0) {
			h->auth_job = 0;
			http_auth_count(c, SHM_AUTH_OK);
		}
		return CT_OK;
	case HTTP_AUTH_DENIED:
		return http_auth_deny(c, k, a, "wrong password", 1);
	case HTTP_AUTH_WAIT:
		/* Only the verifier's answer unparks the request, and it sets the state. */
		http_error(c, 500, "authentication resumed without an answer");
		return CT_DONE;
	case HTTP_AUTH_NONE:
		break;
	}
	rc = http_auth_check(c, k, a, buf, sizeof(buf), &used);
	explicit_bzero(buf, used);
	return rc;
}

int
http_access_auth(struct conn *c)
{
	return http_access_auth_kind(c, &http_auth_origin);
}

int
http_access_proxy_auth(struct conn *c)
{
	return http_access_auth_kind(c, &http_auth_proxy);
}

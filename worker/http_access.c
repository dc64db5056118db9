/*
 * mode http's access phase: what decides, once a request is routed,
 * whether it goes upstream, is answered here, or must wait.  Each check
 * is a phase handler in http_access_phases[], run in order, so that a
 * new check (limits, auth, approval parking) is a handler and a line in
 * the table, not a branch in the state machine.
 *
 * The client address ACL of the listener runs earlier, at accept, for
 * every mode alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/http_int.h"
#include "worker/rules.h"

/*
 * redirect with scheme: the same host (without its port) and target on
 * https, the port named only when it is not the scheme's own.  Without a
 * Host (HTTP/1.0) there is nothing to send the client to: 400.
 */
static void
http_redirect_scheme(struct conn *c, const struct conf_route *r, const char *body, size_t len)
{
	struct http_ctx *h = c->ctx;
	struct http_slice host = h->req.host, target = h->req.path;
	const char *colon;
	char *loc;
	size_t cap;

	/* "[::1]:8443" keeps its brackets; only a port after them goes. */
	colon = host.len > 0 ? memrchr(host.p, ':', host.len) : NULL;
	if (colon != NULL && memchr(colon, ']', (size_t)(host.p + host.len - colon)) == NULL)
		host.len = (size_t)(colon - host.p);
	if (host.len == 0) {
		http_error(c, 400, "no Host to redirect to");
		return;
	}
	cap = sizeof("https://:65535") + host.len + target.len;
	if ((loc = malloc(cap)) == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	if (r->port != 0 && r->port != 443)
		snprintf(loc, cap, "%s://%.*s:%u%.*s", r->scheme, (int)host.len, host.p, r->port,
		    (int)target.len, target.p);
	else
		snprintf(loc, cap, "%s://%.*s%.*s", r->scheme, (int)host.len, host.p,
		    (int)target.len, target.p);
	http_answer(c, (int)r->status, NULL, "text/plain", body, len, loc, 0);
	free(loc);
}

/*
 * Routes that answer by themselves (return, redirect).  First, as in
 * nginx's rewrite phase: a fixed answer is given whatever the checks
 * meant for proxied requests would say.
 */
static int
http_access_local(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_route *r = h->route;
	char body[64];
	int n;

	switch (r->action) {
	case CONF_ROUTE_RETURN:
		h->reason = NULL;
		http_answer(c, (int)r->status, NULL, "text/plain", r->body, strlen(r->body), NULL, 0);
		return CT_DONE;
	case CONF_ROUTE_REDIRECT:
		n = snprintf(body, sizeof(body), "%u %s\n", r->status,
		    http_reason_phrase((int)r->status));
		if (r->scheme != NULL)
			http_redirect_scheme(c, r, body, (size_t)n);
		else
			http_answer(c, (int)r->status, NULL, "text/plain", body, (size_t)n,
			    r->location, 0);
		return CT_DONE;
	case CONF_ROUTE_UPSTREAM:
	case CONF_ROUTE_FORWARD:
		break;
	}
	return CT_DECLINED;
}

/*
 * max_body_size, for a body whose length is announced: refused before
 * anything is sent upstream.  A chunked body is counted as it comes
 * (http_body_scan).
 */
static int
http_access_body_size(struct conn *c)
{
	const struct http_ctx *h = c->ctx;
	const struct conf_listener *l = http_listener(c);

	if (l->max_body_size > 0 && h->req.h.framing == HTTP_BODY_LENGTH &&
	    h->req.h.content_length > l->max_body_size) {
		http_error(c, 413, "request body larger than max_body_size");
		return CT_DONE;
	}
	return CT_OK;
}

/* In the order they run. */
static const http_phase_cb http_access_phases[] = {
	http_access_local,
	http_access_limit,      /* http_limit.c: limits first, as nginx does before access */
	http_access_rules,      /* rules.c */
	http_access_auth,       /* http_auth.c */
	http_access_body_size,
	http_access_purge,      /* http_cache.c: PURGE on a route with a cache */
};

void
http_park(struct conn *c, uint64_t ms)
{
	struct http_ctx *h = c->ctx;

	h->state = H_PARKED;
	/* No header timeout over a wait the listener chose: the park bounds its own. */
	ev_timer_stop(c->w->loop, &c->timer);
	if (ms > 0)
		http_timer_arm(c, ms);
}

void
http_unpark(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (c->state != CONN_OPEN || h == NULL || h->state != H_PARKED)
		return;
	ev_timer_stop(c->w->loop, &c->timer);
	h->state = H_HEAD;
	if (h->route == &http_forward_route)
		http_forward_access(c);
	else
		http_request_access(c);
	if (c->state == CONN_OPEN && c->ctx == h)
		http_progress(c);
}

int
http_access_run(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	int rc;

	for (; h->phase < CT_NELEM(http_access_phases); h->phase++) {
		rc = http_access_phases[h->phase](c);
		/* CT_DONE: h may already serve the next request; CT_AGAIN: resumes here. */
		if (rc != CT_OK && rc != CT_DECLINED)
			return rc;
	}
	return CT_OK;
}

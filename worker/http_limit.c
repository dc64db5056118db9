/*
 * mode http's phase handler for the limits of a route (worker/limit.h):
 * the key from the request, then each limit in the order the route
 * names them.  Over a limit in mode reject, the answer is its status
 * (429) with Retry-After and the RateLimit-Policy and RateLimit fields
 * of the IETF httpapi draft; in mode delay, a request within the burst
 * is parked until its turn and then goes on with the next limit.
 */
#include <stdio.h>
#include <string.h>

#include "worker/http_int.h"
#include "worker/limit.h"

/* The value of cookie name in the request's Cookie fields, or an empty slice. */
static struct http_slice
http_limit_cookie(const struct http_request *req, const char *name)
{
	struct http_slice v = { "", 0 };

	(void)http_cookie_get(req, name, &v);
	return v;
}

/* The key of limit l for c's request. */
static void
http_limit_key(struct conn *c, const struct conf_limit *l, struct limit_key *k)
{
	const struct http_ctx *h = c->ctx;
	const struct http_request *req = &h->req;
	const struct conf_listener *lis = http_listener(c);
	const struct http_header *f;
	struct http_slice v;
	char buf[256];
	size_t i, n;

	limit_key_init(k);
	for (i = 0; i < l->nparts; i++) {
		const struct conf_limit_part *p = &l->parts[i];

		if (limit_key_conn_part(k, c, p) == CT_OK)
			continue;
		switch (p->kind) {
		case CONF_LIMIT_ROUTE:
			n = (size_t)snprintf(buf, sizeof(buf), "%s#%zu", lis->name,
			    (size_t)(h->route - lis->routes) + 1);
			limit_key_add(k, buf, CT_MIN(n, sizeof(buf) - 1), 1);
			break;
		case CONF_LIMIT_SERVER_NAME:
			/* Without the port and case-folded: one site, however it is spelled. */
			v = req->host;
			if (v.len > 0 && v.p[0] != '[' && memchr(v.p, ':', v.len) != NULL)
				v.len = (size_t)((const char *)memchr(v.p, ':', v.len) - v.p);
			for (n = 0; n < v.len && n < sizeof(buf); n++)
				buf[n] = (char)(v.p[n] >= 'A' && v.p[n] <= 'Z' ? v.p[n] + 32 : v.p[n]);
			limit_key_add(k, buf, n, 1);
			break;
		case CONF_LIMIT_HEADER:
			f = http_header_find(&req->h, p->name);
			limit_key_add(k, f != NULL ? f->value.p : "", f != NULL ? f->value.len : 0, 1);
			break;
		case CONF_LIMIT_COOKIE:
			v = http_limit_cookie(req, p->name);
			limit_key_add(k, v.p, v.len, 1);
			break;
		default:
			break;
		}
	}
}

/* The refusal: status, body and the fields that say when to come back. */
static void
http_limit_refuse(struct conn *c, const struct conf_limit *l, const struct limit_result *r)
{
	uint64_t retry = (r->wait_ns + 999999999) / 1000000000;
	struct http_ctx *h = c->ctx;
	char fields[512];

	if (retry == 0)
		retry = 1;
	snprintf(fields, sizeof(fields), "Retry-After: %llu\r\n"
	    "RateLimit-Policy: \"%s\";q=%llu;w=%llu\r\n"
	    "RateLimit: \"%s\";r=%llu;t=%llu\r\n", (unsigned long long)retry,
	    l->name, (unsigned long long)l->rate_count, (unsigned long long)(l->rate_ms / 1000),
	    l->name, (unsigned long long)r->left, (unsigned long long)retry);
	/* In the context: it is logged when the answer is done. */
	snprintf(h->reason_buf, sizeof(h->reason_buf), "limited by %s", l->name);
	http_answer_fields(c, (int)l->status, h->reason_buf, "text/plain", l->body,
	    strlen(l->body), fields, 0);
}

int
http_access_limit(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_limit_refs *refs = &h->route->limits;
	const struct conf *conf = c->w->cy->conf;
	struct limit_result r;
	struct limit_key k;

	for (; h->limit_next < refs->n; h->limit_next++) {
		const struct conf_limit *l = &conf->limits[refs->idx[h->limit_next]];

		http_limit_key(c, l, &k);
		switch (limit_check(c, refs->idx[h->limit_next], &k, &r)) {
		case SHM_LIMIT_PASS:
			break;
		case SHM_LIMIT_DELAY:
			/* Its turn is taken: after the wait, the next limit. */
			h->limit_next++;
			http_park(c, (r.wait_ns + 999999) / 1000000);
			return CT_AGAIN;
		case SHM_LIMIT_REJECT:
			http_limit_refuse(c, l, &r);
			return CT_DONE;
		}
	}
	return CT_OK;
}

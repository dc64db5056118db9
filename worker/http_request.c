/*
 * mode http's request head: reading and parsing it, routing it, and
 * building the head sent upstream (hop-by-hop fields dropped, the
 * forwarding fields and the route's header operations applied).  Also
 * where the request body's end is found, for sending it or dropping it.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "worker/http_int.h"
#include "worker/tls.h"

/* ------------------------------------------------------------ routing */

static int
http_host_match(const char *pattern, struct http_slice host)
{
	size_t hl = host.len, pl;
	const char *colon;

	/* The port does not take part: "a.example.com:8080" is a.example.com. */
	if (hl > 0 && host.p[0] == '[') {
		colon = memchr(host.p, ']', hl);
		hl = colon != NULL ? (size_t)(colon - host.p) + 1 : hl;
	} else if ((colon = memchr(host.p, ':', hl)) != NULL) {
		hl = (size_t)(colon - host.p);
	}
	pl = strlen(pattern);
	if (pattern[0] == '*' && pattern[1] == '.') {
		/* "*.example.com": a non-empty label before ".example.com" */
		return hl > pl - 1 && strncasecmp(host.p + hl - (pl - 1), pattern + 1, pl - 1) == 0;
	}
	return hl == pl && strncasecmp(host.p, pattern, pl) == 0;
}

/* path: the normalized path (and query) of req. */
static int
http_route_match(const struct conn *c, const struct conf_route *r,
    const struct http_request *req, struct http_slice path)
{
	const char *q = memchr(path.p, '?', path.len);
	size_t plen = q != NULL ? (size_t)(q - path.p) : path.len;
	size_t i;

	if (r->host != NULL && !http_host_match(r->host, req->host))
		return 0;
	if (r->client_cert != CONF_CLIENT_CERT_ANY &&
	    tls_client_verified(c) != (r->client_cert == CONF_CLIENT_CERT_VERIFIED))
		return 0;
	if (r->path_exact != NULL &&
	    (strlen(r->path_exact) != plen || memcmp(r->path_exact, path.p, plen) != 0))
		return 0;
	if (r->path_prefix != NULL &&
	    (strlen(r->path_prefix) > plen ||
	     memcmp(r->path_prefix, path.p, strlen(r->path_prefix)) != 0))
		return 0;
	if (r->nmethods == 0)
		return 1;
	for (i = 0; i < r->nmethods; i++)
		if (strlen(r->methods[i]) == req->method.len &&
		    memcmp(r->methods[i], req->method.p, req->method.len) == 0)
			return 1;
	return 0;
}

static const struct conf_route *
http_route_find(const struct conn *c, const struct http_request *req,
    struct http_slice path)
{
	const struct conf_listener *l = http_listener(c);
	size_t i;

	for (i = 0; i < l->nroutes; i++)
		if (http_route_match(c, &l->routes[i], req, path))
			return &l->routes[i];
	return NULL;
}

/*
 * The path routes see: "/x/../admin/" and "/%61dmin//" are "/admin/",
 * so that no spelling of a path reaches another route than the one its
 * server will take it for.  The target still goes upstream as the
 * client sent it, unless forward_normalized_path says otherwise.
 * Returns CT_ERROR with a 400 answered.
 */
static int
http_route_path(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_request *req = &h->req;
	const char *why = NULL;
	size_t n = 0;
	int rc;

	h->route_path = req->path;
	if (!req->path_check)
		return CT_OK;
	rc = http_path_normalize(req->path, NULL, &n, &why);
	if (rc == CT_AGAIN) {
		h->norm.start = h->norm.end = 0;
		if (http_buf_reserve(&h->norm, req->path.len) != CT_OK) {
			conn_close(c, "out of memory");
			return CT_ERROR;
		}
		rc = http_path_normalize(req->path, h->norm.p, &n, &why);
	}
	if (rc == CT_ERROR) {
		http_error(c, 400, why);
		return CT_ERROR;
	}
	if (rc == CT_OK) {
		h->route_path.p = h->norm.p;
		h->route_path.len = n;
		if (http_listener(c)->forward_normalized_path)
			req->path = h->route_path;
	}
	return CT_OK;
}

/* A field name with '_': dropped on the way upstream, refused or passed. */
static int
http_underscores_check(struct conn *c)
{
	const struct http_request *req = &http_ctx_of(c)->req;
	size_t i;

	if (http_listener(c)->underscores != CONF_UNDERSCORES_REJECT)
		return CT_OK;
	for (i = 0; i < req->h.nheaders; i++)
		if (req->h.headers[i].id == HTTP_F_UNDERSCORE) {
			http_error(c, 400, "underscore in a header field name");
			return CT_ERROR;
		}
	return CT_OK;
}

/* ------------------------------------------------- the upstream head */

/* Is name one of the fields listed in the Connection field(s)? */
static int
http_conn_lists(const struct http_head *hd, struct http_slice name)
{
	size_t i;

	if (!hd->conn_options)
		return 0;
	for (i = 0; i < hd->nheaders; i++) {
		const struct http_header *f = &hd->headers[i];
		const char *p = f->value.p, *end = p + f->value.len;

		if (f->id != HTTP_F_CONNECTION)
			continue;
		while (p < end) {
			const char *tok;

			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			tok = p;
			while (p < end && *p != ',' && *p != ' ' && *p != '\t')
				p++;
			if ((size_t)(p - tok) == name.len && strncasecmp(tok, name.p, name.len) == 0)
				return 1;
		}
	}
	return 0;
}

static int
http_name_in(struct http_slice name, char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_slice_eq(name, names[i]))
			return 1;
	return 0;
}

static int
http_name_in_kv(struct http_slice name, const struct conf_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_slice_eq(name, kv[i].name))
			return 1;
	return 0;
}

/* RFC 7239 values are tokens or quoted strings: "host:port" needs quotes. */
static int
http_is_token(struct http_slice s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if (strchr("!#$%&'*+-.^_`|~", s.p[i]) == NULL &&
		    !((s.p[i] >= '0' && s.p[i] <= '9') || ((s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z')))
			return 0;
	return s.len > 0;
}

/*
 * Is name the field called want, '_' taken for '-'?  Applications behind
 * CGI-like gateways see X_Client_Verify as X-Client-Verify, so a client
 * must not be able to pass either spelling of a field cuttle sets.
 */
static int
http_name_alike(struct http_slice name, const char *want)
{
	size_t i;

	if (strlen(want) != name.len)
		return 0;
	for (i = 0; i < name.len; i++) {
		char a = name.p[i] == '_' ? '-' : name.p[i], b = want[i] == '_' ? '-' : want[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (char)(b + 32);
		if (a != b)
			return 0;
	}
	return 1;
}

int
http_ops_takes(const struct conf_header_ops *ops, struct http_slice name)
{
	if (ops->nremove == 0 && ops->nset == 0)
		return 0;
	return http_name_in(name, ops->remove, ops->nremove) ||
	    http_name_in_kv(name, ops->set, ops->nset);
}

/* Does the route's remove or set take over the field called name? */
static int
http_ops_override(const struct conf_header_ops *ops, const char *name)
{
	return http_ops_takes(ops, (struct http_slice){ name, strlen(name) });
}

/*
 * Appends the fields a proxy adds, each after any value already there,
 * unless the route's request_headers remove or set them.
 */
static int
http_forwarding_add(struct conn *c, struct http_buf *o, const struct http_request *req,
    const struct conf_header_ops *ops)
{
	char ip[INET6_ADDRSTRLEN];
	const struct http_header *xff = http_header_find_id(&req->h, HTTP_F_X_FORWARDED_FOR);
	const struct http_header *via = http_header_find_id(&req->h, HTTP_F_VIA);
	const struct http_header *fw = http_header_find_id(&req->h, HTTP_F_FORWARDED);
	struct http_piece addr = { ip, addr_ip_format(&c->peer.sa, ip, sizeof(ip)) };
	int tok = http_is_token(req->host), v6 = c->peer.sa.sa_family == AF_INET6;
	/* The listener's: a background revalidation stands in the clear for a TLS client. */
	int https = http_listener(c)->tls != NULL;
	int rc = CT_OK;
	char minor = (char)('0' + req->h.minor);

	if (!http_ops_override(ops, "x-forwarded-for"))
		rc |= HTTP_CAT(o, HP("X-Forwarded-For: "), HV(xff), HC(xff != NULL, ", "), addr,
		    HP("\r\n"));
	if (!http_ops_override(ops, "x-forwarded-proto"))
		rc |= HTTP_CAT(o, HP("X-Forwarded-Proto: "), HC(https, "https"), HC(!https, "http"),
		    HP("\r\n"));
	if (req->host.len > 0 && !http_ops_override(ops, "x-forwarded-host"))
		rc |= HTTP_CAT(o, HP("X-Forwarded-Host: "), HS(req->host), HP("\r\n"));
	if (!http_ops_override(ops, "via"))
		rc |= HTTP_CAT(o, HP("Via: "), HV(via), HC(via != NULL, ", "), HP("1."),
		    ((struct http_piece){ &minor, 1 }), HP(" cuttle\r\n"));
	if (!http_ops_override(ops, "forwarded"))
		rc |= HTTP_CAT(o, HP("Forwarded: "), HV(fw), HC(fw != NULL, ", "), HP("for="),
		    HC(v6, "\"["), addr, HC(v6, "]\""), HP(";host="), HC(!tok, "\""),
		    HS(req->host), HC(!tok, "\""), HP(";proto="), HC(https, "https"),
		    HC(!https, "http"), HP("\r\n"));
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

/*
 * The fields that carry the client certificate upstream (tls
 * client_cert_headers), for every request of a TLS listener that names
 * them: a client without a certificate gets "NONE" and no others.
 */
static int
http_client_cert_add(const struct conn *c, struct http_buf *o, const struct conf_tls *tls)
{
	char v[1024];
	size_t i, n, k;
	int rc = CT_OK;

	for (i = 0; i < CONF_TLS_HDRS && rc == CT_OK; i++) {
		if (tls->headers[i] == NULL ||
		    (n = tls_client_field(c, (enum conf_tls_header)i, v, sizeof(v))) == 0)
			continue;
		/* Names print escaped (RFC 2253); a field value still gets no control byte. */
		for (k = 0; k < n; k++)
			if ((unsigned char)v[k] < 0x20 || v[k] == 0x7f)
				v[k] = '?';
		rc = HTTP_CAT(o, HZ(tls->headers[i]), HP(": "), ((struct http_piece){ v, n }),
		    HP("\r\n"));
	}
	return rc;
}

int
http_ops_add(struct http_buf *o, const struct conf_header_ops *ops)
{
	size_t i;

	for (i = 0; i < ops->nset; i++)
		if (HTTP_CAT(o, HZ(ops->set[i].name), HP(": "), HZ(ops->set[i].value),
		    HP("\r\n")) != CT_OK)
			return CT_ERROR;
	for (i = 0; i < ops->nadd; i++)
		if (HTTP_CAT(o, HZ(ops->add[i].name), HP(": "), HZ(ops->add[i].value),
		    HP("\r\n")) != CT_OK)
			return CT_ERROR;
	return CT_OK;
}

int
http_cookie_get(const struct http_request *req, const char *name, struct http_slice *v)
{
	size_t i, nl = strlen(name);

	for (i = 0; i < req->h.nheaders; i++) {
		const struct http_header *f = &req->h.headers[i];
		const char *p = f->value.p, *end = p + f->value.len;

		if (!http_slice_eq(f->name, "cookie"))
			continue;
		/* "a=1; b=2": pairs separated by ';' and optional spaces (RFC 6265). */
		while (p < end) {
			const char *semi = memchr(p, ';', (size_t)(end - p)), *stop = semi != NULL ? semi : end;

			while (p < stop && *p == ' ')
				p++;
			if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
				*v = (struct http_slice){ p + nl + 1, (size_t)(stop - p - nl - 1) };
				return 1;
			}
			p = stop + 1;
		}
	}
	return 0;
}

/*
 * Copies the end-to-end fields of hd that the ops do not remove or set,
 * nor skip, a set of HTTP_F_BIT()s of the fields the caller writes itself.
 */
int
http_fields_copy(struct http_buf *o, const struct http_head *hd,
    const struct conf_header_ops *ops, uint32_t skip, char *const *drop, size_t ndrop)
{
	size_t i, j;

	for (i = 0; i < hd->nheaders; i++) {
		const struct http_header *f = &hd->headers[i];

		if (HTTP_F_IS_HOP(f->id) || (skip & HTTP_F_BIT(f->id)) != 0 ||
		    http_conn_lists(hd, f->name) ||
		    http_name_in(f->name, ops->remove, ops->nremove) ||
		    http_name_in_kv(f->name, ops->set, ops->nset))
			continue;
		for (j = 0; j < ndrop && !http_name_alike(f->name, drop[j]); j++)
			;
		if (j < ndrop)
			continue;
		if (HTTP_CAT(o, HS(f->name), HP(": "), HS(f->value), HP("\r\n")) != CT_OK)
			return CT_ERROR;
	}
	return CT_OK;
}

/* The fields of the body's framing, and Connection, of a request going upstream. */
static inline int
http_request_framing_add(const struct http_ctx *h, struct http_buf *o)
{
	const struct http_request *req = &h->req;
	char num[24];
	int rc = CT_OK;

	if (req->h.framing == HTTP_BODY_LENGTH)
		rc |= HTTP_CAT(o, HP("Content-Length: "), http_num(num, req->h.content_length),
		    HP("\r\n"));
	else if (req->h.framing == HTTP_BODY_CHUNKED)
		rc |= HTTP_CAT(o, HP("Transfer-Encoding: chunked\r\n"));
	if (h->upgrade) {
		const struct http_header *up = http_header_find_id(&req->h, HTTP_F_UPGRADE);

		rc |= HTTP_CAT(o, HP("Connection: upgrade\r\nUpgrade: "), HV(up), HP("\r\n"));
	} else if (req->h.minor == 0) {
		rc |= HTTP_CAT(o, HP("Connection: keep-alive\r\n"));
	}
	return rc;
}

static int
http_request_head_build(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct http_request *req = &h->req;
	const struct conf_route *r = h->route;
	struct http_buf *o = &h->out;
	const struct conf_tls *tls = http_listener(c)->tls;
	const struct conf_geo *geo = http_listener(c)->geo;
	/* The certificate fields, the country's and Authorization. */
	char *drop[CONF_TLS_HDRS + 2] = { NULL };
	uint32_t skip = HTTP_F_BIT(HTTP_F_HOST) | HTTP_F_BIT(HTTP_F_EXPECT) |
	    HTTP_F_BIT(HTTP_F_X_FORWARDED_FOR) | HTTP_F_BIT(HTTP_F_X_FORWARDED_PROTO) |
	    HTTP_F_BIT(HTTP_F_X_FORWARDED_HOST) | HTTP_F_BIT(HTTP_F_VIA) |
	    HTTP_F_BIT(HTTP_F_FORWARDED);
	char minor = (char)('0' + req->h.minor);
	const struct conf_auth *auth;
	size_t ndrop = 0, i;
	int rc;

	o->start = o->end = 0;
	if (http_listener(c)->underscores == CONF_UNDERSCORES_DROP)
		skip |= HTTP_F_BIT(HTTP_F_UNDERSCORE);
	rc = HTTP_CAT(o, HS(req->method), HP(" "), HS(req->path), HP(" HTTP/1."),
	    ((struct http_piece){ &minor, 1 }), HP("\r\n"));
	if (r->host_rewrite != NULL)
		rc |= HTTP_CAT(o, HP("Host: "), HZ(r->host_rewrite), HP("\r\n"));
	else if (req->host.len > 0)
		rc |= HTTP_CAT(o, HP("Host: "), HS(req->host), HP("\r\n"));
	/*
	 * What the client sends under the names of the certificate fields,
	 * or of the country's, is not passed on: only cuttle sets those.
	 */
	/* Only names that are set: each costs a compare per field of every request. */
	for (i = 0; tls != NULL && i < CONF_TLS_HDRS; i++)
		if (tls->headers[i] != NULL)
			drop[ndrop++] = tls->headers[i];
	if (geo != NULL && geo->header != NULL)
		drop[ndrop++] = geo->header;
	/* Credentials checked here are the proxy's, not the origin's, unless it is told. */
	if ((auth = http_auth_of(c)) != NULL && !auth->pass_authorization)
		drop[ndrop++] = "Authorization";
	rc |= http_fields_copy(o, &req->h, &r->request_headers, skip, drop, ndrop);
	rc |= http_forwarding_add(c, o, req, &r->request_headers);
	if (tls != NULL)
		rc |= http_client_cert_add(c, o, tls);
	if (geo != NULL && geo->header != NULL && c->country[0] != '\0' &&
	    !http_ops_override(&r->request_headers, geo->header))
		rc |= HTTP_CAT(o, HZ(geo->header), HP(": "), ((struct http_piece){ c->country, 2 }),
		    HP("\r\n"));
	if (h->cache != NULL)
		rc |= http_cache_validators_add(c, o);
	rc |= http_request_framing_add(h, o);
	rc |= http_ops_add(o, &r->request_headers);
	rc |= http_buf_add(o, "\r\n", 2);
	h->out_to_client = 0;
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

/*
 * The head of a forward listener's request as its destination takes
 * it: origin-form, Host from the target's authority (RFC 9112 3.2.2:
 * the client's Host is replaced), the hop-by-hop fields dropped, which
 * take Proxy-Authorization and Proxy-Connection, and a Via field of its
 * own after the client's.  Nothing else is added: no X-Forwarded-For or
 * Forwarded, which would give every site the client's address.
 */
int
http_forward_head_build(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct http_request *req = &h->req;
	struct http_buf *o = &h->out;
	char minor = (char)('0' + req->h.minor);
	int rc;

	o->start = o->end = 0;
	rc = HTTP_CAT(o, HS(req->method), HP(" "), HS(req->path), HP(" HTTP/1."),
	    ((struct http_piece){ &minor, 1 }), HP("\r\nHost: "), HS(req->host), HP("\r\n"));
	rc |= http_fields_copy(o, &req->h, &h->route->request_headers,
	    HTTP_F_BIT(HTTP_F_HOST) | HTTP_F_BIT(HTTP_F_EXPECT), NULL, 0);
	rc |= HTTP_CAT(o, HP("Via: 1."), ((struct http_piece){ &minor, 1 }), HP(" cuttle\r\n"));
	rc |= http_request_framing_add(h, o);
	rc |= http_buf_add(o, "\r\n", 2);
	h->out_to_client = 0;
	return rc == CT_OK ? CT_OK : CT_ERROR;
}

/* ------------------------------------------------ the request head */

static const char http_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

/*
 * The access phase, then the upstream: builds the head to send and
 * connects.  Called again by a phase handler that parked the request.
 */
void
http_request_access(struct conn *c)
{
	/* A background revalidation stands for a request that passed it. */
	if (http_ctx_of(c)->cache_bg == NULL && http_access_run(c) != CT_OK)
		return;
	if (((struct http_ctx *)c->ctx)->route->cache != NULL && http_cache_request(c) != CT_OK)
		return;
	http_request_upstream(c);
}

void
http_request_upstream(struct conn *c)
{
	if (http_request_head_build(c) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	http_continue_start(c);
	http_upstream_start(c);
}

void
http_continue_start(struct conn *c)
{
	struct http_ctx *h = c->ctx;

	if (h->req.expect_continue && !h->body_done && h->req.h.minor == 1) {
		h->cont_left = sizeof(http_continue) - 1;
		/* Mostly all at once: the client waits for it before its body. */
		(void)http_continue_flush(c);
	}
}

const char *
http_continue_left(const struct conn *c, size_t *len)
{
	const struct http_ctx *h = c->ctx;

	*len = h->cont_left;
	return http_continue + sizeof(http_continue) - 1 - h->cont_left;
}

int
http_continue_flush(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	ssize_t n;

	while (h->cont_left > 0) {
		n = c->client.ops->write(&c->client,
		    http_continue + sizeof(http_continue) - 1 - h->cont_left, h->cont_left);
		if (n == CT_AGAIN)
			return CT_AGAIN;
		if (n < 0)
			h->cont_left = 0;
		else
			h->cont_left -= (unsigned)n;
	}
	return CT_OK;
}

/* The request head is complete in h->in: route it. */
static void
http_request_parsed(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	struct http_request *req = &h->req;
	size_t n;

	n = CT_MIN(req->method.len, sizeof(h->method) - 1);
	memcpy(h->method, req->method.p, n);
	h->method[n] = '\0';
	n = CT_MIN(req->target.len, sizeof(h->target) - 1);
	memcpy(h->target, req->target.p, n);
	h->target[n] = '\0';
	h->minor = req->h.minor;
	h->client_keepalive = req->h.keep_alive;
	h->in.start += req->h.head_len;
	h->body_end = h->in.start;
	h->body_left = req->h.framing == HTTP_BODY_LENGTH ? req->h.content_length : 0;
	h->body_done = req->h.framing == HTTP_BODY_NONE ||
	    (req->h.framing == HTTP_BODY_LENGTH && req->h.content_length == 0);
	http_chunked_init(&h->chunked);
	h->upgrade = req->h.conn_upgrade && req->h.has_upgrade;
	/* Body bytes may later be read over the head that the slices point into. */
	h->accepts_gzip = http_listener(c)->compress.enabled && http_accepts_gzip(&req->h);
	if (req->is_connect) {
		if (c->mode == &http_forward_mode)
			http_forward_connect(c);
		else
			http_error(c, 405, "CONNECT is served by mode forward, not mode http");
		return;
	}
	if (http_underscores_check(c) != CT_OK || http_route_path(c) != CT_OK)
		return;
	h->route = http_route_find(c, req, h->route_path);
	if (h->route == NULL) {
		/* A forward listener has no routes: its requests' targets route them. */
		if (c->mode == &http_forward_mode)
			http_forward_request(c);
		else
			http_error(c, 404, "no route matched");
		return;
	}
	http_request_access(c);
}

void
http_head_parse(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_listener *l = http_listener(c);
	struct http_limits lim;
	int rc;

	h->resume = 0;
	http_limits_default(&lim);
	lim.max_head = l->max_header_size;
	rc = http_parse_request_resume(h->in.p + h->in.start, h->in.end - h->in.start, &lim,
	    &h->req, &h->scan);
	if (rc == CT_AGAIN) {
		if (h->in.end - h->in.start >= l->max_header_size)
			http_error(c, 431, "request head larger than max_header_size");
		return;
	}
	if (rc != CT_OK) {
		/* What is known of the line goes to the log. */
		http_log_line_keep(h, &h->req);
		h->minor = 1;
		h->body_done = 0;
		http_error(c, h->req.h.status != 0 ? h->req.h.status : 400, h->req.h.error);
		return;
	}
	ev_timer_stop(c->w->loop, &c->timer);
	http_request_parsed(c);
}

/* H_HEAD / H_IDLE: read the client until a head parses. */
void
http_step_head(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	size_t cap = http_listener(c)->max_header_size + 4096, held = h->in.end - h->in.start;
	ssize_t n;

	/*
	 * Pipelined bytes wait for their turn (http_request_next()); and no
	 * more is read than a head may take beside what is already there.
	 */
	if (h->resume || held >= cap)
		return;
	n = http_read(&c->client, &h->in, NULL, cap - held);
	if (n == CT_AGAIN)
		return;
	if (n == CT_DONE || n == CT_ERROR) {
		if (h->state == H_IDLE || h->in.end == h->in.start) {
			h->status = 0;
			conn_close(c, n == CT_DONE ? "done" : "client reset");
		} else {
			http_client_gone(c, "client closed before its request was complete");
		}
		return;
	}
	c->from_client += (uint64_t)n;
	if (h->state == H_IDLE) {
		h->state = H_HEAD;
		h->t_start = http_now(c);
		http_timer_arm(c, http_listener(c)->header_timeout_ms);
	}
	http_head_parse(c);
}

/* Marks which bytes of h->in are request body, up to its end. */
int
http_body_scan(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf_listener *l = http_listener(c);
	size_t avail = h->in.end - h->body_end;
	long n;

	if (h->body_done || avail == 0)
		return CT_OK;
	if (h->req.h.framing == HTTP_BODY_LENGTH) {
		n = (long)CT_MIN((uint64_t)avail, h->body_left);
		h->body_left -= (uint64_t)n;
		h->body_done = h->body_left == 0;
	} else {
		n = http_chunked_scan(&h->chunked, h->in.p + h->body_end, avail);
		if (n < 0) {
			http_error(c, 400, h->chunked.error);
			return CT_ERROR;
		}
		h->body_done = h->chunked.done;
	}
	h->body_end += (size_t)n;
	h->body_total += (uint64_t)n;
	if (l->max_body_size > 0 && h->req.h.framing == HTTP_BODY_CHUNKED &&
	    h->chunked.data_total > l->max_body_size) {
		http_error(c, 413, "request body larger than max_body_size");
		return CT_ERROR;
	}
	return CT_OK;
}

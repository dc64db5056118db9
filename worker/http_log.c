/*
 * The log of a request: one line per request in the listener's access
 * log (text or JSON) and at info in the error log, and the request
 * counters in shm.  Written once, when the request ends however it
 * ends, so that a client that goes away is logged too (as 499).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/stats.h"
#include "worker/geo.h"
#include "worker/http_int.h"
#include "worker/logs.h"
#include "worker/tls.h"

static void
http_log_ms(char *buf, size_t len, uint64_t from, uint64_t to)
{
	if (from == 0 || to == 0 || to < from)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%llu.%03llus", (unsigned long long)((to - from) / 1000),
		    (unsigned long long)((to - from) % 1000));
}

void
http_log_escape(char *dst, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			o += (size_t)snprintf(dst + o, len - o, "\\u%04x", ch);
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = '\0';
}

/* A JSON number of ms between from and to, or null when either is unknown. */
static void
http_log_json_ms(char *buf, size_t len, uint64_t from, uint64_t to)
{
	if (from == 0 || to == 0 || to < from)
		snprintf(buf, len, "null");
	else
		snprintf(buf, len, "%llu", (unsigned long long)(to - from));
}

/*
 * The user field, on listeners with auth only: the name the client gave
 * (escaped: it is the client's text), whether or not it was accepted.
 */
static void
http_log_user(const struct conn *c, int json, char *buf, size_t len)
{
	const struct http_ctx *h = c->ctx;
	char name[HTTP_LOG_USER * 6 + 8];

	buf[0] = '\0';
	if (!http_listener(c)->auth_any)
		return;
	http_log_escape(name, sizeof(name), h->user);
	if (json)
		snprintf(buf, len, h->user[0] != '\0' ? ",\"user\":\"%s\"" : ",\"user\":null", name);
	else
		snprintf(buf, len, " user=\"%s\"", h->user[0] != '\0' ? name : "-");
}

static void
http_log_access(struct conn *c, const char *client, const char *server, uint64_t now)
{
	struct http_ctx *h = c->ctx;
	const struct conf_listener *l = http_listener(c);
	char target[HTTP_LOG_TARGET * 6 + 8], reason[256], line[2048];
	char tt[32], tc[32], th[32], tr[32], tls[640], user[HTTP_LOG_USER * 6 + 16], geo[32], rule[96];
	const char *when = logs_time_iso();
	int n, json = l->access_log.format == CONF_LOG_JSON;

	http_log_escape(target, sizeof(target), h->target);
	http_log_escape(reason, sizeof(reason), h->reason != NULL ? h->reason : "-");
	tls_log_fields(c, json, tls, sizeof(tls));
	http_log_user(c, json, user, sizeof(user));
	geo_log_field(c, json, geo, sizeof(geo));
	/* Rule names are [A-Za-z0-9_.-]: nothing to escape. */
	rule[0] = '\0';
	if (h->rule != NULL)
		snprintf(rule, sizeof(rule), json ? ",\"rule\":\"%s\"" : " rule=%s", h->rule->name);
	if (json) {
		http_log_json_ms(tc, sizeof(tc), h->t_start, h->t_connect);
		http_log_json_ms(th, sizeof(th), h->t_start, h->t_header);
		http_log_json_ms(tr, sizeof(tr), h->t_start, h->t_header != 0 ? now : 0);
		n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"client\":\"%s\","
		    "\"listener\":\"%s\",\"method\":\"%s\",\"target\":\"%s\",\"status\":%d,"
		    "\"bytes\":%llu,\"time_ms\":%llu,\"server\":%s%s%s,\"connect_ms\":%s,"
		    "\"header_ms\":%s,\"response_ms\":%s,\"reason\":%s%s%s%s%s%s%s}\n",
		    when, client, l->name, h->method, target, h->status,
		    (unsigned long long)h->bytes, (unsigned long long)(now - h->t_start),
		    server[0] == '-' ? "" : "\"", server[0] == '-' ? "null" : server,
		    server[0] == '-' ? "" : "\"", tc, th, tr,
		    h->reason != NULL ? "\"" : "", h->reason != NULL ? reason : "null",
		    h->reason != NULL ? "\"" : "", user, geo, rule, tls);
	} else {
		http_log_ms(tt, sizeof(tt), h->t_start, now);
		http_log_ms(tc, sizeof(tc), h->t_start, h->t_connect);
		http_log_ms(th, sizeof(th), h->t_start, h->t_header);
		http_log_ms(tr, sizeof(tr), h->t_start, h->t_header != 0 ? now : 0);
		n = snprintf(line, sizeof(line), "%s client=%s listener=%s method=%s "
		    "target=\"%s\" status=%d bytes=%llu time=%s server=%s connect=%s header=%s "
		    "response=%s reason=\"%s\"%s%s%s%s\n", when, client, l->name, h->method, target,
		    h->status, (unsigned long long)h->bytes, tt, server, tc, th, tr, reason, user, geo,
		    rule, tls);
	}
	if (n > 0 && (size_t)n < sizeof(line))
		logs_access_add(c->w, c->listener, line, (size_t)n);
}

/* One line per request, in the access log and at info in the error log. */
void
http_log_request(struct conn *c)
{
	struct http_ctx *h = c->ctx;
	const struct conf *conf = c->w->cy->conf;
	char client[ADDR_STRLEN], tt[32], target[HTTP_LOG_TARGET * 6 + 8];
	const char *server = "-";
	uint64_t now = http_now(c);
	int access = c->w->cy->listen[c->listener].access_fd != -1;
	struct shm_listener *ls;

	if (h->logged)
		return;
	h->logged = 1;
	c->to_client += h->bytes;
	conn_rec_bytes(c);
	if (h->status == 0)
		return;
	if ((ls = conn_listener_stats(c)) != NULL) {
		atomic_fetch_add_explicit(&ls->requests, 1, memory_order_relaxed);
		if (h->status >= 100 && h->status < 600)
			atomic_fetch_add_explicit(&ls->status[h->status / 100 - 1], 1,
			    memory_order_relaxed);
		shm_hist_add(&ls->duration, (now - h->t_start) * 1000);
	}
	if (!access && !log_enabled(LOG_LVL_INFO))
		return;
	/* A server was tried only for a routed request; a destination is named as asked. */
	if (c->server_idx != -1 && c->upstream != UPSTREAM_DEST)
		server = conf->upstreams[c->upstream].servers[c->server_idx].address;
	else if (h->route == &http_forward_route && c->mode->upstream_dest(c)->name[0] != '\0')
		server = c->mode->upstream_dest(c)->name;
	addr_format(&c->peer.sa, client, sizeof(client));
	if (access)
		http_log_access(c, client, server, now);
	if (!log_enabled(LOG_LVL_INFO))
		return;
	http_log_escape(target, sizeof(target), h->target);
	http_log_ms(tt, sizeof(tt), h->t_start, now);
	log_info("http client=%s listener=%s request=\"%s %s HTTP/1.%d\" status=%d bytes=%llu "
	    "server=%s time=%s%s%s%s", client, http_listener(c)->name, h->method, target,
	    h->minor, h->status, (unsigned long long)h->bytes, server, tt,
	    h->reason != NULL ? " reason=\"" : "", h->reason != NULL ? h->reason : "",
	    h->reason != NULL ? "\"" : "");
}

/* Keeps method and target for the log, or "-" where the line was not valid. */
void
http_log_line_keep(struct http_ctx *h, const struct http_request *req)
{
	size_t n;

	snprintf(h->method, sizeof(h->method), "-");
	snprintf(h->target, sizeof(h->target), "-");
	if (req->method.len > 0 && req->target.len > 0) {
		n = CT_MIN(req->method.len, sizeof(h->method) - 1);
		memcpy(h->method, req->method.p, n);
		h->method[n] = '\0';
		n = CT_MIN(req->target.len, sizeof(h->target) - 1);
		memcpy(h->target, req->target.p, n);
		h->target[n] = '\0';
	}
}

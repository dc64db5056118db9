/*
 * cuttlectl: the control tool of cuttle, a client of the admin API.
 *
 * Each command is one HTTP/1.1 request over the admin unix socket, with
 * "Connection: close": connect, write the request, read to EOF, parse
 * the head with http_parse_response and the body as JSON.  Everything is
 * bounded: one deadline of CTL_TIMEOUT_MS covers connect, write and
 * read, and a response larger than CTL_RESPONSE_MAX is refused.  No
 * retries: a failed request is reported once and the tool exits 1 (but
 * "top" shows the error and tries again at the next refresh).  SIGPIPE
 * is ignored: a connection that the admin process closed, or an output
 * that nobody reads any more, is an error with a message, not a silent
 * death.
 *
 * "cert" is the exception: it makes and shows TLS certificates, needs
 * no socket, and is in ctl/cert.c.
 *
 * Exit status: 0 success, 1 failure, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/ct.h"
#include "lib/http_parse.h"
#include "ctl/cert.h"
#include "shm/events.h"

#define CTL_SOCKET_DEFAULT "/run/cuttle/admin.sock"
#define CTL_SOCKET_ENV     "CUTTLE_ADMIN_SOCKET"
#define CTL_RESPONSE_MAX   (16u * 1024 * 1024)
#define CTL_TIMEOUT_MS     5000
#define CTL_TOP_ROWS_MIN   24
#define CTL_TOP_COLS_MIN   80
#define CTL_TOP_TRACK_MAX  1024       /* counters whose previous value "top" keeps */
#define CTL_PROBER_LEN     192        /* "this node (NAME)" for a node name of 128 bytes */

#define CTL_ARGS_ANY   (-2)

#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1
#define CTL_EXIT_USAGE 2

struct ctl_opts {
	const char *socket;
	int json;
};

/* One answer of the API.  json is NULL when the body is not JSON. */
struct ctl_response {
	int code;
	char *raw;                    /* head and body as read */
	size_t raw_len;
	json_t *json;
	char err[512];                /* why the request failed, when it did */
};

struct ctl_command {
	const char *name;
	int nargs;                    /* arguments after the command name; -1:
	                                 any, options included, the command
	                                 parses them; CTL_ARGS_ANY: any,
	                                 after the global options */
	int (*run)(const struct ctl_opts *, char **);
};

/* ------------------------------------------------------------------ */
/* Messages */

static void
ctl_usage(FILE *out)
{
	fprintf(out,
	    "usage: cuttlectl [-h] [--json] [-s socket] command [args]\n"
	    "commands:\n"
	    "  status                       master, generation, workers and listeners\n"
	    "  upstreams                    servers of every upstream and their counters\n"
	    "  enable|disable|drain UPSTREAM ADDRESS\n"
	    "                               change the admin state of a server\n"
	    "  reload                       ask the master to reload its configuration\n"
	    "  conns                        the client connections open now\n"
	    "  limits                       each limit's decisions and busiest keys\n"
	    "  cache                        the cache zones and their counters\n"
	    "  cluster                      the nodes of the cluster and the journal\n"
	    "  purge URL [--zone NAME]      remove a URL's objects from a zone, or from every one\n"
	    "  purge --prefix URL [--zone NAME]\n"
	    "                               ... of every URL that begins with URL\n"
	    "  purge --zone NAME --all      ... every object of a zone\n"
	    "  kill ID                      close the client connection ID\n"
	    "  approve|deny ADDR|CIDR [--listener L] [--to HOST[:PORT]] [--for DURATION]\n"
	    "               [--note TEXT] [--by NAME]\n"
	    "                               let a client or network in, or keep it out\n"
	    "  decisions                    the approval decisions in force\n"
	    "  revoke ADDR|CIDR [--listener L] [--to HOST[:PORT]]\n"
	    "                               take a decision back\n"
	    "  pending                      the clients waiting for a decision\n"
	    "  top                          live view of the listeners and servers (q quits)\n"
	    "  events [KIND...]             follow the events as they happen, one line each\n"
	    "  cert gen|show ...            make or show TLS certificates (cuttlectl cert -h)\n"
	    "options:\n"
	    "  -s socket  admin socket (default $" CTL_SOCKET_ENV " or " CTL_SOCKET_DEFAULT ")\n"
	    "  -j, --json print the API's JSON\n"
	    "  -h         print this help and exit\n");
}

static void ctl_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "cuttlectl: MESSAGE" on stderr. */
static void
ctl_errx(const char *fmt, ...)
{
	va_list ap;

	fputs("cuttlectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* HTTP over the unix socket */

static int64_t
ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; CT_ERROR on timeout. */
static int
ctl_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - ctl_now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return CT_ERROR;
		}
		n = poll(&p, 1, (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return CT_ERROR;
		if (n == 0) {
			errno = ETIMEDOUT;
			return CT_ERROR;
		}
		return CT_OK;
	}
}

/* A connected non-blocking stream socket to path, or -1 (r->err set). */
static int
ctl_connect(const char *path, int64_t deadline, struct ctl_response *r)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd, soerr;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(r->err, sizeof(r->err), "%s: socket path too long", path);
		return -1;
	}
	strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(r->err, sizeof(r->err), "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		/* On a unix socket, EAGAIN is a full accept queue, not a connect under way. */
		if (errno == EAGAIN) {
			snprintf(r->err, sizeof(r->err), "%s: connect: the admin process "
			    "accepts no more connections now (its queue is full)", path);
			close(fd);
			return -1;
		}
		if (errno != EINPROGRESS)
			goto fail;
		if (ctl_wait(fd, POLLOUT, deadline) == CT_ERROR)
			goto fail;
		len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	return fd;
fail:
	snprintf(r->err, sizeof(r->err), "%s: connect: %s", path, strerror(errno));
	close(fd);
	return -1;
}

static int
ctl_write_all(int fd, const char *p, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return CT_ERROR;
			if (ctl_wait(fd, POLLOUT, deadline) == CT_ERROR)
				return CT_ERROR;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return CT_OK;
}

/* Reads until EOF into r->raw, at most CTL_RESPONSE_MAX bytes. */
static int
ctl_read_all(int fd, int64_t deadline, struct ctl_response *r)
{
	size_t cap = 0;
	ssize_t n;
	char *p;

	for (;;) {
		if (r->raw_len == cap) {
			if (cap == CTL_RESPONSE_MAX + 1) {
				snprintf(r->err, sizeof(r->err),
				    "response larger than %u bytes", CTL_RESPONSE_MAX);
				return CT_ERROR;
			}
			cap = cap == 0 ? 16384 : CT_MIN(cap * 2, (size_t)CTL_RESPONSE_MAX + 1);
			if ((p = realloc(r->raw, cap + 1)) == NULL) {
				snprintf(r->err, sizeof(r->err), "out of memory");
				return CT_ERROR;
			}
			r->raw = p;
		}
		n = read(fd, r->raw + r->raw_len, cap - r->raw_len);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && ctl_wait(fd, POLLIN, deadline) == CT_OK)
				continue;
			if (errno == ECONNRESET)
				snprintf(r->err, sizeof(r->err), "the admin process closed the "
				    "connection without answering (connection reset)");
			else
				snprintf(r->err, sizeof(r->err), "read: %s", strerror(errno));
			return CT_ERROR;
		}
		r->raw_len += (size_t)n;
	}
	if (r->raw_len > CTL_RESPONSE_MAX) {
		snprintf(r->err, sizeof(r->err), "response larger than %u bytes",
		    CTL_RESPONSE_MAX);
		return CT_ERROR;
	}
	if (r->raw != NULL)
		r->raw[r->raw_len] = '\0';
	return CT_OK;
}

/*
 * Parses r->raw: the head, then the body by its framing, then the body
 * as JSON if it is.  An HTTP error status is a failure whose message is
 * the API's {"error": ...}, or the status line when there is none.
 */
static int
ctl_response_parse(struct ctl_response *r)
{
	struct http_limits lim;
	struct http_response resp;
	struct http_chunked ch;
	json_error_t jerr;
	const char *msg;
	char *body;
	size_t blen;
	long used;

	http_limits_default(&lim);
	if (r->raw_len == 0) {
		snprintf(r->err, sizeof(r->err), "the admin process closed the connection "
		    "without answering (it may be restarting, or have no free connection slot)");
		return CT_ERROR;
	}
	if (http_parse_response(r->raw, r->raw_len, &lim, 0, &resp) != CT_OK) {
		snprintf(r->err, sizeof(r->err), "invalid or incomplete response from the admin socket");
		return CT_ERROR;
	}
	r->code = resp.code;
	body = r->raw + resp.h.head_len;
	blen = r->raw_len - resp.h.head_len;
	if (resp.h.framing == HTTP_BODY_NONE) {
		blen = 0;
	} else if (resp.h.framing == HTTP_BODY_LENGTH) {
		if (blen < resp.h.content_length) {
			snprintf(r->err, sizeof(r->err), "truncated response body");
			return CT_ERROR;
		}
		blen = (size_t)resp.h.content_length;
	} else if (resp.h.framing == HTTP_BODY_CHUNKED) {
		http_chunked_init(&ch);
		used = http_chunked_decode(&ch, body, blen, &blen);
		if (used == CT_ERROR || !ch.done) {
			snprintf(r->err, sizeof(r->err), "bad chunked response body");
			return CT_ERROR;
		}
	}
	r->json = json_loadb(body, blen, 0, &jerr);
	if (r->code >= 200 && r->code < 300)
		return CT_OK;
	msg = r->json != NULL ? json_string_value(json_object_get(r->json, "error")) : NULL;
	if (msg != NULL)
		snprintf(r->err, sizeof(r->err), "%s", msg);
	else
		snprintf(r->err, sizeof(r->err), "HTTP %d %.*s", r->code,
		    (int)resp.reason.len, resp.reason.p);
	return CT_ERROR;
}

static void
ctl_response_free(struct ctl_response *r)
{
	free(r->raw);
	if (r->json != NULL)
		json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/*
 * One request: method and path (already encoded) to the admin socket,
 * with body (JSON, NULL: none).  CT_OK with a 2xx answer whose body is
 * JSON; else CT_ERROR with r->err.  The caller frees r either way.
 */
static int
ctl_request_body(const struct ctl_opts *o, const char *method, const char *path,
    const char *body, struct ctl_response *r)
{
	int64_t deadline = ctl_now_ms() + CTL_TIMEOUT_MS;
	char req[8192], clen[96];
	size_t blen = body != NULL ? strlen(body) : 0;
	int fd, n, rc;

	memset(r, 0, sizeof(*r));
	clen[0] = '\0';
	if (body != NULL)
		snprintf(clen, sizeof(clen), "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n", blen);
	else if (strcmp(method, "POST") == 0)
		snprintf(clen, sizeof(clen), "Content-Length: 0\r\n");
	n = snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: cuttlectl/" CT_VERSION
	    "\r\nAccept: application/json\r\n%sConnection: close\r\n\r\n%s",
	    method, path, clen, body != NULL ? body : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(r->err, sizeof(r->err), "request too long");
		return CT_ERROR;
	}
	if ((fd = ctl_connect(o->socket, deadline, r)) == -1)
		return CT_ERROR;
	if (ctl_write_all(fd, req, (size_t)n, deadline) == CT_ERROR) {
		if (errno == EPIPE || errno == ECONNRESET)
			snprintf(r->err, sizeof(r->err), "%s: the admin process closed the "
			    "connection before taking the request", o->socket);
		else
			snprintf(r->err, sizeof(r->err), "%s: write: %s", o->socket, strerror(errno));
		close(fd);
		return CT_ERROR;
	}
	rc = ctl_read_all(fd, deadline, r);
	close(fd);
	if (rc == CT_ERROR)
		return CT_ERROR;
	if (ctl_response_parse(r) == CT_ERROR)
		return CT_ERROR;
	if (r->json == NULL) {
		snprintf(r->err, sizeof(r->err), "the admin API answered %s %s without JSON",
		    method, path);
		return CT_ERROR;
	}
	return CT_OK;
}

static int
ctl_request(const struct ctl_opts *o, const char *method, const char *path,
    struct ctl_response *r)
{
	return ctl_request_body(o, method, path, NULL, r);
}

/*
 * Appends s to out percent-encoded as one path segment: unreserved
 * characters and ':' stay, everything else (notably '[', ']', '/') is
 * encoded.
 */
static int
ctl_path_append(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(out);
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (len + 4 > size)
			return CT_ERROR;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~:", c) != NULL) {
			out[len++] = (char)c;
		} else {
			out[len++] = '%';
			out[len++] = hex[c >> 4];
			out[len++] = hex[c & 15];
		}
	}
	out[len] = '\0';
	return CT_OK;
}

/* ------------------------------------------------------------------ */
/* JSON helpers */

/* The string at key, or dflt when it is missing or not a string. */
static const char *
ctl_json_str(const json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : dflt;
}

/* The number at key, or 0; integers are taken whole, not through a double. */
static long long
ctl_json_int(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	return json_is_number(v) ? (long long)json_number_value(v) : 0;
}

/* "0.8ms", or "-" when the value is null or missing. */
static const char *
ctl_json_ms(const json_t *obj, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_number(v))
		return "-";
	snprintf(buf, size, "%.1fms", json_number_value(v));
	return buf;
}

static void
ctl_json_print(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
}

/* "3d04h", "1h02m", "2m05s", "42s". */
static void
ctl_duration(long long s, char *buf, size_t size)
{
	if (s >= 86400)
		snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, size, "%llds", s);
}

/* ------------------------------------------------------------------ */
/* Commands */

/* GET path; on success prints the JSON with --json, or hands it back. */
static int
ctl_get(const struct ctl_opts *o, const char *path, struct ctl_response *r)
{
	if (ctl_request(o, "GET", path, r) == CT_ERROR) {
		ctl_errx("%s", r->err);
		return CT_ERROR;
	}
	if (o->json)
		ctl_json_print(r->json);
	return CT_OK;
}

/* Who runs an upstream's active checks ("probe" of the API), in words, into buf. */
static const char *
ctl_prober(const json_t *p, char *buf, size_t len)
{
	const char *by = ctl_json_str(p, "by", "-"), *node = ctl_json_str(p, "node", "-");

	if (strcmp(by, "self") == 0)
		snprintf(buf, len, "this node (%s)", node);
	else if (strcmp(by, "peer") == 0)
		snprintf(buf, len, "node %s", node);
	else if (strcmp(by, "fallback") == 0)
		snprintf(buf, len, "every node (no lease from Redis)");
	else
		snprintf(buf, len, "every node");
	return buf;
}

/* "checks  web by node b" for each upstream with active checks. */
static void
ctl_status_probes(json_t *probes)
{
	char by[CTL_PROBER_LEN];
	const char *name;
	json_t *p;

	json_object_foreach(probes, name, p)
		printf("checks      %s by %s\n", name, ctl_prober(p, by, sizeof(by)));
}

/* "redis  up (127.0.0.1:6379) for 5m", or down and why; nothing standalone. */
static void
ctl_status_redis(const json_t *r)
{
	long long since;
	char ago[32];

	if (!json_is_object(r))
		return;
	since = ctl_json_int(r, "since");
	ctl_duration(since > 0 ? (long long)time(NULL) - since : 0, ago, sizeof(ago));
	if (json_is_true(json_object_get(r, "up")))
		printf("redis       up (%s) for %s, node %s\n", ctl_json_str(r, "server", "-"), ago,
		    ctl_json_str(r, "node", "-"));
	else if (since > 0)
		printf("redis       %s (%s) for %s\n", ctl_json_str(r, "state", "-"),
		    ctl_json_str(r, "reason", "-"), ago);
	else
		printf("redis       %s\n", ctl_json_str(r, "state", "-"));
	ctl_status_probes(json_object_get(r, "probes"));
}

static int
ctl_cmd_status(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	json_t *j, *a, *v;
	char up[32];
	size_t i;

	(void)argv;
	if (ctl_get(o, "/api/v1/status", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		j = r.json;
		ctl_duration(ctl_json_int(j, "uptime_s"), up, sizeof(up));
		printf("version     %s\n", ctl_json_str(j, "version", "-"));
		printf("master pid  %lld\n", ctl_json_int(j, "pid"));
		printf("uptime      %s (%llds)\n", up, ctl_json_int(j, "uptime_s"));
		printf("generation  %lld\n", ctl_json_int(j, "generation"));
		a = json_object_get(j, "workers");
		printf("workers     %zu\n", json_array_size(a));
		if (json_array_size(a) > 0)
			printf("  %-6s %s\n", "SLOT", "PID");
		json_array_foreach(a, i, v)
			printf("  %-6lld %lld\n", ctl_json_int(v, "slot"), ctl_json_int(v, "pid"));
		a = json_object_get(j, "listeners");
		printf("listeners   %zu\n", json_array_size(a));
		if (json_array_size(a) > 0)
			printf("  %-16s %-24s %s\n", "NAME", "LISTEN", "MODE");
		json_array_foreach(a, i, v)
			printf("  %-16s %-24s %s\n", ctl_json_str(v, "name", "-"),
			    ctl_json_str(v, "listen", "-"), ctl_json_str(v, "mode", "-"));
		ctl_status_redis(json_object_get(j, "redis"));
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

/*
 * A server's max_conns: "-" without one, the limit, or for a limit
 * counted across the cluster what this node may hold of it now, "4/10".
 */
static const char *
ctl_max_conns(const json_t *s, char *buf, size_t size)
{
	const json_t *mc = json_object_get(s, "max_conns");

	if (!json_is_object(mc))
		return "-";
	if (strcmp(ctl_json_str(mc, "scope", "node"), "cluster") == 0)
		snprintf(buf, size, "%lld/%lld", ctl_json_int(mc, "node_limit"),
		    ctl_json_int(mc, "limit"));
	else
		snprintf(buf, size, "%lld", ctl_json_int(mc, "limit"));
	return buf;
}

/* The table of one upstream's servers, for "upstreams". */
static void
ctl_upstream_print(const json_t *u)
{
	json_t *servers = json_object_get(u, "servers"), *s;
	int w = (int)strlen("SERVER"), len;
	const json_t *probe = json_object_get(u, "probe");
	char lat[32], max[32], by[CTL_PROBER_LEN];
	size_t i;

	json_array_foreach(servers, i, s) {
		len = (int)strlen(ctl_json_str(s, "address", "-"));
		w = CT_MAX(w, len);
	}
	if (json_is_object(probe))
		printf("upstream %s (%s, checked by %s)\n", ctl_json_str(u, "name", "-"),
		    ctl_json_str(u, "balance", "-"), ctl_prober(probe, by, sizeof(by)));
	else
		printf("upstream %s (%s)\n", ctl_json_str(u, "name", "-"),
		    ctl_json_str(u, "balance", "-"));
	printf("  %-*s %6s %-8s %-6s %6s %11s %10s %6s %9s %s\n", w, "SERVER", "WEIGHT",
	    "ADMIN", "HEALTH", "ACTIVE", "MAXCONN", "TOTAL", "FAILS", "LATENCY", "REASON");
	json_array_foreach(servers, i, s) {
		printf("  %-*s %6lld %-8s %-6s %6lld %11s %10lld %6lld %9s %s\n", w,
		    ctl_json_str(s, "address", "-"), ctl_json_int(s, "weight"),
		    ctl_json_str(s, "admin", "-"), ctl_json_str(s, "health", "-"),
		    ctl_json_int(s, "active"), ctl_max_conns(s, max, sizeof(max)),
		    ctl_json_int(s, "total"),
		    ctl_json_int(s, "failures"),
		    ctl_json_ms(s, "latency_ms", lat, sizeof(lat)),
		    ctl_json_str(s, "reason", "-"));
	}
}

static int
ctl_cmd_upstreams(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	json_t *u;
	size_t i;

	(void)argv;
	if (ctl_get(o, "/api/v1/upstreams", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		json_array_foreach(json_object_get(r.json, "upstreams"), i, u) {
			if (i > 0)
				putchar('\n');
			ctl_upstream_print(u);
		}
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

/* enable, disable, drain: argv is {command, UPSTREAM, ADDRESS}. */
static int
ctl_cmd_server(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	char path[1024] = "/api/v1/upstreams/";
	int rc = CTL_EXIT_OK;

	if (ctl_path_append(path, sizeof(path), argv[1]) == CT_ERROR ||
	    ctl_path_append(path, sizeof(path), "") == CT_ERROR ||
	    strlen(path) + sizeof("/servers/") > sizeof(path)) {
		ctl_errx("upstream name too long");
		return CTL_EXIT_FAIL;
	}
	strcat(path, "/servers/");
	if (ctl_path_append(path, sizeof(path), argv[2]) == CT_ERROR ||
	    strlen(path) + strlen(argv[0]) + 2 > sizeof(path)) {
		ctl_errx("server address too long");
		return CTL_EXIT_FAIL;
	}
	strcat(path, "/");
	strcat(path, argv[0]);
	if (ctl_request(o, "POST", path, &r) == CT_ERROR) {
		ctl_errx("%s", r.err);
		rc = CTL_EXIT_FAIL;
	} else if (o->json) {
		ctl_json_print(r.json);
	} else {
		printf("upstream %s server %s: %s\n",
		    ctl_json_str(r.json, "upstream", argv[1]),
		    ctl_json_str(r.json, "server", argv[2]),
		    ctl_json_str(r.json, "admin", argv[0]));
	}
	ctl_response_free(&r);
	return rc;
}

static int
ctl_cmd_reload(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	int rc = CTL_EXIT_OK;

	(void)argv;
	/* The master answers when the reload is done or has failed, and why. */
	if (ctl_request(o, "POST", "/api/v1/reload", &r) == CT_ERROR) {
		if (o->json && r.json != NULL)
			ctl_json_print(r.json);
		ctl_errx("%s", r.err);
		rc = CTL_EXIT_FAIL;
	} else if (o->json) {
		ctl_json_print(r.json);
	} else {
		printf("reload done: generation %lld\n", ctl_json_int(r.json, "generation"));
	}
	ctl_response_free(&r);
	return rc;
}

/* The width of the widest value at key among the objects of a, at least min. */
static int
ctl_json_width(const json_t *a, const char *key, int min)
{
	char num[32];
	size_t i;
	json_t *v;
	int w = min, len;

	json_array_foreach(a, i, v) {
		if (json_is_integer(json_object_get(v, key)))
			len = snprintf(num, sizeof(num), "%lld", ctl_json_int(v, key));
		else
			len = (int)strlen(ctl_json_str(v, key, "-"));
		w = CT_MAX(w, len);
	}
	return w;
}

static int
ctl_cmd_conns(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	json_t *a, *c;
	char age[32];
	int wi, wl, wc, ws, wn, wo;
	size_t i;

	(void)argv;
	if (ctl_get(o, "/api/v1/connections", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		a = json_object_get(r.json, "connections");
		/* A forward or socks client's server is the destination it named. */
		json_array_foreach(a, i, c)
			if (!json_is_string(json_object_get(c, "server")) &&
			    json_is_string(json_object_get(c, "destination")))
				(void)json_object_set(c, "server", json_object_get(c, "destination"));
		wi = ctl_json_width(a, "id", (int)strlen("ID"));
		wl = ctl_json_width(a, "listener", (int)strlen("LISTENER"));
		wc = ctl_json_width(a, "client", (int)strlen("CLIENT"));
		ws = ctl_json_width(a, "server", (int)strlen("SERVER"));
		wn = ctl_json_width(a, "from_client", (int)strlen("IN"));
		wo = ctl_json_width(a, "to_client", (int)strlen("OUT"));
		printf("%-*s %6s %-*s %-*s %-*s %-7s %6s %*s %*s\n", wi, "ID", "WORKER", wl,
		    "LISTENER", wc, "CLIENT", ws, "SERVER", "TLS", "AGE", wn, "IN", wo, "OUT");
		json_array_foreach(a, i, c) {
			ctl_duration(ctl_json_int(c, "age_ms") / 1000, age, sizeof(age));
			printf("%-*lld %6lld %-*s %-*s %-*s %-7s %6s %*lld %*lld\n",
			    wi, ctl_json_int(c, "id"), ctl_json_int(c, "worker"),
			    wl, ctl_json_str(c, "listener", "-"), wc, ctl_json_str(c, "client", "-"),
			    ws, ctl_json_str(c, "server", "-"),
			    ctl_json_str(json_object_get(c, "tls"), "version", "-"), age,
			    wn, ctl_json_int(c, "from_client"), wo, ctl_json_int(c, "to_client"));
		}
		/* The API lists the oldest first: say what was left out. */
		if (json_is_true(json_object_get(r.json, "truncated")))
			printf("(the oldest %zu of %lld connections)\n", json_array_size(a),
			    ctl_json_int(r.json, "total"));
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

/* kill ID: the id must be a plain decimal number, as the API takes it. */
static int
ctl_cmd_kill(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	char path[64];
	uint64_t id = 0;
	const char *p;
	unsigned d;
	int rc = CTL_EXIT_OK;

	for (p = argv[1]; *p >= '0' && *p <= '9'; p++) {
		d = (unsigned)(*p - '0');
		if (id > (UINT64_MAX - d) / 10)
			break;
		id = id * 10 + d;
	}
	if (*p != '\0' || p == argv[1]) {
		ctl_errx("kill: invalid connection id \"%s\": use an ID that conns shows",
		    argv[1]);
		return CTL_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/api/v1/connections/%" PRIu64, id);
	if (ctl_request(o, "DELETE", path, &r) == CT_ERROR) {
		ctl_errx("kill %" PRIu64 ": %s", id, r.err);
		rc = CTL_EXIT_FAIL;
	} else if (o->json) {
		ctl_json_print(r.json);
	} else {
		printf("connection %" PRIu64 " killed\n", id);
	}
	ctl_response_free(&r);
	return rc;
}

/* ------------------------------------------------------------------ */
/* top: a full-screen view with plain ANSI escapes (no curses) */

/* Set by signal handlers only; the loop acts on them. */
static volatile sig_atomic_t ctl_top_quit;
static volatile sig_atomic_t ctl_top_resized;

struct ctl_top_prev {
	char key[320];                /* what was counted, e.g. "server UPSTREAM ADDRESS" */
	long long total;
};

struct ctl_top {
	const struct ctl_opts *o;
	struct termios saved;
	int tty;                      /* stdin is a terminal, and saved is valid */
	int rows, cols;
	struct ctl_top_prev prev[CTL_TOP_TRACK_MAX];
	size_t nprev;
	int64_t prev_ms;              /* when prev was taken; 0 before the first */
	struct ctl_top_prev next[CTL_TOP_TRACK_MAX];  /* this refresh's, prev at the next */
	size_t nnext;
	char *frame;                  /* the screen being built */
	size_t len, cap;
	int line;                     /* lines in frame so far */
};

static void
ctl_top_signal(int signo)
{
	if (signo == SIGWINCH)
		ctl_top_resized = 1;
	else
		ctl_top_quit = 1;
}

static void
ctl_top_size(struct ctl_top *t)
{
	struct winsize ws;

	t->rows = CTL_TOP_ROWS_MIN;
	t->cols = CTL_TOP_COLS_MIN;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		t->rows = ws.ws_row;
		t->cols = ws.ws_col;
	}
}

/* Appends one screen line, cut to the width; lines past the height are dropped. */
static void ctl_top_line(struct ctl_top *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ctl_top_line(struct ctl_top *t, const char *fmt, ...)
{
	char buf[1024];
	int shown, esc;
	size_t n, i;
	va_list ap;
	char *p;

	if (t->line >= t->rows)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strlen(buf);
	if (t->len + n + 8 > t->cap) {
		t->cap = (t->len + n + 8) * 2;
		if ((p = realloc(t->frame, t->cap)) == NULL)
			return;
		t->frame = p;
	}
	/* No newline after the last row, or the terminal would scroll. */
	if (t->line > 0) {
		memcpy(t->frame + t->len, "\r\n", 2);
		t->len += 2;
	}
	/* Cut to the width, counting only what shows: escapes are kept. */
	for (i = 0, shown = 0, esc = 0; i < n; i++) {
		if (buf[i] == '\033')
			esc = 1;
		if (esc || shown < t->cols)
			t->frame[t->len++] = buf[i];
		if (!esc)
			shown++;
		else if (buf[i] >= '@' && buf[i] <= '~' && buf[i] != '[')
			esc = 0;
	}
	memcpy(t->frame + t->len, "\033[K", 3);
	t->len += 3;
	t->line++;
}

/*
 * Per second since the previous refresh of the counter named key, or -1
 * without one; total is kept for the next refresh.
 */
static double
ctl_top_rate(struct ctl_top *t, const char *key, long long total, int64_t now)
{
	double rate = -1;
	size_t i;

	for (i = 0; i < t->nprev; i++) {
		if (strcmp(t->prev[i].key, key) == 0 && t->prev_ms > 0 && now > t->prev_ms) {
			if (total >= t->prev[i].total)
				rate = (double)(total - t->prev[i].total) * 1000 / (double)(now - t->prev_ms);
			break;
		}
	}
	if (t->nnext < CTL_TOP_TRACK_MAX) {
		snprintf(t->next[t->nnext].key, sizeof(t->next[0].key), "%s", key);
		t->next[t->nnext].total = total;
		t->nnext++;
	}
	return rate;
}

/* "12.5", or "-" for no rate. */
static const char *
ctl_top_rate_str(double rate, char *buf, size_t size)
{
	if (rate < 0)
		return "-";
	snprintf(buf, size, "%.1f", rate);
	return buf;
}

/*
 * Whether a list may take one more line (left lines still wanted) when
 * its last row is last; when it may not, that row says how many are
 * missing.
 */
static int
ctl_top_room(struct ctl_top *t, size_t left, int last)
{
	if (t->line < last || (t->line == last && left == 1))
		return 1;
	if (t->line == last)
		ctl_top_line(t, "  ... %zu more", left);
	return 0;
}

/* The listeners, with their rates; they take at most a third of the screen. */
static void
ctl_top_listeners(struct ctl_top *t, const json_t *ls, int64_t now)
{
	int last = t->line + CT_MAX(t->rows / 3, 2) - 1;
	size_t i, left = json_array_size(ls);
	char key[320], cps[32], rps[32];
	const char *name;
	double rc, rr;
	json_t *l;

	json_array_foreach(ls, i, l) {
		name = ctl_json_str(l, "name", "-");
		snprintf(key, sizeof(key), "listener %s", name);
		rc = ctl_top_rate(t, key, ctl_json_int(l, "accepted"), now);
		snprintf(key, sizeof(key), "requests %s", name);
		rr = ctl_top_rate(t, key, ctl_json_int(l, "requests"), now);
		if (!ctl_top_room(t, left--, last))
			continue;
		ctl_top_line(t, "  %-21s %-8s %6lld %8lld %7s %9lld %7s", name,
		    ctl_json_str(l, "mode", "-"), ctl_json_int(l, "active"),
		    ctl_json_int(l, "accepted"), ctl_top_rate_str(rc, cps, sizeof(cps)),
		    ctl_json_int(l, "requests"), ctl_top_rate_str(rr, rps, sizeof(rps)));
	}
}

/* The lines of the upstreams and their servers, with rates. */
static void
ctl_top_servers(struct ctl_top *t, const json_t *ups, int64_t now)
{
	size_t i, k, left = 0;
	const char *name, *addr;
	json_t *u, *s;
	char key[320], lat[32], rate[32];
	double cps;

	json_array_foreach(ups, i, u)
		left += 1 + json_array_size(json_object_get(u, "servers"));
	json_array_foreach(ups, i, u) {
		name = ctl_json_str(u, "name", "-");
		if (ctl_top_room(t, left--, t->rows - 2))
			ctl_top_line(t, "\033[1m%s\033[0m (%s)", name,
			    ctl_json_str(u, "balance", "-"));
		json_array_foreach(json_object_get(u, "servers"), k, s) {
			addr = ctl_json_str(s, "address", "-");
			snprintf(key, sizeof(key), "server %s %s", name, addr);
			cps = ctl_top_rate(t, key, ctl_json_int(s, "total"), now);
			if (!ctl_top_room(t, left--, t->rows - 2))
				continue;
			ctl_top_line(t, "  %-21s %-8s %-6s %6lld %8lld %7s %5lld %8s",
			    addr, ctl_json_str(s, "admin", "-"),
			    ctl_json_str(s, "health", "-"), ctl_json_int(s, "active"),
			    ctl_json_int(s, "total"), ctl_top_rate_str(cps, rate, sizeof(rate)),
			    ctl_json_int(s, "failures"),
			    ctl_json_ms(s, "latency_ms", lat, sizeof(lat)));
		}
	}
}

/* Builds and writes one screen. */
static void
ctl_top_draw(struct ctl_top *t)
{
	struct ctl_response st, up;
	char upt[32], clock[16];
	int64_t now = ctl_now_ms();
	time_t wall = time(NULL);
	struct tm tm;
	int ok_st, ok_up;

	ok_st = ctl_request(t->o, "GET", "/api/v1/status", &st);
	ok_up = ctl_request(t->o, "GET", "/api/v1/upstreams", &up);
	localtime_r(&wall, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	t->len = 0;
	t->line = 0;
	if (ok_st == CT_OK) {
		ctl_duration(ctl_json_int(st.json, "uptime_s"), upt, sizeof(upt));
		ctl_top_line(t, "cuttle %s  pid %lld  up %s  generation %lld  workers %zu  %s",
		    ctl_json_str(st.json, "version", "-"), ctl_json_int(st.json, "pid"),
		    upt, ctl_json_int(st.json, "generation"),
		    json_array_size(json_object_get(st.json, "workers")), clock);
	} else {
		ctl_top_line(t, "cuttle: %s  %s", st.err, clock);
	}
	ctl_top_line(t, "\033[7m  %-21s %-8s %6s %8s %7s %9s %7s\033[0m", "LISTENER", "MODE",
	    "ACTIVE", "TOTAL", "CONN/S", "REQUESTS", "REQ/S");
	if (ok_st == CT_OK)
		ctl_top_listeners(t, json_object_get(st.json, "listeners"), now);
	ctl_top_line(t, "\033[7m  %-21s %-8s %-6s %6s %8s %7s %5s %8s\033[0m", "SERVER",
	    "ADMIN", "HEALTH", "ACTIVE", "TOTAL", "CONN/S", "FAILS", "LATENCY");
	if (ok_up == CT_OK)
		ctl_top_servers(t, json_object_get(up.json, "upstreams"), now);
	else
		ctl_top_line(t, "  %s", up.err);
	/* A counter that a failed request did not show has no rate at the next refresh. */
	memcpy(t->prev, t->next, t->nnext * sizeof(t->next[0]));
	t->nprev = t->nnext;
	t->nnext = 0;
	t->prev_ms = now;
	while (t->line < t->rows - 1)
		ctl_top_line(t, "%s", "");
	ctl_top_line(t, "q: quit   refreshed every second, rates per second since the last refresh");
	ctl_response_free(&st);
	ctl_response_free(&up);
	if (ctl_write_all(STDOUT_FILENO, "\033[H", 3, ctl_now_ms() + CTL_TIMEOUT_MS) == CT_OK &&
	    t->frame != NULL)
		ctl_write_all(STDOUT_FILENO, t->frame, t->len, ctl_now_ms() + CTL_TIMEOUT_MS);
}

/* Raw input, alternate screen, no cursor; undone by ctl_top_leave. */
static void
ctl_top_enter(struct ctl_top *t)
{
	struct termios raw;
	static const char enter[] = "\033[?1049h\033[?25l\033[2J";

	if (tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		raw = t->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		t->tty = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	ctl_write_all(STDOUT_FILENO, enter, sizeof(enter) - 1, ctl_now_ms() + CTL_TIMEOUT_MS);
}

static void
ctl_top_leave(struct ctl_top *t)
{
	static const char leave[] = "\033[0m\033[?25h\033[?1049l";

	ctl_write_all(STDOUT_FILENO, leave, sizeof(leave) - 1, ctl_now_ms() + CTL_TIMEOUT_MS);
	if (t->tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

/* Reads pending keys; 1 when one of them asks to quit (q, Q, ^C). */
static int
ctl_top_keys(void)
{
	char buf[64];
	ssize_t n, i;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n == 0)
		return 1;             /* stdin closed: nobody can press q */
	for (i = 0; i < n; i++)
		if (buf[i] == 'q' || buf[i] == 'Q' || buf[i] == 3)
			return 1;
	return 0;
}

static int
ctl_cmd_top(const struct ctl_opts *o, char **argv)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	struct sigaction sa;
	struct ctl_top *t;
	int64_t next;
	int n;

	(void)argv;
	if (o->json) {
		ctl_errx("top: --json is not supported");
		return CTL_EXIT_USAGE;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		ctl_errx("out of memory");
		return CTL_EXIT_FAIL;
	}
	t->o = o;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_top_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	ctl_top_size(t);
	ctl_top_enter(t);
	while (!ctl_top_quit) {
		ctl_top_draw(t);
		next = ctl_now_ms() + 1000;
		while (!ctl_top_quit && !ctl_top_resized && ctl_now_ms() < next) {
			n = poll(&p, 1, (int)CT_MAX(next - ctl_now_ms(), 0));
			if (n == 1 && (p.revents & (POLLIN | POLLHUP)) && ctl_top_keys())
				ctl_top_quit = 1;
			else if (n == 1 && (p.revents & POLLNVAL))
				p.fd = -1;
		}
		if (ctl_top_resized) {
			ctl_top_resized = 0;
			ctl_top_size(t);
			ctl_write_all(STDOUT_FILENO, "\033[2J", 4, ctl_now_ms() + CTL_TIMEOUT_MS);
		}
	}
	ctl_top_leave(t);
	free(t->frame);
	free(t);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* events: follows the Server-Sent Events of GET /api/v1/events */

#define CTL_EVENTS_HEAD_MAX   65536
#define CTL_EVENTS_LINE_MAX   65536
#define CTL_EVENTS_RESTART_MS 10000   /* for the next admin process, after a reload */

struct ctl_events {
	const struct ctl_opts *o;
	char kinds[1024];             /* "health,reload", or "" for all */
	uint64_t seq;                 /* the last event seen, where to come back after a restart */
	int have_seq;
	int ended;                    /* {"kind":"shutdown"} came: cuttle stops */
	int restart;                  /* {"kind":"restart"} came: come back with since */
	char line[CTL_EVENTS_LINE_MAX];
	size_t llen;
	char *data;                   /* the data lines of the event under way */
	size_t dlen, dcap;
};

/*
 * Connects and asks for the events (after e->seq when there is one),
 * and reads the head of the answer by the deadline.  Returns the
 * socket, with what was read in *buf (malloc'd, *blen bytes), the
 * stream's own bytes from *head_len on; -1 with the error printed.
 */
static int
ctl_events_open(struct ctl_events *e, int64_t deadline, char **buf, size_t *blen,
    size_t *head_len)
{
	struct ctl_response r;
	struct http_response resp;
	char path[1200], req[1500];
	int fd, n, rc = CT_AGAIN;
	ssize_t got;

	memset(&r, 0, sizeof(r));
	n = snprintf(path, sizeof(path), "/api/v1/events%s%s%s", e->kinds[0] != '\0' ||
	    e->have_seq ? "?" : "", e->kinds[0] != '\0' ? "kinds=" : "", e->kinds);
	if (e->have_seq)
		snprintf(path + n, sizeof(path) - (size_t)n, "%ssince=%" PRIu64,
		    e->kinds[0] != '\0' ? "&" : "", e->seq);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: "
	    "cuttlectl/" CT_VERSION "\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
	    path);
	if ((fd = ctl_connect(e->o->socket, deadline, &r)) == -1) {
		ctl_errx("%s", r.err);
		return -1;
	}
	if (ctl_write_all(fd, req, (size_t)n, deadline) == CT_ERROR) {
		ctl_errx("%s: write: %s", e->o->socket, strerror(errno));
		close(fd);
		return -1;
	}
	if ((*buf = malloc(CTL_EVENTS_HEAD_MAX + 1)) == NULL) {
		ctl_errx("out of memory");
		close(fd);
		return -1;
	}
	*blen = 0;
	/* The head; for an error, the whole answer, which ends with the connection. */
	while (*blen < CTL_EVENTS_HEAD_MAX) {
		got = read(fd, *buf + *blen, CTL_EVENTS_HEAD_MAX - *blen);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1 && errno == EAGAIN) {
			if (ctl_wait(fd, POLLIN, deadline) == CT_OK)
				continue;
		}
		if (got <= 0)
			break;
		*blen += (size_t)got;
		rc = http_parse_response(*buf, *blen, NULL, 0, &resp);
		if (rc == CT_OK && resp.code == 200)
			break;
		if (rc == CT_ERROR)
			break;
	}
	if (rc == CT_OK && resp.code == 200) {
		*head_len = resp.h.head_len;
		return fd;
	}
	close(fd);
	r.raw = *buf;
	r.raw_len = *blen;
	r.raw[r.raw_len] = '\0';
	*buf = NULL;
	if (r.raw_len == 0 || ctl_response_parse(&r) == CT_ERROR)
		ctl_errx("%s", r.err[0] != '\0' ? r.err : "the admin process closed the "
		    "connection without answering (it may be restarting)");
	else
		ctl_errx("the admin API answered HTTP %d, not the events", r.code);
	ctl_response_free(&r);
	return -1;
}

/* The time of an event, or now for one that has none (lost). */
static const char *
ctl_events_time(const json_t *j, char *buf, size_t size)
{
	const char *t = json_string_value(json_object_get(j, "time"));
	struct timespec ts;
	struct tm tm;
	size_t n;

	if (t != NULL)
		return t;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return buf;
}

/* One value of a line: a plain word as it is, other text quoted as JSON quotes it. */
static void
ctl_events_value(const json_t *v)
{
	const char *str = json_string_value(v);
	char *q;

	if (json_is_integer(v)) {
		printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		printf("%g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "true" : "false", stdout);
	} else if (str != NULL && *str != '\0' && strpbrk(str, " \t\"=\\") == NULL) {
		fputs(str, stdout);
	} else if ((q = json_dumps(v, JSON_ENCODE_ANY)) != NULL) {
		fputs(q, stdout);
		free(q);
	}
}

/* "TIME KIND key=value ...", or the JSON as it came. */
static int
ctl_events_print(const struct ctl_events *e, json_t *j)
{
	const char *key;
	char t[40], *s;
	json_t *v;

	if (e->o->json) {
		if ((s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
	} else {
		printf("%s %s", ctl_events_time(j, t, sizeof(t)), ctl_json_str(j, "kind", "?"));
		json_object_foreach(j, key, v) {
			if (strcmp(key, "seq") == 0 || strcmp(key, "time") == 0 ||
			    strcmp(key, "kind") == 0 || json_is_null(v))
				continue;
			printf(" %s=", key);
			ctl_events_value(v);
		}
		putchar('\n');
	}
	/* A line at a time, for whoever follows the output. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		ctl_errx("cannot write to standard output: %s", strerror(errno));
		return CT_ERROR;
	}
	return CT_OK;
}

/* An event whole (a blank line ended its data lines): printed, or kept in mind. */
static int
ctl_events_dispatch(struct ctl_events *e)
{
	json_t *j, *seq;
	const char *kind;
	int rc = CT_OK;

	if (e->dlen == 0)
		return CT_OK;
	j = json_loadb(e->data, e->dlen, 0, NULL);
	e->dlen = 0;
	if (!json_is_object(j)) {
		json_decref(j);
		ctl_errx("an event that is not a JSON object");
		return CT_ERROR;
	}
	kind = ctl_json_str(j, "kind", "");
	if (json_is_integer(seq = json_object_get(j, "seq"))) {
		e->seq = (uint64_t)json_integer_value(seq);
		e->have_seq = 1;
	}
	if (strcmp(kind, "restart") == 0)
		e->restart = 1;
	else if (strcmp(kind, "shutdown") == 0)
		e->ended = 1;
	else if (strcmp(kind, "hello") != 0)
		rc = ctl_events_print(e, j);
	json_decref(j);
	return rc;
}

/* One line of the stream (its end of line taken off). */
static int
ctl_events_line(struct ctl_events *e, const char *l, size_t n)
{
	char *p;

	if (n == 0)
		return ctl_events_dispatch(e);
	if (n < 5 || memcmp(l, "data:", 5) != 0)
		return CT_OK;          /* comments, "id:", "retry:" */
	l += 5;
	n -= 5;
	if (n > 0 && *l == ' ') {
		l++;
		n--;
	}
	if (e->dlen + n + 1 > e->dcap) {
		if ((p = realloc(e->data, e->dlen + n + 1)) == NULL) {
			ctl_errx("out of memory");
			return CT_ERROR;
		}
		e->data = p;
		e->dcap = e->dlen + n + 1;
	}
	if (e->dlen > 0)
		e->data[e->dlen++] = '\n';
	memcpy(e->data + e->dlen, l, n);
	e->dlen += n;
	return CT_OK;
}

static int
ctl_events_feed(struct ctl_events *e, const char *p, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl != NULL ? (size_t)(nl - p) : n;
		if (e->llen + k > sizeof(e->line)) {
			ctl_errx("a line of the stream longer than %d bytes", CTL_EVENTS_LINE_MAX);
			return CT_ERROR;
		}
		memcpy(e->line + e->llen, p, k);
		e->llen += k;
		p += k;
		n -= k;
		if (nl == NULL)
			break;
		p++;
		n--;
		if (e->llen > 0 && e->line[e->llen - 1] == '\r')
			e->llen--;
		if (ctl_events_line(e, e->line, e->llen) != CT_OK)
			return CT_ERROR;
		e->llen = 0;
	}
	return CT_OK;
}

/* Reads the stream until it ends; CT_ERROR on a read or output error. */
static int
ctl_events_follow(struct ctl_events *e, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[16384];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EAGAIN) {
			/* No deadline: a quiet stream has a keep-alive every 15 seconds. */
			if (poll(&p, 1, -1) == -1 && errno != EINTR) {
				ctl_errx("poll: %s", strerror(errno));
				return CT_ERROR;
			}
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			return CT_OK;
		if (n == -1) {
			ctl_errx("read: %s", strerror(errno));
			return CT_ERROR;
		}
		if (ctl_events_feed(e, buf, (size_t)n) != CT_OK)
			return CT_ERROR;
	}
}

/*
 * events [KIND...]: follows the events, one line each, until cuttle
 * stops (0) or the stream breaks (1); a reload's restart of the admin
 * process is crossed, from the last event seen.
 */
static int
ctl_cmd_events(const struct ctl_opts *o, char **argv)
{
	int64_t deadline = ctl_now_ms() + CTL_TIMEOUT_MS;
	struct ctl_events *e;
	size_t blen, hlen, n = 0;
	int fd, rc = CTL_EXIT_FAIL, i;
	unsigned k;
	char *buf;

	if ((e = calloc(1, sizeof(*e))) == NULL) {
		ctl_errx("out of memory");
		return CTL_EXIT_FAIL;
	}
	e->o = o;
	for (i = 1; argv[i] != NULL; i++) {
		for (k = 1; k < SHM_EV_KINDS; k++)
			if (strcmp(argv[i], shm_event_kind_names[k]) == 0)
				break;
		if (k == SHM_EV_KINDS || n + strlen(argv[i]) + 2 > sizeof(e->kinds)) {
			ctl_errx("events: unknown event kind \"%s\"", argv[i]);
			free(e);
			return CTL_EXIT_USAGE;
		}
		n += (size_t)snprintf(e->kinds + n, sizeof(e->kinds) - n, "%s%s", n > 0 ? "," : "",
		    argv[i]);
	}
	for (;;) {
		if ((fd = ctl_events_open(e, deadline, &buf, &blen, &hlen)) == -1)
			break;
		e->llen = e->dlen = 0;
		if (ctl_events_feed(e, buf + hlen, blen - hlen) != CT_OK ||
		    ctl_events_follow(e, fd) != CT_OK) {
			free(buf);
			close(fd);
			break;
		}
		free(buf);
		close(fd);
		if (e->ended) {
			rc = CTL_EXIT_OK;
			break;
		}
		if (!e->restart) {
			ctl_errx("the admin process closed the stream");
			break;
		}
		e->restart = 0;
		deadline = ctl_now_ms() + CTL_EVENTS_RESTART_MS;
	}
	free(e->data);
	free(e);
	return rc;
}

/* "cert" has a command line of its own, and no use for the socket. */
static int
ctl_cmd_cert(const struct ctl_opts *o, char **argv)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	return ctl_cert_main(argc, argv, o->json);
}

/* ------------------------------------------------------------------ */
/* Entry point */

/* Each limit: its rate or cap, its decisions, and its busiest keys. */
static int
ctl_cmd_limits(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	json_t *a, *l, *k, *rate, *keys, *cl;
	size_t i, j;

	(void)argv;
	if (ctl_get(o, "/api/v1/limits", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		a = json_object_get(r.json, "limits");
		if (json_array_size(a) == 0)
			printf("(no limits in the running configuration)\n");
		json_array_foreach(a, i, l) {
			rate = json_object_get(l, "rate");
			printf("%s:", ctl_json_str(l, "name", "?"));
			if (rate != NULL)
				printf(" %lld per %lld ms, burst %lld", ctl_json_int(rate, "count"),
				    ctl_json_int(rate, "per_ms"), ctl_json_int(rate, "burst"));
			if (json_object_get(l, "conns") != NULL)
				printf(" %s%lld connections per key", rate != NULL ? "," : "",
				    ctl_json_int(l, "conns"));
			cl = json_object_get(l, "cluster");
			if (cl != NULL)
				printf(", scope cluster: %lld live node%s, %s",
				    ctl_json_int(cl, "nodes"), ctl_json_int(cl, "nodes") == 1 ? "" : "s",
				    json_is_true(json_object_get(cl, "fallback")) ? "deciding alone on 1/" :
				    "settled");
			if (cl != NULL && json_is_true(json_object_get(cl, "fallback")))
				printf("%lld of the rate", ctl_json_int(cl, "share"));
			printf("\n  passed %lld, delayed %lld, rejected %lld; keys %lld of %lld slots, "
			    "evicted %lld\n", ctl_json_int(l, "passed"), ctl_json_int(l, "delayed"),
			    ctl_json_int(l, "rejected"), ctl_json_int(l, "keys"), ctl_json_int(l, "slots"),
			    ctl_json_int(l, "evicted"));
			keys = json_object_get(l, "busiest");
			if (json_array_size(keys) > 0)
				printf("  %-26s %10s %6s %9s\n", "KEY", "REFUSED", "CONNS", "AHEAD");
			json_array_foreach(keys, j, k)
				printf("  %-26s %10lld %6lld %7lldms\n", ctl_json_str(k, "key", "?"),
				    ctl_json_int(k, "refused_or_delayed"), ctl_json_int(k, "conns"),
				    ctl_json_int(k, "ahead_ms"));
		}
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Approvals */

/* Who runs the tool, as the operator a decision names: "" when unknown. */
static const char *
ctl_operator(void)
{
	const char *who = getenv("SUDO_USER");
	struct passwd *pw;

	if (who == NULL || *who == '\0')
		who = getenv("USER");
	if ((who == NULL || *who == '\0') && (pw = getpwuid(getuid())) != NULL)
		who = pw->pw_name;
	return who != NULL ? who : "";
}

/* "for 59m58s" or "until revoked", from a decision's ttl_s. */
static const char *
ctl_lifetime(const json_t *d, char *buf, size_t size)
{
	char dur[32];

	if (!json_is_integer(json_object_get(d, "ttl_s")))
		return "until revoked";
	ctl_duration(ctl_json_int(d, "ttl_s"), dur, sizeof(dur));
	snprintf(buf, size, "for %s", dur);
	return buf;
}

/* "listener web", "every listener", and " to example.com:443" when it names one. */
static const char *
ctl_scope(const json_t *d, char *buf, size_t size)
{
	const char *l = ctl_json_str(d, "listener", NULL);
	const char *to = ctl_json_str(d, "destination", NULL);

	snprintf(buf, size, "%s%s%s%s", l == NULL ? "every listener" : "listener ",
	    l != NULL ? l : "", to != NULL ? " to " : "", to != NULL ? to : "");
	return buf;
}

/*
 * The options of approve, deny and revoke after their address.  --json
 * is taken here too, since the global options stop at these commands.
 */
struct ctl_decision_opts {
	const char *address;
	const char *listener;
	const char *to;
	const char *ttl;
	const char *note;
	const char *by;
};

static int
ctl_decision_opts(struct ctl_opts *o, char **argv, int revoke, struct ctl_decision_opts *d)
{
	static const struct option longopts[] = {
		{ "listener", required_argument, NULL, 'l' },
		{ "to", required_argument, NULL, 't' },
		{ "destination", required_argument, NULL, 't' },
		{ "for", required_argument, NULL, 'f' },
		{ "note", required_argument, NULL, 'n' },
		{ "by", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int argc = 0, ch;

	memset(d, 0, sizeof(*d));
	while (argv[argc] != NULL)
		argc++;
	optind = 0;
	while ((ch = getopt_long(argc, argv, revoke ? "l:t:j" : "l:t:f:n:b:j", longopts, NULL))
	    != -1) {
		switch (ch) {
		case 'l': d->listener = optarg; break;
		case 't': d->to = optarg; break;
		case 'f': d->ttl = optarg; break;
		case 'n': d->note = optarg; break;
		case 'b': d->by = optarg; break;
		case 'j': o->json = 1; break;
		default:
			return CT_ERROR;
		}
		if (revoke && ch != 'l' && ch != 't' && ch != 'j') {
			ctl_errx("revoke: only --listener, --to and --json go with it");
			return CT_ERROR;
		}
	}
	if (argc - optind != 1) {
		ctl_errx("%s: %s", argv[0], argc - optind < 1 ? "missing address" :
		    "one address or network at a time");
		return CT_ERROR;
	}
	d->address = argv[optind];
	return CT_OK;
}

/* approve, deny: argv is {command, ADDR|CIDR, options...}. */
static int
ctl_cmd_decide(const struct ctl_opts *go, char **argv)
{
	struct ctl_opts o = *go;
	struct ctl_decision_opts d;
	struct ctl_response r;
	char life[48], scope[400], *body;
	json_t *req, *dec;
	int rc = CTL_EXIT_OK;

	if (ctl_decision_opts(&o, argv, 0, &d) != CT_OK) {
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	req = json_pack("{s:s, s:s}", "address", d.address,
	    "verdict", strcmp(argv[0], "approve") == 0 ? "allow" : "deny");
	if (req != NULL && d.listener != NULL)
		(void)json_object_set_new(req, "listener", json_string(d.listener));
	if (req != NULL && d.to != NULL)
		(void)json_object_set_new(req, "destination", json_string(d.to));
	if (req != NULL && d.ttl != NULL)
		(void)json_object_set_new(req, "ttl", json_string(d.ttl));
	if (req != NULL && d.note != NULL)
		(void)json_object_set_new(req, "note", json_string(d.note));
	if (req != NULL && *(d.by != NULL ? d.by : ctl_operator()) != '\0')
		(void)json_object_set_new(req, "operator",
		    json_string(d.by != NULL ? d.by : ctl_operator()));
	body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (body == NULL) {
		/* jansson refuses text that is not UTF-8: say which. */
		ctl_errx("%s: the address, note and names must be UTF-8 text", argv[0]);
		return CTL_EXIT_USAGE;
	}
	if (ctl_request_body(&o, "POST", "/api/v1/approvals/decisions", body, &r) == CT_ERROR) {
		ctl_errx("%s %s: %s", argv[0], d.address, r.err);
		rc = CTL_EXIT_FAIL;
	} else if (o.json) {
		ctl_json_print(r.json);
	} else {
		dec = json_object_get(r.json, "decision");
		printf("%s %s on %s, %s%s\n", ctl_json_str(dec, "verdict", "?"),
		    ctl_json_str(dec, "address", d.address), ctl_scope(dec, scope, sizeof(scope)),
		    ctl_lifetime(dec, life, sizeof(life)),
		    json_is_true(json_object_get(r.json, "replaced")) ?
		    " (replacing the decision before)" : "");
	}
	free(body);
	ctl_response_free(&r);
	return rc;
}

/* Appends "?key=" or "&key=", then value escaped, to path; CT_ERROR when it does not fit. */
static int
ctl_query_append(char *path, size_t size, const char *key, const char *value)
{
	size_t n = strlen(path);

	if (n + strlen(key) + 3 > size)
		return CT_ERROR;
	snprintf(path + n, size - n, "%c%s=", strchr(path, '?') != NULL ? '&' : '?', key);
	return ctl_path_append(path, size, value);
}

/* revoke ADDR|CIDR [--listener L] [--to DEST] */
static int
ctl_cmd_revoke(const struct ctl_opts *go, char **argv)
{
	struct ctl_opts o = *go;
	struct ctl_decision_opts d;
	struct ctl_response r;
	char path[1024] = "/api/v1/approvals/decisions/", scope[400];
	int rc = CTL_EXIT_OK;

	if (ctl_decision_opts(&o, argv, 1, &d) != CT_OK) {
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (ctl_path_append(path, sizeof(path), d.address) != CT_OK ||
	    (d.listener != NULL &&
	    ctl_query_append(path, sizeof(path), "listener", d.listener) != CT_OK) ||
	    (d.to != NULL && ctl_query_append(path, sizeof(path), "destination", d.to) != CT_OK)) {
		ctl_errx("revoke: address, listener name or destination too long");
		return CTL_EXIT_USAGE;
	}
	if (ctl_request(&o, "DELETE", path, &r) == CT_ERROR) {
		ctl_errx("revoke %s: %s", d.address, r.err);
		rc = CTL_EXIT_FAIL;
	} else if (o.json) {
		ctl_json_print(r.json);
	} else {
		printf("revoked %lld decision%s for %s (%s %s)\n", ctl_json_int(r.json, "revoked"),
		    ctl_json_int(r.json, "revoked") == 1 ? "" : "s", d.address,
		    ctl_json_str(json_object_get(r.json, "decision"), "verdict", "?"),
		    d.listener != NULL || d.to != NULL ? ctl_scope(json_object_get(r.json, "decision"),
		    scope, sizeof(scope)) : "on any listener");
	}
	ctl_response_free(&r);
	return rc;
}

static int
ctl_cmd_decisions(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	json_t *a, *d;
	char exp[32];
	int wa, wl, wd, wb;
	size_t i;

	(void)argv;
	if (ctl_get(o, "/api/v1/approvals/decisions", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		a = json_object_get(r.json, "decisions");
		if (json_array_size(a) == 0)
			printf("(no decisions)\n");
		wa = ctl_json_width(a, "address", (int)strlen("ADDRESS"));
		wl = ctl_json_width(a, "listener", (int)strlen("LISTENER"));
		wd = ctl_json_width(a, "destination", (int)strlen("DESTINATION"));
		wb = ctl_json_width(a, "by", (int)strlen("BY"));
		if (json_array_size(a) > 0)
			printf("%-*s %-7s %-*s %-*s %-10s %-8s %-*s %s\n", wa, "ADDRESS", "VERDICT", wl,
			    "LISTENER", wd, "DESTINATION", "EXPIRES", "ORIGIN", wb, "BY", "NOTE");
		json_array_foreach(a, i, d) {
			if (json_is_integer(json_object_get(d, "ttl_s")))
				ctl_duration(ctl_json_int(d, "ttl_s"), exp, sizeof(exp));
			else
				snprintf(exp, sizeof(exp), "never");
			printf("%-*s %-7s %-*s %-*s %-10s %-8s %-*s %s\n", wa,
			    ctl_json_str(d, "address", "?"), ctl_json_str(d, "verdict", "?"), wl,
			    ctl_json_str(d, "listener", "*"), wd, ctl_json_str(d, "destination", "*"), exp,
			    ctl_json_str(d, "origin", "?"), wb, ctl_json_str(d, "by", "-"),
			    ctl_json_str(d, "note", ""));
		}
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

/* The clients held for a decision, as the API lists them. */
static int
ctl_cmd_pending(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	json_t *a, *p;
	char age[32];
	size_t i;

	(void)argv;
	if (ctl_get(o, "/api/v1/approvals/pending", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		a = json_object_get(r.json, "pending");
		if (json_array_size(a) == 0)
			printf("(no client waits for a decision)\n");
		else
			printf("%-16s %-40s %-8s %s\n", "LISTENER", "CLIENT", "WAITING",
			    "REQUEST OR DESTINATION");
		json_array_foreach(a, i, p) {
			ctl_duration(ctl_json_int(p, "age_ms") / 1000, age, sizeof(age));
			printf("%-16s %-40s %-8s %s%s\n", ctl_json_str(p, "listener", "-"),
			    ctl_json_str(p, "client", "-"), age,
			    json_object_get(p, "destination") != NULL ? "to " : "",
			    ctl_json_str(p, "request", ctl_json_str(p, "destination", "")));
		}
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* The cache */

/* Each zone and its counters, as a table. */
static int
ctl_cmd_cache(const struct ctl_opts *o, char **argv)
{
	static const char *const cols[] = { "objects", "bytes", "capacity", "hits", "misses",
	    "stale", "revalidated", "collapsed", "stores", "evictions", "aborts", "busy",
	    "repairs" };
	struct ctl_response r;
	int w[CT_NELEM(cols)], wn;
	json_t *a, *z;
	char head[16];
	size_t i, k;

	(void)argv;
	if (ctl_get(o, "/api/v1/caches", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		a = json_object_get(r.json, "caches");
		if (json_array_size(a) == 0)
			printf("(no cache zones in the running configuration)\n");
		wn = ctl_json_width(a, "name", (int)strlen("ZONE"));
		for (k = 0; k < CT_NELEM(cols); k++)
			w[k] = ctl_json_width(a, cols[k], (int)strlen(cols[k]));
		if (json_array_size(a) > 0) {
			printf("%-*s", wn, "ZONE");
			for (k = 0; k < CT_NELEM(cols); k++) {
				for (i = 0; cols[k][i] != '\0' && i < sizeof(head) - 1; i++)
					head[i] = (char)(cols[k][i] - 'a' + 'A');
				head[i] = '\0';
				printf(" %*s", w[k], head);
			}
			putchar('\n');
		}
		json_array_foreach(a, i, z) {
			printf("%-*s", wn, ctl_json_str(z, "name", "?"));
			/* A zone without room in the segment has null counters. */
			for (k = 0; k < CT_NELEM(cols); k++)
				if (json_is_integer(json_object_get(z, cols[k])))
					printf(" %*lld", w[k], ctl_json_int(z, cols[k]));
				else
					printf(" %*s", w[k], "-");
			putchar('\n');
		}
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* The cluster */

/* The nodes of the registry, as a table, and the journal in a line. */
static int
ctl_cmd_cluster(const struct ctl_opts *o, char **argv)
{
	struct ctl_response r;
	json_t *a, *n, *jr;
	char seen[32];
	int wn, wa;
	size_t i;

	(void)argv;
	if (ctl_get(o, "/api/v1/cluster", &r) == CT_ERROR) {
		ctl_response_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (!o->json) {
		a = json_object_get(r.json, "nodes");
		jr = json_object_get(r.json, "journal");
		printf("cluster \"%s\": %lld nodes, %lld live; this node is \"%s\"\n",
		    ctl_json_str(r.json, "prefix", "-"), ctl_json_int(r.json, "count"),
		    ctl_json_int(r.json, "live"), ctl_json_str(r.json, "node", "-"));
		wn = ctl_json_width(a, "name", (int)strlen("NODE"));
		wa = ctl_json_width(a, "admin", (int)strlen("ADMIN"));
		printf("%-*s %-5s %-10s %-8s %-16s %s\n", wn, "NODE", "STATE", "SEEN",
		    "VERSION", "CONFIG", "ADMIN");
		json_array_foreach(a, i, n) {
			ctl_duration(ctl_json_int(n, "seen_ms_ago") / 1000, seen, sizeof(seen));
			printf("%-*s %-5s %-10s %-8s %-16s %-*s %s\n", wn, ctl_json_str(n, "name", "?"),
			    ctl_json_str(n, "state", "?"), seen, ctl_json_str(n, "version", "-"),
			    ctl_json_str(n, "digest", "-"), wa, ctl_json_str(n, "admin", "-"),
			    json_is_true(json_object_get(n, "self")) ? "(this node)" :
			    json_is_false(json_object_get(n, "same_config")) ? "(another configuration)" :
			    "");
		}
		if (ctl_json_int(r.json, "differ") > 0)
			printf("warning: %lld live node%s run%s another configuration\n",
			    ctl_json_int(r.json, "differ"), ctl_json_int(r.json, "differ") == 1 ? "" : "s",
			    ctl_json_int(r.json, "differ") == 1 ? "s" : "");
		printf("journal: %lld change%s waiting for Redis, %lld sent, %lld adopted, %lld merges\n",
		    ctl_json_int(jr, "waiting"), ctl_json_int(jr, "waiting") == 1 ? "" : "s",
		    ctl_json_int(jr, "sent"), ctl_json_int(jr, "applied"), ctl_json_int(jr, "merges"));
	}
	ctl_response_free(&r);
	return CTL_EXIT_OK;
}

struct ctl_purge_opts {
	const char *zone;
	const char *url;
	const char *prefix;
	int all;
};

/* purge's words: one of URL, --prefix URL and --all (this one with --zone). */
static int
ctl_purge_opts(struct ctl_opts *o, char **argv, struct ctl_purge_opts *p)
{
	static const struct option longopts[] = {
		{ "zone", required_argument, NULL, 'z' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int argc = 0, ch;

	memset(p, 0, sizeof(*p));
	while (argv[argc] != NULL)
		argc++;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "z:p:aj", longopts, NULL)) != -1) {
		switch (ch) {
		case 'z': p->zone = optarg; break;
		case 'p': p->prefix = optarg; break;
		case 'a': p->all = 1; break;
		case 'j': o->json = 1; break;
		default:
			return CT_ERROR;
		}
	}
	if (argc - optind > 1) {
		ctl_errx("purge: one URL at a time");
		return CT_ERROR;
	}
	p->url = argc - optind == 1 ? argv[optind] : NULL;
	if ((p->url != NULL) + (p->prefix != NULL) + p->all != 1) {
		ctl_errx("purge: give a URL, --prefix URL or --all");
		return CT_ERROR;
	}
	if (p->all && p->zone == NULL) {
		ctl_errx("purge: --all purges one zone: name it with --zone");
		return CT_ERROR;
	}
	return CT_OK;
}

/* purge URL | --prefix URL | --all, in --zone NAME or in every zone. */
static int
ctl_cmd_purge(const struct ctl_opts *go, char **argv)
{
	struct ctl_opts o = *go;
	struct ctl_purge_opts p;
	struct ctl_response r;
	char path[6144] = "/api/v1/caches";
	const char *what;
	int rc = CTL_EXIT_OK;

	if (ctl_purge_opts(&o, argv, &p) != CT_OK) {
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	what = p.all ? "every object" : p.url != NULL ? p.url : p.prefix;
	if (p.zone != NULL)
		strcat(path, "/");
	if ((p.zone != NULL && ctl_path_append(path, sizeof(path), p.zone) != CT_OK) ||
	    ctl_query_append(path, sizeof(path), p.all ? "all" : p.url != NULL ? "url" : "prefix",
	    p.all ? "1" : what) != CT_OK) {
		ctl_errx("purge: the URL or the zone name is too long");
		return CTL_EXIT_USAGE;
	}
	if (ctl_request(&o, "DELETE", path, &r) == CT_ERROR) {
		ctl_errx("purge %s: %s", what, r.err);
		rc = CTL_EXIT_FAIL;
	} else if (o.json) {
		ctl_json_print(r.json);
	} else {
		printf("purged %lld object%s %s%s in %s%s\n", ctl_json_int(r.json, "purged"),
		    ctl_json_int(r.json, "purged") == 1 ? "" : "s",
		    p.all ? "" : p.url != NULL ? "of " : "under ", p.all ? "(all)" : what,
		    p.zone != NULL ? "zone " : "every zone", p.zone != NULL ? p.zone : "");
	}
	ctl_response_free(&r);
	return rc;
}

static const struct ctl_command ctl_commands[] = {
	{ "status", 0, ctl_cmd_status },
	{ "upstreams", 0, ctl_cmd_upstreams },
	{ "backends", 0, ctl_cmd_upstreams },
	{ "enable", 2, ctl_cmd_server },
	{ "disable", 2, ctl_cmd_server },
	{ "drain", 2, ctl_cmd_server },
	{ "reload", 0, ctl_cmd_reload },
	{ "top", 0, ctl_cmd_top },
	{ "conns", 0, ctl_cmd_conns },
	{ "kill", 1, ctl_cmd_kill },
	{ "limits", 0, ctl_cmd_limits },
	{ "cache", 0, ctl_cmd_cache },
	{ "cluster", 0, ctl_cmd_cluster },
	{ "purge", -1, ctl_cmd_purge },
	{ "approve", -1, ctl_cmd_decide },
	{ "deny", -1, ctl_cmd_decide },
	{ "revoke", -1, ctl_cmd_revoke },
	{ "decisions", 0, ctl_cmd_decisions },
	{ "pending", 0, ctl_cmd_pending },
	{ "events", CTL_ARGS_ANY, ctl_cmd_events },
	{ "cert", -1, ctl_cmd_cert },
};

static const struct option ctl_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "socket", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct ctl_command *
ctl_command_find(const char *name)
{
	size_t i;

	for (i = 0; i < CT_NELEM(ctl_commands); i++)
		if (strcmp(name, ctl_commands[i].name) == 0)
			return &ctl_commands[i];
	return NULL;
}

/*
 * Whether argv's command parses its own options.  The global options
 * may also follow a command, but not one of these ("cert gen --out"):
 * the global parse must then stop at the command's name.  A first
 * parse that stops at the first word that is no option finds it.
 */
static int
ctl_command_own_opts(int argc, char **argv)
{
	const struct ctl_command *cmd;
	int i;

	opterr = 0;
	while (getopt_long(argc, argv, "+hjs:", ctl_longopts, NULL) != -1)
		continue;
	i = optind;
	opterr = 1;
	optind = 0;                   /* glibc starts afresh on the next call */
	return i < argc && (cmd = ctl_command_find(argv[i])) != NULL && cmd->nargs == -1;
}

int
main(int argc, char **argv)
{
	struct ctl_opts o = { NULL, 0 };
	const struct ctl_command *cmd;
	const char *optstr;
	int ch, rc;

	signal(SIGPIPE, SIG_IGN);
	optstr = ctl_command_own_opts(argc, argv) ? "+hjs:" : "hjs:";
	while ((ch = getopt_long(argc, argv, optstr, ctl_longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			o.json = 1;
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return CTL_EXIT_OK;
		default:
			ctl_usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (o.socket == NULL)
		o.socket = getenv(CTL_SOCKET_ENV);
	if (o.socket == NULL || *o.socket == '\0')
		o.socket = CTL_SOCKET_DEFAULT;
	if (argc == 0) {
		ctl_errx("no command given");
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if ((cmd = ctl_command_find(argv[0])) == NULL) {
		ctl_errx("unknown command: %s", argv[0]);
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (cmd->nargs >= 0 && argc - 1 != cmd->nargs) {
		ctl_errx("%s: %s", cmd->name, argc - 1 < cmd->nargs ?
		    "missing arguments" : "too many arguments");
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	rc = cmd->run(&o, argv);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		ctl_errx("cannot write to standard output: %s", strerror(errno));
		return CTL_EXIT_FAIL;
	}
	return rc;
}

/*
 * Inside the admin process: its connections and what its files share.
 *
 *   admin.c         sockets, the loop, requests and their answers: status,
 *                   servers, connections, limits, metrics, reload
 *   admin_events.c  GET /api/v1/events: subscribers over WebSocket or
 *                   Server-Sent Events, fed from the event ring
 *   admin_ui.c      the dashboard's files, and the sessions of its login
 */
#ifndef CT_CTL_ADMIN_INT_H
#define CT_CTL_ADMIN_INT_H

#include <stdint.h>
#include <jansson.h>
#include <stdio.h>

#include "core/cycle.h"
#include "ctl/admin_lockout.h"
#include "lib/ev.h"
#include "lib/http_parse.h"
#include "shm/events.h"

#define ADMIN_UNIX_CONNS  32
#define ADMIN_TCP_CONNS   64
#define ADMIN_CONNS       (ADMIN_UNIX_CONNS + ADMIN_TCP_CONNS)  /* unix first, then TCP */
#define ADMIN_HEAD_MAX    16384
#define ADMIN_TIMEOUT_MS  5000
#define ADMIN_TCP_HEAD_MS 2000

#define ADMIN_SESSIONS    16
#define ADMIN_SESSION_ID  65          /* 32 random bytes in hex, and a NUL */

struct admin_sub;

/* A browser logged in to the dashboard; serial 0: a free slot. */
struct admin_session {
	char id[ADMIN_SESSION_ID];
	uint64_t serial;            /* which login made it, for the streams it authorized */
	uint64_t created;           /* loop clock; it ends at admin.session.lifetime after */
	uint64_t used;              /* its last request; it ends at admin.session.idle after */
};

struct admin_conn {
	struct admin *a;
	int fd;                     /* -1: free slot */
	int tcp;                    /* came in over TCP: needs the token */
	struct admin_lockout_key peer;  /* TCP: whose wrong tokens it counts in */
	uint64_t session;           /* the serial of the session that authorized it; 0: none */
	int waiting;                /* for the master's answer over the link */
	uint32_t tag;               /* of the request it waits for */
	uint64_t started;           /* accepted at, loop clock */
	struct ev_io io;
	struct ev_timer timer;
	char in[ADMIN_HEAD_MAX];    /* the request head; a subscriber's frames after it */
	size_t len;
	char *out;                  /* the whole answer */
	size_t out_len;
	size_t sent;
	struct admin_sub *sub;      /* a subscriber of the events; NULL: a request */
};

struct admin {
	struct cycle *cy;
	struct ev_loop *loop;
	struct ev_io unix_io;
	struct ev_io tcp_io;
	struct ev_io link_io;
	int link;                   /* its end of the admin link */
	uint32_t seq;
	int closing;                /* SIGTERM: finishing the answers under way */
	int full_logged[2];         /* unix, TCP */
	unsigned generation;        /* the master's when this process started */
	/* The events: the ring read once for every subscriber, while there are some. */
	struct ev_timer events_timer;
	struct shm_events_cursor cursor;
	unsigned nsubs;
	struct admin_session sessions[ADMIN_SESSIONS];
	uint64_t session_serial;    /* the last one given */
	struct admin_lockout lockout;
	struct admin_conn conns[ADMIN_CONNS];
};

/* Prometheus: a family's HELP and TYPE. */
struct admin_family {
	const char *name;
	const char *type;
	const char *help;
};

/* admin.c */

/*
 * An answer with a body (malloc'd, taken) and, in extra, header lines
 * of its own ("Name: value\r\n" each, or "").
 */
void admin_answer_with(struct admin_conn *ac, int status, const char *ctype, const char *extra,
    char *body);
void admin_error(struct admin_conn *ac, int status, const char *msg);
/* Takes j, which may be NULL (out of memory). */
void admin_json(struct admin_conn *ac, int status, json_t *j);
/* admin_json() with header lines of its own, as admin_answer_with() takes them. */
void admin_json_with(struct admin_conn *ac, int status, const char *extra, json_t *j);
/* Does the request carry Authorization: Bearer with admin.token? */
int admin_token_ok(const struct conf *conf, const struct http_request *req);
void admin_conn_close(struct admin_conn *ac);
const char *admin_state_name(unsigned state);
/* A strictly decimal number: digits only, no sign, no space, no overflow. */
int admin_parse_u64(const char *s, size_t len, uint64_t *out);
/* Decodes %XX in place; CT_ERROR on a malformed escape or %00. */
int admin_unescape(char *s);
/* "192.0.2.7:5555" or "[2001:db8::7]:5555" of an address kept as bytes. */
const char *admin_addr_format(int family, const uint8_t *addr, unsigned port, char *buf,
    size_t size);
void admin_family(FILE *f, const struct admin_family *fam);
/* A label value with '\\', '"' and newlines escaped; in a static buffer, till the next call. */
const char *admin_label(const char *value);

/* admin_cluster.c: GET /api/v1/cluster, with its status; the metrics. */
json_t *admin_cluster(const struct admin *a, int *status);
void admin_cluster_metrics(FILE *f, const struct admin *a);

/* admin_cache.c */

/* GET /api/v1/caches: {"caches": [each zone, its counters]}. */
json_t *admin_cache_list(const struct admin *a);
/*
 * DELETE /api/v1/caches/NAME?url=URL|prefix=URL|all=1 (name, still
 * percent-encoded), or with name NULL, DELETE /api/v1/caches?url=|prefix=
 * in every zone: answers {"purged": N, ...}, 400 or 404.
 */
void admin_cache_purge(struct admin_conn *ac, char *name, const char *query, size_t qlen);
void admin_cache_metrics(FILE *f, const struct admin *a);

/* admin_events.c */

/*
 * GET /api/v1/events, for admin_route(): answers an error, or makes ac
 * a subscriber (ac->sub) whose first bytes, the head of the answer
 * among them, are queued.
 */
void admin_events_subscribe(struct admin_conn *ac, const struct http_request *req,
    const char *query, size_t qlen);
/* A subscriber's socket is ready. */
void admin_events_io(struct admin_conn *ac, uint32_t events);
/* From admin_conn_close(): a subscriber's state goes. */
void admin_events_forget(struct admin_conn *ac);
/*
 * SIGTERM: the events still in the ring go out, then each subscriber is
 * told whether this is a restart (a reload: come back with since=SEQ)
 * or the end, and closed once that is sent.
 */
void admin_events_terminate(struct admin *a);
void admin_events_init(struct admin *a);
void admin_events_metrics(FILE *f, const struct admin *a);
/* Is the origin (scheme "://" authority) the API's own: its Host, or admin.listen? */
int admin_origin_ok(const struct admin_conn *ac, const struct http_request *req,
    const struct http_slice *origin);

/* admin_ui.c */

/* The files of ctl/ui/, made into C at build time by ctl/ui_embed.sh. */
struct admin_ui_file {
	const char *name;           /* "index.html" */
	const unsigned char *data;
	size_t len;
};
extern const struct admin_ui_file admin_ui_files[];
extern const size_t admin_ui_nfiles;

/*
 * Are a (what the client sent) and b (the secret) the same bytes?  In a
 * time that depends on alen only: not on where they differ, nor on blen.
 */
int admin_secret_eq(const char *a, size_t alen, const char *b, size_t blen);
/*
 * May this request go on?  On the unix socket always; over TCP with the
 * token, or for the page and the login, or with a session's cookie, and
 * then, unless it is a GET, with the API's own Origin.  CT_ERROR:
 * answered (401, 403, 429).
 */
int admin_ui_authorize(struct admin_conn *ac, const struct http_request *req);
/* Is the session of this serial (ac->session) alive still? */
int admin_ui_session_alive(struct admin *a, uint64_t serial);
/* The wrong tokens, lockouts and sessions, for /metrics. */
void admin_ui_metrics(FILE *f, struct admin *a);
/* The page's paths (/, /ui/...): 1 when path was one of them and is answered. */
int admin_ui_route(struct admin_conn *ac, const struct http_request *req, const char *path,
    const char *body, size_t blen);

#endif

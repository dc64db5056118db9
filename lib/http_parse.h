/*
 * HTTP/1.x message heads and chunked bodies (RFC 9110, RFC 9112).
 *
 * Pure functions over (buf, len): no sockets, no allocation.  A parse
 * returns CT_OK (complete; head_len says where the body starts),
 * CT_AGAIN (incomplete: call again with more bytes, from the start), or
 * CT_ERROR with status (the response to give: 400, 413, 414, 431, 501,
 * 505 for requests; 502 for responses) and a static reason for the log.
 * Results are slices into buf, valid while buf is.
 *
 * Strict by design, so that no two parsers can disagree about where a
 * message ends: obs-fold, bare CR, NUL, whitespace before a colon,
 * invalid token or field characters, Content-Length with
 * Transfer-Encoding, differing or malformed Content-Lengths, and any
 * Transfer-Encoding but a final "chunked" are errors.
 */
#ifndef CT_HTTP_PARSE_H
#define CT_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HTTP_MAX_HEADERS 100

struct http_slice {
	const char *p;
	size_t len;
};

/*
 * The field names the proxy acts on.  A complete head has each field's
 * id set once, so that the proxy compares small integers, not names.
 */
enum http_field_id {
	HTTP_F_OTHER = 0,
	HTTP_F_CONNECTION,
	HTTP_F_CONTENT_LENGTH,
	HTTP_F_TRANSFER_ENCODING,
	HTTP_F_UPGRADE,
	HTTP_F_KEEP_ALIVE,
	HTTP_F_TE,
	HTTP_F_TRAILER,
	HTTP_F_PROXY_CONNECTION,
	HTTP_F_PROXY_AUTHORIZATION,
	HTTP_F_HOST,
	HTTP_F_EXPECT,
	HTTP_F_X_FORWARDED_FOR,
	HTTP_F_X_FORWARDED_PROTO,
	HTTP_F_X_FORWARDED_HOST,
	HTTP_F_VIA,
	HTTP_F_FORWARDED,
	HTTP_F_ACCEPT_ENCODING,
	HTTP_F_CONTENT_ENCODING,
	HTTP_F_CONTENT_RANGE,
	HTTP_F_CONTENT_TYPE,
	HTTP_F_CACHE_CONTROL,
	HTTP_F_COOKIE,
	HTTP_F_UNDERSCORE             /* any name with '_' (see underscores_in_headers) */
};

/* Hop-by-hop fields (RFC 9110 7.6.1), and Content-Length, which a proxy rewrites. */
#define HTTP_F_IS_HOP(id) ((id) >= HTTP_F_CONNECTION && (id) <= HTTP_F_PROXY_AUTHORIZATION)

struct http_header {
	struct http_slice name;
	struct http_slice value;      /* leading and trailing whitespace trimmed */
	enum http_field_id id;
};

enum http_target_form {
	HTTP_TARGET_ORIGIN,           /* /path?query */
	HTTP_TARGET_ABSOLUTE,         /* http://host[:port]/path?query */
	HTTP_TARGET_AUTHORITY,        /* host:port (CONNECT only) */
	HTTP_TARGET_ASTERISK          /* * (OPTIONS only) */
};

enum http_framing {
	HTTP_BODY_NONE,               /* no body */
	HTTP_BODY_LENGTH,             /* content_length bytes */
	HTTP_BODY_CHUNKED,            /* chunked, ends with the last chunk and trailers */
	HTTP_BODY_CLOSE               /* responses only: until the server closes */
};

struct http_limits {
	size_t max_line;              /* request line (414) / status line; default 8192 */
	size_t max_head;              /* whole head, line included (431); default 32768 */
	size_t max_headers;           /* fields (431); <= HTTP_MAX_HEADERS */
};

/*
 * Fields common to requests and responses.  The field array comes last,
 * and a head last in a request or response, so that a parse zeroes
 * only what precedes it: nheaders bounds the array.
 */
struct http_head {
	int minor;                    /* 0 or 1: HTTP/1.minor */
	size_t nheaders;
	size_t head_len;              /* bytes up to and including the blank line */
	enum http_framing framing;
	uint64_t content_length;      /* with HTTP_BODY_LENGTH */
	unsigned keep_alive:1;        /* by version and Connection */
	unsigned conn_close:1;        /* Connection: close present */
	unsigned conn_upgrade:1;      /* Connection: upgrade present */
	unsigned has_upgrade:1;       /* an Upgrade field is present */
	unsigned conn_options:1;      /* Connection names more than keep-alive and upgrade */
	int status;                   /* error: the status to answer with */
	const char *error;            /* error: why, for the log */
	struct http_header headers[HTTP_MAX_HEADERS];
};

struct http_request {
	struct http_slice method;
	struct http_slice target;     /* as sent */
	enum http_target_form form;
	struct http_slice host;       /* from an absolute target, else the Host field; may be empty */
	struct http_slice path;       /* path and query, "/..." (absolute form: the part after the authority, "/" if none) */
	unsigned expect_continue:1;   /* Expect: 100-continue */
	unsigned idempotent:1;        /* GET HEAD PUT DELETE OPTIONS TRACE */
	unsigned is_head:1;
	unsigned is_connect:1;
	unsigned path_check:1;        /* '%', "//" or "/." before any '?': see http_path_normalize() */
	struct http_head h;           /* last: see struct http_head */
};

struct http_response {
	int code;                     /* 100..599 */
	struct http_slice reason;
	struct http_head h;           /* last: see struct http_head */
};

/* Zero all but the field array. */
static inline void
http_request_clear(struct http_request *req)
{
	memset(req, 0, offsetof(struct http_request, h.headers));
}

static inline void
http_response_clear(struct http_response *resp)
{
	memset(resp, 0, offsetof(struct http_response, h.headers));
}

void http_limits_default(struct http_limits *lim);

int http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
    struct http_request *req);

/*
 * Where the checks of a request head that has not ended stopped.  Zero
 * it before the first call for a request; keep it while the head comes.
 */
struct http_head_scan {
	size_t pos;                   /* the lines before this byte are checked */
	size_t lf_from;               /* no LF in buf[pos..lf_from) */
	size_t fields;                /* field lines among them */
	uint64_t looked;              /* bytes looked at by the calls of a head that came in pieces (tests) */
	unsigned line:1;              /* the request line is among them */
};

/*
 * http_parse_request() for a head that comes in pieces: each call
 * checks only the lines that came since the last one, so that a head
 * read in k pieces costs O(len), not O(k * len).  buf must start at the
 * same byte and hold the same bytes as in the earlier calls, with more
 * after them (it may have moved).  Same results as http_parse_request();
 * after CT_AGAIN req holds nothing of use.
 */
int http_parse_request_resume(const char *buf, size_t len, const struct http_limits *lim,
    struct http_request *req, struct http_head_scan *st);

/*
 * The path of a target (origin or absolute form; up to '?'), made fit
 * for routing: percent-encoded unreserved characters decoded (RFC 3986
 * 6.2.2.2), the hex of the other escapes in upper case, "." and ".."
 * segments removed (5.2.4) and runs of '/' merged, as nginx does by
 * default.  out (path.len bytes at least) gets the result followed by
 * the query as it came.  Returns CT_OK with *out_len, CT_DECLINED when
 * the path is already in that form (out untouched), or CT_ERROR with
 * *why for an invalid escape or a path that climbs above the root.
 * With out NULL, CT_AGAIN stands for "there is work: give me out", so
 * that the usual plain path costs no buffer.
 */
int http_path_normalize(struct http_slice path, char *out, size_t *out_len,
    const char **why);

/*
 * head_request: the request was HEAD (no body whatever the fields say).
 * 1xx, 204 and 304 have no body; 101 is complete at its head.
 */
int http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
    int head_request, struct http_response *resp);

/* Case-insensitive lookup of the first field named name, or NULL. */
const struct http_header *http_header_find(const struct http_head *h, const char *name);
/* The first field of this id (not HTTP_F_OTHER), or NULL. */
const struct http_header *http_header_find_id(const struct http_head *h, enum http_field_id id);
/* The id of a field name; HTTP_F_OTHER for one the proxy does not act on. */
enum http_field_id http_field_id(struct http_slice name);

/* Case-insensitive comparison of a slice with a NUL-terminated string. */
int http_slice_eq(struct http_slice s, const char *str);
/* Case-sensitive, for what the RFCs make so: methods (RFC 9110 9.1), the parts of a date. */
int http_slice_is(struct http_slice s, const char *str);
/* Whether a[0..n) and b[0..n) are equal in any ASCII case. */
int http_icase_eq(const char *a, const char *b, size_t n);

/*
 * Characters, as every reader of HTTP text needs them.  ASCII only:
 * nothing here depends on the locale.
 */

/* tchar of RFC 9110 5.6.2: what a token (method, field name, directive) is made of. */
int http_is_tchar(unsigned char c);

/* OWS / RWS of RFC 9110 5.6.3. */
static inline int
http_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline int
http_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII case folding, branch-free: field names and codings are compared with it. */
static inline unsigned char
http_lower(unsigned char c)
{
	return (unsigned char)(c + (((unsigned)c - 'A' < 26u) << 5));
}

/*
 * Chunked body scanner: finds where a chunked body ends without changing
 * its bytes, so that the body can be relayed as it came, and refuses a
 * malformed one.  Feed consecutive pieces of the body.
 */
struct http_chunked {
	int state;
	uint64_t remaining;           /* bytes left in the current chunk's data */
	size_t size_digits;
	size_t line_len;              /* bytes of the current size or trailer line */
	size_t trailer_len;           /* all trailer bytes so far */
	uint64_t data_total;          /* chunk data bytes so far, for body size limits */
	unsigned done:1;
	const char *error;
};

void http_chunked_init(struct http_chunked *c);
/*
 * Scans buf[0..len).  Returns how many bytes belong to the body: len, or
 * fewer when the body ended inside buf (c->done set; the rest is the
 * next message).  Returns CT_ERROR (c->error set) on a malformed body.
 */
long http_chunked_scan(struct http_chunked *c, const char *buf, size_t len);
/*
 * As http_chunked_scan, and moves the chunk data of the bytes consumed
 * to the front of buf: buf[0..*data_len) is then that data, with the
 * sizes, extensions and trailers gone (for a peer that cannot take
 * chunks, or a filter that needs the payload).  Bytes past the returned
 * count are left where they were.
 */
long http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *data_len);

#endif

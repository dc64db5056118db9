/*
 * HTTP/1.x message heads and chunked bodies (RFC 9110, RFC 9112).
 *
 * Each CRLF of a head is found with memchr() and the line it ends is
 * checked at once, so that an error in a complete line is found before
 * the head ends.  What the fields mean (framing, Host, Connection) is
 * decided only once the blank line has come, since a later field can
 * change it.  The size limits apply to partial input too, so that a peer
 * cannot hold a buffer by never ending a line.
 *
 * http_parse_request() starts from buf[0] on every call, as
 * picohttpparser does.  A head that comes in many pieces would then cost
 * O(n^2) (1 MB in 1 KB reads: half a gigabyte looked at), so the proxy
 * calls http_parse_request_resume(), whose struct http_head_scan says
 * where the checks stopped: up to which byte the lines are checked and
 * how far the search for the current line's LF went.  Only when the
 * resumed checks reach the end of the head (or an error) is the head
 * parsed once more from buf[0], for slices that point into this buf and
 * for exactly the answer the from-scratch parse gives.  Every byte is
 * then looked at a bounded number of times, whatever the pieces.
 *
 * The chunked scanner is the other way round: a byte-wise state machine
 * that keeps its state between calls, since a body is relayed as it
 * arrives and never held whole.  The same machine can strip the framing
 * as it goes (http_chunked_decode), for a filter that needs the payload.
 *
 * Where the RFCs leave a choice, this parser takes the strict one, so
 * that no peer behind or in front of the proxy can see another message
 * boundary than it does:
 *
 * - A LF without a CR before it is an error everywhere, even as the
 *   end of a line (RFC 9112 2.2 allows accepting it; nothing needs it).
 * - Up to HTTP_EMPTY_LINES_MAX empty lines before a request line are
 *   skipped (RFC 9112 2.2: clients may send a CRLF after a body); more
 *   are 400.  None are skipped before a status line.
 * - HTTP/1.2 to HTTP/1.9 are handled as HTTP/1.1 (RFC 9112 2.3); other
 *   majors are 505, anything that is not "HTTP/" DIGIT "." DIGIT is 400.
 * - '#' in a request target is 400: no client sends a fragment, and
 *   servers disagree on whether it ends the path.
 * - An absolute-form target with a query but no path ("http://a?q") is
 *   400, so that path always starts with "/" and can be sent on as an
 *   origin-form target.
 * - A Host or authority is an IP literal or a reg-name without ','
 *   (a list separator elsewhere), with an optional port of 1 to 5
 *   digits.  An empty Host field is valid (RFC 9112 3.2).
 * - A status line may lack its reason phrase, with or without the SP
 *   before it ("HTTP/1.1 200"): many servers send that, and nothing of
 *   the framing depends on it.
 * - The transfer codings of a response that has no body (to HEAD, 1xx,
 *   204, 304) are not checked, since they describe a body that is not
 *   there; Content-Length and Transfer-Encoding together are refused
 *   in any message.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/http_parse.h"

#define HTTP_EMPTY_LINES_MAX 4          /* skipped before a request line */
#define HTTP_LENGTH_MAX (UINT64_C(1) << 62) /* leaves room for sums in off_t */
#define HTTP_CHUNK_LINE_MAX 4096        /* size and extensions, CRLF excluded */
#define HTTP_TRAILER_MAX (32 * 1024)    /* every trailer byte, CRLFs included */

/* What the fields of a head say, gathered before any of it is decided. */
struct http_fields {
	size_t hosts;                 /* Host fields */
	struct http_slice host;       /* the first one's value */
	size_t codings;               /* transfer codings listed */
	uint64_t length;              /* Content-Length, when cl */
	unsigned cl:1;                /* Content-Length present */
	unsigned te:1;                /* Transfer-Encoding present */
	unsigned chunked:1;           /* "chunked" listed */
	unsigned chunked_twice:1;     /* ... more than once */
	unsigned chunked_last:1;      /* the last coding listed is "chunked" */
	unsigned unknown:1;           /* a coding other than "chunked" listed */
	unsigned keep_alive:1;        /* Connection: keep-alive */
	unsigned expect_continue:1;   /* Expect: 100-continue */
};

static const struct http_slice http_slash = { "/", 1 };
static const struct http_slice http_empty = { "", 0 };

/* ------------------------------------------------------------------ */
/* Characters                                                          */
/* ------------------------------------------------------------------ */

/*
 * Byte classes, looked up in one table: a head is checked byte by byte,
 * and a table load is cheaper than the comparisons each class takes.
 */
enum {
	HC_T = 1 << 0,                /* tchar of RFC 9110 5.6.2 */
	HC_F = 1 << 1,                /* VCHAR, obs-text, SP, HTAB: in a field value */
	HC_R = 1 << 2,                /* in a reg-name, pct-encoded and ',' aside */
	HC_U = 1 << 3,                /* '_', which some servers read as '-' */
	HC_D = 1 << 4,                /* unreserved of RFC 3986: kept decoded in a path */
	HC_P = 1 << 5,                /* '%', '/', '?': where a path may need normalizing */
	HC_Q = 1 << 6,                /* VCHAR but '%', '/', '?': in a target, nothing to see */
};

static const unsigned char http_class[256] = {
	['\t'] = HC_F,
	[' '] = HC_F,
	['!'] = HC_T | HC_F | HC_R | HC_Q,
	['"'] = HC_F | HC_Q,
	['#'] = HC_T | HC_F | HC_Q,
	['$'] = HC_T | HC_F | HC_R | HC_Q,
	['%'] = HC_T | HC_F | HC_P,
	['&'] = HC_T | HC_F | HC_R | HC_Q,
	['\''] = HC_T | HC_F | HC_R | HC_Q,
	['('] = HC_F | HC_R | HC_Q,
	[')'] = HC_F | HC_R | HC_Q,
	['*'] = HC_T | HC_F | HC_R | HC_Q,
	['+'] = HC_T | HC_F | HC_R | HC_Q,
	[','] = HC_F | HC_Q,
	['-'] = HC_T | HC_F | HC_R | HC_D | HC_Q,
	['.'] = HC_T | HC_F | HC_R | HC_D | HC_Q,
	['/'] = HC_F | HC_P,
	['0' ... '9'] = HC_T | HC_F | HC_R | HC_D | HC_Q,
	[':'] = HC_F | HC_Q,
	[';'] = HC_F | HC_R | HC_Q,
	['<'] = HC_F | HC_Q,
	['='] = HC_F | HC_R | HC_Q,
	['>'] = HC_F | HC_Q,
	['?'] = HC_F | HC_P,
	['@'] = HC_F | HC_Q,
	['A' ... 'Z'] = HC_T | HC_F | HC_R | HC_D | HC_Q,
	['[' ... ']'] = HC_F | HC_Q,
	['^'] = HC_T | HC_F | HC_Q,
	['_'] = HC_T | HC_F | HC_R | HC_U | HC_D | HC_Q,
	['`'] = HC_T | HC_F | HC_Q,
	['a' ... 'z'] = HC_T | HC_F | HC_R | HC_D | HC_Q,
	['{'] = HC_F | HC_Q,
	['|'] = HC_T | HC_F | HC_Q,
	['}'] = HC_F | HC_Q,
	['~'] = HC_T | HC_F | HC_R | HC_D | HC_Q,
	[0x80 ... 0xff] = HC_F,
};

int
http_is_tchar(unsigned char c)
{
	return http_class[c] & HC_T;
}

/* VCHAR, obs-text, SP or HTAB: what a field value may hold. */
static inline int
http_is_field_char(unsigned char c)
{
	return http_class[c] & HC_F;
}

/* The value of a hex digit, or -1. */
static int
http_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * unreserved and sub-delims of RFC 3986, which make up a reg-name with
 * pct-encoded, less ',' so that a Host value is never taken for a list.
 */
static inline int
http_is_regname_char(unsigned char c)
{
	return http_class[c] & HC_R;
}

int
http_icase_eq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* a in any case against lc, already in lower case. */
static inline int
http_lc_eq(const char *a, const char *lc, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) != (unsigned char)lc[i])
			return 0;
	return 1;
}

int
http_slice_is(struct http_slice s, const char *str)
{
	size_t n = strlen(str);

	return s.len == n && memcmp(s.p, str, n) == 0;
}

static int
http_slice_is_token(struct http_slice s)
{
	size_t i;

	if (s.len == 0)
		return 0;
	for (i = 0; i < s.len; i++)
		if (!http_is_tchar((unsigned char)s.p[i]))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

/* Records why the message is refused and what to answer. */
static int
http_fail(struct http_head *h, int status, const char *why)
{
	h->status = status;
	h->error = why;
	return CT_ERROR;
}

/*
 * A copy of lim (the defaults when NULL) that the code can trust: no
 * more fields than the array holds, and no line longer than the head.
 */
static void
http_limits_apply(const struct http_limits *lim, struct http_limits *out)
{
	if (lim == NULL)
		http_limits_default(out);
	else
		*out = *lim;
	if (out->max_headers > HTTP_MAX_HEADERS)
		out->max_headers = HTTP_MAX_HEADERS;
	if (out->max_line > out->max_head)
		out->max_line = out->max_head;
}

/*
 * Finds the CRLF that ends the line starting at buf[pos], which may
 * hold at most max bytes before it.  CT_OK with *eol at the CR;
 * CT_AGAIN when buf ends first (every byte of the line was searched);
 * CT_DECLINED when the line is longer than max, whether it has ended or
 * not; CT_ERROR (400) for a LF without a CR.  Never looks further than
 * max + 2 bytes, nor before from when from > pos: an earlier call found
 * no LF there.
 */
static inline int
http_line_find(struct http_head *h, const char *buf, size_t len, size_t pos,
    size_t max, size_t *eol, size_t from)
{
	size_t avail = len - pos, look, i;
	const char *lf = NULL;

	if (avail == 0)
		return CT_AGAIN;
	look = avail > max && avail - max >= 2 ? max + 2 : avail;
	from = from > pos ? CT_MIN(from, pos + look) : pos;
	lf = memchr(buf + from, '\n', pos + look - from);
	if (lf != NULL) {
		i = (size_t)(lf - (buf + pos));
		if (i == 0 || buf[pos + i - 1] != '\r')
			return http_fail(h, 400, "bare LF");
		*eol = pos + i - 1;
		return CT_OK;
	}
	/* Only a CR right after max bytes could still end the line in time. */
	if (avail > max && (avail - max >= 2 || buf[pos + max] != '\r'))
		return CT_DECLINED;
	return CT_AGAIN;
}

/*
 * Skips the empty lines that may come before a request line, into
 * *pos.  CT_AGAIN when buf ends inside them.
 */
static int
http_empty_lines_skip(struct http_head *h, const char *buf, size_t len,
    size_t *pos)
{
	size_t i = 0, k;

	for (k = 0;; k++) {
		if (i == len)
			return CT_AGAIN;
		if (buf[i] == '\n')
			return http_fail(h, 400, "bare LF");
		if (buf[i] != '\r')
			break;
		if (i + 1 == len)
			return CT_AGAIN;
		if (buf[i + 1] != '\n')
			return http_fail(h, 400, "bare CR");
		if (k == HTTP_EMPTY_LINES_MAX)
			return http_fail(h, 400,
			    "too many empty lines before the request line");
		i += 2;
	}
	*pos = i;
	return CT_OK;
}

/* "HTTP/" DIGIT "." DIGIT, exactly; v has n bytes. */
static int
http_version_parse(struct http_head *h, const char *v, size_t n)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 ||
	    !http_is_digit((unsigned char)v[5]) || v[6] != '.' ||
	    !http_is_digit((unsigned char)v[7]))
		return http_fail(h, 400, "invalid HTTP version");
	if (v[5] != '1')
		return http_fail(h, 505, "unsupported HTTP version");
	h->minor = v[7] == '0' ? 0 : 1;
	return CT_OK;
}

/*
 * One field line l[0..n), CRLF excluded, n > 0, into *f.  The name must
 * touch its colon: "Name : v" is refused, since some servers would take
 * "Name " for another field than "Name".
 */
static int
http_field_parse(struct http_head *h, const char *l, size_t n,
    struct http_header *f)
{
	size_t i = 0, end;
	unsigned char c, seen = 0, k;

	if (http_is_ws((unsigned char)l[0]))
		return http_fail(h, 400, "obsolete line folding");
	while (i < n && ((k = http_class[(unsigned char)l[i]]) & HC_T)) {
		seen |= k;
		i++;
	}
	if (i == n)
		return http_fail(h, 400, "missing colon in field line");
	if (l[i] != ':')
		return http_fail(h, 400, http_is_ws((unsigned char)l[i]) ?
		    "whitespace before colon" : "invalid character in field name");
	if (i == 0)
		return http_fail(h, 400, "empty field name");
	f->name.p = l;
	f->name.len = i;
	/* No field the proxy acts on has a '_': the name needs no lookup. */
	f->id = seen & HC_U ? HTTP_F_UNDERSCORE : HTTP_F_OTHER;
	for (i++; i < n && http_is_ws((unsigned char)l[i]); i++)
		;
	for (end = n; end > i && http_is_ws((unsigned char)l[end - 1]); end--)
		;
	f->value.p = l + i;
	f->value.len = end - i;
	for (; i < end; i++) {
		c = (unsigned char)l[i];
		if (!http_is_field_char(c))
			return http_fail(h, 400, c == '\r' ? "bare CR in field value" :
			    c == '\0' ? "NUL in field value" :
			    "invalid character in field value");
	}
	return CT_OK;
}

/*
 * The field lines from buf[st->pos] to the blank line, into h->headers
 * after the h->nheaders already there; sets h->head_len.  st->pos moves
 * past each line checked; on CT_AGAIN every byte up to len was searched
 * for a LF.  A field line that has begun when max_fields are already
 * there is refused without waiting for its end.
 */
static int
http_fields_parse(struct http_head *h, const char *buf, size_t len,
    struct http_head_scan *st, size_t max_fields)
{
	size_t eol, pos = st->pos, from = st->lf_from;
	int rc;

	for (;; from = 0) {
		rc = http_line_find(h, buf, len, pos, len, &eol, from);
		if (rc == CT_AGAIN && h->nheaders == max_fields && pos < len &&
		    buf[pos] != '\r')
			rc = http_fail(h, 431, "too many header fields");
		if (rc != CT_OK)
			break;
		if (eol == pos) {
			h->head_len = pos + 2;
			break;
		}
		if (h->nheaders == max_fields) {
			rc = http_fail(h, 431, "too many header fields");
			break;
		}
		if (http_field_parse(h, buf + pos, eol - pos,
		    &h->headers[h->nheaders]) != CT_OK) {
			rc = CT_ERROR;
			break;
		}
		h->nheaders++;
		pos = eol + 2;
	}
	st->pos = pos;
	st->fields = h->nheaders;
	return rc;
}

/*
 * The head is not complete in the bytes looked at: wait for more,
 * unless there are already more than max_head of them.
 */
static int
http_head_again(struct http_head *h, size_t len, size_t max_head,
    const char *why)
{
	if (len > max_head)
		return http_fail(h, 431, why);
	return CT_AGAIN;
}

/* ------------------------------------------------------------------ */
/* Field values                                                        */
/* ------------------------------------------------------------------ */

/*
 * Steps through a comma-separated list (RFC 9110 5.6.1): *pos starts at
 * 0; each call gives the next element, OWS trimmed and possibly empty,
 * and returns 0 after the last.
 */
static int
http_list_next(struct http_slice v, size_t *pos, struct http_slice *e)
{
	size_t i = *pos, start, end;

	if (i > v.len)
		return 0;
	for (start = i; i < v.len && v.p[i] != ','; i++)
		;
	for (end = i; start < end && http_is_ws((unsigned char)v.p[start]); start++)
		;
	for (; end > start && http_is_ws((unsigned char)v.p[end - 1]); end--)
		;
	*pos = i + 1;
	e->p = v.p + start;
	e->len = end - start;
	return 1;
}

/* Digits only, no sign and no space, up to HTTP_LENGTH_MAX. */
static const char *
http_length_parse(struct http_slice e, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;

	if (e.len == 0)
		return "invalid Content-Length";
	for (i = 0; i < e.len; i++) {
		if (!http_is_digit((unsigned char)e.p[i]))
			return "invalid Content-Length";
		d = (unsigned)(e.p[i] - '0');
		if (v > (HTTP_LENGTH_MAX - d) / 10)
			return "Content-Length too large";
		v = v * 10 + d;
	}
	*out = v;
	return NULL;
}

/*
 * A Content-Length field.  A list, or several fields, are accepted when
 * all their values are the same number (RFC 9110 8.6), since some
 * senders duplicate the field; anything else is a framing conflict.
 */
static int
http_length_add(struct http_head *h, struct http_fields *fs, struct http_slice v)
{
	struct http_slice e;
	const char *why;
	size_t pos = 0;
	uint64_t n = 0;

	while (http_list_next(v, &pos, &e)) {
		if ((why = http_length_parse(e, &n)) != NULL)
			return http_fail(h, 400, why);
		if (fs->cl && n != fs->length)
			return http_fail(h, 400, "differing Content-Length values");
		fs->cl = 1;
		fs->length = n;
	}
	return CT_OK;
}

/*
 * A Transfer-Encoding field: notes the codings; http_codings_check()
 * judges them once every field is in, since the list may span fields.
 */
static int
http_codings_add(struct http_head *h, struct http_fields *fs, struct http_slice v)
{
	struct http_slice e;
	size_t pos = 0;

	fs->te = 1;
	while (http_list_next(v, &pos, &e)) {
		if (e.len == 0)
			continue;
		if (!http_slice_is_token(e))
			return http_fail(h, 400, "invalid Transfer-Encoding");
		fs->codings++;
		if (http_slice_eq(e, "chunked")) {
			if (fs->chunked)
				fs->chunked_twice = 1;
			fs->chunked = 1;
			fs->chunked_last = 1;
		} else {
			fs->unknown = 1;
			fs->chunked_last = 0;
		}
	}
	return CT_OK;
}

/*
 * Only "chunked", once and last, is understood.  A misplaced chunked is
 * a malformed message (400); a coding this proxy cannot decode, with
 * chunked last or absent, is one it does not implement (501).
 */
static int
http_codings_check(struct http_head *h, const struct http_fields *fs)
{
	if (fs->codings == 0)
		return http_fail(h, 400, "empty Transfer-Encoding");
	if (fs->chunked_twice)
		return http_fail(h, 400, "chunked applied more than once");
	if (fs->chunked && !fs->chunked_last)
		return http_fail(h, 400, "chunked is not the last transfer coding");
	if (fs->unknown)
		return http_fail(h, 501, "unsupported transfer coding");
	return CT_OK;
}

/* Connection options; unknown ones are ignored, malformed ones refused. */
static int
http_connection_add(struct http_head *h, struct http_fields *fs,
    struct http_slice v)
{
	struct http_slice e;
	size_t pos = 0;

	while (http_list_next(v, &pos, &e)) {
		if (e.len == 0)
			continue;
		if (!http_slice_is_token(e))
			return http_fail(h, 400, "invalid Connection");
		if (http_slice_eq(e, "keep-alive"))
			fs->keep_alive = 1;
		else if (http_slice_eq(e, "upgrade"))
			h->conn_upgrade = 1;
		else
			h->conn_options = 1;
		if (http_slice_eq(e, "close"))
			h->conn_close = 1;
	}
	return CT_OK;
}

/* Goes once over the fields, names each (id) and gathers what they say into *fs. */
static int
http_fields_scan(struct http_head *h, struct http_fields *fs)
{
	struct http_header *f;
	size_t i;
	int rc = CT_OK;

	memset(fs, 0, sizeof(*fs));
	for (i = 0; i < h->nheaders && rc == CT_OK; i++) {
		f = &h->headers[i];
		if (f->id != HTTP_F_UNDERSCORE)
			f->id = http_field_id(f->name);
		switch (f->id) {
		case HTTP_F_CONTENT_LENGTH:
			rc = http_length_add(h, fs, f->value);
			break;
		case HTTP_F_TRANSFER_ENCODING:
			rc = http_codings_add(h, fs, f->value);
			break;
		case HTTP_F_CONNECTION:
			rc = http_connection_add(h, fs, f->value);
			break;
		case HTTP_F_UPGRADE:
			h->has_upgrade = 1;
			break;
		case HTTP_F_HOST:
			if (fs->hosts++ == 0)
				fs->host = f->value;
			break;
		case HTTP_F_EXPECT:
			if (http_slice_eq(f->value, "100-continue"))
				fs->expect_continue = 1;
			break;
		default:
			break;
		}
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Hosts and targets                                                   */
/* ------------------------------------------------------------------ */

/* 1 to 5 digits, at most 65535. */
static const char *
http_port_check(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return "invalid port";
	for (i = 0; i < n; i++) {
		if (!http_is_digit((unsigned char)s[i]))
			return "invalid port";
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v > 65535 ? "invalid port" : NULL;
}

/* "[" IPv6address "]" at the start of s; *used: its length. */
static const char *
http_ip_literal_check(const char *s, size_t n, size_t *used)
{
	const char *close = memchr(s, ']', n);
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	size_t alen;

	if (close == NULL)
		return "unterminated IPv6 literal";
	alen = (size_t)(close - s) - 1;
	if (alen == 0 || alen >= sizeof(tmp))
		return "invalid IPv6 literal";
	memcpy(tmp, s + 1, alen);
	tmp[alen] = '\0';
	if (inet_pton(AF_INET6, tmp, &a6) != 1)
		return "invalid IPv6 literal";
	*used = alen + 2;
	return NULL;
}

/*
 * Why s[0..n) (n > 0) is not uri-host [":" port] (RFC 9110 7.2, 4.2.1),
 * or NULL.  Userinfo is named apart because "user@host" is the form
 * that misleads: some would route it to "host", others to "user".
 */
static const char *
http_host_check(const char *s, size_t n, int need_port)
{
	const char *why;
	size_t i = 0;

	if (memchr(s, '@', n) != NULL)
		return "userinfo in host";
	if (s[0] == '[') {
		if ((why = http_ip_literal_check(s, n, &i)) != NULL)
			return why;
	} else {
		while (i < n && s[i] != ':') {
			if (s[i] == '%') {
				if (n - i < 3 ||
				    http_hex_value((unsigned char)s[i + 1]) < 0 ||
				    http_hex_value((unsigned char)s[i + 2]) < 0)
					return "invalid percent-encoding in host";
				i += 3;
			} else if (http_is_regname_char((unsigned char)s[i])) {
				i++;
			} else {
				return "invalid character in host";
			}
		}
		if (i == 0)
			return "empty host";
	}
	if (i == n)
		return need_port ? "missing port" : NULL;
	if (s[i] != ':')
		return "invalid character after IPv6 literal";
	return http_port_check(s + i + 1, n - i - 1);
}

/*
 * "http://" or "https://" (any case), an authority, then the path and
 * query.  Userinfo and empty hosts are refused: the proxy routes on
 * this authority, so it must mean one thing.
 */
static int
http_absolute_parse(struct http_request *req)
{
	struct http_head *h = &req->h;
	struct http_slice t = req->target;
	const char *a, *why;
	size_t skip, rest, i;

	if (t.len >= 7 && http_icase_eq(t.p, "http://", 7))
		skip = 7;
	else if (t.len >= 8 && http_icase_eq(t.p, "https://", 8))
		skip = 8;
	else
		return http_fail(h, 400, "invalid request target");
	a = t.p + skip;
	rest = t.len - skip;
	for (i = 0; i < rest && a[i] != '/' && a[i] != '?'; i++)
		;
	if (i == 0)
		return http_fail(h, 400, "missing host in request target");
	if ((why = http_host_check(a, i, 0)) != NULL)
		return http_fail(h, 400, why);
	if (i < rest && a[i] == '?')
		return http_fail(h, 400, "query without a path in request target");
	req->form = HTTP_TARGET_ABSOLUTE;
	req->host.p = a;
	req->host.len = i;
	if (i == rest) {
		req->path = http_slash;
	} else {
		req->path.p = a + i;
		req->path.len = rest - i;
	}
	return CT_OK;
}

/* The form of the target, which the method decides (RFC 9112 3.2). */
static int
http_target_parse(struct http_request *req)
{
	struct http_head *h = &req->h;
	struct http_slice t = req->target;
	const char *why;

	req->host = http_empty;
	req->path = http_empty;
	if (memchr(t.p, '#', t.len) != NULL)
		return http_fail(h, 400, "fragment in request target");
	if (req->is_connect) {
		if (t.p[0] == '/' || http_slice_is(t, "*"))
			return http_fail(h, 400,
			    "CONNECT requires an authority-form target");
		if ((why = http_host_check(t.p, t.len, 1)) != NULL)
			return http_fail(h, 400, why);
		req->form = HTTP_TARGET_AUTHORITY;
		req->host = t;
		return CT_OK;
	}
	if (http_slice_is(t, "*")) {
		if (!http_slice_is(req->method, "OPTIONS"))
			return http_fail(h, 400, "asterisk-form is only for OPTIONS");
		req->form = HTTP_TARGET_ASTERISK;
		req->path = t;
		return CT_OK;
	}
	if (t.p[0] == '/') {
		req->form = HTTP_TARGET_ORIGIN;
		req->path = t;
		return CT_OK;
	}
	return http_absolute_parse(req);
}

/* ------------------------------------------------------------------ */
/* Paths for routing                                                   */
/* ------------------------------------------------------------------ */

/*
 * Does the path (up to '?') of p[0..n) need http_path_normalize's
 * work?  One pass, since most paths do not.
 */
static int
http_path_plain(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!(http_class[(unsigned char)p[i]] & HC_P))
			continue;
		if (p[i] == '?')
			return 1;
		if (p[i] == '%' || (i + 1 < n && (p[i + 1] == '/' || p[i + 1] == '.')))
			return 0;
	}
	return 1;
}

/* p[0..n) into out, escapes of unreserved characters decoded: the new length. */
static const char *
http_path_decode(const char *p, size_t n, char *out, size_t *out_len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (p[i] != '%') {
			out[o++] = p[i];
			continue;
		}
		if (n - i < 3 || (hi = http_hex_value((unsigned char)p[i + 1])) < 0 ||
		    (lo = http_hex_value((unsigned char)p[i + 2])) < 0)
			return "invalid percent-encoding in path";
		if (http_class[hi << 4 | lo] & HC_D) {
			out[o++] = (char)(hi << 4 | lo);
		} else {
			out[o++] = '%';
			out[o++] = hex[hi];
			out[o++] = hex[lo];
		}
		i += 2;
	}
	*out_len = o;
	return NULL;
}

/*
 * Removes "." and ".." segments and empty ones (but a last one, which
 * is a trailing '/') from b[0..*len), which starts with '/', in place.
 */
static const char *
http_path_segments(char *b, size_t *len)
{
	size_t r = 0, w = 0, m = *len, end, seg;

	while (r < m) {
		for (end = r + 1; end < m && b[end] != '/'; end++)
			;
		seg = end - r - 1;
		if (seg == 0 || (seg == 1 && b[r + 1] == '.')) {
			/* nothing */
		} else if (seg == 2 && b[r + 1] == '.' && b[r + 2] == '.') {
			if (w == 0)
				return "path above the root";
			while (b[--w] != '/')
				;
		} else {
			memmove(b + w, b + r, end - r);
			w += end - r;
			r = end;
			continue;
		}
		if (end == m)
			b[w++] = '/';
		r = end;
	}
	*len = w;
	return NULL;
}

int
http_path_normalize(struct http_slice path, char *out, size_t *out_len,
    const char **why)
{
	const char *q;
	size_t plen, n;

	if (path.len == 0 || path.p[0] != '/' || http_path_plain(path.p, path.len))
		return CT_DECLINED;
	if (out == NULL)
		return CT_AGAIN;
	q = memchr(path.p, '?', path.len);
	plen = q != NULL ? (size_t)(q - path.p) : path.len;
	if ((*why = http_path_decode(path.p, plen, out, &n)) != NULL ||
	    (*why = http_path_segments(out, &n)) != NULL)
		return CT_ERROR;
	if (n == plen && memcmp(out, path.p, n) == 0)
		return CT_DECLINED;
	memcpy(out + n, path.p + plen, path.len - plen);
	*out_len = n + path.len - plen;
	return CT_OK;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* Sets the flags that follow from the method alone. */
static void
http_method_classify(struct http_request *req)
{
	static const char *const idempotent[] = {
		"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"
	};
	size_t i;

	req->is_head = http_slice_is(req->method, "HEAD");
	req->is_connect = http_slice_is(req->method, "CONNECT");
	for (i = 0; i < CT_NELEM(idempotent); i++)
		if (http_slice_is(req->method, idempotent[i]))
			req->idempotent = 1;
}

/*
 * method SP request-target SP HTTP-version, l[0..n), n > 0: exactly one
 * SP each, so that a lenient peer cannot read a space inside the target
 * as the end of it.
 */
static int
http_request_line_parse(struct http_request *req, const char *l, size_t n)
{
	struct http_head *h = &req->h;
	size_t i = 0, t;
	int query = 0;

	while (i < n && http_is_tchar((unsigned char)l[i]))
		i++;
	if (i == 0)
		return http_fail(h, 400, l[0] == ' ' ?
		    "extra whitespace in request line" : "invalid character in method");
	if (i == n)
		return http_fail(h, 400, "missing request target");
	if (l[i] != ' ')
		return http_fail(h, 400, "invalid character in method");
	req->method.p = l;
	req->method.len = i;
	/* Visible ASCII; on the way, notes a path that routing must normalize. */
	for (t = ++i; i < n; i++) {
		if (http_class[(unsigned char)l[i]] & HC_Q)
			continue;
		if (!(http_class[(unsigned char)l[i]] & HC_P))
			break;
		if (query)
			continue;
		if (l[i] == '?')
			query = 1;
		else if (l[i] == '%' || (i + 1 < n && (l[i + 1] == '/' || l[i + 1] == '.')))
			req->path_check = 1;
	}
	if (i == t)
		return http_fail(h, 400, i == n ? "missing request target" :
		    l[i] == ' ' ? "extra whitespace in request line" :
		    "invalid character in request target");
	if (i == n)
		return http_fail(h, 400, "missing HTTP version");
	if (l[i] != ' ')
		return http_fail(h, 400, "invalid character in request target");
	req->target.p = l + t;
	req->target.len = i - t;
	if (++i < n && l[i] == ' ')
		return http_fail(h, 400, "extra whitespace in request line");
	if (http_version_parse(h, l + i, n - i) != CT_OK)
		return CT_ERROR;
	http_method_classify(req);
	return http_target_parse(req);
}

/*
 * Host (RFC 9112 3.2): exactly one in HTTP/1.1, at most one in 1.0, and
 * valid wherever it is, even when an absolute target overrides it.
 */
static int
http_request_host(struct http_request *req, const struct http_fields *fs)
{
	struct http_head *h = &req->h;
	const char *why;

	if (fs->hosts > 1)
		return http_fail(h, 400, "duplicate Host field");
	if (fs->hosts == 0 && h->minor == 1)
		return http_fail(h, 400, "missing Host field");
	if (fs->hosts == 1 && fs->host.len > 0 &&
	    (why = http_host_check(fs->host.p, fs->host.len, 0)) != NULL)
		return http_fail(h, 400, why);
	if (fs->hosts == 1 && req->form != HTTP_TARGET_ABSOLUTE &&
	    req->form != HTTP_TARGET_AUTHORITY)
		req->host = fs->host;
	return CT_OK;
}

/*
 * Body framing of a request (RFC 9112 6.3).  Transfer-Encoding in 1.0
 * is refused rather than handled, as 6.1 says to treat it as faulty
 * framing.
 */
static int
http_request_framing(struct http_request *req, const struct http_fields *fs)
{
	struct http_head *h = &req->h;

	if (fs->te && fs->cl)
		return http_fail(h, 400, "both Content-Length and Transfer-Encoding");
	if (fs->te) {
		if (h->minor == 0)
			return http_fail(h, 400, "Transfer-Encoding in HTTP/1.0");
		if (http_codings_check(h, fs) != CT_OK)
			return CT_ERROR;
		h->framing = HTTP_BODY_CHUNKED;
	} else if (fs->cl) {
		h->framing = HTTP_BODY_LENGTH;
		h->content_length = fs->length;
	} else {
		h->framing = HTTP_BODY_NONE;
	}
	return CT_OK;
}

/* What the fields of a complete request head mean. */
static int
http_request_finish(struct http_request *req)
{
	struct http_head *h = &req->h;
	struct http_fields fs;

	if (http_fields_scan(h, &fs) != CT_OK ||
	    http_request_host(req, &fs) != CT_OK ||
	    http_request_framing(req, &fs) != CT_OK)
		return CT_ERROR;
	h->keep_alive = !h->conn_close && (h->minor == 1 || fs.keep_alive);
	/* RFC 9110 10.1.1: an HTTP/1.0 client cannot expect 100. */
	req->expect_continue = fs.expect_continue && h->minor == 1;
	return CT_OK;
}

void
http_limits_default(struct http_limits *lim)
{
	lim->max_line = 8192;
	lim->max_head = 32768;
	lim->max_headers = HTTP_MAX_HEADERS;
}

/*
 * The request line and the field lines from where st says the checks
 * stopped.  Only the first max_head bytes are looked at: a head that
 * has not ended in them is too large, whatever follows.  With resumed,
 * req has only what this call parsed: the caller parses again from
 * buf[0] once the head has ended, and nothing is decided here.
 */
static int
http_request_head_parse(const char *buf, size_t len, const struct http_limits *l,
    struct http_request *req, struct http_head_scan *st, int resumed)
{
	struct http_head *h = &req->h;
	size_t n = CT_MIN(len, l->max_head), pos = 0, eol;
	int rc;

	if (!st->line) {
		rc = http_empty_lines_skip(h, buf, n, &pos);
		if (rc == CT_OK)
			rc = http_line_find(h, buf, n, pos, l->max_line, &eol, st->lf_from);
		if (rc == CT_DECLINED)
			return http_fail(h, 414, "request line too long");
		if (rc == CT_AGAIN) {
			st->lf_from = n;
			return http_head_again(h, len, l->max_head,
			    "request head too large");
		}
		if (rc != CT_OK)
			return rc;
		if (http_request_line_parse(req, buf + pos, eol - pos) != CT_OK)
			return CT_ERROR;
		st->line = 1;
		st->pos = eol + 2;
	}
	h->nheaders = st->fields;
	rc = http_fields_parse(h, buf, n, st, l->max_headers);
	if (rc == CT_AGAIN) {
		st->lf_from = n;
		return http_head_again(h, len, l->max_head, "request head too large");
	}
	if (rc != CT_OK || resumed)
		return rc;
	return http_request_finish(req);
}

int
http_parse_request(const char *buf, size_t len, const struct http_limits *lim,
    struct http_request *req)
{
	struct http_head_scan st;

	memset(&st, 0, sizeof(st));
	return http_parse_request_resume(buf, len, lim, req, &st);
}

/*
 * A call that starts where an earlier one stopped checks only the new
 * lines; once they end the head, or fail, the head is parsed again from
 * buf[0], so that the slices point into this buf and the answer is the
 * one a parse from scratch gives.
 */
int
http_parse_request_resume(const char *buf, size_t len, const struct http_limits *lim,
    struct http_request *req, struct http_head_scan *st)
{
	struct http_limits l;
	size_t pos = st->pos, from = CT_MAX(st->pos, st->lf_from);
	int resumed = st->line || st->lf_from > 0, rc;
	uint64_t looked;

	http_request_clear(req);
	http_limits_apply(lim, &l);
	rc = http_request_head_parse(buf, len, &l, req, st, resumed);
	/* The cost, for tests: bytes searched for a LF, and lines checked. */
	if (rc == CT_AGAIN) {
		st->looked += st->lf_from - CT_MIN(from, st->lf_from) + st->pos - pos;
		return rc;
	}
	if (!resumed)
		return rc;
	/* What this call went over, then a parse from scratch. */
	looked = st->looked + 2 * (CT_MIN(len, l.max_head) - CT_MIN(from, len)) +
	    2 * CT_MIN(len, l.max_head);
	memset(st, 0, sizeof(*st));
	rc = http_request_head_parse(buf, len, &l, req, st, 0);
	st->looked = looked;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* HTTP-version SP 3DIGIT [SP reason-phrase], l[0..n). */
static int
http_status_line_parse(struct http_response *resp, const char *l, size_t n)
{
	struct http_head *h = &resp->h;
	size_t i;

	if (http_version_parse(h, l, CT_MIN(n, 8)) != CT_OK)
		return CT_ERROR;
	if (n == 8)
		return http_fail(h, 502, "missing status code");
	if (l[8] != ' ' || n < 12 || !http_is_digit((unsigned char)l[9]) ||
	    !http_is_digit((unsigned char)l[10]) ||
	    !http_is_digit((unsigned char)l[11]) || (n > 12 && l[12] != ' '))
		return http_fail(h, 502, "invalid status code");
	resp->code = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (resp->code < 100 || resp->code > 599)
		return http_fail(h, 502, "invalid status code");
	i = n > 12 ? 13 : 12;
	resp->reason.p = l + i;
	resp->reason.len = n - i;
	for (; i < n; i++)
		if (!http_is_field_char((unsigned char)l[i]))
			return http_fail(h, 502, "invalid character in reason phrase");
	return CT_OK;
}

/* Body framing of a response (RFC 9112 6.3), and whether the connection lasts. */
static int
http_response_finish(struct http_response *resp, int head_request)
{
	struct http_head *h = &resp->h;
	struct http_fields fs;
	int bodyless = head_request || resp->code < 200 || resp->code == 204 ||
	    resp->code == 304;

	if (http_fields_scan(h, &fs) != CT_OK)
		return CT_ERROR;
	if (fs.te && fs.cl)
		return http_fail(h, 502, "both Content-Length and Transfer-Encoding");
	if (bodyless) {
		h->framing = HTTP_BODY_NONE;
	} else if (fs.te) {
		if (h->minor == 0)
			return http_fail(h, 502, "Transfer-Encoding in HTTP/1.0");
		if (http_codings_check(h, &fs) != CT_OK)
			return CT_ERROR;
		h->framing = HTTP_BODY_CHUNKED;
	} else if (fs.cl) {
		h->framing = HTTP_BODY_LENGTH;
		h->content_length = fs.length;
	} else {
		h->framing = HTTP_BODY_CLOSE;
	}
	h->keep_alive = !h->conn_close && (h->minor == 1 || fs.keep_alive) &&
	    h->framing != HTTP_BODY_CLOSE;
	return CT_OK;
}

static int
http_response_head_parse(const char *buf, size_t len, const struct http_limits *l,
    int head_request, struct http_response *resp)
{
	struct http_head *h = &resp->h;
	size_t n = CT_MIN(len, l->max_head), eol;
	struct http_head_scan st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = http_line_find(h, buf, n, 0, l->max_line, &eol, 0);
	if (rc == CT_DECLINED)
		return http_fail(h, 502, "status line too long");
	if (rc == CT_AGAIN)
		return http_head_again(h, len, l->max_head, "response head too large");
	if (rc != CT_OK)
		return rc;
	if (http_status_line_parse(resp, buf, eol) != CT_OK)
		return CT_ERROR;
	st.pos = eol + 2;
	rc = http_fields_parse(h, buf, n, &st, l->max_headers);
	if (rc == CT_AGAIN)
		return http_head_again(h, len, l->max_head, "response head too large");
	if (rc != CT_OK)
		return rc;
	return http_response_finish(resp, head_request);
}

/*
 * Every error is 502: a bad response is the upstream's fault, and the
 * client is told so whatever the detail, which goes to the log.
 */
int
http_parse_response(const char *buf, size_t len, const struct http_limits *lim,
    int head_request, struct http_response *resp)
{
	struct http_limits l;
	int rc;

	http_response_clear(resp);
	http_limits_apply(lim, &l);
	rc = http_response_head_parse(buf, len, &l, head_request, resp);
	if (rc == CT_ERROR)
		resp->h.status = 502;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Lookups                                                             */
/* ------------------------------------------------------------------ */

const struct http_header *
http_header_find(const struct http_head *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->nheaders; i++)
		if (http_slice_eq(h->headers[i].name, name))
			return &h->headers[i];
	return NULL;
}

const struct http_header *
http_header_find_id(const struct http_head *h, enum http_field_id id)
{
	size_t i;

	for (i = 0; i < h->nheaders; i++)
		if (h->headers[i].id == id)
			return &h->headers[i];
	return NULL;
}

/* The length picks at most three candidates, so most names cost one compare. */
enum http_field_id
http_field_id(struct http_slice name)
{
#define IS(lc, id) do { \
		if (http_lc_eq(name.p, lc, name.len)) \
			return id; \
	} while (0)
	switch (name.len) {
	case 2:
		IS("te", HTTP_F_TE);
		break;
	case 3:
		IS("via", HTTP_F_VIA);
		break;
	case 4:
		IS("host", HTTP_F_HOST);
		break;
	case 6:
		IS("cookie", HTTP_F_COOKIE);
		IS("expect", HTTP_F_EXPECT);
		break;
	case 7:
		IS("upgrade", HTTP_F_UPGRADE);
		IS("trailer", HTTP_F_TRAILER);
		break;
	case 9:
		IS("forwarded", HTTP_F_FORWARDED);
		break;
	case 10:
		IS("connection", HTTP_F_CONNECTION);
		IS("keep-alive", HTTP_F_KEEP_ALIVE);
		break;
	case 12:
		IS("content-type", HTTP_F_CONTENT_TYPE);
		break;
	case 13:
		IS("cache-control", HTTP_F_CACHE_CONTROL);
		IS("content-range", HTTP_F_CONTENT_RANGE);
		break;
	case 14:
		IS("content-length", HTTP_F_CONTENT_LENGTH);
		break;
	case 15:
		IS("accept-encoding", HTTP_F_ACCEPT_ENCODING);
		IS("x-forwarded-for", HTTP_F_X_FORWARDED_FOR);
		break;
	case 16:
		IS("content-encoding", HTTP_F_CONTENT_ENCODING);
		IS("proxy-connection", HTTP_F_PROXY_CONNECTION);
		IS("x-forwarded-host", HTTP_F_X_FORWARDED_HOST);
		break;
	case 17:
		IS("transfer-encoding", HTTP_F_TRANSFER_ENCODING);
		IS("x-forwarded-proto", HTTP_F_X_FORWARDED_PROTO);
		break;
	case 19:
		IS("proxy-authorization", HTTP_F_PROXY_AUTHORIZATION);
		break;
	}
#undef IS
	return HTTP_F_OTHER;
}

int
http_slice_eq(struct http_slice s, const char *str)
{
	size_t n = strlen(str);

	return s.len == n && http_icase_eq(s.p, str, n);
}

/* ------------------------------------------------------------------ */
/* Chunked bodies                                                      */
/* ------------------------------------------------------------------ */

enum http_chunk_state {
	HTTP_CHUNK_SIZE,              /* hex digits of a chunk size */
	HTTP_CHUNK_SIZE_WS,           /* whitespace in a size line: ';' must follow */
	HTTP_CHUNK_EXT_START,         /* after ';': whitespace, then a name */
	HTTP_CHUNK_EXT_NAME,          /* an extension name */
	HTTP_CHUNK_EXT_NAME_WS,       /* whitespace after a name: '=' or ';' next */
	HTTP_CHUNK_EXT_VALUE_START,   /* after '=': whitespace, then a value */
	HTTP_CHUNK_EXT_TOKEN,         /* a token value */
	HTTP_CHUNK_EXT_QUOTED,        /* inside a quoted-string value */
	HTTP_CHUNK_EXT_ESCAPE,        /* after a backslash in a quoted-string */
	HTTP_CHUNK_EXT_QUOTED_END,    /* after the closing quote */
	HTTP_CHUNK_SIZE_LF,           /* the LF ending the size line */
	HTTP_CHUNK_DATA,              /* remaining bytes of chunk data */
	HTTP_CHUNK_DATA_CR,           /* the CR after the data */
	HTTP_CHUNK_DATA_LF,           /* the LF after the data */
	HTTP_CHUNK_TRAILER_START,     /* a trailer line, or the final CRLF */
	HTTP_CHUNK_TRAILER_NAME,      /* a trailer field name */
	HTTP_CHUNK_TRAILER_VALUE,     /* a trailer field value */
	HTTP_CHUNK_TRAILER_LF,        /* the LF ending a trailer line */
	HTTP_CHUNK_FINAL_LF,          /* the LF ending the body */
	HTTP_CHUNK_DONE,              /* the body has ended */
	HTTP_CHUNK_ERROR              /* malformed; nothing more is read */
};

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = HTTP_CHUNK_SIZE;
}

static int
http_chunk_fail(struct http_chunked *c, const char *why)
{
	c->state = HTTP_CHUNK_ERROR;
	c->error = why;
	return CT_ERROR;
}

/* After a size, a name or a value: another extension, whitespace or the end. */
static int
http_chunk_ext_next(struct http_chunked *c, unsigned char ch, const char *why)
{
	if (ch == ';')
		c->state = HTTP_CHUNK_EXT_START;
	else if (http_is_ws(ch))
		c->state = HTTP_CHUNK_SIZE_WS;
	else if (ch == '\r')
		c->state = HTTP_CHUNK_SIZE_LF;
	else
		return http_chunk_fail(c, why);
	return CT_OK;
}

/* The size digits, and what ends them. */
static int
http_chunk_size_digit(struct http_chunked *c, unsigned char ch)
{
	int d = http_hex_value(ch);

	if (d < 0) {
		if (c->size_digits == 0)
			return http_chunk_fail(c, "missing chunk size");
		return http_chunk_ext_next(c, ch, "invalid character in chunk size");
	}
	/*
	 * Significant digits count, not leading zeros (RFC 9112 7.1 sets no
	 * bound on them; the line length does): a 17th would not fit.
	 */
	c->size_digits++;
	if (c->remaining >> 60 != 0)
		return http_chunk_fail(c, "chunk size has more than 16 significant digits");
	c->remaining = c->remaining << 4 | (uint64_t)d;
	return CT_OK;
}

/*
 * chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
 * (RFC 9112 7.1.1): whitespace only next to ';' and '=', so that
 * "5 \r\n" is refused like any other junk after a size.
 */
static int
http_chunk_ext_step(struct http_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case HTTP_CHUNK_SIZE_WS:
		if (http_is_ws(ch))
			return CT_OK;
		if (ch != ';')
			return http_chunk_fail(c, "whitespace in chunk size line");
		c->state = HTTP_CHUNK_EXT_START;
		return CT_OK;
	case HTTP_CHUNK_EXT_START:
	case HTTP_CHUNK_EXT_VALUE_START:
		if (http_is_ws(ch))
			return CT_OK;
		if (ch == '"' && c->state == HTTP_CHUNK_EXT_VALUE_START)
			c->state = HTTP_CHUNK_EXT_QUOTED;
		else if (http_is_tchar(ch))
			c->state = c->state == HTTP_CHUNK_EXT_START ?
			    HTTP_CHUNK_EXT_NAME : HTTP_CHUNK_EXT_TOKEN;
		else
			return http_chunk_fail(c, "invalid chunk extension");
		return CT_OK;
	case HTTP_CHUNK_EXT_NAME:
	case HTTP_CHUNK_EXT_NAME_WS:
		if (http_is_tchar(ch) && c->state == HTTP_CHUNK_EXT_NAME)
			return CT_OK;
		if (ch == '=')
			c->state = HTTP_CHUNK_EXT_VALUE_START;
		else if (http_is_ws(ch))
			c->state = HTTP_CHUNK_EXT_NAME_WS;
		else if (ch == ';')
			c->state = HTTP_CHUNK_EXT_START;
		else if (ch == '\r' && c->state == HTTP_CHUNK_EXT_NAME)
			c->state = HTTP_CHUNK_SIZE_LF;
		else
			return http_chunk_fail(c, "invalid chunk extension");
		return CT_OK;
	case HTTP_CHUNK_EXT_TOKEN:
		if (http_is_tchar(ch))
			return CT_OK;
		return http_chunk_ext_next(c, ch, "invalid chunk extension");
	default:
		return http_chunk_ext_next(c, ch, "invalid chunk extension");
	}
}

/* qdtext and quoted-pair (RFC 9110 5.6.4). */
static int
http_chunk_quoted_step(struct http_chunked *c, unsigned char ch)
{
	if (!http_is_field_char(ch))
		return http_chunk_fail(c, "invalid character in chunk extension");
	if (c->state == HTTP_CHUNK_EXT_ESCAPE)
		c->state = HTTP_CHUNK_EXT_QUOTED;
	else if (ch == '"')
		c->state = HTTP_CHUNK_EXT_QUOTED_END;
	else if (ch == '\\')
		c->state = HTTP_CHUNK_EXT_ESCAPE;
	return CT_OK;
}

/* One byte of a size line: the size, its extensions, its CRLF. */
static int
http_chunk_line_step(struct http_chunked *c, unsigned char ch)
{
	if (ch == '\n' && c->state != HTTP_CHUNK_SIZE_LF)
		return http_chunk_fail(c, "bare LF in chunk size line");
	if (ch != '\r' && ch != '\n' && ++c->line_len > HTTP_CHUNK_LINE_MAX)
		return http_chunk_fail(c, "chunk size line too long");
	switch (c->state) {
	case HTTP_CHUNK_SIZE:
		return http_chunk_size_digit(c, ch);
	case HTTP_CHUNK_EXT_QUOTED:
	case HTTP_CHUNK_EXT_ESCAPE:
		return http_chunk_quoted_step(c, ch);
	case HTTP_CHUNK_SIZE_LF:
		if (ch != '\n')
			return http_chunk_fail(c, "bare CR in chunk size line");
		c->state = c->remaining == 0 ? HTTP_CHUNK_TRAILER_START :
		    HTTP_CHUNK_DATA;
		return CT_OK;
	default:
		return http_chunk_ext_step(c, ch);
	}
}

/*
 * One byte of the trailer section: field lines as in a head (no
 * obs-fold, no whitespace before the colon), then an empty line.
 */
static int
http_chunk_trailer_step(struct http_chunked *c, unsigned char ch)
{
	if (++c->trailer_len > HTTP_TRAILER_MAX)
		return http_chunk_fail(c, "trailer section too large");
	if (ch == '\n' && c->state != HTTP_CHUNK_TRAILER_LF &&
	    c->state != HTTP_CHUNK_FINAL_LF)
		return http_chunk_fail(c, "bare LF in trailer section");
	switch (c->state) {
	case HTTP_CHUNK_TRAILER_START:
		if (ch == '\r')
			c->state = HTTP_CHUNK_FINAL_LF;
		else if (http_is_tchar(ch))
			c->state = HTTP_CHUNK_TRAILER_NAME;
		else
			return http_chunk_fail(c, http_is_ws(ch) ?
			    "obsolete line folding in trailer section" :
			    "invalid character in trailer field name");
		return CT_OK;
	case HTTP_CHUNK_TRAILER_NAME:
		if (ch == ':')
			c->state = HTTP_CHUNK_TRAILER_VALUE;
		else if (!http_is_tchar(ch))
			return http_chunk_fail(c, http_is_ws(ch) ?
			    "whitespace before colon in trailer section" :
			    "invalid character in trailer field name");
		return CT_OK;
	case HTTP_CHUNK_TRAILER_VALUE:
		if (ch == '\r')
			c->state = HTTP_CHUNK_TRAILER_LF;
		else if (!http_is_field_char(ch))
			return http_chunk_fail(c,
			    "invalid character in trailer field value");
		return CT_OK;
	default:
		if (ch != '\n')
			return http_chunk_fail(c, "bare CR in trailer section");
		c->state = c->state == HTTP_CHUNK_FINAL_LF ? HTTP_CHUNK_DONE :
		    HTTP_CHUNK_TRAILER_START;
		c->done = c->state == HTTP_CHUNK_DONE;
		return CT_OK;
	}
}

/* One byte of anything but chunk data. */
static int
http_chunk_step(struct http_chunked *c, unsigned char ch)
{
	switch (c->state) {
	case HTTP_CHUNK_DATA_CR:
		if (ch != '\r')
			return http_chunk_fail(c, "missing CRLF after chunk data");
		c->state = HTTP_CHUNK_DATA_LF;
		return CT_OK;
	case HTTP_CHUNK_DATA_LF:
		if (ch != '\n')
			return http_chunk_fail(c, "missing CRLF after chunk data");
		c->state = HTTP_CHUNK_SIZE;
		c->remaining = 0;
		c->size_digits = 0;
		c->line_len = 0;
		return CT_OK;
	default:
		if (c->state < HTTP_CHUNK_DATA)
			return http_chunk_line_step(c, ch);
		return http_chunk_trailer_step(c, ch);
	}
}

/*
 * Scans buf[0..len) and, when out is not NULL, moves the chunk data to
 * out (which is buf, or behind it: the data never overtakes the scan).
 * Data is skipped a whole piece at a time; only the framing around it
 * is read byte by byte.  An error is final: the scanner answers
 * CT_ERROR from then on.
 */
static long
http_chunked_run(struct http_chunked *c, const char *buf, size_t len,
    char *out, size_t *out_len)
{
	size_t i = 0, o = 0, take;

	if (c->state == HTTP_CHUNK_ERROR)
		return CT_ERROR;
	if (len > LONG_MAX)
		len = LONG_MAX;
	while (i < len && c->state != HTTP_CHUNK_DONE) {
		if (c->state == HTTP_CHUNK_DATA) {
			take = c->remaining < len - i ? (size_t)c->remaining : len - i;
			if (out != NULL && take > 0)
				memmove(out + o, buf + i, take);
			o += take;
			i += take;
			c->remaining -= take;
			c->data_total += take;
			if (c->remaining == 0)
				c->state = HTTP_CHUNK_DATA_CR;
			continue;
		}
		if (http_chunk_step(c, (unsigned char)buf[i]) != CT_OK)
			return CT_ERROR;
		i++;
	}
	if (out_len != NULL)
		*out_len = o;
	return (long)i;
}

long
http_chunked_scan(struct http_chunked *c, const char *buf, size_t len)
{
	return http_chunked_run(c, buf, len, NULL, NULL);
}

long
http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *data_len)
{
	*data_len = 0;
	return http_chunked_run(c, buf, len, buf, data_len);
}

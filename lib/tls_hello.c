/*
 * The ClientHello of a TLS client, read without decrypting anything, so
 * that a tcp listener can pick an upstream by server name and ALPN and
 * then relay the connection untouched.
 *
 * The hello is parsed again from buf[0] on every call, like the HTTP
 * heads: the caller only peeks, so there is no state to keep between
 * calls.  A handshake message may be cut into records anywhere (RFC 8446
 * 5.1), even inside a length field, so the fields are not read from one
 * contiguous copy but through a reader that steps over record headers
 * as it meets them (struct tls_reader).  No reassembly buffer is needed.
 *
 * CT_AGAIN means "a prefix of a valid hello": every length is checked
 * against the one that encloses it, and against what must still follow
 * it, as soon as its bytes are there, not when the bytes it announces
 * have come.  A client that lies about a length is refused at once,
 * and garbage at its first byte, rather than held until a timeout.
 */
#include <stdint.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/tls_hello.h"

#define TLS_CT_HANDSHAKE      22    /* record content type */
#define TLS_HS_CLIENT_HELLO   1     /* handshake message type */
#define TLS_EXT_SERVER_NAME   0
#define TLS_EXT_ALPN          16
#define TLS_NAME_HOST         0     /* server_name name_type host_name */
#define TLS_RECORD_HEADER     5
#define TLS_HS_HEADER         4
/* version, random, and the least of session_id, cipher_suites, compression_methods */
#define TLS_HELLO_MIN         (2 + 32 + 1 + (2 + 2) + (1 + 1))

#define TLS_TRY(expr) do { int rc_ = (expr); if (rc_ != CT_OK) return rc_; } while (0)

/*
 * Reads the handshake message out of its records.  msg_left bounds every
 * read, so that no field runs past the message; rec_left <= msg_left
 * always, so that no record carries bytes past it.
 */
struct tls_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;                   /* next byte of buf to read */
	size_t rec_left;              /* bytes of the current record not yet read */
	size_t msg_left;              /* of the message, header included; a bound until its length is read */
	struct tls_hello *h;
	uint8_t seen[65536 / 8];      /* extension types met, for duplicates */
};

static int
tls_fail(struct tls_hello *h, const char *why)
{
	h->error = why;
	return CT_ERROR;
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* Opens the record at r->pos, checking each header byte once it is there. */
static int
tls_record_open(struct tls_reader *r)
{
	const uint8_t *p = r->buf + r->pos;
	size_t avail = r->len - r->pos, n;

	if (avail < 1)
		return CT_AGAIN;
	if (p[0] != TLS_CT_HANDSHAKE)
		return tls_fail(r->h, r->h->nrecords == 0 ? "not a TLS handshake record" :
		    "a record of another type inside the ClientHello");
	if (avail < 2)
		return CT_AGAIN;
	if (p[1] != 3)
		return tls_fail(r->h, "record version is not 3.x");
	if (avail < 3)
		return CT_AGAIN;
	if (p[2] > 4)
		return tls_fail(r->h, "record version above 3.4");
	if (avail < 4)
		return CT_AGAIN;
	if ((size_t)p[3] << 8 > TLS_RECORD_MAX)
		return tls_fail(r->h, "record longer than 16384 bytes");
	if ((size_t)p[3] << 8 > r->msg_left)
		return tls_fail(r->h, "record longer than the ClientHello");
	if (avail < 5)
		return CT_AGAIN;
	n = (size_t)p[3] << 8 | p[4];
	/* RFC 8446 5.1: no zero-length handshake fragments. */
	if (n == 0)
		return tls_fail(r->h, "empty handshake record");
	if (n > TLS_RECORD_MAX)
		return tls_fail(r->h, "record longer than 16384 bytes");
	if (n > r->msg_left)
		return tls_fail(r->h, "record longer than the ClientHello");
	if (r->h->nrecords == 0)
		r->h->record_version = (uint16_t)(p[1] << 8 | p[2]);
	r->h->nrecords++;
	r->pos += TLS_RECORD_HEADER;
	r->rec_left = n;
	return CT_OK;
}

/*
 * Reads n bytes of the message into dst (or skips them, dst NULL),
 * opening the records they lie in.  Callers check n against msg_left
 * first, with an error of their own; the check here is a backstop.
 */
static int
tls_read(struct tls_reader *r, uint8_t *dst, size_t n)
{
	size_t k;

	if (n > r->msg_left)
		return tls_fail(r->h, "field runs past the ClientHello");
	while (n > 0) {
		if (r->rec_left == 0)
			TLS_TRY(tls_record_open(r));
		k = CT_MIN(n, CT_MIN(r->rec_left, r->len - r->pos));
		if (k == 0)
			return CT_AGAIN;
		if (dst != NULL) {
			memcpy(dst, r->buf + r->pos, k);
			dst += k;
		}
		r->pos += k;
		r->rec_left -= k;
		r->msg_left -= k;
		n -= k;
	}
	return CT_OK;
}

static int
tls_byte(struct tls_reader *r, uint8_t *b)
{
	return tls_read(r, b, 1);
}

/*
 * A big-endian length of size bytes (1 to 3) within [min, max], or
 * too_short / too_long: refused at its first byte when that byte
 * already puts it out of range, whatever the next ones are.
 */
static int
tls_len(struct tls_reader *r, size_t size, size_t min, size_t max, size_t *v,
    const char *too_short, const char *too_long)
{
	size_t i, shift, low;
	uint8_t b;

	*v = 0;
	for (i = 0; i < size; i++) {
		TLS_TRY(tls_byte(r, &b));
		*v = *v << 8 | b;
		shift = 8 * (size - 1 - i);
		low = ((size_t)1 << shift) - 1;        /* the most the bytes to come add */
		if ((*v << shift) + low < min)
			return tls_fail(r->h, too_short);
		if ((*v << shift) > max)
			return tls_fail(r->h, too_long);
	}
	return CT_OK;
}

/* ------------------------------------------------------------------ */
/* Extensions                                                          */
/* ------------------------------------------------------------------ */

/* RFC 952/1123 host name characters, and '_' that real names carry. */
static int
tls_host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* n (1..255) bytes of host_name: lowercased into h->sni, one trailing dot dropped. */
static int
tls_host_name(struct tls_reader *r, size_t n)
{
	struct tls_hello *h = r->h;
	uint8_t c, prev = '.';
	size_t i;

	for (i = 0; i < n; i++) {
		TLS_TRY(tls_byte(r, &c));
		if (c == '.') {
			if (prev == '.')
				return tls_fail(h, "empty label in server name");
		} else if (!tls_host_char(c))
			return tls_fail(h, "invalid character in server name");
		h->sni[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		prev = c;
	}
	/* The first byte is not a dot, so a name of a dot alone never gets here. */
	if (prev == '.')
		n--;
	h->sni[n] = '\0';
	h->sni_len = n;
	return CT_OK;
}

/*
 * server_name (RFC 6066 3): a list of (name_type, length, name).  Names
 * of unknown types are stepped over; a second host_name is refused
 * (the RFC forbids it) rather than chosen between, since the server
 * behind might choose the other one.
 */
static int
tls_server_name(struct tls_reader *r, size_t ext_len)
{
	size_t list, n;
	uint8_t type;

	if (ext_len < 2 + 3)
		return tls_fail(r->h, "server_name extension too short");
	TLS_TRY(tls_len(r, 2, ext_len - 2, ext_len - 2, &list,
	    "server_name list length does not match its extension",
	    "server_name list length does not match its extension"));
	while (list > 0) {
		if (list < 3)
			return tls_fail(r->h, "server_name entry truncated");
		TLS_TRY(tls_byte(r, &type));
		if (type != TLS_NAME_HOST) {
			TLS_TRY(tls_len(r, 2, 0, list - 3, &n, "", "server name longer than its list"));
			TLS_TRY(tls_read(r, NULL, n));
		} else {
			if (r->h->sni_len > 0)
				return tls_fail(r->h, "two host_names in server_name");
			TLS_TRY(tls_len(r, 2, 1, CT_MIN(TLS_SNI_MAX, list - 3), &n,
			    "empty server name", list - 3 < TLS_SNI_MAX ?
			    "server name longer than its list" : "server name longer than 255 bytes"));
			TLS_TRY(tls_host_name(r, n));
		}
		list -= 3 + n;
	}
	return CT_OK;
}

/*
 * ALPN (RFC 7301 3.1): a non-empty list of names of 1..255 bytes.  The
 * names that fit in TLS_ALPN_MAX are kept, in the client's order; the
 * rest of a longer list is checked and dropped, since refusing a valid
 * hello for it would only turn away an unusual client.
 */
static int
tls_alpn(struct tls_reader *r, size_t ext_len)
{
	struct tls_hello *h = r->h;
	size_t list, n;

	if (ext_len < 2 + 2)
		return tls_fail(h, "ALPN extension too short");
	TLS_TRY(tls_len(r, 2, ext_len - 2, ext_len - 2, &list,
	    "ALPN list length does not match its extension",
	    "ALPN list length does not match its extension"));
	while (list > 0) {
		if (list < 2)
			return tls_fail(h, "ALPN protocol name truncated");
		TLS_TRY(tls_len(r, 1, 1, list - 1, &n, "empty ALPN protocol name",
		    "ALPN protocol name longer than its list"));
		list -= 1 + n;
		if (!h->alpn_truncated && h->alpn_len + 1 + n <= TLS_ALPN_MAX) {
			h->alpn[h->alpn_len] = (uint8_t)n;
			TLS_TRY(tls_read(r, h->alpn + h->alpn_len + 1, n));
			h->alpn_len += 1 + n;
		} else {
			h->alpn_truncated = 1;
			TLS_TRY(tls_read(r, NULL, n));
		}
	}
	return CT_OK;
}

/* One extension; the extensions end where the message does. */
static int
tls_extension(struct tls_reader *r)
{
	uint8_t b[2];
	unsigned type;
	size_t n;

	if (r->msg_left < 4)
		return tls_fail(r->h, "extension header truncated");
	TLS_TRY(tls_read(r, b, 2));
	type = (unsigned)b[0] << 8 | b[1];
	/* RFC 8446 4.2: no two extensions of the same type. */
	if (r->seen[type / 8] & (1u << (type % 8)))
		return tls_fail(r->h, "duplicate extension");
	r->seen[type / 8] |= (uint8_t)(1u << (type % 8));
	TLS_TRY(tls_len(r, 2, 0, r->msg_left - 2, &n, "",
	    "extension longer than the extensions"));
	switch (type) {
	case TLS_EXT_SERVER_NAME:
		return tls_server_name(r, n);
	case TLS_EXT_ALPN:
		return tls_alpn(r, n);
	default:
		return tls_read(r, NULL, n);
	}
}

/* ------------------------------------------------------------------ */
/* The ClientHello                                                     */
/* ------------------------------------------------------------------ */

/* msg_type and the 24-bit length, which then bounds every read. */
static int
tls_hello_header(struct tls_reader *r)
{
	uint8_t b;
	size_t n;

	TLS_TRY(tls_byte(r, &b));
	if (b != TLS_HS_CLIENT_HELLO)
		return tls_fail(r->h, "handshake message is not a ClientHello");
	TLS_TRY(tls_len(r, 3, TLS_HELLO_MIN, TLS_HELLO_MAX, &n, "ClientHello too short",
	    "ClientHello longer than TLS_HELLO_MAX"));
	r->msg_left = n;
	if (r->rec_left > r->msg_left)
		return tls_fail(r->h, "record longer than the ClientHello");
	return CT_OK;
}

static int
tls_hello_body(struct tls_reader *r)
{
	uint8_t b;
	size_t n;

	TLS_TRY(tls_byte(r, &b));
	if (b != 3)
		return tls_fail(r->h, "ClientHello version is not 3.x");
	TLS_TRY(tls_byte(r, &b));
	r->h->hello_version = (uint16_t)(0x0300 | b);
	TLS_TRY(tls_read(r, NULL, 32));                 /* random */

	/* Each length leaves room for the least of what must follow it. */
	TLS_TRY(tls_len(r, 1, 0, CT_MIN(32, r->msg_left - 1 - 6), &n, "",
	    r->msg_left - 1 - 6 < 32 ? "session_id longer than the ClientHello" :
	    "session_id longer than 32 bytes"));
	TLS_TRY(tls_read(r, NULL, n));
	TLS_TRY(tls_len(r, 2, 2, r->msg_left - 2 - 2, &n, "no cipher suites",
	    "cipher suites longer than the ClientHello"));
	if (n % 2 != 0)
		return tls_fail(r->h, "odd cipher suites length");
	TLS_TRY(tls_read(r, NULL, n));
	TLS_TRY(tls_len(r, 1, 1, r->msg_left - 1, &n, "no compression methods",
	    "compression methods longer than the ClientHello"));
	/* What follows is nothing, or an extensions block of 2 bytes at least. */
	if (r->msg_left - n == 1)
		return tls_fail(r->h, "extensions length truncated");
	TLS_TRY(tls_read(r, NULL, n));

	if (r->msg_left == 0)
		return CT_OK;
	TLS_TRY(tls_len(r, 2, r->msg_left - 2, r->msg_left - 2, &n,
	    "extensions length does not match the ClientHello",
	    "extensions length does not match the ClientHello"));
	while (r->msg_left > 0)
		TLS_TRY(tls_extension(r));
	return CT_OK;
}

/*
 * An SSLv2-compatible hello (RFC 5246 E.2): a 2-byte header with the
 * high bit set, then msg_type, version, three lengths and their data.
 * Only the TLS versions are taken: a 2.0 client cannot be served.
 */
static int
tls_hello_v2(const uint8_t *p, size_t len, struct tls_hello *h)
{
	size_t msg, cs, sid, chal;

#define TLS_NEED(i) do { if (len <= (i)) return CT_AGAIN; } while (0)
	/* 9 bytes of fields, 3 of one cipher spec, 16 of challenge at least */
	if ((size_t)(p[0] & 0x7f) << 8 > TLS_HELLO_MAX)
		return tls_fail(h, "SSLv2 hello longer than TLS_HELLO_MAX");
	TLS_NEED(1);
	msg = (size_t)(p[0] & 0x7f) << 8 | p[1];
	if (msg > TLS_HELLO_MAX)
		return tls_fail(h, "SSLv2 hello longer than TLS_HELLO_MAX");
	if (msg < 9 + 3 + 16)
		return tls_fail(h, "SSLv2 hello too short");
	TLS_NEED(2);
	if (p[2] != TLS_HS_CLIENT_HELLO)
		return tls_fail(h, "SSLv2 record is not a ClientHello");
	TLS_NEED(3);
	if (p[3] != 3)
		return tls_fail(h, "SSLv2 hello of no TLS version");
	TLS_NEED(5);
	cs = (size_t)p[5] << 8;
	if (cs > msg - 9 - 16)
		return tls_fail(h, "SSLv2 cipher specs longer than the hello");
	TLS_NEED(6);
	cs |= p[6];
	if (cs == 0 || cs % 3 != 0)
		return tls_fail(h, "SSLv2 cipher specs length not a multiple of 3");
	if (cs > msg - 9 - 16)
		return tls_fail(h, "SSLv2 cipher specs longer than the hello");
	TLS_NEED(7);
	if (p[7] != 0)
		return tls_fail(h, "SSLv2 session_id neither 0 nor 16 bytes");
	TLS_NEED(8);
	sid = p[8];
	if (sid != 0 && sid != 16)
		return tls_fail(h, "SSLv2 session_id neither 0 nor 16 bytes");
	if (cs + sid > msg - 9 - 16)
		return tls_fail(h, "SSLv2 session_id longer than the hello");
	TLS_NEED(9);
	if (p[9] != 0)
		return tls_fail(h, "SSLv2 challenge not 16 to 32 bytes");
	TLS_NEED(10);
	chal = p[10];
	if (chal < 16 || chal > 32)
		return tls_fail(h, "SSLv2 challenge not 16 to 32 bytes");
	if (9 + cs + sid + chal != msg)
		return tls_fail(h, "SSLv2 hello length does not match its fields");
	TLS_NEED(2 + msg - 1);
#undef TLS_NEED
	h->sslv2 = 1;
	h->record_version = TLS_VERSION_SSL2;
	h->hello_version = (uint16_t)(p[3] << 8 | p[4]);
	h->consumed = 2 + msg;
	return CT_OK;
}

int
tls_hello_parse(const uint8_t *buf, size_t len, struct tls_hello *h)
{
	struct tls_reader r;

	memset(h, 0, sizeof(*h));
	if (len == 0)
		return CT_AGAIN;
	if (buf[0] & 0x80)
		return tls_hello_v2(buf, len, h);
	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.len = len;
	r.h = h;
	r.msg_left = TLS_HS_HEADER + TLS_HELLO_MAX;
	TLS_TRY(tls_hello_header(&r));
	TLS_TRY(tls_hello_body(&r));
	h->consumed = r.pos;
	return CT_OK;
}

const uint8_t *
tls_alpn_next(const struct tls_hello *h, size_t *off, size_t *len)
{
	const uint8_t *name;
	size_t n;

	if (*off >= h->alpn_len)
		return NULL;
	n = h->alpn[*off];
	/* The parser kept only whole names; this guards a hand-made h. */
	if (n == 0 || n > h->alpn_len - *off - 1)
		return NULL;
	name = h->alpn + *off + 1;
	*off += 1 + n;
	*len = n;
	return name;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

/* ASCII only: a locale must not change which upstream a name goes to. */
static int
tls_name_eq(const char *a, const char *b, size_t n)
{
	size_t i;
	unsigned char x, y;

	for (i = 0; i < n; i++) {
		x = (unsigned char)a[i];
		y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

int
tls_name_match(const char *pattern, const char *name, size_t name_len)
{
	size_t plen = strlen(pattern), rest;
	const char *dot;

	if (plen == 0 || name_len == 0)
		return 0;
	if (pattern[0] != '*')
		return plen == name_len && tls_name_eq(pattern, name, plen);
	/* "*.example.com": a non-empty label, then ".example.com" exactly. */
	if (plen < 3 || pattern[1] != '.')
		return 0;
	dot = memchr(name, '.', name_len);
	if (dot == NULL || dot == name)
		return 0;
	rest = name_len - (size_t)(dot - name);
	return rest == plen - 1 && tls_name_eq(dot, pattern + 1, rest);
}

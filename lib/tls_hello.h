/*
 * The first flight of a TLS client (RFC 8446 4.1.2, RFC 5246 7.4.1.2):
 * enough of its ClientHello to route a connection without decrypting
 * it, by server name (RFC 6066 3) and ALPN (RFC 7301).
 *
 * Pure functions over (buf, len): no sockets, no allocation.  The caller
 * peeks at what the client sent and calls again, from the start, with
 * more bytes while the answer is CT_AGAIN, up to a bound of its own
 * (5 + TLS_HELLO_MAX plus 5 bytes per extra record is always enough).
 *
 * Strict where a lenient reading could route differently from the
 * server that ends up terminating the connection: every length must
 * agree with the one that encloses it, an extension may appear once, a
 * server_name list holds one host_name, and nothing may follow the
 * ClientHello in its last record.  Liberal on versions: any 3.x record
 * or hello version is accepted, since clients send 3.1 in records and
 * freeze the hello's version at 3.3.
 */
#ifndef CT_TLS_HELLO_H
#define CT_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define TLS_HELLO_MAX  16384   /* largest ClientHello handshake message accepted */
#define TLS_RECORD_MAX 16384   /* largest plaintext record fragment (RFC 8446 5.1) */
#define TLS_SNI_MAX    255
#define TLS_ALPN_MAX   256     /* bytes of the ALPN protocol list kept */

/* record_version of an SSLv2-compatible hello, which has no TLS record */
#define TLS_VERSION_SSL2 0x0002

struct tls_hello {
	uint16_t record_version;      /* of the first record */
	uint16_t hello_version;       /* legacy_version of the ClientHello */
	char sni[TLS_SNI_MAX + 1];    /* host_name, lowercased, no trailing dot, NUL-terminated; "" when none */
	size_t sni_len;
	/*
	 * The ALPN protocol_name_list as sent (each name after its length
	 * byte), or as many of its first names as fit in TLS_ALPN_MAX
	 * (alpn_truncated set): the client's preferences in order, without
	 * refusing a valid hello for a long list.
	 */
	uint8_t alpn[TLS_ALPN_MAX];
	size_t alpn_len;              /* 0 when no ALPN */
	unsigned alpn_truncated:1;    /* names past alpn_len were dropped */
	unsigned sslv2:1;             /* an SSLv2-compatible hello: no extensions, so no SNI */
	size_t nrecords;              /* records the hello came in (0 for SSLv2) */
	size_t consumed;              /* bytes of buf the records of the hello took */
	const char *error;            /* CT_ERROR: why, a fixed string */
};

/*
 * Parses the ClientHello at the start of buf[0..len), the bytes a
 * client sent first.  CT_OK: h filled, h->consumed <= len.  CT_AGAIN:
 * buf is a prefix of some valid hello and ends before the hello does.
 * CT_ERROR: not a TLS ClientHello, or a malformed one (h->error); found
 * as soon as the bytes that make it so are there, so that garbage fails
 * at its first byte.  Never reads outside buf.  h is meaningful only
 * on CT_OK, but for h->error.
 */
int tls_hello_parse(const uint8_t *buf, size_t len, struct tls_hello *h);

/*
 * Iterates the ALPN names of h: *off starts at 0.  Returns the next
 * name (not NUL-terminated, *len bytes) and moves *off past it, or NULL
 * after the last.
 */
const uint8_t *tls_alpn_next(const struct tls_hello *h, size_t *off, size_t *len);

/*
 * Does name[0..name_len) match pattern, ignoring ASCII case: exactly,
 * or for "*.example.com" when name is one more non-empty leading label
 * followed by ".example.com" (RFC 6125 6.4.3, the wildcard alone in the
 * leftmost label).  An empty pattern or name matches nothing.
 */
int tls_name_match(const char *pattern, const char *name, size_t name_len);

#endif

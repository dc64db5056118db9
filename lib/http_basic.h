/*
 * The credentials of HTTP basic authentication (RFC 7617): the
 * Authorization field's value "Basic" SP base64(user ":" password).
 *
 * Pure functions over (value, len), like the other parsers of untrusted
 * input: no sockets, no allocation; the decoded bytes go to a buffer of
 * the caller's, and the results are slices into it.
 */
#ifndef CT_HTTP_BASIC_H
#define CT_HTTP_BASIC_H

#include <stddef.h>

/* The longest value taken: a few hundred bytes in practice. */
#define HTTP_BASIC_VALUE_MAX 4096
/* What a value of HTTP_BASIC_VALUE_MAX bytes can decode to, and a NUL. */
#define HTTP_BASIC_BUF (HTTP_BASIC_VALUE_MAX / 4 * 3 + 1)

struct http_basic {
	const char *user;           /* no ':', no control characters */
	size_t user_len;
	const char *pass;           /* NUL-terminated in the caller's buffer; no NUL inside */
	size_t pass_len;
};

/*
 * Decodes base64 (RFC 4648, section 4: the standard alphabet; padding
 * may be left out, but if present it must be right, and the unused
 * bits of the last character must be zero, so that every credential
 * has one encoding).  Writes at most cap bytes.  Returns CT_OK with
 * *outlen, or CT_ERROR.
 */
int http_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap,
    size_t *outlen);

/*
 * Parses an Authorization value.  Returns CT_OK with *cred filled
 * (slices into buf, of cap >= HTTP_BASIC_BUF bytes), CT_DECLINED when
 * the scheme is not Basic, or CT_ERROR with *why (static) for a value
 * too long, bad base64, no colon, or control characters in the user.
 */
int http_basic_parse(const char *value, size_t len, char *buf, size_t cap,
    struct http_basic *cred, const char **why);

#endif

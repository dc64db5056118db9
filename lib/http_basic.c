/*
 * Basic credentials (lib/http_basic.h).  The decoder is written out
 * rather than borrowed from OpenSSL's EVP_DecodeBlock(), which skips
 * whitespace, does not report where padding went wrong and pads its
 * output with zero bytes: the first would let two values name one
 * credential, the last would hide a truncated password.
 */
#include <string.h>
#include <strings.h>

#include "lib/ct.h"
#include "lib/http_basic.h"

/* The value of a base64 character, or -1. */
static int
http_base64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int
http_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap,
    size_t *outlen)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i, n = 0, data = len, pad = 0;
	unsigned acc = 0, bits = 0;
	int v;

	while (data > 0 && p[data - 1] == '=' && pad < 2) {
		data--;
		pad++;
	}
	/* Padding completes a group of four, or is absent. */
	if ((pad > 0 && len % 4 != 0) || data % 4 == 1)
		return CT_ERROR;
	for (i = 0; i < data; i++) {
		if ((v = http_base64_value(p[i])) < 0)
			return CT_ERROR;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return CT_ERROR;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return CT_ERROR;
	*outlen = n;
	return CT_OK;
}

int
http_basic_parse(const char *value, size_t len, char *buf, size_t cap,
    struct http_basic *cred, const char **why)
{
	const char *p = value, *end = value + len, *colon;
	size_t n, i;

	/* The parser has taken the OWS around the value; the scheme is case-insensitive. */
	if (len < 6 || strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return CT_DECLINED;
	if (len > HTTP_BASIC_VALUE_MAX) {
		*why = "credentials longer than 4k";
		return CT_ERROR;
	}
	for (p += 6; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end || cap < 1 ||
	    http_base64_decode(p, (size_t)(end - p), (unsigned char *)buf, cap - 1, &n) != CT_OK) {
		*why = "credentials are not valid base64";
		return CT_ERROR;
	}
	buf[n] = '\0';
	if ((colon = memchr(buf, ':', n)) == NULL) {
		*why = "credentials have no colon";
		return CT_ERROR;
	}
	for (i = 0; buf + i < colon; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			*why = "control characters in the user name";
			return CT_ERROR;
		}
	/* crypt_r() stops at a NUL: "pw\0x" must not pass for "pw". */
	if (memchr(colon + 1, '\0', n - (size_t)(colon + 1 - buf)) != NULL) {
		*why = "a NUL byte in the password";
		return CT_ERROR;
	}
	cred->user = buf;
	cred->user_len = (size_t)(colon - buf);
	cred->pass = colon + 1;
	cred->pass_len = n - cred->user_len - 1;
	return CT_OK;
}

/*
 * libFuzzer target: tls_hello_parse() on any bytes, checking what a tcp
 * listener routing by SNI relies on: an accepted hello lies within the
 * input and gives a clean host name and a well-formed ALPN list; the
 * bytes after it have no say in it; a prefix of any input waits
 * (CT_AGAIN) or gives the same answer, so that peeking again with more
 * bytes never turns a refusal into a hello or changes the name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/tls_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Prefixes tried per input: all of a short one, an even spread of a long one. */
#define PREFIXES_MAX 64

/* Parses a copy of data[0..n), so that reading past n is caught. */
static int
parse_copy(const uint8_t *data, size_t n, struct tls_hello *h)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	int rc;

	CHECK(copy != NULL);
	if (n > 0)
		memcpy(copy, data, n);
	rc = tls_hello_parse(copy, n, h);
	free(copy);
	return rc;
}

static void
hello_check(const struct tls_hello *h, size_t size)
{
	const uint8_t *name;
	size_t i, off = 0, n, total = 0;

	CHECK(h->consumed > 0 && h->consumed <= size);
	CHECK(h->error == NULL);
	CHECK(h->sni_len <= TLS_SNI_MAX && h->sni_len == strlen(h->sni));
	for (i = 0; i < h->sni_len; i++)
		CHECK((h->sni[i] >= 'a' && h->sni[i] <= 'z') || (h->sni[i] >= '0' &&
		    h->sni[i] <= '9') || h->sni[i] == '-' || h->sni[i] == '_' || h->sni[i] == '.');
	if (h->sni_len > 0) {
		CHECK(h->sni[0] != '.' && h->sni[h->sni_len - 1] != '.');
		CHECK(strstr(h->sni, "..") == NULL);
		CHECK(tls_name_match(h->sni, h->sni, h->sni_len));
	}
	CHECK(h->alpn_len <= TLS_ALPN_MAX);
	while ((name = tls_alpn_next(h, &off, &n)) != NULL) {
		CHECK(n > 0 && name == h->alpn + total + 1);
		total += 1 + n;
	}
	CHECK(total == h->alpn_len);
	if (h->sslv2)
		CHECK(h->sni_len == 0 && h->alpn_len == 0 && h->nrecords == 0 &&
		    h->record_version == TLS_VERSION_SSL2);
	else
		CHECK(h->nrecords > 0 && h->consumed >= 5 * h->nrecords + 4 + 41 &&
		    (h->record_version >> 8) == 3 && (h->hello_version >> 8) == 3);
}

static int
same_hello(const struct tls_hello *a, const struct tls_hello *b)
{
	return a->record_version == b->record_version &&
	    a->hello_version == b->hello_version && a->sslv2 == b->sslv2 &&
	    a->nrecords == b->nrecords && a->consumed == b->consumed &&
	    a->sni_len == b->sni_len && strcmp(a->sni, b->sni) == 0 &&
	    a->alpn_len == b->alpn_len && a->alpn_truncated == b->alpn_truncated &&
	    memcmp(a->alpn, b->alpn, a->alpn_len) == 0;
}

/* The answer for data[0..k): CT_AGAIN below the hello's end, else the whole input's. */
static void
prefix_check(const uint8_t *data, size_t k, int rc, const struct tls_hello *h)
{
	static struct tls_hello p;
	int prc = parse_copy(data, k, &p);

	if (rc == CT_OK)
		CHECK(prc == (k < h->consumed ? CT_AGAIN : CT_OK));
	else
		CHECK(prc == CT_AGAIN || prc == rc);
	if (prc == CT_ERROR)
		CHECK(p.error != NULL && strcmp(p.error, h->error) == 0);
	if (prc == CT_OK)
		CHECK(same_hello(&p, h));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tls_hello h, again;
	size_t k, step;
	int rc;

	rc = tls_hello_parse(data, size, &h);
	CHECK(rc == CT_OK || rc == CT_AGAIN || rc == CT_ERROR);
	if (rc == CT_ERROR)
		CHECK(h.error != NULL);
	if (rc == CT_OK) {
		hello_check(&h, size);
		/* What follows the hello has no say in it. */
		CHECK(parse_copy(data, h.consumed, &again) == CT_OK);
		CHECK(same_hello(&again, &h));
	}
	step = size / PREFIXES_MAX + 1;
	for (k = size % step; k < size; k += step)
		prefix_check(data, k, rc, &h);
	if (rc == CT_OK)
		prefix_check(data, h.consumed - 1, rc, &h);
	return 0;
}

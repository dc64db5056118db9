/*
 * A keyed multiply-and-fold hash, as Go's runtime hashes map keys (a
 * wyhash-style mix under a random seed); see hash.h.
 */
#include <string.h>

#include "lib/hash.h"

static uint64_t
hash_mix(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * The last 1..16 bytes of a key as two words, read with loads of fixed
 * size that may overlap (the first and the last 8, or 4, bytes) instead
 * of copies of a variable length: for one length, different bytes still
 * give different words, and the length is mixed in apart.
 */
static void
hash_tail(const unsigned char *p, size_t n, uint64_t *a, uint64_t *b)
{
	uint32_t x, y;

	if (n >= 8) {
		memcpy(a, p, 8);
		memcpy(b, p + n - 8, 8);
	} else if (n >= 4) {
		memcpy(&x, p, 4);
		memcpy(&y, p + n - 4, 4);
		*a = x;
		*b = y;
	} else {
		*a = n > 0 ? (uint64_t)p[0] << 16 | (uint64_t)p[n / 2] << 8 | p[n - 1] : 0;
		*b = 0;
	}
}

uint64_t
hash_keyed(const uint64_t k[2], const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = k[0] ^ (len * UINT64_C(0x9e3779b97f4a7c15)), a, b;
	size_t i = 0;

	for (; i + 16 < len; i += 16) {
		memcpy(&a, p + i, 8);
		memcpy(&b, p + i + 8, 8);
		h = hash_mix(a ^ k[1], b ^ h);
	}
	hash_tail(p + i, len - i, &a, &b);
	h = hash_mix(a ^ k[1], b ^ h);
	return hash_mix(h ^ k[0], (uint64_t)len ^ k[1] ^ UINT64_C(0xa0761d6478bd642f));
}

/*
 * A keyed multiply-and-fold hash, as Go's runtime hashes map keys (a
 * wyhash-style mix under a random seed); see hash.h.
 */
#include <string.h>

#include "lib/ct.h"
#include "lib/hash.h"

static uint64_t
hash_mix(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t
hash_keyed(const uint64_t k[2], const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = k[0] ^ (len * UINT64_C(0x9e3779b97f4a7c15)), a, b;
	size_t i = 0;

	for (; i + 16 <= len; i += 16) {
		memcpy(&a, p + i, 8);
		memcpy(&b, p + i + 8, 8);
		h = hash_mix(a ^ k[1], b ^ h);
	}
	a = b = 0;
	memcpy(&a, p + i, CT_MIN(len - i, (size_t)8));
	if (len - i > 8)
		memcpy(&b, p + i + 8, len - i - 8);
	h = hash_mix(a ^ k[1], b ^ h);
	return hash_mix(h ^ k[0], (uint64_t)len ^ k[1] ^ UINT64_C(0xa0761d6478bd642f));
}

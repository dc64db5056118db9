/*
 * A keyed hash for tables whose keys a client chooses (limit keys, UDP
 * client addresses): with the 128-bit random key unknown, a client
 * cannot pick keys that collide with another's, and a short key costs a
 * few multiplications rather than SipHash's rounds.
 */
#ifndef CT_HASH_H
#define CT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The 64-bit hash of p[0..len) under key k. */
uint64_t hash_keyed(const uint64_t k[2], const void *p, size_t len);

#endif

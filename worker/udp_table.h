/*
 * The sessions of mode udp by client: a chained hash table keyed by the
 * listener and the client's address and port, under a keyed hash
 * (lib/hash.h) so that clients cannot choose addresses that pile into
 * one chain.  Entries are the caller's (embedded in its sessions), the
 * buckets are allocated once for the most entries there can be, and
 * nothing is allocated per lookup: one hash and one chain walk per
 * datagram.  Pure: no sockets, no clock.  Mode forward's pool of idle
 * connections keys its destinations (listener, address, port) with it
 * too (http_upstream.c).
 */
#ifndef CT_WORKER_UDP_TABLE_H
#define CT_WORKER_UDP_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Who a datagram is from, as bytes compared whole: no padding inside. */
struct udp_key {
	uint32_t listener;          /* in conf->listeners */
	uint16_t family;            /* AF_INET or AF_INET6 */
	uint16_t port;              /* network order */
	uint8_t addr[16];           /* IPv4 in the first 4 bytes, the rest zero */
	uint32_t scope;             /* IPv6: the interface of a link-local address; else 0 */
};

struct udp_entry {
	struct udp_entry *next;     /* in its bucket */
	uint64_t hash;
	struct udp_key key;
};

struct udp_table {
	struct udp_entry **buckets;
	size_t mask;                /* buckets - 1, a power of two less one */
	size_t n;                   /* entries in the table */
	uint64_t seed[2];           /* the hash's key */
};

/*
 * Buckets for max entries (at least one per entry), hashed under
 * seed.  CT_ERROR: out of memory.
 */
int udp_table_init(struct udp_table *t, size_t max, const uint64_t seed[2]);
void udp_table_free(struct udp_table *t);

/* The key of a datagram from sa to listener; CT_ERROR for a family not IPv4 or IPv6. */
int udp_key_set(struct udp_key *k, size_t listener, const struct sockaddr *sa);

/* k's hash, for udp_table_find() and udp_table_add(). */
uint64_t udp_table_hash(const struct udp_table *t, const struct udp_key *k);
/* The entry keyed k (whose hash is h), or NULL. */
struct udp_entry *udp_table_find(const struct udp_table *t, const struct udp_key *k,
    uint64_t h);
/* Adds e under k (hash h); k must not be in the table. */
void udp_table_add(struct udp_table *t, struct udp_entry *e, const struct udp_key *k,
    uint64_t h);
/* Takes e, which is in the table, out of it. */
void udp_table_del(struct udp_table *t, struct udp_entry *e);

#endif

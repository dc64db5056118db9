/*
 * The session table of mode udp; udp_table.h.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ct.h"
#include "lib/hash.h"
#include "worker/udp_table.h"

_Static_assert(sizeof(struct udp_key) == 28, "a key has no padding: it is hashed and compared whole");

int
udp_table_init(struct udp_table *t, size_t max, const uint64_t seed[2])
{
	size_t n = 16;

	memset(t, 0, sizeof(*t));
	while (n < max && n < ((size_t)1 << 30))
		n <<= 1;
	if ((t->buckets = calloc(n, sizeof(*t->buckets))) == NULL)
		return CT_ERROR;
	t->mask = n - 1;
	t->seed[0] = seed[0];
	t->seed[1] = seed[1];
	return CT_OK;
}

void
udp_table_free(struct udp_table *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->n = 0;
}

int
udp_key_set(struct udp_key *k, size_t listener, const struct sockaddr *sa)
{
	memset(k, 0, sizeof(*k));
	k->listener = (uint32_t)listener;
	k->family = (uint16_t)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		k->port = in->sin_port;
		memcpy(k->addr, &in->sin_addr, 4);
		return CT_OK;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		k->port = in6->sin6_port;
		memcpy(k->addr, &in6->sin6_addr, 16);
		k->scope = in6->sin6_scope_id;
		return CT_OK;
	}
	return CT_ERROR;
}

uint64_t
udp_table_hash(const struct udp_table *t, const struct udp_key *k)
{
	return hash_keyed(t->seed, k, sizeof(*k));
}

struct udp_entry *
udp_table_find(const struct udp_table *t, const struct udp_key *k, uint64_t h)
{
	struct udp_entry *e;

	for (e = t->buckets[h & t->mask]; e != NULL; e = e->next)
		if (e->hash == h && memcmp(&e->key, k, sizeof(*k)) == 0)
			return e;
	return NULL;
}

void
udp_table_add(struct udp_table *t, struct udp_entry *e, const struct udp_key *k, uint64_t h)
{
	struct udp_entry **b = &t->buckets[h & t->mask];

	e->key = *k;
	e->hash = h;
	e->next = *b;
	*b = e;
	t->n++;
}

void
udp_table_del(struct udp_table *t, struct udp_entry *e)
{
	struct udp_entry **p;

	for (p = &t->buckets[e->hash & t->mask]; *p != NULL; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			e->next = NULL;
			t->n--;
			return;
		}
}

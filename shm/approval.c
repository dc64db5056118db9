/*
 * The approval decisions (shm/approval.h): slots written by the master,
 * an index in two copies that lookups read under a latch.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "lib/ct.h"
#include "lib/hash.h"
#include "shm/approval.h"

#define SHM_APPROVAL_TRIES     16       /* a lookup's tries before it gives up */
#define SHM_APPROVAL_LIST_TRIES 200     /* a list's, 50 us apart */

#define META_USED              UINT64_C(1)
#define META_V6                UINT64_C(2)
#define META_VERDICT(m)        ((unsigned)((m) >> 2) & 3u)
#define META_PREFIX(m)         ((unsigned)((m) >> 8) & 0xffu)
#define META_SLOT(m)           ((unsigned)((m) >> 16) & 0xffffu)
#define META_EXPIRES(m)        ((uint64_t)(m) >> 32)

_Static_assert(sizeof(struct shm_approval) % 8 == 0, "a decision is whole words");
_Static_assert(SHM_APPROVALS_MAX <= 0x10000, "a slot number fits 16 bits of meta");
_Static_assert((SHM_APPROVAL_BUCKETS & (SHM_APPROVAL_BUCKETS - 1)) == 0 &&
    SHM_APPROVAL_BUCKETS >= 2 * SHM_APPROVALS_MAX, "buckets: a power of two, half empty");

const char *const shm_approval_verdict_names[SHM_APPROVAL_VERDICTS] = {
	"none", "allow", "deny",
};

const char *const shm_approval_origin_names[SHM_APPROVAL_ORIGINS] = {
	"", "rule", "operator", "peer",
};

/* The keys of the hashes: fixed, since no client chooses what is stored. */
static const uint64_t shm_approval_hash_key[2] = {
	UINT64_C(0x6170707276616c73), UINT64_C(0x6375747470726f78),
};

int
shm_approvals_init(struct shm *shm)
{
	if (shm_table_register(shm, SHM_TABLE_APPROVALS, "approvals",
	    sizeof(struct shm_approval_slot), SHM_APPROVALS_MAX) != CT_OK ||
	    shm_table_register(shm, SHM_TABLE_APPROVAL_INDEX, "approval_index",
	    sizeof(struct shm_approvals), 1) != CT_OK)
		return CT_ERROR;
	/* The index is one whole structure, in use from the start. */
	shm_table_count(shm, SHM_TABLE_APPROVAL_INDEX, 1);
	return CT_OK;
}

static struct shm_approvals *
shm_approvals_get(const struct shm *shm)
{
	return shm_table_slot(shm, SHM_TABLE_APPROVAL_INDEX, 0);
}

static struct shm_approval_slot *
shm_approval_slot(const struct shm *shm, unsigned i)
{
	return shm_table_slot(shm, SHM_TABLE_APPROVALS, (int)i);
}

/* ------------------------------------------------------------- values */

static int
shm_approval_text_ok(const char *s, size_t size, int utf8)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || (c > 0x7f && !utf8))
			return 0;
	}
	return i < size;
}

const char *
shm_approval_check(const struct shm_approval *a)
{
	unsigned max = a->net.family == AF_INET ? 32 : 128, i;
	char norm[SHM_APPROVAL_DEST_LEN];

	if (a->net.family != AF_INET && a->net.family != AF_INET6)
		return "not an IPv4 or IPv6 network";
	if (a->net.prefix > max)
		return a->net.family == AF_INET ? "an IPv4 prefix length is 0 to 32" :
		    "an IPv6 prefix length is 0 to 128";
	for (i = a->net.prefix; i < max; i++)
		if ((a->net.net[i / 8] & (0x80u >> (i % 8))) != 0)
			return "host bits set beyond the prefix length";
	for (i = max / 8; i < 16; i++)
		if (a->net.net[i] != 0)
			return "bytes beyond the address";
	if (a->verdict != SHM_APPROVAL_ALLOW && a->verdict != SHM_APPROVAL_DENY)
		return "the verdict is allow or deny";
	if (a->origin < SHM_APPROVAL_RULE || a->origin >= SHM_APPROVAL_ORIGINS)
		return "an unknown origin";
	if (a->expires > UINT32_MAX)
		return "an expiry beyond the year 2106";
	if (!shm_approval_text_ok(a->listener, sizeof(a->listener), 0))
		return "a listener name is printable ASCII, at most 63 bytes";
	if (!shm_approval_text_ok(a->by, sizeof(a->by), 0))
		return "a name is printable ASCII, at most 31 bytes";
	if (!shm_approval_text_ok(a->note, sizeof(a->note), 1))
		return "a note has no control characters and at most 63 bytes";
	if (!shm_approval_text_ok(a->node, sizeof(a->node), 0))
		return "a node name is printable ASCII, at most 135 bytes";
	if (a->dest[0] == '\0')
		return a->port == 0 ? NULL : "a port needs a destination";
	if (!shm_approval_text_ok(a->dest, sizeof(a->dest), 0) ||
	    shm_approval_dest_normalize(a->dest, strlen(a->dest), norm) != CT_OK)
		return "a destination is a host name or an IP address";
	if (strcmp(norm, a->dest) != 0)
		return "a destination is not in its normal form";
	return NULL;
}

void
shm_approval_normalize(struct cidr *net)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (net->family != AF_INET6 || net->prefix < 96 || memcmp(net->net, mapped, 12) != 0)
		return;
	net->family = AF_INET;
	memmove(net->net, net->net + 12, 4);
	memset(net->net + 4, 0, 12);
	net->prefix -= 96;
}

uint64_t
shm_approval_scope(const char *listener)
{
	uint64_t h = hash_keyed(shm_approval_hash_key, listener, strlen(listener));

	return h != 0 ? h : 1;
}

int
shm_approval_dest_normalize(const char *host, size_t len, char *out)
{
	struct in6_addr a6;
	struct in_addr a4;
	char lit[INET6_ADDRSTRLEN];
	size_t i;

	if (len > 0 && host[len - 1] == '.' && memchr(host, ':', len) == NULL)
		len--;
	if (len == 0)
		return CT_ERROR;
	/* An address, in the one form a lookup of it uses. */
	if (len < sizeof(lit)) {
		memcpy(lit, host, len);
		lit[len] = '\0';
		if (inet_pton(AF_INET, lit, &a4) == 1)
			return inet_ntop(AF_INET, &a4, out, SHM_APPROVAL_DEST_LEN) != NULL ?
			    CT_OK : CT_ERROR;
		if (inet_pton(AF_INET6, lit, &a6) == 1) {
			if (IN6_IS_ADDR_V4MAPPED(&a6))
				return inet_ntop(AF_INET, a6.s6_addr + 12, out,
				    SHM_APPROVAL_DEST_LEN) != NULL ? CT_OK : CT_ERROR;
			return inet_ntop(AF_INET6, &a6, out, SHM_APPROVAL_DEST_LEN) != NULL ?
			    CT_OK : CT_ERROR;
		}
	}
	if (len >= SHM_APPROVAL_DEST_LEN)
		return CT_ERROR;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.'))
			return CT_ERROR;
		out[i] = (char)c;
	}
	out[len] = '\0';
	return CT_OK;
}

/* ---------------------------------------------------------- the slots */

static void
shm_approval_slot_load(const struct shm_approval_slot *s, struct shm_approval *out)
{
	struct shm_approval_slot *sp = (struct shm_approval_slot *)(uintptr_t)s;
	size_t i;

	for (i = 0; i < SHM_APPROVAL_WORDS; i++) {
		uint64_t v = atomic_load_explicit(&sp->w[i], memory_order_relaxed);

		memcpy((char *)out + i * 8, &v, 8);
	}
}

static void
shm_approval_slot_store(struct shm_approval_slot *s, const struct shm_approval *a)
{
	size_t i;

	for (i = 0; i < SHM_APPROVAL_WORDS; i++) {
		uint64_t v;

		memcpy(&v, (const char *)a + i * 8, 8);
		atomic_store_explicit(&s->w[i], v, memory_order_relaxed);
	}
}

/* The slot's verdict word alone: NONE for a free one. */
static uint32_t
shm_approval_slot_verdict(const struct shm_approval_slot *s)
{
	struct shm_approval_slot *sp = (struct shm_approval_slot *)(uintptr_t)s;
	size_t w = offsetof(struct shm_approval, verdict) / 8;
	uint64_t v = atomic_load_explicit(&sp->w[w], memory_order_relaxed);
	uint32_t verdict;

	memcpy(&verdict, (char *)&v + offsetof(struct shm_approval, verdict) % 8, 4);
	return verdict;
}

static void
shm_approval_slot_clear(struct shm *shm, unsigned i)
{
	struct shm_approval none;

	memset(&none, 0, sizeof(none));
	shm_approval_slot_store(shm_approval_slot(shm, i), &none);
	shm_table_count(shm, SHM_TABLE_APPROVALS, -1);
}

/* Is a for net, of listener (NULL: any) and to (NULL: any)? */
static int
shm_approval_same(const struct shm_approval *a, const struct cidr *net, const char *listener,
    const struct shm_approval_to *to)
{
	return a->net.family == net->family && a->net.prefix == net->prefix &&
	    memcmp(a->net.net, net->net, sizeof(net->net)) == 0 &&
	    (listener == NULL || strcmp(a->listener, listener) == 0) &&
	    (to == NULL || (strcmp(a->dest, to->host) == 0 && a->port == to->port));
}

static enum shm_approval_dest_kind
shm_approval_dest_kind(const char *dest, uint16_t port)
{
	if (dest[0] == '\0')
		return SHM_APPROVAL_DEST_ANY;
	return port == 0 ? SHM_APPROVAL_DEST_HOST : SHM_APPROVAL_DEST_PORT;
}

/*
 * The index's words for a destination, { 0, 0 } for every destination:
 * a digest, since a client names where it goes and must not find a
 * name whose words are those of another that was approved.
 */
static void
shm_approval_dest_digest(const char *dest, uint16_t port, uint64_t d[2])
{
	unsigned char in[SHM_APPROVAL_DEST_LEN + 2], md[EVP_MAX_MD_SIZE];
	size_t len = strlen(dest);
	unsigned mdlen = 0;

	d[0] = d[1] = 0;
	if (len == 0 || len >= SHM_APPROVAL_DEST_LEN)
		return;
	memcpy(in, dest, len);
	in[len] = (unsigned char)(port >> 8);
	in[len + 1] = (unsigned char)port;
	if (EVP_Digest(in, len + 2, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16) {
		/* Not reached with a working libcrypto; a mark no lookup's digest is. */
		d[0] = d[1] = UINT64_MAX;
		return;
	}
	memcpy(d, md, 16);
	if (d[0] == 0 && d[1] == 0)
		d[0] = 1;
}

/* ---------------------------------------------------------- the index */

static uint64_t
shm_approval_mix(uint64_t k0, uint64_t k1, uint64_t scope, const uint64_t dest[2],
    unsigned prefix, int v6)
{
	uint64_t h = k0 * UINT64_C(0x9e3779b97f4a7c15) ^ k1 * UINT64_C(0xc2b2ae3d27d4eb4f) ^
	    scope ^ dest[0] ^ dest[1] * UINT64_C(0xd6e8feb86659fd93) ^
	    ((uint64_t)prefix << 1 | (uint64_t)v6) * UINT64_C(0x165667b19e3779f9);

	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return h;
}

/* The 16 bytes of an address or network as two words, masked to prefix bits. */
static void
shm_approval_key(const uint8_t *bytes, unsigned prefix, uint64_t k[2])
{
	uint8_t b[16];
	unsigned i;

	memcpy(b, bytes, 16);
	for (i = prefix; i < 128; i++)
		b[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	memcpy(&k[0], b, 8);
	memcpy(&k[1], b + 8, 8);
}

static void
shm_approval_bucket_put(struct shm_approval_index *ix, const struct shm_approval *a,
    unsigned slot)
{
	int v6 = a->net.family == AF_INET6, scoped = a->listener[0] != '\0';
	uint64_t k[2], scope = scoped ? shm_approval_scope(a->listener) : 0, meta;
	uint64_t dest[2];
	enum shm_approval_dest_kind kind = shm_approval_dest_kind(a->dest, a->port);
	size_t b;

	shm_approval_dest_digest(a->dest, a->port, dest);
	shm_approval_key(a->net.net, a->net.prefix, k);
	b = shm_approval_mix(k[0], k[1], scope, dest, a->net.prefix, v6) &
	    (SHM_APPROVAL_BUCKETS - 1);
	while (atomic_load_explicit(&ix->b[b].meta, memory_order_relaxed) != 0)
		b = (b + 1) & (SHM_APPROVAL_BUCKETS - 1);
	meta = META_USED | (v6 ? META_V6 : 0) | (uint64_t)a->verdict << 2 |
	    (uint64_t)a->net.prefix << 8 | (uint64_t)slot << 16 | a->expires << 32;
	atomic_store_explicit(&ix->b[b].key[0], k[0], memory_order_relaxed);
	atomic_store_explicit(&ix->b[b].key[1], k[1], memory_order_relaxed);
	atomic_store_explicit(&ix->b[b].scope, scope, memory_order_relaxed);
	atomic_store_explicit(&ix->b[b].dest[0], dest[0], memory_order_relaxed);
	atomic_store_explicit(&ix->b[b].dest[1], dest[1], memory_order_relaxed);
	atomic_store_explicit(&ix->b[b].meta, meta, memory_order_relaxed);
	atomic_fetch_or_explicit(&ix->lens[kind][scoped][v6][a->net.prefix / 64],
	    UINT64_C(1) << (a->net.prefix % 64), memory_order_relaxed);
	atomic_fetch_add_explicit(&ix->count, 1, memory_order_relaxed);
}

/* Rebuilds index copy c from the slots; no reader looks at it meanwhile. */
static void
shm_approval_index_build(struct shm *shm, unsigned c)
{
	struct shm_approval_index *ix = &shm_approvals_get(shm)->idx[c];
	struct shm_approval a;
	unsigned i, d, s, f, w;

	for (i = 0; i < SHM_APPROVAL_BUCKETS; i++)
		atomic_store_explicit(&ix->b[i].meta, 0, memory_order_relaxed);
	for (d = 0; d < SHM_APPROVAL_DEST_KINDS; d++)
		for (s = 0; s < 2; s++)
			for (f = 0; f < 2; f++)
				for (w = 0; w < 3; w++)
					atomic_store_explicit(&ix->lens[d][s][f][w], 0,
					    memory_order_relaxed);
	atomic_store_explicit(&ix->count, 0, memory_order_relaxed);
	for (i = 0; i < SHM_APPROVALS_MAX; i++) {
		if (shm_approval_slot_verdict(shm_approval_slot(shm, i)) == SHM_APPROVAL_NONE)
			continue;
		shm_approval_slot_load(shm_approval_slot(shm, i), &a);
		shm_approval_bucket_put(ix, &a, i);
	}
}

/*
 * Moves the latch to v: the copy just built is published by the store,
 * and the fence keeps the writes that follow (to the other copy) from
 * being seen before it.
 */
static void
shm_approval_seq_set(struct shm_approvals *t, unsigned v)
{
	atomic_store_explicit(&t->seq, v, memory_order_release);
	atomic_thread_fence(memory_order_release);
}

/* Opens a write: readers move to copy 1, the admin process waits for the slots. */
static void
shm_approval_write_begin(struct shm *shm)
{
	struct shm_approvals *t = shm_approvals_get(shm);

	shm_approval_seq_set(t, atomic_load_explicit(&t->seq, memory_order_relaxed) | 1u);
}

/* Ends it: copy 0 from the slots, readers to it, copy 1 the same, a new generation. */
static void
shm_approval_write_end(struct shm *shm)
{
	struct shm_approvals *t = shm_approvals_get(shm);

	shm_approval_index_build(shm, 0);
	shm_approval_seq_set(t, atomic_load_explicit(&t->seq, memory_order_relaxed) + 1);
	shm_approval_index_build(shm, 1);
	atomic_fetch_add_explicit(&t->generation, 1, memory_order_release);
}

/* ---------------------------------------------------------- the writer */

/* Frees the slots of decisions expired at now_s; the caller opened a write. */
static size_t
shm_approval_reclaim(struct shm *shm, uint64_t now_s)
{
	struct shm_approval a;
	size_t n = 0;
	unsigned i;

	for (i = 0; i < SHM_APPROVALS_MAX; i++) {
		if (shm_approval_slot_verdict(shm_approval_slot(shm, i)) == SHM_APPROVAL_NONE)
			continue;
		shm_approval_slot_load(shm_approval_slot(shm, i), &a);
		if (a.expires != 0 && a.expires <= now_s) {
			shm_approval_slot_clear(shm, i);
			n++;
		}
	}
	atomic_fetch_add_explicit(&shm_approvals_get(shm)->expired, n, memory_order_relaxed);
	return n;
}

/* The slot of a's key, else a free one, else -1. */
static int
shm_approval_find(struct shm *shm, const struct shm_approval *a, int *same)
{
	struct shm_approval cur;
	int i, free_slot = -1;

	for (i = 0; i < SHM_APPROVALS_MAX; i++) {
		if (shm_approval_slot_verdict(shm_approval_slot(shm, (unsigned)i)) == SHM_APPROVAL_NONE) {
			if (free_slot == -1)
				free_slot = i;
			continue;
		}
		shm_approval_slot_load(shm_approval_slot(shm, (unsigned)i), &cur);
		if (shm_approval_same(&cur, &a->net, a->listener,
		    &(struct shm_approval_to){ a->dest, a->port })) {
			*same = 1;
			return i;
		}
	}
	*same = 0;
	return free_slot;
}

int
shm_approval_put(struct shm *shm, const struct shm_approval *a, uint64_t now_s, int *replaced)
{
	int slot, same;

	shm_approval_write_begin(shm);
	if ((slot = shm_approval_find(shm, a, &same)) == -1 && shm_approval_reclaim(shm, now_s) > 0)
		slot = shm_approval_find(shm, a, &same);
	if (slot != -1) {
		shm_approval_slot_store(shm_approval_slot(shm, (unsigned)slot), a);
		if (!same)
			shm_table_count(shm, SHM_TABLE_APPROVALS, 1);
		atomic_fetch_add_explicit(&shm_approvals_get(shm)->made, 1, memory_order_relaxed);
	}
	/* Even a full table ends the write: a reclaim may have changed it. */
	shm_approval_write_end(shm);
	if (replaced != NULL)
		*replaced = slot != -1 && same;
	return slot != -1 ? CT_OK : CT_ERROR;
}

size_t
shm_approval_revoke_each(struct shm *shm, const struct cidr *net, const char *listener,
    const struct shm_approval_to *to, void (*each)(const struct shm_approval *, void *),
    void *arg)
{
	struct shm_approval a;
	size_t n = 0;
	unsigned i;

	shm_approval_write_begin(shm);
	for (i = 0; i < SHM_APPROVALS_MAX; i++) {
		if (shm_approval_slot_verdict(shm_approval_slot(shm, i)) == SHM_APPROVAL_NONE)
			continue;
		shm_approval_slot_load(shm_approval_slot(shm, i), &a);
		if (!shm_approval_same(&a, net, listener, to))
			continue;
		n++;
		if (each != NULL)
			each(&a, arg);
		shm_approval_slot_clear(shm, i);
	}
	atomic_fetch_add_explicit(&shm_approvals_get(shm)->revoked, n, memory_order_relaxed);
	shm_approval_write_end(shm);
	return n;
}

/* shm_approval_revoke()'s each: the first one removed. */
static void
shm_approval_first(const struct shm_approval *a, void *arg)
{
	struct shm_approval **gone = arg;

	if (*gone != NULL) {
		**gone = *a;
		*gone = NULL;
	}
}

size_t
shm_approval_revoke(struct shm *shm, const struct cidr *net, const char *listener,
    const struct shm_approval_to *to, struct shm_approval *gone)
{
	return shm_approval_revoke_each(shm, net, listener, to, shm_approval_first, &gone);
}

size_t
shm_approval_expire(struct shm *shm, uint64_t now_s)
{
	size_t n;

	/* Nothing to do is the common case: no write, no new generation. */
	if (shm_approval_next_expiry(shm) == 0 || shm_approval_next_expiry(shm) > now_s)
		return 0;
	shm_approval_write_begin(shm);
	n = shm_approval_reclaim(shm, now_s);
	shm_approval_write_end(shm);
	return n;
}

int
shm_approval_replace(struct shm *shm, const struct shm_approval *list, size_t n)
{
	unsigned i;
	size_t k;
	int slot, same;

	if (n > SHM_APPROVALS_MAX)
		return CT_ERROR;
	shm_approval_write_begin(shm);
	for (i = 0; i < SHM_APPROVALS_MAX; i++)
		if (shm_approval_slot_verdict(shm_approval_slot(shm, i)) != SHM_APPROVAL_NONE)
			shm_approval_slot_clear(shm, i);
	for (k = 0; k < n; k++) {
		if ((slot = shm_approval_find(shm, &list[k], &same)) == -1)
			break;          /* not reached: n slots are free */
		shm_approval_slot_store(shm_approval_slot(shm, (unsigned)slot), &list[k]);
		if (!same)
			shm_table_count(shm, SHM_TABLE_APPROVALS, 1);
	}
	shm_approval_write_end(shm);
	return CT_OK;
}

uint64_t
shm_approval_next_expiry(const struct shm *shm)
{
	struct shm_approval a;
	uint64_t next = 0;
	unsigned i;

	for (i = 0; i < SHM_APPROVALS_MAX; i++) {
		if (shm_approval_slot_verdict(shm_approval_slot(shm, i)) == SHM_APPROVAL_NONE)
			continue;
		shm_approval_slot_load(shm_approval_slot(shm, i), &a);
		if (a.expires != 0 && (next == 0 || a.expires < next))
			next = a.expires;
	}
	return next;
}

/* ---------------------------------------------------------- the readers */

/* The bucket of this key in copy ix, or 0 (its meta) when there is none. */
static uint64_t
shm_approval_probe(const struct shm_approval_index *ix, const uint64_t k[2], uint64_t scope,
    const uint64_t dest[2], unsigned prefix, int v6)
{
	struct shm_approval_index *ip = (struct shm_approval_index *)(uintptr_t)ix;
	size_t b = shm_approval_mix(k[0], k[1], scope, dest, prefix, v6) &
	    (SHM_APPROVAL_BUCKETS - 1);
	uint64_t meta;
	unsigned n;

	/* Bounded: a copy torn by a write under way may have no empty bucket left to stop at. */
	for (n = 0; n < SHM_APPROVAL_BUCKETS; n++, b = (b + 1) & (SHM_APPROVAL_BUCKETS - 1)) {
		meta = atomic_load_explicit(&ip->b[b].meta, memory_order_relaxed);
		if (meta == 0)
			return 0;
		if (META_PREFIX(meta) == prefix && ((meta & META_V6) != 0) == v6 &&
		    atomic_load_explicit(&ip->b[b].key[0], memory_order_relaxed) == k[0] &&
		    atomic_load_explicit(&ip->b[b].key[1], memory_order_relaxed) == k[1] &&
		    atomic_load_explicit(&ip->b[b].scope, memory_order_relaxed) == scope &&
		    atomic_load_explicit(&ip->b[b].dest[0], memory_order_relaxed) == dest[0] &&
		    atomic_load_explicit(&ip->b[b].dest[1], memory_order_relaxed) == dest[1])
			return meta;
	}
	return 0;
}

static int
shm_approval_len_set(const atomic_uint_fast64_t *lens, unsigned len)
{
	atomic_uint_fast64_t *lp = (atomic_uint_fast64_t *)(uintptr_t)lens;

	return (atomic_load_explicit(&lp[len / 64], memory_order_relaxed) >>
	    (len % 64) & 1) != 0;
}

/*
 * One lookup in copy ix: the meta of the deciding bucket, or 0.  dest
 * holds the digests of the client's destination by kind, those of kinds
 * it has not (no destination) left out by kinds.
 */
static uint64_t
shm_approval_search(const struct shm_approval_index *ix, const uint8_t *addr, int v6,
    uint64_t scope, const uint64_t dest[SHM_APPROVAL_DEST_KINDS][2], int kinds,
    uint64_t now_s, int *scoped, enum shm_approval_dest_kind *kind)
{
	struct shm_approval_index *ip = (struct shm_approval_index *)(uintptr_t)ix;
	unsigned len = v6 ? 128 : 32;
	uint64_t k[2], meta;
	int s, d;

	if (atomic_load_explicit(&ip->count, memory_order_relaxed) == 0)
		return 0;
	for (;; len--) {
		for (d = kinds - 1; d >= 0; d--) {
			for (s = scope != 0; s >= 0; s--) {
				if (!shm_approval_len_set(ix->lens[d][s][v6], len))
					continue;
				shm_approval_key(addr, len, k);
				meta = shm_approval_probe(ix, k, s ? scope : 0, dest[d], len, v6);
				if (meta != 0 && (META_EXPIRES(meta) == 0 ||
				    META_EXPIRES(meta) > now_s)) {
					*scoped = s;
					*kind = (enum shm_approval_dest_kind)d;
					return meta;
				}
			}
		}
		if (len == 0)
			return 0;
	}
}

enum shm_approval_verdict
shm_approval_lookup(const struct shm *shm, const struct sockaddr *client, uint64_t scope,
    const struct shm_approval_to *to, uint64_t now_s, struct shm_approval_match *m)
{
	struct shm_approvals *t = shm_approvals_get(shm);
	uint8_t addr[16] = { 0 };
	uint64_t meta, gen, dest[SHM_APPROVAL_DEST_KINDS][2] = { { 0, 0 } };
	enum shm_approval_dest_kind kind = SHM_APPROVAL_DEST_ANY;
	unsigned seq, tries;
	int v6 = 0, scoped = 0, kinds = 1;

	if (client->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)client)->sin_addr, 4);
	} else if (client->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)client)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, a6->s6_addr + 12, 4);
		} else {
			memcpy(addr, a6->s6_addr, 16);
			v6 = 1;
		}
	} else {
		return SHM_APPROVAL_NONE;
	}
	if (to != NULL && to->host[0] != '\0') {
		shm_approval_dest_digest(to->host, 0, dest[SHM_APPROVAL_DEST_HOST]);
		shm_approval_dest_digest(to->host, to->port, dest[SHM_APPROVAL_DEST_PORT]);
		kinds = SHM_APPROVAL_DEST_KINDS;
	}
	for (tries = 0; tries < SHM_APPROVAL_TRIES; tries++) {
		gen = atomic_load_explicit(&t->generation, memory_order_acquire);
		seq = atomic_load_explicit(&t->seq, memory_order_acquire);
		meta = shm_approval_search(&t->idx[seq & 1], addr, v6, scope,
		    (const uint64_t (*)[2])dest, kinds, now_s, &scoped, &kind);
		/* What was read is read before seq is read again. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->seq, memory_order_relaxed) != seq)
			continue;
		if (m != NULL) {
			m->verdict = meta != 0 ? (enum shm_approval_verdict)META_VERDICT(meta) :
			    SHM_APPROVAL_NONE;
			m->prefix = META_PREFIX(meta);
			m->scoped = scoped;
			m->dest = kind;
			m->slot = META_SLOT(meta);
			m->expires = META_EXPIRES(meta);
			m->generation = gen;
		}
		return meta != 0 ? (enum shm_approval_verdict)META_VERDICT(meta) : SHM_APPROVAL_NONE;
	}
	/* Writes all along: no decision, as for a client none covers; the next change wakes it. */
	if (m != NULL)
		memset(m, 0, sizeof(*m));
	return SHM_APPROVAL_NONE;
}

uint64_t
shm_approval_generation(const struct shm *shm)
{
	return atomic_load_explicit(&shm_approvals_get(shm)->generation, memory_order_acquire);
}

void
shm_approval_counters(const struct shm *shm, uint64_t *made, uint64_t *revoked,
    uint64_t *expired)
{
	struct shm_approvals *t = shm_approvals_get(shm);

	*made = atomic_load_explicit(&t->made, memory_order_relaxed);
	*revoked = atomic_load_explicit(&t->revoked, memory_order_relaxed);
	*expired = atomic_load_explicit(&t->expired, memory_order_relaxed);
}

int
shm_approval_list(const struct shm *shm, struct shm_approval *out, size_t *n,
    uint64_t *generation)
{
	struct shm_approvals *t = shm_approvals_get(shm);
	struct timespec pause = { 0, 50000 };
	unsigned seq, i, tries;

	for (tries = 0; tries < SHM_APPROVAL_LIST_TRIES; tries++) {
		*generation = atomic_load_explicit(&t->generation, memory_order_acquire);
		seq = atomic_load_explicit(&t->seq, memory_order_acquire);
		if (seq & 1) {
			nanosleep(&pause, NULL);
			continue;
		}
		*n = 0;
		for (i = 0; i < SHM_APPROVALS_MAX; i++)
			if (shm_approval_slot_verdict(shm_approval_slot(shm, i)) != SHM_APPROVAL_NONE)
				shm_approval_slot_load(shm_approval_slot(shm, i), &out[(*n)++]);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->seq, memory_order_relaxed) == seq)
			return CT_OK;
	}
	*n = 0;
	return CT_AGAIN;
}

int
shm_approval_get(const struct shm *shm, unsigned slot, struct shm_approval *out)
{
	struct shm_approvals *t = shm_approvals_get(shm);
	unsigned seq, tries;

	if (slot >= SHM_APPROVALS_MAX)
		return CT_ERROR;
	for (tries = 0; tries < SHM_APPROVAL_TRIES; tries++) {
		seq = atomic_load_explicit(&t->seq, memory_order_acquire);
		if (seq & 1)
			continue;
		shm_approval_slot_load(shm_approval_slot(shm, slot), out);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->seq, memory_order_relaxed) == seq)
			return CT_OK;
	}
	memset(out, 0, sizeof(*out));
	return CT_AGAIN;
}

/*
 * Approval decisions: a client address or network -> allow or deny,
 * for one listener or for all, with an expiry, an origin and a note.
 *
 * One writer, many readers.  Only the master writes (the admin process
 * asks it over the admin link; the state file is its own), so writes
 * need no lock among themselves.  Readers take none either:
 *
 *   slots   SHM_APPROVALS_MAX decisions, the table SHM_TABLE_APPROVALS,
 *           each stored as relaxed atomic words so that a read racing
 *           a write is defined behaviour.  What the admin process lists.
 *   index   two copies of an open-addressing hash of the slots by
 *           (network, prefix length, scope), with the verdict and the
 *           expiry in each bucket: what a worker's lookup reads, and
 *           all it reads.  The table SHM_TABLE_APPROVAL_INDEX.
 *
 * The two copies are a latch (Linux's seqcount_latch): a write makes
 * seq odd, so that readers use copy 1 (the old state, untouched), changes
 * the slots and rebuilds copy 0 from them; then makes seq even, so that
 * readers use copy 0 (the new state), and rebuilds copy 1 to match.  A
 * reader loads seq, looks up copy seq & 1 and loads seq again: the same
 * value means that nothing it read was being written, and it never waits
 * for the writer; a different one (a write came in between) means one
 * more try.  The admin process, which reads the slots, treats an odd
 * seq as a write under way, as with any sequence lock.
 *
 * A decision may also name a destination (forward and socks listeners):
 * a host name or address, on one port or on every port.  It covers the
 * client only when it goes there.
 *
 * Lookup: the longest prefix that holds an unexpired decision wins; at
 * one prefix length, one for the client's destination and port wins over
 * one for the destination on every port, which wins over one for every
 * destination, and within each, a decision for the client's listener
 * wins over one for every listener.  Each copy keeps, per family, scope
 * kind and destination kind, a bit per prefix length in use, so that a
 * lookup probes only lengths that hold a decision: with only host
 * decisions, one probe.  The index holds a destination as 128 bits of
 * its SHA-256, so that no name a client chooses can pass for another's.  IPv4 and
 * IPv6 are separate families; an IPv4 client seen by an IPv6 socket
 * (::ffff:a.b.c.d), and a decision written that way with a prefix of 96
 * or more, are IPv4.
 *
 * Expired decisions are ignored by lookups at once and reclaimed by the
 * master (shm_approval_expire(), on a timer at the next expiry), or
 * when a new decision finds the table full.  Times are CLOCK_REALTIME
 * seconds, since decisions outlive a restart through the state file.
 *
 * generation moves once per write, after its new state is visible: a
 * worker that saw generation G and sees another knows that some
 * decision changed, and looks its waiting clients up again.
 */
#ifndef CT_SHM_APPROVAL_H
#define CT_SHM_APPROVAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/addr.h"
#include "shm/shm.h"

#define SHM_APPROVALS_MAX       4096    /* decisions; a constant, as every table's bound */
#define SHM_APPROVAL_BUCKETS    8192    /* per index copy: at most half full */
#define SHM_APPROVAL_BY_LEN     32      /* who made it, with the NUL */
#define SHM_APPROVAL_NOTE_LEN   64      /* the operator's note, with the NUL */
#define SHM_APPROVAL_DEST_LEN   254     /* a destination's host, with the NUL: a DNS name's 253 */
#define SHM_APPROVAL_NODE_LEN   136     /* a cluster node's name, with the NUL (conf/redis.h) */

enum shm_approval_verdict {
	SHM_APPROVAL_NONE,          /* no decision covers the client: the listener's policy applies */
	SHM_APPROVAL_ALLOW,
	SHM_APPROVAL_DENY,
	SHM_APPROVAL_VERDICTS
};

/* Who made a decision; "by" names them. */
enum shm_approval_origin {
	SHM_APPROVAL_RULE = 1,      /* a rule of the configuration; by: its name */
	SHM_APPROVAL_OPERATOR,      /* the admin API; by: the operator's name, if given */
	SHM_APPROVAL_PEER,          /* another instance of a cluster; by: its node name */
	SHM_APPROVAL_ORIGINS
};

extern const char *const shm_approval_verdict_names[SHM_APPROVAL_VERDICTS];
/* Index 0 is "" (no origin); then "rule", "operator", "peer". */
extern const char *const shm_approval_origin_names[SHM_APPROVAL_ORIGINS];

/* One decision, as the master writes it and readers copy it out. */
struct shm_approval {
	struct cidr net;            /* host bits zero; IPv4-mapped IPv6 as IPv4 */
	uint32_t verdict;           /* ALLOW or DENY; NONE: a free slot */
	uint32_t origin;            /* enum shm_approval_origin */
	uint64_t expires;           /* CLOCK_REALTIME s; 0: until revoked */
	uint64_t made;              /* CLOCK_REALTIME s */
	char listener[SHM_NAME_LEN];        /* "": every listener */
	char by[SHM_APPROVAL_BY_LEN];       /* "": nobody named */
	char note[SHM_APPROVAL_NOTE_LEN];   /* "": none */
	/* shm_approval_dest_normalize()d host name or address; "": every destination. */
	char dest[SHM_APPROVAL_DEST_LEN];
	uint16_t port;                      /* of dest; 0: every port */
	/*
	 * The cluster's order of changes (master/cluster.h): when and on which
	 * node this decision was made.  Of two for the same network, listener
	 * and destination, the later wins, and at one time, the greater node
	 * name.  0 and "": made on this node, standalone or before it had a
	 * name; such a decision counts as made at "made" seconds.
	 */
	uint64_t changed_ms;                /* CLOCK_REALTIME ms */
	char node[SHM_APPROVAL_NODE_LEN];
};

#define SHM_APPROVAL_WORDS (sizeof(struct shm_approval) / 8)

struct shm_approval_slot {
	atomic_uint_fast64_t w[SHM_APPROVAL_WORDS];
};

/*
 * A bucket of an index copy.  meta packs, from bit 0: in use (1),
 * IPv6 (1), verdict (2), prefix length (8, from bit 8), slot (16, from
 * bit 16), expiry in seconds (32, from bit 32; 0: none).
 */
struct shm_approval_bucket {
	atomic_uint_fast64_t key[2];        /* the network's 16 bytes; IPv4 in the first 4 */
	atomic_uint_fast64_t scope;         /* shm_approval_scope() of the listener; 0: every one */
	atomic_uint_fast64_t dest[2];       /* digest of the destination and port; 0: every one */
	atomic_uint_fast64_t meta;          /* 0: empty */
};

/* Kinds of destination a decision names, in the order a lookup prefers them. */
enum shm_approval_dest_kind {
	SHM_APPROVAL_DEST_ANY,              /* every destination */
	SHM_APPROVAL_DEST_HOST,             /* one host, every port */
	SHM_APPROVAL_DEST_PORT,             /* one host and port */
	SHM_APPROVAL_DEST_KINDS
};

/* Where a client of a forward or socks listener goes, for a lookup. */
struct shm_approval_to {
	const char *host;                   /* shm_approval_dest_normalize()d */
	uint16_t port;
};

struct shm_approval_index {
	atomic_uint count;                  /* decisions in this copy */
	/* Prefix lengths in use: [dest kind][scoped][IPv6], one bit per length 0..128. */
	atomic_uint_fast64_t lens[SHM_APPROVAL_DEST_KINDS][2][2][3];
	struct shm_approval_bucket b[SHM_APPROVAL_BUCKETS];
};

struct shm_approvals {
	atomic_uint seq;                    /* the latch: odd while the slots are written */
	atomic_uint_fast64_t generation;    /* writes so far */
	atomic_uint_fast64_t made;          /* decisions put, new or replacing, for /metrics */
	atomic_uint_fast64_t revoked;       /* taken back by a revoke */
	atomic_uint_fast64_t expired;       /* reclaimed after their expiry */
	struct shm_approval_index idx[2];
};

/* What decided a lookup, for a worker's log line. */
struct shm_approval_match {
	enum shm_approval_verdict verdict;
	unsigned prefix;            /* of the decision's network */
	int scoped;                 /* it was for this listener, not for every one */
	enum shm_approval_dest_kind dest;   /* what it said of the destination */
	unsigned slot;              /* shm_approval_get() gives its origin, by and note */
	uint64_t expires;           /* 0: until revoked */
	uint64_t generation;        /* of the table when looked up */
};

/* shm_create()'s: registers the slots and the index. */
int shm_approvals_init(struct shm *shm);

/*
 * Why a (not normalized) decision cannot be stored, or NULL: family,
 * prefix and host bits, verdict, origin, lengths and the characters of
 * listener (printable ASCII), by (printable ASCII) and note (no control
 * characters).  Used on whatever comes from the admin link or the state
 * file before it reaches the table.
 */
const char *shm_approval_check(const struct shm_approval *a);
/* An IPv4-mapped IPv6 network with a prefix of 96 or more becomes IPv4. */
void shm_approval_normalize(struct cidr *net);
/* The scope of a listener name for lookups: a 64-bit hash, never 0. */
uint64_t shm_approval_scope(const char *listener);
/*
 * A destination's host as decisions hold it, into out (SHM_APPROVAL_DEST_LEN
 * bytes): a name in lower case without its final dot, an address in the
 * form inet_ntop() writes (IPv4-mapped IPv6 as IPv4), without brackets.
 * CT_ERROR when it is neither a host name (letters, digits, '-', '_',
 * '.', at most 253 bytes) nor an address.
 */
int shm_approval_dest_normalize(const char *host, size_t len, char *out);

/*
 * Master only.  Stores a (checked, normalized) decision, replacing the
 * one for the same network, listener and destination, if any (*replaced = 1).  With
 * every slot taken, expired ones are reclaimed first.  CT_ERROR: the
 * table is full.  a->made is kept as given.
 */
int shm_approval_put(struct shm *shm, const struct shm_approval *a, uint64_t now_s,
    int *replaced);
/*
 * Master only.  Removes the decisions for exactly this (normalized)
 * network: the one for listener, or with listener NULL those of every
 * scope; for the destination to (normalized; port 0: every port), or
 * with to NULL those of every destination.  Copies the first one removed
 * into *gone (when not NULL) and returns how many there were.
 */
size_t shm_approval_revoke(struct shm *shm, const struct cidr *net, const char *listener,
    const struct shm_approval_to *to, struct shm_approval *gone);
/*
 * The same, calling each (when not NULL) with every decision removed,
 * while the table is being written: each must not touch the table.
 */
size_t shm_approval_revoke_each(struct shm *shm, const struct cidr *net, const char *listener,
    const struct shm_approval_to *to, void (*each)(const struct shm_approval *, void *),
    void *arg);
/* Master only.  Reclaims the decisions expired at now_s; returns how many. */
size_t shm_approval_expire(struct shm *shm, uint64_t now_s);
/*
 * Master only.  Replaces every decision with list[0..n) (checked and
 * normalized; a later one replaces an earlier one of the same key), in
 * one write.  CT_ERROR when n is over SHM_APPROVALS_MAX.
 */
int shm_approval_replace(struct shm *shm, const struct shm_approval *list, size_t n);
/* Master only.  The earliest expiry among the decisions; 0: none expires. */
uint64_t shm_approval_next_expiry(const struct shm *shm);

/*
 * Any process.  The decision for a client of the listener of scope
 * (shm_approval_scope(); 0: look at decisions for every listener only)
 * going to to (NULL: decisions for every destination only) at now_s:
 * SHM_APPROVAL_NONE when no unexpired decision covers it.  m, when not
 * NULL, says which decision it was.  No lock, no system call, no
 * waiting for the writer.
 */
enum shm_approval_verdict shm_approval_lookup(const struct shm *shm,
    const struct sockaddr *client, uint64_t scope, const struct shm_approval_to *to,
    uint64_t now_s, struct shm_approval_match *m);
/* Any process.  Moves once per write, after the write is visible to lookups. */
uint64_t shm_approval_generation(const struct shm *shm);
/* Any process.  The counters of writes, for /metrics. */
void shm_approval_counters(const struct shm *shm, uint64_t *made, uint64_t *revoked,
    uint64_t *expired);
/*
 * Any process.  Copies every stored decision (expired ones not yet
 * reclaimed included) into out (room for SHM_APPROVALS_MAX), their
 * number into *n and the generation they are of into *generation.
 * CT_AGAIN when writes kept coming for a few milliseconds.
 */
int shm_approval_list(const struct shm *shm, struct shm_approval *out, size_t *n,
    uint64_t *generation);
/* Any process.  The decision in slot (from a match); CT_AGAIN if it was being written. */
int shm_approval_get(const struct shm *shm, unsigned slot, struct shm_approval *out);

#endif

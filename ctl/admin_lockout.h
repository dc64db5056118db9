/*
 * Wrong tokens on the admin TCP address, counted per client address and
 * for all of them together, in a table of fixed size: pure code over a
 * clock the caller passes, with no sockets and no logging, so that a
 * unit suite runs it (t/unit/check_lockout.c).
 *
 *   check --locked--> 429, the token is not looked at
 *     |
 *   compare --wrong--> fail: counted; at the limit, locked for a window
 *     |
 *   pass: the address's count is cleared, and it is trusted
 *
 * An address is IPv4, or the /64 of IPv6 (one host holds a /64); an
 * IPv4 address mapped into IPv6 counts as IPv4.  Only a failure makes
 * an entry; a full table gives up its least useful one (see
 * admin_lockout_fail()).  The total of all addresses bounds what a
 * guesser with many addresses gets: past it, every address is refused
 * for a window but those that passed before (the operator's), which
 * keep their own limit.  The table holds more entries than two windows
 * of that total can make, so that a flood of new addresses cannot push
 * a locked one out before its lock ends.
 */
#ifndef CT_CTL_ADMIN_LOCKOUT_H
#define CT_CTL_ADMIN_LOCKOUT_H

#include <stdint.h>
#include <sys/socket.h>

#include "conf/admin.h"

#define ADMIN_LOCKOUT_SLOTS 1024

_Static_assert(ADMIN_LOCKOUT_SLOTS > 2 * CONF_LOGIN_TOTAL_MAX,
    "the lockout table must outlast two windows of failures");

/* An address as the table counts it; family 0: none. */
struct admin_lockout_key {
	uint8_t family;             /* AF_INET, AF_INET6 */
	uint8_t addr[16];           /* IPv4: 4 bytes; IPv6: the /64, the rest zero */
};

struct admin_lockout_entry {
	struct admin_lockout_key key;   /* family 0: a free slot */
	unsigned failures;          /* in the window from since */
	int trusted;                /* passed since it was last locked */
	uint64_t since;             /* the window's start */
	uint64_t until;             /* locked until; 0: not locked */
	uint64_t last;              /* its last failure or pass */
};

/* What a failure began, so that each lockout is logged once: bits. */
#define ADMIN_LOCKOUT_ADDRESS 1u    /* the address is locked from now on */
#define ADMIN_LOCKOUT_ALL     2u    /* the total is reached: every untrusted address is */

struct admin_lockout {
	unsigned max;               /* failures of an address in a window */
	unsigned total;             /* failures of all addresses in a window */
	uint64_t window_ms;
	unsigned failures;          /* of all, in the window from since */
	uint64_t since;
	uint64_t until;             /* all untrusted locked until; 0: not */
	/* For /metrics. */
	uint64_t failed;            /* wrong tokens */
	uint64_t locked_address;    /* lockouts of one address */
	uint64_t locked_all;        /* lockouts of all */
	uint64_t refused;           /* attempts refused while locked: the caller counts */
	struct admin_lockout_entry e[ADMIN_LOCKOUT_SLOTS];
};

/* An empty table with the limits of login. */
void admin_lockout_init(struct admin_lockout *t, const struct conf_login *login);
/* The key of sa (AF_INET, AF_INET6); CT_ERROR for another family. */
int admin_lockout_key_set(struct admin_lockout_key *k, const struct sockaddr *sa);
/* "192.0.2.7" or "2001:db8:1:2::/64" into buf. */
const char *admin_lockout_key_format(const struct admin_lockout_key *k, char *buf,
    size_t size);
/*
 * May k's token be compared now?  CT_OK; or CT_DECLINED with the
 * milliseconds until it may in *retry_ms (at least 1).  Counts nothing:
 * a request that needs no token is served all the same, and only the
 * caller knows whether it refused one.
 */
int admin_lockout_check(struct admin_lockout *t, const struct admin_lockout_key *k,
    uint64_t now, uint64_t *retry_ms);
/*
 * k's token was wrong: ADMIN_LOCKOUT_* of the lockouts this failure
 * began, 0 for none.  Call only after admin_lockout_check() said CT_OK.
 */
unsigned admin_lockout_fail(struct admin_lockout *t, const struct admin_lockout_key *k,
    uint64_t now);
/* k's token was right: its count is cleared, and the total no longer locks it. */
void admin_lockout_pass(struct admin_lockout *t, const struct admin_lockout_key *k,
    uint64_t now);

#endif

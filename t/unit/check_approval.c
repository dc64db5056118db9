/*
 * The approval decisions in shm: longest prefix, a listener's decision
 * over one for every listener, expiry, IPv4, IPv6 and IPv4-mapped
 * clients, a full table, the generation, the checks of what is stored,
 * and lookups racing a writer in another process.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "lib/addr.h"
#include "lib/ct.h"
#include "shm/approval.h"
#include "t/unit/suites.h"

#define NOW 1700000000u

static struct shm shm;

static void
approval_setup(void)
{
	memset(&shm, 0, sizeof(shm));
	shm.fd = -1;
	ck_assert_int_eq(shm_create(&shm, SHM_MIN_SIZE), CT_OK);
}

static void
approval_teardown(void)
{
	shm_destroy(&shm);
}

/* A decision for cidr (any syntax cidr_parse() takes), normalized. */
static struct shm_approval
dec(const char *cidr, enum shm_approval_verdict v, const char *listener, uint64_t expires)
{
	struct shm_approval a;
	const char *why;

	memset(&a, 0, sizeof(a));
	ck_assert_msg(cidr_parse(cidr, &a.net, &why) == CT_OK, "%s: %s", cidr, why);
	shm_approval_normalize(&a.net);
	a.verdict = v;
	a.origin = SHM_APPROVAL_OPERATOR;
	a.expires = expires;
	a.made = NOW;
	snprintf(a.listener, sizeof(a.listener), "%s", listener != NULL ? listener : "");
	ck_assert_ptr_null(shm_approval_check(&a));
	return a;
}

static void
put(const char *cidr, enum shm_approval_verdict v, const char *listener, uint64_t expires)
{
	struct shm_approval a = dec(cidr, v, listener, expires);

	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
}

/* The verdict for client address s (no port) on listener (NULL: scope 0) at now. */
static enum shm_approval_verdict
look_at(const char *s, const char *listener, uint64_t now, struct shm_approval_match *m)
{
	struct addr a;
	const char *why;

	ck_assert_msg(addr_parse_port(s, 1234, &a, &why) == CT_OK, "%s: %s", s, why);
	return shm_approval_lookup(&shm, (const struct sockaddr *)&a.ss,
	    listener != NULL ? shm_approval_scope(listener) : 0, NULL, now, m);
}

static enum shm_approval_verdict
look(const char *s, const char *listener)
{
	return look_at(s, listener, NOW, NULL);
}

START_TEST(empty_table_decides_nothing)
{
	struct shm_approval_match m;

	ck_assert_int_eq(look_at("192.0.2.7", "web", NOW, &m), SHM_APPROVAL_NONE);
	ck_assert_int_eq(m.verdict, SHM_APPROVAL_NONE);
	ck_assert_int_eq(look("::1", NULL), SHM_APPROVAL_NONE);
	ck_assert_uint_eq(shm_approval_generation(&shm), 0);
}
END_TEST

START_TEST(longest_prefix_wins)
{
	struct shm_approval_match m;

	put("0.0.0.0/0", SHM_APPROVAL_DENY, NULL, 0);
	put("192.0.2.0/24", SHM_APPROVAL_ALLOW, NULL, 0);
	put("192.0.2.7", SHM_APPROVAL_DENY, NULL, 0);
	put("192.0.2.0/25", SHM_APPROVAL_ALLOW, NULL, 0);
	ck_assert_int_eq(look_at("192.0.2.7", "web", NOW, &m), SHM_APPROVAL_DENY);
	ck_assert_uint_eq(m.prefix, 32);
	ck_assert_int_eq(look_at("192.0.2.8", "web", NOW, &m), SHM_APPROVAL_ALLOW);
	ck_assert_uint_eq(m.prefix, 25);
	ck_assert_int_eq(look_at("192.0.2.200", "web", NOW, &m), SHM_APPROVAL_ALLOW);
	ck_assert_uint_eq(m.prefix, 24);
	ck_assert_int_eq(look_at("198.51.100.1", "web", NOW, &m), SHM_APPROVAL_DENY);
	ck_assert_uint_eq(m.prefix, 0);
	ck_assert_int_eq(m.scoped, 0);
}
END_TEST

START_TEST(listener_decision_over_global_of_same_prefix)
{
	struct shm_approval_match m;

	put("192.0.2.7", SHM_APPROVAL_DENY, NULL, 0);
	put("192.0.2.7", SHM_APPROVAL_ALLOW, "web", 0);
	ck_assert_int_eq(look_at("192.0.2.7", "web", NOW, &m), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(m.scoped, 1);
	ck_assert_int_eq(look("192.0.2.7", "mail"), SHM_APPROVAL_DENY);
	ck_assert_int_eq(look("192.0.2.7", NULL), SHM_APPROVAL_DENY);
	/* A longer global prefix still wins over a shorter one for the listener. */
	put("198.51.100.0/24", SHM_APPROVAL_ALLOW, "web", 0);
	put("198.51.100.9", SHM_APPROVAL_DENY, NULL, 0);
	ck_assert_int_eq(look_at("198.51.100.9", "web", NOW, &m), SHM_APPROVAL_DENY);
	ck_assert_int_eq(m.scoped, 0);
	ck_assert_int_eq(look("198.51.100.10", "web"), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(look("198.51.100.10", "mail"), SHM_APPROVAL_NONE);
}
END_TEST

/* A decision for cidr going to dest (normalized already) on port (0: every port). */
static void
put_to(const char *cidr, enum shm_approval_verdict v, const char *listener, const char *dest,
    uint16_t port)
{
	struct shm_approval a = dec(cidr, v, listener, 0);

	snprintf(a.dest, sizeof(a.dest), "%s", dest);
	a.port = port;
	ck_assert_ptr_null(shm_approval_check(&a));
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
}

/* The verdict for client s of listener going to host:port (host NULL: nowhere named). */
static enum shm_approval_verdict
look_to(const char *s, const char *listener, const char *host, uint16_t port,
    struct shm_approval_match *m)
{
	struct shm_approval_to to = { host, port };
	struct addr a;
	const char *why;

	ck_assert_msg(addr_parse_port(s, 1234, &a, &why) == CT_OK, "%s: %s", s, why);
	return shm_approval_lookup(&shm, (const struct sockaddr *)&a.ss,
	    listener != NULL ? shm_approval_scope(listener) : 0, host != NULL ? &to : NULL, NOW, m);
}

START_TEST(destination_decisions)
{
	struct shm_approval_match m;

	put_to("192.0.2.7", SHM_APPROVAL_ALLOW, NULL, "example.com", 443);
	/* Only there, on that port, and not for a client that names nowhere. */
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.com", 443, &m), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(m.dest, SHM_APPROVAL_DEST_PORT);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.com", 80, NULL), SHM_APPROVAL_NONE);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.org", 443, NULL), SHM_APPROVAL_NONE);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "www.example.com", 443, NULL),
	    SHM_APPROVAL_NONE);
	ck_assert_int_eq(look_to("192.0.2.7", "px", NULL, 0, NULL), SHM_APPROVAL_NONE);
	ck_assert_int_eq(look_to("192.0.2.8", "px", "example.com", 443, NULL), SHM_APPROVAL_NONE);
	/* Every port of a host; the one with the port wins at the same prefix. */
	put_to("192.0.2.7", SHM_APPROVAL_DENY, NULL, "example.com", 0);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.com", 80, &m), SHM_APPROVAL_DENY);
	ck_assert_int_eq(m.dest, SHM_APPROVAL_DEST_HOST);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.com", 443, NULL), SHM_APPROVAL_ALLOW);
	/* A decision for every destination loses to one for the destination... */
	put_to("192.0.2.7", SHM_APPROVAL_DENY, NULL, "", 0);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.com", 443, NULL), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.net", 443, &m), SHM_APPROVAL_DENY);
	ck_assert_int_eq(m.dest, SHM_APPROVAL_DEST_ANY);
	/* ...at one prefix length; a longer prefix still wins. */
	put_to("198.51.100.0/24", SHM_APPROVAL_ALLOW, NULL, "example.com", 443);
	put_to("198.51.100.9", SHM_APPROVAL_DENY, NULL, "", 0);
	ck_assert_int_eq(look_to("198.51.100.9", "px", "example.com", 443, NULL),
	    SHM_APPROVAL_DENY);
	ck_assert_int_eq(look_to("198.51.100.10", "px", "example.com", 443, NULL),
	    SHM_APPROVAL_ALLOW);
	/* A listener's own, for the destination, over every listener's. */
	put_to("198.51.100.0/24", SHM_APPROVAL_DENY, "px", "example.com", 443);
	ck_assert_int_eq(look_to("198.51.100.10", "px", "example.com", 443, &m),
	    SHM_APPROVAL_DENY);
	ck_assert_int_eq(m.scoped, 1);
	ck_assert_int_eq(look_to("198.51.100.10", "socks", "example.com", 443, NULL),
	    SHM_APPROVAL_ALLOW);
	/* Addresses as destinations, IPv6 ones too. */
	put_to("192.0.2.7", SHM_APPROVAL_ALLOW, NULL, "2001:db8::5", 22);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "2001:db8::5", 22, NULL), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "2001:db8::5", 23, NULL), SHM_APPROVAL_DENY);
}
END_TEST

START_TEST(destination_revoke_and_replace)
{
	struct shm_approval_to to = { "example.com", 443 };
	struct shm_approval gone;
	struct cidr net;
	const char *why;

	put_to("192.0.2.7", SHM_APPROVAL_ALLOW, NULL, "example.com", 443);
	put_to("192.0.2.7", SHM_APPROVAL_ALLOW, NULL, "example.org", 443);
	put_to("192.0.2.7", SHM_APPROVAL_DENY, NULL, "", 0);
	/* The same client and destination is the same decision: replaced. */
	put_to("192.0.2.7", SHM_APPROVAL_DENY, NULL, "example.com", 443);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used), 3);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.com", 443, NULL), SHM_APPROVAL_DENY);
	ck_assert_int_eq(cidr_parse("192.0.2.7", &net, &why), CT_OK);
	ck_assert_uint_eq(shm_approval_revoke(&shm, &net, NULL, &to, &gone), 1);
	ck_assert_str_eq(gone.dest, "example.com");
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.org", 443, NULL), SHM_APPROVAL_ALLOW);
	/* Without a destination, those of every destination go. */
	ck_assert_uint_eq(shm_approval_revoke(&shm, &net, NULL, NULL, NULL), 2);
	ck_assert_int_eq(look_to("192.0.2.7", "px", "example.org", 443, NULL), SHM_APPROVAL_NONE);
}
END_TEST

START_TEST(destination_normal_form)
{
	char out[SHM_APPROVAL_DEST_LEN];
	char big[300];
	struct shm_approval a = dec("192.0.2.7", SHM_APPROVAL_ALLOW, NULL, 0);

	ck_assert_int_eq(shm_approval_dest_normalize("Example.COM.", 12, out), CT_OK);
	ck_assert_str_eq(out, "example.com");
	ck_assert_int_eq(shm_approval_dest_normalize("2001:DB8:0::5", 13, out), CT_OK);
	ck_assert_str_eq(out, "2001:db8::5");
	ck_assert_int_eq(shm_approval_dest_normalize("::ffff:192.0.2.1", 16, out), CT_OK);
	ck_assert_str_eq(out, "192.0.2.1");
	ck_assert_int_eq(shm_approval_dest_normalize("a b", 3, out), CT_ERROR);
	ck_assert_int_eq(shm_approval_dest_normalize("a\0b", 3, out), CT_ERROR);
	ck_assert_int_eq(shm_approval_dest_normalize("*.example.com", 13, out), CT_ERROR);
	ck_assert_int_eq(shm_approval_dest_normalize("", 0, out), CT_ERROR);
	ck_assert_int_eq(shm_approval_dest_normalize(".", 1, out), CT_ERROR);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(shm_approval_dest_normalize(big, 253, out), CT_OK);
	ck_assert_int_eq(shm_approval_dest_normalize(big, 254, out), CT_ERROR);
	/* What is stored must be in that form already. */
	snprintf(a.dest, sizeof(a.dest), "Example.com");
	ck_assert_str_eq(shm_approval_check(&a), "a destination is not in its normal form");
	snprintf(a.dest, sizeof(a.dest), "exa mple");
	ck_assert_str_eq(shm_approval_check(&a), "a destination is a host name or an IP address");
	a.dest[0] = '\0';
	a.port = 443;
	ck_assert_str_eq(shm_approval_check(&a), "a port needs a destination");
}
END_TEST

START_TEST(same_key_replaces)
{
	struct shm_approval a = dec("192.0.2.7", SHM_APPROVAL_DENY, "web", 0);
	struct shm_approval out[SHM_APPROVALS_MAX];
	uint64_t gen;
	size_t n;
	int replaced;

	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, &replaced), CT_OK);
	ck_assert_int_eq(replaced, 0);
	a.verdict = SHM_APPROVAL_ALLOW;
	snprintf(a.note, sizeof(a.note), "second thoughts");
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, &replaced), CT_OK);
	ck_assert_int_eq(replaced, 1);
	ck_assert_int_eq(look("192.0.2.7", "web"), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(shm_approval_list(&shm, out, &n, &gen), CT_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(out[0].note, "second thoughts");
	ck_assert_uint_eq(gen, 2);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used), 1);
}
END_TEST

START_TEST(expired_ignored_then_reclaimed)
{
	struct shm_approval out[SHM_APPROVALS_MAX];
	uint64_t gen;
	size_t n;

	put("192.0.2.0/24", SHM_APPROVAL_DENY, NULL, 0);
	put("192.0.2.7", SHM_APPROVAL_ALLOW, "web", NOW + 10);
	put("192.0.2.8", SHM_APPROVAL_ALLOW, NULL, NOW + 20);
	ck_assert_uint_eq(shm_approval_next_expiry(&shm), NOW + 10);
	ck_assert_int_eq(look_at("192.0.2.7", "web", NOW + 9, NULL), SHM_APPROVAL_ALLOW);
	/* At its expiry it is ignored at once: the shorter prefix under it decides. */
	ck_assert_int_eq(look_at("192.0.2.7", "web", NOW + 10, NULL), SHM_APPROVAL_DENY);
	gen = shm_approval_generation(&shm);
	ck_assert_uint_eq(shm_approval_expire(&shm, NOW + 9), 0);
	ck_assert_uint_eq(shm_approval_generation(&shm), gen);
	ck_assert_uint_eq(shm_approval_expire(&shm, NOW + 10), 1);
	ck_assert_uint_eq(shm_approval_generation(&shm), gen + 1);
	ck_assert_uint_eq(shm_approval_next_expiry(&shm), NOW + 20);
	ck_assert_int_eq(shm_approval_list(&shm, out, &n, &gen), CT_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used), 2);
}
END_TEST

START_TEST(ipv6_and_mapped_clients)
{
	struct shm_approval a;

	put("2001:db8::/64", SHM_APPROVAL_ALLOW, NULL, 0);
	put("2001:db8::1", SHM_APPROVAL_DENY, NULL, 0);
	put("192.0.2.0/24", SHM_APPROVAL_ALLOW, NULL, 0);
	ck_assert_int_eq(look("2001:db8::1", "web"), SHM_APPROVAL_DENY);
	ck_assert_int_eq(look("2001:db8::2", "web"), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(look("2001:db8:1::2", "web"), SHM_APPROVAL_NONE);
	/* An IPv4 client through an IPv6 socket is that IPv4 client. */
	ck_assert_int_eq(look("::ffff:192.0.2.9", "web"), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(look("::ffff:198.51.100.9", "web"), SHM_APPROVAL_NONE);
	/* A decision written as mapped IPv6 is IPv4... */
	a = dec("::ffff:198.51.100.0/120", SHM_APPROVAL_DENY, NULL, 0);
	ck_assert_int_eq(a.net.family, AF_INET);
	ck_assert_uint_eq(a.net.prefix, 24);
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
	ck_assert_int_eq(look("198.51.100.9", "web"), SHM_APPROVAL_DENY);
	ck_assert_int_eq(look("::ffff:198.51.100.9", "web"), SHM_APPROVAL_DENY);
	/* ... and all of IPv6 is not IPv4. */
	put("::/0", SHM_APPROVAL_DENY, NULL, 0);
	ck_assert_int_eq(look("203.0.113.1", "web"), SHM_APPROVAL_NONE);
	ck_assert_int_eq(look("::ffff:203.0.113.1", "web"), SHM_APPROVAL_NONE);
	ck_assert_int_eq(look("2001:db9::1", "web"), SHM_APPROVAL_DENY);
}
END_TEST

START_TEST(revoke_by_scope)
{
	struct shm_approval gone;
	struct cidr net;
	const char *why;

	put("192.0.2.7", SHM_APPROVAL_ALLOW, NULL, 0);
	put("192.0.2.7", SHM_APPROVAL_DENY, "web", 0);
	put("192.0.2.7", SHM_APPROVAL_DENY, "mail", 0);
	ck_assert_int_eq(cidr_parse("192.0.2.7", &net, &why), CT_OK);
	ck_assert_uint_eq(shm_approval_revoke(&shm, &net, "web", NULL, &gone), 1);
	ck_assert_str_eq(gone.listener, "web");
	ck_assert_int_eq(look("192.0.2.7", "web"), SHM_APPROVAL_ALLOW);
	ck_assert_int_eq(look("192.0.2.7", "mail"), SHM_APPROVAL_DENY);
	ck_assert_uint_eq(shm_approval_revoke(&shm, &net, "web", NULL, NULL), 0);
	ck_assert_uint_eq(shm_approval_revoke(&shm, &net, NULL, NULL, NULL), 2);
	ck_assert_int_eq(look("192.0.2.7", "mail"), SHM_APPROVAL_NONE);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used), 0);
	/* The network must be the same, not one that covers it. */
	put("192.0.2.0/24", SHM_APPROVAL_ALLOW, NULL, 0);
	ck_assert_uint_eq(shm_approval_revoke(&shm, &net, NULL, NULL, NULL), 0);
}
END_TEST

START_TEST(full_table)
{
	struct shm_approval a;
	char cidr[64];
	unsigned i;

	for (i = 0; i < SHM_APPROVALS_MAX; i++) {
		snprintf(cidr, sizeof(cidr), "10.%u.%u.%u", i >> 16 & 255, i >> 8 & 255, i & 255);
		/* The last one expires, so that it can be reclaimed below. */
		put(cidr, i % 2 ? SHM_APPROVAL_ALLOW : SHM_APPROVAL_DENY, NULL,
		    i == SHM_APPROVALS_MAX - 1 ? NOW + 5 : 0);
	}
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used),
	    SHM_APPROVALS_MAX);
	a = dec("192.0.2.1", SHM_APPROVAL_ALLOW, NULL, 0);
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_ERROR);
	/* Every one is found, in a table as full as it gets. */
	for (i = 0; i < SHM_APPROVALS_MAX - 1; i++) {
		snprintf(cidr, sizeof(cidr), "10.%u.%u.%u", i >> 16 & 255, i >> 8 & 255, i & 255);
		ck_assert_int_eq(look(cidr, "web"), i % 2 ? SHM_APPROVAL_ALLOW : SHM_APPROVAL_DENY);
	}
	/* Replacing needs no free slot. */
	a = dec("10.0.0.0", SHM_APPROVAL_ALLOW, NULL, 0);
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
	/* Once the last one has expired, its slot is taken. */
	a = dec("192.0.2.1", SHM_APPROVAL_ALLOW, NULL, 0);
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW + 5, NULL), CT_OK);
	ck_assert_int_eq(look("192.0.2.1", NULL), SHM_APPROVAL_ALLOW);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used),
	    SHM_APPROVALS_MAX);
}
END_TEST

START_TEST(generation_moves_with_every_write)
{
	struct shm_approval list[2];
	struct cidr net;
	const char *why;
	uint64_t g = shm_approval_generation(&shm);

	put("192.0.2.7", SHM_APPROVAL_ALLOW, NULL, 0);
	ck_assert_uint_eq(shm_approval_generation(&shm), ++g);
	ck_assert_int_eq(cidr_parse("192.0.2.7", &net, &why), CT_OK);
	ck_assert_uint_eq(shm_approval_revoke(&shm, &net, NULL, NULL, NULL), 1);
	ck_assert_uint_eq(shm_approval_generation(&shm), ++g);
	list[0] = dec("192.0.2.0/24", SHM_APPROVAL_DENY, NULL, 0);
	list[1] = dec("2001:db8::/32", SHM_APPROVAL_ALLOW, "web", 0);
	ck_assert_int_eq(shm_approval_replace(&shm, list, 2), CT_OK);
	ck_assert_uint_eq(shm_approval_generation(&shm), ++g);
	ck_assert_int_eq(look("192.0.2.7", NULL), SHM_APPROVAL_DENY);
	ck_assert_int_eq(look("2001:db8::7", "web"), SHM_APPROVAL_ALLOW);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used), 2);
	ck_assert_int_eq(shm_approval_replace(&shm, NULL, 0), CT_OK);
	ck_assert_int_eq(look("192.0.2.7", NULL), SHM_APPROVAL_NONE);
	ck_assert_uint_eq(atomic_load(&shm_table(&shm, SHM_TABLE_APPROVALS)->used), 0);
}
END_TEST

START_TEST(details_of_a_match)
{
	struct shm_approval a = dec("192.0.2.0/24", SHM_APPROVAL_DENY, "web", NOW + 60), got;
	struct shm_approval_match m;

	snprintf(a.by, sizeof(a.by), "alice");
	snprintf(a.note, sizeof(a.note), "scanner, \xc3\xa9t\xc3\xa9 2024");
	ck_assert_ptr_null(shm_approval_check(&a));
	ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
	ck_assert_int_eq(look_at("192.0.2.99", "web", NOW, &m), SHM_APPROVAL_DENY);
	ck_assert_uint_eq(m.expires, NOW + 60);
	ck_assert_uint_eq(m.generation, 1);
	ck_assert_int_eq(shm_approval_get(&shm, m.slot, &got), CT_OK);
	ck_assert_int_eq(memcmp(&a, &got, sizeof(a)), 0);
}
END_TEST

START_TEST(check_refuses)
{
	struct shm_approval a = dec("192.0.2.0/24", SHM_APPROVAL_ALLOW, NULL, 0), b;

	b = a;
	b.net.net[3] = 1;
	ck_assert_str_eq(shm_approval_check(&b), "host bits set beyond the prefix length");
	b = a;
	b.net.prefix = 33;
	ck_assert_str_eq(shm_approval_check(&b), "an IPv4 prefix length is 0 to 32");
	b = a;
	b.net.net[5] = 1;
	ck_assert_str_eq(shm_approval_check(&b), "bytes beyond the address");
	b = a;
	b.net.family = AF_UNIX;
	ck_assert_ptr_nonnull(shm_approval_check(&b));
	b = a;
	b.verdict = SHM_APPROVAL_NONE;
	ck_assert_str_eq(shm_approval_check(&b), "the verdict is allow or deny");
	b = a;
	b.origin = 0;
	ck_assert_str_eq(shm_approval_check(&b), "an unknown origin");
	b = a;
	memset(b.note, 'x', sizeof(b.note));
	ck_assert_ptr_nonnull(shm_approval_check(&b));
	b = a;
	snprintf(b.note, sizeof(b.note), "line\nbreak");
	ck_assert_ptr_nonnull(shm_approval_check(&b));
	b = a;
	snprintf(b.listener, sizeof(b.listener), "caf\xc3\xa9");
	ck_assert_ptr_nonnull(shm_approval_check(&b));
	b = a;
	b.expires = UINT64_C(1) << 33;
	ck_assert_ptr_nonnull(shm_approval_check(&b));
}
END_TEST

/*
 * A child looks one client up as fast as it can while the parent keeps
 * writing other decisions around it: the latch must never let it see a
 * copy half rebuilt, so the answer is always the decision that stays.
 */
START_TEST(lookups_racing_the_writer)
{
	struct shm_approval a;
	struct cidr net;
	const char *why;
	char cidr[32];
	int status, i, ready[2], done[2];
	pid_t pid;
	char c;

	put("192.0.2.7", SHM_APPROVAL_ALLOW, "web", 0);
	put("192.0.2.0/24", SHM_APPROVAL_DENY, NULL, 0);
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe2(done, O_NONBLOCK), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		unsigned long n, bad = 0;
		uint64_t last = 0, g;

		close(ready[0]);
		close(done[1]);
		(void)!write(ready[1], "r", 1);
		/* Until the writer is done: its end of the pipe closed. */
		for (n = 0; n % 256 != 0 || read(done[0], &c, 1) != 0; n++) {
			if (look("192.0.2.7", "web") != SHM_APPROVAL_ALLOW ||
			    look("192.0.2.8", "web") != SHM_APPROVAL_DENY)
				bad++;
			if ((g = shm_approval_generation(&shm)) < last)
				bad++;
			last = g;
		}
		_exit(bad == 0 && n > 1000 ? 0 : 1);
	}
	close(ready[1]);
	close(done[0]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	for (i = 0; i < 400; i++) {
		snprintf(cidr, sizeof(cidr), "10.1.%d.0/24", i % 200);
		a = dec(cidr, SHM_APPROVAL_ALLOW, i % 3 ? "web" : NULL, 0);
		ck_assert_int_eq(shm_approval_put(&shm, &a, NOW, NULL), CT_OK);
		if (i % 2) {
			ck_assert_int_eq(cidr_parse(cidr, &net, &why), CT_OK);
			(void)shm_approval_revoke(&shm, &net, NULL, NULL, NULL);
		}
	}
	close(done[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

Suite *
suite_approval(void)
{
	Suite *s = suite_create("approval");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, approval_setup, approval_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_table_decides_nothing);
	tcase_add_test(tc, longest_prefix_wins);
	tcase_add_test(tc, listener_decision_over_global_of_same_prefix);
	tcase_add_test(tc, same_key_replaces);
	tcase_add_test(tc, expired_ignored_then_reclaimed);
	tcase_add_test(tc, ipv6_and_mapped_clients);
	tcase_add_test(tc, revoke_by_scope);
	tcase_add_test(tc, full_table);
	tcase_add_test(tc, generation_moves_with_every_write);
	tcase_add_test(tc, details_of_a_match);
	tcase_add_test(tc, check_refuses);
	tcase_add_test(tc, lookups_racing_the_writer);
	tcase_add_test(tc, destination_decisions);
	tcase_add_test(tc, destination_revoke_and_replace);
	tcase_add_test(tc, destination_normal_form);
	suite_add_tcase(s, tc);
	return s;
}

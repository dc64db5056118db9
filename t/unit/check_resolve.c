/*
 * worker/resolve.c against a real name server: a UDP socket on
 * 127.0.0.1 served from the same event loop, answering from a few
 * hand-encoded records and counting the queries it sees.  Also the
 * "resolver" section of the configuration.
 *
 *   a.test        A 192.0.2.1, 192.0.2.2 (TTL 300); no AAAA
 *   v6.test       AAAA 2001:db8::1; no A
 *   both.test     A 192.0.2.10 and AAAA 2001:db8::10
 *   many.test     A 198.51.100.1 to .12
 *   ttl1.test     A 192.0.2.3, TTL 1
 *   cname1.test   CNAME a.test (TTL 1), then a.test's A (TTL 300)
 *   nN.test       A 198.18.N/256.N%256
 *   nx.test       NXDOMAIN
 *   refused.test  REFUSED
 *   fail.test     SERVFAIL
 *   void.test     never answered
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/ct.h"
#include "lib/ev.h"
#include "t/unit/conf_load.h"
#include "t/unit/suites.h"
#include "worker/resolve.h"

#define T_A       1
#define T_CNAME   5
#define T_AAAA    28
#define DNS_LOG   512

/* ------------------------------------------------------ the name server */

struct dns_seen {
	char name[256];
	int type;
	unsigned n;
};

struct dns_server {
	int fd;
	struct ev_io io;
	struct sockaddr_in addr;
	struct dns_seen seen[DNS_LOG];
	size_t nseen;
	unsigned total;
};

struct dns_msg {
	unsigned char b[512];
	size_t len;
	unsigned ancount;
};

static void
dns_put16(struct dns_msg *m, unsigned v)
{
	m->b[m->len++] = (unsigned char)(v >> 8);
	m->b[m->len++] = (unsigned char)v;
}

static void
dns_put32(struct dns_msg *m, uint32_t v)
{
	dns_put16(m, v >> 16);
	dns_put16(m, v & 0xffff);
}

/* An answer record: its owner at offset owner (a compression pointer). */
static void
dns_rr(struct dns_msg *m, size_t owner, int type, uint32_t ttl, const void *rdata, size_t len)
{
	dns_put16(m, 0xc000 | (unsigned)owner);
	dns_put16(m, (unsigned)type);
	dns_put16(m, 1);
	dns_put32(m, ttl);
	dns_put16(m, (unsigned)len);
	memcpy(m->b + m->len, rdata, len);
	m->len += len;
	m->ancount++;
}

static void
dns_rr_a(struct dns_msg *m, size_t owner, uint32_t ttl, const char *ip)
{
	unsigned char a[4];

	ck_assert_int_eq(inet_pton(AF_INET, ip, a), 1);
	dns_rr(m, owner, T_A, ttl, a, 4);
}

static void
dns_rr_aaaa(struct dns_msg *m, size_t owner, uint32_t ttl, const char *ip)
{
	unsigned char a[16];

	ck_assert_int_eq(inet_pton(AF_INET6, ip, a), 1);
	dns_rr(m, owner, T_AAAA, ttl, a, 16);
}

/* Reads the question's name at q[12..) into name (dotted); its end, or 0. */
static size_t
dns_qname(const unsigned char *q, size_t len, char *name, size_t size)
{
	size_t i = 12, o = 0;

	while (i < len && q[i] != 0) {
		size_t l = q[i++];

		if (l > 63 || i + l > len || o + l + 2 > size)
			return 0;
		if (o > 0)
			name[o++] = '.';
		memcpy(name + o, q + i, l);
		o += l;
		i += l;
	}
	name[o] = '\0';
	return i < len ? i + 1 : 0;
}

static void
dns_count(struct dns_server *s, const char *name, int type)
{
	size_t i;

	s->total++;
	for (i = 0; i < s->nseen; i++)
		if (s->seen[i].type == type && strcmp(s->seen[i].name, name) == 0) {
			s->seen[i].n++;
			return;
		}
	ck_assert_uint_lt(s->nseen, DNS_LOG);
	snprintf(s->seen[s->nseen].name, sizeof(s->seen[0].name), "%s", name);
	s->seen[s->nseen].type = type;
	s->seen[s->nseen++].n = 1;
}

static unsigned
dns_seen(const struct dns_server *s, const char *name, int type)
{
	size_t i;

	for (i = 0; i < s->nseen; i++)
		if (s->seen[i].type == type && strcmp(s->seen[i].name, name) == 0)
			return s->seen[i].n;
	return 0;
}

/* The records of name and type into m; the rcode, or -1: no answer at all. */
static int
dns_records(struct dns_msg *m, const char *name, int type)
{
	char ip[32];
	unsigned n;
	int i;

	if (strcmp(name, "void.test") == 0)
		return -1;
	if (strcmp(name, "nx.test") == 0)
		return 3;
	if (strcmp(name, "refused.test") == 0)
		return 5;
	if (strcmp(name, "fail.test") == 0)
		return 2;
	if (strcmp(name, "cname1.test") == 0) {
		static const unsigned char target[] = "\001a\004test";
		size_t at = m->len + 12;       /* where the CNAME's rdata begins */

		dns_rr(m, 12, T_CNAME, 1, target, sizeof(target));
		if (type == T_A) {
			dns_rr_a(m, at, 300, "192.0.2.1");
			dns_rr_a(m, at, 300, "192.0.2.2");
		}
		return 0;
	}
	if (type == T_A && strcmp(name, "a.test") == 0) {
		dns_rr_a(m, 12, 300, "192.0.2.1");
		dns_rr_a(m, 12, 300, "192.0.2.2");
	} else if (type == T_AAAA && strcmp(name, "v6.test") == 0) {
		dns_rr_aaaa(m, 12, 300, "2001:db8::1");
	} else if (type == T_A && strcmp(name, "both.test") == 0) {
		dns_rr_a(m, 12, 300, "192.0.2.10");
	} else if (type == T_AAAA && strcmp(name, "both.test") == 0) {
		dns_rr_aaaa(m, 12, 300, "2001:db8::10");
	} else if (type == T_A && strcmp(name, "ttl1.test") == 0) {
		dns_rr_a(m, 12, 1, "192.0.2.3");
	} else if (type == T_A && strcmp(name, "many.test") == 0) {
		for (i = 1; i <= 12; i++) {
			snprintf(ip, sizeof(ip), "198.51.100.%d", i);
			dns_rr_a(m, 12, 300, ip);
		}
	} else if (type == T_A && sscanf(name, "n%u.test", &n) == 1) {
		snprintf(ip, sizeof(ip), "198.18.%u.%u", n / 256, n % 256);
		dns_rr_a(m, 12, 300, ip);
	}
	return 0;
}

/* One query in, one answer out: the question echoed, then the records. */
static void
dns_serve(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct dns_server *s = io->data;
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	unsigned char q[512];
	struct dns_msg m;
	char name[256];
	size_t qend;
	ssize_t len;
	int type, rcode;

	(void)loop;
	(void)events;
	while ((len = recvfrom(s->fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from,
	    &flen)) > 0) {
		ck_assert_int_ge(len, 12);
		ck_assert_uint_eq((unsigned)(q[4] << 8 | q[5]), 1);
		ck_assert_uint_ne(qend = dns_qname(q, (size_t)len, name, sizeof(name)), 0);
		ck_assert_uint_le(qend + 4, (size_t)len);
		type = q[qend] << 8 | q[qend + 1];
		dns_count(s, name, type);
		memset(&m, 0, sizeof(m));
		m.len = 12;
		memcpy(m.b + 12, q + 12, qend + 4 - 12);
		m.len = qend + 4;
		if ((rcode = dns_records(&m, name, type)) == -1)
			continue;
		m.b[0] = q[0];
		m.b[1] = q[1];
		m.b[2] = (unsigned char)(0x80 | (q[2] & 0x79));   /* QR, opcode and RD kept */
		m.b[3] = (unsigned char)(0x80 | rcode);            /* RA */
		m.b[5] = 1;
		m.b[7] = (unsigned char)m.ancount;
		ck_assert_int_eq(sendto(s->fd, m.b, m.len, 0, (struct sockaddr *)&from, flen),
		    (ssize_t)m.len);
		flen = sizeof(from);
	}
}

static void
dns_start(struct ev_loop *loop, struct dns_server *s)
{
	socklen_t len = sizeof(s->addr);

	memset(s, 0, sizeof(*s));
	ck_assert_int_ne(s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), -1);
	s->addr.sin_family = AF_INET;
	s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&s->addr, &len), 0);
	ev_io_init(&s->io, s->fd, dns_serve, s);
	ck_assert_int_eq(ev_io_set(loop, &s->io, EPOLLIN), CT_OK);
}

/* ------------------------------------------------------------ fixture */

static struct ev_loop *loop;
static struct dns_server dns;
static struct resolver *res;
static struct addr ns;
static unsigned outstanding;    /* callbacks still expected; the loop stops at 0 */

struct lookup {
	unsigned calls;
	enum resolve_status status;
	size_t n;
	union resolve_addr addrs[RESOLVE_ADDRS_MAX];
	char why[64];
	struct resolve_req *req;
};

static void
lookup_done(void *arg, enum resolve_status status, const union resolve_addr *addrs,
    size_t n, const char *why)
{
	struct lookup *l = arg;

	l->calls++;
	l->req = NULL;
	l->status = status;
	l->n = n;
	ck_assert_uint_le(n, RESOLVE_ADDRS_MAX);
	ck_assert((status == RESOLVE_OK) == (n > 0));
	ck_assert((why == NULL) == (status == RESOLVE_OK));
	if (n > 0)
		memcpy(l->addrs, addrs, n * sizeof(*addrs));
	snprintf(l->why, sizeof(l->why), "%s", why != NULL ? why : "");
	if (outstanding > 0 && --outstanding == 0)
		ev_loop_break(loop);
}

static struct conf_resolver
test_conf(void)
{
	struct conf_resolver c;

	memset(&c, 0, sizeof(c));
	memcpy(&ns.ss, &dns.addr, sizeof(dns.addr));
	ns.len = sizeof(dns.addr);
	c.nameservers = &ns;
	c.nnameservers = 1;
	c.timeout_ms = 3000;
	c.tries = 2;
	c.cache_ms = 60000;
	c.negative_ms = 5000;
	c.cache_size = 1024;
	return c;
}

static void
resolver_open(const struct conf_resolver *c)
{
	const char *why = NULL;

	resolver_free(res);
	res = resolver_new(loop, c, &why);
	ck_assert_msg(res != NULL, "resolver_new: %s", why);
}

static void
setup(void)
{
	struct conf_resolver c;

	ck_assert_ptr_nonnull(loop = ev_loop_new(64));
	dns_start(loop, &dns);
	c = test_conf();
	res = NULL;
	resolver_open(&c);
	outstanding = 0;
}

static void
teardown(void)
{
	resolver_free(res);
	res = NULL;
	ev_io_stop(loop, &dns.io);
	close(dns.fd);
	ev_loop_free(loop);
}

static void
guard_fired(struct ev_loop *l, struct ev_timer *t)
{
	int *fired = t->data;

	*fired = 1;
	ev_loop_break(l);
}

/* Runs the loop until every expected callback ran; a bound, never a measure. */
static void
wait_callbacks(void)
{
	struct ev_timer guard;
	int fired = 0;

	if (outstanding == 0)
		return;
	ev_timer_init(&guard, guard_fired, &fired);
	ck_assert_int_eq(ev_timer_start(loop, &guard, 10000), CT_OK);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ev_timer_stop(loop, &guard);
	ck_assert_msg(!fired, "%u callbacks never came", outstanding);
}

/* Runs the loop for ms, whatever happens. */
static void
run_for(uint64_t ms)
{
	struct ev_timer t;
	int fired = 0;
	unsigned saved = outstanding;

	outstanding = 0;
	ev_timer_init(&t, guard_fired, &fired);
	ck_assert_int_eq(ev_timer_start(loop, &t, ms), CT_OK);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ck_assert(fired);
	outstanding = saved;
}

static void
query_gone(struct ev_loop *l, struct ev_timer *t)
{
	if (resolver_stats(res)->queries == 0)
		ev_loop_break(l);
	else
		ck_assert_int_eq(ev_timer_start(l, t, 5), CT_OK);
}

/* Runs the loop until the name servers have nothing left to answer. */
static void
wait_queries(void)
{
	struct ev_timer poll_t, guard;
	int fired = 0;

	ev_timer_init(&poll_t, query_gone, NULL);
	ev_timer_init(&guard, guard_fired, &fired);
	ck_assert_int_eq(ev_timer_start(loop, &poll_t, 5), CT_OK);
	ck_assert_int_eq(ev_timer_start(loop, &guard, 10000), CT_OK);
	ck_assert_int_eq(ev_loop_run(loop), CT_OK);
	ev_timer_stop(loop, &poll_t);
	ev_timer_stop(loop, &guard);
	ck_assert(!fired);
}

static void
start(struct lookup *l, const char *name, int family, uint16_t port)
{
	memset(l, 0, sizeof(*l));
	ck_assert_ptr_nonnull(l->req = resolve_start(res, name, family, port, lookup_done, l));
	/* Never from inside resolve_start(), whatever the answer. */
	ck_assert_uint_eq(l->calls, 0);
	outstanding++;
}

/* Looks name up and waits for the answer. */
static void
lookup(struct lookup *l, const char *name, int family, uint16_t port)
{
	start(l, name, family, port);
	wait_callbacks();
	ck_assert_uint_eq(l->calls, 1);
}

static const char *
ip_of(const union resolve_addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET)
		snprintf(buf, len, "%s:%u", inet_ntop(AF_INET, &a->sin.sin_addr, ip, sizeof(ip)),
		    ntohs(a->sin.sin_port));
	else
		snprintf(buf, len, "[%s]:%u", inet_ntop(AF_INET6, &a->sin6.sin6_addr, ip,
		    sizeof(ip)), ntohs(a->sin6.sin6_port));
	return buf;
}

static void
expect_addrs(const struct lookup *l, const char *const *want, size_t n)
{
	char buf[64];
	size_t i;

	ck_assert_msg(l->status == RESOLVE_OK, "status %s: %s", resolve_status_name(l->status),
	    l->why);
	ck_assert_uint_eq(l->n, n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(ip_of(&l->addrs[i], buf, sizeof(buf)), want[i]);
}

static void
expect_status(const struct lookup *l, enum resolve_status s, const char *why)
{
	ck_assert_msg(l->status == s, "status %s, not %s", resolve_status_name(l->status),
	    resolve_status_name(s));
	ck_assert_str_eq(l->why, why);
	ck_assert_uint_eq(l->n, 0);
}

/* ------------------------------------------------------------- lookups */

START_TEST(resolve_a)
{
	static const char *const want[] = { "192.0.2.1:443", "192.0.2.2:443" };
	struct lookup l;

	lookup(&l, "a.test", AF_INET, 443);
	expect_addrs(&l, want, 2);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 1);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_AAAA), 0);
	ck_assert_uint_eq(resolver_stats(res)->misses, 1);
	ck_assert_uint_eq(resolver_stats(res)->failures, 0);
	ck_assert_uint_eq(resolver_stats(res)->queries, 0);
	ck_assert_uint_eq(resolver_stats(res)->entries, 1);
}
END_TEST

START_TEST(resolve_aaaa)
{
	static const char *const v6[] = { "[2001:db8::1]:22" };
	static const char *const both[] = { "192.0.2.10:80", "[2001:db8::10]:80" };
	struct lookup l;

	lookup(&l, "v6.test", AF_INET6, 22);
	expect_addrs(&l, v6, 1);
	/* Both families: IPv4 first, whichever answer came first. */
	lookup(&l, "both.test", AF_UNSPEC, 80);
	expect_addrs(&l, both, 2);
	ck_assert_uint_eq(dns_seen(&dns, "both.test", T_A), 1);
	ck_assert_uint_eq(dns_seen(&dns, "both.test", T_AAAA), 1);
	/* A name without an address of the family asked for. */
	lookup(&l, "v6.test", AF_INET, 22);
	expect_status(&l, RESOLVE_NODATA, "no address");
	lookup(&l, "a.test", AF_INET6, 22);
	expect_status(&l, RESOLVE_NODATA, "no address");
	/* Case and a trailing dot do not make another name. */
	lookup(&l, "V6.Test.", AF_INET6, 22);
	expect_addrs(&l, v6, 1);
	ck_assert_uint_eq(dns_seen(&dns, "v6.test", T_AAAA), 1);
}
END_TEST

START_TEST(resolve_many_addresses)
{
	struct lookup l;

	lookup(&l, "many.test", AF_INET, 1);
	ck_assert_int_eq(l.status, RESOLVE_OK);
	ck_assert_uint_eq(l.n, RESOLVE_ADDRS_MAX);
}
END_TEST

START_TEST(resolve_literals)
{
	static const char *const v4[] = { "192.0.2.55:8080" };
	static const char *const v6[] = { "[2001:db8::5]:8080" };
	static const char *const mapped[] = { "[::ffff:10.0.0.1]:1" };
	struct lookup l;

	lookup(&l, "192.0.2.55", AF_UNSPEC, 8080);
	expect_addrs(&l, v4, 1);
	lookup(&l, "2001:DB8::5", AF_UNSPEC, 8080);
	expect_addrs(&l, v6, 1);
	lookup(&l, "2001:db8::5", AF_INET6, 8080);
	expect_addrs(&l, v6, 1);
	lookup(&l, "::ffff:10.0.0.1", AF_UNSPEC, 1);
	expect_addrs(&l, mapped, 1);
	lookup(&l, "192.0.2.55", AF_INET6, 8080);
	expect_status(&l, RESOLVE_NODATA, "an address of the other family");
	lookup(&l, "::1", AF_INET, 8080);
	expect_status(&l, RESOLVE_NODATA, "an address of the other family");
	ck_assert_uint_eq(dns.total, 0);
	ck_assert_uint_eq(resolver_stats(res)->hits + resolver_stats(res)->misses, 0);
}
END_TEST

START_TEST(resolve_bad_names)
{
	static const char *const bad[] = {
		"", ".", "a..test", ".a.test", "a.test..", "[::1]", "a b.test", "a/b.test",
		"127.1", "0.1.2.3.4", "10.0.0.1.", "host.123", "a.test:80",
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.test",
	};
	char longname[300];
	struct lookup l;
	size_t i;

	for (i = 0; i < CT_NELEM(bad); i++) {
		lookup(&l, bad[i], AF_UNSPEC, 80);
		ck_assert_msg(l.status == RESOLVE_BADNAME, "\"%s\": %s", bad[i],
		    resolve_status_name(l.status));
		ck_assert_str_eq(l.why, "invalid host name");
	}
	/* 254 bytes: one too many, and 253 with a trailing dot is fine. */
	memset(longname, 'a', sizeof(longname));
	for (i = 63; i < 254; i += 64)
		longname[i] = '.';
	longname[254] = '\0';
	lookup(&l, longname, AF_INET, 80);
	ck_assert_int_eq(l.status, RESOLVE_BADNAME);
	longname[253] = '.';
	lookup(&l, longname, AF_INET, 80);
	expect_status(&l, RESOLVE_NODATA, "no address");
	ck_assert_uint_eq(dns.total, 1);
	lookup(&l, "a.test", 12345, 80);
	expect_status(&l, RESOLVE_ERROR, "unsupported address family");
}
END_TEST

START_TEST(resolve_nxdomain_and_failures)
{
	unsigned asked;
	struct lookup l;

	lookup(&l, "nx.test", AF_INET, 80);
	expect_status(&l, RESOLVE_NXDOMAIN, "no such name");
	/*
	 * c-ares 1.18 reports a name server's REFUSED and SERVFAIL as it does
	 * a refused port, and later versions each as itself: either way it
	 * is not an error of another kind, and not a timeout.
	 */
	lookup(&l, "refused.test", AF_INET, 80);
	ck_assert_msg(l.status == RESOLVE_REFUSED, "%s: %s", resolve_status_name(l.status), l.why);
	lookup(&l, "fail.test", AF_INET, 80);
	ck_assert_msg(l.status == RESOLVE_SERVFAIL || l.status == RESOLVE_REFUSED, "%s: %s",
	    resolve_status_name(l.status), l.why);
	ck_assert_uint_eq(resolver_stats(res)->failures, 3);
	/* Failures of the name servers are not kept: asked again. */
	asked = dns_seen(&dns, "refused.test", T_A);
	ck_assert_uint_ge(asked, 1);
	lookup(&l, "refused.test", AF_INET, 80);
	ck_assert_int_eq(l.status, RESOLVE_REFUSED);
	ck_assert_uint_eq(resolver_stats(res)->hits, 0);
	ck_assert_uint_eq(dns_seen(&dns, "refused.test", T_A), 2 * asked);
}
END_TEST

/* A name server whose port is closed: refused at once, not a timeout. */
START_TEST(resolve_port_closed)
{
	struct conf_resolver c = test_conf();
	struct sockaddr_in closed;
	socklen_t len = sizeof(closed);
	struct lookup l;
	int fd;

	ck_assert_int_ne(fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	memset(&closed, 0, sizeof(closed));
	closed.sin_family = AF_INET;
	closed.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&closed, sizeof(closed)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&closed, &len), 0);
	close(fd);
	memcpy(&ns.ss, &closed, sizeof(closed));
	c.timeout_ms = 60000;
	resolver_open(&c);
	lookup(&l, "a.test", AF_INET, 80);
	expect_status(&l, RESOLVE_REFUSED, "no name server would answer");
	ck_assert_uint_eq(resolver_stats(res)->failures, 1);
}
END_TEST

START_TEST(resolve_timeout)
{
	struct conf_resolver c = test_conf();
	struct lookup l, m;

	c.timeout_ms = 300;
	resolver_open(&c);
	start(&l, "void.test", AF_INET, 80);
	start(&m, "void.test", AF_INET, 80);
	wait_callbacks();
	expect_status(&l, RESOLVE_TIMEOUT, "timed out");
	expect_status(&m, RESOLVE_TIMEOUT, "timed out");
	/* Two lookups, one query, tried twice within the timeout. */
	wait_queries();
	ck_assert_uint_eq(dns_seen(&dns, "void.test", T_A), 2);
	ck_assert_uint_eq(resolver_stats(res)->misses, 2);
	ck_assert_uint_eq(resolver_stats(res)->failures, 1);
	ck_assert_uint_eq(l.calls + m.calls, 2);
	/* A timeout is not kept. */
	lookup(&l, "void.test", AF_INET, 80);
	expect_status(&l, RESOLVE_TIMEOUT, "timed out");
	ck_assert_uint_eq(resolver_stats(res)->hits, 0);
}
END_TEST

/*
 * The deadline holds whatever c-ares does: 8 tries in 10 ms leave each
 * a millisecond, the least c-ares takes, and doubling from round to
 * round its tries would go on for 128 ms at least.  The lookup ends at
 * the deadline while c-ares still holds the query, which then ends
 * without calling anyone again.
 */
START_TEST(resolve_deadline)
{
	struct conf_resolver c = test_conf();
	struct lookup l;

	c.timeout_ms = 10;
	c.tries = 8;
	resolver_open(&c);
	lookup(&l, "void.test", AF_INET, 80);
	expect_status(&l, RESOLVE_TIMEOUT, "timed out");
	ck_assert_uint_eq(resolver_stats(res)->queries, 1);
	ck_assert_uint_eq(resolver_stats(res)->failures, 1);
	wait_queries();
	ck_assert_uint_gt(dns_seen(&dns, "void.test", T_A), 1);
	ck_assert_uint_eq(l.calls, 1);
	ck_assert_uint_eq(resolver_stats(res)->failures, 1);
}
END_TEST

START_TEST(resolve_cache_hit)
{
	static const char *const want[] = { "192.0.2.1:8443", "192.0.2.2:8443" };
	struct lookup l;

	lookup(&l, "a.test", AF_INET, 443);
	lookup(&l, "a.test", AF_INET, 8443);
	expect_addrs(&l, want, 2);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 1);
	ck_assert_uint_eq(resolver_stats(res)->hits, 1);
	ck_assert_uint_eq(resolver_stats(res)->misses, 1);
	/* The family is part of the key. */
	lookup(&l, "a.test", AF_UNSPEC, 443);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 2);
	ck_assert_uint_eq(resolver_stats(res)->entries, 2);
}
END_TEST

START_TEST(resolve_ttl_expiry)
{
	struct lookup l;

	lookup(&l, "ttl1.test", AF_INET, 80);
	lookup(&l, "cname1.test", AF_INET, 80);
	ck_assert_int_eq(l.status, RESOLVE_OK);
	ck_assert_uint_eq(l.n, 2);
	lookup(&l, "ttl1.test", AF_INET, 80);
	lookup(&l, "cname1.test", AF_INET, 80);
	ck_assert_uint_eq(resolver_stats(res)->hits, 2);
	run_for(1100);
	lookup(&l, "ttl1.test", AF_INET, 80);
	lookup(&l, "cname1.test", AF_INET, 80);
	ck_assert_int_eq(l.status, RESOLVE_OK);
	ck_assert_uint_eq(dns_seen(&dns, "ttl1.test", T_A), 2);
	/* The CNAME's TTL of 1 s counts, not only its target's 300. */
	ck_assert_uint_eq(dns_seen(&dns, "cname1.test", T_A), 2);
	ck_assert_uint_eq(resolver_stats(res)->hits, 2);
}
END_TEST

START_TEST(resolve_cache_cap)
{
	struct conf_resolver c = test_conf();
	struct lookup l;

	c.cache_ms = 200;
	resolver_open(&c);
	lookup(&l, "a.test", AF_INET, 80);
	lookup(&l, "a.test", AF_INET, 80);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 1);
	run_for(300);
	lookup(&l, "a.test", AF_INET, 80);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 2);
}
END_TEST

START_TEST(resolve_cache_lru)
{
	struct conf_resolver c = test_conf();
	struct lookup l;

	c.cache_size = 2;
	resolver_open(&c);
	lookup(&l, "n1.test", AF_INET, 80);
	lookup(&l, "n2.test", AF_INET, 80);
	lookup(&l, "n1.test", AF_INET, 80);            /* n2 is now the oldest */
	lookup(&l, "n3.test", AF_INET, 80);            /* and goes */
	ck_assert_uint_eq(resolver_stats(res)->entries, 2);
	lookup(&l, "n1.test", AF_INET, 80);
	lookup(&l, "n2.test", AF_INET, 80);
	ck_assert_uint_eq(dns_seen(&dns, "n1.test", T_A), 1);
	ck_assert_uint_eq(dns_seen(&dns, "n2.test", T_A), 2);
	c.cache_size = 0;
	resolver_open(&c);
	lookup(&l, "n1.test", AF_INET, 80);
	lookup(&l, "n1.test", AF_INET, 80);
	ck_assert_uint_eq(dns_seen(&dns, "n1.test", T_A), 3);
	ck_assert_uint_eq(resolver_stats(res)->entries, 0);
}
END_TEST

START_TEST(resolve_negative_cache)
{
	struct conf_resolver c = test_conf();
	struct lookup l;

	c.negative_ms = 200;
	resolver_open(&c);
	lookup(&l, "nx.test", AF_INET, 80);
	lookup(&l, "nx.test", AF_INET, 80);
	expect_status(&l, RESOLVE_NXDOMAIN, "no such name");
	lookup(&l, "v6.test", AF_INET, 80);
	lookup(&l, "v6.test", AF_INET, 80);
	expect_status(&l, RESOLVE_NODATA, "no address");
	ck_assert_uint_eq(dns_seen(&dns, "nx.test", T_A), 1);
	ck_assert_uint_eq(dns_seen(&dns, "v6.test", T_A), 1);
	ck_assert_uint_eq(resolver_stats(res)->hits, 2);
	run_for(300);
	lookup(&l, "nx.test", AF_INET, 80);
	expect_status(&l, RESOLVE_NXDOMAIN, "no such name");
	ck_assert_uint_eq(dns_seen(&dns, "nx.test", T_A), 2);
}
END_TEST

START_TEST(resolve_cancel_in_flight)
{
	struct lookup l, m;

	start(&l, "a.test", AF_INET, 80);
	resolve_cancel(l.req);
	outstanding--;
	wait_queries();
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 1);
	ck_assert_uint_eq(l.calls, 0);
	/* The answer still went to the cache. */
	lookup(&m, "a.test", AF_INET, 80);
	ck_assert_int_eq(m.status, RESOLVE_OK);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 1);
	/* A cached answer waiting for the loop is cancelled as well. */
	start(&l, "a.test", AF_INET, 80);
	resolve_cancel(l.req);
	outstanding--;
	run_for(20);
	ck_assert_uint_eq(l.calls, 0);
	/* And one that never comes: the timeout does not call it either. */
	start(&l, "void.test", AF_INET, 80);
	resolve_cancel(l.req);
	outstanding--;
	wait_queries();
	run_for(20);
	ck_assert_uint_eq(l.calls, 0);
}
END_TEST

START_TEST(resolve_cancel_one_of_two)
{
	static const char *const want[] = { "192.0.2.10:80", "[2001:db8::10]:80" };
	struct lookup l, m;

	start(&l, "both.test", AF_UNSPEC, 80);
	start(&m, "both.test", AF_UNSPEC, 80);
	resolve_cancel(l.req);
	outstanding--;
	wait_callbacks();
	ck_assert_uint_eq(l.calls, 0);
	ck_assert_uint_eq(m.calls, 1);
	expect_addrs(&m, want, 2);
	ck_assert_uint_eq(dns_seen(&dns, "both.test", T_A), 1);
	ck_assert_uint_eq(dns_seen(&dns, "both.test", T_AAAA), 1);
}
END_TEST

/*
 * Callbacks that cancel their neighbour, of the same query, if it has not
 * run yet, and start another lookup (a cache hit by then).
 */
static struct lookup chained[3];

static void
lookup_chain(void *arg, enum resolve_status status, const union resolve_addr *addrs,
    size_t n, const char *why)
{
	struct lookup *other = arg == &chained[0] ? &chained[1] : &chained[0];

	lookup_done(arg, status, addrs, n, why);
	if (other->req != NULL) {
		resolve_cancel(other->req);
		other->req = NULL;
		outstanding--;
	}
	outstanding++;
	ck_assert_ptr_nonnull(chained[2].req = resolve_start(res, "a.test", AF_INET, 81,
	    lookup_done, &chained[2]));
	ck_assert_uint_eq(chained[2].calls, 0);
}

START_TEST(resolve_cancel_from_callback)
{
	static const char *const want[] = { "192.0.2.1:81", "192.0.2.2:81" };

	memset(chained, 0, sizeof(chained));
	ck_assert_ptr_nonnull(chained[0].req = resolve_start(res, "a.test", AF_INET, 80,
	    lookup_chain, &chained[0]));
	ck_assert_ptr_nonnull(chained[1].req = resolve_start(res, "a.test", AF_INET, 80,
	    lookup_chain, &chained[1]));
	outstanding = 2;
	wait_callbacks();
	ck_assert_uint_eq(chained[0].calls + chained[1].calls, 1);
	ck_assert_uint_eq(chained[2].calls, 1);
	expect_addrs(&chained[2], want, 2);
	ck_assert_uint_eq(dns_seen(&dns, "a.test", T_A), 1);
	ck_assert_uint_eq(resolver_stats(res)->hits, 1);
}
END_TEST

START_TEST(resolve_concurrent)
{
	static struct lookup l[2][200];
	char name[32], want[32], got[64];
	size_t i, k;

	for (i = 0; i < 200; i++)
		for (k = 0; k < 2; k++) {
			snprintf(name, sizeof(name), "n%zu.test", i);
			start(&l[k][i], name, AF_INET, (uint16_t)(1000 + i));
		}
	ck_assert_uint_eq(resolver_stats(res)->queries, 200);
	wait_callbacks();
	for (i = 0; i < 200; i++)
		for (k = 0; k < 2; k++) {
			snprintf(name, sizeof(name), "n%zu.test", i);
			snprintf(want, sizeof(want), "198.18.%zu.%zu:%zu", i / 256, i % 256, 1000 + i);
			ck_assert_uint_eq(l[k][i].calls, 1);
			ck_assert_uint_eq(l[k][i].n, 1);
			ck_assert_str_eq(ip_of(&l[k][i].addrs[0], got, sizeof(got)), want);
			ck_assert_uint_eq(dns_seen(&dns, name, T_A), 1);
		}
	ck_assert_uint_eq(resolver_stats(res)->misses, 400);
	ck_assert_uint_eq(resolver_stats(res)->queries, 0);
	ck_assert_uint_eq(resolver_stats(res)->entries, 200);
}
END_TEST

/* Freed with lookups pending: no callback, nothing leaked (ASan). */
START_TEST(resolve_free_pending)
{
	struct lookup l, m, n;

	lookup(&l, "a.test", AF_INET, 80);
	start(&l, "void.test", AF_INET, 80);
	start(&m, "a.test", AF_INET, 80);
	start(&n, "192.0.2.1", AF_INET, 80);
	resolver_free(res);
	res = NULL;
	outstanding = 0;
	run_for(20);
	ck_assert_uint_eq(l.calls + m.calls + n.calls, 0);
}
END_TEST

/* ---------------------------------------------------- the conf section */

#define CONF_REST \
	"upstreams:\n" \
	"  o: {servers: [{address: 127.0.0.1:9001}]}\n" \
	"listeners:\n" \
	"  - {name: a, listen: 127.0.0.1:8080, mode: tcp, upstream: o}\n"

START_TEST(resolver_conf_defaults)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(CONF_REST, &e), *d;

	ck_assert_msg(c != NULL, "%s", e.first);
	ck_assert_uint_eq(c->resolver.nnameservers, 0);
	ck_assert_uint_eq(c->resolver.timeout_ms, 5000);
	ck_assert_uint_eq(c->resolver.tries, 2);
	ck_assert_uint_eq(c->resolver.cache_ms, 60000);
	ck_assert_uint_eq(c->resolver.negative_ms, 5000);
	ck_assert_uint_eq(c->resolver.cache_size, 1024);
	d = conf_errs_round_trip(c);
	conf_free(d);
	conf_free(c);
}
END_TEST

START_TEST(resolver_conf_keys)
{
	struct conf_errs e;
	struct conf *c = conf_errs_load(CONF_REST
	    "resolver:\n"
	    "  nameservers: [127.0.0.53, \"[::1]:5353\", \"10.0.0.2:53\", \"2001:db8::53\"]\n"
	    "  timeout: 2s\n"
	    "  tries: 3\n"
	    "  cache: 30s\n"
	    "  negative_cache: 1s\n"
	    "  cache_size: 0\n", &e), *d;
	char *out, buf[ADDR_STRLEN];

	ck_assert_msg(c != NULL, "%s", e.first);
	ck_assert_uint_eq(c->resolver.nnameservers, 4);
	ck_assert_str_eq(addr_format((struct sockaddr *)&c->resolver.nameservers[1].ss, buf,
	    sizeof(buf)), "[::1]:5353");
	ck_assert_uint_eq(c->resolver.timeout_ms, 2000);
	ck_assert_uint_eq(c->resolver.tries, 3);
	ck_assert_uint_eq(c->resolver.cache_ms, 30000);
	ck_assert_uint_eq(c->resolver.negative_ms, 1000);
	ck_assert_uint_eq(c->resolver.cache_size, 0);
	out = conf_errs_dump(c);
	ck_assert_ptr_nonnull(strstr(out, "resolver:\n"
	    "  nameservers: [\"127.0.0.53:53\", \"[::1]:5353\", \"10.0.0.2:53\", "
	    "\"[2001:db8::53]:53\"]\n"
	    "  timeout: 2s\n  tries: 3\n  cache: 30s\n  negative_cache: 1s\n"
	    "  cache_size: 0\n"));
	free(out);
	d = conf_errs_round_trip(c);
	conf_free(d);
	conf_free(c);
}
END_TEST

START_TEST(resolver_conf_errors)
{
	conf_errs_expect(CONF_REST "resolver: {nameservers: [dns.example]}\n",
	    "t.yaml:5:26: invalid name server \"dns.example\": address must be an IP "
	    "literal (no DNS names)");
	conf_errs_expect(CONF_REST "resolver: {nameservers: [\"fe80::1%eth0\"]}\n",
	    "t.yaml:5:26: invalid name server \"fe80::1%eth0\": invalid IPv6 address");
	conf_errs_expect(CONF_REST "resolver: {nameservers: [\"[::1]:0\"]}\n",
	    "t.yaml:5:26: invalid name server \"[::1]:0\": port must be between 1 and 65535");
	conf_errs_expect(CONF_REST "resolver: {nameservers: []}\n",
	    "t.yaml:5:25: \"nameservers\" must have between 1 and 8 entries, not 0");
	conf_errs_expect(CONF_REST "resolver: {nameservers: 127.0.0.1}\n",
	    "t.yaml:5:25: \"nameservers\" must be a sequence");
	conf_errs_expect(CONF_REST "resolver: {timeout: 5ms}\n",
	    "t.yaml:5:21: \"timeout\" must be at least 10ms, not \"5ms\"");
	conf_errs_expect(CONF_REST "resolver: {timeout: 2m}\n",
	    "t.yaml:5:21: \"timeout\" must be at most 1m, not \"2m\"");
	conf_errs_expect(CONF_REST "resolver: {tries: 0}\n",
	    "t.yaml:5:19: \"tries\" must be an integer between 1 and 8, not \"0\"");
	conf_errs_expect(CONF_REST "resolver: {cache_sise: 10}\n",
	    "t.yaml:5:12: unknown key \"cache_sise\" in resolver, did you mean \"cache_size\"?");
	conf_errs_expect(CONF_REST "resolver: [1]\n",
	    "t.yaml:5:11: \"resolver\" must be a mapping");
}
END_TEST

Suite *
suite_resolve(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("lookups");
	TCase *cc = tcase_create("conf");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, resolve_a);
	tcase_add_test(tc, resolve_aaaa);
	tcase_add_test(tc, resolve_many_addresses);
	tcase_add_test(tc, resolve_literals);
	tcase_add_test(tc, resolve_bad_names);
	tcase_add_test(tc, resolve_nxdomain_and_failures);
	tcase_add_test(tc, resolve_port_closed);
	tcase_add_test(tc, resolve_timeout);
	tcase_add_test(tc, resolve_deadline);
	tcase_add_test(tc, resolve_cache_hit);
	tcase_add_test(tc, resolve_ttl_expiry);
	tcase_add_test(tc, resolve_cache_cap);
	tcase_add_test(tc, resolve_cache_lru);
	tcase_add_test(tc, resolve_negative_cache);
	tcase_add_test(tc, resolve_cancel_in_flight);
	tcase_add_test(tc, resolve_cancel_one_of_two);
	tcase_add_test(tc, resolve_cancel_from_callback);
	tcase_add_test(tc, resolve_concurrent);
	tcase_add_test(tc, resolve_free_pending);
	suite_add_tcase(s, tc);
	tcase_add_test(cc, resolver_conf_defaults);
	tcase_add_test(cc, resolver_conf_keys);
	tcase_add_test(cc, resolver_conf_errors);
	suite_add_tcase(s, cc);
	return s;
}

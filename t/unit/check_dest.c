/*
 * Destination rules of forward and socks listeners: conf/dest.c parses
 * the block, worker/dest.c decides.  One named line per case: the rules,
 * what the client asked for (a name, or NULL for an address it gave),
 * the address connected to, whether the client is on loopback, and the
 * verdict with what decided it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/dest.h"
#include "lib/ct.h"
#include "t/unit/suites.h"
#include "worker/dest.h"

struct dest_errs {
	size_t n;
	char first[512];
};

static void
dest_errs_add(void *arg, const char *msg)
{
	struct dest_errs *e = arg;

	if (e->n++ == 0)
		snprintf(e->first, sizeof(e->first), "%s", msg);
}

static void
rules_load(const char *yaml, struct conf_dest *d)
{
	struct dest_errs e;

	memset(&e, 0, sizeof(e));
	conf_dest_load_string("t.yaml", yaml, strlen(yaml), d, dest_errs_add, &e);
	ck_assert_msg(e.n == 0, "%s: %zu errors, first: %s", yaml, e.n, e.first);
}

static void
sa_of(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return;
	}
	ck_assert_msg(inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1, "%s", ip);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
}

#define LOCAL   1
#define REMOTE  0

struct dest_case {
	const char *line;
	const char *rules;
	const char *host;            /* NULL: the client gave an address */
	const char *ip;              /* NULL: refused at the name step */
	uint16_t port;
	int local;
	int allowed;
	const char *decided;         /* dest_verdict_format() */
};

#define EX    "{allow: [\"*.example.com\"]}"
#define PORTS "{allow: [\"*.example.com:443\", \"10.0.0.0/8:8000-8999\", \"[2001:db8::1]:22\", \":80\"]}"
#define MIXED "{allow: [\"*.example.com\"], deny: [bad.example.com, 203.0.113.9, \":25\"]}"

static const struct dest_case cases[] = {
	/* No rules: public addresses only, unless the client is local. */
	{ "public v4",            "{}", "a.test", "8.8.8.8", 443, REMOTE, 1, "no entry" },
	{ "public v6",            "{}", "a.test", "2001:4860::8888", 443, REMOTE, 1, "no entry" },
	{ "private v4",           "{}", "a.test", "10.0.0.1", 80, REMOTE, 0, "private address (private: deny)" },
	{ "private v4 local",     "{}", "a.test", "10.0.0.1", 80, LOCAL, 1, "no entry" },
	{ "loopback",             "{}", "localhost", "127.0.0.1", 80, REMOTE, 0, "loopback address (private: deny)" },
	{ "loopback local",       "{}", "localhost", "127.0.0.1", 80, LOCAL, 1, "no entry" },
	{ "loopback v6",          "{}", NULL, "::1", 80, REMOTE, 0, "loopback address (private: deny)" },
	{ "172.16/12",            "{}", NULL, "172.20.1.1", 80, REMOTE, 0, "private address (private: deny)" },
	{ "192.168/16",           "{}", NULL, "192.168.0.1", 80, REMOTE, 0, "private address (private: deny)" },
	{ "ula",                  "{}", NULL, "fd12::1", 80, REMOTE, 0, "private address (private: deny)" },
	{ "link-local",           "{}", NULL, "169.254.10.10", 80, REMOTE, 0, "link-local address (private: deny)" },
	{ "link-local v6",        "{}", NULL, "fe80::1", 80, REMOTE, 0, "link-local address (private: deny)" },
	{ "metadata",             "{}", "metadata.internal", "169.254.169.254", 80, REMOTE, 0, "cloud metadata address (private: deny)" },
	{ "metadata v6",          "{}", NULL, "fd00:ec2::254", 80, REMOTE, 0, "cloud metadata address (private: deny)" },
	{ "metadata mapped",      "{}", NULL, "::ffff:169.254.169.254", 80, REMOTE, 0, "cloud metadata address (private: deny)" },
	{ "unspecified",          "{}", NULL, "0.0.0.0", 80, REMOTE, 0, "unspecified address (private: deny)" },
	{ "unspecified v6",       "{}", NULL, "::", 80, REMOTE, 0, "unspecified address (private: deny)" },
	{ "multicast",            "{}", NULL, "239.1.1.1", 80, REMOTE, 0, "multicast address (private: deny)" },
	{ "mapped private",       "{}", NULL, "::ffff:10.0.0.1", 80, REMOTE, 0, "private address (private: deny)" },
	{ "mapped loopback",      "{}", NULL, "::ffff:127.0.0.1", 80, REMOTE, 0, "loopback address (private: deny)" },
	{ "mapped public",        "{}", NULL, "::ffff:8.8.8.8", 80, REMOTE, 1, "no entry" },
	{ "nat64 private",        "{}", NULL, "64:ff9b::192.168.1.1", 80, REMOTE, 0, "private address (private: deny)" },
	{ "cgnat",                "{}", NULL, "100.64.1.1", 80, REMOTE, 0, "shared (carrier-grade NAT) address (private: deny)" },
	/* private: allow lifts the rule; deny entries still win. */
	{ "private allow",        "{private: allow}", NULL, "10.0.0.1", 80, REMOTE, 1, "no entry" },
	{ "private allow meta",   "{private: allow}", NULL, "169.254.169.254", 80, REMOTE, 1, "no entry" },
	{ "private allow, deny",  "{private: allow, deny: [10.0.0.0/8]}", NULL, "10.9.9.9", 80, REMOTE, 0, "deny[0] \"10.0.0.0/8\"" },
	{ "private deny said",    "{private: deny}", NULL, "10.0.0.1", 80, LOCAL, 1, "no entry" },
	/* CIDR entries, IPv4 and IPv6, and the two spellings of an IPv4 address. */
	{ "deny v4",              "{deny: [203.0.113.0/24]}", "a.test", "203.0.113.5", 443, REMOTE, 0, "deny[0] \"203.0.113.0/24\"" },
	{ "deny v4 outside",      "{deny: [203.0.113.0/24]}", "a.test", "203.0.114.5", 443, REMOTE, 1, "no entry" },
	{ "deny v4, mapped",      "{deny: [203.0.113.0/24]}", NULL, "::ffff:203.0.113.5", 443, REMOTE, 0, "deny[0] \"203.0.113.0/24\"" },
	{ "deny mapped, v4",      "{deny: [\"::ffff:198.51.100.0/120\"]}", NULL, "198.51.100.7", 443, REMOTE, 0, "deny[0] \"::ffff:198.51.100.0/120\"" },
	{ "deny v6",              "{deny: [\"2001:db8::/32\"]}", NULL, "2001:db8::1", 443, REMOTE, 0, "deny[0] \"2001:db8::/32\"" },
	{ "deny v6 outside",      "{deny: [\"2001:db8::/32\"]}", NULL, "2001:db9::1", 443, REMOTE, 1, "no entry" },
	{ "deny v6 not v4",       "{deny: [\"2001:db8::/32\"]}", NULL, "32.1.13.184", 443, REMOTE, 1, "no entry" },
	{ "deny bare address",    "{deny: [198.51.100.1]}", NULL, "198.51.100.1", 1, REMOTE, 0, "deny[0] \"198.51.100.1\"" },
	{ "allow v4 only",        "{allow: [198.51.100.0/24]}", "x.test", "198.51.101.1", 80, REMOTE, 0, "not in the allow list" },
	{ "allow v4",             "{allow: [198.51.100.0/24]}", "x.test", "198.51.100.1", 80, REMOTE, 1, "allow[0] \"198.51.100.0/24\"" },
	/* Wildcards: any name under the domain, at any depth, not the domain itself. */
	{ "wildcard",             EX, "a.example.com", "93.184.216.34", 443, REMOTE, 1, "allow[0] \"*.example.com\"" },
	{ "wildcard deeper",      EX, "b.a.example.com", "93.184.216.34", 443, REMOTE, 1, "allow[0] \"*.example.com\"" },
	{ "wildcard case, dot",   EX, "A.Example.COM.", "93.184.216.34", 443, REMOTE, 1, "allow[0] \"*.example.com\"" },
	{ "wildcard not apex",    EX, "example.com", NULL, 443, REMOTE, 0, "not in the allow list" },
	{ "wildcard not suffix",  EX, "badexample.com", NULL, 443, REMOTE, 0, "not in the allow list" },
	{ "wildcard not prefix",  EX, "a.example.com.evil.test", NULL, 443, REMOTE, 0, "not in the allow list" },
	{ "wildcard empty label", EX, ".example.com", NULL, 443, REMOTE, 0, "not in the allow list" },
	{ "host exact",           "{allow: [example.com]}", "example.com", "93.184.216.34", 80, REMOTE, 1, "allow[0] \"example.com\"" },
	{ "host not sub",         "{allow: [example.com]}", "www.example.com", NULL, 80, REMOTE, 0, "not in the allow list" },
	{ "literal vs names",     "{allow: [example.com]}", "93.184.216.34", NULL, 80, REMOTE, 0, "not in the allow list" },
	{ "literal, no name",     "{allow: [example.com]}", NULL, "93.184.216.34", 80, REMOTE, 0, "not in the allow list" },
	{ "literal vs deny name", "{deny: [example.com]}", "93.184.216.34", "93.184.216.34", 80, REMOTE, 1, "no entry" },
	{ "bracketed literal",    "{allow: [\"*.example.com\"]}", "[2001:db8::1]", NULL, 80, REMOTE, 0, "not in the allow list" },
	/* Ports and ranges. */
	{ "port of wildcard",     PORTS, "a.example.com", "93.184.216.34", 443, REMOTE, 1, "allow[0] \"*.example.com:443\"" },
	/* 8443 is in no entry of the name, but in the range of an allow block: resolved, then refused. */
	{ "port other",           PORTS, "a.example.com", "93.184.216.34", 8443, REMOTE, 0, "not in the allow list" },
	{ "port in no entry",     PORTS, "a.example.com", NULL, 9443, REMOTE, 0, "not in the allow list" },
	{ "port alone",           PORTS, "a.example.com", "93.184.216.34", 80, REMOTE, 1, "allow[3] \":80\"" },
	{ "port alone, any host", PORTS, "other.test", "198.51.100.1", 80, REMOTE, 1, "allow[3] \":80\"" },
	{ "range low",            PORTS, NULL, "10.1.1.1", 8000, REMOTE, 1, "allow[1] \"10.0.0.0/8:8000-8999\"" },
	{ "range high",           PORTS, "svc.test", "10.1.1.1", 8999, REMOTE, 1, "allow[1] \"10.0.0.0/8:8000-8999\"" },
	{ "range above",          PORTS, NULL, "10.1.1.1", 9000, REMOTE, 0, "not in the allow list" },
	{ "range name above",     PORTS, "svc.test", NULL, 9000, REMOTE, 0, "not in the allow list" },
	{ "v6 port",              PORTS, NULL, "2001:db8::1", 22, REMOTE, 1, "allow[2] \"[2001:db8::1]:22\"" },
	{ "v6 port other",        PORTS, NULL, "2001:db8::1", 23, REMOTE, 0, "not in the allow list" },
	/* Deny wins; names are checked as asked, addresses as connected to. */
	{ "deny name",            MIXED, "bad.example.com", NULL, 443, REMOTE, 0, "deny[0] \"bad.example.com\"" },
	{ "deny name, dot, case", MIXED, "BAD.example.com.", NULL, 443, REMOTE, 0, "deny[0] \"bad.example.com\"" },
	{ "deny address of name", MIXED, "good.example.com", "203.0.113.9", 443, REMOTE, 0, "deny[1] \"203.0.113.9\"" },
	{ "allow beside deny",    MIXED, "good.example.com", "203.0.113.10", 443, REMOTE, 1, "allow[0] \"*.example.com\"" },
	{ "deny port on name",    MIXED, "good.example.com", NULL, 25, REMOTE, 0, "deny[2] \":25\"" },
	{ "deny port on address", MIXED, NULL, "203.0.113.10", 25, REMOTE, 0, "deny[2] \":25\"" },
	{ "rebinding",            EX, "a.example.com", "127.0.0.1", 443, REMOTE, 0, "loopback address (private: deny)" },
	{ "rebinding mapped",     EX, "a.example.com", "::ffff:192.168.0.1", 443, REMOTE, 0, "private address (private: deny)" },
	/* An allow block inside private space lifts the rule, for that block only. */
	{ "allow private block",  "{allow: [10.1.2.0/24]}", NULL, "10.1.2.3", 80, REMOTE, 1, "allow[0] \"10.1.2.0/24\"" },
	{ "allow block, outside", "{allow: [10.1.2.0/24]}", NULL, "10.1.3.3", 80, REMOTE, 0, "not in the allow list" },
	{ "allow mapped block",   "{allow: [\"::ffff:10.1.2.0/120\"]}", NULL, "10.1.2.3", 80, REMOTE, 1, "allow[0] \"::ffff:10.1.2.0/120\"" },
	{ "allow all v4",         "{allow: [0.0.0.0/0]}", NULL, "10.1.2.3", 80, REMOTE, 0, "private address (private: deny)" },
	{ "allow all v4, public", "{allow: [0.0.0.0/0]}", NULL, "8.8.8.8", 80, REMOTE, 1, "allow[0] \"0.0.0.0/0\"" },
	{ "allow name, private",  "{allow: [intranet.test]}", "intranet.test", "10.0.0.5", 80, REMOTE, 0, "private address (private: deny)" },
	{ "allow name and block", "{allow: [intranet.test, 10.0.0.0/8]}", "intranet.test", "10.0.0.5", 80, REMOTE, 1, "allow[1] \"10.0.0.0/8\"" },
	{ "allow block, port",    "{allow: [\"10.1.2.0/24:443\", \":22\"]}", NULL, "10.1.2.3", 22, REMOTE, 0, "private address (private: deny)" },
	{ "allow metadata",       "{allow: [169.254.169.254]}", NULL, "169.254.169.254", 80, REMOTE, 1, "allow[0] \"169.254.169.254\"" },
	{ "allow link-local",     "{allow: [169.254.0.0/16]}", NULL, "169.254.169.254", 80, REMOTE, 1, "allow[0] \"169.254.0.0/16\"" },
	{ "allow private, deny",  "{allow: [10.0.0.0/8], deny: [10.0.0.1]}", NULL, "10.0.0.1", 80, REMOTE, 0, "deny[0] \"10.0.0.1\"" },
};

START_TEST(test_dest_case)
{
	const struct dest_case *c = &cases[_i];
	struct dest_verdict byname, v;
	struct sockaddr_storage ss;
	struct conf_dest d;
	char buf[256];

	rules_load(c->rules, &d);
	if (c->host != NULL && !dest_check_name(&d, c->host, c->port, &byname)) {
		ck_assert_msg(c->ip == NULL, "%s: refused at the name step: %s", c->line,
		    dest_verdict_format(&byname, buf, sizeof(buf)));
		ck_assert_msg(!c->allowed, "%s", c->line);
		ck_assert_str_eq(dest_verdict_format(&byname, buf, sizeof(buf)), c->decided);
		conf_dest_free(&d);
		return;
	}
	ck_assert_msg(c->ip != NULL, "%s: the name step let %s through", c->line, c->host);
	sa_of(c->ip, c->port, &ss);
	ck_assert_msg(dest_check_addr(&d, c->host != NULL ? &byname : NULL,
	    (struct sockaddr *)&ss, c->local, &v) == c->allowed, "%s: %s", c->line,
	    dest_verdict_format(&v, buf, sizeof(buf)));
	ck_assert_int_eq(v.allowed, c->allowed);
	ck_assert_msg(strcmp(dest_verdict_format(&v, buf, sizeof(buf)), c->decided) == 0,
	    "%s: decided by %s, not %s", c->line, buf, c->decided);
	conf_dest_free(&d);
}
END_TEST

/* The approval's rules: one step, names as the name step, addresses only as given. */
START_TEST(test_dest_rules_find)
{
	struct conf_dest d;

	rules_load("{allow: [\"*.example.com:443\", a.test, \"10.0.0.0/8\", \"[2001:db8::/32]:22\", \":7\"]}",
	    &d);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "www.Example.COM", 443), 0);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "www.example.com.", 443), 0);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "www.example.com", 80), d.nallow);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "example.com", 443), d.nallow);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "a.test", 1), 1);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "10.2.3.4", 80), 2);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "::ffff:10.2.3.4", 80), 2);
	/* A name is not matched against blocks: it is not resolved yet. */
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "ten.test", 80), d.nallow);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "2001:db8::1", 22), 3);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "2001:db8::1", 23), d.nallow);
	/* An address is not matched against names. */
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "192.0.2.1", 443), d.nallow);
	ck_assert_uint_eq(dest_rules_find(d.allow, d.nallow, "192.0.2.1", 7), 4);
	conf_dest_free(&d);
}
END_TEST

/* A refusal of the name step carries over: the address step says the same. */
START_TEST(test_dest_refused_name_carries)
{
	struct dest_verdict byname, v;
	struct sockaddr_storage ss;
	struct conf_dest d;

	rules_load(MIXED, &d);
	ck_assert(!dest_check_name(&d, "bad.example.com", 443, &byname));
	sa_of("93.184.216.34", 443, &ss);
	ck_assert(!dest_check_addr(&d, &byname, (struct sockaddr *)&ss, LOCAL, &v));
	ck_assert_int_eq(v.by, DEST_BY_DENY);
	ck_assert_uint_eq(v.index, 0);
	ck_assert_ptr_eq(v.rule, &d.deny[0]);
	/* Not an IP address at all. */
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert(!dest_check_addr(&d, NULL, (struct sockaddr *)&ss, LOCAL, &v));
	ck_assert_int_eq(v.by, DEST_BY_FAMILY);
	conf_dest_free(&d);
}
END_TEST

START_TEST(test_dest_client_local)
{
	static const struct { const char *ip; int local; } clients[] = {
		{ "127.0.0.1", 1 }, { "127.9.9.9", 1 }, { "::1", 1 }, { "::ffff:127.0.0.1", 1 },
		{ "10.0.0.1", 0 }, { "128.0.0.1", 0 }, { "::2", 0 }, { "::ffff:10.0.0.1", 0 },
		{ "2002:7f00:1::1", 0 }, { "64:ff9b::127.0.0.1", 0 }, { "::127.0.0.1", 0 },
	};
	struct sockaddr_storage ss;
	size_t i;

	for (i = 0; i < CT_NELEM(clients); i++) {
		sa_of(clients[i].ip, 1234, &ss);
		ck_assert_msg(dest_client_local((struct sockaddr *)&ss) == clients[i].local, "%s",
		    clients[i].ip);
	}
}
END_TEST

START_TEST(test_dest_parse)
{
	struct conf_dest d;

	rules_load("allow: [\"*.Example.COM:8000-8999\", \"[fd00::/8]:443\", \":80\", \"::1\", "
	    "\"10.0.0.0/8\", \"example.org:22\"]\n"
	    "deny: [\"${CT_TEST_DEST:-bad.example}\"]\n"
	    "private: allow\n", &d);
	ck_assert_uint_eq(d.nallow, 6);
	ck_assert_int_eq(d.allow[0].kind, CONF_DEST_DOMAIN);
	ck_assert_str_eq(d.allow[0].name, ".example.com");
	ck_assert_str_eq(d.allow[0].text, "*.Example.COM:8000-8999");
	ck_assert_uint_eq(d.allow[0].port_lo, 8000);
	ck_assert_uint_eq(d.allow[0].port_hi, 8999);
	ck_assert_int_eq(d.allow[1].kind, CONF_DEST_CIDR);
	ck_assert_int_eq(d.allow[1].cidr.family, AF_INET6);
	ck_assert_uint_eq(d.allow[1].cidr.prefix, 8);
	ck_assert(d.allow[1].internal);
	ck_assert_uint_eq(d.allow[1].port_lo, 443);
	ck_assert_int_eq(d.allow[2].kind, CONF_DEST_PORT);
	ck_assert_uint_eq(d.allow[2].port_hi, 80);
	ck_assert_int_eq(d.allow[3].kind, CONF_DEST_CIDR);
	ck_assert_uint_eq(d.allow[3].cidr.prefix, 128);
	ck_assert_uint_eq(d.allow[3].port_lo, 0);
	ck_assert(d.allow[4].internal);
	ck_assert_int_eq(d.allow[5].kind, CONF_DEST_HOST);
	ck_assert_str_eq(d.allow[5].name, "example.org");
	ck_assert_uint_eq(d.ndeny, 1);
	ck_assert_str_eq(d.deny[0].name, "bad.example");
	ck_assert(d.allow_private);
	conf_dest_free(&d);
}
END_TEST

START_TEST(test_dest_dump)
{
	struct conf_dest d, again;
	char *out = NULL, *out2 = NULL;
	size_t len = 0;
	FILE *f;

	rules_load("allow: [\"*.Example.com:443\", \"[::1]:22\"]\ndeny: [10.0.0.0/8]\n", &d);
	ck_assert_ptr_nonnull(f = open_memstream(&out, &len));
	conf_dest_dump(&d, f, 4, 1);
	fclose(f);
	ck_assert_str_eq(out, "    destinations:\n"
	    "      allow: [\"*.Example.com:443\", \"[::1]:22\"]\n"
	    "      deny: [\"10.0.0.0/8\"]\n"
	    "      private: deny\n");
	/* The dump, without its first line, loads as the same rules. */
	rules_load(strchr(out, '\n') + 1, &again);
	ck_assert_ptr_nonnull(f = open_memstream(&out2, &len));
	conf_dest_dump(&again, f, 4, 1);
	fclose(f);
	ck_assert_str_eq(out, out2);
	free(out);
	free(out2);
	conf_dest_free(&d);
	conf_dest_free(&again);
}
END_TEST

struct dest_bad {
	const char *yaml;
	const char *error;
};

static const struct dest_bad bad[] = {
	{ "allow: [\"10.0.0.1/8\"]",
	  "t.yaml:1:9: invalid destination \"10.0.0.1/8\" in \"allow\": host bits set" },
	{ "allow: [10.0.0]",
	  "t.yaml:1:9: invalid destination \"10.0.0\" in \"allow\": invalid IPv4 address" },
	{ "allow: [\"10.0.0.0/33\"]",
	  "t.yaml:1:9: invalid destination \"10.0.0.0/33\" in \"allow\": prefix length must be 0..32 for IPv4" },
	{ "deny: [\"example.com:0\"]",
	  "t.yaml:1:8: invalid destination \"example.com:0\" in \"deny\": port must be between 1 and 65535" },
	{ "deny: [\"example.com:65536\"]",
	  "t.yaml:1:8: invalid destination \"example.com:65536\" in \"deny\": port must be between 1 and 65535" },
	{ "deny: [\"example.com:http\"]",
	  "t.yaml:1:8: invalid destination \"example.com:http\" in \"deny\": port must be a decimal number" },
	{ "deny: [\"example.com:\"]",
	  "t.yaml:1:8: invalid destination \"example.com:\" in \"deny\": missing port" },
	{ "deny: [\"example.com:90-80\"]",
	  "t.yaml:1:8: invalid destination \"example.com:90-80\" in \"deny\": a port range goes from the lower port to the higher" },
	{ "deny: [\"example.com:80-\"]",
	  "t.yaml:1:8: invalid destination \"example.com:80-\" in \"deny\": missing port" },
	{ "deny: [\":\"]",
	  "t.yaml:1:8: invalid destination \":\" in \"deny\": missing port" },
	{ "deny: [\"\"]",
	  "t.yaml:1:8: invalid destination \"\" in \"deny\": missing host" },
	{ "deny: [\":80\", \"[::1\"]",
	  "t.yaml:1:15: invalid destination \"[::1\" in \"deny\": missing \"]\" after IPv6 address" },
	{ "deny: [\"[::1]22\"]",
	  "t.yaml:1:8: invalid destination \"[::1]22\" in \"deny\": expected \":\" and a port after \"]\"" },
	{ "deny: [\"[10.0.0.1]:80\"]",
	  "t.yaml:1:8: invalid destination \"[10.0.0.1]:80\" in \"deny\": brackets are only for IPv6 addresses" },
	{ "deny: [\"2001:db8::/32:443\"]",
	  "t.yaml:1:8: invalid destination \"2001:db8::/32:443\" in \"deny\": an IPv6 block with a port goes in brackets, as in [fd00::/8]:443" },
	{ "deny: [\"2001:db8::g\"]",
	  "t.yaml:1:8: invalid destination \"2001:db8::g\" in \"deny\": invalid IPv6 address" },
	{ "allow: [\"*\"]",
	  "t.yaml:1:9: invalid destination \"*\" in \"allow\": use letters, digits, \"-\" and \".\", or \"*.\" and a domain" },
	{ "allow: [\"*.*.example.com\"]",
	  "t.yaml:1:9: invalid destination \"*.*.example.com\" in \"allow\": use letters, digits, \"-\" and \".\", or \"*.\" and a domain" },
	{ "allow: [\"a..example.com\"]",
	  "t.yaml:1:9: invalid destination \"a..example.com\" in \"allow\": labels must not be empty" },
	{ "allow: [\"ex ample.com\"]",
	  "t.yaml:1:9: invalid destination \"ex ample.com\" in \"allow\": use letters, digits, \"-\" and \".\", or \"*.\" and a domain" },
	{ "allow: example.com",
	  "t.yaml:1:8: \"allow\" must be a sequence" },
	{ "allow: [{host: a}]",
	  "t.yaml:1:9: each entry of \"allow\" must be a scalar" },
	{ "private: maybe",
	  "t.yaml:1:10: invalid value \"maybe\" for \"private\", expected one of: deny, allow" },
	{ "alow: [a.test]",
	  "t.yaml:1:1: unknown key \"alow\" in destinations, did you mean \"allow\"?" },
	{ "[a.test]",
	  "t.yaml:1:1: \"destinations\" must be a mapping" },
};

START_TEST(test_dest_bad)
{
	struct conf_dest d;
	struct dest_errs e;

	memset(&e, 0, sizeof(e));
	conf_dest_load_string("t.yaml", bad[_i].yaml, strlen(bad[_i].yaml), &d, dest_errs_add, &e);
	ck_assert_msg(e.n == 1, "%s: %zu errors, first: %s", bad[_i].yaml, e.n, e.first);
	ck_assert_str_eq(e.first, bad[_i].error);
	conf_dest_free(&d);
}
END_TEST

/* Every bad entry is reported, not only the first. */
START_TEST(test_dest_bad_all)
{
	static const char yaml[] = "allow: [\"a.test:0\", ok.test, \"10.0.0.1/8\"]\n"
	    "deny: [\"*\"]\nprivate: no\n";
	struct conf_dest d;
	struct dest_errs e;

	memset(&e, 0, sizeof(e));
	ck_assert_uint_eq(conf_dest_load_string("t.yaml", yaml, strlen(yaml), &d, dest_errs_add,
	    &e), 4);
	ck_assert_uint_eq(e.n, 4);
	conf_dest_free(&d);
}
END_TEST

Suite *
suite_dest(void)
{
	Suite *s = suite_create("dest");
	TCase *tc = tcase_create("decide");
	TCase *pc = tcase_create("parse");

	tcase_add_loop_test(tc, test_dest_case, 0, CT_NELEM(cases));
	tcase_add_test(tc, test_dest_refused_name_carries);
	tcase_add_test(tc, test_dest_rules_find);
	tcase_add_test(tc, test_dest_client_local);
	suite_add_tcase(s, tc);
	tcase_add_test(pc, test_dest_parse);
	tcase_add_test(pc, test_dest_dump);
	tcase_add_loop_test(pc, test_dest_bad, 0, CT_NELEM(bad));
	tcase_add_test(pc, test_dest_bad_all);
	suite_add_tcase(s, pc);
	return s;
}

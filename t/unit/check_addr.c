/*
 * lib/addr.c: socket addresses and CIDR blocks.  Rejected inputs are
 * one named line each, with the reason they must give.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/ct.h"
#include "t/unit/suites.h"

struct addr_good {
	const char *in;
	int wildcard;               /* allow_wildcard */
	int family;
	const char *formatted;      /* addr_format() of the result */
};

struct addr_bad {
	const char *in;
	int wildcard;
	const char *why;
};

static const struct addr_good addr_good[] = {
	{ "1.2.3.4:80",             0, AF_INET,  "1.2.3.4:80" },
	{ "127.0.0.1:8080",         0, AF_INET,  "127.0.0.1:8080" },
	{ "0.0.0.0:1",              0, AF_INET,  "0.0.0.0:1" },
	{ "255.255.255.255:65535",  0, AF_INET,  "255.255.255.255:65535" },
	{ "127.0.0.1:080",          0, AF_INET,  "127.0.0.1:80" },
	{ "*:80",                   1, AF_INET,  "0.0.0.0:80" },
	{ "[::1]:80",               0, AF_INET6, "[::1]:80" },
	{ "[::]:443",               1, AF_INET6, "[::]:443" },
	{ "[2001:DB8::1]:9000",     0, AF_INET6, "[2001:db8::1]:9000" },
	{ "[::ffff:1.2.3.4]:80",    0, AF_INET6, "[::ffff:1.2.3.4]:80" },
};

#define NO_DNS "address must be an IP literal (no DNS names)"
#define PORT_RANGE "port must be between 1 and 65535"
#define PORT_DEC "port must be a decimal number"

static const struct addr_bad addr_bad[] = {
	{ "",                       1, "empty address" },
	{ "1.2.3.4",                1, "missing port" },
	{ "1.2.3.4:",               1, "missing port" },
	{ "[::1]",                  1, "missing port" },
	{ "[::1]:",                 1, "missing port" },
	{ "1.2.3.4:0",              1, PORT_RANGE },
	{ "1.2.3.4:65536",          1, PORT_RANGE },
	{ "1.2.3.4:99999999999999", 1, PORT_RANGE },
	{ "1.2.3.4:-1",             1, PORT_DEC },
	{ "1.2.3.4:+80",            1, PORT_DEC },
	{ "1.2.3.4:0x50",           1, PORT_DEC },
	{ "1.2.3.4:http",           1, PORT_DEC },
	{ "1.2.3.4: 80",            1, PORT_DEC },
	{ "1.2.3.4:80 ",            1, PORT_DEC },
	{ "localhost:80",           1, NO_DNS },
	{ "example.com:443",        1, NO_DNS },
	{ "*:80",                   0, "wildcard \"*\" is not allowed here" },
	{ "::1:80",                 1, "IPv6 addresses must be in brackets, as in [::1]:80" },
	{ "[::1]80",                1, "expected \":\" and a port after \"]\"" },
	{ "[::1:80",                1, "missing \"]\" after IPv6 address" },
	{ "[1.2.3.4]:80",           1, "brackets are only for IPv6 addresses" },
	{ "[fe80::1%eth0]:80",      1, "invalid IPv6 address" },
	{ "[::g]:80",               1, "invalid IPv6 address" },
	{ "1.2.3:80",               1, "invalid IPv4 address" },
	{ "256.1.1.1:80",           1, "invalid IPv4 address" },
	{ " 1.2.3.4:80",            1, "invalid IPv4 address" },
	{ ":80",                    1, "missing address" },
};

START_TEST(test_addr_parse_good)
{
	const struct addr_good *c = &addr_good[_i];
	char buf[ADDR_STRLEN];
	const char *why = NULL;
	struct addr a;

	ck_assert_msg(addr_parse(c->in, c->wildcard, &a, &why) == CT_OK,
	    "\"%s\": %s", c->in, why);
	ck_assert_int_eq(a.ss.ss_family, c->family);
	ck_assert_uint_eq(a.len, c->family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	ck_assert_str_eq(addr_format((struct sockaddr *)&a.ss, buf, sizeof(buf)),
	    c->formatted);
}
END_TEST

START_TEST(test_addr_parse_bad)
{
	const struct addr_bad *c = &addr_bad[_i];
	const char *why = NULL;
	struct addr a;

	ck_assert_msg(addr_parse(c->in, c->wildcard, &a, &why) == CT_ERROR,
	    "\"%s\" was accepted", c->in);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, c->why);
}
END_TEST

/* addr_parse_port(): the port may be left out, and 53 is filled in. */
START_TEST(test_addr_parse_port)
{
	static const struct { const char *in, *formatted; } good[] = {
		{ "1.2.3.4",            "1.2.3.4:53" },
		{ "1.2.3.4:5353",       "1.2.3.4:5353" },
		{ "::1",                "[::1]:53" },
		{ "[::1]",              "[::1]:53" },
		{ "[2001:db8::1]:5300", "[2001:db8::1]:5300" },
		{ "::ffff:10.0.0.1",    "[::ffff:10.0.0.1]:53" },
	};
	static const struct { const char *in, *why; } bad[] = {
		{ "",                   "empty address" },
		{ "[1.2.3.4]",          "brackets are only for IPv6 addresses" },
		{ "[]",                 "missing address" },
		{ "[::1",               "missing \"]\" after IPv6 address" },
		{ "dns.example",        NO_DNS },
		{ "dns.example:53",     NO_DNS },
		{ "fe80::1%eth0",       "invalid IPv6 address" },
		{ "1.2.3.4:0",          PORT_RANGE },
		{ "*:53",               "wildcard \"*\" is not allowed here" },
		{ "1.2.3",              "invalid IPv4 address" },
	};
	char buf[ADDR_STRLEN];
	const char *why;
	struct addr a;
	size_t i;

	for (i = 0; i < CT_NELEM(good); i++) {
		why = NULL;
		ck_assert_msg(addr_parse_port(good[i].in, 53, &a, &why) == CT_OK, "\"%s\": %s",
		    good[i].in, why);
		ck_assert_str_eq(addr_format((struct sockaddr *)&a.ss, buf, sizeof(buf)),
		    good[i].formatted);
	}
	for (i = 0; i < CT_NELEM(bad); i++) {
		why = NULL;
		ck_assert_msg(addr_parse_port(bad[i].in, 53, &a, &why) == CT_ERROR,
		    "\"%s\" was accepted", bad[i].in);
		ck_assert_msg(why != NULL && strcmp(why, bad[i].why) == 0, "\"%s\": %s, not %s",
		    bad[i].in, why, bad[i].why);
	}
}
END_TEST

/* The class of an address, written as a literal. */
static enum addr_class
class_of(const char *ip)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, ip, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return addr_class_of((struct sockaddr *)&sin);
	}
	ck_assert_msg(inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1, "%s", ip);
	sin6.sin6_family = AF_INET6;
	return addr_class_of((struct sockaddr *)&sin6);
}

START_TEST(test_addr_class)
{
	static const struct { const char *ip; enum addr_class c; } cases[] = {
		{ "8.8.8.8", ADDR_PUBLIC },           { "2001:4860:4860::8888", ADDR_PUBLIC },
		{ "127.0.0.1", ADDR_LOOPBACK },       { "127.255.255.254", ADDR_LOOPBACK },
		{ "::1", ADDR_LOOPBACK },             { "10.1.2.3", ADDR_PRIVATE },
		{ "172.16.0.1", ADDR_PRIVATE },       { "172.31.255.255", ADDR_PRIVATE },
		{ "172.32.0.1", ADDR_PUBLIC },        { "172.15.255.255", ADDR_PUBLIC },
		{ "192.168.1.1", ADDR_PRIVATE },      { "192.169.0.1", ADDR_PUBLIC },
		{ "fc00::1", ADDR_PRIVATE },          { "fdff::1", ADDR_PRIVATE },
		{ "fe00::1", ADDR_PUBLIC },           { "fec0::1", ADDR_PRIVATE },
		{ "169.254.1.1", ADDR_LINK_LOCAL },   { "fe80::1", ADDR_LINK_LOCAL },
		{ "febf::1", ADDR_LINK_LOCAL },       { "169.254.169.254", ADDR_METADATA },
		{ "fd00:ec2::254", ADDR_METADATA },   { "fd00:ec2::255", ADDR_PRIVATE },
		{ "0.0.0.0", ADDR_UNSPECIFIED },      { "0.1.2.3", ADDR_UNSPECIFIED },
		{ "::", ADDR_UNSPECIFIED },           { "224.0.0.1", ADDR_MULTICAST },
		{ "239.255.255.250", ADDR_MULTICAST },{ "ff02::1", ADDR_MULTICAST },
		{ "255.255.255.255", ADDR_RESERVED }, { "240.0.0.1", ADDR_RESERVED },
		{ "192.0.0.8", ADDR_RESERVED },       { "100.64.0.1", ADDR_SHARED },
		{ "100.127.255.255", ADDR_SHARED },   { "100.128.0.1", ADDR_PUBLIC },
		/* IPv4 inside IPv6 is what it carries. */
		{ "::ffff:127.0.0.1", ADDR_LOOPBACK },{ "::ffff:10.0.0.1", ADDR_PRIVATE },
		{ "::ffff:169.254.169.254", ADDR_METADATA },
		{ "::ffff:8.8.8.8", ADDR_PUBLIC },    { "::ffff:0.0.0.0", ADDR_UNSPECIFIED },
		{ "64:ff9b::10.0.0.1", ADDR_PRIVATE },{ "64:ff9b::8.8.8.8", ADDR_PUBLIC },
		{ "64:ff9b:1::1", ADDR_PRIVATE },     { "2002:7f00:1::1", ADDR_LOOPBACK },
		{ "2002:a9fe:a9fe::", ADDR_METADATA },{ "2002:808:808::1", ADDR_PUBLIC },
		{ "::127.0.0.1", ADDR_RESERVED },     { "::8.8.8.8", ADDR_RESERVED },
	};
	size_t i;

	for (i = 0; i < CT_NELEM(cases); i++)
		ck_assert_msg(class_of(cases[i].ip) == cases[i].c, "%s: %s, not %s", cases[i].ip,
		    addr_class_name(class_of(cases[i].ip)), addr_class_name(cases[i].c));
}
END_TEST

START_TEST(test_cidr_is_internal)
{
	static const struct { const char *block; int internal; } cases[] = {
		{ "10.1.2.0/24", 1 },        { "10.0.0.0/8", 1 },         { "10.0.0.0/7", 0 },
		{ "0.0.0.0/0", 0 },          { "8.8.8.0/24", 0 },         { "127.0.0.1", 1 },
		{ "169.254.169.254", 1 },    { "172.16.0.0/12", 1 },      { "172.0.0.0/8", 0 },
		{ "::/0", 0 },               { "::1/128", 1 },            { "fd00::/8", 1 },
		{ "fc00::/6", 0 },           { "2001:db8::/32", 0 },      { "::ffff:10.0.0.0/104", 1 },
		{ "::ffff:0.0.0.0/96", 0 },  { "::ffff:8.8.8.0/120", 0 }, { "2002:a00::/24", 1 },
		{ "64:ff9b::c0a8:0/112", 1 },
	};
	const char *why = NULL;
	struct cidr c;
	size_t i;

	for (i = 0; i < CT_NELEM(cases); i++) {
		ck_assert_msg(cidr_parse(cases[i].block, &c, &why) == CT_OK, "%s: %s",
		    cases[i].block, why);
		ck_assert_msg(cidr_is_internal(&c) == cases[i].internal, "%s", cases[i].block);
	}
}
END_TEST

static struct addr
addr_of(const char *s)
{
	const char *why = NULL;
	struct addr a;

	ck_assert_msg(addr_parse(s, 1, &a, &why) == CT_OK, "%s: %s", s, why);
	return a;
}

START_TEST(test_addr_equal)
{
	struct addr a = addr_of("10.0.0.1:80"), b = addr_of("10.0.0.1:80");
	struct addr c = addr_of("10.0.0.1:81"), d = addr_of("10.0.0.2:80");
	struct addr e = addr_of("[::1]:80"), f = addr_of("[::1]:80");
	struct addr g = addr_of("[::ffff:10.0.0.1]:80");
	struct addr w = addr_of("*:80"), z = addr_of("0.0.0.0:80");

#define SA(x) ((struct sockaddr *)&(x).ss)
	ck_assert(addr_equal(SA(a), SA(b)));
	ck_assert(!addr_equal(SA(a), SA(c)));
	ck_assert(!addr_equal(SA(a), SA(d)));
	ck_assert(addr_equal(SA(e), SA(f)));
	ck_assert(!addr_equal(SA(a), SA(e)));
	ck_assert(!addr_equal(SA(a), SA(g)));
	ck_assert(addr_equal(SA(w), SA(z)));
#undef SA
}
END_TEST

START_TEST(test_addr_other_form)
{
	struct addr v4 = addr_of("10.0.0.1:53"), mapped = addr_of("[::ffff:10.0.0.1]:53");
	struct addr v6 = addr_of("[2001:db8::1]:53");
	struct sockaddr_storage o, unix_sa;

#define SA(x) ((struct sockaddr *)&(x).ss)
	ck_assert_int_eq(addr_other_form(SA(v4), &o), 1);
	ck_assert(addr_equal((struct sockaddr *)&o, SA(mapped)));
	ck_assert_int_eq(addr_other_form(SA(mapped), &o), 1);
	ck_assert(addr_equal((struct sockaddr *)&o, SA(v4)));
	/* A true IPv6 address has no IPv4 form. */
	ck_assert_int_eq(addr_other_form(SA(v6), &o), 0);
	memset(&unix_sa, 0, sizeof(unix_sa));
	unix_sa.ss_family = AF_UNIX;
	ck_assert_int_eq(addr_other_form((struct sockaddr *)&unix_sa, &o), 0);
#undef SA
}
END_TEST

START_TEST(test_addr_format_small)
{
	struct addr a = addr_of("[2001:db8::1]:65535");
	char buf[8];

	addr_format((struct sockaddr *)&a.ss, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[2001:d");
}
END_TEST

struct cidr_good {
	const char *in;
	int family;
	unsigned prefix;
	const char *net;            /* network address, as inet_pton reads it */
};

static const struct cidr_good cidr_good[] = {
	{ "10.0.0.0/8",        AF_INET,  8,   "10.0.0.0" },
	{ "192.168.0.0/23",    AF_INET,  23,  "192.168.0.0" },
	{ "0.0.0.0/0",         AF_INET,  0,   "0.0.0.0" },
	{ "10.1.2.3/32",       AF_INET,  32,  "10.1.2.3" },
	{ "10.1.2.3",          AF_INET,  32,  "10.1.2.3" },
	{ "::1/128",           AF_INET6, 128, "::1" },
	{ "::1",               AF_INET6, 128, "::1" },
	{ "::/0",              AF_INET6, 0,   "::" },
	{ "fe80::/10",         AF_INET6, 10,  "fe80::" },
	{ "2001:db8::/32",     AF_INET6, 32,  "2001:db8::" },
};

static const struct addr_bad cidr_bad[] = {
	{ "",                  0, "empty CIDR block" },
	{ "10.0.0.1/8",        0, "host bits set" },
	{ "192.168.1.0/23",    0, "host bits set" },
	{ "fe80::1/10",        0, "host bits set" },
	{ "::1/127",           0, "host bits set" },
	{ "10.0.0.0/33",       0, "prefix length must be 0..32 for IPv4" },
	{ "::/129",            0, "prefix length must be 0..128 for IPv6" },
	{ "10.0.0.0/",         0, "missing prefix length after \"/\"" },
	{ "10.0.0.0/a",        0, "prefix length must be a decimal number" },
	{ "10.0.0.0/-1",       0, "prefix length must be a decimal number" },
	{ "10.0.0.0/8/9",      0, "prefix length must be a decimal number" },
	{ "10.0.0.0/ 8",       0, "prefix length must be a decimal number" },
	{ "/8",                0, "missing address" },
	{ "foo/8",             0, NO_DNS },
	{ "example.com",       0, NO_DNS },
	{ "10.0.0/8",          0, "invalid IPv4 address" },
	{ "[::1]/128",         0, "invalid IPv6 address" },
};

START_TEST(test_cidr_parse_good)
{
	const struct cidr_good *c = &cidr_good[_i];
	const char *why = NULL;
	uint8_t net[16] = { 0 };
	struct cidr b;

	ck_assert_msg(cidr_parse(c->in, &b, &why) == CT_OK, "\"%s\": %s",
	    c->in, why);
	ck_assert_int_eq(b.family, c->family);
	ck_assert_uint_eq(b.prefix, c->prefix);
	ck_assert_int_eq(inet_pton(c->family, c->net, net), 1);
	ck_assert_mem_eq(b.net, net, c->family == AF_INET ? 4 : 16);
}
END_TEST

START_TEST(test_cidr_parse_bad)
{
	const struct addr_bad *c = &cidr_bad[_i];
	const char *why = NULL;
	struct cidr b;

	ck_assert_msg(cidr_parse(c->in, &b, &why) == CT_ERROR,
	    "\"%s\" was accepted", c->in);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, c->why);
}
END_TEST

/* Does block contain the client address ip? */
static int
matches(const char *block, const char *ip)
{
	char hostport[ADDR_STRLEN + 8];
	const char *why = NULL;
	struct cidr c;
	struct addr a;

	ck_assert_msg(cidr_parse(block, &c, &why) == CT_OK, "%s: %s", block, why);
	if (strchr(ip, ':') != NULL)
		snprintf(hostport, sizeof(hostport), "[%s]:1234", ip);
	else
		snprintf(hostport, sizeof(hostport), "%s:1234", ip);
	a = addr_of(hostport);
	return cidr_match(&c, (struct sockaddr *)&a.ss);
}

START_TEST(test_cidr_match_v4)
{
	ck_assert(matches("10.0.0.0/8", "10.1.2.3"));
	ck_assert(matches("10.0.0.0/8", "10.255.255.255"));
	ck_assert(!matches("10.0.0.0/8", "11.0.0.1"));
	ck_assert(!matches("10.0.0.0/8", "9.255.255.255"));
	ck_assert(matches("192.168.0.0/23", "192.168.1.255"));
	ck_assert(!matches("192.168.0.0/23", "192.168.2.0"));
	ck_assert(matches("10.1.2.3/32", "10.1.2.3"));
	ck_assert(!matches("10.1.2.3/32", "10.1.2.4"));
	ck_assert(matches("10.1.2.3", "10.1.2.3"));
	ck_assert(matches("0.0.0.0/0", "1.2.3.4"));
	ck_assert(matches("0.0.0.0/0", "255.255.255.255"));
}
END_TEST

START_TEST(test_cidr_match_v6)
{
	ck_assert(matches("::1/128", "::1"));
	ck_assert(!matches("::1/128", "::2"));
	ck_assert(matches("2001:db8::/64", "2001:db8::5"));
	ck_assert(!matches("2001:db8::/64", "2001:db8:0:1::5"));
	ck_assert(matches("fe80::/10", "febf::1"));
	ck_assert(!matches("fe80::/10", "fec0::1"));
	ck_assert(matches("::/0", "2001:db8::1"));
}
END_TEST

/* An IPv4 client accepted on an IPv6 socket shows up as ::ffff:a.b.c.d. */
START_TEST(test_cidr_match_mapped)
{
	ck_assert(matches("10.0.0.0/8", "::ffff:10.1.2.3"));
	ck_assert(!matches("10.0.0.0/8", "::ffff:11.0.0.1"));
	ck_assert(matches("127.0.0.1", "::ffff:127.0.0.1"));
	ck_assert(matches("0.0.0.0/0", "::ffff:1.2.3.4"));
	/* only mapped addresses: a plain IPv6 client is not in an IPv4 block */
	ck_assert(!matches("0.0.0.0/0", "::1"));
	ck_assert(!matches("0.0.0.0/0", "::a01:203"));
}
END_TEST

START_TEST(test_cidr_match_cross_family)
{
	ck_assert(!matches("::/0", "1.2.3.4"));
	ck_assert(!matches("::ffff:0:0/96", "10.1.2.3"));
	ck_assert(!matches("::1/128", "127.0.0.1"));
}
END_TEST

START_TEST(test_addr_ip_format)
{
	static const char *const in[] = { "0.0.0.0:1", "255.255.255.255:2", "10.1.20.200:3",
	    "192.0.2.9:4", "[::1]:5", "[2001:db8::a:1]:6" };
	static const char *const want[] = { "0.0.0.0", "255.255.255.255", "10.1.20.200",
	    "192.0.2.9", "::1", "2001:db8::a:1" };
	char buf[INET6_ADDRSTRLEN];
	struct addr a;
	const char *why;
	size_t i, n;

	for (i = 0; i < CT_NELEM(in); i++) {
		ck_assert_int_eq(addr_parse(in[i], 0, &a, &why), CT_OK);
		memset(buf, 'x', sizeof(buf));
		n = addr_ip_format((const struct sockaddr *)&a.ss, buf, sizeof(buf));
		ck_assert_str_eq(buf, want[i]);
		ck_assert_uint_eq(n, strlen(want[i]));
	}
}
END_TEST

/* cidr_list_parse(): one network per line, comments and blanks skipped. */
START_TEST(test_cidr_list_good)
{
	static const char text[] = "# allowed\n\n  10.0.0.0/8\t# ten\n::1\r\n\t192.168.1.1 \n#\n127.0.0.0/24";
	struct cidr_list_error err;
	struct cidr *list = NULL;
	size_t n = 0;

	ck_assert_int_eq(cidr_list_parse(text, strlen(text), &list, &n, &err), CT_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(list[0].family, AF_INET);
	ck_assert_uint_eq(list[0].prefix, 8);
	ck_assert_int_eq(list[1].family, AF_INET6);
	ck_assert_uint_eq(list[1].prefix, 128);
	ck_assert_uint_eq(list[2].prefix, 32);
	ck_assert_uint_eq(list[3].prefix, 24);
	ck_assert_uint_eq(list[3].net[2], 0);
	free(list);
	/* Only comments: an empty list, not an error. */
	list = (struct cidr *)&err;
	ck_assert_int_eq(cidr_list_parse("# none\n\n", 8, &list, &n, &err), CT_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(list);
}
END_TEST

static const struct {
	const char *text;
	size_t line;
	const char *bad;
} cidr_list_bad[] = {
	{ "10.0.0.0/8\nfoo\n", 2, "foo" },
	{ "# c\n\n10.0.0.1/8 # host bits\n", 3, "10.0.0.1/8" },
	{ "1.2.3.4/33", 1, "1.2.3.4/33" },
	{ "1.2.3.4 5.6.7.8\n", 1, "1.2.3.4 5.6.7.8" },
	{ "::1\n\n\n1.2.3.4/\n", 4, "1.2.3.4/" },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc/128\n", 1,
	    "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc/128" },
};

START_TEST(test_cidr_list_bad)
{
	const char *text = cidr_list_bad[_i].text;
	struct cidr_list_error err;
	struct cidr *list = NULL;
	size_t n = 99;

	ck_assert_int_eq(cidr_list_parse(text, strlen(text), &list, &n, &err), CT_ERROR);
	ck_assert_uint_eq(err.line, cidr_list_bad[_i].line);
	ck_assert_uint_eq(err.len, strlen(cidr_list_bad[_i].bad));
	ck_assert_mem_eq(text + err.off, cidr_list_bad[_i].bad, err.len);
	ck_assert_ptr_nonnull(err.why);
	ck_assert_ptr_null(list);
	ck_assert_uint_eq(n, 99);
}
END_TEST

/* A NUL inside a line is refused, not read as the line's end. */
START_TEST(test_cidr_list_nul)
{
	static const char text[] = "10.0.0.0/8\n1.2.3.4\0/8\n";
	struct cidr_list_error err;
	struct cidr *list = NULL;
	size_t n = 0;

	ck_assert_int_eq(cidr_list_parse(text, sizeof(text) - 1, &list, &n, &err), CT_ERROR);
	ck_assert_uint_eq(err.line, 2);
	ck_assert_str_eq(err.why, "NUL byte");
}
END_TEST

Suite *
suite_addr(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("addr");
	TCase *tcc = tcase_create("cidr");

	tcase_add_loop_test(tc, test_addr_parse_good, 0, CT_NELEM(addr_good));
	tcase_add_loop_test(tc, test_addr_parse_bad, 0, CT_NELEM(addr_bad));
	tcase_add_test(tc, test_addr_parse_port);
	tcase_add_test(tc, test_addr_equal);
	tcase_add_test(tc, test_addr_other_form);
	tcase_add_test(tc, test_addr_format_small);
	tcase_add_test(tc, test_addr_ip_format);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(tcc, test_cidr_parse_good, 0, CT_NELEM(cidr_good));
	tcase_add_loop_test(tcc, test_cidr_parse_bad, 0, CT_NELEM(cidr_bad));
	tcase_add_test(tcc, test_cidr_match_v4);
	tcase_add_test(tcc, test_cidr_match_v6);
	tcase_add_test(tcc, test_cidr_match_mapped);
	tcase_add_test(tcc, test_cidr_match_cross_family);
	tcase_add_test(tcc, test_cidr_list_good);
	tcase_add_loop_test(tcc, test_cidr_list_bad, 0, CT_NELEM(cidr_list_bad));
	tcase_add_test(tcc, test_cidr_list_nul);
	tcase_add_test(tcc, test_addr_class);
	tcase_add_test(tcc, test_cidr_is_internal);
	suite_add_tcase(s, tcc);
	return s;
}

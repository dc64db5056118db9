/* Socket addresses from text, for the unit suites. */
#ifndef CT_T_SOCKADDR_H
#define CT_T_SOCKADDR_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

static inline struct sockaddr_in
sa_v4(const char *ip, unsigned port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static inline struct sockaddr_in6
sa_v6(const char *ip, unsigned port)
{
	struct sockaddr_in6 a;

	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_port = htons((uint16_t)port);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	return a;
}

#endif

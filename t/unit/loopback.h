/* Loopback sockets for the unit suites. */
#ifndef CT_T_LOOPBACK_H
#define CT_T_LOOPBACK_H

#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/*
 * A listening socket on 127.0.0.1 with no options set, on a port the
 * kernel picks; *a gets its address.
 */
static inline int
loopback_listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ne(l, -1);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)a, sizeof(*a)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)a, &len), 0);
	return l;
}

#endif

/* One suite_<module>() per module under test, gathered by check_main.c. */
#ifndef CT_T_SUITES_H
#define CT_T_SUITES_H

#include <check.h>

#define CT_SUITES \
	X(units) \
	X(addr) \
	X(conf) \
	X(ev) \
	X(shm) \
	X(lb) \
	X(acl) \
	X(http) \
	X(stream) \
	X(sockets) \
	X(proc) \
	X(tls_hello) \
	X(conf_sni) \
	X(conf_tls_upstream) \
	X(limit) \
	X(auth) \
	X(rules) \
	X(conf_bandwidth) \
	X(socks) \
	X(conf_udp) \
	X(udp_table) \
	X(resolve) \
	X(dest) \
	X(socks_assoc) \
	X(forward) \
	X(approval) \
	X(conf_approval) \
	X(conf_cache) \
	X(approval_state) \
	X(ws) \
	X(events) \
	X(lockout) \
	X(http_cache) \
	X(conf_redis) \
	X(climit) \
	X(cache_store) \
	X(cluster) \
	X(health_msg)

#define X(name) Suite *suite_##name(void);
CT_SUITES
#undef X

#endif

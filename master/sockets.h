/*
 * The master's listening sockets, kept across reloads and upgrades.
 *
 * A listener address owns one SO_REUSEPORT group: socket i is worker
 * slot i's.  Closing a socket of a group resets whatever waits in its
 * accept queue, so a group never shrinks while its address is in use:
 * when the worker count drops, the surplus sockets are parked.  A
 * classic BPF program on the group steers new connections to sockets
 * 0..workers-1 only (indices in a group follow the order sockets joined
 * it, which is slot order because sockets are only ever appended), and
 * worker 0 also accepts on the parked ones, so a connection that reached
 * a parked queue before the steering changed is still served.
 *
 * A reload prepares (binds what is new, touching nothing that runs),
 * then commits (steers, closes the groups of removed addresses) or rolls
 * back (closes only what prepare bound).
 *
 * A group is an address and a socket type: a udp listener's SOCK_DGRAM
 * group may share its port with a stream listener's.  A datagram group
 * is not steered: a program that picks a socket at random would scatter
 * one client's datagrams over the workers, each of which would open a
 * session of its own, while the kernel's own choice, a hash of the
 * 4-tuple over every socket of the group, keeps a client on one socket;
 * worker 0 reads the parked ones.
 */
#ifndef CT_MASTER_SOCKETS_H
#define CT_MASTER_SOCKETS_H

#include "conf/conf.h"
#include "core/cycle.h"
#include "lib/addr.h"

struct lsock {
	struct addr addr;
	int type;                   /* SOCK_STREAM or SOCK_DGRAM */
	int fds[CONF_WORKERS_MAX];
	unsigned nfds;              /* sockets in the group: max workers since bound */
	unsigned prepared_from;     /* nfds before prepare; rollback closes the rest */
	int wanted;                 /* used by the configuration being prepared */
};

struct lsocks {
	struct lsock *v;
	size_t n;
	size_t cap;
	size_t committed;           /* groups that existed before prepare */
	char err[256];              /* why the last prepare failed, one line */
};

/*
 * Adopts the sockets a previous master passed in the environment
 * (binary upgrade).  Returns CT_ERROR with a logged reason on a
 * malformed value or an fd that is neither a listening TCP socket nor
 * a bound UDP one.
 */
int lsocks_adopt(struct lsocks *set, const char *env);
/* "fd,fd;fd,fd": the value for lsocks_adopt() in the next binary. */
char *lsocks_export(const struct lsocks *set);
/* Clears FD_CLOEXEC on every socket, in the child that will exec. */
void lsocks_inherit(const struct lsocks *set);

/*
 * Binds what conf needs and the set does not hold yet.  An address new
 * to the set is first checked for another process listening on it.
 * Returns CT_ERROR, logged and described in set->err.
 */
int lsocks_prepare(struct lsocks *set, const struct conf *conf);
void lsocks_commit(struct lsocks *set, const struct conf *conf);
void lsocks_rollback(struct lsocks *set);
void lsocks_close_all(struct lsocks *set);

/* The group of address a and socket type (SOCK_STREAM, SOCK_DGRAM), or NULL. */
const struct lsock *lsocks_find(const struct lsocks *set, const struct addr *a, int type);

/*
 * Gives every listener of cy the sockets prepared for its address.
 * Returns CT_ERROR, logged, when one has none.
 */
int lsocks_assign(const struct lsocks *set, struct cycle *cy);

#endif

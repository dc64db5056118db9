/*
 * Inside the master's health checks: what health.c (the checks) and
 * health_lease.c (one prober per upstream per cluster) share.  Nothing
 * outside these two files includes it.
 */
#ifndef CT_MASTER_HEALTH_INT_H
#define CT_MASTER_HEALTH_INT_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "conf/redis.h"
#include "core/cycle.h"
#include "lib/ev.h"
#include "shm/backend.h"

enum health_state {
	HC_IDLE,         /* waiting for the next check */
	HC_CONNECT,      /* connect() in progress */
	HC_TLS,          /* the TLS handshake (an upstream with tls) */
	HC_SEND,         /* writing the request */
	HC_RECV          /* reading the response */
};

struct health;
struct health_up;

struct hc {
	struct health *owner;
	struct health_up *hu;
	const struct conf_upstream *u;
	const struct conf_server *s;
	struct shm_backend *b;
	int backend;             /* b's slot, for events */
	enum health_state state;
	int fd;
	SSL *ssl;                /* over TLS; else NULL */
	struct ev_io io;
	struct ev_timer timer;
	uint64_t started;        /* monotonic ms of the check in progress */
	unsigned ok_run;         /* successes in a row */
	unsigned fail_run;       /* failures in a row */
	int up;                  /* as the checks see it */
	int broken;              /* could not be set up: never checked */
	uint64_t heard;          /* with a peer probing: loop clock of its last result adopted */
	char *req;               /* the http request, built once */
	size_t req_len;
	size_t sent;
	char *buf;               /* the response; allocated while receiving */
	size_t len;
};

/*
 * An upstream with active checks, as the cluster sees it: probe says
 * whether this node checks its servers (every_node, fallback, self) or
 * adopts what another node publishes (peer).
 */
struct health_up {
	struct health *owner;
	const struct conf_upstream *u;
	struct shm_upstream *su;     /* where the status reads probe and prober */
	struct hc *v;                /* its servers, in the owner's v */
	size_t n;
	enum shm_probe probe;
	int pending;                 /* a lease command awaits its reply */
	uint64_t due;                /* loop clock: the next lease command */
	char peer[CONF_REDIS_NODE_MAX + 1];  /* the node that probes, with peer */
};

struct health {
	struct ev_loop *loop;
	struct shm *shm;
	struct hc *v;
	size_t n;
	struct health_up *ups;
	size_t nups;
	struct ev_timer passive;
	struct ev_timer lease;       /* the next lease command due */
	int any_passive;
	uint64_t seed;
};

/* health.c */
uint64_t health_rand(struct health *h);
/* Starts (on) or stops the checks of hu's servers; a start is due within delay_ms. */
void health_up_checks(struct health_up *hu, int on, uint64_t delay_ms);
/* The same for one server: is it checked, start (first check within delay_ms), stop. */
int hc_checking(const struct hc *c);
void hc_resume(struct hc *c, uint64_t delay_ms);
void hc_pause(struct hc *c);
/* A change of a server's health for the event ring; see health.c. */
void hc_event(const struct hc *c, unsigned flag, unsigned run, const char *why);

/* health_lease.c */
/* After the checks are set up: decides who probes each upstream. */
void health_lease_start(struct health *h);
void health_lease_stop(struct health *h);
/* A check of c is over and its state settled: the prober tells the cluster. */
void health_lease_result(struct hc *c);

#endif

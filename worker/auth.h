/*
 * What a worker keeps for password checks, whatever the protocol that
 * carries the credentials: a thread that runs crypt_r() away from the
 * event loop, a cache of what it verified, and a count of failures per
 * client address.  See worker/auth.c.
 */
#ifndef CT_WORKER_AUTH_H
#define CT_WORKER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "conf/auth.h"
#include "lib/http_basic.h"
#include "worker/conn.h"
#include "worker/worker-t.h"

#define AUTH_KEY_LEN  32            /* SHA-256 */
#define AUTH_PASS_MAX (HTTP_BASIC_BUF - 1)

/*
 * Called on the event loop when the check of job id ends: ok 1 when the
 * password matched.  c is the connection that asked, which may have
 * closed (and its slot been taken again) meanwhile: the callee must
 * find its request by id, not trust c's state.
 */
typedef void (*auth_done_cb)(struct conn *c, uint64_t id, int ok);

/*
 * Queues the check of pass (len bytes, no NUL) against hash, which must
 * stay valid for the worker's life (the configuration's).  key is the
 * credentials' cache key: a match goes into the cache before done is
 * called.  Returns CT_OK with *id, CT_AGAIN when the queue is full, or
 * CT_ERROR when the verifier cannot be started (logged).
 */
int auth_verify_start(struct worker *w, struct conn *c, const char *hash,
    const unsigned char key[AUTH_KEY_LEN], const char *pass, size_t len,
    auth_done_cb done, uint64_t *id);

/* The cache key of credentials: SHA-256 of p; CT_ERROR (logged) when the worker has none. */
int auth_key(struct worker *w, const void *p, size_t len, unsigned char key[AUTH_KEY_LEN]);

/* Was key verified before?  Counts as a use for eviction. */
int auth_cache_has(struct worker *w, const unsigned char key[AUTH_KEY_LEN]);

/* Has peer failed max times or more in the last minute?  max 0: no limit. */
int auth_throttled(struct worker *w, const union conn_addr *peer, unsigned max);
/* Counts one failure of peer. */
void auth_failed(struct worker *w, const union conn_addr *peer);

/*
 * A user name and password, whatever carried them (HTTP Basic, Proxy
 * Basic, SOCKS 5 RFC 1929), checked against a's file: CT_OK when the
 * cache knows them, CT_AGAIN when the check is queued (*id; done will
 * be called), CT_DECLINED for a user the file does not have, CT_ERROR
 * (*why) when no check can be made now (busy verifier, no memory).
 * Throttling and counting are the caller's.
 */
int auth_credentials_check(struct worker *w, struct conn *c, const struct conf_auth *a,
    const char *user, size_t ulen, const char *pass, size_t plen, auth_done_cb done,
    uint64_t *id, const char **why);

/* Stops the verifier and frees it all: the worker's exit. */
void auth_worker_stop(struct worker *w);

#endif

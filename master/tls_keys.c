/*
 * The session ticket keys that every worker encrypts and decrypts
 * tickets with (shm.h, struct shm_tls_keys): a ticket one worker issued
 * resumes on any other, and after a reload, which keeps the segment.
 * Every SHM_TLS_KEYS_ROTATE seconds a new key takes the first place and
 * the oldest is dropped, so that a stolen key opens a few hours of
 * sessions at most; the two before it still decrypt (and the client
 * gets a ticket under the new one).
 */
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "master/tls_keys.h"

static struct ev_timer tls_keys_timer;
static unsigned char tls_keys[SHM_TLS_KEYS][SHM_TLS_KEY_LEN];

static void
tls_keys_rotate(struct ev_loop *loop, struct ev_timer *t)
{
	struct shm *shm = t->data;
	struct shm_tls_keys *k = &shm_header(shm)->tls_keys;
	struct timespec ts;

	memmove(tls_keys[1], tls_keys[0], (SHM_TLS_KEYS - 1) * sizeof(tls_keys[0]));
	if (RAND_bytes(tls_keys[0], sizeof(tls_keys[0])) != 1) {
		/* The keys in use stay; the next period tries again. */
		log_warnx("cannot make a new TLS ticket key: no randomness");
		memmove(tls_keys[0], tls_keys[1], (SHM_TLS_KEYS - 1) * sizeof(tls_keys[0]));
	} else {
		shm_tls_keys_write(k, &tls_keys[0][0]);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		atomic_store(&k->rotated, (uint_fast64_t)ts.tv_sec);
	}
	if (ev_timer_start(loop, t, (uint64_t)SHM_TLS_KEYS_ROTATE * 1000) != CT_OK)
		log_warnx("cannot arm the TLS ticket key rotation");
}

int
tls_keys_start(struct ev_loop *loop, struct shm *shm)
{
	size_t i;

	for (i = 0; i < SHM_TLS_KEYS; i++)
		if (RAND_bytes(tls_keys[i], sizeof(tls_keys[i])) != 1)
			return CT_ERROR;
	/* The rotation makes one more; the first period starts with three fresh keys. */
	ev_timer_init(&tls_keys_timer, tls_keys_rotate, shm);
	tls_keys_rotate(loop, &tls_keys_timer);
	return CT_OK;
}

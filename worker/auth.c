/*
 * Password checks in a worker (worker/auth.h).
 *
 * A bcrypt check at cost 10 takes tens of milliseconds of CPU, yescrypt
 * and high costs more: run on the event loop, one check would stall
 * every other client of the worker.  So each worker has one verifier
 * thread, started at the first check, fed through a small ring:
 *
 *   event loop                          verifier thread
 *   auth_verify_start: job at tail ---> takes the job at next
 *   (request parked)                    crypt_r(), outside the lock
 *                                       marks it finished
 *   auth_answer <-- eventfd ----------- writes the eventfd
 *   finished jobs from head: cache, done()
 *
 * The loop only writes a slot it owns (tail, never reached by the
 * thread) and the thread only the job it took, so the lock covers the
 * indexes and the finished flags, never a crypt_r().  A full ring is
 * refused (503 upstream of here) rather than waited on.
 *
 * The cache maps SHA-256(credentials and the htpasswd file's version)
 * to "verified", so that a keep-alive client's later requests cost a
 * hash, not a bcrypt; only matches enter it.  The failure table counts
 * failures per client address in a one-minute window, so that guessing
 * is slow even with the cache's help for good credentials.  Both are
 * fixed-size, set-associative tables: a flood of new keys evicts, it
 * never allocates.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "worker/auth.h"

#define AUTH_QUEUE      64          /* checks queued or running */
#define AUTH_CACHE_SETS 256         /* indexed by a key byte: keys are digests */
#define AUTH_CACHE_WAYS 4
#define AUTH_FAIL_SETS  256
#define AUTH_FAIL_WAYS  4
#define AUTH_WINDOW_MS  (UINT64_C(60) * 1000)
#define AUTH_SAY_MS     (UINT64_C(60) * 1000)   /* "queue full" at most this often */

struct auth_job {
	uint64_t id;
	struct conn *c;
	auth_done_cb done;
	const char *hash;
	unsigned char key[AUTH_KEY_LEN];
	char pass[AUTH_PASS_MAX + 1];
	int ok;
	int finished;               /* under the lock */
};

/* What the loop takes of a finished job, the password left behind. */
struct auth_result {
	uint64_t id;
	struct conn *c;
	auth_done_cb done;
	unsigned char key[AUTH_KEY_LEN];
	int ok;
};

struct auth_cached {
	unsigned char key[AUTH_KEY_LEN];
	uint64_t used;              /* 0: empty; else the tick of the last use */
};

struct auth_fails {
	uint8_t family;             /* 0: empty */
	uint8_t addr[16];
	unsigned count;
	uint64_t since;             /* start of the window, loop clock */
};

struct auth_worker {
	struct worker *w;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;                   /* under the lock */
	uint64_t head;              /* oldest job not yet answered (loop) */
	uint64_t next;              /* next job the thread takes (under the lock) */
	uint64_t tail;              /* next free slot (loop; read under the lock) */
	struct auth_job jobs[AUTH_QUEUE];
	int efd;
	struct ev_io io;
	uint64_t ids;
	uint64_t full_said;
	uint64_t tick;
	uint32_t seed;              /* of the failure table's hash: addresses are chosen by clients */
	/*
	 * SHA-256 fetched once: SHA256() looks the algorithm up on every
	 * call, which costs twice the digest of a credential.
	 */
	EVP_MD *sha256;
	EVP_MD_CTX *md;
	struct auth_cached cache[AUTH_CACHE_SETS][AUTH_CACHE_WAYS];
	struct auth_fails fails[AUTH_FAIL_SETS][AUTH_FAIL_WAYS];
};

/* ------------------------------------------------------- the thread */

static int
auth_check(struct crypt_data *cd, const char *pass, const char *hash)
{
	size_t n = strlen(hash);
	const char *out;

	cd->initialized = 0;
	out = crypt_r(pass, hash, cd);
	/* A failure is "*..." or NULL; the compare takes the same time for any mismatch. */
	return out != NULL && out[0] != '*' && strlen(out) == n && CRYPTO_memcmp(out, hash, n) == 0;
}

static void *
auth_thread(void *arg)
{
	struct auth_worker *a = arg;
	struct crypt_data *cd;
	struct auth_job *j;
	uint64_t one = 1;
	int ok;

	/* About 32 KB: not on the thread's stack, and once, not per check. */
	cd = calloc(1, sizeof(*cd));
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->quit && a->next == a->tail)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->quit)
			break;
		j = &a->jobs[a->next++ % AUTH_QUEUE];
		pthread_mutex_unlock(&a->mu);
		ok = cd != NULL && auth_check(cd, j->pass, j->hash);
		explicit_bzero(j->pass, sizeof(j->pass));
		pthread_mutex_lock(&a->mu);
		j->ok = ok;
		j->finished = 1;
		pthread_mutex_unlock(&a->mu);
		/* Cannot fail but for a counter at its maximum, which no loop reaches. */
		(void)!write(a->efd, &one, sizeof(one));
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	if (cd != NULL)
		explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return NULL;
}

/* ------------------------------------------------------- the cache */

static void
auth_cache_add(struct auth_worker *a, const unsigned char key[AUTH_KEY_LEN])
{
	struct auth_cached *set = a->cache[key[0]], *victim = &set[0];
	size_t i;

	for (i = 0; i < AUTH_CACHE_WAYS; i++) {
		if (set[i].used != 0 && memcmp(set[i].key, key, AUTH_KEY_LEN) == 0) {
			victim = &set[i];
			break;
		}
		if (set[i].used < victim->used)
			victim = &set[i];
	}
	memcpy(victim->key, key, AUTH_KEY_LEN);
	victim->used = ++a->tick;
}

int
auth_cache_has(struct worker *w, const unsigned char key[AUTH_KEY_LEN])
{
	struct auth_worker *a = w->auth;
	struct auth_cached *set;
	size_t i;

	if (a == NULL)
		return 0;
	set = a->cache[key[0]];
	for (i = 0; i < AUTH_CACHE_WAYS; i++)
		if (set[i].used != 0 && CRYPTO_memcmp(set[i].key, key, AUTH_KEY_LEN) == 0) {
			set[i].used = ++a->tick;
			return 1;
		}
	return 0;
}

static struct auth_worker *auth_worker_get(struct worker *w);

int
auth_key(struct worker *w, const void *p, size_t len, unsigned char key[AUTH_KEY_LEN])
{
	struct auth_worker *a = auth_worker_get(w);
	unsigned n;

	if (a == NULL || EVP_DigestInit_ex(a->md, a->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(a->md, p, len) != 1 || EVP_DigestFinal_ex(a->md, key, &n) != 1)
		return CT_ERROR;
	return CT_OK;
}

/* ------------------------------------------------ failures per client */

static void
auth_peer_key(const union conn_addr *peer, uint8_t *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	*family = (uint8_t)peer->sa.sa_family;
	if (peer->sa.sa_family == AF_INET6)
		memcpy(addr, &peer->in6.sin6_addr, 16);
	else
		memcpy(addr, &peer->in.sin_addr, 4);
}

/* The entry of peer, or NULL; with create, a new one in place of the stalest. */
static struct auth_fails *
auth_fails_find(struct auth_worker *a, const union conn_addr *peer, int create)
{
	uint8_t family, addr[16];
	struct auth_fails *set, *victim;
	uint32_t h = a->seed;
	size_t i;

	auth_peer_key(peer, &family, addr);
	/* FNV-1a, seeded per worker. */
	for (i = 0; i < sizeof(addr); i++)
		h = (h ^ addr[i]) * 16777619u;
	set = a->fails[h % AUTH_FAIL_SETS];
	victim = &set[0];
	for (i = 0; i < AUTH_FAIL_WAYS; i++) {
		if (set[i].family == family && memcmp(set[i].addr, addr, 16) == 0)
			return &set[i];
		if (set[i].family == 0 || (victim->family != 0 && set[i].since < victim->since))
			victim = &set[i];
	}
	if (!create)
		return NULL;
	victim->family = family;
	memcpy(victim->addr, addr, 16);
	victim->count = 0;
	victim->since = 0;
	return victim;
}

int
auth_throttled(struct worker *w, const union conn_addr *peer, unsigned max)
{
	const struct auth_fails *f;
	uint64_t now = ev_now(w->loop);

	if (max == 0 || w->auth == NULL || (f = auth_fails_find(w->auth, peer, 0)) == NULL)
		return 0;
	return now - f->since < AUTH_WINDOW_MS && f->count >= max;
}

void
auth_failed(struct worker *w, const union conn_addr *peer)
{
	struct auth_fails *f;
	uint64_t now = ev_now(w->loop);

	if (auth_worker_get(w) == NULL || (f = auth_fails_find(w->auth, peer, 1)) == NULL)
		return;
	if (f->count == 0 || now - f->since >= AUTH_WINDOW_MS) {
		f->since = now;
		f->count = 0;
	}
	f->count++;
}

/* --------------------------------------------------- the event loop */

/* The eventfd: finished jobs, oldest first, answered outside the lock. */
static void
auth_answer(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct auth_worker *a = io->data;
	struct auth_result done[AUTH_QUEUE];
	struct auth_job *j;
	uint64_t count;
	size_t n = 0, i;

	(void)loop;
	(void)events;
	while (read(a->efd, &count, sizeof(count)) == -1 && errno == EINTR)
		;
	pthread_mutex_lock(&a->mu);
	while (a->head < a->tail && (j = &a->jobs[a->head % AUTH_QUEUE])->finished) {
		done[n].id = j->id;
		done[n].c = j->c;
		done[n].done = j->done;
		done[n].ok = j->ok;
		memcpy(done[n].key, j->key, AUTH_KEY_LEN);
		n++;
		j->finished = 0;
		a->head++;
	}
	pthread_mutex_unlock(&a->mu);
	for (i = 0; i < n; i++) {
		if (done[i].ok)
			auth_cache_add(a, done[i].key);
		done[i].done(done[i].c, done[i].id, done[i].ok);
	}
}

static void
auth_digest_free(struct auth_worker *a)
{
	EVP_MD_CTX_free(a->md);
	EVP_MD_free(a->sha256);
}

/* The worker's verifier, started at the first use; NULL (logged) if it cannot be. */
static struct auth_worker *
auth_worker_get(struct worker *w)
{
	struct auth_worker *a = w->auth;
	sigset_t all, old;
	int rc;

	if (a != NULL)
		return a;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		log_warnx("auth: out of memory for the verifier");
		return NULL;
	}
	a->w = w;
	if (RAND_bytes((unsigned char *)&a->seed, sizeof(a->seed)) != 1)
		a->seed = (uint32_t)ev_clock_ms() * 2654435761u;
	if ((a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (a->md = EVP_MD_CTX_new()) == NULL) {
		log_warnx("auth: no SHA-256 from OpenSSL");
		auth_digest_free(a);
		free(a);
		return NULL;
	}
	if ((a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("auth: eventfd");
		auth_digest_free(a);
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	ev_io_init(&a->io, a->efd, auth_answer, a);
	/* Signals stay the loop's: the thread is born with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&a->thread, NULL, auth_thread, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0 || ev_io_set(w->loop, &a->io, EPOLLIN) != CT_OK) {
		if (rc == 0) {
			a->quit = 1;
			pthread_cond_signal(&a->cv);
			pthread_join(a->thread, NULL);
		}
		errno = rc != 0 ? rc : errno;
		log_warn("auth: cannot start the verifier");
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		close(a->efd);
		auth_digest_free(a);
		free(a);
		return NULL;
	}
	w->auth = a;
	return a;
}

int
auth_verify_start(struct worker *w, struct conn *c, const char *hash,
    const unsigned char key[AUTH_KEY_LEN], const char *pass, size_t len,
    auth_done_cb done, uint64_t *id)
{
	struct auth_worker *a;
	struct auth_job *j;

	if (len > AUTH_PASS_MAX || (a = auth_worker_get(w)) == NULL)
		return CT_ERROR;
	if (a->tail - a->head == AUTH_QUEUE) {
		if (a->full_said == 0 || ev_now(w->loop) - a->full_said >= AUTH_SAY_MS) {
			log_warnx("auth: %d password checks are waiting: refusing more with 503",
			    AUTH_QUEUE);
			a->full_said = ev_now(w->loop);
		}
		return CT_AGAIN;
	}
	j = &a->jobs[a->tail % AUTH_QUEUE];
	j->id = *id = ++a->ids;
	j->c = c;
	j->done = done;
	j->hash = hash;
	j->ok = 0;
	memcpy(j->key, key, AUTH_KEY_LEN);
	memcpy(j->pass, pass, len);
	j->pass[len] = '\0';
	pthread_mutex_lock(&a->mu);
	a->tail++;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return CT_OK;
}

void
auth_worker_stop(struct worker *w)
{
	struct auth_worker *a = w->auth;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->quit = 1;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	/* At most one check to finish: the thread looks at quit before each. */
	pthread_join(a->thread, NULL);
	ev_io_stop(w->loop, &a->io);
	close(a->efd);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	explicit_bzero(a->jobs, sizeof(a->jobs));
	auth_digest_free(a);
	free(a);
	w->auth = NULL;
}

int
auth_credentials_check(struct worker *w, struct conn *c, const struct conf_auth *a,
    const char *user, size_t ulen, const char *pass, size_t plen, auth_done_cb done,
    uint64_t *id, const char **why)
{
	/* The file's version first: a cache entry answers only for the file it was made with. */
	char buf[sizeof(a->version) + 2 * AUTH_PASS_MAX + 2];
	const struct conf_auth_user *u;
	unsigned char key[AUTH_KEY_LEN];
	size_t used;
	int rc;

	if ((u = conf_auth_user_find(a, user, ulen)) == NULL)
		return CT_DECLINED;
	if (ulen > AUTH_PASS_MAX || plen > AUTH_PASS_MAX) {
		*why = "credentials too long";
		return CT_DECLINED;
	}
	memcpy(buf, a->version, sizeof(a->version));
	memcpy(buf + sizeof(a->version), user, ulen);
	buf[sizeof(a->version) + ulen] = ':';
	memcpy(buf + sizeof(a->version) + ulen + 1, pass, plen);
	used = sizeof(a->version) + ulen + 1 + plen;
	rc = auth_key(w, buf, used, key);
	explicit_bzero(buf, used);
	if (rc != CT_OK) {
		*why = "cannot check passwords";
		return CT_ERROR;
	}
	if (auth_cache_has(w, key))
		return CT_OK;
	rc = auth_verify_start(w, c, u->hash, key, pass, plen, done, id);
	if (rc == CT_OK)
		return CT_AGAIN;
	*why = rc == CT_AGAIN ? "too many password checks waiting" : "cannot check passwords";
	return CT_ERROR;
}

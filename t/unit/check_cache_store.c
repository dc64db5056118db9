/*
 * The cache's object store (shm/cache.h): zones and their reload, keys
 * and variants, fills that stay invisible until committed, readers that
 * keep what they hold, collapsed waiters, LRU eviction, purges, and
 * processes that die in the middle of a store, while holding
 * references, or inside the zone's lock.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/cache.h"
#include "lib/ct.h"
#include "shm/cache.h"
#include "t/unit/suites.h"

#define ZONE_SIZE   (512 * 1024)
#define ZONE_CHUNK  1024
#define MAX_OBJECT  (64 * 1024)
#define HOLDS       40          /* distinct objects a process holds at once */

static struct shm shm;
static int zone;
static struct shm_cache_user user;

static void
cache_setup(void)
{
	memset(&shm, 0, sizeof(shm));
	shm.fd = -1;
	ck_assert_int_eq(shm_create(&shm, 16 * 1024 * 1024), CT_OK);
	zone = shm_cache_zone_acquire(&shm, "test", ZONE_SIZE, ZONE_CHUNK, MAX_OBJECT, HOLDS);
	ck_assert_int_ge(zone, 0);
	ck_assert_int_eq(shm_cache_attach(&shm, zone, getpid(), NULL, &user), CT_OK);
}

static void
cache_teardown(void)
{
	shm_destroy(&shm);
}

static void
zone_ok(void)
{
	char why[160];

	if (shm_cache_zone_check(&shm, zone, why, sizeof(why)) != CT_OK)
		ck_abort_msg("zone inconsistent: %s", why);
}

static struct shm_cache_counters
counters(void)
{
	struct shm_cache_counters c;

	shm_cache_counters_get(&shm, zone, &c);
	return c;
}

static struct shm_cache_key
key_of(struct shm_cache_user *u, const char *primary, const char *vary)
{
	struct shm_cache_key k;

	ck_assert_int_eq(shm_cache_key_init(u, &k, primary, strlen(primary), vary,
	    vary != NULL ? strlen(vary) : 0), CT_OK);
	return k;
}

/* Body byte i of an object of version v: each object can be told from any other. */
static unsigned char
body_byte(unsigned v, size_t i)
{
	return (unsigned char)(v * 31 + i * 7 + i / 251);
}

/* Stores key with a head naming v and n body bytes, appended in pieces of piece. */
static int
store_as(struct shm_cache_user *u, const char *primary, const char *vary, unsigned v, size_t n,
    size_t piece)
{
	struct shm_cache_key k = key_of(u, primary, vary);
	unsigned char buf[4096];
	struct shm_cache_ref w;
	char head[64];
	size_t i, at, m;
	int rc;

	if ((rc = shm_cache_store_begin(u, &k, NULL, 0, 0, &w)) != CT_OK)
		return rc;
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nv: %u\r\nlen: %zu\r\n\r\n", v, n);
	if ((rc = shm_cache_store_head(&w, head, strlen(head))) != CT_OK)
		return rc;
	for (at = 0; at < n; at += m) {
		m = CT_MIN(CT_MIN(piece, n - at), sizeof(buf));
		for (i = 0; i < m; i++)
			buf[i] = body_byte(v, at + i);
		if ((rc = shm_cache_store_append(&w, buf, m)) != CT_OK)
			return rc;
	}
	return shm_cache_store_commit(&w, NULL, 0, 1);
}

static int
store(const char *primary, const char *vary, unsigned v, size_t n)
{
	return store_as(&user, primary, vary, v, n, 1000);
}

/* Copies what r has from position 0 into out, through iovecs of a few entries. */
static size_t
read_all(struct shm_cache_ref *r, unsigned char *out, size_t max)
{
	struct iovec iov[3];
	size_t got = 0, n, i;

	while ((n = shm_cache_iov(r, got, iov, CT_NELEM(iov))) > 0)
		for (i = 0; i < n; i++) {
			ck_assert_uint_le(got + iov[i].iov_len, max);
			memcpy(out + got, iov[i].iov_base, iov[i].iov_len);
			got += iov[i].iov_len;
		}
	return got;
}

/* Is what r holds the object of version v, head and n bytes of body, whole? */
static int
object_is(struct shm_cache_ref *r, unsigned v, size_t n)
{
	static unsigned char out[MAX_OBJECT + 256];
	char head[64];
	size_t hl, got, i;

	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nv: %u\r\nlen: %zu\r\n\r\n", v, n);
	hl = strlen(head);
	got = read_all(r, out, sizeof(out));
	if (got != hl + n || memcmp(out, head, hl) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (out[hl + i] != body_byte(v, i))
			return 0;
	return 1;
}

static enum shm_cache_found
lookup(const char *primary, const char *vary, struct shm_cache_ref *r)
{
	struct shm_cache_key k = key_of(&user, primary, vary);

	return shm_cache_lookup(&user, &k, 1, r);
}

/* A lookup of the key hits the object of version v with n bytes of body, whole. */
static void
hit_is(const char *primary, const char *vary, unsigned v, size_t n)
{
	struct shm_cache_ref r;

	ck_assert_int_eq(lookup(primary, vary, &r), SHM_CACHE_HIT);
	ck_assert(object_is(&r, v, n));
	shm_cache_release(&r);
}

static pid_t
child_start(void)
{
	pid_t pid = fork();

	ck_assert_int_ne(pid, -1);
	return pid;
}

static void
child_wait_killed(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Appends n bytes of body to the fill w in pieces of a chunk; the first return not CT_OK, or CT_OK. */
static int
append_n(struct shm_cache_ref *w, size_t n)
{
	static unsigned char b[ZONE_CHUNK];
	size_t at, m;
	int rc;

	for (at = 0; at < n; at += m) {
		m = CT_MIN(sizeof(b), n - at);
		if ((rc = shm_cache_store_append(w, b, m)) != CT_OK)
			return rc;
	}
	return CT_OK;
}

/* A process that dies holding the zone's lock, having changed nothing. */
static void
die_in_the_lock(void)
{
	pid_t pid = child_start();

	if (pid == 0) {
		pthread_mutex_lock(&shm_cache_zone_get(&shm, zone)->lock);
		raise(SIGKILL);
		_exit(2);
	}
	child_wait_killed(pid);
}

/* ---------------------------------------------------------- zones */

START_TEST(zone_kept_across_reload)
{
	struct shm_usage before, after;
	struct shm_cache_ref r;
	int again, other;

	ck_assert_int_eq(store("/a", NULL, 1, 100), CT_OK);
	/* the same name and size: the same zone, objects and all */
	again = shm_cache_zone_acquire(&shm, "test", ZONE_SIZE, ZONE_CHUNK, MAX_OBJECT + 1000, HOLDS);
	ck_assert_int_eq(again, zone);
	hit_is("/a", NULL, 1, 100);
	ck_assert_uint_eq(atomic_load(&shm_cache_zone_get(&shm, zone)->max_object),
	    MAX_OBJECT + 1000);
	/* another size: a new, empty zone; the old one stays for its holders */
	shm_usage_get(&shm, &before);
	other = shm_cache_zone_acquire(&shm, "test", 2 * ZONE_SIZE, ZONE_CHUNK, MAX_OBJECT, HOLDS);
	ck_assert_int_ge(other, 0);
	ck_assert_int_ne(other, zone);
	ck_assert_int_eq(shm_cache_zone_find(&shm, "test"), other);
	ck_assert_uint_eq(shm_cache_zone_get(&shm, other)->objects, 0);
	shm_usage_get(&shm, &after);
	ck_assert_uint_eq(after.used - before.used, 2 * ZONE_SIZE);
	/* the old generations go: the old zone's memory with them */
	shm_cache_zone_release(&shm, zone);
	ck_assert_int_eq(lookup("/a", NULL, &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	shm_cache_zone_release(&shm, zone);
	shm_usage_get(&shm, &after);
	ck_assert_uint_eq(after.used - before.used, ZONE_SIZE);
	ck_assert_uint_eq(atomic_load(&shm_cache_zone_get(&shm, zone)->off), 0);
	/* nonsense refused */
	ck_assert_int_eq(shm_cache_zone_acquire(&shm, "x", ZONE_SIZE, 1000, MAX_OBJECT, HOLDS), -1);
	ck_assert_int_eq(shm_cache_zone_acquire(&shm, "x", 4096, 0, MAX_OBJECT, HOLDS), -1);
	ck_assert_int_eq(shm_cache_zone_acquire(&shm, "x", 1ull << 40, 0, MAX_OBJECT, HOLDS), -1);
}
END_TEST

/*
 * A zone is found by name only once it is built: a slot taken by a
 * master that has not finished making it (here: taken and left so) is
 * passed over, and nothing attaches to it.
 */
START_TEST(zone_found_once_built)
{
	struct shm_cache_user u;
	int half;

	half = shm_named_acquire(&shm, SHM_TABLE_CACHE_ZONES, "test/999424/1024");
	ck_assert_int_ge(half, 0);
	ck_assert_int_ne(half, zone);
	ck_assert_int_eq(shm_cache_zone_find(&shm, "test"), zone);
	ck_assert_int_eq(shm_cache_attach(&shm, half, getpid(), NULL, &u), CT_ERROR);
	ck_assert_uint_eq(shm_cache_purge_all(&shm, half), 0);
	shm_named_release(&shm, SHM_TABLE_CACHE_ZONES, half);
}
END_TEST

/* ---------------------------------------------------------- stores */

START_TEST(store_then_hit)
{
	struct shm_cache_counters c;
	struct shm_cache_ref r;

	ck_assert_int_eq(lookup("/a", NULL, &r), SHM_CACHE_MISS);
	ck_assert_int_eq(store("/a", NULL, 1, 5000), CT_OK);
	ck_assert_int_eq(lookup("/a", NULL, &r), SHM_CACHE_HIT);
	ck_assert(object_is(&r, 1, 5000));
	/* read again from the middle, behind the cursor of the first read */
	{
		struct iovec iov[1];

		ck_assert_uint_eq(shm_cache_iov(&r, 60, iov, 1), 1);
		ck_assert_uint_gt(iov[0].iov_len, 0);
	}
	shm_cache_release(&r);
	shm_cache_release(&r);              /* twice: nothing more */
	c = counters();
	ck_assert_uint_eq(c.objects, 1);
	ck_assert_uint_eq(c.stores, 1);
	ck_assert_uint_eq(c.hits, 1);
	ck_assert_uint_eq(c.misses, 1);
	/* key (2 bytes) and head in one chunk, 5000 bytes of body in five */
	ck_assert_uint_eq(c.bytes, 6 * ZONE_CHUNK);
	zone_ok();
}
END_TEST

START_TEST(empty_body_and_head_at_commit)
{
	struct shm_cache_key k = key_of(&user, "/empty", NULL);
	struct shm_cache_ref w, r;
	struct iovec iov[4];

	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, "HTTP/1.1 204\r\n\r\n", 16, 1), CT_OK);
	ck_assert_int_eq(lookup("/empty", NULL, &r), SHM_CACHE_HIT);
	ck_assert_uint_eq(shm_cache_iov(&r, 0, iov, 4), 1);
	ck_assert_uint_eq(iov[0].iov_len, 16);
	ck_assert_uint_eq(shm_cache_iov(&r, 16, iov, 4), 0);
	shm_cache_release(&r);
	/* a spent writer does nothing */
	ck_assert_int_eq(shm_cache_store_append(&w, "x", 1), CT_ERROR);
	shm_cache_store_abort(&w);
	zone_ok();
}
END_TEST

/*
 * The hash only picks the chain: a key with another's hashes but other
 * bytes (what a collision would be) misses.
 */
START_TEST(keys_compared_in_full)
{
	struct shm_cache_key k = key_of(&user, "/a", NULL), fake = key_of(&user, "/b", NULL);
	struct shm_cache_ref r;

	ck_assert_int_eq(store("/a", NULL, 1, 10), CT_OK);
	fake.phash = k.phash;
	fake.vhash = k.vhash;
	ck_assert_int_eq(shm_cache_lookup(&user, &fake, 1, &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/a", "", &r), SHM_CACHE_HIT);      /* "" is no variant */
	shm_cache_release(&r);
	ck_assert_int_eq(lookup("/a/", NULL, &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/", NULL, &r), SHM_CACHE_MISS);
	/* too long refused before anything */
	{
		static char longkey[SHM_CACHE_KEY_MAX + 1];
		struct shm_cache_key x;

		memset(longkey, 'k', sizeof(longkey));
		ck_assert_int_eq(shm_cache_key_init(&user, &x, longkey, sizeof(longkey), NULL, 0),
		    CT_ERROR);
		ck_assert_int_eq(shm_cache_key_init(&user, &x, longkey, SHM_CACHE_KEY_MAX, NULL, 0),
		    CT_OK);
	}
}
END_TEST

/* A key of several chunks, and the hashes keyed per zone. */
START_TEST(long_keys_and_random_hash_keys)
{
	static char longkey[SHM_CACHE_KEY_MAX];
	struct shm_cache_key k1, k2;
	struct shm_cache_ref r;
	int other;
	struct shm_cache_user u2;

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	ck_assert_int_eq(store(longkey, "accept-encoding=gzip", 3, 10), CT_OK);
	hit_is(longkey, "accept-encoding=gzip", 3, 10);
	longkey[3000] = 'j';
	ck_assert_int_eq(lookup(longkey, "accept-encoding=gzip", &r), SHM_CACHE_MISS);
	other = shm_cache_zone_acquire(&shm, "other", ZONE_SIZE, 0, MAX_OBJECT, HOLDS);
	ck_assert_int_eq(shm_cache_attach(&shm, other, getpid(), NULL, &u2), CT_OK);
	k1 = key_of(&user, "/same", NULL);
	k2 = key_of(&u2, "/same", NULL);
	ck_assert_uint_ne(k1.phash, k2.phash);
	zone_ok();
}
END_TEST

START_TEST(variants_of_a_key)
{
	struct shm_cache_ref r;

	ck_assert_int_eq(store("/v", NULL, 1, 10), CT_OK);
	ck_assert_int_eq(store("/v", "gzip", 2, 20), CT_OK);
	ck_assert_int_eq(store("/v", "br", 3, 30), CT_OK);
	ck_assert_int_eq(store("/w", "gzip", 4, 40), CT_OK);
	hit_is("/v", "gzip", 2, 20);
	hit_is("/v", "br", 3, 30);
	ck_assert_int_eq(lookup("/v", "deflate", &r), SHM_CACHE_MISS);
	ck_assert_uint_eq(counters().objects, 4);
	/* all variants of /v, and nothing of /w */
	ck_assert_uint_eq(shm_cache_purge_key(&shm, zone, "/v", 2), 3);
	ck_assert_int_eq(lookup("/v", NULL, &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/v", "gzip", &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/w", "gzip", &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	ck_assert_uint_eq(counters().objects, 1);
	zone_ok();
}
END_TEST

/* Nothing half written is ever a hit; a second fill of the key is refused. */
START_TEST(filling_is_not_a_hit)
{
	struct shm_cache_key k = key_of(&user, "/f", NULL);
	struct shm_cache_ref w, w2, r;

	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, "abc", 3), CT_OK);
	ck_assert_int_eq(lookup("/f", NULL, &r), SHM_CACHE_COLLAPSE);
	shm_cache_release(&r);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w2), CT_AGAIN);
	ck_assert_uint_eq(counters().objects, 0);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H", 1, 1), CT_OK);
	ck_assert_int_eq(lookup("/f", NULL, &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	zone_ok();
	/* a filler's reference released is a fill given up, not one left behind */
	k = key_of(&user, "/g", NULL);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	shm_cache_release(&w);
	ck_assert_int_eq(lookup("/g", NULL, &r), SHM_CACHE_MISS);
	ck_assert_uint_eq(counters().aborts, 1);
	zone_ok();
}
END_TEST

/*
 * A refresh: the old object serves while the new one fills, readers of
 * the old one keep it whole past the commit, and its memory comes back
 * at their last release.
 */
START_TEST(refresh_replaces_at_commit)
{
	struct shm_cache_key k = key_of(&user, "/r", NULL);
	struct shm_cache_ref w, old;
	uint64_t bytes_one;

	ck_assert_int_eq(store("/r", NULL, 1, 3000), CT_OK);
	bytes_one = counters().bytes;
	ck_assert_int_eq(lookup("/r", NULL, &old), SHM_CACHE_HIT);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_head(&w, "HTTP/1.1 200 OK\r\nv: 2\r\nlen: 4000\r\n\r\n",
	    36), CT_OK);
	{
		unsigned char b[4000];
		size_t i;

		for (i = 0; i < sizeof(b); i++)
			b[i] = body_byte(2, i);
		ck_assert_int_eq(shm_cache_store_append(&w, b, sizeof(b)), CT_OK);
	}
	hit_is("/r", NULL, 1, 3000);
	ck_assert_int_eq(shm_cache_store_commit(&w, NULL, 0, 1), CT_OK);
	hit_is("/r", NULL, 2, 4000);
	ck_assert_uint_eq(counters().objects, 1);
	/* the old one is out of the index, still whole for its reader */
	ck_assert(object_is(&old, 1, 3000));
	zone_ok();
	shm_cache_release(&old);
	ck_assert_uint_eq(counters().bytes, bytes_one + ZONE_CHUNK);    /* 4000 > 3000 bytes */
	zone_ok();
}
END_TEST

START_TEST(max_object_enforced)
{
	struct shm_cache_key k = key_of(&user, "/big", NULL);
	static unsigned char b[MAX_OBJECT];
	struct shm_cache_ref w, r;
	uint64_t bytes = counters().bytes;

	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, MAX_OBJECT + 1, &w), CT_DECLINED);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, MAX_OBJECT, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_head(&w, "H", 1), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, MAX_OBJECT - 2), CT_OK);
	ck_assert_int_eq(lookup("/big", NULL, &r), SHM_CACHE_COLLAPSE);
	/* one byte more fits, two do not: the fill is aborted and freed */
	ck_assert_int_eq(shm_cache_store_append(&w, b, 2), CT_DECLINED);
	ck_assert_int_eq(shm_cache_store_append(&w, b, 1), CT_ERROR);
	ck_assert_int_eq(shm_cache_store_commit(&w, NULL, 0, 1), CT_ERROR);
	{
		struct shm_cache_progress p;

		shm_cache_progress(&r, &p);
		ck_assert_uint_eq(p.state, SHM_CACHE_ABORTED);
	}
	zone_ok();
	shm_cache_release(&r);
	ck_assert_uint_eq(counters().bytes, bytes);
	ck_assert_uint_eq(counters().aborts, 1);
	ck_assert_int_eq(lookup("/big", NULL, &r), SHM_CACHE_MISS);
	/* exactly max_object, head and body, is stored */
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, MAX_OBJECT - 1), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H", 1, 1), CT_OK);
	/* a head that makes it too big at commit */
	k = key_of(&user, "/big2", NULL);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, MAX_OBJECT), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H", 1, 1), CT_DECLINED);
	ck_assert_int_eq(lookup("/big2", NULL, &r), SHM_CACHE_MISS);
	zone_ok();
}
END_TEST

/* A length that would not fit in the zone is refused, whatever max_object says. */
START_TEST(append_bounded_by_the_zone)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	struct shm_cache_key k = key_of(&user, "/huge", NULL);
	struct shm_cache_ref w;
	char b[16] = "0123456789abcdef";

	atomic_store(&z->max_object, UINT64_MAX);     /* no cap to stop it first */
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, sizeof(b)), CT_OK);
	/* 2^32 chunks more, which a 32-bit count would read as none */
	ck_assert_int_eq(shm_cache_store_append(&w, b, ((size_t)ZONE_CHUNK << 32) - sizeof(b)),
	    CT_ERROR);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, sizeof(b)), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, SIZE_MAX - 32), CT_ERROR);
	ck_assert_uint_eq(counters().bytes, 0);
	zone_ok();
}
END_TEST

/* ---------------------------------------------------------- heads, info, Vary */

/* A head that would straddle a chunk starts the next one: one iovec. */
START_TEST(head_in_one_piece)
{
	static char key[ZONE_CHUNK - 10];
	struct shm_cache_key k;
	struct shm_cache_ref w, r;
	struct iovec iov[4];
	char head[100];

	memset(key, 'k', sizeof(key) - 1);
	memset(head, 'h', sizeof(head));
	k = key_of(&user, key, NULL);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, head, sizeof(head), 1), CT_OK);
	ck_assert_int_eq(shm_cache_lookup(&user, &k, 1, &r), SHM_CACHE_HIT);
	ck_assert_uint_eq(shm_cache_iov(&r, 0, iov, CT_NELEM(iov)), 1);
	ck_assert_uint_eq(iov[0].iov_len, sizeof(head));
	ck_assert(memcmp(iov[0].iov_base, head, sizeof(head)) == 0);
	shm_cache_release(&r);
	ck_assert_uint_eq(counters().bytes, 2 * ZONE_CHUNK);
	zone_ok();
}
END_TEST

/* The caller's info, changed in place and read back; bounded. */
START_TEST(info_set_and_read)
{
	unsigned char info[SHM_CACHE_INFO + 1], out[SHM_CACHE_INFO];
	struct shm_cache_ref r, r2;

	memset(info, 7, sizeof(info));
	ck_assert_int_eq(store("/i", NULL, 1, 10), CT_OK);
	ck_assert_int_eq(lookup("/i", NULL, &r), SHM_CACHE_HIT);
	ck_assert_uint_eq(shm_cache_info_get(&r, out, sizeof(out)), 0);
	ck_assert_int_eq(shm_cache_info_set(&r, info, sizeof(info)), CT_ERROR);
	ck_assert_int_eq(shm_cache_info_set(&r, info, 16), CT_OK);
	ck_assert_int_eq(lookup("/i", NULL, &r2), SHM_CACHE_HIT);
	memset(out, 0, sizeof(out));
	ck_assert_uint_eq(shm_cache_info_get(&r2, out, sizeof(out)), 16);
	ck_assert(memcmp(out, info, 16) == 0);
	ck_assert_uint_eq(shm_cache_info_get(&r2, out, 4), 16);   /* 4 copied, 16 told */
	shm_cache_release(&r);
	shm_cache_release(&r2);
	ck_assert_uint_eq(shm_cache_info_get(&r2, out, sizeof(out)), 0);
}
END_TEST

/*
 * A reader copies the info while another process keeps changing it:
 * every copy is one whole change (all its bytes one value, its length
 * the one written with them).
 */
START_TEST(info_never_torn)
{
	unsigned char out[SHM_CACHE_INFO];
	struct shm_cache_ref r;
	size_t len, i;
	int n, status;
	pid_t pid;

	ck_assert_int_eq(store("/i", NULL, 1, 10), CT_OK);
	ck_assert_int_eq(lookup("/i", NULL, &r), SHM_CACHE_HIT);
	pid = child_start();
	if (pid == 0) {
		unsigned char info[SHM_CACHE_INFO];
		unsigned v;

		for (v = 0; v < 20000; v++) {
			memset(info, (int)(v & 0xff), sizeof(info));
			if (shm_cache_info_set(&r, info, 1 + v % SHM_CACHE_INFO) != CT_OK)
				_exit(1);
		}
		_exit(0);
	}
	for (n = 0; n < 20000; n++) {
		len = shm_cache_info_get(&r, out, sizeof(out));
		for (i = 1; i < len; i++)
			ck_assert_uint_eq(out[i], out[0]);
		if (len > 0)                        /* change v: v % 128 + 1 bytes of v % 256 */
			ck_assert_uint_eq(len - 1, out[0] % SHM_CACHE_INFO);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	shm_cache_release(&r);
}
END_TEST

/*
 * A revalidation: the head changes, the body is kept without a copy.
 * A reader of the old head keeps it whole; the new object has the new
 * head, the same body and the info; the body goes with its last entry.
 */
START_TEST(update_head_keeps_the_body)
{
	const char *nh = "HTTP/1.1 200 OK\r\nv: 1\r\nlen: 5000\r\nage: 0\r\n\r\n";
	unsigned char out[MAX_OBJECT], info[8] = "fresh!!";
	struct shm_cache_ref old, r, r2;
	uint64_t bytes;
	size_t got, hl = strlen(nh), i;

	ck_assert_int_eq(store("/u", NULL, 1, 5000), CT_OK);
	bytes = counters().bytes;
	ck_assert_int_eq(lookup("/u", NULL, &old), SHM_CACHE_HIT);
	ck_assert_int_eq(shm_cache_info_set(&old, info, sizeof(info)), CT_OK);
	ck_assert_int_eq(lookup("/u", NULL, &r), SHM_CACHE_HIT);
	ck_assert_int_eq(shm_cache_update_head(&r, nh, hl, 2), CT_OK);
	ck_assert_uint_ne(r.entry, old.entry);
	ck_assert_uint_eq(counters().bytes, bytes + ZONE_CHUNK);   /* a meta chunk, no body */
	zone_ok();
	/* the old head, whole, for its reader */
	ck_assert(object_is(&old, 1, 5000));
	/* the new one for r and for lookups, with the info */
	ck_assert_int_eq(lookup("/u", NULL, &r2), SHM_CACHE_HIT);
	ck_assert_uint_eq(r2.entry, r.entry);
	got = read_all(&r2, out, sizeof(out));
	ck_assert_uint_eq(got, hl + 5000);
	ck_assert(memcmp(out, nh, hl) == 0);
	for (i = 0; i < 5000; i++)
		ck_assert_uint_eq(out[hl + i], body_byte(1, i));
	ck_assert_uint_eq(shm_cache_info_get(&r2, out, sizeof(out)), sizeof(info));
	ck_assert(memcmp(out, info, sizeof(info)) == 0);
	shm_cache_release(&r2);
	ck_assert_uint_eq(counters().objects, 1);
	/* the old one's reader goes: its meta chunk with it, the body stays */
	ck_assert_int_eq(shm_cache_update_head(&old, nh, hl, 2), CT_DECLINED);
	shm_cache_release(&old);
	ck_assert_uint_eq(counters().bytes, bytes);
	zone_ok();
	ck_assert_int_eq(lookup("/u", NULL, &r2), SHM_CACHE_HIT);
	ck_assert_uint_eq(read_all(&r2, out, sizeof(out)), hl + 5000);
	shm_cache_release(&r2);
	/* twice more, a reader on each: three entries, one body */
	ck_assert_int_eq(lookup("/u", NULL, &old), SHM_CACHE_HIT);
	ck_assert_int_eq(shm_cache_update_head(&r, nh, hl, 3), CT_OK);
	ck_assert_int_eq(lookup("/u", NULL, &r2), SHM_CACHE_HIT);
	ck_assert_int_eq(shm_cache_update_head(&r2, "H", 1, 4), CT_OK);
	zone_ok();
	/* purged: the body goes with the last of them */
	ck_assert_uint_eq(shm_cache_purge_key(&shm, zone, "/u", 2), 1);
	shm_cache_release(&r);
	shm_cache_release(&old);
	ck_assert_uint_gt(counters().bytes, 0);
	zone_ok();
	shm_cache_release(&r2);
	ck_assert_uint_eq(counters().bytes, 0);
	zone_ok();
}
END_TEST

/*
 * Vary: a lookup by the primary key alone learns the names to build the
 * secondary key from; a commit under new names unlinks the variants of
 * the old ones.
 */
START_TEST(vary_names_by_primary_key)
{
	struct shm_cache_key k = key_of(&user, "/v", NULL), kv;
	struct shm_cache_ref w, r;
	char names[64];
	size_t len;

	ck_assert_int_eq(shm_cache_vary_get(&user, &k, names, sizeof(names), &len), CT_DECLINED);
	/* two variants by accept-encoding */
	kv = key_of(&user, "/v", "gzip");
	ck_assert_int_eq(shm_cache_store_begin(&user, &kv, "accept-encoding", 15, 0, &w), CT_OK);
	/* still filling: nothing to learn the names from yet */
	ck_assert_int_eq(shm_cache_vary_get(&user, &k, names, sizeof(names), &len), CT_DECLINED);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H1", 2, 1), CT_OK);
	kv = key_of(&user, "/v", "br");
	ck_assert_int_eq(shm_cache_store_begin(&user, &kv, "accept-encoding", 15, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H2", 2, 1), CT_OK);
	ck_assert_int_eq(store("/w", NULL, 1, 10), CT_OK);
	ck_assert_int_eq(shm_cache_vary_get(&user, &k, names, sizeof(names), &len), CT_OK);
	ck_assert_uint_eq(len, 15);
	ck_assert(memcmp(names, "accept-encoding", 15) == 0);
	ck_assert_int_eq(shm_cache_vary_get(&user, &k, names, 4, &len), CT_ERROR);
	ck_assert_uint_eq(len, 15);
	ck_assert_uint_eq(counters().objects, 3);
	/* an object of no Vary: the names are empty */
	kv = key_of(&user, "/w", NULL);
	ck_assert_int_eq(shm_cache_vary_get(&user, &kv, names, sizeof(names), &len), CT_OK);
	ck_assert_uint_eq(len, 0);
	/* the resource now varies on accept-language: the old variants go */
	kv = key_of(&user, "/v", "gzip\nen");
	ck_assert_int_eq(shm_cache_store_begin(&user, &kv, "accept-encoding\naccept-language", 31,
	    0, &w), CT_OK);
	ck_assert_int_eq(lookup("/v", "br", &r), SHM_CACHE_HIT);   /* until the commit */
	shm_cache_release(&r);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H3", 2, 1), CT_OK);
	ck_assert_int_eq(lookup("/v", "br", &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/v", "gzip", &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/v", "gzip\nen", &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	ck_assert_int_eq(shm_cache_vary_get(&user, &k, names, sizeof(names), &len), CT_OK);
	ck_assert_uint_eq(len, 31);
	ck_assert(memcmp(names, "accept-encoding\naccept-language", 31) == 0);
	ck_assert_uint_eq(counters().objects, 2);
	zone_ok();
	/* too long refused */
	{
		static char lots[SHM_CACHE_VARY_MAX + 1];

		ck_assert_int_eq(shm_cache_store_begin(&user, &kv, lots, sizeof(lots), 0, &w),
		    CT_ERROR);
	}
}
END_TEST

/* ---------------------------------------------------------- collapsing */

START_TEST(waiters_follow_the_fill)
{
	struct shm_cache_key k = key_of(&user, "/c", NULL);
	unsigned char out[4096];
	struct shm_cache_progress p, p2;
	struct shm_cache_ref w, waiter;
	struct iovec iov[8];
	size_t n;

	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(lookup("/c", NULL, &waiter), SHM_CACHE_COLLAPSE);
	shm_cache_progress(&waiter, &p);
	ck_assert_uint_eq(p.state, SHM_CACHE_FILLING);
	ck_assert_uint_eq(p.head_len, 0);
	ck_assert_uint_eq(shm_cache_iov(&waiter, 0, iov, 8), 0);   /* nothing before the head */
	ck_assert_int_eq(shm_cache_store_head(&w, "HEAD", 4), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, "0123456789", 10), CT_OK);
	shm_cache_progress(&waiter, &p2);
	ck_assert_uint_eq(p2.entry_id, p.entry_id);
	ck_assert_uint_eq(p2.head_len, 4);
	ck_assert_uint_eq(p2.body_len, 10);
	ck_assert_uint_eq(read_all(&waiter, out, sizeof(out)), 14);
	ck_assert(memcmp(out, "HEAD0123456789", 14) == 0);
	/* more comes; the waiter goes on from where it was */
	ck_assert_int_eq(shm_cache_store_append(&w, "abc", 3), CT_OK);
	n = shm_cache_iov(&waiter, 14, iov, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(iov[0].iov_len, 3);
	ck_assert(memcmp(iov[0].iov_base, "abc", 3) == 0);
	ck_assert_int_eq(shm_cache_store_commit(&w, NULL, 0, 1), CT_OK);
	shm_cache_progress(&waiter, &p);
	ck_assert_uint_eq(p.state, SHM_CACHE_COMPLETE);
	ck_assert_uint_eq(p.body_len, 13);
	shm_cache_release(&waiter);
	zone_ok();
}
END_TEST

/* Is fd readable now?  Reads it empty if so. */
static int
woken(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&pfd, 1, 0) != 1)
		return 0;
	ck_assert_int_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	return 1;
}

/*
 * One process waiting on its own fill, to see each wake-up: at the
 * head, when the body crosses into a chunk (not at every append), at
 * the commit; once per wait; never when the fill moved already.
 */
START_TEST(waiters_woken_once_a_chunk)
{
	struct shm_cache_key k = key_of(&user, "/c", NULL);
	struct shm_cache_ref w, waiter;
	struct shm_cache_progress p;
	struct shm_cache_wake wake;
	struct shm_cache_user u;
	int fds[2];

	fds[0] = -1;
	fds[1] = eventfd(0, EFD_NONBLOCK);
	ck_assert_int_ne(fds[1], -1);
	wake = (struct shm_cache_wake){ .fds = fds, .n = 2, .self = 1 };
	ck_assert_int_eq(shm_cache_attach(&shm, zone, getpid(), &wake, &u), CT_OK);
	ck_assert_int_eq(shm_cache_store_begin(&u, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_lookup(&u, &k, 1, &waiter), SHM_CACHE_COLLAPSE);
	shm_cache_progress(&waiter, &p);
	ck_assert_int_eq(shm_cache_wait(&waiter, &p), CT_OK);
	ck_assert(!woken(fds[1]));
	ck_assert_int_eq(shm_cache_store_head(&w, "HEAD", 4), CT_OK);
	ck_assert(woken(fds[1]));
	/* the first bytes wake; more in the same chunk do not */
	shm_cache_progress(&waiter, &p);
	ck_assert_int_eq(shm_cache_wait(&waiter, &p), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, "0123456789", 10), CT_OK);
	ck_assert(woken(fds[1]));
	shm_cache_progress(&waiter, &p);
	ck_assert_int_eq(shm_cache_wait(&waiter, &p), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, "0123456789", 10), CT_OK);
	ck_assert(!woken(fds[1]));
	ck_assert_int_eq(shm_cache_wait(&waiter, &p), CT_AGAIN);     /* moved: read on */
	ck_assert_int_eq(append_n(&w, ZONE_CHUNK), CT_OK);
	ck_assert(woken(fds[1]));
	/* woken once: the next chunk wakes nobody until asked again */
	ck_assert_int_eq(append_n(&w, ZONE_CHUNK), CT_OK);
	ck_assert(!woken(fds[1]));
	shm_cache_progress(&waiter, &p);
	ck_assert_int_eq(shm_cache_wait(&waiter, &p), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, NULL, 0, 1), CT_OK);
	ck_assert(woken(fds[1]));
	shm_cache_progress(&waiter, &p);
	ck_assert_int_eq(shm_cache_wait(&waiter, &p), CT_AGAIN);     /* complete: no waiting */
	shm_cache_release(&waiter);
	/* a process with no wake fd cannot wait */
	k = key_of(&user, "/d", NULL);
	ck_assert_int_eq(shm_cache_store_begin(&u, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_lookup(&user, &k, 1, &waiter), SHM_CACHE_COLLAPSE);
	shm_cache_progress(&waiter, &p);
	ck_assert_int_eq(shm_cache_wait(&waiter, &p), CT_ERROR);
	shm_cache_release(&waiter);
	shm_cache_store_abort(&w);
	close(fds[1]);
	zone_ok();
}
END_TEST

/*
 * Across processes: a waiter sleeps in poll() on its eventfd and is
 * woken by the filler's appends in another process, following the fill
 * to its commit and checking every byte.
 */
START_TEST(waiter_woken_across_processes)
{
	struct shm_cache_key k = key_of(&user, "/x", NULL);
	struct shm_cache_wake wake;
	struct shm_cache_user u;
	struct shm_cache_ref w;
	int fds[2], ready[2], status, i;
	pid_t pid;
	char c;

	for (i = 0; i < 2; i++)
		ck_assert_int_ne(fds[i] = eventfd(0, EFD_NONBLOCK), -1);
	ck_assert_int_eq(pipe(ready), 0);
	wake = (struct shm_cache_wake){ .fds = fds, .n = 2, .self = 0 };
	ck_assert_int_eq(shm_cache_attach(&shm, zone, getpid(), &wake, &u), CT_OK);
	ck_assert_int_eq(shm_cache_store_begin(&u, &k, NULL, 0, 0, &w), CT_OK);
	pid = child_start();
	if (pid == 0) {
		static unsigned char out[MAX_OBJECT];
		struct pollfd pfd = { .fd = fds[1], .events = POLLIN };
		struct shm_cache_progress p;
		struct shm_cache_user cu;
		struct shm_cache_ref r;
		uint64_t v;
		size_t got;

		wake.self = 1;
		if (shm_cache_attach(&shm, zone, getpid(), &wake, &cu) != CT_OK ||
		    shm_cache_lookup(&cu, &k, 1, &r) != SHM_CACHE_COLLAPSE ||
		    write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;) {
			shm_cache_progress(&r, &p);
			if (p.state != SHM_CACHE_FILLING)
				break;
			if (shm_cache_wait(&r, &p) == CT_AGAIN)
				continue;
			/* ten seconds: a wake-up lost, not a slow machine */
			if (poll(&pfd, 1, 10000) != 1 || read(fds[1], &v, sizeof(v)) != sizeof(v))
				_exit(2);
		}
		got = read_all(&r, out, sizeof(out));
		if (p.state != SHM_CACHE_COMPLETE || got != 4 + 5 * ZONE_CHUNK ||
		    memcmp(out, "HEAD", 4) != 0)
			_exit(3);
		for (got = 0; got < 5 * ZONE_CHUNK; got++)
			if (out[4 + got] != body_byte(9, got))
				_exit(4);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(shm_cache_store_head(&w, "HEAD", 4), CT_OK);
	for (i = 0; i < 5 * ZONE_CHUNK; i += 512) {
		unsigned char b[512];
		size_t j;

		for (j = 0; j < sizeof(b); j++)
			b[j] = body_byte(9, (size_t)i + j);
		ck_assert_int_eq(shm_cache_store_append(&w, b, sizeof(b)), CT_OK);
	}
	ck_assert_int_eq(shm_cache_store_commit(&w, NULL, 0, 1), CT_OK);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "waiter: status %d", status);
	for (i = 0; i < 2; i++)
		close(fds[i]);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

START_TEST(waiters_see_an_abort)
{
	struct shm_cache_key k = key_of(&user, "/c", NULL);
	struct shm_cache_ref w, waiter, r;
	struct shm_cache_progress p;
	uint64_t bytes = counters().bytes;
	static unsigned char b[8000];

	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_head(&w, "HEAD", 4), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, sizeof(b)), CT_OK);
	ck_assert_int_eq(lookup("/c", NULL, &waiter), SHM_CACHE_COLLAPSE);
	shm_cache_store_abort(&w);
	shm_cache_store_abort(&w);          /* spent: nothing */
	shm_cache_progress(&waiter, &p);
	ck_assert_uint_eq(p.state, SHM_CACHE_ABORTED);
	ck_assert_int_eq(lookup("/c", NULL, &r), SHM_CACHE_MISS);
	/* the waiter's reference keeps the memory until it lets go */
	ck_assert_uint_gt(counters().bytes, bytes);
	zone_ok();
	shm_cache_release(&waiter);
	ck_assert_uint_eq(counters().bytes, bytes);
	/* a new fill of the key goes */
	ck_assert_int_eq(store("/c", NULL, 5, 10), CT_OK);
	zone_ok();
}
END_TEST

/* ---------------------------------------------------------- LRU */

START_TEST(lru_evicts_oldest_unheld)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	int fit = (int)z->nchunks / 4, i;
	struct shm_cache_key k;
	struct shm_cache_ref held, r;
	char key[32];

	/* 4 chunks an object (key and head, 3 of body): the zone holds fit of them */
	for (i = 0; i < fit; i++) {
		snprintf(key, sizeof(key), "/k%d", i);
		ck_assert_int_eq(store(key, NULL, (unsigned)i, 3 * ZONE_CHUNK), CT_OK);
	}
	ck_assert_uint_eq(counters().evictions, 0);
	ck_assert_int_eq(lookup("/k0", NULL, &held), SHM_CACHE_HIT);
	/* a hit seconds later: to the LRU's front */
	k = key_of(&user, "/k5", NULL);
	ck_assert_int_eq(shm_cache_lookup(&user, &k, 5, &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	for (; i < fit + fit / 2; i++) {
		snprintf(key, sizeof(key), "/k%d", i);
		ck_assert_int_eq(store(key, NULL, (unsigned)i, 3 * ZONE_CHUNK), CT_OK);
	}
	ck_assert_uint_ge(counters().evictions, (uint64_t)fit / 2 - 1);
	/* held: never evicted, and whole; touched: kept over its neighbours */
	ck_assert(object_is(&held, 0, 3 * ZONE_CHUNK));
	ck_assert_int_eq(lookup("/k0", NULL, &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	hit_is("/k5", NULL, 5, 3 * ZONE_CHUNK);
	ck_assert_int_eq(lookup("/k4", NULL, &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/k6", NULL, &r), SHM_CACHE_MISS);
	snprintf(key, sizeof(key), "/k%d", i - 1);
	ck_assert_int_eq(lookup(key, NULL, &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	zone_ok();
	shm_cache_release(&held);
	zone_ok();
}
END_TEST

/* One fill past the zone's size must not empty the cache on its way to failing. */
START_TEST(one_big_object_evicts_nothing)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	struct shm_cache_key k = key_of(&user, "/huge", NULL);
	struct shm_cache_ref w;
	char key[32];
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "/o%d", i);
		ck_assert_int_eq(store(key, NULL, (unsigned)i, 100), CT_OK);
	}
	/* asked for more than the zone: a quarter of it instead */
	ck_assert_int_eq(shm_cache_zone_acquire(&shm, "test", ZONE_SIZE, ZONE_CHUNK, 1ull << 30, HOLDS),
	    zone);
	ck_assert_uint_le(atomic_load(&z->max_object), (uint64_t)z->nchunks * z->chunk / 4);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 1ull << 29, &w), CT_DECLINED);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_head(&w, "H", 1), CT_OK);
	ck_assert_int_eq(append_n(&w, (size_t)z->nchunks * z->chunk + 1), CT_DECLINED);
	ck_assert_uint_eq(counters().evictions, 0);
	ck_assert_uint_eq(counters().objects, 50);
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "/o%d", i);
		hit_is(key, NULL, (unsigned)i, 100);
	}
	zone_ok();
}
END_TEST

/*
 * A need that the free chunks and the objects nobody holds cannot meet
 * is refused before any object goes, at the begin when the size is
 * known, else at the append; and held objects at the LRU's tail do not
 * stall the evictions behind them.
 */
START_TEST(eviction_refused_before_it_starts)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	struct shm_cache_ref held[HOLDS], w, r;
	static unsigned char b[MAX_OBJECT];
	struct shm_cache_key k;
	/* objects of per chunks (key and head, the rest body): as many as one process holds */
	uint32_t per = z->nchunks / (HOLDS + 1) + 1, n = z->nchunks / per - 1, i, free_chunks;
	size_t body = (per - 1) * ZONE_CHUNK;
	char key[32];

	ck_assert_uint_le(n, HOLDS + 2);
	ck_assert_uint_le(body, MAX_OBJECT / 2);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "/e%u", i);
		ck_assert_int_eq(store(key, NULL, i, body), CT_OK);
	}
	ck_assert_uint_eq(counters().evictions, 0);
	/* the two newest unheld, all older ones held */
	for (i = 0; i < n - 2; i++) {
		snprintf(key, sizeof(key), "/e%u", i);
		ck_assert_int_eq(lookup(key, NULL, &held[i]), SHM_CACHE_HIT);
	}
	free_chunks = z->free_chunks;
	k = key_of(&user, "/more", NULL);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, (free_chunks + 2 * per) * ZONE_CHUNK, &w),
	    CT_ERROR);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_append(&w, b, (free_chunks + 2 * per) * ZONE_CHUNK), CT_ERROR);
	ck_assert_uint_eq(counters().evictions, 0);
	snprintf(key, sizeof(key), "/e%u", n - 1);
	hit_is(key, NULL, n - 1, body);
	zone_ok();
	/* what can be met is: the two go, past every held one */
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(append_n(&w, (size_t)(free_chunks + per) * ZONE_CHUNK), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H", 1, 1), CT_OK);
	ck_assert_uint_eq(counters().evictions, 2);
	ck_assert_int_eq(lookup(key, NULL, &r), SHM_CACHE_MISS);
	hit_is("/e0", NULL, 0, body);
	zone_ok();
	for (i = 0; i < n - 2; i++)
		shm_cache_release(&held[i]);
	zone_ok();
}
END_TEST

/* Everything held: a store that finds no room fails cleanly. */
START_TEST(full_of_readers_refuses)
{
	struct shm_cache_ref refs[60];
	char key[32];
	int i, n = 0, rc = CT_OK;

	for (i = 0; i < 60 && rc == CT_OK; i++) {
		snprintf(key, sizeof(key), "/h%d", i);
		rc = store(key, NULL, (unsigned)i, 7 * ZONE_CHUNK);
		if (rc == CT_OK)
			ck_assert_int_eq(lookup(key, NULL, &refs[n++]), SHM_CACHE_HIT);
	}
	ck_assert_int_eq(rc, CT_ERROR);
	zone_ok();
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "/h%d", i);
		ck_assert(object_is(&refs[i], (unsigned)i, 7 * ZONE_CHUNK));
		shm_cache_release(&refs[i]);
	}
	ck_assert_int_eq(store("/after", NULL, 1, 100), CT_OK);
	zone_ok();
}
END_TEST

/*
 * One process holds at most the zone's holds entries, any number of
 * references to each, and finds each hold at once however many: a zone
 * sized for a thousand connections a worker holds a thousand objects.
 */
static void
holds_bounded_in(struct shm_cache_user *u, int zn, uint32_t holds)
{
	struct shm_cache_ref *refs = calloc(holds + 1, sizeof(*refs)), same[500];
	struct shm_cache_key k;
	struct shm_cache_counters c;
	char key[32], why[160];
	uint32_t i;

	ck_assert_ptr_nonnull(refs);
	for (i = 0; i <= holds; i++) {
		snprintf(key, sizeof(key), "/%u", i);
		ck_assert_int_eq(store_as(u, key, NULL, 1, 1, 1), CT_OK);
	}
	for (i = 0; i < holds; i++) {
		k = key_of(u, (snprintf(key, sizeof(key), "/%u", i), key), NULL);
		ck_assert_int_eq(shm_cache_lookup(u, &k, 1, &refs[i]), SHM_CACHE_HIT);
	}
	k = key_of(u, (snprintf(key, sizeof(key), "/%u", holds), key), NULL);
	ck_assert_int_eq(shm_cache_lookup(u, &k, 1, &refs[i]), SHM_CACHE_BUSY);
	shm_cache_counters_get(&shm, zn, &c);
	ck_assert_uint_eq(c.busy, 1);
	k = key_of(u, "/0", NULL);
	for (i = 0; i < 500; i++)
		ck_assert_int_eq(shm_cache_lookup(u, &k, 1, &same[i]), SHM_CACHE_HIT);
	ck_assert_int_eq(shm_cache_zone_check(&shm, zn, why, sizeof(why)), CT_OK);
	/* released in another order than taken: holds move back into the holes */
	for (i = 0; i < 500; i++)
		shm_cache_release(&same[i]);
	for (i = 1; i < holds; i += 2)
		shm_cache_release(&refs[i]);
	ck_assert_int_eq(shm_cache_zone_check(&shm, zn, why, sizeof(why)), CT_OK);
	for (i = 0; i < holds; i += 2)
		shm_cache_release(&refs[i]);
	ck_assert_int_eq(shm_cache_zone_check(&shm, zn, why, sizeof(why)), CT_OK);
	free(refs);
}

START_TEST(holds_are_bounded)
{
	int wide = shm_cache_zone_acquire(&shm, "wide", 4 * 1024 * 1024, 256, MAX_OBJECT, 1000);
	struct shm_cache_user u;

	holds_bounded_in(&user, zone, HOLDS);
	ck_assert_int_ge(wide, 0);
	ck_assert_uint_eq(shm_cache_zone_get(&shm, wide)->hold_max, 1000);
	ck_assert_int_eq(shm_cache_attach(&shm, wide, getpid(), NULL, &u), CT_OK);
	holds_bounded_in(&u, wide, 1000);
}
END_TEST

/* ---------------------------------------------------------- purges */

START_TEST(purge_with_readers)
{
	struct shm_cache_ref r, r2;
	uint64_t bytes = counters().bytes;

	ck_assert_int_eq(store("/p", NULL, 1, 2000), CT_OK);
	ck_assert_int_eq(lookup("/p", NULL, &r), SHM_CACHE_HIT);
	ck_assert_uint_eq(shm_cache_purge_key(&shm, zone, "/p", 2), 1);
	ck_assert_int_eq(lookup("/p", NULL, &r2), SHM_CACHE_MISS);
	ck_assert_uint_eq(counters().objects, 0);
	ck_assert(object_is(&r, 1, 2000));
	zone_ok();
	shm_cache_release(&r);
	ck_assert_uint_eq(counters().bytes, bytes);
	zone_ok();
}
END_TEST

/* A fill under way when its key is purged finishes for its waiters, not for lookups. */
START_TEST(purge_while_filling)
{
	struct shm_cache_key k = key_of(&user, "/pf", NULL);
	struct shm_cache_ref w, waiter, r;
	struct shm_cache_progress p;

	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(lookup("/pf", NULL, &waiter), SHM_CACHE_COLLAPSE);
	ck_assert_uint_eq(shm_cache_purge_key(&shm, zone, "/pf", 3), 1);
	ck_assert_int_eq(lookup("/pf", NULL, &r), SHM_CACHE_MISS);
	ck_assert_int_eq(shm_cache_store_append(&w, "body", 4), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H", 1, 1), CT_DECLINED);
	shm_cache_progress(&waiter, &p);
	ck_assert_uint_eq(p.state, SHM_CACHE_COMPLETE);
	ck_assert_uint_eq(p.body_len, 4);
	ck_assert_int_eq(lookup("/pf", NULL, &r), SHM_CACHE_MISS);
	zone_ok();
	shm_cache_release(&waiter);
	ck_assert_uint_eq(counters().bytes, 0);
	zone_ok();
}
END_TEST

/* An object under a primary key and a secondary one (NULs allowed; NULL: none), empty. */
static void
store_key(struct shm_cache_user *u, const char *primary, size_t plen, const char *secondary,
    size_t slen)
{
	struct shm_cache_key k;
	struct shm_cache_ref w;

	ck_assert_int_eq(shm_cache_key_init(u, &k, primary, plen, secondary, slen), CT_OK);
	ck_assert_int_eq(shm_cache_store_begin(u, &k, NULL, 0, 0, &w), CT_OK);
	ck_assert_int_eq(shm_cache_store_commit(&w, "H", 1, 1), CT_OK);
}

#define KEY(s) s, sizeof(s) - 1

/*
 * core/cache.c: a URL's objects are those of its primary key, each
 * variant of the zone's parts (the secondary key) with them; not a
 * longer URL's, nor another zone's.  A prefix takes every URL that
 * begins with it.
 */
START_TEST(purge_by_url)
{
	struct conf_cache_part part = { CONF_CACHE_HEADER, (char *)"accept-language" };
	struct conf_cache zones[2] = {
		{ .name = (char *)"test", .size = ZONE_SIZE },
		{ .name = (char *)"parts", .size = ZONE_SIZE, .key = &part, .nkey = 1 },
	};
	struct conf conf;
	struct cycle cy;
	struct shm_cache_user u;
	int idx[2];

	memset(&conf, 0, sizeof(conf));
	memset(&cy, 0, sizeof(cy));
	conf.caches = zones;
	conf.ncaches = 2;
	idx[0] = zone;
	idx[1] = shm_cache_zone_acquire(&shm, "parts", ZONE_SIZE, ZONE_CHUNK, MAX_OBJECT, HOLDS);
	ck_assert_int_ge(idx[1], 0);
	ck_assert_int_eq(shm_cache_attach(&shm, idx[1], getpid(), NULL, &u), CT_OK);
	cy.conf = &conf;
	cy.shm = &shm;
	cy.caches = idx;
	store_key(&user, KEY("http://h/a"), NULL, 0);
	store_key(&user, KEY("http://h/ab"), NULL, 0);
	store_key(&u, KEY("http://h/a"), KEY("\0=en"));
	store_key(&u, KEY("http://h/a"), KEY("\0=fr"));
	store_key(&u, KEY("http://h/a"), KEY("\0-"));
	store_key(&u, KEY("http://h/ab"), KEY("\0-"));
	store_key(&u, KEY("http://h/a?x"), KEY("\0-"));
	ck_assert_uint_eq(cache_purge_url(&cy, 1, KEY("http://h/a")), 3);
	ck_assert_uint_eq(cache_purge_url(&cy, 1, KEY("http://h/a")), 0);
	ck_assert_uint_eq(shm_cache_zone_get(&shm, idx[1])->objects, 2);
	ck_assert_uint_eq(cache_purge_url(&cy, 0, KEY("http://h/a")), 1);
	ck_assert_uint_eq(counters().objects, 1);
	/* A prefix: every URL that begins with it, parts or none. */
	ck_assert_uint_eq(cache_purge_prefix(&cy, 1, KEY("http://h/a")), 2);
	ck_assert_uint_eq(cache_purge_prefix(&cy, 0, KEY("http://h/")), 1);
	store_key(&u, KEY("http://h/z"), KEY("\0-"));
	ck_assert_uint_eq(cache_purge_all(&cy, 1), 1);
	/* A zone without a slot in the segment, or past the configuration's: nothing. */
	idx[1] = -1;
	ck_assert_uint_eq(cache_purge_all(&cy, 1), 0);
	ck_assert_uint_eq(cache_purge_url(&cy, 2, KEY("http://h/a")), 0);
	zone_ok();
}
END_TEST

/* In a zone of more entries than a batch: several calls, each its own lock hold. */
START_TEST(purge_prefix_in_batches)
{
	int big = shm_cache_zone_acquire(&shm, "big", 2 * 1024 * 1024, 256, MAX_OBJECT, HOLDS);
	struct shm_cache_counters c;
	struct shm_cache_user u;
	struct shm_cache_key k;
	struct shm_cache_ref r, held;
	uint32_t cursor = 0;
	size_t n = 0;
	char key[32];
	int i, calls = 1;

	ck_assert_int_ge(big, 0);
	ck_assert_uint_gt(shm_cache_zone_get(&shm, big)->nchunks, 3 * SHM_CACHE_PURGE_BATCH);
	ck_assert_int_eq(shm_cache_attach(&shm, big, getpid(), NULL, &u), CT_OK);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "%s/%d", i % 3 == 0 ? "/img" : "/app", i);
		ck_assert_int_eq(store_as(&u, key, NULL, (unsigned)i, 10, 10), CT_OK);
	}
	k = key_of(&u, "/img/0", NULL);
	ck_assert_int_eq(shm_cache_lookup(&u, &k, 1, &held), SHM_CACHE_HIT);
	while (shm_cache_purge_prefix(&shm, big, "/img/", 5, &cursor, &n) == CT_AGAIN)
		calls++;
	ck_assert_int_gt(calls, 3);
	ck_assert_uint_eq(n, 100);
	shm_cache_counters_get(&shm, big, &c);
	ck_assert_uint_eq(c.objects, 200);
	k = key_of(&u, "/img/3", NULL);
	ck_assert_int_eq(shm_cache_lookup(&u, &k, 1, &r), SHM_CACHE_MISS);
	k = key_of(&u, "/app/1", NULL);
	ck_assert_int_eq(shm_cache_lookup(&u, &k, 1, &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	ck_assert_uint_eq(shm_cache_purge_all(&shm, big), 200);
	shm_cache_counters_get(&shm, big, &c);
	ck_assert_uint_eq(c.objects, 0);
	ck_assert_uint_eq(c.bytes, 2 * 256);        /* /img/0, still held */
	{
		char why[160];

		ck_assert_int_eq(shm_cache_zone_check(&shm, big, why, sizeof(why)), CT_OK);
		shm_cache_release(&held);
		shm_cache_counters_get(&shm, big, &c);
		ck_assert_uint_eq(c.bytes, 0);
		ck_assert_int_eq(shm_cache_zone_check(&shm, big, why, sizeof(why)), CT_OK);
	}
}
END_TEST

/* ---------------------------------------------------------- crashes */

/* Begins, appends, and is killed mid-store: the reap leaves no trace of it. */
START_TEST(killed_while_storing)
{
	struct shm_cache_counters before = counters();
	struct shm_cache_wake wake = { .n = 1, .self = 0 };
	struct shm_cache_progress p;
	struct shm_cache_user waiter;
	struct shm_cache_key wk;
	struct shm_cache_ref r;
	char why[160];
	int fds[1];
	pid_t pid;

	wake.fds = fds;
	ck_assert_int_eq(store("/keep", NULL, 1, 100), CT_OK);
	before = counters();
	pid = child_start();
	if (pid == 0) {
		struct shm_cache_user u;
		struct shm_cache_key k;
		struct shm_cache_ref w;
		static unsigned char b[5000];

		if (shm_cache_attach(&shm, zone, getpid(), NULL, &u) != CT_OK ||
		    shm_cache_key_init(&u, &k, "/dying", 6, NULL, 0) != CT_OK ||
		    shm_cache_store_begin(&u, &k, NULL, 0, 0, &w) != CT_OK ||
		    shm_cache_store_head(&w, "HEAD", 4) != CT_OK ||
		    shm_cache_store_append(&w, b, sizeof(b)) != CT_OK)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	child_wait_killed(pid);
	/* before the reap: a fill nobody will finish, still its dead filler's; a waiter on it */
	ck_assert_int_ne(fds[0] = eventfd(0, EFD_NONBLOCK), -1);
	ck_assert_int_eq(shm_cache_attach(&shm, zone, getpid(), &wake, &waiter), CT_OK);
	wk = key_of(&waiter, "/dying", NULL);
	ck_assert_int_eq(shm_cache_lookup(&waiter, &wk, 1, &r), SHM_CACHE_COLLAPSE);
	shm_cache_progress(&r, &p);
	ck_assert_int_eq(shm_cache_wait(&r, &p), CT_OK);
	ck_assert_uint_gt(counters().bytes, before.bytes);
	ck_assert_int_eq(shm_cache_zone_check(&shm, zone, why, sizeof(why)), CT_OK);
	ck_assert_uint_gt(shm_cache_reap(&shm, zone, pid, &wake), 0);
	/* the reap woke the waiter: the fill is aborted */
	ck_assert(woken(fds[0]));
	shm_cache_progress(&r, &p);
	ck_assert_uint_eq(p.state, SHM_CACHE_ABORTED);
	shm_cache_release(&r);
	close(fds[0]);
	ck_assert_int_eq(lookup("/dying", NULL, &r), SHM_CACHE_MISS);
	ck_assert_uint_eq(counters().bytes, before.bytes);
	ck_assert_uint_eq(counters().aborts, before.aborts + 1);
	zone_ok();
	ck_assert_int_eq(store("/dying", NULL, 7, 5000), CT_OK);
	hit_is("/dying", NULL, 7, 5000);
	ck_assert_int_eq(lookup("/keep", NULL, &r), SHM_CACHE_HIT);
	shm_cache_release(&r);
	zone_ok();
}
END_TEST

/* Killed holding references to an object that is then purged: the reap frees it. */
START_TEST(killed_holding_references)
{
	uint64_t bytes;
	struct shm_cache_ref r;
	int fds[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(store("/held", NULL, 1, 3000), CT_OK);
	bytes = counters().bytes;
	ck_assert_int_eq(pipe(fds), 0);
	pid = child_start();
	if (pid == 0) {
		struct shm_cache_user u;
		struct shm_cache_key k;
		struct shm_cache_ref cr[3];
		int i;

		if (shm_cache_attach(&shm, zone, getpid(), NULL, &u) != CT_OK ||
		    shm_cache_key_init(&u, &k, "/held", 5, NULL, 0) != CT_OK)
			_exit(1);
		for (i = 0; i < 3; i++)
			if (shm_cache_lookup(&u, &k, 1, &cr[i]) != SHM_CACHE_HIT)
				_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(2);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	kill(pid, SIGKILL);
	child_wait_killed(pid);
	ck_assert_uint_eq(shm_cache_purge_key(&shm, zone, "/held", 5), 1);
	ck_assert_uint_eq(counters().bytes, bytes);          /* held by the dead */
	zone_ok();
	ck_assert_uint_eq(shm_cache_reap(&shm, zone, pid, NULL), 3);
	ck_assert_uint_eq(counters().bytes, 0);
	ck_assert_int_eq(lookup("/held", NULL, &r), SHM_CACHE_MISS);
	ck_assert_uint_eq(shm_cache_reap(&shm, zone, pid, NULL), 0);   /* twice: nothing */
	zone_ok();
}
END_TEST

/* A process dies holding the zone's lock: the next locker goes on. */
START_TEST(killed_inside_the_lock)
{

	ck_assert_int_eq(store("/x", NULL, 1, 1500), CT_OK);
	die_in_the_lock();
	hit_is("/x", NULL, 1, 1500);
	ck_assert_uint_eq(counters().repairs, 1);
	zone_ok();
	ck_assert_int_eq(store("/y", NULL, 2, 1500), CT_OK);
	zone_ok();
}
END_TEST

/* A lock that cannot be recovered: lookups miss and stores fail, nothing is touched unlocked. */
START_TEST(lost_lock_refused)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	struct shm_cache_key k = key_of(&user, "/x", NULL);
	struct shm_cache_ref r, w;

	ck_assert_int_eq(store("/x", NULL, 1, 1500), CT_OK);
	die_in_the_lock();
	ck_assert_int_eq(pthread_mutex_lock(&z->lock), EOWNERDEAD);
	pthread_mutex_unlock(&z->lock);         /* not made consistent: the lock is lost */
	ck_assert_int_eq(lookup("/x", NULL, &r), SHM_CACHE_BUSY);
	ck_assert_int_eq(lookup("/x", NULL, &r), SHM_CACHE_BUSY);
	ck_assert_int_eq(shm_cache_store_begin(&user, &k, NULL, 0, 0, &w), CT_ERROR);
	ck_assert_uint_eq(shm_cache_purge_key(&shm, zone, "/x", 2), 0);
	ck_assert_uint_eq(counters().repairs, 0);
}
END_TEST

/*
 * Killed inside the lock in the middle of changing everything at once:
 * a chunk taken off the free list but linked nowhere, a chunk linked to
 * a fill but not counted, the index and the LRU half rewritten, counts
 * off, a hold recorded without its reference.  The repair rebuilds it
 * all from the entries and holds, and the reap then ends the fill.
 */
START_TEST(killed_mid_update_repaired)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	struct shm_cache_counters before;
	struct shm_cache_ref r;
	char key[32];
	pid_t pid;
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "/m%d", i);
		ck_assert_int_eq(store(key, NULL, (unsigned)i, 2500), CT_OK);
	}
	before = counters();
	pid = child_start();
	if (pid == 0) {
		struct shm_cache_user u;
		struct shm_cache_key k;
		struct shm_cache_ref w;
		uint32_t *next = shm_ptr(&shm, z->next_off), c;
		struct shm_cache_entry *e;

		if (shm_cache_attach(&shm, zone, getpid(), NULL, &u) != CT_OK ||
		    shm_cache_key_init(&u, &k, "/fill", 5, NULL, 0) != CT_OK ||
		    shm_cache_store_begin(&u, &k, NULL, 0, 0, &w) != CT_OK ||
		    shm_cache_store_append(&w, "abc", 3) != CT_OK ||
		    shm_cache_lookup(&u, &k, 1, &r) != SHM_CACHE_COLLAPSE)
			_exit(1);
		e = (struct shm_cache_entry *)shm_ptr(&shm, z->entries_off) + w.entry;
		pthread_mutex_lock(&z->lock);
		c = z->free_chunk;                      /* taken, linked nowhere */
		z->free_chunk = next[c];
		z->free_chunks--;
		c = z->free_chunk;                      /* linked, not counted */
		z->free_chunk = next[c];
		next[c] = SHM_CACHE_NONE;
		next[e->body_last] = c;
		memset(shm_ptr(&shm, z->buckets_off), 0xff, z->nbuckets / 2 * sizeof(uint32_t));
		z->lru_head = z->lru_tail;
		atomic_store(&z->objects, 99);
		e->refs = 7;
		raise(SIGKILL);
		_exit(2);
	}
	child_wait_killed(pid);
	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "/m%d", i);
		hit_is(key, NULL, (unsigned)i, 2500);
	}
	ck_assert_uint_eq(counters().repairs, 1);
	ck_assert_uint_eq(counters().objects, 10);
	zone_ok();
	ck_assert_int_eq(lookup("/fill", NULL, &r), SHM_CACHE_COLLAPSE);
	shm_cache_release(&r);
	ck_assert_uint_eq(shm_cache_reap(&shm, zone, pid, NULL), 2);   /* its fill and its waiter's hold */
	ck_assert_int_eq(lookup("/fill", NULL, &r), SHM_CACHE_MISS);
	ck_assert_uint_eq(counters().bytes, before.bytes);
	zone_ok();
	ck_assert_int_eq(store("/fill", NULL, 3, 4000), CT_OK);
	zone_ok();
}
END_TEST

/*
 * A purge that died inside the lock after its first step (the object
 * marked GONE, still in the index and the LRU): the repair finishes the
 * purge rather than linking the object again.
 */
START_TEST(purge_killed_midway_stays_purged)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	struct shm_cache_ref a, held, r;
	uint32_t ai;
	pid_t pid;

	ck_assert_int_eq(store("/a", NULL, 1, 100), CT_OK);
	ck_assert_int_eq(store("/b", NULL, 2, 100), CT_OK);
	ck_assert_int_eq(lookup("/a", NULL, &a), SHM_CACHE_HIT);
	ai = a.entry;
	shm_cache_release(&a);
	ck_assert_int_eq(lookup("/b", NULL, &held), SHM_CACHE_HIT);
	pid = child_start();
	if (pid == 0) {
		struct shm_cache_entry *e;

		pthread_mutex_lock(&z->lock);
		e = (struct shm_cache_entry *)shm_ptr(&shm, z->entries_off) + ai;
		atomic_store(&e->state, SHM_CACHE_GONE);
		e = (struct shm_cache_entry *)shm_ptr(&shm, z->entries_off) + held.entry;
		atomic_store(&e->state, SHM_CACHE_GONE);
		raise(SIGKILL);
		_exit(2);
	}
	child_wait_killed(pid);
	ck_assert_int_eq(lookup("/a", NULL, &r), SHM_CACHE_MISS);
	ck_assert_int_eq(lookup("/b", NULL, &r), SHM_CACHE_MISS);
	ck_assert(object_is(&held, 2, 100));    /* GONE, whole for its reader */
	zone_ok();
	shm_cache_release(&held);
	ck_assert_uint_eq(counters().objects, 0);
	zone_ok();
}
END_TEST

/*
 * A held object whose chain a crash left broken: the repair gives it up
 * (ABORTED), but the chunks its reader may be sending from stay its own
 * until the reader lets go, however many fills come meanwhile.
 */
START_TEST(repair_keeps_a_held_broken_object)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	static unsigned char before[8000];
	struct shm_cache_progress p;
	struct shm_cache_ref held;
	struct iovec iov[8];
	size_t n, i, at;
	char key[32];
	pid_t pid;

	ck_assert_int_eq(store("/h", NULL, 1, 5000), CT_OK);
	ck_assert_int_eq(lookup("/h", NULL, &held), SHM_CACHE_HIT);
	n = shm_cache_iov(&held, 0, iov, CT_NELEM(iov));       /* what a writev() has in flight */
	for (i = 0, at = 0; i < n; at += iov[i].iov_len, i++)
		memcpy(before + at, iov[i].iov_base, iov[i].iov_len);
	pid = child_start();
	if (pid == 0) {
		struct shm_cache_entry *e;

		pthread_mutex_lock(&z->lock);
		e = (struct shm_cache_entry *)shm_ptr(&shm, z->entries_off) + held.entry;
		e->body_n += 5;                 /* more chunks than its chain has */
		raise(SIGKILL);
		_exit(2);
	}
	child_wait_killed(pid);
	for (i = 0; i < z->nchunks / 2; i++) {
		snprintf(key, sizeof(key), "/f%zu", i);
		ck_assert_int_eq(store(key, NULL, (unsigned)i, 2 * ZONE_CHUNK), CT_OK);
	}
	ck_assert_uint_eq(counters().repairs, 1);
	shm_cache_progress(&held, &p);
	ck_assert_uint_eq(p.state, SHM_CACHE_ABORTED);
	for (i = 0, at = 0; i < n; at += iov[i].iov_len, i++)
		ck_assert(memcmp(before + at, iov[i].iov_base, iov[i].iov_len) == 0);
	zone_ok();
	shm_cache_release(&held);
	zone_ok();
	ck_assert_int_eq(store("/h", NULL, 2, 5000), CT_OK);
	hit_is("/h", NULL, 2, 5000);
}
END_TEST

/* The repair finds a body shared by two entries and keeps it for both. */
START_TEST(repair_keeps_a_shared_body)
{
	struct shm_cache_ref old, r;

	ck_assert_int_eq(store("/s", NULL, 1, 3000), CT_OK);
	ck_assert_int_eq(lookup("/s", NULL, &old), SHM_CACHE_HIT);
	ck_assert_int_eq(lookup("/s", NULL, &r), SHM_CACHE_HIT);
	ck_assert_int_eq(shm_cache_update_head(&r, "HEAD", 4, 2), CT_OK);
	die_in_the_lock();
	ck_assert(object_is(&old, 1, 3000));
	zone_ok();
	ck_assert_uint_eq(counters().repairs, 1);
	shm_cache_release(&old);
	zone_ok();
	ck_assert_uint_eq(shm_cache_purge_all(&shm, zone), 1);
	shm_cache_release(&r);
	ck_assert_uint_eq(counters().bytes, 0);
	zone_ok();
}
END_TEST

/* A commit that died between publishing the new object and unlinking the old. */
START_TEST(repair_keeps_the_newer_of_two)
{
	struct shm_cache_zone *z = shm_cache_zone_get(&shm, zone);
	struct shm_cache_ref old;
	pid_t pid;

	ck_assert_int_eq(store("/d", NULL, 1, 100), CT_OK);
	ck_assert_int_eq(lookup("/d", NULL, &old), SHM_CACHE_HIT);
	ck_assert_int_eq(store("/d", NULL, 2, 100), CT_OK);
	pid = child_start();
	if (pid == 0) {
		struct shm_cache_entry *e;

		/* the old entry back in the index as if never unlinked */
		pthread_mutex_lock(&z->lock);
		e = (struct shm_cache_entry *)shm_ptr(&shm, z->entries_off) + old.entry;
		atomic_store(&e->state, SHM_CACHE_COMPLETE);
		raise(SIGKILL);
		_exit(2);
	}
	child_wait_killed(pid);
	hit_is("/d", NULL, 2, 100);
	ck_assert_uint_eq(counters().objects, 1);
	zone_ok();
	shm_cache_release(&old);
	zone_ok();
}
END_TEST

/* ---------------------------------------------------------- stress */

#define STRESS_PROCS  3
#define STRESS_ITERS  3000
#define STRESS_KEYS   40

/* The version and body length that r's head names; 0 before its head is stored. */
static int
stress_head(struct shm_cache_ref *r, unsigned *v, size_t *n)
{
	struct shm_cache_progress p;
	struct iovec iov[1];
	char head[64];

	shm_cache_progress(r, &p);
	if (p.head_len == 0 || shm_cache_iov(r, 0, iov, 1) != 1 || iov[0].iov_len < p.head_len)
		return 0;
	memcpy(head, iov[0].iov_base, CT_MIN(p.head_len, sizeof(head) - 1));
	head[CT_MIN(p.head_len, sizeof(head) - 1)] = '\0';
	return sscanf(head, "HTTP/1.1 200 OK\r\nv: %u\r\nlen: %zu", v, n) == 2;
}

/* Checks the body bytes r has from position *got (hl bytes of head before them) on. */
static int
stress_read_on(struct shm_cache_ref *r, uint64_t *got, size_t hl, unsigned v, size_t n)
{
	struct iovec iov[4];
	size_t k, j, b;

	while ((k = shm_cache_iov(r, *got, iov, CT_NELEM(iov))) > 0)
		for (j = 0; j < k; j++)
			for (b = 0; b < iov[j].iov_len; b++, (*got)++)
				if (*got - hl >= n || ((unsigned char *)iov[j].iov_base)[b] !=
				    body_byte(v, *got - hl))
					return 0;
	return 1;
}

/*
 * Follows a fill under way, most often in another process, as a
 * collapsed waiter sends it: every byte published so far checked, then
 * the rest as it comes, to a whole object or an abort.  0 at the first
 * byte that is not the object's.
 */
static int
stress_follow(struct shm_cache_ref *r)
{
	struct shm_cache_progress p;
	uint64_t got = 0;
	unsigned v = 0;
	size_t n = 0, hl = 0;
	long spins;

	for (spins = 0; spins < 1000000; spins++) {
		/* The state before the read: COMPLETE then means the read got it all. */
		shm_cache_progress(r, &p);
		if (p.state == SHM_CACHE_ABORTED)
			return 1;
		if (hl == 0 && stress_head(r, &v, &n))
			got = hl = p.head_len;
		if (hl != 0 && !stress_read_on(r, &got, hl, v, n))
			return 0;
		if (p.state != SHM_CACHE_FILLING)
			return hl != 0 && got == hl + n;
		sched_yield();
	}
	return 1;               /* a fill that did not end meanwhile: given up, not wrong */
}

/* A hit: the head names the version and length of the body, and the body is that, whole. */
static int
stress_hit(struct shm_cache_ref *r)
{
	unsigned v;
	size_t n;

	return stress_head(r, &v, &n) && object_is(r, v, n);
}

/*
 * One process's share: random stores (some aborted, some too big),
 * lookups that read and verify what they hit and follow the fills they
 * collapse on, and purges, on few keys in a small zone; iters < 0:
 * until killed; fill_only: nothing but stores, in small pieces, so that
 * a kill most likely finds it in the middle of one.  Exits 1 at the
 * first object that is not whole.
 */
static void
stress_child(unsigned seed, int iters, int fill_only)
{
	struct shm_cache_user u;
	struct shm_cache_ref r, held[4];
	char key[16];
	unsigned v, op;
	int i, nheld = 0;

	srandom(seed);
	if (shm_cache_attach(&shm, zone, getpid(), NULL, &u) != CT_OK)
		_exit(3);
	for (i = 0; iters < 0 || i < iters; i++) {
		struct shm_cache_key k;

		snprintf(key, sizeof(key), "/s%ld", random() % STRESS_KEYS);
		k = key_of(&u, key, random() % 4 == 0 ? "gz" : NULL);
		op = fill_only ? 1 : (unsigned)(random() % 10);
		v = (unsigned)random() % 1000;
		if (op < 3) {
			(void)store_as(&u, key, k.secondary != NULL ? "gz" : NULL, v,
			    (size_t)random() % (op == 0 ? 2 * MAX_OBJECT : 9000), fill_only ? 100 : 700);
		} else if (op < 8) {
			switch (shm_cache_lookup(&u, &k, (uint64_t)i / 100, &r)) {
			case SHM_CACHE_HIT:
				if (!stress_hit(&r))
					_exit(1);
				if (nheld < 4 && random() % 3 == 0)
					held[nheld++] = r;
				else
					shm_cache_release(&r);
				break;
			case SHM_CACHE_COLLAPSE:
				if (!stress_follow(&r))
					_exit(1);
				shm_cache_release(&r);
				break;
			default:
				break;
			}
		} else if (op == 8) {
			(void)shm_cache_purge_key(&shm, zone, key, strlen(key));
		} else if (nheld > 0) {
			shm_cache_release(&held[--nheld]);
		}
	}
	while (nheld > 0)
		shm_cache_release(&held[--nheld]);
	shm_cache_detach(&u);
	_exit(0);
}

/* Waits for a stress process that must end well. */
static void
stress_wait(pid_t pid, int i)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "stress process %d: status %d", i, status);
}

/*
 * The processes above at once; one more, a filler, is killed wherever
 * it is while the others still store and read, and reaped under them.
 */
START_TEST(stress_processes)
{
	pid_t pids[STRESS_PROCS + 1];
	struct shm_cache_counters c;
	int i;

	for (i = 0; i < STRESS_PROCS; i++) {
		pids[i] = child_start();
		if (pids[i] == 0)
			stress_child((unsigned)i + 1, STRESS_ITERS * (i + 1), 0);
	}
	pids[STRESS_PROCS] = child_start();
	if (pids[STRESS_PROCS] == 0)
		stress_child(99, -1, 1);
	/* the first ends while the others, running longer, go on */
	stress_wait(pids[0], 0);
	kill(pids[STRESS_PROCS], SIGKILL);
	child_wait_killed(pids[STRESS_PROCS]);
	(void)shm_cache_reap(&shm, zone, pids[STRESS_PROCS], NULL);
	for (i = 1; i < STRESS_PROCS; i++)
		stress_wait(pids[i], i);
	zone_ok();
	c = counters();
	ck_assert_uint_gt(c.stores, 100);
	ck_assert_uint_gt(c.hits, 100);
	ck_assert_uint_gt(c.evictions, 0);
	/* nobody holds anything: every byte is a stored object's, and goes with it */
	ck_assert_uint_eq(shm_cache_purge_all(&shm, zone), c.objects);
	ck_assert_uint_eq(counters().bytes, 0);
	zone_ok();
}
END_TEST

/* A hit in a loop: a functional check of the short path, no timing. */
START_TEST(hit_loop)
{
	struct shm_cache_key k;
	struct shm_cache_ref r;
	int i;

	ck_assert_int_eq(store("/hot", NULL, 1, 100), CT_OK);
	k = key_of(&user, "/hot", NULL);
	for (i = 0; i < 100000; i++) {
		ck_assert_int_eq(shm_cache_lookup(&user, &k, (uint64_t)i / 1000, &r), SHM_CACHE_HIT);
		shm_cache_release(&r);
	}
	ck_assert_uint_eq(counters().hits, 100000);
	zone_ok();
}
END_TEST

Suite *
suite_cache_store(void)
{
	Suite *s = suite_create("cache_store");
	TCase *tc = tcase_create("store");
	TCase *crash = tcase_create("crash");

	tcase_add_checked_fixture(tc, cache_setup, cache_teardown);
	tcase_add_test(tc, zone_kept_across_reload);
	tcase_add_test(tc, zone_found_once_built);
	tcase_add_test(tc, store_then_hit);
	tcase_add_test(tc, empty_body_and_head_at_commit);
	tcase_add_test(tc, keys_compared_in_full);
	tcase_add_test(tc, long_keys_and_random_hash_keys);
	tcase_add_test(tc, variants_of_a_key);
	tcase_add_test(tc, filling_is_not_a_hit);
	tcase_add_test(tc, refresh_replaces_at_commit);
	tcase_add_test(tc, max_object_enforced);
	tcase_add_test(tc, append_bounded_by_the_zone);
	tcase_add_test(tc, head_in_one_piece);
	tcase_add_test(tc, info_set_and_read);
	tcase_add_test(tc, update_head_keeps_the_body);
	tcase_add_test(tc, vary_names_by_primary_key);
	tcase_add_test(tc, waiters_follow_the_fill);
	tcase_add_test(tc, waiters_see_an_abort);
	tcase_add_test(tc, waiters_woken_once_a_chunk);
	tcase_add_test(tc, lru_evicts_oldest_unheld);
	tcase_add_test(tc, full_of_readers_refuses);
	tcase_add_test(tc, one_big_object_evicts_nothing);
	tcase_add_test(tc, eviction_refused_before_it_starts);
	tcase_add_test(tc, holds_are_bounded);
	tcase_add_test(tc, purge_with_readers);
	tcase_add_test(tc, purge_while_filling);
	tcase_add_test(tc, purge_prefix_in_batches);
	tcase_add_test(tc, purge_by_url);
	tcase_add_test(tc, hit_loop);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(crash, cache_setup, cache_teardown);
	tcase_set_timeout(crash, 30);
	tcase_add_test(crash, killed_while_storing);
	tcase_add_test(crash, killed_holding_references);
	tcase_add_test(crash, killed_inside_the_lock);
	tcase_add_test(crash, lost_lock_refused);
	tcase_add_test(crash, info_never_torn);
	tcase_add_test(crash, waiter_woken_across_processes);
	tcase_add_test(crash, killed_mid_update_repaired);
	tcase_add_test(crash, repair_keeps_the_newer_of_two);
	tcase_add_test(crash, purge_killed_midway_stays_purged);
	tcase_add_test(crash, repair_keeps_a_held_broken_object);
	tcase_add_test(crash, repair_keeps_a_shared_body);
	tcase_add_test(crash, stress_processes);
	suite_add_tcase(s, crash);
	return s;
}

/*
 * Listener counters, worker records and their connection tables.
 */
#include <stddef.h>
#include <string.h>

#include "lib/ct.h"
#include "shm/stats.h"

const uint64_t shm_hist_bound_us[SHM_HIST_BOUNDS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};

int
shm_stats_init(struct shm *shm)
{
	atomic_init(&shm_header(shm)->conn_seq, 0);
	atomic_init(&shm_header(shm)->log_dropped[SHM_LOG_ERROR], 0);
	atomic_init(&shm_header(shm)->log_dropped[SHM_LOG_ACCESS], 0);
	if (shm_table_register(shm, SHM_TABLE_LISTENERS, "listeners",
	    sizeof(struct shm_listener), SHM_LISTENERS_MAX) != CT_OK ||
	    shm_table_register(shm, SHM_TABLE_WORKERS, "workers",
	    sizeof(struct shm_worker), SHM_WORKERS_MAX) != CT_OK)
		return CT_ERROR;
	return CT_OK;
}

const char *const shm_tls_fail_names[SHM_TLS_FAILS] = {
	[SHM_TLS_FAIL_TIMEOUT] = "timeout",
	[SHM_TLS_FAIL_CLOSED] = "closed",
	[SHM_TLS_FAIL_NOT_TLS] = "not_tls",
	[SHM_TLS_FAIL_PROTOCOL] = "protocol",
	[SHM_TLS_FAIL_CIPHER] = "cipher",
	[SHM_TLS_FAIL_CLIENT_CERT] = "client_cert",
	[SHM_TLS_FAIL_ALERT] = "alert",
	[SHM_TLS_FAIL_OTHER] = "other",
};

const char *const shm_auth_result_names[SHM_AUTH_RESULTS] = {
	[SHM_AUTH_OK] = "ok",
	[SHM_AUTH_CACHED] = "cached",
	[SHM_AUTH_DENIED] = "denied",
	[SHM_AUTH_MALFORMED] = "malformed",
	[SHM_AUTH_THROTTLED] = "throttled",
};

const char *const shm_geo_result_names[SHM_GEO_RESULTS] = {
	[SHM_GEO_ALLOWED] = "allowed",
	[SHM_GEO_DENIED] = "denied",
	[SHM_GEO_UNKNOWN] = "unknown",
};

const char *const shm_udp_drop_names[SHM_UDP_DROPS] = {
	[SHM_UDP_DROP_SESSIONS] = "sessions",
	[SHM_UDP_DROP_ACL] = "acl",
	[SHM_UDP_DROP_NO_SERVER] = "no_server",
	[SHM_UDP_DROP_SEND] = "send",
	[SHM_UDP_DROP_REPLY] = "reply",
	[SHM_UDP_DROP_SOURCE] = "source",
	[SHM_UDP_DROP_HEADER] = "header",
	[SHM_UDP_DROP_FRAGMENT] = "fragment",
	[SHM_UDP_DROP_DEST] = "destination",
	[SHM_UDP_DROP_RESOLVE] = "resolve",
	[SHM_UDP_DROP_WAIT] = "wait",
	[SHM_UDP_DROP_PEER] = "peer",
};

const char *const shm_proxy_result_names[SHM_PROXY_RESULTS] = {
	[SHM_PROXY_GRANTED] = "granted",
	[SHM_PROXY_RULES] = "rules",
	[SHM_PROXY_NO_NAME] = "no_name",
	[SHM_PROXY_RESOLVER] = "resolver",
	[SHM_PROXY_CONNECT] = "connect",
	[SHM_PROXY_AUTH] = "auth",
	[SHM_PROXY_PROTOCOL] = "protocol",
	[SHM_PROXY_TIMEOUT] = "timeout",
	[SHM_PROXY_APPROVAL] = "approval",
};

const char *const shm_approval_result_names[SHM_APPROVAL_RESULTS] = {
	[SHM_APPROVAL_ALLOWED] = "allowed",
	[SHM_APPROVAL_DENIED] = "denied",
	[SHM_APPROVAL_PENDING] = "pending",
	[SHM_APPROVAL_TIMED_OUT] = "timed_out",
	[SHM_APPROVAL_FULL] = "full",
};

const char *const shm_tls_version_names[SHM_TLS_VERSIONS] = {
	"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
};

const char *const shm_tls_cipher_names[SHM_TLS_CIPHERS] = {
	"TLS_AES_128_GCM_SHA256",
	"TLS_AES_256_GCM_SHA384",
	"TLS_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-AES128-GCM-SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305",
	"ECDHE-RSA-CHACHA20-POLY1305",
	"other",
};

struct shm_listener *
shm_listener_get(const struct shm *shm, int idx)
{
	return shm_table_slot(shm, SHM_TABLE_LISTENERS, idx);
}

_Static_assert(offsetof(struct shm_listener, in_use) == offsetof(struct shm_named, in_use) &&
    offsetof(struct shm_listener, refs) == offsetof(struct shm_named, refs) &&
    offsetof(struct shm_listener, name) == offsetof(struct shm_named, name),
    "shm_listener must begin like shm_named");

int
shm_listener_acquire(struct shm *shm, const char *name)
{
	return shm_named_acquire(shm, SHM_TABLE_LISTENERS, name);
}

void
shm_listener_release(struct shm *shm, int idx)
{
	shm_named_release(shm, SHM_TABLE_LISTENERS, idx);
}

struct shm_worker *
shm_worker_get(const struct shm *shm, int idx)
{
	return shm_table_slot(shm, SHM_TABLE_WORKERS, idx);
}

struct shm_conn *
shm_worker_conns(const struct shm *shm, const struct shm_worker *w)
{
	return w->conns_off != 0 ? shm_ptr(shm, w->conns_off) : NULL;
}

struct shm_conn_tls *
shm_worker_conns_tls(const struct shm *shm, const struct shm_worker *w)
{
	return w->tls_off != 0 ? shm_ptr(shm, w->tls_off) : NULL;
}

struct shm_conn_dest *
shm_worker_conns_dest(const struct shm *shm, const struct shm_worker *w)
{
	return w->dest_off != 0 ? shm_ptr(shm, w->dest_off) : NULL;
}

int
shm_worker_acquire(struct shm *shm, unsigned generation, unsigned slot, unsigned nconns,
    int tls, int dest)
{
	struct shm_worker *w = NULL;
	int i;

	for (i = 0; i < SHM_WORKERS_MAX; i++) {
		w = shm_worker_get(shm, i);
		if (atomic_load(&w->pid) == 0)
			break;
	}
	if (i == SHM_WORKERS_MAX)
		return -1;
	/* Taken until the master stores the child's pid or releases it. */
	atomic_store(&w->pid, -1);
	shm_table_count(shm, SHM_TABLE_WORKERS, 1);
	w->generation = generation;
	w->slot = slot;
	atomic_store(&w->ready, 0);
	w->conns_off = shm_alloc(shm, sizeof(struct shm_conn) * (size_t)nconns);
	w->nconns = w->conns_off != 0 ? nconns : 0;
	w->tls_off = tls && w->conns_off != 0 ?
	    shm_alloc(shm, sizeof(struct shm_conn_tls) * (size_t)nconns) : 0;
	w->dest_off = dest && w->conns_off != 0 ?
	    shm_alloc(shm, sizeof(struct shm_conn_dest) * (size_t)nconns) : 0;
	return i;
}

void
shm_worker_release(struct shm *shm, int idx)
{
	struct shm_worker *w;

	if (idx < 0 || idx >= SHM_WORKERS_MAX)
		return;
	w = shm_worker_get(shm, idx);
	if (atomic_load(&w->pid) == 0)
		return;
	shm_free(shm, w->conns_off);
	shm_free(shm, w->tls_off);
	shm_free(shm, w->dest_off);
	w->conns_off = 0;
	w->tls_off = 0;
	w->dest_off = 0;
	w->nconns = 0;
	atomic_store(&w->pid, 0);
	shm_table_count(shm, SHM_TABLE_WORKERS, -1);
}

uint64_t
shm_conn_id_next(struct shm *shm)
{
	return atomic_fetch_add_explicit(&shm_header(shm)->conn_seq, 1, memory_order_relaxed) + 1;
}

void
shm_hist_add(struct shm_hist *h, uint64_t us)
{
	size_t lo = 0, hi = SHM_HIST_BOUNDS;

	/* The first bound >= us; SHM_HIST_BOUNDS is +Inf. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (shm_hist_bound_us[mid] < us)
			lo = mid + 1;
		else
			hi = mid;
	}
	atomic_fetch_add_explicit(&h->bucket[lo], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

/* The entry is what a live connection costs in the segment: keep it one cache line. */
_Static_assert(sizeof(struct shm_conn) == 64, "struct shm_conn is 64 bytes");

void
shm_log_dropped_add(struct shm *shm, enum shm_log log, uint64_t n)
{
	atomic_fetch_add_explicit(&shm_header(shm)->log_dropped[log], n, memory_order_relaxed);
}

uint64_t
shm_log_dropped(const struct shm *shm, enum shm_log log)
{
	return atomic_load_explicit(&shm_header(shm)->log_dropped[log], memory_order_relaxed);
}

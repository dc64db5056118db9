/*
 * TLS termination: the phase between accept and the mode, for any
 * listener with a "tls" block.  The mode's start() runs once the
 * handshake is done, on a client stream whose ops are TLS, so that no
 * mode knows TLS was there (but for what it shows of it: a proxied
 * request's scheme, the client certificate, the log fields).
 *
 *   accept --ACL--> HANDSHAKE (edge-triggered, every event) --done--> mode->start
 *                       |
 *                       +--timeout, alert, garbage, bad cert--> closed, logged at info
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/ct.h"
#include "lib/log.h"
#include "shm/stats.h"
#include "worker/conn.h"
#include "worker/stream_tls.h"
#include "worker/tls.h"
#include "worker/worker-t.h"

/*
 * Registered while the handshake runs: it may need to read or to write.
 * A mode with an io callback of its own (http) reads level-triggered
 * afterwards, so its handshake does too, and asks for EPOLLOUT only
 * when a write is blocked: the registration then needs no change when
 * the mode starts.
 */
#define TLS_HS_EVENTS (STREAM_READ_EVENTS | EPOLLOUT | EPOLLET)
#define TLS_HS_EVENTS_LT EPOLLIN

static struct shm *tls_shm;

static const struct conf_listener *
tls_listener(const struct conn *c)
{
	return &c->w->cy->conf->listeners[c->listener];
}

/*
 * The shared keys; while the master rewrites them (a read that keeps
 * meeting the write), the last ones read, which are at most one
 * rotation old.
 */
static size_t
tls_keys_from_shm(unsigned char (*keys)[CONF_TLS_TICKET_KEY_LEN], size_t max)
{
	static unsigned char last[SHM_TLS_KEYS * SHM_TLS_KEY_LEN];
	static int have;
	unsigned char all[SHM_TLS_KEYS * SHM_TLS_KEY_LEN];
	size_t n = CT_MIN(max, (size_t)SHM_TLS_KEYS);

	if (tls_shm != NULL && shm_tls_keys_read(&shm_header(tls_shm)->tls_keys, all) == CT_OK) {
		memcpy(last, all, sizeof(last));
		have = 1;
		OPENSSL_cleanse(all, sizeof(all));
	}
	if (!have)
		return 0;
	memcpy(keys, last, n * SHM_TLS_KEY_LEN);
	return n;
}

_Static_assert(SHM_TLS_KEY_LEN == CONF_TLS_TICKET_KEY_LEN, "one ticket key format");

void
tls_worker_init(struct worker *w)
{
	tls_shm = w->cy->shm;
	conf_tls_set_keys_source(tls_keys_from_shm);
}

/* src cut to len, every byte but printable ASCII as '?': the client chose them. */
static void
tls_printable(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < len; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

/* Shows c's session in the connection list. */
static void
tls_rec(struct conn *c, int v, size_t cipher)
{
	struct shm_conn_tls *t;
	char subj[sizeof(t->subject)];

	if (c->rec == NULL || v < TLS1_VERSION || v > TLS1_3_VERSION)
		return;
	if (c->w->tls_recs != NULL) {
		t = &c->w->tls_recs[c - c->w->conns];
		tls_printable(t->sni, sizeof(t->sni), tls_sni(c));
		if (tls_client_field(c, CONF_TLS_HDR_SUBJECT, subj, sizeof(subj)) == 0)
			subj[0] = '\0';
		tls_printable(t->subject, sizeof(t->subject), subj);
	}
	atomic_store_explicit(&c->rec->tls, SHM_CONN_TLS(v - TLS1_VERSION, cipher),
	    memory_order_release);
}

/* Which of the counted versions and ciphers c's session has. */
static void
tls_count_done(struct conn *c)
{
	struct shm_listener *ls = conn_listener_stats(c);
	const char *cipher;
	int v;
	size_t i;

	v = SSL_version(c->client.ssl);
	cipher = SSL_get_cipher_name(c->client.ssl);
	for (i = 0; i < SHM_TLS_CIPHERS - 1; i++)
		if (cipher != NULL && strcmp(cipher, shm_tls_cipher_names[i]) == 0)
			break;
	tls_rec(c, v, i);
	if (ls == NULL)
		return;
	atomic_fetch_add_explicit(&ls->tls.handshakes, 1, memory_order_relaxed);
	if (SSL_session_reused(c->client.ssl))
		atomic_fetch_add_explicit(&ls->tls.resumed, 1, memory_order_relaxed);
	if (v >= TLS1_VERSION && v <= TLS1_3_VERSION)
		atomic_fetch_add_explicit(&ls->tls.version[v - TLS1_VERSION], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ls->tls.cipher[i], 1, memory_order_relaxed);
}

/* Sorts the failure of c's handshake by OpenSSL's reason. */
static enum shm_tls_fail
tls_fail_kind(unsigned long e, int syscall)
{
	int r = ERR_GET_REASON(e);

	if (syscall || e == 0)
		return SHM_TLS_FAIL_CLOSED;
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return SHM_TLS_FAIL_OTHER;
	switch (r) {
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_RECORD_LENGTH_MISMATCH:
	case SSL_R_UNEXPECTED_MESSAGE:
	case SSL_R_UNEXPECTED_RECORD:
		return SHM_TLS_FAIL_NOT_TLS;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_VERSION_TOO_HIGH:
		return SHM_TLS_FAIL_PROTOCOL;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
		return SHM_TLS_FAIL_CIPHER;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return SHM_TLS_FAIL_CLIENT_CERT;
	default:
		/* Alerts the peer sent have reasons from SSL_AD_REASON_OFFSET on. */
		return r >= SSL_AD_REASON_OFFSET ? SHM_TLS_FAIL_ALERT : SHM_TLS_FAIL_OTHER;
	}
}

static void
tls_failed(struct conn *c, enum shm_tls_fail kind, const char *why)
{
	struct shm_listener *ls = conn_listener_stats(c);
	char client[ADDR_STRLEN];

	if (ls != NULL)
		atomic_fetch_add_explicit(&ls->tls.failed[kind], 1, memory_order_relaxed);
	log_info("TLS handshake failed (%s), client: %s, listener: %s", why,
	    addr_format(&c->peer.sa, client, sizeof(client)), tls_listener(c)->name);
	conn_close(c, "TLS handshake failed");
}

/*
 * Hands c to its mode as if it had just been accepted.  A mode that
 * reads the client by its own io callback (http) waits level-triggered
 * for a request first; one that hands the client to the tunnel (tcp)
 * keeps the edge-triggered registration, which the tunnel takes as it is.
 */
static void
tls_hs_done(struct conn *c)
{
	ev_timer_stop(c->w->loop, &c->timer);
	tls_count_done(c);
	c->timer.cb = c->mode->timer;
	c->client.io.cb = c->mode->io != NULL ? c->mode->io : tls_client_event;
	/* Bytes behind the Finished came with an edge the handshake took. */
	c->client.drained = 0;
	c->client.blocked = 0;
	if (c->mode->io != NULL && ev_io_want(c->w->loop, &c->client.io, EPOLLIN) != CT_OK) {
		conn_close(c, "internal error");
		return;
	}
	c->mode->start(c);
	/* Requests read ahead with the Finished: no event will say they are there. */
	if (c->state == CONN_OPEN && c->mode->io != NULL && c->client.io.cb == c->mode->io &&
	    stream_buffered(&c->client))
		c->mode->io(c->w->loop, &c->client.io, EPOLLIN);
}

static void
tls_hs_step(struct conn *c)
{
	char why[200];
	unsigned long e;
	int rc, syscall;
	long vr;

	rc = c->client.ops->handshake(&c->client);
	if (rc == CT_AGAIN) {
		if (c->mode->io != NULL && ev_io_set(c->w->loop, &c->client.io,
		    TLS_HS_EVENTS_LT | (c->client.blocked ? EPOLLOUT : 0)) != CT_OK)
			conn_close(c, "internal error");
		return;
	}
	if (rc == CT_OK) {
		tls_hs_done(c);
		return;
	}
	e = ERR_peek_last_error();
	syscall = e == 0;
	vr = SSL_get_verify_result(c->client.ssl);
	if (vr != X509_V_OK && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
		snprintf(why, sizeof(why), "client certificate: %s",
		    X509_verify_cert_error_string(vr));
	else if (e != 0)
		snprintf(why, sizeof(why), "%s", ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "unknown reason");
	else
		snprintf(why, sizeof(why), "client closed the connection");
	ERR_clear_error();
	tls_failed(c, tls_fail_kind(e, syscall), why);
}

static void
tls_hs_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(&c->client, events);
	if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
		tls_failed(c, SHM_TLS_FAIL_CLOSED, "client closed the connection");
		return;
	}
	tls_hs_step(c);
}

static void
tls_hs_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;

	(void)loop;
	tls_failed(c, SHM_TLS_FAIL_TIMEOUT, "no handshake within tls.handshake_timeout");
}

void
tls_client_event(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct conn *c = io->data;

	(void)loop;
	stream_event(&c->client, events);
}

void
tls_start(struct conn *c)
{
	const struct conf_tls *t = tls_listener(c)->tls;

	if (stream_tls_accept(&c->client, t->ctx) != CT_OK) {
		conn_close(c, "out of memory");
		return;
	}
	c->client.io.cb = tls_hs_io;
	c->timer.cb = tls_hs_timer;
	/* epoll reports a hello that is already there as soon as the socket is added. */
	if (ev_timer_start(c->w->loop, &c->timer, t->handshake_timeout_ms) != CT_OK ||
	    ev_io_set(c->w->loop, &c->client.io,
	    c->mode->io != NULL ? TLS_HS_EVENTS_LT : TLS_HS_EVENTS) != CT_OK)
		conn_close(c, "internal error");
}

/* ------------------------------------------------- what others read */

const char *
tls_version(const struct conn *c)
{
	return c->client.ssl != NULL ? SSL_get_version(c->client.ssl) : NULL;
}

const char *
tls_cipher(const struct conn *c)
{
	return c->client.ssl != NULL ? SSL_get_cipher_name(c->client.ssl) : NULL;
}

const char *
tls_sni(const struct conn *c)
{
	return c->client.ssl != NULL ?
	    SSL_get_servername(c->client.ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

int
tls_client_verified(const struct conn *c)
{
	X509 *x;
	int ok;

	if (c->client.ssl == NULL || (x = SSL_get0_peer_certificate(c->client.ssl)) == NULL)
		return 0;
	ok = SSL_get_verify_result(c->client.ssl) == X509_V_OK;
	return ok;
}

/* name as one line, RFC 2253 (what nginx's $ssl_client_s_dn shows). */
static size_t
tls_name_line(X509_NAME *name, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	if (b == NULL || len == 0)
		return 0;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0)
		n = BIO_read(b, buf, (int)len - 1);
	BIO_free(b);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

size_t
tls_client_field(const struct conn *c, enum conf_tls_header f, char *buf, size_t len)
{
	X509 *x = c->client.ssl != NULL ? SSL_get0_peer_certificate(c->client.ssl) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	const ASN1_INTEGER *serial;
	BIGNUM *bn;
	char *hex;
	long vr;
	int n;

	buf[0] = '\0';
	if (f == CONF_TLS_HDR_VERIFY) {
		if (x == NULL)
			n = snprintf(buf, len, "NONE");
		else if ((vr = SSL_get_verify_result(c->client.ssl)) == X509_V_OK)
			n = snprintf(buf, len, "SUCCESS");
		else
			n = snprintf(buf, len, "FAILED:%s", X509_verify_cert_error_string(vr));
		return n > 0 ? CT_MIN((size_t)n, len - 1) : 0;
	}
	if (x == NULL)
		return 0;
	switch (f) {
	case CONF_TLS_HDR_SUBJECT:
		return tls_name_line(X509_get_subject_name(x), buf, len);
	case CONF_TLS_HDR_ISSUER:
		return tls_name_line(X509_get_issuer_name(x), buf, len);
	case CONF_TLS_HDR_SERIAL:
		serial = X509_get0_serialNumber(x);
		if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL)
			return 0;
		hex = BN_bn2hex(bn);
		BN_free(bn);
		if (hex == NULL)
			return 0;
		n = snprintf(buf, len, "%s", hex);
		OPENSSL_free(hex);
		return n > 0 ? CT_MIN((size_t)n, len - 1) : 0;
	case CONF_TLS_HDR_FINGERPRINT:
		if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || len < 2 * (size_t)mdlen + 1)
			return 0;
		for (i = 0; i < mdlen; i++) {
			buf[2 * i] = "0123456789abcdef"[md[i] >> 4];
			buf[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
		}
		buf[2 * mdlen] = '\0';
		return 2 * (size_t)mdlen;
	default:
		return 0;
	}
}

/*
 * src into dst as the inside of a quoted value of either log format:
 * '"' and '\\' escaped, any byte but printable ASCII as '?' (a server
 * name and a subject come from the client).
 */
static void
tls_log_escape(char *dst, size_t len, const char *src)
{
	size_t o = 0;

	for (; src != NULL && *src != '\0' && o + 3 < len; src++) {
		unsigned char ch = (unsigned char)*src;

		if (ch == '"' || ch == '\\')
			dst[o++] = '\\';
		dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[o] = '\0';
}

void
tls_log_fields(const struct conn *c, int json, char *buf, size_t len)
{
	char sni[260], subj[260], raw[256];

	buf[0] = '\0';
	if (c->client.ssl == NULL || !SSL_is_init_finished(c->client.ssl))
		return;
	tls_log_escape(sni, sizeof(sni), tls_sni(c));
	if (tls_client_field(c, CONF_TLS_HDR_SUBJECT, raw, sizeof(raw)) == 0)
		raw[0] = '\0';
	tls_log_escape(subj, sizeof(subj), raw);
	if (json)
		snprintf(buf, len, ",\"tls\":\"%s\",\"cipher\":\"%s\",\"sni\":%s%s%s,"
		    "\"client_cert\":%s%s%s", tls_version(c), tls_cipher(c),
		    sni[0] != '\0' ? "\"" : "", sni[0] != '\0' ? sni : "null",
		    sni[0] != '\0' ? "\"" : "", subj[0] != '\0' ? "\"" : "",
		    subj[0] != '\0' ? subj : "null", subj[0] != '\0' ? "\"" : "");
	else
		snprintf(buf, len, " tls=%s cipher=%s sni=\"%s\" client_cert=\"%s\"",
		    tls_version(c), tls_cipher(c), sni[0] != '\0' ? sni : "-",
		    subj[0] != '\0' ? subj : "-");
}

/*
 * Active and passive health; see health.h.
 *
 *   IDLE --interval--> CONNECT --connected--> (tcp: success)
 *                                  |          (http: [TLS] --> SEND --> RECV --> judged)
 *                                  +--error or timeout--> failure
 *
 * An http check of an upstream with tls runs over TLS with the
 * upstream's own context, so it verifies what the workers verify: a
 * certificate they would refuse is a failed check, with the reason.
 *
 * One timer per server serves both as the interval and as the timeout
 * of the check in progress.  A response is read into a fixed buffer
 * (head and the first HEALTH_BODY_MAX bytes of body), parsed by the
 * strict parser, and judged by its status and, if asked, a substring.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/ct.h"
#include "lib/http_parse.h"
#include "lib/log.h"
#include "master/health.h"
#include "master/health_int.h"
#include "shm/backend.h"
#include "shm/events.h"

#define HEALTH_BODY_MAX   65536
#define HEALTH_BUF        (HEALTH_BODY_MAX + 16384)
#define HEALTH_PASSIVE_MS 250      /* how often taken-out servers are looked at */

static void hc_io(struct ev_loop *loop, struct ev_io *io, uint32_t events);
static void hc_timer(struct ev_loop *loop, struct ev_timer *t);

uint64_t
health_rand(struct health *h)
{
	/* xorshift64*: spreading probes needs no more than this */
	h->seed ^= h->seed >> 12;
	h->seed ^= h->seed << 25;
	h->seed ^= h->seed >> 27;
	return h->seed * UINT64_C(2685821657736338717);
}

/* The interval with +-10% jitter. */
static uint64_t
hc_next_ms(struct hc *c)
{
	uint64_t iv = c->u->health.interval_ms, j = iv / 10;

	return j == 0 ? iv : iv - j + health_rand(c->owner) % (2 * j + 1);
}

static void
hc_close(struct hc *c)
{
	if (c->ssl != NULL) {
		/* No close_notify: it could block, and says nothing to a check. */
		SSL_set_quiet_shutdown(c->ssl, 1);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1) {
		ev_io_stop(c->owner->loop, &c->io);
		close(c->fd);
		c->fd = -1;
	}
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
	c->sent = 0;
	c->state = HC_IDLE;
}

/* A change of the server's health, for the event ring: run checks in a row did it. */
void
hc_event(const struct hc *c, unsigned flag, unsigned run, const char *why)
{
	struct shm_event ev;

	shm_event_init(&ev, SHM_EV_HEALTH);
	ev.backend = (int16_t)c->backend;
	ev.flag = (uint8_t)flag;
	ev.n[0] = run;
	if (why != NULL)
		shm_event_text(&ev, why);
	(void)shm_event_write(c->owner->shm, &ev);
}

/* One check is over: count it, change the server's state when due. */
static void
hc_done(struct hc *c, int ok, const char *why)
{
	uint64_t now = ev_now(c->owner->loop);
	const struct conf_health *hl = &c->u->health;

	atomic_store_explicit(&c->b->check_us, (now - c->started) * 1000, memory_order_relaxed);
	hc_close(c);
	/* Passive checks may have taken the server out behind our back. */
	if (c->up && (atomic_load(&c->b->state) & SHM_BACKEND_DOWN)) {
		c->up = 0;
		c->ok_run = 0;
	}
	if (ok) {
		c->fail_run = 0;
		if (!c->up && ++c->ok_run >= hl->rise) {
			c->up = 1;
			atomic_store_explicit(&c->b->down_until_ms, 0, memory_order_relaxed);
			shm_backend_health_set(c->b, 1, now);
			log_notice("upstream \"%s\" server %s is up (%u successful checks)",
			    c->u->name, c->s->address, c->ok_run);
			hc_event(c, SHM_EV_HEALTH_UP, c->ok_run, NULL);
		}
	} else {
		c->ok_run = 0;
		shm_text_write(&c->b->check_reason, why);
		if (c->up && ++c->fail_run >= hl->fall) {
			c->up = 0;
			shm_backend_health_set(c->b, 0, now);
			log_warnx("upstream \"%s\" server %s is down: %s (%u failed checks)",
			    c->u->name, c->s->address, why, c->fail_run);
			hc_event(c, 0, c->fail_run, why);
		}
	}
	health_lease_result(c);
	if (ev_timer_start(c->owner->loop, &c->timer, hc_next_ms(c)) != CT_OK)
		log_alert("cannot arm the health check timer of %s", c->s->address);
}

/* Judges a complete (or ended) http response. */
static void
hc_judge(struct hc *c, int eof)
{
	const struct conf_health *hl = &c->u->health;
	struct http_response resp;
	char why[96];
	size_t i;
	int rc;

	rc = http_parse_response(c->buf, c->len, NULL, 0, &resp);
	if (rc == CT_AGAIN) {
		if (eof || c->len == HEALTH_BUF)
			hc_done(c, 0, "incomplete response");
		return;
	}
	if (rc != CT_OK) {
		snprintf(why, sizeof(why), "invalid response: %s", resp.h.error);
		hc_done(c, 0, why);
		return;
	}
	/* The body matters only when a substring is asked for. */
	if (hl->body != NULL && !eof && c->len < HEALTH_BUF &&
	    !(resp.h.framing == HTTP_BODY_LENGTH &&
	      c->len - resp.h.head_len >= resp.h.content_length))
		return;
	for (i = 0; i < hl->nexpect; i++)
		if ((unsigned)resp.code >= hl->expect[i].lo && (unsigned)resp.code <= hl->expect[i].hi)
			break;
	if (i == hl->nexpect) {
		snprintf(why, sizeof(why), "status %d", resp.code);
		hc_done(c, 0, why);
		return;
	}
	if (hl->body != NULL && memmem(c->buf + resp.h.head_len, c->len - resp.h.head_len,
	    hl->body, strlen(hl->body)) == NULL) {
		hc_done(c, 0, "body does not contain the expected text");
		return;
	}
	hc_done(c, 1, NULL);
}

/* ------------------------------------------------------------ TLS */

/*
 * The outcome of a TLS call that did not succeed: CT_AGAIN with the
 * event to wait for set, or CT_ERROR with why filled in (the verify
 * result for a certificate, else OpenSSL's reason).  CT_DONE: the end.
 */
static int
hc_tls_fail(struct hc *c, int rc, char *why, size_t len)
{
	int err = SSL_get_error(c->ssl, rc);
	unsigned long e = ERR_peek_last_error();
	long vr = SSL_get_verify_result(c->ssl);

	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		if (ev_io_set(c->owner->loop, &c->io,
		    err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT) == CT_OK)
			return CT_AGAIN;
		snprintf(why, len, "epoll_ctl() failed");
		return CT_ERROR;
	}
	if (err == SSL_ERROR_ZERO_RETURN)
		return CT_DONE;
	if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK)
		snprintf(why, len, "SSL certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	else if (e != 0 && ERR_reason_error_string(e) != NULL)
		snprintf(why, len, "SSL: %s", ERR_reason_error_string(e));
	else
		snprintf(why, len, "%s", errno != 0 ? strerror(errno) : "connection closed");
	ERR_clear_error();
	return CT_ERROR;
}

static void
hc_tls_step(struct hc *c)
{
	char why[160];
	int rc;

	ERR_clear_error();
	errno = 0;
	if ((rc = SSL_do_handshake(c->ssl)) != 1) {
		if (hc_tls_fail(c, rc, why, sizeof(why)) != CT_AGAIN)
			hc_done(c, 0, why);
		return;
	}
	c->state = HC_SEND;
	if (ev_io_set(c->owner->loop, &c->io, EPOLLOUT) != CT_OK)
		hc_done(c, 0, "epoll_ctl() failed");
}

/* Starts the handshake: the name the workers send, else the server's address. */
static void
hc_tls_begin(struct hc *c)
{
	const struct conf_tls_upstream *t = c->u->tls;

	if ((c->ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    conf_tls_upstream_peer(t, c->ssl, t->name_host ? NULL : t->name,
	    (const struct sockaddr *)&c->s->addr.ss) != CT_OK) {
		ERR_clear_error();
		hc_done(c, 0, "out of memory");
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->state = HC_TLS;
	hc_tls_step(c);
}

/*
 * Sends or receives over the socket or TLS: bytes, 0 at the end,
 * CT_AGAIN (the event to wait for is set), or CT_ERROR with why.
 */
static ssize_t
hc_xfer(struct hc *c, int sending, char *why, size_t len)
{
	size_t done;
	ssize_t n;
	int rc;

	if (c->ssl == NULL) {
		n = sending ? send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL) :
		    recv(c->fd, c->buf + c->len, HEALTH_BUF - c->len, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return CT_AGAIN;
		if (n == -1)
			snprintf(why, len, "%s", strerror(errno));
		return n == -1 ? CT_ERROR : n;
	}
	ERR_clear_error();
	errno = 0;
	rc = sending ? SSL_write_ex(c->ssl, c->req + c->sent, c->req_len - c->sent, &done) :
	    SSL_read_ex(c->ssl, c->buf + c->len, HEALTH_BUF - c->len, &done);
	if (rc == 1)
		return (ssize_t)done;
	rc = hc_tls_fail(c, rc, why, len);
	return rc == CT_DONE ? 0 : rc;
}

static void
hc_connected(struct hc *c)
{
	if (c->u->health.type == CONF_CHECK_TCP) {
		hc_done(c, 1, NULL);
		return;
	}
	if (c->u->tls != NULL) {
		hc_tls_begin(c);
		return;
	}
	c->state = HC_SEND;
	if (ev_io_set(c->owner->loop, &c->io, EPOLLOUT) != CT_OK)
		hc_done(c, 0, "epoll_ctl() failed");
}

static void
hc_start(struct hc *c)
{
	struct sockaddr_storage ss = c->s->addr.ss;
	int fd;

	c->started = ev_now(c->owner->loop);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		hc_done(c, 0, strerror(errno));
		return;
	}
	c->fd = fd;
	ev_io_init(&c->io, fd, hc_io, c);
	ev_timer_start(c->owner->loop, &c->timer, c->u->health.timeout_ms);
	if (connect(fd, (struct sockaddr *)&ss, c->s->addr.len) == 0) {
		hc_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		hc_done(c, 0, strerror(errno));
		return;
	}
	c->state = HC_CONNECT;
	if (ev_io_set(c->owner->loop, &c->io, EPOLLOUT) != CT_OK)
		hc_done(c, 0, "epoll_ctl() failed");
}

static void
hc_io(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct hc *c = io->data;
	socklen_t len = sizeof(int);
	char why[160];
	int err = 0;
	ssize_t n;

	(void)loop;
	(void)events;
	switch (c->state) {
	case HC_CONNECT:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0)
			hc_done(c, 0, strerror(err));
		else
			hc_connected(c);
		return;
	case HC_TLS:
		hc_tls_step(c);
		return;
	case HC_SEND:
		n = hc_xfer(c, 1, why, sizeof(why));
		if (n == CT_AGAIN)
			return;
		if (n <= 0) {
			hc_done(c, 0, n == 0 ? "connection closed" : why);
			return;
		}
		c->sent += (size_t)n;
		if (c->sent < c->req_len)
			return;
		if ((c->buf = malloc(HEALTH_BUF)) == NULL) {
			hc_done(c, 0, "out of memory");
			return;
		}
		c->state = HC_RECV;
		if (ev_io_set(c->owner->loop, &c->io, EPOLLIN) != CT_OK)
			hc_done(c, 0, "epoll_ctl() failed");
		return;
	case HC_RECV:
		/* Until the socket is empty: TLS may hold bytes no event announces. */
		while (c->state == HC_RECV) {
			n = hc_xfer(c, 0, why, sizeof(why));
			if (n == CT_AGAIN)
				return;
			if (n < 0) {
				hc_done(c, 0, why);
				return;
			}
			c->len += (size_t)n;
			hc_judge(c, n == 0);
			if (n == 0 || c->ssl == NULL)
				return;
		}
		return;
	case HC_IDLE:
		return;
	}
}

static void
hc_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct hc *c = t->data;

	(void)loop;
	if (c->state == HC_IDLE)
		hc_start(c);
	else
		hc_done(c, 0, "timed out");
}

/*
 * Brings back the servers that passive checks took out, once their
 * fail_timeout is over, where no active check decides instead.
 */
static void
health_passive_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct health *h = t->data;
	uint64_t now = ev_now(loop);
	size_t i;

	for (i = 0; i < h->n; i++) {
		struct hc *c = &h->v[i];
		uint64_t until = atomic_load_explicit(&c->b->down_until_ms, memory_order_relaxed);

		if (c->u->health.type != CONF_CHECK_NONE || until == 0 || now < until)
			continue;
		atomic_store_explicit(&c->b->down_until_ms, 0, memory_order_relaxed);
		shm_backend_health_set(c->b, 1, now);
		log_notice("upstream \"%s\" server %s is up again after fail_timeout",
		    c->u->name, c->s->address);
		hc_event(c, SHM_EV_HEALTH_UP | SHM_EV_HEALTH_PASSIVE, 0, "fail_timeout is over");
	}
	ev_timer_start(loop, t, HEALTH_PASSIVE_MS);
}

static int
hc_init(struct health *h, struct hc *c, const struct cycle *cy, size_t up, size_t srv)
{
	const struct conf_upstream *u = &cy->conf->upstreams[up];
	int n;

	c->owner = h;
	c->u = u;
	c->s = &u->servers[srv];
	c->backend = cy->upstreams[up].backend[srv];
	c->b = shm_backend_get(cy->shm, c->backend);
	c->fd = -1;
	c->up = !(atomic_load(&c->b->state) & SHM_BACKEND_DOWN);
	ev_timer_init(&c->timer, hc_timer, c);
	if (u->health.type != CONF_CHECK_HTTP)
		return CT_OK;
	/* A fixed TLS name is the site the server is known by. */
	n = asprintf(&c->req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
	    "User-Agent: cuttle-health\r\n\r\n", u->health.path,
	    u->tls != NULL && u->tls->name != NULL ? u->tls->name : c->s->address);
	if (n < 0) {
		c->req = NULL;
		c->broken = 1;
		return CT_ERROR;
	}
	c->req_len = (size_t)n;
	return CT_OK;
}

int
hc_checking(const struct hc *c)
{
	return c->state != HC_IDLE || ev_timer_active(&c->timer);
}

void
hc_resume(struct hc *c, uint64_t delay_ms)
{
	struct health *h = c->owner;

	if (c->broken || hc_checking(c))
		return;
	/* Where the checks left off: shm holds what was adopted meanwhile. */
	c->up = !(atomic_load(&c->b->state) & SHM_BACKEND_DOWN);
	c->ok_run = 0;
	c->fail_run = 0;
	if (ev_timer_start(h->loop, &c->timer, health_rand(h) % (delay_ms + 1)) != CT_OK)
		log_alert("cannot arm the health check timer of %s", c->s->address);
}

void
hc_pause(struct hc *c)
{
	hc_close(c);
	ev_timer_stop(c->owner->loop, &c->timer);
}

void
health_up_checks(struct health_up *hu, int on, uint64_t delay_ms)
{
	size_t i;

	for (i = 0; i < hu->n; i++) {
		if (on)
			hc_resume(&hu->v[i], delay_ms);
		else
			hc_pause(&hu->v[i]);
	}
}

/* The upstreams with active checks, each over its run of h->v. */
static int
health_ups_init(struct health *h, const struct cycle *cy)
{
	size_t i, first = 0;

	if ((h->ups = calloc(cy->conf->nupstreams + 1, sizeof(*h->ups))) == NULL)
		return CT_ERROR;
	for (i = 0; i < cy->conf->nupstreams; i++) {
		const struct conf_upstream *u = &cy->conf->upstreams[i];
		struct health_up *hu = &h->ups[h->nups];
		size_t k;

		first += u->nservers;
		hu->su = shm_upstream_get(cy->shm, cy->upstreams[i].shm_idx);
		if (u->health.type == CONF_CHECK_NONE) {
			atomic_store(&hu->su->probe, SHM_PROBE_NONE);
			continue;
		}
		hu->owner = h;
		hu->u = u;
		hu->v = &h->v[first - u->nservers];
		hu->n = u->nservers;
		for (k = 0; k < hu->n; k++)
			hu->v[k].hu = hu;
		h->nups++;
	}
	return CT_OK;
}

struct health *
health_start(struct ev_loop *loop, const struct cycle *cy)
{
	struct health *h;
	size_t i, k, n = 0;

	for (i = 0; i < cy->conf->nupstreams; i++)
		n += cy->conf->upstreams[i].nservers;
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->v = calloc(n + 1, sizeof(*h->v))) == NULL ||
	    health_ups_init(h, cy) != CT_OK) {
		if (h != NULL)
			free(h->v);
		free(h);
		log_warnx("out of memory for health checks");
		return NULL;
	}
	h->loop = loop;
	h->shm = cy->shm;
	h->seed = (uint64_t)getpid() * UINT64_C(0x9e3779b97f4a7c15) ^ ev_clock_ms();
	for (i = 0; i < cy->conf->nupstreams; i++) {
		const struct conf_upstream *u = &cy->conf->upstreams[i];

		h->any_passive |= u->health.max_fails > 0;
		for (k = 0; k < u->nservers; k++)
			if (hc_init(h, &h->v[h->n++], cy, i, k) != CT_OK)
				log_warnx("cannot start the health checks of %s", u->servers[k].address);
	}
	ev_timer_init(&h->passive, health_passive_timer, h);
	if (h->any_passive)
		ev_timer_start(loop, &h->passive, HEALTH_PASSIVE_MS);
	health_lease_start(h);
	return h;
}

void
health_stop(struct health *h)
{
	size_t i;

	if (h == NULL)
		return;
	health_lease_stop(h);
	for (i = 0; i < h->n; i++) {
		hc_close(&h->v[i]);
		ev_timer_stop(h->loop, &h->v[i].timer);
		free(h->v[i].req);
	}
	ev_timer_stop(h->loop, &h->passive);
	free(h->ups);
	free(h->v);
	free(h);
}

void
health_forget(struct health *h)
{
	size_t i;

	for (i = 0; h != NULL && i < h->n; i++)
		if (h->v[i].fd != -1)
			close(h->v[i].fd);
}

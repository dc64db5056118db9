/*
 * TLS behind the stream ops (stream.h has the contract), over OpenSSL
 * on the stream's non-blocking socket.
 *
 * What differs from a plain socket and how the contract carries it:
 *  - a read may have to write (a key update, a ticket) and a write may
 *    have to read: read_wants_out and write_wants_in say which event
 *    to wait for, stream_events() turns them into epoll interest;
 *  - OpenSSL may hold decrypted bytes that no socket event announces:
 *    a read that got bytes never marks the stream drained, and
 *    buffered() tells the owner that a read would return more;
 *  - a write that answered CT_AGAIN has a record under way in the
 *    library, and must be called again with the same bytes, which every
 *    owner does: its buffer only moves on what was written;
 *  - bytes cross user space, so there is no splice (tls.ktls only has
 *    OpenSSL hand the encryption to the kernel where it can);
 *  - the end of the stream is the peer's close_notify, or its FIN
 *    without one (SSL_OP_IGNORE_UNEXPECTED_EOF): a proxy relays what
 *    came either way, as nginx and HAProxy do.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/ct.h"
#include "worker/stream.h"
#include "worker/stream_tls.h"

/* Bytes of a writev gathered into one record. */
#define STREAM_TLS_GATHER 16384

/* Maps a failed call's SSL error to the contract; sets the wants. */
static ssize_t
stream_tls_fail(struct stream *s, int rc, int reading)
{
	int err = SSL_get_error(s->ssl, rc);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		if (reading) {
			s->drained = 1;
			s->read_wants_out = 0;
		} else {
			s->blocked = 1;
			s->write_wants_in = 1;
		}
		return CT_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (reading) {
			s->drained = 1;
			s->read_wants_out = 1;
		} else {
			s->blocked = 1;
			s->write_wants_in = 0;
		}
		return CT_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return CT_DONE;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			errno = ECONNRESET;
		break;
	default:
		errno = EPROTO;
		break;
	}
	ERR_clear_error();
	return CT_ERROR;
}

static ssize_t
stream_tls_read(struct stream *s, void *buf, size_t len)
{
	size_t n;
	int rc;

	if (s->drained)
		return s->rdhup && !s->read_wants_out ? CT_DONE : CT_AGAIN;
	ERR_clear_error();
	rc = SSL_read_ex(s->ssl, buf, len, &n);
	if (rc == 1) {
		s->read_wants_out = 0;
		/*
		 * With nothing left in the library, the next read would mostly
		 * meet an empty socket.  A level-triggered owner is told again
		 * of what the socket still holds, so it may skip that read; an
		 * edge-triggered one would never hear of it.
		 */
		if (!(s->io.events & EPOLLET) && !SSL_has_pending(s->ssl))
			s->drained = 1;
		return (ssize_t)n;
	}
	return stream_tls_fail(s, rc, 1);
}

static ssize_t
stream_tls_write(struct stream *s, const void *buf, size_t len)
{
	size_t n;
	int rc;

	if (len == 0)
		return CT_AGAIN;
	ERR_clear_error();
	rc = SSL_write_ex(s->ssl, buf, len, &n);
	if (rc == 1) {
		s->write_wants_in = 0;
		return (ssize_t)n;
	}
	return stream_tls_fail(s, rc, 0);
}

/*
 * A head and a body in one record where they fit: the pieces are
 * gathered first.  A retry after CT_AGAIN passes the same iovecs, so
 * the same bytes reach the record under way.
 */
static ssize_t
stream_tls_writev(struct stream *s, const struct iovec *iov, int iovcnt)
{
	static unsigned char gather[STREAM_TLS_GATHER];
	size_t len = 0, n;
	int i;

	if (iovcnt == 1 || iov[0].iov_len >= sizeof(gather))
		return stream_tls_write(s, iov[0].iov_base, iov[0].iov_len);
	for (i = 0; i < iovcnt && len < sizeof(gather); i++) {
		n = CT_MIN(iov[i].iov_len, sizeof(gather) - len);
		memcpy(gather + len, iov[i].iov_base, n);
		len += n;
	}
	return stream_tls_write(s, gather, len);
}

/*
 * After CT_ERROR, OpenSSL's error queue says why the handshake failed:
 * the TLS layer that called (worker/tls.c, the connector) reads it for
 * its log line and clears it.
 */
static int
stream_tls_handshake(struct stream *s)
{
	int rc, err;

	ERR_clear_error();
	rc = SSL_do_handshake(s->ssl);
	if (rc == 1)
		return CT_OK;
	err = SSL_get_error(s->ssl, rc);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return stream_tls_fail(s, rc, err == SSL_ERROR_WANT_READ ? 1 : 0) == CT_AGAIN ?
		    CT_AGAIN : CT_ERROR;
	if (err == SSL_ERROR_SYSCALL && errno == 0)
		errno = ECONNRESET;
	else if (err != SSL_ERROR_SYSCALL)
		errno = EPROTO;
	return CT_ERROR;
}

/*
 * close_notify, then the FIN: a peer that reads TLS sees the end, and
 * one that waits for the socket's end sees it too.
 */
static int
stream_tls_shutdown_write(struct stream *s)
{
	int rc;

	ERR_clear_error();
	rc = SSL_shutdown(s->ssl);
	if (rc < 0) {
		int err = SSL_get_error(s->ssl, rc);

		ERR_clear_error();
		if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
			s->blocked = 1;
			s->write_wants_in = err == SSL_ERROR_WANT_READ;
			return CT_AGAIN;
		}
		/* The peer went away first: the FIN is all that is left to send. */
	}
	return shutdown(s->fd, SHUT_WR) == -1 ? CT_ERROR : CT_OK;
}

/* Decrypted bytes, or records read ahead and not yet decrypted. */
static int
stream_tls_buffered(const struct stream *s)
{
	return SSL_has_pending(s->ssl);
}

/*
 * A session that is up says it ends with a close_notify, so that the
 * peer can keep it for resumption and tell the end from a truncation:
 * one try, which a full socket or a peer gone makes fail, and the
 * socket closes all the same.
 */
static void
stream_tls_release(struct stream *s)
{
	if (SSL_is_init_finished(s->ssl) && !(SSL_get_shutdown(s->ssl) & SSL_SENT_SHUTDOWN))
		(void)SSL_shutdown(s->ssl);
	ERR_clear_error();
	/*
	 * Marked as shut down whatever the try gave, as nginx does, so that
	 * OpenSSL does not take the session for a bad one and make it
	 * unresumable: a proxy closes idle connections as a matter of course.
	 */
	SSL_set_quiet_shutdown(s->ssl, 1);
	SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(s->ssl);
	s->ssl = NULL;
}

const struct stream_ops stream_tls_ops = {
	.read = stream_tls_read,
	.peek = NULL,
	.write = stream_tls_write,
	.write_last = stream_tls_write,
	.writev = stream_tls_writev,
	.handshake = stream_tls_handshake,
	.shutdown_write = stream_tls_shutdown_write,
	.splice_read = NULL,
	.splice_write = NULL,
	.buffered = stream_tls_buffered,
	.release = stream_tls_release,
};

int
stream_tls_accept(struct stream *s, SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL || SSL_set_fd(ssl, s->fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return CT_ERROR;
	}
	SSL_set_accept_state(ssl);
	s->ssl = ssl;
	s->ops = &stream_tls_ops;
	return CT_OK;
}

int
stream_tls_connect(struct stream *s, SSL_CTX *ctx, const char *sni, SSL_SESSION *sess)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL || SSL_set_fd(ssl, s->fd) != 1 ||
	    (sni != NULL && (SSL_set_tlsext_host_name(ssl, sni) != 1 ||
	    SSL_set1_host(ssl, sni) != 1)) ||
	    (sess != NULL && SSL_set_session(ssl, sess) != 1)) {
		SSL_free(ssl);
		ERR_clear_error();
		return CT_ERROR;
	}
	SSL_set_connect_state(ssl);
	s->ssl = ssl;
	s->ops = &stream_tls_ops;
	return CT_OK;
}

/*
 * Streaming gzip for HTTP response bodies (zlib, RFC 1952 framing).
 * The caller owns buffers and framing; the filter only turns bytes in
 * into compressed bytes out, a step at a time, so that a slow client
 * applies backpressure all the way to the upstream.
 */
#ifndef CT_WORKER_GZIP_H
#define CT_WORKER_GZIP_H

#include <stddef.h>

struct gzip_filter;

/* level 1..9; NULL when zlib cannot allocate its state. */
struct gzip_filter *gzip_new(int level);
void gzip_free(struct gzip_filter *g);

/*
 * Compresses from in[0..inlen) into out[0..outcap).  *consumed and
 * *produced say how far each went.  With finish set and all input
 * consumed, the stream is closed; *done is set once the trailer is out.
 * Returns CT_OK or CT_ERROR.
 */
int gzip_step(struct gzip_filter *g, const char *in, size_t inlen, size_t *consumed,
    char *out, size_t outcap, size_t *produced, int finish, int *done);

#endif

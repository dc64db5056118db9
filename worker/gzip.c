/*
 * gzip compression of response bodies with zlib, for http_filter.c's
 * gzip filter: one deflate stream per compressed response.
 */
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "lib/ct.h"
#include "worker/gzip.h"

struct gzip_filter {
	z_stream z;
};

struct gzip_filter *
gzip_new(int level)
{
	struct gzip_filter *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	/* windowBits 15 + 16: a gzip header and trailer around the deflate data;
	 * memLevel 8 is zlib's default and keeps a stream near 256 KiB. */
	if (deflateInit2(&g->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(g);
		return NULL;
	}
	return g;
}

void
gzip_free(struct gzip_filter *g)
{
	if (g == NULL)
		return;
	deflateEnd(&g->z);
	free(g);
}

int
gzip_step(struct gzip_filter *g, const char *in, size_t inlen, size_t *consumed,
    char *out, size_t outcap, size_t *produced, int finish, int *done)
{
	int rc;

	g->z.next_in = (Bytef *)(uintptr_t)in;
	g->z.avail_in = (uInt)inlen;
	g->z.next_out = (Bytef *)out;
	g->z.avail_out = (uInt)outcap;
	/* Z_SYNC_FLUSH would send every piece at once at a cost in ratio;
	 * without it, zlib holds bytes until it has a block worth sending. */
	rc = deflate(&g->z, finish ? Z_FINISH : Z_NO_FLUSH);
	*consumed = inlen - g->z.avail_in;
	*produced = outcap - g->z.avail_out;
	*done = rc == Z_STREAM_END;
	return rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR ? CT_OK : CT_ERROR;
}

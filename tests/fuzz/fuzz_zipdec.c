/*
 * libFuzzer target for the zip decoders of ours: the first byte picks
 * inflate64 in deflate mode (checked against zlib: where zlib decodes the
 * stream to its end, ours must give the same bytes), in deflate64 mode, or
 * explode (flags and size from the next bytes); the rest is the data. The
 * output is capped, as the walker's limits cap it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "scan/explode.h"
#include "scan/inflate64.h"

#define OUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	unsigned char *buf;
	size_t len;
};

static int
out_cb(void *arg, const unsigned char *buf, size_t len)
{
	struct out *o = arg;

	if (o->len + len > OUT_MAX)
		return -1;
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return 0;
}

/* zlib's raw inflate of in: its output length, or -1 if it does not end cleanly. */
static long
zlib_inflate(const uint8_t *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream zs;
	int r;

	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		return -1;
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	r = inflate(&zs, Z_FINISH);
	inflateEnd(&zs);
	return r == Z_STREAM_END ? (long)(cap - zs.avail_out) : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char *buf, *ref;
	struct out o;
	size_t used = 0;
	int r;

	if (size < 4)
		return 0;
	if (buf == NULL) {
		buf = malloc(OUT_MAX);
		ref = malloc(OUT_MAX);
		if (buf == NULL || ref == NULL)
			abort();
	}
	o.buf = buf;
	o.len = 0;
	switch (data[0] % 3) {
	case 0: {
		long zl;

		r = inflate64(data + 1, size - 1, 0, out_cb, &o, &used);
		zl = zlib_inflate(data + 1, size - 1, ref, OUT_MAX);
		if (zl >= 0 && r != ZDEC_STOPPED &&
		    (r != ZDEC_OK || (size_t)zl != o.len || memcmp(ref, buf, o.len) != 0))
			abort();
		break;
	}
	case 1:
		r = inflate64(data + 1, size - 1, 1, out_cb, &o, &used);
		break;
	default:
		r = explode(data + 4, size - 4, data[1] & 6,
		            data[2] | (uint64_t)data[3] << 8 | 1u << 16, out_cb, &o, &used);
		break;
	}
	if (used > size || r < ZDEC_BAD || r > ZDEC_STOPPED)
		abort();
	return 0;
}

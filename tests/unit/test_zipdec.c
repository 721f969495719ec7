/*
 * Unit tests for the zip decoders of ours: inflate64 (deflate against
 * zlib on a table of inputs and levels; deflate64's own codes, built bit
 * by bit; damage, truncation, stop) and explode (clam.impl.zip from
 * clamav-testfiles; a stream built by hand; truncation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "scan/explode.h"
#include "scan/inflate64.h"
#include "file_fixture.h"

#define CLAM_MD5 "aa15bcf478d165efd2065190eb473bcb"

/* What a decoder handed on. */
struct out {
	unsigned char *buf;
	size_t len, cap;
	size_t stop_after; /* say stop once this many bytes came (0: never) */
	size_t maxcall;
};

static int
out_cb(void *arg, const unsigned char *buf, size_t len)
{
	struct out *o = arg;

	if (o->len + len > o->cap) {
		o->cap = (o->len + len) * 2;
		o->buf = realloc(o->buf, o->cap);
		assert_non_null(o->buf);
	}
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	if (len > o->maxcall)
		o->maxcall = len;
	return o->stop_after && o->len >= o->stop_after ? -1 : 0;
}

/* Raw deflate of in[0..n) at level (zlib); *clen its length. Caller frees. */
static unsigned char *
zdeflate(const unsigned char *in, size_t n, int level, int strategy, size_t *clen)
{
	z_stream zs;
	size_t cap = compressBound((uLong)n) + 64;
	unsigned char *out = malloc(cap);

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, -15, 8, strategy), Z_OK);
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*clen = cap - zs.avail_out;
	deflateEnd(&zs);
	return out;
}

static void
test_inflate_matches_zlib(void **state)
{
	static const struct {
		const char *what;
		int level, strategy;
	} modes[] = {
	    {"stored", 0, Z_DEFAULT_STRATEGY},
	    {"fast", 1, Z_DEFAULT_STRATEGY},
	    {"default", 6, Z_DEFAULT_STRATEGY},
	    {"best", 9, Z_DEFAULT_STRATEGY},
	    {"fixed", 6, Z_FIXED},
	    {"huffman", 6, Z_HUFFMAN_ONLY},
	    {"rle", 6, Z_RLE},
	};
	static const size_t sizes[] = {0, 1, 100, 40000, 300000};
	(void)state;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		unsigned char *in = malloc(n + 1);

		/* Text-like runs and noise, so that every block type and code shows. */
		srand(7);
		for (size_t i = 0; i < n; i++)
			in[i] = (i / 1000) % 3 == 0
			            ? (unsigned char)rand()
			            : (unsigned char)("abcab"[i % 5] + (i / 7000) % 3);
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			size_t clen, used = 0;
			unsigned char *c =
			    zdeflate(in, n, modes[m].level, modes[m].strategy, &clen);
			struct out o = {0};

			assert_int_equal(inflate64(c, clen, 0, out_cb, &o, &used), ZDEC_OK);
			if (o.len != n || (n && memcmp(o.buf, in, n) != 0))
				fail_msg("%s, %zu bytes: output differs", modes[m].what, n);
			assert_int_equal(used, clen);
			assert_true(o.maxcall <= 32768);
			free(o.buf);
			free(c);
		}
		free(in);
	}
}

static void
test_inflate_damage(void **state)
{
	static const unsigned char text[] = "hello hello hello hello hello, deflate";
	size_t clen, used;
	unsigned char *c = zdeflate(text, sizeof(text), 9, Z_DEFAULT_STRATEGY, &clen);
	struct out o = {0};
	(void)state;

	/* Every cut is truncated (or bad), never OK. */
	for (size_t cut = 0; cut < clen; cut++) {
		int r = inflate64(c, cut, 0, out_cb, &o, &used);

		assert_true(r == ZDEC_TRUNCATED || r == ZDEC_BAD);
		assert_true(used <= cut);
		o.len = 0;
	}
	/* Block type 3 is reserved. */
	assert_int_equal(inflate64((const unsigned char *)"\x07", 1, 0, out_cb, &o, &used),
	                 ZDEC_BAD);
	/* A stored block whose length check fails. */
	assert_int_equal(
	    inflate64((const unsigned char *)"\x01\x05\x00\x00\x00hello", 10, 0, out_cb, &o, &used),
	    ZDEC_BAD);
	free(o.buf);
	free(c);
}

/* A deflate bit writer for hand-made streams. */
struct bw {
	unsigned char buf[4096];
	size_t len;
	uint32_t acc;
	int n;
};

static void
bw_put(struct bw *b, uint32_t v, int n)
{
	b->acc |= v << b->n;
	b->n += n;
	while (b->n >= 8) {
		assert_true(b->len < sizeof(b->buf));
		b->buf[b->len++] = (unsigned char)b->acc;
		b->acc >>= 8;
		b->n -= 8;
	}
}

/* A Huffman code, most significant bit first. */
static void
bw_huff(struct bw *b, uint32_t code, int n)
{
	for (int i = n - 1; i >= 0; i--)
		bw_put(b, (code >> i) & 1, 1);
}

static void
bw_done(struct bw *b)
{
	if (b->n > 0)
		b->buf[b->len++] = (unsigned char)b->acc;
	b->n = 0;
	b->acc = 0;
}

/* Fixed-code literal c (0..143). */
static void
lit(struct bw *b, unsigned c)
{
	bw_huff(b, 0x30 + c, 8);
}

static void
test_deflate64_codes(void **state)
{
	struct bw b;
	struct out o = {0};
	size_t used;
	(void)state;

	/* 'a', then symbol 285 + 16 bits: 65538 copies at distance 1. */
	memset(&b, 0, sizeof(b));
	bw_put(&b, 1, 1);
	bw_put(&b, 1, 2);
	lit(&b, 'a');
	bw_huff(&b, 0xc0 + 5, 8);
	bw_put(&b, 65535, 16);
	bw_huff(&b, 0, 5);
	bw_huff(&b, 0, 7);
	bw_done(&b);
	assert_int_equal(inflate64(b.buf, b.len, 1, out_cb, &o, &used), ZDEC_OK);
	assert_int_equal(o.len, 65539);
	for (size_t i = 0; i < o.len; i++)
		assert_int_equal(o.buf[i], 'a');
	/* The same bits as plain deflate: 285 is 258 and takes no extra bits. */
	o.len = 0;
	assert_int_not_equal(inflate64(b.buf, b.len, 0, out_cb, &o, &used), ZDEC_OK);

	/* 40000 literals, then distance code 30 (32769 + 14 bits): 40000 back. */
	o.len = 0;
	{
		unsigned char *s = malloc(40000 + 5 + 64);
		size_t sl = 0;

		/* A stored block: simpler than 40000 fixed codes. */
		s[sl++] = 0x00; /* not last, stored; already aligned */
		s[sl++] = 40000 & 0xff;
		s[sl++] = 40000 >> 8;
		s[sl++] = (unsigned char)~(40000 & 0xff);
		s[sl++] = (unsigned char)~(40000 >> 8);
		for (int i = 0; i < 40000; i++)
			s[sl++] = (unsigned char)('A' + i % 26);
		memset(&b, 0, sizeof(b));
		bw_put(&b, 1, 1);
		bw_put(&b, 1, 2);
		bw_huff(&b, 0x00 + 8, 7); /* symbol 264: length 10 */
		bw_huff(&b, 30, 5);       /* distance code 30 */
		bw_put(&b, 40000 - 32769, 14);
		bw_huff(&b, 0, 7);
		bw_done(&b);
		memcpy(s + sl, b.buf, b.len);
		sl += b.len;
		assert_int_equal(inflate64(s, sl, 1, out_cb, &o, &used), ZDEC_OK);
		assert_int_equal(o.len, 40010);
		assert_memory_equal(o.buf + 40000, o.buf, 10);
		/* Plain deflate has no distance code 30. */
		o.len = 0;
		assert_int_equal(inflate64(s, sl, 0, out_cb, &o, &used), ZDEC_BAD);
		free(s);
	}
	/* A distance before the output's start is bad. */
	memset(&b, 0, sizeof(b));
	o.len = 0;
	bw_put(&b, 1, 1);
	bw_put(&b, 1, 2);
	lit(&b, 'a');
	bw_huff(&b, 0x00 + 1, 7); /* length 3 */
	bw_huff(&b, 1, 5);        /* distance 2 */
	bw_huff(&b, 0, 7);
	bw_done(&b);
	assert_int_equal(inflate64(b.buf, b.len, 1, out_cb, &o, &used), ZDEC_BAD);
	free(o.buf);
}

static void
test_inflate_stop(void **state)
{
	static unsigned char zeros[200000];
	size_t clen, used;
	unsigned char *c = zdeflate(zeros, sizeof(zeros), 9, Z_DEFAULT_STRATEGY, &clen);
	struct out o = {0};
	(void)state;

	o.stop_after = 50000;
	assert_int_equal(inflate64(c, clen, 0, out_cb, &o, &used), ZDEC_STOPPED);
	assert_true(o.len >= 50000 && o.len < 50000 + 32768);
	free(o.buf);
	free(c);
}

static char *
md5_hex(const unsigned char *p, size_t n, char out[33])
{
	unsigned char d[16];
	unsigned dl = 0;

	EVP_Digest(p, n, d, &dl, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return out;
}

/* The imploded data of clam.impl.zip's one member, and its flags and size. */
static unsigned char *
impl_member(size_t *len, unsigned *flags, uint64_t *usize, unsigned char **file)
{
	const char *dir = getenv("PC_TESTFILES");
	char path[512];
	size_t n;
	unsigned char *z;
	unsigned nlen, xlen;

	snprintf(path, sizeof(path), "%s/clam.impl.zip", dir ? dir : "/usr/share/clamav-testfiles");
	if (access(path, R_OK) != 0)
		return NULL;
	z = slurp(path, &n);
	assert_true(n > 30 && memcmp(z, "PK\3\4", 4) == 0);
	assert_int_equal(z[8], 6);
	*flags = z[6] | (unsigned)z[7] << 8;
	*len = z[18] | (size_t)z[19] << 8 | (size_t)z[20] << 16 | (size_t)z[21] << 24;
	*usize = z[22] | (uint64_t)z[23] << 8 | (uint64_t)z[24] << 16 | (uint64_t)z[25] << 24;
	nlen = z[26] | (unsigned)z[27] << 8;
	xlen = z[28] | (unsigned)z[29] << 8;
	assert_true(30 + nlen + xlen + *len <= n);
	*file = z;
	return z + 30 + nlen + xlen;
}

static void
test_explode_testfile(void **state)
{
	size_t len = 0, used;
	unsigned flags = 0;
	uint64_t usize = 0;
	unsigned char *file = NULL, *data = impl_member(&len, &flags, &usize, &file);
	struct out o = {0};
	char hex[33];
	(void)state;

	if (data == NULL)
		skip();
	assert_int_equal(explode(data, len, flags, usize, out_cb, &o, &used), ZDEC_OK);
	assert_int_equal(o.len, usize);
	assert_string_equal(md5_hex(o.buf, o.len, hex), CLAM_MD5);
	/* Cut anywhere: truncated (or bad), never OK, never more than usize. */
	for (size_t cut = 0; cut < len; cut += 7) {
		int r;

		o.len = 0;
		r = explode(data, cut, flags, usize, out_cb, &o, &used);
		assert_true(r == ZDEC_TRUNCATED || r == ZDEC_BAD);
		assert_true(o.len <= usize);
	}
	free(o.buf);
	free(file);
}

static void
test_explode_by_hand(void **state)
{
	struct bw b;
	struct out o = {0};
	size_t used;
	(void)state;

	/*
	 * 4 KiB window, no literal tree: length and distance trees of 64
	 * 6-bit codes each (4 runs of 16), so symbol k's code is ~k (6 bits).
	 */
	memset(&b, 0, sizeof(b));
	for (int t = 0; t < 2; t++) {
		b.buf[b.len++] = 3;
		for (int i = 0; i < 4; i++)
			b.buf[b.len++] = 0xf5;
	}
	bw_put(&b, 1, 1);
	bw_put(&b, 'x', 8);
	bw_put(&b, 1, 1);
	bw_put(&b, 'y', 8);
	/* A match: distance 2 (low 6 bits 1, code 0), length 2 + 3 (code 3). */
	bw_put(&b, 0, 1);
	bw_put(&b, 1, 6);
	bw_huff(&b, 63 - 0, 6);
	bw_huff(&b, 63 - 3, 6);
	/* Length code 63: 63 + 8 bits (10) + 2 = 75 bytes at distance 2. */
	bw_put(&b, 0, 1);
	bw_put(&b, 1, 6);
	bw_huff(&b, 63 - 0, 6);
	bw_huff(&b, 63 - 63, 6);
	bw_put(&b, 10, 8);
	bw_done(&b);
	assert_int_equal(explode(b.buf, b.len, 0, 82, out_cb, &o, &used), ZDEC_OK);
	assert_int_equal(o.len, 82);
	for (size_t i = 0; i < o.len; i++)
		assert_int_equal(o.buf[i], i % 2 ? 'y' : 'x');
	/* Without a size, the input's end ends it. */
	o.len = 0;
	assert_int_equal(explode(b.buf, b.len, 0, EXPLODE_SIZE_UNKNOWN, out_cb, &o, &used),
	                 ZDEC_OK);
	assert_true(o.len >= 82);
	/* A tree that claims more codes than it has symbols is bad. */
	o.len = 0;
	b.buf[0] = 4;
	assert_int_equal(explode(b.buf, b.len, 0, 82, out_cb, &o, &used), ZDEC_BAD);
	free(o.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_inflate_matches_zlib), cmocka_unit_test(test_inflate_damage),
	    cmocka_unit_test(test_deflate64_codes),      cmocka_unit_test(test_inflate_stop),
	    cmocka_unit_test(test_explode_testfile),     cmocka_unit_test(test_explode_by_hand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

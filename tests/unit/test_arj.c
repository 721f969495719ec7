/*
 * Unit tests for scan/arj: clam.arj from clamav-testfiles (headers parsed,
 * its method 1 member decoded to clam.exe with the header's CRC32, and
 * the walk reaching it), then damage: every byte flipped, every length
 * cut, a wrong CRC, huge sizes, a garbled member and the size limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "scan/arj.h"
#include "scan/filetype.h"
#include "scan/walk.h"
#include "file_fixture.h"

#define CLAM_MD5 "aa15bcf478d165efd2065190eb473bcb"
#define MAX_KIDS 16

/* Offsets in clam.arj: the local header, its fields, the packed data. */
#define LOCAL 54
#define L_FLAGS (LOCAL + 4 + 4)
#define L_CSIZE (LOCAL + 4 + 12)
#define L_USIZE (LOCAL + 4 + 16)
#define L_CRC (LOCAL + 4 + 20)
#define DATA 120

static const char *
md5_hex(const void *buf, size_t len, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dlen;

	EVP_Digest(buf, len, d, &dlen, EVP_md5(), NULL);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return out;
}

/* clam.arj whole, or NULL (the test skips) when clamav-testfiles is missing. */
static unsigned char *
clam_arj(size_t *n)
{
	const char *dir = getenv("PC_TESTFILES");
	char path[512];

	snprintf(path, sizeof(path), "%s/clam.arj", dir ? dir : "/usr/share/clamav-testfiles");
	if (access(path, R_OK) != 0)
		return NULL;
	return slurp(path, n);
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Rewrites the CRC of the basic header at b + off after an edit. */
static void
fix_crc(unsigned char *b, size_t off)
{
	size_t hsize = b[off + 2] | (size_t)b[off + 3] << 8;

	put32(b + off + 4 + hsize, (uint32_t)crc32(0L, b + off + 4, (uInt)hsize));
}

/* ---- the decoder ---- */

struct out {
	unsigned char *buf;
	size_t len;
};

static int
out_cb(void *arg, const unsigned char *buf, size_t len)
{
	struct out *o = arg;

	o->buf = realloc(o->buf, o->len + len);
	assert_non_null(o->buf);
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return 0;
}

static void
test_clam_member(void **state)
{
	size_t n, used;
	unsigned char *b = clam_arj(&n);
	struct arj_header h;
	struct out o = {0};
	char hex[33];
	(void)state;

	if (b == NULL)
		skip();
	assert_int_equal(arj_sniff(b, n), 1);
	assert_int_equal(arj_header(b, n, &h), ARJ_HDR_OK);
	assert_string_equal(h.name, "clam.arj");
	assert_int_equal(arj_header(b + LOCAL, n - LOCAL, &h), ARJ_HDR_OK);
	assert_string_equal(h.name, "clam.exe");
	assert_int_equal(h.method, 1);
	assert_int_equal(h.csize, 269);
	assert_int_equal(h.usize, 544);
	assert_int_equal(LOCAL + h.len + 2, DATA);
	assert_int_equal(arj_decode(b + DATA, h.csize, h.method, h.usize, out_cb, &o, &used),
	                 ZDEC_OK);
	assert_int_equal(o.len, h.usize);
	assert_int_equal(crc32(0L, o.buf, (uInt)o.len), h.crc);
	assert_string_equal(md5_hex(o.buf, o.len, hex), CLAM_MD5);
	assert_true(used <= h.csize);
	assert_int_equal(arj_header(b + DATA + h.csize, n - DATA - h.csize, &h), ARJ_HDR_END);
	free(o.buf);

	/* Cut data: what decoded is handed on, and the end is called truncated. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(arj_decode(b + DATA, 100, 1, 544, out_cb, &o, &used), ZDEC_TRUNCATED);
	assert_true(o.len < 544);
	free(o.buf);
	free(b);
}

static void
test_header_vectors(void **state)
{
	size_t n;
	unsigned char *b = clam_arj(&n);
	struct arj_header h;
	(void)state;

	if (b == NULL)
		skip();
	/* Every byte of the main header and its CRC matters. */
	for (size_t i = 0; i < 52; i++) {
		b[i] ^= 0x20;
		assert_int_not_equal(arj_header(b, n, &h), ARJ_HDR_OK);
		assert_int_equal(arj_sniff(b, n), 0);
		b[i] ^= 0x20;
	}
	for (size_t cut = 0; cut < 52; cut++)
		assert_int_equal(arj_header(b, cut, &h), ARJ_HDR_SHORT);
	/* A basic header larger than arj allows, or smaller than its fixed part. */
	b[2] = 0x29, b[3] = 0x0a; /* 2601 */
	assert_int_equal(arj_header(b, n, &h), ARJ_HDR_BAD);
	b[2] = 10, b[3] = 0;
	assert_int_equal(arj_header(b, n, &h), ARJ_HDR_BAD);
	free(b);
}

/* The methods on garbage: no crash, no output beyond usize. */
static void
test_decode_garbage(void **state)
{
	unsigned char in[512];
	uint32_t seed = 12345;
	(void)state;

	for (int round = 0; round < 2000; round++) {
		struct out o = {0};
		size_t used, len = (size_t)(round % 500) + 1;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (unsigned char)(seed >> 16);
		}
		(void)arj_decode(in, len, (unsigned)(round % 4) + 1, 100000, out_cb, &o, &used);
		assert_true(o.len <= 100000);
		assert_true(used <= len);
		free(o.buf);
	}
}

/* ---- through the walker ---- */

struct kids {
	size_t n;
	char md5[MAX_KIDS][33];
	EVP_MD_CTX *md[MAX_KIDS];
};

struct kid {
	struct kids *k;
	size_t i;
};

static void *
k_open(void *arg, const char *path, const struct file_type *t, uint64_t size)
{
	struct kids *k = arg;
	struct kid *c = calloc(1, sizeof(*c));
	(void)path, (void)t, (void)size;

	assert_non_null(c);
	assert_true(k->n < MAX_KIDS);
	c->k = k;
	c->i = k->n++;
	k->md[c->i] = EVP_MD_CTX_new();
	EVP_DigestInit_ex(k->md[c->i], EVP_md5(), NULL);
	return c;
}

static int
k_feed(void *node, const void *buf, size_t len)
{
	struct kid *c = node;

	EVP_DigestUpdate(c->k->md[c->i], buf, len);
	return 0;
}

static int
k_close(void *node, struct scan_verdict *v, const char *path)
{
	struct kid *c = node;
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dlen;
	(void)v, (void)path;

	EVP_DigestFinal_ex(c->k->md[c->i], d, &dlen);
	EVP_MD_CTX_free(c->k->md[c->i]);
	for (unsigned i = 0; i < 16; i++)
		snprintf(c->k->md5[c->i] + 2 * i, 3, "%02x", d[i]);
	free(c);
	return 0;
}

static struct filetype *ft;

/* Walks b[0..n) as name; the verdict's status, *found: clam.exe reached. */
static enum scan_status
walk(const unsigned char *b, size_t n, uint64_t max_file, int *found, enum scan_limit *limit)
{
	struct walk_options o;
	struct kids k;
	struct walk_sink sink = {k_open, k_feed, k_close, &k};
	struct scan_verdict v;
	enum scan_status st;

	memset(&o, 0, sizeof(o));
	memset(&k, 0, sizeof(k));
	o.limits.max_depth = 16;
	o.limits.max_file_size = max_file;
	verdict_init(&v);
	assert_int_equal(walk_mem(&o, &sink, ft, b, n, "clam.arj", &v), 0);
	*found = 0;
	for (size_t i = 1; i < k.n; i++)
		if (strcmp(k.md5[i], CLAM_MD5) == 0)
			*found = 1;
	st = v.status;
	if (limit)
		*limit = v.limit;
	verdict_clear(&v);
	return st;
}

static void
test_walk_clam(void **state)
{
	size_t n;
	unsigned char *b = clam_arj(&n);
	int found;
	enum scan_limit l;
	(void)state;

	if (b == NULL)
		skip();
	assert_int_equal(walk(b, n, 0, &found, NULL), SCAN_CLEAN);
	assert_true(found);
	/* A child larger than scan.max_file_size is cut and the limit noted. */
	assert_int_equal(walk(b, n, 100, &found, &l), SCAN_LIMIT);
	assert_int_equal(l, LIMIT_FILE_SIZE);
	free(b);
}

static void
test_walk_damage(void **state)
{
	size_t n;
	unsigned char *b = clam_arj(&n);
	int found;
	(void)state;

	if (b == NULL)
		skip();
	/* A byte flipped after the id: corrupt, or clam.exe comes out whole. */
	for (size_t i = 2; i < n; i++) {
		enum scan_status st;

		b[i] ^= 0x5a;
		st = walk(b, n, 0, &found, NULL);
		if (st != SCAN_CORRUPT && !(st == SCAN_CLEAN && found))
			fail_msg("byte %zu flipped: %s found=%d", i, scan_status_name(st), found);
		b[i] ^= 0x5a;
	}
	/* Cut anywhere after the id: corrupt. */
	for (size_t cut = 2; cut < n; cut++)
		if (walk(b, cut, 0, &found, NULL) != SCAN_CORRUPT)
			fail_msg("cut at %zu not corrupt", cut);
	free(b);
}

static void
test_walk_sizes_and_flags(void **state)
{
	size_t n;
	unsigned char *b = clam_arj(&n), *c;
	int found;
	(void)state;

	if (b == NULL)
		skip();
	c = malloc(n);
	/* The wrong CRC of the original: corrupt, the bytes still scanned. */
	memcpy(c, b, n);
	put32(c + L_CRC, 0x12345678);
	fix_crc(c, LOCAL);
	assert_int_equal(walk(c, n, 0, &found, NULL), SCAN_CORRUPT);
	assert_true(found);
	/* An original size of 4 GiB: the data ends first. */
	memcpy(c, b, n);
	put32(c + L_USIZE, 0xffffffffu);
	fix_crc(c, LOCAL);
	assert_int_equal(walk(c, n, 0, &found, NULL), SCAN_CORRUPT);
	/* A packed size past the archive's end. */
	memcpy(c, b, n);
	put32(c + L_CSIZE, 0xfffffff0u);
	fix_crc(c, LOCAL);
	assert_int_equal(walk(c, n, 0, &found, NULL), SCAN_CORRUPT);
	/* Garbled (encrypted): noted, not decoded. */
	memcpy(c, b, n);
	c[L_FLAGS] |= ARJ_GARBLED;
	fix_crc(c, LOCAL);
	assert_int_equal(walk(c, n, 0, &found, NULL), SCAN_ENCRYPTED);
	assert_false(found);
	/* An unknown method. */
	memcpy(c, b, n);
	c[L_FLAGS + 1] = 7;
	fix_crc(c, LOCAL);
	assert_int_equal(walk(c, n, 0, &found, NULL), SCAN_CORRUPT);
	free(c);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clam_member),    cmocka_unit_test(test_header_vectors),
	    cmocka_unit_test(test_decode_garbage), cmocka_unit_test(test_walk_clam),
	    cmocka_unit_test(test_walk_damage),    cmocka_unit_test(test_walk_sizes_and_flags),
	};
	int r;

	ft = filetype_new();
	r = cmocka_run_group_tests(tests, NULL, NULL);
	filetype_free(ft);
	return r;
}

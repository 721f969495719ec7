/*
 * Unit tests for scan/engine: a table of (signatures, data, target mask,
 * expected hits) each fed in chunks of 1, 7 and 4096 bytes with the size
 * known and unknown; hash signatures; the bundled signatures against
 * ClamAV's clam.exe and EICAR; rejection of what Hyperscan refuses; hot
 * additions over a base of 100,000 signatures, folding, refcounts,
 * concurrent scans, and the compiled-database cache (miss, hit, and every
 * kind of damaged file ignored and repaired).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "file_fixture.h"
#include "scan/dbcache.h"
#include "scan/engine.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

/* Base size for the engine_extend test; the brief allows 20,000 if slow. */
#define GEN_SIGS 100000

static const size_t chunk_sizes[] = {1, 7, 4096};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct engine *
build_ext(const char *ext, const char *text)
{
	struct sigdb *db = sigdb_new();
	struct engine *e;
	char *err = NULL;

	assert_true(sigdb_load_buffer(db, "t", ext, text, strlen(text)) >= 0);
	if ((e = engine_build(db, &err)) == NULL)
		fail_msg("engine_build: %s", err);
	return e;
}

static struct engine *
build(const char *ndb)
{
	return build_ext("ndb", ndb);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, comma-separated, distinct hit names of v; caller frees. */
static char *
sorted_names(const struct scan_verdict *v)
{
	char **names = xcalloc(v->nhits + 1, sizeof(*names));
	size_t len = 1;
	char *out;

	for (size_t i = 0; i < v->nhits; i++) {
		names[i] = v->hits[i].name;
		len += strlen(names[i]) + 1;
	}
	qsort(names, v->nhits, sizeof(*names), cmp_str);
	out = xcalloc(1, len);
	for (size_t i = 0; i < v->nhits; i++) {
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		if (out[0])
			strcat(out, ",");
		strcat(out, names[i]);
	}
	free(names);
	return out;
}

/* Scans data in chunks; returns the sorted hit names (caller frees). */
static char *
scan(struct engine *e, const void *data, size_t len, size_t chunk, unsigned mask, int known)
{
	struct engine_stream *s = engine_stream_open(e, mask, known ? len : ENGINE_SIZE_UNKNOWN);
	const uint8_t *p = data;
	struct scan_verdict v;
	char *names;

	verdict_init(&v);
	for (size_t off = 0; off < len; off += chunk)
		assert_int_equal(
		    engine_stream_feed(s, p + off, len - off < chunk ? len - off : chunk), 0);
	assert_int_equal(engine_stream_close(s, &v, "obj"), 0);
	assert_int_equal(v.status, v.nhits ? SCAN_INFECTED : SCAN_CLEAN);
	for (size_t i = 0; i < v.nhits; i++)
		assert_string_equal(v.hits[i].path, "obj");
	names = sorted_names(&v);
	verdict_clear(&v);
	return names;
}

/* Scans with every chunk size, size known and unknown; all must give want. */
static void
expect(struct engine *e, const void *data, size_t len, unsigned mask, const char *want,
       const char *what)
{
	for (size_t c = 0; c < sizeof(chunk_sizes) / sizeof(chunk_sizes[0]); c++)
		for (int known = 0; known < 2; known++) {
			char *got = scan(e, data, len, chunk_sizes[c], mask, known);

			if (strcmp(got, want) != 0)
				fail_msg("%s: chunk %zu size %s: got \"%s\" want \"%s\"", what,
				         chunk_sizes[c], known ? "known" : "unknown", got, want);
			free(got);
		}
}

struct row {
	const char *sigs;
	const char *data;
	unsigned mask;
	const char *want;
};

#define ANY 0u
#define T(n) TARGET_BIT(n)

static const struct row rows[] = {
    /* anywhere */
    {"S:0:*:41424344", "xxABCDyy", ANY, "S"},
    {"S:0:*:41424344", "xxABCxDyy", ANY, ""},
    {"S:0:*:41424344", "ABCD", ANY, "S"},
    /* absolute n */
    {"S:0:0:41424344", "ABCDxx", ANY, "S"},
    {"S:0:0:41424344", "xABCD", ANY, ""},
    {"S:0:3:41424344", "xyzABCD", ANY, "S"},
    {"S:0:3:41424344", "xyABCD", ANY, ""},
    {"S:0:3:41424344", "xyzwABCD", ANY, ""},
    {"S:0:3:41424344", "ABCDxyzwABCDABCD", ANY, ""},
    /* absolute n,m */
    {"S:0:3,2:41424344", "xyzABCD", ANY, "S"},
    {"S:0:3,2:41424344", "xyzwvABCD", ANY, "S"},
    {"S:0:3,2:41424344", "xyzwvwABCD", ANY, ""},
    /* absolute, variable length: anchored start */
    {"S:0:2,1:41*44", "xxAzzD", ANY, "S"},
    {"S:0:2,1:41*44", "xxxAzzD", ANY, "S"},
    {"S:0:2,1:41*44", "xxxxAzzD", ANY, ""},
    {"S:0:2,1:41*44", "AxAzzD", ANY, "S"},
    {"S:0:2,1:41*44", "AxxxxD", ANY, ""},
    {"S:0:3:41{1-2}44", "xxxAyDzz", ANY, "S"},
    {"S:0:3:41{1-2}44", "xxxAyyyD", ANY, ""},
    /* EOF-n */
    {"S:0:EOF-4:41424344", "xxxxABCD", ANY, "S"},
    {"S:0:EOF-4:41424344", "ABCD", ANY, "S"},
    {"S:0:EOF-4:41424344", "xxxxABCDx", ANY, ""},
    {"S:0:EOF-4:41424344", "ABCDABCDx", ANY, ""},
    {"S:0:EOF-5:41424344", "ABCD", ANY, ""},
    /* EOF-n,m: start in [size-n, size-n+m], and never if size < n */
    {"S:0:EOF-6,2:41424344", "ABCDxx", ANY, "S"},
    {"S:0:EOF-6,2:41424344", "xxxxABCDxx", ANY, "S"},
    {"S:0:EOF-6,2:41424344", "xxxxxABCDx", ANY, "S"},
    {"S:0:EOF-6,2:41424344", "xxxABCDxxx", ANY, ""},
    {"S:0:EOF-6,2:41424344", "ABCD", ANY, ""},
    /* EOF-n, variable length: exact start even when an earlier one exists */
    {"S:0:EOF-10:41{1-3}44", "ABxDxxxxxx", ANY, "S"},
    {"S:0:EOF-10:41{1-3}44", "ABxxDxxxxx", ANY, "S"},
    {"S:0:EOF-10:41{1-3}44", "xABxDxxxxx", ANY, ""},
    {"S:0:EOF-4:41*44", "AxAxxD", ANY, "S"},
    {"S:0:EOF-6:41*44", "xxAxAD", ANY, ""},
    {"S:0:EOF-6:41*44", "AxAxAD", ANY, "S"},
    /* target types */
    {"S:1:*:41424344", "ABCD", T(1), "S"},
    {"S:1:*:41424344", "ABCD", T(1) | T(4), "S"},
    {"S:1:*:41424344", "ABCD", T(2), ""},
    {"S:1:*:41424344", "ABCD", ANY, ""},
    {"S:0:*:41424344", "ABCD", T(5), "S"},
    {"S:4:EOF-4:41424344", "xxABCD", T(4), "S"},
    {"S:4:EOF-4:41424344", "xxABCD", T(3), ""},
    /* alternatives */
    {"S:0:*:41(4243|58)44", "xABCDx", ANY, "S"},
    {"S:0:*:41(4243|58)44", "xAXDx", ANY, "S"},
    {"S:0:*:41(4243|58)44", "xABDx", ANY, ""},
    {"S:0:*:41(42|43)(44|45)", "zzACEzz", ANY, "S"},
    {"S:0:*:41!(42|43)44", "AXD", ANY, "S"},
    {"S:0:*:41!(42|43)44", "ABD", ANY, ""},
    /* nibbles and ?? */
    {"S:0:*:414?4?", "AOK", ANY, "S"},
    {"S:0:*:414?4?", "A1K", ANY, ""},
    {"S:0:*:41?b", "A{", ANY, "S"},
    {"S:0:*:41?b", "A|", ANY, ""},
    {"S:0:*:41????44", "A..D", ANY, "S"},
    {"S:0:*:41????44", "A...D", ANY, ""},
    /* gaps */
    {"S:0:*:41{3-}42", "AxxxB", ANY, "S"},
    {"S:0:*:41{3-}42", "AxxB", ANY, ""},
    {"S:0:*:41{-2}42", "AxxB", ANY, "S"},
    {"S:0:*:41{-2}42", "AxxxB", ANY, ""},
    {"S:0:*:41{2}42", "AxxB", ANY, "S"},
    {"S:0:*:41{2}42", "AxB", ANY, ""},
    {"S:0:*:41[1-2]42", "AxB", ANY, "S"},
    {"S:0:*:41*42*43", "AxxxxBxxxxxxxxC", ANY, "S"},
    {"S:0:*:41*42*43", "AxxxxCxxxxxxxxB", ANY, ""},
    /* several signatures, one object */
    {"A1:0:*:4142\nA2:0:*:4344\nA3:0:*:4546\nA4:0:0:4344", "ABxxCD", ANY, "A1,A2"},
    {"A1:0:*:4142\nA1:0:*:4344", "ABxxCD", ANY, "A1"},
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct engine *e = build(rows[r].sigs);
		char what[160];

		snprintf(what, sizeof(what), "row %zu [%s] on \"%s\"", r, rows[r].sigs,
		         rows[r].data);
		expect(e, rows[r].data, strlen(rows[r].data), rows[r].mask, rows[r].want, what);
		engine_unref(e);
	}
}

/* Binary bytes, and gaps and offsets far beyond one chunk. */
static void
test_large(void **state)
{
	size_t n = 200000;
	uint8_t *d = xcalloc(1, n);
	struct engine *e;

	(void)state;
	e = build("Bin:0:*:00ff2e7a");
	memcpy(d + 4095, "\x00\xff.z", 4);
	expect(e, d, n, ANY, "Bin", "binary across 4096");
	memset(d, 'x', n);
	expect(e, d, n, ANY, "", "binary absent");
	engine_unref(e);

	e = build("Gap:0:*:41{5000-6000}42");
	d[100] = 'A';
	d[100 + 5501] = 'B';
	expect(e, d, n, ANY, "Gap", "gap 5500");
	d[100 + 5501] = 'x';
	d[100 + 6002] = 'B';
	expect(e, d, n, ANY, "", "gap 6001");
	engine_unref(e);

	memset(d, 'x', n);
	e = build("Abs:0:100000:41424344\nVar:0:1000:41*44\nEnd:0:EOF-5000:41424344\n"
	          "Far:0:EOF-150000,10:4142*4344");
	memcpy(d + 100000, "ABCD", 4);
	memcpy(d + 1000, "AB", 2);
	memcpy(d + n - 5000, "ABCD", 4);
	memcpy(d + n - 150000 + 7, "AB", 2);
	expect(e, d, n, ANY, "Abs,End,Far,Var", "large offsets");
	memset(d, 'x', n);
	memcpy(d + 100001, "ABCD", 4);
	memcpy(d + 1001, "AB", 2);
	memcpy(d + n - 4999, "ABCD", 4);
	memcpy(d + n - 150000 + 11, "AB", 2);
	expect(e, d, n, ANY, "", "large offsets, one off");
	engine_unref(e);
	free(d);
}

static void
digest_hex(const char *md, const void *data, size_t len, char *hex)
{
	uint8_t out[EVP_MAX_MD_SIZE];
	unsigned n;
	EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);

	assert_non_null(m);
	assert_int_equal(EVP_Digest(data, len, out, &n, m, NULL), 1);
	hex_encode(out, n, hex);
	EVP_MD_free(m);
}

static void
test_hashes(void **state)
{
	char md5[33], sha1[41], sha256[65], *text;
	struct engine *e;
	struct sigdb *db;
	char *err = NULL;

	(void)state;
	digest_hex("MD5", EICAR, 68, md5);
	digest_hex("SHA1", EICAR, 68, sha1);
	digest_hex("SHA256", EICAR, 68, sha256);

	/* Every type with exact and any size; the .sha256 list too. */
	db = sigdb_new();
	text = xasprintf("%s:68:H.Md5\n%s:69:H.Md5.WrongSize\n%s:68:H.Sha1\n%s:67:H.Sha1.Wrong\n"
	                 "%s:*:H.Sha256.Any\n",
	                 md5, md5, sha1, sha1, sha256);
	assert_int_equal(sigdb_load_buffer(db, "t.hdb", "hdb", text, strlen(text)), 5);
	free(text);
	text = xasprintf("%s H.Outbreak\n", sha256);
	assert_int_equal(sigdb_load_buffer(db, "t.sha256", "sha256", text, strlen(text)), 1);
	free(text);
	text = xasprintf("%s:*:H.Md5.Any\n", md5);
	assert_int_equal(sigdb_load_buffer(db, "t.hsb", "hsb", text, strlen(text)), 1);
	free(text);
	assert_non_null(e = engine_build(db, &err));
	assert_int_equal(engine_hash_count(e), 7);
	assert_int_equal(engine_body_count(e), 0);
	expect(e, EICAR, 68, ANY, "H.Md5,H.Md5.Any,H.Outbreak,H.Sha1,H.Sha256.Any", "eicar");
	expect(e, EICAR "x", 69, ANY, "", "eicar+1");
	engine_unref(e);

	/* Sized only: an object of another size is not hashed, and not hit. */
	text = xasprintf("%s:69:Only.69\n", md5);
	e = build_ext("hdb", text);
	free(text);
	expect(e, EICAR, 68, ANY, "", "sized only");
	engine_unref(e);

	/* SHA-1 by size, mixed with a body signature. */
	text = xasprintf("%s:68:H.Sha1\n", sha1);
	db = sigdb_new();
	assert_int_equal(sigdb_load_buffer(db, "t.hsb", "hsb", text, strlen(text)), 1);
	assert_int_equal(sigdb_load_buffer(db, "t.ndb", "ndb", "B:0:*:4549434152", 16), 1);
	free(text);
	assert_non_null(e = engine_build(db, &err));
	expect(e, EICAR, 68, ANY, "B,H.Sha1", "sha1 + body");
	engine_unref(e);
}

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static struct engine *
build_bundled(void)
{
	const char *src = getenv("PC_SRCDIR");
	char *dir = xasprintf("%s/sigs", src ? src : ".."), *err = NULL;
	struct sigdb *db = sigdb_new();
	struct engine *e;

	assert_int_equal(sigdb_load_dir(db, dir), 0);
	free(dir);
	if ((e = engine_build(db, &err)) == NULL)
		fail_msg("%s", err);
	return e;
}

static void
test_bundled(void **state)
{
	const char *tf = getenv("PC_TESTFILES");
	char *path = xasprintf("%s/clam.exe", tf ? tf : "/usr/share/clamav-testfiles");
	struct engine *e = build_bundled();
	size_t len;
	uint8_t *clam = read_file(path, &len);

	(void)state;
	assert_int_equal(engine_body_count(e), 2);
	assert_int_equal(engine_hash_count(e), 2);
	expect(e, clam, len, ANY, "Portcullis.Test.ClamExe,Portcullis.Test.ClamExe.MD5",
	       "clam.exe");
	expect(e, EICAR, 68, ANY, "Eicar-Test-Signature,Eicar-Test-Signature.SHA256", "eicar");
	/* EICAR must start at offset 0 (ndb offset 0); the hash needs 68 bytes. */
	expect(e, " " EICAR, 69, ANY, "", "eicar at 1");
	clam[300] ^= 1;
	expect(e, clam, len, ANY, "Portcullis.Test.ClamExe", "clam.exe, one byte changed");
	free(clam);
	free(path);
	engine_unref(e);
}

/* What Hyperscan refuses is rejected alone, retried without, and counted. */
static void
test_reject(void **state)
{
	struct sigdb *db = sigdb_new();
	struct sigdb_counts c;
	struct engine *e;
	char *text, *err = NULL, all[256 * 3 + 1];

	(void)state;
	all[0] = '\0';
	for (int b = 0; b < 256; b++)
		snprintf(all + strlen(all), 4, "%s%02x", b ? "|" : "", b);
	/* A negation of every byte can never match: Hyperscan says so. */
	text = xasprintf("Good:0:*:41424344\n"
	                 "Never1:0:*:41!(%s)42\nNever2:0:*:43!(%s)44\nNever3:0:*:45!(%s)46\n"
	                 "Never4:0:EOF-10:45!(%s)46\nNever5:0:*:47!(%s)48\nNever6:0:*:49!(%s)4a\n"
	                 "Good2:0:EOF-4:45464748\n",
	                 all, all, all, all, all, all);
	assert_int_equal(sigdb_load_buffer(db, "r.ndb", "ndb", text, strlen(text)), 8);
	free(text);
	assert_non_null(e = engine_build(db, &err));
	assert_int_equal(engine_body_count(e), 2);
	sigdb_counts(db, "ndb", &c); /* db now belongs to e, still readable */
	assert_int_equal(c.rejected, 6);
	for (size_t i = 0; i < sigdb_ndb_count(db); i++)
		assert_int_equal(sigdb_ndb_rejected(db, i),
		                 strncmp(sigdb_ndb(db, i)->name, "Never", 5) == 0);
	expect(e, "ABCDxxEFGH", 10, ANY, "Good,Good2", "after rejections");
	engine_unref(e);

	/* Nothing usable: NULL with a message. */
	db = sigdb_new();
	sigdb_load_buffer(db, "x.ldb", "ldb", "a;b;c\n", 6);
	assert_null(engine_build(db, &err));
	assert_non_null(err);
	free(err);
	assert_null(engine_build(sigdb_new(), &err));
	free(err);
}

/* Deterministic pseudo-random hex patterns of 16-32 bytes. */
static uint64_t
xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void
gen_pattern(unsigned i, uint8_t *out, size_t *len)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)i * 0xbf58476d1ce4e5b9ULL);

	for (int k = 0; k < 4; k++)
		xorshift(&x);
	*len = 16 + (size_t)(xorshift(&x) % 17);
	for (size_t k = 0; k < *len; k++)
		out[k] = (uint8_t)xorshift(&x);
}

static char *
gen_ndb(unsigned from, unsigned n, const char *prefix)
{
	size_t cap = (size_t)n * 110 + 1, len = 0;
	char *text = xmalloc(cap);

	for (unsigned i = from; i < from + n; i++) {
		uint8_t p[32];
		char hex[65];
		size_t pl;

		gen_pattern(i, p, &pl);
		hex_encode(p, pl, hex);
		len += (size_t)snprintf(text + len, cap - len, "%s.%06u:0:*:%s\n", prefix, i, hex);
	}
	return text;
}

/* Object holding the patterns of ids (at offset 64*k) and extra bytes at its end. */
static uint8_t *
gen_object(const unsigned *ids, size_t nids, size_t *lenp)
{
	size_t len = 64 * nids + 4096;
	uint8_t *d = xcalloc(1, len);

	for (size_t k = 0; k < nids; k++) {
		size_t pl;

		gen_pattern(ids[k], d + 64 * k, &pl);
	}
	*lenp = len;
	return d;
}

static void
test_extend_fold(void **state)
{
	static const unsigned base_ids[] = {0, 1, 50000 % GEN_SIGS, GEN_SIGS - 1};
	char *text = gen_ndb(0, GEN_SIGS, "Gen"), *err = NULL, want[512];
	struct sigdb *db = sigdb_new(), *extra;
	struct engine *base, *ext, *ext2, *folded;
	struct engine_stream *s;
	struct scan_verdict v;
	uint64_t t0, build_ms, extend_ms, fold_ms;
	uint8_t *obj;
	size_t len;

	(void)state;
	assert_int_equal(sigdb_load_buffer(db, "gen.ndb", "ndb", text, strlen(text)), GEN_SIGS);
	free(text);
	t0 = now_ms();
	assert_non_null(base = engine_build(db, &err));
	build_ms = now_ms() - t0;
	assert_int_equal(engine_body_count(base), GEN_SIGS);

	obj = gen_object(base_ids, 4, &len);
	/* New signatures: anywhere, at an offset and at EOF, plus a hash. */
	memcpy(obj + 1000, "NEWONE-portcullis", 17);
	memcpy(obj + 2000, "NEWTWO-portcullis", 17);
	memcpy(obj + len - 40, "NEWEOF-portcullis", 17);
	snprintf(want, sizeof(want), "Gen.%06u,Gen.%06u,Gen.%06u,Gen.%06u", base_ids[0],
	         base_ids[1], base_ids[2], base_ids[3]);
	expect(base, obj, len, ANY, want, "base");

	extra = sigdb_new();
	text = xasprintf("New.One:0:*:4e45574f4e45{-4}706f7274\n"
	                 "New.Two:0:2000:4e455754574f2d706f7274\n"
	                 "New.Eof:0:EOF-40:4e4557454f46*6c6973\n");
	assert_int_equal(sigdb_load_buffer(extra, "extra.ndb", "ndb", text, strlen(text)), 3);
	free(text);
	t0 = now_ms();
	assert_non_null(ext = engine_extend(base, extra, &err));
	extend_ms = now_ms() - t0;
	log_info("test_engine: base of %d built in %llu ms, extended by 3 in %llu ms", GEN_SIGS,
	         (unsigned long long)build_ms, (unsigned long long)extend_ms);
	assert_true(extend_ms < 5000);
	assert_int_equal(engine_overlay_count(ext), 1);
	assert_int_equal(engine_body_count(ext), GEN_SIGS + 3);
	snprintf(want, sizeof(want), "Gen.%06u,Gen.%06u,Gen.%06u,Gen.%06u,New.Eof,New.One,New.Two",
	         base_ids[0], base_ids[1], base_ids[2], base_ids[3]);
	expect(ext, obj, len, ANY, want, "extended");
	/* The base is unchanged. */
	snprintf(want, sizeof(want), "Gen.%06u,Gen.%06u,Gen.%06u,Gen.%06u", base_ids[0],
	         base_ids[1], base_ids[2], base_ids[3]);
	expect(base, obj, len, ANY, want, "base after extend");

	/* Overlays chain; a hash-only addition counts as one. */
	{
		char md5[33];

		digest_hex("MD5", obj, len, md5);
		extra = sigdb_new();
		text = xasprintf("%s:%zu:New.Hash\n", md5, len);
		assert_int_equal(sigdb_load_buffer(extra, "extra.hdb", "hdb", text, strlen(text)),
		                 1);
		free(text);
		assert_non_null(ext2 = engine_extend(ext, extra, &err));
	}
	assert_int_equal(engine_overlay_count(ext2), 2);
	snprintf(want, sizeof(want),
	         "Gen.%06u,Gen.%06u,Gen.%06u,Gen.%06u,New.Eof,New.Hash,New.One,New.Two",
	         base_ids[0], base_ids[1], base_ids[2], base_ids[3]);
	expect(ext2, obj, len, ANY, want, "extended twice");

	/* Folding gives one engine with the same matches. */
	t0 = now_ms();
	assert_non_null(folded = engine_fold(ext2, &err));
	fold_ms = now_ms() - t0;
	log_info("test_engine: folded in %llu ms", (unsigned long long)fold_ms);
	assert_int_equal(engine_overlay_count(folded), 0);
	assert_int_equal(engine_body_count(folded), GEN_SIGS + 3);
	assert_int_equal(engine_hash_count(folded), 1);
	expect(folded, obj, len, ANY, want, "folded");
	{
		struct engine *same = engine_fold(folded, &err);

		assert_ptr_equal(same, folded);
		engine_unref(same);
	}

	/* A stream keeps its engine alive after the scanner drops its ref. */
	s = engine_stream_open(ext2, ANY, len);
	engine_unref(ext2);
	engine_unref(ext);
	engine_unref(base);
	verdict_init(&v);
	assert_int_equal(engine_stream_feed(s, obj, len / 2), 0);
	assert_int_equal(engine_stream_feed(s, obj + len / 2, len - len / 2), 0);
	assert_int_equal(engine_stream_close(s, &v, "late"), 0);
	{
		char *got = sorted_names(&v);

		assert_string_equal(got, want);
		free(got);
	}
	verdict_clear(&v);
	engine_unref(folded);
	free(obj);
}

struct worker {
	struct engine *e;
	const uint8_t *clam;
	size_t clam_len;
	int bad;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 200; i++) {
		int clam = i % 3 == 0;
		const uint8_t *d = clam ? w->clam : (const uint8_t *)EICAR;
		size_t len = clam ? w->clam_len : 68;
		struct engine_stream *s =
		    engine_stream_open(w->e, ANY, (i & 1) ? len : ENGINE_SIZE_UNKNOWN);
		struct scan_verdict v;

		verdict_init(&v);
		w->bad += engine_stream_feed(s, d, len / 2) != 0;
		w->bad += engine_stream_feed(s, d + len / 2, len - len / 2) != 0;
		w->bad += engine_stream_close(s, &v, "t") != 0;
		w->bad += v.nhits != 2;
		verdict_clear(&v);
	}
	return NULL;
}

/* One engine, four threads, pooled streams: every scan right. */
static void
test_threads(void **state)
{
	const char *tf = getenv("PC_TESTFILES");
	char *path = xasprintf("%s/clam.exe", tf ? tf : "/usr/share/clamav-testfiles");
	struct worker w[4];
	pthread_t th[4];
	size_t len;
	uint8_t *clam = read_file(path, &len);
	struct engine *e = build_bundled();

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){engine_ref(e), clam, len, 0};
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	engine_unref(e);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
		engine_unref(w[i].e);
	}
	free(clam);
	free(path);
}

/* A declared size that is wrong is survived and logged (see engine.h). */
static void
test_size_mismatch(void **state)
{
	struct engine *e = build("End:0:EOF-4:41424344\nAny:0:*:41424344");
	struct engine_stream *s;
	struct scan_verdict v;

	(void)state;
	verdict_init(&v);
	s = engine_stream_open(e, ANY, 100000);
	assert_int_equal(engine_stream_feed(s, "xxABCD", 6), 0);
	assert_int_equal(engine_stream_close(s, &v, "short"), 0);
	assert_int_equal(v.nhits, 1);
	assert_string_equal(v.hits[0].name, "Any");
	verdict_clear(&v);
	/* Declared smaller than fed: EOF-n checked against neither size. */
	s = engine_stream_open(e, ANY, 2);
	assert_int_equal(engine_stream_feed(s, "xxABCD", 6), 0);
	assert_int_equal(engine_stream_close(s, &v, "long"), 0);
	assert_int_equal(v.nhits, 1);
	assert_string_equal(v.hits[0].name, "Any");
	verdict_clear(&v);
	/* Right size: both. */
	s = engine_stream_open(e, ANY, 6);
	assert_int_equal(engine_stream_feed(s, "xxABCD", 6), 0);
	assert_int_equal(engine_stream_close(s, &v, "right"), 0);
	assert_int_equal(v.nhits, 2);
	verdict_clear(&v);
	/* An empty object. */
	s = engine_stream_open(e, ANY, 0);
	assert_int_equal(engine_stream_close(s, &v, "empty"), 0);
	assert_int_equal(v.status, SCAN_CLEAN);
	engine_unref(e);
}

/* ---- the compiled-database cache ---- */

#define CACHE_DATA "ABCDEFxxJKzLEFGH"
#define CACHE_WANT "CEof,CPlain,CVar"

/* Signatures of every database kind, and one Hyperscan rejects. */
static char *
cache_sigs(const char *extra)
{
	char all[256 * 3 + 1];

	all[0] = '\0';
	for (int b = 0; b < 256; b++)
		snprintf(all + strlen(all), 4, "%s%02x", b ? "|" : "", b);
	return xasprintf("CPlain:0:*:414243444546\nCEof:0:EOF-4:45464748\n"
	                 "CVar:0:EOF-8:4a4b{1-2}4c\nCNever:0:*:41!(%s)42\n%s",
	                 all, extra);
}

/*
 * Builds sigs with stderr (the log) captured into *log (caller frees); the
 * sigdb, owned by the engine, in *dbp.
 */
static struct engine *
cache_build(const char *sigs, char **log, struct sigdb **dbp)
{
	struct sigdb *db = sigdb_new();
	struct engine *e;
	char *err = NULL;

	assert_true(sigdb_load_buffer(db, "c.ndb", "ndb", sigs, strlen(sigs)) > 0);
	capture_begin();
	e = engine_build(db, &err);
	*log = capture_end();
	if (e == NULL)
		fail_msg("engine_build: %s", err);
	*dbp = db;
	return e;
}

/* The engine finds all three and, compiled or cached, rejected only CNever. */
static void
cache_check(struct engine *e, const struct sigdb *db, const char *what)
{
	struct sigdb_counts c;

	expect(e, CACHE_DATA, strlen(CACHE_DATA), ANY, CACHE_WANT, what);
	assert_int_equal(engine_body_count(e), 3);
	sigdb_counts(db, "ndb", &c);
	assert_int_equal(c.rejected, 1);
	for (size_t i = 0; i < sigdb_ndb_count(db); i++)
		assert_int_equal(sigdb_ndb_rejected(db, i),
		                 strcmp(sigdb_ndb(db, i)->name, "CNever") == 0);
}

/* Names in dir starting with prefix; the last one in *last (caller frees). */
static int
cache_count(const char *dir, const char *prefix, char **last)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			n++;
			if (last) {
				free(*last);
				*last = xasprintf("%s/%s", dir, de->d_name);
			}
		}
	closedir(d);
	return n;
}

static void
flip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	int c;

	assert_non_null(f);
	if (off < 0) {
		fseek(f, 0, SEEK_END);
		off += ftell(f);
	}
	fseek(f, off, SEEK_SET);
	c = fgetc(f);
	fseek(f, off, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

/*
 * Builds through the cache: a miss writes it, a hit gives the same engine
 * (same hits, same rejection), and each kind of damage is noticed, logged,
 * compiled around and repaired; temporaries never stay; the cache stays
 * bounded; an unsafe directory or "" is not used.
 */
static void
test_cache(void **state)
{
	static const struct {
		const char *what; /* damage */
		const char *log;  /* expected in the log line that ignores it */
	} damage[] = {
	    {"truncated", "truncated or damaged"},
	    {"empty", "truncated"},
	    {"appended", "truncated or damaged"},
	    {"database byte", "Hyperscan cannot read"},
	    {"meta byte", "digest mismatch"},
	    {"foreign", "not a cache file"},
	    {"other key", "written for other signatures"},
	};
	char tmpl[] = "/tmp/pc-test-cache-XXXXXX", *dir, *sigs = cache_sigs(""), *log = NULL;
	char *other = cache_sigs("COther:0:*:5a5a5a5a5a5a5a\n"), *file = NULL, *ofile = NULL;
	char *old[5], *fresh;
	struct engine *e, *x;
	struct sigdb *add, *db;
	uint8_t *img;
	size_t n;
	char *err = NULL;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	dir = xasprintf("%s/c", tmpl); /* missing: created */
	log_set_level(LOG_LVL_INFO);
	dbcache_set_dir(dir);

	/* Miss, then hit. */
	e = cache_build(sigs, &log, &db);
	assert_non_null(strstr(log, "cache=miss"));
	assert_non_null(strstr(log, "CNever: rejected"));
	cache_check(e, db, "miss");
	engine_unref(e);
	free(log);
	assert_int_equal(cache_count(dir, "hs-", &file), 1);
	assert_int_equal(cache_count(dir, ".hs-", NULL), 0);
	e = cache_build(sigs, &log, &db);
	assert_non_null(strstr(log, "cache=hit"));
	assert_null(strstr(log, "ignored"));
	assert_non_null(strstr(log, "CNever: rejected"));
	cache_check(e, db, "hit");

	/* An overlay is not cached. */
	add = sigdb_new();
	assert_int_equal(sigdb_load_buffer(add, "a.ndb", "ndb", "CAdd:0:*:7878787878\n", 20), 1);
	assert_non_null(x = engine_extend(e, add, &err));
	assert_int_equal(cache_count(dir, "hs-", NULL), 1);
	engine_unref(x);
	engine_unref(e);
	free(log);

	/* The cache of other signatures, to pass off as ours. */
	e = cache_build(other, &log, &db);
	assert_non_null(strstr(log, "cache=miss"));
	engine_unref(e);
	free(log);
	assert_int_equal(cache_count(dir, "hs-", NULL), 2);
	{
		DIR *d = opendir(dir);
		struct dirent *de;

		assert_non_null(d);
		while ((de = readdir(d)) != NULL)
			if (strncmp(de->d_name, "hs-", 3) == 0 && !strstr(file, de->d_name))
				ofile = xasprintf("%s/%s", dir, de->d_name);
		closedir(d);
	}
	assert_non_null(ofile);

	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		const char *w = damage[i].what;

		img = slurp(file, &n);
		if (strcmp(w, "truncated") == 0) {
			write_bytes(file, img, n / 2, "wb");
		} else if (strcmp(w, "empty") == 0) {
			write_bytes(file, img, 0, "wb");
		} else if (strcmp(w, "appended") == 0) {
			write_bytes(file, "xx", 2, "ab");
		} else if (strcmp(w, "database byte") == 0) {
			flip_byte(file, -100); /* inside the last serialized database */
		} else if (strcmp(w, "meta byte") == 0) {
			flip_byte(file, 100); /* past the 88-byte header: the meta section */
		} else if (strcmp(w, "foreign") == 0) {
			memset(img, 'A', n);
			write_bytes(file, img, n, "wb");
		} else {
			free(img);
			img = slurp(ofile, &n);
			write_bytes(file, img, n, "wb");
		}
		free(img);
		e = cache_build(sigs, &log, &db);
		if (!strstr(log, "ignored, compiling") || !strstr(log, damage[i].log) ||
		    !strstr(log, "cache=miss"))
			fail_msg("damage \"%s\": log was:\n%s", w, log);
		cache_check(e, db, w);
		engine_unref(e);
		free(log);
		/* Rewritten: a hit again. */
		e = cache_build(sigs, &log, &db);
		if (!strstr(log, "cache=hit"))
			fail_msg("after damage \"%s\": log was:\n%s", w, log);
		cache_check(e, db, w);
		engine_unref(e);
		free(log);
		assert_int_equal(cache_count(dir, ".hs-", NULL), 0);
	}

	/*
	 * A write keeps the 3 other cache files used last and removes the
	 * rest, and temporaries a crashed writer left an hour ago.
	 */
	unlink(ofile);
	unlink(file);
	for (int i = 0; i < 5; i++) {
		struct timespec t[2];

		old[i] =
		    i < 4 ? xasprintf("%s/hs-%064d.db", dir, i) : xasprintf("%s/.hs-x.tmp", dir);
		write_bytes(old[i], "x", 1, "wb");
		clock_gettime(CLOCK_REALTIME, &t[0]);
		t[0].tv_sec -= (i + 1) * 3600; /* i=0 newest */
		t[1] = t[0];
		assert_int_equal(utimensat(AT_FDCWD, old[i], t, 0), 0);
	}
	fresh = xasprintf("%s/.hs-y.tmp", dir);
	write_bytes(fresh, "x", 1, "wb");
	e = cache_build(sigs, &log, &db);
	assert_non_null(strstr(log, "cache=miss"));
	engine_unref(e);
	free(log);
	for (int i = 0; i < 5; i++) {
		if (access(old[i], F_OK) != (i < 3 ? 0 : -1))
			fail_msg("%s: %s", old[i], i < 3 ? "removed" : "kept");
		unlink(old[i]);
		free(old[i]);
	}
	assert_int_equal(access(fresh, F_OK), 0);
	assert_int_equal(access(file, F_OK), 0);
	unlink(fresh);
	free(fresh);

	/* A directory others may write to is not used; "" turns the cache off. */
	assert_int_equal(chmod(dir, 0777), 0);
	e = cache_build(sigs, &log, &db);
	assert_non_null(strstr(log, "compiling without it"));
	assert_non_null(strstr(log, "cache=off"));
	cache_check(e, db, "unsafe dir");
	engine_unref(e);
	free(log);
	dbcache_set_dir("");
	e = cache_build(sigs, &log, &db);
	assert_non_null(strstr(log, "cache=off"));
	assert_null(strstr(log, "engine: cache:"));
	engine_unref(e);
	free(log);

	dbcache_set_dir(NULL);
	log_set_level(getenv("PC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	unlink(file);
	rmdir(dir);
	rmdir(tmpl);
	free(file);
	free(ofile);
	free(dir);
	free(sigs);
	free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),         cmocka_unit_test(test_large),
	    cmocka_unit_test(test_hashes),        cmocka_unit_test(test_bundled),
	    cmocka_unit_test(test_reject),        cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_size_mismatch), cmocka_unit_test(test_extend_fold),
	    cmocka_unit_test(test_cache),
	};

	log_init("test_engine", 0, getenv("PC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

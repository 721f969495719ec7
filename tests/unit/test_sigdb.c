/*
 * Unit tests for scan/sigdb and scan/cvd: good and bad lines of every
 * format, directory loads, a synthetic .cvd/.cld built here with
 * libarchive's writer, and the per-type counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "scan/cvd.h"
#include "scan/sigdb.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"

static const char ndb_text[] = "# comment\n"
                               "\n"
                               "Good.One:0:*:41424344\n"           /* 3 */
                               "Good.Two:1:10,4:41??42\n"          /* 4 */
                               "Good.Three:0:EOF-20:4142(43|44)\n" /* 5 */
                               "Good.Flevel:0:*:4142:51:255\n"     /* 6 */
                               "Good.CRLF:0:*:41424546\r\n"        /* 7 */
                               "Bad.Fields:0:*\n"                  /* 8 */
                               "Bad.Target:x:*:4142\n"             /* 9 */
                               "Bad.Target2:32:*:4142\n"           /* 10 */
                               "Bad.Offset:0:abc:4142\n"           /* 11 */
                               "Bad.Hex:0:*:414\n"                 /* 12 */
                               "Bad.Flevel:0:*:4142:x\n"           /* 13 */
                               ":0:*:4142\n"                       /* 14 */
                               "Bad Name:0:*:4142\n"               /* 15 */
                               "Unsup.EP:1:EP+10:4142\n"           /* 16 */
                               "Unsup.Neg:0:*:41!(4243|44)45\n"    /* 17 */
                               "Too:many:fields:0:*:4142:1:2\n"    /* 18 */
                               "Unsup.Macro:0:$12$:4142\n"         /* 19 */
                               "Good.NoNewline:0:EOF-4,2:4142";    /* 20 */

static void
test_ndb_lines(void **state)
{
	struct sigdb *db = sigdb_new();
	struct sigdb_counts c;
	const struct ndb_sig *s;

	(void)state;
	assert_int_equal(sigdb_load_buffer(db, "test.ndb", "ndb", ndb_text, strlen(ndb_text)), 6);
	assert_int_equal(sigdb_ndb_count(db), 6);
	assert_int_equal(sigdb_hash_count(db), 0);
	sigdb_counts(db, "ndb", &c);
	assert_int_equal(c.loaded, 6);
	assert_int_equal(c.bad, 9);
	assert_int_equal(c.unsupported, 3);
	assert_int_equal(c.files, 1);
	assert_int_equal(sigdb_skipped(db), 12);
	assert_int_equal(sigdb_unsupported_reason(db, "offset EP+n/EP-n"), 1);
	assert_int_equal(sigdb_unsupported_reason(db, "offset macro $n$"), 1);
	assert_int_equal(sigdb_unsupported_reason(db, "negated multi-byte or wildcard alternative"),
	                 1);

	s = sigdb_ndb(db, 1);
	assert_string_equal(s->name, "Good.Two");
	assert_int_equal(s->target, 1);
	assert_int_equal(s->off_kind, NDB_OFF_ABS);
	assert_int_equal(s->off_min, 10);
	assert_int_equal(s->off_span, 4);
	assert_string_equal(s->hexsig, "41??42");
	assert_string_equal(s->origin, "test.ndb:4");
	s = sigdb_ndb(db, 2);
	assert_int_equal(s->off_kind, NDB_OFF_EOF);
	assert_int_equal(s->off_min, 20);
	s = sigdb_ndb(db, 4);
	assert_string_equal(s->name, "Good.CRLF");
	assert_string_equal(s->hexsig, "41424546");
	s = sigdb_ndb(db, 5);
	assert_string_equal(s->origin, "test.ndb:20");
	assert_int_equal(s->off_span, 2);
	assert_null(sigdb_ndb(db, 6));
	sigdb_log_stats(db, "unit");

	/* Rejection marks, counts, and is not repeated. */
	assert_int_equal(sigdb_ndb_rejected(db, 0), 0);
	sigdb_reject_ndb(db, 0, "test");
	sigdb_reject_ndb(db, 0, "test");
	assert_int_equal(sigdb_ndb_rejected(db, 0), 1);
	sigdb_counts(db, "ndb", &c);
	assert_int_equal(c.rejected, 1);
	assert_int_equal(sigdb_skipped(db), 13);
	sigdb_free(db);
}

static const char hash_text[] =
    "aa15bcf478d165efd2065190eb473bcb:544:Md5.Sized\n"
    "AA15BCF478D165EFD2065190EB473BCB:*:Md5.Any:73\n"
    "3395856ce81f2b7382dee72602f798b642f14140:68:Sha1.Sized:1:255\n"
    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:Sha256.Sized\n"
    "aa15bcf478d165efd2065190eb473bc:544:Bad.Short\n"
    "aa15bcf478d165efd2065190eb473bcz:544:Bad.NotHex\n"
    "aa15bcf478d165efd2065190eb473bcb:-1:Bad.Size\n"
    "aa15bcf478d165efd2065190eb473bcb:12x:Bad.Size2\n"
    "aa15bcf478d165efd2065190eb473bcb:544\n"
    "aa15bcf478d165efd2065190eb473bcb:544:\n"
    "aa15bcf478d165efd2065190eb473bcb:544:Name:1:2:3\n"
    "aa15bcf478d165efd2065190eb473bcb:544:Name:z\n";

static void
test_hash_lines(void **state)
{
	static const char *exts[] = {"hdb", "hsb", "HDB"};
	uint8_t md5[16];

	(void)state;
	hex_decode("aa15bcf478d165efd2065190eb473bcb", 16, md5);
	for (size_t k = 0; k < 3; k++) {
		struct sigdb *db = sigdb_new();
		struct sigdb_counts c;
		const struct hash_sig *h;

		assert_int_equal(sigdb_load_buffer(db, "t", exts[k], hash_text, strlen(hash_text)),
		                 4);
		assert_int_equal(sigdb_hash_count(db), 4);
		sigdb_counts(db, k == 1 ? "hsb" : "hdb", &c);
		assert_int_equal(c.loaded, 4);
		assert_int_equal(c.bad, 8);
		h = sigdb_hash(db, 0);
		assert_int_equal(h->type, HASH_MD5);
		assert_int_equal(h->size, 544);
		assert_false(h->size_any);
		assert_memory_equal(h->digest, md5, 16);
		assert_string_equal(h->name, "Md5.Sized");
		h = sigdb_hash(db, 1);
		assert_true(h->size_any);
		assert_memory_equal(h->digest, md5, 16);
		assert_int_equal(sigdb_hash(db, 2)->type, HASH_SHA1);
		assert_int_equal(sigdb_hash(db, 3)->type, HASH_SHA256);
		assert_int_equal(sigdb_hash(db, 3)->size, 68);
		sigdb_free(db);
	}
}

static void
test_sha256_lines(void **state)
{
	static const char text[] =
	    "# outbreak list\n"
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f Outbreak.One\n"
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:Outbreak.Two\n"
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\t  Outbreak.Three  \n"
	    "   \n"
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0 Bad.Short\n"
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\n"
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f Two Names\n"
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0fX Glued\n";
	struct sigdb *db = sigdb_new();
	struct sigdb_counts c;

	(void)state;
	assert_int_equal(sigdb_load_buffer(db, "o.sha256", "sha256", text, strlen(text)), 3);
	sigdb_counts(db, "sha256", &c);
	assert_int_equal(c.loaded, 3);
	assert_int_equal(c.bad, 4);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(sigdb_hash(db, i)->type, HASH_SHA256);
		assert_true(sigdb_hash(db, i)->size_any);
	}
	assert_string_equal(sigdb_hash(db, 2)->name, "Outbreak.Three");
	sigdb_free(db);
}

/* Unknown types are refused; known unsupported ones are counted. */
static void
test_unsupported_types(void **state)
{
	static const char ldb[] = "Sig.A;Target:0;0;4142\nSig.B;Target:0;0;4344\n# c\n\n";
	struct sigdb *db = sigdb_new();
	struct sigdb_counts c;

	(void)state;
	assert_int_equal(sigdb_load_buffer(db, "x.foo", "foo", "a\n", 2), -1);
	assert_int_equal(sigdb_load_buffer(db, "x.cvd", "cvd", "a\n", 2), -1);
	assert_int_equal(sigdb_load_buffer(db, "x.ldb", "ldb", ldb, strlen(ldb)), 0);
	assert_int_equal(sigdb_load_buffer(db, "x.mdb", "mdb", "1:2:3\n", 6), 0);
	sigdb_counts(db, "ldb", &c);
	assert_int_equal(c.unsupported, 2);
	assert_int_equal(c.loaded, 0);
	sigdb_counts(db, "mdb", &c);
	assert_int_equal(c.unsupported, 1);
	sigdb_counts(db, "foo", &c);
	assert_int_equal(c.files, 0);
	assert_int_equal(sigdb_skipped(db), 3);
	sigdb_log_stats(db, NULL);
	sigdb_free(db);
}

/* Lines split across feeds, overlong lines and NUL bytes. */
static void
test_text_pieces(void **state)
{
	struct sigdb *db = sigdb_new();
	struct sigdb_text *t;
	struct sigdb_counts c;
	char *big = xmalloc(SIGDB_MAX_LINE + 10);
	static const char line[] = "Split.Sig:0:*:41424344\nNul.Sig:0:*:41\00042\nAfter:0:*:4546\n";

	(void)state;
	t = sigdb_text_begin(db, "p.ndb", "ndb", 0);
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(line) - 1; i++)
		sigdb_text_feed(t, line + i, 1);
	memset(big, 'a', SIGDB_MAX_LINE + 10);
	sigdb_text_feed(t, big, SIGDB_MAX_LINE + 10);
	sigdb_text_feed(t, "\nLast:0:*:4748\n", 15);
	assert_int_equal(sigdb_text_end(t), 3);
	sigdb_counts(db, "ndb", &c);
	assert_int_equal(c.loaded, 3);
	assert_int_equal(c.bad, 2);
	assert_string_equal(sigdb_ndb(db, 2)->name, "Last");
	assert_string_equal(sigdb_ndb(db, 2)->origin, "p.ndb:5");
	assert_null(sigdb_text_begin(db, "p.zzz", "zzz", 0));
	t = sigdb_text_begin(db, "p.zzz", "zzz", 1);
	sigdb_text_feed(t, "x\ny\n", 4);
	assert_int_equal(sigdb_text_end(t), 0);
	sigdb_counts(db, "zzz", &c);
	assert_int_equal(c.unsupported, 2);
	free(big);
	sigdb_free(db);
}

static void
test_absorb_copy(void **state)
{
	struct sigdb *a = sigdb_new(), *b = sigdb_new(), *c = sigdb_new();
	struct sigdb_counts n;

	(void)state;
	sigdb_load_buffer(a, "a.ndb", "ndb", "A:0:*:4142\nB:0:*:4344\n", 22);
	sigdb_load_buffer(b, "b.ndb", "ndb", "C:0:*:4546\nbad\n", 15);
	sigdb_load_buffer(b, "b.hdb", "hdb", "aa15bcf478d165efd2065190eb473bcb:1:H\n", 37);
	sigdb_absorb(a, b);
	assert_int_equal(sigdb_ndb_count(a), 3);
	assert_int_equal(sigdb_hash_count(a), 1);
	assert_int_equal(sigdb_ndb_count(b), 0);
	assert_int_equal(sigdb_hash_count(b), 0);
	assert_int_equal(sigdb_skipped(b), 0);
	sigdb_counts(a, "ndb", &n);
	assert_int_equal(n.loaded, 3);
	assert_int_equal(n.bad, 1);
	assert_string_equal(sigdb_ndb(a, 2)->origin, "b.ndb:1");

	sigdb_reject_ndb(a, 1, "test");
	sigdb_copy(c, a);
	assert_int_equal(sigdb_ndb_count(c), 2);
	assert_string_equal(sigdb_ndb(c, 1)->name, "C");
	assert_int_equal(sigdb_hash_count(c), 1);
	assert_string_equal(sigdb_hash(c, 0)->name, "H");
	sigdb_free(a);
	sigdb_free(b);
	sigdb_free(c);
}

/* --- synthetic .cvd --- */

struct member {
	const char *name, *text;
};

static const struct member cvd_members[] = {
    {"COPYING", "licence text\nnot signatures\n"},
    {"test.info", "ClamAV-VDB:x\ntest.ndb:1:abc\n"},
    {"test.ndb", "Cvd.Ndb.One:0:*:41424344\nCvd.Ndb.Two:0:0:4546\nbad line\n"
                 "Cvd.Unsup:1:EP+0:4142\n"},
    {"test.hdb", "aa15bcf478d165efd2065190eb473bcb:544:Cvd.Hdb\n"},
    {"test.hsb", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:*:Cvd.Hsb\n"},
    {"test.ldb", "L1;Target:0;0;4142\nL2;Target:0;0;4344\nL3;Target:0;0;4546\n"},
    {"test.fp", "aa15bcf478d165efd2065190eb473bcb:544:Fp\n"},
    {"test.yar", "rule x { condition: true }\n"},
    {"test.weird", "what\n"},
};

/* Builds header + tar (gzip'd unless plain) of the members; caller frees. */
static uint8_t *
make_cvd(unsigned version, int plain, int break_md5, size_t *lenp)
{
	size_t cap = 1 << 20, used = 0;
	uint8_t *buf = xcalloc(1, cap), md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1], hdr[CVD_HEADER_SIZE + 1];
	struct archive *a = archive_write_new();
	unsigned mdlen;
	int n;

	if (!plain)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_format_ustar(a), ARCHIVE_OK);
	assert_int_equal(
	    archive_write_open_memory(a, buf + CVD_HEADER_SIZE, cap - CVD_HEADER_SIZE, &used),
	    ARCHIVE_OK);
	for (size_t i = 0; i < sizeof(cvd_members) / sizeof(cvd_members[0]); i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = strlen(cvd_members[i].text);

		archive_entry_set_pathname(e, cvd_members[i].name);
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		assert_int_equal(archive_write_data(a, cvd_members[i].text, len), (la_ssize_t)len);
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	EVP_Digest(buf + CVD_HEADER_SIZE, used, md, &mdlen, EVP_md5(), NULL);
	hex_encode(md, mdlen, hex);
	if (break_md5)
		hex[0] = hex[0] == '0' ? '1' : '0';
	n = snprintf(hdr, sizeof(hdr), "ClamAV-VDB:14 Jan 2024 08-01 +0000:%u:9:90:%s:dsig:unit:0",
	             version, hex);
	memset(hdr + n, ' ', CVD_HEADER_SIZE - (size_t)n);
	memcpy(buf, hdr, CVD_HEADER_SIZE);
	*lenp = CVD_HEADER_SIZE + used;
	return buf;
}

/* The counts every load of the synthetic database must give. */
static void
check_cvd_counts(const struct sigdb *db, size_t times)
{
	struct sigdb_counts c;

	sigdb_counts(db, "ndb", &c);
	assert_int_equal(c.loaded, 2 * times);
	assert_int_equal(c.bad, 1 * times);
	assert_int_equal(c.unsupported, 1 * times);
	sigdb_counts(db, "hdb", &c);
	assert_int_equal(c.loaded, 1 * times);
	sigdb_counts(db, "hsb", &c);
	assert_int_equal(c.loaded, 1 * times);
	sigdb_counts(db, "ldb", &c);
	assert_int_equal(c.unsupported, 3 * times);
	sigdb_counts(db, "fp", &c);
	assert_int_equal(c.unsupported, 1 * times);
	sigdb_counts(db, "yar", &c);
	assert_int_equal(c.unsupported, 1 * times);
	sigdb_counts(db, "info", &c);
	assert_int_equal(c.unsupported, 2 * times);
	sigdb_counts(db, "weird", &c);
	assert_int_equal(c.unsupported, 1 * times);
	sigdb_counts(db, "none", &c);
	assert_int_equal(c.files, 0); /* COPYING is skipped */
}

static void
test_cvd_memory(void **state)
{
	struct sigdb *db = sigdb_new();
	struct cvd_header h;
	size_t len;
	uint8_t *cvd = make_cvd(27154, 0, 0, &len);

	(void)state;
	assert_int_equal(cvd_parse_header(cvd, len, &h), 0);
	assert_int_equal(h.version, 27154);
	assert_int_equal(h.sigs, 9);
	assert_int_equal(h.flevel, 90);
	assert_string_equal(h.builder, "unit");
	assert_int_equal(sigdb_load_cvd(db, "test.cvd", cvd, len, 0), 0);
	check_cvd_counts(db, 1);
	assert_int_equal(sigdb_ndb_count(db), 2);
	assert_int_equal(sigdb_hash_count(db), 2);
	assert_string_equal(sigdb_ndb(db, 0)->origin, "test.cvd/test.ndb:1");
	assert_string_equal(sigdb_ndb(db, 1)->name, "Cvd.Ndb.Two");
	assert_true(sigdb_hash(db, 1)->size_any);
	sigdb_log_stats(db, "test.cvd");
	sigdb_free(db);
	free(cvd);

	/* A wrong MD5 refuses the whole file. */
	db = sigdb_new();
	cvd = make_cvd(1, 0, 1, &len);
	assert_int_equal(sigdb_load_cvd(db, "bad.cvd", cvd, len, 0), -1);
	assert_int_equal(sigdb_ndb_count(db) + sigdb_hash_count(db), 0);
	/* ... but a .cld is not checked (ClamAV updates it in place). */
	assert_int_equal(sigdb_load_cvd(db, "bad.cld", cvd, len, 1), 0);
	assert_int_equal(sigdb_ndb_count(db), 2);
	free(cvd);

	/* Plain tar (.cld), truncated data, bad header. */
	cvd = make_cvd(2, 1, 0, &len);
	assert_int_equal(sigdb_load_cvd(db, "plain.cld", cvd, len, 1), 0);
	assert_int_equal(sigdb_ndb_count(db), 4);
	assert_int_equal(sigdb_load_cvd(db, "trunc.cld", cvd, len - 700, 1), -1);
	assert_int_equal(sigdb_load_cvd(db, "short.cvd", cvd, 100, 0), -1);
	memcpy(cvd, "ClamAV-VDX", 10);
	assert_int_equal(sigdb_load_cvd(db, "hdr.cvd", cvd, len, 1), -1);
	assert_int_not_equal(cvd_parse_header(cvd, len, &h), 0);
	free(cvd);
	sigdb_free(db);
}

static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	free(path);
}

static void
remove_dir(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static void
test_load_dir(void **state)
{
	char dir[] = "/tmp/pc-sigdb-XXXXXX";
	struct sigdb *db = sigdb_new();
	struct sigdb_counts c;
	uint8_t *cvd_old, *cvd_new;
	size_t len_old, len_new;
	static const char sha[] =
	    "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f Out.One\n";

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file(dir, "a.ndb", ndb_text, strlen(ndb_text));
	write_file(dir, "b.hdb", hash_text, strlen(hash_text));
	write_file(dir, "c.hsb", hash_text, strlen(hash_text));
	write_file(dir, "d.sha256", sha, strlen(sha));
	write_file(dir, "e.ldb", "L;T;0;41\n", 9);
	write_file(dir, "empty.ndb", "", 0);
	write_file(dir, "README", "not signatures\n", 15);
	write_file(dir, "freshclam.dat", "xx", 2);
	write_file(dir, ".hidden.ndb", "H:0:*:4142\n", 11);
	/* daily.cvd (version 5) is older than daily.cld (version 6): only the .cld loads. */
	cvd_old = make_cvd(5, 0, 0, &len_old);
	cvd_new = make_cvd(6, 1, 0, &len_new);
	write_file(dir, "daily.cvd", cvd_old, len_old);
	write_file(dir, "daily.cld", cvd_new, len_new);
	/* main.cvd alone loads. */
	write_file(dir, "main.cvd", cvd_old, len_old);

	assert_int_equal(sigdb_load_dir(db, dir), 0);
	/* ndb: a.ndb (6) + two databases (2 each). */
	sigdb_counts(db, "ndb", &c);
	assert_int_equal(c.loaded, 6 + 2 * 2);
	assert_int_equal(c.bad, 9 + 2);
	assert_int_equal(c.unsupported, 3 + 2);
	assert_int_equal(c.files, 2 + 2);
	sigdb_counts(db, "hdb", &c);
	assert_int_equal(c.loaded, 4 + 2);
	sigdb_counts(db, "hsb", &c);
	assert_int_equal(c.loaded, 4 + 2);
	sigdb_counts(db, "sha256", &c);
	assert_int_equal(c.loaded, 1);
	sigdb_counts(db, "ldb", &c);
	assert_int_equal(c.unsupported, 1 + 2 * 3);
	assert_int_equal(sigdb_ndb_count(db), 10);
	/* The .cld's members carry its name. */
	{
		int seen_cld = 0, seen_old_cvd = 0;

		for (size_t i = 0; i < sigdb_ndb_count(db); i++) {
			seen_cld |= strncmp(sigdb_ndb(db, i)->origin, "daily.cld/", 10) == 0;
			seen_old_cvd |= strncmp(sigdb_ndb(db, i)->origin, "daily.cvd/", 10) == 0;
		}
		assert_true(seen_cld);
		assert_false(seen_old_cvd);
	}
	sigdb_log_stats(db, dir);
	sigdb_free(db);

	/* Single files: by extension; unknown or missing -> -1. */
	db = sigdb_new();
	{
		char *p = xasprintf("%s/README", dir), *q = xasprintf("%s/nope.ndb", dir),
		     *r = xasprintf("%s/main.cvd", dir);

		assert_int_equal(sigdb_load_file(db, p), -1);
		assert_int_equal(sigdb_load_file(db, q), -1);
		assert_int_equal(sigdb_load_file(db, r), 0);
		assert_int_equal(cvd_file_version(r, &(unsigned){0}), 0);
		free(p);
		free(q);
		free(r);
	}
	check_cvd_counts(db, 1);
	sigdb_free(db);
	assert_int_equal(sigdb_load_dir(db = sigdb_new(), "/nonexistent/portcullis"), -1);
	sigdb_free(db);
	free(cvd_old);
	free(cvd_new);
	remove_dir(dir);
}

/* sigdb_set_line_fn: every line not loaded, with origin, line and reason. */
struct seen_lines {
	size_t n;
	size_t lineno[8];
	char why[8][300];
	char origin[8][32];
};

static void
note_line(void *arg, const char *origin, size_t lineno, const char *why)
{
	struct seen_lines *s = arg;

	if (s->n < 8) {
		s->lineno[s->n] = lineno;
		snprintf(s->why[s->n], sizeof(s->why[0]), "%s", why);
		snprintf(s->origin[s->n], sizeof(s->origin[0]), "%s", origin);
	}
	s->n++;
}

static void
test_line_fn(void **state)
{
	static const char text[] = "# comment\n"
	                           "Good.Sig-1:0:*:0102030405060708\n"
	                           "Bad.Sig-1:0:*:zz\n"
	                           "\n"
	                           "only-one-field\n"
	                           "Good.Sig-2:0:*:1112131415161718\n";
	struct seen_lines seen = {0};
	struct sigdb *db = sigdb_new();
	struct sigdb_counts c;

	(void)state;
	sigdb_set_line_fn(db, note_line, &seen);
	assert_int_equal(sigdb_load_buffer(db, "x.ndb", "ndb", text, strlen(text)), 2);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.lineno[0], 3);
	assert_int_equal(seen.lineno[1], 5);
	assert_string_equal(seen.origin[0], "x.ndb");
	assert_true(seen.why[0][0] != '\0');
	assert_true(seen.why[1][0] != '\0');
	/* the counts are what they were without a callback */
	sigdb_counts(db, "ndb", &c);
	assert_int_equal(c.loaded, 2);
	assert_int_equal(c.bad, 2);
	/* unset: no more calls */
	sigdb_set_line_fn(db, NULL, NULL);
	assert_int_equal(sigdb_load_buffer(db, "y.ndb", "ndb", text, strlen(text)), 2);
	assert_int_equal(seen.n, 2);
	sigdb_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ndb_lines),    cmocka_unit_test(test_hash_lines),
	    cmocka_unit_test(test_sha256_lines), cmocka_unit_test(test_unsupported_types),
	    cmocka_unit_test(test_text_pieces),  cmocka_unit_test(test_absorb_copy),
	    cmocka_unit_test(test_cvd_memory),   cmocka_unit_test(test_load_dir),
	    cmocka_unit_test(test_line_fn),
	};

	log_init("test_sigdb", 0, getenv("PC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

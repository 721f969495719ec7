/*
 * Unit tests for scan/walk with a recording sink (path, size, MD5 of every
 * node; a "Marker" hit where the marker string occurs), no engine:
 * - every ClamAV test file that libarchive or mailwalk can read yields
 *   clam.exe; a table lists, with the reason, those it cannot reach, and
 *   checks that they indeed do not;
 * - nested containers built here with libarchive's writer, through memory
 *   and through a pipe;
 * - each limit, encrypted and truncated archives, hostile member names,
 *   deep nesting, a ratio bomb, safe-type skipping, sink failures.
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
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "scan/sig.h"
#include "scan/walk.h"
#include "util/words.h"

#define CLAM_MD5 "aa15bcf478d165efd2065190eb473bcb"
#define MARKER "PCWALK-MARKER-7f3a"
#define MAX_NODES 512

/* ---- the recording sink ---- */

struct node_rec {
	char path[1400];
	char mime[96];
	char md5[33];
	uint64_t size_arg, fed;
	unsigned target;
	int marker;
};

struct sink_state {
	struct node_rec nodes[MAX_NODES];
	size_t n;           /* nodes opened */
	size_t maxfeed;     /* largest feed() */
	long fail_feed_at;  /* node index whose feed fails, -1 = none */
	long fail_close_at; /* node index whose close fails, -1 = none */
	unsigned feed_sleep_ms;
};

struct live_node {
	struct sink_state *st;
	size_t idx;
	EVP_MD_CTX *md;
	uint64_t fed;
	char tail[sizeof(MARKER)];
	size_t taillen;
	int marker;
};

static void *
rec_open(void *arg, const char *path, const struct file_type *t, uint64_t size)
{
	struct sink_state *st = arg;
	struct live_node *n = calloc(1, sizeof(*n));

	assert_non_null(n);
	n->st = st;
	n->idx = st->n++;
	n->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(n->md, EVP_md5(), NULL);
	if (n->idx < MAX_NODES) {
		struct node_rec *r = &st->nodes[n->idx];

		snprintf(r->path, sizeof(r->path), "%s", path);
		snprintf(r->mime, sizeof(r->mime), "%s", t->mime);
		r->size_arg = size;
		r->target = t->target_mask;
	}
	return n;
}

static int
rec_feed(void *node, const void *buf, size_t len)
{
	struct live_node *n = node;
	size_t ml = sizeof(MARKER) - 1;
	char *join;

	if ((long)n->idx == n->st->fail_feed_at)
		return -1;
	if (len > n->st->maxfeed)
		n->st->maxfeed = len;
	if (n->st->feed_sleep_ms) {
		struct timespec ts = {0, (long)n->st->feed_sleep_ms * 1000000L};

		nanosleep(&ts, NULL);
	}
	EVP_DigestUpdate(n->md, buf, len);
	n->fed += len;
	/* The marker may straddle two feeds. */
	join = malloc(n->taillen + len);
	assert_non_null(join);
	memcpy(join, n->tail, n->taillen);
	memcpy(join + n->taillen, buf, len);
	if (memmem(join, n->taillen + len, MARKER, ml))
		n->marker = 1;
	if (n->taillen + len >= ml - 1) {
		memcpy(n->tail, join + n->taillen + len - (ml - 1), ml - 1);
		n->taillen = ml - 1;
	} else {
		memcpy(n->tail, join, n->taillen + len);
		n->taillen += len;
	}
	free(join);
	return 0;
}

static int
rec_close(void *node, struct scan_verdict *v, const char *path)
{
	struct live_node *n = node;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;
	int ret = (long)n->idx == n->st->fail_close_at ? -1 : 0;

	EVP_DigestFinal_ex(n->md, md, &mdlen);
	EVP_MD_CTX_free(n->md);
	if (n->idx < MAX_NODES) {
		struct node_rec *r = &n->st->nodes[n->idx];

		assert_string_equal(r->path, path);
		for (unsigned i = 0; i < 16; i++)
			snprintf(r->md5 + 2 * i, 3, "%02x", md[i]);
		r->fed = n->fed;
		r->marker = n->marker;
	}
	if (n->marker)
		verdict_add_hit(v, "Marker", path);
	free(n);
	return ret;
}

static struct filetype *ft;

static void
state_init(struct sink_state *st)
{
	memset(st, 0, sizeof(*st));
	st->fail_feed_at = -1;
	st->fail_close_at = -1;
}

static void
opts_init(struct walk_options *o)
{
	memset(o, 0, sizeof(*o));
	o->limits.max_depth = 16;
}

static int
walk_buf(const struct walk_options *o, struct sink_state *st, const void *buf, size_t len,
         const char *name, struct scan_verdict *v)
{
	struct walk_sink sink = {rec_open, rec_feed, rec_close, st};

	return walk_mem(o, &sink, ft, buf, len, name, v);
}

static const struct node_rec *
find_path(const struct sink_state *st, const char *path)
{
	for (size_t i = 0; i < st->n && i < MAX_NODES; i++)
		if (strcmp(st->nodes[i].path, path) == 0)
			return &st->nodes[i];
	return NULL;
}

static const struct node_rec *
find_md5(const struct sink_state *st, const char *md5)
{
	for (size_t i = 0; i < st->n && i < MAX_NODES; i++)
		if (strcmp(st->nodes[i].md5, md5) == 0)
			return &st->nodes[i];
	return NULL;
}

static void
dump(const struct sink_state *st)
{
	for (size_t i = 0; i < st->n && i < MAX_NODES; i++)
		print_message("  node %s fed=%llu %s\n", st->nodes[i].path,
		              (unsigned long long)st->nodes[i].fed, st->nodes[i].mime);
}

/* ---- test data ---- */

static const char *
md5hex(const void *buf, size_t len)
{
	static char hex[33];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;

	EVP_Digest(buf, len, md, &mdlen, EVP_md5(), NULL);
	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

static const char *
testfiles(void)
{
	const char *d = getenv("PC_TESTFILES");

	return d ? d : "/usr/share/clamav-testfiles";
}

static unsigned char *
load(const char *name, size_t *len)
{
	char path[1024];
	unsigned char *buf;
	struct stat sb;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", testfiles(), name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fstat(fileno(f), &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	*len = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	return buf;
}

struct entry {
	const char *name;
	const void *data;
	size_t len;
	unsigned repeat; /* data written this many times (0 = once) */
};

/*
 * Builds an archive in memory with libarchive's writer: format "zip" or
 * "tar", filter "gzip" or NULL, extra options and a passphrase or NULL.
 */
static unsigned char *
build(const char *format, const char *filter, const char *options, const char *passphrase,
      const struct entry *e, size_t n, size_t *outlen)
{
	size_t cap = 1 << 20, used = 0;
	struct archive *a = archive_write_new();
	unsigned char *buf;

	for (size_t i = 0; i < n; i++)
		cap += e[i].len * (e[i].repeat > 1 ? 1 : 2) + 1024;
	buf = malloc(cap);
	assert_non_null(buf);
	if (strcmp(format, "zip") == 0)
		assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	else
		assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (filter && strcmp(filter, "gzip") == 0)
		assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	else
		assert_int_equal(archive_write_add_filter_none(a), ARCHIVE_OK);
	if (options && archive_write_set_options(a, options) != ARCHIVE_OK)
		fail_msg("options %s: %s", options, archive_error_string(a));
	if (passphrase)
		assert_int_equal(archive_write_set_passphrase(a, passphrase), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		unsigned rep = e[i].repeat ? e[i].repeat : 1;

		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_size(ae, (la_int64_t)(e[i].len * rep));
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		if (archive_write_header(a, ae) != ARCHIVE_OK)
			fail_msg("write header %s: %s", e[i].name, archive_error_string(a));
		for (unsigned r = 0; r < rep; r++)
			assert_int_equal(archive_write_data(a, e[i].data, e[i].len),
			                 (la_ssize_t)e[i].len);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	*outlen = used;
	return buf;
}

/* ---- the ClamAV test files ---- */

/*
 * The files in which the walker cannot reach clam.exe, and why. Anything
 * else in the directory must yield a node whose MD5 is clam.exe's.
 */
static const struct {
	const char *file;
	const char *reason;
	enum scan_status status;
} unreachable[] = {
    {"clam-aspack.exe", "packed PE (ASPack): needs an unpacker", SCAN_CLEAN},
    {"clam-fsg.exe", "packed PE (FSG)", SCAN_CLEAN},
    {"clam-mew.exe", "packed PE (MEW)", SCAN_CLEAN},
    {"clam-pespin.exe", "packed PE (PESpin)", SCAN_CLEAN},
    {"clam-petite.exe", "packed PE (Petite)", SCAN_CLEAN},
    {"clam-upack.exe", "packed PE (Upack)", SCAN_CLEAN},
    {"clam-upx.exe", "packed PE (UPX)", SCAN_CLEAN},
    {"clam-wwpack.exe", "packed PE (WWPack)", SCAN_CLEAN},
    {"clam-yc.exe", "packed PE (yC)", SCAN_CLEAN},
    {"clam-nsis.exe", "NSIS installer: no NSIS reader", SCAN_CLEAN},
    {"clam.ea05.exe", "AutoIt v3.0 script in a PE", SCAN_CLEAN},
    {"clam.ea06.exe", "AutoIt v3.26+ script in a PE", SCAN_CLEAN},
    {"clam_IScab_ext.exe", "InstallShield cabinet in a PE", SCAN_CLEAN},
    {"clam_IScab_int.exe", "InstallShield cabinet in a PE", SCAN_CLEAN},
    {"clam_ISmsi_ext.exe", "InstallShield MSI in a PE", SCAN_CLEAN},
    {"clam_ISmsi_int.exe", "InstallShield MSI in a PE", SCAN_CLEAN},
};

/* Where clam.exe must show up in some of the readable ones. */
static const struct {
	const char *file, *path;
} clam_paths[] = {
    {"clam.exe", "clam.exe"},
    {"clam.zip", "clam.zip//clam.exe"},
    {"clam.exe.bz2", "clam.exe.bz2//clam.exe"},
    {"clam.tar.gz", "clam.tar.gz//clam.tar//clam.exe"},
    {"clam.mail", "clam.mail//2/clam.exe"},
    {"clam.exe.mbox.base64", "clam.exe.mbox.base64//m1.1/clam.exe"},
    {"clam.exe.mbox.uu", "clam.exe.mbox.uu//m1.1/clam.exe"},
    {"clam.pdf", "clam.pdf//obj15"},
    {"clam.exe.rtf", "clam.exe.rtf//Clam.exe"},
    {"clam.exe.html", "clam.exe.html//b64-1"},
    {"clam.exe.binhex", "clam.exe.binhex//hqx1/clam.exe"},
    {"clam_cache_emax.tgz",
     "clam_cache_emax.tgz//clam_cache_emax.tar//clam02.tgz//clam02.tar//clam03.tgz//clam03.tar//"
     "clam04.tgz//clam04.tar//clam05.tgz//clam05.tar//clam06.tgz//clam06.tar//clam07.tgz//"
     "clam07.tar//clam08.tgz//clam08.tar//clam.exe"},
    {"clam.chm", "clam.chm//clam.exe.txt"},
    {"clam.exe.szdd", "clam.exe.szdd//#1"},
    {"clam.tnef", "clam.tnef//clam.exe"},
    {"clam.sis", "clam.sis//clam.exe"},
    {"clam.ppt", "clam.ppt//PowerPoint Document/#1//?Ole10Native/clam.exe"},
    {"clam.ole.doc", "clam.ole.doc//ObjectPool/_1279313719/?Ole10Native/Clam.exe"},
};

static void
test_clamav_testfiles(void **state)
{
	struct walk_options o;
	struct walk_sink sink = {rec_open, rec_feed, rec_close, NULL};
	struct sink_state *st = malloc(sizeof(*st));
	int seen[sizeof(unreachable) / sizeof(unreachable[0])] = {0};
	unsigned files = 0, reached = 0;
	struct dirent *de;
	DIR *d = opendir(testfiles());
	(void)state;

	assert_non_null(d);
	opts_init(&o);
	sink.arg = st;
	while ((de = readdir(d)) != NULL) {
		char path[1024];
		struct scan_verdict v;
		long un = -1;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < sizeof(unreachable) / sizeof(unreachable[0]); i++)
			if (strcmp(unreachable[i].file, de->d_name) == 0)
				un = (long)i;
		snprintf(path, sizeof(path), "%s/%s", testfiles(), de->d_name);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		state_init(st);
		verdict_init(&v);
		assert_int_equal(walk_fd(&o, &sink, ft, fd, de->d_name, &v), 0);
		close(fd);
		files++;
		if (un >= 0) {
			seen[un] = 1;
			if (find_md5(st, CLAM_MD5))
				fail_msg("%s is listed unreachable (%s) but yields clam.exe: "
				         "remove it from the table",
				         de->d_name, unreachable[un].reason);
			if (v.status != unreachable[un].status)
				fail_msg("%s: status %s (%s), want %s", de->d_name,
				         scan_status_name(v.status), v.reason ? v.reason : "",
				         scan_status_name(unreachable[un].status));
		} else {
			if (!find_md5(st, CLAM_MD5)) {
				dump(st);
				fail_msg("%s: no node is clam.exe (status %s %s)", de->d_name,
				         scan_status_name(v.status), v.reason ? v.reason : "");
			}
			assert_int_equal(v.status, SCAN_CLEAN);
			reached++;
		}
		for (size_t i = 0; i < sizeof(clam_paths) / sizeof(clam_paths[0]); i++) {
			const struct node_rec *r;

			if (strcmp(clam_paths[i].file, de->d_name) != 0)
				continue;
			r = find_path(st, clam_paths[i].path);
			if (r == NULL || strcmp(r->md5, CLAM_MD5) != 0) {
				dump(st);
				fail_msg("%s: no clam.exe at %s", de->d_name, clam_paths[i].path);
			}
			/* clam.exe is a PE wherever it is found. */
			assert_true(r->target & TARGET_BIT(1));
		}
		verdict_clear(&v);
	}
	closedir(d);
	for (size_t i = 0; i < sizeof(unreachable) / sizeof(unreachable[0]); i++)
		if (!seen[i])
			fail_msg("%s is in the table but not in %s", unreachable[i].file,
			         testfiles());
	print_message("  %u test files, clam.exe reached in %u\n", files, reached);
	assert_true(reached >= 15);
	free(st);
}

/* ---- nesting ---- */

static const char readme[] = "nothing to see here\n";
static const char marker_txt[] = "some text " MARKER " more text\n";

/* zip { mid.tar.gz { inner.zip { clam.exe, marker.txt } }, readme.txt } */
static unsigned char *
build_nested(size_t *len)
{
	unsigned char *clam, *inner, *mid, *outer;
	size_t clen, ilen, mlen;

	clam = load("clam.exe", &clen);
	struct entry ie[] = {{"clam.exe", clam, clen, 0},
	                     {"marker.txt", marker_txt, sizeof(marker_txt) - 1, 0}};
	inner = build("zip", NULL, NULL, NULL, ie, 2, &ilen);
	struct entry me[] = {{"inner.zip", inner, ilen, 0}};
	mid = build("tar", "gzip", NULL, NULL, me, 1, &mlen);
	struct entry oe[] = {{"mid.tar.gz", mid, mlen, 0},
	                     {"readme.txt", readme, sizeof(readme) - 1, 0}};
	outer = build("zip", NULL, NULL, NULL, oe, 2, len);
	free(clam);
	free(inner);
	free(mid);
	return outer;
}

static const char *const nested_paths[] = {
    "outer.zip",
    "outer.zip//mid.tar.gz",
    "outer.zip//mid.tar.gz//mid.tar",
    "outer.zip//mid.tar.gz//mid.tar//inner.zip",
    "outer.zip//mid.tar.gz//mid.tar//inner.zip//clam.exe",
    "outer.zip//mid.tar.gz//mid.tar//inner.zip//marker.txt",
    "outer.zip//readme.txt",
};

static void
check_nested(const struct sink_state *st, const struct scan_verdict *v)
{
	if (st->n != sizeof(nested_paths) / sizeof(nested_paths[0]))
		dump(st);
	assert_int_equal(st->n, sizeof(nested_paths) / sizeof(nested_paths[0]));
	for (size_t i = 0; i < st->n; i++)
		assert_string_equal(st->nodes[i].path, nested_paths[i]);
	assert_string_equal(st->nodes[4].md5, CLAM_MD5);
	assert_int_equal(v->status, SCAN_INFECTED);
	assert_int_equal(v->nhits, 1);
	assert_string_equal(v->hits[0].path,
	                    "outer.zip//mid.tar.gz//mid.tar//inner.zip//marker.txt");
	assert_int_equal(v->other, SCAN_CLEAN);
	assert_true(st->maxfeed <= WALK_CHUNK);
}

static void
test_nested_mem(void **state)
{
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t len;
	unsigned char *z = build_nested(&len);
	(void)state;

	opts_init(&o);
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, z, len, "outer.zip", &v), 0);
	check_nested(st, &v);
	/* The root's own bytes were fed whole, with its size. */
	assert_int_equal(st->nodes[0].fed, len);
	assert_int_equal(st->nodes[0].size_arg, len);
	verdict_clear(&v);
	free(z);
	free(st);
}

/* Through a pipe the root is spooled to a temporary file to be opened. */
static void
test_nested_pipe(void **state)
{
	struct walk_options o;
	struct walk_sink sink = {rec_open, rec_feed, rec_close, NULL};
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t len;
	unsigned char *z = build_nested(&len);
	int p[2];
	(void)state;

	assert_true(len < 60000); /* fits in the pipe buffer */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], z, len), (ssize_t)len);
	close(p[1]);
	opts_init(&o);
	state_init(st);
	sink.arg = st;
	verdict_init(&v);
	assert_int_equal(walk_fd(&o, &sink, ft, p[0], "outer.zip", &v), 0);
	close(p[0]);
	check_nested(st, &v);
	assert_int_equal(st->nodes[0].size_arg, WALK_SIZE_UNKNOWN);
	verdict_clear(&v);
	/* A caller's absolute path keeps its leading slash (and nothing else odd). */
	state_init(st);
	assert_int_equal(walk_buf(&o, st, z, len, "/var/spool//in\n.zip", &v), 0);
	assert_string_equal(st->nodes[0].path, "/var/spool/in?.zip");
	assert_string_equal(st->nodes[1].path, "/var/spool/in?.zip//mid.tar.gz");
	verdict_clear(&v);
	free(z);
	free(st);
}

/* A zip inside a base64 attachment inside a mail. */
static void
test_mail_with_zip(void **state)
{
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t zlen, mlen = 0;
	unsigned char *zip = load("clam.zip", &zlen);
	unsigned char b64[4096];
	char *mail = malloc(8192);
	int n;
	(void)state;

	n = EVP_EncodeBlock(b64, zip, (int)zlen);
	mlen = (size_t)snprintf(mail, 8192,
	                        "From: a@example.com\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
	                        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
	                        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
	                        "--b\r\nContent-Type: application/zip; name=\"report.zip\"\r\n"
	                        "Content-Transfer-Encoding: base64\r\n\r\n");
	for (int i = 0; i < n; i += 76)
		mlen += (size_t)snprintf(mail + mlen, 8192 - mlen, "%.*s\r\n",
		                         n - i < 76 ? n - i : 76, b64 + i);
	mlen += (size_t)snprintf(mail + mlen, 8192 - mlen, "--b--\r\n");
	opts_init(&o);
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, mail, mlen, "mail.eml", &v), 0);
	assert_non_null(find_path(st, "mail.eml//1"));
	assert_non_null(find_path(st, "mail.eml//2/report.zip"));
	/* The attachment decodes to the very zip that was encoded. */
	assert_string_equal(find_path(st, "mail.eml//2/report.zip")->md5, md5hex(zip, zlen));
	if (find_path(st, "mail.eml//2/report.zip//clam.exe") == NULL)
		dump(st);
	assert_string_equal(find_path(st, "mail.eml//2/report.zip//clam.exe")->md5, CLAM_MD5);
	assert_true(find_path(st, "mail.eml")->target & TARGET_BIT(4));
	assert_int_equal(v.status, SCAN_CLEAN);
	verdict_clear(&v);
	free(zip);
	free(mail);
	free(st);
}

/*
 * SMTP DATA is a message whatever it looks like: with root_is_message a
 * message that opens with a UTF-8 BOM and junk lines (which no sniffing
 * calls mail) is walked, mended, and its part is found; without, it is one
 * text node.
 */
static void
test_root_is_message(void **state)
{
	static const char msg[] =
	    "\xef\xbb\xbf"
	    "junk 1\r\njunk 2\r\njunk 3\r\n"
	    "From: a@example.com\r\nSubject: bom\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	    "--b\r\nContent-Type: application/octet-stream\r\n\r\n" MARKER "\r\n--b--\r\n";
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	(void)state;

	for (int forced = 0; forced <= 1; forced++) {
		opts_init(&o);
		o.root_is_message = forced;
		o.mail_norm.max_header_bytes = 1 << 20;
		o.mail_norm.max_boundaries = 64;
		o.mail_norm.max_junk_lines = 16;
		o.skip_safe = 1; /* a message is never skipped as safe text */
		state_init(st);
		verdict_init(&v);
		assert_int_equal(walk_buf(&o, st, msg, sizeof(msg) - 1, "data", &v), 0);
		if (forced) {
			assert_non_null(find_path(st, "data//2"));
			assert_true(find_path(st, "data//2")->marker);
			assert_true(find_path(st, "data")->target & TARGET_BIT(4));
		} else {
			assert_null(find_path(st, "data//2"));
		}
		assert_int_equal(v.other, SCAN_CLEAN);
		verdict_clear(&v);
	}
	free(st);
}

/* Plain text with a uuencoded block (not a mail). */
static void
test_uu_text(void **state)
{
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t len;
	unsigned char *mbox = load("clam.exe.mbox.uu", &len);
	char *begin = memmem(mbox, len, "begin 644", 9), *text;
	size_t tlen;
	(void)state;

	assert_non_null(begin);
	text = malloc(len + 64);
	tlen = (size_t)sprintf(text, "Some notes before the block.\n\n");
	memcpy(text + tlen, begin, len - (size_t)(begin - (char *)mbox));
	tlen += len - (size_t)(begin - (char *)mbox);
	opts_init(&o);
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, text, tlen, "notes.txt", &v), 0);
	if (find_path(st, "notes.txt//uu1/clam.exe") == NULL)
		dump(st);
	assert_string_equal(find_path(st, "notes.txt//uu1/clam.exe")->md5, CLAM_MD5);
	assert_int_equal(st->n, 2);
	verdict_clear(&v);
	free(text);
	free(mbox);
	free(st);
}

/*
 * A uuencoded block in a text part of a mail: mailwalk hands it on once as
 * "1.uu1"; the text part itself is not decoded a second time.
 */
static void
test_uu_in_mail(void **state)
{
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t len, mlen;
	unsigned char *mbox = load("clam.exe.mbox.uu", &len);
	char *begin = memmem(mbox, len, "begin 644", 9), *mail;
	(void)state;

	assert_non_null(begin);
	mail = malloc(len + 256);
	mlen = (size_t)sprintf(mail, "From: a@example.com\nSubject: uu\nMIME-Version: 1.0\n"
	                             "Content-Type: text/plain\n\nhello\n\n");
	memcpy(mail + mlen, begin, len - (size_t)(begin - (char *)mbox));
	mlen += len - (size_t)(begin - (char *)mbox);
	opts_init(&o);
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, mail, mlen, "m.eml", &v), 0);
	if (st->n != 3)
		dump(st);
	assert_int_equal(st->n, 3);
	assert_string_equal(st->nodes[0].path, "m.eml");
	assert_string_equal(st->nodes[1].path, "m.eml//1");
	assert_string_equal(st->nodes[2].path, "m.eml//1.uu1/clam.exe");
	assert_string_equal(st->nodes[2].md5, CLAM_MD5);
	verdict_clear(&v);
	free(mail);
	free(mbox);
	free(st);
}

/* ---- limits ---- */

/* zip(zip(...zip(marker.txt)...)), levels deep. */
static unsigned char *
build_deep(unsigned levels, size_t *len)
{
	struct entry e = {"marker.txt", marker_txt, sizeof(marker_txt) - 1, 0};
	unsigned char *cur = build("zip", NULL, NULL, NULL, &e, 1, len);

	for (unsigned i = 1; i < levels; i++) {
		char name[32];
		unsigned char *next;

		snprintf(name, sizeof(name), "l%u.zip", levels - i);
		e.name = name;
		e.data = cur;
		e.len = *len;
		next = build("zip", NULL, NULL, NULL, &e, 1, len);
		free(cur);
		cur = next;
	}
	return cur;
}

static size_t
path_depth(const char *p)
{
	size_t d = 0;

	while ((p = strstr(p, "//")) != NULL) {
		d++;
		p += 2;
	}
	return d;
}

static void
test_depth(void **state)
{
	static const struct {
		unsigned levels, max_depth;
		size_t want_nodes; /* nodes fed */
		int limited;
	} r[] = {
	    {50, 10, 11, 1},                 /* depths 0..10 fed, the zip at depth 10 not opened */
	    {50, 0, 51, 0},                  /* no limit: 50 zips and marker.txt */
	    {70, 0, WALK_DEPTH_HARD + 1, 1}, /* the hard stop */
	    {3, 3, 4, 0},
	    {3, 2, 3, 1},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct walk_options o;
		struct sink_state *st = malloc(sizeof(*st));
		struct scan_verdict v;
		size_t len;
		unsigned char *z = build_deep(r[i].levels, &len);

		opts_init(&o);
		o.limits.max_depth = r[i].max_depth;
		state_init(st);
		verdict_init(&v);
		assert_int_equal(walk_buf(&o, st, z, len, "deep.zip", &v), 0);
		if (st->n != r[i].want_nodes)
			fail_msg("row %zu: %zu nodes, want %zu", i, st->n, r[i].want_nodes);
		if (r[i].limited) {
			assert_int_equal(v.status, SCAN_LIMIT);
			assert_int_equal(v.limit, LIMIT_DEPTH);
			assert_int_equal(path_depth(v.where), r[i].want_nodes - 1);
			assert_int_equal(v.nhits, 0);
		} else {
			assert_int_equal(v.status, SCAN_INFECTED); /* marker.txt reached */
		}
		verdict_clear(&v);
		free(z);
		free(st);
	}
}

static void
test_size_limits(void **state)
{
	static unsigned char blob[100 * 1024];
	struct entry e[] = {
	    {"a.bin", blob, sizeof(blob), 0},
	    {"b.bin", blob, sizeof(blob), 0},
	    {"c.bin", blob, sizeof(blob), 0},
	    {"d.bin", blob, sizeof(blob), 0},
	};
	struct {
		struct walk_limits lim;
		enum scan_limit want;
		const char *where;
		size_t nodes; /* opened */
		uint64_t members_fed;
	} r[] = {
	    {{16, 150 * 1024, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	     LIMIT_TOTAL_BYTES,
	     "z.zip//b.bin",
	     3,
	     150 * 1024},
	    {{16, 0, 10 * 1024, 0, 0, 0, 0, 0, 0, 0, 0}, LIMIT_FILE_SIZE, "z.zip", 1, 0},
	    {{16, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0}, LIMIT_FILES, "z.zip//c.bin", 3, 200 * 1024},
	    {{16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, LIMIT_NONE, NULL, 5, 400 * 1024},
	};
	size_t len;
	unsigned char *z;
	(void)state;

	/* Incompressible, so the zip is larger than the file size limit. */
	srand(7);
	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (unsigned char)rand();
	z = build("zip", NULL, NULL, NULL, e, 4, &len);
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct walk_options o;
		struct sink_state *st = malloc(sizeof(*st));
		struct scan_verdict v;
		uint64_t fed = 0;

		opts_init(&o);
		o.limits = r[i].lim;
		state_init(st);
		verdict_init(&v);
		assert_int_equal(walk_buf(&o, st, z, len, "z.zip", &v), 0);
		for (size_t k = 1; k < st->n; k++)
			fed += st->nodes[k].fed;
		if (st->n != r[i].nodes || fed != r[i].members_fed) {
			dump(st);
			fail_msg("row %zu: %zu nodes, %llu bytes", i, st->n,
			         (unsigned long long)fed);
		}
		if (r[i].want == LIMIT_NONE) {
			assert_int_equal(v.status, SCAN_CLEAN);
		} else {
			assert_int_equal(v.status, SCAN_LIMIT);
			assert_int_equal(v.limit, r[i].want);
			assert_string_equal(v.where, r[i].where);
		}
		if (r[i].want == LIMIT_FILE_SIZE) {
			/* Fed up to the limit, announced with no size, not opened. */
			assert_int_equal(st->nodes[0].fed, 10 * 1024);
			assert_int_equal(st->nodes[0].size_arg, WALK_SIZE_UNKNOWN);
		}
		verdict_clear(&v);
		free(st);
	}
	free(z);
}

/* A member over max_file_size is cut the same way; its siblings go on. */
static void
test_member_file_size(void **state)
{
	static const unsigned char zeros[100 * 1024];
	struct entry e[] = {{"zeros.bin", zeros, sizeof(zeros), 0},
	                    {"readme.txt", readme, sizeof(readme) - 1, 0}};
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t len;
	unsigned char *z = build("zip", NULL, NULL, NULL, e, 2, &len);
	(void)state;

	assert_true(len < 50 * 1024); /* the zip itself is under the limit */
	opts_init(&o);
	o.limits.max_file_size = 50 * 1024;
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, z, len, "z.zip", &v), 0);
	assert_int_equal(st->n, 3);
	assert_int_equal(st->nodes[1].fed, 50 * 1024);
	assert_int_equal(st->nodes[1].size_arg, WALK_SIZE_UNKNOWN);
	assert_int_equal(st->nodes[2].fed, sizeof(readme) - 1);
	assert_int_equal(v.status, SCAN_LIMIT);
	assert_int_equal(v.limit, LIMIT_FILE_SIZE);
	assert_string_equal(v.where, "z.zip//zeros.bin");
	verdict_clear(&v);
	free(z);
	free(st);
}

static uint64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 100 MB of zeros deflated: stopped by the ratio, or by the byte budget. */
static void
test_ratio_bomb(void **state)
{
	static const unsigned char mib[1 << 20];
	struct entry e = {"zeros.bin", mib, sizeof(mib), 100};
	struct {
		unsigned max_ratio;
		uint64_t max_total;
		enum scan_limit want;
	} r[] = {
	    {100, 0, LIMIT_RATIO},
	    {0, 10 << 20, LIMIT_TOTAL_BYTES},
	};
	size_t len;
	unsigned char *z = build("zip", NULL, NULL, NULL, &e, 1, &len);
	(void)state;

	assert_true(len < 1 << 20);
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct walk_options o;
		struct sink_state *st = malloc(sizeof(*st));
		struct scan_verdict v;
		uint64_t t0 = ms_now();

		opts_init(&o);
		o.limits.max_ratio = r[i].max_ratio;
		o.limits.max_total_bytes = r[i].max_total;
		state_init(st);
		verdict_init(&v);
		assert_int_equal(walk_buf(&o, st, z, len, "bomb.zip", &v), 0);
		assert_int_equal(v.status, SCAN_LIMIT);
		assert_int_equal(v.limit, r[i].want);
		assert_string_equal(v.where, "bomb.zip//zeros.bin");
		assert_int_equal(st->n, 2);
		assert_true(st->nodes[1].fed <= 16u << 20);
		assert_true(ms_now() - t0 < 5000);
		verdict_clear(&v);
		free(st);
	}
	free(z);
}

static void
test_time_limit(void **state)
{
	static unsigned char big[1 << 20];
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	(void)state;

	opts_init(&o);
	o.limits.max_time_ms = 50;
	state_init(st);
	st->feed_sleep_ms = 30; /* 8 chunks would take 240 ms */
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, big, sizeof(big), "big.bin", &v), 0);
	assert_int_equal(v.status, SCAN_LIMIT);
	assert_int_equal(v.limit, LIMIT_TIME);
	assert_true(st->nodes[0].fed < sizeof(big));
	verdict_clear(&v);
	free(st);
}

/* ---- damaged, encrypted, hostile ---- */

static void
test_encrypted(void **state)
{
	static const char secret[] = "secret contents " MARKER "\n";
	struct entry e[] = {{"secret.exe", secret, sizeof(secret) - 1, 0},
	                    {"also.txt", readme, sizeof(readme) - 1, 0}};
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t len;
	unsigned char *z = build("zip", NULL, "zip:encryption=zipcrypt", "pass", e, 2, &len);
	(void)state;

	opts_init(&o);
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, z, len, "enc.zip", &v), 0);
	assert_int_equal(v.status, SCAN_ENCRYPTED);
	assert_string_equal(v.where, "enc.zip//secret.exe");
	/* Only the zip itself was fed; the marker inside was not seen. */
	assert_int_equal(st->n, 1);
	assert_int_equal(v.nhits, 0);
	verdict_clear(&v);
	free(z);
	free(st);
}

static void
test_truncated(void **state)
{
	static const char *const files[] = {"clam.zip",     "clam.tar.gz", "clam.7z",
	                                    "clam.exe.bz2", "clam.cab",    "clam.newc.cpio",
	                                    "clam.mail",    "clam.bz2.zip"};
	(void)state;

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len;
		unsigned char *buf = load(files[f], &len);

		for (size_t cut = 1; cut < len; cut += (cut < 64 ? 1 : 13)) {
			struct walk_options o;
			struct sink_state *st = malloc(sizeof(*st));
			struct scan_verdict v;

			opts_init(&o);
			state_init(st);
			verdict_init(&v);
			assert_int_equal(walk_buf(&o, st, buf, cut, files[f], &v), 0);
			/* The bytes given are always fed. */
			assert_int_equal(st->nodes[0].fed, cut);
			if (v.status != SCAN_CLEAN && v.status != SCAN_CORRUPT)
				fail_msg("%s cut at %zu: %s at %s: %s", files[f], cut,
				         scan_status_name(v.status), v.where ? v.where : "-",
				         v.reason ? v.reason : "-");
			verdict_clear(&v);
			free(st);
		}
		free(buf);
	}
}

/*
 * Members before the damage are still scanned; the damage is noted. libarchive's
 * gzip filter drops the last block it could not finish, so the noise after
 * clam.exe is larger than that block.
 */
static void
test_truncated_keeps_members(void **state)
{
	static unsigned char noise[512 * 1024];
	static const struct {
		const char *format, *filter, *name, *want;
		unsigned num, den; /* cut at num/den of the archive */
	} r[] = {
	    {"tar", NULL, "cut.tar", "cut.tar//clam.exe", 1, 2},
	    {"tar", "gzip", "cut.tar.gz", "cut.tar.gz//cut.tar//clam.exe", 1, 2},
	    {"zip", NULL, "cut.zip", "cut.zip//clam.exe", 3, 4},
	};
	size_t clen;
	unsigned char *clam = load("clam.exe", &clen);
	(void)state;

	/* Incompressible, so that the cut lands well past clam.exe. */
	srand(11);
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (unsigned char)rand();
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct entry e[] = {{"clam.exe", clam, clen, 0},
		                    {"noise.bin", noise, sizeof(noise), 0}};
		struct walk_options o;
		struct sink_state *st = malloc(sizeof(*st));
		struct scan_verdict v;
		const char *want = r[i].want;
		size_t len;
		unsigned char *t = build(r[i].format, r[i].filter, NULL, NULL, e, 2, &len);

		opts_init(&o);
		state_init(st);
		verdict_init(&v);
		assert_int_equal(walk_buf(&o, st, t, len * r[i].num / r[i].den, r[i].name, &v), 0);
		if (find_path(st, want) == NULL) {
			dump(st);
			fail_msg("%s: no %s (%s)", r[i].name, want, v.reason ? v.reason : "");
		}
		assert_string_equal(find_path(st, want)->md5, CLAM_MD5);
		assert_int_equal(v.status, SCAN_CORRUPT);
		verdict_clear(&v);
		free(t);
		free(st);
	}
	free(clam);
}

static int
dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n == 0;
}

static void
test_hostile_names(void **state)
{
	char longname[700];
	char base[] = "/tmp/pc-walk-test-XXXXXX";
	char cwd[1024], work[1100], spool[1100], etc[1100];
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t len;
	unsigned char *z;
	(void)state;

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	struct entry e[] = {
	    {"../../etc/passwd", MARKER, sizeof(MARKER) - 1, 0},
	    {"/abs", readme, 3, 0},
	    {"ctl\x01\x1b[31mred\x7f", readme, 3, 0},
	    {"bad\xff\xfeutf8\xc0\xaf", readme, 3, 0},
	    {"a//b///c", readme, 3, 0},
	    {"\xe2\x82\xac-ok", readme, 3, 0},
	    {longname, readme, 3, 0},
	};
	static const char *const want[] = {
	    "t.zip//../../etc/passwd", "t.zip//abs",   "t.zip//ctl??[31mred?",
	    "t.zip//bad??utf8??",      "t.zip//a/b/c", "t.zip//\xe2\x82\xac-ok",
	};
	z = build("zip", NULL, NULL, NULL, e, sizeof(e) / sizeof(e[0]), &len);

	/* Walk from inside base/a/b with spool files in base/spool. */
	assert_non_null(mkdtemp(base));
	snprintf(work, sizeof(work), "%s/a", base);
	assert_int_equal(mkdir(work, 0700), 0);
	snprintf(work, sizeof(work), "%s/a/b", base);
	assert_int_equal(mkdir(work, 0700), 0);
	snprintf(spool, sizeof(spool), "%s/spool", base);
	assert_int_equal(mkdir(spool, 0700), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(work), 0);

	opts_init(&o);
	o.tmpdir = spool;
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, z, len, "t.zip", &v), 0);
	assert_int_equal(chdir(cwd), 0);

	assert_int_equal(st->n, 8);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strcmp(st->nodes[i + 1].path, want[i]) != 0)
			fail_msg("name %zu: got \"%s\" want \"%s\"", i, st->nodes[i + 1].path,
			         want[i]);
	}
	/* The long name is cut to WALK_NAME_MAX bytes. */
	assert_int_equal(strlen(st->nodes[7].path), strlen("t.zip//") + WALK_NAME_MAX);
	assert_int_equal(v.status, SCAN_INFECTED);
	assert_string_equal(v.hits[0].path, "t.zip//../../etc/passwd");
	/* Nothing was written anywhere. */
	assert_true(dir_is_empty(work));
	assert_true(dir_is_empty(spool));
	snprintf(etc, sizeof(etc), "%s/etc", base);
	assert_int_equal(access(etc, F_OK), -1);
	rmdir(spool);
	rmdir(work);
	snprintf(work, sizeof(work), "%s/a", base);
	rmdir(work);
	rmdir(base);
	verdict_clear(&v);
	free(z);
	free(st);
}

/* ---- types and the sink ---- */

static void
test_skip_safe(void **state)
{
	static const char gif[] = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";
	static const char eicar[] =
	    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
	struct walk_options o;
	struct type_lists tl;
	struct sink_state *st = malloc(sizeof(*st));
	struct scan_verdict v;
	size_t clen, len;
	unsigned char *clam = load("clam.exe", &clen), *z;
	(void)state;

	struct entry e[] = {{"a.gif", gif, sizeof(gif) - 1, 0},
	                    {"x.gif", clam, clen, 0},
	                    {"eicar.txt", eicar, sizeof(eicar) - 1, 0}};
	z = build("zip", NULL, NULL, NULL, e, 3, &len);
	memset(&tl, 0, sizeof(tl));
	words_split("image/gif image/png", &tl.safe_mime, &tl.nsafe_mime);
	words_split("gif png txt", &tl.safe_ext, &tl.nsafe_ext);
	opts_init(&o);
	o.types = &tl;
	o.skip_safe = 1;
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_buf(&o, st, z, len, "s.zip", &v), 0);
	assert_int_equal(st->n, 3);
	assert_null(find_path(st, "s.zip//a.gif"));
	assert_string_equal(find_path(st, "s.zip//x.gif")->md5, CLAM_MD5);
	assert_non_null(find_path(st, "s.zip//eicar.txt"));
	assert_true(find_path(st, "s.zip//eicar.txt")->target & TARGET_BIT(7));
	/* Without skip_safe everything is fed. */
	o.skip_safe = 0;
	state_init(st);
	assert_int_equal(walk_buf(&o, st, z, len, "s.zip", &v), 0);
	assert_int_equal(st->n, 4);
	verdict_clear(&v);
	type_lists_free(&tl);
	free(z);
	free(clam);
	free(st);
}

static void
test_sink_failure(void **state)
{
	static const struct {
		long feed_at, close_at;
		size_t want_nodes;
	} r[] = {
	    {0, -1, 1}, /* the root's feed fails: nothing is opened after it */
	    {3, -1, 4}, /* clam.exe's feed fails */
	    {-1, 2, 3}, /* inner.zip's close fails: its members are not walked */
	};
	size_t len;
	unsigned char *z = build_nested(&len);
	(void)state;

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct walk_options o;
		struct sink_state *st = malloc(sizeof(*st));
		struct scan_verdict v;

		opts_init(&o);
		state_init(st);
		st->fail_feed_at = r[i].feed_at;
		st->fail_close_at = r[i].close_at;
		verdict_init(&v);
		assert_int_equal(walk_buf(&o, st, z, len, "outer.zip", &v), -1);
		assert_int_equal(v.status, SCAN_ERROR);
		if (st->n != r[i].want_nodes) {
			dump(st);
			fail_msg("row %zu: %zu nodes", i, st->n);
		}
		verdict_clear(&v);
		free(st);
	}
	free(z);
}

/* A sink that skips a node (open returns NULL) still gets its children. */
static void *
skip_zip_open(void *arg, const char *path, const struct file_type *t, uint64_t size)
{
	if (t->container == CONT_ARCHIVE)
		return NULL;
	return rec_open(arg, path, t, size);
}

static void
test_sink_skips(void **state)
{
	struct walk_options o;
	struct sink_state *st = malloc(sizeof(*st));
	struct walk_sink sink = {skip_zip_open, rec_feed, rec_close, st};
	struct scan_verdict v;
	size_t len;
	unsigned char *z = build_nested(&len);
	(void)state;

	opts_init(&o);
	state_init(st);
	verdict_init(&v);
	assert_int_equal(walk_mem(&o, &sink, ft, z, len, "outer.zip", &v), 0);
	assert_int_equal(st->n, 3); /* clam.exe, marker.txt, readme.txt */
	assert_string_equal(st->nodes[0].md5, CLAM_MD5);
	assert_int_equal(v.status, SCAN_INFECTED);
	verdict_clear(&v);
	free(z);
	free(st);
}

static int
setup(void **state)
{
	(void)state;
	ft = filetype_new();
	return ft ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	filetype_free(ft);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clamav_testfiles),
	    cmocka_unit_test(test_nested_mem),
	    cmocka_unit_test(test_nested_pipe),
	    cmocka_unit_test(test_mail_with_zip),
	    cmocka_unit_test(test_uu_text),
	    cmocka_unit_test(test_uu_in_mail),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_size_limits),
	    cmocka_unit_test(test_member_file_size),
	    cmocka_unit_test(test_ratio_bomb),
	    cmocka_unit_test(test_time_limit),
	    cmocka_unit_test(test_encrypted),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_truncated_keeps_members),
	    cmocka_unit_test(test_hostile_names),
	    cmocka_unit_test(test_skip_safe),
	    cmocka_unit_test(test_sink_failure),
	    cmocka_unit_test(test_sink_skips),
	    cmocka_unit_test(test_root_is_message),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Unit tests for scan/mailwalk: a table of messages and the parts they must
 * give ("id|filename|decoded content", joined by ';'), then the byte
 * offsets, the limits, the callback stopping the walk, mbox, sanitized
 * names, and clam.exe inside the ClamAV test mail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "scan/mailwalk.h"
#include "util/tmpfd.h"

#define CLAM_MD5 "aa15bcf478d165efd2065190eb473bcb"

struct rec {
	char parts[8192]; /* "id|filename|content;..." */
	size_t len;
	unsigned n;
	unsigned depth[16];
	int is_uu[16];
	int64_t hb[16], bb[16], be[16];
	char ctype[16][64];
	char md5[16][33];
	int stop_after; /* return -1 after this many parts (0 = never) */
};

static void
rec_addf(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->parts + r->len, sizeof(r->parts) - r->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(r->parts) - r->len);
	r->len += (size_t)n;
}

static int
rec_cb(void *arg, const struct mail_part *p, struct mail_body *body)
{
	struct rec *r = arg;
	unsigned char buf[65536], buf2[65536], md[EVP_MAX_MD_SIZE];
	uint64_t size = mail_body_size(body);
	unsigned mdlen;
	ssize_t n = 0, k, m;
	int fd;

	/* Read in odd pieces, the body gives exactly size bytes ... */
	while ((k = mail_body_read(body, buf + n, (size_t)(n % 2 ? 1 : 4093))) > 0)
		n += k;
	assert_true(k == 0);
	assert_int_equal((uint64_t)n, size);
	/* ... and as a file the same bytes, after which reading starts over. */
	fd = mail_body_fd(body);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	assert_int_equal(read(fd, buf2, sizeof(buf2)), n);
	assert_memory_equal(buf, buf2, (size_t)n);
	memset(buf2, 0, sizeof(buf2));
	for (k = 0; (m = mail_body_read(body, buf2 + k, sizeof(buf2) - (size_t)k)) > 0;)
		k += m;
	assert_int_equal(k, n);
	assert_memory_equal(buf, buf2, (size_t)n);
	if (r->n < 16) {
		r->depth[r->n] = p->depth;
		r->is_uu[r->n] = p->is_uu;
		r->hb[r->n] = p->headers_begin;
		r->bb[r->n] = p->body_begin;
		r->be[r->n] = p->body_end;
		snprintf(r->ctype[r->n], sizeof(r->ctype[0]), "%s", p->content_type);
		EVP_Digest(buf, (size_t)n, md, &mdlen, EVP_md5(), NULL);
		for (unsigned i = 0; i < 16; i++)
			snprintf(r->md5[r->n] + 2 * i, 3, "%02x", md[i]);
	}
	r->n++;
	rec_addf(r, "%s%s|%s|%.*s", r->len ? ";" : "", p->id, p->filename ? p->filename : "",
	         (int)(n > 200 ? 200 : n), (const char *)buf);
	return r->stop_after && r->n >= (unsigned)r->stop_after ? -1 : 0;
}

/* Writes msg to an unlinked temporary file, positioned at 0. */
static int
msg_fd(const char *msg, size_t len)
{
	int fd = tmpfd_open(NULL);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static int
run(const char *msg, const struct mailwalk_limits *lim, struct rec *r, struct scan_verdict *v)
{
	int fd = msg_fd(msg, strlen(msg)), ret;

	ret = mailwalk_fd(fd, "m.eml", lim, NULL, rec_cb, r, v);
	close(fd);
	return ret;
}

#define HDR "From: a@example.com\nTo: b@example.com\nSubject: test\nMIME-Version: 1.0\n"

static const char msg_b64[] = HDR "Content-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n"
                                  "--XX\nContent-Type: text/plain\n\nHello\n"
                                  "--XX\nContent-Type: application/octet-stream; name=\"a.bin\"\n"
                                  "Content-Transfer-Encoding: base64\n"
                                  "Content-Disposition: attachment; filename=\"a.bin\"\n\n"
                                  "UEFZTE9BRC1CNjQ=\n--XX--\nepilogue\n";

static const char msg_nested[] =
    HDR "Content-Type: multipart/mixed; boundary=Q\n\n"
        "--Q\nContent-Type: text/plain\n\nbody\n"
        "--Q\nContent-Type: message/rfc822\n\n"
        "From: inner@example.com\nContent-Type: multipart/mixed; boundary=R\n\n"
        "--R\nContent-Type: text/plain\n\ninner text\n"
        "--R\nContent-Type: application/octet-stream; name=n.bin\n"
        "Content-Transfer-Encoding: base64\n\nTkVTVEVELVBBWUxPQUQ=\n--R--\n\n--Q--\n";

static const struct {
	const char *what;
	const char *msg;
	const char *want; /* parts */
	enum scan_status status;
} rows[] = {
    {"base64 attachment", msg_b64, "1||Hello;2|a.bin|PAYLOAD-B64", SCAN_CLEAN},
    {"quoted-printable",
     HDR "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
         "a=3Db soft=\nbreak=20end\n",
     "1||a=b softbreak end\n", SCAN_CLEAN},
    {"uuencode transfer encoding",
     HDR "Content-Type: application/octet-stream; name=\"u.bin\"\n"
         "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 u.bin\n#86)C\n`\nend\n",
     "1|u.bin|abc", SCAN_CLEAN},
    {"uuencoded block in a text part",
     HDR "Content-Type: text/plain\n\nSee attached.\n\nbegin 644 old.exe\n#86)C\n`\nend\n"
         "begin 644 two.bin\n#0V%T\nend\n",
     "1||See attached.\n\nbegin 644 old.exe\n#86)C\n`\nend\nbegin 644 two.bin\n#0V%T\nend\n;"
     "1.uu1|old.exe|abc;1.uu2|two.bin|Cat",
     SCAN_CLEAN},
    {"preamble and epilogue with text in them, the short preamble of the nested one not",
     HDR "Content-Type: multipart/mixed; boundary=Q\n\n"
         "A preamble long enough to be looked into, with a block:\nbegin 644 p.bin\n#86)C\n`\n"
         "end\n--Q\nContent-Type: multipart/alternative; boundary=R\n\nshort\n--R\n\nin\n"
         "--R--\n--Q--\nAn epilogue long enough to be looked into, sixty-four bytes or more.\n",
     "pre||A preamble long enough to be looked into, with a block:\nbegin 644 p.bin\n#86)C\n"
     "`\nend;pre.uu1|p.bin|abc;1.1||in;"
     "epi||An epilogue long enough to be looked into, sixty-four bytes or more.\n",
     SCAN_CLEAN},
    {"nested message/rfc822", msg_nested, "1||body;2.1||inner text;2.2|n.bin|NESTED-PAYLOAD",
     SCAN_CLEAN},
    {"nested message with a single body",
     HDR "Content-Type: multipart/mixed; boundary=Q\n\n"
         "--Q\nContent-Type: message/rfc822\n\nFrom: x\nSubject: y\n\ninner body\n--Q--\n",
     "1.1||inner body", SCAN_CLEAN},
    {"multipart/alternative inside mixed",
     HDR "Content-Type: multipart/mixed; boundary=A\n\n"
         "--A\nContent-Type: multipart/alternative; boundary=B\n\n"
         "--B\nContent-Type: text/plain\n\nplain\n--B\nContent-Type: text/html\n\n<b>html</b>\n"
         "--B--\n--A\nContent-Type: image/gif; name=p.gif\n\nGIF89a\n--A--\n",
     "1.1||plain;1.2||<b>html</b>;2|p.gif|GIF89a", SCAN_CLEAN},
    {"missing final boundary",
     HDR "Content-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\nContent-Type: text/plain\n\n"
         "Hello\n--XX\nContent-Type: application/octet-stream; name=\"a.bin\"\n"
         "Content-Transfer-Encoding: base64\n\nUEFZTE9BRC1CNjQ=\n",
     "1||Hello;2|a.bin|PAYLOAD-B64", SCAN_CLEAN},
    {"truncated inside base64",
     HDR "Content-Type: multipart/mixed; boundary=\"XX\"\n\n--XX\n"
         "Content-Type: application/octet-stream; name=\"t.bin\"\n"
         "Content-Transfer-Encoding: base64\n\nUEFZTE9B",
     "1|t.bin|PAYLOA", SCAN_CLEAN},
    {"bad base64 characters are skipped",
     HDR "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
         "!!!QUJD###\n",
     "1||ABC", SCAN_CLEAN},
    {"headers only", "From: a@example.com\nSubject: nothing else\n", "1||", SCAN_CLEAN},
    {"headers and blank line only", "From: a@example.com\nSubject: x\n\n", "1||", SCAN_CLEAN},
    {"multipart without boundary parameter",
     HDR "Content-Type: multipart/mixed\n\n--Q\nContent-Type: text/plain\n\nbody\n--Q--\n",
     "body||--Q\nContent-Type: text/plain\n\nbody\n--Q--\n", SCAN_CLEAN},
    {"multipart/encrypted: parts handed on, noted encrypted",
     HDR "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; "
         "boundary=E\n\n--E\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
         "--E\nContent-Type: application/octet-stream; name=m.asc\n\n-----BEGIN PGP\n--E--\n",
     "1||Version: 1;2|m.asc|-----BEGIN PGP", SCAN_ENCRYPTED},
    {"binary garbage: corrupt, and its raw bytes are still handed on",
     "\x01\x02\x03\xff\xfe\x00\x10garbage\x7f\x80", "body||\x01\x02\x03\xff\xfe", SCAN_CORRUPT},
    {"RFC 2231 name with control and non-ASCII characters",
     HDR "Content-Type: application/octet-stream\n"
         "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%0A%2F%2F..%2Fx%01.exe\n\nX\n",
     "1|\xe2\x82\xac?/../x?.exe|X\n", SCAN_CLEAN},
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rec r;
		struct scan_verdict v;
		int ret;

		memset(&r, 0, sizeof(r));
		verdict_init(&v);
		ret = run(rows[i].msg, NULL, &r, &v);
		if (strcmp(r.parts, rows[i].want) != 0 || v.status != rows[i].status)
			fail_msg("%s: got \"%s\" status %s, want \"%s\" status %s", rows[i].what,
			         r.parts, scan_status_name(v.status), rows[i].want,
			         scan_status_name(rows[i].status));
		assert_int_equal(ret, 0);
		verdict_clear(&v);
	}
}

/* Offsets point into the original message: enough to rewrite one part. */
static void
test_offsets(void **state)
{
	struct rec r;
	struct scan_verdict v;
	const char *m = msg_b64;
	(void)state;

	memset(&r, 0, sizeof(r));
	verdict_init(&v);
	assert_int_equal(run(m, NULL, &r, &v), 0);
	assert_int_equal(r.n, 2);
	assert_true(r.hb[0] > 0 && r.bb[0] > r.hb[0] && r.be[0] > r.bb[0]);
	assert_memory_equal(m + r.hb[0], "Content-Type: text/plain\n", 25);
	assert_int_equal(r.be[0] - r.bb[0], 5);
	assert_memory_equal(m + r.bb[0], "Hello", 5);
	assert_memory_equal(m + r.hb[1], "Content-Type: application/octet-stream", 38);
	assert_int_equal(r.be[1] - r.bb[1], 16);
	assert_memory_equal(m + r.bb[1], "UEFZTE9BRC1CNjQ=", 16);
	/* Parts of a nested message too, and their depth. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(run(msg_nested, NULL, &r, &v), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.depth[0], 0);
	assert_int_equal(r.depth[1], 1);
	assert_int_equal(r.depth[2], 1);
	assert_memory_equal(msg_nested + r.bb[2], "TkVTVEVELVBBWUxPQUQ=", 20);
	assert_string_equal(r.ctype[2], "application/octet-stream");
	verdict_clear(&v);
}

static void
test_limits(void **state)
{
	static const struct {
		struct mailwalk_limits lim;
		const char *msg;
		const char *want;
		enum scan_limit limit;
		const char *where;
	} r[] = {
	    {{1, 0, 0}, msg_b64, "1||Hello", LIMIT_FILES, "m.eml//2"},
	    {{0, 1, 0}, msg_nested, "1||body", LIMIT_DEPTH, "m.eml//2"},
	    {{0, 2, 0},
	     msg_nested,
	     "1||body;2.1||inner text;2.2|n.bin|NESTED-PAYLOAD",
	     LIMIT_NONE,
	     NULL},
	    {{0, 0, 4}, msg_b64, "1||Hell;2|a.bin|PAYL", LIMIT_FILE_SIZE, "m.eml//1"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct rec rc;
		struct scan_verdict v;
		int ret;

		memset(&rc, 0, sizeof(rc));
		verdict_init(&v);
		ret = run(r[i].msg, &r[i].lim, &rc, &v);
		if (strcmp(rc.parts, r[i].want) != 0)
			fail_msg("limit row %zu: got \"%s\"", i, rc.parts);
		if (r[i].limit == LIMIT_NONE) {
			assert_int_equal(ret, 0);
			assert_int_equal(v.status, SCAN_CLEAN);
		} else {
			assert_int_equal(ret, -1);
			assert_int_equal(v.status, SCAN_LIMIT);
			assert_int_equal(v.limit, r[i].limit);
			assert_string_equal(v.where, r[i].where);
		}
		verdict_clear(&v);
	}
}

static void
test_callback_stops(void **state)
{
	struct rec r;
	struct scan_verdict v;
	(void)state;

	memset(&r, 0, sizeof(r));
	r.stop_after = 1;
	verdict_init(&v);
	assert_int_equal(run(msg_nested, NULL, &r, &v), -1);
	assert_string_equal(r.parts, "1||body");
	verdict_clear(&v);
}

static void
test_mbox(void **state)
{
	static const char mbox[] = "From a@example.com  Thu Jul 31 13:49:50 2008\n"
	                           "From: a@example.com\nSubject: one\n\nfirst body\n\n"
	                           "From b@example.com  Thu Jul 31 13:50:00 2008\n"
	                           "From: b@example.com\nSubject: two\nMIME-Version: 1.0\n"
	                           "Content-Type: multipart/mixed; boundary=Z\n\n"
	                           "--Z\nContent-Type: text/plain\n\nsecond\n"
	                           "--Z\nContent-Type: application/octet-stream; name=z.bin\n"
	                           "Content-Transfer-Encoding: base64\n\nUEFZTE9BRC1CNjQ=\n--Z--\n";
	struct rec r;
	struct scan_verdict v;
	(void)state;

	memset(&r, 0, sizeof(r));
	verdict_init(&v);
	assert_int_equal(run(mbox, NULL, &r, &v), 0);
	assert_string_equal(r.parts, "m1.1||first body\n;m2.1||second;m2.2|z.bin|PAYLOAD-B64");
	assert_int_equal(v.status, SCAN_CLEAN);
	verdict_clear(&v);
}

/* The ClamAV test mails: clam.exe must come out whole. */
static void
test_clam_files(void **state)
{
	static const struct {
		const char *file, *id, *filename;
	} r[] = {
	    {"clam.mail", "2", "clam.exe"},
	    {"clam.exe.mbox.base64", "m1.1", "clam.exe"},
	    {"clam.exe.mbox.uu", "m1.1", "clam.exe"},
	};
	const char *dir = getenv("PC_TESTFILES");
	(void)state;

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		char path[1024];
		struct rec rc;
		struct scan_verdict v;
		int fd, found = 0;

		snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/clamav-testfiles",
		         r[i].file);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		memset(&rc, 0, sizeof(rc));
		verdict_init(&v);
		assert_int_equal(mailwalk_fd(fd, r[i].file, NULL, NULL, rec_cb, &rc, &v), 0);
		close(fd);
		for (unsigned k = 0; k < rc.n && k < 16; k++)
			if (strcmp(rc.md5[k], CLAM_MD5) == 0)
				found = 1;
		if (!found)
			fail_msg("%s: no part is clam.exe (%s)", r[i].file, rc.parts);
		assert_non_null(strstr(rc.parts, r[i].filename));
		assert_int_equal(v.status, SCAN_CLEAN);
		verdict_clear(&v);
	}
}

/* mailwalk_uu_fd on plain text: ids uuN, depth as given. */
static void
test_uu_text(void **state)
{
	static const char text[] = "notes\nbegin 644 a.exe\n#86)C\n`\nend\nmore\n"
	                           "begin 600 ../../etc/passwd\n#0V%T\n`\nend\n";
	struct rec r;
	struct scan_verdict v;
	int fd = msg_fd(text, sizeof(text) - 1);
	(void)state;

	memset(&r, 0, sizeof(r));
	verdict_init(&v);
	assert_int_equal(mailwalk_uu_fd(fd, "t.txt", NULL, 3, NULL, NULL, rec_cb, &r, &v), 0);
	assert_string_equal(r.parts, "uu1|a.exe|abc;uu2|../../etc/passwd|Cat");
	assert_int_equal(r.depth[1], 3);
	assert_int_equal(r.is_uu[0], 1);
	assert_int_equal(r.hb[0], -1);
	close(fd);
	verdict_clear(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),   cmocka_unit_test(test_offsets),
	    cmocka_unit_test(test_limits),  cmocka_unit_test(test_callback_stops),
	    cmocka_unit_test(test_mbox),    cmocka_unit_test(test_clam_files),
	    cmocka_unit_test(test_uu_text),
	};
	mailwalk_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

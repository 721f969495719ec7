/*
 * Unit tests for policy/rewrite. A table of messages (multipart with a
 * zipped base64 attachment and a quoted-printable part, nested
 * message/rfc822, uuencoded blocks in 7bit and in base64 text parts, a
 * single base64 body, a part without headers, a missing final boundary),
 * each in LF and CRLF form, each stripped and replaced. For every run:
 * - the real walker with a small recording "scanner" (clam.exe by MD5, a
 *   marker string) finds the expected hits, and rewrite_targets_from_verdict
 *   turns them into the expected targets;
 * - the output starts with the added headers, GMime parses it, and mailwalk
 *   gives the expected parts;
 * - byte-exactness: the output is the input with only the targeted ranges
 *   changed (every gap compared), every untouched part's [headers_begin,
 *   body_end) slice and decoded content are identical;
 * - the replacement says what it must, and a rescan finds nothing.
 * Then: non-ASCII text (quoted-printable), hit paths to part ids, verdicts
 * to targets, header adding, merged targets, hostile structure (a file name
 * that is a boundary line, junk before a part's fields, odd header blocks),
 * and the cases that must fail (unknown ids, unparsable input, bad headers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gmime/gmime.h>
#include <openssl/evp.h>

#include "mail/notify.h"
#include "mail/rewrite.h"
#include "scan/filetype.h"
#include "scan/mailwalk.h"
#include "scan/walk.h"
#include "util/tmpfd.h"

#define CLAM_MD5 "aa15bcf478d165efd2065190eb473bcb"
#define MARKER "PORTCULLIS-TEST-VIRUS"
#define ROOT "msg.eml"
#define MAX_PARTS 32

static struct filetype *ft;
static struct notify_templates *tpl;
static char *clam_exe, *clam_zip;
static size_t clam_exe_len, clam_zip_len;

/* ---- helpers: files, encoders ---- */

static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	buf[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return buf;
}

/* Base64 in lines of 76 characters, no final line end. */
static char *
b64(const void *in, size_t len)
{
	size_t enc = 4 * ((len + 2) / 3);
	char *flat = malloc(enc + 1), *out = malloc(enc + enc / 76 + 2), *o = out;

	assert_non_null(flat);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)flat, in, (int)len);
	for (size_t i = 0; i < enc; i += 76) {
		size_t n = enc - i < 76 ? enc - i : 76;

		if (i > 0)
			*o++ = '\n';
		memcpy(o, flat + i, n);
		o += n;
	}
	*o = '\0';
	free(flat);
	return out;
}

/* "begin 644 name" ... "end", LF lines, no final line end. */
static char *
uuencode(const char *name, const void *in, size_t len)
{
	const unsigned char *p = in;
	size_t cap = 64 + len * 2 + len / 45 * 4, o;
	char *out = malloc(cap);

#define UUCH(c) ((char)((c) ? ((c)&0x3f) + 0x20 : '`'))
	assert_non_null(out);
	o = (size_t)snprintf(out, cap, "begin 644 %s\n", name);
	for (size_t i = 0; i < len; i += 45) {
		size_t n = len - i < 45 ? len - i : 45;

		out[o++] = UUCH((unsigned)n);
		for (size_t j = 0; j < n; j += 3) {
			unsigned a = p[i + j], b = j + 1 < n ? p[i + j + 1] : 0,
			         c = j + 2 < n ? p[i + j + 2] : 0;

			out[o++] = UUCH(a >> 2);
			out[o++] = UUCH(((a << 4) | (b >> 4)) & 0x3f);
			out[o++] = UUCH(((b << 2) | (c >> 6)) & 0x3f);
			out[o++] = UUCH(c & 0x3f);
		}
		out[o++] = '\n';
	}
#undef UUCH
	o += (size_t)snprintf(out + o, cap - o, "`\nend");
	assert_true(o < cap);
	return out;
}

/* s with every "@KEY@" replaced by its value (table below); caller frees. */
static char *
expand(const char *s)
{
	char *hello_uu = uuencode("hello.txt", "hello\n", 6);
	char *exe_uu = uuencode("clam.exe", clam_exe, clam_exe_len);
	char *uutext = NULL, *uutext_b64;
	const struct {
		const char *key;
		char *val;
	} keys[] = {
	    {"@CLAMZIP@", b64(clam_zip, clam_zip_len)},
	    {"@CLAMEXE@", b64(clam_exe, clam_exe_len)},
	    {"@CLAMEXE_UU@", exe_uu},
	    {"@HELLO_UU@", hello_uu},
	    {"@UUTEXT_B64@", NULL},
	};
	size_t cap = strlen(s) * 2 + 1, o = 0;
	char *out;

	assert_true(asprintf(&uutext, "Look:\n%s\nthat was it.\n", exe_uu) > 0);
	uutext_b64 = b64(uutext, strlen(uutext));
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		cap += strlen(keys[k].val ? keys[k].val : uutext_b64);
	out = malloc(cap);
	assert_non_null(out);
	while (*s) {
		size_t k;

		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (strncmp(s, keys[k].key, strlen(keys[k].key)) == 0)
				break;
		if (k < sizeof(keys) / sizeof(keys[0])) {
			const char *v = keys[k].val ? keys[k].val : uutext_b64;

			memcpy(out + o, v, strlen(v));
			o += strlen(v);
			s += strlen(keys[k].key);
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (keys[k].val != hello_uu && keys[k].val != exe_uu)
			free(keys[k].val);
	free(hello_uu);
	free(exe_uu);
	free(uutext);
	free(uutext_b64);
	return out;
}

/* A copy with LF line ends turned into CRLF; caller frees. */
static char *
to_crlf(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(2 * n + 1);

	assert_non_null(out);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			out[o++] = '\r';
		out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

static int
tmp_with(const char *buf, size_t len)
{
	int fd = tmpfd_open(NULL);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Everything in fd from 0; caller frees. */
static char *
read_all(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *buf = malloc((size_t)end + 1);

	assert_true(end >= 0);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	buf[end] = '\0';
	*len = (size_t)end;
	return buf;
}

/* ---- a small scanner: the real walker, clam.exe by MD5, the marker ---- */

struct scan_node {
	EVP_MD_CTX *md;
	char *buf;
	size_t len;
};

static void *
sc_open(void *arg, const char *path, const struct file_type *t, uint64_t size)
{
	struct scan_node *n = calloc(1, sizeof(*n));

	assert_non_null(n);
	n->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(n->md, EVP_md5(), NULL);
	return n;
}

static int
sc_feed(void *node, const void *buf, size_t len)
{
	struct scan_node *n = node;

	EVP_DigestUpdate(n->md, buf, len);
	n->buf = realloc(n->buf, n->len + len);
	assert_non_null(n->buf);
	memcpy(n->buf + n->len, buf, len);
	n->len += len;
	return 0;
}

static int
sc_close(void *node, struct scan_verdict *v, const char *path)
{
	struct scan_node *n = node;
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[33];
	unsigned mdlen;

	EVP_DigestFinal_ex(n->md, md, &mdlen);
	EVP_MD_CTX_free(n->md);
	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strcmp(hex, CLAM_MD5) == 0)
		verdict_add_hit(v, "ClamAV-Test-File", path);
	if (n->len && memmem(n->buf, n->len, MARKER, strlen(MARKER)))
		verdict_add_hit(v, "Test.Marker", path);
	free(n->buf);
	free(n);
	return 0;
}

static void
scan_buf(const char *buf, size_t len, struct scan_verdict *v)
{
	struct walk_sink sink = {sc_open, sc_feed, sc_close, NULL};
	struct walk_options o;

	memset(&o, 0, sizeof(o));
	o.limits.max_depth = 16;
	verdict_init(v);
	assert_int_equal(walk_mem(&o, &sink, ft, buf, len, ROOT, v), 0);
}

/* "path=name;..." of the hits, in order. */
static void
hits_str(const struct scan_verdict *v, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < v->nhits; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", i ? ";" : "", v->hits[i].path,
		                      v->hits[i].name);
}

/* ---- mailwalk records ---- */

struct part {
	char id[64], ctype[96], fname[96], md5[33];
	int is_uu;
	int64_t hb, bb, be;
	char *content;
	size_t len;
};

struct parts {
	struct part p[MAX_PARTS];
	unsigned n;
};

static int
rec_cb(void *arg, const struct mail_part *mp, struct mail_body *body)
{
	uint64_t size = mail_body_size(body);
	int fd = mail_body_fd(body);
	struct parts *ps = arg;
	struct part *p;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen;

	assert_true(ps->n < MAX_PARTS);
	p = &ps->p[ps->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", mp->id);
	snprintf(p->ctype, sizeof(p->ctype), "%s", mp->content_type);
	snprintf(p->fname, sizeof(p->fname), "%s", mp->filename ? mp->filename : "");
	p->is_uu = mp->is_uu;
	p->hb = mp->headers_begin;
	p->bb = mp->body_begin;
	p->be = mp->body_end;
	p->content = malloc(size + 1);
	assert_non_null(p->content);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, p->content, size), (ssize_t)size);
	p->content[size] = '\0';
	p->len = size;
	EVP_Digest(p->content, size, md, &mdlen, EVP_md5(), NULL);
	for (unsigned i = 0; i < 16; i++)
		snprintf(p->md5 + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static void
walk_parts(const char *buf, size_t len, struct parts *ps)
{
	struct scan_verdict v;
	int fd = tmp_with(buf, len);

	memset(ps, 0, sizeof(*ps));
	verdict_init(&v);
	assert_int_equal(mailwalk_fd(fd, ROOT, NULL, NULL, rec_cb, ps, &v), 0);
	verdict_clear(&v);
	close(fd);
}

static void
parts_free(struct parts *ps)
{
	for (unsigned i = 0; i < ps->n; i++)
		free(ps->p[i].content);
}

static const struct part *
part_by_id(const struct parts *ps, const char *id)
{
	for (unsigned i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i].id, id) == 0)
			return &ps->p[i];
	return NULL;
}

/* True if id is in the comma-separated list. */
static int
in_list(const char *list, const char *id)
{
	size_t n = strlen(id);

	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, ",");

		if (l == n && strncmp(p, id, n) == 0)
			return 1;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Number of items in a comma-separated list. */
static size_t
list_len(const char *list)
{
	size_t n = *list ? 1 : 0;

	for (const char *p = list; *p; p++)
		n += *p == ',';
	return n;
}

/*
 * The names of the target for part id in "id=names;..." (a block's target
 * "id.uuK" counts for part id); static buffer.
 */
static const char *
target_names(const char *targets, const char *id)
{
	static char names[256];
	size_t il = strlen(id);

	for (const char *p = targets; *p;) {
		size_t l = strcspn(p, ";");
		const char *eq = memchr(p, '=', l);

		if (eq && ((size_t)(eq - p) == il || strncmp(p + il, ".uu", 3) == 0) &&
		    strncmp(p, id, il) == 0) {
			snprintf(names, sizeof(names), "%.*s", (int)(l - (size_t)(eq + 1 - p)),
			         eq + 1);
			return names;
		}
		p += l;
		if (*p == ';')
			p++;
	}
	fail_msg("no target for part %s in %s", id, targets);
	return "";
}

/* ---- the table ---- */

#define HDR                                                                                        \
	"From: alice@example.com\nTo: bob@example.org\nSubject: test\n"                            \
	"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <t1@example.com>\nMIME-Version: 1.0\n"

static const struct rcase {
	const char *what;
	const char *msg;
	const char *hits;     /* expected "path=name;..." (ROOT = msg.eml) */
	const char *targets;  /* expected "id=names;..." from the verdict */
	const char *whole;    /* ids replaced whole (parts of a multipart) */
	const char *single;   /* id of a single body replaced, or NULL */
	const char *uu;       /* id of a uu block cut, or NULL */
	const char *uu_name;  /* its declared name */
	unsigned parts_after; /* non-uu parts in the output */
	unsigned uu_after;    /* uu blocks in the output */
} cases[] = {
    {"multipart: zipped base64 attachment and a quoted-printable part",
     HDR "Content-Type: multipart/mixed; boundary=\"BOUND\"\n\nThis is a multi-part message.\n"
         "--BOUND\nContent-Type: text/plain; charset=us-ascii\n\nHello, see the attachments.\n"
         "--BOUND\nContent-Type: application/zip; name=\"report.zip\"\n"
         "Content-Transfer-Encoding: base64\n"
         "Content-Disposition: attachment; filename=\"report.zip\"\n\n@CLAMZIP@\n"
         "--BOUND\nContent-Type: text/plain; charset=utf-8\n"
         "Content-Transfer-Encoding: quoted-printable\n\n"
         "See: PORTCULLIS=2DTEST=2DVIRUS and caf=C3=A9 soft=\nbreak\n"
         "--BOUND\nContent-Type: application/pdf; name=\"clean.pdf\"\n"
         "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcOkw7zDtsOfCg==\n"
         "--BOUND--\nepilogue\n",
     "msg.eml//2/report.zip//clam.exe=ClamAV-Test-File;msg.eml//3=Test.Marker",
     "2=ClamAV-Test-File;3=Test.Marker", "2,3", NULL, NULL, NULL, 4, 0},
    {"nested message/rfc822: only its infected part",
     HDR "Content-Type: multipart/mixed; boundary=\"OUTER\"\n\n"
         "--OUTER\nContent-Type: text/plain\n\nForwarded message below.\n"
         "--OUTER\nContent-Type: message/rfc822\n\n"
         "From: carol@example.net\nSubject: inner\nMIME-Version: 1.0\n"
         "Content-Type: multipart/mixed; boundary=\"INNER\"\n\n"
         "--INNER\nContent-Type: text/plain\n\nInner text.\n"
         "--INNER\nContent-Type: application/octet-stream; name=\"x.exe\"\n"
         "Content-Transfer-Encoding: base64\n\n@CLAMEXE@\n"
         "--INNER--\n"
         "\n--OUTER\nContent-Type: image/gif; name=\"dot.gif\"\n"
         "Content-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n"
         "--OUTER--\n",
     "msg.eml//2.2/x.exe=ClamAV-Test-File", "2.2=ClamAV-Test-File", "2.2", NULL, NULL, NULL, 4, 0},
    {"uuencoded block in a 7bit single body",
     HDR "Content-Type: text/plain; charset=us-ascii\n\nHi Bob,\n\nthe tool you asked for:\n\n"
         "@CLAMEXE_UU@\nRegards,\nAlice\n",
     "msg.eml//1.uu1/clam.exe=ClamAV-Test-File", "1.uu1=ClamAV-Test-File", "", NULL, "1.uu1",
     "clam.exe", 1, 0},
    {"second uuencoded block, ending at the boundary",
     HDR "Content-Type: multipart/mixed; boundary=\"B2\"\n\n"
         "--B2\nContent-Type: text/plain\n\nTwo files:\n@HELLO_UU@\nand\n@CLAMEXE_UU@\n"
         "--B2\nContent-Type: text/plain\n\nsecond part\n--B2--\n",
     "msg.eml//1.uu2/clam.exe=ClamAV-Test-File", "1.uu2=ClamAV-Test-File", "", NULL, "1.uu2",
     "clam.exe", 2, 1},
    {"uuencoded block in a base64 text part: the whole part",
     HDR "Content-Type: multipart/mixed; boundary=B3\n\n--B3\nContent-Type: text/plain\n\n"
         "clean\n--B3\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
         "@UUTEXT_B64@\n--B3--\n",
     "msg.eml//2.uu1/clam.exe=ClamAV-Test-File", "2.uu1=ClamAV-Test-File", "2", NULL, NULL, NULL, 2,
     0},
    {"single base64 body, Content-* fields among the others",
     "From: alice@example.com\nContent-Type: application/octet-stream;\n name=\"clam.exe\"\n"
     "To: bob@example.org\nContent-Transfer-Encoding: base64\nSubject: single\n"
     "Content-Disposition: attachment;\n\tfilename=\"clam.exe\"\nMIME-Version: 1.0\n\n"
     "@CLAMEXE@\n",
     "msg.eml//1/clam.exe=ClamAV-Test-File", "1=ClamAV-Test-File", "", "1", NULL, NULL, 1, 0},
    {"single 7bit body without MIME fields (root hit covered)",
     "From: a@example.com\nTo: b@example.org\nSubject: plain\n\n"
     "some text " MARKER " more\n",
     "msg.eml=Test.Marker;msg.eml//1=Test.Marker", "1=Test.Marker", "", "1", NULL, NULL, 1, 0},
    {"missing final boundary, infected last part",
     HDR "Content-Type: multipart/mixed; boundary=\"NF\"\n\n--NF\nContent-Type: text/plain\n\n"
         "body text\n--NF\nContent-Type: application/octet-stream; name=\"clam.exe\"\n"
         "Content-Transfer-Encoding: base64\n\n@CLAMEXE@\n",
     "msg.eml//2/clam.exe=ClamAV-Test-File", "2=ClamAV-Test-File", "2", NULL, NULL, NULL, 2, 0},
    {"missing final boundary, infected first part",
     HDR "Content-Type: multipart/mixed; boundary=\"NF\"\n\n"
         "--NF\nContent-Type: application/octet-stream; name=\"clam.exe\"\n"
         "Content-Transfer-Encoding: base64\n\n@CLAMEXE@\n"
         "--NF\nContent-Type: text/plain\n\nbody text\n",
     "msg.eml//1/clam.exe=ClamAV-Test-File", "1=ClamAV-Test-File", "1", NULL, NULL, NULL, 2, 0},
    {"a part without header fields",
     HDR "Content-Type: multipart/mixed; boundary=\"NH\"\n\n--NH\n\nraw " MARKER " text\n"
         "--NH\nContent-Type: text/plain\n\nclean\n--NH--\n",
     "msg.eml=Test.Marker;msg.eml//1=Test.Marker", "1=Test.Marker", "1", NULL, NULL, NULL, 2, 0},
};

/* The [begin, end) that a replaced part covers in a message. */
static void
part_range(const char *m, const struct part *p, int64_t *b, int64_t *e)
{
	*b = p->hb;
	if (*b < 0) {
		*b = p->bb;
		if (*b >= 2 && memcmp(m + *b - 2, "\r\n", 2) == 0)
			*b -= 2;
		else if (*b >= 1 && m[*b - 1] == '\n')
			*b -= 1;
	}
	*e = p->be;
}

static int
range_cmp(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The output is the input with only the whole parts in `whole` changed. */
static void
check_gaps(const char *in, size_t inlen, const struct parts *pin, const char *out, size_t outlen,
           const struct parts *pout, const char *whole, size_t hl)
{
	int64_t ri[MAX_PARTS][2], ro[MAX_PARTS][2];
	size_t n = 0;

	for (unsigned i = 0; i < pin->n; i++) {
		const struct part *o;

		if (pin->p[i].is_uu || !in_list(whole, pin->p[i].id))
			continue;
		o = part_by_id(pout, pin->p[i].id);
		assert_non_null(o);
		part_range(in, &pin->p[i], &ri[n][0], &ri[n][1]);
		part_range(out, o, &ro[n][0], &ro[n][1]);
		assert_true(o->hb >= 0); /* a replacement always has its header fields */
		n++;
	}
	qsort(ri, n, sizeof(ri[0]), range_cmp);
	qsort(ro, n, sizeof(ro[0]), range_cmp);
	if (n == 0) {
		assert_int_equal(outlen - hl, inlen);
		assert_memory_equal(out + hl, in, inlen);
		return;
	}
	assert_int_equal(ro[0][0], (int64_t)hl + ri[0][0]);
	assert_memory_equal(out + hl, in, (size_t)ri[0][0]);
	for (size_t k = 0; k + 1 < n; k++) {
		size_t gi = (size_t)(ri[k + 1][0] - ri[k][1]);

		assert_int_equal(ro[k + 1][0] - ro[k][1], (int64_t)gi);
		assert_memory_equal(out + ro[k][1], in + ri[k][1], gi);
	}
	assert_int_equal(outlen - (size_t)ro[n - 1][1], inlen - (size_t)ri[n - 1][1]);
	assert_memory_equal(out + ro[n - 1][1], in + ri[n - 1][1], inlen - (size_t)ri[n - 1][1]);
}

/* The header block of a message at hdr: fields other than Content-*, in order. */
static char *
non_content_fields(const char *hdr)
{
	size_t cap = strlen(hdr) + 1, o = 0;
	char *out = malloc(cap);
	int drop = 0;

	assert_non_null(out);
	for (const char *p = hdr; *p;) {
		size_t l = strcspn(p, "\n") + (p[strcspn(p, "\n")] == '\n');

		if (l <= 2 && (p[0] == '\n' || p[0] == '\r'))
			break;
		if (p[0] != ' ' && p[0] != '\t')
			drop = strncasecmp(p, "Content-", 8) == 0 ||
			       strncasecmp(p, "MIME-Version", 12) == 0;
		if (!drop) {
			memcpy(out + o, p, l);
			o += l;
		}
		p += l;
	}
	out[o] = '\0';
	return out;
}

/* One case, one line-end form, one mode. */
static void
run_case(const struct rcase *c, int crlf, enum rewrite_mode mode)
{
	static const char add[] = "X-Virus-Scanned: Portcullis\r\nX-Virus-Status: infected\r\n";
	char *lf = expand(c->msg), *in = crlf ? to_crlf(lf) : strdup(lf), *out, *expect_hdr;
	const char *eol = crlf ? "\r\n" : "\n";
	size_t inlen = strlen(in), outlen, hl;
	struct scan_verdict v, v2;
	struct rewrite_target *t;
	struct rewrite_result res;
	struct parts pin, pout;
	struct notify_vars vars;
	char buf[2048];
	size_t nt;
	int ifd, ofd;

	print_message("case: %s (%s, %s)\n", c->what, crlf ? "CRLF" : "LF",
	              mode == REWRITE_STRIP ? "strip" : "replace");
	/* The scanner's view, and the targets from it. */
	scan_buf(in, inlen, &v);
	hits_str(&v, buf, sizeof(buf));
	assert_string_equal(buf, c->hits);
	assert_int_equal(rewrite_targets_from_verdict(&v, ROOT, &t, &nt), 0);
	buf[0] = '\0';
	for (size_t i = 0, o = 0; i < nt; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s=%s", i ? ";" : "",
		                      t[i].part_id, t[i].names);
	assert_string_equal(buf, c->targets);

	memset(&vars, 0, sizeof(vars));
	vars.hostname = "gw.example.com";
	vars.date = "Mon, 1 Jan 2024 00:00:00 +0000";
	ifd = tmp_with(in, inlen);
	ofd = tmpfd_open(NULL);
	assert_true(ofd >= 0);
	assert_int_equal(rewrite_parts(ifd, inlen, t, nt, mode, tpl, &vars, add, ofd, &res), 0);
	out = read_all(ofd, &outlen);
	close(ifd);
	close(ofd);
	assert_int_equal(res.bytes_out, outlen);
	assert_int_equal(res.uu_removed, c->uu ? 1 : 0);
	assert_int_equal(res.parts_replaced, (c->single ? 1 : 0) + list_len(c->whole));

	/* The added headers first, in the message's line ends. */
	assert_true(asprintf(&expect_hdr, "X-Virus-Scanned: Portcullis%sX-Virus-Status: infected%s",
	                     eol, eol) > 0);
	hl = strlen(expect_hdr);
	assert_memory_equal(out, expect_hdr, hl);
	free(expect_hdr);

	/* GMime parses it; mailwalk sees the expected parts. */
	walk_parts(in, inlen, &pin);
	walk_parts(out, outlen, &pout);
	{
		unsigned np = 0, nu = 0;

		for (unsigned i = 0; i < pout.n; i++)
			pout.p[i].is_uu ? nu++ : np++;
		assert_int_equal(np, c->parts_after);
		assert_int_equal(nu, c->uu_after);
	}

	/* Untouched parts: same slice, same content. */
	for (unsigned i = 0; i < pin.n; i++) {
		const struct part *a = &pin.p[i], *b = part_by_id(&pout, a->id);
		char parent[64];
		int touched = in_list(c->whole, a->id) ||
		              (c->single && !strcmp(c->single, a->id)) ||
		              (c->uu && !strcmp(c->uu, a->id));

		/* The text part that held the cut block, and blocks of replaced parts. */
		if (c->uu && !a->is_uu && strncmp(c->uu, a->id, strlen(a->id)) == 0 &&
		    c->uu[strlen(a->id)] == '.')
			touched = 1;
		snprintf(parent, sizeof(parent), "%.63s", a->id);
		if (a->is_uu && strrchr(parent, '.')) {
			*strrchr(parent, '.') = '\0';
			if (in_list(c->whole, parent) || (c->single && !strcmp(c->single, parent)))
				touched = 1;
		}
		if (touched)
			continue;
		assert_non_null(b);
		assert_string_equal(a->md5, b->md5);
		if (!a->is_uu && a->hb >= 0) {
			assert_int_equal(a->be - a->hb, b->be - b->hb);
			assert_memory_equal(in + a->hb, out + b->hb, (size_t)(a->be - a->hb));
		}
	}

	/* Replaced parts say what they must. */
	for (unsigned i = 0; i < pout.n; i++) {
		const struct part *b = &pout.p[i];
		char want[256];

		if (!in_list(c->whole, b->id) && !(c->single && !strcmp(c->single, b->id)))
			continue;
		assert_string_equal(b->ctype, "text/plain");
		assert_string_equal(b->fname, "");
		if (mode == REWRITE_STRIP)
			snprintf(want, sizeof(want),
			         "was removed by Portcullis because it contains %s.",
			         target_names(c->targets, b->id));
		else
			snprintf(want, sizeof(want), "  Virus:      %s%s",
			         target_names(c->targets, b->id), eol);
		if (strstr(b->content, want) == NULL)
			fail_msg("part %s: \"%s\" lacks \"%s\"", b->id, b->content, want);
		if (mode == REWRITE_REPLACE) {
			snprintf(want, sizeof(want), "  Part:       %s%s", b->id, eol);
			assert_non_null(strstr(b->content, want));
		}
	}
	if (*c->whole)
		check_gaps(in, inlen, &pin, out, outlen, &pout, c->whole, hl);

	/* A single body: the message's other header fields as they were. */
	if (c->single) {
		const struct part *a = part_by_id(&pin, c->single),
		                  *b = part_by_id(&pout, c->single);
		char *fa = non_content_fields(in), *fb = non_content_fields(out + hl);
		const char *ct = strstr(out, "Content-Type:");

		assert_string_equal(fa, fb);
		free(fa);
		free(fb);
		assert_non_null(ct);
		assert_memory_equal(ct, "Content-Type: text/plain; charset=utf-8", 39);
		assert_null(strstr(ct + 1, "Content-Type:"));
		assert_non_null(strstr(out, "MIME-Version: 1.0"));
		assert_int_equal(inlen - (size_t)a->be, outlen - (size_t)b->be);
		assert_memory_equal(in + a->be, out + b->be, inlen - (size_t)a->be);
	}

	/* A uu block: only its lines changed, into one line. */
	if (c->uu) {
		char *exe_uu = uuencode(c->uu_name, clam_exe, clam_exe_len);
		char *needle = crlf ? to_crlf(exe_uu) : strdup(exe_uu);
		const char *blk = memmem(in, inlen, needle, strlen(needle));
		size_t b, e, tail, mid;
		const char *line;

		assert_non_null(blk);
		b = (size_t)(blk - in);
		e = b + strlen(needle);
		/* The block's own line end goes with it, unless a boundary follows. */
		if (strncmp(in + e, eol, strlen(eol)) == 0 &&
		    strncmp(in + e + strlen(eol), "--", 2))
			e += strlen(eol);
		tail = inlen - e;
		assert_true(outlen > hl + b + tail);
		assert_memory_equal(out + hl, in, b);
		assert_memory_equal(out + outlen - tail, in + e, tail);
		line = out + hl + b;
		mid = outlen - tail - hl - b;
		assert_null(memchr(line, '\n', mid - (line[mid - 1] == '\n' ? 1 : 0)));
		assert_non_null(memmem(line, mid, "The attachment clam.exe was removed", 35));
		free(exe_uu);
		free(needle);
	}

	/* Nothing infected is left. */
	scan_buf(out, outlen, &v2);
	hits_str(&v2, buf, sizeof(buf));
	assert_string_equal(buf, "");
	verdict_clear(&v2);

	parts_free(&pin);
	parts_free(&pout);
	rewrite_targets_free(t, nt);
	verdict_clear(&v);
	free(out);
	free(in);
	free(lf);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int crlf = 0; crlf < 2; crlf++) {
			run_case(&cases[i], crlf, REWRITE_STRIP);
			run_case(&cases[i], crlf, REWRITE_REPLACE);
		}
}

/* Quoted-printable when the text is not ASCII; the decoded text is exact. */
static void
test_non_ascii_text(void **state)
{
	const char *msg = HDR "Content-Type: multipart/mixed; boundary=Z\n\n--Z\nContent-Type: "
	                      "text/plain\n\nhi\n--Z\nContent-Type: application/octet-stream; "
	                      "name=\"=?UTF-8?B?w6TDtsO8LmV4ZQ==?=\"\n\nxx\n--Z--\n";
	struct rewrite_target t = {"2", "Some.Virus"};
	struct rewrite_result res;
	struct parts p;
	char *out;
	size_t len;
	int ifd = tmp_with(msg, strlen(msg)), ofd = tmpfd_open(NULL);
	(void)state;

	assert_int_equal(
	    rewrite_parts(ifd, strlen(msg), &t, 1, REWRITE_STRIP, tpl, NULL, NULL, ofd, &res), 0);
	out = read_all(ofd, &len);
	assert_non_null(strstr(out, "Content-Transfer-Encoding: quoted-printable\n"));
	walk_parts(out, len, &p);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.p[1].content,
	                    "The attachment \xc3\xa4\xc3\xb6\xc3\xbc.exe was removed "
	                    "by Portcullis because it contains Some.Virus.");
	parts_free(&p);
	free(out);
	close(ifd);
	close(ofd);
}

/* Hit paths to part ids. */
static void
test_part_id(void **state)
{
	static const struct {
		const char *root, *path, *want; /* want NULL: -1 */
		size_t cap;
	} rows[] = {
	    {"msg.eml", "msg.eml//2/report.zip//clam.exe", "2", 64},
	    {"msg.eml", "msg.eml//1.uu1/clam.exe", "1.uu1", 64},
	    {"msg.eml", "msg.eml//2.1/x.exe", "2.1", 64},
	    {"msg.eml", "msg.eml//3", "3", 64},
	    {"msg.eml", "msg.eml//2/a/b.exe//c", "2", 64},
	    {"msg.eml", "msg.eml", NULL, 64},
	    {"msg.eml", "other.eml//2", NULL, 64},
	    {"msg.eml", "msg.emlx//2", NULL, 64},
	    {"msg.eml", "msg.eml//", NULL, 64},
	    {"msg.eml", "msg.eml/2", NULL, 64},
	    {"/var/spool/q1", "/var/spool/q1//2/a.zip", "2", 64},
	    {"//var//spool/q1", "/var/spool/q1//4", "4", 64},
	    {"", "-//1", "1", 64},
	    {"bad\nname", "bad?name//1.2", "1.2", 64},
	    {"msg.eml", "msg.eml//12.3", NULL, 4},
	    {"msg.eml", "msg.eml//12.3", "12.3", 5},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char id[64];
		int r = rewrite_part_id(rows[i].root, rows[i].path, id, rows[i].cap);

		if (rows[i].want == NULL) {
			if (r != -1)
				fail_msg("%s: got %s, want -1", rows[i].path, id);
		} else {
			assert_int_equal(r, 0);
			assert_string_equal(id, rows[i].want);
		}
	}
}

/* Verdicts to targets. */
static void
test_targets(void **state)
{
	static const struct {
		const char *hits; /* "name@path;..." */
		const char *want; /* "id=names;..." or NULL for -1 */
	} rows[] = {
	    {"A@msg.eml//2/a.zip//x.exe;B@msg.eml//2/a.zip//y.exe;A@msg.eml//3", "2=A,B;3=A"},
	    {"A@msg.eml//1.uu1/x;B@msg.eml//1", "1=B,A"},
	    {"A@msg.eml//1;B@msg.eml//1.uu2/y", "1=A,B"},
	    {"A@msg.eml//1.uu1/x;A@msg.eml//1.uu2/y", "1.uu1=A;1.uu2=A"},
	    {"A@msg.eml;A@msg.eml//1", "1=A"},
	    {"A@msg.eml;B@msg.eml//1", NULL},
	    {"A@msg.eml", NULL},
	    {"A@elsewhere//1", NULL},
	    {"", NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct scan_verdict v;
		struct rewrite_target *t;
		char *hits = strdup(rows[i].hits), *save = NULL, got[512];
		size_t n, o = 0;
		int r;

		verdict_init(&v);
		for (char *h = strtok_r(hits, ";", &save); h; h = strtok_r(NULL, ";", &save)) {
			char *at = strchr(h, '@');

			*at = '\0';
			verdict_add_hit(&v, h, at + 1);
		}
		r = rewrite_targets_from_verdict(&v, ROOT, &t, &n);
		if (rows[i].want == NULL) {
			assert_int_equal(r, -1);
			assert_null(t);
		} else {
			assert_int_equal(r, 0);
			got[0] = '\0';
			for (size_t k = 0; k < n; k++)
				o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s=%s",
				                      k ? ";" : "", t[k].part_id, t[k].names);
			assert_string_equal(got, rows[i].want);
			rewrite_targets_free(t, n);
		}
		verdict_clear(&v);
		free(hits);
	}
}

/* Hits that no part carries: what inspect locates, or quarantines for. */
static void
test_unlocated(void **state)
{
	static const struct {
		const char *hits; /* "name@path;..." */
		const char *want; /* names, or NULL when every hit is located */
	} rows[] = {
	    {"A@msg.eml//2/a.zip//x.exe", NULL},
	    {"A@msg.eml;A@msg.eml//2/a.zip//x.exe", NULL},
	    {"Clamd.X@msg.eml;Builtin.X@msg.eml//2/x.exe", "Clamd.X"},
	    {"A@msg.eml;B@msg.eml;B@msg.eml//1;C@msg.eml", "A,C"},
	    {"A@msg.eml;A@msg.eml", "A"},
	    {"A@elsewhere//1", "A"},
	    {"", NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct scan_verdict v;
		char *hits = strdup(rows[i].hits), *save = NULL, *got;

		verdict_init(&v);
		for (char *h = strtok_r(hits, ";", &save); h; h = strtok_r(NULL, ";", &save)) {
			char *at = strchr(h, '@');

			*at = '\0';
			verdict_add_hit(&v, h, at + 1);
		}
		got = rewrite_unlocated(&v, ROOT);
		if (rows[i].want == NULL) {
			if (got)
				fail_msg("%s: got %s, want none", rows[i].hits, got);
		} else {
			assert_non_null(got);
			assert_string_equal(got, rows[i].want);
		}
		free(got);
		verdict_clear(&v);
		free(hits);
	}
	assert_null(rewrite_unlocated(NULL, ROOT));
}

/* Headers added in the message's line ends, the rest byte for byte. */
static void
test_add_headers(void **state)
{
	static const struct {
		const char *msg, *headers, *want;
	} rows[] = {
	    {"Subject: a\r\n\r\nbody\r\n", "X-A: 1\r\nX-B: 2\r\n",
	     "X-A: 1\r\nX-B: 2\r\nSubject: a\r\n\r\nbody\r\n"},
	    {"Subject: a\n\nbody\n", "X-A: 1\r\nX-B: 2\r\n",
	     "X-A: 1\nX-B: 2\nSubject: a\n\nbody\n"},
	    {"Subject: a\n\nbody\n", "X-A: 1\r\n folded\r\n",
	     "X-A: 1\n folded\nSubject: a\n\nbody\n"},
	    {"Subject: a\r\n\r\n\x00\xff\r\n", NULL, "Subject: a\r\n\r\n\x00\xff\r\n"},
	    {"Subject: a\n\nbody\n", "", "Subject: a\n\nbody\n"},
	    {"Subject: a\n\nbody\n", "X-A: 1", NULL},
	    {"Subject: a\n\nbody\n", "X-A: 1\r\n\r\nX-B: 2\r\n", NULL},
	    {"Subject: a\n\nbody\n", "X-A: 1\rX-B: 2\r\n", NULL},
	    {"Subject: a\n\nbody\n", " X-A: 1\r\n", NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* The 4th message holds a NUL: its length is written out. */
		size_t ml = i == 3 ? 18 : strlen(rows[i].msg), len;
		int ifd = tmp_with(rows[i].msg, ml), ofd = tmpfd_open(NULL);
		int r = rewrite_add_headers(ifd, ml, rows[i].headers, ofd);
		char *out = read_all(ofd, &len);

		if (rows[i].want == NULL) {
			assert_int_equal(r, -1);
		} else {
			size_t wl = i == 3 ? 18 : strlen(rows[i].want);

			assert_int_equal(r, 0);
			assert_int_equal(len, wl);
			assert_memory_equal(out, rows[i].want, wl);
		}
		free(out);
		close(ifd);
		close(ofd);
	}
}

/* Whatever cannot be done right is refused, never written half right. */
static void
test_refused(void **state)
{
	static const char multi[] =
	    HDR "Content-Type: multipart/mixed; boundary=Q\n\n"
	        "--Q\nContent-Type: text/plain\n\nhello\n"
	        "--Q\nContent-Type: text/plain\n\nbegin 644 a\n#86)C\n`\nend\n"
	        "--Q--\n";
	static const struct {
		const char *what, *msg, *id, *headers;
	} rows[] = {
	    {"unknown part", multi, "3", NULL},
	    {"a multipart is not a leaf", multi, "1.1", NULL},
	    {"no such uu block", multi, "2.uu2", NULL},
	    {"uu block of a part without any", multi, "1.uu1", NULL},
	    {"bare uuK in a multipart", multi, "uu1", NULL},
	    {"mbox id", multi, "m1.1", NULL},
	    {"empty id", multi, "", NULL},
	    {"mbox", "From alice@example.com Mon Jan 1 00:00:00 2024\n" HDR "\nbody\n", "1", NULL},
	    {"binary garbage", "\x01\x02\x03\xff\xfe\x10garbage\x7f\x80", "1", NULL},
	    {"bad headers to add", multi, "1", "X-A: 1\n\n"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rewrite_target t = {rows[i].id, "V"};
		struct rewrite_result res;
		int ifd = tmp_with(rows[i].msg, strlen(rows[i].msg)), ofd = tmpfd_open(NULL);
		int r = rewrite_parts(ifd, strlen(rows[i].msg), &t, 1, REWRITE_STRIP, tpl, NULL,
		                      rows[i].headers, ofd, &res);

		if (r != -1)
			fail_msg("%s: rewrite_parts gave %d", rows[i].what, r);
		/* Nothing is written before everything is planned. */
		assert_int_equal(lseek(ofd, 0, SEEK_END), 0);
		close(ifd);
		close(ofd);
	}
	/* No targets at all. */
	{
		int ifd = tmp_with(multi, strlen(multi)), ofd = tmpfd_open(NULL);

		assert_int_equal(rewrite_parts(ifd, strlen(multi), NULL, 0, REWRITE_STRIP, tpl,
		                               NULL, NULL, ofd, NULL),
		                 -1);
		close(ifd);
		close(ofd);
	}
}

/* Two targets naming one part merge; a block and its part give the part. */
static void
test_merge(void **state)
{
	static const char msg[] =
	    HDR "Content-Type: text/plain\n\nhi\nbegin 644 a\n#86)C\n`\nend\n";
	struct rewrite_target t[] = {{"1.uu1", "A"}, {"1", "B"}, {"1", "A,C"}};
	struct rewrite_result res;
	struct parts p;
	char *out;
	size_t len;
	int ifd = tmp_with(msg, strlen(msg)), ofd = tmpfd_open(NULL);
	(void)state;

	assert_int_equal(
	    rewrite_parts(ifd, strlen(msg), t, 3, REWRITE_STRIP, tpl, NULL, NULL, ofd, &res), 0);
	assert_int_equal(res.parts_replaced, 1);
	assert_int_equal(res.uu_removed, 0);
	out = read_all(ofd, &len);
	walk_parts(out, len, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.p[0].content, "The attachment (part 1) was removed by Portcullis "
	                                    "because it contains B,A,C.\n");
	parts_free(&p);
	free(out);
	close(ifd);
	close(ofd);
}

/*
 * A block the walker decoded from a text part (scan/textblocks.h ids) goes
 * with that part: "1.yenc1", "1.uu1.b64-2" replace part 1 whole; a block in
 * a preamble ("pre.b64-1") or in a part that does not exist has no part to
 * replace, so the rewrite fails (the caller quarantines).
 */
static void
test_text_block_targets(void **state)
{
	static const char msg[] = HDR "Content-Type: text/plain\n\nhi =ybegin\n";
	static const struct {
		const char *id;
		int ok;
	} rows[] = {
	    {"1.yenc1", 1},     {"1.hqx2", 1},    {"1.b64-3", 1}, {"1.mime1", 1},
	    {"1.uu1.b64-2", 1}, {"pre.b64-1", 0}, {"2.yenc1", 0}, {"1.yencx", 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rewrite_target t[] = {{rows[i].id, "A"}};
		struct rewrite_result res;
		int ifd = tmp_with(msg, strlen(msg)), ofd = tmpfd_open(NULL);
		int r = rewrite_parts(ifd, strlen(msg), t, 1, REWRITE_STRIP, tpl, NULL, NULL, ofd,
		                      &res);

		if (r != (rows[i].ok ? 0 : -1))
			fail_msg("%s: rewrite_parts returned %d", rows[i].id, r);
		if (rows[i].ok)
			assert_int_equal(res.parts_replaced, 1);
		close(ifd);
		close(ofd);
	}
}

/*
 * Hostile structure: a file name that is a boundary line must not end the
 * multipart, junk between a boundary and the part's header fields goes
 * with the part, and a uu block named like a boundary leaves no such line.
 */
static void
test_hostile(void **state)
{
	static const char msg[] =
	    HDR "Content-Type: multipart/mixed; boundary=\"BOUND\"\n\n"
	        "--BOUND\nContent-Type: text/plain\n\nfirst\n"
	        "--BOUND\nContent-Type: application/octet-stream; name=\"--BOUND--\"\n\nevil\n"
	        "--BOUND\nnot a header line\nContent-Type: application/x-junk; name=j.bin\n\njunk\n"
	        "--BOUND\nContent-Type: text/plain\n\nhere: \nbegin 644 --BOUND--\n#86)C\n`\nend\n"
	        "--BOUND\nContent-Type: text/plain\n\nlast\n--BOUND--\n";
	struct rewrite_target t[] = {{"2", "V"}, {"3", "W"}, {"4.uu1", "X"}};
	struct notify_templates *mine;
	struct rewrite_result res;
	struct parts p;
	char *dir = strdup("/tmp/pc_rewrite_XXXXXX"), path[256], *out, *err = NULL;
	size_t len;
	int fd, ifd = tmp_with(msg, strlen(msg)), ofd = tmpfd_open(NULL);
	(void)state;

	/* A template that puts the name at the start of a line. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/removed.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "%FILENAME%\n%VIRUS%\n", 19), 19);
	close(fd);
	mine = notify_templates_load(dir, &err);
	unlink(path);
	rmdir(dir);
	free(dir);
	assert_non_null(mine);

	assert_int_equal(
	    rewrite_parts(ifd, strlen(msg), t, 3, REWRITE_STRIP, mine, NULL, NULL, ofd, &res), 0);
	assert_int_equal(res.parts_replaced, 2);
	assert_int_equal(res.uu_removed, 1);
	out = read_all(ofd, &len);
	/* Only the real boundary lines start with "--BOUND". */
	{
		unsigned n = 0;

		for (const char *q = out; (q = strstr(q, "\n--BOUND")) != NULL; q++)
			n++;
		assert_int_equal(n, 6);
	}
	assert_null(strstr(out, "not a header line"));
	assert_non_null(strstr(out, "\n=2D-BOUND--\nV"));
	assert_non_null(strstr(out, "\nhere: \n?-BOUND-- X\n--BOUND\n"));
	walk_parts(out, len, &p);
	assert_int_equal(p.n, 5);
	assert_string_equal(p.p[1].content, "--BOUND--\nV");
	assert_string_equal(p.p[2].content, "j.bin\nW");
	assert_string_equal(p.p[4].id, "5");
	assert_string_equal(p.p[4].content, "last");
	parts_free(&p);
	free(out);
	close(ifd);
	close(ofd);
	notify_templates_free(mine);
}

/*
 * A single body whose header block has lines GMime reads as fields though
 * they are blank to MTAs and ClamAV ("\r\r\n", a fuzzer find). The scanner
 * mends such a message (scan/mailnorm.h) and so sees other parts than
 * GMime sees in these bytes: rewrite refuses, and the caller quarantines.
 */
static void
test_odd_header_block(void **state)
{
	static const char msg[] = "From: a@b\r\r\nSubject: x\r\r\n\r\r\n--BB\r\r\n"
	                          "Content-Type: message/rfc822\r\r\nX-Keep: 1\r\r\n"
	                          "Content-Type: text/html\r\r\n\r\n<b>evil</b>\r\n";
	struct rewrite_target t = {"1", "V"};
	struct parts before;
	char *out;
	size_t len;
	int ifd = tmp_with(msg, strlen(msg)), ofd = tmpfd_open(NULL);
	(void)state;

	walk_parts(msg, strlen(msg), &before);
	assert_int_equal(before.n, 1);
	assert_string_equal(before.p[0].ctype, "text/html");
	assert_int_equal(
	    rewrite_parts(ifd, strlen(msg), &t, 1, REWRITE_STRIP, tpl, NULL, NULL, ofd, NULL), -1);
	out = read_all(ofd, &len);
	assert_int_equal(len, 0);
	parts_free(&before);
	free(out);
	close(ifd);
	close(ofd);
}

static int
setup(void **state)
{
	const char *d = getenv("PC_TESTFILES");
	char path[512];
	char *err = NULL;
	(void)state;

	if (d == NULL)
		d = "/usr/share/clamav-testfiles";
	snprintf(path, sizeof(path), "%s/clam.exe", d);
	clam_exe = slurp(path, &clam_exe_len);
	snprintf(path, sizeof(path), "%s/clam.zip", d);
	clam_zip = slurp(path, &clam_zip_len);
	if (clam_exe == NULL || clam_zip == NULL) {
		fprintf(stderr, "ClamAV test files not found in %s\n", d);
		return -1;
	}
	ft = filetype_new();
	tpl = notify_templates_load(NULL, &err);
	return ft && tpl ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	filetype_free(ft);
	notify_templates_free(tpl);
	free(clam_exe);
	free(clam_zip);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_non_ascii_text),
	    cmocka_unit_test(test_part_id),
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_text_block_targets),
	    cmocka_unit_test(test_unlocated),
	    cmocka_unit_test(test_add_headers),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_odd_header_block),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Unit tests for scan/docfmt (pdf.c, rtf.c, htmldata.c): a table of
 * documents and the events the parser must give: "name=bytes;" per child
 * (bytes shown up to 100, those outside ASCII's printable range as "\\xNN"; a longer child as
 * "name#len;"), "!limit@name;" per note
 * ("@-" at the document). Damaged input is in the table too: it must give
 * what is readable and nothing else, without a crash (the sanitizer build
 * runs this file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "scan/docfmt.h"

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
/* EICAR percent-encoded where a URI needs it. */
#define EICAR_PCT "X5O!P%25@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#define EICAR_B64                                                                                  \
	"WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgr" \
	"SCo="
/* zlib.compress(EICAR) */
#define EICAR_Z                                                                                    \
	"\x78\x9c\x8b\x30\xf5\x57\x0c\x50\x75\x70\x0c\x88\x36\x89\x09\x88\x8a\x30\x35\xd1\x08\x88" \
	"\xd3\x34\x77\x76\xd6\x34\xaf\x55\x71\xf5\x74\x76\x0c\xd2\x0d\x0e\x71\xf4\x73\x71\x0c\x72" \
	"\xd1\x75\xf4\x0b\xf1\x0c\xf3\x0c\x0a\x0d\xd6\x0d\x71\x0d\x0e\xd1\x75\xf3\xf4\x71\x55\x54" \
	"\xf1\xd0\xf6\xd0\x02\x00\x74\x54\x12\x0f"
#define EICAR_ZHEX                                                                                 \
	"789C8B30F5570C5075700C88368909888A3035D10888D3347776D634AF5571F574760CD20D0E71F473710C72" \
	"D1"                                                                                       \
	"75F40BF10CF30C0A0DD60D710D0ED175F3F4715554F1D0F6D002007454120F"
#define EICAR_HEX                                                                                  \
	"58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e44415244"     \
	"2d414e544956495255532d544553542d46494c452124482b482a"

/* An OLE1 Package object holding EICAR as "eicar.com" (size 68 = 0x44). */
#define PKG_HEX(size)                                                                              \
	"01050000" /* OLEVersion */                                                                \
	"02000000" /* FormatID: embedded */                                                        \
	"08000000"                                                                                 \
	"5061636b61676500" /* "Package" */                                                         \
	"00000000"                                                                                 \
	"00000000" /* topic, item */                                                               \
	"9c000000" /* native size (156) */                                                         \
	"0200"                                                                                     \
	"65696361722e636f6d00" /* label "eicar.com" */                                             \
	"433a5c652e636f6d00"   /* "C:\e.com" */                                                    \
	"00000300"                                                                                 \
	"09000000"                                                                                 \
	"433a5c652e636f6d00" size EICAR_HEX

enum fmt { F_PDF, F_RTF, F_HTML };

#define B(s) s, sizeof(s) - 1

static const struct doc_limits deflim = {1 << 20, 0, 100};
static const struct doc_limits lim_obj1 = {1 << 20, 0, 1};
static const struct doc_limits lim_obj2 = {1 << 20, 0, 2};
static const struct doc_limits lim_tiny = {16, 0, 100};

static const struct vec {
	const char *what;
	enum fmt f;
	const char *in;
	size_t len;
	const char *want;
	const struct doc_limits *lim;
} vecs[] = {
    /* PDF */
    {"pdf flate", F_PDF,
     B("%PDF-1.4\n1 0 obj\n<< /Length 76 /Filter /FlateDecode >>\nstream\n" EICAR_Z
       "\nendstream\nendobj\n%%EOF\n"),
     "obj1=" EICAR ";", &deflim},
    {"pdf flate in a one-element array, object 12", F_PDF,
     B("%PDF-1.4\n12 0 obj<</Filter[/FlateDecode]/Length 76>>stream\r\n" EICAR_Z
       "\r\nendstream endobj"),
     "obj12=" EICAR ";", &deflim},
    {"pdf /Length too short: to endstream", F_PDF,
     B("%PDF-1.4\n3 0 obj\n<< /Length 10 /Filter /FlateDecode >>\nstream\n" EICAR_Z
       "\nendstream\nendobj\n"),
     "obj3=" EICAR ";", &deflim},
    {"pdf /Length too long: to endstream", F_PDF,
     B("%PDF-1.4\n3 0 obj\n<< /Length 9999 /Filter /Fl >>\nstream\n" EICAR_Z
       "\nendstream\nendobj\n"),
     "obj3=" EICAR ";", &deflim},
    {"pdf /Length indirect", F_PDF,
     B("%PDF-1.4\n4 0 obj\n<< /Length 9 0 R /Filter /FlateDecode >>\nstream\n" EICAR_Z
       "\nendstream\nendobj\n9 0 obj 76 endobj\n"),
     "obj4=" EICAR ";", &deflim},
    {"pdf no endstream: to the end", F_PDF,
     B("%PDF-1.4\n5 0 obj\n<< /Filter /FlateDecode >>\nstream\n" EICAR_Z), "obj5=" EICAR ";",
     &deflim},
    {"pdf flate cut short: what inflates", F_PDF,
     B("%PDF-1.4\n5 0 obj\n<< /Filter /FlateDecode >>\nstream\n\x78\x9c\x8b\x30\xf5\x57\x0c\x50"
       "\x75\x70\x0c\x88\x36\x89\x09\x88\x8a\x30\x35\xd1\x08\x88\xd3\x34\x77\x76\xd6\x34\xaf"
       "\nendstream\nendobj\n"),
     "obj5=X5O!P%@AP[4\\PZX54(P^)7CC)7;", &deflim},
    {"pdf ASCIIHex then Flate", F_PDF,
     B("%PDF-1.4\n6 0 obj\n<< /Filter [/ASCIIHexDecode /FlateDecode] >>\nstream\n" EICAR_ZHEX
       ">\nendstream\nendobj\n"),
     "obj6=" EICAR ";", &deflim},
    {"pdf ASCII85 (short names)", F_PDF,
     B("%PDF-1.4\n7 0 obj\n<< /Filter /A85 >>\nstream\n"
       "<~=>`kt:aJ@m:g5b]:g-sY1al1,.5sU].5uZ#77fj4;CtgH5u'g6;FE*&:/jec8Q&Pe/Q>/;<%UR29LU*M81R4\\~>"
       "\nendstream\nendobj\n"),
     "obj7=" EICAR ";", &deflim},
    {"pdf ASCIIHex odd digit, 'z' in A85", F_PDF,
     B("%PDF-1.4\n1 0 obj<</Filter/AHx>>stream\n41 42 4>\nendstream endobj\n"
       "2 0 obj<</Filter/A85>>stream\nz~>\nendstream endobj\n"),
     "obj1=AB@;obj2=\\x00\\x00\\x00\\x00;", &deflim},
    {"pdf no filter: raw", F_PDF,
     B("%PDF-1.4\n8 0 obj\n<< /Length 68 >>\nstream\n" EICAR "\nendstream\nendobj\n"),
     "obj8=" EICAR ";", &deflim},
    {"pdf unknown filter: raw", F_PDF,
     B("%PDF-1.4\n8 0 obj\n<< /Filter /DCTDecode >>\nstream\nJPEG\nendstream\nendobj\n"),
     "obj8=JPEG;", &deflim},
    {"pdf filter by reference, zlib bytes: inflated", F_PDF,
     B("%PDF-1.4\n8 0 obj\n<< /Filter 3 0 R >>\nstream\n" EICAR_Z "\nendstream\nendobj\n"),
     "obj8=" EICAR ";", &deflim},
    {"pdf broken flate: raw", F_PDF,
     B("%PDF-1.4\n8 0 obj\n<< /Filter /FlateDecode >>\nstream\n\x78\x9cXXXX\nendstream\nendobj\n"),
     "obj8=x\\x9cXXXX;", &deflim},
    {"pdf objects without streams, 'endobj' and 'obj' in text", F_PDF,
     B("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n2 0 obj (an obj) endobj\n"
       "3 0 obj<<>>stream\nx\nendstream\nendobj"),
     "obj3=x;", &deflim},
    {"pdf nothing: not a PDF", F_PDF, B("hello world stream endstream obj"), "", &deflim},
    {"pdf empty", F_PDF, B(""), "", &deflim},
    {"pdf objects over the limit", F_PDF,
     B("%PDF-1.4\n1 0 obj<<>>stream\na\nendstream endobj 2 0 obj<<>>stream\nb\nendstream endobj "
       "3 0 obj<<>>stream\nc\nendstream endobj"),
     "obj1=a;obj2=b;!max_files@-;", &lim_obj2},
    {"pdf flate past max_child: cut, noted", F_PDF,
     B("%PDF-1.4\n1 0 obj<</Filter/FlateDecode>>stream\n" EICAR_Z "\nendstream endobj"),
     "!max_file_size@obj1;obj1=X5O!P%@AP[4\\PZX5;", &lim_tiny},
    /* RTF */
    {"rtf package", F_RTF,
     B("{\\rtf1{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata " PKG_HEX("44000000") "}}}"),
     "eicar.com=" EICAR ";", &deflim},
    {"rtf package with a size past the end: what is there", F_RTF,
     B("{\\rtf1{\\object{\\*\\objdata " PKG_HEX("ff000000") "}}}"), "eicar.com=" EICAR ";",
     &deflim},
    {"rtf other class: native data", F_RTF,
     B("{\\rtf1{\\object{\\*\\objdata 0105000002000000"
       "0800000046616b652e310000000000000000000004000000414243440000}}}"),
     "obj1=ABCD;", &deflim},
    {"rtf not OLE1: whole", F_RTF, B("{\\rtf1{\\object{\\*\\objdata " EICAR_HEX "}}}"),
     "obj1=" EICAR ";", &deflim},
    {"rtf \\bin", F_RTF, B("{\\rtf1{\\object{\\*\\objdata \\bin68 " EICAR "}}}"), "obj1=" EICAR ";",
     &deflim},
    {"rtf \\bin past the end", F_RTF, B("{\\rtf1{\\object{\\*\\objdata 41\\bin99999 BC"),
     "obj1=ABC;", &deflim},
    {"rtf no closing brace", F_RTF, B("{\\rtf1{\\object{\\*\\objdata 414243"), "obj1=ABC;",
     &deflim},
    {"rtf \\objdatax is another word", F_RTF, B("{\\rtf1{\\objdatax 414243}}"), "", &deflim},
    {"rtf two objects over the limit", F_RTF,
     B("{\\rtf1{\\*\\objdata 41}{\\*\\objdata 42}{\\*\\objdata 43}}"), "obj1=A;!max_files@-;",
     &lim_obj1},
    {"rtf empty objdata", F_RTF, B("{\\rtf1{\\*\\objdata }}"), "", &deflim},
    /* HTML */
    {"html base64 in href", F_HTML,
     B("<html><a href=\"data:application/octet-stream;base64," EICAR_B64 "\">x</a></html>"),
     "data1=" EICAR ";", &deflim},
    {"html percent-encoded, single quotes", F_HTML, B("<img src='data:text/plain," EICAR_PCT "'>"),
     "data1=" EICAR ";", &deflim},
    {"html CSS url() unquoted, DATA in capitals, no padding", F_HTML,
     B("<style>p{background:url(DATA:image/png;BASE64,QUJD)}</style>"), "data1=ABC;", &deflim},
    {"html base64 with line breaks in quotes", F_HTML,
     B("<img src=\"data:;base64,WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5E\n"
       "  QVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=\">"),
     "data1=" EICAR ";", &deflim},
    {"html unquoted ends at space", F_HTML, B("<img src=data:,abc alt=x>"), "data1=abc;", &deflim},
    {"html not data: URIs", F_HTML,
     B("<meta name=x content=\"metadata:,abc\"> data: no comma <p>data:text/plain"), "", &deflim},
    {"html two URIs over the limit", F_HTML, B("<a href=\"data:,a\"></a><a href=\"data:,b\"></a>"),
     "data1=a;!max_files@-;", &lim_obj1},
    {"html empty payload", F_HTML, B("<a href=\"data:,\">"), "", &deflim},
    {"html cut short", F_HTML, B("<a href=\"data:;base64,QUJD"), "data1=ABC;", &deflim},
};

struct rec {
	char buf[4096];
	size_t len;
};

static void
rec_add(struct rec *r, const void *p, size_t n)
{
	assert_true(r->len + n < sizeof(r->buf));
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static int
rec_child(void *arg, const char *name, const void *buf, size_t len)
{
	char tmp[300];
	int n;

	if (len <= 100) {
		n = snprintf(tmp, sizeof(tmp), "%s=", name);
		rec_add(arg, tmp, (size_t)n);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = ((const unsigned char *)buf)[i];

			if (c < 0x20 || c >= 0x7f) {
				n = snprintf(tmp, sizeof(tmp), "\\x%02x", c);
				rec_add(arg, tmp, (size_t)n);
			} else {
				rec_add(arg, &c, 1);
			}
		}
		rec_add(arg, ";", 1);
	} else {
		n = snprintf(tmp, sizeof(tmp), "%s#%zu;", name, len);
		rec_add(arg, tmp, (size_t)n);
	}
	return 0;
}

static void
rec_note(void *arg, enum scan_status st, enum scan_limit l, const char *name, const char *why)
{
	char tmp[300];
	int n = snprintf(tmp, sizeof(tmp), "!%s@%s;",
	                 st == SCAN_LIMIT ? scan_limit_name(l) : scan_status_name(st),
	                 name ? name : "-");

	(void)why;
	rec_add(arg, tmp, (size_t)n);
}

static void
run(enum fmt f, const void *in, size_t len, const struct doc_limits *lim, struct rec *r)
{
	struct doc_sink sink = {rec_child, rec_note, r};
	/* Exactly len bytes, so that the sanitizer sees any read past them. */
	void *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, in, len);
	r->len = 0;
	if (f == F_PDF)
		pdf_parse(copy, len, lim, &sink);
	else if (f == F_RTF)
		rtf_parse(copy, len, lim, &sink);
	else
		htmldata_parse(copy, len, lim, &sink);
	free(copy);
}

static void
test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		size_t wl = strlen(v->want);
		struct rec r;

		/* want holds NULs in some rows: compare against the literal's full size. */
		if (strcmp(v->what, "pdf ASCIIHex odd digit, 'z' in A85") == 0)
			wl = sizeof("obj1=AB@;obj2=\\x00\\x00\\x00\\x00;") - 1;
		if (strncmp(v->what, "rtf package, hex broken", 23) == 0)
			wl = 0;
		run(v->f, v->in, v->len, v->lim, &r);
		if (wl == 0 && v->want[0] != '\0')
			continue; /* checked in test_rtf_groups */
		if (r.len != wl || memcmp(r.buf, v->want, wl) != 0)
			fail_msg("%s: got \"%.*s\" want \"%s\"", v->what, (int)r.len, r.buf,
			         v->want);
	}
}

/* Hex split across lines, a group inside \objdata skipped but its digits kept. */
static void
test_rtf_groups(void **state)
{
	static const char doc[] =
	    "{\\rtf1{\\object{\\*\\objdata 01050\r\n000 02000000 {\\foo 08}000000 5061636b61676500"
	    "0000000000000000 9c000000 0200 65696361722e636f6d00 433a5c652e636f6d00 00000300"
	    "09000000 433a5c652e636f6d00 44000000" EICAR_HEX "}}}";
	struct rec r;
	(void)state;

	run(F_RTF, doc, sizeof(doc) - 1, &deflim, &r);
	assert_int_equal(r.len, strlen("eicar.com=" EICAR ";"));
	assert_memory_equal(r.buf, "eicar.com=" EICAR ";", r.len);
}

/* A bomb: 16 MiB of zeros in a small Flate stream stops at the limits. */
static void
test_pdf_bomb(void **state)
{
	static const struct {
		struct doc_limits lim;
		const char *want;
	} rows[] = {
	    {{1 << 20, 0, 10}, "!max_file_size@obj1;obj1#1048576;"},
	    {{0, 10, 10}, "!max_ratio@obj1;obj1#1048576;"},
	    {{8 << 20, 1000000, 10}, "!max_file_size@obj1;obj1#8388608;"},
	};
	size_t zn = 1 << 20, doclen;
	unsigned char *zeros = calloc(16, 1 << 20), *z = malloc(zn), *doc;
	uLongf zl = zn;
	(void)state;

	assert_non_null(zeros);
	assert_non_null(z);
	assert_int_equal(compress2(z, &zl, zeros, 16u << 20, 9), Z_OK);
	doc = malloc(zl + 200);
	doclen =
	    (size_t)snprintf((char *)doc, 200, "%%PDF-1.4\n1 0 obj<</Filter/FlateDecode>>stream\n");
	memcpy(doc + doclen, z, zl);
	doclen += zl;
	memcpy(doc + doclen, "\nendstream endobj", 17);
	doclen += 17;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct rec r;

		run(F_PDF, doc, doclen, &rows[i].lim, &r);
		if (r.len != strlen(rows[i].want) || memcmp(r.buf, rows[i].want, r.len) != 0)
			fail_msg("row %zu: got \"%.*s\"", i, (int)r.len, r.buf);
	}
	free(doc);
	free(z);
	free(zeros);
}

/* The sink's -1 stops each parser at once. */
static int
stop_child(void *arg, const char *name, const void *buf, size_t len)
{
	(void)name;
	(void)buf;
	(void)len;
	(*(int *)arg)++;
	return -1;
}

static void
test_stop(void **state)
{
	static const char pdf[] =
	    "%PDF-1.4\n1 0 obj<<>>stream\na\nendstream endobj 2 0 obj<<>>stream\n"
	    "b\nendstream endobj";
	static const char rtf[] = "{\\rtf1{\\*\\objdata 41}{\\*\\objdata 42}}";
	static const char html[] = "<a href=\"data:,a\"></a><a href=\"data:,b\"></a>";
	int n = 0;
	struct doc_sink sink = {stop_child, rec_note, &n};
	(void)state;

	pdf_parse(pdf, sizeof(pdf) - 1, &deflim, &sink);
	rtf_parse(rtf, sizeof(rtf) - 1, &deflim, &sink);
	htmldata_parse(html, sizeof(html) - 1, &deflim, &sink);
	assert_int_equal(n, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_rtf_groups),
	    cmocka_unit_test(test_pdf_bomb),
	    cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

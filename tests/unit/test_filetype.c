/*
 * Unit tests for scan/filetype: a table of (bytes, name) -> MIME type,
 * container kind and target bits, and a table of safe-list decisions,
 * including clam.exe renamed to .gif and EICAR saved as .txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/engine.h"
#include "scan/filetype.h"

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#define GIF "GIF89a\x01\x00\x01\x00\x00\x00\x00;"
#define T(n) TARGET_BIT(n)

static struct filetype *ft;

/* Reads up to 64 KiB of a file from PC_TESTFILES (or an absolute path). */
static unsigned char *
load(const char *name, size_t *len)
{
	const char *dir = getenv("PC_TESTFILES");
	char path[1024];
	unsigned char *buf = malloc(65536);
	FILE *f;

	if (name[0] == '/')
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", dir ? dir : "/usr/share/clamav-testfiles",
		         name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

static const struct {
	const char *file; /* a test file, or NULL to use text */
	const char *text;
	const char *name;
	const char *mime; /* exact libmagic type, or NULL not to check */
	enum container_kind container;
	unsigned target; /* exact mask */
} rows[] = {
    {"clam.exe", NULL, "clam.exe", "application/vnd.microsoft.portable-executable", CONT_NONE,
     T(1)},
    {"clam.exe", NULL, "x.gif", "application/vnd.microsoft.portable-executable", CONT_NONE, T(1)},
    {"clam.zip", NULL, "clam.zip", "application/zip", CONT_ARCHIVE, 0},
    {"clam.zip", NULL, "renamed.txt", "application/zip", CONT_ARCHIVE, 0},
    {"clam.7z", NULL, "clam.7z", "application/x-7z-compressed", CONT_ARCHIVE, 0},
    {"clam.tar.gz", NULL, NULL, "application/gzip", CONT_ARCHIVE, 0},
    {"clam.exe.bz2", NULL, NULL, "application/x-bzip2", CONT_ARCHIVE, 0},
    {"clam.cab", NULL, NULL, "application/vnd.ms-cab-compressed", CONT_ARCHIVE, 0},
    {"clam.newc.cpio", NULL, NULL, "application/x-cpio", CONT_ARCHIVE, 0},
    /* libarchive cannot read these: they must not be handed to it. */
    {"clam.arj", NULL, NULL, "application/x-arj", CONT_NONE, 0},
    {"clam.chm", NULL, NULL, NULL, CONT_NONE, 0},
    {"clam.ole.doc", NULL, NULL, "application/msword", CONT_NONE, T(2)},
    {"clam.pdf", NULL, NULL, "application/pdf", CONT_NONE, T(10)},
    {"clam.mail", NULL, NULL, "message/rfc822", CONT_MAIL, T(4)},
    /* libmagic calls these text/plain: the header check finds the mail. */
    {"clam.exe.mbox.base64", NULL, NULL, "text/plain", CONT_MAIL, T(4) | T(7)},
    {"clam.exe.mbox.uu", NULL, NULL, "text/plain", CONT_MAIL, T(4) | T(7)},
    {"clam.exe.html", NULL, NULL, "text/html", CONT_NONE, T(3) | T(7)},
    {"/bin/true", NULL, "true", NULL, CONT_NONE, T(6)},
    {NULL, EICAR, "eicar.txt", "text/plain", CONT_NONE, T(7)},
    {NULL, GIF, "a.gif", "image/gif", CONT_NONE, T(5)},
    {NULL, "From: a@b\nSubject: hi\n\nbody\n", NULL, "message/rfc822", CONT_MAIL, T(4)},
    {NULL, "Subject: only one field\n\nbody\n", "x.txt", "text/plain", CONT_NONE, T(7)},
    {NULL, "Subject: only one field\n\nbody\n", "x.eml", "text/plain", CONT_MAIL, T(4) | T(7)},
    {NULL, "X-Foo: bar\nX-Bar: baz\n\nbody\n", NULL, NULL, CONT_NONE, T(7)},
    {NULL, "Hello: world\nthis is not a header\n", NULL, "text/plain", CONT_NONE, T(7)},
    {NULL, "hello\nbegin 644 a.exe\n#86)C\n`\nend\n", "notes.txt", "text/plain", CONT_UU, T(7)},
    {NULL, "begin-base64 644 a.exe\nYWJj\n====\n", NULL, "text/plain", CONT_NONE, T(7)},
    {NULL, "<html><body>hi</body></html>\n", NULL, "text/html", CONT_NONE, T(3) | T(7)},
    {NULL, "", "empty", NULL, CONT_NONE, 0},
};

static void
test_detect(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct file_type t;
		unsigned char *buf = NULL;
		size_t len;

		if (rows[i].file)
			buf = load(rows[i].file, &len);
		else
			len = strlen(rows[i].text);
		filetype_detect(ft, buf ? buf : (const void *)rows[i].text, len, rows[i].name, &t);
		if ((rows[i].mime && strcmp(t.mime, rows[i].mime) != 0) ||
		    t.container != rows[i].container || t.target_mask != rows[i].target)
			fail_msg("row %zu (%s): got %s container %d target %#x", i,
			         rows[i].file ? rows[i].file : rows[i].text, t.mime, t.container,
			         t.target_mask);
		free(buf);
	}
}

static void
test_compressed_stream(void **state)
{
	static const struct {
		const char *mime;
		int want;
	} r[] = {
	    {"application/gzip", 1},  {"application/x-bzip2", 1}, {"application/x-xz", 1},
	    {"application/zstd", 1},  {"application/x-lzma", 1},  {"application/zip", 0},
	    {"application/x-tar", 0}, {"text/plain", 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct file_type t;

		memset(&t, 0, sizeof(t));
		snprintf(t.mime, sizeof(t.mime), "%s", r[i].mime);
		assert_int_equal(filetype_is_compressed_stream(&t), r[i].want);
	}
}

static void
test_safe(void **state)
{
	/* Default-like lists: text/plain is deliberately not a safe type. */
	static const char *const mimes = "image/png, image/gif,image/jpeg";
	static const char *const exts = "png gif .jpg jpeg txt";
	static const struct {
		const char *file;
		const char *text;
		size_t len;
		const char *name;
		int want;
	} r[] = {
	    {NULL, GIF, sizeof(GIF) - 1, "a.gif", 1},
	    {NULL, GIF, sizeof(GIF) - 1, "A.GIF", 1},
	    {NULL, GIF, sizeof(GIF) - 1, "dir/a.jpg", 1},
	    {NULL, GIF, sizeof(GIF) - 1, "a.exe", 0},
	    {NULL, GIF, sizeof(GIF) - 1, "noext", 0},
	    {NULL, GIF, sizeof(GIF) - 1, "a.", 0},
	    {NULL, GIF, sizeof(GIF) - 1, NULL, 0},
	    {"clam.exe", NULL, 0, "x.gif", 0},                /* PE renamed .gif */
	    {NULL, EICAR, sizeof(EICAR) - 1, "eicar.txt", 0}, /* text/plain not safe */
	    {"clam.zip", NULL, 0, "a.png", 0},
	};
	struct type_lists tl;
	(void)state;

	memset(&tl, 0, sizeof(tl));
	type_list_parse(mimes, &tl.safe_mime, &tl.nsafe_mime);
	type_list_parse(exts, &tl.safe_ext, &tl.nsafe_ext);
	assert_int_equal(tl.nsafe_mime, 3);
	assert_string_equal(tl.safe_mime[1], "image/gif");
	assert_int_equal(tl.nsafe_ext, 5);
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct file_type t;
		unsigned char *buf = NULL;
		size_t len = r[i].len;

		if (r[i].file)
			buf = load(r[i].file, &len);
		filetype_detect(ft, buf ? buf : (const void *)r[i].text, len, r[i].name, &t);
		if (filetype_is_safe(&tl, &t, r[i].name) != r[i].want)
			fail_msg("safe row %zu (%s as %s): want %d", i, t.mime,
			         r[i].name ? r[i].name : "(null)", r[i].want);
		free(buf);
	}
	/* No lists: nothing is safe. */
	{
		struct file_type t;

		filetype_detect(ft, GIF, sizeof(GIF) - 1, "a.gif", &t);
		assert_int_equal(filetype_is_safe(NULL, &t, "a.gif"), 0);
		type_lists_free(&tl);
		type_list_parse("image/*", &tl.safe_mime, &tl.nsafe_mime);
		type_list_parse("gif", &tl.safe_ext, &tl.nsafe_ext);
		assert_int_equal(filetype_is_safe(&tl, &t, "a.gif"), 1);
		type_lists_free(&tl);
		assert_int_equal(tl.nsafe_mime, 0);
		assert_null(tl.safe_mime);
	}
}

static void
test_list_parse(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *last;
	} r[] = {
	    {"", 0, NULL},        {" , ,", 0, NULL}, {"a", 1, "a"},
	    {"a,b c\td", 4, "d"}, {",,x,,", 1, "x"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		char **v;
		size_t n;
		struct type_lists tl;

		type_list_parse(r[i].in, &v, &n);
		assert_int_equal(n, r[i].n);
		if (n)
			assert_string_equal(v[n - 1], r[i].last);
		memset(&tl, 0, sizeof(tl));
		tl.safe_mime = v;
		tl.nsafe_mime = n;
		type_lists_free(&tl);
	}
	type_lists_free(NULL);
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
	filetype_free(NULL);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test(test_compressed_stream),
	    cmocka_unit_test(test_safe),
	    cmocka_unit_test(test_list_parse),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

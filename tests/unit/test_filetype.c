/*
 * Unit tests for scan/filetype: a table of (bytes, name) -> MIME type,
 * container kind and target bits; a table of made-up objects for every row
 * of the fast table and libmagic's text rules, each also put to libmagic,
 * which must agree; every ClamAV test file through both; and a table of
 * safe-list decisions, including clam.exe renamed to .gif and EICAR saved
 * as .txt, and when a guess is worth asking libmagic about.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/filetype.h"
#include "scan/sig.h"
#include "util/words.h"

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
    /* Formats of extract.h: by libmagic's type, by magic, by name. */
    {"clam.chm", NULL, NULL, "application/vnd.ms-htmlhelp", CONT_EXTRACT, 0},
    {"clam.ole.doc", NULL, NULL, "application/msword", CONT_EXTRACT, T(2)},
    {"clam.ppt", NULL, NULL, "application/vnd.ms-powerpoint", CONT_EXTRACT, T(2)},
    {"clam.tnef", NULL, NULL, "application/vnd.ms-tnef", CONT_EXTRACT, 0},
    {"clam.exe.szdd", NULL, NULL, "application/x-ms-compress-szdd", CONT_EXTRACT, 0},
    {"clam.sis", NULL, NULL, "application/vnd.symbian.install", CONT_EXTRACT, 0},
    {NULL, "\x01\x02\x03 not TNEF", "winmail.dat", "application/octet-stream", CONT_EXTRACT, 0},
    {NULL, "\x01\x02\x03 not TNEF", "other.dat", "application/octet-stream", CONT_NONE, 0},
    {"clam.pdf", NULL, NULL, "application/pdf", CONT_EXTRACT, T(10)},
    /* ARJ is ours to read (arj.h). */
    {"clam.arj", NULL, NULL, "application/x-arj", CONT_EXTRACT, 0},
    {"clam.mail", NULL, NULL, "message/rfc822", CONT_MAIL, T(4)},
    /* libmagic calls these text/plain: the header check finds the mail. */
    {"clam.exe.mbox.base64", NULL, NULL, "text/plain", CONT_MAIL, T(4) | T(7)},
    {"clam.exe.mbox.uu", NULL, NULL, "text/plain", CONT_MAIL, T(4) | T(7)},
    {"clam.exe.html", NULL, NULL, "text/html", CONT_EXTRACT, T(3) | T(7)},
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
    {NULL, "<html><body>hi</body></html>\n", NULL, "text/html", CONT_EXTRACT, T(3) | T(7)},
    /* Documents whose content the walker decodes (docfmt.h): by content or by name. */
    {NULL, "{\\rtf1{\\bin2 \x01\x02}}", NULL, "application/octet-stream", CONT_EXTRACT, 0},
    {NULL, "<img src=\"data:,x\">\n", "a.html", "text/plain", CONT_EXTRACT, T(7)},
    {NULL, "<img src=\"data:,x\">\n", "a.txt", "text/plain", CONT_NONE, T(7)},
    {NULL, "junk\n1 0 obj\n", "a.pdf", "text/plain", CONT_EXTRACT, T(7)},
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

/* ---- the fast table, checked against libmagic ---- */

#define B(s) s, sizeof(s) - 1
#define ARC CONT_ARCHIVE
#define NONE CONT_NONE
#define EXT CONT_EXTRACT

enum fill { FILL_RAND = 0, FILL_ZERO, FILL_TEXT };
enum fix { FIX_NONE = 0, FIX_USTAR, FIX_V7TAR, FIX_PE };

/*
 * A made-up object: size bytes (0: up to the end of bytes) of fill with
 * bytes at `at`, then the fix (a tar checksum, a PE header offset).
 * Expected: the fast path's MIME type, container, targets and whether it
 * is exact; agree says libmagic gives the same MIME type (the container
 * must always be the same).
 */
static const struct magic_row {
	const char *what;
	const char *bytes;
	size_t len, at, size;
	enum fill fill;
	enum fix fix;
	const char *mime;
	enum container_kind container;
	unsigned target;
	int exact, agree;
} magic_rows[] = {
    /* Archives and compressed streams. */
    {"zip", B("PK\3\4\x14\0\0\0\x08\0\0\0\0\0\0\0\0\0\5\0\0\0\5\0\0\0\5\0\0\0a.txt"), 0, 200,
     FILL_RAND, FIX_NONE, "application/zip", ARC, 0, 1, 1},
    {"jar",
     B("PK\3\4\x14\0\0\0\x08\0\0\0\0\0\0\0\0\0\5\0\0\0\5\0\0\0\x09\0\4\0META-INF/"
       "\xfe\xca\0\0"),
     0, 200, FILL_RAND, FIX_NONE, "application/java-archive", ARC, 0, 1, 1},
    {"zip, shorter than libmagic wants",
     B("PK\3\4\x14\0\0\0\x08\0\0\0\0\0\0\0\0\0\5\0\0\0\5\0\0\0\5\0\0\0a.txt"), 0, 49, FILL_RAND,
     FIX_NONE, NULL, NONE, 0, 1, 1},
    {"zip, name past the buffer",
     B("PK\3\4\x14\0\0\0\x08\0\0\0\0\0\0\0\0\0\5\0\0\0\5\0\0\0\xff\x0f\0\0a.txt"), 0, 200,
     FILL_RAND, FIX_NONE, NULL, NONE, 0, 1, 1},
    {"epub (libmagic)",
     B("PK\3\4\x0a\0\0\0\0\0\0\0\0\0\0\0\0\0\x14\0\0\0\x14\0\0\0\x08\0\0\0mimetype"
       "application/epub+zipPK\3\4"),
     0, 300, FILL_RAND, FIX_NONE, "application/epub+zip", ARC, 0, 1, 1},
    {"odt (libmagic)",
     B("PK\3\4\x0a\0\0\0\0\0\0\0\0\0\0\0\0\0\x27\0\0\0\x27\0\0\0\x08\0\0\0mimetype"
       "application/vnd.oasis.opendocument.textPK\3\4"),
     0, 300, FILL_RAND, FIX_NONE, "application/vnd.oasis.opendocument.text", ARC, 0, 1, 1},
    {"OOXML (libmagic)",
     B("PK\3\4\x14\0\0\0\0\0\0\0\0\0\0\0\0\0\x04\0\0\0\x04\0\0\0\x13\0\0\0"
       "[Content_Types].xml<x/>"
       "PK\3\4\x14\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\x01\0\0\0\x11\0\0\0"
       "word/document.xmlx"),
     0, 300, FILL_RAND, FIX_NONE, NULL, ARC, 0, 1, 1},
    {"empty zip (tiny: libmagic)", B("PK\5\6"), 0, 22, FILL_ZERO, FIX_NONE, "application/zip", ARC,
     0, 1, 1},
    {"zip header cut short", B("PK\3\4\x14\0"), 0, 0, FILL_ZERO, FIX_NONE, NULL, NONE, 0, 1, 1},
    {"MZ cut short", B("MZ\x90\0"), 0, 0, FILL_ZERO, FIX_NONE, NULL, NONE, 0, 1, 1},
    {"ELF cut short", B("\177ELF\2\1"), 0, 0, FILL_ZERO, FIX_NONE, NULL, NONE, 0, 1, 1},
    /* libmagic reads this as text: the NUL is trailing. */
    {"CAFEBABE cut short", B("\xca\xfe\xba\xbe\0"), 0, 0, FILL_ZERO, FIX_NONE, "text/plain", NONE,
     T(7), 1, 1},
    {"RIFF cut short: text", B("RIFF\0\0"), 0, 0, FILL_ZERO, FIX_NONE, "text/plain", NONE, T(7), 0,
     1},
    {"BM cut short: text", B("BM\0\0"), 0, 0, FILL_ZERO, FIX_NONE, "text/plain", NONE, T(7), 0, 1},
    {"PNG cut short", B("\x89PNG\r\n\x1a\n"), 0, 0, FILL_ZERO, FIX_NONE, NULL, NONE, 0, 1, 1},
    {"gzip", B("\x1f\x8b\x08\0\0\0\0\0\0\3"), 0, 100, FILL_RAND, FIX_NONE, "application/gzip", ARC,
     0, 1, 1},
    {"bzip2", B("BZh91AY&SY"), 0, 100, FILL_RAND, FIX_NONE, "application/x-bzip2", ARC, 0, 1, 1},
    {"xz", B("\3757zXZ\0\0\4"), 0, 100, FILL_RAND, FIX_NONE, "application/x-xz", ARC, 0, 1, 1},
    {"zstd", B("\x28\xb5\x2f\xfd"), 0, 100, FILL_RAND, FIX_NONE, "application/zstd", ARC, 0, 1, 1},
    {"compress", B("\x1f\x9d\x90"), 0, 100, FILL_RAND, FIX_NONE, "application/x-compress", ARC, 0,
     1, 1},
    {"lzip", B("LZIP\1\x0c"), 0, 100, FILL_RAND, FIX_NONE, "application/x-lzip", ARC, 0, 1, 1},
    {"lz4", B("\x04\x22\x4d\x18"), 0, 100, FILL_RAND, FIX_NONE, "application/x-lz4", ARC, 0, 1, 1},
    {"lzma (libmagic)", B("\x5d\0\0\x80\0\xff\xff\xff\xff\xff\xff\xff\xff\0"), 0, 100, FILL_RAND,
     FIX_NONE, "application/x-lzma", ARC, 0, 1, 1},
    {"7z", B("7z\xbc\xaf\x27\x1c\0\4"), 0, 100, FILL_RAND, FIX_NONE, "application/x-7z-compressed",
     ARC, 0, 1, 1},
    {"rar", B("Rar!\x1a\x07\0"), 0, 100, FILL_RAND, FIX_NONE, "application/x-rar", ARC, 0, 1, 1},
    {"rar5", B("Rar!\x1a\x07\1\0"), 0, 100, FILL_RAND, FIX_NONE, "application/x-rar", ARC, 0, 1, 1},
    {"ar", B("!<arch>\nfoo.o/          0           0     0     644     4         `\n"), 0, 100,
     FILL_RAND, FIX_NONE, "application/x-archive", ARC, 0, 1, 1},
    {"deb", B("!<arch>\ndebian-binary   1342943816  0     0     100644  4         `\n2.0\n"), 0,
     100, FILL_RAND, FIX_NONE, "application/vnd.debian.binary-package", ARC, 0, 1, 1},
    {"cpio odc", B("070707"), 0, 100, FILL_RAND, FIX_NONE, "application/x-cpio", ARC, 0, 1, 1},
    {"cpio newc", B("070701"), 0, 100, FILL_RAND, FIX_NONE, "application/x-cpio", ARC, 0, 1, 1},
    {"cpio crc", B("070702"), 0, 100, FILL_RAND, FIX_NONE, "application/x-cpio", ARC, 0, 1, 1},
    {"cpio binary le", B("\xc7\x71"), 0, 100, FILL_RAND, FIX_NONE, "application/x-cpio", ARC, 0, 1,
     1},
    {"cpio binary be", B("\x71\xc7"), 0, 100, FILL_RAND, FIX_NONE, "application/x-cpio", ARC, 0, 1,
     1},
    {"xar", B("xar!\0\x1c\0\1"), 0, 100, FILL_RAND, FIX_NONE, "application/x-xar", ARC, 0, 1, 1},
    {"ustar", B("a.txt"), 0, 1024, FILL_ZERO, FIX_USTAR, "application/x-tar", ARC, 0, 1, 1},
    {"v7 tar, checksum only", B("b.txt"), 0, 1024, FILL_ZERO, FIX_V7TAR, "application/x-tar", ARC,
     0, 1, 1},
    {"ustar, bad checksum: not tar", B("ustar\0"), 257, 1024, FILL_RAND, FIX_NONE,
     "application/octet-stream", NONE, 0, 1, 1},
    {"iso9660", B("\1CD001\1"), 32768, 40000, FILL_ZERO, FIX_NONE, "application/x-iso9660-image",
     ARC, 0, 1, 1},
    /* Executables and documents. */
    {"PE", B("MZ"), 0, 1024, FILL_RAND, FIX_PE, "application/vnd.microsoft.portable-executable",
     NONE, T(1), 1, 1},
    {"ELF executable", B("\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\2\0\x3e\0"), 0, 300, FILL_RAND, FIX_NONE,
     "application/x-executable", NONE, T(6), 1, 1},
    {"ELF shared object", B("\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\3\0\x3e\0"), 0, 300, FILL_RAND,
     FIX_NONE, "application/x-sharedlib", NONE, T(6), 1, 1},
    {"ELF relocatable, big-endian", B("\177ELF\1\2\1\0\0\0\0\0\0\0\0\0\0\1\0\x14"), 0, 300,
     FILL_RAND, FIX_NONE, "application/x-object", NONE, T(6), 1, 1},
    {"ELF core", B("\177ELF\2\1\1\0\0\0\0\0\0\0\0\0\4\0\x3e\0"), 0, 300, FILL_RAND, FIX_NONE,
     "application/x-coredump", NONE, T(6), 1, 1},
    {"Mach-O 32", B("\xfe\xed\xfa\xce"), 0, 100, FILL_RAND, FIX_NONE, "application/x-mach-binary",
     NONE, T(9), 1, 1},
    {"Mach-O 64", B("\xfe\xed\xfa\xcf"), 0, 100, FILL_RAND, FIX_NONE, "application/x-mach-binary",
     NONE, T(9), 1, 1},
    {"Mach-O 32 le", B("\xce\xfa\xed\xfe"), 0, 100, FILL_RAND, FIX_NONE,
     "application/x-mach-binary", NONE, T(9), 1, 1},
    {"Mach-O 64 le", B("\xcf\xfa\xed\xfe"), 0, 100, FILL_RAND, FIX_NONE,
     "application/x-mach-binary", NONE, T(9), 1, 1},
    {"Mach-O universal", B("\xca\xfe\xba\xbe\0\0\0\2"), 0, 100, FILL_RAND, FIX_NONE,
     "application/x-mach-binary", NONE, T(9), 1, 1},
    {"Java class", B("\xca\xfe\xba\xbe\0\0\0\x34"), 0, 100, FILL_RAND, FIX_NONE,
     "application/x-java-applet", NONE, T(12), 1, 1},
    {"PDF", B("%PDF-1.4\n"), 0, 100, FILL_RAND, FIX_NONE, "application/pdf", EXT, T(10), 1, 1},
    {"OLE2 (libmagic)", B("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), 0, 1024, FILL_RAND, FIX_NONE,
     "application/octet-stream", CONT_EXTRACT, 0, 1, 1},
    /* Formats of extract.h: opened by their magic whatever libmagic says. */
    {"TNEF", B("\x78\x9f\x3e\x22"), 0, 100, FILL_RAND, FIX_NONE, NULL, CONT_EXTRACT, 0, 1, 0},
    {"CHM", B("ITSF\3\0\0\0"), 0, 100, FILL_RAND, FIX_NONE, NULL, CONT_EXTRACT, 0, 1, 0},
    {"SZDD", B("SZDD\x88\xf0\x27\x33"), 0, 100, FILL_RAND, FIX_NONE, NULL, CONT_EXTRACT, 0, 1, 0},
    {"KWAJ", B("KWAJ\x88\xf0\x27\xd1"), 0, 100, FILL_RAND, FIX_NONE, NULL, CONT_EXTRACT, 0, 1, 0},
    /* Images and media. */
    {"GIF87a", B("GIF87a\1\0\1\0"), 0, 100, FILL_RAND, FIX_NONE, "image/gif", NONE, T(5), 1, 1},
    {"PNG", B("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"), 0, 100, FILL_RAND, FIX_NONE, "image/png", NONE,
     T(5), 1, 1},
    {"JPEG", B("\xff\xd8\xff\xe0\0\x10JFIF\0"), 0, 100, FILL_RAND, FIX_NONE, "image/jpeg", NONE,
     T(5), 1, 1},
    {"BMP", B("BM\xe8\3\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0"), 0, 100, FILL_RAND, FIX_NONE, "image/bmp",
     NONE, T(5), 1, 1},
    {"WebP", B("RIFF\x64\0\0\0WEBPVP8 "), 0, 100, FILL_RAND, FIX_NONE, "image/webp", NONE, T(5), 1,
     1},
    {"TIFF", B("II*\0\x08\0\0\0"), 0, 100, FILL_RAND, FIX_NONE, "image/tiff", NONE, T(5), 1, 1},
    {"TIFF be", B("MM\0*\0\0\0\x08"), 0, 100, FILL_RAND, FIX_NONE, "image/tiff", NONE, T(5), 1, 1},
    {"WAV", B("RIFF\x64\0\0\0WAVEfmt "), 0, 100, FILL_RAND, FIX_NONE, "audio/x-wav", NONE, 0, 1, 1},
    {"AVI",
     B("RIFF\x64\0\0\0"
       "AVI LIST"),
     0, 100, FILL_RAND, FIX_NONE, "video/x-msvideo", NONE, 0, 1, 1},
    /* Text: libmagic's rules, without libmagic. */
    {"mail: From:", B("From: a@b\n\nhi\n"), 0, 0, FILL_TEXT, FIX_NONE, "message/rfc822", CONT_MAIL,
     T(4), 0, 1},
    {"mail: Received:", B("Received: from x\n"), 0, 0, FILL_TEXT, FIX_NONE, "message/rfc822",
     CONT_MAIL, T(4), 0, 1},
    {"mail: Date:", B("Date: today\n"), 0, 0, FILL_TEXT, FIX_NONE, "message/rfc822", CONT_MAIL,
     T(4), 0, 1},
    {"mail: RETURN-PATH: any case", B("RETURN-PATH: <a@b>\n"), 0, 0, FILL_TEXT, FIX_NONE,
     "message/rfc822", CONT_MAIL, T(4), 0, 1},
    {"mail: delivered-to: any case", B("delivered-to: a@b\n"), 0, 0, FILL_TEXT, FIX_NONE,
     "message/rfc822", CONT_MAIL, T(4), 0, 1},
    {"mail: from: is text", B("from: a@b\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain", NONE, T(7),
     0, 1},
    {"mail: Subject: is text", B("Subject: hi\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain", NONE,
     T(7), 0, 1},
    {"news: Path:", B("Path: a!b\n"), 0, 0, FILL_TEXT, FIX_NONE, "message/news", CONT_MAIL, T(4), 0,
     1},
    {"news: Article", B("Article 12 of comp.x\n"), 0, 0, FILL_TEXT, FIX_NONE, "message/news",
     CONT_MAIL, T(4), 0, 1},
    {"HTML: <html>", B("hi <html>\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/html", EXT, T(3) | T(7), 0,
     1},
    {"HTML: <TITLE ", B("hi <TITLE x>\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/html", EXT, T(3) | T(7),
     0, 1},
    {"HTML: <ahref=", B("hi <ahref=x>\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/html", EXT, T(3) | T(7),
     0, 1},
    {"HTML: <!doctype\\nhtml", B("<!doctype\nhtml>\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/html", EXT,
     T(3) | T(7), 0, 1},
    {"HTML: <!doctypehtml is not", B("<!doctypehtml>\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain",
     NONE, T(7), 0, 1},
    {"HTML: <body> is not", B("hi <body>\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain", NONE, T(7),
     0, 1},
    {"HTML: tag at 4095", B("<html>\n"), 4095, 4110, FILL_TEXT, FIX_NONE, "text/html", EXT,
     T(3) | T(7), 0, 1},
    {"HTML: tag at 4096 is not", B("<html>\n"), 4096, 4110, FILL_TEXT, FIX_NONE, "text/plain", NONE,
     T(7), 0, 1},
    {"HTML: mail first", B("Date: x\n<html>\n"), 0, 0, FILL_TEXT, FIX_NONE, "message/rfc822",
     CONT_MAIL, T(4), 0, 1},
    {"HTML: script first", B("#!/bin/sh\necho '<html>'\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain",
     NONE, T(7), 0, 0},
    {"PDF at 256 in text", B("%PDF-1.4\n"), 256, 300, FILL_TEXT, FIX_NONE, "application/pdf", EXT,
     T(10), 0, 1},
    /* Not PDF to libmagic, but PDF readers (and our walker) look 1024 bytes in. */
    {"PDF at 257 in text is not", B("%PDF-1.4\n"), 257, 300, FILL_TEXT, FIX_NONE, "text/plain", EXT,
     T(7), 0, 1},
    {"PDF at 1024 in text is not", B("%PDF-1.4\n"), 1024, 1100, FILL_TEXT, FIX_NONE, "text/plain",
     NONE, T(7), 0, 1},
    {"XML", B("<?xml version=\"1.0\"?>\n<html>\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/xml", NONE,
     T(7), 0, 1},
    {"RTF", B("{\\rtf1 hello}\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/rtf", EXT, T(7), 0, 1},
    {"PostScript", B("%!PS-Adobe-3.0\n"), 0, 0, FILL_TEXT, FIX_NONE, "application/postscript", NONE,
     0, 0, 1},
    {"BinHex", B("(This file must be converted with BinHex 4.0)\n"), 0, 0, FILL_TEXT, FIX_NONE,
     "application/mac-binhex40", NONE, 0, 0, 1},
    {"Latin-1 and C1 bytes", B("h\xe9llo \x85 w\x9frld\n"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain",
     NONE, T(7), 0, 1},
    {"UTF-16 with BOM", B("\xff\xfeh\0i\0\n\0"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain", NONE,
     T(7), 0, 1},
    {"trailing NULs: text, no rules", B("From: x\n\0\0"), 0, 0, FILL_TEXT, FIX_NONE, "text/plain",
     NONE, T(7), 0, 1},
    {"a NUL inside: binary", B("hel\0lo\n"), 0, 0, FILL_TEXT, FIX_NONE, "application/octet-stream",
     NONE, 0, 0, 1},
    {"DEL: binary", B("hello\x7fworld\n"), 0, 0, FILL_TEXT, FIX_NONE, "application/octet-stream",
     NONE, 0, 0, 1},
    {"one byte", B("\n"), 0, 0, FILL_TEXT, FIX_NONE, "application/octet-stream", NONE, 0, 0, 1},
    {"random binary", B(""), 0, 4096, FILL_RAND, FIX_NONE, "application/octet-stream", NONE, 0, 0,
     1},
};

/* Deterministic filler. */
static unsigned char
fill_byte(enum fill f, size_t i)
{
	static const char text[] = "lorem ipsum dolor sit amet\n";
	uint32_t x = (uint32_t)i * 2654435761u;

	if (f == FILL_ZERO)
		return 0;
	if (f == FILL_TEXT)
		return (unsigned char)text[i % (sizeof(text) - 1)];
	x ^= x >> 15;
	return (unsigned char)(x * 2246822519u >> 24);
}

/* A tar header checksum, written as tar does ("%06o\0 "). */
static void
tar_fix(unsigned char *b, int ustar)
{
	unsigned sum = 0;

	memcpy(b + 100, "0000644\0000000000\0000000000\0", 24);
	memcpy(b + 124, "00000000005\00014000000000\0", 24);
	b[156] = '0';
	if (ustar)
		memcpy(b + 257, "ustar\00000", 8);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += b[i];
	snprintf((char *)b + 148, 8, "%06o", sum);
	b[155] = ' ';
}

/* Builds row r into buf (64 KiB); returns its length. */
static size_t
magic_build(const struct magic_row *r, unsigned char *buf)
{
	size_t size = r->size ? r->size : r->at + r->len;

	for (size_t i = 0; i < size; i++)
		buf[i] = fill_byte(r->fill, i);
	memcpy(buf + r->at, r->bytes, r->len);
	if (r->fix == FIX_USTAR || r->fix == FIX_V7TAR)
		tar_fix(buf, r->fix == FIX_USTAR);
	if (r->fix == FIX_PE) { /* e_lfanew 0x80 -> "PE\0\0" */
		memcpy(buf + 0x3c, "\x80\0\0\0", 4);
		memcpy(buf + 0x80, "PE\0\0", 4);
	}
	return size;
}

static void
test_magic_rows(void **state)
{
	unsigned char *buf = malloc(65536);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(magic_rows) / sizeof(magic_rows[0]); i++) {
		const struct magic_row *r = &magic_rows[i];
		size_t len = magic_build(r, buf);
		/* Exactly len bytes, so that a sanitizer sees any read past them. */
		unsigned char *obj = malloc(len ? len : 1);
		struct file_type f, m;

		assert_non_null(obj);
		memcpy(obj, buf, len);
		filetype_detect(ft, obj, len, "x", &f);
		filetype_detect_magic(ft, obj, len, "x", &m);
		free(obj);
		if ((r->mime && strcmp(f.mime, r->mime) != 0) || f.container != r->container ||
		    f.target_mask != r->target || f.exact != r->exact)
			fail_msg("%s: got %s container %d target %#x exact %d", r->what, f.mime,
			         f.container, f.target_mask, f.exact);
		if (m.container != f.container || (r->agree && strcmp(m.mime, f.mime) != 0))
			fail_msg("%s: libmagic says %s container %d", r->what, m.mime, m.container);
	}
	free(buf);
}

/*
 * Every ClamAV test file: the fast path and libmagic agree on the
 * container; where the fast path is exact, on the type and targets too.
 */
static void
test_testfiles_agree(void **state)
{
	const char *dir = getenv("PC_TESTFILES");
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	(void)state;
	d = opendir(dir ? dir : "/usr/share/clamav-testfiles");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		struct file_type f, m;
		unsigned char *buf;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		buf = load(de->d_name, &len);
		filetype_detect(ft, buf, len, de->d_name, &f);
		filetype_detect_magic(ft, buf, len, de->d_name, &m);
		if (f.container != m.container ||
		    (f.exact && (strcmp(f.mime, m.mime) != 0 || f.target_mask != m.target_mask)))
			fail_msg("%s: fast %s container %d target %#x, libmagic %s container %d "
			         "target %#x",
			         de->d_name, f.mime, f.container, f.target_mask, m.mime,
			         m.container, m.target_mask);
		n++;
		free(buf);
	}
	closedir(d);
	assert_true(n >= 40);
}

/* When a guess is worth asking libmagic about, for the safe lists. */
static void
test_may_be_safe(void **state)
{
	static const char mp3[] = "ID3\3\0\0\0\0\0\0\xff\xfb\x90\x64";
	unsigned char buf[256];
	struct type_lists tl;
	struct file_type t;

	(void)state;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, mp3, sizeof(mp3) - 1);
	memset(&tl, 0, sizeof(tl));
	words_split("audio/mpeg image/gif", &tl.safe_mime, &tl.nsafe_mime);
	words_split("mp3 gif", &tl.safe_ext, &tl.nsafe_ext);
	/* The table does not name MP3: a guess, safe only after libmagic. */
	filetype_detect(ft, buf, sizeof(buf), "a.mp3", &t);
	assert_string_equal(t.mime, "application/octet-stream");
	assert_int_equal(t.exact, 0);
	assert_int_equal(filetype_is_safe(&tl, &t, "a.mp3"), 0);
	assert_int_equal(filetype_may_be_safe(&tl, &t, "a.mp3"), 1);
	assert_int_equal(filetype_may_be_safe(&tl, &t, "a.exe"), 0);
	assert_int_equal(filetype_may_be_safe(NULL, &t, "a.mp3"), 0);
	filetype_detect_magic(ft, buf, sizeof(buf), "a.mp3", &t);
	assert_string_equal(t.mime, "audio/mpeg");
	assert_int_equal(filetype_is_safe(&tl, &t, "a.mp3"), 1);
	/* An exact type needs no second opinion. */
	filetype_detect(ft, GIF, sizeof(GIF) - 1, "a.gif", &t);
	assert_int_equal(t.exact, 1);
	assert_int_equal(filetype_may_be_safe(&tl, &t, "a.gif"), 0);
	assert_int_equal(filetype_is_safe(&tl, &t, "a.gif"), 1);
	/* Text named .gif: asked, and libmagic says text. */
	filetype_detect(ft, EICAR, sizeof(EICAR) - 1, "x.gif", &t);
	assert_int_equal(filetype_may_be_safe(&tl, &t, "x.gif"), 1);
	filetype_detect_magic(ft, EICAR, sizeof(EICAR) - 1, "x.gif", &t);
	assert_int_equal(filetype_is_safe(&tl, &t, "x.gif"), 0);
	type_lists_free(&tl);
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
	words_split(mimes, &tl.safe_mime, &tl.nsafe_mime);
	words_split(exts, &tl.safe_ext, &tl.nsafe_ext);
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
		words_split("image/*", &tl.safe_mime, &tl.nsafe_mime);
		words_split("gif", &tl.safe_ext, &tl.nsafe_ext);
		assert_int_equal(filetype_is_safe(&tl, &t, "a.gif"), 1);
		type_lists_free(&tl);
		assert_int_equal(tl.nsafe_mime, 0);
		assert_null(tl.safe_mime);
		type_lists_free(NULL);
	}
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
	    cmocka_unit_test(test_magic_rows),
	    cmocka_unit_test(test_testfiles_agree),
	    cmocka_unit_test(test_may_be_safe),
	    cmocka_unit_test(test_compressed_stream),
	    cmocka_unit_test(test_safe),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

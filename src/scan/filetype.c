/*
 * filetype: names the content (a MIME type) and derives the container kind
 * and the ClamAV target types from it. A table of magic numbers names the
 * types we act on, and a text check (libmagic's own byte classes) with
 * libmagic's rules for mail, news, PDF and HTML names text; libmagic itself
 * runs only where the table says the magic alone cannot tell (OLE2, CAB,
 * DOS executables, ...), which costs it hundreds of microseconds a file
 * the table does not. Our own checks say whether text is an RFC 5322
 * message or holds uuencoded blocks, and which MIME types libarchive may be
 * let loose on. Owns the libmagic handle of one thread; knows nothing of
 * walking or signatures.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <magic.h>

#include "scan/arj.h"
#include "scan/filetype.h"
#include "scan/sig.h"
#include "scan/uudecode.h"
#include "util/log.h"
#include "util/words.h"
#include "util/xalloc.h"

struct filetype {
	magic_t magic;
};

/*
 * MIME types libarchive is opened on. Only these: libarchive's raw format
 * bids on any data, so the gate is here. "raw" marks single compressed
 * streams (no archive inside needed).
 */
static const struct {
	const char *mime;
	int prefix; /* match "mime*" */
} archive_types[] = {
    {"application/zip", 0},
    {"application/x-zip-compressed", 0},
    {"application/java-archive", 0},
    {"application/vnd.android.package-archive", 0},
    {"application/epub+zip", 0},
    {"application/vnd.openxmlformats-officedocument.", 1},
    {"application/vnd.ms-word.", 1},
    {"application/vnd.ms-excel.", 1},
    {"application/vnd.ms-powerpoint.", 1},
    {"application/vnd.oasis.opendocument.", 1},
    {"application/x-7z-compressed", 0},
    {"application/x-tar", 0},
    {"application/x-gtar", 0},
    {"application/x-ustar", 0},
    {"application/vnd.ms-cab-compressed", 0},
    {"application/x-rar", 0},
    {"application/x-rar-compressed", 0},
    {"application/vnd.rar", 0},
    {"application/x-cpio", 0},
    {"application/x-iso9660-image", 0},
    {"application/x-archive", 0},
    {"application/vnd.debian.binary-package", 0},
    {"application/x-lha", 0},
    {"application/x-lzh-compressed", 0},
    {"application/x-xar", 0},
};

/* Single compressed streams: libarchive's raw format is allowed for these. */
static const char *const stream_types[] = {
    "application/gzip",   "application/x-gzip", "application/x-bzip2", "application/x-xz",
    "application/x-lzma", "application/zstd",   "application/x-zstd",  "application/x-compress",
    "application/x-lzip", "application/x-lz4",
};

/*
 * Formats an extractor of extract.h opens: by libmagic's MIME type, by
 * magic bytes (OLE2, whatever libmagic calls the document), and by name
 * when nothing else named the content (a winmail.dat libmagic cannot
 * type is damaged TNEF, to be reported, not passed as data).
 */
static const struct {
	const char *mime;
	enum extract_format f;
} extract_types[] = {
    {"application/vnd.ms-tnef", EXF_TNEF},        {"application/ms-tnef", EXF_TNEF},
    {"application/vnd.ms-htmlhelp", EXF_CHM},     {"application/x-ms-compress-szdd", EXF_SZDD},
    {"application/x-ms-compress-kwaj", EXF_KWAJ}, {"application/vnd.symbian.install", EXF_SIS},
    {"application/x-ole-storage", EXF_OLE2},
};

static const struct {
	const char *magic;
	size_t len;
	enum extract_format f;
} extract_magic[] = {
    {"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8, EXF_OLE2},
    {"\x78\x9f\x3e\x22", 4, EXF_TNEF},
    {"ITSF", 4, EXF_CHM},
    {"SZDD\x88\xf0\x27\x33", 8, EXF_SZDD},
    {"KWAJ\x88\xf0\x27\xd1", 8, EXF_KWAJ},
};

static const struct {
	const char *name; /* a whole name, or ".ext" */
	enum extract_format f;
} extract_names[] = {
    {"winmail.dat", EXF_TNEF},
    {".tnef", EXF_TNEF},
    {".chm", EXF_CHM},
    {".sis", EXF_SIS},
};

static const struct {
	const char *mime;
	int prefix;
	unsigned target;
} target_types[] = {
    {"application/vnd.microsoft.portable-executable", 0, 1},
    {"application/x-dosexec", 0, 1},
    {"application/x-msdownload", 0, 1},
    {"application/x-ms-dos-executable", 0, 1},
    {"application/x-ole-storage", 0, 2},
    {"application/msword", 0, 2},
    {"application/vnd.ms-excel", 0, 2},
    {"application/vnd.ms-powerpoint", 0, 2},
    {"application/vnd.ms-outlook", 0, 2},
    {"application/vnd.ms-office", 0, 2},
    {"application/vnd.ms-msi", 0, 2},
    {"application/x-msi", 0, 2},
    {"application/CDFV2", 1, 2},
    {"text/html", 0, 3},
    {"application/xhtml+xml", 0, 3},
    {"message/", 1, 4},
    {"image/", 1, 5},
    {"application/x-executable", 0, 6},
    {"application/x-sharedlib", 0, 6},
    {"application/x-pie-executable", 0, 6},
    {"application/x-object", 0, 6},
    {"application/x-coredump", 0, 6},
    {"text/", 1, 7},
    {"application/x-mach-binary", 0, 9},
    {"application/x-mach-o", 1, 9},
    {"application/pdf", 0, 10},
    {"application/x-shockwave-flash", 0, 11},
    {"application/vnd.adobe.flash.movie", 0, 11},
    {"application/x-java-applet", 0, 12},
    {"application/x-java-vm", 0, 12},
};

/* Header fields that only mail has at its top; any of them makes text mail. */
static const char *const mail_fields[] = {
    "Received",     "Return-Path",  "Message-ID", "MIME-Version",
    "Content-Type", "From",         "Subject",    "Date",
    "To",           "Delivered-To", "X-Mailer",   "Reply-To",
    "Cc",           "Newsgroups",   "Path",       "Content-Transfer-Encoding",
};

#define MAIL_SNIFF_LINES 32
#define MAIL_SNIFF_JUNK 2 /* lines that are not fields before the first one */
#define HTML_SEARCH 4096  /* libmagic looks for HTML tags starting in these bytes */
#define PDF_SEARCH 257    /* and for "%PDF-" in text starting in these */
#define FAST_MIN_LEN 32   /* shorter objects matching a row are libmagic's */
#define DOC_SEARCH 1024   /* readers accept "%PDF-" / "{\rt" this far in */

/* What the fast table makes of the first bytes. */
enum fast {
	FAST_NONE = 0, /* no row: text, or binary of a type we need not name */
	FAST_TYPE,     /* a row named it */
	FAST_ASK,      /* a row's magic matched but only libmagic can tell */
};

/* A row's further check on b[0..n) once its magic matched; may set *mime. */
typedef enum fast (*fast_check)(const unsigned char *b, size_t n, const char **mime);

static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
be16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static uint32_t
le32(const unsigned char *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static uint32_t
be32(const unsigned char *p)
{
	return be16(p) << 16 | be16(p + 2);
}

/*
 * Zip local header. libmagic names it only if 50 bytes and the 2 bytes
 * after the first member's name are in the buffer (0xcafe there: a Java
 * archive). A first member that marks a zip-based format (EPUB and ODF's
 * "mimetype", OOXML, APK) leaves the name to libmagic.
 */
static enum fast
check_zip(const unsigned char *b, size_t n, const char **mime)
{
	static const char *const formats[] = {
	    "mimetype",
	    "[Content_Types].xml",
	    "_rels/.rels",
	    "AndroidManifest.xml",
	};
	size_t nlen;

	if (n < 50 || n < 30 + (nlen = le16(b + 26)) + 2)
		return FAST_ASK;
	if (le16(b + 30 + nlen) == 0xcafe) {
		*mime = "application/java-archive";
		return FAST_TYPE;
	}
	/* By the bytes where the name goes, whatever its length says, as libmagic. */
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (n >= 30 + strlen(formats[i]) &&
		    memcmp(b + 30, formats[i], strlen(formats[i])) == 0)
			return FAST_ASK;
	*mime = "application/zip";
	return FAST_TYPE;
}

/* MZ: a PE only with "PE\0\0" where e_lfanew points; DOS and NE/LE are libmagic's. */
static enum fast
check_mz(const unsigned char *b, size_t n, const char **mime)
{
	uint32_t pe;

	if (n < 0x40)
		return FAST_ASK;
	pe = le32(b + 0x3c);
	if ((size_t)pe + 4 <= n && memcmp(b + pe, "PE\0\0", 4) == 0)
		return FAST_TYPE;
	return FAST_ASK;
}

/* ELF: by e_type, given a known byte order. */
static enum fast
check_elf(const unsigned char *b, size_t n, const char **mime)
{
	static const char *const types[] = {
	    NULL,
	    "application/x-object",
	    "application/x-executable",
	    "application/x-sharedlib",
	    "application/x-coredump",
	};
	uint32_t t;

	if (n < 18 || (b[5] != 1 && b[5] != 2))
		return FAST_ASK;
	t = b[5] == 1 ? le16(b + 16) : be16(b + 16);
	if (t < 1 || t > 4)
		return FAST_ASK;
	*mime = types[t];
	return FAST_TYPE;
}

/* CAFEBABE: a Mach-O universal binary (1-19 architectures) or a Java class. */
static enum fast
check_cafe(const unsigned char *b, size_t n, const char **mime)
{
	uint32_t v;

	if (n < 8)
		return FAST_ASK;
	v = be32(b + 4);
	if (v >= 1 && v <= 19) {
		*mime = "application/x-mach-binary";
		return FAST_TYPE;
	}
	if (v >= 31) {
		*mime = "application/x-java-applet";
		return FAST_TYPE;
	}
	return FAST_NONE;
}

/* PNG: the IHDR chunk must follow; other layouts are libmagic's. */
static enum fast
check_png(const unsigned char *b, size_t n, const char **mime)
{
	return n >= 16 && memcmp(b + 8, "\0\0\0\rIHDR", 8) == 0 ? FAST_TYPE : FAST_ASK;
}

/* BMP: "BM" and a known DIB header size; anything else is not an image. */
static enum fast
check_bmp(const unsigned char *b, size_t n, const char **mime)
{
	static const uint32_t sizes[] = {12, 16, 40, 52, 56, 64, 108, 124};

	if (n < 18)
		return FAST_NONE;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (le32(b + 14) == sizes[i])
			return FAST_TYPE;
	return FAST_NONE;
}

/* RIFF: WebP, WAVE, AVI by the form type. */
static enum fast
check_riff(const unsigned char *b, size_t n, const char **mime)
{
	static const struct {
		const char *form, *mime;
	} forms[] = {
	    {"WEBP", "image/webp"},
	    {"WAVE", "audio/x-wav"},
	    {"AVI ", "video/x-msvideo"},
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		if (n >= 12 && memcmp(b + 8, forms[i].form, 4) == 0) {
			*mime = forms[i].mime;
			return FAST_TYPE;
		}
	return FAST_NONE;
}

/* LHA: "-lh?-" / "-lz?-" at 2; libmagic checks the header. */
static enum fast
check_lha(const unsigned char *b, size_t n, const char **mime)
{
	return n >= 7 && (b[4] == 'h' || b[4] == 'z') && b[6] == '-' ? FAST_ASK : FAST_NONE;
}

/* A tar header field in octal as libmagic's is_tar reads it, or -1. */
static long
tar_octal(const unsigned char *p, size_t digs)
{
	long v = 0;

	while (digs > 0 && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) {
		p++;
		digs--;
	}
	if (digs == 0)
		return -1;
	while (digs > 0 && *p >= '0' && *p <= '7') {
		v = (v << 3) | (*p++ - '0');
		digs--;
	}
	if (digs > 0 && *p && !(*p == ' ' || (*p >= '\t' && *p <= '\r')))
		return -1;
	return v;
}

/*
 * Tar (ustar, GNU or v7): the first header's checksum, as libmagic's
 * is_tar; mode, uid and gid fields in octal make a header libmagic's.
 */
static enum fast
check_tar(const unsigned char *b, size_t n, const char **mime)
{
	long sum = 0, rec;

	if (n < 512)
		return FAST_NONE;
	/* Most objects fail on the checksum field alone. */
	if ((rec = tar_octal(b + 148, 8)) >= 0) {
		for (size_t i = 0; i < 512; i++)
			sum += (i >= 148 && i < 156) ? ' ' : b[i];
		if (sum == rec)
			return FAST_TYPE;
	}
	/* libmagic also has rules for old tar headers whatever their checksum. */
	for (size_t f = 100; f < 124; f += 8)
		for (size_t i = f; i < f + 8; i++)
			if (!((b[i] >= '0' && b[i] <= '7') || b[i] == ' ' ||
			      (i == f + 7 && b[i] == 0)))
				return FAST_NONE;
	return FAST_ASK;
}

/* "ustar" at 257 with a bad checksum: libmagic's own tar rules decide. */
static enum fast
check_ustar(const unsigned char *b, size_t n, const char **mime)
{
	return check_tar(b, n, mime) == FAST_TYPE ? FAST_TYPE : FAST_ASK;
}

#define M(s) s, sizeof(s) - 1

/*
 * Types we need to tell apart, by magic number, with the MIME type
 * libmagic gives them (the differential test in test_filetype.c holds us
 * to that). mime NULL and no check: the magic is only a hint, libmagic
 * decides (types that are rare, or whose variants only libmagic knows:
 * OLE2 documents, CAB, LZMA, LHA, ARJ, Flash, DOS executables). The first
 * row whose magic matches and whose check does not say FAST_NONE wins.
 */
static const struct fast_row {
	size_t off;
	const char *magic;
	size_t len;
	const char *mime;
	fast_check check;
} fast_rows[] = {
    {0, M("PK\3\4"), NULL, check_zip},
    {0, M("PK\5\6"), "application/zip", NULL},
    {0, M("PK\7\x08"), NULL, NULL}, /* spanned zip */
    {0, M("\x1f\x8b"), "application/gzip", NULL},
    {0, M("BZh"), "application/x-bzip2", NULL},
    {0, M("\3757zXZ\0"), "application/x-xz", NULL},
    {0, M("\x28\xb5\x2f\xfd"), "application/zstd", NULL},
    {0, M("\x1f\x9d"), "application/x-compress", NULL},
    {0, M("LZIP"), "application/x-lzip", NULL},
    {0, M("\x04\x22\x4d\x18"), "application/x-lz4", NULL},
    {0, M("\x5d\0\0"), NULL, NULL}, /* LZMA */
    {0, M("7z\xbc\xaf\x27\x1c"), "application/x-7z-compressed", NULL},
    {0, M("Rar!\x1a\x07\0"), "application/x-rar", NULL},
    {0, M("Rar!\x1a\x07\1\0"), "application/x-rar", NULL},
    {0, M("MSCF\0\0\0\0"), NULL, NULL},
    {0, M("!<arch>\ndebian-binary"), "application/vnd.debian.binary-package", NULL},
    {0, M("!<arch>\n"), "application/x-archive", NULL},
    {0, M("070707"), "application/x-cpio", NULL},
    {0, M("070701"), "application/x-cpio", NULL},
    {0, M("070702"), "application/x-cpio", NULL},
    {0, M("\xc7\x71"), "application/x-cpio", NULL},
    {0, M("\x71\xc7"), "application/x-cpio", NULL},
    {0, M("xar!"), "application/x-xar", NULL},
    {2, M("-l"), NULL, check_lha},
    {0, M("\x60\xea"), NULL, NULL}, /* ARJ */
    {257, M("ustar"), "application/x-tar", check_ustar},
    {32769, M("CD001"), "application/x-iso9660-image", NULL},
    {0, M("MZ"), "application/vnd.microsoft.portable-executable", check_mz},
    {0, M("\177ELF"), NULL, check_elf},
    {0, M("\xfe\xed\xfa\xce"), "application/x-mach-binary", NULL},
    {0, M("\xfe\xed\xfa\xcf"), "application/x-mach-binary", NULL},
    {0, M("\xce\xfa\xed\xfe"), "application/x-mach-binary", NULL},
    {0, M("\xcf\xfa\xed\xfe"), "application/x-mach-binary", NULL},
    {0, M("\xca\xfe\xba\xbe"), NULL, check_cafe},
    {0, M("%PDF-"), "application/pdf", NULL},
    {0, M("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), NULL, NULL}, /* OLE2 */
    {0, M("\x78\x9f\x3e\x22"), NULL, NULL},                 /* TNEF */
    {0, M("ITSF"), NULL, NULL},                             /* CHM */
    {0, M("SZDD\x88\xf0\x27\x33"), NULL, NULL},             /* SZDD */
    {0, M("KWAJ\x88\xf0\x27\xd1"), NULL, NULL},             /* KWAJ */
    {8, M("\x19\x04\x00\x10"), NULL, NULL},                 /* SIS (UID3) */
    {0, M("FWS"), NULL, NULL},
    {0, M("CWS"), NULL, NULL},
    {0, M("ZWS"), NULL, NULL},
    {0, M("GIF8"), "image/gif", NULL},
    {0, M("\x89PNG\r\n\x1a\n"), "image/png", check_png},
    {0, M("\xff\xd8\xff"), "image/jpeg", NULL},
    {0, M("BM"), "image/bmp", check_bmp},
    {0, M("RIFF"), NULL, check_riff},
    {0, M("II*\0"), "image/tiff", NULL},
    {0, M("MM\0*"), "image/tiff", NULL},
    {0, "", 0, "application/x-tar", check_tar}, /* any name: by checksum */
};

#undef M

/* Runs the table over b[0..n). */
static enum fast
fast_lookup(const unsigned char *b, size_t n, const char **mime)
{
	for (size_t i = 0; i < sizeof(fast_rows) / sizeof(fast_rows[0]); i++) {
		const struct fast_row *r = &fast_rows[i];
		enum fast f;

		if (n < r->off + r->len || memcmp(b + r->off, r->magic, r->len) != 0)
			continue;
		*mime = r->mime;
		f = r->check ? r->check(b, n, mime) : r->mime ? FAST_TYPE : FAST_ASK;
		/* libmagic wants more than the magic of some types: ask on tiny objects. */
		if (f != FAST_NONE)
			return n < FAST_MIN_LEN ? FAST_ASK : f;
	}
	return FAST_NONE;
}

/*
 * libmagic's text_chars: 1 for the bytes plain, ISO-8859 and extended
 * ASCII text never hold (NUL..ACK, SO..SUB, FS..US, DEL). UTF-8 is within
 * what is left, so text is exactly "none of these".
 */
static const unsigned char not_text[256] = {
    1,          1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, /* 0x00 */
    1,          1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, /* 0x10 */
    [0x7f] = 1,
};

/* UTF-16 or UTF-32 with a byte order mark, all code units below 128 text. */
static int
is_ucs_text(const unsigned char *b, size_t n)
{
	int be, w;

	if (n >= 4 && ((b[0] == 0xff && b[1] == 0xfe && b[2] == 0 && b[3] == 0) ||
	               (b[0] == 0 && b[1] == 0 && b[2] == 0xfe && b[3] == 0xff))) {
		w = 4;
		be = b[0] == 0;
	} else if (n >= 2 && ((b[0] == 0xff && b[1] == 0xfe) || (b[0] == 0xfe && b[1] == 0xff))) {
		w = 2;
		be = b[0] == 0xfe;
	} else {
		return 0;
	}
	for (size_t i = (size_t)w; i + (size_t)w <= n; i += (size_t)w) {
		uint32_t c =
		    w == 2 ? (be ? be16(b + i) : le16(b + i)) : (be ? be32(b + i) : le32(b + i));

		if ((c < 128 && not_text[c]) || c > 0x10ffff)
			return 0;
	}
	return 1;
}

/* True if b[0..n) is text as libmagic sees it. */
static int
is_text(const unsigned char *b, size_t n)
{
	size_t i = 0;

	/* Eight at a time: text files are read to the end. */
	for (; i + 8 <= n; i += 8)
		if (not_text[b[i]] | not_text[b[i + 1]] | not_text[b[i + 2]] | not_text[b[i + 3]] |
		    not_text[b[i + 4]] | not_text[b[i + 5]] | not_text[b[i + 6]] |
		    not_text[b[i + 7]])
			return is_ucs_text(b, n);
	for (; i < n; i++)
		if (not_text[b[i]])
			return is_ucs_text(b, n);
	return 1;
}

/* Case-insensitive: does b[0..n) start with s? */
static int
starts_ci(const unsigned char *b, size_t n, const char *s)
{
	size_t sl = strlen(s);

	return n >= sl && strncasecmp((const char *)b, s, sl) == 0;
}

static int
starts(const unsigned char *b, size_t n, const char *s)
{
	size_t sl = strlen(s);

	return n >= sl && memcmp(b, s, sl) == 0;
}

static int
is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * libmagic's HTML rule: in the first HTML_SEARCH bytes, case-insensitive,
 * "<!doctype" space "html", one of html head title script style table
 * then '>' or space, or "<a" [space] "href=" (space: one or more).
 */
static int
looks_like_html(const unsigned char *b, size_t n)
{
	static const char *const tags[] = {"html", "head", "title", "script", "style", "table"};
	size_t lim = n < HTML_SEARCH ? n : HTML_SEARCH;
	const unsigned char *p = b;

	while ((p = memchr(p, '<', lim - (size_t)(p - b))) != NULL) {
		size_t left = n - (size_t)(p - b) - 1;
		const unsigned char *q = p + 1;

		p++;
		if (starts_ci(q, left, "!doctype")) {
			size_t k = 8;

			while (k < left && is_space(q[k]))
				k++;
			if (k > 8 && starts_ci(q + k, left - k, "html"))
				return 1;
			continue;
		}
		for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
			size_t tl = strlen(tags[i]);

			if (left > tl && strncasecmp((const char *)q, tags[i], tl) == 0 &&
			    (q[tl] == '>' || is_space(q[tl])))
				return 1;
		}
		if (left > 1 && (q[0] == 'a' || q[0] == 'A')) {
			size_t k = 1;

			while (k < left && is_space(q[k]))
				k++;
			if (starts_ci(q + k, left - k, "href="))
				return 1;
		}
		if ((size_t)(p - b) >= lim)
			break;
	}
	return 0;
}

/*
 * The MIME type libmagic gives text, for the types that matter to us:
 * mail and news by their first line (its rules, case as it has them), PDF
 * by "%PDF-" near the start, then XML, RTF, BinHex, PostScript and
 * scripts (which it ranks above HTML), HTML, else text/plain. Other text types it knows
 * (C, JSON, CSV, ...) are text/plain here: at most a text or HTML target
 * bit more than libmagic would give.
 */
static const char *
text_mime(const unsigned char *b, size_t n)
{
	static const char *const rfc822[] = {
	    "From:",    "Received:", "Date:",      "Relay-Version:",
	    "#! rnews", "N#! rnews", "Forward to", "Pipe to",
	};
	static const char *const news[] = {"Path:", "Xref:", "Article"};
	size_t lim = n < PDF_SEARCH + 4 ? n : PDF_SEARCH + 4;

	for (size_t i = 0; i < sizeof(rfc822) / sizeof(rfc822[0]); i++)
		if (starts(b, n, rfc822[i]))
			return "message/rfc822";
	if (starts_ci(b, n, "Return-Path:") || starts_ci(b, n, "Delivered-To:"))
		return "message/rfc822";
	for (size_t i = 0; i < sizeof(news) / sizeof(news[0]); i++)
		if (starts(b, n, news[i]))
			return "message/news";
	if (memmem(b, lim, "%PDF-", 5) != NULL)
		return "application/pdf";
	if (starts(b, n, "<?xml"))
		return "text/xml";
	if (starts(b, n, "{\\rtf"))
		return "text/rtf";
	if (starts(b, n, "(This file must be converted with BinHex"))
		return "application/mac-binhex40";
	if (starts(b, n, "%!PS-AdobeFont"))
		return "text/plain";
	if (starts(b, n, "%!"))
		return "application/postscript";
	if (starts(b, n, "#!"))
		return "text/plain";
	if (looks_like_html(b, n))
		return "text/html";
	return "text/plain";
}

struct filetype *
filetype_new(void)
{
	struct filetype *ft;
	magic_t m;

	m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
	if (m == NULL) {
		log_warn("filetype: magic_open");
		return NULL;
	}
	if (magic_load(m, NULL) != 0) {
		log_warnx("filetype: cannot load the libmagic database: %s", magic_error(m));
		magic_close(m);
		return NULL;
	}
	ft = xcalloc(1, sizeof(*ft));
	ft->magic = m;
	return ft;
}

void
filetype_free(struct filetype *ft)
{
	if (ft == NULL)
		return;
	magic_close(ft->magic);
	free(ft);
}

/* Case-insensitive MIME comparison; prefix compares only the start. */
static int
mime_match(const char *mime, const char *pat, int prefix)
{
	if (prefix)
		return strncasecmp(mime, pat, strlen(pat)) == 0;
	return strcasecmp(mime, pat) == 0;
}

/* The name's ending after the last dot of its last element, or NULL. */
static const char *
name_ext(const char *name)
{
	const char *base, *dot;

	if (name == NULL)
		return NULL;
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	if (dot == NULL || dot[1] == '\0')
		return NULL;
	return dot + 1;
}

/*
 * A header field line: a name of printable characters but ':', then ':'
 * (spaces or tabs before it allowed, RFC 5322 obs-optional).
 */
static int
is_field_line(const char *s, size_t n, size_t *namelen)
{
	size_t i, k;

	for (i = 0; i < n && s[i] != ':' && s[i] != ' ' && s[i] != '\t'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~')
			return 0;
	for (k = i; k < n && (s[k] == ' ' || s[k] == '\t'); k++)
		;
	if (i == 0 || k == n || s[k] != ':')
		return 0;
	*namelen = i;
	return 1;
}

/* True if s[0, n) holds only spaces, tabs and CRs. */
static int
blank_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/*
 * True if the text opens with an RFC 5322 header block (optionally after an
 * mbox "From " line): every line up to a blank line (or the first
 * MAIL_SNIFF_LINES) a field or a continuation, at least one field one that
 * mail has, and at least two fields or an mbox line. With by_name (the name
 * ends in .eml/.mbox) one known field is enough. As lenient as mailnorm.h:
 * a BOM, up to MAIL_SNIFF_JUNK junk lines before the first field, and a
 * body that starts without an empty line (or after a whitespace-only one)
 * once a field was seen, so that a field added on top never changes it.
 */
static int
looks_like_mail(const char *buf, size_t len, int by_name)
{
	const char *p = buf, *end = buf + len;
	int mbox = 0, known = 0, fields = 0, junk = 0;

	for (int line = 0; line < MAIL_SNIFF_LINES && p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p), namelen;

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;
			n -= 3;
		}
		if (n == 0)
			break;
		if (line == 0 && n > 5 && memcmp(p, "From ", 5) == 0) {
			mbox = 1;
		} else if (p[0] == ' ' || p[0] == '\t') {
			if (fields == 0)
				return 0;
			if (blank_line(p, n) &&
			    !(nl && nl + 1 < end &&
			      (nl[1] == ' ' || nl[1] == '\t' ||
			       is_field_line(nl + 1, (size_t)(end - nl - 1), &namelen))))
				break; /* a whitespace-only separator */
		} else if (is_field_line(p, n, &namelen)) {
			fields++;
			for (size_t i = 0; i < sizeof(mail_fields) / sizeof(mail_fields[0]); i++)
				if (strlen(mail_fields[i]) == namelen &&
				    strncasecmp(p, mail_fields[i], namelen) == 0)
					known = 1;
		} else if (fields > 0) {
			break; /* the body, without an empty line before it */
		} else if (++junk > MAIL_SNIFF_JUNK || p[0] == '-' || p[0] == '=' || p[0] == '(' ||
		           (n >= 6 && memcmp(p, "begin ", 6) == 0)) {
			return 0; /* never junk to mailnorm either: a body */
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return known && (fields >= 2 || mbox || by_name);
}

/* Sets CONT_EXTRACT and the format if the object is one of extract_types. */
static void
classify_extract(const char *mime, const void *buf, size_t len, const char *name,
                 struct file_type *out)
{
	const char *base = name ? strrchr(name, '/') : NULL, *ext = name_ext(name);
	enum extract_format f = EXF_NONE;

	base = base ? base + 1 : name;
	for (size_t i = 0; i < sizeof(extract_types) / sizeof(extract_types[0]); i++)
		if (mime_match(mime, extract_types[i].mime, 0))
			f = extract_types[i].f;
	for (size_t i = 0; f == EXF_NONE && i < sizeof(extract_magic) / sizeof(extract_magic[0]);
	     i++)
		if (len >= extract_magic[i].len &&
		    memcmp(buf, extract_magic[i].magic, extract_magic[i].len) == 0)
			f = extract_magic[i].f;
	if (f == EXF_NONE && base && mime_match(mime, "application/octet-stream", 0))
		for (size_t i = 0; i < sizeof(extract_names) / sizeof(extract_names[0]); i++) {
			const char *n = extract_names[i].name;

			if (n[0] == '.' ? ext && strcasecmp(ext, n + 1) == 0
			                : strcasecmp(base, n) == 0)
				f = extract_names[i].f;
		}
	if (f != EXF_NONE) {
		out->container = CONT_EXTRACT;
		out->extract = f;
	}
}

/*
 * The document format whose content the walker decodes (docfmt.h), by
 * content: "%PDF-" in the first DOC_SEARCH bytes (as readers accept it), an
 * RTF header "{\rt" (Word's test) at the start, HTML by its type; or by the
 * name's ending when the content leaves it open (.pdf; .rtf with "{\rt"
 * near the start; .htm/.html/.xhtml text).
 */
static enum extract_format
doc_format(const char *mime, const void *buf, size_t len, const char *ext, int text)
{
	size_t lim = len < DOC_SEARCH ? len : DOC_SEARCH;

	if (mime_match(mime, "application/pdf", 0) || memmem(buf, lim, "%PDF-", 5) != NULL ||
	    (ext && strcasecmp(ext, "pdf") == 0))
		return EXF_PDF;
	if (starts(buf, len, "{\\rt") ||
	    (ext && strcasecmp(ext, "rtf") == 0 && memmem(buf, lim, "{\\rt", 3) != NULL))
		return EXF_RTF;
	if (mime_match(mime, "text/html", 0) || mime_match(mime, "application/xhtml+xml", 0) ||
	    (text && ext &&
	     (strcasecmp(ext, "htm") == 0 || strcasecmp(ext, "html") == 0 ||
	      strcasecmp(ext, "xhtml") == 0)))
		return EXF_HTML;
	return EXF_NONE;
}

/*
 * ARJ, which libarchive cannot read (arj.h): a main header whose CRC is
 * right, libmagic's type, or the name .arj on an object starting with the
 * header id (a damaged archive is then ours to call corrupt).
 */
static int
is_arj(const char *mime, const unsigned char *b, size_t len, const char *ext)
{
	return arj_sniff(b, len) || mime_match(mime, "application/x-arj", 0) ||
	       (ext && strcasecmp(ext, "arj") == 0 && len >= 2 && b[0] == 0x60 && b[1] == 0xea);
}

/*
 * Fills out from a MIME type: container kind (with our own mail and
 * uuencode checks on text) and target bits.
 */
static void
classify(const char *mime, const void *buf, size_t len, const char *name, struct file_type *out)
{
	const char *ext = name_ext(name);
	int text, by_name;

	snprintf(out->mime, sizeof(out->mime), "%s", mime);
	for (size_t i = 0; i < sizeof(archive_types) / sizeof(archive_types[0]); i++)
		if (mime_match(out->mime, archive_types[i].mime, archive_types[i].prefix))
			out->container = CONT_ARCHIVE;
	for (size_t i = 0; i < sizeof(stream_types) / sizeof(stream_types[0]); i++)
		if (mime_match(out->mime, stream_types[i], 0))
			out->container = CONT_ARCHIVE;

	text = strncasecmp(out->mime, "text/", 5) == 0;
	by_name = ext && (strcasecmp(ext, "eml") == 0 || strcasecmp(ext, "mbox") == 0 ||
	                  strcasecmp(ext, "mbx") == 0);
	if (out->container == CONT_NONE) {
		if (mime_match(out->mime, "message/rfc822", 0) ||
		    mime_match(out->mime, "message/news", 0))
			out->container = CONT_MAIL;
		else if ((text || mime_match(out->mime, "application/octet-stream", 0)) &&
		         looks_like_mail(buf, len, by_name))
			out->container = CONT_MAIL;
		else if (mime_match(out->mime, "text/x-uuencode", 0) ||
		         (text && uu_has_begin(buf, len)))
			out->container = CONT_UU;
		else if ((out->extract = is_arj(out->mime, buf, len, ext) ? EXF_ARJ : EXF_NONE) !=
		         EXF_NONE)
			out->container = CONT_EXTRACT;
		else if ((out->extract = doc_format(out->mime, buf, len, ext, text)) != EXF_NONE)
			out->container = CONT_EXTRACT;
	}

	if (out->container == CONT_NONE)
		classify_extract(mime, buf, len, name, out);

	for (size_t i = 0; i < sizeof(target_types) / sizeof(target_types[0]); i++)
		if (mime_match(out->mime, target_types[i].mime, target_types[i].prefix))
			out->target_mask |= TARGET_BIT(target_types[i].target);
	if (out->container == CONT_MAIL)
		out->target_mask |= TARGET_BIT(4);
}

/* libmagic's MIME type for buf, or NULL. */
static const char *
magic_mime(struct filetype *ft, const void *buf, size_t len)
{
	const char *mime = NULL;

	if (len > 0 && ft != NULL)
		mime = magic_buffer(ft->magic, buf, len);
	return mime && *mime ? mime : NULL;
}

void
filetype_detect(struct filetype *ft, const void *buf, size_t len, const char *name,
                struct file_type *out)
{
	const unsigned char *b = buf;
	const char *mime = NULL;
	size_t tlen;

	memset(out, 0, sizeof(*out));
	out->exact = 1;
	if (len == 0) {
		mime = "application/x-empty";
	} else if (len == 1) {
		/* libmagic names no type from one byte. */
		out->exact = 0;
		mime = "application/octet-stream";
	} else {
		switch (fast_lookup(b, len, &mime)) {
		case FAST_TYPE:
			break;
		case FAST_ASK:
			if ((mime = magic_mime(ft, buf, len)) == NULL)
				mime = "application/octet-stream";
			break;
		case FAST_NONE:
			out->exact = 0;
			/* libmagic reads text without its trailing NULs, and no further. */
			for (tlen = len; tlen > 1 && b[tlen - 1] == 0; tlen--)
				;
			if (is_text(b, len))
				mime = text_mime(b, len);
			else if (tlen < len && is_text(b, tlen))
				mime = "text/plain";
			else
				mime = "application/octet-stream";
			break;
		}
	}
	classify(mime, buf, len, name, out);
}

void
filetype_detect_magic(struct filetype *ft, const void *buf, size_t len, const char *name,
                      struct file_type *out)
{
	const char *mime = magic_mime(ft, buf, len);

	memset(out, 0, sizeof(*out));
	out->exact = 1;
	if (mime == NULL)
		mime = len == 0 ? "application/x-empty" : "application/octet-stream";
	classify(mime, buf, len, name, out);
}

/* Case-insensitive membership; an entry "type/" + star matches the whole type. */
static int
list_has(char **list, size_t n, const char *s, int is_ext)
{
	for (size_t i = 0; i < n; i++) {
		const char *e = list[i];
		size_t el;

		if (is_ext && e[0] == '.')
			e++;
		el = strlen(e);
		if (!is_ext && el >= 2 && strcmp(e + el - 2, "/*") == 0) {
			if (strncasecmp(s, e, el - 1) == 0)
				return 1;
			continue;
		}
		if (strcasecmp(s, e) == 0)
			return 1;
	}
	return 0;
}

int
filetype_is_safe(const struct type_lists *tl, const struct file_type *t, const char *name)
{
	const char *ext = name_ext(name);

	if (tl == NULL || ext == NULL || t->container != CONT_NONE)
		return 0;
	return list_has(tl->safe_mime, tl->nsafe_mime, t->mime, 0) &&
	       list_has(tl->safe_ext, tl->nsafe_ext, ext, 1);
}

int
filetype_may_be_safe(const struct type_lists *tl, const struct file_type *t, const char *name)
{
	const char *ext = name_ext(name);

	return tl != NULL && !t->exact && ext != NULL &&
	       list_has(tl->safe_ext, tl->nsafe_ext, ext, 1);
}

int
filetype_is_compressed_stream(const struct file_type *t)
{
	for (size_t i = 0; i < sizeof(stream_types) / sizeof(stream_types[0]); i++)
		if (mime_match(t->mime, stream_types[i], 0))
			return 1;
	return 0;
}

void
type_lists_free(struct type_lists *tl)
{
	if (tl == NULL)
		return;
	words_free(tl->safe_mime, tl->nsafe_mime);
	words_free(tl->safe_ext, tl->nsafe_ext);
	memset(tl, 0, sizeof(*tl));
}

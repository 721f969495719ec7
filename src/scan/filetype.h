/*
 * filetype: tells what a file is, by content and by name, and whether it is
 * of a type that cannot carry a virus.
 *
 * Content: a table of magic numbers for every type we act on (archives and
 * compressed streams, executables, OLE2, PDF, Flash, Java, the common
 * images), then a text check with libmagic's byte classes and its rules
 * for mail, news, PDF and HTML in text; anything else is
 * application/octet-stream. The MIME types are libmagic's names. libmagic
 * runs only where a magic number is a hint it alone can settle (OLE2
 * documents, CAB, LZMA, LHA, ARJ, Flash, DOS executables). Text and
 * unknown binary are guesses (file_type.exact 0): libmagic knows many more
 * types (JSON, C, SVG, audio, ...), none of which changes how an object is
 * scanned, except that one may be on the safe list: filetype_may_be_safe()
 * says when to ask libmagic (filetype_detect_magic()) for that.
 *
 * A type may be skipped only when BOTH its content type and its name are on
 * the safe lists, so clam.exe renamed to .gif (content: PE) or EICAR saved
 * as .txt (content: text/plain, not a safe content type by default) are
 * still scanned. libmagic handles are not thread-safe: each thread uses its
 * own struct filetype.
 *
 * Containers: CONT_ARCHIVE only for the MIME types libarchive is meant for
 * (never "any data", as libarchive's raw format would accept); CONT_MAIL
 * for message/rfc822 and message/news, and for text (or octet-stream) that
 * opens with RFC 5322 header fields (optionally after an mbox "From " line):
 * all lines up to the first blank one fields or continuations, one of them
 * a field mail has (From, Received, Message-ID, ...), and two fields or an
 * mbox line or a .eml/.mbox name; CONT_UU for text/x-uuencode and for other
 * text holding a `begin NNN name` line in the bytes given.
 *
 * Target bits (sig.h TARGET_BIT): 1 PE, 2 OLE2, 3 HTML, 4 mail, 5 any
 * image type, 6 ELF, 7 any text type (so HTML, and mail libmagic calls
 * text/plain, are text too), 9 Mach-O, 10 PDF, 11 Flash, 12 Java class.
 */
#ifndef PC_FILETYPE_H
#define PC_FILETYPE_H

#include <stddef.h>

#include "scan/extract.h"

enum container_kind {
	CONT_NONE = 0,
	CONT_ARCHIVE, /* libarchive can list it: zip, 7z, tar, gzip, bzip2, xz, cab, rar, cpio, iso,
	                 ar */
	CONT_MAIL,    /* an RFC 5322 message or mbox: walked with GMime */
	CONT_UU,      /* text holding uuencoded blocks */
	CONT_EXTRACT, /* a format of extract.h: see file_type.extract */
};

struct file_type {
	char mime[96];        /* MIME type as libmagic names it, e.g. "application/zip" */
	unsigned target_mask; /* TARGET_BIT() of the ClamAV target types it is */
	enum container_kind container;
	int exact; /* mime from a magic number or libmagic; 0: text or unknown binary */
	enum extract_format extract; /* the extractor when container is CONT_EXTRACT */
};

struct type_lists {
	char **safe_mime; /* content types that cannot carry a virus, e.g. "image/png" */
	size_t nsafe_mime;
	char **safe_ext; /* name endings, e.g. "png" (no dot, case-insensitive) */
	size_t nsafe_ext;
};

struct filetype;

/* Opens libmagic; NULL with a log line if its database cannot be loaded. */
struct filetype *filetype_new(void);
void filetype_free(struct filetype *ft);
/*
 * Classifies an object from its first bytes (buf, len; at least 64 KiB when
 * the object is that large: ISO 9660 is told at 32 KiB, and libmagic names
 * an OLE2 document by its directory, which may lie further) and its name
 * (may be NULL). libmagic, when asked, gets all len bytes.
 */
void filetype_detect(struct filetype *ft, const void *buf, size_t len, const char *name,
                     struct file_type *out);
/* The same with libmagic alone naming the content (out->exact is 1). */
void filetype_detect_magic(struct filetype *ft, const void *buf, size_t len, const char *name,
                           struct file_type *out);
/*
 * True if libmagic might name t a safe type: t is a guess (not exact), tl
 * is given (skipping is on) and the name's ending is on the safe list.
 */
int filetype_may_be_safe(const struct type_lists *tl, const struct file_type *t, const char *name);
/*
 * True only if both the content type and the name ending are listed safe
 * (case-insensitive; a safe_mime entry "image/" followed by a star covers the whole type, a
 * leading dot on a safe_ext entry is ignored). Containers are never safe;
 * tl NULL or a name without an ending is never safe.
 */
int filetype_is_safe(const struct type_lists *tl, const struct file_type *t, const char *name);
/* True if t is a single compressed stream (gzip, bzip2, xz, lzma, zstd, ...). */
int filetype_is_compressed_stream(const struct file_type *t);
/* Frees both lists (filled in with util/words.h words_split()); tl may be NULL. */
void type_lists_free(struct type_lists *tl);

#endif

/*
 * filetype: tells what a file is, by content (libmagic) and by name, and
 * whether it is of a type that cannot carry a virus.
 *
 * A type may be skipped only when BOTH its content type and its name are on
 * the safe lists, so clam.exe renamed to .gif (content: PE) or EICAR saved
 * as .txt (content: text/plain, not a safe content type by default) are
 * still scanned. libmagic handles are not thread-safe: each thread uses its
 * own struct filetype.
 */
#ifndef PC_FILETYPE_H
#define PC_FILETYPE_H

#include <stddef.h>

enum container_kind {
	CONT_NONE = 0,
	CONT_ARCHIVE, /* libarchive can list it: zip, 7z, tar, gzip, bzip2, xz, cab, rar, cpio, iso, ar */
	CONT_MAIL,    /* an RFC 5322 message or mbox: walked with GMime */
	CONT_UU,      /* text holding uuencoded blocks */
};

struct file_type {
	char mime[96];		  /* libmagic's MIME type, e.g. "application/zip" */
	unsigned target_mask;	  /* TARGET_BIT() of the ClamAV target types it is */
	enum container_kind container;
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
 * Classifies an object from its first bytes (buf, len; at least 8 KiB when
 * the object is that large) and its name (may be NULL).
 */
void filetype_detect(struct filetype *ft, const void *buf, size_t len, const char *name,
		     struct file_type *out);
/* True only if both the content type and the name ending are listed safe. */
int filetype_is_safe(const struct type_lists *tl, const struct file_type *t, const char *name);
/* Parses a space/comma separated list into a freshly allocated array. */
void type_list_parse(const char *s, char ***out, size_t *n);
void type_lists_free(struct type_lists *tl);

#endif

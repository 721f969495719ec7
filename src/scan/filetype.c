/*
 * filetype: libmagic (MIME type of the content) plus a few checks of our
 * own: whether text is an RFC 5322 message or holds uuencoded blocks, which
 * MIME types libarchive may be let loose on, and which ClamAV target types
 * a MIME type is. Owns the libmagic handle of one thread; knows nothing of
 * walking or signatures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <magic.h>

#include "scan/engine.h"
#include "scan/filetype.h"
#include "scan/uudecode.h"
#include "util/log.h"
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

/* A header field line: a name of printable characters but ':', then ':'. */
static int
is_field_line(const char *s, size_t n, size_t *namelen)
{
	size_t i;

	for (i = 0; i < n && s[i] != ':'; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~')
			return 0;
	if (i == 0 || i == n)
		return 0;
	*namelen = i;
	return 1;
}

/*
 * True if the text opens with an RFC 5322 header block (optionally after an
 * mbox "From " line): every line up to a blank line (or the first
 * MAIL_SNIFF_LINES) a field or a continuation, at least one field one that
 * mail has, and at least two fields or an mbox line. With by_name (the name
 * ends in .eml/.mbox) one known field is enough.
 */
static int
looks_like_mail(const char *buf, size_t len, int by_name)
{
	const char *p = buf, *end = buf + len;
	int mbox = 0, known = 0, fields = 0;

	for (int line = 0; line < MAIL_SNIFF_LINES && p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p), namelen;

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (line == 0 && n > 5 && memcmp(p, "From ", 5) == 0) {
			mbox = 1;
		} else if (p[0] == ' ' || p[0] == '\t') {
			if (fields == 0)
				return 0;
		} else if (is_field_line(p, n, &namelen)) {
			fields++;
			for (size_t i = 0; i < sizeof(mail_fields) / sizeof(mail_fields[0]); i++)
				if (strlen(mail_fields[i]) == namelen &&
				    strncasecmp(p, mail_fields[i], namelen) == 0)
					known = 1;
		} else {
			return 0;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return known && (fields >= 2 || mbox || by_name);
}

void
filetype_detect(struct filetype *ft, const void *buf, size_t len, const char *name,
                struct file_type *out)
{
	const char *mime = NULL, *ext = name_ext(name);
	int text, by_name;

	memset(out, 0, sizeof(*out));
	if (len > 0 && ft != NULL)
		mime = magic_buffer(ft->magic, buf, len);
	if (mime == NULL || *mime == '\0')
		mime = len == 0 ? "application/x-empty" : "application/octet-stream";
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
	}

	for (size_t i = 0; i < sizeof(target_types) / sizeof(target_types[0]); i++)
		if (mime_match(out->mime, target_types[i].mime, target_types[i].prefix))
			out->target_mask |= TARGET_BIT(target_types[i].target);
	if (out->container == CONT_MAIL)
		out->target_mask |= TARGET_BIT(4);
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
filetype_is_compressed_stream(const struct file_type *t)
{
	for (size_t i = 0; i < sizeof(stream_types) / sizeof(stream_types[0]); i++)
		if (mime_match(t->mime, stream_types[i], 0))
			return 1;
	return 0;
}

void
type_list_parse(const char *s, char ***out, size_t *n)
{
	char **v = NULL;
	size_t cap = 0, cnt = 0;
	const char *p = s ? s : "";

	while (*p) {
		size_t l;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		l = strcspn(p, " ,\t");
		if (l == 0)
			break;
		v = xgrow(v, &cap, cnt + 1, sizeof(*v));
		v[cnt++] = xstrndup(p, l);
		p += l;
	}
	*out = v;
	*n = cnt;
}

void
type_lists_free(struct type_lists *tl)
{
	if (tl == NULL)
		return;
	for (size_t i = 0; i < tl->nsafe_mime; i++)
		free(tl->safe_mime[i]);
	for (size_t i = 0; i < tl->nsafe_ext; i++)
		free(tl->safe_ext[i]);
	free(tl->safe_mime);
	free(tl->safe_ext);
	memset(tl, 0, sizeof(*tl));
}

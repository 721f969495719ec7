/*
 * archive: libarchive reading from a region of a file through our own
 * read/seek/skip callbacks, so that a region not at offset 0 works and the
 * bytes handed to libarchive are counted (for the packed-size estimate the
 * ratio limit needs). Owns the struct archive and its read buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "scan/archive.h"
#include "util/xalloc.h"

#define ARC_MAX_RETRY 16 /* ARCHIVE_RETRY / ARCHIVE_FAILED headers in a row */

struct arc {
	struct archive *ar;
	int fd;
	uint64_t off, size, pos;
	uint64_t consumed;     /* bytes returned by arc_read_cb so far */
	uint64_t member_start; /* consumed when the current header was read */
	int open_failed;
	int fatal;
	unsigned bad_in_row;
	char err[256];
	unsigned char block[ARC_BLOCK];
};

/* libarchive read callback: the next block of the region. */
static la_ssize_t
arc_read_cb(struct archive *ar, void *arg, const void **buf)
{
	struct arc *a = arg;
	size_t want;
	ssize_t n;

	*buf = a->block;
	if (a->pos >= a->size)
		return 0;
	want = a->size - a->pos < sizeof(a->block) ? (size_t)(a->size - a->pos) : sizeof(a->block);
	do
		n = pread(a->fd, a->block, want, (off_t)(a->off + a->pos));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(ar, errno, "read: %s", strerror(errno));
		return -1;
	}
	a->pos += (uint64_t)n;
	a->consumed += (uint64_t)n;
	return n;
}

/* libarchive skip callback: moves on without reading. */
static la_int64_t
arc_skip_cb(struct archive *ar, void *arg, la_int64_t request)
{
	struct arc *a = arg;
	uint64_t left = a->size - a->pos;

	(void)ar;
	if (request <= 0)
		return 0;
	if ((uint64_t)request > left)
		request = (la_int64_t)left;
	a->pos += (uint64_t)request;
	return request;
}

/* libarchive seek callback, within the region only. */
static la_int64_t
arc_seek_cb(struct archive *ar, void *arg, la_int64_t offset, int whence)
{
	struct arc *a = arg;
	int64_t base;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)a->pos;
		break;
	case SEEK_END:
		base = (int64_t)a->size;
		break;
	default:
		archive_set_error(ar, EINVAL, "bad whence");
		return ARCHIVE_FATAL;
	}
	if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0 ||
	    (uint64_t)(base + offset) > a->size) {
		archive_set_error(ar, EINVAL, "seek outside the archive");
		return ARCHIVE_FATAL;
	}
	a->pos = (uint64_t)(base + offset);
	return (la_int64_t)a->pos;
}

/* Copies libarchive's last error message into a->err. */
static void
arc_set_error(struct arc *a)
{
	const char *e = archive_error_string(a->ar);

	snprintf(a->err, sizeof(a->err), "%s", e ? e : "unknown libarchive error");
}

struct arc *
arc_open(int fd, uint64_t off, uint64_t size, int allow_raw)
{
	struct arc *a = xcalloc(1, sizeof(*a));

	a->fd = fd;
	a->off = off;
	a->size = size;
	a->ar = archive_read_new();
	if (a->ar == NULL) {
		snprintf(a->err, sizeof(a->err), "archive_read_new failed");
		a->open_failed = 1;
		return a;
	}
	archive_read_support_filter_all(a->ar);
	/*
	 * A compressed stream is read as raw only: its whole decompressed
	 * content is one member, counted against the limits. With the archive
	 * formats also enabled, tar's reader takes a stream of zeros for an
	 * empty archive and stops at once (a 1 GiB gzip bomb was "clean"); a
	 * tar inside is a child of its own (x.tar.gz//x.tar//member).
	 */
	if (allow_raw)
		archive_read_support_format_raw(a->ar);
	else
		archive_read_support_format_all(a->ar);
	archive_read_set_callback_data(a->ar, a);
	archive_read_set_read_callback(a->ar, arc_read_cb);
	archive_read_set_skip_callback(a->ar, arc_skip_cb);
	archive_read_set_seek_callback(a->ar, arc_seek_cb);
	if (archive_read_open1(a->ar) != ARCHIVE_OK) {
		arc_set_error(a);
		a->open_failed = 1;
	}
	return a;
}

void
arc_free(struct arc *a)
{
	if (a == NULL)
		return;
	if (a->ar)
		archive_read_free(a->ar);
	free(a);
}

int
arc_next(struct arc *a, struct arc_member *m)
{
	struct archive_entry *e;
	int r;

	memset(m, 0, sizeof(*m));
	if (a->open_failed || a->fatal)
		return ARC_FATAL;
	r = archive_read_next_header(a->ar, &e);
	if (r == ARCHIVE_EOF)
		return ARC_END;
	if (r == ARCHIVE_FATAL) {
		arc_set_error(a);
		a->fatal = 1;
		return ARC_FATAL;
	}
	if (r == ARCHIVE_RETRY || r == ARCHIVE_FAILED) {
		arc_set_error(a);
		/* Formats that fail one header usually fail the next: bound it. */
		if (++a->bad_in_row >= ARC_MAX_RETRY) {
			a->fatal = 1;
			return ARC_FATAL;
		}
		return ARC_BAD;
	}
	a->bad_in_row = 0;
	/*
	 * Raw without a decompression filter is the container itself (e.g. a
	 * gzip header too short for the gzip filter to bid): not a member.
	 */
	if (archive_format(a->ar) == ARCHIVE_FORMAT_RAW &&
	    archive_filter_code(a->ar, 0) == ARCHIVE_FILTER_NONE) {
		snprintf(a->err, sizeof(a->err), "not a readable compressed stream");
		a->fatal = 1;
		return ARC_FATAL;
	}
	a->member_start = a->consumed;
	/* UTF-8 when libarchive knows it (zip flag, pax); else the raw bytes. */
	m->name = archive_entry_pathname_utf8(e);
	if (m->name == NULL)
		m->name = archive_entry_pathname(e);
	m->size = archive_entry_size_is_set(e) && archive_entry_size(e) >= 0
	              ? (uint64_t)archive_entry_size(e)
	              : ARC_SIZE_UNKNOWN;
	m->is_file = archive_entry_filetype(e) == AE_IFREG;
	m->encrypted = archive_entry_is_encrypted(e) != 0;
	m->raw = archive_format(a->ar) == ARCHIVE_FORMAT_RAW;
	return ARC_MEMBER;
}

ssize_t
arc_read(struct arc *a, void *buf, size_t len)
{
	la_ssize_t n;

	if (a->open_failed || a->fatal)
		return -1;
	n = archive_read_data(a->ar, buf, len);
	if (n >= 0)
		return n;
	arc_set_error(a);
	if (n == ARCHIVE_FATAL)
		a->fatal = 1;
	return -1;
}

uint64_t
arc_member_packed(const struct arc *a)
{
	uint64_t p = a->consumed - a->member_start;

	if (p < ARC_BLOCK)
		p = ARC_BLOCK;
	if (p > a->size)
		p = a->size;
	return p ? p : 1;
}

const char *
arc_error(const struct arc *a)
{
	return a->err;
}

int
arc_error_encrypted(const struct arc *a)
{
	/* libarchive has no error code for this; its messages are stable. */
	return strstr(a->err, "ncrypt") != NULL || strstr(a->err, "assphrase") != NULL;
}

const char *
arc_format_name(const struct arc *a)
{
	const char *n = a->ar ? archive_format_name(a->ar) : NULL;

	return n ? n : "unknown";
}

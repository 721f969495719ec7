/*
 * archive: lists and reads the members of one archive or compressed stream
 * with libarchive, from a region of a seekable file (read with pread, so
 * the file offset is left alone). Used by walk; it decides nothing about
 * limits, names or types: members come out raw, as libarchive gives them.
 *
 * The raw format (a single compressed stream such as clam.exe.bz2) is
 * enabled only when the caller says the object is such a stream (by its
 * MIME type), since raw would otherwise accept any data at all; such a
 * stream is then read as raw only, its content one member (a tar in it is
 * the caller's to open as a child).
 */
#ifndef PC_ARCHIVE_H
#define PC_ARCHIVE_H

#include <stdint.h>
#include <sys/types.h>

#define ARC_SIZE_UNKNOWN UINT64_MAX
#define ARC_BLOCK (64 * 1024) /* bytes handed to libarchive per read */

enum arc_next_result {
	ARC_FATAL = -2, /* the archive cannot be read further (see arc_error) */
	ARC_BAD = -1,   /* this entry could not be read; arc_next may go on */
	ARC_END = 0,    /* no more members */
	ARC_MEMBER = 1, /* *m describes the next member */
};

struct arc_member {
	const char *name; /* raw pathname from the archive, may be NULL; valid until arc_next */
	uint64_t size;    /* declared size, or ARC_SIZE_UNKNOWN */
	int is_file;      /* a regular file (not a directory, link or device) */
	int encrypted;    /* its data (or the archive's metadata) is encrypted */
	int raw;          /* the one member of a compressed stream (it has no name) */
};

struct arc;

/*
 * Opens the size bytes at off in fd (seekable, kept open by the caller) as
 * an archive; allow_raw: it is a lone compressed stream, read as raw only. Never NULL;
 * if libarchive cannot open it, the first arc_next() returns ARC_FATAL.
 */
struct arc *arc_open(int fd, uint64_t off, uint64_t size, int allow_raw);
void arc_free(struct arc *a);
/* Moves to the next member; see enum arc_next_result. */
int arc_next(struct arc *a, struct arc_member *m);
/* Reads the current member's data: bytes read, 0 at its end, -1 on error. */
ssize_t arc_read(struct arc *a, void *buf, size_t len);
/*
 * Container bytes libarchive has read since the current member's header:
 * an estimate of its packed size, at least ARC_BLOCK and at most the
 * container's size (reads are block-granular).
 */
uint64_t arc_member_packed(const struct arc *a);
/* The last error ("" if none); whether it says the data is encrypted. */
const char *arc_error(const struct arc *a);
int arc_error_encrypted(const struct arc *a);
/* libarchive's name of the format, e.g. "ZIP 2.0 (deflation)". */
const char *arc_format_name(const struct arc *a);

#endif

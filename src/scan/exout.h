/*
 * exout: the extractors' (ex_*.c) shared plumbing, knowing nothing of
 * formats. Where an extractor writes a child it decodes (extract.h): an
 * unlinked temporary file that takes at most extract_max_child() bytes
 * and counts what was refused beyond, so that a bomb costs neither disk
 * nor time. And a read-only view of the container for the readers that
 * want it in memory (exmap).
 */
#ifndef PC_EXOUT_H
#define PC_EXOUT_H

#include <stddef.h>
#include <stdint.h>

#include "scan/extract.h"

struct exout {
	int fd;
	uint64_t len; /* bytes kept */
	uint64_t max; /* bytes the child may have; UINT64_MAX: no limit */
	int over;     /* bytes were refused at max */
	int failed;   /* a write failed */
};

/*
 * Opens the file for one child of about hint bytes (TMPFD_SIZE_UNKNOWN
 * when not known). Returns 0, or -1 after noting SCAN_ERROR on x.
 */
int exout_open(struct exout *o, struct extract_ctx *x, uint64_t hint);
/*
 * Appends n bytes (copied). Past o->max the rest is dropped and o->over
 * set. Returns 0, or -1 if the write failed or the limit was reached.
 */
int exout_write(struct exout *o, const void *buf, size_t n);
/*
 * Hands what was kept to the walker as the child `name` and notes
 * LIMIT_FILE_SIZE when bytes were refused; closes the file. Returns
 * extract_child_fd()'s answer (-1: stop), or 0 after a failed write.
 */
int exout_finish(struct exout *o, struct extract_ctx *x, const char *name);
/*
 * Appends what the zlib stream (RFC 1950) in src[0..n) inflates to, up to
 * o->max. Returns 0 at the stream's end, -1 when the data is damaged or
 * cut short, 1 when the limit (o->over) or a failed write stopped it.
 */
int exout_inflate(struct exout *o, const void *src, size_t n);
/* Closes the file without handing it on (o may be unopened: fd -1). */
void exout_close(struct exout *o);

/* A private mapping of the container region [off, off + size) of fd. */
struct exmap {
	unsigned char *p; /* the region's first byte */
	void *base;
	size_t len;
};

/*
 * Maps the region (writable: copy-on-write pages, for libraries whose
 * pointers are not const). Returns 0, or -1 after noting SCAN_ERROR (or
 * SCAN_CORRUPT for an empty region) on x with the format's name fmt.
 */
int exmap_open(struct exmap *m, struct extract_ctx *x, int fd, uint64_t off, uint64_t size,
               int writable, const char *fmt);
void exmap_close(struct exmap *m);

#endif

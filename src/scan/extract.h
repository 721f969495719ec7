/*
 * extract: the formats whose children neither libarchive (archive.c) nor
 * GMime (mailwalk.c) takes out: a decoder of ours, or another library's,
 * per format, and one table. filetype names such an object CONT_EXTRACT
 * with its enum extract_format; the walker then calls the format's
 * extractor on the object's bytes, and the extractor hands each child it
 * finds back with extract_child_fd() or extract_child_mem(). The walker
 * treats a child like any archive member: typed, fed to the sink, opened
 * if it is a container itself, under the same limits.
 *
 * An extractor decides nothing about limits, names or types beyond its
 * own format: names go back raw (the walker sanitizes them), and what it
 * cannot read is noted with extract_note() (SCAN_CORRUPT for damage that
 * could hide something). A decoder that produces more bytes than it reads
 * must stop at extract_max_child() bytes per child and note LIMIT_FILE_SIZE
 * (or LIMIT_RATIO), so that a bomb costs neither disk nor time.
 */
#ifndef PC_EXTRACT_H
#define PC_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "scan/verdict.h"

enum extract_format {
	EXF_NONE = 0,
	EXF_PDF,  /* PDF streams (docfmt.h) */
	EXF_RTF,  /* RTF embedded objects (docfmt.h) */
	EXF_HTML, /* HTML data: URIs (docfmt.h) */
	EXF_TNEF, /* winmail.dat (libytnef): ex_tnef.c */
	EXF_CHM,  /* compiled HTML help, ITSF (libmspack): ex_mspack.c */
	EXF_SZDD, /* MS-DOS COMPRESS.EXE SZDD (libmspack): ex_mspack.c */
	EXF_KWAJ, /* MS-DOS COMPRESS.EXE KWAJ (libmspack): ex_mspack.c */
	EXF_OLE2, /* OLE2 compound document streams (libgsf): ex_ole2.c */
	EXF_SIS,  /* Symbian installer (ours, zlib): ex_sis.c */
	EXF_ARJ,  /* ARJ archives (arj.h) */
	EXF_COUNT
};

/* The walker's state for one container being extracted (opaque). */
struct extract_ctx;

/*
 * Hands one child to the walker: size bytes at off in fd (seekable, read
 * with pread; the file offset is left alone; fd stays the caller's). name
 * is the child's name as the container gives it (raw; may be NULL, shown
 * as "#n"). Returns 0 to go on, -1 when the walk must stop (a scan-wide
 * limit, the time limit or an error): return at once then.
 */
int extract_child_fd(struct extract_ctx *x, const char *name, int fd, uint64_t off, uint64_t size);
/* The same for a child held in memory (len bytes at buf, the caller's). */
int extract_child_mem(struct extract_ctx *x, const char *name, const void *buf, size_t len);
/*
 * Notes a finding (SCAN_CORRUPT, SCAN_ENCRYPTED, SCAN_LIMIT with the
 * limit) at the container's path, or at its child `name` when not NULL.
 */
void extract_note(struct extract_ctx *x, enum scan_status st, enum scan_limit l, const char *name,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The most bytes one child may have (scan.max_file_size); 0: no limit. */
uint64_t extract_max_child(const struct extract_ctx *x);
/* scan.max_ratio (0: none): decoded bytes per container byte, at most. */
unsigned extract_max_ratio(const struct extract_ctx *x);
/* scan.doc_max_objects (0: none): objects in one document, at most. */
unsigned extract_max_objects(const struct extract_ctx *x);
/* Where temporary files go (util/tmpfd.h tmpfd_open_for). */
const char *extract_tmpdir(const struct extract_ctx *x);
/* True once the walk must stop (time limit, scan-wide limit, error). */
int extract_stopped(struct extract_ctx *x);

/*
 * An extractor: takes the children out of the container held in
 * [off, off + size) of fd (seekable; read with pread).
 */
typedef void (*extract_fn)(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);

/* The extractors of the formats above. */
void extract_tnef(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);
void extract_chm(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);
void extract_szdd(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);
void extract_kwaj(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);
void extract_ole2(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);
void extract_sis(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);

/* The extractor of a format (NULL for EXF_NONE), and its short name. */
extract_fn extract_for(enum extract_format f);
const char *extract_format_name(enum extract_format f);

#endif

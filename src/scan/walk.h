/*
 * walk: unpacks one object into the tree of everything inside it and hands
 * each node's bytes to a sink: the object itself, every archive member
 * (libarchive), every decoded MIME part and uuencoded block (mailwalk), at
 * any depth. A container's own raw bytes are fed too, so a signature over
 * the container matches as it would in ClamAV.
 *
 * The walker knows nothing of signatures: the scanner plugs the engine (and
 * clamd) in as the sink. It enforces the limits and records what it could
 * not read (corrupt, encrypted, limit) in the verdict. Node paths join names
 * with "//": "mail.eml//report.zip//clam.exe". Names from inside containers
 * are sanitized (control characters replaced) and never used as file names.
 *
 * Children that are containers themselves are spooled to an unlinked
 * temporary file (O_TMPFILE in tmpdir) so libarchive can seek; nothing else
 * is copied. Memory use is bounded by the chunk size, not the object size.
 */
#ifndef PC_WALK_H
#define PC_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "scan/filetype.h"
#include "scan/verdict.h"

struct walk_limits {
	unsigned max_depth;	  /* containers inside containers */
	uint64_t max_total_bytes; /* bytes unpacked from all containers together */
	uint64_t max_file_size;	  /* largest single node scanned */
	unsigned max_files;	  /* nodes per scan */
	unsigned max_ratio;	  /* unpacked size / packed size of one member */
	uint64_t max_time_ms;	  /* wall time of one scan */
};

/* What the walker calls for every node. */
struct walk_sink {
	/* Starts a node; returns per-node state, NULL to skip it. */
	void *(*open)(void *arg, const char *path, const struct file_type *t, uint64_t size);
	/* Next bytes of the node; -1 stops the walk with SCAN_ERROR. */
	int (*feed)(void *node, const void *buf, size_t len);
	/* Ends the node and records its result in v. */
	int (*close)(void *node, struct scan_verdict *v, const char *path);
	void *arg;
};

struct walk_options {
	struct walk_limits limits;
	const struct type_lists *types; /* may be NULL */
	int skip_safe;			/* skip nodes filetype_is_safe() approves */
	const char *tmpdir;		/* for spooled containers; NULL = /tmp */
};

/*
 * Walks the object open on fd (read from its current position to EOF; need
 * not be seekable) named `name` (shown as the root of every path). ft is
 * the calling thread's libmagic handle. Results go into v. Returns 0, or -1
 * if the walk stopped on an error (also noted in v).
 */
int walk_fd(const struct walk_options *o, const struct walk_sink *sink, struct filetype *ft,
	    int fd, const char *name, struct scan_verdict *v);
/* The same for an object held in memory. */
int walk_mem(const struct walk_options *o, const struct walk_sink *sink, struct filetype *ft,
	     const void *buf, size_t len, const char *name, struct scan_verdict *v);

#endif

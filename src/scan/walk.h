/*
 * walk: unpacks one object into the tree of everything inside it and hands
 * each node's bytes to a sink: the object itself, every archive member
 * (libarchive), every decoded MIME part and uuencoded block (mailwalk), at
 * any depth. A container's own raw bytes are fed too, so a signature over
 * the container matches as it would in ClamAV.
 *
 * Zips are read by libarchive, then by zipscan (zipscan.h) over their
 * local headers, for what the central directory hides or libarchive cannot
 * decode; a node that starts with a zip local header but that nothing
 * types a zip is opened as one (what cannot be read is corrupt).
 *
 * The walker knows nothing of signatures: the scanner plugs the engine (and
 * clamd) in as the sink. It enforces the limits and records what it could
 * not read (corrupt, encrypted, limit) in the verdict.
 *
 * Node paths join names with "//", the root's name first:
 *   "clam.zip//clam.exe"            archive member (its path in the archive)
 *   "clam.exe.bz2//clam.exe"        the one member of a compressed stream:
 *                                   the container's name without .gz/.bz2/...
 *   "clam.tar.gz//clam.tar//a.exe"  a tar in a compressed stream
 *   "setup.exe//sfx.zip//a.exe"     a zip after other bytes (a self-extractor:
 *                                   a local header in the first 64 KiB)
 *   "mail.eml//2/invoice.zip"       MIME part "2" (IMAP numbering, see
 *   "mail.eml//1"                   mailwalk.h) + "/" + its declared file
 *   "mail.eml//2.1/clam.exe"        name, or the bare part id without one
 *   "mail.eml//1.uu1/clam.exe"      uuencoded block 1 in text part 1
 *   "notes.txt//uu1/clam.exe"       uuencoded block 1 in a plain text file
 *   "mail.eml//1.yenc1/a.exe"       an encoded block in text part 1 (textblocks.h:
 *   "mail.eml//1.hqx1/a.exe"        yEnc, BinHex, base64 run, embedded MIME
 *   "page.html//b64-1"              entity), in any text object; "pre"/"epi"
 *   "mail.eml//1.mime1//1/a.exe"    are a multipart's preamble and epilogue
 *   "box.mbox//m2.1/a.zip"          part 1 of the second message of an mbox
 * Names from inside containers are sanitized (util/sanitize.h SAN_NAME,
 * cut to WALK_NAME_MAX bytes) and are only ever shown, never used as file
 * names.
 *
 * Depth: the root is depth 0, its members depth 1, and so on; parts of a
 * message nested k levels deep in a mail at depth d are at d + 1 + k. The
 * content of a compressed stream ("x.tar.gz//x.tar", whose members are
 * "x.tar.gz//x.tar//a") is at the stream's own depth, unless it is a
 * compressed stream again. A
 * container at depth >= max_depth is fed as a node but not opened (noted
 * LIMIT_DEPTH). Even with max_depth 0 nothing deeper than WALK_DEPTH_HARD
 * is opened, so a self-containing archive cannot exhaust the stack.
 *
 * Children that are containers themselves are spooled to an unlinked
 * temporary file (util/tmpfd.h, in tmpdir) so libarchive can seek. Base64
 * and unencoded MIME parts are decoded as they are fed (mailbody.h), so a
 * part that is not a container is decoded and matched in one pass with no
 * copy; other encodings and uu blocks are decoded into temporary files
 * (mailwalk). Nothing else is copied. Memory use is bounded by the chunk size, not the object size
 * (beyond what libarchive's decoders and GMime's parse tree need).
 */
#ifndef PC_WALK_H
#define PC_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "scan/filetype.h"
#include "scan/mailnorm.h"
#include "scan/verdict.h"
#include "util/sanitize.h"
#include "util/tmpfd.h"

#define WALK_SIZE_UNKNOWN TMPFD_SIZE_UNKNOWN /* size given to sink->open when not known */
#define WALK_CHUNK (128 * 1024)              /* bytes per sink->feed call, at most */
#define WALK_DEPTH_HARD 64                   /* containers opened at most this deep */
#define WALK_NAME_MAX SAN_NAME_MAX           /* bytes kept of a member name */
#define WALK_RATIO_FLOOR (1024 * 1024)       /* max_ratio is checked above this size */

/*
 * Zero in any field means no limit. A limit hit is noted in the verdict as
 * SCAN_LIMIT with the LIMIT_* and the node's path, and stops that branch:
 * the node is fed up to the limit and not opened. max_files, max_total_bytes
 * and max_time_ms are for the whole scan, so they stop the rest of it too.
 */
struct walk_limits {
	unsigned max_depth;       /* containers inside containers (see above) */
	uint64_t max_total_bytes; /* bytes of all nodes below the root together */
	uint64_t max_file_size;   /* largest single node scanned */
	unsigned max_files;       /* nodes per scan, the root included */
	unsigned max_ratio;       /* unpacked size / packed size of one archive
	                             member, packed size estimated from the bytes
	                             libarchive read (see arc_member_packed) */
	uint64_t max_time_ms;     /* wall time of one scan, checked between chunks */
	unsigned max_mail_parts;  /* MIME parts per message (0: max_files applies) */
	unsigned text_max_blocks; /* encoded blocks decoded per text object (textblocks.h) */
	uint64_t text_max_bytes;  /* bytes of one text object searched for blocks */
	unsigned text_b64_min;    /* shortest base64 run decoded, in characters (0: 256) */
	unsigned max_doc_objects; /* objects per PDF, RTF or HTML document (docfmt.h) */
};

/* What the walker calls for every node. */
struct walk_sink {
	/*
	 * Starts a node; size is WALK_SIZE_UNKNOWN when not known (or when the
	 * node will be cut by max_file_size). Returns per-node state, or NULL
	 * not to be fed this node (its children are still walked).
	 */
	void *(*open)(void *arg, const char *path, const struct file_type *t, uint64_t size);
	/* Next bytes of the node; -1 stops the walk with SCAN_ERROR. */
	int (*feed)(void *node, const void *buf, size_t len);
	/* Ends the node and records its result in v. */
	int (*close)(void *node, struct scan_verdict *v, const char *path);
	void *arg;
};

struct walk_options {
	struct walk_limits limits;
	const struct type_lists *types;   /* may be NULL */
	int skip_safe;                    /* skip nodes filetype_is_safe() approves */
	const char *tmpdir;               /* for spooled containers; NULL = /tmp */
	int root_is_message;              /* the root is a mail message whatever it looks like
	                                     (SMTP DATA): walked as CONT_MAIL, never skipped */
	int no_text_blocks;               /* do not look for encoded blocks in text */
	struct mailnorm_limits mail_norm; /* mail is mended first (mailnorm.h); zero: not */
};

/*
 * Walks the object open on fd (read from its current position to EOF; need
 * not be seekable; its offset is unspecified afterwards) named `name`
 * (sanitized, a leading '/' kept; shown as the root of every path). ft is the calling thread's
 * libmagic handle. Results go into v. Returns 0, or -1 if the walk stopped
 * on an error (also noted in v as SCAN_ERROR).
 */
int walk_fd(const struct walk_options *o, const struct walk_sink *sink, struct filetype *ft, int fd,
            const char *name, struct scan_verdict *v);
/* The same for an object held in memory. */
int walk_mem(const struct walk_options *o, const struct walk_sink *sink, struct filetype *ft,
             const void *buf, size_t len, const char *name, struct scan_verdict *v);

/*
 * The root of every path for an object named name (NULL: none): name
 * sanitized as a member name (util/sanitize.h SAN_NAME) but keeping one
 * leading '/' of an absolute path, "-" if that leaves nothing; cut to fit
 * cap (at least 2) bytes with the NUL (the walker uses WALK_ROOT_NAME_MAX).
 * Exported so that rewrite finds a part from a hit path the same way.
 */
#define WALK_ROOT_NAME_MAX 1024
void walk_root_name(const char *name, char *out, size_t cap);

#endif

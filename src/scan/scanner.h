/*
 * scanner: the one entry point every protocol calls to scan an object.
 *
 * It owns the current engine (built-in signatures), the optional clamd
 * backend and the walker settings, and composes them: the walker unpacks the
 * object and hands each node to the engine; with backend "chain" the
 * top-level bytes also go to clamd in the same pass and any hit counts; with
 * backend "clamd" only clamd scans. A backend failure is SCAN_ERROR, never
 * clean.
 *
 * Thread-safe: any number of threads may scan at once. Reload compiles a new
 * engine (in the caller's thread, or in the background with
 * scanner_reload_async()) and swaps it in atomically; scans in flight finish
 * on the engine they started with. Hot additions compile only the new
 * signatures into an overlay, then fold everything into one database in the
 * background after scan.fold_delay.
 */
#ifndef PC_SCANNER_H
#define PC_SCANNER_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "scan/verdict.h"

struct scanner;

/*
 * Builds a scanner from the [scan] section of c (copied; c may be freed
 * afterwards). Loads and compiles the signature database unless the
 * backend is clamd only. Returns NULL with *err set (caller frees).
 */
struct scanner *scanner_new(const struct pc_config *c, char **err);
/* Waits for background work (fold, async reload), then frees. NULL is fine. */
void scanner_free(struct scanner *s);

/*
 * Scans what is readable on fd from its position to EOF (need not be
 * seekable); name is the root of every container path in v. Returns 0, or
 * -1 when the scan failed (v then says SCAN_ERROR and why).
 */
int scanner_scan_fd(struct scanner *s, int fd, const char *name, struct scan_verdict *v);
/*
 * The same for a mail message (SMTP DATA, a message rescanned after a
 * rewrite, portcullis-scan --mail): the root is walked as a message
 * whatever its first bytes look like.
 */
int scanner_scan_message_fd(struct scanner *s, int fd, const char *name, struct scan_verdict *v);
/* Scans a buffer in memory. */
int scanner_scan_mem(struct scanner *s, const void *buf, size_t len, const char *name,
                     struct scan_verdict *v);

/*
 * Locates whole-object hits: walks the object open on fd again (from its
 * position to EOF, under the same name) and sends each node directly below
 * the root (each MIME leaf part, uuencoded block, archive member: a path
 * root "//" id without a further "//") to clamd as its own INSTREAM; what
 * clamd finds there is added to v as hits at those nodes' paths, so a
 * rewrite can tell which part carries a hit clamd reported on the whole
 * message. Deeper nodes are not sent (clamd unpacks by itself). Nothing is
 * done without a clamd backend. Costs one clamd connection per part: call
 * it only for a verdict whose hits are not located yet. Returns 0, or -1
 * when clamd (or the walk) failed; the failure is then noted in v as
 * SCAN_ERROR with its reason (the status stays INFECTED) and logged.
 */
int scanner_locate_fd(struct scanner *s, int fd, const char *name, struct scan_verdict *v);

/*
 * Rebuilds the engine from scan.database_dir and swaps it in. Blocks the
 * caller (not the scans) while compiling. 0, or -1 keeping the old engine.
 */
int scanner_reload(struct scanner *s);
/* Same, on a background thread; returns at once. 0, or -1 if one is running. */
int scanner_reload_async(struct scanner *s);
/*
 * Hot addition: parses text as signatures of type ext ("ndb", "hdb", "hsb",
 * "sha256"), compiles them into an overlay and swaps in the extended engine
 * before returning. Returns the number of signatures added, or -1 with *err.
 */
int scanner_add_signatures(struct scanner *s, const char *ext, const char *text, size_t len,
                           char **err);

struct scanner_stats {
	size_t body_sigs, hash_sigs, overlays;
	uint64_t generation; /* bumped by every swap */
};
void scanner_stats(struct scanner *s, struct scanner_stats *out);

#endif

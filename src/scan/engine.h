/*
 * engine: the built-in signature engine. Compiles every body signature of a
 * sigdb into one Hyperscan database in streaming mode and every hash
 * signature into a hash set; matches a file fed in chunks, so a file never
 * has to be in memory whole. Constraints Hyperscan cannot express (EOF
 * offsets, target types) are checked on its matches. MD5/SHA-1/SHA-256 are
 * computed in the same pass, only for sizes some hash signature names.
 *
 * An engine is immutable and reference-counted: one compiled engine is
 * shared by all scanning threads, each stream with its own scratch. Reload
 * builds a new engine and swaps the pointer; streams in flight keep theirs.
 *
 * Compiling is slow (seconds, and tens of MB, for a large database), so
 * engine_build() keeps what it compiled in a cache directory and reuses it
 * while the signatures are the same (scan/dbcache.h: the directory is set
 * with dbcache_set_dir(); engine_extend() overlays are never cached).
 *
 * Hot additions: engine_extend() compiles only the new signatures into a
 * small overlay database scanned alongside the base (milliseconds even on a
 * base of 100,000 signatures); engine_fold() later recompiles everything
 * into one database in the background.
 */
#ifndef PC_ENGINE_H
#define PC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "scan/sigdb.h"
#include "scan/verdict.h"

#define ENGINE_SIZE_UNKNOWN UINT64_MAX

/* Signature hits remembered per stream; more are counted, not reported. */
#define ENGINE_MAX_HITS 256
/* Idle streams (scratch, Hyperscan stream state) kept per engine for reuse. */
#define ENGINE_POOL_MAX 256
/*
 * Largest n of an EOF-n body signature: a stream may keep the last n bytes
 * (of the largest n in the engine) to check them at close; the buffer stays
 * with the pooled stream. Larger n are rejected.
 */
#define ENGINE_EOF_WINDOW_MAX (1024 * 1024)

struct engine;
struct engine_stream;

/*
 * Compiles db and takes ownership of it (also on failure). Signatures
 * Hyperscan rejects are logged with their origin, marked rejected in db
 * (sigdb_reject_ndb) and skipped. Logs one line "engine: built body=N
 * hash=M overlays=K compile_ms=T"; the per-type counts are the caller's
 * to log (sigdb_log_stats). Returns NULL with *err set (caller frees) only
 * if nothing usable could be built, which includes a db without a single
 * usable signature. The line ends with cache=off|miss|hit (see
 * scan/dbcache.h).
 */
struct engine *engine_build(struct sigdb *db, char **err);
/*
 * Returns a new engine = base + the signatures of extra, compiling only
 * extra (ownership of extra moves to the new engine, also on failure; the
 * new engine shares base's compiled layers, so the caller may drop base).
 * Logs extra's counts (label "overlay") and the "engine: built" line.
 * NULL with *err set if extra has nothing usable.
 */
struct engine *engine_extend(struct engine *base, struct sigdb *extra, char **err);
/*
 * Returns a new engine with base and all overlays recompiled as one (a new
 * ref to e itself if it has no overlays). e is only read: safe to run in
 * the background while e scans.
 */
struct engine *engine_fold(struct engine *e, char **err);
struct engine *engine_ref(struct engine *e);
void engine_unref(struct engine *e);

size_t engine_body_count(const struct engine *e);
size_t engine_hash_count(const struct engine *e);
size_t engine_overlay_count(const struct engine *e);

/*
 * Opens a stream for one object. target_mask has TARGET_BIT(t) set for each
 * ClamAV target type the object is (0 = any is always matched). size is the
 * object's size when known, else ENGINE_SIZE_UNKNOWN. Never returns NULL
 * (allocation failure is fatal); a Hyperscan failure shows at close. The
 * stream holds a ref on e: it keeps working after the caller drops its own.
 * A known size must be exact: it selects the digests worth computing and
 * which bytes are kept for EOF-n signatures (a mismatch is logged).
 */
struct engine_stream *engine_stream_open(struct engine *e, unsigned target_mask, uint64_t size);
/* Feeds the next bytes; 0, or -1 on a Hyperscan error (remembered). */
int engine_stream_feed(struct engine_stream *s, const void *buf, size_t len);
/*
 * Ends the stream, frees it, and adds each matching signature to v as a hit
 * at `path`. A failure is noted in v as SCAN_ERROR. Returns 0 or -1.
 */
int engine_stream_close(struct engine_stream *s, struct scan_verdict *v, const char *path);

#endif

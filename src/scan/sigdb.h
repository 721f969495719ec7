/*
 * sigdb: parsed signatures, before compilation. Reads ClamAV's text formats
 * (.hdb .hsb .ndb), our own .sha256 list, and ClamAV's packed .cvd/.cld
 * databases (512-byte header + tar.gz; the container is cvd.c's).
 *
 * A bad line is logged as `file:line: message` and skipped, never fatal.
 * Signature types we do not support (.ldb, .mdb, .cbc, ...) are counted per
 * type and reported by sigdb_log_stats(); nothing is skipped silently.
 *
 * A sigdb owns copies of everything it parsed. It is not thread-safe; the
 * engine takes ownership of it once compiled.
 */
#ifndef PC_SIGDB_H
#define PC_SIGDB_H

#include <stddef.h>
#include <stdint.h>

#include "scan/sig.h"

struct sigdb;

struct sigdb *sigdb_new(void);
void sigdb_free(struct sigdb *db);

/*
 * Loads every signature file in dir (not recursive). Files with unknown
 * extensions are skipped with a log line. Returns 0, or -1 if dir cannot be
 * read at all.
 */
int sigdb_load_dir(struct sigdb *db, const char *dir);
/* Loads one file by its extension; 0 or -1 (unreadable or unknown type). */
int sigdb_load_file(struct sigdb *db, const char *path);
/*
 * Loads a whole .cvd/.cld image held in memory (scan/cvd.h): name is the
 * file's base name ("daily.cvd"), for messages and origins; is_cld skips
 * the MD5 check. No I/O. Returns 0, or -1 (bad header, MD5 mismatch, broken
 * archive: signatures read before the damage stay in db).
 */
int sigdb_load_cvd(struct sigdb *db, const char *name, const uint8_t *data, size_t len, int is_cld);
/*
 * Parses signature text held in memory as if it were a file named `origin`
 * whose type is given by `ext` ("ndb", "hdb", "hsb", "sha256"). Used for hot
 * additions. Returns the number of signatures added, or -1 if ext is unknown.
 */
int sigdb_load_buffer(struct sigdb *db, const char *origin, const char *ext, const char *buf,
                      size_t len);

/* Read-only access for the engine and the benchmark tools. */
size_t sigdb_ndb_count(const struct sigdb *db);
const struct ndb_sig *sigdb_ndb(const struct sigdb *db, size_t i);
size_t sigdb_hash_count(const struct sigdb *db);
const struct hash_sig *sigdb_hash(const struct sigdb *db, size_t i);
/* Moves every signature of src into dst; src is left empty. */
void sigdb_absorb(struct sigdb *dst, struct sigdb *src);
/* Marks body signature i as rejected (e.g. Hyperscan could not compile it). */
void sigdb_reject_ndb(struct sigdb *db, size_t i, const char *why);

/* Logs per signature type: loaded, skipped as unsupported, bad lines. */
void sigdb_log_stats(const struct sigdb *db, const char *label);
/* Number of lines/signatures skipped for any reason. */
size_t sigdb_skipped(const struct sigdb *db);

/*
 * Additions to the interface above (engine, .cvd reader, tests).
 */

/* Longest line and signature name accepted; longer is a bad line. */
#define SIGDB_MAX_LINE (1024 * 1024)
#define SIGDB_MAX_NAME 256
/* Bad lines logged per file; the rest are only counted. */
#define SIGDB_MAX_WARN 100

/* 1 if body signature i was rejected by sigdb_reject_ndb(). */
int sigdb_ndb_rejected(const struct sigdb *db, size_t i);
/* Copies every signature of src that is not rejected into dst (not the counts). */
void sigdb_copy(struct sigdb *dst, const struct sigdb *src);

/* Per-type counts, as logged by sigdb_log_stats(); all 0 if never seen. */
struct sigdb_counts {
	size_t loaded, unsupported, bad, rejected, files;
};
void sigdb_counts(const struct sigdb *db, const char *ext, struct sigdb_counts *out);
/* How many body signatures were skipped as unsupported for this reason. */
size_t sigdb_unsupported_reason(const struct sigdb *db, const char *reason);

/*
 * Incremental parsing of one file's text, for readers that get it in
 * pieces (the members of a .cvd). sigdb_text_begin() starts a file named origin
 * (for messages; lines are "origin:N") of type ext. A type we know but do
 * not support (ldb, mdb, ...) has its signature lines counted as
 * unsupported; an unknown type too if count_unknown, else NULL is returned.
 * sigdb_text_end() returns the number of signatures added and frees t.
 */
struct sigdb_text;
struct sigdb_text *sigdb_text_begin(struct sigdb *db, const char *origin, const char *ext,
                                    int count_unknown);
void sigdb_text_feed(struct sigdb_text *t, const char *buf, size_t len);
size_t sigdb_text_end(struct sigdb_text *t);

/*
 * Tells the caller of every line not loaded (bad, or an unsupported
 * signature), with its origin, line number and reason, in addition to the
 * log and the counts (unchanged), and with no cap per file. For tools that
 * must refuse a file with any such line (portcullis-provider update).
 * fn NULL: none (the default).
 */
typedef void (*sigdb_line_fn)(void *arg, const char *origin, size_t lineno, const char *why);
void sigdb_set_line_fn(struct sigdb *db, sigdb_line_fn fn, void *arg);

#endif

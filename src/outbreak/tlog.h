/*
 * tlog: the transparency log of a gateway: every document it was handed
 * (accepted or rejected, with the reason), appended to one file as a hash
 * chain, each write fsynced.
 *
 * One entry per line, a JSON object:
 *
 *   {"n": 7, "time": 1765000000, "prev": "<hex SHA-256 of line n-1, or 64 zeros>",
 *    "result": "accepted"|"rejected", "reason": "...", "source": "push"|"pull"|"local",
 *    "type": "alert"|...|"" , "id": "...", "seq": 12,
 *    "digest": "<hex SHA-256 of the payload, or of the envelope when it did not parse>",
 *    "envelope": "<base64 of the envelope as received, cut at 1 MiB>"}
 *
 * The SHA-256 of a line is over its bytes without the final newline. The
 * first line's prev is 64 zeros. Blocking (fsync): worker threads only.
 *
 * The chain alone cannot show a change to the last line (no line follows
 * to carry its hash), so a sidecar file PATH.head holds "<n> <hex SHA-256
 * of line n>\n" for the last line, rewritten after each append (temporary
 * file, fsync, rename, directory fsync). An empty log's head is "0" and 64
 * zeros. tlog_verify() checks the head too when the file exists.
 *
 * Order of an append: the line is written and fsynced, then the head; a
 * write that fails is cut off again. tlog_open() takes a head that is one
 * entry behind as the crash window between the two writes and rewrites it;
 * any other disagreement between the head and the last line makes it fail
 * (the log was changed behind its back: inspect it with tlog_verify() and
 * move it aside) rather than chain new entries onto a changed line. A log
 * without a head (older, or the head deleted) gets one, with a warning.
 *
 * One process writes a log (the chain state is kept in memory); each
 * append holds an flock(LOCK_EX) on the log while it writes line and head,
 * and tlog_verify() holds LOCK_SH while it reads both, so that it never
 * sees one without the other. The hash chain is unkeyed: it shows changes
 * and losses to whoever keeps a copy of a head, not to someone who can
 * rewrite the whole file and its head.
 */
#ifndef PC_TLOG_H
#define PC_TLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tlog;

struct tlog_entry {
	time_t time;
	int accepted;
	const char *reason;    /* "" when accepted */
	const char *source;    /* "push", "pull", "local" */
	const char *type, *id; /* "" if unknown */
	uint64_t seq;
	const uint8_t *digest; /* 32 bytes */
	const char *envelope;
	size_t envelope_len;
};

/*
 * Opens (creating, mode 0600) the log at path and reads it to find the
 * last entry's hash and number (a torn last line, from a crash mid-write,
 * is cut off and logged). NULL with *err.
 */
struct tlog *tlog_open(const char *path, char **err);
void tlog_free(struct tlog *t);
/* Appends one entry and fsyncs. Thread-safe. 0 or -1 (errno). */
int tlog_append(struct tlog *t, const struct tlog_entry *e);

/*
 * Checks the chain of the log at path: every line parses, numbers follow
 * on, each prev is the hash of the line before. 0 with *entries set; or -1
 * with *bad_line (1-based) and *err (allocated) saying what is wrong.
 */
int tlog_verify(const char *path, size_t *entries, size_t *bad_line, char **err);

#endif

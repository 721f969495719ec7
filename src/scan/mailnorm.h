/*
 * mailnorm: a pre-pass that mends the shapes of real mail that GMime reads
 * differently from MTAs and ClamAV, so that the walker sees the parts they
 * see. Pure: bytes in, mended bytes out through a callback; no I/O.
 *
 * What it mends (each in the top-level header block, in the header block of
 * every MIME part whose boundary it knows, and in nested message/rfc822
 * header blocks):
 * - a UTF-8 byte-order mark before the first header field: dropped;
 * - lines that are not header fields before the first field of the
 *   top-level message (junk), when a field follows within max_junk_lines:
 *   dropped;
 * - a whitespace-only line inside a header block (obsolete folding,
 *   RFC 5322 4.2): dropped when a field or a continuation follows, else it
 *   is the header/body separator and becomes an empty line;
 * - spaces or tabs between a field name and its colon (RFC 5322 4.5.3
 *   obs-optional): dropped;
 * - no empty line between a header block and its body (the first line
 *   that is neither a field nor a continuation): an empty line is put in;
 * - a Content-Type boundary parameter with whitespace around it inside
 *   the quotes, or unquoted with characters a token may not hold (spaces):
 *   rewritten as a quoted string of the trimmed value;
 * - a delimiter line that carries a known boundary followed by more text,
 *   when the boundary is 70 characters or longer (a cut copy of the
 *   delimiter's) or the text starts with a space or tab: cut back to the
 *   boundary (RFC 2046 5.1.1; ClamAV and MTAs compare prefixes).
 * Line ends stay as they are; a new empty line takes the line end of the
 * line it stands before. Everything else is copied byte for byte.
 */
#ifndef PC_MAILNORM_H
#define PC_MAILNORM_H

#include <stddef.h>
#include <stdint.h>

/* Zero in a field turns that mend off (max_header_bytes 0: the whole pass). */
struct mailnorm_limits {
	uint64_t max_header_bytes; /* one header block; the rest of a longer one is body */
	unsigned max_boundaries;   /* multipart boundaries tracked at once (nesting) */
	unsigned max_junk_lines;   /* non-field lines dropped before the first field */
};

/* What was mended, by kind. */
struct mailnorm_stats {
	unsigned bom, junk_lines, ws_lines, separators, colon_spaces, params, delimiters;
	unsigned header_cut; /* header blocks longer than max_header_bytes */
};

/* Receives the mended bytes in order; returns 0, or -1 to stop. */
typedef int (*mailnorm_out)(void *arg, const void *buf, size_t len);

/*
 * Reads the message in[0, len) and writes it, mended, to out (which may be
 * NULL to count only). st (may be NULL) gets the counts. Returns the number
 * of mends (0: out got the input unchanged), or -1 if out failed.
 */
long mailnorm(const void *in, size_t len, const struct mailnorm_limits *lim, mailnorm_out out,
              void *arg, struct mailnorm_stats *st);

#endif

/*
 * uudecode: finds uuencoded blocks (`begin 644 name` ... `end`) in text and
 * decodes them. A push parser: the caller feeds bytes in any chunking and
 * gets begin/data/end events through callbacks; it does no I/O. Each data
 * line is decoded by GMime (g_mime_encoding_uudecode_step) after this
 * module has checked and normalised it.
 *
 * Rules, chosen to decode what real mailers send without turning prose
 * into binary:
 * - a block starts at a line `begin` SP octal-mode SP name (mode of 1-4
 *   octal digits, name up to UUDEC_NAME_MAX bytes, CR/LF and trailing
 *   blanks removed); `begin-base64` is not uuencoding and is ignored;
 * - CRLF and LF line ends are both accepted; blank lines are skipped;
 * - a data line is a length character and characters in ' '..'`'; a line
 *   shorter than its length character announces is padded with zero bits
 *   (mail transports strip trailing blanks), longer lines are cut (some
 *   encoders append a checksum character);
 * - a line with any other character, or longer than UUDEC_LINE_MAX, ends
 *   the block as UUDEC_END_MALFORMED and is then looked at as plain text;
 * - a zero-length line (` or space) ends the data; `end` then completes the
 *   block (UUDEC_END_OK); anything else, or the end of the input, gives
 *   UUDEC_END_MISSING. The data decoded so far is delivered in every case.
 */
#ifndef PC_UUDECODE_H
#define PC_UUDECODE_H

#include <stddef.h>

#define UUDEC_LINE_MAX 1024 /* longer lines are never uuencoded data */
#define UUDEC_NAME_MAX 255  /* bytes of the declared name kept */

enum uudec_end {
	UUDEC_END_OK = 0,    /* `end` seen */
	UUDEC_END_MISSING,   /* input or data ended without `end` */
	UUDEC_END_MALFORMED, /* a line that is not uuencoded data */
};

struct uudec_ops {
	/* A block starts; name is the raw declared name (not sanitized). */
	int (*begin)(void *arg, unsigned mode, const char *name);
	/* Decoded bytes of the current block. */
	int (*data)(void *arg, const void *buf, size_t len);
	/* The current block ended. */
	int (*end)(void *arg, enum uudec_end how);
};

struct uudec;

/* Returns a parser calling ops with arg; ops is not copied. */
struct uudec *uudec_new(const struct uudec_ops *ops, void *arg);
void uudec_free(struct uudec *u);
/*
 * Parses the next len bytes of text. Returns 0, or -1 once a callback has
 * returned -1 (the parser then ignores further input).
 */
int uudec_push(struct uudec *u, const void *buf, size_t len);
/* Ends the input: parses a last unterminated line, ends an open block. */
int uudec_finish(struct uudec *u);
/* Number of blocks begun so far. */
unsigned uudec_blocks(const struct uudec *u);

/* True if buf holds a `begin NNN name` line (for type detection). */
int uu_has_begin(const void *buf, size_t len);

#endif

/*
 * textblocks: finds encoded blocks in text and decodes them, as defence in
 * depth for what the MIME structure does not show: in a text part, a
 * preamble or epilogue, or a plain text file.
 *
 * Kinds, each numbered from 1 in the order found ("uu1", "yenc1", "hqx1",
 * "b64-1", "mime1"):
 * - TB_UU: `begin NNN name` ... `end`, by uudecode.h's parser;
 * - TB_YENC: `=ybegin ... name=N` ... `=yend`, decoded by GMime
 *   (g_mime_ydecode_step); `=ypart` lines skipped; size and CRC-32 from
 *   `=yend` checked (a mismatch ends the block as TB_END_DAMAGED);
 * - TB_HQX: a line `(This file must be converted with BinHex` then, after
 *   blank lines, ':' and the BinHex 4.0 characters (binhex.h); the data
 *   fork is one block, a resource fork another (its name + ".rsrc");
 * - TB_B64: a run of at least b64_min characters of the base64 alphabet
 *   (RFC 4648 section 4) and up to two '=', on one line (a long token, as in
 *   an HTML data: URI) or across lines that hold nothing else, decoded by
 *   GMime (g_mime_encoding_base64_decode_step). A run may start mid-line;
 *   a run shorter than 16 characters at a line end is dropped, so a word
 *   on the line before a base64 body does not shift its alignment;
 * - TB_MIME: a line that looks like a MIME boundary ("--" and 1 to 200
 *   printable characters) directly followed by a MIME header field
 *   (Content-...: or MIME-Version:). The block is a message made of a
 *   header `Content-Type: multipart/mixed; boundary="..."` with that
 *   boundary, then the text from the boundary line to the end: GMime then
 *   parses the embedded entities as the parts of a multipart.
 * One block is open at a time; while one is open the others are not
 * looked for (a MIME block runs to the end of the text).
 *
 * A push parser (it does no I/O): the caller feeds bytes in any chunking
 * and gets begin/data/end events. Lines end in LF or CRLF. Damage never
 * withholds what was decoded: the block then ends as TB_END_MISSING (no
 * end marker) or TB_END_DAMAGED.
 *
 * struct tb_collect on top of it is what the walker uses: it decodes every
 * block into one temporary file, under limits, and lists the blocks.
 */
#ifndef PC_TEXTBLOCKS_H
#define PC_TEXTBLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "scan/verdict.h"
#include "util/sanitize.h"

#define TB_LINE_MAX 1024       /* bytes of a line looked at for markers */
#define TB_B64_MIN_DEFAULT 256 /* tb_options.b64_min when 0 */
#define TB_B64_MIN_LOW 16      /* shortest b64_min accepted */
#define TB_BOUNDARY_MAX 200    /* longest boundary taken */

enum tb_kind { TB_UU = 0, TB_YENC, TB_HQX, TB_B64, TB_MIME, TB_NKINDS };

enum tb_end {
	TB_END_OK = 0,  /* the end marker was read (for b64 and mime: the run or text ended) */
	TB_END_MISSING, /* the text ended, or another block began, first */
	TB_END_DAMAGED, /* a bad character, size or CRC */
};

struct tb_options {
	int no_uu;      /* do not report uu blocks (mailwalk reported them) */
	size_t b64_min; /* shortest base64 run, in characters; 0: TB_B64_MIN_DEFAULT */
	int no_mime;    /* no embedded entities: the text is a body GMime parsed already */
};

struct tb_ops {
	/* A block starts; name is the raw declared name or NULL. */
	int (*begin)(void *arg, enum tb_kind kind, const char *name);
	/* Decoded bytes of the current block. */
	int (*data)(void *arg, const void *buf, size_t len);
	/* The current block ended. */
	int (*end)(void *arg, enum tb_end how);
};

struct textblocks;

/* Returns a parser calling ops with arg; o and ops are copied / borrowed (ops). */
struct textblocks *tb_new(const struct tb_options *o, const struct tb_ops *ops, void *arg);
void tb_free(struct textblocks *tb);
/* Parses the next len bytes. Returns 0, or -1 once a callback returned -1. */
int tb_push(struct textblocks *tb, const void *buf, size_t len);
/* Ends the input: a last line without its end, blocks still open. */
int tb_finish(struct textblocks *tb);
/*
 * Text bytes pushed so far (the current push included): what a block can
 * have been decoded from, at most, for a ratio limit.
 */
uint64_t tb_block_in(const struct textblocks *tb);
/* "uu", "yenc", "hqx", "b64-", "mime": the id of block k is this + k. */
const char *tb_kind_id(enum tb_kind k);

/* --- the walker's collector --- */

/* Zero in a field means no limit. */
struct tb_limits {
	unsigned max_blocks; /* blocks per text object */
	uint64_t max_text;   /* bytes of the text searched */
	uint64_t max_block;  /* decoded bytes per block (scan.max_file_size) */
	uint64_t max_total;  /* decoded bytes of all blocks together */
	unsigned max_ratio;  /* decoded bytes of a block / text bytes read, above 1 MiB */
};

struct tb_block {
	enum tb_kind kind;
	unsigned num;                /* k in "yenc<k>": per kind, from 1 */
	char name[SAN_NAME_MAX + 1]; /* sanitized declared name, or "" */
	uint64_t off, size;          /* where its bytes lie in tbc_fd() */
	enum tb_end how;
	enum scan_limit cut; /* LIMIT_NONE, LIMIT_FILE_SIZE, LIMIT_TOTAL_BYTES, LIMIT_RATIO */
};

struct tb_collect;

/* A collector writing to an unlinked file in tmpdir (opened at the first block). */
struct tb_collect *tbc_new(const struct tb_options *o, const struct tb_limits *l,
                           const char *tmpdir);
/* Closes the file; c may be NULL. */
void tbc_free(struct tb_collect *c);
/*
 * Feeds the next bytes of the text. Returns 0, or -1 on a temporary file
 * error (tbc_error() says which; the blocks so far stay listed). Once a
 * limit stopped the search, the rest is ignored (returns 0).
 */
int tbc_push(struct tb_collect *c, const void *buf, size_t len);
/* Ends the text. As tbc_push. */
int tbc_finish(struct tb_collect *c);
/* The blocks found: count, and block i (0-based). */
size_t tbc_count(const struct tb_collect *c);
const struct tb_block *tbc_block(const struct tb_collect *c, size_t i);
/* The file holding every block's bytes (-1 before the first block). */
int tbc_fd(const struct tb_collect *c);
/* The limit that stopped the search (LIMIT_FILES: max_blocks, LIMIT_FILE_SIZE: max_text), or
 * LIMIT_NONE. */
enum scan_limit tbc_limit(const struct tb_collect *c);
/* What failed, after tbc_push/tbc_finish returned -1. */
const char *tbc_error(const struct tb_collect *c);

#endif

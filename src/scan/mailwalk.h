/*
 * mailwalk: finds every part of an RFC 5322 message that carries content:
 * each leaf MIME part (decoded from base64 / quoted-printable / uuencode),
 * nested message/rfc822 messages (walked in turn), and each uuencoded block
 * inside a text part (`begin 644 name` ... `end`). Parsing is GMime's;
 * uudecoding is GMime's too (see uudecode.h). It does no scanning itself:
 * the walker (and later the SMTP proxy, to rewrite parts) pass a callback.
 *
 * Part ids are MIME positions as in IMAP: the parts of a multipart body are
 * "1", "2", ...; a body that is not multipart is "1"; the body of a nested
 * message in part "2" is "2.1" (or its parts "2.1", "2.2" when multipart);
 * uuencoded block k of text part "1" is "1.uuk". A multipart's preamble
 * and epilogue, when they hold 64 bytes or more, are text/plain parts
 * "pre" and "epi" ("2.pre" for the multipart in part 2). In an mbox (the stream
 * opens with "From ") every id is prefixed with the message number:
 * "m1.1", "m2.2.1". Names from the wire are sanitized and never used as
 * file names.
 *
 * Byte offsets: GMime 3.2 records where each header field starts and keeps
 * each part's undecoded content as a substream of the input, so for every
 * leaf part the start of its header block and the start and end of its
 * encoded content in the original message are known (mail_part offsets).
 * That is what the SMTP proxy needs to replace one part and copy the rest
 * byte for byte. Multipart boundaries are not reported; preambles and
 * epilogues have no offsets (-1).
 */
#ifndef PC_MAILWALK_H
#define PC_MAILWALK_H

#include <stddef.h>
#include <stdint.h>

#include "scan/mailnorm.h"
#include "scan/mailbody.h"
#include "scan/verdict.h"

struct mail_part {
	const char *id;           /* "1", "2.1", "2.uu1", "m2.1" */
	const char *content_type; /* "application/zip" as declared */
	const char *filename;     /* sanitized declared name, or NULL */
	int is_uu;                /* a uuencoded block inside a text part */
	unsigned depth;           /* message/rfc822 nesting depth, 0 = top */
	/*
	 * Offsets in the stream read by mailwalk_fd, counted from where it
	 * started reading; -1 when not known (always for uu blocks).
	 */
	int64_t headers_begin; /* first byte of the part's first header field */
	int64_t body_begin;    /* first byte of its content, still encoded */
	int64_t body_end;      /* one past the last byte of its content */
	int is_raw;            /* "body": the raw body of a message GMime found no part in;
	                          not to be walked as mail again */
};

/* Zero in any field means no limit. */
struct mailwalk_limits {
	unsigned max_parts;      /* parts handed to the callback per call */
	unsigned max_depth;      /* message levels walked, the top message being 1 */
	uint64_t max_part_bytes; /* decoded bytes per part; the rest is cut */
};

/*
 * Called for each part with its decoded content (scan/mailbody.h: its exact
 * size, read it in order, or ask for a file with mail_body_fd). Base64 and
 * unencoded parts are decoded from the message as they are read; other
 * encodings and uu blocks come from a temporary file. The body is borrowed
 * until the callback returns. Returns 0 to go on, -1 to stop.
 */
typedef int (*mailwalk_cb)(void *arg, const struct mail_part *part, struct mail_body *body);

/* Initialises GMime once per process (thread-safe); mailwalk_fd calls it. */
void mailwalk_global_init(void);

/*
 * Walks the message (or mbox) read from fd (seekable, from its current
 * position to EOF); path names it in verdict notes. Structural damage
 * (missing final boundary, bad encoding) is tolerated as far as GMime
 * tolerates it and noted in v as SCAN_CORRUPT only when no part could be
 * read. A limit is noted in v as SCAN_LIMIT (LIMIT_FILES for max_parts,
 * LIMIT_DEPTH, LIMIT_FILE_SIZE for max_part_bytes) at the part's path
 * (path + "//" + id). Returns 0, or -1 if the callback stopped the walk or a
 * limit was hit.
 */
int mailwalk_fd(int fd, const char *path, const struct mailwalk_limits *lim, const char *tmpdir,
                mailwalk_cb cb, void *arg, struct scan_verdict *v);

/*
 * The same, with the message first mended by mailnorm (norm may be NULL or
 * zero: not mended) when it is not an mbox. Part offsets are then -1 when
 * anything was mended (they would be the mended copy's). When no part comes
 * out of a message, its raw body is handed on as text part "body" (unless
 * it holds nothing but whitespace and delimiter lines: nothing to scan);
 * the message is noted corrupt only when GMime could parse no message at
 * all (its bytes are still handed on as "body").
 */
int mailwalk_mend_fd(int fd, const char *path, const struct mailwalk_limits *lim,
                     const struct mailnorm_limits *norm, const char *tmpdir, mailwalk_cb cb,
                     void *arg, struct scan_verdict *v);

/*
 * Finds the uuencoded blocks in the text read from fd (from its current
 * position to EOF) and hands each decoded block to cb as a part with id
 * "<id_prefix>.uuN" ("uuN" if id_prefix is NULL), is_uu set, depth as
 * given. Limits and return value as for mailwalk_fd.
 */
int mailwalk_uu_fd(int fd, const char *path, const char *id_prefix, unsigned depth,
                   const struct mailwalk_limits *lim, const char *tmpdir, mailwalk_cb cb, void *arg,
                   struct scan_verdict *v);

#endif

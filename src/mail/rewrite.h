/*
 * rewrite: the copies of a message that the SMTP proxy hands on instead of
 * the original: with headers added at the top (clean / pass), and with
 * infected parts stripped or replaced by a report. Every byte that is not
 * part of a replaced part stays identical, so signatures, DKIM of untouched
 * parts and the clean attachments survive.
 *
 * Input is a seekable file (the spool): the message is bytes [0, size) of
 * in_fd, read with pread (GMime's reading moves the file offset, which is
 * unspecified afterwards). Output is written to out_fd from its current
 * position. No sockets, no event loop; runs on a worker thread.
 *
 * Part ids are mailwalk's (see scan/mailwalk.h): "2", "2.1", "1.uu1". The
 * scanner reports hits by container path; rewrite_part_id() turns one into
 * the part to replace (the first level below the root: a hit inside
 * "2/a.zip" replaces all of part 2), rewrite_targets_from_verdict() does it
 * for a whole verdict.
 *
 * What a replaced part becomes (text from notify's templates):
 * - a part of a multipart: the whole part, from the end of its boundary
 *   line (so junk lines before its header fields go too) to the end of its
 *   body, becomes a text/plain; charset=utf-8 part (7bit, or
 *   quoted-printable if the text is not ASCII or a line would start with
 *   '-', which could pass for a boundary) with removed.txt (strip) or
 *   report.txt (replace);
 * - the single body of a message (top-level or message/rfc822): the body
 *   is replaced, and in that message's header block the Content-Type,
 *   Content-Transfer-Encoding and Content-Disposition fields are replaced
 *   (MIME-Version added when missing); every other header field stays;
 * - a uuencoded block "N.uuK" in a text part with an identity transfer
 *   encoding (none, 7bit, 8bit, binary): only the block's lines, `begin`
 *   through `end`, become one ASCII line (removed.txt on one line, non-ASCII
 *   and a leading '-' as '?'); in a quoted-printable or base64 text part the
 *   whole part N is replaced as above. A block the walker decoded from
 *   text part N ("N.yenc1", "N.hqx1", "N.b64-1", "N.mime1", see
 *   scan/textblocks.h) replaces the whole part N. "uuK" (the scanner saw the whole
 *   message as uuencoded text) is taken as "1.uuK" when the message is not
 *   multipart.
 * The new text uses the message's line ends (those of its first line).
 */
#ifndef PC_REWRITE_H
#define PC_REWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "mail/notify.h"
#include "scan/verdict.h"

#define REWRITE_ID_MAX 128 /* bytes of a part id, NUL included */

struct rewrite_target {
	const char *part_id; /* "2", "2.1", "1.uu1" */
	const char *names;   /* virus names, comma-separated */
};

enum rewrite_mode { REWRITE_STRIP, REWRITE_REPLACE };

struct rewrite_result {
	unsigned parts_replaced; /* MIME parts replaced (whole parts and single bodies) */
	unsigned uu_removed;     /* uuencoded blocks cut out of text parts */
	uint64_t bytes_out;      /* bytes written to out_fd */
};

/*
 * The part id in a scanner hit path: hit_path is root + "//" + id, then
 * optionally "/" + declared name and "//" + deeper levels. root is the name
 * given to the scanner, compared as the walker shows it (walk_root_name).
 * Stores the id in id (cap bytes). Returns 0, or -1 when the hit is on the
 * root itself, is not below root, or the id does not fit.
 */
int rewrite_part_id(const char *root, const char *hit_path, char *id, size_t cap);

/*
 * The targets for every hit of v (scanned under the name root): one per
 * part id, names joined without duplicates, in order of first hit; a uu
 * block target is dropped when its text part is a target too. A hit on the
 * root itself is covered when the same signature also hit inside a part
 * (the part's bytes are part of the root's); otherwise the message cannot
 * be rewritten. Returns 0 with *out (n entries; free with
 * rewrite_targets_free) or -1 (no hits, or an uncovered root hit).
 * A caller should scan the rewritten message again: a root hit "covered"
 * by a part may also have matched bytes outside every part.
 */
int rewrite_targets_from_verdict(const struct scan_verdict *v, const char *root,
                                 struct rewrite_target **out, size_t *n);
void rewrite_targets_free(struct rewrite_target *t, size_t n);
/*
 * The hits of v (scanned under root) that no part carries: the names of
 * hits on the root itself whose signature hit no part, comma-separated
 * (caller frees), or NULL when every hit is located. A whole-message clamd
 * hit stays here until scanner_locate_fd() finds it in a part.
 */
char *rewrite_unlocated(const struct scan_verdict *v, const char *root);

/*
 * Writes headers, then the message unchanged. headers are complete header
 * lines ("Name: value" CRLF ...; NULL or "" for none); they get the
 * message's line ends. Returns 0, or -1 on a read or write error or if
 * headers are malformed (a NUL, a bare CR, not ending in a line end, or
 * opening with a blank or continuation line).
 */
int rewrite_add_headers(int in_fd, uint64_t size, const char *headers, int out_fd);

/*
 * Writes the message with headers added (as rewrite_add_headers) and each
 * of the n targets replaced as described above: removed.txt for
 * REWRITE_STRIP, report.txt for REWRITE_REPLACE, rendered with vars (may be
 * NULL) and, per target, %PART%, %FILENAME% ("(part N)" without a name)
 * and %VIRUS% set from the part and t->names. tpl (NULL: the built-in
 * texts) is not copied. Targets with the same id are merged.
 * Everything is planned before the first byte is written. Returns 0 with
 * res filled in (res may be NULL), or -1 (logged): the message cannot be
 * parsed (or opens with an mbox "From " line), a target id is not found,
 * GMime gave no offsets for a part, a part does not sit between boundary
 * lines, targets overlap, or headers are malformed -- then nothing has been
 * written -- or a read or write failed, leaving out_fd partly written. The
 * caller discards out_fd and falls back to quarantine.
 */
int rewrite_parts(int in_fd, uint64_t size, const struct rewrite_target *t, size_t n,
                  enum rewrite_mode mode, const struct notify_templates *tpl,
                  const struct notify_vars *vars, const char *headers, int out_fd,
                  struct rewrite_result *res);

/*
 * Outbreak hold_attachments: writes headers, then the message with every
 * attachment (a part, not a message body, that has a file name, a
 * Content-Disposition of attachment, or a type other than text) replaced by
 * the held-part template rendered with vars (%FILENAME% per part). With no
 * attachment nothing is written and res->parts_replaced is 0. Returns 0,
 * or -1 as rewrite_parts.
 */
int rewrite_hold_attachments(int in_fd, uint64_t size, const struct notify_templates *tpl,
                             const struct notify_vars *vars, const char *headers, int out_fd,
                             struct rewrite_result *res);

#endif

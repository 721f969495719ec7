/*
 * rewrite_int: what the files of the rewrite module share; nothing outside
 * mail/rewrite*.c includes it. rewrite.c plans the edits (which byte ranges
 * of the message, found with GMime, get which new bytes) and runs a
 * rewrite; rewrite_text.c makes the bytes that take a part's place;
 * rewrite_copy.c reads the input and writes the copy; rewrite_targets.c
 * turns scanner hits into part ids (rewrite.h has the public side).
 */
#ifndef PC_REWRITE_INT_H
#define PC_REWRITE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mail/notify.h"
#include "mail/rewrite.h"
#include "util/strbuf.h"

/* One byte range of the input and what takes its place. */
struct rw_edit {
	int64_t begin, end;
	char *text; /* owned by the plan */
	size_t len;
	const char *id; /* the part's id, for logs (borrowed) */
};

/* --- rewrite_copy.c: input and output ---------------------------------- */

/* Reads exactly len bytes at off of fd; 0 or -1. */
int rw_read_at(int fd, void *buf, size_t len, int64_t off);
/* A heap copy of [off, off + len) of fd, NUL-terminated; NULL on a read error. */
char *rw_read_range(int fd, int64_t off, size_t len);
/* The line end of the message's first line ("\n" or "\r\n"); CRLF when there is none. */
const char *rw_message_eol(int fd, uint64_t size);
/*
 * Checks the caller's header lines and returns them with line ends eol
 * (empty for NULL or ""), *len bytes; NULL if malformed. Caller frees.
 */
char *rw_headers_convert(const char *h, const char *eol, size_t *len);
/*
 * Writes the hl bytes of h, then bytes [0, size) of in_fd with the n edits
 * (sorted, not overlapping) applied, to out_fd; *written counts the bytes.
 * 0, or -1 with errno.
 */
int rw_write_out(int in_fd, uint64_t size, const struct rw_edit *e, size_t n, const char *h,
                 size_t hl, int out_fd, uint64_t *written);

/* --- rewrite_text.c: the bytes that replace ---------------------------- */

/*
 * The template text `which` for one part, with %PART% id, %FILENAME% name
 * ("(part <id>)" without one) and %VIRUS% names over vars (may be NULL).
 * Caller frees.
 */
char *rw_part_text(const struct notify_templates *tpl, const struct notify_vars *vars,
                   const char *which, const char *id, const char *name, const char *names);
/*
 * The new body for a replaced part: text with line ends eol, ending in one
 * only if old_ends_eol (the line end before a boundary is not the part's).
 * *qp says whether it is quoted-printable; *len its bytes. Caller frees.
 */
char *rw_body_text(const char *text, const char *eol, int old_ends_eol, int *qp, size_t *len);
/* Appends the Content-* fields of a replacement text part. */
void rw_add_ct_fields(struct sbuf *b, const char *eol, int qp);
/*
 * Appends the header block hdr (n bytes, up to the body) with its
 * Content-Type, -Transfer-Encoding and -Disposition fields replaced by
 * ours, MIME-Version added when missing, ending in a blank line.
 */
void rw_add_header_block(struct sbuf *b, const char *hdr, size_t n, const char *eol, int qp);
/*
 * The one line that replaces a uuencoded block: text with white space
 * folded, printable ASCII only, never starting with '-', then eol (NULL:
 * none). *len is its length. Caller frees.
 */
char *rw_uu_line(const char *text, const char *eol, size_t *len);

/* --- rewrite_targets.c: part ids --------------------------------------- */

/*
 * Adds the comma-separated names to the target of id in (*t, *n, *cap):
 * the one with that id, or a new one (id copied).
 */
void rw_target_add(struct rewrite_target **t, size_t *n, size_t *cap, const char *id,
                   const char *names);
/*
 * A uu block goes with its text part when that part is a target too: each
 * "N.uuK" target whose "N" is one is folded into it (names merged).
 */
void rw_targets_fold_uu(struct rewrite_target *t, size_t *n);
/* Adds the names of the comma-separated list to *names (no duplicates). */
void rw_names_merge(char **names, const char *list);
/*
 * If id names a uu block ("N.uuK" or "uuK"), stores its text part's id
 * ("N", "" for a bare "uuK") in parent (cap bytes) and returns K; else 0.
 */
unsigned rw_uu_block_of(const char *id, char *parent, size_t cap);

/*
 * If id names a block the walker decoded from a text part (scan/textblocks.h
 * ids: "1.yenc1", "2.hqx1", "1.b64-3", "1.mime1", also below a uu block:
 * "1.uu1.b64-1"), stores the id of that text part, the nearest enclosing
 * MIME leaf ("1", "2"), in parent (cap bytes) and returns 1; else 0.
 */
int rw_text_block_of(const char *id, char *parent, size_t cap);

#endif

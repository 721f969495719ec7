/*
 * mailwalk: finds every part of an RFC 5322 message that carries content:
 * each leaf MIME part (decoded from base64 / quoted-printable), nested
 * message/rfc822 messages (walked in turn), and each uuencoded block inside
 * a text part (`begin 644 name` ... `end`). Parsing is GMime's; uudecoding
 * is GMime's too. It does no scanning itself: the walker (and later the SMTP
 * proxy, to rewrite parts) pass a callback.
 *
 * Part ids are MIME positions as in IMAP ("1", "2.1", "2.1.uu1"); names from
 * the wire are sanitized and never used as file names.
 */
#ifndef PC_MAILWALK_H
#define PC_MAILWALK_H

#include <stddef.h>
#include <stdint.h>

#include "scan/verdict.h"

struct mail_part {
	const char *id;		  /* "1", "2.1", "2.uu1" */
	const char *content_type; /* "application/zip" as declared */
	const char *filename;	  /* sanitized declared name, or NULL */
	int is_uu;		  /* a uuencoded block inside a text part */
	unsigned depth;		  /* message/rfc822 nesting depth, 0 = top */
	void *gmime_object;	  /* the GMimeObject, for callers that rewrite */
};

struct mailwalk_limits {
	unsigned max_parts;	  /* parts per message */
	unsigned max_depth;	  /* nested message/rfc822 */
	uint64_t max_part_bytes;  /* decoded bytes per part */
};

/*
 * Called for each part with its decoded content readable on fd (a seekable
 * temporary file positioned at 0, size bytes). Returns 0 to go on, -1 to stop.
 */
typedef int (*mailwalk_cb)(void *arg, const struct mail_part *part, int fd, uint64_t size);

/*
 * Walks the message read from fd (seekable). Structural damage (missing
 * final boundary, bad encoding) is tolerated as far as GMime tolerates it
 * and noted in v as SCAN_CORRUPT only when no part could be read. Returns 0,
 * or -1 if the callback stopped the walk or a limit was hit (noted in v).
 */
int mailwalk_fd(int fd, const char *path, const struct mailwalk_limits *lim, const char *tmpdir,
		mailwalk_cb cb, void *arg, struct scan_verdict *v);

#endif

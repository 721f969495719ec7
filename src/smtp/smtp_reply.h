/*
 * smtp_reply: parses replies from an SMTP server (the next hop), one line at
 * a time, single or multi-line ("250-..." ... "250 ..."). Pure, no I/O.
 * Also formats replies for the client. A reply owns copies of its lines.
 */
#ifndef PC_SMTP_REPLY_H
#define PC_SMTP_REPLY_H

#include <stddef.h>

#define SMTP_REPLY_MAX_LINES 256

/*
 * How an exchange with an SMTP server ended, for both clients (the
 * proxy's next-hop client and the blocking smtp_send): a complete reply
 * (whatever its code), or a failure of a named class. Every failure is
 * temporary for the message: the proxy answers 4xx, a release is retried.
 */
enum smtp_status {
	SMTP_REPLY = 0,    /* a complete reply arrived; its code says the rest */
	SMTP_ERR_CONNECT,  /* the connection could not be made */
	SMTP_ERR_TIMEOUT,  /* no (complete) reply in time */
	SMTP_ERR_CLOSED,   /* the server closed the connection */
	SMTP_ERR_PROTOCOL, /* a malformed or over-long reply, or talk out of turn */
	SMTP_ERR_TLS,      /* the TLS handshake failed */
	SMTP_ERR_LOCAL,    /* our side: reading the message, a bad argument */
};

/* "reply", "connect", "timeout", "closed", "protocol", "tls", "local". */
const char *smtp_status_name(enum smtp_status st);

struct smtp_reply {
	int code;     /* 220, 250, 451 ... ; 0 before the first line */
	char enh[16]; /* enhanced status code of the first line ("2.1.0"), or "" */
	char **lines; /* text of each line, without code, separator and enh */
	size_t nlines;
	int complete;
};

void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_clear(struct smtp_reply *r);
/*
 * Feeds one line without its line ending. Returns 1 when the reply is
 * complete, 0 when more lines are expected, -1 when the line is malformed
 * (no 3-digit code, code changes between lines, too many lines).
 */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len);
/* True if any line's first word is kw (case-insensitive), e.g. "PIPELINING";
 * sets *arg to the rest of that line (may be ""). For EHLO replies. */
int smtp_reply_has(const struct smtp_reply *r, const char *kw, const char **arg);
/*
 * Appends a copy of text as one more line (control characters become '?'),
 * for building a reply by hand: set r->code (and r->enh), add the lines.
 */
void smtp_reply_add_line(struct smtp_reply *r, const char *text);
/* Makes dst (uninitialized or cleared) a copy of src that owns its lines. */
void smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src);
/*
 * Formats r as wire text ("451-4.4.1 a\r\n451 4.4.1 b\r\n"), with the
 * enhanced code repeated on each line when it had one. Caller frees.
 */
char *smtp_reply_format(const struct smtp_reply *r);

#endif

/*
 * smtp_send: a small blocking SMTP client that hands one stored message to
 * a next hop, for `portcullis-ctl quarantine release`. Never used on the
 * daemon's event loop (the proxy has its own asynchronous client,
 * smtp_client). No TLS, no AUTH, no pipelining. Replies are parsed by
 * smtp_reply, the body is encoded by smtp_data's stuffer.
 */
#ifndef PC_SMTP_SEND_H
#define PC_SMTP_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp_reply.h"

/* A reply line longer than this (before its CR LF) is a protocol failure.
 * RFC 5321 4.5.3.1.5 says 512; servers put long texts in replies. */
#define SMTP_SEND_LINE_MAX 2048
/* The size of smtp_send_result.detail. */
#define SMTP_SEND_DETAIL_MAX 320

/* Where the exchange was when it ended; in this order on the wire. */
enum smtp_send_step {
	SMTP_SEND_SETUP,   /* before connecting: the arguments, the message */
	SMTP_SEND_CONNECT, /* resolving and connecting */
	SMTP_SEND_BANNER,  /* waiting for 220 */
	SMTP_SEND_EHLO,    /* EHLO and its reply */
	SMTP_SEND_HELO,    /* HELO, after EHLO was not answered 250 */
	SMTP_SEND_MAIL,    /* MAIL FROM and its reply */
	SMTP_SEND_RCPT,    /* the RCPT TOs and their replies */
	SMTP_SEND_DATA,    /* DATA, waiting for 354 */
	SMTP_SEND_BODY,    /* the message, the terminator, the final reply */
};

/* "setup", "connect", "banner", "ehlo", "helo", "mail", "rcpt", "data",
 * "body". */
const char *smtp_send_step_name(enum smtp_send_step step);

/* What to send. Everything is borrowed for the call only. */
struct smtp_send_req {
	const char *next_hop;     /* "HOST:PORT" or "[IPV6]:PORT"; HOST may be a name */
	const char *helo;         /* EHLO/HELO name; NULL or "" = this host's name */
	const char *mail_from;    /* with or without <>; NULL or "" = null sender */
	const char *const *rcpts; /* with or without <>; at least one */
	size_t nrcpts;            /* at least 1 */
	int fd;                   /* the message, read with pread from offset 0 */
	uint64_t size;            /* bytes [0, size) of fd are the message */
	uint64_t timeout_ms;      /* bounds each connect, each whole reply, each write stall */
};

/*
 * How the exchange ended; filled in by smtp_send(), owned by the caller,
 * released with smtp_send_result_clear().
 *
 *   status == SMTP_REPLY: the server answered and its answer decided.
 *     reply.code 2xx (only possible with step SMTP_SEND_BODY): delivered.
 *     reply.code 4xx: refused temporarily at step; 5xx: permanently.
 *     When every RCPT is refused, reply is the first 4xx refusal if there
 *     is one (a retry may help), else the first 5xx.
 *   any other status: a failure of that class at step, described in
 *     detail. SMTP_ERR_LOCAL is our side (bad argument, unreadable
 *     message), SMTP_ERR_CONNECT a failed resolve or connect,
 *     SMTP_ERR_TIMEOUT no connect, reply or write progress in time,
 *     SMTP_ERR_CLOSED the server closed or reset the connection,
 *     SMTP_ERR_PROTOCOL a malformed or over-long reply, or a reply out of
 *     turn (a 2xx or 3xx where another was due: reply then holds it).
 *     reply is empty (code 0) unless said otherwise.
 *
 * Refused recipients are logged one per line, whatever the outcome;
 * accepted counts the RCPTs that got 2xx.
 */
struct smtp_send_result {
	enum smtp_status status;
	enum smtp_send_step step;
	struct smtp_reply reply;
	size_t accepted;
	char detail[SMTP_SEND_DETAIL_MAX]; /* "" when status is SMTP_REPLY */
};

/*
 * Sends the message of req (see above) and returns res->status. Says EHLO,
 * HELO if EHLO is not answered 250; MAIL FROM adds SIZE when the server
 * offers it, BODY=8BITMIME when offered and the message has a byte >= 0x80,
 * SMTPUTF8 when offered and the envelope is not ASCII. The body is
 * dot-stuffed, every bare LF is sent as CR LF and a missing final line end
 * is added. Addresses holding CR, LF, < or > (after one enclosing pair),
 * longer than SMTP_PATH_MAX, and empty recipients are refused before
 * anything is sent (SMTP_ERR_LOCAL). Ends with QUIT whenever the last
 * thing read was a complete reply. res needs no initialisation.
 */
enum smtp_status smtp_send(const struct smtp_send_req *req, struct smtp_send_result *res);

/* Frees what res holds and empties it; a zeroed res is fine. */
void smtp_send_result_clear(struct smtp_send_result *res);

/*
 * The reply as wire text (smtp_reply_format()) without line ends, lines
 * joined with sep: ("250-a", "250 b", "\n") -> "250-a\n250 b". Caller
 * frees. An empty reply gives "".
 */
char *smtp_send_reply_text(const struct smtp_reply *r, const char *sep);

#endif

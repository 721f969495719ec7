/*
 * smtp_data: the DATA phase as a pure parser, both ways. No I/O.
 *
 * Receiving: bytes from the client after 354 go in; message bytes come out
 * through a callback: leading dots unstuffed, every line ending normalized
 * to CRLF (a bare LF becomes CRLF; a bare CR is kept as it is). The message
 * ends ONLY at CRLF "." CRLF, never at LF "." LF or any other variant, so a
 * message cannot smuggle a second one past us.
 *
 * Sending: message bytes (CRLF lines, as the spool holds them) go in, and
 * dot-stuffed bytes come out; smtp_stuff_end() gives the terminator.
 */
#ifndef PC_SMTP_DATA_H
#define PC_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Receives message bytes; returns 0, or -1 to stop (e.g. spool failure). */
typedef int (*smtp_data_emit)(void *arg, const char *buf, size_t len);

struct smtp_data_rx {
	int state; /* private */
	uint64_t lines;
	uint64_t bare_lf; /* how many bare LFs were normalized, for the log */
};

void smtp_data_rx_init(struct smtp_data_rx *rx);
/*
 * Pushes len bytes. Returns how many were consumed (all of them unless the
 * end of the message was reached inside this buffer: the bytes after the
 * final CRLF.CRLF are not consumed). *done is set to 1 at the end. Returns
 * (size_t)-1 if emit failed.
 */
size_t smtp_data_rx_push(struct smtp_data_rx *rx, const char *in, size_t len, smtp_data_emit emit,
                         void *arg, int *done);

struct smtp_stuff {
	int state; /* private */
};

void smtp_stuff_init(struct smtp_stuff *st);
/*
 * Dot-stuffs len bytes of in into out, which must hold 2 * len bytes;
 * returns the bytes written. Lines are CRLF; a bare LF is sent as CRLF too.
 */
size_t smtp_stuff_push(struct smtp_stuff *st, const char *in, size_t len, char *out);
/* The terminator to send after the last byte: "\r\n.\r\n" or ".\r\n". */
const char *smtp_stuff_end(const struct smtp_stuff *st);

#endif

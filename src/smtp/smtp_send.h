/*
 * smtp_send: a small blocking SMTP client that hands one stored message to
 * a next hop, for `portcullis-ctl quarantine release`. Never used on the
 * daemon's event loop (the proxy has its own asynchronous client in
 * src/smtp). No TLS, no AUTH, no pipelining.
 */
#ifndef PC_SMTP_SEND_H
#define PC_SMTP_SEND_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sends bytes [0, size) of fd (read with pread) to host_port ("HOST:PORT",
 * "[IPV6]:PORT") with the envelope mail_from ("" = null sender) and rcpts
 * (n >= 1; addresses with or without <>). Says EHLO helo (NULL = host
 * name), HELO if EHLO is refused; MAIL FROM adds BODY=8BITMIME when the
 * server offers it and the message has 8-bit bytes, SMTPUTF8 when offered
 * and the envelope is not ASCII, SIZE when offered. At least one RCPT must
 * be accepted (refusals are logged). The body is dot-stuffed and every
 * bare LF is sent as CRLF; a missing final line end is added.
 *
 * Every connect, read and write waits at most timeout_ms. Returns 0 if the
 * reply to the data was 2xx; 1 if the server refused at some step (4xx or
 * 5xx); -1 on connection, timeout or protocol failure. reply (cap
 * replycap, may be 0) receives the final or refusing reply, lines joined
 * with '\n', or a description of the failure.
 */
int smtp_send(const char *host_port, const char *helo, const char *mail_from,
              const char *const *rcpts, size_t n, int fd, uint64_t size, uint64_t timeout_ms,
              char *reply, size_t replycap);

#endif

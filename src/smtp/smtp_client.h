/*
 * smtp_client: an SMTP client connection on the event loop, for the
 * proxy's next hop and for notices. One command at a time: send a line,
 * wait for the complete reply, call back. Also STARTTLS (client side) and
 * streaming a message body from a spool with dot-stuffing and
 * backpressure. The socket is a net/conn.
 *
 * Every callback gets the outcome's class: SMTP_REPLY with the reply, or a
 * failure (SMTP_ERR_CONNECT, _TIMEOUT, _CLOSED, _PROTOCOL, _TLS, _LOCAL)
 * with r == NULL; smtp_client_error() then says what happened. After a
 * failure every command fails the same way. Callbacks run on the loop,
 * never inside the call that asked; a callback may call smtp_client_free().
 */
#ifndef PC_SMTP_CLIENT_H
#define PC_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "smtp/smtp_reply.h"
#include "spool/spool.h"

struct smtp_client;

/* r is the reply (valid during the call only) when st is SMTP_REPLY. */
typedef void (*smtp_client_cb)(void *arg, enum smtp_status st, const struct smtp_reply *r);

/*
 * Connects to sa and waits for the banner, passed to cb. log_id prefixes
 * the client's log lines ("smtp[42]"; copied). timeout_ms bounds the
 * connect and every wait for a reply or for the server to take our bytes.
 */
struct smtp_client *smtp_client_connect(struct event_base *base, const struct sockaddr *sa,
                                        socklen_t salen, const char *log_id, uint64_t timeout_ms,
                                        smtp_client_cb cb, void *arg);
/* Sends one command line (no CRLF in it; copied) and calls cb with the reply. */
void smtp_client_command(struct smtp_client *c, const char *line, smtp_client_cb cb, void *arg);
/*
 * Sends STARTTLS; on 220 performs the TLS handshake with ctx and calls cb
 * with the 220 once it is done (SMTP_ERR_TLS if it failed). On another
 * reply calls cb with it and stays in plain text.
 */
void smtp_client_starttls(struct smtp_client *c, SSL_CTX *ctx, smtp_client_cb cb, void *arg);
/*
 * After a 354: sends prepend (header lines, may be NULL; copied) then the
 * spool's bytes, dot-stuffed, then the terminator, and calls cb with the
 * final reply. The spool is borrowed until cb runs.
 */
void smtp_client_body(struct smtp_client *c, const char *prepend, const struct spool *sp,
                      smtp_client_cb cb, void *arg);
/* 1 once TLS is up. */
int smtp_client_tls(const struct smtp_client *c);
/* "TLSv1.3:TLS_AES_256_GCM_SHA384", or "none"; buf returned. */
const char *smtp_client_tls_describe(const struct smtp_client *c, char *buf, size_t cap);
/* 1 after a failure: every command will fail. */
int smtp_client_failed(const struct smtp_client *c);
/* "next hop 127.0.0.1:10026: connection closed" after a failure, else "". */
const char *smtp_client_error(const struct smtp_client *c);
/* The server as "127.0.0.1:10026". */
const char *smtp_client_peer(const struct smtp_client *c);
/* Closes the connection; pending callbacks are not called. NULL is fine. */
void smtp_client_free(struct smtp_client *c);

#endif

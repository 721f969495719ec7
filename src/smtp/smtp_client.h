/*
 * smtp_client: the proxy's connection to an SMTP next hop, on the event
 * loop. One command at a time: send a line, wait for the complete reply,
 * call back. Also STARTTLS (client side) and streaming a message body from
 * a spool with dot-stuffing and backpressure.
 *
 * A failure of any kind (refused, timeout, connection lost, malformed
 * reply) calls the pending callback with a reply whose code is 0 and whose
 * first line says what happened; after that every command fails the same
 * way. Callbacks run on the loop; a callback may call smtp_client_free().
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

/* r is valid during the call only. */
typedef void (*smtp_client_cb)(void *arg, const struct smtp_reply *r);

/*
 * Connects to sa and waits for the banner, passed to cb. label names the
 * next hop in logs and failure texts ("127.0.0.1:10026"). timeout_ms bounds
 * the connect and every wait for a reply.
 */
struct smtp_client *smtp_client_connect(struct event_base *base, const struct sockaddr *sa,
                                        socklen_t salen, const char *label, uint64_t timeout_ms,
                                        smtp_client_cb cb, void *arg);
/* Sends one command line (no CRLF in it) and calls cb with the reply. */
void smtp_client_command(struct smtp_client *c, const char *line, smtp_client_cb cb, void *arg);
/*
 * Sends STARTTLS; on 220 performs the TLS handshake with ctx and calls cb
 * with the 220 reply once it is done (code 0 if the handshake failed). On
 * another reply calls cb with it and stays in plain text.
 */
void smtp_client_starttls(struct smtp_client *c, SSL_CTX *ctx, smtp_client_cb cb, void *arg);
/*
 * After a 354: sends prepend (header lines, may be NULL) then the spool's
 * bytes, dot-stuffed, then the terminator, and calls cb with the final
 * reply. The spool is borrowed until cb runs.
 */
void smtp_client_body(struct smtp_client *c, const char *prepend, const struct spool *sp,
                      smtp_client_cb cb, void *arg);
/* 1 once TLS is up. */
int smtp_client_tls(const struct smtp_client *c);
/* 1 after a failure: every command will fail. */
int smtp_client_failed(const struct smtp_client *c);
const char *smtp_client_label(const struct smtp_client *c);
/* Closes the connection; pending callbacks are not called. NULL is fine. */
void smtp_client_free(struct smtp_client *c);

#endif

/*
 * smtp_nexthop: the proxy's session with its next hop, as one explicit
 * state machine over smtp_client:
 *
 *   connecting --banner--> greeted --hello--> ehlo [-> starttls -> ehlo]
 *       [-> xclient -> ehlo] -> ready --mail--> [xforward ->] mail -> tx
 *   tx --rcpt--> rcpt -> tx      tx --data--> data -> body -> ready
 *                                   (DATA refused: data -> rset -> ready)
 *   tx|ready --rset--> rset -> ready        any --quit--> quit
 *   any failure -> failed (every later request fails the same way)
 *
 * The session asks for one step at a time and gets one callback per step;
 * callbacks run on the loop, never inside the request. Owns the
 * smtp_client and the capabilities the next hop announced.
 */
#ifndef PC_SMTP_NEXTHOP_H
#define PC_SMTP_NEXTHOP_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "smtp/smtp_reply.h"
#include "spool/spool.h"

struct nexthop;

/* What the next hop announced in its last EHLO reply. */
struct nexthop_caps {
	int pipelining, eightbit, enh, utf8, starttls, xforward, xclient, dsn;
	uint64_t size; /* SIZE limit, 0 if none announced */
};

/* How to talk to it: the listener's settings (borrowed for the nexthop's life). */
struct nexthop_opts {
	const char *hostname; /* ours, for EHLO */
	int tls_mode;         /* TLS_NONE, TLS_MAY, TLS_REQUIRE */
	SSL_CTX *tls_ctx;     /* client context for STARTTLS */
	int forward_client;   /* FWD_AUTO, FWD_XFORWARD, FWD_XCLIENT, FWD_OFF */
	uint64_t timeout_ms;
};

/* The original client, passed on with XCLIENT or XFORWARD (borrowed for the call). */
struct nexthop_client {
	const char *name; /* reverse name, or NULL: [UNAVAILABLE] */
	const char *addr; /* "192.0.2.1", "2001:db8::1" */
	unsigned port;
	const char *helo;
	const char *proto; /* "ESMTP", "SMTP" */
};

/* How the EHLO dialogue ended. */
enum nexthop_hello {
	NH_HELLO_OK,          /* ready; nexthop_caps() says what it offers */
	NH_HELLO_UNAVAILABLE, /* refused or failed (logged) */
	NH_HELLO_TLS_REFUSED, /* tls_mode = require and STARTTLS was refused */
	NH_HELLO_NO_TLS,      /* tls_mode = require and STARTTLS is not offered */
};

/* r is the reply when st is SMTP_REPLY (valid during the call only). */
typedef void (*nexthop_cb)(void *arg, enum smtp_status st, const struct smtp_reply *r);
typedef void (*nexthop_hello_cb)(void *arg, enum nexthop_hello result);

/* Connects; cb gets the banner (or the failure). log_id is copied. */
struct nexthop *nexthop_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                                const char *log_id, const struct nexthop_opts *o, nexthop_cb cb,
                                void *arg);
/* The EHLO dialogue, for the client's HELO or EHLO; ends a transaction. */
void nexthop_hello(struct nexthop *nh, const struct nexthop_client *ci, nexthop_hello_cb cb,
                   void *arg);
/*
 * MAIL FROM:<from> with params (" SIZE=1234 BODY=8BITMIME", copied), after
 * XFORWARD with xf when the next hop offers it and the listener passes the
 * client on that way (xf NULL: no XFORWARD). cb gets MAIL's reply.
 */
void nexthop_mail(struct nexthop *nh, const char *from, const char *params,
                  const struct nexthop_client *xf, nexthop_cb cb, void *arg);
/* RCPT TO:<to> with params (copied); cb gets the reply. */
void nexthop_rcpt(struct nexthop *nh, const char *to, const char *params, nexthop_cb cb, void *arg);
/* RSET; cb gets the reply. */
void nexthop_rset(struct nexthop *nh, nexthop_cb cb, void *arg);
/*
 * DATA, then on 354 prepend (may be NULL) and the spool's bytes; cb gets
 * the final reply, or DATA's refusal (after an RSET that ends the
 * transaction the next hop still holds). The spool is borrowed until cb
 * runs.
 */
void nexthop_data(struct nexthop *nh, const char *prepend, const struct spool *sp, nexthop_cb cb,
                  void *arg);
/* QUIT, without waiting for the reply (the nexthop is about to be freed). */
void nexthop_quit(struct nexthop *nh);

const struct nexthop_caps *nexthop_caps(const struct nexthop *nh);
/* 1 between an accepted MAIL and the end of the transaction. */
int nexthop_in_tx(const struct nexthop *nh);
int nexthop_tls(const struct nexthop *nh);
int nexthop_failed(const struct nexthop *nh);
/* What failed ("next hop 127.0.0.1:10026: timeout"), or "". */
const char *nexthop_error(const struct nexthop *nh);
/* NULL is fine; no callback runs after this. */
void nexthop_free(struct nexthop *nh);

#endif

/*
 * fake_smtp: a scripted SMTP server on the test's event loop, playing the
 * next hop. It listens on 127.0.0.1 (an ephemeral port) and answers each
 * command with a step: a reply, a close, silence, raw bytes, or a STARTTLS
 * that succeeds or answers the handshake with garbage.
 *
 * Two ways to script it:
 * - sequential: the steps in order (step 0 is the banner); each command
 *   must start with the step's expect prefix, or the mismatch is recorded;
 * - rules: every command takes the first step whose prefix matches, and
 *   what no step matches gets a default (a normal, accepting server).
 *
 * It records what it received: every command line (and "." at the end of
 * a body) in log, each message body exactly as on the wire (dot-stuffed)
 * in bodies. Include after cmocka.h.
 */
#ifndef PC_FAKE_SMTP_H
#define PC_FAKE_SMTP_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "testnet.h"
#include "util/strbuf.h"

enum fake_act {
	FA_REPLY,       /* send text ("\n" separates lines; CR LF added) */
	FA_REPLY_CLOSE, /* send text, close once it is out */
	FA_CLOSE,       /* close without a word */
	FA_RESET,       /* reset the connection (RST) */
	FA_HANG,        /* say nothing, ever; keep the connection */
	FA_RAW,         /* send text exactly as given */
	FA_TLS,         /* send text (a 220), then TLS as the server */
	FA_TLS_GARBAGE, /* send text (a 220), answer the ClientHello with garbage */
};

struct fake_step {
	const char *expect; /* command prefix; NULL: the banner; ".": the end of a body */
	enum fake_act act;
	const char *text;
};

struct fake_conn;

struct fake_smtp {
	struct event_base *base;
	struct evconnlistener *l;
	unsigned port;
	const struct fake_step *steps;
	size_t nsteps;
	int sequential;
	SSL_CTX *tls; /* for FA_TLS */
	struct fake_conn *conns;
	int nconns, nclosed; /* connections accepted, and closed by either side */
	int nmsgs;           /* bodies received whole */
	struct sbuf log;     /* "EHLO x\nMAIL FROM:<a>\n...\n" */
	struct sbuf bodies;  /* the bodies, one after the other */
	int errors;
	char err[256]; /* the first mismatch */
};

/* Starts listening; steps are borrowed (end with a {NULL, 0, NULL} row if
 * the count is not given: nsteps 0 counts them). tls may be NULL. */
struct fake_smtp *fake_new(struct event_base *base, const struct fake_step *steps, size_t nsteps,
                           int sequential, SSL_CTX *tls);
void fake_free(struct fake_smtp *f);
/* The log so far (borrowed, "" if empty). */
const char *fake_log(const struct fake_smtp *f);
const char *fake_bodies(const struct fake_smtp *f);
/* "smtp:127.0.0.1:PORT" into buf. */
const char *fake_next_hop(const struct fake_smtp *f, char *buf, size_t cap);
/* Sends text (as FA_REPLY) on every connection that hangs, which then goes on. */
void fake_release(struct fake_smtp *f, const char *text);
/* Runs the loop until every accepted connection is closed, at most ms. */
int fake_wait_closed(struct fake_smtp *f, unsigned ms);

#endif

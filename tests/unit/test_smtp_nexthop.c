/*
 * Unit tests for smtp/smtp_nexthop and the smtp_client under it, on a real
 * libevent loop against fake_smtp, a scripted next hop on the same loop.
 *
 * Each scenario is a list of requests (connect, hello, mail, rcpt, rset,
 * data, quit) and the fake's script (expected command, then a reply, a
 * close, silence, raw bytes, or STARTTLS that works or fails); it checks
 * the callbacks in order ("mail=250+tx": MAIL's reply, then in a
 * transaction), their status class, what the fake received, and whether
 * the next hop ended failed. Every state is covered: the banner (220, 421,
 * close, timeout, malformed, refused connect), EHLO (each capability
 * parsed, refused, a reply line too long, too many lines), STARTTLS
 * (none/may/require: offered and done, refused, not offered, a failed
 * handshake), XCLIENT (auto, xclient, off; refused; closed), XFORWARD
 * before MAIL (offered, refused, closed), MAIL, RCPT, RSET, DATA with the
 * body's dot-stuffing checked on the wire and the final reply, DATA
 * refused, a close during the body, a server talking out of turn, and
 * nexthop_in_tx in every state. Then "a peer that closes at every step":
 * two complete dialogues rerun with the server closing at each step in
 * turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "fake_smtp.h"
#include "net/tls.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_nexthop.h"
#include "spool/spool.h"
#include "testnet.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WAIT_MS 3000

static struct event_base *base;
static char tmpdir[64];
static SSL_CTX *srv_ctx, *cli_ctx;

/* Reply text too big for the client: filled in main(). */
static char long_line[5200];   /* "250 xxxx...", over 4096 bytes */
static char many_lines[4000];  /* 300 lines "250-x" */
static char out_of_turn[6000]; /* a 250, then 5000 bytes nobody asked for */

/*
 * The requests: MAIL_P with parameters, _XF with an XFORWARD client, 6:
 * IPv6, DATA_BIG a body of megabytes, DATA_BAD a spool that cannot be
 * read; IDLE is no request, a pause in which the server may speak.
 */
enum op {
	END = 0,
	CONNECT,
	HELLO,
	HELLO6,
	MAIL,
	MAIL_P,
	MAIL_XF,
	MAIL_XF6,
	RCPT,
	RSET,
	DATA,
	DATA_BIG,
	DATA_BAD,
	IDLE,
	QUIT
};
static const char *op_names[] = {
    [CONNECT] = "connect", [HELLO] = "hello",  [HELLO6] = "hello",  [MAIL] = "mail",
    [MAIL_P] = "mail",     [MAIL_XF] = "mail", [MAIL_XF6] = "mail", [RCPT] = "rcpt",
    [RSET] = "rset",       [DATA] = "data",    [DATA_BIG] = "data", [DATA_BAD] = "data",
    [IDLE] = "idle",       [QUIT] = "quit",
};

#define MAX_STEPS 16

struct scenario {
	const char *name;
	int tls_mode, fwd;
	unsigned timeout_ms; /* 0: WAIT_MS */
	enum op ops[12];
	struct fake_step steps[MAX_STEPS];
	const char *want; /* the callbacks */
	const char *wire; /* what the fake received (commands, "." after a body), or NULL */
	const char *body; /* the bodies as on the wire, or NULL */
	int failed;       /* nexthop_failed() at the end */
	int tls;          /* nexthop_tls() at the end */
	int no_server;    /* connect to a closed port */
	int no_tls_ctx;   /* no client context for STARTTLS */
};

/* One step of the fake next hop's script. */
#define S(expect, act, text)                                                                       \
	{                                                                                          \
		expect, act, text                                                                  \
	}
#define BANNER S(NULL, FA_REPLY, "220 fake.test ESMTP")
#define EHLO_OK S("EHLO gw.test", FA_REPLY, "250-fake.test\n250 PIPELINING")
#define EHLO_TLS S("EHLO gw.test", FA_REPLY, "250-fake.test\n250 STARTTLS")
#define EHLO_XCLIENT                                                                               \
	S("EHLO gw.test", FA_REPLY, "250-fake.test\n250 XCLIENT NAME ADDR PORT HELO PROTO")
#define EHLO_XFORWARD                                                                              \
	S("EHLO gw.test", FA_REPLY, "250-fake.test\n250 XFORWARD NAME ADDR PORT PROTO HELO")
#define EHLO_BOTH S("EHLO gw.test", FA_REPLY, "250-fake.test\n250-XFORWARD NAME\n250 XCLIENT ADDR")
#define MAIL_OK S("MAIL FROM:<a@example.org>", FA_REPLY, "250 2.1.0 ok")
#define RCPT_OK S("RCPT TO:<b@example.org>", FA_REPLY, "250 2.1.5 ok")
#define DATA_OK S("DATA", FA_REPLY, "354 go")
#define DOT_OK S(".", FA_REPLY, "250 2.0.0 queued")
#define XCLIENT_LINE                                                                               \
	"XCLIENT NAME=[UNAVAILABLE] ADDR=192.0.2.7 PORT=4242 HELO=client.test PROTO=ESMTP"
#define XFORWARD_LINE                                                                              \
	"XFORWARD NAME=client.example ADDR=192.0.2.7 PORT=4242 PROTO=ESMTP HELO=client.test"

/* The message sent by DATA, and how it must look on the wire (dot-stuffed). */
static const char msg[] = "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nplain\r\n.\r\n"
                          "bare\nlf\r\nno final line end";
static const char msg_wire[] =
    "X-Test: yes\r\nSubject: dots\r\n\r\n..leading dot\r\n...two dots\r\n"
    "plain\r\n..\r\nbare\r\nlf\r\nno final line end\r\n";

static const struct nexthop_client ci4 = {NULL, "192.0.2.7", 4242, "client.test", "ESMTP"};
static const struct nexthop_client ci6 = {NULL, "2001:db8::7", 4243, "client test", "SMTP"};
static const struct nexthop_client xf4 = {"client.example", "192.0.2.7", 4242, "client.test",
                                          "ESMTP"};

static const struct scenario scenarios[] = {
    /* ---- the banner */
    {.name = "banner 220",
     .ops = {CONNECT, QUIT},
     .steps = {BANNER},
     .want = "connect=220 quit",
     .wire = "QUIT\n"},
    {.name = "banner multi-line",
     .ops = {CONNECT},
     .steps = {{NULL, FA_REPLY, "220-fake.test\n220 ESMTP"}},
     .want = "connect=220"},
    {.name = "banner 421",
     .ops = {CONNECT},
     .steps = {{NULL, FA_REPLY, "421 4.3.2 busy"}},
     .want = "connect=421",
     .failed = 1},
    {.name = "banner close",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {{NULL, FA_CLOSE, NULL}},
     .want = "connect=closed hello=unavailable mail=closed",
     .failed = 1},
    {.name = "banner timeout",
     .timeout_ms = 300,
     .ops = {CONNECT},
     .steps = {{NULL, FA_HANG, NULL}},
     .want = "connect=timeout",
     .failed = 1},
    {.name = "banner malformed",
     .ops = {CONNECT},
     .steps = {{NULL, FA_RAW, "hello there\r\n"}},
     .want = "connect=protocol",
     .failed = 1},
    {.name = "banner code changes",
     .ops = {CONNECT},
     .steps = {{NULL, FA_RAW, "220-a\r\n250 b\r\n"}},
     .want = "connect=protocol",
     .failed = 1},
    {.name = "connect refused",
     .ops = {CONNECT, HELLO, QUIT},
     .steps = {{0}},
     .want = "connect=connect hello=unavailable quit",
     .failed = 1,
     .no_server = 1},
    /* ---- EHLO */
    {.name = "ehlo 250",
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, EHLO_OK},
     .want = "connect=220 hello=ok",
     .wire = "EHLO gw.test\n"},
    {.name = "ehlo refused",
     .ops = {CONNECT, HELLO, QUIT},
     .steps = {BANNER, {"EHLO", FA_REPLY, "550 5.7.1 go away"}},
     .want = "connect=220 hello=unavailable quit",
     .wire = "EHLO gw.test\nQUIT\n"},
    {.name = "ehlo close",
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, {"EHLO", FA_CLOSE, NULL}},
     .want = "connect=220 hello=unavailable",
     .failed = 1},
    {.name = "ehlo timeout",
     .timeout_ms = 300,
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, {"EHLO", FA_HANG, NULL}},
     .want = "connect=220 hello=unavailable",
     .failed = 1},
    {.name = "ehlo line too long",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, {"EHLO", FA_RAW, long_line}},
     .want = "connect=220 hello=unavailable mail=protocol",
     .failed = 1},
    {.name = "ehlo too many lines",
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, {"EHLO", FA_RAW, many_lines}},
     .want = "connect=220 hello=unavailable",
     .failed = 1},
    {.name = "out of turn, past a line",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, {"EHLO", FA_RAW, out_of_turn}, {"MAIL", FA_HANG, NULL}},
     .want = "connect=220 hello=ok mail=protocol",
     .failed = 1},
    {.name = "out of turn 421 answers the next command",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER,
               {"EHLO", FA_RAW, "250 fake.test\r\n421 4.3.2 shutting down\r\n"},
               {"MAIL", FA_HANG, NULL}},
     .want = "connect=220 hello=ok mail=421"},
    {.name = "out of turn while idle: failed before the next command",
     .ops = {CONNECT, HELLO, IDLE, MAIL},
     .steps = {BANNER, {"EHLO", FA_RAW, out_of_turn}},
     .want = "connect=220 hello=ok idle mail=protocol",
     .failed = 1},
    {.name = "reset by the server",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, EHLO_OK, {"MAIL", FA_RESET, NULL}},
     .want = "connect=220 hello=ok mail=closed",
     .failed = 1},
    /* ---- STARTTLS */
    {.name = "tls may: offered, done",
     .tls_mode = TLS_MAY,
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA, QUIT},
     .steps = {BANNER,
               EHLO_TLS,
               {"STARTTLS", FA_TLS, "220 2.0.0 go ahead"},
               EHLO_OK,
               MAIL_OK,
               RCPT_OK,
               DATA_OK,
               DOT_OK},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=250 quit",
     .wire = "EHLO gw.test\nSTARTTLS\nEHLO gw.test\nMAIL FROM:<a@example.org>\nRCPT "
             "TO:<b@example.org>\nDATA\n.\nQUIT\n",
     .body = msg_wire,
     .tls = 1},
    {.name = "tls may: refused, plain",
     .tls_mode = TLS_MAY,
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, EHLO_TLS, {"STARTTLS", FA_REPLY, "454 4.7.0 not now"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\nSTARTTLS\nMAIL FROM:<a@example.org>\n"},
    {.name = "tls may: handshake fails",
     .tls_mode = TLS_MAY,
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, EHLO_TLS, {"STARTTLS", FA_TLS_GARBAGE, "220 2.0.0 go ahead"}},
     .want = "connect=220 hello=unavailable mail=tls",
     .failed = 1},
    {.name = "tls may: no client context",
     .tls_mode = TLS_MAY,
     .no_tls_ctx = 1,
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, EHLO_TLS, {"STARTTLS", FA_REPLY, "220 go"}},
     .want = "connect=220 hello=unavailable",
     .failed = 1},
    {.name = "tls may: STARTTLS closed",
     .tls_mode = TLS_MAY,
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, EHLO_TLS, {"STARTTLS", FA_CLOSE, NULL}},
     .want = "connect=220 hello=unavailable",
     .failed = 1},
    {.name = "tls may: not offered",
     .tls_mode = TLS_MAY,
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, EHLO_OK},
     .want = "connect=220 hello=ok",
     .wire = "EHLO gw.test\n"},
    {.name = "tls none: offered, not used",
     .tls_mode = TLS_NONE,
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, EHLO_TLS, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\nMAIL FROM:<a@example.org>\n"},
    {.name = "tls require: done",
     .tls_mode = TLS_REQUIRE,
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, EHLO_TLS, {"STARTTLS", FA_TLS, "220 go"}, EHLO_OK},
     .want = "connect=220 hello=ok",
     .wire = "EHLO gw.test\nSTARTTLS\nEHLO gw.test\n",
     .tls = 1},
    {.name = "tls require: refused",
     .tls_mode = TLS_REQUIRE,
     .ops = {CONNECT, HELLO, QUIT},
     .steps = {BANNER, EHLO_TLS, {"STARTTLS", FA_REPLY, "454 4.7.0 no"}},
     .want = "connect=220 hello=tls-refused quit",
     .wire = "EHLO gw.test\nSTARTTLS\nQUIT\n"},
    {.name = "tls require: not offered",
     .tls_mode = TLS_REQUIRE,
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, EHLO_OK},
     .want = "connect=220 hello=no-tls",
     .wire = "EHLO gw.test\n"},
    /* ---- XCLIENT */
    {.name = "xclient auto, only xclient offered",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER,
               EHLO_XCLIENT,
               {"XCLIENT", FA_REPLY, "220 fake.test ESMTP"},
               EHLO_XCLIENT,
               MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\n" XCLIENT_LINE "\nEHLO gw.test\nMAIL FROM:<a@example.org>\n"},
    {.name = "xclient, v6 client, helo xtext",
     .fwd = FWD_XCLIENT,
     .ops = {CONNECT, HELLO6},
     .steps = {BANNER, EHLO_BOTH, {"XCLIENT", FA_REPLY, "220 ok"}, EHLO_BOTH},
     .want = "connect=220 hello=ok",
     .wire = "EHLO gw.test\nXCLIENT NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::7 PORT=4243 "
             "HELO=client+20test PROTO=SMTP\nEHLO gw.test\n"},
    {.name = "xclient refused: go on",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, EHLO_XCLIENT, {"XCLIENT", FA_REPLY, "550 5.7.0 not you"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\n" XCLIENT_LINE "\nMAIL FROM:<a@example.org>\n"},
    {.name = "xclient closed",
     .ops = {CONNECT, HELLO},
     .steps = {BANNER, EHLO_XCLIENT, {"XCLIENT", FA_CLOSE, NULL}},
     .want = "connect=220 hello=unavailable",
     .failed = 1},
    {.name = "xclient after starttls",
     .tls_mode = TLS_MAY,
     .fwd = FWD_XCLIENT,
     .ops = {CONNECT, HELLO},
     .steps = {BANNER,
               {"EHLO", FA_REPLY, "250-fake\n250-STARTTLS\n250 XCLIENT ADDR"},
               {"STARTTLS", FA_TLS, "220 go"},
               EHLO_XCLIENT,
               {"XCLIENT", FA_REPLY, "220 ok"},
               EHLO_XCLIENT},
     .want = "connect=220 hello=ok",
     .wire = "EHLO gw.test\nSTARTTLS\nEHLO gw.test\n" XCLIENT_LINE "\nEHLO gw.test\n",
     .tls = 1},
    {.name = "auto: both offered, xforward wins",
     .ops = {CONNECT, HELLO, MAIL_XF},
     .steps = {BANNER, EHLO_BOTH, {"XFORWARD", FA_REPLY, "250 ok"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\n" XFORWARD_LINE "\nMAIL FROM:<a@example.org>\n"},
    {.name = "off: neither",
     .fwd = FWD_OFF,
     .ops = {CONNECT, HELLO, MAIL_XF},
     .steps = {BANNER, EHLO_BOTH, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\nMAIL FROM:<a@example.org>\n"},
    {.name = "xclient mode: no xforward",
     .fwd = FWD_XCLIENT,
     .ops = {CONNECT, HELLO, MAIL_XF},
     .steps = {BANNER, EHLO_XFORWARD, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\nMAIL FROM:<a@example.org>\n"},
    /* ---- XFORWARD and MAIL */
    {.name = "xforward offered",
     .fwd = FWD_XFORWARD,
     .ops = {CONNECT, HELLO, MAIL_XF},
     .steps = {BANNER, EHLO_XFORWARD, {"XFORWARD", FA_REPLY, "250 ok"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\n" XFORWARD_LINE "\nMAIL FROM:<a@example.org>\n"},
    {.name = "xforward v6",
     .fwd = FWD_XFORWARD,
     .ops = {CONNECT, HELLO, MAIL_XF6},
     .steps = {BANNER, EHLO_XFORWARD, {"XFORWARD", FA_REPLY, "250 ok"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\nXFORWARD NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::7 PORT=4243 PROTO=SMTP "
             "HELO=client+20test\nMAIL FROM:<a@example.org>\n"},
    {.name = "xforward refused: mail anyway",
     .ops = {CONNECT, HELLO, MAIL_XF},
     .steps = {BANNER, EHLO_XFORWARD, {"XFORWARD", FA_REPLY, "550 no"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\n" XFORWARD_LINE "\nMAIL FROM:<a@example.org>\n"},
    {.name = "xforward closed",
     .ops = {CONNECT, HELLO, MAIL_XF, RCPT},
     .steps = {BANNER, EHLO_XFORWARD, {"XFORWARD", FA_CLOSE, NULL}},
     .want = "connect=220 hello=ok mail=closed rcpt=closed",
     .failed = 1},
    {.name = "xforward not offered",
     .ops = {CONNECT, HELLO, MAIL_XF},
     .steps = {BANNER, EHLO_OK, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx",
     .wire = "EHLO gw.test\nMAIL FROM:<a@example.org>\n"},
    {.name = "mail params",
     .ops = {CONNECT, HELLO, MAIL_P},
     .steps = {BANNER,
               EHLO_OK,
               {"MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME", FA_REPLY, "250 ok"}},
     .want = "connect=220 hello=ok mail=250+tx"},
    {.name = "mail 451",
     .ops = {CONNECT, HELLO, MAIL, MAIL},
     .steps = {BANNER, EHLO_OK, {"MAIL", FA_REPLY, "451 4.3.0 later"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=451 mail=250+tx"},
    {.name = "mail 550",
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, EHLO_OK, {"MAIL", FA_REPLY, "550 no"}},
     .want = "connect=220 hello=ok mail=550"},
    {.name = "mail close",
     .ops = {CONNECT, HELLO, MAIL, RCPT, RSET, DATA, QUIT},
     .steps = {BANNER, EHLO_OK, {"MAIL", FA_CLOSE, NULL}},
     .want = "connect=220 hello=ok mail=closed rcpt=closed rset=closed data=closed quit",
     .failed = 1},
    {.name = "mail timeout",
     .timeout_ms = 300,
     .ops = {CONNECT, HELLO, MAIL},
     .steps = {BANNER, EHLO_OK, {"MAIL", FA_HANG, NULL}},
     .want = "connect=220 hello=ok mail=timeout",
     .failed = 1},
    /* ---- RCPT, RSET */
    {.name = "rcpt 250, 550, 250",
     .ops = {CONNECT, HELLO, MAIL, RCPT, RCPT, RCPT},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, {"RCPT", FA_REPLY, "550 5.1.1 unknown"}, RCPT_OK},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx rcpt=550+tx rcpt=250+tx"},
    {.name = "rcpt close",
     .ops = {CONNECT, HELLO, MAIL, RCPT},
     .steps = {BANNER, EHLO_OK, MAIL_OK, {"RCPT", FA_CLOSE, NULL}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=closed",
     .failed = 1},
    {.name = "rset in a transaction",
     .ops = {CONNECT, HELLO, MAIL, RCPT, RSET, MAIL},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, {"RSET", FA_REPLY, "250 2.0.0 ok"}, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx rset=250 mail=250+tx",
     .wire = "EHLO gw.test\nMAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>\nRSET\nMAIL "
             "FROM:<a@example.org>\n"},
    {.name = "rset close",
     .ops = {CONNECT, HELLO, MAIL, RSET},
     .steps = {BANNER, EHLO_OK, MAIL_OK, {"RSET", FA_CLOSE, NULL}},
     .want = "connect=220 hello=ok mail=250+tx rset=closed",
     .failed = 1},
    {.name = "hello again ends the transaction",
     .ops = {CONNECT, HELLO, MAIL, HELLO},
     .steps = {BANNER, EHLO_OK, MAIL_OK, EHLO_OK},
     .want = "connect=220 hello=ok mail=250+tx hello=ok"},
    /* ---- DATA and the body */
    {.name = "data 250",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA, MAIL},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, DATA_OK, DOT_OK, MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=250 mail=250+tx",
     .body = msg_wire},
    {.name = "data 451 after the body",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, DATA_OK, {".", FA_REPLY, "451 4.3.0 try later"}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=451",
     .body = msg_wire},
    {.name = "data 554 after the body",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, DATA_OK, {".", FA_REPLY, "554 5.7.1 no"}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=554"},
    /* A refused DATA leaves the next hop's transaction open: RSET ends it
     * before the refusal is reported, and the next MAIL is not nested. */
    {.name = "data refused",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA, MAIL},
     .steps = {BANNER,
               EHLO_OK,
               MAIL_OK,
               RCPT_OK,
               {"DATA", FA_REPLY, "554 5.5.1 no valid recipients"},
               {"RSET", FA_REPLY, "250 2.0.0 ok"},
               MAIL_OK},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=554 mail=250+tx",
     .body = ""},
    {.name = "data refused, then the next hop closes at RSET",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA},
     .steps = {BANNER,
               EHLO_OK,
               MAIL_OK,
               RCPT_OK,
               {"DATA", FA_REPLY, "554 5.5.1 no valid recipients"},
               {"RSET", FA_CLOSE, NULL}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=554",
     .failed = 1,
     .body = ""},
    {.name = "data closed",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, {"DATA", FA_CLOSE, NULL}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=closed",
     .failed = 1},
    {.name = "close during the body",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA_BIG},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, {"DATA", FA_REPLY_CLOSE, "354 go"}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=closed",
     .failed = 1},
    {.name = "big body delivered",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA_BIG},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, DATA_OK, DOT_OK},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=250"},
    {.name = "the spool cannot be read",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA_BAD},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, DATA_OK},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=local",
     .failed = 1},
    {.name = "close after the body",
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, DATA_OK, {".", FA_CLOSE, NULL}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=closed",
     .body = msg_wire,
     .failed = 1},
    {.name = "no final reply",
     .timeout_ms = 300,
     .ops = {CONNECT, HELLO, MAIL, RCPT, DATA},
     .steps = {BANNER, EHLO_OK, MAIL_OK, RCPT_OK, DATA_OK, {".", FA_HANG, NULL}},
     .want = "connect=220 hello=ok mail=250+tx rcpt=250+tx data=timeout",
     .failed = 1},
};

/* ------------------------------------------------------------- the driver */

struct driver {
	struct nexthop *nh;
	struct sbuf trace;
	int ncb;
	int in_call; /* inside a nexthop_* request */
};

static void
note(struct driver *d, const char *op, const char *result)
{
	if (d->in_call)
		fail_msg("%s: callback inside the request", op);
	tn_addf(&d->trace, "%s%s=%s%s", d->trace.len ? " " : "", op, result,
	        nexthop_in_tx(d->nh) ? "+tx" : "");
	d->ncb++;
}

static const char *cur_op;

static void
nh_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct driver *d = arg;
	char res[32];

	if (st == SMTP_REPLY) {
		assert_non_null(r);
		assert_true(r->complete);
		snprintf(res, sizeof(res), "%d", r->code);
	} else {
		assert_null(r);
		assert_true(nexthop_failed(d->nh));
		assert_true(nexthop_error(d->nh)[0] != '\0');
		snprintf(res, sizeof(res), "%s", smtp_status_name(st));
	}
	note(d, cur_op, res);
}

static void
hello_cb(void *arg, enum nexthop_hello result)
{
	static const char *names[] = {"ok", "unavailable", "tls-refused", "no-tls"};

	note(arg, "hello", names[result]);
}

struct want_cb {
	struct driver *d;
	int before;
};

static int
called_back(void *arg)
{
	struct want_cb *w = arg;

	return w->d->ncb != w->before;
}

static struct spool *
make_spool(int big)
{
	struct spool *sp = spool_new(tmpdir, 1 << 20);

	if (!big) {
		assert_int_equal(spool_write(sp, msg, sizeof(msg) - 1), 0);
		return sp;
	}
	/* 3 MB of lines, some starting with a dot. */
	for (int i = 0; i < 3 * 1024 * 16; i++) {
		char line[64];

		snprintf(line, sizeof(line), "%s%058d\r\n", i % 7 ? "" : ".", i);
		assert_int_equal(spool_write(sp, line, strlen(line)), 0);
	}
	return sp;
}

/*
 * Runs scenario sc, with its steps (sc->steps unless steps is given);
 * returns the trace (caller frees) and the fake's findings in *wire,
 * *body; *failed is nexthop_failed() at the end, or before a QUIT (after
 * which the server closes), *tls nexthop_tls() at the end.
 */
static char *
run(const struct scenario *sc, const struct fake_step *steps, char **wire, char **body, int *failed,
    int *tls)
{
	struct nexthop_opts o = {
	    .hostname = "gw.test",
	    .tls_mode = sc->tls_mode,
	    .tls_ctx = sc->no_tls_ctx ? NULL : cli_ctx,
	    .forward_client = sc->fwd,
	    .timeout_ms = sc->timeout_ms ? sc->timeout_ms : WAIT_MS,
	};
	struct fake_smtp *f = NULL;
	struct driver d = {0};
	struct spool *sp = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	int failed_before_quit = -1;

	if (sc->no_server)
		len = tn_sockaddr(tn_free_port(), &ss);
	else {
		f = fake_new(base, steps ? steps : sc->steps, 0, 1, srv_ctx);
		len = tn_sockaddr(f->port, &ss);
	}
	for (size_t i = 0; i < sizeof(sc->ops) / sizeof(sc->ops[0]) && sc->ops[i] != END; i++) {
		enum op op = sc->ops[i];
		struct want_cb w = {&d, d.ncb};

		cur_op = op_names[op];
		if (op == QUIT)
			failed_before_quit = nexthop_failed(d.nh);
		d.in_call = 1;
		switch (op) {
		case CONNECT:
			d.nh = nexthop_connect(base, (struct sockaddr *)&ss, len, "test[1]", &o,
			                       nh_cb, &d);
			break;
		case HELLO:
		case HELLO6:
			nexthop_hello(d.nh, op == HELLO ? &ci4 : &ci6, hello_cb, &d);
			break;
		case MAIL:
		case MAIL_P:
			nexthop_mail(d.nh, "a@example.org",
			             op == MAIL ? "" : " SIZE=100 BODY=8BITMIME", NULL, nh_cb, &d);
			break;
		case MAIL_XF:
		case MAIL_XF6:
			nexthop_mail(d.nh, "a@example.org", "", op == MAIL_XF ? &xf4 : &ci6, nh_cb,
			             &d);
			break;
		case RCPT:
			nexthop_rcpt(d.nh, "b@example.org", "", nh_cb, &d);
			break;
		case RSET:
			nexthop_rset(d.nh, nh_cb, &d);
			break;
		case DATA:
		case DATA_BIG:
			spool_free(sp);
			sp = make_spool(op == DATA_BIG);
			nexthop_data(d.nh, op == DATA ? "X-Test: yes\r\n" : NULL, sp, nh_cb, &d);
			break;
		case DATA_BAD:
			/* a spool that failed: nothing to read */
			spool_free(sp);
			sp = spool_new("/nonexistent", 0);
			assert_int_equal(spool_write(sp, msg, sizeof(msg) - 1), -1);
			nexthop_data(d.nh, NULL, sp, nh_cb, &d);
			break;
		case QUIT:
			nexthop_quit(d.nh);
			break;
		case IDLE:
		case END:
			break;
		}
		d.in_call = 0;
		if (op == IDLE) {
			tn_settle(base, 50);
			tn_addf(&d.trace, " idle");
			continue;
		}
		/* While a request is out only an RCPT is inside a transaction
		 * (a failed next hop stays failed whatever the request). */
		if (op != QUIT && !nexthop_failed(d.nh) && nexthop_in_tx(d.nh) != (op == RCPT))
			fail_msg("%s: %s: nexthop_in_tx %d while the request is out", sc->name,
			         cur_op, nexthop_in_tx(d.nh));
		if (op == QUIT) {
			/* (the server closes after QUIT: failed, from here) */
			tn_addf(&d.trace, "%squit", d.trace.len ? " " : "");
			if (f)
				fake_wait_closed(f, 500);
			continue;
		}
		if (!tn_run_until(base, WAIT_MS, called_back, &w))
			fail_msg("%s: no callback for %s", sc->name, cur_op);
	}
	/* Nothing more is called back. */
	{
		int n = d.ncb;

		tn_settle(base, 5);
		assert_int_equal(d.ncb, n);
	}
	*failed = failed_before_quit >= 0 ? failed_before_quit : d.nh ? nexthop_failed(d.nh) : 0;
	*tls = d.nh ? nexthop_tls(d.nh) : 0;
	if (d.nh && !nexthop_failed(d.nh))
		assert_string_equal(nexthop_error(d.nh), "");
	nexthop_free(d.nh);
	spool_free(sp);
	*wire = xstrdup(f ? fake_log(f) : "");
	*body = xstrdup(f ? fake_bodies(f) : "");
	if (f && f->errors)
		fail_msg("%s: the fake next hop: %s", sc->name, f->err);
	fake_free(f);
	return sb_take(&d.trace);
}

static void
test_scenarios(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		char *wire, *body, *trace;
		int failed, tls;

		trace = run(sc, NULL, &wire, &body, &failed, &tls);
		if (strcmp(trace, sc->want) != 0)
			fail_msg("%s:\n  got  \"%s\"\n  want \"%s\"", sc->name, trace, sc->want);
		if (sc->wire && strcmp(wire, sc->wire) != 0)
			fail_msg("%s: on the wire:\n%s\nwant:\n%s", sc->name, wire, sc->wire);
		if (sc->body && strcmp(body, sc->body) != 0)
			fail_msg("%s: body on the wire:\n%s\nwant:\n%s", sc->name, body, sc->body);
		if (failed != sc->failed)
			fail_msg("%s: failed %d, want %d", sc->name, failed, sc->failed);
		/* (after a failed handshake the conn still says TLS: moot) */
		if (!failed && tls != sc->tls)
			fail_msg("%s: tls %d, want %d", sc->name, tls, sc->tls);
		free(trace);
		free(wire);
		free(body);
	}
}

/* ------------------------------------------------- closes at every step */

/*
 * Two complete dialogues, each rerun with the server closing at step k
 * instead of answering: the requests before the one that step belongs to
 * end as in the complete run, that one and every later one fail (closed,
 * or unavailable for the EHLO dialogue), and the next hop ends failed.
 */
static const struct scenario full_paths[] = {
    {.name = "tls + xclient",
     .tls_mode = TLS_MAY,
     .fwd = FWD_XCLIENT,
     .ops = {CONNECT, HELLO, MAIL, RCPT, RCPT, DATA, RSET, MAIL, QUIT},
     .steps = {BANNER,
               {"EHLO", FA_REPLY, "250-fake\n250-STARTTLS\n250 XCLIENT ADDR"},
               {"STARTTLS", FA_TLS, "220 go"},
               EHLO_XCLIENT,
               {"XCLIENT", FA_REPLY, "220 ok"},
               EHLO_XCLIENT,
               MAIL_OK,
               RCPT_OK,
               RCPT_OK,
               DATA_OK,
               DOT_OK,
               {"RSET", FA_REPLY, "250 ok"},
               MAIL_OK}},
    {.name = "xforward",
     .ops = {CONNECT, HELLO, MAIL_XF, RCPT, DATA, MAIL_XF, RCPT, RSET, QUIT},
     .steps = {BANNER,
               EHLO_XFORWARD,
               {"XFORWARD", FA_REPLY, "250 ok"},
               MAIL_OK,
               RCPT_OK,
               DATA_OK,
               DOT_OK,
               {"XFORWARD", FA_REPLY, "250 ok"},
               MAIL_OK,
               RCPT_OK,
               {"RSET", FA_REPLY, "250 ok"}}},
};

/* The request (index into ops) each step of a full path answers. */
static size_t
owner_of(const struct scenario *sc, size_t step)
{
	size_t op = 0, k = 0;

	/* Walk the steps: each request takes steps until its callback. */
	for (size_t i = 0; i < sizeof(sc->ops) / sizeof(sc->ops[0]) && sc->ops[i] != END; i++) {
		size_t n;

		switch (sc->ops[i]) {
		case CONNECT:
			n = 1;
			break;
		case HELLO:
		case HELLO6:
			/* EHLO [STARTTLS EHLO] [XCLIENT EHLO] */
			n = 1;
			while (k + n < MAX_STEPS && sc->steps[k + n].expect &&
			       (strcmp(sc->steps[k + n].expect, "STARTTLS") == 0 ||
			        strcmp(sc->steps[k + n].expect, "XCLIENT") == 0))
				n += 2;
			break;
		case MAIL_XF:
			n = 2;
			break;
		case DATA:
			n = 2;
			break;
		case QUIT:
			n = 0;
			break;
		default:
			n = 1;
			break;
		}
		if (step < k + n)
			return i;
		k += n;
		op = i;
	}
	return op + 1;
}

static void
test_close_at_every_step(void **state)
{
	(void)state;

	for (size_t p = 0; p < sizeof(full_paths) / sizeof(full_paths[0]); p++) {
		const struct scenario *sc = &full_paths[p];
		char *wire, *body, *base_trace, *tok[16];
		int failed, tls, ntok = 0;
		size_t nsteps = 0;

		base_trace = run(sc, NULL, &wire, &body, &failed, &tls);
		assert_int_equal(failed, 0);
		assert_null(strstr(base_trace, "closed"));
		free(wire);
		free(body);
		for (char *s = strtok(base_trace, " "); s; s = strtok(NULL, " "))
			tok[ntok++] = s;
		while (nsteps < MAX_STEPS && sc->steps[nsteps].text)
			nsteps++;
		for (size_t k = 0; k < nsteps; k++) {
			struct fake_step steps[MAX_STEPS + 1];
			size_t owner = owner_of(sc, k);
			struct sbuf want = {0};
			char *got;

			memcpy(steps, sc->steps, sizeof(sc->steps));
			steps[MAX_STEPS] = (struct fake_step){NULL, FA_REPLY, NULL};
			steps[k].act = FA_CLOSE;
			for (size_t i = 0; i < (size_t)ntok; i++) {
				const char *op = op_names[sc->ops[i]];

				if (i < owner)
					tn_addf(&want, "%s%s", i ? " " : "", tok[i]);
				else if (sc->ops[i] == QUIT)
					tn_addf(&want, " quit");
				else
					tn_addf(&want, "%s%s=%s", i ? " " : "", op,
					        sc->ops[i] == HELLO ? "unavailable" : "closed");
			}
			got = run(sc, steps, &wire, &body, &failed, &tls);
			if (strcmp(got, want.s) != 0)
				fail_msg(
				    "%s, close at step %zu (%s):\n  got  \"%s\"\n  want \"%s\"",
				    sc->name, k, steps[k].expect ? steps[k].expect : "banner", got,
				    want.s);
			assert_int_equal(failed, 1);
			free(got);
			free(wire);
			free(body);
			free(sb_take(&want));
		}
		free(base_trace);
	}
}

/* ---------------------------------------------------------- capabilities */

static void
caps_hello(void *arg, enum nexthop_hello result)
{
	*(int *)arg = result == NH_HELLO_OK ? 1 : -1;
}

static void
caps_banner(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	*(int *)arg = st == SMTP_REPLY ? 1 : -1;
}

static void
test_caps(void **state)
{
	static const struct {
		const char *ehlo;
		struct nexthop_caps want;
	} v[] = {
	    {"250 fake.test", {0}},
	    {"250-fake.test\n250 PIPELINING", {.pipelining = 1}},
	    {"250-fake.test\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250 SMTPUTF8",
	     {.eightbit = 1, .enh = 1, .utf8 = 1}},
	    {"250-fake.test\n250-DSN\n250-XFORWARD NAME ADDR\n250 XCLIENT ADDR",
	     {.dsn = 1, .xforward = 1, .xclient = 1}},
	    {"250-fake.test\n250-SIZE 10240000\n250 starttls", {.size = 10240000, .starttls = 1}},
	    {"250-fake.test\n250-SIZE\n250 CHUNKING", {.size = 0}},
	    {"250-fake.test\n250-pipelining\n250-8bitmime\n250-size 42\n250-dsn\n250-smtputf8\n"
	     "250-enhancedstatuscodes\n250-xforward\n250-xclient\n250 STARTTLS",
	     {1, 1, 1, 1, 1, 1, 1, 1, 42}},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const struct fake_step steps[] = {
		    BANNER, {"EHLO", FA_REPLY, v[i].ehlo}, {NULL, FA_REPLY, NULL}};
		struct nexthop_opts o = {"gw.test", TLS_NONE, cli_ctx, FWD_OFF, WAIT_MS};
		struct fake_smtp *f = fake_new(base, steps, 0, 1, NULL);
		struct sockaddr_storage ss;
		socklen_t len = tn_sockaddr(f->port, &ss);
		int done = 0;
		struct nexthop *nh = nexthop_connect(base, (struct sockaddr *)&ss, len, "caps", &o,
		                                     caps_banner, &done);
		const struct nexthop_caps *k;

		assert_true(tn_wait_flag(base, &done, WAIT_MS));
		assert_int_equal(done, 1);
		done = 0;
		nexthop_hello(nh, &ci4, caps_hello, &done);
		assert_true(tn_wait_flag(base, &done, WAIT_MS));
		assert_int_equal(done, 1);
		k = nexthop_caps(nh);
		if (memcmp(k, &v[i].want, sizeof(*k)) != 0)
			fail_msg("row %zu: pipelining=%d 8bit=%d enh=%d utf8=%d starttls=%d "
			         "xforward=%d xclient=%d dsn=%d size=%llu",
			         i, k->pipelining, k->eightbit, k->enh, k->utf8, k->starttls,
			         k->xforward, k->xclient, k->dsn, (unsigned long long)k->size);
		nexthop_free(nh);
		nexthop_free(NULL);
		fake_free(f);
	}
}

/* ------------------------------------------------- smtp_client directly */

struct client_rec {
	struct smtp_client *c;
	struct sbuf trace;
	int n;
	int free_it; /* free the client from the callback */
	int in_call;
};

static void
client_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct client_rec *rec = arg;

	if (rec->in_call)
		fail_msg("smtp_client callback inside the request");
	tn_addf(&rec->trace, "%s%s", rec->n++ ? " " : "",
	        st == SMTP_REPLY ? (r->code == 250 ? "250" : "reply") : smtp_status_name(st));
	if (rec->free_it)
		smtp_client_free(rec->c);
}

/*
 * What the next hop's state machine never does: a body or commands after
 * a failure (each fails the same way, from the loop), the peer's name,
 * and a callback that frees the client.
 */
static void
test_client_direct(void **state)
{
	static const struct fake_step steps[] = {{NULL, FA_REPLY, "220 fake.test"},
	                                         {"NOOP", FA_REPLY, "250 ok"},
	                                         {"NOOP", FA_CLOSE, NULL},
	                                         {NULL, FA_REPLY, NULL}};
	struct fake_smtp *f = fake_new(base, steps, 0, 1, NULL);
	struct sockaddr_storage ss;
	socklen_t len = tn_sockaddr(f->port, &ss);
	struct client_rec rec = {0};
	struct spool *sp = make_spool(0);
	char peer[64];
	enum { REQ_NOOP, REQ_BODY } reqs[] = {REQ_NOOP, REQ_NOOP, REQ_BODY, REQ_NOOP};
	(void)state;

	rec.c = smtp_client_connect(base, (struct sockaddr *)&ss, len, "direct", WAIT_MS, client_cb,
	                            &rec);
	for (int i = 0; i < 5; i++) {
		int before = rec.n;

		if (i > 0) {
			rec.in_call = 1;
			if (reqs[i - 1] == REQ_BODY)
				smtp_client_body(rec.c, "X-A: b\r\n", sp, client_cb, &rec);
			else
				smtp_client_command(rec.c, "NOOP", client_cb, &rec);
			rec.in_call = 0;
		}
		for (uint64_t end = tn_now_ms() + WAIT_MS; rec.n == before && tn_now_ms() < end;)
			tn_settle(base, 2);
		assert_int_equal(rec.n, before + 1);
		if (i == 0) {
			snprintf(peer, sizeof(peer), "127.0.0.1:%u", f->port);
			assert_string_equal(smtp_client_peer(rec.c), peer);
			assert_int_equal(smtp_client_tls(rec.c), 0);
			assert_string_equal(smtp_client_error(rec.c), "");
		}
	}
	assert_string_equal(rec.trace.s, "reply 250 closed closed closed");
	assert_true(smtp_client_failed(rec.c));
	assert_non_null(strstr(smtp_client_error(rec.c), "connection closed"));
	/* The callback frees the client: the last thing it does with it. */
	rec.free_it = 1;
	smtp_client_command(rec.c, "NOOP", client_cb, &rec);
	tn_settle(base, 20);
	assert_int_equal(rec.n, 6);
	smtp_client_free(NULL);
	spool_free(sp);
	free(sb_take(&rec.trace));
	fake_free(f);
}

/* ---------------------------------------------------------------- fixture */

static int
setup(void **state)
{
	base = event_base_new();
	assert_non_null(base);
	return 0;
}

static int
teardown(void **state)
{
	tn_settle(base, 0);
	event_base_free(base);
	return 0;
}

static int
group_setup(void **state)
{
	size_t n;

	tn_tmpdir(tmpdir, sizeof(tmpdir), "pc-nexthop");
	tn_make_cert(tmpdir);
	srv_ctx = tn_server_ctx(tmpdir);
	cli_ctx = tls_client_ctx();
	n = (size_t)snprintf(long_line, sizeof(long_line), "250 ");
	memset(long_line + n, 'x', 5000);
	strcpy(long_line + n + 5000, "\r\n");
	n = 0;
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(many_lines + n, sizeof(many_lines) - n, "250-x\r\n");
	snprintf(many_lines + n, sizeof(many_lines) - n, "250 x\r\n");
	n = (size_t)snprintf(out_of_turn, sizeof(out_of_turn), "250 fake.test\r\n");
	memset(out_of_turn + n, 'y', 5000);
	out_of_turn[n + 5000] = '\0';
	return 0;
}

static int
group_teardown(void **state)
{
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	tn_rmrf(tmpdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scenarios, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_at_every_step, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_direct, setup, teardown),
	};

	/* As the daemon: a peer that left is an EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	log_init("test_smtp_nexthop", 0, getenv("PC_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

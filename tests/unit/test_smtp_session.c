/*
 * Unit tests for the SMTP gateway's sessions (smtp_proxy, smtp_session,
 * smtp_commands, smtp_message, smtp_notice): the whole proxy with a real
 * runtime (the bundled signatures, a quarantine and a spool in a temporary
 * directory), a worker queue and fake_smtp as the next hop, all on the
 * test's loop; the client is a tpeer connected to the proxy's listener.
 *
 * Each scenario is a configuration, the fake next hop's rules, and the
 * client's script (what it sends, the reply it must get); then what the
 * next hop received (commands exactly, bodies), what was quarantined and
 * what landed in the Maildir. Covered: the banner after the next hop's,
 * the next hop down or refusing at connect (421), EHLO and the extensions
 * we offer following the next hop's, HELO, MAIL/RCPT/DATA relayed and
 * their parameters checked, RSET relayed inside a transaction only,
 * QUIT, NOOP/VRFY/HELP, unknown and never-offered commands, a NUL, an
 * over-long line, BDAT (502 and close), pipelining, STARTTLS with the
 * client, XFORWARD from an authorized client and from another, a clean
 * message delivered with X-Virus-Status, EICAR quarantined (with a notice
 * on its own connection), rejected, dropped, stripped, a message too big,
 * unscanned (tempfail and reject), a quarantine that fails, the Maildir
 * next hop, the next hop closing at each step (451/421 and the end), the
 * client leaving in each state (nothing delivered), the command timeout,
 * too many sessions, drain, a notice in flight at stop, a new runtime for
 * new sessions, and a client that pipelines past the read mark while the
 * next hop takes its time (no busy loop; every command answered).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "daemon/runtime.h"
#include "fake_smtp.h"
#include "net/tls.h"
#include "smtp/smtp_proxy.h"
#include "dir_count.h"
#include "testnet.h"
#include "util/log.h"
#include "util/workq.h"
#include "util/xalloc.h"

#define WAIT_MS 5000

static struct event_base *base;
static struct workq *wq;
static char certdir[64];
static SSL_CTX *cli_ctx;

/* ------------------------------------------------------------- messages */

#define FROM_TO "From: <a@example.org>\r\nTo: <b@example.org>\r\n"
static const char msg_clean[] =
    FROM_TO "Subject: hello\r\n\r\nhello world\r\n..a dot line\r\n.\r\n";
static const char msg_eicar[] =
    FROM_TO "Subject: eicar\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            "--b1\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\n"
            "Content-Disposition: attachment; filename=\"eicar.com\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNU\r\n"
            "LUZJTEUhJEgrSCo=\r\n--b1--\r\n.\r\n";
static char msg_big[8192]; /* 6 KB of text, filled in main() */
static const char msg_partial[] = FROM_TO "Subject: cut short\r\n\r\nthe first line\r\n";
static const char pipelined[] = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";

/* --------------------------------------------------------------- scenarios */

struct cstep {
	const char *send;   /* a line (CR LF added), an @token, or NULL */
	const char *expect; /* the reply starts with this; "@EOF": closed; "@NONE": silence */
};

struct sscenario {
	const char *name;
	const char *conf[6];    /* "section.key=value" */
	int maildir;            /* the next hop is a Maildir */
	int nexthop_down;       /* the next hop is a closed port */
	int tls;                /* the listener offers STARTTLS */
	struct fake_step nh[8]; /* the fake next hop's rules */
	struct cstep client[24];
	const char *wire; /* the commands the next hop got (QUIT left out), or NULL */
	int wire_prefix;  /* wire is only how they begin */
	const char *body_has, *body_lacks;
	int msgs;         /* messages the next hop got (Maildir: files in new/) */
	int quarantined;  /* messages in the quarantine */
	const char *full; /* on a full disk: "q" the quarantine, "md" the Maildir, "spool" */
};

#define BANNER                                                                                     \
	{                                                                                          \
		NULL, "220 gw.test ESMTP Portcullis"                                               \
	}
#define EHLO                                                                                       \
	{                                                                                          \
		"EHLO client.test", "250-gw.test"                                                  \
	}
#define QUIT                                                                                       \
	{"QUIT", "221 2.0.0 gw.test closing connection"},                                          \
	{                                                                                          \
		NULL, "@EOF"                                                                       \
	}
#define ENVELOPE                                                                                   \
	{"MAIL FROM:<a@example.org>", "250"},                                                      \
	{                                                                                          \
		"RCPT TO:<b@example.org>", "250"                                                   \
	}
#define DATA                                                                                       \
	{                                                                                          \
		"DATA", "354 End data with <CR><LF>.<CR><LF>"                                      \
	}
#define GONE                                                                                       \
	{                                                                                          \
		NULL, "@EOF"                                                                       \
	}
#define NH_EHLO_ALL                                                                                \
	{                                                                                          \
		"EHLO", FA_REPLY,                                                                  \
		    "250-fake.test\n250-PIPELINING\n250-SIZE "                                     \
		    "1000000\n250-8BITMIME\n250-SMTPUTF8\n250-DSN\n"                               \
		    "250-XFORWARD NAME ADDR PORT PROTO HELO\n250 ENHANCEDSTATUSCODES"              \
	}

#define EHLO_WIRE "EHLO gw.test\n"
#define TX_WIRE "MAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>\n"

static const struct sscenario scenarios[] = {
    {.name = "banner, EHLO, QUIT", .client = {BANNER, EHLO, QUIT}, .wire = EHLO_WIRE},
    {.name = "next hop down at connect",
     .nexthop_down = 1,
     .client = {{NULL, "421 4.4.1 gw.test next hop unavailable"}, GONE}},
    {.name = "next hop refuses at connect",
     .nh = {{NULL, FA_REPLY, "554 5.3.2 not now"}},
     .client = {{NULL, "421 4.4.1 gw.test next hop unavailable"}, GONE}},
    {.name = "next hop refuses EHLO",
     .nh = {{"EHLO", FA_REPLY, "550 5.7.1 no"}},
     .client = {BANNER, {"EHLO client.test", "421 4.4.1 gw.test next hop unavailable"}, GONE}},
    /* what we offer follows the next hop */
    {.name = "EHLO: next hop offers little",
     .conf = {"smtp.authorized_xforward_hosts=192.0.2.0/24"},
     .nh = {{"EHLO", FA_REPLY, "250-fake.test\n250 SIZE 1000"}},
     .client = {BANNER, {"EHLO client.test", "250-gw.test\n250-SIZE 1000\n250 HELP"}, QUIT}},
    {.name = "EHLO: next hop offers everything",
     .conf = {"smtp.authorized_xforward_hosts=192.0.2.0/24"},
     .nh = {NH_EHLO_ALL},
     .client = {BANNER,
                {"EHLO client.test", "250-gw.test\n250-PIPELINING\n250-SIZE 1000000\n250-8BITMIME\n"
                                     "250-SMTPUTF8\n250-DSN\n250 ENHANCEDSTATUSCODES"},
                QUIT}},
    {.name = "EHLO: our size is smaller; XFORWARD to an authorized client",
     .conf = {"smtp.max_message_size=2000"},
     .nh = {NH_EHLO_ALL},
     .client = {BANNER,
                {"EHLO client.test",
                 "250-gw.test\n250-PIPELINING\n250-SIZE 2000\n250-8BITMIME\n"
                 "250-SMTPUTF8\n250-DSN\n250-XFORWARD NAME ADDR PORT PROTO HELO\n"
                 "250 ENHANCEDSTATUSCODES"},
                QUIT}},
    {.name = "HELO",
     .client = {BANNER,
                {"HELO client.test", "250 gw.test"},
                {"EHLO", "501 5.5.4 Syntax: EHLO"},
                {"HELO", "501 5.5.4 Syntax: HELO"},
                QUIT},
     .wire = EHLO_WIRE},
    /* the other commands */
    {.name = "NOOP VRFY HELP unknown EXPN AUTH XCLIENT, NUL, long line",
     .conf = {"smtp.max_line_length=512", "smtp.authorized_xforward_hosts=192.0.2.0/24"},
     .client = {BANNER,
                {"NOOP", "250 2.0.0 Ok"},
                {"VRFY root", "252 2.1.5"},
                {"HELP", "214 2.0.0"},
                {"FOO bar", "500 5.5.2 command unrecognized"},
                {"EXPN list", "502 5.5.1 EXPN not offered"},
                {"AUTH PLAIN", "502 5.5.1 AUTH not offered"},
                {"XCLIENT ADDR=1.2.3.4", "502 5.5.1 XCLIENT not offered"},
                {"XFORWARD ADDR=1.2.3.4", "502 5.5.1 XFORWARD not offered"},
                {"@NUL", "500 5.5.2 NUL character in command"},
                {"@LONG", "500 5.5.2 line too long"},
                {"NOOP", "250"},
                {"MAIL FROM:<a@example.org>", "503 5.5.1 send HELO or EHLO first"},
                {"STARTTLS", "502 5.5.1 STARTTLS not offered"},
                QUIT},
     .wire = ""},
    {.name = "BDAT: 502 and close",
     .client = {BANNER, EHLO, {"BDAT 100 LAST", "502 5.5.1 CHUNKING not offered, closing"}, GONE}},
    /* the transaction */
    {.name = "MAIL, RCPT relayed, replies passed back",
     .nh = {{"MAIL", FA_REPLY, "250 2.1.0 sender ok at fake"},
            {"RCPT TO:<bad", FA_REPLY, "550 5.1.1 no such user here"},
            {"RCPT", FA_REPLY, "250 2.1.5 recipient ok at fake"}},
     .client = {BANNER,
                EHLO,
                {"DATA", "503 5.5.1 need MAIL command"},
                {"RCPT TO:<b@example.org>", "503 5.5.1 need MAIL command"},
                {"MAIL FROM:<a@example.org>", "250 2.1.0 sender ok at fake"},
                {"MAIL FROM:<a@example.org>", "503 5.5.1 nested MAIL command"},
                {"DATA", "554 5.5.1 no valid recipients"},
                {"RCPT TO:<bad@example.org>", "550 5.1.1 no such user here"},
                {"DATA", "554 5.5.1 no valid recipients"},
                {"RCPT TO:<>", "501 5.5.4 RCPT syntax: syntax"},
                {"RCPT TO:<b@example.org", "501 5.5.4 RCPT syntax"},
                {"RCPT TO:<b@example.org> NOTIFY=NEVER",
                 "555 5.5.4 unsupported RCPT parameter NOTIFY"},
                {"RCPT TO:<b@example.org>", "250 2.1.5 recipient ok at fake"},
                {"DATA x", "501 5.5.4 Syntax: DATA"},
                QUIT},
     .wire = EHLO_WIRE "MAIL FROM:<a@example.org>\nRCPT TO:<bad@example.org>\nRCPT "
                       "TO:<b@example.org>\n"},
    {.name = "MAIL parameters checked and passed on",
     .conf = {"smtp.max_message_size=2048", "smtp.forward_client=off"},
     .nh = {NH_EHLO_ALL},
     .client =
         {BANNER,
          EHLO,
          {"MAIL FROM:<a@example.org> SIZE=3000", "552 5.3.4 message size exceeds fixed limit"},
          {"MAIL FROM:<a@example.org> SIZE=x", "501 5.5.4 bad SIZE parameter"},
          {"MAIL FROM:<a@example.org> BODY=BINARYMIME", "555 5.5.4 unsupported BODY=BINARYMIME"},
          {"MAIL FROM:<a@example.org> FOO=1", "555 5.5.4 unsupported parameter FOO"},
          {"MAIL FROM:<a@example.org", "501 5.5.4 MAIL syntax"},
          {"MAIL FROM:<a@example.org> SIZE=900 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x", "250"},
          {"RCPT TO:<b@example.org> NOTIFY=NEVER ORCPT=rfc822;b@example.org", "250"},
          {"RSET", "250"},
          QUIT},
     .wire = EHLO_WIRE
     "MAIL FROM:<a@example.org> SIZE=900 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x\nRCPT "
     "TO:<b@example.org> NOTIFY=NEVER ORCPT=rfc822;b@example.org\nRSET\n"},
    {.name = "MAIL parameters the next hop does not offer",
     .nh = {{"EHLO", FA_REPLY, "250 fake.test"}},
     .client = {BANNER,
                EHLO,
                {"MAIL FROM:<a@example.org> BODY=8BITMIME", "555 5.5.4 unsupported BODY=8BITMIME"},
                {"MAIL FROM:<a@example.org> SMTPUTF8", "555 5.5.4 SMTPUTF8 not offered"},
                {"MAIL FROM:<a@example.org> RET=FULL", "555 5.5.4 DSN not offered"},
                {"MAIL FROM:<a@example.org> BODY=7BIT", "250"},
                QUIT}},
    {.name = "RSET relayed inside a transaction only",
     .conf = {"smtp.max_recipients=1"},
     .client = {BANNER,
                EHLO,
                {"RSET", "250 2.0.0 Ok"},
                ENVELOPE,
                {"RCPT TO:<c@example.org>", "452 4.5.3 too many recipients"},
                {"RSET", "250"},
                {"RSET", "250 2.0.0 Ok"},
                QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "pipelined commands answered in order",
     .client = {BANNER,
                EHLO,
                {"@PIPE", "250"},
                {NULL, "250"},
                {NULL, "354"},
                {"@CLEAN", "250 2.0.0 Ok: queued as FAKE"},
                QUIT},
     .msgs = 1},
    /* the message */
    {.name = "clean: delivered with X-Virus-Status",
     .client = {BANNER, EHLO, ENVELOPE, DATA, {"@CLEAN", "250 2.0.0 Ok: queued as FAKE"}, QUIT},
     .wire = EHLO_WIRE TX_WIRE "DATA\n.\n",
     .body_has = "X-Virus-Status: clean\r\nFrom: <a@example.org>\r\nTo: <b@example.org>\r\n"
                 "Subject: hello\r\n\r\nhello world\r\n..a dot line\r\n",
     .msgs = 1},
    {.name = "clean: the next hop's refusal passed back",
     .nh = {{".", FA_REPLY, "554 5.7.1 the next hop says no"}},
     .client = {BANNER, EHLO, ENVELOPE, DATA, {"@CLEAN", "554 5.7.1 the next hop says no"}, QUIT},
     .msgs = 1},
    {.name = "clean: two messages in one session",
     .client =
         {BANNER, EHLO, ENVELOPE, DATA, {"@CLEAN", "250"}, ENVELOPE, DATA, {"@CLEAN", "250"}, QUIT},
     .msgs = 2},
    {.name = "EICAR: quarantined, notice on its own connection",
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@EICAR", "250 2.0.0 message quarantined as "},
                {"NOOP", "250"},
                QUIT},
     /* the session's RSET, then the notice's connection */
     .wire =
         EHLO_WIRE TX_WIRE "RSET\nEHLO gw.test\nMAIL FROM:<>\nRCPT TO:<b@example.org>\nDATA\n.\n",
     .body_has = "To: <b@example.org>\r\nSubject: [Portcullis] Virus found in a message to you: "
                 "quarantined",
     .msgs = 1,
     .quarantined = 1},
    {.name = "EICAR: rejected",
     .conf = {"inbound.infected=reject"},
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@EICAR", "550 5.7.1 message rejected: virus found (Eicar-Test-Signature"},
                QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "EICAR: dropped",
     .conf = {"inbound.infected=drop", "inbound.notify_recipient=no"},
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@EICAR", "250 2.0.0 message dropped: virus found (Eicar-Test-Signature"},
                QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "EICAR: stripped, the copy delivered",
     .conf = {"inbound.infected=strip", "inbound.notify_recipient=no"},
     .client = {BANNER, EHLO, ENVELOPE, DATA, {"@EICAR", "250 2.0.0 Ok: queued as FAKE"}, QUIT},
     .wire = EHLO_WIRE TX_WIRE "DATA\n.\n",
     .body_has = "X-Virus-Status: cleaned (Eicar-Test-Signature",
     .body_lacks = "WDVPIVAlQEFQWzRcUFpYNTQo",
     .msgs = 1},
    {.name = "EICAR: passed, marked infected",
     .conf = {"inbound.infected=pass"},
     .client = {BANNER, EHLO, ENVELOPE, DATA, {"@EICAR", "250 2.0.0 Ok: queued as FAKE"}, QUIT},
     .body_has = "X-Virus-Status: infected (Eicar-Test-Signature",
     .msgs = 1},
    {.name = "EICAR: the quarantine fails",
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@QBREAK", NULL},
                {"@EICAR", "451 4.3.0 quarantine failed, try again later"},
                QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "too big",
     .conf = {"smtp.max_message_size=2048"},
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@BIG", "552 5.3.4 message size exceeds fixed limit"},
                QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "not scanned whole: tempfail",
     .conf = {"scan.max_file_size=1024"},
     .client =
         {BANNER, EHLO, ENVELOPE, DATA, {"@BIG", "451 4.7.0 message not scanned: limit"}, QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "not scanned whole: reject",
     .conf = {"scan.max_file_size=1024", "inbound.limit=reject"},
     .client =
         {BANNER, EHLO, ENVELOPE, DATA, {"@BIG", "554 5.7.0 message not scanned: limit"}, QUIT}},
    {.name = "not scanned whole: pass, marked",
     .conf = {"scan.max_file_size=1024", "inbound.limit=pass"},
     .client = {BANNER, EHLO, ENVELOPE, DATA, {"@BIG", "250 2.0.0 Ok"}, QUIT},
     .body_has = "X-Portcullis-Unscanned: limit",
     .msgs = 1},
    /* XFORWARD */
    {.name = "XFORWARD from an authorized client passed on",
     .nh = {NH_EHLO_ALL},
     .client = {BANNER,
                EHLO,
                {"XFORWARD", "501 5.5.4 Syntax: XFORWARD attribute=value..."},
                {"XFORWARD NAME", "501 5.5.4 bad XFORWARD attribute"},
                {"XFORWARD NAME=orig.example ADDR=192.0.2.9 PORT=2525", "250 2.0.0 Ok"},
                {"XFORWARD HELO=orig+20helo PROTO=ESMTP IDENT=x ADDR=not-an-address", "250"},
                ENVELOPE,
                {"XFORWARD NAME=x", "503 5.5.1 XFORWARD not allowed inside a transaction"},
                DATA,
                {"@CLEAN", "250"},
                /* one transaction only */
                ENVELOPE,
                QUIT},
     .wire = EHLO_WIRE
     "XFORWARD NAME=orig.example ADDR=192.0.2.9 PORT=2525 PROTO=ESMTP HELO=orig+20helo\n" TX_WIRE
     "DATA\n.\nXFORWARD NAME=[UNAVAILABLE] ADDR=127.0.0.1 PORT=",
     .wire_prefix = 1,
     .msgs = 1},
    {.name = "XFORWARD IPv6 address",
     .nh = {NH_EHLO_ALL},
     .client = {BANNER, EHLO, {"XFORWARD ADDR=IPV6:2001:db8::9 PORT=25", "250"}, ENVELOPE, QUIT},
     .wire = EHLO_WIRE "XFORWARD NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::9 PORT=25 PROTO=ESMTP "
                       "HELO=client.test\n" TX_WIRE},
    /* STARTTLS with the client */
    {.name = "STARTTLS, then a message under TLS",
     .tls = 1,
     .client = {BANNER,
                {"EHLO client.test",
                 "250-gw.test\n250-PIPELINING\n250-SIZE 52428800\n250-8BITMIME\n"
                 "250-STARTTLS\n250-XFORWARD"},
                {"STARTTLS now", "501 5.5.4 Syntax: STARTTLS"},
                {"STARTTLS", "220 2.0.0 Ready to start TLS"},
                {"@TLS", NULL},
                {"MAIL FROM:<a@example.org>", "503 5.5.1 send HELO or EHLO first"},
                {"EHLO client.test",
                 "250-gw.test\n250-PIPELINING\n250-SIZE 52428800\n250-8BITMIME\n"
                 "250-XFORWARD"},
                {"STARTTLS", "503 5.5.1 TLS already active"},
                ENVELOPE,
                DATA,
                {"@CLEAN", "250"},
                QUIT},
     .msgs = 1},
    {.name = "STARTTLS, then garbage instead of a handshake",
     .tls = 1,
     .client = {BANNER, EHLO, {"STARTTLS", "220"}, {"this is no ClientHello", NULL}, GONE}},
    {.name = "EICAR: the notice is refused (logged, not retried)",
     .nh = {{"MAIL FROM:<>", FA_REPLY, "550 5.7.1 no notices here"}},
     .client =
         {BANNER, EHLO, ENVELOPE, DATA, {"@EICAR", "250 2.0.0 message quarantined as "}, QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\nEHLO gw.test\nMAIL FROM:<>\n",
     .quarantined = 1},
    {.name = "the spool fails",
     .conf = {"smtp.memory_spool=0", "daemon.spool_dir=/nonexistent/spool"},
     .client =
         {BANNER, EHLO, ENVELOPE, DATA, {"@CLEAN", "451 4.3.0 local error in processing"}, QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "next hop TLS required, not offered",
     .conf = {"smtp.next_hop_tls=require"},
     .client = {BANNER, {"EHLO client.test", "421 4.7.0 gw.test next hop offers no TLS"}, GONE}},
    {.name = "next hop TLS required, refused",
     .conf = {"smtp.next_hop_tls=require"},
     .nh = {{"EHLO", FA_REPLY, "250-fake.test\n250 STARTTLS"},
            {"STARTTLS", FA_REPLY, "454 4.7.0 not now"}},
     .client = {BANNER, {"EHLO client.test", "421 4.7.0 gw.test next hop refused TLS"}, GONE}},
    {.name = "EICAR: notices to the recipient, the sender and the admin",
     .conf = {"inbound.notify_sender=yes", "inbound.notify_admin=admin@example.org",
              "notify.from=av@example.org"},
     .client =
         {BANNER, EHLO, ENVELOPE, DATA, {"@EICAR", "250 2.0.0 message quarantined as "}, QUIT},
     .body_has = "From: Portcullis <av@example.org>",
     .msgs = 3,
     .quarantined = 1},
    {.name = "EICAR: no notice to an address notices cannot go to",
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                {"RCPT TO:<\xff@example.org>", "250"},
                DATA,
                {"@EICAR", "250 2.0.0 message quarantined as "},
                QUIT},
     .msgs = 1,
     .quarantined = 1},
    {.name = "EICAR: the quarantine is full",
     .full = "q",
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@FILL", NULL},
                {"@EICAR", "452 4.3.1 insufficient system storage"},
                QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "the spool is full",
     .full = "spool",
     .conf = {"smtp.memory_spool=0"},
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@FILL", NULL},
                {"@BIG", "452 4.3.1 insufficient system storage"},
                QUIT},
     .wire = EHLO_WIRE TX_WIRE "RSET\n"},
    {.name = "Maildir: full",
     .full = "md",
     .maildir = 1,
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@FILL", NULL},
                {"@CLEAN", "452 4.3.1 insufficient system storage"},
                QUIT}},
    /* the Maildir next hop */
    {.name = "Maildir: clean delivered",
     .maildir = 1,
     .client = {BANNER,
                {"EHLO client.test",
                 "250-gw.test\n250-PIPELINING\n250-SIZE 52428800\n250-8BITMIME\n"
                 "250-SMTPUTF8\n250-XFORWARD NAME ADDR PORT PROTO HELO\n"
                 "250 ENHANCEDSTATUSCODES"},
                {"HELO client.test", "250 gw.test"},
                {"MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8", "250 2.1.0 Ok"},
                {"RCPT TO:<b@example.org>", "250 2.1.5 Ok"},
                {"RSET", "250 2.0.0 Ok"},
                ENVELOPE,
                DATA,
                {"@CLEAN", "250 2.0.0 Ok: delivered as "},
                QUIT},
     .body_has = "X-Virus-Status: clean\r\nFrom: <a@example.org>",
     .msgs = 1},
    {.name = "Maildir: EICAR quarantined, the notice delivered there",
     .maildir = 1,
     .client =
         {BANNER, EHLO, ENVELOPE, DATA, {"@EICAR", "250 2.0.0 message quarantined as "}, QUIT},
     .body_has = "To: <b@example.org>\r\nSubject: [Portcullis] Virus found in a message to you: "
                 "quarantined",
     .msgs = 1,
     .quarantined = 1},
    {.name = "Maildir: delivery fails",
     .maildir = 1,
     .client = {BANNER,
                EHLO,
                ENVELOPE,
                DATA,
                {"@MDBREAK", NULL},
                {"@CLEAN", "451 4.3.0 local delivery failed"},
                QUIT}},
    /* the command timeout */
    {.name = "command timeout",
     .conf = {"smtp.command_timeout=200ms"},
     .client = {BANNER, {NULL, "421 4.4.2 gw.test timeout"}, GONE}},
    {.name = "data timeout",
     .conf = {"smtp.data_timeout=200ms"},
     .client = {BANNER, EHLO, ENVELOPE, DATA, {"@PARTIAL", "421 4.4.2 gw.test timeout"}, GONE},
     .wire = EHLO_WIRE TX_WIRE},
};

/* ------------------------------------------------------------- harness */

struct harness {
	char dir[64];
	char qdir[128], mdir[128], spool[128];
	char full[128]; /* a tiny tmpfs, "" if none */
	struct fake_smtp *f;
	struct proxy *px;
	unsigned port;
	struct tpeer *c;
};

/* A job that holds the only worker until the gate opens. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed;

static void
gate_fn(void *arg)
{
	pthread_mutex_lock(&gate_mu);
	while (gate_closed)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
}

static void
gate_done(void *arg)
{
}

static void
gate(int closed)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
	if (closed)
		workq_submit(wq, gate_fn, gate_done, NULL);
}

static void
set(struct pc_config *c, const char *section, const char *key, const char *value)
{
	if (conf_set(c, section, key, value, stderr) != 0)
		fail_msg("conf_set %s.%s = %s", section, key, value);
}

/* "section.key=value": the key is after the last dot before '='. */
static void
set_line(struct pc_config *c, const char *line)
{
	char buf[256], *eq, *dot;

	snprintf(buf, sizeof(buf), "%s", line);
	eq = strchr(buf, '=');
	assert_non_null(eq);
	*eq = '\0';
	dot = strrchr(buf, '.');
	assert_non_null(dot);
	*dot = '\0';
	set(c, buf, dot + 1, eq + 1);
}

/* A runtime for the harness's directories and next hop. */
static struct runtime *
make_runtime(struct harness *h, const struct sscenario *sc, const char *hostname)
{
	const char *src = getenv("PC_SRCDIR");
	char path[512], *err = NULL;
	struct pc_config c;
	struct runtime *rt;

	assert_non_null(src);
	conf_defaults(&c);
	snprintf(path, sizeof(path), "%s/sigs", src);
	set(&c, "scan", "database_dir", path);
	/* one compile for the whole run: the scenarios share the cache */
	snprintf(path, sizeof(path), "%s/cache", certdir);
	set(&c, "scan", "cache_dir", path);
	set(&c, "scan", "threads", "1");
	set(&c, "log", "verdicts", "no");
	snprintf(path, sizeof(path), "%s/templates", src);
	set(&c, "notify", "template_dir", path);
	set(&c, "daemon", "spool_dir", h->spool);
	set(&c, "quarantine", "dir", h->qdir);
	snprintf(path, sizeof(path), "127.0.0.1:%u", h->port);
	set(&c, "smtp", "listen", path);
	set(&c, "smtp", "hostname", hostname);
	set(&c, "smtp", "next_hop_timeout", "3s");
	if (sc->maildir)
		snprintf(path, sizeof(path), "maildir:%s", h->mdir);
	else if (sc->nexthop_down)
		snprintf(path, sizeof(path), "smtp:127.0.0.1:%u", tn_free_port());
	else
		fake_next_hop(h->f, path, sizeof(path));
	set(&c, "smtp", "next_hop", path);
	if (sc->tls) {
		snprintf(path, sizeof(path), "%s/cert.pem", certdir);
		set(&c, "smtp", "tls_cert", path);
		snprintf(path, sizeof(path), "%s/key.pem", certdir);
		set(&c, "smtp", "tls_key", path);
	}
	for (size_t i = 0; i < sizeof(sc->conf) / sizeof(sc->conf[0]) && sc->conf[i]; i++)
		set_line(&c, sc->conf[i]);
	rt = runtime_build(&c, &err);
	if (rt == NULL)
		fail_msg("runtime_build: %s", err);
	return rt;
}

/* 0, or -1 if the scenario needs a tmpfs that cannot be mounted. */
static int
h_start(struct harness *h, const struct sscenario *sc)
{
	char *err = NULL;
	struct runtime *rt;

	memset(h, 0, sizeof(*h));
	tn_tmpdir(h->dir, sizeof(h->dir), "pc-session");
	snprintf(h->qdir, sizeof(h->qdir), "%s/q", h->dir);
	snprintf(h->mdir, sizeof(h->mdir), "%s/md", h->dir);
	snprintf(h->spool, sizeof(h->spool), "%s/spool", h->dir);
	if (sc->full) {
		/* the store in question lives on a tiny tmpfs, filled later */
		char *which = strcmp(sc->full, "q") == 0    ? h->qdir
		              : strcmp(sc->full, "md") == 0 ? h->mdir
		                                            : h->spool;

		snprintf(h->full, sizeof(h->full), "%s/full", h->dir);
		assert_int_equal(mkdir(h->full, 0700), 0);
		if (mount("tmpfs", h->full, "tmpfs", 0, "size=256k") < 0) {
			h->full[0] = '\0';
			return -1;
		}
		snprintf(which, 128, "%s/full/%s", h->dir, sc->full);
	}
	assert_int_equal(mkdir(h->spool, 0700), 0);
	if (!sc->maildir && !sc->nexthop_down)
		h->f = fake_new(base, sc->nh, 0, 0, NULL);
	h->port = tn_free_port();
	rt = make_runtime(h, sc, "gw.test");
	h->px = proxy_new(base, wq);
	proxy_set_runtime(h->px, rt);
	if (proxy_listen(h->px, &rt->conf.listeners[0], &err) < 0)
		fail_msg("proxy_listen: %s", err);
	runtime_unref(rt);
	return 0;
}

static int
no_sessions(void *arg)
{
	return proxy_sessions(arg) == 0;
}

static void
h_stop(struct harness *h)
{
	tp_free(h->c);
	h->c = NULL;
	if (h->px)
		tn_run_until(base, WAIT_MS, no_sessions, h->px);
	proxy_free(h->px);
	fake_free(h->f);
	gate(0);
	if (h->full[0])
		assert_int_equal(umount2(h->full, MNT_DETACH), 0);
	tn_rmrf(h->dir);
}

/* Files named *.eml under the quarantine. */
static int neml;

static int
count_eml_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	size_t n = strlen(path);

	if (flag == FTW_F && n > 4 && strcmp(path + n - 4, ".eml") == 0)
		neml++;
	return 0;
}

static int
count_eml(const char *dir)
{
	neml = 0;
	nftw(dir, count_eml_cb, 8, FTW_PHYS);
	return neml;
}

/* A plain file where today's quarantine directory goes: storing fails. */
static void
break_quarantine(struct harness *h)
{
	char path[256];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;

	gmtime_r(&now, &tm);
	snprintf(path, sizeof(path), "%s/%04d", h->qdir, tm.tm_year + 1900);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
}

static void
send_token(struct harness *h, const char *send)
{
	if (strcmp(send, "@CLEAN") == 0)
		tp_write(h->c, msg_clean, sizeof(msg_clean) - 1);
	else if (strcmp(send, "@EICAR") == 0)
		tp_write(h->c, msg_eicar, sizeof(msg_eicar) - 1);
	else if (strcmp(send, "@BIG") == 0)
		tp_write(h->c, msg_big, strlen(msg_big));
	else if (strcmp(send, "@PARTIAL") == 0)
		tp_write(h->c, msg_partial, sizeof(msg_partial) - 1);
	else if (strcmp(send, "@PIPE") == 0)
		tp_write(h->c, pipelined, sizeof(pipelined) - 1);
	else if (strcmp(send, "@NUL") == 0)
		tp_write(h->c, "NOOP\0x\r\n", 8);
	else if (strcmp(send, "@LONG") == 0) {
		char line[602];

		memset(line, 'A', 600);
		memcpy(line + 600, "\r\n", 2);
		tp_write(h->c, line, sizeof(line));
	} else if (strcmp(send, "@TLS") == 0) {
		tp_starttls(h->c, cli_ctx, 0);
		assert_true(tn_wait_flag(base, &h->c->tls_up, WAIT_MS));
	} else if (strcmp(send, "@CLOSE") == 0)
		tp_close(h->c);
	else if (strcmp(send, "@GATE") == 0)
		gate(1);
	else if (strcmp(send, "@OPEN") == 0)
		gate(0);
	else if (strcmp(send, "@GONE") == 0)
		assert_true(tn_run_until(base, WAIT_MS, no_sessions, h->px));
	else if (strcmp(send, "@QBREAK") == 0)
		break_quarantine(h);
	else if (strcmp(send, "@MDBREAK") == 0) {
		/* the Maildir cannot be created: a file is in its place */
		FILE *f = fopen(h->mdir, "w");

		assert_non_null(f);
		fclose(f);
	} else if (strcmp(send, "@FILL") == 0) {
		/* fill the tmpfs */
		char path[256], *junk = xcalloc(1, 4096);
		FILE *f;

		snprintf(path, sizeof(path), "%s/fill", h->full);
		assert_non_null(f = fopen(path, "w"));
		while (fwrite(junk, 1, 4096, f) == 4096 && fflush(f) == 0)
			;
		fclose(f);
		free(junk);
	} else if (strcmp(send, "@SETTLE") == 0)
		tn_settle(base, 100);
	else
		tp_printf(h->c, "%s\r\n", send);
}

static void
expect(struct harness *h, const char *name, size_t step, const char *want)
{
	char *r;

	if (strcmp(want, "@EOF") == 0) {
		r = tp_drain(h->c, WAIT_MS);
		if (!h->c->eof || r[0])
			fail_msg("%s, step %zu: want the end, got \"%s\"%s", name, step, r,
			         h->c->eof ? "" : " and no end");
		free(r);
		return;
	}
	if (strcmp(want, "@NONE") == 0) {
		tn_settle(base, 150);
		if (tp_pending(h->c))
			fail_msg("%s, step %zu: want silence", name, step);
		return;
	}
	r = tp_reply(h->c, WAIT_MS);
	if (r == NULL)
		fail_msg("%s, step %zu: no reply, want \"%s\"", name, step, want);
	if (strncmp(r, want, strlen(want)) != 0)
		fail_msg("%s, step %zu:\n  got  \"%s\"\n  want \"%s...\"", name, step, r, want);
	free(r);
}

/* The client's side of a scenario, from the banner on. */
static void
run_client(struct harness *h, const struct sscenario *sc)
{
	h->c = tp_connect(base, h->port);
	for (size_t i = 0; i < sizeof(sc->client) / sizeof(sc->client[0]); i++) {
		const struct cstep *st = &sc->client[i];

		if (st->send == NULL && st->expect == NULL)
			break;
		if (st->send)
			send_token(h, st->send);
		if (st->expect)
			expect(h, sc->name, i, st->expect);
	}
}

/* The commands the next hop got, without QUIT (which may or may not
 * make it out before the next-hop connection is freed). */
static char *
wire_without_quit(const struct fake_smtp *f)
{
	struct sbuf b = {0};
	const char *s = fake_log(f);

	while (*s) {
		size_t n = strcspn(s, "\n") + 1;

		if (strncmp(s, "QUIT\n", 5) != 0)
			sb_add(&b, s, n);
		s += n;
	}
	return sb_take(&b);
}

static void
check(struct harness *h, const struct sscenario *sc)
{
	char *got = NULL;
	char path[256];

	if (!tn_run_until(base, WAIT_MS, no_sessions, h->px))
		fail_msg("%s: %u sessions left", sc->name, proxy_sessions(h->px));
	if (h->f) {
		if (h->f->errors)
			fail_msg("%s: fake next hop: %s", sc->name, h->f->err);
		got = wire_without_quit(h->f);
		if (sc->wire && (sc->wire_prefix ? strncmp(got, sc->wire, strlen(sc->wire))
		                                 : strcmp(got, sc->wire)) != 0)
			fail_msg("%s: the next hop got:\n%s\nwant:\n%s", sc->name, got, sc->wire);
		if (h->f->nmsgs != sc->msgs)
			fail_msg("%s: %d messages at the next hop, want %d", sc->name, h->f->nmsgs,
			         sc->msgs);
		free(got);
		got = xstrdup(fake_bodies(h->f));
	} else if (sc->maildir) {
		snprintf(path, sizeof(path), "%s/new", h->mdir);
		if (count_entries(path) != sc->msgs && !(sc->msgs == 0 && count_entries(path) < 0))
			fail_msg("%s: %d messages in the Maildir, want %d", sc->name,
			         count_entries(path), sc->msgs);
		got = sc->msgs ? tn_read_first_file(path) : NULL;
	}
	if (sc->body_has && (got == NULL || strstr(got, sc->body_has) == NULL))
		fail_msg("%s: no \"%s\" in what was delivered:\n%s", sc->name, sc->body_has,
		         got ? got : "(nothing)");
	if (sc->body_lacks && got && strstr(got, sc->body_lacks) != NULL)
		fail_msg("%s: \"%s\" was delivered", sc->name, sc->body_lacks);
	free(got);
	if (count_eml(h->qdir) != sc->quarantined)
		fail_msg("%s: %d messages quarantined, want %d", sc->name, count_eml(h->qdir),
		         sc->quarantined);
}

static void
test_scenarios(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct harness h;

		if (h_start(&h, &scenarios[i]) < 0) {
			print_message("skipping \"%s\": cannot mount a tmpfs\n", scenarios[i].name);
			tn_rmrf(h.dir);
			continue;
		}
		run_client(&h, &scenarios[i]);
		check(&h, &scenarios[i]);
		h_stop(&h);
	}
}

/* ------------------------------------------ the next hop closes at each step */

/*
 * A complete dialogue; the next hop closes instead of answering one
 * command. The client gets the failure (421 during the EHLO dialogue, 451
 * for a relayed command, 451 for the message), then 421, then the end, and
 * nothing is delivered.
 */
static void
test_nexthop_closes(void **state)
{
	static const struct {
		const char *close_at; /* the next hop's command */
		size_t step;          /* the client's step that gets the failure */
		const char *reply;    /* its reply */
		int msgs;             /* bodies the next hop got (never accepted) */
	} v[] = {
	    {"EHLO", 1, "421 4.4.1 gw.test next hop unavailable", 0},
	    {"MAIL", 2, "451 4.4.1 next hop 127.0.0.1:", 0},
	    {"RCPT", 3, "451 4.4.1 next hop 127.0.0.1:", 0},
	    {"RSET", 4, "451 4.4.1 next hop 127.0.0.1:", 0},
	    {"DATA", 8, "451 4.4.1 next hop failed: message not delivered", 0},
	    {".", 8, "451 4.4.1 next hop failed: message not delivered", 1},
	};
	static const struct cstep dialogue[] = {
	    BANNER,
	    EHLO,
	    {"MAIL FROM:<a@example.org>", "250"},
	    {"RCPT TO:<b@example.org>", "250"},
	    {"RSET", "250"},
	    {"MAIL FROM:<a@example.org>", "250"},
	    {"RCPT TO:<b@example.org>", "250"},
	    DATA,
	    {"@CLEAN", "250"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sscenario sc = {.name = v[i].close_at, .msgs = v[i].msgs};
		struct harness h;
		size_t k;

		sc.nh[0] = (struct fake_step){v[i].close_at, FA_CLOSE, NULL};
		for (k = 0; k < v[i].step; k++)
			sc.client[k] = dialogue[k];
		sc.client[k++] = (struct cstep){dialogue[v[i].step].send, v[i].reply};
		if (strncmp(v[i].reply, "451", 3) == 0)
			sc.client[k++] =
			    (struct cstep){NULL, "421 4.4.1 gw.test next hop unavailable"};
		sc.client[k] = (struct cstep){NULL, "@EOF"};
		assert_int_equal(h_start(&h, &sc), 0);
		run_client(&h, &sc);
		check(&h, &sc);
		h_stop(&h);
	}
}

/* ------------------------------------------ the client leaves in each state */

static void
test_client_leaves(void **state)
{
	static const struct sscenario v[] = {
	    {.name = "in connecting",
	     .nh = {{NULL, FA_HANG, NULL}},
	     .client = {{"@SETTLE", NULL}, {"@CLOSE", NULL}}},
	    {.name = "in cmd", .client = {BANNER, EHLO, {"@CLOSE", NULL}}},
	    {.name = "in nexthop",
	     .nh = {{"MAIL", FA_HANG, NULL}},
	     .client = {BANNER,
	                EHLO,
	                {"MAIL FROM:<a@example.org>", NULL},
	                {"@SETTLE", NULL},
	                {"@CLOSE", NULL}}},
	    {.name = "in data",
	     .client = {BANNER,
	                EHLO,
	                ENVELOPE,
	                DATA,
	                {"@PARTIAL", NULL},
	                {"@SETTLE", NULL},
	                {"@CLOSE", NULL}}},
	    {.name = "in work",
	     .client = {BANNER,
	                EHLO,
	                ENVELOPE,
	                DATA,
	                {"@GATE", NULL},
	                {"@CLEAN", NULL},
	                {"@SETTLE", NULL},
	                {"@CLOSE", NULL},
	                {"@GONE", NULL},
	                {"@OPEN", NULL},
	                {"@SETTLE", NULL}}},
	    {.name = "in work, EICAR",
	     .client = {BANNER,
	                EHLO,
	                ENVELOPE,
	                DATA,
	                {"@GATE", NULL},
	                {"@EICAR", NULL},
	                {"@SETTLE", NULL},
	                {"@CLOSE", NULL},
	                {"@GONE", NULL},
	                {"@OPEN", NULL},
	                {"@SETTLE", NULL}},
	     /* the job still did what the policy says: nothing is lost */
	     .quarantined = 1},
	    /* the next hop got the body but never accepted it */
	    {.name = "in deliver",
	     .msgs = 1,
	     .nh = {{".", FA_HANG, NULL}},
	     .client = {BANNER,
	                EHLO,
	                ENVELOPE,
	                DATA,
	                {"@CLEAN", NULL},
	                {"@SETTLE", NULL},
	                {"@CLOSE", NULL}}},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct harness h;

		assert_int_equal(h_start(&h, &v[i]), 0);
		run_client(&h, &v[i]);
		check(&h, &v[i]);
		/* the next-hop leg went with the session */
		if (h.f)
			assert_true(fake_wait_closed(h.f, WAIT_MS));
		h_stop(&h);
	}
}

/* ------------------------------------------------- past the read mark */

static uint64_t
cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/*
 * A client pipelines more than the read mark while its MAIL is with a
 * next hop that takes its time: the loop must not spin meanwhile (it did,
 * at 100% CPU, with libevent 2.1.12), and once the next hop answers every
 * command is answered, in order.
 */
static void
test_pipelining_past_the_mark(void **state)
{
	static const struct sscenario sc = {
	    .name = "past the mark", .nh = {{"MAIL", FA_HANG, NULL}}, .client = {BANNER, EHLO}};
	enum { NCMDS = 1500, ARGLEN = 500 }; /* 750 KB, past READ_HIGH_MARK */
	struct harness h;
	char *line = xmalloc(ARGLEN + 8), *r;
	uint64_t cpu0;
	int n250 = 0;
	(void)state;

	assert_int_equal(h_start(&h, &sc), 0);
	run_client(&h, &sc);
	tp_printf(h.c, "MAIL FROM:<a@example.org>\r\n");
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'x', ARGLEN);
	memcpy(line + 5 + ARGLEN, "\r\n", 3);
	for (int i = 0; i < NCMDS; i++)
		tp_write(h.c, line, ARGLEN + 7);
	tn_settle(base, 200);
	cpu0 = cpu_ms();
	tn_settle(base, 300);
	if (cpu_ms() - cpu0 > 150)
		fail_msg("the loop spun: %llu ms of CPU in 300 ms",
		         (unsigned long long)(cpu_ms() - cpu0));
	fake_release(h.f, "250 2.1.0 ok, at last");
	assert_non_null(r = tp_reply(h.c, WAIT_MS));
	assert_string_equal(r, "250 2.1.0 ok, at last");
	free(r);
	for (int i = 0; i < NCMDS; i++) {
		r = tp_reply(h.c, WAIT_MS);
		if (r == NULL)
			fail_msg("no reply to NOOP %d", i);
		n250 += strcmp(r, "250 2.0.0 Ok") == 0;
		free(r);
	}
	assert_int_equal(n250, NCMDS);
	tp_printf(h.c, "QUIT\r\n");
	assert_non_null(r = tp_reply(h.c, WAIT_MS));
	assert_string_equal(r, "221 2.0.0 gw.test closing connection");
	free(r);
	free(line);
	h_stop(&h);
}

/* ------------------------------------------------ sessions, drain, reload */

static int drained;

static void
on_drained(void *arg)
{
	drained++;
}

static void
test_max_sessions_and_drain(void **state)
{
	static const struct sscenario sc = {.name = "max", .conf = {"smtp.max_sessions=1"}};
	struct harness h;
	struct tpeer *second;
	char *r, *desc, buf[64];
	(void)state;

	assert_int_equal(h_start(&h, &sc), 0);
	desc = proxy_listeners_describe(h.px);
	snprintf(buf, sizeof(buf), "smtp@127.0.0.1:%u", h.port);
	assert_string_equal(desc, buf);
	free(desc);
	h.c = tp_connect(base, h.port);
	assert_non_null(r = tp_reply(h.c, WAIT_MS));
	assert_string_equal(r, "220 gw.test ESMTP Portcullis");
	free(r);
	/* A second client is one too many. */
	second = tp_connect(base, h.port);
	assert_non_null(r = tp_reply(second, WAIT_MS));
	assert_string_equal(r, "421 4.7.0 gw.test too many sessions, try again later");
	free(r);
	assert_true(tp_wait_eof(second, WAIT_MS));
	tp_free(second);
	tn_settle(base, 20);
	assert_int_equal(proxy_sessions(h.px), 1);

	/* Drain: not while the session lives; once, when it ends. */
	drained = 0;
	proxy_drain(h.px, on_drained, NULL);
	tn_settle(base, 50);
	assert_int_equal(drained, 0);
	/* no new sessions */
	{
		struct sockaddr_storage ss;
		socklen_t len = tn_sockaddr(h.port, &ss);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), -1);
		close(fd);
	}
	tp_printf(h.c, "QUIT\r\n");
	assert_non_null(r = tp_reply(h.c, WAIT_MS));
	free(r);
	assert_true(tn_wait_flag(base, &drained, WAIT_MS));
	tn_settle(base, 50);
	assert_int_equal(drained, 1);
	h_stop(&h);

	/* With nothing to wait for: at once, from the loop. */
	assert_int_equal(h_start(&h, &sc), 0);
	drained = 0;
	proxy_drain(h.px, on_drained, NULL);
	assert_int_equal(drained, 0);
	assert_true(tn_wait_flag(base, &drained, WAIT_MS));
	h_stop(&h);
}

/*
 * A notice in flight counts for the drain; stopping the proxy aborts it.
 * (The notice's next hop never answers its MAIL.)
 */
static void
test_notice_in_flight(void **state)
{
	static const struct sscenario sc = {
	    .name = "notice in flight",
	    .nh = {{"MAIL FROM:<>", FA_HANG, NULL}},
	    .client = {BANNER,
	               EHLO,
	               ENVELOPE,
	               DATA,
	               {"@EICAR", "250 2.0.0 message quarantined as "},
	               QUIT}};
	struct harness h;
	(void)state;

	assert_int_equal(h_start(&h, &sc), 0);
	run_client(&h, &sc);
	assert_true(fake_wait_closed(h.f, 0) == 0);
	tn_settle(base, 100);
	/* the session is gone, its notice is not */
	assert_int_equal(proxy_sessions(h.px), 1);
	assert_int_equal(h.f->nconns, 2);
	drained = 0;
	proxy_drain(h.px, on_drained, NULL);
	tn_settle(base, 100);
	assert_int_equal(drained, 0);
	proxy_free(h.px);
	h.px = NULL;
	assert_int_equal(drained, 0);
	assert_int_equal(count_eml(h.qdir), 1);
	h_stop(&h);
}

/* A new runtime serves new sessions; the running one keeps its own. */
static void
test_new_runtime(void **state)
{
	static const struct sscenario sc = {.name = "reload"};
	struct harness h;
	struct runtime *rt;
	struct tpeer *old;
	char *r;
	(void)state;

	assert_int_equal(h_start(&h, &sc), 0);
	old = tp_connect(base, h.port);
	assert_non_null(r = tp_reply(old, WAIT_MS));
	assert_string_equal(r, "220 gw.test ESMTP Portcullis");
	free(r);
	rt = make_runtime(&h, &sc, "new.test");
	proxy_set_runtime(h.px, rt);
	runtime_unref(rt);
	assert_ptr_equal(proxy_runtime(h.px), rt);
	h.c = tp_connect(base, h.port);
	assert_non_null(r = tp_reply(h.c, WAIT_MS));
	assert_string_equal(r, "220 new.test ESMTP Portcullis");
	free(r);
	tp_printf(old, "HELO x\r\n");
	assert_non_null(r = tp_reply(old, WAIT_MS));
	assert_string_equal(r, "250 gw.test");
	free(r);
	tp_free(old);
	/* A runtime whose listener has another name (and a new one): the
	 * socket keeps serving with the first listener's settings. */
	{
		struct pc_config c;
		char *err = NULL, path[256];

		conf_defaults(&c);
		set(&c, "smtp.other", "listen", "127.0.0.1:1");
		set(&c, "smtp.other", "hostname", "other.test");
		set(&c, "smtp.other", "next_hop", "maildir:/nonexistent");
		snprintf(path, sizeof(path), "%s/sigs", getenv("PC_SRCDIR"));
		set(&c, "scan", "database_dir", path);
		set(&c, "scan", "cache_dir", "");
		snprintf(path, sizeof(path), "%s/templates", getenv("PC_SRCDIR"));
		set(&c, "notify", "template_dir", path);
		set(&c, "quarantine", "dir", h.qdir);
		rt = runtime_build(&c, &err);
		assert_non_null(rt);
		proxy_set_runtime(h.px, rt);
		runtime_unref(rt);
	}
	tp_free(h.c);
	h.c = tp_connect(base, h.port);
	assert_non_null(r = tp_reply(h.c, WAIT_MS));
	assert_string_equal(r, "220 other.test ESMTP Portcullis");
	free(r);
	/* Same name, another address: a restart is needed, the socket stays. */
	rt = make_runtime(&h, &sc, "gw.test");
	free(rt->conf.listeners[0].listen);
	rt->conf.listeners[0].listen = xstrdup("127.0.0.1:2");
	proxy_set_runtime(h.px, rt);
	runtime_unref(rt);
	/* A taken address cannot be listened on. */
	{
		struct smtp_listener_conf lc = proxy_runtime(h.px)->conf.listeners[0];
		char *err = NULL, addr[64];

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", h.port);
		lc.listen = addr;
		assert_int_equal(proxy_listen(h.px, &lc, &err), -1);
		assert_non_null(err);
		free(err);
	}
	proxy_stop_listening(h.px);
	h_stop(&h);
}

/* ---------------------------------------------------------------- fixture */

static int
setup(void **state)
{
	base = event_base_new();
	assert_non_null(base);
	wq = workq_new(base, 1);
	return 0;
}

static int
teardown(void **state)
{
	gate(0);
	workq_free(wq);
	tn_settle(base, 0);
	event_base_free(base);
	return 0;
}

static int
group_setup(void **state)
{
	size_t n;

	tn_tmpdir(certdir, sizeof(certdir), "pc-session-certs");
	tn_make_cert(certdir);
	cli_ctx = tls_client_ctx();
	n = (size_t)snprintf(msg_big, sizeof(msg_big), "%sSubject: big\r\n\r\n", FROM_TO);
	while (n < 6000)
		n += (size_t)snprintf(msg_big + n, sizeof(msg_big) - n,
		                      "a line of text to make the message big enough %04zu\r\n", n);
	snprintf(msg_big + n, sizeof(msg_big) - n, ".\r\n");
	return 0;
}

static int
group_teardown(void **state)
{
	SSL_CTX_free(cli_ctx);
	tn_rmrf(certdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scenarios, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nexthop_closes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_leaves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelining_past_the_mark, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_sessions_and_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notice_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_runtime, setup, teardown),
	};

	/* As the daemon: a peer that left is an EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	log_init("test_smtp_session", 0, getenv("PC_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

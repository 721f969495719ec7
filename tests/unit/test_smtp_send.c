/*
 * Unit tests for smtp/smtp_send against a fake SMTP server: a thread on
 * 127.0.0.1 (or ::1) port 0 that answers each command from a script and
 * records every command line and the raw DATA bytes. Each row of the table
 * is a script and a message -> the status, the step, the deciding reply,
 * the start of the failure detail, the exact command sequence on the wire
 * (QUIT only when the exchange ended on a complete reply) and the exact
 * DATA bytes (dot-stuffed, bare LF as CRLF). Bad arguments are a second
 * table; a large random message is checked against a reference encoder
 * written differently (line by line).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtp/smtp_cmd.h"
#include "smtp/smtp_send.h"
#include "util/sys.h"

#define FAKE_WAIT_MS 5000 /* the fake never waits longer than this */
#define T_SHORT 300       /* the timeout of the timeout rows */
#define T_NORMAL 3000     /* everyone else's */
#define FILL (12u << 20)  /* a body larger than both socket buffers together */

/*
 * A script entry is the reply text to send, NULL for the default reply, or
 * text after one of these bytes: HANG sends the text, then answers nothing
 * more (reading and dropping what comes) until the test is over; CLOSE
 * sends the text, then closes the connection.
 */
#define HANG "\x01"
#define CLOSE "\x02"

enum peer {
	PEER_LISTEN,  /* a fake server accepts */
	PEER_REFUSE,  /* nothing listens on the port */
	PEER_BACKLOG, /* a listener whose backlog is full: connect hangs */
};

struct script {
	enum peer peer;
	const char *greeting, *ehlo, *helo, *mail, *rcpt[3], *data, *final;
	/* After 354: NULL reads the data; HANG reads nothing (our writes fill
	 * the socket); CLOSE closes at once. */
	const char *body;
};

struct fake {
	int lfd, donefd;
	char addr[64];
	struct script s;
	char cmds[8192]; /* command lines, '\n'-joined */
	char *data;      /* raw bytes after 354, up to and including the dot line */
	size_t datalen, datacap;
	int fillers[16]; /* PEER_BACKLOG: the connections that fill the backlog */
	size_t nfillers;
	pthread_t th;
	int running;
};

/* Generated replies at the limits, filled in by setup(). */
static char line_max[SMTP_SEND_LINE_MAX + 8], line_over[SMTP_SEND_LINE_MAX + 8];
static char lines_max[SMTP_REPLY_MAX_LINES * 8 + 16], lines_over[SMTP_REPLY_MAX_LINES * 8 + 32];

static int
wait_in(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

/*
 * Stays quiet until the test says it is over (or the fake's wait runs
 * out, or the peer closes when drain is set): reads and drops what comes
 * when drain is set, reads nothing otherwise.
 */
static void
fake_hang(struct fake *f, int fd, int drain)
{
	struct pollfd p[2] = {{.fd = f->donefd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
	char b[4096];

	while (poll(p, drain ? 2 : 1, FAKE_WAIT_MS) > 0 && !(p[0].revents & POLLIN))
		if (read(fd, b, sizeof(b)) <= 0)
			break;
}

/* Sends a script entry (or dflt for NULL). 0 go on, 'h' hang, 'c' close. */
static int
fake_send(int fd, const char *e, const char *dflt)
{
	int act = 0;

	if (e == NULL)
		e = dflt;
	if (e[0] == HANG[0] || e[0] == CLOSE[0])
		act = *e++ == HANG[0] ? 'h' : 'c';
	if (*e)
		(void)!write(fd, e, strlen(e));
	return act;
}

/* Reads into buf until a LF; the line without CRLF in line. 0, -1 on EOF. */
static int
fake_line(int fd, char *buf, size_t *len, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(buf, '\n', *len);
		ssize_t n;

		if (nl != NULL) {
			size_t l = (size_t)(nl - buf), rest = *len - l - 1;
			size_t c = l > 0 && buf[l - 1] == '\r' ? l - 1 : l;

			if (c >= cap)
				c = cap - 1;
			memcpy(line, buf, c);
			line[c] = '\0';
			memmove(buf, nl + 1, rest);
			*len = rest;
			return 0;
		}
		if (*len >= 4096 || !wait_in(fd, FAKE_WAIT_MS))
			return -1;
		n = read(fd, buf + *len, 4096 - *len);
		if (n <= 0)
			return -1;
		*len += (size_t)n;
	}
}

static void
fake_data_add(struct fake *f, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (f->datalen + n > f->datacap) {
		f->datacap = (f->datalen + n) * 2;
		f->data = realloc(f->data, f->datacap);
		assert_non_null(f->data);
	}
	memcpy(f->data + f->datalen, p, n);
	f->datalen += n;
}

static int
data_done(const struct fake *f)
{
	return (f->datalen >= 5 && memcmp(f->data + f->datalen - 5, "\r\n.\r\n", 5) == 0) ||
	       (f->datalen == 3 && memcmp(f->data, ".\r\n", 3) == 0);
}

/* Reads the raw DATA bytes (leftovers in buf first) up to the dot line. */
static int
fake_data(struct fake *f, int fd, char *buf, size_t len)
{
	fake_data_add(f, buf, len);
	while (!data_done(f)) {
		ssize_t n;

		if (!wait_in(fd, FAKE_WAIT_MS) || (n = read(fd, buf, 4096)) <= 0)
			return -1;
		fake_data_add(f, buf, (size_t)n);
	}
	return 0;
}

static void
fake_record(struct fake *f, const char *line)
{
	if (f->cmds[0])
		strncat(f->cmds, "\n", sizeof(f->cmds) - strlen(f->cmds) - 1);
	strncat(f->cmds, line, sizeof(f->cmds) - strlen(f->cmds) - 1);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	char buf[4096 + 1], line[4096];
	size_t len = 0;
	int fd, nrcpt = 0, act;

	if (!wait_in(f->lfd, FAKE_WAIT_MS) || (fd = accept(f->lfd, NULL, NULL)) < 0)
		return NULL;
	act = fake_send(fd, f->s.greeting, "220 fake ESMTP\r\n");
	while (act == 0 && fake_line(fd, buf, &len, line, sizeof(line)) == 0) {
		const char *e = NULL, *dflt = "500 what\r\n";

		fake_record(f, line);
		if (!strncmp(line, "EHLO", 4)) {
			e = f->s.ehlo, dflt = "250 fake\r\n";
		} else if (!strncmp(line, "HELO", 4)) {
			e = f->s.helo, dflt = "250 fake\r\n";
		} else if (!strncmp(line, "MAIL", 4)) {
			e = f->s.mail, dflt = "250 2.1.0 ok\r\n";
		} else if (!strncmp(line, "RCPT", 4)) {
			e = nrcpt < 3 ? f->s.rcpt[nrcpt] : NULL, dflt = "250 2.1.5 ok\r\n";
			nrcpt++;
		} else if (!strncmp(line, "DATA", 4)) {
			e = f->s.data, dflt = "354 go\r\n";
		} else if (!strncmp(line, "QUIT", 4)) {
			fake_send(fd, NULL, "221 bye\r\n");
			break;
		}
		if ((act = fake_send(fd, e, dflt)) != 0 || strncmp(line, "DATA", 4) != 0 ||
		    strncmp(e ? e : dflt, "354", 3) != 0)
			continue;
		if (f->s.body != NULL) {
			act = f->s.body[0] == HANG[0] ? 's' : 'c';
			break;
		}
		if (fake_data(f, fd, buf, len) < 0)
			break;
		len = 0;
		act = fake_send(fd, f->s.final, "250 2.0.0 queued\r\n");
	}
	if (act == 'h' || act == 's')
		fake_hang(f, fd, act == 'h');
	close(fd);
	return NULL;
}

/* Binds a listener on 127.0.0.1 or ::1 port 0; its "HOST:PORT" in f->addr.
 * 0, or -1 if there is no ::1 here. */
static int
fake_bind(struct fake *f, int v6, int rcvbuf)
{
	struct sockaddr_storage ss = {0};
	socklen_t al = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	char a[INET6_ADDRSTRLEN];

	if (v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	f->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&ss, al) < 0) {
		assert_true(v6);
		if (f->lfd >= 0)
			close(f->lfd);
		f->lfd = -1;
		return -1;
	}
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(f->lfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)),
		                 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&ss, &al), 0);
	if (v6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a));
		snprintf(f->addr, sizeof(f->addr), "[%s]:%d", a,
		         ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d",
		         ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	return 0;
}

/*
 * Fills the backlog of a listener that never accepts: connects until one
 * connection does not complete. 0, or -1 if the kernel completes them all.
 */
static int
fake_fill_backlog(struct fake *f)
{
	struct sockaddr_storage ss;
	socklen_t al = sizeof(ss);

	assert_int_equal(listen(f->lfd, 0), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&ss, &al), 0);
	while (f->nfillers < sizeof(f->fillers) / sizeof(f->fillers[0])) {
		int s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pollfd p = {.fd = s, .events = POLLOUT};

		assert_true(s >= 0);
		f->fillers[f->nfillers++] = s;
		if (connect(s, (struct sockaddr *)&ss, al) < 0 && errno == EINPROGRESS &&
		    poll(&p, 1, 200) == 0)
			return 0;
	}
	return -1;
}

/* Starts the peer of script s; 0, or -1 when it cannot be had here. */
static int
fake_start(struct fake *f, const struct script *s, int v6)
{
	memset(f, 0, sizeof(*f));
	f->s = *s;
	f->donefd = eventfd(0, EFD_CLOEXEC);
	assert_true(f->donefd >= 0);
	if (fake_bind(f, v6, s->body && s->body[0] == HANG[0] ? 4096 : 0) < 0)
		return -1;
	switch (s->peer) {
	case PEER_REFUSE:
		close(f->lfd);
		f->lfd = -1;
		return 0;
	case PEER_BACKLOG:
		return fake_fill_backlog(f);
	case PEER_LISTEN:
		break;
	}
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	f->running = 1;
	return 0;
}

/* Tells the fake the test is over and waits for it; its records stay. */
static void
fake_stop(struct fake *f)
{
	uint64_t one = 1;

	assert_int_equal(write(f->donefd, &one, sizeof(one)), sizeof(one));
	if (f->running)
		pthread_join(f->th, NULL);
	for (size_t i = 0; i < f->nfillers; i++)
		close(f->fillers[i]);
	if (f->lfd >= 0)
		close(f->lfd);
	close(f->donefd);
}

static void
fake_free(struct fake *f)
{
	free(f->data);
	f->data = NULL;
}

static int
msg_fd(const char *s, size_t len)
{
	int fd = memfd_create("msg", 0);

	assert_true(fd >= 0);
	if (len > 0)
		assert_int_equal(write(fd, s, len), (ssize_t)len);
	return fd;
}

/* A message of FILL bytes of 78-character lines. */
static int
fill_fd(void)
{
	char *b = malloc(FILL);
	int fd;

	assert_non_null(b);
	for (size_t i = 0; i < FILL; i++)
		b[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' : 'x';
	fd = msg_fd(b, FILL);
	free(b);
	return fd;
}

#define B(s) s, sizeof(s) - 1

/* What the client sends; the rows' want_cmds are built from these. */
#define EHLO_ "EHLO test.example\n"
#define HELO_ "HELO test.example\n"
#define MAIL_ "MAIL FROM:<s@example.org>\n"
#define RCPT_ "RCPT TO:<r@example.org>\n"
#define AB_ "RCPT TO:<a@example.org>\nRCPT TO:<b@example.org>\n"
#define ENV_ EHLO_ MAIL_ RCPT_
#define AB                                                                                         \
	{                                                                                          \
		"a@example.org", "b@example.org"                                                   \
	}

#define QUEUED "250 2.0.0 queued"
#define X_DATA B("x\r\n.\r\n")
#define NO_DATA NULL, 0

/* The message and envelope of a row; zero means the usual. */
struct msg {
	const char *rcpts[3]; /* {NULL} = r@example.org */
	const char *from;     /* NULL = s@example.org; "" = <> */
	const char *body;     /* NULL = "x\r\n" */
	size_t bodylen;
	int fill;            /* the body is FILL bytes from fill_fd() instead */
	uint64_t timeout_ms; /* 0 = T_NORMAL */
};

struct want {
	enum smtp_status status;
	enum smtp_send_step step;
	const char *reply;  /* smtp_send_reply_text(, "\n"), exact */
	const char *detail; /* the start of detail ("" with SMTP_REPLY); NULL = not checked */
	const char *cmds;   /* exact, '\n'-joined; a trailing '\n' is ignored */
	const char *data;   /* exact, NULL = nothing after 354 */
	size_t datalen;
	size_t accepted; /* checked when status is SMTP_REPLY */
};

struct vec {
	const char *name;
	struct script s;
	struct msg m;
	struct want w;
};

/* clang-format off */
#define DELIVERED SMTP_REPLY, SMTP_SEND_BODY
#define REFUSED(step) SMTP_REPLY, SMTP_SEND_##step
#define FAILED(st, step) SMTP_ERR_##st, SMTP_SEND_##step
#define USUAL {.rcpts = {NULL}}
#define SHORT {.timeout_ms = T_SHORT}

static const struct vec vecs[] = {
    /* Delivered, and what goes on the wire. */
    {"dot-stuffing, bare LF, missing final CRLF, 8-bit",
     {.ehlo = "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
     {.body = B("Subject: t\n\n.hidden\r\n..two\r\nline\rcr\n.\r\nend\xe9")},
     {DELIVERED, QUEUED, "", EHLO_ "MAIL FROM:<s@example.org> BODY=8BITMIME\n" RCPT_ "DATA\nQUIT",
      B("Subject: t\r\n\r\n..hidden\r\n...two\r\nline\rcr\r\n..\r\nend\xe9\r\n.\r\n"), 1}},
    {"7-bit body: no BODY; SIZE when offered; LF.LF is no end of data; <> stripped",
     {.ehlo = "250-fake\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"},
     {.rcpts = {"<r@example.org>"}, .from = "<s@example.org>", .body = B("a\n.\nb\r\n")},
     {DELIVERED, QUEUED, "", EHLO_ "MAIL FROM:<s@example.org> SIZE=7\n" RCPT_ "DATA\nQUIT",
      B("a\r\n..\r\nb\r\n.\r\n"), 1}},
    {"8-bit body but no 8BITMIME offered; null sender",
     {0}, {.from = "", .body = B("\xff\r\n")},
     {DELIVERED, QUEUED, "", EHLO_ "MAIL FROM:<>\n" RCPT_ "DATA\nQUIT", B("\xff\r\n.\r\n"), 1}},
    {"UTF-8 envelope with SMTPUTF8 offered",
     {.ehlo = "250-fake\r\n250 SMTPUTF8\r\n"}, {.rcpts = {"j\xc3\xbcrgen@example.org"}},
     {DELIVERED, QUEUED, "",
      EHLO_ "MAIL FROM:<s@example.org> SMTPUTF8\nRCPT TO:<j\xc3\xbcrgen@example.org>\nDATA\nQUIT",
      X_DATA, 1}},
    {"UTF-8 envelope, SMTPUTF8 not offered: sent without it",
     {0}, {.from = "j\xc3\xbcrgen@example.org"},
     {DELIVERED, QUEUED, "", EHLO_ "MAIL FROM:<j\xc3\xbcrgen@example.org>\n" RCPT_ "DATA\nQUIT",
      X_DATA, 1}},
    {"SIZE, 8BITMIME and SMTPUTF8 together, keywords in any case",
     {.ehlo = "250-fake\r\n250-size\r\n250-8bitmime\r\n250 SmtpUtf8\r\n"},
     {.rcpts = {"j\xc3\xbcrgen@example.org"}, .body = B("\xe9\r\n")},
     {DELIVERED, QUEUED, "",
      EHLO_ "MAIL FROM:<s@example.org> SIZE=3 BODY=8BITMIME SMTPUTF8\n"
      "RCPT TO:<j\xc3\xbcrgen@example.org>\nDATA\nQUIT", B("\xe9\r\n.\r\n"), 1}},
    {"a keyword only in the first line of the EHLO reply is no offer",
     {.ehlo = "250-SIZE fake\r\n250 HELP\r\n"}, USUAL,
     {DELIVERED, QUEUED, "", ENV_ "DATA\nQUIT", X_DATA, 1}},
    {"multi-line greeting, EHLO and final reply; bare LF reply lines",
     {.greeting = "220-fake\n220-more\r\n220 ready\r\n", .ehlo = "250-fake\r\n250-X\r\n250 Y\n",
      .final = "250-2.0.0 ok\r\n250 2.0.0 queued as 42\r\n"}, USUAL,
     {DELIVERED, "250-2.0.0 ok\n250 2.0.0 queued as 42", "", ENV_ "DATA\nQUIT", X_DATA, 1}},
    {"empty message",
     {0}, {.body = "", .bodylen = 0},
     {DELIVERED, QUEUED, "", ENV_ "DATA\nQUIT", B(".\r\n"), 1}},
    {"message of one lone dot and CR LF variants",
     {0}, {.body = B(".\r\r\n\n.")},
     {DELIVERED, QUEUED, "", ENV_ "DATA\nQUIT", B("..\r\r\n\r\n..\r\n.\r\n"), 1}},
    {"a reply line of exactly the line limit",
     {.greeting = line_max}, USUAL,
     {DELIVERED, QUEUED, "", ENV_ "DATA\nQUIT", X_DATA, 1}},
    {"a reply of exactly the line-count limit",
     {.ehlo = lines_max}, USUAL,
     {DELIVERED, QUEUED, "", ENV_ "DATA\nQUIT", X_DATA, 1}},
    {"one of two recipients refused",
     {.rcpt = {"550 5.1.1 no such user\r\n"}}, {.rcpts = AB},
     {DELIVERED, QUEUED, "", EHLO_ MAIL_ AB_ "DATA\nQUIT", X_DATA, 1}},

    /* Refused: the exchange ends on a 4xx or 5xx, QUIT follows. */
    {"banner 4xx",
     {.greeting = "421 4.3.2 busy\r\n"}, USUAL,
     {REFUSED(BANNER), "421 4.3.2 busy", "", "QUIT", NO_DATA, 0}},
    {"banner 5xx",
     {.greeting = "554 5.3.2 go away\r\n"}, USUAL,
     {REFUSED(BANNER), "554 5.3.2 go away", "", "QUIT", NO_DATA, 0}},
    {"EHLO refused: HELO, and no extensions after HELO",
     {.ehlo = "502 5.5.1 no EHLO here\r\n", .helo = "250-fake\r\n250 8BITMIME\r\n"},
     {.body = B("\xe9\r\n")},
     {DELIVERED, QUEUED, "", EHLO_ HELO_ MAIL_ RCPT_ "DATA\nQUIT", B("\xe9\r\n.\r\n"), 1}},
    {"EHLO and HELO refused 5xx",
     {.ehlo = "502 5.5.1 no\r\n", .helo = "550 5.7.1 not you\r\n"}, USUAL,
     {REFUSED(HELO), "550 5.7.1 not you", "", EHLO_ HELO_ "QUIT", NO_DATA, 0}},
    {"EHLO and HELO refused 4xx",
     {.ehlo = "451 4.3.0 later\r\n", .helo = "451 4.3.0 later\r\n"}, USUAL,
     {REFUSED(HELO), "451 4.3.0 later", "", EHLO_ HELO_ "QUIT", NO_DATA, 0}},
    {"MAIL refused 5xx",
     {.mail = "553 5.1.8 bad sender\r\n"}, USUAL,
     {REFUSED(MAIL), "553 5.1.8 bad sender", "", EHLO_ MAIL_ "QUIT", NO_DATA, 0}},
    {"MAIL refused 4xx",
     {.mail = "451 4.3.0 later\r\n"}, USUAL,
     {REFUSED(MAIL), "451 4.3.0 later", "", EHLO_ MAIL_ "QUIT", NO_DATA, 0}},
    {"every recipient refused, a 4xx among them: the 4xx decides",
     {.rcpt = {"550 5.1.1 no such user\r\n", "450 4.2.0 later\r\n"}}, {.rcpts = AB},
     {REFUSED(RCPT), "450 4.2.0 later", "", EHLO_ MAIL_ AB_ "QUIT", NO_DATA, 0}},
    {"every recipient refused 5xx: the first decides",
     {.rcpt = {"550 5.1.1 no such user\r\n", "551 5.1.6 moved\r\n"}}, {.rcpts = AB},
     {REFUSED(RCPT), "550 5.1.1 no such user", "", EHLO_ MAIL_ AB_ "QUIT", NO_DATA, 0}},
    {"DATA refused 4xx",
     {.data = "451 4.3.0 try later\r\n"}, USUAL,
     {REFUSED(DATA), "451 4.3.0 try later", "", ENV_ "DATA\nQUIT", NO_DATA, 1}},
    {"DATA refused 5xx",
     {.data = "554 5.5.1 no valid recipients\r\n"}, USUAL,
     {REFUSED(DATA), "554 5.5.1 no valid recipients", "", ENV_ "DATA\nQUIT", NO_DATA, 1}},
    {"final reply 4xx",
     {.final = "451 4.3.0 disk full\r\n"}, USUAL,
     {REFUSED(BODY), "451 4.3.0 disk full", "", ENV_ "DATA\nQUIT", X_DATA, 1}},
    {"final reply 5xx",
     {.final = "554 5.7.1 rejected\r\n"}, USUAL,
     {REFUSED(BODY), "554 5.7.1 rejected", "", ENV_ "DATA\nQUIT", X_DATA, 1}},

    /* Replies out of turn: protocol failures that keep the reply, QUIT. */
    {"banner 250",
     {.greeting = "250 hello\r\n"}, USUAL,
     {FAILED(PROTOCOL, BANNER), "250 hello", "reply 250 out of turn at banner", "QUIT",
      NO_DATA, 0}},
    {"MAIL answered 354",
     {.mail = "354 go on\r\n"}, USUAL,
     {FAILED(PROTOCOL, MAIL), "354 go on", "reply 354 out of turn at mail", EHLO_ MAIL_ "QUIT",
      NO_DATA, 0}},
    {"DATA answered 250",
     {.data = "250 2.0.0 ok\r\n"}, USUAL,
     {FAILED(PROTOCOL, DATA), "250 2.0.0 ok", "reply 250 out of turn at data",
      ENV_ "DATA\nQUIT", NO_DATA, 0}},

    /* Malformed and over-long replies: protocol failures, no QUIT. */
    {"garbage reply to MAIL",
     {.mail = "hello there\r\n"}, USUAL,
     {FAILED(PROTOCOL, MAIL), "", "malformed reply: hello there", EHLO_ MAIL_, NO_DATA, 0}},
    {"reply code 1xx",
     {.greeting = "120 wait\r\n"}, USUAL,
     {FAILED(PROTOCOL, BANNER), "", "malformed reply: 120 wait", "", NO_DATA, 0}},
    {"reply code changes inside a multi-line reply",
     {.ehlo = "250-fake\r\n220 odd\r\n"}, USUAL,
     {FAILED(PROTOCOL, EHLO), "", "malformed reply: 220 odd", EHLO_, NO_DATA, 0}},
    {"a reply line one byte over the limit",
     {.greeting = line_over}, USUAL,
     {FAILED(PROTOCOL, BANNER), "", "reply line longer than 2048 bytes", "", NO_DATA, 0}},
    {"a reply one line over the limit",
     {.ehlo = lines_over}, USUAL,
     {FAILED(PROTOCOL, EHLO), "", "reply longer than 256 lines", EHLO_, NO_DATA, 0}},

    /* Connect. */
    {"connection refused",
     {.peer = PEER_REFUSE}, USUAL,
     {FAILED(CONNECT, CONNECT), "", "connect 127.0.0.1:", "", NO_DATA, 0}},
    {"connect times out (full backlog)",
     {.peer = PEER_BACKLOG}, SHORT,
     {FAILED(TIMEOUT, CONNECT), "", "connect 127.0.0.1:", "", NO_DATA, 0}},

    /* Timeouts, at every step. */
    {"timeout: banner",
     {.greeting = HANG}, SHORT,
     {FAILED(TIMEOUT, BANNER), "", "no reply in 300 ms", "", NO_DATA, 0}},
    {"timeout: inside a multi-line banner",
     {.greeting = HANG "220-part\r\n"}, SHORT,
     {FAILED(TIMEOUT, BANNER), "", "no reply in 300 ms", "", NO_DATA, 0}},
    {"timeout: EHLO",
     {.ehlo = HANG}, SHORT,
     {FAILED(TIMEOUT, EHLO), "", "no reply in", EHLO_, NO_DATA, 0}},
    {"timeout: HELO",
     {.ehlo = "500 no\r\n", .helo = HANG}, SHORT,
     {FAILED(TIMEOUT, HELO), "", "no reply in", EHLO_ HELO_, NO_DATA, 0}},
    {"timeout: MAIL",
     {.mail = HANG}, SHORT,
     {FAILED(TIMEOUT, MAIL), "", "no reply in", EHLO_ MAIL_, NO_DATA, 0}},
    {"timeout: second RCPT",
     {.rcpt = {NULL, HANG}}, {.rcpts = AB, .timeout_ms = T_SHORT},
     {FAILED(TIMEOUT, RCPT), "", "no reply in", EHLO_ MAIL_ AB_, NO_DATA, 0}},
    {"timeout: DATA",
     {.data = HANG}, SHORT,
     {FAILED(TIMEOUT, DATA), "", "no reply in", ENV_ "DATA", NO_DATA, 0}},
    {"timeout: writing the body (the server reads nothing)",
     {.body = HANG}, {.fill = 1, .timeout_ms = T_SHORT},
     {FAILED(TIMEOUT, BODY), "", "the next hop took nothing for 300 ms", ENV_ "DATA",
      NO_DATA, 0}},
    {"timeout: the final reply",
     {.final = HANG}, SHORT,
     {FAILED(TIMEOUT, BODY), "", "no reply in", ENV_ "DATA", X_DATA, 0}},

    /* The server closes, at every step. */
    {"closed: before the banner",
     {.greeting = CLOSE}, USUAL,
     {FAILED(CLOSED, BANNER), "", "the next hop closed", "", NO_DATA, 0}},
    {"closed: inside the banner",
     {.greeting = CLOSE "220-part\r\n"}, USUAL,
     {FAILED(CLOSED, BANNER), "", "the next hop closed", "", NO_DATA, 0}},
    {"closed: EHLO",
     {.ehlo = CLOSE}, USUAL,
     {FAILED(CLOSED, EHLO), "", "the next hop closed", EHLO_, NO_DATA, 0}},
    {"closed: HELO",
     {.ehlo = "500 no\r\n", .helo = CLOSE}, USUAL,
     {FAILED(CLOSED, HELO), "", "the next hop closed", EHLO_ HELO_, NO_DATA, 0}},
    {"closed: MAIL",
     {.mail = CLOSE}, USUAL,
     {FAILED(CLOSED, MAIL), "", "the next hop closed", EHLO_ MAIL_, NO_DATA, 0}},
    {"closed: RCPT",
     {.rcpt = {CLOSE}}, USUAL,
     {FAILED(CLOSED, RCPT), "", "the next hop closed", ENV_, NO_DATA, 0}},
    {"closed: DATA",
     {.data = CLOSE}, USUAL,
     {FAILED(CLOSED, DATA), "", "the next hop closed", ENV_ "DATA", NO_DATA, 0}},
    /* EPIPE or ECONNRESET on a write, or EOF on the read after it. */
    {"closed: during the body",
     {.body = CLOSE}, {.fill = 1},
     {FAILED(CLOSED, BODY), "", NULL, ENV_ "DATA", NO_DATA, 0}},
    {"closed: instead of the final reply",
     {.final = CLOSE}, USUAL,
     {FAILED(CLOSED, BODY), "", "the next hop closed", ENV_ "DATA", X_DATA, 0}},
};
/* clang-format on */

static size_t
count_rcpts(const struct msg *m)
{
	size_t n = 0;

	while (n < 3 && m->rcpts[n] != NULL)
		n++;
	return n;
}

/* Runs one row against a fake on 127.0.0.1 (v6 = 0) or ::1. */
static void
run_vec(const struct vec *v, int v6)
{
	static const char *dflt_rcpt[] = {"r@example.org"};
	const struct msg *m = &v->m;
	const struct want *w = &v->w;
	struct smtp_send_req req = {
	    .helo = "test.example",
	    .mail_from = m->from ? m->from : "s@example.org",
	    .rcpts = m->rcpts[0] ? m->rcpts : dflt_rcpt,
	    .nrcpts = m->rcpts[0] ? count_rcpts(m) : 1,
	    .fd = m->fill   ? fill_fd()
	          : m->body ? msg_fd(m->body, m->bodylen)
	                    : msg_fd(B("x\r\n")),
	    .size = m->fill   ? FILL
	            : m->body ? m->bodylen
	                      : 3,
	    .timeout_ms = m->timeout_ms ? m->timeout_ms : T_NORMAL,
	};
	struct smtp_send_result res;
	struct fake f;
	char *reply, cmds[8192];
	uint64_t t0, el;
	enum smtp_status st;

	if (fake_start(&f, &v->s, v6) < 0) {
		fake_stop(&f);
		close(req.fd);
		print_message("%s: cannot be set up here, skipped\n", v->name);
		return;
	}
	req.next_hop = f.addr;
	t0 = monotonic_ms();
	st = smtp_send(&req, &res);
	el = monotonic_ms() - t0;
	fake_stop(&f);
	close(req.fd);
	reply = smtp_send_reply_text(&res.reply, "\n");

	if (st != w->status || res.status != st || res.step != w->step)
		fail_msg("%s: %s at %s, want %s at %s (detail \"%s\", reply \"%s\")", v->name,
		         smtp_status_name(st), smtp_send_step_name(res.step),
		         smtp_status_name(w->status), smtp_send_step_name(w->step), res.detail,
		         reply);
	if (strcmp(reply, w->reply) != 0)
		fail_msg("%s: reply \"%s\", want \"%s\"", v->name, reply, w->reply);
	if (w->detail && strncmp(res.detail, w->detail, strlen(w->detail)) != 0)
		fail_msg("%s: detail \"%s\", want \"%s...\"", v->name, res.detail, w->detail);
	if (st == SMTP_REPLY && res.detail[0] != '\0')
		fail_msg("%s: a detail \"%s\" with a reply", v->name, res.detail);
	if (st == SMTP_REPLY && res.accepted != w->accepted)
		fail_msg("%s: %zu recipients accepted, want %zu", v->name, res.accepted,
		         w->accepted);
	snprintf(cmds, sizeof(cmds), "%s", w->cmds);
	if (cmds[0] && cmds[strlen(cmds) - 1] == '\n')
		cmds[strlen(cmds) - 1] = '\0';
	if (strcmp(f.cmds, cmds) != 0)
		fail_msg("%s: commands\n%s\nwant\n%s", v->name, f.cmds, cmds);
	if (w->data == NULL) {
		if (f.datalen != 0)
			fail_msg("%s: %zu data bytes seen, want none", v->name, f.datalen);
	} else if (f.datalen != w->datalen || memcmp(f.data, w->data, f.datalen) != 0) {
		fail_msg("%s: data (%zu bytes) differs from the %zu expected", v->name, f.datalen,
		         w->datalen);
	}
	if (st == SMTP_ERR_TIMEOUT && (el + 50 < req.timeout_ms || el > req.timeout_ms + 2500))
		fail_msg("%s: took %llu ms with a timeout of %llu ms", v->name,
		         (unsigned long long)el, (unsigned long long)req.timeout_ms);
	free(reply);
	smtp_send_result_clear(&res);
	fake_free(&f);
}

static int
setup(void **state)
{
	size_t n;

	/* "220 " + text: exactly SMTP_SEND_LINE_MAX bytes, and one more. */
	memcpy(line_max, "220 ", 4);
	memset(line_max + 4, 'x', SMTP_SEND_LINE_MAX - 4);
	memcpy(line_max + SMTP_SEND_LINE_MAX, "\r\n", 3);
	memcpy(line_over, "220 ", 4);
	memset(line_over + 4, 'x', SMTP_SEND_LINE_MAX - 3);
	memcpy(line_over + SMTP_SEND_LINE_MAX + 1, "\r\n", 3);
	/* SMTP_REPLY_MAX_LINES lines in one reply, and one more. */
	n = 0;
	for (int i = 0; i < SMTP_REPLY_MAX_LINES - 1; i++)
		n += (size_t)sprintf(lines_max + n, "250-l%d\r\n", i % 10);
	sprintf(lines_max + n, "250 end\r\n");
	n = 0;
	for (int i = 0; i < SMTP_REPLY_MAX_LINES; i++)
		n += (size_t)sprintf(lines_over + n, "250-l%d\r\n", i % 10);
	sprintf(lines_over + n, "250 end\r\n");
	return 0;
}

static void
test_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		run_vec(&vecs[i], 0);
}

static void
test_ipv6(void **state)
{
	run_vec(&vecs[0], 1);
}

/* A host name: localhost may resolve to ::1 first, where nothing listens. */
static void
test_host_name(void **state)
{
	const char *rcpt[] = {"r@example.org"};
	struct smtp_send_req req = {.rcpts = rcpt, .nrcpts = 1, .size = 3, .timeout_ms = T_NORMAL};
	struct smtp_send_result res;
	struct script s = {0};
	struct fake f;
	char hp[64];

	req.fd = msg_fd(B("x\r\n"));
	assert_int_equal(fake_start(&f, &s, 0), 0);
	snprintf(hp, sizeof(hp), "localhost%s", strchr(f.addr, ':'));
	req.next_hop = hp;
	assert_int_equal(smtp_send(&req, &res), SMTP_REPLY);
	fake_stop(&f);
	assert_int_equal(res.reply.code, 250);
	/* helo NULL: this host's name. */
	assert_true(strncmp(f.cmds, "EHLO ", 5) == 0 && f.cmds[5] != '\n');
	smtp_send_result_clear(&res);
	fake_free(&f);
	close(req.fd);
}

/* The reference encoding, line by line: each LF-ended segment, without a
 * CR before the LF, is sent stuffed with CRLF; a last unended one too. */
static char *
reference(const unsigned char *in, size_t n, size_t *outlen)
{
	char *out = malloc(2 * n + 8);
	size_t o = 0, start = 0;

	assert_non_null(out);
	while (start < n) {
		const unsigned char *nl = memchr(in + start, '\n', n - start);
		size_t end = nl ? (size_t)(nl - in) : n, l = end - start;

		if (l > 0 && in[end - 1] == '\r')
			l--;
		if (l > 0 && in[start] == '.')
			out[o++] = '.';
		memcpy(out + o, in + start, l);
		o += l;
		out[o++] = '\r';
		out[o++] = '\n';
		start = end + 1;
	}
	memcpy(out + o, ".\r\n", 3);
	*outlen = o + 3;
	return out;
}

static void
test_large_random(void **state)
{
	/* No lone CR at the very end: the reference has no opinion on it. */
	static const unsigned char alphabet[] = {'a', 'b', '.', '.', '\n', '\r', 0xe9, ' '};
	size_t n = 300 * 1024 + 13, wantlen;
	unsigned char *body = malloc(n);
	const char *rcpt[] = {"r@example.org"};
	struct script s = {.ehlo = "250-fake\r\n250 8BITMIME\r\n"};
	struct smtp_send_req req = {.helo = "test.example",
	                            .mail_from = "s@example.org",
	                            .rcpts = rcpt,
	                            .nrcpts = 1,
	                            .size = n,
	                            .timeout_ms = 5000};
	struct smtp_send_result res;
	struct fake f;
	uint32_t x = 12345;
	char *want;

	assert_non_null(body);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		body[i] = alphabet[(x >> 16) % sizeof(alphabet)];
	}
	body[n - 1] = 'a';
	want = reference(body, n, &wantlen);
	req.fd = msg_fd((const char *)body, n);
	assert_int_equal(fake_start(&f, &s, 0), 0);
	req.next_hop = f.addr;
	assert_int_equal(smtp_send(&req, &res), SMTP_REPLY);
	fake_stop(&f);
	assert_int_equal(res.reply.code, 250);
	assert_int_equal(f.datalen, wantlen);
	assert_memory_equal(f.data, want, wantlen);
	assert_non_null(strstr(f.cmds, "BODY=8BITMIME"));
	smtp_send_result_clear(&res);
	fake_free(&f);
	free(want);
	free(body);
	close(req.fd);
}

/*
 * Arguments refused before any byte is sent: SMTP_ERR_LOCAL at setup, and
 * the listener given as next hop sees no connection.
 */
static void
test_bad_arguments(void **state)
{
	static char long_addr[SMTP_PATH_MAX + 16];
	static const struct {
		const char *hp, *helo, *from, *rcpt;
		size_t n;
		uint64_t size; /* the message is "x\r\n", 3 bytes */
		const char *want;
	} v[] = {
	    {NULL, NULL, "s\r\nRSET@x", "r@x", 1, 3, "bad sender address"},
	    {NULL, NULL, "s@x>", "r@x", 1, 3, "bad sender address"},
	    {NULL, NULL, "s@x", "r@x\r\nDATA", 1, 3, "bad recipient address"},
	    {NULL, NULL, "s@x", "r@x\nDATA", 1, 3, "bad recipient address"},
	    {NULL, NULL, "s@x", "", 1, 3, "bad recipient address"},
	    {NULL, NULL, "s@x", "<>", 1, 3, "bad recipient address"},
	    {NULL, NULL, "s@x", "a<b@x", 1, 3, "bad recipient address"},
	    {NULL, NULL, "s@x", "<<a@x>>", 1, 3, "bad recipient address"},
	    {NULL, NULL, "s@x", long_addr, 1, 3, "bad recipient address"},
	    {NULL, NULL, "s@x", "r@x", 0, 3, "no recipients"},
	    {NULL, "a\r\nRSET", "s@x", "r@x", 1, 3, "bad HELO name"},
	    {NULL, NULL, "s@x", "r@x", 1, 10, "reading the stored message: shorter"},
	    {"nohost", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"127.0.0.1:", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"127.0.0.1:0", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"127.0.0.1:99999", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"::1:25", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"[::1]25", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"[]:25", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"127.0.0.1:25x", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	    {"", NULL, "s@x", "r@x", 1, 3, "bad next hop address"},
	};
	struct smtp_send_result res;
	struct fake f;
	int fd = msg_fd(B("x\r\n"));

	/* "<" + SMTP_PATH_MAX + 1 bytes + ">": one byte too long. */
	memset(long_addr, 'a', SMTP_PATH_MAX + 3);
	long_addr[0] = '<';
	long_addr[SMTP_PATH_MAX + 2] = '>';
	long_addr[SMTP_PATH_MAX + 3] = '\0';
	assert_int_equal(fake_bind(&f, 0, 0), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *r[] = {v[i].rcpt};
		struct smtp_send_req req = {.next_hop = v[i].hp ? v[i].hp : f.addr,
		                            .helo = v[i].helo,
		                            .mail_from = v[i].from,
		                            .rcpts = r,
		                            .nrcpts = v[i].n,
		                            .fd = fd,
		                            .size = v[i].size,
		                            .timeout_ms = 1000};

		if (smtp_send(&req, &res) != SMTP_ERR_LOCAL || res.step != SMTP_SEND_SETUP ||
		    strncmp(res.detail, v[i].want, strlen(v[i].want)) != 0)
			fail_msg("case %zu: %s at %s \"%s\", want local at setup \"%s...\"", i,
			         smtp_status_name(res.status), smtp_send_step_name(res.step),
			         res.detail, v[i].want);
		assert_int_equal(res.reply.code, 0);
		smtp_send_result_clear(&res);
		if (wait_in(f.lfd, 0))
			fail_msg("case %zu: a connection was made", i);
	}
	close(f.lfd);
	close(fd);
}

/* The names callers print. */
static void
test_names(void **state)
{
	static const char *steps[] = {"setup", "connect", "banner", "ehlo", "helo",
	                              "mail",  "rcpt",    "data",   "body"};
	struct smtp_reply r;
	char *t;

	for (int i = 0; i <= SMTP_SEND_BODY; i++)
		assert_string_equal(smtp_send_step_name((enum smtp_send_step)i), steps[i]);
	assert_string_equal(smtp_send_step_name((enum smtp_send_step)99), "unknown");

	smtp_reply_init(&r);
	t = smtp_send_reply_text(&r, "\n");
	assert_string_equal(t, "");
	free(t);
	assert_int_equal(smtp_reply_feed(&r, B("250-2.0.0 a")), 0);
	assert_int_equal(smtp_reply_feed(&r, B("250 2.0.0 b")), 1);
	t = smtp_send_reply_text(&r, " / ");
	assert_string_equal(t, "250-2.0.0 a / 250 2.0.0 b");
	free(t);
	smtp_reply_clear(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),       cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_host_name),     cmocka_unit_test(test_large_random),
	    cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}

/*
 * Unit tests for store/smtp_send against a fake SMTP server: a thread on
 * 127.0.0.1 (or ::1) port 0 that answers each command from a script and
 * records every command line and the raw DATA bytes. Each row of the table
 * is a script and a message -> the return code, the reply we must get, the
 * exact command sequence on the wire and the exact DATA bytes (dot-stuffed,
 * bare LF as CRLF). A large random message is checked against a reference
 * encoder written differently (line by line).
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtp/smtp_send.h"

#define FAKE_WAIT_MS 5000      /* the fake never waits longer than this */
#define HANG ((const char *)1) /* script entry: never answer this */

struct script {
	const char *greeting, *ehlo, *helo, *mail, *rcpt[3], *data, *final;
};

struct fake {
	int lfd;
	char addr[64];
	struct script s;
	int conns;
	char cmds[8192]; /* command lines, '\n'-joined */
	char *data;      /* raw bytes after 354, up to and including the dot line */
	size_t datalen, datacap;
	pthread_t th;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
wait_in(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

static void
fake_send(int fd, const char *s, const char *dflt)
{
	const char *r = s ? s : dflt;

	if (r != HANG)
		(void)!write(fd, r, strlen(r));
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

/* Drains the connection until EOF or the fake's wait runs out. */
static void
fake_hang(int fd)
{
	char b[4096];

	while (wait_in(fd, FAKE_WAIT_MS) && read(fd, b, sizeof(b)) > 0)
		;
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	char buf[4096 + 1], line[4096];
	size_t len = 0;
	int fd, nrcpt = 0;

	if (!wait_in(f->lfd, FAKE_WAIT_MS) || (fd = accept(f->lfd, NULL, NULL)) < 0)
		return NULL;
	f->conns++;
	fake_send(fd, f->s.greeting, "220 fake ESMTP\r\n");
	if (f->s.greeting == HANG)
		goto hang;
	while (fake_line(fd, buf, &len, line, sizeof(line)) == 0) {
		const char *r = NULL, *dflt = "500 what\r\n";

		if (f->cmds[0])
			strncat(f->cmds, "\n", sizeof(f->cmds) - strlen(f->cmds) - 1);
		strncat(f->cmds, line, sizeof(f->cmds) - strlen(f->cmds) - 1);
		if (!strncmp(line, "EHLO", 4)) {
			r = f->s.ehlo, dflt = "250 fake\r\n";
		} else if (!strncmp(line, "HELO", 4)) {
			r = f->s.helo, dflt = "250 fake\r\n";
		} else if (!strncmp(line, "MAIL", 4)) {
			r = f->s.mail, dflt = "250 2.1.0 ok\r\n";
		} else if (!strncmp(line, "RCPT", 4)) {
			r = nrcpt < 3 ? f->s.rcpt[nrcpt] : NULL, dflt = "250 2.1.5 ok\r\n";
			nrcpt++;
		} else if (!strncmp(line, "QUIT", 4)) {
			fake_send(fd, NULL, "221 bye\r\n");
			break;
		} else if (!strncmp(line, "DATA", 4)) {
			r = f->s.data, dflt = "354 go\r\n";
		}
		fake_send(fd, r, dflt);
		if (r == HANG)
			goto hang;
		if (!strncmp(line, "DATA", 4) && !strncmp(r ? r : dflt, "354", 3)) {
			/* Raw bytes from here to the dot line; leftovers first. */
			fake_data_add(f, buf, len);
			len = 0;
			while (!data_done(f)) {
				ssize_t n;

				if (!wait_in(fd, FAKE_WAIT_MS) || (n = read(fd, buf, 4096)) <= 0)
					goto out;
				fake_data_add(f, buf, (size_t)n);
			}
			fake_send(fd, f->s.final, "250 2.0.0 queued\r\n");
			if (f->s.final == HANG)
				goto hang;
		}
	}
	goto out;
hang:
	fake_hang(fd);
out:
	close(fd);
	return NULL;
}

/* Starts a fake on 127.0.0.1 (v6 = 0) or ::1; 0, or -1 if v6 is missing. */
static int
fake_start(struct fake *f, const struct script *s, int v6)
{
	memset(f, 0, sizeof(*f));
	f->s = *s;
	if (v6) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6,
		                         .sin6_addr = IN6ADDR_LOOPBACK_INIT};
		socklen_t al = sizeof(a);

		f->lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			if (f->lfd >= 0)
				close(f->lfd);
			return -1;
		}
		assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
		snprintf(f->addr, sizeof(f->addr), "[::1]:%d", ntohs(a.sin6_port));
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t al = sizeof(a);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(f->lfd >= 0);
		assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
		snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", ntohs(a.sin_port));
	}
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	return 0;
}

/* Waits for the fake to finish; its records stay until fake_free(). */
static void
fake_stop(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
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
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	return fd;
}

#define B(s) s, sizeof(s) - 1

struct vec {
	const char *name;
	struct script s;
	const char *from;
	const char *rcpts[3];
	size_t nrcpts;
	const char *body;
	size_t bodylen;
	uint64_t timeout_ms;
	int want_rc;
	const char *want_reply; /* exact */
	const char *want_cmds;  /* exact, '\n'-joined */
	const char *want_data;  /* exact, NULL = nothing after 354 */
	size_t want_datalen;
};

static const struct vec vecs[] = {
    {"dot-stuffing, bare LF, missing final CRLF, 8-bit",
     {.ehlo = "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("Subject: t\n\n.hidden\r\n..two\r\nline\rcr\n.\r\nend\xe9"),
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nMAIL FROM:<s@example.org> BODY=8BITMIME\nRCPT TO:<r@example.org>\n"
     "DATA\nQUIT",
     B("Subject: t\r\n\r\n..hidden\r\n...two\r\nline\rcr\r\n..\r\nend\xe9\r\n.\r\n")},
    {"7-bit body: no BODY; SIZE when offered; LF.LF is no end of data",
     {.ehlo = "250-fake\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n"},
     "<s@example.org>",
     {"<r@example.org>"},
     1,
     B("a\n.\nb\r\n"),
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nMAIL FROM:<s@example.org> SIZE=7\nRCPT TO:<r@example.org>\nDATA\nQUIT",
     B("a\r\n..\r\nb\r\n.\r\n")},
    {"8-bit body but no 8BITMIME offered; null sender",
     {0},
     "",
     {"r@example.org"},
     1,
     B("\xff\r\n"),
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nMAIL FROM:<>\nRCPT TO:<r@example.org>\nDATA\nQUIT",
     B("\xff\r\n.\r\n")},
    {"UTF-8 envelope with SMTPUTF8 offered",
     {.ehlo = "250-fake\r\n250 SMTPUTF8\r\n"},
     "s@example.org",
     {"j\xc3\xbcrgen@example.org"},
     1,
     B("x\r\n"),
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nMAIL FROM:<s@example.org> SMTPUTF8\n"
     "RCPT TO:<j\xc3\xbcrgen@example.org>\nDATA\nQUIT",
     B("x\r\n.\r\n")},
    {"EHLO refused: HELO",
     {.ehlo = "502 5.5.1 no EHLO here\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nHELO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<r@example.org>\n"
     "DATA\nQUIT",
     B("x\r\n.\r\n")},
    {"multi-line greeting, EHLO and final reply",
     {.greeting = "220-fake\r\n220-more\r\n220 ready\r\n",
      .ehlo = "250-fake\r\n250-X\r\n250 Y\r\n",
      .final = "250-2.0.0 ok\r\n250 2.0.0 queued as 42\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     0,
     "250-2.0.0 ok\n250 2.0.0 queued as 42",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<r@example.org>\nDATA\nQUIT",
     B("x\r\n.\r\n")},
    {"one of two recipients refused",
     {.rcpt = {"550 5.1.1 no such user\r\n", NULL}},
     "s@example.org",
     {"a@example.org", "b@example.org"},
     2,
     B("x\r\n"),
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<a@example.org>\n"
     "RCPT TO:<b@example.org>\nDATA\nQUIT",
     B("x\r\n.\r\n")},
    {"every recipient refused: no DATA",
     {.rcpt = {"450 4.2.0 later\r\n", "550 5.1.1 no such user\r\n"}},
     "s@example.org",
     {"a@example.org", "b@example.org"},
     2,
     B("x\r\n"),
     2000,
     1,
     "550 5.1.1 no such user",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<a@example.org>\n"
     "RCPT TO:<b@example.org>\nQUIT",
     NULL,
     0},
    {"4xx at DATA",
     {.data = "451 4.3.0 try later\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     1,
     "451 4.3.0 try later",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<r@example.org>\nDATA\nQUIT",
     NULL,
     0},
    {"5xx after the data",
     {.final = "554 5.7.1 rejected\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     1,
     "554 5.7.1 rejected",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<r@example.org>\nDATA\nQUIT",
     B("x\r\n.\r\n")},
    {"MAIL refused",
     {.mail = "553 5.1.8 bad sender\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     1,
     "553 5.1.8 bad sender",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nQUIT",
     NULL,
     0},
    {"greeting refuses",
     {.greeting = "554 5.3.2 go away\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     1,
     "554 5.3.2 go away",
     "QUIT",
     NULL,
     0},
    {"empty message",
     {0},
     "s@example.org",
     {"r@example.org"},
     1,
     "",
     0,
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<r@example.org>\nDATA\nQUIT",
     B(".\r\n")},
    {"message of one lone dot and CR LF variants",
     {0},
     "s@example.org",
     {"r@example.org"},
     1,
     B(".\r\r\n\n."),
     2000,
     0,
     "250 2.0.0 queued",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<r@example.org>\nDATA\nQUIT",
     B("..\r\r\n\r\n..\r\n.\r\n")},
    {"garbage reply to MAIL",
     {.mail = "hello there\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     -1,
     "malformed reply from the next hop: hello there",
     "EHLO test.example\nMAIL FROM:<s@example.org>",
     NULL,
     0},
    {"reply code changes inside a multi-line reply",
     {.ehlo = "250-fake\r\n220 odd\r\n"},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     2000,
     -1,
     "reply code changes inside a reply: 220 odd",
     "EHLO test.example",
     NULL,
     0},
    {"timeout waiting for the greeting",
     {.greeting = HANG},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     300,
     -1,
     "timeout waiting for the next hop's reply",
     "",
     NULL,
     0},
    {"timeout after EHLO",
     {.ehlo = HANG},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     300,
     -1,
     "timeout waiting for the next hop's reply",
     "EHLO test.example",
     NULL,
     0},
    {"timeout after the data",
     {.final = HANG},
     "s@example.org",
     {"r@example.org"},
     1,
     B("x\r\n"),
     300,
     -1,
     "timeout waiting for the next hop's reply",
     "EHLO test.example\nMAIL FROM:<s@example.org>\nRCPT TO:<r@example.org>\nDATA",
     B("x\r\n.\r\n")},
};

static void
run_vec(const struct vec *v, int v6)
{
	struct fake f;
	char reply[512];
	uint64_t t0;
	int fd = msg_fd(v->body, v->bodylen), rc;

	if (fake_start(&f, &v->s, v6) < 0) {
		close(fd);
		print_message("no ::1 here, IPv6 case skipped\n");
		return;
	}
	t0 = now_ms();
	rc = smtp_send(f.addr, "test.example", v->from, v->rcpts, v->nrcpts, fd, v->bodylen,
	               v->timeout_ms, reply, sizeof(reply));
	if (v->want_rc == -1 && v->timeout_ms < 1000 && strstr(v->want_reply, "timeout")) {
		uint64_t el = now_ms() - t0;

		if (el < v->timeout_ms - 50 || el > v->timeout_ms + 1500)
			fail_msg("%s: took %llu ms with a timeout of %llu ms", v->name,
			         (unsigned long long)el, (unsigned long long)v->timeout_ms);
	}
	fake_stop(&f);
	close(fd);
	if (rc != v->want_rc)
		fail_msg("%s: rc %d, want %d (reply %s)", v->name, rc, v->want_rc, reply);
	if (strcmp(reply, v->want_reply) != 0)
		fail_msg("%s: reply \"%s\", want \"%s\"", v->name, reply, v->want_reply);
	if (strcmp(f.cmds, v->want_cmds) != 0)
		fail_msg("%s: commands\n%s\nwant\n%s", v->name, f.cmds, v->want_cmds);
	if (v->want_data == NULL) {
		if (f.datalen != 0)
			fail_msg("%s: %zu data bytes sent, want none", v->name, f.datalen);
	} else if (f.datalen != v->want_datalen || memcmp(f.data, v->want_data, f.datalen) != 0) {
		fail_msg("%s: data (%zu bytes) differs from the %zu expected", v->name, f.datalen,
		         v->want_datalen);
	}
	fake_free(&f);
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
	static const unsigned char alphabet[] = {'a', 'b', '.', '.', '\n', '\r', 0xe9, ' '};
	size_t n = 300 * 1024 + 13, wantlen;
	unsigned char *body = malloc(n);
	char reply[256], *want;
	struct script s = {.ehlo = "250-fake\r\n250 8BITMIME\r\n"};
	const char *rcpt[] = {"r@example.org"};
	struct fake f;
	uint32_t x = 12345;
	int fd;

	assert_non_null(body);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		body[i] = alphabet[(x >> 16) % sizeof(alphabet)];
	}
	want = reference(body, n, &wantlen);
	fd = msg_fd((const char *)body, n);
	assert_int_equal(fake_start(&f, &s, 0), 0);
	assert_int_equal(smtp_send(f.addr, "test.example", "s@example.org", rcpt, 1, fd, n, 5000,
	                           reply, sizeof(reply)),
	                 0);
	fake_stop(&f);
	assert_int_equal(f.datalen, wantlen);
	assert_memory_equal(f.data, want, wantlen);
	assert_non_null(strstr(f.cmds, "BODY=8BITMIME"));
	fake_free(&f);
	free(want);
	free(body);
	close(fd);
}

static void
test_bad_arguments(void **state)
{
	static const struct {
		const char *hp, *from, *rcpt;
		size_t n;
		const char *want;
	} v[] = {
	    {"127.0.0.1:1", "s\r\nRSET@x", "r@x", 1, "bad sender address"},
	    {"127.0.0.1:1", "s@x", "r@x\r\nDATA", 1, "bad recipient address"},
	    {"127.0.0.1:1", "s@x", "", 1, "bad recipient address"},
	    {"127.0.0.1:1", "s@x", "a<b@x", 1, "bad recipient address"},
	    {"127.0.0.1:1", "s@x", "r@x", 0, "no recipients"},
	    {"nohost", "s@x", "r@x", 1, "bad next hop address"},
	    {"127.0.0.1:", "s@x", "r@x", 1, "bad next hop address"},
	    {"127.0.0.1:99999", "s@x", "r@x", 1, "bad next hop address"},
	    {"::1:25", "s@x", "r@x", 1, "bad next hop address"},
	    {"[::1]25", "s@x", "r@x", 1, "bad next hop address"},
	    {"127.0.0.1:25x", "s@x", "r@x", 1, "bad next hop address"},
	};
	char reply[256];
	int fd = msg_fd("x\r\n", 3);

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *r[] = {v[i].rcpt};

		reply[0] = '\0';
		assert_int_equal(smtp_send(v[i].hp, NULL, v[i].from, r, v[i].n, fd, 3, 1000, reply,
		                           sizeof(reply)),
		                 -1);
		if (strncmp(reply, v[i].want, strlen(v[i].want)) != 0)
			fail_msg("case %zu: reply \"%s\", want \"%s...\"", i, reply, v[i].want);
	}
	/* A reply buffer of size 0 is allowed. */
	assert_int_equal(
	    smtp_send("nohost", NULL, "", (const char *[]){"r@x"}, 1, fd, 3, 1000, NULL, 0), -1);
	close(fd);
}

static void
test_connection_refused(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	char hp[64], reply[256];
	const char *r[] = {"r@x"};
	int s = socket(AF_INET, SOCK_STREAM, 0), fd = msg_fd("x\r\n", 3);

	/* A port that was just free and has no listener. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(a.sin_port));
	close(s);
	assert_int_equal(smtp_send(hp, NULL, "s@x", r, 1, fd, 3, 1000, reply, sizeof(reply)), -1);
	assert_non_null(strstr(reply, "connect"));
	assert_non_null(strstr(reply, "refused"));

	/* The message is shorter than its size: nothing is sent. */
	assert_int_equal(smtp_send(hp, NULL, "s@x", r, 1, fd, 10, 1000, reply, sizeof(reply)), -1);
	assert_non_null(strstr(reply, "reading the stored message"));
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_large_random),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_connection_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

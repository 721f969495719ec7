/*
 * smtp_send: one blocking SMTP transaction (see smtp_send.h). Owns the
 * socket, the reply parser (multi-line, bounded in line length and line
 * count), the command sequence, and the DATA encoding (dot-stuffing,
 * bare LF -> CRLF). Every wait goes through poll() with the caller's
 * timeout. The envelope is checked for CR, LF and NUL-free addresses before
 * any byte is sent, since it comes from the index, not from us.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp/smtp_send.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/sys.h"

#define SS_LINE_MAX 2048                     /* one reply line; RFC 5321 says 512 */
#define SS_REPLY_LINES 100                   /* lines of one multi-line reply */
#define SS_REPLY_TEXT 8192                   /* a whole reply, lines joined */
#define SS_OUT_CHUNK 65536                   /* DATA output buffer */
#define SS_QUIT_WAIT_MS 2000                 /* at most this long for the reply to QUIT */
#define SS_TIMEOUT_MAX (7ULL * 86400 * 1000) /* keeps deadlines from overflowing */

struct ss_conn {
	int fd;
	uint64_t timeout_ms;
	char rbuf[SS_LINE_MAX + 1]; /* one line and its LF */
	size_t rlen, rpos;
	char *err; /* the caller's reply buffer, for failure descriptions */
	size_t errcap;
};

struct ss_reply {
	int code;
	char text[SS_REPLY_TEXT];     /* every line, joined with '\n' */
	char keywords[SS_REPLY_TEXT]; /* EHLO: the lines after the first, '\n'-joined */
};

static void ss_fail(struct ss_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes a failure description into the caller's reply buffer. */
static void
ss_fail(struct ss_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errcap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errcap, fmt, ap);
	va_end(ap);
}

/* Waits for events on the socket until deadline (monotonic_ms()). 1 ready,
 * 0 timeout, -1 error. */
static int
ss_wait(struct ss_conn *c, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = events};
		uint64_t now = monotonic_ms();
		int left = now >= deadline               ? 0
		           : deadline - now > 0x7fffffff ? 0x7fffffff
		                                         : (int)(deadline - now);
		int n = poll(&p, 1, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		return n > 0 ? 1 : 0;
	}
}

/* Sends all of buf within one timeout. 0 or -1 with the failure described. */
static int
ss_write(struct ss_conn *c, const char *buf, size_t len)
{
	uint64_t deadline = monotonic_ms() + c->timeout_ms;

	while (len > 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = ss_wait(c, POLLOUT, deadline);

			if (w > 0)
				continue;
			if (w == 0) {
				ss_fail(c, "timeout sending to the next hop");
				return -1;
			}
		}
		ss_fail(c, "send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Reads one line (without its CRLF or LF) into line (SS_LINE_MAX + 1) by
 * deadline. 0, or -1 (timeout, EOF, over-long line) with the failure
 * described. */
static int
ss_getline(struct ss_conn *c, char *line, uint64_t deadline)
{
	for (;;) {
		char *nl = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);
		ssize_t n;
		int w;

		if (nl != NULL) {
			size_t len = (size_t)(nl - (c->rbuf + c->rpos));

			if (len > 0 && c->rbuf[c->rpos + len - 1] == '\r')
				len--;
			memcpy(line, c->rbuf + c->rpos, len);
			line[len] = '\0';
			c->rpos = (size_t)(nl - c->rbuf) + 1;
			return 0;
		}
		if (c->rpos > 0) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		if (c->rlen >= sizeof(c->rbuf)) {
			ss_fail(c, "reply line longer than %d bytes: %.100s", SS_LINE_MAX, c->rbuf);
			return -1;
		}
		w = ss_wait(c, POLLIN, deadline);
		if (w == 0) {
			ss_fail(c, "timeout waiting for the next hop's reply");
			return -1;
		}
		if (w < 0) {
			ss_fail(c, "poll: %s", strerror(errno));
			return -1;
		}
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			ss_fail(c, "recv: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			ss_fail(c, "the next hop closed the connection");
			return -1;
		}
		c->rlen += (size_t)n;
	}
}

/* Appends a line to a '\n'-joined buffer, truncating at its end. */
static void
ss_append(char *buf, size_t cap, const char *line)
{
	size_t len = strlen(buf);

	if (len > 0 && len + 1 < cap)
		buf[len++] = '\n';
	snprintf(buf + len, cap - len, "%s", line);
}

/* Reads one whole reply into r within timeout_ms. 0, or -1 with the
 * failure described. */
static int
ss_reply(struct ss_conn *c, struct ss_reply *r, uint64_t timeout_ms)
{
	uint64_t deadline = monotonic_ms() + timeout_ms;
	char line[SS_LINE_MAX + 1];

	r->code = 0;
	r->text[0] = r->keywords[0] = '\0';
	for (int i = 0; i < SS_REPLY_LINES; i++) {
		int code;

		if (ss_getline(c, line, deadline) < 0)
			return -1;
		if (!(line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
		      line[2] >= '0' && line[2] <= '9') ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-')) {
			ss_fail(c, "malformed reply from the next hop: %.100s", line);
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (i > 0 && code != r->code) {
			ss_fail(c, "reply code changes inside a reply: %.100s", line);
			return -1;
		}
		r->code = code;
		ss_append(r->text, sizeof(r->text), line);
		if (i > 0)
			ss_append(r->keywords, sizeof(r->keywords), line[3] ? line + 4 : "");
		if (line[3] != '-')
			return 0;
	}
	ss_fail(c, "reply longer than %d lines", SS_REPLY_LINES);
	return -1;
}

/* Sends a command line (CRLF added) and reads its reply. 0 or -1. */
static int
ss_cmd(struct ss_conn *c, struct ss_reply *r, const char *cmd)
{
	char buf[SS_LINE_MAX + 3];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", cmd);

	if (n < 0 || (size_t)n >= sizeof(buf)) {
		ss_fail(c, "command too long: %.100s", cmd);
		return -1;
	}
	if (ss_write(c, buf, (size_t)n) < 0)
		return -1;
	return ss_reply(c, r, c->timeout_ms);
}

/* 1 if the EHLO keyword lines contain kw (case-insensitive, whole word). */
static int
ss_has_ext(const struct ss_reply *ehlo, const char *kw)
{
	size_t kl = strlen(kw);

	for (const char *p = ehlo->keywords; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len >= kl && strncasecmp(p, kw, kl) == 0 && (len == kl || p[kl] == ' '))
			return 1;
		p += len + (e ? 1 : 0);
	}
	return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. 0 or -1. */
static int
ss_split(const char *hp, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon, *h = hp;
	size_t hl;

	if (*hp == '[') {
		const char *rb = strchr(hp, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		h = hp + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(hp, ':');
		if (colon == NULL || memchr(hp, ':', (size_t)(colon - hp)) != NULL)
			return -1;
		hl = (size_t)(colon - hp);
	}
	if (hl == 0 || hl >= hcap || strlen(colon + 1) == 0 || strlen(colon + 1) >= pcap ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) <= 0 ||
	    atoi(colon + 1) > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, pcap, "%s", colon + 1);
	return 0;
}

/* Connects to host_port within the timeout. The fd (non-blocking) or -1. */
static int
ss_connect(struct ss_conn *c, const char *host_port)
{
	char host[256], port[8];
	struct addrinfo hints = {0}, *res = NULL;
	int rc, fd = -1, saved = 0;

	if (ss_split(host_port, host, sizeof(host), port, sizeof(port)) < 0) {
		ss_fail(c, "bad next hop address %.100s (want HOST:PORT or [IPV6]:PORT)",
		        host_port);
		return -1;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		ss_fail(c, "%s: %s", host_port, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		socklen_t sl = sizeof(saved);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		c->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			rc = ss_wait(c, POLLOUT, monotonic_ms() + c->timeout_ms);
			if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &saved, &sl) == 0 &&
			    saved == 0)
				break;
			if (rc == 0)
				saved = ETIMEDOUT;
			else if (rc < 0)
				saved = errno;
		} else {
			saved = errno;
		}
		close(fd);
		fd = c->fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		ss_fail(c, "connect %s: %s", host_port, strerror(saved ? saved : ECONNREFUSED));
	return fd;
}

/* An address without CR, LF or spaces outside quotes, without its <>
 * (written into out). 0 or -1. */
static int
ss_addr(const char *in, char *out, size_t cap)
{
	size_t len = strlen(in);

	if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
		in++;
		len -= 2;
	}
	if (len >= cap || memchr(in, '\r', len) || memchr(in, '\n', len) || memchr(in, '<', len) ||
	    memchr(in, '>', len))
		return -1;
	memcpy(out, in, len);
	out[len] = '\0';
	return 0;
}

static int
ss_not_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* 1 if bytes [0, size) of fd hold a byte >= 0x80, 0 if not, -1 on error. */
static int
ss_has_8bit(int fd, uint64_t size)
{
	unsigned char buf[SS_OUT_CHUNK];
	uint64_t off = 0;

	while (off < size) {
		size_t want = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] >= 0x80)
				return 1;
		off += (uint64_t)n;
	}
	return 0;
}

/* Sends the message body dot-stuffed, bare LF as CRLF, then ".\r\n". */
static int
ss_send_body(struct ss_conn *c, int fd, uint64_t size)
{
	/* Each input chunk at most doubles; out is flushed past SS_OUT_CHUNK. */
	char ibuf[SS_OUT_CHUNK / 4], *out = xmalloc(SS_OUT_CHUNK + 2 * sizeof(ibuf) + 8);
	uint64_t off = 0;
	int bol = 1, prev_cr = 0, rc;
	size_t o = 0;

	while (off < size) {
		size_t want = size - off < sizeof(ibuf) ? (size_t)(size - off) : sizeof(ibuf);
		ssize_t n = pread(fd, ibuf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ss_fail(c, "reading the stored message: %s",
			        n < 0 ? strerror(errno) : "shorter than its size");
			free(out);
			return -1;
		}
		off += (uint64_t)n;
		for (ssize_t i = 0; i < n; i++) {
			char ch = ibuf[i];

			if (ch == '\n') {
				if (!prev_cr)
					out[o++] = '\r';
				out[o++] = '\n';
				bol = 1;
				prev_cr = 0;
				continue;
			}
			if (bol && ch == '.')
				out[o++] = '.';
			out[o++] = ch;
			bol = 0;
			prev_cr = ch == '\r';
		}
		if (o >= SS_OUT_CHUNK) {
			if (ss_write(c, out, o) < 0) {
				free(out);
				return -1;
			}
			o = 0;
		}
	}
	if (!bol) {
		if (!prev_cr)
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	rc = ss_write(c, out, o);
	free(out);
	return rc;
}

/* Copies r's text into the caller's reply buffer. */
static void
ss_keep(struct ss_conn *c, const struct ss_reply *r)
{
	if (c->errcap > 0)
		snprintf(c->err, c->errcap, "%s", r->text);
}

int
smtp_send(const char *host_port, const char *helo, const char *mail_from, const char *const *rcpts,
          size_t n, int fd, uint64_t size, uint64_t timeout_ms, char *reply, size_t replycap)
{
	struct ss_conn c = {.fd = -1, .timeout_ms = timeout_ms, .err = reply, .errcap = replycap};
	struct ss_reply *r = xcalloc(1, sizeof(*r));
	char cmd[SS_LINE_MAX + 1], addr[SS_LINE_MAX - 64], host[256];
	int ret = -1, utf8 = 0, eight, accepted = 0;

	if (replycap > 0)
		reply[0] = '\0';
	if (timeout_ms > SS_TIMEOUT_MAX)
		c.timeout_ms = timeout_ms = SS_TIMEOUT_MAX;
	if (n == 0) {
		ss_fail(&c, "no recipients");
		goto out;
	}
	if (ss_addr(mail_from ? mail_from : "", addr, sizeof(addr)) < 0) {
		ss_fail(&c, "bad sender address %.100s", mail_from);
		goto out;
	}
	utf8 = ss_not_ascii(addr);
	for (size_t i = 0; i < n; i++) {
		if (rcpts[i] == NULL || ss_addr(rcpts[i], addr, sizeof(addr)) < 0 || !*addr) {
			ss_fail(&c, "bad recipient address %.100s", rcpts[i] ? rcpts[i] : "(null)");
			goto out;
		}
		utf8 |= ss_not_ascii(addr);
	}
	if ((eight = ss_has_8bit(fd, size)) < 0) {
		ss_fail(&c, "reading the stored message: %s", strerror(errno ? errno : EIO));
		goto out;
	}
	if (helo == NULL || *helo == '\0') {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		helo = host;
	}
	if (strpbrk(helo, "\r\n") != NULL) {
		ss_fail(&c, "bad HELO name");
		goto out;
	}

	if (ss_connect(&c, host_port) < 0)
		goto out;
	if (ss_reply(&c, r, c.timeout_ms) < 0)
		goto out;
	if (r->code != 220) {
		ss_keep(&c, r);
		ret = r->code >= 400 ? 1 : -1;
		goto quit;
	}
	snprintf(cmd, sizeof(cmd), "EHLO %s", helo);
	if (ss_cmd(&c, r, cmd) < 0)
		goto out;
	if (r->code != 250) {
		snprintf(cmd, sizeof(cmd), "HELO %s", helo);
		if (ss_cmd(&c, r, cmd) < 0)
			goto out;
		if (r->code != 250) {
			ss_keep(&c, r);
			ret = 1;
			goto quit;
		}
		r->keywords[0] = '\0';
	}

	ss_addr(mail_from ? mail_from : "", addr, sizeof(addr));
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", addr);
	if (ss_has_ext(r, "SIZE"))
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " SIZE=%llu",
		         (unsigned long long)size);
	if (eight && ss_has_ext(r, "8BITMIME"))
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " BODY=8BITMIME");
	if (utf8 && ss_has_ext(r, "SMTPUTF8"))
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " SMTPUTF8");
	if (ss_cmd(&c, r, cmd) < 0)
		goto out;
	if (r->code / 100 != 2) {
		ss_keep(&c, r);
		ret = 1;
		goto quit;
	}
	for (size_t i = 0; i < n; i++) {
		ss_addr(rcpts[i], addr, sizeof(addr));
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", addr);
		if (ss_cmd(&c, r, cmd) < 0)
			goto out;
		if (r->code / 100 == 2) {
			accepted++;
		} else {
			log_warnx("smtp_send: %s refused recipient <%.200s>: %.200s", host_port,
			          addr, r->text);
			ss_keep(&c, r); /* the reply if every recipient is refused */
		}
	}
	if (accepted == 0) {
		ret = 1;
		goto quit;
	}
	if (ss_cmd(&c, r, "DATA") < 0)
		goto out;
	if (r->code != 354) {
		ss_keep(&c, r);
		ret = r->code >= 400 ? 1 : -1;
		goto quit;
	}
	if (ss_send_body(&c, fd, size) < 0 || ss_reply(&c, r, c.timeout_ms) < 0)
		goto out;
	ss_keep(&c, r);
	ret = r->code / 100 == 2 ? 0 : 1;
quit:
	/* Politeness only: the outcome is known and the reply kept. */
	c.errcap = 0;
	if (ss_write(&c, "QUIT\r\n", 6) == 0)
		ss_reply(&c, r, timeout_ms < SS_QUIT_WAIT_MS ? timeout_ms : SS_QUIT_WAIT_MS);
out:
	if (c.fd >= 0)
		close(c.fd);
	free(r);
	return ret;
}

/*
 * smtp_send: one blocking SMTP transaction (see smtp_send.h). Owns the
 * socket, the command sequence, its steps and the failure class of each
 * way it can end. Leaves the reply grammar and its bounds to smtp_reply
 * (this file only cuts the socket's bytes into lines no longer than
 * SMTP_SEND_LINE_MAX and feeds them in), the EHLO keywords to
 * smtp_reply_has(), and the DATA encoding (dot-stuffing, bare LF -> CR LF)
 * to smtp_data's stuffer. Every wait goes through poll() with a deadline
 * on monotonic_ms(). The envelope comes from the index, not from us, so it
 * is checked before the first byte is sent.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp/smtp_cmd.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_send.h"
#include "util/log.h"
#include "util/sys.h"
#include "util/xalloc.h"

#define SS_CHUNK 65536                       /* message bytes read and stuffed at a time */
#define SS_HELO_MAX 255                      /* a host name */
#define SS_QUIT_WAIT_MS 2000                 /* at most this long for the reply to QUIT */
#define SS_TIMEOUT_MAX (7ULL * 86400 * 1000) /* keeps deadlines from overflowing */

/* The extensions we use, as offered in the EHLO reply. */
#define SS_EXT_SIZE 0x01
#define SS_EXT_8BITMIME 0x02
#define SS_EXT_SMTPUTF8 0x04

static const struct {
	const char *kw;
	unsigned flag;
} ss_exts[] = {
    {"SIZE", SS_EXT_SIZE},
    {"8BITMIME", SS_EXT_8BITMIME},
    {"SMTPUTF8", SS_EXT_SMTPUTF8},
};

struct ss_conn {
	const char *label; /* the next hop as given, for logs and details */
	int fd;
	uint64_t timeout_ms;
	struct smtp_send_result *res;      /* step, status and detail go here */
	char rbuf[SMTP_SEND_LINE_MAX + 3]; /* the longest line, its CR LF, a NUL */
	size_t rlen;
};

const char *
smtp_send_step_name(enum smtp_send_step step)
{
	static const char *names[] = {"setup", "connect", "banner", "ehlo", "helo",
	                              "mail",  "rcpt",    "data",   "body"};

	return (unsigned)step < sizeof(names) / sizeof(names[0]) ? names[step] : "unknown";
}

/* Moves to step, logging old -> new at debug. */
static void
ss_enter(struct ss_conn *c, enum smtp_send_step step)
{
	log_debug("smtp_send[%s]: step %s -> %s", c->label, smtp_send_step_name(c->res->step),
	          smtp_send_step_name(step));
	c->res->step = step;
}

static int ss_fail(struct ss_conn *c, enum smtp_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends the exchange with a failure of class st described by fmt; -1. */
static int
ss_fail(struct ss_conn *c, enum smtp_status st, const char *fmt, ...)
{
	va_list ap;

	c->res->status = st;
	va_start(ap, fmt);
	vsnprintf(c->res->detail, sizeof(c->res->detail), fmt, ap);
	va_end(ap);
	return -1;
}

/* Waits for events on the socket until deadline. 1 ready, 0 timeout, -1. */
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
		return n < 0 ? -1 : n > 0;
	}
}

/* Sends all of buf, each wait bounded by the timeout. 0 or -1 (failed). */
static int
ss_write(struct ss_conn *c, const char *buf, size_t len)
{
	uint64_t deadline = monotonic_ms() + c->timeout_ms;

	while (len > 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		int w;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			deadline = monotonic_ms() + c->timeout_ms;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((w = ss_wait(c, POLLOUT, deadline)) > 0)
				continue;
			if (w == 0)
				return ss_fail(c, SMTP_ERR_TIMEOUT,
				               "the next hop took nothing for %llu ms",
				               (unsigned long long)c->timeout_ms);
		}
		return ss_fail(c, SMTP_ERR_CLOSED, "send: %s", strerror(errno));
	}
	return 0;
}

/*
 * Waits until c->rbuf holds a whole line and sets *len to its length
 * before the LF (a CR before it included; smtp_reply_feed() drops it).
 * 0, or -1 (timeout, closed, a line over SMTP_SEND_LINE_MAX).
 */
static int
ss_read_line(struct ss_conn *c, uint64_t deadline, size_t *len)
{
	for (;;) {
		char *nl = memchr(c->rbuf, '\n', c->rlen);
		size_t text = nl ? (size_t)(nl - c->rbuf) : c->rlen;
		ssize_t n;
		int w;

		/* A CR may still be followed by its LF: it is not text yet. */
		if (text > 0 && c->rbuf[text - 1] == '\r')
			text--;
		if (text > SMTP_SEND_LINE_MAX)
			return ss_fail(c, SMTP_ERR_PROTOCOL,
			               "reply line longer than %d bytes: %.100s",
			               SMTP_SEND_LINE_MAX, c->rbuf);
		if (nl != NULL) {
			*len = (size_t)(nl - c->rbuf);
			return 0;
		}
		if ((w = ss_wait(c, POLLIN, deadline)) == 0)
			return ss_fail(c, SMTP_ERR_TIMEOUT, "no reply in %llu ms",
			               (unsigned long long)c->timeout_ms);
		if (w < 0)
			return ss_fail(c, SMTP_ERR_LOCAL, "poll: %s", strerror(errno));
		/* One byte stays free: rbuf is a string for the messages above. */
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - 1 - c->rlen, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return ss_fail(c, SMTP_ERR_CLOSED, "recv: %s", strerror(errno));
		if (n == 0)
			return ss_fail(c, SMTP_ERR_CLOSED, "the next hop closed the connection");
		c->rlen += (size_t)n;
		c->rbuf[c->rlen] = '\0';
	}
}

/*
 * Reads one whole reply into r (emptied first), all of it within
 * timeout_ms. 0, or -1 with r empty and the failure in c->res.
 */
static int
ss_read_reply(struct ss_conn *c, struct smtp_reply *r, uint64_t timeout_ms)
{
	uint64_t deadline = monotonic_ms() + timeout_ms;
	size_t len = 0;
	int rc = 0;

	smtp_reply_clear(r);
	while (rc == 0) {
		if (ss_read_line(c, deadline, &len) < 0) {
			smtp_reply_clear(r);
			return -1;
		}
		log_debug("smtp_send[%s]: <<< %.*s", c->label, (int)(len < 200 ? len : 200),
		          c->rbuf);
		if ((rc = smtp_reply_feed(r, c->rbuf, len)) < 0) {
			if (r->nlines >= SMTP_REPLY_MAX_LINES)
				ss_fail(c, SMTP_ERR_PROTOCOL, "reply longer than %d lines",
				        SMTP_REPLY_MAX_LINES);
			else
				ss_fail(c, SMTP_ERR_PROTOCOL, "malformed reply: %.*s",
				        (int)(len < 100 ? len : 100), c->rbuf);
			smtp_reply_clear(r);
			return -1;
		}
		c->rlen -= len + 1;
		memmove(c->rbuf, c->rbuf + len + 1, c->rlen + 1);
	}
	return 0;
}

/* Sends one command line (no CR LF in it) and reads its reply into r. */
static int
ss_cmd(struct ss_conn *c, struct smtp_reply *r, const char *line)
{
	char *buf = xasprintf("%s\r\n", line);
	int rc;

	log_debug("smtp_send[%s]: >>> %.200s", c->label, line);
	smtp_reply_clear(r); /* a failed write leaves no stale reply behind */
	rc = ss_write(c, buf, strlen(buf));
	free(buf);
	return rc < 0 ? -1 : ss_read_reply(c, r, c->timeout_ms);
}

/*
 * Judges the reply to the current step: 1 if its code is in [lo, hi];
 * 0 for a refusal (4xx, 5xx: the exchange ends on it); -1 for anything
 * else, a reply out of turn (a protocol failure that keeps the reply).
 */
static int
ss_judge(struct ss_conn *c, const struct smtp_reply *r, int lo, int hi)
{
	if (r->code >= lo && r->code <= hi)
		return 1;
	if (r->code >= 400)
		return 0;
	ss_fail(c, SMTP_ERR_PROTOCOL, "reply %d out of turn at %s", r->code,
	        smtp_send_step_name(c->res->step));
	return -1;
}

/*
 * Copies the address in without one enclosing <> into out (SMTP_PATH_MAX
 * + 1 bytes). -1 if it holds CR, LF, < or >, or is too long. A C string
 * holds no NUL, so none reaches the wire.
 */
static int
ss_addr(const char *in, char *out)
{
	size_t len = strlen(in);

	if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
		in++;
		len -= 2;
	}
	if (len > SMTP_PATH_MAX || strcspn(in, "\r\n<>") < len)
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

/*
 * Reads want bytes of the message at off into buf. 0, or -1 (SMTP_ERR_LOCAL)
 * when the message cannot be read or is shorter than its size.
 */
static int
ss_read_message(struct ss_conn *c, int fd, uint64_t off, char *buf, size_t want)
{
	ssize_t n = pread_full(fd, buf, want, off);

	if (n < 0)
		return ss_fail(c, SMTP_ERR_LOCAL, "reading the stored message: %s",
		               strerror(errno));
	if ((size_t)n < want)
		return ss_fail(c, SMTP_ERR_LOCAL,
		               "reading the stored message: shorter than its size (%llu bytes)",
		               (unsigned long long)off + (unsigned long long)n);
	return 0;
}

/*
 * Checks the envelope and the HELO name, and reads the whole message once:
 * *eight says whether it has a byte >= 0x80, and a message that cannot be
 * read fails here, before the next hop hears of it. Sets *utf8 when the
 * envelope is not ASCII. 0 or -1 (SMTP_ERR_LOCAL).
 */
static int
ss_setup(struct ss_conn *c, const struct smtp_send_req *req, int *eight, int *utf8)
{
	char addr[SMTP_PATH_MAX + 1], *buf;
	uint64_t off;

	if (req->nrcpts == 0)
		return ss_fail(c, SMTP_ERR_LOCAL, "no recipients");
	if (ss_addr(req->mail_from ? req->mail_from : "", addr) < 0)
		return ss_fail(c, SMTP_ERR_LOCAL, "bad sender address %.100s", req->mail_from);
	*utf8 = ss_not_ascii(addr);
	for (size_t i = 0; i < req->nrcpts; i++) {
		const char *to = req->rcpts[i];

		if (to == NULL || ss_addr(to, addr) < 0 || addr[0] == '\0')
			return ss_fail(c, SMTP_ERR_LOCAL, "bad recipient address %.100s",
			               to ? to : "(null)");
		*utf8 |= ss_not_ascii(addr);
	}
	if (strlen(req->helo) > SS_HELO_MAX || strpbrk(req->helo, "\r\n") != NULL)
		return ss_fail(c, SMTP_ERR_LOCAL, "bad HELO name %.100s", req->helo);

	buf = xmalloc(SS_CHUNK);
	*eight = 0;
	for (off = 0; off < req->size; off += SS_CHUNK) {
		size_t want = req->size - off < SS_CHUNK ? (size_t)(req->size - off) : SS_CHUNK;

		if (ss_read_message(c, req->fd, off, buf, want) < 0) {
			free(buf);
			return -1;
		}
		for (size_t i = 0; i < want && !*eight; i++)
			*eight = (unsigned char)buf[i] >= 0x80;
	}
	free(buf);
	return 0;
}

/*
 * Splits "HOST:PORT" or "[V6]:PORT" into host (hcap) and port (pcap).
 * 0 or -1.
 */
static int
ss_split(const char *hp, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon, *h = hp;
	size_t hl, pl;
	long pn;

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
	pl = strlen(colon + 1);
	if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap ||
	    strspn(colon + 1, "0123456789") != pl || (pn = atol(colon + 1)) <= 0 || pn > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl + 1);
	return 0;
}

/*
 * Connects to c->label, each address tried within the timeout. 0 with
 * c->fd set (non-blocking), or -1: SMTP_ERR_LOCAL for a malformed
 * address, SMTP_ERR_TIMEOUT when the last address tried timed out,
 * SMTP_ERR_CONNECT otherwise.
 */
static int
ss_connect(struct ss_conn *c)
{
	char host[256], port[8];
	struct addrinfo hints = {0}, *res = NULL;
	int rc, saved = ECONNREFUSED;

	if (ss_split(c->label, host, sizeof(host), port, sizeof(port)) < 0)
		return ss_fail(c, SMTP_ERR_LOCAL,
		               "bad next hop address %.100s (want HOST:PORT or [IPV6]:PORT)",
		               c->label);
	ss_enter(c, SMTP_SEND_CONNECT);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		return ss_fail(c, SMTP_ERR_CONNECT, "connect %s: %s", c->label, gai_strerror(rc));
	for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
		socklen_t sl = sizeof(saved);

		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		               ai->ai_protocol);
		if (c->fd < 0) {
			saved = errno;
			continue;
		}
		/* The terminator and each command are small writes after a large
		 * one: without this, Nagle holds them until the peer's delayed ACK
		 * (about 40 ms per message). */
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS)
			saved = errno;
		else if ((rc = ss_wait(c, POLLOUT, monotonic_ms() + c->timeout_ms)) == 0)
			saved = ETIMEDOUT;
		else if (rc < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &saved, &sl) < 0)
			saved = errno;
		else if (saved == 0)
			break;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd >= 0)
		return 0;
	return ss_fail(c, saved == ETIMEDOUT ? SMTP_ERR_TIMEOUT : SMTP_ERR_CONNECT,
	               "connect %s: %s", c->label, strerror(saved));
}

/*
 * The banner, then EHLO (HELO when EHLO is not answered 250). Sets *ext
 * to the SS_EXT_* the server offers. 0, or -1 when the exchange ended.
 */
static int
ss_hello(struct ss_conn *c, const char *helo, unsigned *ext)
{
	struct smtp_reply *r = &c->res->reply;
	char cmd[SS_HELO_MAX + 8];
	int j;

	ss_enter(c, SMTP_SEND_BANNER);
	if (ss_read_reply(c, r, c->timeout_ms) < 0 || ss_judge(c, r, 220, 220) <= 0)
		return -1;
	ss_enter(c, SMTP_SEND_EHLO);
	snprintf(cmd, sizeof(cmd), "EHLO %s", helo);
	if (ss_cmd(c, r, cmd) < 0)
		return -1;
	*ext = 0;
	if (r->code == 250) {
		for (size_t i = 0; i < sizeof(ss_exts) / sizeof(ss_exts[0]); i++)
			if (smtp_reply_has(r, ss_exts[i].kw, NULL))
				*ext |= ss_exts[i].flag;
		return 0;
	}
	ss_enter(c, SMTP_SEND_HELO);
	snprintf(cmd, sizeof(cmd), "HELO %s", helo);
	if (ss_cmd(c, r, cmd) < 0 || (j = ss_judge(c, r, 250, 250)) < 0)
		return -1;
	return j > 0 ? 0 : -1;
}

/*
 * MAIL FROM with the parameters the server offers and the message needs,
 * then every RCPT TO. 0 when at least one recipient was accepted, or -1
 * when the exchange ended.
 */
static int
ss_envelope(struct ss_conn *c, const struct smtp_send_req *req, unsigned ext, int eight, int utf8)
{
	struct smtp_reply *r = &c->res->reply, refusal;
	char addr[SMTP_PATH_MAX + 1], cmd[SMTP_PATH_MAX + 128], *text;
	size_t n;
	int j;

	ss_enter(c, SMTP_SEND_MAIL);
	ss_addr(req->mail_from ? req->mail_from : "", addr);
	n = (size_t)snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>", addr);
	if (ext & SS_EXT_SIZE)
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " SIZE=%llu",
		                      (unsigned long long)req->size);
	if (eight && (ext & SS_EXT_8BITMIME))
		n += (size_t)snprintf(cmd + n, sizeof(cmd) - n, " BODY=8BITMIME");
	if (utf8 && (ext & SS_EXT_SMTPUTF8))
		snprintf(cmd + n, sizeof(cmd) - n, " SMTPUTF8");
	if (ss_cmd(c, r, cmd) < 0 || ss_judge(c, r, 200, 299) <= 0)
		return -1;

	ss_enter(c, SMTP_SEND_RCPT);
	smtp_reply_init(&refusal);
	for (size_t i = 0; i < req->nrcpts; i++) {
		ss_addr(req->rcpts[i], addr);
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>", addr);
		if (ss_cmd(c, r, cmd) < 0 || (j = ss_judge(c, r, 200, 299)) < 0) {
			smtp_reply_clear(&refusal);
			return -1;
		}
		if (j > 0) {
			c->res->accepted++;
			continue;
		}
		text = smtp_send_reply_text(r, " / ");
		log_warnx("smtp_send[%s]: recipient refused rcpt=<%.200s> reply=\"%.200s\"",
		          c->label, addr, text);
		free(text);
		/* The deciding refusal: the first 4xx, else the first 5xx. */
		if (refusal.code == 0 || (refusal.code >= 500 && r->code < 500)) {
			smtp_reply_clear(&refusal);
			refusal = *r;
			smtp_reply_init(r);
		}
	}
	if (c->res->accepted > 0) {
		smtp_reply_clear(&refusal);
		return 0;
	}
	smtp_reply_clear(r);
	*r = refusal;
	return -1;
}

/* Sends bytes [0, size) of fd dot-stuffed, then the terminator. 0 or -1. */
static int
ss_body(struct ss_conn *c, int fd, uint64_t size)
{
	struct smtp_stuff st;
	char *in = xmalloc(SS_CHUNK), *out = xmalloc(2 * SS_CHUNK);
	const char *end;
	int rc = 0;

	smtp_stuff_init(&st);
	for (uint64_t off = 0; off < size && rc == 0; off += SS_CHUNK) {
		size_t want = size - off < SS_CHUNK ? (size_t)(size - off) : SS_CHUNK;

		rc = ss_read_message(c, fd, off, in, want);
		if (rc == 0)
			rc = ss_write(c, out, smtp_stuff_push(&st, in, want, out));
	}
	if (rc == 0) {
		end = smtp_stuff_end(&st);
		rc = ss_write(c, end, strlen(end));
	}
	free(in);
	free(out);
	return rc;
}

/* DATA, the message and the final reply. 0 delivered, -1 otherwise. */
static int
ss_data(struct ss_conn *c, const struct smtp_send_req *req)
{
	struct smtp_reply *r = &c->res->reply;

	ss_enter(c, SMTP_SEND_DATA);
	if (ss_cmd(c, r, "DATA") < 0 || ss_judge(c, r, 354, 354) <= 0)
		return -1;
	ss_enter(c, SMTP_SEND_BODY);
	smtp_reply_clear(r); /* as in ss_cmd() */
	if (ss_body(c, req->fd, req->size) < 0 || ss_read_reply(c, r, c->timeout_ms) < 0 ||
	    ss_judge(c, r, 200, 299) <= 0)
		return -1;
	return 0;
}

/*
 * Politeness only: the outcome is known and kept. Points c at a scratch
 * result and a shorter timeout, so it is the last thing done with c.
 */
static void
ss_quit(struct ss_conn *c)
{
	struct smtp_send_result scratch = {.step = c->res->step};

	c->res = &scratch;
	c->timeout_ms = c->timeout_ms < SS_QUIT_WAIT_MS ? c->timeout_ms : SS_QUIT_WAIT_MS;
	log_debug("smtp_send[%s]: >>> QUIT", c->label);
	if (ss_write(c, "QUIT\r\n", 6) == 0)
		ss_read_reply(c, &scratch.reply, c->timeout_ms);
	smtp_send_result_clear(&scratch);
}

enum smtp_status
smtp_send(const struct smtp_send_req *req, struct smtp_send_result *res)
{
	struct smtp_send_req rq = *req;
	struct ss_conn c = {.label = req->next_hop ? req->next_hop : "", .fd = -1, .res = res};
	char host[SS_HELO_MAX + 1];
	unsigned ext = 0;
	int eight = 0, utf8 = 0;

	memset(res, 0, sizeof(*res));
	smtp_reply_init(&res->reply);
	res->status = SMTP_REPLY;
	res->step = SMTP_SEND_SETUP;
	c.timeout_ms = req->timeout_ms < SS_TIMEOUT_MAX ? req->timeout_ms : SS_TIMEOUT_MAX;
	if (rq.helo == NULL || rq.helo[0] == '\0') {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		rq.helo = host;
	}

	if (ss_setup(&c, &rq, &eight, &utf8) == 0 && ss_connect(&c) == 0 &&
	    ss_hello(&c, rq.helo, &ext) == 0 && ss_envelope(&c, &rq, ext, eight, utf8) == 0)
		ss_data(&c, &rq);
	if (c.fd >= 0 && res->reply.complete)
		ss_quit(&c);
	if (c.fd >= 0)
		close(c.fd);
	return res->status;
}

void
smtp_send_result_clear(struct smtp_send_result *res)
{
	smtp_reply_clear(&res->reply);
	memset(res, 0, sizeof(*res));
}

char *
smtp_send_reply_text(const struct smtp_reply *r, const char *sep)
{
	char *wire, *out, *p, *crlf;
	size_t seplen = strlen(sep), n = 0;

	if (r->code == 0)
		return xstrdup("");
	wire = smtp_reply_format(r);
	/* Each CR LF becomes at most seplen bytes; a sep longer than 2 can grow it. */
	out = xmalloc(strlen(wire) + r->nlines * seplen + 1);
	for (p = wire; (crlf = strstr(p, "\r\n")) != NULL; p = crlf + 2) {
		if (p != wire) {
			memcpy(out + n, sep, seplen);
			n += seplen;
		}
		memcpy(out + n, p, (size_t)(crlf - p));
		n += (size_t)(crlf - p);
	}
	out[n] = '\0';
	free(wire);
	return out;
}

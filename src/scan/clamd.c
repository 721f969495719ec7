/*
 * clamd: a client for a running ClamAV daemon. Owns the address, the
 * timeouts, and one socket per stream; knows the INSTREAM framing and the
 * reply grammar. It leaves unpacking to clamd and policy to the caller.
 *
 * Wire: "zINSTREAM\0", then chunks of <4-byte big-endian length><bytes>,
 * then a zero length. Each reply line ends in NUL (the `z` prefix):
 *   "stream: OK"                    clean
 *   "stream: <Name> FOUND"          infected
 *   "<text> ERROR"                  failure
 * clamd closes the connection after the last line. clamd 1.4 stops an
 * INSTREAM at the first match (all-match mode exists only for ALLMATCHSCAN
 * of a path), but several FOUND lines are accepted, each a hit.
 *
 * "INSTREAM size limit exceeded. ERROR" (clamd's StreamMaxLength) becomes
 * SCAN_LIMIT with LIMIT_FILE_SIZE, not SCAN_ERROR: retrying cannot help, so
 * it must get the policy of a file too large for our own limits rather than
 * a temporary failure. Every other ERROR, a reply we cannot parse, a
 * connection that closes or stalls, is SCAN_ERROR: never clean.
 *
 * Sockets are non-blocking; every wait is a poll() bounded by the connect
 * or I/O timeout, and the reply must complete within the I/O timeout after
 * the last byte was sent. Writes use MSG_NOSIGNAL, so a peer that goes away
 * is an EPIPE, never a SIGPIPE. A failed connect is retried once after a
 * short pause. Apart from the immutable struct clamd, nothing is shared, so
 * any number of threads may scan through one handle at once.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "scan/clamd.h"
#include "scan/verdict.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/xalloc.h"
#include "util/sys.h"

#define CLAMD_CHUNK (64 * 1024)     /* bytes per INSTREAM chunk */
#define CLAMD_REPLY_MAX (64 * 1024) /* longest reply we accept, all lines together */
#define CLAMD_RETRY_PAUSE_MS 100    /* pause before the one reconnect */
#define CLAMD_SAMPLE 100            /* printable bytes of a bad reply in a reason */

enum clamd_addr_kind { CLAMD_UNIX, CLAMD_TCP, CLAMD_BAD };

struct clamd {
	char *addr; /* as configured, for messages */
	enum clamd_addr_kind kind;
	char *host; /* TCP: host without brackets */
	char *port; /* TCP */
	char *bad;  /* CLAMD_BAD: why the address is unusable */
	uint64_t connect_ms;
	uint64_t io_ms;
};

enum clamd_stream_state {
	CS_STREAMING, /* sending chunks */
	CS_ANSWERED,  /* clamd replied (possibly early); the reply is read */
	CS_FAILED,    /* connect, send or receive failed; see .err */
};

struct clamd_stream {
	struct clamd *c; /* borrowed */
	int fd;
	enum clamd_stream_state state;
	unsigned char *buf; /* CLAMD_CHUNK bytes not yet sent */
	size_t len;
	char *reply; /* everything clamd sent, NUL-terminated for convenience */
	size_t rlen, rcap;
	char *err;   /* CS_FAILED: reason */
	int dropped; /* CS_FAILED: the peer went away before sending anything */
};

/* The clock ms from now, saturating. */
static uint64_t
clamd_deadline(uint64_t ms)
{
	uint64_t now = monotonic_ms();

	return ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
}

/* Milliseconds left until deadline, as a poll() timeout (0 when past). */
static int
clamd_left(uint64_t deadline)
{
	uint64_t now = monotonic_ms();

	if (now >= deadline)
		return 0;
	if (deadline - now > INT32_MAX)
		return INT32_MAX;
	return (int)(deadline - now);
}

/*
 * Waits until fd is ready for events or deadline passes. Returns the
 * revents, or 0 on timeout. EINTR restarts the wait with the time left.
 */
static short
clamd_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd;
	int n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, clamd_left(deadline));
		if (n > 0)
			return pfd.revents;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return POLLERR;
	}
}

/*
 * Splits addr into the kind and, for TCP, host and port: "[v6]:port" and
 * "host:port" with a numeric port are TCP; anything else is a unix socket
 * path.
 */
static void
clamd_parse_addr(struct clamd *c, const char *addr)
{
	const char *colon, *p;

	if (addr[0] == '\0') {
		c->kind = CLAMD_BAD;
		c->bad = xstrdup("empty address");
		return;
	}
	if (addr[0] == '[') {
		p = strchr(addr, ']');
		if (p == NULL || p[1] != ':' || p[2] == '\0' || p == addr + 1) {
			c->kind = CLAMD_BAD;
			c->bad = xstrdup("expected [address]:port");
			return;
		}
		c->kind = CLAMD_TCP;
		c->host = xstrndup(addr + 1, (size_t)(p - addr - 1));
		c->port = xstrdup(p + 2);
	} else if (strchr(addr, '/') == NULL && (colon = strrchr(addr, ':')) != NULL) {
		c->kind = CLAMD_TCP;
		c->host = xstrndup(addr, (size_t)(colon - addr));
		c->port = xstrdup(colon + 1);
		if (c->host[0] == '\0' || strchr(c->host, ':') != NULL) {
			c->kind = CLAMD_BAD;
			c->bad = xstrdup("expected host:port or [address]:port");
			return;
		}
	} else {
		c->kind = CLAMD_UNIX;
		if (strlen(addr) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			c->kind = CLAMD_BAD;
			c->bad = xstrdup("unix socket path too long");
		}
		return;
	}
	p = c->port;
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 || atoi(p) == 0 ||
	    atoi(p) > 65535) {
		c->kind = CLAMD_BAD;
		c->bad = xasprintf("bad port \"%.20s\"", c->port);
	}
}

/*
 * Accepts the address of clamd and the two timeouts in milliseconds (0
 * means the default of 5 s connect, 60 s I/O). Copies addr. Never returns
 * NULL: an unusable address is reported by every scan as SCAN_ERROR (and
 * logged once here), so a typo cannot make mail pass unscanned.
 */
struct clamd *
clamd_new(const char *addr, uint64_t connect_timeout_ms, uint64_t io_timeout_ms)
{
	struct clamd *c = xcalloc(1, sizeof(*c));

	c->addr = xstrdup(addr ? addr : "");
	c->connect_ms = connect_timeout_ms ? connect_timeout_ms : 5000;
	c->io_ms = io_timeout_ms ? io_timeout_ms : 60000;
	clamd_parse_addr(c, c->addr);
	if (c->kind == CLAMD_BAD)
		log_warnx("clamd addr=\"%.200s\" reason=\"%s\"", c->addr, c->bad);
	return c;
}

/* Frees c; accepts NULL. No stream of c may be open. */
void
clamd_free(struct clamd *c)
{
	if (c == NULL)
		return;
	free(c->addr);
	free(c->host);
	free(c->port);
	free(c->bad);
	free(c);
}

/*
 * Connects one socket to sa within deadline. Returns the non-blocking fd,
 * or -1 with errno set (ETIMEDOUT when the deadline passed).
 */
static int
clamd_connect_sa(const struct sockaddr *sa, socklen_t salen, int family, uint64_t deadline)
{
	int fd, soerr = 0;
	socklen_t elen = sizeof(soerr);
	short re;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	re = clamd_wait(fd, POLLOUT, deadline);
	if (re == 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

/*
 * One connect attempt to c within the connect timeout, trying every
 * address the TCP host resolves to. Returns the fd, or -1 with *why set
 * (caller frees).
 */
static int
clamd_connect_once(struct clamd *c, char **why)
{
	uint64_t deadline = clamd_deadline(c->connect_ms);
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_un sun;
	int fd = -1, rc, saved = 0;

	switch (c->kind) {
	case CLAMD_BAD:
		*why = xasprintf("clamd %.200s: %s", c->addr, c->bad);
		return -1;
	case CLAMD_UNIX:
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, c->addr, strlen(c->addr) + 1);
		fd = clamd_connect_sa((struct sockaddr *)&sun, sizeof(sun), AF_UNIX, deadline);
		if (fd == -1)
			*why = xasprintf("clamd %.200s: connect: %s", c->addr, strerror(errno));
		return fd;
	case CLAMD_TCP:
		break;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(c->host, c->port, &hints, &res);
	if (rc != 0) {
		*why = xasprintf("clamd %.200s: resolve: %s", c->addr, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		fd = clamd_connect_sa(ai->ai_addr, ai->ai_addrlen, ai->ai_family, deadline);
		if (fd == -1)
			saved = errno;
	}
	freeaddrinfo(res);
	if (fd == -1)
		*why = xasprintf("clamd %.200s: connect: %s", c->addr,
		                 strerror(saved ? saved : ECONNREFUSED));
	return fd;
}

/*
 * Connects to c, retrying once after a short pause. Returns the fd, or -1
 * with *why set (caller frees).
 */
static int
clamd_connect(struct clamd *c, char **why)
{
	struct timespec pause = {0, CLAMD_RETRY_PAUSE_MS * 1000000L};
	int fd;

	*why = NULL;
	fd = clamd_connect_once(c, why);
	if (fd != -1 || c->kind == CLAMD_BAD)
		return fd;
	log_debug("clamd addr=%.200s reason=\"%s\" retry=1", c->addr, *why);
	free(*why);
	*why = NULL;
	while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
		;
	return clamd_connect_once(c, why);
}

/*
 * Sends all of buf within the I/O timeout of each wait. Returns 0, or -1
 * with errno set (ETIMEDOUT on a stall). If clamd has something to say
 * while we send (it answers early only to refuse the stream), stops and
 * returns 1 so that the caller reads the answer.
 */
static int
clamd_send_all(int fd, const void *buf, size_t len, uint64_t io_ms)
{
	const unsigned char *p = buf;
	ssize_t n;
	short re;

	while (len > 0) {
		re = clamd_wait(fd, POLLOUT | POLLIN, clamd_deadline(io_ms));
		if (re == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (re & POLLIN)
			return 1;
		if (re & (POLLERR | POLLNVAL)) {
			errno = EPIPE;
			return -1;
		}
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads the reply into s->reply until clamd closes the connection, a final
 * line ("... OK", "... ERROR") is complete, the reply is too long, or the
 * deadline passes. Returns 0 on a reply read to its end, -1 with s->err set.
 */
static int
clamd_read_reply(struct clamd_stream *s, uint64_t deadline)
{
	char tmp[4096];
	ssize_t n;
	short re;

	for (;;) {
		re = clamd_wait(s->fd, POLLIN, deadline);
		if (re == 0) {
			s->err = xasprintf("clamd %.200s: no reply within %llu ms", s->c->addr,
			                   (unsigned long long)s->c->io_ms);
			return -1;
		}
		n = recv(s->fd, tmp, sizeof(tmp), 0);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			if (s->rlen == 0 && (errno == ECONNRESET || errno == EPIPE))
				s->dropped = 1;
			s->err =
			    xasprintf("clamd %.200s: receive: %s", s->c->addr, strerror(errno));
			return -1;
		}
		if (n == 0) {
			if (s->rlen == 0) {
				s->dropped = 1;
				s->err = xasprintf("clamd %.200s: connection closed without reply",
				                   s->c->addr);
				return -1;
			}
			return 0;
		}
		if (s->rlen + (size_t)n > CLAMD_REPLY_MAX) {
			s->err = xasprintf("clamd %.200s: reply longer than %d bytes", s->c->addr,
			                   CLAMD_REPLY_MAX);
			return -1;
		}
		s->reply = xgrow(s->reply, &s->rcap, s->rlen + (size_t)n + 1, 1);
		memcpy(s->reply + s->rlen, tmp, (size_t)n);
		s->rlen += (size_t)n;
		s->reply[s->rlen] = '\0';
		/* After OK or ERROR nothing follows; do not wait for the close. */
		if (tmp[n - 1] == '\0' && s->rlen >= 4) {
			const char *last = s->reply + s->rlen - 1;
			while (last > s->reply && last[-1] != '\0')
				last--;
			size_t ll = strlen(last);
			if ((ll >= 3 && strcmp(last + ll - 3, " OK") == 0) ||
			    (ll >= 6 && strcmp(last + ll - 6, " ERROR") == 0))
				return 0;
		}
	}
}

/* The only place s->state changes; logs old -> new at debug level. */
static void
clamd_stream_enter_state(struct clamd_stream *s, enum clamd_stream_state st)
{
	static const char *names[] = {"streaming", "answered", "failed"};

	log_debug("clamd addr=%.200s state=%s->%s%s%s", s->c->addr, names[s->state], names[st],
	          s->err ? " reason=" : "", s->err ? s->err : "");
	s->state = st;
}

/* Marks s failed with reason (taken over) unless it already failed. */
static void
clamd_stream_fail(struct clamd_stream *s, char *reason, int dropped)
{
	if (s->state == CS_FAILED) {
		free(reason);
		return;
	}
	free(s->err);
	s->err = reason;
	s->dropped = dropped;
	clamd_stream_enter_state(s, CS_FAILED);
}

/*
 * Reads clamd's answer after it spoke before the end of the stream (or a
 * send failed, when it may have explained why before closing).
 */
static void
clamd_stream_answered(struct clamd_stream *s)
{
	if (clamd_read_reply(s, clamd_deadline(s->c->io_ms)) == -1) {
		char *why = s->err;
		s->err = NULL;
		clamd_stream_fail(s, why, s->dropped);
		return;
	}
	clamd_stream_enter_state(s, CS_ANSWERED);
}

/* Sends len bytes of framed data; on failure, moves s to its final state. */
static void
clamd_stream_send(struct clamd_stream *s, const void *buf, size_t len)
{
	int rc, err;

	rc = clamd_send_all(s->fd, buf, len, s->c->io_ms);
	if (rc == 0)
		return;
	err = errno;
	if (rc == 1) {
		clamd_stream_answered(s);
		return;
	}
	/* clamd may have explained itself before it closed: read that first. */
	if (err == EPIPE || err == ECONNRESET) {
		if (clamd_wait(s->fd, POLLIN, monotonic_ms()) & POLLIN) {
			clamd_stream_answered(s);
			if (s->state == CS_ANSWERED)
				return;
		}
		clamd_stream_fail(s, xasprintf("clamd %.200s: send: %s", s->c->addr, strerror(err)),
		                  s->rlen == 0);
		return;
	}
	clamd_stream_fail(s, xasprintf("clamd %.200s: send: %s", s->c->addr, strerror(err)), 0);
}

/* Sends the buffered bytes as one chunk. */
static void
clamd_stream_flush(struct clamd_stream *s)
{
	unsigned char hdr[4];
	uint32_t n = (uint32_t)s->len;

	if (s->len == 0 || s->state != CS_STREAMING)
		return;
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	s->len = 0;
	clamd_stream_send(s, hdr, sizeof(hdr));
	if (s->state == CS_STREAMING)
		clamd_stream_send(s, s->buf, n);
}

/*
 * Connects to clamd and starts an INSTREAM. Never returns NULL: when the
 * connection fails, the stream is already failed and its close notes
 * SCAN_ERROR with the reason. c must outlive the stream.
 */
struct clamd_stream *
clamd_stream_open(struct clamd *c)
{
	static const char cmd[] = "zINSTREAM"; /* sent with its NUL */
	struct clamd_stream *s = xcalloc(1, sizeof(*s));
	char *why = NULL;

	s->c = c;
	s->state = CS_STREAMING; /* initial state, not a transition */
	s->fd = clamd_connect(c, &why);
	if (s->fd == -1) {
		clamd_stream_fail(s, why, 0);
		return s;
	}
	s->buf = xmalloc(CLAMD_CHUNK);
	clamd_stream_send(s, cmd, sizeof(cmd));
	return s;
}

/*
 * Queues len bytes of buf (not kept) and sends full chunks. Returns 0, or
 * -1 once the stream has failed or clamd has answered early (e.g. the
 * stream is over its StreamMaxLength): stop feeding and close for the
 * verdict.
 */
int
clamd_stream_feed(struct clamd_stream *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t n;

	while (len > 0 && s->state == CS_STREAMING) {
		n = CLAMD_CHUNK - s->len;
		if (n > len)
			n = len;
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		p += n;
		len -= n;
		if (s->len == CLAMD_CHUNK)
			clamd_stream_flush(s);
	}
	return s->state == CS_STREAMING ? 0 : -1;
}

/*
 * Copies at most CLAMD_SAMPLE bytes of s, up to a NUL, with non-printables
 * as '?'.
 */
static char *
clamd_sample(const char *s, size_t len)
{
	char *out = xmalloc(CLAMD_SAMPLE + 1);

	sanitize_mem(s, strnlen(s, len < CLAMD_SAMPLE ? len : CLAMD_SAMPLE), out, CLAMD_SAMPLE + 1,
	             SAN_SAMPLE);
	return out;
}

/* 1 if s is non-empty and all printable ASCII without spaces. */
static int
clamd_is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/*
 * Parses a complete reply (NUL- or newline-separated lines) into v at path:
 * a hit per FOUND line; SCAN_LIMIT for the size limit; SCAN_ERROR for any
 * other ERROR, an unknown line, a line without its terminator, or no line
 * at all. Does no I/O. Returns -1 if it noted SCAN_ERROR, else 0.
 */
static int
clamd_parse_reply(const struct clamd *c, const char *buf, size_t len, struct scan_verdict *v,
                  const char *path)
{
	size_t i = 0, start, ll, nlines = 0;
	int bad = 0;

	while (i < len) {
		const char *line;
		char *sample;

		start = i;
		while (i < len && buf[i] != '\0' && buf[i] != '\n')
			i++;
		line = buf + start;
		ll = i - start;
		if (i == len) {
			/* In z mode every line ends in NUL; this one was cut off. */
			sample = clamd_sample(line, ll);
			verdict_note(v, SCAN_ERROR, LIMIT_NONE, path,
			             "clamd %.200s: truncated reply \"%s\"", c->addr, sample);
			free(sample);
			return -1;
		}
		i++;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			continue;
		nlines++;
		if (ll == 10 && memcmp(line, "stream: OK", 10) == 0)
			continue;
		if (ll > 14 && memcmp(line, "stream: ", 8) == 0 &&
		    memcmp(line + ll - 6, " FOUND", 6) == 0) {
			char *name = xstrndup(line + 8, ll - 14);
			/* A name is one printable token; anything else is not clamd. */
			if (clamd_is_token(name)) {
				verdict_add_hit(v, name, path);
			} else {
				sample = clamd_sample(name, strlen(name));
				verdict_note(v, SCAN_ERROR, LIMIT_NONE, path,
				             "clamd %.200s: bad signature name \"%s\"", c->addr,
				             sample);
				free(sample);
				bad = 1;
			}
			free(name);
			continue;
		}
		sample = clamd_sample(line, ll);
		if (ll >= 6 && memcmp(line + ll - 6, " ERROR", 6) == 0) {
			if (memmem(line, ll, "size limit exceeded", 19) != NULL) {
				/* An answer, not a failure: the limit's policy applies. */
				verdict_note(v, SCAN_LIMIT, LIMIT_FILE_SIZE, path,
				             "clamd %.200s: %s", c->addr, sample);
			} else {
				verdict_note(v, SCAN_ERROR, LIMIT_NONE, path, "clamd %.200s: %s",
				             c->addr, sample);
				bad = 1;
			}
		} else {
			verdict_note(v, SCAN_ERROR, LIMIT_NONE, path,
			             "clamd %.200s: unexpected reply \"%s\"", c->addr, sample);
			bad = 1;
		}
		free(sample);
	}
	if (nlines == 0) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, path, "clamd %.200s: empty reply", c->addr);
		return -1;
	}
	return bad ? -1 : 0;
}

/*
 * Sends what is buffered and the zero-length end of the stream, then reads
 * the reply: s ends answered or failed.
 */
static void
clamd_stream_finish(struct clamd_stream *s)
{
	static const unsigned char end[4] = {0, 0, 0, 0};

	clamd_stream_flush(s);
	if (s->state == CS_STREAMING)
		clamd_stream_send(s, end, sizeof(end));
	if (s->state == CS_STREAMING)
		clamd_stream_answered(s);
}

/*
 * Sends what is buffered and the end of the stream, reads the answer, and
 * records it in v at path (copied): hits, or a note of SCAN_LIMIT or
 * SCAN_ERROR with the reason. Frees s. Returns -1 exactly when the backend
 * failed (SCAN_ERROR noted), else 0 (clean, infected, or clamd's size
 * limit).
 */
int
clamd_stream_close(struct clamd_stream *s, struct scan_verdict *v, const char *path)
{
	int rc;

	if (s->state == CS_STREAMING)
		clamd_stream_finish(s);
	if (s->state == CS_ANSWERED) {
		rc = clamd_parse_reply(s->c, s->reply, s->rlen, v, path);
	} else {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, path, "%s", s->err);
		rc = -1;
	}
	if (s->fd != -1)
		close(s->fd);
	free(s->buf);
	free(s->reply);
	free(s->err);
	free(s);
	return rc;
}

/*
 * PING: connects, sends "zPING\0" and expects "PONG\0". Returns 0 if clamd
 * answered PONG, else -1 (logged with the reason).
 */
int
clamd_ping(struct clamd *c)
{
	static const char cmd[] = "zPING"; /* sent with its NUL */
	char reply[64], *why = NULL, *sample;
	size_t rlen = 0;
	uint64_t deadline;
	ssize_t n;
	int fd;

	fd = clamd_connect(c, &why);
	if (fd == -1) {
		log_warnx("clamd addr=%.200s ping=failed reason=\"%s\"", c->addr, why);
		free(why);
		return -1;
	}
	if (clamd_send_all(fd, cmd, sizeof(cmd), c->io_ms) != 0) {
		log_warnx("clamd addr=%.200s ping=failed reason=\"send failed\"", c->addr);
		close(fd);
		return -1;
	}
	/* Read until the NUL, the close, a full buffer, or the deadline. */
	deadline = clamd_deadline(c->io_ms);
	while (rlen < sizeof(reply) && (rlen == 0 || reply[rlen - 1] != '\0')) {
		if (clamd_wait(fd, POLLIN, deadline) == 0)
			break;
		n = recv(fd, reply + rlen, sizeof(reply) - rlen, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		rlen += (size_t)n;
	}
	close(fd);
	if (rlen == 5 && memcmp(reply, "PONG", 5) == 0)
		return 0;
	sample = clamd_sample(reply, rlen);
	log_warnx("clamd addr=%.200s ping=failed reason=\"%s%s\"", c->addr,
	          rlen ? "unexpected reply " : "no reply", sample);
	free(sample);
	return -1;
}

/*
 * Streams one attempt of fd from its current offset into v. Returns 0 on an
 * answer, -1 on failure; *dropped says the connection went away before
 * clamd said anything, so a second attempt may succeed.
 */
static int
clamd_scan_fd_once(struct clamd *c, int fd, const char *path, struct scan_verdict *v, int *dropped)
{
	struct clamd_stream *s = clamd_stream_open(c);
	unsigned char *buf = xmalloc(CLAMD_CHUNK);
	ssize_t n;

	while (s->state == CS_STREAMING) {
		n = read(fd, buf, CLAMD_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			clamd_stream_fail(s, xasprintf("%s: read: %s", path, strerror(errno)), 0);
			break;
		}
		if (n == 0)
			break;
		clamd_stream_feed(s, buf, (size_t)n);
	}
	free(buf);
	/* The end of the stream may still find the connection gone. */
	if (s->state == CS_STREAMING)
		clamd_stream_finish(s);
	*dropped = s->state == CS_FAILED && s->dropped;
	return clamd_stream_close(s, v, path);
}

/*
 * Streams everything readable on fd (not closed) and records the result in
 * v at path. If the connection drops before any reply and fd is seekable,
 * starts once more from the offset it had. Returns 0, or -1 with the reason
 * noted in v as SCAN_ERROR.
 */
int
clamd_scan_fd(struct clamd *c, int fd, const char *path, struct scan_verdict *v)
{
	off_t start = lseek(fd, 0, SEEK_CUR);
	struct scan_verdict tmp;
	int dropped, rc;

	/* A failed first attempt stays out of v: the second may succeed. */
	verdict_init(&tmp);
	rc = clamd_scan_fd_once(c, fd, path, &tmp, &dropped);
	if (rc == -1 && dropped && start != -1 && lseek(fd, start, SEEK_SET) == start) {
		log_debug("clamd addr=%.200s path=%.200s reason=dropped retry=1", c->addr, path);
		verdict_clear(&tmp);
		rc = clamd_scan_fd_once(c, fd, path, &tmp, &dropped);
	}
	verdict_merge(v, &tmp);
	verdict_clear(&tmp);
	return rc;
}

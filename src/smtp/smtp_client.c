/*
 * smtp_client: next-hop connection state machine. Owns its bufferevent,
 * the reply being parsed and the body being streamed; borrows the spool.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "smtp/smtp_client.h"
#include "smtp/smtp_data.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CLIENT_MAX_LINE 4096
#define BODY_CHUNK (128 * 1024)
#define BODY_LOWAT (64 * 1024)

enum client_state {
	CS_CONNECTING,
	CS_IDLE,       /* no command outstanding */
	CS_WAIT_REPLY, /* a command was sent */
	CS_TLS_HANDSHAKE,
	CS_BODY, /* streaming a message body */
	CS_FAILED,
};

struct smtp_client {
	struct event_base *base;
	struct bufferevent *bev;
	char *label;
	uint64_t timeout_ms;
	enum client_state state;
	int tls;
	struct smtp_reply reply;
	smtp_client_cb cb;
	void *arg;
	char *fail_reason;
	int starttls_pending; /* waiting for the 220 to STARTTLS */
	SSL_CTX *tls_ctx;
	/* body streaming */
	const struct spool *sp;
	uint64_t body_off;
	struct smtp_stuff stuff;
	char *chunk, *stuffed;
	/* failures of commands issued after a failure are reported from here,
	 * never from inside the caller's own call */
	struct event *defer_ev;
	/* deferred free: set when freed from inside a callback */
	int in_callback;
	int dead;
};

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

static void
client_enter_state(struct smtp_client *c, enum client_state st)
{
	static const char *names[] = {"connecting",    "idle", "wait-reply",
	                              "tls-handshake", "body", "failed"};

	if (c->state != st)
		log_debug("nexthop[%s]: state %s -> %s", c->label, names[c->state], names[st]);
	c->state = st;
}

static void
client_timeouts(struct smtp_client *c, int waiting)
{
	struct timeval tv = {(time_t)(c->timeout_ms / 1000),
	                     (suseconds_t)(c->timeout_ms % 1000) * 1000};

	bufferevent_set_timeouts(c->bev, waiting ? &tv : NULL, &tv);
}

/* Calls the pending callback once; returns 1 if c was freed meanwhile. */
static int
client_deliver(struct smtp_client *c, const struct smtp_reply *r)
{
	smtp_client_cb cb = c->cb;
	void *arg = c->arg;

	c->cb = NULL;
	c->arg = NULL;
	if (cb == NULL)
		return 0;
	c->in_callback++;
	cb(arg, r);
	c->in_callback--;
	if (c->dead && c->in_callback == 0) {
		smtp_client_free(c);
		return 1;
	}
	return 0;
}

static void client_defer(struct smtp_client *c);

/* Moves to CS_FAILED; the pending callback hears of it from the loop. */
static void client_fail(struct smtp_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
client_fail(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == CS_FAILED)
		return;
	va_start(ap, fmt);
	if (vasprintf(&c->fail_reason, fmt, ap) < 0)
		fatalx("out of memory");
	va_end(ap);
	log_warnx("nexthop[%s]: %s", c->label, c->fail_reason);
	client_enter_state(c, CS_FAILED);
	if (c->bev)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	client_defer(c);
}

/* Delivers the stored failure to the pending callback (from the loop). */
static void
client_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	struct smtp_reply r;
	char *line;

	if (c->cb == NULL)
		return;
	smtp_reply_init(&r);
	line = xasprintf("next hop %s: %s", c->label, c->fail_reason ? c->fail_reason : "failed");
	r.lines = &line;
	r.nlines = 1;
	r.complete = 1;
	client_deliver(c, &r);
	free(line);
}

static void
client_defer(struct smtp_client *c)
{
	struct timeval zero = {0, 0};

	evtimer_add(c->defer_ev, &zero);
}

struct smtp_client *
smtp_client_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                    const char *label, uint64_t timeout_ms, smtp_client_cb cb, void *arg)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->label = xstrdup(label);
	c->timeout_ms = timeout_ms;
	c->cb = cb;
	c->arg = arg;
	smtp_reply_init(&c->reply);
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
	client_timeouts(c, 1);
	c->state = CS_CONNECTING;
	c->defer_ev = evtimer_new(base, client_deferred, c);
	if (c->defer_ev == NULL)
		fatalx("evtimer_new failed");
	if (bufferevent_socket_connect(c->bev, sa, (int)salen) < 0) {
		c->fail_reason = xasprintf("connect: %s", strerror(errno));
		client_enter_state(c, CS_FAILED);
		client_defer(c);
		return c;
	}
	/* Commands are small and wait for replies: no Nagle delay; and the
	 * end of a body must not wait for the peer's delayed ACK. */
	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	bufferevent_enable(c->bev, EV_READ);
	return c;
}

static void
client_send_line(struct smtp_client *c, const char *line)
{
	log_debug("nexthop[%s]: >>> %.200s", c->label, line);
	evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\r\n", line);
}

void
smtp_client_command(struct smtp_client *c, const char *line, smtp_client_cb cb, void *arg)
{
	c->cb = cb;
	c->arg = arg;
	if (c->state == CS_FAILED) {
		client_defer(c);
		return;
	}
	if (c->state != CS_IDLE)
		panic("smtp_client_command in state %d", c->state);
	smtp_reply_clear(&c->reply);
	client_send_line(c, line);
	client_enter_state(c, CS_WAIT_REPLY);
	client_timeouts(c, 1);
	bufferevent_enable(c->bev, EV_READ);
}

void
smtp_client_starttls(struct smtp_client *c, SSL_CTX *ctx, smtp_client_cb cb, void *arg)
{
	c->tls_ctx = ctx;
	c->starttls_pending = 1;
	smtp_client_command(c, "STARTTLS", cb, arg);
}

/* Wraps the connection in TLS after the 220 to STARTTLS. */
static void
client_begin_tls(struct smtp_client *c)
{
	SSL *ssl = SSL_new(c->tls_ctx);
	struct bufferevent *tb;

	if (ssl == NULL) {
		client_fail(c, "STARTTLS: SSL_new failed");
		return;
	}
	/* Anything the server sent after its 220 is not to be trusted. */
	evbuffer_drain(bufferevent_get_input(c->bev),
	               evbuffer_get_length(bufferevent_get_input(c->bev)));
	tb = bufferevent_openssl_filter_new(c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
	                                    BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL) {
		SSL_free(ssl);
		client_fail(c, "STARTTLS: cannot start TLS");
		return;
	}
	c->bev = tb;
	bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
	client_timeouts(c, 1);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	client_enter_state(c, CS_TLS_HANDSHAKE);
}

/* Pushes body chunks while the output buffer is below the low mark. */
static void
client_body_pump(struct smtp_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (evbuffer_get_length(out) < BODY_LOWAT) {
		ssize_t n = spool_pread(c->sp, c->chunk, BODY_CHUNK, c->body_off);
		size_t m;

		if (n < 0) {
			client_fail(c, "reading the spool: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			const char *end = smtp_stuff_end(&c->stuff);

			evbuffer_add(out, end, strlen(end));
			bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
			smtp_reply_clear(&c->reply);
			client_enter_state(c, CS_WAIT_REPLY);
			client_timeouts(c, 1);
			return;
		}
		c->body_off += (uint64_t)n;
		m = smtp_stuff_push(&c->stuff, c->chunk, (size_t)n, c->stuffed);
		evbuffer_add(out, c->stuffed, m);
	}
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;

	if (c->state == CS_BODY)
		client_body_pump(c);
}

void
smtp_client_body(struct smtp_client *c, const char *prepend, const struct spool *sp,
                 smtp_client_cb cb, void *arg)
{
	c->cb = cb;
	c->arg = arg;
	if (c->state == CS_FAILED) {
		client_defer(c);
		return;
	}
	if (c->state != CS_IDLE)
		panic("smtp_client_body in state %d", c->state);
	c->sp = sp;
	c->body_off = 0;
	smtp_stuff_init(&c->stuff);
	if (c->chunk == NULL) {
		c->chunk = xmalloc(BODY_CHUNK);
		c->stuffed = xmalloc(2 * BODY_CHUNK);
	}
	if (prepend && *prepend) {
		size_t len = strlen(prepend), m;
		char *tmp = xmalloc(2 * len);

		m = smtp_stuff_push(&c->stuff, prepend, len, tmp);
		evbuffer_add(bufferevent_get_output(c->bev), tmp, m);
		free(tmp);
	}
	client_enter_state(c, CS_BODY);
	client_timeouts(c, 0);
	bufferevent_setwatermark(c->bev, EV_WRITE, BODY_LOWAT, 0);
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	client_body_pump(c);
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while (c->state == CS_WAIT_REPLY || c->state == CS_CONNECTING) {
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > CLIENT_MAX_LINE)
				client_fail(c, "reply line longer than %d bytes", CLIENT_MAX_LINE);
			return;
		}
		log_debug("nexthop[%s]: <<< %.200s", c->label, line);
		int rc = smtp_reply_feed(&c->reply, line, len);
		free(line);
		if (rc < 0) {
			client_fail(c, "malformed reply");
			return;
		}
		if (rc == 0)
			continue;
		if (c->starttls_pending) {
			c->starttls_pending = 0;
			if (c->reply.code == 220) {
				client_begin_tls(c);
				return;
			}
		}
		client_enter_state(c, CS_IDLE);
		client_timeouts(c, 0);
		if (client_deliver(c, &c->reply))
			return;
	}
	/* Bytes while idle: the server is talking out of turn (421 on
	 * shutdown, typically). Keep them: the next command's reply parser
	 * sees them first, which is what the server meant. */
	if (c->state == CS_IDLE && evbuffer_get_length(in) > CLIENT_MAX_LINE)
		client_fail(c, "unexpected data from the next hop");
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CS_TLS_HANDSHAKE) {
			struct smtp_reply r = c->reply;

			c->tls = 1;
			client_enter_state(c, CS_IDLE);
			client_timeouts(c, 0);
			log_debug("nexthop[%s]: TLS established", c->label);
			client_deliver(c, &r);
			return;
		}
		return; /* TCP connected; the banner comes through read */
	}
	if (what & BEV_EVENT_TIMEOUT) {
		client_fail(c, "timeout");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		client_fail(c, "connection closed");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		int err = EVUTIL_SOCKET_ERROR();

		if (c->state == CS_TLS_HANDSHAKE || e)
			client_fail(c, "TLS failed (%lu)", e);
		else if (c->state == CS_CONNECTING)
			client_fail(c, "connect: %s", evutil_socket_error_to_string(err));
		else
			client_fail(c, "%s", evutil_socket_error_to_string(err));
	}
}

int
smtp_client_tls(const struct smtp_client *c)
{
	return c->tls;
}

int
smtp_client_failed(const struct smtp_client *c)
{
	return c->state == CS_FAILED;
}

const char *
smtp_client_label(const struct smtp_client *c)
{
	return c->label;
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (c->in_callback) {
		c->dead = 1;
		c->cb = NULL;
		return;
	}
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->defer_ev)
		event_free(c->defer_ev);
	smtp_reply_clear(&c->reply);
	free(c->label);
	free(c->fail_reason);
	free(c->chunk);
	free(c->stuffed);
	free(c);
}

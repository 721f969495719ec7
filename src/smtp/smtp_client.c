/*
 * smtp_client: the client side of one SMTP connection. Owns its conn, the
 * reply being parsed, the body being streamed and the failure, once there
 * is one; borrows the spool while a body is sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "net/conn.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_data.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/xalloc.h"

#define CLIENT_MAX_LINE 4096
#define BODY_CHUNK (128 * 1024)
#define BODY_LOWAT (64 * 1024)

enum client_state {
	CS_CONNECTING, /* waiting for the banner */
	CS_IDLE,       /* no command outstanding */
	CS_WAIT_REPLY, /* a command was sent */
	CS_TLS_HANDSHAKE,
	CS_BODY, /* streaming a message body */
	CS_FAILED,
};

struct smtp_client {
	struct conn *conn;
	char log[128]; /* "smtp[42]: nexthop 127.0.0.1:10026" */
	char peer[80]; /* "127.0.0.1:10026" */
	uint64_t timeout_ms;
	enum client_state state;
	struct smtp_reply reply;
	smtp_client_cb cb;
	void *arg;
	enum smtp_status fail;
	char *error;
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

static void
client_enter_state(struct smtp_client *c, enum client_state st)
{
	static const char *names[] = {"connecting",    "idle", "wait-reply",
	                              "tls-handshake", "body", "failed"};

	if (c->state != st)
		log_debug("%s: state %s -> %s", c->log, names[c->state], names[st]);
	c->state = st;
}

/* Waiting for a reply bounds reading too; idle, only writing is bounded. */
static void
client_timeouts(struct smtp_client *c, int waiting)
{
	conn_set_timeouts(c->conn, waiting ? c->timeout_ms : 0, c->timeout_ms);
}

/* Calls the pending callback once; returns 1 if c was freed meanwhile. */
static int
client_deliver(struct smtp_client *c, enum smtp_status st, const struct smtp_reply *r)
{
	smtp_client_cb cb = c->cb;
	void *arg = c->arg;

	c->cb = NULL;
	c->arg = NULL;
	if (cb == NULL)
		return 0;
	c->in_callback++;
	cb(arg, st, r);
	c->in_callback--;
	if (c->dead && c->in_callback == 0) {
		smtp_client_free(c);
		return 1;
	}
	return 0;
}

static void
client_defer(struct smtp_client *c)
{
	struct timeval zero = {0, 0};

	evtimer_add(c->defer_ev, &zero);
}

/* Moves to CS_FAILED; the pending callback hears of it from the loop. */
static void client_fail(struct smtp_client *c, enum smtp_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
client_fail(struct smtp_client *c, enum smtp_status st, const char *fmt, ...)
{
	va_list ap;
	char *why, lb[128];

	if (c->state == CS_FAILED)
		return;
	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	c->fail = st;
	c->error = xasprintf("next hop %s: %s", c->peer, why);
	log_warnx("%s: failed class=%s error=\"%s\"", c->log, smtp_status_name(st), why);
	metrics_add("portcullis_failures_total",
	            metrics_labels(lb, sizeof(lb), "cause", "next_hop", "class",
	                           smtp_status_name(st), NULL),
	            1);
	free(why);
	client_enter_state(c, CS_FAILED);
	conn_read_enable(c->conn, 0);
	client_defer(c);
}

static void client_read(void *arg);

/*
 * From the loop: delivers the stored failure to the pending callback, or
 * reads the reply that was already waiting when the command went out.
 */
static void
client_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;

	if (c->state == CS_FAILED)
		client_deliver(c, c->fail, NULL);
	else
		client_read(c);
}

static void
client_send_line(struct smtp_client *c, const char *line)
{
	log_debug("%s: >>> %.200s", c->log, line);
	conn_printf(c->conn, "%s\r\n", line);
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
	conn_read_enable(c->conn, 1);
	/* What the server said out of turn (a 421 before it goes) is the
	 * start of this reply; no new bytes may come to have it read. */
	if (evbuffer_get_length(conn_input(c->conn)) > 0)
		client_defer(c);
}

void
smtp_client_starttls(struct smtp_client *c, SSL_CTX *ctx, smtp_client_cb cb, void *arg)
{
	c->tls_ctx = ctx;
	c->starttls_pending = 1;
	smtp_client_command(c, "STARTTLS", cb, arg);
}

/* Pushes body chunks while the output is below the low mark. */
static void
client_body_pump(struct smtp_client *c)
{
	struct evbuffer *out = conn_output(c->conn);

	while (evbuffer_get_length(out) < BODY_LOWAT) {
		ssize_t n = spool_pread(c->sp, c->chunk, BODY_CHUNK, c->body_off);
		size_t m;

		if (n < 0) {
			client_fail(c, SMTP_ERR_LOCAL, "reading the spool: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			const char *end = smtp_stuff_end(&c->stuff);

			evbuffer_add(out, end, strlen(end));
			conn_set_output_low(c->conn, 0);
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
		conn_write(c->conn, tmp, m);
		free(tmp);
	}
	client_enter_state(c, CS_BODY);
	client_timeouts(c, 0);
	conn_set_output_low(c->conn, BODY_LOWAT);
	client_body_pump(c);
}

static void
client_output_low(void *arg)
{
	struct smtp_client *c = arg;

	if (c->state == CS_BODY)
		client_body_pump(c);
}

static void
client_read(void *arg)
{
	struct smtp_client *c = arg;
	struct evbuffer *in = conn_input(c->conn);
	char *line;
	size_t len;

	while (c->state == CS_WAIT_REPLY || c->state == CS_CONNECTING) {
		int rc = conn_readline(c->conn, CLIENT_MAX_LINE, &line, &len);

		if (rc == 0)
			return;
		if (rc < 0) {
			client_fail(c, SMTP_ERR_PROTOCOL, "reply line longer than %d bytes",
			            CLIENT_MAX_LINE);
			return;
		}
		log_debug("%s: <<< %.200s", c->log, line);
		rc = smtp_reply_feed(&c->reply, line, len);
		free(line);
		if (rc < 0) {
			client_fail(c, SMTP_ERR_PROTOCOL, "malformed reply");
			return;
		}
		if (rc == 0)
			continue;
		if (c->starttls_pending) {
			c->starttls_pending = 0;
			if (c->reply.code == 220) {
				/* Anything the server sent after its 220 is
				 * dropped by conn_starttls(): not to be trusted. */
				if (conn_starttls(c->conn, c->tls_ctx, 0) < 0)
					client_fail(c, SMTP_ERR_TLS, "cannot start TLS");
				else
					client_enter_state(c, CS_TLS_HANDSHAKE);
				return;
			}
		}
		client_enter_state(c, CS_IDLE);
		client_timeouts(c, 0);
		if (client_deliver(c, SMTP_REPLY, &c->reply))
			return;
	}
	/* Bytes while idle: the server is talking out of turn (421 on
	 * shutdown, typically). Keep them: the next command's reply parser
	 * sees them first, which is what the server meant. */
	if (c->state == CS_IDLE && evbuffer_get_length(in) > CLIENT_MAX_LINE)
		client_fail(c, SMTP_ERR_PROTOCOL, "unexpected data from the next hop");
}

static void
client_event(void *arg, enum conn_event ev)
{
	struct smtp_client *c = arg;

	switch (ev) {
	case CONN_CONNECTED:
		return; /* the banner comes through read */
	case CONN_TLS_UP: {
		struct smtp_reply r = c->reply; /* the 220, still ours */

		client_enter_state(c, CS_IDLE);
		client_timeouts(c, 0);
		conn_read_enable(c->conn, 1);
		log_debug("%s: TLS established", c->log);
		client_deliver(c, SMTP_REPLY, &r);
		return;
	}
	case CONN_CONNECT_FAILED:
		client_fail(c, SMTP_ERR_CONNECT, "connect failed");
		return;
	case CONN_TLS_FAILED:
		client_fail(c, SMTP_ERR_TLS, "TLS handshake failed");
		return;
	case CONN_TIMEOUT:
		client_fail(c, SMTP_ERR_TIMEOUT, "timeout");
		return;
	case CONN_EOF:
		client_fail(c, SMTP_ERR_CLOSED, "connection closed");
		return;
	case CONN_ERROR:
	case CONN_GOODBYE_DONE:
		client_fail(c, SMTP_ERR_CLOSED, "connection lost");
		return;
	}
}

struct smtp_client *
smtp_client_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                    const char *log_id, uint64_t timeout_ms, smtp_client_cb cb, void *arg)
{
	static const struct conn_cbs cbs = {client_read, client_event, client_output_low};
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	hostport_format(sa, c->peer, sizeof(c->peer));
	snprintf(c->log, sizeof(c->log), "%s: nexthop %s", log_id, c->peer);
	c->timeout_ms = timeout_ms;
	c->cb = cb;
	c->arg = arg;
	smtp_reply_init(&c->reply);
	c->defer_ev = evtimer_new(base, client_deferred, c);
	if (c->defer_ev == NULL)
		fatalx("out of memory (smtp client timer)");
	c->state = CS_CONNECTING;
	c->conn = conn_connect(base, sa, salen, c->log, &cbs, c);
	client_timeouts(c, 1);
	return c;
}

int
smtp_client_tls(const struct smtp_client *c)
{
	return conn_tls(c->conn);
}

const char *
smtp_client_tls_describe(const struct smtp_client *c, char *buf, size_t cap)
{
	return conn_tls_describe(c->conn, buf, cap);
}

int
smtp_client_failed(const struct smtp_client *c)
{
	return c->state == CS_FAILED;
}

const char *
smtp_client_error(const struct smtp_client *c)
{
	return c->error ? c->error : "";
}

const char *
smtp_client_peer(const struct smtp_client *c)
{
	return c->peer;
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
	conn_free(c->conn);
	event_free(c->defer_ev);
	smtp_reply_clear(&c->reply);
	free(c->error);
	free(c->chunk);
	free(c->stuffed);
	free(c);
}

/*
 * conn: a TCP leg. Owns its bufferevent (and through it the socket and the
 * SSL object), the peer's address, and one deferred-event timer that
 * reports what happens inside an owner's call (an immediate connect
 * failure, a goodbye with nothing left to send) from the loop instead.
 *
 * TLS goes directly on the socket, not as a filter over the plain
 * bufferevent: the plain one lets go of the fd and a TLS one takes it over,
 * so EOF and errors reach us as on a plain connection. The switch waits for
 * the plain output to drain through the write callback; nothing polls.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/conn.h"
#include "net/tls.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/xalloc.h"

#define MAX_SINGLE_READ (256 * 1024)

enum conn_state {
	C_CONNECTING, /* conn_connect() in progress */
	C_OPEN,       /* plain or TLS, reading and writing */
	C_TLS_FLUSH,  /* conn_starttls(): the clear-text output drains first */
	C_TLS_HANDSHAKE,
	C_GOODBYE, /* conn_goodbye(): draining, then done */
	C_DONE,    /* an end was reported; nothing more will be */
};

struct conn {
	struct event_base *base;
	struct bufferevent *bev;
	struct conn_cbs cbs;
	void *arg;
	char label[64];
	enum conn_state state;
	int tls;
	int tls_server;
	SSL_CTX *tls_ctx;
	struct timeval rto, wto;
	int has_rto, has_wto;
	size_t read_high, output_low;
	size_t io_max;   /* bytes one read or write may move; 0 = libevent's default */
	int skip_line;   /* dropping the rest of an over-long line */
	int input_full;  /* reading stopped at read_high until the owner takes input */
	int early_input; /* input came before the connect or handshake was reported */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char peer_addr[64];
	unsigned peer_port;
	struct event *defer_ev;
	enum conn_event deferred;
};

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_input_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg);

static void
conn_enter_state(struct conn *c, enum conn_state st)
{
	static const char *names[] = {"connecting",    "open",    "tls-flush",
	                              "tls-handshake", "goodbye", "done"};

	if (c->state != st)
		log_debug("%s: conn %s -> %s", c->label, names[c->state], names[st]);
	c->state = st;
}

/*
 * Reports ev to the owner as the last thing this conn does in a callback.
 * An end leaves the conn done; a timeout while open does not: the owner may
 * still say goodbye (a 421) on the write side.
 */
static void
conn_report(struct conn *c, enum conn_event ev)
{
	if (ev != CONN_CONNECTED && ev != CONN_TLS_UP &&
	    !(ev == CONN_TIMEOUT && c->state == C_OPEN))
		conn_enter_state(c, C_DONE);
	c->cbs.event(c->arg, ev);
}

static void
conn_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	conn_report(c, c->deferred);
}

/* Reports ev from the loop, never from inside the owner's own call. */
static void
conn_defer(struct conn *c, enum conn_event ev)
{
	struct timeval zero = {0, 0};

	c->deferred = ev;
	evtimer_add(c->defer_ev, &zero);
}

static void
conn_apply(struct conn *c)
{
	bufferevent_set_timeouts(c->bev, c->has_rto ? &c->rto : NULL, c->has_wto ? &c->wto : NULL);
	bufferevent_setwatermark(c->bev, EV_READ, 0, c->read_high);
	bufferevent_setwatermark(c->bev, EV_WRITE, c->output_low, 0);
	if (c->io_max) {
		bufferevent_set_max_single_read(c->bev, c->io_max);
		bufferevent_set_max_single_write(c->bev, c->io_max);
	}
	bufferevent_set_max_single_read(c->bev, MAX_SINGLE_READ);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	c->input_full = 0;
	evbuffer_add_cb(bufferevent_get_input(c->bev), conn_input_cb, c);
}

static struct conn *
conn_alloc(struct event_base *base, const struct sockaddr *sa, socklen_t salen, const char *label,
           const struct conn_cbs *cbs, void *arg)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->cbs = *cbs;
	c->arg = arg;
	snprintf(c->label, sizeof(c->label), "%s", label);
	c->peer_len = salen < sizeof(c->peer) ? salen : sizeof(c->peer);
	memcpy(&c->peer, sa, c->peer_len);
	addr_format(sa, c->peer_addr, sizeof(c->peer_addr));
	if (sa->sa_family == AF_INET6)
		c->peer_port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	else if (sa->sa_family == AF_INET)
		c->peer_port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	c->defer_ev = evtimer_new(base, conn_deferred, c);
	if (c->defer_ev == NULL)
		fatalx("out of memory (conn timer)");
	return c;
}

struct conn *
conn_accept(struct event_base *base, int fd, const struct sockaddr *sa, socklen_t salen,
            const char *label, const struct conn_cbs *cbs, void *arg)
{
	struct conn *c = conn_alloc(base, sa, salen, label, cbs, arg);

	/* Replies are small and answer the peer's turn: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("out of memory (bufferevent)");
	c->state = C_OPEN;
	conn_apply(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

struct conn *
conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen, const char *label,
             const struct conn_cbs *cbs, void *arg)
{
	struct conn *c = conn_alloc(base, sa, salen, label, cbs, arg);

	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("out of memory (bufferevent)");
	c->state = C_CONNECTING;
	conn_apply(c);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)sa, (int)salen) < 0) {
		log_warn("%s: connect to %s", c->label, c->peer_addr);
		conn_defer(c, CONN_CONNECT_FAILED);
		return c;
	}
	/* Commands are small and wait for replies; the end of a body must not
	 * wait for the peer's delayed ACK. */
	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->bev && c->tls && (c->state == C_GOODBYE || c->state == C_DONE)) {
		/* the output is out: close_notify, so that the peer knows the data
		 * ended here (an FTP file over TLS ends with its connection) */
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

		if (ssl)
			(void)SSL_shutdown(ssl);
	}
	if (c->bev)
		bufferevent_free(c->bev);
	event_free(c->defer_ev);
	free(c);
}

void
conn_reset(struct conn *c)
{
	struct linger l = {1, 0};

	if (c == NULL)
		return;
	if (c->bev && bufferevent_getfd(c->bev) >= 0)
		setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	conn_free(c);
}

struct timeval
ms_to_tv(uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	return tv;
}

void
conn_set_timeouts(struct conn *c, uint64_t read_ms, uint64_t write_ms)
{
	c->has_rto = read_ms > 0;
	c->has_wto = write_ms > 0;
	c->rto = ms_to_tv(read_ms);
	c->wto = ms_to_tv(write_ms);
	bufferevent_set_timeouts(c->bev, c->has_rto ? &c->rto : NULL, c->has_wto ? &c->wto : NULL);
}

void
conn_set_io_max(struct conn *c, size_t n)
{
	c->io_max = n;
	bufferevent_set_max_single_read(c->bev, n);
	bufferevent_set_max_single_write(c->bev, n);
}

void
conn_set_read_high(struct conn *c, size_t high)
{
	c->read_high = high;
	bufferevent_setwatermark(c->bev, EV_READ, 0, high);
	if (c->input_full && (high == 0 || evbuffer_get_length(conn_input(c)) < high)) {
		c->input_full = 0;
		if (c->state == C_OPEN)
			bufferevent_enable(c->bev, EV_READ);
	}
}

void
conn_set_output_low(struct conn *c, size_t low)
{
	c->output_low = low;
	bufferevent_setwatermark(c->bev, EV_WRITE, low, 0);
}

void
conn_read_enable(struct conn *c, int on)
{
	if (c->state != C_OPEN)
		return;
	if (on) {
		/* At the mark, reading resumes once the owner takes input. */
		if (!c->input_full)
			bufferevent_enable(c->bev, EV_READ);
	} else {
		c->input_full = 0;
		bufferevent_disable(c->bev, EV_READ);
	}
}

struct evbuffer *
conn_input(struct conn *c)
{
	return bufferevent_get_input(c->bev);
}

struct evbuffer *
conn_output(struct conn *c)
{
	return bufferevent_get_output(c->bev);
}

void
conn_write(struct conn *c, const void *buf, size_t len)
{
	evbuffer_add(bufferevent_get_output(c->bev), buf, len);
}

void
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

int
conn_readline(struct conn *c, size_t max, char **line, size_t *len)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		size_t eol_len = 0, n;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		char *l;

		if (eol.pos < 0) {
			n = evbuffer_get_length(in);
			/* A line of max bytes may wait here with its CR, the
			 * LF still on its way. */
			if (n <= max + 1)
				return 0;
			/* No end in sight: drop what there is, say so once. */
			evbuffer_drain(in, n);
			if (c->skip_line)
				return 0;
			c->skip_line = 1;
			return -1;
		}
		n = (size_t)eol.pos;
		if (c->skip_line) {
			/* The end of a line already reported as too long. */
			evbuffer_drain(in, n + eol_len);
			c->skip_line = 0;
			continue;
		}
		l = xmalloc(n + 1);
		evbuffer_remove(in, l, n);
		evbuffer_drain(in, eol_len);
		l[n] = '\0';
		if (n > 0 && l[n - 1] == '\r')
			l[--n] = '\0';
		if (n > max) {
			free(l);
			return -1;
		}
		*line = l;
		*len = n;
		return 1;
	}
}

/* Drains the rest of TLS errors into the log. */
static void
log_tls_errors(struct conn *c)
{
	unsigned long e;

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		char buf[256];

		ERR_error_string_n(e, buf, sizeof(buf));
		log_info("%s: tls error=\"%s\"", c->label, buf);
	}
}

/* Moves the socket from the plain bufferevent to a TLS one. */
static void
conn_tls_switch(struct conn *c)
{
	SSL *ssl = SSL_new(c->tls_ctx);
	struct bufferevent *tb;
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (ssl == NULL) {
		log_warnx("%s: SSL_new failed", c->label);
		conn_report(c, CONN_TLS_FAILED);
		return;
	}
	/* Detach the fd: freeing the plain one must not close it. */
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	c->bev = NULL;
	tb = bufferevent_openssl_socket_new(c->base, fd, ssl,
	                                    c->tls_server ? BUFFEREVENT_SSL_ACCEPTING
	                                                  : BUFFEREVENT_SSL_CONNECTING,
	                                    BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL) {
		SSL_free(ssl);
		close(fd);
		c->bev = bufferevent_socket_new(c->base, -1, 0);
		log_warnx("%s: cannot start TLS", c->label);
		conn_report(c, CONN_TLS_FAILED);
		return;
	}
	c->bev = tb;
	/* A peer that closes without close_notify has just gone away. */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	c->tls = 1;
	conn_enter_state(c, C_TLS_HANDSHAKE);
	conn_apply(c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int
conn_starttls(struct conn *c, SSL_CTX *ctx, int server)
{
	struct evbuffer *in;

	if (c->state != C_OPEN || c->tls || ctx == NULL)
		return -1;
	c->tls_ctx = ctx;
	c->tls_server = server;
	/* What the peer sent after its command or reply was sent in the clear:
	 * it must not count as sent under TLS (command injection). */
	in = bufferevent_get_input(c->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_disable(c->bev, EV_READ);
	conn_enter_state(c, C_TLS_FLUSH);
	/* The write callback switches once the output is empty; when it is
	 * empty already, it is called from the loop (the owner's call is
	 * still on the stack). */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		bufferevent_trigger(c->bev, EV_WRITE,
		                    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return 0;
}

int
conn_tls(const struct conn *c)
{
	return c->tls;
}

const char *
conn_tls_describe(const struct conn *c, char *buf, size_t cap)
{
	SSL *ssl = c->tls && c->bev ? bufferevent_openssl_get_ssl(c->bev) : NULL;

	if (ssl == NULL) {
		snprintf(buf, cap, "none");
		return buf;
	}
	return tls_describe(ssl, buf, cap);
}

void
conn_goodbye(struct conn *c, uint64_t linger_ms)
{
	if (c->state == C_GOODBYE || c->state == C_DONE)
		return;
	conn_enter_state(c, C_GOODBYE);
	bufferevent_disable(c->bev, EV_READ);
	c->has_rto = 0;
	c->has_wto = linger_ms > 0;
	c->wto = ms_to_tv(linger_ms);
	bufferevent_set_timeouts(c->bev, NULL, c->has_wto ? &c->wto : NULL);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_defer(c, CONN_GOODBYE_DONE);
		return;
	}
	bufferevent_enable(c->bev, EV_WRITE);
}

/*
 * The input at read_high: libevent (2.1.11 and later) would call the read
 * callback again and again while the owner leaves the input there (a
 * session waiting for its next hop), a busy loop. Reading stops until the
 * owner takes some input; conn_input_cb() resumes it.
 */
static void
conn_check_full(struct conn *c)
{
	if (c->read_high && c->state == C_OPEN &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) >= c->read_high) {
		c->input_full = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
}

static void
conn_input_cb(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	if (c->input_full && info->n_deleted && evbuffer_get_length(in) < c->read_high) {
		c->input_full = 0;
		if (c->state == C_OPEN)
			bufferevent_enable(c->bev, EV_READ);
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	/* The peer may answer in the same loop turn as the connect or the
	 * handshake completes, and its bytes may be read first: keep them
	 * for when that is reported. */
	if (c->state == C_CONNECTING || c->state == C_TLS_HANDSHAKE) {
		c->early_input = 1;
		return;
	}
	/* Before the owner's callback, which may free c. */
	conn_check_full(c);
	if (c->state == C_OPEN && c->cbs.read)
		c->cbs.read(c->arg);
}

/* After CONNECTED or TLS_UP: input that came early is handed on now. */
static void
conn_open(struct conn *c, enum conn_event ev)
{
	conn_enter_state(c, C_OPEN);
	if (c->early_input) {
		c->early_input = 0;
		bufferevent_trigger(c->bev, EV_READ,
		                    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
	conn_report(c, ev);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	switch (c->state) {
	case C_TLS_FLUSH:
		conn_tls_switch(c);
		break;
	case C_GOODBYE:
		conn_report(c, CONN_GOODBYE_DONE);
		break;
	case C_OPEN:
		if (c->output_low && c->cbs.output_low)
			c->cbs.output_low(c->arg);
		break;
	default:
		break;
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == C_TLS_HANDSHAKE)
			conn_open(c, CONN_TLS_UP);
		else if (c->state == C_CONNECTING)
			conn_open(c, CONN_CONNECTED);
		return;
	}
	if (c->state == C_DONE)
		return;
	if (what & BEV_EVENT_ERROR)
		log_tls_errors(c);
	if (c->state == C_CONNECTING) {
		int err = EVUTIL_SOCKET_ERROR();

		if (what & BEV_EVENT_TIMEOUT)
			log_warnx("%s: connect to %s: timeout", c->label, c->peer_addr);
		else
			log_warnx("%s: connect to %s: %s", c->label, c->peer_addr,
			          evutil_socket_error_to_string(err));
		conn_report(c, CONN_CONNECT_FAILED);
		return;
	}
	if (c->state == C_TLS_HANDSHAKE && !(what & BEV_EVENT_TIMEOUT)) {
		conn_report(c, CONN_TLS_FAILED);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		conn_report(c, CONN_TIMEOUT);
	else if (what & BEV_EVENT_EOF)
		conn_report(c, CONN_EOF);
	else
		conn_report(c, CONN_ERROR);
}

const struct sockaddr *
conn_peer(const struct conn *c)
{
	return (const struct sockaddr *)&c->peer;
}

int
conn_local(const struct conn *c, struct sockaddr_storage *ss, socklen_t *len)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	*len = sizeof(*ss);
	return fd < 0 ? -1 : getsockname(fd, (struct sockaddr *)ss, len);
}

socklen_t
conn_peer_len(const struct conn *c)
{
	return c->peer_len;
}

const char *
conn_peer_addr(const struct conn *c)
{
	return c->peer_addr;
}

unsigned
conn_peer_port(const struct conn *c)
{
	return c->peer_port;
}

const char *
conn_label(const struct conn *c)
{
	return c->label;
}

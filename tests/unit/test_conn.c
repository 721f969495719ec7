/*
 * Unit tests for net/conn, net/listener and util/idtab, on a real libevent
 * loop with the other end of each connection driven by the test (a tpeer
 * on the same loop, or a raw socket that never reads):
 *
 * - idtab: put, get, del, any, count, growth past thousands of ids, and
 *   emptying a table through idtab_any (a table of operations);
 * - connect: CONNECTED, CONNECT_FAILED (closed port, a family socket()
 *   refuses, a backlog that never answers), input that arrives before the
 *   connect is reported;
 * - conn_readline: CRLF and LF, lines split across reads, NUL and CR
 *   inside, an over-long line reported once and skipped to its end, with or
 *   without its LF in the same read, a line of exactly the limit split
 *   before its LF (vectors);
 * - read and write timeouts, EOF, a reset, read_high, read_enable,
 *   output_low, the peer's address (vectors);
 * - goodbye: output drains then GOODBYE_DONE, nothing to send, a peer that
 *   never reads (TIMEOUT), a peer that leaves (vectors);
 * - TLS contexts: a certificate or key that cannot be loaded;
 * - STARTTLS on both sides with a certificate made at test time,
 *   commands pipelined in clear text after STARTTLS dropped, a handshake
 *   answered with garbage on either side, a handshake that times out,
 *   data sent at once after the handshake;
 * - listener: accept, session counts, stop, bad and busy addresses.
 *
 * Every callback is checked to run from the loop, never from inside a
 * conn_* call the test made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "net/conn.h"
#include "net/listener.h"
#include "net/tls.h"
#include "testnet.h"
#include "util/cidr.h"
#include "util/idtab.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WAIT_MS 3000

static struct event_base *base;
static char certdir[64];
static SSL_CTX *srv_ctx, *cli_ctx;

/* ------------------------------------------------------------------ idtab */

enum idop { I_PUT, I_GET, I_MISS, I_DEL, I_DEL_MISS, I_COUNT, I_ANY, I_EMPTY, I_DRAIN };

static void *
obj_of(uint64_t id)
{
	return (void *)(uintptr_t)(0x10000 + (id % 0x7fffffff) * 8);
}

static void
test_idtab(void **state)
{
	/* Each row applies op to the ids [lo, hi] (step apart); I_COUNT
	 * checks the count is lo. */
	static const struct {
		enum idop op;
		uint64_t lo, hi, step;
	} v[] = {
	    {I_EMPTY, 0, 0, 1},
	    {I_COUNT, 0, 0, 1},
	    {I_PUT, 1, 1, 1},
	    {I_GET, 1, 1, 1},
	    {I_MISS, 2, 2, 1},
	    {I_ANY, 0, 0, 1},
	    {I_COUNT, 1, 0, 1},
	    {I_DEL, 1, 1, 1},
	    {I_DEL_MISS, 1, 1, 1},
	    {I_EMPTY, 0, 0, 1},
	    /* grow past the first 64 buckets many times over */
	    {I_PUT, 1, 5000, 1},
	    {I_COUNT, 5000, 0, 1},
	    {I_GET, 1, 5000, 1},
	    {I_MISS, 5001, 6000, 1},
	    {I_DEL, 1, 5000, 2},
	    {I_MISS, 1, 5000, 2},
	    {I_GET, 2, 5000, 2},
	    {I_COUNT, 2500, 0, 1},
	    /* ids far apart, and the extremes */
	    {I_PUT, 0, 0, 1},
	    {I_PUT, UINT64_MAX, UINT64_MAX, 1},
	    {I_PUT, 1ULL << 32, 1ULL << 40, 1ULL << 32},
	    {I_GET, 0, 0, 1},
	    {I_GET, UINT64_MAX, UINT64_MAX, 1},
	    {I_GET, 1ULL << 32, 1ULL << 40, 1ULL << 32},
	    {I_MISS, (1ULL << 32) + 1, (1ULL << 32) + 1, 1},
	    {I_COUNT, 2500 + 2 + 256, 0, 1},
	    {I_DRAIN, 2500 + 2 + 256, 0, 1},
	    {I_EMPTY, 0, 0, 1},
	    {I_PUT, 7, 7, 1},
	};
	struct idtab *t = idtab_new();
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = 0;

		switch (v[i].op) {
		case I_COUNT:
			if (idtab_count(t) != v[i].lo)
				fail_msg("row %zu: count %zu, want %llu", i, idtab_count(t),
				         (unsigned long long)v[i].lo);
			continue;
		case I_ANY:
			assert_non_null(idtab_any(t));
			continue;
		case I_EMPTY:
			assert_null(idtab_any(t));
			assert_int_equal(idtab_count(t), 0);
			continue;
		case I_DRAIN: {
			void *o;

			/* How proxy_free() empties the session table. */
			while ((o = idtab_any(t)) != NULL) {
				uint64_t id = 0;
				int found = 0;

				/* find its id: objects are obj_of(id) */
				for (uint64_t k = 0; k <= 5000 && !found; k++)
					if (idtab_get(t, k) == o)
						id = k, found = 1;
				for (uint64_t k = 1ULL << 32; k <= 1ULL << 40 && !found;
				     k += 1ULL << 32)
					if (idtab_get(t, k) == o)
						id = k, found = 1;
				if (!found && idtab_get(t, UINT64_MAX) == o)
					id = UINT64_MAX, found = 1;
				assert_true(found);
				assert_ptr_equal(idtab_del(t, id), o);
				n++;
			}
			assert_int_equal(n, v[i].lo);
			continue;
		}
		default:
			break;
		}
		for (uint64_t id = v[i].lo;; id += v[i].step) {
			switch (v[i].op) {
			case I_PUT:
				idtab_put(t, id, obj_of(id));
				break;
			case I_GET:
				if (idtab_get(t, id) != obj_of(id))
					fail_msg("row %zu: id %llu not found", i,
					         (unsigned long long)id);
				break;
			case I_MISS:
				if (idtab_get(t, id) != NULL)
					fail_msg("row %zu: id %llu found", i,
					         (unsigned long long)id);
				break;
			case I_DEL:
				assert_ptr_equal(idtab_del(t, id), obj_of(id));
				break;
			case I_DEL_MISS:
				assert_null(idtab_del(t, id));
				break;
			default:
				break;
			}
			if (id + v[i].step > v[i].hi || id + v[i].step < id)
				break;
		}
	}
	idtab_free(t);
	idtab_free(NULL);
}

/* ------------------------------------------------------------- the owner */

static const char *ev_names[] = {"connected", "connect-failed", "tls-up", "tls-failed",
                                 "eof",       "timeout",        "error",  "goodbye-done"};

/* What a conn's owner saw, as a trace: "connected read eof". */
struct owner {
	struct conn *c;
	struct sbuf trace;
	int nread, nlow, nev;
	int ev[8];
	int readlines; /* the read callback takes lines (max bytes) into lines */
	size_t max;
	struct sbuf lines; /* "line|line|!" */
	int nlines;
	int free_on_end; /* conn_free() from the callback on an end */
	int in_call;     /* the test is inside a conn_* call */
	/* STARTTLS from the read callback, as a protocol does: on the line
	 * tls_line, send tls_reply (may be NULL) and start TLS */
	const char *tls_line, *tls_reply;
	SSL_CTX *tls_ctx;
	int tls_server;
};

static void
owner_note(struct owner *o, const char *what)
{
	if (o->in_call)
		fail_msg("callback \"%s\" ran inside the owner's own call", what);
	if (o->trace.len)
		sb_adds(&o->trace, " ");
	sb_adds(&o->trace, what);
}

/* Escapes a line for the trace: printable as is, others as \xNN. */
static void
add_escaped(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			sb_add(b, s + i, 1);
		else
			tn_addf(b, "\\x%02x", ch);
	}
}

static void
owner_read(void *arg)
{
	struct owner *o = arg;
	char *line;
	size_t len;
	int rc;

	o->nread++;
	if (!o->readlines) {
		if (o->nread == 1)
			owner_note(o, "read");
		return;
	}
	while ((rc = conn_readline(o->c, o->max, &line, &len)) != 0) {
		if (o->nlines++)
			sb_adds(&o->lines, "|");
		if (rc < 0) {
			sb_adds(&o->lines, "!");
			continue;
		}
		assert_int_equal(line[len], '\0');
		add_escaped(&o->lines, line, len);
		if (o->tls_line && strcmp(line, o->tls_line) == 0) {
			free(line);
			if (o->tls_reply)
				conn_printf(o->c, "%s\r\n", o->tls_reply);
			assert_int_equal(conn_starttls(o->c, o->tls_ctx, o->tls_server), 0);
			/* what followed in clear text is gone */
			assert_int_equal(evbuffer_get_length(conn_input(o->c)), 0);
			return;
		}
		free(line);
	}
}

static void
owner_event(void *arg, enum conn_event ev)
{
	struct owner *o = arg;

	owner_note(o, ev_names[ev]);
	o->ev[ev]++;
	o->nev++;
	if (o->free_on_end && ev != CONN_CONNECTED && ev != CONN_TLS_UP && ev != CONN_TIMEOUT) {
		conn_free(o->c);
		o->c = NULL;
	}
}

static void
owner_low(void *arg)
{
	struct owner *o = arg;

	if (o->in_call)
		fail_msg("output_low inside the owner's own call");
	o->nlow++;
}

static const struct conn_cbs owner_cbs = {owner_read, owner_event, owner_low};

static void
owner_clear(struct owner *o)
{
	conn_free(o->c);
	free(sb_take(&o->trace));
	free(sb_take(&o->lines));
	memset(o, 0, sizeof(*o));
}

static int
owner_has_events(void *arg)
{
	struct owner *o = arg;

	return o->nev > 0;
}

static int
wait_event(struct owner *o, unsigned ms)
{
	return tn_run_until(base, ms, owner_has_events, o);
}

/* Runs until the read callback ran once more than before. */
static void
wait_read(struct owner *o, unsigned ms)
{
	int before = o->nread;

	for (uint64_t end = tn_now_ms() + ms; o->nread == before && tn_now_ms() < end;)
		tn_settle(base, 5);
	assert_true(o->nread > before);
}

static const char *
trace(const struct owner *o)
{
	return o->trace.s ? o->trace.s : "";
}

/*
 * An accepted conn over one end of a loopback pair; the other end in
 * *peer_fd. small: tiny kernel buffers on both ends (a peer that does not
 * read soon blocks the writer).
 */
static void
owner_accept(struct owner *o, int *peer_fd, int small)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;

	tn_tcp_pair(&fd, &sa, &salen, peer_fd);
	if (small) {
		tn_small_buffers(fd);
		tn_small_buffers(*peer_fd);
	}
	o->c = conn_accept(base, fd, (struct sockaddr *)&sa, salen, "test", &owner_cbs, o);
	assert_non_null(o->c);
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
	base = NULL;
	return 0;
}

static int
group_setup(void **state)
{
	tn_tmpdir(certdir, sizeof(certdir), "pc-conn");
	tn_make_cert(certdir);
	srv_ctx = tn_server_ctx(certdir);
	cli_ctx = tls_client_ctx();
	return 0;
}

static int
group_teardown(void **state)
{
	SSL_CTX_free(srv_ctx);
	SSL_CTX_free(cli_ctx);
	tn_rmrf(certdir);
	return 0;
}

/* ---------------------------------------------------------------- connect */

static void
test_connect(void **state)
{
	enum target { T_LISTENING, T_CLOSED, T_BAD_FAMILY, T_FULL_BACKLOG };
	static const struct {
		enum target t;
		const char *want;
	} v[] = {
	    {T_LISTENING, "connected"},
	    {T_CLOSED, "connect-failed"},
	    {T_BAD_FAMILY, "connect-failed"},
	    {T_FULL_BACKLOG, "connect-failed"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct owner o = {0};
		struct sockaddr_storage ss;
		socklen_t len = 0;
		unsigned port = 0;
		int lfd = -1, filler[4] = {-1, -1, -1, -1};

		switch (v[i].t) {
		case T_LISTENING:
			lfd = tn_listen(&port);
			len = tn_sockaddr(port, &ss);
			break;
		case T_CLOSED:
			len = tn_sockaddr(tn_free_port(), &ss);
			break;
		case T_BAD_FAMILY:
			len = tn_sockaddr(25, &ss);
			ss.ss_family = AF_APPLETALK; /* socket() refuses it */
			break;
		case T_FULL_BACKLOG:
			/* A backlog that is full: the SYN goes unanswered. */
			lfd = tn_listen(&port);
			listen(lfd, 0);
			len = tn_sockaddr(port, &ss);
			for (int k = 0; k < 4; k++) {
				filler[k] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
				connect(filler[k], (struct sockaddr *)&ss, len);
			}
			usleep(20000);
			break;
		}
		o.in_call = 1;
		o.c = conn_connect(base, (struct sockaddr *)&ss, len, "test", &owner_cbs, &o);
		conn_set_timeouts(o.c, 300, 300);
		o.in_call = 0;
		assert_non_null(o.c);
		assert_true(wait_event(&o, WAIT_MS));
		if (strcmp(trace(&o), v[i].want) != 0)
			fail_msg("row %zu: \"%s\", want \"%s\"", i, trace(&o), v[i].want);
		if (v[i].t == T_LISTENING) {
			assert_string_equal(conn_peer_addr(o.c), "127.0.0.1");
			assert_int_equal(conn_peer_port(o.c), port);
		}
		owner_clear(&o);
		for (int k = 0; k < 4; k++)
			if (filler[k] >= 0)
				close(filler[k]);
		if (lfd >= 0)
			close(lfd);
	}
}

/* The peer speaks the moment it accepts: the input is still read, after CONNECTED. */
static void
test_connect_early_input(void **state)
{
	struct owner o = {0};
	struct sockaddr_storage ss;
	unsigned port;
	int lfd = tn_listen(&port), fd;
	socklen_t len = tn_sockaddr(port, &ss);
	(void)state;

	o.readlines = 1;
	o.max = 100;
	o.c = conn_connect(base, (struct sockaddr *)&ss, len, "test", &owner_cbs, &o);
	/* Accept and speak before the loop ever ran: both arrive together. */
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "220 hello\r\n", 11), 11);
	assert_true(wait_event(&o, WAIT_MS));
	tn_settle(base, 50);
	assert_string_equal(trace(&o), "connected");
	assert_string_equal(o.lines.s, "220 hello");
	owner_clear(&o);
	close(fd);
	close(lfd);
}

/* ------------------------------------------------------------ readline */

struct chunk {
	const char *s;
	size_t len;
};
#define C(x)                                                                                       \
	{                                                                                          \
		x, sizeof(x) - 1                                                                   \
	}

static void
test_readline(void **state)
{
	/* The peer sends each chunk in its own read; "!" is an over-long line. */
	static const struct {
		size_t max;
		struct chunk c[4];
		const char *want;
	} v[] = {
	    {100, {C("hello\r\n")}, "hello"},
	    {100, {C("lf only\n")}, "lf only"},
	    {100, {C("a\r\nb\nc\r\n")}, "a|b|c"},
	    {100, {C("\r\n\n")}, "|"},
	    {100, {C("split "), C("in two\r\n")}, "split in two"},
	    {100, {C("cr "), C("\r"), C("\n")}, "cr "},
	    {100, {C("a\0b\r\n")}, "a\\x00b"},
	    {100, {C("a\rb\r\r\n")}, "a\\x0db\\x0d"},
	    {8, {C("01234567\r\n")}, "01234567"},
	    {8, {C("012345678\r\nok\r\n")}, "!|ok"},
	    {8, {C("0123456789\nok\n")}, "!|ok"},
	    /* no LF yet: reported at once, once, and skipped to its end */
	    {8, {C("0123456789AB"), C("CDEFGHIJKLMN"), C("OP\r\nok\r\n")}, "!|ok"},
	    {8, {C("0123456789AB"), C("\r\n"), C("x\r\n")}, "!|x"},
	    /* a line of exactly the limit whose LF comes in the next read */
	    {8, {C("01234567\r"), C("\n")}, "01234567"},
	    {8, {C("0123456"), C("7\r"), C("\nok\r\n")}, "01234567|ok"},
	    {8, {C("012345678"), C("\r\n")}, "!"},
	    {0, {C("\r\nx\r\n")}, "|!"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct owner o = {0};
		int peer;

		owner_accept(&o, &peer, 0);
		o.readlines = 1;
		o.max = v[i].max;
		for (size_t k = 0; k < 4 && v[i].c[k].s; k++) {
			assert_int_equal(write(peer, v[i].c[k].s, v[i].c[k].len),
			                 (ssize_t)v[i].c[k].len);
			wait_read(&o, WAIT_MS);
		}
		if (strcmp(o.lines.s ? o.lines.s : "", v[i].want) != 0)
			fail_msg("row %zu: \"%s\", want \"%s\"", i, o.lines.s ? o.lines.s : "",
			         v[i].want);
		owner_clear(&o);
		close(peer);
	}
}

/* ------------------------------------------ timeouts, EOF, flow control */

enum peer_act {
	P_SILENT,       /* the peer says nothing and reads nothing */
	P_CLOSE,        /* the peer closes */
	P_RESET,        /* the peer resets the connection */
	P_FLOOD_STALL,  /* we write a lot; the peer never reads */
	P_READS_SLOWLY, /* we write a lot; the peer reads it all */
};

static void
test_events(void **state)
{
	static const struct {
		uint64_t rto, wto;
		enum peer_act act;
		unsigned wait_ms;
		const char *want;
	} v[] = {
	    {100, 0, P_SILENT, WAIT_MS, "timeout"}, {0, 0, P_SILENT, 200, ""},
	    {0, 0, P_CLOSE, WAIT_MS, "eof"},        {5000, 5000, P_CLOSE, WAIT_MS, "eof"},
	    {0, 0, P_RESET, WAIT_MS, "error"},      {0, 150, P_FLOOD_STALL, WAIT_MS, "timeout"},
	    {0, 2000, P_READS_SLOWLY, 0, ""},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct owner o = {0};
		struct tpeer *p = NULL;
		int peer;
		char *big = NULL;

		owner_accept(&o, &peer, v[i].act == P_FLOOD_STALL);
		conn_set_timeouts(o.c, v[i].rto, v[i].wto);
		switch (v[i].act) {
		case P_SILENT:
			break;
		case P_CLOSE:
			close(peer);
			peer = -1;
			break;
		case P_RESET: {
			struct linger lg = {1, 0};

			setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(peer);
			peer = -1;
			break;
		}
		case P_FLOOD_STALL:
		case P_READS_SLOWLY:
			big = xcalloc(1, 4 << 20);
			o.in_call = 1;
			conn_write(o.c, big, 4 << 20);
			o.in_call = 0;
			if (v[i].act == P_READS_SLOWLY) {
				p = tp_new(base, peer);
				peer = -1;
			}
			break;
		}
		if (v[i].act == P_READS_SLOWLY)
			assert_true(tp_wait_pending(p, 4 << 20, WAIT_MS));
		else if (strcmp(v[i].want, "") == 0)
			tn_settle(base, v[i].wait_ms);
		else
			assert_true(wait_event(&o, v[i].wait_ms));
		if (strcmp(trace(&o), v[i].want) != 0)
			fail_msg("row %zu: \"%s\", want \"%s\"", i, trace(&o), v[i].want);
		if (v[i].act == P_READS_SLOWLY) {
			assert_int_equal(evbuffer_get_length(conn_output(o.c)), 0);
			assert_int_equal(tp_pending(p), 4 << 20);
		}
		owner_clear(&o);
		tp_free(p);
		free(big);
		if (peer >= 0)
			close(peer);
	}
}

/* read_high stops reading at the mark; read_enable(0) stops it altogether. */
static void
test_read_control(void **state)
{
	static const char data[] =
	    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop\n";
	struct owner o = {0};
	int peer;
	(void)state;

	owner_accept(&o, &peer, 0);
	conn_set_read_high(o.c, 16);
	assert_int_equal(write(peer, data, sizeof(data) - 1), (ssize_t)sizeof(data) - 1);
	tn_settle(base, 50);
	/* Once at the mark the owner is not called again and again. */
	if (o.nread < 1 || o.nread > 3)
		fail_msg("read callback ran %d times with the input at the mark", o.nread);
	assert_int_equal(evbuffer_get_length(conn_input(o.c)), 16);
	/* Taking input lets reading go on. */
	evbuffer_drain(conn_input(o.c), 16);
	tn_settle(base, 50);
	assert_int_equal(evbuffer_get_length(conn_input(o.c)), 16);
	conn_set_read_high(o.c, 0);
	tn_settle(base, 50);
	assert_int_equal(evbuffer_get_length(conn_input(o.c)), sizeof(data) - 1 - 16);
	evbuffer_drain(conn_input(o.c), sizeof(data));

	/* Off: nothing is read; on: it is. */
	conn_read_enable(o.c, 0);
	o.nread = 0;
	assert_int_equal(write(peer, "x\n", 2), 2);
	tn_settle(base, 50);
	assert_int_equal(o.nread, 0);
	conn_read_enable(o.c, 1);
	tn_settle(base, 50);
	assert_int_equal(o.nread, 1);
	assert_int_equal(evbuffer_get_length(conn_input(o.c)), 2);
	owner_clear(&o);
	close(peer);
}

/* output_low is called as the output drains to the mark, and never when off. */
static void
test_output_low(void **state)
{
	static const struct {
		size_t low;
		int called;
	} v[] = {{4096, 1}, {0, 0}};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct owner o = {0};
		struct tpeer *p;
		char *big = xcalloc(1, 1 << 20);
		int peer;

		owner_accept(&o, &peer, 0);
		p = tp_new(base, peer);
		conn_set_output_low(o.c, v[i].low);
		o.in_call = 1;
		conn_write(o.c, big, 1 << 20);
		conn_printf(o.c, "%s\r\n", "end");
		o.in_call = 0;
		assert_true(tp_wait_pending(p, (1 << 20) + 5, WAIT_MS));
		tn_settle(base, 10);
		assert_int_equal(tp_pending(p), (1 << 20) + 5);
		if ((o.nlow > 0) != v[i].called)
			fail_msg("row %zu: output_low called %d times", i, o.nlow);
		owner_clear(&o);
		tp_free(p);
		free(big);
	}
}

/* The peer's address as given to conn_accept. */
static void
test_peer(void **state)
{
	static const struct {
		const char *hostport, *addr;
		unsigned port;
	} v[] = {
	    {"127.0.0.1:2525", "127.0.0.1", 2525},
	    {"[2001:db8::1]:25", "2001:db8::1", 25},
	    {"[::ffff:192.0.2.1]:26", "192.0.2.1", 26},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct owner o = {0};
		struct sockaddr_storage ss, unused;
		socklen_t len, ulen;
		int a, b;

		tn_tcp_pair(&a, &unused, &ulen, &b);
		assert_int_equal(hostport_parse(v[i].hostport, &ss, &len), 0);
		o.c = conn_accept(base, a, (struct sockaddr *)&ss, len, "label[1]", &owner_cbs, &o);
		assert_string_equal(conn_peer_addr(o.c), v[i].addr);
		assert_int_equal(conn_peer_port(o.c), v[i].port);
		assert_int_equal(conn_peer_len(o.c), len);
		assert_memory_equal(conn_peer(o.c), &ss, len);
		assert_string_equal(conn_label(o.c), "label[1]");
		assert_int_equal(conn_tls(o.c), 0);
		owner_clear(&o);
		close(b);
	}
	conn_free(NULL);
}

/* ---------------------------------------------------------------- goodbye */

static void
test_goodbye(void **state)
{
	enum gpeer { G_READS, G_NEVER_READS, G_LEAVES };
	static const struct {
		size_t out; /* bytes in the output at goodbye */
		enum gpeer peer;
		uint64_t linger;
		const char *want;
	} v[] = {
	    {9, G_READS, 1000, "goodbye-done"},       {0, G_READS, 1000, "goodbye-done"},
	    {1 << 20, G_READS, 2000, "goodbye-done"}, {4 << 20, G_NEVER_READS, 150, "timeout"},
	    {4 << 20, G_LEAVES, 2000, "eof|error"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct owner o = {0};
		struct tpeer *p = NULL;
		int peer;
		char *out = xmalloc(v[i].out + 1);
		char *got;

		memset(out, 'x', v[i].out);
		if (v[i].out == 9)
			memcpy(out, "221 bye\r\n", 9);
		owner_accept(&o, &peer, v[i].peer != G_READS);
		o.free_on_end = 1;
		if (v[i].peer == G_READS)
			p = tp_new(base, peer);
		o.in_call = 1;
		conn_write(o.c, out, v[i].out);
		conn_goodbye(o.c, v[i].linger);
		conn_goodbye(o.c, v[i].linger); /* twice is once */
		o.in_call = 0;
		/* Input is no longer read. (Only with a short reply: a close
		 * with unread input resets the connection, which would cut
		 * off a long one still in the kernel's send buffer.) */
		if (p && v[i].out < 100)
			tp_printf(p, "QUIT\r\n");
		if (v[i].peer == G_LEAVES) {
			struct linger lg = {1, 0};

			tn_settle(base, 20);
			setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(peer);
		}
		assert_true(wait_event(&o, WAIT_MS));
		if (strstr(v[i].want, trace(&o)) == NULL)
			fail_msg("row %zu: \"%s\", want \"%s\"", i, trace(&o), v[i].want);
		assert_int_equal(o.nread, 0);
		if (p) {
			/* Everything arrived, then the close. */
			got = tp_drain(p, WAIT_MS);
			assert_int_equal(strlen(got), v[i].out);
			assert_memory_equal(got, out, v[i].out);
			assert_true(p->eof);
			free(got);
		}
		/* An end is reported once. */
		tn_settle(base, 50);
		assert_int_equal(o.nev, 1);
		owner_clear(&o);
		tp_free(p);
		if (v[i].peer == G_NEVER_READS)
			close(peer);
		free(out);
	}
}

/* A timeout while open leaves the write side usable: the owner's goodbye. */
static void
test_timeout_then_goodbye(void **state)
{
	struct owner o = {0};
	struct tpeer *p;
	int peer;
	char *l;
	(void)state;

	owner_accept(&o, &peer, 0);
	p = tp_new(base, peer);
	conn_set_timeouts(o.c, 100, 100);
	assert_true(wait_event(&o, WAIT_MS));
	assert_string_equal(trace(&o), "timeout");
	conn_printf(o.c, "421 timeout\r\n");
	conn_goodbye(o.c, 1000);
	o.nev = 0;
	assert_true(wait_event(&o, WAIT_MS));
	assert_string_equal(trace(&o), "timeout goodbye-done");
	assert_non_null(l = tp_line(p, WAIT_MS));
	assert_string_equal(l, "421 timeout");
	free(l);
	owner_clear(&o);
	assert_true(tp_wait_eof(p, WAIT_MS));
	tp_free(p);
}

/* --------------------------------------------------------------- STARTTLS */

static int
both_events(void *arg)
{
	struct owner **o = arg;

	return o[0]->nev > 0 && o[1]->nev > 0;
}

/*
 * Both sides are conns, each starting TLS from its read callback as a
 * protocol does: the server on the line STARTTLS (behind which the client
 * pipelined a command in clear text, in the same write), after its 220;
 * the client on that 220. The pipelined command must never be read.
 */
static void
test_starttls_both_sides(void **state)
{
	struct owner s = {0}, c = {0};
	struct owner *both[2] = {&s, &c};
	struct sockaddr_storage sa;
	socklen_t salen;
	int a, b;
	(void)state;

	tn_tcp_pair(&a, &sa, &salen, &b);
	s.c = conn_accept(base, a, (struct sockaddr *)&sa, salen, "srv", &owner_cbs, &s);
	c.c = conn_accept(base, b, (struct sockaddr *)&sa, salen, "cli", &owner_cbs, &c);
	s.readlines = c.readlines = 1;
	s.max = c.max = 100;
	s.tls_line = "STARTTLS";
	s.tls_reply = "220 go ahead";
	s.tls_ctx = srv_ctx;
	s.tls_server = 1;
	c.tls_line = "220 go ahead";
	c.tls_ctx = cli_ctx;
	assert_int_equal(conn_starttls(s.c, NULL, 1), -1);

	conn_printf(c.c, "STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n");
	assert_true(tn_run_until(base, WAIT_MS, both_events, both));
	assert_string_equal(trace(&s), "tls-up");
	assert_string_equal(trace(&c), "tls-up");
	assert_string_equal(s.lines.s, "STARTTLS");
	assert_string_equal(c.lines.s, "220 go ahead");
	assert_int_equal(conn_tls(s.c), 1);
	assert_int_equal(conn_tls(c.c), 1);
	assert_int_equal(conn_starttls(s.c, srv_ctx, 1), -1); /* not twice */
	assert_int_equal(conn_starttls(c.c, cli_ctx, 0), -1);

	/* Under TLS: the server reads only what was sent under TLS. */
	conn_printf(c.c, "EHLO client.test\r\n");
	wait_read(&s, WAIT_MS);
	assert_string_equal(s.lines.s, "STARTTLS|EHLO client.test");

	/* Goodbye over TLS: the client sees the reply, then the end. */
	s.nev = c.nev = 0;
	s.free_on_end = 1;
	conn_printf(s.c, "221 bye\r\n");
	conn_goodbye(s.c, 1000);
	assert_true(tn_run_until(base, WAIT_MS, both_events, both));
	assert_string_equal(trace(&s), "tls-up goodbye-done");
	assert_string_equal(c.lines.s, "220 go ahead|221 bye");
	assert_string_equal(trace(&c), "tls-up eof");
	owner_clear(&s);
	owner_clear(&c);
}

/* The handshake fails or stalls: the peer's part is played by a tpeer. */
static void
test_tls_failures(void **state)
{
	enum tpeer_act { TP_GARBAGE, TP_SILENT, TP_CLOSE, TP_SERVER_GARBAGE, TP_SERVER_SPEAKS };
	static const struct {
		int server; /* the conn's side */
		enum tpeer_act act;
		const char *want;
	} v[] = {
	    {1, TP_GARBAGE, "tls-failed"},
	    {1, TP_SILENT, "timeout"},
	    {1, TP_CLOSE, "tls-failed"},
	    {0, TP_SERVER_GARBAGE, "tls-failed"},
	    /* the server speaks first, at once: read after TLS_UP */
	    {0, TP_SERVER_SPEAKS, "tls-up"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct owner o = {0};
		struct tpeer *p;
		int peer;

		owner_accept(&o, &peer, 0);
		o.readlines = 1;
		o.max = 100;
		p = tp_new(base, peer);
		conn_set_timeouts(o.c, 200, 200);
		if (v[i].act == TP_SERVER_SPEAKS) {
			/* TLS on the peer first; its greeting goes out the moment
			 * the handshake is done */
			tp_starttls(p, srv_ctx, 1);
			tp_printf(p, "220 welcome under TLS\r\n");
		}
		assert_int_equal(conn_starttls(o.c, v[i].server ? srv_ctx : cli_ctx, v[i].server),
		                 0);
		tn_settle(base, 20);
		switch (v[i].act) {
		case TP_GARBAGE:
			tp_printf(p, "EHLO this is not a ClientHello\r\n");
			break;
		case TP_SILENT:
			break;
		case TP_CLOSE:
			tp_close(p);
			break;
		case TP_SERVER_GARBAGE:
			/* what arrives is the ClientHello; the answer is not TLS */
			tp_printf(p, "HTTP/1.0 400 Bad Request\r\n\r\n");
			break;
		case TP_SERVER_SPEAKS:
			break;
		}
		assert_true(wait_event(&o, WAIT_MS));
		tn_settle(base, 50);
		if (strcmp(trace(&o), v[i].want) != 0)
			fail_msg("row %zu: \"%s\", want \"%s\"", i, trace(&o), v[i].want);
		if (v[i].act == TP_SERVER_SPEAKS) {
			assert_string_equal(o.lines.s, "220 welcome under TLS");
			assert_int_equal(conn_tls(o.c), 1);
		}
		owner_clear(&o);
		tp_free(p);
	}
}

/* The contexts: what a bad certificate or key says; the description of a session. */
static void
test_tls_ctx(void **state)
{
	static const struct {
		const char *cert, *key; /* under certdir */
		const char *err;        /* NULL: loads */
	} v[] = {
	    {"cert.pem", "key.pem", NULL},
	    {"nonexistent.pem", "key.pem", "cannot load certificate "},
	    {"cert.pem", "nonexistent.pem", "cannot load key "},
	    /* another certificate's key: OpenSSL refuses it while loading */
	    {"cert.pem", "other/key.pem", "cannot load key "},
	    {"key.pem", "key.pem", "cannot load certificate "},
	};
	char other[128], buf[128];
	SSL *ssl;
	(void)state;

	snprintf(other, sizeof(other), "%s/other", certdir);
	mkdir(other, 0700);
	tn_make_cert(other);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char cert[256], key[256], *err = NULL;
		SSL_CTX *ctx;

		snprintf(cert, sizeof(cert), "%s/%s", certdir, v[i].cert);
		snprintf(key, sizeof(key), "%s/%s", certdir, v[i].key);
		ctx = tls_server_ctx(cert, key, &err);
		if (v[i].err == NULL) {
			assert_non_null(ctx);
			SSL_CTX_free(ctx);
			continue;
		}
		assert_null(ctx);
		if (err == NULL || strncmp(err, v[i].err, strlen(v[i].err)) != 0)
			fail_msg("row %zu: \"%s\", want \"%s...\"", i, err ? err : "", v[i].err);
		free(err);
	}
	ssl = SSL_new(cli_ctx);
	assert_non_null(ssl);
	assert_ptr_equal(tls_describe(ssl, buf, sizeof(buf)), buf);
	assert_non_null(strchr(buf, ':'));
	SSL_free(ssl);
}

/* --------------------------------------------------------------- listener */

struct accepted {
	int n;
	struct net_listener *l;
	int fds[4];
};

static void
accept_cb(void *arg, struct net_listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct accepted *a = arg;
	char buf[64];

	assert_string_equal(addr_format(sa, buf, sizeof(buf)), "127.0.0.1");
	a->l = l;
	a->fds[a->n++ % 4] = fd;
}

static int
accepted_two(void *arg)
{
	return ((struct accepted *)arg)->n >= 2;
}

static void
test_listener(void **state)
{
	struct accepted a = {0};
	char addr[64], *err = NULL;
	unsigned port = tn_free_port();
	struct net_listener *l;
	struct tpeer *c1, *c2;
	(void)state;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	l = net_listen(base, "smtp", addr, accept_cb, &a, &err);
	assert_non_null(l);
	assert_string_equal(net_listener_name(l), "smtp");
	assert_string_equal(net_listener_addr(l), addr);
	c1 = tp_connect(base, port);
	c2 = tp_connect(base, port);
	assert_true(tn_run_until(base, WAIT_MS, accepted_two, &a));
	assert_ptr_equal(a.l, l);
	/* Session counts: up as they start, down as they end, never below 0. */
	assert_int_equal(net_listener_hold(l), 1);
	assert_int_equal(net_listener_hold(l), 2);
	net_listener_release(l);
	assert_int_equal(net_listener_hold(l), 2);
	net_listener_release(l);
	net_listener_release(l);
	net_listener_release(l);
	assert_int_equal(net_listener_hold(l), 1);
	/* Stopped: refused at once; the accepted ones go on. */
	net_listener_stop(l);
	net_listener_stop(l);
	{
		struct sockaddr_storage ss;
		socklen_t len = tn_sockaddr(port, &ss);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), -1);
		assert_int_equal(errno, ECONNREFUSED);
		close(fd);
	}
	close(a.fds[0]);
	close(a.fds[1]);
	tp_free(c1);
	tp_free(c2);
	net_listener_free(l);
	net_listener_free(NULL);

	/* IPv6 (v6 only), where the machine has ::1. */
	snprintf(addr, sizeof(addr), "[::1]:%u", tn_free_port());
	l = net_listen(base, "v6", addr, accept_cb, &a, &err);
	if (l == NULL) {
		print_message("no IPv6 loopback: %s\n", err);
		free(err);
		return;
	}
	assert_string_equal(net_listener_addr(l), addr);
	net_listener_free(l);
}

static void
test_listener_errors(void **state)
{
	static const struct {
		const char *addr; /* "%u" is a port somebody listens on */
		const char *err;
	} v[] = {
	    {"nonsense", "[smtp] \"nonsense\": not ADDRESS:PORT"},
	    {"localhost:25", "[smtp] \"localhost:25\": not ADDRESS:PORT"},
	    {"127.0.0.1:%u", "[smtp] cannot listen on 127.0.0.1:"},
	    {"192.0.2.1:2525", "[smtp] cannot listen on 192.0.2.1:2525: "},
	};
	unsigned port;
	int busy = tn_listen(&port);
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char addr[64], *err = NULL;

		snprintf(addr, sizeof(addr), v[i].addr, port);
		assert_null(net_listen(base, "smtp", addr, accept_cb, NULL, &err));
		assert_non_null(err);
		if (strncmp(err, v[i].err, strlen(v[i].err)) != 0)
			fail_msg("row %zu: \"%s\", want \"%s...\"", i, err, v[i].err);
		free(err);
	}
	close(busy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idtab),
	    cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_early_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_control, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_low, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_goodbye, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_then_goodbye, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_both_sides, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tls_failures, setup, teardown),
	    cmocka_unit_test(test_tls_ctx),
	    cmocka_unit_test_setup_teardown(test_listener, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listener_errors, setup, teardown),
	};

	/* As the daemon: a peer that left is an EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	log_init("test_conn", 0, getenv("PC_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

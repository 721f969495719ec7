/*
 * fake_smtp: the scripted next hop of the SMTP unit tests (see fake_smtp.h).
 * Owns its listener, one tpeer per connection and what it recorded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "fake_smtp.h"
#include "util/xalloc.h"

struct fake_conn {
	struct fake_smtp *f;
	struct tpeer *p;
	size_t step; /* sequential: the next step */
	int in_body;
	int hung;
	int garbage_tls; /* answer the next bytes (a ClientHello) with garbage */
	int closed;
	struct fake_conn *next;
};

/* The defaults of rule mode: a server that takes everything. */
static const struct fake_step defaults[] = {
    {NULL, FA_REPLY, "220 fake.test ESMTP"},
    {"EHLO", FA_REPLY, "250-fake.test\n250-PIPELINING\n250-8BITMIME\n250 ENHANCEDSTATUSCODES"},
    {"HELO", FA_REPLY, "250 fake.test"},
    {"DATA", FA_REPLY, "354 go ahead"},
    {".", FA_REPLY, "250 2.0.0 Ok: queued as FAKE"},
    {"QUIT", FA_REPLY_CLOSE, "221 2.0.0 bye"},
    {"", FA_REPLY, "250 2.0.0 Ok"},
};

static void
fake_error(struct fake_smtp *f, const char *fmt, ...)
{
	va_list ap;

	if (f->errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(f->err, sizeof(f->err), fmt, ap);
		va_end(ap);
	}
}

static void
conn_closed(struct fake_conn *fc)
{
	if (!fc->closed) {
		fc->closed = 1;
		fc->f->nclosed++;
	}
}

static void
send_text(struct fake_conn *fc, const char *text)
{
	for (const char *s = text; *s;) {
		size_t n = strcspn(s, "\n");

		tp_write(fc->p, s, n);
		tp_write(fc->p, "\r\n", 2);
		s += n;
		if (*s == '\n')
			s++;
	}
}

static void
apply(struct fake_conn *fc, const struct fake_step *st)
{
	switch (st->act) {
	case FA_REPLY:
		send_text(fc, st->text);
		if (strncmp(st->text, "354", 3) == 0)
			fc->in_body = 1;
		break;
	case FA_REPLY_CLOSE:
		send_text(fc, st->text);
		fc->p->close_when_flushed = 1;
		if (strncmp(st->text, "354", 3) == 0)
			fc->in_body = 1;
		break;
	case FA_RESET: {
		struct linger lg = {1, 0};

		setsockopt(bufferevent_getfd(fc->p->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		tp_close(fc->p);
		conn_closed(fc);
		break;
	}
	case FA_CLOSE:
		tp_close(fc->p);
		conn_closed(fc);
		break;
	case FA_HANG:
		fc->hung = 1;
		break;
	case FA_RAW:
		tp_write(fc->p, st->text, strlen(st->text));
		break;
	case FA_TLS:
		send_text(fc, st->text);
		tp_starttls(fc->p, fc->f->tls, 1);
		break;
	case FA_TLS_GARBAGE:
		send_text(fc, st->text);
		fc->garbage_tls = 1;
		break;
	}
}

/* The step for line (NULL: the banner). */
static const struct fake_step *
find_step(struct fake_conn *fc, const char *line)
{
	struct fake_smtp *f = fc->f;

	if (f->sequential) {
		const struct fake_step *st;

		if (fc->step >= f->nsteps) {
			static const struct fake_step quit = {"QUIT", FA_REPLY_CLOSE, "221 bye"};

			if (line && strncasecmp(line, "QUIT", 4) == 0)
				return &quit;
			fake_error(f, "command after the script: %.80s", line ? line : "(connect)");
			return NULL;
		}
		st = &f->steps[fc->step++];
		if ((st->expect == NULL) != (line == NULL) ||
		    (line && strncmp(line, st->expect, strlen(st->expect)) != 0)) {
			fake_error(f, "step %zu: got \"%.80s\", want \"%s\"", fc->step - 1,
			           line ? line : "(connect)",
			           st->expect ? st->expect : "(connect)");
			return NULL;
		}
		return st;
	}
	for (int pass = 0; pass < 2; pass++) {
		const struct fake_step *t = pass ? defaults : f->steps;
		size_t n = pass ? sizeof(defaults) / sizeof(defaults[0]) : f->nsteps;

		for (size_t i = 0; i < n; i++) {
			if (line == NULL ? t[i].expect == NULL
			                 : t[i].expect &&
			                       strncmp(line, t[i].expect, strlen(t[i].expect)) == 0)
				return &t[i];
		}
	}
	return NULL;
}

static void
command(struct fake_conn *fc, const char *line)
{
	const struct fake_step *st = find_step(fc, line);

	if (st == NULL) {
		tp_close(fc->p);
		conn_closed(fc);
		return;
	}
	apply(fc, st);
}

static void
fake_read(struct tpeer *p, void *arg)
{
	struct fake_conn *fc = arg;
	struct fake_smtp *f = fc->f;
	char *line;
	size_t n;

	while (p->bev && !fc->closed) {
		struct evbuffer *in = bufferevent_get_input(p->bev);

		if (fc->hung) {
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (fc->garbage_tls) {
			static const char junk[] = "HTTP/1.0 400 this is not TLS\r\n\r\n";

			if (evbuffer_get_length(in) == 0)
				return;
			evbuffer_drain(in, evbuffer_get_length(in));
			fc->garbage_tls = 0;
			fc->hung = 1;
			tp_write(p, junk, sizeof(junk) - 1);
			return;
		}
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
		if (line == NULL)
			return;
		if (fc->in_body) {
			if (strcmp(line, ".") == 0) {
				fc->in_body = 0;
				f->nmsgs++;
				sb_adds(&f->log, ".\n");
				command(fc, line);
			} else {
				sb_add(&f->bodies, line, n);
				sb_add(&f->bodies, "\r\n", 2);
			}
			free(line);
			continue;
		}
		sb_add(&f->log, line, n);
		sb_adds(&f->log, "\n");
		command(fc, line);
		free(line);
	}
}

static void
fake_close(struct tpeer *p, void *arg)
{
	conn_closed(arg);
}

static void
fake_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct fake_smtp *f = arg;
	struct fake_conn *fc = xcalloc(1, sizeof(*fc));

	fc->f = f;
	fc->p = tp_new(f->base, fd);
	fc->p->on_read = fake_read;
	fc->p->on_close = fake_close;
	fc->p->arg = fc;
	fc->next = f->conns;
	f->conns = fc;
	f->nconns++;
	command(fc, NULL);
}

struct fake_smtp *
fake_new(struct event_base *base, const struct fake_step *steps, size_t nsteps, int sequential,
         SSL_CTX *tls)
{
	struct fake_smtp *f = xcalloc(1, sizeof(*f));
	unsigned port;
	int fd = tn_listen(&port);

	if (nsteps == 0 && steps)
		while (!(steps[nsteps].act == FA_REPLY && steps[nsteps].text == NULL))
			nsteps++;
	f->base = base;
	f->steps = steps;
	f->nsteps = nsteps;
	f->sequential = sequential;
	f->tls = tls;
	f->port = port;
	evutil_make_socket_nonblocking(fd);
	f->l = evconnlistener_new(base, fake_accept, f, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	assert_non_null(f->l);
	return f;
}

void
fake_free(struct fake_smtp *f)
{
	if (f == NULL)
		return;
	evconnlistener_free(f->l);
	while (f->conns) {
		struct fake_conn *fc = f->conns;

		f->conns = fc->next;
		tp_free(fc->p);
		free(fc);
	}
	free(sb_take(&f->log));
	free(sb_take(&f->bodies));
	free(f);
}

const char *
fake_log(const struct fake_smtp *f)
{
	return f->log.s ? f->log.s : "";
}

const char *
fake_bodies(const struct fake_smtp *f)
{
	return f->bodies.s ? f->bodies.s : "";
}

const char *
fake_next_hop(const struct fake_smtp *f, char *buf, size_t cap)
{
	snprintf(buf, cap, "smtp:127.0.0.1:%u", f->port);
	return buf;
}

void
fake_release(struct fake_smtp *f, const char *text)
{
	for (struct fake_conn *fc = f->conns; fc; fc = fc->next)
		if (fc->hung && !fc->closed) {
			fc->hung = 0;
			send_text(fc, text);
		}
}

static int
all_closed(void *arg)
{
	struct fake_smtp *f = arg;

	return f->nclosed == f->nconns;
}

int
fake_wait_closed(struct fake_smtp *f, unsigned ms)
{
	return tn_run_until(f->base, ms, all_closed, f);
}

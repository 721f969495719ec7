/*
 * testnet: bounded loop runs, loopback sockets, a throw-away certificate
 * and the scripted peer of the network unit tests (see testnet.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "net/tls.h"
#include "testnet.h"
#include "util/xalloc.h"

uint64_t
tn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The deadline: breaks even a loop whose callbacks keep each other active. */
static void
tn_wakeup(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

int
tn_run_until(struct event_base *base, unsigned ms, int (*done)(void *arg), void *arg)
{
	uint64_t end = tn_now_ms() + ms;
	struct event *t = evtimer_new(base, tn_wakeup, base);
	int ok = 0;

	assert_non_null(t);
	for (;;) {
		uint64_t now = tn_now_ms();
		struct timeval tv;

		if (done && done(arg)) {
			ok = 1;
			break;
		}
		if (now >= end)
			break;
		tv.tv_sec = (time_t)((end - now) / 1000);
		tv.tv_usec = (suseconds_t)((end - now) % 1000) * 1000;
		evtimer_add(t, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
	return ok;
}

static int
flag_set(void *arg)
{
	return *(const int *)arg != 0;
}

int
tn_wait_flag(struct event_base *base, const int *flag, unsigned ms)
{
	return tn_run_until(base, ms, flag_set, (void *)flag);
}

void
tn_settle(struct event_base *base, unsigned ms)
{
	tn_run_until(base, ms, NULL, NULL);
}

socklen_t
tn_sockaddr(unsigned port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*sin);
}

int
tn_listen(unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = tn_sockaddr(0, &ss);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

unsigned
tn_free_port(void)
{
	unsigned port;
	int fd = tn_listen(&port);

	close(fd);
	return port;
}

static void
nonblock(int fd)
{
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

void
tn_tcp_pair(int *srv, struct sockaddr_storage *sa, socklen_t *salen, int *cli)
{
	unsigned port;
	int l = tn_listen(&port);
	struct sockaddr_storage ss;
	socklen_t len = tn_sockaddr(port, &ss);

	*cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*cli >= 0);
	assert_int_equal(connect(*cli, (struct sockaddr *)&ss, len), 0);
	*salen = sizeof(*sa);
	*srv = accept4(l, (struct sockaddr *)sa, salen, SOCK_CLOEXEC);
	assert_true(*srv >= 0);
	close(l);
	nonblock(*srv);
	nonblock(*cli);
}

void
tn_small_buffers(int fd)
{
	int n = 4096;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
}

void
tn_tmpdir(char *buf, size_t cap, const char *prefix)
{
	snprintf(buf, cap, "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(buf));
}

void
tn_rmrf(const char *path)
{
	char *cmd = xasprintf("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", path, path);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

void
tn_make_cert(const char *dir)
{
	EVP_PKEY *key = EVP_EC_gen("prime256v1");
	X509 *x = X509_new();
	X509_NAME *name;
	char path[512];
	FILE *f;

	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
	                           -1, 0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

SSL_CTX *
tn_server_ctx(const char *dir)
{
	char cert[512], key[512], *err = NULL;
	SSL_CTX *ctx;

	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	ctx = tls_server_ctx(cert, key, &err);
	if (ctx == NULL)
		fail_msg("tls_server_ctx: %s", err);
	return ctx;
}

char *
tn_read_first_file(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *out = NULL;

	if (d == NULL)
		return NULL;
	while (out == NULL && (e = readdir(d)) != NULL) {
		char path[1024];
		struct stat st;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || (f = fopen(path, "r")) == NULL)
			continue;
		out = xmalloc((size_t)st.st_size + 1);
		out[fread(out, 1, (size_t)st.st_size, f)] = '\0';
		fclose(f);
	}
	closedir(d);
	return out;
}

void
tn_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	sb_adds(b, s);
	free(s);
}

/* ------------------------------------------------------------- the peer */

static void
tp_read_cb(struct bufferevent *bev, void *arg)
{
	struct tpeer *p = arg;

	if (p->on_read)
		p->on_read(p, p->arg);
}

static void
tp_write_cb(struct bufferevent *bev, void *arg)
{
	struct tpeer *p = arg;

	if (p->close_when_flushed) {
		tp_close(p);
		if (p->on_close)
			p->on_close(p, p->arg);
	}
}

static void
tp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tpeer *p = arg;

	if (what & BEV_EVENT_CONNECTED) {
		p->tls_up = 1;
		/* Whatever came with the end of the handshake. */
		if (p->on_read && evbuffer_get_length(bufferevent_get_input(bev)))
			p->on_read(p, p->arg);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		p->error = 1;
	p->eof = 1;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	if (p->on_close)
		p->on_close(p, p->arg);
}

struct tpeer *
tp_new(struct event_base *base, int fd)
{
	struct tpeer *p = xcalloc(1, sizeof(*p));

	nonblock(fd);
	p->base = base;
	p->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(p->bev);
	bufferevent_setcb(p->bev, tp_read_cb, tp_write_cb, tp_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	return p;
}

struct tpeer *
tp_connect(struct event_base *base, unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len = tn_sockaddr(port, &ss);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		fail_msg("connect to port %u: %s", port, strerror(errno));
	return tp_new(base, fd);
}

void
tp_close(struct tpeer *p)
{
	if (p->bev) {
		bufferevent_free(p->bev);
		p->bev = NULL;
	}
	p->eof = 1;
}

void
tp_free(struct tpeer *p)
{
	if (p == NULL)
		return;
	tp_close(p);
	free(p);
}

void
tp_write(struct tpeer *p, const void *buf, size_t len)
{
	if (p->bev)
		bufferevent_write(p->bev, buf, len);
}

void
tp_printf(struct tpeer *p, const char *fmt, ...)
{
	va_list ap;

	if (p->bev == NULL)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(p->bev), fmt, ap);
	va_end(ap);
}

size_t
tp_pending(struct tpeer *p)
{
	return p->bev ? evbuffer_get_length(bufferevent_get_input(p->bev)) : 0;
}

struct pending_want {
	struct tpeer *p;
	size_t n;
};

static int
tp_has_pending(void *arg)
{
	struct pending_want *w = arg;

	return tp_pending(w->p) >= w->n;
}

int
tp_wait_pending(struct tpeer *p, size_t n, unsigned ms)
{
	struct pending_want w = {p, n};

	return tn_run_until(p->base, ms, tp_has_pending, &w);
}

static int
tp_has_line(void *arg)
{
	struct tpeer *p = arg;
	struct evbuffer_ptr ptr;

	if (p->bev == NULL)
		return 1;
	ptr = evbuffer_search(bufferevent_get_input(p->bev), "\n", 1, NULL);
	return ptr.pos >= 0 || p->eof;
}

char *
tp_line(struct tpeer *p, unsigned ms)
{
	size_t n;

	if (!tn_run_until(p->base, ms, tp_has_line, p) || p->bev == NULL)
		return NULL;
	return evbuffer_readln(bufferevent_get_input(p->bev), &n, EVBUFFER_EOL_CRLF);
}

char *
tp_reply(struct tpeer *p, unsigned ms)
{
	struct sbuf b = {0};
	uint64_t end = tn_now_ms() + ms;

	for (;;) {
		uint64_t now = tn_now_ms();
		char *l = tp_line(p, now < end ? (unsigned)(end - now) : 0);
		int last;

		if (l == NULL) {
			free(sb_take(&b));
			return NULL;
		}
		last = strlen(l) < 4 || l[3] != '-';
		if (b.len)
			sb_adds(&b, "\n");
		sb_adds(&b, l);
		free(l);
		if (last)
			return sb_take(&b);
	}
}

static int
tp_is_eof(void *arg)
{
	return ((struct tpeer *)arg)->eof;
}

int
tp_wait_eof(struct tpeer *p, unsigned ms)
{
	return tn_run_until(p->base, ms, tp_is_eof, p);
}

char *
tp_drain(struct tpeer *p, unsigned ms)
{
	struct sbuf b = {0};
	struct evbuffer *in;

	tp_wait_eof(p, ms);
	if (p->bev) {
		in = bufferevent_get_input(p->bev);
		if (evbuffer_get_length(in))
			sb_add(&b, (const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in));
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	return sb_take(&b);
}

void
tp_starttls(struct tpeer *p, SSL_CTX *ctx, int server)
{
	SSL *ssl = SSL_new(ctx);
	struct bufferevent *f;

	assert_non_null(ssl);
	f = bufferevent_openssl_filter_new(
	    p->base, p->bev, ssl, server ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(f);
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	p->bev = f;
	bufferevent_setcb(p->bev, tp_read_cb, tp_write_cb, tp_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

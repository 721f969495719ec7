/*
 * testnet: what the unit tests of the network code share. They run the
 * real code on a real libevent loop in the test process, with the other
 * end driven by the test on the same loop:
 *
 * - bounded loop runs: every wait has a deadline, no test can hang;
 * - loopback sockets: a connected pair, a free port;
 * - a throw-away self-signed certificate made with OpenSSL's API in a
 *   temporary directory (no key is ever committed);
 * - tpeer: one scripted peer (a bufferevent on the test's loop) that the
 *   test writes to, reads lines and SMTP replies from, upgrades to TLS on
 *   either side, and watches for EOF. fake_smtp.h builds on it.
 *
 * Include after cmocka.h; failures are cmocka assertions.
 */
#ifndef PC_TESTNET_H
#define PC_TESTNET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "util/strbuf.h"

/* Runs base until done(arg) is true or ms passed; 1 if done came true. */
int tn_run_until(struct event_base *base, unsigned ms, int (*done)(void *arg), void *arg);
/* Runs until *flag is non-zero (1) or ms passed (0). */
int tn_wait_flag(struct event_base *base, const int *flag, unsigned ms);
/* Runs base for ms, whatever happens (lets late events show up). */
void tn_settle(struct event_base *base, unsigned ms);
/* Milliseconds on the monotonic clock. */
uint64_t tn_now_ms(void);

/* A port on 127.0.0.1 that nobody listens on right now. */
unsigned tn_free_port(void);
/* A listening socket on 127.0.0.1 (ephemeral port in *port), blocking. */
int tn_listen(unsigned *port);
/*
 * A connected loopback pair: *srv is the accepted end (its peer's address
 * in *sa), *cli the connecting end. Both non-blocking.
 */
void tn_tcp_pair(int *srv, struct sockaddr_storage *sa, socklen_t *salen, int *cli);
/* 127.0.0.1:port as a sockaddr. */
socklen_t tn_sockaddr(unsigned port, struct sockaddr_storage *ss);

/* mkdtemp under /tmp from prefix ("pc-conn"); path in buf (64 bytes). */
void tn_tmpdir(char *buf, size_t cap, const char *prefix);
/* rm -rf path. */
void tn_rmrf(const char *path);
/* Writes a self-signed certificate and key (PEM) as dir/cert.pem, dir/key.pem. */
void tn_make_cert(const char *dir);
/* Server context from dir/cert.pem (the project's tls_server_ctx). */
SSL_CTX *tn_server_ctx(const char *dir);
/* The first regular file in dir, read whole (caller frees), or NULL. */
char *tn_read_first_file(const char *dir);

/* Appends printf text to b. */
void tn_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------- the peer */

struct tpeer {
	struct event_base *base;
	struct bufferevent *bev; /* NULL once closed */
	int eof;                 /* the other side closed, or an error */
	int error;               /* BEV_EVENT_ERROR (with TLS: a failed handshake) */
	int tls_up;              /* the handshake completed */
	int close_when_flushed;
	/* optional hooks (fake_smtp), called from the loop */
	void (*on_read)(struct tpeer *p, void *arg);
	void (*on_close)(struct tpeer *p, void *arg);
	void *arg;
};

/* Wraps a connected socket (the peer's from now on). */
struct tpeer *tp_new(struct event_base *base, int fd);
/* Connects to 127.0.0.1:port (blocking connect, then on the loop). */
struct tpeer *tp_connect(struct event_base *base, unsigned port);
void tp_free(struct tpeer *p);
/* Closes at once (the struct stays until tp_free). */
void tp_close(struct tpeer *p);
void tp_write(struct tpeer *p, const void *buf, size_t len);
void tp_printf(struct tpeer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes waiting in the input. */
size_t tp_pending(struct tpeer *p);
/* Waits until n bytes are in the input: 1, or 0 after ms. */
int tp_wait_pending(struct tpeer *p, size_t n, unsigned ms);
/* The next line without its CR LF (caller frees), or NULL after ms / at EOF. */
char *tp_line(struct tpeer *p, unsigned ms);
/* A complete SMTP reply, its lines joined by "\n" (caller frees), or NULL. */
char *tp_reply(struct tpeer *p, unsigned ms);
/* Waits for EOF or an error: 1, or 0 after ms. */
int tp_wait_eof(struct tpeer *p, unsigned ms);
/* Reads everything until EOF (caller frees; "" if nothing), at most ms. */
char *tp_drain(struct tpeer *p, unsigned ms);
/* Starts TLS over the connection, server side or client; tls_up follows. */
void tp_starttls(struct tpeer *p, SSL_CTX *ctx, int server);
/* Makes the kernel buffers small (so that a peer that does not read blocks a writer). */
void tn_small_buffers(int fd);

#endif

/*
 * conn: one TCP leg on the event loop, a client's connection to us or ours
 * to a server. A bufferevent with read and write timeouts, line reading
 * with a length limit, TLS started in place on the socket (STARTTLS, AUTH
 * TLS; server or client side), and a goodbye that closes only once the last
 * reply is out. Protocol-neutral: an SMTP or FTP session owns one conn per
 * leg and speaks its protocol through it.
 *
 * Callbacks run on the loop, never from inside a conn_* call the owner
 * made. A callback may call conn_free() as its last use of the conn.
 */
#ifndef PC_NET_CONN_H
#define PC_NET_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

struct conn;

enum conn_event {
	CONN_CONNECTED,      /* conn_connect(): the connection is up */
	CONN_CONNECT_FAILED, /* conn_connect(): refused, unreachable, timed out */
	CONN_TLS_UP,         /* conn_starttls(): the handshake is done */
	CONN_TLS_FAILED,     /* conn_starttls(): the handshake failed (logged) */
	CONN_EOF,            /* the peer closed */
	CONN_TIMEOUT,        /* no input or no progress on output in time */
	CONN_ERROR,          /* a socket or TLS error (logged) */
	CONN_GOODBYE_DONE,   /* conn_goodbye(): the last bytes are out */
};

struct conn_cbs {
	void (*read)(void *arg);                      /* input arrived */
	void (*event)(void *arg, enum conn_event ev); /* see enum conn_event */
	void (*output_low)(void *arg);                /* output fell to the low mark */
};

/*
 * Wraps an accepted socket (fd is the conn's from now on). label prefixes
 * the conn's own log lines ("smtp[42]"); copied. cbs is copied; arg is
 * borrowed for the conn's life.
 */
struct conn *conn_accept(struct event_base *base, int fd, const struct sockaddr *sa,
                         socklen_t salen, const char *label, const struct conn_cbs *cbs, void *arg);
/* Connects to sa; CONN_CONNECTED or CONN_CONNECT_FAILED follows. */
struct conn *conn_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                          const char *label, const struct conn_cbs *cbs, void *arg);
/* Closes the connection at once; NULL is fine. */
void conn_free(struct conn *c);
/* Closes it with a reset (RST), so that the peer cannot take what it got for
 * the whole (an FTP stream-mode file ends with the connection). NULL is fine. */
void conn_reset(struct conn *c);

/* Read and write timeouts in milliseconds; 0 means none. */
void conn_set_timeouts(struct conn *c, uint64_t read_ms, uint64_t write_ms);
/* A duration in milliseconds as a struct timeval (for libevent timers). */
struct timeval ms_to_tv(uint64_t ms);
/*
 * Bytes one read or one write (a sendfile of a file segment too) may move
 * per event: libevent's default is 16 KiB; a bulk data leg wants more.
 */
void conn_set_io_max(struct conn *c, size_t n);
/* Stops reading once input holds high bytes (0: no limit). */
void conn_set_read_high(struct conn *c, size_t high);
/* output_low is called whenever the output falls to low bytes (0: off). */
void conn_set_output_low(struct conn *c, size_t low);
void conn_read_enable(struct conn *c, int on);

struct evbuffer *conn_input(struct conn *c);
struct evbuffer *conn_output(struct conn *c);
void conn_write(struct conn *c, const void *buf, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Takes one line (LF-terminated, a CR before the LF removed) of at most max
 * bytes from the input. Returns 1 with *line (caller frees, NUL-terminated;
 * it may hold NULs, *len counts them), 0 when no whole line is there yet,
 * or -1 once per over-long line, whose bytes are then dropped up to and
 * including its LF.
 */
int conn_readline(struct conn *c, size_t max, char **line, size_t *len);

/*
 * Starts TLS on the socket with ctx: server side (server = 1; after our
 * reply that invites it) or client side. Input not yet read is dropped
 * (commands pipelined in the clear must not count as sent under TLS); what
 * is in the output still goes out in the clear first. Reading stays off
 * until the handshake; then CONN_TLS_UP or CONN_TLS_FAILED. 0, or -1 if TLS
 * cannot start at all (nothing changed).
 */
int conn_starttls(struct conn *c, SSL_CTX *ctx, int server);
int conn_tls(const struct conn *c);
/* "TLSv1.3:TLS_AES_256_GCM_SHA384" once TLS is up, else "none"; buf returned. */
const char *conn_tls_describe(const struct conn *c, char *buf, size_t cap);

/*
 * Stops reading and lets the output drain: CONN_GOODBYE_DONE when it is
 * out, CONN_TIMEOUT after linger_ms of a peer that does not read, CONN_EOF
 * or CONN_ERROR if it goes away first.
 */
void conn_goodbye(struct conn *c, uint64_t linger_ms);

const struct sockaddr *conn_peer(const struct conn *c);
socklen_t conn_peer_len(const struct conn *c);
/* Our own address of the connection (getsockname); 0 or -1. */
int conn_local(const struct conn *c, struct sockaddr_storage *ss, socklen_t *len);
/* "192.0.2.1" or "2001:db8::1" */
const char *conn_peer_addr(const struct conn *c);
unsigned conn_peer_port(const struct conn *c);
const char *conn_label(const struct conn *c);

#endif

/*
 * ftp_session: one client's FTP session, internal to src/ftp/. A session
 * owns its client control conn, its server control conn, at most one
 * transfer (struct xfer) and the data listener or address the client
 * chose. ftp_session.c runs the control channel (commands, replies, the
 * login and the server's greeting); ftp_xfer.c the data channels and the
 * transfer from its command to its final reply.
 */
#ifndef PC_FTP_SESSION_H
#define PC_FTP_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "ftp/ftp_proxy.h"
#include "ftp/ftp_wire.h"
#include "inspect/inspect.h"
#include "net/conn.h"
#include "net/listener.h"
#include "spool/spool.h"
#include "util/idtab.h"

#define FTP_READ_HIGH (256 * 1024)
#define FTP_LINGER_MS 10000
#define FTP_PUMP_CHUNK (256 * 1024)

struct ftp_proxy {
	struct event_base *base;
	struct workq *wq;
	struct runtime *rt;
	struct net_listener **listeners;
	size_t nlisteners;
	struct idtab *sessions;
	uint64_t next_id;
	void (*drained)(void *arg);
	void *drained_arg;
	struct event *drained_ev;
	struct access *access; /* sessions and connections per client address */
};

/* A data listener we opened (passive on the client leg, active on the server leg). */
struct dlisten {
	struct fsess *s;
	int fd;
	struct event *ev;
	struct sockaddr_storage expect; /* the one peer host it accepts */
	socklen_t expect_len;
	int client_leg;
	int got; /* the accepted data socket, waiting for its transfer; -1 none */
	struct sockaddr_storage got_sa;
	socklen_t got_len;
	struct sockaddr_storage local; /* where it listens */
	socklen_t local_len;
};

enum xfer_kind { X_DOWN, X_UP, X_LIST };

/* Where a transfer is. */
enum xfer_phase {
	XP_RECV,  /* the sending side's data is being spooled */
	XP_SCAN,  /* a worker job has the spool */
	XP_SEND,  /* handing the file (or the report) on */
	XP_CLOSE, /* waiting for the server's replies after an abort or a refusal */
};

struct fsess;
typedef void (*reply_fn)(struct fsess *s, struct ftp_reply *r);

/* One transfer, from its command to its final reply. */
struct xfer {
	uint64_t gen; /* tells a worker job's transfer from a later one */
	enum xfer_kind kind;
	enum xfer_phase phase;
	char verb[5];
	char *line;     /* the command as the client sent it (relayed) */
	char name[256]; /* the file name, sanitized, for logs and the quarantine */
	struct spool *spool;
	int spool_errno;
	int too_big;
	struct conn *cd; /* client data */
	struct conn *sd; /* server data */
	int cd_up, sd_up;
	int want_cd;         /* waiting for the client's data connection (passive) */
	int sent_all;        /* the last byte is in the output of the receiving leg */
	uint64_t size;       /* the spool's size, for the log */
	struct event *timer; /* data_timeout for a data connection to arrive */
	/* a download's 1xx from the server, held until the file is judged */
	struct ftp_reply mark;
	int mark_held, mark_open; /* held; its first line sent as "150-" (keep-alive) */
	int trickle;              /* a download passed on while it arrives, but its tail */
	struct event *ka;         /* keepalive_interval: the next "150-" line */
	int cd_done, sd_done;     /* our sending half is out and closed */
	int src_eof;              /* the sending side's data ended */
	int sv_cmd_sent;          /* the command went to the server, its final reply is due */
	int sv_started;           /* the server said 1xx */
	struct ftp_reply fin;     /* the server's final reply to the command */
	int have_fin;
	/* delivering: the bytes of `from` [0, size) */
	const struct spool *from;
	uint64_t off;
	struct inspect_outcome out;
	int scanned;
	char *report;       /* the scanner's report, lines "\n"-separated, no code; or NULL */
	char *reply;        /* our reply to send after the server's last one (XP_CLOSE) */
	const char *action; /* for the log: pass, block, quarantine, replace, tempfail */
};

struct fsess {
	uint64_t id;
	char log_id[32];
	struct ftp_proxy *px;
	int counted; /* access_admit said yes: access_done at the end */
	struct net_listener *l;
	struct runtime *rt;
	const struct ftp_listener_conf *lc;
	const char *hostname;
	struct conn *cl;
	struct conn *sv;
	struct sockaddr_storage sv_addr; /* the server */
	socklen_t sv_len;
	char sv_label[96]; /* "ftp:127.0.0.1:21" */
	char cl_label[96]; /* "127.0.0.1:40000" */
	char user[128];
	char *fwd_user; /* forward mode: "USER name" to send once the server is up */
	/* TLS (RFC 4217): the client leg after AUTH TLS, the server leg when it
	 * accepted ours; PROT P on a leg puts its data connections under TLS */
	SSL_CTX *cl_tls_ctx; /* the listener's certificate, or NULL: no AUTH TLS */
	int cl_tls, cl_pbsz, cl_prot;
	int sv_tls, sv_prot;
	struct ftp_reply banner; /* the server's greeting, held while TLS is set up */
	unsigned ncmds;
	/* the control channel */
	int busy;      /* a command (or a transfer) is in flight */
	int in_pump;   /* inside pump_client: fsess_idle only clears busy */
	char *pending; /* a command line read during a transfer, not ABOR */
	size_t pending_len;
	reply_fn on_reply; /* who takes the server's next reply; NULL: relay it */
	struct ftp_reply rep;
	int closing;
	const char *close_reason;
	struct event *reap_ev;
	/* the client's data channel choice */
	int cl_mode; /* 0 none, 1 passive (cl_dl), 2 active (cl_port) */
	int epsv_all;
	struct dlisten *cl_dl;
	struct sockaddr_storage cl_port;
	socklen_t cl_port_len;
	/* the server leg's data listener (upstream_mode = active) */
	struct dlisten *sv_dl;
	struct sockaddr_storage sv_data; /* where to connect (passive) */
	socklen_t sv_data_len;
	struct xfer *x;
	uint64_t next_gen;
};

#define flog_info(s, fmt, ...) log_info("%s: " fmt, (s)->log_id, ##__VA_ARGS__)
#define flog_warnx(s, fmt, ...) log_warnx("%s: " fmt, (s)->log_id, ##__VA_ARGS__)
#define flog_debug(s, fmt, ...) log_debug("%s: " fmt, (s)->log_id, ##__VA_ARGS__)

/* ftp_session.c */
void fsess_start(struct ftp_proxy *px, struct net_listener *l, int fd, const struct sockaddr *sa,
                 socklen_t salen);
void fsess_free(struct fsess *s);
void fsess_reply(struct fsess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends the client the reply's lines as they came. */
void fsess_relay(struct fsess *s, const struct ftp_reply *r);
/* The command in flight is done: the client has the turn again. */
void fsess_idle(struct fsess *s);
/* Says text (may be NULL) and closes the session once it is out. */
void fsess_goodbye(struct fsess *s, const char *text);
/* Sends a line to the server and hands its reply to fn. */
void fsess_send(struct fsess *s, reply_fn fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ftp_proxy_check_drained(struct ftp_proxy *px);

struct fsess *fsess_find(struct ftp_proxy *px, uint64_t id);
/* The server's control connection failed or closed: 421 and the end. */
void fsess_server_gone(struct fsess *s, const char *why);

/* ftp_xfer.c */
void xfer_pasv(struct fsess *s, int extended, const char *arg);
void xfer_port(struct fsess *s, int extended, const char *arg);
void xfer_begin(struct fsess *s, const char *verb, const char *arg, const char *line);
void xfer_abort(struct fsess *s);
/* A download's held 1xx: sent now (or closed, when keep-alive lines opened it). */
void xfer_mark_release(struct fsess *s, const char *closing);
/* The session ends: the transfer goes with it (a running job finds it gone). */
void xfer_free(struct fsess *s);
void dlisten_free(struct dlisten *d);

#endif

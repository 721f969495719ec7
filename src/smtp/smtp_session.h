/*
 * smtp_session: the SMTP gateway's session and transaction, shared by the
 * files of the SMTP proxy only (not a public API):
 *
 *   smtp_proxy.c     the proxy: listeners, the session table, notices in flight
 *   smtp_session.c   a session's life: accept, read, states, replies, goodbye
 *   smtp_commands.c  the commands, one handler each, through smtp_cmd's table
 *   smtp_message.c   DATA in, the worker job (inspect), the reply after it
 *   smtp_notice.c    notices: built on the worker, sent on their own connection
 *
 * A session owns its client conn, its next-hop session and its
 * transaction. While a worker job has the transaction, session->tx is NULL
 * and the job owns it; the job comes back by session id.
 */
#ifndef PC_SMTP_SESSION_H
#define PC_SMTP_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "daemon/runtime.h"
#include "inspect/inspect.h"
#include "net/conn.h"
#include "net/listener.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_nexthop.h"
#include "smtp/smtp_reply.h"
#include "spool/spool.h"
#include "util/idtab.h"
#include "util/log.h"
#include "util/workq.h"

#define SCAN_ROOT "message"
#define READ_HIGH_MARK (512 * 1024)
#define GOODBYE_LINGER_MS 10000

enum sess_state {
	S_CONNECTING, /* waiting for the next hop's banner */
	S_CMD,        /* reading client commands */
	S_NEXTHOP,    /* a command is with the next hop */
	S_DATA,       /* receiving the message */
	S_WORK,       /* the transaction is with a worker job */
	S_DELIVER,    /* handing the message to the next hop */
	S_GOODBYE,    /* the last reply is going out */
	S_CLOSED,     /* gone; freed from the loop */
};

/* Notices built for one transaction: complete messages and their recipients. */
struct smtp_notices {
	char **msg;
	char **to;
	size_t n;
};

struct tx {
	char *mail_from;   /* without brackets; "" for the null sender */
	char *mail_params; /* parameters passed on to the next hop */
	char **rcpts;      /* accepted by the next hop */
	size_t nrcpts;
	char *rcpt_pending; /* the RCPT the next hop is answering */
	struct spool *spool;
	struct smtp_data_rx rx;
	int too_big;
	int spool_errno;
	/* filled by the worker job */
	struct inspect_outcome out;
	char delivered[128]; /* Maildir next hop: the file name */
	int store_err;       /* Maildir next hop: STORE_ERR_* */
	struct smtp_notices notices;
	char *parked_reply; /* our reply, sent once the next hop took RSET */
};

/* The original client as an authorized XFORWARD named it. */
struct xforward {
	int set;
	char name[256], addr[64], helo[256], proto[16];
	unsigned port;
};

struct session {
	uint64_t id;
	char log_id[32]; /* "smtp[42]" */
	struct proxy *px;
	struct runtime *rt;
	struct net_listener *l;
	const struct smtp_listener_conf *lc; /* in rt */
	size_t lidx;
	const char *hostname; /* in rt */
	struct conn *conn;
	enum sess_state state;
	const char *close_reason;
	struct event *reap_ev;

	char helo[256];
	int helo_seen, esmtp;
	int xforward_ok; /* the client may send XFORWARD */
	int counted;     /* access_admit said yes: access_done at the end */
	int refused;     /* not in [smtp] clients: 503 to all but QUIT */
	struct xforward xf;
	unsigned ncmds;

	struct nexthop *nh;  /* NULL for a Maildir next hop */
	const char *maildir; /* in rt; NULL for an SMTP next hop */
	struct sockaddr_storage nh_sa;
	socklen_t nh_salen;

	struct tx *tx;
};

struct proxy {
	struct event_base *base;
	struct workq *wq;
	struct runtime *rt;
	struct net_listener **listeners;
	size_t nlisteners;
	struct idtab *sessions;
	struct access *access;  /* sessions and connections per client address */
	struct notice *notices; /* in flight; a drain waits for them too */
	unsigned nnotices;
	uint64_t next_id;
	/* draining: called from the loop once no session or notice is left */
	void (*drained)(void *arg);
	void *drained_arg;
	struct event *drained_ev;
};

/* Session log lines: the session id first, key=value after it. */
#define slog_info(s, fmt, ...) log_info("%s: " fmt, (s)->log_id, ##__VA_ARGS__)
#define slog_warnx(s, fmt, ...) log_warnx("%s: " fmt, (s)->log_id, ##__VA_ARGS__)
#define slog_debug(s, fmt, ...) log_debug("%s: " fmt, (s)->log_id, ##__VA_ARGS__)

/* smtp_proxy.c */
/* A session or notice ended: while draining, the last one says so. */
void proxy_check_drained(struct proxy *px);

/* smtp_session.c */
void session_start(struct proxy *px, struct net_listener *l, int fd, const struct sockaddr *sa,
                   socklen_t salen);
void session_free(struct session *s);
/* The live session with this id, or NULL (gone or closing). */
struct session *session_find(struct proxy *px, uint64_t id);
void session_enter_state(struct session *s, enum sess_state st);
void session_close(struct session *s, const char *reason);
void session_goodbye(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Relays a next-hop outcome: its reply, or 451 4.4.1 with what failed. */
void reply_relay(struct session *s, enum smtp_status st, const struct smtp_reply *r);
/* The first line of a next-hop outcome, for logs: "250 2.0.0 Ok". */
void reply_summary(struct session *s, enum smtp_status st, const struct smtp_reply *r, char *buf,
                   size_t cap);
/* Gives the turn to the next hop or a worker: commands wait in the input. */
void session_pause(struct session *s, enum sess_state st);
/* Gives the turn back to the client and handles what it already sent. */
void session_resume(struct session *s);
void session_timeouts(struct session *s);
/* The EHLO reply with the extensions we offer, given the next hop's. */
void reply_ehlo(struct session *s);
/* The SIZE we advertise: ours, lowered to the next hop's. */
uint64_t offered_size(const struct session *s);
/* 1 if we may offer an extension: always to a Maildir next hop, else if it does. */
int offers(const struct session *s, int nh_has);

/* smtp_commands.c */
void session_command(struct session *s, char *line, size_t len);
void tx_free(struct tx *tx);
void tx_reset(struct session *s);

/* smtp_message.c */
/* Feeds client bytes to the DATA parser; 1 at the end of the message. */
int session_data(struct session *s);

/* smtp_notice.c */
void notices_build(struct smtp_notices *n, const struct runtime *rt, const struct inspect_ctx *ctx,
                   const struct inspect_object *obj, struct inspect_outcome *out);
/* Maildir next hop: delivers each notice into the Maildir (worker side). */
void notices_deliver(const struct smtp_notices *n, const char *maildir);
/* SMTP next hop: each notice on its own connection (loop side). */
void notices_send(struct session *s, const struct smtp_notices *n);
void notices_clear(struct smtp_notices *n);
/* Frees the notices still in flight (stopping). */
void notices_abort(struct proxy *px);

#endif

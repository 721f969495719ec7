/*
 * smtp_proxy: session and transaction state machines of the SMTP gateway.
 *
 * Owns: listeners, sessions (client bufferevent, next-hop client), each
 * session's transaction (envelope, spool, verdict). A transaction is lent
 * to a worker job while it is scanned or stored (session->tx is NULL then)
 * and given back by session id when the job is done; if the session went
 * away meanwhile the job frees it. Leaves parsing to smtp_cmd/smtp_data/
 * smtp_reply, scanning to the scanner, decisions to policy, rewriting and
 * notices to rewrite/notify, storage to quarantine/maildir.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "net/tls.h"
#include "policy/policy.h"
#include "mail/rewrite.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_cmd.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_proxy.h"
#include "smtp/smtp_reply.h"
#include "spool/spool.h"
#include "store/maildir.h"
#include "store/quarantine.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define SCAN_ROOT "message"
#define READ_HIGH_MARK (512 * 1024)

enum sess_state {
	S_CONNECTING, /* waiting for the next hop's banner */
	S_CMD,        /* reading client commands */
	S_NEXTHOP,    /* a command is with the next hop */
	S_DATA,       /* receiving the message */
	S_WORK,       /* the transaction is with a worker job */
	S_DELIVER,    /* handing the message to the next hop */
	S_CLOSING,    /* flushing the last reply, then gone */
};

static const char *state_names[] = {"connecting", "cmd",     "nexthop", "data",
                                    "work",       "deliver", "closing"};

struct smtp_listener {
	struct proxy *px;
	char *name;
	char *listen;
	struct evconnlistener *evl;
	unsigned nsessions;
	struct smtp_listener *next;
};

struct tx {
	char *mail_from;   /* without brackets */
	char *mail_params; /* parameters passed on to the next hop */
	uint64_t size_param;
	char **rcpts; /* accepted by the next hop */
	size_t nrcpts;
	unsigned rcpt_tries;
	struct spool *spool;
	struct smtp_data_rx rx;
	int too_big;
	int spool_errno;
	/* filled by the worker job */
	struct scan_verdict verdict;
	enum direction dir;
	struct policy_decision dec;
	char *prepend;     /* header lines for the delivered copy */
	struct spool *out; /* rewritten message, or NULL: deliver the spool */
	char qid[QUARANTINE_ID_LEN + 1];
	int store_err;       /* STORE_ERR_* of a quarantine or Maildir write */
	char delivered[128]; /* Maildir file name */
	char **notices;      /* complete messages for notify_to[] */
	char **notify_to;
	size_t nnotices;
	char subject[256];
	int subject_read;
};

struct session {
	uint64_t id;
	struct proxy *px;
	struct runtime *rt;
	struct smtp_listener *l;
	const struct smtp_listener_conf *lc;
	size_t lidx;
	const char *hostname;
	struct bufferevent *bev;
	struct sockaddr_storage peer;
	char peer_addr[64];
	unsigned peer_port;
	enum sess_state state;
	int closing;
	const char *close_reason;
	struct event *reap_ev;
	struct event *linger_ev; /* polls for the last reply to drain */
	int linger_ticks;

	char helo[256];
	int helo_seen, esmtp, tls;
	/* XFORWARD from an authorized client (a Postfix content filter
	 * client): the original client, passed on to the next hop */
	int xforward_ok;
	struct {
		int set;
		char name[256], addr[64], helo[256], proto[16];
		unsigned port;
	} xf;
	int skip_line; /* discarding the rest of an over-long line */
	unsigned ncmds;

	/* the next hop: NULL for Maildir */
	struct smtp_client *nh;
	struct sockaddr_storage nh_sa;
	socklen_t nh_salen;
	char *maildir;
	int nh_ehlo_done, nh_pipelining, nh_8bit, nh_enh, nh_utf8, nh_starttls, nh_xforward,
	    nh_xclient, nh_xclient_sent, nh_dsn;
	uint64_t nh_size;
	int nh_in_tx; /* MAIL accepted by the next hop, not yet finished */
	enum smtp_verb pending;

	struct tx *tx;
	struct session *hnext; /* id hash chain */
};

#define SESS_BUCKETS 1024

struct proxy {
	struct event_base *base;
	struct workq *wq;
	struct runtime *rt;
	struct smtp_listener *listeners;
	struct session *table[SESS_BUCKETS];
	unsigned nsessions;
	struct notice *notices; /* in flight; a drain waits for them too */
	unsigned nnotices;
	uint64_t next_id;
};

/* Session log lines: one prefix, key=value after it. */
#define slog_info(s, fmt, ...)                                                                     \
	log_info("smtp[%llu]: " fmt, (unsigned long long)(s)->id, ##__VA_ARGS__)
#define slog_warnx(s, fmt, ...)                                                                    \
	log_warnx("smtp[%llu]: " fmt, (unsigned long long)(s)->id, ##__VA_ARGS__)
#define slog_debug(s, fmt, ...)                                                                    \
	log_debug("smtp[%llu]: " fmt, (unsigned long long)(s)->id, ##__VA_ARGS__)

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_process(struct session *s);
static void session_close(struct session *s, const char *reason);
static void tx_finish_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- helpers */

static void
session_enter_state(struct session *s, enum sess_state st)
{
	if (s->state != st)
		slog_debug(s, "state %s -> %s", state_names[s->state], state_names[st]);
	s->state = st;
}

static void reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends one reply line (CRLF added). */
static void
reply(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* Relays a next-hop reply; a failed next hop becomes 451 4.4.1. */
static void
reply_relay(struct session *s, const struct smtp_reply *r)
{
	char *text;

	if (r->code == 0) {
		reply(s, "451 4.4.1 %s", r->nlines ? r->lines[0] : "next hop unavailable");
		return;
	}
	text = smtp_reply_format(r);
	evbuffer_add(bufferevent_get_output(s->bev), text, strlen(text));
	free(text);
}

/* The first line of a reply, for logs: "250 2.0.0 Ok". */
static void
reply_summary(const struct smtp_reply *r, char *buf, size_t cap)
{
	if (r->code == 0)
		snprintf(buf, cap, "%s", r->nlines ? r->lines[0] : "failed");
	else
		snprintf(buf, cap, "%d%s%s %s", r->code, r->enh[0] ? " " : "", r->enh,
		         r->nlines ? r->lines[0] : "");
}

/* Encodes s as xtext (RFC 3461) for XFORWARD/XCLIENT values. */
static void
xtext(const char *in, char *out, size_t cap)
{
	size_t j = 0;

	for (; *in && j + 4 < cap; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch < 33 || ch > 126 || ch == '+' || ch == '=') {
			snprintf(out + j, cap - j, "+%02X", ch);
			j += 3;
		} else
			out[j++] = (char)ch;
	}
	out[j] = '\0';
}

/* ----------------------------------------------------------- session table */

static struct session **
table_slot(struct proxy *px, uint64_t id)
{
	return &px->table[id % SESS_BUCKETS];
}

static struct session *
session_find(struct proxy *px, uint64_t id)
{
	struct session *s;

	for (s = *table_slot(px, id); s; s = s->hnext)
		if (s->id == id)
			return s->closing ? NULL : s;
	return NULL;
}

static void
table_remove(struct proxy *px, struct session *s)
{
	struct session **pp;

	for (pp = table_slot(px, s->id); *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			return;
		}
}

/* -------------------------------------------------------------- transactions */

static void
tx_free(struct tx *tx)
{
	if (tx == NULL)
		return;
	free(tx->mail_from);
	free(tx->mail_params);
	for (size_t i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	spool_free(tx->spool);
	spool_free(tx->out);
	verdict_clear(&tx->verdict);
	free(tx->prepend);
	for (size_t i = 0; i < tx->nnotices; i++) {
		free(tx->notices[i]);
		free(tx->notify_to[i]);
	}
	free(tx->notices);
	free(tx->notify_to);
	free(tx);
}

static void
tx_reset(struct session *s)
{
	tx_free(s->tx);
	s->tx = NULL;
}

/* ------------------------------------------------------------------ closing */

static void
session_free(struct session *s)
{
	struct proxy *px = s->px;

	slog_info(s, "disconnect reason=%s commands=%u",
	          s->close_reason ? s->close_reason : "error", s->ncmds);
	table_remove(px, s);
	px->nsessions--;
	if (s->l)
		s->l->nsessions--;
	if (s->bev)
		bufferevent_free(s->bev);
	smtp_client_free(s->nh);
	tx_free(s->tx);
	if (s->reap_ev)
		event_free(s->reap_ev);
	if (s->linger_ev)
		event_free(s->linger_ev);
	free(s->maildir);
	runtime_unref(s->rt);
	free(s);
}

static void
session_reap(evutil_socket_t fd, short what, void *arg)
{
	session_free(arg);
}

/* Marks s closing and frees it from the loop, never from inside a callback. */
static void
session_close(struct session *s, const char *reason)
{
	struct timeval zero = {0, 0};

	if (s->closing)
		return;
	slog_debug(s, "closing reason=%s", reason);
	if (s->close_reason == NULL)
		s->close_reason = reason;
	s->closing = 1;
	if (s->linger_ev)
		evtimer_del(s->linger_ev);
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	evtimer_add(s->reap_ev, &zero);
}

/* True when the last reply left our buffers (and, under TLS, the
 * underlying connection's too). */
static int
session_drained(struct session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);

	return evbuffer_get_length(bufferevent_get_output(s->bev)) == 0 &&
	       (under == NULL || evbuffer_get_length(bufferevent_get_output(under)) == 0);
}

/* Closes once the goodbye is out, or after 10 s of a client not reading. */
static void
session_linger(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timeval tv = {0, 20000};

	if (session_drained(s) || ++s->linger_ticks > 500) {
		session_close(s, s->close_reason ? s->close_reason : "done");
		return;
	}
	evtimer_add(s->linger_ev, &tv);
}

/* Sends the last reply and closes once it is out. */
static void session_goodbye(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_goodbye(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	struct timeval tv = {10, 0}, zero = {0, 0};
	va_list ap;

	if (s->closing || s->state == S_CLOSING)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	session_enter_state(s, S_CLOSING);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_set_timeouts(s->bev, NULL, &tv);
	bufferevent_setcb(s->bev, NULL, NULL, session_event_cb, s);
	bufferevent_enable(s->bev, EV_WRITE);
	s->linger_ticks = 0;
	evtimer_add(s->linger_ev, &zero);
}

/* ------------------------------------------------------------- read control */

static void
client_timeouts(struct session *s)
{
	uint64_t ms = s->state == S_DATA ? s->lc->data_timeout_ms : s->lc->command_timeout_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/*
 * Gives the turn to the next hop or a worker: commands the client sends
 * meanwhile wait in the input buffer (bounded by READ_HIGH_MARK). Reading
 * stays enabled, so a client that leaves is noticed at once and no
 * epoll_ctl is spent per command.
 */
static void
client_pause(struct session *s, enum sess_state st)
{
	session_enter_state(s, st);
}

/* Gives the turn back to the client and handles what it already sent. */
static void
client_resume(struct session *s)
{
	if (s->closing)
		return;
	session_enter_state(s, S_CMD);
	client_timeouts(s);
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

/* ------------------------------------------------------------ the next hop */

static void nh_ehlo_step(struct session *s);

static void
nh_banner_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;

	if (r->code != 220) {
		char sum[256];

		reply_summary(r, sum, sizeof(sum));
		slog_warnx(s, "next hop unavailable reply=\"%s\"", sum);
		session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
		return;
	}
	reply(s, "220 %s ESMTP Portcullis", s->hostname);
	client_resume(s);
}

/* The EHLO dialogue with the next hop, then the client's EHLO reply. */
enum { EH_EHLO, EH_STARTTLS, EH_XCLIENT, EH_DONE };

static void
nh_parse_caps(struct session *s, const struct smtp_reply *r)
{
	const char *arg;

	s->nh_pipelining = smtp_reply_has(r, "PIPELINING", NULL);
	s->nh_8bit = smtp_reply_has(r, "8BITMIME", NULL);
	s->nh_enh = smtp_reply_has(r, "ENHANCEDSTATUSCODES", NULL);
	s->nh_utf8 = smtp_reply_has(r, "SMTPUTF8", NULL);
	s->nh_starttls = smtp_reply_has(r, "STARTTLS", NULL);
	s->nh_xforward = smtp_reply_has(r, "XFORWARD", NULL);
	s->nh_xclient = smtp_reply_has(r, "XCLIENT", NULL);
	s->nh_dsn = smtp_reply_has(r, "DSN", NULL);
	s->nh_size = 0;
	if (smtp_reply_has(r, "SIZE", &arg))
		s->nh_size = strtoull(arg, NULL, 10);
}

/* The SIZE we advertise: ours, lowered to the next hop's. */
static uint64_t
offered_size(const struct session *s)
{
	uint64_t n = s->lc->max_message_size;

	if (s->nh && s->nh_size && s->nh_size < n)
		n = s->nh_size;
	return n;
}

static int
offers(const struct session *s, int nh_flag)
{
	return s->nh == NULL || nh_flag;
}

static void
reply_ehlo(struct session *s)
{
	if (!s->esmtp) {
		reply(s, "250 %s", s->hostname);
		return;
	}
	reply(s, "250-%s", s->hostname);
	if (offers(s, s->nh_pipelining))
		reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %llu", (unsigned long long)offered_size(s));
	if (offers(s, s->nh_8bit))
		reply(s, "250-8BITMIME");
	if (offers(s, s->nh_utf8))
		reply(s, "250-SMTPUTF8");
	if (s->nh && s->nh_dsn)
		reply(s, "250-DSN");
	if (s->rt->server_tls[s->lidx] && !s->tls)
		reply(s, "250-STARTTLS");
	if (s->xforward_ok)
		reply(s, "250-XFORWARD NAME ADDR PORT PROTO HELO");
	reply(s, "250 %s", offers(s, s->nh_enh) ? "ENHANCEDSTATUSCODES" : "HELP");
}

static void nh_ehlo_cb(void *arg, const struct smtp_reply *r);

static void
nh_send_ehlo(struct session *s)
{
	char line[300];

	snprintf(line, sizeof(line), "EHLO %s", s->hostname);
	s->pending = V_EHLO;
	smtp_client_command(s->nh, line, nh_ehlo_cb, s);
}

static int
use_xclient(const struct session *s)
{
	int mode = s->lc->forward_client;

	if (mode == FWD_XCLIENT)
		return s->nh_xclient;
	if (mode == FWD_AUTO)
		return s->nh_xclient && !s->nh_xforward;
	return 0;
}

static void
nh_step_fail(struct session *s, const struct smtp_reply *r)
{
	char sum[256];

	reply_summary(r, sum, sizeof(sum));
	slog_warnx(s, "next hop failed during EHLO reply=\"%s\"", sum);
	session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
}

static void
nh_tls_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;

	if (r->code == 220 && smtp_client_tls(s->nh)) {
		slog_info(s, "next hop TLS established");
		nh_send_ehlo(s);
		return;
	}
	if (r->code == 0) {
		nh_step_fail(s, r);
		return;
	}
	/* The next hop refused STARTTLS. */
	if (s->lc->next_hop_tls == TLS_REQUIRE) {
		session_goodbye(s, "421 4.7.0 %s next hop refused TLS", s->hostname);
		return;
	}
	s->nh_starttls = 0;
	nh_ehlo_step(s);
}

static void
nh_xclient_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;

	if (r->code == 0) {
		nh_step_fail(s, r);
		return;
	}
	s->nh_xclient_sent = 1;
	if (r->code != 220) {
		slog_warnx(s, "next hop refused XCLIENT code=%d", r->code);
		nh_ehlo_step(s);
		return;
	}
	nh_send_ehlo(s); /* XCLIENT starts a new session */
}

/* Decides the next step after an EHLO reply from the next hop. */
static void
nh_ehlo_step(struct session *s)
{
	if (s->nh_starttls && !smtp_client_tls(s->nh) && s->lc->next_hop_tls != TLS_NONE) {
		smtp_client_starttls(s->nh, s->rt->client_tls, nh_tls_cb, s);
		return;
	}
	if (s->lc->next_hop_tls == TLS_REQUIRE && !smtp_client_tls(s->nh)) {
		session_goodbye(s, "421 4.7.0 %s next hop offers no TLS", s->hostname);
		return;
	}
	if (use_xclient(s) && !s->nh_xclient_sent) {
		char line[600], helo[300];

		xtext(s->helo, helo, sizeof(helo));
		snprintf(line, sizeof(line),
		         "XCLIENT NAME=[UNAVAILABLE] ADDR=%s%s PORT=%u HELO=%s PROTO=%s",
		         strchr(s->peer_addr, ':') ? "IPV6:" : "", s->peer_addr, s->peer_port, helo,
		         s->esmtp ? "ESMTP" : "SMTP");
		smtp_client_command(s->nh, line, nh_xclient_cb, s);
		return;
	}
	s->nh_ehlo_done = 1;
	reply_ehlo(s);
	client_resume(s);
}

static void
nh_ehlo_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;

	if (r->code != 250) {
		nh_step_fail(s, r);
		return;
	}
	nh_parse_caps(s, r);
	nh_ehlo_step(s);
}

/* Relays the next hop's reply to a relayed command and resumes. */
static void
nh_relay_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;
	struct tx *tx = s->tx;

	switch (s->pending) {
	case V_MAIL:
		if (r->code >= 200 && r->code < 300)
			s->nh_in_tx = 1;
		else
			tx_reset(s);
		break;
	case V_RCPT:
		if (r->code >= 200 && r->code < 300 && tx) {
			/* The address was stashed as the last, not yet counted, entry. */
			tx->nrcpts++;
		} else if (tx) {
			free(tx->rcpts[tx->nrcpts]);
			tx->rcpts[tx->nrcpts] = NULL;
		}
		break;
	case V_RSET:
		s->nh_in_tx = 0;
		break;
	default:
		break;
	}
	reply_relay(s, r);
	if (r->code == 0) {
		/* The next hop is gone: nothing more can be relayed. */
		session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
		return;
	}
	client_resume(s);
}

static void
nh_forward(struct session *s, enum smtp_verb v, const char *line)
{
	s->pending = v;
	client_pause(s, S_NEXTHOP);
	smtp_client_command(s->nh, line, nh_relay_cb, s);
}

/* ------------------------------------------------------------- commands */

static void
cmd_helo(struct session *s, const char *args, int esmtp)
{
	char name[256];

	if (*args == '\0') {
		reply(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	sanitize(args, name, sizeof(name), SAN_VALUE);
	snprintf(s->helo, sizeof(s->helo), "%s", name);
	s->helo_seen = 1;
	s->esmtp = esmtp;
	tx_reset(s);
	if (s->nh == NULL) {
		reply_ehlo(s);
		return;
	}
	/* A transaction the next hop holds open ends with the new EHLO. */
	s->nh_in_tx = 0;
	s->nh_xclient_sent = 0;
	client_pause(s, S_NEXTHOP);
	nh_send_ehlo(s);
}

/* Checks MAIL parameters; builds the ones passed on. 0 or -1 (replied). */
static int
mail_params(struct session *s, const struct smtp_path *p, struct tx *tx)
{
	char buf[1024] = "";

	for (size_t i = 0; i < p->nparams; i++) {
		const struct smtp_param *pr = &p->params[i];
		size_t n = strlen(buf);

		if (strcmp(pr->name, "SIZE") == 0) {
			char *end;

			tx->size_param = strtoull(pr->value, &end, 10);
			if (*pr->value == '\0' || *end != '\0') {
				reply(s, "501 5.5.4 bad SIZE parameter");
				return -1;
			}
			if (tx->size_param > offered_size(s)) {
				reply(s, "552 5.3.4 message size exceeds fixed limit");
				return -1;
			}
		} else if (strcmp(pr->name, "BODY") == 0) {
			if (strcasecmp(pr->value, "7BIT") != 0 &&
			    !(strcasecmp(pr->value, "8BITMIME") == 0 && offers(s, s->nh_8bit))) {
				reply(s, "555 5.5.4 unsupported BODY=%s", pr->value);
				return -1;
			}
		} else if (strcmp(pr->name, "RET") == 0 || strcmp(pr->name, "ENVID") == 0) {
			if (!(s->nh && s->nh_dsn)) {
				reply(s, "555 5.5.4 DSN not offered");
				return -1;
			}
		} else if (strcmp(pr->name, "SMTPUTF8") == 0) {
			if (!offers(s, s->nh_utf8)) {
				reply(s, "555 5.5.4 SMTPUTF8 not offered");
				return -1;
			}
		} else {
			reply(s, "555 5.5.4 unsupported parameter %.32s", pr->name);
			return -1;
		}
		snprintf(buf + n, sizeof(buf) - n, " %s%s%s", pr->name, pr->value[0] ? "=" : "",
		         pr->value);
	}
	tx->mail_params = xstrdup(buf);
	return 0;
}

static void nh_mail_cb(void *arg, const struct smtp_reply *r);

static void
cmd_mail(struct session *s, const char *args)
{
	struct smtp_path p;
	struct tx *tx;
	char err[64];

	if (s->tx) {
		reply(s, "503 5.5.1 nested MAIL command");
		return;
	}
	if (smtp_path_parse(args, "FROM:", &p, err, sizeof(err)) < 0) {
		reply(s, "501 5.5.4 MAIL syntax: %s", err);
		return;
	}
	tx = xcalloc(1, sizeof(*tx));
	if (mail_params(s, &p, tx) < 0) {
		tx_free(tx);
		return;
	}
	tx->mail_from = xstrdup(p.addr);
	s->tx = tx;
	if (s->nh == NULL) {
		reply(s, "250 2.1.0 Ok");
		return;
	}
	if (s->nh_xforward && s->lc->forward_client != FWD_OFF &&
	    s->lc->forward_client != FWD_XCLIENT) {
		char line[1200], helo[300], name[300];
		const char *addr = s->xf.set && s->xf.addr[0] ? s->xf.addr : s->peer_addr;

		xtext(s->xf.set && s->xf.helo[0] ? s->xf.helo : s->helo, helo, sizeof(helo));
		xtext(s->xf.set && s->xf.name[0] ? s->xf.name : "[UNAVAILABLE]", name,
		      sizeof(name));
		snprintf(line, sizeof(line), "XFORWARD NAME=%s ADDR=%s%s PORT=%u PROTO=%s HELO=%s",
		         name, strchr(addr, ':') ? "IPV6:" : "", addr,
		         s->xf.set && s->xf.port ? s->xf.port : s->peer_port,
		         s->xf.set && s->xf.proto[0] ? s->xf.proto
		         : s->esmtp                  ? "ESMTP"
		                                     : "SMTP",
		         helo);
		client_pause(s, S_NEXTHOP);
		smtp_client_command(s->nh, line, nh_mail_cb, s);
		return;
	}
	nh_mail_cb(s, NULL);
}

/* After XFORWARD (r) or directly (r == NULL): sends MAIL. */
static void
nh_mail_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;
	char line[SMTP_PATH_MAX + 1100];

	if (r && r->code == 0) {
		nh_relay_cb(s, r);
		return;
	}
	if (r && r->code != 250)
		slog_warnx(s, "next hop refused XFORWARD code=%d", r->code);
	snprintf(line, sizeof(line), "MAIL FROM:<%s>%s", s->tx->mail_from, s->tx->mail_params);
	nh_forward(s, V_MAIL, line);
}

static void
cmd_rcpt(struct session *s, const char *args)
{
	struct smtp_path p;
	struct tx *tx = s->tx;
	char err[64], line[SMTP_PATH_MAX + 1200], params[1100];

	if (tx == NULL) {
		reply(s, "503 5.5.1 need MAIL command");
		return;
	}
	if (smtp_path_parse(args, "TO:", &p, err, sizeof(err)) < 0) {
		reply(s, "501 5.5.4 RCPT syntax: %s", err);
		return;
	}
	if (p.addr[0] == '\0') {
		reply(s, "501 5.1.3 empty recipient");
		return;
	}
	params[0] = '\0';
	for (size_t i = 0; i < p.nparams; i++) {
		const struct smtp_param *pr = &p.params[i];
		size_t n = strlen(params);

		if (!(s->nh && s->nh_dsn) ||
		    (strcmp(pr->name, "NOTIFY") != 0 && strcmp(pr->name, "ORCPT") != 0)) {
			reply(s, "555 5.5.4 unsupported RCPT parameter %.32s", pr->name);
			return;
		}
		snprintf(params + n, sizeof(params) - n, " %s=%s", pr->name, pr->value);
	}
	if (tx->nrcpts >= s->lc->max_recipients) {
		reply(s, "452 4.5.3 too many recipients");
		return;
	}
	tx->rcpts = xrealloc(tx->rcpts, (tx->nrcpts + 1) * sizeof(*tx->rcpts));
	tx->rcpts[tx->nrcpts] = xstrdup(p.addr);
	tx->rcpt_tries++;
	if (s->nh == NULL) {
		tx->nrcpts++;
		reply(s, "250 2.1.5 Ok");
		return;
	}
	snprintf(line, sizeof(line), "RCPT TO:<%s>%s", p.addr, params);
	nh_forward(s, V_RCPT, line);
}

static void
cmd_data(struct session *s, const char *args)
{
	struct tx *tx = s->tx;

	if (*args) {
		reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (tx == NULL) {
		reply(s, "503 5.5.1 need MAIL command");
		return;
	}
	if (tx->nrcpts == 0) {
		reply(s, "554 5.5.1 no valid recipients");
		return;
	}
	tx->spool = spool_new(s->rt->conf.spool_dir, (size_t)s->lc->memory_spool);
	smtp_data_rx_init(&tx->rx);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	session_enter_state(s, S_DATA);
	client_timeouts(s);
}

static void
cmd_rset(struct session *s)
{
	tx_reset(s);
	memset(&s->xf, 0, sizeof(s->xf));
	if (s->nh && s->nh_in_tx) {
		nh_forward(s, V_RSET, "RSET");
		return;
	}
	reply(s, "250 2.0.0 Ok");
}

static void
cmd_starttls(struct session *s, const char *args)
{
	SSL_CTX *ctx = s->rt->server_tls[s->lidx];
	struct bufferevent *tb;
	evutil_socket_t fd;
	SSL *ssl;

	if (ctx == NULL) {
		reply(s, "502 5.5.1 STARTTLS not offered");
		return;
	}
	if (s->tls) {
		reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (*args) {
		reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if ((ssl = SSL_new(ctx)) == NULL) {
		reply(s, "454 4.7.0 TLS not available");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	/* Commands pipelined behind STARTTLS were sent in the clear: drop them
	 * (the STARTTLS command injection attack). */
	evbuffer_drain(bufferevent_get_input(s->bev),
	               evbuffer_get_length(bufferevent_get_input(s->bev)));
	/* TLS directly on the socket (not a filter over the old
	 * bufferevent): the old one lets go of the fd, which the TLS one
	 * takes over, so EOF and errors reach us as on a plain connection. */
	fd = bufferevent_getfd(s->bev);
	/* Detaching the fd also thaws the output buffer; what is still in
	 * it (the 220, maybe earlier replies) goes out in the clear now, by
	 * hand: a few hundred bytes, bounded by a short poll. */
	bufferevent_setfd(s->bev, -1);
	{
		struct evbuffer *out = bufferevent_get_output(s->bev);
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};

		for (int tries = 0; evbuffer_get_length(out) > 0 && tries < 50; tries++) {
			if (evbuffer_write(out, fd) < 0 && errno != EAGAIN && errno != EINTR)
				break;
			if (evbuffer_get_length(out) > 0)
				poll(&pfd, 1, 20);
		}
	}
	bufferevent_free(s->bev);
	tb = bufferevent_openssl_socket_new(s->px->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                    BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL) {
		SSL_free(ssl);
		close(fd);
		s->bev = bufferevent_socket_new(s->px->base, -1, 0);
		session_close(s, "tls-setup");
		return;
	}
	s->bev = tb;
	/* A client that closes without close_notify has just gone away. */
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_set_max_single_read(s->bev, 256 * 1024);
	s->tls = 1;
	s->helo_seen = 0;
	s->esmtp = 0;
	tx_reset(s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIGH_MARK);
	bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
	client_timeouts(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* Decodes xtext (RFC 3461) into out; "[UNAVAILABLE]" and
 * "[TEMPUNAVAIL]" become "". */
static void
xtext_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t j = 0;

	if ((len == 13 && strncmp(in, "[UNAVAILABLE]", 13) == 0) ||
	    (len == 13 && strncmp(in, "[TEMPUNAVAIL]", 13) == 0))
		len = 0;
	for (size_t i = 0; i < len && j + 1 < cap; i++) {
		if (in[i] == '+' && i + 2 < len && hexval(in[i + 1]) >= 0 &&
		    hexval(in[i + 2]) >= 0) {
			int ch = hexval(in[i + 1]) << 4 | hexval(in[i + 2]);

			out[j++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
			i += 2;
		} else
			out[j++] = in[i];
	}
	out[j] = '\0';
}

/* XFORWARD from an authorized client: remembers the original client. */
static void
cmd_xforward(struct session *s, const char *args)
{
	const char *p = args;

	if (s->tx) {
		reply(s, "503 5.5.1 XFORWARD not allowed inside a transaction");
		return;
	}
	if (*p == '\0') {
		reply(s, "501 5.5.4 Syntax: XFORWARD attribute=value...");
		return;
	}
	while (*p) {
		const char *eq = strchr(p, '='), *end;
		size_t klen, vlen;
		char val[256];

		if (eq == NULL) {
			reply(s, "501 5.5.4 bad XFORWARD attribute");
			return;
		}
		klen = (size_t)(eq - p);
		end = eq + 1 + strcspn(eq + 1, " ");
		vlen = (size_t)(end - eq - 1);
		xtext_decode(eq + 1, vlen, val, sizeof(val));
		if (klen == 4 && strncasecmp(p, "NAME", 4) == 0)
			snprintf(s->xf.name, sizeof(s->xf.name), "%s", val);
		else if (klen == 4 && strncasecmp(p, "ADDR", 4) == 0) {
			const char *a = strncasecmp(val, "IPV6:", 5) == 0 ? val + 5 : val;
			struct cidr c;

			/* Only a real address: it is used for direction and logs. */
			if (a[0] && cidr_parse(a, &c) == 0 && !strchr(a, '/'))
				snprintf(s->xf.addr, sizeof(s->xf.addr), "%.63s", a);
		} else if (klen == 4 && strncasecmp(p, "PORT", 4) == 0)
			s->xf.port = (unsigned)strtoul(val, NULL, 10) & 0xffff;
		else if (klen == 5 && strncasecmp(p, "PROTO", 5) == 0)
			snprintf(s->xf.proto, sizeof(s->xf.proto), "%.15s", val);
		else if (klen == 4 && strncasecmp(p, "HELO", 4) == 0)
			snprintf(s->xf.helo, sizeof(s->xf.helo), "%s", val);
		/* IDENT, SOURCE and unknown attributes are accepted and ignored. */
		p = end;
		while (*p == ' ')
			p++;
	}
	s->xf.set = 1;
	reply(s, "250 2.0.0 Ok");
}

/* Dispatches one command line. */
static void
session_command(struct session *s, char *line, size_t len)
{
	const struct smtp_cmd_info *ci;
	const char *args;

	s->ncmds++;
	if (memchr(line, '\0', len) != NULL) {
		slog_warnx(s, "NUL in command");
		reply(s, "500 5.5.2 NUL character in command");
		return;
	}
	ci = smtp_cmd_lookup(line, &args);
	slog_debug(s, "command %.100s", line);
	if (ci->verb == V_XFORWARD && s->xforward_ok) {
		cmd_xforward(s, args);
		return;
	}
	if (ci->verb == V_BDAT) {
		/* Its chunk follows at once and would be read as commands. */
		session_goodbye(s, "502 5.5.1 CHUNKING not offered, closing");
		return;
	}
	if (ci->flags & CMD_NOT_OFFERED) {
		reply(s, "502 5.5.1 %s not offered", ci->name);
		return;
	}
	if ((ci->flags & CMD_NEEDS_HELO) && !s->helo_seen) {
		reply(s, "503 5.5.1 send HELO or EHLO first");
		return;
	}
	switch (ci->verb) {
	case V_HELO:
		cmd_helo(s, args, 0);
		break;
	case V_EHLO:
		cmd_helo(s, args, 1);
		break;
	case V_MAIL:
		cmd_mail(s, args);
		break;
	case V_RCPT:
		cmd_rcpt(s, args);
		break;
	case V_DATA:
		cmd_data(s, args);
		break;
	case V_RSET:
		cmd_rset(s);
		break;
	case V_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case V_QUIT:
		if (s->nh && !smtp_client_failed(s->nh))
			smtp_client_command(s->nh, "QUIT", NULL, NULL);
		s->close_reason = "quit";
		session_goodbye(s, "221 2.0.0 %s closing connection", s->hostname);
		break;
	case V_VRFY:
		reply(s, "252 2.1.5 cannot verify, send some mail");
		break;
	case V_HELP:
		reply(s, "214 2.0.0 https://www.rfc-editor.org/rfc/rfc5321");
		break;
	case V_STARTTLS:
		cmd_starttls(s, args);
		break;
	default:
		slog_debug(s, "unknown command %.40s", line);
		reply(s, "500 5.5.2 command unrecognized");
		break;
	}
}

/* -------------------------------------------------------------- DATA in */

static int
data_emit(void *arg, const char *buf, size_t len)
{
	struct tx *tx = arg;

	if (tx->too_big || tx->spool_errno)
		return 0;
	if (spool_write(tx->spool, buf, len) < 0)
		tx->spool_errno = errno ? errno : EIO;
	return 0;
}

static void message_done(struct session *s);

/* Feeds client bytes to the DATA parser; returns 1 at the end of the message. */
static int
session_data(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct tx *tx = s->tx;

	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		size_t used;
		int done = 0;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		used = smtp_data_rx_push(&tx->rx, v.iov_base, v.iov_len, data_emit, tx, &done);
		evbuffer_drain(in, used);
		if (!tx->too_big && spool_size(tx->spool) > s->lc->max_message_size)
			tx->too_big = 1;
		if (done) {
			message_done(s);
			return 1;
		}
	}
	return 0;
}

/* --------------------------------------------------------- client reading */

static void
session_process(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (!s->closing && (s->state == S_CMD || s->state == S_DATA)) {
		struct evbuffer_ptr eol;
		size_t eol_len = 0, len;
		char *line;

		if (s->state == S_DATA) {
			if (!session_data(s))
				return;
			continue;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0) {
			len = evbuffer_get_length(in);
			if (len > s->lc->max_line_length) {
				if (!s->skip_line) {
					slog_warnx(s, "command line too long, over %u bytes",
					           s->lc->max_line_length);
					reply(s, "500 5.5.2 line too long");
				}
				s->skip_line = 1;
				evbuffer_drain(in, len);
			}
			return;
		}
		len = (size_t)eol.pos;
		line = xmalloc(len + 1);
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol_len);
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (s->skip_line) {
			s->skip_line = 0;
			free(line);
			continue;
		}
		if (len > s->lc->max_line_length) {
			slog_warnx(s, "command line too long: %u bytes", (unsigned)len);
			reply(s, "500 5.5.2 line too long");
		} else
			session_command(s, line, len);
		free(line);
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_ERROR) {
		unsigned long e;

		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			char buf[256];

			ERR_error_string_n(e, buf, sizeof(buf));
			slog_info(s, "tls error=\"%s\"", buf);
		}
	}
	if (what & BEV_EVENT_CONNECTED)
		return; /* TLS handshake with the client done */
	if (s->state == S_DATA)
		slog_warnx(s, "client gone during DATA: nothing forwarded");
	if (what & BEV_EVENT_TIMEOUT) {
		slog_info(s, "timeout state=%s", state_names[s->state]);
		if (s->close_reason == NULL)
			s->close_reason = "timeout";
		if (s->state != S_CLOSING) {
			session_goodbye(s, "421 4.4.2 %s timeout", s->hostname);
			return;
		}
	}
	session_close(s, what & BEV_EVENT_EOF ? "eof" : "error");
}

/* -------------------------------------------------------- the decision job */

struct job {
	struct proxy *px;
	uint64_t sid;
	struct runtime *rt;
	struct tx *tx;
	const char *hostname;
	char *maildir;   /* Maildir next hop, or NULL */
	char client[96]; /* "[addr]:port" */
	char helo[256];
	char listener[64];
	char next_hop[128];
	int have_nh_sa;
	struct sockaddr_storage nh_sa;
	struct sockaddr_storage peer;
	int listener_dir;
};

/* Header lines for the delivered copy. */
static char *
make_prepend(const struct job *j, const struct tx *tx)
{
	const struct dir_policy *dp = &j->rt->policy.dir[tx->dir];
	char *names, *h;

	if (!dp->add_headers && tx->dec.cause == NULL)
		return NULL;
	names = verdict_names(&tx->verdict);
	if (tx->dec.cause)
		h = xasprintf("X-Virus-Scanned: Portcullis %s on %s\r\n"
		              "X-Virus-Status: not scanned (%s)\r\n"
		              "X-Portcullis-Unscanned: %s\r\n",
		              PORTCULLIS_VERSION, j->hostname, tx->dec.cause_detail,
		              tx->dec.cause_detail);
	else if (tx->verdict.status == SCAN_INFECTED)
		h = xasprintf("X-Virus-Scanned: Portcullis %s on %s\r\n"
		              "X-Virus-Status: %s (%s)\r\n",
		              PORTCULLIS_VERSION, j->hostname,
		              tx->dec.action == ACT_PASS ? "infected" : "cleaned", names);
	else
		h = xasprintf("X-Virus-Scanned: Portcullis %s on %s\r\n"
		              "X-Virus-Status: clean\r\n",
		              PORTCULLIS_VERSION, j->hostname);
	free(names);
	return h;
}

static const char *
action_past(int action)
{
	switch (action) {
	case ACT_DROP:
		return "dropped";
	case ACT_QUARANTINE:
		return "quarantined";
	case ACT_STRIP:
		return "delivered without the infected parts";
	case ACT_REPLACE:
		return "delivered with the infected parts replaced by a report";
	default:
		return "handled";
	}
}

/* The original Subject, read once and only when a notice or a report
 * needs it (parsing headers is not free on the hot path). */
static const char *
tx_subject(struct tx *tx)
{
	if (!tx->subject_read) {
		notify_subject_of(spool_fd(tx->spool), spool_size(tx->spool), tx->subject,
		                  sizeof(tx->subject));
		tx->subject_read = 1;
	}
	return tx->subject;
}

/* Adds one notice; an address notify refuses (from the wire) is skipped. */
static void
add_notice(struct job *j, struct tx *tx, const char *which, const struct notify_vars *v,
           const char *from, const char *to)
{
	char *msg = notify_message(j->rt->templates, which, v, from, to);

	if (msg == NULL) {
		char safe[128];

		sanitize(to, safe, sizeof(safe), SAN_VALUE);
		log_warnx("no %s notice to <%s>: not an address notices can go to", which, safe);
		return;
	}
	tx->notices = xrealloc(tx->notices, (tx->nnotices + 1) * sizeof(char *));
	tx->notify_to = xrealloc(tx->notify_to, (tx->nnotices + 1) * sizeof(char *));
	tx->notices[tx->nnotices] = msg;
	tx->notify_to[tx->nnotices] = xstrdup(to);
	tx->nnotices++;
}

/* Builds the notices this action calls for (worker side). */
static void
make_notices(struct job *j, struct tx *tx)
{
	const struct dir_policy *dp = &j->rt->policy.dir[tx->dir];
	struct notify_vars v;
	char rcpts[2048] = "", date[64], from[300];
	char *names = verdict_names(&tx->verdict);
	time_t now = time(NULL);
	struct tm tm;
	const char *nfrom = j->rt->conf.notify_from;

	if (strchr(nfrom, '@'))
		snprintf(from, sizeof(from), "%s", nfrom);
	else
		snprintf(from, sizeof(from), "%s@%s", nfrom, j->hostname);
	for (size_t i = 0; i < tx->nrcpts; i++)
		snprintf(rcpts + strlen(rcpts), sizeof(rcpts) - strlen(rcpts), "%s%s",
		         i ? ", " : "", tx->rcpts[i]);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
	memset(&v, 0, sizeof(v));
	/* Only a quarantined message has an ID to ask for. */
	v.id = tx->qid[0] ? tx->qid : "none (the message was not kept)";
	v.virus = names[0] ? names : tx->dec.cause_detail;
	v.from = tx->mail_from[0] ? tx->mail_from : "<>";
	v.rcpts = rcpts;
	v.subject = tx_subject(tx);
	v.date = date;
	v.action = action_past(tx->dec.action);
	v.client = j->client;
	v.hostname = j->hostname;
	v.release_hint = tx->qid[0] ? j->rt->conf.quarantine_release_hint
	                            : "The message was not kept, so it cannot be released.";
	v.direction = direction_name(tx->dir);

#define ADD_NOTICE(which, to) add_notice(j, tx, which, &v, from, to)

	if (dp->notify_recipient)
		for (size_t i = 0; i < tx->nrcpts; i++)
			ADD_NOTICE(NOTIFY_RECIPIENT, tx->rcpts[i]);
	if (dp->notify_sender && tx->mail_from[0])
		ADD_NOTICE(NOTIFY_SENDER, tx->mail_from);
	if (dp->notify_admin && dp->notify_admin[0])
		ADD_NOTICE(NOTIFY_ADMIN, dp->notify_admin);
#undef ADD_NOTICE
	free(names);
}

static void
job_quarantine(struct job *j, struct tx *tx)
{
	struct q_meta m;
	char *names = verdict_names(&tx->verdict);

	memset(&m, 0, sizeof(m));
	m.direction = direction_name(tx->dir);
	m.listener = j->listener;
	m.next_hop = j->next_hop;
	m.client_addr = j->client;
	m.helo = j->helo;
	m.mail_from = tx->mail_from;
	m.rcpts = (const char *const *)tx->rcpts;
	m.nrcpts = tx->nrcpts;
	m.virus_names = names[0] ? names : tx->dec.cause_detail;
	m.status = scan_status_name(tx->verdict.status);
	m.action = "quarantine";
	if (quarantine_store(j->rt->quarantine, &m, spool_fd(tx->spool), spool_size(tx->spool),
	                     tx->qid, &tx->store_err) < 0)
		tx->qid[0] = '\0';
	free(names);
}

/* strip/replace into tx->out; 0, or -1 (the caller quarantines instead). */
static int
job_rewrite(struct job *j, struct tx *tx)
{
	struct rewrite_target *t = NULL;
	struct notify_vars v;
	struct scan_verdict again;
	size_t n = 0;
	int rc = -1;

	if (rewrite_targets_from_verdict(&tx->verdict, SCAN_ROOT, &t, &n) < 0)
		return -1;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
	memset(&v, 0, sizeof(v));
	v.hostname = j->hostname;
	v.from = tx->mail_from;
	v.subject = tx_subject(tx);
	v.date = date;
	v.client = j->client;
	v.direction = direction_name(tx->dir);
	tx->out = spool_new(j->rt->conf.spool_dir, 1 << 20);
	if (spool_fd(tx->out) >= 0 &&
	    rewrite_parts(spool_fd(tx->spool), spool_size(tx->spool), t, n,
	                  tx->dec.action == ACT_STRIP ? REWRITE_STRIP : REWRITE_REPLACE,
	                  j->rt->templates, &v, tx->prepend, spool_fd(tx->out), NULL) == 0 &&
	    spool_sync_size(tx->out) == 0) {
		/* The rewritten copy must be clean itself. */
		verdict_init(&again);
		lseek(spool_fd(tx->out), 0, SEEK_SET);
		scanner_scan_fd(j->rt->scanner, spool_fd(tx->out), SCAN_ROOT, &again);
		rc = again.status == SCAN_CLEAN ? 0 : -1;
		if (rc < 0)
			log_warnx("rewrite: the rewritten message is not clean (%s): quarantining",
			          scan_status_name(again.status));
		verdict_clear(&again);
	}
	rewrite_targets_free(t, n);
	if (rc < 0) {
		spool_free(tx->out);
		tx->out = NULL;
	}
	return rc;
}

/* Delivers into the Maildir next hop (worker side): the message when
 * deliver is set, and the notices. */
static void
job_maildir(struct job *j, struct tx *tx, int deliver)
{
	const struct spool *sp = tx->out ? tx->out : tx->spool;
	const char *prepend = tx->out ? NULL : tx->prepend;

	if (deliver && maildir_deliver(j->maildir, spool_fd(sp), spool_size(sp), prepend,
	                               tx->delivered, sizeof(tx->delivered), &tx->store_err) < 0)
		tx->delivered[0] = '\0';
	for (size_t i = 0; i < tx->nnotices; i++) {
		int fd = memfd_create("notice", MFD_CLOEXEC), cls;
		char name[128];
		size_t len = strlen(tx->notices[i]);

		if (fd < 0 || write(fd, tx->notices[i], len) != (ssize_t)len ||
		    maildir_deliver(j->maildir, fd, len, NULL, name, sizeof(name), &cls) < 0)
			log_warnx("notice to %s could not be delivered", tx->notify_to[i]);
		if (fd >= 0)
			close(fd);
	}
}

static void
job_run(void *arg)
{
	struct job *j = arg;
	struct tx *tx = j->tx;
	int fd = spool_fd(tx->spool);

	lseek(fd, 0, SEEK_SET);
	scanner_scan_fd(j->rt->scanner, fd, SCAN_ROOT, &tx->verdict);
	tx->dir = policy_direction(
	    &j->rt->policy, j->listener_dir, j->have_nh_sa ? (struct sockaddr *)&j->nh_sa : NULL,
	    (struct sockaddr *)&j->peer, (const char *const *)tx->rcpts, tx->nrcpts);
	policy_decide(&j->rt->policy, tx->dir, &tx->verdict, &tx->dec);
	if (tx->dec.action == ACT_PASS)
		tx->prepend = make_prepend(j, tx);
	if (tx->dec.action == ACT_STRIP || tx->dec.action == ACT_REPLACE) {
		tx->prepend = make_prepend(j, tx);
		if (job_rewrite(j, tx) < 0)
			tx->dec.action = ACT_QUARANTINE;
	}
	if (tx->dec.action == ACT_QUARANTINE)
		job_quarantine(j, tx);
	if (tx->dec.action == ACT_QUARANTINE || tx->dec.action == ACT_DROP ||
	    tx->dec.action == ACT_STRIP || tx->dec.action == ACT_REPLACE) {
		if (!(tx->dec.action == ACT_QUARANTINE && tx->qid[0] == '\0'))
			make_notices(j, tx);
	}
	if (j->maildir)
		job_maildir(j, tx,
		            tx->dec.action == ACT_PASS || tx->dec.action == ACT_STRIP ||
		                tx->dec.action == ACT_REPLACE);
}

/* ------------------------------------------------------ after the decision */

static void send_notices(struct session *s, struct tx *tx);

/*
 * Logs the transaction's one line (with the reply's first line), sends the
 * client that reply (r, or text when r is NULL), sends the notices and ends
 * the transaction.
 */
static void
tx_log_reply(struct session *s, const struct smtp_reply *r, const char *text)
{
	struct tx *tx = s->tx;
	char sum[512], *names;

	if (r)
		reply_summary(r, sum, sizeof(sum));
	else
		snprintf(sum, sizeof(sum), "%s", text);
	names = verdict_names(&tx->verdict);
	slog_info(s,
	          "message from=<%s> rcpts=%zu size=%llu direction=%s status=%s names=%s "
	          "action=%s%s%s reply=\"%s\"",
	          tx->mail_from, tx->nrcpts, (unsigned long long)spool_size(tx->spool),
	          direction_name(tx->dir), scan_status_name(tx->verdict.status),
	          names[0] ? names : "-", policy_action_name(tx->dec.action),
	          tx->qid[0] ? " qid=" : "", tx->qid, sum);
	free(names);
	if (r)
		reply_relay(s, r);
	else
		reply(s, "%s", text);
	if (tx->nnotices && s->nh)
		send_notices(s, tx);
	tx_reset(s);
	memset(&s->xf, 0, sizeof(s->xf)); /* XFORWARD lasts one transaction */
}

/* tx_log_reply() with our own text, then the client has the turn again. */
static void
tx_finish_reply(struct session *s, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tx_log_reply(s, NULL, text);
	client_resume(s);
}

static void
nh_final_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;

	s->nh_in_tx = 0;
	if (r->code == 0) {
		tx_log_reply(s, NULL, "451 4.4.1 next hop failed: message not delivered");
		session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
		return;
	}
	tx_log_reply(s, r, NULL);
	client_resume(s);
}

static void
nh_data_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;
	struct tx *tx = s->tx;

	if (r->code != 354) {
		nh_final_cb(s, r);
		return;
	}
	smtp_client_body(s->nh, tx->out ? NULL : tx->prepend, tx->out ? tx->out : tx->spool,
	                 nh_final_cb, s);
}

static void
nh_rset_then_reply_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;
	char *text = (char *)s->tx->prepend; /* the reply, parked here */

	s->nh_in_tx = 0;
	s->tx->prepend = NULL;
	tx_finish_reply(s, "%s", text);
	free(text);
}

/* Ends a transaction the next hop should not get: RSET there, then reply. */
static void tx_abort_and_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tx_abort_and_reply(struct session *s, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		fatalx("out of memory");
	va_end(ap);
	if (s->nh && s->nh_in_tx && !smtp_client_failed(s->nh)) {
		free(s->tx->prepend);
		s->tx->prepend = text;
		smtp_client_command(s->nh, "RSET", nh_rset_then_reply_cb, s);
		return;
	}
	tx_finish_reply(s, "%s", text);
	free(text);
}

static void
job_done(void *arg)
{
	struct job *j = arg;
	struct session *s = session_find(j->px, j->sid);
	struct tx *tx = j->tx;
	char *names;

	if (s == NULL) {
		/* The client went away: nothing was answered, nothing is lost
		 * that the client still counts on. */
		tx_free(tx);
		goto out;
	}
	s->tx = tx;
	names = verdict_names(&tx->verdict);
	if (tx->dec.action == ACT_PASS && tx->dec.cause)
		slog_warnx(s, "passing a message that was not scanned whole: %s (policy says pass)",
		           tx->dec.cause_detail);
	switch (tx->dec.action) {
	case ACT_PASS:
	case ACT_STRIP:
	case ACT_REPLACE:
		if (j->maildir) {
			if (tx->delivered[0])
				tx_finish_reply(s, "250 2.0.0 Ok: delivered as %s", tx->delivered);
			else if (tx->store_err == STORE_ERR_NOSPACE)
				tx_finish_reply(s, "452 4.3.1 insufficient system storage");
			else
				tx_finish_reply(s, "451 4.3.0 local delivery failed");
			break;
		}
		session_enter_state(s, S_DELIVER);
		smtp_client_command(s->nh, "DATA", nh_data_cb, s);
		break;
	case ACT_REJECT:
		if (tx->dec.cause)
			tx_abort_and_reply(s, "554 5.7.0 message not scanned: %s",
			                   tx->dec.cause_detail);
		else
			tx_abort_and_reply(s, "550 5.7.1 message rejected: virus found (%s)",
			                   names);
		break;
	case ACT_DROP:
		tx_abort_and_reply(s, "250 2.0.0 message dropped: virus found (%s)", names);
		break;
	case ACT_QUARANTINE:
		if (tx->qid[0])
			tx_abort_and_reply(s, "250 2.0.0 message quarantined as %s", tx->qid);
		else if (tx->store_err == STORE_ERR_NOSPACE)
			tx_abort_and_reply(s, "452 4.3.1 insufficient system storage");
		else
			tx_abort_and_reply(s, "451 4.3.0 quarantine failed, try again later");
		break;
	case ACT_TEMPFAIL:
	default:
		tx_abort_and_reply(s, "451 4.7.0 message not scanned: %s", tx->dec.cause_detail);
		break;
	}
	free(names);
out:
	runtime_unref(j->rt);
	free(j->maildir);
	free(j);
}

/* The client's final dot. */
static void
message_done(struct session *s)
{
	struct tx *tx = s->tx;
	struct job *j;

	client_pause(s, S_WORK);
	if (tx->too_big) {
		tx_abort_and_reply(s, "552 5.3.4 message size exceeds fixed limit");
		return;
	}
	if (tx->spool_errno || spool_fd(tx->spool) < 0) {
		int nospace = tx->spool_errno == ENOSPC || tx->spool_errno == EDQUOT;

		slog_warnx(s, "spool failed: %s",
		           strerror(tx->spool_errno ? tx->spool_errno : EIO));
		if (nospace)
			tx_abort_and_reply(s, "452 4.3.1 insufficient system storage");
		else
			tx_abort_and_reply(s, "451 4.3.0 local error in processing");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->px = s->px;
	j->sid = s->id;
	j->rt = runtime_ref(s->rt);
	j->tx = tx;
	j->hostname = s->hostname;
	j->maildir = s->maildir ? xstrdup(s->maildir) : NULL;
	{
		/* The original client when an authorized XFORWARD named it. */
		const char *a = s->xf.set && s->xf.addr[0] ? s->xf.addr : s->peer_addr;
		unsigned port = s->xf.set && s->xf.addr[0] ? s->xf.port : s->peer_port;
		char hp[96];

		snprintf(j->client, sizeof(j->client), "%s%s%s:%u", strchr(a, ':') ? "[" : "", a,
		         strchr(a, ':') ? "]" : "", port);
		snprintf(hp, sizeof(hp), "%s%s%s:%u", strchr(a, ':') ? "[" : "", a,
		         strchr(a, ':') ? "]" : "", port ? port : 1);
		j->peer = s->peer;
		if (a != s->peer_addr) {
			socklen_t sl;

			hostport_parse(hp, &j->peer, &sl);
		}
	}
	snprintf(j->helo, sizeof(j->helo), "%s", s->helo);
	snprintf(j->listener, sizeof(j->listener), "%s", s->l->name);
	snprintf(j->next_hop, sizeof(j->next_hop), "%s", s->lc->next_hop);
	j->have_nh_sa = s->nh != NULL;
	j->nh_sa = s->nh_sa;
	j->listener_dir = s->lc->direction;
	s->tx = NULL; /* lent to the job */
	workq_submit(s->px->wq, job_run, job_done, j);
}

/* ------------------------------------------------------------- notices */

/* One notice on its own next-hop connection; frees itself when done. */
struct notice {
	struct proxy *px;
	struct notice *prev, *next;
	struct smtp_client *c;
	struct spool *body;
	char *to;
	char *hostname;
	int step;
};

static void notice_step(void *arg, const struct smtp_reply *r);

static void
notice_free(struct notice *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		n->px->notices = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->px->nnotices--;
	smtp_client_free(n->c);
	spool_free(n->body);
	free(n->to);
	free(n->hostname);
	free(n);
}

static void
notice_step(void *arg, const struct smtp_reply *r)
{
	struct notice *n = arg;
	char line[SMTP_PATH_MAX + 32];
	int ok = r->code >= 200 && r->code < 400;

	if (!ok) {
		char sum[256];

		reply_summary(r, sum, sizeof(sum));
		log_warnx("notice to <%s> failed at step %d: %s", n->to, n->step, sum);
		notice_free(n);
		return;
	}
	switch (n->step++) {
	case 0:
		snprintf(line, sizeof(line), "EHLO %s", n->hostname);
		smtp_client_command(n->c, line, notice_step, n);
		break;
	case 1:
		smtp_client_command(n->c, "MAIL FROM:<>", notice_step, n);
		break;
	case 2:
		snprintf(line, sizeof(line), "RCPT TO:<%s>", n->to);
		smtp_client_command(n->c, line, notice_step, n);
		break;
	case 3:
		smtp_client_command(n->c, "DATA", notice_step, n);
		break;
	case 4:
		smtp_client_body(n->c, NULL, n->body, notice_step, n);
		break;
	case 5:
		log_info("notice to <%s> sent", n->to);
		smtp_client_command(n->c, "QUIT", notice_step, n);
		break;
	default:
		notice_free(n);
		break;
	}
}

static void
send_notices(struct session *s, struct tx *tx)
{
	char label[80];

	hostport_format((struct sockaddr *)&s->nh_sa, label, sizeof(label));
	for (size_t i = 0; i < tx->nnotices; i++) {
		struct notice *n = xcalloc(1, sizeof(*n));

		n->px = s->px;
		n->next = s->px->notices;
		if (n->next)
			n->next->prev = n;
		s->px->notices = n;
		s->px->nnotices++;
		n->to = xstrdup(tx->notify_to[i]);
		n->hostname = xstrdup(s->hostname);
		n->body = spool_new(s->rt->conf.spool_dir, 1 << 20);
		spool_write(n->body, tx->notices[i], strlen(tx->notices[i]));
		n->c = smtp_client_connect(s->px->base, (struct sockaddr *)&s->nh_sa, s->nh_salen,
		                           label, s->lc->next_hop_timeout_ms, notice_step, n);
	}
}

/* ------------------------------------------------------------- accepting */

static void
proxy_accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen,
                void *arg)
{
	struct smtp_listener *l = arg;
	struct proxy *px = l->px;
	struct session *s = xcalloc(1, sizeof(*s));
	const struct smtp_listener_conf *lc;
	char label[80];

	s->id = ++px->next_id;
	s->px = px;
	s->l = l;
	s->rt = runtime_ref(px->rt);
	lc = runtime_listener(s->rt, l->name, &s->lidx);
	if (lc == NULL) {
		/* Removed by a reload: keep serving with the first listener's
		 * settings until a restart rebinds. */
		lc = &s->rt->conf.listeners[0];
		s->lidx = 0;
	}
	s->lc = lc;
	s->hostname = runtime_hostname(s->rt, lc);
	s->xforward_ok = cidr_list_match(&s->rt->xforward_hosts[s->lidx], sa);
	memcpy(&s->peer, sa, (size_t)salen < sizeof(s->peer) ? (size_t)salen : sizeof(s->peer));
	addr_format(sa, s->peer_addr, sizeof(s->peer_addr));
	s->peer_port = sa->sa_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)sa)->sin6_port)
	                                         : ntohs(((struct sockaddr_in *)sa)->sin_port);
	s->reap_ev = evtimer_new(px->base, session_reap, s);
	s->linger_ev = evtimer_new(px->base, session_linger, s);
	/* Replies are small and answer the client's turn: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	s->bev = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL || s->reap_ev == NULL)
		fatalx("out of memory (session)");
	s->hnext = *table_slot(px, s->id);
	*table_slot(px, s->id) = s;
	px->nsessions++;
	l->nsessions++;
	bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIGH_MARK);
	bufferevent_set_max_single_read(s->bev, 256 * 1024);
	bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
	bufferevent_enable(s->bev, EV_WRITE);
	slog_info(s, "connect client=%s%s%s:%u listener=%s", strchr(s->peer_addr, ':') ? "[" : "",
	          s->peer_addr, strchr(s->peer_addr, ':') ? "]" : "", s->peer_port, l->name);
	if (l->nsessions > lc->max_sessions) {
		slog_warnx(s, "too many sessions on listener %s (max_sessions=%u)", l->name,
		           lc->max_sessions);
		session_goodbye(s, "421 4.7.0 %s too many sessions, try again later", s->hostname);
		return;
	}
	if (strncmp(lc->next_hop, "maildir:", 8) == 0) {
		s->maildir = xstrdup(lc->next_hop + 8);
		reply(s, "220 %s ESMTP Portcullis", s->hostname);
		client_resume(s);
		return;
	}
	hostport_parse(lc->next_hop + 5, &s->nh_sa, &s->nh_salen);
	hostport_format((struct sockaddr *)&s->nh_sa, label, sizeof(label));
	session_enter_state(s, S_CONNECTING);
	s->nh = smtp_client_connect(px->base, (struct sockaddr *)&s->nh_sa, s->nh_salen, label,
	                            lc->next_hop_timeout_ms, nh_banner_cb, s);
}

struct smtp_listener *
proxy_listen(struct proxy *px, const struct smtp_listener_conf *lc, char **err)
{
	struct sockaddr_storage ss;
	struct smtp_listener *l;
	socklen_t len;
	int fd, one = 1;

	if (hostport_parse(lc->listen, &ss, &len) < 0) {
		*err = xasprintf("[%s] listen = %s: not an address", lc->name, lc->listen);
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = xasprintf("socket: %s", strerror(errno));
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
		*err = xasprintf("[%s] cannot listen on %s: %s", lc->name, lc->listen,
		                 strerror(errno));
		close(fd);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->px = px;
	l->name = xstrdup(lc->name);
	l->listen = xstrdup(lc->listen);
	l->evl = evconnlistener_new(px->base, proxy_accept_cb, l, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (l->evl == NULL)
		fatalx("evconnlistener_new failed");
	l->next = px->listeners;
	px->listeners = l;
	return l;
}

void
proxy_stop_listening(struct proxy *px)
{
	for (struct smtp_listener *l = px->listeners; l; l = l->next)
		if (l->evl) {
			evconnlistener_free(l->evl);
			l->evl = NULL;
		}
}

unsigned
proxy_sessions(const struct proxy *px)
{
	return px->nsessions + px->nnotices;
}

char *
proxy_listeners_describe(const struct proxy *px)
{
	char *s = xstrdup("");

	for (const struct smtp_listener *l = px->listeners; l; l = l->next) {
		char *t = xasprintf("%s%s%s@%s", s, s[0] ? "," : "", l->name, l->listen);

		free(s);
		s = t;
	}
	return s;
}

struct proxy *
proxy_new(struct event_base *base, struct workq *wq)
{
	struct proxy *px = xcalloc(1, sizeof(*px));

	px->base = base;
	px->wq = wq;
	return px;
}

void
proxy_set_runtime(struct proxy *px, struct runtime *rt)
{
	struct runtime *old = px->rt;

	/* Sockets are bound once, as root: say what a reload cannot change. */
	for (const struct smtp_listener *l = px->listeners; l; l = l->next) {
		const struct smtp_listener_conf *lc = runtime_listener(rt, l->name, NULL);

		if (lc == NULL)
			log_warnx("listener %s is no longer configured: it keeps running with the "
			          "first listener's settings until a restart",
			          l->name);
		else if (strcmp(lc->listen, l->listen) != 0)
			log_warnx("listener %s: listen = %s takes a restart; still on %s", l->name,
			          lc->listen, l->listen);
	}
	for (size_t i = 0; i < rt->conf.nlisteners; i++) {
		const struct smtp_listener *l = px->listeners;

		while (l && strcmp(l->name, rt->conf.listeners[i].name) != 0)
			l = l->next;
		if (l == NULL && px->listeners)
			log_warnx("listener %s is new: it takes a restart",
			          rt->conf.listeners[i].name);
	}

	px->rt = runtime_ref(rt);
	runtime_unref(old);
}

struct runtime *
proxy_runtime(struct proxy *px)
{
	return px->rt;
}

void
proxy_free(struct proxy *px)
{
	if (px == NULL)
		return;
	for (size_t i = 0; i < SESS_BUCKETS; i++)
		while (px->table[i])
			session_free(px->table[i]);
	while (px->notices) {
		log_warnx("notice to <%s> not sent: stopping", px->notices->to);
		notice_free(px->notices);
	}
	proxy_stop_listening(px);
	while (px->listeners) {
		struct smtp_listener *l = px->listeners;

		px->listeners = l->next;
		free(l->name);
		free(l->listen);
		free(l);
	}
	runtime_unref(px->rt);
	free(px);
}

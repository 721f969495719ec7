/*
 * smtp_message: a message from the client's DATA to the reply to its
 * final dot. Owns the DATA intake into the transaction's spool, the worker
 * job that lends the transaction to the inspection path (and, for a
 * Maildir next hop, delivers there), and the reply after the decision:
 * the next hop's reply to the delivered copy, or our own.
 *
 * The rule that nothing is lost lives here: the reply to the final dot is
 * the next hop's reply to the message it was given, or a 250 for a message
 * stored with fsync (quarantine, Maildir) or dropped by policy, or a
 * 4xx/5xx. A client that leaves gets nothing and loses nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_session.h"
#include "store/maildir.h"
#include "util/cidr.h"
#include "util/metrics.h"
#include "util/xalloc.h"

/* ---------------------------------------------------------------- DATA in */

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

int
session_data(struct session *s)
{
	struct evbuffer *in = conn_input(s->conn);
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

/* ------------------------------------------------------ replying at the end */

/*
 * Logs the transaction's one line (with the reply's first line), sends the
 * client that reply (the next hop's, or text), sends the notices and ends
 * the transaction.
 */
/* A held original whose stripped copy was not accepted: the client will
 * send it again, so this copy must not be released later. */
struct hold_forget {
	struct runtime *rt;
	char id[QUARANTINE_ID_LEN + 1];
};

static void
hold_forget_run(void *arg)
{
	struct hold_forget *f = arg;

	if (f->rt->inspect.hold && quarantine_delete(f->rt->inspect.hold, f->id) == 0)
		log_info("outbreak: held %s deleted: its stripped copy was not delivered", f->id);
}

static void
hold_forget_done(void *arg)
{
	struct hold_forget *f = arg;

	runtime_unref(f->rt);
	free(f);
}

static void
tx_log_reply(struct session *s, enum smtp_status st, const struct smtp_reply *r, const char *text)
{
	struct tx *tx = s->tx;
	const struct inspect_outcome *o = &tx->out;
	const char *dir, *status, *action;
	char sum[512], lb[256];

	if (o->held && o->id[0] &&
	    !(text ? strncmp(text, "250", 3) == 0 : st == SMTP_REPLY && r && r->code / 100 == 2)) {
		struct hold_forget *f = xcalloc(1, sizeof(*f));

		f->rt = runtime_ref(s->rt);
		snprintf(f->id, sizeof(f->id), "%s", o->id);
		workq_submit(s->px->wq, hold_forget_run, hold_forget_done, f);
	}

	if (text)
		snprintf(sum, sizeof(sum), "%s", text);
	else
		reply_summary(s, st, r, sum, sizeof(sum));
	/* inspect_run() always sets names: none means the message was never
	 * scanned (refused before, e.g. too large); the log and the metrics say
	 * so rather than show an empty verdict as clean. */
	dir = o->names ? direction_name(o->dir) : "-";
	status = o->names ? scan_status_name(o->verdict.status) : "unscanned";
	action = o->names ? policy_action_name(o->dec.action) : "-";
	metrics_add("portcullis_messages_total",
	            metrics_labels(lb, sizeof(lb), "protocol", "smtp", "direction", dir, "verdict",
	                           status, "action", action, NULL),
	            1);
	slog_info(s,
	          "message from=<%s> rcpts=%zu size=%llu direction=%s status=%s names=%s "
	          "action=%s%s%s reply=\"%s\"",
	          tx->mail_from, tx->nrcpts, (unsigned long long)spool_size(tx->spool), dir, status,
	          o->names && o->names[0] ? o->names : "-", action, o->id[0] ? " qid=" : "", o->id,
	          sum);
	if (text)
		reply(s, "%s", text);
	else
		reply_relay(s, st, r);
	if (tx->notices.n && s->nh)
		notices_send(s, &tx->notices);
	tx_reset(s);
	memset(&s->xf, 0, sizeof(s->xf)); /* XFORWARD lasts one transaction */
}

/* tx_log_reply() with our own text, then the client has the turn again. */
static void tx_finish_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tx_finish_reply(struct session *s, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tx_log_reply(s, SMTP_REPLY, NULL, text);
	session_resume(s);
}

static void
nh_final_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct session *s = arg;

	if (st != SMTP_REPLY) {
		tx_log_reply(s, st, NULL, "451 4.4.1 next hop failed: message not delivered");
		session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
		return;
	}
	tx_log_reply(s, st, r, NULL);
	session_resume(s);
}

static void
nh_rset_then_reply_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct session *s = arg;
	char *text = s->tx->parked_reply;

	s->tx->parked_reply = NULL;
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
	text = xvasprintf(fmt, ap);
	va_end(ap);
	if (s->nh && nexthop_in_tx(s->nh) && !nexthop_failed(s->nh)) {
		free(s->tx->parked_reply);
		s->tx->parked_reply = text;
		nexthop_rset(s->nh, nh_rset_then_reply_cb, s);
		return;
	}
	tx_finish_reply(s, "%s", text);
	free(text);
}

/* Our reply to a refusal: the class and why give the code. */
static void
reply_refusal(struct session *s, const struct inspect_outcome *o)
{
	switch (o->why) {
	case WHY_INFECTED:
		tx_abort_and_reply(s, "550 5.7.1 message rejected: %s", o->text);
		break;
	case WHY_STORE_FULL:
		tx_abort_and_reply(s, "452 4.3.1 %s", o->text);
		break;
	case WHY_STORE_FAILED:
		tx_abort_and_reply(s, "451 4.3.0 %s", o->text);
		break;
	case WHY_UNSCANNED:
	default:
		if (o->permanent)
			tx_abort_and_reply(s, "554 5.7.0 message %s", o->text);
		else
			tx_abort_and_reply(s, "451 4.7.0 message %s", o->text);
		break;
	}
}

/* ---------------------------------------------------------- the worker job */

struct job {
	struct proxy *px;
	uint64_t sid;
	char log_id[32];
	struct runtime *rt;
	struct tx *tx;
	/* the session's context, copied: the session may go while we work */
	const char *hostname; /* in rt */
	const char *maildir;  /* in rt; NULL for an SMTP next hop */
	char client[96];      /* "[addr]:port" */
	char helo[256];
	char listener[64];
	char next_hop[128];
	int have_nh_sa;
	struct sockaddr_storage nh_sa;
	struct sockaddr_storage peer;
	int listener_dir;
};

/* Worker side: the inspection path, then what a Maildir next hop needs. */
static void
job_run(void *arg)
{
	struct job *j = arg;
	struct tx *tx = j->tx;
	struct inspect_ctx ctx = {
	    .proto = INSPECT_SMTP,
	    .listener = j->listener,
	    .listener_dir = j->listener_dir,
	    .client = (struct sockaddr *)&j->peer,
	    .client_label = j->client,
	    .dest = j->have_nh_sa ? (struct sockaddr *)&j->nh_sa : NULL,
	    .dest_label = j->next_hop,
	    .hostname = j->hostname,
	    .helo = j->helo,
	    .mail_from = tx->mail_from,
	    .rcpts = (const char *const *)tx->rcpts,
	    .nrcpts = tx->nrcpts,
	};
	struct inspect_object obj = {.fd = spool_fd(tx->spool),
	                             .size = spool_size(tx->spool),
	                             .name = SCAN_ROOT,
	                             .message = 1};
	enum inspect_kind k;

	log_context_set(j->log_id);
	inspect_run(&j->rt->inspect, &ctx, &obj, &tx->out);
	k = tx->out.kind;
	if (k == INSPECT_STORED || k == INSPECT_DROPPED || k == INSPECT_DELIVER_COPY ||
	    k == INSPECT_HELD)
		notices_build(&tx->notices, j->rt, &ctx, &obj, &tx->out);
	if (j->maildir) {
		if (k == INSPECT_DELIVER || k == INSPECT_DELIVER_COPY) {
			const struct spool *sp = tx->out.copy ? tx->out.copy : tx->spool;

			if (maildir_deliver(j->maildir, spool_fd(sp), spool_size(sp),
			                    tx->out.copy ? NULL : tx->out.headers, tx->delivered,
			                    sizeof(tx->delivered), &tx->store_err) < 0)
				tx->delivered[0] = '\0';
		}
		notices_deliver(&tx->notices, j->maildir);
	}
	log_context_set(NULL);
}

/* Loop side: the session, found again by id, carries out the outcome. */
static void
job_done(void *arg)
{
	struct job *j = arg;
	struct session *s = session_find(j->px, j->sid);
	struct tx *tx = j->tx;
	const struct inspect_outcome *o = &tx->out;

	if (s == NULL) {
		/* The client went away: nothing was answered, nothing is lost
		 * that the client still counts on. */
		tx_free(tx);
		goto out;
	}
	s->tx = tx;
	switch (o->kind) {
	case INSPECT_DELIVER:
	case INSPECT_DELIVER_COPY:
		if (s->maildir) {
			if (tx->delivered[0])
				tx_finish_reply(s, "250 2.0.0 Ok: delivered as %s", tx->delivered);
			else if (tx->store_err == STORE_ERR_NOSPACE)
				tx_finish_reply(s, "452 4.3.1 insufficient system storage");
			else
				tx_finish_reply(s, "451 4.3.0 local delivery failed");
			break;
		}
		session_enter_state(s, S_DELIVER);
		if (o->kind == INSPECT_DELIVER_COPY)
			nexthop_data(s->nh, NULL, o->copy, nh_final_cb, s);
		else
			nexthop_data(s->nh, o->headers, tx->spool, nh_final_cb, s);
		break;
	case INSPECT_STORED:
		tx_abort_and_reply(s, "250 2.0.0 message quarantined as %s", o->id);
		break;
	case INSPECT_HELD:
		tx_abort_and_reply(s, "250 2.0.0 message held as %s (outbreak alert %s)", o->id,
		                   o->alert);
		break;
	case INSPECT_DROPPED:
		tx_abort_and_reply(s, "250 2.0.0 message dropped: virus found (%s)", o->names);
		break;
	case INSPECT_REFUSE:
		reply_refusal(s, o);
		break;
	}
out:
	runtime_unref(j->rt);
	free(j);
}

/* The original client: where an authorized XFORWARD named it, that one. */
static void
job_client(struct job *j, const struct session *s)
{
	const char *a = s->xf.set && s->xf.addr[0] ? s->xf.addr : conn_peer_addr(s->conn);
	unsigned port = s->xf.set && s->xf.addr[0] ? s->xf.port : conn_peer_port(s->conn);
	const char *lb = strchr(a, ':') ? "[" : "", *rb = strchr(a, ':') ? "]" : "";

	snprintf(j->client, sizeof(j->client), "%s%s%s:%u", lb, a, rb, port);
	memcpy(&j->peer, conn_peer(s->conn), conn_peer_len(s->conn));
	if (a != conn_peer_addr(s->conn)) {
		char hp[96];
		socklen_t sl;

		snprintf(hp, sizeof(hp), "%s%s%s:%u", lb, a, rb, port ? port : 1);
		hostport_parse(hp, &j->peer, &sl);
	}
}

/* The client's final dot: the transaction goes to a worker job. */
static void
message_done(struct session *s)
{
	struct tx *tx = s->tx;
	struct job *j;

	session_pause(s, S_WORK);
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
	snprintf(j->log_id, sizeof(j->log_id), "%s", s->log_id);
	j->rt = runtime_ref(s->rt);
	j->tx = tx;
	j->hostname = s->hostname;
	j->maildir = s->maildir;
	job_client(j, s);
	snprintf(j->helo, sizeof(j->helo), "%s", s->helo);
	snprintf(j->listener, sizeof(j->listener), "%s", net_listener_name(s->l));
	snprintf(j->next_hop, sizeof(j->next_hop), "%s", s->lc->next_hop);
	j->have_nh_sa = s->nh != NULL;
	j->nh_sa = s->nh_sa;
	j->listener_dir = s->lc->direction;
	s->tx = NULL; /* lent to the job */
	workq_submit(s->px->wq, job_run, job_done, j);
}

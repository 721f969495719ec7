/*
 * smtp_session: a session's life on the loop. Owns the session struct, its
 * client conn and its next-hop session; starts them when a client
 * connects, reads command lines and DATA bytes in the states that take
 * them, answers, says goodbye, and frees the session from a deferred event,
 * never inside a callback that may still use it. Leaves the commands to
 * smtp_commands.c and the message to smtp_message.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_session.h"
#include "util/cidr.h"
#include "util/sys.h"
#include "util/metrics.h"
#include "util/xalloc.h"

static const char *state_names[] = {"connecting", "cmd",     "nexthop", "data",
                                    "work",       "deliver", "goodbye", "closed"};

void
session_enter_state(struct session *s, enum sess_state st)
{
	if (s->state != st)
		slog_debug(s, "state %s -> %s", state_names[s->state], state_names[st]);
	s->state = st;
}

void
reply(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = conn_output(s->conn);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

void
reply_relay(struct session *s, enum smtp_status st, const struct smtp_reply *r)
{
	char *text;

	if (st != SMTP_REPLY) {
		reply(s, "451 4.4.1 %s", nexthop_error(s->nh));
		return;
	}
	text = smtp_reply_format(r);
	conn_write(s->conn, text, strlen(text));
	free(text);
}

void
reply_summary(struct session *s, enum smtp_status st, const struct smtp_reply *r, char *buf,
              size_t cap)
{
	if (st != SMTP_REPLY)
		snprintf(buf, cap, "%s", s->nh ? nexthop_error(s->nh) : "failed");
	else
		snprintf(buf, cap, "%d%s%s %s", r->code, r->enh[0] ? " " : "", r->enh,
		         r->nlines ? r->lines[0] : "");
}

uint64_t
offered_size(const struct session *s)
{
	uint64_t n = s->lc->max_message_size;

	if (s->nh && nexthop_caps(s->nh)->size && nexthop_caps(s->nh)->size < n)
		n = nexthop_caps(s->nh)->size;
	return n;
}

int
offers(const struct session *s, int nh_has)
{
	return s->nh == NULL || nh_has;
}

void
reply_ehlo(struct session *s)
{
	const struct nexthop_caps *k = s->nh ? nexthop_caps(s->nh) : NULL;

	if (!s->esmtp) {
		reply(s, "250 %s", s->hostname);
		return;
	}
	reply(s, "250-%s", s->hostname);
	if (offers(s, k && k->pipelining))
		reply(s, "250-PIPELINING");
	reply(s, "250-SIZE %llu", (unsigned long long)offered_size(s));
	if (offers(s, k && k->eightbit))
		reply(s, "250-8BITMIME");
	if (offers(s, k && k->utf8))
		reply(s, "250-SMTPUTF8");
	if (k && k->dsn)
		reply(s, "250-DSN");
	if (s->rt->server_tls[s->lidx] && !conn_tls(s->conn))
		reply(s, "250-STARTTLS");
	if (s->xforward_ok)
		reply(s, "250-XFORWARD NAME ADDR PORT PROTO HELO");
	reply(s, "250 %s", offers(s, k && k->enh) ? "ENHANCEDSTATUSCODES" : "HELP");
}

/* ------------------------------------------------------------------ closing */

struct session *
session_find(struct proxy *px, uint64_t id)
{
	struct session *s = idtab_get(px->sessions, id);

	return s && s->state != S_CLOSED ? s : NULL;
}

void
session_free(struct session *s)
{
	struct proxy *px = s->px;

	slog_info(s, "disconnect reason=%s commands=%u",
	          s->close_reason ? s->close_reason : "error", s->ncmds);
	idtab_del(px->sessions, s->id);
	if (s->counted)
		access_done(px->access, conn_peer(s->conn), monotonic_ms());
	net_listener_release(s->l);
	conn_free(s->conn);
	nexthop_free(s->nh);
	tx_free(s->tx);
	event_free(s->reap_ev);
	runtime_unref(s->rt);
	free(s);
	proxy_check_drained(px);
}

static void
session_reap(evutil_socket_t fd, short what, void *arg)
{
	session_free(arg);
}

/* Marks s closed and frees it from the loop, never from inside a callback. */
void
session_close(struct session *s, const char *reason)
{
	struct timeval zero = {0, 0};

	if (s->state == S_CLOSED)
		return;
	slog_debug(s, "closing reason=%s", reason);
	if (s->close_reason == NULL)
		s->close_reason = reason;
	session_enter_state(s, S_CLOSED);
	conn_read_enable(s->conn, 0);
	evtimer_add(s->reap_ev, &zero);
}

/* Sends the last reply and closes once it is out (or the client stalls). */
void
session_goodbye(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = conn_output(s->conn);
	va_list ap;

	if (s->state == S_GOODBYE || s->state == S_CLOSED)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	session_enter_state(s, S_GOODBYE);
	conn_goodbye(s->conn, GOODBYE_LINGER_MS);
}

/* ------------------------------------------------------------- read control */

void
session_timeouts(struct session *s)
{
	uint64_t ms = s->state == S_DATA ? s->lc->data_timeout_ms : s->lc->command_timeout_ms;

	conn_set_timeouts(s->conn, ms, ms);
}

/*
 * Commands the client sends meanwhile wait in the input (bounded by
 * READ_HIGH_MARK). Reading stays enabled, so a client that leaves is
 * noticed at once and no epoll_ctl is spent per command.
 */
void
session_pause(struct session *s, enum sess_state st)
{
	session_enter_state(s, st);
}

static void session_process(struct session *s);

void
session_resume(struct session *s)
{
	if (s->state == S_GOODBYE || s->state == S_CLOSED)
		return;
	session_enter_state(s, S_CMD);
	session_timeouts(s);
	conn_read_enable(s->conn, 1);
	session_process(s);
}

/* Handles what the client sent, as far as the state allows. */
static void
session_process(struct session *s)
{
	while (s->state == S_CMD || s->state == S_DATA) {
		char *line;
		size_t len;
		int rc;

		if (s->state == S_DATA) {
			if (!session_data(s))
				return;
			continue;
		}
		rc = conn_readline(s->conn, s->lc->max_line_length, &line, &len);
		if (rc == 0)
			return;
		if (rc < 0) {
			slog_warnx(s, "command line too long, over %u bytes",
			           s->lc->max_line_length);
			reply(s, "500 5.5.2 line too long");
			continue;
		}
		session_command(s, line, len);
		free(line);
	}
}

static void
session_read(void *arg)
{
	session_process(arg);
}

static void
session_event(void *arg, enum conn_event ev)
{
	struct session *s = arg;

	switch (ev) {
	case CONN_TLS_UP: {
		char desc[128];

		slog_info(s, "tls established tls=%s",
		          conn_tls_describe(s->conn, desc, sizeof(desc)));
		return;
	}
	case CONN_GOODBYE_DONE:
		session_close(s, s->close_reason ? s->close_reason : "done");
		return;
	case CONN_TIMEOUT:
		if (s->state == S_GOODBYE) {
			session_close(s, s->close_reason ? s->close_reason : "timeout");
			return;
		}
		if (s->state == S_DATA)
			slog_warnx(s, "client gone during DATA: nothing forwarded");
		slog_info(s, "timeout state=%s", state_names[s->state]);
		if (s->close_reason == NULL)
			s->close_reason = "timeout";
		session_goodbye(s, "421 4.4.2 %s timeout", s->hostname);
		return;
	case CONN_TLS_FAILED:
		session_close(s, "tls");
		return;
	default:
		if (s->state == S_DATA)
			slog_warnx(s, "client gone during DATA: nothing forwarded");
		session_close(s, ev == CONN_EOF ? "eof" : "error");
		return;
	}
}

/* ------------------------------------------------------------ the next hop */

static void
nh_banner_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct session *s = arg;

	if (st != SMTP_REPLY || r->code != 220) {
		session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
		return;
	}
	reply(s, "220 %s ESMTP Portcullis", s->hostname);
	session_resume(s);
}

/* The listener's next hop: a Maildir, or an SMTP server to connect to. */
static void
nexthop_start(struct session *s)
{
	struct nexthop_opts o = {
	    .hostname = s->hostname,
	    .tls_mode = s->lc->next_hop_tls,
	    .tls_ctx = s->rt->client_tls,
	    .forward_client = s->lc->forward_client,
	    .timeout_ms = s->lc->next_hop_timeout_ms,
	};

	if (strncmp(s->lc->next_hop, "maildir:", 8) == 0) {
		s->maildir = s->lc->next_hop + 8;
		reply(s, "220 %s ESMTP Portcullis", s->hostname);
		session_resume(s);
		return;
	}
	hostport_parse(s->lc->next_hop + 5, &s->nh_sa, &s->nh_salen);
	session_enter_state(s, S_CONNECTING);
	s->nh = nexthop_connect(s->px->base, (struct sockaddr *)&s->nh_sa, s->nh_salen, s->log_id,
	                        &o, nh_banner_cb, s);
}

/* ------------------------------------------------------------- accepting */

/*
 * The listener's access rules: a client outside [smtp] clients gets 554 and
 * may only QUIT (RFC 5321 3.1: the server waits for QUIT and answers 503
 * meanwhile); one past a per-client limit gets 421 and is closed. 1 when
 * the session goes on to the next hop.
 */
static int
session_admit(struct session *s, const struct sockaddr *sa)
{
	const struct access_rules *r = &s->rt->smtp_access[s->lidx];
	enum access_result res = access_admit(s->px->access, r, sa, monotonic_ms());
	char lb[128];

	if (res != ACCESS_OK)
		metrics_add("portcullis_sessions_refused_total",
		            metrics_labels(lb, sizeof(lb), "protocol", "smtp", "reason",
		                           access_result_name(res), NULL),
		            1);
	switch (res) {
	case ACCESS_OK:
		s->counted = 1;
		return 1;
	case ACCESS_DENIED:
		slog_warnx(s, "refused client=%s reason=%s (listener %s clients)",
		           conn_peer_addr(s->conn), access_result_name(res),
		           net_listener_name(s->l));
		s->refused = 1;
		s->close_reason = access_result_name(res);
		reply(s, "554 5.7.1 %s no SMTP service for %s", s->hostname,
		      conn_peer_addr(s->conn));
		session_resume(s);
		return 0;
	default:
		slog_warnx(s, "refused client=%s reason=%s (%s=%u)", conn_peer_addr(s->conn),
		           access_result_name(res),
		           res == ACCESS_TOO_MANY ? "max_sessions_per_client"
		                                  : "max_connection_rate",
		           res == ACCESS_TOO_MANY ? r->max_per_client : r->max_rate);
		s->close_reason = access_result_name(res);
		session_goodbye(s, "421 4.7.0 %s too many %s from %s, try again later", s->hostname,
		                res == ACCESS_TOO_MANY ? "sessions" : "connections",
		                conn_peer_addr(s->conn));
		return 0;
	}
}

void
session_start(struct proxy *px, struct net_listener *l, int fd, const struct sockaddr *sa,
              socklen_t salen)
{
	static const struct conn_cbs cbs = {session_read, session_event, NULL};
	struct session *s = xcalloc(1, sizeof(*s));
	char lb[256];
	unsigned n;

	s->id = ++px->next_id;
	snprintf(s->log_id, sizeof(s->log_id), "smtp[%llu]", (unsigned long long)s->id);
	s->px = px;
	s->l = l;
	s->rt = runtime_ref(px->rt);
	s->lc = runtime_listener(s->rt, net_listener_name(l), &s->lidx);
	if (s->lc == NULL) {
		/* Removed by a reload: keep serving with the first listener's
		 * settings until a restart rebinds. */
		s->lc = &s->rt->conf.listeners[0];
		s->lidx = 0;
	}
	s->hostname = runtime_hostname(s->rt, s->lc);
	s->xforward_ok = cidr_list_match(&s->rt->xforward_hosts[s->lidx], sa);
	s->reap_ev = evtimer_new(px->base, session_reap, s);
	if (s->reap_ev == NULL)
		fatalx("out of memory (session)");
	s->conn = conn_accept(px->base, fd, sa, salen, s->log_id, &cbs, s);
	conn_set_read_high(s->conn, READ_HIGH_MARK);
	idtab_put(px->sessions, s->id, s);
	n = net_listener_hold(l);
	session_timeouts(s);
	slog_info(s, "connect client=%s%s%s:%u listener=%s",
	          strchr(conn_peer_addr(s->conn), ':') ? "[" : "", conn_peer_addr(s->conn),
	          strchr(conn_peer_addr(s->conn), ':') ? "]" : "", conn_peer_port(s->conn),
	          net_listener_name(l));
	metrics_add("portcullis_sessions_total",
	            metrics_labels(lb, sizeof(lb), "protocol", "smtp", "listener",
	                           net_listener_name(l), NULL),
	            1);
	if (n > s->lc->max_sessions) {
		slog_warnx(s, "too many sessions on listener %s (max_sessions=%u)",
		           net_listener_name(l), s->lc->max_sessions);
		metrics_add("portcullis_sessions_refused_total",
		            metrics_labels(lb, sizeof(lb), "protocol", "smtp", "reason",
		                           "max-sessions", NULL),
		            1);
		session_goodbye(s, "421 4.7.0 %s too many sessions, try again later", s->hostname);
		return;
	}
	if (!session_admit(s, sa))
		return;
	nexthop_start(s);
}

/*
 * ftp_session: the control channel of one FTP session. Accepts the client
 * (allow-list, session limits), reaches the server (the listener's fixed
 * upstream, or in forward mode the host the client names in USER
 * name@host[:port], checked against allowed_upstreams), then relays the
 * client's commands one at a time and the server's replies unchanged.
 * The proxy speaks for itself only where it must: the data-channel
 * commands (PASV, EPSV, PORT, EPRT: each leg is ours, ftp_xfer.c), the
 * transfers, AUTH/PBSZ/PROT (not offered), and its own errors.
 */
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ftp/ftp_session.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/sys.h"
#include "util/metrics.h"
#include "util/xalloc.h"

#define SV_LINE_MAX 8192
#define CL_READ_HIGH (64 * 1024)

static void pump_client(struct fsess *s);
static void sv_pbsz_cb(struct fsess *s, struct ftp_reply *r);
static void handle_line(struct fsess *s, char *line, size_t len);

/* ------------------------------------------------------------ replies */

void
fsess_reply(struct fsess *s, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	if (s->closing)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	conn_printf(s->cl, "%s\r\n", buf);
}

void
fsess_relay(struct fsess *s, const struct ftp_reply *r)
{
	if (s->closing)
		return;
	for (size_t i = 0; i < r->nlines; i++)
		conn_printf(s->cl, "%s\r\n", r->lines[i]);
}

void
fsess_send(struct fsess *s, reply_fn fn, const char *fmt, ...)
{
	va_list ap;
	char buf[2048];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->busy = 1;
	s->on_reply = fn;
	conn_set_timeouts(s->sv, s->lc->upstream_timeout_ms, s->lc->upstream_timeout_ms);
	conn_printf(s->sv, "%s\r\n", buf);
}

/* ------------------------------------------------------------ closing */

struct fsess *
fsess_find(struct ftp_proxy *px, uint64_t id)
{
	struct fsess *s = idtab_get(px->sessions, id);

	return s && !s->closing ? s : NULL;
}

void
fsess_free(struct fsess *s)
{
	struct ftp_proxy *px = s->px;

	flog_info(s, "disconnect reason=%s commands=%u",
	          s->close_reason ? s->close_reason : "error", s->ncmds);
	idtab_del(px->sessions, s->id);
	if (s->counted)
		access_done(px->access, conn_peer(s->cl), monotonic_ms());
	net_listener_release(s->l);
	xfer_free(s);
	dlisten_free(s->cl_dl);
	dlisten_free(s->sv_dl);
	conn_free(s->cl);
	conn_free(s->sv);
	ftp_reply_clear(&s->rep);
	ftp_reply_clear(&s->banner);
	free(s->pending);
	free(s->fwd_user);
	event_free(s->reap_ev);
	runtime_unref(s->rt);
	free(s);
	ftp_proxy_check_drained(px);
}

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fsess_free(arg);
}

/* Frees the session from the loop, after the callback that decided it. */
static void
fsess_reap(struct fsess *s, const char *reason)
{
	struct timeval zero = {0, 0};

	if (reason && !s->close_reason)
		s->close_reason = reason;
	s->closing = 1;
	evtimer_add(s->reap_ev, &zero);
}

void
fsess_goodbye(struct fsess *s, const char *text)
{
	if (s->closing)
		return;
	if (text)
		fsess_reply(s, "%s", text);
	s->closing = 1;
	xfer_free(s);
	conn_free(s->sv);
	s->sv = NULL;
	conn_goodbye(s->cl, FTP_LINGER_MS);
}

void
fsess_server_gone(struct fsess *s, const char *why)
{
	flog_warnx(s, "server %s: %s", s->sv_label, why);
	if (!s->close_reason)
		s->close_reason = "server-gone";
	if (s->x && !s->closing) {
		/* the transfer's own final reply first: nothing was handed on */
		xfer_mark_release(s, "The transfer ends: see the next reply.");
		fsess_reply(s, "451 Transfer aborted: the server closed the connection.");
	}
	fsess_goodbye(s, "421 Service not available, the server closed the connection.");
}

/* ------------------------------------------------------------ the server leg */

static void
sv_read(void *arg)
{
	struct fsess *s = arg;
	char *line;
	size_t len;
	int rc;

	while (!s->closing && (rc = conn_readline(s->sv, SV_LINE_MAX, &line, &len)) != 0) {
		int done = rc < 0 ? -1 : ftp_reply_push(&s->rep, line, len);

		flog_debug(s, "server: %.*s", rc > 0 ? (int)(len > 200 ? 200 : len) : 0,
		           rc > 0 ? line : "");

		if (rc > 0)
			free(line);
		if (done < 0) {
			ftp_reply_clear(&s->rep);
			fsess_server_gone(s, "protocol error (a malformed or over-long reply)");
			return;
		}
		if (done == 0)
			continue;
		if (s->on_reply) {
			reply_fn fn = s->on_reply;

			s->on_reply = NULL;
			fn(s, &s->rep);
		} else if (s->busy && s->x == NULL) {
			fsess_relay(s, &s->rep);
			fsess_idle(s);
		} else {
			/* unsolicited: a server's 421 on its own timeout, say */
			fsess_relay(s, &s->rep);
			if (s->rep.code == 421) {
				ftp_reply_clear(&s->rep);
				fsess_server_gone(s, "closing (421)");
				return;
			}
		}
		ftp_reply_clear(&s->rep);
	}
}

static void
sv_event(void *arg, enum conn_event ev)
{
	struct fsess *s = arg;

	if (s->closing)
		return;
	switch (ev) {
	case CONN_CONNECTED:
		flog_info(s, "server %s connected", s->sv_label);
		break;
	case CONN_TLS_UP: {
		char d[96];

		s->sv_tls = 1;
		flog_info(s, "server %s: TLS up (%s)", s->sv_label,
		          conn_tls_describe(s->sv, d, sizeof(d)));
		fsess_send(s, sv_pbsz_cb, "PBSZ 0");
		break;
	}
	case CONN_TLS_FAILED:
		fsess_server_gone(s, "TLS handshake failed");
		break;
	case CONN_CONNECT_FAILED:
		flog_warnx(s, "server %s unreachable", s->sv_label);
		s->close_reason = "server-unreachable";
		fsess_goodbye(s, "421 Service not available: the server cannot be reached.");
		break;
	case CONN_TIMEOUT:
		fsess_server_gone(s, "no reply in time (upstream_timeout)");
		break;
	default:
		fsess_server_gone(s, ev == CONN_EOF ? "closed the connection" : "connection error");
		break;
	}
}

/* The server leg is ready (TLS or not): the greeting relayed (reverse
 * mode), or the client's USER sent (forward mode). */
static void
banner_done(struct fsess *s)
{
	if (s->lc->upstream_tls == TLS_REQUIRE && !s->sv_prot) {
		flog_warnx(s, "server %s: no TLS with PROT P, and upstream_tls = require",
		           s->sv_label);
		s->close_reason = "server-no-tls";
		fsess_goodbye(s, "421 Service not available: the server does not offer TLS.");
		return;
	}
	if (s->fwd_user) {
		char *u = s->fwd_user;

		s->fwd_user = NULL;
		fsess_send(s, NULL, "%s", u);
		free(u);
		return;
	}
	fsess_relay(s, &s->banner);
	ftp_reply_clear(&s->banner);
	fsess_idle(s);
}

static void
sv_prot_cb(struct fsess *s, struct ftp_reply *r)
{
	s->sv_prot = r->code / 100 == 2;
	if (!s->sv_prot)
		flog_info(s, "server %s: PROT P refused (%.100s): its data in the clear",
		          s->sv_label, ftp_reply_first(r));
	banner_done(s);
}

static void
sv_pbsz_cb(struct fsess *s, struct ftp_reply *r)
{
	if (r->code / 100 != 2) {
		banner_done(s);
		return;
	}
	fsess_send(s, sv_prot_cb, "PROT P");
}

static void
sv_auth_cb(struct fsess *s, struct ftp_reply *r)
{
	if (r->code == 234 && conn_starttls(s->sv, s->rt->ftp_client_tls, 0) == 0) {
		s->busy = 1; /* CONN_TLS_UP sends PBSZ */
		return;
	}
	flog_debug(s, "server %s: no AUTH TLS (%.100s)", s->sv_label, ftp_reply_first(r));
	banner_done(s);
}

/* The server's greeting: held while TLS toward the server is tried
 * (upstream_tls), then relayed (reverse mode) or followed by the client's
 * USER (forward mode). */
static void
banner_cb(struct fsess *s, struct ftp_reply *r)
{
	if (r->code / 100 != 2) {
		flog_warnx(s, "server %s greeted with %.200s", s->sv_label, ftp_reply_first(r));
		s->close_reason = "server-refused";
		if (s->fwd_user == NULL)
			fsess_relay(s, r);
		fsess_goodbye(s, s->fwd_user ? "421 Service not available: the server refused us."
		                             : NULL);
		return;
	}
	s->banner = *r;
	memset(r, 0, sizeof(*r));
	if (s->lc->upstream_tls != TLS_NONE) {
		fsess_send(s, sv_auth_cb, "AUTH TLS");
		return;
	}
	banner_done(s);
}

static void
server_connect(struct fsess *s)
{
	static const struct conn_cbs cbs = {sv_read, sv_event, NULL};

	hostport_format((struct sockaddr *)&s->sv_addr, s->sv_label + 4, sizeof(s->sv_label) - 4);
	memcpy(s->sv_label, "ftp:", 4);
	s->busy = 1;
	s->on_reply = banner_cb;
	s->sv = conn_connect(s->px->base, (struct sockaddr *)&s->sv_addr, s->sv_len, s->log_id,
	                     &cbs, s);
	conn_set_timeouts(s->sv, s->lc->upstream_timeout_ms, s->lc->upstream_timeout_ms);
}

/* ------------------------------------------------------------ forward mode */

/* Is host (a literal address in sa, or a name) in allowed_upstreams? */
static int
upstream_allowed(const struct fsess *s, const char *host, const struct sockaddr *sa)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s->lc->allowed_upstreams ? s->lc->allowed_upstreams : "");
	for (char *t = strtok_r(buf, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
		struct cidr c;
		struct cidr_list one = {&c, 1, 1};

		if (cidr_parse(t, &c) == 0) {
			if (sa && cidr_list_match(&one, sa))
				return 1;
		} else if (strcasecmp(t, host) == 0) {
			return 1;
		}
	}
	return 0;
}

struct resolve_job {
	struct ftp_proxy *px;
	uint64_t sid;
	char host[256];
	unsigned port;
	struct sockaddr_storage ss;
	socklen_t len;
	int ok;
};

static void
resolve_run(void *arg)
{
	struct resolve_job *j = arg;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", j->port);
	if (getaddrinfo(j->host, port, &hints, &ai) == 0 && ai && ai->ai_addrlen <= sizeof(j->ss)) {
		memcpy(&j->ss, ai->ai_addr, ai->ai_addrlen);
		j->len = ai->ai_addrlen;
		j->ok = 1;
	}
	if (ai)
		freeaddrinfo(ai);
}

static void
resolve_done(void *arg)
{
	struct resolve_job *j = arg;
	struct fsess *s = fsess_find(j->px, j->sid);

	if (s != NULL) {
		if (!j->ok) {
			flog_warnx(s, "forward login: %s does not resolve", j->host);
			s->busy = 0;
			free(s->fwd_user);
			s->fwd_user = NULL;
			fsess_reply(s, "530 Cannot resolve %s.", j->host);
			fsess_idle(s);
		} else {
			s->sv_addr = j->ss;
			s->sv_len = j->len;
			server_connect(s);
		}
	}
	free(j);
}

/* USER name@host[:port] before a server is chosen. */
static void
forward_user(struct fsess *s, const char *arg)
{
	char host[256], hp[300];
	const char *at = strrchr(arg, '@'), *h, *colon;
	unsigned long port = 21;
	size_t hl;
	int v6;

	if (at == NULL || at == arg || at[1] == '\0' || (size_t)(at - arg) >= sizeof(s->user)) {
		fsess_reply(s, "530 Log in as USER name@host[:port] (this is a forward proxy).");
		return;
	}
	h = at + 1;
	v6 = h[0] == '[';
	if (v6) {
		const char *rb = strchr(h, ']');

		if (rb == NULL || (rb[1] != '\0' && rb[1] != ':')) {
			fsess_reply(s, "501 Bad host in USER name@[address]:port.");
			return;
		}
		hl = (size_t)(rb - h - 1);
		h++;
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strchr(h, ':');
		hl = colon ? (size_t)(colon - h) : strlen(h);
	}
	if (hl == 0 || hl >= sizeof(host)) {
		fsess_reply(s, "501 Bad host in USER name@host[:port].");
		return;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (colon) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (*end != '\0' || colon[1] == '\0' || port == 0 || port > 65535) {
			fsess_reply(s, "501 Bad port in USER name@host:port.");
			return;
		}
	}
	for (size_t i = 0; i < hl; i++)
		if (!isalnum((unsigned char)host[i]) && !strchr(".-:_", host[i])) {
			fsess_reply(s, "501 Bad host in USER name@host[:port].");
			return;
		}
	snprintf(s->user, sizeof(s->user), "%.*s", (int)(at - arg), arg);
	snprintf(hp, sizeof(hp), "%s%s%s:%lu", strchr(host, ':') ? "[" : "", host,
	         strchr(host, ':') ? "]" : "", port);
	if (hostport_parse(hp, &s->sv_addr, &s->sv_len) == 0) {
		if (!upstream_allowed(s, host, (struct sockaddr *)&s->sv_addr)) {
			flog_warnx(s,
			           "forward login refused: %s is not allowed (allowed_upstreams) "
			           "client=%s",
			           hp, s->cl_label);
			fsess_reply(s, "530 Destination %s not allowed by this proxy.", hp);
			return;
		}
		s->fwd_user = xasprintf("USER %s", s->user);
		flog_info(s, "forward login user=%s server=%s", s->user, hp);
		server_connect(s);
		return;
	}
	if (!upstream_allowed(s, host, NULL)) {
		flog_warnx(s,
		           "forward login refused: %s is not allowed (allowed_upstreams) client=%s",
		           hp, s->cl_label);
		fsess_reply(s, "530 Destination %s not allowed by this proxy.", hp);
		return;
	}
	{
		struct resolve_job *j = xcalloc(1, sizeof(*j));

		j->px = s->px;
		j->sid = s->id;
		snprintf(j->host, sizeof(j->host), "%s", host);
		j->port = (unsigned)port;
		s->fwd_user = xasprintf("USER %s", s->user);
		s->busy = 1;
		flog_info(s, "forward login user=%s server=%s (resolving)", s->user, hp);
		workq_submit(s->px->wq, resolve_run, resolve_done, j);
	}
}

/* ------------------------------------------------------------ commands */

/* FEAT: the server's list without what this proxy does not carry. */
static void
feat_cb(struct fsess *s, struct ftp_reply *r)
{
	for (size_t i = 0; i < r->nlines; i++) {
		const char *l = r->lines[i];

		while (*l == ' ')
			l++;
		if (i > 0 && i + 1 < r->nlines &&
		    (strncasecmp(l, "AUTH", 4) == 0 || strncasecmp(l, "PBSZ", 4) == 0 ||
		     strncasecmp(l, "PROT", 4) == 0 || strncasecmp(l, "CCC", 3) == 0))
			continue;
		if (i + 1 == r->nlines && r->nlines > 1 && s->cl_tls_ctx)
			conn_printf(s->cl, " AUTH TLS\r\n PBSZ\r\n PROT\r\n");
		conn_printf(s->cl, "%s\r\n", r->lines[i]);
	}
	fsess_idle(s);
}

static void
quit_cb(struct fsess *s, struct ftp_reply *r)
{
	fsess_relay(s, r);
	s->close_reason = "quit";
	fsess_goodbye(s, NULL);
}

static int
verb_is(const char *verb, const char *a)
{
	return strcmp(verb, a) == 0;
}

/* AUTH TLS, PBSZ, PROT and CCC on the client leg (RFC 4217), ours to answer. */
static void
tls_command(struct fsess *s, const char *verb, const char *arg)
{
	if (verb_is(verb, "AUTH")) {
		if (s->cl_tls_ctx == NULL)
			fsess_reply(s, "502 AUTH is not offered by this proxy.");
		else if (s->cl_tls)
			fsess_reply(s, "503 TLS is already on.");
		else if (strcasecmp(arg, "TLS") != 0 && strcasecmp(arg, "TLS-C") != 0 &&
		         strcasecmp(arg, "SSL") != 0)
			fsess_reply(s, "504 AUTH %s is not supported; use AUTH TLS.", arg);
		else {
			fsess_reply(s, "234 AUTH TLS successful.");
			if (conn_starttls(s->cl, s->cl_tls_ctx, 1) < 0) {
				s->close_reason = "tls-failed";
				fsess_goodbye(s, NULL);
			}
		}
	} else if (verb_is(verb, "PBSZ")) {
		if (!s->cl_tls)
			fsess_reply(s, "503 PBSZ needs AUTH TLS first.");
		else {
			s->cl_pbsz = 1;
			fsess_reply(s, "200 PBSZ=0");
		}
	} else if (verb_is(verb, "PROT")) {
		if (!s->cl_tls || !s->cl_pbsz)
			fsess_reply(s, "503 PROT needs AUTH TLS and PBSZ first.");
		else if (strcasecmp(arg, "P") == 0) {
			s->cl_prot = 1;
			fsess_reply(s, "200 Protection level set to Private.");
		} else if (strcasecmp(arg, "C") == 0) {
			s->cl_prot = 0;
			fsess_reply(s, "200 Protection level set to Clear.");
		} else
			fsess_reply(s, "536 Only PROT C and PROT P are supported.");
	} else {
		fsess_reply(s, "502 CCC is not offered by this proxy.");
	}
}

static void
handle_line(struct fsess *s, char *line, size_t len)
{
	char verb[5];
	const char *arg;

	s->ncmds++;
	if (ftp_cmd_parse(line, len, verb, &arg) < 0) {
		flog_debug(s, "unparsable command line (%zu bytes)", len);
		fsess_reply(s, "500 Syntax error, command unrecognized.");
		return;
	}
	if (verb_is(verb, "QUIT")) {
		if (s->sv && !s->fwd_user) {
			fsess_send(s, quit_cb, "QUIT");
			return;
		}
		s->close_reason = "quit";
		fsess_goodbye(s, "221 Goodbye.");
		return;
	}
	if (s->sv == NULL) { /* forward mode, no server yet */
		if (verb_is(verb, "AUTH") || verb_is(verb, "PBSZ") || verb_is(verb, "PROT"))
			tls_command(s, verb, arg);
		else if (verb_is(verb, "USER"))
			forward_user(s, arg);
		else if (verb_is(verb, "FEAT") && s->cl_tls_ctx)
			fsess_reply(s, "211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End");
		else if (verb_is(verb, "FEAT"))
			fsess_reply(s, "211 No features before login.");
		else
			fsess_reply(s, "530 Log in with USER name@host[:port] first.");
		return;
	}
	if (verb_is(verb, "USER"))
		snprintf(s->user, sizeof(s->user), "%s", arg);
	if (verb_is(verb, "PASV") || verb_is(verb, "EPSV")) {
		xfer_pasv(s, verb[0] == 'E', arg);
	} else if (verb_is(verb, "PORT") || verb_is(verb, "EPRT")) {
		xfer_port(s, verb[0] == 'E', arg);
	} else if (verb_is(verb, "RETR") || verb_is(verb, "STOR") || verb_is(verb, "APPE") ||
	           verb_is(verb, "STOU") || verb_is(verb, "LIST") || verb_is(verb, "NLST") ||
	           verb_is(verb, "MLSD")) {
		xfer_begin(s, verb, arg, line);
	} else if (verb_is(verb, "AUTH") || verb_is(verb, "PBSZ") || verb_is(verb, "PROT") ||
	           verb_is(verb, "CCC")) {
		tls_command(s, verb, arg);
	} else if (verb_is(verb, "FEAT")) {
		fsess_send(s, feat_cb, "FEAT");
	} else {
		/* relayed as sent: the parse refused CR, LF and NUL inside */
		fsess_send(s, NULL, "%s", line);
	}
}

void
fsess_idle(struct fsess *s)
{
	char *p;

	s->busy = 0;
	s->on_reply = NULL;
	if (s->closing)
		return;
	conn_set_timeouts(s->cl, s->lc->command_timeout_ms, s->lc->command_timeout_ms);
	if (s->sv)
		conn_set_timeouts(s->sv, 0, s->lc->upstream_timeout_ms);
	if (s->in_pump)
		return;
	if ((p = s->pending) != NULL) {
		size_t n = s->pending_len;

		s->pending = NULL;
		s->in_pump = 1;
		handle_line(s, p, n);
		s->in_pump = 0;
		free(p);
	}
	conn_read_enable(s->cl, 1);
	pump_client(s);
}

static int
is_abor(const char *line, size_t len)
{
	char verb[5];
	const char *arg;

	return ftp_cmd_parse(line, len, verb, &arg) == 0 && verb_is(verb, "ABOR");
}

/* Takes the client's lines while the session may act on them. */
static void
pump_client(struct fsess *s)
{
	char *line;
	size_t len;
	int rc;

	s->in_pump = 1;
	while (!s->closing) {
		if (s->busy && (s->x == NULL || s->pending != NULL))
			break; /* the lines wait in the input, in order */
		rc = conn_readline(s->cl, s->lc->max_line_length, &line, &len);
		if (rc == 0)
			break;
		if (rc < 0) {
			flog_warnx(s, "command line over max_line_length=%u refused",
			           s->lc->max_line_length);
			if (!s->busy)
				fsess_reply(s, "500 Command line too long.");
			continue;
		}
		if (s->busy) {
			/* a transfer runs: ABOR acts now, anything else waits */
			if (is_abor(line, len)) {
				s->ncmds++;
				xfer_abort(s);
				free(line);
			} else {
				s->pending = line;
				s->pending_len = len;
			}
			continue;
		}
		handle_line(s, line, len);
		free(line);
	}
	s->in_pump = 0;
	if (!s->closing && !s->busy && s->pending) {
		fsess_idle(s); /* a transfer ended inside the loop: its follower's turn */
	}
}

static void
cl_read(void *arg)
{
	pump_client(arg);
}

static void
cl_event(void *arg, enum conn_event ev)
{
	struct fsess *s = arg;

	switch (ev) {
	case CONN_TLS_UP: {
		char d[96];

		s->cl_tls = 1;
		flog_info(s, "client TLS up (%s)", conn_tls_describe(s->cl, d, sizeof(d)));
		pump_client(s);
		break;
	}
	case CONN_TLS_FAILED:
		fsess_reap(s, "tls-failed");
		break;
	case CONN_GOODBYE_DONE:
		fsess_reap(s, NULL);
		break;
	case CONN_TIMEOUT:
		if (!s->closing) {
			flog_info(s, "client idle past command_timeout");
			s->close_reason = "timeout";
			fsess_goodbye(s, "421 Timeout: closing the control connection.");
			return;
		}
		fsess_reap(s, "timeout");
		break;
	default:
		fsess_reap(s, ev == CONN_EOF ? "client-closed" : "client-error");
		break;
	}
}

/* ------------------------------------------------------------ accepting */

static const struct ftp_listener_conf *
listener_conf(const struct runtime *rt, const char *name)
{
	for (size_t i = 0; i < rt->conf.nftp_listeners; i++)
		if (strcmp(rt->conf.ftp_listeners[i].name, name) == 0)
			return &rt->conf.ftp_listeners[i];
	return rt->conf.nftp_listeners ? &rt->conf.ftp_listeners[0] : NULL;
}

void
fsess_start(struct ftp_proxy *px, struct net_listener *l, int fd, const struct sockaddr *sa,
            socklen_t salen)
{
	static const struct conn_cbs cbs = {cl_read, cl_event, NULL};
	struct fsess *s;
	enum access_result res;
	char lb[256];
	unsigned n;

	if (px->rt == NULL || listener_conf(px->rt, net_listener_name(l)) == NULL) {
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->id = ++px->next_id;
	snprintf(s->log_id, sizeof(s->log_id), "ftp[%llu]", (unsigned long long)s->id);
	s->px = px;
	s->l = l;
	s->rt = runtime_ref(px->rt);
	s->lc = listener_conf(s->rt, net_listener_name(l));
	s->hostname = s->lc->hostname && *s->lc->hostname ? s->lc->hostname : s->rt->hostname;
	s->cl_tls_ctx = s->rt->ftp_tls[s->lc - s->rt->conf.ftp_listeners];
	s->reap_ev = evtimer_new(px->base, reap_cb, s);
	if (s->reap_ev == NULL)
		fatalx("out of memory (ftp session)");
	s->cl = conn_accept(px->base, fd, sa, salen, s->log_id, &cbs, s);
	conn_set_read_high(s->cl, CL_READ_HIGH);
	conn_set_timeouts(s->cl, s->lc->command_timeout_ms, s->lc->command_timeout_ms);
	hostport_format(sa, s->cl_label, sizeof(s->cl_label));
	idtab_put(px->sessions, s->id, s);
	n = net_listener_hold(l);
	flog_info(s, "connect client=%s listener=%s", s->cl_label, net_listener_name(l));
	metrics_add("portcullis_sessions_total",
	            metrics_labels(lb, sizeof(lb), "protocol", "ftp", "listener",
	                           net_listener_name(l), NULL),
	            1);
	if (n > s->lc->max_sessions) {
		flog_warnx(s, "too many sessions (max_sessions=%u)", s->lc->max_sessions);
		metrics_add("portcullis_sessions_refused_total",
		            metrics_labels(lb, sizeof(lb), "protocol", "ftp", "reason",
		                           "max-sessions", NULL),
		            1);
		s->close_reason = "too-many-sessions";
		fsess_goodbye(s, "421 Too many sessions, try again later.");
		return;
	}
	res = access_admit(px->access, &s->rt->ftp_access[s->lc - s->rt->conf.ftp_listeners], sa,
	                   monotonic_ms());
	if (res != ACCESS_OK)
		metrics_add("portcullis_sessions_refused_total",
		            metrics_labels(lb, sizeof(lb), "protocol", "ftp", "reason",
		                           access_result_name(res), NULL),
		            1);
	if (res == ACCESS_DENIED) {
		flog_warnx(s, "client %s not allowed on listener %s (clients)", s->cl_label,
		           net_listener_name(l));
		s->close_reason = "client-not-allowed";
		fsess_goodbye(s, "421 Service not available for your address.");
		return;
	}
	if (res != ACCESS_OK) {
		flog_warnx(
		    s, "refused client=%s reason=%s (%s=%u)", s->cl_label, access_result_name(res),
		    res == ACCESS_TOO_MANY ? "max_sessions_per_client" : "max_connection_rate",
		    res == ACCESS_TOO_MANY ? s->lc->max_sessions_per_client
		                           : s->lc->max_connection_rate);
		s->close_reason = res == ACCESS_TOO_MANY ? "too-many-sessions" : "too-fast";
		fsess_goodbye(s,
		              res == ACCESS_TOO_MANY
		                  ? "421 Too many sessions from your address, try again later."
		                  : "421 Too many connections from your address, try again later.");
		return;
	}
	s->counted = 1;
	if (s->lc->upstream && *s->lc->upstream) {
		if (hostport_parse(s->lc->upstream, &s->sv_addr, &s->sv_len) < 0) {
			fsess_goodbye(s, "421 Service not available: bad upstream.");
			return;
		}
		server_connect(s);
		return;
	}
	fsess_reply(s, "220 %s Portcullis FTP proxy: log in as USER name@host[:port]", s->hostname);
}

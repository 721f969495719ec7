/*
 * ftp_xfer: the data channels and the transfers of an FTP session.
 *
 * Each leg's data channel is the proxy's own: the client's PASV/EPSV get a
 * listener of ours (in data_ports, accepting only the client's address),
 * its PORT/EPRT an address we connect to (the client's own host only: no
 * FTP bounce); toward the server we use PASV/EPSV or PORT/EPRT as the
 * listener's upstream_mode says, whatever the client chose.
 *
 * A file (RETR, STOR, APPE, STOU) is spooled whole from the side that
 * sends it, scanned and decided on a worker (inspect_run), and only then
 * handed on; listings (LIST, NLST, MLSD) take the same road unscanned.
 * An upload reaches the server only after its scan: a blocked, quarantined
 * or unfinished upload never creates a file there.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "ftp/ftp_notice.h"
#include "ftp/ftp_session.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/xalloc.h"

#define CHUNK (256 * 1024)

static void step(struct fsess *s);
static void finish(struct fsess *s, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void client_data_open(struct fsess *s);
static void sd_take(struct fsess *s, int fd, const struct sockaddr *sa, socklen_t len);

/* ------------------------------------------------------------ data listeners */

void
dlisten_free(struct dlisten *d)
{
	if (d == NULL)
		return;
	if (d->ev)
		event_free(d->ev);
	if (d->fd >= 0)
		close(d->fd);
	if (d->got >= 0)
		close(d->got);
	free(d);
}

static void
dl_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct dlisten *d = arg;
	struct fsess *s = d->s;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char a[96], b[96];
	int fd;

	(void)what;
	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
		return;
	if (!ftp_same_host((struct sockaddr *)&ss, (struct sockaddr *)&d->expect) || d->got >= 0) {
		flog_warnx(s, "refused data connection from %s on the %s leg (expected %s)",
		           hostport_format((struct sockaddr *)&ss, a, sizeof(a)),
		           d->client_leg ? "client" : "server",
		           addr_format((struct sockaddr *)&d->expect, b, sizeof(b)));
		close(fd);
		return;
	}
	d->got = fd;
	d->got_sa = ss;
	d->got_len = len;
	event_del(d->ev); /* one data connection per listener */
	if (s->x == NULL)
		return;
	if (d->client_leg) {
		if (s->x->cd == NULL && s->x->want_cd)
			client_data_open(s);
	} else if (s->x->sd == NULL && d == s->sv_dl) {
		d->got = -1;
		sd_take(s, fd, (struct sockaddr *)&ss, len);
	}
}

/* A listener on local's address, a port in data_ports, accepting expect's host only. */
static struct dlisten *
dlisten_open(struct fsess *s, int client_leg, const struct sockaddr_storage *local,
             const struct sockaddr *expect, socklen_t expect_len)
{
	static unsigned rot;
	struct dlisten *d;
	struct sockaddr_storage ss = *local;
	socklen_t len =
	    ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	unsigned lo = 0, hi = 0, span = 1;
	int fd;

	if (s->lc->data_ports && *s->lc->data_ports &&
	    conf_port_range(s->lc->data_ports, &lo, &hi) == 0 && lo <= hi)
		span = hi - lo + 1;
	else
		lo = hi = 0;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return NULL;
	/* a port whose last data connection is in TIME_WAIT is free to listen on */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
	for (unsigned i = 0; i < span; i++) {
		ftp_sa_set_port((struct sockaddr *)&ss,
		                lo ? (uint16_t)(lo + (rot + i) % span) : (uint16_t)0);
		if (bind(fd, (struct sockaddr *)&ss, len) == 0) {
			rot += i + 1;
			goto bound;
		}
		if (errno != EADDRINUSE)
			break;
	}
	flog_warnx(s, "no data port free in data_ports=%s: %s",
	           s->lc->data_ports && *s->lc->data_ports ? s->lc->data_ports : "any",
	           strerror(errno));
	close(fd);
	return NULL;
bound:
	if (listen(fd, 4) < 0) {
		close(fd);
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->s = s;
	d->fd = fd;
	d->got = -1;
	d->client_leg = client_leg;
	memcpy(&d->expect, expect, expect_len);
	d->expect_len = expect_len;
	d->local_len = sizeof(d->local);
	getsockname(fd, (struct sockaddr *)&d->local, &d->local_len);
	d->ev = event_new(s->px->base, fd, EV_READ | EV_PERSIST, dl_accept, d);
	if (d->ev == NULL || event_add(d->ev, NULL) < 0)
		fatalx("out of memory (data listener)");
	return d;
}

/* ------------------------------------------------------------ the client's choice */

void
xfer_pasv(struct fsess *s, int extended, const char *arg)
{
	struct sockaddr_storage loc;
	socklen_t ll = sizeof(loc);
	const struct sockaddr *peer = conn_peer(s->cl);
	int v6 = peer->sa_family == AF_INET6 &&
	         !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)peer)->sin6_addr);
	struct dlisten *d;
	char buf[64];

	if (extended && strcasecmp(arg, "ALL") == 0) {
		s->epsv_all = 1;
		fsess_reply(s, "200 EPSV ALL command successful.");
		return;
	}
	if (extended && *arg && strcmp(arg, v6 ? "2" : "1") != 0) {
		fsess_reply(s, "522 Network protocol not supported, use (%s)", v6 ? "2" : "1");
		return;
	}
	if (!extended && s->epsv_all) {
		fsess_reply(s, "503 PASV not allowed after EPSV ALL.");
		return;
	}
	if (!extended && v6) {
		fsess_reply(s, "425 PASV is for IPv4: use EPSV.");
		return;
	}
	dlisten_free(s->cl_dl);
	s->cl_dl = NULL;
	s->cl_mode = 0;
	if (conn_local(s->cl, &loc, &ll) < 0 ||
	    (d = dlisten_open(s, 1, &loc, peer, conn_peer_len(s->cl))) == NULL) {
		fsess_reply(s, "425 Cannot open a data connection.");
		return;
	}
	if (extended) {
		fsess_reply(s, "229 Entering Extended Passive Mode (|||%u|)",
		            ftp_sa_port((struct sockaddr *)&d->local));
	} else {
		if (ftp_format_port((struct sockaddr *)&d->local, buf, sizeof(buf)) < 0) {
			dlisten_free(d);
			fsess_reply(s, "425 PASV is for IPv4: use EPSV.");
			return;
		}
		fsess_reply(s, "227 Entering Passive Mode (%s).", buf);
	}
	s->cl_dl = d;
	s->cl_mode = 1;
}

void
xfer_port(struct fsess *s, int extended, const char *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char a[96];

	if ((extended ? ftp_parse_eprt(arg, &ss, &len) : ftp_parse_port(arg, &ss, &len)) < 0) {
		fsess_reply(s, "501 Syntax error in %s argument.", extended ? "EPRT" : "PORT");
		return;
	}
	if (!ftp_same_host((struct sockaddr *)&ss, conn_peer(s->cl))) {
		flog_warnx(s, "refused %s to %s: not the client's address (FTP bounce)",
		           extended ? "EPRT" : "PORT",
		           hostport_format((struct sockaddr *)&ss, a, sizeof(a)));
		fsess_reply(s, "501 %s to a host other than yours is refused (FTP bounce).",
		            extended ? "EPRT" : "PORT");
		return;
	}
	if (ftp_sa_port((struct sockaddr *)&ss) < 1024) {
		flog_warnx(s, "refused %s to privileged port %u", extended ? "EPRT" : "PORT",
		           ftp_sa_port((struct sockaddr *)&ss));
		fsess_reply(s, "501 %s to a privileged port is refused.",
		            extended ? "EPRT" : "PORT");
		return;
	}
	dlisten_free(s->cl_dl);
	s->cl_dl = NULL;
	s->cl_port = ss;
	s->cl_port_len = len;
	s->cl_mode = 2;
	fsess_reply(s, "200 %s command successful.", extended ? "EPRT" : "PORT");
}

/* ------------------------------------------------------------ the end of a transfer */

static void
log_transfer(struct fsess *s, const char *action, const char *reply)
{
	struct xfer *x = s->x;
	const char *last = reply, *nl;
	char q[200], lb[256];
	size_t k = 0;

	if (x->kind == X_LIST) {
		flog_info(s, "listing cmd=%s size=%llu", x->verb,
		          (unsigned long long)(x->spool ? spool_size(x->spool) : x->size));
		return;
	}
	while ((nl = strchr(last, '\n')) != NULL && nl[1] != '\0')
		last = nl + 1;
	for (const char *p = last; *p && *p != '\n' && k < sizeof(q) - 1; p++)
		q[k++] = *p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ? '\'' : *p;
	q[k] = '\0';
	metrics_add(
	    "portcullis_files_total",
	    metrics_labels(lb, sizeof(lb), "protocol", "ftp", "direction",
	                   x->scanned ? direction_name(x->out.dir) : "-", "verdict",
	                   x->scanned ? scan_status_name(x->out.verdict.status) : "unscanned",
	                   "action", action, NULL),
	    1);
	flog_info(s,
	          "transfer cmd=%s file=\"%s\" user=\"%s\" size=%llu direction=%s status=%s "
	          "names=%s action=%s%s%s reply=\"%s\"",
	          x->verb, x->name, s->user, (unsigned long long)x->size,
	          x->scanned ? direction_name(x->out.dir) : "-",
	          x->scanned ? scan_status_name(x->out.verdict.status) : "unscanned",
	          x->scanned && x->out.names && x->out.names[0] ? x->out.names : "-", action,
	          x->scanned && x->out.kind == INSPECT_STORED ? " qid=" : "",
	          x->scanned && x->out.kind == INSPECT_STORED ? x->out.id : "", q);
}

/* Sends text (lines split on "\n") as our reply, logs, and ends the transfer. */
static void
end(struct fsess *s, const char *action, const char *text)
{
	const char *p = text;

	if (s->x->spool)
		s->x->size = spool_size(s->x->spool);
	xfer_mark_release(s, "The transfer ends: see the next reply.");
	log_transfer(s, action, text);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (!s->closing)
			conn_printf(s->cl, "%.*s\r\n", (int)n, p);
		p += n + (nl ? 1 : 0);
	}
	xfer_free(s);
	fsess_idle(s);
}

/* The server's final reply with our report in front, as one reply. */
static char *
with_report(const struct xfer *x, const struct ftp_reply *fin)
{
	char *t = xstrdup("");

	if (x->report) {
		const char *p = x->report;

		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			char *u = xasprintf("%s%d-%.*s\n", t, fin->code, (int)n, p);

			free(t);
			t = u;
			p += n + (nl ? 1 : 0);
		}
	}
	for (size_t i = 0; i < fin->nlines; i++) {
		char *u = xasprintf("%s%s%s", t, fin->lines[i], i + 1 < fin->nlines ? "\n" : "");

		free(t);
		t = u;
	}
	return t;
}

static void
end_with_fin(struct fsess *s, const char *action)
{
	char *t = with_report(s->x, &s->x->fin);

	end(s, action, t);
	free(t);
}

/*
 * Ends the transfer with our reply: both data legs close; a server still
 * working on the command is waited for (its replies swallowed) so that
 * the control channel stays in step.
 */
static void
finish(struct fsess *s, const char *action, const char *fmt, ...)
{
	struct xfer *x = s->x;
	va_list ap;
	char *text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		fatalx("out of memory");
	va_end(ap);
	if (x->kind == X_DOWN && x->off > 0)
		conn_reset(x->cd); /* part of the file went: it must not look whole */
	else
		conn_free(x->cd);
	x->cd = NULL;
	conn_free(x->sd);
	x->sd = NULL;
	if (x->sv_cmd_sent && !x->have_fin) {
		free(x->reply);
		x->reply = text;
		x->action = action;
		x->phase = XP_CLOSE;
		if (s->sv)
			conn_set_timeouts(s->sv, s->lc->upstream_timeout_ms,
			                  s->lc->upstream_timeout_ms);
		return;
	}
	end(s, action, text);
	free(text);
}

void
xfer_abort(struct fsess *s)
{
	flog_info(s, "ABOR during %s", s->x->verb);
	finish(s, "abort",
	       "426 Transfer aborted, data connection closed.\n"
	       "226 ABOR command successful.");
}

void
xfer_free(struct fsess *s)
{
	struct xfer *x = s->x;

	if (x == NULL)
		return;
	conn_free(x->cd);
	conn_free(x->sd);
	spool_free(x->spool);
	inspect_outcome_clear(&x->out);
	ftp_reply_clear(&x->fin);
	if (x->timer)
		event_free(x->timer);
	if (x->ka)
		event_free(x->ka);
	ftp_reply_clear(&x->mark);
	free(x->line);
	free(x->report);
	free(x->reply);
	free(x);
	s->x = NULL;
	/* the next transfer names its data channel again */
	dlisten_free(s->cl_dl);
	s->cl_dl = NULL;
	s->cl_mode = 0;
	dlisten_free(s->sv_dl);
	s->sv_dl = NULL;
}

/* ------------------------------------------------------------ spooling */

static void
spool_in(struct fsess *s, struct evbuffer *in)
{
	static char buf[CHUNK];
	struct xfer *x = s->x;
	size_t n;

	while ((n = evbuffer_get_length(in)) > 0) {
		if (x->phase != XP_RECV || x->too_big || x->spool_errno) {
			evbuffer_drain(in, n);
			return;
		}
		n = evbuffer_remove(in, buf, n < sizeof(buf) ? n : sizeof(buf));
		if (spool_size(x->spool) + n > s->lc->max_file_size) {
			x->too_big = 1;
			flog_warnx(s, "%s %s: over max_file_size=%llu", x->verb, x->name,
			           (unsigned long long)s->lc->max_file_size);
			finish(s, "tempfail", "552 File exceeds the size limit of this gateway.");
			return;
		}
		if (spool_write(x->spool, buf, n) < 0) {
			x->spool_errno = errno;
			flog_warnx(s, "spool failed: %s", strerror(errno));
			if (errno == ENOSPC || errno == EDQUOT)
				finish(s, "tempfail",
				       "452 Insufficient storage space on the gateway.");
			else
				finish(s, "tempfail", "451 Local error in processing.");
			return;
		}
	}
}

/* ------------------------------------------------------------ handing on */

static void
pump(struct fsess *s)
{
	static char buf[CHUNK];
	struct xfer *x = s->x;
	int up = x->kind == X_UP;
	struct conn *to = up ? x->sd : x->cd;
	uint64_t size;

	if (to == NULL || x->sent_all || !(up ? x->sd_up && x->sv_started : x->cd_up))
		return;
	if (x->phase == XP_RECV && x->trickle) {
		/* trickle: what has come, but the tail, goes on now (copied: the
		 * spool may still move from memory to a file) */
		uint64_t have = spool_size(x->spool);

		size = have > s->lc->trickle_hold ? have - s->lc->trickle_hold : 0;
		while (x->off < size && evbuffer_get_length(conn_output(to)) < FTP_PUMP_CHUNK) {
			size_t want =
			    size - x->off < sizeof(buf) ? (size_t)(size - x->off) : sizeof(buf);
			ssize_t n = spool_pread(x->spool, buf, want, x->off);

			if (n <= 0)
				return; /* read again at the end, in XP_SEND */
			conn_write(to, buf, (size_t)n);
			x->off += (uint64_t)n;
		}
		return;
	}
	if (x->phase != XP_SEND)
		return;
	size = spool_size(x->from);
	if (size - x->off >= FTP_PUMP_CHUNK) {
		/* the rest as a file segment: libevent sends it with sendfile(2),
		 * no copy through user space (the dup is libevent's to close) */
		int fd = dup(spool_fd(x->from));

		if (fd >= 0 && evbuffer_add_file(conn_output(to), fd, (ev_off_t)x->off,
		                                 (ev_off_t)(size - x->off)) == 0)
			x->off = size;
		/* on failure libevent may or may not have closed fd: left alone
		 * (at worst one descriptor leaks), and the copy loop below sends */
	}
	while (x->off < size && evbuffer_get_length(conn_output(to)) < FTP_PUMP_CHUNK) {
		size_t want = size - x->off < sizeof(buf) ? (size_t)(size - x->off) : sizeof(buf);
		ssize_t n = spool_pread(x->from, buf, want, x->off);

		if (n <= 0) {
			flog_warnx(s, "reading the spool failed: %s",
			           n < 0 ? strerror(errno) : "short");
			finish(s, "tempfail", "451 Local error in processing.");
			return;
		}
		conn_write(to, buf, (size_t)n);
		x->off += (uint64_t)n;
	}
	if (x->off == size) {
		x->sent_all = 1;
		conn_goodbye(to, s->lc->data_timeout_ms);
	}
}

static void
data_low(void *arg)
{
	struct fsess *s = arg;

	if (s->x)
		pump(s);
}

/* ------------------------------------------------------------ the data legs */

static void
cd_read(void *arg)
{
	struct fsess *s = arg;

	if (s->x->kind == X_UP)
		spool_in(s, conn_input(s->x->cd));
	else
		evbuffer_drain(conn_input(s->x->cd), evbuffer_get_length(conn_input(s->x->cd)));
}

static void
sd_read(void *arg)
{
	struct fsess *s = arg;

	if (s->x->kind != X_UP) {
		spool_in(s, conn_input(s->x->sd));
		if (s->x && s->x->trickle)
			pump(s);
	} else
		evbuffer_drain(conn_input(s->x->sd), evbuffer_get_length(conn_input(s->x->sd)));
}

static void send_command(struct fsess *s);

static void
cd_event(void *arg, enum conn_event ev)
{
	struct fsess *s = arg;
	struct xfer *x = s->x;

	switch (ev) {
	case CONN_CONNECTED:
		if (s->cl_prot) {
			if (conn_starttls(x->cd, s->cl_tls_ctx, 1) < 0)
				finish(s, "tempfail",
				       "425 Cannot start TLS on the data connection.");
			break;
		}
		x->cd_up = 1;
		step(s);
		break;
	case CONN_TLS_UP:
		x->cd_up = 1;
		step(s);
		break;
	case CONN_TLS_FAILED:
		flog_warnx(s, "%s %s: TLS on the client's data connection failed", x->verb,
		           x->name);
		finish(s, "tempfail", "425 TLS on the data connection failed.");
		break;
	case CONN_CONNECT_FAILED:
		finish(s, "tempfail", "425 Cannot open the data connection to you.");
		break;
	case CONN_GOODBYE_DONE:
		conn_free(x->cd);
		x->cd = NULL;
		x->cd_done = 1;
		step(s);
		break;
	case CONN_EOF:
		if (x->kind == X_UP && x->phase == XP_RECV) {
			spool_in(s, conn_input(x->cd));
			if (s->x != x || x->phase != XP_RECV)
				return;
			conn_free(x->cd);
			x->cd = NULL;
			x->src_eof = 1;
			step(s);
			break;
		}
		if (x->kind != X_UP && x->phase == XP_RECV) {
			/* a download's client may close its side early: nothing for it yet */
			conn_read_enable(x->cd, 0);
			break;
		}
		/* FALLTHROUGH */
	default:
		flog_warnx(s, "%s %s: the client's data connection %s", x->verb, x->name,
		           ev == CONN_TIMEOUT ? "timed out (data_timeout)" : "failed");
		finish(s, "tempfail", "426 Data connection closed; transfer aborted.");
		break;
	}
}

static void
sd_event(void *arg, enum conn_event ev)
{
	struct fsess *s = arg;
	struct xfer *x = s->x;

	switch (ev) {
	case CONN_CONNECTED:
		/* the command first: a server starts TLS on the data connection
		 * only once it has the command */
		send_command(s);
		if (s->sv_prot) {
			if (conn_starttls(x->sd, s->rt->ftp_client_tls, 0) < 0)
				finish(s, "tempfail", "425 Cannot start TLS toward the server.");
			break;
		}
		x->sd_up = 1;
		step(s);
		break;
	case CONN_TLS_UP:
		x->sd_up = 1;
		step(s);
		break;
	case CONN_TLS_FAILED:
		flog_warnx(s, "%s %s: TLS on the server's data connection failed", x->verb,
		           x->name);
		finish(s, "tempfail", "425 TLS on the data connection to the server failed.");
		break;
	case CONN_CONNECT_FAILED:
		finish(s, "tempfail", "425 Cannot open the data connection to the server.");
		break;
	case CONN_GOODBYE_DONE:
		conn_free(x->sd);
		x->sd = NULL;
		x->sd_done = 1;
		step(s);
		break;
	case CONN_EOF:
		if (x->kind != X_UP && x->phase == XP_RECV) {
			sd_read(s);
			if (s->x != x || x->phase != XP_RECV)
				return;
			conn_free(x->sd);
			x->sd = NULL;
			x->src_eof = 1;
			if (!x->have_fin && s->sv)
				conn_set_timeouts(s->sv, s->lc->upstream_timeout_ms,
				                  s->lc->upstream_timeout_ms);
			step(s);
			break;
		}
		/* FALLTHROUGH */
	default:
		flog_warnx(s, "%s %s: the server's data connection %s", x->verb, x->name,
		           ev == CONN_TIMEOUT ? "timed out (data_timeout)" : "failed");
		finish(s, "tempfail",
		       "426 Data connection to the server failed; transfer aborted.");
		break;
	}
}

static const struct conn_cbs cd_cbs = {cd_read, cd_event, data_low};
static const struct conn_cbs sd_cbs = {sd_read, sd_event, data_low};

static void
data_conn_setup(struct fsess *s, struct conn *c)
{
	conn_set_timeouts(c, s->lc->data_timeout_ms, s->lc->data_timeout_ms);
	conn_set_read_high(c, FTP_READ_HIGH);
	conn_set_output_low(c, FTP_PUMP_CHUNK / 4);
	conn_set_io_max(c, FTP_READ_HIGH);
}

static void
client_data_open(struct fsess *s)
{
	struct xfer *x = s->x;
	char label[48];

	snprintf(label, sizeof(label), "%s data", s->log_id);
	if (s->cl_mode == 1) {
		struct dlisten *d = s->cl_dl;

		if (d->got < 0) {
			struct timeval tv = ms_to_tv(s->lc->data_timeout_ms);

			x->want_cd = 1; /* dl_accept comes back here */
			evtimer_add(x->timer, &tv);
			return;
		}
		x->want_cd = 0;
		evtimer_del(x->timer);
		x->cd = conn_accept(s->px->base, d->got, (struct sockaddr *)&d->got_sa, d->got_len,
		                    label, &cd_cbs, s);
		d->got = -1;
		if (!s->cl_prot)
			x->cd_up = 1;
		else if (conn_starttls(x->cd, s->cl_tls_ctx, 1) < 0) {
			finish(s, "tempfail", "425 Cannot start TLS on the data connection.");
			return;
		}
	} else {
		x->cd = conn_connect(s->px->base, (struct sockaddr *)&s->cl_port, s->cl_port_len,
		                     label, &cd_cbs, s);
	}
	data_conn_setup(s, x->cd);
	if (x->cd_up)
		step(s);
}

static void
sd_take(struct fsess *s, int fd, const struct sockaddr *sa, socklen_t len)
{
	char label[48];

	snprintf(label, sizeof(label), "%s server-data", s->log_id);
	s->x->sd = conn_accept(s->px->base, fd, sa, len, label, &sd_cbs, s);
	data_conn_setup(s, s->x->sd);
	if (!s->sv_prot)
		s->x->sd_up = 1;
	else if (conn_starttls(s->x->sd, s->rt->ftp_client_tls, 0) < 0) {
		finish(s, "tempfail", "425 Cannot start TLS toward the server.");
		return;
	}
	evtimer_del(s->x->timer);
	step(s); /* the command goes after PORT's reply (sv_port_cb) */
}

/* ------------------------------------------------------------ the server leg */

static void
sv_fin_cb(struct fsess *s, struct ftp_reply *r)
{
	struct xfer *x = s->x;

	if (x == NULL) {
		fsess_idle(s);
		return;
	}
	if (r->code / 100 == 1) { /* a second mark: wait for the final reply */
		s->on_reply = sv_fin_cb;
		return;
	}
	x->fin = *r;
	memset(r, 0, sizeof(*r));
	x->have_fin = 1;
	if (x->phase == XP_CLOSE) {
		char *text = x->reply;

		x->reply = NULL;
		end(s, x->action, text);
		free(text);
		return;
	}
	step(s);
}

static void
sv_cmd_cb(struct fsess *s, struct ftp_reply *r)
{
	struct xfer *x = s->x;

	if (x == NULL) {
		fsess_idle(s);
		return;
	}
	if (r->code / 100 != 1) {
		sv_fin_cb(s, r);
		return;
	}
	x->sv_started = 1;
	s->on_reply = sv_fin_cb;
	conn_set_timeouts(s->sv, 0, s->lc->upstream_timeout_ms);
	if (x->phase == XP_CLOSE)
		return;
	if (x->kind == X_DOWN && s->lc->trickle) {
		/* trickle: the mark now, the file as it comes, its tail after the scan */
		x->trickle = 1;
		fsess_relay(s, r);
		client_data_open(s);
	} else if (x->kind == X_DOWN) {
		/* held: nothing of the file reaches the client before its scan */
		x->mark = *r;
		memset(r, 0, sizeof(*r));
		x->mark_held = 1;
		if (s->lc->keepalive_interval_ms) {
			struct timeval tv = ms_to_tv(s->lc->keepalive_interval_ms);

			evtimer_add(x->ka, &tv);
		}
		client_data_open(s);
	} else if (x->kind == X_LIST) {
		fsess_relay(s, r);
		client_data_open(s);
	} else {
		if (strcmp(x->verb, "STOU") == 0) {
			/* the name the server chose is in its mark: the client learns it
			 * in the final reply */
			char *t = xasprintf("%s%s%s", ftp_reply_first(r), x->report ? "\n" : "",
			                    x->report ? x->report : "");

			free(x->report);
			x->report = t;
		}
		pump(s);
	}
}

static void
send_command(struct fsess *s)
{
	struct xfer *x = s->x;

	if (x->sv_cmd_sent)
		return;
	x->sv_cmd_sent = 1;
	fsess_send(s, sv_cmd_cb, "%s", x->line);
}

static int
sv_is_v6(const struct fsess *s)
{
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&s->sv_addr;

	return s->sv_addr.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&a->sin6_addr);
}

static void
sv_pasv_cb(struct fsess *s, struct ftp_reply *r)
{
	struct xfer *x = s->x;
	struct sockaddr_storage ss;
	socklen_t len;
	uint16_t port = 0;
	char label[48];
	const char *text = ftp_reply_first(r);

	if (x == NULL || x->phase == XP_CLOSE) {
		if (x)
			end(s, x->action, x->reply);
		else
			fsess_idle(s);
		return;
	}
	if (r->code == 227 && ftp_parse_227(text, &ss, &len) == 0)
		port = ftp_sa_port((struct sockaddr *)&ss);
	else if (r->code == 229 && ftp_parse_229(text, &port) < 0)
		port = 0;
	if (port == 0) {
		flog_warnx(s, "server refused passive mode: %.200s", text);
		finish(s, "tempfail", "425 Cannot open a data connection to the server.");
		return;
	}
	s->busy = 1;
	/* the server's own address, whatever the 227 says (no bounce via the server) */
	s->sv_data = s->sv_addr;
	s->sv_data_len = s->sv_len;
	ftp_sa_set_port((struct sockaddr *)&s->sv_data, port);
	snprintf(label, sizeof(label), "%s server-data", s->log_id);
	x->sd = conn_connect(s->px->base, (struct sockaddr *)&s->sv_data, s->sv_data_len, label,
	                     &sd_cbs, s);
	data_conn_setup(s, x->sd);
}

static void
sv_port_cb(struct fsess *s, struct ftp_reply *r)
{
	struct xfer *x = s->x;

	if (x == NULL || x->phase == XP_CLOSE) {
		if (x)
			end(s, x->action, x->reply);
		else
			fsess_idle(s);
		return;
	}
	if (r->code / 100 != 2) {
		flog_warnx(s, "server refused active mode: %.200s", ftp_reply_first(r));
		finish(s, "tempfail", "425 Cannot open a data connection to the server.");
		return;
	}
	s->busy = 1;
	send_command(s);
}

/* Opens the server's data leg; the command follows once it is up. */
static void
server_leg_open(struct fsess *s)
{
	struct sockaddr_storage loc;
	socklen_t ll = sizeof(loc);
	char buf[96];
	struct dlisten *d;

	if (s->lc->upstream_mode == FTP_DATA_PASSIVE) {
		fsess_send(s, sv_pasv_cb, "%s", sv_is_v6(s) ? "EPSV" : "PASV");
		return;
	}
	if (conn_local(s->sv, &loc, &ll) < 0 ||
	    (d = dlisten_open(s, 0, &loc, (struct sockaddr *)&s->sv_addr, s->sv_len)) == NULL) {
		finish(s, "tempfail", "425 Cannot open a data connection to the server.");
		return;
	}
	dlisten_free(s->sv_dl);
	s->sv_dl = d;
	{
		struct timeval tv = ms_to_tv(s->lc->data_timeout_ms);

		evtimer_add(s->x->timer, &tv);
	}
	if (sv_is_v6(s))
		ftp_format_eprt((struct sockaddr *)&d->local, buf, sizeof(buf));
	else
		ftp_format_port((struct sockaddr *)&d->local, buf, sizeof(buf));
	fsess_send(s, sv_port_cb, "%s %s", sv_is_v6(s) ? "EPRT" : "PORT", buf);
}

/* ------------------------------------------------------------ scanning */

struct scan_job {
	struct ftp_proxy *px;
	uint64_t sid, gen;
	char log_id[32];
	struct runtime *rt;
	struct spool *spool;
	struct inspect_outcome out;
	char listener[64], client[96], dest_label[100], hostname[256], user[128], name[256];
	char verb[5], notify_next_hop[256];
	struct sockaddr_storage client_sa, dest_sa;
	int listener_dir;
};

static void
job_run(void *arg)
{
	struct scan_job *j = arg;
	struct inspect_ctx ctx = {
	    .proto = INSPECT_FTP,
	    .listener = j->listener,
	    .listener_dir = j->listener_dir,
	    .client = (struct sockaddr *)&j->client_sa,
	    .client_label = j->client,
	    .dest = (struct sockaddr *)&j->dest_sa,
	    .dest_label = j->dest_label,
	    .hostname = j->hostname,
	    .helo = "",
	    .mail_from = "",
	    .user = j->user,
	    .file_name = j->name,
	};
	struct inspect_object obj = {
	    .fd = spool_fd(j->spool), .size = spool_size(j->spool), .name = j->name, .message = 0};

	log_context_set(j->log_id);
	inspect_run(&j->rt->inspect, &ctx, &obj, &j->out);
	ftp_notice_admin(j->rt, j->notify_next_hop, &ctx, j->verb, &j->out);
	log_context_set(NULL);
}

static void on_outcome(struct fsess *s);

static void
job_done(void *arg)
{
	struct scan_job *j = arg;
	struct fsess *s = fsess_find(j->px, j->sid);

	if (s == NULL || s->x == NULL || s->x->gen != j->gen || s->x->phase != XP_SCAN) {
		/* the transfer was aborted or the session ended: nothing was handed on */
		spool_free(j->spool);
		inspect_outcome_clear(&j->out);
	} else {
		s->x->spool = j->spool;
		s->x->out = j->out;
		s->x->scanned = 1;
		on_outcome(s);
	}
	runtime_unref(j->rt);
	free(j);
}

static void
scan(struct fsess *s)
{
	struct xfer *x = s->x;
	struct scan_job *j = xcalloc(1, sizeof(*j));
	const struct sockaddr *dest =
	    x->kind == X_UP ? (struct sockaddr *)&s->sv_addr : conn_peer(s->cl);

	x->phase = XP_SCAN;
	x->size = spool_size(x->spool);
	j->px = s->px;
	j->sid = s->id;
	j->gen = x->gen;
	snprintf(j->log_id, sizeof(j->log_id), "%s", s->log_id);
	j->rt = runtime_ref(s->rt);
	j->spool = x->spool;
	x->spool = NULL; /* lent to the job */
	snprintf(j->listener, sizeof(j->listener), "%s", net_listener_name(s->l));
	snprintf(j->client, sizeof(j->client), "%s", s->cl_label);
	snprintf(j->dest_label, sizeof(j->dest_label), "%s", s->sv_label);
	snprintf(j->hostname, sizeof(j->hostname), "%s", s->hostname);
	snprintf(j->user, sizeof(j->user), "%s", s->user);
	snprintf(j->name, sizeof(j->name), "%s", x->name);
	snprintf(j->verb, sizeof(j->verb), "%s", x->verb);
	snprintf(j->notify_next_hop, sizeof(j->notify_next_hop), "%s",
	         s->lc->notify_next_hop ? s->lc->notify_next_hop : "");
	memcpy(&j->client_sa, conn_peer(s->cl), conn_peer_len(s->cl));
	memcpy(&j->dest_sa, dest,
	       dest->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                   : sizeof(struct sockaddr_in));
	j->listener_dir = s->lc->direction;
	workq_submit(s->px->wq, job_run, job_done, j);
}

static void
start_send(struct fsess *s, const struct spool *from)
{
	struct xfer *x = s->x;

	x->phase = XP_SEND;
	if (from != x->spool)
		x->off = 0; /* a copy (the report) starts over; the file goes on */
	x->from = from;
	if (x->kind == X_UP) {
		server_leg_open(s);
	} else {
		xfer_mark_release(s, "Sending the scanned file.");
		pump(s);
	}
}

static void
on_outcome(struct fsess *s)
{
	struct xfer *x = s->x;
	struct inspect_outcome *o = &x->out;
	const char *names = o->names && o->names[0] ? o->names : NULL;
	int code;

	if (o->kind == INSPECT_REFUSE && o->why == WHY_SEALED)
		x->report = xasprintf("Portcullis holds %s back: outbreak alert %s is active.",
		                      x->name, o->alert);
	else if (names)
		x->report = xasprintf(
		    "Portcullis scanned %s: infected (%s)\nThe gateway %s.", x->name, names,
		    o->dec.action == ACT_PASS         ? "passed it on as the policy says"
		    : o->dec.action == ACT_REJECT     ? "blocked it"
		    : o->dec.action == ACT_QUARANTINE ? "quarantined it"
		    : o->dec.action == ACT_REPLACE    ? "replaced it with its report"
		                                      : inspect_action_past(o->dec.action));
	else if (o->kind == INSPECT_REFUSE)
		x->report = xasprintf("Portcullis could not scan %s: %s", x->name, o->text);
	switch (o->kind) {
	case INSPECT_DELIVER:
		x->action = "pass";
		start_send(s, x->spool);
		return;
	case INSPECT_DELIVER_COPY:
		if (x->off > 0) {
			/* trickled: the client has part of the file already, a report
			 * cannot take its place; the transfer is aborted */
			finish(s, "block", "550-%s\n550 %s refused: virus found (%s).",
			       x->report ? x->report : "", x->name, names ? names : "-");
			return;
		}
		x->action = "replace";
		start_send(s, o->copy);
		return;
	case INSPECT_STORED:
		finish(s, "quarantine", "550-%s\n550 %s quarantined as %s: virus found (%s).",
		       x->report ? x->report : "", x->name, o->id, names ? names : "-");
		return;
	case INSPECT_REFUSE:
	case INSPECT_DROPPED:
	default:
		code = o->kind == INSPECT_REFUSE && !o->permanent
		           ? (o->why == WHY_STORE_FULL ? 452 : 451)
		           : 550;
		{
			char *rep = xstrdup("");

			for (const char *p = x->report ? x->report : ""; *p;) {
				const char *nl = strchr(p, '\n');
				size_t n = nl ? (size_t)(nl - p) : strlen(p);
				char *u = xasprintf("%s%d-%.*s\n", rep, code, (int)n, p);

				free(rep);
				rep = u;
				p += n + (nl ? 1 : 0);
			}
			finish(s,
			       o->why == WHY_INFECTED || o->kind == INSPECT_DROPPED ? "block"
			       : o->why == WHY_SEALED                               ? "sealed"
			                                                            : "tempfail",
			       "%s%d %s refused: %s.", rep, code, x->name,
			       o->text[0] ? o->text : "virus found");
			free(rep);
		}
		return;
	}
}

/* ------------------------------------------------------------ the state machine */

static void
step(struct fsess *s)
{
	struct xfer *x = s->x;

	if (x == NULL || s->closing)
		return;
	switch (x->phase) {
	case XP_RECV:
		if (x->kind == X_UP) {
			if (x->src_eof)
				scan(s);
			return;
		}
		if (x->have_fin && x->fin.code / 100 != 2) {
			/* the server failed the transfer: its reply, nothing passed on */
			conn_free(x->cd);
			x->cd = NULL;
			end_with_fin(s, "-");
			return;
		}
		if (x->trickle)
			pump(s);
		if (!x->src_eof || !x->have_fin)
			return;
		if (x->kind == X_LIST) {
			x->action = "pass";
			start_send(s, x->spool);
		} else {
			scan(s);
		}
		return;
	case XP_SEND:
		if (x->kind == X_UP) {
			if (x->have_fin && (x->sd_done || !x->sv_started || x->fin.code / 100 != 2))
				end_with_fin(s, x->action);
			else
				pump(s);
			return;
		}
		if (x->cd_done)
			end_with_fin(s, x->action);
		else
			pump(s);
		return;
	default:
		return;
	}
}

/* ------------------------------------------------------------ the command */

/* A name from the wire, for logs, reports and the quarantine index: its
 * last path component, with anything but [A-Za-z0-9._+-] made '_'. */
static void
sanitize_name(const char *arg, char *out, size_t cap)
{
	const char *b = strrchr(arg, '/');
	size_t k = 0;

	b = b ? b + 1 : arg;
	for (; *b && k < cap - 1 && k < 200; b++)
		out[k++] = (isalnum((unsigned char)*b) || strchr("._+-", *b)) ? *b : '_';
	out[k] = '\0';
	if (k == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		snprintf(out, cap, "unnamed");
}

void
xfer_mark_release(struct fsess *s, const char *closing)
{
	struct xfer *x = s->x;

	if (x == NULL || !x->mark_held)
		return;
	x->mark_held = 0;
	evtimer_del(x->ka);
	if (x->mark_open)
		fsess_reply(s, "%d %s", x->mark.code, closing);
	else if (!strcmp(closing, "Sending the scanned file."))
		fsess_relay(s, &x->mark);
	/* else: the refusal that follows is the reply to the command */
}

/* A long download: a "150-" line on the control channel every
 * keepalive_interval, so that the client and the firewalls between see it alive. */
static void
ka_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fsess *s = arg;
	struct xfer *x = s->x;
	struct timeval tv = ms_to_tv(s->lc->keepalive_interval_ms);

	(void)fd;
	(void)what;
	if (x == NULL || !x->mark_held || s->closing)
		return;
	if (!x->mark_open) {
		for (size_t i = 0; i < x->mark.nlines; i++) {
			const char *l = x->mark.lines[i];

			/* the server's lines, each a continuation now */
			if (strlen(l) >= 4 && isdigit((unsigned char)l[0]))
				fsess_reply(s, "%d-%s", x->mark.code, l + 4);
			else
				fsess_reply(s, "%d-%s", x->mark.code, l);
		}
		x->mark_open = 1;
	}
	fsess_reply(s, "%d-Portcullis: %llu bytes received, %s", x->mark.code,
	            (unsigned long long)(x->spool ? spool_size(x->spool) : x->size),
	            x->phase == XP_SCAN ? "scanning" : "receiving");
	evtimer_add(x->ka, &tv);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fsess *s = arg;

	(void)fd;
	(void)what;
	if (s->x && (s->x->want_cd || (s->sv_dl && s->x->sd == NULL))) {
		flog_warnx(s, "%s %s: no data connection from the %s within data_timeout",
		           s->x->verb, s->x->name, s->x->want_cd ? "client" : "server");
		finish(s, "tempfail", "425 No data connection.");
	}
}

void
xfer_begin(struct fsess *s, const char *verb, const char *arg, const char *line)
{
	struct xfer *x;

	if (s->cl_mode == 0) {
		fsess_reply(s, "425 Use PORT, PASV, EPRT or EPSV first.");
		return;
	}
	if ((!strcmp(verb, "RETR") || !strcmp(verb, "STOR") || !strcmp(verb, "APPE")) && !*arg) {
		fsess_reply(s, "501 %s needs a file name.", verb);
		return;
	}
	x = xcalloc(1, sizeof(*x));
	x->gen = ++s->next_gen;
	x->kind = !strcmp(verb, "RETR") ? X_DOWN
	          : !strcmp(verb, "STOR") || !strcmp(verb, "APPE") || !strcmp(verb, "STOU")
	              ? X_UP
	              : X_LIST;
	snprintf(x->verb, sizeof(x->verb), "%s", verb);
	x->line = xstrdup(line);
	sanitize_name(*arg ? arg : verb, x->name, sizeof(x->name));
	x->spool = spool_new(s->rt->conf.spool_dir, s->lc->memory_spool);
	x->phase = XP_RECV;
	x->timer = evtimer_new(s->px->base, timer_cb, s);
	x->ka = evtimer_new(s->px->base, ka_cb, s);
	if (x->timer == NULL || x->ka == NULL)
		fatalx("out of memory (ftp transfer)");
	s->x = x;
	s->busy = 1;
	conn_set_timeouts(s->cl, 0, s->lc->command_timeout_ms);
	if (x->kind == X_UP) {
		fsess_reply(s, "150 Ok to send data (it is scanned before it goes on).");
		client_data_open(s);
	} else {
		server_leg_open(s);
	}
}

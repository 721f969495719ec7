/*
 * smtp_commands: one handler per client command, dispatched through
 * smtp_cmd's table. Owns the transaction's envelope (MAIL, RCPT) and its
 * life (tx_free, tx_reset); relays what the next hop must see through
 * smtp_nexthop and answers with its reply. Leaves DATA's bytes to
 * smtp_message.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp_cmd.h"
#include "smtp/smtp_session.h"
#include "util/cidr.h"
#include "util/sanitize.h"
#include "util/xalloc.h"

void
tx_free(struct tx *tx)
{
	if (tx == NULL)
		return;
	free(tx->mail_from);
	free(tx->mail_params);
	for (size_t i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	free(tx->rcpt_pending);
	spool_free(tx->spool);
	inspect_outcome_clear(&tx->out);
	notices_clear(&tx->notices);
	free(tx->parked_reply);
	free(tx);
}

void
tx_reset(struct session *s)
{
	tx_free(s->tx);
	s->tx = NULL;
}

/* The original client, for XCLIENT and XFORWARD: an authorized XFORWARD's
 * values where it gave them, else the connection's. */
static void
client_info(const struct session *s, struct nexthop_client *ci)
{
	const struct xforward *xf = &s->xf;

	ci->name = xf->set && xf->name[0] ? xf->name : NULL;
	ci->addr = xf->set && xf->addr[0] ? xf->addr : conn_peer_addr(s->conn);
	ci->port = xf->set && xf->port ? xf->port : conn_peer_port(s->conn);
	ci->helo = xf->set && xf->helo[0] ? xf->helo : s->helo;
	ci->proto = xf->set && xf->proto[0] ? xf->proto : s->esmtp ? "ESMTP" : "SMTP";
}

/* Relays a relayed command's outcome and gives the client the turn again;
 * a next hop that failed leaves nothing to relay to: goodbye. */
static void
relay_and_resume(struct session *s, enum smtp_status st, const struct smtp_reply *r)
{
	reply_relay(s, st, r);
	if (st != SMTP_REPLY) {
		session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
		return;
	}
	session_resume(s);
}

/* ------------------------------------------------------------ HELO, EHLO */

static void
nh_hello_cb(void *arg, enum nexthop_hello result)
{
	struct session *s = arg;

	switch (result) {
	case NH_HELLO_OK:
		reply_ehlo(s);
		session_resume(s);
		break;
	case NH_HELLO_TLS_REFUSED:
		session_goodbye(s, "421 4.7.0 %s next hop refused TLS", s->hostname);
		break;
	case NH_HELLO_NO_TLS:
		session_goodbye(s, "421 4.7.0 %s next hop offers no TLS", s->hostname);
		break;
	case NH_HELLO_UNAVAILABLE:
		session_goodbye(s, "421 4.4.1 %s next hop unavailable", s->hostname);
		break;
	}
}

static void
cmd_helo(struct session *s, const char *args, int esmtp)
{
	struct nexthop_client ci;
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
	/* A transaction the next hop holds open ends with the new EHLO.
	 * XCLIENT, if it is used, names the connection's client: an XFORWARD
	 * comes later, inside a transaction's scope. */
	ci.name = NULL;
	ci.addr = conn_peer_addr(s->conn);
	ci.port = conn_peer_port(s->conn);
	ci.helo = s->helo;
	ci.proto = esmtp ? "ESMTP" : "SMTP";
	session_pause(s, S_NEXTHOP);
	nexthop_hello(s->nh, &ci, nh_hello_cb, s);
}

/* ------------------------------------------------------------ MAIL, RCPT */

/* Checks MAIL parameters; builds the ones passed on. 0 or -1 (replied). */
static int
mail_params(struct session *s, const struct smtp_path *p, struct tx *tx)
{
	const struct nexthop_caps *k = s->nh ? nexthop_caps(s->nh) : NULL;
	char buf[1024] = "";

	for (size_t i = 0; i < p->nparams; i++) {
		const struct smtp_param *pr = &p->params[i];
		size_t n = strlen(buf);

		if (strcmp(pr->name, "SIZE") == 0) {
			char *end;
			uint64_t size = strtoull(pr->value, &end, 10);

			if (*pr->value == '\0' || *end != '\0') {
				reply(s, "501 5.5.4 bad SIZE parameter");
				return -1;
			}
			if (size > offered_size(s)) {
				reply(s, "552 5.3.4 message size exceeds fixed limit");
				return -1;
			}
		} else if (strcmp(pr->name, "BODY") == 0) {
			if (strcasecmp(pr->value, "7BIT") != 0 &&
			    !(strcasecmp(pr->value, "8BITMIME") == 0 &&
			      offers(s, k && k->eightbit))) {
				reply(s, "555 5.5.4 unsupported BODY=%s", pr->value);
				return -1;
			}
		} else if (strcmp(pr->name, "RET") == 0 || strcmp(pr->name, "ENVID") == 0) {
			if (!(k && k->dsn)) {
				reply(s, "555 5.5.4 DSN not offered");
				return -1;
			}
		} else if (strcmp(pr->name, "SMTPUTF8") == 0) {
			if (!offers(s, k && k->utf8)) {
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

/* The next hop's reply to MAIL: relayed; a refusal ends the transaction. */
static void
nh_mail_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct session *s = arg;

	if (st != SMTP_REPLY || r->code / 100 != 2)
		tx_reset(s);
	relay_and_resume(s, st, r);
}

static void
cmd_mail(struct session *s, const char *args)
{
	struct nexthop_client xf;
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
	client_info(s, &xf);
	session_pause(s, S_NEXTHOP);
	nexthop_mail(s->nh, tx->mail_from, tx->mail_params, &xf, nh_mail_cb, s);
}

/* The next hop's reply to RCPT: an accepted recipient joins the envelope. */
static void
nh_rcpt_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct session *s = arg;
	struct tx *tx = s->tx;

	if (st == SMTP_REPLY && r->code / 100 == 2) {
		tx->rcpts[tx->nrcpts++] = tx->rcpt_pending;
		tx->rcpt_pending = NULL;
	}
	free(tx->rcpt_pending);
	tx->rcpt_pending = NULL;
	relay_and_resume(s, st, r);
}

static void
cmd_rcpt(struct session *s, const char *args)
{
	struct smtp_path p;
	struct tx *tx = s->tx;
	char err[64], params[1100];

	if (tx == NULL) {
		reply(s, "503 5.5.1 need MAIL command");
		return;
	}
	if (smtp_path_parse(args, "TO:", &p, err, sizeof(err)) < 0) {
		reply(s, "501 5.5.4 RCPT syntax: %s", err);
		return;
	}
	params[0] = '\0';
	for (size_t i = 0; i < p.nparams; i++) {
		const struct smtp_param *pr = &p.params[i];
		size_t n = strlen(params);

		if (!(s->nh && nexthop_caps(s->nh)->dsn) ||
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
	if (s->nh == NULL) {
		tx->rcpts[tx->nrcpts++] = xstrdup(p.addr);
		reply(s, "250 2.1.5 Ok");
		return;
	}
	tx->rcpt_pending = xstrdup(p.addr);
	session_pause(s, S_NEXTHOP);
	nexthop_rcpt(s->nh, p.addr, params, nh_rcpt_cb, s);
}

/* ------------------------------------------------------- DATA, RSET, QUIT */

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
	session_timeouts(s);
}

static void
nh_rset_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	relay_and_resume(arg, st, r);
}

static void
cmd_rset(struct session *s)
{
	tx_reset(s);
	memset(&s->xf, 0, sizeof(s->xf));
	if (s->nh && nexthop_in_tx(s->nh)) {
		session_pause(s, S_NEXTHOP);
		nexthop_rset(s->nh, nh_rset_cb, s);
		return;
	}
	reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s)
{
	if (s->nh)
		nexthop_quit(s->nh);
	s->close_reason = "quit";
	session_goodbye(s, "221 2.0.0 %s closing connection", s->hostname);
}

/* -------------------------------------------------------------- STARTTLS */

static void
cmd_starttls(struct session *s, const char *args)
{
	SSL_CTX *ctx = s->rt->server_tls[s->lidx];

	if (ctx == NULL) {
		reply(s, "502 5.5.1 STARTTLS not offered");
		return;
	}
	if (conn_tls(s->conn)) {
		reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (*args) {
		reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	/* Commands pipelined behind STARTTLS were sent in the clear: the
	 * conn drops them (the STARTTLS command injection attack). */
	if (conn_starttls(s->conn, ctx, 1) < 0) {
		session_close(s, "tls-setup");
		return;
	}
	/* RFC 3207 4.2: forget what the client said before. */
	s->helo_seen = 0;
	s->esmtp = 0;
	tx_reset(s);
	session_timeouts(s);
}

/* --------------------------------------------------------------- XFORWARD */

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
		size_t klen;
		char val[256];

		if (eq == NULL) {
			reply(s, "501 5.5.4 bad XFORWARD attribute");
			return;
		}
		klen = (size_t)(eq - p);
		end = eq + 1 + strcspn(eq + 1, " ");
		smtp_xtext_decode(eq + 1, (size_t)(end - eq - 1), val, sizeof(val));
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

/* ------------------------------------------------------------- dispatch */

/* A refused client (554 banner) is closed after this many commands. */
#define REFUSED_MAX_COMMANDS 10

void
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
	if (s->refused) {
		if (ci->verb == V_QUIT)
			cmd_quit(s);
		else if (s->ncmds >= REFUSED_MAX_COMMANDS)
			session_goodbye(s, "421 4.7.0 %s closing connection", s->hostname);
		else
			reply(s, "503 5.7.1 no SMTP service for you: send QUIT");
		return;
	}
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
	case V_EHLO:
		cmd_helo(s, args, ci->verb == V_EHLO);
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
		cmd_quit(s);
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

/*
 * smtp_nexthop: the next-hop session's state machine. Owns the
 * smtp_client, the announced capabilities and the step in progress; the
 * session that asked owns the callback's argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_cmd.h"
#include "smtp/smtp_nexthop.h"
#include "util/log.h"
#include "util/xalloc.h"

enum nh_state {
	NH_CONNECTING, /* waiting for the banner */
	NH_GREETED,    /* banner taken; no EHLO yet */
	NH_EHLO,
	NH_STARTTLS,
	NH_XCLIENT,
	NH_READY, /* EHLO dialogue done, no transaction */
	NH_XFORWARD,
	NH_MAIL,
	NH_TX, /* MAIL accepted */
	NH_RCPT,
	NH_RSET,
	NH_DATA,
	NH_BODY,
	NH_QUIT,
	NH_FAILED,
};

static const char *state_names[] = {"connecting", "greeted",  "ehlo", "starttls", "xclient",
                                    "ready",      "xforward", "mail", "tx",       "rcpt",
                                    "rset",       "data",     "body", "quit",     "failed"};

struct nexthop {
	struct smtp_client *c;
	char log[64];
	struct nexthop_opts o;
	enum nh_state state;
	struct nexthop_caps caps;
	int xclient_sent; /* XCLIENT was tried in this EHLO dialogue */
	/* the step in progress */
	nexthop_cb cb;
	nexthop_hello_cb hello_cb;
	void *arg;
	char *mail_line;                /* MAIL, sent after XFORWARD */
	char *prepend;                  /* DATA: header lines for the body */
	const struct spool *sp;         /* DATA: borrowed */
	struct smtp_reply refusal;      /* DATA: its refusal, reported after RSET */
	struct nexthop_client hello_ci; /* borrowed strings copied below */
	char ci_addr[64], ci_helo[256];
	char ci_proto[16];
};

static void
nh_enter_state(struct nexthop *nh, enum nh_state st)
{
	if (nh->state != st)
		log_debug("%s: nexthop state %s -> %s", nh->log, state_names[nh->state],
		          state_names[st]);
	nh->state = st;
}

/* Ends the step with st/r in state next; the callback runs last. */
static void
nh_finish(struct nexthop *nh, enum nh_state next, enum smtp_status st, const struct smtp_reply *r)
{
	nexthop_cb cb = nh->cb;
	void *arg = nh->arg;

	nh_enter_state(nh, st == SMTP_REPLY ? next : NH_FAILED);
	nh->cb = NULL;
	nh->arg = NULL;
	if (cb)
		cb(arg, st, r);
}

static void
nh_hello_done(struct nexthop *nh, enum nexthop_hello result)
{
	nexthop_hello_cb cb = nh->hello_cb;
	void *arg = nh->arg;

	nh_enter_state(nh, result == NH_HELLO_OK       ? NH_READY
	                   : smtp_client_failed(nh->c) ? NH_FAILED
	                                               : NH_GREETED);
	nh->hello_cb = NULL;
	nh->arg = NULL;
	cb(arg, result);
}

/* The first line of a reply or the failure, for logs. */
static void
nh_summary(const struct nexthop *nh, enum smtp_status st, const struct smtp_reply *r, char *buf,
           size_t cap)
{
	if (st != SMTP_REPLY)
		snprintf(buf, cap, "%s", smtp_client_error(nh->c));
	else
		snprintf(buf, cap, "%d%s%s %s", r->code, r->enh[0] ? " " : "", r->enh,
		         r->nlines ? r->lines[0] : "");
}

static void
banner_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;

	if (st == SMTP_REPLY && r->code != 220) {
		char sum[256];

		nh_summary(nh, st, r, sum, sizeof(sum));
		log_warnx("%s: next hop unavailable reply=\"%s\"", nh->log, sum);
	}
	nh_finish(nh, st == SMTP_REPLY && r->code == 220 ? NH_GREETED : NH_FAILED, st, r);
}

struct nexthop *
nexthop_connect(struct event_base *base, const struct sockaddr *sa, socklen_t salen,
                const char *log_id, const struct nexthop_opts *o, nexthop_cb cb, void *arg)
{
	struct nexthop *nh = xcalloc(1, sizeof(*nh));

	snprintf(nh->log, sizeof(nh->log), "%s", log_id);
	nh->o = *o;
	nh->cb = cb;
	nh->arg = arg;
	nh->state = NH_CONNECTING;
	smtp_reply_init(&nh->refusal);
	nh->c = smtp_client_connect(base, sa, salen, log_id, o->timeout_ms, banner_cb, nh);
	return nh;
}

/* ------------------------------------------------------ the EHLO dialogue */

static void ehlo_cb(void *arg, enum smtp_status st, const struct smtp_reply *r);
static void hello_next(struct nexthop *nh);

static void
send_ehlo(struct nexthop *nh)
{
	char line[300];

	snprintf(line, sizeof(line), "EHLO %s", nh->o.hostname);
	nh_enter_state(nh, NH_EHLO);
	smtp_client_command(nh->c, line, ehlo_cb, nh);
}

static void
hello_fail(struct nexthop *nh, enum smtp_status st, const struct smtp_reply *r)
{
	char sum[256];

	nh_summary(nh, st, r, sum, sizeof(sum));
	log_warnx("%s: next hop failed during EHLO reply=\"%s\"", nh->log, sum);
	nh_hello_done(nh, NH_HELLO_UNAVAILABLE);
}

static void
parse_caps(struct nexthop *nh, const struct smtp_reply *r)
{
	struct nexthop_caps *k = &nh->caps;
	const char *arg;

	k->pipelining = smtp_reply_has(r, "PIPELINING", NULL);
	k->eightbit = smtp_reply_has(r, "8BITMIME", NULL);
	k->enh = smtp_reply_has(r, "ENHANCEDSTATUSCODES", NULL);
	k->utf8 = smtp_reply_has(r, "SMTPUTF8", NULL);
	k->starttls = smtp_reply_has(r, "STARTTLS", NULL);
	k->xforward = smtp_reply_has(r, "XFORWARD", NULL);
	k->xclient = smtp_reply_has(r, "XCLIENT", NULL);
	k->dsn = smtp_reply_has(r, "DSN", NULL);
	k->size = smtp_reply_has(r, "SIZE", &arg) ? strtoull(arg, NULL, 10) : 0;
}

static void
ehlo_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;

	if (st != SMTP_REPLY || r->code != 250) {
		hello_fail(nh, st, r);
		return;
	}
	parse_caps(nh, r);
	hello_next(nh);
}

static void
starttls_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;

	if (st == SMTP_REPLY && r->code == 220 && smtp_client_tls(nh->c)) {
		char desc[128];

		log_info("%s: next hop TLS established tls=%s", nh->log,
		         smtp_client_tls_describe(nh->c, desc, sizeof(desc)));
		send_ehlo(nh);
		return;
	}
	if (st != SMTP_REPLY) {
		hello_fail(nh, st, r);
		return;
	}
	/* The next hop refused STARTTLS. */
	if (nh->o.tls_mode == TLS_REQUIRE) {
		log_warnx("%s: next hop refused STARTTLS code=%d", nh->log, r->code);
		nh_hello_done(nh, NH_HELLO_TLS_REFUSED);
		return;
	}
	nh->caps.starttls = 0;
	hello_next(nh);
}

static void
xclient_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;

	if (st != SMTP_REPLY) {
		hello_fail(nh, st, r);
		return;
	}
	if (r->code != 220) {
		log_warnx("%s: next hop refused XCLIENT code=%d", nh->log, r->code);
		hello_next(nh);
		return;
	}
	send_ehlo(nh); /* XCLIENT starts a new session */
}

static int
use_xclient(const struct nexthop *nh)
{
	if (nh->o.forward_client == FWD_XCLIENT)
		return nh->caps.xclient;
	if (nh->o.forward_client == FWD_AUTO)
		return nh->caps.xclient && !nh->caps.xforward;
	return 0;
}

/* After an EHLO reply (or a refused STARTTLS or XCLIENT): the next step. */
static void
hello_next(struct nexthop *nh)
{
	if (nh->caps.starttls && !smtp_client_tls(nh->c) && nh->o.tls_mode != TLS_NONE) {
		nh_enter_state(nh, NH_STARTTLS);
		smtp_client_starttls(nh->c, nh->o.tls_ctx, starttls_cb, nh);
		return;
	}
	if (nh->o.tls_mode == TLS_REQUIRE && !smtp_client_tls(nh->c)) {
		log_warnx("%s: next hop offers no STARTTLS", nh->log);
		nh_hello_done(nh, NH_HELLO_NO_TLS);
		return;
	}
	if (use_xclient(nh) && !nh->xclient_sent) {
		const struct nexthop_client *ci = &nh->hello_ci;
		char line[600], helo[300];

		smtp_xtext_encode(ci->helo, helo, sizeof(helo));
		snprintf(line, sizeof(line),
		         "XCLIENT NAME=[UNAVAILABLE] ADDR=%s%s PORT=%u HELO=%s PROTO=%s",
		         strchr(ci->addr, ':') ? "IPV6:" : "", ci->addr, ci->port, helo, ci->proto);
		nh->xclient_sent = 1;
		nh_enter_state(nh, NH_XCLIENT);
		smtp_client_command(nh->c, line, xclient_cb, nh);
		return;
	}
	nh_hello_done(nh, NH_HELLO_OK);
}

void
nexthop_hello(struct nexthop *nh, const struct nexthop_client *ci, nexthop_hello_cb cb, void *arg)
{
	nh->hello_cb = cb;
	nh->arg = arg;
	nh->xclient_sent = 0;
	snprintf(nh->ci_addr, sizeof(nh->ci_addr), "%s", ci->addr);
	snprintf(nh->ci_helo, sizeof(nh->ci_helo), "%s", ci->helo);
	snprintf(nh->ci_proto, sizeof(nh->ci_proto), "%s", ci->proto);
	nh->hello_ci.addr = nh->ci_addr;
	nh->hello_ci.helo = nh->ci_helo;
	nh->hello_ci.proto = nh->ci_proto;
	nh->hello_ci.port = ci->port;
	send_ehlo(nh);
}

/* ------------------------------------------------------ the transaction */

static void
mail_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;

	free(nh->mail_line);
	nh->mail_line = NULL;
	nh_finish(nh, r && r->code / 100 == 2 ? NH_TX : NH_READY, st, r);
}

static void
xforward_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;

	if (st != SMTP_REPLY) {
		mail_cb(nh, st, r);
		return;
	}
	if (r->code != 250)
		log_warnx("%s: next hop refused XFORWARD code=%d", nh->log, r->code);
	nh_enter_state(nh, NH_MAIL);
	smtp_client_command(nh->c, nh->mail_line, mail_cb, nh);
}

void
nexthop_mail(struct nexthop *nh, const char *from, const char *params,
             const struct nexthop_client *xf, nexthop_cb cb, void *arg)
{
	nh->cb = cb;
	nh->arg = arg;
	nh->mail_line = xasprintf("MAIL FROM:<%s>%s", from, params);
	if (xf && nh->caps.xforward && nh->o.forward_client != FWD_OFF &&
	    nh->o.forward_client != FWD_XCLIENT) {
		char line[1200], helo[300], name[300];

		smtp_xtext_encode(xf->helo, helo, sizeof(helo));
		smtp_xtext_encode(xf->name ? xf->name : "[UNAVAILABLE]", name, sizeof(name));
		snprintf(line, sizeof(line), "XFORWARD NAME=%s ADDR=%s%s PORT=%u PROTO=%s HELO=%s",
		         name, strchr(xf->addr, ':') ? "IPV6:" : "", xf->addr, xf->port, xf->proto,
		         helo);
		nh_enter_state(nh, NH_XFORWARD);
		smtp_client_command(nh->c, line, xforward_cb, nh);
		return;
	}
	nh_enter_state(nh, NH_MAIL);
	smtp_client_command(nh->c, nh->mail_line, mail_cb, nh);
}

static void
rcpt_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	nh_finish(arg, NH_TX, st, r);
}

void
nexthop_rcpt(struct nexthop *nh, const char *to, const char *params, nexthop_cb cb, void *arg)
{
	char *line = xasprintf("RCPT TO:<%s>%s", to, params);

	nh->cb = cb;
	nh->arg = arg;
	nh_enter_state(nh, NH_RCPT);
	smtp_client_command(nh->c, line, rcpt_cb, nh);
	free(line);
}

static void
ready_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	nh_finish(arg, NH_READY, st, r);
}

void
nexthop_rset(struct nexthop *nh, nexthop_cb cb, void *arg)
{
	nh->cb = cb;
	nh->arg = arg;
	nh_enter_state(nh, NH_RSET);
	smtp_client_command(nh->c, "RSET", ready_cb, nh);
}

/* After DATA was refused: the RSET is done, the refusal is reported. */
static void
data_rset_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;
	struct smtp_reply refusal = nh->refusal; /* ours now */
	nexthop_cb cb = nh->cb;
	void *cbarg = nh->arg;

	smtp_reply_init(&nh->refusal);
	nh_enter_state(nh, st == SMTP_REPLY ? NH_READY : NH_FAILED);
	nh->cb = NULL;
	nh->arg = NULL;
	cb(cbarg, SMTP_REPLY, &refusal);
	smtp_reply_clear(&refusal);
}

static void
data_cb(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct nexthop *nh = arg;
	char *prepend = nh->prepend;

	nh->prepend = NULL;
	if (st == SMTP_REPLY && r->code != 354) {
		/* A refused DATA leaves the transaction open at the next hop
		 * (RFC 5321 4.1.1.4): end it, so that the next MAIL is not
		 * refused as nested. */
		free(prepend);
		smtp_reply_copy(&nh->refusal, r);
		nh_enter_state(nh, NH_RSET);
		smtp_client_command(nh->c, "RSET", data_rset_cb, nh);
		return;
	}
	if (st != SMTP_REPLY) {
		free(prepend);
		nh_finish(nh, NH_FAILED, st, r);
		return;
	}
	nh_enter_state(nh, NH_BODY);
	smtp_client_body(nh->c, prepend, nh->sp, ready_cb, nh);
	free(prepend);
}

void
nexthop_data(struct nexthop *nh, const char *prepend, const struct spool *sp, nexthop_cb cb,
             void *arg)
{
	nh->cb = cb;
	nh->arg = arg;
	nh->sp = sp;
	nh->prepend = prepend ? xstrdup(prepend) : NULL;
	nh_enter_state(nh, NH_DATA);
	smtp_client_command(nh->c, "DATA", data_cb, nh);
}

void
nexthop_quit(struct nexthop *nh)
{
	if (nh->state == NH_FAILED || smtp_client_failed(nh->c))
		return;
	nh_enter_state(nh, NH_QUIT);
	smtp_client_command(nh->c, "QUIT", NULL, NULL);
}

const struct nexthop_caps *
nexthop_caps(const struct nexthop *nh)
{
	return &nh->caps;
}

int
nexthop_in_tx(const struct nexthop *nh)
{
	return nh->state == NH_TX || nh->state == NH_RCPT;
}

int
nexthop_tls(const struct nexthop *nh)
{
	return smtp_client_tls(nh->c);
}

int
nexthop_failed(const struct nexthop *nh)
{
	return nh->state == NH_FAILED || smtp_client_failed(nh->c);
}

const char *
nexthop_error(const struct nexthop *nh)
{
	return smtp_client_error(nh->c);
}

void
nexthop_free(struct nexthop *nh)
{
	if (nh == NULL)
		return;
	smtp_client_free(nh->c);
	free(nh->mail_line);
	free(nh->prepend);
	smtp_reply_clear(&nh->refusal);
	free(nh);
}

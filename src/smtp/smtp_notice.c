/*
 * smtp_notice: the notices a decision calls for (to the recipients, the
 * sender, the admin), built from the templates on the worker thread, and
 * delivered like the message would have been: into the Maildir next hop on
 * the worker, or to the SMTP next hop each on its own connection from the
 * loop. Owns the built messages and each notice in flight; a drain waits
 * for those. Best effort: a notice that fails is logged, never retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mail/notify.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_cmd.h"
#include "smtp/smtp_session.h"
#include "store/maildir.h"
#include "util/cidr.h"
#include "util/sanitize.h"
#include "util/xalloc.h"

void
notices_clear(struct smtp_notices *n)
{
	for (size_t i = 0; i < n->n; i++) {
		free(n->msg[i]);
		free(n->to[i]);
	}
	free(n->msg);
	free(n->to);
	memset(n, 0, sizeof(*n));
}

/* Adds one notice; an address notify refuses (it came from the wire) is skipped. */
static void
add_notice(struct smtp_notices *n, const struct notify_templates *t, const char *which,
           const struct notify_vars *v, const char *from, const char *to)
{
	char *msg = notify_message(t, which, v, from, to);

	if (msg == NULL) {
		char safe[128];

		sanitize(to, safe, sizeof(safe), SAN_VALUE);
		log_warnx("no %s notice to <%s>: not an address notices can go to", which, safe);
		return;
	}
	n->msg = xrealloc(n->msg, (n->n + 1) * sizeof(char *));
	n->to = xrealloc(n->to, (n->n + 1) * sizeof(char *));
	n->msg[n->n] = msg;
	n->to[n->n] = xstrdup(to);
	n->n++;
}

void
notices_build(struct smtp_notices *n, const struct runtime *rt, const struct inspect_ctx *ctx,
              const struct inspect_object *obj, struct inspect_outcome *out)
{
	const struct dir_policy *dp = &rt->policy.dir[out->dir];
	const char *nfrom = rt->conf.notify_from;
	char rcpts[2048] = "", date[64], from[300];
	struct notify_vars v;
	time_t now = time(NULL);
	struct tm tm;

	if (strchr(nfrom, '@'))
		snprintf(from, sizeof(from), "%s", nfrom);
	else
		snprintf(from, sizeof(from), "%s@%s", nfrom, ctx->hostname);
	for (size_t i = 0; i < ctx->nrcpts; i++)
		snprintf(rcpts + strlen(rcpts), sizeof(rcpts) - strlen(rcpts), "%s%s",
		         i ? ", " : "", ctx->rcpts[i]);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
	memset(&v, 0, sizeof(v));
	/* Only a quarantined message has an ID to ask for. */
	v.id = out->id[0] ? out->id : "none (the message was not kept)";
	v.virus = out->names[0] ? out->names : out->dec.cause_detail;
	v.from = ctx->mail_from[0] ? ctx->mail_from : "<>";
	v.rcpts = rcpts;
	v.subject = inspect_subject(obj, out);
	v.date = date;
	v.action = inspect_action_past(out->dec.action);
	v.client = ctx->client_label;
	v.hostname = ctx->hostname;
	v.release_hint = out->id[0] ? rt->conf.quarantine_release_hint
	                            : "The message was not kept, so it cannot be released.";
	v.direction = direction_name(out->dir);

	if (out->kind == INSPECT_HELD || out->held) {
		/* Outbreak: the recipients learn that it is held and why; the
		 * stripped copy of hold_attachments carries its own notes. */
		v.alert = out->alert;
		v.virus = out->text;
		if (out->kind == INSPECT_HELD && rt->conf.outbreak_notify_recipient)
			for (size_t i = 0; i < ctx->nrcpts; i++)
				add_notice(n, rt->templates, NOTIFY_HELD, &v, from, ctx->rcpts[i]);
		return;
	}
	if (dp->notify_recipient)
		for (size_t i = 0; i < ctx->nrcpts; i++)
			add_notice(n, rt->templates, NOTIFY_RECIPIENT, &v, from, ctx->rcpts[i]);
	if (dp->notify_sender && ctx->mail_from[0])
		add_notice(n, rt->templates, NOTIFY_SENDER, &v, from, ctx->mail_from);
	if (dp->notify_admin && dp->notify_admin[0])
		add_notice(n, rt->templates, NOTIFY_ADMIN, &v, from, dp->notify_admin);
}

void
notices_deliver(const struct smtp_notices *n, const char *maildir)
{
	for (size_t i = 0; i < n->n; i++) {
		int fd = memfd_create("notice", MFD_CLOEXEC), cls;
		size_t len = strlen(n->msg[i]);
		char name[128];

		if (fd < 0 || write(fd, n->msg[i], len) != (ssize_t)len ||
		    maildir_deliver(maildir, fd, len, NULL, name, sizeof(name), &cls) < 0)
			log_warnx("notice to %s could not be delivered", n->to[i]);
		if (fd >= 0)
			close(fd);
	}
}

/* ------------------------------------------------- one notice, on the loop */

enum notice_step { N_BANNER, N_EHLO, N_MAIL, N_RCPT, N_DATA, N_BODY, N_QUIT };

struct notice {
	struct proxy *px;
	struct notice *prev, *next;
	struct smtp_client *c;
	struct spool *body;
	char *to;
	char *hostname;
	char log_id[48];
	enum notice_step step;
};

static void
notice_free(struct notice *n)
{
	struct proxy *px = n->px;

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
	proxy_check_drained(px);
}

/* Each reply moves the notice one step on; a refusal or failure ends it. */
static void
notice_step(void *arg, enum smtp_status st, const struct smtp_reply *r)
{
	struct notice *n = arg;
	char line[SMTP_PATH_MAX + 32];

	if (n->step == N_QUIT) {
		notice_free(n);
		return;
	}
	if (st != SMTP_REPLY || r->code < 200 || r->code >= 400) {
		log_warnx("%s: notice to <%s> failed at step %d: %s", n->log_id, n->to, n->step,
		          st != SMTP_REPLY ? smtp_client_error(n->c)
		          : r->nlines      ? r->lines[0]
		                           : "");
		notice_free(n);
		return;
	}
	n->step++;
	switch (n->step) {
	case N_EHLO:
		snprintf(line, sizeof(line), "EHLO %s", n->hostname);
		smtp_client_command(n->c, line, notice_step, n);
		break;
	case N_MAIL:
		smtp_client_command(n->c, "MAIL FROM:<>", notice_step, n);
		break;
	case N_RCPT:
		snprintf(line, sizeof(line), "RCPT TO:<%s>", n->to);
		smtp_client_command(n->c, line, notice_step, n);
		break;
	case N_DATA:
		smtp_client_command(n->c, "DATA", notice_step, n);
		break;
	case N_BODY:
		smtp_client_body(n->c, NULL, n->body, notice_step, n);
		break;
	default:
		log_info("%s: notice to <%s> sent", n->log_id, n->to);
		n->step = N_QUIT;
		smtp_client_command(n->c, "QUIT", notice_step, n);
		break;
	}
}

void
notices_send(struct session *s, const struct smtp_notices *ns)
{
	struct proxy *px = s->px;

	for (size_t i = 0; i < ns->n; i++) {
		struct notice *n = xcalloc(1, sizeof(*n));

		n->px = px;
		n->next = px->notices;
		if (n->next)
			n->next->prev = n;
		px->notices = n;
		px->nnotices++;
		n->to = xstrdup(ns->to[i]);
		n->hostname = xstrdup(s->hostname);
		snprintf(n->log_id, sizeof(n->log_id), "%s notice", s->log_id);
		n->body = spool_new(s->rt->conf.spool_dir, 1 << 20);
		spool_write(n->body, ns->msg[i], strlen(ns->msg[i]));
		n->step = N_BANNER;
		n->c = smtp_client_connect(px->base, (struct sockaddr *)&s->nh_sa, s->nh_salen,
		                           n->log_id, s->lc->next_hop_timeout_ms, notice_step, n);
	}
}

void
notices_abort(struct proxy *px)
{
	while (px->notices) {
		log_warnx("notice to <%s> not sent: stopping", px->notices->to);
		notice_free(px->notices);
	}
}

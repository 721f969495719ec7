/*
 * ftp_notice: the admin's notice of an infected FTP file, from the
 * ftp-admin template, sent on the worker thread that scanned the file: to
 * the listener's notify_next_hop (an SMTP server or a Maildir), or else to
 * the first SMTP listener's next hop. Best effort: a notice that cannot go
 * is logged, never retried, and never changes the transfer's outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ftp/ftp_notice.h"
#include "mail/notify.h"
#include "smtp/smtp_send.h"
#include "store/maildir.h"
#include "util/log.h"

#define NOTICE_TIMEOUT_MS 30000

void
ftp_notice_admin(const struct runtime *rt, const char *next_hop, const struct inspect_ctx *ctx,
                 const char *command, const struct inspect_outcome *out)
{
	const struct dir_policy *dp = &rt->policy.dir[out->dir];
	const char *admin = dp->notify_admin, *nfrom = rt->conf.notify_from;
	char from[300], date[64];
	struct notify_vars v;
	time_t now = time(NULL);
	struct tm tm;
	char *msg;
	size_t len;
	int fd;

	if (admin == NULL || *admin == '\0' || out->names == NULL || out->names[0] == '\0')
		return;
	if (next_hop == NULL || *next_hop == '\0')
		next_hop = rt->conf.nlisteners ? rt->conf.listeners[0].next_hop : "";
	if (*next_hop == '\0') {
		log_warnx("admin notice not sent: no notify_next_hop and no SMTP listener");
		return;
	}
	if (strchr(nfrom, '@'))
		snprintf(from, sizeof(from), "%s", nfrom);
	else
		snprintf(from, sizeof(from), "%s@%s", nfrom, ctx->hostname);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
	memset(&v, 0, sizeof(v));
	v.id = out->id[0] ? out->id : "none (the file was not kept)";
	v.virus = out->names;
	v.date = date;
	v.action = inspect_action_past(out->dec.action);
	v.client = ctx->client_label;
	v.hostname = ctx->hostname;
	v.direction = direction_name(out->dir);
	v.filename = ctx->file_name;
	v.user = ctx->user;
	v.server = ctx->dest_label;
	v.command = command;
	if ((msg = notify_message(rt->templates, NOTIFY_FTP_ADMIN, &v, from, admin)) == NULL)
		return;
	len = strlen(msg);
	fd = memfd_create("notice", MFD_CLOEXEC);
	if (fd < 0 || write(fd, msg, len) != (ssize_t)len) {
		log_warnx("admin notice to %s not sent: %s", admin, "cannot buffer it");
	} else if (strncmp(next_hop, "maildir:", 8) == 0) {
		char name[128];
		int cls;

		if (maildir_deliver(next_hop + 8, fd, len, NULL, name, sizeof(name), &cls) < 0)
			log_warnx("admin notice to %s could not be delivered to %s", admin,
			          next_hop);
		else
			log_info("admin notice to %s delivered to %s", admin, next_hop);
	} else {
		const char *rcpts[] = {admin};
		struct smtp_send_req req = {
		    .next_hop = next_hop + 5, /* smtp: */
		    .helo = ctx->hostname,
		    .mail_from = "",
		    .rcpts = rcpts,
		    .nrcpts = 1,
		    .fd = fd,
		    .size = len,
		    .timeout_ms = NOTICE_TIMEOUT_MS,
		};
		struct smtp_send_result res;

		if (smtp_send(&req, &res) == SMTP_REPLY && res.reply.code / 100 == 2)
			log_info("admin notice to %s sent via %s", admin, next_hop);
		else
			log_warnx("admin notice to %s via %s failed at %s%s%s", admin, next_hop,
			          smtp_send_step_name(res.step), res.detail[0] ? ": " : "",
			          res.detail);
		smtp_send_result_clear(&res);
	}
	if (fd >= 0)
		close(fd);
	free(msg);
}

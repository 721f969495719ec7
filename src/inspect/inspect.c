/*
 * inspect: scan, direction, policy, action, outcome. Owns the outcome's
 * buffers (headers, the rewritten copy, the verdict); borrows the object,
 * its context and the environment. Leaves scanning to the scanner, the
 * decision to policy, rewriting to mail/rewrite, storing to the
 * quarantine; delivering and replying are the protocol's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "inspect/inspect.h"
#include "mail/rewrite.h"
#include "util/log.h"
#include "util/xalloc.h"

const char *
inspect_kind_name(enum inspect_kind k)
{
	static const char *names[] = {"deliver", "deliver-copy", "refuse", "stored", "dropped"};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

const char *
inspect_action_past(int action)
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

const char *
inspect_subject(const struct inspect_object *obj, struct inspect_outcome *out)
{
	/* Parsing headers is not free: only when a notice or a report needs it. */
	if (!out->subject_read) {
		out->subject[0] = '\0';
		if (obj->message)
			notify_subject_of(obj->fd, obj->size, out->subject, sizeof(out->subject));
		out->subject_read = 1;
	}
	return out->subject;
}

void
inspect_outcome_clear(struct inspect_outcome *out)
{
	free(out->headers);
	spool_free(out->copy);
	verdict_clear(&out->verdict);
	free(out->names);
	memset(out, 0, sizeof(*out));
}

/* Status header lines for a message handed on. NULL when none are wanted. */
static char *
status_headers(const struct inspect_ctx *ctx, const struct dir_policy *dp,
               const struct inspect_outcome *out)
{
	if (!dp->add_headers && out->dec.cause == NULL)
		return NULL;
	if (out->dec.cause)
		return xasprintf("X-Virus-Scanned: Portcullis %s on %s\r\n"
		                 "X-Virus-Status: not scanned (%s)\r\n"
		                 "X-Portcullis-Unscanned: %s\r\n",
		                 PORTCULLIS_VERSION, ctx->hostname, out->dec.cause_detail,
		                 out->dec.cause_detail);
	if (out->verdict.status == SCAN_INFECTED)
		return xasprintf("X-Virus-Scanned: Portcullis %s on %s\r\n"
		                 "X-Virus-Status: %s (%s)\r\n",
		                 PORTCULLIS_VERSION, ctx->hostname,
		                 out->dec.action == ACT_PASS ? "infected" : "cleaned", out->names);
	return xasprintf("X-Virus-Scanned: Portcullis %s on %s\r\n"
	                 "X-Virus-Status: clean\r\n",
	                 PORTCULLIS_VERSION, ctx->hostname);
}

/* Strip or replace into out->copy. 0, or -1 (the caller quarantines instead). */
static int
rewrite(const struct inspect_env *env, const struct inspect_ctx *ctx,
        const struct inspect_object *obj, struct inspect_outcome *out, const char *headers)
{
	struct rewrite_target *t = NULL;
	struct notify_vars v;
	struct scan_verdict again;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	size_t n = 0;
	int rc = -1;
	char *unlocated;

	if (!obj->message)
		return -1;
	if ((unlocated = rewrite_unlocated(&out->verdict, obj->name)) != NULL) {
		log_warnx("rewrite: hit %s not located in any part: quarantining", unlocated);
		free(unlocated);
		return -1;
	}
	if (rewrite_targets_from_verdict(&out->verdict, obj->name, &t, &n) < 0)
		return -1;
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
	memset(&v, 0, sizeof(v));
	v.hostname = ctx->hostname;
	v.from = ctx->mail_from;
	v.subject = inspect_subject(obj, out);
	v.date = date;
	v.client = ctx->client_label;
	v.direction = direction_name(out->dir);
	out->copy = spool_new(env->spool_dir, 1 << 20);
	if (spool_fd(out->copy) >= 0 &&
	    rewrite_parts(obj->fd, obj->size, t, n,
	                  out->dec.action == ACT_STRIP ? REWRITE_STRIP : REWRITE_REPLACE,
	                  env->templates, &v, headers, spool_fd(out->copy), NULL) == 0 &&
	    spool_sync_size(out->copy) == 0) {
		/* The rewritten copy must be clean itself. */
		verdict_init(&again);
		lseek(spool_fd(out->copy), 0, SEEK_SET);
		scanner_scan_message_fd(env->scanner, spool_fd(out->copy), obj->name, &again);
		rc = again.status == SCAN_CLEAN ? 0 : -1;
		if (rc < 0)
			log_warnx("rewrite: the rewritten message is not clean (%s): quarantining",
			          scan_status_name(again.status));
		verdict_clear(&again);
	}
	rewrite_targets_free(t, n);
	if (rc < 0) {
		spool_free(out->copy);
		out->copy = NULL;
	}
	return rc;
}

/*
 * replace for a file that is not a message (FTP): the receiver gets the
 * report template, rendered, instead of the file. 0 or -1.
 */
static int
report_copy(const struct inspect_env *env, const struct inspect_ctx *ctx,
            struct inspect_outcome *out)
{
	struct notify_vars v;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	char *text;
	int rc;

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
	memset(&v, 0, sizeof(v));
	v.hostname = ctx->hostname;
	v.virus = out->names;
	v.date = date;
	v.client = ctx->client_label;
	v.direction = direction_name(out->dir);
	v.part = "the whole file";
	v.filename = ctx->file_name;
	v.action = "replaced by this report";
	if ((text = notify_render(env->templates,
	                          ctx->proto == INSPECT_FTP ? NOTIFY_FTP_REPORT : NOTIFY_REPORT,
	                          &v)) == NULL)
		return -1;
	out->copy = spool_new(env->spool_dir, 1 << 20);
	rc = spool_write(out->copy, text, strlen(text));
	free(text);
	if (rc < 0) {
		spool_free(out->copy);
		out->copy = NULL;
	}
	return rc;
}

/*
 * Before a strip or replace: asks the scanner where the hits that no part
 * carries are (clamd's hit on the whole message). 0, or -1 when the scanner
 * failed doing so (noted in out->verdict).
 */
static int
locate(const struct inspect_env *env, const struct inspect_object *obj, struct inspect_outcome *out)
{
	char *unlocated;
	off_t pos;
	int rc;

	if (!obj->message || (unlocated = rewrite_unlocated(&out->verdict, obj->name)) == NULL)
		return 0;
	free(unlocated);
	/* From the object's start, as the scan; the caller's offset is put back. */
	pos = lseek(obj->fd, 0, SEEK_CUR);
	if (pos > 0)
		lseek(obj->fd, 0, SEEK_SET);
	rc = scanner_locate_fd(env->scanner, obj->fd, obj->name, &out->verdict);
	if (pos >= 0)
		lseek(obj->fd, pos, SEEK_SET);
	free(out->names);
	out->names = verdict_names(&out->verdict);
	return rc;
}

/*
 * Locating failed: the message gets what the policy says for a scanner
 * error, except that an infected message never passes.
 */
static void
locate_failed(const struct inspect_env *env, const struct inspect_object *obj,
              struct inspect_outcome *out)
{
	struct scan_verdict failed;

	verdict_init(&failed);
	verdict_note(&failed, SCAN_ERROR, LIMIT_NONE, out->verdict.where, "%s",
	             out->verdict.reason ? out->verdict.reason : "");
	policy_decide(env->policy, out->dir, &failed, 0, &out->dec);
	verdict_clear(&failed);
	if (out->dec.action == ACT_PASS) {
		log_warnx("rewrite: locating %s failed, and an infected message never passes: "
		          "quarantining",
		          obj->name);
		out->dec.action = ACT_QUARANTINE;
	} else
		log_warnx("rewrite: locating %s failed: %s", obj->name,
		          out->dec.action == ACT_TEMPFAIL ? "temporary failure"
		          : out->dec.action == ACT_REJECT ? "rejected"
		                                          : "quarantining");
}

static void refuse(struct inspect_outcome *out, int permanent, enum inspect_why why,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
refuse(struct inspect_outcome *out, int permanent, enum inspect_why why, const char *fmt, ...)
{
	va_list ap;

	out->kind = INSPECT_REFUSE;
	out->permanent = permanent;
	out->why = why;
	va_start(ap, fmt);
	vsnprintf(out->text, sizeof(out->text), fmt, ap);
	va_end(ap);
}

/* Stores the object in the quarantine: INSPECT_STORED, or a refusal. */
static void
quarantine(const struct inspect_env *env, const struct inspect_ctx *ctx,
           const struct inspect_object *obj, struct inspect_outcome *out)
{
	struct q_meta m;
	int err = STORE_OK;

	memset(&m, 0, sizeof(m));
	m.direction = direction_name(out->dir);
	m.listener = ctx->listener;
	m.next_hop = ctx->dest_label;
	m.client_addr = ctx->client_label;
	m.helo = ctx->helo;
	m.mail_from = ctx->mail_from;
	m.rcpts = ctx->rcpts;
	m.nrcpts = ctx->nrcpts;
	m.virus_names = out->names[0] ? out->names : out->dec.cause_detail;
	m.status = scan_status_name(out->verdict.status);
	m.action = "quarantine";
	m.protocol = ctx->proto == INSPECT_FTP ? "ftp" : "smtp";
	m.user = ctx->user;
	m.file_name = ctx->file_name;
	if (quarantine_store(env->quarantine, &m, obj->fd, obj->size, out->id, &err) == 0) {
		out->kind = INSPECT_STORED;
		return;
	}
	out->id[0] = '\0';
	if (err == STORE_ERR_NOSPACE)
		refuse(out, 0, WHY_STORE_FULL, "insufficient system storage");
	else
		refuse(out, 0, WHY_STORE_FAILED, "quarantine failed, try again later");
}

void
inspect_run(const struct inspect_env *env, const struct inspect_ctx *ctx,
            const struct inspect_object *obj, struct inspect_outcome *out)
{
	const struct dir_policy *dp;
	off_t pos;

	memset(out, 0, sizeof(*out));
	verdict_init(&out->verdict);
	/* The scanner reads from the fd's position: the object starts at 0
	 * whatever the caller's offset, which is put back. */
	pos = lseek(obj->fd, 0, SEEK_CUR);
	if (pos > 0)
		lseek(obj->fd, 0, SEEK_SET);
	if (obj->message)
		scanner_scan_message_fd(env->scanner, obj->fd, obj->name, &out->verdict);
	else
		scanner_scan_fd(env->scanner, obj->fd, obj->name, &out->verdict);
	if (pos >= 0)
		lseek(obj->fd, pos, SEEK_SET);
	out->names = verdict_names(&out->verdict);
	out->dir = ctx->proto == INSPECT_FTP
	               ? policy_direction_dest(env->policy, ctx->listener_dir, ctx->dest)
	               : policy_direction(env->policy, ctx->listener_dir, ctx->dest, ctx->client,
	                                  ctx->rcpts, ctx->nrcpts);
	policy_decide(env->policy, out->dir, &out->verdict, ctx->proto == INSPECT_FTP, &out->dec);
	if ((out->dec.action == ACT_STRIP || out->dec.action == ACT_REPLACE) &&
	    locate(env, obj, out) < 0)
		locate_failed(env, obj, out);
	dp = &env->policy->dir[out->dir];

	switch (out->dec.action) {
	case ACT_PASS:
		if (out->dec.cause)
			log_warnx("passing %s that was not scanned whole: %s (policy says pass)",
			          obj->message ? "a message" : "a file", out->dec.cause_detail);
		out->kind = INSPECT_DELIVER;
		if (obj->message)
			out->headers = status_headers(ctx, dp, out);
		return;
	case ACT_REPLACE:
		if (!obj->message) {
			if (report_copy(env, ctx, out) == 0) {
				out->kind = INSPECT_DELIVER_COPY;
				return;
			}
			out->dec.action = ACT_QUARANTINE;
			quarantine(env, ctx, obj, out);
			return;
		}
		/* FALLTHROUGH */
	case ACT_STRIP: {
		char *h = status_headers(ctx, dp, out);
		int rc = rewrite(env, ctx, obj, out, h);

		free(h);
		if (rc == 0) {
			out->kind = INSPECT_DELIVER_COPY;
			return;
		}
		out->dec.action = ACT_QUARANTINE;
		quarantine(env, ctx, obj, out);
		return;
	}
	case ACT_QUARANTINE:
		quarantine(env, ctx, obj, out);
		return;
	case ACT_DROP:
		out->kind = INSPECT_DROPPED;
		return;
	case ACT_REJECT:
		if (out->dec.cause)
			refuse(out, 1, WHY_UNSCANNED, "not scanned: %s", out->dec.cause_detail);
		else
			refuse(out, 1, WHY_INFECTED, "virus found (%s)", out->names);
		return;
	case ACT_TEMPFAIL:
	default:
		refuse(out, 0, WHY_UNSCANNED, "not scanned: %s", out->dec.cause_detail);
		return;
	}
}

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
#include "util/sys.h"
#include "util/metrics.h"
#include "util/xalloc.h"

const char *
inspect_kind_name(enum inspect_kind k)
{
	static const char *names[] = {"deliver", "deliver-copy", "refuse",
	                              "stored",  "dropped",      "held"};

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

/*
 * Stores the object in store (the quarantine, or the hold store for
 * alert) with what ctx and out know of it. 0 with out->id, or -1 with out a
 * refusal (what failed: what).
 */
static int
store(struct quarantine *q, const struct inspect_ctx *ctx, const struct inspect_object *obj,
      struct inspect_outcome *out, const char *action, const char *names, const char *alert,
      const char *what)
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
	m.virus_names = names;
	m.status = scan_status_name(out->verdict.status);
	m.action = action;
	m.protocol = ctx->proto == INSPECT_FTP ? "ftp" : "smtp";
	m.user = ctx->user;
	m.file_name = ctx->file_name;
	m.alert = alert;
	if (quarantine_store(q, &m, obj->fd, obj->size, out->id, &err) == 0)
		return 0;
	out->id[0] = '\0';
	metrics_add("portcullis_failures_total",
	            err == STORE_ERR_NOSPACE ? "cause=\"store_full\"" : "cause=\"store_failed\"",
	            1);
	if (err == STORE_ERR_NOSPACE)
		refuse(out, 0, WHY_STORE_FULL, "insufficient system storage");
	else
		refuse(out, 0, WHY_STORE_FAILED, "%s failed, try again later", what);
	return -1;
}

/* Stores the object in the quarantine: INSPECT_STORED, or a refusal. */
static void
quarantine(const struct inspect_env *env, const struct inspect_ctx *ctx,
           const struct inspect_object *obj, struct inspect_outcome *out)
{
	if (store(env->quarantine, ctx, obj, out, "quarantine",
	          out->names[0] ? out->names : out->dec.cause_detail, NULL, "quarantine") == 0)
		out->kind = INSPECT_STORED;
}

/* ------------------------------------------------------------ outbreak */

/* Stores the object in the hold store for alert hit: 0 with out->id, or a refusal. */
static int
hold_store(const struct inspect_env *env, const struct inspect_ctx *ctx,
           const struct inspect_object *obj, const struct seal_hit *hit,
           struct inspect_outcome *out)
{
	snprintf(out->alert, sizeof(out->alert), "%s", hit->alert);
	snprintf(out->text, sizeof(out->text), "%s", hit->name);
	return store(env->hold, ctx, obj, out,
	             hit->mode == OMODE_HOLD_ATTACHMENTS ? "hold_attachments" : "hold", hit->name,
	             hit->alert, "hold");
}

/*
 * hold_attachments: the whole message is held, and a copy goes on with
 * each attachment replaced by a note naming the alert and the hold ID. A
 * message without attachments goes on as it is and nothing is held.
 */
static void
hold_attachments(const struct inspect_env *env, const struct inspect_ctx *ctx,
                 const struct inspect_object *obj, const struct seal_hit *hit,
                 struct inspect_outcome *out, const char *headers)
{
	struct notify_vars v;
	struct rewrite_result res;
	struct spool *copy;

	if (hold_store(env, ctx, obj, hit, out) < 0)
		return;
	memset(&v, 0, sizeof(v));
	v.hostname = ctx->hostname;
	v.alert = hit->alert;
	v.virus = hit->name;
	v.id = out->id;
	copy = spool_new(env->spool_dir, 1 << 20);
	if (spool_fd(copy) >= 0 &&
	    rewrite_hold_attachments(obj->fd, obj->size, env->templates, &v, headers,
	                             spool_fd(copy), &res) == 0 &&
	    spool_sync_size(copy) == 0) {
		if (res.parts_replaced == 0) {
			/* Nothing to hold back: the message goes on whole. */
			spool_free(copy);
			quarantine_delete(env->hold, out->id);
			out->id[0] = '\0';
			out->alert[0] = '\0';
			out->kind = INSPECT_DELIVER;
			out->headers = headers ? xstrdup(headers) : NULL;
			return;
		}
		log_info("outbreak: alert %s: %u attachment(s) held as %s, the rest delivered",
		         hit->alert, res.parts_replaced, out->id);
		out->kind = INSPECT_DELIVER_COPY;
		out->copy = copy;
		out->held = 1;
		return;
	}
	/* The message cannot be taken apart: it is held whole. */
	spool_free(copy);
	log_warnx("outbreak: alert %s: attachments cannot be separated: the whole message is "
	          "held as %s",
	          hit->alert, out->id);
	out->kind = INSPECT_HELD;
}

/* A hash alert's name among the verdict's names (comma-separated): 1 with *hit. */
static int
hash_hit(struct seal *seal, const char *names, struct seal_hit *hit)
{
	const char *p = names ? strstr(names, SEAL_HASH_PREFIX) : NULL;
	char one[OMSG_ID_MAX + sizeof(SEAL_HASH_PREFIX) + 1];
	size_t n;

	if (p == NULL)
		return 0;
	n = strcspn(p, ", ");
	if (n >= sizeof(one))
		return 0;
	memcpy(one, p, n);
	one[n] = '\0';
	return seal_hash_alert(seal, one, hit);
}

/*
 * The seal: what an active alert does to an object the policy would pass.
 * 1 if it decided the outcome, 0 to go on as usual.
 */
static int
outbreak_seal(const struct inspect_env *env, const struct inspect_ctx *ctx,
              const struct inspect_object *obj, struct inspect_outcome *out)
{
	struct seal_hit hit;
	unsigned proto = ctx->proto == INSPECT_FTP ? OSCOPE_FTP : OSCOPE_SMTP;
	unsigned dir = out->dir == DIR_OUTBOUND ? OSCOPE_OUTBOUND : OSCOPE_INBOUND;

	if (env->seal == NULL || ctx->release)
		return 0;
	/* A hash alert's checksum matched: infected under the alert's name. For
	 * FTP the transfer is refused for now, as for a sealed scope. */
	if (out->verdict.status == SCAN_INFECTED && ctx->proto == INSPECT_FTP &&
	    hash_hit(env->seal, out->names, &hit)) {
		snprintf(out->alert, sizeof(out->alert), "%s", hit.alert);
		refuse(out, 0, WHY_SEALED, "blocked by outbreak alert %s (%s)", hit.alert,
		       out->names);
		return 1;
	}
	if (out->dec.action != ACT_PASS || !seal_match(env->seal, proto, dir, time(NULL), &hit))
		return 0;
	if (ctx->proto == INSPECT_FTP || !obj->message || env->hold == NULL) {
		snprintf(out->alert, sizeof(out->alert), "%s", hit.alert);
		refuse(out, 0, WHY_SEALED, "sealed by outbreak alert %s (%s), try again later",
		       hit.alert, hit.name);
		return 1;
	}
	if (hit.mode == OMODE_HOLD_ATTACHMENTS) {
		char *h = status_headers(ctx, &env->policy->dir[out->dir], out);

		hold_attachments(env, ctx, obj, &hit, out, h);
		free(h);
		return 1;
	}
	if (hold_store(env, ctx, obj, &hit, out) == 0) {
		out->kind = INSPECT_HELD;
		log_info("outbreak: alert %s: message held as %s", hit.alert, out->id);
	}
	return 1;
}

void
inspect_run(const struct inspect_env *env, const struct inspect_ctx *ctx,
            const struct inspect_object *obj, struct inspect_outcome *out)
{
	const struct dir_policy *dp;
	char lb[128];
	double t0;
	off_t pos;

	memset(out, 0, sizeof(*out));
	verdict_init(&out->verdict);
	/* The scanner reads from the fd's position: the object starts at 0
	 * whatever the caller's offset, which is put back. */
	pos = lseek(obj->fd, 0, SEEK_CUR);
	if (pos > 0)
		lseek(obj->fd, 0, SEEK_SET);
	t0 = monotonic_s();
	if (obj->message)
		scanner_scan_message_fd(env->scanner, obj->fd, obj->name, &out->verdict);
	else
		scanner_scan_fd(env->scanner, obj->fd, obj->name, &out->verdict);
	metrics_labels(lb, sizeof(lb), "protocol", ctx->proto == INSPECT_FTP ? "ftp" : "smtp",
	               NULL);
	metrics_observe("portcullis_scan_duration_seconds", lb, monotonic_s() - t0);
	metrics_observe("portcullis_object_size_bytes", lb, (double)obj->size);
	if (out->verdict.status == SCAN_ERROR)
		metrics_add("portcullis_failures_total", "cause=\"scanner\"", 1);
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
	if (outbreak_seal(env, ctx, obj, out))
		return;

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

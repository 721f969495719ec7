/*
 * release: the held items of a released alert, rescanned on the inspection
 * path with the signatures now loaded and handed to their next hop with
 * their original envelope. Runs on its own threads (outbreak.release_threads)
 * so live traffic keeps the workers. See outbreak.h for the rules.
 *
 * Nothing is delivered twice by us: an item is claimed (busy list) before
 * it is worked on, its record is read again after the claim, and it is
 * marked released as soon as the next hop has accepted it. A crash between
 * the next hop's 250 and that mark is the one window where an item may be
 * delivered again after a restart (at least once, never lost).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/runtime.h"
#include "inspect/inspect.h"
#include "outbreak/outbreak_int.h"
#include "smtp/smtp_send.h"
#include "store/maildir.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/xalloc.h"

#define RELEASE_SEND_TIMEOUT_MS 60000
#define RELEASE_LOG_EVERY_S 2

struct release_round {
	char alert[OMSG_ID_MAX + 1];
	size_t total, remaining, failed, delivered, quarantined;
	time_t started, logged;
	struct release_round *next;
};

struct rel_item {
	char id[QUARANTINE_ID_LEN + 1];
	struct release_round *round;
	struct rel_item *next;
};

enum rel_result { REL_DONE, REL_RETRY, REL_SKIPPED };

/* ------------------------------------------------------------- delivery */

/* Hands fd to the record's next hop. REL_DONE (reply says how), REL_RETRY. */
static enum rel_result
deliver(const struct runtime *rt, const struct q_record *r, int fd, uint64_t size, char *reply,
        size_t cap)
{
	const char *nh = r->next_hop ? r->next_hop : "";

	if (strncmp(nh, "maildir:", 8) == 0) {
		char name[256];
		int cls;

		if (maildir_deliver(nh + 8, fd, size, NULL, name, sizeof(name), &cls) < 0) {
			snprintf(reply, cap, "maildir delivery failed: %s", storeio_err_name(cls));
			return REL_RETRY;
		}
		snprintf(reply, cap, "delivered as %s", name);
		return REL_DONE;
	}
	if (strncmp(nh, "smtp:", 5) == 0) {
		struct smtp_send_req req = {
		    .next_hop = nh + 5,
		    .helo = rt->hostname,
		    .mail_from = r->mail_from,
		    .rcpts = (const char *const *)r->rcpts,
		    .nrcpts = r->nrcpts,
		    .fd = fd,
		    .size = size,
		    .timeout_ms = RELEASE_SEND_TIMEOUT_MS,
		};
		struct smtp_send_result res;
		enum smtp_status st = smtp_send(&req, &res);
		char *text = smtp_send_reply_text(&res.reply, " / ");
		enum rel_result out;

		if (st == SMTP_REPLY && res.reply.code / 100 == 2) {
			snprintf(reply, cap, "delivered: %s", text);
			out = REL_DONE;
		} else if (st == SMTP_REPLY && res.reply.code / 100 == 5) {
			/* The next hop refuses it for good; the admin sees why. */
			snprintf(reply, cap, "refused by the next hop at %s: %s",
			         smtp_send_step_name(res.step), text);
			log_warnx("outbreak: held %s refused by the next hop: %s", r->id, text);
			out = REL_DONE;
		} else {
			snprintf(reply, cap, "next hop failed at %s: %s",
			         smtp_send_step_name(res.step),
			         st == SMTP_REPLY ? text : res.detail);
			out = REL_RETRY;
		}
		free(text);
		smtp_send_result_clear(&res);
		return out;
	}
	snprintf(reply, cap, "unknown next hop \"%s\"", nh);
	return REL_RETRY;
}

/* Rescans one held record and hands it on. */
static enum rel_result
release_record(struct outbreak *ob, struct runtime *rt, const struct q_record *r, char *reply,
               size_t cap)
{
	const struct smtp_listener_conf *lc =
	    runtime_listener(rt, r->listener ? r->listener : "", NULL);
	struct sockaddr_storage client, dest;
	socklen_t sl;
	int have_client = 0, have_dest = 0, fd;
	struct inspect_outcome out;
	enum rel_result res = REL_RETRY;

	if ((fd = quarantine_open_message(ob->hold, r)) < 0) {
		snprintf(reply, cap, "held file unreadable");
		return REL_RETRY;
	}
	if (r->client_addr && hostport_parse(r->client_addr, &client, &sl) == 0)
		have_client = 1;
	if (r->next_hop && strncmp(r->next_hop, "smtp:", 5) == 0 &&
	    hostport_parse(r->next_hop + 5, &dest, &sl) == 0)
		have_dest = 1;
	{
		struct inspect_ctx ctx = {
		    .proto = INSPECT_SMTP,
		    .listener = r->listener ? r->listener : "",
		    .listener_dir = lc ? lc->direction : LDIR_AUTO,
		    .client = have_client ? (struct sockaddr *)&client : NULL,
		    .client_label = r->client_addr ? r->client_addr : "",
		    .dest = have_dest ? (struct sockaddr *)&dest : NULL,
		    .dest_label = r->next_hop ? r->next_hop : "",
		    .hostname = rt->hostname,
		    .helo = r->helo ? r->helo : "",
		    .mail_from = r->mail_from ? r->mail_from : "",
		    .rcpts = (const char *const *)r->rcpts,
		    .nrcpts = r->nrcpts,
		    .release = 1,
		};
		struct inspect_object obj = {
		    .fd = fd, .size = r->size, .name = "message", .message = 1};

		inspect_run(&rt->inspect, &ctx, &obj, &out);
	}
	switch (out.kind) {
	case INSPECT_DELIVER:
		/* Byte-identical: the headers a fresh message would get are not added. */
		res = deliver(rt, r, fd, r->size, reply, cap);
		break;
	case INSPECT_DELIVER_COPY:
		res = deliver(rt, r, spool_fd(out.copy), spool_size(out.copy), reply, cap);
		break;
	case INSPECT_STORED:
		snprintf(reply, cap, "quarantined as %s (%s)", out.id, out.names);
		res = REL_DONE;
		break;
	case INSPECT_DROPPED:
		snprintf(reply, cap, "dropped (%s)", out.names);
		res = REL_DONE;
		break;
	case INSPECT_REFUSE:
		snprintf(reply, cap, "%s: %s", out.permanent ? "rejected" : "not now", out.text);
		res = out.permanent ? REL_DONE : REL_RETRY;
		break;
	case INSPECT_HELD:
		snprintf(reply, cap, "held again");
		res = REL_RETRY;
		break;
	}
	log_info("outbreak: held %s (alert %s): %s", r->id, r->alert ? r->alert : "-", reply);
	inspect_outcome_clear(&out);
	close(fd);
	return res;
}

/* Claims id (no other thread works on it meanwhile). 0, or -1 if busy. */
static int
claim(struct outbreak *ob, const char *id)
{
	int rc = 0;

	pthread_mutex_lock(&ob->lock);
	for (size_t i = 0; i < ob->nbusy; i++)
		if (strcmp(ob->busy[i], id) == 0)
			rc = -1;
	if (rc == 0) {
		ob->busy = xgrow(ob->busy, &ob->busy_cap, ob->nbusy + 1, sizeof(*ob->busy));
		snprintf(ob->busy[ob->nbusy++], sizeof(ob->busy[0]), "%s", id);
	}
	pthread_mutex_unlock(&ob->lock);
	return rc;
}

static void
unclaim(struct outbreak *ob, const char *id)
{
	pthread_mutex_lock(&ob->lock);
	for (size_t i = 0; i < ob->nbusy; i++)
		if (strcmp(ob->busy[i], id) == 0) {
			memmove(ob->busy[i], ob->busy[ob->nbusy - 1], sizeof(ob->busy[0]));
			ob->nbusy--;
			break;
		}
	pthread_mutex_unlock(&ob->lock);
}

/* One item, claimed, read again, released, marked. */
static enum rel_result
release_item(struct outbreak *ob, const char *id, char *reply, size_t cap, int *quarantined)
{
	struct q_record r;
	struct runtime *rt;
	enum rel_result res;

	*quarantined = 0;
	if (claim(ob, id) < 0) {
		snprintf(reply, cap, "being released already");
		return REL_SKIPPED;
	}
	if (quarantine_get(ob->hold, id, &r) != 0) {
		unclaim(ob, id);
		snprintf(reply, cap, "no held item %s", id);
		return REL_SKIPPED;
	}
	if (r.released_at) {
		snprintf(reply, cap, "already released: %s",
		         r.released_reply ? r.released_reply : "");
		quarantine_record_clear(&r);
		unclaim(ob, id);
		return REL_SKIPPED;
	}
	if ((rt = outbreak_runtime(ob)) == NULL) {
		snprintf(reply, cap, "not running yet");
		res = REL_RETRY;
	} else {
		res = release_record(ob, rt, &r, reply, cap);
		runtime_unref(rt);
	}
	if (res == REL_DONE) {
		*quarantined = strncmp(reply, "quarantined", 11) == 0;
		if (quarantine_mark_released(ob->hold, id, time(NULL), reply) != 0)
			log_warnx("outbreak: held %s handed on but not marked released", id);
	}
	quarantine_record_clear(&r);
	unclaim(ob, id);
	return res;
}

int
release_one(struct outbreak *ob, const char *id, char **msg)
{
	char reply[512];
	int q;
	enum rel_result res;

	if (!quarantine_id_valid(id)) {
		*msg = xasprintf("not a hold ID: %s", id);
		return 1;
	}
	res = release_item(ob, id, reply, sizeof(reply), &q);
	*msg = xasprintf("%s: %s", id, reply);
	return res == REL_DONE ? 0 : 1;
}

/* ---------------------------------------------------------------- queue */

void
release_queue_alert(struct outbreak *ob, const char *alert)
{
	struct q_record *r;
	size_t n;
	struct release_round *rd;

	if (quarantine_list_alert(ob->hold, alert, &r, &n) < 0) {
		log_warnx("outbreak: alert %s: the hold store cannot be read; retrying later",
		          alert);
		return;
	}
	pthread_mutex_lock(&ob->lock);
	for (rd = ob->rounds; rd; rd = rd->next)
		if (strcmp(rd->alert, alert) == 0)
			break;
	if (rd) {
		pthread_mutex_unlock(&ob->lock);
		quarantine_records_free(r, n);
		return; /* a round is under way; the retry picks up what it misses */
	}
	rd = xcalloc(1, sizeof(*rd));
	snprintf(rd->alert, sizeof(rd->alert), "%s", alert);
	rd->started = rd->logged = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct rel_item *it;

		if (r[i].released_at || r[i].alert == NULL || strcmp(r[i].alert, alert) != 0)
			continue;
		it = xcalloc(1, sizeof(*it));
		snprintf(it->id, sizeof(it->id), "%s", r[i].id);
		it->round = rd;
		if (ob->rq_tail)
			ob->rq_tail->next = it;
		else
			ob->rq_head = it;
		ob->rq_tail = it;
		rd->total++;
	}
	rd->remaining = rd->total;
	if (rd->total == 0) {
		pthread_mutex_unlock(&ob->lock);
		free(rd);
		quarantine_records_free(r, n);
		seal_set_state(ob->seal, alert, "released", NULL, time(NULL));
		log_info("outbreak: alert %s released (nothing was held)", alert);
		return;
	}
	rd->next = ob->rounds;
	ob->rounds = rd;
	log_info("outbreak: alert %s: releasing %zu held item(s)", alert, rd->total);
	pthread_cond_broadcast(&ob->rq_cond);
	pthread_mutex_unlock(&ob->lock);
	quarantine_records_free(r, n);
}

/* An item of rd is finished. Under ob->lock. */
static void
round_item_done(struct outbreak *ob, struct release_round *rd, enum rel_result res, int quarantined)
{
	time_t now = time(NULL);

	rd->remaining--;
	if (res == REL_RETRY)
		rd->failed++;
	else if (res == REL_DONE && quarantined)
		rd->quarantined++;
	else if (res == REL_DONE)
		rd->delivered++;
	if (rd->remaining > 0 && now - rd->logged >= RELEASE_LOG_EVERY_S) {
		rd->logged = now;
		log_info("outbreak: alert %s: released %zu of %zu (%zu delivered, %zu quarantined, "
		         "%zu to retry)",
		         rd->alert, rd->total - rd->remaining, rd->total, rd->delivered,
		         rd->quarantined, rd->failed);
	}
	if (rd->remaining > 0)
		return;
	for (struct release_round **pp = &ob->rounds; *pp; pp = &(*pp)->next)
		if (*pp == rd) {
			*pp = rd->next;
			break;
		}
	pthread_mutex_unlock(&ob->lock);
	log_info("outbreak: alert %s: %zu held item(s) done in %lds: %zu delivered, %zu "
	         "quarantined, %zu to retry",
	         rd->alert, rd->total, (long)(now - rd->started), rd->delivered, rd->quarantined,
	         rd->failed);
	if (rd->failed == 0)
		seal_set_state(ob->seal, rd->alert, "released", NULL, now);
	free(rd);
	pthread_mutex_lock(&ob->lock);
}

/* Expiries, and the alerts whose release is unfinished (a retry, a crash). */
static void
housekeeping(struct outbreak *ob)
{
	time_t now = time(NULL);
	struct seal_alert *a;
	size_t n;

	seal_expire(ob->seal, now);
	if (now - ob->last_retry < ob->release_retry_s && ob->last_retry)
		return;
	ob->last_retry = now;
	if (seal_alerts(ob->seal, "releasing", &a, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		release_queue_alert(ob, a[i].id);
	seal_alerts_free(a, n);
}

static void *
release_thread(void *arg)
{
	struct outbreak *ob = arg;
	int first = 0;

	pthread_mutex_lock(&ob->lock);
	if (ob->threads && pthread_equal(pthread_self(), ob->threads[0]))
		first = 1;
	while (!ob->stopping) {
		struct rel_item *it = ob->rq_head;
		char reply[512];
		enum rel_result res;
		int q;

		if (it == NULL) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&ob->rq_cond, &ob->lock, &ts);
			if (!first && ob->threads && pthread_equal(pthread_self(), ob->threads[0]))
				first = 1;
			if (first && !ob->stopping && ob->rq_head == NULL && ob->rt) {
				pthread_mutex_unlock(&ob->lock);
				housekeeping(ob);
				pthread_mutex_lock(&ob->lock);
			}
			continue;
		}
		ob->rq_head = it->next;
		if (ob->rq_head == NULL)
			ob->rq_tail = NULL;
		pthread_mutex_unlock(&ob->lock);
		res = release_item(ob, it->id, reply, sizeof(reply), &q);
		pthread_mutex_lock(&ob->lock);
		round_item_done(ob, it->round, res, q);
		free(it);
	}
	pthread_mutex_unlock(&ob->lock);
	return NULL;
}

void
release_start(struct outbreak *ob, unsigned nthreads)
{
	pthread_cond_init(&ob->rq_cond, NULL);
	ob->threads = xcalloc(nthreads ? nthreads : 1, sizeof(*ob->threads));
	pthread_mutex_lock(&ob->lock);
	for (unsigned i = 0; i < (nthreads ? nthreads : 1); i++)
		if (pthread_create(&ob->threads[ob->nthreads], NULL, release_thread, ob) == 0)
			ob->nthreads++;
	pthread_mutex_unlock(&ob->lock);
	if (ob->nthreads == 0)
		fatalx("outbreak: cannot start the release threads");
}

void
release_stop(struct outbreak *ob)
{
	if (ob->threads == NULL)
		return;
	pthread_mutex_lock(&ob->lock);
	ob->stopping = 1;
	pthread_cond_broadcast(&ob->rq_cond);
	pthread_mutex_unlock(&ob->lock);
	for (unsigned i = 0; i < ob->nthreads; i++)
		pthread_join(ob->threads[i], NULL);
	free(ob->threads);
	ob->threads = NULL;
	while (ob->rq_head) {
		struct rel_item *it = ob->rq_head;

		ob->rq_head = it->next;
		free(it);
	}
	while (ob->rounds) {
		struct release_round *rd = ob->rounds;

		ob->rounds = rd->next;
		free(rd);
	}
	free(ob->busy);
	pthread_cond_destroy(&ob->rq_cond);
}

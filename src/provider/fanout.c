/*
 * fanout (fanout.h): one document pushed to every gateway with a push URL.
 * One thread drives a libcurl multi handle: at most o->parallel transfers
 * in flight (a pool of easy handles, reused), connections and TLS sessions
 * reused through the multi's cache and a share handle, each attempt bounded
 * by its own connect and total timeouts. A gateway that did not answer
 * (connect error, timeout, 5xx) is tried again after a backoff doubled at
 * each attempt (a min-heap orders the waits); a refusal (4xx, or an answer
 * without a valid receipt) is final. Each receipt is verified with the
 * gateway's enrolled key before it is kept; kept receipts are recorded in
 * pstore in batches (FANOUT_BATCH receipts or FANOUT_BATCH_MS, whichever
 * comes first), one transaction each.
 */
#include "provider/fanout.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "outbreak/omsg.h"
#include "provider/pstore.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* Receipts per pstore transaction, and the longest a receipt waits for one. */
#define FANOUT_BATCH 256
#define FANOUT_BATCH_MS 50
/* The largest answer read from a gateway. */
#define FANOUT_MAX_ANSWER (1u << 20)
/* The longest backoff between two attempts. */
#define FANOUT_MAX_BACKOFF_MS 60000
/* The longest the loop sleeps without looking at its timers. */
#define FANOUT_TICK_MS 100

/* One gateway to push to. */
struct target {
	struct pstore_gateway g; /* owned */
	unsigned tries;          /* attempts started */
	int64_t due;             /* when the next attempt may start (ms, monotonic) */
};

/* One transfer in flight. */
struct slot {
	CURL *easy;
	struct target *t;   /* NULL: free */
	struct sb_sink ans; /* the answer so far (owned), at most FANOUT_MAX_ANSWER */
	char errbuf[CURL_ERROR_SIZE];
};

struct run {
	const struct fanout_opts *o;
	const char *message, *envelope;
	uint64_t seq;
	struct pstore *ps;
	CURLM *multi;
	CURLSH *share;
	struct curl_slist *headers;
	struct target *t;
	size_t nt, next; /* targets, the next never tried */
	struct target **wait;
	size_t nwait, capwait; /* min-heap on due */
	struct slot *slots;
	size_t nslots, busy;
	/*
	 * Verified receipts waiting for the next batch: batch[i] (its state and
	 * envelope owned, the rest borrowed) came from gateway batch_of[i].
	 */
	struct pstore_receipt_in *batch;
	struct target **batch_of;
	int *batch_rc;
	size_t nbatch;
	int64_t batch_since;   /* when the oldest kept receipt came */
	int64_t last_recorded; /* when the last batch was recorded */
	uint64_t rng;
	struct fanout_stats *st;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
fanout_opts_default(struct fanout_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->parallel = 256;
	o->connect_timeout_ms = 2000;
	o->timeout_ms = 5000;
	o->attempts = 4;
	o->backoff_ms = 500;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------ the waits */

static void
wait_push(struct run *r, struct target *t)
{
	size_t i;

	r->wait = xgrow(r->wait, &r->capwait, r->nwait + 1, sizeof(*r->wait));
	i = r->nwait++;
	while (i > 0 && r->wait[(i - 1) / 2]->due > t->due) {
		r->wait[i] = r->wait[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	r->wait[i] = t;
}

static struct target *
wait_pop(struct run *r)
{
	struct target *top = r->wait[0], *last = r->wait[--r->nwait];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= r->nwait)
			break;
		if (c + 1 < r->nwait && r->wait[c + 1]->due < r->wait[c]->due)
			c++;
		if (last->due <= r->wait[c]->due)
			break;
		r->wait[i] = r->wait[c];
		i = c;
	}
	if (r->nwait > 0)
		r->wait[i] = last;
	return top;
}

/* The backoff before attempt tries + 1: backoff_ms * 2^(tries-1), capped, +0..25%. */
static int64_t
backoff(struct run *r, unsigned tries)
{
	int64_t ms = r->o->backoff_ms;

	for (unsigned i = 1; i < tries && ms < FANOUT_MAX_BACKOFF_MS; i++)
		ms *= 2;
	if (ms > FANOUT_MAX_BACKOFF_MS)
		ms = FANOUT_MAX_BACKOFF_MS;
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return ms + (ms > 4 ? (int64_t)(r->rng % (uint64_t)(ms / 4 + 1)) : 0);
}

/* ------------------------------------------------------------ transfers */

/* Sets an easy handle up for one attempt to push to t. */
static void
easy_setup(struct run *r, struct slot *s, struct target *t)
{
	CURL *c = s->easy;
	long connect_ms = r->o->connect_timeout_ms;

	if (connect_ms > r->o->timeout_ms)
		connect_ms = r->o->timeout_ms;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, t->g.push_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "portcullis-provider");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->envelope);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->envelope));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (r->o->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, r->o->ca_file);
	curl_easy_setopt(c, CURLOPT_SHARE, r->share);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sb_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->ans);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(c, CURLOPT_PRIVATE, s);
}

/* Starts an attempt for t on a free slot. 0, or -1 (the multi refused it). */
static int
attempt_start(struct run *r, struct target *t)
{
	struct slot *s = NULL;

	for (size_t i = 0; i < r->nslots; i++)
		if (r->slots[i].t == NULL) {
			s = &r->slots[i];
			break;
		}
	if (s == NULL)
		return -1;
	s->t = t;
	s->ans.b.len = 0; /* the buffer is kept for the next answer */
	if (s->ans.b.s)
		s->ans.b.s[0] = '\0';
	s->ans.max = FANOUT_MAX_ANSWER;
	s->ans.over = 0;
	s->errbuf[0] = '\0';
	t->tries++;
	easy_setup(r, s, t);
	if (curl_multi_add_handle(r->multi, s->easy) != CURLM_OK) {
		s->t = NULL;
		return -1;
	}
	r->busy++;
	return 0;
}

/* The gateway t could not be reached: it is left to the pull. */
static void
give_up(struct run *r, struct target *t, const char *why)
{
	log_warnx("fan-out: %s (%s): %s after %u attempt(s); it gets %s by pull", t->g.id,
	          t->g.push_url, why, t->tries, r->message);
	r->st->failed++;
}

/*
 * The gateway t answered, but with a refusal or without a valid receipt:
 * final (a gateway that already has the document, by pull, refuses it as a
 * replay).
 */
static void
refused(struct run *r, struct target *t, const char *why)
{
	log_warnx("fan-out: %s (%s): %s after %u attempt(s), not retried", t->g.id, t->g.push_url,
	          why, t->tries);
	r->st->refused++;
	r->st->failed++;
}

/* The attempt failed without an answer worth keeping: again later, or give up. */
static void
retry_or_give_up(struct run *r, struct target *t, const char *why)
{
	int64_t wait;

	if (t->tries >= r->o->attempts) {
		give_up(r, t, why);
		return;
	}
	wait = backoff(r, t->tries);
	log_info("fan-out: %s (%s): attempt %u failed: %s; retrying in %lld ms", t->g.id,
	         t->g.push_url, t->tries, why, (long long)wait);
	t->due = now_ms() + wait;
	r->st->retries++;
	wait_push(r, t);
}

/* ------------------------------------------------------------- receipts */

/* The receipt envelope of a gateway's answer (allocated), or NULL with *why. */
static char *
receipt_of(const char *body, size_t len, const char **why)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, 0, &je), *rc;
	char *env = NULL;

	*why = "the answer is not JSON";
	if (json_is_object(o)) {
		rc = json_object_get(o, "receipt");
		*why = "the answer carries no receipt";
		if (json_is_string(rc))
			env = xstrdup(json_string_value(rc));
		else if (json_is_object(rc))
			env = json_dumps(rc, JSON_COMPACT);
	}
	json_decref(o);
	return env;
}

/*
 * Verifies a receipt with t's enrolled key: signed by it, a receipt of t
 * answering this provider, for this message and seq. 0 with *m filled, or
 * -1 with *why (allocated).
 */
static int
receipt_check(struct run *r, struct target *t, const char *env, struct omsg *m, char **why)
{
	struct okeyring kr = {0};
	char *err = NULL;
	int rc = -1;

	if (okeyring_add(&kr, t->g.public_key, &err) < 0) {
		*why = xasprintf("bad enrolled key: %s", err);
		free(err);
		return -1;
	}
	if (omsg_open(&kr, env, strlen(env), time(NULL), m, &err) < 0) {
		*why = xasprintf("receipt refused: %s", err ? err : "invalid");
		free(err);
	} else if (m->type != OMSG_RECEIPT || strcmp(m->gateway, t->g.id) != 0) {
		*why = xstrdup("receipt refused: not a receipt of that gateway");
	} else if (strcmp(m->provider, r->o->provider) != 0) {
		*why = xasprintf("receipt refused: it answers provider %s", m->provider);
	} else if (strcmp(m->message, r->message) != 0 || m->message_seq != r->seq) {
		*why = xasprintf("receipt refused: it is for %s seq %llu", m->message,
		                 (unsigned long long)m->message_seq);
	} else {
		rc = 0;
	}
	okeyring_free(&kr);
	if (rc < 0)
		omsg_clear(m);
	return rc;
}

/* What became of receipt i of the batch (rc: its PSTORE_RECEIPT_* code, or -1). */
static void
batch_outcome(struct run *r, size_t i, int rc)
{
	struct pstore_receipt_in *in = &r->batch[i];
	const char *id = r->batch_of[i]->g.id;

	if (rc == PSTORE_RECEIPT_NEW || rc == PSTORE_RECEIPT_REPEAT) {
		r->st->receipts++;
		log_debug("fan-out: %s: receipt %s recorded%s", id, in->state,
		          rc == PSTORE_RECEIPT_REPEAT ? " (a repeat)" : "");
	} else {
		r->st->failed++;
		if (rc > 0)
			log_warnx("fan-out: %s: receipt not recorded: %s", id,
			          rc == PSTORE_RECEIPT_UNKNOWN_GATEWAY
			              ? "the gateway is no longer enrolled"
			              : "not a document published here");
	}
	free((char *)in->state);
	free((char *)in->envelope);
	in->state = in->envelope = NULL;
}

/* Records the batch (one transaction) and empties it. */
static void
batch_flush(struct run *r)
{
	char *err = NULL;
	int ok;

	if (r->nbatch == 0)
		return;
	ok = pstore_add_receipts(r->ps, r->batch, r->nbatch, time(NULL), r->batch_rc, &err) == 0;
	if (!ok) {
		log_warnx("fan-out: %zu receipt(s) not recorded: %s", r->nbatch, err);
		free(err);
	}
	for (size_t i = 0; i < r->nbatch; i++)
		batch_outcome(r, i, ok ? r->batch_rc[i] : -1);
	r->nbatch = 0;
	r->last_recorded = now_ms();
}

/* Keeps a verified receipt for the next batch (env and m's state taken). */
static void
batch_add(struct run *r, struct target *t, char *env, struct omsg *m)
{
	struct pstore_receipt_in *in = &r->batch[r->nbatch];

	if (r->nbatch == 0)
		r->batch_since = now_ms();
	r->batch_of[r->nbatch++] = t;
	in->gateway = t->g.id;
	in->message = r->message;
	in->message_seq = r->seq;
	in->state = m->state;
	m->state = NULL;
	in->time = m->time;
	in->envelope = env;
	if (r->nbatch == FANOUT_BATCH)
		batch_flush(r);
}

/* A 200 answer: its receipt kept, or the gateway refused. */
static void
answered(struct run *r, struct slot *s)
{
	struct target *t = s->t;
	struct omsg m = {0};
	const char *why = NULL;
	char *env, *reason = NULL;

	if ((env = receipt_of(s->ans.b.s ? s->ans.b.s : "", s->ans.b.len, &why)) == NULL) {
		refused(r, t, why);
		return;
	}
	if (receipt_check(r, t, env, &m, &reason) < 0) {
		refused(r, t, reason);
		free(reason);
		free(env);
		return;
	}
	batch_add(r, t, env, &m);
	omsg_clear(&m);
}

/* The "reason" of a gateway's JSON answer, or a piece of the body. */
static char *
answer_reason(const struct slot *s)
{
	json_error_t je;
	json_t *o = s->ans.b.s ? json_loadb(s->ans.b.s, s->ans.b.len, 0, &je) : NULL, *v;
	char *out;

	v = json_is_object(o) ? json_object_get(o, "reason") : NULL;
	if (v == NULL && json_is_object(o))
		v = json_object_get(o, "error");
	if (json_is_string(v))
		out = xasprintf("%.200s", json_string_value(v));
	else
		out = xasprintf("%.100s", s->ans.b.s ? s->ans.b.s : "");
	json_decref(o);
	return out;
}

/* Curl errors that another attempt will not mend. */
static int
final_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_WRITE_ERROR:
	case CURLE_TOO_MANY_REDIRECTS:
		return 1;
	default:
		return 0;
	}
}

/* One attempt ended with cc: decides what becomes of its gateway. */
static void
attempt_done(struct run *r, struct slot *s, CURLcode cc)
{
	struct target *t = s->t;
	long code = 0;
	char *why;

	curl_multi_remove_handle(r->multi, s->easy);
	r->busy--;
	if (cc == CURLE_OK)
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK) {
		why = s->ans.over
		          ? xasprintf("answer larger than %u bytes", FANOUT_MAX_ANSWER)
		          : xasprintf("%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
		if (final_error(cc))
			give_up(r, t, why);
		else
			retry_or_give_up(r, t, why);
		free(why);
	} else if (code == 200) {
		answered(r, s);
	} else if (code >= 500) {
		char *reason = answer_reason(s);

		why = xasprintf("HTTP %ld %s", code, reason);
		retry_or_give_up(r, t, why);
		free(reason);
		free(why);
	} else {
		char *reason = answer_reason(s);

		why = xasprintf("refused: HTTP %ld %s", code, reason);
		refused(r, t, why);
		free(reason);
		free(why);
	}
	s->t = NULL;
	free(s->ans.b.s);
	memset(&s->ans.b, 0, sizeof(s->ans.b));
}

/* ----------------------------------------------------------------- loop */

/* Starts every attempt that may start now (free slots, due waits first). */
static void
start_ready(struct run *r, int64_t now)
{
	while (r->busy < r->nslots) {
		struct target *t;

		if (r->nwait > 0 && r->wait[0]->due <= now)
			t = wait_pop(r);
		else if (r->next < r->nt)
			t = &r->t[r->next++];
		else
			break;
		if (attempt_start(r, t) < 0) {
			give_up(r, t, "cannot start a transfer");
			continue;
		}
	}
}

static void
drain(struct run *r)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(r->multi, &left)) != NULL) {
		struct slot *s = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		attempt_done(r, s, msg->data.result);
	}
}

/* How long the loop may sleep (ms). */
static int
sleep_ms(struct run *r, int64_t now)
{
	long t = -1;
	int64_t ms = FANOUT_TICK_MS;

	if (curl_multi_timeout(r->multi, &t) == CURLM_OK && t >= 0 && t < ms)
		ms = t;
	if (r->nwait > 0 && r->busy < r->nslots && r->wait[0]->due - now < ms)
		ms = r->wait[0]->due - now;
	if (r->nbatch > 0 && r->batch_since + FANOUT_BATCH_MS - now < ms)
		ms = r->batch_since + FANOUT_BATCH_MS - now;
	return ms < 0 ? 0 : (int)ms;
}

static int
loop(struct run *r, char **err)
{
	int running;

	for (;;) {
		int64_t now = now_ms();

		start_ready(r, now);
		if (r->busy == 0 && r->nwait == 0 && r->next >= r->nt)
			break;
		if (curl_multi_perform(r->multi, &running) != CURLM_OK) {
			*err = xstrdup("libcurl: multi perform failed");
			return -1;
		}
		drain(r);
		now = now_ms();
		if (r->nbatch > 0 && now - r->batch_since >= FANOUT_BATCH_MS)
			batch_flush(r);
		if (r->busy > 0 || r->nwait > 0 || r->next < r->nt)
			curl_multi_poll(r->multi, NULL, 0, sleep_ms(r, now), NULL);
	}
	batch_flush(r);
	return 0;
}

/* ---------------------------------------------------------------- setup */

/* The registered gateways that have a push URL, as targets. */
static int
load_targets(struct run *r, char **err)
{
	struct pstore_gateway *g;
	size_t n, k = 0;

	if (pstore_gateways(r->ps, &g, &n, err) < 0)
		return -1;
	r->t = xcalloc(n ? n : 1, sizeof(*r->t));
	for (size_t i = 0; i < n; i++) {
		if (g[i].push_url == NULL || g[i].push_url[0] == '\0') {
			pstore_gateway_clear(&g[i]);
			continue;
		}
		r->t[k++].g = g[i];
	}
	free(g);
	r->nt = k;
	return 0;
}

static int
run_setup(struct run *r, char **err)
{
	unsigned par = r->o->parallel ? r->o->parallel : 1;

	pthread_once(&curl_once, curl_init_once);
	r->nslots = par < r->nt ? par : r->nt;
	r->slots = xcalloc(r->nslots ? r->nslots : 1, sizeof(*r->slots));
	r->batch = xcalloc(FANOUT_BATCH, sizeof(*r->batch));
	r->batch_of = xcalloc(FANOUT_BATCH, sizeof(*r->batch_of));
	r->batch_rc = xcalloc(FANOUT_BATCH, sizeof(*r->batch_rc));
	r->rng = (uint64_t)now_ms() * 2654435761u + 1;
	if ((r->multi = curl_multi_init()) == NULL || (r->share = curl_share_init()) == NULL) {
		*err = xstrdup("libcurl: cannot create the transfers");
		return -1;
	}
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_multi_setopt(r->multi, CURLMOPT_MAXCONNECTS, (long)r->nslots * 2);
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	r->headers = curl_slist_append(r->headers, "Expect:");
	for (size_t i = 0; i < r->nslots; i++)
		if ((r->slots[i].easy = curl_easy_init()) == NULL) {
			*err = xstrdup("libcurl: cannot create a transfer");
			return -1;
		}
	return 0;
}

static void
run_free(struct run *r)
{
	for (size_t i = 0; i < r->nslots; i++) {
		if (r->slots[i].t != NULL)
			curl_multi_remove_handle(r->multi, r->slots[i].easy);
		if (r->slots[i].easy != NULL)
			curl_easy_cleanup(r->slots[i].easy);
		free(r->slots[i].ans.b.s);
	}
	free(r->slots);
	for (size_t i = 0; i < r->nbatch; i++) {
		free((char *)r->batch[i].state);
		free((char *)r->batch[i].envelope);
	}
	free(r->batch);
	free(r->batch_of);
	free(r->batch_rc);
	if (r->multi)
		curl_multi_cleanup(r->multi);
	if (r->share)
		curl_share_cleanup(r->share);
	curl_slist_free_all(r->headers);
	for (size_t i = 0; i < r->nt; i++)
		pstore_gateway_clear(&r->t[i].g);
	free(r->t);
	free(r->wait);
	pstore_close(r->ps);
}

int
fanout_push(const struct fanout_opts *o, const char *state_dir, const char *message, uint64_t seq,
            const char *envelope, struct fanout_stats *st, char **err)
{
	struct run r = {0};
	int64_t t0 = now_ms();
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if (o->provider == NULL || o->attempts == 0) {
		*err = xstrdup("fan-out: no provider name, or no attempts");
		return -1;
	}
	r.o = o;
	r.message = message;
	r.seq = seq;
	r.envelope = envelope;
	r.st = st;
	r.last_recorded = t0;
	if ((r.ps = pstore_open(state_dir, err)) == NULL)
		return -1;
	if (load_targets(&r, err) < 0)
		goto out;
	st->gateways = r.nt;
	if (r.nt > 0 && (run_setup(&r, err) < 0 || loop(&r, err) < 0))
		goto out;
	rc = 0;
out:
	run_free(&r);
	st->seconds = (double)(now_ms() - t0) / 1000.0;
	st->receipts_seconds = (double)(r.last_recorded - t0) / 1000.0;
	return rc;
}

/* ------------------------------------------------------------ in the background */

struct job {
	struct fanout_opts o;
	char *ca_file, *provider, *state_dir, *message, *envelope;
	uint64_t seq;
};

static void
job_free(struct job *j)
{
	free(j->ca_file);
	free(j->provider);
	free(j->state_dir);
	free(j->message);
	free(j->envelope);
	free(j);
}

static void *
job_run(void *arg)
{
	struct job *j = arg;
	struct fanout_stats st;
	char *err = NULL;

	if (fanout_push(&j->o, j->state_dir, j->message, j->seq, j->envelope, &st, &err) < 0) {
		log_warnx("fan-out: %s seq %llu not pushed: %s", j->message,
		          (unsigned long long)j->seq, err);
		free(err);
	} else {
		log_info("fan-out: %s seq %llu pushed to %zu gateway(s): %zu receipt(s), %zu "
		         "failed (they get it by pull), in %.2f s",
		         j->message, (unsigned long long)j->seq, st.gateways, st.receipts,
		         st.failed, st.seconds);
	}
	job_free(j);
	return NULL;
}

int
fanout_start(const struct fanout_opts *o, const char *state_dir, const char *message, uint64_t seq,
             const char *envelope, char **err)
{
	struct job *j = xcalloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	j->o = *o;
	j->ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
	j->provider = o->provider ? xstrdup(o->provider) : NULL;
	j->o.ca_file = j->ca_file;
	j->o.provider = j->provider;
	j->state_dir = xstrdup(state_dir);
	j->message = xstrdup(message);
	j->envelope = xstrdup(envelope);
	j->seq = seq;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, job_run, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		*err = xasprintf("fan-out: cannot start a thread: %s", strerror(rc));
		job_free(j);
		return -1;
	}
	return 0;
}

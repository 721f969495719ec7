/*
 * opull: the feed poller (its own thread, which also runs the enrolment,
 * oenrol.c) and the libcurl requests the outbreak module makes: the feed
 * index (conditional GET with ETag), the documents it lists, update files
 * given by URL, receipts posted back, the enrolment.
 * The feed's format is in docs/outbreak.md.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "daemon/runtime.h"
#include "outbreak/outbreak_int.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct opull {
	struct outbreak *ob;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stopping;
	char *feed_url, *receipt_url;
	uint64_t interval_ms;
	char *etag;
	uint64_t refused_seq; /* the highest seq refused for good: not fetched again */
	struct oenrol *enrol; /* enrolment still to do, or NULL */
};

/* How soon a failed enrolment is tried again (or poll_interval, if shorter). */
#define ENROL_RETRY_MS 5000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	char **etag = arg;
	size_t len = size * n;

	if (etag && len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		size_t b = 5, e = len;

		while (b < e && (p[b] == ' ' || p[b] == '\t'))
			b++;
		while (e > b && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
			e--;
		free(*etag);
		*etag = xstrndup(p + b, e - b);
	}
	return len;
}

static CURL *
easy(const char *url, uint64_t timeout_ms)
{
	CURL *c;

	pthread_once(&curl_once, curl_init_once);
	if ((c = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "portcullisd");
	return c;
}

long
opull_fetch(const char *url, uint64_t timeout_ms, uint64_t max, const char *etag_in, char **out,
            size_t *outlen, char **etag_out, char **err)
{
	struct sb_sink b = {.max = max};
	struct curl_slist *h = NULL;
	char *tag = NULL, *hdr;
	CURL *c = easy(url, timeout_ms);
	long code = -1;
	CURLcode rc;

	*err = NULL;
	*out = NULL;
	*outlen = 0;
	if (etag_out)
		*etag_out = NULL;
	if (c == NULL) {
		*err = xstrdup("curl_easy_init failed");
		return -1;
	}
	if (etag_in) {
		hdr = xasprintf("If-None-Match: %s", etag_in);
		h = curl_slist_append(h, hdr);
		free(hdr);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sb_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &tag);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		*err = b.over
		           ? xasprintf("%s: larger than %llu bytes", url, (unsigned long long)max)
		           : xasprintf("%s: %s", url, curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (code == 200) {
		*outlen = b.b.len;
		*out = sb_take(&b.b);
		if (etag_out)
			*etag_out = tag;
		else
			free(tag);
		return code;
	}
	free(b.b.s);
	free(tag);
	if (code > 0 && code != 304)
		*err = xasprintf("%s: HTTP %ld", url, code);
	return code;
}

long
opull_request(const char *url, uint64_t timeout_ms, uint64_t max, const char *body, size_t blen,
              char **out, size_t *outlen, char **err)
{
	struct sb_sink b = {.max = max};
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *c = easy(url, timeout_ms);
	long code = -1;
	CURLcode rc;

	*err = NULL;
	*out = NULL;
	*outlen = 0;
	if (c == NULL) {
		curl_slist_free_all(h);
		*err = xstrdup("curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sb_sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		*err = b.over
		           ? xasprintf("%s: larger than %llu bytes", url, (unsigned long long)max)
		           : xasprintf("%s: %s", url, curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (code < 0) {
		free(b.b.s);
		return -1;
	}
	*outlen = b.b.len;
	*out = sb_take(&b.b);
	return code;
}

long
opull_post(const char *url, uint64_t timeout_ms, const char *body, size_t blen, char **err)
{
	char *out = NULL;
	size_t len = 0;
	long code = opull_request(url, timeout_ms, 1 << 20, body, blen, &out, &len, err);

	free(out);
	return code;
}

/* url resolved against the feed's URL (relative or absolute). */
static char *
resolve(const char *base, const char *url)
{
	CURLU *u = curl_url();
	char *full = NULL, *out = NULL;

	if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK) {
		out = xstrdup(full);
		curl_free(full);
	}
	curl_url_cleanup(u);
	return out;
}

/* One document from the feed: fetched, submitted, its receipt posted. */
static void
pull_document(struct opull *p, const char *url, uint64_t seq)
{
	struct outbreak *ob = p->ob;
	struct outbreak_result res;
	char *doc = NULL, *err = NULL;
	size_t len = 0;
	long code =
	    opull_fetch(url, ob->fetch_timeout_ms, ob->max_document, NULL, &doc, &len, NULL, &err);

	if (code != 200) {
		log_warnx("outbreak: pull: %s", err ? err : url);
		free(err);
		return;
	}
	outbreak_submit(ob, doc, len, "pull", &res);
	if (!res.accepted && res.status != 500 && seq > p->refused_seq)
		p->refused_seq = seq;
	if (res.receipt && p->receipt_url) {
		long rc = opull_post(p->receipt_url, ob->fetch_timeout_ms, res.receipt,
		                     strlen(res.receipt), &err);

		if (rc / 100 != 2)
			log_warnx("outbreak: pull: receipt for seq %llu not posted: %s",
			          (unsigned long long)seq, err ? err : "HTTP error");
		free(err);
		err = NULL;
	}
	outbreak_result_clear(&res);
	free(doc);
}

static int
by_seq(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "seq"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "seq"));

	return x < y ? -1 : x > y;
}

static void
poll_once(struct opull *p)
{
	struct outbreak *ob = p->ob;
	char *idx = NULL, *err = NULL, *tag = NULL;
	size_t len = 0, n;
	long code = opull_fetch(p->feed_url, ob->fetch_timeout_ms, ob->max_document, p->etag, &idx,
	                        &len, &tag, &err);
	json_t *root, *docs, **sorted;
	json_error_t je;
	const char *provider;
	uint64_t last;

	if (code == 304)
		return;
	if (code != 200) {
		log_warnx("outbreak: pull: %s", err ? err : p->feed_url);
		free(err);
		return;
	}
	root = json_loadb(idx, len, 0, &je);
	free(idx);
	docs = root ? json_object_get(root, "documents") : NULL;
	provider = root ? json_string_value(json_object_get(root, "provider")) : NULL;
	if (!json_is_array(docs) || provider == NULL) {
		log_warnx("outbreak: pull: %s: not a feed index (provider, documents)",
		          p->feed_url);
		json_decref(root);
		free(tag);
		return;
	}
	last = seal_last_seq(ob->seal, provider);
	n = json_array_size(docs);
	sorted = xcalloc(n ? n : 1, sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		sorted[i] = json_array_get(docs, i);
	qsort(sorted, n, sizeof(*sorted), by_seq);
	for (size_t i = 0; i < n; i++) {
		json_int_t seq = json_integer_value(json_object_get(sorted[i], "seq"));
		const char *u = json_string_value(json_object_get(sorted[i], "url"));
		char *full;

		if (seq <= 0 || u == NULL || (uint64_t)seq <= last ||
		    (uint64_t)seq <= p->refused_seq)
			continue;
		if ((full = resolve(p->feed_url, u)) == NULL) {
			log_warnx("outbreak: pull: bad document URL in the feed");
			continue;
		}
		pull_document(p, full, (uint64_t)seq);
		free(full);
	}
	free(sorted);
	json_decref(root);
	/* The ETag is kept only once the index was acted on. */
	free(p->etag);
	p->etag = tag;
}

/* 1 once the daemon has a runtime (the first one is built after we start). */
static int
running(struct outbreak *ob)
{
	struct runtime *rt = outbreak_runtime(ob);

	if (rt == NULL)
		return 0;
	runtime_unref(rt);
	return 1;
}

static void *
pull_thread(void *arg)
{
	struct opull *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		uint64_t wait_ms = p->interval_ms;
		struct timespec ts;

		pthread_mutex_unlock(&p->lock);
		if (!running(p->ob)) {
			wait_ms = 200; /* the daemon is still starting: look again soon */
		} else {
			if (p->enrol != NULL && oenrol_try(p->ob, p->enrol) >= 0) {
				oenrol_free(p->enrol);
				p->enrol = NULL;
			}
			if (p->enrol != NULL && wait_ms > ENROL_RETRY_MS)
				wait_ms = ENROL_RETRY_MS;
			if (p->feed_url != NULL)
				poll_once(p);
		}
		pthread_mutex_lock(&p->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(wait_ms / 1000);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!p->stopping && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void
opull_start(struct outbreak *ob, const struct pc_config *c)
{
	struct oenrol *enrol = oenrol_new(ob, c);
	struct opull *p;

	if (!c->outbreak_feed_url[0] && enrol == NULL)
		return;
	p = xcalloc(1, sizeof(*p));
	p->ob = ob;
	p->enrol = enrol;
	p->feed_url = c->outbreak_feed_url[0] ? xstrdup(c->outbreak_feed_url) : NULL;
	p->receipt_url = c->outbreak_receipt_url[0] ? xstrdup(c->outbreak_receipt_url) : NULL;
	p->interval_ms = c->outbreak_poll_interval_ms;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, pull_thread, p) != 0)
		fatalx("outbreak: cannot start the feed poller");
	ob->pull = p;
	if (p->feed_url)
		log_info("outbreak: polling %s every %llus", p->feed_url,
		         (unsigned long long)(p->interval_ms / 1000));
}

void
opull_stop(struct outbreak *ob)
{
	struct opull *p = ob->pull;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	oenrol_free(p->enrol);
	free(p->feed_url);
	free(p->receipt_url);
	free(p->etag);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	ob->pull = NULL;
}

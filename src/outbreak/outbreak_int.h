/*
 * outbreak_int: what outbreak.c, release.c, opull.c and ohttp.c share. Not
 * for other modules: they use outbreak.h.
 */
#ifndef PC_OUTBREAK_INT_H
#define PC_OUTBREAK_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "outbreak/omsg.h"
#include "outbreak/outbreak.h"
#include "outbreak/seal.h"
#include "outbreak/tlog.h"

struct release_round; /* release.c */
struct opull;         /* opull.c */
struct oenrol;        /* oenrol.c */

struct outbreak {
	pthread_mutex_t lock;        /* rt, and the release queue (release.c) */
	pthread_mutex_t submit_lock; /* one document at a time: seq check and record */
	struct runtime *rt;          /* the current runtime (a reference) */
	struct okeyring keys;
	EVP_PKEY *gwkey;
	char gateway[128];
	char *state_dir;
	uint64_t max_document;
	uint64_t fetch_timeout_ms;
	time_t release_retry_s;
	struct seal *seal;
	struct quarantine *hold;
	struct tlog *tlog;
	/* release.c */
	pthread_cond_t rq_cond;
	pthread_t *threads;
	unsigned nthreads;
	int stopping;
	struct rel_item *rq_head, *rq_tail;
	struct release_round *rounds;
	char (*busy)[QUARANTINE_ID_LEN + 1]; /* items being released now */
	size_t nbusy, busy_cap;
	time_t last_retry;
	/* opull.c */
	struct opull *pull;
};

/* A reference on the current runtime, or NULL before the first. */
struct runtime *outbreak_runtime(struct outbreak *ob);
json_t *outbreak_alert_json(const struct seal_alert *a);

/* release.c */
void release_start(struct outbreak *ob, unsigned nthreads);
void release_stop(struct outbreak *ob);
/* Queues every item held for alert that is not released yet. */
void release_queue_alert(struct outbreak *ob, const char *alert);
/* Rescans and releases one held item now (the admin). 0, 1 unknown or not
 * releasable now, -1; *msg allocated. */
int release_one(struct outbreak *ob, const char *id, char **msg);

/* opull.c */
void opull_start(struct outbreak *ob, const struct pc_config *c);
void opull_stop(struct outbreak *ob);
/*
 * One HTTP(S) request with libcurl: GET url (body NULL) or POST body (len
 * blen, Content-Type application/json). etag_in: sent as If-None-Match
 * (NULL: none). On 200 with a GET, *out (NUL-terminated, at most max
 * bytes) and *outlen; etag_out (may be NULL) gets the ETag (allocated or
 * NULL). Returns the HTTP status, or -1 with *err.
 */
long opull_fetch(const char *url, uint64_t timeout_ms, uint64_t max, const char *etag_in,
                 char **out, size_t *outlen, char **etag_out, char **err);
long opull_post(const char *url, uint64_t timeout_ms, const char *body, size_t blen, char **err);
/*
 * POSTs body (JSON) to url and returns the HTTP status with the answer,
 * whatever the status: *out (NUL-terminated, at most max bytes, allocated)
 * and *outlen. -1 with *err when there is no answer.
 */
long opull_request(const char *url, uint64_t timeout_ms, uint64_t max, const char *body,
                   size_t blen, char **out, size_t *outlen, char **err);

/*
 * oenrol.c: enrolment with the provider (outbreak.enrol_url). NULL when
 * there is nothing to do (no enrol_url, already enrolled with this URL, ID
 * and key, or no token: logged). oenrol_try: 0 enrolled (recorded), 1
 * refused for good (logged), -1 failed for now (logged; try again later).
 */
struct oenrol *oenrol_new(struct outbreak *ob, const struct pc_config *c);
int oenrol_try(struct outbreak *ob, struct oenrol *e);
void oenrol_free(struct oenrol *e);

#endif

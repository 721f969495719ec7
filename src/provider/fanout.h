/*
 * fanout: pushes one signed document (alert, update, all-clear) to every
 * registered gateway that has a push URL, concurrently (libcurl multi,
 * bounded parallelism, per-attempt timeouts, retries with exponential
 * backoff for gateways that did not answer), and records the signed
 * receipt each gateway answers with (verified with that gateway's enrolled
 * key, recorded in pstore in batches). Gateways it cannot reach get the
 * document by pull (the feed) when they come back.
 *
 * Blocking; opens its own pstore handle from state_dir, so it can run on
 * any thread (fanout_start() runs it on a detached one). Each gateway's
 * outcome is logged (util/log.h): a retry at info, a gateway given up at
 * warn (with the reason), a receipt recorded at debug.
 */
#ifndef PC_FANOUT_H
#define PC_FANOUT_H

#include <stddef.h>
#include <stdint.h>

struct fanout_opts {
	unsigned parallel;       /* pushes in flight at once (default 256) */
	long connect_timeout_ms; /* per attempt (default 2000) */
	long timeout_ms;         /* per attempt, whole request (default 5000) */
	unsigned attempts;       /* tries per gateway (default 4) */
	long backoff_ms;         /* wait before the 2nd try; doubled each time (default 500) */
	const char *ca_file;     /* CA for https push URLs (NULL: the system's) */
	const char *provider;    /* the provider's name (receipts must answer it) */
};

/* Fills the defaults above (provider NULL). */
void fanout_opts_default(struct fanout_opts *o);

struct fanout_stats {
	size_t gateways;         /* registered with a push URL */
	size_t receipts;         /* verified receipts recorded (a repeat counts) */
	size_t failed;           /* no receipt recorded, after every attempt or a refusal */
	size_t refused;          /* of failed: a 4xx, or an answer without a valid receipt */
	size_t retries;          /* attempts after a first one */
	double seconds;          /* from the call until every gateway was done */
	double receipts_seconds; /* from the call until the last receipt was recorded */
};

/*
 * Pushes envelope (the document `message`, seq `seq`) to every gateway
 * registered in STATE_DIR's pstore with a push URL. 0 when it ran (some
 * gateways may have failed: st->failed, each logged), -1 with *err
 * (allocated) when it could not run at all.
 */
int fanout_push(const struct fanout_opts *o, const char *state_dir, const char *message,
                uint64_t seq, const char *envelope, struct fanout_stats *st, char **err);

/*
 * fanout_push() on a detached thread (its arguments copied); the outcome is
 * logged. 0, or -1 with *err when the thread cannot start.
 */
int fanout_start(const struct fanout_opts *o, const char *state_dir, const char *message,
                 uint64_t seq, const char *envelope, char **err);

#endif

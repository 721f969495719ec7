/*
 * log: stderr or syslog output with levels. Owns nothing but its settings.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "util/log.h"
#include "util/sanitize.h"

static const char *log_ident = "portcullis";
static int log_syslog;
static enum log_level log_level = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local char log_ctx[64];

void
log_init(const char *ident, int use_syslog, enum log_level level)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_level = level;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

void
log_context_set(const char *ctx)
{
	snprintf(log_ctx, sizeof(log_ctx), "%s", ctx ? ctx : "");
}

int
log_level_parse(const char *s)
{
	static const char *names[] = {"err", "warn", "info", "debug"};

	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static void
log_vemit(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char *tag[] = {"error", "warning", "info", "debug"};
	char msg[4096];
	size_t n = 0;

	if (lvl > log_level)
		return;
	if (log_ctx[0])
		n = (size_t)snprintf(msg, sizeof(msg), "%s: ", log_ctx);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	if (errnum) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	}
	/* Never let control characters from the wire into a log line. */
	sanitize(msg, msg, sizeof(msg), SAN_LOG);
	if (log_syslog) {
		syslog(prio[lvl], "%s", msg);
		return;
	}
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s: %s: %s\n", log_ident, tag[lvl], msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

#define LOG_BODY(lvl, errnum)                                                                      \
	do {                                                                                       \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vemit(lvl, errnum, fmt, ap);                                                   \
		va_end(ap);                                                                        \
	} while (0)

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, 0);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, 0);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	LOG_BODY(LOG_LVL_WARN, saved);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, 0);
}

void
log_err(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, 0);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	LOG_BODY(LOG_LVL_ERR, saved);
	exit(2);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, 0);
	exit(2);
}

void
panic(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, 0);
	abort();
}

/*
 * log: the one way Portcullis reports anything.
 *
 * Lines go to stderr (default) or syslog. Session and verdict lines use
 * key=value pairs so that they can be parsed: `verdict path=... status=...`.
 * log_warn() appends strerror(errno); log_warnx() does not. fatal() is for
 * startup only; panic() is for our own bugs. Wire input never reaches
 * either. All functions are thread-safe.
 */
#ifndef PC_LOG_H
#define PC_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the program name, the destination and the lowest level logged. */
void log_init(const char *ident, int use_syslog, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "err", "warn", "info", "debug"; returns -1 on anything else. */
int log_level_parse(const char *s);
/*
 * Sets this thread's context, prefixed to every line it logs ("smtp[42]"
 * gives "smtp[42]: ..."), or clears it (NULL). A worker running a job for
 * a session sets it, so that the scanner's, the store's and the rewriter's
 * lines name the session too. Copied (at most 63 bytes).
 */
void log_context_set(const char *ctx);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

/*
 * daemon: the life of portcullisd around its proxies. Startup (directories,
 * binding as root, the checked privilege drop, the first runtime), the
 * event loop, SIGHUP (a new runtime built on a worker, swapped in for new
 * sessions), SIGTERM (stop accepting, drain, stop) and housekeeping
 * (quarantine retention). State that must outlive a reload lives in the
 * daemon, never in a runtime.
 */
#ifndef PC_DAEMON_H
#define PC_DAEMON_H

#include "conf/conf.h"

struct daemon_opts {
	const char *config_path; /* NULL: built-in defaults */
	int foreground;          /* else daemon(3) */
	int verbose;             /* debug logging, also after a reload */
};

/* Defaults, then the file (path NULL: defaults only). 0, or -1 after
 * printing file:line errors to stderr. */
int daemon_load_config(const char *path, struct pc_config *c);
/* 1 if logs go to syslog: log.syslog = yes, or running in the background. */
int daemon_log_to_syslog(const struct pc_config *c, int foreground);
/*
 * Runs the daemon on conf (taken over; zeroed): binds the listeners,
 * prepares the directories, drops privileges, builds the runtime and runs
 * the loop until SIGTERM or SIGINT has drained it. Startup failures are
 * fatal. Returns the exit status.
 */
int daemon_run(const struct daemon_opts *o, struct pc_config *conf);

#endif

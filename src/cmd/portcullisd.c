/*
 * portcullisd: the gateway daemon. Owns startup (config, directories, bind,
 * privilege drop), the event loop, signals (SIGHUP reload, SIGTERM drain)
 * and periodic housekeeping; everything else is the proxy's.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "conf/conf.h"
#include "config.h"
#include "daemon/runtime.h"
#include "smtp/smtp_proxy.h"
#include "store/quarantine.h"
#include "util/log.h"
#include "util/workq.h"
#include "util/xalloc.h"

struct daemon {
	struct event_base *base;
	struct workq *wq;
	struct proxy *px;
	const char *config_path; /* NULL: built-in defaults */
	int verbose;
	int reloading;
	int draining;
	time_t drain_deadline;
	struct event *sighup, *sigterm, *sigint, *tick;
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: portcullisd [-c FILE] [-f] [-t] [-v]\n"
	        "  -c FILE  configuration (default %s if it exists, else built-in defaults)\n"
	        "  -f       stay in the foreground and log to stderr\n"
	        "  -t       check the configuration and exit (0 = valid)\n"
	        "  -v       debug logging\n",
	        PORTCULLIS_CONF);
}

/* Loads the configuration; 0, or -1 after printing file:line errors. */
static int
load_config(const char *path, struct pc_config *c)
{
	conf_defaults(c);
	if (path == NULL)
		return 0;
	if (conf_load(c, path, stderr) != 0) {
		conf_free(c);
		return -1;
	}
	return 0;
}

/* mkdir -p, then hand the directory to the daemon's user. */
static int
prepare_dir(const char *path, const struct passwd *pw)
{
	char buf[4096];

	if (strlen(path) >= sizeof(buf))
		return -1;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(buf, 0750) < 0 && errno != EEXIST)
		return -1;
	if (pw && chown(buf, pw->pw_uid, pw->pw_gid) < 0)
		return -1;
	return 0;
}

/* Creates every directory the daemon writes to, owned by its user. */
static void
prepare_dirs(const struct pc_config *c, const struct passwd *pw)
{
	const char *dirs[4] = {c->spool_dir, c->quarantine_dir,
	                       c->cache_dir[0] ? c->cache_dir : NULL, NULL};

	for (int i = 0; dirs[i]; i++)
		if (prepare_dir(dirs[i], pw) < 0)
			fatal("cannot create %s", dirs[i]);
	for (size_t i = 0; i < c->nlisteners; i++)
		if (strncmp(c->listeners[i].next_hop, "maildir:", 8) == 0) {
			const char *md = c->listeners[i].next_hop + 8;
			char sub[4096];

			if (prepare_dir(md, pw) < 0)
				fatal("cannot create %s", md);
			for (int k = 0; k < 3; k++) {
				snprintf(sub, sizeof(sub), "%s/%s", md,
				         k == 0   ? "tmp"
				         : k == 1 ? "new"
				                  : "cur");
				if (prepare_dir(sub, pw) < 0)
					fatal("cannot create %s", sub);
			}
		}
}

/* Drops root for the configured user, checked, before any wire byte. */
static void
drop_privileges(const struct passwd *pw)
{
	if (pw == NULL) {
		if (geteuid() == 0)
			log_warnx("running as root: set daemon.user to drop privileges");
		return;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		fatal("cannot drop privileges to %s", pw->pw_name);
	if (pw->pw_uid != 0 && (setuid(0) == 0 || geteuid() == 0))
		fatalx("privileges could be regained after dropping them");
	log_info("privileges dropped to user %s (uid %u)", pw->pw_name, (unsigned)pw->pw_uid);
}

/* -------------------------------------------------------------- reload */

struct reload_job {
	struct daemon *d;
	struct pc_config conf;
	int conf_ok;
	struct runtime *rt;
	char *err;
};

static void
reload_run(void *arg)
{
	struct reload_job *j = arg;

	if (!j->conf_ok)
		return;
	j->rt = runtime_build(&j->conf, &j->err);
}

static void
reload_done(void *arg)
{
	struct reload_job *j = arg;
	struct daemon *d = j->d;

	d->reloading = 0;
	if (j->rt) {
		proxy_set_runtime(d->px, j->rt);
		runtime_unref(j->rt);
		log_info("reload: configuration and signatures reloaded");
	} else
		log_warnx("reload failed, keeping the running configuration: %s",
		          j->err ? j->err : "configuration has errors");
	free(j->err);
	conf_free(&j->conf);
	free(j);
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct reload_job *j;

	if (d->reloading) {
		log_info("reload: already in progress");
		return;
	}
	log_info("reload: SIGHUP received");
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->conf_ok = load_config(d->config_path, &j->conf) == 0;
	if (j->conf_ok) {
		if (d->verbose)
			j->conf.log_level = LOG_LVL_DEBUG;
		log_set_level((enum log_level)j->conf.log_level);
	}
	d->reloading = 1;
	workq_submit(d->wq, reload_run, reload_done, j);
}

/* --------------------------------------------------------------- drain */

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	const struct pc_config *c = &proxy_runtime(d->px)->conf;

	if (d->draining) {
		log_info("second signal: stopping now");
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->draining = 1;
	d->drain_deadline = time(NULL) + (time_t)((c->drain_timeout_ms + 999) / 1000);
	log_info("stopping: no new sessions, draining %u", proxy_sessions(d->px));
	proxy_stop_listening(d->px);
}

/* ---------------------------------------------------------- housekeeping */

struct purge_job {
	struct runtime *rt;
	struct q_purge_stats st;
	int rc;
};

static void
purge_run(void *arg)
{
	struct purge_job *j = arg;

	j->rc = quarantine_purge(j->rt->quarantine, time(NULL), j->rt->conf.quarantine_max_age_ms,
	                         j->rt->conf.quarantine_max_size, &j->st);
}

static void
purge_done(void *arg)
{
	struct purge_job *j = arg;

	/* quarantine_purge() logs what it removed. */
	runtime_unref(j->rt);
	free(j);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	static unsigned ticks;
	struct daemon *d = arg;

	if (d->draining && (proxy_sessions(d->px) == 0 || time(NULL) >= d->drain_deadline)) {
		if (proxy_sessions(d->px))
			log_warnx("drain timeout: closing %u sessions", proxy_sessions(d->px));
		event_base_loopexit(d->base, NULL);
		return;
	}
	/* Quarantine retention once an hour (and once at start). */
	if (ticks++ % 3600 == 0) {
		struct purge_job *j = xcalloc(1, sizeof(*j));

		j->rt = runtime_ref(proxy_runtime(d->px));
		workq_submit(d->wq, purge_run, purge_done, j);
	}
}

int
main(int argc, char **argv)
{
	struct daemon d = {0};
	struct pc_config conf;
	struct passwd *pw = NULL;
	struct runtime *rt;
	struct timeval one = {1, 0};
	int foreground = 0, test = 0, ch;
	char *err = NULL, *desc;

	while ((ch = getopt(argc, argv, "c:ftvh")) != -1) {
		switch (ch) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			d.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (d.config_path == NULL && access(PORTCULLIS_CONF, R_OK) == 0)
		d.config_path = PORTCULLIS_CONF;
	if (load_config(d.config_path, &conf) < 0) {
		fprintf(stderr, "portcullisd: %s: configuration has errors\n", d.config_path);
		return 2;
	}
	if (test) {
		printf("%s: configuration OK\n",
		       d.config_path ? d.config_path : "(built-in defaults)");
		conf_free(&conf);
		return 0;
	}
	log_init("portcullisd", foreground ? 0 : conf.log_syslog || !foreground,
	         d.verbose ? LOG_LVL_DEBUG : (enum log_level)conf.log_level);
	signal(SIGPIPE, SIG_IGN);
	if (conf.daemon_user[0] && geteuid() == 0) {
		if ((pw = getpwnam(conf.daemon_user)) == NULL)
			fatalx("daemon.user %s does not exist: create it (useradd --system %s) or "
			       "set daemon.user",
			       conf.daemon_user, conf.daemon_user);
	}
	if (!foreground && daemon(0, 0) < 0)
		fatal("daemon");
	evthread_use_pthreads();
	if ((d.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	d.wq = workq_new(d.base, conf.workers);
	d.px = proxy_new(d.base, d.wq);

	/* Bind as root, then drop privileges before the first wire byte. */
	for (size_t i = 0; i < conf.nlisteners; i++)
		if (proxy_listen(d.px, &conf.listeners[i], &err) == NULL)
			fatalx("%s", err);
	prepare_dirs(&conf, pw);
	drop_privileges(pw);

	if ((rt = runtime_build(&conf, &err)) == NULL)
		fatalx("cannot start: %s", err);
	proxy_set_runtime(d.px, rt);
	runtime_unref(rt);

	/* Ignored underneath libevent's handlers: when the loop is over and
	 * those are freed, libevent restores SIG_IGN, so a second SIGTERM that
	 * arrives during the cleanup (a supervisor that insists) is
	 * harmless. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	d.sighup = evsignal_new(d.base, SIGHUP, on_sighup, &d);
	d.sigterm = evsignal_new(d.base, SIGTERM, on_sigterm, &d);
	d.sigint = evsignal_new(d.base, SIGINT, on_sigterm, &d);
	d.tick = event_new(d.base, -1, EV_PERSIST, on_tick, &d);
	evsignal_add(d.sighup, NULL);
	evsignal_add(d.sigterm, NULL);
	evsignal_add(d.sigint, NULL);
	event_add(d.tick, &one);

	desc = proxy_listeners_describe(d.px);
	log_info("ready listeners=%s version=%s", desc, PORTCULLIS_VERSION);
	free(desc);
	event_base_dispatch(d.base);

	/* Freeing the signal events puts back SIG_IGN, the handler libevent
	 * found: from here a late signal cannot kill the cleanup. */
	event_free(d.sighup);
	event_free(d.sigterm);
	event_free(d.sigint);
	event_free(d.tick);
	log_info("stopped");
	workq_free(d.wq);
	proxy_free(d.px);
	event_base_free(d.base);
	return 0;
}

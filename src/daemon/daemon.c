/*
 * daemon: startup, the loop, reload, drain and housekeeping of portcullisd.
 * Owns the event base, the worker queue, the SMTP proxy, the signal events
 * and the reload in progress; the sessions are the proxy's.
 */
#include <errno.h>
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
#include <systemd/sd-daemon.h>
#include <event2/thread.h>

#include "config.h"
#include "daemon/daemon.h"
#include "daemon/runtime.h"
#include "ftp/ftp_proxy.h"
#include "net/listener.h"
#include "daemon/monitor.h"
#include "outbreak/ohttp.h"
#include "outbreak/outbreak.h"
#include "smtp/smtp_proxy.h"
#include "store/quarantine.h"
#include "util/log.h"
#include "util/workq.h"
#include "util/metrics.h"
#include "util/xalloc.h"

#define HOUSEKEEPING_S 3600 /* quarantine retention: once an hour, and at start */

struct daemon {
	struct event_base *base;
	struct workq *wq;
	struct proxy *px;
	struct ftp_proxy *fpx;
	struct outbreak *ob; /* outlives every runtime: the seal survives reloads */
	struct ohttp *oh;
	struct monitor *mon;
	const struct daemon_opts *o;
	int undrained; /* proxies (SMTP, FTP) with sessions left while draining */
	int reloading;
	int draining;
	struct event *sighup, *sigterm, *sigint, *housekeeping, *drain_timer;
};

int
daemon_load_config(const char *path, struct pc_config *c)
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

int
daemon_log_to_syslog(const struct pc_config *c, int foreground)
{
	/* In the background stderr is gone; in the foreground log.syslog
	 * still decides (under systemd, say). */
	return c->log_syslog || !foreground;
}

/* mkdir -p, then hand the directory to the daemon's user. */
static int
prepare_dir(const char *path, const struct passwd *pw)
{
	struct stat st;
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
	/* Already the user's (made by the package, say): no chown, so that a
	 * unit without CAP_CHOWN (portcullisd.service) starts. */
	if (pw && (stat(buf, &st) < 0 || st.st_uid != pw->pw_uid || st.st_gid != pw->pw_gid) &&
	    chown(buf, pw->pw_uid, pw->pw_gid) < 0)
		return -1;
	return 0;
}

/* Creates every directory the daemon writes to, owned by its user. */
static void
prepare_dirs(const struct pc_config *c, const struct passwd *pw)
{
	int ob = c->outbreak_provider_keys[0] != '\0';
	const char *dirs[6] = {
	    c->spool_dir, c->quarantine_dir, c->cache_dir[0] ? c->cache_dir : NULL, NULL, NULL,
	    NULL};

	if (ob) {
		int k = dirs[2] ? 3 : 2;

		dirs[k] = c->outbreak_state_dir;
		dirs[k + 1] = c->outbreak_hold_dir;
	}

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
	if (j->rt && j->d->ob)
		outbreak_set_runtime(j->d->ob, j->rt); /* the alerts' checksums, again */
}

static void
reload_done(void *arg)
{
	struct reload_job *j = arg;
	struct daemon *d = j->d;

	d->reloading = 0;
	if (j->rt) {
		proxy_set_runtime(d->px, j->rt);
		ftp_proxy_set_runtime(d->fpx, j->rt);
		runtime_unref(j->rt);
		metrics_add("portcullis_reloads_total", "result=\"ok\"", 1);
		log_info("reload: configuration and signatures reloaded");
		sd_notify(0, "READY=1\nSTATUS=reloaded");
	} else {
		metrics_add("portcullis_reloads_total", "result=\"failed\"", 1);
		log_warnx("reload failed, keeping the running configuration: %s",
		          j->err ? j->err : "configuration has errors");
		sd_notify(0, "READY=1\nSTATUS=reload failed, running the previous configuration");
	}
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
	sd_notify(0, "RELOADING=1\nSTATUS=reloading");
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->conf_ok = daemon_load_config(d->o->config_path, &j->conf) == 0;
	if (j->conf_ok) {
		if (d->o->verbose)
			j->conf.log_level = LOG_LVL_DEBUG;
		log_set_level((enum log_level)j->conf.log_level);
	}
	d->reloading = 1;
	workq_submit(d->wq, reload_run, reload_done, j);
}

/* --------------------------------------------------------------- drain */

static void
drain_idle(void *arg)
{
	struct daemon *d = arg;

	if (--d->undrained > 0)
		return;
	log_info("drained: every session has ended");
	event_base_loopexit(d->base, NULL);
}

static void
drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	log_warnx("drain timeout: closing %u sessions",
	          proxy_sessions(d->px) + ftp_proxy_sessions(d->fpx));
	event_base_loopexit(d->base, NULL);
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t ms = proxy_runtime(d->px)->conf.drain_timeout_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	if (d->draining) {
		log_info("second signal: stopping now");
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->draining = 1;
	sd_notify(0, "STOPPING=1\nSTATUS=draining");
	log_info("stopping: no new sessions, draining %u",
	         proxy_sessions(d->px) + ftp_proxy_sessions(d->fpx));
	evtimer_add(d->drain_timer, &tv);
	d->undrained = 2;
	proxy_drain(d->px, drain_idle, d);
	ftp_proxy_drain(d->fpx, drain_idle, d);
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

/* Quarantine retention, on a worker (it deletes files and writes SQLite). */
static void
on_housekeeping(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct purge_job *j;

	if (d->draining)
		return;
	j = xcalloc(1, sizeof(*j));
	j->rt = runtime_ref(proxy_runtime(d->px));
	workq_submit(d->wq, purge_run, purge_done, j);
}

/* ---------------------------------------------------------------- running */

static void
signals_add(struct daemon *d)
{
	/* Ignored underneath libevent's handlers: when the loop is over and
	 * those are freed, libevent restores SIG_IGN, so a second SIGTERM that
	 * arrives during the cleanup (a supervisor that insists) is
	 * harmless. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	d->sighup = evsignal_new(d->base, SIGHUP, on_sighup, d);
	d->sigterm = evsignal_new(d->base, SIGTERM, on_sigterm, d);
	d->sigint = evsignal_new(d->base, SIGINT, on_sigterm, d);
	if (d->sighup == NULL || d->sigterm == NULL || d->sigint == NULL)
		fatalx("out of memory (signal events)");
	evsignal_add(d->sighup, NULL);
	evsignal_add(d->sigterm, NULL);
	evsignal_add(d->sigint, NULL);
}

int
daemon_run(const struct daemon_opts *o, struct pc_config *conf)
{
	struct daemon d = {.o = o};
	struct timeval hour = {HOUSEKEEPING_S, 0};
	struct passwd *pw = NULL;
	struct runtime *rt;
	char *err = NULL, *desc, *fdesc;
	int push_fd = -1, metrics_fd = -1;

	if (conf->daemon_user[0] && geteuid() == 0 && (pw = getpwnam(conf->daemon_user)) == NULL)
		fatalx("daemon.user %s does not exist: create it (useradd --system %s) or set "
		       "daemon.user",
		       conf->daemon_user, conf->daemon_user);
	if (!o->foreground && daemon(0, 0) < 0)
		fatal("daemon");
	evthread_use_pthreads();
	if ((d.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	d.wq = workq_new(d.base, conf->workers);
	d.px = proxy_new(d.base, d.wq);
	d.fpx = ftp_proxy_new(d.base, d.wq);

	/* Bind as root, then drop privileges before the first wire byte. */
	for (size_t i = 0; i < conf->nlisteners; i++)
		if (proxy_listen(d.px, &conf->listeners[i], &err) < 0)
			fatalx("%s", err);
	for (size_t i = 0; i < conf->nftp_listeners; i++)
		if (ftp_proxy_listen(d.fpx, &conf->ftp_listeners[i], &err) < 0)
			fatalx("%s", err);
	if (conf->outbreak_push_listen[0] &&
	    (push_fd = net_bind("outbreak.push_listen", conf->outbreak_push_listen, &err)) < 0)
		fatalx("%s", err);
	if (conf->metrics_listen[0] &&
	    (metrics_fd = net_bind("metrics.listen", conf->metrics_listen, &err)) < 0)
		fatalx("%s", err);
	prepare_dirs(conf, pw);
	drop_privileges(pw);

	/* The outbreak state outlives runtimes: made before the first. Off
	 * until the provider's keys are configured. */
	if (conf->outbreak_provider_keys[0]) {
		if ((d.ob = outbreak_new(conf, &err)) == NULL)
			fatalx("cannot start outbreak control: %s", err);
		if ((d.oh = ohttp_new(d.base, d.wq, d.ob, conf, push_fd, &err)) == NULL)
			fatalx("cannot start outbreak control: %s", err);
	} else if (push_fd >= 0)
		fatalx("outbreak.push_listen needs outbreak.provider_keys");
	if ((rt = runtime_build(conf, &err)) == NULL)
		fatalx("cannot start: %s", err);
	if (d.ob)
		outbreak_set_runtime(d.ob, rt);
	proxy_set_runtime(d.px, rt);
	ftp_proxy_set_runtime(d.fpx, rt);
	runtime_unref(rt);
	if (metrics_fd >= 0 &&
	    (d.mon = monitor_new(d.base, d.wq, metrics_fd, &proxy_runtime(d.px)->conf, d.px, d.ob,
	                         &err)) == NULL)
		fatalx("cannot serve metrics: %s", err);

	signals_add(&d);
	d.drain_timer = evtimer_new(d.base, drain_timeout, &d);
	d.housekeeping = event_new(d.base, -1, EV_PERSIST, on_housekeeping, &d);
	if (d.drain_timer == NULL || d.housekeeping == NULL)
		fatalx("out of memory (timers)");
	event_add(d.housekeeping, &hour);
	event_active(d.housekeeping, EV_TIMEOUT, 0); /* once at start too */

	desc = proxy_listeners_describe(d.px);
	fdesc = ftp_proxy_listeners_describe(d.fpx);
	log_info("ready listeners=%s%s%s version=%s", desc, *desc && *fdesc ? "," : "", fdesc,
	         PORTCULLIS_VERSION);
	/* systemd's Type=notify: ready once every listener is up. */
	sd_notifyf(0, "READY=1\nSTATUS=listening on %s%s%s", desc, *desc && *fdesc ? "," : "",
	           fdesc);
	free(desc);
	free(fdesc);
	event_base_dispatch(d.base);

	/* Freeing the signal events puts back SIG_IGN, the handler libevent
	 * found: from here a late signal cannot kill the cleanup. */
	event_free(d.sighup);
	event_free(d.sigterm);
	event_free(d.sigint);
	event_free(d.drain_timer);
	event_free(d.housekeeping);
	log_info("stopped");
	workq_free(d.wq);
	monitor_free(d.mon);
	ohttp_free(d.oh);
	outbreak_free(d.ob);
	proxy_free(d.px);
	ftp_proxy_free(d.fpx);
	event_base_free(d.base);
	return 0;
}

/*
 * Unit tests for daemon/daemon and daemon/runtime.
 *
 * - daemon_load_config: the defaults, a file, a file with errors (reported
 *   as file:line), a file that is not there;
 * - daemon_log_to_syslog: log.syslog decides in the foreground too (a bug
 *   that was just fixed), the background always logs to syslog;
 * - runtime_build (and each way it fails), runtime_ref/unref,
 *   runtime_listener, runtime_hostname;
 * - daemon_run in a forked child on a temporary configuration (a free
 *   loopback port, a Maildir next hop in a temporary directory; as root it
 *   drops privileges to nobody, otherwise no daemon.user): it becomes
 *   ready (a client reads the 220), a clean message lands in the Maildir,
 *   SIGHUP reloads (new sessions see the new hostname; a broken file keeps
 *   the running configuration), SIGTERM drains and exits 0, and a burst of
 *   SIGTERMs all through the shutdown still exits 0 (the late-signal bug).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/conf.h"
#include "daemon/daemon.h"
#include "daemon/runtime.h"
#include "dir_count.h"
#include "testnet.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WAIT_MS 10000

static char dir[64];
static const char *src;
static char ro[128]; /* the daemon's signatures and templates, readable by nobody */

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0644);
}

/*
 * Copies the regular files of from into to (made 0755, files 0644): the
 * daemon, dropped to nobody, must not depend on the checkout being
 * readable by others (a clone in /root is not).
 */
static void
copy_dir(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;

	assert_non_null(d);
	assert_int_equal(mkdir(to, 0755), 0);
	chmod(to, 0755);
	while ((e = readdir(d)) != NULL) {
		char a[512], b[512], buf[8192];
		int in, out;
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
		if ((in = open(a, O_RDONLY)) < 0)
			continue;
		out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(out >= 0);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			assert_int_equal(write(out, buf, (size_t)n), n);
		close(in);
		close(out);
	}
	closedir(d);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	struct sbuf b = {0};
	char buf[4096];
	size_t n;

	if (f == NULL)
		return xstrdup("");
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&b, buf, n);
	fclose(f);
	return sb_take(&b);
}

/* Runs f with stderr going to a file; returns what was written (caller frees). */
static char *
capture_stderr(int (*f)(const char *path, struct pc_config *c), const char *path,
               struct pc_config *c, int *rc)
{
	char out[128];
	int saved = dup(2), fd;

	snprintf(out, sizeof(out), "%s/stderr", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	*rc = f(path, c);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return read_file(out);
}

/* ----------------------------------------------------------- configuration */

static void
test_load_config(void **state)
{
	static const struct {
		const char *text; /* NULL: no file at all; "@none": defaults */
		int rc;
		const char *stderr_has;
		int syslog; /* log.syslog after loading */
		const char *listen;
	} v[] = {
	    {"@none", 0, "", 0, "127.0.0.1:10025"},
	    {"[log]\nsyslog = yes\n[smtp]\nlisten = 127.0.0.1:2525\n", 0, "", 1, "127.0.0.1:2525"},
	    {"[log]\nlevel = debug\n", 0, "", 0, "127.0.0.1:10025"},
	    {"[log]\nsyslog = perhaps\n", -1, "daemon.conf:2: ", 0, NULL},
	    {"[nosuch]\nkey = 1\n", -1, "daemon.conf:", 0, NULL},
	    {NULL, -1, "cannot open", 0, NULL},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char path[128], *err;
		struct pc_config c;
		int rc;

		snprintf(path, sizeof(path), "%s/%s", dir,
		         v[i].text ? "daemon.conf" : "missing.conf");
		if (v[i].text && strcmp(v[i].text, "@none") != 0)
			write_file(path, v[i].text);
		err = capture_stderr(daemon_load_config,
		                     v[i].text && strcmp(v[i].text, "@none") == 0 ? NULL : path, &c,
		                     &rc);
		if (rc != v[i].rc)
			fail_msg("row %zu: rc %d, want %d (%s)", i, rc, v[i].rc, err);
		if (strstr(err, v[i].stderr_has) == NULL)
			fail_msg("row %zu: stderr \"%s\", want \"%s\"", i, err, v[i].stderr_has);
		free(err);
		if (rc == 0) {
			assert_int_equal(c.log_syslog, v[i].syslog);
			assert_int_equal(c.nlisteners, 1);
			assert_string_equal(c.listeners[0].listen, v[i].listen);
			/* log.syslog decides in the foreground too */
			assert_int_equal(daemon_log_to_syslog(&c, 1), v[i].syslog);
			assert_int_equal(daemon_log_to_syslog(&c, 0), 1);
			conf_free(&c);
		}
		unlink(path);
	}
}

static void
test_log_to_syslog(void **state)
{
	static const struct {
		int log_syslog, foreground, want;
	} v[] = {
	    {0, 1, 0}, /* foreground: stderr */
	    {1, 1, 1}, /* foreground with log.syslog = yes: syslog (under systemd) */
	    {0, 0, 1}, /* background: stderr is gone */
	    {1, 0, 1},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct pc_config c;

		conf_defaults(&c);
		c.log_syslog = v[i].log_syslog;
		if (daemon_log_to_syslog(&c, v[i].foreground) != v[i].want)
			fail_msg("row %zu", i);
		conf_free(&c);
	}
}

/* ----------------------------------------------------------------- runtime */

static void
base_conf(struct pc_config *c)
{
	char path[512];

	conf_defaults(c);
	snprintf(path, sizeof(path), "%s/sigs", src);
	assert_int_equal(conf_set(c, "scan", "database_dir", path, stderr), 0);
	assert_int_equal(conf_set(c, "scan", "cache_dir", "", stderr), 0);
	snprintf(path, sizeof(path), "%s/templates", src);
	assert_int_equal(conf_set(c, "notify", "template_dir", path, stderr), 0);
	snprintf(path, sizeof(path), "%s/q", dir);
	assert_int_equal(conf_set(c, "quarantine", "dir", path, stderr), 0);
}

/* Values the configuration's parser already refuses, put in directly:
 * runtime_build() checks them again. */
static void
bad_xforward_hosts(struct pc_config *c)
{
	free(c->listeners[0].authorized_xforward_hosts);
	c->listeners[0].authorized_xforward_hosts = xstrdup("10.0.0.0/33");
}

static void
bad_internal_networks(struct pc_config *c)
{
	free(c->internal_networks);
	c->internal_networks = xstrdup("not-a-network");
}

static void
test_runtime(void **state)
{
	static const struct {
		const char *section, *key, *value; /* one change to a good configuration */
		void (*edit)(struct pc_config *c); /* or this one */
		const char *err;                   /* NULL: builds */
	} v[] = {
	    {"log", "level", "info", NULL, NULL},
	    {NULL, NULL, NULL, bad_xforward_hosts, "[smtp] authorized_xforward_hosts: bad network"},
	    {NULL, NULL, NULL, bad_internal_networks, "not-a-network"},
	    {"notify", "template_dir", "@badtmpl", NULL, "recipient.txt"},
	    {"quarantine", "dir", "/dev/null/q", NULL, "/dev/null/q"},
	    {"smtp", "tls_cert", "/nonexistent/cert.pem", NULL, "/nonexistent/cert.pem"},
	    {"scan", "database_dir", "/nonexistent", NULL, "/nonexistent"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct pc_config c;
		struct runtime *rt;
		char *err = NULL;

		base_conf(&c);
		if (v[i].edit)
			v[i].edit(&c);
		else if (strcmp(v[i].value, "@badtmpl") == 0) {
			/* a template whose Subject is not followed by a blank line */
			char path[128];

			snprintf(path, sizeof(path), "%s/badtmpl", dir);
			mkdir(path, 0700);
			assert_int_equal(conf_set(&c, v[i].section, v[i].key, path, stderr), 0);
			snprintf(path, sizeof(path), "%s/badtmpl/recipient.txt", dir);
			write_file(path, "Subject: no blank line after me\nbody\n");
		} else
			assert_int_equal(conf_set(&c, v[i].section, v[i].key, v[i].value, stderr),
			                 0);
		if (v[i].key && strcmp(v[i].key, "tls_cert") == 0)
			assert_int_equal(conf_set(&c, "smtp", "tls_key", v[i].value, stderr), 0);
		rt = runtime_build(&c, &err);
		/* the configuration was taken over either way */
		assert_null(c.listeners);
		assert_null(c.database_dir);
		if (v[i].err == NULL) {
			if (rt == NULL)
				fail_msg("row %zu: %s", i, err);
			assert_null(err);
			runtime_unref(rt);
			continue;
		}
		if (rt != NULL)
			fail_msg("row %zu: built, want \"%s\"", i, v[i].err);
		if (err == NULL || strstr(err, v[i].err) == NULL)
			fail_msg("row %zu: error \"%s\", want \"%s\"", i, err ? err : "(none)",
			         v[i].err);
		free(err);
	}
}

static void
test_runtime_parts(void **state)
{
	struct pc_config c;
	struct runtime *rt;
	const struct smtp_listener_conf *lc;
	char *err = NULL, host[256];
	size_t idx = 99;
	(void)state;

	base_conf(&c);
	assert_int_equal(conf_set(&c, "smtp.in", "listen", "127.0.0.1:2525", stderr), 0);
	assert_int_equal(conf_set(&c, "smtp.in", "hostname", "in.test", stderr), 0);
	assert_int_equal(conf_set(&c, "smtp.out", "listen", "127.0.0.1:2526", stderr), 0);
	assert_int_equal(conf_set(&c, "smtp.out", "authorized_xforward_hosts", "", stderr), 0);
	rt = runtime_build(&c, &err);
	if (rt == NULL)
		fail_msg("%s", err);
	/* references */
	assert_int_equal(rt->refs, 1);
	assert_ptr_equal(runtime_ref(rt), rt);
	assert_int_equal(rt->refs, 2);
	runtime_unref(rt);
	assert_int_equal(rt->refs, 1);
	runtime_unref(NULL);
	/* the parts */
	assert_non_null(rt->scanner);
	assert_non_null(rt->quarantine);
	assert_non_null(rt->templates);
	assert_non_null(rt->client_tls);
	assert_null(rt->server_tls[0]);
	assert_ptr_equal(rt->inspect.scanner, rt->scanner);
	assert_ptr_equal(rt->inspect.policy, &rt->policy);
	assert_ptr_equal(rt->inspect.quarantine, rt->quarantine);
	assert_string_equal(rt->inspect.spool_dir, rt->conf.spool_dir);
	/* listeners by name, and their hostnames */
	assert_non_null(lc = runtime_listener(rt, "out", &idx));
	assert_int_equal(idx, 1);
	assert_string_equal(lc->listen, "127.0.0.1:2526");
	assert_non_null(lc = runtime_listener(rt, "in", NULL));
	assert_string_equal(runtime_hostname(rt, lc), "in.test");
	assert_null(runtime_listener(rt, "smtp", &idx));
	assert_int_equal(idx, 1);
	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		strcpy(host, "localhost");
	assert_string_equal(runtime_hostname(rt, runtime_listener(rt, "out", NULL)), host);
	runtime_unref(rt);
}

/* ------------------------------------------------------ the daemon itself */

static unsigned port;
static char conf_path[128], log_path[128], maildir_new[128];

/*
 * The daemon's configuration file: a free port, a Maildir next hop and
 * every directory in the temporary directory (as root, daemon.user =
 * nobody). over: "section.key=value" lines that replace a key or add one.
 */
static void
write_conf_over(const char *hostname, const char *const *over)
{
	struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : NULL;
	struct sbuf b = {0};
	char *lines[32], *text;
	size_t n = 0;

	lines[n++] = xasprintf("log.level=info");
	lines[n++] = xasprintf("scan.database_dir=%s/sigs", ro);
	lines[n++] = xasprintf("scan.cache_dir=%s/cache", dir);
	lines[n++] = xasprintf("daemon.user=%s", pw ? pw->pw_name : "");
	lines[n++] = xasprintf("daemon.spool_dir=%s/spool", dir);
	lines[n++] = xasprintf("daemon.workers=2");
	lines[n++] = xasprintf("daemon.drain_timeout=3s");
	lines[n++] = xasprintf("quarantine.dir=%s/q", dir);
	lines[n++] = xasprintf("notify.template_dir=%s/templates", ro);
	lines[n++] = xasprintf("smtp.listen=127.0.0.1:%u", port);
	lines[n++] = xasprintf("smtp.next_hop=maildir:%s/md", dir);
	lines[n++] = xasprintf("smtp.hostname=%s", hostname);
	for (size_t i = 0; over && over[i]; i++) {
		size_t klen = strcspn(over[i], "=") + 1, k = 0;

		while (k < n && strncmp(lines[k], over[i], klen) != 0)
			k++;
		if (k == n)
			n++;
		else
			free(lines[k]);
		lines[k] = xstrdup(over[i]);
	}
	/* one [section] each, in the order they first appear */
	for (size_t i = 0; i < n; i++) {
		size_t slen = strcspn(lines[i], ".") + 1, j;

		for (j = 0; j < i && strncmp(lines[j], lines[i], slen) != 0; j++)
			;
		if (j < i)
			continue;
		tn_addf(&b, "[%.*s]\n", (int)slen - 1, lines[i]);
		for (j = i; j < n; j++)
			if (strncmp(lines[j], lines[i], slen) == 0) {
				const char *key = lines[j] + slen;
				size_t klen = strcspn(key, "=");

				tn_addf(&b, "%.*s = %s\n", (int)klen, key, key + klen + 1);
			}
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	text = sb_take(&b);
	write_file(conf_path, text);
	free(text);
}

static void
write_conf(const char *hostname, int broken)
{
	static const char *const bad[] = {"smtp.no_such_key=1", NULL};

	write_conf_over(hostname, broken ? bad : NULL);
}

/* The child: portcullisd's main() in short, logging to log_path. */
static void
run_daemon(void)
{
	struct daemon_opts o = {.config_path = conf_path, .foreground = 1};
	struct pc_config c;
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	dup2(fd, 2);
	close(fd);
	if (daemon_load_config(o.config_path, &c) < 0)
		_exit(2);
	log_init("portcullisd", daemon_log_to_syslog(&c, o.foreground),
	         (enum log_level)c.log_level);
	exit(daemon_run(&o, &c));
}

static pid_t
start_daemon(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_daemon();
	return pid;
}

/* Reads one reply (lines until "NNN "), at most ms; "" on EOF or timeout. */
static char *
read_reply(int fd, unsigned ms)
{
	struct sbuf b = {0};
	uint64_t end = tn_now_ms() + ms;
	size_t line = 0; /* where the last line starts */
	char ch;

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		uint64_t now = tn_now_ms();

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0 || read(fd, &ch, 1) != 1)
			break;
		sb_add(&b, &ch, 1);
		if (ch == '\n') {
			if (b.len - line >= 4 && b.s[line + 3] == ' ')
				break;
			line = b.len;
		}
	}
	return sb_take(&b);
}

/* Connects (retrying until the daemon listens) and returns the banner. */
static char *
connect_banner(int *fdp, unsigned ms)
{
	uint64_t end = tn_now_ms() + ms;
	struct sockaddr_storage ss;
	socklen_t len = tn_sockaddr(port, &ss);

	while (tn_now_ms() < end) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
			char *r = read_reply(fd, 3000);

			if (r[0]) {
				*fdp = fd;
				return r;
			}
			free(r);
		}
		close(fd);
		usleep(20000);
	}
	*fdp = -1;
	return xstrdup("");
}

/* The banner of a new session, once it starts with want (a reload takes a moment). */
static int
wait_banner(const char *want, unsigned ms)
{
	uint64_t end = tn_now_ms() + ms;

	while (tn_now_ms() < end) {
		int fd;
		char *r = connect_banner(&fd, 2000);
		int ok = strncmp(r, want, strlen(want)) == 0;

		free(r);
		if (fd >= 0) {
			if (write(fd, "QUIT\r\n", 6) == 6)
				free(read_reply(fd, 2000));
			close(fd);
		}
		if (ok)
			return 1;
		usleep(50000);
	}
	return 0;
}

static void
say(int fd, const char *line, const char *want)
{
	char *r;
	size_t n = strlen(line);

	assert_int_equal(write(fd, line, n), (ssize_t)n);
	if (want == NULL)
		return;
	r = read_reply(fd, 5000);
	if (strncmp(r, want, strlen(want)) != 0)
		fail_msg("after %.40s: \"%s\", want \"%s\"", line, r, want);
	free(r);
}

/* Waits for the child to exit; its status, or -1 after ms. */
static int
wait_exit(pid_t pid, unsigned ms, int term_burst)
{
	uint64_t end = tn_now_ms() + ms;
	int st;

	while (tn_now_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (term_burst)
			kill(pid, SIGTERM);
		usleep(term_burst ? 500 : 10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static void
check_exit(int st, const char *what)
{
	char *log = read_file(log_path);

	if (st == -1)
		fail_msg("%s: the daemon did not stop; its log:\n%s", what, log);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s: the daemon ended %s %d; its log:\n%s", what,
		         WIFEXITED(st) ? "with status" : "by signal",
		         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), log);
	free(log);
}

static int
log_has(const char *s)
{
	char *log = read_file(log_path);
	int has = strstr(log, s) != NULL;

	free(log);
	return has;
}

static int
wait_log(const char *s, unsigned ms)
{
	uint64_t end = tn_now_ms() + ms;

	while (tn_now_ms() < end) {
		if (log_has(s))
			return 1;
		usleep(20000);
	}
	return 0;
}

static void
test_daemon_run(void **state)
{
	pid_t pid;
	int fd, st;
	char *r, *msg;
	(void)state;

	/* The directory must be open to the daemon's user (nobody, as root). */
	chmod(dir, 0755);
	port = tn_free_port();
	snprintf(conf_path, sizeof(conf_path), "%s/portcullis.conf", dir);
	snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);
	snprintf(maildir_new, sizeof(maildir_new), "%s/md/new", dir);
	write_conf("one.test", 0);
	pid = start_daemon();

	/* Ready: a client reads the 220. */
	r = connect_banner(&fd, WAIT_MS);
	if (strcmp(r, "220 one.test ESMTP Portcullis\r\n") != 0) {
		char *log = read_file(log_path);

		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("banner \"%s\"; the daemon's log:\n%s", r, log);
	}
	free(r);
	assert_true(log_has("ready listeners=smtp@127.0.0.1:"));

	/* A clean message lands in the Maildir. */
	say(fd, "EHLO client.test\r\n", "250-one.test");
	say(fd, "MAIL FROM:<a@example.org>\r\n", "250");
	say(fd, "RCPT TO:<b@example.org>\r\n", "250");
	say(fd, "DATA\r\n", "354");
	say(fd, "Subject: hi\r\n\r\nhello\r\n.\r\n", "250 2.0.0 Ok: delivered as ");
	say(fd, "QUIT\r\n", "221");
	close(fd);
	assert_int_equal(count_entries(maildir_new), 1);
	msg = tn_read_first_file(maildir_new);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "X-Virus-Status: clean\r\nSubject: hi\r\n"));
	free(msg);

	/* SIGHUP: new sessions see the new configuration. */
	write_conf("two.test", 0);
	kill(pid, SIGHUP);
	assert_true(wait_banner("220 two.test", WAIT_MS));
	assert_true(wait_log("reload: configuration and signatures reloaded", WAIT_MS));
	/* A broken file: the running configuration stays. */
	write_conf("three.test", 1);
	kill(pid, SIGHUP);
	assert_true(wait_log("reload failed, keeping the running configuration", WAIT_MS));
	assert_true(wait_banner("220 two.test", WAIT_MS));

	/* SIGTERM with a session open: it drains, then exits 0. */
	r = connect_banner(&fd, WAIT_MS);
	free(r);
	kill(pid, SIGTERM);
	assert_true(wait_log("stopping: no new sessions, draining 1", WAIT_MS));
	say(fd, "QUIT\r\n", "221");
	close(fd);
	st = wait_exit(pid, WAIT_MS, 0);
	check_exit(st, "SIGTERM");
	assert_true(log_has("drained: every session has ended"));
	assert_true(log_has("stopped"));
	if (getenv("PC_TEST_DEBUG")) {
		char *log = read_file(log_path);

		fprintf(stderr, "the daemon's log:\n%s", log);
		free(log);
	}
}

/* Starts the daemon on a fresh port and log; returns its pid once it is ready. */
static pid_t
start_ready(const char *log_name, const char *const *over, int *fd)
{
	pid_t pid;
	char *r;

	chmod(dir, 0755);
	port = tn_free_port();
	snprintf(conf_path, sizeof(conf_path), "%s/portcullis.conf", dir);
	snprintf(log_path, sizeof(log_path), "%s/%s", dir, log_name);
	write_conf_over("one.test", over);
	pid = start_daemon();
	r = connect_banner(fd, WAIT_MS);
	if (strcmp(r, "220 one.test ESMTP Portcullis\r\n") != 0) {
		char *log = read_file(log_path);
		int st;

		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("banner \"%s\"; the daemon's log:\n%s", r, log);
	}
	free(r);
	return pid;
}

/*
 * SIGTERMs all through the shutdown with a session open: the second one
 * stops the drain, the later ones land in the cleanup or after it. Still 0.
 */
static void
test_daemon_term_burst(void **state)
{
	int fd;
	pid_t pid = start_ready("burst.log", NULL, &fd);
	(void)state;

	kill(pid, SIGTERM);
	assert_true(wait_log("stopping: no new sessions, draining 1", WAIT_MS));
	check_exit(wait_exit(pid, WAIT_MS, 1), "a burst of SIGTERMs");
	assert_true(log_has("second signal: stopping now"));
	close(fd);
}

/* A session that does not leave is closed after drain_timeout; still 0. */
static void
test_daemon_drain_timeout(void **state)
{
	static const char *const over[] = {"daemon.drain_timeout=300ms", NULL};
	int fd;
	pid_t pid = start_ready("drain.log", over, &fd);
	(void)state;

	kill(pid, SIGTERM);
	check_exit(wait_exit(pid, WAIT_MS, 0), "drain timeout");
	assert_true(log_has("drain timeout: closing 1 sessions"));
	close(fd);
}

/* What cannot start says why and fails. */
static void
test_daemon_startup_fails(void **state)
{
	static const struct {
		const char *over[3];
		const char *log;
		int root_only;
	} v[] = {
	    {{"smtp.listen=@busy"}, "cannot listen on 127.0.0.1:", 0},
	    {{"daemon.spool_dir=/dev/null/spool"}, "cannot create /dev/null/spool", 0},
	    {{"smtp.next_hop=maildir:/dev/null/md"}, "cannot create /dev/null/md", 0},
	    {{"scan.database_dir=/nonexistent/sigs"}, "cannot start: ", 0},
	    {{"daemon.user=no-such-user-pc"}, "daemon.user no-such-user-pc does not exist", 1},
	};
	(void)state;

	chmod(dir, 0755);
	snprintf(conf_path, sizeof(conf_path), "%s/portcullis.conf", dir);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *over[3] = {v[i].over[0], v[i].over[1], NULL};
		char busy[64];
		int lfd = -1, st;
		char *log;

		if (v[i].root_only && geteuid() != 0)
			continue;
		snprintf(log_path, sizeof(log_path), "%s/fail%zu.log", dir, i);
		port = tn_free_port();
		if (strcmp(v[i].over[0], "smtp.listen=@busy") == 0) {
			lfd = tn_listen(&port);
			snprintf(busy, sizeof(busy), "smtp.listen=127.0.0.1:%u", port);
			over[0] = busy;
		}
		write_conf_over("one.test", over);
		st = wait_exit(start_daemon(), WAIT_MS, 0);
		log = read_file(log_path);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 0)
			fail_msg("row %zu: the daemon did not fail; its log:\n%s", i, log);
		if (strstr(log, v[i].log) == NULL)
			fail_msg("row %zu: no \"%s\" in its log:\n%s", i, v[i].log, log);
		free(log);
		if (lfd >= 0)
			close(lfd);
	}
}

/* ---------------------------------------------------------------- fixture */

static int
group_setup(void **state)
{
	char from[512], to[512];

	src = getenv("PC_SRCDIR");
	assert_non_null(src);
	tn_tmpdir(dir, sizeof(dir), "pc-daemon");
	snprintf(ro, sizeof(ro), "%s/ro", dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	chmod(dir, 0755);
	snprintf(from, sizeof(from), "%s/sigs", src);
	snprintf(to, sizeof(to), "%s/sigs", ro);
	copy_dir(from, to);
	snprintf(from, sizeof(from), "%s/templates", src);
	snprintf(to, sizeof(to), "%s/templates", ro);
	copy_dir(from, to);
	return 0;
}

static int
group_teardown(void **state)
{
	tn_rmrf(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_config),
	    cmocka_unit_test(test_log_to_syslog),
	    cmocka_unit_test(test_runtime),
	    cmocka_unit_test(test_runtime_parts),
	    cmocka_unit_test(test_daemon_run),
	    cmocka_unit_test(test_daemon_term_burst),
	    cmocka_unit_test(test_daemon_drain_timeout),
	    cmocka_unit_test(test_daemon_startup_fails),
	};

	log_init("test_daemon", 0, getenv("PC_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

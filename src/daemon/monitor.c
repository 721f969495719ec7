/*
 * monitor: /metrics and /healthz (see monitor.h). A request takes a
 * reference on the running runtime, does its reading on a worker and is
 * answered back on the loop, unless its client went away meanwhile.
 */
#include "daemon/monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <jansson.h>

#include "daemon/runtime.h"
#include "net/httpd.h"
#include "outbreak/outbreak.h"
#include "scan/scanner.h"
#include "smtp/smtp_proxy.h"
#include "store/quarantine.h"
#include "util/cidr.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/workq.h"
#include "util/xalloc.h"

struct monitor {
	struct workq *wq;
	struct proxy *px;
	struct outbreak *ob;
	struct httpd *http;
	struct cidr_list clients;
};

struct mjob {
	struct monitor *m;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	struct runtime *rt;
	int health, gone, status;
	char *body;
};

/* ------------------------------------------------------------ /metrics */

/* The newest modification time of a regular file in dir; 0 if none. */
static time_t
newest_file(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	time_t newest = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (st.st_mtime > newest)
			newest = st.st_mtime;
	}
	closedir(d);
	return newest;
}

static void
metrics_run(struct mjob *j)
{
	struct scanner_stats ss;
	struct sbuf b = {0};
	int64_t items, bytes;
	time_t newest;

	if (quarantine_totals(j->rt->quarantine, &items, &bytes) == 0) {
		metrics_set("portcullis_quarantine_items", "", (double)items);
		metrics_set("portcullis_quarantine_bytes", "", (double)bytes);
	}
	if (j->m->ob) {
		metrics_set("portcullis_hold_items", "", (double)outbreak_held_count(j->m->ob));
		metrics_set("portcullis_sealed", "", outbreak_sealed(j->m->ob) ? 1 : 0);
	}
	scanner_stats(j->rt->scanner, &ss);
	metrics_set("portcullis_signatures", "kind=\"body\"", (double)ss.body_sigs);
	metrics_set("portcullis_signatures", "kind=\"hash\"", (double)ss.hash_sigs);
	if ((newest = newest_file(j->rt->conf.database_dir)) > 0)
		metrics_set("portcullis_signatures_age_seconds", "",
		            difftime(time(NULL), newest) > 0 ? difftime(time(NULL), newest) : 0);
	metrics_render(&b);
	j->status = 200;
	j->body = sb_take(&b);
}

/* ------------------------------------------------------------ /healthz */

/* Connects to HOST:PORT within ms; NULL, or why not (static). */
static const char *
try_connect(const char *hostport, uint64_t ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct pollfd p;
	int fd, e = 0;
	socklen_t el = sizeof(e);

	if (hostport_parse(hostport, &ss, &len) < 0)
		return "bad address";
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return strerror(errno);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		return strerror(e);
	}
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, (int)ms) != 1) {
		close(fd);
		return "no answer in time";
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != 0) {
		close(fd);
		return strerror(e ? e : errno);
	}
	close(fd);
	return NULL;
}

/* A Maildir is made on first delivery: its nearest existing ancestor must
 * be writable. NULL, or why not (static). */
static const char *
maildir_writable(const char *path)
{
	char *p = xstrdup(path), *slash;
	const char *why = NULL;

	while (access(p, F_OK) < 0 && errno == ENOENT && (slash = strrchr(p, '/')) != NULL &&
	       slash != p)
		*slash = '\0';
	if (access(p, W_OK) < 0)
		why = strerror(errno);
	free(p);
	return why;
}

static void
check(json_t *arr, int *ok, const char *name, const char *fail, const char *detail)
{
	json_array_append_new(arr, json_pack("{sssbss}", "check", name, "ok", fail == NULL,
	                                     "detail", fail ? fail : detail));
	if (fail)
		*ok = 0;
}

static void
health_run(struct mjob *j)
{
	const struct pc_config *c = &j->rt->conf;
	json_t *o, *arr = json_array();
	struct scanner_stats ss;
	struct statvfs vfs;
	char why[160], detail[160];
	int ok = 1;

	scanner_stats(j->rt->scanner, &ss);
	snprintf(detail, sizeof(detail), "%zu body and %zu hash signatures", ss.body_sigs,
	         ss.hash_sigs);
	check(arr, &ok, "engine", ss.body_sigs + ss.hash_sigs ? NULL : "no signature loaded",
	      detail);

	if (statvfs(c->spool_dir, &vfs) < 0) {
		snprintf(why, sizeof(why), "%s: %s", c->spool_dir, strerror(errno));
		check(arr, &ok, "spool", why, NULL);
	} else {
		unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;

		snprintf(detail, sizeof(detail), "%s: %llu bytes free", c->spool_dir, avail);
		snprintf(why, sizeof(why), "%s: %llu bytes free, less than min_free_space (%llu)",
		         c->spool_dir, avail, (unsigned long long)c->metrics_min_free_space);
		check(arr, &ok, "spool", avail >= c->metrics_min_free_space ? NULL : why, detail);
	}

	for (size_t i = 0; i < c->nlisteners; i++) {
		const char *nh = c->listeners[i].next_hop, *fail = NULL;
		char name[96];

		snprintf(name, sizeof(name), "next_hop %s", c->listeners[i].name);
		if (strncmp(nh, "smtp:", 5) == 0)
			fail = try_connect(nh + 5, c->metrics_health_timeout_ms);
		else if (strncmp(nh, "maildir:", 8) == 0)
			fail = maildir_writable(nh + 8);
		if (fail)
			snprintf(why, sizeof(why), "%s: %s", nh, fail);
		check(arr, &ok, name, fail ? why : NULL, nh);
	}
	for (size_t i = 0; i < c->nftp_listeners; i++) {
		const char *up = c->ftp_listeners[i].upstream, *fail;
		char name[96];

		if (up == NULL || up[0] == '\0')
			continue;
		snprintf(name, sizeof(name), "upstream %s", c->ftp_listeners[i].name);
		if ((fail = try_connect(up, c->metrics_health_timeout_ms)) != NULL)
			snprintf(why, sizeof(why), "%s: %s", up, fail);
		check(arr, &ok, name, fail ? why : NULL, up);
	}
	o = json_pack("{ssso}", "status", ok ? "ok" : "fail", "checks", arr);
	j->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	j->status = ok ? 200 : 503;
}

/* ------------------------------------------------------------- serving */

static void
job_run(void *arg)
{
	struct mjob *j = arg;

	if (j->health)
		health_run(j);
	else
		metrics_run(j);
}

static void
on_conn_close(struct evhttp_connection *conn, void *arg)
{
	struct mjob *j = arg;

	j->gone = 1;
}

static void
job_done(void *arg)
{
	struct mjob *j = arg;

	if (!j->gone) {
		evhttp_connection_set_closecb(j->conn, NULL, NULL);
		if (j->health)
			httpd_send_json(j->req, j->status, j->body ? j->body : "{}");
		else
			httpd_send(j->req, j->status, "text/plain; version=0.0.4; charset=utf-8",
			           j->body, strlen(j->body));
	}
	runtime_unref(j->rt);
	free(j->body);
	free(j);
}

static void
on_get(struct evhttp_request *req, const char *path, void *arg)
{
	struct monitor *m = arg;
	struct mjob *j = xcalloc(1, sizeof(*j));

	j->m = m;
	j->req = req;
	j->conn = evhttp_request_get_connection(req);
	j->health = strcmp(path, "/healthz") == 0;
	j->rt = runtime_ref(proxy_runtime(m->px));
	evhttp_connection_set_closecb(j->conn, on_conn_close, j);
	workq_submit(m->wq, job_run, job_done, j);
}

struct monitor *
monitor_new(struct event_base *base, struct workq *wq, int fd, const struct pc_config *c,
            struct proxy *px, struct outbreak *ob, char **err)
{
	struct monitor *m = xcalloc(1, sizeof(*m));
	struct httpd_opts ho = {0};
	char bad[80];

	m->wq = wq;
	m->px = px;
	m->ob = ob;
	if (cidr_list_parse(c->metrics_clients, &m->clients, bad, sizeof(bad)) < 0) {
		*err = xasprintf("metrics.clients: bad network %s", bad);
		close(fd);
		monitor_free(m);
		return NULL;
	}
	ho.name = "metrics";
	ho.clients = &m->clients;
	ho.clients_key = "metrics.clients";
	ho.max_body = 4096;
	if ((m->http = httpd_new(base, fd, &ho, err)) == NULL) {
		monitor_free(m);
		return NULL;
	}
	httpd_route(m->http, "/metrics", EVHTTP_REQ_GET, on_get, m);
	httpd_route(m->http, "/healthz", EVHTTP_REQ_GET, on_get, m);
	return m;
}

void
monitor_free(struct monitor *m)
{
	if (m == NULL)
		return;
	httpd_free(m->http);
	cidr_list_free(&m->clients);
	free(m);
}

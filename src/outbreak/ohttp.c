/*
 * ohttp: the outbreak module's routes on two of the daemon's HTTP
 * listeners (net/httpd): the push endpoint (HTTPS, an address allow-list)
 * and the control socket portcullis-ctl talks to (HTTP over a UNIX socket,
 * mode 0600). Requests are served on the event loop; every
 * action (verifying, SQLite, fsync) runs as a workq job and the reply is
 * sent when it is done. A client that goes away meanwhile is noticed
 * (close callback) and its reply dropped. Routes: docs/outbreak.md.
 */
#include "outbreak/ohttp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "net/httpd.h"
#include "net/tls.h"
#include "outbreak/outbreak_int.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/workq.h"
#include "util/xalloc.h"

struct ohttp {
	struct workq *wq;
	struct outbreak *ob;
	struct httpd *push, *ctl;
	SSL_CTX *tls;
	struct cidr_list clients;
	char *sock_path;
};

enum op {
	OP_SUBMIT,
	OP_STATUS,
	OP_ALERTS,
	OP_ALERT,
	OP_RELEASE,
	OP_LIFT,
	OP_HOLDS,
	OP_HOLD,
	OP_HOLD_RELEASE,
	OP_HOLD_DELETE,
};

struct hjob {
	struct ohttp *h;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	int gone;
	enum op op;
	const char *source;
	char *body;
	size_t len;
	char id[OMSG_ID_MAX + 1];
	int status;
	char *reply;
};

/* ------------------------------------------------------------- replies */

static char *
json_reply(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static char *
error_json(const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", json_string(msg));
	return json_reply(o);
}

static json_t *
hold_json(const struct q_record *r)
{
	json_t *o = json_object(), *rc = json_array();

	json_object_set_new(o, "id", json_string(r->id));
	json_object_set_new(o, "time", json_integer(r->time));
	json_object_set_new(o, "alert", r->alert ? json_string(r->alert) : json_null());
	json_object_set_new(o, "action", r->action ? json_string(r->action) : json_null());
	json_object_set_new(o, "listener", r->listener ? json_string(r->listener) : json_null());
	json_object_set_new(o, "next_hop", r->next_hop ? json_string(r->next_hop) : json_null());
	json_object_set_new(o, "client",
	                    r->client_addr ? json_string(r->client_addr) : json_null());
	json_object_set_new(o, "helo", r->helo ? json_string(r->helo) : json_null());
	json_object_set_new(o, "mail_from", r->mail_from ? json_string(r->mail_from) : json_null());
	for (size_t i = 0; i < r->nrcpts; i++)
		json_array_append_new(rc, json_string(r->rcpts[i]));
	json_object_set_new(o, "rcpts", rc);
	json_object_set_new(o, "direction", r->direction ? json_string(r->direction) : json_null());
	json_object_set_new(o, "size", json_integer((json_int_t)r->size));
	json_object_set_new(o, "released_at", json_integer(r->released_at));
	json_object_set_new(o, "released_reply",
	                    r->released_reply ? json_string(r->released_reply) : json_null());
	return o;
}

static void
admin_result(struct hjob *j, int rc, char *msg)
{
	json_t *o = json_object();
	const char *m = msg ? msg : "";

	j->status = rc == 0 ? 200 : rc == 1 ? (strncmp(m, "no ", 3) == 0 ? 404 : 409) : 500;
	json_object_set_new(o, rc == 0 ? "result" : "error", json_string(m));
	j->reply = json_reply(o);
	free(msg);
}

/* Worker side: the action. */
static void
job_run(void *arg)
{
	struct hjob *j = arg;
	struct outbreak *ob = j->h->ob;
	char *msg = NULL;
	int rc;

	switch (j->op) {
	case OP_SUBMIT: {
		struct outbreak_result res;
		json_t *o = json_object();
		json_error_t je;

		outbreak_submit(ob, j->body ? j->body : "", j->len, j->source, &res);
		json_object_set_new(o, "accepted", json_boolean(res.accepted));
		json_object_set_new(o, "reason", json_string(res.reason ? res.reason : ""));
		json_object_set_new(o, "receipt",
		                    res.receipt ? json_loads(res.receipt, 0, &je) : json_null());
		if (json_object_get(o, "receipt") == NULL)
			json_object_set_new(o, "receipt", json_null());
		j->status = res.status;
		j->reply = json_reply(o);
		outbreak_result_clear(&res);
		break;
	}
	case OP_STATUS:
		j->status = 200;
		j->reply = outbreak_status_json(ob);
		break;
	case OP_ALERTS: {
		struct seal_alert *a;
		size_t n;
		json_t *arr = json_array();

		if (seal_alerts(ob->seal, NULL, &a, &n) < 0) {
			json_decref(arr);
			j->status = 500;
			j->reply = error_json("cannot read the alerts");
			break;
		}
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, outbreak_alert_json(&a[i]));
		seal_alerts_free(a, n);
		j->status = 200;
		j->reply = json_reply(arr);
		break;
	}
	case OP_ALERT: {
		struct seal_alert a;
		rc = seal_alert_get(ob->seal, j->id, &a);

		if (rc != 0) {
			j->status = rc > 0 ? 404 : 500;
			j->reply = error_json(rc > 0 ? "no such alert" : "cannot read the alert");
			break;
		}
		j->status = 200;
		j->reply = json_reply(outbreak_alert_json(&a));
		seal_alert_clear(&a);
		break;
	}
	case OP_RELEASE:
		rc = outbreak_release(ob, j->id, &msg);
		admin_result(j, rc, msg);
		break;
	case OP_LIFT:
		rc = outbreak_lift(ob, j->id, &msg);
		admin_result(j, rc, msg);
		break;
	case OP_HOLDS: {
		struct q_record *r;
		size_t n;
		json_t *arr = json_array();

		if (quarantine_list(ob->hold, &r, &n) < 0) {
			json_decref(arr);
			j->status = 500;
			j->reply = error_json("cannot read the hold store");
			break;
		}
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, hold_json(&r[i]));
		quarantine_records_free(r, n);
		j->status = 200;
		j->reply = json_reply(arr);
		break;
	}
	case OP_HOLD: {
		struct q_record r;
		rc = quarantine_get(ob->hold, j->id, &r);

		if (rc != 0) {
			j->status = rc > 0 ? 404 : 500;
			j->reply =
			    error_json(rc > 0 ? "no such held item" : "cannot read the hold store");
			break;
		}
		j->status = 200;
		j->reply = json_reply(hold_json(&r));
		quarantine_record_clear(&r);
		break;
	}
	case OP_HOLD_RELEASE:
		rc = outbreak_hold_release(ob, j->id, &msg);
		admin_result(j, rc, msg);
		break;
	case OP_HOLD_DELETE:
		rc = outbreak_hold_delete(ob, j->id, &msg);
		admin_result(j, rc, msg);
		break;
	}
}

static void
on_conn_close(struct evhttp_connection *conn, void *arg)
{
	struct hjob *j = arg;

	j->gone = 1;
}

/* Loop side: the reply, unless the client went away. */
static void
job_done(void *arg)
{
	struct hjob *j = arg;

	if (!j->gone) {
		evhttp_connection_set_closecb(j->conn, NULL, NULL);
		httpd_send_json(j->req, j->status, j->reply ? j->reply : "{}");
	}
	free(j->body);
	free(j->reply);
	free(j);
}

static void
start_job(struct ohttp *h, struct evhttp_request *req, enum op op, const char *source,
          const char *id)
{
	struct hjob *j = xcalloc(1, sizeof(*j));

	j->h = h;
	j->req = req;
	j->conn = evhttp_request_get_connection(req);
	j->op = op;
	j->source = source;
	if (id)
		snprintf(j->id, sizeof(j->id), "%s", id);
	if (op == OP_SUBMIT) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);

		j->len = evbuffer_get_length(in);
		j->body = xmalloc(j->len + 1);
		evbuffer_remove(in, j->body, j->len);
		j->body[j->len] = '\0';
	}
	evhttp_connection_set_closecb(j->conn, on_conn_close, j);
	workq_submit(h->wq, job_run, job_done, j);
}

static int
id_ok(const char *s, size_t n)
{
	if (n == 0 || n > OMSG_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* "/PREFIX/ID" or "/PREFIX/ID/ACTION": the ID and the action ("" if none). */
static int
split_path(const char *path, const char *prefix, char id[OMSG_ID_MAX + 1], const char **action)
{
	size_t pl = strlen(prefix), n;
	const char *p;

	if (strncmp(path, prefix, pl) != 0 || path[pl] != '/')
		return -1;
	p = path + pl + 1;
	n = strcspn(p, "/");
	if (!id_ok(p, n))
		return -1;
	memcpy(id, p, n);
	id[n] = '\0';
	*action = p[n] == '/' ? p + n + 1 : "";
	return 0;
}

static void
on_submit(struct evhttp_request *req, const char *path, void *arg)
{
	start_job(arg, req, OP_SUBMIT, "local", NULL);
}

static void
on_push(struct evhttp_request *req, const char *path, void *arg)
{
	start_job(arg, req, OP_SUBMIT, "push", NULL);
}

static void
on_list(struct evhttp_request *req, const char *path, void *arg)
{
	start_job(arg, req,
	          strcmp(path, "/status") == 0   ? OP_STATUS
	          : strcmp(path, "/alerts") == 0 ? OP_ALERTS
	                                         : OP_HOLDS,
	          NULL, NULL);
}

/* /alerts/ID[/release|/lift] and /hold/ID[/release|/delete]. */
static void
on_item(struct evhttp_request *req, const char *path, void *arg)
{
	int alerts = strncmp(path, "/alerts/", 8) == 0, post;
	const char *action;
	char id[OMSG_ID_MAX + 1];

	post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	if (split_path(path, alerts ? "/alerts" : "/hold", id, &action) < 0 ||
	    (post ? !*action : *action) ||
	    (*action && strcmp(action, "release") != 0 &&
	     strcmp(action, alerts ? "lift" : "delete") != 0)) {
		httpd_send_error(req, 404, "no such request");
		return;
	}
	if (alerts)
		start_job(arg, req,
		          !*action                         ? OP_ALERT
		          : strcmp(action, "release") == 0 ? OP_RELEASE
		                                           : OP_LIFT,
		          NULL, id);
	else
		start_job(arg, req,
		          !*action                         ? OP_HOLD
		          : strcmp(action, "release") == 0 ? OP_HOLD_RELEASE
		                                           : OP_HOLD_DELETE,
		          NULL, id);
}

struct ohttp *
ohttp_new(struct event_base *base, struct workq *wq, struct outbreak *ob, const struct pc_config *c,
          int push_fd, char **err)
{
	struct ohttp *h = xcalloc(1, sizeof(*h));
	struct httpd_opts ho = {0};
	struct sockaddr_un sun;
	char bad[80];
	int fd = -1;

	*err = NULL;
	h->wq = wq;
	h->ob = ob;
	if (push_fd >= 0) {
		if (!c->outbreak_push_tls_cert[0] || !c->outbreak_push_tls_key[0]) {
			*err = xstrdup("outbreak.push_listen needs push_tls_cert and push_tls_key");
			goto fail;
		}
		if ((h->tls = tls_server_ctx(c->outbreak_push_tls_cert, c->outbreak_push_tls_key,
		                             err)) == NULL)
			goto fail;
		if (cidr_list_parse(c->outbreak_push_clients, &h->clients, bad, sizeof(bad)) < 0) {
			*err = xasprintf("outbreak.push_clients: bad network %s", bad);
			goto fail;
		}
		ho.name = "outbreak push";
		ho.tls = h->tls;
		ho.clients = &h->clients;
		ho.clients_key = "outbreak.push_clients";
		ho.max_body = c->outbreak_max_document;
		h->push = httpd_new(base, push_fd, &ho, err);
		push_fd = -1;
		if (h->push == NULL)
			goto fail;
		httpd_route(h->push, "/outbreak", EVHTTP_REQ_POST, on_push, h);
	}
	/* The control socket, in the state directory (ours after the drop). */
	h->sock_path = xasprintf("%s/control.sock", c->outbreak_state_dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(h->sock_path) >= sizeof(sun.sun_path)) {
		*err = xasprintf("%s: path too long for a socket", h->sock_path);
		goto fail;
	}
	memcpy(sun.sun_path, h->sock_path, strlen(h->sock_path) + 1);
	unlink(h->sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(h->sock_path, 0600) < 0 || listen(fd, 16) < 0) {
		*err = xasprintf("%s: %s", h->sock_path, strerror(errno));
		goto fail;
	}
	memset(&ho, 0, sizeof(ho));
	ho.name = "outbreak control socket";
	ho.max_body = c->outbreak_max_document;
	h->ctl = httpd_new(base, fd, &ho, err);
	fd = -1;
	if (h->ctl == NULL)
		goto fail;
	httpd_route(h->ctl, "/submit", EVHTTP_REQ_POST, on_submit, h);
	httpd_route(h->ctl, "/status", EVHTTP_REQ_GET, on_list, h);
	httpd_route(h->ctl, "/alerts", EVHTTP_REQ_GET, on_list, h);
	httpd_route(h->ctl, "/hold", EVHTTP_REQ_GET, on_list, h);
	httpd_route(h->ctl, "/alerts/", EVHTTP_REQ_GET | EVHTTP_REQ_POST, on_item, h);
	httpd_route(h->ctl, "/hold/", EVHTTP_REQ_GET | EVHTTP_REQ_POST, on_item, h);
	return h;
fail:
	if (fd >= 0)
		close(fd);
	if (push_fd >= 0)
		close(push_fd);
	ohttp_free(h);
	return NULL;
}

void
ohttp_free(struct ohttp *h)
{
	if (h == NULL)
		return;
	httpd_free(h->push);
	httpd_free(h->ctl);
	if (h->sock_path) {
		unlink(h->sock_path);
		free(h->sock_path);
	}
	if (h->tls)
		SSL_CTX_free(h->tls);
	cidr_list_free(&h->clients);
	free(h);
}

/*
 * ohttp: the outbreak module's two HTTP servers, both libevent's evhttp:
 * the push endpoint (HTTPS through bufferevent_openssl, an address
 * allow-list) and the control socket portcullis-ctl talks to (HTTP over a
 * UNIX socket, mode 0600). Requests are served on the event loop; every
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
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "net/tls.h"
#include "outbreak/outbreak_int.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/workq.h"
#include "util/xalloc.h"

struct ohttp {
	struct event_base *base;
	struct workq *wq;
	struct outbreak *ob;
	struct evhttp *push, *ctl;
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
send_json(struct evhttp_request *req, int status, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evbuffer_add(b, body, strlen(body));
	evbuffer_add(b, "\n", 1);
	evhttp_send_reply(req, status,
	                  status == 200   ? "OK"
	                  : status == 400 ? "Bad Request"
	                  : status == 403 ? "Forbidden"
	                  : status == 404 ? "Not Found"
	                  : status == 409 ? "Conflict"
	                  : status == 413 ? "Payload Too Large"
	                                  : "Error",
	                  b);
	evbuffer_free(b);
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
		send_json(j->req, j->status, j->reply ? j->reply : "{}");
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
on_ctl(struct evhttp_request *req, void *arg)
{
	struct ohttp *h = arg;
	const char *uri = evhttp_request_get_uri(req), *action;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evhttp_uri *u = evhttp_uri_parse(uri);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	char id[OMSG_ID_MAX + 1];
	char *e;

	if (path == NULL)
		path = "";
	if (m == EVHTTP_REQ_POST && strcmp(path, "/submit") == 0)
		start_job(h, req, OP_SUBMIT, "local", NULL);
	else if (m == EVHTTP_REQ_GET && strcmp(path, "/status") == 0)
		start_job(h, req, OP_STATUS, NULL, NULL);
	else if (m == EVHTTP_REQ_GET && strcmp(path, "/alerts") == 0)
		start_job(h, req, OP_ALERTS, NULL, NULL);
	else if (m == EVHTTP_REQ_GET && strcmp(path, "/hold") == 0)
		start_job(h, req, OP_HOLDS, NULL, NULL);
	else if (split_path(path, "/alerts", id, &action) == 0 &&
	         ((m == EVHTTP_REQ_GET && !*action) ||
	          (m == EVHTTP_REQ_POST &&
	           (strcmp(action, "release") == 0 || strcmp(action, "lift") == 0))))
		start_job(h, req,
		          !*action                         ? OP_ALERT
		          : strcmp(action, "release") == 0 ? OP_RELEASE
		                                           : OP_LIFT,
		          NULL, id);
	else if (split_path(path, "/hold", id, &action) == 0 &&
	         ((m == EVHTTP_REQ_GET && !*action) ||
	          (m == EVHTTP_REQ_POST &&
	           (strcmp(action, "release") == 0 || strcmp(action, "delete") == 0))))
		start_job(h, req,
		          !*action                         ? OP_HOLD
		          : strcmp(action, "release") == 0 ? OP_HOLD_RELEASE
		                                           : OP_HOLD_DELETE,
		          NULL, id);
	else {
		e = error_json("no such request");
		send_json(req, 404, e);
		free(e);
	}
	if (u)
		evhttp_uri_free(u);
}

static void
on_push(struct evhttp_request *req, void *arg)
{
	struct ohttp *h = arg;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *sa = conn ? evhttp_connection_get_addr(conn) : NULL;
	struct evhttp_uri *u = evhttp_uri_parse(evhttp_request_get_uri(req));
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	char *e = NULL;

	if (sa == NULL || !cidr_list_match(&h->clients, sa)) {
		char *peer = NULL;
		ev_uint16_t port = 0;

		if (conn)
			evhttp_connection_get_peer(conn, &peer, &port);
		log_warnx("outbreak: push from %s refused: not in outbreak.push_clients",
		          peer ? peer : "?");
		e = error_json("not allowed");
		send_json(req, 403, e);
	} else if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || path == NULL ||
	           strcmp(path, "/outbreak") != 0) {
		e = error_json("POST /outbreak only");
		send_json(req, 404, e);
	} else
		start_job(h, req, OP_SUBMIT, "push", NULL);
	free(e);
	if (u)
		evhttp_uri_free(u);
}

static struct bufferevent *
push_bevcb(struct event_base *base, void *arg)
{
	struct ohttp *h = arg;
	SSL *ssl = SSL_new(h->tls);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

static struct evhttp *
http_new(struct ohttp *h, void (*cb)(struct evhttp_request *, void *), uint64_t max_body)
{
	struct evhttp *http = evhttp_new(h->base);

	if (http == NULL)
		return NULL;
	evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(http, 16 * 1024);
	evhttp_set_timeout(http, 60);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(http, cb, h);
	return http;
}

struct ohttp *
ohttp_new(struct event_base *base, struct workq *wq, struct outbreak *ob, const struct pc_config *c,
          int push_fd, char **err)
{
	struct ohttp *h = xcalloc(1, sizeof(*h));
	struct sockaddr_un sun;
	char bad[80];
	int fd = -1;

	*err = NULL;
	h->base = base;
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
		h->push = http_new(h, on_push, c->outbreak_max_document);
		if (h->push == NULL) {
			*err = xstrdup("evhttp_new failed");
			goto fail;
		}
		evhttp_set_bevcb(h->push, push_bevcb, h);
		if (evhttp_accept_socket_with_handle(h->push, push_fd) == NULL) {
			*err = xstrdup("outbreak push endpoint: cannot accept");
			goto fail;
		}
		push_fd = -1;
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
	h->ctl = http_new(h, on_ctl, c->outbreak_max_document);
	if (h->ctl == NULL || evhttp_accept_socket_with_handle(h->ctl, fd) == NULL) {
		*err = xasprintf("%s: cannot accept", h->sock_path);
		goto fail;
	}
	return h;
fail:
	if (fd >= 0 && h->ctl == NULL)
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
	if (h->push)
		evhttp_free(h->push);
	if (h->ctl)
		evhttp_free(h->ctl);
	if (h->sock_path) {
		unlink(h->sock_path);
		free(h->sock_path);
	}
	if (h->tls)
		SSL_CTX_free(h->tls);
	cidr_list_free(&h->clients);
	free(h);
}

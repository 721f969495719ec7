/*
 * httpd: evhttp with an allow-list and a route table (see httpd.h).
 */
#include "net/httpd.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "util/log.h"
#include "util/xalloc.h"

#define HTTPD_MAX_HEADERS (16 * 1024)
#define HTTPD_TIMEOUT_S 60

struct route {
	char *path;
	int prefix;
	int methods;
	httpd_fn fn;
	void *arg;
};

struct httpd {
	struct evhttp *http;
	struct httpd_opts o;
	char *name, *clients_key;
	struct route *routes;
	size_t nroutes;
};

const char *
httpd_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

void
httpd_send(struct evhttp_request *req, int status, const char *type, const void *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL)
		fatalx("out of memory (http reply)");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, status, httpd_reason(status), b);
	evbuffer_free(b);
}

void
httpd_send_json(struct evhttp_request *req, int status, const char *json)
{
	size_t n = strlen(json);
	char *s = xmalloc(n + 2);

	memcpy(s, json, n);
	s[n] = '\n';
	httpd_send(req, status, "application/json", s, n + 1);
	free(s);
}

void
httpd_send_error(struct evhttp_request *req, int status, const char *msg)
{
	json_t *o = json_pack("{ss}", "error", msg);
	char *s = json_dumps(o, JSON_COMPACT);

	httpd_send_json(req, status, s ? s : "{}");
	free(s);
	json_decref(o);
}

void
httpd_peer(struct evhttp_request *req, int with_port, char *buf, size_t cap)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (c != NULL)
		evhttp_connection_get_peer(c, &addr, &port);
	if (with_port)
		snprintf(buf, cap, "%s:%u", addr ? addr : "?", (unsigned)port);
	else
		snprintf(buf, cap, "%s", addr ? addr : "?");
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *sa = conn ? evhttp_connection_get_addr(conn) : NULL;
	struct evhttp_uri *u = evhttp_uri_parse(evhttp_request_get_uri(req));
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	int m = (int)evhttp_request_get_command(req), path_known = 0;
	char peer[80];

	if (h->o.clients != NULL && (sa == NULL || !cidr_list_match(h->o.clients, sa))) {
		httpd_peer(req, 0, peer, sizeof(peer));
		log_warnx("%s: request from %s refused: not in %s", h->name, peer, h->clients_key);
		httpd_send_error(req, 403, "not allowed");
		goto out;
	}
	if (path == NULL || path[0] == '\0')
		path = "/";
	for (size_t i = 0; i < h->nroutes; i++) {
		const struct route *r = &h->routes[i];

		if (r->prefix ? strncmp(path, r->path, strlen(r->path)) != 0
		              : strcmp(path, r->path))
			continue;
		path_known = 1;
		if (!(r->methods & m))
			continue;
		r->fn(req, path, r->arg);
		goto out;
	}
	if (path_known)
		httpd_send_error(req, 405, "method not allowed");
	else
		httpd_send_error(req, 404, "no such request");
out:
	if (u)
		evhttp_uri_free(u);
}

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	SSL *ssl = SSL_new(h->o.tls);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

struct httpd *
httpd_new(struct event_base *base, int fd, const struct httpd_opts *o, char **err)
{
	struct httpd *h = xcalloc(1, sizeof(*h));

	h->o = *o;
	h->name = xstrdup(o->name ? o->name : "http");
	h->clients_key = xstrdup(o->clients_key ? o->clients_key : "the allow-list");
	h->http = evhttp_new(base);
	if (h->http == NULL) {
		*err = xasprintf("%s: evhttp_new failed", h->name);
		close(fd);
		httpd_free(h);
		return NULL;
	}
	evhttp_set_max_body_size(h->http, (ev_ssize_t)o->max_body);
	evhttp_set_max_headers_size(h->http, HTTPD_MAX_HEADERS);
	evhttp_set_timeout(h->http, HTTPD_TIMEOUT_S);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(h->http, on_request, h);
	if (o->tls != NULL)
		evhttp_set_bevcb(h->http, tls_bevcb, h);
	if (evhttp_accept_socket_with_handle(h->http, fd) == NULL) {
		*err = xasprintf("%s: cannot accept", h->name);
		close(fd);
		httpd_free(h);
		return NULL;
	}
	return h;
}

void
httpd_route(struct httpd *h, const char *path, int methods, httpd_fn fn, void *arg)
{
	struct route *r;
	size_t n = strlen(path);

	h->routes = xrealloc(h->routes, (h->nroutes + 1) * sizeof(*h->routes));
	r = &h->routes[h->nroutes++];
	r->path = xstrdup(path);
	r->prefix = n > 1 && path[n - 1] == '/';
	r->methods = methods;
	r->fn = fn;
	r->arg = arg;
}

void
httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	if (h->http)
		evhttp_free(h->http);
	for (size_t i = 0; i < h->nroutes; i++)
		free(h->routes[i].path);
	free(h->routes);
	free(h->name);
	free(h->clients_key);
	free(h);
}

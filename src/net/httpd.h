/*
 * httpd: the daemon's HTTP server (libevent's evhttp), one for every HTTP
 * listener it has: the outbreak push endpoint (HTTPS), the control socket
 * (a UNIX socket) and the metrics listener. Each listener is an httpd with
 * its own routes; what they share is here: limits and timeouts, TLS, the
 * address allow-list (refused with 403 and a log line), the route table
 * (404 and 405 answered here), and the replies. Event-loop thread only.
 */
#ifndef PC_HTTPD_H
#define PC_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "util/cidr.h"

struct httpd;

/* A route's handler: path is the request's path (no query). */
typedef void (*httpd_fn)(struct evhttp_request *req, const char *path, void *arg);

struct httpd_opts {
	const char *name;                /* in log lines: "metrics", "outbreak push" */
	SSL_CTX *tls;                    /* borrowed; NULL = plain HTTP */
	const struct cidr_list *clients; /* borrowed; NULL = anyone (a UNIX socket) */
	const char *clients_key;         /* the config key named when one is refused */
	uint64_t max_body;               /* request bodies; larger get 413 */
};

/*
 * Serves HTTP on the listening socket fd (taken over, closed on failure
 * too). NULL with *err.
 */
struct httpd *httpd_new(struct event_base *base, int fd, const struct httpd_opts *o, char **err);
/*
 * Adds a route for the methods (EVHTTP_REQ_GET | ...): path is exact, or a
 * prefix when it ends in '/' ("/alerts/" serves "/alerts/ID/release").
 * Routes are tried in the order added.
 */
void httpd_route(struct httpd *h, const char *path, int methods, httpd_fn fn, void *arg);
/* Stops serving (requests in flight get no answer); accepts NULL. */
void httpd_free(struct httpd *h);

/* Sends status with body (len bytes) as type. */
void httpd_send(struct evhttp_request *req, int status, const char *type, const void *body,
                size_t len);
/* Sends a JSON body (a NUL-terminated string; a newline is added). */
void httpd_send_json(struct evhttp_request *req, int status, const char *json);
/* Sends {"error": msg}. */
void httpd_send_error(struct evhttp_request *req, int status, const char *msg);
/* The reason phrase of an HTTP status ("Not Found"; "Error" if unknown). */
const char *httpd_reason(int status);
/* The request's peer as "ADDR" or, with_port, "ADDR:PORT" (for log lines). */
void httpd_peer(struct evhttp_request *req, int with_port, char *buf, size_t cap);

#endif

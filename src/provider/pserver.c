/*
 * pserver: portcullis-provider serve (pserver.h). One thread: every request
 * is answered on the event loop, SQLite included. That is fine for now (a
 * provider's request rate is small and each statement short); a workq as in
 * the gateway's ohttp.c comes when the server takes more work. The state is
 * opened with pstore_open() directly, without the publisher's lock, so the
 * CLI (alert, update, ...) keeps working while the server runs; SQLite's
 * busy timeout orders the writers. The routes under /console/ are
 * console.c's (its publications take the publisher's lock, as the CLI's).
 */
#include "net/httpd.h"
#include "provider/pserver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <systemd/sd-daemon.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "config.h"
#include "net/listener.h"
#include "net/tls.h"
#include "outbreak/omsg.h"
#include "provider/build.h"
#include "provider/console.h"
#include "provider/pstore.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/sys.h"
#include "util/xalloc.h"

/* The largest feed file served. */
#define MAX_FEED_FILE OMSG_MAX_ENVELOPE
#define MAX_URL 1024
#define MAX_SCOPE 256

struct pserver {
	const struct pserver_opts *o;
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *tls;
	struct pstore *ps;
	struct console *console;
	struct console_opts co;
	char pub_hex[65];
};

/* Sends a JSON body (o consumed) and logs the outcome. */
static void
reply_json(struct evhttp_request *req, int status, json_t *o, const char *what)
{
	struct evbuffer *b = evbuffer_new();
	char *s = json_dumps(o, JSON_COMPACT);
	char peer[80];

	json_decref(o);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	if (s != NULL) {
		evbuffer_add(b, s, strlen(s));
		evbuffer_add(b, "\n", 1);
	}
	free(s);
	evhttp_send_reply(req, status, httpd_reason(status), b);
	evbuffer_free(b);
	httpd_peer(req, 1, peer, sizeof(peer));
	if (status < 400)
		log_info("%s %s: %d %s", peer, evhttp_request_get_uri(req), status, what);
	else
		log_warnx("%s %s: %d %s", peer, evhttp_request_get_uri(req), status, what);
}

static void
reply_error(struct evhttp_request *req, int status, const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, "error", json_string(msg));
	reply_json(req, status, o, msg);
}

/* ----------------------------------------------------------------- feed */

/* [A-Za-z0-9._-]{1,128}, no leading '.'. */
static int
feed_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Reads FEED_DIR/name into *data; 0, or -1 (missing or unreadable). */
static int
read_feed_file(const char *dir, const char *name, char **data, size_t *len)
{
	char *path = xasprintf("%s/%s", dir, name), *err = NULL;
	int r = read_file_small(path, MAX_FEED_FILE, 1, data, len, &err);

	free(path);
	free(err);
	return r == 0 ? 0 : -1;
}

static void
on_feed(struct pserver *s, struct evhttp_request *req, const char *name)
{
	char *data = NULL, etag[64 + 3], hex[65], peer[80];
	unsigned char md[32];
	unsigned int mdlen = 0;
	const char *inm;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *b;
	size_t len;

	if (!feed_name_ok(name) || read_feed_file(s->o->feed_dir, name, &data, &len) < 0) {
		reply_error(req, 404, "no such feed file");
		return;
	}
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		free(data);
		reply_error(req, 500, "SHA-256 failed");
		return;
	}
	hex_encode(md, 32, hex);
	hex[64] = '\0';
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	evhttp_add_header(out, "ETag", etag);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
	httpd_peer(req, 1, peer, sizeof(peer));
	if (inm != NULL && (strstr(inm, etag) != NULL || strcmp(inm, "*") == 0)) {
		free(data);
		evhttp_send_reply(req, 304, httpd_reason(304), NULL);
		log_info("%s GET /feed/%s: 304 not modified", peer, name);
		return;
	}
	evhttp_add_header(out, "Content-Type", "application/json");
	b = evbuffer_new();
	evbuffer_add(b, data, len);
	free(data);
	evhttp_send_reply(req, 200, httpd_reason(200), b);
	evbuffer_free(b);
	log_info("%s GET /feed/%s: 200 %zu bytes", peer, name, len);
}

/* ---------------------------------------------------------------- bodies */

/* The request body as a NUL-terminated string (allocated); *len its size. */
static char *
body_of(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s = xmalloc(n + 1);

	evbuffer_remove(in, s, n);
	s[n] = '\0';
	*len = n;
	return s;
}

/* Optional string member: 0 (absent or null: *out NULL), 1 (a string within max), -1 (bad). */
static int
opt_string(json_t *o, const char *key, size_t max, const char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	*out = json_string_value(v);
	return 1;
}

static int
hex64_ok(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* ---------------------------------------------------------------- enrol */

static void
on_enrol(struct pserver *s, struct evhttp_request *req)
{
	const char *token, *gw, *key, *push_url, *scope;
	struct okeyring kr = {0};
	json_error_t je;
	json_t *o, *r;
	char *body, *err = NULL, msg[160];
	size_t len;
	int rc;

	body = body_of(req, &len);
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	free(body);
	if (!json_is_object(o) || opt_string(o, "token", 256, &token) != 1 ||
	    opt_string(o, "gateway", OMSG_ID_MAX, &gw) != 1 || !build_name_ok(gw) ||
	    opt_string(o, "public_key", 64, &key) != 1 || !hex64_ok(key) ||
	    opt_string(o, "push_url", MAX_URL, &push_url) < 0 ||
	    opt_string(o, "scope", MAX_SCOPE, &scope) < 0) {
		json_decref(o);
		reply_error(req, 400,
		            "enrolment: needs token, gateway (1..64 of [A-Za-z0-9._-]) and"
		            " public_key (64 hex); push_url and scope are optional strings");
		return;
	}
	if (okeyring_add(&kr, key, &err) < 0) {
		json_decref(o);
		free(err);
		reply_error(req, 400, "enrolment: public_key is not an Ed25519 key");
		return;
	}
	okeyring_free(&kr);
	rc = pstore_enrol_token_use(s->ps, token, time(NULL), &err);
	if (rc != 0) {
		json_decref(o);
		if (rc < 0) {
			log_warnx("enrolment: %s", err);
			free(err);
			reply_error(req, 500, "cannot check the token");
		} else {
			reply_error(req, 403, "enrolment: unknown, used or expired token");
		}
		return;
	}
	if (pstore_gateway_add(s->ps, gw, key, push_url, scope, time(NULL), &err) < 0) {
		log_warnx("enrolment of %s: %s", gw, err);
		free(err);
		json_decref(o);
		reply_error(req, 500, "cannot record the gateway");
		return;
	}
	r = json_object();
	json_object_set_new(r, "gateway", json_string(gw));
	json_object_set_new(r, "provider_public_key", json_string(s->pub_hex));
	snprintf(msg, sizeof(msg), "enrolled gateway %s", gw);
	json_decref(o);
	reply_json(req, 200, r, msg);
}

/* -------------------------------------------------------------- receipts */

/*
 * The "gateway" member of an envelope's payload, unverified (only to pick
 * the key that must verify it); NULL if there is none.
 */
static char *
claimed_gateway(const char *env, size_t len)
{
	json_error_t je;
	json_t *e = json_loadb(env, len, 0, &je), *p = NULL, *g;
	const char *b64;
	unsigned char *raw = NULL;
	char *out = NULL;
	size_t n, pad = 0;
	int dl;

	if (!json_is_object(e) || !json_is_string(json_object_get(e, "payload")))
		goto out;
	b64 = json_string_value(json_object_get(e, "payload"));
	n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n > PSERVER_MAX_BODY)
		goto out;
	raw = xmalloc(n / 4 * 3 + 1);
	dl = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (dl < 0)
		goto out;
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	if ((size_t)dl < pad)
		goto out;
	p = json_loadb((const char *)raw, (size_t)dl - pad, 0, &je);
	g = json_is_object(p) ? json_object_get(p, "gateway") : NULL;
	if (json_is_string(g) && build_name_ok(json_string_value(g)))
		out = xstrdup(json_string_value(g));
out:
	free(raw);
	json_decref(p);
	json_decref(e);
	return out;
}

static void
on_receipt(struct pserver *s, struct evhttp_request *req)
{
	struct pstore_gateway g = {0};
	struct okeyring kr = {0};
	struct omsg m = {0};
	char *body, *gw = NULL, *err = NULL, msg[300];
	json_t *r;
	size_t len;
	int rc;

	body = body_of(req, &len);
	if ((gw = claimed_gateway(body, len)) == NULL) {
		reply_error(req, 400, "receipt: not an envelope with a gateway");
		goto out;
	}
	rc = pstore_gateway(s->ps, gw, &g, &err);
	if (rc < 0) {
		log_warnx("receipt: %s", err);
		reply_error(req, 500, "cannot read the registry");
		goto out;
	}
	if (rc == 0) {
		snprintf(msg, sizeof(msg), "receipt: gateway %s is not enrolled", gw);
		reply_error(req, 403, msg);
		goto out;
	}
	if (okeyring_add(&kr, g.public_key, &err) < 0) {
		log_warnx("receipt: gateway %s: %s", gw, err);
		reply_error(req, 500, "bad registered key");
		goto out;
	}
	if (omsg_open(&kr, body, len, time(NULL), &m, &err) < 0) {
		snprintf(msg, sizeof(msg), "receipt from %s refused: %s", gw,
		         err ? err : "invalid");
		reply_error(req, 403, msg);
		goto out;
	}
	if (m.type != OMSG_RECEIPT || strcmp(m.gateway, gw) != 0) {
		snprintf(msg, sizeof(msg), "receipt from %s refused: not a receipt of that gateway",
		         gw);
		reply_error(req, 403, msg);
		goto out;
	}
	if (strcmp(m.provider, s->o->provider) != 0) {
		snprintf(msg, sizeof(msg), "receipt from %s refused: it answers provider %s", gw,
		         m.provider);
		reply_error(req, 403, msg);
		goto out;
	}
	rc = pstore_add_receipt(s->ps, gw, m.message, m.message_seq, m.state, m.time, body,
	                        time(NULL), &err);
	if (rc < 0) {
		log_warnx("receipt: %s", err);
		reply_error(req, 500, "cannot record the receipt");
		goto out;
	}
	if (rc != PSTORE_RECEIPT_NEW) {
		snprintf(msg, sizeof(msg), "receipt from %s refused: %s", gw,
		         rc == PSTORE_RECEIPT_UNPUBLISHED
		             ? "its message is not a document published here (ID and seq)"
		             : "the gateway is not enrolled");
		reply_error(req, 403, msg);
		goto out;
	}
	r = json_object();
	json_object_set_new(r, "recorded", json_true());
	snprintf(msg, sizeof(msg), "receipt from %s: %s seq %llu %s", gw, m.message,
	         (unsigned long long)m.message_seq, m.state);
	reply_json(req, 200, r, msg);
out:
	omsg_clear(&m);
	okeyring_free(&kr);
	pstore_gateway_clear(&g);
	free(err);
	free(gw);
	free(body);
}

/* ---------------------------------------------------------------- routes */

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct pserver *s = arg;
	struct evhttp_uri *u = evhttp_uri_parse(evhttp_request_get_uri(req));
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);

	if (path == NULL) {
		reply_error(req, 400, "bad request URI");
	} else if (strncmp(path, "/feed/", 6) == 0) {
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD)
			reply_error(req, 405, "GET only");
		else
			on_feed(s, req, path + 6);
	} else if (strcmp(path, "/enrol") == 0 || strcmp(path, "/receipts") == 0) {
		/* evhttp's own limit is the console's upload limit: this one is theirs */
		if (m != EVHTTP_REQ_POST)
			reply_error(req, 405, "POST only");
		else if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) >
		         PSERVER_MAX_BODY)
			reply_error(req, 413, "request body too large");
		else if (strcmp(path, "/enrol") == 0)
			on_enrol(s, req);
		else
			on_receipt(s, req);
	} else if (strcmp(path, "/console") == 0 || strncmp(path, "/console/", 9) == 0) {
		console_handle(s->console, req, path);
	} else {
		reply_error(req, 404, "no such resource");
	}
	if (u != NULL)
		evhttp_uri_free(u);
}

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
	struct pserver *s = arg;
	SSL *ssl = SSL_new(s->tls);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct pserver *s = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(s->base);
}

int
pserver_run(const struct pserver_opts *o, char **err)
{
	struct pserver s = {0};
	struct event *sigterm = NULL, *sigint = NULL;
	EVP_PKEY *key;
	int fd = -1, rc = -1;

	s.o = o;
	if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
		*err = xstrdup("--tls-cert and --tls-key go together");
		return -1;
	}
	if ((key = okey_load_private(o->key_path, err)) == NULL)
		return -1;
	rc = okey_public_hex(key, s.pub_hex);
	EVP_PKEY_free(key);
	if (rc < 0) {
		*err = xstrdup("cannot read the provider's public key");
		return -1;
	}
	rc = -1;
	if (mkdir(o->state_dir, 0700) < 0 && errno != EEXIST) {
		*err = xasprintf("%s: %s", o->state_dir, strerror(errno));
		return -1;
	}
	if ((s.ps = pstore_open(o->state_dir, err)) == NULL)
		return -1;
	if (o->tls_cert != NULL && (s.tls = tls_server_ctx(o->tls_cert, o->tls_key, err)) == NULL)
		goto out;
	s.co.state_dir = o->state_dir;
	s.co.feed_dir = o->feed_dir;
	s.co.key_path = o->key_path;
	s.co.provider = o->provider;
	s.co.templates = o->templates ? o->templates : PORTCULLIS_TEMPLATEDIR "/provider";
	s.co.max_upload = o->max_upload ? o->max_upload : CONSOLE_MAX_UPLOAD;
	s.co.tls = s.tls != NULL;
	s.co.push = o->push;
	signal(SIGPIPE, SIG_IGN);
	if ((s.base = event_base_new()) == NULL || (s.http = evhttp_new(s.base)) == NULL) {
		*err = xstrdup("libevent: cannot create the server");
		goto out;
	}
	if ((s.console = console_new(&s.co, s.ps, s.base, err)) == NULL)
		goto out;
	/* the largest body of any route (an update's upload); each route checks its own */
	evhttp_set_max_body_size(
	    s.http, (ev_ssize_t)(s.co.max_upload + CONSOLE_UPLOAD_SLACK > PSERVER_MAX_BODY
	                             ? s.co.max_upload + CONSOLE_UPLOAD_SLACK
	                             : PSERVER_MAX_BODY));
	evhttp_set_max_headers_size(s.http, 16 * 1024);
	evhttp_set_timeout(s.http, 60);
	evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(s.http, on_request, &s);
	if (s.tls != NULL)
		evhttp_set_bevcb(s.http, tls_bevcb, &s);
	if ((fd = net_bind("--listen", o->listen, err)) < 0)
		goto out;
	if (evhttp_accept_socket_with_handle(s.http, fd) == NULL) {
		*err = xasprintf("listen %s: cannot accept", o->listen);
		close(fd);
		goto out;
	}
	sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
	sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0) {
		*err = xstrdup("libevent: cannot catch signals");
		goto out;
	}
	log_info("serving %s on %s (feed %s, console templates %s)", s.tls ? "HTTPS" : "HTTP",
	         o->listen, o->feed_dir, s.co.templates);
	sd_notify(0, "READY=1"); /* systemd Type=notify */
	if (event_base_dispatch(s.base) < 0) {
		*err = xstrdup("event loop failed");
		goto out;
	}
	log_info("stopped");
	rc = 0;
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (s.http)
		evhttp_free(s.http); /* closes connections: a pending login check learns it */
	console_free(s.console);     /* before the loop: its workq delivers to it */
	if (s.base)
		event_base_free(s.base);
	if (s.tls)
		SSL_CTX_free(s.tls);
	pstore_close(s.ps);
	return rc;
}

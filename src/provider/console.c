/*
 * console: the operator's web console (console.h). Everything runs on the
 * server's event loop but a login's scrypt check (about 100 ms), which runs
 * on a workq thread of its own (at most CON_MAX_CHECKS in flight; the rate
 * limit counts the outcome when it is back on the loop). The sessions and
 * the table of login failures are arrays in struct console, bounded; the
 * publications (SQLite, fsync) still run on the loop. Forms are parsed by
 * libevent (application/x-www-form-urlencoded) or GMime (multipart/form-data,
 * the update's files); publications go through publish.h as the CLI's do.
 */
#include "provider/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <gmime/gmime.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "net/httpd.h"
#include "provider/build.h"
#include "provider/cpass.h"
#include "provider/fanout.h"
#include "provider/pserver.h"
#include "provider/publish.h"
#include "provider/tmpl.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/strutil.h"
#include "util/sys.h"
#include "util/workq.h"
#include "util/xalloc.h"

#define CON_MAX_SESSIONS 64
#define CON_IDLE (30 * 60)       /* a session unused this long ends */
#define CON_LIFETIME (12 * 3600) /* and any session this old */
#define CON_MAX_FAILS 5          /* wrong passwords from one address ... */
#define CON_FAIL_WINDOW (5 * 60) /* ... within this many seconds ... */
#define CON_LOCKOUT (5 * 60)     /* ... lock it out (429) this long */
#define CON_MAX_PEERS 256        /* addresses remembered for the rate limit */
#define CON_MAX_FIELDS 64        /* form fields (parts) per request */
#define CON_MAX_ITEMS 256        /* viruses, hashes per form */
#define CON_MAX_SHOWN 200        /* receipts and documents on the page */
#define CON_MAX_CHECKS 2         /* password checks in flight at once */
#define TOKEN_HEX 64

#define CSP                                                                                        \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

struct session {
	int live;
	char id[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1];
	time_t created, used;
	char *flash; /* shown once on the next dashboard */
};

struct failures {
	char addr[64];
	unsigned n;
	time_t first, until;
};

/* A password check in flight on the workq. */
struct check {
	struct console *c;
	struct evhttp_request *req;
	struct evhttp_connection *conn;
	int gone; /* the client went away: no reply */
	int ok;   /* cpass_verify's result */
	char *line, *pw, *err;
	char addr[64];
};

struct console {
	const struct console_opts *o;
	struct pstore *ps;
	struct workq *wq; /* one thread: the scrypt checks */
	struct check *checks[CON_MAX_CHECKS];
	unsigned char secret[32]; /* keys the login form's CSRF token */
	struct session s[CON_MAX_SESSIONS];
	struct failures f[CON_MAX_PEERS];
};

/* One form field (or multipart part): value NUL-terminated, len its size. */
struct field {
	char *name, *filename, *value;
	size_t len;
};

struct form {
	struct field *v;
	size_t n, cap;
};

/* ------------------------------------------------------------- helpers */

static void
random_hex(char out[TOKEN_HEX + 1])
{
	unsigned char raw[TOKEN_HEX / 2];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		fatalx("console: no random bytes");
	hex_encode(raw, sizeof(raw), out);
	out[TOKEN_HEX] = '\0';
}

static int
token_ok(const char *s)
{
	if (s == NULL || strlen(s) != TOKEN_HEX)
		return 0;
	for (size_t i = 0; i < TOKEN_HEX; i++)
		if (hexval((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

/* Constant-time comparison of two tokens (a may be NULL). */
static int
token_eq(const char *a, const char *b)
{
	return a != NULL && strlen(a) == TOKEN_HEX && strlen(b) == TOKEN_HEX &&
	       CRYPTO_memcmp(a, b, TOKEN_HEX) == 0;
}

static const char *
iso_utc(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(buf, cap, "-");
		return buf;
	}
	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
	return buf;
}

/* ----------------------------------------------------------- responses */

static void
add_security_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Security-Policy", CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cache-Control", "no-store");
}

/* Sends body (may be NULL) and logs the outcome; every console reply passes here. */
static void
send_reply(struct evhttp_request *req, int status, const char *ctype, const char *body, size_t len,
           const char *what)
{
	struct evbuffer *b = evbuffer_new();
	char peer[64];
	const char *m = evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET";

	add_security_headers(req);
	if (ctype != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	if (body != NULL)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, status, httpd_reason(status), b);
	evbuffer_free(b);
	httpd_peer(req, 0, peer, sizeof(peer));
	if (status < 400)
		log_info("%s %s %s: %d %s", peer, m, evhttp_request_get_uri(req), status, what);
	else
		log_warnx("%s %s %s: %d %s", peer, m, evhttp_request_get_uri(req), status, what);
}

static void
send_redirect(struct evhttp_request *req, const char *to, const char *what)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", to);
	send_reply(req, 303, "text/plain; charset=utf-8", NULL, 0, what);
}

/* Logs a refusal's error lines as one line ("; " between them). */
static void
log_refused(const char *what, const char *errors)
{
	struct sbuf b = {0};
	char *line;

	for (const char *p = errors; *p != '\0'; p++) {
		if (*p != '\n')
			sb_add(&b, p, 1);
		else if (p[1] != '\0')
			sb_adds(&b, "; ");
	}
	line = sb_take(&b);
	log_warnx("console: %s refused: %s", what, line);
	free(line);
}

/* A page from message.html (text/plain if the template cannot be read). */
static void
send_message(struct console *c, struct evhttp_request *req, int status, const char *msg)
{
	struct sbuf b = {0};
	char *err = NULL, *page;
	const struct tmpl_var v[] = {{"title", httpd_reason(status)}, {"message", msg}};

	if (tmpl_render_file(&b, c->o->templates, "message.html", v, 2, &err) < 0) {
		log_warnx("console: %s", err);
		free(err);
		free(sb_take(&b));
		send_reply(req, status, "text/plain; charset=utf-8", msg, strlen(msg), msg);
		return;
	}
	page = sb_take(&b);
	send_reply(req, status, "text/html; charset=utf-8", page, strlen(page), msg);
	free(page);
}

static void
send_json(struct evhttp_request *req, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	send_reply(req, 200, "application/json", s ? s : "{}", s ? strlen(s) : 2, "state");
	free(s);
}

/* --------------------------------------------------------------- cookies */

/* The value of cookie name in the request (copied into buf), or NULL. */
static const char *
cookie_get(struct evhttp_request *req, const char *name, char *buf, size_t cap)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
	size_t nl = strlen(name);

	while (h != NULL && *h != '\0') {
		size_t len;

		while (*h == ' ' || *h == ';')
			h++;
		len = strcspn(h, ";");
		if (len > nl && strncmp(h, name, nl) == 0 && h[nl] == '=') {
			if (len - nl - 1 >= cap)
				return NULL;
			memcpy(buf, h + nl + 1, len - nl - 1);
			buf[len - nl - 1] = '\0';
			return buf;
		}
		h += len;
	}
	return NULL;
}

static void
set_cookie(struct console *c, struct evhttp_request *req, const char *name, const char *value,
           const char *path, int expire)
{
	char *v = xasprintf("%s=%s; Path=%s; HttpOnly; SameSite=Strict%s%s", name, value, path,
	                    c->o->tls ? "; Secure" : "", expire ? "; Max-Age=0" : "");

	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", v);
	free(v);
}

/* -------------------------------------------------------------- sessions */

static void
session_end(struct session *s)
{
	free(s->flash);
	OPENSSL_cleanse(s, sizeof(*s));
	memset(s, 0, sizeof(*s));
}

/* The request's live session (its use time updated), or NULL. */
static struct session *
session_of(struct console *c, struct evhttp_request *req)
{
	char buf[TOKEN_HEX + 1];
	const char *id = cookie_get(req, "pc_session", buf, sizeof(buf));
	time_t now = time(NULL);

	if (!token_ok(id))
		return NULL;
	for (size_t i = 0; i < CON_MAX_SESSIONS; i++) {
		struct session *s = &c->s[i];

		if (!s->live || !token_eq(id, s->id))
			continue;
		if (now - s->used > CON_IDLE || now - s->created > CON_LIFETIME) {
			log_info("console: session expired");
			session_end(s);
			return NULL;
		}
		s->used = now;
		return s;
	}
	return NULL;
}

/* A new session, in a free slot or the least recently used one's. */
static struct session *
session_new(struct console *c)
{
	struct session *s = &c->s[0];
	time_t now = time(NULL);

	for (size_t i = 0; i < CON_MAX_SESSIONS; i++) {
		if (!c->s[i].live) {
			s = &c->s[i];
			break;
		}
		if (c->s[i].used < s->used)
			s = &c->s[i];
	}
	if (s->live)
		log_info("console: %d sessions: the least recently used one ends",
		         CON_MAX_SESSIONS);
	session_end(s);
	s->live = 1;
	random_hex(s->id);
	random_hex(s->csrf);
	s->created = s->used = now;
	return s;
}

static void
flash_set(struct session *s, char *msg)
{
	free(s->flash);
	s->flash = msg;
}

/* --------------------------------------------------------- rate limiting */

/* The failures entry of addr (create: a new one, reusing the oldest), or NULL. */
static struct failures *
failures_of(struct console *c, const char *addr, int create)
{
	struct failures *old = &c->f[0];

	for (size_t i = 0; i < CON_MAX_PEERS; i++) {
		if (c->f[i].n > 0 && strcmp(c->f[i].addr, addr) == 0)
			return &c->f[i];
		if (c->f[i].n == 0 || (old->n > 0 && c->f[i].first < old->first))
			old = &c->f[i];
	}
	if (!create)
		return NULL;
	memset(old, 0, sizeof(*old));
	snprintf(old->addr, sizeof(old->addr), "%s", addr);
	return old;
}

/* Seconds addr is still locked out for (0: not locked out). */
static time_t
locked_out(struct console *c, const char *addr)
{
	struct failures *f = failures_of(c, addr, 0);
	time_t now = time(NULL);

	return f != NULL && f->until > now ? f->until - now : 0;
}

static void
login_failed(struct console *c, const char *addr, const char *why)
{
	struct failures *f = failures_of(c, addr, 1);
	time_t now = time(NULL);

	if (f->n == 0 || now - f->first > CON_FAIL_WINDOW) {
		f->n = 0;
		f->first = now;
	}
	f->n++;
	log_warnx("console: login from %s failed (%s), %u in %d s", addr, why, f->n,
	          CON_FAIL_WINDOW);
	if (f->n >= CON_MAX_FAILS) {
		f->until = now + CON_LOCKOUT;
		log_warnx("console: %s locked out for %d s after %u failed logins", addr,
		          CON_LOCKOUT, f->n);
	}
}

/* ----------------------------------------------------------------- forms */

static void
form_add(struct form *f, const char *name, const char *filename, const char *value, size_t len)
{
	struct field *x;

	f->v = xgrow(f->v, &f->cap, f->n + 1, sizeof(*f->v));
	x = &f->v[f->n++];
	x->name = xstrdup(name);
	x->filename = filename ? xstrdup(filename) : NULL;
	x->value = xmalloc(len + 1);
	memcpy(x->value, value, len);
	x->value[len] = '\0';
	x->len = len;
}

static void
form_free(struct form *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].filename);
		free(f->v[i].value);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

/* The first value of name, or NULL. */
static const char *
form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0 && f->v[i].filename == NULL)
			return f->v[i].value;
	return NULL;
}

static int
parse_urlencoded(const char *body, struct form *f)
{
	struct evkeyvalq q;
	struct evkeyval *kv;
	int rc = 0;

	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(body, &q) < 0) {
		evhttp_clear_headers(&q);
		return -1;
	}
	TAILQ_FOREACH(kv, &q, next)
	{
		if (f->n >= CON_MAX_FIELDS + CON_MAX_ITEMS) {
			rc = -1;
			break;
		}
		form_add(f, kv->key, NULL, kv->value, strlen(kv->value));
	}
	evhttp_clear_headers(&q);
	return rc;
}

/*
 * multipart/form-data through GMime: the body behind a Content-Type header
 * line is a MIME entity; each part's Content-Disposition names its field.
 */
static int
parse_multipart(const char *ctype, const char *body, size_t len, struct form *f)
{
	char *head = xasprintf("Content-Type: %s\r\n\r\n", ctype);
	GMimeStream *st = g_mime_stream_mem_new();
	GMimeParser *p;
	GMimeObject *obj;
	int rc = -1, n;

	g_mime_stream_write(st, head, strlen(head));
	g_mime_stream_write(st, body, len);
	g_mime_stream_seek(st, 0, GMIME_STREAM_SEEK_SET);
	free(head);
	p = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	obj = g_mime_parser_construct_part(p, NULL);
	g_object_unref(p);
	if (obj == NULL || !GMIME_IS_MULTIPART(obj))
		goto out;
	n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
	if (n < 0 || n > CON_MAX_FIELDS)
		goto out;
	for (int i = 0; i < n; i++) {
		GMimeObject *part = g_mime_multipart_get_part(GMIME_MULTIPART(obj), i);
		GMimeContentDisposition *d;
		GMimeDataWrapper *w;
		GMimeStream *out;
		GByteArray *ba;
		const char *name, *filename;

		if (!GMIME_IS_PART(part))
			goto out;
		d = g_mime_object_get_content_disposition(part);
		name = d ? g_mime_content_disposition_get_parameter(d, "name") : NULL;
		filename = d ? g_mime_content_disposition_get_parameter(d, "filename") : NULL;
		if (name == NULL)
			goto out;
		out = g_mime_stream_mem_new();
		w = g_mime_part_get_content(GMIME_PART(part));
		if (w != NULL)
			g_mime_data_wrapper_write_to_stream(w, out);
		ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
		form_add(f, name, filename, ba ? (const char *)ba->data : "", ba ? ba->len : 0);
		g_object_unref(out);
	}
	rc = 0;
out:
	if (obj != NULL)
		g_object_unref(obj);
	return rc;
}

/* The request body as a form; 0, 413 (over max), or 400. */
static int
read_form(struct evhttp_request *req, uint64_t max, struct form *f)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	char *body;
	int rc;

	if (n > max)
		return 413;
	body = xmalloc(n + 1);
	evbuffer_remove(in, body, n);
	body[n] = '\0';
	if (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0)
		rc = parse_multipart(ct, body, n, f);
	else if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
		rc = strlen(body) == n ? parse_urlencoded(body, f) : -1;
	else
		rc = -1;
	free(body);
	return rc < 0 ? 400 : 0;
}

/*
 * Splits s at white space and commas into *out (pointers into *copy, both
 * allocated). -1 when there are more than CON_MAX_ITEMS.
 */
static int
split_list(const char *s, char **copy, const char ***out, size_t *n)
{
	char *save = NULL, *w;
	size_t cap = 0;

	*copy = xstrdup(s ? s : "");
	*out = NULL;
	*n = 0;
	for (w = strtok_r(*copy, " \t\r\n,", &save); w != NULL;
	     w = strtok_r(NULL, " \t\r\n,", &save)) {
		if (*n >= CON_MAX_ITEMS)
			return -1;
		*out = xgrow(*out, &cap, *n + 1, sizeof(**out));
		(*out)[(*n)++] = w;
	}
	return 0;
}

/* -------------------------------------------------------------- the page */

/* Appends one rendered row template per entry. */
static int
rows_gateways(struct console *c, struct sbuf *b, char **err)
{
	struct pstore_gateway *g;
	char *row;
	size_t n, len;
	int rc = tmpl_load(c->o->templates, "row-gateway.html", &row, &len, err);

	if (rc != 0) {
		if (rc == 1)
			*err = xstrdup("no template row-gateway.html");
		return -1;
	}
	if (pstore_gateways(c->ps, &g, &n, err) < 0) {
		free(row);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char seen[32], enrolled[32];
		const struct tmpl_var v[] = {
		    {"id", g[i].id},
		    {"state", g[i].state},
		    {"last_seen", iso_utc(g[i].last_seen, seen, sizeof(seen))},
		    {"last_receipt", g[i].last_message ? g[i].last_message : "-"},
		    {"push_url", g[i].push_url ? g[i].push_url : "-"},
		    {"enrolled", iso_utc(g[i].enrolled, enrolled, sizeof(enrolled))},
		};
		tmpl_render(b, row, v, sizeof(v) / sizeof(v[0]));
	}
	pstore_gateways_free(g, n);
	free(row);
	return 0;
}

static int
rows_documents(struct console *c, struct sbuf *b, struct sbuf *alerts, char **err)
{
	struct pstore_doc *d;
	struct pstore_alert *a;
	char *row, *opt;
	size_t n, na, len;

	if (tmpl_load(c->o->templates, "row-document.html", &row, &len, err) != 0) {
		*err = *err ? *err : xstrdup("no template row-document.html");
		return -1;
	}
	if (tmpl_load(c->o->templates, "option-alert.html", &opt, &len, err) != 0) {
		*err = *err ? *err : xstrdup("no template option-alert.html");
		free(row);
		return -1;
	}
	if (pstore_documents(c->ps, 0, &d, &n, err) < 0) {
		free(row);
		free(opt);
		return -1;
	}
	for (size_t i = n; i > 0 && n - i < CON_MAX_SHOWN; i--) {
		char seq[24], created[32];
		const struct tmpl_var v[] = {
		    {"seq",
		     (snprintf(seq, sizeof(seq), "%llu", (unsigned long long)d[i - 1].seq), seq)},
		    {"type", d[i - 1].type},
		    {"id", d[i - 1].id},
		    {"created", iso_utc(d[i - 1].created, created, sizeof(created))},
		    {"url", d[i - 1].url},
		};
		tmpl_render(b, row, v, sizeof(v) / sizeof(v[0]));
	}
	pstore_docs_free(d, n);
	if (pstore_alerts(c->ps, &a, &na, err) < 0) {
		free(row);
		free(opt);
		return -1;
	}
	for (size_t i = 0; i < na; i++) {
		char exp[32];
		const struct tmpl_var v[] = {{"id", a[i].id},
		                             {"expires", iso_utc(a[i].expires, exp, sizeof(exp))}};

		if (a[i].ended_by == NULL && a[i].expires > time(NULL))
			tmpl_render(alerts, opt, v, 2);
	}
	pstore_alerts_free(a, na);
	free(row);
	free(opt);
	return 0;
}

static int
rows_receipts(struct console *c, struct sbuf *b, char **err)
{
	struct pstore_receipt *r;
	char *row;
	size_t n, len;

	if (tmpl_load(c->o->templates, "row-receipt.html", &row, &len, err) != 0) {
		*err = *err ? *err : xstrdup("no template row-receipt.html");
		return -1;
	}
	if (pstore_receipts(c->ps, &r, &n, err) < 0) {
		free(row);
		return -1;
	}
	for (size_t i = n; i > 0 && n - i < CON_MAX_SHOWN; i--) {
		char seq[24], t[32], rec[32];
		const struct tmpl_var v[] = {
		    {"gateway", r[i - 1].gateway},
		    {"message", r[i - 1].message},
		    {"seq",
		     (snprintf(seq, sizeof(seq), "%llu", (unsigned long long)r[i - 1].message_seq),
		      seq)},
		    {"state", r[i - 1].state},
		    {"time", iso_utc(r[i - 1].time, t, sizeof(t))},
		    {"received", iso_utc(r[i - 1].received, rec, sizeof(rec))},
		};
		tmpl_render(b, row, v, sizeof(v) / sizeof(v[0]));
	}
	pstore_receipts_free(r, n);
	free(row);
	return 0;
}

/* Form values shown again after a refusal (NULL: the defaults). */
static const char *
sticky(const struct form *f, const char *name, const char *dflt)
{
	const char *v = f ? form_get(f, name) : NULL;

	return v ? v : dflt;
}

/*
 * The dashboard: status 200, or 400 with errors (one per line) and the
 * refused form's values.
 */
static void
send_dashboard(struct console *c, struct evhttp_request *req, struct session *s, int status,
               const char *errors, const struct form *f)
{
	struct sbuf gw = {0}, docs = {0}, alerts = {0}, rec = {0}, errs = {0}, page = {0};
	char *err = NULL, *row = NULL, *out, *flash = NULL;
	size_t len;

	if (errors != NULL && tmpl_load(c->o->templates, "row-error.html", &row, &len, &err) == 0) {
		char *copy = xstrdup(errors), *save = NULL;

		for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			const struct tmpl_var v[] = {{"text", l}};

			tmpl_render(&errs, row, v, 1);
		}
		free(copy);
		free(row);
	}
	free(err);
	err = NULL;
	if (rows_gateways(c, &gw, &err) < 0 || rows_documents(c, &docs, &alerts, &err) < 0 ||
	    rows_receipts(c, &rec, &err) < 0)
		goto fail;
	if (status == 200) {
		flash = s->flash;
		s->flash = NULL;
	}
	{
		char *vgw = sb_take(&gw), *vdocs = sb_take(&docs), *valerts = sb_take(&alerts),
		     *vrec = sb_take(&rec), *verrs = sb_take(&errs);
		const struct tmpl_var v[] = {
		    {"provider", c->o->provider},
		    {"csrf", s->csrf},
		    {"flash", flash},
		    {"errors", verrs},
		    {"gateways", vgw},
		    {"documents", vdocs},
		    {"receipts", vrec},
		    {"alert_options", valerts},
		    {"f_virus", sticky(f, "virus", "")},
		    {"f_sha256", sticky(f, "sha256", "")},
		    {"f_ttl", sticky(f, "ttl", "24h")},
		    {"f_name", sticky(f, "name", "")},
		    {"f_id", sticky(f, "id", "")},
		};
		int rc = tmpl_render_file(&page, c->o->templates, "console.html", v,
		                          sizeof(v) / sizeof(v[0]), &err);

		free(vgw);
		free(vdocs);
		free(valerts);
		free(vrec);
		free(verrs);
		free(flash);
		if (rc < 0)
			goto fail;
	}
	out = sb_take(&page);
	send_reply(req, status, "text/html; charset=utf-8", out, strlen(out),
	           status == 200 ? "dashboard" : "form refused");
	free(out);
	return;
fail:
	log_warnx("console: %s", err);
	free(err);
	free(sb_take(&gw));
	free(sb_take(&docs));
	free(sb_take(&alerts));
	free(sb_take(&rec));
	free(sb_take(&errs));
	free(sb_take(&page));
	send_message(c, req, 500, "the dashboard cannot be rendered (see the server's log)");
}

/* ----------------------------------------------------------------- login */

/* The login form's token: HMAC-SHA256(secret, the pc_login cookie), hex. */
static void
login_token(struct console *c, const char *cookie, char out[TOKEN_HEX + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (HMAC(EVP_sha256(), c->secret, sizeof(c->secret), (const unsigned char *)cookie,
	         strlen(cookie), md, &mdlen) == NULL ||
	    mdlen != 32)
		fatalx("console: HMAC failed");
	hex_encode(md, 32, out);
	out[TOKEN_HEX] = '\0';
}

static void
send_login(struct console *c, struct evhttp_request *req, int status, const char *error)
{
	char buf[TOKEN_HEX + 1], fresh[TOKEN_HEX + 1], tok[TOKEN_HEX + 1], *err = NULL, *out;
	const char *cookie = cookie_get(req, "pc_login", buf, sizeof(buf));
	struct sbuf b = {0};

	if (!token_ok(cookie)) {
		random_hex(fresh);
		cookie = fresh;
		set_cookie(c, req, "pc_login", cookie, "/console/login", 0);
	}
	login_token(c, cookie, tok);
	{
		const struct tmpl_var v[] = {
		    {"provider", c->o->provider}, {"csrf", tok}, {"error", error}};

		if (tmpl_render_file(&b, c->o->templates, "login.html", v, 3, &err) < 0) {
			log_warnx("console: %s", err);
			free(err);
			free(sb_take(&b));
			send_message(c, req, 500, "the login page cannot be rendered");
			return;
		}
	}
	out = sb_take(&b);
	send_reply(req, status, "text/html; charset=utf-8", out, strlen(out),
	           error ? error : "login form");
	free(out);
}

/* The scrypt check, on a worker thread: touches nothing but k's own fields. */
static void
check_run(void *arg)
{
	struct check *k = arg;

	k->ok = cpass_verify(k->line, k->pw, &k->err);
	OPENSSL_cleanse(k->pw, strlen(k->pw));
}

static void
check_gone(struct evhttp_connection *conn, void *arg)
{
	struct check *k = arg;

	(void)conn;
	k->gone = 1;
}

static void
check_free(struct check *k)
{
	free(k->line);
	free(k->pw);
	free(k->err);
	free(k);
}

/* Back on the loop: counts a failure, and answers unless the client went away. */
static void
check_done(void *arg)
{
	struct check *k = arg;
	struct console *c = k->c;
	struct session *s;

	for (size_t i = 0; i < CON_MAX_CHECKS; i++)
		if (c->checks[i] == k)
			c->checks[i] = NULL;
	if (k->ok < 0)
		log_warnx("console: %s", k->err);
	else if (k->ok == 0)
		login_failed(c, k->addr, "wrong password");
	if (k->gone) {
		check_free(k);
		return;
	}
	evhttp_connection_set_closecb(k->conn, NULL, NULL);
	if (k->ok < 0) {
		send_message(c, k->req, 500, "the password file is damaged (see the server's log)");
	} else if (k->ok == 0) {
		send_login(c, k->req, 403, "Wrong password.");
	} else {
		struct failures *fl = failures_of(c, k->addr, 0);

		if (fl != NULL)
			memset(fl, 0, sizeof(*fl));
		s = session_new(c);
		set_cookie(c, k->req, "pc_session", s->id, "/console", 0);
		set_cookie(c, k->req, "pc_login", "", "/console/login", 1);
		log_info("console: %s logged in", k->addr);
		send_redirect(k->req, "/console/", "logged in");
	}
	check_free(k);
}

static void
on_login(struct console *c, struct evhttp_request *req)
{
	char addr[64], buf[TOKEN_HEX + 1], tok[TOKEN_HEX + 1], *line = NULL, *err = NULL;
	const char *cookie = cookie_get(req, "pc_login", buf, sizeof(buf)), *pw;
	struct form f = {0};
	time_t wait;
	int rc;

	httpd_peer(req, 0, addr, sizeof(addr));
	if ((wait = locked_out(c, addr)) > 0) {
		char ra[24];

		snprintf(ra, sizeof(ra), "%lld", (long long)wait);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
		log_warnx("console: login from %s refused: locked out for %lld s more", addr,
		          (long long)wait);
		send_message(c, req, 429, "too many failed logins: try again later");
		return;
	}
	if ((rc = read_form(req, PSERVER_MAX_BODY, &f)) != 0) {
		send_message(c, req, rc, rc == 413 ? "request too large" : "malformed form");
		goto out;
	}
	if (token_ok(cookie))
		login_token(c, cookie, tok);
	if (!token_ok(cookie) || !token_eq(form_get(&f, "csrf"), tok)) {
		login_failed(c, addr, "no or wrong CSRF token");
		send_login(c, req, 403, "The form expired: please log in again.");
		goto out;
	}
	if ((rc = cpass_load(c->o->state_dir, &line, &err)) != 0) {
		if (rc < 0)
			log_warnx("console: %s", err);
		send_message(c, req, 503,
		             "the console has no password: run portcullis-provider passwd");
		goto out;
	}
	pw = form_get(&f, "password");
	if (pw == NULL || strlen(pw) > CPASS_MAX_LEN) {
		login_failed(c, addr, "no password or a too long one");
		send_login(c, req, 403, "Wrong password.");
		goto out;
	}
	/* the check itself runs on the workq (check_run), the reply in check_done */
	for (size_t i = 0; i < CON_MAX_CHECKS; i++) {
		struct check *k;

		if (c->checks[i] != NULL)
			continue;
		k = c->checks[i] = xcalloc(1, sizeof(*k));
		k->c = c;
		k->req = req;
		k->conn = evhttp_request_get_connection(req);
		k->line = line;
		line = NULL;
		k->pw = xstrdup(pw);
		snprintf(k->addr, sizeof(k->addr), "%s", addr);
		evhttp_connection_set_closecb(k->conn, check_gone, k);
		workq_submit(c->wq, check_run, check_done, k);
		goto out;
	}
	log_warnx("console: login from %s refused: %d checks already running", addr,
	          CON_MAX_CHECKS);
	send_message(c, req, 429, "logins are busy: try again in a moment");
out:
	free(line);
	free(err);
	form_free(&f);
}

/* ------------------------------------------------------------ publishing */

/* Opens the publisher, runs the publication, starts the fan-out; the flash or *err. */
struct pub_job {
	const struct build_alert *alert;
	const struct build_files *files;
	const char *const *viruses;
	size_t nviruses;
	const char *id, *allclear;
};

static int
publish(struct console *c, const struct pub_job *j, char **flash, char **err)
{
	struct publisher *p =
	    publish_open(c->o->state_dir, c->o->feed_dir, c->o->key_path, c->o->provider, err);
	struct build_doc d = {0};
	char *path = NULL, *ferr = NULL;
	int rc;

	if (p == NULL)
		return -1;
	if (j->alert != NULL)
		rc = publish_alert(p, j->alert, time(NULL), &d, &path, err);
	else if (j->files != NULL)
		rc = publish_update(p, j->files, j->nviruses ? j->viruses : NULL, j->nviruses,
		                    j->id, time(NULL), &d, &path, err);
	else
		rc = publish_allclear(p, j->allclear, j->id, time(NULL), &d, &path, err);
	publish_close(p);
	if (rc < 0)
		return -1;
	log_info("console: published seq=%llu type=%s id=%s envelope=%s", (unsigned long long)d.seq,
	         d.type, d.id, path);
	if (c->o->push == NULL) {
		*flash = xasprintf("Published %s %s (seq %llu); push is off: the gateways will"
		                   " pull it.",
		                   d.type, d.id, (unsigned long long)d.seq);
	} else if (fanout_start(c->o->push, c->o->state_dir, d.id, d.seq, d.envelope, &ferr) < 0) {
		log_warnx("console: fan-out of %s not started: %s (gateways will pull it)", d.id,
		          ferr ? ferr : "?");
		*flash = xasprintf("Published %s %s (seq %llu); push fan-out not started (%s): "
		                   "the gateways will pull it.",
		                   d.type, d.id, (unsigned long long)d.seq, ferr ? ferr : "?");
	} else {
		*flash = xasprintf("Published %s %s (seq %llu); pushing it to the gateways.",
		                   d.type, d.id, (unsigned long long)d.seq);
	}
	free(ferr);
	free(path);
	build_doc_clear(&d);
	return 0;
}

static int
one_of(const char *v, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(v, *set) == 0)
			return 1;
	return 0;
}

static void
on_alert(struct console *c, struct evhttp_request *req, struct session *s, struct form *f)
{
	static const char *const modes[] = {"hold", "hold_attachments", "hash", NULL};
	static const char *const dirs[] = {"inbound", "outbound", "both", NULL};
	static const char *const protos[] = {"smtp", "ftp", NULL};
	const char **vir = NULL, **sha = NULL, *proto[2];
	char *vcopy = NULL, *scopy = NULL, *flash = NULL, *err = NULL;
	struct build_alert a = {0};
	struct sbuf e = {0};
	struct pub_job j = {0};
	size_t nvir = 0, nsha = 0, nproto = 0;
	const char *v;
	char *errors;

	if (split_list(form_get(f, "virus"), &vcopy, &vir, &nvir) < 0)
		sb_addf(&e, "at most %d virus IDs\n", CON_MAX_ITEMS);
	else if (nvir == 0)
		sb_adds(&e, "at least one virus ID is needed\n");
	for (size_t i = 0; i < nvir; i++)
		if (strlen(vir[i]) > 128) {
			sb_adds(&e, "a virus ID is longer than 128 characters\n");
			break;
		}
	if (split_list(form_get(f, "sha256"), &scopy, &sha, &nsha) < 0)
		sb_addf(&e, "at most %d SHA-256 hashes\n", CON_MAX_ITEMS);
	for (size_t i = 0; i < nsha; i++)
		if (strlen(sha[i]) != 64 || strspn(sha[i], "0123456789abcdefABCDEF") != 64) {
			sb_adds(&e, "each SHA-256 is 64 hex digits\n");
			break;
		}
	a.mode = sticky(f, "mode", "hold");
	if (!one_of(a.mode, modes))
		sb_adds(&e, "mode is hold, hold_attachments or hash\n");
	else if (strcmp(a.mode, "hash") == 0 && nsha == 0)
		sb_adds(&e, "mode hash needs at least one SHA-256\n");
	a.direction = sticky(f, "direction", "inbound");
	if (!one_of(a.direction, dirs))
		sb_adds(&e, "direction is inbound, outbound or both\n");
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->v[i].name, "protocol") != 0)
			continue;
		if (!one_of(f->v[i].value, protos) || nproto >= 2) {
			sb_adds(&e, "protocols are smtp and ftp\n");
			break;
		}
		proto[nproto++] = f->v[i].value;
	}
	if (form_get(f, "protocols_sent") != NULL && nproto == 0)
		sb_adds(&e, "choose at least one protocol\n");
	v = sticky(f, "ttl", "24h");
	{
		uint64_t ms;

		if (parse_duration_ms(v, &ms) < 0 || ms < 1000 || ms / 1000 > 366ull * 24 * 3600)
			sb_adds(&e, "TTL is a duration from 1s to 366 days (e.g. 24h)\n");
		else
			a.ttl = (int64_t)(ms / 1000);
	}
	v = form_get(f, "name");
	a.name = v != NULL && *v != '\0' ? v : NULL;
	if (a.name != NULL && strlen(a.name) > 256)
		sb_adds(&e, "the name is at most 256 characters\n");
	v = form_get(f, "id");
	a.id = v != NULL && *v != '\0' ? v : NULL;
	if (a.id != NULL && !build_name_ok(a.id))
		sb_adds(&e, "the ID is 1..64 of [A-Za-z0-9._-]\n");
	if (e.len == 0) {
		a.viruses = vir;
		a.nviruses = nvir;
		a.sha256 = sha;
		a.nsha256 = nsha;
		a.protocols = proto;
		a.nprotocols = nproto;
		j.alert = &a;
		if (publish(c, &j, &flash, &err) < 0) {
			sb_addf(&e, "alert refused: %s\n", err ? err : "failed");
			free(err);
		}
	}
	errors = sb_take(&e);
	if (*errors != '\0') {
		log_refused("alert", errors);
		send_dashboard(c, req, s, 400, errors, f);
	} else {
		flash_set(s, flash);
		send_redirect(req, "/console/", "alert published");
	}
	free(errors);
	free(vir);
	free(sha);
	free(vcopy);
	free(scopy);
}

/* An uploaded file's name: [A-Za-z0-9._-]{1,128}, no leading dot, a known extension. */
static int
upload_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.' ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "abcdefghijklmnopqrstuvwxyz"
	              "0123456789._-") != n)
		return 0;
	return str_endswith_ci(s, ".ndb") || str_endswith_ci(s, ".hdb") ||
	       str_endswith_ci(s, ".hsb") || str_endswith_ci(s, ".sha256");
}

/* Removes every occurrence of prefix from s (in place). */
static void
strip_prefix(char *s, const char *prefix)
{
	size_t pl = strlen(prefix);
	char *p;

	while ((p = strstr(s, prefix)) != NULL)
		memmove(p, p + pl, strlen(p + pl) + 1);
}

static void
on_update(struct console *c, struct evhttp_request *req, struct session *s, struct form *f)
{
	const char **vir = NULL, **paths = NULL;
	char *vcopy = NULL, *dir = NULL, *flash = NULL, *err = NULL, *errors;
	struct build_files *bf = NULL;
	struct pub_job j = {0};
	struct sbuf e = {0};
	size_t nvir = 0, npaths = 0, cap = 0;
	uint64_t total = 0;
	const char *v;

	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].filename != NULL && *f->v[i].filename != '\0')
			total += f->v[i].len;
	if (total > c->o->max_upload) {
		char msg[96];

		snprintf(msg, sizeof(msg), "the files are larger than %llu bytes together",
		         (unsigned long long)c->o->max_upload);
		send_message(c, req, 413, msg);
		return;
	}
	if (split_list(form_get(f, "virus"), &vcopy, &vir, &nvir) < 0)
		sb_addf(&e, "at most %d virus IDs\n", CON_MAX_ITEMS);
	v = form_get(f, "id");
	j.id = v != NULL && *v != '\0' ? v : NULL;
	if (j.id != NULL && !build_name_ok(j.id))
		sb_adds(&e, "the ID is 1..64 of [A-Za-z0-9._-]\n");
	for (size_t i = 0; i < f->n && e.len == 0; i++) {
		const struct field *x = &f->v[i];

		if (x->filename == NULL || *x->filename == '\0')
			continue;
		if (strcmp(x->name, "files") != 0 || !upload_name_ok(x->filename)) {
			sb_addf(&e,
			        "%.128s: a signature file is named [A-Za-z0-9._-] and ends in "
			        ".ndb, .hdb, .hsb or .sha256\n",
			        x->filename);
			continue;
		}
		for (size_t k = 0; k < i; k++)
			if (f->v[k].filename != NULL && strcmp(f->v[k].filename, x->filename) == 0)
				sb_addf(&e, "%s: given twice\n", x->filename);
		paths = xgrow(paths, &cap, npaths + 1, sizeof(*paths));
		paths[npaths++] = x->filename;
	}
	if (e.len == 0 && npaths == 0)
		sb_adds(&e, "choose at least one signature file\n");
	if (e.len == 0) {
		char *tmpl = xasprintf("%s/console-upload-XXXXXX", c->o->state_dir);

		if (mkdtemp(tmpl) == NULL) {
			sb_addf(&e, "cannot make a temporary directory: %s\n", strerror(errno));
			free(tmpl);
		} else {
			dir = tmpl;
		}
	}
	for (size_t i = 0, k = 0; dir != NULL && e.len == 0 && i < f->n; i++) {
		const struct field *x = &f->v[i];
		char *path;
		int fd;

		if (x->filename == NULL || *x->filename == '\0')
			continue;
		path = xasprintf("%s/%s", dir, x->filename);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || write_all(fd, x->value, x->len) < 0)
			sb_addf(&e, "%s: cannot write: %s\n", x->filename, strerror(errno));
		if (fd >= 0)
			close(fd);
		paths[k++] = path;
	}
	if (e.len == 0 && (bf = build_files_load(paths, npaths, &err)) == NULL) {
		char *pre = xasprintf("%s/", dir);

		strip_prefix(err, pre);
		free(pre);
		sb_addf(&e, "%s\nupdate refused, nothing published\n", err);
		free(err);
		err = NULL;
	}
	if (e.len == 0) {
		j.files = bf;
		j.viruses = vir;
		j.nviruses = nvir;
		if (publish(c, &j, &flash, &err) < 0) {
			sb_addf(&e, "update refused: %s\n", err ? err : "failed");
			free(err);
		}
	}
	/* the upload directory goes, whatever happened */
	for (size_t i = 0; dir != NULL && i < npaths; i++) {
		if (paths[i] != NULL && strncmp(paths[i], dir, strlen(dir)) == 0) {
			unlink(paths[i]);
			free((char *)paths[i]);
		}
	}
	if (dir != NULL && rmdir(dir) < 0)
		log_warn("console: rmdir %s", dir);
	errors = sb_take(&e);
	if (*errors != '\0') {
		log_refused("update", errors);
		send_dashboard(c, req, s, 400, errors, NULL);
	} else {
		flash_set(s, flash);
		send_redirect(req, "/console/", "update published");
	}
	build_files_free(bf);
	free(errors);
	free(paths);
	free(vir);
	free(vcopy);
	free(dir);
}

static void
on_allclear(struct console *c, struct evhttp_request *req, struct session *s, struct form *f)
{
	const char *alert = form_get(f, "alert"), *id = form_get(f, "id");
	char *flash = NULL, *err = NULL, *msg;
	struct pub_job j = {0};

	j.allclear = alert;
	j.id = id != NULL && *id != '\0' ? id : NULL;
	if (alert == NULL || !build_name_ok(alert)) {
		send_dashboard(c, req, s, 400, "choose the alert to end", NULL);
		return;
	}
	if (j.id != NULL && !build_name_ok(j.id)) {
		send_dashboard(c, req, s, 400, "the ID is 1..64 of [A-Za-z0-9._-]", NULL);
		return;
	}
	if (publish(c, &j, &flash, &err) < 0) {
		msg = xasprintf("all-clear refused: %s", err ? err : "failed");
		log_warnx("console: %s", msg);
		send_dashboard(c, req, s, 400, msg, NULL);
		free(msg);
		free(err);
		return;
	}
	flash_set(s, flash);
	send_redirect(req, "/console/", "all-clear published");
}

/* ------------------------------------------------------------------ state */

static void
on_state(struct console *c, struct evhttp_request *req)
{
	struct pstore_gateway *g = NULL;
	struct pstore_receipt *r = NULL;
	struct pstore_doc *d = NULL;
	size_t ng = 0, nr = 0, nd = 0;
	char *err = NULL;
	json_t *o, *a;

	if (pstore_gateways(c->ps, &g, &ng, &err) < 0 ||
	    pstore_receipts(c->ps, &r, &nr, &err) < 0 ||
	    pstore_documents(c->ps, 0, &d, &nd, &err) < 0) {
		log_warnx("console: %s", err);
		free(err);
		pstore_gateways_free(g, ng);
		pstore_receipts_free(r, nr);
		send_message(c, req, 500, "cannot read the state");
		return;
	}
	o = json_object();
	a = json_array();
	for (size_t i = 0; i < ng; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:s?, s:s?}", "id", g[i].id,
		                                   "state", g[i].state, "last_seen",
		                                   (json_int_t)g[i].last_seen, "last_receipt",
		                                   g[i].last_message, "push_url", g[i].push_url));
	json_object_set_new(o, "gateways", a);
	a = json_array();
	for (size_t i = nr; i > 0 && nr - i < CON_MAX_SHOWN; i--)
		json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:s, s:I, s:I}", "gateway",
		                                   r[i - 1].gateway, "message", r[i - 1].message,
		                                   "message_seq", (json_int_t)r[i - 1].message_seq,
		                                   "state", r[i - 1].state, "time",
		                                   (json_int_t)r[i - 1].time, "received",
		                                   (json_int_t)r[i - 1].received));
	json_object_set_new(o, "receipts", a);
	a = json_array();
	for (size_t i = nd; i > 0 && nd - i < CON_MAX_SHOWN; i--)
		json_array_append_new(
		    a, json_pack("{s:I, s:s, s:s, s:I, s:s}", "seq", (json_int_t)d[i - 1].seq,
		                 "type", d[i - 1].type, "id", d[i - 1].id, "created",
		                 (json_int_t)d[i - 1].created, "url", d[i - 1].url));
	json_object_set_new(o, "documents", a);
	pstore_gateways_free(g, ng);
	pstore_receipts_free(r, nr);
	pstore_docs_free(d, nd);
	send_json(req, o);
}

/* ---------------------------------------------------------------- static */

static void
on_static(struct console *c, struct evhttp_request *req, const char *name)
{
	const char *ct = str_endswith_ci(name, ".css")   ? "text/css; charset=utf-8"
	                 : str_endswith_ci(name, ".js")  ? "text/javascript; charset=utf-8"
	                 : str_endswith_ci(name, ".svg") ? "image/svg+xml"
	                                                 : NULL;
	char *data = NULL, *err = NULL;
	size_t len;
	int rc;

	if (ct == NULL || (rc = tmpl_load(c->o->templates, name, &data, &len, &err)) == 1) {
		send_message(c, req, 404, "no such file");
		return;
	}
	if (rc < 0) {
		log_warnx("console: %s", err);
		free(err);
		send_message(c, req, 500, "cannot read the file");
		return;
	}
	send_reply(req, 200, ct, data, len, name);
	free(data);
}

/* ---------------------------------------------------------------- routes */

struct console *
console_new(const struct console_opts *o, struct pstore *ps, struct event_base *base, char **err)
{
	struct console *c;

	if (o->templates == NULL) {
		*err = xstrdup("console: no template directory");
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->o = o;
	c->ps = ps;
	if (RAND_bytes(c->secret, sizeof(c->secret)) != 1) {
		*err = xstrdup("console: no random bytes");
		free(c);
		return NULL;
	}
	c->wq = workq_new(base, 1);
	g_mime_init();
	return c;
}

void
console_free(struct console *c)
{
	if (c == NULL)
		return;
	workq_free(c->wq); /* the checks still queued run, their check_done does not */
	for (size_t i = 0; i < CON_MAX_CHECKS; i++)
		if (c->checks[i] != NULL)
			check_free(c->checks[i]);
	for (size_t i = 0; i < CON_MAX_SESSIONS; i++)
		session_end(&c->s[i]);
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	free(c);
}

static int
has_password(struct console *c)
{
	char *path = xasprintf("%s/%s", c->o->state_dir, CPASS_FILE);
	int rc = access(path, F_OK) == 0;

	free(path);
	return rc;
}

/* A POST of a logged-in operator with the session's CSRF token: its form, or NULL (answered). */
static struct session *
post_checked(struct console *c, struct evhttp_request *req, uint64_t max, struct form *f)
{
	struct session *s = session_of(c, req);
	int rc;

	if (s == NULL) {
		send_message(c, req, 403, "not logged in (or the session expired): log in again");
		return NULL;
	}
	if ((rc = read_form(req, max, f)) != 0) {
		send_message(c, req, rc, rc == 413 ? "request too large" : "malformed form");
		return NULL;
	}
	if (!token_eq(form_get(f, "csrf"), s->csrf)) {
		send_message(c, req, 403, "CSRF token missing or wrong: nothing done");
		return NULL;
	}
	return s;
}

void
console_handle(struct console *c, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	int get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD, post = m == EVHTTP_REQ_POST;
	struct form f = {0};
	struct session *s;

	if (strncmp(path, "/console/static/", 16) == 0) {
		if (get)
			on_static(c, req, path + 16);
		else
			send_message(c, req, 405, "GET only");
		return;
	}
	if (!has_password(c)) {
		send_message(c, req, 503,
		             "the console has no password: run portcullis-provider passwd");
		return;
	}
	if (strcmp(path, "/console") == 0) {
		send_redirect(req, "/console/", "to the dashboard");
	} else if (strcmp(path, "/console/login") == 0) {
		if (get)
			send_login(c, req, 200, NULL);
		else if (post)
			on_login(c, req);
		else
			send_message(c, req, 405, "GET or POST");
	} else if (strcmp(path, "/console/") == 0 || strcmp(path, "/console/api/state") == 0) {
		if (!get) {
			send_message(c, req, 405, "GET only");
		} else if ((s = session_of(c, req)) == NULL) {
			if (path[9] == '\0')
				send_redirect(req, "/console/login", "not logged in");
			else
				send_message(c, req, 401, "not logged in");
		} else if (path[9] == '\0') {
			send_dashboard(c, req, s, 200, NULL, NULL);
		} else {
			on_state(c, req);
		}
	} else if (strcmp(path, "/console/logout") == 0 || strcmp(path, "/console/alert") == 0 ||
	           strcmp(path, "/console/update") == 0 || strcmp(path, "/console/allclear") == 0) {
		int upload = strcmp(path, "/console/update") == 0;

		if (!post) {
			send_message(c, req, 405, "POST only");
		} else if ((s = post_checked(c, req,
		                             upload ? c->o->max_upload + CONSOLE_UPLOAD_SLACK
		                                    : PSERVER_MAX_BODY,
		                             &f)) != NULL) {
			if (strcmp(path, "/console/logout") == 0) {
				session_end(s);
				set_cookie(c, req, "pc_session", "", "/console", 1);
				send_redirect(req, "/console/login", "logged out");
			} else if (upload) {
				on_update(c, req, s, &f);
			} else if (strcmp(path, "/console/alert") == 0) {
				on_alert(c, req, s, &f);
			} else {
				on_allclear(c, req, s, &f);
			}
		}
	} else {
		send_message(c, req, 404, "no such page");
	}
	form_free(&f);
}

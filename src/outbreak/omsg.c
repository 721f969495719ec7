/*
 * omsg: signed provider messages (see omsg.h).
 *
 * Order of the checks in omsg_open(): the envelope's size and shape, the
 * signature over the payload bytes exactly as decoded (before any of the
 * document is parsed), then the document, field by field, and its expiry
 * last. JSON is read with duplicate keys rejected, so that no two parsers
 * can disagree on what a signed document says. Members a document does not
 * need (of another type, or unknown) are ignored, so that a provider may add
 * some. Base64 is the standard alphabet with padding and nothing else (no
 * white space, no line breaks, unused bits zero), the form Python's
 * base64.b64encode() gives. Reasons never quote the document's bytes, only
 * the names of its fields.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "outbreak/omsg.h"
#include "util/sanitize.h"
#include "util/strutil.h"
#include "util/sys.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define OMSG_SIG_LEN 64
#define OMSG_KEY_LEN 32
/* Limits the header gives in words. */
#define OMSG_ALERT_VIRUSES_MAX 64
#define OMSG_UPDATE_VIRUSES_MAX 4096
#define OMSG_SHA256_MAX 4096
#define OMSG_FILES_MAX 64
#define OMSG_NAME_MAX 200
/* Not in the header: a receipt's detail and a file's URL. */
#define OMSG_DETAIL_MAX 1024
#define OMSG_URL_MAX 2048
/* Times: 0 to 9999-12-31T23:59:59Z, so that each can be shown as a date. */
#define OMSG_TIME_MAX INT64_C(253402300799)
/* A key file is read whole; a PEM public key is about 113 bytes. */
#define OKEY_FILE_MAX 65536

/* Sets *reason to an allocated message; returns -1. */
static int __attribute__((format(printf, 2, 3))) fail(char **reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*reason = xvasprintf(fmt, ap);
	va_end(ap);
	return -1;
}

/* An error from OpenSSL as "what: library reason", its queue cleared. */
static char *
ssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0) {
		ERR_clear_error();
		return xasprintf("%s", what);
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return xasprintf("%s: %s", what, buf);
}

/* ---- base64 ---- */

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decodes n bytes of strict base64 (see the top). Returns the bytes
 * (allocated, one more byte holding NUL) with *outlen, or NULL.
 */
static unsigned char *
b64_decode(const char *s, size_t n, size_t *outlen)
{
	size_t pad = 0, o = 0;
	unsigned char *out;
	int v[4] = {0, 0, 0, 0};

	if (n % 4 != 0)
		return NULL;
	if (n > 0 && s[n - 1] == '=')
		pad = n > 1 && s[n - 2] == '=' ? 2 : 1;
	out = xmalloc(n / 4 * 3 - pad + 1);
	for (size_t i = 0; i < n; i += 4) {
		uint32_t w;

		for (size_t j = 0; j < 4; j++) {
			if (i + 4 == n && j >= 4 - pad)
				v[j] = 0; /* the '=' of the last quantum */
			else if ((v[j] = b64val((unsigned char)s[i + j])) < 0)
				goto bad;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		out[o++] = (unsigned char)(w >> 16);
		if (i + 4 < n || pad < 2)
			out[o++] = (unsigned char)(w >> 8);
		if (i + 4 < n || pad < 1)
			out[o++] = (unsigned char)w;
	}
	/* The bits the padding leaves over must be zero (one encoding only). */
	if ((pad == 1 && (v[2] & 3) != 0) || (pad == 2 && (v[1] & 15) != 0))
		goto bad;
	out[o] = '\0';
	*outlen = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* Standard base64 with padding, NUL-terminated, allocated. n <= INT_MAX / 2. */
static char *
b64_encode(const unsigned char *in, size_t n)
{
	char *out = xmalloc((n + 2) / 3 * 4 + 1);

	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

static void
sha256(const void *data, size_t len, uint8_t md[32])
{
	unsigned int mdlen = 32;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		abort(); /* only when OpenSSL itself is broken */
}

/* ---- the rules for names and text ---- */

static int
name_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Provider names, message IDs, gateway IDs: 1..64 of [A-Za-z0-9._-]. */
static int
id_valid(const char *s, size_t len)
{
	if (len < 1 || len > OMSG_ID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Virus IDs: 1..128 printable ASCII without space. */
static int
virus_valid(const char *s, size_t len)
{
	if (len < 1 || len > OMSG_VIRUS_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

/* Update file names: an ID without a leading '.', ending in a known extension. */
static int
file_name_valid(const char *s, size_t len)
{
	static const char *const ext[] = {"ndb", "hdb", "hsb", "sha256"};
	const char *dot;

	if (!id_valid(s, len) || s[0] == '.' || (dot = strrchr(s, '.')) == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (strcmp(dot + 1, ext[i]) == 0)
			return 1;
	return 0;
}

/* Text shown to people: at most max bytes of UTF-8 without any control. */
static int
text_valid(const char *s, size_t len, size_t max)
{
	size_t i = 0;

	if (len > max)
		return 0;
	while (i < len) {
		uint32_t cp;
		size_t l = utf8_decode((const unsigned char *)s + i, len - i, &cp);

		if (l == 0 || cp == UTF8_INVALID || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
		i += l;
	}
	return 1;
}

/* http(s)://host..., printable ASCII without space. */
static int
url_valid(const char *s, size_t len)
{
	size_t skip;

	if (len > OMSG_URL_MAX)
		return 0;
	if (len > 7 && strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	if (s[skip] == '/' || s[skip] == '?' || s[skip] == '#')
		return 0; /* no host */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int
hex32(const char *s, size_t len, uint8_t out[32])
{
	return len == 64 && hex_decode(s, 32, out) == 0 ? 0 : -1;
}

/* ---- typed access to the fields; `what` names the field in reasons ---- */

static int
want_str(json_t *v, const char *what, const char **s, size_t *len, char **reason)
{
	if (v == NULL)
		return fail(reason, "field %s: missing", what);
	if (!json_is_string(v))
		return fail(reason, "field %s: not a string", what);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

/* A string that must be an ID; copied into *out. */
static int
want_id(json_t *v, const char *what, char **out, char **reason)
{
	const char *s;
	size_t len;

	if (want_str(v, what, &s, &len, reason) < 0)
		return -1;
	if (!id_valid(s, len))
		return fail(reason, "field %s: not 1..%d of [A-Za-z0-9._-]", what, OMSG_ID_MAX);
	*out = xstrndup(s, len);
	return 0;
}

static int
want_int(json_t *v, const char *what, int64_t min, int64_t max, int64_t *out, char **reason)
{
	json_int_t i;

	if (v == NULL)
		return fail(reason, "field %s: missing", what);
	if (!json_is_integer(v))
		return fail(reason, "field %s: not an integer", what);
	i = json_integer_value(v);
	if (i < min || i > max)
		return fail(reason, "field %s: out of range", what);
	*out = (int64_t)i;
	return 0;
}

static int
want_array(json_t *v, const char *what, size_t min, size_t max, char **reason)
{
	if (v == NULL)
		return fail(reason, "field %s: missing", what);
	if (!json_is_array(v))
		return fail(reason, "field %s: not an array", what);
	if (json_array_size(v) < min || json_array_size(v) > max)
		return fail(reason, "field %s: %zu entries, not %zu..%zu", what, json_array_size(v),
		            min, max);
	return 0;
}

/* One of the strings in names (NULL-terminated); its index in *out. */
static int
want_enum(json_t *v, const char *what, const char *const *names, int *out, char **reason)
{
	const char *s;
	size_t len;

	if (want_str(v, what, &s, &len, reason) < 0)
		return -1;
	for (int i = 0; names[i] != NULL; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
			*out = i;
			return 0;
		}
	return fail(reason, "field %s: unknown value", what);
}

/* Optional text: NULL stays NULL when absent. */
static int
want_text(json_t *v, const char *what, size_t max, char **out, char **reason)
{
	const char *s;
	size_t len;

	if (v == NULL)
		return 0;
	if (want_str(v, what, &s, &len, reason) < 0)
		return -1;
	if (!text_valid(s, len, max))
		return fail(reason, "field %s: not printable UTF-8 of at most %zu bytes", what,
		            max);
	*out = xstrndup(s, len);
	return 0;
}

/* ---- the documents ---- */

static int
parse_viruses(json_t *doc, size_t max, struct omsg *m, char **reason)
{
	json_t *a = json_object_get(doc, "viruses");
	size_t n;

	if (want_array(a, "viruses", m->type == OMSG_ALERT ? 1 : 0, max, reason) < 0)
		return -1;
	n = json_array_size(a);
	m->viruses = xcalloc(n ? n : 1, sizeof(*m->viruses));
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);
		char what[32];
		const char *s;
		size_t len;

		snprintf(what, sizeof(what), "viruses[%zu]", i);
		if (want_str(v, what, &s, &len, reason) < 0)
			return -1;
		if (!virus_valid(s, len))
			return fail(reason, "field %s: not 1..%d printable ASCII without space",
			            what, OMSG_VIRUS_MAX);
		m->viruses[i] = xstrndup(s, len);
		m->nviruses = i + 1;
	}
	return 0;
}

static int
parse_alert(json_t *doc, struct omsg *m, char **reason)
{
	static const char *const modes[] = {"hold", "hold_attachments", "hash", NULL};
	static const char *const dirs[] = {"inbound", "outbound", "both", NULL};
	static const char *const protos[] = {"smtp", "ftp", NULL};
	json_t *a, *scope;
	int i;

	if (parse_viruses(doc, OMSG_ALERT_VIRUSES_MAX, m, reason) < 0)
		return -1;
	if (want_enum(json_object_get(doc, "mode"), "mode", modes, &i, reason) < 0)
		return -1;
	m->mode = (enum omsg_mode)(OMODE_HOLD + i);

	a = json_object_get(doc, "sha256");
	if (a != NULL || m->mode == OMODE_HASH) {
		if (want_array(a, "sha256", m->mode == OMODE_HASH ? 1 : 0, OMSG_SHA256_MAX,
		               reason) < 0)
			return -1;
		m->sha256 = xcalloc(json_array_size(a) ? json_array_size(a) : 1, 32);
		for (size_t k = 0; k < json_array_size(a); k++) {
			char what[32];
			const char *s;
			size_t len;

			snprintf(what, sizeof(what), "sha256[%zu]", k);
			if (want_str(json_array_get(a, k), what, &s, &len, reason) < 0)
				return -1;
			if (hex32(s, len, m->sha256[k]) < 0)
				return fail(reason, "field %s: not 64 hex digits", what);
			m->nsha256 = k + 1;
		}
	}

	scope = json_object_get(doc, "scope");
	if (scope == NULL)
		return fail(reason, "field scope: missing");
	if (!json_is_object(scope))
		return fail(reason, "field scope: not an object");
	if (want_enum(json_object_get(scope, "direction"), "scope.direction", dirs, &i, reason) < 0)
		return -1;
	m->scope_dir = i == 0   ? OSCOPE_INBOUND
	               : i == 1 ? OSCOPE_OUTBOUND
	                        : OSCOPE_INBOUND | OSCOPE_OUTBOUND;
	a = json_object_get(scope, "protocols");
	if (want_array(a, "scope.protocols", 1, 2, reason) < 0)
		return -1;
	for (size_t k = 0; k < json_array_size(a); k++) {
		char what[40];

		snprintf(what, sizeof(what), "scope.protocols[%zu]", k);
		if (want_enum(json_array_get(a, k), what, protos, &i, reason) < 0)
			return -1;
		m->scope_proto |= i == 0 ? OSCOPE_SMTP : OSCOPE_FTP;
	}

	if (want_text(json_object_get(doc, "name"), "name", OMSG_NAME_MAX, &m->name, reason) < 0)
		return -1;
	return 0;
}

static int
parse_file(json_t *f, size_t k, struct omsg_file *out, char **reason)
{
	json_t *data, *url;
	char what[40];
	const char *s;
	size_t len;

	snprintf(what, sizeof(what), "files[%zu]", k);
	if (!json_is_object(f))
		return fail(reason, "field %s: not an object", what);
	snprintf(what, sizeof(what), "files[%zu].name", k);
	if (want_str(json_object_get(f, "name"), what, &s, &len, reason) < 0)
		return -1;
	if (!file_name_valid(s, len))
		return fail(reason,
		            "field %s: not a safe file name (*.ndb, *.hdb, *.hsb, *.sha256)", what);
	out->name = xstrndup(s, len);

	snprintf(what, sizeof(what), "files[%zu].sha256", k);
	if (want_str(json_object_get(f, "sha256"), what, &s, &len, reason) < 0)
		return -1;
	if (hex32(s, len, out->sha256) < 0)
		return fail(reason, "field %s: not 64 hex digits", what);

	data = json_object_get(f, "data");
	url = json_object_get(f, "url");
	if (data != NULL && url != NULL)
		return fail(reason, "field files[%zu]: both data and url", k);
	if (data == NULL && url == NULL)
		return fail(reason, "field files[%zu]: neither data nor url", k);
	if (url != NULL) {
		snprintf(what, sizeof(what), "files[%zu].url", k);
		if (want_str(url, what, &s, &len, reason) < 0)
			return -1;
		if (!url_valid(s, len))
			return fail(reason, "field %s: not an http(s) URL", what);
		out->url = xstrndup(s, len);
		return 0;
	}
	snprintf(what, sizeof(what), "files[%zu].data", k);
	if (want_str(data, what, &s, &len, reason) < 0)
		return -1;
	if ((out->data = b64_decode(s, len, &out->len)) == NULL)
		return fail(reason, "field %s: bad base64", what);
	{
		uint8_t md[32];

		sha256(out->data, out->len, md);
		if (memcmp(md, out->sha256, 32) != 0)
			return fail(reason, "field %s: SHA-256 does not match files[%zu].sha256",
			            what, k);
	}
	return 0;
}

static int
parse_update(json_t *doc, struct omsg *m, char **reason)
{
	json_t *a;

	if (parse_viruses(doc, OMSG_UPDATE_VIRUSES_MAX, m, reason) < 0)
		return -1;
	a = json_object_get(doc, "files");
	if (want_array(a, "files", 1, OMSG_FILES_MAX, reason) < 0)
		return -1;
	m->files = xcalloc(json_array_size(a), sizeof(*m->files));
	for (size_t k = 0; k < json_array_size(a); k++) {
		m->nfiles = k + 1; /* so that omsg_clear() frees a half-filled one */
		if (parse_file(json_array_get(a, k), k, &m->files[k], reason) < 0)
			return -1;
		for (size_t j = 0; j < k; j++)
			if (strcmp(m->files[j].name, m->files[k].name) == 0)
				return fail(reason,
				            "field files[%zu].name: same as files[%zu].name", k, j);
	}
	return 0;
}

static int
parse_receipt(json_t *doc, struct omsg *m, char **reason)
{
	static const char *const states[] = {"sealed", "open", NULL};
	int64_t v;
	int i;

	if (want_id(json_object_get(doc, "gateway"), "gateway", &m->gateway, reason) < 0 ||
	    want_id(json_object_get(doc, "message"), "message", &m->message, reason) < 0)
		return -1;
	if (want_int(json_object_get(doc, "message_seq"), "message_seq", 0, INT64_MAX, &v, reason) <
	    0)
		return -1;
	m->message_seq = (uint64_t)v;
	if (want_int(json_object_get(doc, "time"), "time", 0, OMSG_TIME_MAX, &m->time, reason) < 0)
		return -1;
	if (want_enum(json_object_get(doc, "state"), "state", states, &i, reason) < 0)
		return -1;
	m->state = xstrdup(states[i]);
	return want_text(json_object_get(doc, "detail"), "detail", OMSG_DETAIL_MAX, &m->detail,
	                 reason);
}

/* "2024-05-01T12:00:00Z" for t (in 0..OMSG_TIME_MAX). */
static void
fmt_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "%" PRId64, t);
}

static int
parse_doc(json_t *doc, time_t now, struct omsg *m, char **reason)
{
	static const char *const types[] = {"alert", "update", "allclear", "receipt", NULL};
	json_t *v;
	int64_t seq;
	int i;

	if (want_enum(json_object_get(doc, "type"), "type", types, &i, reason) < 0)
		return -1;
	m->type = (enum omsg_type)(OMSG_ALERT + i);
	if (want_id(json_object_get(doc, "provider"), "provider", &m->provider, reason) < 0 ||
	    want_id(json_object_get(doc, "id"), "id", &m->id, reason) < 0)
		return -1;
	if (want_int(json_object_get(doc, "seq"), "seq", m->type == OMSG_RECEIPT ? 0 : 1, INT64_MAX,
	             &seq, reason) < 0)
		return -1;
	m->seq = (uint64_t)seq;
	if (want_int(json_object_get(doc, "issued"), "issued", 0, OMSG_TIME_MAX, &m->issued,
	             reason) < 0)
		return -1;
	v = json_object_get(doc, "expires");
	if (v != NULL || m->type == OMSG_ALERT) {
		if (want_int(v, "expires", 0, OMSG_TIME_MAX, &m->expires, reason) < 0)
			return -1;
		if (m->expires <= m->issued)
			return fail(reason, "field expires: not after issued");
	}

	switch (m->type) {
	case OMSG_ALERT:
		if (parse_alert(doc, m, reason) < 0)
			return -1;
		break;
	case OMSG_UPDATE:
		if (parse_update(doc, m, reason) < 0)
			return -1;
		break;
	case OMSG_ALLCLEAR:
		if (want_id(json_object_get(doc, "alert"), "alert", &m->alert, reason) < 0)
			return -1;
		break;
	case OMSG_RECEIPT:
		if (parse_receipt(doc, m, reason) < 0)
			return -1;
		break;
	}

	if (m->expires != 0 && m->expires <= (int64_t)now) {
		char when[32];

		fmt_time(m->expires, when);
		return fail(reason, "expired at %s", when);
	}
	return 0;
}

/* Loads JSON text that must be an object; what names it in reasons. */
static json_t *
load_object(const char *text, size_t len, const char *what, char **reason)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		char msg[JSON_ERROR_TEXT_LENGTH];

		/* jansson quotes the input near the error: printable ASCII only */
		sanitize(jerr.text, msg, sizeof(msg), SAN_SAMPLE);
		fail(reason, "%s: malformed JSON at line %d column %d: %s", what, jerr.line,
		     jerr.column, msg);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		fail(reason, "%s: not a JSON object", what);
		return NULL;
	}
	return root;
}

int
omsg_parse_payload(const char *payload, size_t len, time_t now, struct omsg *out, char **reason)
{
	json_t *doc;
	int rc;

	memset(out, 0, sizeof(*out));
	*reason = NULL;
	if (payload == NULL)
		return fail(reason, "document: none");
	if (len > OMSG_MAX_ENVELOPE)
		return fail(reason, "document: larger than %u bytes", OMSG_MAX_ENVELOPE);
	if ((doc = load_object(payload, len, "document", reason)) == NULL)
		return -1;
	rc = parse_doc(doc, now, out, reason);
	json_decref(doc);
	if (rc < 0) {
		omsg_clear(out);
		return -1;
	}
	out->payload = xmalloc(len + 1);
	memcpy(out->payload, payload, len);
	out->payload[len] = '\0';
	out->payload_len = len;
	sha256(payload, len, out->digest);
	return 0;
}

static int
is_ed25519(EVP_PKEY *key)
{
	return key != NULL && EVP_PKEY_is_a(key, "ED25519");
}

/* 1 if sig is key's signature over the len bytes at data. */
static int
verify_one(EVP_PKEY *key, const unsigned char *sig, const unsigned char *data, size_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (ctx == NULL)
		return 0;
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, sig, OMSG_SIG_LEN, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

int
omsg_open(const struct okeyring *kr, const char *env, size_t len, time_t now, struct omsg *out,
          char **reason)
{
	unsigned char *sig = NULL, *payload = NULL;
	size_t siglen = 0, plen = 0;
	json_t *root;
	const char *s;
	size_t slen;
	int ok = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	*reason = NULL;
	if (env == NULL)
		return fail(reason, "envelope: none");
	if (len > OMSG_MAX_ENVELOPE)
		return fail(reason, "envelope: larger than %u bytes", OMSG_MAX_ENVELOPE);
	if ((root = load_object(env, len, "envelope", reason)) == NULL)
		return -1;
	if (want_str(json_object_get(root, "signature"), "signature", &s, &slen, reason) < 0)
		goto out;
	if ((sig = b64_decode(s, slen, &siglen)) == NULL || siglen != OMSG_SIG_LEN) {
		fail(reason, "field signature: not %d bytes in base64", OMSG_SIG_LEN);
		goto out;
	}
	if (want_str(json_object_get(root, "payload"), "payload", &s, &slen, reason) < 0)
		goto out;
	if ((payload = b64_decode(s, slen, &plen)) == NULL) {
		fail(reason, "field payload: bad base64");
		goto out;
	}
	if (kr == NULL || kr->n == 0) {
		fail(reason, "no public key to verify with");
		goto out;
	}
	for (size_t i = 0; i < kr->n && !ok; i++)
		ok = verify_one(kr->keys[i], sig, payload, plen);
	if (!ok) {
		fail(reason, "bad signature");
		goto out;
	}
	rc = omsg_parse_payload((const char *)payload, plen, now, out, reason);
out:
	json_decref(root);
	free(sig);
	free(payload);
	return rc;
}

void
omsg_clear(struct omsg *m)
{
	if (m == NULL)
		return;
	free(m->provider);
	free(m->id);
	for (size_t i = 0; i < m->nviruses; i++)
		free(m->viruses[i]);
	free(m->viruses);
	free(m->sha256);
	free(m->name);
	for (size_t i = 0; i < m->nfiles; i++) {
		free(m->files[i].name);
		free(m->files[i].data);
		free(m->files[i].url);
	}
	free(m->files);
	free(m->alert);
	free(m->gateway);
	free(m->message);
	free(m->state);
	free(m->detail);
	free(m->payload);
	memset(m, 0, sizeof(*m));
}

char *
omsg_seal(EVP_PKEY *key, const char *payload, size_t len, char **err)
{
	unsigned char sig[OMSG_SIG_LEN];
	size_t siglen = sizeof(sig);
	char *p64, *s64, *env;
	EVP_MD_CTX *ctx;
	int ok;

	*err = NULL;
	if (!is_ed25519(key)) {
		*err = xstrdup("not an Ed25519 key");
		return NULL;
	}
	if (payload == NULL)
		payload = "";
	/* base64 grows by 4/3; the rest of the envelope is < 150 bytes */
	if (len > (OMSG_MAX_ENVELOPE - 256) / 4 * 3) {
		*err = xasprintf("payload too large for an envelope (%zu bytes)", len);
		return NULL;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		*err = ssl_error("EVP_MD_CTX_new");
		return NULL;
	}
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	     EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)payload, len) == 1 &&
	     siglen == OMSG_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		*err = ssl_error("signing failed");
		return NULL;
	}
	p64 = b64_encode((const unsigned char *)payload, len);
	s64 = b64_encode(sig, siglen);
	/* base64 needs no JSON escaping */
	env = xasprintf("{\"payload\":\"%s\",\"signature\":\"%s\"}", p64, s64);
	free(p64);
	free(s64);
	return env;
}

/* Sets a member to a new reference; jansson only fails on allocation. */
static void
put(json_t *o, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		abort();
}

char *
omsg_receipt(EVP_PKEY *key, const char *gateway, const struct omsg *m, time_t now,
             const char *state, const char *detail, char **err)
{
	char rid[OMSG_ID_MAX + 1], *doc, *env, *reason;
	struct omsg check;
	json_t *o;

	*err = NULL;
	if (m == NULL || m->provider == NULL || m->id == NULL) {
		*err = xstrdup("receipt: no message to answer");
		return NULL;
	}
	if (gateway == NULL || !id_valid(gateway, strlen(gateway))) {
		*err = xasprintf("receipt: gateway ID not 1..%d of [A-Za-z0-9._-]", OMSG_ID_MAX);
		return NULL;
	}
	if (state == NULL || (strcmp(state, "sealed") != 0 && strcmp(state, "open") != 0)) {
		*err = xstrdup("receipt: state must be sealed or open");
		return NULL;
	}
	if (now < 0 || (int64_t)now > OMSG_TIME_MAX) {
		*err = xstrdup("receipt: time out of range");
		return NULL;
	}
	/* "r-GATEWAY-MESSAGE", or a hash of the two when that is too long */
	if (snprintf(rid, sizeof(rid), "r-%s-%s", gateway, m->id) >= (int)sizeof(rid)) {
		uint8_t md[32];
		char *both = xasprintf("%s\n%s", gateway, m->id);

		sha256(both, strlen(both), md);
		free(both);
		memcpy(rid, "r-", 2);
		hex_encode(md, 16, rid + 2); /* 32 digits */
	}

	o = json_object();
	if (o == NULL)
		abort();
	put(o, "type", json_string("receipt"));
	put(o, "provider", json_string(m->provider));
	put(o, "id", json_string(rid));
	put(o, "seq", json_integer(0));
	put(o, "issued", json_integer((json_int_t)now));
	put(o, "gateway", json_string(gateway));
	put(o, "message", json_string(m->id));
	put(o, "message_seq", json_integer((json_int_t)m->seq));
	put(o, "time", json_integer((json_int_t)now));
	put(o, "state", json_string(state));
	if (detail != NULL) {
		size_t cap = strlen(detail) + 1;
		char *clean;

		if (cap > OMSG_DETAIL_MAX + 1)
			cap = OMSG_DETAIL_MAX + 1;
		clean = xmalloc(cap);
		sanitize(detail, clean, cap, SAN_VALUE);
		put(o, "detail", json_string(clean));
		free(clean);
	}
	doc = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (doc == NULL)
		abort();
	/* What we sign must be what the provider's omsg_open() accepts. */
	if (omsg_parse_payload(doc, strlen(doc), now, &check, &reason) < 0) {
		*err = xasprintf("receipt: %s", reason);
		free(reason);
		free(doc);
		return NULL;
	}
	omsg_clear(&check);
	env = omsg_seal(key, doc, strlen(doc), err);
	free(doc);
	return env;
}

/* ---- keys ---- */

/* Never asks for a pass phrase (the default would read the terminal). */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *
okey_load_private(const char *path, char **err)
{
	EVP_PKEY *key;
	BIO *bio;

	*err = NULL;
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		*err = xasprintf("%s: %s", path, strerror(errno ? errno : ENOENT));
		ERR_clear_error();
		return NULL;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key == NULL) {
		char *e = ssl_error("no PEM private key");

		*err = xasprintf("%s: %s", path, e);
		free(e);
		return NULL;
	}
	if (!is_ed25519(key)) {
		EVP_PKEY_free(key);
		*err = xasprintf("%s: not an Ed25519 key", path);
		return NULL;
	}
	return key;
}

int
okey_public_hex(EVP_PKEY *key, char hex_out[65])
{
	uint8_t raw[OMSG_KEY_LEN];
	size_t len = sizeof(raw);

	hex_out[0] = '\0';
	if (!is_ed25519(key) || EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 ||
	    len != OMSG_KEY_LEN) {
		ERR_clear_error();
		return -1;
	}
	hex_encode(raw, sizeof(raw), hex_out);
	return 0;
}

/* Parses key text (64 hex digits or a PEM public key); NULL if it is neither. */
static EVP_PKEY *
key_from_text(const char *text, size_t len, int *looked_like_key, char **err)
{
	uint8_t raw[OMSG_KEY_LEN];
	EVP_PKEY *key;
	BIO *bio;
	size_t a = 0, b = len;

	*looked_like_key = 0;
	while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r' || text[a] == '\n'))
		a++;
	while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r' ||
	                 text[b - 1] == '\n'))
		b--;
	if (b - a == 2 * OMSG_KEY_LEN && hex_decode(text + a, OMSG_KEY_LEN, raw) == 0) {
		*looked_like_key = 1;
		key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
		if (key == NULL)
			*err = ssl_error("bad Ed25519 public key");
		return key;
	}
	if (b - a < 10 || memcmp(text + a, "-----BEGIN", 10) != 0)
		return NULL;
	*looked_like_key = 1;
	if ((bio = BIO_new_mem_buf(text + a, (int)(b - a))) == NULL) {
		*err = ssl_error("BIO_new_mem_buf");
		return NULL;
	}
	key = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key == NULL) {
		*err = ssl_error("no PEM public key");
		return NULL;
	}
	if (!is_ed25519(key)) {
		EVP_PKEY_free(key);
		*err = xstrdup("not an Ed25519 key");
		return NULL;
	}
	return key;
}

/* Reads a key file whole (at most OKEY_FILE_MAX bytes); NUL-terminated. */
static char *
read_key_file(const char *path, size_t *len, char **err)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > OKEY_FILE_MAX) {
		*err = xasprintf("%s: not a key (64 hex digits, a PEM public key, or a file "
		                 "holding either)",
		                 path);
		close(fd);
		return NULL;
	}
	buf = xmalloc(OKEY_FILE_MAX + 1);
	n = pread_full(fd, buf, OKEY_FILE_MAX, 0);
	close(fd);
	if (n < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

int
okeyring_add(struct okeyring *kr, const char *text_or_path, char **err)
{
	EVP_PKEY *key;
	int looked;

	*err = NULL;
	if (text_or_path == NULL || *text_or_path == '\0') {
		*err = xstrdup("empty key");
		return -1;
	}
	key = key_from_text(text_or_path, strlen(text_or_path), &looked, err);
	if (key == NULL && !looked) {
		size_t len;
		char *buf = read_key_file(text_or_path, &len, err);
		char *e = NULL;

		if (buf == NULL)
			return -1;
		key = key_from_text(buf, len, &looked, &e);
		free(buf);
		if (key == NULL) {
			*err = xasprintf(
			    "%s: %s", text_or_path,
			    e != NULL ? e : "not a key (64 hex digits or a PEM public key)");
			free(e);
			return -1;
		}
	}
	if (key == NULL)
		return -1;
	kr->keys = xrealloc(kr->keys, (kr->n + 1) * sizeof(*kr->keys));
	kr->keys[kr->n++] = key;
	return 0;
}

void
okeyring_free(struct okeyring *kr)
{
	if (kr == NULL)
		return;
	for (size_t i = 0; i < kr->n; i++)
		EVP_PKEY_free(kr->keys[i]);
	free(kr->keys);
	kr->keys = NULL;
	kr->n = 0;
}

/* Writes the PEM form of key (private or public) to a new file; 0 or -1. */
static int
write_pem(const char *path, EVP_PKEY *key, int private, char **err)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
	mode_t mode = private ? 0600 : 0644;
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	int fd, ok;

	if (bio == NULL) {
		*err = ssl_error("BIO_new");
		return -1;
	}
	ok = private ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
	             : PEM_write_bio_PUBKEY(bio, key);
	if (ok != 1 || (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		*err = ssl_error("PEM encoding failed");
		BIO_free(bio);
		return -1;
	}
	flags |= private ? O_EXCL : O_TRUNC;
	if ((fd = open(path, flags, mode)) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		BIO_free(bio);
		return -1;
	}
	/* exactly mode, whatever the umask */
	if (fchmod(fd, mode) < 0 || write_all(fd, pem, (size_t)len) < 0 || fsync(fd) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		BIO_free(bio);
		return -1;
	}
	BIO_free(bio);
	if (close(fd) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int
okey_generate(const char *priv_path, const char *pub_path, char hex_out[65], char **err)
{
	EVP_PKEY *key;

	*err = NULL;
	hex_out[0] = '\0';
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		*err = ssl_error("Ed25519 key generation failed");
		return -1;
	}
	if (write_pem(priv_path, key, 1, err) < 0) {
		EVP_PKEY_free(key);
		return -1;
	}
	if (write_pem(pub_path, key, 0, err) < 0 || okey_public_hex(key, hex_out) < 0) {
		if (*err == NULL)
			*err = xstrdup("no public key");
		unlink(priv_path); /* ours: created with O_EXCL above */
		EVP_PKEY_free(key);
		return -1;
	}
	EVP_PKEY_free(key);
	return 0;
}

const char *
omsg_type_name(enum omsg_type t)
{
	switch (t) {
	case OMSG_ALERT:
		return "alert";
	case OMSG_UPDATE:
		return "update";
	case OMSG_ALLCLEAR:
		return "allclear";
	case OMSG_RECEIPT:
		return "receipt";
	}
	return "unknown";
}

const char *
omsg_mode_name(enum omsg_mode m)
{
	switch (m) {
	case OMODE_HOLD:
		return "hold";
	case OMODE_HOLD_ATTACHMENTS:
		return "hold_attachments";
	case OMODE_HASH:
		return "hash";
	}
	return "unknown";
}

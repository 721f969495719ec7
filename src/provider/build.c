/*
 * build: the provider's documents as JSON (jansson), checked by
 * omsg_parse_payload() exactly as a gateway checks them, signed by
 * omsg_seal(). Update files are checked by sigdb's loaders with a line
 * callback, so a file the gateway would load only in part is refused here.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "outbreak/omsg.h"
#include "provider/build.h"
#include "scan/sigdb.h"
#include "util/strbuf.h"
#include "util/strutil.h"
#include "util/sys.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define DEFAULT_TTL (24 * 3600)

struct build_file {
	char *path, *name; /* as given; base name (the name in the document) */
	char *data;
	size_t len;
	char sha256[65];
};

struct build_files {
	struct build_file *f;
	size_t n;
	char **names; /* distinct signature names, in order of appearance */
	size_t nnames, names_cap;
};

void
build_doc_clear(struct build_doc *d)
{
	free(d->id);
	free(d->payload);
	free(d->envelope);
	memset(d, 0, sizeof(*d));
}

int
build_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > OMSG_ID_MAX)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/*
 * 1 if every string is valid UTF-8 (jansson would drop one that is not,
 * silently shortening a list or losing a field).
 */
static int
utf8_all(const char *const *v, size_t n, const char *what, char **err)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != NULL && !utf8_valid(v[i], strlen(v[i]))) {
			*err = xasprintf("%s: not valid UTF-8", what);
			return 0;
		}
	return 1;
}

static json_t *
str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/*
 * Serialises doc into out->payload and checks it as a gateway would.
 * Takes doc's reference. 0, or -1 with *err.
 */
static int
finish(json_t *doc, time_t now, struct build_doc *out, char **err)
{
	struct omsg m;
	char *reason = NULL;

	out->payload = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (out->payload == NULL) {
		*err = xstrdup("cannot encode the document (invalid UTF-8 in a field?)");
		return -1;
	}
	out->payload_len = strlen(out->payload);
	if (omsg_parse_payload(out->payload, out->payload_len, now, &m, &reason) < 0) {
		*err = xasprintf("the document would be refused: %s", reason);
		free(reason);
		return -1;
	}
	omsg_clear(&m);
	return 0;
}

/* The fields every document starts with. */
static json_t *
doc_head(const char *type, const char *provider, const char *id, uint64_t seq, time_t now)
{
	json_t *d = json_object();

	json_object_set_new(d, "type", json_string(type));
	json_object_set_new(d, "provider", json_string(provider));
	json_object_set_new(d, "id", json_string(id));
	json_object_set_new(d, "seq", json_integer((json_int_t)seq));
	json_object_set_new(d, "issued", json_integer((json_int_t)now));
	return d;
}

/* Checks provider and id (the caller's flags) before anything is built. */
static int
head_ok(const char *provider, const char *id, char **err)
{
	if (!build_name_ok(provider)) {
		*err = xasprintf("provider name \"%.80s\": 1..64 of [A-Za-z0-9._-]", provider);
		return -1;
	}
	if (!build_name_ok(id)) {
		*err = xasprintf("ID \"%.80s\": 1..64 of [A-Za-z0-9._-]", id);
		return -1;
	}
	return 0;
}

int
build_alert(const struct build_alert *a, const char *provider, uint64_t seq, time_t now,
            struct build_doc *out, char **err)
{
	static const char *const both[] = {"smtp", "ftp"};
	int64_t ttl = a->ttl > 0 ? a->ttl : DEFAULT_TTL;
	json_t *d, *scope, *hashes;

	memset(out, 0, sizeof(*out));
	out->type = "alert";
	out->id = a->id ? xstrdup(a->id) : xasprintf("A-%llu", (unsigned long long)seq);
	out->seq = seq;
	out->issued = now;
	out->expires = now + ttl;
	if (head_ok(provider, out->id, err) < 0)
		goto fail;
	{
		const char *one[] = {a->mode, a->direction, a->name};

		if (!utf8_all(a->viruses, a->nviruses, "virus", err) ||
		    !utf8_all(a->sha256, a->nsha256, "sha256", err) ||
		    !utf8_all(a->protocols, a->nprotocols, "protocol", err) ||
		    !utf8_all(one, 3, "mode, direction or name", err))
			goto fail;
	}
	d = doc_head("alert", provider, out->id, seq, now);
	json_object_set_new(d, "expires", json_integer((json_int_t)out->expires));
	json_object_set_new(d, "viruses", str_array(a->viruses, a->nviruses));
	json_object_set_new(d, "mode", json_string(a->mode ? a->mode : "hold"));
	scope = json_object();
	json_object_set_new(scope, "direction",
	                    json_string(a->direction ? a->direction : "inbound"));
	json_object_set_new(scope, "protocols",
	                    a->nprotocols ? str_array(a->protocols, a->nprotocols)
	                                  : str_array(both, 2));
	json_object_set_new(d, "scope", scope);
	if (a->nsha256 > 0) {
		hashes = json_array();
		for (size_t i = 0; i < a->nsha256; i++) {
			char *h = xstrdup(a->sha256[i]);

			for (char *p = h; *p; p++)
				if (*p >= 'A' && *p <= 'F')
					*p = (char)(*p - 'A' + 'a');
			json_array_append_new(hashes, json_string(h));
			free(h);
		}
		json_object_set_new(d, "sha256", hashes);
	}
	if (a->name != NULL)
		json_object_set_new(d, "name", json_string(a->name));
	if (finish(d, now, out, err) < 0)
		goto fail;
	return 0;
fail:
	build_doc_clear(out);
	return -1;
}

int
build_allclear(const char *alert, const char *id, const char *provider, uint64_t seq, time_t now,
               struct build_doc *out, char **err)
{
	json_t *d;

	memset(out, 0, sizeof(*out));
	out->type = "allclear";
	out->id = id ? xstrdup(id) : xasprintf("C-%llu", (unsigned long long)seq);
	out->seq = seq;
	out->issued = now;
	if (head_ok(provider, out->id, err) < 0)
		goto fail;
	if (!build_name_ok(alert)) {
		*err = xasprintf("alert ID \"%.80s\": 1..64 of [A-Za-z0-9._-]", alert);
		goto fail;
	}
	d = doc_head("allclear", provider, out->id, seq, now);
	json_object_set_new(d, "alert", json_string(alert));
	if (finish(d, now, out, err) < 0)
		goto fail;
	return 0;
fail:
	build_doc_clear(out);
	return -1;
}

/* ---- update files ---- */

struct problems {
	struct sbuf sb;
	size_t n;
};

static void note_problem(struct problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note_problem(struct problems *p, const char *fmt, ...)
{
	va_list ap;
	char *s;

	p->n++;
	if (p->n > BUILD_MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	if (p->n > 1)
		sb_adds(&p->sb, "\n");
	sb_adds(&p->sb, s);
	free(s);
}

static void
bad_line(void *arg, const char *origin, size_t lineno, const char *why)
{
	note_problem(arg, "%s:%zu: %s", origin, lineno, why);
}

/* The extension of name if it is one an update may carry, else NULL. */
static const char *
sig_ext(const char *name)
{
	static const char *const exts[] = {"ndb", "hdb", "hsb", "sha256"};
	const char *dot = strrchr(name, '.');

	if (dot == NULL || dot == name)
		return NULL;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcmp(dot + 1, exts[i]) == 0)
			return exts[i];
	return NULL;
}

/* Reads path (a regular file of at most BUILD_MAX_SIGFILE bytes). */
static int
read_sigfile(struct build_file *bf, struct problems *p)
{
	char *err = NULL;
	int r = read_file_small(bf->path, BUILD_MAX_SIGFILE, 0, &bf->data, &bf->len, &err);

	if (r == 0)
		return 0;
	if (r > 0)
		note_problem(p, "%s: %s", bf->path, strerror(ENOENT));
	else
		note_problem(p, "%s", err);
	free(err);
	return -1;
}

static void
add_name(struct build_files *f, const char *name)
{
	for (size_t i = 0; i < f->nnames; i++)
		if (strcmp(f->names[i], name) == 0)
			return;
	f->names = xgrow(f->names, &f->names_cap, f->nnames + 1, sizeof(*f->names));
	f->names[f->nnames++] = xstrdup(name);
}

struct build_files *
build_files_load(const char *const *paths, size_t n, char **err)
{
	struct build_files *f = xcalloc(1, sizeof(*f));
	struct problems p;
	struct sigdb *db;

	memset(&p, 0, sizeof(p));
	if (n == 0 || n > 64) {
		*err = xasprintf("an update carries 1..64 files, not %zu", n);
		free(f);
		return NULL;
	}
	f->f = xcalloc(n, sizeof(*f->f));
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		struct build_file *bf = &f->f[i];
		const char *base = strrchr(paths[i], '/'), *ext;
		unsigned char md[32];
		unsigned int mdlen = 0;

		bf->path = xstrdup(paths[i]);
		bf->name = xstrdup(base ? base + 1 : paths[i]);
		if (!build_name_ok(bf->name) || bf->name[0] == '.' ||
		    (ext = sig_ext(bf->name)) == NULL) {
			note_problem(&p,
			             "%s: the name must be 1..64 of [A-Za-z0-9._-] ending in"
			             " .ndb, .hdb, .hsb or .sha256",
			             paths[i]);
			continue;
		}
		for (size_t j = 0; j < i; j++)
			if (f->f[j].name && strcmp(f->f[j].name, bf->name) == 0)
				note_problem(&p, "%s: a second file named %s", paths[i], bf->name);
		if (read_sigfile(bf, &p) < 0)
			continue;
		db = sigdb_new();
		sigdb_set_line_fn(db, bad_line, &p);
		if (sigdb_load_buffer(db, paths[i], ext, bf->data, bf->len) <= 0)
			note_problem(&p, "%s: no signature in the file", paths[i]);
		for (size_t k = 0; k < sigdb_ndb_count(db); k++)
			add_name(f, sigdb_ndb(db, k)->name);
		for (size_t k = 0; k < sigdb_hash_count(db); k++)
			add_name(f, sigdb_hash(db, k)->name);
		sigdb_free(db);
		if (EVP_Digest(bf->data, bf->len, md, &mdlen, EVP_sha256(), NULL) != 1) {
			note_problem(&p, "%s: SHA-256 failed", paths[i]);
			continue;
		}
		hex_encode(md, 32, bf->sha256);
		bf->sha256[64] = '\0';
	}
	if (p.n > 0) {
		if (p.n > BUILD_MAX_PROBLEMS)
			sb_addf(&p.sb, "\n(%zu more problems)", p.n - BUILD_MAX_PROBLEMS);
		*err = sb_take(&p.sb);
		build_files_free(f);
		return NULL;
	}
	free(p.sb.s);
	return f;
}

void
build_files_free(struct build_files *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->f[i].path);
		free(f->f[i].name);
		free(f->f[i].data);
	}
	for (size_t i = 0; i < f->nnames; i++)
		free(f->names[i]);
	free(f->names);
	free(f->f);
	free(f);
}

size_t
build_files_nnames(const struct build_files *f)
{
	return f->nnames;
}

const char *
build_files_name(const struct build_files *f, size_t i)
{
	return f->names[i];
}

/* Standard base64 with padding, no line breaks (allocated). */
static char *
b64(const char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
	return out;
}

int
build_update(const struct build_files *f, const char *const *viruses, size_t nviruses,
             const char *id, const char *provider, uint64_t seq, time_t now, struct build_doc *out,
             char **err)
{
	json_t *d, *files;

	memset(out, 0, sizeof(*out));
	out->type = "update";
	out->id = id ? xstrdup(id) : xasprintf("U-%llu", (unsigned long long)seq);
	out->seq = seq;
	out->issued = now;
	if (head_ok(provider, out->id, err) < 0 ||
	    (viruses != NULL && !utf8_all(viruses, nviruses, "virus", err)) ||
	    !utf8_all((const char *const *)f->names, f->nnames, "signature name", err))
		goto fail;
	d = doc_head("update", provider, out->id, seq, now);
	if (viruses != NULL)
		json_object_set_new(d, "viruses", str_array(viruses, nviruses));
	else
		json_object_set_new(d, "viruses",
		                    str_array((const char *const *)f->names, f->nnames));
	files = json_array();
	for (size_t i = 0; i < f->n; i++) {
		json_t *e = json_object();
		char *data = b64(f->f[i].data, f->f[i].len);

		json_object_set_new(e, "name", json_string(f->f[i].name));
		json_object_set_new(e, "sha256", json_string(f->f[i].sha256));
		json_object_set_new(e, "data", json_string(data));
		free(data);
		json_array_append_new(files, e);
	}
	json_object_set_new(d, "files", files);
	if (finish(d, now, out, err) < 0)
		goto fail;
	return 0;
fail:
	build_doc_clear(out);
	return -1;
}

int
build_sign(EVP_PKEY *key, struct build_doc *d, char **err)
{
	free(d->envelope);
	d->envelope = omsg_seal(key, d->payload, d->payload_len, err);
	if (d->envelope == NULL)
		return -1;
	if (strlen(d->envelope) > OMSG_MAX_ENVELOPE) {
		*err = xasprintf("the envelope has %zu bytes, more than %u", strlen(d->envelope),
		                 OMSG_MAX_ENVELOPE);
		free(d->envelope);
		d->envelope = NULL;
		return -1;
	}
	return 0;
}

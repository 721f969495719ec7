/*
 * sigdb: signature files -> parsed signatures and per-type counts. Owns the
 * line parsers of .ndb, .hdb, .hsb and .sha256, the directory walk and the
 * bookkeeping of what was loaded, skipped as unsupported, or bad. The hex
 * signature grammar is ndb.c's; the .cvd/.cld container is cvd.c's.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scan/cvd.h"
#include "scan/ndb.h"
#include "scan/sigdb.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"

enum ftype { FT_NDB, FT_HDB, FT_HSB, FT_SHA256, FT_UNSUPPORTED, FT_CVD, FT_UNKNOWN };

struct sigdb_type {
	char ext[16];
	int supported;
	struct sigdb_counts c;
};

struct sigdb_reason {
	char *why;
	size_t n;
};

struct sigdb {
	struct ndb_sig *ndb;
	uint8_t *rejected; /* parallel to ndb */
	size_t nndb, ndb_cap, rej_cap;
	struct hash_sig *hash;
	size_t nhash, hash_cap;
	struct sigdb_type *types;
	size_t ntypes, types_cap;
	struct sigdb_reason *reasons; /* unsupported body signatures, by reason */
	size_t nreasons, reasons_cap;
	sigdb_line_fn line_fn; /* lines not loaded, for the caller (may be NULL) */
	void *line_arg;
};

struct sigdb_text {
	struct sigdb *db;
	char *origin;
	enum ftype ft;
	size_t type; /* index into db->types */
	char *line;
	size_t len, cap;
	size_t lineno;
	int overlong; /* the current line passed SIGDB_MAX_LINE: drop it */
	size_t added, warned;
};

/* ClamAV database types we recognise but do not load. */
static const char *const unsupported_exts[] = {
    "ldb",  "ldu", "mdb",  "mdu", "msb",  "msu", "hdu", "hsu",  "ndu", "cbc",
    "cdb",  "cfg", "crb",  "cat", "fp",   "sfp", "ftm", "gdb",  "idb", "ign",
    "ign2", "imp", "info", "pdb", "pwdb", "wdb", "yar", "yara", "zmd", "rmd",
};

/* Lower-case extension of the base name of path into out; "" if none. */
static void
file_ext(const char *path, char *out, size_t outlen)
{
	const char *base = strrchr(path, '/'), *dot;
	size_t n;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	out[0] = '\0';
	if (dot == NULL || dot == base || (n = strlen(dot + 1)) >= outlen)
		return;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)dot[1 + i]);
}

/* Maps a lower-case extension to what we do with such a file. */
static enum ftype
classify(const char *ext)
{
	if (strcmp(ext, "ndb") == 0)
		return FT_NDB;
	if (strcmp(ext, "hdb") == 0)
		return FT_HDB;
	if (strcmp(ext, "hsb") == 0)
		return FT_HSB;
	if (strcmp(ext, "sha256") == 0)
		return FT_SHA256;
	if (strcmp(ext, "cvd") == 0 || strcmp(ext, "cld") == 0)
		return FT_CVD;
	for (size_t i = 0; i < sizeof(unsupported_exts) / sizeof(unsupported_exts[0]); i++)
		if (strcmp(ext, unsupported_exts[i]) == 0)
			return FT_UNSUPPORTED;
	return FT_UNKNOWN;
}

struct sigdb *
sigdb_new(void)
{
	return xcalloc(1, sizeof(struct sigdb));
}

/* Frees the strings of one body signature. */
static void
ndb_sig_clear(struct ndb_sig *s)
{
	free(s->name);
	free(s->hexsig);
	free(s->origin);
}

void
sigdb_free(struct sigdb *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->nndb; i++)
		ndb_sig_clear(&db->ndb[i]);
	for (size_t i = 0; i < db->nhash; i++)
		free(db->hash[i].name);
	for (size_t i = 0; i < db->nreasons; i++)
		free(db->reasons[i].why);
	free(db->ndb);
	free(db->rejected);
	free(db->hash);
	free(db->types);
	free(db->reasons);
	free(db);
}

/* Returns the index of the counts row of ext, adding it if new. */
static size_t
type_row(struct sigdb *db, const char *ext)
{
	enum ftype ft;

	for (size_t i = 0; i < db->ntypes; i++)
		if (strcmp(db->types[i].ext, ext) == 0)
			return i;
	db->types = xgrow(db->types, &db->types_cap, db->ntypes + 1, sizeof(*db->types));
	memset(&db->types[db->ntypes], 0, sizeof(db->types[0]));
	snprintf(db->types[db->ntypes].ext, sizeof(db->types[0].ext), "%s", ext[0] ? ext : "none");
	ft = classify(ext);
	db->types[db->ntypes].supported =
	    ft == FT_NDB || ft == FT_HDB || ft == FT_HSB || ft == FT_SHA256;
	return db->ntypes++;
}

/* Adds n to the count of body signatures unsupported for `why` (copied). */
static void
count_reason(struct sigdb *db, const char *why, size_t n)
{
	for (size_t i = 0; i < db->nreasons; i++)
		if (strcmp(db->reasons[i].why, why) == 0) {
			db->reasons[i].n += n;
			return;
		}
	db->reasons = xgrow(db->reasons, &db->reasons_cap, db->nreasons + 1, sizeof(*db->reasons));
	db->reasons[db->nreasons].why = xstrdup(why);
	db->reasons[db->nreasons].n = n;
	db->nreasons++;
}

/* Appends s (its strings now owned by db). */
static void
add_ndb(struct sigdb *db, const struct ndb_sig *s)
{
	db->ndb = xgrow(db->ndb, &db->ndb_cap, db->nndb + 1, sizeof(*db->ndb));
	db->rejected = xgrow(db->rejected, &db->rej_cap, db->nndb + 1, 1);
	db->ndb[db->nndb] = *s;
	db->rejected[db->nndb] = 0;
	db->nndb++;
}

/* Appends h (its name now owned by db). */
static void
add_hash(struct sigdb *db, const struct hash_sig *h)
{
	db->hash = xgrow(db->hash, &db->hash_cap, db->nhash + 1, sizeof(*db->hash));
	db->hash[db->nhash++] = *h;
}

/* Splits s in place at sep into at most max fields; returns the count (max+1 if more). */
static size_t
split(char *s, int sep, char **f, size_t max)
{
	size_t n = 0;

	for (;;) {
		char *e = strchr(s, sep);

		if (n == max)
			return max + 1;
		f[n++] = s;
		if (e == NULL)
			return n;
		*e = '\0';
		s = e + 1;
	}
}

/* 1 if s is a non-empty string of decimal digits. */
static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Checks a signature name: printable, no space, bounded. NULL or a message. */
static const char *
check_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "empty signature name";
	if (n > SIGDB_MAX_NAME)
		return "signature name too long";
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return "signature name has a space or non-printable character";
	return NULL;
}

/* Checks the optional min/max functionality level fields (ignored). */
static const char *
check_flevels(char **f, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		if (f[i][0] != '\0' && !all_digits(f[i]))
			return "functionality level is not a number";
	return NULL;
}

/* name:target:offset:hexsig[:minflevel[:maxflevel]] */
static int
parse_ndb(struct sigdb_text *t, char *line, char *err, size_t errlen)
{
	struct ndb_sig sig;
	struct ndb_expr e;
	char *f[7];
	const char *msg;
	uint64_t target = 0;
	const char *p;
	size_t n;
	int rc;

	n = split(line, ':', f, 6);
	if (n < 4 || n > 6) {
		snprintf(err, errlen,
		         "expected name:target:offset:hexsig[:min[:max]], got %zu fields",
		         n > 6 ? (size_t)7 : n);
		return NDB_BAD;
	}
	memset(&sig, 0, sizeof(sig));
	if ((msg = check_name(f[0])) != NULL || (msg = check_flevels(f, 4, n)) != NULL) {
		snprintf(err, errlen, "%s", msg);
		return NDB_BAD;
	}
	p = f[1];
	if (!all_digits(f[1]) || strlen(f[1]) > 3 || (target = strtoull(p, NULL, 10)) > 31) {
		snprintf(err, errlen, "bad target type \"%.20s\"", f[1]);
		return NDB_BAD;
	}
	sig.target = (unsigned)target;
	if ((rc = ndb_parse_offset(f[2], &sig, err, errlen)) != NDB_OK)
		return rc;
	sig.hexsig = f[3];
	if ((rc = ndb_translate(&sig, &e, err, errlen)) != NDB_OK)
		return rc;
	ndb_expr_free(&e);
	sig.name = xstrdup(f[0]);
	sig.hexsig = xstrdup(f[3]);
	sig.origin = xasprintf("%s:%zu", t->origin, t->lineno);
	add_ndb(t->db, &sig);
	return NDB_OK;
}

/* Decodes a hex digest; the type follows from its length. */
static int
parse_digest(const char *hex, struct hash_sig *h)
{
	size_t n = strlen(hex);

	if (n == 32)
		h->type = HASH_MD5;
	else if (n == 40)
		h->type = HASH_SHA1;
	else if (n == 64)
		h->type = HASH_SHA256;
	else
		return -1;
	return hex_decode(hex, n / 2, h->digest);
}

/* hash:size:name[:minflevel[:maxflevel]] (.hdb and .hsb) */
static int
parse_hash(struct sigdb_text *t, char *line, char *err, size_t errlen)
{
	struct hash_sig h;
	char *f[6];
	const char *msg;
	size_t n;

	n = split(line, ':', f, 5);
	if (n < 3 || n > 5) {
		snprintf(err, errlen, "expected hash:size:name[:min[:max]], got %zu fields",
		         n > 5 ? (size_t)6 : n);
		return NDB_BAD;
	}
	memset(&h, 0, sizeof(h));
	if (parse_digest(f[0], &h) != 0) {
		snprintf(err, errlen, "hash is not 32, 40 or 64 hex digits");
		return NDB_BAD;
	}
	if (strcmp(f[1], "*") == 0) {
		h.size_any = 1;
	} else if (all_digits(f[1]) && strlen(f[1]) <= 18) {
		h.size = strtoull(f[1], NULL, 10);
	} else {
		snprintf(err, errlen, "bad size \"%.30s\"", f[1]);
		return NDB_BAD;
	}
	if ((msg = check_name(f[2])) != NULL || (msg = check_flevels(f, 3, n)) != NULL) {
		snprintf(err, errlen, "%s", msg);
		return NDB_BAD;
	}
	h.name = xstrdup(f[2]);
	add_hash(t->db, &h);
	return NDB_OK;
}

/* <64 hex> <name>, separated by white space or ':' (our outbreak lists) */
static int
parse_sha256(struct sigdb_text *t, char *line, char *err, size_t errlen)
{
	struct hash_sig h;
	char *p = line, *name;
	const char *msg;

	memset(&h, 0, sizeof(h));
	h.type = HASH_SHA256;
	h.size_any = 1;
	for (int i = 0; i < 64; i++)
		if (hexval((unsigned char)p[i]) < 0) {
			snprintf(err, errlen, "expected 64 hex digits of SHA-256");
			return NDB_BAD;
		}
	if (p[64] != ' ' && p[64] != '\t' && p[64] != ':') {
		snprintf(err, errlen,
		         p[64] ? "expected white space or ':' after the hash"
		               : "missing signature name");
		return NDB_BAD;
	}
	hex_decode(p, 32, h.digest);
	p += 64;
	while (*p == ' ' || *p == '\t' || *p == ':')
		p++;
	name = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0') {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0') {
			snprintf(err, errlen, "text after the signature name");
			return NDB_BAD;
		}
	}
	if ((msg = check_name(name)) != NULL) {
		snprintf(err, errlen, "%s", msg);
		return NDB_BAD;
	}
	h.name = xstrdup(name);
	add_hash(t->db, &h);
	return NDB_OK;
}

/* Counts a bad line and logs it as origin:line, up to SIGDB_MAX_WARN per file. */
static void
text_bad(struct sigdb_text *t, const char *msg)
{
	t->db->types[t->type].c.bad++;
	if (t->db->line_fn != NULL)
		t->db->line_fn(t->db->line_arg, t->origin, t->lineno, msg);
	if (t->warned < SIGDB_MAX_WARN)
		log_warnx("%s:%zu: %s", t->origin, t->lineno, msg);
	else if (t->warned == SIGDB_MAX_WARN)
		log_warnx("%s:%zu: further bad lines of this file are counted, not logged",
		          t->origin, t->lineno);
	t->warned++;
}

/* Parses the line accumulated in t->line. */
static void
text_line(struct sigdb_text *t)
{
	struct sigdb_type *ty;
	char err[256], *s, *e;
	int rc = NDB_OK;

	t->lineno++;
	if (t->overlong) {
		t->overlong = 0;
		t->len = 0;
		text_bad(t, "line too long");
		return;
	}
	t->line = xgrow(t->line, &t->cap, t->len + 1, 1);
	t->line[t->len] = '\0';
	if (memchr(t->line, '\0', t->len) != NULL) {
		t->len = 0;
		text_bad(t, "NUL byte in line");
		return;
	}
	t->len = 0;
	s = t->line;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (*s == '\0' || *s == '#')
		return;
	err[0] = '\0';
	switch (t->ft) {
	case FT_NDB:
		rc = parse_ndb(t, s, err, sizeof(err));
		break;
	case FT_HDB:
	case FT_HSB:
		rc = parse_hash(t, s, err, sizeof(err));
		break;
	case FT_SHA256:
		rc = parse_sha256(t, s, err, sizeof(err));
		break;
	default:
		t->db->types[t->type].c.unsupported++;
		return;
	}
	ty = &t->db->types[t->type];
	if (rc == NDB_OK) {
		ty->c.loaded++;
		t->added++;
	} else if (rc == NDB_UNSUPPORTED) {
		ty->c.unsupported++;
		count_reason(t->db, err, 1);
		log_debug("%s:%zu: unsupported: %s", t->origin, t->lineno, err);
		if (t->db->line_fn != NULL) {
			char why[300];

			snprintf(why, sizeof(why), "unsupported: %s", err);
			t->db->line_fn(t->db->line_arg, t->origin, t->lineno, why);
		}
	} else {
		text_bad(t, err);
	}
}

void
sigdb_set_line_fn(struct sigdb *db, sigdb_line_fn fn, void *arg)
{
	db->line_fn = fn;
	db->line_arg = arg;
}

struct sigdb_text *
sigdb_text_begin(struct sigdb *db, const char *origin, const char *ext, int count_unknown)
{
	struct sigdb_text *t;
	enum ftype ft = classify(ext);

	if (ft == FT_CVD)
		ft = FT_UNSUPPORTED; /* a .cvd inside a .cvd: not ours to open */
	if (ft == FT_UNKNOWN) {
		if (!count_unknown)
			return NULL;
		ft = FT_UNSUPPORTED;
	}
	t = xcalloc(1, sizeof(*t));
	t->db = db;
	t->origin = xstrdup(origin);
	t->ft = ft;
	t->type = type_row(db, ext);
	db->types[t->type].c.files++;
	return t;
}

void
sigdb_text_feed(struct sigdb_text *t, const char *buf, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;

		if (!t->overlong && t->len + n > SIGDB_MAX_LINE)
			t->overlong = 1;
		if (!t->overlong) {
			t->line = xgrow(t->line, &t->cap, t->len + n + 1, 1);
			memcpy(t->line + t->len, buf, n);
			t->len += n;
		}
		if (nl == NULL)
			return;
		text_line(t);
		buf += n + 1;
		len -= n + 1;
	}
}

size_t
sigdb_text_end(struct sigdb_text *t)
{
	size_t added;

	if (t->len > 0 || t->overlong)
		text_line(t);
	added = t->added;
	free(t->origin);
	free(t->line);
	free(t);
	return added;
}

int
sigdb_load_buffer(struct sigdb *db, const char *origin, const char *ext, const char *buf,
                  size_t len)
{
	struct sigdb_text *t;
	char lext[16];
	size_t i;

	for (i = 0; ext[i] != '\0' && i + 1 < sizeof(lext); i++)
		lext[i] = (char)tolower((unsigned char)ext[i]);
	lext[i] = '\0';
	if (ext[i] != '\0' || classify(lext) == FT_CVD)
		return -1; /* a .cvd is not text: sigdb_load_cvd() */
	if ((t = sigdb_text_begin(db, origin, lext, 0)) == NULL)
		return -1;
	sigdb_text_feed(t, buf, len);
	return (int)sigdb_text_end(t);
}

/* cvd_sink: each member of a .cvd/.cld is a text file of its own. */
static void *
cvd_member_begin(void *db, const char *origin, const char *ext)
{
	return sigdb_text_begin(db, origin, ext, 1);
}

static void
cvd_member_feed(void *t, const char *buf, size_t len)
{
	sigdb_text_feed(t, buf, len);
}

static size_t
cvd_member_end(void *t)
{
	return sigdb_text_end(t);
}

/* The sink that loads the members of a .cvd/.cld into db. */
static struct cvd_sink
cvd_sink_for(struct sigdb *db)
{
	struct cvd_sink k = {cvd_member_begin, cvd_member_feed, cvd_member_end, db};

	return k;
}

int
sigdb_load_cvd(struct sigdb *db, const char *name, const uint8_t *data, size_t len, int is_cld)
{
	struct cvd_sink k = cvd_sink_for(db);

	return cvd_load(name, data, len, is_cld, &k);
}

int
sigdb_load_file(struct sigdb *db, const char *path)
{
	struct sigdb_text *t;
	struct stat st;
	char ext[16];
	void *map = NULL;
	size_t added;
	int fd;

	file_ext(path, ext, sizeof(ext));
	switch (classify(ext)) {
	case FT_CVD: {
		struct cvd_sink k = cvd_sink_for(db);

		return cvd_load_file(path, &k);
	}
	case FT_UNKNOWN:
		log_warnx("sigdb: %s: unknown signature file type", path);
		return -1;
	default:
		break;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("sigdb: %s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_warnx("sigdb: %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > 0 &&
	    (map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		log_warn("sigdb: %s: mmap", path);
		close(fd);
		return -1;
	}
	close(fd);
	t = sigdb_text_begin(db, path, ext, 0);
	if (map != NULL)
		sigdb_text_feed(t, map, (size_t)st.st_size);
	added = sigdb_text_end(t);
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	log_debug("sigdb: %s: %zu signatures", path, added);
	return 0;
}

/*
 * If dir holds both base.cvd and base.cld, returns 1 when `name` is the one
 * to skip (the older; on a tie the .cvd).
 */
static int
older_twin(const char *dir, const char *name)
{
	char *me, *other;
	size_t n = strlen(name);
	unsigned v_me, v_other;
	int skip = 0;

	me = xasprintf("%s/%s", dir, name);
	other = xasprintf("%s/%.*s%s", dir, (int)(n - 3), name,
	                  str_endswith_ci(name, "cvd") ? "cld" : "cvd");
	if (access(other, F_OK) == 0 && cvd_file_version(other, &v_other) == 0) {
		if (cvd_file_version(me, &v_me) != 0 || v_me < v_other ||
		    (v_me == v_other && str_endswith_ci(name, ".cvd")))
			skip = 1;
		if (skip)
			log_info("sigdb: %s: skipped, %s is newer", me, other);
	}
	free(me);
	free(other);
	return skip;
}

int
sigdb_load_dir(struct sigdb *db, const char *dir)
{
	struct dirent **ents;
	struct stat st;
	char ext[16];
	int n;

	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0) {
		log_warn("sigdb: %s", dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char *path;

		if (name[0] == '.') {
			free(ents[i]);
			continue;
		}
		path = xasprintf("%s/%s", dir, name);
		file_ext(name, ext, sizeof(ext));
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
			log_debug("sigdb: %s: skipped, not a regular file", path);
		} else if (classify(ext) == FT_UNKNOWN) {
			log_info("sigdb: %s: skipped, not a signature file", path);
		} else if (classify(ext) == FT_CVD && older_twin(dir, name)) {
			; /* logged */
		} else {
			(void)sigdb_load_file(db, path);
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
	return 0;
}

size_t
sigdb_ndb_count(const struct sigdb *db)
{
	return db->nndb;
}

const struct ndb_sig *
sigdb_ndb(const struct sigdb *db, size_t i)
{
	return i < db->nndb ? &db->ndb[i] : NULL;
}

int
sigdb_ndb_rejected(const struct sigdb *db, size_t i)
{
	return i < db->nndb ? db->rejected[i] : 1;
}

size_t
sigdb_hash_count(const struct sigdb *db)
{
	return db->nhash;
}

const struct hash_sig *
sigdb_hash(const struct sigdb *db, size_t i)
{
	return i < db->nhash ? &db->hash[i] : NULL;
}

void
sigdb_absorb(struct sigdb *dst, struct sigdb *src)
{
	if (dst == src)
		return;
	for (size_t i = 0; i < src->nndb; i++) {
		add_ndb(dst, &src->ndb[i]);
		dst->rejected[dst->nndb - 1] = src->rejected[i];
	}
	for (size_t i = 0; i < src->nhash; i++)
		add_hash(dst, &src->hash[i]);
	for (size_t i = 0; i < src->ntypes; i++) {
		struct sigdb_counts *d = &dst->types[type_row(dst, src->types[i].ext)].c;
		const struct sigdb_counts *s = &src->types[i].c;

		d->loaded += s->loaded;
		d->unsupported += s->unsupported;
		d->bad += s->bad;
		d->rejected += s->rejected;
		d->files += s->files;
	}
	for (size_t i = 0; i < src->nreasons; i++) {
		count_reason(dst, src->reasons[i].why, src->reasons[i].n);
		free(src->reasons[i].why);
	}
	/* The strings now belong to dst: drop src's arrays only. */
	free(src->ndb);
	free(src->rejected);
	free(src->hash);
	free(src->types);
	free(src->reasons);
	memset(src, 0, sizeof(*src));
}

void
sigdb_copy(struct sigdb *dst, const struct sigdb *src)
{
	for (size_t i = 0; i < src->nndb; i++) {
		struct ndb_sig s = src->ndb[i];

		if (src->rejected[i])
			continue;
		s.name = xstrdup(s.name);
		s.hexsig = xstrdup(s.hexsig);
		s.origin = xstrdup(s.origin);
		add_ndb(dst, &s);
	}
	for (size_t i = 0; i < src->nhash; i++) {
		struct hash_sig h = src->hash[i];

		h.name = xstrdup(h.name);
		add_hash(dst, &h);
	}
}

void
sigdb_reject_ndb(struct sigdb *db, size_t i, const char *why)
{
	if (i >= db->nndb || db->rejected[i])
		return;
	db->rejected[i] = 1;
	db->types[type_row(db, "ndb")].c.rejected++;
	log_warnx("%s: %s: rejected: %s", db->ndb[i].origin, db->ndb[i].name, why);
}

void
sigdb_counts(const struct sigdb *db, const char *ext, struct sigdb_counts *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < db->ntypes; i++)
		if (strcmp(db->types[i].ext, ext) == 0)
			*out = db->types[i].c;
}

size_t
sigdb_unsupported_reason(const struct sigdb *db, const char *reason)
{
	for (size_t i = 0; i < db->nreasons; i++)
		if (strcmp(db->reasons[i].why, reason) == 0)
			return db->reasons[i].n;
	return 0;
}

void
sigdb_log_stats(const struct sigdb *db, const char *label)
{
	const char *sep = label && *label ? " source=" : "";

	label = label && *label ? label : "";
	/* The types we load first, then those we only count. */
	for (size_t k = 0; k < 2 * db->ntypes; k++) {
		const struct sigdb_type *ty = &db->types[k % db->ntypes];
		char rej[48] = "";

		if ((k < db->ntypes) != (ty->supported != 0))
			continue;
		if (ty->c.rejected > 0)
			snprintf(rej, sizeof(rej), " rejected=%zu", ty->c.rejected);
		if (ty->supported)
			log_info("sigdb: %s loaded=%zu unsupported=%zu bad=%zu%s%s%s", ty->ext,
			         ty->c.loaded, ty->c.unsupported, ty->c.bad, rej, sep, label);
		else
			log_info("sigdb: %s unsupported=%zu%s%s", ty->ext, ty->c.unsupported, sep,
			         label);
	}
	for (size_t i = 0; i < db->nreasons; i++)
		log_info("sigdb: ndb unsupported=%zu reason=\"%s\"%s%s", db->reasons[i].n,
		         db->reasons[i].why, sep, label);
}

size_t
sigdb_skipped(const struct sigdb *db)
{
	size_t n = 0;

	for (size_t i = 0; i < db->ntypes; i++)
		n += db->types[i].c.unsupported + db->types[i].c.bad + db->types[i].c.rejected;
	return n;
}

/*
 * seal: the outbreak state in SQLite, mirrored in memory. See seal.h.
 */
#include "outbreak/seal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const char seal_schema[] =
    "CREATE TABLE IF NOT EXISTS providers (name TEXT PRIMARY KEY, last_seq INTEGER);"
    "CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, provider TEXT, seq INTEGER,"
    " mode INTEGER, scope_dir INTEGER, scope_proto INTEGER, viruses TEXT, sha256 TEXT,"
    " name TEXT, issued INTEGER, expires INTEGER, received INTEGER, state TEXT,"
    " ended INTEGER, ended_by TEXT);"
    "CREATE TABLE IF NOT EXISTS viruses (name TEXT PRIMARY KEY, update_id TEXT, time INTEGER);"
    "CREATE TABLE IF NOT EXISTS updates (id TEXT PRIMARY KEY, provider TEXT, seq INTEGER,"
    " viruses TEXT, received INTEGER);";

/* What seal_match() needs of an active alert. */
struct mem_alert {
	char id[OMSG_ID_MAX + 1];
	enum omsg_mode mode;
	unsigned scope_dir, scope_proto;
	int64_t expires;
	int expired; /* found past expiry, not yet written down */
	char name[208];
};

struct seal {
	pthread_mutex_t lock;
	sqlite3 *db;
	struct mem_alert *active;
	size_t nactive, cap;
};

static void
seal_errmsg(struct seal *s, char **err, const char *what)
{
	if (err)
		*err = xasprintf("%s: %s", what, sqlite3_errmsg(s->db));
}

/* Reloads the active alerts from the database. Under the lock. */
static int
load_active(struct seal *s)
{
	sqlite3_stmt *st;
	int rc;

	s->nactive = 0;
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT id, mode, scope_dir, scope_proto, expires, name, viruses"
	                       " FROM alerts WHERE state = 'active' ORDER BY seq",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mem_alert *a;
		const char *name = (const char *)sqlite3_column_text(st, 5);
		const char *vir = (const char *)sqlite3_column_text(st, 6);

		s->active = xgrow(s->active, &s->cap, s->nactive + 1, sizeof(*s->active));
		a = &s->active[s->nactive++];
		memset(a, 0, sizeof(*a));
		snprintf(a->id, sizeof(a->id), "%s", (const char *)sqlite3_column_text(st, 0));
		a->mode = (enum omsg_mode)sqlite3_column_int(st, 1);
		a->scope_dir = (unsigned)sqlite3_column_int(st, 2);
		a->scope_proto = (unsigned)sqlite3_column_int(st, 3);
		a->expires = sqlite3_column_int64(st, 4);
		snprintf(a->name, sizeof(a->name), "%s", name && *name ? name : vir ? vir : "");
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

struct seal *
seal_open(const char *dir, char **err)
{
	struct seal *s = xcalloc(1, sizeof(*s));
	char *path;
	char *msg = NULL;

	*err = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		free(s);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	path = xasprintf("%s/seal.sqlite", dir);
	if (sqlite3_open_v2(path, &s->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
		free(path);
		seal_free(s);
		return NULL;
	}
	sqlite3_busy_timeout(s->db, 10000);
	if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
	                 &msg) != SQLITE_OK ||
	    sqlite3_exec(s->db, seal_schema, NULL, NULL, &msg) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, msg ? msg : "schema");
		sqlite3_free(msg);
		free(path);
		seal_free(s);
		return NULL;
	}
	free(path);
	if (load_active(s) < 0) {
		seal_errmsg(s, err, "loading the alerts");
		seal_free(s);
		return NULL;
	}
	return s;
}

void
seal_free(struct seal *s)
{
	if (s == NULL)
		return;
	if (s->db)
		sqlite3_close(s->db);
	free(s->active);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void
fill_hit(const struct mem_alert *a, struct seal_hit *hit)
{
	snprintf(hit->alert, sizeof(hit->alert), "%s", a->id);
	hit->mode = a->mode;
	snprintf(hit->name, sizeof(hit->name), "%s", a->name);
}

int
seal_match(struct seal *s, unsigned proto, unsigned dir, time_t now, struct seal_hit *hit)
{
	int found = 0;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nactive && !found; i++) {
		struct mem_alert *a = &s->active[i];

		if (a->expired || a->mode == OMODE_HASH)
			continue;
		if (a->expires && a->expires <= now) {
			a->expired = 1;
			log_warnx("outbreak: alert %s expired without a signature; its held items "
			          "stay held (portcullis-ctl outbreak release|lift %s)",
			          a->id, a->id);
			continue;
		}
		if ((a->scope_proto & proto) && (a->scope_dir & dir)) {
			fill_hit(a, hit);
			found = 1;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

int
seal_hash_alert(struct seal *s, const char *virus_name, struct seal_hit *hit)
{
	size_t pl = strlen(SEAL_HASH_PREFIX);
	int found = 0;

	if (s == NULL || strncmp(virus_name, SEAL_HASH_PREFIX, pl) != 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nactive && !found; i++)
		if (s->active[i].mode == OMODE_HASH &&
		    strcmp(s->active[i].id, virus_name + pl) == 0) {
			fill_hit(&s->active[i], hit);
			found = 1;
		}
	pthread_mutex_unlock(&s->lock);
	return found;
}

int
seal_sealed(struct seal *s)
{
	int n = 0;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nactive; i++)
		n += !s->active[i].expired;
	pthread_mutex_unlock(&s->lock);
	return n > 0;
}

static uint64_t
last_seq_locked(struct seal *s, const char *provider)
{
	sqlite3_stmt *st;
	uint64_t seq = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT last_seq FROM providers WHERE name = ?1", -1, &st,
	                       NULL) != SQLITE_OK)
		return UINT64_MAX; /* fail closed: nothing is newer */
	sqlite3_bind_text(st, 1, provider, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return seq;
}

uint64_t
seal_last_seq(struct seal *s, const char *provider)
{
	uint64_t seq;

	pthread_mutex_lock(&s->lock);
	seq = last_seq_locked(s, provider);
	pthread_mutex_unlock(&s->lock);
	return seq;
}

/* Runs one statement with text/int64 arguments: "t" text, "i" int64. */
static int
exec_args(struct seal *s, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	va_start(ap, types);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 't')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
			                  SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	}
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
set_seq(struct seal *s, const struct omsg *m)
{
	return exec_args(s,
	                 "INSERT INTO providers (name, last_seq) VALUES (?1, ?2)"
	                 " ON CONFLICT(name) DO UPDATE SET last_seq = ?2",
	                 "ti", m->provider, (int64_t)m->seq);
}

static char *
join_words(char **w, size_t n)
{
	struct sbuf b = {0};

	for (size_t i = 0; i < n; i++)
		sb_addf(&b, "%s%s", i ? " " : "", w[i]);
	return sb_take(&b);
}

static char *
join_hashes(const uint8_t (*h)[32], size_t n)
{
	struct sbuf b = {0};

	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_adds(&b, " ");
		for (int k = 0; k < 32; k++)
			sb_addf(&b, "%02x", h[i][k]);
	}
	return sb_take(&b);
}

static int
begin(struct seal *s)
{
	return sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int
commit(struct seal *s, int ok)
{
	if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/*
 * Records document m: under the lock, in one transaction, m's seq and what
 * fn writes; after the commit the active alerts are reloaded. noun names
 * the document in the error. 0, or -1 with *err.
 */
typedef int (*record_fn)(struct seal *s, const struct omsg *m, time_t now, void *arg);

static int
record_document(struct seal *s, const struct omsg *m, time_t now, const char *noun, record_fn fn,
                void *arg, char **err)
{
	char *what;
	int ok;

	*err = NULL;
	pthread_mutex_lock(&s->lock);
	if (begin(s) < 0) {
		seal_errmsg(s, err, "seal state");
		goto out;
	}
	ok = set_seq(s, m) == 0 && fn(s, m, now, arg) == 0;
	if (!ok) {
		what = xasprintf("recording the %s", noun);
		seal_errmsg(s, err, what);
		free(what);
	}
	if (commit(s, ok) < 0) {
		if (*err == NULL) {
			what = xasprintf("committing the %s", noun);
			seal_errmsg(s, err, what);
			free(what);
		}
		goto out;
	}
	load_active(s);
out:
	pthread_mutex_unlock(&s->lock);
	return *err ? -1 : 0;
}

static int
write_alert(struct seal *s, const struct omsg *m, time_t now, void *arg)
{
	char *vir = join_words(m->viruses, m->nviruses);
	char *sha = join_hashes((const uint8_t(*)[32])m->sha256, m->nsha256);
	int rc;

	(void)arg;
	rc = exec_args(s,
	               "INSERT INTO alerts (id, provider, seq, mode, scope_dir, scope_proto,"
	               " viruses, sha256, name, issued, expires, received, state, ended,"
	               " ended_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	               " 'active', 0, '')",
	               "ttiiiitttiii", m->id, m->provider, (int64_t)m->seq, (int64_t)m->mode,
	               (int64_t)m->scope_dir, (int64_t)m->scope_proto, vir, sha,
	               m->name ? m->name : "", (int64_t)m->issued, (int64_t)m->expires,
	               (int64_t)now);
	free(vir);
	free(sha);
	return rc;
}

int
seal_add_alert(struct seal *s, const struct omsg *m, time_t now, char **err)
{
	return record_document(s, m, now, "alert", write_alert, NULL, err);
}

/* 1 if every word of the space-separated list is a known virus. */
static int
all_known(struct seal *s, const char *viruses)
{
	char *copy = xstrdup(viruses ? viruses : ""), *save = NULL;
	int all = 1, any = 0;

	for (char *w = strtok_r(copy, " ", &save); w && all; w = strtok_r(NULL, " ", &save)) {
		sqlite3_stmt *st;

		any = 1;
		if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM viruses WHERE name = ?1", -1, &st,
		                       NULL) != SQLITE_OK) {
			all = 0;
			break;
		}
		sqlite3_bind_text(st, 1, w, -1, SQLITE_TRANSIENT);
		all = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	free(copy);
	return all && any;
}

/* The alerts an update releases (write_update fills it). */
struct released {
	char **ids;
	size_t n, cap;
};

static int
write_update(struct seal *s, const struct omsg *m, time_t now, void *arg)
{
	struct released *r = arg;
	char *vir = join_words(m->viruses, m->nviruses), *by;
	sqlite3_stmt *st;
	int ok;

	ok = exec_args(s,
	               "INSERT OR REPLACE INTO updates (id, provider, seq, viruses, received)"
	               " VALUES (?1, ?2, ?3, ?4, ?5)",
	               "ttiti", m->id, m->provider, (int64_t)m->seq, vir, (int64_t)now) == 0;
	free(vir);
	for (size_t i = 0; ok && i < m->nviruses; i++)
		ok = exec_args(
		         s,
		         "INSERT OR IGNORE INTO viruses (name, update_id, time) VALUES (?1, ?2,"
		         " ?3)",
		         "tti", m->viruses[i], m->id, (int64_t)now) == 0;
	if (!ok)
		return -1;
	if (sqlite3_prepare_v2(
	        s->db, "SELECT id, viruses FROM alerts WHERE state IN ('active', 'expired')", -1,
	        &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (all_known(s, (const char *)sqlite3_column_text(st, 1))) {
			r->ids = xgrow(r->ids, &r->cap, r->n + 1, sizeof(*r->ids));
			r->ids[r->n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
		}
	sqlite3_finalize(st);
	by = xasprintf("update %s", m->id);
	for (size_t i = 0; ok && i < r->n; i++)
		ok = exec_args(s,
		               "UPDATE alerts SET state = 'releasing', ended = ?2, ended_by = ?3"
		               " WHERE id = ?1",
		               "tit", r->ids[i], (int64_t)now, by) == 0;
	free(by);
	return ok ? 0 : -1;
}

int
seal_add_update(struct seal *s, const struct omsg *m, time_t now, char ***ids, size_t *n,
                char **err)
{
	struct released r = {0};

	*ids = NULL;
	*n = 0;
	if (record_document(s, m, now, "update", write_update, &r, err) < 0) {
		for (size_t i = 0; i < r.n; i++)
			free(r.ids[i]);
		free(r.ids);
		return -1;
	}
	*ids = r.ids;
	*n = r.n;
	return 0;
}

static int
write_allclear(struct seal *s, const struct omsg *m, time_t now, void *arg)
{
	char *by = xasprintf("allclear %s", m->id);
	int rc = exec_args(s,
	                   "UPDATE alerts SET state = 'releasing', ended = ?2, ended_by = ?3"
	                   " WHERE id = ?1 AND state IN ('active', 'expired')",
	                   "tit", m->alert, (int64_t)now, by);

	free(by);
	if (rc == 0)
		*(int *)arg = sqlite3_changes(s->db);
	return rc;
}

int
seal_add_allclear(struct seal *s, const struct omsg *m, time_t now, char **err)
{
	int changed = 0;

	if (record_document(s, m, now, "all-clear", write_allclear, &changed, err) < 0)
		return -1;
	return changed > 0;
}

int
seal_set_state(struct seal *s, const char *id, const char *state, const char *by, time_t now)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	if (by)
		rc = exec_args(
		    s, "UPDATE alerts SET state = ?2, ended = ?3, ended_by = ?4 WHERE id = ?1",
		    "ttit", id, state, (int64_t)now, by);
	else
		rc = exec_args(s, "UPDATE alerts SET state = ?2 WHERE id = ?1", "tt", id, state);
	if (rc == 0)
		rc = sqlite3_changes(s->db) > 0 ? 0 : 1;
	load_active(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void
seal_expire(struct seal *s, time_t now)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nactive; i++)
		if (s->active[i].expires && s->active[i].expires <= now &&
		    exec_args(s,
		              "UPDATE alerts SET state = 'expired', ended = ?2, ended_by = 'expiry'"
		              " WHERE id = ?1 AND state = 'active'",
		              "ti", s->active[i].id, (int64_t)now) < 0)
			log_warnx("outbreak: cannot record the expiry of %s: %s", s->active[i].id,
			          sqlite3_errmsg(s->db));
	load_active(s);
	pthread_mutex_unlock(&s->lock);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return xstrdup(t ? (const char *)t : "");
}

#define ALERT_COLS                                                                                 \
	"SELECT id, provider, seq, mode, scope_dir, scope_proto, viruses, sha256, name, issued,"   \
	" expires, received, ended, state, ended_by FROM alerts"

static void
row_alert(sqlite3_stmt *st, struct seal_alert *a)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(a->provider, sizeof(a->provider), "%s",
	         sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
	a->seq = (uint64_t)sqlite3_column_int64(st, 2);
	a->mode = (enum omsg_mode)sqlite3_column_int(st, 3);
	a->scope_dir = (unsigned)sqlite3_column_int(st, 4);
	a->scope_proto = (unsigned)sqlite3_column_int(st, 5);
	a->viruses = col_dup(st, 6);
	a->sha256 = col_dup(st, 7);
	a->name = col_dup(st, 8);
	a->issued = sqlite3_column_int64(st, 9);
	a->expires = sqlite3_column_int64(st, 10);
	a->received = sqlite3_column_int64(st, 11);
	a->ended = sqlite3_column_int64(st, 12);
	snprintf(a->state, sizeof(a->state), "%s",
	         sqlite3_column_text(st, 13) ? (const char *)sqlite3_column_text(st, 13) : "");
	a->ended_by = col_dup(st, 14);
}

int
seal_alerts(struct seal *s, const char *state, struct seal_alert **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&s->lock);
	rc = sqlite3_prepare_v2(s->db,
	                        state ? ALERT_COLS " WHERE state = ?1 ORDER BY seq DESC"
	                              : ALERT_COLS " ORDER BY seq DESC",
	                        -1, &st, NULL);
	if (rc == SQLITE_OK) {
		if (state)
			sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			*out = xgrow(*out, &cap, *n + 1, sizeof(**out));
			row_alert(st, &(*out)[(*n)++]);
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
seal_alert_get(struct seal *s, const char *id, struct seal_alert *out)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	rc = sqlite3_prepare_v2(s->db, ALERT_COLS " WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			row_alert(st, out);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

void
seal_alert_clear(struct seal_alert *a)
{
	if (a == NULL)
		return;
	free(a->viruses);
	free(a->sha256);
	free(a->name);
	free(a->ended_by);
	memset(a, 0, sizeof(*a));
}

void
seal_alerts_free(struct seal_alert *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		seal_alert_clear(&a[i]);
	free(a);
}

char *
seal_hash_sigs(struct seal *s)
{
	struct sbuf b = {0};
	sqlite3_stmt *st;

	pthread_mutex_lock(&s->lock);
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT id, sha256 FROM alerts WHERE state = 'active' AND mode = ?1",
	                       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int(st, 1, OMODE_HASH);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *id = (const char *)sqlite3_column_text(st, 0);
			char *sha = col_dup(st, 1), *save = NULL;

			for (char *w = strtok_r(sha, " ", &save); w; w = strtok_r(NULL, " ", &save))
				sb_addf(&b, "%s %s%s\n", w, SEAL_HASH_PREFIX, id);
			free(sha);
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return sb_take(&b);
}

const char *
seal_scope_name(unsigned dir)
{
	return dir == (OSCOPE_INBOUND | OSCOPE_OUTBOUND) ? "both"
	       : dir == OSCOPE_OUTBOUND                  ? "outbound"
	                                                 : "inbound";
}

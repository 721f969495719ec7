/*
 * quarantine: the message files and their SQLite index (see quarantine.h).
 *
 * Owns the layout of the quarantine directory, the schema of the index and
 * the order of the durable steps: file fsynced and renamed and its
 * directory fsynced before the row exists; file unlinked before its row is
 * deleted. Leaves policy (what to quarantine), replies and notices to the
 * callers. Every file operation is relative to a descriptor of the
 * quarantine directory and every name under it comes from the ID (which we
 * generate, or validate when it comes from a command line) and the stored
 * time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "store/quarantine.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/xalloc.h"

/* Attempts at a fresh random ID when the name is taken. */
#define Q_MAX_ID_TRIES 8
/* YYYY/MM/DD/ID.eml and the temporary .ID.tmp fit easily. */
#define Q_RELPATH_MAX 64

struct quarantine {
	char *dir;
	int dirfd;
	sqlite3 *db;
	pthread_mutex_t lock; /* guards db: one statement sequence at a time */
};

static const char q_schema[] =
    "CREATE TABLE IF NOT EXISTS messages ("
    " id TEXT PRIMARY KEY, time INTEGER, direction TEXT, listener TEXT,"
    " next_hop TEXT, client_addr TEXT, helo TEXT, mail_from TEXT,"
    " rcpts TEXT, virus_names TEXT, status TEXT, size INTEGER, action TEXT,"
    " path TEXT, released_at INTEGER, released_reply TEXT,"
    " protocol TEXT, user TEXT, file_name TEXT, alert TEXT);"
    "CREATE INDEX IF NOT EXISTS messages_time ON messages(time);";

/* Columns added after the first schema: an older index gets them with
 * ALTER TABLE on open (its rows keep NULL, protocol NULL meaning smtp). */
static const char *const q_added_columns[] = {"protocol", "user", "file_name", "alert"};
#define Q_NADDED (sizeof(q_added_columns) / sizeof(q_added_columns[0]))

/* The columns row_to_record() reads, in its order. */
#define Q_SELECT                                                                                   \
	"SELECT id, time, direction, listener, next_hop, client_addr, helo, mail_from, rcpts,"     \
	" virus_names, status, size, action, released_at, released_reply, protocol, user,"         \
	" file_name, alert FROM messages"

int
quarantine_id_valid(const char *id)
{
	size_t i;

	if (id == NULL)
		return 0;
	for (i = 0; i < QUARANTINE_ID_LEN; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return id[i] == '\0';
}

/* Writes "YYYY/MM/DD" for Unix time t (UTC) into buf. 0 or -1. */
static int
q_datedir(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int n;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -1;
	n = snprintf(buf, cap, "%04d/%02d/%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Writes "YYYY/MM/DD/ID.eml" into buf from a valid id and its time. 0/-1. */
static int
q_relpath(const char *id, int64_t t, char *buf, size_t cap)
{
	char date[16];
	int n;

	if (!quarantine_id_valid(id) || q_datedir(t, date, sizeof(date)) < 0)
		return -1;
	n = snprintf(buf, cap, "%s/%s.eml", date, id);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Classifies a failed SQLite call: full disk, or anything else. */
static int
q_sqlite_class(sqlite3 *db, int rc)
{
	int sys;

	if ((rc & 0xff) == SQLITE_FULL)
		return STORE_ERR_NOSPACE;
	sys = sqlite3_system_errno(db);
	if ((rc & 0xff) == SQLITE_IOERR && sys != 0)
		return storeio_class(sys);
	return STORE_ERR_IO;
}

/* Sets have[i] for each of q_added_columns the messages table has. 0, or
 * an SQLite error code. */
static int
q_have_columns(sqlite3 *db, int have[Q_NADDED])
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(have, 0, Q_NADDED * sizeof(have[0]));
	rc = sqlite3_prepare_v2(db, "PRAGMA table_info(messages)", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *name = sqlite3_column_text(st, 1);

		for (size_t i = 0; name != NULL && i < Q_NADDED; i++)
			if (strcmp((const char *)name, q_added_columns[i]) == 0)
				have[i] = 1;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Adds the columns an index from an older version lacks. Another process
 * (daemon, ctl) may open the same index at the same moment: the check is
 * repeated under the write lock, so each column is added once. SQLITE_OK
 * or the failing code, with *msg set (sqlite3_free) when SQLite gave one.
 */
static int
q_upgrade(sqlite3 *db, char **msg)
{
	int have[Q_NADDED], rc, missing = 0;

	if ((rc = q_have_columns(db, have)) != SQLITE_OK)
		return rc;
	for (size_t i = 0; i < Q_NADDED; i++)
		missing |= !have[i];
	if (!missing)
		return SQLITE_OK;
	if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, msg)) != SQLITE_OK)
		return rc;
	rc = q_have_columns(db, have);
	for (size_t i = 0; rc == SQLITE_OK && i < Q_NADDED; i++) {
		char *sql;

		if (have[i])
			continue;
		/* The names are our constants, never input. */
		sql = xasprintf("ALTER TABLE messages ADD COLUMN %s TEXT", q_added_columns[i]);
		rc = sqlite3_exec(db, sql, NULL, NULL, msg);
		free(sql);
		if (rc == SQLITE_OK)
			log_info("quarantine: index upgraded: column %s added", q_added_columns[i]);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, msg);
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

struct quarantine *
quarantine_open(const char *dir, char **err)
{
	struct quarantine *q;
	struct stat st;
	char *path, *msg = NULL;
	int rc;

	*err = NULL;
	if (dir == NULL || *dir == '\0') {
		*err = xstrdup("quarantine directory not set");
		return NULL;
	}
	if (stat(dir, &st) < 0) {
		char *parent = xstrdup(dir), *slash;
		int ok;

		/* Parents 0755, the quarantine itself 0700. */
		while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0' &&
		       slash != parent)
			*slash = '\0';
		slash = strrchr(parent, '/');
		if (slash != NULL && slash != parent) {
			*slash = '\0';
			ok = storeio_mkdirs_at(AT_FDCWD, parent, 0755) == 0;
		} else {
			ok = 1;
		}
		free(parent);
		if (!ok || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
			*err = xasprintf("%s: cannot create: %s", dir, strerror(errno));
			return NULL;
		}
	}

	q = xcalloc(1, sizeof(*q));
	q->dir = xstrdup(dir);
	pthread_mutex_init(&q->lock, NULL);
	q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dirfd < 0) {
		*err = xasprintf("%s: %s", dir, strerror(errno));
		quarantine_free(q);
		return NULL;
	}

	path = xasprintf("%s/index.sqlite", dir);
	rc = sqlite3_open_v2(path, &q->db,
	                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
	                         SQLITE_OPEN_NOFOLLOW,
	                     NULL);
	if (rc != SQLITE_OK) {
		*err =
		    xasprintf("%s: %s", path, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		free(path);
		quarantine_free(q);
		return NULL;
	}
	sqlite3_busy_timeout(q->db, QUARANTINE_BUSY_TIMEOUT_MS);
	/* WAL lets ctl read while the daemon writes; FULL makes each commit
	 * durable, since a row stands for a message we answered 250 for. */
	rc = sqlite3_exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
	                  &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(q->db, q_schema, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = q_upgrade(q->db, &msg);
	if (rc != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		free(path);
		quarantine_free(q);
		return NULL;
	}
	free(path);
	return q;
}

void
quarantine_free(struct quarantine *q)
{
	if (q == NULL)
		return;
	if (q->db != NULL)
		sqlite3_close(q->db);
	if (q->dirfd >= 0)
		close(q->dirfd);
	pthread_mutex_destroy(&q->lock);
	free(q->dir);
	free(q);
}

void
quarantine_set_busy_timeout(struct quarantine *q, unsigned ms)
{
	pthread_mutex_lock(&q->lock);
	sqlite3_busy_timeout(q->db, (int)(ms > INT32_MAX ? INT32_MAX : ms));
	pthread_mutex_unlock(&q->lock);
}

/* A JSON string for s; bytes that do not form UTF-8 become '?' (logged),
 * since SQLite text and JSON must be UTF-8. */
static json_t *
q_json_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL)
		return j;
	copy = xstrdup(s);
	sanitize(copy, copy, strlen(copy) + 1, SAN_JSON);
	log_warnx("quarantine: recipient is not UTF-8, stored as %.100s", copy);
	j = json_string(copy);
	free(copy);
	return j;
}

/* The recipients as a JSON array text (allocated). */
static char *
q_rcpts_json(const char *const *rcpts, size_t n)
{
	json_t *a = json_array();
	char *s;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, q_json_string(rcpts[i] ? rcpts[i] : ""));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	if (s == NULL)
		fatalx("json_dumps: out of memory");
	return s;
}

static void
q_bind_text(sqlite3_stmt *st, int col, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
}

/* Inserts the row of a stored message. SQLITE_OK or the failing code. */
static int
q_insert(struct quarantine *q, const char *id, int64_t t, const struct q_meta *m, uint64_t size,
         const char *relpath)
{
	static const char sql[] =
	    "INSERT INTO messages (id, time, direction, listener, next_hop, client_addr,"
	    " helo, mail_from, rcpts, virus_names, status, size, action, path, protocol, user,"
	    " file_name, alert)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	    " ?18)";
	sqlite3_stmt *st = NULL;
	char *rcpts = q_rcpts_json(m->rcpts, m->nrcpts);
	int rc;

	rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, t);
		q_bind_text(st, 3, m->direction);
		q_bind_text(st, 4, m->listener);
		q_bind_text(st, 5, m->next_hop);
		q_bind_text(st, 6, m->client_addr);
		q_bind_text(st, 7, m->helo);
		q_bind_text(st, 8, m->mail_from);
		q_bind_text(st, 9, rcpts);
		q_bind_text(st, 10, m->virus_names);
		q_bind_text(st, 11, m->status);
		sqlite3_bind_int64(st, 12, size > INT64_MAX ? INT64_MAX : (int64_t)size);
		q_bind_text(st, 13, m->action);
		q_bind_text(st, 14, relpath);
		q_bind_text(st, 15, m->protocol);
		q_bind_text(st, 16, m->user);
		q_bind_text(st, 17, m->file_name);
		q_bind_text(st, 18, m->alert);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK)
		log_warnx("quarantine: %s/index.sqlite: insert %s: %s", q->dir, id,
		          sqlite3_errmsg(q->db));
	sqlite3_finalize(st);
	free(rcpts);
	return rc;
}

/*
 * Writes the message to date/.ID.tmp, fsyncs and closes it, and renames it
 * to date/ID.eml without replacing anything. 0; 1 if the ID is taken (try
 * another); -1 with errno set.
 */
static int
q_write_file(struct quarantine *q, const char *date, const char *id, int src, uint64_t size,
             char *relpath, size_t cap)
{
	char tmp[Q_RELPATH_MAX];
	int rc, saved;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", date, id);
	snprintf(relpath, cap, "%s/%s.eml", date, id);
	if ((rc = storeio_write_new_at(q->dirfd, tmp, src, size, NULL)) != 0)
		return rc;
	if (renameat2(q->dirfd, tmp, q->dirfd, relpath, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST) {
			unlinkat(q->dirfd, tmp, 0);
			return 1;
		}
		/* A file system without RENAME_NOREPLACE: 64 random bits
		 * make a collision with an existing ID negligible. */
		if (errno != EINVAL || renameat(q->dirfd, tmp, q->dirfd, relpath) < 0) {
			saved = errno;
			goto fail;
		}
	}
	return 0;
fail:
	unlinkat(q->dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int
quarantine_store_at(struct quarantine *q, const struct q_meta *m, int fd, uint64_t size,
                    time_t when, char id_out[QUARANTINE_ID_LEN + 1], int *err_class)
{
	char date[16], id[QUARANTINE_ID_LEN + 1], relpath[Q_RELPATH_MAX];
	int rc = 1, cls = STORE_ERR_IO, tries;

	id_out[0] = '\0';
	if (q_datedir((int64_t)when, date, sizeof(date)) < 0) {
		log_warnx("quarantine: time %lld out of range", (long long)when);
		goto out;
	}
	if (storeio_mkdirs_at(q->dirfd, date, 0700) < 0) {
		cls = storeio_class(errno);
		log_warn("quarantine: %s/%s: mkdir", q->dir, date);
		goto out;
	}
	for (tries = 0; tries < Q_MAX_ID_TRIES && rc == 1; tries++) {
		if (storeio_random_hex(id, QUARANTINE_ID_LEN / 2) < 0) {
			cls = STORE_ERR_IO;
			log_warn("quarantine: getrandom");
			goto out;
		}
		rc = q_write_file(q, date, id, fd, size, relpath, sizeof(relpath));
	}
	if (rc != 0) {
		if (rc < 0)
			cls = storeio_class(errno);
		log_warn("quarantine: %s/%s: write %s (%s)", q->dir, date,
		         rc < 0 ? "failed" : "found no free ID", storeio_err_name(cls));
		rc = -1;
		goto out;
	}
	if (storeio_fsync_dir_at(q->dirfd, date) < 0) {
		cls = storeio_class(errno);
		log_warn("quarantine: %s/%s: fsync", q->dir, date);
		goto undo;
	}

	pthread_mutex_lock(&q->lock);
	rc = q_insert(q, id, (int64_t)when, m, size, relpath);
	if (rc != SQLITE_OK)
		cls = q_sqlite_class(q->db, rc);
	pthread_mutex_unlock(&q->lock);
	if (rc != SQLITE_OK)
		goto undo;

	memcpy(id_out, id, sizeof(id));
	if (err_class != NULL)
		*err_class = STORE_OK;
	return 0;
undo:
	/* No row may name a file that is not there, and no file may stay
	 * without its row. */
	if (unlinkat(q->dirfd, relpath, 0) < 0)
		log_warn("quarantine: %s/%s: unlink", q->dir, relpath);
out:
	if (err_class != NULL)
		*err_class = cls;
	return -1;
}

int
quarantine_store(struct quarantine *q, const struct q_meta *m, int fd, uint64_t size,
                 char id_out[QUARANTINE_ID_LEN + 1], int *err_class)
{
	return quarantine_store_at(q, m, fd, size, time(NULL), id_out, err_class);
}

static char *
q_col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s == NULL ? NULL : xstrdup((const char *)s);
}

/* Parses the rcpts column (a JSON array of strings) into r. */
static void
q_parse_rcpts(struct q_record *r, const char *text)
{
	json_error_t jerr;
	json_t *a;
	size_t n;

	r->rcpts = NULL;
	r->nrcpts = 0;
	if (text == NULL)
		return;
	a = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (a == NULL || !json_is_array(a)) {
		log_warnx("quarantine: %s: rcpts column is not a JSON array: %.100s", r->id, text);
		json_decref(a);
		return;
	}
	n = json_array_size(a);
	r->rcpts = xcalloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(a, i));

		if (s != NULL)
			r->rcpts[r->nrcpts++] = xstrdup(s);
	}
	json_decref(a);
}

/* Fills r from the current row of a Q_SELECT statement. */
static void
q_row_to_record(struct quarantine *q, sqlite3_stmt *st, struct q_record *r)
{
	const unsigned char *id = sqlite3_column_text(st, 0);
	char rel[Q_RELPATH_MAX];
	int64_t size;

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id ? (const char *)id : "");
	r->time = sqlite3_column_int64(st, 1);
	r->direction = q_col_text(st, 2);
	r->listener = q_col_text(st, 3);
	r->next_hop = q_col_text(st, 4);
	r->client_addr = q_col_text(st, 5);
	r->helo = q_col_text(st, 6);
	r->mail_from = q_col_text(st, 7);
	q_parse_rcpts(r, (const char *)sqlite3_column_text(st, 8));
	r->virus_names = q_col_text(st, 9);
	r->status = q_col_text(st, 10);
	size = sqlite3_column_int64(st, 11);
	r->size = size < 0 ? 0 : (uint64_t)size;
	r->action = q_col_text(st, 12);
	r->released_at = sqlite3_column_int64(st, 13);
	r->released_reply = q_col_text(st, 14);
	r->protocol = q_col_text(st, 15);
	r->user = q_col_text(st, 16);
	r->file_name = q_col_text(st, 17);
	r->alert = q_col_text(st, 18);
	if (q_relpath(r->id, r->time, rel, sizeof(rel)) == 0)
		r->path = xasprintf("%s/%s", q->dir, rel);
}

void
quarantine_record_clear(struct q_record *r)
{
	if (r == NULL)
		return;
	free(r->direction);
	free(r->listener);
	free(r->next_hop);
	free(r->client_addr);
	free(r->helo);
	free(r->mail_from);
	for (size_t i = 0; i < r->nrcpts; i++)
		free(r->rcpts[i]);
	free(r->rcpts);
	free(r->virus_names);
	free(r->status);
	free(r->action);
	free(r->released_reply);
	free(r->protocol);
	free(r->user);
	free(r->file_name);
	free(r->alert);
	free(r->path);
	memset(r, 0, sizeof(*r));
}

void
quarantine_records_free(struct q_record *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		quarantine_record_clear(&r[i]);
	free(r);
}

/* The records of sql (Q_SELECT ...), with one optional text parameter. */
static int
q_select(struct quarantine *q, const char *sql, const char *arg, struct q_record **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct q_record *v = NULL;
	size_t len = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xgrow(v, &cap, len + 1, sizeof(*v));
		q_row_to_record(q, st, &v[len++]);
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		log_warnx("quarantine: %s/index.sqlite: list: %s", q->dir, sqlite3_errmsg(q->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	if (rc != SQLITE_DONE) {
		quarantine_records_free(v, len);
		return -1;
	}
	*out = v;
	*n = len;
	return 0;
}

int
quarantine_list(struct quarantine *q, struct q_record **out, size_t *n)
{
	return q_select(q, Q_SELECT " ORDER BY time, rowid", NULL, out, n);
}

int
quarantine_list_alert(struct quarantine *q, const char *alert, struct q_record **out, size_t *n)
{
	return q_select(q,
	                Q_SELECT " WHERE alert = ?1 AND (released_at IS NULL OR released_at = 0)"
	                         " ORDER BY time, rowid",
	                alert, out, n);
}

int64_t
quarantine_count_unreleased(struct quarantine *q)
{
	sqlite3_stmt *st = NULL;
	int64_t count = -1;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db,
	                       "SELECT COUNT(*) FROM messages WHERE released_at IS NULL OR"
	                       " released_at = 0",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		count = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return count;
}

int
quarantine_totals(struct quarantine *q, int64_t *items, int64_t *bytes)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	if (sqlite3_prepare_v2(q->db, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages", -1,
	                       &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*items = sqlite3_column_int64(st, 0);
		*bytes = sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
quarantine_get(struct quarantine *q, const char *id, struct q_record *out)
{
	sqlite3_stmt *st = NULL;
	int rc, ret;

	memset(out, 0, sizeof(*out));
	if (!quarantine_id_valid(id))
		return 1;
	pthread_mutex_lock(&q->lock);
	rc = sqlite3_prepare_v2(q->db, Q_SELECT " WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_ROW) {
		q_row_to_record(q, st, out);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = 1;
	} else {
		log_warnx("quarantine: %s/index.sqlite: get %s: %s", q->dir, id,
		          sqlite3_errmsg(q->db));
		ret = -1;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int
quarantine_open_message(struct quarantine *q, const struct q_record *r)
{
	char rel[Q_RELPATH_MAX];

	if (q_relpath(r->id, r->time, rel, sizeof(rel)) < 0) {
		errno = EINVAL;
		return -1;
	}
	return openat(q->dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
}

/* Runs one statement with id bound as ?1 (and text as ?2 and an integer as
 * ?3 when given). The number of rows changed, or -1. Call with the lock. */
static int
q_exec_id(struct quarantine *q, const char *sql, const char *id, const char *text, int64_t num)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		if (sqlite3_bind_parameter_count(st) >= 2)
			q_bind_text(st, 2, text);
		if (sqlite3_bind_parameter_count(st) >= 3)
			sqlite3_bind_int64(st, 3, num);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		log_warnx("quarantine: %s/index.sqlite: %s: %s", q->dir, id, sqlite3_errmsg(q->db));
		return -1;
	}
	return sqlite3_changes(q->db);
}

int
quarantine_delete(struct quarantine *q, const char *id)
{
	sqlite3_stmt *st = NULL;
	char rel[Q_RELPATH_MAX], date[16];
	int64_t t = 0;
	int rc, ret = -1;

	if (!quarantine_id_valid(id))
		return 1;
	pthread_mutex_lock(&q->lock);
	rc = sqlite3_prepare_v2(q->db, "SELECT time FROM messages WHERE id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			t = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		log_warnx("quarantine: %s/index.sqlite: %s: %s", q->dir, id, sqlite3_errmsg(q->db));
		goto out;
	}
	/* The file goes first: a row without its file is visible and can be
	 * deleted again; a file without its row would be lost space. */
	if (q_relpath(id, t, rel, sizeof(rel)) == 0) {
		if (unlinkat(q->dirfd, rel, 0) < 0 && errno != ENOENT) {
			log_warn("quarantine: %s/%s: unlink", q->dir, rel);
			goto out;
		}
		if (q_datedir(t, date, sizeof(date)) == 0)
			storeio_fsync_dir_at(q->dirfd, date);
	} else {
		log_warnx("quarantine: %s: stored time %lld out of range, deleting the row only",
		          id, (long long)t);
	}
	ret = q_exec_id(q, "DELETE FROM messages WHERE id = ?1", id, NULL, 0) < 0 ? -1 : 0;
out:
	pthread_mutex_unlock(&q->lock);
	return ret;
}

int
quarantine_mark_released(struct quarantine *q, const char *id, time_t when, const char *reply)
{
	int n;

	if (!quarantine_id_valid(id))
		return 1;
	pthread_mutex_lock(&q->lock);
	n = q_exec_id(q, "UPDATE messages SET released_reply = ?2, released_at = ?3 WHERE id = ?1",
	              id, reply, (int64_t)when);
	pthread_mutex_unlock(&q->lock);
	return n < 0 ? -1 : n == 0 ? 1 : 0;
}

struct q_purge_item {
	char id[QUARANTINE_ID_LEN + 1];
	int64_t time;
	uint64_t size;
};

int
quarantine_purge(struct quarantine *q, time_t now, uint64_t older_than_ms, uint64_t max_total_size,
                 struct q_purge_stats *st)
{
	struct q_purge_stats dummy;
	struct q_purge_item *v = NULL;
	size_t len = 0, cap = 0;
	sqlite3_stmt *s = NULL;
	uint64_t total = 0;
	int rc;

	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&q->lock);
	rc = sqlite3_prepare_v2(q->db, "SELECT id, time, size FROM messages ORDER BY time, rowid",
	                        -1, &s, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(s, 0);
		int64_t size = sqlite3_column_int64(s, 2);

		v = xgrow(v, &cap, len + 1, sizeof(*v));
		snprintf(v[len].id, sizeof(v[len].id), "%s", id ? (const char *)id : "");
		v[len].time = sqlite3_column_int64(s, 1);
		v[len].size = size < 0 ? 0 : (uint64_t)size;
		total += v[len].size;
		len++;
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		log_warnx("quarantine: %s/index.sqlite: purge: %s", q->dir, sqlite3_errmsg(q->db));
	sqlite3_finalize(s);
	pthread_mutex_unlock(&q->lock);
	if (rc != SQLITE_DONE) {
		free(v);
		return -1;
	}

	/* Oldest first: the old ones, then as many more as the size needs. */
	for (size_t i = 0; i < len; i++) {
		int64_t age = (int64_t)now - v[i].time;
		uint64_t age_ms = age <= 0                 ? 0
		                  : age > INT64_MAX / 1000 ? UINT64_MAX
		                                           : (uint64_t)age * 1000;
		int too_old = older_than_ms != 0 && age_ms > older_than_ms;
		int too_big = max_total_size != 0 && total > max_total_size;

		if (!too_old && !too_big)
			continue;
		if (!quarantine_id_valid(v[i].id)) {
			log_warnx("quarantine: purge: row with invalid id %.100s skipped", v[i].id);
			st->failed++;
			continue;
		}
		rc = quarantine_delete(q, v[i].id);
		if (rc == 0) {
			st->deleted++;
			st->bytes += v[i].size;
		} else if (rc < 0) {
			st->failed++;
			continue;
		}
		/* Deleted by us or by someone else meanwhile: gone either way. */
		total -= v[i].size;
	}
	free(v);
	if (st->deleted > 0)
		log_info("quarantine: purged count=%zu bytes=%" PRIu64 " failed=%zu", st->deleted,
		         st->bytes, st->failed);
	return st->failed > 0 ? -1 : 0;
}

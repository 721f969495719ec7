/*
 * pstore: the provider's state in SQLite. Every SQL statement of the
 * provider is in this file; the rest sees pstore.h only.
 *
 * Tables (the same in PostgreSQL later):
 *   counters(name PRIMARY KEY, value)        the seq counter, row "seq"
 *   documents(seq PRIMARY KEY, id UNIQUE, type, url, created, envelope)
 *   alerts(id PRIMARY KEY, seq, issued, expires, ended_by)
 *   enrol_tokens(hash PRIMARY KEY, created, expires, used)
 *   gateways(id PRIMARY KEY, public_key, push_url, scope, enrolled, state, last_seen)
 *   receipts(id INTEGER PRIMARY KEY, gateway, message, message_seq, state, time,
 *            received, envelope), UNIQUE (gateway, message): one receipt per
 *            gateway and document (index receipts_once; an older state file
 *            is migrated at open: its repeated receipts are dropped, the
 *            first kept)
 *
 * Mapping to PostgreSQL: the counter row becomes a SEQUENCE
 * (pstore_next_seq() = SELECT nextval('provider_seq'), which is atomic
 * across connections and never hands out a number twice, gaps allowed just
 * as here); the tables keep their columns (INTEGER -> BIGINT, TEXT ->
 * TEXT, envelope possibly JSONB but stored as sent: the signature covers
 * the payload bytes, not the JSON); BEGIN IMMEDIATE becomes an ordinary
 * transaction; pstore_open() takes a connection string instead of a
 * directory. The interface does not change.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "provider/pstore.h"
#include "util/strutil.h"
#include "util/xalloc.h"

struct pstore {
	sqlite3 *db;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('seq', 0);"
    "CREATE TABLE IF NOT EXISTS documents (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " type TEXT NOT NULL, url TEXT NOT NULL, created INTEGER NOT NULL,"
    " envelope TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " issued INTEGER NOT NULL, expires INTEGER NOT NULL, ended_by TEXT);"
    "CREATE TABLE IF NOT EXISTS enrol_tokens (hash TEXT PRIMARY KEY,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS gateways (id TEXT PRIMARY KEY, public_key TEXT NOT NULL,"
    " push_url TEXT, scope TEXT, enrolled INTEGER NOT NULL, state TEXT NOT NULL,"
    " last_seen INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS receipts (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " gateway TEXT NOT NULL REFERENCES gateways(id), message TEXT NOT NULL,"
    " message_seq INTEGER NOT NULL, state TEXT NOT NULL, time INTEGER NOT NULL,"
    " received INTEGER NOT NULL, envelope TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS receipts_gateway ON receipts (gateway, id);";

/*
 * Migration to one receipt per (gateway, message): drops the repeats an
 * older provider recorded (keeping the first), then adds the unique index.
 * Runs once (the index's presence is checked first).
 */
static const char migrate_receipts_once[] =
    "DELETE FROM receipts WHERE id NOT IN"
    " (SELECT MIN(id) FROM receipts GROUP BY gateway, message);"
    "CREATE UNIQUE INDEX IF NOT EXISTS receipts_once ON receipts (gateway, message);";

static int
db_fail(struct pstore *ps, const char *what, char **err)
{
	*err = xasprintf("%s: %s", what, sqlite3_errmsg(ps->db));
	return -1;
}

static int migrate(struct pstore *ps, char **err);

struct pstore *
pstore_open(const char *state_dir, char **err)
{
	struct pstore *ps = xcalloc(1, sizeof(*ps));
	char *path = xasprintf("%s/provider.sqlite", state_dir);
	char *msg = NULL;

	if (sqlite3_open_v2(path, &ps->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		*err = xasprintf("%s: %s", path, ps->db ? sqlite3_errmsg(ps->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(ps->db, 10000);
	if (sqlite3_exec(ps->db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                 " PRAGMA foreign_keys=ON;",
	                 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(ps->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, msg ? msg : sqlite3_errmsg(ps->db));
		sqlite3_free(msg);
		goto fail;
	}
	if (migrate(ps, err) < 0)
		goto fail;
	chmod(path, 0600);
	free(path);
	return ps;
fail:
	free(path);
	pstore_close(ps);
	return NULL;
}

void
pstore_close(struct pstore *ps)
{
	if (ps == NULL)
		return;
	sqlite3_close(ps->db);
	free(ps);
}

/* 1 if sql (one text parameter, key) gives a row, 0 if not, -1 with *err. */
static int
row_exists(struct pstore *ps, const char *sql, const char *key, const char *what, char **err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(ps->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(ps, what, err);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(ps, what, err);
}

/* Brings an older state file to the current schema (see the top). */
static int
migrate(struct pstore *ps, char **err)
{
	char *msg = NULL;
	int rc = row_exists(ps, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
	                    "receipts_once", "schema", err);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (sqlite3_exec(ps->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(ps, "begin", err);
	if (sqlite3_exec(ps->db, migrate_receipts_once, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(ps->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		*err = xasprintf("migration to one receipt per gateway and message: %s",
		                 msg ? msg : sqlite3_errmsg(ps->db));
		sqlite3_free(msg);
		sqlite3_exec(ps->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

/* Prepares sql; NULL with *err. */
static sqlite3_stmt *
prep(struct pstore *ps, const char *sql, char **err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(ps->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(ps, "prepare", err);
		return NULL;
	}
	return st;
}

static int step(struct pstore *ps, sqlite3_stmt *st, const char *what, char **err);

/* Runs a statement without rows; 0 or -1 with *err. Finalizes st. */
static int
run(struct pstore *ps, sqlite3_stmt *st, const char *what, char **err)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(ps, what, err);
	return 0;
}

static char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? xstrdup((const char *)s) : NULL;
}

/* BEGIN IMMEDIATE; 0, or -1 with *err. */
static int
tx_begin(struct pstore *ps, char **err)
{
	if (sqlite3_exec(ps->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(ps, "begin", err);
	return 0;
}

/* Commits when ok (and *err is unset), else rolls back; 0, or -1 with *err. */
static int
tx_end(struct pstore *ps, int ok, char **err)
{
	if (ok && sqlite3_exec(ps->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	if (ok)
		db_fail(ps, "commit", err);
	sqlite3_exec(ps->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int
pstore_next_seq(struct pstore *ps, uint64_t *seq, char **err)
{
	sqlite3_stmt *st;
	int ok = 0;

	if (tx_begin(ps, err) < 0)
		return -1;
	if ((st = prep(ps, "UPDATE counters SET value = value + 1 WHERE name = 'seq'", err)) !=
	        NULL &&
	    run(ps, st, "seq", err) == 0 &&
	    (st = prep(ps, "SELECT value FROM counters WHERE name = 'seq'", err)) != NULL) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			*seq = (uint64_t)sqlite3_column_int64(st, 0);
			ok = 1;
		} else {
			db_fail(ps, "seq", err);
		}
		sqlite3_finalize(st);
	}
	return tx_end(ps, ok, err);
}

int
pstore_last_seq(struct pstore *ps, uint64_t *seq, char **err)
{
	sqlite3_stmt *st = prep(ps, "SELECT value FROM counters WHERE name = 'seq'", err);

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(ps, "seq", err);
	}
	*seq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int
pstore_add_document(struct pstore *ps, const char *type, const char *id, uint64_t seq,
                    const char *url, const char *envelope, time_t now, char **err)
{
	sqlite3_stmt *st = prep(ps,
	                        "INSERT INTO documents (seq, id, type, url, created, envelope)"
	                        " VALUES (?, ?, ?, ?, ?, ?)",
	                        err);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
	sqlite3_bind_text(st, 6, envelope, -1, SQLITE_STATIC);
	return run(ps, st, "store document", err);
}

int
pstore_documents(struct pstore *ps, int with_envelope, struct pstore_doc **out, size_t *n,
                 char **err)
{
	sqlite3_stmt *st =
	    prep(ps,
	         with_envelope ? "SELECT seq, type, id, url, created, envelope FROM documents"
	                         " ORDER BY seq"
	                       : "SELECT seq, type, id, url, created, NULL FROM documents"
	                         " ORDER BY seq",
	         err);
	struct pstore_doc *docs = NULL;
	size_t cap = 0, k = 0;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		docs = xgrow(docs, &cap, k + 1, sizeof(*docs));
		docs[k].seq = (uint64_t)sqlite3_column_int64(st, 0);
		docs[k].type = col_text(st, 1);
		docs[k].id = col_text(st, 2);
		docs[k].url = col_text(st, 3);
		docs[k].created = sqlite3_column_int64(st, 4);
		docs[k].envelope = col_text(st, 5);
		k++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		pstore_docs_free(docs, k);
		return db_fail(ps, "documents", err);
	}
	*out = docs;
	*n = k;
	return 0;
}

void
pstore_doc_clear(struct pstore_doc *d)
{
	free(d->type);
	free(d->id);
	free(d->url);
	free(d->envelope);
	memset(d, 0, sizeof(*d));
}

void
pstore_docs_free(struct pstore_doc *docs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pstore_doc_clear(&docs[i]);
	free(docs);
}

int
pstore_document(struct pstore *ps, const char *id, struct pstore_doc *out, char **err)
{
	sqlite3_stmt *st = prep(ps,
	                        id ? "SELECT seq, type, id, url, created, envelope FROM documents"
	                             " WHERE id = ?"
	                           : "SELECT seq, type, id, url, created, envelope FROM documents"
	                             " ORDER BY seq DESC LIMIT 1",
	                        err);
	int rc;

	if (st == NULL)
		return -1;
	if (id)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->seq = (uint64_t)sqlite3_column_int64(st, 0);
		out->type = col_text(st, 1);
		out->id = col_text(st, 2);
		out->url = col_text(st, 3);
		out->created = sqlite3_column_int64(st, 4);
		out->envelope = col_text(st, 5);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(ps, "document", err);
}

int
pstore_document_exists(struct pstore *ps, const char *id, char **err)
{
	return row_exists(ps, "SELECT 1 FROM documents WHERE id = ?", id, "documents", err);
}

int
pstore_add_alert(struct pstore *ps, const char *id, uint64_t seq, int64_t issued, int64_t expires,
                 char **err)
{
	sqlite3_stmt *st = prep(ps,
	                        "INSERT INTO alerts (id, seq, issued, expires, ended_by)"
	                        " VALUES (?, ?, ?, ?, NULL)",
	                        err);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 3, issued);
	sqlite3_bind_int64(st, 4, expires);
	return run(ps, st, "store alert", err);
}

int
pstore_end_alert(struct pstore *ps, const char *id, const char *by, char **err)
{
	sqlite3_stmt *st = prep(ps, "UPDATE alerts SET ended_by = ? WHERE id = ?", err);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (run(ps, st, "end alert", err) < 0)
		return -1;
	return sqlite3_changes(ps->db) > 0 ? 0 : 1;
}

/* Reads the alert rows of st into *out. */
static int
alert_rows(struct pstore *ps, sqlite3_stmt *st, struct pstore_alert **out, size_t *n, char **err)
{
	struct pstore_alert *a = NULL;
	size_t cap = 0, k = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a = xgrow(a, &cap, k + 1, sizeof(*a));
		a[k].id = col_text(st, 0);
		a[k].seq = (uint64_t)sqlite3_column_int64(st, 1);
		a[k].issued = sqlite3_column_int64(st, 2);
		a[k].expires = sqlite3_column_int64(st, 3);
		a[k].ended_by = col_text(st, 4);
		k++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		pstore_alerts_free(a, k);
		return db_fail(ps, "alerts", err);
	}
	*out = a;
	*n = k;
	return 0;
}

int
pstore_alert(struct pstore *ps, const char *id, struct pstore_alert *a, char **err)
{
	sqlite3_stmt *st = prep(ps,
	                        "SELECT id, seq, issued, expires, ended_by FROM alerts"
	                        " WHERE id = ?",
	                        err);
	struct pstore_alert *rows;
	size_t n;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (alert_rows(ps, st, &rows, &n, err) < 0)
		return -1;
	if (n == 0) {
		free(rows);
		return 0;
	}
	*a = rows[0];
	free(rows);
	return 1;
}

int
pstore_alerts(struct pstore *ps, struct pstore_alert **out, size_t *n, char **err)
{
	sqlite3_stmt *st = prep(ps,
	                        "SELECT id, seq, issued, expires, ended_by FROM alerts"
	                        " ORDER BY seq",
	                        err);

	if (st == NULL)
		return -1;
	return alert_rows(ps, st, out, n, err);
}

void
pstore_alert_clear(struct pstore_alert *a)
{
	free(a->id);
	free(a->ended_by);
	a->id = a->ended_by = NULL;
}

void
pstore_alerts_free(struct pstore_alert *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pstore_alert_clear(&a[i]);
	free(a);
}

/* The SHA-256 of a token as 64 hex digits. */
static int
token_hash(const char *token, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	hex_encode(md, 32, out);
	out[64] = '\0';
	return 0;
}

/* Makes one token into token_out and stores its hash with st (reset after). */
static int
token_one(struct pstore *ps, sqlite3_stmt *st, time_t now, int64_t ttl,
          char token_out[PSTORE_TOKEN_HEX + 1], char **err)
{
	unsigned char raw[32];
	char hash[65];

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		*err = xstrdup("no random bytes");
		return -1;
	}
	hex_encode(raw, sizeof(raw), token_out);
	token_out[PSTORE_TOKEN_HEX] = '\0';
	if (token_hash(token_out, hash) < 0) {
		*err = xstrdup("SHA-256 failed");
		return -1;
	}
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now + ttl);
	return step(ps, st, "store token", err) < 0 ? -1 : 0;
}

int
pstore_enrol_tokens_new(struct pstore *ps, time_t now, int64_t ttl, size_t n,
                        char (*tokens)[PSTORE_TOKEN_HEX + 1], char **err)
{
	sqlite3_stmt *st;
	int ok = 1;

	if (tx_begin(ps, err) < 0)
		return -1;
	st = prep(ps, "INSERT INTO enrol_tokens (hash, created, expires, used) VALUES (?, ?, ?, 0)",
	          err);
	if (st == NULL)
		return tx_end(ps, 0, err);
	for (size_t i = 0; i < n && ok; i++)
		ok = token_one(ps, st, now, ttl, tokens[i], err) == 0;
	sqlite3_finalize(st);
	return tx_end(ps, ok, err);
}

int
pstore_enrol_token_new(struct pstore *ps, time_t now, int64_t ttl,
                       char token_out[PSTORE_TOKEN_HEX + 1], char **err)
{
	return pstore_enrol_tokens_new(ps, now, ttl, 1, (char(*)[PSTORE_TOKEN_HEX + 1]) token_out,
	                               err);
}

int
pstore_enrol_token_use(struct pstore *ps, const char *token, time_t now, char **err)
{
	char hash[65];
	sqlite3_stmt *st;

	if (token_hash(token, hash) < 0) {
		*err = xstrdup("SHA-256 failed");
		return -1;
	}
	st =
	    prep(ps, "UPDATE enrol_tokens SET used = 1 WHERE hash = ? AND used = 0 AND expires > ?",
	         err);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	if (run(ps, st, "use token", err) < 0)
		return -1;
	return sqlite3_changes(ps->db) > 0 ? 0 : 1;
}

/* ------------------------------------------------------------ gateways */

static void
bind_opt(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int
pstore_gateway_add(struct pstore *ps, const char *id, const char *public_key, const char *push_url,
                   const char *scope, time_t now, char **err)
{
	sqlite3_stmt *st = prep(
	    ps,
	    "INSERT INTO gateways (id, public_key, push_url, scope, enrolled, state, last_seen)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?5) ON CONFLICT(id) DO UPDATE SET"
	    " public_key = ?2, push_url = ?3, scope = ?4, enrolled = ?5, last_seen = ?5",
	    err);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, public_key, -1, SQLITE_STATIC);
	bind_opt(st, 3, push_url);
	bind_opt(st, 4, scope);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
	return run(ps, st, "store gateway", err);
}

#define GATEWAY_COLS                                                                               \
	"SELECT g.id, g.public_key, g.push_url, g.scope, g.enrolled, g.state, g.last_seen,"        \
	" (SELECT r.message FROM receipts r WHERE r.gateway = g.id ORDER BY r.id DESC"             \
	" LIMIT 1) FROM gateways g"

static int
gateway_rows(struct pstore *ps, sqlite3_stmt *st, struct pstore_gateway **out, size_t *n,
             char **err)
{
	struct pstore_gateway *g = NULL;
	size_t cap = 0, k = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		g = xgrow(g, &cap, k + 1, sizeof(*g));
		g[k].id = col_text(st, 0);
		g[k].public_key = col_text(st, 1);
		g[k].push_url = col_text(st, 2);
		g[k].scope = col_text(st, 3);
		g[k].enrolled = sqlite3_column_int64(st, 4);
		g[k].state = col_text(st, 5);
		g[k].last_seen = sqlite3_column_int64(st, 6);
		g[k].last_message = col_text(st, 7);
		k++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		pstore_gateways_free(g, k);
		return db_fail(ps, "gateways", err);
	}
	*out = g;
	*n = k;
	return 0;
}

int
pstore_gateway(struct pstore *ps, const char *id, struct pstore_gateway *g, char **err)
{
	sqlite3_stmt *st = prep(ps, GATEWAY_COLS " WHERE g.id = ?", err);
	struct pstore_gateway *rows;
	size_t n;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (gateway_rows(ps, st, &rows, &n, err) < 0)
		return -1;
	if (n == 0) {
		free(rows);
		return 0;
	}
	*g = rows[0];
	free(rows);
	return 1;
}

int
pstore_gateways(struct pstore *ps, struct pstore_gateway **out, size_t *n, char **err)
{
	sqlite3_stmt *st = prep(ps, GATEWAY_COLS " ORDER BY g.id", err);

	if (st == NULL)
		return -1;
	return gateway_rows(ps, st, out, n, err);
}

void
pstore_gateway_clear(struct pstore_gateway *g)
{
	free(g->id);
	free(g->public_key);
	free(g->push_url);
	free(g->scope);
	free(g->state);
	free(g->last_message);
	memset(g, 0, sizeof(*g));
}

void
pstore_gateways_free(struct pstore_gateway *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pstore_gateway_clear(&g[i]);
	free(g);
}

/* ------------------------------------------------------------ receipts */

/* The statements of one batch of receipts, prepared once per batch. */
struct receipt_stmts {
	sqlite3_stmt *gateway, *document, *insert, *seen, *state;
};

static void
receipt_stmts_free(struct receipt_stmts *s)
{
	sqlite3_finalize(s->gateway);
	sqlite3_finalize(s->document);
	sqlite3_finalize(s->insert);
	sqlite3_finalize(s->seen);
	sqlite3_finalize(s->state);
	memset(s, 0, sizeof(*s));
}

static int
receipt_stmts_prep(struct pstore *ps, struct receipt_stmts *s, char **err)
{
	memset(s, 0, sizeof(*s));
	if ((s->gateway = prep(ps, "SELECT 1 FROM gateways WHERE id = ?", err)) == NULL ||
	    (s->document = prep(ps, "SELECT 1 FROM documents WHERE id = ? AND seq = ?", err)) ==
	        NULL ||
	    (s->insert = prep(ps,
	                      "INSERT INTO receipts (gateway, message, message_seq, state, time,"
	                      " received, envelope) VALUES (?, ?, ?, ?, ?, ?, ?)"
	                      " ON CONFLICT (gateway, message) DO NOTHING",
	                      err)) == NULL ||
	    (s->seen = prep(ps, "UPDATE gateways SET last_seen = ? WHERE id = ?", err)) == NULL ||
	    (s->state = prep(ps,
	                     "UPDATE gateways SET last_seen = ?1, state = CASE WHEN ?2 >="
	                     " (SELECT MAX(message_seq) FROM receipts WHERE gateway = ?3)"
	                     " THEN ?4 ELSE state END WHERE id = ?3",
	                     err)) == NULL) {
		receipt_stmts_free(s);
		return -1;
	}
	return 0;
}

/* Steps a reset statement: SQLITE_ROW, SQLITE_DONE, or -1 with *err. */
static int
step(struct pstore *ps, sqlite3_stmt *st, const char *what, char **err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(ps, what, err);
	return rc;
}

/* One receipt of a batch (inside its transaction): a PSTORE_RECEIPT_* code, or -1. */
static int
receipt_one(struct pstore *ps, struct receipt_stmts *s, const struct pstore_receipt_in *r,
            time_t now, char **err)
{
	int rc;

	sqlite3_bind_text(s->gateway, 1, r->gateway, -1, SQLITE_STATIC);
	if ((rc = step(ps, s->gateway, "gateway", err)) < 0)
		return -1;
	if (rc != SQLITE_ROW)
		return PSTORE_RECEIPT_UNKNOWN_GATEWAY;
	sqlite3_bind_text(s->document, 1, r->message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->document, 2, (sqlite3_int64)r->message_seq);
	if ((rc = step(ps, s->document, "document", err)) < 0)
		return -1;
	if (rc != SQLITE_ROW)
		return PSTORE_RECEIPT_UNPUBLISHED;
	sqlite3_bind_text(s->insert, 1, r->gateway, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->insert, 2, r->message, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->insert, 3, (sqlite3_int64)r->message_seq);
	sqlite3_bind_text(s->insert, 4, r->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->insert, 5, r->time);
	sqlite3_bind_int64(s->insert, 6, (sqlite3_int64)now);
	sqlite3_bind_text(s->insert, 7, r->envelope, -1, SQLITE_STATIC);
	if (step(ps, s->insert, "store receipt", err) < 0)
		return -1;
	if (sqlite3_changes(ps->db) == 0) {
		/* a repeat: the gateway was seen, nothing else is new */
		sqlite3_bind_int64(s->seen, 1, (sqlite3_int64)now);
		sqlite3_bind_text(s->seen, 2, r->gateway, -1, SQLITE_STATIC);
		return step(ps, s->seen, "update gateway", err) < 0 ? -1 : PSTORE_RECEIPT_REPEAT;
	}
	/* the state is the newest document's (a late receipt of an older one keeps it) */
	sqlite3_bind_int64(s->state, 1, (sqlite3_int64)now);
	sqlite3_bind_int64(s->state, 2, (sqlite3_int64)r->message_seq);
	sqlite3_bind_text(s->state, 3, r->gateway, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->state, 4, r->state, -1, SQLITE_STATIC);
	return step(ps, s->state, "update gateway", err) < 0 ? -1 : PSTORE_RECEIPT_NEW;
}

int
pstore_add_receipts(struct pstore *ps, const struct pstore_receipt_in *r, size_t n, time_t now,
                    int *rc, char **err)
{
	struct receipt_stmts s;
	int ok = 1;

	if (n == 0)
		return 0;
	if (tx_begin(ps, err) < 0)
		return -1;
	if (receipt_stmts_prep(ps, &s, err) < 0)
		return tx_end(ps, 0, err);
	for (size_t i = 0; i < n && ok; i++)
		ok = (rc[i] = receipt_one(ps, &s, &r[i], now, err)) >= 0;
	receipt_stmts_free(&s);
	return tx_end(ps, ok, err);
}

int
pstore_add_receipt(struct pstore *ps, const char *gateway, const char *message,
                   uint64_t message_seq, const char *state, int64_t time, const char *envelope,
                   time_t now, char **err)
{
	struct pstore_receipt_in r = {gateway, message, state, envelope, message_seq, time};
	int rc;

	if (pstore_add_receipts(ps, &r, 1, now, &rc, err) < 0)
		return -1;
	return rc == PSTORE_RECEIPT_REPEAT ? PSTORE_RECEIPT_NEW : rc;
}

int
pstore_receipts(struct pstore *ps, struct pstore_receipt **out, size_t *n, char **err)
{
	sqlite3_stmt *st = prep(ps,
	                        "SELECT gateway, message, message_seq, state, time, received"
	                        " FROM receipts ORDER BY id",
	                        err);
	struct pstore_receipt *r = NULL;
	size_t cap = 0, k = 0;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = xgrow(r, &cap, k + 1, sizeof(*r));
		r[k].gateway = col_text(st, 0);
		r[k].message = col_text(st, 1);
		r[k].message_seq = (uint64_t)sqlite3_column_int64(st, 2);
		r[k].state = col_text(st, 3);
		r[k].time = sqlite3_column_int64(st, 4);
		r[k].received = sqlite3_column_int64(st, 5);
		k++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		pstore_receipts_free(r, k);
		return db_fail(ps, "receipts", err);
	}
	*out = r;
	*n = k;
	return 0;
}

void
pstore_receipts_free(struct pstore_receipt *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].gateway);
		free(r[i].message);
		free(r[i].state);
	}
	free(r);
}

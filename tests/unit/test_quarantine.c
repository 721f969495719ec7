/*
 * Unit tests for store/quarantine: the layout on disk (YYYY/MM/DD/ID.eml,
 * modes, no temporary files left), the index round trip, listing order,
 * delete, release marks, purge by age and by size, ID validation, a
 * tampered index that must not steer file operations, failures that must
 * leave neither file nor row (short source, locked index, full disk on a
 * tiny tmpfs), and concurrent stores from several threads. FTP items: the
 * protocol, user and file_name columns round trip; an index from before
 * those columns is upgraded on open (also by several openers at once) and
 * keeps its rows.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"
#include <sqlite3.h>

#include "store/quarantine.h"

#define T0 1714564800 /* 2024-05-01T12:00:00Z */
#define DAY 86400

static int
setup(void **state)
{
	(void)state;
	store_fixture_setup("/tmp/pc-quarantine-XXXXXX");
	return 0;
}

static struct quarantine *
open_q(const char *sub)
{
	char path[256], *err = NULL;
	struct quarantine *q;

	snprintf(path, sizeof(path), "%s/%s", base, sub);
	q = quarantine_open(path, &err);
	if (q == NULL)
		fail_msg("quarantine_open %s: %s", path, err);
	return q;
}

static size_t
count_rows(struct quarantine *q)
{
	struct q_record *v;
	size_t n;

	assert_int_equal(quarantine_list(q, &v, &n), 0);
	quarantine_records_free(v, n);
	return n;
}

static const char *const rcpts3[] = {"a@example.org", "\"q\\\"uote\"@example.org",
                                     "j\xc3\xbcrgen@b\xc3\xbc\x63her.example"};

static const struct q_meta meta = {
    .direction = "inbound",
    .listener = "smtp",
    .next_hop = "smtp:127.0.0.1:2525",
    .client_addr = "[192.0.2.1]:4711",
    .helo = "client.example",
    .mail_from = "sender@example.net",
    .rcpts = rcpts3,
    .nrcpts = 3,
    .virus_names = "Eicar-Test-Signature",
    .status = "infected",
    .action = "quarantine",
};

static char *
store_at(struct quarantine *q, const char *body, time_t when, char id[17])
{
	int fd = msg_fd(body, strlen(body)), cls = -1;

	assert_int_equal(quarantine_store_at(q, &meta, fd, strlen(body), when, id, &cls), 0);
	assert_int_equal(cls, STORE_OK);
	close(fd);
	return id;
}

static void
test_id_valid(void **state)
{
	static const struct {
		const char *id;
		int ok;
	} v[] = {
	    {"0123456789abcdef", 1},
	    {"ffffffffffffffff", 1},
	    {"0123456789ABCDEF", 0},  /* we only make lower case */
	    {"0123456789abcde", 0},   /* 15 */
	    {"0123456789abcdef0", 0}, /* 17 */
	    {"../../etc/passwd", 0},
	    {"..%2f..%2fetc%2fpa", 0},
	    {"0123456789abcde/", 0},
	    {"0123456789abcdeg", 0},
	    {"", 0},
	    {"0123456789abcde\n", 0},
	    {NULL, 0},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (quarantine_id_valid(v[i].id) != v[i].ok)
			fail_msg("id %s: want %d", v[i].id ? v[i].id : "NULL", v[i].ok);
}

static void
test_open_creates(void **state)
{
	char path[256], *err = NULL;
	struct quarantine *q = open_q("a/b/q");
	struct stat st;
	sqlite3 *db;
	sqlite3_stmt *s;

	snprintf(path, sizeof(path), "%s/a/b/q", base);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/a/b/q/index.sqlite", base);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
	quarantine_free(q);
	quarantine_free(NULL);

	/* Opening again keeps what is there; a file in the way is an error. */
	quarantine_free(open_q("a/b/q"));
	snprintf(path, sizeof(path), "%s/file", base);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	assert_null(quarantine_open(path, &err));
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_null(quarantine_open("", &err));
	free(err);
}

static void
test_store_get(void **state)
{
	static const char body[] = "From: x\r\nSubject: hi\r\n\r\n.leading dot\r\n\0binary\xff\r\n";
	struct quarantine *q = open_q("q");
	char id[17], path[320], buf[256], date[256];
	struct q_record r;
	struct stat st;
	int fd = msg_fd(body, sizeof(body) - 1), cls = -1, rfd;

	/* The source offset must not move: the caller may still use it. */
	assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
	assert_int_equal(quarantine_store_at(q, &meta, fd, sizeof(body) - 1, T0, id, &cls), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 7);
	close(fd);
	assert_true(quarantine_id_valid(id));

	snprintf(date, sizeof(date), "%s/q/2024/05/01", base);
	snprintf(path, sizeof(path), "%s/%s.eml", date, id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, sizeof(body) - 1);
	assert_int_equal(count_entries(date), 1); /* no temporary file left */
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(body) - 1);
	assert_memory_equal(buf, body, sizeof(body) - 1);
	close(fd);

	assert_int_equal(quarantine_get(q, id, &r), 0);
	assert_string_equal(r.id, id);
	assert_int_equal(r.time, T0);
	assert_string_equal(r.direction, "inbound");
	assert_string_equal(r.listener, "smtp");
	assert_string_equal(r.next_hop, "smtp:127.0.0.1:2525");
	assert_string_equal(r.client_addr, "[192.0.2.1]:4711");
	assert_string_equal(r.helo, "client.example");
	assert_string_equal(r.mail_from, "sender@example.net");
	assert_int_equal(r.nrcpts, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(r.rcpts[i], rcpts3[i]);
	assert_string_equal(r.virus_names, "Eicar-Test-Signature");
	assert_string_equal(r.status, "infected");
	assert_string_equal(r.action, "quarantine");
	assert_int_equal(r.size, sizeof(body) - 1);
	assert_int_equal(r.released_at, 0);
	assert_null(r.released_reply);
	assert_string_equal(r.path, path);
	/* A caller that does not know the FTP fields leaves them NULL. */
	assert_null(r.protocol);
	assert_null(r.user);
	assert_null(r.file_name);

	rfd = quarantine_open_message(q, &r);
	assert_true(rfd >= 0);
	assert_int_equal(read(rfd, buf, sizeof(buf)), sizeof(body) - 1);
	assert_memory_equal(buf, body, sizeof(body) - 1);
	close(rfd);
	quarantine_record_clear(&r);
	quarantine_record_clear(NULL);

	assert_int_equal(quarantine_get(q, "0000000000000000", &r), 1);
	assert_int_equal(quarantine_get(q, "../../etc/passwd", &r), 1);
	quarantine_free(q);
}

static void
test_null_fields(void **state)
{
	static const struct q_meta empty = {0};
	struct quarantine *q = open_q("q");
	char id[17];
	struct q_record r;
	int fd = msg_fd("", 0), cls;

	assert_int_equal(quarantine_store(q, &empty, fd, 0, id, &cls), 0);
	close(fd);
	assert_int_equal(quarantine_get(q, id, &r), 0);
	assert_null(r.direction);
	assert_null(r.mail_from);
	assert_null(r.protocol);
	assert_null(r.user);
	assert_null(r.file_name);
	assert_int_equal(r.nrcpts, 0);
	assert_int_equal(r.size, 0);
	assert_true(r.time > T0);
	quarantine_record_clear(&r);
	quarantine_free(q);
}

static const struct q_meta ftp_meta = {
    .direction = "inbound",
    .listener = "ftp",
    .next_hop = "192.0.2.21:21",
    .client_addr = "[192.0.2.1]:4711",
    .virus_names = "Eicar-Test-Signature",
    .status = "infected",
    .action = "quarantine",
    .protocol = "ftp",
    .user = "alice",
    .file_name = "../../etc/evil name.exe",
};

/* An FTP file: byte-identical, its fields back from get and list, the
 * file name never used for the path. */
static void
test_ftp_fields(void **state)
{
	static const char body[] = "MZ\x90\0\x03\0\0\0\r\n\xff binary\n";
	struct quarantine *q = open_q("q");
	char id[17], sid[17], path[320], buf[64];
	struct q_record r, *v;
	size_t n;
	int fd = msg_fd(body, sizeof(body) - 1), cls = -1;

	assert_int_equal(quarantine_store_at(q, &ftp_meta, fd, sizeof(body) - 1, T0, id, &cls), 0);
	close(fd);
	store_at(q, "smtp\r\n", T0 + 1, sid);
	assert_int_equal(quarantine_get(q, id, &r), 0);
	assert_string_equal(r.protocol, "ftp");
	assert_string_equal(r.user, "alice");
	assert_string_equal(r.file_name, "../../etc/evil name.exe");
	assert_string_equal(r.next_hop, "192.0.2.21:21");
	assert_string_equal(r.client_addr, "[192.0.2.1]:4711");
	assert_null(r.mail_from);
	assert_int_equal(r.nrcpts, 0);
	assert_int_equal(r.size, sizeof(body) - 1);
	snprintf(path, sizeof(path), "%s/q/2024/05/01/%s.eml", base, id);
	assert_string_equal(r.path, path);
	fd = quarantine_open_message(q, &r);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(body) - 1);
	assert_memory_equal(buf, body, sizeof(body) - 1);
	close(fd);
	quarantine_record_clear(&r);
	assert_null(r.protocol);

	assert_int_equal(quarantine_list(q, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, id);
	assert_string_equal(v[0].protocol, "ftp");
	assert_string_equal(v[0].user, "alice");
	assert_string_equal(v[0].file_name, "../../etc/evil name.exe");
	assert_string_equal(v[1].id, sid);
	assert_null(v[1].protocol);
	assert_null(v[1].user);
	quarantine_records_free(v, n);
	quarantine_free(q);
}

/* The schema of the first version, before protocol, user, file_name. */
static const char old_schema[] =
    "CREATE TABLE IF NOT EXISTS messages ("
    " id TEXT PRIMARY KEY, time INTEGER, direction TEXT, listener TEXT,"
    " next_hop TEXT, client_addr TEXT, helo TEXT, mail_from TEXT,"
    " rcpts TEXT, virus_names TEXT, status TEXT, size INTEGER, action TEXT,"
    " path TEXT, released_at INTEGER, released_reply TEXT);"
    "CREATE INDEX IF NOT EXISTS messages_time ON messages(time);";
#define OLD_ID "0123456789abcdef"

/* Creates base/sub as the old version left it: one message, its row. */
static void
make_old_quarantine(const char *sub)
{
	char path[256], sql[512];
	sqlite3 *db;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", base, sub);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s/2024", base, sub);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s/2024/05", base, sub);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s/2024/05/01", base, sub);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s/2024/05/01/" OLD_ID ".eml", base, sub);
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old\r\n", 5), 5);
	close(fd);
	snprintf(path, sizeof(path), "%s/%s/index.sqlite", base, sub);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, old_schema, NULL, NULL, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO messages (id, time, direction, listener, next_hop, mail_from,"
	         " rcpts, virus_names, status, size, action, path) VALUES ('" OLD_ID
	         "', %d, 'inbound', 'smtp', 'smtp:127.0.0.1:2525', 'old@example.net',"
	         " '[\"r@example.org\"]', 'Old.Virus', 'infected', 5, 'quarantine',"
	         " '2024/05/01/" OLD_ID ".eml')",
	         T0);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* How many of protocol, user, file_name the index of base/sub has. */
static int
new_columns(const char *sub)
{
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s/index.sqlite", base, sub);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA table_info(messages)", -1, &st, NULL),
	                 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);

		n += !strcmp(name, "protocol") || !strcmp(name, "user") ||
		     !strcmp(name, "file_name");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
test_old_schema(void **state)
{
	struct quarantine *q;
	char id[17], buf[16];
	struct q_record r, *v;
	size_t n;
	int fd, cls;

	make_old_quarantine("q");
	assert_int_equal(new_columns("q"), 0);
	q = open_q("q");
	assert_int_equal(new_columns("q"), 3);

	/* The old row reads back whole, its new fields NULL (= smtp). */
	assert_int_equal(quarantine_get(q, OLD_ID, &r), 0);
	assert_int_equal(r.time, T0);
	assert_string_equal(r.mail_from, "old@example.net");
	assert_int_equal(r.nrcpts, 1);
	assert_string_equal(r.rcpts[0], "r@example.org");
	assert_string_equal(r.virus_names, "Old.Virus");
	assert_int_equal(r.size, 5);
	assert_null(r.protocol);
	assert_null(r.user);
	assert_null(r.file_name);
	fd = quarantine_open_message(q, &r);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "old\r\n", 5);
	close(fd);
	quarantine_record_clear(&r);

	/* A new FTP row next to it. */
	fd = msg_fd("ftp-bytes", 9);
	assert_int_equal(quarantine_store_at(q, &ftp_meta, fd, 9, T0 + 60, id, &cls), 0);
	close(fd);
	quarantine_free(q);

	/* Opening again changes nothing; both rows are there. */
	q = open_q("q");
	assert_int_equal(new_columns("q"), 3);
	assert_int_equal(quarantine_list(q, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, OLD_ID);
	assert_null(v[0].protocol);
	assert_string_equal(v[1].id, id);
	assert_string_equal(v[1].protocol, "ftp");
	assert_string_equal(v[1].user, "alice");
	assert_string_equal(v[1].file_name, "../../etc/evil name.exe");
	assert_int_equal(v[1].size, 9);
	quarantine_records_free(v, n);
	assert_int_equal(quarantine_mark_released(q, OLD_ID, T0 + 120, "250 ok"), 0);
	assert_int_equal(quarantine_delete(q, id), 0);
	assert_int_equal(count_rows(q), 1);
	quarantine_free(q);
}

#define NOPENERS 6

static void *
opener_main(void *arg)
{
	char path[256], *err = NULL;
	struct quarantine *q;

	snprintf(path, sizeof(path), "%s/q", base);
	q = quarantine_open(path, &err);
	if (q == NULL) {
		free(err);
		return (void *)1;
	}
	quarantine_free(q);
	return NULL;
}

/* The daemon and portcullis-ctl may open an old index at the same moment:
 * each column is added once and every opener succeeds. */
static void
test_old_schema_concurrent_open(void **state)
{
	pthread_t th[NOPENERS];
	struct quarantine *q;

	make_old_quarantine("q");
	for (int i = 0; i < NOPENERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, opener_main, NULL), 0);
	for (int i = 0; i < NOPENERS; i++) {
		void *ret;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(new_columns("q"), 3);
	q = open_q("q");
	assert_int_equal(count_rows(q), 1);
	quarantine_free(q);
}

static void
test_list_order(void **state)
{
	struct quarantine *q = open_q("q");
	char a[17], b[17], c[17];
	struct q_record *v;
	size_t n;

	store_at(q, "three\r\n", T0 + 3 * DAY, c);
	store_at(q, "one\r\n", T0 + 1 * DAY, a);
	store_at(q, "two\r\n", T0 + 2 * DAY, b);
	assert_int_equal(quarantine_list(q, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].id, a);
	assert_string_equal(v[1].id, b);
	assert_string_equal(v[2].id, c);
	assert_int_equal(v[0].size, 5);
	assert_non_null(strstr(v[2].path, "/2024/05/04/"));
	quarantine_records_free(v, n);
	quarantine_free(q);
}

static void
test_delete_and_release(void **state)
{
	struct quarantine *q = open_q("q");
	char id[17], path[256];
	struct q_record r;
	struct stat st;

	store_at(q, "msg\r\n", T0, id);
	snprintf(path, sizeof(path), "%s/q/2024/05/01/%s.eml", base, id);
	assert_int_equal(stat(path, &st), 0);

	assert_int_equal(quarantine_mark_released(q, id, T0 + 60, "250 2.0.0 Ok: queued as X"), 0);
	assert_int_equal(quarantine_get(q, id, &r), 0);
	assert_int_equal(r.released_at, T0 + 60);
	assert_string_equal(r.released_reply, "250 2.0.0 Ok: queued as X");
	quarantine_record_clear(&r);
	assert_int_equal(quarantine_mark_released(q, "0000000000000000", T0, "x"), 1);
	assert_int_equal(quarantine_mark_released(q, "nope", T0, "x"), 1);

	assert_int_equal(quarantine_delete(q, id), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(quarantine_get(q, id, &r), 1);
	assert_int_equal(quarantine_delete(q, id), 1);
	assert_int_equal(quarantine_delete(q, "../../etc/passwd"), 1);

	/* A row whose file is already gone can still be deleted. */
	store_at(q, "msg\r\n", T0, id);
	snprintf(path, sizeof(path), "%s/q/2024/05/01/%s.eml", base, id);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(quarantine_delete(q, id), 0);
	assert_int_equal(count_rows(q), 0);
	quarantine_free(q);
}

static void
test_purge_age(void **state)
{
	struct quarantine *q = open_q("q");
	time_t now = T0 + 100 * DAY;
	char old1[17], old2[17], edge[17], young[17];
	struct q_purge_stats st;
	struct q_record *v, r1, r2;
	struct stat sb;
	size_t n;

	store_at(q, "0123456789", now - 40 * DAY, old1);
	store_at(q, "01234", now - 31 * DAY, old2);
	store_at(q, "x", now - 30 * DAY, edge); /* exactly the age: not older */
	store_at(q, "y", now - DAY, young);
	assert_int_equal(quarantine_get(q, old1, &r1), 0);
	assert_int_equal(quarantine_get(q, old2, &r2), 0);
	assert_int_equal(stat(r1.path, &sb), 0);
	assert_int_equal(quarantine_purge(q, now, 30ULL * DAY * 1000, 0, &st), 0);
	assert_int_equal(st.deleted, 2);
	assert_int_equal(st.bytes, 15);
	assert_int_equal(st.failed, 0);
	assert_int_equal(quarantine_list(q, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, edge);
	assert_string_equal(v[1].id, young);
	quarantine_records_free(v, n);
	assert_int_equal(stat(r1.path, &sb), -1);
	assert_int_equal(stat(r2.path, &sb), -1);
	quarantine_record_clear(&r1);
	quarantine_record_clear(&r2);

	/* No limits: nothing happens. */
	assert_int_equal(quarantine_purge(q, now, 0, 0, &st), 0);
	assert_int_equal(st.deleted, 0);
	assert_int_equal(count_rows(q), 2);
	quarantine_free(q);
}

static void
test_purge_size(void **state)
{
	static const struct {
		uint64_t max;
		size_t deleted;
	} v[] = {{1000, 0}, {500, 0}, {499, 1}, {250, 3}, {100, 4}, {1, 5}};
	char body[101];

	memset(body, 'm', 100);
	body[100] = '\0';
	for (size_t t = 0; t < sizeof(v) / sizeof(v[0]); t++) {
		struct quarantine *q;
		char ids[5][17], sub[32];
		struct q_purge_stats st;
		struct q_record *rec;
		size_t n;

		snprintf(sub, sizeof(sub), "q%zu", t);
		q = open_q(sub);
		for (int i = 0; i < 5; i++)
			store_at(q, body, T0 + i * 60, ids[i]);
		assert_int_equal(quarantine_purge(q, T0 + DAY, 0, v[t].max, &st), 0);
		if (st.deleted != v[t].deleted)
			fail_msg("max %llu: deleted %zu, want %zu", (unsigned long long)v[t].max,
			         st.deleted, v[t].deleted);
		assert_int_equal(st.bytes, 100 * v[t].deleted);
		assert_int_equal(quarantine_list(q, &rec, &n), 0);
		assert_int_equal(n, 5 - v[t].deleted);
		/* The oldest went first: the survivors are the newest. */
		for (size_t i = 0; i < n; i++)
			assert_string_equal(rec[i].id, ids[v[t].deleted + i]);
		quarantine_records_free(rec, n);
		quarantine_free(q);
	}
}

/* A tampered index must not steer unlink/open to another file. */
static void
test_tampered_index(void **state)
{
	struct quarantine *q = open_q("q");
	char id[17], victim[256], idx[256], sql[512];
	struct q_record r;
	struct q_purge_stats st;
	struct stat sb;
	sqlite3 *db;

	store_at(q, "msg\r\n", T0, id);
	snprintf(victim, sizeof(victim), "%s/victim", base);
	close(open(victim, O_CREAT | O_WRONLY, 0600));
	snprintf(idx, sizeof(idx), "%s/q/index.sqlite", base);
	assert_int_equal(sqlite3_open(idx, &db), SQLITE_OK);
	snprintf(
	    sql, sizeof(sql),
	    "UPDATE messages SET path = '../victim'; "
	    "INSERT INTO messages (id, time, path, size) VALUES ('../victim', 0, '../victim', 1);"
	    "INSERT INTO messages (id, time, path, size) VALUES ('abcdefabcdefabcd', "
	    "-99999999999999, '../victim', 1);");
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(quarantine_get(q, id, &r), 0);
	assert_non_null(strstr(r.path, "/q/2024/05/01/"));
	quarantine_record_clear(&r);
	/* A time we cannot turn into a date: no path, deletes the row only. */
	assert_int_equal(quarantine_get(q, "abcdefabcdefabcd", &r), 0);
	assert_null(r.path);
	assert_int_equal(quarantine_open_message(q, &r), -1);
	quarantine_record_clear(&r);

	/* Purge everything: the bad row is skipped and reported. */
	assert_int_equal(quarantine_purge(q, T0 + 1000 * DAY, 1000, 0, &st), -1);
	assert_int_equal(st.deleted, 2);
	assert_int_equal(st.failed, 1);
	assert_int_equal(stat(victim, &sb), 0);
	assert_int_equal(count_rows(q), 1);
	quarantine_free(q);
}

static void
test_short_source(void **state)
{
	struct quarantine *q = open_q("q");
	char id[17] = "x", date[256];
	int fd = msg_fd("short", 5), cls = -1;

	assert_int_equal(quarantine_store_at(q, &meta, fd, 1000, T0, id, &cls), -1);
	assert_int_equal(cls, STORE_ERR_IO);
	assert_string_equal(id, "");
	close(fd);
	snprintf(date, sizeof(date), "%s/q/2024/05/01", base);
	assert_int_equal(count_entries(date), 0);
	assert_int_equal(count_rows(q), 0);
	quarantine_free(q);
}

/* Another process holds the write lock: the insert fails after the busy
 * timeout, and the file already written must go. */
static void
test_locked_index(void **state)
{
	struct quarantine *q = open_q("q");
	char id[17], date[256], idx[256];
	int fd = msg_fd("msg\r\n", 5), cls = -1;
	sqlite3 *db;

	snprintf(idx, sizeof(idx), "%s/q/index.sqlite", base);
	assert_int_equal(sqlite3_open(idx, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	quarantine_set_busy_timeout(q, 50);
	assert_int_equal(quarantine_store_at(q, &meta, fd, 5, T0, id, &cls), -1);
	assert_int_equal(cls, STORE_ERR_IO);
	snprintf(date, sizeof(date), "%s/q/2024/05/01", base);
	assert_int_equal(count_entries(date), 0);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(count_rows(q), 0);
	assert_int_equal(quarantine_store_at(q, &meta, fd, 5, T0, id, &cls), 0);
	assert_int_equal(count_entries(date), 1);
	close(fd);
	quarantine_free(q);
}

#define NTHREADS 4
#define PER_THREAD 25

struct worker {
	struct quarantine *q;
	char ids[PER_THREAD][17];
	int failures;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int fd = memfd_create("msg", 0), cls;

	if (fd < 0 || write(fd, "Subject: t\r\n\r\nbody\r\n", 20) != 20) {
		w->failures = PER_THREAD;
		return NULL;
	}
	for (int i = 0; i < PER_THREAD; i++)
		if (quarantine_store(w->q, &meta, fd, 20, w->ids[i], &cls) != 0)
			w->failures++;
	close(fd);
	return NULL;
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_concurrent(void **state)
{
	struct quarantine *q = open_q("q");
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	char all[NTHREADS * PER_THREAD][17];
	struct q_record *v;
	size_t n;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < NTHREADS; i++) {
		w[i].q = q;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
		memcpy(all[i * PER_THREAD], w[i].ids, sizeof(w[i].ids));
	}
	qsort(all, NTHREADS * PER_THREAD, 17, cmp_id);
	for (int i = 1; i < NTHREADS * PER_THREAD; i++)
		assert_string_not_equal(all[i - 1], all[i]);
	assert_int_equal(quarantine_list(q, &v, &n), 0);
	assert_int_equal(n, NTHREADS * PER_THREAD);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		assert_int_equal(stat(v[i].path, &st), 0);
		assert_int_equal(st.st_size, 20);
	}
	quarantine_records_free(v, n);
	quarantine_free(q);
}

/* A full disk: a tmpfs of 256k, a message of 1M. */
static void
test_enospc(void **state)
{
	char mnt[256], date[320];
	struct quarantine *q;
	size_t big = 1024 * 1024;
	char *body = malloc(big), id[17];
	int fd, cls = -1;

	snprintf(mnt, sizeof(mnt), "%s/tiny", base);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0) {
		print_message("skipping the full-disk test: cannot mount a tmpfs (%s)\n",
		              strerror(errno));
		free(body);
		skip();
	}
	q = open_q("tiny/q");
	memset(body, 'A', big);
	fd = msg_fd(body, big);
	assert_int_equal(quarantine_store_at(q, &meta, fd, big, T0, id, &cls), -1);
	assert_int_equal(cls, STORE_ERR_NOSPACE);
	snprintf(date, sizeof(date), "%s/q/2024/05/01", mnt);
	assert_int_equal(count_entries(date), 0);
	assert_int_equal(count_rows(q), 0);
	/* The space came back: a small message fits. */
	assert_int_equal(quarantine_store_at(q, &meta, fd, 100, T0, id, &cls), 0);
	assert_int_equal(count_entries(date), 1);
	assert_int_equal(count_rows(q), 1);
	close(fd);
	free(body);
	quarantine_free(q);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_valid),
	    cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ftp_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_old_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_old_schema_concurrent_open, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_and_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge_age, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_source, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_locked_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

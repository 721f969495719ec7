/*
 * quarantine: messages kept instead of delivered, as files under one
 * directory with an index in SQLite.
 *
 * A message lives at DIR/YYYY/MM/DD/ID.eml (UTC date of storing; ID = 16
 * random lower-case hex digits from getrandom()). It is written to a
 * temporary name in the same directory, fsynced, renamed, and the
 * directory fsynced; only then is its row inserted into DIR/index.sqlite
 * (WAL, synchronous=FULL), so a row always names a durable file. Paths are
 * built only from the ID and the stored time, never from wire data nor
 * from the path column (which is informational).
 *
 * An item is an SMTP message or a file from the FTP proxy (protocol
 * column); an FTP file is kept byte-identical under the same layout
 * (ID.eml too), its file name only a column, never part of a path.
 *
 * Every function blocks (disk, fsync, SQLite): the daemon calls them on
 * worker threads, never on its event loop. A handle may be shared by
 * threads: one SQLite connection guarded by a mutex; other processes
 * (portcullis-ctl) may use the same directory at the same time.
 */
#ifndef PC_QUARANTINE_H
#define PC_QUARANTINE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/storeio.h"

#define QUARANTINE_ID_LEN 16
/* Default wait for another process's lock on the index (SQLITE_BUSY). */
#define QUARANTINE_BUSY_TIMEOUT_MS 10000

struct quarantine;

/* What the caller knows about a message; strings may be NULL (stored NULL). */
struct q_meta {
	const char *direction, *listener, *next_hop, *client_addr, *helo, *mail_from;
	const char *const *rcpts;
	size_t nrcpts;
	const char *virus_names, *status, *action;
	/* "smtp" or "ftp" (NULL: a row that predates the column, read as
	 * smtp). For FTP: client_addr, next_hop (the server), the login name
	 * and the file name as the client gave it, already sanitized by the
	 * caller; file_name is informational and never used for a path. */
	const char *protocol, *user, *file_name;
	/* The hold store (the same module at outbreak.hold_dir): the outbreak
	 * alert an item is held for; NULL in the quarantine. */
	const char *alert;
};

/* One row of the index, owned by the caller; release with
 * quarantine_record_clear(). NULL columns are NULL strings. */
struct q_record {
	char id[QUARANTINE_ID_LEN + 1];
	int64_t time; /* Unix seconds when stored */
	char *direction, *listener, *next_hop, *client_addr, *helo, *mail_from;
	char **rcpts;
	size_t nrcpts;
	char *virus_names, *status, *action;
	char *protocol, *user, *file_name; /* protocol NULL: an old row, smtp */
	char *alert;                       /* the hold store's alert ID, or NULL */
	uint64_t size;
	int64_t released_at; /* Unix seconds, 0 = never released */
	char *released_reply;
	char *path; /* DIR/YYYY/MM/DD/ID.eml, built from id and time */
};

/*
 * Opens (creating dir with mode 0700 and missing parents with 0755, and the
 * index) the quarantine at dir. An index written before the protocol, user
 * and file_name columns existed gets them added (old rows keep NULL there).
 * Copies dir. Returns the handle, or NULL
 * with *err set to an allocated message (caller frees).
 */
struct quarantine *quarantine_open(const char *dir, char **err);
/* Closes the index and frees the handle; accepts NULL. */
void quarantine_free(struct quarantine *q);
/* How long to wait for another process's lock on the index (default
 * QUARANTINE_BUSY_TIMEOUT_MS). */
void quarantine_set_busy_timeout(struct quarantine *q, unsigned ms);

/* 1 if id is exactly 16 lower-case hex digits, else 0. Check every ID
 * that comes from outside before passing it to any other function. */
int quarantine_id_valid(const char *id);

/*
 * Stores bytes [0, size) of fd (read with pread, its offset untouched) with
 * the metadata m (copied into the index). On success writes the new ID and
 * a NUL into id_out and returns 0. On failure returns -1 and sets
 * *err_class (may be NULL) to STORE_ERR_NOSPACE (disk or quota full) or
 * STORE_ERR_IO; nothing is left behind, neither file nor row.
 */
int quarantine_store(struct quarantine *q, const struct q_meta *m, int fd, uint64_t size,
                     char id_out[QUARANTINE_ID_LEN + 1], int *err_class);
/* quarantine_store() with the time of storing given (Unix seconds), for
 * tests and imports. */
int quarantine_store_at(struct quarantine *q, const struct q_meta *m, int fd, uint64_t size,
                        time_t when, char id_out[QUARANTINE_ID_LEN + 1], int *err_class);

/* Every record, oldest first, into a new array (*out, *n); free with
 * quarantine_records_free(). 0 or -1. */
int quarantine_list(struct quarantine *q, struct q_record **out, size_t *n);
void quarantine_records_free(struct q_record *r, size_t n);
/* Frees the strings of one record (not the record itself); accepts NULL. */
void quarantine_record_clear(struct q_record *r);

/* The number of records not released yet (released_at 0), or -1. */
int64_t quarantine_count_unreleased(struct quarantine *q);
/* The records in the store (released ones too, until purged) and the sum
 * of their sizes; 0 or -1. */
int quarantine_totals(struct quarantine *q, int64_t *items, int64_t *bytes);
/* Every record of the hold store's alert not released yet, oldest first
 * (as quarantine_list). 0 or -1. */
int quarantine_list_alert(struct quarantine *q, const char *alert, struct q_record **out,
                          size_t *n);

/* Fills *out with the record of id. 0 found, 1 unknown (or invalid) id,
 * -1 error. */
int quarantine_get(struct quarantine *q, const char *id, struct q_record *out);
/* Opens the stored message of a record read-only (O_NOFOLLOW); the fd, or
 * -1 with errno set. */
int quarantine_open_message(struct quarantine *q, const struct q_record *r);
/* Deletes the file and the row of id. 0, 1 unknown id, -1 error. */
int quarantine_delete(struct quarantine *q, const char *id);
/* Records a release: released_at = when, released_reply = reply (copied).
 * 0, 1 unknown id, -1 error. */
int quarantine_mark_released(struct quarantine *q, const char *id, time_t when, const char *reply);

struct q_purge_stats {
	size_t deleted;
	uint64_t bytes; /* sum of the size column of the deleted records */
	size_t failed;
};
/*
 * Deletes every record stored more than older_than_ms before now (0 = no
 * age limit), then the oldest records until the total size is at most
 * max_total_size (0 = no size limit). Fills *st (may be NULL). 0, or -1 if
 * the index could not be read or any deletion failed.
 */
int quarantine_purge(struct quarantine *q, time_t now, uint64_t older_than_ms,
                     uint64_t max_total_size, struct q_purge_stats *st);

#endif

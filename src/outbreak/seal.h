/*
 * seal: the gateway's outbreak state. Which alerts are active (and so
 * which traffic is sealed), the last sequence number accepted from each
 * provider (replay protection), and the virus IDs the updates have
 * brought. Kept in SQLite at STATE_DIR/seal.sqlite (WAL,
 * synchronous=FULL: a change is on disk before the call returns) and
 * mirrored in memory for seal_match(), which every message and file asks.
 *
 * It survives a restart, a SIGHUP (the daemon owns it, not a runtime) and
 * kill -9. Thread-safe: one mutex. The SQLite calls block: worker threads
 * only; seal_match() touches memory only.
 *
 * An alert's states: active (it seals its scope), releasing (its awaited
 * signatures arrived or an all-clear came: the seal is lifted and the held
 * items are being rescanned and released), released (done), lifted (ended
 * by the admin without a release; its held items stay held), expired (its
 * expiry passed: it seals no more, its held items stay until the admin
 * decides).
 */
#ifndef PC_SEAL_H
#define PC_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "outbreak/omsg.h"

/* The virus name a hash-mode alert's checksums match under. */
#define SEAL_HASH_PREFIX "Portcullis.Outbreak."

struct seal;

/* A copy of one alert, for listings; free with seal_alerts_free(). */
struct seal_alert {
	char id[OMSG_ID_MAX + 1];
	char provider[OMSG_ID_MAX + 1];
	uint64_t seq;
	enum omsg_mode mode;
	unsigned scope_dir, scope_proto;
	char *viruses; /* space-separated */
	char *sha256;  /* space-separated hex */
	char *name;    /* "" when none */
	int64_t issued, expires, received, ended;
	char state[16];
	char *ended_by; /* "update ID", "allclear ID", "admin", "" */
};

/* What seal_match() found. */
struct seal_hit {
	char alert[OMSG_ID_MAX + 1];
	enum omsg_mode mode;
	char name[208]; /* the alert's name, or its awaited virus IDs */
};

/* Opens (creating dir 0700 and the database) the state at dir. NULL with *err. */
struct seal *seal_open(const char *dir, char **err);
void seal_free(struct seal *s);

/*
 * Is traffic of protocol proto (OSCOPE_SMTP / OSCOPE_FTP) in direction dir
 * (OSCOPE_INBOUND / OSCOPE_OUTBOUND) sealed at now? The first active
 * hold or hold_attachments alert in scope fills *hit: 1; else 0. An alert
 * found past its expiry is marked expired in memory (seal_expire() writes
 * that down). Memory only: cheap, any thread.
 */
int seal_match(struct seal *s, unsigned proto, unsigned dir, time_t now, struct seal_hit *hit);
/* The alert a hash-mode virus name (SEAL_HASH_PREFIX + ID) stands for, if
 * active: 1 with *hit, else 0. */
int seal_hash_alert(struct seal *s, const char *virus_name, struct seal_hit *hit);
/* 1 if any alert is active (for receipts: "sealed"), else 0. */
int seal_sealed(struct seal *s);

/* The last sequence number accepted from provider (0: none). */
uint64_t seal_last_seq(struct seal *s, const char *provider);

/*
 * Records an accepted alert (seq becomes the provider's last). 0, or -1
 * with *err: a database failure (nothing changed), or an alert with that
 * ID already known.
 */
int seal_add_alert(struct seal *s, const struct omsg *m, time_t now, char **err);
/*
 * Records an accepted update: its seq, the virus IDs it brings. Every
 * active or expired alert whose awaited IDs all have arrived (by this update
 * or earlier ones) becomes releasing; their IDs are returned in *ids (n,
 * free each and the array). 0 or -1 with *err.
 */
int seal_add_update(struct seal *s, const struct omsg *m, time_t now, char ***ids, size_t *n,
                    char **err);
/*
 * Records an accepted all-clear (its seq) and moves its alert to
 * releasing. 1 if the alert was active or expired (now releasing), 0 if
 * unknown or already ended (the seq is still recorded), -1 with *err.
 */
int seal_add_allclear(struct seal *s, const struct omsg *m, time_t now, char **err);
/*
 * Sets an alert's state ("releasing", "released", "lifted") with who did
 * it and when (by NULL: the state only). 0, 1 unknown alert, -1 error.
 */
int seal_set_state(struct seal *s, const char *id, const char *state, const char *by, time_t now);
/* Writes down the alerts seal_match() found expired. */
void seal_expire(struct seal *s, time_t now);

/* Every alert, newest first (n), or only those in state (NULL: all). */
int seal_alerts(struct seal *s, const char *state, struct seal_alert **out, size_t *n);
int seal_alert_get(struct seal *s, const char *id, struct seal_alert *out); /* 0, 1 unknown, -1 */
void seal_alerts_free(struct seal_alert *a, size_t n);
void seal_alert_clear(struct seal_alert *a);

/*
 * The checksum lines ("HEX Portcullis.Outbreak.ID\n", the sha256 signature
 * format) of every active hash alert, for the engine. Allocated, "" when none.
 */
char *seal_hash_sigs(struct seal *s);

const char *seal_scope_name(unsigned dir); /* "inbound", "outbound", "both" */

#endif

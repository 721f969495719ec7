/*
 * pstore: the signature provider's state (portcullis-provider) behind a
 * narrow interface: the seq counter over every document, the documents
 * published (their envelopes), the alerts issued and whether an all-clear
 * ended them, one-time enrolment tokens (only their hashes), the gateways
 * enrolled and the receipts they signed (one per gateway and document,
 * only for documents published here; recorded one by one or in batches).
 *
 * SQLite today (STATE_DIR/provider.sqlite, WAL, synchronous=FULL); every
 * SQL statement lives in pstore.c, so that PostgreSQL can take its place
 * later without a caller changing (see the note at the top of pstore.c and
 * docs/provider.md). Not thread-safe: one handle per thread.
 */
#ifndef PC_PSTORE_H
#define PC_PSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct pstore;

/* A published document, as pstore_documents() lists it. */
struct pstore_doc {
	uint64_t seq;
	char *type;      /* "alert", "update", "allclear" */
	char *id;        /* the document's ID */
	char *url;       /* its name in the feed, relative ("alert-7.json") */
	int64_t created; /* Unix seconds */
	char *envelope;  /* NULL unless asked for */
};

/* An alert issued, as pstore_alerts() lists it. */
struct pstore_alert {
	char *id;
	uint64_t seq;
	int64_t issued, expires;
	char *ended_by; /* the all-clear's ID, or NULL while it stands */
};

/*
 * Opens (creating when missing) STATE_DIR/provider.sqlite. NULL with *err
 * (allocated).
 */
struct pstore *pstore_open(const char *state_dir, char **err);
void pstore_close(struct pstore *ps);

/*
 * Takes the next seq (1, 2, ...): an atomic increment, committed before it
 * returns, so that no two documents ever share one, across processes and
 * restarts. A seq taken but never published leaves a gap (allowed: the
 * gateways only require seq to increase). 0, or -1 with *err.
 */
int pstore_next_seq(struct pstore *ps, uint64_t *seq, char **err);
/* The last seq taken (0: none yet). */
int pstore_last_seq(struct pstore *ps, uint64_t *seq, char **err);

/*
 * Records a published document. id and seq are unique: a second document
 * with either is refused (-1 with *err).
 */
int pstore_add_document(struct pstore *ps, const char *type, const char *id, uint64_t seq,
                        const char *url, const char *envelope, time_t now, char **err);
/*
 * Every published document in seq order (*out allocated, *n entries; free
 * with pstore_docs_free()). with_envelope: also load the envelopes.
 */
int pstore_documents(struct pstore *ps, int with_envelope, struct pstore_doc **out, size_t *n,
                     char **err);
void pstore_docs_free(struct pstore_doc *docs, size_t n);
/*
 * 1 and *out filled, envelope included (free with pstore_doc_clear()), if
 * a document with this ID was published; id NULL: the last one published
 * (highest seq). 0 if none; -1 on error.
 */
int pstore_document(struct pstore *ps, const char *id, struct pstore_doc *out, char **err);
void pstore_doc_clear(struct pstore_doc *d);
/* 1 if a document with this ID was published, 0 if not, -1 on error. */
int pstore_document_exists(struct pstore *ps, const char *id, char **err);

/* Records an alert (its document is recorded by pstore_add_document()). */
int pstore_add_alert(struct pstore *ps, const char *id, uint64_t seq, int64_t issued,
                     int64_t expires, char **err);
/*
 * Marks alert id ended by all-clear `by`. 0; 1 if there is no such alert;
 * -1 on error.
 */
int pstore_end_alert(struct pstore *ps, const char *id, const char *by, char **err);
/* 1 and *a filled (free with pstore_alert_clear()) if alert id exists; 0; -1. */
int pstore_alert(struct pstore *ps, const char *id, struct pstore_alert *a, char **err);
/* Every alert in seq order. */
int pstore_alerts(struct pstore *ps, struct pstore_alert **out, size_t *n, char **err);
void pstore_alerts_free(struct pstore_alert *a, size_t n);
void pstore_alert_clear(struct pstore_alert *a);

/*
 * Makes a one-time enrolment token: 32 random bytes as 64 hex digits into
 * token_out; only its SHA-256 is stored, valid until now + ttl.
 */
#define PSTORE_TOKEN_HEX 64
int pstore_enrol_token_new(struct pstore *ps, time_t now, int64_t ttl,
                           char token_out[PSTORE_TOKEN_HEX + 1], char **err);
/* n tokens at once (one transaction: provisioning a fleet), into tokens[0..n-1]. */
int pstore_enrol_tokens_new(struct pstore *ps, time_t now, int64_t ttl, size_t n,
                            char (*tokens)[PSTORE_TOKEN_HEX + 1], char **err);
/*
 * Uses a token: 0 if it was issued, unused and unexpired (it is used up
 * now); 1 if not (unknown, used or expired); -1 on error.
 */
int pstore_enrol_token_use(struct pstore *ps, const char *token, time_t now, char **err);

/*
 * The gateway registry (enrolled over HTTP, pserver) and the receipts they
 * send back. state: "open" or "sealed" (from the last receipt).
 */
struct pstore_gateway {
	char *id;
	char *public_key; /* 64 hex digits */
	char *push_url;   /* may be NULL */
	char *scope;      /* may be NULL */
	int64_t enrolled, last_seen;
	char *state;
	char *last_message; /* the last receipt's message ID, or NULL */
};

struct pstore_receipt {
	char *gateway, *message, *state;
	uint64_t message_seq;
	int64_t time;     /* the receipt's own time */
	int64_t received; /* when it was recorded */
};

/*
 * Records (or, for an ID already enrolled, replaces the key, push URL and
 * scope of) a gateway: state "open", enrolled and last_seen now.
 */
int pstore_gateway_add(struct pstore *ps, const char *id, const char *public_key,
                       const char *push_url, const char *scope, time_t now, char **err);
/* 1 and *g filled (free with pstore_gateway_clear()) if gateway id exists; 0; -1. */
int pstore_gateway(struct pstore *ps, const char *id, struct pstore_gateway *g, char **err);
/* Every gateway, by ID. */
int pstore_gateways(struct pstore *ps, struct pstore_gateway **out, size_t *n, char **err);
void pstore_gateway_clear(struct pstore_gateway *g);
void pstore_gateways_free(struct pstore_gateway *g, size_t n);

/*
 * What recording one receipt did. A receipt is recorded once per gateway
 * and document (gateway, message): a repeat adds no row and changes nothing
 * but the gateway's last_seen. A receipt must answer a document published
 * here, with that seq (documents: id = message, seq = message_seq).
 */
enum {
	PSTORE_RECEIPT_NEW = 0,             /* recorded */
	PSTORE_RECEIPT_UNKNOWN_GATEWAY = 1, /* the gateway is not enrolled */
	PSTORE_RECEIPT_UNPUBLISHED = 2,     /* not a document published here (id and seq) */
	PSTORE_RECEIPT_REPEAT = 3           /* already recorded (pstore_add_receipts() only) */
};

/* A verified receipt to record (pointers borrowed for the call). */
struct pstore_receipt_in {
	const char *gateway, *message, *state;
	const char *envelope; /* as received */
	uint64_t message_seq;
	int64_t time; /* the receipt's own time */
};

/*
 * Records a verified receipt (envelope as received): a new one sets the
 * gateway's state to the receipt's (unless the gateway already answered a
 * later document) and its last_seen to now, in one transaction.
 * PSTORE_RECEIPT_NEW (0) when recorded or already recorded (a repeat is
 * not an error: nothing new is added), PSTORE_RECEIPT_UNKNOWN_GATEWAY (1),
 * PSTORE_RECEIPT_UNPUBLISHED (2); -1 on error.
 */
int pstore_add_receipt(struct pstore *ps, const char *gateway, const char *message,
                       uint64_t message_seq, const char *state, int64_t time, const char *envelope,
                       time_t now, char **err);
/*
 * Records n receipts as pstore_add_receipt() does, all in one transaction
 * (one fsync for the batch); rc[i] gets each one's PSTORE_RECEIPT_* code
 * (REPEAT included). 0, or -1 with *err (nothing of the batch recorded).
 */
int pstore_add_receipts(struct pstore *ps, const struct pstore_receipt_in *r, size_t n, time_t now,
                        int *rc, char **err);
/* Every receipt in the order received. */
int pstore_receipts(struct pstore *ps, struct pstore_receipt **out, size_t *n, char **err);
void pstore_receipts_free(struct pstore_receipt *r, size_t n);

#endif

/*
 * inspect: the one inspection path of every protocol. An object that
 * crosses the gateway (a mail message, an FTP file, a held message being
 * released) goes
 *
 *     scan -> direction -> policy -> action -> outcome
 *
 * and comes out as an outcome that the protocol turns into its reply:
 * deliver it as is, deliver this rewritten copy instead, refuse it (a
 * temporary or permanent class, and why), or it was stored durably under
 * an ID (quarantine), or dropped by policy. The protocol does the
 * delivering and the replying; everything between the last byte received
 * and that decision happens here, once, for every protocol.
 *
 * Runs on a worker thread: it scans, rewrites, fsyncs and writes SQLite.
 * Never call it on the event loop.
 */
#ifndef PC_INSPECT_H
#define PC_INSPECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mail/notify.h"
#include "outbreak/seal.h"
#include "policy/policy.h"
#include "scan/scanner.h"
#include "scan/verdict.h"
#include "spool/spool.h"
#include "store/quarantine.h"

/* What the path works with: the running configuration's objects, borrowed. */
struct inspect_env {
	struct scanner *scanner;
	const struct policy *policy;
	struct quarantine *quarantine;
	const struct notify_templates *templates; /* the replace action's report */
	const char *spool_dir;                    /* where rewritten copies are spooled */
	/* outbreak control (the daemon's, outliving the runtime); NULL: none */
	struct seal *seal;
	struct quarantine *hold; /* the hold store */
};

enum inspect_proto { INSPECT_SMTP, INSPECT_FTP };

/* Who sent the object, and where it goes. Borrowed for the call. */
struct inspect_ctx {
	enum inspect_proto proto;
	const char *listener;          /* the listener's name */
	int listener_dir;              /* its direction key: LDIR_AUTO, _INBOUND, _OUTBOUND */
	const struct sockaddr *client; /* the original client */
	const char *client_label;      /* the same as "addr:port" / "[v6]:port" */
	const struct sockaddr *dest;   /* next hop, or where an FTP file goes (the server
	                                  for an upload, the client for a download);
	                                  NULL: delivered locally */
	const char *dest_label;        /* "smtp:127.0.0.1:10026", "maildir:/var/...",
	                                  "ftp:192.0.2.1:21" (the server) */
	const char *hostname;          /* ours, for added headers and reports */
	/* SMTP: the envelope */
	const char *helo;
	const char *mail_from; /* "" for the null sender */
	const char *const *rcpts;
	size_t nrcpts;
	/* FTP: the login name and the file name as the client gave it (sanitized) */
	const char *user;
	const char *file_name;
	/* an outbreak release: a held message scanned again, never held again */
	int release;
};

/* The object itself. fd is read with pread (its offset is left alone). */
struct inspect_object {
	int fd;
	uint64_t size;
	const char *name; /* the scan's root name ("message"); never a path */
	int message;      /* an RFC 5322 message: headers added, parts rewritable */
};

enum inspect_kind {
	INSPECT_DELIVER,      /* hand it on as it is (headers prepended, for a message) */
	INSPECT_DELIVER_COPY, /* hand on copy instead: the rewritten message, or for a
	                         file that is not a message, the scanner's report */
	INSPECT_REFUSE,       /* refuse: permanent or not, and why */
	INSPECT_STORED,       /* kept durably (fsynced) under id, not handed on */
	INSPECT_DROPPED,      /* accepted and discarded, as the policy says */
	INSPECT_HELD,         /* outbreak hold: kept durably (fsynced) under id in the
	                         hold store for alert, not handed on */
};

enum inspect_why {
	WHY_NONE,
	WHY_INFECTED,     /* policy: reject */
	WHY_UNSCANNED,    /* not scanned whole; policy: reject or tempfail */
	WHY_STORE_FULL,   /* the store is out of space */
	WHY_STORE_FAILED, /* the store failed otherwise */
	WHY_SEALED,       /* an outbreak alert seals it (FTP): temporary */
};

struct inspect_outcome {
	enum inspect_kind kind;
	/* INSPECT_REFUSE */
	int permanent; /* a 5xx-class refusal; otherwise try again later */
	enum inspect_why why;
	char text[256]; /* "virus found (Eicar-Test-Signature)", "not scanned: corrupt";
	                   held: the alert's name or awaited virus IDs */
	/* INSPECT_STORED, INSPECT_HELD, and a DELIVER_COPY whose original is held
	   (hold_attachments: held set) */
	char id[QUARANTINE_ID_LEN + 1];
	int held;
	char alert[OMSG_ID_MAX + 1]; /* the outbreak alert that held or blocked it */
	/* INSPECT_DELIVER: header lines to put on top of a message, or NULL */
	char *headers;
	/* INSPECT_DELIVER_COPY: the rewritten message, headers included */
	struct spool *copy;
	/* what led there, for the protocol's log line and notices */
	struct scan_verdict verdict;
	enum direction dir;
	struct policy_decision dec; /* dec.action: what was done (a failed
	                               rewrite is quarantined instead) */
	char *names;                /* the verdict's names, comma-separated, "" if none */
	/* the original Subject, read once when something needs it */
	char subject[256];
	int subject_read;
};

/*
 * Runs the path for obj. Fills *out (which the caller clears with
 * inspect_outcome_clear()). Never fails: a failure anywhere is an outcome
 * (refuse, temporary), so that nothing is lost and nothing passes unscanned.
 */
void inspect_run(const struct inspect_env *env, const struct inspect_ctx *ctx,
                 const struct inspect_object *obj, struct inspect_outcome *out);
/* Frees what out owns; out may be zeroed or already cleared. */
void inspect_outcome_clear(struct inspect_outcome *out);
/* The original Subject of a message object, decoded and sanitized (cached in out). */
const char *inspect_subject(const struct inspect_object *obj, struct inspect_outcome *out);
/* "deliver", "deliver-copy", "refuse", "stored", "dropped". */
const char *inspect_kind_name(enum inspect_kind k);
/* What was done, in the past tense, for notices: "quarantined", "dropped", ... */
const char *inspect_action_past(int action);

#endif

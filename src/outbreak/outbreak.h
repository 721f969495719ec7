/*
 * outbreak: the gateway's side of outbreak sealing. It takes signed
 * documents from the provider (pushed over HTTPS, pulled from the feed,
 * or handed over locally by portcullis-ctl), checks them (omsg: signature,
 * form, expiry; here: the sequence number against the last one accepted
 * from that provider), writes every one into the transparency log (tlog),
 * and acts:
 *
 *   alert     the seal (seal) is set: inspect holds what is in scope, the
 *             checksums of a hash alert go into the engine;
 *   update    its signature files are checked, written into the signature
 *             directory (atomically) and added to the running engine; each
 *             alert whose awaited virus IDs have all arrived is released;
 *   allclear  its alert is released.
 *
 * Releasing an alert: its seal is lifted at once, then release threads
 * (outbreak.release_threads, never the workers live traffic uses) rescan
 * each held item on the inspection path with the new signatures and hand
 * the clean ones to the listener's next hop with their original envelope,
 * byte-identical; the infected get the infected-mail policy (quarantine by
 * default). A held item is marked released only once its next hop has
 * accepted it (or it went to the quarantine); a temporary failure leaves
 * it held and it is tried again after outbreak.release_retry.
 *
 * Each accepted alert or update gets a receipt signed with the gateway's
 * key: returned to the pusher, posted to outbreak.receipt_url after a pull.
 *
 * The object lives in the daemon and survives reloads; it borrows the
 * current runtime (outbreak_set_runtime) for the scanner and the policy.
 */
#ifndef PC_OUTBREAK_H
#define PC_OUTBREAK_H

#include <stddef.h>

#include "conf/conf.h"
#include "outbreak/seal.h"
#include "store/quarantine.h"

struct runtime;
struct outbreak;

/* What became of one submitted document. */
struct outbreak_result {
	int accepted;  /* 1: verified and acted on */
	int status;    /* HTTP status for the pusher: 200, 400 (bad document),
	                  403 (signature, replay, expired), 500 (our failure) */
	char *reason;  /* why not accepted, or what was done; allocated */
	char *receipt; /* the signed receipt envelope (accepted alerts and
	                  updates), or NULL; allocated */
};
void outbreak_result_clear(struct outbreak_result *r);

/*
 * Opens the state (seal, hold store, transparency log, keys) from c's
 * [outbreak] section; makes the gateway key pair when none exists. Starts
 * the release threads and resumes the releases a crash interrupted. NULL
 * with *err.
 */
struct outbreak *outbreak_new(const struct pc_config *c, char **err);
void outbreak_free(struct outbreak *ob);
/* The runtime new work uses (a reference is taken; the old one dropped).
 * Adds the active hash alerts' checksums to its engine. Blocking (compiles):
 * call it from a worker or at startup. */
void outbreak_set_runtime(struct outbreak *ob, struct runtime *rt);

struct seal *outbreak_seal(struct outbreak *ob);
struct quarantine *outbreak_hold(struct outbreak *ob);
/* 1 if the provider keys are configured (documents can be accepted). */
int outbreak_enabled(const struct outbreak *ob);

/*
 * Verifies and acts on one document (an envelope, len bytes) from source
 * ("push", "pull", "local"). Blocking (fsync, SQLite, compiling): a worker
 * thread. Fills *res (clear it with outbreak_result_clear()).
 */
void outbreak_submit(struct outbreak *ob, const char *env, size_t len, const char *source,
                     struct outbreak_result *res);

/*
 * Admin actions (portcullis-ctl over the control socket). Each returns 0,
 * 1 for an unknown ID or a wrong state (with *msg saying which), -1 on a
 * failure; *msg allocated in every case.
 *   release: the alert's seal is lifted and its held items released;
 *   lift:    the seal is lifted and the held items stay held;
 *   hold_release: one held item rescanned and released now;
 *   hold_delete:  one held item deleted.
 */
int outbreak_release(struct outbreak *ob, const char *alert, char **msg);
int outbreak_lift(struct outbreak *ob, const char *alert, char **msg);
int outbreak_hold_release(struct outbreak *ob, const char *id, char **msg);
int outbreak_hold_delete(struct outbreak *ob, const char *id, char **msg);
/* The state as JSON (allocated): {"gateway":..., "sealed":bool, "alerts":[...],
 * "held": n, "releasing": n}. */
char *outbreak_status_json(struct outbreak *ob);
/* Held items not released yet (all alerts). */
size_t outbreak_held_count(struct outbreak *ob);
/* 1 while an alert seals the gateway (expired alerts are ended first). */
int outbreak_sealed(struct outbreak *ob);

/* The housekeeping tick (once a second from the daemon): expiries, retries. */
void outbreak_tick(struct outbreak *ob);

#endif

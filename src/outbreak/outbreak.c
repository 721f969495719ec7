/*
 * outbreak: documents from the provider, checked, logged and acted on. See
 * outbreak.h. The release threads are in release.c, the feed poller in
 * opull.c, the push endpoint and the control socket in ohttp.c.
 */
#include "outbreak/outbreak.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "daemon/runtime.h"
#include "outbreak/outbreak_int.h"
#include "store/storeio.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/sys.h"
#include "util/xalloc.h"

void
outbreak_result_clear(struct outbreak_result *r)
{
	free(r->reason);
	free(r->receipt);
	memset(r, 0, sizeof(*r));
}

struct runtime *
outbreak_runtime(struct outbreak *ob)
{
	struct runtime *rt;

	pthread_mutex_lock(&ob->lock);
	rt = ob->rt ? runtime_ref(ob->rt) : NULL;
	pthread_mutex_unlock(&ob->lock);
	return rt;
}

/* The gateway key: the configured file, or STATE_DIR/gateway.key made now. */
static EVP_PKEY *
gateway_key(const struct pc_config *c, char **err)
{
	char *path = c->outbreak_gateway_key[0]
	                 ? xstrdup(c->outbreak_gateway_key)
	                 : xasprintf("%s/gateway.key", c->outbreak_state_dir);
	EVP_PKEY *k;
	char hex[65];

	if (access(path, F_OK) < 0 && errno == ENOENT) {
		char *pub =
		    xasprintf("%.*s.pub",
		              (int)(strlen(path) > 4 && strcmp(path + strlen(path) - 4, ".key") == 0
		                        ? strlen(path) - 4
		                        : strlen(path)),
		              path);

		if (okey_generate(path, pub, hex, err) < 0) {
			free(pub);
			free(path);
			return NULL;
		}
		log_info("outbreak: made the gateway key pair %s, %s (public key %s)", path, pub,
		         hex);
		free(pub);
	}
	k = okey_load_private(path, err);
	free(path);
	return k;
}

struct outbreak *
outbreak_new(const struct pc_config *c, char **err)
{
	struct outbreak *ob = xcalloc(1, sizeof(*ob));
	char *words, *save = NULL, *path;
	char host[256];

	*err = NULL;
	pthread_mutex_init(&ob->lock, NULL);
	pthread_mutex_init(&ob->submit_lock, NULL);
	ob->max_document = c->outbreak_max_document;
	ob->release_retry_s = (time_t)(c->outbreak_release_retry_ms / 1000);
	if (ob->release_retry_s < 1)
		ob->release_retry_s = 1;
	ob->fetch_timeout_ms = c->outbreak_fetch_timeout_ms;
	ob->state_dir = xstrdup(c->outbreak_state_dir);
	if (c->outbreak_gateway_id[0])
		snprintf(ob->gateway, sizeof(ob->gateway), "%s", c->outbreak_gateway_id);
	else if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		snprintf(ob->gateway, sizeof(ob->gateway), "%.127s", host);
	} else
		snprintf(ob->gateway, sizeof(ob->gateway), "gateway");

	words = xstrdup(c->outbreak_provider_keys);
	for (char *w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (okeyring_add(&ob->keys, w, err) < 0) {
			char *e = *err;

			*err = xasprintf("outbreak.provider_keys: %s", e);
			free(e);
			free(words);
			outbreak_free(ob);
			return NULL;
		}
	free(words);
	if ((ob->seal = seal_open(c->outbreak_state_dir, err)) == NULL ||
	    (ob->hold = quarantine_open(c->outbreak_hold_dir, err)) == NULL) {
		outbreak_free(ob);
		return NULL;
	}
	path = xasprintf("%s/transparency.log", c->outbreak_state_dir);
	ob->tlog = tlog_open(path, err);
	free(path);
	if (ob->tlog == NULL || (ob->gwkey = gateway_key(c, err)) == NULL) {
		outbreak_free(ob);
		return NULL;
	}
	release_start(ob, c->outbreak_release_threads);
	opull_start(ob, c); /* when there is a feed to poll or an enrolment to do */
	if (ob->keys.n)
		log_info("outbreak: gateway %s, %zu provider key(s), %s", ob->gateway, ob->keys.n,
		         seal_sealed(ob->seal) ? "sealed" : "open");
	return ob;
}

void
outbreak_free(struct outbreak *ob)
{
	if (ob == NULL)
		return;
	opull_stop(ob);
	release_stop(ob);
	if (ob->rt)
		runtime_unref(ob->rt);
	seal_free(ob->seal);
	quarantine_free(ob->hold);
	tlog_free(ob->tlog);
	okeyring_free(&ob->keys);
	EVP_PKEY_free(ob->gwkey);
	free(ob->state_dir);
	pthread_mutex_destroy(&ob->lock);
	pthread_mutex_destroy(&ob->submit_lock);
	free(ob);
}

/* Adds the active hash alerts' checksums to sc's engine. */
static void
engine_add_hashes(struct outbreak *ob, struct scanner *sc)
{
	char *sigs = seal_hash_sigs(ob->seal), *err = NULL;

	if (sigs[0] && scanner_add_signatures(sc, "sha256", sigs, strlen(sigs), &err) < 0) {
		log_warnx("outbreak: cannot add the alerts' checksums to the engine: %s", err);
		free(err);
	}
	free(sigs);
}

void
outbreak_set_runtime(struct outbreak *ob, struct runtime *rt)
{
	struct runtime *old;

	struct okeyring kr = {0};
	char *words = xstrdup(rt->conf.outbreak_provider_keys), *save = NULL, *err = NULL;
	int ok = 1;

	/* The provider keys follow the configuration (a rotation by SIGHUP). */
	for (char *w = strtok_r(words, " \t", &save); w && ok; w = strtok_r(NULL, " \t", &save))
		if (okeyring_add(&kr, w, &err) < 0) {
			log_warnx("outbreak.provider_keys: %s: keeping the keys in use", err);
			free(err);
			ok = 0;
		}
	free(words);
	if (ok && kr.n) {
		pthread_mutex_lock(&ob->submit_lock);
		okeyring_free(&ob->keys);
		ob->keys = kr;
		pthread_mutex_unlock(&ob->submit_lock);
	} else
		okeyring_free(&kr);
	rt->inspect.seal = ob->seal;
	rt->inspect.hold = ob->hold;
	engine_add_hashes(ob, rt->scanner);
	pthread_mutex_lock(&ob->lock);
	old = ob->rt;
	ob->rt = runtime_ref(rt);
	pthread_mutex_unlock(&ob->lock);
	if (old)
		runtime_unref(old);
}

struct seal *
outbreak_seal(struct outbreak *ob)
{
	return ob->seal;
}

struct quarantine *
outbreak_hold(struct outbreak *ob)
{
	return ob->hold;
}

int
outbreak_enabled(const struct outbreak *ob)
{
	return ob->keys.n > 0;
}

/* -------------------------------------------------------------- updates */

/* The bytes of one update file: inline, or fetched from its URL. */
static int
file_bytes(struct outbreak *ob, const struct omsg_file *f, unsigned char **buf, size_t *len,
           char **err)
{
	uint8_t d[32];
	unsigned int dl = 0;

	if (f->data) {
		*buf = xmalloc(f->len + 1);
		memcpy(*buf, f->data, f->len);
		*len = f->len;
	} else if (opull_fetch(f->url, ob->fetch_timeout_ms, ob->max_document, NULL, (char **)buf,
	                       len, NULL, err) != 200) {
		if (*err == NULL)
			*err = xasprintf("%s: not fetched", f->url);
		return -1;
	}
	(*buf)[*len] = '\0';
	if (EVP_Digest(*buf, *len, d, &dl, EVP_sha256(), NULL) != 1 || memcmp(d, f->sha256, 32)) {
		*err = xasprintf("%s: SHA-256 does not match the update's", f->name);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

/* Writes name into dir atomically (util/sys.h). */
static int
write_sigfile(const char *dir, const char *name, const unsigned char *buf, size_t len, char **err)
{
	return write_file_atomic(dir, name, buf, len, 0644, err);
}

static const char *
file_ext(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot ? dot + 1 : "";
}

/*
 * Installs an update's files: fetched and checked, written into the
 * signature directory, added to the running engine. 0 or -1 with *err.
 */
static int
install_update(struct outbreak *ob, struct runtime *rt, const struct omsg *m, char **err)
{
	unsigned char **bufs = xcalloc(m->nfiles, sizeof(*bufs));
	size_t *lens = xcalloc(m->nfiles, sizeof(*lens));
	int rc = -1, added = 0;

	for (size_t i = 0; i < m->nfiles; i++)
		if (file_bytes(ob, &m->files[i], &bufs[i], &lens[i], err) < 0)
			goto out;
	/* Into the running engine first: a file that does not parse stops it
	 * before anything is written. */
	for (size_t i = 0; i < m->nfiles; i++) {
		int n = scanner_add_signatures(rt->scanner, file_ext(m->files[i].name),
		                               (const char *)bufs[i], lens[i], err);

		if (n < 0) {
			char *e = *err;

			*err = xasprintf("%s: %s", m->files[i].name, e);
			free(e);
			goto out;
		}
		added += n;
	}
	for (size_t i = 0; i < m->nfiles; i++)
		if (write_sigfile(rt->conf.database_dir, m->files[i].name, bufs[i], lens[i], err) <
		    0)
			goto out;
	log_info("outbreak: update %s installed: %d signature(s) in %zu file(s), live now", m->id,
	         added, m->nfiles);
	rc = 0;
out:
	for (size_t i = 0; i < m->nfiles; i++)
		free(bufs[i]);
	free(bufs);
	free(lens);
	return rc;
}

/*
 * A hash alert ended: its checksums leave the engine. The engine is rebuilt
 * from the signature directory (which holds every update) and the checksums
 * of the hash alerts still active are added again.
 */
static void
engine_drop_hashes(struct outbreak *ob, struct runtime *rt)
{
	if (scanner_reload(rt->scanner) < 0) {
		log_warnx("outbreak: the engine could not be rebuilt without the ended alert's "
		          "checksums; they stay until the next reload");
		return;
	}
	engine_add_hashes(ob, rt->scanner);
}

/* A new hash alert's checksums into the running engine. */
static void
engine_add_hashes_one(struct scanner *sc, const struct omsg *m)
{
	struct sbuf b = {0};
	char *sigs, *err = NULL;

	for (size_t i = 0; i < m->nsha256; i++) {
		for (int k = 0; k < 32; k++)
			sb_addf(&b, "%02x", m->sha256[i][k]);
		sb_addf(&b, " %s%s\n", SEAL_HASH_PREFIX, m->id);
	}
	sigs = sb_take(&b);
	if (sigs[0] && scanner_add_signatures(sc, "sha256", sigs, strlen(sigs), &err) < 0) {
		log_warnx("outbreak: alert %s: checksums not added to the engine: %s", m->id, err);
		free(err);
	}
	free(sigs);
}

static int
is_hash_alert(struct outbreak *ob, const char *id)
{
	struct seal_alert a;
	int hash = 0;

	if (seal_alert_get(ob->seal, id, &a) == 0) {
		hash = a.mode == OMODE_HASH;
		seal_alert_clear(&a);
	}
	return hash;
}

/* ------------------------------------------------------------- submit */

static void
log_doc(struct outbreak *ob, const char *env, size_t len, const char *source, const struct omsg *m,
        int accepted, const char *reason)
{
	struct tlog_entry e;
	uint8_t d[32];
	unsigned int dl = 0;

	memset(&e, 0, sizeof(e));
	e.time = time(NULL);
	e.accepted = accepted;
	e.reason = reason ? reason : "";
	e.source = source;
	e.type = m && m->type ? omsg_type_name(m->type) : "";
	e.id = m && m->id ? m->id : "";
	e.seq = m ? m->seq : 0;
	if (m && m->payload)
		e.digest = m->digest;
	else {
		EVP_Digest(env, len, d, &dl, EVP_sha256(), NULL);
		e.digest = d;
	}
	e.envelope = env;
	e.envelope_len = len;
	if (tlog_append(ob->tlog, &e) < 0)
		log_warn("outbreak: transparency log");
}

static void result_set(struct outbreak_result *res, int accepted, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
result_set(struct outbreak_result *res, int accepted, int status, const char *fmt, ...)
{
	va_list ap;

	res->accepted = accepted;
	res->status = status;
	free(res->reason);
	va_start(ap, fmt);
	res->reason = xvasprintf(fmt, ap);
	va_end(ap);
}

/* Acts on an accepted document. 0, or -1 with *err (nothing recorded). */
static int
act(struct outbreak *ob, struct runtime *rt, const struct omsg *m, char **detail, char **err)
{
	time_t now = time(NULL);
	char **ids = NULL;
	size_t n = 0;
	int hash_ended = 0, rc;

	switch (m->type) {
	case OMSG_ALERT:
		if (seal_add_alert(ob->seal, m, now, err) < 0)
			return -1;
		if (m->mode == OMODE_HASH && rt)
			engine_add_hashes_one(rt->scanner, m);
		*detail = xasprintf(
		    "alert %s active: %s, %s %s%s", m->id, omsg_mode_name(m->mode),
		    seal_scope_name(m->scope_dir), (m->scope_proto & OSCOPE_SMTP) ? "smtp" : "",
		    (m->scope_proto & OSCOPE_FTP) ? (m->scope_proto & OSCOPE_SMTP ? "+ftp" : "ftp")
		                                  : "");
		log_warnx("outbreak: %s (seq %llu from %s, awaiting %zu virus ID(s))", *detail,
		          (unsigned long long)m->seq, m->provider, m->nviruses);
		return 0;
	case OMSG_UPDATE:
		if (rt == NULL) {
			*err = xstrdup("no engine running yet");
			return -1;
		}
		if (install_update(ob, rt, m, err) < 0)
			return -1;
		if (seal_add_update(ob->seal, m, now, &ids, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			hash_ended |= is_hash_alert(ob, ids[i]);
			log_warnx("outbreak: alert %s: its signatures arrived with update %s: seal "
			          "lifted, releasing its held items",
			          ids[i], m->id);
			release_queue_alert(ob, ids[i]);
			free(ids[i]);
		}
		free(ids);
		if (hash_ended)
			engine_drop_hashes(ob, rt);
		*detail = xasprintf("update %s installed, %zu alert(s) released", m->id, n);
		return 0;
	case OMSG_ALLCLEAR:
		rc = seal_add_allclear(ob->seal, m, now, err);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			log_warnx(
			    "outbreak: alert %s: all-clear %s: seal lifted, releasing its held "
			    "items",
			    m->alert, m->id);
			release_queue_alert(ob, m->alert);
			if (is_hash_alert(ob, m->alert) && rt)
				engine_drop_hashes(ob, rt);
			*detail = xasprintf("alert %s ended by all-clear %s", m->alert, m->id);
		} else
			*detail = xasprintf("all-clear %s: alert %s not active", m->id, m->alert);
		return 0;
	default:
		*err = xstrdup("a receipt is not for a gateway");
		return -1;
	}
}

void
outbreak_submit(struct outbreak *ob, const char *env, size_t len, const char *source,
                struct outbreak_result *res)
{
	struct omsg m;
	struct runtime *rt;
	char *reason = NULL, *err = NULL, *detail = NULL;
	uint64_t last;

	memset(res, 0, sizeof(*res));
	memset(&m, 0, sizeof(m));
	if (!outbreak_enabled(ob)) {
		result_set(res, 0, 403, "outbreak control is off (no outbreak.provider_keys)");
		log_warnx("outbreak: %s document refused: %s", source, res->reason);
		return;
	}
	if (len > ob->max_document) {
		result_set(res, 0, 413, "document larger than outbreak.max_document (%llu bytes)",
		           (unsigned long long)ob->max_document);
		log_doc(ob, env, len > (1u << 20) ? (1u << 20) : len, source, NULL, 0, res->reason);
		log_warnx("outbreak: %s document refused: %s", source, res->reason);
		return;
	}
	pthread_mutex_lock(&ob->submit_lock);
	if (omsg_open(&ob->keys, env, len, time(NULL), &m, &reason) < 0) {
		int forged = strstr(reason, "signature") || strstr(reason, "expired") ||
		             strstr(reason, "key");

		result_set(res, 0, forged ? 403 : 400, "%s", reason);
		goto reject;
	}
	if (m.type == OMSG_RECEIPT) {
		result_set(res, 0, 400, "a receipt is not for a gateway");
		goto reject;
	}
	last = seal_last_seq(ob->seal, m.provider);
	if (m.seq <= last) {
		result_set(res, 0, 403, "replayed or out of order: seq %llu is not above %llu",
		           (unsigned long long)m.seq, (unsigned long long)last);
		goto reject;
	}
	if (m.type == OMSG_ALERT) {
		struct seal_alert known;

		if (seal_alert_get(ob->seal, m.id, &known) == 0) {
			seal_alert_clear(&known);
			result_set(res, 0, 409, "alert %s is known already (IDs are unique)", m.id);
			goto reject;
		}
	}
	rt = outbreak_runtime(ob);
	if (act(ob, rt, &m, &detail, &err) < 0) {
		if (rt)
			runtime_unref(rt);
		result_set(res, 0, 500, "not acted on: %s", err ? err : "failure");
		free(err);
		goto reject;
	}
	if (rt)
		runtime_unref(rt);
	result_set(res, 1, 200, "%s", detail);
	res->receipt = omsg_receipt(ob->gwkey, ob->gateway, &m, time(NULL),
	                            seal_sealed(ob->seal) ? "sealed" : "open", detail, &err);
	if (res->receipt == NULL) {
		log_warnx("outbreak: receipt not signed: %s", err ? err : "?");
		free(err);
	}
	log_doc(ob, env, len, source, &m, 1, "");
	log_info("outbreak: %s %s %s seq=%llu accepted: %s", source, omsg_type_name(m.type), m.id,
	         (unsigned long long)m.seq, detail);
	free(detail);
	pthread_mutex_unlock(&ob->submit_lock);
	omsg_clear(&m);
	return;
reject:
	log_doc(ob, env, len, source, m.payload ? &m : NULL, 0, res->reason);
	log_warnx("outbreak: %s document refused: %s", source, res->reason);
	pthread_mutex_unlock(&ob->submit_lock);
	free(reason);
	free(detail);
	omsg_clear(&m);
}

/* ---------------------------------------------------------- admin actions */

int
outbreak_release(struct outbreak *ob, const char *alert, char **msg)
{
	struct seal_alert a;
	struct runtime *rt;
	int rc = seal_alert_get(ob->seal, alert, &a);

	if (rc != 0) {
		*msg = xasprintf(rc > 0 ? "no alert %s" : "cannot read alert %s", alert);
		return rc;
	}
	if (strcmp(a.state, "released") == 0) {
		*msg = xasprintf("alert %s is already released", alert);
		seal_alert_clear(&a);
		return 1;
	}
	if (seal_set_state(ob->seal, alert, "releasing", "admin", time(NULL)) < 0) {
		*msg = xasprintf("cannot record the release of %s", alert);
		seal_alert_clear(&a);
		return -1;
	}
	if (a.mode == OMODE_HASH && (rt = outbreak_runtime(ob)) != NULL) {
		engine_drop_hashes(ob, rt);
		runtime_unref(rt);
	}
	log_warnx("outbreak: alert %s released by the admin (was %s)", alert, a.state);
	release_queue_alert(ob, alert);
	*msg = xasprintf("alert %s: seal lifted, releasing its held items", alert);
	seal_alert_clear(&a);
	return 0;
}

int
outbreak_lift(struct outbreak *ob, const char *alert, char **msg)
{
	struct seal_alert a;
	struct runtime *rt;
	int rc = seal_alert_get(ob->seal, alert, &a);

	if (rc != 0) {
		*msg = xasprintf(rc > 0 ? "no alert %s" : "cannot read alert %s", alert);
		return rc;
	}
	if (strcmp(a.state, "active") != 0 && strcmp(a.state, "expired") != 0) {
		*msg = xasprintf("alert %s is %s, not active", alert, a.state);
		seal_alert_clear(&a);
		return 1;
	}
	if (seal_set_state(ob->seal, alert, "lifted", "admin", time(NULL)) < 0) {
		*msg = xasprintf("cannot record the lift of %s", alert);
		seal_alert_clear(&a);
		return -1;
	}
	if (a.mode == OMODE_HASH && (rt = outbreak_runtime(ob)) != NULL) {
		engine_drop_hashes(ob, rt);
		runtime_unref(rt);
	}
	log_warnx("outbreak: alert %s lifted by the admin; its held items stay held", alert);
	*msg = xasprintf("alert %s lifted; held items stay held", alert);
	seal_alert_clear(&a);
	return 0;
}

int
outbreak_hold_release(struct outbreak *ob, const char *id, char **msg)
{
	return release_one(ob, id, msg);
}

int
outbreak_hold_delete(struct outbreak *ob, const char *id, char **msg)
{
	int rc;

	if (!quarantine_id_valid(id)) {
		*msg = xasprintf("not a hold ID: %s", id);
		return 1;
	}
	rc = quarantine_delete(ob->hold, id);
	*msg = rc == 0   ? xasprintf("held %s deleted", id)
	       : rc == 1 ? xasprintf("no held item %s", id)
	                 : xasprintf("cannot delete %s", id);
	if (rc == 0)
		log_info("outbreak: held %s deleted by the admin", id);
	return rc;
}

size_t
outbreak_held_count(struct outbreak *ob)
{
	int64_t n = quarantine_count_unreleased(ob->hold);

	return n < 0 ? 0 : (size_t)n;
}

int
outbreak_sealed(struct outbreak *ob)
{
	seal_expire(ob->seal, time(NULL));
	return seal_sealed(ob->seal);
}

/* A space-separated list as a JSON array of strings. */
static json_t *
words_json(const char *list)
{
	json_t *a = json_array();
	char *copy = xstrdup(list ? list : ""), *save = NULL;

	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		json_array_append_new(a, json_string(w));
	free(copy);
	return a;
}

json_t *
outbreak_alert_json(const struct seal_alert *a)
{
	json_t *o = json_object(), *scope = json_object(), *protos = json_array();

	if (a->scope_proto & OSCOPE_SMTP)
		json_array_append_new(protos, json_string("smtp"));
	if (a->scope_proto & OSCOPE_FTP)
		json_array_append_new(protos, json_string("ftp"));
	json_object_set_new(scope, "direction", json_string(seal_scope_name(a->scope_dir)));
	json_object_set_new(scope, "protocols", protos);
	json_object_set_new(o, "id", json_string(a->id));
	json_object_set_new(o, "provider", json_string(a->provider));
	json_object_set_new(o, "seq", json_integer((json_int_t)a->seq));
	json_object_set_new(o, "mode", json_string(omsg_mode_name(a->mode)));
	json_object_set_new(o, "scope", scope);
	json_object_set_new(o, "viruses", words_json(a->viruses));
	json_object_set_new(o, "sha256", words_json(a->sha256));
	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "issued", json_integer(a->issued));
	json_object_set_new(o, "expires", json_integer(a->expires));
	json_object_set_new(o, "received", json_integer(a->received));
	json_object_set_new(o, "state", json_string(a->state));
	json_object_set_new(o, "ended", json_integer(a->ended));
	json_object_set_new(o, "ended_by", json_string(a->ended_by));
	return o;
}

char *
outbreak_status_json(struct outbreak *ob)
{
	json_t *o = json_object(), *arr = json_array();
	struct seal_alert *a;
	size_t n;
	char *s;

	seal_expire(ob->seal, time(NULL));
	json_object_set_new(o, "gateway", json_string(ob->gateway));
	json_object_set_new(o, "enabled", json_boolean(outbreak_enabled(ob)));
	json_object_set_new(o, "sealed", json_boolean(seal_sealed(ob->seal)));
	json_object_set_new(o, "held", json_integer((json_int_t)outbreak_held_count(ob)));
	if (seal_alerts(ob->seal, NULL, &a, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, outbreak_alert_json(&a[i]));
		seal_alerts_free(a, n);
	}
	json_object_set_new(o, "alerts", arr);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

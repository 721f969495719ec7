/*
 * oenrol: the gateway enrols itself with its provider (outbreak.enrol_url,
 * enrol_token): one POST with the one-time token, the gateway's ID, its
 * Ed25519 public key, the push URL and scope it announces. Done once: the
 * answer is recorded in STATE_DIR/enrolment.json (written atomically), and
 * a later start with the same URL, ID and key does nothing. Run by the feed
 * poller's thread (opull.c), which retries on a network error and gives up
 * on a refusal (a token is good once: the admin must issue another).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "outbreak/outbreak_int.h"
#include "util/log.h"
#include "util/sys.h"
#include "util/xalloc.h"

#define ENROLMENT_FILE "enrolment.json"
#define MAX_ANSWER (64 * 1024)

struct oenrol {
	char *url, *token, *push_url, *scope;
	char pub[65];
};

/* The push URL announced: push_url, else https://PUSH_LISTEN/outbreak, else none. */
static char *
push_url_of(const struct pc_config *c)
{
	if (c->outbreak_push_url[0])
		return xstrdup(c->outbreak_push_url);
	if (c->outbreak_push_listen[0])
		return xasprintf("https://%s/outbreak", c->outbreak_push_listen);
	return NULL;
}

/* 1 if STATE_DIR/enrolment.json records this URL, gateway and key. */
static int
recorded(struct outbreak *ob, const struct oenrol *e)
{
	char *path = xasprintf("%s/" ENROLMENT_FILE, ob->state_dir);
	json_error_t je;
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	const char *url, *gw, *key;
	int same;

	free(path);
	url = json_string_value(json_object_get(o, "url"));
	gw = json_string_value(json_object_get(o, "gateway"));
	key = json_string_value(json_object_get(o, "public_key"));
	same = url && gw && key && strcmp(url, e->url) == 0 && strcmp(gw, ob->gateway) == 0 &&
	       strcmp(key, e->pub) == 0;
	json_decref(o);
	return same;
}

struct oenrol *
oenrol_new(struct outbreak *ob, const struct pc_config *c)
{
	struct oenrol *e;

	if (!c->outbreak_enrol_url[0])
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->url = xstrdup(c->outbreak_enrol_url);
	e->token = xstrdup(c->outbreak_enrol_token);
	e->push_url = push_url_of(c);
	e->scope = c->outbreak_scope[0] ? xstrdup(c->outbreak_scope) : NULL;
	if (okey_public_hex(ob->gwkey, e->pub) < 0) {
		log_warnx("outbreak: enrolment: cannot read the gateway's public key");
		oenrol_free(e);
		return NULL;
	}
	if (recorded(ob, e)) {
		log_info("outbreak: enrolled with %s (%s/" ENROLMENT_FILE ")", e->url,
		         ob->state_dir);
		oenrol_free(e);
		return NULL;
	}
	if (!e->token[0]) {
		log_warnx("outbreak: not enrolled with %s: outbreak.enrol_token is empty", e->url);
		oenrol_free(e);
		return NULL;
	}
	return e;
}

void
oenrol_free(struct oenrol *e)
{
	if (e == NULL)
		return;
	free(e->url);
	if (e->token)
		explicit_bzero(e->token, strlen(e->token));
	free(e->token);
	free(e->push_url);
	free(e->scope);
	free(e);
}

/* Warns when the provider's key is not among provider_keys. */
static void
check_provider_key(struct outbreak *ob, const char *hex)
{
	char have[65];
	int known = 0;

	pthread_mutex_lock(&ob->submit_lock);
	for (size_t i = 0; i < ob->keys.n && !known; i++)
		known = okey_public_hex(ob->keys.keys[i], have) == 0 && strcasecmp(have, hex) == 0;
	pthread_mutex_unlock(&ob->submit_lock);
	if (!known)
		log_warnx(
		    "outbreak: enrolment: the provider's key %s is not in"
		    " outbreak.provider_keys; its documents will be refused until it is added",
		    hex);
}

/* Records the enrolment. 0 or -1 (logged). */
static int
record(struct outbreak *ob, const struct oenrol *e, const char *provider_key)
{
	json_t *o = json_object();
	char *text, *err = NULL;
	int rc;

	json_object_set_new(o, "url", json_string(e->url));
	json_object_set_new(o, "gateway", json_string(ob->gateway));
	json_object_set_new(o, "public_key", json_string(e->pub));
	json_object_set_new(o, "push_url", e->push_url ? json_string(e->push_url) : json_null());
	json_object_set_new(o, "provider_public_key", json_string(provider_key));
	json_object_set_new(o, "enrolled", json_integer((json_int_t)time(NULL)));
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	rc = write_file_atomic(ob->state_dir, ENROLMENT_FILE, text, strlen(text), 0600, &err);
	if (rc < 0) {
		log_warnx("outbreak: enrolment: %s", err);
		free(err);
	}
	free(text);
	return rc;
}

int
oenrol_try(struct outbreak *ob, struct oenrol *e)
{
	json_t *req = json_object(), *ans;
	json_error_t je;
	char *body, *out = NULL, *err = NULL;
	const char *pk;
	size_t len = 0;
	long code;

	json_object_set_new(req, "token", json_string(e->token));
	json_object_set_new(req, "gateway", json_string(ob->gateway));
	json_object_set_new(req, "public_key", json_string(e->pub));
	if (e->push_url)
		json_object_set_new(req, "push_url", json_string(e->push_url));
	if (e->scope)
		json_object_set_new(req, "scope", json_string(e->scope));
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	code = opull_request(e->url, ob->fetch_timeout_ms, MAX_ANSWER, body, strlen(body), &out,
	                     &len, &err);
	explicit_bzero(body, strlen(body));
	free(body);
	if (code < 0 || code >= 500) {
		log_warnx("outbreak: enrolment with %s failed, will retry: %s", e->url,
		          err ? err : "server error");
		free(err);
		free(out);
		return -1;
	}
	if (code != 200) {
		log_warnx("outbreak: enrolment with %s refused (HTTP %ld): %s; issue a new"
		          " enrol_token and reload",
		          e->url, code, out ? out : "");
		free(err);
		free(out);
		return 1;
	}
	ans = json_loadb(out, len, 0, &je);
	free(out);
	pk = json_string_value(json_object_get(ans, "provider_public_key"));
	if (pk == NULL || strlen(pk) != 64) {
		log_warnx("outbreak: enrolment with %s: the answer has no provider_public_key",
		          e->url);
		json_decref(ans);
		return -1;
	}
	if (record(ob, e, pk) < 0) {
		json_decref(ans);
		return -1;
	}
	log_info("outbreak: enrolled with %s as %s (push URL %s)", e->url, ob->gateway,
	         e->push_url ? e->push_url : "none: pull only");
	check_provider_key(ob, pk);
	json_decref(ans);
	return 0;
}

/*
 * publish: the order of a publication (publish.h). Owns the lock and the
 * key; the document's bytes are build's, the rows pstore's, the files
 * feed's.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outbreak/omsg.h"
#include "provider/feed.h"
#include "provider/publish.h"
#include "util/xalloc.h"

struct publisher {
	char *feed_dir, *provider;
	int lock_fd;
	struct pstore *ps;
	EVP_PKEY *key;
};

static int
mkdir_p(const char *dir, mode_t mode, char **err)
{
	char *s = xstrdup(dir);

	for (char *p = s + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(s, mode) < 0 && errno != EEXIST) {
			*err = xasprintf("%s: %s", s, strerror(errno));
			free(s);
			return -1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(s);
	return 0;
}

struct publisher *
publish_open(const char *state_dir, const char *feed_dir, const char *key_path,
             const char *provider, char **err)
{
	struct publisher *p = xcalloc(1, sizeof(*p));
	char *lock;

	p->lock_fd = -1;
	p->feed_dir = xstrdup(feed_dir);
	p->provider = xstrdup(provider);
	if (!build_name_ok(provider)) {
		*err = xasprintf("provider name \"%.80s\": 1..64 of [A-Za-z0-9._-]", provider);
		goto fail;
	}
	if (mkdir_p(state_dir, 0700, err) < 0 || mkdir_p(feed_dir, 0755, err) < 0)
		goto fail;
	lock = xasprintf("%s/provider.lock", state_dir);
	p->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->lock_fd < 0 || flock(p->lock_fd, LOCK_EX) < 0) {
		*err = xasprintf("%s: %s", lock, strerror(errno));
		free(lock);
		goto fail;
	}
	free(lock);
	if ((p->ps = pstore_open(state_dir, err)) == NULL)
		goto fail;
	if (key_path != NULL && (p->key = okey_load_private(key_path, err)) == NULL)
		goto fail;
	return p;
fail:
	publish_close(p);
	return NULL;
}

void
publish_close(struct publisher *p)
{
	if (p == NULL)
		return;
	pstore_close(p->ps);
	EVP_PKEY_free(p->key);
	if (p->lock_fd >= 0)
		close(p->lock_fd); /* releases the lock */
	free(p->feed_dir);
	free(p->provider);
	free(p);
}

struct pstore *
publish_store(struct publisher *p)
{
	return p->ps;
}

/* The steps shared by every type once *d is built with its real seq. */
static int
commit(struct publisher *p, struct build_doc *d, time_t now, char **path, char **err)
{
	struct pstore_doc *docs = NULL;
	size_t n = 0;
	char *url = xasprintf("%s-%llu.json", d->type, (unsigned long long)d->seq);
	int rc = -1;

	if (p->key == NULL) {
		*err = xstrdup("no signing key");
		goto out;
	}
	if (build_sign(p->key, d, err) < 0)
		goto out;
	if (pstore_add_document(p->ps, d->type, d->id, d->seq, url, d->envelope, now, err) < 0)
		goto out;
	if (strcmp(d->type, "alert") == 0 &&
	    pstore_add_alert(p->ps, d->id, d->seq, d->issued, d->expires, err) < 0)
		goto out;
	if (pstore_documents(p->ps, 1, &docs, &n, err) < 0)
		goto out;
	if (feed_publish(p->feed_dir, p->provider, docs, n, now, err) < 0)
		goto out;
	*path = xasprintf("%s/%s", p->feed_dir, url);
	rc = 0;
out:
	pstore_docs_free(docs, n);
	free(url);
	return rc;
}

/* Refuses an ID already used by a published document. */
static int
id_free(struct publisher *p, const char *id, char **err)
{
	int rc;

	if (id == NULL)
		return 0;
	if ((rc = pstore_document_exists(p->ps, id, err)) < 0)
		return -1;
	if (rc == 1) {
		*err = xasprintf("a document with ID %s was already published", id);
		return -1;
	}
	return 0;
}

/* The seq a document would get: for the trial build. */
static int
trial_seq(struct publisher *p, uint64_t *seq, char **err)
{
	if (pstore_last_seq(p->ps, seq, err) < 0)
		return -1;
	(*seq)++;
	return 0;
}

int
publish_alert(struct publisher *p, const struct build_alert *a, time_t now, struct build_doc *out,
              char **path, char **err)
{
	uint64_t seq;

	if (id_free(p, a->id, err) < 0 || trial_seq(p, &seq, err) < 0 ||
	    build_alert(a, p->provider, seq, now, out, err) < 0)
		return -1;
	build_doc_clear(out);
	if (pstore_next_seq(p->ps, &seq, err) < 0 ||
	    build_alert(a, p->provider, seq, now, out, err) < 0)
		return -1;
	if (commit(p, out, now, path, err) < 0) {
		build_doc_clear(out);
		return -1;
	}
	return 0;
}

int
publish_update(struct publisher *p, const struct build_files *f, const char *const *viruses,
               size_t nviruses, const char *id, time_t now, struct build_doc *out, char **path,
               char **err)
{
	uint64_t seq;

	if (id_free(p, id, err) < 0 || trial_seq(p, &seq, err) < 0 ||
	    build_update(f, viruses, nviruses, id, p->provider, seq, now, out, err) < 0)
		return -1;
	build_doc_clear(out);
	if (pstore_next_seq(p->ps, &seq, err) < 0 ||
	    build_update(f, viruses, nviruses, id, p->provider, seq, now, out, err) < 0)
		return -1;
	if (commit(p, out, now, path, err) < 0) {
		build_doc_clear(out);
		return -1;
	}
	return 0;
}

int
publish_allclear(struct publisher *p, const char *alert, const char *id, time_t now,
                 struct build_doc *out, char **path, char **err)
{
	struct pstore_alert a;
	uint64_t seq;
	int rc;

	if ((rc = pstore_alert(p->ps, alert, &a, err)) < 0)
		return -1;
	if (rc == 0) {
		*err = xasprintf("no alert %.80s was published here", alert);
		return -1;
	}
	if (a.ended_by != NULL) {
		*err = xasprintf("alert %s was already ended by %s", alert, a.ended_by);
		pstore_alert_clear(&a);
		return -1;
	}
	pstore_alert_clear(&a);
	if (id_free(p, id, err) < 0 || trial_seq(p, &seq, err) < 0 ||
	    build_allclear(alert, id, p->provider, seq, now, out, err) < 0)
		return -1;
	build_doc_clear(out);
	if (pstore_next_seq(p->ps, &seq, err) < 0 ||
	    build_allclear(alert, id, p->provider, seq, now, out, err) < 0)
		return -1;
	if (commit(p, out, now, path, err) < 0 ||
	    pstore_end_alert(p->ps, alert, out->id, err) < 0) {
		build_doc_clear(out);
		return -1;
	}
	return 0;
}

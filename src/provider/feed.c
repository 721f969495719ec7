/*
 * feed: writes the pull feed's files atomically (feed.h). No SQL, no
 * signing: the documents arrive as envelopes from pstore.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "provider/feed.h"
#include "util/sys.h"
#include "util/xalloc.h"

int
feed_write_file(const char *dir, const char *name, const char *data, size_t len, char **err)
{
	return write_file_atomic(dir, name, data, len, 0644, err);
}

/* The index's JSON text (allocated, ends in a newline). */
static char *
index_text(const char *provider, const struct pstore_doc *docs, size_t n, time_t now)
{
	json_t *root = json_object(), *list = json_array();
	char *s, *out;

	json_object_set_new(root, "provider", json_string(provider));
	json_object_set_new(root, "generated", json_integer((json_int_t)now));
	for (size_t i = 0; i < n; i++) {
		json_t *d = json_object();

		json_object_set_new(d, "seq", json_integer((json_int_t)docs[i].seq));
		json_object_set_new(d, "url", json_string(docs[i].url));
		json_array_append_new(list, d);
	}
	json_object_set_new(root, "documents", list);
	s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s == NULL)
		return NULL;
	out = xasprintf("%s\n", s);
	free(s);
	return out;
}

int
feed_publish(const char *dir, const char *provider, const struct pstore_doc *docs, size_t n,
             time_t now, char **err)
{
	struct stat sb;
	char *text;
	int rc;

	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, docs[i].url);
		int missing = lstat(path, &sb) < 0 && errno == ENOENT;

		free(path);
		if (!missing)
			continue;
		if (docs[i].envelope == NULL) {
			*err = xasprintf("%s: no envelope to write", docs[i].url);
			return -1;
		}
		if (feed_write_file(dir, docs[i].url, docs[i].envelope, strlen(docs[i].envelope),
		                    err) < 0)
			return -1;
	}
	if ((text = index_text(provider, docs, n, now)) == NULL) {
		*err = xstrdup("cannot encode the index");
		return -1;
	}
	rc = feed_write_file(dir, FEED_INDEX, text, strlen(text), err);
	free(text);
	return rc;
}

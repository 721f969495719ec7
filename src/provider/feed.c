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

/* fsyncs directory dir (the rename inside it). */
static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
feed_write_file(const char *dir, const char *name, const char *data, size_t len, char **err)
{
	char *tmp = xasprintf("%s/.%s.%ld.tmp", dir, name, (long)getpid());
	char *path = xasprintf("%s/%s", dir, name);
	int fd, e;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		*err = xasprintf("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		*err = xasprintf("%s: %s", tmp, strerror(e));
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		*err = xasprintf("%s: %s", path, strerror(e));
		goto fail;
	}
	if (fsync_dir(dir) < 0) {
		*err = xasprintf("%s: fsync: %s", dir, strerror(errno));
		goto fail;
	}
	free(tmp);
	free(path);
	return 0;
fail:
	free(tmp);
	free(path);
	return -1;
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

/*
 * feed: the provider's pull feed as files in a directory that any HTTP
 * server can serve (the gateways poll it, docs/outbreak.md "Pull"): one
 * envelope per document (NAME.json) and the index (index.json) listing
 * every published document with its seq and its URL relative to the index.
 *
 * Every file is replaced atomically (a temporary file in the same
 * directory, fsync, rename, fsync of the directory), so a gateway polling
 * at any moment reads either the old or the new index, never a partial
 * one, and never an index naming a document not yet on disk: documents are
 * written before the index. What to publish comes from pstore; feed owns
 * only the files. ETags are left to the HTTP server.
 */
#ifndef PC_FEED_H
#define PC_FEED_H

#include <stddef.h>
#include <time.h>

#include "provider/pstore.h"

/* The index's file name in the feed directory. */
#define FEED_INDEX "index.json"

/*
 * Writes len bytes of data as dir/name atomically (mode 0644). 0, or -1
 * with *err (allocated); on failure no temporary file is left.
 */
int feed_write_file(const char *dir, const char *name, const char *data, size_t len, char **err);

/*
 * Brings dir up to date with docs (in seq order, envelopes loaded): writes
 * each document whose file (its url) is missing, then the index
 * {"provider": NAME, "generated": now, "documents": [{"seq", "url"}...]}.
 * 0, or -1 with *err.
 */
int feed_publish(const char *dir, const char *provider, const struct pstore_doc *docs, size_t n,
                 time_t now, char **err);

#endif

/*
 * publish: one document from the operator's words to the feed. Holds the
 * provider's lock (STATE_DIR/provider.lock, so two runs never interleave
 * their index writes), its state (pstore) and key; checks a document with
 * a trial seq before taking a real one (a refused document leaves no gap),
 * then numbers, builds, signs (build), records (pstore) and writes the
 * document and the new index (feed). The CLI calls it; the server will.
 */
#ifndef PC_PUBLISH_H
#define PC_PUBLISH_H

#include <time.h>

#include "provider/build.h"
#include "provider/pstore.h"

struct publisher;

/*
 * Creates state_dir (0700) and feed_dir (0755) when missing, takes the
 * lock, opens the state; key_path NULL: no key (documents, enrol-token).
 * NULL with *err.
 */
struct publisher *publish_open(const char *state_dir, const char *feed_dir, const char *key_path,
                               const char *provider, char **err);
void publish_close(struct publisher *p);
struct pstore *publish_store(struct publisher *p);

/* Each fills *out (envelope set) and *path (the document's file, allocated). */
int publish_alert(struct publisher *p, const struct build_alert *a, time_t now,
                  struct build_doc *out, char **path, char **err);
int publish_update(struct publisher *p, const struct build_files *f, const char *const *viruses,
                   size_t nviruses, const char *id, time_t now, struct build_doc *out, char **path,
                   char **err);
/* The alert must have been published here and not ended yet. */
int publish_allclear(struct publisher *p, const char *alert, const char *id, time_t now,
                     struct build_doc *out, char **path, char **err);

#endif

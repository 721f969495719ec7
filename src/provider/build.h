/*
 * build: the provider's documents (alert, update, all-clear) built from
 * what the operator gave, checked by the gateway's own validation
 * (omsg_parse_payload) and by the signature engine's own loaders (sigdb),
 * then signed with omsg_seal. No I/O but reading the signature files an
 * update carries; numbering and storing are the caller's (pstore), the
 * feed is feed's.
 */
#ifndef PC_BUILD_H
#define PC_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

/* The largest signature file an update carries. */
#define BUILD_MAX_SIGFILE (16u << 20)
/* Bad lines reported per update (the rest are counted). */
#define BUILD_MAX_PROBLEMS 100

/* A document built (and, after build_sign(), signed). */
struct build_doc {
	const char *type; /* "alert", "update", "allclear" (static) */
	char *id;
	uint64_t seq;
	int64_t issued, expires; /* expires 0: none */
	char *payload;           /* the document's JSON bytes, NUL-terminated */
	size_t payload_len;
	char *envelope; /* NULL until signed */
};
void build_doc_clear(struct build_doc *d);

/* What an alert says; NULL / 0 members take the defaults noted. */
struct build_alert {
	const char *id; /* NULL: "A-<seq>" */
	const char *const *viruses;
	size_t nviruses;
	const char *mode; /* "hold" (default), "hold_attachments", "hash" */
	const char *const *sha256;
	size_t nsha256;
	const char *direction; /* "inbound" (default), "outbound", "both" */
	const char *const *protocols;
	size_t nprotocols; /* 0: smtp and ftp */
	int64_t ttl;       /* seconds; 0: 24 h */
	const char *name;  /* NULL: none */
};

/* 1 if s is a valid provider, document or alert ID (1..64 of [A-Za-z0-9._-]). */
int build_name_ok(const char *s);

int build_alert(const struct build_alert *a, const char *provider, uint64_t seq, time_t now,
                struct build_doc *out, char **err);
/* id NULL: "C-<seq>". */
int build_allclear(const char *alert, const char *id, const char *provider, uint64_t seq,
                   time_t now, struct build_doc *out, char **err);

/*
 * Signature files for an update, read and checked: each at most
 * BUILD_MAX_SIGFILE, named as a gateway accepts (base name of [A-Za-z0-9._-],
 * extension ndb, hdb, hsb or sha256), and loaded without a single bad or
 * unsupported line by the engine's loaders. NULL with *err: one line
 * "path:line: reason" per problem (up to BUILD_MAX_PROBLEMS), or a line
 * about the file.
 */
struct build_files;
struct build_files *build_files_load(const char *const *paths, size_t n, char **err);
void build_files_free(struct build_files *f);
/* The distinct signature names found in the files (for default viruses). */
size_t build_files_nnames(const struct build_files *f);
const char *build_files_name(const struct build_files *f, size_t i);

/*
 * An update carrying files (embedded, base64). viruses NULL: the signature
 * names found in them. id NULL: "U-<seq>".
 */
int build_update(const struct build_files *f, const char *const *viruses, size_t nviruses,
                 const char *id, const char *provider, uint64_t seq, time_t now,
                 struct build_doc *out, char **err);

/* Signs d->payload with key into d->envelope. 0, or -1 with *err. */
int build_sign(EVP_PKEY *key, struct build_doc *d, char **err);

#endif

/*
 * dbcache: compiled Hyperscan databases kept on disk, so that a start-up or
 * reload with the same signatures skips the compiler (seconds and tens of
 * MB for a large database). The engine asks for the file of exactly what it
 * is about to compile; a hit hands back the databases and the expressions
 * the compiler had rejected, a miss lets it compile and store the result.
 *
 * A file is named by a SHA-256 key over every compile input (expression,
 * flags, id, extended parameters, mode, per set, in order) plus
 * hs_version() and the host platform, so any change of the signatures, of
 * their translation or of Hyperscan is a miss. A file is read only if it
 * and its directory belong to us (or root) and no one else may write them,
 * and only if every length, digest and database checks out; anything else
 * is logged, ignored and overwritten. Writes are atomic (a temporary file
 * renamed into place). Log lines say "engine: cache:": to an admin this is
 * the engine's cache.
 *
 * The directory is set once for the process (dbcache_set_dir); a handle is
 * one lookup, used by one thread.
 */
#ifndef PC_DBCACHE_H
#define PC_DBCACHE_H

#include <stddef.h>

#include <hs/hs.h>

/* Compile sets per file: the engine's stream, EOF-fixed and EOF-variable. */
#define DBCACHE_NSETS 3

/* One compile input, as hs_compile_ext_multi() gets it (all borrowed). */
struct dbcache_set {
	const char *const *expr;
	const unsigned *flags, *ids;
	const hs_expr_ext_t *const *ext; /* entries may be NULL */
	size_t n;
	unsigned mode; /* HS_MODE_STREAM or HS_MODE_BLOCK */
};

/* What dbcache_store() writes (all borrowed). */
struct dbcache_image {
	hs_database_t *const *db[DBCACHE_NSETS]; /* the databases compiled from set k */
	size_t ndb[DBCACHE_NSETS];
	const unsigned *rej_ids; /* ids the compiler rejected, and why */
	char *const *rej_why;
	size_t nrej;
};

/* Where dbcache_load() puts a file's content, once all of it checked out. */
struct dbcache_sink {
	/* A database of set k, in order; ownership moves to the sink. */
	void (*db)(void *arg, unsigned k, hs_database_t *db);
	/* An id the compiler rejected, and why (borrowed). */
	void (*reject)(void *arg, unsigned id, const char *why);
	void *arg;
};

struct dbcache;

/*
 * Sets the cache directory for the whole process (copied; NULL or "" turns
 * the cache off, which is the default). A missing directory is created
 * (mode 0700; its parent must exist) at the first lookup.
 */
void dbcache_set_dir(const char *dir);

/*
 * Starts a lookup for the files of sets[0..DBCACHE_NSETS) (only read; the
 * key is taken now). NULL if the cache is off, or if the directory cannot
 * be used (logged: it is not a directory, or another user owns it or may
 * write to it).
 */
struct dbcache *dbcache_open(const struct dbcache_set *sets);
/*
 * Reads the file of c: 0 with every database and rejection handed to sink;
 * -1 if there is none (silently) or it does not check out (logged: "...;
 * ignored, compiling"), with nothing handed over. A rejected id must be
 * below max_id.
 */
int dbcache_load(struct dbcache *c, size_t max_id, const struct dbcache_sink *sink);
/*
 * Writes img as the file of c, atomically, then removes all but the 3 other
 * cache files used last (a hit counts as a use) and temporaries a crashed
 * writer left. A failure is logged, never returned: the cache is a cache.
 */
void dbcache_store(struct dbcache *c, const struct dbcache_image *img);
/* The file of c ("dir/hs-<key>.db"); valid until dbcache_close(). */
const char *dbcache_path(const struct dbcache *c);
void dbcache_close(struct dbcache *c);

#endif

/*
 * hscompile: turns a set of expressions into Hyperscan databases without
 * letting one bad expression sink the others. Hyperscan compiles a set as
 * a whole and fails it for one expression it refuses; this module drops
 * that expression (reported to the caller), retries with the rest, checks
 * every expression singly once several were refused, and splits a set in
 * two when a failure is tied to none of them. What an expression means is
 * the caller's (the engine's translation of signatures).
 */
#ifndef PC_HSCOMPILE_H
#define PC_HSCOMPILE_H

#include <stddef.h>

#include <hs/hs.h>

/*
 * The compile inputs of one database, in step, as hs_compile_ext_multi()
 * takes them. Zero-initialized ({0}) is empty; the arrays are the set's,
 * the expressions and ext are borrowed.
 */
struct hsc_set {
	const char **expr;
	unsigned *flags, *ids;
	const hs_expr_ext_t **ext; /* entries may be NULL */
	size_t n, cap;
};

/* What happens to an expression the compiler refuses: its id and why. */
typedef void (*hsc_reject_fn)(void *arg, unsigned id, const char *why);

/* Appends one expression (expr and ext borrowed, not copied). */
void hsc_push(struct hsc_set *cs, const char *expr, unsigned flags, unsigned id,
              const hs_expr_ext_t *ext);
/* Frees the arrays of cs (not the expressions) and empties it. */
void hsc_free(struct hsc_set *cs);

/*
 * Compiles cs in mode (HS_MODE_STREAM or HS_MODE_BLOCK) into one or more
 * databases appended to (*v, *n, *cap). Each expression the compiler
 * refuses goes to reject(arg, id, why) and out of cs, so afterwards cs
 * holds what was compiled, in some order.
 */
void hsc_compile(struct hsc_set *cs, unsigned mode, hsc_reject_fn reject, void *arg,
                 hs_database_t ***v, size_t *n, size_t *cap);
/* Appends db to the growing array (*v, *n, *cap). */
void hsc_push_db(hs_database_t ***v, size_t *n, size_t *cap, hs_database_t *db);
/* Frees n databases and the array holding them (NULL is fine). */
void hsc_free_dbs(hs_database_t **v, size_t n);

#endif

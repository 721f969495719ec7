/*
 * hscompile: the retry and split around hs_compile_ext_multi(). Owns the
 * arrays of a set and the databases until they are appended to the
 * caller's array; never the expressions.
 */
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "scan/hscompile.h"
#include "util/log.h"
#include "util/xalloc.h"

/* After this many refused expressions, check all remaining ones singly. */
#define HSC_PREVALIDATE_AFTER 4

void
hsc_push(struct hsc_set *cs, const char *expr, unsigned flags, unsigned id,
         const hs_expr_ext_t *ext)
{
	size_t cap = cs->cap;

	cs->expr = xgrow(cs->expr, &cap, cs->n + 1, sizeof(*cs->expr));
	cap = cs->cap;
	cs->flags = xgrow(cs->flags, &cap, cs->n + 1, sizeof(*cs->flags));
	cap = cs->cap;
	cs->ids = xgrow(cs->ids, &cap, cs->n + 1, sizeof(*cs->ids));
	cap = cs->cap;
	cs->ext = xgrow(cs->ext, &cap, cs->n + 1, sizeof(*cs->ext));
	cs->cap = cap;
	cs->expr[cs->n] = expr;
	cs->flags[cs->n] = flags;
	cs->ids[cs->n] = id;
	cs->ext[cs->n] = ext;
	cs->n++;
}

/* Removes entry k (order does not matter: ids travel with the entries). */
static void
hsc_remove(struct hsc_set *cs, size_t k)
{
	cs->n--;
	cs->expr[k] = cs->expr[cs->n];
	cs->flags[k] = cs->flags[cs->n];
	cs->ids[k] = cs->ids[cs->n];
	cs->ext[k] = cs->ext[cs->n];
}

void
hsc_free(struct hsc_set *cs)
{
	free(cs->expr);
	free(cs->flags);
	free(cs->ids);
	free(cs->ext);
	memset(cs, 0, sizeof(*cs));
}

/* Drops every expression Hyperscan's front end refuses on its own. */
static void
hsc_prevalidate(struct hsc_set *cs, hsc_reject_fn reject, void *arg)
{
	for (size_t k = 0; k < cs->n;) {
		hs_expr_info_t *info = NULL;
		hs_compile_error_t *ce = NULL;

		if (hs_expression_ext_info(cs->expr[k], cs->flags[k], cs->ext[k], &info, &ce) !=
		    HS_SUCCESS) {
			reject(arg, cs->ids[k], ce ? ce->message : "hyperscan error");
			hs_free_compile_error(ce);
			hsc_remove(cs, k);
			continue;
		}
		free(info);
		k++;
	}
}

void
hsc_push_db(hs_database_t ***v, size_t *n, size_t *cap, hs_database_t *db)
{
	*v = xgrow(*v, cap, *n + 1, sizeof(**v));
	(*v)[(*n)++] = db;
}

void
hsc_compile(struct hsc_set *cs, unsigned mode, hsc_reject_fn reject, void *arg, hs_database_t ***v,
            size_t *n, size_t *cap)
{
	size_t fails = 0;

	while (cs->n > 0) {
		hs_database_t *db = NULL;
		hs_compile_error_t *ce = NULL;
		struct hsc_set a = {0}, b = {0};

		if (hs_compile_ext_multi(cs->expr, cs->flags, cs->ids, cs->ext, (unsigned)cs->n,
		                         mode, NULL, &db, &ce) == HS_SUCCESS) {
			hsc_push_db(v, n, cap, db);
			return;
		}
		if (ce != NULL && ce->expression >= 0 && (size_t)ce->expression < cs->n) {
			reject(arg, cs->ids[ce->expression], ce->message);
			hsc_remove(cs, (size_t)ce->expression);
			hs_free_compile_error(ce);
			if (++fails == HSC_PREVALIDATE_AFTER)
				hsc_prevalidate(cs, reject, arg);
			continue;
		}
		log_warnx("engine: compiling %zu expressions failed: %s%s", cs->n,
		          ce ? ce->message : "?", cs->n > 1 ? "; splitting" : "");
		if (cs->n == 1) {
			reject(arg, cs->ids[0], ce ? ce->message : "hyperscan error");
			hs_free_compile_error(ce);
			return;
		}
		hs_free_compile_error(ce);
		for (size_t k = 0; k < cs->n; k++)
			hsc_push(k < cs->n / 2 ? &a : &b, cs->expr[k], cs->flags[k], cs->ids[k],
			         cs->ext[k]);
		hsc_compile(&a, mode, reject, arg, v, n, cap);
		hsc_compile(&b, mode, reject, arg, v, n, cap);
		hsc_free(&a);
		hsc_free(&b);
		return;
	}
}

void
hsc_free_dbs(hs_database_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hs_free_database(v[i]);
	free(v);
}

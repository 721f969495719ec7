/*
 * idtab: chained hash on the id. Owns its buckets and entries; the table
 * doubles when it holds more entries than buckets.
 */
#include <stdlib.h>

#include "util/idtab.h"
#include "util/xalloc.h"

struct ident {
	uint64_t id;
	void *obj;
	struct ident *next;
};

struct idtab {
	struct ident **b;
	size_t nb, n;
};

struct idtab *
idtab_new(void)
{
	struct idtab *t = xcalloc(1, sizeof(*t));

	t->nb = 64;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	return t;
}

void
idtab_free(struct idtab *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			struct ident *e = t->b[i];

			t->b[i] = e->next;
			free(e);
		}
	free(t->b);
	free(t);
}

static size_t
slot(const struct idtab *t, uint64_t id)
{
	/* Ids are sequential: a multiplicative hash spreads them anyway. */
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 32) & (t->nb - 1);
}

static void
grow(struct idtab *t)
{
	size_t onb = t->nb;
	struct ident **ob = t->b;

	t->nb *= 2;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	for (size_t i = 0; i < onb; i++)
		while (ob[i]) {
			struct ident *e = ob[i];
			size_t k = slot(t, e->id);

			ob[i] = e->next;
			e->next = t->b[k];
			t->b[k] = e;
		}
	free(ob);
}

void
idtab_put(struct idtab *t, uint64_t id, void *obj)
{
	struct ident *e = xmalloc(sizeof(*e));
	size_t k;

	if (t->n >= t->nb)
		grow(t);
	k = slot(t, id);
	e->id = id;
	e->obj = obj;
	e->next = t->b[k];
	t->b[k] = e;
	t->n++;
}

void *
idtab_get(const struct idtab *t, uint64_t id)
{
	for (const struct ident *e = t->b[slot(t, id)]; e; e = e->next)
		if (e->id == id)
			return e->obj;
	return NULL;
}

void *
idtab_del(struct idtab *t, uint64_t id)
{
	for (struct ident **pp = &t->b[slot(t, id)]; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct ident *e = *pp;
			void *obj = e->obj;

			*pp = e->next;
			free(e);
			t->n--;
			return obj;
		}
	return NULL;
}

size_t
idtab_count(const struct idtab *t)
{
	return t->n;
}

void *
idtab_any(const struct idtab *t)
{
	for (size_t i = 0; i < t->nb; i++)
		if (t->b[i])
			return t->b[i]->obj;
	return NULL;
}

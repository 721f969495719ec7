/*
 * idtab: a table from 64-bit ids to objects, for results that come back to
 * the event loop after their object may have gone (a worker's job finds its
 * session by id, never by a pointer it kept). Owns its buckets, never the
 * objects. Not thread-safe: the loop thread's alone.
 */
#ifndef PC_IDTAB_H
#define PC_IDTAB_H

#include <stddef.h>
#include <stdint.h>

struct idtab;

struct idtab *idtab_new(void);
/* Frees the table; the objects still in it are the caller's. NULL is fine. */
void idtab_free(struct idtab *t);
/* Adds obj under id (which must not be in the table yet). */
void idtab_put(struct idtab *t, uint64_t id, void *obj);
/* The object under id, or NULL. */
void *idtab_get(const struct idtab *t, uint64_t id);
/* Removes id; returns its object, or NULL if it was not there. */
void *idtab_del(struct idtab *t, uint64_t id);
size_t idtab_count(const struct idtab *t);
/* Any one object in the table, or NULL when it is empty (to free them all). */
void *idtab_any(const struct idtab *t);

#endif

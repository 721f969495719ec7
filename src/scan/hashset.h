/*
 * hashset: the lookup table of hash signatures (MD5, SHA-1, SHA-256).
 * Open addressing keyed by the digest, plus per hash type the sorted list of
 * sizes that some signature names, so that the engine computes a digest
 * only for objects whose size could match.
 *
 * The set keeps pointers to the struct hash_sig it is given; they must
 * outlive it (the engine keeps the sigdb they live in). Built once, then
 * read-only and safe to share between threads.
 */
#ifndef PC_HASHSET_H
#define PC_HASHSET_H

#include <stddef.h>
#include <stdint.h>

#include "scan/sig.h"

struct hashset;

/* Builds a set of the n signatures sigs[0..n) (pointers kept, not copied). */
struct hashset *hashset_new(const struct hash_sig *sigs, size_t n);
void hashset_free(struct hashset *hs);

/* Bit (1u << type) for each hash type present in the set. */
unsigned hashset_types(const struct hashset *hs);
/*
 * Returns 1 if some signature of type t names `size` or any size ("*"), so
 * that a digest of an object of that size is worth computing.
 */
int hashset_wants(const struct hashset *hs, enum hash_type t, uint64_t size);

typedef void (*hashset_hit_fn)(const struct hash_sig *sig, void *arg);
/*
 * Calls fn for every signature of type t with this digest whose size is
 * `size` or any. Returns the number of such signatures.
 */
size_t hashset_lookup(const struct hashset *hs, enum hash_type t, const uint8_t *digest,
                      uint64_t size, hashset_hit_fn fn, void *arg);

/* Digest length in bytes of a hash type. */
size_t hash_type_len(enum hash_type t);
/* "md5", "sha1", "sha256". */
const char *hash_type_name(enum hash_type t);

#endif

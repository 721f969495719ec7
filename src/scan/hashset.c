/*
 * hashset: hash signature lookup. Owns its table and size lists, not the
 * signatures (see hashset.h).
 */
#include <stdlib.h>
#include <string.h>

#include "scan/hashset.h"
#include "util/xalloc.h"

struct hashset {
	const struct hash_sig **slot; /* open addressing, linear probing */
	size_t mask;                  /* table size - 1 (a power of two) */
	unsigned types;
	struct {
		uint64_t *sizes; /* sorted, unique */
		size_t n;
		int any; /* some signature of this type has size "*" */
	} bytype[HASH_NTYPES];
};

size_t
hash_type_len(enum hash_type t)
{
	static const size_t len[HASH_NTYPES] = {16, 20, 32};

	return (unsigned)t < HASH_NTYPES ? len[t] : 0;
}

const char *
hash_type_name(enum hash_type t)
{
	static const char *name[HASH_NTYPES] = {"md5", "sha1", "sha256"};

	return (unsigned)t < HASH_NTYPES ? name[t] : "?";
}

/* Mixes the first 8 digest bytes with the type (test digests need not be random). */
static uint64_t
hs_key(enum hash_type t, const uint8_t *digest)
{
	uint64_t x;

	memcpy(&x, digest, sizeof(x));
	x ^= (uint64_t)t * 0x9e3779b97f4a7c15ULL;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct hashset *
hashset_new(const struct hash_sig *sigs, size_t n)
{
	struct hashset *hs = xcalloc(1, sizeof(*hs));
	size_t cap = 16, nsz[HASH_NTYPES] = {0};

	while (cap < 2 * n)
		cap <<= 1;
	hs->slot = xcalloc(cap, sizeof(*hs->slot));
	hs->mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		const struct hash_sig *s = &sigs[i];
		size_t j;

		if ((unsigned)s->type >= HASH_NTYPES)
			continue;
		j = hs_key(s->type, s->digest) & hs->mask;
		while (hs->slot[j] != NULL)
			j = (j + 1) & hs->mask;
		hs->slot[j] = s;
		hs->types |= 1u << s->type;
		if (s->size_any)
			hs->bytype[s->type].any = 1;
		else
			nsz[s->type]++;
	}
	for (int t = 0; t < HASH_NTYPES; t++) {
		hs->bytype[t].sizes = xcalloc(nsz[t] + 1, sizeof(uint64_t));
		hs->bytype[t].n = 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned)sigs[i].type < HASH_NTYPES && !sigs[i].size_any)
			hs->bytype[sigs[i].type].sizes[hs->bytype[sigs[i].type].n++] = sigs[i].size;
	for (int t = 0; t < HASH_NTYPES; t++) {
		uint64_t *v = hs->bytype[t].sizes;
		size_t k = 0;

		qsort(v, hs->bytype[t].n, sizeof(*v), cmp_u64);
		for (size_t i = 0; i < hs->bytype[t].n; i++)
			if (k == 0 || v[k - 1] != v[i])
				v[k++] = v[i];
		hs->bytype[t].n = k;
	}
	return hs;
}

void
hashset_free(struct hashset *hs)
{
	if (hs == NULL)
		return;
	for (int t = 0; t < HASH_NTYPES; t++)
		free(hs->bytype[t].sizes);
	free(hs->slot);
	free(hs);
}

unsigned
hashset_types(const struct hashset *hs)
{
	return hs->types;
}

int
hashset_wants(const struct hashset *hs, enum hash_type t, uint64_t size)
{
	const uint64_t *v;
	size_t lo = 0, hi;

	if ((unsigned)t >= HASH_NTYPES || !(hs->types & (1u << t)))
		return 0;
	if (hs->bytype[t].any)
		return 1;
	v = hs->bytype[t].sizes;
	hi = hs->bytype[t].n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] == size)
			return 1;
		if (v[mid] < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

size_t
hashset_lookup(const struct hashset *hs, enum hash_type t, const uint8_t *digest, uint64_t size,
               hashset_hit_fn fn, void *arg)
{
	size_t j, found = 0, len = hash_type_len(t);

	if (len == 0)
		return 0;
	j = hs_key(t, digest) & hs->mask;
	for (size_t probes = 0; probes <= hs->mask && hs->slot[j] != NULL; probes++) {
		const struct hash_sig *s = hs->slot[j];

		if (s->type == t && memcmp(s->digest, digest, len) == 0 &&
		    (s->size_any || s->size == size)) {
			found++;
			if (fn != NULL)
				fn(s, arg);
		}
		j = (j + 1) & hs->mask;
	}
	return found;
}

/*
 * rewrite_targets: which parts a verdict names. A scanner hit path is
 * root "//" part id [...]; the id of the first level below the root is the
 * part to replace, and a hit on the root itself only counts as covered when
 * the same signature also hit inside a part. Owns the target list it
 * returns; parses no message (rewrite.c matches the ids against one).
 */
#include <stdlib.h>
#include <string.h>

#include "mail/rewrite.h"
#include "mail/rewrite_int.h"
#include "scan/walk.h"
#include "util/xalloc.h"

int
rewrite_part_id(const char *root, const char *hit_path, char *id, size_t cap)
{
	char r[WALK_ROOT_NAME_MAX];
	size_t rl, il;
	const char *p;

	if (cap > 0)
		id[0] = '\0';
	if (root == NULL || hit_path == NULL)
		return -1;
	walk_root_name(root, r, sizeof(r));
	rl = strlen(r);
	if (strncmp(hit_path, r, rl) != 0 || strncmp(hit_path + rl, "//", 2) != 0)
		return -1;
	p = hit_path + rl + 2;
	il = strcspn(p, "/");
	if (il == 0 || il >= cap)
		return -1;
	memcpy(id, p, il);
	id[il] = '\0';
	return 0;
}

/* True if the comma-separated list has name. */
static int
names_have(const char *list, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, ",");

		if (l == nl && strncmp(p, name, l) == 0)
			return 1;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

void
rw_names_merge(char **names, const char *list)
{
	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, ",");
		char *one = xstrndup(p, l);

		if (l > 0 && !names_have(*names, one)) {
			char *n =
			    *names && **names ? xasprintf("%s,%s", *names, one) : xstrdup(one);

			free(*names);
			*names = n;
		}
		free(one);
		p += l;
		if (*p == ',')
			p++;
	}
}

unsigned
rw_uu_block_of(const char *id, char *parent, size_t cap)
{
	const char *u = strstr(id, "uu");
	char *end;
	unsigned long k;

	/* The last component only: "N.uuK" or the whole id "uuK". */
	while (u && strstr(u + 2, "uu"))
		u = strstr(u + 2, "uu");
	if (u == NULL || (u != id && u[-1] != '.') || !(u[2] >= '1' && u[2] <= '9'))
		return 0;
	k = strtoul(u + 2, &end, 10);
	if (*end != '\0' || k == 0 || k > 1000000)
		return 0;
	if (u == id) {
		parent[0] = '\0';
	} else {
		size_t pl = (size_t)(u - 1 - id);

		if (pl >= cap)
			return 0;
		memcpy(parent, id, pl);
		parent[pl] = '\0';
	}
	return (unsigned)k;
}

/* True if the n bytes at s are one textblocks id component ("yenc2", "b64-1"). */
static int
is_block_component(const char *s, size_t n)
{
	static const char *const kinds[] = {"uu", "yenc", "hqx", "b64-", "mime"};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t kl = strlen(kinds[i]), j;

		if (n <= kl || strncmp(s, kinds[i], kl) != 0 || s[kl] < '1' || s[kl] > '9')
			continue;
		for (j = kl; j < n && s[j] >= '0' && s[j] <= '9'; j++)
			;
		if (j == n)
			return 1;
	}
	return 0;
}

int
rw_text_block_of(const char *id, char *parent, size_t cap)
{
	const char *p = id;

	while (*p) {
		size_t n = strcspn(p, ".");

		if (p != id && is_block_component(p, n)) {
			size_t pl = (size_t)(p - 1 - id);

			if (pl >= cap)
				return 0;
			memcpy(parent, id, pl);
			parent[pl] = '\0';
			return 1;
		}
		p += n;
		if (*p == '.')
			p++;
	}
	return 0;
}

void
rw_target_add(struct rewrite_target **t, size_t *n, size_t *cap, const char *id, const char *names)
{
	size_t k;
	char *merged;

	for (k = 0; k < *n; k++)
		if (strcmp((*t)[k].part_id, id) == 0)
			break;
	if (k == *n) {
		*t = xgrow(*t, cap, *n + 1, sizeof(**t));
		(*t)[k].part_id = xstrdup(id);
		(*t)[k].names = NULL;
		(*n)++;
	}
	merged = (char *)(*t)[k].names;
	rw_names_merge(&merged, names);
	(*t)[k].names = merged;
}

void
rw_targets_fold_uu(struct rewrite_target *t, size_t *n)
{
	for (size_t i = 0; i < *n;) {
		char parent[REWRITE_ID_MAX], *merged;
		size_t k = *n;

		if (rw_uu_block_of(t[i].part_id, parent, sizeof(parent)) > 0)
			for (k = 0; k < *n; k++)
				if (strcmp(t[k].part_id, parent) == 0)
					break;
		if (k == *n) {
			i++;
			continue;
		}
		merged = (char *)t[k].names;
		rw_names_merge(&merged, t[i].names);
		t[k].names = merged;
		free((char *)t[i].part_id);
		free((char *)t[i].names);
		memmove(&t[i], &t[i + 1], (*n - i - 1) * sizeof(*t));
		(*n)--;
	}
}

void
rewrite_targets_free(struct rewrite_target *t, size_t n)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)t[i].part_id);
		free((char *)t[i].names);
	}
	free(t);
}

char *
rewrite_unlocated(const struct scan_verdict *v, const char *root)
{
	char *rootnames = NULL, *out = NULL;
	char id[REWRITE_ID_MAX];

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < v->nhits; i++)
		if (rewrite_part_id(root, v->hits[i].path, id, sizeof(id)) < 0)
			rw_names_merge(&rootnames, v->hits[i].name);
	/* A root hit is located if the same signature hit inside a part. */
	for (const char *p = rootnames; p && *p;) {
		size_t l = strcspn(p, ",");
		char *one = xstrndup(p, l);
		int covered = 0;

		for (size_t i = 0; i < v->nhits && !covered; i++)
			covered = strcmp(v->hits[i].name, one) == 0 &&
			          rewrite_part_id(root, v->hits[i].path, id, sizeof(id)) == 0;
		if (!covered)
			rw_names_merge(&out, one);
		free(one);
		p += l;
		if (*p == ',')
			p++;
	}
	free(rootnames);
	return out;
}

int
rewrite_targets_from_verdict(const struct scan_verdict *v, const char *root,
                             struct rewrite_target **out, size_t *n)
{
	struct rewrite_target *t = NULL;
	size_t nt = 0, cap = 0;
	char *unlocated;
	char id[REWRITE_ID_MAX];

	*out = NULL;
	*n = 0;
	if (v == NULL || v->nhits == 0)
		return -1;
	/* A root hit is harmless only if the same signature hit inside a part. */
	if ((unlocated = rewrite_unlocated(v, root)) != NULL) {
		free(unlocated);
		return -1;
	}
	for (size_t i = 0; i < v->nhits; i++)
		if (rewrite_part_id(root, v->hits[i].path, id, sizeof(id)) == 0)
			rw_target_add(&t, &nt, &cap, id, v->hits[i].name);
	rw_targets_fold_uu(t, &nt);
	if (nt == 0) {
		rewrite_targets_free(t, nt);
		return -1;
	}
	*out = t;
	*n = nt;
	return 0;
}

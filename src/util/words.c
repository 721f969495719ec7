/*
 * words: splitting a configuration list into copies, and freeing them.
 * Owns nothing past the call: the caller owns the array.
 */
#include <stdlib.h>
#include <string.h>

#include "util/words.h"
#include "util/xalloc.h"

/* What separates words: a list may use either, or both. */
#define WORDS_SEP " ,\t"

void
words_split(const char *s, char ***out, size_t *n)
{
	char **v = NULL;
	size_t cap = 0, cnt = 0;
	const char *p = s ? s : "";

	while (*p) {
		size_t l;

		p += strspn(p, WORDS_SEP);
		l = strcspn(p, WORDS_SEP);
		if (l == 0)
			break;
		v = xgrow(v, &cap, cnt + 1, sizeof(*v));
		v[cnt++] = xstrndup(p, l);
		p += l;
	}
	*out = v;
	*n = cnt;
}

void
words_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

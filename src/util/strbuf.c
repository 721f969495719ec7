/*
 * strbuf: growing strings for the builders of notices and rewritten parts.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	b->s = xgrow(b->s, &b->cap, b->len + n + 1, 1);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

char *
sb_take(struct sbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void
sb_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *t;

	va_start(ap, fmt);
	t = xvasprintf(fmt, ap);
	va_end(ap);
	sb_adds(b, t);
	free(t);
}

size_t
sb_sink_write(char *p, size_t size, size_t n, void *sink)
{
	struct sb_sink *k = sink;
	size_t add = size * n;

	if (k->b.len + add > k->max) {
		k->over = 1;
		return 0;
	}
	sb_add(&k->b, p, add);
	return add;
}

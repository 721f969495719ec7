/*
 * strbuf: a growing NUL-terminated byte string. The struct is public and
 * zero-initialized ({0}); it owns s until sb_take() hands it over.
 */
#ifndef PC_STRBUF_H
#define PC_STRBUF_H

#include <stddef.h>

struct sbuf {
	char *s;
	size_t len, cap;
};

/* Appends n bytes of s (copied). */
void sb_add(struct sbuf *b, const char *s, size_t n);
/* Appends the string s (copied). */
void sb_adds(struct sbuf *b, const char *s);
/* Appends printf-formatted text. */
void sb_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the string, never NULL ("" when empty); the caller frees it and
 * b is empty again. */
char *sb_take(struct sbuf *b);

/*
 * A bounded sink, e.g. for an HTTP answer: libcurl's CURLOPT_WRITEFUNCTION
 * is sb_sink_write with CURLOPT_WRITEDATA the sink. It appends until more
 * than max bytes would be held; then it refuses the chunk (the transfer
 * fails) and sets over.
 */
struct sb_sink {
	struct sbuf b;
	size_t max;
	int over;
};
size_t sb_sink_write(char *p, size_t size, size_t n, void *sink);

#endif

/*
 * docfmt: what the document parsers (pdf.c, rtf.c, htmldata.c) share: the
 * capped output buffer, and the extractors that map a document for its
 * parser and hand the parser's children to the walker (extract.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mman.h>

#include "scan/docfmt.h"
#include "util/xalloc.h"

void
dbuf_init(struct dbuf *b, const struct doc_limits *lim, size_t in_len)
{
	memset(b, 0, sizeof(*b));
	b->cap = lim->max_child;
	b->why = LIMIT_FILE_SIZE;
	if (lim->max_ratio) {
		uint64_t r = (uint64_t)in_len * lim->max_ratio;

		if (r < DOC_RATIO_FLOOR)
			r = DOC_RATIO_FLOOR;
		if (b->cap == 0 || r < b->cap) {
			b->cap = r;
			b->why = LIMIT_RATIO;
		}
	}
}

int
dbuf_put(struct dbuf *b, const void *data, size_t n)
{
	if (b->cap && b->len + n > b->cap) {
		n = (size_t)(b->cap - b->len);
		b->full = 1;
	}
	if (b->len + n > b->size) {
		size_t want = b->size ? b->size : 4096;

		while (want < b->len + n)
			want *= 2;
		if (b->cap && want > b->cap)
			want = (size_t)b->cap;
		b->p = xrealloc(b->p, want);
		b->size = want;
	}
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return b->full ? -1 : 0;
}

void
dbuf_free(struct dbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int
doc_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
doc_over(const struct doc_sink *sink, const char *name, const struct dbuf *b)
{
	if (!b->full)
		return 0;
	sink->note(sink->arg, SCAN_LIMIT, b->why, name,
	           b->why == LIMIT_RATIO ? "decoded too large for its size" : "decoded too large");
	return 1;
}

/* doc_sink for the walker: the arg is the extract_ctx. */
static int
x_child(void *arg, const char *name, const void *buf, size_t len)
{
	return extract_child_mem(arg, name, buf, len);
}

static void
x_note(void *arg, enum scan_status st, enum scan_limit l, const char *name, const char *why)
{
	extract_note(arg, st, l, name, "%s", why);
}

typedef void (*doc_parse_fn)(const void *, size_t, const struct doc_limits *,
                             const struct doc_sink *);

/* Maps [off, off + size) of fd and runs parse over it for the walker. */
static void
doc_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size, doc_parse_fn parse)
{
	struct doc_sink sink = {x_child, x_note, x};
	struct doc_limits lim;
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t base = off - off % (uint64_t)(pg > 0 ? pg : 4096);
	size_t maplen;
	void *m;

	if (size == 0)
		return;
	if (size > SIZE_MAX - (off - base)) {
		extract_note(x, SCAN_LIMIT, LIMIT_FILE_SIZE, NULL, "document too large to map");
		return;
	}
	maplen = (size_t)(size + (off - base));
	m = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fd, (off_t)base);
	if (m == MAP_FAILED) {
		extract_note(x, SCAN_ERROR, LIMIT_NONE, NULL, "mmap: %s", strerror(errno));
		return;
	}
	lim.max_child = extract_max_child(x);
	lim.max_ratio = extract_max_ratio(x);
	lim.max_objects = extract_max_objects(x);
	parse((const unsigned char *)m + (off - base), (size_t)size, &lim, &sink);
	munmap(m, maplen);
}

void
pdf_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	doc_extract(x, fd, off, size, pdf_parse);
}

void
rtf_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	doc_extract(x, fd, off, size, rtf_parse);
}

void
htmldata_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	doc_extract(x, fd, off, size, htmldata_parse);
}

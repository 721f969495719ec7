/*
 * docfmt: the document formats whose content hides inside the text of the
 * document: PDF streams (pdf.c), RTF embedded objects (rtf.c) and HTML
 * data: URIs (htmldata.c). Each is a pure parser over bytes in memory: it
 * decodes what it finds and hands each decoded piece to a doc_sink, which
 * the walker (through extract.h, see docfmt.c) turns into child nodes. The
 * parsers do no I/O, decide nothing about signatures, and stop at the
 * limits given; they never fail: damage ends the piece or the parse.
 *
 * Children's names: "objN" for PDF object N's stream, an RTF package's
 * label (else "objN", N counting from 1), "dataN" for the Nth data: URI.
 */
#ifndef PC_DOCFMT_H
#define PC_DOCFMT_H

#include <stddef.h>
#include <stdint.h>

#include "scan/extract.h"
#include "scan/verdict.h"

#define DOC_RATIO_FLOOR (1024 * 1024) /* max_ratio is checked above this many bytes */

/* Zero in any field: no limit. */
struct doc_limits {
	uint64_t max_child;   /* bytes of one decoded child (scan.max_file_size) */
	unsigned max_ratio;   /* decoded bytes per encoded byte (scan.max_ratio) */
	unsigned max_objects; /* objects, embedded objects or URIs (scan.doc_max_objects) */
};

struct doc_sink {
	/*
	 * One decoded child: len bytes at buf (the parser's, valid during the
	 * call). Returns 0 to go on, -1 to stop the parse.
	 */
	int (*child)(void *arg, const char *name, const void *buf, size_t len);
	/* A finding at the document (name NULL) or at its child name. */
	void (*note)(void *arg, enum scan_status st, enum scan_limit l, const char *name,
	             const char *why);
	void *arg;
};

/* The parsers: walk len bytes at buf; children and findings go to sink. */
void pdf_parse(const void *buf, size_t len, const struct doc_limits *lim,
               const struct doc_sink *sink);
void rtf_parse(const void *buf, size_t len, const struct doc_limits *lim,
               const struct doc_sink *sink);
void htmldata_parse(const void *buf, size_t len, const struct doc_limits *lim,
                    const struct doc_sink *sink);

/* The extractors (extract.h extract_fn) that run the parsers for the walker. */
void pdf_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);
void rtf_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);
void htmldata_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);

/*
 * Shared by the parsers: a growing output buffer that holds at most cap
 * bytes (0: no cap); dbuf_put() returns -1 once a byte did not fit (and
 * sets .full), 0 otherwise. dbuf_free() accepts an empty buffer.
 */
struct dbuf {
	unsigned char *p;
	size_t len, size;
	uint64_t cap;
	enum scan_limit why; /* the limit cap stands for */
	int full;
};
/*
 * Starts an empty buffer for a child decoded from in_len bytes: its cap is
 * the smaller of lim->max_child and in_len * lim->max_ratio (at least
 * DOC_RATIO_FLOOR).
 */
void dbuf_init(struct dbuf *b, const struct doc_limits *lim, size_t in_len);
int dbuf_put(struct dbuf *b, const void *data, size_t n);
void dbuf_free(struct dbuf *b);
/* The value of hex digit c, or -1. */
int doc_hexval(unsigned char c);
/*
 * When b is full, notes the limit it stopped at (at child name) and
 * returns 1; else returns 0.
 */
int doc_over(const struct doc_sink *sink, const char *name, const struct dbuf *b);

#endif

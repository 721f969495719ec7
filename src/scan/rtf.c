/*
 * rtf: the embedded objects of an RTF document. An object's data is the
 * group {\*\objdata ...}: hex digits (white space between them allowed)
 * and \binN runs of N raw bytes, holding an OLE1 object ([MS-OLEDS]
 * 2.2.4 ObjectHeader + EmbeddedObject: version, format, class name, topic,
 * item, then the native data with its size). A "Package" object (the
 * Packager's native format: label, source path, temporary path, data) is
 * taken apart and its file handed on under its label; any other class
 * hands its native data on; data that is no OLE1 object at all is handed
 * on whole. Knows nothing else of RTF (text, fonts, pictures).
 */
#include <stdio.h>
#include <string.h>

#include "scan/docfmt.h"

#define RTF_WORD_MAX 32   /* letters of a control word read */
#define RTF_LABEL_MAX 256 /* bytes of a package label kept */
#define OLE1_EMBEDDED 2   /* FormatID of an embedded object */

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A little-endian reader over b[0..n) that fails once past the end. */
struct rd {
	const unsigned char *b;
	size_t n, i;
	int bad;
};

static uint32_t
rd_u32(struct rd *r)
{
	uint32_t v;

	if (r->bad || r->n - r->i < 4) {
		r->bad = 1;
		return 0;
	}
	v = (uint32_t)r->b[r->i] | (uint32_t)r->b[r->i + 1] << 8 | (uint32_t)r->b[r->i + 2] << 16 |
	    (uint32_t)r->b[r->i + 3] << 24;
	r->i += 4;
	return v;
}

/* Skips n bytes; returns where they start (NULL when past the end). */
static const unsigned char *
rd_skip(struct rd *r, uint64_t n)
{
	const unsigned char *p = r->b + r->i;

	if (r->bad || r->n - r->i < n) {
		r->bad = 1;
		return NULL;
	}
	r->i += (size_t)n;
	return p;
}

/* A NUL-terminated string; returns it (not terminated if cut) and its length. */
static const unsigned char *
rd_cstr(struct rd *r, size_t *len)
{
	const unsigned char *p = r->b + r->i, *z;

	if (r->bad || r->i >= r->n || (z = memchr(p, 0, r->n - r->i)) == NULL) {
		r->bad = 1;
		return NULL;
	}
	*len = (size_t)(z - p);
	r->i += *len + 1;
	return p;
}

/*
 * The Packager's native data: u16, label, source path (both NUL-ended),
 * u32, temporary path (u32 length + bytes), u32 size, the file. Returns 0
 * with the file and its label, -1 if it does not parse.
 */
static int
package(const unsigned char *b, size_t n, char *label, size_t cap, const unsigned char **file,
        size_t *flen)
{
	struct rd r = {b, n, 0, 0};
	const unsigned char *l;
	size_t ll = 0, pl = 0;
	uint32_t size;

	rd_skip(&r, 2);
	l = rd_cstr(&r, &ll);
	rd_cstr(&r, &pl);
	rd_u32(&r);
	rd_skip(&r, rd_u32(&r));
	size = rd_u32(&r);
	if (r.bad)
		return -1;
	/* A cut file: what is there is handed on. */
	*flen = size < n - r.i ? size : n - r.i;
	*file = b + r.i;
	if (ll >= cap)
		ll = cap - 1;
	memcpy(label, l, ll);
	label[ll] = '\0';
	return 0;
}

/* Hands on the object decoded from one \objdata group as described above. */
static int
ole1(const unsigned char *b, size_t n, unsigned idx, const struct doc_sink *sink)
{
	struct rd r = {b, n, 0, 0};
	char name[RTF_LABEL_MAX], cls[16];
	const unsigned char *c, *native, *file;
	uint32_t clen, nlen;
	size_t flen;

	snprintf(name, sizeof(name), "obj%u", idx);
	rd_u32(&r);
	if (rd_u32(&r) != OLE1_EMBEDDED || r.bad)
		return sink->child(sink->arg, name, b, n);
	clen = rd_u32(&r);
	c = rd_skip(&r, clen);
	rd_skip(&r, rd_u32(&r)); /* topic */
	rd_skip(&r, rd_u32(&r)); /* item */
	nlen = rd_u32(&r);
	if (r.bad)
		return sink->child(sink->arg, name, b, n);
	native = b + r.i;
	if (nlen > n - r.i)
		nlen = (uint32_t)(n - r.i);
	snprintf(cls, sizeof(cls), "%.*s", (int)(clen < sizeof(cls) ? clen : sizeof(cls) - 1), c);
	if (strcmp(cls, "Package") == 0 &&
	    package(native, nlen, name, sizeof(name), &file, &flen) == 0) {
		if (name[0] == '\0')
			snprintf(name, sizeof(name), "obj%u", idx);
		return sink->child(sink->arg, name, file, flen);
	}
	return sink->child(sink->arg, name, native, nlen);
}

/*
 * Decodes the group body that starts at b[*i] (just after "\objdata")
 * into out, up to the '}' that closes the group; *i ends past it.
 */
static void
objdata(const unsigned char *b, size_t len, size_t *i, struct dbuf *out)
{
	unsigned depth = 0;
	int hi = -1;

	while (*i < len) {
		unsigned char ch = b[*i];
		int v;

		if (ch == '{') {
			depth++;
			(*i)++;
		} else if (ch == '}') {
			(*i)++;
			if (depth-- == 0)
				return;
		} else if (ch == '\\') {
			char word[RTF_WORD_MAX + 1];
			size_t k = 0;
			uint64_t param = 0;
			int has = 0;

			for ((*i)++; *i < len && is_alpha(b[*i]); (*i)++)
				if (k < RTF_WORD_MAX)
					word[k++] = (char)b[*i];
			word[k] = '\0';
			if (k == 0) { /* a control symbol: \' \* \\ ... */
				if (*i < len)
					(*i)++;
				continue;
			}
			if (*i < len && b[*i] == '-')
				(*i)++;
			for (; *i < len && b[*i] >= '0' && b[*i] <= '9'; (*i)++) {
				if (param < (1ULL << 40))
					param = param * 10 + (uint64_t)(b[*i] - '0');
				has = 1;
			}
			if (*i < len && b[*i] == ' ')
				(*i)++;
			if (strcmp(word, "bin") == 0 && has) {
				size_t take = param < len - *i ? (size_t)param : len - *i;

				if (!out->full)
					dbuf_put(out, b + *i, take);
				*i += take;
			}
		} else if ((v = doc_hexval(ch)) >= 0) {
			(*i)++;
			if (hi < 0) {
				hi = v;
			} else {
				unsigned char c = (unsigned char)(hi << 4 | v);

				hi = -1;
				if (!out->full)
					dbuf_put(out, &c, 1);
			}
		} else {
			(*i)++;
		}
	}
}

void
rtf_parse(const void *buf, size_t len, const struct doc_limits *lim, const struct doc_sink *sink)
{
	const unsigned char *b = buf, *p;
	size_t i = 0;
	unsigned n = 0;

	while (i < len && (p = memmem(b + i, len - i, "\\objdata", 8)) != NULL) {
		struct dbuf out;
		char name[32];
		int r;

		i = (size_t)(p - b) + 8;
		if (i < len && is_alpha(b[i]))
			continue; /* a longer control word */
		if (lim->max_objects && n >= lim->max_objects) {
			sink->note(sink->arg, SCAN_LIMIT, LIMIT_FILES, NULL,
			           "more objects than scan.doc_max_objects");
			return;
		}
		n++;
		dbuf_init(&out, lim, len - i);
		objdata(b, len, &i, &out);
		snprintf(name, sizeof(name), "obj%u", n);
		doc_over(sink, name, &out);
		r = out.len > 0 ? ole1(out.p, out.len, n, sink) : 0;
		dbuf_free(&out);
		if (r < 0)
			return;
	}
}

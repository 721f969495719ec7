/*
 * htmldata: the data: URIs (RFC 2397) of an HTML document, wherever they
 * stand (attributes, inline CSS, script): "data:" [mediatype] [";base64"]
 * "," payload. Each payload is decoded (base64, or percent-encoding) and
 * handed on as the child "dataN". The URI ends at the quote that opened it,
 * a ')' of CSS url(...), a '<' or '>', or white space when it stands
 * unquoted; base64 skips white space and other bytes outside its alphabet
 * inside a quoted URI, as browsers do. Knows nothing else of HTML.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "scan/docfmt.h"

#define DATA_TYPE_MAX 256 /* bytes of a mediatype (with parameters) looked at */

static int
is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

/* The value of base64 digit c (standard or URL-safe alphabet), or -1. */
static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* True if c ends a URI opened by `open` (a quote, '(' or 0 for none). */
static int
ends(unsigned char c, unsigned char open)
{
	if (c == '<' || c == '>')
		return 1;
	if (open == '"' || open == '\'')
		return c == open;
	if (open == '(')
		return c == ')' || c == '"' || c == '\'';
	return is_space(c);
}

/* Decodes b[*i..) as base64 up to the URI's end into out; *i ends there. */
static void
base64(const unsigned char *b, size_t len, size_t *i, unsigned char open, struct dbuf *out)
{
	uint32_t acc = 0;
	int k = 0;

	for (; *i < len && !ends(b[*i], open); (*i)++) {
		int v = b64val(b[*i]);

		if (v < 0 || out->full)
			continue;
		acc = acc << 6 | (uint32_t)v;
		if (++k == 4) {
			unsigned char q[3] = {(unsigned char)(acc >> 16), (unsigned char)(acc >> 8),
			                      (unsigned char)acc};

			dbuf_put(out, q, 3);
			acc = 0;
			k = 0;
		}
	}
	/* Padding missing or not: 2 or 3 digits left make 1 or 2 bytes. */
	if (k >= 2 && !out->full) {
		unsigned char q[2];

		acc <<= 6 * (4 - k);
		q[0] = (unsigned char)(acc >> 16);
		q[1] = (unsigned char)(acc >> 8);
		dbuf_put(out, q, (size_t)(k - 1));
	}
}

/* Decodes b[*i..) with percent-encoding up to the URI's end into out. */
static void
percent(const unsigned char *b, size_t len, size_t *i, unsigned char open, struct dbuf *out)
{
	for (; *i < len && !ends(b[*i], open); (*i)++) {
		unsigned char c = b[*i];
		int h, l;

		if (c == '%' && len - *i >= 3 && (h = doc_hexval(b[*i + 1])) >= 0 &&
		    (l = doc_hexval(b[*i + 2])) >= 0) {
			c = (unsigned char)(h << 4 | l);
			*i += 2;
		}
		if (!out->full)
			dbuf_put(out, &c, 1);
	}
}

void
htmldata_parse(const void *buf, size_t len, const struct doc_limits *lim,
               const struct doc_sink *sink)
{
	const unsigned char *b = buf, *p;
	size_t i = 0;
	unsigned n = 0;

	while (i < len && (p = memchr(b + i, ':', len - i)) != NULL) {
		size_t colon = (size_t)(p - b), start = colon - 4, comma, j;
		unsigned char open = 0;
		struct dbuf out;
		char name[32];
		int is64, r;

		i = colon + 1;
		if (colon < 4 || strncasecmp((const char *)b + start, "data", 4) != 0 ||
		    (start > 0 && is_word(b[start - 1])))
			continue;
		/* What opened the URI: a quote or "(", perhaps with white space after it. */
		for (j = start; j > 0 && is_space(b[j - 1]) && start - j < 16; j--)
			;
		if (j > 0 && (b[j - 1] == '"' || b[j - 1] == '\'' || b[j - 1] == '('))
			open = b[j - 1];
		for (comma = i; comma < len && comma - i < DATA_TYPE_MAX && b[comma] != ',' &&
		                !ends(b[comma], open) && !is_space(b[comma]);
		     comma++)
			;
		if (comma >= len || b[comma] != ',')
			continue;
		is64 =
		    comma - i >= 7 && strncasecmp((const char *)b + comma - 7, ";base64", 7) == 0;
		if (lim->max_objects && n >= lim->max_objects) {
			sink->note(sink->arg, SCAN_LIMIT, LIMIT_FILES, NULL,
			           "more data: URIs than scan.doc_max_objects");
			return;
		}
		n++;
		snprintf(name, sizeof(name), "data%u", n);
		i = comma + 1;
		dbuf_init(&out, lim, len - i);
		if (is64)
			base64(b, len, &i, open, &out);
		else
			percent(b, len, &i, open, &out);
		doc_over(sink, name, &out);
		r = out.len > 0 ? sink->child(sink->arg, name, out.p, out.len) : 0;
		dbuf_free(&out);
		if (r < 0)
			return;
	}
}

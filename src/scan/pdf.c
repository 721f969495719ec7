/*
 * pdf: the streams of a PDF document (ISO 32000-1 7.3.8), each decoded
 * through its filters (7.4: FlateDecode, ASCIIHexDecode, ASCII85Decode, in
 * a chain) and handed on as the child "objN". Objects are found by their
 * "N G obj" headers in the bytes, not through the cross-reference table,
 * which malware breaks on purpose; a stream ends where its /Length says
 * only if "endstream" follows there, else at the next "endstream" (or the
 * end of the file). A filter we do not decode (LZW, DCT, ...) ends the
 * chain: what was decoded so far goes on. Embedded files (7.11.4) are
 * streams like any other. Knows nothing of pages, fonts or encryption.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "scan/docfmt.h"

#define PDF_DICT_MAX 4096 /* bytes of a stream dictionary read for /Filter and /Length */
#define PDF_FILTERS_MAX 8 /* filters in one chain */
#define PDF_NAME_MAX 32

enum pdf_filter { PF_NONE = 0, PF_FLATE, PF_AHX, PF_A85, PF_OTHER };

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\0';
}

static int
is_delim(unsigned char c)
{
	return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' ||
	       c == '}' || c == '/' || c == '%';
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * True if "obj" at b[i] is an object header "N G obj"; sets *num. The
 * keyword must end at a delimiter, white space or the end.
 */
static int
obj_header(const unsigned char *b, size_t len, size_t i, unsigned long *num)
{
	size_t j = i, e;
	unsigned long n = 0, mul = 1;

	if (i + 3 < len && !is_ws(b[i + 3]) && !is_delim(b[i + 3]))
		return 0;
	while (j > 0 && is_ws(b[j - 1]))
		j--;
	if (j == 0 || !is_digit(b[j - 1]))
		return 0;
	while (j > 0 && is_digit(b[j - 1]))
		j--;
	e = j;
	while (j > 0 && is_ws(b[j - 1]))
		j--;
	if (j == e || j == 0 || !is_digit(b[j - 1]))
		return 0;
	for (e = j; j > 0 && is_digit(b[j - 1]) && e - j < 10; j--) {
		n += (unsigned long)(b[j - 1] - '0') * mul;
		mul *= 10;
	}
	if (j > 0 && is_digit(b[j - 1]))
		return 0;
	*num = n;
	return 1;
}

/* The next "obj" header at or after from, or len. */
static size_t
next_obj(const unsigned char *b, size_t len, size_t from, unsigned long *num)
{
	const unsigned char *p;

	while (from + 3 <= len && (p = memmem(b + from, len - from, "obj", 3)) != NULL) {
		size_t i = (size_t)(p - b);

		if (obj_header(b, len, i, num))
			return i;
		from = i + 3;
	}
	return len;
}

/* The next "stream" keyword (not the tail of "endstream") at or after from, or len. */
static size_t
next_stream(const unsigned char *b, size_t len, size_t from)
{
	const unsigned char *p;

	while (from + 6 <= len && (p = memmem(b + from, len - from, "stream", 6)) != NULL) {
		size_t i = (size_t)(p - b);

		if ((i < 3 || memcmp(b + i - 3, "end", 3) != 0) &&
		    (i + 6 == len || b[i + 6] == '\r' || b[i + 6] == '\n' || b[i + 6] == ' '))
			return i;
		from = i + 6;
	}
	return len;
}

/* Reads a name ("/FlateDecode") at d[*i], past the '/'; returns its filter. */
static enum pdf_filter
read_filter(const unsigned char *d, size_t n, size_t *i)
{
	static const struct {
		const char *name;
		enum pdf_filter f;
	} names[] = {
	    {"FlateDecode", PF_FLATE}, {"Fl", PF_FLATE},          {"ASCIIHexDecode", PF_AHX},
	    {"AHx", PF_AHX},           {"ASCII85Decode", PF_A85}, {"A85", PF_A85},
	};
	char name[PDF_NAME_MAX + 1];
	size_t k = 0;

	while (*i < n && !is_ws(d[*i]) && !is_delim(d[*i])) {
		if (k < PDF_NAME_MAX)
			name[k++] = (char)d[*i];
		(*i)++;
	}
	name[k] = '\0';
	for (size_t j = 0; j < sizeof(names) / sizeof(names[0]); j++)
		if (strcmp(name, names[j].name) == 0)
			return names[j].f;
	return PF_OTHER;
}

/*
 * The stream dictionary d[0..n): its filter chain into f (returns how
 * many) and a direct /Length into *length (-1 if none or indirect).
 */
static size_t
read_dict(const unsigned char *d, size_t n, enum pdf_filter *f, long long *length)
{
	const unsigned char *p;
	size_t nf = 0, i;

	*length = -1;
	if ((p = memmem(d, n, "/Length", 7)) != NULL) {
		long long v = 0;
		int digits = 0;

		i = (size_t)(p - d) + 7;
		while (i < n && is_ws(d[i]))
			i++;
		while (i < n && is_digit(d[i]) && digits < 15) {
			v = v * 10 + (d[i++] - '0');
			digits++;
		}
		while (i < n && is_ws(d[i]))
			i++;
		/* "N G R" is a reference: the number is not the length. */
		if (digits > 0 && !(i < n && is_digit(d[i])))
			*length = v;
	}
	if ((p = memmem(d, n, "/Filter", 7)) == NULL)
		return 0;
	i = (size_t)(p - d) + 7;
	while (i < n && is_ws(d[i]))
		i++;
	if (i < n && d[i] == '/') {
		i++;
		f[nf++] = read_filter(d, n, &i);
	} else if (i < n && d[i] == '[') {
		for (i++; i < n && d[i] != ']' && nf < PDF_FILTERS_MAX;) {
			if (d[i] == '/') {
				i++;
				f[nf++] = read_filter(d, n, &i);
			} else if (is_ws(d[i])) {
				i++;
			} else {
				f[nf++] = PF_OTHER; /* a reference or junk: we cannot follow */
				break;
			}
		}
	} else {
		f[nf++] = PF_OTHER;
	}
	return nf;
}

/*
 * Inflates in[0..n) (zlib, or raw deflate when the zlib header is bad)
 * into out. Returns 0 if anything came out, -1 if nothing did. A damaged
 * or cut stream keeps what was inflated before the damage.
 */
static int
flate(const unsigned char *in, size_t n, struct dbuf *out)
{
	unsigned char chunk[16384];
	z_stream z;
	int r = Z_OK, raw = n < 2 || ((in[0] << 8) | in[1]) % 31 != 0 || (in[0] & 0x0f) != 8;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, raw ? -15 : 15) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)in;
	while (n > 0 || r == Z_OK) {
		uInt take = n > (1u << 30) ? (1u << 30) : (uInt)n;

		if (z.avail_in == 0) {
			z.next_in = (unsigned char *)in;
			z.avail_in = take;
			in += take;
			n -= take;
		}
		z.next_out = chunk;
		z.avail_out = sizeof(chunk);
		r = inflate(&z, Z_NO_FLUSH);
		if (dbuf_put(out, chunk, sizeof(chunk) - z.avail_out) < 0)
			break;
		if (r == Z_STREAM_END || (r != Z_OK && r != Z_BUF_ERROR))
			break;
		if (r == Z_BUF_ERROR && z.avail_in == 0 && n == 0)
			break;
	}
	inflateEnd(&z);
	return out->len > 0 ? 0 : -1;
}

/* ASCIIHexDecode (7.4.2): pairs of hex digits to '>', white space skipped. */
static int
ahx(const unsigned char *in, size_t n, struct dbuf *out)
{
	int hi = -1;

	for (size_t i = 0; i < n && in[i] != '>'; i++) {
		int v = doc_hexval(in[i]);
		unsigned char c;

		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
			continue;
		}
		c = (unsigned char)(hi << 4 | v);
		hi = -1;
		if (dbuf_put(out, &c, 1) < 0)
			return 0;
	}
	if (hi >= 0) {
		unsigned char c = (unsigned char)(hi << 4);

		dbuf_put(out, &c, 1);
	}
	return 0;
}

/* ASCII85Decode (7.4.3): groups of five '!'..'u', 'z' for four zeros, to "~>". */
static int
a85(const unsigned char *in, size_t n, struct dbuf *out)
{
	uint32_t acc = 0;
	int k = 0;
	size_t i = 0;

	/* Some writers put the "<~" of PostScript's notation before the data. */
	while (i < n && is_ws(in[i]))
		i++;
	if (n - i >= 2 && in[i] == '<' && in[i + 1] == '~')
		i += 2;
	for (; i < n && in[i] != '~'; i++) {
		unsigned char c = in[i], q[4];

		if (is_ws(c))
			continue;
		if (c == 'z' && k == 0) {
			memset(q, 0, 4);
			if (dbuf_put(out, q, 4) < 0)
				return 0;
			continue;
		}
		if (c < '!' || c > 'u')
			break;
		acc = acc * 85 + (uint32_t)(c - '!');
		if (++k == 5) {
			q[0] = (unsigned char)(acc >> 24);
			q[1] = (unsigned char)(acc >> 16);
			q[2] = (unsigned char)(acc >> 8);
			q[3] = (unsigned char)acc;
			if (dbuf_put(out, q, 4) < 0)
				return 0;
			acc = 0;
			k = 0;
		}
	}
	if (k > 1) {
		unsigned char q[4];

		/* A partial group: pad with 'u' and keep k - 1 bytes. */
		for (int j = k; j < 5; j++)
			acc = acc * 85 + 84;
		q[0] = (unsigned char)(acc >> 24);
		q[1] = (unsigned char)(acc >> 16);
		q[2] = (unsigned char)(acc >> 8);
		q[3] = (unsigned char)acc;
		dbuf_put(out, q, (size_t)(k - 1));
	}
	return 0;
}

/*
 * Decodes data[0..n) through the filter chain and hands the result (or the
 * raw bytes, when the first filter cannot be decoded) on as name.
 * Returns the sink's answer.
 */
static int
pdf_stream(const unsigned char *data, size_t n, const enum pdf_filter *f, size_t nf,
           const char *name, const struct doc_limits *lim, const struct doc_sink *sink)
{
	struct dbuf cur, next;
	int r, decoded = 0;

	memset(&cur, 0, sizeof(cur));
	/* No filter we know, but the bytes look like zlib (a /Filter by reference). */
	if ((nf == 0 || f[0] == PF_OTHER) && n >= 2 && data[0] == 0x78 &&
	    ((data[0] << 8) | data[1]) % 31 == 0) {
		static const enum pdf_filter fl = PF_FLATE;

		f = &fl;
		nf = 1;
	}
	for (size_t i = 0; i < nf && f[i] != PF_OTHER; i++) {
		const unsigned char *in = decoded ? cur.p : data;
		size_t inlen = decoded ? cur.len : n;

		dbuf_init(&next, lim, n);
		if (f[i] == PF_FLATE)
			r = flate(in, inlen, &next);
		else if (f[i] == PF_AHX)
			r = ahx(in, inlen, &next);
		else
			r = a85(in, inlen, &next);
		if (r < 0) {
			dbuf_free(&next);
			break;
		}
		dbuf_free(&cur);
		cur = next;
		decoded = 1;
		if (doc_over(sink, name, &cur))
			break;
	}
	if (decoded)
		r = cur.len > 0 ? sink->child(sink->arg, name, cur.p, cur.len) : 0;
	else
		r = n > 0 ? sink->child(sink->arg, name, data, n) : 0;
	dbuf_free(&cur);
	return r;
}

void
pdf_parse(const void *buf, size_t len, const struct doc_limits *lim, const struct doc_sink *sink)
{
	const unsigned char *b = buf;
	size_t pos = 0, obj, st = 0;
	unsigned long num = 0, nobj = 0;
	int stream_known = 0;

	while ((obj = next_obj(b, len, pos, &num)) < len) {
		unsigned long nextnum;
		size_t nx, body = obj + 3, data, end, dn;
		enum pdf_filter f[PDF_FILTERS_MAX];
		long long length;
		const unsigned char *p;
		char name[32];
		size_t nf;

		if (lim->max_objects && ++nobj > lim->max_objects) {
			sink->note(sink->arg, SCAN_LIMIT, LIMIT_FILES, NULL,
			           "more objects than scan.doc_max_objects");
			return;
		}
		/* The stream, if any, that follows this header before the next one. */
		if (!stream_known || st < body) {
			st = next_stream(b, len, body);
			stream_known = 1;
		}
		nx = next_obj(b, len, body, &nextnum);
		if (st >= len || st > nx) {
			pos = body;
			continue;
		}
		dn = st - body < PDF_DICT_MAX ? st - body : PDF_DICT_MAX;
		nf = read_dict(b + body, dn, f, &length);
		data = st + 6;
		while (data < len && b[data] == ' ')
			data++;
		if (data < len && b[data] == '\r')
			data++;
		if (data < len && b[data] == '\n')
			data++;
		end = len;
		if (length >= 0 && (unsigned long long)length <= len - data) {
			size_t k = data + (size_t)length;

			while (k < len && is_ws(b[k]))
				k++;
			if (len - k >= 9 && memcmp(b + k, "endstream", 9) == 0)
				end = data + (size_t)length;
		}
		if (end == len && (p = memmem(b + data, len - data, "endstream", 9)) != NULL) {
			end = (size_t)(p - b);
			if (end > data && b[end - 1] == '\n')
				end--;
			if (end > data && b[end - 1] == '\r')
				end--;
		}
		snprintf(name, sizeof(name), "obj%lu", num);
		if (pdf_stream(b + data, end - data, f, nf, name, lim, sink) < 0)
			return;
		pos = end;
		stream_known = 0;
	}
}

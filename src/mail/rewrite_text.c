/*
 * rewrite_text: the bytes that take an infected part's place: the notify
 * template for the part, its body (7bit, or quoted-printable when a line
 * could pass for a boundary or the text is not ASCII), the header fields
 * of a replacement part or of a message whose single body is replaced,
 * and the one line that replaces a uuencoded block. Pure: no I/O, no
 * GMime; the texts are notify's, where they go is rewrite.c's.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/rewrite_int.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define RW_UU_LINE_MAX 900 /* bytes of the line that replaces a uu block */
#define RW_QP_LINE 76      /* quoted-printable line length, soft break included */

/*
 * True if text needs quoted-printable: a byte above 0x7f, a control
 * character, a line over 998 bytes, or a line starting with '-' (which
 * could close the enclosing multipart: a file name may be "--boundary--").
 */
static int
needs_qp(const char *text)
{
	size_t line = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p >= 0x7f || (*p < 0x20 && *p != '\n' && *p != '\t'))
			return 1;
		if (*p == '-' && line == 0)
			return 1;
		line = *p == '\n' ? 0 : line + 1;
		if (line > 998)
			return 1;
	}
	return 0;
}

/* Appends text (LF lines) with line ends eol, quoted-printable when qp. */
static void
add_text(struct sbuf *b, const char *text, const char *eol, int qp)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)text;
	size_t col = 0;

	for (; *p; p++) {
		char enc[3];
		size_t el;
		int quote;

		if (*p == '\n') {
			sb_adds(b, eol);
			col = 0;
			continue;
		}
		if (!qp) {
			sb_add(b, (const char *)p, 1);
			continue;
		}
		quote = *p == '=' || *p >= 0x7f || (*p < 0x20 && *p != '\t') ||
		        ((*p == ' ' || *p == '\t') && (p[1] == '\n' || p[1] == '\0'));
		el = quote ? 3 : 1;
		/* Soft line break: "=" counts towards the line. */
		if (col + el > RW_QP_LINE - 1) {
			sb_adds(b, "=");
			sb_adds(b, eol);
			col = 0;
		}
		/* No line starts with '-': it could pass for a boundary. */
		if (*p == '-' && col == 0)
			quote = 1;
		if (quote) {
			enc[0] = '=';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			el = 3;
		} else {
			enc[0] = (char)*p;
			el = 1;
		}
		sb_add(b, enc, el);
		col += el;
	}
}

char *
rw_part_text(const struct notify_templates *tpl, const struct notify_vars *vars, const char *which,
             const char *id, const char *name, const char *names)
{
	struct notify_vars v;
	char *fn = name && *name ? xstrdup(name) : xasprintf("(part %s)", id), *s;

	if (vars)
		v = *vars;
	else
		memset(&v, 0, sizeof(v));
	v.part = id;
	v.filename = fn;
	v.virus = names;
	s = notify_render(tpl, which, &v);
	free(fn);
	return s ? s : xstrdup("");
}

char *
rw_body_text(const char *text, const char *eol, int old_ends_eol, int *qp, size_t *len)
{
	struct sbuf b = {0};
	size_t tl = strlen(text), el = strlen(eol);
	char *t = xstrdup(text);

	/* Exactly one trailing LF, then the last one only if the old body had it. */
	while (tl > 0 && t[tl - 1] == '\n')
		t[--tl] = '\0';
	*qp = needs_qp(t);
	add_text(&b, t, eol, *qp);
	if (old_ends_eol)
		sb_add(&b, eol, el);
	free(t);
	if (b.s == NULL)
		sb_adds(&b, "");
	*len = b.len;
	return b.s;
}

void
rw_add_ct_fields(struct sbuf *b, const char *eol, int qp)
{
	sb_adds(b, "Content-Type: text/plain; charset=utf-8");
	sb_adds(b, eol);
	sb_adds(b, qp ? "Content-Transfer-Encoding: quoted-printable"
	              : "Content-Transfer-Encoding: 7bit");
	sb_adds(b, eol);
	sb_adds(b, "Content-Disposition: inline");
	sb_adds(b, eol);
}

/* True if the field at line (n bytes) is named name. */
static int
field_is(const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name), i = nl;

	if (n < nl || strncasecmp(line, name, nl) != 0)
		return 0;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < n && line[i] == ':';
}

/*
 * Only the block's last line can be the blank one: a line GMime read as a
 * header field (even "\r\r\n") stays one.
 */
void
rw_add_header_block(struct sbuf *b, const char *hdr, size_t n, const char *eol, int qp)
{
	const char *p = hdr, *end = hdr + n;
	int drop = 0, mimever = 0;

	if (n >= 2 && memcmp(end - 2, "\r\n", 2) == 0 && (n == 2 || end[-3] == '\n'))
		end -= 2;
	else if (n >= 1 && end[-1] == '\n' && (n == 1 || end[-2] == '\n'))
		end -= 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl + 1 : end) - p), tl = len;

		while (tl > 0 && (p[tl - 1] == '\n' || p[tl - 1] == '\r'))
			tl--;
		if (p[0] != ' ' && p[0] != '\t') {
			drop = field_is(p, tl, "Content-Type") ||
			       field_is(p, tl, "Content-Transfer-Encoding") ||
			       field_is(p, tl, "Content-Disposition");
			if (field_is(p, tl, "MIME-Version"))
				mimever = 1;
		}
		if (!drop) {
			sb_add(b, p, len);
			if (!nl)
				sb_adds(b, eol);
		}
		p += len;
	}
	if (!mimever) {
		sb_adds(b, "MIME-Version: 1.0");
		sb_adds(b, eol);
	}
	rw_add_ct_fields(b, eol, qp);
	if (end < hdr + n)
		sb_add(b, end, (size_t)(hdr + n - end));
	else
		sb_adds(b, eol);
}

char *
rw_uu_line(const char *text, const char *eol, size_t *len)
{
	size_t el = eol ? strlen(eol) : 0, o = 0;
	char *line = xmalloc(RW_UU_LINE_MAX + el + 1);
	int space = 0;

	/* One ASCII line: white space folded, anything else as '?'. */
	for (const unsigned char *p = (const unsigned char *)text; *p && o < RW_UU_LINE_MAX; p++) {
		if (*p == '\n' || *p == ' ' || *p == '\t' || *p == '\r') {
			space = o > 0;
			continue;
		}
		if (space && o < RW_UU_LINE_MAX)
			line[o++] = ' ';
		space = 0;
		if (o < RW_UU_LINE_MAX)
			line[o++] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
	}
	/* Never a line that could be a boundary. */
	if (o > 0 && line[0] == '-')
		line[0] = '?';
	memcpy(line + o, eol ? eol : "", el + 1);
	*len = o + el;
	return line;
}

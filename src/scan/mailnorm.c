/*
 * mailnorm: one pass over a message, line by line, that knows just enough
 * MIME to find header blocks (top, after each delimiter of a boundary it
 * knows, after the header block of a message/rfc822 part) and mends the
 * shapes listed in mailnorm.h. Edits are (range -> new bytes) applied in
 * order while copying; nothing is held but the boundary stack and one
 * Content-Type value. Owns nothing after it returns; parsing MIME for real
 * is GMime's (mailwalk).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scan/mailnorm.h"
#include "util/xalloc.h"

#define MN_RFC_BOUNDARY 70 /* RFC 2046's longest boundary */

struct mn {
	const unsigned char *in;
	size_t len;
	size_t copied; /* in[0, copied) has gone to out */
	const struct mailnorm_limits *lim;
	mailnorm_out out;
	void *arg;
	struct mailnorm_stats st;
	long mends;
	int failed;
	char **bnd; /* the boundary stack, innermost last */
	size_t *blen;
	unsigned nb;
};

/* One line: [b, e) its text, next the start of the following line. */
struct line {
	size_t b, e, next;
	int crlf;
};

static void
line_at(const struct mn *m, size_t pos, struct line *l)
{
	const unsigned char *nl = memchr(m->in + pos, '\n', m->len - pos);

	l->b = pos;
	l->next = nl ? (size_t)(nl - m->in) + 1 : m->len;
	l->e = nl ? (size_t)(nl - m->in) : m->len;
	l->crlf = 0;
	if (l->e > l->b && m->in[l->e - 1] == '\r') {
		l->e--;
		l->crlf = nl != NULL;
	}
}

/* Replaces in[b, e) with rep (rlen bytes) in the output; edits come in order. */
static void
edit(struct mn *m, size_t b, size_t e, const char *rep, size_t rlen)
{
	m->mends++;
	if (m->out == NULL || m->failed)
		return;
	if ((b > m->copied && m->out(m->arg, m->in + m->copied, b - m->copied) < 0) ||
	    (rlen > 0 && m->out(m->arg, rep, rlen) < 0))
		m->failed = 1;
	m->copied = e;
}

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* True if the line holds only spaces, tabs and CRs. */
static int
ws_only(const struct mn *m, const struct line *l)
{
	for (size_t i = l->b; i < l->e; i++)
		if (!is_wsp(m->in[i]) && m->in[i] != '\r')
			return 0;
	return 1;
}

/*
 * A header field "Name:" or "Name  :": the length of the name, and in
 * *colon where the colon is. 0 if the line is not a field.
 */
static size_t
field_name(const struct mn *m, const struct line *l, size_t *colon)
{
	size_t i = l->b, n;

	while (i < l->e && m->in[i] > ' ' && m->in[i] < 127 && m->in[i] != ':')
		i++;
	n = i - l->b;
	if (n == 0)
		return 0;
	while (i < l->e && is_wsp(m->in[i]))
		i++;
	if (i >= l->e || m->in[i] != ':')
		return 0;
	*colon = i;
	return n;
}

/* A continuation line with something on it. */
static int
is_continuation(const struct mn *m, const struct line *l)
{
	return l->e > l->b && is_wsp(m->in[l->b]) && !ws_only(m, l);
}

/*
 * Whether the line is a delimiter of a boundary on the stack: its level
 * (index + 1), 0 if none; *close is set for a close delimiter. A delimiter
 * that carries more than the boundary is cut back (see mailnorm.h) when
 * mend is set.
 */
static unsigned
delimiter(struct mn *m, const struct line *l, int mend, int *close)
{
	const unsigned char *p = m->in + l->b;
	size_t n = l->e - l->b;

	*close = 0;
	if (n < 3 || p[0] != '-' || p[1] != '-')
		return 0;
	for (unsigned k = m->nb; k-- > 0;) {
		size_t bl = m->blen[k], r;
		const unsigned char *rest;

		if (n - 2 < bl || memcmp(p + 2, m->bnd[k], bl) != 0)
			continue;
		rest = p + 2 + bl;
		r = n - 2 - bl;
		while (r > 0 && (is_wsp(rest[r - 1]) || rest[r - 1] == '\r'))
			r--;
		if (r == 0)
			return k + 1;
		if (r == 2 && rest[0] == '-' && rest[1] == '-') {
			*close = 1;
			return k + 1;
		}
		if (bl >= MN_RFC_BOUNDARY || is_wsp(rest[0])) {
			*close = r >= 2 && rest[r - 2] == '-' && rest[r - 1] == '-';
			if (mend) {
				m->st.delimiters++;
				edit(m, l->b + 2 + bl, l->e, *close ? "--" : "", *close ? 2 : 0);
			}
			return k + 1;
		}
	}
	return 0;
}

/* What a header block says its body is. */
struct ctype {
	int multipart, message;
	char *boundary; /* trimmed; owned by the caller after header_block */
};

/*
 * Reads a Content-Type value in[b, e) (folds included): the kind, and the
 * boundary, mending an irregular boundary parameter in place.
 */
static void
content_type(struct mn *m, size_t b, size_t e, struct ctype *ct)
{
	const unsigned char *p = m->in;
	size_t i = b, vb, ve, tb, te;
	int quoted = 0, irregular = 0;

	while (i < e && (is_wsp(p[i]) || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (e - i >= 10 && strncasecmp((const char *)p + i, "multipart/", 10) == 0)
		ct->multipart = 1;
	else if (e - i >= 14 && strncasecmp((const char *)p + i, "message/rfc822", 14) == 0)
		ct->message = 1;
	if (!ct->multipart)
		return;
	/* Find "boundary" after a ';' (a parameter name, not inside a value). */
	for (;;) {
		while (i < e && p[i] != ';')
			i++;
		if (i >= e)
			return;
		i++;
		while (i < e && (is_wsp(p[i]) || p[i] == '\r' || p[i] == '\n'))
			i++;
		if (e - i >= 8 && strncasecmp((const char *)p + i, "boundary", 8) == 0) {
			size_t j = i + 8;

			while (j < e && is_wsp(p[j]))
				j++;
			if (j < e && p[j] == '=') {
				i = j + 1;
				break;
			}
		}
	}
	while (i < e && is_wsp(p[i]))
		i++;
	vb = i;
	if (i < e && p[i] == '"') {
		quoted = 1;
		for (i++; i < e && p[i] != '"'; i++)
			if (p[i] == '\\' && i + 1 < e)
				i++;
		if (i >= e)
			return; /* unterminated: leave it to GMime */
		ve = i + 1;
		tb = vb + 1;
		te = i;
	} else {
		while (i < e && p[i] != ';' && p[i] != '\r' && p[i] != '\n')
			i++;
		ve = i;
		while (ve > vb && is_wsp(p[ve - 1]))
			ve--;
		tb = vb;
		te = ve;
	}
	for (size_t k = tb; k < te; k++)
		if (p[k] == '\r' || p[k] == '\n' || p[k] == '\\' || p[k] == '"')
			return; /* folded or escaped: rare, left to GMime */
	if (quoted && te > tb && (is_wsp(p[tb]) || is_wsp(p[te - 1])))
		irregular = 1;
	if (!quoted)
		for (size_t k = tb; k < te; k++)
			if (strchr(" ()<>@,;:/[]?=", p[k]) != NULL)
				irregular = 1;
	while (tb < te && is_wsp(p[tb]))
		tb++;
	while (te > tb && is_wsp(p[te - 1]))
		te--;
	if (te == tb)
		return;
	ct->boundary = xmalloc(te - tb + 1);
	memcpy(ct->boundary, p + tb, te - tb);
	ct->boundary[te - tb] = '\0';
	if (irregular) {
		char *q = xasprintf("\"%s\"", ct->boundary);

		m->st.params++;
		edit(m, vb, ve, q, strlen(q));
		free(q);
	}
}

/*
 * True if a header field line comes within the next max lines from pos,
 * before an empty line; *at gets its start.
 */
static int
field_ahead(const struct mn *m, size_t pos, unsigned max, size_t *at)
{
	struct line l;
	size_t colon;

	for (unsigned k = 0; k < max && pos < m->len; k++) {
		line_at(m, pos, &l);
		if (l.e == l.b)
			return 0;
		if (field_name(m, &l, &colon)) {
			*at = pos;
			return 1;
		}
		pos = l.next;
	}
	return 0;
}

/* Lines that are never dropped as junk. */
static int
junk_keep(const struct mn *m, const struct line *l)
{
	size_t n = l->e - l->b;

	return (n >= 2 && memcmp(m->in + l->b, "--", 2) == 0) ||
	       (n >= 6 && memcmp(m->in + l->b, "begin ", 6) == 0) ||
	       (n >= 7 && memcmp(m->in + l->b, "=ybegin", 7) == 0) ||
	       (n >= 10 && memcmp(m->in + l->b, "(This file", 10) == 0);
}

/*
 * Reads one header block from pos, mending it; returns where its body
 * starts. top: the message's own header block (BOM and junk allowed).
 */
static size_t
header_block(struct mn *m, size_t pos, int top, struct ctype *ct)
{
	size_t start = pos, ctb = 0, cte = 0, colon, at;
	int in_ct = 0, fields = 0, close;
	struct line l;

	if (top && pos == 0 && m->len >= 3 && memcmp(m->in, "\xef\xbb\xbf", 3) == 0) {
		m->st.bom++;
		edit(m, 0, 3, "", 0);
		pos = start = 3;
	}
	while (pos < m->len) {
		line_at(m, pos, &l);
		if (m->lim->max_header_bytes && l.next - start > m->lim->max_header_bytes) {
			m->st.header_cut++;
			break;
		}
		if (l.e - l.b >= 3 && memcmp(m->in + l.b, "\xef\xbb\xbf", 3) == 0) {
			/* A BOM below a field a relay put on top. */
			m->st.bom++;
			edit(m, l.b, l.b + 3, "", 0);
			l.b += 3;
			pos = l.b;
		}
		if (is_continuation(m, &l) && fields > 0) {
			if (in_ct)
				cte = l.e;
			pos = l.next;
			continue;
		}
		if (in_ct) {
			content_type(m, ctb, cte, ct);
			in_ct = 0;
		}
		if (l.e == l.b) {
			pos = l.next;
			break;
		}
		if (ws_only(m, &l)) {
			struct line nx;

			if (l.next < m->len && fields > 0) {
				line_at(m, l.next, &nx);
				if (is_continuation(m, &nx) || field_name(m, &nx, &colon)) {
					m->st.ws_lines++;
					edit(m, l.b, l.next, "", 0);
					pos = l.next;
					continue;
				}
			}
			m->st.separators++;
			edit(m, l.b, l.next, l.crlf ? "\r\n" : "\n", l.crlf ? 2 : 1);
			pos = l.next;
			break;
		}
		if (!top && m->nb > 0 && delimiter(m, &l, 0, &close))
			break; /* a part with headers and no body: the delimiter is the body's */
		if (field_name(m, &l, &colon)) {
			size_t n = field_name(m, &l, &colon);

			if (l.b + n < colon) {
				m->st.colon_spaces++;
				edit(m, l.b + n, colon, "", 0);
			}
			if (n == 12 &&
			    strncasecmp((const char *)m->in + l.b, "Content-Type", 12) == 0) {
				in_ct = 1;
				ctb = colon + 1;
				cte = l.e;
				free(ct->boundary);
				memset(ct, 0, sizeof(*ct));
			}
			fields++;
			pos = l.next;
			continue;
		}
		if (top && fields == 0 && pos == start && l.e - l.b >= 5 &&
		    memcmp(m->in + l.b, "From ", 5) == 0) {
			fields++; /* an mbox From line: GMime's */
			pos = l.next;
			continue;
		}
		/*
		 * Junk before the fields of a message: dropped when a field
		 * follows. Below a field (one a relay put on top of the junk)
		 * only a single line followed at once by a field, and never
		 * what could be a delimiter or a uuencoded block's begin.
		 */
		if (!top && fields == 0 && m->lim->max_junk_lines &&
		    field_ahead(m, pos, m->lim->max_junk_lines, &at)) {
			pos = at; /* GMime skips junk before a part's fields itself */
			continue;
		}
		if (top && m->lim->max_junk_lines && !junk_keep(m, &l) &&
		    field_ahead(m, pos, fields == 0 ? m->lim->max_junk_lines : 2, &at)) {
			for (size_t p = pos; p < at; p = l.next) {
				line_at(m, p, &l);
				m->st.junk_lines++;
			}
			edit(m, pos, at, "", 0);
			pos = at;
			continue;
		}
		/* The body starts here without an empty line before it. */
		m->st.separators++;
		edit(m, l.b, l.b, l.crlf ? "\r\n" : "\n", l.crlf ? 2 : 1);
		break;
	}
	if (in_ct)
		content_type(m, ctb, cte, ct);
	return pos;
}

static void
push(struct mn *m, char *b)
{
	if (m->nb >= m->lim->max_boundaries) {
		free(b);
		return;
	}
	m->bnd[m->nb] = b;
	m->blen[m->nb] = strlen(b);
	m->nb++;
}

static void
pop_to(struct mn *m, unsigned level)
{
	while (m->nb > level)
		free(m->bnd[--m->nb]);
}

/* A header block from pos and what follows it: returns where its body starts. */
static size_t
entity(struct mn *m, size_t pos, int top)
{
	for (unsigned guard = 0; pos < m->len && guard < 1000000; guard++) {
		struct ctype ct = {0, 0, NULL};

		pos = header_block(m, pos, top, &ct);
		if (ct.multipart && ct.boundary) {
			push(m, ct.boundary);
			return pos;
		}
		free(ct.boundary);
		if (!ct.message)
			return pos;
		top = 0; /* a message/rfc822 part: its body is a header block */
	}
	return pos;
}

long
mailnorm(const void *in, size_t len, const struct mailnorm_limits *lim, mailnorm_out out, void *arg,
         struct mailnorm_stats *st)
{
	struct mn m;
	size_t pos;
	int close;

	memset(&m, 0, sizeof(m));
	m.in = in;
	m.len = len;
	m.lim = lim;
	m.out = out;
	m.arg = arg;
	if (lim->max_header_bytes > 0 && len > 0) {
		m.bnd = xcalloc(lim->max_boundaries + 1, sizeof(*m.bnd));
		m.blen = xcalloc(lim->max_boundaries + 1, sizeof(*m.blen));
		pos = entity(&m, 0, 1);
		/* The bodies: only delimiter lines of known boundaries matter. */
		while (pos < len && m.nb > 0 && !m.failed) {
			struct line l;
			unsigned level;

			line_at(&m, pos, &l);
			pos = l.next;
			if ((level = delimiter(&m, &l, 1, &close)) == 0)
				continue;
			pop_to(&m, close ? level - 1 : level);
			if (!close)
				pos = entity(&m, pos, 0);
		}
		pop_to(&m, 0);
		free(m.bnd);
		free(m.blen);
	}
	if (out && !m.failed && m.copied < len && out(arg, m.in + m.copied, len - m.copied) < 0)
		m.failed = 1;
	if (st)
		*st = m.st;
	return m.failed ? -1 : m.mends;
}

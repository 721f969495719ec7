/*
 * rewrite: copies a spooled message with headers added and infected parts
 * replaced. GMime parses the message once to find each leaf part's id (the
 * same numbering as mailwalk) and byte offsets; the targets become a sorted
 * list of edits (byte range -> new bytes), all computed before anything is
 * written; the copy is then plain pread/write of the gaps and the edits.
 * Owns the GMime objects and edits of one call. The texts are notify's;
 * scanning and deciding are the caller's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "mail/rewrite.h"
#include "scan/mailwalk.h"
#include "scan/uudecode.h"
#include "scan/walk.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/sys.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define RW_BUF (64 * 1024)
#define RW_MAX_NEST 64                 /* as mailwalk: MIME levels followed at most */
#define RW_UU_LINE_MAX 900             /* bytes of the line that replaces a uu block */
#define RW_QP_LINE 76                  /* quoted-printable line length, soft break included */
#define RW_BOUNDARY_WINDOW (64 * 1024) /* bytes searched back for a part's boundary line */

/* One leaf part as GMime sees it. */
struct rw_leaf {
	char *id;
	int is_body;        /* the single body of a message: shares its header block */
	int64_t hdr_begin;  /* part: its first header field, -1 if none;
	                       body: the first field of the message's header block */
	int64_t body_begin; /* its content, still encoded */
	int64_t body_end;
	int identity; /* no transfer encoding (7bit, 8bit, binary) */
	int is_text;
	char *boundary; /* of the multipart holding it (NULL for a body) */
	char name[SAN_NAME_MAX + 1];
};

/* One byte range of the input and what takes its place. */
struct rw_edit {
	int64_t begin, end;
	char *text;
	size_t len;
	const struct rw_leaf *leaf;
};

/* The state of one rewrite_parts call. */
struct rw {
	int fd;
	uint64_t size;
	const char *eol; /* "\r\n" or "\n" */
	struct rw_leaf *leaves;
	size_t nleaves, leaves_cap;
	struct rw_edit *edits;
	size_t nedits, edits_cap;
	char *buf;
};

/* Reads exactly len bytes at off; 0 or -1. */
static int
read_at(int fd, void *buf, size_t len, int64_t off)
{
	return pread_full(fd, buf, len, (uint64_t)off) == (ssize_t)len ? 0 : -1;
}

/* A heap copy of [off, off + len) of fd, NUL-terminated; NULL on a read error. */
static char *
read_range(int fd, int64_t off, size_t len)
{
	char *s = xmalloc(len + 1);

	if (read_at(fd, s, len, off) < 0) {
		free(s);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

/* The line end of the message's first line; CRLF when there is none. */
static const char *
message_eol(int fd, uint64_t size)
{
	char buf[4096];
	size_t want = size < sizeof(buf) ? (size_t)size : sizeof(buf);
	char *nl;

	if (want == 0 || read_at(fd, buf, want, 0) < 0)
		return "\r\n";
	nl = memchr(buf, '\n', want);
	if (nl != NULL && (nl == buf || nl[-1] != '\r'))
		return "\n";
	return "\r\n";
}

/*
 * Checks the caller's header lines and returns them with line ends eol
 * (empty for NULL or ""); NULL if malformed. Caller frees.
 */
static char *
headers_convert(const char *h, const char *eol, size_t *len)
{
	size_t n = h ? strlen(h) : 0, o = 0, el = strlen(eol);
	char *out;

	*len = 0;
	if (n == 0)
		return xstrdup("");
	if (h[n - 1] != '\n' || h[0] == ' ' || h[0] == '\t' || h[0] == '\r' || h[0] == '\n')
		return NULL;
	out = xmalloc(2 * n + 1);
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '\r') {
			if (i + 1 >= n || h[i + 1] != '\n')
				goto bad;
			continue;
		}
		if (h[i] == '\n') {
			/* A blank line would end the header block early. */
			if (i + 1 < n && (h[i + 1] == '\n' || h[i + 1] == '\r'))
				goto bad;
			memcpy(out + o, eol, el);
			o += el;
			continue;
		}
		out[o++] = h[i];
	}
	out[o] = '\0';
	*len = o;
	return out;
bad:
	free(out);
	return NULL;
}

int
rewrite_add_headers(int in_fd, uint64_t size, const char *headers, int out_fd)
{
	char *h;
	size_t hl;
	int r;

	h = headers_convert(headers, message_eol(in_fd, size), &hl);
	if (h == NULL) {
		log_warnx("rewrite: malformed header lines to add");
		return -1;
	}
	r = write_all(out_fd, h, hl) < 0 || copy_fd_range(out_fd, in_fd, 0, size) < 0 ? -1 : 0;
	if (r < 0)
		log_warn("rewrite: copy");
	free(h);
	return r;
}

/* --- part ids from hit paths ------------------------------------------- */

int
rewrite_part_id(const char *root, const char *hit_path, char *id, size_t cap)
{
	char r[WALK_ROOT_NAME_MAX];
	size_t rl, il;
	const char *p;

	if (cap > 0)
		id[0] = '\0';
	if (root == NULL || hit_path == NULL)
		return -1;
	walk_root_name(root, r, sizeof(r));
	rl = strlen(r);
	if (strncmp(hit_path, r, rl) != 0 || strncmp(hit_path + rl, "//", 2) != 0)
		return -1;
	p = hit_path + rl + 2;
	il = strcspn(p, "/");
	if (il == 0 || il >= cap)
		return -1;
	memcpy(id, p, il);
	id[il] = '\0';
	return 0;
}

/* True if the comma-separated list has name. */
static int
names_have(const char *list, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, ",");

		if (l == nl && strncmp(p, name, l) == 0)
			return 1;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Adds the names of list to *names (comma-separated, no duplicates). */
static void
names_merge(char **names, const char *list)
{
	for (const char *p = list; p && *p;) {
		size_t l = strcspn(p, ",");
		char *one = xstrndup(p, l);

		if (l > 0 && !names_have(*names, one)) {
			char *n =
			    *names && **names ? xasprintf("%s,%s", *names, one) : xstrdup(one);

			free(*names);
			*names = n;
		}
		free(one);
		p += l;
		if (*p == ',')
			p++;
	}
}

/*
 * If id names a uu block ("N.uuK" or "uuK"), stores its text part's id
 * ("N", "" for a bare "uuK") in parent and returns K; else 0.
 */
static unsigned
uu_block_of(const char *id, char *parent, size_t cap)
{
	const char *u = strstr(id, "uu");
	char *end;
	unsigned long k;

	/* The last component only: "N.uuK" or the whole id "uuK". */
	while (u && strstr(u + 2, "uu"))
		u = strstr(u + 2, "uu");
	if (u == NULL || (u != id && u[-1] != '.') || !(u[2] >= '1' && u[2] <= '9'))
		return 0;
	k = strtoul(u + 2, &end, 10);
	if (*end != '\0' || k == 0 || k > 1000000)
		return 0;
	if (u == id) {
		parent[0] = '\0';
	} else {
		size_t pl = (size_t)(u - 1 - id);

		if (pl >= cap)
			return 0;
		memcpy(parent, id, pl);
		parent[pl] = '\0';
	}
	return (unsigned)k;
}

void
rewrite_targets_free(struct rewrite_target *t, size_t n)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)t[i].part_id);
		free((char *)t[i].names);
	}
	free(t);
}

int
rewrite_targets_from_verdict(const struct scan_verdict *v, const char *root,
                             struct rewrite_target **out, size_t *n)
{
	struct rewrite_target *t = NULL;
	size_t nt = 0, cap = 0, k;
	char *rootnames = NULL;
	char id[REWRITE_ID_MAX];

	*out = NULL;
	*n = 0;
	if (v == NULL || v->nhits == 0)
		return -1;
	for (size_t i = 0; i < v->nhits; i++) {
		const struct scan_hit *h = &v->hits[i];
		char *names;

		if (rewrite_part_id(root, h->path, id, sizeof(id)) < 0) {
			names_merge(&rootnames, h->name);
			continue;
		}
		for (k = 0; k < nt; k++)
			if (strcmp(t[k].part_id, id) == 0)
				break;
		if (k == nt) {
			t = xgrow(t, &cap, nt + 1, sizeof(*t));
			t[nt].part_id = xstrdup(id);
			t[nt].names = NULL;
			nt++;
		}
		names = (char *)t[k].names;
		names_merge(&names, h->name);
		t[k].names = names;
	}
	/* A root hit is harmless only if the same signature hit inside a part. */
	for (const char *p = rootnames; p && *p;) {
		size_t l = strcspn(p, ",");
		char *one = xstrndup(p, l);
		int covered = 0;

		for (k = 0; k < nt && !covered; k++)
			covered = names_have(t[k].names, one);
		free(one);
		if (!covered) {
			free(rootnames);
			rewrite_targets_free(t, nt);
			return -1;
		}
		p += l;
		if (*p == ',')
			p++;
	}
	free(rootnames);
	/* A uu block goes with its text part when that is replaced whole. */
	for (size_t i = 0; i < nt;) {
		char parent[REWRITE_ID_MAX];
		int merged = 0;

		if (uu_block_of(t[i].part_id, parent, sizeof(parent)) > 0) {
			for (k = 0; k < nt && !merged; k++) {
				if (k != i && strcmp(t[k].part_id, parent) == 0) {
					char *names = (char *)t[k].names;

					names_merge(&names, t[i].names);
					t[k].names = names;
					merged = 1;
				}
			}
		}
		if (merged) {
			free((char *)t[i].part_id);
			free((char *)t[i].names);
			memmove(&t[i], &t[i + 1], (nt - i - 1) * sizeof(*t));
			nt--;
		} else {
			i++;
		}
	}
	if (nt == 0) {
		rewrite_targets_free(t, nt);
		return -1;
	}
	*out = t;
	*n = nt;
	return 0;
}

/* --- the parts of the message ------------------------------------------ */

/* The lowest header offset of obj's header list, or -1. */
static int64_t
first_header(GMimeObject *obj)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;
	int64_t min = -1;

	for (int i = 0; i < n; i++) {
		gint64 off = g_mime_header_get_offset(g_mime_header_list_get_header_at(hl, i));

		if (off >= 0 && (min < 0 || off < min))
			min = off;
	}
	return min;
}

/*
 * Records one leaf part; owner is the message whose single body it is, or
 * NULL; boundary that of the multipart holding it.
 */
static void
add_leaf(struct rw *rw, GMimeObject *obj, const char *id, GMimeMessage *owner, const char *boundary)
{
	GMimePart *gp = GMIME_PART(obj);
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeDataWrapper *content = g_mime_part_get_content(gp);
	GMimeStream *raw = content ? g_mime_data_wrapper_get_stream(content) : NULL;
	const char *fname = g_mime_part_get_filename(gp);
	struct rw_leaf *l;

	rw->leaves = xgrow(rw->leaves, &rw->leaves_cap, rw->nleaves + 1, sizeof(*rw->leaves));
	l = &rw->leaves[rw->nleaves++];
	memset(l, 0, sizeof(*l));
	l->id = xstrdup(id);
	l->is_body = owner != NULL;
	l->boundary = boundary && !owner ? xstrdup(boundary) : NULL;
	l->hdr_begin = first_header(obj);
	if (owner) {
		int64_t m = first_header(GMIME_OBJECT(owner));

		if (m >= 0 && (l->hdr_begin < 0 || m < l->hdr_begin))
			l->hdr_begin = m;
	}
	l->body_begin = l->body_end = -1;
	if (raw && raw->bound_start >= 0 && raw->bound_end >= raw->bound_start) {
		l->body_begin = raw->bound_start;
		l->body_end = raw->bound_end;
	}
	switch (g_mime_part_get_content_encoding(gp)) {
	case GMIME_CONTENT_ENCODING_DEFAULT:
	case GMIME_CONTENT_ENCODING_7BIT:
	case GMIME_CONTENT_ENCODING_8BIT:
	case GMIME_CONTENT_ENCODING_BINARY:
		l->identity = 1;
		break;
	default:
		break;
	}
	l->is_text = ct == NULL || g_mime_content_type_is_type(ct, "text", "*");
	if (fname)
		sanitize(fname, l->name, sizeof(l->name), SAN_NAME);
}

static void walk_object(struct rw *rw, GMimeObject *obj, const char *id, unsigned nest,
                        GMimeMessage *owner, const char *boundary);

/* A message's body; ids as mailwalk's walk_message. */
static void
walk_message(struct rw *rw, GMimeMessage *msg, const char *prefix, unsigned nest)
{
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	char *id;

	if (body == NULL)
		return;
	if (GMIME_IS_MULTIPART(body)) {
		walk_object(rw, body, prefix, nest, NULL, NULL);
		return;
	}
	id = prefix ? xasprintf("%s.1", prefix) : xstrdup("1");
	walk_object(rw, body, id, nest, msg, NULL);
	free(id);
}

/* One MIME object; ids as mailwalk's walk_object. */
static void
walk_object(struct rw *rw, GMimeObject *obj, const char *id, unsigned nest, GMimeMessage *owner,
            const char *boundary)
{
	if (nest >= RW_MAX_NEST)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		const char *b = g_mime_multipart_get_boundary(mp);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n; i++) {
			char *cid = id ? xasprintf("%s.%d", id, i + 1) : xasprintf("%d", i + 1);

			walk_object(rw, g_mime_multipart_get_part(mp, i), cid, nest + 1, NULL, b);
			free(cid);
		}
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (m != NULL)
			walk_message(rw, m, id, nest + 1);
	} else if (GMIME_IS_PART(obj)) {
		add_leaf(rw, obj, id, owner, boundary);
	}
}

/* Parses the message and records its leaves; 0, or -1 if it cannot be parsed. */
static int
parse_message(struct rw *rw)
{
	GMimeParser *parser;
	GMimeStream *st;
	GMimeMessage *msg;
	char head[5];

	if (rw->size >= 5 && read_at(rw->fd, head, 5, 0) == 0 && memcmp(head, "From ", 5) == 0) {
		log_warnx("rewrite: message opens with an mbox From line");
		return -1;
	}
	mailwalk_global_init();
	st = g_mime_stream_fs_new_with_bounds(rw->fd, 0, (gint64)rw->size);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(st), FALSE);
	parser = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (msg == NULL) {
		g_object_unref(parser);
		log_warnx("rewrite: message cannot be parsed");
		return -1;
	}
	walk_message(rw, msg, NULL, 0);
	g_object_unref(msg);
	g_object_unref(parser);
	return 0;
}

static struct rw_leaf *
find_leaf(struct rw *rw, const char *id)
{
	for (size_t i = 0; i < rw->nleaves; i++)
		if (strcmp(rw->leaves[i].id, id) == 0)
			return &rw->leaves[i];
	return NULL;
}

/* --- the new text ------------------------------------------------------ */

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

/* The template text for one part, with the per-part variables; caller frees. */
static char *
part_text(const struct notify_templates *tpl, const struct notify_vars *vars, const char *which,
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

/*
 * The new body for a replaced part: text with line ends eol, ending in one
 * only if the old body did (the line end before a boundary is not the
 * part's). *qp says whether it is quoted-printable. Caller frees.
 */
static char *
body_text(const char *text, const char *eol, int old_ends_eol, int *qp, size_t *len)
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

/* The header fields of a replacement text part. */
static void
add_ct_fields(struct sbuf *b, const char *eol, int qp)
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
 * The header block hdr (n bytes, up to the body as GMime found it) with its
 * Content-Type, Content-Transfer-Encoding and Content-Disposition fields
 * replaced by ours, MIME-Version added when missing, ending in a blank
 * line. Only the block's last line can be the blank one: a line GMime read
 * as a header field (even "\r\r\n") stays one.
 */
static void
add_header_block(struct sbuf *b, const char *hdr, size_t n, const char *eol, int qp)
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
	add_ct_fields(b, eol, qp);
	if (end < hdr + n)
		sb_add(b, end, (size_t)(hdr + n - end));
	else
		sb_adds(b, eol);
}

/* Adds an edit; the text is taken over. */
static void
add_edit(struct rw *rw, int64_t begin, int64_t end, char *text, size_t len,
         const struct rw_leaf *leaf)
{
	struct rw_edit *e;

	rw->edits = xgrow(rw->edits, &rw->edits_cap, rw->nedits + 1, sizeof(*rw->edits));
	e = &rw->edits[rw->nedits++];
	e->begin = begin;
	e->end = end;
	e->text = text;
	e->len = len;
	e->leaf = leaf;
}

/* True if byte off - 1 of the input is '\n' (off > 0). */
static int
ends_eol(struct rw *rw, int64_t off)
{
	char c;

	return off > 0 && read_at(rw->fd, &c, 1, off - 1) == 0 && c == '\n';
}

/*
 * Where part l (of a multipart) starts: just after the last line before its
 * first header field (or its body) that is its multipart's boundary line
 * "--boundary" (transport padding allowed). -1 if there is none within
 * RW_BOUNDARY_WINDOW bytes.
 */
static int64_t
part_start(struct rw *rw, const struct rw_leaf *l)
{
	int64_t from = l->hdr_begin >= 0 ? l->hdr_begin : l->body_begin, wstart, r = -1;
	size_t bl, n;
	char *w;

	if (l->boundary == NULL || from < 0)
		return -1;
	bl = strlen(l->boundary);
	wstart = from > RW_BOUNDARY_WINDOW ? from - RW_BOUNDARY_WINDOW : 0;
	n = (size_t)(from - wstart);
	w = read_range(rw->fd, wstart, n);
	if (w == NULL)
		return -1;
	for (size_t i = n; i-- > 0 && r < 0;) {
		size_t k;

		if (!(i == 0 ? wstart == 0 : w[i - 1] == '\n'))
			continue;
		if (n - i < 2 + bl || w[i] != '-' || w[i + 1] != '-' ||
		    memcmp(w + i + 2, l->boundary, bl) != 0)
			continue;
		/* This is the last boundary-like line: it must be an open delimiter. */
		for (k = i + 2 + bl; k < n && (w[k] == ' ' || w[k] == '\t' || w[k] == '\r'); k++)
			;
		if (k < n && w[k] == '\n')
			r = wstart + (int64_t)k + 1;
		break;
	}
	free(w);
	return r;
}

/* True if a part's content ending at end is followed by a boundary line or EOF. */
static int
ends_at_boundary(struct rw *rw, int64_t end)
{
	char b[4];
	size_t n = rw->size - (uint64_t)end < 4 ? (size_t)(rw->size - (uint64_t)end) : 4;

	if ((uint64_t)end == rw->size)
		return 1;
	if (read_at(rw->fd, b, n, end) < 0)
		return 0;
	return (n >= 3 && memcmp(b, "\n--", 3) == 0) || (n == 4 && memcmp(b, "\r\n--", 4) == 0);
}

/* Plans the replacement of a whole leaf part (or single body); 0 or -1. */
static int
plan_part(struct rw *rw, const struct rw_leaf *l, const char *names, const char *which,
          const struct notify_templates *tpl, const struct notify_vars *vars)
{
	struct sbuf b = {0};
	char *text, *body, *hdr;
	size_t blen;
	int64_t begin;
	int qp;

	if (l->body_begin < 0 || l->body_end < l->body_begin || (uint64_t)l->body_end > rw->size) {
		log_warnx("rewrite part=%s reason=no offsets", l->id);
		return -1;
	}
	if (!ends_at_boundary(rw, l->body_end)) {
		log_warnx("rewrite part=%s reason=no boundary after the part", l->id);
		return -1;
	}
	text = part_text(tpl, vars, which, l->id, l->name, names);
	body = body_text(text, rw->eol, ends_eol(rw, l->body_end) && l->body_end > l->body_begin,
	                 &qp, &blen);
	free(text);
	if (l->is_body) {
		/* The message's own header block, with new Content-* fields. */
		if (l->hdr_begin < 0 || l->hdr_begin > l->body_begin) {
			log_warnx("rewrite part=%s reason=no header offsets", l->id);
			free(body);
			return -1;
		}
		begin = l->hdr_begin;
		hdr = read_range(rw->fd, begin, (size_t)(l->body_begin - begin));
		if (hdr == NULL) {
			free(body);
			return -1;
		}
		add_header_block(&b, hdr, (size_t)(l->body_begin - begin), rw->eol, qp);
		free(hdr);
	} else {
		/* From the end of its boundary line: skipped junk lines go too. */
		begin = part_start(rw, l);
		if (begin < 0) {
			log_warnx("rewrite part=%s reason=boundary line not found", l->id);
			free(body);
			return -1;
		}
		add_ct_fields(&b, rw->eol, qp);
		sb_adds(&b, rw->eol);
	}
	sb_add(&b, body, blen);
	free(body);
	add_edit(rw, begin, l->body_end, b.s, b.len, l);
	return 0;
}

/* Finding uu block k by byte offsets while uudecode parses the text. */
struct uu_find {
	unsigned want, seen;
	int64_t line_begin, line_end; /* the line being parsed */
	int64_t begin, end;           /* of block want; end -1 until it ended */
	int at_eof;
	char name[UUDEC_NAME_MAX + 1];
};

static int
uf_begin(void *arg, unsigned mode, const char *name)
{
	struct uu_find *f = arg;

	(void)mode;
	if (++f->seen == f->want) {
		f->begin = f->line_begin;
		snprintf(f->name, sizeof(f->name), "%s", name);
	}
	return 0;
}

static int
uf_data(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return 0;
}

static int
uf_end(void *arg, enum uudec_end how)
{
	struct uu_find *f = arg;

	if (f->seen != f->want)
		return 0;
	/* `end` is the block's; any other line that ends it is not. */
	if (f->at_eof)
		f->end = f->line_end;
	else
		f->end = how == UUDEC_END_OK ? f->line_end : f->line_begin;
	return -1; /* found: stop */
}

static const struct uudec_ops uf_ops = {uf_begin, uf_data, uf_end};

/*
 * Finds uu block k (1-based) in [begin, end) of the input, counted as
 * mailwalk counts them. Returns 0 with f->begin/f->end, or -1.
 */
static int
find_uu_block(struct rw *rw, int64_t begin, int64_t end, unsigned k, struct uu_find *f)
{
	struct uudec *d = uudec_new(&uf_ops, f);
	int64_t off = begin;
	int stopped = 0, r = -1;

	memset(f, 0, sizeof(*f));
	f->want = k;
	f->begin = f->end = -1;
	f->line_begin = begin;
	while (off < end && !stopped) {
		size_t want = end - off < RW_BUF ? (size_t)(end - off) : RW_BUF;
		const char *p = rw->buf, *stop;

		if (read_at(rw->fd, rw->buf, want, off) < 0)
			goto out;
		stop = p + want;
		/* One line at a time, so that each event knows its line. */
		while (p < stop && !stopped) {
			const char *nl = memchr(p, '\n', (size_t)(stop - p));
			size_t n = (size_t)((nl ? nl + 1 : stop) - p);

			f->line_end = off + (int64_t)(p - rw->buf) + (int64_t)n;
			if (uudec_push(d, p, n) < 0)
				stopped = 1;
			p += n;
			if (nl)
				f->line_begin = f->line_end;
		}
		off += (int64_t)want;
	}
	if (!stopped) {
		/* A last line without a line end is parsed as a whole line. */
		f->line_end = end;
		if (f->line_begin < end && uudec_push(d, "\n", 1) < 0)
			stopped = 1;
		f->at_eof = 1;
		f->line_begin = f->line_end = end;
		if (!stopped)
			uudec_finish(d);
	}
	if (f->begin >= 0 && f->end >= f->begin)
		r = 0;
out:
	uudec_free(d);
	return r;
}

/* Plans cutting uu block k out of text part l; 0 or -1. */
static int
plan_uu(struct rw *rw, const struct rw_leaf *l, unsigned k, const char *id, const char *names,
        const struct notify_templates *tpl, const struct notify_vars *vars)
{
	struct uu_find f;
	char name[SAN_NAME_MAX + 1];
	char *text, *line;
	size_t o = 0, len;
	int space = 0;

	if (l->body_begin < 0 || l->body_end < l->body_begin || (uint64_t)l->body_end > rw->size)
		return -1;
	if (find_uu_block(rw, l->body_begin, l->body_end, k, &f) < 0) {
		log_warnx("rewrite part=%s reason=uu block not found", id);
		return -1;
	}
	sanitize(f.name, name, sizeof(name), SAN_NAME);
	text = part_text(tpl, vars, NOTIFY_REMOVED, id, name, names);
	/* One ASCII line: white space folded, anything else as '?'. */
	line = xmalloc(RW_UU_LINE_MAX + 3);
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
	free(text);
	/* Never a line that could be a boundary. */
	if (o > 0 && line[0] == '-')
		line[0] = '?';
	line[o] = '\0';
	if (ends_eol(rw, f.end) && f.end > f.begin) {
		memcpy(line + o, rw->eol, strlen(rw->eol) + 1);
		o += strlen(rw->eol);
	}
	len = o;
	add_edit(rw, f.begin, f.end, line, len, l);
	return 0;
}

static int
edit_cmp(const void *a, const void *b)
{
	const struct rw_edit *x = a, *y = b;

	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* A target after merging: one per id. */
struct rw_target {
	char *id;
	char *names;
};

static void
free_targets(struct rw_target *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].id);
		free(m[i].names);
	}
	free(m);
}

/*
 * The id a target stands for in this message: the id itself for a part,
 * "N.uuK" for a block that can be cut, "N" for a block in an encoded part.
 * NULL (logged) if there is no such part. Caller frees.
 */
static char *
resolve_id(struct rw *rw, const char *id)
{
	char parent[REWRITE_ID_MAX];
	const struct rw_leaf *l;
	unsigned k;

	if (id == NULL || *id == '\0' || strlen(id) >= REWRITE_ID_MAX) {
		log_warnx("rewrite reason=empty or long part id");
		return NULL;
	}
	k = uu_block_of(id, parent, sizeof(parent));
	if (k == 0) {
		l = find_leaf(rw, id);
	} else if (parent[0] == '\0') {
		/* "uuK": the whole message was seen as text; only a single body fits. */
		strcpy(parent, "1");
		l = find_leaf(rw, parent);
		if (l && !l->is_body)
			l = NULL;
	} else {
		l = find_leaf(rw, parent);
	}
	if (l == NULL) {
		log_warnx("rewrite part=%.100s reason=no such part", id);
		return NULL;
	}
	if (k == 0)
		return xstrdup(id);
	if (l->identity && l->is_text)
		return xasprintf("%s.uu%u", parent, k);
	return xstrdup(parent);
}

/*
 * Merges targets with the same id; a uu block whose text part is replaced
 * whole, or that cannot be cut (the part is encoded), becomes part of that
 * target. Returns the merged list (free with free_targets), or NULL with
 * an unknown id.
 */
static struct rw_target *
merge_targets(struct rw *rw, const struct rewrite_target *t, size_t n, size_t *nout)
{
	struct rw_target *m = xcalloc(n ? n : 1, sizeof(*m));
	size_t nm = 0;

	for (size_t i = 0; i < n; i++) {
		char *use = resolve_id(rw, t[i].part_id);
		size_t j;

		if (use == NULL) {
			free_targets(m, nm);
			return NULL;
		}
		for (j = 0; j < nm; j++)
			if (strcmp(m[j].id, use) == 0)
				break;
		if (j == nm) {
			m[nm].id = use;
			m[nm].names = NULL;
			nm++;
		} else {
			free(use);
		}
		names_merge(&m[j].names, t[i].names ? t[i].names : "");
	}
	/* A block of a part that is replaced whole goes with it. */
	for (size_t i = 0; i < nm;) {
		char parent[REWRITE_ID_MAX];
		size_t j = nm;

		if (uu_block_of(m[i].id, parent, sizeof(parent)) > 0)
			for (j = 0; j < nm; j++)
				if (strcmp(m[j].id, parent) == 0)
					break;
		if (j < nm) {
			names_merge(&m[j].names, m[i].names);
			free(m[i].id);
			free(m[i].names);
			memmove(&m[i], &m[i + 1], (nm - i - 1) * sizeof(*m));
			nm--;
		} else {
			i++;
		}
	}
	*nout = nm;
	return m;
}

/* Writes headers, then the input with the sorted edits applied. */
static int
write_out(struct rw *rw, const char *h, size_t hl, int out_fd, uint64_t *written)
{
	int64_t pos = 0;

	*written = 0;
	if (write_all(out_fd, h, hl) < 0)
		return -1;
	*written += hl;
	for (size_t i = 0; i < rw->nedits; i++) {
		const struct rw_edit *e = &rw->edits[i];

		if (copy_fd_range(out_fd, rw->fd, (uint64_t)pos, (uint64_t)(e->begin - pos)) < 0 ||
		    write_all(out_fd, e->text, e->len) < 0)
			return -1;
		*written += (uint64_t)(e->begin - pos) + e->len;
		pos = e->end;
	}
	if (copy_fd_range(out_fd, rw->fd, (uint64_t)pos, rw->size - (uint64_t)pos) < 0)
		return -1;
	*written += rw->size - (uint64_t)pos;
	return 0;
}

int
rewrite_parts(int in_fd, uint64_t size, const struct rewrite_target *t, size_t n,
              enum rewrite_mode mode, const struct notify_templates *tpl,
              const struct notify_vars *vars, const char *headers, int out_fd,
              struct rewrite_result *res)
{
	const char *which = mode == REWRITE_REPLACE ? NOTIFY_REPORT : NOTIFY_REMOVED;
	struct rw rw;
	struct rw_target *m = NULL;
	struct rewrite_result r;
	size_t nm = 0, hl = 0;
	char *h = NULL;
	int ret = -1;

	memset(&rw, 0, sizeof(rw));
	memset(&r, 0, sizeof(r));
	if (res)
		memset(res, 0, sizeof(*res));
	rw.fd = in_fd;
	rw.size = size;
	rw.eol = message_eol(in_fd, size);
	rw.buf = xmalloc(RW_BUF);
	if (n == 0 || t == NULL)
		goto out;
	h = headers_convert(headers, rw.eol, &hl);
	if (h == NULL) {
		log_warnx("rewrite: malformed header lines to add");
		goto out;
	}
	if (parse_message(&rw) < 0)
		goto out;
	m = merge_targets(&rw, t, n, &nm);
	if (m == NULL)
		goto out;
	for (size_t i = 0; i < nm; i++) {
		char parent[REWRITE_ID_MAX];
		unsigned k = uu_block_of(m[i].id, parent, sizeof(parent));

		if (k > 0) {
			if (plan_uu(&rw, find_leaf(&rw, parent), k, m[i].id, m[i].names, tpl,
			            vars) < 0)
				goto out;
			r.uu_removed++;
		} else {
			if (plan_part(&rw, find_leaf(&rw, m[i].id), m[i].names, which, tpl, vars) <
			    0)
				goto out;
			r.parts_replaced++;
		}
	}
	qsort(rw.edits, rw.nedits, sizeof(*rw.edits), edit_cmp);
	for (size_t i = 0; i < rw.nedits; i++) {
		const struct rw_edit *e = &rw.edits[i];

		if (e->begin < 0 || e->end < e->begin || (uint64_t)e->end > size ||
		    (i > 0 && e->begin < rw.edits[i - 1].end)) {
			log_warnx("rewrite part=%s reason=overlapping or bad offsets", e->leaf->id);
			goto out;
		}
	}
	if (write_out(&rw, h, hl, out_fd, &r.bytes_out) < 0) {
		log_warn("rewrite: copy");
		goto out;
	}
	if (res)
		*res = r;
	ret = 0;
out:
	for (size_t i = 0; i < rw.nedits; i++)
		free(rw.edits[i].text);
	free(rw.edits);
	for (size_t i = 0; i < rw.nleaves; i++) {
		free(rw.leaves[i].id);
		free(rw.leaves[i].boundary);
	}
	free(rw.leaves);
	if (m)
		free_targets(m, nm);
	free(rw.buf);
	free(h);
	return ret;
}

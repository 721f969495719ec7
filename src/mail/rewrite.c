/*
 * rewrite: plans and runs the replacement of infected parts. GMime parses
 * the message once to find each leaf part's id (the same numbering as
 * mailwalk) and byte offsets; the targets become a sorted list of edits
 * (byte range -> new bytes), all computed before anything is written.
 * Owns the GMime objects, the leaves and the edits of one call. The new
 * bytes are rewrite_text.c's, the copy rewrite_copy.c's, the part ids of a
 * verdict rewrite_targets.c's; scanning and deciding are the caller's.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <gmime/gmime.h>

#include "mail/rewrite.h"
#include "mail/rewrite_int.h"
#include "scan/mailnorm.h"
#include "scan/mailwalk.h"
#include "scan/uudecode.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define RW_BUF (64 * 1024)
#define RW_MAX_NEST 64                 /* as mailwalk: MIME levels followed at most */
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
	int attachment; /* a part (not a body) with a file name, a disposition
	                   "attachment", or a type that is not text */
	char *boundary; /* of the multipart holding it (NULL for a body) */
	char name[SAN_NAME_MAX + 1];
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
	l->attachment =
	    !l->is_body && (fname != NULL || !l->is_text || g_mime_part_is_attachment(gp));
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

/*
 * True if mailnorm would mend the message (the scanner then saw a structure
 * GMime does not see in these bytes, so part ids may differ): the caller
 * quarantines instead. Limits as the configuration's defaults; whatever
 * the scanner used, the rewritten copy is scanned again before it goes.
 */
static int
needs_mending(struct rw *rw)
{
	static const struct mailnorm_limits lim = {1 << 20, 64, 16};
	struct mailnorm_stats st;
	void *map;
	long n;

	if (rw->size == 0)
		return 0;
	map = mmap(NULL, (size_t)rw->size, PROT_READ, MAP_PRIVATE, rw->fd, 0);
	if (map == MAP_FAILED)
		return 1;
	n = mailnorm(map, (size_t)rw->size, &lim, NULL, NULL, &st);
	munmap(map, (size_t)rw->size);
	if (n > 0)
		log_warnx("rewrite: the message's structure needed mending (bom=%u junk_lines=%u "
		          "ws_lines=%u separators=%u colon_spaces=%u params=%u delimiters=%u): "
		          "not rewritten",
		          st.bom, st.junk_lines, st.ws_lines, st.separators, st.colon_spaces,
		          st.params, st.delimiters);
	return n != 0;
}

/* Parses the message and records its leaves; 0, or -1 if it cannot be parsed. */
static int
parse_message(struct rw *rw)
{
	GMimeParser *parser;
	GMimeStream *st;
	GMimeMessage *msg;
	char head[5];

	if (rw->size >= 5 && rw_read_at(rw->fd, head, 5, 0) == 0 && memcmp(head, "From ", 5) == 0) {
		log_warnx("rewrite: message opens with an mbox From line");
		return -1;
	}
	if (needs_mending(rw))
		return -1;
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

/* --- the edits ---------------------------------------------------------- */

/* Adds an edit; the text is taken over. */
static void
add_edit(struct rw *rw, int64_t begin, int64_t end, char *text, size_t len, const char *id)
{
	struct rw_edit *e;

	rw->edits = xgrow(rw->edits, &rw->edits_cap, rw->nedits + 1, sizeof(*rw->edits));
	e = &rw->edits[rw->nedits++];
	e->begin = begin;
	e->end = end;
	e->text = text;
	e->len = len;
	e->id = id;
}

/* True if byte off - 1 of the input is '\n' (off > 0). */
static int
ends_eol(struct rw *rw, int64_t off)
{
	char c;

	return off > 0 && rw_read_at(rw->fd, &c, 1, off - 1) == 0 && c == '\n';
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
	w = rw_read_range(rw->fd, wstart, n);
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
	if (rw_read_at(rw->fd, b, n, end) < 0)
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
	text = rw_part_text(tpl, vars, which, l->id, l->name, names);
	body = rw_body_text(text, rw->eol, ends_eol(rw, l->body_end) && l->body_end > l->body_begin,
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
		hdr = rw_read_range(rw->fd, begin, (size_t)(l->body_begin - begin));
		if (hdr == NULL) {
			free(body);
			return -1;
		}
		rw_add_header_block(&b, hdr, (size_t)(l->body_begin - begin), rw->eol, qp);
		free(hdr);
	} else {
		/* From the end of its boundary line: skipped junk lines go too. */
		begin = part_start(rw, l);
		if (begin < 0) {
			log_warnx("rewrite part=%s reason=boundary line not found", l->id);
			free(body);
			return -1;
		}
		rw_add_ct_fields(&b, rw->eol, qp);
		sb_adds(&b, rw->eol);
	}
	sb_add(&b, body, blen);
	free(body);
	add_edit(rw, begin, l->body_end, b.s, b.len, l->id);
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

		if (rw_read_at(rw->fd, rw->buf, want, off) < 0)
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
	size_t len;

	if (l->body_begin < 0 || l->body_end < l->body_begin || (uint64_t)l->body_end > rw->size)
		return -1;
	if (find_uu_block(rw, l->body_begin, l->body_end, k, &f) < 0) {
		log_warnx("rewrite part=%s reason=uu block not found", id);
		return -1;
	}
	sanitize(f.name, name, sizeof(name), SAN_NAME);
	text = rw_part_text(tpl, vars, NOTIFY_REMOVED, id, name, names);
	line = rw_uu_line(text, ends_eol(rw, f.end) && f.end > f.begin ? rw->eol : NULL, &len);
	free(text);
	add_edit(rw, f.begin, f.end, line, len, l->id);
	return 0;
}

static int
edit_cmp(const void *a, const void *b)
{
	const struct rw_edit *x = a, *y = b;

	return x->begin < y->begin ? -1 : x->begin > y->begin;
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
	k = rw_uu_block_of(id, parent, sizeof(parent));
	if (k == 0 && find_leaf(rw, id) == NULL && rw_text_block_of(id, parent, sizeof(parent))) {
		/* A block decoded from a text part: that whole part is replaced. */
		l = find_leaf(rw, parent);
		if (l == NULL) {
			log_warnx("rewrite part=%.100s reason=no such part", id);
			return NULL;
		}
		return xstrdup(parent);
	}
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
 * target. Returns the merged list (rewrite_targets_free), or NULL with an
 * unknown id.
 */
static struct rewrite_target *
merge_targets(struct rw *rw, const struct rewrite_target *t, size_t n, size_t *nout)
{
	struct rewrite_target *m = NULL;
	size_t nm = 0, cap = 0;

	for (size_t i = 0; i < n; i++) {
		char *use = resolve_id(rw, t[i].part_id);

		if (use == NULL) {
			rewrite_targets_free(m, nm);
			return NULL;
		}
		rw_target_add(&m, &nm, &cap, use, t[i].names);
		free(use);
	}
	rw_targets_fold_uu(m, &nm);
	*nout = nm;
	return m;
}

/* Checks the planned edits and writes the new message; 0 or -1. */
static int
rw_emit(struct rw *rw, const char *h, size_t hl, int out_fd, struct rewrite_result *r)
{
	qsort(rw->edits, rw->nedits, sizeof(*rw->edits), edit_cmp);
	for (size_t i = 0; i < rw->nedits; i++) {
		const struct rw_edit *e = &rw->edits[i];

		if (e->begin < 0 || e->end < e->begin || (uint64_t)e->end > rw->size ||
		    (i > 0 && e->begin < rw->edits[i - 1].end)) {
			log_warnx("rewrite part=%s reason=overlapping or bad offsets", e->id);
			return -1;
		}
	}
	if (rw_write_out(rw->fd, rw->size, rw->edits, rw->nedits, h, hl, out_fd, &r->bytes_out) <
	    0) {
		log_warn("rewrite: copy");
		return -1;
	}
	return 0;
}

static void
rw_init(struct rw *rw, int fd, uint64_t size)
{
	memset(rw, 0, sizeof(*rw));
	rw->fd = fd;
	rw->size = size;
	rw->eol = rw_message_eol(fd, size);
	rw->buf = xmalloc(RW_BUF);
}

static void
rw_clear(struct rw *rw)
{
	for (size_t i = 0; i < rw->nedits; i++)
		free(rw->edits[i].text);
	free(rw->edits);
	for (size_t i = 0; i < rw->nleaves; i++) {
		free(rw->leaves[i].id);
		free(rw->leaves[i].boundary);
	}
	free(rw->leaves);
	free(rw->buf);
	memset(rw, 0, sizeof(*rw));
}

int
rewrite_parts(int in_fd, uint64_t size, const struct rewrite_target *t, size_t n,
              enum rewrite_mode mode, const struct notify_templates *tpl,
              const struct notify_vars *vars, const char *headers, int out_fd,
              struct rewrite_result *res)
{
	const char *which = mode == REWRITE_REPLACE ? NOTIFY_REPORT : NOTIFY_REMOVED;
	struct rw rw;
	struct rewrite_target *m = NULL;
	struct rewrite_result r;
	size_t nm = 0, hl = 0;
	char *h = NULL;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	if (res)
		memset(res, 0, sizeof(*res));
	rw_init(&rw, in_fd, size);
	if (n == 0 || t == NULL)
		goto out;
	h = rw_headers_convert(headers, rw.eol, &hl);
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
		unsigned k = rw_uu_block_of(m[i].part_id, parent, sizeof(parent));

		if (k > 0) {
			if (plan_uu(&rw, find_leaf(&rw, parent), k, m[i].part_id, m[i].names, tpl,
			            vars) < 0)
				goto out;
			r.uu_removed++;
		} else {
			if (plan_part(&rw, find_leaf(&rw, m[i].part_id), m[i].names, which, tpl,
			              vars) < 0)
				goto out;
			r.parts_replaced++;
		}
	}
	if (rw_emit(&rw, h, hl, out_fd, &r) < 0)
		goto out;
	if (res)
		*res = r;
	ret = 0;
out:
	rw_clear(&rw);
	rewrite_targets_free(m, nm);
	free(h);
	return ret;
}

int
rewrite_hold_attachments(int in_fd, uint64_t size, const struct notify_templates *tpl,
                         const struct notify_vars *vars, const char *headers, int out_fd,
                         struct rewrite_result *res)
{
	struct rw rw;
	struct rewrite_result r;
	size_t hl = 0;
	char *h = NULL;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	if (res)
		memset(res, 0, sizeof(*res));
	rw_init(&rw, in_fd, size);
	h = rw_headers_convert(headers, rw.eol, &hl);
	if (h == NULL) {
		log_warnx("rewrite: malformed header lines to add");
		goto out;
	}
	if (parse_message(&rw) < 0)
		goto out;
	for (size_t i = 0; i < rw.nleaves; i++) {
		if (!rw.leaves[i].attachment)
			continue;
		if (plan_part(&rw, &rw.leaves[i], vars && vars->virus ? vars->virus : "",
		              NOTIFY_HELD_PART, tpl, vars) < 0)
			goto out;
		r.parts_replaced++;
	}
	if (r.parts_replaced > 0 && rw_emit(&rw, h, hl, out_fd, &r) < 0)
		goto out;
	if (res)
		*res = r;
	ret = 0;
out:
	rw_clear(&rw);
	free(h);
	return ret;
}

/*
 * mailwalk: GMime parses the message; this module walks the resulting tree
 * in MIME order, decodes each leaf into a temporary file, looks for
 * uuencoded blocks in text parts, and hands every piece of content to the
 * caller's callback with a stable id. It owns the GMime objects of one walk
 * (all unreferenced before it returns) and the temporary files (closed
 * after the callback returns). Scanning is the caller's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "scan/mailnorm.h"
#include "scan/mailwalk.h"
#include "scan/uudecode.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"
#include "util/sys.h"

#define MW_BUF (64 * 1024)
#define MW_MAX_NEST 64         /* multipart / message levels followed at most */
#define MW_MAX_MESSAGES 100000 /* messages read from one mbox at most */
#define MW_TEXT_MIN 64         /* shortest preamble or epilogue looked into */
/* Smaller messages are read: mapping and unmapping (TLB shootdowns across the
 * worker threads) cost more than the reads they save; measured: 100 KiB
 * slower mapped, 2 MiB faster. */
#define MW_MAP_MIN (1024 * 1024)

static pthread_once_t mw_once = PTHREAD_ONCE_INIT;

/* The state of one mailwalk_fd / mailwalk_uu_fd call. */
struct mw {
	const char *path;
	const struct mailwalk_limits *lim;
	const char *tmpdir;
	mailwalk_cb cb;
	void *arg;
	struct scan_verdict *v;
	int fd;          /* the message (mailwalk_fd), or -1 */
	const char *map; /* fd mapped from offset 0 for GMime, or NULL */
	int64_t base;    /* stream position where reading started */
	unsigned parts;  /* handed to cb */
	unsigned crit;   /* GMime's GMIME_CRIT_* warnings */
	int stopped;     /* cb returned -1 */
	int limited;     /* a limit was hit */
	int mended;      /* GMime reads mailnorm's copy: no offsets in the input */
	const struct mailnorm_limits *norm; /* NULL: no pre-pass */
	unsigned char *buf;
};

/* One uuencoded block being decoded into a temporary file. */
struct mw_uu {
	struct mw *mw;
	const char *prefix;
	unsigned depth;
	int fd;
	unsigned nblock;
	uint64_t size;
	int cut;
	char name[SAN_NAME_MAX + 1];
};

/* Runs once per process through pthread_once. */
static void
mw_init_once(void)
{
	g_mime_init();
}

void
mailwalk_global_init(void)
{
	pthread_once(&mw_once, mw_init_once);
}

/* GMime parser warnings: counted (the critical ones) and logged at debug. */
static void
mw_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer arg)
{
	struct mw *mw = arg;

	switch (code) {
	case GMIME_CRIT_INVALID_HEADER_NAME:
		/* An empty part's next delimiter, read as a header: nothing lost. */
		if (item && item[0] == '-' && item[1] == '-')
			break;
		mw->crit++;
		break;
	case GMIME_CRIT_CONFLICTING_HEADER:
	case GMIME_CRIT_CONFLICTING_PARAMETER:
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
	case GMIME_CRIT_NESTING_OVERFLOW:
		mw->crit++;
		break;
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		/* An empty part (`--b` then `--b--`) holds nothing to hide. */
		break;
	default:
		break;
	}
	log_debug("mailwalk path=%s gmime_warning=%d offset=%lld item=%.100s", mw->path, (int)code,
	          (long long)offset, item ? item : "");
}

/* The verdict path of a part: "<path>//<id>"; caller frees. */
static char *
part_path(const struct mw *mw, const char *id)
{
	return xasprintf("%s//%s", mw->path, id);
}

/* Notes a SCAN_LIMIT at a part and remembers that a limit was hit. */
static void
note_limit(struct mw *mw, enum scan_limit l, const char *id, const char *what)
{
	char *p = part_path(mw, id);

	verdict_note(mw->v, SCAN_LIMIT, l, p, "%s", what);
	log_debug("mailwalk limit=%s path=%s", scan_limit_name(l), p);
	free(p);
	mw->limited = 1;
}

/* Counts a part against max_parts; 0 if it may be handed on. */
static int
take_part(struct mw *mw, const char *id)
{
	if (mw->lim && mw->lim->max_parts && mw->parts >= mw->lim->max_parts) {
		note_limit(mw, LIMIT_FILES, id, "too many parts");
		mw->stopped = 1;
		return -1;
	}
	mw->parts++;
	return 0;
}

/* Hands the part to the caller's callback from its first byte; -1 stops the walk. */
static int
call_cb(struct mw *mw, const struct mail_part *part, struct mail_body *body)
{
	mail_body_rewind(body);
	if (mw->cb(mw->arg, part, body) < 0) {
		mw->stopped = 1;
		return -1;
	}
	return 0;
}

/* uudec begin: opens the temporary file of a new block. */
static int
uu_begin(void *arg, unsigned mode, const char *name)
{
	struct mw_uu *u = arg;

	(void)mode;
	sanitize(name, u->name, sizeof(u->name), SAN_NAME);
	u->size = 0;
	u->cut = 0;
	u->fd = tmpfd_open(u->mw->tmpdir);
	if (u->fd < 0) {
		verdict_note(u->mw->v, SCAN_ERROR, LIMIT_NONE, u->mw->path, "temporary file: %s",
		             strerror(errno));
		return -1;
	}
	return 0;
}

/* uudec data: appends decoded bytes, up to max_part_bytes. */
static int
uu_data(void *arg, const void *buf, size_t len)
{
	struct mw_uu *u = arg;
	uint64_t max = u->mw->lim ? u->mw->lim->max_part_bytes : 0;

	if (u->cut)
		return 0;
	if (max && u->size + len > max) {
		len = (size_t)(max - u->size);
		u->cut = 1;
	}
	if (len > 0 && write_all(u->fd, buf, len) < 0) {
		verdict_note(u->mw->v, SCAN_ERROR, LIMIT_NONE, u->mw->path, "write: %s",
		             strerror(errno));
		return -1;
	}
	u->size += len;
	return 0;
}

/* A block is complete (or as complete as it will get): hand it on. */
static int
uu_end(void *arg, enum uudec_end how)
{
	struct mw_uu *u = arg;
	struct mw *mw = u->mw;
	struct mail_part part;
	struct mail_body *body;
	char *id;
	int r = -1;

	u->nblock++;
	id = u->prefix ? xasprintf("%s.uu%u", u->prefix, u->nblock) : xasprintf("uu%u", u->nblock);
	if (how != UUDEC_END_OK)
		log_debug("mailwalk path=%s//%s uu block ends without `end` (%s)", mw->path, id,
		          how == UUDEC_END_MALFORMED ? "malformed line" : "missing");
	if (u->cut)
		note_limit(mw, LIMIT_FILE_SIZE, id, "part too large");
	if (take_part(mw, id) == 0) {
		memset(&part, 0, sizeof(part));
		part.id = id;
		part.content_type = "application/octet-stream";
		part.filename = u->name[0] ? u->name : NULL;
		part.is_uu = 1;
		part.depth = u->depth;
		part.headers_begin = part.body_begin = part.body_end = -1;
		body = mail_body_new_fd(u->fd, u->size, 0);
		r = call_cb(mw, &part, body);
		mail_body_free(body);
	}
	close(u->fd);
	u->fd = -1;
	free(id);
	return r;
}

static const struct uudec_ops uu_ops = {uu_begin, uu_data, uu_end};

/* Hands on the uuencoded blocks in the text read from body. */
static void
uu_scan(struct mw *mw, struct mail_body *body, const char *prefix, unsigned depth)
{
	struct mw_uu u;
	struct uudec *d;

	memset(&u, 0, sizeof(u));
	u.mw = mw;
	u.prefix = prefix;
	u.depth = depth;
	u.fd = -1;
	d = uudec_new(&uu_ops, &u);
	for (;;) {
		ssize_t n = mail_body_read(body, mw->buf, MW_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			verdict_note(mw->v, SCAN_ERROR, LIMIT_NONE, mw->path, "read: %s",
			             strerror(errno));
			break;
		}
		if (n == 0) {
			uudec_finish(d);
			break;
		}
		if (uudec_push(d, mw->buf, (size_t)n) < 0)
			break;
	}
	if (u.fd >= 0)
		close(u.fd);
	uudec_free(d);
}

/*
 * Decodes raw (the part's content as on the wire) into fd. Returns 0, or -1
 * on a read or write error; *size gets the bytes written, *cut is set when
 * max_part_bytes stopped it.
 */
static int
decode_to_fd(struct mw *mw, GMimeStream *raw, GMimeContentEncoding enc, int fd, uint64_t *size,
             int *cut)
{
	uint64_t max = mw->lim ? mw->lim->max_part_bytes : 0;
	GMimeStream *fs;
	int zero = 0, r = 0;

	*size = 0;
	*cut = 0;
	if (g_mime_stream_reset(raw) < 0)
		return -1;
	fs = g_mime_stream_filter_new(raw);
	switch (enc) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_UUENCODE: {
		GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);

		g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
		g_object_unref(f);
		break;
	}
	default:
		break;
	}
	for (;;) {
		ssize_t n = g_mime_stream_read(fs, (char *)mw->buf, MW_BUF);

		if (n < 0) {
			r = -1;
			break;
		}
		if (n == 0) {
			/* A filter may eat a whole read (e.g. a uu begin line). */
			if (g_mime_stream_eos(fs) || ++zero > 64)
				break;
			continue;
		}
		zero = 0;
		if (max && *size + (uint64_t)n > max) {
			n = (ssize_t)(max - *size);
			*cut = 1;
		}
		if (n > 0 && write_all(fd, mw->buf, (size_t)n) < 0) {
			r = -1;
			break;
		}
		*size += (uint64_t)n;
		if (*cut)
			break;
	}
	g_object_unref(fs);
	return r;
}

/* Where the part's header block and content lie in the input. */
static void
part_offsets(const struct mw *mw, GMimeObject *obj, GMimeStream *raw, struct mail_part *p)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);

	p->headers_begin = p->body_begin = p->body_end = -1;
	if (mw->mended)
		return;
	if (hl && g_mime_header_list_get_count(hl) > 0) {
		gint64 off = g_mime_header_get_offset(g_mime_header_list_get_header_at(hl, 0));

		if (off >= mw->base)
			p->headers_begin = off - mw->base;
	}
	if (raw && raw->bound_start >= mw->base && raw->bound_end >= raw->bound_start) {
		p->body_begin = raw->bound_start - mw->base;
		p->body_end = raw->bound_end - mw->base;
	}
}

/*
 * The part's content as a body: decoded from the message as it is read when
 * it is base64 or unencoded and GMime kept it as a region of our fd, else
 * decoded by GMime into a temporary file. NULL (noted in the verdict) on
 * failure; *cut is set when max_part_bytes cut it.
 */
static struct mail_body *
leaf_body(struct mw *mw, GMimeDataWrapper *content, GMimeStream *raw, const char *id, int *cut)
{
	GMimeContentEncoding enc =
	    content ? g_mime_data_wrapper_get_encoding(content) : GMIME_CONTENT_ENCODING_DEFAULT;
	uint64_t max = mw->lim ? mw->lim->max_part_bytes : 0;
	uint64_t size = 0;
	struct mail_body *body;
	int fd;

	*cut = 0;
	if (raw && mw->fd >= 0 &&
	    ((GMIME_IS_STREAM_FS(raw) && GMIME_STREAM_FS(raw)->fd == mw->fd) ||
	     (mw->map && GMIME_IS_STREAM_MMAP(raw) && GMIME_STREAM_MMAP(raw)->map == mw->map)) &&
	    raw->bound_start >= 0 && raw->bound_end >= raw->bound_start &&
	    (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_DEFAULT ||
	     enc == GMIME_CONTENT_ENCODING_7BIT || enc == GMIME_CONTENT_ENCODING_8BIT ||
	     enc == GMIME_CONTENT_ENCODING_BINARY)) {
		body = mail_body_new_region(
		    mw->fd, mw->map, (uint64_t)raw->bound_start,
		    (uint64_t)(raw->bound_end - raw->bound_start),
		    enc == GMIME_CONTENT_ENCODING_BASE64 ? MAIL_BODY_BASE64 : MAIL_BODY_IDENTITY,
		    max, mw->tmpdir);
		if (body) {
			*cut = mail_body_cut(body);
			return body;
		}
	}
	/* Decoded content is never larger than its encoded form. */
	fd = tmpfd_open_for(mw->tmpdir, raw && raw->bound_end > raw->bound_start
	                                    ? (uint64_t)(raw->bound_end - raw->bound_start)
	                                    : TMPFD_SIZE_UNKNOWN);
	if (fd < 0) {
		verdict_note(mw->v, SCAN_ERROR, LIMIT_NONE, mw->path, "temporary file: %s",
		             strerror(errno));
		return NULL;
	}
	if (raw && decode_to_fd(mw, raw, enc, fd, &size, cut) < 0) {
		char *p = part_path(mw, id);

		verdict_note(mw->v, SCAN_ERROR, LIMIT_NONE, p, "cannot decode part: %s",
		             strerror(errno));
		free(p);
	}
	return mail_body_new_fd(fd, size, 1);
}

/* Hands one leaf part on, then its uu blocks. */
static void
walk_leaf(struct mw *mw, GMimeObject *obj, const char *id, unsigned depth)
{
	GMimePart *gp = GMIME_PART(obj);
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimeDataWrapper *content = g_mime_part_get_content(gp);
	GMimeStream *raw = content ? g_mime_data_wrapper_get_stream(content) : NULL;
	const char *fname = g_mime_part_get_filename(gp);
	char *mime = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	char name[SAN_NAME_MAX + 1];
	struct mail_part part;
	struct mail_body *body;
	int cut = 0;

	if (take_part(mw, id) < 0)
		goto out;
	body = leaf_body(mw, content, raw, id, &cut);
	if (body == NULL)
		goto out;
	if (cut)
		note_limit(mw, LIMIT_FILE_SIZE, id, "part too large");
	name[0] = '\0';
	if (fname)
		sanitize(fname, name, sizeof(name), SAN_NAME);
	memset(&part, 0, sizeof(part));
	part.id = id;
	part.content_type = mime ? mime : "text/plain";
	part.filename = name[0] ? name : NULL;
	part.depth = depth;
	part_offsets(mw, obj, raw, &part);
	if (call_cb(mw, &part, body) == 0 && ct && g_mime_content_type_is_type(ct, "text", "*")) {
		mail_body_rewind(body);
		uu_scan(mw, body, id, depth);
	}
	mail_body_free(body);
out:
	g_free(mime);
}

static void walk_object(struct mw *mw, GMimeObject *obj, const char *id, unsigned depth,
                        unsigned nest);

/*
 * Hands on a multipart's preamble or epilogue (text, may be NULL) as a
 * text/plain part "<prefix>.<what>" ("pre", "epi" at the top), then its uu
 * blocks, so that the walker looks for encoded blocks in it. Only text of
 * MW_TEXT_MIN bytes or more: the usual "This is a multi-part message" line
 * holds nothing, and every byte of it was scanned with the message.
 */
static void
walk_text_piece(struct mw *mw, const char *text, const char *prefix, const char *what,
                unsigned depth)
{
	struct mail_part part;
	size_t len = text ? strlen(text) : 0;
	struct mail_body *body;
	char *id;
	int fd;

	if (len < MW_TEXT_MIN || mw->stopped)
		return;
	id = prefix ? xasprintf("%s.%s", prefix, what) : xstrdup(what);
	if (take_part(mw, id) < 0)
		goto out;
	fd = tmpfd_open_for(mw->tmpdir, len);
	if (fd < 0 || write_all(fd, text, len) < 0) {
		verdict_note(mw->v, SCAN_ERROR, LIMIT_NONE, mw->path, "temporary file: %s",
		             strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	memset(&part, 0, sizeof(part));
	part.id = id;
	part.content_type = "text/plain";
	part.depth = depth;
	part.headers_begin = part.body_begin = part.body_end = -1;
	body = mail_body_new_fd(fd, len, 1);
	if (call_cb(mw, &part, body) == 0 && mail_body_rewind(body) == 0)
		uu_scan(mw, body, id, depth);
	mail_body_free(body);
out:
	free(id);
}

/* Walks a message's body; its parts' ids are prefix.N (N if prefix is NULL). */
static void
walk_message(struct mw *mw, GMimeMessage *msg, const char *prefix, unsigned depth, unsigned nest)
{
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	char *id;

	if (body == NULL)
		return;
	if (GMIME_IS_MULTIPART(body)) {
		walk_object(mw, body, prefix, depth, nest);
		return;
	}
	id = prefix ? xasprintf("%s.1", prefix) : xstrdup("1");
	walk_object(mw, body, id, depth, nest);
	free(id);
}

/* Walks one MIME object; for a multipart, id is its children's prefix. */
static void
walk_object(struct mw *mw, GMimeObject *obj, const char *id, unsigned depth, unsigned nest)
{
	if (mw->stopped)
		return;
	if (nest >= MW_MAX_NEST) {
		note_limit(mw, LIMIT_DEPTH, id ? id : "1", "MIME nesting too deep");
		return;
	}
	if (GMIME_IS_MULTIPART_ENCRYPTED(obj)) {
		char *p = part_path(mw, id ? id : "1");

		verdict_note(mw->v, SCAN_ENCRYPTED, LIMIT_NONE, p, "multipart/encrypted");
		free(p);
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		walk_text_piece(mw, g_mime_multipart_get_prologue(mp), id, "pre", depth);
		for (int i = 0; i < n && !mw->stopped; i++) {
			char *cid = id ? xasprintf("%s.%d", id, i + 1) : xasprintf("%d", i + 1);

			walk_object(mw, g_mime_multipart_get_part(mp, i), cid, depth, nest + 1);
			free(cid);
		}
		walk_text_piece(mw, g_mime_multipart_get_epilogue(mp), id, "epi", depth);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (m == NULL)
			return;
		if (mw->lim && mw->lim->max_depth && depth + 2 > mw->lim->max_depth) {
			note_limit(mw, LIMIT_DEPTH, id, "message nested too deep");
			return;
		}
		walk_message(mw, m, id, depth + 1, nest + 1);
	} else if (GMIME_IS_PART(obj)) {
		walk_leaf(mw, obj, id, depth);
	}
}

/*
 * GMime's view of fd from its current offset: a map of a copy of fd (the
 * stream unmaps and closes it), so that the parser copies from memory
 * instead of a read and a seek per 4 KiB, and base64 and unencoded parts
 * are decoded in place (*map); a plain file stream for a message under
 * MW_MAP_MIN or
 * where fd cannot be mapped.
 */
static GMimeStream *
mw_stream(int fd, const char **map)
{
	GMimeStream *st;
	struct stat sb;
	int dfd;

	*map = NULL;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= MW_MAP_MIN &&
	    (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
		/* The copy shares the offset, so the stream starts where fd is. */
		st = g_mime_stream_mmap_new(dfd, PROT_READ, MAP_PRIVATE | MAP_POPULATE);
		if (st) {
			*map = GMIME_STREAM_MMAP(st)->map;
			return st;
		}
		close(dfd);
	}
	st = g_mime_stream_fs_new(fd);
	g_mime_stream_fs_set_owner(GMIME_STREAM_FS(st), FALSE);
	return st;
}

/* Fills in the state shared by one call; mw->buf must be freed. */
static void
mw_init(struct mw *mw, const char *path, const struct mailwalk_limits *lim, const char *tmpdir,
        mailwalk_cb cb, void *arg, struct scan_verdict *v)
{
	memset(mw, 0, sizeof(*mw));
	mw->path = path;
	mw->lim = lim;
	mw->tmpdir = tmpdir;
	mw->cb = cb;
	mw->arg = arg;
	mw->v = v;
	mw->fd = -1;
	mw->buf = xmalloc(MW_BUF);
}

/* mailnorm_out: appends to the file descriptor *arg. */
static int
mend_write(void *arg, const void *buf, size_t len)
{
	return write_all(*(int *)arg, buf, len);
}

/*
 * The message in[0, len) mended by mailnorm into a temporary file
 * (positioned at 0), or -1 when nothing needs mending (or the copy failed:
 * then GMime reads the original, as before the pre-pass existed).
 */
static int
mend(struct mw *mw, const unsigned char *in, size_t len)
{
	struct mailnorm_stats st;
	long n = mailnorm(in, len, mw->norm, NULL, NULL, &st);
	int tfd;

	if (n <= 0)
		return -1;
	log_debug("mailwalk path=%s mended=%ld bom=%u junk_lines=%u ws_lines=%u separators=%u "
	          "colon_spaces=%u params=%u delimiters=%u header_cut=%u",
	          mw->path, n, st.bom, st.junk_lines, st.ws_lines, st.separators, st.colon_spaces,
	          st.params, st.delimiters, st.header_cut);
	if ((tfd = tmpfd_open_for(mw->tmpdir, (uint64_t)len + 4096)) < 0) {
		log_warn("mailwalk path=%s: temporary file for the mended message", mw->path);
		return -1;
	}
	if (mailnorm(in, len, mw->norm, mend_write, &tfd, NULL) < 0 ||
	    lseek(tfd, 0, SEEK_SET) < 0) {
		log_warn("mailwalk path=%s: writing the mended message", mw->path);
		close(tfd);
		return -1;
	}
	mw->mended = 1;
	return tfd;
}

/* True if a line of in[0, len) holds more than whitespace or a "--" delimiter. */
static int
has_content(const unsigned char *in, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const unsigned char *nl = memchr(in + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - in) : len;
		size_t k = i;

		while (k < e && (in[k] == ' ' || in[k] == '\t' || in[k] == '\r'))
			k++;
		if (k < e && !(e - k >= 2 && in[k] == '-' && in[k + 1] == '-'))
			return 1;
		i = e + 1;
	}
	return 0;
}

/*
 * No part came out of the message: hands its raw body (everything after
 * the first empty line; all of it when no message was parsed) as one text
 * part "body", so that what it holds is still scanned, unless it holds
 * nothing but whitespace and delimiter lines: then there is nothing to
 * scan. Returns 1 if it had content.
 */
static int
raw_body(struct mw *mw, const unsigned char *in, size_t len, int parsed)
{
	struct mail_part part;
	struct mail_body *body;
	size_t b = 0;
	int fd;

	if (parsed) {
		for (size_t i = 0; i < len; i++) {
			if (in[i] != '\n')
				continue;
			if (i + 1 < len && in[i + 1] == '\n') {
				b = i + 2;
				break;
			}
			if (i + 2 < len && in[i + 1] == '\r' && in[i + 2] == '\n') {
				b = i + 3;
				break;
			}
		}
		if (b == 0)
			return 0; /* headers only */
	}
	if (!has_content(in + b, len - b))
		return 0;
	if (take_part(mw, "body") < 0)
		return 1;
	if ((fd = tmpfd_open_for(mw->tmpdir, len - b)) < 0 || write_all(fd, in + b, len - b) < 0) {
		verdict_note(mw->v, SCAN_ERROR, LIMIT_NONE, mw->path, "temporary file: %s",
		             strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	memset(&part, 0, sizeof(part));
	part.id = "body";
	part.content_type = "text/plain";
	part.is_raw = 1;
	part.headers_begin = part.body_begin = part.body_end = -1;
	body = mail_body_new_fd(fd, len - b, 1);
	if (call_cb(mw, &part, body) == 0 && mail_body_rewind(body) == 0)
		uu_scan(mw, body, "body", 0);
	mail_body_free(body);
	return 1;
}

int
mailwalk_fd(int fd, const char *path, const struct mailwalk_limits *lim, const char *tmpdir,
            mailwalk_cb cb, void *arg, struct scan_verdict *v)
{
	return mailwalk_mend_fd(fd, path, lim, NULL, tmpdir, cb, arg, v);
}

int
mailwalk_mend_fd(int fd, const char *path, const struct mailwalk_limits *lim,
                 const struct mailnorm_limits *norm, const char *tmpdir, mailwalk_cb cb, void *arg,
                 struct scan_verdict *v)
{
	GMimeParserOptions *opts;
	GMimeParser *parser;
	GMimeStream *st;
	struct mw mw;
	char head[5];
	off_t start;
	gint64 last = -1;
	unsigned nmsg = 0;
	int mbox, src = fd, mended = -1, content = 0;
	unsigned char *map = NULL;
	size_t maplen = 0, len = 0;
	struct stat sb;

	mailwalk_global_init();
	start = lseek(fd, 0, SEEK_CUR);
	if (start < 0) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, path, "mail: lseek: %s", strerror(errno));
		return -1;
	}
	mw_init(&mw, path, lim, tmpdir, cb, arg, v);
	mw.norm = norm && norm->max_header_bytes ? norm : NULL;
	mbox = pread_full(fd, head, sizeof(head), (uint64_t)start) == (ssize_t)sizeof(head) &&
	       memcmp(head, "From ", 5) == 0;
	/* Seekable files (all the walker hands us) are mapped for the pre-pass
	 * and for a look at the raw body; anything else goes to GMime as is. */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > start) {
		maplen = (size_t)sb.st_size;
		len = maplen - (size_t)start;
		map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			map = NULL;
	}
	if (map && !mbox && mw.norm && (mended = mend(&mw, map + start, len)) >= 0)
		src = mended;
	/* Parts are decoded from what GMime reads: the mended copy, if any. */
	mw.fd = src;
	st = mw_stream(src, &mw.map);
	mw.base = st->bound_start;
	parser = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	g_mime_parser_set_format(parser, mbox ? GMIME_FORMAT_MBOX : GMIME_FORMAT_MESSAGE);
	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, mw_warning, &mw);

	while (!mw.stopped && nmsg < MW_MAX_MESSAGES) {
		GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
		char *prefix;
		gint64 pos;

		if (msg == NULL)
			break;
		nmsg++;
		prefix = mbox ? xasprintf("m%u", nmsg) : NULL;
		walk_message(&mw, msg, prefix, 0, 0);
		free(prefix);
		g_object_unref(msg);
		if (!mbox || g_mime_parser_eos(parser))
			break;
		/* Each message must move the parser on, or we stop. */
		pos = g_mime_parser_tell(parser);
		if (pos <= last)
			break;
		last = pos;
	}
	g_mime_parser_options_free(opts);
	g_object_unref(parser);
	/*
	 * Nothing came out: the raw body is still scanned, and only a body
	 * with something in it that GMime could not read is corrupt. A
	 * message with nothing to scan (empty parts, empty multiparts) is not.
	 */
	if (mw.parts == 0 && !mw.stopped && nmsg <= 1 && map) {
		if (mw.mended) {
			struct stat ms;
			unsigned char *mm = NULL;

			if (fstat(src, &ms) == 0 && ms.st_size > 0 &&
			    (mm = mmap(NULL, (size_t)ms.st_size, PROT_READ, MAP_PRIVATE, src, 0)) !=
			        MAP_FAILED) {
				content = raw_body(&mw, mm, (size_t)ms.st_size, nmsg > 0);
				munmap(mm, (size_t)ms.st_size);
			}
		} else {
			content = raw_body(&mw, map + start, len, nmsg > 0);
		}
	} else if (mw.parts == 0 && !mw.stopped && mw.crit > 0) {
		/* Not mapped, or an mbox of several: cannot tell, as before. */
		verdict_note(v, SCAN_CORRUPT, LIMIT_NONE, path, "mail: broken MIME, no part read");
	}
	/* GMime's complaints about a body that was scanned raw are not corrupt. */
	if (nmsg == 0 && content)
		verdict_note(v, SCAN_CORRUPT, LIMIT_NONE, path, "mail: no message could be parsed");
	log_debug("mailwalk path=%s messages=%u parts=%u critical=%u mended=%d", path, nmsg,
	          mw.parts, mw.crit, mw.mended);

	if (mended >= 0)
		close(mended);
	if (map)
		munmap(map, maplen);
	free(mw.buf);
	return mw.stopped || mw.limited ? -1 : 0;
}

int
mailwalk_uu_fd(int fd, const char *path, const char *id_prefix, unsigned depth,
               const struct mailwalk_limits *lim, const char *tmpdir, mailwalk_cb cb, void *arg,
               struct scan_verdict *v)
{
	struct mail_body *body;
	struct stat st;
	struct mw mw;
	off_t cur;

	mailwalk_global_init();
	cur = lseek(fd, 0, SEEK_CUR);
	if (cur < 0 || fstat(fd, &st) < 0) {
		verdict_note(v, SCAN_ERROR, LIMIT_NONE, path, "uu: %s", strerror(errno));
		return -1;
	}
	mw_init(&mw, path, lim, tmpdir, cb, arg, v);
	body = mail_body_new_region(fd, NULL, (uint64_t)cur,
	                            st.st_size > cur ? (uint64_t)(st.st_size - cur) : 0,
	                            MAIL_BODY_IDENTITY, 0, tmpdir);
	uu_scan(&mw, body, id_prefix, depth);
	mail_body_free(body);
	free(mw.buf);
	return mw.stopped || mw.limited ? -1 : 0;
}

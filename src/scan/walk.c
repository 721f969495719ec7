/*
 * walk: the recursion over containers. One function (walk_node) streams a
 * node to the sink, checking the limits between chunks and teeing
 * containers into a temporary file; small functions per container kind
 * (archive, mail, uuencoded text) call it for each child. Owns the chunk
 * buffer and the temporary files of one walk; libarchive reading is in
 * archive.c, MIME in mailwalk.c, types in filetype.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scan/archive.h"
#include "scan/extract.h"
#include "scan/mailwalk.h"
#include "scan/textblocks.h"
#include "scan/sig.h"
#include "scan/walk.h"
#include "scan/zipscan.h"
#include "util/log.h"
#include "util/sanitize.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"
#include "util/sys.h"

#define WALK_SNIFF (64 * 1024) /* bytes given to filetype (ISO 9660 is told at 32 KiB) */

enum walk_halt {
	WALK_RUN = 0,
	WALK_HALT_LIMIT, /* a scan-wide limit: stop everything, not an error */
	WALK_HALT_ERROR, /* the sink failed */
};

struct walk {
	const struct walk_options *o;
	const struct walk_sink *sink;
	struct filetype *ft;
	struct scan_verdict *v;
	uint64_t total; /* bytes of nodes below the root */
	unsigned files; /* nodes started */
	uint64_t t0_ms;
	enum walk_halt halt;
	int error;          /* a SCAN_ERROR was noted */
	int root_message;   /* the next node is the root and a message (root_is_message) */
	unsigned char *buf; /* WALK_CHUNK; one node streams at a time */
};

enum src_kind {
	SRC_FILE,   /* a region of a seekable file, read with pread */
	SRC_STREAM, /* a pipe or socket, read with read */
	SRC_MEM,
	SRC_ARC,  /* the current member of an archive */
	SRC_BODY, /* a MIME part or uu block, decoded as it is read (mailbody.h) */
};

struct src {
	enum src_kind kind;
	int fd;
	uint64_t off;  /* SRC_FILE: start of the region */
	uint64_t size; /* SRC_FILE, SRC_MEM: length; others: declared or WALK_SIZE_UNKNOWN */
	uint64_t pos;
	const unsigned char *mem;
	struct arc *arc;
	struct mail_body *body;
	int err;     /* errno of a failed read (SRC_FILE, SRC_STREAM, SRC_BODY) */
	int uu_done; /* a text part whose uu blocks mailwalk handed on already */
	int raw;     /* the one member of a compressed stream (at the stream's depth) */
	int failed;  /* reading it failed (src_failed noted why) */
	/* Encoded blocks in text (textblocks.h) are named blk_base "//"
	 * [blk_prefix "."] kind k: "m.eml//1.yenc1"; NULL: the node's path. */
	const char *blk_base, *blk_prefix;
	int declared_text; /* a MIME part declared text/... */
	int shared;        /* a region of a file holding more: spool it to open it */
	int no_mail;       /* a message's raw body that mailwalk read already */
};

/* A mail or uu container whose parts come back through walk_part_cb. */
struct walk_parts {
	struct walk *w;
	const char *path;
	unsigned depth;
};

static void walk_node(struct walk *w, struct src *s, const char *path, const char *name,
                      unsigned depth);

/* The name of the one member of a compressed stream: the container's name
 * without its compression suffix ("a.exe.gz" -> "a.exe", "a.tgz" -> "a.tar"). */
static char *
raw_member_name(const char *container)
{
	static const struct {
		const char *suffix, *repl;
	} sfx[] = {
	    {".tgz", ".tar"},  {".tbz2", ".tar"}, {".tbz", ".tar"}, {".txz", ".tar"},
	    {".tzst", ".tar"}, {".gz", ""},       {".gzip", ""},    {".bz2", ""},
	    {".bz", ""},       {".xz", ""},       {".lzma", ""},    {".zst", ""},
	    {".zstd", ""},     {".lz", ""},       {".lz4", ""},     {".z", ""},
	};
	const char *base = strrchr(container, '/');
	size_t bl;

	base = base ? base + 1 : container;
	bl = strlen(base);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t sl = strlen(sfx[i].suffix);

		if (bl > sl && strcasecmp(base + bl - sl, sfx[i].suffix) == 0)
			return xasprintf("%.*s%s", (int)(bl - sl), base, sfx[i].repl);
	}
	return xstrdup(bl ? base : "data");
}

/* Records a finding in the verdict and logs it at debug. */
static void
note(struct walk *w, enum scan_status st, enum scan_limit l, const char *path, const char *what)
{
	verdict_note(w->v, st, l, path, "%s", what);
	if (st == SCAN_LIMIT)
		log_debug("walk limit=%s path=%s", scan_limit_name(l), path);
	else
		log_debug("walk status=%s path=%s reason=%.100s", scan_status_name(st), path, what);
	if (st == SCAN_ERROR)
		w->error = 1;
}

/* True (and noted, and the walk halted) once max_time_ms has passed. */
static int
time_up(struct walk *w, const char *path)
{
	uint64_t max = w->o->limits.max_time_ms;

	if (max == 0 || monotonic_ms() - w->t0_ms <= max)
		return 0;
	note(w, SCAN_LIMIT, LIMIT_TIME, path, "scan took too long");
	w->halt = WALK_HALT_LIMIT;
	return 1;
}

/* Reads up to len bytes of the node: bytes read, 0 at its end, -1 on error. */
static ssize_t
src_read(struct src *s, void *buf, size_t len)
{
	ssize_t n;

	switch (s->kind) {
	case SRC_FILE:
		if (s->pos >= s->size)
			return 0;
		if (len > s->size - s->pos)
			len = (size_t)(s->size - s->pos);
		do
			n = pread(s->fd, buf, len, (off_t)(s->off + s->pos));
		while (n < 0 && errno == EINTR);
		break;
	case SRC_STREAM:
		do
			n = read(s->fd, buf, len);
		while (n < 0 && errno == EINTR);
		break;
	case SRC_MEM:
		if (len > s->size - s->pos)
			len = (size_t)(s->size - s->pos);
		memcpy(buf, s->mem + s->pos, len);
		n = (ssize_t)len;
		break;
	case SRC_ARC:
		return arc_read(s->arc, buf, len);
	case SRC_BODY:
		n = mail_body_read(s->body, buf, len);
		break;
	default:
		return -1;
	}
	if (n < 0)
		s->err = errno;
	else
		s->pos += (uint64_t)n;
	return n;
}

/* Reads until len bytes or the end: bytes read, or -1 if nothing could be. */
static ssize_t
src_fill(struct src *s, unsigned char *buf, size_t len, int *failed)
{
	size_t got = 0;

	*failed = 0;
	while (got < len) {
		ssize_t n = src_read(s, buf + got, len - got);

		if (n < 0) {
			*failed = 1;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * The next up to WALK_CHUNK bytes of the node in *p: in place for memory,
 * else read into w->buf. As src_fill. (Mapping files instead of pread
 * was measured on 1.1 GB: no less CPU, since the scan then takes the
 * cache misses the copy took, and more resident memory.)
 */
static ssize_t
src_next(struct walk *w, struct src *s, const unsigned char **p, int *failed)
{
	ssize_t n;

	*failed = 0;
	if (s->kind == SRC_MEM) {
		n = (ssize_t)(s->size - s->pos < WALK_CHUNK ? s->size - s->pos : WALK_CHUNK);
		*p = s->mem + s->pos;
		s->pos += (uint64_t)n;
		return n;
	}
	*p = w->buf;
	return src_fill(s, w->buf, WALK_CHUNK, failed);
}

/* Notes why the source could not be read further. */
static void
src_failed(struct walk *w, struct src *s, const char *path)
{
	char *why;

	s->failed = 1;
	if (s->kind == SRC_ARC) {
		if (arc_error_encrypted(s->arc)) {
			note(w, SCAN_ENCRYPTED, LIMIT_NONE, path, arc_error(s->arc));
		} else {
			why = xasprintf("cannot unpack: %s", arc_error(s->arc));
			note(w, SCAN_CORRUPT, LIMIT_NONE, path, why);
			free(why);
		}
		return;
	}
	why = xasprintf("read: %s", strerror(s->err));
	note(w, SCAN_ERROR, LIMIT_NONE, path, why);
	free(why);
}

/*
 * mailwalk_cb: walks one decoded MIME part or uu block as a child node,
 * straight from its body: a part that is not a container is decoded and
 * matched in one pass; a container is spooled by walk_node as it is fed.
 */
static int
walk_part_cb(void *arg, const struct mail_part *part, struct mail_body *body)
{
	struct walk_parts *wp = arg;
	struct walk *w = wp->w;
	struct src s;
	char *path;

	if (w->halt)
		return -1;
	if (part->filename)
		path = xasprintf("%s//%s/%s", wp->path, part->id, part->filename);
	else
		path = xasprintf("%s//%s", wp->path, part->id);
	memset(&s, 0, sizeof(s));
	s.kind = SRC_BODY;
	s.fd = -1;
	s.body = body;
	s.size = mail_body_size(body);
	/* mailwalk looks for uu blocks in text parts itself (ids "N.uuK"). */
	s.uu_done = !part->is_uu && strncasecmp(part->content_type, "text/", 5) == 0;
	s.declared_text = s.uu_done;
	s.blk_base = wp->path;
	s.blk_prefix = part->id;
	s.no_mail = part->is_raw;
	walk_node(w, &s, path, part->filename ? part->filename : part->id,
	          wp->depth + 1 + part->depth);
	free(path);
	return w->halt ? -1 : 0;
}

/* The walker's side of one container opened by an extractor (extract.h). */
struct extract_ctx {
	struct walk *w;
	const char *path;
	unsigned depth;
	unsigned idx; /* children handed so far */
};

/* Walks one child of an extracted container read from s. */
static int
extract_child(struct extract_ctx *x, const char *name, struct src *s)
{
	struct walk *w = x->w;
	char elem[WALK_NAME_MAX + 1];
	char *child;

	if (w->halt || time_up(w, x->path))
		return -1;
	x->idx++;
	sanitize(name, elem, sizeof(elem), SAN_NAME);
	if (elem[0] == '\0')
		snprintf(elem, sizeof(elem), "#%u", x->idx);
	child = xasprintf("%s//%s", x->path, elem);
	walk_node(w, s, child, elem, x->depth + 1);
	free(child);
	return w->halt ? -1 : 0;
}

int
extract_child_fd(struct extract_ctx *x, const char *name, int fd, uint64_t off, uint64_t size)
{
	struct src s;

	memset(&s, 0, sizeof(s));
	s.kind = SRC_FILE;
	s.fd = fd;
	s.off = off;
	s.size = size;
	return extract_child(x, name, &s);
}

int
extract_child_mem(struct extract_ctx *x, const char *name, const void *buf, size_t len)
{
	struct src s;

	memset(&s, 0, sizeof(s));
	s.kind = SRC_MEM;
	s.fd = -1;
	s.mem = buf;
	s.size = len;
	return extract_child(x, name, &s);
}

void
extract_note(struct extract_ctx *x, enum scan_status st, enum scan_limit l, const char *name,
             const char *fmt, ...)
{
	char elem[WALK_NAME_MAX + 1];
	char *what, *where = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	if (name) {
		sanitize(name, elem, sizeof(elem), SAN_NAME);
		where = xasprintf("%s//%s", x->path, elem[0] ? elem : "-");
	}
	note(x->w, st, l, where ? where : x->path, what);
	free(where);
	free(what);
}

uint64_t
extract_max_child(const struct extract_ctx *x)
{
	return x->w->o->limits.max_file_size;
}

unsigned
extract_max_ratio(const struct extract_ctx *x)
{
	return x->w->o->limits.max_ratio;
}

unsigned
extract_max_objects(const struct extract_ctx *x)
{
	return x->w->o->limits.max_doc_objects;
}

const char *
extract_tmpdir(const struct extract_ctx *x)
{
	return x->w->o->tmpdir;
}

int
extract_stopped(struct extract_ctx *x)
{
	return x->w->halt != WALK_RUN || time_up(x->w, x->path);
}

/* Walks every regular member of the archive in [off, off + size) of fd. */
static void
walk_archive(struct walk *w, const struct file_type *t, int fd, uint64_t off, uint64_t size,
             const char *path, const char *name, unsigned depth)
{
	char elem[WALK_NAME_MAX + 1];
	unsigned char magic[4];
	struct zip_seen seen = {NULL, 0, 0};
	int zip = size >= 4 && pread(fd, magic, 4, (off_t)off) == 4 && memcmp(magic, "PK", 2) == 0;
	unsigned idx = 0;
	struct arc *a;

	/* A zip too short for one local header holds no member to hide
	 * anything in; its bytes were matched as they are. */
	if (zip && size < ZIP_LOCAL_HEADER_SIZE)
		return;
	a = arc_open(fd, off, size, filetype_is_compressed_stream(t));

	while (!w->halt && !time_up(w, path)) {
		struct arc_member m;
		char *child, *why;
		int r = arc_next(a, &m);

		if (r == ARC_END)
			break;
		if (r == ARC_FATAL || r == ARC_BAD) {
			if (arc_error_encrypted(a)) {
				note(w, SCAN_ENCRYPTED, LIMIT_NONE, path, arc_error(a));
			} else {
				why = xasprintf("%s: %s", arc_format_name(a), arc_error(a));
				note(w, SCAN_CORRUPT, LIMIT_NONE, path, why);
				free(why);
			}
			if (r == ARC_FATAL)
				break;
			continue;
		}
		idx++;
		if (!m.is_file)
			continue;
		/* Methods libarchive lacks and zipscan has: left to zipscan below. */
		if (zip && zip_method_is_ours(arc_format_name(a)))
			continue;
		if (m.raw) {
			char *rn = raw_member_name(name);

			sanitize(rn, elem, sizeof(elem), SAN_NAME);
			free(rn);
		} else {
			sanitize(m.name, elem, sizeof(elem), SAN_NAME);
		}
		if (elem[0] == '\0')
			snprintf(elem, sizeof(elem), "#%u", idx);
		child = xasprintf("%s//%s", path, elem);
		if (m.encrypted) {
			note(w, SCAN_ENCRYPTED, LIMIT_NONE, child, "encrypted member");
			if (zip)
				zip_seen_add(&seen, m.name);
		} else {
			struct src s;

			memset(&s, 0, sizeof(s));
			s.kind = SRC_ARC;
			s.arc = a;
			s.size = m.size == ARC_SIZE_UNKNOWN ? WALK_SIZE_UNKNOWN : m.size;
			s.raw = m.raw;
			walk_node(w, &s, child, elem, m.raw ? depth : depth + 1);
			/* One libarchive could not read is zipscan's to try. */
			if (zip && !s.failed)
				zip_seen_add(&seen, m.name);
		}
		free(child);
	}
	arc_free(a);
	/* Local entries the central directory hides or libarchive could not read. */
	if (zip && !w->halt) {
		struct extract_ctx x = {w, path, depth, idx};

		zipscan(&x, fd, off, size, &seen);
	}
	zip_seen_clear(&seen);
}

/* Opens the container held in [off, off + size) of fd and walks its children. */
static void
walk_container(struct walk *w, const struct file_type *t, int fd, uint64_t off, uint64_t size,
               const char *path, const char *name, unsigned depth)
{
	const struct walk_limits *l = &w->o->limits;
	struct mailwalk_limits ml;
	struct walk_parts wp = {w, path, depth};

	if (t->container == CONT_ARCHIVE) {
		walk_archive(w, t, fd, off, size, path, name, depth);
		return;
	}
	if (t->container == CONT_EXTRACT) {
		struct extract_ctx x = {w, path, depth, 0};
		extract_fn fn = extract_for(t->extract);

		if (fn)
			fn(&x, fd, off, size);
		return;
	}
	if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
		note(w, SCAN_ERROR, LIMIT_NONE, path, "lseek failed");
		return;
	}
	ml.max_parts = l->max_mail_parts ? l->max_mail_parts : l->max_files;
	ml.max_part_bytes = l->max_file_size;
	/* Parts of a message nested k deep sit at depth + 1 + k. */
	ml.max_depth = (l->max_depth ? l->max_depth : WALK_DEPTH_HARD) - depth;
	if (t->container == CONT_MAIL)
		mailwalk_mend_fd(fd, path, &ml, &w->o->mail_norm, w->o->tmpdir, walk_part_cb, &wp,
		                 w->v);
}

/*
 * A collector of encoded blocks for a node that is text (by content, BinHex
 * included, by its MIME part's declared type, or holding a =ybegin line),
 * or NULL.
 */
static struct tb_collect *
text_blocks_open(struct walk *w, const struct src *s, const struct file_type *t,
                 const unsigned char *p, size_t sniff)
{
	const struct walk_limits *l = &w->o->limits;
	struct tb_options o;
	struct tb_limits tl;

	if (w->o->no_text_blocks || t->container == CONT_MAIL || t->container == CONT_ARCHIVE)
		return NULL;
	if (strncasecmp(t->mime, "text/", 5) != 0 && strncasecmp(t->mime, "message/", 8) != 0 &&
	    strcasecmp(t->mime, "application/mac-binhex40") != 0 && !s->declared_text &&
	    memmem(p, sniff, "=ybegin ", 8) == NULL)
		return NULL;
	memset(&o, 0, sizeof(o));
	o.no_uu = s->uu_done;
	/* A message's raw body (no part GMime could read) holds no entity it can. */
	o.no_mime = s->no_mail;
	o.b64_min = l->text_b64_min;
	memset(&tl, 0, sizeof(tl));
	tl.max_blocks = l->text_max_blocks;
	tl.max_text = l->text_max_bytes;
	tl.max_block = l->max_file_size;
	tl.max_total = l->max_total_bytes;
	tl.max_ratio = l->max_ratio;
	return tbc_new(&o, &tl, w->o->tmpdir);
}

/* Walks the blocks found in the text node at path as its children. */
static void
text_blocks_walk(struct walk *w, struct tb_collect *tb, const struct src *parent, const char *path,
                 unsigned depth)
{
	const char *base = parent->blk_base ? parent->blk_base : path;
	const char *pre = parent->blk_base ? parent->blk_prefix : NULL;

	if (tbc_finish(tb) < 0)
		note(w, SCAN_ERROR, LIMIT_NONE, path, tbc_error(tb));
	if (tbc_limit(tb) != LIMIT_NONE)
		note(w, SCAN_LIMIT, tbc_limit(tb), path,
		     tbc_limit(tb) == LIMIT_FILES ? "too many encoded blocks in text"
		                                  : "text too large to search for encoded blocks");
	/* A block is a container's child: text in text in text stops at max_depth too. */
	if (tbc_count(tb) > 0 && ((w->o->limits.max_depth && depth >= w->o->limits.max_depth) ||
	                          depth >= WALK_DEPTH_HARD)) {
		note(w, SCAN_LIMIT, LIMIT_DEPTH, path, "encoded blocks nested too deep");
		return;
	}
	for (size_t i = 0; i < tbc_count(tb) && !w->halt; i++) {
		const struct tb_block *b = tbc_block(tb, i);
		char *id = xasprintf("%s%s%s%u", pre ? pre : "", pre ? "." : "",
		                     tb_kind_id(b->kind), b->num);
		char *child = b->name[0] ? xasprintf("%s//%s/%s", base, id, b->name)
		                         : xasprintf("%s//%s", base, id);
		struct src s;

		if (b->how != TB_END_OK)
			log_debug("walk path=%s encoded block %s", child,
			          b->how == TB_END_MISSING ? "without its end" : "damaged");
		if (b->cut != LIMIT_NONE)
			note(w, SCAN_LIMIT, b->cut, child, "encoded block too large");
		memset(&s, 0, sizeof(s));
		s.kind = SRC_FILE;
		s.fd = tbc_fd(tb);
		s.off = b->off;
		s.size = b->size;
		s.shared = 1;
		walk_node(w, &s, child, b->name[0] ? b->name : id, depth + 1);
		free(child);
		free(id);
	}
}

/*
 * Streams one node to the sink and, if it is a container within the depth
 * limit, walks its children. s is positioned at the node's first byte.
 */
static void
walk_node(struct walk *w, struct src *s, const char *path, const char *name, unsigned depth)
{
	const struct walk_limits *l = &w->o->limits;
	const struct walk_sink *k = w->sink;
	struct file_type t;
	enum scan_limit cut = LIMIT_NONE;
	uint64_t done = 0, size;
	size_t sniff;
	const unsigned char *p;
	void *node = NULL;
	size_t sfx = 0;
	struct tb_collect *tb;
	int spool = -1, recurse, failed, forced = 0;
	ssize_t n;

	if (w->halt || time_up(w, path))
		return;
	if (l->max_files && w->files >= l->max_files) {
		note(w, SCAN_LIMIT, LIMIT_FILES, path, "too many files");
		w->halt = WALK_HALT_LIMIT;
		return;
	}
	w->files++;

	n = src_next(w, s, &p, &failed);
	if (failed && n == 0) {
		src_failed(w, s, path);
		return;
	}
	sniff = (size_t)n < WALK_SNIFF ? (size_t)n : WALK_SNIFF;
	filetype_detect(w->ft, p, sniff, name, &t);
	if (w->root_message) {
		/* SMTP DATA is a message: no sniffing decides whether it is walked. */
		w->root_message = 0;
		forced = 1;
		t.container = CONT_MAIL;
		t.target_mask |= TARGET_BIT(4);
	} else if (w->o->skip_safe && filetype_may_be_safe(w->o->types, &t, name)) {
		/* A guessed type may yet be a safe one that only libmagic can name. */
		filetype_detect_magic(w->ft, p, sniff, name, &t);
	}
	if (w->o->skip_safe && !forced && filetype_is_safe(w->o->types, &t, name)) {
		log_debug("walk skip path=%s type=%s reason=safe", path, t.mime);
		return;
	}

	/* A compressed stream in a compressed stream counts (a gzip quine ends). */
	if (s->raw && filetype_is_compressed_stream(&t))
		depth++;
	/* uuencoded text is textblocks' (below), like every encoded block in text. */
	recurse = t.container != CONT_NONE && t.container != CONT_UU &&
	          !(t.container == CONT_MAIL && s->no_mail);
	/*
	 * A zip local header that nothing could type is a damaged zip: opened
	 * as one, so that what cannot be read is corrupt, not clean. A zip
	 * after other bytes (a self-extractor) is opened as a child "sfx.zip".
	 */
	if (t.container == CONT_NONE && sniff >= 4 && memcmp(p, "PK\3\4", 4) == 0) {
		t.container = CONT_ARCHIVE;
		recurse = 1;
	} else if (t.container == CONT_NONE && strncmp(t.mime, "text/", 5) != 0 &&
	           (sfx = zip_find_embedded(p, sniff)) > 0) {
		recurse = 1;
	}
	if (recurse && ((l->max_depth && depth >= l->max_depth) || depth >= WALK_DEPTH_HARD)) {
		note(w, SCAN_LIMIT, LIMIT_DEPTH, path, "containers nested too deep");
		recurse = 0;
	}
	if (recurse && (s->kind != SRC_FILE || s->shared)) {
		spool = tmpfd_open_for(w->o->tmpdir, s->size);
		if (spool < 0) {
			char *why = xasprintf("temporary file: %s", strerror(errno));

			note(w, SCAN_ERROR, LIMIT_NONE, path, why);
			free(why);
			recurse = 0;
		}
	}

	size = s->size;
	if (l->max_file_size && size != WALK_SIZE_UNKNOWN && size > l->max_file_size)
		size = WALK_SIZE_UNKNOWN;
	node = k->open(k->arg, path, &t, size);
	tb = text_blocks_open(w, s, &t, p, sniff);

	while (n > 0) {
		if (l->max_file_size && done + (uint64_t)n > l->max_file_size) {
			n = (ssize_t)(l->max_file_size - done);
			cut = LIMIT_FILE_SIZE;
		}
		if (depth > 0 && l->max_total_bytes &&
		    w->total + (uint64_t)n > l->max_total_bytes) {
			n = (ssize_t)(l->max_total_bytes - w->total);
			cut = LIMIT_TOTAL_BYTES;
		}
		if (n > 0 && node && k->feed(node, p, (size_t)n) < 0) {
			note(w, SCAN_ERROR, LIMIT_NONE, path, "scan backend failed");
			w->halt = WALK_HALT_ERROR;
			break;
		}
		if (n > 0 && tb && tbc_push(tb, p, (size_t)n) < 0) {
			note(w, SCAN_ERROR, LIMIT_NONE, path, tbc_error(tb));
			tbc_free(tb);
			tb = NULL;
		}
		if (n > 0 && spool >= 0 && write_all(spool, p, (size_t)n) < 0) {
			char *why = xasprintf("temporary file: %s", strerror(errno));

			note(w, SCAN_ERROR, LIMIT_NONE, path, why);
			free(why);
			close(spool);
			spool = -1;
			recurse = 0;
		}
		done += (uint64_t)n;
		if (depth > 0)
			w->total += (uint64_t)n;
		if (cut != LIMIT_NONE)
			break;
		if (s->kind == SRC_ARC && l->max_ratio && done >= WALK_RATIO_FLOOR &&
		    done / arc_member_packed(s->arc) > l->max_ratio) {
			cut = LIMIT_RATIO;
			break;
		}
		if (failed) {
			src_failed(w, s, path);
			break;
		}
		if (time_up(w, path)) {
			recurse = 0;
			break;
		}
		n = src_next(w, s, &p, &failed);
		if (failed && n == 0) {
			src_failed(w, s, path);
			break;
		}
	}
	if (cut != LIMIT_NONE) {
		note(w, SCAN_LIMIT, cut, path,
		     cut == LIMIT_FILE_SIZE     ? "file too large"
		     : cut == LIMIT_TOTAL_BYTES ? "too many bytes unpacked"
		                                : "compression ratio too high");
		recurse = 0;
		if (cut == LIMIT_TOTAL_BYTES)
			w->halt = WALK_HALT_LIMIT;
	}
	if (node && k->close(node, w->v, path) < 0 && w->halt != WALK_HALT_ERROR) {
		note(w, SCAN_ERROR, LIMIT_NONE, path, "scan backend failed");
		w->halt = WALK_HALT_ERROR;
	}
	/* A container cut short by damage is still opened: what is readable counts. */
	if (recurse && !w->halt && sfx > 0 && done > sfx) {
		struct src c;
		char *child = xasprintf("%s//sfx.zip", path);

		memset(&c, 0, sizeof(c));
		c.kind = SRC_FILE;
		c.fd = spool >= 0 ? spool : s->fd;
		c.off = (spool >= 0 ? 0 : s->off) + sfx;
		c.size = done - sfx;
		walk_node(w, &c, child, "sfx.zip", depth + 1);
		free(child);
	} else if (recurse && !w->halt) {
		if (spool >= 0)
			walk_container(w, &t, spool, 0, done, path, name, depth);
		else
			walk_container(w, &t, s->fd, s->off, s->size, path, name, depth);
	}
	if (spool >= 0)
		close(spool);
	if (tb && !w->halt)
		text_blocks_walk(w, tb, s, path, depth);
	tbc_free(tb);
}

void
walk_root_name(const char *name, char *out, size_t cap)
{
	/* A caller's absolute path keeps its leading '/'; members' names do not. */
	if (name && name[0] == '/') {
		out[0] = '/';
		sanitize(name, out + 1, cap - 1, SAN_NAME);
	} else {
		sanitize(name, out, cap, SAN_NAME);
	}
	if (out[0] == '\0')
		snprintf(out, cap, "-");
}

/* Sets up one walk and walks the root node from s. */
static int
walk_root(const struct walk_options *o, const struct walk_sink *sink, struct filetype *ft,
          struct src *s, const char *name, struct scan_verdict *v)
{
	char root[WALK_ROOT_NAME_MAX];
	struct walk w;

	mailwalk_global_init();
	memset(&w, 0, sizeof(w));
	w.o = o;
	w.sink = sink;
	w.ft = ft;
	w.v = v;
	w.t0_ms = monotonic_ms();
	w.root_message = o->root_is_message;
	w.buf = xmalloc(WALK_CHUNK);
	walk_root_name(name, root, sizeof(root));
	walk_node(&w, s, root, root, 0);
	free(w.buf);
	return w.error || w.halt == WALK_HALT_ERROR ? -1 : 0;
}

int
walk_fd(const struct walk_options *o, const struct walk_sink *sink, struct filetype *ft, int fd,
        const char *name, struct scan_verdict *v)
{
	struct src s;
	struct stat st;
	off_t cur;

	memset(&s, 0, sizeof(s));
	s.fd = fd;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (cur = lseek(fd, 0, SEEK_CUR)) >= 0) {
		s.kind = SRC_FILE;
		s.off = (uint64_t)cur;
		s.size = st.st_size > cur ? (uint64_t)(st.st_size - cur) : 0;
	} else {
		s.kind = SRC_STREAM;
		s.size = WALK_SIZE_UNKNOWN;
	}
	return walk_root(o, sink, ft, &s, name, v);
}

int
walk_mem(const struct walk_options *o, const struct walk_sink *sink, struct filetype *ft,
         const void *buf, size_t len, const char *name, struct scan_verdict *v)
{
	struct src s;

	memset(&s, 0, sizeof(s));
	s.kind = SRC_MEM;
	s.fd = -1;
	s.mem = buf;
	s.size = len;
	return walk_root(o, sink, ft, &s, name, v);
}

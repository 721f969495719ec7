/*
 * textblocks: the finder of encoded blocks in text (see textblocks.h) and
 * the walker's collector over it. Line markers (yEnc, BinHex, a MIME
 * boundary) are looked for at each line end; uuencoding by uudecode.h's own
 * parser, fed the same bytes; base64 runs byte by byte, so a run on a line
 * of any length is found. Decoding is GMime's (yEnc, base64), uudecode.h's
 * and binhex.h's. Owns its line buffer and sub-parsers; the collector owns
 * one temporary file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "scan/binhex.h"
#include "scan/textblocks.h"
#include "scan/uudecode.h"
#include "util/sys.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"

#define TB_OUT 4096     /* decoded bytes handed on at a time, at most */
#define TB_B64_SHORT 16 /* a run shorter than this at a line end is dropped */
#define TB_HQX_MARK "(This file must be converted with BinHex"

enum tb_state {
	TS_OUT = 0,  /* plain text (uudec may be inside a uu block: uu_open) */
	TS_YENC,     /* between =ybegin and =yend */
	TS_HQX_WAIT, /* after the BinHex line, before the ':' */
	TS_HQX,      /* BinHex characters */
	TS_MIME,     /* from a boundary line to the end */
};

enum y_line { Y_UNDECIDED = 0, Y_DATA, Y_CONTROL };

struct textblocks {
	struct tb_options o;
	const struct tb_ops *ops;
	void *arg;
	enum tb_state state;
	int stopped;
	int open;        /* a block was begun and not ended (reported or, for no_uu, silent) */
	int silent;      /* the open block is not reported */
	uint64_t blk_in; /* text bytes pushed, in total */
	/* the current line */
	char line[TB_LINE_MAX];
	size_t llen;
	uint64_t ltotal;
	int skip_line; /* the rest of this line is not looked at */
	/* uu */
	struct uudec *uu;
	int uu_open;
	/* yEnc */
	enum y_line ymode;
	int ystate;
	guint32 pcrc, crc;
	uint64_t ygot;
	/* BinHex */
	struct hqx *hqx;
	char hqx_name[HQX_NAME_MAX + 6];
	/* MIME: a boundary line waiting for its header field */
	char bnd[TB_LINE_MAX + 1];
	size_t bndlen; /* 0: none */
	/* base64 */
	size_t b64_run; /* alphabet characters in the current run */
	unsigned b64_pad;
	int b64_bol;    /* the run reached a line end; the next byte decides */
	int b64_open;   /* the run was long enough: a block is open */
	char *b64_pend; /* the run's first b64_min characters */
	size_t b64_plen;
	int b64_state;
	guint32 b64_save;
	char b64_in[TB_OUT];
	size_t b64_inlen;
	unsigned char out[TB_OUT + 8];
};

/* 1: base64 alphabet; for the byte loop. */
static const unsigned char b64_class[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['+'] = 1, ['/'] = 1,
};

const char *
tb_kind_id(enum tb_kind k)
{
	static const char *const ids[TB_NKINDS] = {"uu", "yenc", "hqx", "b64-", "mime"};

	return k < TB_NKINDS ? ids[k] : "?";
}

uint64_t
tb_block_in(const struct textblocks *tb)
{
	return tb->blk_in;
}

/* Remembers that a callback asked to stop; returns -1. */
static int
stop(struct textblocks *tb)
{
	tb->stopped = 1;
	return -1;
}

static int
blk_begin(struct textblocks *tb, enum tb_kind kind, const char *name, int silent)
{
	tb->open = 1;
	tb->silent = silent;
	if (!silent && tb->ops->begin && tb->ops->begin(tb->arg, kind, name) < 0)
		return stop(tb);
	return 0;
}

static int
blk_data(struct textblocks *tb, const void *buf, size_t len)
{
	if (len == 0 || !tb->open || tb->silent)
		return 0;
	if (tb->ops->data && tb->ops->data(tb->arg, buf, len) < 0)
		return stop(tb);
	return 0;
}

static int
blk_end(struct textblocks *tb, enum tb_end how)
{
	int silent = tb->silent;

	if (!tb->open)
		return 0;
	tb->open = 0;
	tb->silent = 0;
	if (!silent && tb->ops->end && tb->ops->end(tb->arg, how) < 0)
		return stop(tb);
	return 0;
}

/* --- base64 runs --- */

/* Decodes the buffered run characters and hands the bytes on. */
static int
b64_flush(struct textblocks *tb)
{
	size_t n;

	if (tb->b64_inlen == 0)
		return 0;
	n = g_mime_encoding_base64_decode_step((const unsigned char *)tb->b64_in, tb->b64_inlen,
	                                       tb->out, &tb->b64_state, &tb->b64_save);
	tb->b64_inlen = 0;
	return blk_data(tb, tb->out, n);
}

/* One character of a run that is open: buffered for the decoder. */
static int
b64_put(struct textblocks *tb, char c)
{
	tb->b64_in[tb->b64_inlen++] = c;
	if (tb->b64_inlen == sizeof(tb->b64_in))
		return b64_flush(tb);
	return 0;
}

/* The run ends: its block, if it became one, is complete. */
static int
b64_end_run(struct textblocks *tb)
{
	int r = 0;

	if (tb->b64_open) {
		tb->b64_open = 0;
		r = b64_flush(tb);
		if (r == 0)
			r = blk_end(tb, TB_END_OK);
	}
	tb->b64_run = 0;
	tb->b64_pad = 0;
	tb->b64_bol = 0;
	tb->b64_plen = 0;
	return r;
}

/* The run reached b64_min characters: open its block with what was kept. */
static int
b64_open(struct textblocks *tb)
{
	if (blk_begin(tb, TB_B64, NULL, 0) < 0)
		return -1;
	tb->b64_open = 1;
	tb->b64_state = 0;
	tb->b64_save = 0;
	tb->b64_inlen = 0;
	for (size_t i = 0; i < tb->b64_plen; i++)
		if (b64_put(tb, tb->b64_pend[i]) < 0)
			return -1;
	tb->b64_plen = 0;
	return 0;
}

/* Adds one character (alphabet or '=') to the current run. */
static int
b64_add(struct textblocks *tb, char c)
{
	if (tb->b64_open)
		return b64_put(tb, c);
	tb->b64_pend[tb->b64_plen++] = c;
	if (c != '=' && tb->b64_run >= tb->o.b64_min)
		return b64_open(tb);
	return 0;
}

/* Feeds text bytes (plain text state) to the run finder. */
static int
b64_feed(struct textblocks *tb, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (tb->b64_bol) {
			/* A run that reached a line end goes on only on the next line's first byte.
			 */
			tb->b64_bol = 0;
			if (!b64_class[c] && b64_end_run(tb) < 0)
				return -1;
		}
		if (b64_class[c]) {
			if (tb->b64_pad > 0 && b64_end_run(tb) < 0)
				return -1;
			tb->b64_run++;
			if (b64_add(tb, (char)c) < 0)
				return -1;
		} else if (c == '=' && tb->b64_run > 0 && tb->b64_pad < 2) {
			tb->b64_pad++;
			if (b64_add(tb, '=') < 0)
				return -1;
		} else if (c == '\r') {
			continue;
		} else if (c == '\n' && tb->b64_run > 0 && tb->b64_pad == 0) {
			if (tb->b64_run < TB_B64_SHORT && !tb->b64_open) {
				if (b64_end_run(tb) < 0)
					return -1;
			} else {
				tb->b64_bol = 1;
			}
		} else if (tb->b64_run > 0 || tb->b64_pad > 0) {
			if (b64_end_run(tb) < 0)
				return -1;
		}
	}
	return 0;
}

/* --- uu (uudecode.h) --- */

static int
uu_begin(void *arg, unsigned mode, const char *name)
{
	struct textblocks *tb = arg;

	(void)mode;
	tb->uu_open = 1;
	if (b64_end_run(tb) < 0)
		return -1;
	return blk_begin(tb, TB_UU, name, tb->o.no_uu);
}

static int
uu_data(void *arg, const void *buf, size_t len)
{
	return blk_data(arg, buf, len);
}

static int
uu_end(void *arg, enum uudec_end how)
{
	struct textblocks *tb = arg;

	tb->uu_open = 0;
	return blk_end(tb, how == UUDEC_END_OK        ? TB_END_OK
	                   : how == UUDEC_END_MISSING ? TB_END_MISSING
	                                              : TB_END_DAMAGED);
}

static const struct uudec_ops tb_uu_ops = {uu_begin, uu_data, uu_end};

/* --- BinHex (binhex.h) --- */

static int
hqx_begin_cb(void *arg, enum hqx_fork which, const char *name)
{
	struct textblocks *tb = arg;

	snprintf(tb->hqx_name, sizeof(tb->hqx_name), "%s%s", name,
	         which == HQX_RSRC ? ".rsrc" : "");
	return blk_begin(tb, TB_HQX, tb->hqx_name[0] ? tb->hqx_name : NULL, 0);
}

static int
hqx_data_cb(void *arg, const void *buf, size_t len)
{
	return blk_data(arg, buf, len);
}

static int
hqx_end_cb(void *arg, enum hqx_fork_end how)
{
	return blk_end(arg, how == HQX_FORK_OK ? TB_END_OK : TB_END_DAMAGED);
}

static const struct hqx_ops tb_hqx_ops = {hqx_begin_cb, hqx_data_cb, hqx_end_cb};

/* --- yEnc --- */

/*
 * The value of key=... in a =y line (s, n bytes) copied NUL-terminated into
 * out (cap bytes), or NULL; name= runs to the end of the line.
 */
static const char *
y_param(const char *s, size_t n, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);

	for (size_t i = 0; i + kl < n; i++) {
		if ((i == 0 || s[i - 1] == ' ') && strncmp(s + i, key, kl) == 0 &&
		    s[i + kl] == '=') {
			const char *v = s + i + kl + 1;
			size_t l = n - (i + kl + 1);

			if (strcmp(key, "name") != 0) {
				size_t e = 0;

				while (e < l && v[e] != ' ')
					e++;
				l = e;
			}
			while (l > 0 && (v[l - 1] == ' ' || v[l - 1] == '\t'))
				l--;
			if (l >= cap)
				l = cap - 1;
			memcpy(out, v, l);
			out[l] = '\0';
			return out;
		}
	}
	return NULL;
}

static int
y_start(struct textblocks *tb, const char *s, size_t n)
{
	char name[TB_LINE_MAX + 1];

	if (y_param(s, n, "name", name, sizeof(name)) == NULL)
		name[0] = '\0';
	tb->state = TS_YENC;
	tb->ystate = GMIME_YDECODE_STATE_INIT;
	tb->pcrc = GMIME_YENCODE_CRC_INIT;
	tb->crc = GMIME_YENCODE_CRC_INIT;
	tb->ygot = 0;
	return blk_begin(tb, TB_YENC, name[0] ? name : NULL, 0);
}

/* Decodes yEnc data bytes (CR and LF skipped). */
static int
y_feed(struct textblocks *tb, const unsigned char *s, size_t n)
{
	unsigned char in[TB_OUT];
	size_t k = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || k == sizeof(in)) {
			size_t got =
			    g_mime_ydecode_step(in, k, tb->out, &tb->ystate, &tb->pcrc, &tb->crc);

			tb->ygot += got;
			if (blk_data(tb, tb->out, got) < 0)
				return -1;
			k = 0;
			if (i == n)
				break;
		}
		if (s[i] != '\r' && s[i] != '\n')
			in[k++] = s[i];
	}
	return 0;
}

/* A `=y` line inside a yEnc block. */
static int
y_control(struct textblocks *tb, const char *s, size_t n)
{
	if (n >= 5 && strncmp(s, "=yend", 5) == 0) {
		enum tb_end how = TB_END_OK;
		char v[32], tmp[32];
		int part = y_param(s, n, "part", tmp, sizeof(tmp)) != NULL;

		/* A part's own size and CRC when it is a part, else the file's. */
		if (!part && y_param(s, n, "size", v, sizeof(v)) &&
		    strtoull(v, NULL, 10) != tb->ygot)
			how = TB_END_DAMAGED;
		/* The CRC of what was decoded: pcrc32, or crc32 of a file in one part. */
		if (y_param(s, n, "pcrc32", v, sizeof(v)) ||
		    (!part && y_param(s, n, "crc32", v, sizeof(v)))) {
			guint32 pcrc = tb->pcrc;
			guint32 have = GMIME_YENCODE_CRC_FINAL(pcrc);

			if ((guint32)strtoul(v, NULL, 16) != have)
				how = TB_END_DAMAGED;
		}
		tb->state = TS_OUT;
		return blk_end(tb, how);
	}
	if (n >= 8 && strncmp(s, "=ybegin ", 8) == 0) {
		if (blk_end(tb, TB_END_MISSING) < 0)
			return -1;
		return y_start(tb, s, n);
	}
	return 0; /* =ypart and others */
}

/* --- line markers --- */

/* A line that could be a MIME boundary: "--" and 1..TB_BOUNDARY_MAX printable bytes. */
static int
is_boundary(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n < 3 || n - 2 > TB_BOUNDARY_MAX || s[0] != '-' || s[1] != '-')
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* A MIME header field line: Content-xxx: or MIME-Version:. */
static int
is_mime_field(const char *s, size_t n)
{
	size_t i;

	if (n > 13 && strncasecmp(s, "MIME-Version:", 13) == 0)
		return 1;
	if (n < 9 || strncasecmp(s, "Content-", 8) != 0)
		return 0;
	for (i = 8; i < n && s[i] != ':'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return 0;
	return i > 8 && i < n;
}

/* Opens the MIME block: the header naming the boundary, the boundary line, this field. */
static int
mime_start(struct textblocks *tb, const char *field, size_t flen)
{
	char hdr[2 * TB_LINE_MAX + 128];
	size_t n = 0, bl = tb->bndlen;
	const char *b = tb->bnd + 2;

	while (bl > 0 && (tb->bnd[bl - 1] == '\n' || tb->bnd[bl - 1] == '\r' ||
	                  tb->bnd[bl - 1] == ' ' || tb->bnd[bl - 1] == '\t'))
		bl--;
	n += (size_t)snprintf(hdr, sizeof(hdr),
	                      "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"");
	for (size_t i = 0; i + 2 < bl; i++) {
		if (b[i] == '"' || b[i] == '\\')
			hdr[n++] = '\\';
		hdr[n++] = b[i];
	}
	memcpy(hdr + n, "\"\n\n", 3);
	n += 3;
	tb->state = TS_MIME;
	if (blk_begin(tb, TB_MIME, NULL, 0) < 0 || blk_data(tb, hdr, n) < 0 ||
	    blk_data(tb, tb->bnd, tb->bndlen) < 0 || blk_data(tb, field, flen) < 0 ||
	    blk_data(tb, "\n", 1) < 0)
		return -1;
	tb->bndlen = 0;
	return 0;
}

/* A whole line in plain text (s, n: without the line end; toolong if cut). */
static int
out_line(struct textblocks *tb, const char *s, size_t n, int toolong)
{
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (tb->bndlen > 0) {
		if (!toolong && !tb->o.no_mime && is_mime_field(s, n))
			return mime_start(tb, s, n);
		tb->bndlen = 0;
	}
	if (toolong)
		return 0;
	if (n >= 8 && strncmp(s, "=ybegin ", 8) == 0) {
		if (b64_end_run(tb) < 0)
			return -1;
		return y_start(tb, s, n);
	}
	if (n >= strlen(TB_HQX_MARK) && strncmp(s, TB_HQX_MARK, strlen(TB_HQX_MARK)) == 0) {
		if (b64_end_run(tb) < 0)
			return -1;
		tb->state = TS_HQX_WAIT;
		return 0;
	}
	if (is_boundary(s, n)) {
		memcpy(tb->bnd, s, n);
		tb->bnd[n] = '\n';
		tb->bndlen = n + 1;
	}
	return 0;
}

/* Starts a new line. */
static void
line_reset(struct textblocks *tb)
{
	tb->llen = 0;
	tb->ltotal = 0;
	tb->skip_line = 0;
	tb->ymode = Y_UNDECIDED;
}

/* Keeps the first TB_LINE_MAX bytes of the line (without its LF). */
static void
line_add(struct textblocks *tb, const char *s, size_t n)
{
	size_t take = n;

	if (take > 0 && s[take - 1] == '\n')
		take--;
	if (tb->llen < sizeof(tb->line)) {
		size_t room = sizeof(tb->line) - tb->llen;

		memcpy(tb->line + tb->llen, s, take < room ? take : room);
		tb->llen += take < room ? take : room;
	}
	tb->ltotal += take;
}

/* A piece of a line in the yEnc state (eol: it ends the line). */
static int
y_piece(struct textblocks *tb, const char *s, size_t n, int eol)
{
	size_t before = tb->llen;

	line_add(tb, s, n);
	if (tb->ymode == Y_UNDECIDED && (tb->ltotal >= 2 || eol)) {
		if (tb->llen >= 2 && tb->line[0] == '=' && tb->line[1] == 'y') {
			tb->ymode = Y_CONTROL;
		} else {
			tb->ymode = Y_DATA;
			/* The first byte may have come in an earlier piece. */
			if (y_feed(tb, (const unsigned char *)tb->line, before) < 0)
				return -1;
			if (y_feed(tb, (const unsigned char *)s, n) < 0)
				return -1;
		}
	} else if (tb->ymode == Y_DATA && y_feed(tb, (const unsigned char *)s, n) < 0) {
		return -1;
	}
	if (eol) {
		int r = 0;

		if (tb->ymode == Y_CONTROL)
			r = y_control(tb, tb->line,
			              tb->llen > 0 && tb->line[tb->llen - 1] == '\r' ? tb->llen - 1
			                                                             : tb->llen);
		line_reset(tb);
		return r;
	}
	return 0;
}

/* A piece in plain text: base64 runs, uu, and line markers at its end. */
static int
out_piece(struct textblocks *tb, const char *s, size_t n, int eol)
{
	if (!tb->uu_open && b64_feed(tb, (const unsigned char *)s, n) < 0)
		return -1;
	line_add(tb, s, n);
	if (uudec_push(tb->uu, s, n) < 0)
		return -1;
	if (eol) {
		int r = 0;

		if (!tb->uu_open && !tb->skip_line)
			r = out_line(tb, tb->line, tb->llen, tb->ltotal > tb->llen);
		line_reset(tb);
		return r;
	}
	return 0;
}

/* BinHex characters; what follows the closing ':' on its line is skipped. */
static int
hqx_piece(struct textblocks *tb, const char *s, size_t n, int eol)
{
	size_t used = 0;
	enum hqx_status st = hqx_push(tb->hqx, s, n, &used);

	if (st == HQX_STOP)
		return stop(tb);
	if (st != HQX_MORE) {
		hqx_free(tb->hqx);
		tb->hqx = NULL;
		tb->state = TS_OUT;
		tb->skip_line = 1;
	}
	if (eol) {
		line_reset(tb);
		if (tb->state == TS_HQX)
			tb->skip_line = 0;
	}
	return 0;
}

/* One piece of the input: part of a line, or a line with its LF (eol). */
static int
piece(struct textblocks *tb, const char *s, size_t n, int eol)
{
	tb->blk_in += n;
	switch (tb->state) {
	case TS_MIME:
		return blk_data(tb, s, n);
	case TS_YENC:
		return y_piece(tb, s, n, eol);
	case TS_HQX:
		return hqx_piece(tb, s, n, eol);
	case TS_HQX_WAIT:
		for (size_t i = 0; i < n; i++) {
			if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
				continue;
			if (s[i] == ':' && tb->ltotal == 0) {
				tb->state = TS_HQX;
				tb->hqx = hqx_new(&tb_hqx_ops, tb);
				return hqx_piece(tb, s + i + 1, n - i - 1, eol);
			}
			tb->state = TS_OUT;
			break;
		}
		if (tb->state == TS_HQX_WAIT) {
			if (eol)
				line_reset(tb);
			return 0;
		}
		return out_piece(tb, s, n, eol);
	case TS_OUT:
	default:
		if (tb->skip_line) {
			/* the rest of the line that closed a BinHex block */
			if (eol)
				line_reset(tb);
			return 0;
		}
		return out_piece(tb, s, n, eol);
	}
}

struct textblocks *
tb_new(const struct tb_options *o, const struct tb_ops *ops, void *arg)
{
	struct textblocks *tb = xcalloc(1, sizeof(*tb));

	if (o)
		tb->o = *o;
	if (tb->o.b64_min == 0)
		tb->o.b64_min = TB_B64_MIN_DEFAULT;
	if (tb->o.b64_min < TB_B64_MIN_LOW)
		tb->o.b64_min = TB_B64_MIN_LOW;
	tb->b64_pend = xmalloc(tb->o.b64_min + 4);
	tb->ops = ops;
	tb->arg = arg;
	tb->uu = uudec_new(&tb_uu_ops, tb);
	return tb;
}

void
tb_free(struct textblocks *tb)
{
	if (tb == NULL)
		return;
	uudec_free(tb->uu);
	hqx_free(tb->hqx);
	free(tb->b64_pend);
	free(tb);
}

int
tb_push(struct textblocks *tb, const void *buf, size_t len)
{
	const char *p = buf, *end = p + len;

	if (tb->stopped)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl + 1 : end;

		if (piece(tb, p, (size_t)(e - p), nl != NULL) < 0 || tb->stopped)
			return stop(tb);
		p = e;
	}
	return 0;
}

int
tb_finish(struct textblocks *tb)
{
	if (tb->stopped)
		return -1;
	/* A last line without its LF is a line all the same. */
	if (tb->ltotal > 0 && piece(tb, "\n", 1, 1) < 0)
		return stop(tb);
	if (uudec_finish(tb->uu) < 0)
		return stop(tb);
	if (tb->state == TS_HQX && tb->hqx) {
		if (hqx_finish(tb->hqx) == HQX_STOP)
			return stop(tb);
	}
	if (b64_end_run(tb) < 0)
		return stop(tb);
	if (blk_end(tb, tb->state == TS_MIME ? TB_END_OK : TB_END_MISSING) < 0)
		return stop(tb);
	tb->state = TS_OUT;
	return 0;
}

/* --- the collector --- */

struct tb_collect {
	struct textblocks *tb;
	struct tb_limits l;
	const char *tmpdir;
	int fd;
	uint64_t end;   /* bytes in the file */
	uint64_t text;  /* text bytes pushed */
	uint64_t total; /* decoded bytes kept */
	struct tb_block *blocks;
	size_t n, cap;
	unsigned per_kind[TB_NKINDS];
	enum scan_limit limit;
	int failed, done;
	char err[128];
};

static int
c_begin(void *arg, enum tb_kind kind, const char *name)
{
	struct tb_collect *c = arg;
	struct tb_block *b;

	if (c->l.max_blocks && c->n >= c->l.max_blocks) {
		c->limit = LIMIT_FILES;
		return -1;
	}
	if (c->fd < 0) {
		c->fd = tmpfd_open(c->tmpdir);
		if (c->fd < 0) {
			snprintf(c->err, sizeof(c->err), "temporary file: %s", strerror(errno));
			c->failed = 1;
			return -1;
		}
	}
	c->blocks = xgrow(c->blocks, &c->cap, c->n + 1, sizeof(*c->blocks));
	b = &c->blocks[c->n++];
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->num = ++c->per_kind[kind];
	if (name)
		sanitize(name, b->name, sizeof(b->name), SAN_NAME);
	b->off = c->end;
	b->how = TB_END_MISSING;
	return 0;
}

static int
c_data(void *arg, const void *buf, size_t len)
{
	struct tb_collect *c = arg;
	struct tb_block *b = &c->blocks[c->n - 1];
	uint64_t in = tb_block_in(c->tb);

	if (b->cut != LIMIT_NONE)
		return 0;
	if (c->l.max_block && b->size + len > c->l.max_block) {
		len = (size_t)(c->l.max_block - b->size);
		b->cut = LIMIT_FILE_SIZE;
	}
	if (c->l.max_total && c->total + len > c->l.max_total) {
		len = (size_t)(c->l.max_total - c->total);
		b->cut = LIMIT_TOTAL_BYTES;
	}
	if (c->l.max_ratio && b->size + len >= (1u << 20) && in > 0 &&
	    (b->size + len) / in > c->l.max_ratio) {
		b->cut = LIMIT_RATIO;
		return 0;
	}
	if (len > 0 && write_all(c->fd, buf, len) < 0) {
		snprintf(c->err, sizeof(c->err), "temporary file: %s", strerror(errno));
		c->failed = 1;
		return -1;
	}
	b->size += len;
	c->end += len;
	c->total += len;
	return 0;
}

static int
c_end(void *arg, enum tb_end how)
{
	struct tb_collect *c = arg;

	c->blocks[c->n - 1].how = how;
	return 0;
}

static const struct tb_ops c_ops = {c_begin, c_data, c_end};

struct tb_collect *
tbc_new(const struct tb_options *o, const struct tb_limits *l, const char *tmpdir)
{
	struct tb_collect *c = xcalloc(1, sizeof(*c));

	c->tb = tb_new(o, &c_ops, c);
	if (l)
		c->l = *l;
	c->tmpdir = tmpdir;
	c->fd = -1;
	return c;
}

void
tbc_free(struct tb_collect *c)
{
	if (c == NULL)
		return;
	tb_free(c->tb);
	if (c->fd >= 0)
		close(c->fd);
	free(c->blocks);
	free(c);
}

int
tbc_push(struct tb_collect *c, const void *buf, size_t len)
{
	if (c->done)
		return c->failed ? -1 : 0;
	if (c->l.max_text && c->text + len > c->l.max_text) {
		len = (size_t)(c->l.max_text - c->text);
		c->limit = LIMIT_FILE_SIZE;
	}
	c->text += len;
	if (tb_push(c->tb, buf, len) < 0 || c->limit != LIMIT_NONE) {
		if (!c->failed)
			tb_finish(c->tb);
		c->done = 1;
	}
	return c->failed ? -1 : 0;
}

int
tbc_finish(struct tb_collect *c)
{
	if (!c->done) {
		tb_finish(c->tb);
		c->done = 1;
	}
	return c->failed ? -1 : 0;
}

size_t
tbc_count(const struct tb_collect *c)
{
	return c->n;
}

const struct tb_block *
tbc_block(const struct tb_collect *c, size_t i)
{
	return i < c->n ? &c->blocks[i] : NULL;
}

int
tbc_fd(const struct tb_collect *c)
{
	return c->fd;
}

enum scan_limit
tbc_limit(const struct tb_collect *c)
{
	return c->limit;
}

const char *
tbc_error(const struct tb_collect *c)
{
	return c->err;
}

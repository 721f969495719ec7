/*
 * uudecode: the line scanner that finds uuencoded blocks in text, checks and
 * normalises each data line, and lets GMime decode it. Owns nothing but its
 * line buffer; what happens to the decoded bytes is the caller's business.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "scan/uudecode.h"
#include "util/xalloc.h"

#define UUDEC_OUT_SIZE 4096

enum uudec_state {
	UU_OUT = 0,    /* in plain text, looking for `begin` */
	UU_DATA,       /* inside a block, reading data lines */
	UU_AFTER_ZERO, /* saw the zero-length line, expecting `end` */
};

struct uudec {
	const struct uudec_ops *ops;
	void *arg;
	enum uudec_state state;
	int stopped;
	unsigned blocks;
	size_t len;  /* bytes in line */
	int toolong; /* the current line passed UUDEC_LINE_MAX */
	char line[UUDEC_LINE_MAX];
	size_t outlen;
	unsigned char out[UUDEC_OUT_SIZE];
};

struct uudec *
uudec_new(const struct uudec_ops *ops, void *arg)
{
	struct uudec *u = xcalloc(1, sizeof(*u));

	u->ops = ops;
	u->arg = arg;
	return u;
}

void
uudec_free(struct uudec *u)
{
	free(u);
}

unsigned
uudec_blocks(const struct uudec *u)
{
	return u->blocks;
}

/* Space or tab. */
static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Matches `begin` SP mode SP name in s (n bytes, no line end). On a match
 * returns 1 and, if name is not NULL, stores the mode and the name (cut to
 * UUDEC_NAME_MAX bytes, NUL-terminated).
 */
static int
parse_begin(const char *s, size_t n, unsigned *mode, char *name)
{
	size_t i = 5, digits = 0, nlen;
	unsigned m = 0;

	if (n < 5 || memcmp(s, "begin", 5) != 0)
		return 0;
	if (i >= n || !is_blank(s[i]))
		return 0;
	while (i < n && is_blank(s[i]))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '7') {
		m = m * 8 + (unsigned)(s[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0 || digits > 4 || i >= n || !is_blank(s[i]))
		return 0;
	while (i < n && is_blank(s[i]))
		i++;
	while (n > i && (is_blank(s[n - 1]) || s[n - 1] == '\r'))
		n--;
	if (i >= n)
		return 0;
	if (name) {
		nlen = n - i > UUDEC_NAME_MAX ? UUDEC_NAME_MAX : n - i;
		memcpy(name, s + i, nlen);
		name[nlen] = '\0';
		*mode = m;
	}
	return 1;
}

/* An `end` line, trailing blanks allowed. */
static int
is_end_line(const char *s, size_t n)
{
	if (n < 3 || memcmp(s, "end", 3) != 0)
		return 0;
	for (size_t i = 3; i < n; i++)
		if (!is_blank(s[i]))
			return 0;
	return 1;
}

/* Remembers that a callback asked to stop; returns -1. */
static int
stop(struct uudec *u)
{
	u->stopped = 1;
	return -1;
}

/* Hands the decoded bytes buffered so far to the data callback. */
static int
flush_out(struct uudec *u)
{
	if (u->outlen > 0 && u->ops->data && u->ops->data(u->arg, u->out, u->outlen) < 0)
		return stop(u);
	u->outlen = 0;
	return 0;
}

/* Ends the current block: flushes its data and reports how it ended. */
static int
end_block(struct uudec *u, enum uudec_end how)
{
	u->state = UU_OUT;
	if (flush_out(u) < 0)
		return -1;
	if (u->ops->end && u->ops->end(u->arg, how) < 0)
		return stop(u);
	return 0;
}

/*
 * Decodes one data line. Returns the number of bytes it carries (appended
 * to u->out), 0 for the zero-length line, -1 if it is not a data line.
 */
static int
decode_line(struct uudec *u, const char *s, size_t n)
{
	unsigned char norm[2 + 4 * 22], dec[3 * 22];
	size_t want, nbytes, have;
	int state = GMIME_UUDECODE_STATE_BEGIN;
	guint32 save = 0;
	size_t got;

	if ((unsigned char)s[0] < 0x20 || (unsigned char)s[0] > 0x60)
		return -1;
	nbytes = (size_t)((s[0] - 0x20) & 0x3f);
	if (nbytes == 0)
		return 0;
	want = (nbytes + 2) / 3 * 4;
	have = n - 1 < want ? n - 1 : want;
	for (size_t i = 1; i <= have; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x60)
			return -1;
	/* A whole, checked line ending in LF is what GMime's step expects. */
	norm[0] = (unsigned char)s[0];
	memcpy(norm + 1, s + 1, have);
	memset(norm + 1 + have, '`', want - have);
	norm[1 + want] = '\n';
	got = g_mime_encoding_uudecode_step(norm, want + 2, dec, &state, &save);
	if (got > nbytes)
		got = nbytes;
	if (u->outlen + got > sizeof(u->out) && flush_out(u) < 0)
		return -2;
	memcpy(u->out + u->outlen, dec, got);
	u->outlen += got;
	return (int)got;
}

/* Starts a block after a `begin` line. */
static int
start_block(struct uudec *u, unsigned mode, const char *name)
{
	u->state = UU_DATA;
	u->blocks++;
	u->outlen = 0;
	if (u->ops->begin && u->ops->begin(u->arg, mode, name) < 0)
		return stop(u);
	return 0;
}

/* Handles one line (n bytes, line end removed; toolong if it was cut). */
static int
process_line(struct uudec *u, const char *s, size_t n, int toolong)
{
	char name[UUDEC_NAME_MAX + 1];
	unsigned mode;
	int r;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	/* Each pass either returns or moves to UU_OUT, so this runs at most twice. */
	for (int pass = 0; pass < 2; pass++) {
		switch (u->state) {
		case UU_OUT:
			if (!toolong && parse_begin(s, n, &mode, name))
				return start_block(u, mode, name);
			return 0;
		case UU_DATA:
			if (toolong) {
				if (end_block(u, UUDEC_END_MALFORMED) < 0)
					return -1;
				continue;
			}
			if (n == 0)
				return 0;
			if (is_end_line(s, n))
				return end_block(u, UUDEC_END_OK);
			if (parse_begin(s, n, NULL, NULL) &&
			    n != 1 + ((size_t)((s[0] - 0x20) & 0x3f) + 2) / 3 * 4) {
				if (end_block(u, UUDEC_END_MISSING) < 0)
					return -1;
				continue;
			}
			r = decode_line(u, s, n);
			if (r == -2)
				return -1;
			if (r == -1) {
				if (end_block(u, UUDEC_END_MALFORMED) < 0)
					return -1;
				continue;
			}
			if (r == 0)
				u->state = UU_AFTER_ZERO;
			return 0;
		case UU_AFTER_ZERO:
			if (n == 0)
				return 0;
			if (is_end_line(s, n))
				return end_block(u, UUDEC_END_OK);
			if (end_block(u, UUDEC_END_MISSING) < 0)
				return -1;
			continue;
		}
	}
	return 0;
}

int
uudec_push(struct uudec *u, const void *buf, size_t len)
{
	const char *p = buf, *end = p + len;

	if (u->stopped)
		return -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t take = (size_t)((nl ? nl : end) - p);

		if (u->len + take > sizeof(u->line)) {
			u->toolong = 1;
			take = sizeof(u->line) - u->len;
		}
		memcpy(u->line + u->len, p, take);
		u->len += take;
		if (!nl)
			break;
		p = nl + 1;
		if (process_line(u, u->line, u->len, u->toolong) < 0)
			return -1;
		u->len = 0;
		u->toolong = 0;
	}
	return 0;
}

int
uudec_finish(struct uudec *u)
{
	if (u->stopped)
		return -1;
	if ((u->len > 0 || u->toolong) && process_line(u, u->line, u->len, u->toolong) < 0)
		return -1;
	u->len = 0;
	u->toolong = 0;
	if (u->state != UU_OUT)
		return end_block(u, UUDEC_END_MISSING);
	return 0;
}

int
uu_has_begin(const void *buf, size_t len)
{
	const char *p = buf, *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (n <= UUDEC_LINE_MAX && parse_begin(p, n, NULL, NULL))
			return 1;
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

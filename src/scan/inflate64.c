/*
 * inflate64: deflate and deflate64 decoding (see inflate64.h), after
 * zlib's contrib/puff.c. The input is in memory; running out of it, or the
 * callback saying stop, unwinds with longjmp from the bit reader or the
 * output. Owns its state (one allocation: the 64 KiB window and the code
 * tables).
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "scan/inflate64.h"
#include "util/xalloc.h"

#define MAXBITS 15
#define MAXLCODES 286 /* literal/length codes */
#define MAXDCODES 32  /* distance codes (deflate: 30) */
#define MAXCODES (MAXLCODES + MAXDCODES)
#define FIXLCODES 288
#define WSIZE 65536u
#define WMASK (WSIZE - 1)
#define FLUSH 32768u /* the output is handed on in these, from the window */

enum { JMP_INPUT = 1, JMP_STOP = 2 };

struct huff {
	short count[MAXBITS + 1];
	short symbol[FIXLCODES];
};

struct state {
	const unsigned char *in;
	size_t inlen, incnt;
	uint64_t bitbuf;
	int bitcnt;
	int d64;
	uint64_t total, flushed;
	zdec_out out;
	void *arg;
	jmp_buf env;
	struct huff lencode, distcode;
	unsigned char win[WSIZE];
};

/* need (0..16) bits, least significant first. */
static unsigned
bits(struct state *s, int need)
{
	uint64_t val = s->bitbuf;

	while (s->bitcnt < need) {
		if (s->incnt == s->inlen)
			longjmp(s->env, JMP_INPUT);
		val |= (uint64_t)s->in[s->incnt++] << s->bitcnt;
		s->bitcnt += 8;
	}
	s->bitbuf = val >> need;
	s->bitcnt -= need;
	return (unsigned)(val & ((1u << need) - 1));
}

/* Hands on the window's bytes since the last flush. */
static void
flush(struct state *s)
{
	size_t n = (size_t)(s->total - s->flushed);

	if (n == 0)
		return;
	if (s->out(s->arg, s->win + (s->flushed & WMASK), n) < 0)
		longjmp(s->env, JMP_STOP);
	s->flushed = s->total;
}

static void
put(struct state *s, unsigned char c)
{
	s->win[s->total & WMASK] = c;
	s->total++;
	if ((s->total & (FLUSH - 1)) == 0)
		flush(s);
}

/* A stored block (RFC 1951 3.2.4). */
static int
stored(struct state *s)
{
	unsigned len;

	s->bitbuf = 0;
	s->bitcnt = 0;
	if (s->incnt + 4 > s->inlen)
		longjmp(s->env, JMP_INPUT);
	len = s->in[s->incnt] | (unsigned)s->in[s->incnt + 1] << 8;
	if (s->in[s->incnt + 2] != (~len & 0xff) || s->in[s->incnt + 3] != ((~len >> 8) & 0xff))
		return -2;
	s->incnt += 4;
	while (len--) {
		if (s->incnt == s->inlen)
			longjmp(s->env, JMP_INPUT);
		put(s, s->in[s->incnt++]);
	}
	return 0;
}

/* One symbol of code h, or -10 if the bits match no code. */
static int
decode(struct state *s, const struct huff *h)
{
	int code = 0, first = 0, index = 0;

	for (int len = 1; len <= MAXBITS; len++) {
		int count;

		code |= (int)bits(s, 1);
		count = h->count[len];
		if (code - count < first)
			return h->symbol[index + (code - first)];
		index += count;
		first += count;
		first <<= 1;
		code <<= 1;
	}
	return -10;
}

/*
 * The canonical code for length[0..n): 0 if complete, > 0 if incomplete,
 * < 0 if over-subscribed.
 */
static int
construct(struct huff *h, const short *length, int n)
{
	short offs[MAXBITS + 1];
	int left = 1;

	memset(h->count, 0, sizeof(h->count));
	for (int sym = 0; sym < n; sym++)
		h->count[length[sym]]++;
	if (h->count[0] == n)
		return 0;
	for (int len = 1; len <= MAXBITS; len++) {
		left <<= 1;
		left -= h->count[len];
		if (left < 0)
			return left;
	}
	offs[1] = 0;
	for (int len = 1; len < MAXBITS; len++)
		offs[len + 1] = (short)(offs[len] + h->count[len]);
	for (int sym = 0; sym < n; sym++)
		if (length[sym] != 0)
			h->symbol[offs[length[sym]]++] = (short)sym;
	return left;
}

/* The literals and matches of one block, to its end code. */
static int
codes(struct state *s)
{
	static const unsigned short lbase[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
	                                         15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
	                                         67, 83, 99, 115, 131, 163, 195, 227, 258};
	static const unsigned char lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
	                                       2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
	static const unsigned dbase[32] = {1,    2,    3,    4,     5,     7,     9,     13,
	                                   17,   25,   33,   49,    65,    97,    129,   193,
	                                   257,  385,  513,  769,   1025,  1537,  2049,  3073,
	                                   4097, 6145, 8193, 12289, 16385, 24577, 32769, 49153};
	static const unsigned char dext[32] = {0,  0,  0,  0,  1,  1,  2,  2,  3,  3, 4,
	                                       4,  5,  5,  6,  6,  7,  7,  8,  8,  9, 9,
	                                       10, 10, 11, 11, 12, 12, 13, 13, 14, 14};
	int sym;

	do {
		sym = decode(s, &s->lencode);
		if (sym < 0)
			return sym;
		if (sym < 256) {
			put(s, (unsigned char)sym);
		} else if (sym > 256) {
			unsigned len, dist;

			sym -= 257;
			if (sym >= 29)
				return -10;
			/* deflate64: 285 is 3 + 16 extra bits, not 258. */
			if (s->d64 && sym == 28)
				len = 3 + bits(s, 16);
			else
				len = lbase[sym] + bits(s, lext[sym]);
			sym = decode(s, &s->distcode);
			if (sym < 0)
				return sym;
			if (sym >= (s->d64 ? 32 : 30))
				return -11;
			dist = dbase[sym] + bits(s, dext[sym]);
			if (dist > s->total)
				return -11;
			while (len--)
				put(s, s->win[(s->total - dist) & WMASK]);
		}
	} while (sym != 256);
	return 0;
}

static int
fixed(struct state *s)
{
	short lengths[FIXLCODES];
	int sym;

	for (sym = 0; sym < 144; sym++)
		lengths[sym] = 8;
	for (; sym < 256; sym++)
		lengths[sym] = 9;
	for (; sym < 280; sym++)
		lengths[sym] = 7;
	for (; sym < FIXLCODES; sym++)
		lengths[sym] = 8;
	construct(&s->lencode, lengths, FIXLCODES);
	for (sym = 0; sym < MAXDCODES; sym++)
		lengths[sym] = 5;
	construct(&s->distcode, lengths, MAXDCODES);
	return codes(s);
}

static int
dynamic(struct state *s)
{
	static const unsigned char order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
	                                        11, 4,  12, 3, 13, 2, 14, 1, 15};
	short lengths[MAXCODES];
	int nlen, ndist, ncode, index, err;

	nlen = (int)bits(s, 5) + 257;
	ndist = (int)bits(s, 5) + 1;
	ncode = (int)bits(s, 4) + 4;
	if (nlen > MAXLCODES || ndist > (s->d64 ? 32 : 30))
		return -3;
	for (index = 0; index < ncode; index++)
		lengths[order[index]] = (short)bits(s, 3);
	for (; index < 19; index++)
		lengths[order[index]] = 0;
	if (construct(&s->lencode, lengths, 19) != 0)
		return -4;
	index = 0;
	while (index < nlen + ndist) {
		int sym = decode(s, &s->lencode), len = 0;

		if (sym < 0)
			return sym;
		if (sym < 16) {
			lengths[index++] = (short)sym;
			continue;
		}
		if (sym == 16) {
			if (index == 0)
				return -5;
			len = lengths[index - 1];
			sym = 3 + (int)bits(s, 2);
		} else if (sym == 17) {
			sym = 3 + (int)bits(s, 3);
		} else {
			sym = 11 + (int)bits(s, 7);
		}
		if (index + sym > nlen + ndist)
			return -6;
		while (sym--)
			lengths[index++] = (short)len;
	}
	if (lengths[256] == 0)
		return -9;
	err = construct(&s->lencode, lengths, nlen);
	if (err < 0 || (err > 0 && nlen - s->lencode.count[0] != 1))
		return -7;
	err = construct(&s->distcode, lengths + nlen, ndist);
	if (err < 0 || (err > 0 && ndist - s->distcode.count[0] != 1))
		return -8;
	return codes(s);
}

/* The blocks, to the last; the caller has set the jump. */
static int
blocks(struct state *s)
{
	int last, type, err;

	do {
		last = (int)bits(s, 1);
		type = (int)bits(s, 2);
		err = type == 0 ? stored(s) : type == 1 ? fixed(s) : type == 2 ? dynamic(s) : -1;
		if (err != 0)
			return err;
	} while (!last);
	return 0;
}

int
inflate64(const unsigned char *in, size_t inlen, int d64, zdec_out out, void *arg, size_t *consumed)
{
	struct state *s = xcalloc(1, sizeof(*s));
	volatile int r; /* set between setjmp and a longjmp back to it */
	int j;

	s->in = in;
	s->inlen = inlen;
	s->d64 = d64;
	s->out = out;
	s->arg = arg;
	j = setjmp(s->env);
	if (j == 0) {
		r = blocks(s) == 0 ? ZDEC_OK : ZDEC_BAD;
		if (r == ZDEC_OK || r == ZDEC_BAD) {
			if (setjmp(s->env) == 0)
				flush(s);
			else
				r = ZDEC_STOPPED;
		}
	} else if (j == JMP_STOP) {
		r = ZDEC_STOPPED;
	} else {
		r = ZDEC_TRUNCATED;
		if (setjmp(s->env) == 0)
			flush(s);
		else
			r = ZDEC_STOPPED;
	}
	*consumed = s->incnt;
	free(s);
	return r;
}

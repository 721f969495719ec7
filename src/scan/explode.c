/*
 * explode: PKWARE implode decoding (see explode.h; APPNOTE 5.3.7, and
 * Info-ZIP's explode.c for what the note leaves open: bytes before the
 * start of the output read as zeros). A Shannon-Fano code is the
 * canonical Huffman code of the same bit lengths with every bit inverted,
 * so the trees decode like inflate64.c's, a bit at a time. Owns its state
 * (one allocation: the window and the three code tables).
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "scan/explode.h"
#include "util/xalloc.h"

#define SF_MAXBITS 16
#define WSIZE 8192u
#define WMASK (WSIZE - 1)
#define FLUSH 4096u

enum { JMP_INPUT = 1, JMP_STOP = 2 };

struct sf {
	short count[SF_MAXBITS + 1];
	short symbol[256];
};

struct state {
	const unsigned char *in;
	size_t inlen, incnt;
	uint32_t bitbuf;
	int bitcnt;
	uint64_t total, flushed;
	zdec_out out;
	void *arg;
	jmp_buf env;
	struct sf lit, len, dist;
	unsigned char win[WSIZE];
};

static unsigned
bits(struct state *s, int need)
{
	uint32_t val = s->bitbuf;

	while (s->bitcnt < need) {
		if (s->incnt == s->inlen)
			longjmp(s->env, JMP_INPUT);
		val |= (uint32_t)s->in[s->incnt++] << s->bitcnt;
		s->bitcnt += 8;
	}
	s->bitbuf = val >> need;
	s->bitcnt -= need;
	return val & ((1u << need) - 1);
}

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

/* One symbol: the canonical decode with each code bit inverted; -1 if none. */
static int
decode(struct state *s, const struct sf *h)
{
	int code = 0, first = 0, index = 0;

	for (int len = 1; len <= SF_MAXBITS; len++) {
		int count;

		code |= (int)(bits(s, 1) ^ 1);
		count = h->count[len];
		if (code - count < first)
			return h->symbol[index + (code - first)];
		index += count;
		first += count;
		first <<= 1;
		code <<= 1;
	}
	return -1;
}

/*
 * Reads one tree of n bit lengths (byte-aligned: a count byte, then bytes
 * of "codes - 1" << 4 | "bits - 1") and builds its code: 0, or -1 if the
 * tree is bad or over-subscribed.
 */
static int
tree(struct state *s, struct sf *h, int n)
{
	short length[256], offs[SF_MAXBITS + 1];
	int k = 0, left = 1, runs;

	if (s->incnt == s->inlen)
		longjmp(s->env, JMP_INPUT);
	runs = s->in[s->incnt++] + 1;
	while (runs--) {
		int b, c;

		if (s->incnt == s->inlen)
			longjmp(s->env, JMP_INPUT);
		b = (s->in[s->incnt] & 0x0f) + 1;
		c = (s->in[s->incnt] >> 4) + 1;
		s->incnt++;
		if (k + c > n)
			return -1;
		while (c--)
			length[k++] = (short)b;
	}
	if (k != n)
		return -1;
	memset(h->count, 0, sizeof(h->count));
	for (int i = 0; i < n; i++)
		h->count[length[i]]++;
	for (int len = 1; len <= SF_MAXBITS; len++) {
		left <<= 1;
		left -= h->count[len];
		if (left < 0)
			return -1;
	}
	offs[1] = 0;
	for (int len = 1; len < SF_MAXBITS; len++)
		offs[len + 1] = (short)(offs[len] + h->count[len]);
	for (int i = 0; i < n; i++)
		h->symbol[offs[length[i]]++] = (short)i;
	return 0;
}

/* The literals and matches, to usize bytes (or the input's end). */
static int
run(struct state *s, unsigned flags, uint64_t usize)
{
	int big = (flags & 2) != 0, lit = (flags & 4) != 0;
	int minlen = lit ? 3 : 2, dbits = big ? 7 : 6;

	if ((lit && tree(s, &s->lit, 256) < 0) || tree(s, &s->len, 64) < 0 ||
	    tree(s, &s->dist, 64) < 0)
		return -1;
	while (s->total < usize) {
		if (bits(s, 1)) {
			int c = lit ? decode(s, &s->lit) : (int)bits(s, 8);

			if (c < 0)
				return -1;
			put(s, (unsigned char)c);
		} else {
			unsigned low = bits(s, dbits), dist;
			int d = decode(s, &s->dist), l;

			if (d < 0)
				return -1;
			dist = ((unsigned)d << dbits | low) + 1;
			l = decode(s, &s->len);
			if (l < 0)
				return -1;
			if (l == 63)
				l += (int)bits(s, 8);
			l += minlen;
			/* Before the output's start the window reads as zeros. */
			while (l-- && s->total < usize)
				put(s, s->total >= dist ? s->win[(s->total - dist) & WMASK] : 0);
		}
	}
	return 0;
}

int
explode(const unsigned char *in, size_t inlen, unsigned flags, uint64_t usize, zdec_out out,
        void *arg, size_t *consumed)
{
	struct state *s = xcalloc(1, sizeof(*s));
	volatile int r; /* set between setjmp and a longjmp back to it */
	int j;

	s->in = in;
	s->inlen = inlen;
	s->out = out;
	s->arg = arg;
	j = setjmp(s->env);
	if (j == 0) {
		r = run(s, flags, usize) == 0 ? ZDEC_OK : ZDEC_BAD;
	} else if (j == JMP_STOP) {
		r = ZDEC_STOPPED;
	} else {
		/* Without a size, the input's end is the data's end. */
		r = usize == EXPLODE_SIZE_UNKNOWN && s->total > 0 ? ZDEC_OK : ZDEC_TRUNCATED;
	}
	if (r != ZDEC_STOPPED) {
		if (setjmp(s->env) == 0)
			flush(s);
		else
			r = ZDEC_STOPPED;
	}
	*consumed = s->incnt;
	free(s);
	return r;
}

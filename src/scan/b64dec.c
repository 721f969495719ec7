/*
 * b64dec: base64 decoding with lookup tables. The fast path takes four
 * alphabet characters at a time through four tables whose entries are
 * already shifted into place, so a group is four loads and three ORs; any
 * other byte (line break, '=', junk) sends one character through the slow
 * path, which is the reference: the fast path is only ever a shortcut for a
 * whole group of plain characters starting a group. Owns nothing.
 */
#include <string.h>

#include "scan/b64dec.h"

#define B64_BAD 0x01000000u /* in a fast-path table entry: not a plain character */
#define B64_SKIP 0xff       /* in rank: not in the alphabet */
#define B64_PAD 0xfe        /* in rank: '=' */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Built once: static initialisers of 4 x 256 shifted entries are unreadable. */
static struct {
	unsigned char rank[256];
	uint32_t t[4][256];
} tab;
static int tab_ready;

static void
b64_tables(void)
{
	memset(tab.rank, B64_SKIP, sizeof(tab.rank));
	for (int i = 0; i < 256; i++)
		for (int k = 0; k < 4; k++)
			tab.t[k][i] = B64_BAD;
	for (unsigned v = 0; v < 64; v++) {
		unsigned char c = (unsigned char)b64_alphabet[v];

		tab.rank[c] = (unsigned char)v;
		tab.t[0][c] = v << 18;
		tab.t[1][c] = v << 12;
		tab.t[2][c] = v << 6;
		tab.t[3][c] = v;
	}
	tab.rank['='] = B64_PAD;
	/* Racing first callers write the same bytes; the flag goes last. */
	__atomic_store_n(&tab_ready, 1, __ATOMIC_RELEASE);
}

void
b64dec_init(struct b64dec *d)
{
	memset(d, 0, sizeof(*d));
	if (!__atomic_load_n(&tab_ready, __ATOMIC_ACQUIRE))
		b64_tables();
}

/* Bytes a complete group gives: 3, less one for "=" last, one more for "==". */
static unsigned
group_bytes(int last_eq, unsigned eq2)
{
	return 3u - (last_eq ? 1u + eq2 : 0u);
}

size_t
b64dec_step(struct b64dec *d, const void *in, size_t len, void *out)
{
	const unsigned char *p = in, *end = p + len;
	unsigned char *o = out;

	while (p < end) {
		unsigned r;

		if (d->n == 0) {
			while (end - p >= 4) {
				uint32_t x = tab.t[0][p[0]] | tab.t[1][p[1]] | tab.t[2][p[2]] |
				             tab.t[3][p[3]];

				if (x & B64_BAD)
					break;
				o[0] = (unsigned char)(x >> 16);
				o[1] = (unsigned char)(x >> 8);
				o[2] = (unsigned char)x;
				o += 3;
				p += 4;
			}
			if (p == end)
				break;
		}
		r = tab.rank[*p++];
		if (r == B64_SKIP)
			continue;
		d->acc = d->acc << 6 | (r == B64_PAD ? 0u : r);
		if (d->n == 2)
			d->eq2 = r == B64_PAD;
		if (++d->n == 4) {
			unsigned nb = group_bytes(r == B64_PAD, d->eq2);

			o[0] = (unsigned char)(d->acc >> 16);
			if (nb > 1)
				o[1] = (unsigned char)(d->acc >> 8);
			if (nb > 2)
				o[2] = (unsigned char)d->acc;
			o += nb;
			d->acc = 0;
			d->n = 0;
			d->eq2 = 0;
		}
	}
	return (size_t)(o - (unsigned char *)out);
}

/* Counts the characters of the alphabet in [p, end); none is '='. */
static uint64_t
count_plain(const unsigned char *p, const unsigned char *end)
{
	uint64_t n = 0;

	while (end - p >= 4) {
		n += (tab.rank[p[0]] < 64) + (tab.rank[p[1]] < 64) + (tab.rank[p[2]] < 64) +
		     (tab.rank[p[3]] < 64);
		p += 4;
	}
	while (p < end)
		n += tab.rank[*p++] < 64;
	return n;
}

void
b64dec_count(struct b64dec *d, const void *in, size_t len)
{
	const unsigned char *p = in, *end = p + len;

	/* '=' is rare: count plain runs between them, handle each '=' alone. */
	while (p < end) {
		const unsigned char *eq = memchr(p, '=', (size_t)(end - p));
		uint64_t k = count_plain(p, eq ? eq : end);

		/* Whole groups among the plain characters give 3 bytes each. */
		d->out += ((d->n + k) / 4) * 3;
		d->n = (unsigned)((d->n + k) % 4);
		if (k > 0)
			d->eq2 = 0; /* the group's third character, if any, is plain */
		if (eq == NULL)
			break;
		if (d->n == 2)
			d->eq2 = 1;
		else if (d->n == 3) {
			d->out += group_bytes(1, d->eq2);
			d->n = 0;
			d->eq2 = 0;
			p = eq + 1;
			continue;
		}
		d->n++;
		p = eq + 1;
	}
	d->seen += len;
}

uint64_t
b64dec_count_size(const struct b64dec *d)
{
	return d->out;
}

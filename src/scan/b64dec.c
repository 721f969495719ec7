/*
 * b64dec: base64 decoding with lookup tables. The fast path takes four
 * alphabet characters at a time through four tables whose entries are
 * already shifted into place, so a group is four loads and three ORs; any
 * other byte (line break, '=', junk) sends one character through the slow
 * path, which is the reference: the fast path is only ever a shortcut for a
 * whole group of plain characters starting a group. The counting pass
 * classifies 16 bytes at a time with SSE2 where the compiler has it (every
 * x86-64). Owns nothing.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <tmmintrin.h>
#define B64_SSSE3 1
#endif

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
static int have_ssse3;

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
#ifdef B64_SSSE3
	have_ssse3 = __builtin_cpu_supports("ssse3");
#endif
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

#ifdef B64_SSSE3
/*
 * 16 characters to 12 bytes at a time while all 16 are plain, with the
 * nibble tables of Wojciech Mula and Daniel Lemire's method as in Alfred
 * Klomp's base64 library (BSD): the high and low nibble of each character
 * select bits whose AND is non-zero for anything outside the alphabet, a
 * third table the offset to its value; two multiply-adds pack the 6-bit
 * values. Stops 32 characters before the end so that the 16-byte store
 * stays inside the room b64dec_step promises. Advances *pp.
 */
/* 0xff in each byte of str in the alphabet (not '='); *hi_n gets the high nibbles. */
__attribute__((target("ssse3"))) static inline __m128i
ok_ssse3(__m128i str, __m128i *hi_n)
{
	const __m128i lut_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	                                     0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a);
	const __m128i lut_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10,
	                                     0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
	const __m128i mask_2f = _mm_set1_epi8(0x2f);
	__m128i lo_n = _mm_and_si128(str, mask_2f);

	*hi_n = _mm_and_si128(_mm_srli_epi32(str, 4), mask_2f);
	return _mm_cmpeq_epi8(
	    _mm_and_si128(_mm_shuffle_epi8(lut_lo, lo_n), _mm_shuffle_epi8(lut_hi, *hi_n)),
	    _mm_setzero_si128());
}

/* Alphabet characters among n16 * 16 bytes at p. */
__attribute__((target("ssse3"))) static uint64_t
count_ssse3(const unsigned char *p, size_t n16)
{
	uint64_t n = 0;

	while (n16 > 0) {
		__m128i acc = _mm_setzero_si128(), hi_n;
		size_t k = n16 < 255 ? n16 : 255;

		n16 -= k;
		for (; k > 0; k--, p += 16)
			acc = _mm_sub_epi8(
			    acc,
			    ok_ssse3(_mm_loadu_si128((const __m128i *)(const void *)p), &hi_n));
		acc = _mm_sad_epu8(acc, _mm_setzero_si128());
		n += (uint64_t)_mm_cvtsi128_si32(acc) + (uint64_t)_mm_extract_epi16(acc, 4);
	}
	return n;
}

__attribute__((target("ssse3"))) static size_t
step_ssse3(const unsigned char **pp, const unsigned char *end, unsigned char *o)
{
	const __m128i lut_roll =
	    _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
	const __m128i mask_2f = _mm_set1_epi8(0x2f);
	const __m128i pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
	const unsigned char *p = *pp;
	unsigned char *start = o;

	while (end - p >= 32) {
		__m128i str = _mm_loadu_si128((const __m128i *)(const void *)p), hi_n, roll;

		if (_mm_movemask_epi8(ok_ssse3(str, &hi_n)) != 0xffff)
			break;
		roll = _mm_shuffle_epi8(lut_roll, _mm_add_epi8(_mm_cmpeq_epi8(str, mask_2f), hi_n));
		str = _mm_add_epi8(str, roll);
		str = _mm_maddubs_epi16(str, _mm_set1_epi32(0x01400140));
		str = _mm_madd_epi16(str, _mm_set1_epi32(0x00011000));
		_mm_storeu_si128((__m128i *)(void *)o, _mm_shuffle_epi8(str, pack));
		o += 12;
		p += 16;
	}
	*pp = p;
	return (size_t)(o - start);
}
#endif

size_t
b64dec_step(struct b64dec *d, const void *in, size_t len, void *out)
{
	const unsigned char *p = in, *end = p + len;
	unsigned char *o = out;

	while (p < end) {
		unsigned r;

		if (d->n == 0) {
#ifdef B64_SSSE3
			if (have_ssse3)
				o += step_ssse3(&p, end, o);
#endif
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

#ifdef __SSE2__
/* 0xff in each byte of c that is in [lo, hi] (lo > 0, so bytes >= 0x80 are not). */
static inline __m128i
in_range(__m128i c, char lo, char hi)
{
	return _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8((char)(lo - 1))),
	                     _mm_cmplt_epi8(c, _mm_set1_epi8((char)(hi + 1))));
}
#endif

#ifdef B64_SSSE3
static uint64_t count_ssse3(const unsigned char *p, size_t n16);
#endif

/* Counts the characters of the alphabet in [p, end); none is '='. */
static uint64_t
count_plain(const unsigned char *p, const unsigned char *end)
{
	uint64_t n = 0;

#ifdef B64_SSSE3
	if (have_ssse3 && end - p >= 16) {
		size_t n16 = (size_t)(end - p) / 16;

		n += count_ssse3(p, n16);
		p += n16 * 16;
	}
#endif
#ifdef __SSE2__
	/* 16 bytes at a time; each byte's count (0 or 1) summed in 8 bits up to
	 * 255 rounds, then added across with a sum of absolute differences. */
	while (end - p >= 16) {
		__m128i acc = _mm_setzero_si128();

		for (int k = 0; k < 255 && end - p >= 16; k++, p += 16) {
			__m128i c = _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i ok = _mm_or_si128(
			    _mm_or_si128(in_range(c, 'A', 'Z'), in_range(c, 'a', 'z')),
			    _mm_or_si128(in_range(c, '0', '9'),
			                 _mm_or_si128(_mm_cmpeq_epi8(c, _mm_set1_epi8('+')),
			                              _mm_cmpeq_epi8(c, _mm_set1_epi8('/')))));

			acc = _mm_sub_epi8(acc, ok);
		}
		acc = _mm_sad_epu8(acc, _mm_setzero_si128());
		n += (uint64_t)_mm_cvtsi128_si32(acc) + (uint64_t)_mm_extract_epi16(acc, 4);
	}
#endif
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
	/* An incomplete last group: its whole bytes, as b64dec_finish gives. */
	return d->out + (d->n == 2 ? 1u : d->n == 3 ? (d->eq2 ? 1u : 2u) : 0u);
}

size_t
b64dec_finish(struct b64dec *d, void *out)
{
	unsigned char *o = out;
	size_t nb = 0;

	if (d->n == 2) {
		o[0] = (unsigned char)(d->acc >> 4);
		nb = 1;
	} else if (d->n == 3) {
		o[0] = (unsigned char)(d->acc >> 10);
		nb = 1;
		if (!d->eq2) {
			o[1] = (unsigned char)(d->acc >> 2);
			nb = 2;
		}
	}
	d->acc = 0;
	d->n = 0;
	d->eq2 = 0;
	return nb;
}

/*
 * arj: ARJ archives (see arj.h). Owns the header parser, the decoders of
 * methods 1-4 (after the original arj's decode.c, as unarj has it) and the
 * walk over the members. Limits, names and types of the children are the
 * walker's; every byte this file reads lies in the range it was given.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "scan/arj.h"
#include "util/sys.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"

#define ARJ_RATIO_FLOOR (1024 * 1024) /* as WALK_RATIO_FLOOR */

/* ---- headers ---- */

static unsigned
le16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
arj_header(const unsigned char *b, size_t n, struct arj_header *h)
{
	const unsigned char *bh;
	size_t hsize, first, i;

	memset(h, 0, sizeof(*h));
	if (n < 4)
		return ARJ_HDR_SHORT;
	if (b[0] != 0x60 || b[1] != 0xea)
		return ARJ_HDR_BAD;
	hsize = le16(b + 2);
	if (hsize == 0) {
		h->len = 4;
		return ARJ_HDR_END;
	}
	if (hsize > ARJ_HDR_MAX || hsize < 30)
		return ARJ_HDR_BAD;
	if (n < 4 + hsize + 4)
		return ARJ_HDR_SHORT;
	bh = b + 4;
	if (crc32(0L, bh, (uInt)hsize) != le32(bh + hsize))
		return ARJ_HDR_BAD;
	first = bh[0];
	if (first < 30 || first > hsize)
		return ARJ_HDR_BAD;
	h->flags = bh[4];
	h->method = bh[5];
	h->type = bh[6];
	h->csize = le32(bh + 12);
	h->usize = le32(bh + 16);
	h->crc = le32(bh + 20);
	/* The name: NUL-terminated after the fixed part (a header without NUL is cut). */
	for (i = 0; first + i < hsize && bh[first + i] != '\0'; i++)
		h->name[i] = (char)bh[first + i];
	h->name[i] = '\0';
	h->len = 4 + hsize + 4;
	return ARJ_HDR_OK;
}

int
arj_sniff(const unsigned char *b, size_t n)
{
	struct arj_header h;

	return arj_header(b, n, &h) == ARJ_HDR_OK;
}

/* ---- decoding ---- */

#define DICSIZ 26624
#define THRESHOLD 3
#define MAXMATCH 256
#define NC (255 + MAXMATCH + 2 - THRESHOLD) /* literals and lengths */
#define NP 17                               /* position codes (MAXDICBIT + 1) */
#define NT 19                               /* code-length codes (CODE_BIT + 3) */
#define CBIT 9
#define PBIT 5
#define TBIT 5
#define CTABLEBITS 12
#define PTABLEBITS 8
#define NODES (2 * NC - 1)

struct dec {
	const unsigned char *in;
	size_t inlen;
	uint64_t bit; /* bits consumed */
	int bad;      /* the data is not valid */
	zdec_out out;
	void *arg;
	unsigned char text[DICSIZ];
	size_t r; /* next write position in text */
	size_t flushed;
	unsigned blocksize;
	unsigned char c_len[NC], pt_len[NT];
	uint16_t c_table[1 << CTABLEBITS], pt_table[1 << PTABLEBITS];
	uint16_t left[NODES], right[NODES];
};

/* The next 16 bits of the stream, MSB first, zeros past its end. */
static unsigned
peek16(const struct dec *d)
{
	size_t byte = (size_t)(d->bit >> 3);
	unsigned v = 0;

	for (int i = 0; i < 3; i++)
		v = v << 8 | (byte + (size_t)i < d->inlen ? d->in[byte + (size_t)i] : 0);
	return (v >> (8 - (unsigned)(d->bit & 7))) & 0xffff;
}

static unsigned
getbits(struct dec *d, unsigned n)
{
	unsigned v = n ? peek16(d) >> (16 - n) : 0;

	d->bit += n;
	return v;
}

/* Past the input's end by more than the 16 bits decoders peek ahead. */
static int
overrun(const struct dec *d)
{
	return d->bit > (uint64_t)d->inlen * 8;
}

/*
 * The lookup table (tablebits wide) and tree for the code lengths
 * bitlen[0..nchar), as LHA's make_table. Returns -1 unless the lengths
 * make a complete prefix code.
 */
static int
make_table(struct dec *d, unsigned nchar, const unsigned char *bitlen, unsigned tablebits,
           uint16_t *table)
{
	unsigned count[17], weight[17], start[18];
	unsigned jutbits = 16 - tablebits, avail = nchar, mask = 1u << (15 - tablebits);
	unsigned i, k;

	memset(count, 0, sizeof(count));
	for (i = 0; i < nchar; i++) {
		if (bitlen[i] > 16)
			return -1;
		count[bitlen[i]]++;
	}
	start[1] = 0;
	for (i = 1; i <= 16; i++)
		start[i + 1] = start[i] + (count[i] << (16 - i));
	if (start[17] != 1u << 16)
		return -1;
	for (i = 1; i <= tablebits; i++) {
		start[i] >>= jutbits;
		weight[i] = 1u << (tablebits - i);
	}
	for (; i <= 16; i++)
		weight[i] = 1u << (16 - i);
	for (i = start[tablebits + 1] >> jutbits; i < 1u << tablebits; i++)
		table[i] = 0;
	for (unsigned ch = 0; ch < nchar; ch++) {
		unsigned len = bitlen[ch], next;
		uint16_t *p;

		if (len == 0)
			continue;
		k = start[len];
		next = k + weight[len];
		if (len <= tablebits) {
			if (next > 1u << tablebits)
				return -1;
			for (i = k; i < next; i++)
				table[i] = (uint16_t)ch;
		} else {
			if ((k >> jutbits) >= 1u << tablebits)
				return -1;
			p = &table[k >> jutbits];
			for (i = len - tablebits; i != 0; i--) {
				if (*p == 0) {
					if (avail >= NODES)
						return -1;
					d->right[avail] = d->left[avail] = 0;
					*p = (uint16_t)avail++;
				}
				if (*p >= NODES)
					return -1;
				p = (k & mask) ? &d->right[*p] : &d->left[*p];
				k <<= 1;
			}
			*p = (uint16_t)ch;
		}
		start[len] = next;
	}
	return 0;
}

/* Follows the tree below a table entry j (>= n) with the bits under mask. */
static unsigned
walk_tree(struct dec *d, unsigned j, unsigned n, unsigned bits, unsigned mask)
{
	while (j >= n) {
		if (mask == 0 || j >= NODES) {
			d->bad = 1;
			return 0;
		}
		j = (bits & mask) ? d->right[j] : d->left[j];
		mask >>= 1;
	}
	return j;
}

/* The code lengths of the position or code-length code. */
static int
read_pt_len(struct dec *d, unsigned nn, unsigned nbit, unsigned special)
{
	unsigned n = getbits(d, nbit), i = 0, c;

	if (n == 0) {
		c = getbits(d, nbit);
		if (c >= nn)
			return -1;
		memset(d->pt_len, 0, nn);
		for (i = 0; i < 1u << PTABLEBITS; i++)
			d->pt_table[i] = (uint16_t)c;
		return 0;
	}
	if (n > nn)
		return -1;
	while (i < n) {
		unsigned bits = peek16(d);

		c = bits >> 13;
		if (c == 7) {
			for (unsigned mask = 1u << 12; mask & bits; mask >>= 1)
				c++;
		}
		d->bit += c < 7 ? 3 : c - 3;
		if (c > 16)
			return -1;
		d->pt_len[i++] = (unsigned char)c;
		if (i == special) {
			c = getbits(d, 2);
			if (i + c > nn)
				return -1;
			while (c-- > 0)
				d->pt_len[i++] = 0;
		}
	}
	while (i < nn)
		d->pt_len[i++] = 0;
	return make_table(d, nn, d->pt_len, PTABLEBITS, d->pt_table);
}

/* The code lengths of the literal/length code, coded with the pt code. */
static int
read_c_len(struct dec *d)
{
	unsigned n = getbits(d, CBIT), i = 0, c;

	if (n == 0) {
		c = getbits(d, CBIT);
		if (c >= NC)
			return -1;
		memset(d->c_len, 0, NC);
		for (i = 0; i < 1u << CTABLEBITS; i++)
			d->c_table[i] = (uint16_t)c;
		return 0;
	}
	if (n > NC)
		return -1;
	while (i < n) {
		unsigned bits = peek16(d);

		c = walk_tree(d, d->pt_table[bits >> 8], NT, bits, 1u << 7);
		if (d->bad)
			return -1;
		d->bit += d->pt_len[c];
		if (c <= 2) {
			if (c == 0)
				c = 1;
			else if (c == 1)
				c = getbits(d, 4) + 3;
			else
				c = getbits(d, CBIT) + 20;
			if (i + c > NC)
				return -1;
			while (c-- > 0)
				d->c_len[i++] = 0;
		} else {
			d->c_len[i++] = (unsigned char)(c - 2);
		}
		if (overrun(d))
			return -1;
	}
	while (i < NC)
		d->c_len[i++] = 0;
	return make_table(d, NC, d->c_len, CTABLEBITS, d->c_table);
}

static unsigned
decode_c(struct dec *d)
{
	unsigned bits, j;

	if (d->blocksize == 0) {
		d->blocksize = getbits(d, 16);
		if (read_pt_len(d, NT, TBIT, 3) < 0 || read_c_len(d) < 0 ||
		    read_pt_len(d, NP, PBIT, (unsigned)-1) < 0) {
			d->bad = 1;
			return 0;
		}
	}
	d->blocksize--;
	bits = peek16(d);
	j = walk_tree(d, d->c_table[bits >> 4], NC, bits, 1u << 3);
	d->bit += d->c_len[j];
	return j;
}

static unsigned
decode_p(struct dec *d)
{
	unsigned bits = peek16(d), j;

	j = walk_tree(d, d->pt_table[bits >> 8], NP, bits, 1u << 7);
	d->bit += d->pt_len[j];
	if (j != 0) {
		j--;
		j = (1u << j) + getbits(d, j);
	}
	return j;
}

/* Method 4: a value with a unary prefix of up to (stop - start) one bits. */
static unsigned
decode_unary(struct dec *d, unsigned start, unsigned stop)
{
	unsigned plus = 0, pwr = 1u << start, width;

	for (width = start; width < stop; width++) {
		if (getbits(d, 1) == 0)
			break;
		plus += pwr;
		pwr <<= 1;
	}
	return plus + getbits(d, width);
}

/* Hands text[flushed..r) on; 0, or -1 if the callback said stop. */
static int
flush(struct dec *d)
{
	int r = 0;

	if (d->r > d->flushed)
		r = d->out(d->arg, d->text + d->flushed, d->r - d->flushed);
	d->flushed = d->r;
	if (d->r == DICSIZ)
		d->r = d->flushed = 0;
	return r;
}

int
arj_decode(const unsigned char *in, size_t inlen, unsigned method, uint64_t usize, zdec_out out,
           void *arg, size_t *consumed)
{
	struct dec *d;
	uint64_t count = 0;
	int res = ZDEC_OK;

	*consumed = 0;
	if (method < 1 || method > 4)
		return ZDEC_BAD;
	d = xcalloc(1, sizeof(*d));
	d->in = in;
	d->inlen = inlen;
	d->out = out;
	d->arg = arg;
	while (count < usize) {
		unsigned c, len;
		size_t dist, from;

		if (method == 4) {
			c = decode_unary(d, 0, 7);
			/* 0: a literal; n: a match of n - 1 + THRESHOLD, as c = n + 255 below. */
			c = c == 0 ? getbits(d, 8) : c + 255;
		} else {
			c = decode_c(d);
		}
		if (d->bad) {
			res = ZDEC_BAD;
			break;
		}
		if (overrun(d)) {
			res = ZDEC_TRUNCATED;
			break;
		}
		if (c < 256) {
			d->text[d->r++] = (unsigned char)c;
			count++;
			if (d->r == DICSIZ && flush(d) < 0) {
				res = ZDEC_STOPPED;
				break;
			}
			continue;
		}
		len = c - (256 - THRESHOLD);
		dist = method == 4 ? decode_unary(d, 9, 13) : decode_p(d);
		if (d->bad || dist >= DICSIZ) {
			res = ZDEC_BAD;
			break;
		}
		if (overrun(d)) {
			res = ZDEC_TRUNCATED;
			break;
		}
		if (len > usize - count)
			len = (unsigned)(usize - count);
		count += len;
		from = (d->r + DICSIZ - dist - 1) % DICSIZ;
		while (len-- > 0) {
			d->text[d->r++] = d->text[from];
			if (++from == DICSIZ)
				from = 0;
			if (d->r == DICSIZ && flush(d) < 0) {
				res = ZDEC_STOPPED;
				break;
			}
		}
		if (res != ZDEC_OK)
			break;
	}
	if (res == ZDEC_OK && flush(d) < 0)
		res = ZDEC_STOPPED;
	else if (res == ZDEC_BAD || res == ZDEC_TRUNCATED)
		(void)flush(d); /* what decoded is scanned */
	*consumed = (size_t)((d->bit + 7) / 8 < inlen ? (d->bit + 7) / 8 : inlen);
	free(d);
	return res;
}

/* ---- the walk over the members ---- */

struct arj_out {
	struct extract_ctx *x;
	int fd;
	uint64_t n, max, packed;
	unsigned ratio;
	enum scan_limit cut;
	int err;
	uLong crc;
};

/* zdec_out: appends to the temporary file; -1 once a limit is reached. */
static int
out_write(void *arg, const unsigned char *buf, size_t len)
{
	struct arj_out *o = arg;

	if (o->max && o->n + len > o->max) {
		len = (size_t)(o->max - o->n);
		o->cut = LIMIT_FILE_SIZE;
	}
	if (len && write_all(o->fd, buf, len) < 0) {
		o->err = errno;
		return -1;
	}
	o->crc = crc32(o->crc, buf, (uInt)len);
	o->n += len;
	if (o->cut == LIMIT_NONE && o->ratio && o->n >= ARJ_RATIO_FLOOR &&
	    o->n / (o->packed ? o->packed : 1) > o->ratio)
		o->cut = LIMIT_RATIO;
	if (o->cut == LIMIT_NONE && extract_stopped(o->x))
		return -1;
	return o->cut == LIMIT_NONE ? 0 : -1;
}

/* len bytes at off in fd: 0, or -1 if they cannot all be read. */
static int
rd(int fd, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread_full(fd, buf, len, off);

	return n >= 0 && (size_t)n == len ? 0 : -1;
}

/*
 * Decodes one packed member (avail bytes at off) to a temporary file and
 * hands it to the walker. Returns -1 when the walk stops.
 */
static int
decode_member(struct extract_ctx *x, int fd, uint64_t off, uint64_t avail,
              const struct arj_header *h)
{
	struct arj_out o;
	unsigned char *in;
	size_t consumed;
	int r, stop;

	/* The decoder reads from memory: the packed bytes, bounded. */
	if (extract_max_child(x) && avail > extract_max_child(x)) {
		extract_note(x, SCAN_LIMIT, LIMIT_FILE_SIZE, h->name, "packed member too large");
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.x = x;
	o.max = extract_max_child(x);
	o.ratio = extract_max_ratio(x);
	o.packed = avail;
	o.crc = crc32(0L, Z_NULL, 0);
	o.fd = tmpfd_open_for(extract_tmpdir(x), h->usize);
	if (o.fd < 0) {
		extract_note(x, SCAN_ERROR, LIMIT_NONE, h->name, "temporary file: %s",
		             strerror(errno));
		return -1;
	}
	in = xmalloc(avail ? (size_t)avail : 1);
	if (rd(fd, off, in, (size_t)avail) < 0)
		r = ZDEC_TRUNCATED;
	else
		r = arj_decode(in, (size_t)avail, h->method, h->usize, out_write, &o, &consumed);
	free(in);
	if (o.err)
		extract_note(x, SCAN_ERROR, LIMIT_NONE, h->name, "temporary file: %s",
		             strerror(o.err));
	else if (o.cut != LIMIT_NONE)
		extract_note(x, SCAN_LIMIT, o.cut, h->name,
		             o.cut == LIMIT_RATIO ? "compression ratio too high"
		                                  : "file too large");
	else if (r == ZDEC_BAD || (r == ZDEC_TRUNCATED && !(h->flags & ARJ_VOLUME)))
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, h->name, "arj method %u: %s data",
		             h->method, r == ZDEC_BAD ? "bad" : "truncated");
	else if (r == ZDEC_OK && o.crc != h->crc)
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, h->name, "arj member CRC mismatch");
	stop = o.err ? -1 : 0;
	if (!stop && o.n > 0)
		stop = extract_child_fd(x, h->name, o.fd, 0, o.n);
	close(o.fd);
	return stop;
}

/*
 * Reads the header at *pos (and the extended headers after it), leaving
 * *pos at what follows. Returns an enum arj_hdr; ARJ_HDR_SHORT when the
 * range ends inside it.
 */
static int
read_header(int fd, uint64_t *pos, uint64_t end, struct arj_header *h, unsigned char *buf)
{
	size_t n = end - *pos < 4 + ARJ_HDR_MAX + 4 ? (size_t)(end - *pos) : 4 + ARJ_HDR_MAX + 4;
	int r;

	if (rd(fd, *pos, buf, n) < 0)
		return ARJ_HDR_SHORT;
	r = arj_header(buf, n, h);
	if (r != ARJ_HDR_OK) {
		*pos += h->len;
		return r;
	}
	*pos += h->len;
	for (;;) {
		unsigned char sz[2];
		unsigned len;

		if (end - *pos < 2 || rd(fd, *pos, sz, 2) < 0)
			return ARJ_HDR_SHORT;
		*pos += 2;
		if ((len = le16(sz)) == 0)
			return ARJ_HDR_OK;
		if (end - *pos < (uint64_t)len + 4)
			return ARJ_HDR_SHORT;
		*pos += (uint64_t)len + 4;
	}
}

void
arj_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	unsigned char *buf = xmalloc(4 + ARJ_HDR_MAX + 4);
	struct arj_header *h = xmalloc(sizeof(*h));
	uint64_t pos = off, end = off + size;
	int r;

	r = read_header(fd, &pos, end, h, buf);
	if (r != ARJ_HDR_OK) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "arj main header %s",
		             r == ARJ_HDR_SHORT ? "cut short" : "damaged");
		goto out;
	}
	if (h->flags & ARJ_GARBLED)
		extract_note(x, SCAN_ENCRYPTED, LIMIT_NONE, NULL, "arj archive garbled");
	while (!extract_stopped(x)) {
		uint64_t avail;

		r = read_header(fd, &pos, end, h, buf);
		if (r == ARJ_HDR_END)
			break;
		if (r != ARJ_HDR_OK) {
			/* Sizes after a bad header are not to be trusted: stop here. */
			extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "arj header %s",
			             r == ARJ_HDR_SHORT ? "cut short" : "damaged");
			break;
		}
		avail = h->csize;
		if (avail > end - pos) {
			extract_note(x, SCAN_CORRUPT, LIMIT_NONE, h->name, "arj member cut short");
			avail = end - pos;
		}
		if (h->type == ARJ_TYPE_DIR || h->type == ARJ_TYPE_LABEL) {
			/* nothing to scan */
		} else if (h->flags & ARJ_GARBLED) {
			extract_note(x, SCAN_ENCRYPTED, LIMIT_NONE, h->name, "arj member garbled");
		} else if (h->method == 0) {
			if (avail < h->usize && !(h->flags & ARJ_VOLUME) && avail == h->csize)
				extract_note(x, SCAN_CORRUPT, LIMIT_NONE, h->name,
				             "arj stored member shorter than its size");
			if (avail > 0 && extract_child_fd(x, h->name, fd, pos, avail) < 0)
				break;
		} else if (h->method <= 4) {
			if (decode_member(x, fd, pos, avail, h) < 0)
				break;
		} else {
			extract_note(x, SCAN_CORRUPT, LIMIT_NONE, h->name, "arj method %u unknown",
			             h->method);
		}
		pos += avail;
	}
out:
	free(h);
	free(buf);
}

/*
 * binhex: the BinHex 4.0 decoder (see binhex.h). Three layers in one pass:
 * 6-bit characters to bytes, run-length expansion (0x90 n: the previous
 * byte n - 1 more times; 0x90 0: a literal 0x90), and the stream layout
 * (header, data fork + CRC, resource fork + CRC).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/binhex.h"
#include "util/xalloc.h"

#define HQX_OUT 4096
#define HQX_HDR_MAX (1 + HQX_NAME_MAX + 1 + 4 + 4 + 2 + 4 + 4 + 2)

enum hqx_stage {
	ST_HEADER = 0,
	ST_DATA,
	ST_DATA_CRC,
	ST_RSRC,
	ST_RSRC_CRC,
	ST_TAIL, /* both forks read: what follows is ignored */
};

struct hqx {
	const struct hqx_ops *ops;
	void *arg;
	enum hqx_status status;
	/* 6-bit layer */
	uint32_t bits;
	unsigned nbits;
	/* run-length layer */
	int rle;  /* the previous byte was 0x90 */
	int have; /* last is valid */
	uint8_t last;
	/* stream layer */
	enum hqx_stage stage;
	uint8_t hdr[HQX_HDR_MAX];
	size_t hlen, hneed;
	int header_ok;
	uint32_t left; /* bytes left in the current fork */
	uint32_t rsrc_len;
	uint16_t crc;
	uint8_t crcbuf[2];
	unsigned crclen;
	int open; /* a fork was begun and not ended */
	char name[HQX_NAME_MAX + 1];
	size_t outlen;
	uint8_t out[HQX_OUT];
};

/* The 64 characters, in value order. */
static const char alphabet[] = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/* Character -> value + 1 (0: not in the alphabet); built once. */
static uint8_t dec_table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
table_build(void)
{
	for (unsigned i = 0; i < 64; i++)
		dec_table[(uint8_t)alphabet[i]] = (uint8_t)(i + 1);
}

/* CRC-16/XMODEM (polynomial 0x1021, initial 0), one byte. */
static uint16_t
crc_step(uint16_t crc, uint8_t b)
{
	crc ^= (uint16_t)(b << 8);
	for (int i = 0; i < 8; i++)
		crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	return crc;
}

struct hqx *
hqx_new(const struct hqx_ops *ops, void *arg)
{
	struct hqx *h = xcalloc(1, sizeof(*h));

	pthread_once(&table_once, table_build);
	h->ops = ops;
	h->arg = arg;
	h->hneed = 1;
	return h;
}

void
hqx_free(struct hqx *h)
{
	free(h);
}

int
hqx_header_ok(const struct hqx *h)
{
	return h->header_ok;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hands the buffered fork bytes on; -1 if the callback stopped us. */
static int
flush(struct hqx *h)
{
	if (h->outlen > 0 && h->ops->data && h->ops->data(h->arg, h->out, h->outlen) < 0) {
		h->status = HQX_STOP;
		return -1;
	}
	h->outlen = 0;
	return 0;
}

static int
fork_begin(struct hqx *h, enum hqx_fork which)
{
	h->open = 1;
	h->crc = 0;
	if (h->ops->begin && h->ops->begin(h->arg, which, h->name) < 0) {
		h->status = HQX_STOP;
		return -1;
	}
	return 0;
}

static int
fork_end(struct hqx *h, enum hqx_fork_end how)
{
	if (!h->open)
		return 0;
	h->open = 0;
	if (flush(h) < 0)
		return -1;
	if (h->ops->end && h->ops->end(h->arg, how) < 0) {
		h->status = HQX_STOP;
		return -1;
	}
	return 0;
}

/* Enters the stage after the data fork's CRC: the resource fork, or the tail. */
static int
start_rsrc(struct hqx *h)
{
	h->crclen = 0;
	if (h->rsrc_len == 0) {
		h->stage = ST_TAIL;
		return 0;
	}
	h->stage = ST_RSRC;
	h->left = h->rsrc_len;
	return fork_begin(h, HQX_RSRC);
}

/* The header is complete: check it, start the data fork. */
static int
header_done(struct hqx *h)
{
	size_t n = h->hdr[0], i;
	uint16_t crc = 0;
	uint32_t dlen;

	for (i = 0; i + 2 < h->hlen; i++)
		crc = crc_step(crc, h->hdr[i]);
	h->header_ok = crc == (uint16_t)(h->hdr[h->hlen - 2] << 8 | h->hdr[h->hlen - 1]);
	memcpy(h->name, h->hdr + 1, n);
	h->name[n] = '\0';
	/* name, version, type, creator, flags: then the two lengths. */
	dlen = be32(h->hdr + 1 + n + 1 + 4 + 4 + 2);
	h->rsrc_len = be32(h->hdr + 1 + n + 1 + 4 + 4 + 2 + 4);
	h->crclen = 0;
	if (dlen == 0) {
		h->stage = ST_DATA_CRC;
		/* An empty fork still carries its CRC (of nothing: 0). */
		return 0;
	}
	h->stage = ST_DATA;
	h->left = dlen;
	return fork_begin(h, HQX_DATA);
}

/* One byte after run-length expansion. */
static int
put_byte(struct hqx *h, uint8_t b)
{
	switch (h->stage) {
	case ST_HEADER:
		if (h->hlen == 0) {
			if (b == 0 || b > HQX_NAME_MAX) {
				h->status = HQX_BAD;
				return -1;
			}
			h->hneed = (size_t)b + 22;
		}
		h->hdr[h->hlen++] = b;
		if (h->hlen == h->hneed)
			return header_done(h);
		return 0;
	case ST_DATA:
	case ST_RSRC:
		h->crc = crc_step(h->crc, b);
		h->out[h->outlen++] = b;
		if (h->outlen == sizeof(h->out) && flush(h) < 0)
			return -1;
		if (--h->left == 0)
			h->stage = h->stage == ST_DATA ? ST_DATA_CRC : ST_RSRC_CRC;
		return 0;
	case ST_DATA_CRC:
	case ST_RSRC_CRC:
		h->crcbuf[h->crclen++] = b;
		if (h->crclen < 2)
			return 0;
		{
			uint16_t want = (uint16_t)(h->crcbuf[0] << 8 | h->crcbuf[1]);
			enum hqx_stage st = h->stage;

			if (fork_end(h, want == h->crc ? HQX_FORK_OK : HQX_FORK_BADCRC) < 0)
				return -1;
			h->crc = 0;
			if (st == ST_DATA_CRC)
				return start_rsrc(h);
			h->stage = ST_TAIL;
		}
		return 0;
	case ST_TAIL:
		return 0;
	}
	return 0;
}

/* One byte of the 8-bit stream: the run-length layer. */
static int
put_raw(struct hqx *h, uint8_t b)
{
	if (h->rle) {
		h->rle = 0;
		if (b == 0) {
			h->last = 0x90;
			h->have = 1;
			return put_byte(h, 0x90);
		}
		if (!h->have)
			return 0;
		for (unsigned i = 1; i < b; i++)
			if (put_byte(h, h->last) < 0)
				return -1;
		return 0;
	}
	if (b == 0x90) {
		h->rle = 1;
		return 0;
	}
	h->last = b;
	h->have = 1;
	return put_byte(h, b);
}

enum hqx_status
hqx_push(struct hqx *h, const void *buf, size_t len, size_t *used)
{
	const uint8_t *p = buf;
	size_t i;

	*used = 0;
	if (h->status != HQX_MORE)
		return h->status;
	for (i = 0; i < len; i++) {
		uint8_t c = p[i], v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == ':') {
			i++;
			h->status = HQX_DONE;
			break;
		}
		v = dec_table[c];
		if (v == 0) {
			i++;
			h->status = HQX_BAD;
			break;
		}
		h->bits = h->bits << 6 | (uint32_t)(v - 1);
		h->nbits += 6;
		if (h->nbits >= 8) {
			h->nbits -= 8;
			if (put_raw(h, (uint8_t)(h->bits >> h->nbits)) < 0) {
				i++;
				break;
			}
			h->bits &= (1u << h->nbits) - 1;
		}
	}
	*used = i;
	if (h->status == HQX_STOP)
		return HQX_STOP;
	if (h->status != HQX_MORE) {
		enum hqx_status st = h->status;

		/* A fork not ended by its CRC is damaged, whatever ended the input. */
		if (fork_end(h, HQX_FORK_DAMAGED) < 0)
			return HQX_STOP;
		h->status = st;
	}
	return h->status;
}

enum hqx_status
hqx_finish(struct hqx *h)
{
	if (h->status == HQX_STOP)
		return HQX_STOP;
	if (fork_end(h, HQX_FORK_DAMAGED) < 0)
		return HQX_STOP;
	if (h->status == HQX_MORE)
		h->status = HQX_DONE;
	return h->status;
}

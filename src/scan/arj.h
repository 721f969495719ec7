/*
 * arj: a reader of ARJ archives (Robert Jung's arj; no Debian library
 * reads them, libarchive included). A main header, then per member a
 * local header (id 0x60 0xEA, basic header, its CRC32, extended headers)
 * and the packed data; a header of size 0 ends the archive. Methods 0
 * (stored), 1-3 (LZH: Huffman-coded literals, lengths and positions over
 * a 26 KiB window, as the original's decode.c and unarj) and 4 ("fastest":
 * unary-prefixed bit lengths). arj_header and arj_decode are parsers: no
 * I/O; arj_extract reads the archive for the walker (extract.h).
 */
#ifndef PC_ARJ_H
#define PC_ARJ_H

#include <stddef.h>
#include <stdint.h>

#include "scan/extract.h"
#include "scan/inflate64.h"

#define ARJ_HDR_MAX 2600 /* the largest basic header arj writes or reads */

/* Flags of a header, and the file types a member can have. */
#define ARJ_GARBLED 0x01 /* encrypted ("garbled") with a password */
#define ARJ_VOLUME 0x04  /* continues in the next volume */
#define ARJ_TYPE_DIR 3
#define ARJ_TYPE_LABEL 4

struct arj_header {
	unsigned flags, method, type;
	uint32_t csize, usize, crc;
	size_t len; /* bytes from the id to the header CRC's end (no extended headers) */
	char name[ARJ_HDR_MAX + 1];
};

enum arj_hdr {
	ARJ_HDR_BAD = -2,   /* not a header, or its CRC is wrong */
	ARJ_HDR_SHORT = -1, /* b ends inside the header */
	ARJ_HDR_OK = 0,
	ARJ_HDR_END = 1, /* basic header size 0: the end of the archive */
};

/*
 * Parses the header (main or local) at b[0..n) into *h (name copied,
 * NUL-terminated). Returns an enum arj_hdr.
 */
int arj_header(const unsigned char *b, size_t n, struct arj_header *h);

/* True if b[0..n) starts with an ARJ main header whose CRC is right. */
int arj_sniff(const unsigned char *b, size_t n);

/*
 * Decodes the data of a member packed with method 1-4 at in[0..inlen),
 * producing usize bytes, handed to out(arg, ...). *consumed: input bytes
 * used. Allocates its window and tables (freed before it returns).
 * Returns an enum zdec_result.
 */
int arj_decode(const unsigned char *in, size_t inlen, unsigned method, uint64_t usize, zdec_out out,
               void *arg, size_t *consumed);

/* The extractor (extract.h): every member of the archive in [off, off + size). */
void arj_extract(struct extract_ctx *x, int fd, uint64_t off, uint64_t size);

#endif

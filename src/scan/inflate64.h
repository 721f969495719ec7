/*
 * inflate64: a decoder of deflate (RFC 1951) and of its 64 KiB-window
 * variant deflate64 (zip method 9, which zlib does not decode): a 64 KiB
 * window, length symbol 285 with 16 extra bits (3..65538), distance codes
 * 30 and 31 (up to 65536). Written after zlib's contrib/puff (Mark Adler):
 * canonical Huffman decoding a bit at a time, from memory, the output
 * handed on in chunks through a callback, so memory is the window and one
 * chunk whatever the output's size. A parser: no I/O, no allocation.
 */
#ifndef PC_INFLATE64_H
#define PC_INFLATE64_H

#include <stddef.h>
#include <stdint.h>

/* Takes the next len decoded bytes; returns 0 to go on, -1 to stop. */
typedef int (*zdec_out)(void *arg, const unsigned char *buf, size_t len);

/* What a decoder of ours returns. */
enum zdec_result {
	ZDEC_BAD = -2,       /* the data is not valid for the method */
	ZDEC_TRUNCATED = -1, /* the input ended before the data did */
	ZDEC_OK = 0,         /* decoded to its end */
	ZDEC_STOPPED = 1,    /* the callback said stop */
};

/*
 * Decodes the raw deflate (deflate64 if d64) stream at in[0..inlen),
 * handing the output to out(arg, ...). *consumed: input bytes used (to
 * the end of the last byte touched). Returns an enum zdec_result.
 */
int inflate64(const unsigned char *in, size_t inlen, int d64, zdec_out out, void *arg,
              size_t *consumed);

#endif

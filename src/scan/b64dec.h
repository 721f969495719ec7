/*
 * b64dec: a streaming base64 decoder for MIME bodies (RFC 2045 6.8), with
 * a counting pass that gives the exact decoded size before decoding, so the
 * engine can be told an object's size when it is opened (hash signatures
 * and EOF offsets need it). Pure: no I/O, no allocation.
 *
 * What it accepts, as GMime and ClamAV do: every byte outside the alphabet
 * (line breaks, spaces, junk) is skipped; '=' counts as a character of
 * value 0, and a complete group of four ending in "=" gives 2 bytes, in
 * "==" 3 - 2 = 1 byte (padding anywhere, so concatenated encodings decode);
 * an incomplete last group gives the whole bytes its characters hold
 * (b64dec_finish: "wA" or "wA=" gives 1 byte, "wAB" 2), as GMime does: a
 * sender or parser that loses the last '=' loses no data. b64dec_count
 * over the same bytes, with b64dec_count_size, gives exactly the number of
 * bytes b64dec_step and b64dec_finish give over them.
 */
#ifndef PC_B64DEC_H
#define PC_B64DEC_H

#include <stddef.h>
#include <stdint.h>

/* State carried between calls: the characters of an incomplete group. */
struct b64dec {
	uint32_t acc;  /* 6 bits per character so far */
	unsigned n;    /* characters in the group so far, 0..3 */
	unsigned eq2;  /* the group's third character was '=' */
	uint64_t seen; /* characters counted (b64dec_count only) */
	uint64_t out;  /* bytes the input decodes to (b64dec_count only) */
};

/* Both passes start from a zeroed state. */
void b64dec_init(struct b64dec *d);

/*
 * Decodes len bytes of in into out, which has room for B64DEC_MAX_OUT(len)
 * bytes; returns the bytes written. The characters of an incomplete group
 * stay in d for the next call. Does not copy or keep in or out.
 */
#define B64DEC_MAX_OUT(len) ((((len) + 3) / 4) * 3)
size_t b64dec_step(struct b64dec *d, const void *in, size_t len, void *out);

/*
 * Ends the input: writes the bytes of an incomplete last group (at most 2)
 * to out and returns how many; the state is then empty (a second call
 * gives 0).
 */
size_t b64dec_finish(struct b64dec *d, void *out);

/*
 * Counting pass: adds what len bytes of in decode to; b64dec_count_size()
 * is then the exact output of b64dec_step and b64dec_finish over the same
 * bytes.
 */
void b64dec_count(struct b64dec *d, const void *in, size_t len);
uint64_t b64dec_count_size(const struct b64dec *d);

#endif

/*
 * explode: a decoder of PKWARE's implode (zip method 6, APPNOTE 5.3):
 * two or three Shannon-Fano trees at the start of the data, then literals
 * and (distance, length) pairs over a 4 or 8 KiB window, until the
 * member's uncompressed size is reached (the data has no end code).
 * libarchive and zlib do not decode it. A parser: no I/O, no allocation;
 * the output goes to a callback in chunks.
 */
#ifndef PC_EXPLODE_H
#define PC_EXPLODE_H

#include <stddef.h>
#include <stdint.h>

#include "scan/inflate64.h"

#define EXPLODE_SIZE_UNKNOWN UINT64_MAX

/*
 * Decodes the imploded data at in[0..inlen) with the member's general
 * purpose flags (bit 1: 8 KiB window, bit 2: a literal tree), producing
 * usize bytes (EXPLODE_SIZE_UNKNOWN: until the input ends), handed to
 * out(arg, ...). *consumed: input bytes used. Returns an enum zdec_result.
 */
int explode(const unsigned char *in, size_t inlen, unsigned flags, uint64_t usize, zdec_out out,
            void *arg, size_t *consumed);

#endif

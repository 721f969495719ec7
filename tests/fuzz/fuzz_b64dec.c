/*
 * libFuzzer target for scan/b64dec. The input is decoded whole (the SIMD
 * and four-character fast paths), byte by byte (the reference path only)
 * and in pieces whose lengths come from the first input byte; all three
 * must give the same bytes, never more than B64DEC_MAX_OUT promises, and
 * b64dec_count must give their number.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/b64dec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = B64DEC_MAX_OUT(size), a, b = 0, c = 0, piece;
	unsigned char *o1 = malloc(cap + 1), *o2 = malloc(cap + 1), *o3 = malloc(cap + 1);
	struct b64dec d1, d2, d3, k;

	if (o1 == NULL || o2 == NULL || o3 == NULL)
		abort();
	piece = size > 0 ? (size_t)data[0] % 61 + 1 : 1;
	b64dec_init(&d1);
	b64dec_init(&d2);
	b64dec_init(&d3);
	b64dec_init(&k);
	a = b64dec_step(&d1, data, size, o1);
	for (size_t i = 0; i < size; i++)
		b += b64dec_step(&d2, data + i, 1, o2 + b);
	for (size_t i = 0; i < size; i += piece) {
		size_t n = size - i < piece ? size - i : piece;

		c += b64dec_step(&d3, data + i, n, o3 + c);
		b64dec_count(&k, data + i, n);
	}
	a += b64dec_finish(&d1, o1 + a);
	b += b64dec_finish(&d2, o2 + b);
	c += b64dec_finish(&d3, o3 + c);
	if (a > cap || a != b || a != c || memcmp(o1, o2, a) != 0 || memcmp(o1, o3, a) != 0 ||
	    b64dec_count_size(&k) != a)
		abort();
	free(o1);
	free(o2);
	free(o3);
	return 0;
}

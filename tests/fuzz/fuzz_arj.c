/*
 * libFuzzer target for scan/arj's parsers: the bytes as a header
 * (arj_header, arj_sniff), then as packed data: the first byte picks the
 * method (1-4), the next two the original size (up to 64 KiB, so that
 * windows wrap), the rest is the data. The output is checked against the
 * size asked for. The extractor itself is fuzzed through fuzz_walk.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/arj.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
out_cb(void *arg, const unsigned char *buf, size_t len)
{
	uint64_t *n = arg;

	(void)buf;
	*n += len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arj_header *h = malloc(sizeof(*h));
	uint64_t n = 0, usize;
	size_t used = 0;
	unsigned method;

	if (h == NULL)
		return 0;
	if (arj_header(data, size, h) == ARJ_HDR_OK && strlen(h->name) > ARJ_HDR_MAX)
		abort();
	(void)arj_sniff(data, size);
	free(h);
	if (size < 3)
		return 0;
	method = data[0] % 4 + 1;
	usize = (uint64_t)data[1] << 8 | data[2];
	usize = usize * 4 + (data[0] >> 2);
	(void)arj_decode(data + 3, size - 3, method, usize, out_cb, &n, &used);
	if (n > usize || used > size - 3)
		abort();
	return 0;
}

/*
 * fuzz_textblocks: any bytes as text, fed to scan/textblocks in two chunks
 * split where the first byte says, through the collector (so the decoders,
 * BinHex's by hand included, and the temporary file run as in a walk), and
 * once more straight to binhex.c after a ':'. Checks the collector's
 * promises: blocks lie inside its file, in order, within the limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scan/binhex.h"
#include "scan/textblocks.h"

static int
h_begin(void *arg, enum hqx_fork which, const char *name)
{
	(void)arg;
	if (strlen(name) > HQX_NAME_MAX || (which != HQX_DATA && which != HQX_RSRC))
		abort();
	return 0;
}

static int
h_data(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	if (len == 0)
		abort();
	return 0;
}

static int
h_end(void *arg, enum hqx_fork_end how)
{
	(void)arg;
	(void)how;
	return 0;
}

static const struct hqx_ops h_ops = {h_begin, h_data, h_end};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tb_options o = {0, 0};
	struct tb_limits l = {16, 0, 1 << 20, 4 << 20, 250};
	struct tb_collect *c;
	struct hqx *h;
	size_t cut, used;
	uint64_t prev = 0;
	struct stat st;

	if (size == 0)
		return 0;
	o.no_uu = data[0] & 1;
	o.b64_min = 16 + (data[0] >> 4);
	cut = size > 1 ? data[0] % size : 0;
	c = tbc_new(&o, &l, NULL);
	tbc_push(c, data, cut);
	tbc_push(c, data + cut, size - cut);
	tbc_finish(c);
	if (tbc_count(c) > l.max_blocks)
		abort();
	if (tbc_count(c) > 0 && fstat(tbc_fd(c), &st) != 0)
		abort();
	for (size_t i = 0; i < tbc_count(c); i++) {
		const struct tb_block *b = tbc_block(c, i);

		if (b->off < prev || b->size > l.max_block ||
		    b->off + b->size > (uint64_t)st.st_size)
			abort();
		prev = b->off + b->size;
	}
	tbc_free(c);

	h = hqx_new(&h_ops, NULL);
	if (hqx_push(h, data, size, &used) == HQX_MORE && used != size)
		abort();
	hqx_finish(h);
	hqx_free(h);
	return 0;
}

/*
 * fuzz_mailnorm: any bytes as a message to mend. Checks that the count-only
 * pass agrees with the writing pass, that nothing mended means the bytes
 * came out unchanged, and that the output grows only by the separators
 * and quotes put in.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/mailnorm.h"

struct out {
	unsigned char *buf;
	size_t len, cap;
};

static int
out_cb(void *arg, const void *buf, size_t len)
{
	struct out *o = arg;

	if (o->len + len > o->cap) {
		o->cap = (o->len + len) * 2;
		o->buf = realloc(o->buf, o->cap);
		if (o->buf == NULL)
			abort();
	}
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailnorm_limits lim = {4096, 8, 4};
	struct mailnorm_stats st;
	struct out o = {NULL, 0, 0};
	long counted, n;

	if (size > 0)
		lim.max_junk_lines = data[0] % 8;
	counted = mailnorm(data, size, &lim, NULL, NULL, NULL);
	n = mailnorm(data, size, &lim, out_cb, &o, &st);
	if (n != counted || n < 0)
		abort();
	if (n == 0 && (o.len != size || (size > 0 && memcmp(o.buf, data, size) != 0)))
		abort();
	/* Only separators (at most 2 bytes each) and quotes (2 each) add bytes. */
	if (o.len > size + 2 * (size_t)(st.separators + st.params))
		abort();
	free(o.buf);
	return 0;
}

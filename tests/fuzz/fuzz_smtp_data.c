/*
 * libFuzzer target for smtp/smtp_data. The input (after a first byte that
 * seeds where it is cut) goes through the DATA parser in pieces and in one
 * push: both must give the same message, done flag and consumed count.
 * The message must hold no bare LF, and stuffing it and parsing the result
 * again must give the same bytes back (plus a CR LF when the input stopped
 * inside a line), consuming exactly the stuffed bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct buf {
	char *p;
	size_t len, cap;
};

static int
buf_emit(void *arg, const char *p, size_t len)
{
	struct buf *b = arg;

	if (len == 0)
		abort(); /* empty emits are pointless calls */
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

/* Parses in[0..len) cut into pieces by seed; returns bytes consumed. */
static size_t
parse(const char *in, size_t len, unsigned seed, struct buf *out, int *done,
      struct smtp_data_rx *rx)
{
	size_t off = 0;

	smtp_data_rx_init(rx);
	*done = 0;
	while (off < len && !*done) {
		size_t k = seed == 0 ? len - off : 1 + seed % 7;
		size_t n;

		seed = seed * 1103515245u + 12345u;
		if (k > len - off)
			k = len - off;
		n = smtp_data_rx_push(rx, in + off, k, buf_emit, out, done);
		if (n == (size_t)-1 || n > k || (!*done && n != k))
			abort();
		off += n;
	}
	return off;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = {0}, b = {0}, c = {0};
	struct smtp_data_rx rx1, rx2, rx3;
	struct smtp_stuff st;
	const char *in, *end;
	char *stuffed;
	size_t len, n1, n2, n3, ns = 0, half;
	int d1, d2, d3;
	unsigned seed;

	if (size < 1)
		return 0;
	seed = data[0] | 1u;
	in = (const char *)data + 1;
	len = size - 1;

	n1 = parse(in, len, 0, &a, &d1, &rx1);
	n2 = parse(in, len, seed, &b, &d2, &rx2);
	if (n1 != n2 || d1 != d2 || a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0) ||
	    rx1.lines != rx2.lines || rx1.bare_lf != rx2.bare_lf)
		abort();
	for (size_t i = 0; i < a.len; i++)
		if (a.p[i] == '\n' && (i == 0 || a.p[i - 1] != '\r'))
			abort();
	if (d1 && a.len > 0 && (a.len < 2 || memcmp(a.p + a.len - 2, "\r\n", 2) != 0))
		abort();

	/* Stuff the message in two pieces and parse it back. */
	stuffed = malloc(2 * a.len + 8);
	smtp_stuff_init(&st);
	half = a.len / 2;
	ns += smtp_stuff_push(&st, a.p, half, stuffed);
	ns += smtp_stuff_push(&st, a.p + half, a.len - half, stuffed + ns);
	if (ns > 2 * a.len)
		abort();
	end = smtp_stuff_end(&st);
	memcpy(stuffed + ns, end, strlen(end));
	ns += strlen(end);
	n3 = parse(stuffed, ns, seed, &c, &d3, &rx3);
	if (!d3 || n3 != ns || rx3.bare_lf != 0)
		abort();
	if (c.len == a.len) {
		if (a.len && memcmp(a.p, c.p, a.len) != 0)
			abort();
		/* Equal lengths only when the message ended at a line start. */
		if (a.len > 0 && (a.len < 2 || memcmp(a.p + a.len - 2, "\r\n", 2) != 0))
			abort();
	} else if (c.len != a.len + 2 || memcmp(c.p, a.p, a.len) != 0 ||
	           memcmp(c.p + a.len, "\r\n", 2) != 0)
		abort();
	free(stuffed);
	free(a.p);
	free(b.p);
	free(c.p);
	return 0;
}

/*
 * smtp_data: the DATA phase as a pure parser, both ways. Owns no memory;
 * the caller owns the buffers and the state structs. No I/O, no logging.
 *
 * Receiving. A line ends at CRLF or at a bare LF (normalized to CRLF); a
 * bare CR is line content. The message ends at exactly one byte
 * sequence: CR LF "." CR LF, where the CR LF before the dot is a real
 * CR LF in the input (the start of the message counts as one, so ".\r\n"
 * right after 354 is an empty message). In particular these never end it:
 *
 *   "\n.\n"    "\r\n.\n"    "\n.\r\n"    "\r.\r"    "\r\n.\r" + not LF
 *
 * ("\n.\r\n" is a bare LF, then a line "." that ends in CR LF: it is kept
 * as a line "." and stored as "\r\n.\r\n"; the stuffer sends it as "..").
 * Unstuffing follows RFC 5321 4.5.2: a line that starts with "." and has
 * other characters loses the first "."; a line that is only "." and is not
 * the terminator is kept as ".". Bytes after the terminator are not
 * consumed: they are the next pipelined command.
 *
 * The state between pushes is one small enum; nothing is buffered, so a
 * terminator split anywhere across pushes is found. Ordinary bytes are
 * found with memchr() and emitted straight from the input in long runs;
 * the few bytes we insert (the CR of a bare LF, a kept ".") are coalesced
 * with short runs in a small stack buffer, so a message with bare-LF lines
 * is emitted in kilobyte chunks too, never byte by byte.
 */
#include <string.h>

#include "smtp/smtp_data.h"

enum rx_state {
	RX_BOL,       /* start of a line after CR LF (or message start) */
	RX_BOL_LF,    /* start of a line after a bare LF */
	RX_TEXT,      /* inside a line, the last byte was not CR */
	RX_TEXT_CR,   /* inside a line, the last byte was CR (already emitted) */
	RX_DOT,       /* RX_BOL, then ".", not emitted */
	RX_DOT_CR,    /* RX_DOT, then CR, neither emitted */
	RX_DOT_LF,    /* RX_BOL_LF, then ".", not emitted */
	RX_DOT_LF_CR, /* RX_DOT_LF, then CR, neither emitted */
	RX_DONE,
};

/* Runs at least this long go to emit() directly; shorter ones are copied. */
#define RX_DIRECT_MIN 512
#define RX_STAGE_SIZE 4096

/* The output side of one push: a staging buffer in front of emit(). */
struct rx_out {
	smtp_data_emit emit;
	void *arg;
	size_t n;
	int failed;
	char buf[RX_STAGE_SIZE];
};

/* Sends what is staged; 0 or -1 when emit() refused. */
static int
rx_flush(struct rx_out *o)
{
	if (o->n > 0 && !o->failed && o->emit(o->arg, o->buf, o->n) != 0)
		o->failed = 1;
	o->n = 0;
	return o->failed ? -1 : 0;
}

/* Queues len bytes of p in order with everything before; 0 or -1. */
static int
rx_put(struct rx_out *o, const char *p, size_t len)
{
	if (len == 0 || o->failed)
		return o->failed ? -1 : 0;
	if (len >= RX_DIRECT_MIN) {
		if (rx_flush(o) < 0)
			return -1;
		if (o->emit(o->arg, p, len) != 0)
			o->failed = 1;
		return o->failed ? -1 : 0;
	}
	if (o->n + len > sizeof(o->buf) && rx_flush(o) < 0)
		return -1;
	memcpy(o->buf + o->n, p, len);
	o->n += len;
	return 0;
}

void
smtp_data_rx_init(struct smtp_data_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->state = RX_BOL;
}

/*
 * The loop keeps a run [run, p) of input bytes that go out unchanged and
 * flushes it only where a byte is dropped (a stuffed ".") or inserted (the
 * CR of a bare LF), at the end of the buffer, and at the terminator.
 */
size_t
smtp_data_rx_push(struct smtp_data_rx *rx, const char *in, size_t len, smtp_data_emit emit,
                  void *arg, int *done)
{
	struct rx_out o;
	const char *p = in, *end = in + len, *run = in, *nl;
	enum rx_state st = (enum rx_state)rx->state;

	*done = 0;
	if (st == RX_DONE) {
		*done = 1;
		return 0;
	}
	o.emit = emit;
	o.arg = arg;
	o.n = 0;
	o.failed = 0;

	while (p < end) {
		unsigned char c = (unsigned char)*p;

		switch (st) {
		case RX_BOL:
		case RX_BOL_LF:
			if (c == '.') {
				/* Held back until we know whether it is stuffing. */
				if (rx_put(&o, run, (size_t)(p - run)) < 0)
					return (size_t)-1;
				st = st == RX_BOL ? RX_DOT : RX_DOT_LF;
				run = ++p;
			} else
				st = RX_TEXT;
			break;
		case RX_DOT:
			if (c == '\r') {
				st = RX_DOT_CR;
				run = ++p;
			} else if (c == '\n') {
				/* ".\n" after CR LF: a kept "." line, not the end. */
				if (rx_put(&o, ".\r\n", 3) < 0)
					return (size_t)-1;
				rx->lines++;
				rx->bare_lf++;
				st = RX_BOL_LF;
				run = ++p;
			} else
				st = RX_TEXT; /* the "." was stuffing: dropped */
			break;
		case RX_DOT_CR:
			if (c == '\n') {
				p++;
				if (rx_flush(&o) < 0)
					return (size_t)-1;
				rx->state = RX_DONE;
				*done = 1;
				return (size_t)(p - in);
			}
			/* ".\r" + more: stuffing; the CR is content. */
			if (rx_put(&o, "\r", 1) < 0)
				return (size_t)-1;
			st = RX_TEXT_CR;
			break;
		case RX_DOT_LF:
			if (c == '\r') {
				st = RX_DOT_LF_CR;
				run = ++p;
			} else if (c == '\n') {
				if (rx_put(&o, ".\r\n", 3) < 0)
					return (size_t)-1;
				rx->lines++;
				rx->bare_lf++;
				st = RX_BOL_LF;
				run = ++p;
			} else
				st = RX_TEXT;
			break;
		case RX_DOT_LF_CR:
			if (c == '\n') {
				/* "\n.\r\n": a kept "." line ending in a real CR LF. */
				if (rx_put(&o, ".\r\n", 3) < 0)
					return (size_t)-1;
				rx->lines++;
				st = RX_BOL;
				run = ++p;
				break;
			}
			if (rx_put(&o, "\r", 1) < 0)
				return (size_t)-1;
			st = RX_TEXT_CR;
			break;
		case RX_TEXT:
		case RX_TEXT_CR:
			nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL) {
				st = end[-1] == '\r' ? RX_TEXT_CR : RX_TEXT;
				p = end;
				break;
			}
			rx->lines++;
			if (nl > p ? nl[-1] == '\r' : st == RX_TEXT_CR) {
				st = RX_BOL;
				p = nl + 1;
				break;
			}
			/* A bare LF: send the line, then CR LF for the LF. */
			if (rx_put(&o, run, (size_t)(nl - run)) < 0 || rx_put(&o, "\r\n", 2) < 0)
				return (size_t)-1;
			rx->bare_lf++;
			st = RX_BOL_LF;
			run = p = nl + 1;
			break;
		case RX_DONE:
			break;
		}
	}
	if (rx_put(&o, run, (size_t)(p - run)) < 0 || rx_flush(&o) < 0)
		return (size_t)-1;
	rx->state = st;
	return len;
}

enum stuff_state {
	ST_BOL,     /* start of a line (or of the message) */
	ST_TEXT,    /* inside a line, the last byte was not CR */
	ST_TEXT_CR, /* inside a line, the last byte was CR */
};

void
smtp_stuff_init(struct smtp_stuff *st)
{
	st->state = ST_BOL;
}

/*
 * Copies runs up to each LF with memcpy; at the start of a line a "." is
 * doubled, and an LF not preceded by CR gets one. Each input byte yields at
 * most two output bytes, hence the 2 * len bound on out.
 */
size_t
smtp_stuff_push(struct smtp_stuff *st, const char *in, size_t len, char *out)
{
	const char *p = in, *end = in + len, *nl;
	char *o = out;
	int s = st->state;

	while (p < end) {
		if (s == ST_BOL) {
			if (*p == '.')
				*o++ = '.';
			s = ST_TEXT;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			memcpy(o, p, (size_t)(end - p));
			o += end - p;
			s = end[-1] == '\r' ? ST_TEXT_CR : ST_TEXT;
			break;
		}
		memcpy(o, p, (size_t)(nl - p));
		o += nl - p;
		if (!(nl > p ? nl[-1] == '\r' : s == ST_TEXT_CR))
			*o++ = '\r';
		*o++ = '\n';
		s = ST_BOL;
		p = nl + 1;
	}
	st->state = s;
	return (size_t)(o - out);
}

const char *
smtp_stuff_end(const struct smtp_stuff *st)
{
	return st->state == ST_BOL ? ".\r\n" : "\r\n.\r\n";
}

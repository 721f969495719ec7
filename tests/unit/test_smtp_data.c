/*
 * Unit tests for smtp/smtp_data: the DATA receive parser (terminator,
 * unstuffing, bare LF/CR, smuggling sequences) under every split of the
 * input, and the dot-stuffer, alone and as the parser's inverse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_data.h"

/* What emit() received. */
struct sink {
	char *buf;
	size_t len, cap;
	unsigned calls;
	unsigned fail_at; /* emit call number (1-based) that fails; 0 = never */
};

static int
sink_emit(void *arg, const char *buf, size_t len)
{
	struct sink *s = arg;

	s->calls++;
	if (s->fail_at != 0 && s->calls == s->fail_at)
		return -1;
	assert_true(len > 0);
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

/* Result of feeding one input in pieces. */
struct run {
	struct sink out;
	size_t consumed;
	int done;
	struct smtp_data_rx rx;
};

/*
 * Feeds in[0..len) cut at the sorted positions cuts[0..ncuts); stops
 * pushing once the message is done, like a session would.
 */
static void
run_split(const char *in, size_t len, const size_t *cuts, size_t ncuts, struct run *r)
{
	size_t start = 0;

	memset(r, 0, sizeof(*r));
	smtp_data_rx_init(&r->rx);
	for (size_t i = 0; i <= ncuts && !r->done; i++) {
		size_t stop = i < ncuts ? cuts[i] : len;
		size_t n = smtp_data_rx_push(&r->rx, in + start, stop - start, sink_emit, &r->out,
		                             &r->done);

		assert_true(n != (size_t)-1);
		if (!r->done)
			assert_int_equal(n, stop - start);
		r->consumed += n;
		start = stop;
	}
}

static void
run_free(struct run *r)
{
	free(r->out.buf);
}

#define S(x) x, sizeof(x) - 1

/*
 * The vectors. `in` is what follows 354; `out` the message bytes; `rest`
 * how many bytes after the terminator are left unconsumed (done only).
 */
static const struct {
	const char *in;
	size_t inlen;
	const char *out;
	size_t outlen;
	int done;
	size_t rest;
	uint64_t lines, bare_lf;
} vec[] = {
    /* The one terminator, and what is left after it. */
    {S(".\r\n"), S(""), 1, 0, 0, 0},
    {S("a\r\n.\r\n"), S("a\r\n"), 1, 0, 1, 0},
    {S("a\r\n.\r\nQUIT\r\n"), S("a\r\n"), 1, 6, 1, 0},
    {S("\r\n.\r\n"), S("\r\n"), 1, 0, 1, 0},
    {S("a\r\n.\r\n.\r\n"), S("a\r\n"), 1, 3, 1, 0},
    /* Unstuffing. */
    {S("..a\r\n.\r\n"), S(".a\r\n"), 1, 0, 1, 0},
    {S("...\r\n.\r\n"), S("..\r\n"), 1, 0, 1, 0},
    {S("..\r\n.\r\n"), S(".\r\n"), 1, 0, 1, 0},
    {S("a.\r\n.b\r\n.\r\n"), S("a.\r\nb\r\n"), 1, 0, 2, 0},
    {S("a\r\n.\r\r\n.\r\n"), S("a\r\n\r\r\n"), 1, 0, 2, 0},
    /* Smuggling sequences never end the message (RFC 5321 2.3.8). */
    {S("a\n.\n"), S("a\r\n.\r\n"), 0, 0, 2, 2},
    {S("a\r\n.\n"), S("a\r\n.\r\n"), 0, 0, 2, 1},
    {S("a\n.\r\n"), S("a\r\n.\r\n"), 0, 0, 2, 1},
    {S("a\r.\r\n"), S("a\r.\r\n"), 0, 0, 1, 0},
    {S("a\r\n.\ra\r\n"), S("a\r\n\ra\r\n"), 0, 0, 2, 0},
    {S("a\r\n.\r"), S("a\r\n"), 0, 0, 1, 0},
    {S("a\r\n."), S("a\r\n"), 0, 0, 1, 0},
    {S("a\r.\r"), S("a\r.\r"), 0, 0, 0, 0},
    {S("\n.\r\n"), S("\r\n.\r\n"), 0, 0, 2, 1},
    {S(".\n"), S(".\r\n"), 0, 0, 1, 1},
    {S("\n.\n"), S("\r\n.\r\n"), 0, 0, 2, 2},
    {S("a\r\n\n.\n\nMAIL FROM:<x@y>\r\nRCPT TO:<v@w>\r\nDATA\r\nevil\r\n"),
     S("a\r\n\r\n.\r\n\r\nMAIL FROM:<x@y>\r\nRCPT TO:<v@w>\r\nDATA\r\nevil\r\n"), 0, 0, 8, 3},
    {S("a\r\n.\nMAIL FROM:<x@y>\r\n"), S("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), 0, 0, 3, 1},
    {S("a\n.\r\nMAIL FROM:<x@y>\r\n"), S("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), 0, 0, 3, 1},
    {S("a\r.\r\nMAIL FROM:<x@y>\r\n"), S("a\r.\r\nMAIL FROM:<x@y>\r\n"), 0, 0, 2, 0},
    {S("a\r\n.\rMAIL FROM:<x@y>\r\n"), S("a\r\n\rMAIL FROM:<x@y>\r\n"), 0, 0, 2, 0},
    /* ... but the real terminator after them does. */
    {S("a\n.\r\n.\r\nX"), S("a\r\n.\r\n"), 1, 1, 2, 1},
    {S("a\n.\n.\r\n"), S("a\r\n.\r\n.\r\n"), 0, 0, 3, 2},
    {S("a\n.\n\r\n.\r\n"), S("a\r\n.\r\n\r\n"), 1, 0, 3, 2},
    {S("..\n.\r\n.\r\n"), S(".\r\n.\r\n"), 1, 0, 2, 1},
    /* Bare LF normalized, bare CR kept. */
    {S("a\nb\nc\r\n.\r\n"), S("a\r\nb\r\nc\r\n"), 1, 0, 3, 2},
    {S("\n\n.\r\n"), S("\r\n\r\n.\r\n"), 0, 0, 3, 2},
    {S("a\rb\r\n.\r\n"), S("a\rb\r\n"), 1, 0, 1, 0},
    {S("\r\r\r\n.\r\n"), S("\r\r\r\n"), 1, 0, 1, 0},
    {S("\r.\r\n.\r\n"), S("\r.\r\n"), 1, 0, 1, 0},
    {S(".\r.\r\n.\r\n"), S("\r.\r\n"), 1, 0, 1, 0},
    /* NULs are message bytes. */
    {S("a\0b\r\n\0.\r\n.\r\n"), S("a\0b\r\n\0.\r\n"), 1, 0, 2, 0},
    {S(".\0\r\n.\r\n"), S("\0\r\n"), 1, 0, 1, 0},
};

/* Runs vector v cut at every position (two pieces) and every pair of positions. */
static void
check_vector(size_t v)
{
	size_t len = vec[v].inlen, cuts[2];
	struct run r;

	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			cuts[0] = a;
			cuts[1] = b;
			run_split(vec[v].in, len, cuts, 2, &r);
			if (r.done != vec[v].done || r.out.len != vec[v].outlen ||
			    memcmp(r.out.buf ? r.out.buf : "", vec[v].out, r.out.len) != 0)
				fail_msg("vector %zu cut at %zu,%zu: done %d len %zu", v, a, b,
				         r.done, r.out.len);
			assert_int_equal(r.consumed, len - vec[v].rest);
			assert_int_equal(r.rx.lines, vec[v].lines);
			assert_int_equal(r.rx.bare_lf, vec[v].bare_lf);
			run_free(&r);
		}
	}
}

static void
test_vectors_every_split(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof(vec) / sizeof(vec[0]); v++)
		check_vector(v);
}

static void
test_vectors_byte_at_a_time(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof(vec) / sizeof(vec[0]); v++) {
		size_t len = vec[v].inlen, cuts[128];
		struct run r;

		assert_true(len < 128);
		for (size_t i = 0; i < len; i++)
			cuts[i] = i + 1;
		run_split(vec[v].in, len, cuts, len, &r);
		assert_int_equal(r.done, vec[v].done);
		assert_int_equal(r.out.len, vec[v].outlen);
		assert_memory_equal(r.out.buf ? r.out.buf : "", vec[v].out, r.out.len);
		assert_int_equal(r.consumed, len - vec[v].rest);
		run_free(&r);
	}
}

static void
test_after_done(void **state)
{
	struct smtp_data_rx rx;
	struct sink s = {0};
	int done = 0;
	(void)state;

	smtp_data_rx_init(&rx);
	assert_int_equal(smtp_data_rx_push(&rx, ".\r\nNOOP\r\n", 9, sink_emit, &s, &done), 3);
	assert_int_equal(done, 1);
	done = 0;
	assert_int_equal(smtp_data_rx_push(&rx, "NOOP\r\n", 6, sink_emit, &s, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(s.len, 0);
	/* init starts a new message. */
	smtp_data_rx_init(&rx);
	assert_int_equal(smtp_data_rx_push(&rx, "x\r\n", 3, sink_emit, &s, &done), 3);
	assert_int_equal(done, 0);
	assert_int_equal(s.len, 3);
	free(s.buf);
}

static void
test_emit_failure(void **state)
{
	static const char *in[] = {"abc\r\n.\r\n", "a\nb\n.\r\n", "..x\r\n.\r\n"};
	(void)state;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct smtp_data_rx rx;
		struct sink s = {0};
		int done = 0;

		s.fail_at = 1;
		smtp_data_rx_init(&rx);
		assert_true(smtp_data_rx_push(&rx, in[i], strlen(in[i]), sink_emit, &s, &done) ==
		            (size_t)-1);
		assert_int_equal(done, 0);
		free(s.buf);
	}
}

/* A long CRLF message in one push goes out in one emit, from the input. */
static void
test_long_lines_and_runs(void **state)
{
	size_t big = 1024 * 1024, len;
	char *in = malloc(big + 64);
	struct run r;
	(void)state;

	/* One 1 MB line. */
	memset(in, 'x', big);
	memcpy(in + big, "\r\n.\r\n", 5);
	len = big + 5;
	run_split(in, len, NULL, 0, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.out.len, big + 2);
	assert_int_equal(r.out.calls, 1);
	assert_int_equal(r.rx.lines, 1);
	run_free(&r);

	/* Many short CRLF lines: still one emit. */
	for (size_t i = 0; i < big; i += 4)
		memcpy(in + i, "ab\r\n", 4);
	memcpy(in + big, ".\r\n", 3);
	run_split(in, big + 3, NULL, 0, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.out.len, big);
	assert_memory_equal(r.out.buf, in, big);
	assert_int_equal(r.out.calls, 1);
	assert_int_equal(r.rx.lines, big / 4);
	run_free(&r);

	/* Bare-LF lines are coalesced: far fewer emits than lines. */
	for (size_t i = 0; i < big; i += 4)
		memcpy(in + i, "abc\n", 4);
	memcpy(in + big, "\r\n.\r\n", 5);
	run_split(in, big + 5, NULL, 0, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.out.len, big / 4 * 5 + 2);
	assert_int_equal(r.rx.bare_lf, big / 4);
	assert_true(r.out.calls < big / 4 / 100);
	for (size_t i = 0; i < big / 4; i++)
		assert_memory_equal(r.out.buf + i * 5, "abc\r\n", 5);
	run_free(&r);

	/* Stuffed lines likewise. */
	for (size_t i = 0; i < big; i += 4)
		memcpy(in + i, "..\r\n", 4);
	memcpy(in + big, ".\r\n", 3);
	run_split(in, big + 3, NULL, 0, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.out.len, big / 4 * 3);
	assert_true(r.out.calls < big / 4 / 100);
	run_free(&r);
	free(in);
}

/* Small deterministic generator, so that failures reproduce. */
static uint32_t rng_state = 2463534242u;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Random bytes, heavy in the characters that matter here. */
static void
random_bytes(char *p, size_t n)
{
	static const char alphabet[] = "\r\n..\r\n\r\nab\0\xff";

	for (size_t i = 0; i < n; i++)
		p[i] = rng() % 4 == 0 ? (char)rng() : alphabet[rng() % (sizeof(alphabet) - 1)];
}

static size_t
stuff_all(const char *in, size_t len, size_t piece, char *out)
{
	struct smtp_stuff st;
	size_t n = 0;
	const char *end;

	smtp_stuff_init(&st);
	for (size_t off = 0; off < len; off += piece) {
		size_t k = len - off < piece ? len - off : piece;

		n += smtp_stuff_push(&st, in + off, k, out + n);
	}
	end = smtp_stuff_end(&st);
	memcpy(out + n, end, strlen(end));
	return n + strlen(end);
}

static void
test_stuff_vectors(void **state)
{
	static const struct {
		const char *in;
		size_t inlen;
		const char *out; /* including the terminator */
		size_t outlen;
	} sv[] = {
	    {S(""), S(".\r\n")},
	    {S("a\r\n"), S("a\r\n.\r\n")},
	    {S("a"), S("a\r\n.\r\n")},
	    {S(".\r\n"), S("..\r\n.\r\n")},
	    {S("a\r\n.b\r\n..\r\n"), S("a\r\n..b\r\n...\r\n.\r\n")},
	    {S("a\nb\n"), S("a\r\nb\r\n.\r\n")},
	    {S("\n.\n"), S("\r\n..\r\n.\r\n")},
	    {S("a\r.b\r"), S("a\r.b\r\r\n.\r\n")},
	    {S("a.\r\n"), S("a.\r\n.\r\n")},
	};
	char out[64];
	(void)state;

	for (size_t i = 0; i < sizeof(sv) / sizeof(sv[0]); i++) {
		for (size_t piece = 1; piece <= sv[i].inlen + 1; piece++) {
			size_t n = stuff_all(sv[i].in, sv[i].inlen, piece, out);

			assert_int_equal(n, sv[i].outlen);
			assert_memory_equal(out, sv[i].out, n);
		}
	}
}

/*
 * Random input through the parser gives U; U stuffed and parsed again
 * gives U exactly, whatever the pieces. U never holds a bare LF.
 */
static void
test_round_trip_random(void **state)
{
	enum { ROUNDS = 400, MAXLEN = 4096 };
	char *in = malloc(MAXLEN + 8), *stuffed = malloc(2 * (MAXLEN * 2 + 8) + 8);
	(void)state;

	for (int round = 0; round < ROUNDS; round++) {
		size_t len = rng() % MAXLEN, cuts[8], ncuts = rng() % 8, n;
		struct run a, b;

		random_bytes(in, len);
		memcpy(in + len, "\r\n.\r\n", 5);
		len += 5;
		for (size_t i = 0; i < ncuts; i++)
			cuts[i] = rng() % (len + 1);
		for (size_t i = 1; i < ncuts; i++) /* insertion sort */
			for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t t = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = t;
			}
		run_split(in, len, cuts, ncuts, &a);
		assert_int_equal(a.done, 1);
		for (size_t i = 0; i < a.out.len; i++)
			if (a.out.buf[i] == '\n')
				assert_true(i > 0 && a.out.buf[i - 1] == '\r');
		if (a.out.len > 0)
			assert_memory_equal(a.out.buf + a.out.len - 2, "\r\n", 2);

		n = stuff_all(a.out.buf ? a.out.buf : "", a.out.len, 1 + rng() % 64, stuffed);
		run_split(stuffed, n, cuts, 0, &b);
		assert_int_equal(b.done, 1);
		assert_int_equal(b.consumed, n);
		assert_int_equal(b.out.len, a.out.len);
		if (a.out.len > 0)
			assert_memory_equal(b.out.buf, a.out.buf, a.out.len);
		assert_int_equal(b.rx.bare_lf, 0);
		run_free(&a);
		run_free(&b);
	}
	free(in);
	free(stuffed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors_every_split),
	    cmocka_unit_test(test_vectors_byte_at_a_time),
	    cmocka_unit_test(test_after_done),
	    cmocka_unit_test(test_emit_failure),
	    cmocka_unit_test(test_long_lines_and_runs),
	    cmocka_unit_test(test_stuff_vectors),
	    cmocka_unit_test(test_round_trip_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

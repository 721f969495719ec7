/*
 * Unit tests for scan/b64dec: a table of encoded inputs and the bytes they
 * must decode to, each decoded whole, byte by byte and in 7-byte chunks,
 * with b64dec_count giving the same size every time; then random data
 * encoded with line breaks, cross-checked against GMime's base64 decoder
 * (the one the mail walker used before b64dec); then the fast paths against
 * the byte-at-a-time reference on random text with junk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "scan/b64dec.h"

struct vec {
	const char *in;
	const char *out;
	size_t out_len;
};

#define V(i, o)                                                                                    \
	{                                                                                          \
		i, o, sizeof(o) - 1                                                                \
	}

static const struct vec vecs[] = {
    V("", ""),
    V("TWFu", "Man"),
    V("TWE=", "Ma"),
    V("TQ==", "M"),
    V("TWFuTWE=", "ManMa"),
    V("TW\r\nFu", "Man"),
    V("T W\tF\nu", "Man"),     /* whitespace anywhere */
    V("TW*F!u", "Man"),        /* junk skipped */
    V("TWF", "Ma"),            /* incomplete group: its whole bytes */
    V("TWFuT", "Man"),         /* one character holds no byte */
    V("TWFuTQ", "ManM"),       /* two hold one */
    V("TQ=", "M"),             /* a lost last '=' loses no data */
    V("wA=", "\xc0"),          /* (GMime decodes so too) */
    V("TQ==TWFu", "MMan"),     /* concatenated encodings */
    V("TWE=TQ==", "MaM"),      /* padding in the middle */
    V("TQ=\r\n=", "M"),        /* padding split by a line break */
    V("=TWF", "\x01\x35\x85"), /* '=' first counts as zero */
    V("T=Fu", "\x4c\x01\x6e"), /* '=' second as well */
    V("TW=u", "\x4d\x60\x2e"), /* '=' third, plain last: 3 bytes */
    V("////", "\xff\xff\xff"),
    V("++++", "\xfb\xef\xbe"),
    V("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nAAAA",
      "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
    V("Zm9vYmFy\r\n\r\nZm9v\r\n", "foobarfoo"),
};

/* Decodes in, fed in pieces of chunk bytes (0 = whole); checks size and bytes. */
static void
check_one(const struct vec *t, size_t chunk)
{
	size_t len = strlen(t->in), got = 0;
	unsigned char out[256];
	struct b64dec d, c;

	b64dec_init(&d);
	b64dec_init(&c);
	for (size_t off = 0; off < len || (off == 0 && len == 0);) {
		size_t n = chunk == 0 || len - off < chunk ? len - off : chunk;

		assert_true(got + B64DEC_MAX_OUT(n) <= sizeof(out));
		got += b64dec_step(&d, t->in + off, n, out + got);
		b64dec_count(&c, t->in + off, n);
		off += n;
		if (len == 0)
			break;
	}
	got += b64dec_finish(&d, out + got);
	assert_int_equal(b64dec_finish(&d, out + got), 0);
	assert_int_equal(got, t->out_len);
	assert_memory_equal(out, t->out, t->out_len);
	assert_int_equal(b64dec_count_size(&c), t->out_len);
}

static void
test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		check_one(&vecs[i], 0);
		check_one(&vecs[i], 1);
		check_one(&vecs[i], 7);
	}
}

/* Random bytes, base64 with CRLF every 76 characters: as GMime decodes them. */
static void
test_against_gmime(void **state)
{
	(void)state;
	g_mime_init();
	srand(8);
	for (int round = 0; round < 50; round++) {
		size_t n = (size_t)(rand() % 5000), enc_len, got = 0, ref_len;
		unsigned char *raw = malloc(n + 1), *ref, *out;
		char *enc;
		int st = 0;
		guint32 save = 0;
		struct b64dec d, c;

		for (size_t i = 0; i < n; i++)
			raw[i] = (unsigned char)rand();
		enc = malloc(n * 2 + 16); /* 4/3 and a line break every 57 bytes */
		enc_len =
		    g_mime_encoding_base64_encode_close(raw, n, (unsigned char *)enc, &st, &save);
		/* GMime breaks lines with LF; the wire has CRLF: use both halves. */
		ref = malloc(enc_len + 4);
		out = malloc(B64DEC_MAX_OUT(enc_len) + 4);
		st = 0;
		save = 0;
		ref_len = g_mime_encoding_base64_decode_step((unsigned char *)enc, enc_len, ref,
		                                             &st, &save);
		assert_int_equal(ref_len, n);
		assert_memory_equal(ref, raw, n);
		b64dec_init(&d);
		b64dec_init(&c);
		for (size_t off = 0; off < enc_len;) {
			size_t k = (size_t)(rand() % 300) + 1;

			if (k > enc_len - off)
				k = enc_len - off;
			got += b64dec_step(&d, enc + off, k, out + got);
			b64dec_count(&c, enc + off, k);
			off += k;
		}
		got += b64dec_finish(&d, out + got);
		assert_int_equal(got, n);
		assert_memory_equal(out, raw, n);
		assert_int_equal(b64dec_count_size(&c), n);
		free(raw);
		free(enc);
		free(ref);
		free(out);
	}
}

/*
 * Random text of alphabet characters with line breaks, junk and '=' mixed
 * in: decoded whole (the 16-character fast path) and byte by byte (the
 * reference path only), the results and the count must agree.
 */
static void
test_fast_path(void **state)
{
	static const char pool[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	(void)state;
	srand(42);
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)(rand() % 3000), a = 0, b = 0;
		unsigned char *in = malloc(n + 1), *o1 = malloc(B64DEC_MAX_OUT(n) + 1),
		              *o2 = malloc(B64DEC_MAX_OUT(n) + 1);
		struct b64dec d1, d2, c;
		int junk = rand() % 4;

		for (size_t i = 0; i < n; i++) {
			int r = rand() % 1000;

			if (junk && r < 10)
				in[i] = (unsigned char)(rand() % 256); /* any byte, 0x80+ too */
			else if (junk && r < 30)
				in[i] = "\r\n =-_.\t"[rand() % 9];
			else if (junk > 1 && r < 33)
				in[i] = '=';
			else
				in[i] = (unsigned char)pool[rand() % 64];
		}
		b64dec_init(&d1);
		b64dec_init(&d2);
		b64dec_init(&c);
		a = b64dec_step(&d1, in, n, o1);
		for (size_t i = 0; i < n; i++)
			b += b64dec_step(&d2, in + i, 1, o2 + b);
		a += b64dec_finish(&d1, o1 + a);
		b += b64dec_finish(&d2, o2 + b);
		b64dec_count(&c, in, n);
		assert_int_equal(a, b);
		assert_memory_equal(o1, o2, a);
		assert_int_equal(b64dec_count_size(&c), a);
		assert_true(a <= B64DEC_MAX_OUT(n));
		free(in);
		free(o1);
		free(o2);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_against_gmime),
	    cmocka_unit_test(test_fast_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

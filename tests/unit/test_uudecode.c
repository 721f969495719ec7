/*
 * Unit tests for scan/uudecode: a table of texts and the events they must
 * give ("[name:mode]" at a begin, the decoded bytes, "<ok>", "<missing>"
 * or "<malformed>" at an end), each fed whole, byte by byte and in 7-byte
 * chunks, so that line reassembly is tested too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/uudecode.h"

struct rec {
	char buf[8192];
	size_t len;
	int stop_at_begin; /* begin returns -1 */
};

static void
rec_add(struct rec *r, const void *p, size_t n)
{
	assert_true(r->len + n < sizeof(r->buf));
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static int
rec_begin(void *arg, unsigned mode, const char *name)
{
	struct rec *r = arg;
	char tmp[300];
	int n = snprintf(tmp, sizeof(tmp), "[%s:%o]", name, mode);

	rec_add(r, tmp, (size_t)n);
	return r->stop_at_begin ? -1 : 0;
}

static int
rec_data(void *arg, const void *buf, size_t len)
{
	rec_add(arg, buf, len);
	return 0;
}

static int
rec_end(void *arg, enum uudec_end how)
{
	static const char *const names[] = {"<ok>", "<missing>", "<malformed>"};

	rec_add(arg, names[how], strlen(names[how]));
	return 0;
}

static const struct uudec_ops rec_ops = {rec_begin, rec_data, rec_end};

#define V(in, want)                                                                                \
	{                                                                                          \
		in, sizeof(in) - 1, want, sizeof(want) - 1                                         \
	}

static const struct {
	const char *in;
	size_t inlen;
	const char *want;
	size_t wantlen;
} vectors[] = {
    /* The plain case, with the modern backtick zero line. */
    V("begin 644 hello.txt\n-2&5L;&\\L('=O<FQD(0``\n`\nend\n", "[hello.txt:644]Hello, world!<ok>"),
    /* CRLF line ends. */
    V("begin 644 hello.txt\r\n-2&5L;&\\L('=O<FQD(0``\r\n`\r\nend\r\n",
      "[hello.txt:644]Hello, world!<ok>"),
    /* Old encoders: spaces for zero bits, trailing ones stripped in transit. */
    V("begin 600 z.bin\n#\n \nend\n", "[z.bin:600]\0\0\0<ok>"),
    V("begin 644 h\n-2&5L;&\\L('=O<FQD(0\n`\nend\n", "[h:644]Hello, world!<ok>"),
    /* Text around the block, and no block at all. */
    V("Hi,\nsee below.\n\nbegin 644 a.txt\n#86)C\n`\nend\nBye\n", "[a.txt:644]abc<ok>"),
    V("just text\nno block here\n", ""),
    V("", ""),
    /* `begin` without `end`: data up to the end of input is kept. */
    V("begin 644 x\n#86)C\n", "[x:644]abc<missing>"),
    V("begin 644 x\n#86)C\n`\ne", "[x:644]abc<missing>"),
    V("begin 644 a", "[a:644]<missing>"),
    /* `end` without the zero line, and with trailing blanks. */
    V("begin 644 x\n#86)C\nend  \n", "[x:644]abc<ok>"),
    /* Blank lines inside a block are skipped. */
    V("begin 644 x\n#86)C\n\n#0V%T\n`\n\nend\n", "[x:644]abcCat<ok>"),
    /* Two blocks, text between them. */
    V("begin 644 one\n#86)C\n`\nend\ntext\nbegin 755 two\n#0V%T\n`\nend\n",
      "[one:644]abc<ok>[two:755]Cat<ok>"),
    /* A new begin inside a block ends the first one. */
    V("begin 644 a\n#86)C\nbegin 644 b\n#0V%T\nend\n", "[a:644]abc<missing>[b:644]Cat<ok>"),
    /* A malformed line (lower case) ends the block; the rest is plain text. */
    V("begin 644 m\n#86)C\nhello world\n#0V%T\nend\n", "[m:644]abc<malformed>"),
    V("begin 644 m\n#86)C\n#8~)C\nend\n", "[m:644]abc<malformed>"),
    /* An extra checksum character at the end of a line is ignored. */
    V("begin 644 c\n#86)CX\n`\nend\n", "[c:644]abc<ok>"),
    /* Not begin lines. */
    V("begin-base64 644 x\nYWJj\n====\n", ""),
    V("begin 644\n#86)C\nend\n", ""),
    V("begin 649 x\n#86)C\nend\n", ""),
    V("begin 12345 x\n#86)C\nend\n", ""),
    V("  begin 644 x\n#86)C\nend\n", ""),
    /* Names keep inner spaces, lose trailing blanks and CR. */
    V("begin 644 my file.exe \t\r\n#86)C\nend\n", "[my file.exe:644]abc<ok>"),
    V("begin  0644   spaced\n\"86(\nend\n", "[spaced:644]ab<ok>"),
};

/* A line longer than UUDEC_LINE_MAX inside a block is malformed. */
static void
test_long_line(void **state)
{
	struct rec r;
	struct uudec *u;
	char line[UUDEC_LINE_MAX + 100];
	(void)state;

	memset(&r, 0, sizeof(r));
	u = uudec_new(&rec_ops, &r);
	assert_int_equal(uudec_push(u, "begin 644 l\n#86)C\n", 18), 0);
	memset(line, 'M', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	assert_int_equal(uudec_push(u, line, sizeof(line)), 0);
	assert_int_equal(uudec_push(u, "#0V%T\nend\n", 10), 0);
	assert_int_equal(uudec_finish(u), 0);
	assert_int_equal(r.len, strlen("[l:644]abc<malformed>"));
	assert_memory_equal(r.buf, "[l:644]abc<malformed>", r.len);
	assert_int_equal(uudec_blocks(u), 1);
	uudec_free(u);
}

static void
run_vector(size_t i, size_t chunk)
{
	struct rec r;
	struct uudec *u;

	memset(&r, 0, sizeof(r));
	u = uudec_new(&rec_ops, &r);
	for (size_t off = 0; off < vectors[i].inlen; off += chunk) {
		size_t n = vectors[i].inlen - off < chunk ? vectors[i].inlen - off : chunk;

		assert_int_equal(uudec_push(u, vectors[i].in + off, n), 0);
	}
	assert_int_equal(uudec_finish(u), 0);
	if (r.len != vectors[i].wantlen || memcmp(r.buf, vectors[i].want, r.len) != 0)
		fail_msg("vector %zu chunk %zu: got \"%.*s\" want \"%s\"", i, chunk, (int)r.len,
		         r.buf, vectors[i].want);
	uudec_free(u);
}

static void
test_vectors(void **state)
{
	static const size_t chunks[] = {SIZE_MAX, 1, 7};
	(void)state;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
			run_vector(i, chunks[c] == SIZE_MAX ? vectors[i].inlen + 1 : chunks[c]);
}

/* A large block decodes to the exact bytes (45-byte lines, all values). */
static void
test_full_lines(void **state)
{
	static const char text[] =
	    "begin 644 bytes\n"
	    "M``$\"`P0%!@<(\"0H+#`T.#Q`1$A,4%187&!D:&QP='A\\@(2(C)\"4F)R@I*BLL\n"
	    "`\nend\n";
	unsigned char want[45];
	struct rec r;
	struct uudec *u;
	(void)state;

	for (int i = 0; i < 45; i++)
		want[i] = (unsigned char)i;
	memset(&r, 0, sizeof(r));
	u = uudec_new(&rec_ops, &r);
	assert_int_equal(uudec_push(u, text, sizeof(text) - 1), 0);
	assert_int_equal(uudec_finish(u), 0);
	assert_int_equal(r.len, strlen("[bytes:644]") + 45 + strlen("<ok>"));
	assert_memory_equal(r.buf + strlen("[bytes:644]"), want, 45);
	uudec_free(u);
}

/* A callback's -1 stops the parser for good. */
static void
test_stop(void **state)
{
	struct rec r;
	struct uudec *u;
	(void)state;

	memset(&r, 0, sizeof(r));
	r.stop_at_begin = 1;
	u = uudec_new(&rec_ops, &r);
	assert_int_equal(uudec_push(u, "begin 644 a\n#86)C\n", 18), -1);
	assert_int_equal(uudec_push(u, "end\n", 4), -1);
	assert_int_equal(uudec_finish(u), -1);
	assert_int_equal(r.len, strlen("[a:644]"));
	uudec_free(u);
}

static void
test_has_begin(void **state)
{
	static const struct {
		const char *text;
		int want;
	} rows[] = {
	    {"begin 644 a.exe\n", 1},   {"some text\r\nbegin 0644 a b c\r\nM...\r\n", 1},
	    {"begin 644 trailing", 1},  {"begin-base64 644 a\n", 0},
	    {"begin 644 \n", 0},        {"begin\n", 0},
	    {"we begin 644 here\n", 0}, {"", 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(uu_has_begin(rows[i].text, strlen(rows[i].text)), rows[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_full_lines), cmocka_unit_test(test_stop),
	    cmocka_unit_test(test_has_begin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

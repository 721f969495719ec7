/*
 * Unit tests for util/sanitize: one table of inputs, each through a preset
 * and a buffer size, with the exact output; then copies in place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/sanitize.h"

#define B(s) s, sizeof(s) - 1

static void
test_table(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		unsigned rules;
		size_t cap;
		const char *want;
	} v[] = {
	    /* Names (paths): SAN_NAME. */
	    {B("plain.exe"), SAN_NAME, 64, "plain.exe"},
	    {B("///lead"), SAN_NAME, 64, "lead"},
	    {B("a//b///c/"), SAN_NAME, 64, "a/b/c/"},
	    {B("/"), SAN_NAME, 8, ""},
	    {B(""), SAN_NAME, 8, ""},
	    {B("a\tb\nc\rd"), SAN_NAME, 64, "a?b?c?d"},
	    {B("nul\0x"), SAN_NAME, 64, "nul?x"},
	    {B("bell\x07 del\x7f esc\x1b"), SAN_NAME, 64, "bell? del? esc?"},
	    {B("x\xc2\x85y"), SAN_NAME, 64, "x?y"},                      /* C1 NEL: one '?' */
	    {B("\xc2\x80\xc2\x9f\xc2\xa0"), SAN_NAME, 64, "??\xc2\xa0"}, /* C1 ends at U+009F */
	    {B("\xed\xa0\x80"), SAN_NAME, 64, "?"},                      /* surrogate: one unit */
	    {B("\xe0\x80\xaf"), SAN_NAME, 64, "?"},     /* overlong '/', not a '/' */
	    {B("\xf4\x90\x80\x80"), SAN_NAME, 64, "?"}, /* above U+10FFFF */
	    {B("\xc0\xaf"), SAN_NAME, 64, "??"},        /* C0 cannot lead: per byte */
	    {B("\xff\xfe"), SAN_NAME, 64, "??"},
	    {B("cut \xe2\x82"), SAN_NAME, 64, "cut ??"}, /* truncated sequence */
	    {B("caf\xc3\xa9 \xf0\x9f\x98\x80"), SAN_NAME, 64, "caf\xc3\xa9 \xf0\x9f\x98\x80"},
	    {B("\xe2\x82\xac\xe2\x82\xac"), SAN_NAME, 5, "\xe2\x82\xac"}, /* cut between chars */
	    {B("abcdef"), SAN_NAME, 4, "abc"},
	    {B("abcdef"), SAN_NAME, 1, ""},
	    /* Values (notices, headers): SAN_VALUE. */
	    {B("a\r\nBcc: evil@example.com"), SAN_VALUE, 64, "a  Bcc: evil@example.com"},
	    {B("tab\there"), SAN_VALUE, 64, "tab here"},
	    {B("bell\x07 del\x7f"), SAN_VALUE, 64, "bell? del?"},
	    {B("bad \xff\xfe utf8"), SAN_VALUE, 64, "bad ?? utf8"},
	    {B("overlong \xc0\xaf"), SAN_VALUE, 64, "overlong ??"},
	    {B("c1 \xc2\x85 nel"), SAN_VALUE, 64, "c1 ? nel"},
	    {B("sur \xed\xbf\xbf"), SAN_VALUE, 64, "sur ?"},
	    {B("//keeps/slashes//"), SAN_VALUE, 64, "//keeps/slashes//"},
	    {B("abcdefghij"), SAN_VALUE, 8, "abcd..."},
	    {B("abc"), SAN_VALUE, 3, "ab"},
	    {B("abcdef"), SAN_VALUE, 3, "ab"}, /* no room for "..." */
	    {B("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"), SAN_VALUE, 8, "\xe2\x82\xac..."},
	    {B("abcdefg"), SAN_VALUE, 8, "abcdefg"}, /* fits: no mark */
	    /* Log lines: SAN_LOG; bytes >= 0x80 pass as they are. */
	    {B("a\tb\r\n\x7f"), SAN_LOG, 64, "a?b???"},
	    {B("caf\xc3\xa9 \xff \xc2\x85"), SAN_LOG, 64, "caf\xc3\xa9 \xff \xc2\x85"},
	    {B("//x"), SAN_LOG, 64, "//x"},
	    {B("abcdef"), SAN_LOG, 4, "abc"},
	    /* SMTP reply text: SAN_REPLY keeps TAB. */
	    {B("a\tb\rc\0d\x7f"), SAN_REPLY, 64, "a\tb?c?d?"},
	    {B("\xe2\x82\xac"), SAN_REPLY, 64, "\xe2\x82\xac"},
	    /* Samples: printable ASCII only, per byte. */
	    {B("ok \xe2\x82\xac\x01"), SAN_SAMPLE, 64, "ok ????"},
	    {B("PONX"), SAN_SAMPLE, 3, "PO"},
	    /* JSON: high bytes only; controls are the encoder's. */
	    {B("caf\xe9\tx\n"), SAN_JSON, 64, "caf?\tx\n"},
	    {B("\xc3\xa9"), SAN_JSON, 64, "??"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char out[64];
		size_t n;

		memset(out, 'Z', sizeof(out));
		n = sanitize_mem(v[i].in, v[i].len, out, v[i].cap, v[i].rules);
		if (strcmp(out, v[i].want) != 0 || n != strlen(v[i].want))
			fail_msg("row %zu: got \"%s\" (%zu bytes)", i, out, n);
		/* The string form agrees where there is no NUL inside. */
		if (memchr(v[i].in, '\0', v[i].len) == NULL) {
			char again[64];

			sanitize(v[i].in, again, v[i].cap, v[i].rules);
			assert_string_equal(again, out);
		}
	}
}

/* cap 0 writes nothing; NULL is the empty string. */
static void
test_edges(void **state)
{
	char out[4] = "xyz";
	(void)state;

	assert_int_equal(sanitize("abc", out, 0, SAN_VALUE), 0);
	assert_string_equal(out, "xyz");
	assert_int_equal(sanitize(NULL, out, sizeof(out), SAN_VALUE), 0);
	assert_string_equal(out, "");
	assert_int_equal(sanitize_mem(NULL, 5, out, sizeof(out), SAN_NAME), 0);
	assert_string_equal(out, "");
}

/* out may be in: the output never runs ahead of the input. */
static void
test_in_place(void **state)
{
	static const struct {
		const char *in;
		unsigned rules;
		size_t cap;
		const char *want;
	} v[] = {
	    {"///a//\xed\xa0\x80//b\tc", SAN_NAME, 64, "a/?/b?c"},
	    {"line\r\nnext \xff", SAN_VALUE, 64, "line  next ?"},
	    {"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", SAN_VALUE, 8, "\xe2\x82\xac..."},
	    {"log\x1b[31m", SAN_LOG, 64, "log?[31m"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%s", v[i].in);
		sanitize(buf, buf, v[i].cap, v[i].rules);
		if (strcmp(buf, v[i].want) != 0)
			fail_msg("row %zu: got \"%s\"", i, buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

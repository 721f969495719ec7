/*
 * Unit tests for util/utf8: one table of sequences with the length and
 * code point utf8_decode must give, and utf8_valid over whole strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/utf8.h"

#define B(s) s, sizeof(s) - 1

static void
test_decode(void **state)
{
	static const struct {
		const char *what;
		const char *in;
		size_t n;   /* bytes available */
		size_t len; /* wanted return */
		uint32_t cp;
	} v[] = {
	    {"NUL", B("\0"), 1, 0},
	    {"ASCII", B("A"), 1, 'A'},
	    {"TAB", B("\t"), 1, '\t'},
	    {"DEL", B("\x7f"), 1, 0x7f},
	    {"ASCII, more follows", B("ab"), 1, 'a'},
	    {"U+0080, first 2-byte", B("\xc2\x80"), 2, 0x80},
	    {"U+0085 NEL, a C1 control", B("\xc2\x85"), 2, 0x85},
	    {"U+00E9", B("\xc3\xa9"), 2, 0xe9},
	    {"U+07FF, last 2-byte", B("\xdf\xbf"), 2, 0x7ff},
	    {"U+0800, first 3-byte", B("\xe0\xa0\x80"), 3, 0x800},
	    {"U+20AC", B("\xe2\x82\xac"), 3, 0x20ac},
	    {"U+D7FF, before the surrogates", B("\xed\x9f\xbf"), 3, 0xd7ff},
	    {"U+E000, after the surrogates", B("\xee\x80\x80"), 3, 0xe000},
	    {"U+FFFD", B("\xef\xbf\xbd"), 3, 0xfffd},
	    {"U+FFFF", B("\xef\xbf\xbf"), 3, 0xffff},
	    {"U+10000, first 4-byte", B("\xf0\x90\x80\x80"), 4, 0x10000},
	    {"U+1F600", B("\xf0\x9f\x98\x80"), 4, 0x1f600},
	    {"U+10FFFF, the last", B("\xf4\x8f\xbf\xbf"), 4, 0x10ffff},
	    /* The right shape, no scalar value: one unit, UTF8_INVALID. */
	    {"overlong 3-byte NUL", B("\xe0\x80\x80"), 3, UTF8_INVALID},
	    {"overlong 3-byte '/'", B("\xe0\x80\xaf"), 3, UTF8_INVALID},
	    {"overlong 3-byte U+07FF", B("\xe0\x9f\xbf"), 3, UTF8_INVALID},
	    {"overlong 4-byte", B("\xf0\x80\x80\x80"), 4, UTF8_INVALID},
	    {"overlong 4-byte U+FFFF", B("\xf0\x8f\xbf\xbf"), 4, UTF8_INVALID},
	    {"surrogate U+D800", B("\xed\xa0\x80"), 3, UTF8_INVALID},
	    {"surrogate U+DFFF", B("\xed\xbf\xbf"), 3, UTF8_INVALID},
	    {"above U+10FFFF", B("\xf4\x90\x80\x80"), 4, UTF8_INVALID},
	    /* Not the right shape: 0, *cp the first byte. */
	    {"overlong 2-byte C0", B("\xc0\xaf"), 0, 0xc0},
	    {"overlong 2-byte C1", B("\xc1\xbf"), 0, 0xc1},
	    {"lone continuation", B("\x80"), 0, 0x80},
	    {"lone continuation BF", B("\xbf"), 0, 0xbf},
	    {"F5 cannot lead", B("\xf5\x80\x80\x80"), 0, 0xf5},
	    {"FE", B("\xfe"), 0, 0xfe},
	    {"FF", B("\xff"), 0, 0xff},
	    {"2-byte cut by the end", B("\xc3"), 0, 0xc3},
	    {"3-byte cut by the end", B("\xe2\x82"), 0, 0xe2},
	    {"4-byte cut by the end", B("\xf0\x9f\x98"), 0, 0xf0},
	    {"3-byte, n says 2", "\xe2\x82\xac", 2, 0, 0xe2},
	    {"ASCII where a continuation must be", B("\xe2(\xa1"), 0, 0xe2},
	    {"lead where a continuation must be", B("\xc3\xc3\xa9"), 0, 0xc3},
	    {"3-byte, third not a continuation", B("\xe2\x82("), 0, 0xe2},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t cp = 12345;
		size_t len = utf8_decode((const unsigned char *)v[i].in, v[i].n, &cp);

		if (len != v[i].len || cp != v[i].cp)
			fail_msg("%s: length %zu code point %#x, want %zu %#x", v[i].what, len,
			         (unsigned)cp, v[i].len, (unsigned)v[i].cp);
	}
}

static void
test_valid(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		int valid;
	} v[] = {
	    {B(""), 1},
	    {B("plain ASCII"), 1},
	    {B("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 1},
	    {B("a\0b"), 1}, /* U+0000 is a character; callers that refuse NUL say so */
	    {B("\x7f\x01\x1f"), 1},
	    {B("\xc2\x85"), 1}, /* C1 controls are valid UTF-8 */
	    {B("bad \xff"), 0},
	    {B("\xed\xa0\x80"), 0},
	    {B("\xe0\x80\xaf"), 0},
	    {B("\xf4\x90\x80\x80"), 0},
	    {B("\xc0\x80"), 0},
	    {B("cut \xe2\x82"), 0},
	    {B("\x80 lone"), 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (utf8_valid(v[i].in, v[i].n) != v[i].valid)
			fail_msg("row %zu: utf8_valid is %d", i, !v[i].valid);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for util/words: a table of configuration values, each with
 * the words it must split into.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/words.h"

static void
test_split(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *want[4];
	} v[] = {
	    {NULL, 0, {NULL}},
	    {"", 0, {NULL}},
	    {" , ,\t", 0, {NULL}},
	    {"a", 1, {"a"}},
	    {"a,b c\td", 4, {"a", "b", "c", "d"}},
	    {",,x,,", 1, {"x"}},
	    {"  image/png ,image/*  ", 2, {"image/png", "image/*"}},
	    {"example.org,\texample.net", 2, {"example.org", "example.net"}},
	    {"a;b", 1, {"a;b"}}, /* only space, comma and TAB separate */
	    {"x\ny", 1, {"x\ny"}},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char **w = (char **)1;
		size_t n = 99;

		words_split(v[i].in, &w, &n);
		if (n != v[i].n)
			fail_msg("row %zu: %zu words, want %zu", i, n, v[i].n);
		if (n == 0)
			assert_null(w);
		for (size_t k = 0; k < n; k++)
			assert_string_equal(w[k], v[i].want[k]);
		words_free(w, n);
	}
	words_free(NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

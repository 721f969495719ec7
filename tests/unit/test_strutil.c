/*
 * Unit tests for util/strutil: tables of sizes, durations and booleans as
 * a configuration file writes them, with the value or the refusal each
 * must give.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/strbuf.h"
#include "util/strutil.h"

#define BAD 0, 0 /* refused */
#define OK(v) 1, (v)

/* parse_size and parse_duration_ms: one table, the parser a column. */
static void
test_scaled(void **state)
{
	static const struct {
		int (*parse)(const char *, uint64_t *);
		const char *in;
		int ok;
		uint64_t want;
	} v[] = {
	    {parse_size, "0", OK(0)},
	    {parse_size, "10", OK(10)},
	    {parse_size, "10b", OK(10)},
	    {parse_size, "10B", OK(10)},
	    {parse_size, "10k", OK(10240)},
	    {parse_size, "10KB", OK(10240)},
	    {parse_size, "10kib", OK(10240)},
	    {parse_size, "64M", OK(64ULL << 20)},
	    {parse_size, "64mb", OK(64ULL << 20)},
	    {parse_size, "64MiB", OK(64ULL << 20)},
	    {parse_size, "2G", OK(2ULL << 30)},
	    {parse_size, "2gb", OK(2ULL << 30)},
	    {parse_size, "2GiB", OK(2ULL << 30)},
	    {parse_size, "18446744073709551615", OK(UINT64_MAX)},
	    {parse_size, "18446744073709551616", BAD}, /* overflows strtoull */
	    {parse_size, "17179869184G", BAD},         /* 2^34 GiB: overflows the multiply */
	    {parse_size, "17179869183G", OK(17179869183ULL << 30)},
	    {parse_size, "", BAD},
	    {parse_size, "k", BAD},
	    {parse_size, "-1", BAD},
	    {parse_size, " 1", BAD},
	    {parse_size, "1 k", BAD},
	    {parse_size, "1t", BAD},
	    {parse_size, "1kk", BAD},
	    {parse_size, "1.5M", BAD},
	    {parse_duration_ms, "0", OK(0)},
	    {parse_duration_ms, "30", OK(30000)},
	    {parse_duration_ms, "30s", OK(30000)},
	    {parse_duration_ms, "500ms", OK(500)},
	    {parse_duration_ms, "2m", OK(120000)},
	    {parse_duration_ms, "2min", OK(120000)},
	    {parse_duration_ms, "1h", OK(3600000)},
	    {parse_duration_ms, "1d", OK(86400000)},
	    {parse_duration_ms, "30S", BAD}, /* units are case-sensitive: "M" is not minutes */
	    {parse_duration_ms, "2M", BAD},
	    {parse_duration_ms, "1H", BAD},
	    {parse_duration_ms, "", BAD},
	    {parse_duration_ms, "s", BAD},
	    {parse_duration_ms, "1w", BAD},
	    {parse_duration_ms, "-5s", BAD},
	    {parse_duration_ms, "18446744073709551s", OK(18446744073709551000ULL)},
	    {parse_duration_ms, "18446744073709552s", BAD}, /* overflows the multiply */
	    {parse_duration_ms, "18446744073709551ms", OK(18446744073709551ULL)},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t out = 12345;
		int r = v[i].parse(v[i].in, &out);

		if (!v[i].ok ? r != -1 : (r != 0 || out != v[i].want))
			fail_msg("row %zu (\"%s\"): %d, %llu", i, v[i].in, r,
			         (unsigned long long)out);
	}
}

static void
test_bool(void **state)
{
	static const struct {
		const char *in;
		int want; /* -1: refused */
	} v[] = {
	    {"yes", 1}, {"true", 1}, {"on", 1},  {"1", 1}, {"YES", 1}, {"no", 0}, {"false", 0},
	    {"off", 0}, {"0", 0},    {"Off", 0}, {"", -1}, {"2", -1},  {"y", -1}, {"nope", -1},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int out = 7, r = parse_bool(v[i].in, &out);

		if (v[i].want < 0 ? r != -1 : (r != 0 || out != v[i].want))
			fail_msg("parse_bool(\"%s\"): %d, %d", v[i].in, r, out);
	}
}

/* The bounded sink (HTTP answers): takes chunks up to max bytes in all,
 * refuses the chunk that would pass it and says so. */
static void
test_sink(void **state)
{
	struct sb_sink k = {.max = 10};
	char chunk[] = "abcdef";
	(void)state;

	assert_int_equal(sb_sink_write(chunk, 1, 6, &k), 6);
	assert_int_equal(sb_sink_write(chunk, 2, 2, &k), 4);
	assert_int_equal(k.over, 0);
	assert_string_equal(k.b.s, "abcdefabcd");
	assert_int_equal(sb_sink_write(chunk, 1, 1, &k), 0);
	assert_int_equal(k.over, 1);
	assert_int_equal(k.b.len, 10);
	free(k.b.s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scaled),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

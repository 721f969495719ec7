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
#include <string.h>

#include <cmocka.h>

#include "util/strutil.h"

#define BAD 0, 0 /* refused */
#define OK(v) 1, (v)

static void
test_size(void **state)
{
	static const struct {
		const char *in;
		int ok;
		uint64_t want;
	} v[] = {
	    {"0", OK(0)},
	    {"10", OK(10)},
	    {"10b", OK(10)},
	    {"10B", OK(10)},
	    {"10k", OK(10240)},
	    {"10KB", OK(10240)},
	    {"10kib", OK(10240)},
	    {"64M", OK(64ULL << 20)},
	    {"64mb", OK(64ULL << 20)},
	    {"64MiB", OK(64ULL << 20)},
	    {"2G", OK(2ULL << 30)},
	    {"2gb", OK(2ULL << 30)},
	    {"2GiB", OK(2ULL << 30)},
	    {"18446744073709551615", OK(UINT64_MAX)},
	    {"18446744073709551616", BAD}, /* overflows strtoull */
	    {"17179869184G", BAD},         /* 2^34 GiB: overflows the multiply */
	    {"17179869183G", OK(17179869183ULL << 30)},
	    {"", BAD},
	    {"k", BAD},
	    {"-1", BAD},
	    {" 1", BAD},
	    {"1 k", BAD},
	    {"1t", BAD},
	    {"1kk", BAD},
	    {"1.5M", BAD},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t out = 12345;
		int r = parse_size(v[i].in, &out);

		if (!v[i].ok ? r != -1 : (r != 0 || out != v[i].want))
			fail_msg("parse_size(\"%s\"): %d, %llu", v[i].in, r,
			         (unsigned long long)out);
	}
}

static void
test_duration(void **state)
{
	static const struct {
		const char *in;
		int ok;
		uint64_t want;
	} v[] = {
	    {"0", OK(0)},
	    {"30", OK(30000)},
	    {"30s", OK(30000)},
	    {"500ms", OK(500)},
	    {"2m", OK(120000)},
	    {"2min", OK(120000)},
	    {"1h", OK(3600000)},
	    {"1d", OK(86400000)},
	    {"30S", BAD}, /* units are case-sensitive: "M" is not minutes */
	    {"2M", BAD},
	    {"1H", BAD},
	    {"", BAD},
	    {"s", BAD},
	    {"1w", BAD},
	    {"-5s", BAD},
	    {"18446744073709551s", OK(18446744073709551000ULL)},
	    {"18446744073709552s", BAD}, /* overflows the multiply */
	    {"18446744073709551ms", OK(18446744073709551ULL)},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t out = 12345;
		int r = parse_duration_ms(v[i].in, &out);

		if (!v[i].ok ? r != -1 : (r != 0 || out != v[i].want))
			fail_msg("parse_duration_ms(\"%s\"): %d, %llu", v[i].in, r,
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_bool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

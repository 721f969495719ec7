/*
 * Unit tests for scan/hscompile: a table of expression sets, each with the
 * ids the compiler must refuse; everything else must end up compiled and
 * matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hs/hs.h>

#include "hs_match.h"
#include "scan/hscompile.h"
#include "util/log.h"

/* What reject() was told, as a bit per id. */
static void
on_reject(void *arg, unsigned id, const char *why)
{
	assert_non_null(why);
	assert_true(id < 32);
	*(unsigned *)arg |= 1u << id;
}

static void
test_table(void **state)
{
	/* Expression i has id i; "\\" and "(" alone are refused by Hyperscan. */
	static const struct {
		const char *what;
		const char *expr[10];
		unsigned mode;
		unsigned refused; /* bit per id */
		const char *text; /* matched against what was compiled */
		unsigned match;   /* bit per id */
	} v[] = {
	    {"all good, stream", {"abc", "d.f", "ghi"}, HS_MODE_STREAM, 0, "abc def ghi", 0x7},
	    {"all good, block", {"abc", "x+y"}, HS_MODE_BLOCK, 0, "xxy abc", 0x3},
	    {"one refused", {"abc", "(", "ghi"}, HS_MODE_BLOCK, 0x2, "abc ghi", 0x5},
	    {"first refused", {"(", "abc"}, HS_MODE_STREAM, 0x1, "abc", 0x2},
	    {"all refused", {"(", "[", "\\"}, HS_MODE_BLOCK, 0x7, "(", 0},
	    {"many refused: checked singly",
	     {"(", "[", "\\", "a{2,1}", "(?<x", ")", "ok1", "ok2"},
	     HS_MODE_BLOCK,
	     0x3f,
	     "ok1 ok2",
	     0xc0},
	    {"empty", {NULL}, HS_MODE_BLOCK, 0, "", 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct hsc_set cs = {0};
		hs_database_t **dbs = NULL;
		size_t ndb = 0, cap = 0;
		unsigned refused = 0, match = 0;

		for (unsigned k = 0; k < 10 && v[i].expr[k]; k++)
			hsc_push(&cs, v[i].expr[k], HS_FLAG_SINGLEMATCH, k, NULL);
		hsc_compile(&cs, v[i].mode, on_reject, &refused, &dbs, &ndb, &cap);
		if (refused != v[i].refused)
			fail_msg("%s: refused %#x, want %#x", v[i].what, refused, v[i].refused);
		assert_int_equal(ndb, v[i].match || cs.n ? 1 : 0);
		for (size_t d = 0; d < ndb; d++) {
			hs_scratch_t *s = NULL;
			const char *t = v[i].text;

			assert_int_equal(hs_alloc_scratch(dbs[d], &s), HS_SUCCESS);
			if (v[i].mode == HS_MODE_BLOCK) {
				assert_int_equal(
				    hs_scan(dbs[d], t, (unsigned)strlen(t), 0, s, on_match, &match),
				    HS_SUCCESS);
			} else {
				hs_stream_t *st = NULL;

				assert_int_equal(hs_open_stream(dbs[d], 0, &st), HS_SUCCESS);
				assert_int_equal(hs_scan_stream(st, t, (unsigned)strlen(t), 0, s,
				                                on_match, &match),
				                 HS_SUCCESS);
				assert_int_equal(hs_close_stream(st, s, on_match, &match),
				                 HS_SUCCESS);
			}
			hs_free_scratch(s);
		}
		if (match != v[i].match)
			fail_msg("%s: matched %#x, want %#x", v[i].what, match, v[i].match);
		hsc_free_dbs(dbs, ndb);
		hsc_free(&cs);
		assert_int_equal(cs.n, 0);
		assert_null(cs.expr);
	}
	hsc_free_dbs(NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	};

	log_init("test_hscompile", 0, getenv("PC_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

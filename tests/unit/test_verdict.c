/* Unit tests for scan/verdict: status precedence and hit bookkeeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/verdict.h"

static void
test_precedence(void **state)
{
	/* Each row: findings in order -> final status. */
	static const struct {
		enum scan_status in[3];
		enum scan_status want;
	} rows[] = {
	    {{SCAN_CLEAN, SCAN_CLEAN, SCAN_CLEAN}, SCAN_CLEAN},
	    {{SCAN_CORRUPT, SCAN_CLEAN, SCAN_CLEAN}, SCAN_CORRUPT},
	    {{SCAN_CORRUPT, SCAN_ENCRYPTED, SCAN_CLEAN}, SCAN_ENCRYPTED},
	    {{SCAN_LIMIT, SCAN_ENCRYPTED, SCAN_CORRUPT}, SCAN_LIMIT},
	    {{SCAN_LIMIT, SCAN_ERROR, SCAN_CORRUPT}, SCAN_ERROR},
	    {{SCAN_ERROR, SCAN_INFECTED, SCAN_CORRUPT}, SCAN_INFECTED},
	};
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct scan_verdict v;
		verdict_init(&v);
		for (int i = 0; i < 3; i++) {
			if (rows[r].in[i] == SCAN_INFECTED)
				verdict_add_hit(&v, "Sig", "a//b");
			else
				verdict_note(&v, rows[r].in[i], LIMIT_FILES, "p", "r%d", i);
		}
		assert_int_equal(v.status, rows[r].want);
		verdict_clear(&v);
	}
}

static void
test_hits_dedup_and_names(void **state)
{
	struct scan_verdict v, w;
	char *names;
	(void)state;

	verdict_init(&v);
	verdict_init(&w);
	verdict_add_hit(&v, "A", "x");
	verdict_add_hit(&v, "A", "x");
	verdict_add_hit(&v, "A", "y");
	verdict_add_hit(&w, "B", "z");
	verdict_note(&w, SCAN_LIMIT, LIMIT_DEPTH, "z//q", "too deep");
	verdict_merge(&v, &w);
	assert_int_equal(v.nhits, 3);
	assert_int_equal(v.status, SCAN_INFECTED);
	assert_int_equal(v.limit, LIMIT_DEPTH);
	assert_string_equal(v.where, "z//q");
	names = verdict_names(&v);
	assert_string_equal(names, "A,B");
	free(names);
	assert_string_equal(scan_limit_name(v.limit), "max_depth");
	verdict_clear(&v);
	verdict_clear(&w);
	assert_int_equal(v.status, SCAN_CLEAN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_hits_dedup_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

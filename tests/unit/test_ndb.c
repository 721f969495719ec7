/*
 * Unit tests for scan/ndb: hex signature and offset -> Hyperscan expression,
 * as a table of vectors. Every accepted vector must also compile.
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

#include "scan/ndb.h"
#include "util/log.h"

#define INF UINT64_MAX

#define LOW_NIB_2                                                                                  \
	"[\\x02\\x12\\x22\\x32\\x42\\x52\\x62\\x72\\x82\\x92\\xa2\\xb2\\xc2\\xd2\\xe2\\xf2]"

struct vec {
	const char *offset, *hex;
	int rc;
	const char *expr; /* expected expression, or a substring of the error */
	uint64_t min_len, max_len, min_off, max_off;
	int eof;
};

static const struct vec vecs[] = {
    /* plain bytes, case-insensitive */
    {"*", "4142", NDB_OK, "AB", 2, 2, 0, 0, 0},
    {"*", "4A4b", NDB_OK, "JK", 2, 2, 0, 0, 0},
    {"*", "00ff2e7a", NDB_OK, "\\x00\\xff\\x2ez", 4, 4, 0, 0, 0},
    {"*", "41(2e|7a)", NDB_OK, "A(?:\\x2e|z)", 2, 2, 0, 0, 0},
    /* ?? and nibbles */
    {"*", "41??42", NDB_OK, "A.B", 3, 3, 0, 0, 0},
    {"*", "??41", NDB_OK, ".A", 2, 2, 0, 0, 0},
    {"*", "41??????42", NDB_OK, "A...B", 5, 5, 0, 0, 0},
    {"*", "41????????42", NDB_OK, "A.{4}B", 6, 6, 0, 0, 0},
    {"*", "414?", NDB_OK, "A[\\x40-\\x4f]", 2, 2, 0, 0, 0},
    {"*", "41?2", NDB_OK, "A" LOW_NIB_2, 2, 2, 0, 0, 0},
    /* gaps */
    {"*", "41*42", NDB_OK, "A.*B", 2, INF, 0, 0, 0},
    {"*", "41{3}42", NDB_OK, "A.{3}B", 5, 5, 0, 0, 0},
    {"*", "41{2-5}42", NDB_OK, "A.{2,5}B", 4, 7, 0, 0, 0},
    {"*", "41{-5}42", NDB_OK, "A.{0,5}B", 2, 7, 0, 0, 0},
    {"*", "41{5-}42", NDB_OK, "A.{5,}B", 7, INF, 0, 0, 0},
    {"*", "41{0-}42", NDB_OK, "A.*B", 2, INF, 0, 0, 0},
    {"*", "41{0}42", NDB_OK, "AB", 2, 2, 0, 0, 0},
    {"*", "41{4-4}42", NDB_OK, "A.{4}B", 6, 6, 0, 0, 0},
    {"*", "41[1-3]42", NDB_OK, "A.{1,3}B", 3, 5, 0, 0, 0},
    {"*", "41{32767}42", NDB_OK, "A.{32767}B", 32769, 32769, 0, 0, 0},
    /* alternatives */
    {"*", "41(42|43)44", NDB_OK, "A(?:B|C)D", 3, 3, 0, 0, 0},
    {"*", "41(4243|44)45", NDB_OK, "A(?:BC|D)E", 3, 4, 0, 0, 0},
    {"*", "(4142|4344)", NDB_OK, "(?:AB|CD)", 2, 2, 0, 0, 0},
    {"*", "41(4?|??43)45", NDB_OK, "A(?:[\\x40-\\x4f]|.C)E", 3, 4, 0, 0, 0},
    {"*", "41!(42|43)44", NDB_OK, "A[^\\x42\\x43]D", 3, 3, 0, 0, 0},
    {"*", "41*(42|43)", NDB_OK, "A.*(?:B|C)", 2, INF, 0, 0, 0},
    /* absolute offsets: fixed length -> end-offset bounds */
    {"0", "4142", NDB_OK, "AB", 2, 2, 2, 2, 0},
    {"10", "4142", NDB_OK, "AB", 2, 2, 12, 12, 0},
    {"10,5", "41??42", NDB_OK, "A.B", 3, 3, 13, 18, 0},
    /* absolute offsets: variable length -> anchored prefix */
    {"0", "41*42", NDB_OK, "^(?:A.*B)", 2, INF, 0, 0, 0},
    {"3", "41{1-2}42", NDB_OK, "^.{3}(?:A.{1,2}B)", 3, 4, 0, 0, 0},
    {"10,5", "41*42", NDB_OK, "^.{10,15}(?:A.*B)", 2, INF, 0, 0, 0},
    {"32000,767", "41*42", NDB_OK, "^.{32000,32767}(?:A.*B)", 2, INF, 0, 0, 0},
    /* EOF-n: reversed, start distance from EOF as end-offset bounds */
    {"EOF-10", "414243", NDB_OK, "CBA", 3, 3, 10, 10, 1},
    {"EOF-3", "414243", NDB_OK, "CBA", 3, 3, 0, 3, 1},
    {"EOF-20", "41????????4243", NDB_OK, "CB.{4}A", 7, 7, 20, 20, 1},
    {"EOF-10,4", "41(4243|44)", NDB_OK, "(?:CB|D)A", 2, 3, 6, 10, 1},
    {"EOF-100,200", "41*42", NDB_OK, "B.*A", 2, INF, 0, 100, 1},
    {"EOF-9", "41{2-3}4?", NDB_OK, "[\\x40-\\x4f].{2,3}A", 4, 5, 9, 9, 1},

    /* malformed */
    {"*", "", NDB_BAD, "empty", 0, 0, 0, 0, 0},
    {"*", "414", NDB_BAD, "odd number", 0, 0, 0, 0, 0},
    {"*", "41*4", NDB_BAD, "odd number", 0, 0, 0, 0, 0},
    {"*", "4(41|42)", NDB_BAD, "odd number", 0, 0, 0, 0, 0},
    {"*", "41x2", NDB_BAD, "invalid character", 0, 0, 0, 0, 0},
    {"*", "41 42", NDB_BAD, "invalid character", 0, 0, 0, 0, 0},
    {"*", "41(42|43", NDB_BAD, "unbalanced", 0, 0, 0, 0, 0},
    {"*", "4142)", NDB_BAD, "unbalanced", 0, 0, 0, 0, 0},
    {"*", "41|42", NDB_BAD, "unbalanced", 0, 0, 0, 0, 0},
    {"*", "41((42))", NDB_BAD, "nested", 0, 0, 0, 0, 0},
    {"*", "41(|42)43", NDB_BAD, "empty alternative", 0, 0, 0, 0, 0},
    {"*", "41(42|)43", NDB_BAD, "empty alternative", 0, 0, 0, 0, 0},
    {"*", "41{5-3}42", NDB_BAD, "min > max", 0, 0, 0, 0, 0},
    {"*", "41[5-2]42", NDB_BAD, "min > max", 0, 0, 0, 0, 0},
    {"*", "41[5]42", NDB_BAD, "malformed [n-m]", 0, 0, 0, 0, 0},
    {"*", "41{}42", NDB_BAD, "empty {} gap", 0, 0, 0, 0, 0},
    {"*", "41{-}42", NDB_BAD, "empty {} gap", 0, 0, 0, 0, 0},
    {"*", "41{342", NDB_BAD, "malformed {}", 0, 0, 0, 0, 0},
    {"*", "41{99999999999}42", NDB_BAD, "too large", 0, 0, 0, 0, 0},
    {"*", "41{1-99999999999}42", NDB_BAD, "too large", 0, 0, 0, 0, 0},
    {"*", "41*", NDB_BAD, "ends with a wildcard", 0, 0, 0, 0, 0},
    {"*", "41{2}", NDB_BAD, "ends with a wildcard", 0, 0, 0, 0, 0},
    {"*", "*41", NDB_BAD, "starts with a wildcard", 0, 0, 0, 0, 0},
    {"*", "{-3}41", NDB_BAD, "starts with a wildcard", 0, 0, 0, 0, 0},
    {"*", "41*{2}42", NDB_BAD, "adjacent", 0, 0, 0, 0, 0},
    {"*", "????", NDB_BAD, "no fixed byte", 0, 0, 0, 0, 0},
    {"*", "41!42", NDB_BAD, "'!' without", 0, 0, 0, 0, 0},
    {"EOF-2", "414243", NDB_BAD, "closer to EOF", 0, 0, 0, 0, 0},

    /* valid ClamAV we do not implement */
    {"*", "41{40000}42", NDB_UNSUPPORTED, "gap longer", 0, 0, 0, 0, 0},
    {"*", "41{5-40000}42", NDB_UNSUPPORTED, "gap longer", 0, 0, 0, 0, 0},
    {"*", "41[1-40000]42", NDB_UNSUPPORTED, "gap longer", 0, 0, 0, 0, 0},
    {"*", "41(42|43*44)45", NDB_UNSUPPORTED, "gap inside alternatives", 0, 0, 0, 0, 0},
    {"*", "41(42|{2}43)43", NDB_UNSUPPORTED, "gap inside alternatives", 0, 0, 0, 0, 0},
    {"*", "41!(4243|44)45", NDB_UNSUPPORTED, "negated multi-byte", 0, 0, 0, 0, 0},
    {"*", "41!(4?|44)45", NDB_UNSUPPORTED, "negated multi-byte", 0, 0, 0, 0, 0},
    {"*", "41(B)42", NDB_UNSUPPORTED, "boundary", 0, 0, 0, 0, 0},
    {"*", "41(L)42", NDB_UNSUPPORTED, "boundary", 0, 0, 0, 0, 0},
    {"40000", "41*42", NDB_UNSUPPORTED, "absolute offset beyond", 0, 0, 0, 0, 0},
};

static void
test_translate_vectors(void **state)
{
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		struct ndb_sig sig;
		struct ndb_expr e;
		int rc;

		memset(&sig, 0, sizeof(sig));
		sig.name = "T";
		sig.hexsig = (char *)v->hex;
		err[0] = '\0';
		rc = ndb_parse_offset(v->offset, &sig, err, sizeof(err));
		assert_int_equal(rc, NDB_OK);
		rc = ndb_translate(&sig, &e, err, sizeof(err));
		if (rc != v->rc)
			fail_msg("vector %zu %s:%s: rc %d want %d (%s)", i, v->offset, v->hex, rc,
			         v->rc, err);
		if (rc != NDB_OK) {
			if (strstr(err, v->expr) == NULL)
				fail_msg("vector %zu %s: error \"%s\" lacks \"%s\"", i, v->hex, err,
				         v->expr);
			assert_null(e.expr);
			continue;
		}
		if (strcmp(e.expr, v->expr) != 0)
			fail_msg("vector %zu %s: got %s want %s", i, v->hex, e.expr, v->expr);
		assert_int_equal(e.min_len, v->min_len);
		assert_int_equal(e.max_len, v->max_len);
		assert_int_equal(e.min_offset, v->min_off);
		assert_int_equal(e.max_offset, v->max_off);
		assert_int_equal(e.eof, v->eof);
		assert_true(e.hs_flags & HS_FLAG_DOTALL);
		assert_true(e.hs_flags & HS_FLAG_SINGLEMATCH);

		/* What we emit, Hyperscan must accept in the mode the engine uses. */
		{
			hs_expr_ext_t ext = {0};
			const hs_expr_ext_t *xp = &ext;
			const char *ex = e.expr;
			unsigned id = 0, fl = e.hs_flags;
			hs_database_t *db = NULL;
			hs_compile_error_t *ce = NULL;

			if (e.min_offset)
				ext.flags |= HS_EXT_FLAG_MIN_OFFSET;
			if (e.max_offset)
				ext.flags |= HS_EXT_FLAG_MAX_OFFSET;
			ext.min_offset = e.min_offset;
			ext.max_offset = e.max_offset;
			if (hs_compile_ext_multi(&ex, &fl, &id, &xp, 1,
			                         e.eof ? HS_MODE_BLOCK : HS_MODE_STREAM, NULL, &db,
			                         &ce) != HS_SUCCESS)
				fail_msg("vector %zu %s: hyperscan: %s", i, v->hex, ce->message);
			hs_free_database(db);
		}
		ndb_expr_free(&e);
	}
}

static void
test_offset_vectors(void **state)
{
	static const struct {
		const char *s;
		int rc;
		enum ndb_offset_kind kind;
		uint64_t min, span;
	} rows[] = {
	    {"*", NDB_OK, NDB_OFF_ANY, 0, 0},
	    {"0", NDB_OK, NDB_OFF_ABS, 0, 0},
	    {"512", NDB_OK, NDB_OFF_ABS, 512, 0},
	    {"512,16", NDB_OK, NDB_OFF_ABS, 512, 16},
	    {"EOF-100", NDB_OK, NDB_OFF_EOF, 100, 0},
	    {"EOF-100,20", NDB_OK, NDB_OFF_EOF, 100, 20},
	    {"1099511627776", NDB_OK, NDB_OFF_ABS, (uint64_t)1 << 40, 0},
	    {"EP+10", NDB_UNSUPPORTED, NDB_OFF_ANY, 0, 0},
	    {"EP-10,5", NDB_UNSUPPORTED, NDB_OFF_ANY, 0, 0},
	    {"SL+16", NDB_UNSUPPORTED, NDB_OFF_ANY, 0, 0},
	    {"S2+4", NDB_UNSUPPORTED, NDB_OFF_ANY, 0, 0},
	    {"SE1", NDB_UNSUPPORTED, NDB_OFF_ANY, 0, 0},
	    {"VI", NDB_UNSUPPORTED, NDB_OFF_ANY, 0, 0},
	    {"$1$", NDB_UNSUPPORTED, NDB_OFF_ANY, 0, 0},
	    {"", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"EOF-", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"EOF+5", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"EOF-1x", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"12,", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"1,2,3", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"*,5", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"-5", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"abc", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"1099511627777", NDB_BAD, NDB_OFF_ANY, 0, 0},
	    {"99999999999999999999999", NDB_BAD, NDB_OFF_ANY, 0, 0},
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ndb_sig sig;
		int rc;

		memset(&sig, 0, sizeof(sig));
		rc = ndb_parse_offset(rows[i].s, &sig, err, sizeof(err));
		if (rc != rows[i].rc)
			fail_msg("offset \"%s\": rc %d want %d", rows[i].s, rc, rows[i].rc);
		if (rc != NDB_OK)
			continue;
		assert_int_equal(sig.off_kind, rows[i].kind);
		assert_int_equal(sig.off_min, rows[i].min);
		assert_int_equal(sig.off_span, rows[i].span);
	}
}

/*
 * Hyperscan takes at most NDB_MAX_EXPR characters: 4000 binary bytes fit,
 * 4001 are unsupported; past NDB_MAX_HEXSIG the line is malformed.
 */
static void
test_length_limit(void **state)
{
	struct ndb_sig sig;
	struct ndb_expr e;
	char err[128], *hex = malloc(NDB_MAX_HEXSIG + 3);

	(void)state;
	memset(&sig, 0, sizeof(sig));
	sig.hexsig = hex;
	memset(hex, '0', 8000);
	hex[8000] = '\0';
	assert_int_equal(ndb_translate(&sig, &e, err, sizeof(err)), NDB_OK);
	assert_int_equal(strlen(e.expr), NDB_MAX_EXPR);
	ndb_expr_free(&e);
	memset(hex, '0', 8002);
	hex[8002] = '\0';
	assert_int_equal(ndb_translate(&sig, &e, err, sizeof(err)), NDB_UNSUPPORTED);
	assert_non_null(strstr(err, "16000"));
	memset(hex, '4', NDB_MAX_HEXSIG + 2);
	hex[NDB_MAX_HEXSIG + 2] = '\0';
	assert_int_equal(ndb_translate(&sig, &e, err, sizeof(err)), NDB_BAD);
	assert_null(e.expr);
	free(hex);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_translate_vectors),
	    cmocka_unit_test(test_offset_vectors),
	    cmocka_unit_test(test_length_limit),
	};

	log_init("test_ndb", 0, LOG_LVL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * libFuzzer target for the signature parsers: the input is fed as an .ndb
 * file (and as .hdb and .sha256) through sigdb_load_buffer(), and as a hex
 * signature and an offset through ndb_parse_offset() and ndb_translate().
 * Every expression ndb accepts must also be accepted by Hyperscan's parser
 * (unless Hyperscan proves it can never match); anything else is our bug.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "scan/ndb.h"
#include "scan/sigdb.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_translate(const struct ndb_sig *sig)
{
	struct ndb_expr e;
	char err[256];
	hs_expr_ext_t ext = {0};
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *ce = NULL;

	if (ndb_translate(sig, &e, err, sizeof(err)) != NDB_OK) {
		if (e.expr != NULL || err[0] == '\0')
			abort();
		return;
	}
	if (e.expr == NULL || strlen(e.expr) > NDB_MAX_EXPR || e.min_len == 0 ||
	    e.min_len > e.max_len)
		abort();
	if (e.min_offset)
		ext.flags |= HS_EXT_FLAG_MIN_OFFSET;
	if (e.max_offset)
		ext.flags |= HS_EXT_FLAG_MAX_OFFSET;
	ext.min_offset = e.min_offset;
	ext.max_offset = e.max_offset;
	if (hs_expression_ext_info(e.expr, e.hs_flags, &ext, &info, &ce) != HS_SUCCESS) {
		if (strcmp(ce->message, "Pattern can never match.") != 0) {
			fprintf(stderr, "hyperscan refused \"%s\" from \"%s\": %s\n", e.expr,
			        sig->hexsig, ce->message);
			abort();
		}
		hs_free_compile_error(ce);
	}
	free(info);
	ndb_expr_free(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct sigdb *db;
	struct ndb_sig sig;
	char *s;

	if (!init) {
		log_init("fuzz_ndb", 0, LOG_LVL_ERR);
		init = 1;
	}
	db = sigdb_new();
	sigdb_load_buffer(db, "fuzz.ndb", "ndb", (const char *)data, size);
	sigdb_load_buffer(db, "fuzz.hdb", "hdb", (const char *)data, size);
	sigdb_load_buffer(db, "fuzz.sha256", "sha256", (const char *)data, size);
	for (size_t i = 0; i < sigdb_ndb_count(db); i++)
		check_translate(sigdb_ndb(db, i));
	sigdb_free(db);

	/* The whole input as one hex signature, under each kind of offset. */
	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&sig, 0, sizeof(sig));
	sig.name = "Fuzz";
	(void)ndb_parse_offset(s, &sig, (char[64]){0}, 64);
	sig.hexsig = s;
	sig.off_kind = NDB_OFF_ANY;
	sig.off_min = sig.off_span = 0;
	check_translate(&sig);
	sig.off_kind = NDB_OFF_ABS;
	sig.off_min = 3;
	sig.off_span = 2;
	check_translate(&sig);
	sig.off_kind = NDB_OFF_EOF;
	sig.off_min = 40;
	sig.off_span = 4;
	check_translate(&sig);
	free(s);
	return 0;
}

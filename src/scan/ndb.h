/*
 * ndb: translates one ClamAV body signature (.ndb hex syntax) into a
 * Hyperscan expression. Pure: no I/O, no Hyperscan calls, so it has a table
 * of unit-test vectors and a fuzz target.
 *
 * Supported: hex bytes, "??", nibbles "a?" / "?a", "*", "{n}", "{n-m}",
 * "{-m}", "{n-}", "[n-m]" (the same gap), alternatives "(aa|bb)" of single
 * or multi-byte strings (which may hold "??" and nibbles), and the negated
 * single-byte alternative "!(aa|bb)". Offsets "*", "n", "n,m", "EOF-n",
 * "EOF-n,m".
 *
 * Anything else is rejected with a message; the caller logs it with the
 * line's origin and skips the signature. A rejection is either NDB_BAD
 * (malformed) or NDB_UNSUPPORTED (valid ClamAV syntax we do not implement:
 * EP/section/VI/macro offsets, (B)/(L)/(W) boundaries, multi-byte negation,
 * gaps inside alternatives, gaps longer than NDB_MAX_REPEAT, expressions
 * longer than NDB_MAX_EXPR). For
 * NDB_UNSUPPORTED the message is a fixed string without variable parts, so
 * that callers can count rejections by reason.
 */
#ifndef PC_NDB_H
#define PC_NDB_H

#include <stddef.h>
#include <stdint.h>

#include "scan/sig.h"

enum ndb_result {
	NDB_OK = 0,
	NDB_BAD = -1,         /* malformed: a bad line */
	NDB_UNSUPPORTED = -2, /* valid ClamAV syntax this engine does not support */
};

/* Hyperscan's largest bounded repeat: longer gaps are unsupported. */
#define NDB_MAX_REPEAT 32767
/* Largest number accepted in an offset; more is a malformed line. */
#define NDB_MAX_OFFSET ((uint64_t)1 << 40)
/* Hyperscan's longest expression: signatures that need more are unsupported. */
#define NDB_MAX_EXPR 16000
/* Longest hex signature accepted, in characters. */
#define NDB_MAX_HEXSIG (256 * 1024)

struct ndb_expr {
	char *expr;        /* Hyperscan pattern, owned */
	unsigned hs_flags; /* HS_FLAG_* to compile it with */
	uint64_t min_len;  /* fewest bytes a match spans */
	uint64_t max_len;  /* most bytes a match spans; UINT64_MAX if unbounded */
	/*
	 * Bounds on the match's end offset (hs_expr_ext min_offset and
	 * max_offset); 0 means not set.
	 */
	uint64_t min_offset, max_offset;
	/*
	 * Set for EOF-n offsets: expr is the signature reversed, to be scanned
	 * in block mode over the last bytes of the object reversed, where the
	 * offsets above bound the distance of the signature's start from EOF.
	 */
	int eof;
};

/*
 * Parses an .ndb offset field ("*", "n", "n,m", "EOF-n", "EOF-n,m") into
 * sig->off_kind, off_min and off_span. Returns NDB_OK, NDB_BAD or
 * NDB_UNSUPPORTED with a message in err.
 */
int ndb_parse_offset(const char *s, struct ndb_sig *sig, char *err, size_t errlen);

/*
 * Translates sig->hexsig (and, where Hyperscan can express it, the offset)
 * into out. Returns NDB_OK (0), or NDB_BAD / NDB_UNSUPPORTED (both < 0) with
 * a message in err; out is then left empty.
 */
int ndb_translate(const struct ndb_sig *sig, struct ndb_expr *out, char *err, size_t errlen);
void ndb_expr_free(struct ndb_expr *e);

#endif

/*
 * ndb: ClamAV body signature syntax -> Hyperscan expression. Owns the hex
 * signature grammar and the offset grammar; compiling, matching and the
 * checks Hyperscan cannot do belong to engine.c. No I/O, no logging.
 *
 * A signature is first parsed into a list of elements (byte classes, gaps,
 * alternatives), then emitted forward, or reversed for EOF-n offsets (see
 * ndb.h and engine.c for why reversed).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "scan/ndb.h"
#include "util/strutil.h"
#include "util/xalloc.h"

#define GAP_INF UINT64_MAX

/* One byte position: matches b where (b & mask) == val. */
struct ndb_byte {
	uint8_t val, mask;
};

enum el_kind { EL_BYTE, EL_GAP, EL_ALT };

struct ndb_el {
	enum el_kind kind;
	struct ndb_byte byte; /* EL_BYTE */
	uint64_t gmin, gmax;  /* EL_GAP; gmax GAP_INF = unbounded */
	size_t alt0, nalt;    /* EL_ALT: alternatives alts[alt0 .. alt0+nalt) */
	int negated;          /* EL_ALT: "!(..)", single bytes only */
};

/* An alternative: bytes[b0 .. b0+n). */
struct ndb_alt {
	size_t b0, n;
};

struct ndb_parse {
	struct ndb_el *el;
	size_t nel, el_cap;
	struct ndb_alt *alts;
	size_t nalts, alts_cap;
	struct ndb_byte *bytes;
	size_t nbytes, bytes_cap;
	char *err;
	size_t errlen;
};

struct sbuf {
	char *p;
	size_t len, cap;
};

/* Writes a message into err (if any) and returns rc. */
static int
ndb_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Appends n bytes of s to b, keeping it NUL-terminated. */
static void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	b->p = xgrow(b->p, &b->cap, b->len + n + 1, 1);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Appends a short formatted piece (numbers and escapes) to b. */
static void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[96];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sbuf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/*
 * Parses a decimal number at *pp (advancing it) that must not exceed max.
 * Returns NDB_OK, or NDB_BAD if there is no digit or it is too large.
 */
static int
ndb_number(const char **pp, uint64_t max, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return NDB_BAD;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return NDB_BAD;
		p++;
	}
	*pp = p;
	*out = v;
	return NDB_OK;
}

int
ndb_parse_offset(const char *s, struct ndb_sig *sig, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t n = 0, m = 0;

	if (strcmp(s, "*") == 0) {
		sig->off_kind = NDB_OFF_ANY;
		sig->off_min = sig->off_span = 0;
		return NDB_OK;
	}
	if (strncmp(s, "EP+", 3) == 0 || strncmp(s, "EP-", 3) == 0)
		return ndb_fail(err, errlen, NDB_UNSUPPORTED, "offset EP+n/EP-n");
	if (strncmp(s, "SL+", 3) == 0)
		return ndb_fail(err, errlen, NDB_UNSUPPORTED, "offset SL+n");
	if (strncmp(s, "SE", 2) == 0)
		return ndb_fail(err, errlen, NDB_UNSUPPORTED, "offset SEx");
	if (s[0] == 'S' && s[1] >= '0' && s[1] <= '9')
		return ndb_fail(err, errlen, NDB_UNSUPPORTED, "offset Sx+n");
	if (strncmp(s, "VI", 2) == 0)
		return ndb_fail(err, errlen, NDB_UNSUPPORTED, "offset VI");
	if (s[0] == '$')
		return ndb_fail(err, errlen, NDB_UNSUPPORTED, "offset macro $n$");

	sig->off_kind = NDB_OFF_ABS;
	if (strncmp(p, "EOF-", 4) == 0) {
		sig->off_kind = NDB_OFF_EOF;
		p += 4;
	}
	if (ndb_number(&p, NDB_MAX_OFFSET, &n) != NDB_OK)
		return ndb_fail(err, errlen, NDB_BAD, "bad offset \"%.40s\"", s);
	if (*p == ',') {
		p++;
		if (ndb_number(&p, NDB_MAX_OFFSET, &m) != NDB_OK)
			return ndb_fail(err, errlen, NDB_BAD, "bad offset \"%.40s\"", s);
	}
	if (*p != '\0')
		return ndb_fail(err, errlen, NDB_BAD, "bad offset \"%.40s\"", s);
	sig->off_min = n;
	sig->off_span = m;
	return NDB_OK;
}

/* Appends a copy of el to the parsed elements. */
static void
ndb_push_el(struct ndb_parse *ps, const struct ndb_el *el)
{
	ps->el = xgrow(ps->el, &ps->el_cap, ps->nel + 1, sizeof(*ps->el));
	ps->el[ps->nel++] = *el;
}

/* Appends a byte position to the pool used by alternatives. */
static void
ndb_push_byte(struct ndb_parse *ps, struct ndb_byte b)
{
	ps->bytes = xgrow(ps->bytes, &ps->bytes_cap, ps->nbytes + 1, sizeof(*ps->bytes));
	ps->bytes[ps->nbytes++] = b;
}

/*
 * Parses one two-character byte position ("4d", "4?", "?d", "??") at p.
 * Returns NDB_OK or NDB_BAD.
 */
static int
ndb_pair(struct ndb_parse *ps, const char *p, struct ndb_byte *out)
{
	int hi, lo;

	if (p[1] == '\0' || p[1] == '*' || p[1] == '{' || p[1] == '(' || p[1] == ')' ||
	    p[1] == '|' || p[1] == '[' || p[1] == '!')
		return ndb_fail(ps->err, ps->errlen, NDB_BAD, "odd number of hex digits");
	hi = p[0] == '?' ? -2 : hexval((unsigned char)p[0]);
	lo = p[1] == '?' ? -2 : hexval((unsigned char)p[1]);
	if (hi == -1 || lo == -1)
		return ndb_fail(ps->err, ps->errlen, NDB_BAD, "invalid character '%c'",
		                hi == -1 ? p[0] : p[1]);
	out->val = (uint8_t)((hi >= 0 ? hi << 4 : 0) | (lo >= 0 ? lo : 0));
	out->mask = (uint8_t)((hi >= 0 ? 0xf0 : 0) | (lo >= 0 ? 0x0f : 0));
	return NDB_OK;
}

/*
 * Makes el the byte gap of lo to hi bytes (hi GAP_INF: no upper bound), for
 * {n-m} and [n-m] alike; longer than NDB_MAX_REPEAT is unsupported.
 */
static int
ndb_gap(struct ndb_parse *ps, struct ndb_el *el, uint64_t lo, uint64_t hi)
{
	if (lo > NDB_MAX_REPEAT || (hi != GAP_INF && hi > NDB_MAX_REPEAT))
		return ndb_fail(ps->err, ps->errlen, NDB_UNSUPPORTED,
		                "gap longer than 32767 bytes");
	el->kind = EL_GAP;
	el->gmin = lo;
	el->gmax = hi;
	return NDB_OK;
}

/* Parses "{n}", "{n-m}", "{-m}", "{n-}" at p ('{'); sets *len consumed. */
static int
ndb_brace(struct ndb_parse *ps, const char *p, struct ndb_el *el, size_t *len)
{
	const char *q = p + 1;
	uint64_t lo = 0, hi = GAP_INF;
	int have_lo = 0, have_hi = 0, dash = 0;

	if (*q >= '0' && *q <= '9') {
		if (ndb_number(&q, UINT32_MAX, &lo) != NDB_OK)
			return ndb_fail(ps->err, ps->errlen, NDB_BAD, "number too large in {}");
		have_lo = 1;
	}
	if (*q == '-') {
		dash = 1;
		q++;
		if (*q >= '0' && *q <= '9') {
			if (ndb_number(&q, UINT32_MAX, &hi) != NDB_OK)
				return ndb_fail(ps->err, ps->errlen, NDB_BAD,
				                "number too large in {}");
			have_hi = 1;
		}
	}
	if (*q != '}')
		return ndb_fail(ps->err, ps->errlen, NDB_BAD, "malformed {} gap");
	if (!have_lo && !have_hi)
		return ndb_fail(ps->err, ps->errlen, NDB_BAD, "empty {} gap");
	if (!dash)
		hi = lo;
	if (have_lo && have_hi && lo > hi)
		return ndb_fail(ps->err, ps->errlen, NDB_BAD, "gap {%llu-%llu} has min > max",
		                (unsigned long long)lo, (unsigned long long)hi);
	*len = (size_t)(q + 1 - p);
	return ndb_gap(ps, el, lo, hi);
}

/* Parses "[n-m]" at p ('['): the same byte gap as {n-m}. */
static int
ndb_bracket(struct ndb_parse *ps, const char *p, struct ndb_el *el, size_t *len)
{
	const char *q = p + 1;
	uint64_t lo, hi;

	if (ndb_number(&q, UINT32_MAX, &lo) != NDB_OK || *q++ != '-' ||
	    ndb_number(&q, UINT32_MAX, &hi) != NDB_OK || *q != ']')
		return ndb_fail(ps->err, ps->errlen, NDB_BAD, "malformed [n-m] gap");
	if (lo > hi)
		return ndb_fail(ps->err, ps->errlen, NDB_BAD, "gap [%llu-%llu] has min > max",
		                (unsigned long long)lo, (unsigned long long)hi);
	*len = (size_t)(q + 1 - p);
	return ndb_gap(ps, el, lo, hi);
}

/*
 * Parses an alternative group at p ('('), negated if neg. Sets *len to the
 * characters consumed.
 */
static int
ndb_group(struct ndb_parse *ps, const char *p, int neg, struct ndb_el *el, size_t *len)
{
	const char *q = p + 1;
	struct ndb_alt cur;
	struct ndb_byte b;
	int rc;

	if ((q[0] == 'B' || q[0] == 'L' || q[0] == 'W') && q[1] == ')')
		return ndb_fail(ps->err, ps->errlen, NDB_UNSUPPORTED, "boundary (B)/(L)/(W)");
	el->kind = EL_ALT;
	el->alt0 = ps->nalts;
	el->nalt = 0;
	el->negated = neg;
	cur.b0 = ps->nbytes;
	cur.n = 0;
	for (;;) {
		switch (*q) {
		case '\0':
			return ndb_fail(ps->err, ps->errlen, NDB_BAD, "unbalanced parenthesis");
		case '(':
		case '!':
			return ndb_fail(ps->err, ps->errlen, NDB_BAD, "nested parenthesis");
		case '*':
		case '{':
		case '[':
			return ndb_fail(ps->err, ps->errlen, NDB_UNSUPPORTED,
			                "gap inside alternatives");
		case '|':
		case ')':
			if (cur.n == 0)
				return ndb_fail(ps->err, ps->errlen, NDB_BAD, "empty alternative");
			ps->alts = xgrow(ps->alts, &ps->alts_cap, ps->nalts + 1, sizeof(*ps->alts));
			ps->alts[ps->nalts++] = cur;
			el->nalt++;
			cur.b0 = ps->nbytes;
			cur.n = 0;
			if (*q++ == ')') {
				*len = (size_t)(q - p);
				goto done;
			}
			break;
		default:
			if ((rc = ndb_pair(ps, q, &b)) != NDB_OK)
				return rc;
			ndb_push_byte(ps, b);
			cur.n++;
			q += 2;
			break;
		}
	}
done:
	if (neg) {
		for (size_t i = 0; i < el->nalt; i++) {
			const struct ndb_alt *a = &ps->alts[el->alt0 + i];

			if (a->n != 1 || ps->bytes[a->b0].mask != 0xff)
				return ndb_fail(ps->err, ps->errlen, NDB_UNSUPPORTED,
				                "negated multi-byte or wildcard alternative");
		}
	}
	return NDB_OK;
}

/* Splits hex into elements; NDB_OK or a rejection with ps->err set. */
static int
ndb_parse_hex(struct ndb_parse *ps, const char *hex)
{
	const char *p = hex;
	struct ndb_el el;
	size_t len;
	int rc;

	while (*p != '\0') {
		memset(&el, 0, sizeof(el));
		switch (*p) {
		case '*':
			el.kind = EL_GAP;
			el.gmin = 0;
			el.gmax = GAP_INF;
			len = 1;
			break;
		case '{':
			if ((rc = ndb_brace(ps, p, &el, &len)) != NDB_OK)
				return rc;
			break;
		case '[':
			if ((rc = ndb_bracket(ps, p, &el, &len)) != NDB_OK)
				return rc;
			break;
		case '(':
			if ((rc = ndb_group(ps, p, 0, &el, &len)) != NDB_OK)
				return rc;
			break;
		case '!':
			if (p[1] != '(')
				return ndb_fail(ps->err, ps->errlen, NDB_BAD, "'!' without '('");
			if ((rc = ndb_group(ps, p + 1, 1, &el, &len)) != NDB_OK)
				return rc;
			len++;
			break;
		case ')':
		case '|':
			return ndb_fail(ps->err, ps->errlen, NDB_BAD, "unbalanced parenthesis");
		default:
			if ((rc = ndb_pair(ps, p, &el.byte)) != NDB_OK)
				return rc;
			el.kind = EL_BYTE;
			len = 2;
			break;
		}
		if (el.kind == EL_GAP && ps->nel > 0 && ps->el[ps->nel - 1].kind == EL_GAP)
			return ndb_fail(ps->err, ps->errlen, NDB_BAD, "adjacent wildcard gaps");
		ndb_push_el(ps, &el);
		p += len;
	}
	return NDB_OK;
}

/* Emits one byte position: a literal, a nibble class or ".". */
static void
emit_byte(struct sbuf *b, struct ndb_byte x)
{
	char c = (char)x.val;

	switch (x.mask) {
	case 0xff:
		/* Letters and digits as themselves: Hyperscan limits the length. */
		if (isalnum((unsigned char)c) && x.val < 0x80)
			sbuf_add(b, &c, 1);
		else
			sbuf_addf(b, "\\x%02x", x.val);
		break;
	case 0xf0:
		sbuf_addf(b, "[\\x%02x-\\x%02x]", x.val, x.val | 0x0f);
		break;
	case 0x0f:
		sbuf_add(b, "[", 1);
		for (unsigned hi = 0; hi < 16; hi++)
			sbuf_addf(b, "\\x%02x", (hi << 4) | x.val);
		sbuf_add(b, "]", 1);
		break;
	default:
		sbuf_add(b, ".", 1);
		break;
	}
}

/* Emits one element; alternatives read backwards if rev. */
static void
emit_el(struct sbuf *b, const struct ndb_parse *ps, const struct ndb_el *el, int rev)
{
	switch (el->kind) {
	case EL_BYTE:
		emit_byte(b, el->byte);
		break;
	case EL_GAP:
		if (el->gmax == GAP_INF && el->gmin == 0)
			sbuf_add(b, ".*", 2);
		else if (el->gmax == GAP_INF)
			sbuf_addf(b, ".{%llu,}", (unsigned long long)el->gmin);
		else if (el->gmax == 0)
			; /* {0}: nothing */
		else if (el->gmin == el->gmax)
			sbuf_addf(b, ".{%llu}", (unsigned long long)el->gmin);
		else
			sbuf_addf(b, ".{%llu,%llu}", (unsigned long long)el->gmin,
			          (unsigned long long)el->gmax);
		break;
	case EL_ALT:
		if (el->negated) {
			sbuf_add(b, "[^", 2);
			for (size_t i = 0; i < el->nalt; i++)
				sbuf_addf(b, "\\x%02x", ps->bytes[ps->alts[el->alt0 + i].b0].val);
			sbuf_add(b, "]", 1);
			break;
		}
		sbuf_add(b, "(?:", 3);
		for (size_t i = 0; i < el->nalt; i++) {
			const struct ndb_alt *a = &ps->alts[el->alt0 + i];

			if (i > 0)
				sbuf_add(b, "|", 1);
			for (size_t j = 0; j < a->n; j++)
				emit_byte(b, ps->bytes[a->b0 + (rev ? a->n - 1 - j : j)]);
		}
		sbuf_add(b, ")", 1);
		break;
	}
}

/* a + b, saturating at UINT64_MAX (an unbounded length). */
static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Computes the shortest and longest match of the parsed signature. */
static void
ndb_lengths(const struct ndb_parse *ps, uint64_t *min_len, uint64_t *max_len)
{
	uint64_t lo = 0, hi = 0;

	for (size_t i = 0; i < ps->nel; i++) {
		const struct ndb_el *el = &ps->el[i];
		uint64_t amin = UINT64_MAX, amax = 0;

		switch (el->kind) {
		case EL_BYTE:
			lo++;
			hi = sat_add(hi, 1);
			break;
		case EL_GAP:
			lo += el->gmin;
			hi = sat_add(hi, el->gmax);
			break;
		case EL_ALT:
			for (size_t j = 0; j < el->nalt; j++) {
				size_t n = ps->alts[el->alt0 + j].n;

				amin = n < amin ? n : amin;
				amax = n > amax ? n : amax;
			}
			if (el->negated)
				amin = amax = 1;
			lo += amin;
			hi = sat_add(hi, amax);
			break;
		}
	}
	*min_len = lo;
	*max_len = hi;
}

/* 1 if some element constrains its byte (not only "??" and gaps). */
static int
ndb_has_fixed(const struct ndb_parse *ps)
{
	for (size_t i = 0; i < ps->nel; i++)
		if (ps->el[i].kind == EL_ALT ||
		    (ps->el[i].kind == EL_BYTE && ps->el[i].byte.mask != 0))
			return 1;
	return 0;
}

/* Frees the parse tables (not ps itself). */
static void
ndb_parse_free(struct ndb_parse *ps)
{
	free(ps->el);
	free(ps->alts);
	free(ps->bytes);
}

int
ndb_translate(const struct ndb_sig *sig, struct ndb_expr *out, char *err, size_t errlen)
{
	struct ndb_parse ps;
	struct sbuf b = {NULL, 0, 0};
	uint64_t lo, hi, n, m;
	int rc, rev;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	ps.err = err;
	ps.errlen = errlen;
	if (sig->hexsig == NULL || sig->hexsig[0] == '\0')
		return ndb_fail(err, errlen, NDB_BAD, "empty signature");
	if (strlen(sig->hexsig) > NDB_MAX_HEXSIG)
		return ndb_fail(err, errlen, NDB_BAD, "signature longer than %d characters",
		                NDB_MAX_HEXSIG);
	if ((rc = ndb_parse_hex(&ps, sig->hexsig)) != NDB_OK)
		goto fail;
	rc = NDB_BAD;
	if (ps.el[0].kind == EL_GAP) {
		ndb_fail(err, errlen, rc, "signature starts with a wildcard gap");
		goto fail;
	}
	if (ps.el[ps.nel - 1].kind == EL_GAP) {
		ndb_fail(err, errlen, rc, "signature ends with a wildcard gap");
		goto fail;
	}
	if (!ndb_has_fixed(&ps)) {
		ndb_fail(err, errlen, rc, "signature has no fixed byte");
		goto fail;
	}
	ndb_lengths(&ps, &lo, &hi);
	n = sig->off_min;
	m = sig->off_span;
	rev = sig->off_kind == NDB_OFF_EOF;

	if (sig->off_kind == NDB_OFF_ABS && lo != hi) {
		/* Variable length: anchor the start with a dot prefix. */
		if (n + m > NDB_MAX_REPEAT) {
			rc = ndb_fail(
			    err, errlen, NDB_UNSUPPORTED,
			    "absolute offset beyond 32767 for a variable-length signature");
			goto fail;
		}
		if (m > 0)
			sbuf_addf(&b, "^.{%llu,%llu}(?:", (unsigned long long)n,
			          (unsigned long long)(n + m));
		else if (n > 0)
			sbuf_addf(&b, "^.{%llu}(?:", (unsigned long long)n);
		else
			sbuf_add(&b, "^(?:", 4);
	} else if (sig->off_kind == NDB_OFF_ABS) {
		/* Fixed length: the end offset is start + length. */
		out->min_offset = n + lo;
		out->max_offset = n + m + lo;
	} else if (sig->off_kind == NDB_OFF_EOF) {
		/*
		 * Reversed, the start of the signature becomes the end of the
		 * match, counted from EOF: start in [size-n, size-n+m] means
		 * reversed end in [n-m, n].
		 */
		if (n < lo) {
			ndb_fail(err, errlen, NDB_BAD,
			         "EOF-%llu is closer to EOF than the signature is long (%llu)",
			         (unsigned long long)n, (unsigned long long)lo);
			goto fail;
		}
		out->max_offset = n;
		out->min_offset = n > m && n - m > lo ? n - m : 0;
		out->eof = 1;
	}
	for (size_t i = 0; i < ps.nel;) {
		const struct ndb_el *el = &ps.el[rev ? ps.nel - 1 - i : i];
		size_t run = 0;

		/* A run of "??" becomes ".{k}". */
		while (i + run < ps.nel &&
		       ps.el[rev ? ps.nel - 1 - i - run : i + run].kind == EL_BYTE &&
		       ps.el[rev ? ps.nel - 1 - i - run : i + run].byte.mask == 0)
			run++;
		if (run >= 4) {
			sbuf_addf(&b, ".{%zu}", run);
			i += run;
			continue;
		}
		emit_el(&b, &ps, el, rev);
		i++;
	}
	if (sig->off_kind == NDB_OFF_ABS && lo != hi)
		sbuf_add(&b, ")", 1);
	if (b.len > NDB_MAX_EXPR) {
		rc = ndb_fail(err, errlen, NDB_UNSUPPORTED,
		              "expression longer than Hyperscan's 16000-character limit");
		goto fail;
	}

	out->expr = b.p;
	out->hs_flags = HS_FLAG_DOTALL | HS_FLAG_SINGLEMATCH;
	out->min_len = lo;
	out->max_len = hi;
	ndb_parse_free(&ps);
	return NDB_OK;
fail:
	free(b.p);
	ndb_parse_free(&ps);
	memset(out, 0, sizeof(*out));
	return rc;
}

void
ndb_expr_free(struct ndb_expr *e)
{
	if (e == NULL)
		return;
	free(e->expr);
	e->expr = NULL;
}

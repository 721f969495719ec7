/*
 * Unit tests for smtp/smtp_cmd: verb lookup, the flags of each row, and
 * the MAIL FROM / RCPT TO path and parameter parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_cmd.h"

static void
test_lookup(void **state)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
		const char *args;
	} v[] = {
	    {"HELO x", V_HELO, "x"},
	    {"ehlo   x.y", V_EHLO, "x.y"},
	    {"MAIL FROM:<a@b>", V_MAIL, "FROM:<a@b>"},
	    {"mail from:<a@b> SIZE=1", V_MAIL, "from:<a@b> SIZE=1"},
	    {"MAILFROM:<a@b>", V_UNKNOWN, ""},
	    {"RCPT TO:<a@b>", V_RCPT, "TO:<a@b>"},
	    {"DATA", V_DATA, ""},
	    {"DATA ", V_DATA, ""},
	    {"DaTa", V_DATA, ""},
	    {"DATA\t", V_UNKNOWN, ""},
	    {"DATAX", V_UNKNOWN, ""},
	    {"RSET", V_RSET, ""},
	    {"NOOP hi there", V_NOOP, "hi there"},
	    {"QUIT", V_QUIT, ""},
	    {"VRFY user", V_VRFY, "user"},
	    {"EXPN list", V_EXPN, "list"},
	    {"HELP", V_HELP, ""},
	    {"STARTTLS", V_STARTTLS, ""},
	    {"STARTTLSX", V_UNKNOWN, ""},
	    {"START", V_UNKNOWN, ""},
	    {"BDAT 100 LAST", V_BDAT, "100 LAST"},
	    {"AUTH PLAIN AGJvYgBwdw==", V_AUTH, "PLAIN AGJvYgBwdw=="},
	    {"XCLIENT ADDR=1.2.3.4", V_XCLIENT, "ADDR=1.2.3.4"},
	    {"XFORWARD NAME=x", V_XFORWARD, "NAME=x"},
	    {"XFORWARDX", V_UNKNOWN, ""},
	    {"", V_UNKNOWN, ""},
	    {" HELO x", V_UNKNOWN, "HELO x"},
	    {"FOO bar baz", V_UNKNOWN, "bar baz"},
	    {"TURN", V_UNKNOWN, ""},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *args = NULL;
		const struct smtp_cmd_info *c = smtp_cmd_lookup(v[i].line, &args);

		assert_non_null(c);
		assert_non_null(c->name);
		if (c->verb != v[i].verb)
			fail_msg("\"%s\": verb %d, want %d", v[i].line, c->verb, v[i].verb);
		assert_string_equal(args, v[i].args);
		assert_true(args >= v[i].line && args <= v[i].line + strlen(v[i].line));
		assert_non_null(smtp_cmd_lookup(v[i].line, NULL));
	}
}

/* The flags are the session's contract; each row is checked. */
static void
test_flags(void **state)
{
	static const struct {
		const char *line;
		unsigned flags;
	} v[] = {
	    {"HELO", 0},
	    {"EHLO", 0},
	    {"MAIL", CMD_NEEDS_HELO},
	    {"RCPT", CMD_NEEDS_HELO},
	    {"DATA", CMD_NEEDS_HELO},
	    {"RSET", 0},
	    {"NOOP", 0},
	    {"QUIT", 0},
	    {"VRFY", 0},
	    {"EXPN", CMD_NOT_OFFERED},
	    {"HELP", 0},
	    {"STARTTLS", 0},
	    {"BDAT", CMD_NOT_OFFERED},
	    {"AUTH", CMD_NOT_OFFERED},
	    {"XCLIENT", CMD_NOT_OFFERED},
	    {"XFORWARD", CMD_NOT_OFFERED},
	    {"BOGUS", 0},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const struct smtp_cmd_info *c = smtp_cmd_lookup(v[i].line, NULL);

		if (c->flags != v[i].flags)
			fail_msg("%s: flags %#x, want %#x", v[i].line, c->flags, v[i].flags);
		if (c->verb != V_UNKNOWN)
			assert_string_equal(c->name, v[i].line);
	}
}

#define NP 3

static const struct {
	const char *args, *prefix;
	int rc;
	const char *addr; /* or the error when rc is -1 */
	size_t nparams;
	const char *pname[NP], *pvalue[NP];
} pv[] = {
    {"FROM:<a@b>", "FROM:", 0, "a@b", 0, {NULL}, {NULL}},
    {"from:<a@b>", "FROM:", 0, "a@b", 0, {NULL}, {NULL}},
    {"FROM: <a@b>", "FROM:", 0, "a@b", 0, {NULL}, {NULL}},
    {"FROM:<>", "FROM:", 0, "", 0, {NULL}, {NULL}},
    {"TO:<>", "TO:", -1, "syntax", 0, {NULL}, {NULL}},
    {"TO:<postmaster>", "TO:", 0, "postmaster", 0, {NULL}, {NULL}},
    {"TO:<Postmaster@example.org>", "TO:", 0, "Postmaster@example.org", 0, {NULL}, {NULL}},
    {"FROM:<\"a b\"@c>", "FROM:", 0, "\"a b\"@c", 0, {NULL}, {NULL}},
    {"FROM:<\"a>b\"@c>", "FROM:", 0, "\"a>b\"@c", 0, {NULL}, {NULL}},
    {"FROM:<\"a\\\"b\"@c>", "FROM:", 0, "\"a\\\"b\"@c", 0, {NULL}, {NULL}},
    {"FROM:<\"a@c>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<\"a\"b@c>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<@a,@b:x@y>", "FROM:", 0, "x@y", 0, {NULL}, {NULL}},
    {"TO:<@a:x@y> NOTIFY=NEVER", "TO:", 0, "x@y", 1, {"NOTIFY"}, {"NEVER"}},
    {"FROM:<@a:>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<@b>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@[127.0.0.1]>", "FROM:", 0, "a@[127.0.0.1]", 0, {NULL}, {NULL}},
    {"FROM:<a@[IPv6:::1]>", "FROM:", 0, "a@[IPv6:::1]", 0, {NULL}, {NULL}},
    {"FROM:<a@[]>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    /* Found by fuzz_smtp_cmd: a quote inside a literal made the path
     * unparseable once written out again (tests/fuzz/regress). */
    {"FROM:A@[1.2\"x]", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@[1.2>3]>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<j\xc3\xb6rg@b\xc3\xa4r.de> SMTPUTF8",
     "FROM:",
     0,
     "j\xc3\xb6rg@b\xc3\xa4r.de",
     1,
     {"SMTPUTF8"},
     {""}},
    {"FROM:<a@b> SIZE=10 BODY=8BITMIME",
     "FROM:",
     0,
     "a@b",
     2,
     {"SIZE", "BODY"},
     {"10", "8BITMIME"}},
    {"FROM:<a@b> size=10 smtputf8 Ret=HDRS",
     "FROM:",
     0,
     "a@b",
     3,
     {"SIZE", "SMTPUTF8", "RET"},
     {"10", "", "HDRS"}},
    {"FROM:<a@b>   SIZE=10   ", "FROM:", 0, "a@b", 1, {"SIZE"}, {"10"}},
    {"FROM:a@b", "FROM:", 0, "a@b", 0, {NULL}, {NULL}},
    {"FROM:a@b SIZE=5", "FROM:", 0, "a@b", 1, {"SIZE"}, {"5"}},
    {"FROM:", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@b", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@b>x", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a b@c>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<<a@b>>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:a<b", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@@b>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@b@c>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<@>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a(b)@c>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@b_c>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"TO:<a@b>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM<a@b>", "FROM:", -1, "syntax", 0, {NULL}, {NULL}},
    {"FROM:<a@b\x01>", "FROM:", -1, "NUL or control character", 0, {NULL}, {NULL}},
    {"FROM:<a@b>\tSIZE=1", "FROM:", -1, "NUL or control character", 0, {NULL}, {NULL}},
    {"FROM:<a@b> X=\x7f", "FROM:", -1, "NUL or control character", 0, {NULL}, {NULL}},
    {"FROM:<a@b> SIZE=", "FROM:", -1, "bad parameter", 0, {NULL}, {NULL}},
    {"FROM:<a@b> =x", "FROM:", -1, "bad parameter", 0, {NULL}, {NULL}},
    {"FROM:<a@b> SIZE=1=2", "FROM:", -1, "bad parameter", 0, {NULL}, {NULL}},
    {"FROM:<a@b> SIZE=1 size=2", "FROM:", -1, "bad parameter", 0, {NULL}, {NULL}},
    {"FROM:<a@b> -X=1", "FROM:", -1, "bad parameter", 0, {NULL}, {NULL}},
    {"FROM:<a@b> S_Z=1", "FROM:", -1, "bad parameter", 0, {NULL}, {NULL}},
    {"FROM:<a@b> \xc3\xa9=1", "FROM:", -1, "bad parameter", 0, {NULL}, {NULL}},
    {"FROM:<a@b> X-Y=1", "FROM:", 0, "a@b", 1, {"X-Y"}, {"1"}},
};

static void
check_path(size_t i, const char *args, const char *prefix, int want_rc, const char *want)
{
	struct smtp_path p;
	char err[64] = "";
	int rc = smtp_path_parse(args, prefix, &p, err, sizeof(err));

	if (rc != want_rc)
		fail_msg("row %zu \"%s\": rc %d (%s), want %d", i, args, rc, err, want_rc);
	if (rc == 0)
		assert_string_equal(p.addr, want);
	else
		assert_string_equal(err, want);
}

static void
test_path_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pv) / sizeof(pv[0]); i++) {
		struct smtp_path p;

		check_path(i, pv[i].args, pv[i].prefix, pv[i].rc, pv[i].addr);
		if (pv[i].rc != 0)
			continue;
		assert_int_equal(smtp_path_parse(pv[i].args, pv[i].prefix, &p, NULL, 0), 0);
		assert_int_equal(p.nparams, pv[i].nparams);
		for (size_t k = 0; k < pv[i].nparams; k++) {
			assert_string_equal(p.params[k].name, pv[i].pname[k]);
			assert_string_equal(p.params[k].value, pv[i].pvalue[k]);
			assert_string_equal(smtp_path_param(&p, pv[i].pname[k]), pv[i].pvalue[k]);
		}
		assert_null(smtp_path_param(&p, "NOSUCH"));
	}
}

/* Lengths at and just past each bound. */
static void
test_path_bounds(void **state)
{
	char args[2048], local[SMTP_PATH_MAX + 2], want[SMTP_PATH_MAX + 8];
	size_t n;
	(void)state;

	/* An address of exactly SMTP_PATH_MAX bytes, then one more. */
	memset(local, 'a', sizeof(local));
	local[SMTP_PATH_MAX - 2] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@b>", local);
	snprintf(want, sizeof(want), "%s@b", local);
	assert_int_equal(strlen(want), SMTP_PATH_MAX);
	check_path(0, args, "FROM:", 0, want);
	local[SMTP_PATH_MAX - 2] = 'a';
	local[SMTP_PATH_MAX - 1] = '\0';
	snprintf(args, sizeof(args), "FROM:<%s@b>", local);
	check_path(1, args, "FROM:", -1, "path too long");
	snprintf(args, sizeof(args), "FROM:%s@b", local);
	check_path(2, args, "FROM:", -1, "path too long");

	/* SMTP_MAX_PARAMS parameters, then one more. */
	n = (size_t)snprintf(args, sizeof(args), "FROM:<a@b>");
	for (int i = 0; i < SMTP_MAX_PARAMS; i++)
		n += (size_t)snprintf(args + n, sizeof(args) - n, " P%d=%d", i, i);
	check_path(3, args, "FROM:", 0, "a@b");
	snprintf(args + n, sizeof(args) - n, " EXTRA");
	check_path(4, args, "FROM:", -1, "too many parameters");

	/* Keyword of 31 and 32 characters; value of 255 and 256. */
	memset(local, 'K', 32);
	local[31] = '\0';
	snprintf(args, sizeof(args), "FROM:<a@b> %s=1", local);
	check_path(5, args, "FROM:", 0, "a@b");
	local[31] = 'K';
	local[32] = '\0';
	snprintf(args, sizeof(args), "FROM:<a@b> %s=1", local);
	check_path(6, args, "FROM:", -1, "bad parameter");
	memset(local, 'v', 256);
	local[255] = '\0';
	snprintf(args, sizeof(args), "FROM:<a@b> X=%s", local);
	check_path(7, args, "FROM:", 0, "a@b");
	local[255] = 'v';
	local[256] = '\0';
	snprintf(args, sizeof(args), "FROM:<a@b> X=%s", local);
	check_path(8, args, "FROM:", -1, "bad parameter");

	/* A small err buffer is truncated, not overrun. */
	{
		struct smtp_path p;
		char err[4];

		assert_int_equal(smtp_path_parse("FROM:<", "FROM:", &p, err, sizeof(err)), -1);
		assert_string_equal(err, "syn");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_flags),
	    cmocka_unit_test(test_path_rows),
	    cmocka_unit_test(test_path_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

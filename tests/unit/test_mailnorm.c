/*
 * Unit tests for scan/mailnorm: a table of messages and what they must
 * become (LF line ends in the table; each row also runs with CRLF), the
 * count-only pass agreeing with the writing pass, each limit, and a
 * failing output callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scan/mailnorm.h"

#define H "From: a@example.com\nSubject: s\n"

static const struct mailnorm_limits deflim = {1 << 20, 64, 16};

struct out {
	char buf[4096];
	size_t len;
	int fail;
};

static int
out_cb(void *arg, const void *buf, size_t len)
{
	struct out *o = arg;

	if (o->fail)
		return -1;
	assert_true(o->len + len < sizeof(o->buf));
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return 0;
}

static const struct {
	const char *what, *in, *want; /* want NULL: unchanged */
} rows[] = {
    {"textbook: nothing to mend",
     H "Content-Type: multipart/mixed; boundary=\"b\"\n\npre\n--b\nContent-Type: text/plain\n\n"
       "x\n--b--\nepi\n",
     NULL},
    {"empty input", "", NULL},
    {"headers only", "From: a@example.com", NULL},
    {"BOM before the first field", "\xef\xbb\xbf" H "\nbody\n", H "\nbody\n"},
    {"BOM below a field put on top", "X-R: 1\n\xef\xbb\xbf" H "\nbody\n", "X-R: 1\n" H "\nbody\n"},
    {"junk before the first field", "junk line\nmore junk\n" H "\nbody\n", H "\nbody\n"},
    {"junk with no field after it: the body", "junk\n\njunk\n", "\njunk\n\njunk\n"},
    {"junk below a field on top", "X-R: 1\njunk\n" H "\nbody\n", "X-R: 1\n" H "\nbody\n"},
    {"a delimiter is never junk", "X-R: 1\n--b\n" H "\nbody\n", "X-R: 1\n\n--b\n" H "\nbody\n"},
    {"mbox From line kept", "From a@b Sat Dec  5 08:00:00 2026\n" H "\nx\n", NULL},
    {"whitespace-only line before a field", "From: a\n \nSubject: s\n\nx\n",
     "From: a\nSubject: s\n\nx\n"},
    {"whitespace-only line before a continuation", "Subject: a\n\t\n b\n\nx\n",
     "Subject: a\n b\n\nx\n"},
    {"whitespace-only separator", H " \nbody\n", H "\nbody\n"},
    {"spaces before the colon", "From : a\nSubject\t: s\n\nx\n", "From: a\nSubject: s\n\nx\n"},
    {"no separator before the body", H "body line\n", H "\nbody line\n"},
    {"no separator before a delimiter",
     H "Content-Type: multipart/mixed; boundary=b\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
     H "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n"
       "--b--\n"},
    {"no separator in a part",
     H "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n"
       "QUJD\n--b--\n",
     H "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n"
       "\nQUJD\n--b--\n"},
    {"part without fields and junk GMime skips: unchanged",
     H "Content-Type: multipart/mixed; boundary=b\n\n--b\njunk\nContent-Type: text/plain\n\nx\n"
       "--b--\n",
     NULL},
    {"empty part: a delimiter ends its header block",
     H "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b--\n", NULL},
    {"boundary parameter with spaces inside the quotes",
     H "Content-Type: multipart/mixed; boundary=\" b \"\n\n--b\n\nx\n--b--\n",
     H "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\n\nx\n--b--\n"},
    {"unquoted boundary with spaces",
     H "Content-Type: multipart/mixed; boundary=a b c\n\n--a b c\n\nx\n--a b c--\n",
     H "Content-Type: multipart/mixed; boundary=\"a b c\"\n\n--a b c\n\nx\n--a b c--\n"},
    {"delimiter longer than a 70-character boundary",
     H "Content-Type: multipart/mixed; "
       "boundary=\"0123456789012345678901234567890123456789012345678901234567890123456789\"\n\n"
       "--0123456789012345678901234567890123456789012345678901234567890123456789XYZ\n\nx\n"
       "--0123456789012345678901234567890123456789012345678901234567890123456789XYZ--\n",
     H "Content-Type: multipart/mixed; "
       "boundary=\"0123456789012345678901234567890123456789012345678901234567890123456789\"\n\n"
       "--0123456789012345678901234567890123456789012345678901234567890123456789\n\nx\n"
       "--0123456789012345678901234567890123456789012345678901234567890123456789--\n"},
    {"a longer delimiter of a short boundary is another boundary",
     H "Content-Type: multipart/mixed; boundary=b\n\n--bX\n\nx\n--b--\n", NULL},
    {"nested message/rfc822 header block mended",
     H "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n"
       "Subject : in\n\nx\n--b--\n",
     H "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n"
       "Subject: in\n\nx\n--b--\n"},
    {"nested multipart, inner part mended",
     H "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative;\n"
       " boundary=i\n\n--i\nContent-Type : text/plain\n\nx\n--i--\n--o--\n",
     H "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative;\n"
       " boundary=i\n\n--i\nContent-Type: text/plain\n\nx\n--i--\n--o--\n"},
    {"body lines that look like fields are not touched", H "\nSubject : x\n \nnot: mended\n", NULL},
};

/* The input with every "\n" as "\r\n"; caller frees. */
static char *
crlf(const char *s)
{
	char *o = malloc(strlen(s) * 2 + 1), *q = o;

	for (; *s; s++) {
		if (*s == '\n')
			*q++ = '\r';
		*q++ = *s;
	}
	*q = '\0';
	return o;
}

static void
run_row(const char *what, const char *in, const char *want)
{
	struct out o;
	long n, counted;

	memset(&o, 0, sizeof(o));
	counted = mailnorm(in, strlen(in), &deflim, NULL, NULL, NULL);
	n = mailnorm(in, strlen(in), &deflim, out_cb, &o, NULL);
	if (n != counted)
		fail_msg("%s: %ld mends counted, %ld written", what, counted, n);
	if ((want == NULL) != (n == 0))
		fail_msg("%s: %ld mends", what, n);
	if (o.len != strlen(want ? want : in) || memcmp(o.buf, want ? want : in, o.len) != 0)
		fail_msg("%s: got\n%.*s\nwant\n%s", what, (int)o.len, o.buf, want ? want : in);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *in = crlf(rows[i].in), *want = rows[i].want ? crlf(rows[i].want) : NULL;

		run_row(rows[i].what, rows[i].in, rows[i].want);
		run_row(rows[i].what, in, want);
		free(in);
		free(want);
	}
}

static void
test_stats(void **state)
{
	static const char msg[] = "\xef\xbb\xbfjunk\nFrom : a\n \nSubject: s\n \nbody\n";
	struct mailnorm_stats st;
	(void)state;

	assert_int_equal(mailnorm(msg, strlen(msg), &deflim, NULL, NULL, &st), 5);
	assert_int_equal(st.bom, 1);
	assert_int_equal(st.junk_lines, 1);
	assert_int_equal(st.colon_spaces, 1);
	assert_int_equal(st.ws_lines, 1);
	assert_int_equal(st.separators, 1);
}

static void
test_limits(void **state)
{
	static const char junk[] = "j1\nj2\nj3\nFrom: a\n\nx\n";
	static const char nested[] =
	    H "Content-Type: multipart/mixed; boundary=o\n\n--o\n"
	      "Content-Type: multipart/mixed; boundary=i\n\n--i\nFrom : x\n\nx\n--i--\n--o--\n";
	struct mailnorm_limits lim = deflim;
	struct mailnorm_stats st;
	char big[4096];
	(void)state;

	/* max_header_bytes 0: the pass is off. */
	lim.max_header_bytes = 0;
	assert_int_equal(mailnorm(junk, strlen(junk), &lim, NULL, NULL, NULL), 0);
	/* Fewer junk lines allowed than there are: the junk is the body. */
	lim = deflim;
	lim.max_junk_lines = 2;
	assert_int_equal(mailnorm(junk, strlen(junk), &lim, NULL, NULL, &st), 1);
	assert_int_equal(st.junk_lines, 0);
	assert_int_equal(st.separators, 1);
	lim.max_junk_lines = 0;
	assert_int_equal(mailnorm(junk, strlen(junk), &lim, NULL, NULL, &st), 1);
	assert_int_equal(st.junk_lines, 0);
	/* One boundary followed: the inner part's header is not reached. */
	lim = deflim;
	assert_int_equal(mailnorm(nested, strlen(nested), &lim, NULL, NULL, &st), 1);
	assert_int_equal(st.colon_spaces, 1);
	lim.max_boundaries = 1;
	assert_int_equal(mailnorm(nested, strlen(nested), &lim, NULL, NULL, &st), 0);
	/* A header block longer than max_header_bytes: the rest is body. */
	lim = deflim;
	lim.max_header_bytes = 64;
	memset(big, 0, sizeof(big));
	strcpy(big, "From: a\n");
	for (int i = 0; i < 20; i++)
		strcat(big, "X-Pad: 0123456789\n");
	strcat(big, "Subject : late\n\nx\n");
	assert_int_equal(mailnorm(big, strlen(big), &lim, NULL, NULL, &st), 0);
	assert_int_equal(st.header_cut, 1);
	lim.max_header_bytes = 1 << 20;
	assert_int_equal(mailnorm(big, strlen(big), &lim, NULL, NULL, &st), 1);
}

static void
test_out_fails(void **state)
{
	static const char msg[] = "\xef\xbb\xbf" H "\nbody\n";
	struct out o;
	(void)state;

	memset(&o, 0, sizeof(o));
	o.fail = 1;
	assert_int_equal(mailnorm(msg, strlen(msg), &deflim, out_cb, &o, NULL), -1);
	assert_int_equal(mailnorm(H "\nx\n", strlen(H "\nx\n"), &deflim, out_cb, &o, NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_out_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

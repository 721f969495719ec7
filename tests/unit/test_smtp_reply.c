/*
 * Unit tests for smtp/smtp_reply: parsing single and multi-line replies,
 * enhanced codes, malformed lines, EHLO keywords, and formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_reply.h"

#define MAXL 6

/* Each row: lines fed in order, the return of each feed, and the result. */
static const struct {
	const char *in[MAXL];
	int rc[MAXL];
	int code;
	const char *enh;
	const char *text[MAXL];
	const char *wire; /* smtp_reply_format() of the result, NULL if not complete */
} rows[] = {
    {{"250 ok"}, {1}, 250, "", {"ok"}, "250 ok\r\n"},
    {{"250 ok\r"}, {1}, 250, "", {"ok"}, "250 ok\r\n"},
    {{"250"}, {1}, 250, "", {""}, "250\r\n"},
    {{"250 "}, {1}, 250, "", {""}, "250\r\n"},
    {{"250-", "250 x"}, {0, 1}, 250, "", {"", "x"}, "250-\r\n250 x\r\n"},
    {{"250  two spaces"}, {1}, 250, "", {" two spaces"}, "250  two spaces\r\n"},
    {{"451 4.4.1 next hop down"},
     {1},
     451,
     "4.4.1",
     {"next hop down"},
     "451 4.4.1 next hop down\r\n"},
    {{"250-2.1.0 a", "250 2.1.0 b"},
     {0, 1},
     250,
     "2.1.0",
     {"a", "b"},
     "250-2.1.0 a\r\n250 2.1.0 b\r\n"},
    {{"250-2.1.0 a", "250 b"}, {0, 1}, 250, "2.1.0", {"a", "b"}, "250-2.1.0 a\r\n250 2.1.0 b\r\n"},
    {{"550 5.7.1"}, {1}, 550, "5.7.1", {""}, "550 5.7.1\r\n"},
    {{"554 5.123.456 x"}, {1}, 554, "5.123.456", {"x"}, "554 5.123.456 x\r\n"},
    /* Not enhanced codes: wrong class, too many digits, no separator. */
    {{"250 5.1.0 x"}, {1}, 250, "", {"5.1.0 x"}, "250 5.1.0 x\r\n"},
    {{"250 2.1 x"}, {1}, 250, "", {"2.1 x"}, "250 2.1 x\r\n"},
    {{"250 2.1.0000 x"}, {1}, 250, "", {"2.1.0000 x"}, "250 2.1.0000 x\r\n"},
    {{"250 2.1.0x"}, {1}, 250, "", {"2.1.0x"}, "250 2.1.0x\r\n"},
    {{"250 2..0 x"}, {1}, 250, "", {"2..0 x"}, "250 2..0 x\r\n"},
    /* A first line without one keeps later look-alikes as text. */
    {{"250-x", "250 2.0.0 y"}, {0, 1}, 250, "", {"x", "2.0.0 y"}, "250-x\r\n250 2.0.0 y\r\n"},
    {{"250-mx.example.org hi", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME",
      "250 STARTTLS"},
     {0, 0, 0, 0, 1},
     250,
     "",
     {"mx.example.org hi", "PIPELINING", "SIZE 10240000", "8BITMIME", "STARTTLS"},
     "250-mx.example.org hi\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
     "250 STARTTLS\r\n"},
    /* Malformed. */
    {{""}, {-1}, 0, "", {NULL}, NULL},
    {{"25"}, {-1}, 0, "", {NULL}, NULL},
    {{"2500 x"}, {-1}, 0, "", {NULL}, NULL},
    {{"250x"}, {-1}, 0, "", {NULL}, NULL},
    {{"abc def"}, {-1}, 0, "", {NULL}, NULL},
    {{"650 x"}, {-1}, 0, "", {NULL}, NULL},
    {{"150 x"}, {-1}, 0, "", {NULL}, NULL},
    {{"2a0 x"}, {-1}, 0, "", {NULL}, NULL},
    {{" 250 x"}, {-1}, 0, "", {NULL}, NULL},
    {{"250-a", "251 b"}, {0, -1}, 250, "", {"a"}, NULL},
    {{"250-a", "250-b", "25"}, {0, 0, -1}, 250, "", {"a", "b"}, NULL},
};

static void
test_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct smtp_reply rep;
		size_t n = 0;
		int rc = 0;

		smtp_reply_init(&rep);
		for (size_t i = 0; i < MAXL && rows[r].in[i] != NULL; i++) {
			rc = smtp_reply_feed(&rep, rows[r].in[i], strlen(rows[r].in[i]));
			if (rc != rows[r].rc[i])
				fail_msg("row %zu line %zu: rc %d, want %d", r, i, rc,
				         rows[r].rc[i]);
		}
		assert_int_equal(rep.code, rows[r].code);
		assert_string_equal(rep.enh, rows[r].enh);
		while (n < MAXL && rows[r].text[n] != NULL)
			n++;
		assert_int_equal(rep.nlines, n);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(rep.lines[i], rows[r].text[i]);
		assert_int_equal(rep.complete, rc == 1);
		if (rows[r].wire != NULL) {
			char *w = smtp_reply_format(&rep);

			assert_string_equal(w, rows[r].wire);
			free(w);
		}
		smtp_reply_clear(&rep);
		assert_int_equal(rep.nlines, 0);
		assert_null(rep.lines);
	}
}

static void
test_control_chars(void **state)
{
	struct smtp_reply rep;
	(void)state;

	smtp_reply_init(&rep);
	assert_int_equal(smtp_reply_feed(&rep, "250 a\rb\0c\x7f\td", 12), 1);
	assert_string_equal(rep.lines[0], "a?b?c?\td");
	smtp_reply_clear(&rep);
}

static void
test_too_many_lines(void **state)
{
	struct smtp_reply rep;
	(void)state;

	smtp_reply_init(&rep);
	for (int i = 0; i < SMTP_REPLY_MAX_LINES - 1; i++)
		assert_int_equal(smtp_reply_feed(&rep, "250-x", 5), 0);
	assert_int_equal(smtp_reply_feed(&rep, "250 x", 5), 1);
	assert_int_equal(rep.nlines, SMTP_REPLY_MAX_LINES);
	smtp_reply_clear(&rep);

	for (int i = 0; i < SMTP_REPLY_MAX_LINES; i++)
		assert_int_equal(smtp_reply_feed(&rep, "250-x", 5), 0);
	assert_int_equal(smtp_reply_feed(&rep, "250 x", 5), -1);
	assert_int_equal(rep.complete, 0);
	smtp_reply_clear(&rep);
}

/* After a complete reply, the next line starts a new one. */
static void
test_feed_after_complete(void **state)
{
	struct smtp_reply rep;
	(void)state;

	smtp_reply_init(&rep);
	assert_int_equal(smtp_reply_feed(&rep, "250 2.0.0 ok", 12), 1);
	assert_int_equal(smtp_reply_feed(&rep, "354 go", 6), 1);
	assert_int_equal(rep.code, 354);
	assert_string_equal(rep.enh, "");
	assert_int_equal(rep.nlines, 1);
	assert_string_equal(rep.lines[0], "go");
	smtp_reply_clear(&rep);
}

static void
test_has(void **state)
{
	static const char *ehlo[] = {"250-STARTTLS hello", "250-PIPELINING",
	                             "250-SIZE 10240000",  "250-XFORWARD NAME ADDR",
	                             "250-SIZE2",          "250 smtputf8"};
	static const struct {
		const char *kw;
		int has;
		const char *arg;
	} q[] = {
	    {"PIPELINING", 1, ""},   {"pipelining", 1, ""},
	    {"SIZE", 1, "10240000"}, {"XFORWARD", 1, "NAME ADDR"},
	    {"SMTPUTF8", 1, ""},     {"STARTTLS", 0, NULL},
	    {"SIZE2", 1, ""},        {"PIPE", 0, NULL},
	    {"8BITMIME", 0, NULL},
	};
	struct smtp_reply rep;
	(void)state;

	smtp_reply_init(&rep);
	for (size_t i = 0; i < sizeof(ehlo) / sizeof(ehlo[0]); i++)
		smtp_reply_feed(&rep, ehlo[i], strlen(ehlo[i]));
	assert_true(rep.complete);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		const char *arg = NULL;

		assert_int_equal(smtp_reply_has(&rep, q[i].kw, &arg), q[i].has);
		if (q[i].has)
			assert_string_equal(arg, q[i].arg);
		assert_int_equal(smtp_reply_has(&rep, q[i].kw, NULL), q[i].has);
	}
	smtp_reply_clear(&rep);
}

static void
test_build_and_format(void **state)
{
	struct smtp_reply rep;
	char *w;
	(void)state;

	smtp_reply_init(&rep);
	rep.code = 250;
	w = smtp_reply_format(&rep);
	assert_string_equal(w, "250\r\n");
	free(w);

	rep.code = 451;
	snprintf(rep.enh, sizeof(rep.enh), "4.4.1");
	smtp_reply_add_line(&rep, "a");
	smtp_reply_add_line(&rep, "b\r\nMAIL");
	w = smtp_reply_format(&rep);
	assert_string_equal(w, "451-4.4.1 a\r\n451 4.4.1 b??MAIL\r\n");
	free(w);
	smtp_reply_clear(&rep);
}

/* Formatting a parsed reply and parsing it again gives the same reply. */
static void
test_format_round_trip(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct smtp_reply a, b;
		char *w, *line, *save = NULL;
		int rc = 0;

		if (rows[r].wire == NULL)
			continue;
		smtp_reply_init(&a);
		smtp_reply_init(&b);
		for (size_t i = 0; i < MAXL && rows[r].in[i] != NULL; i++)
			smtp_reply_feed(&a, rows[r].in[i], strlen(rows[r].in[i]));
		w = smtp_reply_format(&a);
		for (line = strtok_r(w, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			rc = smtp_reply_feed(&b, line, strlen(line));
		assert_int_equal(rc, 1);
		assert_int_equal(b.code, a.code);
		assert_string_equal(b.enh, a.enh);
		assert_int_equal(b.nlines, a.nlines);
		for (size_t i = 0; i < a.nlines; i++)
			assert_string_equal(b.lines[i], a.lines[i]);
		free(w);
		smtp_reply_clear(&a);
		smtp_reply_clear(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_control_chars),
	    cmocka_unit_test(test_too_many_lines),
	    cmocka_unit_test(test_feed_after_complete),
	    cmocka_unit_test(test_has),
	    cmocka_unit_test(test_build_and_format),
	    cmocka_unit_test(test_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ftp_wire: command lines, replies, and the data-channel addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "ftp/ftp_wire.h"

static void
test_cmd_parse(void **state)
{
	static const struct {
		const char *line;
		size_t len; /* 0: strlen */
		int rc;
		const char *verb, *arg;
	} v[] = {
	    {"RETR file.txt", 0, 0, "RETR", "file.txt"},
	    {"retr a b  c", 0, 0, "RETR", "a b  c"},
	    {"PWD", 0, 0, "PWD", ""},
	    {"NOOP ", 0, 0, "NOOP", ""},
	    {"\xff\xf4\xff\xf2"
	     "ABOR",
	     0, 0, "ABOR", ""},
	    {"", 0, -1, NULL, NULL},
	    {"AB", 0, -1, NULL, NULL},
	    {"ABCDE x", 0, -1, NULL, NULL},
	    {"RE1R x", 0, -1, NULL, NULL},
	    {"RETR a\rDELE b", 0, -1, NULL, NULL}, /* no second command smuggled */
	    {"RETR a\x01", 0, -1, NULL, NULL},
	    {"RETR a\0b", 8, -1, NULL, NULL},
	    {" RETR a", 0, -1, NULL, NULL},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char verb[5];
		const char *arg = NULL;
		size_t len = v[i].len ? v[i].len : strlen(v[i].line);
		int rc = ftp_cmd_parse(v[i].line, len, verb, &arg);

		if (rc != v[i].rc)
			fail_msg("row %zu (%s): rc %d", i, v[i].line, rc);
		if (rc == 0) {
			assert_string_equal(verb, v[i].verb);
			assert_string_equal(arg, v[i].arg);
		}
	}
}

static int
push(struct ftp_reply *r, const char *l)
{
	return ftp_reply_push(r, l, strlen(l));
}

static void
test_reply(void **state)
{
	struct ftp_reply r;
	(void)state;

	memset(&r, 0, sizeof(r));
	assert_int_equal(push(&r, "226 Transfer complete."), 1);
	assert_int_equal(r.code, 226);
	assert_int_equal(r.nlines, 1);
	assert_string_equal(ftp_reply_first(&r), "226 Transfer complete.");
	ftp_reply_clear(&r);

	/* RFC 959 multi-line: lines in between may start with anything */
	assert_int_equal(push(&r, "211-Features:"), 0);
	assert_int_equal(push(&r, " MDTM"), 0);
	assert_int_equal(push(&r, "211x not the end"), 0);
	assert_int_equal(push(&r, "200 another code is not the end"), 0);
	assert_int_equal(push(&r, "211 End"), 1);
	assert_int_equal(r.nlines, 5);
	ftp_reply_clear(&r);
	assert_int_equal(r.nlines, 0);

	assert_int_equal(push(&r, "hello"), -1);
	ftp_reply_clear(&r);
	assert_int_equal(push(&r, "99 short"), -1);
	ftp_reply_clear(&r);

	/* too many lines is an error, not unbounded memory */
	assert_int_equal(push(&r, "220-banner"), 0);
	{
		int rc = 0;

		for (int i = 0; i < FTP_REPLY_MAX_LINES + 5 && rc == 0; i++)
			rc = push(&r, "more");
		assert_int_equal(rc, -1);
	}
	ftp_reply_clear(&r);
}

static void
test_addresses(void **state)
{
	struct sockaddr_storage ss, ss2;
	socklen_t len;
	uint16_t port;
	char buf[128];
	(void)state;

	assert_int_equal(ftp_parse_port("127,0,0,1,4,1", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ftp_sa_port((struct sockaddr *)&ss), 1025);
	assert_int_equal(ftp_format_port((struct sockaddr *)&ss, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "127,0,0,1,4,1");
	assert_int_equal(ftp_parse_port("127,0,0,1,4", &ss, &len), -1);
	assert_int_equal(ftp_parse_port("127,0,0,256,4,1", &ss, &len), -1);
	assert_int_equal(ftp_parse_port("127,0,0,1,4,1,9", &ss, &len), -1);
	assert_int_equal(ftp_parse_port("a,b,c,d,e,f", &ss, &len), -1);
	/* port 0: nothing to connect to (EPRT refuses it as well) */
	assert_int_equal(ftp_parse_port("127,0,0,1,0,0", &ss, &len), -1);
	assert_int_equal(ftp_parse_227("(48,8,0,68,0,0) 4x", &ss, &len), -1);

	assert_int_equal(ftp_parse_227("Entering Passive Mode (10,1,2,3,200,10).", &ss, &len), 0);
	assert_int_equal(ftp_sa_port((struct sockaddr *)&ss), 200 * 256 + 10);
	assert_int_equal(ftp_parse_227("Entering Passive Mode.", &ss, &len), -1);

	assert_int_equal(ftp_parse_eprt("|2|::1|5282|", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ftp_sa_port((struct sockaddr *)&ss), 5282);
	assert_int_equal(ftp_format_eprt((struct sockaddr *)&ss, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "|2|::1|5282|");
	assert_int_equal(ftp_format_port((struct sockaddr *)&ss, buf, sizeof(buf)), -1);
	assert_int_equal(ftp_parse_eprt("|1|132.235.1.2|6275|", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ftp_parse_eprt("|1|::1|6275|", &ss, &len), -1);
	assert_int_equal(ftp_parse_eprt("|2|1.2.3.4|6275|", &ss, &len), -1);
	assert_int_equal(ftp_parse_eprt("|1|1.2.3.4|0|", &ss, &len), -1);
	assert_int_equal(ftp_parse_eprt("|1|1.2.3.4|70000|", &ss, &len), -1);
	assert_int_equal(ftp_parse_eprt("|1|1.2.3.4|21", &ss, &len), -1);

	assert_int_equal(ftp_parse_229("Entering Extended Passive Mode (|||6446|)", &port), 0);
	assert_int_equal(port, 6446);
	assert_int_equal(ftp_parse_229("Entering Extended Passive Mode (|||0|)", &port), -1);
	assert_int_equal(ftp_parse_229("no port here", &port), -1);

	/* the same host: v4-mapped IPv6 is the IPv4 address, ports do not matter */
	assert_int_equal(ftp_parse_eprt("|1|127.0.0.1|2000|", &ss, &len), 0);
	assert_int_equal(ftp_parse_eprt("|2|::ffff:127.0.0.1|3000|", &ss2, &len), 0);
	assert_true(ftp_same_host((struct sockaddr *)&ss, (struct sockaddr *)&ss2));
	assert_int_equal(ftp_parse_eprt("|1|127.0.0.2|2000|", &ss2, &len), 0);
	assert_false(ftp_same_host((struct sockaddr *)&ss, (struct sockaddr *)&ss2));
	ftp_sa_set_port((struct sockaddr *)&ss2, 21);
	assert_int_equal(ftp_sa_port((struct sockaddr *)&ss2), 21);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmd_parse),
	    cmocka_unit_test(test_reply),
	    cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

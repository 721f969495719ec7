/* Unit tests for policy (direction, decisions) and util/cidr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "policy/policy.h"
#include "util/cidr.h"

static struct sockaddr_storage
sa(const char *hostport)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_int_equal(hostport_parse(hostport, &ss, &len), 0);
	return ss;
}

static void
test_cidr(void **state)
{
	static const struct {
		const char *nets, *addr;
		int match;
	} rows[] = {
	    {"10.0.0.0/8", "10.1.2.3:1", 1},
	    {"10.0.0.0/8", "11.1.2.3:1", 0},
	    {"192.168.1.0/25", "192.168.1.127:1", 1},
	    {"192.168.1.0/25", "192.168.1.128:1", 0},
	    {"0.0.0.0/0", "8.8.8.8:1", 1},
	    {"::1/128", "[::1]:1", 1},
	    {"::1/128", "[::2]:1", 0},
	    {"fc00::/7", "[fd12::1]:1", 1},
	    {"127.0.0.0/8", "[::ffff:127.0.0.1]:1", 1}, /* v4-mapped counts as v4 */
	    {"10.0.0.1", "10.0.0.1:1", 1},              /* bare address: host route */
	    {"10.0.0.1 ::1", "[::1]:1", 1},
	};
	static const char *bad[] = {"10.0.0.0/33", "::1/129", "foo", "10.0.0.0/x", "", "1.2.3.4/"};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cidr_list l;
		struct sockaddr_storage ss = sa(rows[i].addr);
		char b[64];

		assert_int_equal(cidr_list_parse(rows[i].nets, &l, b, sizeof(b)), 0);
		if (cidr_list_match(&l, (struct sockaddr *)&ss) != rows[i].match)
			fail_msg("row %zu: %s in %s", i, rows[i].addr, rows[i].nets);
		cidr_list_free(&l);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cidr c;

		if (bad[i][0] && cidr_parse(bad[i], &c) == 0)
			fail_msg("accepted %s", bad[i]);
	}
}

static void
test_hostport(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
	    {"127.0.0.1:25", "127.0.0.1:25"},
	    {"[::1]:10025", "[::1]:10025"},
	    {"*:25", "0.0.0.0:25"},
	};
	static const char *bad[] = {"localhost:25", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
	                            "[::1:25",      "::1:25x",   ":25",         "[::1]25"};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sockaddr_storage ss = sa(rows[i].in);
		char buf[80];

		assert_string_equal(hostport_format((struct sockaddr *)&ss, buf, sizeof(buf)),
		                    rows[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (hostport_parse(bad[i], &ss, &len) == 0)
			fail_msg("accepted %s", bad[i]);
	}
}

static void
test_direction(void **state)
{
	struct pc_config c;
	struct policy p;
	char *err = NULL;
	struct sockaddr_storage inside = sa("10.1.1.1:25"), outside = sa("203.0.113.5:25");
	const char *local[] = {"bob@example.org", "amy@mail.example.org"};
	const char *mixed[] = {"bob@example.org", "eve@elsewhere.net"};
	(void)state;

	conf_defaults(&c);
	conf_set(&c, "policy", "internal_domains", "example.org", NULL);
	assert_int_equal(policy_init(&p, &c, &err), 0);
	/* By next hop (the founding patent's way); Maildir is inside. */
	assert_int_equal(policy_direction(&p, LDIR_AUTO, (struct sockaddr *)&inside, NULL, NULL, 0),
	                 DIR_INBOUND);
	assert_int_equal(
	    policy_direction(&p, LDIR_AUTO, (struct sockaddr *)&outside, NULL, NULL, 0),
	    DIR_OUTBOUND);
	assert_int_equal(policy_direction(&p, LDIR_AUTO, NULL, NULL, NULL, 0), DIR_INBOUND);
	/* The listener's fixed direction wins. */
	assert_int_equal(
	    policy_direction(&p, LDIR_OUTBOUND, (struct sockaddr *)&inside, NULL, NULL, 0),
	    DIR_OUTBOUND);
	/* By client. */
	p.direction_by = DIRBY_CLIENT;
	assert_int_equal(policy_direction(&p, LDIR_AUTO, NULL, (struct sockaddr *)&inside, NULL, 0),
	                 DIR_OUTBOUND);
	assert_int_equal(
	    policy_direction(&p, LDIR_AUTO, NULL, (struct sockaddr *)&outside, NULL, 0),
	    DIR_INBOUND);
	/* By recipient domains, subdomains included. */
	p.direction_by = DIRBY_RECIPIENT;
	assert_int_equal(policy_direction(&p, LDIR_AUTO, NULL, NULL, local, 2), DIR_INBOUND);
	assert_int_equal(policy_direction(&p, LDIR_AUTO, NULL, NULL, mixed, 2), DIR_OUTBOUND);
	policy_free(&p);
	conf_free(&c);
}

static void
test_decide(void **state)
{
	static const struct {
		enum scan_status st;
		enum scan_limit limit;
		enum direction dir;
		int action;
		const char *detail;
	} rows[] = {
	    {SCAN_CLEAN, LIMIT_NONE, DIR_INBOUND, ACT_PASS, ""},
	    {SCAN_INFECTED, LIMIT_NONE, DIR_INBOUND, ACT_QUARANTINE, ""},
	    {SCAN_INFECTED, LIMIT_NONE, DIR_OUTBOUND, ACT_REJECT, ""},
	    {SCAN_ERROR, LIMIT_NONE, DIR_INBOUND, ACT_PASS, "scanner unavailable"},
	    {SCAN_ERROR, LIMIT_NONE, DIR_OUTBOUND, ACT_TEMPFAIL, "scanner unavailable"},
	    {SCAN_LIMIT, LIMIT_TIME, DIR_INBOUND, ACT_TEMPFAIL, "scan timeout"},
	    {SCAN_LIMIT, LIMIT_RATIO, DIR_INBOUND, ACT_REJECT, "limit max_ratio"},
	    {SCAN_ENCRYPTED, LIMIT_NONE, DIR_INBOUND, ACT_QUARANTINE, "encrypted"},
	    {SCAN_CORRUPT, LIMIT_NONE, DIR_INBOUND, ACT_TEMPFAIL, "corrupt"},
	};
	struct pc_config c;
	struct policy p;
	char *err = NULL;
	(void)state;

	conf_defaults(&c);
	conf_set(&c, "inbound", "scanner_error", "pass", NULL);
	conf_set(&c, "inbound", "limit", "reject", NULL);
	conf_set(&c, "inbound", "encrypted", "quarantine", NULL);
	assert_int_equal(policy_init(&p, &c, &err), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct scan_verdict v;
		struct policy_decision d;

		verdict_init(&v);
		if (rows[i].st == SCAN_INFECTED)
			verdict_add_hit(&v, "X", "m");
		else
			verdict_note(&v, rows[i].st, rows[i].limit, "m", "r");
		policy_decide(&p, rows[i].dir, &v, 0, &d);
		if (d.action != rows[i].action || strcmp(d.cause_detail, rows[i].detail) != 0)
			fail_msg("row %zu: action %d detail \"%s\"", i, d.action, d.cause_detail);
		verdict_clear(&v);
	}
	policy_free(&p);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cidr),
	    cmocka_unit_test(test_hostport),
	    cmocka_unit_test(test_direction),
	    cmocka_unit_test(test_decide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

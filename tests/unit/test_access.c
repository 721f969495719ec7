/* access: the allow-list, the per-address session and rate limits, the
 * exemptions, forgetting idle addresses, and the table's bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "net/access.h"

static struct sockaddr_storage
addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void
rules(struct access_rules *r, const char *clients, const char *exc, unsigned per, unsigned rate)
{
	char *err = NULL;

	assert_int_equal(access_rules_init(r, clients, exc, per, rate, &err), 0);
	assert_null(err);
}

static void
test_bad_rules(void **state)
{
	struct access_rules r;
	char *err = NULL;
	(void)state;

	assert_int_equal(access_rules_init(&r, "10.0.0.0/8 nonsense", "", 1, 1, &err), -1);
	assert_non_null(strstr(err, "clients: bad network nonsense"));
	free(err);
	err = NULL;
	assert_int_equal(access_rules_init(&r, "", "300.1.1.1", 1, 1, &err), -1);
	assert_non_null(strstr(err, "limit_exceptions"));
	free(err);
}

static void
test_allow_list(void **state)
{
	struct access_rules r;
	struct access *a = access_new();
	struct sockaddr_storage in = addr("192.0.2.7"), out = addr("198.51.100.1"),
	                        mapped = addr("::ffff:192.0.2.9"), v6 = addr("2001:db8::1");
	(void)state;

	rules(&r, "192.0.2.0/24 2001:db8::/32", "", 0, 0);
	assert_int_equal(access_admit(a, &r, SA(in), 1000), ACCESS_OK);
	assert_int_equal(access_admit(a, &r, SA(out), 1000), ACCESS_DENIED);
	assert_int_equal(access_admit(a, &r, SA(mapped), 1000), ACCESS_OK);
	assert_int_equal(access_admit(a, &r, SA(v6), 1000), ACCESS_OK);
	/* Nobody when the list is empty. */
	access_rules_free(&r);
	rules(&r, "", "", 0, 0);
	assert_int_equal(access_admit(a, &r, SA(in), 1000), ACCESS_DENIED);
	assert_string_equal(access_result_name(ACCESS_DENIED), "not-allowed");
	access_rules_free(&r);
	access_free(a);
}

static void
test_sessions_per_client(void **state)
{
	struct access_rules r;
	struct access *a = access_new();
	struct sockaddr_storage x = addr("192.0.2.7"), x4in6 = addr("::ffff:192.0.2.7"),
	                        y = addr("192.0.2.8");
	(void)state;

	rules(&r, "0.0.0.0/0 ::/0", "", 2, 0);
	assert_int_equal(access_admit(a, &r, SA(x), 1000), ACCESS_OK);
	/* The v4-mapped form is the same client. */
	assert_int_equal(access_admit(a, &r, SA(x4in6), 1000), ACCESS_OK);
	assert_int_equal(access_admit(a, &r, SA(x), 1000), ACCESS_TOO_MANY);
	assert_int_equal(access_admit(a, &r, SA(y), 1000), ACCESS_OK);
	access_done(a, SA(x), 2000);
	assert_int_equal(access_admit(a, &r, SA(x), 2000), ACCESS_OK);
	assert_int_equal(access_admit(a, &r, SA(x), 2000), ACCESS_TOO_MANY);
	access_rules_free(&r);
	access_free(a);
}

static void
test_rate(void **state)
{
	struct access_rules r;
	struct access *a = access_new();
	struct sockaddr_storage x = addr("192.0.2.7");
	(void)state;

	rules(&r, "0.0.0.0/0", "", 0, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(access_admit(a, &r, SA(x), 1000 + (uint64_t)i), ACCESS_OK);
		access_done(a, SA(x), 1000 + (uint64_t)i);
	}
	/* A refused attempt counts too: it stays refused within the minute. */
	assert_int_equal(access_admit(a, &r, SA(x), 30000), ACCESS_TOO_FAST);
	assert_int_equal(access_admit(a, &r, SA(x), 60999), ACCESS_TOO_FAST);
	/* A new minute. */
	assert_int_equal(access_admit(a, &r, SA(x), 61000), ACCESS_OK);
	access_rules_free(&r);
	access_free(a);
}

static void
test_exceptions(void **state)
{
	struct access_rules r;
	struct access *a = access_new();
	struct sockaddr_storage lo = addr("127.0.0.1"), lo6 = addr("::1"), x = addr("192.0.2.7");
	(void)state;

	rules(&r, "0.0.0.0/0 ::/0", "127.0.0.0/8 ::1/128", 1, 1);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(access_admit(a, &r, SA(lo), 1000), ACCESS_OK);
		assert_int_equal(access_admit(a, &r, SA(lo6), 1000), ACCESS_OK);
	}
	assert_int_equal(access_admit(a, &r, SA(x), 1000), ACCESS_OK);
	assert_int_equal(access_admit(a, &r, SA(x), 1000), ACCESS_TOO_FAST);
	access_rules_free(&r);
	access_free(a);
}

/* Idle addresses are forgotten; the table never holds more than its bound. */
static void
test_forgets_and_bounded(void **state)
{
	struct access_rules r;
	struct access *a = access_new();
	(void)state;

	rules(&r, "0.0.0.0/0", "", 1, 0);
	for (uint32_t i = 0; i < 5000; i++) {
		struct sockaddr_in s4 = {.sin_family = AF_INET,
		                         .sin_addr.s_addr = htonl(0x0a000000 + i)};

		assert_int_equal(access_admit(a, &r, (struct sockaddr *)&s4, 1000), ACCESS_OK);
		access_done(a, (struct sockaddr *)&s4, 1000);
	}
	/* All 5000 are remembered within their minute (the rate window)... */
	assert_int_equal(access_count(a), 5000);
	/* ...and forgotten after it, at the next admission. */
	{
		struct sockaddr_storage x = addr("192.0.2.7");

		assert_int_equal(access_admit(a, &r, SA(x), 62000), ACCESS_OK);
		assert_int_equal(access_count(a), 1);
		/* A session still open keeps its address. */
		assert_int_equal(access_admit(a, &r, SA(x), 200000), ACCESS_TOO_MANY);
		access_done(a, SA(x), 200000);
		/* Remembered for the minute of its last (refused) attempt. */
		assert_int_equal(access_count(a), 1);
		assert_int_equal(access_admit(a, &r, SA(x), 300000), ACCESS_OK);
		access_done(a, SA(x), 360000);
		assert_int_equal(access_count(a), 0);
	}
	/* Past the bound a new address is served, uncounted. */
	for (uint32_t i = 0; i < ACCESS_MAX_ADDRS + 10; i++) {
		struct sockaddr_in s4 = {.sin_family = AF_INET,
		                         .sin_addr.s_addr = htonl(0x0b000000 + i)};

		assert_int_equal(access_admit(a, &r, (struct sockaddr *)&s4, 300000), ACCESS_OK);
	}
	assert_int_equal(access_count(a), ACCESS_MAX_ADDRS);
	access_rules_free(&r);
	access_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_rules),           cmocka_unit_test(test_allow_list),
	    cmocka_unit_test(test_sessions_per_client), cmocka_unit_test(test_rate),
	    cmocka_unit_test(test_exceptions),          cmocka_unit_test(test_forgets_and_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

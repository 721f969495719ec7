/* Unit tests for conf: defaults, values, and file:line errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"

/* Writes text to a temporary file, loads it, returns errors and messages. */
static int
load_text(struct pc_config *c, const char *text, char *msgs, size_t msgcap)
{
	char path[] = "/tmp/pc-conf-XXXXXX";
	int fd = mkstemp(path);
	FILE *errf = fmemopen(msgs, msgcap, "w");
	int n;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(msgs, 0, msgcap);
	n = conf_load(c, path, errf);
	fclose(errf);
	/* Messages name the file: replace it so vectors can be compared. */
	for (char *p; (p = strstr(msgs, path)) != NULL;) {
		memcpy(p, "F", 1);
		memmove(p + 1, p + strlen(path), strlen(p + strlen(path)) + 1);
	}
	unlink(path);
	return n;
}

static void
test_defaults(void **state)
{
	struct pc_config c;
	(void)state;

	conf_defaults(&c);
	assert_int_equal(c.max_depth, 16);
	assert_int_equal(c.max_total_bytes, 400ULL * 1024 * 1024);
	assert_int_equal(c.max_scan_time_ms, 120000);
	assert_int_equal(c.backend, BACKEND_BUILTIN);
	assert_int_equal(c.skip_safe, 0);
	assert_non_null(strstr(c.safe_types, "image/png"));
	conf_free(&c);
}

static void
test_values(void **state)
{
	struct pc_config c;
	char msgs[1024];
	(void)state;

	conf_defaults(&c);
	assert_int_equal(load_text(&c,
	                           "; comment\n[scan]\nmax_depth = 3\nmax_total_bytes = 2G\n"
	                           "max_scan_time = 500ms\nbackend = chain\nskip_safe_types = yes\n"
	                           "safe_types = image/png\n  image/gif\n[log]\nlevel = debug\n",
	                           msgs, sizeof(msgs)),
	                 0);
	assert_string_equal(msgs, "");
	assert_int_equal(c.max_depth, 3);
	assert_int_equal(c.max_total_bytes, 2ULL << 30);
	assert_int_equal(c.max_scan_time_ms, 500);
	assert_int_equal(c.backend, BACKEND_CHAIN);
	assert_int_equal(c.skip_safe, 1);
	assert_string_equal(c.safe_types, "image/png image/gif");
	assert_int_equal(c.log_level, 3);
	conf_free(&c);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		int nerr;
		const char *msg; /* substring of the messages */
	} rows[] = {
	    {"[scan]\nbogus = 1\n", 1, "F:2: unknown key \"bogus\" in [scan]"},
	    {"[nope]\nx = 1\n", 1, "F:1: unknown section [nope]"},
	    {"[scan]\nmax_depth = 3\n[bogus]\n", 1, "F:3: unknown section [bogus]"},
	    {"[scan]\nmax_depth = ten\n", 1, "F:2: scan.max_depth: \"ten\" is not a whole number"},
	    {"[scan]\nmax_depth = 0\n", 1, "F:2: scan.max_depth: 0 is out of range [1, 64]"},
	    {"[scan]\nmax_depth = 99999999999999999999999\n", 1, "F:2: scan.max_depth:"},
	    {"[scan]\nmax_total_bytes = 12Q\n", 1, "is not a size"},
	    {"[scan]\nmax_scan_time = soon\n", 1, "is not a duration"},
	    {"[scan]\nbackend = magic\n", 1, "F:2: scan.backend: unknown value \"magic\""},
	    {"[scan]\nskip_safe_types = maybe\n", 1, "expected yes or no"},
	    {"[scan]\nmax_depth = 3\nmax_depth = 4\n", 1, "F:3: duplicate key \"max_depth\""},
	    {"[scan]\njust some words\n", 1, "F:2: syntax error"},
	    {"[scan\nmax_depth = 3\n", 2, "F:2: key \"max_depth\" outside of a [section]"},
	    {"max_depth = 3\n", 1, "F:1: key \"max_depth\" outside"},
	    {"[scan]\nbogus = 1\nmax_files = x\nalso bad\n", 3, "F:4: syntax error"},
	    {"[scan]\ndatabase_dir = \n", 1, "empty value"},
	    {"[smtp]\nnext_hop = mx.example.org:25\n", 1, "is not maildir:/PATH or smtp:"},
	    {"[smtp]\nnext_hop = maildir:relative\n", 1, "F:2: smtp.next_hop:"},
	    {"[smtp]\nlisten = localhost:25\n", 1, "is not ADDRESS:PORT"},
	    {"[smtp.in]\nlisten = 127.0.0.1:25\n[smtp.out]\nlisten = 127.0.0.1:25\n", 1,
	     "listeners in and out both listen on 127.0.0.1:25"},
	    {"[smtp]\ntls_cert = /x.pem\n", 1, "tls_cert and tls_key go together"},
	    {"[policy]\ninternal_networks = 10.0.0.0/8 10.0.0.0/33\n", 1,
	     "\"10.0.0.0/33\" is not a network"},
	    {"[inbound]\ninfected = tempfail\n", 1,
	     "unknown value \"tempfail\" (expected: pass reject drop"},
	    {"[outbound]\nencrypted = strip\n", 1, "(expected: pass reject quarantine tempfail)"},
	    {"[smtp.x]\nbogus = 1\n", 1, "F:2: unknown key \"bogus\" in [smtp.x]"},
	    {"[smtp.x]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n", 1, "F:3: duplicate key"},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pc_config c;
		char msgs[2048];
		int n;

		conf_defaults(&c);
		n = load_text(&c, rows[i].text, msgs, sizeof(msgs));
		if (n != rows[i].nerr || strstr(msgs, rows[i].msg) == NULL)
			fail_msg("row %zu: %d errors, messages:\n%s", i, n, msgs);
		conf_free(&c);
	}
}

static void
test_listeners(void **state)
{
	struct pc_config c;
	char msgs[1024];
	(void)state;

	conf_defaults(&c);
	/* Without smtp sections: one built-in listener. */
	assert_int_equal(c.nlisteners, 1);
	assert_string_equal(c.listeners[0].name, "smtp");
	assert_string_equal(c.listeners[0].listen, "127.0.0.1:10025");
	assert_int_equal(
	    load_text(&c,
	              "[smtp.in]\nlisten = [::1]:2525\nnext_hop = smtp:127.0.0.1:10026\n"
	              "max_message_size = 10M\n[smtp.out]\nlisten = 127.0.0.1:2526\n"
	              "direction = outbound\n[inbound]\ninfected = strip\n"
	              "[outbound]\nscanner_error = pass\n",
	              msgs, sizeof(msgs)),
	    0);
	assert_string_equal(msgs, "");
	assert_int_equal(c.nlisteners, 2);
	assert_string_equal(c.listeners[0].name, "in");
	assert_string_equal(c.listeners[0].next_hop, "smtp:127.0.0.1:10026");
	assert_int_equal(c.listeners[0].max_message_size, 10 << 20);
	assert_string_equal(c.listeners[1].name, "out");
	assert_int_equal(c.listeners[1].direction, LDIR_OUTBOUND);
	/* Keys not given keep their defaults. */
	assert_int_equal(c.listeners[1].max_message_size, 50 << 20);
	assert_int_equal(c.inbound.infected, ACT_STRIP);
	assert_int_equal(c.outbound.scanner_error, ACT_PASS);
	assert_int_equal(c.outbound.infected, ACT_REJECT);
	assert_string_equal(policy_action_name(c.inbound.infected), "strip");
	conf_free(&c);
}

/* [ftp] / [ftp.NAME]: their keys, defaults, errors; an FTP-only file has no SMTP listener. */
static void
test_ftp_listeners(void **state)
{
	struct pc_config c;
	char msgs[1024];
	unsigned lo, hi;
	(void)state;

	conf_defaults(&c);
	assert_int_equal(c.nftp_listeners, 0);
	assert_int_equal(
	    load_text(
	        &c,
	        "[ftp.a]\nlisten = 127.0.0.1:2121\nupstream = 127.0.0.1:21\n"
	        "data_ports = 40000-40100\nupstream_mode = active\n"
	        "[ftp.b]\nlisten = [::1]:2122\nallowed_upstreams = 10.0.0.0/8 ftp.example.org\n"
	        "clients = 192.0.2.0/24\nmax_sessions_per_client = 3\n"
	        "[inbound]\nftp_infected = quarantine\n",
	        msgs, sizeof(msgs)),
	    0);
	assert_string_equal(msgs, "");
	assert_int_equal(c.nlisteners, 0); /* only FTP sections: no implicit SMTP listener */
	assert_int_equal(c.nftp_listeners, 2);
	assert_string_equal(c.ftp_listeners[0].name, "a");
	assert_string_equal(c.ftp_listeners[0].upstream, "127.0.0.1:21");
	assert_int_equal(c.ftp_listeners[0].upstream_mode, FTP_DATA_ACTIVE);
	assert_int_equal(conf_port_range(c.ftp_listeners[0].data_ports, &lo, &hi), 0);
	assert_int_equal(lo, 40000);
	assert_int_equal(hi, 40100);
	assert_string_equal(c.ftp_listeners[1].upstream, "");
	assert_int_equal(c.ftp_listeners[1].max_sessions_per_client, 3);
	assert_int_equal(c.ftp_listeners[1].max_sessions, 200); /* the default */
	assert_int_equal(c.ftp_listeners[1].upstream_mode, FTP_DATA_PASSIVE);
	assert_int_equal(c.inbound.ftp_infected, ACT_QUARANTINE);
	assert_int_equal(c.outbound.ftp_infected, ACT_REJECT); /* block */
	conf_free(&c);

	static const char *bad[] = {
	    "[ftp]\ndata_ports = 5000-4000\n",
	    "[ftp]\nclients = 300.0.0.0/8\n",
	    "[ftp]\nupstream = ftp.example.org\n",
	    "[ftp]\nupstream_mode = sideways\n",
	    "[inbound]\nftp_infected = strip\n",
	    "[ftp]\nlisten = 127.0.0.1:2121\n[ftp.x]\nlisten = 127.0.0.1:2121\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		conf_defaults(&c);
		if (load_text(&c, bad[i], msgs, sizeof(msgs)) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(msgs, "F:"));
		conf_free(&c);
	}
}

static void
test_long_line(void **state)
{
	struct pc_config c;
	char text[600], msgs[1024];
	(void)state;

	strcpy(text, "[scan]\nsafe_types = ");
	memset(text + strlen(text), 'a', 300);
	strcpy(text + strlen(text) - 0, "\n");
	conf_defaults(&c);
	assert_int_equal(load_text(&c, text, msgs, sizeof(msgs)), 1);
	assert_non_null(strstr(msgs, "F:2: line longer than"));
	conf_free(&c);
}

static void
test_shipped_example(void **state)
{
	const char *src = getenv("PC_SRCDIR");
	struct pc_config c, d;
	char path[4096];
	(void)state;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/etc/portcullis.conf", src);
	conf_defaults(&c);
	conf_defaults(&d);
	assert_int_equal(conf_load(&c, path, stderr), 0);
	/* The example documents the defaults: loading it changes nothing
	 * but the install-dependent database path. */
	assert_int_equal(c.max_depth, d.max_depth);
	assert_int_equal(c.max_total_bytes, d.max_total_bytes);
	assert_int_equal(c.max_ratio, d.max_ratio);
	assert_string_equal(c.safe_types, d.safe_types);
	assert_string_equal(c.safe_extensions, d.safe_extensions);
	conf_free(&c);
	conf_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),      cmocka_unit_test(test_values),
	    cmocka_unit_test(test_errors),        cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_listeners),     cmocka_unit_test(test_shipped_example),
	    cmocka_unit_test(test_ftp_listeners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

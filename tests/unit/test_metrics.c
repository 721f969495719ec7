/* metrics: label escaping, counters, gauges, cumulative histogram buckets,
 * the text format, unknown families, and the series bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/metrics.h"
#include "util/strbuf.h"

static char *
render(void)
{
	struct sbuf b = {0};

	metrics_render(&b);
	return sb_take(&b);
}

static void
test_labels(void **state)
{
	char buf[128];
	(void)state;

	assert_string_equal(
	    metrics_labels(buf, sizeof(buf), "protocol", "smtp", "listener", "a\"b\\c\nd", NULL),
	    "protocol=\"smtp\",listener=\"a\\\"b\\\\c\\nd\"");
	assert_string_equal(metrics_labels(buf, sizeof(buf), NULL), "");
}

static void
test_counter_gauge(void **state)
{
	char *t;
	(void)state;

	metrics_reset();
	metrics_add("portcullis_sessions_total", "protocol=\"smtp\",listener=\"in\"", 1);
	metrics_add("portcullis_sessions_total", "protocol=\"smtp\",listener=\"in\"", 2);
	metrics_add("portcullis_sessions_total", "protocol=\"ftp\",listener=\"f\"", 1);
	metrics_set("portcullis_sealed", "", 1);
	metrics_set("portcullis_sealed", "", 0);
	assert_true(
	    metrics_value("portcullis_sessions_total", "protocol=\"smtp\",listener=\"in\"") == 3);
	t = render();
	assert_non_null(strstr(t, "# HELP portcullis_sessions_total "));
	assert_non_null(strstr(t, "# TYPE portcullis_sessions_total counter\n"));
	assert_non_null(
	    strstr(t, "portcullis_sessions_total{protocol=\"smtp\",listener=\"in\"} 3\n"));
	assert_non_null(
	    strstr(t, "portcullis_sessions_total{protocol=\"ftp\",listener=\"f\"} 1\n"));
	assert_non_null(strstr(t, "# TYPE portcullis_sealed gauge\nportcullis_sealed 0\n"));
	free(t);
	/* A family that does not exist, or of another type, changes nothing. */
	metrics_add("portcullis_no_such_total", "", 1);
	metrics_add("portcullis_sealed", "", 1);
	t = render();
	assert_null(strstr(t, "portcullis_no_such_total"));
	assert_non_null(strstr(t, "portcullis_sealed 0\n"));
	free(t);
}

static void
test_histogram(void **state)
{
	char *t;
	(void)state;

	metrics_reset();
	metrics_observe("portcullis_scan_duration_seconds", "protocol=\"smtp\"", 0.0005);
	metrics_observe("portcullis_scan_duration_seconds", "protocol=\"smtp\"", 0.001); /* le */
	metrics_observe("portcullis_scan_duration_seconds", "protocol=\"smtp\"", 0.3);
	metrics_observe("portcullis_scan_duration_seconds", "protocol=\"smtp\"", 1000);
	t = render();
	assert_non_null(strstr(t, "# TYPE portcullis_scan_duration_seconds histogram\n"));
	assert_non_null(strstr(
	    t, "portcullis_scan_duration_seconds_bucket{protocol=\"smtp\",le=\"0.001\"} 2\n"));
	assert_non_null(strstr(
	    t, "portcullis_scan_duration_seconds_bucket{protocol=\"smtp\",le=\"0.25\"} 2\n"));
	assert_non_null(
	    strstr(t, "portcullis_scan_duration_seconds_bucket{protocol=\"smtp\",le=\"0.5\"} 3\n"));
	assert_non_null(
	    strstr(t, "portcullis_scan_duration_seconds_bucket{protocol=\"smtp\",le=\"120\"} 3\n"));
	assert_non_null(strstr(
	    t, "portcullis_scan_duration_seconds_bucket{protocol=\"smtp\",le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(t, "portcullis_scan_duration_seconds_count{protocol=\"smtp\"} 4\n"));
	assert_non_null(
	    strstr(t, "portcullis_scan_duration_seconds_sum{protocol=\"smtp\"} 1000.3015\n"));
	/* Byte bounds print whole. */
	metrics_observe("portcullis_object_size_bytes", "", 5000);
	free(t);
	t = render();
	assert_non_null(strstr(t, "portcullis_object_size_bytes_bucket{le=\"1073741824\"} 1\n"));
	free(t);
}

static void
test_bounded(void **state)
{
	char lb[64];
	(void)state;

	metrics_reset();
	for (int i = 0; i < METRICS_MAX_SERIES + 5; i++) {
		snprintf(lb, sizeof(lb), "cause=\"c%d\"", i);
		metrics_add("portcullis_failures_total", lb, 1);
	}
	assert_true(metrics_value("portcullis_failures_total", "cause=\"c0\"") == 1);
	snprintf(lb, sizeof(lb), "cause=\"c%d\"", METRICS_MAX_SERIES);
	assert_true(metrics_value("portcullis_failures_total", lb) == 0);
	assert_true(metrics_value("portcullis_metrics_dropped_total", "") == 5);
	metrics_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_labels),
	    cmocka_unit_test(test_counter_gauge),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

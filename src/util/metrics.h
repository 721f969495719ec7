/*
 * metrics: the process's counters and histograms, rendered in Prometheus's
 * text exposition format (version 0.0.4). Every family is declared in the
 * table in metrics.c (name, type, help, buckets): code names a family and
 * its labels, and a series is made on first use. Thread-safe (one mutex:
 * an update is a few per message or session, never per byte).
 *
 * Labels are given as "key=value" pairs separated by ',' in one string
 * built with metrics_labels(), which escapes the values.
 */
#ifndef PC_METRICS_H
#define PC_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct sbuf;

/* Series per family at most; beyond, updates of new series are dropped
 * (and counted in portcullis_metrics_dropped_total). */
#define METRICS_MAX_SERIES 2000

/*
 * Formats labels from NULL-terminated key, value pairs:
 * metrics_labels(buf, cap, "protocol", "smtp", "listener", name, NULL)
 * gives `protocol="smtp",listener="NAME"` (values escaped). Returns buf.
 */
const char *metrics_labels(char *buf, size_t cap, ...) __attribute__((sentinel));

/* Adds n to a counter. */
void metrics_add(const char *family, const char *labels, uint64_t n);
/* Records one observation of a histogram. */
void metrics_observe(const char *family, const char *labels, double v);
/* Sets a gauge. */
void metrics_set(const char *family, const char *labels, double v);
/* The value of a counter or gauge series (tests); 0 if it does not exist. */
double metrics_value(const char *family, const char *labels);

/* Appends every family with its HELP and TYPE lines and its series. */
void metrics_render(struct sbuf *out);
/* Forgets every series (tests). */
void metrics_reset(void);

#endif

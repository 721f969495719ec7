/*
 * metrics: the family table, the series and their rendering (see metrics.h).
 */
#include "util/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

enum mtype { M_COUNTER, M_GAUGE, M_HISTOGRAM };

#define MAX_BUCKETS 12

struct family {
	const char *name;
	enum mtype type;
	const char *help;
	double buckets[MAX_BUCKETS]; /* upper bounds, ascending; 0 ends the list */
};

/* Every family the daemon exports: docs/operations.md lists them with their labels. */
static const struct family families[] = {
    {"portcullis_sessions_total",
     M_COUNTER,
     "Sessions accepted, by protocol and listener (refused ones included).",
     {0}},
    {"portcullis_sessions_refused_total",
     M_COUNTER,
     "Sessions refused by the access rules, by protocol and reason.",
     {0}},
    {"portcullis_messages_total",
     M_COUNTER,
     "Mail messages ended, by protocol, direction, verdict and action.",
     {0}},
    {"portcullis_files_total",
     M_COUNTER,
     "FTP file transfers ended, by protocol, direction, verdict and action.",
     {0}},
    {"portcullis_scan_duration_seconds",
     M_HISTOGRAM,
     "Time to scan one message or file, by protocol.",
     {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120}},
    {"portcullis_object_size_bytes",
     M_HISTOGRAM,
     "Size of each scanned message or file, by protocol.",
     {1024, 10240, 102400, 1048576, 10485760, 52428800, 104857600, 1073741824}},
    {"portcullis_failures_total",
     M_COUNTER,
     "Faults that became a temporary failure or a refusal, by cause.",
     {0}},
    {"portcullis_reloads_total", M_COUNTER, "Reloads (SIGHUP), by result.", {0}},
    {"portcullis_quarantine_items", M_GAUGE, "Messages and files in quarantine.", {0}},
    {"portcullis_quarantine_bytes", M_GAUGE, "Bytes in quarantine.", {0}},
    {"portcullis_hold_items", M_GAUGE, "Items held by outbreak alerts, not released yet.", {0}},
    {"portcullis_sealed", M_GAUGE, "1 while an outbreak alert seals the gateway.", {0}},
    {"portcullis_signatures", M_GAUGE, "Signatures in the running engine, by kind.", {0}},
    {"portcullis_signatures_age_seconds",
     M_GAUGE,
     "Age of the newest file in the signature directory.",
     {0}},
    {"portcullis_metrics_dropped_total",
     M_COUNTER,
     "Updates dropped because a family had too many series.",
     {0}},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

struct series {
	char *labels;
	double value;                     /* counter, gauge */
	uint64_t counts[MAX_BUCKETS + 1]; /* histogram: per bucket, the last is +Inf */
	double sum;
	uint64_t count;
};

struct fstate {
	struct series *v;
	size_t n, cap;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fstate state[NFAMILIES];

const char *
metrics_labels(char *buf, size_t cap, ...)
{
	struct sbuf b = {0};
	const char *k, *v;
	va_list ap;
	char *s;
	int first = 1;

	va_start(ap, cap);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		sb_addf(&b, "%s%s=\"", first ? "" : ",", k);
		for (const char *p = v ? v : ""; *p; p++)
			if (*p == '\\' || *p == '"')
				sb_addf(&b, "\\%c", *p);
			else if (*p == '\n')
				sb_adds(&b, "\\n");
			else
				sb_add(&b, p, 1);
		sb_adds(&b, "\"");
		first = 0;
	}
	va_end(ap);
	s = sb_take(&b);
	snprintf(buf, cap, "%s", s);
	free(s);
	return buf;
}

static int
family_index(const char *name)
{
	for (size_t i = 0; i < NFAMILIES; i++)
		if (strcmp(families[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The series (made if new), or NULL; with the lock held. */
static struct series *
series_of(const char *family, const char *labels, enum mtype type, int make)
{
	int f = family_index(family);
	struct fstate *st;
	struct series *s;

	if (f < 0 || families[f].type != type) {
		log_warnx("metrics: no %s family %s", type == M_HISTOGRAM ? "histogram" : "scalar",
		          family);
		return NULL;
	}
	st = &state[f];
	labels = labels ? labels : "";
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->v[i].labels, labels) == 0)
			return &st->v[i];
	if (!make)
		return NULL;
	if (st->n >= METRICS_MAX_SERIES)
		return NULL;
	st->v = xgrow(st->v, &st->cap, st->n + 1, sizeof(*st->v));
	s = &st->v[st->n++];
	memset(s, 0, sizeof(*s));
	s->labels = xstrdup(labels);
	return s;
}

static void
dropped(void)
{
	struct series *s = series_of("portcullis_metrics_dropped_total", "", M_COUNTER, 1);

	if (s)
		s->value += 1;
}

void
metrics_add(const char *family, const char *labels, uint64_t n)
{
	struct series *s;

	pthread_mutex_lock(&lock);
	if ((s = series_of(family, labels, M_COUNTER, 1)) != NULL)
		s->value += (double)n;
	else
		dropped();
	pthread_mutex_unlock(&lock);
}

void
metrics_set(const char *family, const char *labels, double v)
{
	struct series *s;

	pthread_mutex_lock(&lock);
	if ((s = series_of(family, labels, M_GAUGE, 1)) != NULL)
		s->value = v;
	else
		dropped();
	pthread_mutex_unlock(&lock);
}

void
metrics_observe(const char *family, const char *labels, double v)
{
	int f = family_index(family);
	struct series *s;

	pthread_mutex_lock(&lock);
	if ((s = series_of(family, labels, M_HISTOGRAM, 1)) != NULL) {
		size_t b = 0;

		while (b < MAX_BUCKETS && families[f].buckets[b] > 0 && v > families[f].buckets[b])
			b++;
		s->counts[b]++;
		s->sum += v;
		s->count++;
	} else
		dropped();
	pthread_mutex_unlock(&lock);
}

double
metrics_value(const char *family, const char *labels)
{
	struct series *s;
	double v = 0;
	int f = family_index(family);

	if (f < 0)
		return 0;
	pthread_mutex_lock(&lock);
	if ((s = series_of(family, labels, families[f].type, 0)) != NULL)
		v = families[f].type == M_HISTOGRAM ? (double)s->count : s->value;
	pthread_mutex_unlock(&lock);
	return v;
}

static void
name_labels(struct sbuf *out, const char *name, const char *suffix, const char *labels,
            const char *extra)
{
	int any = labels[0] || extra;

	sb_addf(out, "%s%s%s%s%s%s%s", name, suffix, any ? "{" : "", labels,
	        labels[0] && extra ? "," : "", extra ? extra : "", any ? "}" : "");
}

void
metrics_render(struct sbuf *out)
{
	pthread_mutex_lock(&lock);
	for (size_t f = 0; f < NFAMILIES; f++) {
		const struct family *fam = &families[f];

		sb_addf(out, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name,
		        fam->type == M_COUNTER ? "counter"
		        : fam->type == M_GAUGE ? "gauge"
		                               : "histogram");
		for (size_t i = 0; i < state[f].n; i++) {
			const struct series *s = &state[f].v[i];

			if (fam->type != M_HISTOGRAM) {
				name_labels(out, fam->name, "", s->labels, NULL);
				sb_addf(out, " %.15g\n", s->value);
				continue;
			}
			{
				uint64_t cum = 0;
				size_t b;
				char le[48];

				for (b = 0; b < MAX_BUCKETS && fam->buckets[b] > 0; b++) {
					cum += s->counts[b];
					snprintf(le, sizeof(le), "le=\"%.15g\"", fam->buckets[b]);
					name_labels(out, fam->name, "_bucket", s->labels, le);
					sb_addf(out, " %llu\n", (unsigned long long)cum);
				}
				cum += s->counts[b];
				name_labels(out, fam->name, "_bucket", s->labels, "le=\"+Inf\"");
				sb_addf(out, " %llu\n", (unsigned long long)cum);
				name_labels(out, fam->name, "_sum", s->labels, NULL);
				sb_addf(out, " %.15g\n", s->sum);
				name_labels(out, fam->name, "_count", s->labels, NULL);
				sb_addf(out, " %llu\n", (unsigned long long)s->count);
			}
		}
	}
	pthread_mutex_unlock(&lock);
}

void
metrics_reset(void)
{
	pthread_mutex_lock(&lock);
	for (size_t f = 0; f < NFAMILIES; f++) {
		for (size_t i = 0; i < state[f].n; i++)
			free(state[f].v[i].labels);
		free(state[f].v);
		memset(&state[f], 0, sizeof(state[f]));
	}
	pthread_mutex_unlock(&lock);
}

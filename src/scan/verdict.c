/*
 * verdict: building and merging scan results. Owns the strings it holds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan/verdict.h"
#include "util/xalloc.h"

void
verdict_init(struct scan_verdict *v)
{
	memset(v, 0, sizeof(*v));
}

void
verdict_clear(struct scan_verdict *v)
{
	for (size_t i = 0; i < v->nhits; i++) {
		free(v->hits[i].name);
		free(v->hits[i].path);
	}
	free(v->hits);
	free(v->where);
	free(v->reason);
	verdict_init(v);
}

void
verdict_add_hit(struct scan_verdict *v, const char *name, const char *path)
{
	for (size_t i = 0; i < v->nhits; i++)
		if (strcmp(v->hits[i].name, name) == 0 && strcmp(v->hits[i].path, path) == 0)
			return;
	v->hits = xgrow(v->hits, &v->hits_cap, v->nhits + 1, sizeof(*v->hits));
	v->hits[v->nhits].name = xstrdup(name);
	v->hits[v->nhits].path = xstrdup(path);
	v->nhits++;
	v->status = SCAN_INFECTED;
}

static void
verdict_vnote(struct scan_verdict *v, enum scan_status st, enum scan_limit limit, const char *where,
              const char *fmt, va_list ap)
{
	if (st <= SCAN_CLEAN || st == SCAN_INFECTED)
		return;
	/* The most severe finding wins; among equals, the first. */
	if (st <= v->other)
		return;
	v->other = st;
	v->limit = st == SCAN_LIMIT ? limit : LIMIT_NONE;
	free(v->where);
	free(v->reason);
	v->where = xstrdup(where ? where : "");
	v->reason = xvasprintf(fmt, ap);
	/* Infected stays infected; it still remembers the other finding. */
	if (v->status != SCAN_INFECTED)
		v->status = st;
}

void
verdict_note(struct scan_verdict *v, enum scan_status st, enum scan_limit limit, const char *where,
             const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verdict_vnote(v, st, limit, where, fmt, ap);
	va_end(ap);
}

void
verdict_merge(struct scan_verdict *dst, const struct scan_verdict *src)
{
	for (size_t i = 0; i < src->nhits; i++)
		verdict_add_hit(dst, src->hits[i].name, src->hits[i].path);
	if (src->other != SCAN_CLEAN)
		verdict_note(dst, src->other, src->limit, src->where, "%s",
		             src->reason ? src->reason : "");
}

const char *
scan_status_name(enum scan_status st)
{
	switch (st) {
	case SCAN_CLEAN:
		return "clean";
	case SCAN_CORRUPT:
		return "corrupt";
	case SCAN_ENCRYPTED:
		return "encrypted";
	case SCAN_LIMIT:
		return "limit";
	case SCAN_ERROR:
		return "error";
	case SCAN_INFECTED:
		return "infected";
	}
	return "unknown";
}

const char *
scan_limit_name(enum scan_limit l)
{
	switch (l) {
	case LIMIT_NONE:
		return "none";
	case LIMIT_DEPTH:
		return "max_depth";
	case LIMIT_TOTAL_BYTES:
		return "max_total_bytes";
	case LIMIT_FILES:
		return "max_files";
	case LIMIT_RATIO:
		return "max_ratio";
	case LIMIT_TIME:
		return "max_scan_time";
	case LIMIT_FILE_SIZE:
		return "max_file_size";
	}
	return "unknown";
}

char *
verdict_names(const struct scan_verdict *v)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < v->nhits; i++)
		len += strlen(v->hits[i].name) + 1;
	s = xmalloc(len);
	s[0] = '\0';
	for (size_t i = 0; i < v->nhits; i++) {
		/* Names repeat when one signature matched in several parts. */
		int seen = 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(v->hits[j].name, v->hits[i].name) == 0)
				seen = 1;
		if (seen)
			continue;
		if (s[0])
			strcat(s, ",");
		strcat(s, v->hits[i].name);
	}
	return s;
}

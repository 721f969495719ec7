/*
 * scan/ex_sis: sis_parse() over SIS files built here, a table of shapes:
 * each record type, both releases, and every pointer or length that
 * leaves the buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scan/ex_sis.h"

#define LANG_AT 100
#define FILES_AT 102

static size_t
put32(unsigned char *b, size_t at, uint32_t v)
{
	b[at] = (unsigned char)v;
	b[at + 1] = (unsigned char)(v >> 8);
	b[at + 2] = (unsigned char)(v >> 16);
	b[at + 3] = (unsigned char)(v >> 24);
	return at + 4;
}

/*
 * A SIS file: header (release 6 or 3, options 0x8: not compressed), an
 * ELSE record when with_else, then one simple file record for "a\b.txt"
 * (8-bit names) holding data. Returns its length.
 */
static size_t
build(unsigned char *b, int r6, int with_else, const char *data)
{
	size_t p = FILES_AT, rec_at, name_at, data_at;

	memset(b, 0, 1024);
	put32(b, 4, r6 ? 0x10003a12 : 0x1000006d);
	put32(b, 8, 0x10000419);
	b[18] = 1;                 /* languages */
	b[20] = with_else ? 2 : 1; /* records */
	b[36] = 0x08;              /* options: not compressed, 8-bit names */
	put32(b, 48, LANG_AT);
	put32(b, 52, FILES_AT);
	if (with_else)
		p = put32(b, p, 5);
	rec_at = p;
	name_at = rec_at + 28 + 8 + (r6 ? 12 : 0);
	data_at = name_at + 7;
	put32(b, rec_at, 0);
	put32(b, rec_at + 20, 7);
	put32(b, rec_at + 24, (uint32_t)name_at);
	put32(b, rec_at + 28, (uint32_t)strlen(data));
	put32(b, rec_at + 32, (uint32_t)data_at);
	if (r6)
		put32(b, rec_at + 36, (uint32_t)strlen(data));
	memcpy(b + name_at, "a\\b.txt", 7);
	memcpy(b + data_at, data, strlen(data));
	return data_at + strlen(data);
}

struct got {
	unsigned n;
	char name[SIS_NAME_MAX];
	char data[64];
	int compressed;
};

static int
collect(void *arg, const struct sis_file *f)
{
	struct got *g = arg;

	g->n++;
	snprintf(g->name, sizeof(g->name), "%s", f->name);
	snprintf(g->data, sizeof(g->data), "%.*s", (int)f->len, (const char *)f->data);
	g->compressed = f->compressed;
	return 0;
}

static const struct {
	const char *what;
	int r6, with_else;
	size_t cut;     /* bytes kept (0: all) */
	size_t poke_at; /* a byte set to 0xff (0: none) */
	int rc;
	unsigned files;
} rows[] = {
    {"release 6", 1, 0, 0, 0, 0, 1},
    {"release 3", 0, 0, 0, 0, 0, 1},
    {"else record before the file", 1, 1, 0, 0, 0, 1},
    {"cut in the data", 1, 0, 160, 0, -1, 0},
    {"cut in the header", 1, 0, 40, 0, -1, 0},
    {"unknown release", 1, 0, 0, 7, -1, 0},
    {"record type unknown", 1, 0, 0, FILES_AT, -1, 0},
    {"data pointer past the end", 1, 0, 0, FILES_AT + 35, -1, 0},
    {"name length past the end", 1, 0, 0, FILES_AT + 23, -1, 0},
};

static void
test_shapes(void **state)
{
	unsigned char b[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct got g;
		char err[128] = "";
		size_t n = build(b, rows[i].r6, rows[i].with_else, "hello");
		int rc;

		if (rows[i].cut)
			n = rows[i].cut;
		if (rows[i].poke_at)
			b[rows[i].poke_at] = 0xff;
		memset(&g, 0, sizeof(g));
		rc = sis_parse(b, n, collect, &g, err, sizeof(err));
		if (rc != rows[i].rc || g.n != rows[i].files)
			fail_msg("%s: rc %d files %u (%s)", rows[i].what, rc, g.n, err);
		if (rc == 0 &&
		    (strcmp(g.name, "b.txt") != 0 || strcmp(g.data, "hello") != 0 || g.compressed))
			fail_msg("%s: got %s = %s", rows[i].what, g.name, g.data);
		if (rc < 0 && err[0] == '\0')
			fail_msg("%s: no reason", rows[i].what);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * file_fixture: what the tests that write, damage and read back files
 * share (the compiled-database cache, through dbcache and through the
 * engine): writing bytes to a path, reading a file whole, and capturing
 * what a call logs (stderr). Include after cmocka.h.
 */
#ifndef PC_FILE_FIXTURE_H
#define PC_FILE_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/xalloc.h"

#define UNUSED_OK __attribute__((unused))

/* Writes n bytes to path, fopen() mode "wb" (replace) or "ab" (append). */
static UNUSED_OK void
write_bytes(const char *path, const void *p, size_t n, const char *mode)
{
	FILE *f = fopen(path, mode);

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* The whole file at path, *n bytes (one more allocated); caller frees. */
static UNUSED_OK uint8_t *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long len;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	p = xmalloc((size_t)len + 1);
	assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

static FILE *capture_file;
static int capture_saved = -1;

/* From now on stderr (the log) goes to a temporary file. */
static UNUSED_OK void
capture_begin(void)
{
	fflush(stderr);
	assert_non_null(capture_file = tmpfile());
	capture_saved = dup(STDERR_FILENO);
	assert_true(capture_saved >= 0 && dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Puts stderr back and returns what was logged since capture_begin(); caller frees. */
static UNUSED_OK char *
capture_end(void)
{
	long len;
	char *s;

	fflush(stderr);
	dup2(capture_saved, STDERR_FILENO);
	close(capture_saved);
	len = ftell(capture_file);
	s = xcalloc(1, (size_t)len + 1);
	rewind(capture_file);
	assert_int_equal(fread(s, 1, (size_t)len, capture_file), (size_t)len);
	fclose(capture_file);
	return s;
}

#endif

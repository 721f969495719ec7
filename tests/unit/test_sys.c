/*
 * Unit tests for util/sys: pread_full and copy_fd_range over a table of
 * offsets and lengths around the file's end and the copy's chunk size,
 * and write_all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/sys.h"
#include "util/tmpfd.h"

#define SRC_LEN (3 * SYS_COPY_CHUNK + 123)

static unsigned char src_bytes[SRC_LEN];

/* A file holding src_bytes, with its offset moved to 5 (pread leaves it). */
static int
src_fd(void)
{
	int fd = tmpfd_open(NULL);

	for (size_t i = 0; i < SRC_LEN; i++)
		src_bytes[i] = (unsigned char)(i * 7 + i / 251);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, src_bytes, SRC_LEN), 0);
	assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
	return fd;
}

static void
test_pread_full(void **state)
{
	static const struct {
		uint64_t off;
		size_t len;
		ssize_t want;
	} v[] = {
	    {0, 0, 0},
	    {0, 10, 10},
	    {SRC_LEN - 10, 10, 10},
	    {SRC_LEN - 10, 20, 10}, /* the end: short */
	    {SRC_LEN, 10, 0},
	    {SRC_LEN + 100, 10, 0},
	    {0, SRC_LEN, SRC_LEN},
	    {1, SRC_LEN, SRC_LEN - 1},
	};
	int fd = src_fd();
	unsigned char *buf = malloc(SRC_LEN + 1);
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ssize_t n = pread_full(fd, buf, v[i].len, v[i].off);

		if (n != v[i].want)
			fail_msg("row %zu: %zd bytes, want %zd", i, n, v[i].want);
		if (n > 0)
			assert_memory_equal(buf, src_bytes + v[i].off, (size_t)n);
	}
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 5);
	assert_int_equal(pread_full(-1, buf, 1, 0), -1);
	assert_int_equal(errno, EBADF);
	free(buf);
	close(fd);
}

static void
test_copy(void **state)
{
	static const struct {
		uint64_t off, len;
		int ok; /* else EIO: the source is shorter */
	} v[] = {
	    {0, 0, 1},
	    {0, 1, 1},
	    {0, SYS_COPY_CHUNK, 1},
	    {0, SYS_COPY_CHUNK + 1, 1},
	    {7, 2 * SYS_COPY_CHUNK, 1},
	    {0, SRC_LEN, 1},
	    {SRC_LEN - 1, 1, 1},
	    {SRC_LEN, 0, 1},
	    {SRC_LEN - 1, 2, 0},
	    {0, SRC_LEN + 1, 0},
	    {SRC_LEN + 5, 1, 0},
	};
	int src = src_fd();
	unsigned char *buf = malloc(SRC_LEN + 1);
	(void)state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int dst = tmpfd_open(NULL);
		int r;

		/* dst gets the bytes at its own offset, after what it held. */
		assert_int_equal(write_all(dst, "HEAD", 4), 0);
		errno = 0;
		r = copy_fd_range(dst, src, v[i].off, v[i].len);
		if (v[i].ok) {
			if (r != 0)
				fail_msg("row %zu: %s", i, strerror(errno));
			assert_int_equal(lseek(dst, 0, SEEK_CUR), 4 + (off_t)v[i].len);
			assert_int_equal(pread_full(dst, buf, SRC_LEN + 1, 4), (ssize_t)v[i].len);
			if (v[i].len > 0)
				assert_memory_equal(buf, src_bytes + v[i].off, (size_t)v[i].len);
		} else if (r != -1 || errno != EIO) {
			fail_msg("row %zu: %d (%s), want EIO", i, r, strerror(errno));
		}
		close(dst);
	}
	assert_int_equal(lseek(src, 0, SEEK_CUR), 5);
	assert_int_equal(copy_fd_range(-1, src, 0, 1), -1);
	free(buf);
	close(src);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pread_full),
	    cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

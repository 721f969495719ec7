/*
 * Unit tests for util/tmpfd: where the file lives (a directory, /tmp, or
 * memory, by size), that it has no name, that it reads back what was
 * written, and the errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/tmpfd.h"

/* True if fd is a memfd (its /proc link says "/memfd:..."). */
static int
is_memfd(int fd)
{
	char link[64], target[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	return strncmp(target, "/memfd:", 7) == 0;
}

/*
 * Writes and reads back a few bytes; checks there is no name and, for a
 * file on disk (dir given: the file system it must be on), that only we
 * may read it (a memfd has no such mode: it cannot be opened by name).
 */
static void
check_fd(int fd, const struct stat *dir)
{
	struct stat st;
	char buf[8] = {0};

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_nlink, 0);
	if (dir != NULL) {
		assert_int_equal(st.st_mode & 0077, 0);
		assert_int_equal(st.st_dev, dir->st_dev);
	}
	assert_int_equal(write(fd, "abcdef", 6), 6);
	assert_int_equal(pread(fd, buf, sizeof(buf), 2), 4);
	assert_string_equal(buf, "cdef");
	close(fd);
}

static void
test_where(void **state)
{
	char dir[] = "/tmp/pc-test-tmpfd-XXXXXX";
	struct stat dst, tst;
	static const struct {
		const char *what;
		int use_dir;   /* 1: dir, 0: NULL, -1: "" */
		int sized;     /* tmpfd_open_for() */
		uint64_t size; /* its max_size */
		int memfd;
	} v[] = {
	    {"in dir", 1, 0, 0, 0},
	    {"NULL is /tmp", 0, 0, 0, 0},
	    {"\"\" is /tmp", -1, 0, 0, 0},
	    {"small: memory", 1, 1, 10, 1},
	    {"empty: memory", 1, 1, 0, 1},
	    {"at the limit: memory", 1, 1, TMPFD_MEM_MAX, 1},
	    {"over the limit: dir", 1, 1, TMPFD_MEM_MAX + 1, 0},
	    {"unknown size: dir", 1, 1, TMPFD_SIZE_UNKNOWN, 0},
	    {"unknown size, NULL: /tmp", 0, 1, TMPFD_SIZE_UNKNOWN, 0},
	};
	(void)state;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(stat(dir, &dst), 0);
	assert_int_equal(stat("/tmp", &tst), 0);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *d = v[i].use_dir > 0 ? dir : v[i].use_dir < 0 ? "" : NULL;
		int fd = v[i].sized ? tmpfd_open_for(d, v[i].size) : tmpfd_open(d);

		if (fd < 0)
			fail_msg("%s: %s", v[i].what, strerror(errno));
		if (is_memfd(fd) != v[i].memfd)
			fail_msg("%s: memfd is %d", v[i].what, !v[i].memfd);
		check_fd(fd, v[i].memfd ? NULL : v[i].use_dir > 0 ? &dst : &tst);
	}
	/* Nothing is left behind in dir. */
	assert_int_equal(rmdir(dir), 0);
}

static void
test_errors(void **state)
{
	(void)state;

	errno = 0;
	assert_int_equal(tmpfd_open("/nonexistent/portcullis"), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(tmpfd_open_for("/nonexistent/portcullis", TMPFD_SIZE_UNKNOWN), -1);
	assert_int_equal(errno, ENOENT);
	/* A small one does not need the directory. */
	check_fd(tmpfd_open_for("/nonexistent/portcullis", 100), NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_where),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

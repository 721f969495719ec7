/*
 * Unit tests for spool/spool: memory up to the limit byte for byte, then an
 * unlinked file; reads across the switch; sticky errors (a missing dir,
 * ENOSPC on a small tmpfs when we may mount one); reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"

/* The byte at offset i of every test stream. */
static unsigned char
pat(uint64_t i)
{
	return (unsigned char)((i * 131 + (i >> 8) * 7) & 0xff);
}

static int
write_pat(struct spool *sp, uint64_t off, size_t len)
{
	unsigned char buf[8192];

	while (len > 0) {
		size_t k = len < sizeof(buf) ? len : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = pat(off + i);
		if (spool_write(sp, buf, k) < 0)
			return -1;
		off += k;
		len -= k;
	}
	return 0;
}

/* Checks the whole content against pat() with spool_pread and the fd. */
static void
check_content(const struct spool *sp, uint64_t size)
{
	unsigned char buf[4096];
	uint64_t off = 0;
	struct stat st;

	assert_int_equal(spool_size(sp), size);
	assert_true(spool_fd(sp) >= 0);
	assert_int_equal(fstat(spool_fd(sp), &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	while (off < size) {
		ssize_t n = spool_pread(sp, buf, sizeof(buf), off);

		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(off + (uint64_t)i))
				fail_msg("byte %ju differs", (uintmax_t)(off + (uint64_t)i));
		off += (uint64_t)n;
	}
	assert_int_equal(spool_pread(sp, buf, sizeof(buf), size), 0);
	assert_int_equal(spool_pread(sp, buf, sizeof(buf), size + 100), 0);
}

static char *
make_dir(void)
{
	char tmpl[] = "/tmp/pc-spool-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

/* Entries in dir other than . and .. */
static int
dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_switch_at_limit(void **state)
{
	/* Each row: writes of these sizes; after each, in memory or not. */
	static const struct {
		size_t limit;
		size_t w[4];
		int disk[4];
	} rows[] = {
	    {1000, {999, 1, 1, 0}, {0, 0, 1}},
	    {1000, {1000, 0}, {0}},
	    {1000, {1001, 0}, {1}},
	    {1000, {500, 501, 5000, 0}, {0, 1, 1}},
	    {0, {1, 0}, {1}},
	    {300000, {262144, 37856, 1, 0}, {0, 0, 1}},
	};
	char *dir = make_dir();
	(void)state;

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct spool *sp = spool_new(dir, rows[r].limit);
		uint64_t off = 0;
		int fd0 = spool_fd(sp);

		assert_true(fd0 >= 0);
		assert_int_equal(spool_on_disk(sp), 0);
		for (size_t i = 0; i < 4 && rows[r].w[i] != 0; i++) {
			assert_int_equal(write_pat(sp, off, rows[r].w[i]), 0);
			off += rows[r].w[i];
			if (spool_on_disk(sp) != rows[r].disk[i])
				fail_msg("row %zu write %zu: on_disk %d", r, i, spool_on_disk(sp));
			assert_true(spool_on_disk(sp) ? spool_fd(sp) != fd0 : spool_fd(sp) == fd0);
			check_content(sp, off);
		}
		/* The file has no name in dir. */
		assert_int_equal(dir_entries(dir), 0);
		assert_int_equal(spool_commit(sp), 0);
		spool_free(sp);
	}
	spool_free(NULL);
	rmdir(dir);
	free(dir);
}

/* pread at offsets and lengths around the limit, after the switch. */
static void
test_pread_across_switch(void **state)
{
	enum { LIMIT = 4096, TOTAL = 3 * LIMIT + 17 };
	static const size_t offs[] = {0,     1,         LIMIT - 3, LIMIT - 1,
	                              LIMIT, LIMIT + 1, TOTAL - 5, TOTAL - 1};
	static const size_t lens[] = {1, 2, 3, 7, LIMIT, 2 * LIMIT + 1, TOTAL};
	char *dir = make_dir();
	struct spool *sp = spool_new(dir, LIMIT);
	unsigned char *buf = malloc(TOTAL);
	uint64_t off = 0;
	(void)state;

	/* Odd write sizes so that one straddles the limit. */
	for (size_t k = 1; off < TOTAL; k = k * 3 + 1) {
		size_t n = TOTAL - off < k ? TOTAL - off : k;

		assert_int_equal(write_pat(sp, off, n), 0);
		off += n;
	}
	assert_int_equal(spool_on_disk(sp), 1);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			size_t want = TOTAL - offs[i] < lens[j] ? TOTAL - offs[i] : lens[j];
			ssize_t n = spool_pread(sp, buf, lens[j], offs[i]);

			assert_int_equal(n, want);
			for (size_t b = 0; b < want; b++)
				assert_int_equal(buf[b], pat(offs[i] + b));
		}
	/* The fd works with plain pread too. */
	assert_int_equal(pread(spool_fd(sp), buf, 10, LIMIT - 5), 10);
	assert_int_equal(buf[0], pat(LIMIT - 5));
	assert_int_equal(buf[9], pat(LIMIT + 4));
	spool_free(sp);
	free(buf);
	rmdir(dir);
	free(dir);
}

static void
test_reset(void **state)
{
	char *dir = make_dir();
	struct spool *sp = spool_new(dir, 100);
	(void)state;

	assert_int_equal(write_pat(sp, 0, 250), 0);
	assert_int_equal(spool_on_disk(sp), 1);
	spool_reset(sp);
	assert_int_equal(spool_on_disk(sp), 0);
	assert_int_equal(spool_size(sp), 0);
	check_content(sp, 0);
	assert_int_equal(write_pat(sp, 0, 100), 0);
	assert_int_equal(spool_on_disk(sp), 0);
	check_content(sp, 100);
	spool_reset(sp);
	assert_int_equal(write_pat(sp, 0, 101), 0);
	assert_int_equal(spool_on_disk(sp), 1);
	check_content(sp, 101);
	spool_free(sp);
	rmdir(dir);
	free(dir);
}

/* Bytes written to the fd directly count after spool_sync_size(). */
static void
test_sync_size(void **state)
{
	struct spool *sp = spool_new("/tmp", 1 << 20);
	unsigned char buf[300];
	(void)state;

	assert_int_equal(write_pat(sp, 0, 100), 0);
	for (size_t i = 0; i < 200; i++)
		buf[i] = pat(100 + i);
	assert_int_equal(pwrite(spool_fd(sp), buf, 200, 100), 200);
	assert_int_equal(spool_size(sp), 100);
	assert_int_equal(spool_pread(sp, buf, sizeof(buf), 0), 100);
	assert_int_equal(spool_sync_size(sp), 0);
	check_content(sp, 300);
	assert_int_equal(write_pat(sp, 300, 50), 0);
	check_content(sp, 350);
	spool_free(sp);
}

/* A dir that does not exist: the failure at the switch sticks until reset. */
static void
test_sticky_error(void **state)
{
	struct spool *sp = spool_new("/nonexistent/pc-spool", 10);
	char b[4];
	(void)state;

	assert_int_equal(write_pat(sp, 0, 10), 0);
	errno = 0;
	assert_int_equal(spool_write(sp, "x", 1), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(spool_write(sp, "", 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_commit(sp), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_fd(sp), -1);
	assert_int_equal(spool_pread(sp, b, sizeof(b), 0), -1);
	assert_int_equal(spool_size(sp), 10);
	spool_reset(sp);
	assert_int_equal(write_pat(sp, 0, 10), 0);
	check_content(sp, 10);
	spool_free(sp);
}

/* The tmpfs of test_enospc, unmounted by its teardown even on failure. */
static char *enospc_dir;

static int
enospc_teardown(void **state)
{
	(void)state;
	if (enospc_dir != NULL) {
		umount2(enospc_dir, MNT_DETACH);
		rmdir(enospc_dir);
		free(enospc_dir);
		enospc_dir = NULL;
	}
	return 0;
}

/* ENOSPC from a 64k tmpfs, when this process may mount one. */
static void
test_enospc(void **state)
{
	char *dir = make_dir();
	struct spool *sp;
	uint64_t off = 0;
	int rc = 0;
	(void)state;

	if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0) {
		print_message("skipping ENOSPC: cannot mount a tmpfs on %s: %s\n", dir,
		              strerror(errno));
		rmdir(dir);
		free(dir);
		skip();
	}
	enospc_dir = dir;
	sp = spool_new(dir, 1024);
	/* Bounded: 64k of space, at most 1 MB of attempts. */
	while (off < 1024 * 1024 && (rc = write_pat(sp, off, 4096)) == 0)
		off += 4096;
	assert_int_equal(rc, -1);
	assert_int_equal(errno, ENOSPC);
	assert_true(off <= 64 * 1024);
	assert_int_equal(spool_write(sp, "x", 1), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(spool_commit(sp), -1);
	assert_int_equal(errno, ENOSPC);
	/* Reset drops the file, so the space is there again. */
	spool_reset(sp);
	assert_int_equal(write_pat(sp, 0, 32 * 1024), 0);
	assert_int_equal(spool_on_disk(sp), 1);
	assert_int_equal(spool_commit(sp), 0);
	check_content(sp, 32 * 1024);
	spool_free(sp);
	assert_int_equal(umount2(dir, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_switch_at_limit),
	    cmocka_unit_test(test_pread_across_switch),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_sync_size),
	    cmocka_unit_test(test_sticky_error),
	    cmocka_unit_test_teardown(test_enospc, enospc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

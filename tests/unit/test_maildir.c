/*
 * Unit tests for store/maildir: the delivered file's bytes (prepend + the
 * message, unchanged), its place (new/, nothing left in tmp/), the
 * directories created, unique names under concurrent delivery, and
 * failures that leave nothing behind (short source, a file in the way,
 * full disk on a tiny tmpfs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "store/maildir.h"

static int
setup(void **state)
{
	(void)state;
	store_fixture_setup("/tmp/pc-maildir-XXXXXX");
	return 0;
}

/* Reads a whole small file into buf; its length, or -1. */
static ssize_t
slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap);
	close(fd);
	return n;
}

static void
test_deliver(void **state)
{
	static const struct {
		const char *prepend;
		const char *body;
		size_t len;
		const char *want;
		size_t wantlen;
	} v[] = {
	    {NULL, "Subject: a\r\n\r\nbody\r\n", 20, "Subject: a\r\n\r\nbody\r\n", 20},
	    {"X-Virus-Status: clean\r\n", "Subject: b\n\nbare LF kept\n", 26,
	     "X-Virus-Status: clean\r\nSubject: b\n\nbare LF kept\n", 49},
	    {"", ".dot\r\n\0nul\xff", 11, ".dot\r\n\0nul\xff", 11},
	    {"X-A: 1\r\n", "", 0, "X-A: 1\r\n", 8},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char md[128], path[512], name[256], buf[256];
		struct stat st;
		int fd = msg_fd(v[i].body, v[i].len), cls = -1;

		/* A Maildir that does not exist yet, below missing parents. */
		snprintf(md, sizeof(md), "%s/m%zu/sub/Maildir", base, i);
		assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
		assert_int_equal(
		    maildir_deliver(md, fd, v[i].len, v[i].prepend, name, sizeof(name), &cls), 0);
		assert_int_equal(cls, STORE_OK);
		assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
		close(fd);
		assert_true(strlen(name) > 10);
		assert_null(strchr(name, '/'));
		assert_null(strchr(name, ':'));
		snprintf(path, sizeof(path), "%s/new/%s", md, name);
		assert_int_equal(slurp(path, buf, sizeof(buf)), (ssize_t)v[i].wantlen);
		assert_memory_equal(buf, v[i].want, v[i].wantlen);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		snprintf(path, sizeof(path), "%s/tmp", md);
		assert_int_equal(count_entries(path), 0);
		snprintf(path, sizeof(path), "%s/cur", md);
		assert_int_equal(count_entries(path), 0);
		assert_int_equal(stat(md, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0700);
	}
}

static void
test_small_name_buffer(void **state)
{
	char md[128], name[4] = "xyz";
	int fd = msg_fd("m\r\n", 3);

	snprintf(md, sizeof(md), "%s/Maildir", base);
	assert_int_equal(maildir_deliver(md, fd, 3, NULL, name, sizeof(name), NULL), 0);
	assert_string_equal(name, "");
	assert_int_equal(maildir_deliver(md, fd, 3, NULL, NULL, 0, NULL), 0);
	close(fd);
	snprintf(md, sizeof(md), "%s/Maildir/new", base);
	assert_int_equal(count_entries(md), 2);
}

static void
test_failures_leave_nothing(void **state)
{
	char md[128], path[256], name[256];
	int fd = msg_fd("short", 5), cls = -1;

	snprintf(md, sizeof(md), "%s/Maildir", base);
	assert_int_equal(maildir_deliver(md, fd, 100, NULL, name, sizeof(name), &cls), -1);
	assert_int_equal(cls, STORE_ERR_IO);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);
	snprintf(path, sizeof(path), "%s/new", md);
	assert_int_equal(count_entries(path), 0);

	/* new/ is a file: cannot be a Maildir. */
	snprintf(md, sizeof(md), "%s/Broken", base);
	assert_int_equal(mkdir(md, 0700), 0);
	snprintf(path, sizeof(path), "%s/new", md);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	cls = -1;
	assert_int_equal(maildir_deliver(md, fd, 5, NULL, name, sizeof(name), &cls), -1);
	assert_int_equal(cls, STORE_ERR_IO);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_true(count_entries(path) <= 0);

	/* The Maildir path itself is a file. */
	snprintf(md, sizeof(md), "%s/Broken/new", base);
	assert_int_equal(maildir_deliver(md, fd, 5, NULL, name, sizeof(name), &cls), -1);
	assert_int_equal(cls, STORE_ERR_IO);
	close(fd);
}

#define NTHREADS 4
#define PER_THREAD 50

static char conc_md[128];

static void *
worker_main(void *arg)
{
	int *failures = arg, fd = memfd_create("msg", 0);

	if (fd < 0 || write(fd, "x\r\n", 3) != 3) {
		*failures = PER_THREAD;
		return NULL;
	}
	for (int i = 0; i < PER_THREAD; i++)
		if (maildir_deliver(conc_md, fd, 3, NULL, NULL, 0, NULL) != 0)
			(*failures)++;
	close(fd);
	return NULL;
}

static void
test_concurrent_unique(void **state)
{
	pthread_t th[NTHREADS];
	int failures[NTHREADS] = {0};
	char path[256];

	snprintf(conc_md, sizeof(conc_md), "%s/Maildir", base);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &failures[i]), 0);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(failures[i], 0);
	}
	snprintf(path, sizeof(path), "%s/new", conc_md);
	assert_int_equal(count_entries(path), NTHREADS * PER_THREAD);
	snprintf(path, sizeof(path), "%s/tmp", conc_md);
	assert_int_equal(count_entries(path), 0);
}

static void
test_enospc(void **state)
{
	char mnt[256], md[300], path[320], name[256];
	size_t big = 1024 * 1024;
	char *body = malloc(big);
	int fd, cls = -1;

	snprintf(mnt, sizeof(mnt), "%s/tiny", base);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
		print_message("skipping the full-disk test: cannot mount a tmpfs (%s)\n",
		              strerror(errno));
		free(body);
		skip();
	}
	memset(body, 'B', big);
	fd = msg_fd(body, big);
	snprintf(md, sizeof(md), "%s/Maildir", mnt);
	assert_int_equal(maildir_deliver(md, fd, big, "X-A: 1\r\n", name, sizeof(name), &cls), -1);
	assert_int_equal(cls, STORE_ERR_NOSPACE);
	snprintf(path, sizeof(path), "%s/tmp", md);
	assert_int_equal(count_entries(path), 0);
	snprintf(path, sizeof(path), "%s/new", md);
	assert_int_equal(count_entries(path), 0);
	assert_int_equal(maildir_deliver(md, fd, 1000, NULL, name, sizeof(name), &cls), 0);
	assert_int_equal(count_entries(path), 1);
	close(fd);
	free(body);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_name_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures_leave_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_unique, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

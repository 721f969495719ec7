/*
 * store_fixture: what the store tests (quarantine, Maildir) share: a fresh
 * base directory per test, removed with any tmpfs a full-disk test left
 * mounted at base/tiny; a memfd holding a message; counting directory
 * entries. Include after cmocka.h.
 */
#ifndef PC_STORE_FIXTURE_H
#define PC_STORE_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <unistd.h>

#define UNUSED_OK __attribute__((unused))

#include "dir_count.h"

static char base[64];

/* Creates base from the template prefix ("/tmp/pc-x-XXXXXX"). */
static UNUSED_OK void
store_fixture_setup(const char *tmpl)
{
	snprintf(base, sizeof(base), "%s", tmpl);
	assert_non_null(mkdtemp(base));
}

static UNUSED_OK int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "%s/tiny", base);
	umount2(cmd, MNT_DETACH); /* a full-disk test's tmpfs, if it failed early */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A memfd holding len bytes of s. */
static UNUSED_OK int
msg_fd(const char *s, size_t len)
{
	int fd = memfd_create("msg", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	return fd;
}

#endif

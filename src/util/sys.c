/*
 * sys: monotonic clock, complete writes, reads and copies, atomic file
 * replacement. Owns no state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/sys.h"
#include "util/xalloc.h"

uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

double
monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t
pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int
copy_fd_range(int dst, int src, uint64_t off, uint64_t len)
{
	char buf[SYS_COPY_CHUNK];

	while (len > 0) {
		size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		ssize_t n = pread_full(src, buf, want, off);

		if (n < 0)
			return -1;
		if ((size_t)n < want) {
			errno = EIO; /* the source is shorter than the caller said */
			return -1;
		}
		if (write_all(dst, buf, want) < 0)
			return -1;
		off += want;
		len -= want;
	}
	return 0;
}

int
read_file_small(const char *path, size_t max, int nofollow, char **data, size_t *len, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		*err = S_ISREG(st.st_mode)
		           ? xasprintf("%s: %lld bytes, larger than the limit of %zu", path,
		                       (long long)st.st_size, max)
		           : xasprintf("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = pread_full(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n < 0 || (size_t)n != (size_t)st.st_size) {
		*err = xasprintf("%s: %s", path, n < 0 ? strerror(errno) : "short read");
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*data = buf;
	*len = (size_t)n;
	return 0;
}

/* fsyncs directory dir (a rename inside it). */
static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
write_file_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                  char **err)
{
	char *tmp = xasprintf("%s/.%s.%ld.tmp", dir, name, (long)getpid());
	char *path = xasprintf("%s/%s", dir, name);
	int fd, rc = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		*err = xasprintf("%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		*err = xasprintf("%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (fsync_dir(dir) < 0) {
		*err = xasprintf("%s: fsync: %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(path);
	return rc;
}

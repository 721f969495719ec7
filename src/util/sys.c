/*
 * sys: monotonic clock, complete writes, reads and copies. Owns no state.
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "util/sys.h"

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

/*
 * exout: the bounded temporary file of one decoded child, and the
 * mapping of a container (see exout.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "scan/exout.h"
#include "util/tmpfd.h"

int
exout_open(struct exout *o, struct extract_ctx *x, uint64_t hint)
{
	uint64_t max = extract_max_child(x);

	memset(o, 0, sizeof(*o));
	o->max = max ? max : UINT64_MAX;
	if (hint != TMPFD_SIZE_UNKNOWN && hint > o->max)
		hint = o->max;
	if ((o->fd = tmpfd_open_for(extract_tmpdir(x), hint)) < 0) {
		extract_note(x, SCAN_ERROR, LIMIT_NONE, NULL, "temporary file: %s",
		             strerror(errno));
		return -1;
	}
	return 0;
}

int
exout_write(struct exout *o, const void *buf, size_t n)
{
	const char *p = buf;

	if (o->failed || o->over)
		return -1;
	if ((uint64_t)n > o->max - o->len) {
		n = (size_t)(o->max - o->len);
		o->over = 1;
	}
	while (n > 0) {
		ssize_t w = pwrite(o->fd, p, n, (off_t)o->len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->failed = 1;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		o->len += (uint64_t)w;
	}
	return o->over ? -1 : 0;
}

int
exout_inflate(struct exout *o, const void *src, size_t n)
{
	unsigned char buf[16384];
	z_stream z;
	int zr = Z_OK, r;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return -1;
	z.next_in = (unsigned char *)(uintptr_t)src;
	z.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
	for (;;) {
		size_t got;

		z.next_out = buf;
		z.avail_out = sizeof(buf);
		zr = inflate(&z, Z_NO_FLUSH);
		got = sizeof(buf) - z.avail_out;
		if (got > 0 && exout_write(o, buf, got) < 0) {
			r = 1;
			break;
		}
		if (zr == Z_STREAM_END) {
			r = 0;
			break;
		}
		if (zr != Z_OK || (z.avail_in == 0 && got == 0)) {
			r = -1;
			break;
		}
	}
	inflateEnd(&z);
	return r;
}

int
exout_finish(struct exout *o, struct extract_ctx *x, const char *name)
{
	int r = 0;

	if (o->failed)
		extract_note(x, SCAN_ERROR, LIMIT_NONE, name, "temporary file: write failed");
	else if (o->over)
		extract_note(x, SCAN_LIMIT, LIMIT_FILE_SIZE, name,
		             "decoded child over %llu bytes: scanned the first only",
		             (unsigned long long)o->max);
	if (!o->failed)
		r = extract_child_fd(x, name, o->fd, 0, o->len);
	exout_close(o);
	return r;
}

void
exout_close(struct exout *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
}

int
exmap_open(struct exmap *m, struct extract_ctx *x, int fd, uint64_t off, uint64_t size,
           int writable, const char *fmt)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t skew = off % (uint64_t)(pg > 0 ? pg : 4096);
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);

	memset(m, 0, sizeof(*m));
	if (size == 0 || size > SIZE_MAX - skew) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "%s: empty or too large", fmt);
		return -1;
	}
	m->len = (size_t)(size + skew);
	m->base = mmap(NULL, m->len, prot, MAP_PRIVATE, fd, (off_t)(off - skew));
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		extract_note(x, SCAN_ERROR, LIMIT_NONE, NULL, "%s: mmap: %s", fmt, strerror(errno));
		return -1;
	}
	m->p = (unsigned char *)m->base + skew;
	return 0;
}

void
exmap_close(struct exmap *m)
{
	if (m->base)
		munmap(m->base, m->len);
	m->base = NULL;
}

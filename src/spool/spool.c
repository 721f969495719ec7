/*
 * spool: the one copy of a message or file in transit. Owns its memfd,
 * its unlinked file in dir, and a copy of dir; the transaction owns the
 * spool. Names of files are never derived from wire data: the file is an
 * unlinked one from util/tmpfd.
 *
 * The memfd is created once and kept for the spool's life: after the move
 * to a file it is truncated to nothing (its pages go back), and
 * spool_reset() starts the next transaction in it again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"
#include "util/sys.h"
#include "util/tmpfd.h"
#include "util/xalloc.h"

#define SPOOL_COPY_CHUNK (64 * 1024)

struct spool {
	char *dir;
	size_t mem_limit;
	int memfd;  /* -1 if memfd_create() failed */
	int filefd; /* -1 while in memory */
	uint64_t size;
	int err; /* sticky errno of the first failure, 0 if none */
};

/* The fd the content lives in now. */
static int
spool_cur_fd(const struct spool *sp)
{
	return sp->filefd >= 0 ? sp->filefd : sp->memfd;
}

static void
spool_open_mem(struct spool *sp)
{
	sp->memfd = memfd_create("portcullis-spool", MFD_CLOEXEC);
	if (sp->memfd < 0)
		sp->err = errno;
}

struct spool *
spool_new(const char *dir, size_t mem_limit)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));

	sp->dir = xstrdup(dir != NULL ? dir : "/tmp");
	sp->mem_limit = mem_limit;
	sp->filefd = -1;
	spool_open_mem(sp);
	return sp;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->filefd >= 0)
		close(sp->filefd);
	if (sp->memfd >= 0)
		close(sp->memfd);
	free(sp->dir);
	free(sp);
}

/* Writes all len bytes at off; 0, or -1 with errno (ENOSPC for a short write). */
static int
pwrite_all(int fd, const char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Moves the memory content to a new file; 0, or -1 with errno. */
static int
spool_to_disk(struct spool *sp)
{
	char *buf;
	uint64_t off = 0;
	int fd, saved = 0;

	if ((fd = tmpfd_open(sp->dir)) < 0)
		return -1;
	buf = xmalloc(SPOOL_COPY_CHUNK);
	while (off < sp->size) {
		size_t want =
		    sp->size - off < SPOOL_COPY_CHUNK ? (size_t)(sp->size - off) : SPOOL_COPY_CHUNK;
		ssize_t n = pread_full(sp->memfd, buf, want, off);

		if (n <= 0) {
			saved = n < 0 ? errno : EIO;
			break;
		}
		if (pwrite_all(fd, buf, (size_t)n, off) < 0) {
			saved = errno;
			break;
		}
		off += (uint64_t)n;
	}
	free(buf);
	if (saved != 0) {
		close(fd);
		errno = saved;
		return -1;
	}
	sp->filefd = fd;
	/*
	 * The memory copy is no longer needed; keep the fd for spool_reset().
	 * A failure only delays freeing the pages until then.
	 */
	if (ftruncate(sp->memfd, 0) < 0)
		saved = errno;
	return 0;
}

int
spool_write(struct spool *sp, const void *buf, size_t len)
{
	if (sp->err != 0) {
		errno = sp->err;
		return -1;
	}
	if (len == 0)
		return 0;
	if (sp->filefd < 0 && sp->size + len > sp->mem_limit && spool_to_disk(sp) < 0) {
		sp->err = errno;
		return -1;
	}
	if (pwrite_all(spool_cur_fd(sp), buf, len, sp->size) < 0) {
		sp->err = errno;
		return -1;
	}
	sp->size += len;
	return 0;
}

int
spool_commit(struct spool *sp)
{
	if (sp->err != 0) {
		errno = sp->err;
		return -1;
	}
	if (sp->filefd >= 0 && fdatasync(sp->filefd) < 0) {
		sp->err = errno;
		return -1;
	}
	return 0;
}

uint64_t
spool_size(const struct spool *sp)
{
	return sp->size;
}

int
spool_fd(const struct spool *sp)
{
	return sp->err != 0 ? -1 : spool_cur_fd(sp);
}

int
spool_on_disk(const struct spool *sp)
{
	return sp->filefd >= 0;
}

int
spool_sync_size(struct spool *sp)
{
	struct stat st;

	if (sp->err != 0) {
		errno = sp->err;
		return -1;
	}
	if (fstat(spool_cur_fd(sp), &st) < 0)
		return -1;
	sp->size = (uint64_t)st.st_size;
	return 0;
}

/* Reads until len bytes or the end of the content; a short count means the end. */
ssize_t
spool_pread(const struct spool *sp, void *buf, size_t len, uint64_t off)
{
	int fd = spool_fd(sp);

	if (fd < 0) {
		errno = sp->err;
		return -1;
	}
	if (off >= sp->size)
		return 0;
	if (len > sp->size - off)
		len = (size_t)(sp->size - off);
	return pread_full(fd, buf, len, off);
}

/*
 * Drops the content and any failure: the file (if any) is closed, which
 * frees its blocks, and the memfd is emptied (or created again if it had
 * failed), so the next transaction starts in memory.
 */
void
spool_reset(struct spool *sp)
{
	if (sp->filefd >= 0) {
		close(sp->filefd);
		sp->filefd = -1;
	}
	sp->size = 0;
	sp->err = 0;
	if (sp->memfd >= 0) {
		if (ftruncate(sp->memfd, 0) < 0) {
			close(sp->memfd);
			sp->memfd = -1;
		}
	}
	if (sp->memfd < 0)
		spool_open_mem(sp);
}

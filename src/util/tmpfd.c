/*
 * tmpfd: O_TMPFILE with a mkstemp fallback, and memfds for small content.
 * Owns nothing: the caller owns and closes the fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/tmpfd.h"
#include "util/xalloc.h"

int
tmpfd_open(const char *dir)
{
	char *tmpl;
	int fd, saved;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* No O_TMPFILE (kernel or file system): a random name, removed at once. */
	tmpl = xasprintf("%s/portcullis-tmp-XXXXXX", dir);
	fd = mkostemp(tmpl, O_CLOEXEC);
	saved = errno;
	if (fd >= 0 && unlink(tmpl) < 0) {
		saved = errno;
		close(fd);
		fd = -1;
	}
	free(tmpl);
	errno = saved;
	return fd;
}

int
tmpfd_open_for(const char *dir, uint64_t max_size)
{
	int fd;

	if (max_size != TMPFD_SIZE_UNKNOWN && max_size <= TMPFD_MEM_MAX &&
	    (fd = memfd_create("portcullis-part", MFD_CLOEXEC)) >= 0)
		return fd;
	return tmpfd_open(dir);
}

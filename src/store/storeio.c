/*
 * storeio: durable-file helpers for store/quarantine and store/maildir.
 * Owns no state. The callers own the names and the order of the steps
 * (temp file, fsync, rename, fsync directory); this file only makes each
 * step complete or fail with errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/storeio.h"
#include "util/strutil.h"
#include "util/sys.h"

enum store_err
storeio_class(int err)
{
	if (err == ENOSPC || err == EDQUOT)
		return STORE_ERR_NOSPACE;
	return STORE_ERR_IO;
}

const char *
storeio_err_name(int err_class)
{
	switch (err_class) {
	case STORE_OK:
		return "ok";
	case STORE_ERR_NOSPACE:
		return "disk full";
	default:
		return "I/O error";
	}
}

int
storeio_fsync_dir_at(int dirfd, const char *rel)
{
	int fd, rc, saved;

	fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
storeio_mkdirs_at(int dirfd, const char *rel, mode_t mode)
{
	char path[4096];
	size_t len = strlen(rel);
	struct stat st;

	if (len == 0 || len >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(path, rel, len + 1);
	/* Each prefix ending at a '/' or the end, left to right. */
	for (size_t i = 1; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdirat(dirfd, path, mode) == 0) {
			char *slash = strrchr(path, '/');
			int rc;

			if (slash == NULL) {
				rc = storeio_fsync_dir_at(dirfd, ".");
			} else if (slash == path) {
				rc = storeio_fsync_dir_at(dirfd, "/");
			} else {
				*slash = '\0';
				rc = storeio_fsync_dir_at(dirfd, path);
				*slash = '/';
			}
			if (rc < 0)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		} else if (fstatat(dirfd, path, &st, 0) < 0) {
			return -1;
		} else if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
		if (i < len)
			path[i] = '/';
	}
	return 0;
}

int
storeio_copy(int dst, int src, uint64_t size, const char *prepend)
{
	if (prepend != NULL && *prepend != '\0' && write_all(dst, prepend, strlen(prepend)) < 0)
		return -1;
	return copy_fd_range(dst, src, 0, size);
}

int
storeio_random_hex(char *out, size_t nbytes)
{
	uint8_t raw[32];
	size_t got = 0;

	if (nbytes > sizeof(raw)) {
		errno = EINVAL;
		return -1;
	}
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	hex_encode(raw, nbytes, out);
	return 0;
}

int
storeio_write_new_at(int dirfd, const char *rel, int src, uint64_t size, const char *prepend)
{
	int fd, saved;

	fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno == EEXIST ? 1 : -1;
	if (storeio_copy(fd, src, size, prepend) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		saved = errno;
		goto fail;
	}
	return 0;
fail:
	unlinkat(dirfd, rel, 0);
	errno = saved;
	return -1;
}

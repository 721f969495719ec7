/*
 * sys: thin, checked wrappers over system calls that several modules need:
 * a monotonic clock, a write that finishes or fails, a read that fills its
 * buffer, a copy between two fds, a small file read whole, and a file
 * replaced atomically.
 */
#ifndef PC_SYS_H
#define PC_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Milliseconds on the monotonic clock (not wall time). */
uint64_t monotonic_ms(void);
/* Seconds on the monotonic clock, with sub-second precision. */
double monotonic_s(void);
/* Writes all len bytes to fd, retrying on EINTR and short writes; 0 or -1. */
int write_all(int fd, const void *buf, size_t len);
/*
 * Reads up to len bytes at off with pread (the file offset is untouched),
 * retrying on EINTR and short reads until len bytes or the end of the file.
 * Returns the bytes read (< len only at the end), or -1 with errno.
 */
ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off);
/*
 * Copies bytes [off, off + len) of src, read with pread_full (src's offset
 * is untouched), to dst with write_all, in chunks of SYS_COPY_CHUNK (a
 * buffer on the stack). A source shorter than that fails with errno EIO.
 * Returns 0, or -1 with errno.
 */
#define SYS_COPY_CHUNK (64 * 1024)
int copy_fd_range(int dst, int src, uint64_t off, uint64_t len);

/*
 * Reads the regular file at path (O_NOFOLLOW when nofollow) of at most max
 * bytes into *data (allocated, NUL-terminated; the caller frees) and *len.
 * Returns 0; 1 when it does not exist (nothing allocated); -1 with *err
 * (allocated, naming the file) when it cannot be opened or read, is not a
 * regular file, or is larger than max.
 */
int read_file_small(const char *path, size_t max, int nofollow, char **data, size_t *len,
                    char **err);

/*
 * Replaces DIR/name with data durably: a temporary file in dir (O_NOFOLLOW,
 * mode), written, fsynced, renamed over name, then dir fsynced. A reader
 * sees the old file or the new one, never a part. 0, or -1 with *err
 * (allocated, naming the file).
 */
int write_file_atomic(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                      char **err);

#endif

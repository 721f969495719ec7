/*
 * tmpfd: unlinked temporary files, for content that must be seekable (a
 * container libarchive reads, a decoded MIME part, a spool that outgrew
 * memory) but must never be found by name. Only the fd exists; the file
 * goes when it is closed, also after a crash.
 */
#ifndef PC_TMPFD_H
#define PC_TMPFD_H

#include <stdint.h>

/* tmpfd_open_for()'s max_size when the size is not known. */
#define TMPFD_SIZE_UNKNOWN UINT64_MAX
/* Largest content tmpfd_open_for() keeps in memory. */
#define TMPFD_MEM_MAX (1024 * 1024)

/*
 * Opens an unlinked file in dir (NULL or "": /tmp), readable and writable:
 * O_TMPFILE, or mkstemp + unlink where the file system lacks it. Returns
 * the fd, or -1 with errno.
 */
int tmpfd_open(const char *dir);
/*
 * The same for content of at most max_size bytes: up to TMPFD_MEM_MAX it
 * lives in memory (a memfd: no inode on disk per MIME part, which costs
 * more than scanning a small part); beyond, or for TMPFD_SIZE_UNKNOWN, it
 * is tmpfd_open(dir).
 */
int tmpfd_open_for(const char *dir, uint64_t max_size);

#endif

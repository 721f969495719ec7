/*
 * spool: the one copy of a message or file while it is in transit. Bytes
 * are appended as they arrive; the spool lives in memory (a memfd) up to
 * mem_limit bytes and moves to an unlinked file in dir beyond that, so
 * memory per session is bounded. Readers use pread() on spool_fd() or
 * spool_pread(); nothing is ever named after wire data.
 *
 * spool_commit() makes the content durable where that means anything (the
 * file is fsynced); quarantine and Maildir copy from the spool and fsync
 * their own files. Not thread-safe: one owner at a time (the transaction,
 * or a worker job that borrowed it).
 */
#ifndef PC_SPOOL_H
#define PC_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;

/* Never NULL; a failure to create the backing memfd shows at first write. */
struct spool *spool_new(const char *dir, size_t mem_limit);
void spool_free(struct spool *sp);
/* Appends; 0, or -1 with errno set (ENOSPC, EDQUOT, EIO ...). A failed
 * spool stays failed: later writes return -1 with the same errno. */
int spool_write(struct spool *sp, const void *buf, size_t len);
/* Flushes and fsyncs a file-backed spool; 0 or -1 with errno. */
int spool_commit(struct spool *sp);
uint64_t spool_size(const struct spool *sp);
/* The backing fd (memfd or file), readable with pread; -1 if failed. */
int spool_fd(const struct spool *sp);
/* 1 if the content went to a file in dir. */
int spool_on_disk(const struct spool *sp);
/* pread() from the spool; returns bytes read, 0 at end, -1 on error. */
ssize_t spool_pread(const struct spool *sp, void *buf, size_t len, uint64_t off);
/*
 * After bytes were written to spool_fd() directly (not with spool_write),
 * takes the size from the fd so that spool_size/spool_pread/spool_write see
 * them. Such writes bypass mem_limit. 0, or -1 with errno.
 */
int spool_sync_size(struct spool *sp);
/* Empties the spool for reuse by the next transaction. */
void spool_reset(struct spool *sp);

#endif

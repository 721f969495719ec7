/*
 * storeio: the durable-file steps shared by the quarantine and the Maildir
 * next hop: classifying a failure (disk full or not), creating directories
 * relative to a directory fd, copying a message out of a spool fd, fsyncing
 * a directory, and random hex names. Owns no state; blocking calls only,
 * never on the event loop.
 */
#ifndef PC_STOREIO_H
#define PC_STOREIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Why a store failed; the proxy maps NOSPACE to 452 4.3.1, IO to 451. */
enum store_err {
	STORE_OK = 0,
	STORE_ERR_IO,      /* any other failure: permissions, EIO, SQLite, short source */
	STORE_ERR_NOSPACE, /* ENOSPC, EDQUOT, SQLITE_FULL */
};

/* Maps an errno value to its class: STORE_ERR_NOSPACE or STORE_ERR_IO. */
enum store_err storeio_class(int err);
/* "disk full" or "I/O error", for logs. */
const char *storeio_err_name(int err_class);

/*
 * Creates each missing component of the relative path rel under dirfd with
 * mode, fsyncing the parent of every directory it creates so that the new
 * entry survives a crash. Existing components are accepted if they are
 * directories. 0, or -1 with errno set.
 */
int storeio_mkdirs_at(int dirfd, const char *rel, mode_t mode);

/* fsync()s the directory rel under dirfd ("." for dirfd itself). 0 or -1. */
int storeio_fsync_dir_at(int dirfd, const char *rel);

/*
 * Writes prepend (may be NULL) then bytes [0, size) of src, read with
 * pread() so src's offset is untouched, to dst. A source shorter than size
 * fails with errno EIO. 0, or -1 with errno set (ENOSPC from a full disk).
 */
int storeio_copy(int dst, int src, uint64_t size, const char *prepend);

/*
 * Creates rel under dirfd (O_EXCL, mode 0600, no symlink followed), writes
 * prepend (may be NULL) and bytes [0, size) of src into it, fsyncs and
 * closes it. On failure the file is removed. 0; 1 if rel already exists;
 * -1 with errno set.
 */
int storeio_write_new_at(int dirfd, const char *rel, int src, uint64_t size, const char *prepend);
/* Fills out with 2*nbytes random lower-case hex digits and a NUL, from
 * getrandom(). nbytes is at most 32. 0, or -1 with errno set. */
int storeio_random_hex(char *out, size_t nbytes);

#endif

/*
 * maildir: delivery of one message into a local Maildir, the embedded
 * default next hop. Blocking (fsync): worker threads only.
 */
#ifndef PC_MAILDIR_H
#define PC_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

#include "store/storeio.h"

/*
 * Delivers prepend (header lines put first, with their own line ends; may
 * be NULL) followed by bytes [0, size) of fd (read with pread, offset
 * untouched) into the Maildir at maildir, creating it and tmp/ new/ cur/
 * if missing (mode 0700). The file is written under tmp/, fsynced, renamed
 * into new/, and new/ is fsynced. The bytes are stored as given (no line
 * end conversion). On success copies the file's name (under new/) into
 * name_out (if it fits in cap, else "") and returns 0. On failure returns
 * -1, sets *err_class (may be NULL) to STORE_ERR_NOSPACE or STORE_ERR_IO,
 * and leaves nothing in tmp/ or new/.
 */
int maildir_deliver(const char *maildir, int fd, uint64_t size, const char *prepend, char *name_out,
                    size_t cap, int *err_class);

#endif

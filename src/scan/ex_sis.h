/*
 * ex_sis: the Symbian (EPOC release 3 to 8) installer format, .sis: a
 * header, a list of file records and the files' bytes, each zlib-deflated
 * unless the header says otherwise. No library reads it; sis_parse() is
 * our reader, pure (no I/O) and fuzzed (tests/fuzz/fuzz_sis.c), and
 * extract_sis() (extract.h) inflates each file into a bounded child.
 */
#ifndef PC_EX_SIS_H
#define PC_EX_SIS_H

#include <stddef.h>
#include <stdint.h>

#define SIS_NAME_MAX 256

/* One file a record points at (borrowed from the buffer for the callback). */
struct sis_file {
	char name[SIS_NAME_MAX];   /* the destination's last element, ASCII ('?' for others) */
	const unsigned char *data; /* its bytes in the buffer */
	size_t len;
	int compressed;    /* data is a zlib stream */
	uint64_t orig_len; /* decoded size the record states (0: not stated) */
};

/* Called for each file; returns 0 to go on, -1 to stop sis_parse(). */
typedef int (*sis_file_cb)(void *arg, const struct sis_file *f);

/*
 * Reads the SIS file in b[0..n) and calls cb for each file it holds.
 * Returns 0, 1 when cb stopped it, or -1 with a short reason in err (the
 * buffer is damaged or not SIS; files before the damage were handed on).
 */
int sis_parse(const unsigned char *b, size_t n, sis_file_cb cb, void *arg, char *err,
              size_t errlen);

#endif

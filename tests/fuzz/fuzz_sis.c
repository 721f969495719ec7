/*
 * libFuzzer target for the SIS reader (scan/ex_sis.c): the input is a SIS
 * file handed to sis_parse(); every file it reports is read to its last
 * byte, so that ASan sees a pointer or length that leaves the buffer. The
 * input's UID2 and UID3 are set to a release's (by the low bit of its
 * first byte), so that short seeded runs get past the magic to the records.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/ex_sis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long touched;

static int
touch(void *arg, const struct sis_file *f)
{
	(void)arg;
	if (f->len > 0)
		touched += f->data[0] + f->data[f->len - 1];
	touched += strlen(f->name);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char uids[2][8] = {
	    {0x6d, 0x00, 0x00, 0x10, 0x19, 0x04, 0x00, 0x10},
	    {0x12, 0x3a, 0x00, 0x10, 0x19, 0x04, 0x00, 0x10},
	};
	unsigned char *b;
	char err[128];

	/* Exactly size bytes, so that a read past them is seen. */
	if ((b = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(b, data, size);
	if (size >= 12)
		memcpy(b + 4, uids[data[0] & 1], 8);
	sis_parse(b, size, touch, NULL, err, sizeof(err));
	free(b);
	return 0;
}

/*
 * libFuzzer target for the SIS reader (scan/ex_sis.c): the input is a SIS
 * file handed to sis_parse(); every file it reports is read to its last
 * byte, so that ASan sees a pointer or length that leaves the buffer.
 */
#include <stddef.h>
#include <stdint.h>
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
	char err[128];

	sis_parse(data, size, touch, NULL, err, sizeof(err));
	return 0;
}

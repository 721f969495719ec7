/*
 * libFuzzer target for the document parsers (scan/docfmt.h): the input is
 * handed to pdf_parse, rtf_parse and htmldata_parse in turn, each on its
 * own exact-size copy, with a sink that reads every child byte and checks
 * the parsers' promises: no child over max_child, no more than
 * max_objects children.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/docfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_CHILD (256 * 1024)
#define FUZZ_MAX_OBJECTS 64

static unsigned children;
static uint64_t sum;

static int
check_child(void *arg, const char *name, const void *buf, size_t len)
{
	(void)arg;
	if (name == NULL || len > FUZZ_MAX_CHILD || ++children > FUZZ_MAX_OBJECTS)
		abort();
	/* Touch every byte so that ASan sees each read. */
	for (size_t i = 0; i < len; i++)
		sum += ((const unsigned char *)buf)[i];
	return 0;
}

static void
check_note(void *arg, enum scan_status st, enum scan_limit l, const char *name, const char *why)
{
	(void)arg;
	(void)l;
	(void)name;
	if (why == NULL || st == SCAN_CLEAN || st == SCAN_INFECTED)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct doc_limits lim = {FUZZ_MAX_CHILD, 100, FUZZ_MAX_OBJECTS};
	static void (*const parse[])(const void *, size_t, const struct doc_limits *,
	                             const struct doc_sink *) = {pdf_parse, rtf_parse,
	                                                         htmldata_parse};
	struct doc_sink sink = {check_child, check_note, NULL};

	for (size_t i = 0; i < sizeof(parse) / sizeof(parse[0]); i++) {
		/* Exactly size bytes, so that ASan sees any read past them. */
		uint8_t *copy = malloc(size ? size : 1);

		if (copy == NULL)
			return 0;
		memcpy(copy, data, size);
		children = 0;
		parse[i](copy, size, &lim, &sink);
		free(copy);
	}
	return 0;
}

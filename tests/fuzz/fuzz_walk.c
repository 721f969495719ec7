/*
 * libFuzzer target for scan/walk: the input is one object handed to
 * walk_mem() with a sink that only counts bytes, under limits small enough
 * to keep each run short. Exercises type detection, libarchive, GMime and
 * the uudecoder on hostile bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scan/walk.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct filetype *ft;
static uint64_t fed;

static void *
count_open(void *arg, const char *path, const struct file_type *t, uint64_t size)
{
	(void)path;
	(void)t;
	(void)size;
	return arg;
}

static int
count_feed(void *node, const void *buf, size_t len)
{
	(void)node;
	/* Touch the bytes so that ASan sees every read of them. */
	if (len > 0)
		fed += ((const unsigned char *)buf)[0] + ((const unsigned char *)buf)[len - 1];
	return 0;
}

static int
count_close(void *node, struct scan_verdict *v, const char *path)
{
	(void)node;
	(void)v;
	return path[0] ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct walk_sink sink = {count_open, count_feed, count_close, &fed};
	struct walk_options o;
	struct scan_verdict v;

	if (ft == NULL) {
		log_set_level(LOG_LVL_ERR);
		ft = filetype_new();
		if (ft == NULL)
			return 0;
	}
	memset(&o, 0, sizeof(o));
	o.limits.max_depth = 8;
	o.limits.max_total_bytes = 16 << 20;
	o.limits.max_file_size = 8 << 20;
	o.limits.max_files = 256;
	o.limits.max_ratio = 200;
	o.limits.max_time_ms = 5000;
	verdict_init(&v);
	walk_mem(&o, &sink, ft, data, size, "fuzz", &v);
	verdict_clear(&v);
	return 0;
}

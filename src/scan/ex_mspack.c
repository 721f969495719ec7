/*
 * ex_mspack: the Microsoft compression formats libarchive does not read,
 * through libmspack: CHM (ITSF, compiled HTML help: every file in it a
 * child), and COMPRESS.EXE's SZDD and KWAJ (one child each). libmspack
 * reads and writes only through an I/O vtable (mspack_system); ours maps
 * its "file names" to our handles: the container region of the walker's
 * fd for reading, a bounded temporary file (exout.h) for writing. Leaves
 * LZX, Quantum, LZSS and the CHM directory to libmspack.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mspack.h>

#include "scan/exout.h"
#include "scan/extract.h"
#include "util/tmpfd.h"

/*
 * What a "file name" handed to libmspack points at: the container region
 * (MSF_IN; libmspack may open it more than once) or one output (MSF_OUT).
 */
enum msf_kind { MSF_IN = 1, MSF_OUT };

struct msname {
	enum msf_kind kind;
	int fd;
	uint64_t off, size; /* MSF_IN */
	struct exout *out;  /* MSF_OUT */
};

/* An open handle; libmspack sees it as its own struct mspack_file. */
struct msfile {
	const struct msname *n;
	uint64_t pos;
};

static struct msfile *
msf(struct mspack_file *f)
{
	return (struct msfile *)(void *)f;
}

static struct mspack_file *
ms_open(struct mspack_system *self, const char *filename, int mode)
{
	const struct msname *n = (const struct msname *)(const void *)filename;
	struct msfile *f;

	(void)self;
	if (n == NULL || (n->kind == MSF_IN) != (mode == MSPACK_SYS_OPEN_READ))
		return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->n = n;
	return (struct mspack_file *)(void *)f;
}

static void
ms_close(struct mspack_file *mf)
{
	free(msf(mf));
}

static int
ms_read(struct mspack_file *mf, void *buf, int bytes)
{
	struct msfile *f = msf(mf);
	const struct msname *n = f->n;
	size_t want;
	ssize_t r;

	if (n->kind != MSF_IN || bytes < 0)
		return -1;
	if (f->pos >= n->size)
		return 0;
	want = (size_t)bytes;
	if ((uint64_t)want > n->size - f->pos)
		want = (size_t)(n->size - f->pos);
	do
		r = pread(n->fd, buf, want, (off_t)(n->off + f->pos));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	f->pos += (uint64_t)r;
	return (int)r;
}

static int
ms_write(struct mspack_file *mf, void *buf, int bytes)
{
	struct msfile *f = msf(mf);

	if (f->n->kind != MSF_OUT || bytes < 0)
		return -1;
	/* At the limit libmspack stops with MSPACK_ERR_WRITE: no bomb is decoded on. */
	if (exout_write(f->n->out, buf, (size_t)bytes) < 0)
		return -1;
	return bytes;
}

static int
ms_seek(struct mspack_file *mf, off_t offset, int mode)
{
	struct msfile *f = msf(mf);
	uint64_t base;

	if (f->n->kind != MSF_IN)
		return -1;
	switch (mode) {
	case MSPACK_SYS_SEEK_START:
		base = 0;
		break;
	case MSPACK_SYS_SEEK_CUR:
		base = f->pos;
		break;
	case MSPACK_SYS_SEEK_END:
		base = f->n->size;
		break;
	default:
		return -1;
	}
	if ((offset < 0 && (uint64_t)-offset > base) ||
	    (offset > 0 && (uint64_t)offset > f->n->size - (base < f->n->size ? base : f->n->size)))
		return -1;
	f->pos = offset < 0 ? base - (uint64_t)-offset : base + (uint64_t)offset;
	return 0;
}

static off_t
ms_tell(struct mspack_file *mf)
{
	return (off_t)msf(mf)->pos;
}

/* libmspack's warnings about damage: the error codes say enough. */
static void
ms_message(struct mspack_file *f, const char *fmt, ...)
{
	(void)f;
	(void)fmt;
}

/*
 * Zeroed: libmspack 0.11's kwajd_open(), when the header is cut short,
 * frees the header's filename and extra pointers before it has set them
 * (found by our mutated samples under ASan). With zeroed memory they are
 * NULL.
 */
static void *
ms_alloc(struct mspack_system *self, size_t bytes)
{
	(void)self;
	return calloc(1, bytes ? bytes : 1);
}

static void
ms_free(void *p)
{
	free(p);
}

static void
ms_copy(void *src, void *dst, size_t bytes)
{
	memmove(dst, src, bytes);
}

static struct mspack_system ms_sys = {
    ms_open,    ms_close, ms_read, ms_write, ms_seek, ms_tell,
    ms_message, ms_alloc, ms_free, ms_copy,  NULL,
};

static const char *
ms_strerror(int e)
{
	switch (e) {
	case MSPACK_ERR_OPEN:
		return "cannot open";
	case MSPACK_ERR_READ:
		return "cut short";
	case MSPACK_ERR_WRITE:
		return "write failed";
	case MSPACK_ERR_SEEK:
		return "seek out of the file";
	case MSPACK_ERR_NOMEMORY:
		return "out of memory";
	case MSPACK_ERR_SIGNATURE:
		return "bad signature";
	case MSPACK_ERR_DATAFORMAT:
		return "bad format";
	case MSPACK_ERR_CHECKSUM:
		return "bad checksum";
	case MSPACK_ERR_DECRUNCH:
		return "bad compressed data";
	default:
		return "error";
	}
}

/*
 * The ratio limit for a child of len bytes decoded from a container of
 * size bytes, after done bytes already: 0 if within, -1 (noted) if not.
 */
static int
ms_ratio_ok(struct extract_ctx *x, uint64_t size, uint64_t done, uint64_t len, const char *name)
{
	unsigned ratio = extract_max_ratio(x);

	if (ratio == 0 || size == 0 || done + len <= size * ratio)
		return 0;
	extract_note(x, SCAN_LIMIT, LIMIT_RATIO, name,
	             "decoded size %llu over %u times the container's %llu bytes",
	             (unsigned long long)(done + len), ratio, (unsigned long long)size);
	return -1;
}

/*
 * Runs one libmspack extraction into a bounded file and hands the child
 * on. extract() is called with (dec, hdr, output name). want is the size
 * the header states (TMPFD_SIZE_UNKNOWN: none): libmspack's LZSS stops
 * quietly at the end of the input, so fewer bytes mean a cut file. -1: stop.
 */
typedef int (*ms_extract_fn)(void *dec, void *item, const char *outname);

static int
ms_child(struct extract_ctx *x, ms_extract_fn fn, void *dec, void *item, const char *name,
         uint64_t want, const char *fmt)
{
	struct exout o;
	struct msname out;
	int e;

	if (exout_open(&o, x, want) < 0)
		return -1;
	memset(&out, 0, sizeof(out));
	out.kind = MSF_OUT;
	out.out = &o;
	e = fn(dec, item, (const char *)(const void *)&out);
	if (e != MSPACK_ERR_OK && !(e == MSPACK_ERR_WRITE && o.over))
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, name, "%s: %s", fmt, ms_strerror(e));
	else if (e == MSPACK_ERR_OK && want != TMPFD_SIZE_UNKNOWN && o.len < want)
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, name, "%s: %llu of %llu bytes: cut short",
		             fmt, (unsigned long long)o.len, (unsigned long long)want);
	return exout_finish(&o, x, name);
}

static int
chm_extract(void *dec, void *item, const char *outname)
{
	struct mschm_decompressor *d = dec;

	return d->extract(d, item, outname);
}

static int
szdd_extract(void *dec, void *item, const char *outname)
{
	struct msszdd_decompressor *d = dec;

	return d->extract(d, item, outname);
}

static int
kwaj_extract(void *dec, void *item, const char *outname)
{
	struct mskwaj_decompressor *d = dec;

	return d->extract(d, item, outname);
}

static void
in_name(struct msname *n, int fd, uint64_t off, uint64_t size)
{
	memset(n, 0, sizeof(n[0]));
	n->kind = MSF_IN;
	n->fd = fd;
	n->off = off;
	n->size = size;
}

void
extract_chm(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	struct mschm_decompressor *d = mspack_create_chm_decompressor(&ms_sys);
	struct mschmd_header *chm;
	struct msname in;
	uint64_t done = 0;

	if (d == NULL) {
		extract_note(x, SCAN_ERROR, LIMIT_NONE, NULL, "chm: no decompressor");
		return;
	}
	in_name(&in, fd, off, size);
	if ((chm = d->open(d, (const char *)(const void *)&in)) == NULL) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "chm: %s",
		             ms_strerror(d->last_error(d)));
		mspack_destroy_chm_decompressor(d);
		return;
	}
	for (struct mschmd_file *f = chm->files; f; f = f->next) {
		uint64_t len = f->length < 0 ? 0 : (uint64_t)f->length;

		if (len == 0)
			continue;
		if (ms_ratio_ok(x, size, done, len, f->filename) < 0)
			break;
		done += len;
		if (ms_child(x, chm_extract, d, f, f->filename, len, "chm") < 0 ||
		    extract_stopped(x))
			break;
	}
	d->close(d, chm);
	mspack_destroy_chm_decompressor(d);
}

void
extract_szdd(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	struct msszdd_decompressor *d = mspack_create_szdd_decompressor(&ms_sys);
	struct msszddd_header *h;
	struct msname in;

	if (d == NULL) {
		extract_note(x, SCAN_ERROR, LIMIT_NONE, NULL, "szdd: no decompressor");
		return;
	}
	in_name(&in, fd, off, size);
	if ((h = d->open(d, (const char *)(const void *)&in)) == NULL) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "szdd: %s",
		             ms_strerror(d->last_error(d)));
	} else {
		uint64_t len = h->length < 0 ? 0 : (uint64_t)h->length;

		if (ms_ratio_ok(x, size, 0, len, NULL) == 0)
			ms_child(x, szdd_extract, d, h, NULL, len, "szdd");
		d->close(d, h);
	}
	mspack_destroy_szdd_decompressor(d);
}

void
extract_kwaj(struct extract_ctx *x, int fd, uint64_t off, uint64_t size)
{
	struct mskwaj_decompressor *d = mspack_create_kwaj_decompressor(&ms_sys);
	struct mskwajd_header *h;
	struct msname in;

	if (d == NULL) {
		extract_note(x, SCAN_ERROR, LIMIT_NONE, NULL, "kwaj: no decompressor");
		return;
	}
	in_name(&in, fd, off, size);
	if ((h = d->open(d, (const char *)(const void *)&in)) == NULL) {
		extract_note(x, SCAN_CORRUPT, LIMIT_NONE, NULL, "kwaj: %s",
		             ms_strerror(d->last_error(d)));
	} else {
		uint64_t len = h->length <= 0 ? TMPFD_SIZE_UNKNOWN : (uint64_t)h->length;

		if (len == TMPFD_SIZE_UNKNOWN || ms_ratio_ok(x, size, 0, len, h->filename) == 0)
			ms_child(x, kwaj_extract, d, h, h->filename, len, "kwaj");
		d->close(d, h);
	}
	mspack_destroy_kwaj_decompressor(d);
}
